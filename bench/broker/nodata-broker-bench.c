/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nodata-broker-bench — the broker benchmark of issue 4.
 *
 * librdkafka (the real client) drives three targets with the same
 * workloads, interleaved run by run, and the medians are printed side by
 * side with the ratios the issue targets:
 *
 *   nodata  `nodata serve`, started here as a child on 127.0.0.1:0 with a
 *           scratch data directory;
 *   mock    librdkafka's in-process mock cluster: stores nothing on disk, so
 *           it is what the client alone can do on this machine;
 *   redis   Redis Streams (redis-server, started here, appendonly), spoken
 *           to in RESP over a plain socket: XADD pipelined, XRANGE reads.
 *
 * See README.md beside this file for what every figure means.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "nodata-broker-bench"

/* ---- options ------------------------------------------------------------- */

#define MAX_KV 16 /* --topic-config, --client-config */

enum {
  CASE_PRODUCE = 1 << 0,
  CASE_CONSUME = 1 << 1,
  CASE_LATENCY = 1 << 2,
  CASE_RSS = 1 << 3,
  CASE_E2E = 1 << 4,
  CASE_ALL = (1 << 5) - 1,
};

static struct {
  const char *nodata;
  const char *redis; /* NULL: look in PATH */
  const char *dir;
  int runs;
  int quick;
  unsigned cases;
  long n_small, n_large; /* messages per produce run */
  int cparts;            /* partitions of the consumed topic */
  long c_small, c_large; /* messages per partition of the consumed topic */
  double lat_secs;       /* length of one latency run, after... */
  double lat_warm;       /* ...a warm-up at the same rate, reported apart */
  double lat_rate;       /* offered msgs/s */
  int idle_conns;
  const char *acks; /* produce and e2e cases (latency picks its own) */
  /* Client mode (--client): one workload against a broker someone else
   * started, for bench/broker/vs-kafka.py; its topics get these configs. */
  const char *client;
  const char *topic_cfg[MAX_KV];
  int n_topic_cfg;
  const char *client_cfg[MAX_KV]; /* librdkafka properties for every client */
  int n_client_cfg;
} opt;

#define SMALL 100
#define LARGE 1024

/* ---- failure and cleanup ------------------------------------------------- */

/* Everything the cleanup needs, including from a signal handler: pids of
 * the children and the scratch root. */
static volatile pid_t g_nodata_pid, g_redis_pid;
static char g_root[PATH_MAX];

static void rm_rf_async_safe(void) {
  /* fork+exec is async-signal-safe, nftw is not: the handler may have
   * interrupted malloc. */
  if (!g_root[0])
    return;
  pid_t p = fork();
  if (p == 0) {
    execl("/bin/rm", "rm", "-rf", g_root, (char *)NULL);
    _exit(127);
  }
  if (p > 0)
    waitpid(p, NULL, 0);
}

static void kill_children_now(void) {
  pid_t a = g_nodata_pid, b = g_redis_pid;
  if (a > 0)
    kill(a, SIGKILL);
  if (b > 0)
    kill(b, SIGKILL);
  if (a > 0)
    waitpid(a, NULL, 0);
  if (b > 0)
    waitpid(b, NULL, 0);
  g_nodata_pid = g_redis_pid = 0;
}

static void on_fatal_signal(int sig) {
  static const char msg[] = PROG ": error: interrupted or timed out; "
                                 "children killed\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  kill_children_now();
  rm_rf_async_safe();
  _exit(128 + sig);
}

static void stop_all(void);

static void fail(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, PROG ": error: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  stop_all();
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* ---- payloads ------------------------------------------------------------ */

/* Incompressible bytes from a fixed seed; message i is a window at an odd
 * stride so neighbours differ while the pool stays cache-sized. */
#define POOL_BYTES (1u << 20)
static unsigned char g_pool[POOL_BYTES + LARGE];

static void pool_init(void) {
  uint64_t x = 0x6e6f64617461ULL;
  for (size_t i = 0; i < sizeof g_pool; i++) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g_pool[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> 56);
  }
}

static const unsigned char *payload(long i) {
  return g_pool + ((uint64_t)i * 4099u) % POOL_BYTES;
}

/* ---- statistics ---------------------------------------------------------- */

typedef struct stat_ {
  double rps, mbps, p50_ms, p99_ms; /* < 0: not measured */
  double cold_ms; /* latency runs: the worst of the warm-up, apart */
  int ok;
} stat_t;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *sorted, size_t n, double p) {
  size_t k = (size_t)ceil(p / 100.0 * (double)n);
  k = k ? k - 1 : 0;
  if (k >= n)
    k = n - 1;
  return (double)sorted[k] / 1e6;
}

static stat_t stat_of(long msgs, size_t size, uint64_t ns, uint64_t *lat,
                      size_t nlat) {
  stat_t s;
  double secs = (double)(ns ? ns : 1) / 1e9;
  s.rps = (double)msgs / secs;
  s.mbps = (double)msgs * (double)size / secs / 1e6;
  s.p50_ms = s.p99_ms = s.cold_ms = -1;
  if (lat && nlat) {
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    s.p50_ms = pct_ms(lat, nlat, 50);
    s.p99_ms = pct_ms(lat, nlat, 99);
  }
  s.ok = 1;
  return s;
}

/* The first `warm` of n latencies are the warm-up: a fresh topic's first
 * half second (files created, first pages touched) is reported as its
 * worst case beside, not mixed into, the steady-state percentiles. The
 * rate counts every message. */
static stat_t lat_stat(uint64_t *lat, long warm, long n, uint64_t span_ns) {
  stat_t s = stat_of(n, SMALL, span_ns, NULL, 0);
  stat_t m = stat_of(n - warm, SMALL, span_ns, lat + warm, (size_t)(n - warm));
  uint64_t mx = 0;
  for (long i = 0; i < warm; i++)
    if (lat[i] > mx)
      mx = lat[i];
  s.p50_ms = m.p50_ms;
  s.p99_ms = m.p99_ms;
  s.cold_ms = warm ? (double)mx / 1e6 : -1;
  return s;
}

static double median(double *v, int n) {
  if (n <= 0)
    return -1;
  qsort(v, (size_t)n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static stat_t median_stat(const stat_t *runs, int n) {
  stat_t m = {-1, -1, -1, -1, -1, 0};
  double v[64];
  int k = 0;
  for (int f = 0; f < 5; f++) {
    k = 0;
    for (int i = 0; i < n && k < 64; i++)
      if (runs[i].ok) {
        const double *src = &runs[i].rps;
        v[k++] = src[f];
      }
    if (k)
      (&m.rps)[f] = median(v, k);
  }
  m.ok = k > 0;
  return m;
}

/* ---- targets ------------------------------------------------------------- */

enum { T_NODATA, T_MOCK, T_REDIS, T_COUNT };
static const char *const tname[T_COUNT] = {"nodata", "mock", "redis"};

static struct {
  /* nodata */
  char bootstrap[64];
  int port;
  char data[PATH_MAX + 32];
  char out[PATH_MAX + 32], err[PATH_MAX + 32];
  rd_kafka_t *admin;
  /* redis */
  int redis_ok;
  char redis_why[256];
  int redis_port;
  char redis_bin[PATH_MAX];
  char redis_log[PATH_MAX + 32];
  /* mock: one cluster per workload, so stored messages never pile up */
  rd_kafka_t *mock_rk;
  rd_kafka_mock_cluster_t *mock;
  char mock_bootstrap[128];
} T;

/* Cases and their results, [case][target][run]. */
enum { W_P100, W_P1K, W_C100, W_C1K, W_L1, W_LALL, W_E1K, W_E10K, W_COUNT };
static const char *const wname[W_COUNT] = {"produce 100 B, acks=1",
                                           "produce 1 KiB, acks=1",
                                           "consume 100 B",
                                           "consume 1 KiB",
                                           "latency 100 B @10k/s, acks=1",
                                           "latency 100 B @10k/s, acks=all",
                                           "produce->consume 100 B @1k/s",
                                           "produce->consume 100 B @10k/s"};
#define MAX_RUNS 32
static stat_t res[W_COUNT][T_COUNT][MAX_RUNS];

/* ---- librdkafka helpers -------------------------------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  (void)rk;
  if (level <= 3)
    fprintf(stderr, "  rdkafka %s: %s\n", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
  (void)rk;
  (void)opaque;
  fprintf(stderr, "  rdkafka error %s: %s\n",
          rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static rd_kafka_conf_t *kconf(const char *bootstrap, ...) {
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  char err[256];
  va_list ap;
  const char *k, *v;
  if (bootstrap &&
      rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err))
    fail("rdkafka conf: %s", err);
  rd_kafka_conf_set_log_cb(c, log_cb);
  rd_kafka_conf_set_error_cb(c, error_cb);
  va_start(ap, bootstrap);
  while ((k = va_arg(ap, const char *)) != NULL) {
    v = va_arg(ap, const char *);
    if (rd_kafka_conf_set(c, k, v, err, sizeof err))
      fail("rdkafka conf %s=%s: %s", k, v, err);
  }
  va_end(ap);
  for (int i = 0; bootstrap && i < opt.n_client_cfg; i++) {
    char kv[256];
    snprintf(kv, sizeof kv, "%s", opt.client_cfg[i]);
    char *eq = strchr(kv, '=');
    if (!eq)
      fail("client config '%s' is not KEY=VALUE", kv);
    *eq = 0;
    if (rd_kafka_conf_set(c, kv, eq + 1, err, sizeof err))
      fail("rdkafka conf %s: %s", opt.client_cfg[i], err);
  }
  return c;
}

static rd_kafka_t *knew(rd_kafka_type_t type, rd_kafka_conf_t *c) {
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
  if (!rk)
    fail("rd_kafka_new: %s", err);
  return rk;
}

static const char *kbootstrap(int t) {
  return t == T_NODATA ? T.bootstrap : T.mock_bootstrap;
}

/* Admin result: first topic's error, or the request's. */
static void admin_wait(rd_kafka_queue_t *q, const char *what, const char *topic,
                       int tolerate_missing) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
  if (!ev)
    fail("%s %s: no answer in 20 s", what, topic);
  if (rd_kafka_event_error(ev))
    fail("%s %s: %s", what, topic, rd_kafka_event_error_string(ev));
  const rd_kafka_topic_result_t **tr = NULL;
  size_t n = 0;
  if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_CREATETOPICS_RESULT)
    tr = rd_kafka_CreateTopics_result_topics(
        rd_kafka_event_CreateTopics_result(ev), &n);
  else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DELETETOPICS_RESULT)
    tr = rd_kafka_DeleteTopics_result_topics(
        rd_kafka_event_DeleteTopics_result(ev), &n);
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
    if (e &&
        !(tolerate_missing && e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART))
      fail("%s %s: %s (%s)", what, topic, rd_kafka_err2name(e),
           rd_kafka_topic_result_error_string(tr[i])
               ? rd_kafka_topic_result_error_string(tr[i])
               : "");
  }
  rd_kafka_event_destroy(ev);
}

/* A topic of one partition; on nodata through CreateTopics with its
 * configs (the way a user would ask for fsync=always). */
static void topic_create(int t, const char *topic, int parts,
                         const char *fsync) {
  if (t == T_MOCK) {
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(T.mock, topic, parts, 1);
    if (e)
      fail("mock topic %s: %s", topic, rd_kafka_err2name(e));
    return;
  }
  char err[256];
  rd_kafka_NewTopic_t *nt =
      rd_kafka_NewTopic_new(topic, parts, 1, err, sizeof err);
  if (!nt)
    fail("NewTopic %s: %s", topic, err);
  if (fsync && rd_kafka_NewTopic_set_config(nt, "fsync", fsync))
    fail("NewTopic %s: fsync=%s refused", topic, fsync);
  for (int i = 0; i < opt.n_topic_cfg; i++) {
    char kv[256];
    snprintf(kv, sizeof kv, "%s", opt.topic_cfg[i]);
    char *eq = strchr(kv, '=');
    if (!eq)
      fail("topic config '%s' is not KEY=VALUE", kv);
    *eq = 0;
    if (rd_kafka_NewTopic_set_config(nt, kv, eq + 1))
      fail("NewTopic %s: %s refused", topic, opt.topic_cfg[i]);
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(T.admin);
  rd_kafka_CreateTopics(T.admin, &nt, 1, NULL, q);
  admin_wait(q, "CreateTopics", topic, 0);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
}

/* nodata keeps what it is given; deleting bounds the disk a full run uses. */
static void topic_delete(int t, const char *topic) {
  if (t != T_NODATA)
    return;
  rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
  rd_kafka_queue_t *q = rd_kafka_queue_new(T.admin);
  rd_kafka_DeleteTopics(T.admin, &dt, 1, NULL, q);
  admin_wait(q, "DeleteTopics", topic, 1);
  rd_kafka_queue_destroy(q);
  rd_kafka_DeleteTopic_destroy(dt);
}

static void mock_up(void) {
  rd_kafka_conf_t *c = kconf(NULL, (char *)NULL);
  T.mock_rk = knew(RD_KAFKA_PRODUCER, c);
  T.mock = rd_kafka_mock_cluster_new(T.mock_rk, 1);
  if (!T.mock)
    fail("rd_kafka_mock_cluster_new failed");
  snprintf(T.mock_bootstrap, sizeof T.mock_bootstrap, "%s",
           rd_kafka_mock_cluster_bootstraps(T.mock));
}

static void mock_down(void) {
  if (T.mock)
    rd_kafka_mock_cluster_destroy(T.mock);
  if (T.mock_rk)
    rd_kafka_destroy(T.mock_rk);
  T.mock = NULL;
  T.mock_rk = NULL;
}

/* ---- librdkafka workloads ------------------------------------------------ */

typedef struct dr_state {
  atomic_long done, errors;
  atomic_int first_err;
  uint64_t *lat;    /* latency runs: per message, from its scheduled time */
  uint64_t t0, gap; /* schedule: message i is due at t0 + i * gap */
} dr_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  dr_state *s = opaque;
  if (m->err) {
    if (atomic_fetch_add(&s->errors, 1) == 0)
      atomic_store(&s->first_err, (int)m->err);
  } else if (s->lat) {
    uint64_t i = (uint64_t)(uintptr_t)m->_private;
    s->lat[i] = now_ns() - (s->t0 + i * s->gap);
  }
  atomic_fetch_add(&s->done, 1);
}

static void produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t part,
                        long i, size_t size, void *opaque) {
  /* Flag 0 (no copy, no free): the pool outlives every message, and
   * copying is the client's business, the same for every target. */
  while (rd_kafka_produce(rkt, part, 0, (void *)payload(i), size, NULL, 0,
                          opaque) == -1) {
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      fail("produce: %s", rd_kafka_err2str(e));
    rd_kafka_poll(rk, 1);
  }
}

static void flush_or_fail(rd_kafka_t *rk, dr_state *s, long want,
                          const char *what) {
  if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    fail("%s: not delivered within 60 s (%ld of %ld)", what,
         (long)atomic_load(&s->done), want);
  if (atomic_load(&s->errors))
    fail("%s: %ld delivery errors, first %s", what,
         (long)atomic_load(&s->errors),
         rd_kafka_err2name((rd_kafka_resp_err_t)atomic_load(&s->first_err)));
}

/* n messages of `size` bytes as fast as the client takes them, acks=1,
 * librdkafka's defaults otherwise (linger.ms=5, batches up to 1 MB, no
 * idempotence, no compression). Timed from the first produce call to the
 * last delivery report. One untimed message first opens the connections
 * and learns the metadata, so it is in the topic too. */
static stat_t kafka_produce(int t, const char *topic, int parts, size_t size,
                            long n) {
  dr_state s = {0};
  rd_kafka_conf_t *c = kconf(kbootstrap(t), "acks", opt.acks, (char *)NULL);
  rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  rd_kafka_conf_set_opaque(c, &s);
  rd_kafka_t *rk = knew(RD_KAFKA_PRODUCER, c);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  produce_one(rk, rkt, 0, 0, size, NULL);
  flush_or_fail(rk, &s, 1, "warm-up produce");
  atomic_store(&s.done, 0);
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) {
    produce_one(rk, rkt, (int32_t)(i % parts), i + 1, size, NULL);
    if ((i & 1023) == 0)
      rd_kafka_poll(rk, 0);
  }
  flush_or_fail(rk, &s, n, "produce");
  uint64_t t1 = now_ns();
  if (atomic_load(&s.done) != n)
    fail("produce: %ld delivery reports for %ld messages",
         (long)atomic_load(&s.done), n);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return stat_of(n, size, t1 - t0, NULL, 0);
}

typedef struct consume_state {
  long count, errors, bad_size;
  size_t size;
  rd_kafka_resp_err_t first_err;
} consume_state;

static void consume_cb(rd_kafka_message_t *m, void *opaque) {
  consume_state *s = opaque;
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      return;
    if (!s->errors++)
      s->first_err = m->err;
    return;
  }
  if (m->len != s->size)
    s->bad_size++;
  s->count++;
}

/* Read `want` messages from offset 0 of every partition of a fresh topic
 * with librdkafka's fetch defaults (fetch.max.bytes 50 MB, 1 MB per
 * partition, prefetching up to queued.min.messages), all partitions into
 * one queue. The simple consumer API needs no group; the metadata is
 * learned before the clock starts. Offset 0 rather than "beginning":
 * librdkafka has one Fetch in flight per broker, and a partition still
 * waiting for its ListOffsets answer would miss the first Fetch and wait
 * out the next one's long poll (fetch.wait.max.ms, 500 ms) at the end of
 * the others. */
static stat_t kafka_consume(int t, const char *topic, int parts, size_t size,
                            long want) {
  consume_state s = {0};
  s.size = size;
  rd_kafka_conf_t *c = kconf(kbootstrap(t), (char *)NULL);
  rd_kafka_t *rk = knew(RD_KAFKA_CONSUMER, c);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  if (e)
    fail("consume %s: metadata: %s", topic, rd_kafka_err2name(e));
  rd_kafka_metadata_destroy(md);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  uint64_t t0 = now_ns(), deadline = t0 + 120000000000ull;
  for (int p = 0; p < parts; p++)
    if (rd_kafka_consume_start_queue(rkt, p, 0, q) == -1)
      fail("consume_start %s: %s", topic,
           rd_kafka_err2str(rd_kafka_last_error()));
  while (s.count < want && !s.errors) {
    rd_kafka_consume_callback_queue(q, 100, consume_cb, &s);
    if (now_ns() > deadline)
      fail("consume %s: %ld of %ld messages in 120 s", topic, s.count, want);
  }
  uint64_t t1 = now_ns();
  if (s.errors)
    fail("consume %s: %s", topic, rd_kafka_err2name(s.first_err));
  if (s.bad_size)
    fail("consume %s: %ld messages of the wrong size", topic, s.bad_size);
  for (int p = 0; p < parts; p++)
    rd_kafka_consume_stop(rkt, p);
  rd_kafka_queue_destroy(q);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return stat_of(s.count, size, t1 - t0, NULL, 0);
}

typedef struct poller {
  rd_kafka_t *rk;
  atomic_int stop;
} poller;

/* Serves delivery reports while the main thread sleeps to its schedule;
 * rd_kafka_poll wakes at once when a report is queued, so latencies are
 * not rounded up to a polling period. */
static void *poll_thread(void *arg) {
  poller *p = arg;
  while (!atomic_load(&p->stop))
    rd_kafka_poll(p->rk, 50);
  return NULL;
}

static void sleep_until(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* Produce n messages of 100 B to partition 0 on a schedule: message i
 * (payload i + 1) is due at t0 + i * gap, and carries i as its opaque
 * when `index` is set (dr_cb's latency). A thread serves the delivery
 * reports meanwhile. Returns when all are delivered, with the time the
 * last was. */
static uint64_t produce_scheduled(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                                  dr_state *s, long n, uint64_t t0,
                                  uint64_t gap, int index, const char *what) {
  poller p = {rk, 0};
  pthread_t th;
  if (pthread_create(&th, NULL, poll_thread, &p))
    fail("pthread_create");
  for (long i = 0; i < n; i++) {
    sleep_until(t0 + (uint64_t)i * gap);
    produce_one(rk, rkt, 0, i + 1, SMALL, index ? (void *)(uintptr_t)i : NULL);
  }
  flush_or_fail(rk, s, n, what);
  uint64_t t1 = now_ns();
  atomic_store(&p.stop, 1);
  pthread_join(th, NULL);
  return t1;
}

/* Open loop at opt.lat_rate msgs/s of 100 bytes for opt.lat_secs: each
 * message's latency runs from the time it was due (not when it was
 * sent), so a stalled client or broker cannot hide its backlog.
 * linger.ms=0 and Nagle off: the client adds no wait of its own. */
static stat_t kafka_latency(int t, const char *topic, const char *acks) {
  long warm = (long)(opt.lat_rate * opt.lat_warm);
  long n = warm + (long)(opt.lat_rate * opt.lat_secs);
  dr_state s = {0};
  rd_kafka_conf_t *c = kconf(kbootstrap(t), "acks", acks, "linger.ms", "0",
                             "socket.nagle.disable", "true", (char *)NULL);
  rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  rd_kafka_conf_set_opaque(c, &s);
  rd_kafka_t *rk = knew(RD_KAFKA_PRODUCER, c);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  produce_one(rk, rkt, 0, 0, SMALL, NULL);
  flush_or_fail(rk, &s, 1, "warm-up produce");
  atomic_store(&s.done, 0);
  s.lat = calloc((size_t)n, sizeof *s.lat);
  if (!s.lat)
    fail("out of memory");
  s.gap = (uint64_t)(1e9 / opt.lat_rate);
  s.t0 = now_ns() + 1000000;
  uint64_t t1 =
      produce_scheduled(rk, rkt, &s, n, s.t0, s.gap, 1, "latency produce");
  if (atomic_load(&s.done) != n)
    fail("latency: %ld delivery reports for %ld messages",
         (long)atomic_load(&s.done), n);
  stat_t r = lat_stat(s.lat, warm, n, t1 - s.t0);
  free(s.lat);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return r;
}

/* The consuming side of kafka_e2e: offsets from 1 on are the scheduled
 * messages (offset 0 is the warm-up one), so a message's due time is known
 * from its offset alone. */
typedef struct e2e_state {
  rd_kafka_queue_t *q;
  uint64_t *lat;
  uint64_t t0, gap;
  long n, got, errors;
  int first_seen; /* offset 0 arrived: the consumer is caught up */
  atomic_int started, stop;
  rd_kafka_resp_err_t first_err;
} e2e_state;

static void e2e_cb(rd_kafka_message_t *m, void *opaque) {
  e2e_state *s = opaque;
  uint64_t now = now_ns();
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && !s->errors++)
      s->first_err = m->err;
    return;
  }
  if (m->offset == 0) {
    atomic_store(&s->started, 1);
    return;
  }
  if (m->offset > s->n || !atomic_load(&s->started))
    return;
  long i = (long)m->offset - 1;
  s->lat[i] = now - (s->t0 + (uint64_t)i * s->gap);
  s->got++;
}

static void *e2e_consume(void *arg) {
  e2e_state *s = arg;
  while (!atomic_load(&s->stop) && s->got < s->n && !s->errors)
    rd_kafka_consume_callback_queue(s->q, 50, e2e_cb, s);
  return NULL;
}

/* Produce -> consume at `rate` msgs/s of 100 B, open loop as in
 * kafka_latency (acks=1, linger.ms=0), while a consumer reads the
 * partition with librdkafka's fetch defaults: fetch.wait.max.ms 500,
 * fetch.min.bytes 1, so a broker that only answers a waiting Fetch at the
 * end of its wait shows up here. Latency: the time the consumer is handed
 * a message minus the time it was due to be produced. The consumer reads
 * a first message before the clock starts, so it is caught up and polling
 * when the schedule begins. */
static stat_t kafka_e2e(int t, const char *topic, double rate) {
  long warm = (long)(rate * opt.lat_warm);
  long n = warm + (long)(rate * opt.lat_secs);
  e2e_state es = {0};
  es.n = n;
  es.lat = calloc((size_t)n, sizeof *es.lat);
  if (!es.lat)
    fail("out of memory");
  es.gap = (uint64_t)(1e9 / rate);
  rd_kafka_conf_t *cc =
      kconf(kbootstrap(t), "socket.nagle.disable", "true", (char *)NULL);
  rd_kafka_t *crk = knew(RD_KAFKA_CONSUMER, cc);
  rd_kafka_topic_t *crkt = rd_kafka_topic_new(crk, topic, NULL);
  es.q = rd_kafka_queue_new(crk);
  if (rd_kafka_consume_start_queue(crkt, 0, 0, es.q) == -1)
    fail("consume_start %s: %s", topic,
         rd_kafka_err2str(rd_kafka_last_error()));

  dr_state s = {0};
  rd_kafka_conf_t *c = kconf(kbootstrap(t), "acks", opt.acks, "linger.ms", "0",
                             "socket.nagle.disable", "true", (char *)NULL);
  rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  rd_kafka_conf_set_opaque(c, &s);
  rd_kafka_t *rk = knew(RD_KAFKA_PRODUCER, c);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  pthread_t cth;
  if (pthread_create(&cth, NULL, e2e_consume, &es))
    fail("pthread_create");
  produce_one(rk, rkt, 0, 0, SMALL, NULL);
  flush_or_fail(rk, &s, 1, "e2e warm-up produce");
  for (int i = 0; i < 3000 && !atomic_load(&es.started); i++)
    sleep_ms(10);
  if (!atomic_load(&es.started))
    fail("e2e %s: the consumer did not get the first message in 30 s", topic);
  /* The consumer's next Fetch is now waiting on the broker. */
  sleep_ms(100);
  es.t0 = now_ns() + 1000000;
  produce_scheduled(rk, rkt, &s, n, es.t0, es.gap, 0, "e2e produce");
  uint64_t deadline = now_ns() + 30000000000ull;
  while (now_ns() < deadline && es.got < n && !es.errors)
    sleep_ms(10);
  uint64_t t1 = now_ns();
  atomic_store(&es.stop, 1);
  pthread_join(cth, NULL);
  if (es.errors)
    fail("e2e %s: consume: %s", topic, rd_kafka_err2name(es.first_err));
  if (es.got != n)
    fail("e2e %s: %ld of %ld messages consumed in 30 s", topic, es.got, n);
  stat_t r = lat_stat(es.lat, warm, n, t1 - es.t0);
  free(es.lat);
  rd_kafka_consume_stop(crkt, 0);
  rd_kafka_queue_destroy(es.q);
  rd_kafka_topic_destroy(crkt);
  rd_kafka_destroy(crk);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return r;
}

/* ---- children: nodata serve and redis-server ----------------------------- */

static pid_t spawn(char *const argv[], const char *out, const char *err) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    fail("fork: %s", strerror(errno));
  if (pid == 0) {
    /* Die with the benchmark, whatever kills it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || o < 0 || e < 0)
      _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

static void file_text(const char *path, char *buf, size_t cap) {
  buf[0] = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = 0;
  fclose(f);
}

/* SIGTERM, up to 15 s for a clean stop, then SIGKILL. Returns the exit
 * status (or 128 + signal). */
static int stop_child(volatile pid_t *pidp, const char *what) {
  pid_t pid = *pidp;
  int st = 0;
  if (pid <= 0)
    return 0;
  kill(pid, SIGTERM);
  uint64_t deadline = now_ns() + 15000000000ull;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      break;
    if (r < 0) {
      st = 0;
      break;
    }
    if (now_ns() > deadline) {
      fprintf(stderr, PROG ": %s ignored SIGTERM for 15 s; killed\n", what);
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    sleep_ms(10);
  }
  *pidp = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void nodata_start(void) {
  snprintf(T.data, sizeof T.data, "%s/nodata-data", g_root);
  snprintf(T.out, sizeof T.out, "%s/nodata.out", g_root);
  snprintf(T.err, sizeof T.err, "%s/nodata.err", g_root);
  char *argv[] = {(char *)opt.nodata, "serve", "--listen", "127.0.0.1:0",
                  "--data",           T.data,  NULL};
  g_nodata_pid = spawn(argv, T.out, T.err);
  uint64_t deadline = now_ns() + 15000000000ull;
  char buf[4096];
  for (;;) {
    file_text(T.out, buf, sizeof buf);
    const char *p = strstr(buf, "listening on ");
    const char *colon = p ? strchr(p + 13, ':') : NULL;
    if (colon && strchr(colon, '\n')) {
      T.port = atoi(colon + 1);
      break;
    }
    int st;
    if (waitpid(g_nodata_pid, &st, WNOHANG) == g_nodata_pid) {
      g_nodata_pid = 0;
      file_text(T.err, buf, sizeof buf);
      fail("nodata serve exited before its start-up line:\n%s", buf);
    }
    if (now_ns() > deadline) {
      file_text(T.err, buf, sizeof buf);
      fail("nodata serve printed no start-up line in 15 s:\n%s", buf);
    }
    sleep_ms(20);
  }
  snprintf(T.bootstrap, sizeof T.bootstrap, "127.0.0.1:%d", T.port);
  rd_kafka_conf_t *c = kconf(T.bootstrap, (char *)NULL);
  T.admin = knew(RD_KAFKA_PRODUCER, c);
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
      getsockname(fd, (struct sockaddr *)&a, &len))
    fail("free port: %s", strerror(errno));
  close(fd);
  return ntohs(a.sin_port);
}

static int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int find_in_path(const char *name, char *out, size_t cap) {
  const char *path = getenv("PATH");
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/sbin:/usr/local/bin",
           path ? path : "");
  for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
       d = strtok_r(NULL, ":", &save)) {
    snprintf(out, cap, "%s/%s", d, name);
    if (access(out, X_OK) == 0)
      return 0;
  }
  return -1;
}

/* ---- RESP ---------------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t off, len, cap;
} buf;

static void buf_reserve(buf *b, size_t more) {
  if (b->off && b->off == b->len)
    b->off = b->len = 0;
  if (b->len + more <= b->cap)
    return;
  if (b->off) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + more <= b->cap)
      return;
  }
  size_t cap = b->cap ? b->cap : 65536;
  while (cap < b->len + more)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p)
    fail("out of memory");
  b->p = p;
  b->cap = cap;
}

static void buf_add(buf *b, const void *p, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void buf_fmt(buf *b, const char *fmt, ...) {
  va_list ap;
  buf_reserve(b, 128);
  va_start(ap, fmt);
  int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void resp_arg(buf *b, const void *p, size_t n) {
  buf_fmt(b, "$%zu\r\n", n);
  buf_add(b, p, n);
  buf_add(b, "\r\n", 2);
}

static void resp_cmd(buf *b, int argc, const char *const *argv) {
  buf_fmt(b, "*%d\r\n", argc);
  for (int i = 0; i < argc; i++)
    resp_arg(b, argv[i], strlen(argv[i]));
}

/* Explicit ids 0-1, 0-2, … (instead of *) so a reader knows every id
 * range and can pipeline its XRANGEs the way a Kafka consumer prefetches. */
static void resp_xadd(buf *b, const char *key, long i, size_t size) {
  char id[32];
  int n = snprintf(id, sizeof id, "0-%ld", i + 1);
  buf_add(b, "*5\r\n$4\r\nXADD\r\n", 14);
  resp_arg(b, key, strlen(key));
  resp_arg(b, id, (size_t)n);
  buf_add(b, "$1\r\nv\r\n", 7);
  resp_arg(b, payload(i), size);
}

/* Bytes of one complete reply at p, 0 if more is needed, -1 if garbled. */
static long resp_len(const char *p, size_t n, int depth) {
  if (n < 3)
    return 0;
  const char *nl = memchr(p, '\n', n);
  if (!nl)
    return 0;
  long line = nl - p + 1, v;
  if (depth > 8)
    return -1;
  switch (p[0]) {
  case '+':
  case '-':
  case ':':
    return line;
  case '$':
    v = atol(p + 1);
    if (v < 0)
      return line;
    return (size_t)(line + v + 2) <= n ? line + v + 2 : 0;
  case '*':
    v = atol(p + 1);
    for (long i = 0, off = line; i < v; i++) {
      long r = resp_len(p + off, n - (size_t)off, depth + 1);
      if (r <= 0)
        return r;
      off += r;
      line = off;
    }
    return line;
  default:
    return -1;
  }
}

static int redis_io(int fd, buf *out, buf *in, int timeout_ms) {
  struct pollfd pf = {fd, POLLIN, 0};
  if (out->len > out->off)
    pf.events |= POLLOUT;
  int r = poll(&pf, 1, timeout_ms);
  if (r < 0 && errno == EINTR)
    return 0;
  if (r <= 0)
    return -1;
  if (pf.revents & POLLOUT) {
    ssize_t w = write(fd, out->p + out->off, out->len - out->off);
    if (w < 0 && errno != EAGAIN)
      return -1;
    if (w > 0)
      out->off += (size_t)w;
  }
  if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
    buf_reserve(in, 1 << 18);
    ssize_t rd = read(fd, in->p + in->len, in->cap - in->len);
    if (rd == 0 || (rd < 0 && errno != EAGAIN))
      return -1;
    if (rd > 0)
      in->len += (size_t)rd;
  }
  return 0;
}

/* Next complete reply: its length (and array count), 0 if none yet. An
 * error reply fails the run with Redis's text. */
static long redis_next(buf *in, long *count, const char *what) {
  if (!in->p) /* nothing received yet (no buffer: no pointer arithmetic) */
    return 0;
  const char *p = in->p + in->off;
  size_t n = in->len - in->off;
  long r = resp_len(p, n, 0);
  if (r < 0)
    fail("%s: garbled reply from redis", what);
  if (r == 0)
    return 0;
  if (p[0] == '-')
    fail("%s: redis: %.*s", what, (int)(r - 2), p);
  if (count)
    *count = p[0] == '*' ? atol(p + 1) : 0;
  in->off += (size_t)r;
  return r;
}

static int redis_conn(void) {
  int fd = tcp_connect(T.redis_port);
  if (fd < 0)
    fail("connect to redis: %s", strerror(errno));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/* One command, one reply (setup only, never timed). */
static void redis_simple(int argc, const char *const *argv) {
  int fd = redis_conn();
  buf out = {0}, in = {0};
  resp_cmd(&out, argc, argv);
  while (!redis_next(&in, NULL, argv[0]))
    if (redis_io(fd, &out, &in, 10000))
      fail("redis %s: no answer", argv[0]);
  close(fd);
  free(out.p);
  free(in.p);
}

static void redis_fsync(const char *mode) {
  const char *a[] = {"CONFIG", "SET", "appendfsync", mode};
  redis_simple(4, a);
}

static void redis_del(const char *key) {
  const char *a[] = {"DEL", key};
  redis_simple(2, a);
}

static void redis_start(void) {
  if (opt.redis)
    snprintf(T.redis_bin, sizeof T.redis_bin, "%s", opt.redis);
  else if (find_in_path("redis-server", T.redis_bin, sizeof T.redis_bin)) {
    snprintf(T.redis_why, sizeof T.redis_why,
             "redis-server not found (scripts/install-deps.sh installs it)");
    return;
  }
  if (access(T.redis_bin, X_OK)) {
    snprintf(T.redis_why, sizeof T.redis_why, "%s: %s", T.redis_bin,
             strerror(errno));
    return;
  }
  char dir[PATH_MAX + 32], port[16];
  snprintf(dir, sizeof dir, "%s/redis", g_root);
  if (mkdir(dir, 0700))
    fail("mkdir %s: %s", dir, strerror(errno));
  snprintf(T.redis_log, sizeof T.redis_log, "%s/redis.log", g_root);
  T.redis_port = free_port();
  snprintf(port, sizeof port, "%d", T.redis_port);
  /* No RDB snapshots and no automatic AOF rewrite: either would fork in
   * the middle of a run on a 2-core machine. */
  char *argv[] = {T.redis_bin, "--port",
                  port,        "--bind",
                  "127.0.0.1", "--dir",
                  dir,         "--appendonly",
                  "yes",       "--appendfsync",
                  "everysec",  "--save",
                  "",          "--auto-aof-rewrite-percentage",
                  "0",         "--daemonize",
                  "no",        NULL};
  g_redis_pid = spawn(argv, T.redis_log, T.redis_log);
  uint64_t deadline = now_ns() + 10000000000ull;
  for (;;) {
    int fd = tcp_connect(T.redis_port);
    if (fd >= 0) {
      close(fd);
      break;
    }
    int st;
    char log[4096];
    if (waitpid(g_redis_pid, &st, WNOHANG) == g_redis_pid) {
      g_redis_pid = 0;
      file_text(T.redis_log, log, sizeof log);
      fail("redis-server exited at start:\n%s", log);
    }
    if (now_ns() > deadline)
      fail("redis-server not listening after 10 s");
    sleep_ms(20);
  }
  const char *ping[] = {"PING"};
  redis_simple(1, ping);
  T.redis_ok = 1;
}

/* XADD of n messages, pipelined up to 4,096 commands in flight (like the
 * Kafka client, which keeps many requests in flight); timed from the first
 * write to the last reply. */
static stat_t redis_produce(const char *key, size_t size, long n) {
  int fd = redis_conn();
  buf out = {0}, in = {0};
  long next = 0, acked = 0;
  uint64_t t0 = now_ns();
  while (acked < n) {
    while (next < n && next - acked < 4096 && out.len - out.off < (1u << 20))
      resp_xadd(&out, key, next++, size);
    if (redis_io(fd, &out, &in, 30000))
      fail("redis XADD: connection lost or 30 s without progress");
    while (redis_next(&in, NULL, "XADD"))
      acked++;
  }
  uint64_t t1 = now_ns();
  close(fd);
  free(out.p);
  free(in.p);
  return stat_of(n, size, t1 - t0, NULL, 0);
}

/* XRANGE over the known ids, 1,000 entries per call, 4 calls in flight. */
static stat_t redis_consume(const char *key, size_t size, long n) {
  const long per = 1000;
  int fd = redis_conn();
  buf out = {0}, in = {0};
  long next = 0, got = 0, inflight = 0;
  uint64_t t0 = now_ns();
  while (got < n) {
    while (next < n && inflight < 4) {
      char a[32], b[32];
      long hi = next + per < n ? next + per : n;
      snprintf(a, sizeof a, "0-%ld", next + 1);
      snprintf(b, sizeof b, "0-%ld", hi);
      const char *argv[] = {"XRANGE", key, a, b};
      resp_cmd(&out, 4, argv);
      next = hi;
      inflight++;
    }
    if (redis_io(fd, &out, &in, 30000))
      fail("redis XRANGE: connection lost or 30 s without progress");
    long cnt;
    while (redis_next(&in, &cnt, "XRANGE")) {
      got += cnt;
      inflight--;
    }
    if (inflight == 0 && next >= n && got < n)
      fail("redis XRANGE: %ld of %ld entries", got, n);
  }
  uint64_t t1 = now_ns();
  close(fd);
  free(out.p);
  free(in.p);
  return stat_of(got, size, t1 - t0, NULL, 0);
}

/* XADD at the offered rate, one command per message when due; replies
 * are read as they come (ppoll sleeps to the next due time), and each
 * latency runs from the time its command was due. */
static stat_t redis_latency(const char *key) {
  long warm = (long)(opt.lat_rate * opt.lat_warm);
  long n = warm + (long)(opt.lat_rate * opt.lat_secs);
  uint64_t *lat = calloc((size_t)n, sizeof *lat);
  if (!lat)
    fail("out of memory");
  int fd = redis_conn();
  buf out = {0}, in = {0};
  uint64_t gap = (uint64_t)(1e9 / opt.lat_rate);
  uint64_t t0 = now_ns() + 1000000, last = t0;
  long next = 0, acked = 0;
  while (acked < n) {
    uint64_t now = now_ns();
    while (next < n && t0 + (uint64_t)next * gap <= now)
      resp_xadd(&out, key, next++, SMALL);
    if (out.len > out.off) {
      ssize_t w = write(fd, out.p + out.off, out.len - out.off);
      if (w < 0 && errno != EAGAIN)
        fail("redis latency: write: %s", strerror(errno));
      if (w > 0)
        out.off += (size_t)w;
    }
    uint64_t due = next < n ? t0 + (uint64_t)next * gap : now + 100000000;
    struct pollfd pf = {fd, POLLIN, 0};
    if (out.len > out.off)
      pf.events |= POLLOUT;
    struct timespec ts = {0, 0};
    if (due > now) {
      ts.tv_sec = (time_t)((due - now) / 1000000000u);
      ts.tv_nsec = (long)((due - now) % 1000000000u);
    }
    if (ppoll(&pf, 1, &ts, NULL) < 0 && errno != EINTR)
      fail("redis latency: poll: %s", strerror(errno));
    if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
      buf_reserve(&in, 1 << 16);
      ssize_t rd = read(fd, in.p + in.len, in.cap - in.len);
      if (rd == 0 || (rd < 0 && errno != EAGAIN))
        fail("redis latency: connection lost");
      if (rd > 0)
        in.len += (size_t)rd;
      uint64_t at = now_ns();
      while (redis_next(&in, NULL, "XADD")) {
        lat[acked] = at - (t0 + (uint64_t)acked * gap);
        acked++;
        last = at;
      }
    }
    if (now_ns() > t0 + (uint64_t)n * gap + 30000000000ull)
      fail("redis latency: %ld of %ld replies 30 s after the last send", acked,
           n);
  }
  stat_t r = lat_stat(lat, warm, n, last - t0);
  close(fd);
  free(out.p);
  free(in.p);
  free(lat);
  return r;
}

/* ---- idle connections and memory ----------------------------------------- */

static long status_kib(pid_t pid, const char *field) {
  char path[64], line[256];
  long kib = -1;
  size_t flen = strlen(field);
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, flen) == 0 && line[flen] == ':')
      kib = atol(line + flen + 1);
  fclose(f);
  return kib;
}

static int read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 10000) <= 0)
      return -1;
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}

/* ApiVersions v0 (request header v1), the first thing every Kafka client
 * sends; the connection then stays open and idle. */
static int kafka_hello(int fd, int32_t corr) {
  unsigned char req[4 + 2 + 2 + 4 + 2 + 5] = {0};
  uint32_t size = sizeof req - 4;
  req[0] = (unsigned char)(size >> 24);
  req[1] = (unsigned char)(size >> 16);
  req[2] = (unsigned char)(size >> 8);
  req[3] = (unsigned char)size;
  req[5] = 18; /* api key ApiVersions, version 0 */
  req[8] = (unsigned char)(corr >> 24);
  req[9] = (unsigned char)(corr >> 16);
  req[10] = (unsigned char)(corr >> 8);
  req[11] = (unsigned char)corr;
  req[13] = 5;
  memcpy(req + 14, "bench", 5);
  if (write(fd, req, sizeof req) != (ssize_t)sizeof req)
    return -1;
  unsigned char hdr[10];
  if (read_full(fd, hdr, 4))
    return -1;
  uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                 (uint32_t)hdr[2] << 8 | hdr[3];
  if (len < 6 || len > (1u << 20))
    return -1;
  unsigned char *body = malloc(len);
  if (!body || read_full(fd, body, len)) {
    free(body);
    return -1;
  }
  int32_t got = (int32_t)((uint32_t)body[0] << 24 | (uint32_t)body[1] << 16 |
                          (uint32_t)body[2] << 8 | body[3]);
  int ok = got == corr && body[4] == 0 && body[5] == 0;
  free(body);
  return ok ? 0 : -1;
}

static int redis_hello(int fd) {
  static const char ping[] = "*1\r\n$4\r\nPING\r\n";
  char rep[7];
  if (write(fd, ping, sizeof ping - 1) != (ssize_t)sizeof ping - 1)
    return -1;
  if (read_full(fd, rep, 7) || memcmp(rep, "+PONG\r\n", 7))
    return -1;
  return 0;
}

static long vmrss_kib(pid_t pid) {
  return status_kib(pid, "VmRSS");
}

typedef struct rss_fig {
  long before_kib, after_kib;
  long anon_kib, file_kib; /* of after: heap and stacks vs mapped files */
  int conns;
  int ok;
} rss_fig;

static rss_fig idle_conns(int port, pid_t pid, int redis) {
  rss_fig r = {vmrss_kib(pid), -1, -1, -1, 0, 0};
  int *fds = calloc((size_t)opt.idle_conns, sizeof *fds);
  if (!fds)
    fail("out of memory");
  for (int i = 0; i < opt.idle_conns; i++) {
    int fd = tcp_connect(port);
    if (fd < 0)
      fail("idle connection %d: connect: %s", i + 1, strerror(errno));
    if (redis ? redis_hello(fd) : kafka_hello(fd, i + 1))
      fail("idle connection %d: no %s answer", i + 1,
           redis ? "PING" : "ApiVersions");
    fds[r.conns++] = fd;
  }
  /* Let the broker settle whatever it does lazily after accepting. */
  sleep_ms(200);
  r.after_kib = vmrss_kib(pid);
  r.anon_kib = status_kib(pid, "RssAnon");
  r.file_kib = status_kib(pid, "RssFile") + status_kib(pid, "RssShmem");
  for (int i = 0; i < r.conns; i++)
    close(fds[i]);
  free(fds);
  r.ok = r.before_kib > 0 && r.after_kib > 0;
  return r;
}

/* ---- the run ------------------------------------------------------------- */

static void stop_all(void) {
  if (T.admin) {
    rd_kafka_destroy(T.admin);
    T.admin = NULL;
  }
  mock_down();
  if (g_nodata_pid > 0) {
    int st = stop_child(&g_nodata_pid, "nodata serve");
    if (st)
      fprintf(stderr, PROG ": nodata serve exited with status %d\n", st);
  }
  if (g_redis_pid > 0)
    stop_child(&g_redis_pid, "redis-server");
  rm_rf_async_safe();
  g_root[0] = 0;
}

static void note_run(int w, int t, int run, const stat_t *s) {
  if (s->p99_ms >= 0)
    printf("  run %d  %-30s %-6s %10.0f msgs/s  p50 %7.3f ms  p99 %7.3f ms"
           "  (warm-up max %.1f ms)\n",
           run + 1, wname[w], tname[t], s->rps, s->p50_ms, s->p99_ms,
           s->cold_ms);
  else
    printf("  run %d  %-30s %-6s %10.0f msgs/s  %8.1f MB/s\n", run + 1,
           wname[w], tname[t], s->rps, s->mbps);
  fflush(stdout);
}

static void run_throughput(int run, int big) {
  size_t size = big ? LARGE : SMALL;
  long n = big ? opt.n_large : opt.n_small;
  long cn = (big ? opt.c_large : opt.c_small) * opt.cparts;
  int wp = big ? W_P1K : W_P100, wc = big ? W_C1K : W_C100;
  for (int k = 0; k < T_COUNT; k++) {
    int t = (k + run) % T_COUNT; /* rotate: no target always goes first */
    char ptopic[64], ctopic[64];
    stat_t s;
    snprintf(ptopic, sizeof ptopic, "bp-%zu-r%d", size, run);
    snprintf(ctopic, sizeof ctopic, "bc-%zu-r%d", size, run);
    if (t == T_REDIS) {
      if (!T.redis_ok)
        continue;
      if (opt.cases & CASE_PRODUCE) {
        s = res[wp][t][run] = redis_produce(ptopic, size, n);
        note_run(wp, t, run, &s);
        redis_del(ptopic);
      }
      if (opt.cases & CASE_CONSUME) {
        redis_produce(ctopic, size, cn);
        s = res[wc][t][run] = redis_consume(ctopic, size, cn);
        note_run(wc, t, run, &s);
        redis_del(ctopic);
      }
      continue;
    }
    if (t == T_MOCK)
      mock_up();
    if (opt.cases & CASE_PRODUCE) {
      topic_create(t, ptopic, 1, NULL);
      s = res[wp][t][run] = kafka_produce(t, ptopic, 1, size, n);
      note_run(wp, t, run, &s);
      topic_delete(t, ptopic);
    }
    if (opt.cases & CASE_CONSUME) {
      topic_create(t, ctopic, opt.cparts, NULL);
      kafka_produce(t, ctopic, opt.cparts, size, cn);
      /* + 1: the producer's warm-up message */
      s = res[wc][t][run] = kafka_consume(t, ctopic, opt.cparts, size, cn + 1);
      note_run(wc, t, run, &s);
      topic_delete(t, ctopic);
    }
    if (t == T_MOCK)
      mock_down();
  }
}

static void run_latency(int run, int all) {
  int w = all ? W_LALL : W_L1;
  for (int k = 0; k < T_COUNT; k++) {
    int t = (k + run) % T_COUNT;
    char topic[64];
    snprintf(topic, sizeof topic, "bl-%s-r%d", all ? "all" : "1", run);
    stat_t s;
    if (t == T_REDIS) {
      if (!T.redis_ok)
        continue;
      /* appendfsync always: Redis's answer waits for the fsync, as
       * acks=all on an fsync=always topic does. */
      redis_fsync(all ? "always" : "everysec");
      s = redis_latency(topic);
      redis_fsync("everysec");
      redis_del(topic);
    } else {
      if (t == T_MOCK)
        mock_up();
      topic_create(t, topic, 1, all ? "always" : NULL);
      s = kafka_latency(t, topic, all ? "all" : "1");
      topic_delete(t, topic);
      if (t == T_MOCK)
        mock_down();
    }
    res[w][t][run] = s;
    note_run(w, t, run, &s);
  }
}

/* Produce -> consume at 1 k and 10 k msgs/s, nodata and the mock cluster
 * (Redis has no Kafka consumer to compare with). */
static void run_e2e(int run) {
  static const double rates[] = {1000, 10000};
  for (int r = 0; r < 2; r++) {
    int w = r ? W_E10K : W_E1K;
    for (int k = 0; k < 2; k++) {
      int t = (k + run) % 2 ? T_MOCK : T_NODATA;
      char topic[64];
      snprintf(topic, sizeof topic, "be-%d-r%d", (int)rates[r], run);
      if (t == T_MOCK)
        mock_up();
      topic_create(t, topic, 1, NULL);
      stat_t s = res[w][t][run] = kafka_e2e(t, topic, rates[r]);
      note_run(w, t, run, &s);
      topic_delete(t, topic);
      if (t == T_MOCK)
        mock_down();
    }
  }
}

/* ---- report -------------------------------------------------------------- */

static int n_met, n_missed, n_unmeasured;

static const char *verdict(int measured, int ok) {
  if (!measured) {
    n_unmeasured++;
    return "not measured";
  }
  if (ok) {
    n_met++;
    return "met";
  }
  n_missed++;
  return "NOT MET";
}

static void fmt_rate(char *out, size_t cap, double v) {
  if (v < 0)
    snprintf(out, cap, "-");
  else if (v >= 1e6)
    snprintf(out, cap, "%.2f M", v / 1e6);
  else if (v >= 1e3)
    snprintf(out, cap, "%.1f k", v / 1e3);
  else
    snprintf(out, cap, "%.0f", v);
}

static void fmt_num(char *out, size_t cap, double v, const char *f) {
  if (v < 0)
    snprintf(out, cap, "-");
  else
    snprintf(out, cap, f, v);
}

/* One summary line: a latency case's p99 against its target. */
static void p99_target(const stat_t *la, const char *what, double max_ms) {
  char p[48] = "-";
  if (la->ok)
    snprintf(p, sizeof p, "%.3f ms (warm-up max %.1f ms)", la->p99_ms,
             la->cold_ms);
  printf("  %-50s p99 %s (<= %g ms): %s\n", what, p, max_ms,
         verdict(la->ok, la->p99_ms <= max_ms));
}

static void report(const rss_fig *nd, const rss_fig *rd) {
  stat_t m[W_COUNT][T_COUNT];
  for (int w = 0; w < W_COUNT; w++)
    for (int t = 0; t < T_COUNT; t++)
      m[w][t] = median_stat(res[w][t], opt.runs);

  printf("\n== results: median of %d run%s; MB/s of payload (1 MB = 10^6 "
         "bytes); latencies in ms\n",
         opt.runs, opt.runs == 1 ? "" : "s");
  printf("%-31s %-7s %10s %8s %8s %8s %8s %9s %11s\n", "case", "target",
         "msgs/s", "MB/s", "p50 ms", "p99 ms", "vs mock", "vs redis",
         "warm-up max");
  for (int w = 0; w < W_COUNT; w++) {
    int shown = 0;
    for (int t = 0; t < T_COUNT; t++) {
      if (!m[w][t].ok)
        continue;
      char rate[32], mb[32], p50[32], p99[32], vm[32] = "", vr[32] = "",
                                               cold[32] = "";
      fmt_rate(rate, sizeof rate, m[w][t].rps);
      fmt_num(mb, sizeof mb, m[w][t].mbps, "%.1f");
      fmt_num(p50, sizeof p50, m[w][t].p50_ms, "%.3f");
      fmt_num(p99, sizeof p99, m[w][t].p99_ms, "%.3f");
      if (m[w][t].cold_ms >= 0)
        snprintf(cold, sizeof cold, "%.1f ms", m[w][t].cold_ms);
      if (t == T_NODATA && m[w][t].p99_ms < 0) {
        if (m[w][T_MOCK].ok)
          snprintf(vm, sizeof vm, "%.2fx", m[w][t].rps / m[w][T_MOCK].rps);
        if (m[w][T_REDIS].ok)
          snprintf(vr, sizeof vr, "%.2fx", m[w][t].rps / m[w][T_REDIS].rps);
      }
      printf("%-31s %-7s %10s %8s %8s %8s %8s %9s %11s\n",
             shown ? "" : wname[w], tname[t], rate, mb, p50, p99, vm, vr, cold);
      shown = 1;
    }
  }
  if (nd->ok || rd->ok)
    printf("\n%-31s %-7s %10s %10s %12s %21s\n", "idle connections (VmRSS)",
           "target", "before", "with them", "per conn", "anon / file-backed");
  const rss_fig *f[2] = {nd, rd};
  for (int i = 0; i < 2; i++)
    if (f[i]->ok)
      printf("%-31d %-7s %7.1f MB %7.1f MB %8.2f KiB %7.1f / %5.1f MB\n",
             f[i]->conns, i ? "redis" : "nodata",
             (double)f[i]->before_kib * 1024 / 1e6,
             (double)f[i]->after_kib * 1024 / 1e6,
             (double)(f[i]->after_kib - f[i]->before_kib) / f[i]->conns,
             (double)f[i]->anon_kib * 1024 / 1e6,
             (double)f[i]->file_kib * 1024 / 1e6);

  printf("\n== summary: the targets of issue 4, from this run's medians\n");
  static const int tw[] = {W_P100, W_P1K, W_C100, W_C1K};
  for (size_t i = 0; i < sizeof tw / sizeof *tw; i++) {
    int w = tw[i];
    const stat_t *n = &m[w][T_NODATA], *k = &m[w][T_MOCK], *r = &m[w][T_REDIS];
    int have_k = n->ok && k->ok, have_r = n->ok && r->ok;
    double rk = have_k ? n->rps / k->rps : 0, rr = have_r ? n->rps / r->rps : 0;
    char a[32] = "-", b[32] = "-";
    if (have_k)
      snprintf(a, sizeof a, "%.3fx", rk);
    if (have_r)
      snprintf(b, sizeof b, "%.3fx", rr);
    printf("  %-22s nodata/mock %7s (>= 0.8x): %-13s nodata/redis %7s "
           "(>= 3x): %s\n",
           wname[w], a, verdict(have_k, rk >= 0.8), b,
           verdict(have_r, rr >= 3.0));
  }
  p99_target(&m[W_LALL][T_NODATA], "acks=all, fsync=always, 10k msgs/s offered",
             5.0);
  p99_target(&m[W_E1K][T_NODATA], "produce->consume @1k/s (issue 14)", 2.0);
  p99_target(&m[W_E10K][T_NODATA], "produce->consume @10k/s (issue 14)", 2.0);
  char mem[32] = "-";
  if (nd->ok)
    snprintf(mem, sizeof mem, "%.1f MB", (double)nd->after_kib * 1024 / 1e6);
  printf("  %-50s RSS %s (< 100 MB): %s\n",
         "nodata serve with 1,000 idle connections", mem,
         verdict(nd->ok && nd->conns >= 1000,
                 (double)nd->after_kib * 1024 < 100e6));
  if (!T.redis_ok)
    printf("  redis: skipped, %s\n", T.redis_why);
  printf("targets: %d met, %d not met, %d not measured\n", n_met, n_missed,
         n_unmeasured);
}

/* ---- client mode --------------------------------------------------------- */

/* --client BOOTSTRAP --run WHAT: one workload of the cases above against a
 * broker this program did not start (vs-kafka.py starts nodata serve and
 * Apache Kafka and runs the same client against each), printed as one
 * "result" line for a script to read. The topic is made fresh with
 * CreateTopics (and --topic-config) and deleted after. */
static struct {
  const char *run;
  size_t size;
  long count;
  int parts;
  double rate;
  const char *tag;
} C = {NULL, SMALL, 100000, 1, 10000, "x"};

static void client_result(const char *what, const stat_t *s) {
  printf("result %s rps=%.1f mbps=%.3f p50_ms=%.4f p99_ms=%.4f "
         "warm_max_ms=%.4f\n",
         what, s->rps, s->mbps, s->p50_ms, s->p99_ms, s->cold_ms);
  fflush(stdout);
}

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *line) {
  (void)rk, (void)level, (void)fac, (void)line;
}

static void quiet_error_cb(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque) {
  (void)rk, (void)err, (void)reason, (void)opaque;
}

/* Start to first acknowledged produce: started before (or as) the broker
 * is, this connects with a 10 ms reconnect backoff, creates a topic
 * (retrying until the broker takes it: a starting broker refuses
 * connections, then may answer that it is not ready yet) and produces one
 * message with acks=all. Prints CLOCK_MONOTONIC at the delivery report, so
 * the caller subtracts the time it exec'd the broker. */
static void client_first_ack(const char *topic) {
  uint64_t deadline = now_ns() + 180000000000ull;
  /* librdkafka's first admin request waits ~0.5 s on its own timers when
   * it starts before the broker listens (measured: CreateTopics done 527 ms
   * after the exec of a broker that listened at 5 ms), so wait for the
   * port with plain connects every millisecond first, then start it. */
  const char *colon = strrchr(opt.client, ':');
  int port = colon ? atoi(colon + 1) : 0;
  for (;;) {
    int fd = tcp_connect(port);
    if (fd >= 0) {
      close(fd);
      break;
    }
    if (now_ns() > deadline)
      fail("first-ack: nothing listens on %s", opt.client);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  rd_kafka_conf_t *c = kconf(opt.client, "reconnect.backoff.ms", "10",
                             "reconnect.backoff.max.ms", "10", "acks", "all",
                             "linger.ms", "0", "socket.nagle.disable", "true",
                             "log.connection.close", "false", (char *)NULL);
  /* A refused connection is expected here, not worth a line. */
  rd_kafka_conf_set_log_cb(c, quiet_log_cb);
  rd_kafka_conf_set_error_cb(c, quiet_error_cb);
  dr_state s = {0};
  rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
  rd_kafka_conf_set_opaque(c, &s);
  rd_kafka_t *rk = knew(RD_KAFKA_PRODUCER, c);
  for (int tries = 0;; tries++) {
    char err[256];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof err);
    if (!nt)
      fail("NewTopic %s: %s", topic, err);
    rd_kafka_AdminOptions_t *ao =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, 5000, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
      e = rd_kafka_event_error(ev);
      size_t n = 0;
      const rd_kafka_topic_result_t **tr =
          e ? NULL
            : rd_kafka_CreateTopics_result_topics(
                  rd_kafka_event_CreateTopics_result(ev), &n);
      if (n)
        e = rd_kafka_topic_result_error(tr[0]);
      rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    if (!e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      break;
    if (now_ns() > deadline)
      fail("first-ack: CreateTopics %s: %s after %d tries", topic,
           rd_kafka_err2name(e), tries + 1);
    sleep_ms(10);
  }
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  for (;;) {
    atomic_store(&s.done, 0);
    atomic_store(&s.errors, 0);
    produce_one(rk, rkt, 0, 0, SMALL, NULL);
    while (!atomic_load(&s.done))
      rd_kafka_poll(rk, 1);
    if (!atomic_load(&s.errors))
      break;
    /* A new topic's leader may not be known to the broker's own metadata
     * for a moment (Kafka: NOT_LEADER_OR_FOLLOWER); try again. */
    if (now_ns() > deadline)
      fail("first-ack: produce: %s",
           rd_kafka_err2name((rd_kafka_resp_err_t)atomic_load(&s.first_err)));
    sleep_ms(10);
  }
  uint64_t t = now_ns();
  printf("result first-ack monotonic_ns=%" PRIu64 "\n", t);
  fflush(stdout);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
}

static int client_main(void) {
  char topic[128];
  snprintf(topic, sizeof topic, "vk-%s-%s", C.run, C.tag);
  if (!strcmp(C.run, "first-ack")) {
    client_first_ack(topic);
    return 0;
  }
  snprintf(T.bootstrap, sizeof T.bootstrap, "%s", opt.client);
  T.admin = knew(RD_KAFKA_PRODUCER, kconf(T.bootstrap, (char *)NULL));
  stat_t s;
  if (!strcmp(C.run, "produce")) {
    topic_create(T_NODATA, topic, C.parts, NULL);
    s = kafka_produce(T_NODATA, topic, C.parts, C.size, C.count);
  } else if (!strcmp(C.run, "consume")) {
    topic_create(T_NODATA, topic, C.parts, NULL);
    kafka_produce(T_NODATA, topic, C.parts, C.size, C.count);
    /* + 1: the producer's warm-up message */
    s = kafka_consume(T_NODATA, topic, C.parts, C.size, C.count + 1);
  } else if (!strcmp(C.run, "latency")) {
    topic_create(T_NODATA, topic, 1, NULL);
    s = kafka_latency(T_NODATA, topic, opt.acks);
  } else if (!strcmp(C.run, "e2e")) {
    topic_create(T_NODATA, topic, 1, NULL);
    s = kafka_e2e(T_NODATA, topic, C.rate);
  } else {
    fprintf(stderr, PROG ": unknown --run '%s'\n", C.run);
    return 2;
  }
  topic_delete(T_NODATA, topic);
  client_result(C.run, &s);
  rd_kafka_destroy(T.admin);
  T.admin = NULL;
  return 0;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG " [--quick] [--runs N] [--case LIST] [--nodata PATH]\n"
          "       [--redis PATH] [--dir DIR]\n"
          "  --quick        tiny sizes, 1 run (the ctest smoke test)\n"
          "  --runs N       runs per case, median printed (default 3)\n"
          "  --case LIST    comma-separated: produce, consume, latency, e2e,\n"
          "                 rss\n"
          "                 (default all)\n"
          "  --nodata PATH  the nodata binary (default: the one built beside "
          "this)\n"
          "  --redis PATH   redis-server (default: from PATH; skipped if "
          "missing)\n"
          "  --dir DIR      where the scratch directory goes (default $TMPDIR "
          "or /tmp)\n"
          "client mode, one workload against a running broker (vs-kafka.py):\n"
          "  " PROG " --client HOST:PORT --run produce|consume|latency|e2e|"
          "first-ack\n"
          "       [--size B] [--count N] [--parts P] [--acks A] [--rate R]\n"
          "       [--secs S] [--warm S] [--tag T] [--topic-config K=V]...\n"
          "       [--client-config K=V]...\n");
}

static void default_nodata(void) {
  static char path[PATH_MAX];
#ifdef ND_BBENCH_NODATA
  snprintf(path, sizeof path, "%s", ND_BBENCH_NODATA);
  if (access(path, X_OK) == 0) {
    opt.nodata = path;
    return;
  }
#endif
  /* build tree layout: bench/broker/<this> and cli/nodata */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = 0;
      snprintf(path, sizeof path, "%s/../../cli/nodata", self);
      if (access(path, X_OK) == 0) {
        opt.nodata = path;
        return;
      }
    }
  }
  opt.nodata = NULL;
}

static unsigned parse_cases(const char *s) {
  unsigned c = 0;
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", s);
  for (char *save = NULL, *w = strtok_r(tmp, ",", &save); w;
       w = strtok_r(NULL, ",", &save)) {
    if (!strcmp(w, "produce"))
      c |= CASE_PRODUCE;
    else if (!strcmp(w, "consume"))
      c |= CASE_CONSUME;
    else if (!strcmp(w, "latency"))
      c |= CASE_LATENCY;
    else if (!strcmp(w, "rss"))
      c |= CASE_RSS;
    else if (!strcmp(w, "e2e"))
      c |= CASE_E2E;
    else if (!strcmp(w, "all"))
      c |= CASE_ALL;
    else {
      fprintf(stderr, PROG ": unknown case '%s'\n", w);
      usage(stderr);
      exit(2);
    }
  }
  return c;
}

/* --topic-config and --client-config: up to MAX_KV KEY=VALUE each. */
static int add_kv(const char **list, int *n, const char *kv) {
  if (*n == MAX_KV || !strchr(kv, '=')) {
    fprintf(stderr, PROG ": '%s': not KEY=VALUE, or more than 16\n", kv);
    return -1;
  }
  list[(*n)++] = kv;
  return 0;
}

int main(int argc, char **argv) {
  opt.runs = 3;
  opt.cases = CASE_ALL;
  opt.lat_rate = 10000;
  opt.idle_conns = 1000;
  opt.acks = "1";
  opt.lat_secs = 3;
  opt.lat_warm = 0.5;
  int runs_set = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quick"))
      opt.quick = 1;
    else if (!strcmp(a, "--runs") && v) {
      opt.runs = atoi(v);
      runs_set = 1;
      i++;
    } else if (!strcmp(a, "--case") && v) {
      opt.cases = parse_cases(v);
      i++;
    } else if (!strcmp(a, "--nodata") && v) {
      opt.nodata = v;
      i++;
    } else if (!strcmp(a, "--redis") && v) {
      opt.redis = v;
      i++;
    } else if (!strcmp(a, "--dir") && v) {
      opt.dir = v;
      i++;
    } else if (!strcmp(a, "--client") && v) {
      opt.client = v;
      i++;
    } else if (!strcmp(a, "--run") && v) {
      C.run = v;
      i++;
    } else if (!strcmp(a, "--size") && v) {
      C.size = (size_t)atol(v);
      i++;
    } else if (!strcmp(a, "--count") && v) {
      C.count = atol(v);
      i++;
    } else if (!strcmp(a, "--parts") && v) {
      C.parts = atoi(v);
      i++;
    } else if (!strcmp(a, "--acks") && v) {
      opt.acks = v;
      i++;
    } else if (!strcmp(a, "--rate") && v) {
      C.rate = opt.lat_rate = atof(v);
      i++;
    } else if (!strcmp(a, "--secs") && v) {
      opt.lat_secs = atof(v);
      i++;
    } else if (!strcmp(a, "--warm") && v) {
      opt.lat_warm = atof(v);
      i++;
    } else if (!strcmp(a, "--tag") && v) {
      C.tag = v;
      i++;
    } else if (!strcmp(a, "--topic-config") && v) {
      if (add_kv(opt.topic_cfg, &opt.n_topic_cfg, v))
        return 2;
      i++;
    } else if (!strcmp(a, "--client-config") && v) {
      if (add_kv(opt.client_cfg, &opt.n_client_cfg, v))
        return 2;
      i++;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, PROG ": bad argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (opt.client || C.run) {
    if (!opt.client || !C.run || C.size < 1 || C.size > LARGE || C.count < 1 ||
        C.parts < 1 || C.rate <= 0 || opt.lat_secs <= 0 || opt.lat_warm < 0) {
      fprintf(stderr,
              PROG ": client mode needs --client and --run, sizes "
                   "1..%d, positive counts and rates\n",
              LARGE);
      return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pool_init();
    return client_main();
  }
  if (opt.runs < 1 || opt.runs > MAX_RUNS) {
    fprintf(stderr, PROG ": --runs must be 1..%d\n", MAX_RUNS);
    return 2;
  }
  if (opt.quick) {
    if (!runs_set)
      opt.runs = 1;
    opt.n_small = 5000;
    opt.n_large = 1000;
    opt.cparts = 2;
    opt.c_small = 2500;
    opt.c_large = 500;
    opt.lat_secs = 0.2;
    opt.lat_warm = 0.05;
  } else {
    opt.n_small = 2000000;
    opt.n_large = 400000;
    /* The mock cluster keeps only the last 5 MiB of a partition (and
     * answers a Fetch with one batch per partition): 4 MB of payload per
     * partition stays whole, partitions make up the volume. */
    opt.cparts = 64;
    opt.c_small = 40000;
    opt.c_large = 4000;
    opt.lat_secs = 3;
    opt.lat_warm = 0.5;
  }
  if (!opt.nodata)
    default_nodata();
  if (!opt.nodata || access(opt.nodata, X_OK)) {
    fprintf(stderr,
            PROG ": error: no nodata binary (%s); build target nodata_cli "
                 "or pass --nodata PATH\n",
            opt.nodata ? opt.nodata : "none found beside this program");
    return 1;
  }

  /* 1,000 idle connections need more descriptors than the usual soft 1,024
   * leaves beside librdkafka's. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
      rl.rlim_cur < (rlim_t)opt.idle_conns + 200)
    opt.idle_conns = (int)rl.rlim_cur - 200;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Bound the whole run, whatever hangs. */
  alarm(opt.quick ? 240 : 1200);

  const char *tmp = opt.dir ? opt.dir : getenv("TMPDIR");
  snprintf(g_root, sizeof g_root, "%s/nd-broker-bench-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_root)) {
    fprintf(stderr, PROG ": error: mkdtemp %s: %s\n", g_root, strerror(errno));
    return 1;
  }
  pool_init();

  time_t now = time(NULL);
  char date[64], load[64] = "?";
  strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
  file_text("/proc/loadavg", load, sizeof load);
  load[strcspn(load, "\n")] = 0;
  printf(PROG ": %s, %ld cores, load %s, librdkafka %s\n", date,
         sysconf(_SC_NPROCESSORS_ONLN), load, rd_kafka_version_str());
  printf("  %d run%s; produce %ld x 100 B and %ld x 1 KiB into 1 partition; "
         "consume %d partitions x %ld x 100 B and x %ld x 1 KiB;\n"
         "  latency: %.0f msgs/s of 100 B for %.2f s after a %.2f s warm-up\n",
         opt.runs, opt.runs == 1 ? "" : "s", opt.n_small, opt.n_large,
         opt.cparts, opt.c_small, opt.c_large, opt.lat_rate, opt.lat_secs,
         opt.lat_warm);

  nodata_start();
  printf("  nodata: %s serve on %s (pid %d)\n", opt.nodata, T.bootstrap,
         (int)g_nodata_pid);
  redis_start();
  if (T.redis_ok)
    printf("  redis: %s on 127.0.0.1:%d (pid %d), appendonly yes\n",
           T.redis_bin, T.redis_port, (int)g_redis_pid);
  else
    printf("  redis: skipped, %s\n", T.redis_why);
  fflush(stdout);

  uint64_t t_start = now_ns();
  for (int run = 0; run < opt.runs; run++) {
    if (opt.cases & (CASE_PRODUCE | CASE_CONSUME)) {
      run_throughput(run, 0);
      run_throughput(run, 1);
    }
    if (opt.cases & CASE_LATENCY) {
      run_latency(run, 0);
      run_latency(run, 1);
    }
    if (opt.cases & CASE_E2E)
      run_e2e(run);
  }
  rss_fig nd = {0}, rd = {0};
  if (opt.cases & CASE_RSS) {
    nd = idle_conns(T.port, g_nodata_pid, 0);
    if (T.redis_ok)
      rd = idle_conns(T.redis_port, g_redis_pid, 1);
  }
  rd_kafka_destroy(T.admin);
  T.admin = NULL;
  int st = stop_child(&g_nodata_pid, "nodata serve");
  if (st)
    fprintf(stderr, PROG ": warning: nodata serve exited with status %d\n", st);
  if (T.redis_ok)
    stop_child(&g_redis_pid, "redis-server");
  stop_all();
  report(&nd, &rd);
  printf(PROG ": done in %.0f s\n", (double)(now_ns() - t_start) / 1e9);
  return 0;
}
