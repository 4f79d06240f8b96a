/* SPDX-License-Identifier: Apache-2.0 */
/* broker/waitset.c: parked requests indexed by partition. A notify wakes
 * only the waiters of its partition, each once per drain however many of
 * its partitions were notified; waiters may leave during a wake; notifies
 * come from any thread (this program also runs under TSan).
 *
 * The loop here never runs: it stands for a stopped loop, whose posts (the
 * drains) this thread runs with net_loop_run_posted, so this thread is the
 * "loop thread" and every drain happens where the test says. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "waitset.h"

typedef struct tw {
  waiter w; /* first */
  int woken;
  waitset *ws;
  struct tw *remove_on_wake; /* removed (with itself) when woken */
} tw;

static void on_wake(void *ctx, waiter *w) {
  (void)ctx;
  tw *t = (tw *)w;
  t->woken++;
  if (t->remove_on_wake) {
    waitset_remove(t->ws, &t->remove_on_wake->w);
    waitset_remove(t->ws, &t->w);
  }
}

static int no_request(void *ctx, net_conn *c, net_req *r, net_frame *f) {
  (void)ctx;
  (void)c;
  (void)r;
  net_frame_free(f);
  return -1;
}

static net_loop *stopped_loop(void) {
  net_config nc = {.listen_host = "127.0.0.1", .on_request = no_request};
  net_loop *l = NULL;
  if (net_loop_new(&nc, &l) != 0)
    return NULL;
  net_loop_stop(l);
  net_loop_run(l);
  return l;
}

/* A waitset calling on_wake, posting to a stopped loop (*l). */
static waitset *new_waitset(net_loop **l) {
  waitset *ws = NULL;
  *l = stopped_loop();
  if (*l && waitset_new(*l, on_wake, NULL, &ws) != 0)
    ws = NULL;
  return ws;
}

static void free_waitset(waitset *ws, net_loop *l) {
  waitset_free(ws);
  net_loop_free(l);
}

/* How many times a, b, c and d have been woken. */
#define CHECK_WOKEN(na, nb, nc, nd)                                            \
  CHECK(a.woken == (na) && b.woken == (nb) && c.woken == (nc) &&               \
        d.woken == (nd))

static void wakes_only_its_partition(void) {
  net_loop *l;
  waitset *ws = new_waitset(&l);
  CHECK(ws);
  tw a, b, c, d;
  memset(&a, 0, sizeof a);
  b = c = d = a;
  CHECK_OK(waitset_add(ws, &a.w, "t", 0));
  CHECK_OK(waitset_add(ws, &b.w, "t", 1));
  CHECK_OK(waitset_add(ws, &c.w, "t", 0));
  CHECK_OK(waitset_add(ws, &c.w, "t", 1));
  CHECK_OK(waitset_add(ws, &d.w, "u", 0));
  CHECK_OK(waitset_add(ws, &d.w, "t0", 0)); /* a name sharing a prefix */

  /* Nothing runs before the drain: notify only marks. */
  uint64_t e0 = waitset_epoch(ws);
  waitset_notify(ws, "t", 0);
  CHECK_EQ_I64(waitset_epoch(ws), e0 + 1);
  CHECK_EQ_I64(a.woken + c.woken, 0);
  net_loop_run_posted(l);
  CHECK_WOKEN(1, 0, 1, 0);

  /* Both of c's partitions in one drain: c is called once. Notifies of
   * partitions nobody waits on wake nobody. */
  waitset_notify(ws, "t", 0);
  waitset_notify(ws, "t", 1);
  waitset_notify(ws, "t", 1);
  waitset_notify(ws, "t", 2);
  waitset_notify(ws, "v", 0);
  net_loop_run_posted(l);
  CHECK_WOKEN(2, 1, 2, 0);

  /* A removed waiter is not called; the others still are. */
  waitset_remove(ws, &c.w);
  waitset_remove(ws, &c.w); /* twice is harmless */
  waitset_notify(ws, "t", 0);
  waitset_notify(ws, "t0", 0);
  net_loop_run_posted(l);
  CHECK_WOKEN(3, 1, 2, 1);

  /* Removed after a notify, before its drain: not called. */
  waitset_notify(ws, "t", 1);
  waitset_remove(ws, &b.w);
  net_loop_run_posted(l);
  CHECK_WOKEN(3, 1, 2, 1);

  waitset_remove(ws, &a.w);
  waitset_remove(ws, &d.w);
  free_waitset(ws, l);
}

/* A wake that removes itself and another waiter of the same partition
 * (a fetch answered, a connection closed): the other is not called, and
 * nothing freed is touched (ASan). */
static void remove_during_wake(void) {
  net_loop *l;
  waitset *ws = new_waitset(&l);
  CHECK(ws);
  tw x[4];
  memset(x, 0, sizeof x);
  for (int i = 0; i < 4; i++) {
    x[i].ws = ws;
    CHECK_OK(waitset_add(ws, &x[i].w, "t", 0));
  }
  CHECK_OK(waitset_add(ws, &x[0].w, "t", 1));
  /* Links are taken from the head, in the order added. */
  x[0].remove_on_wake = &x[1];
  waitset_notify(ws, "t", 0);
  waitset_notify(ws, "t", 1);
  net_loop_run_posted(l);
  CHECK_EQ_I64(x[0].woken, 1);
  CHECK_EQ_I64(x[1].woken, 0);
  CHECK_EQ_I64(x[2].woken, 1);
  CHECK_EQ_I64(x[3].woken, 1);
  /* x[0] and x[1] are gone from both partitions. */
  waitset_notify(ws, "t", 0);
  waitset_notify(ws, "t", 1);
  net_loop_run_posted(l);
  CHECK_EQ_I64(x[0].woken, 1);
  CHECK_EQ_I64(x[1].woken, 0);
  CHECK_EQ_I64(x[2].woken, 2);
  /* Freed with waiters still in it. */
  free_waitset(ws, l);
}

/* Many partitions (the table grows), notified from several threads while
 * this thread drains: every waiter of a notified partition is woken. */
#define NPARTS 500
#define NTHREADS 3

typedef struct notifier {
  waitset *ws;
  int first;
  atomic_int *done;
} notifier;

static void *notify_all(void *arg) {
  notifier *n = arg;
  for (int round = 0; round < 20; round++)
    for (int p = n->first; p < NPARTS; p += NTHREADS)
      waitset_notify(n->ws, "many", p);
  atomic_fetch_add(n->done, 1);
  return NULL;
}

static void notify_from_threads(void) {
  net_loop *l;
  waitset *ws = new_waitset(&l);
  CHECK(ws);
  static tw w[NPARTS];
  memset(w, 0, sizeof w);
  for (int p = 0; p < NPARTS; p++)
    CHECK_OK(waitset_add(ws, &w[p].w, "many", p));
  atomic_int done = 0;
  notifier n[NTHREADS];
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    n[i] = (notifier){ws, i, &done};
    CHECK(pthread_create(&th[i], NULL, notify_all, &n[i]) == 0);
  }
  while (atomic_load(&done) < NTHREADS)
    net_loop_run_posted(l);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(th[i], NULL);
  net_loop_run_posted(l);
  for (int p = 0; p < NPARTS; p++) {
    CHECK(w[p].woken >= 1);
    CHECK(w[p].woken <= 20);
    waitset_remove(ws, &w[p].w);
  }
  free_waitset(ws, l);
}

int main(void) {
  RUN(wakes_only_its_partition);
  RUN(remove_during_wake);
  RUN(notify_from_threads);
  TEST_MAIN_END();
}
