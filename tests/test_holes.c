/* SPDX-License-Identifier: Apache-2.0 */
/* A log as the cleaner leaves it (docs/format.md, "Segments"): offset
 * holes between batches, inside batches and at both ends of a segment, a
 * segment whose base is below its first batch, an empty batch that keeps
 * an idempotent producer's sequence. The segment files are written by hand
 * (no cleaner needed) into a closed store, which is then opened after a
 * clean close and as after a crash, and every reader is checked on it:
 * nd_read and nd_read_file (Fetch), nd_iter, nd_reader, nd_offset_for_time
 * (plain and compressed batches), the producer state, nd_log_walk,
 * nd_verify, and an append after it.
 *
 * `test_holes --make DIR` only writes that store (topic "holes", compact)
 * for tests/compat/test_holes_broker.py, which reads it through
 * `nodata serve` with real Kafka clients. */
#include "test.h"

#include <time.h>

#include "nodata_codecs.h"
#include "nodata_testing.h"
#include "nodata_zerocopy.h"

#define TOPIC "holes"

/* The records that exist, in order; every other offset below the high
 * watermark is a hole. */
static const int64_t LIVE[] = {1, 3, 10, 12, 25, 26, 27, 30, 31, 32};
#define NLIVE (sizeof LIVE / sizeof LIVE[0])
#define HW 33

/* Bytes of '.' after each value's "v<offset>": 0 in the C tests; `--make
 * DIR PAD` sets it, so that the broker test's fetches are large enough
 * for the broker to send them from the file (sendfile). */
#define MAX_PAD 8192
static size_t value_pad;

/* Record timestamps: ts_base + 10 * offset. 1000 in the C tests; `--make`
 * sets it to about an hour ago (and prints it), so that retention.ms
 * (7 days) does not delete the broker test's segments from 1970. */
static int64_t ts_base = 1000;

static int64_t ts_of(int64_t off) {
  return ts_base + 10 * off;
}

/* A batch at base with records at the given offsets (n may be 0). */
static int put_batch(FILE *f, int64_t base, const int64_t *offs, size_t n,
                     int32_t last_delta, int64_t pid, int32_t seq,
                     int64_t max_ts, int codec) {
  nd_record recs[8];
  int32_t deltas[8];
  static char keys[8][16], vals[8][16 + MAX_PAD];
  for (size_t i = 0; i < n; i++) {
    snprintf(keys[i], sizeof keys[i], "k%lld", (long long)offs[i]);
    int len = snprintf(vals[i], 16, "v%lld", (long long)offs[i]);
    memset(vals[i] + len, '.', value_pad);
    vals[i][len + value_pad] = '\0';
    recs[i] = (nd_record){.key = keys[i],
                          .key_len = strlen(keys[i]),
                          .value = vals[i],
                          .value_len = strlen(vals[i]),
                          .timestamp = ts_of(offs[i])};
    deltas[i] = (int32_t)(offs[i] - base);
  }
  void *b = NULL;
  size_t len = 0;
  if (nd_test_batch_encode_sparse(recs, n, deltas, last_delta, base, pid,
                                  pid >= 0 ? 0 : -1, seq, max_ts, &b,
                                  &len) != 0)
    return -1;
  if (codec != ND_CODEC_NONE) {
    void *z = NULL;
    size_t zlen = 0;
    int rc = nd_codecs_compress_batch(b, len, codec, &z, &zlen);
    nd_free(b);
    if (rc)
      return -1;
    b = z;
    len = zlen;
  }
  size_t w = fwrite(b, 1, len, f);
  free(b);
  return w == len ? 0 : -1;
}

static void part_path(char *out, const char *dir, const char *file) {
  char hash[65];
  nd_topic_dirname(TOPIC, hash);
  snprintf(out, PATH_MAX, "%s/topics/%s/0%s%s", dir, hash, file ? "/" : "",
           file ? file : "");
}

static FILE *seg_file(const char *dir, int64_t base) {
  char name[64], path[PATH_MAX];
  snprintf(name, sizeof name, "%020lld.log", (long long)base);
  part_path(path, dir, name);
  return fopen(path, "wb");
}

static int write_text(const char *dir, const char *file, const char *text) {
  char path[PATH_MAX];
  part_path(path, dir, file);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fputs(text, f);
  return fclose(f);
}

/* The store at dir with topic TOPIC (cleanup.policy `policy`) whose only
 * partition holds, closed cleanly (recovery point HW):
 *   segment 0:  [0..4]  records 1, 3; maxTimestamp still 1040 (record 4's)
 *               [5..7]  empty, producer 9 sequences 10..12, maxTs 1070
 *               (8, 9 a hole)
 *               [10..12] records 10, 12, in `codec`
 *               (13..19 a hole at the segment's end)
 *   segment 20: (20..24 a hole: the base is below the first batch)
 *               [25..27] records 25..27, producer 7 sequences 0..2
 *               (28, 29 a hole)
 *   segment 30: [30..32] records 30..32 (the active segment) */
static int make_store(const char *dir, int policy, int codec) {
  nd_store *s = test_open_store(dir);
  if (!s)
    return -1;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.cleanup_policy = policy;
  cfg.index_interval_bytes = 1; /* an index entry for every batch */
  int rc = nd_topic_create(s, TOPIC, 1, &cfg);
  if (nd_close(s) != 0 || rc != 0)
    return -1;
  char path[PATH_MAX], cmd[PATH_MAX + 32];
  part_path(path, dir, NULL);
  snprintf(cmd, sizeof cmd, "rm -f '%s'/*", path);
  if (system(cmd) != 0)
    return -1;
  static const int64_t a[] = {1, 3}, c[] = {10, 12}, d[] = {25, 26, 27},
                       e[] = {30, 31, 32};
  FILE *f = seg_file(dir, 0);
  if (!f)
    return -1;
  rc = put_batch(f, 0, a, 2, 4, -1, -1, ts_of(4), ND_CODEC_NONE);
  rc |= put_batch(f, 5, NULL, 0, 2, 9, 10, ts_of(7), ND_CODEC_NONE);
  rc |= put_batch(f, 10, c, 2, 2, -1, -1, -1, codec);
  rc |= fclose(f);
  if (!(f = seg_file(dir, 20)))
    return -1;
  rc |= put_batch(f, 25, d, 3, 2, 7, 0, -1, ND_CODEC_NONE);
  rc |= fclose(f);
  if (!(f = seg_file(dir, 30)))
    return -1;
  rc |= put_batch(f, 30, e, 3, 2, -1, -1, -1, ND_CODEC_NONE);
  rc |= fclose(f);
  char rp[32];
  snprintf(rp, sizeof rp, "%d\n", HW);
  rc |= write_text(dir, "recovery-point", rp);
  return rc ? -1 : 0;
}

/* As after a crash: no clean-shutdown marker, and the recovery point at
 * rp (below every hole), or none when rp < 0. */
static void make_unclean(const char *dir, int64_t rp) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/clean-shutdown", dir);
  unlink(p);
  part_path(p, dir, "recovery-point");
  unlink(p);
  if (rp >= 0) {
    char text[32];
    snprintf(text, sizeof text, "%lld\n", (long long)rp);
    write_text(dir, "recovery-point", text);
  }
}

static nd_store *open_codecs(const char *dir) {
  nd_options o = {.no_background = 1, .decompress = nd_codecs_decompress};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int value_is(const nd_record_view *v, int64_t off) {
  char want[16];
  snprintf(want, sizeof want, "v%lld", (long long)off);
  return v->offset == off && v->value_len == strlen(want) &&
         !memcmp(v->value, want, v->value_len) && v->timestamp == ts_of(off);
}

/* A consumer's loop: fetch from 0, move to next_offset, until the high
 * watermark; every live record once, in order, and nothing else. With
 * file ranges (Fetch's zero-copy path) the bytes are the same as a copy's. */
static void check_fetch_loop(nd_store *s) {
  size_t got = 0;
  int64_t off = 0;
  for (int rounds = 0; off < HW && rounds < 64; rounds++) {
    nd_batches b;
    CHECK_OK(nd_read(s, TOPIC, 0, off, 1, &b));
    nd_file_range fr;
    CHECK_OK(nd_read_file(s, TOPIC, 0, off, 1, &fr));
    CHECK_EQ_I64(fr.len, b.len);
    CHECK_EQ_I64(fr.next_offset, b.next_offset);
    CHECK_EQ_I64(b.high_watermark, HW);
    if (b.len) {
      uint8_t *copy = malloc(fr.len);
      CHECK(copy && pread(fr.fd, copy, fr.len, fr.pos) == (ssize_t)fr.len);
      int same = !memcmp(copy, b.data, b.len);
      free(copy);
      close(fr.fd);
      CHECK(same);
    }
    CHECK(b.len > 0 && b.next_offset > off); /* progress before HW */
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, off, nd_codecs_decompress);
    nd_record_view v;
    int rc;
    while ((rc = nd_iter_next(&it, &v)) == 1) {
      CHECK(got < NLIVE);
      CHECK(value_is(&v, LIVE[got]));
      got++;
    }
    nd_iter_close(&it);
    nd_free(b.data);
    CHECK_EQ_I64(rc, 0);
    off = b.next_offset;
  }
  CHECK_EQ_I64(off, HW);
  CHECK_EQ_I64(got, NLIVE);
  /* Fetch at the high watermark: nothing, no error. */
  nd_batches b;
  CHECK_OK(nd_read(s, TOPIC, 0, HW, 1 << 20, &b));
  CHECK_EQ_I64(b.len, 0);
  nd_free(b.data);
}

/* A fetch inside each hole returns the batch holding the next existing
 * offset (Kafka: the first batch whose last offset >= the fetch offset). */
static void check_fetch_in_holes(nd_store *s) {
  static const struct {
    int64_t at, batch_base;
  } cases[] = {{0, 0},   {2, 0},   {4, 0},   {6, 5},   {8, 10},
               {9, 10},  {11, 10}, {13, 25}, {19, 25}, {20, 25},
               {24, 25}, {28, 30}, {29, 30}, {32, 30}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nd_batches b;
    CHECK_OK(nd_read(s, TOPIC, 0, cases[i].at, 1, &b));
    nd_batch_info info;
    int ok = b.len > 0 && nd_batch_check(b.data, b.len, 1, &info) == 0;
    nd_free(b.data);
    if (!ok || info.base_offset != cases[i].batch_base)
      fprintf(stderr, "fetch at %lld: batch at %lld, want %lld\n",
              (long long)cases[i].at, ok ? (long long)info.base_offset : -1LL,
              (long long)cases[i].batch_base);
    CHECK(ok && info.base_offset == cases[i].batch_base);
  }
}

static void check_reader(nd_store *s) {
  nd_reader *r;
  CHECK_OK(
      nd_reader_open(s, TOPIC, 0, ND_READER_VERIFY, nd_codecs_decompress, &r));
  nd_record_view v;
  size_t got = 0;
  int rc;
  while ((rc = nd_reader_next(r, &v)) == 1 && got < NLIVE) {
    if (!value_is(&v, LIVE[got]))
      break;
    got++;
  }
  int seq_ok = rc == 0 && got == NLIVE;
  /* Seeking into a hole: the next existing record, as a consumer sees. */
  static const int64_t seek[][2] = {{2, 3},   {4, 10},  {5, 10}, {8, 10},
                                    {13, 25}, {20, 25}, {28, 30}};
  int seek_ok = 1;
  for (size_t i = 0; i < sizeof seek / sizeof seek[0]; i++)
    seek_ok &= nd_reader_seek(r, seek[i][0]) == 0 &&
               nd_reader_next(r, &v) == 1 && value_is(&v, seek[i][1]);
  /* A point lookup: the record at that offset, or ND_ENOTFOUND in a hole
   * (inside a batch, an empty batch, between batches and segments). */
  int get_ok = 1;
  for (int64_t off = 0; off < HW; off++) {
    int live = 0;
    for (size_t i = 0; i < NLIVE; i++)
      live |= LIVE[i] == off;
    int grc = nd_reader_get(r, off, &v);
    get_ok &= live ? grc == 0 && value_is(&v, off) : grc == ND_ENOTFOUND;
    if (!get_ok) {
      fprintf(stderr, "get %lld: %s\n", (long long)off, nd_errname(grc));
      break;
    }
  }
  int hw_rc = nd_reader_get(r, HW, &v);
  nd_reader_close(r);
  CHECK(seq_ok);
  CHECK(seek_ok);
  CHECK(get_ok);
  CHECK_RC(hw_rc, ND_ERANGE);
}

/* The first EXISTING record with a timestamp >= the target. */
static void check_time(nd_store *s) {
  static const struct {
    int64_t ts, off;
  } cases[] = {{0, 1},     {1010, 1}, {1011, 3},
               {1031, 10}, /* batch [0..4] claims 1040 (a cleaned record's) */
               {1041, 10}, /* the empty batch claims 1070 */
               {1101, 12}, /* inside the (maybe compressed) batch */
               {1121, 25}, /* the next segment, past its leading hole */
               {1271, 30}, /* past the hole at the end of segment 20 */
               {1320, 32}, {1321, -1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t off, ts;
    CHECK_OK(nd_offset_for_time(s, TOPIC, 0, cases[i].ts, &off, &ts));
    if (off != cases[i].off)
      fprintf(stderr, "time %lld: offset %lld, want %lld\n",
              (long long)cases[i].ts, (long long)off, (long long)cases[i].off);
    CHECK_EQ_I64(off, cases[i].off);
    CHECK_EQ_I64(ts, off >= 0 ? ts_of(off) : -1);
  }
}

static void check_producers(nd_store *s) {
  nd_producer_info *list;
  size_t n;
  CHECK_OK(nd_partition_producers(s, TOPIC, 0, &list, &n));
  int p9 = 0, p7 = 0;
  for (size_t i = 0; i < n; i++) {
    /* The empty batch: baseSequence 10 + lastOffsetDelta 2. */
    if (list[i].producer_id == 9)
      p9 = list[i].last_sequence == 12 && list[i].last_offset == 7;
    if (list[i].producer_id == 7)
      p7 = list[i].last_sequence == 2 && list[i].last_offset == 27;
  }
  nd_free(list);
  CHECK(p9);
  CHECK(p7);
}

static int count_damage;
static void on_event(void *ctx, const nd_verify_event *ev) {
  (void)ctx;
  if (ev->kind == ND_VERIFY_DAMAGE) {
    count_damage++;
    fprintf(stderr, "verify: %s\n", ev->text);
  }
}

static void check_verify(const char *dir) {
  nd_verify_options vo = {.on_event = on_event};
  nd_options oo = {.decompress = nd_codecs_decompress};
  vo.open_options = &oo;
  nd_verify_stats st;
  count_damage = 0;
  CHECK_OK(nd_verify(dir, &vo, &st));
  CHECK_EQ_I64(count_damage, 0);
  CHECK_EQ_I64(st.problems, 0);
  CHECK_EQ_I64(st.batches, 5);
  CHECK_EQ_I64(st.records, NLIVE);
  /* The public walk with offset order: every segment whole, in order. */
  static const int64_t bases[] = {0, 20, 30};
  for (size_t i = 0; i < 3; i++) {
    char name[64], path[PATH_MAX];
    snprintf(name, sizeof name, "%020lld.log", (long long)bases[i]);
    part_path(path, dir, name);
    nd_walk_result w;
    CHECK_OK(nd_log_walk(path, ND_WALK_CHECK_ORDER, NULL, NULL, &w));
    CHECK_EQ_I64(w.stop, ND_WALK_END);
  }
}

/* Everything a reader can ask of the holey partition, then an append. */
static void check_all(const char *dir, int64_t want_recovered, int rp0) {
  nd_store *s = open_codecs(dir);
  CHECK(s);
  nd_recovery_stats rs;
  CHECK_OK(nd_recovery_report(s, &rs, NULL, NULL));
  CHECK_EQ_I64(rs.partitions_offline, 0);
  CHECK_EQ_I64(rs.bytes_truncated, 0);
  CHECK_EQ_I64(rs.segments_deleted, 0);
  CHECK_EQ_I64(rs.partitions_recovered > 0, want_recovered);
  int64_t ls, hw;
  CHECK_OK(nd_offsets(s, TOPIC, 0, &ls, &hw));
  CHECK_EQ_I64(ls, 0);
  CHECK_EQ_I64(hw, HW);
  check_fetch_loop(s);
  check_fetch_in_holes(s);
  check_reader(s);
  check_time(s);
  /* The producer state is rebuilt from the batch headers after the
   * recovery point (the store has no producer-state file): with 0 it
   * reads every one, the empty batch included. */
  if (rp0)
    check_producers(s);
  if (nd_test_current_failed) {
    nd_close(s);
    return;
  }
  CHECK_OK(nd_close(s));
  check_verify(dir);
}

static void append_after(const char *dir) {
  nd_store *s = open_codecs(dir);
  CHECK(s);
  nd_record rec = {.key = "k33",
                   .key_len = 3,
                   .value = "v33",
                   .value_len = 3,
                   .timestamp = ts_of(33)};
  nd_append_info info;
  CHECK_OK(nd_append(s, TOPIC, 0, &rec, 1, 0, &info));
  CHECK_EQ_I64(info.base_offset, HW);
  CHECK_OK(nd_close(s));
}

static void clean_open(void) {
  char *dir = tmpdir_make("holes");
  CHECK(dir && make_store(dir, ND_CLEANUP_COMPACT, ND_CODEC_NONE) == 0);
  check_all(dir, 1, 0); /* no index files: rebuilt from the holey log */
  check_all(dir, 0, 0); /* with the indexes the first open wrote */
  append_after(dir);
  tmpdir_remove(dir);
}

static void open_after_crash(void) {
  char *dir = tmpdir_make("holes");
  CHECK(dir && make_store(dir, ND_CLEANUP_COMPACT, ND_CODEC_NONE) == 0);
  make_unclean(dir, 0); /* the scan reads every hole */
  check_all(dir, 1, 1);
  make_unclean(dir, 27); /* resume inside segment 20, past its hole */
  check_all(dir, 1, 0);
  make_unclean(dir, -1); /* no recovery point at all */
  check_all(dir, 1, 0);
  tmpdir_remove(dir);
}

static void compressed_batch(void) {
  char *dir = tmpdir_make("holes");
  CHECK(dir && make_store(dir, ND_CLEANUP_COMPACT, ND_CODEC_LZ4) == 0);
  check_all(dir, 1, 0);
  make_unclean(dir, 0);
  check_all(dir, 1, 1);
  tmpdir_remove(dir);
}

/* The indexes rebuilt from a holey log are the same at every rebuild, and
 * every entry names a batch that exists (verify checks that). */
static void index_rebuild_is_stable(void) {
  char *dir = tmpdir_make("holes");
  CHECK(dir && make_store(dir, ND_CLEANUP_COMPACT, ND_CODEC_NONE) == 0);
  nd_store *s = open_codecs(dir);
  CHECK(s);
  CHECK_OK(nd_close(s));
  static const char *files[] = {
      "00000000000000000000.index", "00000000000000000000.timeindex",
      "00000000000000000020.index", "00000000000000000020.timeindex"};
  nd_index_entry *first[4];
  size_t nfirst[4];
  for (int i = 0; i < 4; i++) {
    char p[PATH_MAX];
    part_path(p, dir, files[i]);
    CHECK_OK(nd_index_read(p, &first[i], &nfirst[i], NULL));
    unlink(p);
  }
  /* Segment 0's final time entry is at the next segment's base. */
  CHECK_EQ_I64(first[1][nfirst[1] - 1].offset, 20);
  CHECK_EQ_I64(first[1][nfirst[1] - 1].timestamp, ts_of(12));
  s = open_codecs(dir);
  CHECK(s);
  CHECK_OK(nd_close(s));
  for (int i = 0; i < 4; i++) {
    char p[PATH_MAX];
    part_path(p, dir, files[i]);
    nd_index_entry *e;
    size_t n;
    CHECK_OK(nd_index_read(p, &e, &n, NULL));
    CHECK_EQ_I64(n, nfirst[i]);
    for (size_t k = 0; k < n; k++)
      CHECK(e[k].offset == first[i][k].offset &&
            e[k].position == first[i][k].position &&
            e[k].timestamp == first[i][k].timestamp);
    nd_free(e);
    nd_free(first[i]);
  }
  check_verify(dir);
  tmpdir_remove(dir);
}

/* Open dir as after a crash with recovery point 0 and close it: the high
 * watermark recovery found (-1 on failure) and its report in *rs. */
static int64_t open_after_crash_hw(const char *dir, nd_recovery_stats *rs) {
  make_unclean(dir, 0);
  nd_store *s = open_codecs(dir);
  int64_t ls, hw = -1;
  if (!s || nd_offsets(s, TOPIC, 0, &ls, &hw) != 0 ||
      nd_recovery_report(s, rs, NULL, NULL) != 0)
    hw = -1;
  if (s && nd_close(s) != 0)
    hw = -1;
  return hw;
}

/* On a delete-only topic a gap between segments above the recovery point
 * is a lost tail (a crash lost the end of a segment whose successor the
 * roll had made), not a hole: recovery cuts there, as before compaction
 * existed. Holes inside a segment are never a crash's doing. */
static void delete_topic_gap_is_lost_tail(void) {
  char *dir = tmpdir_make("holes");
  CHECK(dir && make_store(dir, ND_CLEANUP_DELETE, ND_CODEC_NONE) == 0);
  nd_recovery_stats rs;
  CHECK_EQ_I64(open_after_crash_hw(dir, &rs), 13);
  CHECK_EQ_I64(rs.segments_deleted, 2);
  tmpdir_remove(dir);
}

/* The active segment is never cleaned: a gap there is a damaged
 * baseOffset (outside the CRC; here its batch claims 31 instead of 30),
 * which verify reports and recovery cuts as it cuts any torn tail, rather
 * than serving the records at wrong offsets. */
static void active_segment_gap_is_damage(void) {
  char *dir = tmpdir_make("holes");
  CHECK(dir && make_store(dir, ND_CLEANUP_COMPACT, ND_CODEC_NONE) == 0);
  static const int64_t e[] = {31, 32, 33};
  FILE *f = seg_file(dir, 30);
  CHECK(f);
  int rc = put_batch(f, 31, e, 3, 2, -1, -1, -1, ND_CODEC_NONE);
  CHECK(fclose(f) == 0 && rc == 0);
  nd_verify_options vo = {.on_event = on_event};
  nd_verify_stats st;
  count_damage = 0;
  CHECK_OK(nd_verify(dir, &vo, &st));
  CHECK_EQ_I64(count_damage, 1);
  nd_recovery_stats rs;
  CHECK_EQ_I64(open_after_crash_hw(dir, &rs), 30);
  CHECK(rs.bytes_truncated > 0);
  tmpdir_remove(dir);
}

int main(int argc, char **argv) {
  if ((argc == 3 || argc == 4) && !strcmp(argv[1], "--make")) {
    value_pad = argc == 4 ? (size_t)atoi(argv[3]) : 0;
    if (value_pad > MAX_PAD)
      value_pad = MAX_PAD;
    ts_base = ((int64_t)time(NULL) - 3600) * 1000;
    printf("%lld\n", (long long)ts_base);
    if (make_store(argv[2], ND_CLEANUP_COMPACT, ND_CODEC_NONE) != 0) {
      fprintf(stderr, "cannot make the store in %s: %s\n", argv[2],
              nd_errmsg());
      return 1;
    }
    return 0;
  }
  RUN(clean_open);
  RUN(open_after_crash);
  RUN(compressed_batch);
  RUN(index_rebuild_is_stable);
  RUN(delete_topic_gap_is_lost_tail);
  RUN(active_segment_gap_is_damage);
  TEST_MAIN_END();
}
