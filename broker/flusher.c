/*
 * flusher.c — group commit for acks=all: one thread makes appended data
 * durable and hands the results back to the loop thread.
 *
 * The loop queues (topic, partition, offset, done) requests. The thread
 * takes the whole queue at once, sorts it by partition and calls
 * nd_sync_partition once per distinct partition with the highest offset
 * asked for, so every producer waiting on a partition shares one
 * fdatasync; requests that arrive while it syncs form the next group.
 * The completions of one group go back to the loop in one net_post.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

typedef struct flush_req {
  struct flush_req *next;
  char *topic;
  int32_t partition;
  int64_t offset;
  void (*done)(void *arg, int rc);
  void *arg;
  int rc;
} flush_req;

struct flusher {
  broker *b;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  flush_req *head, *tail;
  int stopping;
};

static void free_reqs(flush_req *r) {
  while (r) {
    flush_req *n = r->next;
    free(r->topic);
    free(r);
    r = n;
  }
}

/* On the loop thread: report one group's results. */
static void complete_group(void *arg) {
  flush_req *r = arg;
  for (flush_req *p = r; p; p = p->next)
    p->done(p->arg, p->rc);
  free_reqs(r);
}

static int cmp_req(const void *a, const void *b) {
  const flush_req *x = *(flush_req *const *)a, *y = *(flush_req *const *)b;
  int c = strcmp(x->topic, y->topic);
  if (c)
    return c;
  return (x->partition > y->partition) - (x->partition < y->partition);
}

static void sync_group(flusher *f, flush_req *list) {
  size_t n = 0;
  for (flush_req *r = list; r; r = r->next)
    n++;
  flush_req **v = malloc(n * sizeof *v);
  if (!v) {
    /* Without the array, sync one by one: slower, still correct. */
    for (flush_req *r = list; r; r = r->next)
      r->rc = nd_sync_partition(f->b->store, r->topic, r->partition, r->offset);
    return;
  }
  size_t i = 0;
  for (flush_req *r = list; r; r = r->next)
    v[i++] = r;
  qsort(v, n, sizeof *v, cmp_req);
  for (i = 0; i < n;) {
    size_t j = i;
    int64_t upto = v[i]->offset;
    while (j < n && cmp_req(&v[i], &v[j]) == 0) {
      if (v[j]->offset < 0 || upto < 0)
        upto = -1; /* -1 = everything appended so far */
      else if (v[j]->offset > upto)
        upto = v[j]->offset;
      j++;
    }
    int rc = nd_sync_partition(f->b->store, v[i]->topic, v[i]->partition, upto);
    for (; i < j; i++)
      v[i]->rc = rc;
  }
  free(v);
}

static void *flusher_main(void *arg) {
  flusher *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    while (!f->head && !f->stopping)
      pthread_cond_wait(&f->cv, &f->mu);
    flush_req *list = f->head;
    f->head = f->tail = NULL;
    int stopping = f->stopping;
    pthread_mutex_unlock(&f->mu);
    if (!list) {
      if (stopping)
        break;
      continue;
    }
    sync_group(f, list);
    while (net_post(f->b->loop, complete_group, list) != 0) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL); /* out of memory: wait for some to free up */
    }
  }
  return NULL;
}

int flusher_start(broker *b, flusher **out) {
  *out = NULL;
  flusher *f = calloc(1, sizeof *f);
  if (!f)
    return -ENOMEM;
  f->b = b;
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  int rc = pthread_create(&f->thread, NULL, flusher_main, f);
  if (rc != 0) {
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return -rc;
  }
  *out = f;
  return 0;
}

void flusher_stop(flusher *f) {
  if (!f)
    return;
  pthread_mutex_lock(&f->mu);
  f->stopping = 1;
  pthread_cond_signal(&f->cv);
  pthread_mutex_unlock(&f->mu);
  pthread_join(f->thread, NULL);
  /* The loop has stopped (see broker.h), so its last completions run
   * here, on the thread that ran it. */
  net_loop_run_posted(f->b->loop);
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

int flusher_request(flusher *f, const char *topic, int32_t partition,
                    int64_t offset, void (*done)(void *arg, int rc),
                    void *arg) {
  flush_req *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->topic = strdup(topic);
  if (!r->topic) {
    free(r);
    return -ENOMEM;
  }
  r->partition = partition;
  r->offset = offset;
  r->done = done;
  r->arg = arg;
  pthread_mutex_lock(&f->mu);
  if (f->tail)
    f->tail->next = r;
  else
    f->head = r;
  f->tail = r;
  pthread_cond_signal(&f->cv);
  pthread_mutex_unlock(&f->mu);
  return 0;
}
