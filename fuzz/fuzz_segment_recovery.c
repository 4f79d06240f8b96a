/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_segment_recovery.c — opening a store whose partition log holds
 * arbitrary bytes, as after a crash or disk damage.
 *
 * Input: one flags byte, then the new content of the partition's files,
 * separated by the 8-byte marker "NDFUZZ--":
 *   part 0  00000000000000000000.log
 *   part 1  00000000000000000000.index      (absent: none, rebuilt)
 *   part 2  00000000000000000000.timeindex
 *   part 3  recovery-point
 *   part 4  log-start-offset
 * flags:
 *   bit 0  recompute the CRC of every batch in the log
 *   bit 1  rewrite base offsets so batches are dense from offset 0
 *   bit 2  keep clean-shutdown (the store then trusts the files it finds)
 *
 * With only a log and no clean-shutdown (the strict mode: what a crash
 * leaves), recovery must open the store, every offset below the high
 * watermark must read back as whole batches with a valid CRC and dense
 * offsets, an append must succeed at the high watermark, and the state
 * must survive a close and reopen. With lying index files, a recovery
 * point or clean-shutdown the store may refuse to open or fail a read
 * with an error, but must not crash, hang or read out of bounds; if it
 * takes the partition offline (damage in synced data), the log must be
 * left whole.
 */
#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz.h"
#include "nodata.h"
#include "nodata_codecs.h"

#define MARKER "NDFUZZ--"
#define MARKER_LEN 8
#define NPARTS 5

static const char *const part_names[NPARTS] = {
    "00000000000000000000.log", "00000000000000000000.index",
    "00000000000000000000.timeindex", "recovery-point", "log-start-offset"};

static char store_dir[PATH_MAX];
static char part_dir[PATH_MAX];

static nd_options options(void) {
  nd_options o;
  memset(&o, 0, sizeof o);
  o.no_background = 1;
  o.decompress = nd_codecs_decompress;
  return o;
}

static void setup(void) {
  if (store_dir[0])
    return;
  snprintf(store_dir, sizeof store_dir, "%s/store",
           fuzz_scratch_dir("segment"));
  nd_options o = options();
  nd_store *s;
  FUZZ_CHECK(nd_open(store_dir, &o, &s) == 0);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  /* Small so that recovery builds several index entries from a short log. */
  cfg.index_interval_bytes = 128;
  cfg.segment_index_bytes = 4096;
  cfg.fsync = ND_FSYNC_NEVER;
  FUZZ_CHECK(nd_topic_create(s, "t", 1, &cfg) == 0);
  FUZZ_CHECK(nd_close(s) == 0);
  char hex[65];
  nd_topic_dirname("t", hex);
  snprintf(part_dir, sizeof part_dir, "%s/topics/%s/0", store_dir, hex);
}

static void clear_partition(void) {
  DIR *d = opendir(part_dir);
  FUZZ_CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", part_dir, e->d_name);
    FUZZ_CHECK(fuzz_rm_rf(path) == 0);
  }
  closedir(d);
}

static void make_dense(uint8_t *p, size_t n) {
  size_t pos = 0;
  int64_t next = 0;
  while (n - pos >= ND_BATCH_HEADER_SIZE) {
    uint32_t len = be32(p + pos + 8);
    if (len < 49 || len > n - pos - 12)
      return;
    put_be64(p + pos, (uint64_t)next);
    next = (int64_t)((uint64_t)batch_last_offset(p + pos) + 1);
    pos += (size_t)len + 12;
  }
}

/* The partition's segments, oldest first, as one buffer (malloc'ed). */
static uint8_t *read_logs(size_t *len) {
  struct dirent **names;
  int n = scandir(part_dir, &names, NULL, alphasort);
  FUZZ_CHECK(n >= 0);
  uint8_t *buf = NULL;
  size_t used = 0;
  for (int i = 0; i < n; i++) {
    size_t nl = strlen(names[i]->d_name);
    if (nl > 4 && strcmp(names[i]->d_name + nl - 4, ".log") == 0) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", part_dir, names[i]->d_name);
      FILE *f = fopen(path, "rb");
      FUZZ_CHECK(f != NULL);
      struct stat st;
      FUZZ_CHECK(fstat(fileno(f), &st) == 0);
      buf = realloc(buf, used + (size_t)st.st_size + 1);
      FUZZ_CHECK(buf != NULL);
      FUZZ_CHECK(fread(buf + used, 1, (size_t)st.st_size, f) ==
                 (size_t)st.st_size);
      used += (size_t)st.st_size;
      fclose(f);
    }
    free(names[i]);
  }
  free(names);
  *len = used;
  return buf;
}

/* Recovery keeps a prefix of the log it found, cut at a batch boundary;
 * after it the store may only have appended control batches (the abort
 * markers of transactions that no coordinator knows). */
static void check_kept_prefix(const uint8_t *found, size_t found_len,
                              int64_t size_bytes) {
  size_t len;
  uint8_t *now = read_logs(&len);
  FUZZ_CHECK((int64_t)len == size_bytes);
  size_t pos = 0;
  while (pos < len && pos < found_len) {
    nd_batch_info bi;
    FUZZ_CHECK(nd_batch_check(now + pos, len - pos, 1, &bi) == 0);
    if (bi.size > found_len - pos ||
        memcmp(now + pos, found + pos, bi.size) != 0)
      break;
    pos += bi.size;
  }
  while (pos < len) {
    nd_batch_info bi;
    FUZZ_CHECK(nd_batch_check(now + pos, len - pos, 1, &bi) == 0);
    FUZZ_CHECK(be16(now + pos + 21) & 0x20); /* control */
    pos += bi.size;
  }
  free(now);
}

/* Read [log_start, hw) batch by batch. */
static void read_all(nd_store *s, int64_t log_start, int64_t hw, int strict) {
  int64_t off = log_start;
  /* Every read returns at least one batch of the log, so a strict read
   * loop ends; a lying index could make one step by one offset at a time
   * towards a high watermark far away. */
  for (int reads = 0; off < hw && reads < 10000; reads++) {
    nd_batches b;
    int rc = nd_read(s, "t", 0, off, 64 * 1024, &b);
    if (!strict && rc != 0)
      return;
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(b.len > 0 && b.data != NULL);
    FUZZ_CHECK(b.high_watermark == hw);
    /* Whole batches with valid CRCs, the first holding `off`, dense after
     * it. Without strict mode the store trusts what clean-shutdown, an
     * index or a recovery point vouch for, so the bytes are only read. */
    size_t pos = 0;
    int64_t expect = INT64_MIN;
    while (strict && pos < b.len) {
      nd_batch_info bi;
      if (nd_batch_check(b.data + pos, b.len - pos, 1, &bi) != 0) {
        fprintf(stderr, "read at %lld: bad batch at byte %zu of %zu: %s\n",
                (long long)off, pos, b.len, nd_errmsg());
        FUZZ_CHECK(!"nd_read returned an invalid batch");
      }
      int64_t base = (int64_t)be64(b.data + pos);
      int64_t last = batch_last_offset(b.data + pos);
      if (expect == INT64_MIN)
        FUZZ_CHECK(base <= off && off <= last);
      else
        FUZZ_CHECK(base == expect);
      expect = (int64_t)((uint64_t)last + 1);
      pos += (size_t)bi.size;
    }
    if (strict)
      FUZZ_CHECK(b.next_offset == expect && b.next_offset <= hw);
    /* Records: the iterator may reject a malformed record inside a batch
     * whose header and CRC are sound (recovery does not decode records),
     * but must not crash. */
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, off, nd_codecs_decompress);
    nd_record_view v;
    int n = 0;
    while (n < 100000 && nd_iter_next(&it, &v) == 1) {
      fuzz_touch(v.key, v.key_len);
      fuzz_touch(v.value, v.value_len);
      n++;
    }
    nd_iter_close(&it);
    int64_t next = b.next_offset;
    nd_free(b.data);
    if (next <= off) {
      FUZZ_CHECK(!strict);
      return;
    }
    off = next;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  setup();
  uint8_t flags = data[0];
  const uint8_t *parts[NPARTS];
  size_t lens[NPARTS];
  int nparts = 0;
  const uint8_t *p = data + 1, *end = data + size;
  while (nparts < NPARTS) {
    const uint8_t *m = memmem(p, (size_t)(end - p), MARKER, MARKER_LEN);
    parts[nparts] = p;
    lens[nparts] = (size_t)((m ? m : end) - p);
    nparts++;
    if (!m)
      break;
    p = m + MARKER_LEN;
  }
  int clean = (flags & 4) != 0;
  int strict = nparts == 1 && !clean;

  clear_partition();
  /* Kept until the end of the run: the strict checks compare with it. */
  static uint8_t *log;
  log = realloc(log, lens[0] ? lens[0] : 1);
  FUZZ_CHECK(log != NULL);
  memcpy(log, parts[0], lens[0]);
  if (flags & 2)
    make_dense(log, lens[0]);
  if (flags & 1)
    fuzz_fix_batch_crcs(log, lens[0]);
  char path[PATH_MAX];
  for (int i = 0; i < nparts; i++) {
    snprintf(path, sizeof path, "%s/%s", part_dir, part_names[i]);
    fuzz_write_file(path, i == 0 ? log : parts[i], lens[i]);
  }
  snprintf(path, sizeof path, "%s/clean-shutdown", store_dir);
  if (clean)
    fuzz_write_file(path, "", 0);
  else
    unlink(path);

  nd_options o = options();
  nd_store *s;
  int rc = nd_open(store_dir, &o, &s);
  if (!strict && rc != 0)
    return 0;
  FUZZ_CHECK(rc == 0);
  int64_t ls, hw;
  rc = nd_offsets(s, "t", 0, &ls, &hw);
  if (rc == ND_EFAILED && !strict) {
    /* Damage below a recovery point or after a clean close takes the
     * partition offline; nothing may have been cut. */
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", part_dir, part_names[0]);
    FUZZ_CHECK(stat(path, &st) == 0 && (size_t)st.st_size == lens[0]);
    FUZZ_CHECK(nd_close(s) == 0);
    return 0;
  }
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(0 <= ls && ls <= hw);
  nd_partition_info info;
  FUZZ_CHECK(nd_partition_describe(s, "t", 0, &info) == 0);
  FUZZ_CHECK(info.high_watermark == hw && info.log_start_offset == ls);
  FUZZ_CHECK(info.recovery_point <= hw);
  if (strict) {
    FUZZ_CHECK(ls == 0);
    check_kept_prefix(log, lens[0], info.size_bytes);
  }
  read_all(s, ls, hw, strict);

  nd_batches b;
  FUZZ_CHECK(nd_read(s, "t", 0, hw, 1024, &b) == 0 && b.len == 0);
  nd_free(b.data);
  FUZZ_CHECK(nd_read(s, "t", 0, hw + 1, 1024, &b) == ND_ERANGE);
  int64_t o_ts, ts;
  nd_offset_for_time(s, "t", 0, 0, &o_ts, &ts);
  nd_offset_for_time(s, "t", 0, info.max_timestamp, &o_ts, &ts);

  nd_record rec = {"k", 1, "v", 1, NULL, 0, 1000};
  nd_append_info ai;
  rc = nd_append(s, "t", 0, &rec, 1, 0, &ai);
  if (strict) {
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(ai.base_offset == hw && ai.last_offset == hw);
  }
  rc = nd_close(s);
  FUZZ_CHECK(!strict || rc == 0);
  if (!strict)
    return 0;

  /* What recovery kept, plus the append, is what the next open finds. */
  FUZZ_CHECK(nd_open(store_dir, &o, &s) == 0);
  int64_t ls2, hw2;
  FUZZ_CHECK(nd_offsets(s, "t", 0, &ls2, &hw2) == 0);
  FUZZ_CHECK(ls2 == ls && hw2 == hw + 1);
  FUZZ_CHECK(nd_read(s, "t", 0, hw, 1024, &b) == 0 && b.len > 0);
  nd_iter it;
  nd_iter_init(&it, b.data, b.len, hw, nd_codecs_decompress);
  nd_record_view v;
  FUZZ_CHECK(nd_iter_next(&it, &v) == 1 && v.offset == hw && v.key_len == 1 &&
             v.key[0] == 'k' && v.value_len == 1 && v.value[0] == 'v');
  nd_iter_close(&it);
  nd_free(b.data);
  FUZZ_CHECK(nd_close(s) == 0);
  return 0;
}
