/* SPDX-License-Identifier: Apache-2.0 */
/*
 * background.c — the store's maintenance thread: every 100 ms it runs
 * nd_maintain (retention, segment.ms rolls, the periodic flush, offsets
 * compaction) and removes the directories of deleted topics, so neither
 * runs on the caller's thread; every transaction_abort_check_ms it aborts
 * timed-out transactions (nd_txn_expire). Read-only stores and stores opened
 * with no_background have none: their embedder calls nd_maintain itself.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "file.h"
#include "store.h"

#define MAINTAIN_PERIOD_MS 100
/* Kafka's transaction.abort.timed.out.transaction.cleanup.interval.ms. */
#define TXN_ABORT_CHECK_MS 10000

/* Remove a deleted topic's renamed-away directory: in the background
 * thread when there is one, since unlinking gigabytes of segments takes
 * long and the caller may be an event loop (DeleteTopics in the broker).
 * Whatever is left at close, or after a crash, goes at the next open. */
void store_trash(nd_store *s, const char *dir) {
  char *copy = strdup(dir);
  pthread_mutex_lock(&s->bg_lock);
  char **nt = copy && s->bg_running && !s->stopping
                  ? realloc(s->trash, (s->ntrash + 1) * sizeof *nt)
                  : NULL;
  if (nt) {
    s->trash = nt;
    s->trash[s->ntrash++] = copy;
    copy = NULL;
    pthread_cond_signal(&s->bg_cond);
  }
  pthread_mutex_unlock(&s->bg_lock);
  if (!nt)
    file_remove_tree(dir);
  free(copy);
}

void store_empty_trash(nd_store *s) {
  pthread_mutex_lock(&s->bg_lock);
  char **list = s->trash;
  size_t n = s->ntrash;
  s->trash = NULL;
  s->ntrash = 0;
  pthread_mutex_unlock(&s->bg_lock);
  for (size_t i = 0; i < n; i++) {
    file_remove_tree(list[i]);
    free(list[i]);
  }
  free(list);
}

/* A deleted topic's directory was renamed away; the last holder frees the
 * partitions without persisting anything and has the files removed. */

static void *background_main(void *arg) {
  nd_store *s = arg;
  int64_t txn_check = s->opts.transaction_abort_check_ms
                          ? s->opts.transaction_abort_check_ms
                          : TXN_ABORT_CHECK_MS;
  int64_t txn_last = store_now_ms();
  pthread_mutex_lock(&s->bg_lock);
  while (!s->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += MAINTAIN_PERIOD_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->bg_cond, &s->bg_lock, &ts);
    if (s->stopping)
      break;
    pthread_mutex_unlock(&s->bg_lock);
    store_empty_trash(s);
    nd_maintain(s, 0);
    int64_t now = store_now_ms();
    if (now - txn_last >= txn_check) {
      /* Kafka's abort of timed-out transactions, on its period. */
      txn_last = now;
      nd_txn_expire(s, now, NULL);
    }
    pthread_mutex_lock(&s->bg_lock);
  }
  pthread_mutex_unlock(&s->bg_lock);
  return NULL;
}

int store_background_start(nd_store *s) {
  if (pthread_create(&s->bg, NULL, background_main, s) != 0)
    return nd_fail(ND_ENOMEM, "cannot start the background thread");
  s->bg_running = 1;
  return 0;
}

void store_background_stop(nd_store *s) {
  if (!s->bg_running)
    return;
  pthread_mutex_lock(&s->bg_lock);
  s->stopping = 1;
  pthread_cond_signal(&s->bg_cond);
  pthread_mutex_unlock(&s->bg_lock);
  pthread_join(s->bg, NULL);
  s->bg_running = 0;
}
