/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of Kafka's RecordBatch v2. On x86-64 with SSE 4.2 the crc32
 * instruction does 8 bytes per step; elsewhere a slicing-by-8 table does.
 * The choice is made once, at first use.
 */
#include "crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
    table[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = table[0][n];
    for (int k = 1; k < 8; k++) {
      c = table[0][c & 0xff] ^ (c >> 8);
      table[k][n] = c;
    }
  }
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len) {
  pthread_once(&table_once, table_init);
  const uint8_t *p = buf;
  crc = ~crc;
  while (len && ((uintptr_t)p & 7)) {
    crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    len--;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    /* The table walk below assumes little-endian words. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    w ^= crc;
    crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^
          table[5][(w >> 16) & 0xff] ^ table[4][(w >> 24) & 0xff] ^
          table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
          table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len--)
    crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ND_HAVE_HW_CRC 1

/* The crc32 instruction has a latency of three cycles but can start one
 * per cycle, so one dependent chain uses a third of it. Long buffers are
 * cut into three lanes of LANE bytes computed side by side, then joined:
 * CRC(A||B) = CRC(A) advanced over len(B) zero bytes, xor CRC(B). Advancing
 * a CRC register over LANE zero bytes is a linear map on its 32 bits,
 * applied here through four 256-entry tables built once. */
#define LANE 1024

static uint32_t advance[4][256];
static pthread_once_t advance_once = PTHREAD_ONCE_INIT;

/* A 32x32 matrix over GF(2), as its 32 columns: m[i] is the image of bit
 * i. */
static uint32_t gf2_apply(const uint32_t m[32], uint32_t v) {
  uint32_t r = 0;
  for (int i = 0; v; i++, v >>= 1)
    if (v & 1)
      r ^= m[i];
  return r;
}

static void gf2_mul(uint32_t out[32], const uint32_t a[32],
                    const uint32_t b[32]) {
  uint32_t t[32];
  for (int i = 0; i < 32; i++)
    t[i] = gf2_apply(a, b[i]);
  memcpy(out, t, sizeof t);
}

static void advance_init(void) {
  /* One zero bit through the reflected register: shift right, and fold
   * the polynomial in when the bit shifted out was set. */
  uint32_t bit[32], op[32], acc[32];
  bit[0] = POLY;
  for (int i = 1; i < 32; i++)
    bit[i] = 1u << (i - 1);
  /* op = bit^8: one zero byte. */
  memcpy(op, bit, sizeof op);
  for (int i = 0; i < 3; i++)
    gf2_mul(op, op, op);
  /* acc = op^LANE by squaring. */
  for (int i = 0; i < 32; i++)
    acc[i] = 1u << i;
  for (unsigned n = LANE; n; n >>= 1) {
    if (n & 1)
      gf2_mul(acc, acc, op);
    gf2_mul(op, op, op);
  }
  for (int k = 0; k < 4; k++)
    for (uint32_t b = 0; b < 256; b++)
      advance[k][b] = gf2_apply(acc, b << (8 * k));
}

static uint32_t advance_lane(uint32_t c) {
  return advance[0][c & 0xff] ^ advance[1][(c >> 8) & 0xff] ^
         advance[2][(c >> 16) & 0xff] ^ advance[3][c >> 24];
}

__attribute__((target("sse4.2"))) uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len) {
  const uint8_t *p = buf;
  uint64_t c = ~crc;
  while (len && ((uintptr_t)p & 7)) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    len--;
  }
  if (len >= 3 * LANE) {
    pthread_once(&advance_once, advance_init);
    do {
      uint64_t c1 = 0, c2 = 0;
      for (size_t i = 0; i < LANE; i += 8) {
        uint64_t w0, w1, w2;
        memcpy(&w0, p + i, 8);
        memcpy(&w1, p + LANE + i, 8);
        memcpy(&w2, p + 2 * LANE + i, 8);
        c = __builtin_ia32_crc32di(c, w0);
        c1 = __builtin_ia32_crc32di(c1, w1);
        c2 = __builtin_ia32_crc32di(c2, w2);
      }
      c = advance_lane((uint32_t)c) ^ (uint32_t)c1;
      c = advance_lane((uint32_t)c) ^ (uint32_t)c2;
      p += 3 * LANE;
      len -= 3 * LANE;
    } while (len >= 3 * LANE);
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    len -= 8;
  }
  while (len--)
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
#endif

int crc32c_hw_available(void) {
#ifdef ND_HAVE_HW_CRC
  return __builtin_cpu_supports("sse4.2");
#else
  return 0;
#endif
}

uint32_t nd_crc32c(uint32_t crc, const void *buf, size_t len) {
#ifdef ND_HAVE_HW_CRC
  /* Relaxed is enough: every thread computes the same answer. */
  static _Atomic int hw = -1;
  int use = atomic_load_explicit(&hw, memory_order_relaxed);
  if (use < 0) {
    use = crc32c_hw_available();
    atomic_store_explicit(&hw, use, memory_order_relaxed);
  }
  if (use)
    return crc32c_hw(crc, buf, len);
#endif
  return crc32c_sw(crc, buf, len);
}
