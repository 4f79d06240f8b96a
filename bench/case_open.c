/* SPDX-License-Identifier: Apache-2.0 */
/*
 * case_open.c — nd_open time with many partitions (100 topics x 10
 * partitions, some data in each).
 *
 * clean:   open after nd_close. It should read no record data: the bytes
 *          the process read during the open (/proc/self/io rchar) are
 *          reported beside the time.
 * unclean: a forked child opens the store, appends one batch of 100
 *          records to every partition and _exit()s without nd_close, so
 *          the store is unclean and that tail is unsynced; the parent then
 *          times nd_open, which recovers. Each store is measured as built
 *          and again after its data grew, with the same tail: recovery
 *          should cost in proportion to the tail, not to the data. Done on
 *          the 1,000-partition store and on a 10-partition store with
 *          32 MB per partition, where per-partition costs cannot hide a
 *          scan of the whole active segment.
 *
 * Every store is built with fsync=never and the background thread off, so
 * nothing syncs the tail behind the benchmark's back. Page cache is warm
 * (the benchmark does not drop caches on a shared machine).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_int.h"

#define PARTS_PER_TOPIC 10
#define OPEN_BATCH 100

typedef struct ostore {
  char dir[PATH_MAX];
  int topics;
  int64_t per_part; /* records in each partition */
  double build_s;   /* topic creation and the first appends, for the log */
} ostore;

static void topic_name(char *buf, size_t cap, int t) {
  snprintf(buf, cap, "t%04d", t);
}

static int append_each(nd_store *s, const bench_data *d, int topics,
                       int batches) {
  char name[32];
  size_t span = d->n - OPEN_BATCH + 1, at = 0;
  for (int t = 0; t < topics; t++) {
    topic_name(name, sizeof name, t);
    for (int p = 0; p < PARTS_PER_TOPIC; p++)
      for (int b = 0; b < batches; b++) {
        int rc = nd_append(s, name, p, d->recs + at, OPEN_BATCH, 0, NULL);
        if (rc)
          return bench_fail("nd_append", rc);
        at = (at + OPEN_BATCH) % span;
      }
  }
  return 0;
}

static int ostore_build(const bench_opts *o, const bench_data *d,
                        const char *tag, int topics, int batches, ostore *os) {
  uint64_t t0 = bench_now_ns();
  memset(os, 0, sizeof *os);
  os->topics = topics;
  if (dir_make_temp(o->root, tag, os->dir, sizeof os->dir))
    return -1;
  nd_store *s;
  if (store_open(os->dir, 1, &s))
    return -1;
  char name[32];
  int ret = 0;
  for (int t = 0; t < topics && !ret; t++) {
    topic_name(name, sizeof name, t);
    ret = topic_make(s, name, PARTS_PER_TOPIC, ND_FSYNC_NEVER);
  }
  if (!ret)
    ret = append_each(s, d, topics, batches);
  int rc = nd_close(s);
  if (rc && !ret)
    ret = bench_fail("nd_close", rc);
  os->per_part = (int64_t)batches * OPEN_BATCH;
  os->build_s = (double)(bench_now_ns() - t0) / 1e9;
  return ret;
}

/* Bytes this process has read through read()/pread() so far, -1 if the
 * kernel does not say. */
static double proc_rchar(void) {
  FILE *f = fopen("/proc/self/io", "r");
  if (!f)
    return -1;
  char line[128];
  double v = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "rchar: %lf", &v) == 1)
      break;
  fclose(f);
  return v;
}

/* Time one nd_open; check the partitions hold what was appended. */
static int timed_open(ostore *os, double *ms, double *read_bytes,
                      double *data_mb) {
  nd_store *s;
  nd_options opts;
  memset(&opts, 0, sizeof opts);
  double r0 = proc_rchar();
  uint64_t t0 = bench_now_ns();
  int rc = nd_open(os->dir, &opts, &s);
  uint64_t t1 = bench_now_ns();
  double r1 = proc_rchar();
  if (rc)
    return bench_fail(os->dir, rc);
  *ms = (double)(t1 - t0) / 1e6;
  if (read_bytes)
    *read_bytes = r0 >= 0 && r1 >= 0 ? r1 - r0 : -1;
  char name[32];
  int64_t hw = -1;
  topic_name(name, sizeof name, os->topics - 1);
  rc = nd_offsets(s, name, PARTS_PER_TOPIC - 1, NULL, &hw);
  if (!rc && hw != os->per_part) {
    fprintf(stderr,
            "nodata-bench: error: %s: high watermark %lld after open, "
            "expected %lld\n",
            os->dir, (long long)hw, (long long)os->per_part);
    rc = -1;
  } else if (rc) {
    rc = bench_fail("nd_offsets", rc);
  }
  if (!rc && data_mb) {
    double bytes = 0;
    for (int t = 0; t < os->topics && !rc; t++) {
      topic_name(name, sizeof name, t);
      for (int p = 0; p < PARTS_PER_TOPIC && !rc; p++) {
        nd_partition_info pi;
        rc = nd_partition_describe(s, name, p, &pi);
        if (rc)
          rc = bench_fail("nd_partition_describe", rc);
        bytes += (double)pi.size_bytes;
      }
    }
    *data_mb = bytes / 1e6;
  }
  int crc = nd_close(s);
  if (crc && !rc)
    rc = bench_fail("nd_close", crc);
  return rc ? -1 : 0;
}

/* The child's whole life: append an unsynced tail and vanish. */
static int crash_with_tail(ostore *os, const bench_data *d, int batches) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return bench_fail_errno("fork");
  if (pid == 0) {
    nd_store *s;
    if (store_open(os->dir, 1, &s))
      _exit(1);
    _exit(append_each(s, d, os->topics, batches) ? 1 : 0);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return bench_fail_errno("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "nodata-bench: error: the appending child failed\n");
    return -1;
  }
  os->per_part += (int64_t)batches * OPEN_BATCH;
  return 0;
}

/* Crash-and-open runs; *mb is the median data size at open, *last_mb the
 * size after the last run. */
static int unclean_runs(const bench_opts *o, ostore *os, const bench_data *d,
                        double *ms, double *mb, double *last_mb) {
  double *t = calloc((size_t)o->runs, sizeof *t);
  double *m = calloc((size_t)o->runs, sizeof *m);
  int ret = -1;
  if (!t || !m)
    goto out;
  for (int run = 0; run < o->runs; run++)
    if (crash_with_tail(os, d, 1) || timed_open(os, &t[run], NULL, &m[run]))
      goto out;
  *last_mb = m[o->runs - 1];
  *ms = median_of(t, o->runs);
  *mb = median_of(m, o->runs);
  ret = 0;
out:
  free(t);
  free(m);
  return ret;
}

/* A thousand partitions hold a few thousand descriptors and maps; lift the
 * soft limit to the hard one so a low default does not fail the open. */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* Append `batches` more to every partition, then close cleanly. */
static int ostore_grow(const bench_data *d, int batches, ostore *os,
                       double *secs) {
  uint64_t t0 = bench_now_ns();
  nd_store *s;
  if (store_open(os->dir, 1, &s))
    return -1;
  int ret = append_each(s, d, os->topics, batches);
  int rc = nd_close(s);
  if (rc && !ret)
    ret = bench_fail("nd_close", rc);
  os->per_part += (int64_t)batches * OPEN_BATCH;
  *secs = (double)(bench_now_ns() - t0) / 1e9;
  return ret;
}

/* One store measured twice after a crash with the same tail: as built, and
 * after its data grew. With clean: also time clean opens first. */
typedef struct pair_result {
  int partitions;
  double clean_ms, clean_read_bytes, clean_mb;
  double small_ms, large_ms, small_mb, large_mb, tail_mb;
  double build_s, grow_s;
} pair_result;

static int unclean_pair(const bench_opts *o, const bench_data *d,
                        const char *tag, int topics, int small_batches,
                        int grow_batches, int clean, pair_result *pr) {
  int ret = -1;
  ostore os;
  memset(&os, 0, sizeof os);
  memset(pr, 0, sizeof *pr);
  pr->partitions = topics * PARTS_PER_TOPIC;
  double *t = calloc((size_t)o->runs, sizeof *t);
  double *rb = calloc((size_t)o->runs, sizeof *rb);
  if (!t || !rb || ostore_build(o, d, tag, topics, small_batches, &os))
    goto out;
  pr->build_s = os.build_s;
  fs_settle(o->root);
  double mb = 0, last_mb;
  if (clean) {
    for (int run = 0; run < o->runs; run++)
      if (timed_open(&os, &t[run], &rb[run], &mb))
        goto out;
    pr->clean_ms = median_of(t, o->runs);
    pr->clean_read_bytes = median_of(rb, o->runs);
  } else if (timed_open(&os, &t[0], NULL, &mb)) {
    goto out;
  }
  pr->clean_mb = mb;
  if (unclean_runs(o, &os, d, &pr->small_ms, &pr->small_mb, &last_mb))
    goto out;
  /* Each run added the same tail (one batch per partition). */
  pr->tail_mb = (last_mb - mb) / o->runs;
  /* The same store made larger, so only the data size changes (building a
   * second store would mostly time topic creation again). */
  if (ostore_grow(d, grow_batches, &os, &pr->grow_s))
    goto out;
  fs_settle(o->root);
  if (unclean_runs(o, &os, d, &pr->large_ms, &pr->large_mb, &last_mb))
    goto out;
  ret = 0;
out:
  if (os.dir[0])
    dir_remove(os.dir);
  free(t);
  free(rb);
  return ret;
}

static void print_pair(const pair_result *pr) {
  char label[96];
  snprintf(label, sizeof label, "unclean, %d partitions, tail %.1f MB",
           pr->partitions, pr->tail_mb);
  printf("%-44s %10.2f %12.1f\n", label, pr->small_ms, pr->small_mb);
  printf("%-44s %10.2f %12.1f\n", "  same tail, more data", pr->large_ms,
         pr->large_mb);
  char x1[32], x2[32];
  printf("  more/less data: data %s, unclean open time %s\n",
         fmt_ratio(x1, sizeof x1, pr->large_mb, pr->small_mb),
         fmt_ratio(x2, sizeof x2, pr->large_ms, pr->small_ms));
}

int case_open(const bench_opts *o, const bench_data *d, bench_results *r) {
  int topics = o->quick ? 2 : 100;
  pair_result wide, deep;
  raise_nofile();
  /* Many small partitions: the 1,000-partition open the targets name. */
  if (unclean_pair(o, d, "open", topics, 2, o->quick ? 6 : 14, 1, &wide))
    return -1;
  /* Few deep partitions: with per-partition costs small beside the data,
   * this shows whether recovery reads only the tail or the whole active
   * segment (32 MB per partition stays inside one 128 MiB segment). */
  if (unclean_pair(o, d, "open-deep", 1, o->quick ? 4 : 80,
                   o->quick ? 60 : 2960, 0, &deep))
    return -1;

  printf("\n== open, warm page cache (%d partitions = %d topics x %d) ==\n",
         wide.partitions, topics, PARTS_PER_TOPIC);
  printf("%-44s %10s %12s %14s\n", "", "ms", "data MB", "bytes read");
  char rbuf[32];
  if (wide.clean_read_bytes >= 0)
    snprintf(rbuf, sizeof rbuf, "%.0f", wide.clean_read_bytes);
  else
    snprintf(rbuf, sizeof rbuf, "-");
  char label[96];
  snprintf(label, sizeof label, "clean, %d partitions", wide.partitions);
  printf("%-44s %10.2f %12.1f %14s\n", label, wide.clean_ms, wide.clean_mb,
         rbuf);
  print_pair(&wide);
  print_pair(&deep);
  if (wide.clean_read_bytes >= 0)
    printf("(clean open read %.0f bytes per partition through read/pread; "
           "each partition held %.0f KB of records)\n",
           wide.clean_read_bytes / wide.partitions,
           wide.clean_mb * 1e3 / wide.partitions);
  printf("(setup, untimed: %d topic creates + first appends + nd_close "
         "%.1f s)\n",
         topics, wide.build_s);

  r->have_open = 1;
  r->open_partitions = wide.partitions;
  r->clean_ms = wide.clean_ms;
  r->clean_read_bytes = wide.clean_read_bytes;
  r->unclean_small_ms = wide.small_ms;
  r->unclean_large_ms = wide.large_ms;
  r->small_mb = wide.small_mb;
  r->large_mb = wide.large_mb;
  r->tail_mb = wide.tail_mb;
  r->deep_partitions = deep.partitions;
  r->deep_small_ms = deep.small_ms;
  r->deep_large_ms = deep.large_ms;
  r->deep_small_mb = deep.small_mb;
  r->deep_large_mb = deep.large_mb;
  return 0;
}
