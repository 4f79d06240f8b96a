/* SPDX-License-Identifier: Apache-2.0 */
/* crc32c.h — both CRC-32C implementations, so tests can check each one. */
#ifndef ND_CRC32C_H
#define ND_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
#if defined(__x86_64__)
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
#endif
/* 1 if this CPU has the SSE 4.2 crc32 instruction. */
int crc32c_hw_available(void);

#endif
