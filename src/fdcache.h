/*
 * fdcache.h — a bound on the .log descriptors a store keeps open.
 *
 * With thousands of partitions a descriptor per segment would exceed the
 * process limit, so segments open their .log on demand (segment_fd) and
 * the cache closes the least recently used unpinned one when the bound is
 * reached. A descriptor is pinned between segment_fd and segment_unfd and
 * is never closed while pinned. The fast path (descriptor already open)
 * takes only the segment's own lock, so partitions do not contend; the
 * cache's lock is taken only to open or close a descriptor, and always
 * before any segment's lock.
 */
#ifndef ND_FDCACHE_H
#define ND_FDCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct segment;

typedef struct fdcache {
  pthread_mutex_t lock;
  struct segment **open; /* segments holding a descriptor */
  size_t count, cap;
  size_t limit;
  _Atomic uint64_t tick; /* LRU clock */
  _Atomic uint64_t opens, evictions;
} fdcache;

/* limit 0: a quarter of RLIMIT_NOFILE, between 16 and 16384. */
int fdcache_init(fdcache *c, size_t limit);
void fdcache_destroy(fdcache *c);

/* Open seg's .log under the bound; returns the pinned fd or -errno. */
int fdcache_open(fdcache *c, struct segment *seg);
/* Close seg's descriptor (if any) and forget it; seg must be unpinned. */
void fdcache_forget(fdcache *c, struct segment *seg);

#endif
