/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c — `serve --http HOST:PORT`: GET /metrics, /health, /ready.
 *
 * The listener runs on a thread of its own, not on the Kafka event loop:
 * a scrape walks every partition and group of the store (a few calls into
 * the library each, under the library's own locks), and on a store of
 * 10,000 partitions that is milliseconds of work the loop must never wait
 * for; a stalled or hostile HTTP client cannot hold the loop either. The
 * thread reads the broker's counters (relaxed atomics, metrics.c) and
 * calls only thread-safe library functions, so it shares nothing else
 * with the loop.
 *
 * The same thread serves the web console's pages (console.h) at /. Its
 * JSON API under /api/ answers by Kafka requests to the broker's own
 * listener, round trips that can take seconds (a search over 100,000
 * records): those calls run on a thread of their own, the console's, one
 * at a time, which also runs the console's sampler and session expiry. So
 * /health, /ready and /metrics never wait behind a console call (a
 * liveness probe timing out behind a search would get the broker
 * restarted), and neither does the Kafka loop. While its call runs, a
 * connection is not read (its next pipelined request waits its turn);
 * a client that leaves meanwhile is closed, and the answer dropped.
 *
 * The server is deliberately small: HTTP/1.1 with keep-alive (Prometheus
 * keeps its connection), GET and HEAD everywhere, POST, PUT and DELETE
 * under /api/ (405 otherwise), bodies by Content-Length only (up to
 * HTTP_MAX_BODY; 413 beyond, 411 for a chunked one), heads up to
 * HTTP_MAX_REQUEST bytes (431 beyond), at most HTTP_MAX_CONNS connections
 * (more are closed at once: a browser opens six per page), and a
 * connection idle for HTTP_IDLE_MS is closed. A malformed request gets
 * 400 and its connection closed; nothing a client sends can stop the
 * thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "console.h"
#include "kafka.h"
#include "kafka_errors.h"
#include "metrics_int.h"

#define HTTP_MAX_REQUEST 8192
#define HTTP_MAX_BODY (1 << 20)
#define HTTP_MAX_CONNS 64
#define HTTP_IDLE_MS 30000
#define HTTP_LINGER_MS 2000

typedef struct http_conn {
  int fd;
  char in[HTTP_MAX_REQUEST];
  size_t inlen;
  char *out; /* response being written */
  size_t outlen, outpos;
  int close_after; /* close once out is written */
  /* Answered and shut for writing: what the client still sends is read
   * and dropped until it closes or linger_until (closing with unread
   * bytes would reset the connection, and the client could lose the
   * answer, e.g. a 431's). */
  int lingering;
  int64_t linger_until;
  int64_t last_ms;
  /* A request whose body is still arriving: its head (NUL-terminated,
   * as handle() left it) and body_len of body_need bytes. */
  char *head;
  char *body;
  size_t body_len, body_need;
  /* An /api/ call of this connection is with the console thread; gen
   * tells its answer from one for an earlier client of the slot. */
  int busy;
  unsigned gen;
} http_conn;

/* An /api/ call handed to the console thread: copies of what it reads,
 * then its answer. */
typedef struct api_job {
  struct api_job *next;
  int slot;
  unsigned gen;
  int head_only, close_after;
  char method[16];
  char *path; /* then the headers, the peer and the body, one allocation */
  const char *query, *headers, *peer, *body;
  size_t body_len;
  console_resp rs;
} api_job;

struct http_server {
  int lfd;
  int wake[2]; /* a byte on wake[1] stops the thread */
  pthread_t thread;
  int started;
  char *data_dir;
  _Atomic(nd_store *) store;
  _Atomic int state;
  console *_Atomic console; /* the web console; NULL until http_set_console */
  http_conn conns[HTTP_MAX_CONNS];
  /* The console thread: calls to make (todo), answers to send (done,
   * with a byte on done_pipe[1] to wake the HTTP thread). */
  pthread_t console_thread;
  int console_started;
  pthread_mutex_t jobs_mu;
  pthread_cond_t jobs_cv;
  api_job *todo, *todo_tail, *done;
  int jobs_stop;
  int done_pipe[2];
};

static int64_t now_ms(void) {
  return metrics_now_ns() / 1000000;
}

/* ---- rendering ---------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int failed;
} sbuf;

static void sb_grow(sbuf *s, size_t need) {
  if (s->failed || s->len + need < s->cap)
    return;
  size_t cap = s->cap ? s->cap : 65536;
  while (cap <= s->len + need)
    cap *= 2;
  char *p = realloc(s->p, cap);
  if (!p) {
    s->failed = 1;
    return;
  }
  s->p = p;
  s->cap = cap;
}

static void sb_printf(sbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...) {
  for (int tries = 0; tries < 2 && !s->failed; tries++) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->cap - s->len;
    int n =
        vsnprintf(s->cap ? s->p + s->len : NULL, s->cap ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->failed = 1;
      return;
    }
    if ((size_t)n < room) {
      s->len += (size_t)n;
      return;
    }
    sb_grow(s, (size_t)n + 1);
  }
}

/* A label value: \, " and newline escaped (format 0.0.4). Group names are
 * any bytes; topic names never need it. */
static void sb_label(sbuf *s, const char *v) {
  for (; *v; v++) {
    sb_grow(s, 3);
    if (s->failed)
      return;
    if (*v == '\\' || *v == '"') {
      s->p[s->len++] = '\\';
      s->p[s->len++] = *v;
    } else if (*v == '\n') {
      s->p[s->len++] = '\\';
      s->p[s->len++] = 'n';
    } else {
      s->p[s->len++] = *v;
    }
  }
}

static void help(sbuf *s, const char *name, const char *type,
                 const char *text) {
  sb_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A sample's value: whole numbers as integers (byte counts and offsets
 * read exactly), others with 15 significant digits (no float noise). */
static void sb_value(sbuf *s, double v) {
  if (v == (double)(long long)v && v > -9e18 && v < 9e18)
    sb_printf(s, " %lld\n", (long long)v);
  else
    sb_printf(s, " %.15g\n", v);
}

static void gauge(sbuf *s, const char *name, const char *text, double v) {
  help(s, name, "gauge", text);
  sb_printf(s, "%s", name);
  sb_value(s, v);
}

static void counter(sbuf *s, const char *name, const char *text, uint64_t v) {
  help(s, name, "counter", text);
  sb_printf(s, "%s %" PRIu64 "\n", name, v);
}

/* One histogram's series, from per-bucket counts (cumulated here) with
 * bounds in `unit`s scaled by `scale` (1e-6 for us -> seconds). labels is
 * "" or `k="v",...` without braces. The counts are read one by one while
 * observations go on, so count may lag the buckets: +Inf and _count are
 * the larger of the two, so the buckets never decrease. */
static void hist_series(sbuf *s, const char *name, const char *labels,
                        const int64_t *bounds, const uint64_t *buckets,
                        uint64_t count, double sum, double scale) {
  const char *sep = *labels ? "," : "";
  uint64_t cum = 0;
  for (int i = 0; i < METRICS_BUCKETS - 1; i++) {
    cum += buckets[i];
    sb_printf(s, "%s_bucket{%s%sle=\"%.9g\"} %" PRIu64 "\n", name, labels, sep,
              (double)bounds[i] * scale, cum);
  }
  cum += buckets[METRICS_BUCKETS - 1];
  if (count < cum)
    count = cum;
  sb_printf(s, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep,
            count);
  sb_printf(s, "%s_sum%s%s%s", name, *labels ? "{" : "", labels,
            *labels ? "}" : "");
  sb_value(s, sum);
  sb_printf(s, "%s_count%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels,
            *labels ? "}" : "", count);
}

static void render_process(sbuf *s, const char *data_dir) {
  long page = sysconf(_SC_PAGESIZE);
  unsigned long vsz = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%lu %lu", &vsz, &rss) != 2)
      vsz = rss = 0;
    fclose(f);
  }
  gauge(s, "process_resident_memory_bytes", "Resident memory size in bytes.",
        (double)rss * (double)page);
  gauge(s, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        (double)vsz * (double)page);
  long nfd = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.')
        nfd++;
    closedir(d);
    nfd--; /* the directory's own descriptor */
  }
  gauge(s, "process_open_fds", "Number of open file descriptors.", (double)nfd);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    gauge(s, "process_max_fds", "Maximum number of open file descriptors.",
          rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    help(s, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds."),
        sb_printf(s, "process_cpu_seconds_total %.6f\n",
                  (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
  /* The start time: boot time + the process's start in clock ticks. */
  double start = 0;
  f = fopen("/proc/self/stat", "r");
  if (f) {
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long long ticks = 0;
    /* After ")": state is field 3; starttime is field 22. */
    for (int field = 2; p && *p && field < 22; field++)
      p = strchr(p + 1, ' ');
    if (p && sscanf(p, " %llu", &ticks) == 1) {
      FILE *st = fopen("/proc/stat", "r");
      char line[256];
      unsigned long long btime = 0;
      while (st && fgets(line, sizeof line, st))
        if (sscanf(line, "btime %llu", &btime) == 1)
          break;
      if (st)
        fclose(st);
      start = (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
    }
  }
  gauge(s, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", start);
  struct statvfs vfs;
  if (data_dir && statvfs(data_dir, &vfs) == 0) {
    gauge(s, "nodata_disk_free_bytes",
          "Bytes available to the broker on the data directory's file system.",
          (double)vfs.f_bavail * (double)vfs.f_frsize);
    gauge(s, "nodata_disk_total_bytes",
          "Size of the data directory's file system in bytes.",
          (double)vfs.f_blocks * (double)vfs.f_frsize);
  }
}

static void render_requests(sbuf *s) {
  help(s, "nodata_kafka_requests_total", "counter",
       "Kafka requests answered, by API and version.");
  for (size_t i = 0; i < kafka_api_count; i++) {
    int key = kafka_apis[i].key;
    for (int v = 0; v < METRICS_API_VERSIONS && key < METRICS_API_KEYS; v++) {
      uint64_t n = atomic_load_explicit(&g_metrics.requests[key][v].count,
                                        memory_order_acquire);
      if (n)
        sb_printf(s,
                  "nodata_kafka_requests_total{api=\"%s\",version=\"%d\"} "
                  "%" PRIu64 "\n",
                  kafka_apis[i].name, v, n);
    }
  }
  help(s, "nodata_kafka_request_duration_seconds", "histogram",
       "Time from a Kafka request's arrival to its response being queued, "
       "by API and version.");
  for (size_t i = 0; i < kafka_api_count; i++) {
    int key = kafka_apis[i].key;
    for (int v = 0; v < METRICS_API_VERSIONS && key < METRICS_API_KEYS; v++) {
      metrics_hist *h = &g_metrics.requests[key][v];
      uint64_t n = atomic_load_explicit(&h->count, memory_order_acquire);
      if (!n)
        continue;
      uint64_t b[METRICS_BUCKETS];
      for (int j = 0; j < METRICS_BUCKETS; j++)
        b[j] = atomic_load_explicit(&h->buckets[j], memory_order_relaxed);
      char labels[96];
      snprintf(labels, sizeof labels, "api=\"%s\",version=\"%d\"",
               kafka_apis[i].name, v);
      hist_series(
          s, "nodata_kafka_request_duration_seconds", labels,
          nd_latency_bounds_us, b, n,
          (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6,
          1e-6);
    }
  }
  help(s, "nodata_kafka_errors_total", "counter",
       "Error codes other than NONE in Kafka responses, by API and error.");
  for (size_t i = 0; i < kafka_api_count; i++) {
    int key = kafka_apis[i].key;
    for (int c = 0; c < METRICS_ERR_CODES && key < METRICS_API_KEYS; c++) {
      uint64_t n =
          atomic_load_explicit(&g_metrics.errors[key][c], memory_order_relaxed);
      if (n)
        sb_printf(s,
                  "nodata_kafka_errors_total{api=\"%s\",error=\"%s\","
                  "code=\"%d\"} %" PRIu64 "\n",
                  kafka_apis[i].name,
                  kafka_err_name((int16_t)(c + METRICS_ERR_MIN)),
                  c + METRICS_ERR_MIN, n);
    }
  }
  help(s, "nodata_connections_active", "gauge",
       "Kafka client connections open now.");
  sb_printf(s, "nodata_connections_active %" PRIu64 "\n",
            atomic_load_explicit(&g_metrics.conns_open, memory_order_relaxed));
  counter(
      s, "nodata_connections_accepted_total",
      "Kafka client connections accepted since the broker started.",
      atomic_load_explicit(&g_metrics.conns_accepted, memory_order_relaxed));
  /* Client quotas (quota.c): Kafka's throttle-time metrics, summed. */
  static const char *const qtype[3] = {"produce", "fetch", "request"};
  help(s, "nodata_quota_throttle_time_ms_total", "counter",
       "Milliseconds clients were throttled for by a client quota.");
  for (int t = 0; t < 3; t++)
    sb_printf(
        s, "nodata_quota_throttle_time_ms_total{quota=\"%s\"} %" PRIu64 "\n",
        qtype[t],
        atomic_load_explicit(&g_metrics.throttle_ms[t], memory_order_relaxed));
  help(s, "nodata_quota_throttled_total", "counter",
       "Responses that throttled their client for a client quota.");
  for (int t = 0; t < 3; t++)
    sb_printf(
        s, "nodata_quota_throttled_total{quota=\"%s\"} %" PRIu64 "\n", qtype[t],
        atomic_load_explicit(&g_metrics.throttles[t], memory_order_relaxed));
}

/* Per-partition series of one metric family for every partition that
 * exists, in the order of the topic list. Each family is walked on its own
 * (the text format wants a family's samples together); what the library
 * says of each partition is fetched once into pi[]. */
typedef struct part_row {
  const char *topic;
  int32_t partition;
  int ok; /* pi is valid (the partition is online) */
  nd_partition_info pi;
  metrics_part *c; /* NULL: no traffic yet */
} part_row;

static void render_partitions(sbuf *s, nd_store *store, part_row *rows,
                              size_t n) {
  static const struct {
    const char *name, *type, *help;
    int field;
  } fam[] = {
      {"nodata_produced_records_total", "counter",
       "Records appended by Produce requests.", 0},
      {"nodata_produced_bytes_total", "counter",
       "Record batch bytes appended by Produce requests.", 1},
      {"nodata_fetched_records_total", "counter",
       "Offsets Fetch responses moved consumers and followers past.", 2},
      {"nodata_fetched_bytes_total", "counter",
       "Record batch bytes sent in Fetch responses.", 3},
      {"nodata_log_end_offset", "gauge",
       "The offset the next record appended will get (high watermark).", 4},
      {"nodata_log_start_offset", "gauge", "The first offset still in the log.",
       5},
      {"nodata_last_stable_offset", "gauge",
       "First offset of the oldest open transaction, else the log end.", 6},
      {"nodata_partition_size_bytes", "gauge",
       "Bytes of the partition's segment files.", 7},
      {"nodata_partition_segments", "gauge", "Segment files of the partition.",
       8},
  };
  (void)store;
  for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
    help(s, fam[f].name, fam[f].type, fam[f].help);
    for (size_t i = 0; i < n; i++) {
      part_row *r = &rows[i];
      double v;
      int field = fam[f].field;
      if (field < 4) {
        _Atomic uint64_t *cs[4] = {r->c ? &r->c->produced_records : NULL,
                                   r->c ? &r->c->produced_bytes : NULL,
                                   r->c ? &r->c->fetched_records : NULL,
                                   r->c ? &r->c->fetched_bytes : NULL};
        v = cs[field]
                ? (double)atomic_load_explicit(cs[field], memory_order_relaxed)
                : 0;
      } else {
        if (!r->ok)
          continue;
        v = field == 4   ? (double)r->pi.high_watermark
            : field == 5 ? (double)r->pi.log_start_offset
            : field == 6 ? (double)r->pi.last_stable_offset
            : field == 7 ? (double)r->pi.size_bytes
                         : (double)r->pi.segment_count;
      }
      sb_printf(s, "%s{topic=\"%s\",partition=\"%d\"}", fam[f].name, r->topic,
                r->partition);
      sb_value(s, v);
    }
  }
}

static int row_cmp(const void *a, const void *b) {
  const part_row *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Lag of every group with committed offsets: the log end offset (read
 * now) minus the committed offset; a committed offset past the end
 * (possible after DeleteRecords or a topic made again) counts as 0 lag. */
static void render_groups(sbuf *s, nd_store *store, part_row *rows, size_t n) {
  char **names = NULL;
  size_t ng = 0;
  if (nd_group_list(store, &names, &ng) != 0)
    return;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 0)
      help(s, "nodata_consumer_group_committed_offset", "gauge",
           "The offset a consumer group committed for a partition (the next "
           "it will read).");
    else
      help(s, "nodata_consumer_group_lag", "gauge",
           "Log end offset minus the group's committed offset, per "
           "partition.");
    for (size_t g = 0; g < ng; g++) {
      nd_committed *list = NULL;
      size_t nc = 0;
      if (nd_group_offsets(store, names[g], &list, &nc) != 0)
        continue;
      for (size_t i = 0; i < nc; i++) {
        part_row key = {.topic = list[i].topic, .partition = list[i].partition};
        /* (bsearch's base must not be NULL, even for n 0.) */
        part_row *r = n ? bsearch(&key, rows, n, sizeof *rows, row_cmp) : NULL;
        if (!r || !r->ok || list[i].offset < 0)
          continue;
        int64_t v = list[i].offset;
        if (pass == 1) {
          v = r->pi.high_watermark - list[i].offset;
          if (v < 0)
            v = 0;
        }
        sb_printf(s, "%s{group=\"",
                  pass ? "nodata_consumer_group_lag"
                       : "nodata_consumer_group_committed_offset");
        sb_label(s, names[g]);
        sb_printf(s, "\",topic=\"%s\",partition=\"%d\"} %" PRId64 "\n",
                  list[i].topic, list[i].partition, v);
      }
      nd_committed_free(list, nc);
    }
  }
  nd_names_free(names, ng);
}

static void render_store(sbuf *s, nd_store *store) {
  nd_topic_info *topics = NULL;
  size_t nt = 0;
  if (nd_topic_list(store, &topics, &nt) != 0)
    return;
  size_t n = 0, offline = 0, online_topics = 0;
  for (size_t i = 0; i < nt; i++)
    n += topics[i].offline ? 0 : (size_t)topics[i].partitions;
  part_row *rows = n ? calloc(n, sizeof *rows) : NULL;
  if (n && !rows) {
    nd_free(topics);
    s->failed = 1;
    return;
  }
  size_t k = 0;
  for (size_t i = 0; i < nt; i++) {
    if (topics[i].offline) {
      offline += (size_t)(topics[i].partitions > 0 ? topics[i].partitions : 1);
      continue;
    }
    online_topics++;
    for (int32_t p = 0; p < topics[i].partitions; p++) {
      part_row *r = &rows[k++];
      r->topic = topics[i].name;
      r->partition = p;
      r->ok = nd_partition_describe(store, topics[i].name, p, &r->pi) == 0;
      if (!r->ok)
        offline++;
      r->c = metrics_partition_peek(topics[i].name, p);
    }
  }
  gauge(s, "nodata_topics", "Topics in the store.", (double)nt);
  gauge(s, "nodata_partitions", "Partitions in the store.", (double)n);
  gauge(s, "nodata_partitions_offline",
        "Partitions (or topics) the store could not load: recovery found "
        "damage, or the topic did not open.",
        (double)offline);
  (void)online_topics;
  render_partitions(s, store, rows, n);
  render_groups(s, store, rows, n);
  free(rows);
  nd_free(topics);
}

/* What the library counts (nd_store_stats_get): fsyncs, group commit,
 * appends, retention, the cleaner, recovery, and its gauges. */
_Static_assert(ND_LATENCY_BUCKETS == METRICS_BUCKETS,
               "the library's histograms have the broker's bucket count");

static void render_store_stats(sbuf *s, nd_store *store) {
  nd_store_stats st;
  if (nd_store_stats_get(store, &st) != 0)
    return;
  help(s, "nodata_fsync_duration_seconds", "histogram",
       "fdatasync/syncfs calls of the store (log data, indexes, offsets and "
       "transaction logs) and how long each took.");
  hist_series(s, "nodata_fsync_duration_seconds", "", nd_latency_bounds_us,
              st.fsync_latency_us.buckets, st.fsync_latency_us.count,
              (double)st.fsync_latency_us.sum / 1e6, 1e-6);
  help(s, "nodata_group_commit_batch_size", "histogram",
       "Appends one log fdatasync made durable (group commit).");
  hist_series(s, "nodata_group_commit_batch_size", "", nd_batch_size_bounds,
              st.group_commit_appends.buckets, st.group_commit_appends.count,
              (double)st.group_commit_appends.sum, 1);
  static const struct {
    const char *name, *help;
    size_t off;
  } counters[] = {
#define C(name, field, text) {name, text, offsetof(nd_store_stats, field)}
      C("nodata_fsync_errors_total", fsync_errors, "fsyncs that failed."),
      C("nodata_fsync_slow_total", fsync_slow,
        "fsyncs slower than the slow-fsync threshold (each is also logged)."),
      C("nodata_appends_total", appends,
        "Appends the store took (any writer: Produce, the CLI, markers)."),
      C("nodata_appended_records_total", appended_records,
        "Records those appends stored."),
      C("nodata_appended_bytes_total", appended_bytes,
        "Bytes those appends stored."),
      C("nodata_append_errors_total", append_errors, "Appends refused."),
      C("nodata_segments_rolled_total", segments_rolled,
        "New segments started."),
      C("nodata_retention_segments_deleted_total", retention_segments_deleted,
        "Segments deleted by retention (time, size) and DeleteRecords."),
      C("nodata_retention_bytes_deleted_total", retention_bytes_deleted,
        "Bytes those deletions freed."),
      C("nodata_delete_records_total", delete_records_calls,
        "DeleteRecords calls."),
      C("nodata_cleaner_passes_total", cleaner_passes,
        "Log cleaner passes done."),
      C("nodata_cleaner_read_bytes_total", cleaner_bytes_read,
        "Bytes the log cleaner read."),
      C("nodata_cleaner_written_bytes_total", cleaner_bytes_written,
        "Bytes the log cleaner wrote."),
      C("nodata_cleaner_records_removed_total", cleaner_records_removed,
        "Records the log cleaner dropped (older values, expired "
        "tombstones)."),
      C("nodata_cleaner_errors_total", cleaner_errors,
        "Log cleaner passes that failed."),
#undef C
  };
  for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
    counter(s, counters[i].name, counters[i].help,
            *(const uint64_t *)((const char *)&st + counters[i].off));
  gauge(s, "nodata_recovery_partitions",
        "Partitions the recovery at start did work on.",
        (double)st.recovery_partitions);
  gauge(s, "nodata_recovery_truncated_bytes",
        "Torn tail bytes the recovery at start cut.",
        (double)st.recovery_bytes_truncated);
  gauge(s, "nodata_recovery_indexes_rebuilt",
        "Indexes the recovery at start rebuilt.",
        (double)st.recovery_indexes_rebuilt);
  gauge(s, "nodata_recovery_duration_seconds",
        "How long the recovery at start took.", (double)st.recovery_ms / 1e3);
  gauge(s, "nodata_log_bytes", "Bytes of the .log files of every segment.",
        (double)st.log_bytes);
  gauge(s, "nodata_store_open_files",
        "Descriptors the store's file cache holds.", (double)st.open_files);
  gauge(s, "nodata_store_mapped_indexes", "Index mappings the store holds.",
        (double)st.mapped_indexes);
  gauge(s, "nodata_transactions_open",
        "Ongoing transactions in the transaction coordinator.",
        (double)st.transactions_open);
}

int metrics_render(nd_store *store, const char *data_dir, int state, char **out,
                   size_t *len) {
  int64_t t0 = metrics_now_ns();
  sbuf s = {0};
  help(&s, "nodata_build_info", "gauge",
       "Always 1; the labels say which nodata this is.");
  sb_printf(&s, "nodata_build_info{version=\"%s\",format=\"%d\"} 1\n",
            ND_VERSION_STRING, ND_FORMAT_VERSION);
  char why[8];
  gauge(&s, "nodata_ready", "1 when /ready answers 200.",
        metrics_ready(store, state, why, sizeof why));
  render_process(&s, data_dir);
  render_requests(&s);
  if (store && state != METRICS_RECOVERING) {
    render_store(&s, store);
    render_store_stats(&s, store);
  }
  gauge(&s, "nodata_scrape_duration_seconds",
        "How long rendering this page took.",
        (double)(metrics_now_ns() - t0) / 1e9);
  if (s.failed) {
    free(s.p);
    return -ENOMEM;
  }
  *out = s.p;
  *len = s.len;
  return 0;
}

int metrics_ready(nd_store *store, int state, char *why, size_t whylen) {
  if (state == METRICS_RECOVERING) {
    snprintf(why, whylen, "starting: the store is being opened (recovery)");
    return 0;
  }
  if (state == METRICS_STOPPING) {
    snprintf(why, whylen, "stopping");
    return 0;
  }
  if (!store)
    return 1; /* `nodata console`: serving, with no store of its own */
  nd_topic_info *topics = NULL;
  size_t nt = 0;
  if (nd_topic_list(store, &topics, &nt) != 0) {
    snprintf(why, whylen, "cannot list topics: %s", nd_errmsg());
    return 0;
  }
  int ready = 1;
  size_t used = 0;
  for (size_t i = 0; i < nt; i++) {
    if (!topics[i].offline && topics[i].offline_partitions == 0)
      continue;
    if (ready)
      used = (size_t)snprintf(why, whylen, "offline:");
    ready = 0;
    if (used < whylen)
      used += (size_t)snprintf(
          why + used, whylen - used, " %s (%s)", topics[i].name,
          topics[i].offline ? "topic did not open" : "damaged partitions");
  }
  nd_free(topics);
  return ready;
}

/* ---- the server --------------------------------------------------------- */

static void conn_close(http_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->busy = 0;
  c->gen++; /* an answer still coming is for nobody now */
  free(c->out);
  free(c->head);
  free(c->body);
  c->head = c->body = NULL;
  c->body_len = c->body_need = 0;
  c->fd = -1;
  c->out = NULL;
  c->inlen = c->outlen = c->outpos = 0;
  c->close_after = c->lingering = 0;
}

static const char *reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 204:
    return "No Content";
  case 304:
    return "Not Modified";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 409:
    return "Conflict";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 415:
    return "Unsupported Media Type";
  case 429:
    return "Too Many Requests";
  case 502:
    return "Bad Gateway";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  }
  return "Unknown";
}

/* Queue a response: the head and (unless HEAD) a copy of body. */
static void respond(http_conn *c, int status, const char *ctype,
                    const char *body, size_t blen, int head, int close_after,
                    const char *extra) {
  char hdr[1600];
  int hn =
      snprintf(hdr, sizeof hdr,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
               "%zu\r\n%s%s\r\n",
               status, reason(status), ctype, blen,
               close_after ? "Connection: close\r\n" : "", extra ? extra : "");
  size_t total = (size_t)hn + (head ? 0 : blen);
  char *out = malloc(total);
  if (!out) {
    conn_close(c);
    return;
  }
  memcpy(out, hdr, (size_t)hn);
  if (!head && blen)
    memcpy(out + hn, body, blen);
  free(c->out);
  c->out = out;
  c->outlen = total;
  c->outpos = 0;
  c->close_after = close_after;
}

static void respond_text(http_conn *c, int status, const char *text, int head,
                         int close_after, const char *extra) {
  char body[1200];
  int n = snprintf(body, sizeof body, "%s\n", text);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof body)
    n = sizeof body - 1;
  respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, head,
          close_after, extra);
}

/* The value of header `name` in the header block into buf; 1 if
 * present (console.c's parser: one for both). */
static int header(const char *hdrs, const char *name, char *buf, size_t cap) {
  return console_header_in(hdrs, name, buf, cap);
}

static int header_has(const char *hdrs, const char *name, const char *tok) {
  char v[256];
  return header(hdrs, name, v, sizeof v) && strcasestr(v, tok) != NULL;
}

typedef struct http_head {
  char method[16];
  char target[2048];
  int head_only;    /* HEAD: no body in the answer */
  int close_after;  /* close once answered */
  const char *hdrs; /* the header block, "Name: value\r\n"... */
} http_head;

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void job_free(api_job *j) {
  if (!j)
    return;
  free(j->rs.raw);
  jw_free(&j->rs.json);
  free(j->path);
  free(j);
}

/* The client's address, "HOST:PORT" or "[v6]:PORT", or "" (for the
 * console's log of logins). */
static void peer_of(int fd, char *peer, size_t n) {
  struct sockaddr_storage sa;
  socklen_t sl = sizeof sa;
  char ip[INET6_ADDRSTRLEN] = "";
  peer[0] = 0;
  if (getpeername(fd, (struct sockaddr *)&sa, &sl) != 0)
    return;
  if (sa.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&sa;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    snprintf(peer, n, "[%s]:%u", ip, ntohs(a->sin6_port));
  } else if (sa.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&sa;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(peer, n, "%s:%u", ip, ntohs(a->sin_port));
  }
}

/* An /api/ call: handed to the console thread; c waits for its answer
 * (api_answered). */
static void serve_api(http_server *h, http_conn *c, const http_head *hd,
                      const char *body, size_t blen) {
  if (!atomic_load(&h->console)) {
    respond_text(c, 503, "the console is not started yet", hd->head_only,
                 hd->close_after, NULL);
    return;
  }
  char peer[INET6_ADDRSTRLEN + 16];
  peer_of(c->fd, peer, sizeof peer);
  size_t tl = strlen(hd->target) + 1, hl = strlen(hd->hdrs) + 1,
         pl = strlen(peer) + 1;
  api_job *j = calloc(1, sizeof *j);
  char *buf = j ? malloc(tl + hl + pl + blen + 1) : NULL;
  if (!buf) {
    free(j);
    respond_text(c, 500, "out of memory", hd->head_only, 1, NULL);
    return;
  }
  memcpy(buf, hd->target, tl);
  char *q = strchr(buf, '?');
  if (q)
    *q++ = 0;
  j->path = buf;
  j->query = q ? q : "";
  j->headers = memcpy(buf + tl, hd->hdrs, hl);
  j->peer = pl > 1 ? memcpy(buf + tl + hl, peer, pl) : NULL;
  if (blen)
    j->body = memcpy(buf + tl + hl + pl, body, blen);
  j->body_len = blen;
  snprintf(j->method, sizeof j->method, "%s", hd->method);
  j->head_only = hd->head_only;
  j->close_after = hd->close_after;
  j->slot = (int)(c - h->conns);
  j->gen = c->gen;
  c->busy = 1;
  pthread_mutex_lock(&h->jobs_mu);
  if (h->todo_tail)
    h->todo_tail->next = j;
  else
    h->todo = j;
  h->todo_tail = j;
  pthread_cond_signal(&h->jobs_cv);
  pthread_mutex_unlock(&h->jobs_mu);
}

/* The console's answer to j, on the HTTP thread: queued on its
 * connection if that is still the client who asked. */
static void api_answered(http_server *h, api_job *j) {
  http_conn *c = &h->conns[j->slot];
  if (c->fd < 0 || !c->busy || c->gen != j->gen)
    return; /* the client left */
  c->busy = 0;
  const console_resp *rs = &j->rs;
  char extra[1200];
  snprintf(extra, sizeof extra, "Cache-Control: no-store\r\n%s", rs->headers);
  if (rs->raw)
    respond(c, rs->status,
            rs->content_type ? rs->content_type : "application/octet-stream",
            rs->raw, rs->raw_len, j->head_only, j->close_after, extra);
  else if (rs->status == 204)
    respond(c, 204, "application/json", "", 0, 1, j->close_after, extra);
  else
    respond(c, rs->status,
            rs->content_type ? rs->content_type
                             : "application/json; charset=utf-8",
            rs->json.p ? rs->json.p : "{}", rs->json.p ? rs->json.len : 2,
            j->head_only, j->close_after, extra);
}

/* The console thread: one call at a time, and the console's ticks (its
 * sampler, session expiry) at least once a second. */
static void *console_thread(void *arg) {
  http_server *h = arg;
  pthread_mutex_lock(&h->jobs_mu);
  while (!h->jobs_stop) {
    api_job *j = h->todo;
    if (!j) {
      int64_t ms = console_tick_ms(atomic_load(&h->console));
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += ms / 1000;
      until.tv_nsec += (ms % 1000) * 1000000;
      if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&h->jobs_cv, &h->jobs_mu, &until);
    } else {
      h->todo = j->next;
      if (!h->todo)
        h->todo_tail = NULL;
      j->next = NULL;
    }
    pthread_mutex_unlock(&h->jobs_mu);
    console *con = atomic_load(&h->console);
    if (j) {
      console_req rq = {.method = j->method,
                        .path = j->path,
                        .query = j->query,
                        .headers = j->headers,
                        .body = j->body,
                        .body_len = j->body_len,
                        .peer = j->peer};
      console_handle(con, &rq, &j->rs, wall_ms());
    }
    console_tick(con, wall_ms());
    pthread_mutex_lock(&h->jobs_mu);
    if (j) {
      j->next = h->done;
      h->done = j;
      char b = 1;
      while (write(h->done_pipe[1], &b, 1) < 0 && errno == EINTR)
        ;
    }
  }
  pthread_mutex_unlock(&h->jobs_mu);
  return NULL;
}

/* Send what the console thread answered. */
static void take_answers(http_server *h) {
  char drain[64];
  while (read(h->done_pipe[0], drain, sizeof drain) > 0)
    ;
  pthread_mutex_lock(&h->jobs_mu);
  api_job *j = h->done;
  h->done = NULL;
  pthread_mutex_unlock(&h->jobs_mu);
  while (j) {
    api_job *next = j->next;
    api_answered(h, j);
    job_free(j);
    j = next;
  }
}

/* Answer one whole request (head and body). */
static void dispatch(http_server *h, http_conn *c, const http_head *hd,
                     const char *body, size_t blen) {
  if (strncmp(hd->target, "/api/", 5) == 0 || strcmp(hd->target, "/api") == 0 ||
      strncmp(hd->target, "/api?", 5) == 0) {
    serve_api(h, c, hd, body, blen);
    return;
  }
  int head = hd->head_only, close_after = hd->close_after;
  if (!head && strcmp(hd->method, "GET") != 0) {
    respond_text(c, 405, "only GET and HEAD here (the API is under /api/)", 0,
                 close_after, "Allow: GET, HEAD\r\n");
    return;
  }
  char target[2048];
  snprintf(target, sizeof target, "%s", hd->target);
  char *q = strchr(target, '?');
  if (q)
    *q = 0;
  nd_store *store = atomic_load(&h->store);
  int state = atomic_load(&h->state);
  if (strcmp(target, "/metrics") == 0) {
    char *page = NULL;
    size_t len = 0;
    if (metrics_render(store, h->data_dir, state, &page, &len) != 0) {
      respond_text(c, 500, "out of memory", head, close_after, NULL);
      return;
    }
    respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", page, len, head,
            close_after, NULL);
    free(page);
  } else if (strcmp(target, "/health") == 0) {
    respond_text(c, 200, "ok", head, close_after, NULL);
  } else if (strcmp(target, "/ready") == 0) {
    char why[1024];
    if (metrics_ready(store, state, why, sizeof why))
      respond_text(c, 200, "ready", head, close_after, NULL);
    else
      respond_text(c, 503, why, head, close_after, NULL);
  } else {
    const uint8_t *data;
    size_t len;
    const char *ctype;
    int immutable;
    if (console_asset(target, &data, &len, &ctype, &immutable))
      respond(c, 200, ctype, (const char *)data, len, head, close_after,
              immutable ? "Cache-Control: public, max-age=31536000, "
                          "immutable\r\n"
                        : "Cache-Control: no-cache\r\n");
    else
      respond_text(c, 404,
                   "not found: try /, /api/, /metrics, /health or /ready", head,
                   close_after, NULL);
  }
}

/* A whole request head is in c->in[0, end): answer it, or keep it while
 * its body arrives (c->head, c->body). */
static void handle(http_server *h, http_conn *c, size_t end) {
  c->in[end - 2] = 0; /* the head ends "\r\n\r\n": keep one \r\n */
  char *line_end = strstr(c->in, "\r\n");
  if (!line_end) {
    respond_text(c, 400, "bad request line", 0, 1, NULL);
    return;
  }
  *line_end = 0;
  http_head hd = {.hdrs = line_end + 2};
  char proto[16];
  char extra;
  if (sscanf(c->in, "%15s %2047s %15s%c", hd.method, hd.target, proto,
             &extra) != 3 ||
      strncmp(proto, "HTTP/1.", 7) != 0 ||
      (proto[7] != '0' && proto[7] != '1') || proto[8] != 0 ||
      hd.target[0] != '/') {
    respond_text(c, 400, "bad request line", 0, 1, NULL);
    return;
  }
  for (const char *p = hd.method; *p; p++)
    if (*p < 'A' || *p > 'Z') {
      respond_text(c, 400, "bad method", 0, 1, NULL);
      return;
    }
  hd.close_after =
      header_has(hd.hdrs, "Connection", "close") ||
      (proto[7] == '0' && !header_has(hd.hdrs, "Connection", "keep-alive"));
  hd.head_only = strcmp(hd.method, "HEAD") == 0;
  char v[64];
  if (header(hd.hdrs, "Transfer-Encoding", v, sizeof v)) {
    respond_text(c, 411, "bodies must come with a Content-Length", 0, 1, NULL);
    return;
  }
  unsigned long long clen = 0;
  if (header(hd.hdrs, "Content-Length", v, sizeof v)) {
    char *e;
    errno = 0;
    clen = strtoull(v, &e, 10);
    if (!v[0] || *e || errno || v[0] == '-') {
      respond_text(c, 400, "bad Content-Length", 0, 1, NULL);
      return;
    }
    if (clen > HTTP_MAX_BODY) {
      char why[96];
      snprintf(why, sizeof why, "body of %llu bytes: the limit is %d", clen,
               HTTP_MAX_BODY);
      respond_text(c, 413, why, 0, 1, NULL);
      return;
    }
  }
  if (clen == 0) {
    dispatch(h, c, &hd, NULL, 0);
    return;
  }
  /* Keep the head while the body arrives (process() fills it). */
  size_t hl = strlen(hd.hdrs);
  c->head = malloc(sizeof hd + hl + 1);
  c->body = malloc(clen);
  if (!c->head || !c->body) {
    respond_text(c, 500, "out of memory", 0, 1, NULL);
    return;
  }
  memcpy(c->head + sizeof hd, hd.hdrs, hl + 1);
  hd.hdrs = NULL;
  memcpy(c->head, &hd, sizeof hd);
  c->body_len = 0;
  c->body_need = clen;
}

/* Answer every whole request in c->in (pipelining), one at a time: the
 * next is looked at only once the previous answer is written. */
static void process(http_server *h, http_conn *c) {
  while (c->fd >= 0 && !c->out && !c->busy) {
    if (c->body_need) {
      size_t take = c->body_need - c->body_len;
      if (take > c->inlen)
        take = c->inlen;
      memcpy(c->body + c->body_len, c->in, take);
      memmove(c->in, c->in + take, c->inlen - take);
      c->inlen -= take;
      c->body_len += take;
      if (c->body_len < c->body_need)
        return;
      http_head hd;
      memcpy(&hd, c->head, sizeof hd);
      hd.hdrs = c->head + sizeof hd;
      dispatch(h, c, &hd, c->body, c->body_len);
      free(c->head);
      free(c->body);
      c->head = c->body = NULL;
      c->body_len = c->body_need = 0;
      continue;
    }
    char *e = NULL;
    if (c->inlen >= 4) {
      c->in[c->inlen < sizeof c->in ? c->inlen : sizeof c->in - 1] = 0;
      e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    }
    if (!e) {
      if (c->inlen >= sizeof c->in - 1)
        respond_text(c, 431, "request head over 8 KiB", 0, 1, NULL);
      else if (memchr(c->in, 0, c->inlen))
        respond_text(c, 400, "NUL byte in request", 0, 1, NULL);
      return;
    }
    size_t end = (size_t)(e - c->in) + 4;
    if (memchr(c->in, 0, end)) {
      respond_text(c, 400, "NUL byte in request", 0, 1, NULL);
      return;
    }
    handle(h, c, end);
    memmove(c->in, c->in + end, c->inlen - end);
    c->inlen -= end;
  }
}

static void on_writable(http_conn *c) {
  while (c->out && c->outpos < c->outlen) {
    ssize_t n =
        send(c->fd, c->out + c->outpos, c->outlen - c->outpos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (errno == EINTR)
        continue;
      conn_close(c);
      return;
    }
    c->outpos += (size_t)n;
  }
  if (c->out) {
    free(c->out);
    c->out = NULL;
    if (c->close_after) {
      shutdown(c->fd, SHUT_WR);
      c->lingering = 1;
      c->linger_until = now_ms() + HTTP_LINGER_MS;
      c->inlen = 0;
      return;
    }
  }
}

static void on_readable(http_server *h, http_conn *c) {
  while (c->lingering) {
    char drop[4096];
    ssize_t n = recv(c->fd, drop, sizeof drop, 0);
    if (n == 0 ||
        (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
      conn_close(c);
      return;
    }
    if (n < 0 && errno != EINTR)
      return;
  }
  for (;;) {
    if (c->inlen >= sizeof c->in - 1)
      break;
    ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen, 0);
    if (n == 0) {
      conn_close(c);
      return;
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        conn_close(c);
      break;
    }
    c->inlen += (size_t)n;
  }
  if (c->fd >= 0)
    process(h, c);
}

static void accept_all(http_server *h) {
  for (;;) {
    int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    http_conn *slot = NULL;
    for (int i = 0; i < HTTP_MAX_CONNS && !slot; i++)
      if (h->conns[i].fd < 0)
        slot = &h->conns[i];
    if (!slot) {
      close(fd); /* full: a scraper retries */
      continue;
    }
    slot->fd = fd;
    slot->inlen = 0;
    slot->last_ms = now_ms();
  }
}

/* Answer what is already read (pipelined requests) until an answer
 * cannot be written whole now or waits for the console. */
static void pump(http_server *h, http_conn *c) {
  while (c->fd >= 0 && !c->lingering) {
    if (!c->out)
      process(h, c);
    if (c->fd < 0 || !c->out)
      break;
    on_writable(c);
    if (c->out)
      break; /* the socket is full: wait for POLLOUT */
  }
}

static void *http_thread(void *arg) {
  http_server *h = arg;
  enum { FIXED = 3 }; /* wake, listener, console answers */
  for (;;) {
    struct pollfd pf[HTTP_MAX_CONNS + FIXED];
    http_conn *who[HTTP_MAX_CONNS + FIXED];
    nfds_t n = 0;
    pf[n] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
    who[n++] = NULL;
    pf[n] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
    who[n++] = NULL;
    pf[n] = (struct pollfd){.fd = h->done_pipe[0], .events = POLLIN};
    who[n++] = NULL;
    int64_t now = now_ms();
    for (int i = 0; i < HTTP_MAX_CONNS; i++) {
      http_conn *c = &h->conns[i];
      if (c->fd < 0)
        continue;
      /* A console call is bounded by its own timeouts (CK_TIMEOUT_MS):
       * its connection is not idle meanwhile. */
      if ((!c->busy && now - c->last_ms >= HTTP_IDLE_MS) ||
          (c->lingering && now >= c->linger_until)) {
        conn_close(c);
        continue;
      }
      /* While its call runs, only a hang-up is looked for (poll reports
       * POLLHUP and POLLERR whatever is asked). */
      pf[n] = (struct pollfd){.fd = c->fd,
                              .events = c->busy  ? 0
                                        : c->out ? POLLOUT
                                                 : POLLIN};
      who[n++] = c;
    }
    int r = poll(pf, n, 1000);
    if (r < 0 && errno != EINTR)
      break;
    if (pf[0].revents)
      break;
    if (pf[1].revents & POLLIN)
      accept_all(h);
    for (nfds_t i = FIXED; i < n; i++) {
      http_conn *c = who[i];
      if (!pf[i].revents || c->fd < 0)
        continue;
      c->last_ms = now_ms();
      if (c->busy)
        conn_close(c); /* hung up while its call runs */
      else if (pf[i].revents & POLLOUT)
        on_writable(c);
      else if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
        on_readable(h, c);
      pump(h, c);
    }
    if (pf[2].revents & POLLIN) {
      take_answers(h);
      for (int i = 0; i < HTTP_MAX_CONNS; i++)
        if (h->conns[i].fd >= 0 && h->conns[i].out && !h->conns[i].busy) {
          h->conns[i].last_ms = now_ms();
          pump(h, &h->conns[i]);
        }
    }
  }
  return NULL;
}

int http_start(const char *host, int port, const char *data_dir,
               http_server **out, char *bound, size_t boundlen, char *why,
               size_t whylen) {
  *out = NULL;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%d", port);
  int gai = getaddrinfo(host, portstr, &hints, &res);
  if (gai != 0) {
    snprintf(why, whylen, "--http %s: %s", host, gai_strerror(gai));
    return -EINVAL;
  }
  int fd =
      socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, err = 0;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64))
    err = errno;
  freeaddrinfo(res);
  struct sockaddr_storage sa;
  socklen_t sl = sizeof sa;
  if (!err && getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
    err = errno;
  if (err) {
    if (fd >= 0)
      close(fd);
    snprintf(why, whylen, "cannot listen on %s port %d for http: %s", host,
             port, strerror(err));
    return -err;
  }
  char ip[INET6_ADDRSTRLEN] = "?";
  int bport = 0;
  if (sa.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    bport = ntohs(a->sin6_port);
    snprintf(bound, boundlen, "[%s]:%d", ip, bport);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&sa;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    bport = ntohs(a->sin_port);
    snprintf(bound, boundlen, "%s:%d", ip, bport);
  }
  http_server *h = calloc(1, sizeof *h);
  if (!h || !(h->data_dir = strdup(data_dir ? data_dir : "."))) {
    free(h);
    close(fd);
    snprintf(why, whylen, "out of memory");
    return -ENOMEM;
  }
  h->lfd = fd;
  h->wake[0] = h->wake[1] = h->done_pipe[0] = h->done_pipe[1] = -1;
  for (int i = 0; i < HTTP_MAX_CONNS; i++)
    h->conns[i].fd = -1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&h->jobs_mu, NULL);
  pthread_cond_init(&h->jobs_cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
      pipe2(h->done_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
      (err = pthread_create(&h->console_thread, NULL, console_thread, h)) !=
          0) {
    err = err ? err : errno;
    snprintf(why, whylen, "cannot start the console thread: %s", strerror(err));
    http_stop(h);
    return -err;
  }
  h->console_started = 1;
  pthread_setname_np(h->console_thread, "nd-console");
  if ((err = pthread_create(&h->thread, NULL, http_thread, h)) != 0) {
    snprintf(why, whylen, "cannot start the http thread: %s", strerror(err));
    http_stop(h);
    return -err;
  }
  /* Named, so that `top -H` and the benchmark tell its CPU apart. */
  pthread_setname_np(h->thread, "nd-http");
  h->started = 1;
  *out = h;
  return 0;
}

void http_set_store(http_server *h, nd_store *store, net_loop *loop) {
  (void)loop;
  if (!h)
    return;
  atomic_store(&h->store, store);
  console_set_store(atomic_load(&h->console), store);
  atomic_store(&h->state, METRICS_SERVING);
}

int http_set_console(http_server *h, const console_config *cfg) {
  if (!h)
    return 0;
  console *c = NULL;
  int rc = console_new(cfg, &c);
  if (rc != 0)
    return rc;
  console_set_store(c, atomic_load(&h->store));
  atomic_store(&h->console, c);
  return 0;
}

void http_set_stopping(http_server *h) {
  if (h)
    atomic_store(&h->state, METRICS_STOPPING);
}

static void close_fd(int fd) {
  if (fd >= 0)
    close(fd);
}

void http_stop(http_server *h) {
  if (!h)
    return;
  if (h->started) {
    char b = 1;
    while (write(h->wake[1], &b, 1) < 0 && errno == EINTR)
      ;
    pthread_join(h->thread, NULL);
  }
  /* After the HTTP thread, which hands it calls: the one running ends
   * within its own timeouts. */
  if (h->console_started) {
    pthread_mutex_lock(&h->jobs_mu);
    h->jobs_stop = 1;
    pthread_cond_signal(&h->jobs_cv);
    pthread_mutex_unlock(&h->jobs_mu);
    pthread_join(h->console_thread, NULL);
  }
  api_job *left[2] = {h->todo, h->done};
  for (int i = 0; i < 2; i++)
    for (api_job *j = left[i], *next; j; j = next) {
      next = j->next;
      job_free(j);
    }
  for (int i = 0; i < HTTP_MAX_CONNS; i++)
    conn_close(&h->conns[i]);
  console_free(atomic_load(&h->console));
  pthread_cond_destroy(&h->jobs_cv);
  pthread_mutex_destroy(&h->jobs_mu);
  close_fd(h->lfd);
  close_fd(h->wake[0]);
  close_fd(h->wake[1]);
  close_fd(h->done_pipe[0]);
  close_fd(h->done_pipe[1]);
  free(h->data_dir);
  free(h);
}
