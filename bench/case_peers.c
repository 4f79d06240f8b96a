/* SPDX-License-Identifier: Apache-2.0 */
/*
 * case_peers.c — the peer workload of issue 17, the same for every system:
 * N 100-byte records (2 M; 20 k with --quick) appended in batches of 1000,
 * read back in order decoding every record, then 100 k random lookups by
 * offset (fixed seed, after an untimed warm-up of 10 k), warm page cache.
 * Runs interleave the systems (each run builds every system's data afresh,
 * in the same order), and the medians are printed with ratios to LMDB.
 *
 *   nodata        nd_append; nd_reader_next; nd_reader_get (nodata.h)
 *   nodata copy   the same store read the copying way: nd_read of 1 MiB
 *                 + nd_iter; a lookup is nd_read of the batch + nd_iter to
 *                 the record (the path before nd_reader)
 *   raw           one file of [u32 length][value] written with one write()
 *                 per batch, and an in-memory array of record positions:
 *                 a lookup is one pread of the record, the sequential read
 *                 1 MiB preads walked by length (the ceiling: no format,
 *                 no checks, index in RAM)
 *   LMDB          peer_lmdb.c (MDB_NOSYNC, MDB_APPEND, reused read txn)
 *   SQLite        peer_sqlite.c (WAL, synchronous=OFF, rowid lookups)
 *
 * nodata's lookups are also timed with a new reader, before the warm-up:
 * a reader learns where records lie in the batches it looks into (see
 * lookup.c), so that row is what a lookup costs in a batch it has not
 * visited yet.
 *
 * Every lookup checks it got a 100-byte value (and nodata's, the offset
 * asked for), so no system is timed returning nothing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_int.h"

#define PEER_BATCH 1000
#define RAW_CHUNK (1u << 20)

static const char *const sys_name[PEER_NSYS] = {
    "nodata (nd_reader)", "nodata copy (nd_read+nd_iter)",
    "raw file + memory index", "LMDB", "SQLite"};

typedef struct peers {
  size_t n;
  const bench_data *d;
  char dir[PATH_MAX];
  nd_store *s;
  nd_reader *rd;
  int raw_fd;
  uint64_t *raw_pos; /* position of each record's length prefix */
  uint8_t *raw_buf;
  lmdb_peer *lmdb;
  sqlite_peer *sql;
} peers;

static const nd_record *rec_at(const peers *p, size_t i) {
  return &p->d->recs[i % p->d->n];
}

/* ---- per system: open + append, scan, get, close ------------------------ */

static int raw_append(peers *p, size_t first, size_t k, uint64_t *end) {
  uint8_t *q = p->raw_buf;
  for (size_t j = 0; j < k; j++) {
    const nd_record *r = rec_at(p, first + j);
    uint32_t len = (uint32_t)r->value_len;
    p->raw_pos[first + j] = *end + (uint64_t)(q - p->raw_buf);
    memcpy(q, &len, 4);
    memcpy(q + 4, r->value, len);
    q += 4 + len;
  }
  size_t bytes = (size_t)(q - p->raw_buf);
  *end += bytes;
  return write_all(p->raw_fd, p->raw_buf, bytes) ? bench_fail_errno("write")
                                                 : 0;
}

/* Make system sys's data: open it and append all N records (timed). */
static int sys_build(peers *p, int sys, lat_buf *lat, run_stat *st) {
  char path[PATH_MAX + 16];
  if (sys == PEER_NODATA_COPY)
    return 0; /* reads nodata's store */
  snprintf(path, sizeof path, "%s/%d", p->dir, sys);
  if (mkdir(path, 0755))
    return bench_fail_errno(path);
  int rc = 0;
  if (sys == PEER_NODATA) {
    rc = store_open(path, 1, &p->s) ||
         topic_make(p->s, BENCH_TOPIC, 1, ND_FSYNC_NEVER);
  } else if (sys == PEER_RAW) {
    snprintf(path + strlen(path), 16, "/raw");
    p->raw_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (p->raw_fd < 0)
      return bench_fail_errno(path);
  } else if (sys == PEER_LMDB) {
    rc = lmdb_peer_open(path, &p->lmdb);
  } else {
    snprintf(path + strlen(path), 16, "/db");
    rc = sqlite_peer_open(path, 0, &p->sql);
  }
  if (rc)
    return -1;
  lat->n = 0;
  uint64_t end = 0, t0 = bench_now_ns();
  nd_record batch[PEER_BATCH];
  for (size_t i = 0; i < p->n && !rc; i += PEER_BATCH) {
    size_t k = p->n - i < PEER_BATCH ? p->n - i : PEER_BATCH;
    uint64_t a = bench_now_ns();
    if (sys == PEER_NODATA) {
      for (size_t j = 0; j < k; j++)
        batch[j] = *rec_at(p, i + j);
      rc = nd_append(p->s, BENCH_TOPIC, 0, batch, k, 0, NULL);
      if (rc)
        return bench_fail("nd_append", rc);
    } else if (sys == PEER_RAW) {
      rc = raw_append(p, i, k, &end);
    } else if (sys == PEER_LMDB) {
      for (size_t j = 0; j < k; j++)
        batch[j] = *rec_at(p, i + j);
      rc = lmdb_peer_append(p->lmdb, (int64_t)i, batch, k);
    } else {
      for (size_t j = 0; j < k; j++)
        batch[j] = *rec_at(p, i + j);
      rc = sqlite_peer_append(p->sql, (int64_t)i, batch, k);
    }
    if (!rc && lat_add(lat, bench_now_ns() - a))
      return -1;
  }
  if (rc)
    return -1;
  *st = stat_of(p->n, (uint64_t)p->n * BENCH_VALUE_SIZE, bench_now_ns() - t0,
                lat);
  if (sys == PEER_NODATA &&
      (rc = nd_reader_open(p->s, BENCH_TOPIC, 0, 0, NULL, &p->rd)) != 0)
    return bench_fail("nd_reader_open", rc);
  return 0;
}

static void sys_close(peers *p, int sys) {
  if (sys == PEER_NODATA_COPY) {
    /* the last to read nodata's store: close it now */
    nd_reader_close(p->rd);
    p->rd = NULL;
    if (p->s)
      nd_close(p->s);
    p->s = NULL;
  } else if (sys == PEER_RAW && p->raw_fd >= 0) {
    close(p->raw_fd);
    p->raw_fd = -1;
  } else if (sys == PEER_LMDB) {
    lmdb_peer_close(p->lmdb);
    p->lmdb = NULL;
  } else if (sys == PEER_SQLITE) {
    sqlite_peer_close(p->sql);
    p->sql = NULL;
  }
  if (sys != PEER_NODATA) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%d", p->dir,
             sys == PEER_NODATA_COPY ? PEER_NODATA : sys);
    dir_remove(path);
  }
}

static int nodata_copy_scan(peers *p, uint64_t *records, uint64_t *bytes) {
  int64_t off = 0;
  for (;;) {
    nd_batches b;
    int rc = nd_read(p->s, BENCH_TOPIC, 0, off, RAW_CHUNK, &b);
    if (rc)
      return bench_fail("nd_read", rc);
    if (b.len == 0)
      return 0;
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    while ((rc = nd_iter_next(&it, &v)) == 1) {
      (*records)++;
      *bytes += v.value_len;
    }
    nd_iter_close(&it);
    nd_free(b.data);
    if (rc < 0)
      return bench_fail("nd_iter_next", rc);
    off = b.next_offset;
  }
}

static int raw_scan(peers *p, uint64_t *records, uint64_t *bytes) {
  uint64_t pos = 0;
  for (;;) {
    ssize_t n = pread(p->raw_fd, p->raw_buf, RAW_CHUNK, (off_t)pos);
    if (n < 0)
      return bench_fail_errno("pread");
    size_t used = 0;
    while (used + 4 <= (size_t)n) {
      uint32_t len;
      memcpy(&len, p->raw_buf + used, 4);
      if (used + 4 + len > (size_t)n)
        break;
      (*records)++;
      *bytes += len;
      used += 4 + len;
    }
    if (used == 0)
      return 0;
    pos += used;
  }
}

/* Read every record in order (timed by the caller). */
static int sys_scan(peers *p, int sys, uint64_t *records, uint64_t *bytes) {
  if (sys == PEER_NODATA) {
    nd_record_view v;
    int rc = nd_reader_seek(p->rd, 0);
    if (rc)
      return bench_fail("nd_reader_seek", rc);
    while ((rc = nd_reader_next(p->rd, &v)) == 1) {
      (*records)++;
      *bytes += v.value_len;
    }
    return rc ? bench_fail("nd_reader_next", rc) : 0;
  }
  if (sys == PEER_NODATA_COPY)
    return nodata_copy_scan(p, records, bytes);
  if (sys == PEER_RAW)
    return raw_scan(p, records, bytes);
  if (sys == PEER_LMDB)
    return lmdb_peer_scan(p->lmdb, records, bytes);
  return sqlite_peer_scan(p->sql, records, bytes);
}

static int nodata_copy_get(peers *p, int64_t k, size_t *len) {
  nd_batches b;
  int rc = nd_read(p->s, BENCH_TOPIC, 0, k, 1, &b);
  if (rc)
    return bench_fail("nd_read", rc);
  nd_iter it;
  nd_record_view v;
  nd_iter_init(&it, b.data, b.len, k, NULL);
  rc = nd_iter_next(&it, &v);
  *len = rc == 1 && v.offset == k ? v.value_len : 0;
  nd_iter_close(&it);
  nd_free(b.data);
  return rc < 0 ? bench_fail("nd_iter_next", rc) : 0;
}

static int sys_get(peers *p, int sys, int64_t k, size_t *len) {
  if (sys == PEER_NODATA) {
    nd_record_view v;
    int rc = nd_reader_get(p->rd, k, &v);
    if (rc)
      return bench_fail("nd_reader_get", rc);
    *len = v.offset == k ? v.value_len : 0;
    return 0;
  }
  if (sys == PEER_NODATA_COPY)
    return nodata_copy_get(p, k, len);
  if (sys == PEER_RAW) {
    ssize_t n = pread(p->raw_fd, p->raw_buf, 4 + BENCH_VALUE_SIZE,
                      (off_t)p->raw_pos[k]);
    uint32_t l = 0;
    if (n >= 4)
      memcpy(&l, p->raw_buf, 4);
    *len = n == 4 + BENCH_VALUE_SIZE ? l : 0;
    return n < 0 ? bench_fail_errno("pread") : 0;
  }
  if (sys == PEER_LMDB)
    return lmdb_peer_get(p->lmdb, k, len);
  return sqlite_peer_get(p->sql, k, len);
}

/* ---- one run of one system ------------------------------------------------
 */

/* Time nkeys lookups of keys by sys. */
static int time_lookups(peers *p, int sys, const int64_t *keys, size_t nkeys,
                        lat_buf *lat, run_stat *st) {
  size_t len;
  lat->n = 0;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < nkeys; i++) {
    uint64_t a = bench_now_ns();
    if (sys_get(p, sys, keys[i], &len))
      return -1;
    uint64_t b = bench_now_ns();
    if (len != BENCH_VALUE_SIZE)
      return bench_fail("lookup returned the wrong record", ND_ECORRUPT);
    if (lat_add(lat, b - a))
      return -1;
  }
  *st = stat_of(nkeys, 0, bench_now_ns() - t0, lat);
  st->bps = -1;
  return 0;
}

/* nodata's lookups with a reader that has looked into no batch yet (its
 * table of record positions empty): what the first lookup in each batch
 * costs. A reader of its own, so the warm figure is not helped by it. */
static int nodata_cold(peers *p, const int64_t *keys, size_t nkeys,
                       lat_buf *lat, run_stat *cold) {
  nd_reader *warm = p->rd;
  int rc = nd_reader_open(p->s, BENCH_TOPIC, 0, 0, NULL, &p->rd);
  if (rc) {
    p->rd = warm;
    return bench_fail("nd_reader_open", rc);
  }
  rc = time_lookups(p, PEER_NODATA, keys, nkeys, lat, cold);
  nd_reader_close(p->rd);
  p->rd = warm;
  return rc;
}

static int sys_run(peers *p, int sys, const int64_t *keys, size_t nkeys,
                   size_t warm, lat_buf *lat, run_stat *app, run_stat *seq,
                   run_stat *lk, run_stat *cold) {
  if (sys_build(p, sys, lat, app))
    return -1;
  uint64_t records = 0, bytes = 0;
  if (sys_scan(p, sys, &records, &bytes)) /* warm-up */
    return -1;
  records = bytes = 0;
  uint64_t t0 = bench_now_ns();
  if (sys_scan(p, sys, &records, &bytes))
    return -1;
  *seq = stat_of(records, bytes, bench_now_ns() - t0, NULL);
  if (records != p->n || bytes != (uint64_t)p->n * BENCH_VALUE_SIZE)
    return bench_fail("sequential read: record count", ND_ECORRUPT);
  if (sys == PEER_NODATA && nodata_cold(p, keys, nkeys, lat, cold))
    return -1;
  size_t len;
  for (size_t i = 0; i < warm; i++)
    if (sys_get(p, sys, keys[nkeys - 1 - i], &len))
      return -1;
  if (time_lookups(p, sys, keys, nkeys, lat, lk))
    return -1;
  sys_close(p, sys);
  return 0;
}

static void print_table(const char *title, const figure *f, int timed_lat) {
  print_header(title, "vs LMDB", NULL);
  char x[32];
  for (int sys = 0; sys < PEER_NSYS; sys++) {
    figure g = f[sys];
    if (!timed_lat)
      g.p50_us = g.p99_us = -1;
    print_row(sys_name[sys], &g,
              fmt_ratio(x, sizeof x, f[sys].rps, f[PEER_LMDB].rps), NULL);
  }
}

int case_peers(const bench_opts *o, const bench_data *d, bench_results *r) {
  int ret = -1, runs = o->runs;
  peers p = {.n = o->quick ? 20000 : 2000000, .d = d, .raw_fd = -1};
  size_t nkeys = o->quick ? 2000 : 100000, warm = o->quick ? 500 : 10000;
  int64_t *keys = malloc(nkeys * sizeof *keys);
  run_stat *st = calloc((size_t)runs * PEER_NSYS * 4, sizeof *st);
  run_stat *col = calloc((size_t)runs, sizeof *col);
  lat_buf lat = {0};
  p.raw_pos = malloc(p.n * sizeof *p.raw_pos);
  p.raw_buf = malloc(RAW_CHUNK + PEER_BATCH * (4 + BENCH_VALUE_SIZE));
  if (!keys || !st || !col || !p.raw_pos || !p.raw_buf ||
      lat_init(&lat, nkeys) ||
      dir_make_temp(o->root, "peers", p.dir, sizeof p.dir))
    goto out;
  uint64_t seed = 0x7065657273ULL;
  for (size_t i = 0; i < nkeys; i++)
    keys[i] = (int64_t)(bench_rand(&seed) % (uint64_t)p.n);
  printf("\n(peer workload: %zu x %d B appended in batches of %d, read in "
         "order, %zu random lookups by offset; %s, SQLite %s)\n",
         p.n, BENCH_VALUE_SIZE, PEER_BATCH, nkeys, lmdb_peer_version(),
         sqlite_peer_version());
  for (int run = 0; run < runs; run++)
    for (int sys = 0; sys < PEER_NSYS; sys++) {
      run_stat *s4 = &st[((size_t)run * PEER_NSYS + (size_t)sys) * 4];
      fs_settle(p.dir);
      if (sys_run(&p, sys, keys, nkeys, warm, &lat, &s4[0], &s4[1], &s4[2],
                  &s4[3]))
        goto out;
    }
  for (int k = 0; k < 4; k++)
    for (int sys = 0; sys < PEER_NSYS; sys++) {
      for (int run = 0; run < runs; run++)
        col[run] = st[((size_t)run * PEER_NSYS + (size_t)sys) * 4 + (size_t)k];
      figure f = figure_of(col, runs);
      if (k == 0)
        r->pe_app[sys] = f;
      else if (k == 1)
        r->pe_seq[sys] = f;
      else if (k == 2)
        r->pe_lk[sys] = f;
      else if (sys == PEER_NODATA)
        r->pe_lk_cold = f;
    }
  r->pe_app[PEER_NODATA_COPY].ok = 0; /* it appends nothing of its own */
  print_table("peers: append, batches of 1000, no fsync", r->pe_app, 1);
  print_table("peers: sequential read, every record decoded", r->pe_seq, 0);
  print_table("peers: random lookup by offset, warm", r->pe_lk, 1);
  char x[32];
  print_row("nodata, new reader (no positions)", &r->pe_lk_cold,
            fmt_ratio(x, sizeof x, r->pe_lk_cold.rps, r->pe_lk[PEER_LMDB].rps),
            NULL);
  printf("(vs LMDB: records/s or lookups/s over LMDB's; append latency is "
         "per batch of 1000, lookup latency per lookup)\n");
  r->have_peers = 1;
  ret = 0;
out:
  for (int sys = 0; sys < PEER_NSYS; sys++)
    sys_close(&p, sys);
  if (p.dir[0])
    dir_remove(p.dir);
  lat_free(&lat);
  free(keys);
  free(st);
  free(col);
  free(p.raw_pos);
  free(p.raw_buf);
  return ret;
}
