/* SPDX-License-Identifier: Apache-2.0 */
/* config.h — topic settings: defaults, parsing, validation, text form. */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

/* Check every field is in range. Returns 0 or ND_ECONFIG with a message. */
int config_validate(const nd_topic_config *cfg);

/* Append "name=value\n" lines for every setting to buf (at most cap bytes,
 * NUL-terminated). Returns bytes written or ND_EINVAL if cap is too small. */
int config_format(const nd_topic_config *cfg, char *buf, size_t cap);

/* The overrides bits of the settings whose values differ in a and b. */
uint64_t config_differs(const nd_topic_config *a, const nd_topic_config *b);

/* *out = in with every setting it does not override taken from defaults,
 * and out->overrides the bits that hold (without ND_TOPIC_OVERRIDES_EXACT):
 * in's bits, plus, unless in carries ND_TOPIC_OVERRIDES_EXACT, those of
 * the settings whose values differ from the built-in defaults (what
 * nd_topic_config_init gave and the caller changed). out may be in. */
void config_resolve(nd_topic_config *out, const nd_topic_config *in,
                    const nd_topic_config *defaults);

/* "overrides=<name>,<name>...\n" for the bits of mask (a setting's own
 * name; fsync for the flush.* views), into buf. Returns bytes written or
 * ND_EINVAL if cap is too small. */
int config_format_overrides(uint64_t mask, char *buf, size_t cap);

/* The bits of a comma-separated list of setting names ("" is none).
 * Errors: ND_ECONFIG naming an unknown one. */
int config_parse_overrides(const char *list, uint64_t *mask);

#endif
