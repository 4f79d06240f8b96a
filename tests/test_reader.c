/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_reader.c — nd_reader through its contract (nodata.h, "Readers"):
 * point lookups at every offset, batch edges and segment edges; the
 * bounds (below the log start, at the high watermark); sequential reads
 * with seeks and tailing; compressed batches (a decompressor or
 * ND_ECODEC); views that outlive the deletion of their segment; the CRC
 * check that ND_READER_VERIFY adds; read-only stores (pread, not mmap);
 * a deleted topic; lookups and a tailing reader racing an appender.
 *
 * Every record's value is "value-<offset>" padded to VLEN bytes, and its
 * key "k<offset>", so a record returned for the wrong offset is seen.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"

#define VLEN 100
#define PER_BATCH 10
#define MAX_PER 250 /* records per batch at most, in append_n */

static void value_of(int64_t off, char *v) {
  memset(v, '.', VLEN);
  int n = snprintf(v, VLEN, "value-%" PRId64, off);
  v[n] = '#';
}

/* Append n records starting at offset `first` in batches of per. */
static int append_n(nd_store *s, const char *t, int64_t first, int64_t n,
                    int per) {
  static char vals[MAX_PER][VLEN], keys[MAX_PER][24];
  static nd_record recs[MAX_PER];
  for (int64_t i = 0; i < n; i += per) {
    int k = (int)(n - i < per ? n - i : per);
    for (int j = 0; j < k; j++) {
      int64_t off = first + i + j;
      value_of(off, vals[j]);
      int kl = snprintf(keys[j], sizeof keys[j], "k%" PRId64, off);
      recs[j] = (nd_record){.key = keys[j],
                            .key_len = (size_t)kl,
                            .value = vals[j],
                            .value_len = VLEN,
                            .timestamp = 1000 + off};
    }
    int rc = nd_append(s, t, 0, recs, (size_t)k, 0, NULL);
    if (rc)
      return rc;
  }
  return 0;
}

/* Does rec hold the record appended at off? */
static int is_record(const nd_record_view *rec, int64_t off) {
  char v[VLEN], k[24];
  value_of(off, v);
  int kl = snprintf(k, sizeof k, "k%" PRId64, off);
  return rec->offset == off && rec->value_len == VLEN &&
         memcmp(rec->value, v, VLEN) == 0 && rec->key_len == (size_t)kl &&
         memcmp(rec->key, k, (size_t)kl) == 0 && rec->timestamp == 1000 + off;
}

/* A topic of small segments (about 14 batches each), so that lookups
 * cross segment edges. */
static nd_store *small_segments(const char *dir, int64_t n) {
  nd_store *s = test_open_store(dir);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 16384;
  cfg.index_interval_bytes = 2048; /* some batches reached by a header hop */
  if (!s || nd_topic_create(s, "t", 1, &cfg) || append_n(s, "t", 0, n, 10)) {
    fprintf(stderr, "setup: %s\n", nd_errmsg());
    nd_close(s);
    return NULL;
  }
  return s;
}

#define N 1000

static void lookup_every_offset(void) {
  char *dir = tmpdir_make("reader");
  nd_store *s = small_segments(dir, N);
  CHECK(s);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK(pi.segment_count > 3);
  nd_reader *r;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  nd_record_view rec;
  /* In order, backwards and strided, so each batch is entered from
   * another one in every direction. */
  for (int64_t o = 0; o < N; o++) {
    CHECK_OK(nd_reader_get(r, o, &rec));
    CHECK(is_record(&rec, o));
    CHECK_EQ_I64(rec.batch_base_offset, o / PER_BATCH * PER_BATCH);
  }
  for (int64_t o = N - 1; o >= 0; o--) {
    CHECK_OK(nd_reader_get(r, o, &rec));
    CHECK(is_record(&rec, o));
  }
  for (int64_t o = 0; o < 37 * N; o += 37) {
    CHECK_OK(nd_reader_get(r, o % N, &rec));
    CHECK(is_record(&rec, o % N));
  }
  /* The bounds: the high watermark holds nothing yet; above it and below
   * the log start is out of range. */
  CHECK_RC(nd_reader_get(r, N, &rec), ND_ERANGE);
  CHECK(strstr(nd_errmsg(), "out of range"));
  CHECK_RC(nd_reader_get(r, N + 1, &rec), ND_ERANGE);
  CHECK_RC(nd_reader_get(r, -1, &rec), ND_ERANGE);
  int64_t ls;
  CHECK_OK(nd_delete_records(s, "t", 0, 505, &ls));
  CHECK_RC(nd_reader_get(r, 504, &rec), ND_ERANGE);
  CHECK_OK(nd_reader_get(r, 505, &rec));
  CHECK(is_record(&rec, 505));
  CHECK_RC(nd_reader_get(NULL, 505, &rec), ND_EINVAL);
  CHECK_RC(nd_reader_get(r, 505, NULL), ND_EINVAL);
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void sequential(void) {
  char *dir = tmpdir_make("reader-seq");
  nd_store *s = small_segments(dir, N);
  CHECK(s);
  nd_reader *r;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  nd_record_view rec;
  int64_t want = 0;
  int rc;
  while ((rc = nd_reader_next(r, &rec)) == 1) {
    CHECK(is_record(&rec, want));
    want++;
  }
  CHECK_RC(rc, 0);
  CHECK_EQ_I64(want, N);
  CHECK_RC(nd_reader_next(r, &rec), 0); /* stays at the end */
  /* Tailing: what is appended after the end is read on. */
  CHECK_OK(append_n(s, "t", N, 25, 10));
  while ((rc = nd_reader_next(r, &rec)) == 1) {
    CHECK(is_record(&rec, want));
    want++;
  }
  CHECK_RC(rc, 0);
  CHECK_EQ_I64(want, N + 25);
  /* Seeks into the middle of a batch, to its first and last record, and
   * back, and a lookup in between does not move the position. */
  int64_t seeks[] = {0, 7, 9, 10, 499, 500, N - 1, N + 24, 3};
  for (size_t i = 0; i < sizeof seeks / sizeof seeks[0]; i++) {
    CHECK_OK(nd_reader_seek(r, seeks[i]));
    for (int64_t o = seeks[i]; o < seeks[i] + 12 && o < N + 25; o++) {
      CHECK_RC(nd_reader_next(r, &rec), 1);
      CHECK(is_record(&rec, o));
      CHECK_OK(nd_reader_get(r, (o * 31) % N, &rec));
      CHECK(is_record(&rec, (o * 31) % N));
    }
  }
  CHECK_OK(nd_reader_seek(r, N + 25));
  CHECK_RC(nd_reader_next(r, &rec), 0);
  CHECK_RC(nd_reader_seek(r, N + 26), ND_ERANGE);
  /* Retention passes the position: ND_ERANGE, until a seek. */
  CHECK_OK(nd_reader_seek(r, 100));
  int64_t ls;
  CHECK_OK(nd_delete_records(s, "t", 0, 600, &ls));
  CHECK_RC(nd_reader_next(r, &rec), ND_ERANGE);
  CHECK_RC(nd_reader_seek(r, 599), ND_ERANGE);
  CHECK_OK(nd_reader_seek(r, 600));
  CHECK_RC(nd_reader_next(r, &rec), 1);
  CHECK(is_record(&rec, 600));
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A view taken before its segment is deleted stays readable: the reader
 * holds the mapping until its next call. */
static void view_outlives_segment(void) {
  char *dir = tmpdir_make("reader-del");
  nd_store *s = small_segments(dir, N);
  CHECK(s);
  nd_reader *r;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  nd_record_view rec;
  CHECK_OK(nd_reader_get(r, 3, &rec));
  char seg0[PATH_MAX];
  snprintf(seg0, sizeof seg0, "%s/topics", dir);
  int64_t ls;
  CHECK_OK(nd_delete_records(s, "t", 0, N, &ls));
  CHECK_OK(nd_maintain(s, 0));
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK_EQ_I64(pi.segment_count, 1); /* every old segment is gone */
  CHECK(is_record(&rec, 3));         /* and the view still reads */
  CHECK_RC(nd_reader_get(r, 3, &rec), ND_ERANGE);
  nd_reader_release(r);
  nd_reader_release(r); /* twice is harmless */
  CHECK_OK(append_n(s, "t", N, 5, 5));
  CHECK_OK(nd_reader_get(r, N + 4, &rec));
  CHECK(is_record(&rec, N + 4));
  nd_reader_close(r);
  nd_reader_close(NULL);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Lookups deep into large batches go through the reader's table of
 * record positions (every 16th record, learnt while skipping): every
 * offset of batches of 250, in an order that visits each batch many times
 * from both ends; then more batches than the table holds, so it is
 * emptied and refilled on the way. */
static void large_batches(void) {
  char *dir = tmpdir_make("reader-big");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(append_n(s, "t", 0, 5000, 250));
  CHECK_OK(append_n(s, "t", 5000, 5000 * 20, 20));
  nd_reader *r;
  nd_record_view rec;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  for (int64_t i = 0; i < 5000; i++) {
    int64_t o = (i * 4099) % 5000; /* 4099 is prime to 5000 */
    CHECK_OK(nd_reader_get(r, o, &rec));
    CHECK(is_record(&rec, o));
  }
  for (int pass = 0; pass < 2; pass++)
    for (int64_t b = 0; b < 5000; b++) {
      int64_t o = 5000 + b * 20 + 19 - pass * 2; /* 19 (17 on pass 2) */
      CHECK_OK(nd_reader_get(r, o, &rec));
      CHECK(is_record(&rec, o));
    }
  for (int64_t o = 4999; o >= 0; o -= 13) {
    CHECK_OK(nd_reader_get(r, o, &rec));
    CHECK(is_record(&rec, o));
  }
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* ---- compressed batches ------------------------------------------------- */

static int identity_calls;

/* A "codec" that stores the records as they are: the test marks plain
 * batches as gzip, so decompressing is a copy. */
static int identity(int codec, const void *src, size_t n, void **dst,
                    size_t *dst_len) {
  identity_calls++;
  if (codec != ND_CODEC_GZIP)
    return nd_set_error(ND_ECODEC, "codec %d", codec);
  *dst = malloc(n ? n : 1);
  if (!*dst)
    return ND_ENOMEM;
  memcpy(*dst, src, n);
  *dst_len = n;
  return 0;
}

static void compressed(void) {
  char *dir = tmpdir_make("reader-z");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "plain", 1, NULL));
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(append_n(s, "plain", 0, 30, 10));
  nd_batches b;
  CHECK_OK(nd_read(s, "plain", 0, 0, 1 << 20, &b));
  /* Each batch relabelled gzip (attributes bit 0), CRC recomputed. */
  for (size_t pos = 0; pos + 61 <= b.len;) {
    uint8_t *p = b.data + pos;
    size_t total = 12 + ((size_t)p[8] << 24 | (size_t)p[9] << 16 |
                         (size_t)p[10] << 8 | p[11]);
    p[22] |= ND_CODEC_GZIP;
    uint32_t crc = nd_crc32c(0, p + 21, total - 21);
    p[17] = (uint8_t)(crc >> 24);
    p[18] = (uint8_t)(crc >> 16);
    p[19] = (uint8_t)(crc >> 8);
    p[20] = (uint8_t)crc;
    pos += total;
  }
  CHECK_OK(nd_append_batch(s, "t", 0, b.data, b.len, 0, NULL));
  nd_free(b.data);
  nd_reader *r;
  nd_record_view rec;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  CHECK_RC(nd_reader_get(r, 12, &rec), ND_ECODEC);
  CHECK(strstr(nd_errmsg(), "no decompressor"));
  CHECK_RC(nd_reader_next(r, &rec), ND_ECODEC);
  nd_reader_close(r);
  CHECK_OK(nd_reader_open(s, "t", 0, 0, identity, &r));
  identity_calls = 0;
  for (int64_t o = 10; o < 20; o++) {
    CHECK_OK(nd_reader_get(r, o, &rec));
    CHECK(is_record(&rec, o));
    CHECK_EQ_I64(rec.codec, ND_CODEC_GZIP);
  }
  CHECK_EQ_I64(identity_calls, 1); /* one batch, decompressed once */
  for (int64_t o = 0; o < 30; o++) {
    CHECK_RC(nd_reader_next(r, &rec), 1);
    CHECK(is_record(&rec, o));
  }
  CHECK_RC(nd_reader_next(r, &rec), 0);
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* ---- integrity ------------------------------------------------------------
 */

/* Flip one byte of record 42's value in the closed store's only .log. */
static int flip_value_byte(const char *dir) {
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "find '%s/topics' -name '*.log'", dir);
  FILE *f = popen(cmd, "r");
  char path[PATH_MAX] = "";
  if (!f || !fgets(path, sizeof path, f))
    return -1;
  pclose(f);
  path[strcspn(path, "\n")] = 0;
  size_t len;
  uint8_t *data = read_file(path, &len);
  char v[VLEN];
  value_of(42, v);
  uint8_t *hit = data ? memmem(data, len, v, VLEN) : NULL;
  if (!hit)
    return -1;
  int fd = open(path, O_WRONLY);
  uint8_t x = (uint8_t)(hit[50] ^ 0x20);
  int ok = fd >= 0 && pwrite(fd, &x, 1, hit + 50 - data) == 1;
  if (fd >= 0)
    close(fd);
  free(data);
  return ok ? 0 : -1;
}

static void verify_flag(void) {
  char *dir = tmpdir_make("reader-crc");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(append_n(s, "t", 0, 100, 10));
  CHECK_OK(nd_close(s));
  CHECK(flip_value_byte(dir) == 0);
  s = test_open_store(dir); /* a clean shutdown: no rescan */
  CHECK(s);
  nd_reader *r, *rv;
  nd_record_view rec;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  CHECK_OK(nd_reader_open(s, "t", 0, ND_READER_VERIFY, NULL, &rv));
  /* Without the flag the framing is checked, not the CRC: the changed
   * byte comes back as stored. With it the batch is refused, and the
   * batches around it still read. */
  CHECK_OK(nd_reader_get(r, 42, &rec));
  CHECK(rec.offset == 42 && !is_record(&rec, 42));
  CHECK_RC(nd_reader_get(rv, 42, &rec), ND_ECORRUPT);
  CHECK(strstr(nd_errmsg(), ".log at byte"));
  CHECK_RC(nd_reader_get(rv, 40, &rec), ND_ECORRUPT);
  CHECK_OK(nd_reader_get(rv, 39, &rec));
  CHECK(is_record(&rec, 39));
  CHECK_OK(nd_reader_get(rv, 50, &rec));
  CHECK(is_record(&rec, 50));
  CHECK_OK(nd_reader_seek(rv, 35));
  for (int64_t o = 35; o < 40; o++) {
    CHECK_RC(nd_reader_next(rv, &rec), 1);
    CHECK(is_record(&rec, o));
  }
  CHECK_RC(nd_reader_next(rv, &rec), ND_ECORRUPT);
  CHECK_RC(nd_reader_open(s, "t", 0, 1u << 7, NULL, &r), ND_EINVAL);
  nd_reader_close(r);
  nd_reader_close(rv);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A read-only store reads through pread, with the same answers. */
static void readonly_store(void) {
  char *dir = tmpdir_make("reader-ro");
  nd_store *s = small_segments(dir, N);
  CHECK(s);
  CHECK_OK(nd_close(s));
  nd_options o = {.flags = ND_OPEN_READONLY, .no_background = 1};
  CHECK_OK(nd_open(dir, &o, &s));
  nd_reader *r;
  nd_record_view rec;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  for (int64_t off = 0; off < N; off += 7) {
    CHECK_OK(nd_reader_get(r, off, &rec));
    CHECK(is_record(&rec, off));
  }
  CHECK_OK(nd_reader_seek(r, 995));
  for (int64_t off = 995; off < N; off++) {
    CHECK_RC(nd_reader_next(r, &rec), 1);
    CHECK(is_record(&rec, off));
  }
  CHECK_RC(nd_reader_next(r, &rec), 0);
  CHECK_RC(nd_reader_get(r, N, &rec), ND_ERANGE);
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void deleted_topic(void) {
  char *dir = tmpdir_make("reader-dt");
  nd_store *s = small_segments(dir, 100);
  CHECK(s);
  nd_reader *r;
  nd_record_view rec;
  CHECK_RC(nd_reader_open(s, "nope", 0, 0, NULL, &r), ND_ENOTOPIC);
  CHECK_RC(nd_reader_open(s, "t", 1, 0, NULL, &r), ND_ENOPARTITION);
  CHECK_RC(nd_reader_open(s, "t", 0, 0, NULL, NULL), ND_EINVAL);
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  CHECK_OK(nd_reader_get(r, 5, &rec));
  CHECK_OK(nd_topic_delete(s, "t"));
  CHECK(is_record(&rec, 5));
  CHECK_RC(nd_reader_get(r, 5, &rec), ND_ENOTOPIC);
  CHECK_RC(nd_reader_next(r, &rec), ND_ENOTOPIC);
  nd_reader_close(r);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* nd_close while a reader is open refuses (ND_EBUSY) and changes
 * nothing: the reader's view and the store stay usable; after the last
 * reader is closed, nd_close closes. */
static void close_with_reader_open(void) {
  char *dir = tmpdir_make("reader-busy");
  nd_store *s = small_segments(dir, 100);
  CHECK(s);
  nd_reader *r1, *r2;
  nd_record_view rec;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r1));
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r2));
  CHECK_OK(nd_reader_get(r1, 42, &rec));
  CHECK_RC(nd_close(s), ND_EBUSY);
  CHECK(strstr(nd_errmsg(), "2 reader(s) still open") != NULL);
  CHECK(is_record(&rec, 42)); /* the view survived the refused close */
  nd_reader_close(r1);
  CHECK_RC(nd_close(s), ND_EBUSY);
  CHECK_OK(nd_reader_get(r2, 7, &rec));
  CHECK(is_record(&rec, 7));
  CHECK_OK(append_n(s, "t", 100, 1, 1)); /* still open for writing */
  nd_reader_close(r2);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* ---- concurrency ----------------------------------------------------------
 */

typedef struct race {
  nd_store *s;
  int64_t total;
  int rc;
  _Atomic int finished;
} race;

static void *appender(void *arg) {
  race *ra = arg;
  for (int64_t o = N; o < ra->total && !ra->rc; o += 10)
    ra->rc = append_n(ra->s, "t", o, 10, 10);
  atomic_store(&ra->finished, 1);
  return NULL;
}

/* Lookups below the high watermark seen, and a tailing reader, while
 * another thread appends and rolls segments. */
static void concurrent_appends(void) {
  char *dir = tmpdir_make("reader-race");
  nd_store *s = small_segments(dir, N);
  CHECK(s);
  race ra = {.s = s, .total = 20000};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, appender, &ra) == 0);
  nd_reader *r, *tail;
  nd_record_view rec;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &tail));
  int64_t want = 0, lookups = 0;
  uint64_t seed = 88172645463325252ULL;
  int bad = 0, last = 0;
  while (!bad && !last) {
    /* Once the appender has finished, one more pass reads the rest. */
    last = atomic_load(&ra.finished);
    int64_t hw;
    CHECK_OK(nd_offsets(s, "t", 0, NULL, &hw));
    for (int i = 0; i < 50 && !bad; i++) {
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      int64_t o = (int64_t)(seed % (uint64_t)hw);
      bad = nd_reader_get(r, o, &rec) != 0 || !is_record(&rec, o);
      lookups++;
    }
    int rc = 0;
    while (!bad && (rc = nd_reader_next(tail, &rec)) == 1) {
      bad = !is_record(&rec, want);
      want++;
    }
    bad = bad || rc < 0;
  }
  pthread_join(th, NULL);
  if (bad)
    fprintf(stderr, "wrong record near offset %" PRId64 ": %s\n", want,
            nd_errmsg());
  CHECK(!bad);
  CHECK_OK(ra.rc);
  CHECK_EQ_I64(want, ra.total);
  CHECK(lookups > 0);
  nd_reader_close(r);
  nd_reader_close(tail);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(lookup_every_offset);
  RUN(sequential);
  RUN(view_outlives_segment);
  RUN(large_batches);
  RUN(compressed);
  RUN(verify_flag);
  RUN(readonly_store);
  RUN(deleted_topic);
  RUN(close_with_reader_open);
  RUN(concurrent_appends);
  TEST_MAIN_END();
}
