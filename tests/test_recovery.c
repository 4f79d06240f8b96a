/* SPDX-License-Identifier: Apache-2.0 */
/* Recovery: a torn last batch cut at every byte, bit flips in it, damaged
 * and missing index files, a damaged topic.conf. After each, the store
 * opens, serves exactly the intact prefix and keeps appending. */
#include "test.h"

#include <pthread.h>
#include <sys/wait.h>

#include "bytes.h"

#define BATCHES 6
#define PER_BATCH 5

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static void path_of(char *out, const char *dir, const char *topic,
                    const char *file) {
  char hash[65];
  nd_topic_dirname(topic, hash);
  snprintf(out, PATH_MAX, "%s/topics/%s/0/%s", dir, hash, file);
}

static int write_bytes(const char *path, const uint8_t *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t n = fwrite(buf, 1, len, f);
  fclose(f);
  return n == len ? 0 : -1;
}

/* Make the next open look like it follows a crash with nothing synced. */
static void make_unclean(const char *dir) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/clean-shutdown", dir);
  unlink(p);
  path_of(p, dir, "r", "recovery-point");
  unlink(p);
}

/* Fill topic "r" with BATCHES batches of PER_BATCH records; returns the
 * byte position where the last batch starts. */
static size_t fill(const char *dir) {
  nd_store *s = open_store(dir);
  if (!s)
    return 0;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.index_interval_bytes = 64; /* many index entries */
  nd_topic_create(s, "r", 1, &cfg);
  size_t last_pos = 0;
  for (int b = 0; b < BATCHES; b++) {
    nd_record recs[PER_BATCH];
    char vals[PER_BATCH][32];
    for (int i = 0; i < PER_BATCH; i++) {
      int n = snprintf(vals[i], sizeof vals[i], "b%d-r%d", b, i);
      recs[i] = (nd_record){"k", 1, vals[i], (size_t)n, NULL, 0, 1000 * b + i};
    }
    nd_partition_info pi;
    nd_partition_describe(s, "r", 0, &pi);
    last_pos = (size_t)pi.size_bytes;
    nd_append(s, "r", 0, recs, PER_BATCH, 0, NULL);
  }
  nd_close(s);
  return last_pos;
}

/* Open, check that exactly `batches` intact batches are served, that an
 * append lands right after them, and close. */
static int check_prefix(const char *dir, int batches) {
  nd_store *s = open_store(dir);
  if (!s)
    return -1;
  int64_t hw = -1;
  int ok = nd_offsets(s, "r", 0, NULL, &hw) == 0 &&
           hw == (int64_t)batches * PER_BATCH;
  for (int64_t off = 0; ok && off < hw; off++) {
    nd_batches b;
    if (nd_read(s, "r", 0, off, 1, &b) != 0) {
      ok = 0;
      break;
    }
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    nd_record_view v;
    char want[32];
    snprintf(want, sizeof want, "b%d-r%d", (int)(off / PER_BATCH),
             (int)(off % PER_BATCH));
    ok = nd_iter_next(&it, &v) == 1 && v.offset == off &&
         v.value_len == strlen(want) && !memcmp(v.value, want, v.value_len);
    nd_iter_close(&it);
    nd_free(b.data);
  }
  nd_record r = {NULL, 0, "next", 4, NULL, 0, ND_TIMESTAMP_NOW};
  nd_append_info ai;
  if (ok)
    ok = nd_append(s, "r", 0, &r, 1, 0, &ai) == 0 && ai.base_offset == hw;
  if (!ok)
    fprintf(stderr, "prefix check: hw=%lld want %d; %s\n", (long long)hw,
            batches * PER_BATCH, nd_errmsg());
  nd_close(s);
  return ok ? 0 : -1;
}

static void torn_tail_every_byte(void) {
  char *dir = tmpdir_make("torn");
  size_t last = fill(dir);
  CHECK(last > 0);
  char log[PATH_MAX];
  path_of(log, dir, "r", "00000000000000000000.log");
  size_t len;
  uint8_t *orig = read_file(log, &len);
  CHECK(orig && len > last);
  for (size_t cut = last; cut < len; cut++) {
    CHECK_OK(write_bytes(log, orig, cut));
    make_unclean(dir);
    if (check_prefix(dir, BATCHES - 1) != 0) {
      fprintf(stderr, "cut at byte %zu of %zu\n", cut, len);
      CHECK(0);
    }
  }
  /* A zero-filled tail (a power loss after the size grew) is cut too. */
  uint8_t *zeroed = calloc(1, len + 4096);
  memcpy(zeroed, orig, last);
  CHECK_OK(write_bytes(log, zeroed, len + 4096));
  make_unclean(dir);
  CHECK_OK(check_prefix(dir, BATCHES - 1));
  free(zeroed);
  free(orig);
  tmpdir_remove(dir);
}

static void bit_flips(void) {
  char *dir = tmpdir_make("flip");
  size_t last = fill(dir);
  CHECK(last > 0);
  char log[PATH_MAX];
  path_of(log, dir, "r", "00000000000000000000.log");
  size_t len;
  uint8_t *orig = read_file(log, &len);
  CHECK(orig);
  uint8_t *work = malloc(len);
  for (size_t pos = last; pos < len; pos++) {
    memcpy(work, orig, len);
    work[pos] ^= 0x10;
    CHECK_OK(write_bytes(log, work, len));
    make_unclean(dir);
    /* The leader epoch (bytes 12..15) is outside Kafka's CRC by design; a
     * flip there leaves a valid batch. Everything else is detected. */
    size_t rel = pos - last;
    int expect = rel >= 12 && rel < 16 ? BATCHES : BATCHES - 1;
    if (check_prefix(dir, expect) != 0) {
      fprintf(stderr, "flip at byte %zu (batch byte %zu)\n", pos, rel);
      CHECK(0);
    }
    /* check_prefix appended one record; restore for the next round. */
  }
  /* A flip in the middle of the log: recovery without a recovery point
   * keeps the batches before it and drops the rest. */
  memcpy(work, orig, len);
  work[last / 2 + 30] ^= 0x01;
  CHECK_OK(write_bytes(log, work, len));
  make_unclean(dir);
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &hw));
  CHECK(hw < BATCHES * PER_BATCH && hw % PER_BATCH == 0);
  CHECK_OK(nd_close(s));
  free(work);
  free(orig);
  tmpdir_remove(dir);
}

/* The index files of partition 0's first segment. */
static void index_paths(const char *dir, char *idx, char *tidx) {
  path_of(idx, dir, "r", "00000000000000000000.index");
  path_of(tidx, dir, "r", "00000000000000000000.timeindex");
}

static void damaged_indexes(void) {
  char *dir = tmpdir_make("idx");
  CHECK(fill(dir) > 0);
  char idx[PATH_MAX], tidx[PATH_MAX];
  index_paths(dir, idx, tidx);
  size_t len;
  uint8_t *good = read_file(idx, &len);
  CHECK(good && len >= 16); /* interval 64 bytes: several entries */
  free(good);
  /* Missing, garbage, and pointing past the end: each is rebuilt. */
  unlink(idx);
  unlink(tidx);
  CHECK_OK(check_prefix(dir, BATCHES));
  uint8_t junk[64];
  memset(junk, 0xab, sizeof junk);
  CHECK_OK(write_bytes(idx, junk, sizeof junk));
  CHECK_OK(write_bytes(tidx, junk, 60));
  /* check_prefix appends one record each time; data is otherwise equal. */
  nd_store *s = open_store(dir);
  CHECK(s);
  for (int64_t off = 0; off < BATCHES * PER_BATCH; off++) {
    nd_batches b;
    CHECK_OK(nd_read(s, "r", 0, off, 1, &b));
    int64_t base = (int64_t)be64(b.data);
    int32_t last = (int32_t)be32(b.data + 23);
    CHECK(base <= off && off <= base + last);
    nd_free(b.data);
    int64_t found, ts;
    CHECK_OK(nd_offset_for_time(
        s, "r", 0, 1000 * (off / PER_BATCH) + off % PER_BATCH, &found, &ts));
    CHECK_EQ_I64(found, off);
  }
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Lost index files of sealed segments are rebuilt at open, and a lost
 * time index does not make retention think a segment is ancient. */
static void lost_sealed_indexes(void) {
  char *dir = tmpdir_make("lost");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1024;
  cfg.index_interval_bytes = 100;
  CHECK_OK(nd_topic_create(s, "r", 1, &cfg));
  for (int i = 0; i < 200; i++) {
    nd_record rec = {NULL, 0, "a value of some length", 22,
                     NULL, 0, ND_TIMESTAMP_NOW};
    CHECK_OK(nd_append(s, "r", 0, &rec, 1, 0, NULL));
  }
  nd_partition_info before;
  CHECK_OK(nd_partition_describe(s, "r", 0, &before));
  CHECK(before.segment_count > 3);
  CHECK_OK(nd_close(s));
  char hash[65], cmd[PATH_MAX + 64];
  nd_topic_dirname("r", hash);
  snprintf(cmd, sizeof cmd,
           "rm %s/topics/%s/0/*.index %s/topics/%s/0/*.timeindex", dir, hash,
           dir, hash);
  CHECK(system(cmd) == 0);
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_maintain(s, 0));
  nd_partition_info after;
  CHECK_OK(nd_partition_describe(s, "r", 0, &after));
  CHECK_EQ_I64(after.segment_count, before.segment_count);
  CHECK_EQ_I64(after.log_start_offset, 0);
  CHECK_EQ_I64(after.max_timestamp, before.max_timestamp);
  CHECK_OK(nd_close(s));
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/topics/%s/0/00000000000000000000.index", dir,
           hash);
  struct stat st;
  CHECK(stat(path, &st) == 0 && st.st_size >= 8);
  snprintf(path, sizeof path, "%s/topics/%s/0/00000000000000000000.timeindex",
           dir, hash);
  CHECK(stat(path, &st) == 0 && st.st_size >= 12);
  tmpdir_remove(dir);
}

/* Lines the store logged (nd_options.log), for the tests to search. */
static char logged[8192];
static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_to_buffer(void *ctx, int level, const char *msg) {
  (void)ctx;
  (void)level;
  pthread_mutex_lock(&logged_lock);
  size_t n = strlen(logged);
  snprintf(logged + n, sizeof logged - n, "%s\n", msg);
  pthread_mutex_unlock(&logged_lock);
}

static nd_store *open_logged(const char *dir) {
  logged[0] = '\0';
  nd_options o = {.no_background = 1, .on_log = log_to_buffer};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

/* Topic "r" with two partitions of many small segments (and topic "o"),
 * closed cleanly; returns the segment count of partition 0. */
static int fill_segments(const char *dir) {
  nd_store *s = open_store(dir);
  if (!s)
    return 0;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1024;
  nd_topic_create(s, "r", 2, &cfg);
  nd_topic_create(s, "o", 1, NULL);
  for (int i = 0; i < 100; i++) {
    nd_record rec = {NULL, 0, "0123456789abcdef", 16, NULL, 0, 1000 + i};
    for (int p = 0; p < 2; p++)
      nd_append(s, "r", p, &rec, 1, 0, NULL);
    nd_append(s, "o", 0, &rec, 1, 0, NULL);
  }
  nd_partition_info pi;
  nd_partition_describe(s, "r", 0, &pi);
  nd_close(s);
  return pi.segment_count;
}

/* Sizes of the .log files of partition 0 of "r", in order, as a string. */
static void log_sizes(const char *dir, char *out, size_t cap) {
  char pdir[PATH_MAX], cmd[PATH_MAX + 64];
  path_of(pdir, dir, "r", "");
  snprintf(cmd, sizeof cmd, "cd %s && stat -c '%%n=%%s' *.log | sort", pdir);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(out, 1, cap - 1, f) : 0;
  out[n] = '\0';
  if (f)
    pclose(f);
}

/* The damaged partition is offline, naming file and byte; the other
 * partition and topic serve and take appends; nothing was cut. */
static void check_offline(const char *dir, nd_store *s, const char *file,
                          const char *byte) {
  int64_t hw;
  CHECK_RC(nd_offsets(s, "r", 0, NULL, &hw), ND_EFAILED);
  CHECK(strstr(nd_errmsg(), file) && strstr(nd_errmsg(), byte));
  nd_record rec = {NULL, 0, "x", 1, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_RC(nd_append(s, "r", 0, &rec, 1, 0, NULL), ND_EFAILED);
  nd_batches b;
  CHECK_RC(nd_read(s, "r", 0, 0, 100, &b), ND_EFAILED);
  CHECK(strstr(logged, file) && strstr(logged, byte) &&
        strstr(logged, "partition 0 is offline"));
  nd_topic_info ti;
  CHECK_OK(nd_topic_describe(s, "r", &ti));
  CHECK_EQ_I64(ti.offline_partitions, 1);
  CHECK_EQ_I64(ti.offline, 0);
  CHECK_OK(nd_offsets(s, "r", 1, NULL, &hw));
  CHECK_EQ_I64(hw, 100);
  CHECK_OK(nd_append(s, "r", 1, &rec, 1, 0, NULL));
  CHECK_OK(nd_read(s, "o", 0, 50, 100, &b));
  nd_free(b.data);
  CHECK_OK(nd_append(s, "o", 0, &rec, 1, 0, NULL));
  (void)dir;
}

/* Bytes after the end of a sealed segment after a clean close (found by
 * the torture test's first power-cut model): the segment no longer ends
 * where the next begins. Every segment before the last was synced, so this
 * is damage, not a torn tail: the partition goes offline and keeps every
 * byte, for `nodata verify --repair` to cut with the operator's consent. */
static void garbage_after_sealed_segment(void) {
  char *dir = tmpdir_make("sealed");
  CHECK(fill_segments(dir) >= 3);
  char log[PATH_MAX];
  path_of(log, dir, "r", "00000000000000000000.log");
  struct stat st;
  CHECK(stat(log, &st) == 0);
  FILE *f = fopen(log, "ab");
  CHECK(f);
  fwrite("\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x10\x00", 1, 12, f);
  fclose(f);
  char before[4096], after[4096], byte[32];
  log_sizes(dir, before, sizeof before);
  nd_store *s = open_logged(dir);
  CHECK(s);
  snprintf(byte, sizeof byte, "byte %lld:", (long long)st.st_size);
  check_offline(dir, s, "00000000000000000000.log", byte);
  CHECK_OK(nd_close(s));
  log_sizes(dir, after, sizeof after);
  CHECK(!strcmp(before, after));
  /* Offline survives a reopen (nothing was changed), and removing the
   * stray bytes brings the partition back whole. */
  s = open_logged(dir);
  CHECK(s);
  int64_t hw;
  CHECK_RC(nd_offsets(s, "r", 0, NULL, &hw), ND_EFAILED);
  CHECK_OK(nd_close(s));
  CHECK(truncate(log, st.st_size) == 0);
  s = open_logged(dir);
  CHECK(s);
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 100);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Issue 15 item 3: a sealed segment cut mid-batch after a clean close
 * used to make recovery delete every later segment. */
static void sealed_segment_cut_after_clean_close(void) {
  char *dir = tmpdir_make("cut");
  CHECK(fill_segments(dir) >= 4);
  char pdir[PATH_MAX], cmd[PATH_MAX + 64], name[64] = "";
  path_of(pdir, dir, "r", "");
  snprintf(cmd, sizeof cmd, "ls %s | grep '\\.log$' | sort | sed -n 2p", pdir);
  FILE *ls = popen(cmd, "r");
  CHECK(ls && fgets(name, sizeof name, ls));
  pclose(ls);
  name[strcspn(name, "\n")] = '\0';
  char log[PATH_MAX];
  path_of(log, dir, "r", name);
  struct stat st;
  CHECK(stat(log, &st) == 0 && st.st_size > 100);
  CHECK(truncate(log, st.st_size - 30) == 0);
  char before[4096], after[4096];
  log_sizes(dir, before, sizeof before);
  nd_store *s = open_logged(dir);
  CHECK(s);
  check_offline(dir, s, name, "byte ");
  CHECK(strstr(logged, "damage in synced data") != NULL);
  CHECK_OK(nd_close(s));
  log_sizes(dir, after, sizeof after);
  CHECK(!strcmp(before, after));
  tmpdir_remove(dir);
}

/* The name of partition r/0's last .log file, into name. */
static int last_log_name(const char *dir, char *name, size_t cap) {
  char pdir[PATH_MAX], cmd[PATH_MAX + 64];
  path_of(pdir, dir, "r", "");
  snprintf(cmd, sizeof cmd, "ls %s | grep '\\.log$' | sort | tail -1", pdir);
  FILE *ls = popen(cmd, "r");
  int ok = ls && fgets(name, (int)cap, ls);
  if (ls)
    pclose(ls);
  name[strcspn(name, "\n")] = '\0';
  return ok ? 0 : -1;
}
/* Segments, a bit flipped in the last batch of partition 0 (below its
 * recovery point), then an unclean stop; name gets the damaged file. */
static void flip_below_recovery_point(const char *dir, char *name, size_t cap) {
  CHECK(fill_segments(dir) >= 4);
  CHECK(last_log_name(dir, name, cap) == 0);
  char log[PATH_MAX];
  path_of(log, dir, "r", name);
  size_t len;
  uint8_t *data = read_file(log, &len);
  CHECK(data && len > 40);
  data[len - 5] ^= 0x04; /* inside the last batch, below the recovery point */
  CHECK_OK(write_bytes(log, data, len));
  free(data);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/clean-shutdown", dir);
  CHECK(unlink(p) == 0);
}

/* A bit flip below the recovery point, then an unclean stop: the scan
 * from the recovery point's segment meets it; it is not a torn tail. */
static void bit_flip_below_recovery_point(void) {
  char *dir = tmpdir_make("flip-rp");
  char name[64] = "";
  flip_below_recovery_point(dir, name, sizeof name);
  char before[4096], after[4096];
  log_sizes(dir, before, sizeof before);
  nd_store *s = open_logged(dir);
  CHECK(s);
  check_offline(dir, s, name, "CRC");
  CHECK_OK(nd_close(s));
  log_sizes(dir, after, sizeof after);
  CHECK(!strcmp(before, after));
  tmpdir_remove(dir);
}

/* A torn tail past the recovery point is still cut, and now logged with
 * the file and byte. */
static void torn_tail_is_logged(void) {
  char *dir = tmpdir_make("torn-log");
  CHECK(fill_segments(dir) >= 2);
  char name[64] = "";
  CHECK(last_log_name(dir, name, sizeof name) == 0);
  char log[PATH_MAX];
  path_of(log, dir, "r", name);
  struct stat st;
  CHECK(stat(log, &st) == 0);
  FILE *f = fopen(log, "ab");
  CHECK(f);
  fwrite("\x00\x00\x00\x00\x00\x00\x00\x64\x00\x00\x10\x00", 1, 12, f);
  fclose(f);
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/clean-shutdown", dir);
  CHECK(unlink(p) == 0);
  nd_store *s = open_logged(dir);
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 100);
  char byte[32];
  snprintf(byte, sizeof byte, "byte %lld:", (long long)st.st_size);
  CHECK(strstr(logged, name) && strstr(logged, byte) &&
        strstr(logged, "cutting the unsynced tail"));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The hint files: a garbage recovery point means "scan everything", a
 * garbage producer state is rebuilt, a garbage log start is recomputed
 * from the segments; none of them loses or invents data. */
static void damaged_hint_files(void) {
  char *dir = tmpdir_make("hints");
  CHECK(fill(dir) > 0);
  const char *files[] = {"recovery-point", "producer-state",
                         "log-start-offset"};
  const char *junk[] = {"not a number\n", "producer-state 1 zz\n1 2\n", "-7\n"};
  for (int i = 0; i < 3; i++) {
    char path[PATH_MAX];
    path_of(path, dir, "r", files[i]);
    for (int unclean = 0; unclean < 2; unclean++) {
      CHECK_OK(write_bytes(path, (const uint8_t *)junk[i], strlen(junk[i])));
      if (unclean)
        make_unclean(dir);
      nd_store *s = open_store(dir);
      CHECK(s);
      int64_t ls, hw;
      CHECK_OK(nd_offsets(s, "r", 0, &ls, &hw));
      CHECK_EQ_I64(ls, 0);
      CHECK_EQ_I64(hw, BATCHES * PER_BATCH);
      nd_batches b;
      CHECK_OK(nd_read(s, "r", 0, hw - 1, 1, &b));
      nd_iter it;
      nd_record_view v;
      nd_iter_init(&it, b.data, b.len, hw - 1, NULL);
      CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
      CHECK_EQ_I64(v.offset, hw - 1);
      nd_iter_close(&it);
      nd_free(b.data);
      CHECK_OK(nd_close(s));
    }
  }
  tmpdir_remove(dir);
}

/* Recovery after a crash reads the unsynced tail, not the segment: with
 * 8 MB in the active segment and one batch after the recovery point, the
 * unclean open reads well under 1 MB (counted by the kernel, not timed). */
static void recovery_reads_only_the_tail(void) {
  char *dir = tmpdir_make("tail");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "r", 1, NULL));
  static char value[1000];
  nd_record recs[100];
  for (int i = 0; i < 100; i++)
    recs[i] =
        (nd_record){NULL, 0, value, sizeof value, NULL, 0, ND_TIMESTAMP_NOW};
  for (int b = 0; b < 80; b++)
    CHECK_OK(nd_append(s, "r", 0, recs, 100, 0, NULL));
  CHECK_OK(nd_close(s));
  pid_t pid = fork();
  if (pid == 0) {
    nd_store *cs = open_store(dir);
    _exit(cs && nd_append(cs, "r", 0, recs, 10, 0, NULL) == 0 ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  long long before = test_proc_io("rchar");
  s = open_store(dir);
  long long read = test_proc_io("rchar") - before;
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 8010);
  fprintf(stderr, "unclean open of an 8 MB segment read %lld bytes\n", read);
  CHECK(before >= 0 && read < 1024 * 1024);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A damaged header field that only the CRC would catch, after a clean
 * close: a negative last offset delta must not be trusted by the header
 * walk of a clean open (found by the segment_recovery fuzz target). */
static void negative_delta_after_clean_close(void) {
  char *dir = tmpdir_make("negdelta");
  size_t last = fill(dir);
  CHECK(last > 0);
  char log[PATH_MAX];
  path_of(log, dir, "r", "00000000000000000000.log");
  size_t len;
  uint8_t *data = read_file(log, &len);
  CHECK(data);
  /* A CRC-valid batch whose last offset delta is -3, and a recovery point
   * that agrees with it: nothing but the field's sign gives it away. */
  put_be32(data + last + 23, (uint32_t)-3);
  nd_batch_set_crc(data + last, len - last);
  CHECK_OK(write_bytes(log, data, len));
  char rp[PATH_MAX], text[32];
  path_of(rp, dir, "r", "recovery-point");
  int n =
      snprintf(text, sizeof text, "%d\n", (BATCHES - 1) * PER_BATCH - 3 + 1);
  CHECK_OK(write_bytes(rp, (const uint8_t *)text, (size_t)n));
  free(data);
  CHECK_OK(check_prefix(dir, BATCHES - 1));
  tmpdir_remove(dir);
}

static void damaged_topic_conf(void) {
  char *dir = tmpdir_make("conf");
  CHECK(fill(dir) > 0);
  char hash[65], conf[PATH_MAX];
  nd_topic_dirname("r", hash);
  snprintf(conf, sizeof conf, "%s/topics/%s/topic.conf", dir, hash);
  size_t len;
  uint8_t *orig = read_file(conf, &len);
  CHECK(orig);
  /* Issue 15 item 9: one bad topic.conf takes only its topic offline,
   * with the file and line (empty lines counted), not the store. */
  const char *bad = "# nodata topic\nname=r\n\nid=00000000-0000-4000-8000-"
                    "000000000000\npartitions=1\nretention.ms=-7\n";
  CHECK_OK(write_bytes(conf, (const uint8_t *)bad, strlen(bad)));
  nd_store *s = open_logged(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "fine", 1, NULL));
  nd_record rec = {NULL, 0, "x", 1, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "fine", 0, &rec, 1, 0, NULL));
  CHECK_RC(nd_append(s, "r", 0, &rec, 1, 0, NULL), ND_EFAILED);
  CHECK(strstr(nd_errmsg(), "topic.conf line 6") != NULL);
  CHECK(strstr(logged, "topic.conf line 6") != NULL);
  nd_topic_info ti;
  CHECK_OK(nd_topic_describe(s, "r", &ti));
  CHECK(ti.offline && ti.partitions == 1);
  CHECK_OK(nd_close(s));
  /* A conf naming another topic than its directory's hash: the directory
   * is skipped (logged), the store opens. */
  const char *moved = "name=other\nid=00000000-0000-4000-8000-000000000000\n"
                      "partitions=1\n";
  CHECK_OK(write_bytes(conf, (const uint8_t *)moved, strlen(moved)));
  s = open_logged(dir);
  CHECK(s);
  CHECK(strstr(logged, "belongs in directory") != NULL);
  CHECK_OK(nd_append(s, "fine", 0, &rec, 1, 0, NULL));
  CHECK_OK(nd_close(s));
  /* Restored, everything is there: the failed opens lost nothing. */
  CHECK_OK(write_bytes(conf, orig, len));
  CHECK_OK(check_prefix(dir, BATCHES));
  free(orig);
  tmpdir_remove(dir);
}

/* A power cut after rolls whose fdatasync was left to the next sync (a
 * roll does not sync the segment it seals): a child syncs part of the
 * log, records the recovery point, appends across several more rolls and
 * dies without closing; everything past the synced bytes, in the last
 * synced segment and in every segment after it, is then overwritten with
 * garbage. Recovery must keep exactly the synced records, dense and
 * intact, and drop the rest. */
static void power_cut_across_unsynced_rolls(void) {
  char *dir = tmpdir_make("unsynced-rolls");
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    nd_store *s = open_store(dir);
    nd_topic_config cfg;
    nd_topic_config_init(&cfg);
    cfg.fsync = ND_FSYNC_NEVER;
    cfg.segment_bytes = 1024;
    if (!s || nd_topic_create(s, "r", 1, &cfg) != 0)
      _exit(2);
    for (int i = 0; i < 100; i++) {
      char v[32];
      int n = snprintf(v, sizeof v, "value-%04d", i);
      nd_record rec = {NULL, 0, v, (size_t)n, NULL, 0, ND_TIMESTAMP_NOW};
      if (nd_append(s, "r", 0, &rec, 1, 0, NULL) != 0)
        _exit(3);
      if (i == 44) { /* sync, persist the recovery point, report */
        nd_partition_info pi;
        if (nd_sync_partition(s, "r", 0, -1) != 0 || nd_maintain(s, 0) != 0 ||
            nd_partition_describe(s, "r", 0, &pi) != 0 ||
            pi.recovery_point != 45)
          _exit(4);
        long long total = pi.size_bytes;
        if (write(fds[1], &total, sizeof total) != sizeof total)
          _exit(5);
      }
    }
    _exit(0); /* no nd_close: a crash */
  }
  close(fds[1]);
  long long synced_bytes = -1;
  CHECK(read(fds[0], &synced_bytes, sizeof synced_bytes) ==
        sizeof synced_bytes);
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* Walk the segments in order; garble everything past synced_bytes. */
  char pdir[PATH_MAX], cmd[PATH_MAX + 64];
  path_of(pdir, dir, "r", "");
  snprintf(cmd, sizeof cmd, "ls %s | grep '\\.log$' | sort", pdir);
  FILE *ls = popen(cmd, "r");
  CHECK(ls);
  char name[64];
  long long before = 0;
  int garbled = 0, files = 0;
  while (fgets(name, sizeof name, ls)) {
    name[strcspn(name, "\n")] = 0;
    char path[PATH_MAX];
    path_of(path, dir, "r", name);
    size_t len;
    uint8_t *data = read_file(path, &len);
    CHECK(data);
    files++;
    long long keep = synced_bytes - before;
    before += (long long)len;
    if (keep >= (long long)len) {
      free(data);
      continue;
    }
    if (keep < 0)
      keep = 0;
    memset(data + keep, 0x5a, len - (size_t)keep);
    CHECK_OK(write_bytes(path, data, len));
    garbled++;
    free(data);
  }
  pclose(ls);
  CHECK(files >= 4 && garbled >= 2); /* rolls after the sync */
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 45);
  for (int64_t off = 0; off < hw; off++) {
    nd_batches b;
    CHECK_OK(nd_read(s, "r", 0, off, 1, &b));
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    char want[32];
    snprintf(want, sizeof want, "value-%04d", (int)off);
    int ok = nd_iter_next(&it, &v) == 1 && v.offset == off &&
             v.value_len == strlen(want) && !memcmp(v.value, want, v.value_len);
    nd_iter_close(&it);
    nd_free(b.data);
    CHECK(ok);
  }
  nd_record rec = {NULL, 0, "after", 5, NULL, 0, ND_TIMESTAMP_NOW};
  nd_append_info ai;
  CHECK_OK(nd_append(s, "r", 0, &rec, 1, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 45);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Issue 15 item 9: a lost FORMAT file beside topics that are clearly
 * this format's is written again (and logged); beside anything else the
 * open is still refused, since the store may be another format's. */
static void missing_format_file(void) {
  char *dir = tmpdir_make("format");
  CHECK(fill(dir) > 0);
  char fp[PATH_MAX];
  snprintf(fp, sizeof fp, "%s/FORMAT", dir);
  CHECK(unlink(fp) == 0);
  nd_store *s = open_logged(dir);
  CHECK(s);
  CHECK(strstr(logged, "FORMAT is missing") != NULL);
  CHECK_OK(nd_close(s));
  CHECK(access(fp, F_OK) == 0);
  CHECK_OK(check_prefix(dir, BATCHES));
  CHECK(unlink(fp) == 0);
  char alien[PATH_MAX];
  snprintf(alien, sizeof alien, "%s/topics/something-else", dir);
  CHECK(mkdir(alien, 0755) == 0);
  s = NULL;
  nd_options o = {.no_background = 1};
  CHECK_RC(nd_open(dir, &o, &s), ND_EFORMAT);
  CHECK(strstr(nd_errmsg(), "something-else") != NULL);
  tmpdir_remove(dir);
}

/* Issue 15 item 8, staged: a read-only open of a live store counted a
 * sealed segment's index entries, then the writer cut the index file (as
 * a roll trims a preallocated one). A lookup must not fault (it used to
 * die of SIGBUS on a mapping past the file's end). */
static void readonly_index_cut_under_reader(void) {
  char *dir = tmpdir_make("ro-index");
  pid_t pid = fork();
  if (pid == 0) {
    nd_store *w = open_store(dir);
    nd_topic_config cfg;
    nd_topic_config_init(&cfg);
    cfg.segment_bytes = 4096;
    cfg.index_interval_bytes = 64;
    if (!w || nd_topic_create(w, "r", 1, &cfg) != 0)
      _exit(2);
    for (int i = 0; i < 300; i++) {
      nd_record rec = {NULL, 0, "0123456789abcdef", 16, NULL, 0, 1000 + i};
      if (nd_append(w, "r", 0, &rec, 1, 0, NULL) != 0)
        _exit(3);
    }
    if (nd_close(w) != 0 || !(w = open_store(dir)))
      _exit(4);
    nd_record rec = {NULL, 0, "live", 4, NULL, 0, ND_TIMESTAMP_NOW};
    if (nd_append(w, "r", 0, &rec, 1, 0, NULL) != 0)
      _exit(5);
    nd_options o = {.flags = ND_OPEN_READONLY, .no_background = 1};
    nd_store *r = NULL;
    if (nd_open(dir, &o, &r) != 0)
      _exit(6);
    char idx[PATH_MAX];
    path_of(idx, dir, "r", "00000000000000000000.index");
    if (truncate(idx, 0) != 0)
      _exit(7);
    for (int64_t off = 0; off < 60; off++) {
      nd_batches b;
      if (nd_read(r, "r", 0, off, 1, &b) != 0 || (int64_t)be64(b.data) != off)
        _exit(8);
      nd_free(b.data);
    }
    nd_close(r);
    nd_close(w);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  if (WIFSIGNALED(st))
    fprintf(stderr, "reader died of signal %d\n", WTERMSIG(st));
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tmpdir_remove(dir);
}

/* ---- the recovery report (nd_recovery_report) ---------------------------- */

/* The report's entry for partition `part` of topic `topic`, copied into
 * *out; 0 if found. */
static int report_entry(nd_store *s, const char *topic, int32_t part,
                        nd_recovery_stats *st, nd_recovery_partition *out) {
  nd_recovery_partition *parts = NULL;
  size_t n = 0;
  if (nd_recovery_report(s, st, &parts, &n) != 0)
    return -1;
  int found = -1;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(parts[i].topic, topic) && parts[i].partition == part) {
      *out = parts[i];
      found = 0;
    }
  nd_free(parts);
  return found;
}

/* Open dir; *e gets the report's entry for partition 0 of "r". NULL if
 * the open fails or there is no such entry. */
static nd_store *open_reported(const char *dir, nd_recovery_stats *st,
                               nd_recovery_partition *e) {
  nd_store *s = open_store(dir);
  if (s && report_entry(s, "r", 0, st, e) != 0) {
    fprintf(stderr, "no recovery report entry for r/0\n");
    nd_close(s);
    return NULL;
  }
  return s;
}

/* Every field of entry e against want, but the reason (checked apart) and
 * producer_batches when want's is -1. */
static void check_entry(const nd_recovery_partition *e,
                        const nd_recovery_partition *want) {
  CHECK_EQ_I64(e->segments_scanned, want->segments_scanned);
  CHECK_EQ_I64(e->indexes_rebuilt, want->indexes_rebuilt);
  CHECK_EQ_I64(e->bytes_truncated, want->bytes_truncated);
  CHECK_EQ_I64(e->segments_deleted, want->segments_deleted);
  CHECK(!strcmp(e->cut_file, want->cut_file));
  CHECK_EQ_I64(e->cut_position, want->cut_position);
  CHECK_EQ_I64(e->cut_offset, want->cut_offset);
  CHECK_EQ_I64(e->producer_state_rebuilt, want->producer_state_rebuilt);
  if (want->producer_batches >= 0)
    CHECK_EQ_I64(e->producer_batches, want->producer_batches);
  CHECK_EQ_I64(e->offline, want->offline);
}

/* A clean open reports nothing: no entries, zero totals. */
static void check_clean_report(nd_store *s, int32_t partitions) {
  nd_recovery_stats st;
  nd_recovery_partition *parts = (nd_recovery_partition *)1;
  size_t n = 99;
  CHECK_OK(nd_recovery_report(s, &st, &parts, &n));
  CHECK(parts == NULL);
  CHECK_EQ_I64(n, 0);
  CHECK_EQ_I64(st.clean_shutdown, 1);
  CHECK_EQ_I64(st.partitions, partitions);
  CHECK_EQ_I64(st.partitions_recovered, 0);
  CHECK_EQ_I64(st.partitions_offline, 0);
  CHECK_EQ_I64(st.segments_scanned, 0);
  CHECK_EQ_I64(st.indexes_rebuilt, 0);
  CHECK_EQ_I64(st.bytes_truncated, 0);
  CHECK_EQ_I64(st.segments_deleted, 0);
  CHECK_EQ_I64(st.producer_batches, 0);
}

/* A torn last batch: the report names the file, the byte it now ends at,
 * the first offset lost and how many bytes went; the next (clean) open
 * reports nothing. */
static void report_names_the_cut(void) {
  char *dir = tmpdir_make("report-cut");
  size_t last = fill(dir);
  CHECK(last > 0);
  char log[PATH_MAX];
  path_of(log, dir, "r", "00000000000000000000.log");
  size_t len;
  uint8_t *orig = read_file(log, &len);
  CHECK(orig && len > last + 10);
  CHECK_OK(write_bytes(log, orig, last + 10));
  free(orig);
  make_unclean(dir);
  nd_recovery_stats st;
  nd_recovery_partition e;
  nd_store *s = open_reported(dir, &st, &e);
  CHECK(s);
  /* No recovery point and no snapshot: the producer state was rebuilt by
   * reading every surviving batch header of the active segment. */
  nd_recovery_partition want = {.segments_scanned = 1,
                                .indexes_rebuilt = 1,
                                .bytes_truncated = 10,
                                .cut_file = "00000000000000000000.log",
                                .cut_position = (int64_t)last,
                                .cut_offset = (BATCHES - 1) * PER_BATCH,
                                .producer_state_rebuilt = 1,
                                .producer_batches = BATCHES - 1};
  check_entry(&e, &want);
  CHECK(e.reason[0] != '\0');
  CHECK(!st.clean_shutdown && st.partitions == 1 &&
        st.partitions_recovered == 1 && st.bytes_truncated == 10 &&
        st.segments_scanned == 1 && st.indexes_rebuilt == 1);
  /* The copy is the caller's; a stats-only call needs no list. */
  CHECK_OK(nd_recovery_report(s, &st, NULL, NULL));
  CHECK_EQ_I64(st.bytes_truncated, 10);
  CHECK_RC(nd_recovery_report(NULL, &st, NULL, NULL), ND_EINVAL);
  nd_recovery_partition *parts;
  CHECK_RC(nd_recovery_report(s, &st, &parts, NULL), ND_EINVAL);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  check_clean_report(s, 1);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Lost index files after a clean close: rebuilt, and said so; nothing cut. */
static void report_names_rebuilt_index(void) {
  char *dir = tmpdir_make("report-idx");
  CHECK(fill(dir) > 0);
  char idx[PATH_MAX], tidx[PATH_MAX];
  index_paths(dir, idx, tidx);
  CHECK(unlink(idx) == 0 && unlink(tidx) == 0);
  nd_recovery_stats st;
  nd_recovery_partition e;
  nd_store *s = open_reported(dir, &st, &e);
  CHECK(s);
  CHECK(st.clean_shutdown && st.partitions_recovered == 1);
  nd_recovery_partition want = {.indexes_rebuilt = 1,
                                .cut_position = -1,
                                .cut_offset = -1,
                                .producer_batches = 0};
  check_entry(&e, &want);
  CHECK(e.reason[0] == '\0');
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Names and sizes of partition 0's .log files, in order; returns count. */
static int log_files(const char *dir, char names[][32], int64_t *sizes,
                     int max) {
  char pdir[PATH_MAX], cmd[PATH_MAX + 64];
  path_of(pdir, dir, "r", "");
  snprintf(cmd, sizeof cmd, "cd %s && stat -c '%%n %%s' *.log | sort", pdir);
  FILE *f = popen(cmd, "r");
  int n = 0;
  long long size;
  while (f && n < max && fscanf(f, "%31s %lld", names[n], &size) == 2)
    sizes[n++] = size;
  if (f)
    pclose(f);
  return n;
}

/* Garbage after a middle segment with no recovery point (nothing known
 * synced): the cut is made there and every later segment is deleted; the
 * report counts them and their bytes. The other partitions were only
 * scanned from their recovery points. */
static void report_names_deleted_segments(void) {
  char *dir = tmpdir_make("report-segs");
  CHECK(fill_segments(dir) >= 4);
  char names[64][32];
  int64_t sizes[64];
  int n = log_files(dir, names, sizes, 64);
  CHECK(n >= 4);
  char log[PATH_MAX];
  path_of(log, dir, "r", names[1]);
  FILE *f = fopen(log, "ab");
  CHECK(f);
  fwrite("\x00\x00\x00\x00\x00\x00\x00\x2a\x00\x00\x10\x00", 1, 12, f);
  fclose(f);
  make_unclean(dir);
  int64_t later = 0;
  for (int i = 2; i < n; i++)
    later += sizes[i];
  nd_recovery_stats st;
  nd_recovery_partition e;
  nd_store *s = open_reported(dir, &st, &e);
  CHECK(s);
  /* Scanned from the first segment (no recovery point) to the cut. */
  nd_recovery_partition want = {.segments_scanned = 2,
                                .indexes_rebuilt = 2,
                                .bytes_truncated = 12 + later,
                                .segments_deleted = n - 2,
                                .cut_position = sizes[1],
                                .cut_offset = strtoll(names[2], NULL, 10),
                                .producer_state_rebuilt = 1,
                                .producer_batches = -1};
  snprintf(want.cut_file, sizeof want.cut_file, "%s", names[1]);
  check_entry(&e, &want);
  CHECK(st.partitions == 3 && st.partitions_recovered == 3 &&
        st.bytes_truncated == 12 + later && st.segments_deleted == n - 2);
  nd_recovery_partition o;
  CHECK_OK(report_entry(s, "o", 0, &st, &o));
  CHECK_EQ_I64(o.bytes_truncated, 0);
  CHECK_EQ_I64(o.segments_scanned, 1);
  CHECK(o.cut_file[0] == '\0');
  int64_t hw;
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &hw));
  CHECK_EQ_I64(hw, e.cut_offset);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Damage below the recovery point: the partition is offline, the report
 * says so and why, and that nothing was cut. */
static void report_names_offline(void) {
  char *dir = tmpdir_make("report-off");
  char name[64] = "";
  flip_below_recovery_point(dir, name, sizeof name);
  nd_recovery_stats st;
  nd_recovery_partition e;
  nd_store *s = open_reported(dir, &st, &e);
  CHECK(s);
  CHECK_EQ_I64(e.offline, 1);
  CHECK(strstr(e.reason, name) && strstr(e.reason, "CRC"));
  CHECK_EQ_I64(e.bytes_truncated, 0);
  CHECK(e.cut_file[0] == '\0');
  CHECK_EQ_I64(st.partitions_offline, 1);
  CHECK_EQ_I64(st.bytes_truncated, 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(torn_tail_every_byte);
  RUN(bit_flips);
  RUN(damaged_indexes);
  RUN(lost_sealed_indexes);
  RUN(garbage_after_sealed_segment);
  RUN(sealed_segment_cut_after_clean_close);
  RUN(bit_flip_below_recovery_point);
  RUN(torn_tail_is_logged);
  RUN(missing_format_file);
  RUN(readonly_index_cut_under_reader);
  RUN(damaged_hint_files);
  RUN(recovery_reads_only_the_tail);
  RUN(negative_delta_after_clean_close);
  RUN(damaged_topic_conf);
  RUN(power_cut_across_unsynced_rolls);
  RUN(report_names_the_cut);
  RUN(report_names_rebuilt_index);
  RUN(report_names_deleted_segments);
  RUN(report_names_offline);
  TEST_MAIN_END();
}
