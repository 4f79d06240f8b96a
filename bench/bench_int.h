/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_int.h — what the benchmark's files share: options, clocks,
 * latency samples and medians, the record set, scratch directories, the
 * peers (plain write() and SQLite) and the figures the summary needs.
 *
 * Units: append and lookup rates are records (or lookups) per second; MB/s
 * counts the 100-byte values (1 MB = 1e6 bytes), so every peer is charged
 * for the same payload; sequential-read GB/s counts the batch bytes
 * returned (1 GB = 1e9 bytes). Latencies are per call, in microseconds.
 */
#ifndef ND_BENCH_INT_H
#define ND_BENCH_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nodata.h"

#define BENCH_VALUE_SIZE 100
#define BENCH_TOPIC "bench"

enum bench_case {
  CASE_APPEND = 1 << 0,
  CASE_DURABLE = 1 << 1,
  CASE_READ = 1 << 2,
  CASE_LOOKUP = 1 << 3,
  CASE_OPEN = 1 << 4,
  CASE_PEERS = 1 << 5,
  CASE_GROUPS = 1 << 6,
  CASE_ALL = (1 << 7) - 1,
};

typedef struct bench_opts {
  char root[PATH_MAX]; /* scratch directory of this run, removed at the end */
  int runs;
  int quick;
  unsigned cases; /* enum bench_case */
} bench_opts;

/* ---- clock and statistics ----------------------------------------------- */

uint64_t bench_now_ns(void);

/* Per-call latencies of one run. Grows as needed: deadline-bound runs do
 * not know their call count up front. */
typedef struct lat_buf {
  uint64_t *ns;
  size_t n, cap;
} lat_buf;

int lat_init(lat_buf *l, size_t cap);
int lat_add(lat_buf *l, uint64_t ns);
void lat_free(lat_buf *l);

/* One run's figures. */
typedef struct run_stat {
  double rps;    /* records (or lookups) per second */
  double bps;    /* bytes per second (see Units above) */
  double p50_us; /* per call; < 0 when not measured */
  double p99_us;
} run_stat;

/* The median of each field over the runs. ok is 0 when nothing ran. */
typedef struct figure {
  double rps, bps, p50_us, p99_us;
  int ok;
} figure;

/* Figures of one run; sorts lat in place (it may be NULL). */
run_stat stat_of(uint64_t records, uint64_t bytes, uint64_t elapsed_ns,
                 lat_buf *lat);
figure figure_of(const run_stat *runs, int n);
double median_of(double *v, int n); /* sorts v */

/* ---- data ---------------------------------------------------------------- */

/* The records every case appends: 100-byte random-ish values from a fixed
 * seed, no key, timestamps ts0 + i ms (so lookups by time have an answer). */
typedef struct bench_data {
  uint8_t *pool;
  nd_record *recs;
  size_t n;
  int64_t ts0;
} bench_data;

int data_init(bench_data *d, size_t n);
void data_free(bench_data *d);

/* A fixed-seed generator for lookup keys (xorshift64*). */
uint64_t bench_rand(uint64_t *state);

/* ---- files --------------------------------------------------------------- */

/* mkdtemp under parent; out gets the path. */
int dir_make_temp(const char *parent, const char *prefix, char *out,
                  size_t cap);
/* rm -r path (no error if it does not exist). */
int dir_remove(const char *path);
/* Flush the file system holding path so dirty pages from an earlier run are
 * not written back in the middle of the next measurement. */
void fs_settle(const char *path);
int write_all(int fd, const void *buf, size_t len);

/* Print "nodata-bench: error: what: <error> (<context>)" and return -1. */
int bench_fail(const char *what, int rc);
/* Same for an errno failure. */
int bench_fail_errno(const char *what);

/* Open a store in dir with default options (background on or off). */
int store_open(const char *dir, int no_background, nd_store **out);
/* Create `topic` with `partitions` and the fsync policy given. */
int topic_make(nd_store *s, const char *topic, int32_t partitions,
               int fsync_policy);

/* The exact bytes nodata stores for `n` records appended `batch` at a time
 * (so the raw write() peer writes the same bytes in the same chunks):
 * encoded by nd_batch_encode at their base offsets. *lens gets each batch's
 * length, *nbatches their count. Caller frees *buf and *lens with free(). */
int encode_batches(const bench_opts *o, const bench_data *d, size_t batch,
                   size_t n, uint8_t **buf, size_t *len, size_t **lens,
                   size_t *nbatches);

/* ---- the SQLite peer ----------------------------------------------------- */

typedef struct sqlite_peer sqlite_peer;

/* WAL mode, table log(offset INTEGER PRIMARY KEY, value BLOB);
 * synchronous=FULL when durable, OFF otherwise. */
int sqlite_peer_open(const char *path, int durable, sqlite_peer **out);
/* Insert recs as offsets first.. in one transaction. */
int sqlite_peer_append(sqlite_peer *p, int64_t first, const nd_record *recs,
                       size_t n);
/* Point SELECT by primary key; *len gets the value's length. */
int sqlite_peer_get(sqlite_peer *p, int64_t offset, size_t *len);
void sqlite_peer_close(sqlite_peer *p);
/* Remove the database and its -wal and -shm files. */
void sqlite_peer_remove(const char *path);
const char *sqlite_peer_version(void);

/* ---- the LMDB peer (peer_lmdb.c; built when liblmdb is found) ---------- */

typedef struct lmdb_peer lmdb_peer;

/* An environment in directory dir (which must exist), MDB_NOSYNC, one
 * MDB_INTEGERKEY database of offset -> value. */
int lmdb_peer_open(const char *dir, lmdb_peer **out);
/* Put recs as offsets first.. in one write transaction (MDB_APPEND). */
int lmdb_peer_append(lmdb_peer *p, int64_t first, const nd_record *recs,
                     size_t n);
/* mdb_get of one offset in the reused read transaction. */
int lmdb_peer_get(lmdb_peer *p, int64_t offset, size_t *len);
/* Walk every record with a cursor; adds to *records and *bytes. */
int lmdb_peer_scan(lmdb_peer *p, uint64_t *records, uint64_t *bytes);
void lmdb_peer_close(lmdb_peer *p);
const char *lmdb_peer_version(void);

/* Walk every row in offset order (SELECT offset, value ... ORDER BY
 * offset); adds to *records and *bytes. */
int sqlite_peer_scan(sqlite_peer *p, uint64_t *records, uint64_t *bytes);

/* ---- figures for the summary -------------------------------------------- */

#define BENCH_NBATCH 3

/* The systems of the peer workload, in the order they run. */
enum peer_sys {
  PEER_NODATA,      /* nd_append; nd_reader_next; nd_reader_get */
  PEER_NODATA_COPY, /* the same store: nd_read + nd_iter */
  PEER_RAW,         /* one file of [u32 len][value], in-memory index */
  PEER_LMDB,
  PEER_SQLITE,
  PEER_NSYS
};

typedef struct bench_results {
  int have_append;
  size_t append_batch[BENCH_NBATCH];
  figure app_nd[BENCH_NBATCH], app_raw[BENCH_NBATCH], app_sql[BENCH_NBATCH];

  int have_durable;
  figure dur_nd1, dur_nd4, dur_raw, dur_sql;

  int have_read;
  figure seq_raw, seq_dec;

  int have_lookup;
  figure lk_off, lk_time, lk_sql;

  /* The peer workload (case_peers.c): per system, appends, the
   * sequential decoded read and the random lookups. */
  int have_peers;
  figure pe_app[PEER_NSYS], pe_seq[PEER_NSYS], pe_lk[PEER_NSYS];
  figure pe_lk_cold; /* nodata's lookups with a new reader */

  int have_open;
  int open_partitions;
  double clean_ms, clean_read_bytes;
  double unclean_small_ms, unclean_large_ms;
  double small_mb, large_mb, tail_mb;
  int deep_partitions; /* the same with few, larger partitions */
  double deep_small_ms, deep_large_ms, deep_small_mb, deep_large_mb;

  /* Consumer groups' committed offsets (case_groups.c). */
  int have_groups;
  int groups;
  figure grp_offsets, grp_names, grp_open;
} bench_results;

int case_append(const bench_opts *o, const bench_data *d, bench_results *r);
int case_durable(const bench_opts *o, const bench_data *d, bench_results *r);
/* read and lookup share one data set */
int case_read_lookup(const bench_opts *o, const bench_data *d,
                     bench_results *r);
int case_open(const bench_opts *o, const bench_data *d, bench_results *r);
int case_peers(const bench_opts *o, const bench_data *d, bench_results *r);
int case_groups(const bench_opts *o, const bench_data *d, bench_results *r);

/* Table output shared by the cases. */
void print_header(const char *title, const char *extra1, const char *extra2);
void print_row(const char *name, const figure *f, const char *extra1,
               const char *extra2);
/* "0.73x" into buf, or "-" when either side is missing. */
const char *fmt_ratio(char *buf, size_t cap, double num, double den);

#endif
