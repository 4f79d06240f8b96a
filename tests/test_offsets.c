/* SPDX-License-Identifier: Apache-2.0 */
/* Committed consumer offsets: round trips, validation, durability across
 * clean and unclean restarts, torn and corrupt tails, group and topic
 * deletion, compaction. */
#include "test.h"

#include "bytes.h"

#include <sys/wait.h>
#include <time.h>

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int64_t committed(nd_store *s, const char *g, const char *t, int p) {
  int64_t off = -100;
  if (nd_committed_offset(s, g, t, p, &off, NULL, NULL, NULL) != 0)
    return -100;
  return off;
}

static void groups_path(char *out, const char *dir) {
  snprintf(out, PATH_MAX, "%s/groups/offsets.log", dir);
}

static void round_trip(void) {
  char *dir = tmpdir_make("off");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 3, NULL));
  CHECK_OK(nd_topic_create(s, "u", 1, NULL));
  CHECK_EQ_I64(committed(s, "g1", "t", 0), -1);
  nd_offset_commit c[3] = {{"t", 0, 10, 5, "meta-0", 0},
                           {"t", 2, 30, -1, NULL, 0},
                           {"u", 0, 7, -1, "", 0}};
  CHECK_OK(nd_commit_offsets(s, "g1", c, 3));
  CHECK_OK(nd_commit_offset(s, "g2", "t", 1, 99, NULL));
  int64_t off;
  int32_t epoch;
  char *meta;
  CHECK_OK(nd_committed_offset(s, "g1", "t", 0, &off, &epoch, &meta, NULL));
  CHECK(off == 10 && epoch == 5 && meta && !strcmp(meta, "meta-0"));
  nd_free(meta);
  CHECK_OK(nd_committed_offset(s, "g1", "t", 2, &off, &epoch, &meta, NULL));
  CHECK(off == 30 && epoch == -1 && meta == NULL);
  CHECK_OK(nd_committed_offset(s, "g1", "u", 0, &off, NULL, &meta, NULL));
  CHECK(off == 7 && meta && !strcmp(meta, ""));
  nd_free(meta);
  CHECK_EQ_I64(committed(s, "g1", "t", 1), -1);
  CHECK_EQ_I64(committed(s, "g2", "t", 1), 99);
  /* A later commit replaces the earlier one. */
  CHECK_OK(nd_commit_offset(s, "g1", "t", 0, 11, "meta-1"));
  CHECK_EQ_I64(committed(s, "g1", "t", 0), 11);

  nd_committed *list;
  size_t n;
  CHECK_OK(nd_group_offsets(s, "g1", &list, &n));
  CHECK_EQ_I64(n, 3);
  CHECK(!strcmp(list[0].topic, "t") && list[0].partition == 0 &&
        list[0].offset == 11 && !strcmp(list[0].metadata, "meta-1"));
  CHECK(!strcmp(list[1].topic, "t") && list[1].partition == 2);
  CHECK(!strcmp(list[2].topic, "u") && list[2].offset == 7);
  nd_committed_free(list, n);
  CHECK_OK(nd_group_offsets(s, "nobody", &list, &n));
  CHECK_EQ_I64(n, 0);
  char **names;
  CHECK_OK(nd_group_list(s, &names, &n));
  CHECK(n == 2 && !strcmp(names[0], "g1") && !strcmp(names[1], "g2"));
  nd_names_free(names, n);

  /* Validation: nothing of a bad call is recorded. */
  nd_offset_commit bad[2] = {{"t", 0, 500, -1, NULL, 0},
                             {"t", 9, 1, -1, NULL, 0}};
  CHECK_RC(nd_commit_offsets(s, "g1", bad, 2), ND_ENOPARTITION);
  CHECK_EQ_I64(committed(s, "g1", "t", 0), 11);
  CHECK_RC(nd_commit_offset(s, "g1", "nope", 0, 1, NULL), ND_ENOTOPIC);
  CHECK_RC(nd_commit_offset(s, "", "t", 0, 1, NULL), ND_EINVAL);
  CHECK_RC(nd_commit_offset(s, "g1", "t", 0, -5, NULL), ND_EINVAL);
  static char huge[ND_OFFSET_METADATA_MAX + 2];
  memset(huge, 'm', sizeof huge - 1);
  CHECK_RC(nd_commit_offset(s, "g1", "t", 0, 1, huge), ND_EINVAL);
  CHECK(strstr(nd_errmsg(), "4096") != NULL);

  /* Survives a clean restart. */
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g1", "t", 0), 11);
  CHECK_EQ_I64(committed(s, "g2", "t", 1), 99);

  /* Group delete, then topic delete and re-create. */
  CHECK_OK(nd_group_delete(s, "g2"));
  CHECK_RC(nd_group_delete(s, "g2"), ND_ENOTFOUND);
  CHECK_EQ_I64(committed(s, "g2", "t", 1), -1);
  CHECK_OK(nd_topic_delete(s, "t"));
  CHECK_OK(nd_topic_create(s, "t", 3, NULL));
  CHECK_EQ_I64(committed(s, "g1", "t", 0), -1);
  CHECK_EQ_I64(committed(s, "g1", "u", 0), 7);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g1", "t", 0), -1);
  CHECK_EQ_I64(committed(s, "g2", "t", 1), -1);
  CHECK_EQ_I64(committed(s, "g1", "u", 0), 7);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void crash_and_torn_tail(void) {
  char *dir = tmpdir_make("offcrash");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(nd_close(s));
  /* A committer that dies right after its commits returned. */
  pid_t pid = fork();
  if (pid == 0) {
    nd_store *cs = open_store(dir);
    for (int i = 1; cs && i <= 20; i++)
      if (nd_commit_offset(cs, "g", "t", 0, i, NULL) != 0)
        _exit(1);
    _exit(cs ? 0 : 2);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g", "t", 0), 20);
  CHECK_OK(nd_close(s));

  /* A torn frame after the last whole one is cut; a frame with a bad
   * CRC ends the log there. */
  char path[PATH_MAX];
  groups_path(path, dir);
  size_t len;
  uint8_t *orig = read_file(path, &len);
  CHECK(orig && len > 16);
  FILE *f = fopen(path, "ab");
  fwrite("\x00\x00\x00\x40garbage", 1, 11, f);
  fclose(f);
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g", "t", 0), 20);
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 21, NULL));
  CHECK_OK(nd_close(s));
  size_t len2;
  uint8_t *now = read_file(path, &len2);
  CHECK(now && len2 > len && !memcmp(now, orig, len));
  /* Flip a byte inside the last frame (the commit of 21). */
  now[len2 - 3] ^= 0x40;
  f = fopen(path, "wb");
  fwrite(now, 1, len2, f);
  fclose(f);
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g", "t", 0), 20);
  CHECK_OK(nd_close(s));
  free(orig);
  free(now);
  tmpdir_remove(dir);
}

static void compaction(void) {
  char *dir = tmpdir_make("offcompact");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 4, NULL));
  for (int i = 0; i < 3000; i++)
    CHECK_OK(nd_commit_offset(s, "g", "t", i % 4, i, "some metadata"));
  char path[PATH_MAX];
  groups_path(path, dir);
  struct stat before, after;
  CHECK(stat(path, &before) == 0 && before.st_size > 64 * 1024);
  CHECK_OK(nd_maintain(s, 0));
  CHECK(stat(path, &after) == 0 && after.st_size < 1024);
  /* Commits after compaction go to the new file and survive. */
  CHECK_OK(nd_commit_offset(s, "g", "t", 1, 5000, NULL));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g", "t", 0), 2996);
  CHECK_EQ_I64(committed(s, "g", "t", 1), 5000);
  CHECK_EQ_I64(committed(s, "g", "t", 3), 2999);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Metadata is bytes: NULs inside are kept through the lookup, the listing,
 * a reopen (replay) and compaction, as Kafka keeps them. */
static int meta_is(nd_store *s, const char *want, size_t want_len) {
  int64_t off;
  char *meta = NULL;
  size_t len = 0;
  int ok = nd_committed_offset(s, "g", "t", 0, &off, NULL, &meta, &len) == 0 &&
           meta && len == want_len && !memcmp(meta, want, len) &&
           meta[len] == '\0';
  nd_free(meta);
  nd_committed *list;
  size_t n;
  if (nd_group_offsets(s, "g", &list, &n) != 0)
    return 0;
  ok = ok && n == 1 && list[0].metadata && list[0].metadata_len == want_len &&
       !memcmp(list[0].metadata, want, want_len);
  nd_committed_free(list, n);
  return ok;
}

static void binary_metadata(void) {
  char *dir = tmpdir_make("offbinary");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  static const char bin[] = "a\0b\0\0c";
  nd_offset_commit c = {"t", 0, 3, -1, bin, sizeof bin - 1};
  CHECK_OK(nd_commit_offsets(s, "g", &c, 1));
  CHECK(meta_is(s, bin, sizeof bin - 1));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK(meta_is(s, bin, sizeof bin - 1));
  /* Compaction rewrites the entry from memory: the bytes must survive. */
  for (int i = 0; i < 2000; i++)
    CHECK_OK(nd_commit_offset(s, "g2", "t", 0, i, "filler metadata"));
  CHECK_OK(nd_commit_offsets(s, "g", &c, 1));
  CHECK_OK(nd_maintain(s, 0));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK(meta_is(s, bin, sizeof bin - 1));
  /* Length 0 means a C string; over the limit counts every byte. */
  nd_offset_commit cs = {"t", 0, 4, -1, "plain", 0};
  CHECK_OK(nd_commit_offsets(s, "g", &cs, 1));
  CHECK(meta_is(s, "plain", 5));
  static char big[ND_OFFSET_METADATA_MAX + 1];
  nd_offset_commit cb = {"t", 0, 5, -1, big, sizeof big};
  CHECK_RC(nd_commit_offsets(s, "g", &cb, 1), ND_EINVAL);
  CHECK(meta_is(s, "plain", 5));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The commit times of group g's offsets on t (partitions 0-2, -1 where
 * none): 0 or the number of offsets listed. */
static size_t commit_times(nd_store *s, const char *g, int64_t times[3]) {
  nd_committed *list;
  size_t n;
  times[0] = times[1] = times[2] = -1;
  if (nd_group_offsets(s, g, &list, &n) != 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(list[i].topic, "t") && list[i].partition >= 0 &&
        list[i].partition < 3)
      times[list[i].partition] = list[i].commit_time_ms;
  nd_committed_free(list, n);
  return n;
}

/* Each commit's time (a broker expires offsets by it) is the wall clock
 * of its nd_commit_offsets, kept exactly through a reopen (replay), a
 * compaction (the checkpoint rewrites it from memory) and a deletion of
 * another partition; a later commit of the partition takes its own. */
static void commit_time(void) {
  char *dir = tmpdir_make("offtime");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 3, NULL));
  int64_t t0 = wall_ms();
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 5, NULL));
  int64_t t1 = wall_ms();
  struct timespec nap = {0, 30 * 1000000};
  nanosleep(&nap, NULL);
  nd_offset_commit two[2] = {{"t", 1, 6, -1, NULL, 0},
                             {"t", 2, 7, -1, NULL, 0}};
  int64_t t2 = wall_ms();
  CHECK_OK(nd_commit_offsets(s, "g", two, 2));
  int64_t t3 = wall_ms();
  int64_t at[3], again[3];
  CHECK_EQ_I64(commit_times(s, "g", at), 3);
  CHECK(at[0] >= t0 && at[0] <= t1);
  CHECK(at[1] >= t2 && at[1] <= t3 && at[1] > at[0]);
  CHECK_EQ_I64(at[2], at[1]); /* one call, one time */
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(commit_times(s, "g", again), 3);
  CHECK(!memcmp(at, again, sizeof at));
  /* A compaction writes the entries from memory: their times too. */
  char path[PATH_MAX];
  groups_path(path, dir);
  struct stat before, after;
  for (int i = 0; i < 3000; i++)
    CHECK_OK(nd_commit_offset(s, "filler", "t", 0, i, "some metadata"));
  CHECK(stat(path, &before) == 0);
  CHECK_OK(nd_maintain(s, 0));
  CHECK(stat(path, &after) == 0 && after.st_size < before.st_size / 4);
  CHECK_EQ_I64(commit_times(s, "g", again), 3);
  CHECK(!memcmp(at, again, sizeof at));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(commit_times(s, "g", again), 3);
  CHECK(!memcmp(at, again, sizeof at));
  /* Deleting one partition leaves the others' times; a new commit of a
   * partition has the time of that commit. */
  nd_topic_partition p1 = {"t", 1};
  CHECK_OK(nd_delete_offsets(s, "g", &p1, 1));
  nanosleep(&nap, NULL);
  int64_t t4 = wall_ms();
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 8, NULL));
  CHECK_EQ_I64(commit_times(s, "g", again), 2);
  CHECK(again[0] >= t4 && again[0] > at[0]);
  CHECK_EQ_I64(again[1], -1);
  CHECK_EQ_I64(again[2], at[2]);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  int64_t last[3];
  CHECK_EQ_I64(commit_times(s, "g", last), 2);
  CHECK(!memcmp(again, last, sizeof last));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static int type_is(nd_store *s, const char *group, const char *want) {
  char *t = NULL;
  if (nd_group_protocol_type(s, group, &t) != 0)
    return 0;
  int ok = want ? t && !strcmp(t, want) : t == NULL;
  nd_free(t);
  return ok;
}

/* A group's protocol type is kept beside its offsets: through a reopen and
 * compaction, without showing as a commit, until the group is deleted. */
static void group_protocol_type(void) {
  char *dir = tmpdir_make("offtype");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK(type_is(s, "g", NULL));
  CHECK_OK(nd_group_set_protocol_type(s, "g", "consumer"));
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 5, NULL));
  CHECK(type_is(s, "g", "consumer"));
  /* Saying it again writes nothing. */
  char path[PATH_MAX];
  groups_path(path, dir);
  struct stat before, after;
  CHECK(stat(path, &before) == 0);
  CHECK_OK(nd_group_set_protocol_type(s, "g", "consumer"));
  CHECK(stat(path, &after) == 0 && after.st_size == before.st_size);
  /* It is no commit: the listings show only offsets. */
  nd_committed *list;
  size_t n;
  CHECK_OK(nd_group_offsets(s, "g", &list, &n));
  CHECK(n == 1 && !strcmp(list[0].topic, "t"));
  nd_committed_free(list, n);
  CHECK_OK(nd_group_set_protocol_type(s, "lonely", "connect"));
  char **names;
  CHECK_OK(nd_group_list(s, &names, &n));
  CHECK(n == 1 && !strcmp(names[0], "g"));
  nd_names_free(names, n);
  CHECK_RC(nd_group_set_protocol_type(s, "g", ""), ND_EINVAL);
  CHECK_RC(nd_group_set_protocol_type(s, "", "consumer"), ND_EINVAL);
  CHECK_OK(nd_close(s));

  s = open_store(dir);
  CHECK(s);
  CHECK(type_is(s, "g", "consumer") && type_is(s, "lonely", "connect"));
  CHECK_OK(nd_group_set_protocol_type(s, "g", "connect"));
  for (int i = 0; i < 3000; i++)
    CHECK_OK(nd_commit_offset(s, "g", "t", 0, i, "filler metadata"));
  CHECK_OK(nd_maintain(s, 0));
  CHECK(stat(path, &after) == 0 && after.st_size < 1024);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK(type_is(s, "g", "connect"));
  CHECK_EQ_I64(committed(s, "g", "t", 0), 2999);
  CHECK_OK(nd_group_delete(s, "g"));
  CHECK(type_is(s, "g", NULL));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK(type_is(s, "g", NULL));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A frame whose CRC holds but whose second op is malformed is cut whole:
 * its first op must not show before the cut and vanish after the next
 * open (found by fuzz/fuzz_offsets_log.c). */
static void bad_frame_applies_nothing(void) {
  char *dir = tmpdir_make("offbadframe");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(nd_close(s));
  uint8_t f[128];
  size_t n = 8;
  f[n++] = 1;         /* version */
  put_be32(f + n, 2); /* two ops */
  n += 4;
  f[n++] = 1; /* commit */
  put_be16(f + n, 1);
  f[n + 2] = 'g';
  n += 3;
  put_be16(f + n, 1);
  f[n + 2] = 't';
  n += 3;
  memset(f + n, 0, 28);             /* partition 0, offset, epoch, time */
  f[n + 11] = 5;                    /* offset 5 */
  put_be32(f + n + 24, UINT32_MAX); /* null metadata */
  n += 28;
  f[n++] = 9; /* an op kind that does not exist */
  put_be16(f + n, 1);
  f[n + 2] = 'g';
  n += 3;
  put_be32(f, (uint32_t)(n - 8));
  put_be32(f + 4, nd_crc32c(0, f + 8, n - 8));
  char path[PATH_MAX];
  groups_path(path, dir);
  FILE *fp = fopen(path, "wb");
  CHECK(fp && fwrite(f, 1, n, fp) == n);
  fclose(fp);
  for (int i = 0; i < 2; i++) {
    s = open_store(dir);
    CHECK(s);
    CHECK_EQ_I64(committed(s, "g", "t", 0), -1);
    CHECK_OK(nd_close(s));
  }
  tmpdir_remove(dir);
}

/* A library consumer: read from the group's committed offset, commit as it
 * goes, stop half-way, and a new "process" resumes exactly there, as a
 * Kafka consumer group would. */
static int consume_some(nd_store *s, const char *group, int limit,
                        int64_t *seen_sum) {
  int64_t next;
  if (nd_committed_offset(s, group, "events", 0, &next, NULL, NULL, NULL) != 0)
    return -1;
  if (next < 0)
    next = 0; /* nothing committed: from the beginning */
  int got = 0;
  while (got < limit) {
    int64_t hw;
    nd_offsets(s, "events", 0, NULL, &hw);
    if (next >= hw)
      break;
    nd_batches b;
    if (nd_read(s, "events", 0, next, 4096, &b) != 0)
      return -1;
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, next, NULL);
    while (got < limit && nd_iter_next(&it, &v) == 1) {
      *seen_sum += atoi((const char *)v.value);
      next = v.offset + 1;
      got++;
      if (nd_commit_offset(s, group, "events", 0, next, NULL) != 0)
        return -1;
    }
    nd_iter_close(&it);
    nd_free(b.data);
  }
  return got;
}

static void library_consumer_resumes(void) {
  char *dir = tmpdir_make("libconsumer");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "events", 1, NULL));
  int64_t want = 0;
  for (int i = 1; i <= 100; i++) {
    char v[8];
    int n = snprintf(v, sizeof v, "%d", i);
    nd_record r = {NULL, 0, v, (size_t)n + 1, NULL, 0, ND_TIMESTAMP_NOW};
    CHECK_OK(nd_append(s, "events", 0, &r, 1, 0, NULL));
    want += i;
  }
  int64_t sum = 0;
  CHECK_EQ_I64(consume_some(s, "reader", 40, &sum), 40);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(consume_some(s, "reader", 1000, &sum), 60);
  CHECK_EQ_I64(sum, want); /* every record exactly once */
  CHECK_EQ_I64(consume_some(s, "reader", 1000, &sum), 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* nd_delete_offsets (Kafka's OffsetDelete) forgets exactly the named
 * partitions of one group, durably (replayed after a crash-like reopen),
 * skips partitions never committed, and leaves other groups alone. */
static void delete_offsets(void) {
  char *dir = tmpdir_make("offdel");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 3, NULL));
  nd_offset_commit c[3] = {{"t", 0, 10, -1, NULL, 0},
                           {"t", 1, 11, -1, "m", 0},
                           {"t", 2, 12, -1, NULL, 0}};
  CHECK_OK(nd_commit_offsets(s, "g", c, 3));
  CHECK_OK(nd_commit_offsets(s, "h", c, 3));
  nd_topic_partition del[3] = {{"t", 0}, {"t", 1}, {"gone", 0}};
  CHECK_OK(nd_delete_offsets(s, "g", del, 3));
  CHECK_EQ_I64(committed(s, "g", "t", 0), -1);
  CHECK_EQ_I64(committed(s, "g", "t", 1), -1);
  CHECK_EQ_I64(committed(s, "g", "t", 2), 12);
  CHECK_EQ_I64(committed(s, "h", "t", 0), 10);
  /* Again, and for a group without offsets: nothing to do, no error. */
  CHECK_OK(nd_delete_offsets(s, "g", del, 2));
  CHECK_OK(nd_delete_offsets(s, "nobody", del, 1));
  CHECK_RC(nd_delete_offsets(s, "", del, 1), ND_EINVAL);
  nd_topic_partition bad = {NULL, 0};
  CHECK_RC(nd_delete_offsets(s, "g", &bad, 1), ND_EINVAL);
  /* A commit after the delete comes back. */
  CHECK_OK(nd_commit_offset(s, "g", "t", 1, 50, NULL));
  CHECK_OK(nd_close(s));
  char clean[PATH_MAX];
  snprintf(clean, sizeof clean, "%s/clean-shutdown", dir);
  unlink(clean);
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g", "t", 0), -1);
  CHECK_EQ_I64(committed(s, "g", "t", 1), 50);
  CHECK_EQ_I64(committed(s, "g", "t", 2), 12);
  CHECK_EQ_I64(committed(s, "h", "t", 1), 11);
  /* Compaction keeps the result. */
  nd_topic_partition last = {"t", 2};
  CHECK_OK(nd_delete_offsets(s, "g", &last, 1));
  CHECK_OK(nd_maintain(s, 0));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g", "t", 2), -1);
  CHECK_EQ_I64(committed(s, "g", "t", 1), 50);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* ---- damage costs only the damaged frames ------------------------------ */

static char log_text[32768];
static size_t log_used;
static int warnings;

static void capture_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  warnings += level <= ND_LOG_WARN;
  int n = snprintf(log_text + log_used, sizeof log_text - log_used, "%d %s\n",
                   level, msg);
  if (n > 0 && (size_t)n < sizeof log_text - log_used)
    log_used += (size_t)n;
}

/* A line was logged at this level containing needle. */
static int logged(int level, const char *needle) {
  char prefix[8];
  snprintf(prefix, sizeof prefix, "%d ", level);
  for (const char *l = log_text; *l;) {
    const char *end = strchr(l, '\n');
    size_t n = end ? (size_t)(end - l) : strlen(l);
    char line[4096];
    snprintf(line, sizeof line, "%.*s", (int)n, l);
    if (!strncmp(line, prefix, strlen(prefix)) && strstr(line, needle))
      return 1;
    l += n + (end ? 1 : 0);
  }
  fprintf(stderr, "no level-%d line with \"%s\" in:\n%s", level, needle,
          log_text);
  return 0;
}

static nd_store *open_logged(const char *dir, unsigned flags) {
  nd_options o = {.no_background = 1, .flags = flags, .on_log = capture_log};
  log_used = 0;
  log_text[0] = '\0';
  warnings = 0;
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(p, 1, n, f) == n;
  return (f ? fclose(f) == 0 : 0) && ok;
}

#define NGROUPS 6

/* Group gI commits partition I of t twice: first 100+I (metadata "aI",
 * epoch 1), then 200+I ("bI", epoch 2); frame I is the first, frame
 * NGROUPS+I the second. */
static int commit_round(nd_store *s, int i, int round) {
  char group[8], meta[8];
  snprintf(group, sizeof group, "g%d", i);
  snprintf(meta, sizeof meta, "%c%d", round ? 'b' : 'a', i);
  nd_offset_commit c = {"t", i, (round ? 200 : 100) + i, round + 1, meta, 0};
  return nd_commit_offsets(s, group, &c, 1);
}

/* Every group shows what its surviving frames say: its second commit
 * unless frame NGROUPS+I is in lost (a bit mask of frames), else its first
 * unless frame I is lost, else nothing. */
static int groups_survive(nd_store *s, unsigned lost) {
  for (int i = 0; i < NGROUPS; i++) {
    char group[8], meta[8];
    snprintf(group, sizeof group, "g%d", i);
    int round = !(lost >> (NGROUPS + i) & 1) ? 1 : !(lost >> i & 1) ? 0 : -1;
    snprintf(meta, sizeof meta, "%c%d", round ? 'b' : 'a', i);
    int64_t off = -100;
    int32_t epoch = -100;
    char *m = NULL;
    if (nd_committed_offset(s, group, "t", i, &off, &epoch, &m, NULL) != 0)
      return 0;
    int ok = round < 0 ? off == -1 && !m
                       : off == (round ? 200 : 100) + i && epoch == round + 1 &&
                             m && !strcmp(m, meta);
    if (!ok)
      fprintf(stderr, "%s: offset %" PRId64 " epoch %d metadata %s, want %s\n",
              group, off, epoch, m ? m : "(null)", round < 0 ? "none" : meta);
    nd_free(m);
    if (!ok)
      return 0;
  }
  return 1;
}

/* Frame starts of a file; at[n] is where the last ends. Frames of form 1
 * (u32 length, u32 CRC) are walked too, so that these tests say how a
 * store of that form fared. */
static size_t frames_of(const uint8_t *b, size_t len, size_t *at, size_t max) {
  size_t n = 0, pos = 0;
  while (pos + 16 <= len && n < max) {
    at[n++] = pos;
    pos += be32(b + pos) == 0x894F4653u ? 16 + be32(b + pos + 4)
                                        : 8 + be32(b + pos);
  }
  at[n] = pos;
  return n;
}

/* A fresh store where every group committed twice (commit_round), closed.
 * Returns its directory, NULL on failure. */
static char *two_rounds(const char *tag) {
  char *dir = tmpdir_make(tag);
  nd_store *s = dir ? open_store(dir) : NULL;
  int ok = s && nd_topic_create(s, "t", NGROUPS, NULL) == 0;
  for (int round = 0; ok && round < 2; round++)
    for (int i = 0; ok && i < NGROUPS; i++)
      ok = commit_round(s, i, round) == 0;
  if (s && nd_close(s) != 0)
    ok = 0;
  if (!ok)
    fprintf(stderr, "two_rounds(%s): %s\n", tag, nd_errmsg());
  return ok ? dir : NULL;
}

/* The groups file of dir, whose 2 * NGROUPS frames start at at[]. */
static uint8_t *commit_frames(const char *dir, size_t *len, size_t *at) {
  char path[PATH_MAX];
  groups_path(path, dir);
  uint8_t *b = read_file(path, len);
  if (b && (frames_of(b, *len, at, 2 * NGROUPS) != 2 * NGROUPS ||
            at[2 * NGROUPS] != *len)) {
    fprintf(stderr, "%s: not %d frames\n", path, 2 * NGROUPS);
    free(b);
    b = NULL;
  }
  return b;
}

/* Put the damaged bytes in place (b NULL: the file as it is), open
 * (writable), check what survived, close; then again: the damage was
 * rewritten away, nothing is told and the same offsets show. The log of
 * the first open stays for the caller. */
static int survives(const char *dir, const uint8_t *b, size_t n,
                    unsigned lost) {
  char path[PATH_MAX];
  groups_path(path, dir);
  if (b && !write_bytes(path, b, n))
    return 0;
  nd_store *s = open_logged(dir, 0);
  int ok = s && groups_survive(s, lost);
  if (!s || nd_close(s) != 0)
    return 0;
  static char first[sizeof log_text];
  memcpy(first, log_text, sizeof first);
  int first_warnings = warnings;
  s = open_logged(dir, 0);
  ok = ok && s && groups_survive(s, lost) && log_used == 0;
  if (log_used)
    fprintf(stderr, "the second open told:\n%s", log_text);
  if (!s || nd_close(s) != 0)
    return 0;
  memcpy(log_text, first, sizeof first);
  warnings = first_warnings;
  return ok;
}

static void damaged_frames_cost_only_themselves(void) {
  char *dir = two_rounds("offdamage");
  CHECK(dir);
  char path[PATH_MAX], kept[PATH_MAX + 16];
  groups_path(path, dir);
  snprintf(kept, sizeof kept, "%s.damaged", path);
  size_t len, at[2 * NGROUPS + 1];
  uint8_t *orig = commit_frames(dir, &len, at);
  CHECK(orig);
  const size_t last = 2 * NGROUPS - 1, mid = NGROUPS + 2;
  uint8_t *b = malloc(len + 64);
  char want[256];

  /* A flipped bit in an early frame: its commit was superseded anyway. */
  memcpy(b, orig, len);
  b[at[0] + 30] ^= 0x04;
  CHECK(survives(dir, b, len, 1u << 0));
  snprintf(want, sizeof want, "bytes %zu-%zu are a frame that fails", at[0],
           at[1]);
  CHECK(logged(ND_LOG_WARN, want));

  /* In a middle frame: that group is back at its first commit, and the
   * message names the bytes and what was lost. The damaged file is kept. */
  memcpy(b, orig, len);
  b[at[mid + 1] - 1] ^= 0x01;
  CHECK(survives(dir, b, len, 1u << mid));
  snprintf(want, sizeof want, "bytes %zu-%zu are a frame that fails", at[mid],
           at[mid + 1]);
  CHECK(logged(ND_LOG_WARN, want));
  CHECK(logged(ND_LOG_WARN, "commit group 'g2' topic 't' partition 2 "
                            "offset 202 (now 102)"));
  CHECK(logged(ND_LOG_INFO, "the damaged file is kept as"));
  size_t klen;
  uint8_t *k = read_file(kept, &klen);
  CHECK(k && klen == len && !memcmp(k, b, len));
  free(k);

  /* In the header of a middle frame: found again at the next header. */
  memcpy(b, orig, len);
  b[at[mid] + 5] ^= 0x20;
  CHECK(survives(dir, b, len, 1u << mid));
  snprintf(want, sizeof want, "bytes %zu-%zu hold no valid frame", at[mid],
           at[mid + 1]);
  CHECK(logged(ND_LOG_WARN, want));

  /* In the last frame. */
  memcpy(b, orig, len);
  b[at[last] + 40] ^= 0x80;
  CHECK(survives(dir, b, len, 1u << last));
  snprintf(want, sizeof want, "bytes %zu-%zu are a frame that fails", at[last],
           len);
  CHECK(logged(ND_LOG_WARN, want));

  /* Cut in the middle of the last frame, and in its header: a torn write,
   * told at info level. */
  size_t cuts[2] = {at[last] + 20, at[last] + 7};
  for (int i = 0; i < 2; i++) {
    CHECK(survives(dir, orig, cuts[i], 1u << last));
    snprintf(want, sizeof want, "the %zu bytes from byte %zu are a write cut",
             cuts[i] - at[last], at[last]);
    CHECK(logged(ND_LOG_INFO, want));
    CHECK(warnings == 0);
  }

  /* A hole of zeros from inside frame 3 to inside frame 7: frame 3's
   * header survives (its payload fails), 4 to 7 are gone; the rest stays. */
  memcpy(b, orig, len);
  memset(b + at[3] + 20, 0, at[7] + 10 - (at[3] + 20));
  CHECK(survives(dir, b, len, 0xf8u));
  snprintf(want, sizeof want, "bytes %zu-%zu are a frame that fails", at[3],
           at[4]);
  CHECK(logged(ND_LOG_WARN, want));
  snprintf(want, sizeof want, "bytes %zu-%zu hold no valid frame", at[4],
           at[8]);
  CHECK(logged(ND_LOG_WARN, want));

  /* Garbage appended: nothing lost, the bytes are told and dropped. */
  memcpy(b, orig, len);
  for (int i = 0; i < 40; i++)
    b[len + (size_t)i] = (uint8_t)(0x5a + i);
  CHECK(survives(dir, b, len + 40, 0));
  snprintf(want, sizeof want, "bytes %zu-%zu hold no valid frame at the end",
           len, len + 40);
  CHECK(logged(ND_LOG_WARN, want));

  /* Zeros appended (an extended file whose data never came): torn. */
  memset(b + len, 0, 40);
  CHECK(survives(dir, b, len + 40, 0));
  CHECK(logged(ND_LOG_INFO, "a write cut short"));

  /* A read-only open tells the damage and changes nothing. */
  memcpy(b, orig, len);
  b[at[mid + 1] - 1] ^= 0x01;
  CHECK(write_bytes(path, b, len));
  nd_store *s = open_logged(dir, ND_OPEN_READONLY);
  CHECK(s);
  CHECK(groups_survive(s, 1u << mid));
  CHECK_OK(nd_close(s));
  snprintf(want, sizeof want, "bytes %zu-%zu are a frame that fails", at[mid],
           at[mid + 1]);
  CHECK(logged(ND_LOG_WARN, want));
  k = read_file(path, &klen);
  CHECK(k && klen == len && !memcmp(k, b, len));
  free(k);
  free(b);
  free(orig);
  tmpdir_remove(dir);
}

/* A power cut during an append leaves any prefix of the frame, maybe
 * followed by zeros or stale bytes: every such file loads with only that
 * last commit lost. */
static void torn_append_any_prefix(void) {
  char *dir = two_rounds("offprefix");
  CHECK(dir);
  size_t len, at[2 * NGROUPS + 1];
  uint8_t *orig = commit_frames(dir, &len, at);
  CHECK(orig);
  const size_t last = at[2 * NGROUPS - 1];
  uint8_t *b = malloc(len + 32);
  for (int fill = 0; fill < 3; fill++) {
    for (size_t p = last; p < len; p++) {
      memcpy(b, orig, p);
      size_t n = p + (fill ? len + 32 - p : 0);
      for (size_t i = p; i < n; i++)
        b[i] = fill == 1 ? 0 : (uint8_t)(i * 7 + 1);
      CHECK(survives(dir, b, n, 1u << (2 * NGROUPS - 1)));
    }
  }
  free(b);
  free(orig);
  tmpdir_remove(dir);
}

/* A checkpoint (the compacted file) has a frame per group: a flipped bit
 * in one costs that group only. A crash during the rewrite leaves the old
 * file whole. */
static void checkpoint_damage(void) {
  char *dir = two_rounds("offckpt");
  CHECK(dir);
  nd_store *s = open_store(dir);
  CHECK(s);
  for (int i = 0; i < 2000; i++)
    CHECK_OK(nd_commit_offset(s, "filler", "t", 0, i, "filler metadata"));
  char path[PATH_MAX], tmp[PATH_MAX + 8];
  groups_path(path, dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK_OK(nd_maintain(s, 0));
  CHECK_OK(nd_close(s));
  size_t len;
  uint8_t *orig = read_file(path, &len);
  CHECK(orig && len < 2048);

  /* A rewrite cut short: its tmp file is ignored and removed. */
  CHECK(write_bytes(tmp, orig, len / 2));
  CHECK(survives(dir, orig, len, 0));
  CHECK(access(tmp, F_OK) != 0);

  uint8_t *g3 = memmem(orig, len, "g3", 2);
  CHECK(g3);
  g3[1] ^= 0x10;
  CHECK(survives(dir, orig, len, 1u << 3 | 1u << (NGROUPS + 3)));
  CHECK(logged(ND_LOG_WARN, "are a frame that fails its checksum"));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "filler", "t", 0), 1999);
  CHECK_OK(nd_close(s));
  free(orig);
  tmpdir_remove(dir);
}

/* When the rewrite that drops damage fails (here: its tmp path is a
 * directory), the file is used as it is: the invalid tail is cut, the
 * damaged frame stays, new commits go after the last valid frame, and the
 * next open meets the damage again and rewrites it. */
static void rewrite_fails(void) {
  char *dir = two_rounds("offnorewrite");
  CHECK(dir);
  size_t len, at[2 * NGROUPS + 1];
  uint8_t *orig = commit_frames(dir, &len, at);
  CHECK(orig);
  const size_t mid = NGROUPS + 2;
  uint8_t *b = malloc(len + 40);
  memcpy(b, orig, len);
  b[at[mid + 1] - 1] ^= 0x01;
  memset(b + len, 0x77, 40);
  char path[PATH_MAX], tmp[PATH_MAX + 8], kept[PATH_MAX + 16];
  groups_path(path, dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  snprintf(kept, sizeof kept, "%s.damaged", path);
  CHECK(write_bytes(path, b, len + 40));
  CHECK(mkdir(tmp, 0755) == 0);
  nd_store *s = open_logged(dir, 0);
  CHECK(s);
  CHECK(logged(ND_LOG_WARN, "cannot rewrite"));
  CHECK(groups_survive(s, 1u << mid));
  CHECK_OK(nd_commit_offset(s, "late", "t", 0, 77, NULL));
  CHECK_OK(nd_close(s));
  CHECK(access(kept, F_OK) != 0);
  size_t n;
  uint8_t *now = read_file(path, &n);
  CHECK(now && n > len && !memcmp(now, b, len));
  free(now);
  CHECK(rmdir(tmp) == 0);
  char want[128];
  snprintf(want, sizeof want, "bytes %zu-%zu are a frame that fails", at[mid],
           at[mid + 1]);
  CHECK(survives(dir, NULL, 0, 1u << mid));
  CHECK(logged(ND_LOG_WARN, want));
  CHECK(logged(ND_LOG_INFO, "rewritten without the damaged bytes"));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "late", "t", 0), 77);
  CHECK_OK(nd_close(s));
  free(b);
  free(orig);
  tmpdir_remove(dir);
}

/* A form-1 frame (files written before form 2): u32 length, u32 CRC. */
static size_t form1_commit(uint8_t *f, const char *group, int32_t partition,
                           int64_t offset) {
  size_t n = 8, g = strlen(group);
  f[n++] = 1;
  put_be32(f + n, 1);
  n += 4;
  f[n++] = 1;
  put_be16(f + n, (uint16_t)g);
  memcpy(f + n + 2, group, g);
  n += 2 + g;
  put_be16(f + n, 1);
  f[n + 2] = 't';
  n += 3;
  put_be32(f + n, (uint32_t)partition);
  put_be64(f + n + 4, (uint64_t)offset);
  put_be32(f + n + 12, UINT32_MAX);
  put_be64(f + n + 16, 0);
  put_be32(f + n + 24, UINT32_MAX);
  n += 28;
  put_be32(f, (uint32_t)(n - 8));
  put_be32(f + 4, nd_crc32c(0, f + 8, n - 8));
  return n;
}

/* Files of form 1 still load, damage in them costs only the damaged frame
 * too, and a writable open rewrites them in form 2. */
static void form1_file(void) {
  char *dir = tmpdir_make("offform1");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", NGROUPS, NULL));
  CHECK_OK(nd_close(s));
  uint8_t f[1024];
  size_t n = 0, at[NGROUPS];
  for (int i = 0; i < NGROUPS; i++) {
    char group[8];
    snprintf(group, sizeof group, "g%d", i);
    at[i] = n;
    n += form1_commit(f + n, group, i, 300 + i);
  }
  char path[PATH_MAX];
  groups_path(path, dir);
  f[at[2] + 20] ^= 0x01;
  CHECK(write_bytes(path, f, n));
  s = open_logged(dir, 0);
  CHECK(s);
  for (int i = 0; i < NGROUPS; i++) {
    char group[8];
    snprintf(group, sizeof group, "g%d", i);
    CHECK_EQ_I64(committed(s, group, "t", i), i == 2 ? -1 : 300 + i);
  }
  CHECK_OK(nd_close(s));
  char want[128];
  snprintf(want, sizeof want, "bytes %zu-%zu hold no valid frame", at[2],
           at[3]);
  CHECK(logged(ND_LOG_WARN, want));
  size_t len;
  uint8_t *now = read_file(path, &len);
  CHECK(now && len > 4 && be32(now) == 0x894F4653u);
  free(now);
  s = open_logged(dir, 0);
  CHECK(s);
  CHECK_EQ_I64(committed(s, "g5", "t", 5), 305);
  CHECK_OK(nd_close(s));
  CHECK(log_used == 0);
  tmpdir_remove(dir);
}

/* Resynchronising through bytes that look like form-1 headers whose
 * lengths fit in the file must not cost a checksum of that length at
 * every byte: this 8 MiB file repeats 00 40 01, so at every third byte a
 * "frame" of 4 MiB with the right version byte starts. It loads (as one
 * damaged range) in linear time; before, the open ran for hours. */
static void resync_stays_linear(void) {
  char *dir = tmpdir_make("offlinear");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_close(s));
  size_t n = 8u << 20;
  uint8_t *b = malloc(n);
  CHECK(b);
  for (size_t i = 0; i < n; i++)
    b[i] = i % 3 == 0 ? 0x00 : i % 3 == 1 ? 0x40 : 0x01;
  char path[PATH_MAX];
  groups_path(path, dir);
  CHECK(write_bytes(path, b, n));
  free(b);
  s = open_logged(dir, 0);
  CHECK(s);
  CHECK_OK(nd_close(s));
  char want[128];
  snprintf(want, sizeof want, "bytes 0-%zu hold no valid frame at the end", n);
  CHECK(logged(ND_LOG_WARN, want));
  tmpdir_remove(dir);
}

/* ---- the per-group index against a model ------------------------------ */

/* A random sequence of every call that changes groups (commits to
 * interleaved groups, group, topic and partition deletes, types, states,
 * reopens, compactions), checked after every few steps against a
 * brute-force model: the listings (nd_group_list, nd_group_offsets for
 * every group, types, states) must be the model's, whatever the store
 * keeps in memory to answer them fast. */
#define M_GROUPS 48
#define M_TOPICS 4
#define M_PARTS 4
#define M_STEPS 4000
#define M_CHECK_EVERY 16

typedef struct m_offset {
  int64_t offset; /* -1: none */
  int32_t epoch;
  char meta[16]; /* "" with has_meta 0: NULL */
  int has_meta;
} m_offset;

typedef struct model {
  char groups[M_GROUPS][16];
  m_offset off[M_GROUPS][M_TOPICS][M_PARTS];
  const char *type[M_GROUPS]; /* NULL: none */
  uint8_t state[M_GROUPS][32];
  size_t state_len[M_GROUPS]; /* 0: none */
} model;

static const char *const m_topics[M_TOPICS] = {"ta", "tb", "tc", "td"};
static const char *const m_types[2] = {"consumer", "connect"};

static uint64_t m_rand(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static int m_has_offsets(const model *m, int g) {
  for (int t = 0; t < M_TOPICS; t++)
    for (int p = 0; p < M_PARTS; p++)
      if (m->off[g][t][p].offset >= 0)
        return 1;
  return 0;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The store shows what the model says: 1, or 0 after printing the first
 * difference. */
static int m_matches(nd_store *s, const model *m, int step) {
  const char *want[M_GROUPS];
  size_t nwant = 0;
  for (int g = 0; g < M_GROUPS; g++)
    if (m_has_offsets(m, g) || m->state_len[g])
      want[nwant++] = m->groups[g];
  qsort(want, nwant, sizeof *want, cmp_cstr);
  int ok = test_groups_are(s, nwant, want);
  if (!ok)
    fprintf(stderr, "step %d: nd_group_list differs\n", step);
  size_t n;
  for (int g = 0; ok && g < M_GROUPS; g++) {
    nd_committed *l;
    if (nd_group_offsets(s, m->groups[g], &l, &n) != 0)
      return 0;
    size_t k = 0;
    for (int t = 0; ok && t < M_TOPICS; t++)
      for (int p = 0; ok && p < M_PARTS; p++) {
        const m_offset *o = &m->off[g][t][p];
        if (o->offset < 0)
          continue;
        ok = k < n && !strcmp(l[k].topic, m_topics[t]) && l[k].partition == p &&
             l[k].offset == o->offset && l[k].leader_epoch == o->epoch &&
             (o->has_meta ? l[k].metadata && !strcmp(l[k].metadata, o->meta)
                          : !l[k].metadata);
        if (!ok)
          fprintf(stderr, "step %d: %s: entry %zu of %zu is not %s/%d@%lld\n",
                  step, m->groups[g], k, n, m_topics[t], p,
                  (long long)o->offset);
        k++;
      }
    if (ok && k != n) {
      fprintf(stderr, "step %d: %s lists %zu offsets, want %zu\n", step,
              m->groups[g], n, k);
      ok = 0;
    }
    nd_committed_free(l, n);
    /* The lookup of one partition agrees with the listing. */
    for (int t = 0; ok && t < M_TOPICS; t++)
      for (int p = 0; ok && p < M_PARTS; p++) {
        int64_t off = -100;
        ok = nd_committed_offset(s, m->groups[g], m_topics[t], p, &off, NULL,
                                 NULL, NULL) == 0 &&
             off == m->off[g][t][p].offset;
        if (!ok)
          fprintf(stderr, "step %d: %s %s/%d: offset %lld, want %lld\n", step,
                  m->groups[g], m_topics[t], p, (long long)off,
                  (long long)m->off[g][t][p].offset);
      }
    if (!ok)
      break;
    char *type = NULL;
    if (nd_group_protocol_type(s, m->groups[g], &type) != 0)
      return 0;
    ok = m->type[g] ? type && !strcmp(type, m->type[g]) : !type;
    nd_free(type);
    void *st = NULL;
    size_t len = 0;
    int rc = nd_group_state(s, m->groups[g], &st, &len);
    ok = ok && (m->state_len[g] ? rc == 0 && len == m->state_len[g] &&
                                      !memcmp(st, m->state[g], len)
                                : rc == ND_ENOTFOUND && !st);
    nd_free(st);
    if (!ok)
      fprintf(stderr, "step %d: %s: type or state differs\n", step,
              m->groups[g]);
  }
  return ok;
}

static void index_matches_model(void) {
  char *dir = tmpdir_make("offmodel");
  nd_store *s = open_store(dir);
  CHECK(s);
  static model m;
  memset(&m, 0, sizeof m);
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  /* Names of several lengths, made in shuffled order, so that neither
   * the listing's order nor a group's place in memory follows the index. */
  for (int g = 0; g < M_GROUPS; g++)
    snprintf(m.groups[g], sizeof m.groups[g], "g%d-%u", g,
             (unsigned)(m_rand(&seed) % 1000));
  for (int g = 0; g < M_GROUPS; g++)
    for (int t = 0; t < M_TOPICS; t++)
      for (int p = 0; p < M_PARTS; p++)
        m.off[g][t][p].offset = -1;
  for (int t = 0; t < M_TOPICS; t++)
    CHECK_OK(nd_topic_create(s, m_topics[t], M_PARTS, NULL));
  char path[PATH_MAX];
  groups_path(path, dir);
  int compactions = 0, reopens = 0, checks = 0;
  for (int step = 0; step < M_STEPS; step++) {
    /* A few groups take most commits, as busy consumers do; the rest
     * come and go. */
    int g = (int)(m_rand(&seed) % (m_rand(&seed) % 4 ? 8 : M_GROUPS));
    int r = (int)(m_rand(&seed) % 1000);
    if (r < 600) {
      nd_offset_commit c[3];
      char meta[3][16];
      int n = 1 + (int)(m_rand(&seed) % 3);
      for (int i = 0; i < n; i++) {
        int t = (int)(m_rand(&seed) % M_TOPICS);
        int p = (int)(m_rand(&seed) % M_PARTS);
        int has = m_rand(&seed) % 3 != 0;
        snprintf(meta[i], sizeof meta[i], "m%d.%d", step, i);
        c[i] = (nd_offset_commit){
            m_topics[t], p, step, (int32_t)(step % 7), has ? meta[i] : NULL, 0};
        m_offset *o = &m.off[g][t][p];
        o->offset = step;
        o->epoch = step % 7;
        o->has_meta = has;
        memcpy(o->meta, meta[i], sizeof o->meta);
      }
      CHECK_OK(nd_commit_offsets(s, m.groups[g], c, (size_t)n));
    } else if (r < 700) {
      nd_topic_partition d[3];
      int n = 1 + (int)(m_rand(&seed) % 3);
      for (int i = 0; i < n; i++) {
        int t = (int)(m_rand(&seed) % M_TOPICS);
        int p = (int)(m_rand(&seed) % M_PARTS);
        d[i] = (nd_topic_partition){m_topics[t], p};
        m.off[g][t][p].offset = -1;
      }
      CHECK_OK(nd_delete_offsets(s, m.groups[g], d, (size_t)n));
    } else if (r < 760) {
      int had = m_has_offsets(&m, g) || m.type[g] || m.state_len[g];
      CHECK_RC(nd_group_delete(s, m.groups[g]), had ? 0 : ND_ENOTFOUND);
      for (int t = 0; t < M_TOPICS; t++)
        for (int p = 0; p < M_PARTS; p++)
          m.off[g][t][p].offset = -1;
      m.type[g] = NULL;
      m.state_len[g] = 0;
    } else if (r < 770) {
      /* A topic's offsets go from every group; its name comes back. */
      int t = (int)(m_rand(&seed) % M_TOPICS);
      CHECK_OK(nd_topic_delete(s, m_topics[t]));
      CHECK_OK(nd_topic_create(s, m_topics[t], M_PARTS, NULL));
      for (int h = 0; h < M_GROUPS; h++)
        for (int p = 0; p < M_PARTS; p++)
          m.off[h][t][p].offset = -1;
    } else if (r < 850) {
      const char *type = m_types[m_rand(&seed) % 2];
      CHECK_OK(nd_group_set_protocol_type(s, m.groups[g], type));
      m.type[g] = type;
    } else if (r < 960) {
      /* One in three forgets the state (length 0). */
      size_t len = m_rand(&seed) % 3 ? 1 + m_rand(&seed) % 31 : 0;
      for (size_t i = 0; i < len; i++)
        m.state[g][i] = (uint8_t)m_rand(&seed);
      CHECK_OK(nd_group_set_state(s, m.groups[g], m.state[g], len));
      m.state_len[g] = len;
    } else if (r < 990) {
      struct stat before, after;
      CHECK(stat(path, &before) == 0);
      CHECK_OK(nd_maintain(s, 0));
      CHECK(stat(path, &after) == 0);
      compactions += after.st_size < before.st_size;
    } else {
      /* A reopen replays the file, after a clean close or as after a
       * crash (no clean-shutdown marker). */
      CHECK_OK(nd_close(s));
      if (m_rand(&seed) % 2) {
        char clean[PATH_MAX];
        snprintf(clean, sizeof clean, "%s/clean-shutdown", dir);
        unlink(clean);
      }
      s = open_store(dir);
      CHECK(s);
      reopens++;
    }
    if (step % M_CHECK_EVERY == 0 || r >= 960) {
      CHECK(m_matches(s, &m, step));
      checks++;
    }
  }
  CHECK(m_matches(s, &m, M_STEPS));
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK(m_matches(s, &m, M_STEPS));
  CHECK_OK(nd_close(s));
  /* The sequence must have reached what it is there to test. */
  CHECK(compactions >= 3 && reopens >= 10);
  fprintf(stderr, "     %d steps, %d checks, %d compactions, %d reopens\n",
          M_STEPS, checks, compactions, reopens);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(round_trip);
  RUN(crash_and_torn_tail);
  RUN(compaction);
  RUN(delete_offsets);
  RUN(library_consumer_resumes);
  RUN(bad_frame_applies_nothing);
  RUN(binary_metadata);
  RUN(commit_time);
  RUN(group_protocol_type);
  RUN(damaged_frames_cost_only_themselves);
  RUN(torn_append_any_prefix);
  RUN(checkpoint_damage);
  RUN(rewrite_fails);
  RUN(form1_file);
  RUN(resync_stays_linear);
  RUN(index_matches_model);
  TEST_MAIN_END();
}
