/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rescache.c — bounded, evictable per-segment resources (rescache.h).
 */
#include "rescache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void rescache_init(rescache *c, size_t limit, int (*acquire)(cache_entry *),
                   void (*release)(cache_entry *)) {
  memset(c, 0, sizeof *c);
  c->limit = limit ? limit : 1;
  c->acquire = acquire;
  c->release = release;
  pthread_mutex_init(&c->lock, NULL);
}

void rescache_destroy(rescache *c) {
  free(c->held);
  pthread_mutex_destroy(&c->lock);
}

void cache_entry_init(cache_entry *e) {
  memset(e, 0, sizeof *e);
  pthread_mutex_init(&e->lock, NULL);
  atomic_init(&e->pins, 0);
  atomic_init(&e->ref, 0);
  e->slot = -1;
}

void cache_entry_destroy(cache_entry *e) {
  pthread_mutex_destroy(&e->lock);
}

size_t rescache_used(rescache *c) {
  pthread_mutex_lock(&c->lock);
  size_t n = c->used;
  pthread_mutex_unlock(&c->lock);
  return n;
}

/* Take e out of the array (cache lock held). */
static void drop_at(rescache *c, size_t i) {
  cache_entry *e = c->held[i];
  c->used -= e->weight;
  e->weight = 0;
  e->slot = -1;
  c->count--;
  if (i != c->count) {
    c->held[i] = c->held[c->count];
    c->held[i]->slot = (long)i;
  }
}

/* Release one unpinned entry other than keep, CLOCK order. Returns 0 if one
 * was released, -1 if every entry is pinned. Cache lock held. */
static int evict_one(rescache *c, cache_entry *keep) {
  /* Two sweeps: the first may only clear reference bits. */
  for (size_t step = 0; c->count > 0 && step < 2 * c->count + 1; step++) {
    if (c->hand >= c->count)
      c->hand = 0;
    cache_entry *e = c->held[c->hand];
    if (e == keep || atomic_load_explicit(&e->pins, memory_order_relaxed) > 0 ||
        atomic_exchange_explicit(&e->ref, 0, memory_order_relaxed)) {
      c->hand++;
      continue;
    }
    pthread_mutex_lock(&e->lock);
    if (atomic_load(&e->pins) > 0) { /* pinned meanwhile: skip it */
      pthread_mutex_unlock(&e->lock);
      c->hand++;
      continue;
    }
    c->release(e);
    e->held = 0;
    drop_at(c, c->hand); /* the last entry moves to the hand: look at it */
    pthread_mutex_unlock(&e->lock);
    atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    return 0;
  }
  return -1;
}

/* Pin e if it holds its resource; 1 if pinned. */
static int pin_held(cache_entry *e) {
  pthread_mutex_lock(&e->lock);
  int held = e->held;
  if (held) {
    atomic_fetch_add_explicit(&e->pins, 1, memory_order_relaxed);
    /* Skip the store when already set: it would dirty a shared line. */
    if (!atomic_load_explicit(&e->ref, memory_order_relaxed))
      atomic_store_explicit(&e->ref, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&e->lock);
  return held;
}

int rescache_pin(rescache *c, cache_entry *e) {
  if (pin_held(e))
    return 0;
  /* Only holders of the cache lock acquire or release, so while it is held
   * e->held cannot change. */
  pthread_mutex_lock(&c->lock);
  if (pin_held(e)) { /* another thread acquired it meanwhile */
    pthread_mutex_unlock(&c->lock);
    return 0;
  }
  while (c->used >= c->limit && evict_one(c, e) == 0) {
  }
  int w = 0;
  if (c->count == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    cache_entry **n = realloc(c->held, cap * sizeof *n);
    if (!n)
      w = -ENOMEM;
    else {
      c->held = n;
      c->cap = cap;
    }
  }
  /* Out of descriptors or mappings in the process (other code holds some
   * too): give back one of ours and retry, a few times. */
  for (int attempt = 0; !w && attempt < 4; attempt++) {
    w = c->acquire(e);
    if ((w == -EMFILE || w == -ENFILE || w == -ENOMEM) && evict_one(c, e) == 0)
      w = 0;
    else
      break;
  }
  if (w >= 0) {
    /* The entry's lock publishes what acquire set up to the fast path. */
    pthread_mutex_lock(&e->lock);
    e->held = 1;
    atomic_fetch_add_explicit(&e->pins, 1, memory_order_relaxed);
    atomic_store_explicit(&e->ref, 1, memory_order_relaxed);
    pthread_mutex_unlock(&e->lock);
    if (w > 0) {
      /* Weightless entries (nothing to map) stay out of the array: they
       * cost nothing and would only lengthen the evictor's sweeps. */
      e->weight = (size_t)w;
      e->slot = (long)c->count;
      c->held[c->count++] = e;
      c->used += (size_t)w;
      /* An entry may weigh more than the one unit made room for (a
       * segment's index pair is two mappings): stay within the bound. */
      while (c->used > c->limit && evict_one(c, e) == 0) {
      }
    }
    atomic_fetch_add_explicit(&c->acquired, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&c->lock);
  return w < 0 ? w : 0;
}

void rescache_forget(rescache *c, cache_entry *e) {
  pthread_mutex_lock(&c->lock);
  pthread_mutex_lock(&e->lock);
  if (e->held) {
    c->release(e);
    e->held = 0;
    if (e->slot >= 0)
      drop_at(c, (size_t)e->slot);
  }
  pthread_mutex_unlock(&e->lock);
  pthread_mutex_unlock(&c->lock);
}
