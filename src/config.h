/* SPDX-License-Identifier: Apache-2.0 */
/* config.h — topic settings: defaults, parsing, validation, text form. */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include <stddef.h>

#include "nodata.h"

/* Check every field is in range. Returns 0 or ND_ECONFIG with a message. */
int config_validate(const nd_topic_config *cfg);

/* Append "name=value\n" lines for every setting to buf (at most cap bytes,
 * NUL-terminated). Returns bytes written or ND_EINVAL if cap is too small. */
int config_format(const nd_topic_config *cfg, char *buf, size_t cap);

#endif
