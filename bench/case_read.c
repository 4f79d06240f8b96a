/* SPDX-License-Identifier: Apache-2.0 */
/*
 * case_read.c — reads from a warm page cache over one data set: one
 * partition of 100-byte records appended in batches of 100 (a typical
 * producer batch), fsync=never.
 *
 * read:   sequential nd_read in 1 MiB chunks (GB/s of batch bytes) and the
 *         same chunks decoded with nd_iter (records/s).
 * lookup: nd_read of the one batch holding a random offset (max_bytes 1:
 *         the API returns at least one whole batch), nd_offset_for_time of
 *         a random timestamp, and SQLite's point SELECT by primary key over
 *         the same records. Keys come from a fixed seed; each lookup kind
 *         gets an untimed warm-up pass first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

#define READ_CHUNK (1u << 20)
#define DATA_BATCH 100

typedef struct dataset {
  char dir[PATH_MAX];
  nd_store *s;
  int64_t hw;
  size_t n;
  char db[PATH_MAX];
  sqlite_peer *sql;
} dataset;

static int dataset_build(const bench_opts *o, const bench_data *d, int sql,
                         dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->n = o->quick ? 20000 : 1000000;
  if (ds->n > d->n)
    ds->n = d->n;
  if (dir_make_temp(o->root, "read", ds->dir, sizeof ds->dir) ||
      store_open(ds->dir, 0, &ds->s) ||
      topic_make(ds->s, BENCH_TOPIC, 1, ND_FSYNC_NEVER))
    return -1;
  for (size_t i = 0; i < ds->n; i += DATA_BATCH) {
    size_t k = ds->n - i < DATA_BATCH ? ds->n - i : DATA_BATCH;
    int rc = nd_append(ds->s, BENCH_TOPIC, 0, d->recs + i, k, 0, NULL);
    if (rc)
      return bench_fail("nd_append", rc);
  }
  int rc = nd_offsets(ds->s, BENCH_TOPIC, 0, NULL, &ds->hw);
  if (rc)
    return bench_fail("nd_offsets", rc);
  if (sql) {
    snprintf(ds->db, sizeof ds->db, "%s/lookup.db", o->root);
    if (sqlite_peer_open(ds->db, 0, &ds->sql))
      return -1;
    for (size_t i = 0; i < ds->n; i += 10000) {
      size_t k = ds->n - i < 10000 ? ds->n - i : 10000;
      if (sqlite_peer_append(ds->sql, (int64_t)i, d->recs + i, k))
        return -1;
    }
  }
  return 0;
}

static void dataset_free(dataset *ds) {
  if (ds->s)
    nd_close(ds->s);
  if (ds->sql) {
    sqlite_peer_close(ds->sql);
    sqlite_peer_remove(ds->db);
  }
  if (ds->dir[0])
    dir_remove(ds->dir);
}

/* ---- sequential ---------------------------------------------------------- */

/* One pass over the partition; decode: also walk every record. */
static int seq_pass(dataset *ds, int decode, lat_buf *lat, uint64_t *bytes,
                    uint64_t *records) {
  int64_t off = 0;
  while (off < ds->hw) {
    nd_batches b;
    uint64_t a = bench_now_ns();
    int rc = nd_read(ds->s, BENCH_TOPIC, 0, off, READ_CHUNK, &b);
    if (rc)
      return bench_fail("nd_read", rc);
    if (decode) {
      nd_iter it;
      nd_record_view v;
      size_t sum = 0;
      nd_iter_init(&it, b.data, b.len, off, NULL);
      while ((rc = nd_iter_next(&it, &v)) == 1) {
        sum += v.value_len;
        (*records)++;
      }
      nd_iter_close(&it);
      if (rc < 0) {
        nd_free(b.data);
        return bench_fail("nd_iter_next", rc);
      }
      if (sum % BENCH_VALUE_SIZE) {
        nd_free(b.data);
        return bench_fail("decoded value sizes", ND_ECORRUPT);
      }
    } else {
      *records += (uint64_t)(b.next_offset - off);
    }
    uint64_t e = bench_now_ns();
    *bytes += b.len;
    nd_free(b.data);
    if (b.len == 0 || b.next_offset <= off)
      return bench_fail("nd_read made no progress", ND_ECORRUPT);
    off = b.next_offset;
    if (lat && lat_add(lat, e - a))
      return -1;
  }
  return 0;
}

static int seq_run(const bench_opts *o, dataset *ds, int decode, lat_buf *lat,
                   run_stat *st) {
  int passes = o->quick ? 1 : 3;
  uint64_t bytes = 0, records = 0;
  lat->n = 0;
  uint64_t t0 = bench_now_ns();
  for (int p = 0; p < passes; p++)
    if (seq_pass(ds, decode, lat, &bytes, &records))
      return -1;
  uint64_t el = bench_now_ns() - t0;
  if (records != (uint64_t)ds->hw * (uint64_t)passes)
    return bench_fail("sequential read: record count", ND_ECORRUPT);
  *st = stat_of(records, bytes, el, lat);
  return 0;
}

/* ---- lookups ------------------------------------------------------------- */

enum lookup_kind { BY_OFFSET, BY_TIME, SQL_KEY };

static int lookup_one(dataset *ds, const bench_data *d, int kind, int64_t k) {
  int rc;
  if (kind == BY_OFFSET) {
    nd_batches b;
    rc = nd_read(ds->s, BENCH_TOPIC, 0, k, 1, &b);
    if (rc)
      return bench_fail("nd_read", rc);
    int64_t base =
        b.len >= 8
            ? (int64_t)((uint64_t)b.data[0] << 56 | (uint64_t)b.data[1] << 48 |
                        (uint64_t)b.data[2] << 40 | (uint64_t)b.data[3] << 32 |
                        (uint64_t)b.data[4] << 24 | (uint64_t)b.data[5] << 16 |
                        (uint64_t)b.data[6] << 8 | b.data[7])
            : -1;
    nd_free(b.data);
    if (base > k || b.next_offset <= k)
      return bench_fail("nd_read returned the wrong batch", ND_ECORRUPT);
  } else if (kind == BY_TIME) {
    int64_t off, ts;
    rc = nd_offset_for_time(ds->s, BENCH_TOPIC, 0, d->ts0 + k, &off, &ts);
    if (rc)
      return bench_fail("nd_offset_for_time", rc);
    if (off != k)
      return bench_fail("nd_offset_for_time returned the wrong offset",
                        ND_ECORRUPT);
  } else {
    size_t len;
    if (sqlite_peer_get(ds->sql, k, &len))
      return -1;
    if (len != BENCH_VALUE_SIZE)
      return bench_fail("sqlite returned the wrong value", ND_ECORRUPT);
  }
  return 0;
}

static int lookup_run(dataset *ds, const bench_data *d, int kind,
                      const int64_t *keys, size_t n, lat_buf *lat,
                      run_stat *st) {
  lat->n = 0;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    uint64_t a = bench_now_ns();
    if (lookup_one(ds, d, kind, keys[i]))
      return -1;
    uint64_t b = bench_now_ns();
    if (lat_add(lat, b - a))
      return -1;
  }
  *st = stat_of(n, 0, bench_now_ns() - t0, lat);
  st->bps = -1;
  return 0;
}

int case_read_lookup(const bench_opts *o, const bench_data *d,
                     bench_results *r) {
  int do_read = (o->cases & CASE_READ) != 0;
  int do_lookup = (o->cases & CASE_LOOKUP) != 0;
  int ret = -1, runs = o->runs;
  dataset ds;
  lat_buf lat = {0};
  size_t nkeys = o->quick ? 2000 : 200000;
  int64_t *keys = malloc(nkeys * sizeof *keys);
  run_stat *a = calloc((size_t)runs, sizeof *a);
  run_stat *b = calloc((size_t)runs, sizeof *b);
  run_stat *c = calloc((size_t)runs, sizeof *c);
  if (dataset_build(o, d, do_lookup, &ds) || !keys || !a || !b || !c ||
      lat_init(&lat, nkeys))
    goto out;
  char x1[32];
  if (do_read) {
    print_header("sequential read, page cache, 1 MiB nd_read calls", "GB/s",
                 NULL);
    uint64_t bytes = 0, recs = 0;
    if (seq_pass(&ds, 1, NULL, &bytes, &recs)) /* warm up */
      goto out;
    for (int run = 0; run < runs; run++)
      if (seq_run(o, &ds, 0, &lat, &a[run]) ||
          seq_run(o, &ds, 1, &lat, &b[run]))
        goto out;
    r->seq_raw = figure_of(a, runs);
    r->seq_dec = figure_of(b, runs);
    snprintf(x1, sizeof x1, "%.2f", r->seq_raw.bps / 1e9);
    print_row("nodata nd_read (raw batches)", &r->seq_raw, x1, NULL);
    snprintf(x1, sizeof x1, "%.2f", r->seq_dec.bps / 1e9);
    print_row("nodata nd_read + nd_iter", &r->seq_dec, x1, NULL);
    printf("(latency is per 1 MiB nd_read call; decoded includes the read)\n");
    r->have_read = 1;
  }
  if (do_lookup) {
    print_header("random lookups, warm (records/s = lookups/s)", "vs sqlite",
                 NULL);
    uint64_t seed = 0x6c6f6f6b7570ULL;
    for (size_t i = 0; i < nkeys; i++)
      keys[i] = (int64_t)(bench_rand(&seed) % (uint64_t)ds.hw);
    size_t warm = nkeys < 20000 ? nkeys : 20000;
    for (int kind = BY_OFFSET; kind <= SQL_KEY; kind++)
      for (size_t i = 0; i < warm; i++)
        if (lookup_one(&ds, d, kind, keys[nkeys - 1 - i]))
          goto out;
    for (int run = 0; run < runs; run++)
      if (lookup_run(&ds, d, BY_OFFSET, keys, nkeys, &lat, &a[run]) ||
          lookup_run(&ds, d, BY_TIME, keys, nkeys, &lat, &b[run]) ||
          lookup_run(&ds, d, SQL_KEY, keys, nkeys, &lat, &c[run]))
        goto out;
    r->lk_off = figure_of(a, runs);
    r->lk_time = figure_of(b, runs);
    r->lk_sql = figure_of(c, runs);
    char x2[32];
    snprintf(x2, sizeof x2, "%.2fx p99", r->lk_sql.p99_us / r->lk_off.p99_us);
    print_row("nodata by offset (nd_read)", &r->lk_off,
              fmt_ratio(x1, sizeof x1, r->lk_off.rps, r->lk_sql.rps), x2);
    snprintf(x2, sizeof x2, "%.2fx p99", r->lk_sql.p99_us / r->lk_time.p99_us);
    print_row("nodata by time (offset_for_time)", &r->lk_time,
              fmt_ratio(x1, sizeof x1, r->lk_time.rps, r->lk_sql.rps), x2);
    print_row("sqlite SELECT by primary key", &r->lk_sql, NULL, NULL);
    printf("(vs sqlite: lookups/s ratio, and SQLite's p99 over nodata's; "
           "above 1 means nodata is faster)\n");
    r->have_lookup = 1;
  }
  ret = 0;
out:
  dataset_free(&ds);
  lat_free(&lat);
  free(keys);
  free(a);
  free(b);
  free(c);
  return ret;
}
