/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lookup.h — the segment side of nd_reader (lookup.c): a read-only shared
 * mapping of a segment's .log, reference counted so that a reader's views
 * outlive eviction, a remap and the deletion of the segment.
 *
 * A segment holds at most one mapping (segment.lmap), counted against the
 * store's bound on mappings (seg_caches.logmaps, weight 1); the cache's
 * release drops the segment's reference, and the last reference unmaps.
 * The mapping may reach past the end of the file (the active segment is
 * mapped in LOGMAP_STEP steps so that appends rarely force a remap); no
 * reader touches bytes above the segment's published size, so pages past
 * the end of the file are never faulted in.
 */
#ifndef ND_LOOKUP_H
#define ND_LOOKUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rescache.h"

#define LOGMAP_STEP ((size_t)64 << 20)

typedef struct logmap {
  _Atomic long refs;
  const uint8_t *base;
  size_t len; /* bytes mapped, a multiple of LOGMAP_STEP */
} logmap;

/* The bound on .log mappings given the bound on index mappings: a
 * quarter of it, at least 16 (readers are fewer than segments). */
size_t logmap_limit(size_t map_limit);

/* The rescache callbacks of seg_caches.logmaps. */
int logmap_acquire(cache_entry *e);
void logmap_release(cache_entry *e);

#endif
