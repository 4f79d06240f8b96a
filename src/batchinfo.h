/* SPDX-License-Identifier: Apache-2.0 */
/* batchinfo.h — filling the public nd_batch_info from a batch header, for
 * the public walk and check calls (encode.c, inspect.c). */
#ifndef ND_BATCHINFO_H
#define ND_BATCHINFO_H

#include <stdint.h>

#include "nodata.h"

/* Decode the 61-byte header at p into *info (zeroed first; pos and crc_ok
 * left 0, size from batchLength). */
void batch_info_fill(const uint8_t *p, nd_batch_info *info);

#endif
