/* SPDX-License-Identifier: Apache-2.0 */
/* Segments and indexes: rolling by size, by age and by a full index;
 * lookups by offset and time at and around every segment boundary;
 * retention by time and size; DeleteRecords; all across reopen. */
#include "test.h"

#include <time.h>

#include "nodata_zerocopy.h"

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

/* Append `n` batches of 3 records with timestamps 10*offset. */
static int fill(nd_store *s, const char *topic, int n) {
  for (int b = 0; b < n; b++) {
    int64_t hw;
    nd_offsets(s, topic, 0, NULL, &hw);
    nd_record recs[3];
    char vals[3][40];
    for (int i = 0; i < 3; i++) {
      int len = snprintf(vals[i], sizeof vals[i], "value-%06lld",
                         (long long)(hw + i));
      recs[i] =
          (nd_record){NULL, 0, vals[i], (size_t)len, NULL, 0, 10 * (hw + i)};
    }
    if (nd_append(s, topic, 0, recs, 3, 0, NULL) != 0)
      return -1;
  }
  return 0;
}

/* Every offset in [from, to) reads back as itself, from the right batch,
 * and every timestamp lookup lands on its record. */
static int check_all(nd_store *s, const char *topic, int64_t from, int64_t to) {
  for (int64_t off = from; off < to; off++) {
    nd_batches b;
    if (nd_read(s, topic, 0, off, 1, &b) != 0)
      return fprintf(stderr, "read %lld: %s\n", (long long)off, nd_errmsg()),
             -1;
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    nd_record_view v;
    char want[40];
    snprintf(want, sizeof want, "value-%06lld", (long long)off);
    int ok = nd_iter_next(&it, &v) == 1 && v.offset == off &&
             v.value_len == strlen(want) && !memcmp(v.value, want, v.value_len);
    nd_iter_close(&it);
    nd_free(b.data);
    int64_t found = -1, ts = -1;
    if (!ok || nd_offset_for_time(s, topic, 0, 10 * off, &found, &ts) != 0 ||
        found != off || ts != 10 * off) {
      fprintf(stderr, "offset %lld: read ok=%d, by time %lld\n", (long long)off,
              ok, (long long)found);
      return -1;
    }
    /* A time between two records finds the later one. */
    if (off + 1 < to &&
        (nd_offset_for_time(s, topic, 0, 10 * off + 5, &found, &ts) != 0 ||
         found != off + 1))
      return fprintf(stderr, "between %lld and next: %lld\n", (long long)off,
                     (long long)found),
             -1;
  }
  return 0;
}

static void roll_by_size(void) {
  char *dir = tmpdir_make("roll");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1024;
  cfg.index_interval_bytes = 200;
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  CHECK_OK(fill(s, "t", 60));
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK_EQ_I64(pi.high_watermark, 180);
  CHECK(pi.segment_count > 5);
  int32_t segs = pi.segment_count;
  /* No segment exceeds segment.bytes (each batch is far smaller). */
  char hash[65], pdir[PATH_MAX];
  nd_topic_dirname("t", hash);
  snprintf(pdir, sizeof pdir, "%s/topics/%s/0", dir, hash);
  CHECK_OK(check_all(s, "t", 0, 180));
  CHECK_OK(nd_close(s));
  /* After a clean reopen: same answers, and sealed index files were
   * trimmed to whole entries. */
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK_EQ_I64(pi.segment_count, segs);
  CHECK_EQ_I64(pi.high_watermark, 180);
  CHECK_EQ_I64(pi.max_timestamp, 1790);
  CHECK_OK(check_all(s, "t", 0, 180));
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/00000000000000000000.index", pdir);
  struct stat st;
  CHECK(stat(path, &st) == 0 && st.st_size % 8 == 0 && st.st_size > 0 &&
        st.st_size < 1024);
  snprintf(path, sizeof path, "%s/00000000000000000000.log", pdir);
  CHECK(stat(path, &st) == 0 && st.st_size <= 1024);
  /* Appends continue after the last segment. */
  CHECK_OK(fill(s, "t", 5));
  CHECK_OK(check_all(s, "t", 170, 195));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void roll_by_full_index_and_age(void) {
  char *dir = tmpdir_make("rollidx");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_index_bytes = 4096; /* 512 offset entries */
  cfg.index_interval_bytes = 0;   /* an entry per batch */
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  CHECK_OK(fill(s, "t", 1200));
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK(pi.segment_count >= 3);
  CHECK_OK(check_all(s, "t", 0, 3600));
  /* segment.ms: nd_maintain with a clock past the age rolls. */
  nd_topic_config_init(&cfg);
  cfg.segment_ms = 1000;
  cfg.retention_ms = -1; /* fill() stamps records in 1970 */
  CHECK_OK(nd_topic_create(s, "aged", 1, &cfg));
  CHECK_OK(fill(s, "aged", 2));
  CHECK_OK(nd_partition_describe(s, "aged", 0, &pi));
  CHECK_EQ_I64(pi.segment_count, 1);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  CHECK_OK(nd_maintain(s, now + 5000));
  CHECK_OK(nd_partition_describe(s, "aged", 0, &pi));
  CHECK_EQ_I64(pi.segment_count, 2);
  CHECK_OK(check_all(s, "aged", 0, 6));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void retention(void) {
  char *dir = tmpdir_make("ret");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1024;
  cfg.retention_ms = -1;
  cfg.retention_bytes = 4096;
  CHECK_OK(nd_topic_create(s, "bytes", 1, &cfg));
  CHECK_OK(fill(s, "bytes", 80));
  nd_partition_info before, after;
  CHECK_OK(nd_partition_describe(s, "bytes", 0, &before));
  CHECK_OK(nd_maintain(s, 0));
  CHECK_OK(nd_partition_describe(s, "bytes", 0, &after));
  CHECK(after.size_bytes <= 4096 + 1024);
  CHECK(after.size_bytes >= 4096 - 1024);
  CHECK(after.log_start_offset > 0);
  CHECK_EQ_I64(after.high_watermark, before.high_watermark);
  int64_t ls = after.log_start_offset;
  nd_batches b;
  CHECK_RC(nd_read(s, "bytes", 0, ls - 1, 100, &b), ND_ERANGE);
  CHECK_OK(check_all(s, "bytes", ls, after.high_watermark));

  /* By time: records stamped 10*offset ms are all ancient. */
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1024;
  cfg.retention_ms = 60000;
  CHECK_OK(nd_topic_create(s, "time", 1, &cfg));
  CHECK_OK(fill(s, "time", 40));
  CHECK_OK(nd_maintain(s, 0));
  nd_partition_info t;
  CHECK_OK(nd_partition_describe(s, "time", 0, &t));
  CHECK_EQ_I64(t.segment_count, 1); /* only the active segment stays */
  CHECK(t.log_start_offset > 0);
  CHECK_OK(nd_close(s));

  /* Survives restart. */
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_partition_describe(s, "bytes", 0, &after));
  CHECK_EQ_I64(after.log_start_offset, ls);
  CHECK_OK(nd_partition_describe(s, "time", 0, &after));
  CHECK_EQ_I64(after.log_start_offset, t.log_start_offset);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void delete_records(void) {
  char *dir = tmpdir_make("delrec");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1024;
  CHECK_OK(nd_topic_create(s, "d", 1, &cfg));
  CHECK_OK(fill(s, "d", 30));
  int64_t start;
  CHECK_OK(nd_delete_records(s, "d", 0, 47, &start));
  CHECK_EQ_I64(start, 47);
  nd_batches b;
  CHECK_RC(nd_read(s, "d", 0, 46, 100, &b), ND_ERANGE);
  CHECK_OK(check_all(s, "d", 47, 90));
  CHECK_RC(nd_delete_records(s, "d", 0, 91, &start), ND_ERANGE);
  /* Moving backwards is a no-op. */
  CHECK_OK(nd_delete_records(s, "d", 0, 10, &start));
  CHECK_EQ_I64(start, 47);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "d", 0, &pi));
  int32_t segs = pi.segment_count;
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_partition_describe(s, "d", 0, &pi));
  CHECK_EQ_I64(pi.log_start_offset, 47);
  CHECK_EQ_I64(pi.segment_count, segs);
  /* Everything: the log start moves to the end; appends continue. */
  CHECK_OK(nd_delete_records(s, "d", 0, -1, &start));
  CHECK_EQ_I64(start, 90);
  CHECK_OK(fill(s, "d", 1));
  CHECK_OK(check_all(s, "d", 90, 93));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void time_lookup_edges(void) {
  char *dir = tmpdir_make("time");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 2048;
  cfg.index_interval_bytes = 128;
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  /* Timestamps out of order inside batches: the answer is still the
   * first offset whose timestamp is >= T. */
  int64_t stamps[] = {100, 50, 300, 200, 400, 350, 500, 600, 550, 700};
  for (int round = 0; round < 20; round++)
    for (int i = 0; i < 10; i += 2) {
      nd_record r[2] = {
          {NULL, 0, "a", 1, NULL, 0, stamps[i] + 1000 * round},
          {NULL, 0, "b", 1, NULL, 0, stamps[i + 1] + 1000 * round}};
      CHECK_OK(nd_append(s, "t", 0, r, 2, 0, NULL));
    }
  for (int64_t T = 0; T < 20 * 1000 + 800; T += 25) {
    int64_t want = -1;
    for (int64_t off = 0; off < 200; off++) {
      int64_t ts = stamps[off % 10] + 1000 * (off / 10);
      if (ts >= T) {
        want = off;
        break;
      }
    }
    int64_t got, ts;
    CHECK_OK(nd_offset_for_time(s, "t", 0, T, &got, &ts));
    if (got != want)
      fprintf(stderr, "T=%lld: got %lld want %lld\n", (long long)T,
              (long long)got, (long long)want);
    CHECK_EQ_I64(got, want);
  }
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* nd_read_file names exactly the bytes nd_read copies, for every offset
 * and a spread of max_bytes (below, at and across batch sizes, index
 * intervals and segment ends), and its descriptor keeps them readable
 * after the segment is deleted. */
static int same_as_read(nd_store *s, const char *topic, int64_t off,
                        size_t max) {
  nd_batches b;
  nd_file_range fr;
  int rc1 = nd_read(s, topic, 0, off, max, &b);
  int rc2 = nd_read_file(s, topic, 0, off, max, &fr);
  if (rc1 != rc2)
    return fprintf(stderr, "offset %lld max %zu: rc %d vs %d\n", (long long)off,
                   max, rc1, rc2),
           -1;
  if (rc1) {
    if (fr.fd != -1 || fr.len != 0)
      return fprintf(stderr, "a failed read left a descriptor\n"), -1;
    return 0;
  }
  int bad = b.len != fr.len || b.next_offset != fr.next_offset ||
            b.high_watermark != fr.high_watermark ||
            b.log_start_offset != fr.log_start_offset ||
            (fr.len == 0) != (fr.fd < 0);
  if (!bad && fr.len) {
    uint8_t *got = malloc(fr.len);
    bad = !got || pread(fr.fd, got, fr.len, (off_t)fr.pos) != (ssize_t)fr.len ||
          memcmp(got, b.data, fr.len) != 0;
    free(got);
  }
  if (bad)
    fprintf(stderr,
            "offset %lld max %zu: read %zu bytes next %lld, file range %zu "
            "bytes at %lld next %lld\n",
            (long long)off, max, b.len, (long long)b.next_offset, fr.len,
            (long long)fr.pos, (long long)fr.next_offset);
  if (fr.fd >= 0)
    close(fr.fd);
  nd_free(b.data);
  return bad ? -1 : 0;
}

static void read_file_ranges(void) {
  char *dir = tmpdir_make("range");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 8192;
  cfg.index_interval_bytes = 300;
  CHECK_OK(nd_topic_create(s, "r", 1, &cfg));
  /* Batches of 1 to 40 records of 1 to 200 bytes: some far smaller than
   * an index interval, some larger. */
  unsigned seed = 3;
  static char val[200];
  memset(val, 'v', sizeof val);
  for (int b = 0; b < 150; b++) {
    nd_record recs[40];
    int n = 1 + (int)(rand_r(&seed) % 40);
    for (int i = 0; i < n; i++)
      recs[i] = (nd_record){
          NULL, 0, val, 1 + rand_r(&seed) % 200, NULL, 0, ND_TIMESTAMP_NOW};
    CHECK_OK(nd_append(s, "r", 0, recs, (size_t)n, 0, NULL));
  }
  int64_t ls, hw;
  CHECK_OK(nd_offsets(s, "r", 0, &ls, &hw));
  size_t maxes[] = {1, 61, 299, 300, 301, 1000, 4096, 8192, 1 << 20};
  for (int64_t off = 0; off <= hw + 1; off++)
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
      CHECK_OK(same_as_read(s, "r", off, maxes[m]));
  /* A range outlives its segment. */
  nd_file_range fr;
  CHECK_OK(nd_read_file(s, "r", 0, 0, 1 << 20, &fr));
  CHECK(fr.fd >= 0 && fr.len > 0);
  uint8_t *before = malloc(fr.len), *after = malloc(fr.len);
  CHECK(before && after);
  CHECK(pread(fr.fd, before, fr.len, (off_t)fr.pos) == (ssize_t)fr.len);
  int64_t start;
  CHECK_OK(nd_delete_records(s, "r", 0, fr.next_offset, &start));
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "r", 0, &pi));
  CHECK_EQ_I64(pi.log_start_offset, fr.next_offset);
  CHECK(pread(fr.fd, after, fr.len, (off_t)fr.pos) == (ssize_t)fr.len);
  CHECK(memcmp(before, after, fr.len) == 0);
  close(fr.fd);
  free(before);
  free(after);
  CHECK_RC(nd_read_file(s, "r", 0, 0, 100, &fr), ND_ERANGE);
  CHECK_EQ_I64(fr.fd, -1);
  CHECK_RC(nd_read_file(s, "nope", 0, 0, 100, &fr), ND_ENOTOPIC);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(roll_by_size);
  RUN(roll_by_full_index_and_age);
  RUN(retention);
  RUN(delete_records);
  RUN(time_lookup_edges);
  RUN(read_file_ranges);
  TEST_MAIN_END();
}
