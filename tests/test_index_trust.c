/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An offset-index entry that is plausible (inside the log, in order) but
 * wrong, as a bit flip in a sealed .index leaves it, used to make the range
 * it covers unreadable (ND_ECORRUPT) until `verify --repair` (issue 15).
 * The open check only tests the last entry. Now every entry is checked
 * when a lookup uses it: a wrong one is reported through nd_options.on_log,
 * the segment is read without its index, and the next open rebuilds the
 * index from the log.
 */
#include "test.h"

#include "bytes.h"

enum { N = 40 }; /* one-record batches in the test topic */

static char logged[4096];
static int nlogged;

static void on_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  nlogged++;
  snprintf(logged, sizeof logged, "%d %s", level, msg);
}

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1, .on_log = on_log};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static void seg_file(const char *dir, const char *ext, char *out, size_t n) {
  char hash[65];
  nd_topic_dirname("t", hash);
  snprintf(out, n, "%s/topics/%s/0/00000000000000000000%s", dir, hash, ext);
}

/* Read every offset one at a time and by time; 0 if all are right. */
static int read_each(nd_store *s, int64_t n) {
  for (int64_t off = 0; off < n; off++) {
    nd_batches b;
    if (nd_read(s, "t", 0, off, 1, &b) != 0) {
      fprintf(stderr, "read %" PRId64 ": %s\n", off, nd_errmsg());
      return -1;
    }
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    nd_record_view v;
    char want[32];
    snprintf(want, sizeof want, "value-%05" PRId64, off);
    int ok = nd_iter_next(&it, &v) == 1 && v.offset == off &&
             v.value_len == strlen(want) && !memcmp(v.value, want, v.value_len);
    nd_iter_close(&it);
    nd_free(b.data);
    if (!ok) {
      fprintf(stderr, "wrong record at %" PRId64 "\n", off);
      return -1;
    }
    int64_t found;
    if (nd_offset_for_time(s, "t", 0, 1000 + off, &found, NULL) != 0 ||
        found != off) {
      fprintf(stderr, "time %" PRId64 ": %s\n", 1000 + off, nd_errmsg());
      return -1;
    }
  }
  return 0;
}

/* A store in dir whose topic "t" (index.interval.bytes = interval) holds
 * n one-record batches, "value-%05d" at timestamp 1000 + i; closed. */
static int fill_topic(const char *dir, int32_t interval, int n) {
  nd_store *s = open_store(dir);
  if (!s)
    return -1;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.index_interval_bytes = interval;
  int rc = nd_topic_create(s, "t", 1, &cfg);
  for (int i = 0; !rc && i < n; i++) {
    char v[32];
    snprintf(v, sizeof v, "value-%05d", i);
    nd_record r = {NULL, 0, v, strlen(v), NULL, 0, 1000 + i};
    rc = nd_append(s, "t", 0, &r, 1, 0, NULL);
  }
  int crc = nd_close(s);
  return rc ? rc : crc;
}

/* Write idx over the index file ip; then every offset must read right
 * with exactly one warning, naming `named`, and after a reopen (the index
 * rebuilt from the log) with none. 0, or -1 after saying what failed. */
static int damaged_index_reads(const char *dir, const char *ip,
                               const uint8_t *idx, size_t len,
                               const char *named) {
  FILE *f = fopen(ip, "wb");
  int ok = f && fwrite(idx, 1, len, f) == len;
  if (f)
    fclose(f);
  for (int round = 0; ok && round < 2; round++) {
    nd_store *s = open_store(dir);
    nlogged = 0;
    ok = s && read_each(s, N) == 0 && nlogged == (round ? 0 : 1) &&
         (round || (strstr(logged, "1 ") == logged &&
                    strstr(logged, ".index") && strstr(logged, named)));
    if (s && nd_close(s) != 0)
      ok = 0;
  }
  if (!ok)
    fprintf(stderr, "reads with a damaged index: %d warnings, last: %s\n",
            nlogged, logged);
  return ok ? 0 : -1;
}

static void wrong_entry(void) {
  char *dir = tmpdir_make("idxtrust");
  /* index.interval.bytes 1: an entry for every batch but the first */
  CHECK_OK(fill_topic(dir, 1, N));

  /* Entry 10 (offset 11) now points half-way between the batches of
   * entries 9 and 11: in order, inside the log, and wrong. */
  char ip[PATH_MAX];
  seg_file(dir, ".index", ip, sizeof ip);
  size_t len;
  uint8_t *idx = read_file(ip, &len);
  CHECK(idx && len >= 12 * 8);
  uint32_t p9 = be32(idx + 9 * 8 + 4), p11 = be32(idx + 11 * 8 + 4);
  put_be32(idx + 10 * 8 + 4, (p9 + p11) / 2 + 1);
  CHECK_OK(damaged_index_reads(dir, ip, idx, len, "offset 11 "));
  /* Reopened, the index is whole again: rebuilt from the log. */
  uint8_t *again = read_file(ip, &len);
  CHECK(again && be32(again + 10 * 8 + 4) > p9 &&
        be32(again + 10 * 8 + 4) < p11 &&
        be32(again + 10 * 8 + 4) != (p9 + p11) / 2 + 1);
  free(again);
  free(idx);
  tmpdir_remove(dir);
}

/* An entry that points at a whole batch, but not the one it names: with a
 * sparse index (an entry every few batches) entry 1 is moved onto the
 * batch after the one it names, which keeps the index in order. Only the
 * base offset there tells, and a lookup of the named offset would start
 * past it. */
static void entry_names_another_batch(void) {
  char *dir = tmpdir_make("idxtrust");
  CHECK_OK(fill_topic(dir, 300, N)); /* an entry every few batches */

  char ip[PATH_MAX], lp[PATH_MAX];
  seg_file(dir, ".index", ip, sizeof ip);
  seg_file(dir, ".log", lp, sizeof lp);
  size_t len, log_len;
  uint8_t *idx = read_file(ip, &len), *log = read_file(lp, &log_len);
  CHECK(idx && log && len >= 3 * 8);
  uint32_t rel1 = be32(idx + 8), p1 = be32(idx + 8 + 4),
           p2 = be32(idx + 16 + 4);
  /* the batch after entry 1's: 12 + its batchLength on */
  uint64_t next = p1 + 12 + (uint64_t)be32(log + p1 + 8);
  CHECK(next < p2 && be64(log + next) == (uint64_t)rel1 + 1);
  put_be32(idx + 8 + 4, (uint32_t)next);
  char named[32];
  snprintf(named, sizeof named, "offset %u ", rel1);
  CHECK_OK(damaged_index_reads(dir, ip, idx, len, named));
  free(idx);
  free(log);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(wrong_entry);
  RUN(entry_names_another_batch);
  TEST_MAIN_END();
}
