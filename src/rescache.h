/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rescache.h — a bound on a per-segment resource the kernel limits: .log
 * descriptors (RLIMIT_NOFILE) and index mappings (vm.max_map_count).
 *
 * With thousands of partitions a descriptor per segment, or two mappings
 * per segment, would exceed the process's limits, so segments acquire
 * them on demand and the cache releases an idle one when the bound is
 * reached. Each resource is an entry embedded in its segment; the cache
 * counts entries by weight (a segment's index pair is two mappings, or
 * fewer when an index is empty). An entry is pinned between rescache_pin
 * and rescache_unpin and is never released while pinned.
 *
 * Eviction is CLOCK (second chance), an approximation of LRU: a use sets
 * the entry's reference bit, the evictor's hand clears set bits and takes
 * the first entry whose bit is clear, so an eviction costs amortised O(1)
 * instead of a scan of every entry.
 *
 * Locking: the fast path (resource already held) takes only the entry's
 * own lock, so partitions do not contend. Only holders of the cache lock
 * acquire or release resources; the cache lock is always taken before an
 * entry's lock, and entry locks are taken one at a time.
 */
#ifndef ND_RESCACHE_H
#define ND_RESCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache_entry {
  pthread_mutex_t lock; /* guards held and pins against the evictor */
  int held;             /* the resource exists (under lock) */
  _Atomic int pins;
  _Atomic int ref; /* used since the hand last passed */
  long slot;       /* position in the cache's array, -1 if not in it */
  size_t weight;   /* units counted against the limit (cache lock) */
} cache_entry;

typedef struct rescache rescache;
struct rescache {
  pthread_mutex_t lock;
  cache_entry **held; /* entries holding weight > 0 */
  size_t count, cap, hand;
  size_t used, limit; /* units */
  /* Acquire e's resource: its weight (>= 0, 0 when it needs none) or
   * -errno. Called with the cache lock held and e unpinned. */
  int (*acquire)(cache_entry *e);
  /* Release e's resource. Called with the cache lock and e->lock held. */
  void (*release)(cache_entry *e);
  _Atomic uint64_t acquired, evictions;
};

void rescache_init(rescache *c, size_t limit, int (*acquire)(cache_entry *),
                   void (*release)(cache_entry *));
/* Every entry must have been forgotten. */
void rescache_destroy(rescache *c);

void cache_entry_init(cache_entry *e);
void cache_entry_destroy(cache_entry *e);

/* Pin e's resource, acquiring it under the bound if absent. When the bound
 * is reached the least recently used unpinned entry is released; when the
 * acquire fails with EMFILE, ENFILE or ENOMEM (out of descriptors or
 * mappings in the process) one more is released and the acquire retried.
 * If every entry is pinned the bound is exceeded rather than failing: pins
 * are short (one lookup, one append, one sync). Returns 0 or -errno. */
int rescache_pin(rescache *c, cache_entry *e);

static inline void rescache_unpin(cache_entry *e) {
  atomic_fetch_sub_explicit(&e->pins, 1, memory_order_release);
}

/* Release e's resource if held and forget it; e must be unpinned and no
 * other thread may pin it meanwhile. */
void rescache_forget(rescache *c, cache_entry *e);

/* Units in use (for tests and diagnostics; a snapshot). */
size_t rescache_used(rescache *c);

#endif
