/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util.c — clocks, medians, the record set, scratch directories and the
 * small store helpers the cases share.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- statistics ---------------------------------------------------------- */

int lat_init(lat_buf *l, size_t cap) {
  l->n = 0;
  l->cap = cap ? cap : 1024;
  l->ns = malloc(l->cap * sizeof *l->ns);
  return l->ns ? 0 : bench_fail("latency buffer", ND_ENOMEM);
}

int lat_add(lat_buf *l, uint64_t ns) {
  if (l->n == l->cap) {
    size_t cap = l->cap * 2;
    uint64_t *p = realloc(l->ns, cap * sizeof *p);
    if (!p)
      return bench_fail("latency buffer", ND_ENOMEM);
    l->ns = p;
    l->cap = cap;
  }
  l->ns[l->n++] = ns;
  return 0;
}

void lat_free(lat_buf *l) {
  free(l->ns);
  l->ns = NULL;
  l->n = l->cap = 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double pct_us(const uint64_t *v, size_t n, double p) {
  size_t k = (size_t)ceil(p / 100.0 * (double)n);
  if (k > 0)
    k--;
  if (k >= n)
    k = n - 1;
  return (double)v[k] / 1000.0;
}

run_stat stat_of(uint64_t records, uint64_t bytes, uint64_t elapsed_ns,
                 lat_buf *lat) {
  run_stat s;
  double secs = (double)(elapsed_ns ? elapsed_ns : 1) / 1e9;
  s.rps = (double)records / secs;
  s.bps = (double)bytes / secs;
  s.p50_us = s.p99_us = -1;
  if (lat && lat->n > 0) {
    qsort(lat->ns, lat->n, sizeof *lat->ns, cmp_u64);
    s.p50_us = pct_us(lat->ns, lat->n, 50);
    s.p99_us = pct_us(lat->ns, lat->n, 99);
  }
  return s;
}

double median_of(double *v, int n) {
  if (n <= 0)
    return -1;
  qsort(v, (size_t)n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

figure figure_of(const run_stat *runs, int n) {
  figure f = {-1, -1, -1, -1, 0};
  if (n <= 0)
    return f;
  double *v = malloc((size_t)n * sizeof *v);
  if (!v)
    return f;
  for (int i = 0; i < n; i++)
    v[i] = runs[i].rps;
  f.rps = median_of(v, n);
  for (int i = 0; i < n; i++)
    v[i] = runs[i].bps;
  f.bps = median_of(v, n);
  for (int i = 0; i < n; i++)
    v[i] = runs[i].p50_us;
  f.p50_us = median_of(v, n);
  for (int i = 0; i < n; i++)
    v[i] = runs[i].p99_us;
  f.p99_us = median_of(v, n);
  free(v);
  f.ok = 1;
  return f;
}

/* ---- data ---------------------------------------------------------------- */

uint64_t bench_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Values are windows into a random pool at odd strides, so neighbouring
 * records differ while the pool stays small enough to stay in cache. */
#define POOL_BYTES (1u << 20)
#define POOL_ALLOC (POOL_BYTES + ((BENCH_VALUE_SIZE + 7) & ~7u))

int data_init(bench_data *d, size_t n) {
  memset(d, 0, sizeof *d);
  d->pool = malloc(POOL_ALLOC);
  d->recs = calloc(n, sizeof *d->recs);
  if (!d->pool || !d->recs) {
    data_free(d);
    return bench_fail("record set", ND_ENOMEM);
  }
  uint64_t seed = 0x6e6f64617461ULL; /* fixed: every run appends the same */
  for (size_t i = 0; i < POOL_ALLOC; i += 8) {
    uint64_t x = bench_rand(&seed);
    memcpy(d->pool + i, &x, 8);
  }
  /* A fixed base time keeps runs identical; any recent epoch would do. */
  d->ts0 = 1700000000000LL;
  for (size_t i = 0; i < n; i++) {
    size_t at = (i * 8191u) % POOL_BYTES;
    d->recs[i].value = d->pool + at;
    d->recs[i].value_len = BENCH_VALUE_SIZE;
    d->recs[i].timestamp = d->ts0 + (int64_t)i;
  }
  d->n = n;
  return 0;
}

void data_free(bench_data *d) {
  free(d->pool);
  free(d->recs);
  memset(d, 0, sizeof *d);
}

/* ---- files --------------------------------------------------------------- */

int dir_make_temp(const char *parent, const char *prefix, char *out,
                  size_t cap) {
  int n = snprintf(out, cap, "%s/%s.XXXXXX", parent, prefix);
  if (n < 0 || (size_t)n >= cap)
    return bench_fail("temporary directory name", ND_EINVAL);
  if (!mkdtemp(out))
    return bench_fail_errno(out);
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
  if (rc && errno != ENOENT) {
    fprintf(stderr, "nodata-bench: cannot remove %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  return 0;
}

int dir_remove(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return 0;
  return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

void fs_settle(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  syncfs(fd);
  close(fd);
}

int write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int bench_fail(const char *what, int rc) {
  const char *ctx = nd_errmsg();
  if (ctx && *ctx)
    fprintf(stderr, "nodata-bench: error: %s: %s (%s)\n", what, nd_strerror(rc),
            ctx);
  else
    fprintf(stderr, "nodata-bench: error: %s: %s\n", what, nd_strerror(rc));
  return -1;
}

int bench_fail_errno(const char *what) {
  fprintf(stderr, "nodata-bench: error: %s: %s\n", what, strerror(errno));
  return -1;
}

/* ---- store helpers ------------------------------------------------------- */

int store_open(const char *dir, int no_background, nd_store **out) {
  nd_options opts;
  memset(&opts, 0, sizeof opts);
  opts.no_background = no_background;
  int rc = nd_open(dir, &opts, out);
  return rc ? bench_fail(dir, rc) : 0;
}

int topic_make(nd_store *s, const char *topic, int32_t partitions,
               int fsync_policy) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = fsync_policy;
  int rc = nd_topic_create(s, topic, partitions, &cfg);
  return rc ? bench_fail(topic, rc) : 0;
}

int encode_batches(const bench_opts *o, const bench_data *d, size_t batch,
                   size_t n, uint8_t **buf, size_t *len, size_t **lens,
                   size_t *nbatches) {
  (void)o;
  *buf = NULL;
  *lens = NULL;
  size_t nb = (n + batch - 1) / batch;
  size_t *ls = malloc(nb * sizeof *ls);
  size_t cap = n * (BENCH_VALUE_SIZE + 16) + nb * 64, got = 0;
  uint8_t *all = malloc(cap);
  if (!ls || !all) {
    free(ls);
    free(all);
    return bench_fail("batch sizes", ND_ENOMEM);
  }
  /* The library's encoder gives the bytes nd_append would store at each
   * base offset (tests/test_encode.c holds it to that), so the append cases
   * replay exactly what the record-level appends wrote. The records carry
   * their own timestamps: now_ms is never used. */
  for (size_t i = 0, k = 0; i < n; i += batch, k++) {
    size_t cnt = n - i < batch ? n - i : batch;
    void *b = NULL;
    size_t blen = 0;
    int rc = nd_batch_encode(d->recs + i, cnt, (int64_t)i, 0, 0, &b, &blen);
    if (!rc && got + blen > cap) {
      size_t ncap = (got + blen) * 2;
      uint8_t *na = realloc(all, ncap);
      if (!na)
        rc = ND_ENOMEM;
      else {
        all = na;
        cap = ncap;
      }
    }
    if (rc) {
      nd_free(b);
      free(all);
      free(ls);
      return bench_fail("encode", rc);
    }
    memcpy(all + got, b, blen);
    got += blen;
    ls[k] = blen;
    nd_free(b);
  }
  *buf = all;
  *len = got;
  *lens = ls;
  *nbatches = nb;
  return 0;
}

/* ---- output -------------------------------------------------------------- */

const char *fmt_ratio(char *buf, size_t cap, double num, double den) {
  if (num < 0 || den <= 0)
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, "%.2fx", num / den);
  return buf;
}

void print_header(const char *title, const char *extra1, const char *extra2) {
  printf("\n== %s ==\n", title);
  printf("%-34s %13s %9s %9s %9s %10s %10s\n", "", "records/s", "MB/s",
         "p50 us", "p99 us", extra1 ? extra1 : "", extra2 ? extra2 : "");
}

static void fmt_num(char *buf, size_t cap, double v, const char *f) {
  if (v < 0)
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, f, v);
}

void print_row(const char *name, const figure *f, const char *extra1,
               const char *extra2) {
  char rps[32], mbs[32], p50[32], p99[32];
  fmt_num(rps, sizeof rps, f->ok ? f->rps : -1, "%.0f");
  fmt_num(mbs, sizeof mbs, f->ok && f->bps >= 0 ? f->bps / 1e6 : -1, "%.1f");
  fmt_num(p50, sizeof p50, f->ok ? f->p50_us : -1, "%.2f");
  fmt_num(p99, sizeof p99, f->ok ? f->p99_us : -1, "%.2f");
  printf("%-34s %13s %9s %9s %9s %10s %10s\n", name, rps, mbs, p50, p99,
         extra1 ? extra1 : "", extra2 ? extra2 : "");
  fflush(stdout);
}
