/* SPDX-License-Identifier: Apache-2.0 */
/* I/O failures through file.c's fault hooks: a full disk mid-write, EIO
 * from fdatasync. The append fails with the OS error, nothing partial
 * becomes visible, and the store keeps working (or, after a failed sync,
 * refuses appends to that partition until reopened). */
#include "test.h"

#include "nodata_testing.h"

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int64_t log_size(const char *dir, const char *topic) {
  char hash[65], path[PATH_MAX];
  nd_topic_dirname(topic, hash);
  snprintf(path, sizeof path, "%s/topics/%s/0/00000000000000000000.log", dir,
           hash);
  struct stat st;
  return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void disk_full_mid_write(void) {
  char *dir = tmpdir_make("enospc");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "f", 1, NULL));
  nd_record r = {"k", 1, "first", 5, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "f", 0, &r, 1, 0, NULL));
  int64_t size = log_size(dir, "f");
  /* The next write stores 7 bytes, then the disk is full. */
  nd_test_io_fault_set(ND_TEST_IO_WRITE, 0, ENOSPC, 7);
  r.value = "second";
  r.value_len = 6;
  CHECK_RC(nd_append(s, "f", 0, &r, 1, 0, NULL), -ENOSPC);
  CHECK(strstr(nd_errmsg(), ".log") && strstr(nd_errmsg(), "No space"));
  nd_test_io_fault_clear();
  CHECK_EQ_I64(log_size(dir, "f"), size); /* the 7 bytes were cut */
  int64_t hw;
  CHECK_OK(nd_offsets(s, "f", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 1);
  /* Space is back: the next append succeeds at the next offset. */
  nd_append_info ai;
  CHECK_OK(nd_append(s, "f", 0, &r, 1, 0, &ai));
  CHECK_EQ_I64(ai.base_offset, 1);
  CHECK_OK(nd_close(s));
  /* And the log is intact after a reopen (clean or not). */
  s = open_store(dir);
  CHECK(s);
  nd_batches b;
  CHECK_OK(nd_read(s, "f", 0, 0, 4096, &b));
  nd_iter it;
  nd_iter_init(&it, b.data, b.len, 0, NULL);
  nd_record_view v;
  CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
  CHECK(v.value_len == 5 && !memcmp(v.value, "first", 5));
  CHECK_EQ_I64(nd_iter_next(&it, &v), 1);
  CHECK(v.value_len == 6 && !memcmp(v.value, "second", 6));
  CHECK_EQ_I64(nd_iter_next(&it, &v), 0);
  nd_iter_close(&it);
  nd_free(b.data);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void failed_fdatasync_is_sticky(void) {
  char *dir = tmpdir_make("eio");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  CHECK_OK(nd_topic_create(s, "d", 1, &cfg));
  CHECK_OK(nd_topic_create(s, "other", 1, &cfg));
  nd_record r = {NULL, 0, "ok", 2, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "d", 0, &r, 1, 0, NULL));
  nd_test_io_fault_set(ND_TEST_IO_SYNC, 0, EIO, 0);
  CHECK_RC(nd_append(s, "d", 0, &r, 1, 0, NULL), -EIO);
  CHECK(strstr(nd_errmsg(), "fdatasync") != NULL);
  nd_test_io_fault_clear();
  /* After a failed fdatasync the kernel may have dropped the pages: the
   * partition refuses appends instead of pretending. */
  CHECK_RC(nd_append(s, "d", 0, &r, 1, 0, NULL), ND_EFAILED);
  CHECK(strstr(nd_errmsg(), "reopen") != NULL);
  /* Other partitions keep working, reads keep working. */
  CHECK_OK(nd_append(s, "other", 0, &r, 1, 0, NULL));
  nd_batches b;
  CHECK_OK(nd_read(s, "d", 0, 0, 4096, &b));
  nd_free(b.data);
  nd_close(s); /* reports the failed partition; still frees */
  /* Reopening recovers: appends work again. */
  s = open_store(dir);
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "d", 0, NULL, &hw));
  CHECK(hw >= 1);
  CHECK_OK(nd_append(s, "d", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A roll seals the old segment without waiting for its fdatasync (an
 * appender, the broker's event loop among them, must not stall on the
 * writeback of a whole segment); the next sync of the partition makes the
 * sealed segments durable before the active one, and a failure there is
 * as sticky as any failed sync. */
static void roll_leaves_sync_to_next_sync(void) {
  char *dir = tmpdir_make("rollsync");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_NEVER;
  cfg.segment_bytes = 2048;
  CHECK_OK(nd_topic_create(s, "r", 1, &cfg));
  static char val[300];
  memset(val, 'r', sizeof val);
  nd_record rec = {NULL, 0, val, sizeof val, NULL, 0, ND_TIMESTAMP_NOW};
  /* Any fdatasync now fails: appends that roll must not make one. */
  nd_test_io_fault_set(ND_TEST_IO_SYNC, 0, EIO, 0);
  uint64_t syncs0 = nd_test_sync_count();
  for (int i = 0; i < 40; i++)
    CHECK_OK(nd_append(s, "r", 0, &rec, 1, 0, NULL));
  nd_test_io_fault_clear();
  CHECK_EQ_I64(nd_test_sync_count(), syncs0);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "r", 0, &pi));
  CHECK(pi.segment_count >= 5);
  CHECK_EQ_I64(pi.recovery_point, 0);
  /* One sync covers every sealed segment and the active one. */
  CHECK_OK(nd_sync_partition(s, "r", 0, -1));
  CHECK(nd_test_sync_count() - syncs0 >= (uint64_t)pi.segment_count);
  CHECK_OK(nd_partition_describe(s, "r", 0, &pi));
  CHECK_EQ_I64(pi.recovery_point, pi.high_watermark);
  uint64_t syncs1 = nd_test_sync_count();
  CHECK_OK(nd_sync_partition(s, "r", 0, -1)); /* nothing left to sync */
  CHECK_EQ_I64(nd_test_sync_count(), syncs1);
  /* A sealed segment whose deferred sync fails fails the partition. */
  for (int i = 0; i < 10; i++)
    CHECK_OK(nd_append(s, "r", 0, &rec, 1, 0, NULL));
  nd_test_io_fault_set(ND_TEST_IO_SYNC, 0, EIO, 0);
  CHECK_RC(nd_sync_partition(s, "r", 0, -1), -EIO);
  nd_test_io_fault_clear();
  CHECK_RC(nd_append(s, "r", 0, &rec, 1, 0, NULL), ND_EFAILED);
  nd_close(s);
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_offsets(s, "r", 0, NULL, &pi.high_watermark));
  CHECK_EQ_I64(pi.high_watermark, 50);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void failed_topic_create_leaves_nothing(void) {
  char *dir = tmpdir_make("create");
  nd_store *s = open_store(dir);
  CHECK(s);
  /* topic.conf cannot be written: no topic appears, now or after reopen. */
  nd_test_io_fault_set(ND_TEST_IO_WRITE, 0, ENOSPC, 0);
  CHECK_RC(nd_topic_create(s, "half", 2, NULL), -ENOSPC);
  nd_test_io_fault_clear();
  nd_topic_info info;
  CHECK_RC(nd_topic_describe(s, "half", &info), ND_ENOTOPIC);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_RC(nd_topic_describe(s, "half", &info), ND_ENOTOPIC);
  CHECK_OK(nd_topic_create(s, "half", 2, NULL));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Entries of DIR/topics (each a published or leftover topic directory), or
 * of a topic's directory when topic is given. */
static int topic_dirs(const char *dir, const char *topic) {
  char path[PATH_MAX], hash[65] = "";
  if (topic)
    nd_topic_dirname(topic, hash);
  snprintf(path, sizeof path, "%s/topics/%s", dir, hash);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Opening the new partitions fails after topic.conf is written and the
 * directory published (as mapping their indexes did once the kernel's
 * vm.max_map_count ran out): the caller is told, and nothing stays. */
static void failed_partition_open_leaves_nothing(void) {
  char *dir = tmpdir_make("create-open");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_test_io_fault_set(ND_TEST_IO_CREATE, 5, ENFILE, 0);
  CHECK_RC(nd_topic_create(s, "half", 10, NULL), -ENFILE);
  nd_test_io_fault_clear();
  nd_topic_info info;
  CHECK_RC(nd_topic_describe(s, "half", &info), ND_ENOTOPIC);
  CHECK_EQ_I64(topic_dirs(dir, NULL), 0);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_RC(nd_topic_describe(s, "half", &info), ND_ENOTOPIC);
  /* Growing a topic: the same, for the partitions it adds. */
  CHECK_OK(nd_topic_create(s, "grow", 2, NULL));
  nd_test_io_fault_set(ND_TEST_IO_CREATE, 3, ENFILE, 0);
  CHECK_RC(nd_topic_add_partitions(s, "grow", 10), -ENFILE);
  nd_test_io_fault_clear();
  CHECK_OK(nd_topic_describe(s, "grow", &info));
  CHECK_EQ_I64(info.partitions, 2);
  CHECK_EQ_I64(topic_dirs(dir, "grow"), 3); /* 0, 1, topic.conf */
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_describe(s, "grow", &info));
  CHECK_EQ_I64(info.partitions, 2);
  CHECK_OK(nd_topic_add_partitions(s, "grow", 4));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A topic whose partitions cannot be opened does not take the store down:
 * open, list and delete work, the other topics serve, and that topic's
 * operations say why it is offline. */
static void unopenable_topic_goes_offline(void) {
  char *dir = tmpdir_make("offline");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "good", 1, NULL));
  CHECK_OK(nd_topic_create(s, "bad", 3, NULL));
  CHECK_OK(nd_close(s));
  /* Partition 2 of "bad" lost its files (as after a crash while growing):
   * opening it needs a new segment, and that creation fails. */
  char hash[65], path[PATH_MAX + 100];
  nd_topic_dirname("bad", hash);
  snprintf(path, sizeof path, "rm -rf %s/topics/%s/2", dir, hash);
  CHECK_EQ_I64(system(path), 0);
  nd_test_io_fault_set(ND_TEST_IO_CREATE, 0, EMFILE, 0);
  s = open_store(dir);
  nd_test_io_fault_clear();
  CHECK(s);
  nd_topic_info *list;
  size_t n;
  CHECK_OK(nd_topic_list(s, &list, &n));
  CHECK_EQ_I64(n, 2);
  int offline = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(list[i].name, "bad")) {
      offline = list[i].offline;
      CHECK_EQ_I64(list[i].partitions, 3);
    }
  nd_free(list);
  CHECK(offline);
  nd_record rec = {NULL, 0, "v", 1, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "good", 0, &rec, 1, 0, NULL));
  CHECK_RC(nd_append(s, "bad", 0, &rec, 1, 0, NULL), ND_EFAILED);
  CHECK(strstr(nd_errmsg(), "offline") && strstr(nd_errmsg(), "segment"));
  CHECK_RC(nd_append(s, "bad", -1, &rec, 1, 0, NULL), ND_EFAILED);
  int64_t hw;
  CHECK_RC(nd_offsets(s, "bad", 1, NULL, &hw), ND_EFAILED);
  CHECK_OK(nd_topic_delete(s, "bad"));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  nd_topic_info info;
  CHECK_RC(nd_topic_describe(s, "bad", &info), ND_ENOTOPIC);
  CHECK_OK(nd_offsets(s, "good", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 1);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static int64_t committed_offset(nd_store *s, int p) {
  int64_t off = -2;
  if (nd_committed_offset(s, "g", "t", p, &off, NULL, NULL, NULL) != 0)
    return -2;
  return off;
}

/* A compaction of the committed-offsets log whose rename succeeds but
 * whose directory fsync fails left the store appending to the replaced
 * (unlinked) file: commits acknowledged after it vanished at the next open.
 * Every fdatasync of nd_maintain is failed in turn; whatever fails, a
 * commit that returns 0 afterwards must be there after a reopen. */
static void compaction_sync_failures_lose_no_commit(void) {
  for (int k = 0; k < 6; k++) {
    char *dir = tmpdir_make("compactfault");
    nd_store *s = open_store(dir);
    CHECK(s);
    CHECK_OK(nd_topic_create(s, "t", 2, NULL));
    for (int i = 0; i < 3000; i++)
      CHECK_OK(nd_commit_offset(s, "g", "t", 0, i, "some metadata"));
    nd_test_io_fault_set(ND_TEST_IO_SYNC, k, EIO, 0);
    nd_maintain(s, 0); /* may fail: the sync it needs is refused */
    nd_test_io_fault_clear();
    int rc = nd_commit_offset(s, "g", "t", 1, 777, NULL);
    nd_close(s);
    s = open_store(dir);
    CHECK(s);
    if (rc == 0 && committed_offset(s, 1) != 777)
      fprintf(stderr, "sync %d failed: commit acknowledged, then lost (%lld)\n",
              k, (long long)committed_offset(s, 1));
    CHECK(rc != 0 || committed_offset(s, 1) == 777);
    CHECK(committed_offset(s, 0) == 2999);
    CHECK_OK(nd_close(s));
    tmpdir_remove(dir);
  }
}

int main(void) {
  RUN(disk_full_mid_write);
  RUN(failed_fdatasync_is_sticky);
  RUN(failed_topic_create_leaves_nothing);
  RUN(failed_partition_open_leaves_nothing);
  RUN(unopenable_topic_goes_offline);
  RUN(roll_leaves_sync_to_next_sync);
  RUN(compaction_sync_failures_lose_no_commit);
  TEST_MAIN_END();
}
