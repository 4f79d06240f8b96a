/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker.c — the broker's one off-loop worker: lanes of threads that do
 * what the event loop must not wait for, with completions back on the loop.
 *
 * What runs here. Three kinds of work block on a disk for longer than the
 * loop may stall every other client:
 *   - admin jobs (CreateTopics, DeleteTopics, CreatePartitions, Metadata's
 *     auto-creation, AlterPartitionReassignments' moves): a directory,
 *     files and fsyncs per partition, tens of milliseconds per topic;
 *   - the fdatasync an acks=all Produce waits for (fsync=batch/interval);
 *   - the fdatasync of an OffsetCommit (nd_commit_offsets).
 * They were three hand-built thread pools (worker, flusher, committer),
 * each with its own queue, wakeup and shutdown, and only one of them
 * carried the library's error message back. Now they are lanes of one
 * worker, designed as libuv's work queue: a job is a struct the caller
 * embeds (no allocation in the worker, so queuing cannot fail), run(job)
 * runs on a lane's thread, done(job) runs on the loop thread; finished
 * jobs go to one completion queue that the loop drains when woken by one
 * net_post (the loop's eventfd), however many finished meanwhile.
 *
 * Why lanes and not one pool. Each kind of work has an order to keep and
 * a latency it must not inherit from the others:
 *   - WORKER_LANE_ADMIN: one thread, jobs one at a time in submission
 *     order, so two requests' topic creations never interleave; each job
 *     is answered as soon as it is done.
 *   - WORKER_LANE_SYNC: one thread that takes its whole queue at once and
 *     hands it to run() together (group commit): every producer waiting on
 *     a partition shares one fdatasync, and requests arriving meanwhile
 *     form the next group. A CreateTopics of 20,000 partitions on the
 *     admin lane cannot delay it.
 *   - WORKER_LANE_COMMIT + i (WORKER_COMMIT_LANES of them): a group always
 *     goes to the same lane (by a hash of its id), so its commits land in
 *     arrival order and queued ones are merged into one write; commits of
 *     other groups go to other lanes and overlap.
 *   - WORKER_LANE_TXN + i (WORKER_TXN_LANES of them): the transaction
 *     coordinator's calls (handle_txn.c), each fdatasync'd and EndTxn's
 *     markers too; a transactional id always goes to the same lane, so a
 *     producer's requests are done in order, one at a time.
 * A lane is a thread with a FIFO queue. It takes everything queued and
 * walks it in order; on a gathering lane (sync, commit), consecutive jobs
 * with the same run function go to one run(first, n) call (the jobs after
 * first are reached through ->next), on the admin lane each job alone.
 * The jobs of one call are completed together, then the lane goes on.
 *
 * Errors. nd_errmsg() is thread-local: read on the loop, it tells the
 * loop's last error, not the lane's. run() records each job's result with
 * worker_job_result(), which copies nd_errmsg() into the job on the lane
 * thread, so done() can log the library's own words (a file name, the
 * errno) with the Kafka error it answers.
 *
 * Shutdown. worker_stop (after net_loop_run has returned; the loop still
 * runs posted functions while it finishes in-flight requests) lets every
 * lane finish its queue (a job half done would leave a topic half made or
 * a producer unanswered), joins them, then runs the completions still
 * queued on the calling thread. Without a worker (w NULL: embedded tests)
 * or a lane whose thread could not start, a job runs at once on the
 * caller's thread: slower, still correct.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

typedef struct lane {
  worker *w;
  pthread_t thread;
  pthread_cond_t cv;
  worker_job *todo, **todo_tail;
  int gather; /* hand consecutive jobs of one run function over together */
  int started;
  size_t pending; /* queued, done() not run yet (loop thread only) */
} lane;

struct worker {
  broker *b;
  pthread_mutex_t mu; /* every queue; held only to link and unlink */
  lane lanes[WORKER_LANES];
  worker_job *done, **done_tail;
  int stopping;
  atomic_int posted; /* a drain is queued on the loop */
};

void worker_job_result(worker_job *j, int rc) {
  j->rc = rc;
  j->msg[0] = '\0';
  if (rc != 0) {
    const char *m = nd_errmsg();
    snprintf(j->msg, sizeof j->msg, "%s", m && *m ? m : nd_strerror(rc));
  }
}

/* On the loop thread (or the stopping one): complete what finished. */
static void drain(void *arg) {
  worker *w = arg;
  atomic_store(&w->posted, 0);
  pthread_mutex_lock(&w->mu);
  worker_job *j = w->done;
  w->done = NULL;
  w->done_tail = &w->done;
  pthread_mutex_unlock(&w->mu);
  while (j) {
    worker_job *next = j->next;
    w->lanes[j->lane].pending--;
    j->done(j); /* may free j */
    j = next;
  }
}

/* Lane thread: hand first..last (linked) to the loop. */
static void complete(worker *w, worker_job *first, worker_job *last) {
  pthread_mutex_lock(&w->mu);
  last->next = NULL;
  *w->done_tail = first;
  w->done_tail = &last->next;
  pthread_mutex_unlock(&w->mu);
  if (atomic_exchange(&w->posted, 1) == 0) {
    /* One post drains everything finished by the time it runs. */
    while (net_post(w->b->loop, drain, w) != 0) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL); /* out of memory: wait for some to free up */
    }
  }
}

static void *lane_main(void *arg) {
  lane *l = arg;
  worker *w = l->w;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!l->todo && !w->stopping)
      pthread_cond_wait(&l->cv, &w->mu);
    worker_job *j = l->todo;
    if (!j)
      break; /* stopping, nothing left */
    l->todo = NULL;
    l->todo_tail = &l->todo;
    pthread_mutex_unlock(&w->mu);
    while (j) {
      worker_job *last = j;
      size_t n = 1;
      while (l->gather && last->next && last->next->run == j->run) {
        last = last->next;
        n++;
      }
      worker_job *rest = last->next;
      j->run(j, n);
      complete(w, j, last);
      j = rest;
    }
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int worker_start(broker *b, worker **out) {
  *out = NULL;
  worker *w = calloc(1, sizeof *w);
  if (!w)
    return -ENOMEM;
  w->b = b;
  w->done_tail = &w->done;
  atomic_init(&w->posted, 0);
  pthread_mutex_init(&w->mu, NULL);
  int rc = 0;
  for (int i = 0; i < WORKER_LANES; i++) {
    lane *l = &w->lanes[i];
    l->w = w;
    l->todo_tail = &l->todo;
    /* The admin and txn lanes run each job alone (worker_submit_on). */
    l->gather = i != WORKER_LANE_ADMIN && i < WORKER_LANE_TXN;
    pthread_cond_init(&l->cv, NULL);
    if (rc == 0) {
      rc = pthread_create(&l->thread, NULL, lane_main, l);
      l->started = rc == 0;
    }
  }
  if (rc != 0) {
    worker_stop(w); /* joins the lanes that did start */
    return -rc;
  }
  *out = w;
  return 0;
}

void worker_stop(worker *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  w->stopping = 1;
  for (int i = 0; i < WORKER_LANES; i++)
    pthread_cond_signal(&w->lanes[i].cv);
  pthread_mutex_unlock(&w->mu);
  for (int i = 0; i < WORKER_LANES; i++)
    if (w->lanes[i].started)
      pthread_join(w->lanes[i].thread, NULL);
  /* The loop has stopped: a drain it had queued runs here (the worker is
   * still alive), then whatever finished after it. */
  if (w->b->loop)
    net_loop_run_posted(w->b->loop);
  drain(w);
  for (int i = 0; i < WORKER_LANES; i++)
    pthread_cond_destroy(&w->lanes[i].cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

int worker_busy(const worker *w, int lane_id) {
  return w && w->lanes[lane_id].pending > 0;
}

void worker_queue(worker *w, int lane_id, worker_job *j) {
  j->next = NULL;
  j->lane = lane_id;
  lane *l = w ? &w->lanes[lane_id] : NULL;
  if (!l || !l->started) {
    j->run(j, 1);
    j->done(j);
    return;
  }
  l->pending++;
  pthread_mutex_lock(&w->mu);
  *l->todo_tail = j;
  l->todo_tail = &j->next;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&w->mu);
}

/* ---- admin jobs: fn(arg) on the admin lane, done(arg) on the loop ------- */

typedef struct admin_job {
  worker_job job; /* first: a worker_job * is an admin_job * */
  void (*fn)(void *arg);
  void (*done)(void *arg);
  void *arg;
} admin_job;

static void admin_run(worker_job *j, size_t n) {
  (void)n; /* the admin lane hands jobs over one at a time */
  admin_job *a = (admin_job *)j;
  a->fn(a->arg);
}

static void admin_done(worker_job *j) {
  admin_job *a = (admin_job *)j;
  a->done(a->arg);
  free(a);
}

int worker_submit(worker *w, void (*fn)(void *arg), void (*done)(void *arg),
                  void *arg) {
  return worker_submit_on(w, WORKER_LANE_ADMIN, fn, done, arg);
}

int worker_submit_on(worker *w, int lane_id, void (*fn)(void *arg),
                     void (*done)(void *arg), void *arg) {
  admin_job *a = calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  a->job.run = admin_run;
  a->job.done = admin_done;
  a->fn = fn;
  a->done = done;
  a->arg = arg;
  worker_queue(w, lane_id, &a->job);
  return 0;
}

/* ---- syncs: group commit for acks=all ----------------------------------- */

typedef struct sync_job {
  worker_job job; /* first */
  char *topic;
  int32_t partition;
  int64_t offset;
  void (*done)(void *arg, int rc, const char *msg);
  void *arg;
} sync_job;

static int cmp_sync(const void *a, const void *b) {
  const sync_job *x = *(sync_job *const *)a, *y = *(sync_job *const *)b;
  int c = strcmp(x->topic, y->topic);
  if (c)
    return c;
  return (x->partition > y->partition) - (x->partition < y->partition);
}

static void sync_one(broker *b, sync_job *s) {
  worker_job_result(
      &s->job, nd_sync_partition(b->store, s->topic, s->partition, s->offset));
}

/* The n syncs queued together: sorted by partition, one nd_sync_partition
 * per distinct partition up to the highest offset asked for, its result
 * (and message) given to every job that asked. */
static void sync_run(worker_job *first, size_t n) {
  sync_job **v = malloc(n * sizeof *v);
  worker_job *j = first;
  if (!v) {
    /* Without the array, sync one by one: slower, still correct. */
    for (size_t i = 0; i < n; i++, j = j->next)
      sync_one(j->ctx, (sync_job *)j);
    return;
  }
  for (size_t i = 0; i < n; i++, j = j->next)
    v[i] = (sync_job *)j;
  qsort(v, n, sizeof *v, cmp_sync);
  for (size_t i = 0; i < n;) {
    size_t k = i;
    int64_t upto = v[i]->offset;
    while (k < n && cmp_sync(&v[i], &v[k]) == 0) {
      if (v[k]->offset < 0 || upto < 0)
        upto = -1; /* -1 = everything appended so far */
      else if (v[k]->offset > upto)
        upto = v[k]->offset;
      k++;
    }
    broker *br = v[i]->job.ctx;
    int rc = nd_sync_partition(br->store, v[i]->topic, v[i]->partition, upto);
    for (; i < k; i++)
      worker_job_result(&v[i]->job, rc);
  }
  free(v);
}

static void sync_done(worker_job *j) {
  sync_job *s = (sync_job *)j;
  s->done(s->arg, j->rc, j->msg);
  free(s->topic);
  free(s);
}

int worker_sync(broker *b, const char *topic, int32_t partition, int64_t offset,
                void (*done)(void *arg, int rc, const char *msg), void *arg) {
  sync_job *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->topic = strdup(topic);
  if (!s->topic) {
    free(s);
    return -ENOMEM;
  }
  s->job.run = sync_run;
  s->job.done = sync_done;
  s->job.ctx = b;
  s->partition = partition;
  s->offset = offset;
  s->done = done;
  s->arg = arg;
  worker_queue(b->worker, WORKER_LANE_SYNC, &s->job);
  return 0;
}
