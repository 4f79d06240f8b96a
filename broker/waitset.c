/* SPDX-License-Identifier: Apache-2.0 */
/*
 * waitset.c — parked requests indexed by the partitions they wait on.
 *
 * A hash table of keys, one per (topic, partition) that has waiters; each
 * key holds a doubly linked list of links, one per (waiter, partition), and
 * each waiter chains its own links so that it leaves every list at once.
 * One mutex covers it all: the loop thread changes the lists, and any
 * appending thread looks a key up in waitset_notify. It is held for a
 * lookup or a list edit only, never across a wake callback.
 *
 * A notify marks its key pending (a list of keys to drain) and posts one
 * drain unless one is already queued. The drain takes pending keys one at
 * a time and calls each of their waiters, except those that this drain has
 * called already (a fetch waiting on two partitions that both got records
 * is looked at once: it reads all its partitions anyway). A key stays
 * allocated while it is pending or being drained, even with no waiters
 * left, so neither the pending list nor the drain ever points at freed
 * memory.
 */
#include "waitset.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WAITSET_BUCKETS_MIN 64

typedef struct wkey {
  struct wkey *next;         /* hash chain */
  struct wkey *next_pending; /* in ws->pending while pending */
  uint64_t hash;
  int32_t partition;
  int pending; /* notified since the drain last took it */
  int busy;    /* its waiters are being called back */
  size_t nlinks;
  wait_link *head, *tail;
  char topic[];
} wkey;

struct wait_link {
  wkey *key;
  waiter *w;
  wait_link *prev, *next; /* in key's list */
  wait_link *w_next;      /* in w's chain */
};

struct waitset {
  net_loop *loop;
  waitset_wake_fn wake;
  void *ctx;
  atomic_uint_fast64_t epoch;
  pthread_mutex_t mu; /* everything below */
  wkey **buckets;
  size_t nbuckets; /* a power of two */
  size_t nkeys;
  wkey *pending;
  int posted; /* a drain is queued on the loop */
  uint64_t round;
};

/* FNV-1a over the name, then the partition. */
static uint64_t key_hash(const char *topic, int32_t partition) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  for (int i = 0; i < 4; i++)
    h = (h ^ (((uint32_t)partition >> (8 * i)) & 0xff)) * 1099511628211ull;
  return h;
}

static wkey **key_slot(waitset *ws, const char *topic, int32_t partition,
                       uint64_t h) {
  wkey **pp = &ws->buckets[h & (ws->nbuckets - 1)];
  while (*pp && ((*pp)->hash != h || (*pp)->partition != partition ||
                 strcmp((*pp)->topic, topic) != 0))
    pp = &(*pp)->next;
  return pp;
}

/* Double the table when keys outnumber buckets; without memory, keep the
 * longer chains. */
static void maybe_grow(waitset *ws) {
  if (ws->nkeys <= ws->nbuckets)
    return;
  size_t n = ws->nbuckets * 2;
  wkey **nb = calloc(n, sizeof *nb);
  if (!nb)
    return;
  for (size_t i = 0; i < ws->nbuckets; i++) {
    wkey *k = ws->buckets[i];
    while (k) {
      wkey *next = k->next;
      k->next = nb[k->hash & (n - 1)];
      nb[k->hash & (n - 1)] = k;
      k = next;
    }
  }
  free(ws->buckets);
  ws->buckets = nb;
  ws->nbuckets = n;
}

/* Free k if nothing refers to it any more. */
static void key_release(waitset *ws, wkey *k) {
  if (k->head || k->pending || k->busy)
    return;
  wkey **pp = key_slot(ws, k->topic, k->partition, k->hash);
  *pp = k->next;
  ws->nkeys--;
  free(k);
}

static void list_unlink(wkey *k, wait_link *l) {
  if (l->prev)
    l->prev->next = l->next;
  else
    k->head = l->next;
  if (l->next)
    l->next->prev = l->prev;
  else
    k->tail = l->prev;
  l->prev = l->next = NULL;
}

static void list_append(wkey *k, wait_link *l) {
  l->prev = k->tail;
  l->next = NULL;
  if (k->tail)
    k->tail->next = l;
  else
    k->head = l;
  k->tail = l;
}

int waitset_new(net_loop *loop, waitset_wake_fn wake, void *ctx,
                waitset **out) {
  waitset *ws = calloc(1, sizeof *ws);
  if (!ws)
    return -ENOMEM;
  ws->buckets = calloc(WAITSET_BUCKETS_MIN, sizeof *ws->buckets);
  if (!ws->buckets) {
    free(ws);
    return -ENOMEM;
  }
  ws->nbuckets = WAITSET_BUCKETS_MIN;
  ws->loop = loop;
  ws->wake = wake;
  ws->ctx = ctx;
  atomic_init(&ws->epoch, 0);
  pthread_mutex_init(&ws->mu, NULL);
  *out = ws;
  return 0;
}

void waitset_free(waitset *ws) {
  if (!ws)
    return;
  for (size_t i = 0; i < ws->nbuckets; i++) {
    wkey *k = ws->buckets[i];
    while (k) {
      wkey *next = k->next;
      wait_link *l = k->head;
      while (l) {
        wait_link *ln = l->next;
        free(l); /* its waiter may be gone already: not touched */
        l = ln;
      }
      free(k);
      k = next;
    }
  }
  free(ws->buckets);
  pthread_mutex_destroy(&ws->mu);
  free(ws);
}

int waitset_add(waitset *ws, waiter *w, const char *topic, int32_t partition) {
  uint64_t h = key_hash(topic, partition);
  wait_link *l = malloc(sizeof *l);
  if (!l)
    return -ENOMEM;
  pthread_mutex_lock(&ws->mu);
  wkey **pp = key_slot(ws, topic, partition, h);
  wkey *k = *pp;
  if (!k) {
    size_t n = strlen(topic) + 1;
    k = calloc(1, sizeof *k + n);
    if (!k) {
      pthread_mutex_unlock(&ws->mu);
      free(l);
      return -ENOMEM;
    }
    memcpy(k->topic, topic, n);
    k->hash = h;
    k->partition = partition;
    *pp = k;
    ws->nkeys++;
    maybe_grow(ws);
  }
  l->key = k;
  l->w = w;
  list_append(k, l);
  k->nlinks++;
  l->w_next = w->links;
  w->links = l;
  pthread_mutex_unlock(&ws->mu);
  return 0;
}

void waitset_remove(waitset *ws, waiter *w) {
  if (!ws || !w->links)
    return;
  pthread_mutex_lock(&ws->mu);
  wait_link *l = w->links;
  w->links = NULL;
  while (l) {
    wait_link *next = l->w_next;
    wkey *k = l->key;
    list_unlink(k, l);
    k->nlinks--;
    free(l);
    key_release(ws, k);
    l = next;
  }
  pthread_mutex_unlock(&ws->mu);
}

/* On the loop thread: call back the waiters of every pending key. */
static void drain(void *arg) {
  waitset *ws = arg;
  pthread_mutex_lock(&ws->mu);
  ws->posted = 0;
  uint64_t round = ++ws->round;
  wkey *k;
  while ((k = ws->pending) != NULL) {
    ws->pending = k->next_pending;
    k->pending = 0;
    k->busy = 1;
    /* Each link once: it goes to the tail and its waiter is called unless
     * this drain called it already. The callback may remove any links, so
     * the next one is taken from the list afresh every time, and links
     * already moved are skipped by their waiter's round. */
    for (size_t i = k->nlinks; i > 0 && k->head; i--) {
      wait_link *l = k->head;
      list_unlink(k, l);
      list_append(k, l);
      waiter *w = l->w;
      if (w->round == round)
        continue;
      w->round = round;
      pthread_mutex_unlock(&ws->mu);
      ws->wake(ws->ctx, w);
      pthread_mutex_lock(&ws->mu);
    }
    k->busy = 0;
    key_release(ws, k);
  }
  pthread_mutex_unlock(&ws->mu);
}

void waitset_notify(waitset *ws, const char *topic, int32_t partition) {
  /* Before the lookup: see waitset_epoch. */
  atomic_fetch_add(&ws->epoch, 1);
  uint64_t h = key_hash(topic, partition);
  int post = 0;
  pthread_mutex_lock(&ws->mu);
  wkey *k = *key_slot(ws, topic, partition, h);
  if (k && k->head && !k->pending) {
    k->pending = 1;
    k->next_pending = ws->pending;
    ws->pending = k;
  }
  if (ws->pending && !ws->posted)
    ws->posted = post = 1;
  pthread_mutex_unlock(&ws->mu);
  if (post && net_post(ws->loop, drain, ws) != 0) {
    pthread_mutex_lock(&ws->mu);
    ws->posted = 0; /* the next notify tries again */
    pthread_mutex_unlock(&ws->mu);
  }
}

uint64_t waitset_epoch(waitset *ws) {
  return atomic_load(&ws->epoch);
}
