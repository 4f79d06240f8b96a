/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offset_map.c — see offset_map.h.
 */
#include "offset_map.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* A 64-bit hash of bytes with a seed: 8-byte words mixed with the
 * multiply-xorshift finaliser of MurmurHash3 (fmix64). Two seeds give the
 * two independent halves of the 128-bit key hash. */
static uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

static uint64_t hash64(const uint8_t *p, size_t len, uint64_t seed) {
  uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = fmix64(h ^ fmix64(w + seed)) * 0x9e3779b97f4a7c15ULL;
  }
  uint64_t tail = 0;
  for (size_t j = 0; i + j < len; j++)
    tail |= (uint64_t)p[i + j] << (8 * j);
  h = fmix64(h ^ fmix64(tail + seed + len));
  return h;
}

static void key_hash(const void *key, size_t len, uint64_t *h1, uint64_t *h2) {
  *h1 = hash64(key, len, 0x243f6a8885a308d3ULL);
  *h2 = hash64(key, len, 0x13198a2e03707344ULL);
}

int offset_map_init(offset_map *m, int64_t keys, int64_t max_bytes) {
  memset(m, 0, sizeof *m);
  size_t want = 16;
  /* Slots for keys at the 90% load factor, within max_bytes. */
  while ((int64_t)want * 9 / 10 < keys &&
         (int64_t)(want * 2 * sizeof(offset_map_slot)) <= max_bytes)
    want *= 2;
  m->slots = malloc(want * sizeof *m->slots);
  if (!m->slots)
    return nd_fail(ND_ENOMEM,
                   "out of memory for the cleaner's offset map "
                   "(%zu slots)",
                   want);
  m->nslots = want;
  m->max_used = want * 9 / 10;
  offset_map_clear(m);
  return 0;
}

void offset_map_free(offset_map *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}

void offset_map_clear(offset_map *m) {
  for (size_t i = 0; i < m->nslots; i++)
    m->slots[i].offset = -1;
  m->used = 0;
  m->latest = -1;
}

static offset_map_slot *probe(const offset_map *m, uint64_t h1, uint64_t h2) {
  size_t mask = m->nslots - 1;
  /* Linear probing: the load factor bounds the runs. */
  for (size_t i = (size_t)h1 & mask;; i = (i + 1) & mask) {
    offset_map_slot *s = &m->slots[i];
    if (s->offset < 0 || (s->h1 == h1 && s->h2 == h2))
      return s;
  }
}

int offset_map_put(offset_map *m, const void *key, size_t len, int64_t offset) {
  uint64_t h1, h2;
  key_hash(key, len, &h1, &h2);
  offset_map_slot *s = probe(m, h1, h2);
  if (s->offset < 0) {
    if (m->used >= m->max_used)
      return 1;
    m->used++;
    s->h1 = h1;
    s->h2 = h2;
  }
  if (offset > s->offset)
    s->offset = offset;
  if (offset > m->latest)
    m->latest = offset;
  return 0;
}

int64_t offset_map_get(const offset_map *m, const void *key, size_t len) {
  if (!m->nslots)
    return -1;
  uint64_t h1, h2;
  key_hash(key, len, &h1, &h2);
  return probe(m, h1, h2)->offset;
}
