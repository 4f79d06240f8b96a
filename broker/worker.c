/*
 * worker.c — one thread for admin work too slow for the event loop.
 *
 * Creating a topic makes a directory, files and fsyncs per partition: on
 * an ordinary disk tens of milliseconds per topic, so a CreateTopics of
 * 2,000 topics or of one topic with 20,000 partitions held the loop, and
 * every other client, for a minute. Such work runs here instead: the
 * handler parks its request, the job runs on this thread (touching only
 * the store, which is thread-safe, and the request's own arena, which no
 * one else touches while it is parked), and the job's done() runs back on
 * the loop thread to answer. Jobs run one at a time in submission order,
 * so two requests' topic creations never interleave.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "broker.h"

typedef struct job {
  struct job *next;
  void (*fn)(void *arg);
  void (*done)(void *arg);
  void *arg;
} job;

struct worker {
  broker *b;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job *todo, **todo_tail;
  job *done, **done_tail;
  int stopping;
  size_t pending; /* submitted, done() not run yet (loop thread only) */
};

/* On the loop thread: answer what finished. */
static void drain(void *arg) {
  worker *w = arg;
  pthread_mutex_lock(&w->mu);
  job *j = w->done;
  w->done = NULL;
  w->done_tail = &w->done;
  pthread_mutex_unlock(&w->mu);
  while (j) {
    job *next = j->next;
    w->pending--;
    j->done(j->arg);
    free(j);
    j = next;
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->todo && !w->stopping)
      pthread_cond_wait(&w->cv, &w->mu);
    job *j = w->todo;
    if (!j)
      break;
    w->todo = j->next;
    if (!w->todo)
      w->todo_tail = &w->todo;
    pthread_mutex_unlock(&w->mu);
    j->fn(j->arg);
    pthread_mutex_lock(&w->mu);
    j->next = NULL;
    int first = w->done == NULL;
    *w->done_tail = j;
    w->done_tail = &j->next;
    if (first) {
      /* One post drains everything finished by the time it runs. */
      pthread_mutex_unlock(&w->mu);
      while (net_post(w->b->loop, drain, w) != 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* out of memory: wait for some to free up */
      }
      pthread_mutex_lock(&w->mu);
    }
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
  w->todo_tail = &w->todo;
  w->done_tail = &w->done;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  int rc = pthread_create(&w->thread, NULL, worker_main, w);
  if (rc != 0) {
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
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
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  /* The thread finishes the queue first: a job half done would leave a
   * topic half made. */
  pthread_join(w->thread, NULL);
  /* The loop has stopped: the last answers (to closed connections, which
   * only frees them) run here; the drain posted last is dropped with the
   * loop's queue. */
  drain(w);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

int worker_busy(const worker *w) {
  return w && w->pending > 0;
}

int worker_submit(worker *w, void (*fn)(void *arg), void (*done)(void *arg),
                  void *arg) {
  if (!w) {
    fn(arg);
    done(arg);
    return 0;
  }
  job *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  j->fn = fn;
  j->done = done;
  j->arg = arg;
  w->pending++;
  pthread_mutex_lock(&w->mu);
  *w->todo_tail = j;
  w->todo_tail = &j->next;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return 0;
}
