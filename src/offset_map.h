/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offset_map.h — the log cleaner's key -> latest offset map (Kafka's
 * SkimpyOffsetMap): open addressing over 24-byte slots, each holding a
 * 128-bit hash of the key (two independent 64-bit hashes) and the offset.
 * Keys themselves are not kept, so the map's memory is fixed by its slot
 * count whatever the key sizes; two keys whose 128-bit hashes collide
 * would be taken for one (about 2^-64 for a billion keys, as Kafka's MD5).
 * The map refuses a new key once 90% of the slots are used (Kafka's
 * load factor), so probes stay short; the cleaner then ends its pass.
 * Not thread-safe: one cleaning uses it.
 */
#ifndef ND_OFFSET_MAP_H
#define ND_OFFSET_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct offset_map_slot {
  uint64_t h1, h2;
  int64_t offset; /* -1: empty */
} offset_map_slot;

typedef struct offset_map {
  offset_map_slot *slots;
  size_t nslots; /* a power of two */
  size_t used;
  size_t max_used; /* 90% of nslots */
  int64_t latest;  /* the largest offset put, -1 when empty */
} offset_map;

#define OFFSET_MAP_SLOT_BYTES sizeof(offset_map_slot)

/* A map for up to `keys` keys, in at most max_bytes (rounded down to a
 * power of two of slots, at least 16). Returns 0 or ND_ENOMEM. */
int offset_map_init(offset_map *m, int64_t keys, int64_t max_bytes);
void offset_map_free(offset_map *m);
/* Forget every key (the memory is kept for the next pass). */
void offset_map_clear(offset_map *m);
/* The largest number of keys the map takes. */
static inline size_t offset_map_capacity(const offset_map *m) {
  return m->max_used;
}
/* Record offset as key's latest. Returns 0, or 1 when the key is new and
 * the map is full (nothing changed). */
int offset_map_put(offset_map *m, const void *key, size_t len, int64_t offset);
/* key's latest offset, or -1 if the map does not hold it. */
int64_t offset_map_get(const offset_map *m, const void *key, size_t len);

#endif
