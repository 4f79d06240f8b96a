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
__attribute__((target("sse4.2"))) uint32_t
crc32c_hw(uint32_t crc, const void *buf, size_t len) {
  const uint8_t *p = buf;
  uint64_t c = ~crc;
  while (len && ((uintptr_t)p & 7)) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    len--;
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
