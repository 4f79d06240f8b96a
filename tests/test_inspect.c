/* SPDX-License-Identifier: Apache-2.0 */
/* nd_log_walk, nd_log_walk_mem, nd_index_read, nd_segment_base: reading a
 * segment's files as they are on disk, for `nodata inspect` and `nodata
 * verify`. Logs are built from nd_batch_encode's bytes, then damaged one way at
 * a time; the index files come from a real store. Only nodata.h is included. */
#include "test.h"

#include <fcntl.h>

/* One batch of n records at base into buf (at most cap); its size. */
static size_t put_batch(uint8_t *buf, size_t cap, int64_t base, size_t n,
                        int64_t ts) {
  nd_record r[8];
  char v[8][16];
  for (size_t i = 0; i < n && i < 8; i++) {
    snprintf(v[i], sizeof v[i], "rec-%lld", (long long)(base + (int64_t)i));
    r[i] =
        (nd_record){.value = v[i], .value_len = strlen(v[i]), .timestamp = ts};
  }
  void *enc = NULL;
  size_t len = 0;
  if (nd_batch_encode(r, n, base, 0, 0, &enc, &len) != 0 || len > cap) {
    nd_free(enc);
    return 0;
  }
  memcpy(buf, enc, len);
  nd_free(enc);
  return len;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
  close(fd);
}

typedef struct seen {
  int n;
  int64_t base[8];
  uint64_t pos[8];
  int crc_ok[8];
  int stop_after;  /* stop when this many were seen (0: never) */
  int bytes_wrong; /* batches whose bytes are not the batch described */
} seen;

static int on_batch(void *ctx, const nd_batch_info *b, const void *bytes) {
  seen *s = ctx;
  nd_batch_info again;
  /* bytes is the whole batch the info describes. */
  if (nd_batch_check(bytes, b->size, 0, &again) != 0 ||
      again.base_offset != b->base_offset)
    s->bytes_wrong++;
  if (s->n < 8) {
    s->base[s->n] = b->base_offset;
    s->pos[s->n] = b->pos;
    s->crc_ok[s->n] = b->crc_ok;
  }
  s->n++;
  return s->stop_after && s->n >= s->stop_after;
}

/* Three batches: 0..1, 2..4, 5. */
static size_t three_batches(uint8_t *buf, size_t cap, size_t at[3]) {
  size_t len = 0;
  at[0] = len;
  len += put_batch(buf + len, cap - len, 0, 2, 1000);
  at[1] = len;
  len += put_batch(buf + len, cap - len, 2, 3, 1001);
  at[2] = len;
  len += put_batch(buf + len, cap - len, 5, 1, 1002);
  return len;
}

static void walk_clean_and_damaged(void) {
  char *dir = tmpdir_make("walk");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/00000000000000000000.log", dir);
  uint8_t buf[4096], bad[4096];
  size_t at[3];
  size_t len = three_batches(buf, sizeof buf, at);
  CHECK(len > 0);

  /* Clean: every batch, positions, the end. */
  write_bytes(path, buf, len);
  seen s = {0};
  nd_walk_result w;
  CHECK_OK(nd_log_walk(path, ND_WALK_STOP_CRC | ND_WALK_CHECK_ORDER, on_batch,
                       &s, &w));
  CHECK_EQ_I64(s.n, 3);
  CHECK_EQ_I64(s.bytes_wrong, 0);
  CHECK_EQ_I64(s.base[1], 2);
  CHECK_EQ_I64(s.pos[2], at[2]);
  CHECK_EQ_I64(w.stop, ND_WALK_END);
  CHECK_EQ_I64(w.stop_pos, -1);
  CHECK_EQ_I64(w.end, len);
  CHECK_EQ_I64(w.file_size, len);
  CHECK_EQ_I64(w.batches, 3);
  CHECK(w.why[0] == '\0');

  /* A torn tail, in the header and past it. */
  size_t cuts[] = {at[2] + 30, len - 1};
  for (int k = 0; k < 2; k++) {
    write_bytes(path, buf, cuts[k]);
    CHECK_OK(nd_log_walk(path, 0, NULL, NULL, &w));
    CHECK_EQ_I64(w.stop, ND_WALK_TORN);
    CHECK_EQ_I64(w.stop_pos, at[2]);
    CHECK_EQ_I64(w.end, at[2]);
    CHECK_EQ_I64(w.batches, 2);
    CHECK(strstr(w.why, "cut short") != NULL);
  }

  /* A bad CRC in the middle: reported and passed over by default (the
   * length still frames the next batch), a stop with ND_WALK_STOP_CRC. */
  memcpy(bad, buf, len);
  bad[at[1] + 70] ^= 1;
  write_bytes(path, bad, len);
  memset(&s, 0, sizeof s);
  CHECK_OK(nd_log_walk(path, 0, on_batch, &s, &w));
  CHECK_EQ_I64(s.n, 3);
  CHECK(s.crc_ok[0] && !s.crc_ok[1] && s.crc_ok[2]);
  CHECK_EQ_I64(w.crc_bad, 1);
  CHECK_EQ_I64(w.stop, ND_WALK_END);
  memset(&s, 0, sizeof s);
  CHECK_OK(nd_log_walk(path, ND_WALK_STOP_CRC, on_batch, &s, &w));
  CHECK_EQ_I64(s.n, 1);
  CHECK_EQ_I64(w.stop, ND_WALK_BAD_CRC);
  CHECK_EQ_I64(w.stop_pos, at[1]);
  CHECK(strstr(w.why, "CRC") != NULL);

  /* Header damage stops the walk whatever the flags. */
  struct {
    size_t off;
    uint8_t val;
    int stop;
  } cases[] = {
      {16, 3, ND_WALK_BAD_MAGIC},    /* magic */
      {57, 0xff, ND_WALK_BAD_COUNT}, /* recordCount < 0 */
      {8, 0xff, ND_WALK_BAD_LENGTH}, /* batchLength < 0 */
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    memcpy(bad, buf, len);
    bad[at[1] + cases[k].off] = cases[k].val;
    write_bytes(path, bad, len);
    CHECK_OK(nd_log_walk(path, 0, NULL, NULL, &w));
    CHECK_EQ_I64(w.stop, cases[k].stop);
    CHECK_EQ_I64(w.stop_pos, at[1]);
    CHECK_EQ_I64(w.batches, 1);
  }

  /* Offsets that go backwards: a stop only when asked to look. */
  size_t l2 = put_batch(bad, sizeof bad, 0, 3, 1);
  size_t l3 = put_batch(bad + l2, sizeof bad - l2, 1, 2, 1);
  write_bytes(path, bad, l2 + l3);
  CHECK_OK(nd_log_walk(path, 0, NULL, NULL, &w));
  CHECK_EQ_I64(w.stop, ND_WALK_END);
  CHECK_OK(nd_log_walk(path, ND_WALK_CHECK_ORDER, NULL, NULL, &w));
  CHECK_EQ_I64(w.stop, ND_WALK_BACKWARDS);
  CHECK_EQ_I64(w.stop_pos, l2);

  /* The callback stops it. */
  write_bytes(path, buf, len);
  memset(&s, 0, sizeof s);
  s.stop_after = 2;
  CHECK_OK(nd_log_walk(path, 0, on_batch, &s, &w));
  CHECK_EQ_I64(s.n, 2);
  CHECK_EQ_I64(w.stop, ND_WALK_CALLER);
  CHECK_EQ_I64(w.end, at[2]);

  /* Errors. */
  CHECK_RC(nd_log_walk(path, 0, NULL, NULL, NULL), ND_EINVAL);
  CHECK_RC(nd_log_walk(NULL, 0, NULL, NULL, &w), ND_EINVAL);
  CHECK_RC(nd_log_walk(path, 0x80, NULL, NULL, &w), ND_EINVAL);
  snprintf(path, sizeof path, "%s/00000000000000000099.log", dir);
  CHECK_RC(nd_log_walk(path, 0, NULL, NULL, &w), -ENOENT);
  CHECK(strstr(nd_errmsg(), "00000000000000000099.log") != NULL);
  tmpdir_remove(dir);
}

typedef struct positions {
  int n;
  uint64_t pos[64];
  int64_t base[64];
} positions;

static int note(void *ctx, const nd_batch_info *b, const void *bytes) {
  (void)bytes;
  positions *p = ctx;
  if (p->n < 64) {
    p->pos[p->n] = b->pos;
    p->base[p->n] = b->base_offset;
  }
  p->n++;
  return 0;
}

/* Walk bytes from a file and from memory with the same flags; 1 if the
 * two results and the batches each gave its callback are the same. */
static int walks_agree(const char *path, const uint8_t *p, size_t n,
                       unsigned flags, nd_walk_result *w) {
  seen a = {0}, b = {0};
  nd_walk_result wm;
  write_bytes(path, p, n);
  if (nd_log_walk(path, flags, on_batch, &a, w) != 0 ||
      nd_log_walk_mem(p, n, flags, on_batch, &b, &wm) != 0)
    return 0;
  return w->file_size == wm.file_size && w->end == wm.end &&
         w->batches == wm.batches && w->crc_bad == wm.crc_bad &&
         w->stop == wm.stop && w->stop_pos == wm.stop_pos &&
         !strcmp(w->why, wm.why) && a.n == b.n &&
         !memcmp(a.base, b.base, sizeof a.base) &&
         !memcmp(a.pos, b.pos, sizeof a.pos) &&
         !memcmp(a.crc_ok, b.crc_ok, sizeof a.crc_ok) && a.bytes_wrong == 0 &&
         b.bytes_wrong == 0;
}

/* nd_log_walk_mem is the file walk over bytes in memory: for every cut of
 * a three-batch log, and every header byte of its middle batch set to
 * 0xff, with each flag, both report the same stop, position, words and
 * batches. The cuts also pin the finding at each length: a clean end on a
 * batch boundary, else TORN at the batch the cut falls in. */
static void walk_mem_matches_file(void) {
  char *dir = tmpdir_make("walkmem");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/00000000000000000000.log", dir);
  uint8_t buf[4096], bad[4096];
  size_t at[3];
  size_t len = three_batches(buf, sizeof buf, at);
  CHECK(len > 0);
  const unsigned flags[] = {0, ND_WALK_STOP_CRC, ND_WALK_CHECK_ORDER};
  nd_walk_result w;
  int disagree = 0;
  for (size_t f = 0; f < 3; f++) {
    for (size_t cut = 0; cut <= len; cut++) {
      if (!walks_agree(path, buf, cut, flags[f], &w)) {
        fprintf(stderr, "flags %u, cut at %zu: the walks disagree\n", flags[f],
                cut);
        disagree++;
      }
      int boundary = cut == 0 || cut == at[1] || cut == at[2] || cut == len;
      CHECK_EQ_I64(w.stop, boundary ? ND_WALK_END : ND_WALK_TORN);
    }
    for (size_t k = 0; k < ND_BATCH_HEADER_SIZE; k++) {
      memcpy(bad, buf, len);
      bad[at[1] + k] = 0xff;
      if (!walks_agree(path, bad, len, flags[f], &w)) {
        fprintf(stderr, "flags %u, header byte %zu: the walks disagree\n",
                flags[f], k);
        disagree++;
      }
    }
  }
  CHECK_EQ_I64(disagree, 0);
  /* Nothing to walk, and the arguments it refuses. */
  CHECK_OK(nd_log_walk_mem(NULL, 0, 0, NULL, NULL, &w));
  CHECK_EQ_I64(w.stop, ND_WALK_END);
  CHECK_EQ_I64(w.batches, 0);
  CHECK_EQ_I64(nd_log_walk_mem(NULL, 1, 0, NULL, NULL, &w), ND_EINVAL);
  CHECK_EQ_I64(nd_log_walk_mem(buf, len, 1u << 7, NULL, NULL, &w), ND_EINVAL);
  CHECK_EQ_I64(nd_log_walk_mem(buf, len, 0, NULL, NULL, NULL), ND_EINVAL);
  tmpdir_remove(dir);
}

/* Index entries of a store's segment name real batches. */
static void index_entries(void) {
  char *dir = tmpdir_make("index");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.index_interval_bytes = 1; /* an entry for every batch */
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  char val[100];
  memset(val, 'x', sizeof val);
  for (int i = 0; i < 10; i++) {
    nd_record r = {
        .value = val, .value_len = sizeof val, .timestamp = 5000 + i};
    CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  }
  char hash[65], seg[PATH_MAX + 100], path[PATH_MAX + 200];
  nd_topic_dirname("t", hash);
  snprintf(seg, sizeof seg, "%s/topics/%s/0/00000000000000000000", dir, hash);
  positions p = {0};
  nd_walk_result w;
  snprintf(path, sizeof path, "%s.log", seg);
  CHECK_OK(nd_log_walk(path, 0, note, &p, &w));
  CHECK_EQ_I64(p.n, 10);

  /* While the segment is active its index is preallocated: more slots
   * than entries. */
  nd_index_entry *e = NULL;
  size_t n = 0, slots = 0;
  snprintf(path, sizeof path, "%s.index", seg);
  CHECK_OK(nd_index_read(path, &e, &n, &slots));
  CHECK(n >= 1 && n <= 10);
  CHECK(slots > n);
  for (size_t i = 0; i < n; i++) {
    int found = 0;
    for (int k = 0; k < p.n && k < 64; k++)
      found |= p.pos[k] == e[i].position && p.base[k] == e[i].offset;
    CHECK(found);
    CHECK_EQ_I64(e[i].timestamp, -1);
    CHECK_EQ_I64(e[i].offset, e[i].relative);
  }
  nd_free(e);
  snprintf(path, sizeof path, "%s.timeindex", seg);
  CHECK_OK(nd_index_read(path, &e, &n, NULL));
  CHECK(n >= 1);
  for (size_t i = 0; i < n; i++) {
    CHECK(e[i].timestamp >= 5000 && e[i].timestamp <= 5009);
    CHECK_EQ_I64(e[i].position, 0);
    CHECK(i == 0 || e[i].timestamp >= e[i - 1].timestamp);
  }
  nd_free(e);
  CHECK_OK(nd_close(s));

  /* Errors: a missing file, a name that is not an index. */
  snprintf(path, sizeof path, "%s/00000000000000000005.index", dir);
  e = (nd_index_entry *)1;
  CHECK_RC(nd_index_read(path, &e, &n, NULL), -ENOENT);
  CHECK(e == NULL && n == 0);
  snprintf(path, sizeof path, "%s.log", seg);
  CHECK_RC(nd_index_read(path, &e, &n, NULL), ND_EINVAL);
  CHECK_RC(nd_index_read(NULL, &e, &n, NULL), ND_EINVAL);
  snprintf(path, sizeof path, "%s/notasegment.index", dir);
  CHECK_RC(nd_index_read(path, &e, &n, NULL), ND_EINVAL);
  tmpdir_remove(dir);
}

static void segment_names(void) {
  CHECK_EQ_I64(nd_segment_base("00000000000000000042.log"), 42);
  CHECK_EQ_I64(nd_segment_base("/a/b/00000000000000001000.timeindex"), 1000);
  CHECK_EQ_I64(nd_segment_base("09223372036854775807.index"), INT64_MAX);
  CHECK_RC(nd_segment_base("99999999999999999999.log"), ND_EINVAL);
  CHECK_RC(nd_segment_base("0000000000000000042.log"), ND_EINVAL);
  CHECK_RC(nd_segment_base("0000000000000000004x2.log"), ND_EINVAL);
  CHECK_RC(nd_segment_base("00000000000000000042log"), ND_EINVAL);
  CHECK_RC(nd_segment_base(NULL), ND_EINVAL);
}

int main(void) {
  RUN(walk_clean_and_damaged);
  RUN(walk_mem_matches_file);
  RUN(index_entries);
  RUN(segment_names);
  TEST_MAIN_END();
}
