/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stats.c — nd_store_stats_get: each counter moves by exactly what the
 * test did (appends, rolls, retention, DeleteRecords, the cleaner, syncs
 * and group commit, recovery of a torn tail), each gauge shows what the
 * store holds, and the slow-sync and retention log lines name what they
 * should. Appenders on several threads are counted exactly (run under
 * TSan too: Makefile TSAN_TESTS).
 */
#include "test.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "nodata_testing.h"

/* What on_log was told, one line each, for strstr. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logged[1 << 16];

static void on_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  pthread_mutex_lock(&log_mu);
  size_t n = strlen(logged);
  snprintf(logged + n, sizeof logged - n, "%d %s\n", level, msg);
  pthread_mutex_unlock(&log_mu);
}

static size_t count_lines(const char *needle) {
  size_t n = 0;
  pthread_mutex_lock(&log_mu);
  for (const char *p = logged; (p = strstr(p, needle)) != NULL; p++)
    n++;
  pthread_mutex_unlock(&log_mu);
  return n;
}

static nd_store *open_with(const char *dir, int slow_fsync_ms) {
  nd_options o = {.no_background = 1,
                  .on_log = on_log,
                  .slow_fsync_ms = slow_fsync_ms,
                  .cleaner_threads = -1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  logged[0] = '\0';
  return s;
}

static nd_store_stats stats_of(nd_store *s) {
  nd_store_stats st;
  memset(&st, 0xab, sizeof st);
  if (nd_store_stats_get(s, &st) != 0)
    fprintf(stderr, "nd_store_stats_get: %s\n", nd_errmsg());
  return st;
}

static int64_t part_size(nd_store *s, const char *topic) {
  nd_partition_info pi;
  if (nd_partition_describe(s, topic, 0, &pi) != 0)
    return -1;
  return pi.size_bytes;
}

static int append_n(nd_store *s, const char *topic, size_t n, int64_t ts,
                    unsigned flags) {
  nd_record r[8];
  for (size_t i = 0; i < n; i++)
    r[i] = (nd_record){"k", 1, "value", 5, NULL, 0, ts};
  return nd_append(s, topic, 0, r, n, flags, NULL);
}

/* A one-partition topic where every append after the first rolls a new
 * segment (segment.bytes at its minimum); *cfg gets its config. */
static int create_rolling(nd_store *s, const char *name, int32_t policy,
                          nd_topic_config *cfg) {
  nd_topic_config_init(cfg);
  cfg->segment_bytes = 14;
  cfg->cleanup_policy = policy;
  return nd_topic_create(s, name, 1, cfg);
}

/* N appends of M records: appends, records, bytes and log_bytes move by
 * exactly that; failed calls count as errors and nothing else. */
static void appends_are_counted(void) {
  char *dir = tmpdir_make("stats-append");
  nd_store *s = open_with(dir, INT_MAX);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  nd_store_stats a = stats_of(s);
  CHECK_EQ_I64(a.appends, 0);
  CHECK_EQ_I64(a.log_bytes, 0);
  CHECK_EQ_I64(a.topics, 1);
  CHECK_EQ_I64(a.partitions, 1);
  CHECK_EQ_I64(a.partitions_offline, 0);
  const int N = 7, M = 3;
  for (int i = 0; i < N; i++)
    CHECK_OK(append_n(s, "t", M, ND_TIMESTAMP_NOW, 0));
  nd_store_stats b = stats_of(s);
  int64_t size = part_size(s, "t");
  CHECK(size > 0);
  CHECK_EQ_I64(b.appends - a.appends, N);
  CHECK_EQ_I64(b.appended_records - a.appended_records, N * M);
  CHECK_EQ_I64(b.appended_bytes - a.appended_bytes, size);
  CHECK_EQ_I64(b.log_bytes, size);
  CHECK_EQ_I64(b.append_errors, 0);
  CHECK_EQ_I64(b.segments_rolled, 0);
  /* A missing topic, no records: errors, nothing stored. */
  CHECK_RC(append_n(s, "missing", 1, ND_TIMESTAMP_NOW, 0), ND_ENOTOPIC);
  CHECK_RC(nd_append(s, "t", 0, NULL, 0, 0, NULL), ND_EINVAL);
  nd_store_stats c = stats_of(s);
  CHECK_EQ_I64(c.append_errors, 2);
  CHECK_EQ_I64(c.appends, b.appends);
  CHECK_EQ_I64(c.appended_bytes, b.appended_bytes);
  /* A second topic's partitions show in the gauges. */
  CHECK_OK(nd_topic_create(s, "u", 3, NULL));
  c = stats_of(s);
  CHECK_EQ_I64(c.topics, 2);
  CHECK_EQ_I64(c.partitions, 4);
  CHECK_OK(nd_close(s));
  /* Counters are of this open; log_bytes is what the store holds. */
  s = open_with(dir, INT_MAX);
  CHECK(s);
  nd_store_stats d = stats_of(s);
  CHECK_EQ_I64(d.appends, 0);
  CHECK_EQ_I64(d.log_bytes, size);
  CHECK_EQ_I64(d.recovery_partitions, 0);
  CHECK(d.recovery_ms >= 0);
  CHECK_OK(nd_close(s));
  CHECK_RC(nd_store_stats_get(NULL, &d), ND_EINVAL);
  tmpdir_remove(dir);
}

/* Every sync the library runs for a partition is in the histogram (the
 * process-wide sync count moves by as much), with slow_fsync_ms < 0 each
 * is "slow" and logged with its file; group commit records the appends
 * the sync made durable; a failed sync counts as an error and its
 * partition as offline. */
static void syncs_are_counted(void) {
  char *dir = tmpdir_make("stats-sync");
  nd_store *s = open_with(dir, -1);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  nd_store_stats a = stats_of(s);
  uint64_t calls0 = nd_test_sync_count();
  for (int i = 0; i < 5; i++)
    CHECK_OK(append_n(s, "t", 2, ND_TIMESTAMP_NOW, 0));
  logged[0] = '\0';
  CHECK_OK(nd_sync_partition(s, "t", 0, -1));
  uint64_t calls = nd_test_sync_count() - calls0;
  nd_store_stats b = stats_of(s);
  /* The segment's fdatasync and its new directory's fsync. */
  CHECK_EQ_I64(calls, 2);
  CHECK_EQ_I64(b.fsync_latency_us.count - a.fsync_latency_us.count, calls);
  uint64_t in_buckets = 0;
  for (int i = 0; i < ND_LATENCY_BUCKETS; i++)
    in_buckets += b.fsync_latency_us.buckets[i] - a.fsync_latency_us.buckets[i];
  CHECK_EQ_I64(in_buckets, calls);
  CHECK_EQ_I64(b.fsync_slow - a.fsync_slow, calls);
  CHECK_EQ_I64(b.fsync_errors, 0);
  CHECK_EQ_I64(count_lines("1 slow fdatasync of "), 1);
  CHECK_EQ_I64(count_lines("00000000000000000000.log: "), 1);
  CHECK_EQ_I64(count_lines("1 slow fsync of directory "), 1);
  /* One sync made the 5 appends durable: slot (4, 8]. */
  CHECK_EQ_I64(b.group_commit_appends.count - a.group_commit_appends.count, 1);
  CHECK_EQ_I64(b.group_commit_appends.sum - a.group_commit_appends.sum, 5);
  CHECK_EQ_I64(
      b.group_commit_appends.buckets[3] - a.group_commit_appends.buckets[3], 1);
  /* Nothing appended since: no sync, nothing observed. */
  CHECK_OK(nd_sync_partition(s, "t", 0, -1));
  nd_store_stats c = stats_of(s);
  CHECK_EQ_I64(c.fsync_latency_us.count, b.fsync_latency_us.count);
  CHECK_EQ_I64(c.group_commit_appends.count, b.group_commit_appends.count);
  /* A sync that fails: counted, and the partition is offline. */
  CHECK_OK(append_n(s, "t", 1, ND_TIMESTAMP_NOW, 0));
  nd_test_io_fault_set(ND_TEST_IO_SYNC, 0, EIO, 0);
  CHECK(nd_sync_partition(s, "t", 0, -1) != 0);
  nd_test_io_fault_clear();
  nd_store_stats d = stats_of(s);
  CHECK_EQ_I64(d.fsync_errors, 1);
  CHECK_EQ_I64(d.fsync_latency_us.count - c.fsync_latency_us.count, 1);
  CHECK_EQ_I64(d.partitions_offline, 1);
  CHECK_EQ_I64(count_lines("and it failed"), 1);
  nd_close(s);
  /* A threshold no sync reaches: none is slow, none logged. */
  s = open_with(dir, INT_MAX);
  CHECK(s);
  CHECK_OK(append_n(s, "t", 1, ND_TIMESTAMP_NOW, 0));
  CHECK_OK(nd_sync_partition(s, "t", 0, -1));
  nd_store_stats e = stats_of(s);
  CHECK(e.fsync_latency_us.count >= 1);
  CHECK_EQ_I64(e.fsync_slow, 0);
  CHECK_EQ_I64(count_lines("slow "), 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Rolls, retention by size and by time, DeleteRecords: segments and bytes
 * deleted are exactly those that went, each logged with its reason. */
static void retention_is_counted(void) {
  char *dir = tmpdir_make("stats-retention");
  nd_store *s = open_with(dir, INT_MAX);
  CHECK(s);
  nd_topic_config cfg;
  CHECK_OK(create_rolling(s, "t", ND_CLEANUP_DELETE, &cfg));
  const int SEGS = 6;
  for (int i = 0; i < SEGS; i++)
    CHECK_OK(append_n(s, "t", 1, 1000 + i, 0));
  nd_store_stats a = stats_of(s);
  CHECK_EQ_I64(a.segments_rolled, SEGS - 1);
  int64_t total = part_size(s, "t");
  CHECK_EQ_I64(a.log_bytes, total);
  int64_t one = total / SEGS; /* equal batches */
  CHECK_EQ_I64(one * SEGS, total);

  /* DeleteRecords below offset 2: segments 0 and 1 go. */
  logged[0] = '\0';
  int64_t ls;
  CHECK_OK(nd_delete_records(s, "t", 0, 2, &ls));
  nd_store_stats b = stats_of(s);
  CHECK_EQ_I64(b.delete_records_calls, 1);
  CHECK_EQ_I64(b.retention_segments_deleted, 2);
  CHECK_EQ_I64(b.retention_bytes_deleted, 2 * one);
  CHECK_EQ_I64(b.log_bytes, total - 2 * one);
  CHECK_EQ_I64(count_lines(": DeleteRecords (log start offset 2)"), 2);
  char line[128];
  snprintf(line, sizeof line,
           "2 deleted segment t-0 base offset 1 (%lld bytes)", (long long)one);
  CHECK_EQ_I64(count_lines(line), 1);

  /* retention.bytes: keep two segments' worth; segment 2 goes. */
  cfg.retention_bytes = 3 * one;
  cfg.retention_ms = -1;
  CHECK_OK(nd_topic_set_config(s, "t", &cfg));
  logged[0] = '\0';
  CHECK_OK(nd_maintain(s, 0));
  nd_store_stats c = stats_of(s);
  CHECK_EQ_I64(c.retention_segments_deleted - b.retention_segments_deleted, 1);
  CHECK_EQ_I64(c.retention_bytes_deleted - b.retention_bytes_deleted, one);
  CHECK_EQ_I64(count_lines("base offset 2 "), 1);
  snprintf(line, sizeof line, ": retention.bytes=%lld breached",
           (long long)(3 * one));
  CHECK_EQ_I64(count_lines(line), 1);
  CHECK_EQ_I64(c.log_bytes, part_size(s, "t"));

  /* retention.ms: every record is from 1970; all sealed segments go (3
   * and 4), the active one stays. */
  cfg.retention_bytes = -1;
  cfg.retention_ms = 1000;
  CHECK_OK(nd_topic_set_config(s, "t", &cfg));
  logged[0] = '\0';
  CHECK_OK(nd_maintain(s, 0));
  nd_store_stats d = stats_of(s);
  CHECK_EQ_I64(d.retention_segments_deleted - c.retention_segments_deleted, 2);
  CHECK_EQ_I64(d.retention_bytes_deleted - c.retention_bytes_deleted, 2 * one);
  CHECK_EQ_I64(
      count_lines(": retention.ms=1000 breached (largest timestamp 100"), 2);
  CHECK_EQ_I64(d.log_bytes, one);
  CHECK_EQ_I64(d.segments_rolled, SEGS - 1);
  CHECK_EQ_I64(d.delete_records_calls, 1);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The cleaner's counters are the sums of what nd_clean reported. */
static void cleaner_is_counted(void) {
  char *dir = tmpdir_make("stats-clean");
  nd_store *s = open_with(dir, INT_MAX);
  CHECK(s);
  nd_topic_config cfg;
  CHECK_OK(create_rolling(s, "c", ND_CLEANUP_COMPACT, &cfg));
  for (int i = 0; i < 6; i++)
    CHECK_OK(append_n(s, "c", 1, ND_TIMESTAMP_NOW, 0)); /* one key */
  nd_clean_stats cs;
  CHECK_OK(nd_clean(s, "c", 0, 0, ND_CLEAN_FORCE, &cs));
  CHECK(cs.cleaned && cs.records_in > cs.records_kept);
  nd_store_stats a = stats_of(s);
  CHECK_EQ_I64(a.cleaner_passes, cs.passes);
  CHECK_EQ_I64(a.cleaner_bytes_read, cs.bytes_in);
  CHECK_EQ_I64(a.cleaner_bytes_written, cs.bytes_out);
  CHECK_EQ_I64(a.cleaner_records_removed, cs.records_in - cs.records_kept);
  CHECK_EQ_I64(a.cleaner_errors, 0);
  CHECK_EQ_I64(a.log_bytes, part_size(s, "c"));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A torn tail cut at open: recovery_bytes_truncated is the bytes cut. */
static void recovery_is_counted(void) {
  char *dir = tmpdir_make("stats-recovery");
  nd_store *s = open_with(dir, INT_MAX);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "r", 1, NULL));
  for (int i = 0; i < 4; i++)
    CHECK_OK(append_n(s, "r", 3, ND_TIMESTAMP_NOW, 0));
  int64_t size = part_size(s, "r");
  CHECK_OK(nd_close(s));
  char hash[65], log[PATH_MAX], p[PATH_MAX];
  nd_topic_dirname("r", hash);
  snprintf(log, sizeof log, "%s/topics/%s/0/00000000000000000000.log", dir,
           hash);
  const int CUT = 17; /* into the last batch */
  CHECK(truncate(log, size - CUT) == 0);
  snprintf(p, sizeof p, "%s/clean-shutdown", dir);
  CHECK(unlink(p) == 0);
  snprintf(p, sizeof p, "%s/topics/%s/0/recovery-point", dir, hash);
  unlink(p);
  s = open_with(dir, INT_MAX);
  CHECK(s);
  nd_store_stats a = stats_of(s);
  nd_recovery_stats rs;
  CHECK_OK(nd_recovery_report(s, &rs, NULL, NULL));
  int64_t batch = size / 4;
  CHECK_EQ_I64(a.recovery_bytes_truncated, batch - CUT);
  CHECK_EQ_I64(a.recovery_bytes_truncated, rs.bytes_truncated);
  CHECK_EQ_I64(a.recovery_partitions, 1);
  CHECK_EQ_I64(a.recovery_indexes_rebuilt, rs.indexes_rebuilt);
  CHECK(a.recovery_ms >= 0);
  CHECK_EQ_I64(a.log_bytes, 3 * batch);
  CHECK_EQ_I64(a.log_bytes, part_size(s, "r"));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Gauges of what the store holds: descriptors and mappings in its caches,
 * open transactions. */
static void gauges(void) {
  char *dir = tmpdir_make("stats-gauges");
  nd_store *s = open_with(dir, INT_MAX);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "g", 1, NULL));
  CHECK_OK(append_n(s, "g", 1, ND_TIMESTAMP_NOW, 0));
  nd_store_stats a = stats_of(s);
  CHECK(a.open_files >= 1);
  CHECK(a.mapped_indexes >= 1);
  CHECK_EQ_I64(a.transactions_open, 0);
  nd_txn *t = NULL;
  CHECK_OK(nd_txn_open(s, "tx", 0, &t));
  nd_record r = {"k", 1, "v", 1, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_txn_append(t, "g", 0, &r, 1, NULL));
  CHECK_EQ_I64(stats_of(s).transactions_open, 1);
  CHECK_OK(nd_txn_commit(t));
  CHECK_EQ_I64(stats_of(s).transactions_open, 0);
  nd_txn_close(t);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

#define THREADS 4
#define PER_THREAD 500

static void *appender(void *arg) {
  nd_store *s = arg;
  for (int i = 0; i < PER_THREAD; i++)
    if (append_n(s, "t", 2, ND_TIMESTAMP_NOW, 0) != 0)
      return (void *)1;
  return NULL;
}

static void *scraper(void *arg) {
  nd_store *s = arg;
  nd_store_stats st;
  for (int i = 0; i < 200; i++)
    if (nd_store_stats_get(s, &st) != 0)
      return (void *)1;
  return NULL;
}

/* Appenders on several threads, a scraper reading meanwhile: the sums are
 * exact once they stop. */
static void threads_are_counted(void) {
  char *dir = tmpdir_make("stats-threads");
  nd_store *s = open_with(dir, INT_MAX);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  pthread_t th[THREADS + 1];
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_create(&th[i], NULL, appender, s) == 0);
  CHECK(pthread_create(&th[THREADS], NULL, scraper, s) == 0);
  for (int i = 0; i <= THREADS; i++) {
    void *ret;
    pthread_join(th[i], &ret);
    CHECK(ret == NULL);
  }
  nd_store_stats a = stats_of(s);
  CHECK_EQ_I64(a.appends, THREADS * PER_THREAD);
  CHECK_EQ_I64(a.appended_records, 2 * THREADS * PER_THREAD);
  CHECK_EQ_I64(a.appended_bytes, part_size(s, "t"));
  CHECK_EQ_I64(a.log_bytes, part_size(s, "t"));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(appends_are_counted);
  RUN(syncs_are_counted);
  RUN(retention_is_counted);
  RUN(cleaner_is_counted);
  RUN(recovery_is_counted);
  RUN(gauges);
  RUN(threads_are_counted);
  TEST_MAIN_END();
}
