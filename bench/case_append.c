/* SPDX-License-Identifier: Apache-2.0 */
/*
 * case_append.c — appends of 100-byte records, nodata against its peers.
 *
 * append:  fsync=never, batches of 1, 100 and 1000 records per nd_append
 *          call, one partition. Peers: the same encoded bytes written with
 *          one write() per batch into one file (the ceiling of this disk and
 *          kernel), and SQLite WAL with synchronous=OFF, one transaction per
 *          batch.
 * durable: fsync=always, batches of 100; one writer, then four threads
 *          appending to the same partition (group commit shares one
 *          fdatasync among the appends that arrive while one runs). Peers:
 *          write()+fdatasync per batch, SQLite synchronous=FULL.
 *
 * Runs are interleaved (every system once, then the next run), the order
 * rotated run by run, so a noisy neighbour or a disk still busy with the
 * previous system's data hurts every system alike; the median run is
 * reported. The peers write their files in nodata's partition directory.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

static const size_t batch_sizes[BENCH_NBATCH] = {1, 100, 1000};

static size_t append_count(const bench_opts *o, size_t batch) {
  if (o->quick)
    return batch == 1 ? 2000 : 20000;
  return batch == 1 ? 100000 : 1000000;
}

static size_t min_sz(size_t a, size_t b) {
  return a < b ? a : b;
}

/* ---- fsync never --------------------------------------------------------- */

static int nd_append_run(const bench_opts *o, const bench_data *d, size_t batch,
                         size_t n, const char *dir, lat_buf *lat,
                         run_stat *st) {
  nd_store *s = NULL;
  int ret = -1;
  if (store_open(dir, 0, &s))
    goto out;
  fs_settle(o->root);
  lat->n = 0;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i += batch) {
    size_t k = min_sz(batch, n - i);
    uint64_t a = bench_now_ns();
    int rc = nd_append(s, BENCH_TOPIC, 0, d->recs + i, k, 0, NULL);
    uint64_t b = bench_now_ns();
    if (rc) {
      bench_fail("nd_append", rc);
      goto out;
    }
    if (lat_add(lat, b - a))
      goto out;
  }
  uint64_t el = bench_now_ns() - t0;
  *st = stat_of(n, (uint64_t)n * BENCH_VALUE_SIZE, el, lat);
  ret = 0;
out:
  if (s) {
    int rc = nd_close(s);
    if (rc && !ret)
      ret = bench_fail("nd_close", rc);
  }
  return ret;
}

/* The directory of partition 0 of the bench topic in a store: the peers
 * write their files there, beside nodata's segment, so that the file
 * system places all three alike (a different directory can land in a
 * different block group, and on a thin-provisioned virtual disk that alone
 * moved fdatasync latency by a third between invocations). */
static void partition_dir(const char *store, char *out, size_t cap) {
  char hex[65];
  nd_topic_dirname(BENCH_TOPIC, hex);
  snprintf(out, cap, "%s/topics/%s/0", store, hex);
}

/* A fresh store in a new directory under the scratch root holding the
 * empty bench topic, made before a run so that the systems can run in any
 * order (the peers write into its partition directory). */
static int prepare_store(const bench_opts *o, const char *tag, int fsync_policy,
                         char *dir, size_t cap) {
  if (dir_make_temp(o->root, tag, dir, cap))
    return -1;
  nd_store *s;
  int ret = store_open(dir, 1, &s);
  if (!ret) {
    ret = topic_make(s, BENCH_TOPIC, 1, fsync_policy);
    int rc = nd_close(s);
    if (rc && !ret)
      ret = bench_fail("nd_close", rc);
  }
  if (ret)
    dir_remove(dir);
  return ret;
}

/* One write() per batch of the bytes nodata stored, optionally followed by
 * fdatasync. deadline_ns 0: write them all once; otherwise cycle through
 * them until the deadline. */
static int raw_run(const bench_opts *o, const char *dir, const uint8_t *buf,
                   const size_t *lens, size_t nb, size_t per_batch,
                   size_t total_records, int durable, uint64_t duration_ns,
                   lat_buf *lat, run_stat *st) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/raw.log", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return bench_fail_errno(path);
  fs_settle(o->root);
  int ret = -1;
  lat->n = 0;
  uint64_t records = 0;
  uint64_t t0 = bench_now_ns(), deadline = t0 + duration_ns;
  size_t pos = 0, i = 0;
  for (;;) {
    if (duration_ns ? bench_now_ns() >= deadline : i == nb)
      break;
    if (i == nb) {
      i = 0;
      pos = 0;
    }
    uint64_t a = bench_now_ns();
    int rc = write_all(fd, buf + pos, lens[i]);
    if (!rc && durable && fdatasync(fd) != 0)
      rc = -1;
    uint64_t b = bench_now_ns();
    if (rc) {
      bench_fail_errno("raw write");
      goto out;
    }
    if (lat_add(lat, b - a))
      goto out;
    size_t k = min_sz(per_batch, total_records - i * per_batch);
    records += k;
    pos += lens[i];
    i++;
  }
  uint64_t el = bench_now_ns() - t0;
  *st = stat_of(records, records * BENCH_VALUE_SIZE, el, lat);
  ret = 0;
out:
  close(fd);
  unlink(path);
  return ret;
}

static int sql_run(const bench_opts *o, const char *dir, const bench_data *d,
                   size_t batch, size_t n, int durable, uint64_t duration_ns,
                   lat_buf *lat, run_stat *st) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/peer.db", dir);
  sqlite_peer_remove(path);
  sqlite_peer *p;
  if (sqlite_peer_open(path, durable, &p))
    return -1;
  fs_settle(o->root);
  int ret = -1;
  lat->n = 0;
  uint64_t records = 0;
  uint64_t t0 = bench_now_ns(), deadline = t0 + duration_ns;
  for (size_t i = 0;; i += batch) {
    if (duration_ns ? bench_now_ns() >= deadline : i >= n)
      break;
    size_t at = duration_ns ? i % (n - batch + 1) : i;
    size_t k = min_sz(batch, n - at);
    uint64_t a = bench_now_ns();
    int rc = sqlite_peer_append(p, (int64_t)i, d->recs + at, k);
    uint64_t b = bench_now_ns();
    if (rc)
      goto out;
    if (lat_add(lat, b - a))
      goto out;
    records += k;
  }
  uint64_t el = bench_now_ns() - t0;
  *st = stat_of(records, records * BENCH_VALUE_SIZE, el, lat);
  ret = 0;
out:
  sqlite_peer_close(p);
  sqlite_peer_remove(path);
  return ret;
}

int case_append(const bench_opts *o, const bench_data *d, bench_results *r) {
  int ret = -1;
  run_stat *nd = calloc((size_t)o->runs, sizeof *nd);
  run_stat *raw = calloc((size_t)o->runs, sizeof *raw);
  run_stat *sql = calloc((size_t)o->runs, sizeof *sql);
  lat_buf lat = {0};
  uint8_t *buf = NULL;
  size_t *lens = NULL;
  if (!nd || !raw || !sql || lat_init(&lat, 1u << 16))
    goto out;
  print_header("append, fsync=never, 1 partition, 100-byte values", "vs raw",
               "vs sqlite");
  for (int b = 0; b < BENCH_NBATCH; b++) {
    size_t batch = batch_sizes[b], n = append_count(o, batch);
    if (n > d->n)
      n = d->n;
    size_t len, nb;
    if (encode_batches(o, d, batch, n, &buf, &len, &lens, &nb))
      goto out;
    for (int run = 0; run < o->runs; run++) {
      char dir[PATH_MAX], pdir[PATH_MAX];
      if (prepare_store(o, "append", ND_FSYNC_NEVER, dir, sizeof dir))
        goto out;
      partition_dir(dir, pdir, sizeof pdir);
      int bad = 0;
      /* Rotate the order run by run: whoever runs first after a cleanup
       * may find the disk in a different state. */
      for (int k = 0; k < 3 && !bad; k++) {
        int which = (run + k) % 3;
        if (which == 0)
          bad = nd_append_run(o, d, batch, n, dir, &lat, &nd[run]);
        else if (which == 1)
          bad =
              raw_run(o, pdir, buf, lens, nb, batch, n, 0, 0, &lat, &raw[run]);
        else
          bad = sql_run(o, pdir, d, batch, n, 0, 0, &lat, &sql[run]);
      }
      dir_remove(dir);
      if (bad)
        goto out;
    }
    free(buf);
    free(lens);
    buf = NULL;
    lens = NULL;
    r->append_batch[b] = batch;
    r->app_nd[b] = figure_of(nd, o->runs);
    r->app_raw[b] = figure_of(raw, o->runs);
    r->app_sql[b] = figure_of(sql, o->runs);
    char name[64], x1[32], x2[32];
    snprintf(name, sizeof name, "nodata        batch=%zu", batch);
    print_row(name, &r->app_nd[b],
              fmt_ratio(x1, sizeof x1, r->app_nd[b].rps, r->app_raw[b].rps),
              fmt_ratio(x2, sizeof x2, r->app_nd[b].rps, r->app_sql[b].rps));
    snprintf(name, sizeof name, "raw write()   batch=%zu", batch);
    print_row(name, &r->app_raw[b], NULL, NULL);
    snprintf(name, sizeof name, "sqlite WAL    batch=%zu", batch);
    print_row(name, &r->app_sql[b], NULL, NULL);
  }
  r->have_append = 1;
  ret = 0;
out:
  free(buf);
  free(lens);
  lat_free(&lat);
  free(nd);
  free(raw);
  free(sql);
  return ret;
}

/* ---- fsync always -------------------------------------------------------- */

#define DURABLE_BATCH 100
#define WRITERS 4

/* Holds the writers until all exist, so they start together. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
} gate;

typedef struct writer {
  nd_store *s;
  const bench_data *d;
  gate *start;
  uint64_t duration_ns;
  size_t first; /* where in the record set this writer starts */
  lat_buf lat;
  uint64_t records;
  uint64_t end_ns;
  int rc;
} writer;

static void *writer_main(void *arg) {
  writer *w = arg;
  pthread_mutex_lock(&w->start->mu);
  while (!w->start->open)
    pthread_cond_wait(&w->start->cv, &w->start->mu);
  pthread_mutex_unlock(&w->start->mu);
  uint64_t deadline = bench_now_ns() + w->duration_ns;
  size_t span = w->d->n - DURABLE_BATCH + 1, at = w->first % span;
  while (bench_now_ns() < deadline) {
    uint64_t a = bench_now_ns();
    int rc = nd_append(w->s, BENCH_TOPIC, 0, w->d->recs + at, DURABLE_BATCH, 0,
                       NULL);
    uint64_t b = bench_now_ns();
    if (rc) {
      w->rc = bench_fail("nd_append (fsync=always)", rc);
      break;
    }
    if (lat_add(&w->lat, b - a)) {
      w->rc = -1;
      break;
    }
    w->records += DURABLE_BATCH;
    at = (at + DURABLE_BATCH) % span;
  }
  w->end_ns = bench_now_ns();
  return NULL;
}

/* nwriters threads appending to partition 0 of an fsync=always topic. */
static int nd_durable_run(const bench_opts *o, const bench_data *d,
                          int nwriters, uint64_t duration_ns, const char *dir,
                          lat_buf *lat, run_stat *st) {
  nd_store *s = NULL;
  int ret = -1, started = 0;
  writer w[WRITERS];
  pthread_t th[WRITERS];
  gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  memset(w, 0, sizeof w);
  if (store_open(dir, 0, &s))
    goto out;
  fs_settle(o->root);
  for (int i = 0; i < nwriters; i++) {
    w[i].s = s;
    w[i].d = d;
    w[i].start = &start;
    w[i].duration_ns = duration_ns;
    w[i].first = (size_t)i * (d->n / (size_t)nwriters);
    if (lat_init(&w[i].lat, 4096))
      break;
    if (pthread_create(&th[i], NULL, writer_main, &w[i]) != 0) {
      lat_free(&w[i].lat);
      bench_fail_errno("pthread_create");
      break;
    }
    started++;
  }
  pthread_mutex_lock(&start.mu);
  start.open = 1;
  pthread_cond_broadcast(&start.cv);
  pthread_mutex_unlock(&start.mu);
  uint64_t t0 = bench_now_ns(), t1 = t0, records = 0;
  int wrc = 0;
  lat->n = 0;
  for (int i = 0; i < started; i++) {
    pthread_join(th[i], NULL);
    if (w[i].end_ns > t1)
      t1 = w[i].end_ns;
    records += w[i].records;
    if (w[i].rc)
      wrc = -1;
    for (size_t k = 0; k < w[i].lat.n && !wrc; k++)
      if (lat_add(lat, w[i].lat.ns[k]))
        wrc = -1;
    lat_free(&w[i].lat);
  }
  if (wrc || started < nwriters)
    goto out;
  *st = stat_of(records, records * BENCH_VALUE_SIZE, t1 - t0, lat);
  ret = 0;
out:
  if (s) {
    int rc = nd_close(s);
    if (rc && !ret)
      ret = bench_fail("nd_close", rc);
  }
  return ret;
}

int case_durable(const bench_opts *o, const bench_data *d, bench_results *r) {
  int ret = -1;
  run_stat *nd1 = calloc((size_t)o->runs, sizeof *nd1);
  run_stat *nd4 = calloc((size_t)o->runs, sizeof *nd4);
  run_stat *raw = calloc((size_t)o->runs, sizeof *raw);
  run_stat *sql = calloc((size_t)o->runs, sizeof *sql);
  lat_buf lat = {0};
  uint8_t *buf = NULL;
  size_t *lens = NULL, len, nb;
  /* Bounded by time, not count: an fdatasync costs what the disk says. */
  uint64_t dur = o->quick ? 50000000u : 1000000000u;
  size_t n = d->n < 100000 ? d->n : 100000;
  if (!nd1 || !nd4 || !raw || !sql || lat_init(&lat, 1u << 14) ||
      encode_batches(o, d, DURABLE_BATCH, n, &buf, &len, &lens, &nb))
    goto out;
  print_header("durable append, fsync=always, batches of 100, 1 partition",
               "vs raw", "vs sqlite");
  for (int run = 0; run < o->runs; run++) {
    char d1[PATH_MAX], d4[PATH_MAX], pdir[PATH_MAX];
    if (prepare_store(o, "durable", ND_FSYNC_ALWAYS, d1, sizeof d1))
      goto out;
    if (prepare_store(o, "durable", ND_FSYNC_ALWAYS, d4, sizeof d4)) {
      dir_remove(d1);
      goto out;
    }
    partition_dir(d1, pdir, sizeof pdir);
    int bad = 0;
    for (int k = 0; k < 4 && !bad; k++) {
      int which = (run + k) % 4;
      if (which == 0)
        bad = nd_durable_run(o, d, 1, dur, d1, &lat, &nd1[run]);
      else if (which == 1)
        bad = nd_durable_run(o, d, WRITERS, dur, d4, &lat, &nd4[run]);
      else if (which == 2)
        bad = raw_run(o, pdir, buf, lens, nb, DURABLE_BATCH, n, 1, dur, &lat,
                      &raw[run]);
      else
        bad = sql_run(o, pdir, d, DURABLE_BATCH, d->n, 1, dur, &lat, &sql[run]);
    }
    dir_remove(d1);
    dir_remove(d4);
    if (bad)
      goto out;
  }
  r->dur_nd1 = figure_of(nd1, o->runs);
  r->dur_nd4 = figure_of(nd4, o->runs);
  r->dur_raw = figure_of(raw, o->runs);
  r->dur_sql = figure_of(sql, o->runs);
  char x1[32], x2[32];
  print_row("nodata        1 writer", &r->dur_nd1,
            fmt_ratio(x1, sizeof x1, r->dur_nd1.rps, r->dur_raw.rps),
            fmt_ratio(x2, sizeof x2, r->dur_nd1.rps, r->dur_sql.rps));
  print_row("nodata        4 writers", &r->dur_nd4,
            fmt_ratio(x1, sizeof x1, r->dur_nd4.rps, r->dur_raw.rps),
            fmt_ratio(x2, sizeof x2, r->dur_nd4.rps, r->dur_sql.rps));
  print_row("raw write()+fdatasync", &r->dur_raw, NULL, NULL);
  print_row("sqlite WAL synchronous=FULL", &r->dur_sql, NULL, NULL);
  printf("group commit: 4 writers / 1 writer = %s\n",
         fmt_ratio(x1, sizeof x1, r->dur_nd4.rps, r->dur_nd1.rps));
  r->have_durable = 1;
  ret = 0;
out:
  free(buf);
  free(lens);
  lat_free(&lat);
  free(nd1);
  free(nd4);
  free(raw);
  free(sql);
  return ret;
}
