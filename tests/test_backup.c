/* SPDX-License-Identifier: Apache-2.0 */
/* nd_backup: what a copy taken beside a writer leaves out and keeps. A
 * batch being appended at the end of the active segment, and a frame
 * being appended to groups/offsets.log, are cut (the copy ends at the
 * last whole one); everything else is copied byte for byte; derived files
 * are left out and rebuilt when the copy opens, which serves every record
 * and committed offset and verifies clean. And the refusals: a destination
 * that is not empty, a source of another format, no source. (The live
 * case, with a broker writing during the backup, is
 * tests/compat/test_backup.py.) And backups taken again and again while a
 * thread appends to two topics whose segments roll at every few records,
 * retention deletes the oldest of one and the cleaner rewrites the other:
 * each copy verifies clean and holds, in each partition, exactly the
 * records written at those offsets, up to at least the high watermark
 * before the backup began. */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NREC 10

typedef struct items {
  int partitions, files;
  int64_t end_offset, start_offset;
  uint64_t log_cut, offsets_cut, offsets_bytes;
} items;

static void on_item(void *ctx, const nd_backup_item *it) {
  items *s = ctx;
  if (it->kind == ND_BACKUP_PARTITION) {
    s->partitions++;
    s->end_offset = it->end_offset;
    s->start_offset = it->start_offset;
    s->log_cut = it->cut;
  } else if (it->kind == ND_BACKUP_FILE) {
    s->files++;
    if (!strcmp(it->path, "groups/offsets.log")) {
      s->offsets_cut = it->cut;
      s->offsets_bytes = it->bytes;
    }
  }
}

/* The one topic directory under dir/topics. */
static int topic_dir(const char *dir, char *out, size_t cap) {
  char tp[PATH_MAX];
  snprintf(tp, sizeof tp, "%s/topics", dir);
  DIR *d = opendir(tp);
  if (!d)
    return -1;
  struct dirent *e;
  int found = -1;
  while ((e = readdir(d)) != NULL)
    if (strlen(e->d_name) == 64) {
      snprintf(out, cap, "%s/%s", tp, e->d_name);
      found = 0;
    }
  closedir(d);
  return found;
}

static off_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

static int append_bytes(const char *path, const void *p, size_t n) {
  int fd = open(path, O_WRONLY | O_APPEND);
  if (fd < 0)
    return -1;
  ssize_t w = write(fd, p, n);
  close(fd);
  return w == (ssize_t)n ? 0 : -1;
}

static int read_prefix(const char *path, void *p, size_t n) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return -1;
  ssize_t r = pread(fd, p, n, 0);
  close(fd);
  return r == (ssize_t)n ? 0 : -1;
}

static void torn_tails_cut(void) {
  char *src = tmpdir_make("backup-src"), *dst = tmpdir_make("backup-dst");
  CHECK(src && dst);
  char dest[PATH_MAX];
  snprintf(dest, sizeof dest, "%s/copy", dst);
  nd_store *s = test_open_store(src);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  for (int i = 0; i < NREC; i++) {
    char v[16];
    int n = snprintf(v, sizeof v, "value-%d", i);
    nd_record r = {.value = v, .value_len = (size_t)n, .timestamp = 1000 + i};
    CHECK_OK(nd_append(s, "t", 0, &r, 1, ND_APPEND_SYNC, NULL));
  }
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 7, "meta"));
  CHECK_OK(nd_close(s));

  /* Writes in progress, as a live writer's copy may see them: half a
   * batch at the end of the active segment, and 20 bytes (a frame header
   * and part of its payload) at the end of offsets.log. */
  char tdir[PATH_MAX], seg[PATH_MAX + 64], offs[PATH_MAX];
  CHECK(topic_dir(src, tdir, sizeof tdir) == 0);
  snprintf(seg, sizeof seg, "%s/0/00000000000000000000.log", tdir);
  snprintf(offs, sizeof offs, "%s/groups/offsets.log", src);
  off_t seg_len = file_size(seg), offs_len = file_size(offs);
  CHECK(seg_len > 0 && offs_len > 20);
  nd_record r = {.value = "next", .value_len = 4, .timestamp = 2000};
  void *batch;
  size_t blen;
  CHECK_OK(nd_batch_encode(&r, 1, NREC, 2000, 0, &batch, &blen));
  CHECK(append_bytes(seg, batch, blen / 2) == 0);
  nd_free(batch);
  uint8_t frame[20];
  CHECK(read_prefix(offs, frame, sizeof frame) == 0);
  CHECK(append_bytes(offs, frame, sizeof frame) == 0);

  items it = {0};
  nd_backup_options o = {.on_item = on_item, .ctx = &it};
  nd_backup_stats st;
  CHECK_OK(nd_backup(src, dest, &o, &st));
  CHECK_EQ_I64(it.partitions, 1);
  CHECK_EQ_I64(st.partitions, 1);
  CHECK_EQ_I64(st.topics, 1);
  CHECK_EQ_I64(it.end_offset, NREC);
  CHECK_EQ_I64(it.start_offset, 0);
  CHECK_EQ_I64(it.log_cut, blen / 2);
  CHECK_EQ_I64(it.offsets_cut, 20);
  CHECK_EQ_I64(it.offsets_bytes, offs_len);

  /* The copy: the segment and offsets.log as they were before the
   * writes in progress; no derived file; FORMAT. */
  char ctdir[PATH_MAX], cseg[PATH_MAX + 64], coffs[PATH_MAX + 32],
      cpath[PATH_MAX + 64];
  CHECK(topic_dir(dest, ctdir, sizeof ctdir) == 0);
  snprintf(cseg, sizeof cseg, "%s/0/00000000000000000000.log", ctdir);
  snprintf(coffs, sizeof coffs, "%s/groups/offsets.log", dest);
  CHECK_EQ_I64(file_size(cseg), seg_len);
  CHECK_EQ_I64(file_size(coffs), offs_len);
  const char *left_out[] = {"0/00000000000000000000.index",
                            "0/00000000000000000000.timeindex",
                            "0/recovery-point", "0/producer-state"};
  for (size_t i = 0; i < sizeof left_out / sizeof *left_out; i++) {
    snprintf(cpath, sizeof cpath, "%s/%s", ctdir, left_out[i]);
    CHECK(file_size(cpath) < 0);
  }
  snprintf(cpath, sizeof cpath, "%s/FORMAT", dest);
  CHECK_EQ_I64(file_size(cpath), 9);
  snprintf(cpath, sizeof cpath, "%s/clean-shutdown", dest);
  CHECK(file_size(cpath) < 0);

  /* Opened, it serves every record and the committed offset, and
   * verifies clean (after the open rebuilt what was left out). */
  nd_verify_stats vs;
  CHECK_OK(nd_verify(dest, NULL, &vs));
  CHECK_EQ_I64(vs.problems, 0);
  CHECK_EQ_I64(vs.records, NREC);
  s = test_open_store(dest);
  CHECK(s);
  int64_t ls, hw, committed = -1;
  CHECK_OK(nd_offsets(s, "t", 0, &ls, &hw));
  CHECK_EQ_I64(hw, NREC);
  char *meta = NULL;
  size_t mlen = 0;
  CHECK_OK(nd_committed_offset(s, "g", "t", 0, &committed, NULL, &meta, &mlen));
  CHECK_EQ_I64(committed, 7);
  CHECK(mlen == 4 && !memcmp(meta, "meta", 4));
  nd_free(meta);
  nd_batches b;
  CHECK_OK(nd_read(s, "t", 0, NREC - 1, 1 << 16, &b));
  nd_iter iter;
  nd_record_view v;
  nd_iter_init(&iter, b.data, b.len, NREC - 1, NULL);
  CHECK(nd_iter_next(&iter, &v) == 1);
  CHECK(v.value_len == 7 && !memcmp(v.value, "value-9", 7));
  nd_iter_close(&iter);
  nd_free(b.data);
  CHECK_OK(nd_close(s));
  tmpdir_remove(src);
  tmpdir_remove(dst);
}

static void refusals(void) {
  char *src = tmpdir_make("backup-src"), *dst = tmpdir_make("backup-dst");
  CHECK(src && dst);
  nd_store *s = test_open_store(src);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(nd_close(s));
  char path[PATH_MAX + 32], dest[PATH_MAX];

  /* A destination holding anything: refused, left as it was. */
  snprintf(path, sizeof path, "%s/keep", dst);
  FILE *f = fopen(path, "w");
  CHECK(f);
  fclose(f);
  CHECK_RC(nd_backup(src, dst, NULL, NULL), -EEXIST);
  CHECK(strstr(nd_errmsg(), "not empty"));
  snprintf(path, sizeof path, "%s/topics", dst);
  CHECK(file_size(path) < 0);

  /* A source of a format this build does not read: refused before the
   * destination is made. */
  snprintf(path, sizeof path, "%s/FORMAT", src);
  f = fopen(path, "w");
  CHECK(f);
  fputs("nodata 2\n", f);
  fclose(f);
  snprintf(dest, sizeof dest, "%s/copy", dst);
  CHECK_RC(nd_backup(src, dest, NULL, NULL), ND_EFORMAT);
  CHECK(strstr(nd_errmsg(), "\"nodata 2\""));
  CHECK(file_size(dest) < 0);

  /* A cleaner swap a crash interrupted (no writer holds the store): only
   * an open finishes it, so the backup says so instead of copying a
   * partition half swapped. */
  snprintf(path, sizeof path, "%s/FORMAT", src);
  f = fopen(path, "w");
  CHECK(f);
  fputs("nodata 1\n", f);
  fclose(f);
  char tdir[PATH_MAX];
  CHECK(topic_dir(src, tdir, sizeof tdir) == 0);
  snprintf(path, sizeof path, "%s/0/cleaner-swap", tdir);
  f = fopen(path, "w");
  CHECK(f);
  fclose(f);
  char dest2[PATH_MAX + 16];
  snprintf(dest2, sizeof dest2, "%s/copy2", dst);
  CHECK_RC(nd_backup(src, dest2, NULL, NULL), ND_EFAILED);
  CHECK(strstr(nd_errmsg(), "cleaner-swap: a cleaning swap interrupted"));
  unlink(path);
  snprintf(path, sizeof path, "%s/FORMAT", dest2);
  CHECK(file_size(path) < 0); /* a failed backup has no FORMAT */

  /* No source. */
  snprintf(path, sizeof path, "%s/none", src);
  CHECK_RC(nd_backup(path, dest, NULL, NULL), -ENOENT);
  CHECK_RC(nd_backup(NULL, dest, NULL, NULL), ND_EINVAL);
  CHECK(file_size(dest) < 0);
  tmpdir_remove(src);
  tmpdir_remove(dst);
}

/* ---- beside a writer ----------------------------------------------------- */

#define KEYS 8

typedef struct writer {
  nd_store *s;
  atomic_int stop;
  atomic_llong appended;
  int64_t swaps; /* cleaning passes that replaced segments */
  int failed;
  char why[256];
} writer;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "r": value "r<offset>"; "c": key "k<n % KEYS>", value "<key>@<offset>".
 * The offset a record gets is the high watermark before its append (one
 * writer), so each value names its own offset. */
static void *write_loop(void *arg) {
  writer *w = arg;
  for (int64_t n = 0; !atomic_load(&w->stop); n++) {
    const char *topic = n % 2 ? "c" : "r";
    int64_t ls, hw;
    char key[16], val[48];
    int rc = nd_offsets(w->s, topic, 0, &ls, &hw);
    int kl = snprintf(key, sizeof key, "k%d", (int)(n / 2 % KEYS));
    int vl = n % 2 ? snprintf(val, sizeof val, "%s@%lld", key, (long long)hw)
                   : snprintf(val, sizeof val, "r%lld", (long long)hw);
    nd_record r = {.key = key,
                   .key_len = (size_t)kl,
                   .value = val,
                   .value_len = (size_t)vl,
                   .timestamp = ND_TIMESTAMP_NOW};
    nd_append_info info;
    if (!rc)
      rc = nd_append(w->s, topic, 0, &r, 1, 0, &info);
    if (!rc && info.base_offset != hw) {
      snprintf(w->why, sizeof w->why, "%s appended at %lld, not %lld", topic,
               (long long)info.base_offset, (long long)hw);
      w->failed = 1;
      return NULL;
    }
    if (!rc && n % 64 == 0)
      rc = nd_maintain(w->s, now_ms()); /* retention of "r" */
    nd_clean_stats cs = {0};
    if (!rc && n % 256 == 1 &&
        (rc = nd_clean(w->s, "c", 0, now_ms(), ND_CLEAN_FORCE, &cs)) == 0)
      w->swaps += cs.cleaned && cs.segments_in > 0;
    if (rc) {
      snprintf(w->why, sizeof w->why, "writer: %s", nd_errmsg());
      w->failed = 1;
      return NULL;
    }
    atomic_fetch_add(&w->appended, 1);
  }
  return NULL;
}

/* Every record of dir's topic from its log start to its end is the one
 * written at its offset; *end gets the end. */
static int check_copy(const char *dir, const char *topic, int64_t *end) {
  nd_store *s = test_open_store(dir);
  if (!s)
    return -1;
  int64_t ls, hw, last = -1;
  int bad = nd_offsets(s, topic, 0, &ls, &hw) != 0;
  for (int64_t off = ls; !bad && off < hw;) {
    nd_batches b;
    if (nd_read(s, topic, 0, off, 1 << 16, &b) != 0) {
      bad = 1;
      break;
    }
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    int got = 0;
    while (!bad && nd_iter_next(&it, &v) == 1) {
      char want[48];
      int wl = topic[0] == 'r'
                   ? snprintf(want, sizeof want, "r%lld", (long long)v.offset)
                   : snprintf(want, sizeof want, "%.*s@%lld", (int)v.key_len,
                              (const char *)v.key, (long long)v.offset);
      if (v.offset <= last || v.value_len != (size_t)wl ||
          memcmp(v.value, want, (size_t)wl)) {
        fprintf(stderr, "%s: %s offset %lld: '%.*s', want '%s'\n", dir, topic,
                (long long)v.offset, (int)v.value_len, (const char *)v.value,
                want);
        bad = 1;
      }
      last = v.offset;
      off = v.offset + 1;
      got++;
    }
    nd_iter_close(&it);
    nd_free(b.data);
    if (!got && !bad) {
      fprintf(stderr, "%s: %s: no record at %lld below %lld\n", dir, topic,
              (long long)off, (long long)hw);
      bad = 1;
    }
  }
  *end = hw;
  if (nd_close(s) != 0)
    bad = 1;
  return bad ? -1 : 0;
}

static void beside_a_writer(void) {
  char *src = tmpdir_make("backup-live"), *dst = tmpdir_make("backup-copies");
  CHECK(src && dst);
  nd_store *s = test_open_store(src);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  CHECK_OK(nd_topic_config_set(&cfg, "segment.bytes", "2000"));
  CHECK_OK(nd_topic_config_set(&cfg, "retention.bytes", "8000"));
  CHECK_OK(nd_topic_create(s, "r", 1, &cfg));
  nd_topic_config_init(&cfg);
  CHECK_OK(nd_topic_config_set(&cfg, "segment.bytes", "2000"));
  CHECK_OK(nd_topic_config_set(&cfg, "cleanup.policy", "compact"));
  CHECK_OK(nd_topic_config_set(&cfg, "min.cleanable.dirty.ratio", "0.01"));
  CHECK_OK(nd_topic_create(s, "c", 1, &cfg));
  writer w = {.s = s};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, write_loop, &w) == 0);
  int copies = 0, cut_seen = 0, failed = 0;
  for (int i = 0; i < 12 && !failed; i++) {
    while (atomic_load(&w.appended) < 200LL * (i + 1) && !w.failed)
      sched_yield();
    int64_t ls, hw_r = 0, hw_c = 0;
    failed =
        nd_offsets(s, "r", 0, &ls, &hw_r) || nd_offsets(s, "c", 0, &ls, &hw_c);
    char dest[PATH_MAX];
    snprintf(dest, sizeof dest, "%s/copy-%d", dst, i);
    items it = {0};
    nd_backup_options o = {.on_item = on_item, .ctx = &it};
    if (failed || nd_backup(src, dest, &o, NULL) != 0) {
      fprintf(stderr, "backup %d: %s\n", i, nd_errmsg());
      failed = 1;
      break;
    }
    cut_seen += it.log_cut > 0;
    nd_verify_stats vs = {0};
    int64_t end_r = -1, end_c = -1;
    if (nd_verify(dest, NULL, &vs) != 0 || vs.problems ||
        check_copy(dest, "r", &end_r) || check_copy(dest, "c", &end_c) ||
        end_r < hw_r || end_c < hw_c) {
      fprintf(stderr,
              "copy %d: %d problems; r ends at %lld (hw before %lld), c at "
              "%lld (%lld)\n",
              i, vs.problems, (long long)end_r, (long long)hw_r,
              (long long)end_c, (long long)hw_c);
      failed = 1;
    }
    copies++;
  }
  atomic_store(&w.stop, 1);
  pthread_join(th, NULL);
  CHECK(!w.failed || !fprintf(stderr, "%s\n", w.why));
  CHECK(!failed);
  /* The churn happened: retention moved "r"'s start, the cleaner swapped. */
  int64_t ls_r, hw_r;
  CHECK_OK(nd_offsets(s, "r", 0, &ls_r, &hw_r));
  CHECK(ls_r > 0);
  CHECK(w.swaps > 0);
  fprintf(stderr,
          "  %d copies beside %lld appends, %lld cleaner swaps, \"r\" from "
          "%lld (%d copies with a batch cut)\n",
          copies, (long long)atomic_load(&w.appended), (long long)w.swaps,
          (long long)ls_r, cut_seen);
  CHECK_OK(nd_close(s));
  tmpdir_remove(src);
  tmpdir_remove(dst);
}

int main(void) {
  RUN(torn_tails_cut);
  RUN(refusals);
  RUN(beside_a_writer);
  TEST_MAIN_END();
}
