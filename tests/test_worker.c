/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_worker.c — the broker's off-loop worker (broker/worker.c): lanes,
 * completions on the loop thread, the library's error message carried from
 * the lane to the loop, shutdown; then, end to end through `nodata serve`
 * run in this process, a failing fdatasync (acks=all) and a failing offset
 * commit reaching a Kafka client as KAFKA_STORAGE_ERROR with the library's
 * message in the broker's log line. Faults come from file.c's test hooks,
 * which work because the broker runs in this process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "kafka_msgs.h"
#include "net.h"
#include "nodata_testing.h"
#include "test.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait (without a time limit worth tuning: 60 s means "never") until
 * *v >= want. */
static int wait_for(atomic_int *v, int want) {
  for (int i = 0; i < 12000 && atomic_load(v) < want; i++)
    sleep_ms(5);
  return atomic_load(v) >= want;
}

/* ---- a running loop with a store and a worker -------------------------- */

static int no_request(void *ctx, net_conn *c, net_req *r, net_frame *f) {
  (void)ctx, (void)c, (void)r, (void)f;
  return -1;
}

typedef struct rig {
  char *dir;
  broker b;
  pthread_t loop_thread;
} rig;

static void *loop_main(void *arg) {
  net_loop_run(arg);
  return NULL;
}

static int rig_start(rig *g) {
  memset(g, 0, sizeof *g);
  g->dir = tmpdir_make("worker");
  nd_options opts = {.no_background = 1};
  if (!g->dir || nd_open(g->dir, &opts, &g->b.store) != 0)
    return -1;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_NEVER; /* only the sync lane syncs */
  if (nd_topic_create(g->b.store, "t", 2, &cfg) != 0)
    return -1;
  net_config nc = {.listen_host = "127.0.0.1", .on_request = no_request};
  if (net_loop_new(&nc, &g->b.loop) != 0)
    return -1;
  if (pthread_create(&g->loop_thread, NULL, loop_main, g->b.loop) != 0)
    return -1;
  return worker_start(&g->b, &g->b.worker);
}

/* Stop the loop first (so worker_stop runs the last completions here),
 * then the worker, then the store. */
static void rig_stop(rig *g) {
  net_loop_stop(g->b.loop);
  pthread_join(g->loop_thread, NULL);
  worker_stop(g->b.worker);
  net_loop_free(g->b.loop);
  nd_close(g->b.store);
  tmpdir_remove(g->dir);
}

static int append_some(nd_store *st, int32_t partition, int n) {
  for (int i = 0; i < n; i++) {
    nd_record rec = {
        .value = "v", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
    int rc = nd_append(st, "t", partition, &rec, 1, ND_APPEND_NOSYNC, NULL);
    if (rc)
      return rc;
  }
  return 0;
}

/* Run fn(arg) on the loop thread and wait for it: jobs are queued there. */
typedef struct on_loop {
  void (*fn)(void *arg);
  void *arg;
  atomic_int ran;
} on_loop;

static void on_loop_run(void *arg) {
  on_loop *o = arg;
  o->fn(o->arg);
  atomic_store(&o->ran, 1);
}

static int run_on_loop(rig *g, void (*fn)(void *), void *arg) {
  on_loop o = {fn, arg, 0};
  if (net_post(g->b.loop, on_loop_run, &o) != 0)
    return -1;
  return wait_for(&o.ran, 1) ? 0 : -1;
}

/* A gate: a job whose run waits until the test opens it, to hold a lane. */
typedef struct gate {
  worker_job job;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
  atomic_int entered, done;
} gate;

static void gate_run(worker_job *j, size_t n) {
  (void)n;
  gate *g = (gate *)j;
  atomic_store(&g->entered, 1);
  pthread_mutex_lock(&g->mu);
  while (!g->open)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void gate_done(worker_job *j) {
  atomic_store(&((gate *)j)->done, 1);
}

static void gate_init(gate *g) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->job.run = gate_run;
  g->job.done = gate_done;
}

static void gate_open(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void gate_fini(gate *g) {
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

/* ---- the sync lane ------------------------------------------------------ */

typedef struct sync_check {
  atomic_int done, bad_rc, wrong_thread, notopic_msg_ok, ok_msg_empty;
  pthread_t loop_thread;
} sync_check;

typedef struct sync_arg {
  sync_check *sc;
  int want_rc;
} sync_arg;

static void sync_done(void *arg, int rc, const char *msg) {
  sync_arg *a = arg;
  if (!pthread_equal(pthread_self(), a->sc->loop_thread))
    atomic_fetch_add(&a->sc->wrong_thread, 1);
  if (rc != a->want_rc)
    atomic_fetch_add(&a->sc->bad_rc, 1);
  /* The library names the missing topic; the loop's own nd_errmsg() does
   * not, so only the lane's message can. */
  if (rc == ND_ENOTOPIC && strstr(msg, "no-such-topic"))
    atomic_fetch_add(&a->sc->notopic_msg_ok, 1);
  if (rc == 0 && !*msg)
    atomic_fetch_add(&a->sc->ok_msg_empty, 1);
  atomic_fetch_add(&a->sc->done, 1);
  free(a);
}

typedef struct sync_round {
  rig *g;
  sync_check *sc;
  gate *hold; /* queued first on the sync lane when set */
  int n;
} sync_round;

static void sync_issue(void *arg) {
  sync_round *sr = arg;
  if (sr->hold)
    worker_queue(sr->g->b.worker, WORKER_LANE_SYNC, &sr->hold->job);
  for (int i = 0; i < sr->n; i++) {
    sync_arg *a = calloc(1, sizeof *a);
    a->sc = sr->sc;
    int missing = i == sr->n / 2;
    a->want_rc = missing ? ND_ENOTOPIC : 0;
    if (worker_sync(&sr->g->b, missing ? "no-such-topic" : "t", i % 2,
                    i % 3 == 0 ? -1 : i / 2, sync_done, a) != 0)
      abort();
  }
}

/* Syncs queued behind a busy lane run as one group: each partition once,
 * each job told its own partition's result (a missing topic in the middle
 * of the group fails alone, with the library's message); every done()
 * runs on the loop thread; the data is durable afterwards. */
static void test_sync_lane(void) {
  rig g;
  CHECK_OK(rig_start(&g));
  CHECK_OK(append_some(g.b.store, 0, 60));
  CHECK_OK(append_some(g.b.store, 1, 60));
  sync_check sc;
  memset(&sc, 0, sizeof sc);
  sc.loop_thread = g.loop_thread;
  gate hold;
  gate_init(&hold);
  sync_round sr = {&g, &sc, &hold, 101};
  CHECK_OK(run_on_loop(&g, sync_issue, &sr));
  CHECK(wait_for(&hold.entered, 1));
  uint64_t syncs0 = nd_test_sync_count();
  gate_open(&hold);
  CHECK(wait_for(&sc.done, sr.n));
  /* One group: two partitions, each synced once (its .log, maybe its
   * directory), not once per job. */
  CHECK(nd_test_sync_count() - syncs0 <= 4);
  CHECK_EQ_I64(atomic_load(&sc.bad_rc), 0);
  CHECK_EQ_I64(atomic_load(&sc.wrong_thread), 0);
  CHECK_EQ_I64(atomic_load(&sc.notopic_msg_ok), 1);
  CHECK_EQ_I64(atomic_load(&sc.ok_msg_empty), sr.n - 1);
  CHECK(wait_for(&hold.done, 1));
  nd_partition_info pi;
  for (int32_t p = 0; p < 2; p++) {
    CHECK_OK(nd_partition_describe(g.b.store, "t", p, &pi));
    CHECK_EQ_I64(pi.recovery_point, 60);
  }
  rig_stop(&g);
  gate_fini(&hold);
}

/* ---- lanes do not wait for each other; admin keeps its order ---------- */

typedef struct admin_arg {
  int id;
  int *order;
  atomic_int *count;
} admin_arg;

static void admin_fn(void *arg) {
  (void)arg;
}

static void admin_done(void *arg) {
  admin_arg *a = arg;
  a->order[atomic_fetch_add(a->count, 1)] = a->id;
}

typedef struct lanes_ctx {
  rig *g;
  gate *hold;
  admin_arg adm[3];
  sync_arg *s;
  int busy_admin, busy_sync;
} lanes_ctx;

static void lanes_issue(void *arg) {
  lanes_ctx *c = arg;
  worker_queue(c->g->b.worker, WORKER_LANE_ADMIN, &c->hold->job);
  for (int i = 0; i < 3; i++)
    if (worker_submit(c->g->b.worker, admin_fn, admin_done, &c->adm[i]) != 0)
      abort();
  if (worker_sync(&c->g->b, "t", 0, -1, sync_done, c->s) != 0)
    abort();
}

static void lanes_busy(void *arg) {
  lanes_ctx *c = arg;
  c->busy_admin = worker_busy(c->g->b.worker, WORKER_LANE_ADMIN);
  c->busy_sync = worker_busy(c->g->b.worker, WORKER_LANE_SYNC);
}

static void test_lanes_independent(void) {
  rig g;
  CHECK_OK(rig_start(&g));
  CHECK_OK(append_some(g.b.store, 0, 10));
  gate hold;
  gate_init(&hold);
  int order[4] = {-1, -1, -1, -1};
  atomic_int count = 0;
  sync_check sc;
  memset(&sc, 0, sizeof sc);
  sc.loop_thread = g.loop_thread;
  lanes_ctx c = {.g = &g, .hold = &hold};
  for (int i = 0; i < 3; i++)
    c.adm[i] = (admin_arg){i, order, &count};
  c.s = calloc(1, sizeof *c.s);
  c.s->sc = &sc;
  CHECK_OK(run_on_loop(&g, lanes_issue, &c));
  /* The admin lane is held; the sync behind it on its own lane is not. */
  CHECK(wait_for(&sc.done, 1));
  CHECK_EQ_I64(atomic_load(&sc.bad_rc), 0);
  CHECK_EQ_I64(atomic_load(&count), 0);
  CHECK_OK(run_on_loop(&g, lanes_busy, &c));
  CHECK_EQ_I64(c.busy_admin, 1);
  CHECK_EQ_I64(c.busy_sync, 0);
  gate_open(&hold);
  CHECK(wait_for(&count, 3));
  CHECK(wait_for(&hold.done, 1));
  for (int i = 0; i < 3; i++)
    CHECK_EQ_I64(order[i], i); /* submission order */
  CHECK_OK(run_on_loop(&g, lanes_busy, &c));
  CHECK_EQ_I64(c.busy_admin, 0);
  rig_stop(&g);
  gate_fini(&hold);
}

/* ---- gathering: consecutive jobs of one run function go together ------ */

typedef struct count_job {
  worker_job job;
  atomic_int *calls, *most, *done;
} count_job;

static void count_run(worker_job *j, size_t n) {
  count_job *c = (count_job *)j;
  atomic_fetch_add(c->calls, 1);
  if ((int)n > atomic_load(c->most))
    atomic_store(c->most, (int)n);
  for (size_t i = 0; i < n; i++, j = j->next)
    worker_job_result(j, 0);
}

static void count_done(worker_job *j) {
  atomic_fetch_add(((count_job *)j)->done, 1);
}

typedef struct gather_ctx {
  rig *g;
  gate *hold;
  count_job jobs[8];
  int lane;
} gather_ctx;

static void gather_hold(void *arg) {
  gather_ctx *c = arg;
  worker_queue(c->g->b.worker, c->lane, &c->hold->job);
}

static void gather_issue(void *arg) {
  gather_ctx *c = arg;
  for (int i = 0; i < 8; i++)
    worker_queue(c->g->b.worker, c->lane, &c->jobs[i].job);
}

/* Behind a held job, 8 jobs with one run function: a commit lane hands
 * them to one run(first, 8); the admin lane one at a time. They are
 * queued once the lane's thread is inside the held job: queued together
 * with it, the thread could take the held job and the first of them in
 * one go, and that one would run alone (seen under TSan). */
static void gather_case(int lane, int want_calls) {
  rig g;
  CHECK_OK(rig_start(&g));
  gate hold;
  gate_init(&hold);
  atomic_int calls = 0, most = 0, done = 0;
  gather_ctx c = {.g = &g, .hold = &hold, .lane = lane};
  for (int i = 0; i < 8; i++)
    c.jobs[i] = (count_job){
        {.run = count_run, .done = count_done}, &calls, &most, &done};
  CHECK_OK(run_on_loop(&g, gather_hold, &c));
  CHECK(wait_for(&hold.entered, 1));
  CHECK_OK(run_on_loop(&g, gather_issue, &c));
  gate_open(&hold);
  CHECK(wait_for(&done, 8));
  CHECK_EQ_I64(atomic_load(&calls), want_calls);
  CHECK_EQ_I64(atomic_load(&most), 8 / want_calls);
  rig_stop(&g);
  gate_fini(&hold);
}

static void test_gather(void) {
  gather_case(WORKER_LANE_COMMIT + 1, 1);
  if (nd_test_current_failed)
    return;
  gather_case(WORKER_LANE_ADMIN, 8);
}

/* ---- a failing fdatasync: the lane's message reaches done() ----------- */

typedef struct fail_check {
  atomic_int done;
  int rc;
  char msg[256];
  char loop_msg[256];
} fail_check;

static void fail_done(void *arg, int rc, const char *msg) {
  fail_check *f = arg;
  f->rc = rc;
  snprintf(f->msg, sizeof f->msg, "%s", msg);
  snprintf(f->loop_msg, sizeof f->loop_msg, "%s", nd_errmsg());
  atomic_store(&f->done, 1);
}

typedef struct fail_ctx {
  rig *g;
  fail_check *f;
} fail_ctx;

static void fail_issue(void *arg) {
  fail_ctx *c = arg;
  if (worker_sync(&c->g->b, "t", 1, -1, fail_done, c->f) != 0)
    abort();
}

static void test_sync_error_message(void) {
  rig g;
  CHECK_OK(rig_start(&g));
  CHECK_OK(append_some(g.b.store, 1, 5));
  fail_check f;
  memset(&f, 0, sizeof f);
  fail_ctx c = {&g, &f};
  nd_test_io_fault_set(ND_TEST_IO_SYNC, 0, EIO, 0);
  CHECK_OK(run_on_loop(&g, fail_issue, &c));
  CHECK(wait_for(&f.done, 1));
  nd_test_io_fault_clear();
  CHECK_EQ_I64(f.rc, -EIO);
  /* The library's words (what failed, on which file, why), not only
   * nd_strerror(rc); and not the loop thread's nd_errmsg(). */
  CHECK(strstr(f.msg, "fdatasync ") &&
        strstr(f.msg, "/1/00000000000000000000.log"));
  CHECK(strstr(f.msg, strerror(EIO)));
  CHECK(!strstr(f.loop_msg, "fdatasync"));
  rig_stop(&g);
}

/* ---- shutdown: queued jobs complete on the stopping thread ------------ */

static void test_stop_completes(void) {
  rig g;
  CHECK_OK(rig_start(&g));
  CHECK_OK(append_some(g.b.store, 0, 5));
  net_loop_stop(g.b.loop);
  pthread_join(g.loop_thread, NULL);
  /* The loop has stopped: this thread stands for it now. */
  sync_check sc;
  memset(&sc, 0, sizeof sc);
  sc.loop_thread = pthread_self();
  sync_round sr = {&g, &sc, NULL, 31};
  sync_issue(&sr);
  worker_stop(g.b.worker);
  g.b.worker = NULL;
  CHECK_EQ_I64(atomic_load(&sc.done), sr.n);
  CHECK_EQ_I64(atomic_load(&sc.bad_rc), 0);
  CHECK_EQ_I64(atomic_load(&sc.wrong_thread), 0);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(g.b.store, "t", 0, &pi));
  CHECK_EQ_I64(pi.recovery_point, 5);
  net_loop_free(g.b.loop);
  nd_close(g.b.store);
  tmpdir_remove(g.dir);
}

/* ------------------------------------------------------------------------ */
/* End to end: `nodata serve` in this process, a Kafka client by hand      */
/* ------------------------------------------------------------------------ */

typedef struct served {
  char *dir;
  char log[PATH_MAX], out[PATH_MAX];
  int saved_out, saved_err;
  pthread_t thread;
  int port;
  int status;
} served;

static void *serve_main(void *arg) {
  served *s = arg;
  char data[PATH_MAX];
  snprintf(data, sizeof data, "%s/data", s->dir);
  char *argv[] = {"serve", "--data", data, "--listen", "127.0.0.1:0", NULL};
  s->status = broker_serve_main(5, argv);
  return NULL;
}

/* The file as a NUL-terminated string (malloc'ed), or NULL. */
static char *read_text(const char *path) {
  size_t len = 0;
  uint8_t *b = read_file(path, &len);
  char *t = b ? realloc(b, len + 1) : NULL;
  if (!t) {
    free(b);
    return NULL;
  }
  t[len] = '\0';
  return t;
}

/* Start the broker with its stdout (the start-up line) and stderr (the
 * log) going to files in s->dir; the test's own stderr is restored by
 * serve_stop. Topic t (1 partition, fsync=always: only the sync lane
 * syncs it, never the background flusher) exists before it starts. */
static int serve_start(served *s) {
  memset(s, 0, sizeof *s);
  s->dir = tmpdir_make("worker-serve");
  if (!s->dir)
    return -1;
  char data[PATH_MAX];
  snprintf(data, sizeof data, "%s/data", s->dir);
  nd_store *st = NULL;
  if (nd_open(data, NULL, &st) != 0)
    return -1;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  int rc = nd_topic_create(st, "t", 1, &cfg);
  nd_close(st);
  if (rc != 0)
    return -1;
  snprintf(s->log, sizeof s->log, "%s/serve.log", s->dir);
  snprintf(s->out, sizeof s->out, "%s/serve.out", s->dir);
  fflush(stdout);
  fflush(stderr);
  s->saved_out = dup(1);
  s->saved_err = dup(2);
  int lfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int ofd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (s->saved_out < 0 || s->saved_err < 0 || lfd < 0 || ofd < 0)
    return -1;
  dup2(lfd, 2);
  dup2(ofd, 1);
  close(lfd);
  close(ofd);
  if (pthread_create(&s->thread, NULL, serve_main, s) != 0)
    return -1;
  for (int i = 0; i < 12000 && !s->port; i++) {
    sleep_ms(5);
    char *text = read_text(s->out);
    const char *at = text ? strstr(text, "listening on 127.0.0.1:") : NULL;
    if (at)
      s->port = atoi(at + strlen("listening on 127.0.0.1:"));
    free(text);
  }
  return s->port ? 0 : -1;
}

/* Stop the broker (SIGTERM, as an operator would) and give the test its
 * stdout and stderr back. The signal goes to the broker's own thread, as
 * if the process had one: its handler writes the loop's eventfd, which
 * that thread closes at the end. */
static void serve_stop(served *s) {
  if (s->port) {
    pthread_kill(s->thread, SIGTERM);
    pthread_join(s->thread, NULL);
  }
  fflush(stdout);
  fflush(stderr);
  if (s->saved_out >= 0) {
    dup2(s->saved_out, 1);
    close(s->saved_out);
  }
  if (s->saved_err >= 0) {
    dup2(s->saved_err, 2);
    close(s->saved_err);
  }
  signal(SIGTERM, SIG_DFL);
}

static int connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

static int io_all(int fd, void *p, size_t n, int writing) {
  uint8_t *b = p;
  while (n) {
    ssize_t k = writing ? write(fd, b, n) : read(fd, b, n);
    if (k <= 0)
      return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

/* One request (header v1: both APIs used here are below their flexible
 * versions) and its response body decoded into arena a; NULL on failure. */
static void *round_trip(int fd, const kf_msg *req_msg, const kf_msg *resp_msg,
                        int16_t version, const void *body, kf_arena *a) {
  kf_buf b;
  memset(&b, 0, sizeof b);
  kf_put_i32(&b, 0); /* size, set below */
  kf_put_i16(&b, req_msg->api_key);
  kf_put_i16(&b, version);
  kf_put_i32(&b, 7); /* correlation id */
  kf_put_i16(&b, 4);
  kf_put(&b, "test", 4);
  kf_encode(req_msg, version, body, &b);
  void *out = NULL;
  uint32_t size = htonl((uint32_t)(b.len - 4));
  if (b.failed)
    goto done;
  memcpy(b.data, &size, 4);
  if (io_all(fd, b.data, b.len, 1) != 0 || io_all(fd, &size, 4, 0) != 0)
    goto done;
  size = ntohl(size);
  /* In the arena: decoded strings point into it. */
  uint8_t *resp = size >= 4 ? kf_alloc(a, size) : NULL;
  if (!resp || io_all(fd, resp, size, 0) != 0)
    goto done;
  kf_cur c = {resp + 4, resp + size}; /* after the correlation id */
  out = kf_decode(resp_msg, version, &c, a);
done:
  kf_buf_free(&b);
  return out;
}

/* The produce answer's error for t/0, or -1 if there was none. */
static int produce_one(int fd, kf_arena *a) {
  nd_record rec = {.value = "hello", .value_len = 5, .timestamp = 1000};
  void *batch = NULL;
  size_t len = 0;
  if (nd_batch_encode(&rec, 1, 0, 1000, 0, &batch, &len) != 0)
    return -1;
  kafka_produce_request *req = kf_new(a, &kafka_produce_request_desc);
  kafka_produce_request_topic_produce_data *td =
      kf_new_array(a, &kafka_produce_request_topic_produce_data_desc, 1);
  kafka_produce_request_partition_produce_data *pd =
      kf_new_array(a, &kafka_produce_request_partition_produce_data_desc, 1);
  if (!req || !td || !pd) {
    nd_free(batch);
    return -1;
  }
  req->acks = -1;
  req->timeout_ms = 30000;
  req->topic_data.items = td;
  req->topic_data.count = 1;
  td->name = kf_s("t");
  td->partition_data.items = pd;
  td->partition_data.count = 1;
  pd->index = 0;
  pd->records.ptr = batch;
  pd->records.len = (int32_t)len;
  kafka_produce_response *resp = round_trip(
      fd, &kafka_produce_request_msg, &kafka_produce_response_msg, 3, req, a);
  nd_free(batch);
  if (!resp || resp->responses.count != 1 ||
      resp->responses.items[0].partition_responses.count != 1)
    return -1;
  return resp->responses.items[0].partition_responses.items[0].error_code;
}

/* The OffsetCommit answer's error for group g, t/0, or -1. */
static int commit_one(int fd, kf_arena *a) {
  kafka_offset_commit_request *req =
      kf_new(a, &kafka_offset_commit_request_desc);
  kafka_offset_commit_request_topic *t =
      kf_new_array(a, &kafka_offset_commit_request_topic_desc, 1);
  kafka_offset_commit_request_partition *p =
      kf_new_array(a, &kafka_offset_commit_request_partition_desc, 1);
  if (!req || !t || !p)
    return -1;
  req->group_id = kf_s("g");
  req->generation_id_or_member_epoch = -1; /* a simple consumer */
  req->member_id = kf_s("");
  req->retention_time_ms = -1;
  req->topics.items = t;
  req->topics.count = 1;
  t->name = kf_s("t");
  t->partitions.items = p;
  t->partitions.count = 1;
  p->partition_index = 0;
  p->committed_offset = 1;
  p->committed_metadata = kf_s("");
  kafka_offset_commit_response *resp =
      round_trip(fd, &kafka_offset_commit_request_msg,
                 &kafka_offset_commit_response_msg, 2, req, a);
  if (!resp || resp->topics.count != 1 ||
      resp->topics.items[0].partitions.count != 1)
    return -1;
  return resp->topics.items[0].partitions.items[0].error_code;
}

static int log_has_line(const char *log, const char *a, const char *b,
                        const char *c) {
  for (const char *l = log; l && *l;) {
    const char *e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l) : strlen(l);
    char line[2048];
    snprintf(line, sizeof line, "%.*s", (int)n, l);
    if (strstr(line, a) && strstr(line, b) && strstr(line, c))
      return 1;
    l = e ? e + 1 : NULL;
  }
  return 0;
}

#define KAFKA_STORAGE_ERROR 56

static void test_served_faults(void) {
  served s;
  int started = serve_start(&s);
  int fd = started == 0 ? connect_port(s.port) : -1;
  kf_arena a = {0};
  int ok_before = -2, synced_err = -2, ok_after = -2;
  int commit_ok = -2, commit_err = -2;
  if (fd >= 0) {
    ok_before = produce_one(fd, &a);
    /* The next fdatasync anywhere fails: the one the sync lane makes for
     * this acks=all produce (nothing else syncs t, and nothing else runs). */
    nd_test_io_fault_set(ND_TEST_IO_SYNC, 0, EIO, 0);
    synced_err = produce_one(fd, &a);
    nd_test_io_fault_clear();
    /* A partition whose fdatasync failed takes no more appends. */
    ok_after = produce_one(fd, &a);
    commit_ok = commit_one(fd, &a);
    /* The next write fails: the commit's, on a commit lane. */
    nd_test_io_fault_set(ND_TEST_IO_WRITE, 0, EIO, 0);
    commit_err = commit_one(fd, &a);
    nd_test_io_fault_clear();
    close(fd);
  }
  kf_arena_free(&a);
  serve_stop(&s);
  CHECK_OK(started);
  CHECK(fd >= 0);
  /* The partition whose fdatasync failed stays failed until the store is
   * reopened, and closing the store says so: exit status 1. */
  CHECK_EQ_I64(s.status, 1);
  char *log = read_text(s.log);
  CHECK(log);
  if (synced_err != KAFKA_STORAGE_ERROR || commit_err != KAFKA_STORAGE_ERROR)
    fprintf(stderr, "broker log:\n%s", log);
  CHECK_EQ_I64(ok_before, 0);
  CHECK_EQ_I64(synced_err, KAFKA_STORAGE_ERROR);
  CHECK_EQ_I64(ok_after, KAFKA_STORAGE_ERROR);
  CHECK_EQ_I64(commit_ok, 0);
  CHECK_EQ_I64(commit_err, KAFKA_STORAGE_ERROR);
  /* The log lines carry the library's message (what, which file, why),
   * taken on the lane, with the Kafka error answered. */
  char eio[128];
  snprintf(eio, sizeof eio, "%s", strerror(EIO));
  int sync_logged = log_has_line(log, "fdatasync failed: fdatasync ", eio,
                                 "answered KAFKA_STORAGE_ERROR(56)");
  int commit_logged = log_has_line(log, "group g: commit failed: ", eio,
                                   "answered KAFKA_STORAGE_ERROR(56)");
  if (!sync_logged || !commit_logged)
    fprintf(stderr, "broker log:\n%s", log);
  free(log);
  CHECK(sync_logged);
  CHECK(commit_logged);
  tmpdir_remove(s.dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_sync_lane);
  RUN(test_lanes_independent);
  RUN(test_gather);
  RUN(test_sync_error_message);
  RUN(test_stop_completes);
  RUN(test_served_faults);
  TEST_MAIN_END();
}
