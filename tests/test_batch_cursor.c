/* SPDX-License-Identifier: Apache-2.0 */
/* The batch cursor (src/batch.h) through its contract: every source and
 * buffer size, torn tails, bad CRCs at each level, offsets going
 * backwards, empty input, batches larger than the buffer, read counts and
 * read errors. Through the public API only: nd_batch_encode builds the
 * logs, nd_batch_check and nd_log_walk are held to the cursor, and the
 * cursor itself is reached through nodata_testing.h's nd_test_cursor_*
 * (what only it exposes: buffer sizes, levels, memory prefixes). */
#include "test.h"

#include "bytes.h"
#include "nodata_testing.h"

/* Header field positions (nodata.h, "Batches and segment files"). */
#define AT_LENGTH 8
#define AT_MAGIC 16
#define AT_CRC 17
#define AT_RECORD_COUNT 57

static int stop_is_finding(int s) {
  return s >= ND_TEST_STOP_TORN && s <= ND_TEST_STOP_CRC;
}

/* ---- the batch cursor ---------------------------------------------------- */

#define LOG_MAX 256

/* A log image: batches back to back with dense offsets, where each is. */
typedef struct log_img {
  uint8_t *data;
  size_t len;
  int n;
  uint64_t pos[LOG_MAX], size[LOG_MAX];
  int64_t base[LOG_MAX];
} log_img;

/* n batches; batch i holds i % 3 + 1 records of vlen bytes, except batch
 * big_at (if >= 0), whose records are big_len bytes. */
static int log_make(log_img *l, int n, size_t vlen, int big_at,
                    size_t big_len) {
  static uint8_t val[1 << 16];
  memset(l, 0, sizeof *l);
  int64_t off = 0;
  for (int i = 0; i < n && i < LOG_MAX; i++) {
    size_t cnt = (size_t)(i % 3 + 1);
    size_t len = i == big_at ? big_len : vlen;
    memset(val, 'a' + i % 26, len);
    nd_record recs[3];
    for (size_t k = 0; k < cnt; k++)
      recs[k] = (nd_record){NULL, 0, val, len, NULL, 0, 1000 + i};
    void *b = NULL;
    size_t sz = 0;
    if (nd_batch_encode(recs, cnt, off, 0, 0, &b, &sz) != 0)
      return -1;
    uint8_t *nd = realloc(l->data, l->len + sz);
    if (!nd) {
      nd_free(b);
      return -1;
    }
    memcpy(nd + l->len, b, sz);
    nd_free(b);
    l->data = nd;
    l->pos[i] = l->len;
    l->size[i] = (uint64_t)sz;
    l->base[i] = off;
    l->len += sz;
    l->n++;
    off += (int64_t)cnt;
  }
  return 0;
}

/* The image's bytes [0, len) as a file in dir; an O_RDONLY descriptor. */
static int log_file(const char *dir, const log_img *l, size_t len) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/walk.log", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  if (len && write(fd, l->data, len) != (ssize_t)len) {
    close(fd);
    return -1;
  }
  close(fd);
  return open(path, O_RDONLY | O_CLOEXEC);
}

/* Walk c to its stop. Returns how many batches it yielded, each checked to
 * be the image's next one from `first` on (position, size, and its bytes:
 * the whole batch when `whole`, else the header); -1 at the first that is
 * not, or the negative code next() returned. */
static int walk(nd_test_cursor *c, const log_img *l, int first, int whole) {
  int n = 0, rc;
  while ((rc = nd_test_cursor_next(c)) == 1) {
    int i = first + n;
    if (i >= l->n || c->pos != l->pos[i] || c->size != l->size[i] ||
        memcmp(c->batch, l->data + l->pos[i],
               whole ? (size_t)l->size[i] : ND_BATCH_HEADER_SIZE) != 0)
      return -1;
    n++;
  }
  return rc < 0 ? rc : n;
}

static const unsigned levels[] = {
    ND_TEST_LEVEL_HEADER, ND_TEST_LEVEL_SANE, ND_TEST_LEVEL_CRC,
    ND_TEST_LEVEL_SANE | ND_TEST_CHECK_DENSE, ND_TEST_LEVEL_CLIENT};
#define NLEVELS (sizeof levels / sizeof levels[0])

/* Every level, from files through buffers of every size (the caller's or
 * the cursor's own) and from memory, yields exactly the batches written
 * and stops at a clean end; a walk may start at any batch. */
static void cursor_walks_whole_logs(void) {
  log_img l;
  CHECK_OK(log_make(&l, 40, 50, 7, 20000)); /* batch 7: 3 x 20 KB */
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  int fd = log_file(dir, &l, l.len);
  CHECK(fd >= 0);
  static uint8_t mine[1 << 20];
  const size_t caps[] = {1, 61, 100, 4096, 1 << 20};
  for (size_t k = 0; k < NLEVELS; k++) {
    for (size_t j = 0; j < sizeof caps / sizeof caps[0]; j++) {
      for (int own = 0; own < 2; own++) {
        nd_test_cursor c;
        nd_test_cursor_fd(&c, fd, 0, l.len, own ? NULL : mine, caps[j],
                          levels[k]);
        int whole = (levels[k] & ND_TEST_CHECK_CRC) != 0;
        CHECK_EQ_I64(walk(&c, &l, 0, whole), l.n);
        CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
        CHECK_EQ_I64(c.stop_pos, l.len);
        CHECK(c.batch == NULL);
        /* A stopped cursor stays stopped. */
        CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
        CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
        nd_test_cursor_close(&c);
        nd_test_cursor_close(&c); /* twice is safe */
      }
    }
    nd_test_cursor c;
    nd_test_cursor_mem(&c, l.data, l.len, l.len, levels[k]);
    CHECK_EQ_I64(walk(&c, &l, 0, 1), l.n);
    CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
    CHECK_EQ_I64(c.stop_pos, l.len);
    /* From batch 5, with the offset it must have. */
    nd_test_cursor_fd(&c, fd, l.pos[5], l.len, NULL, 4096, levels[k]);
    nd_test_cursor_expect(&c, l.base[5]);
    CHECK_EQ_I64(walk(&c, &l, 5, 0), l.n - 5);
    CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
    nd_test_cursor_close(&c);
  }
  close(fd);
  tmpdir_remove(dir);
  free(l.data);
}

/* A log cut anywhere in its last batch: every level yields the batches
 * before it and stops there, TORN, saying whether the header or the batch
 * was cut; a memory prefix of a longer log stops with MEMORY instead. */
static void cursor_torn_tail(void) {
  log_img l;
  CHECK_OK(log_make(&l, 12, 30, -1, 0));
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  int last = l.n - 1;
  const uint64_t cuts[] = {1, 12, 16, 17, 30, 60, 61, 62, l.size[last] - 1};
  for (size_t j = 0; j < sizeof cuts / sizeof cuts[0]; j++) {
    size_t len = (size_t)(l.pos[last] + cuts[j]);
    int fd = log_file(dir, &l, len);
    CHECK(fd >= 0);
    const char *why =
        cuts[j] < 17 ? "truncated batch header" : "batch cut short";
    for (size_t k = 0; k < NLEVELS; k++) {
      nd_test_cursor c;
      nd_test_cursor_fd(&c, fd, 0, len, NULL, 64, levels[k]);
      CHECK_EQ_I64(walk(&c, &l, 0, 0), last);
      CHECK_EQ_I64(c.stop, ND_TEST_STOP_TORN);
      CHECK_EQ_I64(c.stop_pos, l.pos[last]);
      CHECK(!strcmp(c.why, why));
      /* The size the header claims, once its length could be read. */
      CHECK_EQ_I64(c.size, cuts[j] < 17 ? 0 : l.size[last]);
      nd_test_cursor_close(&c);
      /* Told the log is longer than the file: the file's end cuts the
       * walk where it reads. Below the CRC level only headers are read:
       * a batch whose header is whole is taken at its word, up to the end
       * the caller gave. */
      nd_test_cursor_fd(&c, fd, 0, l.len, NULL, 4096, levels[k]);
      int reads_whole = (levels[k] & ND_TEST_CHECK_CRC) || cuts[j] < 61;
      CHECK_EQ_I64(walk(&c, &l, 0, 0), reads_whole ? last : last + 1);
      CHECK_EQ_I64(c.stop, reads_whole ? ND_TEST_STOP_TORN : ND_TEST_STOP_END);
      CHECK_EQ_I64(c.stop_pos, reads_whole ? l.pos[last] : l.len);
      nd_test_cursor_close(&c);
      nd_test_cursor_mem(&c, l.data, len, len, levels[k]);
      CHECK_EQ_I64(walk(&c, &l, 0, 1), last);
      CHECK_EQ_I64(c.stop, ND_TEST_STOP_TORN);
      CHECK_EQ_I64(c.stop_pos, l.pos[last]);
      nd_test_cursor_mem(&c, l.data, len, l.len, levels[k]);
      CHECK_EQ_I64(walk(&c, &l, 0, 1), last);
      CHECK_EQ_I64(c.stop, ND_TEST_STOP_MEMORY);
      CHECK_EQ_I64(c.stop_pos, l.pos[last]);
      CHECK_EQ_I64(c.size, cuts[j] < 12 ? 0 : l.size[last]);
    }
    close(fd);
  }
  tmpdir_remove(dir);
  free(l.data);
}

/* Walk a copy of l's bytes changed by `mutate` at each level, from a file
 * (cap-byte buffer) and from memory; for each level, want[k] batches must
 * be yielded and the walk stop with stop[k] at the start of batch want[k]
 * (or at the end when all are). */
typedef void (*log_mutate)(uint8_t *data, const log_img *l);

/* nd_log_walk's finding for the cursor's stop (the library's table, in
 * inspect.c, written out again: the test's expectation). */
static int walk_stop_of(int stop) {
  switch (stop) {
  case ND_TEST_STOP_TORN:
    return ND_WALK_TORN;
  case ND_TEST_STOP_LENGTH:
    return ND_WALK_BAD_LENGTH;
  case ND_TEST_STOP_MAGIC:
    return ND_WALK_BAD_MAGIC;
  case ND_TEST_STOP_FIELDS:
    return ND_WALK_BAD_COUNT;
  case ND_TEST_STOP_BACKWARDS:
    return ND_WALK_BACKWARDS;
  case ND_TEST_STOP_CRC:
    return ND_WALK_BAD_CRC;
  default:
    return ND_WALK_END;
  }
}

static int walk_changed(const char *dir, const log_img *l, log_mutate mutate,
                        const int want[NLEVELS], const int stop[NLEVELS],
                        int *failed_level) {
  log_img m = *l;
  m.data = malloc(l->len);
  if (!m.data)
    return -1;
  memcpy(m.data, l->data, l->len);
  mutate(m.data, &m);
  int fd = log_file(dir, &m, m.len);
  int bad = fd < 0;
  for (size_t k = 0; !bad && k < NLEVELS; k++) {
    uint64_t at = want[k] < m.n ? m.pos[want[k]] : m.len;
    for (int src = 0; !bad && src < 3; src++) {
      nd_test_cursor c;
      if (src == 2)
        nd_test_cursor_mem(&c, m.data, m.len, m.len, levels[k]);
      else
        nd_test_cursor_fd(&c, fd, 0, m.len, NULL, src ? 100 : 1 << 20,
                          levels[k]);
      /* Yielded batches are compared with the changed bytes. */
      int got = walk(&c, &m, 0, src == 2);
      bad = got != want[k] || c.stop != stop[k] || c.stop_pos != at ||
            (stop_is_finding(c.stop) && !c.why);
      nd_test_cursor_close(&c);
    }
    /* The public walk is this cursor at SANE (CHECK_ORDER) and at CRC
     * (with STOP_CRC): the same batches and finding, renamed. */
    unsigned flags = levels[k] == ND_TEST_LEVEL_SANE ? ND_WALK_CHECK_ORDER
                     : levels[k] == ND_TEST_LEVEL_CRC
                         ? ND_WALK_CHECK_ORDER | ND_WALK_STOP_CRC
                         : 0;
    if (!bad && flags) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/walk.log", dir);
      nd_walk_result w;
      bad = nd_log_walk(path, flags, NULL, NULL, &w) != 0 ||
            w.batches != want[k] || w.stop != walk_stop_of(stop[k]) ||
            w.stop_pos != (want[k] < m.n ? (int64_t)at : -1);
    }
    if (bad)
      *failed_level = (int)k;
  }
  if (fd >= 0)
    close(fd);
  free(m.data);
  return bad;
}

/* Bits flipped in batch 3: its records, then its CRC field. */
static void flip_records(uint8_t *d, const log_img *l) {
  d[l->pos[3] + ND_BATCH_HEADER_SIZE + 2] ^= 0x10;
}
static void flip_crc(uint8_t *d, const log_img *l) {
  d[l->pos[3] + AT_CRC + 3] ^= 0x01;
}
/* Batch 5 starts at batch 4's base: offsets go backwards. */
static void offsets_backwards(uint8_t *d, const log_img *l) {
  put_be64(d + l->pos[5], (uint64_t)l->base[4]);
}
/* Batches 5 and later 10 offsets higher: a gap, still ascending. */
static void offsets_gap(uint8_t *d, const log_img *l) {
  for (int i = 5; i < l->n; i++)
    put_be64(d + l->pos[i], (uint64_t)(l->base[i] + 10));
}
static void length_48(uint8_t *d, const log_img *l) {
  put_be32(d + l->pos[3] + AT_LENGTH, 48);
}
static void magic_1(uint8_t *d, const log_img *l) {
  d[l->pos[3] + AT_MAGIC] = 1;
}
/* Negative record count: the framing holds, the fields do not (and the
 * CRC no longer matches, which FIELDS, checked first, reports). */
static void count_negative(uint8_t *d, const log_img *l) {
  put_be32(d + l->pos[3] + AT_RECORD_COUNT, (uint32_t)-1);
}

/* Each finding is reported by exactly the levels that check it, at the
 * batch that has it, from every source: levels are HEADER, SANE, CRC,
 * SANE+DENSE, CLIENT. */
static void cursor_findings_by_level(void) {
  log_img l;
  CHECK_OK(log_make(&l, 10, 40, -1, 0));
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  const int E = ND_TEST_STOP_END;
  int n = l.n, lvl = -1;
  struct {
    const char *name;
    log_mutate fn;
    int want[NLEVELS];
    int stop[NLEVELS];
  } cases[] = {
      {"flip_records",
       flip_records,
       {n, n, 3, n, 3},
       {E, E, ND_TEST_STOP_CRC, E, ND_TEST_STOP_CRC}},
      {"flip_crc",
       flip_crc,
       {n, n, 3, n, 3},
       {E, E, ND_TEST_STOP_CRC, E, ND_TEST_STOP_CRC}},
      {"offsets_backwards",
       offsets_backwards,
       {n, 5, 5, 5, n},
       {E, ND_TEST_STOP_BACKWARDS, ND_TEST_STOP_BACKWARDS,
        ND_TEST_STOP_BACKWARDS, E}},
      {"offsets_gap",
       offsets_gap,
       {n, n, n, 5, n},
       {E, E, E, ND_TEST_STOP_GAP, E}},
      {"length_48",
       length_48,
       {3, 3, 3, 3, 3},
       {ND_TEST_STOP_LENGTH, ND_TEST_STOP_LENGTH, ND_TEST_STOP_LENGTH,
        ND_TEST_STOP_LENGTH, ND_TEST_STOP_LENGTH}},
      {"magic_1",
       magic_1,
       {3, 3, 3, 3, 3},
       {ND_TEST_STOP_MAGIC, ND_TEST_STOP_MAGIC, ND_TEST_STOP_MAGIC,
        ND_TEST_STOP_MAGIC, ND_TEST_STOP_MAGIC}},
      {"count_negative",
       count_negative,
       {n, 3, 3, 3, 3},
       {E, ND_TEST_STOP_FIELDS, ND_TEST_STOP_FIELDS, ND_TEST_STOP_FIELDS,
        ND_TEST_STOP_FIELDS}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int bad =
        walk_changed(dir, &l, cases[i].fn, cases[i].want, cases[i].stop, &lvl);
    if (bad)
      fprintf(stderr, "case %s: level %d wrong\n", cases[i].name, lvl);
    CHECK(!bad);
  }
  /* nd_batch_check (batch_check) is the same judge on one batch. */
  uint8_t *b = malloc(l.size[3]);
  CHECK(b);
  memcpy(b, l.data + l.pos[3], l.size[3]);
  nd_batch_info info;
  CHECK_EQ_I64(nd_batch_check(b, l.size[3], 1, &info), 0);
  CHECK_EQ_I64(info.size, l.size[3]);
  CHECK_EQ_I64(nd_batch_check(b, l.size[3] - 1, 1, &info), 1);
  b[ND_BATCH_HEADER_SIZE + 2] ^= 0x10;
  CHECK_EQ_I64(nd_batch_check(b, l.size[3], 0, &info), 0);
  CHECK_EQ_I64(nd_batch_check(b, l.size[3], 1, &info), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "CRC-32C mismatch") != NULL);
  free(b);
  tmpdir_remove(dir);
  free(l.data);
}

/* Nothing to walk: an empty buffer, an empty file, a walk that starts at
 * its end, and an empty file the caller thought held bytes. */
static void cursor_zero_length(void) {
  nd_test_cursor c;
  for (size_t k = 0; k < NLEVELS; k++) {
    nd_test_cursor_mem(&c, NULL, 0, 0, levels[k]);
    CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
    CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
    CHECK_EQ_I64(c.stop_pos, 0);
    CHECK(c.batch == NULL);
    nd_test_cursor_close(&c);
    /* Nothing in memory yet of a log that goes on: read more. */
    nd_test_cursor_mem(&c, NULL, 0, 100, levels[k]);
    CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
    CHECK_EQ_I64(c.stop, ND_TEST_STOP_MEMORY);
    CHECK_EQ_I64(c.stop_pos, 0);
    CHECK_EQ_I64(c.size, 0);
  }
  log_img l;
  CHECK_OK(log_make(&l, 3, 10, -1, 0));
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  int fd = log_file(dir, &l, 0);
  CHECK(fd >= 0);
  nd_test_cursor_fd(&c, fd, 0, 0, NULL, 4096, ND_TEST_LEVEL_CRC);
  CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
  nd_test_cursor_close(&c);
  nd_test_cursor_fd(&c, fd, 0, l.len, NULL, 4096, ND_TEST_LEVEL_HEADER);
  CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_TORN);
  CHECK(!strcmp(c.why, "truncated batch header"));
  nd_test_cursor_close(&c);
  close(fd);
  fd = log_file(dir, &l, l.len);
  CHECK(fd >= 0);
  nd_test_cursor_fd(&c, fd, l.pos[2], l.pos[2], NULL, 4096, ND_TEST_LEVEL_CRC);
  CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
  CHECK_EQ_I64(c.stop_pos, l.pos[2]);
  nd_test_cursor_close(&c);
  close(fd);
  tmpdir_remove(dir);
  free(l.data);
}

/* A 60 KB batch through a 4 KB buffer: below the CRC level the walk reads
 * its header only and nd_test_cursor_load() brings the whole batch; at the
 * CRC level it is read whole. A memory walk holding only part of it says
 * so with its size, so the caller can read the rest. */
static void cursor_batch_larger_than_buffer(void) {
  log_img l;
  CHECK_OK(log_make(&l, 6, 20, 2, 20000));
  CHECK(l.size[2] > 60000);
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  int fd = log_file(dir, &l, l.len);
  CHECK(fd >= 0);
  static uint8_t small[4096];
  nd_test_cursor c;
  nd_test_cursor_fd(&c, fd, 0, l.len, small, sizeof small, ND_TEST_LEVEL_SANE);
  int i = 0;
  while (nd_test_cursor_next(&c) == 1) {
    CHECK_EQ_I64(c.size, l.size[i]);
    CHECK_OK(nd_test_cursor_load(&c));
    CHECK_MEM(c.batch, l.data + l.pos[i], l.size[i]);
    i++;
  }
  CHECK_EQ_I64(i, l.n);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_END);
  CHECK_EQ_I64(nd_test_cursor_load(&c), ND_EINVAL); /* no current batch */
  nd_test_cursor_close(&c);
  nd_test_cursor_fd(&c, fd, 0, l.len, small, sizeof small, ND_TEST_LEVEL_CRC);
  CHECK_EQ_I64(walk(&c, &l, 0, 1), l.n);
  nd_test_cursor_close(&c);
  /* Memory: the first 4 KB of the log, which goes on. */
  nd_test_cursor_mem(&c, l.data, 4096, l.len, ND_TEST_LEVEL_CRC);
  CHECK_EQ_I64(walk(&c, &l, 0, 1), 2);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_MEMORY);
  CHECK_EQ_I64(c.stop_pos, l.pos[2]);
  CHECK_EQ_I64(c.size, l.size[2]);
  /* ... and 100 bytes of the big batch alone. */
  nd_test_cursor_mem(&c, l.data + l.pos[2], 100, l.size[2],
                     ND_TEST_LEVEL_HEADER);
  CHECK_EQ_I64(nd_test_cursor_next(&c), 0);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_MEMORY);
  CHECK_EQ_I64(c.size, l.size[2]);
  close(fd);
  tmpdir_remove(dir);
  free(l.data);
}

/* The buffer is refilled only when the next header (or whole batch) is not
 * in it: walking 1000 small batches through 8 KB reads about once per
 * 8 KB, not once per batch, and a CRC walk through 1 MB reads once. */
static void cursor_reads_per_buffer(void) {
  log_img l;
  CHECK_OK(log_make(&l, 250, 20, -1, 0));
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  int fd = log_file(dir, &l, l.len);
  CHECK(fd >= 0);
  long long idle0 = test_proc_io("syscr"), idle1 = test_proc_io("syscr");
  CHECK(idle0 >= 0 && idle1 >= idle0);
  long long cost = idle1 - idle0; /* reading the count itself */
  uint64_t biggest = 0;
  for (int i = 0; i < l.n; i++)
    biggest = l.size[i] > biggest ? l.size[i] : biggest;
  static uint8_t buf[8192];
  nd_test_cursor c;
  nd_test_cursor_fd(&c, fd, 0, l.len, buf, sizeof buf, ND_TEST_LEVEL_SANE);
  long long before = test_proc_io("syscr");
  CHECK_EQ_I64(walk(&c, &l, 0, 0), l.n);
  long long reads = test_proc_io("syscr") - before - cost;
  nd_test_cursor_close(&c);
  /* Each read covers at least 8 KB less one batch of new bytes. */
  CHECK(reads >= 1 && reads <= (long long)(l.len / (8192 - biggest)) + 2);
  CHECK(reads * 8 < l.n);
  nd_test_cursor_fd(&c, fd, 0, l.len, NULL, 1 << 20, ND_TEST_LEVEL_CRC);
  before = test_proc_io("syscr");
  CHECK_EQ_I64(walk(&c, &l, 0, 1), l.n);
  reads = test_proc_io("syscr") - before - cost;
  nd_test_cursor_close(&c);
  CHECK_EQ_I64(reads, 1);
  close(fd);
  tmpdir_remove(dir);
  free(l.data);
}

/* A failed read is not a finding: next() returns the code, the stop is
 * IO, and the bytes are not judged. */
static void cursor_read_error(void) {
  char *dir = tmpdir_make("cursor");
  CHECK(dir);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(fd >= 0);
  nd_test_cursor c;
  nd_test_cursor_fd(&c, fd, 0, 1000, NULL, 4096, ND_TEST_LEVEL_CRC);
  CHECK_EQ_I64(nd_test_cursor_next(&c), -EISDIR);
  CHECK_EQ_I64(c.stop, ND_TEST_STOP_IO);
  CHECK(!stop_is_finding(c.stop));
  CHECK(c.batch == NULL);
  nd_test_cursor_close(&c);
  close(fd);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(cursor_walks_whole_logs);
  RUN(cursor_torn_tail);
  RUN(cursor_findings_by_level);
  RUN(cursor_zero_length);
  RUN(cursor_batch_larger_than_buffer);
  RUN(cursor_reads_per_buffer);
  RUN(cursor_read_error);
  TEST_MAIN_END();
}
