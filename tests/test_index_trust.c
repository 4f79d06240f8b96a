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

static void wrong_entry(void) {
  char *dir = tmpdir_make("idxtrust");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.index_interval_bytes = 1; /* an entry for every batch but the first */
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  enum { N = 40 };
  for (int i = 0; i < N; i++) {
    char v[32];
    snprintf(v, sizeof v, "value-%05d", i);
    nd_record r = {NULL, 0, v, strlen(v), NULL, 0, 1000 + i};
    CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  }
  CHECK_OK(nd_close(s));

  /* Entry 10 (offset 11) now points half-way between the batches of
   * entries 9 and 11: in order, inside the log, and wrong. */
  char ip[PATH_MAX];
  seg_file(dir, ".index", ip, sizeof ip);
  size_t len;
  uint8_t *idx = read_file(ip, &len);
  CHECK(idx && len >= 12 * 8);
  uint32_t p9 = be32(idx + 9 * 8 + 4), p11 = be32(idx + 11 * 8 + 4);
  put_be32(idx + 10 * 8 + 4, (p9 + p11) / 2 + 1);
  FILE *f = fopen(ip, "wb");
  CHECK(f && fwrite(idx, 1, len, f) == len);
  fclose(f);

  s = open_store(dir);
  CHECK(s);
  nlogged = 0;
  CHECK_OK(read_each(s, N));
  CHECK(nlogged == 1);
  CHECK(strstr(logged, "1 ") == logged && strstr(logged, ".index") &&
        strstr(logged, "offset 11"));
  CHECK_OK(nd_close(s));
  /* Reopened, the index is whole again: rebuilt from the log. */
  s = open_store(dir);
  CHECK(s);
  nlogged = 0;
  CHECK_OK(read_each(s, N));
  CHECK(nlogged == 0);
  CHECK_OK(nd_close(s));
  uint8_t *again = read_file(ip, &len);
  CHECK(again && be32(again + 10 * 8 + 4) > p9 &&
        be32(again + 10 * 8 + 4) < p11 &&
        be32(again + 10 * 8 + 4) != (p9 + p11) / 2 + 1);
  free(again);
  free(idx);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(wrong_entry);
  TEST_MAIN_END();
}
