/*
 * fdcache.c — bounded, least-recently-used .log descriptors (fdcache.h).
 */
#include "fdcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "segment.h"

int fdcache_init(fdcache *c, size_t limit) {
  memset(c, 0, sizeof *c);
  if (limit == 0) {
    struct rlimit rl;
    rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (soft == RLIM_INFINITY || soft > 65536)
      soft = 65536;
    limit = (size_t)soft / 4;
    if (limit < 16)
      limit = 16;
    if (limit > 16384)
      limit = 16384;
  }
  c->limit = limit;
  pthread_mutex_init(&c->lock, NULL);
  return 0;
}

void fdcache_destroy(fdcache *c) {
  free(c->open);
  pthread_mutex_destroy(&c->lock);
}

static void drop_at(fdcache *c, size_t i) {
  c->open[i]->cache_slot = -1;
  c->count--;
  if (i != c->count) {
    c->open[i] = c->open[c->count];
    c->open[i]->cache_slot = (long)i;
  }
}

/* Close the least recently used unpinned descriptor other than keep's.
 * Returns 0 if one was closed, -1 if every descriptor is pinned. Called
 * with the cache lock held. */
static int evict_one(fdcache *c, segment *keep) {
  size_t victim = (size_t)-1;
  uint64_t oldest = UINT64_MAX;
  for (size_t i = 0; i < c->count; i++) {
    segment *s = c->open[i];
    if (s == keep)
      continue;
    uint64_t t = atomic_load_explicit(&s->last_use, memory_order_relaxed);
    if (t < oldest &&
        atomic_load_explicit(&s->pins, memory_order_relaxed) == 0) {
      oldest = t;
      victim = i;
    }
  }
  if (victim == (size_t)-1)
    return -1;
  segment *s = c->open[victim];
  pthread_mutex_lock(&s->fd_lock);
  if (atomic_load(&s->pins) > 0) { /* pinned meanwhile: skip it */
    pthread_mutex_unlock(&s->fd_lock);
    return -1;
  }
  close(s->fd);
  s->fd = -1;
  drop_at(c, victim);
  pthread_mutex_unlock(&s->fd_lock);
  atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
  return 0;
}

int fdcache_open(fdcache *c, segment *seg) {
  /* Only holders of the cache lock open or close descriptors, so while it
   * is held seg->fd cannot change; segment locks are taken one at a time
   * (never two at once), so there is no lock order between segments. */
  pthread_mutex_lock(&c->lock);
  pthread_mutex_lock(&seg->fd_lock);
  int fd = seg->fd;
  if (fd >= 0) /* another thread opened it meanwhile */
    atomic_fetch_add(&seg->pins, 1);
  pthread_mutex_unlock(&seg->fd_lock);
  if (fd >= 0) {
    pthread_mutex_unlock(&c->lock);
    return fd;
  }
  /* If everything is pinned the bound is exceeded rather than failing:
   * pins are short (one read, one write or one fdatasync). */
  while (c->count >= c->limit && evict_one(c, seg) == 0) {
  }
  int rc = 0;
  if (c->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    segment **n = realloc(c->open, cap * sizeof *n);
    if (!n)
      rc = -ENOMEM;
    else {
      c->open = n;
      c->cap = cap;
    }
  }
  char path[PATH_MAX + 8];
  segment_log_path(seg, path, sizeof path);
  for (int attempt = 0; !rc && attempt < 2; attempt++) {
    fd = open(path, (seg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd >= 0)
      break;
    rc = -errno;
    /* Out of descriptors in the process: give one of ours back, retry. */
    if ((errno == EMFILE || errno == ENFILE) && evict_one(c, seg) == 0)
      rc = 0;
  }
  if (!rc && fd >= 0) {
    pthread_mutex_lock(&seg->fd_lock);
    seg->fd = fd;
    atomic_fetch_add(&seg->pins, 1);
    atomic_store_explicit(&seg->last_use, atomic_fetch_add(&c->tick, 1),
                          memory_order_relaxed);
    pthread_mutex_unlock(&seg->fd_lock);
    seg->cache_slot = (long)c->count;
    c->open[c->count++] = seg;
    atomic_fetch_add_explicit(&c->opens, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&c->lock);
  return rc ? rc : fd;
}

void fdcache_forget(fdcache *c, segment *seg) {
  pthread_mutex_lock(&c->lock);
  pthread_mutex_lock(&seg->fd_lock);
  if (seg->fd >= 0) {
    close(seg->fd);
    seg->fd = -1;
    if (seg->cache_slot >= 0)
      drop_at(c, (size_t)seg->cache_slot);
  }
  pthread_mutex_unlock(&seg->fd_lock);
  pthread_mutex_unlock(&c->lock);
}
