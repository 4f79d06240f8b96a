/* SPDX-License-Identifier: Apache-2.0 */
/* The store: open/lock/format, topics, append and read round trips,
 * partitioning, errors, clean and unclean reopen. */
#include "test.h"

#include "bytes.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

static nd_store *open_store(const char *dir) {
  nd_options o = {0};
  o.no_background = 1;
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static void open_lock_format(void) {
  char *dir = tmpdir_make("open");
  nd_store *s = open_store(dir);
  CHECK(s);
  char path[PATH_MAX];
  size_t len;
  snprintf(path, sizeof path, "%s/FORMAT", dir);
  uint8_t *fmt = read_file(path, &len);
  CHECK(fmt && len == 9 && !memcmp(fmt, "nodata 1\n", 9));
  free(fmt);
  /* A second writer, even in this process, is refused with our pid. */
  nd_store *s2 = NULL;
  CHECK_RC(nd_open(dir, NULL, &s2), ND_ELOCKED);
  char want[64];
  snprintf(want, sizeof want, "in use by pid %d", (int)getpid());
  CHECK(strstr(nd_errmsg(), want) != NULL);
  pid_t holder;
  CHECK_OK(nd_lock_holder(dir, &holder));
  CHECK_EQ_I64(holder, getpid());
  /* A read-only open works beside the writer. */
  nd_options ro = {.flags = ND_OPEN_READONLY};
  CHECK_OK(nd_open(dir, &ro, &s2));
  CHECK_OK(nd_close(s2));
  CHECK_OK(nd_close(s));
  CHECK_OK(nd_lock_holder(dir, &holder));
  CHECK_EQ_I64(holder, 0);
  snprintf(path, sizeof path, "%s/clean-shutdown", dir);
  CHECK(access(path, F_OK) == 0);
  /* An unknown format is refused and named. */
  snprintf(path, sizeof path, "%s/FORMAT", dir);
  FILE *f = fopen(path, "w");
  fputs("nodata 7\n", f);
  fclose(f);
  CHECK_RC(nd_open(dir, NULL, &s2), ND_EFORMAT);
  CHECK(strstr(nd_errmsg(), "nodata 7") != NULL);
  /* NOCREATE on a missing directory. */
  char missing[PATH_MAX];
  snprintf(missing, sizeof missing, "%s/nope", dir);
  nd_options nc = {.flags = ND_OPEN_NOCREATE};
  CHECK_RC(nd_open(missing, &nc, &s2), -ENOENT);
  tmpdir_remove(dir);
}

static void default_dir(void) {
  char buf[PATH_MAX];
  setenv("NODATA_DIR", "/some/where", 1);
  CHECK_OK(nd_default_dir(buf, sizeof buf));
  CHECK(!strcmp(buf, "/some/where"));
  unsetenv("NODATA_DIR");
  setenv("TMPDIR", "/var/tmp", 1);
  CHECK_OK(nd_default_dir(buf, sizeof buf));
  CHECK(!strcmp(buf, "/var/tmp/nodata"));
  unsetenv("TMPDIR");
  CHECK_OK(nd_default_dir(buf, sizeof buf));
  CHECK(!strcmp(buf, "/tmp/nodata"));
  CHECK_RC(nd_default_dir(buf, 4), ND_EINVAL);
}

static void topics_lifecycle(void) {
  char *dir = tmpdir_make("topics");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  CHECK_OK(nd_topic_config_set(&cfg, "retention.ms", "3600000"));
  CHECK_OK(nd_topic_create(s, "orders", 3, &cfg));
  CHECK_OK(nd_topic_create(s, "audit", 1, NULL));
  CHECK_RC(nd_topic_create(s, "orders", 1, NULL), ND_ETOPICEXISTS);
  CHECK_RC(nd_topic_create(s, "bad/name", 1, NULL), ND_ETOPICNAME);
  CHECK_RC(nd_topic_create(s, "zero", 0, NULL), ND_EINVAL);
  cfg.segment_bytes = 3; /* below the minimum */
  CHECK_RC(nd_topic_create(s, "tiny", 1, &cfg), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "segment.bytes") != NULL);

  /* The directory is the SHA-256 of the name, with topic.conf inside. */
  char hash[65], path[PATH_MAX];
  nd_topic_dirname("orders", hash);
  snprintf(path, sizeof path, "%s/topics/%s/topic.conf", dir, hash);
  size_t len;
  char *conf = (char *)read_file(path, &len);
  CHECK(conf);
  CHECK(strstr(conf, "name=orders\n") && strstr(conf, "partitions=3\n") &&
        strstr(conf, "retention.ms=3600000\n"));
  free(conf);

  nd_topic_info *list;
  size_t n;
  CHECK_OK(nd_topic_list(s, &list, &n));
  CHECK_EQ_I64(n, 2);
  CHECK(!strcmp(list[0].name, "audit") && !strcmp(list[1].name, "orders"));
  uint8_t id[16];
  memcpy(id, list[1].id, 16);
  CHECK_EQ_I64(list[1].partitions, 3);
  CHECK_EQ_I64(list[1].config.retention_ms, 3600000);
  nd_free(list);

  nd_topic_info info;
  CHECK_OK(nd_topic_by_id(s, id, &info));
  CHECK(!strcmp(info.name, "orders"));
  CHECK_OK(nd_topic_add_partitions(s, "orders", 5));
  CHECK_RC(nd_topic_add_partitions(s, "orders", 5), ND_EINVAL);
  CHECK_OK(nd_topic_describe(s, "orders", &info));
  CHECK_EQ_I64(info.partitions, 5);
  nd_record r = {.value = "v", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "orders", 4, &r, 1, 0, NULL));

  /* Everything survives a reopen, including the id. */
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_describe(s, "orders", &info));
  CHECK_EQ_I64(info.partitions, 5);
  CHECK_MEM(info.id, id, 16);
  int64_t ls, hw;
  CHECK_OK(nd_offsets(s, "orders", 4, &ls, &hw));
  CHECK_EQ_I64(hw, 1);

  /* Delete, then re-create under the same name: a new, empty topic with a
   * new id; the old id no longer resolves. */
  CHECK_OK(nd_topic_delete(s, "orders"));
  CHECK_RC(nd_topic_delete(s, "orders"), ND_ENOTOPIC);
  CHECK_RC(nd_topic_describe(s, "orders", &info), ND_ENOTOPIC);
  CHECK_RC(nd_append(s, "orders", 0, &r, 1, 0, NULL), ND_ENOTOPIC);
  snprintf(path, sizeof path, "%s/topics/%s", dir, hash);
  CHECK(access(path, F_OK) != 0);
  CHECK_OK(nd_topic_create(s, "orders", 1, NULL));
  CHECK_OK(nd_topic_describe(s, "orders", &info));
  CHECK(memcmp(info.id, id, 16) != 0);
  CHECK_RC(nd_topic_by_id(s, id, &info), ND_ENOTOPIC);
  CHECK_OK(nd_offsets(s, "orders", 0, &ls, &hw));
  CHECK_EQ_I64(hw, 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void append_read_roundtrip(void) {
  char *dir = tmpdir_make("rt");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  nd_header hdrs[2] = {{"h1", 2, "x", 1}, {"h2", 2, NULL, 0}};
  uint8_t binary[256];
  for (int i = 0; i < 256; i++)
    binary[i] = (uint8_t)i;
  nd_record recs[4] = {
      {"k0", 2, "value-0", 7, hdrs, 2, 1000},
      {NULL, 0, "no key", 6, NULL, 0, 1001},
      {"k2", 2, NULL, 0, NULL, 0, 999}, /* tombstone, older timestamp */
      {binary, 256, binary, 256, NULL, 0, 1002},
  };
  nd_append_info ai;
  CHECK_OK(nd_append(s, "t", 0, recs, 4, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 0);
  CHECK_EQ_I64(ai.last_offset, 3);
  CHECK_EQ_I64(ai.partition, 0);
  CHECK_OK(nd_append(s, "t", 0, recs, 1, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 4);

  nd_batches b;
  CHECK_OK(nd_read(s, "t", 0, 0, 1 << 20, &b));
  CHECK_EQ_I64(b.high_watermark, 5);
  CHECK_EQ_I64(b.next_offset, 5);
  nd_iter it;
  nd_iter_init(&it, b.data, b.len, 0, NULL);
  nd_record_view v;
  for (int i = 0; i < 5; i++) {
    CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
    const nd_record *want = &recs[i % 4];
    CHECK_EQ_I64(v.offset, i);
    CHECK_EQ_I64(v.timestamp, want->timestamp);
    CHECK((v.key == NULL) == (want->key == NULL));
    CHECK_EQ_I64(v.key_len, want->key_len);
    if (want->key)
      CHECK_MEM(v.key, want->key, v.key_len);
    CHECK((v.value == NULL) == (want->value == NULL));
    CHECK_EQ_I64(v.value_len, want->value_len);
    if (want->value)
      CHECK_MEM(v.value, want->value, v.value_len);
    CHECK_EQ_I64(v.header_count, want->header_count);
  }
  CHECK_EQ_I64(nd_iter_next(&it, &v), 0);
  nd_iter_close(&it);
  /* Headers of the first record, including a null header value. */
  nd_iter_init(&it, b.data, b.len, 0, NULL);
  CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
  CHECK(v.header_count == 2 && v.headers[0].key_len == 2 &&
        !memcmp(v.headers[0].key, "h1", 2) && v.headers[0].value_len == 1 &&
        !memcmp(v.headers[0].value, "x", 1) && v.headers[1].value == NULL);
  nd_iter_close(&it);
  /* min_offset skips the records of the batch before the asked offset. */
  nd_iter_init(&it, b.data, b.len, 2, NULL);
  CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
  CHECK_EQ_I64(v.offset, 2);
  nd_iter_close(&it);
  nd_free(b.data);

  /* Reading from offset 2 returns the whole first batch (it holds 2). */
  CHECK_OK(nd_read(s, "t", 0, 2, 1 << 20, &b));
  CHECK(b.len > 0);
  int64_t base;
  memcpy(&base, b.data, 8);
  CHECK_EQ_I64(base, 0);
  nd_free(b.data);
  /* max_bytes smaller than a batch still returns one whole batch. */
  CHECK_OK(nd_read(s, "t", 0, 0, 10, &b));
  CHECK_EQ_I64(b.next_offset, 4);
  nd_free(b.data);
  /* At the high watermark: nothing, no error. Beyond it: out of range. */
  CHECK_OK(nd_read(s, "t", 0, 5, 1 << 20, &b));
  CHECK_EQ_I64(b.len, 0);
  CHECK_RC(nd_read(s, "t", 0, 6, 1 << 20, &b), ND_ERANGE);
  CHECK(strstr(nd_errmsg(), "[0, 5]") != NULL);
  CHECK_RC(nd_read(s, "t", 0, -1, 1 << 20, &b), ND_ERANGE);
  CHECK_RC(nd_read(s, "t", 1, 0, 1 << 20, &b), ND_ENOPARTITION);
  CHECK_RC(nd_read(s, "nope", 0, 0, 1 << 20, &b), ND_ENOTOPIC);

  /* Offsets by time: first record with timestamp >= T. */
  int64_t off, ts;
  CHECK_OK(nd_offset_for_time(s, "t", 0, 1001, &off, &ts));
  CHECK_EQ_I64(off, 1);
  CHECK_EQ_I64(ts, 1001);
  CHECK_OK(nd_offset_for_time(s, "t", 0, 0, &off, &ts));
  CHECK_EQ_I64(off, 0);
  CHECK_OK(nd_offset_for_time(s, "t", 0, 5000, &off, &ts));
  CHECK_EQ_I64(off, -1);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void partitioning(void) {
  char *dir = tmpdir_make("part");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "p", 4, NULL));
  const char *keys[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
  for (int i = 0; i < 5; i++) {
    nd_record r = {keys[i], strlen(keys[i]), "v", 1, NULL, 0, ND_TIMESTAMP_NOW};
    nd_append_info ai;
    CHECK_OK(nd_append(s, "p", -1, &r, 1, 0, &ai));
    uint32_t h = (uint32_t)nd_murmur2(keys[i], strlen(keys[i]));
    CHECK_EQ_I64(ai.partition, (int32_t)((h & 0x7fffffff) % 4));
  }
  /* No key: round robin covers every partition. */
  int seen[4] = {0};
  for (int i = 0; i < 8; i++) {
    nd_record r = {NULL, 0, "v", 1, NULL, 0, ND_TIMESTAMP_NOW};
    nd_append_info ai;
    CHECK_OK(nd_append(s, "p", -1, &r, 1, 0, &ai));
    seen[ai.partition]++;
  }
  for (int i = 0; i < 4; i++)
    CHECK_EQ_I64(seen[i], 2);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void append_errors(void) {
  char *dir = tmpdir_make("err");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.max_message_bytes = 1000;
  CHECK_OK(nd_topic_create(s, "small", 1, &cfg));
  static char big[2000];
  nd_record r = {NULL, 0, big, sizeof big, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_RC(nd_append(s, "small", 0, &r, 1, 0, NULL), ND_ETOOLARGE);
  CHECK(strstr(nd_errmsg(), "max.message.bytes=1000") &&
        strstr(nd_errmsg(), "2070 bytes"));
  CHECK_RC(nd_append(s, "small", 0, &r, 0, 0, NULL), ND_EINVAL);
  CHECK_RC(nd_append(s, "small", 3, &r, 1, 0, NULL), ND_ENOPARTITION);
  r.value_len = 10;
  CHECK_OK(nd_append(s, "small", 0, &r, 1, 0, NULL));

  /* A client's batch: valid bytes are stored verbatim with a new base. */
  nd_batches b;
  CHECK_OK(nd_read(s, "small", 0, 0, 4096, &b));
  uint8_t *copy = malloc(b.len);
  memcpy(copy, b.data, b.len);
  memset(copy, 0x7f, 8); /* whatever base offset a producer sends */
  nd_append_info ai;
  CHECK_OK(nd_append_batch(s, "small", 0, copy, b.len, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 1);
  nd_batches b2;
  CHECK_OK(nd_read(s, "small", 0, 1, 4096, &b2));
  CHECK_EQ_I64(b2.len, b.len);
  CHECK_MEM(b2.data + 8, b.data + 8, b.len - 8); /* verbatim after base */
  CHECK_EQ_I64(b2.data[7], 1);
  nd_free(b2.data);
  /* A flipped bit: CORRUPT, naming the byte; nothing stored. */
  copy[b.len - 1] ^= 1;
  CHECK_RC(nd_append_batch(s, "small", 0, copy, b.len, 0, NULL), ND_ECORRUPT);
  CHECK(strstr(nd_errmsg(), "CRC") != NULL);
  copy[b.len - 1] ^= 1;
  /* Cut short, bad magic. */
  CHECK_RC(nd_append_batch(s, "small", 0, copy, b.len - 1, 0, NULL), ND_EBATCH);
  /* A record claiming offset delta 3 in a 1-record batch (CRC fixed, so
   * only the record walk can tell): refused, so no record can claim an
   * offset outside its batch. Byte 64 is record 0's offset delta: length,
   * attributes and timestamp delta take one byte each before it. */
  CHECK_EQ_I64(copy[64], 0);
  copy[64] = 6; /* zigzag(3) */
  nd_batch_set_crc(copy, b.len);
  CHECK_RC(nd_append_batch(s, "small", 0, copy, b.len, 0, NULL), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "offset deltas") != NULL);
  copy[64] = 0;
  nd_batch_set_crc(copy, b.len);
  copy[16] = 1;
  CHECK_RC(nd_append_batch(s, "small", 0, copy, b.len, 0, NULL), ND_ECORRUPT);
  CHECK(strstr(nd_errmsg(), "magic") != NULL);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "small", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 2);
  free(copy);
  nd_free(b.data);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Append in a child that exits without closing: an unclean shutdown with
 * all data in the page cache. */
static int append_and_crash(const char *dir, int batches) {
  pid_t pid = fork();
  if (pid == 0) {
    nd_store *s = open_store(dir);
    if (!s)
      _exit(2);
    for (int i = 0; i < batches; i++) {
      char val[32];
      int n = snprintf(val, sizeof val, "crash-%d", i);
      nd_record r = {NULL, 0, val, (size_t)n, NULL, 0, 5000 + i};
      if (nd_append(s, "c", 0, &r, 1, 0, NULL) != 0)
        _exit(3);
    }
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void unclean_reopen(void) {
  char *dir = tmpdir_make("unclean");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "c", 1, NULL));
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(append_and_crash(dir, 50), 0);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/clean-shutdown", dir);
  CHECK(access(path, F_OK) != 0);
  s = open_store(dir);
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "c", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 50);
  nd_batches b;
  CHECK_OK(nd_read(s, "c", 0, 49, 4096, &b));
  nd_iter it;
  nd_iter_init(&it, b.data, b.len, 49, NULL);
  nd_record_view v;
  CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
  CHECK(v.value_len == 8 && !memcmp(v.value, "crash-49", 8));
  nd_iter_close(&it);
  nd_free(b.data);
  /* Appends continue at the right offset. */
  nd_record r = {NULL, 0, "after", 5, NULL, 0, ND_TIMESTAMP_NOW};
  nd_append_info ai;
  CHECK_OK(nd_append(s, "c", 0, &r, 1, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 50);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void readonly_store(void) {
  char *dir = tmpdir_make("ro");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "r", 1, NULL));
  nd_record r = {NULL, 0, "x", 1, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "r", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_sync(s));
  nd_options ro = {.flags = ND_OPEN_READONLY};
  nd_store *rs;
  CHECK_OK(nd_open(dir, &ro, &rs));
  int64_t hw;
  CHECK_OK(nd_offsets(rs, "r", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 1);
  CHECK_RC(nd_append(rs, "r", 0, &r, 1, 0, NULL), ND_EREADONLY);
  CHECK_RC(nd_topic_create(rs, "x", 1, NULL), ND_EREADONLY);
  CHECK_RC(nd_topic_delete(rs, "r"), ND_EREADONLY);
  CHECK_OK(nd_close(rs));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static int64_t recovery_point(nd_store *s, const char *topic) {
  nd_partition_info pi;
  if (nd_partition_describe(s, topic, 0, &pi) != 0)
    return -100;
  return pi.recovery_point;
}

static void durability_policies(void) {
  char *dir = tmpdir_make("dur");
  nd_store *s = open_store(dir);
  CHECK(s);
  const char *policies[] = {"never", "interval=50", "always"};
  const char *names[] = {"never", "interval", "always"};
  for (int i = 0; i < 3; i++) {
    nd_topic_config cfg;
    nd_topic_config_init(&cfg);
    CHECK_OK(nd_topic_config_set(&cfg, "fsync", policies[i]));
    CHECK_OK(nd_topic_create(s, names[i], 1, &cfg));
  }
  nd_record r = {NULL, 0, "d", 1, NULL, 0, ND_TIMESTAMP_NOW};
  for (int i = 0; i < 3; i++)
    CHECK_OK(nd_append(s, names[i], 0, &r, 1, 0, NULL));
  CHECK_EQ_I64(recovery_point(s, "never"), 0);
  CHECK_EQ_I64(recovery_point(s, "interval"), 0);
  CHECK_EQ_I64(recovery_point(s, "always"), 1);
  /* The flusher's round: only the interval topic is synced by time. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  CHECK_OK(nd_maintain(s, now + 100));
  CHECK_EQ_I64(recovery_point(s, "interval"), 1);
  CHECK_EQ_I64(recovery_point(s, "never"), 0);
  /* Per-append overrides either way. */
  CHECK_OK(nd_append(s, "never", 0, &r, 1, ND_APPEND_SYNC, NULL));
  CHECK_EQ_I64(recovery_point(s, "never"), 2);
  CHECK_OK(nd_append(s, "always", 0, &r, 1, ND_APPEND_NOSYNC, NULL));
  CHECK_EQ_I64(recovery_point(s, "always"), 1);
  CHECK_OK(nd_sync_partition(s, "always", 0, 1));
  CHECK_EQ_I64(recovery_point(s, "always"), 2);
  /* Past the high watermark: everything appended so far, and a return —
   * it once synced forever waiting for offsets no one would write (the
   * alarm turns such a hang into a failure). */
  CHECK_OK(nd_append(s, "always", 0, &r, 1, ND_APPEND_NOSYNC, NULL));
  alarm(120);
  CHECK_OK(nd_sync_partition(s, "always", 0, 1000));
  alarm(0);
  CHECK_EQ_I64(recovery_point(s, "always"), 3);
  CHECK_OK(nd_append(s, "never", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_sync(s));
  CHECK_EQ_I64(recovery_point(s, "never"), 3);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Entries of DIR/topics that are deleted topics' directories. */
static int deleted_dirs(const char *dir) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/topics", dir);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += strstr(e->d_name, ".deleted") != NULL;
  closedir(d);
  return n;
}

/* A deleted topic's files are removed by the background thread (an
 * event loop calling nd_topic_delete must not wait for gigabytes to be
 * unlinked), and whatever is left is removed by nd_close. */
static void delete_removes_in_background(void) {
  char *dir = tmpdir_make("trash");
  nd_options o = {0}; /* with the background thread */
  nd_store *s = NULL;
  CHECK_OK(nd_open(dir, &o, &s));
  static char val[4096];
  nd_record r = {NULL, 0, val, sizeof val, NULL, 0, ND_TIMESTAMP_NOW};
  for (int round = 0; round < 2; round++) {
    CHECK_OK(nd_topic_create(s, "big", 2, NULL));
    for (int i = 0; i < 200; i++)
      CHECK_OK(nd_append(s, "big", i % 2, &r, 1, 0, NULL));
    CHECK_OK(nd_topic_delete(s, "big"));
    CHECK_RC(nd_offsets(s, "big", 0, NULL, NULL), ND_ENOTOPIC);
    if (round == 0) {
      /* Gone soon, without a close (bounded wait for the event). */
      for (int i = 0; i < 500 && deleted_dirs(dir) != 0; i++)
        usleep(10000);
      CHECK_EQ_I64(deleted_dirs(dir), 0);
    }
  }
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(deleted_dirs(dir), 0);
  tmpdir_remove(dir);
}

/* Text of one setting of cfg (test helper). */
static const char *cfg_text(const nd_topic_config *cfg, const char *name) {
  static char buf[64];
  if (nd_topic_config_get(cfg, name, buf, sizeof buf) != 0)
    return "(error)";
  return buf;
}

/* Kafka's compression.type (+ levels) and flush.messages / flush.ms:
 * parsing, Kafka's ranges, flush.* as views of the fsync policy whatever
 * the order they are set in, and a round trip through topic.conf. */
static void kafka_topic_settings(void) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  CHECK(!strcmp(cfg_text(&cfg, "compression.type"), "producer"));
  CHECK(!strcmp(cfg_text(&cfg, "compression.gzip.level"), "-1"));
  CHECK(!strcmp(cfg_text(&cfg, "compression.lz4.level"), "9"));
  CHECK(!strcmp(cfg_text(&cfg, "compression.zstd.level"), "3"));
  CHECK(!strcmp(cfg_text(&cfg, "flush.messages"), "9223372036854775807"));
  CHECK(!strcmp(cfg_text(&cfg, "flush.ms"), "1000"));
  /* Accepted on every topic, as Kafka does (librdkafka's 0081 creates
   * topics with it); a delete-policy topic ignores it. */
  CHECK(!strcmp(cfg_text(&cfg, "delete.retention.ms"), "86400000"));
  CHECK_RC(nd_topic_config_set(&cfg, "delete.retention.ms", "-1"), ND_ECONFIG);
  static const char *const codecs[] = {"uncompressed", "gzip", "snappy", "lz4",
                                       "zstd"};
  for (int c = 0; c < 5; c++) {
    CHECK_OK(nd_topic_config_set(&cfg, "compression.type", codecs[c]));
    CHECK_EQ_I64(cfg.compression, c);
    CHECK(!strcmp(cfg_text(&cfg, "compression.type"), codecs[c]));
  }
  CHECK_RC(nd_topic_config_set(&cfg, "compression.type", "GZIP"), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "String must be one of") != NULL);
  CHECK_RC(nd_topic_config_set(&cfg, "compression.type", "none"), ND_ECONFIG);
  CHECK_RC(nd_topic_config_set(&cfg, "compression.gzip.level", "0"),
           ND_ECONFIG);
  CHECK_RC(nd_topic_config_set(&cfg, "compression.gzip.level", "10"),
           ND_ECONFIG);
  CHECK_OK(nd_topic_config_set(&cfg, "compression.gzip.level", "1"));
  CHECK_RC(nd_topic_config_set(&cfg, "compression.lz4.level", "0"), ND_ECONFIG);
  CHECK_OK(nd_topic_config_set(&cfg, "compression.lz4.level", "17"));
  CHECK_RC(nd_topic_config_set(&cfg, "compression.zstd.level", "-131073"),
           ND_ECONFIG);
  CHECK_OK(nd_topic_config_set(&cfg, "compression.zstd.level", "-131072"));
  CHECK_OK(nd_topic_config_set(&cfg, "compression.zstd.level", "22"));

  /* flush.* in both orders give the same policy. */
  const char *max = "9223372036854775807";
  struct {
    const char *a, *av, *b, *bv, *fsync, *msgs, *ms;
  } cases[] = {
      {"flush.messages", "1", "flush.ms", "250", "always", "1", "250"},
      {"flush.messages", max, "flush.ms", "250", "interval=250", max, "250"},
      {"flush.messages", max, "flush.ms", max, "never", max, max},
      {"flush.messages", "1", "flush.ms", max, "always", "1", max},
      {"flush.ms", "0", "fsync", "interval", "interval=1", max, "1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int order = 0; order < 2; order++) {
      nd_topic_config c;
      nd_topic_config_init(&c);
      if (order == 0) {
        CHECK_OK(nd_topic_config_set(&c, cases[i].a, cases[i].av));
        CHECK_OK(nd_topic_config_set(&c, cases[i].b, cases[i].bv));
      } else {
        CHECK_OK(nd_topic_config_set(&c, cases[i].b, cases[i].bv));
        CHECK_OK(nd_topic_config_set(&c, cases[i].a, cases[i].av));
      }
      if (strcmp(cfg_text(&c, "fsync"), cases[i].fsync) ||
          strcmp(cfg_text(&c, "flush.messages"), cases[i].msgs) ||
          strcmp(cfg_text(&c, "flush.ms"), cases[i].ms)) {
        fprintf(stderr, "case %zu order %d: fsync=%s", i, order,
                cfg_text(&c, "fsync"));
        fprintf(stderr, " flush.messages=%s", cfg_text(&c, "flush.messages"));
        fprintf(stderr, " flush.ms=%s\n", cfg_text(&c, "flush.ms"));
        CHECK(0);
      }
    }
  /* Leaving always returns to the time policy flush.ms describes. */
  nd_topic_config c;
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "flush.ms", max));
  CHECK_OK(nd_topic_config_set(&c, "flush.messages", "1"));
  CHECK_OK(nd_topic_config_set(&c, "flush.messages", max));
  CHECK(!strcmp(cfg_text(&c, "fsync"), "never"));
  CHECK_RC(nd_topic_config_set(&c, "flush.messages", "5"), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "flush.messages=5") != NULL);
  CHECK_RC(nd_topic_config_set(&c, "flush.messages", "0"), ND_ECONFIG);
  CHECK_RC(nd_topic_config_set(&c, "flush.ms", "-1"), ND_ECONFIG);

  /* topic.conf keeps all of it, including the interval kept under always. */
  char *dir = tmpdir_make("kafka-settings");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "compression.type", "zstd"));
  CHECK_OK(nd_topic_config_set(&c, "compression.zstd.level", "-5"));
  CHECK_OK(nd_topic_config_set(&c, "flush.ms", "250"));
  CHECK_OK(nd_topic_config_set(&c, "flush.messages", "1"));
  CHECK_OK(nd_topic_config_set(&c, "delete.retention.ms", "900"));
  CHECK_OK(nd_topic_create(s, "k", 1, &c));
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "fsync", "never"));
  CHECK_OK(nd_topic_create(s, "n", 1, &c));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  nd_topic_info info;
  CHECK_OK(nd_topic_describe(s, "k", &info));
  CHECK(!strcmp(cfg_text(&info.config, "compression.type"), "zstd"));
  CHECK_EQ_I64(info.config.zstd_level, -5);
  CHECK_EQ_I64(info.config.delete_retention_ms, 900);
  CHECK(!strcmp(cfg_text(&info.config, "fsync"), "always"));
  CHECK(!strcmp(cfg_text(&info.config, "flush.ms"), "250"));
  CHECK_OK(nd_topic_describe(s, "n", &info));
  CHECK(!strcmp(cfg_text(&info.config, "flush.ms"), max));
  CHECK(!strcmp(cfg_text(&info.config, "flush.messages"), max));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* nd_options.on_append: called once per successful append, from every
 * append path, on the appending thread, with the partition the records
 * went to and the high watermark after them, once readers can see them
 * (the hook reads the offsets back: that also shows it runs without the
 * partition's locks). Failed appends call nothing. */
typedef struct hook_call {
  char topic[32];
  int32_t partition;
  int64_t hwm;
  int64_t hw_seen; /* nd_offsets from inside the hook */
  int same_thread;
} hook_call;

static struct {
  nd_store *s;
  pthread_t thread;
  hook_call calls[16];
  int n;
} hooked;

static void record_append(void *ctx, const char *topic, int32_t partition,
                          int64_t hwm) {
  if (ctx != &hooked || hooked.n == 16)
    return;
  hook_call *c = &hooked.calls[hooked.n++];
  snprintf(c->topic, sizeof c->topic, "%s", topic);
  c->partition = partition;
  c->hwm = hwm;
  c->hw_seen = -1;
  if (nd_offsets(hooked.s, topic, partition, NULL, &c->hw_seen) != 0)
    c->hw_seen = -2;
  c->same_thread = pthread_equal(pthread_self(), hooked.thread);
}

#define CHECK_HOOK(i, t, p, h)                                                 \
  do {                                                                         \
    CHECK(hooked.n > (i));                                                     \
    CHECK(strcmp(hooked.calls[i].topic, (t)) == 0);                            \
    CHECK_EQ_I64(hooked.calls[i].partition, (p));                              \
    CHECK_EQ_I64(hooked.calls[i].hwm, (h));                                    \
    CHECK_EQ_I64(hooked.calls[i].hw_seen, (h));                                \
    CHECK(hooked.calls[i].same_thread);                                        \
  } while (0)

static void *append_elsewhere(void *arg) {
  nd_record *r = arg;
  hooked.thread = pthread_self();
  return (void *)(intptr_t)nd_append(hooked.s, "h", 0, r, 1, 0, NULL);
}

/* A client's batch carries partitionLeaderEpoch -1 (producers do not
 * know it); the store writes the leader's, 0, as Kafka's leader does, so
 * consumers see each record's leader epoch and commit it. The field is
 * outside the CRC: the stored batch stays valid. */
static void leader_epoch_stamped(void) {
  char *dir = tmpdir_make("epoch");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  nd_record r = {"k", 1, "v", 1, NULL, 0, 1700000000000};
  void *enc = NULL;
  size_t enc_len = 0;
  CHECK_OK(nd_batch_encode(&r, 1, 0, 0, 0, &enc, &enc_len));
  uint8_t *buf = enc;
  int64_t size = (int64_t)enc_len;
  CHECK(size > 0);
  put_be32(buf + 12, (uint32_t)-1);
  for (int i = 0; i < 2; i++)
    CHECK_OK(nd_append_batch(s, "t", 0, buf, (size_t)size, 0, NULL));
  nd_batches nb;
  CHECK_OK(nd_read(s, "t", 0, 0, 1 << 20, &nb));
  CHECK_EQ_I64((int64_t)nb.len, 2 * size);
  for (size_t q = 0; q < nb.len; q += (size_t)size) {
    CHECK_EQ_I64((int32_t)be32(nb.data + q + 12), 0);
    nd_batch_info bi;
    CHECK_OK(nd_batch_check(nb.data + q, nb.len - q, 1, &bi));
    CHECK_EQ_I64((int64_t)bi.size, size);
  }
  nd_free(nb.data);
  nd_free(buf);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void append_hook(void) {
  char *dir = tmpdir_make("hook");
  nd_options o = {0};
  o.no_background = 1;
  o.on_append = record_append;
  o.on_append_ctx = &hooked;
  memset(&hooked, 0, sizeof hooked);
  hooked.thread = pthread_self();
  CHECK_OK(nd_open(dir, &o, &hooked.s));
  nd_store *s = hooked.s;
  CHECK_OK(nd_topic_create(s, "h", 3, NULL));
  CHECK_EQ_I64(hooked.n, 0);

  /* nd_append to a given partition, one record then three. */
  nd_record r[3] = {{NULL, 0, "a", 1, NULL, 0, ND_TIMESTAMP_NOW},
                    {NULL, 0, "b", 1, NULL, 0, ND_TIMESTAMP_NOW},
                    {NULL, 0, "c", 1, NULL, 0, ND_TIMESTAMP_NOW}};
  CHECK_OK(nd_append(s, "h", 1, r, 1, 0, NULL));
  CHECK_EQ_I64(hooked.n, 1);
  CHECK_HOOK(0, "h", 1, 1);
  CHECK_OK(nd_append(s, "h", 1, r, 3, ND_APPEND_SYNC, NULL));
  CHECK_EQ_I64(hooked.n, 2);
  CHECK_HOOK(1, "h", 1, 4);

  /* nd_append_batch with two client batches back to back: one call, with
   * the high watermark after both. */
  nd_batches b;
  CHECK_OK(nd_read(s, "h", 1, 0, 1 << 20, &b));
  nd_batches b1;
  CHECK_OK(nd_read(s, "h", 1, 1, 1 << 20, &b1)); /* the 3-record batch */
  size_t len = b.len;
  CHECK(b1.len < len);
  uint8_t *copy = malloc(len);
  CHECK(copy);
  memcpy(copy, b.data, len);
  nd_free(b.data);
  nd_free(b1.data);
  CHECK_OK(nd_append_batch(s, "h", 2, copy, len, 0, NULL));
  CHECK_EQ_I64(hooked.n, 3);
  CHECK_HOOK(2, "h", 2, 4);

  /* Partition chosen by key: the hook names the one chosen. */
  nd_record keyed = {"key-7", 5, "v", 1, NULL, 0, ND_TIMESTAMP_NOW};
  nd_append_info ai;
  CHECK_OK(nd_append(s, "h", -1, &keyed, 1, 0, &ai));
  CHECK_EQ_I64(hooked.n, 4);
  CHECK_HOOK(3, "h", ai.partition, ai.last_offset + 1);

  /* Failures call nothing: no such topic or partition, a bad batch. */
  CHECK_RC(nd_append(s, "nope", 0, r, 1, 0, NULL), ND_ENOTOPIC);
  CHECK_RC(nd_append(s, "h", 5, r, 1, 0, NULL), ND_ENOPARTITION);
  copy[len - 1] ^= 1;
  CHECK_RC(nd_append_batch(s, "h", 2, copy, len, 0, NULL), ND_ECORRUPT);
  free(copy);
  CHECK_EQ_I64(hooked.n, 4);

  /* Called on whichever thread appends. */
  int64_t hw0;
  CHECK_OK(nd_offsets(s, "h", 0, NULL, &hw0));
  pthread_t th;
  void *ret = NULL;
  CHECK(pthread_create(&th, NULL, append_elsewhere, r) == 0);
  pthread_join(th, &ret);
  CHECK_EQ_I64((intptr_t)ret, 0);
  CHECK_EQ_I64(hooked.n, 5);
  CHECK_HOOK(4, "h", 0, hw0 + 1);

  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Partition limits per topic and per store, on create and on grow, with
 * messages naming the limit; nothing is created by a refused call. */
static void partition_limits(void) {
  char *dir = tmpdir_make("limits");
  nd_options o = {
      .no_background = 1, .max_topic_partitions = 4, .max_store_partitions = 6};
  nd_store *s;
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK_RC(nd_topic_create(s, "a", 5, NULL), ND_ETOPICLIMIT);
  CHECK(strstr(nd_errmsg(), "limit of 4 per topic"));
  CHECK_RC(nd_topic_create(s, "a", 0, NULL), ND_EINVAL);
  CHECK_OK(nd_topic_create(s, "a", 4, NULL));
  CHECK_RC(nd_topic_create(s, "b", 3, NULL), ND_ESTORELIMIT);
  CHECK(strstr(nd_errmsg(), "limit of 6"));
  nd_topic_info info;
  CHECK_RC(nd_topic_describe(s, "b", &info), ND_ENOTOPIC);
  CHECK_OK(nd_partitions_allowed(s, "b", 2));
  CHECK_RC(nd_partitions_allowed(s, "b", 3), ND_ESTORELIMIT);
  CHECK_OK(nd_topic_create(s, "b", 2, NULL));
  CHECK_RC(nd_topic_add_partitions(s, "b", 3), ND_ESTORELIMIT);
  CHECK_RC(nd_topic_add_partitions(s, "a", 5), ND_ETOPICLIMIT);
  CHECK_OK(nd_topic_describe(s, "b", &info));
  CHECK_EQ_I64(info.partitions, 2);
  CHECK_OK(nd_topic_delete(s, "a"));
  CHECK_OK(nd_topic_add_partitions(s, "b", 4));
  CHECK_OK(nd_close(s));
  /* The defaults: 100,000 per topic, refused before anything is made. */
  CHECK_OK(nd_open(dir, NULL, &s));
  CHECK_RC(
      nd_topic_create(s, "huge", ND_DEFAULT_MAX_TOPIC_PARTITIONS + 1, NULL),
      ND_ETOPICLIMIT);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(partition_limits);
  RUN(open_lock_format);
  RUN(default_dir);
  RUN(topics_lifecycle);
  RUN(append_read_roundtrip);
  RUN(partitioning);
  RUN(append_errors);
  RUN(unclean_reopen);
  RUN(readonly_store);
  RUN(durability_policies);
  RUN(delete_removes_in_background);
  RUN(kafka_topic_settings);
  RUN(append_hook);
  RUN(leader_epoch_stamped);
  TEST_MAIN_END();
}
