/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bytes.h — big-endian fields, for tests and fuzzers that build or damage
 * RecordBatch and offsets-log bytes by hand (field positions: nodata.h,
 * "Batches and segment files, for tools", and docs/format.md). The
 * library's own copies are internal; these are the tests'.
 */
#ifndef ND_TEST_BYTES_H
#define ND_TEST_BYTES_H

#include <stdint.h>

static inline uint16_t be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}
static inline uint64_t be64(const uint8_t *p) {
  return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v) {
  put_be32(p, (uint32_t)(v >> 32));
  put_be32(p + 4, (uint32_t)v);
}
/* Last offset of the batch at p: baseOffset + lastOffsetDelta, wrapping
 * as the library computes it (hostile bytes must not overflow). */
static inline int64_t batch_last_offset(const uint8_t *p) {
  return (int64_t)(be64(p) + (uint64_t)(int64_t)(int32_t)be32(p + 23));
}

#endif
