/* SPDX-License-Identifier: Apache-2.0 */
/* nd_verify: findings with their file, byte and offset; a dry run that
 * reports the same findings and the plan and changes no byte on disk; a
 * repair that cuts exactly where the damage starts, quarantines what it
 * drops, and leaves nothing to find; the refusals; a repair whose file
 * calls fail (nodata_testing.h's fault table) says which and loses
 * nothing. */
#include "test.h"

#include "nodata_testing.h"

#include <sys/stat.h>

#define NREC 60 /* records in partition 0, one batch each */

/* Everything the events said, kept for the checks. */
typedef struct seen {
  int n[6]; /* per event kind */
  int damage_kinds[8];
  char first_damage[1024];
  char damage_file[PATH_MAX];
  int64_t damage_pos, damage_offset;
  int damage_repairable;
  char damage_topic[64];
  int32_t damage_partition;
  char all_damage[8192]; /* every damage text, one a line */
  int64_t plan_offset;
  int checked_problems;
} seen;

static void on_event(void *ctx, const nd_verify_event *ev) {
  seen *s = ctx;
  if (ev->kind >= 0 && ev->kind < 6)
    s->n[ev->kind]++;
  if (ev->kind == ND_VERIFY_DAMAGE) {
    if (ev->damage >= 0 && ev->damage < 8)
      s->damage_kinds[ev->damage]++;
    if (!s->first_damage[0]) {
      snprintf(s->first_damage, sizeof s->first_damage, "%s", ev->text);
      snprintf(s->damage_file, sizeof s->damage_file, "%s",
               ev->file ? ev->file : "");
      s->damage_pos = ev->pos;
      s->damage_offset = ev->offset;
      s->damage_repairable = ev->repairable;
      snprintf(s->damage_topic, sizeof s->damage_topic, "%s",
               ev->topic ? ev->topic : "");
      s->damage_partition = ev->partition;
    }
    size_t used = strlen(s->all_damage);
    snprintf(s->all_damage + used, sizeof s->all_damage - used, "%s\n",
             ev->text);
  } else if (ev->kind == ND_VERIFY_PLAN) {
    s->plan_offset = ev->offset;
  } else if (ev->kind == ND_VERIFY_CHECKED) {
    s->checked_problems = ev->stats->problems;
  }
}

static int verify(const char *dir, unsigned flags, const char *qdir, seen *s,
                  nd_verify_stats *st) {
  memset(s, 0, sizeof *s);
  nd_verify_options o = {
      .flags = flags, .quarantine_dir = qdir, .on_event = on_event, .ctx = s};
  return nd_verify(dir, &o, st);
}

/* A store with topic "t": partition 0 holds NREC one-record batches over
 * several segments, partition 1 a few. */
static void make_store(char **out) {
  *out = NULL;
  char *dir = tmpdir_make("verify");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 2048;
  cfg.index_interval_bytes = 1;
  CHECK_OK(nd_topic_create(s, "t", 2, &cfg));
  char v[64];
  for (int i = 0; i < NREC; i++) {
    snprintf(v, sizeof v, "record-%d-%040d", i, i);
    nd_record r = {.value = v, .value_len = strlen(v), .timestamp = 1000 + i};
    CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
    if (i < 5)
      CHECK_OK(nd_append(s, "t", 1, &r, 1, 0, NULL));
  }
  CHECK_OK(nd_close(s));
  *out = dir;
}

static void part_dir(const char *dir, int p, char *out, size_t cap) {
  char hash[65];
  nd_topic_dirname("t", hash);
  snprintf(out, cap, "%s/topics/%s/%d", dir, hash, p);
}

/* The n-th (from 0) .log of partition 0, by name order. */
static int nth_log(const char *dir, int n, char *out, size_t cap) {
  char pd[PATH_MAX];
  part_dir(dir, 0, pd, sizeof pd);
  struct dirent **list;
  int k = scandir(pd, &list, NULL, alphasort), found = -1, seen_logs = 0;
  for (int i = 0; i < k; i++) {
    size_t len = strlen(list[i]->d_name);
    if (found < 0 && len > 4 && !strcmp(list[i]->d_name + len - 4, ".log") &&
        seen_logs++ == n) {
      snprintf(out, cap, "%s/%s", pd, list[i]->d_name);
      found = 0;
    }
    free(list[i]);
  }
  free(list);
  return found;
}

typedef struct walk {
  int n;
  uint64_t pos[64];
  int64_t base[64];
} walk;

static int note(void *ctx, const nd_batch_info *b, const void *bytes) {
  (void)bytes;
  walk *w = ctx;
  if (w->n < 64) {
    w->pos[w->n] = b->pos;
    w->base[w->n] = b->base_offset;
  }
  w->n++;
  return 0;
}

/* A listing of every file under dir with its bytes' CRC, one a line. */
static void snapshot(const char *dir, char *out, size_t cap) {
  char cmd[PATH_MAX + 128];
  snprintf(cmd, sizeof cmd,
           "cd '%s' && find . -type f | LC_ALL=C sort | xargs -r cksum", dir);
  FILE *f = popen(cmd, "r");
  size_t n = f ? fread(out, 1, cap - 1, f) : 0;
  out[n] = '\0';
  if (f)
    pclose(f);
}

static void healthy(void) {
  char *dir;
  make_store(&dir);
  CHECK(dir);
  seen s;
  nd_verify_stats st;
  CHECK_OK(verify(dir, 0, NULL, &s, &st));
  CHECK_EQ_I64(st.problems, 0);
  CHECK_EQ_I64(st.topics, 1);
  CHECK_EQ_I64(st.partitions, 2);
  CHECK_EQ_I64(st.records, NREC + 5);
  CHECK_EQ_I64(st.batches, NREC + 5);
  CHECK(st.segments >= 4);
  CHECK_EQ_I64(s.n[ND_VERIFY_CHECKED], 1);
  CHECK_EQ_I64(s.n[ND_VERIFY_DAMAGE], 0);
  /* A repair of a healthy store has nothing to do. */
  CHECK_OK(verify(dir, ND_VERIFY_REPAIR, NULL, &s, &st));
  CHECK_EQ_I64(s.n[ND_VERIFY_PLAN] + s.n[ND_VERIFY_REPAIRED], 0);
  CHECK_EQ_I64(st.repaired, 0);
  /* Arguments. */
  CHECK_RC(nd_verify(NULL, NULL, NULL), ND_EINVAL);
  nd_verify_options o = {.flags = 0x40};
  CHECK_RC(nd_verify(dir, &o, NULL), ND_EINVAL);
  const char *nope[] = {"nope"};
  nd_verify_options ot = {.topics = nope, .ntopics = 1};
  CHECK_RC(nd_verify(dir, &ot, NULL), ND_ENOTOPIC);
  CHECK(strstr(nd_errmsg(), "nope") != NULL);
  char missing[PATH_MAX];
  snprintf(missing, sizeof missing, "%s/missing", dir);
  CHECK_RC(nd_verify(missing, NULL, NULL), -ENOENT);
  tmpdir_remove(dir);
}

/* A flipped bit in the middle of partition 0: found with its file, byte
 * and the first offset a repair drops; a dry run reports the same and
 * changes nothing; the repair cuts there and nowhere else. */
/* After a repair that cut partition 0 at offset lost: every record before
 * the damage is still there, and only those; partition 1 untouched. Then
 * qdir is removed. */
static void repaired_ends(const char *dir, const char *qdir, int64_t lost) {
  nd_store *s = test_open_store(dir);
  CHECK(s);
  int64_t lo = -1, hi = -1;
  CHECK_OK(nd_offsets(s, "t", 0, &lo, &hi));
  CHECK_EQ_I64(hi, lost);
  CHECK_OK(nd_offsets(s, "t", 1, &lo, &hi));
  CHECK_EQ_I64(hi, 5);
  CHECK_OK(nd_close(s));
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", qdir);
  CHECK(system(cmd) == 0);
}

/* Flip a bit in the third batch of partition 0's second segment (seg):
 * *bad is that batch's position there, *lost its base offset. */
static void flip_bit(const char *dir, char *seg, size_t cap, uint64_t *bad,
                     int64_t *lost) {
  CHECK_OK(nth_log(dir, 1, seg, cap));
  walk w = {0};
  nd_walk_result wr;
  CHECK_OK(nd_log_walk(seg, 0, note, &w, &wr));
  CHECK(w.n >= 3);
  *bad = w.pos[2];
  *lost = w.base[2];
  int fd = open(seg, O_RDWR);
  uint8_t b;
  CHECK(pread(fd, &b, 1, (off_t)*bad + 70) == 1);
  b ^= 0x10;
  CHECK(pwrite(fd, &b, 1, (off_t)*bad + 70) == 1);
  close(fd);
}

static void flipped_bit_dry_run_and_repair(void) {
  char *dir;
  make_store(&dir);
  CHECK(dir);
  char seg[PATH_MAX];
  uint64_t bad;
  int64_t lost;
  flip_bit(dir, seg, sizeof seg, &bad, &lost);

  seen plain, dry, rep;
  nd_verify_stats st;
  CHECK_OK(verify(dir, 0, NULL, &plain, &st));
  CHECK_EQ_I64(st.problems, 1);
  CHECK_EQ_I64(plain.damage_kinds[ND_DAMAGE_BATCH], 1);
  CHECK(strstr(plain.first_damage, "CRC-32C mismatch") != NULL);
  CHECK_EQ_I64(strcmp(plain.damage_file, seg), 0);
  CHECK_EQ_I64(plain.damage_pos, (int64_t)bad);
  CHECK_EQ_I64(plain.damage_offset, lost);
  CHECK(plain.damage_repairable);
  CHECK_EQ_I64(strcmp(plain.damage_topic, "t"), 0);
  CHECK_EQ_I64(plain.damage_partition, 0);

  /* Dry run: the same findings, a plan naming the same offset, and not
   * one byte changed anywhere under the directory. */
  static char before[1 << 16], after[1 << 16];
  snapshot(dir, before, sizeof before);
  CHECK(strstr(before, ".log") != NULL);
  CHECK_OK(verify(dir, ND_VERIFY_REPAIR | ND_VERIFY_DRY_RUN, NULL, &dry, &st));
  CHECK_EQ_I64(strcmp(dry.all_damage, plain.all_damage), 0);
  CHECK_EQ_I64(dry.n[ND_VERIFY_PLAN], 1);
  CHECK_EQ_I64(dry.plan_offset, lost);
  CHECK_EQ_I64(dry.n[ND_VERIFY_ACTION] + dry.n[ND_VERIFY_REPAIRED], 0);
  CHECK_EQ_I64(st.repaired, 0);
  CHECK_EQ_I64(st.problems, 1);
  snapshot(dir, after, sizeof after);
  CHECK_EQ_I64(strcmp(before, after), 0);

  /* The repair: the same findings first, then the plan, the quarantine,
   * recovery, and a check that finds nothing. */
  char qdir[PATH_MAX];
  snprintf(qdir, sizeof qdir, "%s-quarantine", dir);
  CHECK_OK(verify(dir, ND_VERIFY_REPAIR, qdir, &rep, &st));
  CHECK(strncmp(rep.all_damage, plain.all_damage, strlen(plain.all_damage)) ==
        0);
  CHECK_EQ_I64(rep.n[ND_VERIFY_REPAIRED], 1);
  CHECK(rep.n[ND_VERIFY_ACTION] >= 2); /* the tail, and later segments */
  CHECK_EQ_I64(rep.n[ND_VERIFY_CHECKED], 2);
  CHECK_EQ_I64(rep.checked_problems, 0);
  CHECK_EQ_I64(st.problems, 0);
  CHECK(st.repaired);
  struct stat sb;
  CHECK(stat(seg, &sb) == 0 && (uint64_t)sb.st_size == bad);
  char other[PATH_MAX];
  CHECK(nth_log(dir, 2, other, sizeof other) != 0); /* later ones moved */
  char qtail[PATH_MAX * 2];
  const char *base = strrchr(seg, '/') + 1;
  snprintf(qtail, sizeof qtail, "%s/t-0/%s.from-byte-%llu", qdir, base,
           (unsigned long long)bad);
  CHECK(stat(qtail, &sb) == 0 && sb.st_size > 0);
  repaired_ends(dir, qdir, lost);
  tmpdir_remove(dir);
}

/* A torn tail and a damaged index: each its kind; the index repair loses
 * no record. */
static void torn_tail_and_index(void) {
  char *dir;
  make_store(&dir);
  CHECK(dir);
  char seg[PATH_MAX], idx[PATH_MAX + 8];
  CHECK_OK(nth_log(dir, 0, seg, sizeof seg));
  snprintf(idx, sizeof idx, "%.*s.index", (int)(strlen(seg) - 4), seg);
  int fd = open(idx, O_RDWR);
  uint8_t b = 0x7f;
  CHECK(pwrite(fd, &b, 1, 7) == 1); /* entry 0's position */
  close(fd);
  seen s;
  nd_verify_stats st;
  CHECK_OK(verify(dir, 0, NULL, &s, &st));
  CHECK_EQ_I64(s.damage_kinds[ND_DAMAGE_INDEX], 1);
  CHECK_EQ_I64(strcmp(s.damage_file, idx), 0);
  CHECK_EQ_I64(s.damage_pos, 0);
  CHECK_OK(verify(dir, ND_VERIFY_REPAIR, NULL, &s, &st));
  CHECK_EQ_I64(st.problems, 0);
  CHECK(strstr(s.all_damage, "entry 0") != NULL);

  char last[PATH_MAX];
  int n = 0;
  while (nth_log(dir, n + 1, last, sizeof last) == 0)
    n++;
  CHECK_OK(nth_log(dir, n, last, sizeof last));
  struct stat sb;
  CHECK(stat(last, &sb) == 0 && sb.st_size > 10);
  CHECK(truncate(last, sb.st_size - 7) == 0);
  CHECK_OK(verify(dir, 0, NULL, &s, &st));
  CHECK_EQ_I64(s.damage_kinds[ND_DAMAGE_TORN], 1);
  CHECK(strstr(s.first_damage, "cut short") != NULL);
  CHECK_OK(verify(dir, ND_VERIFY_REPAIR, NULL, &s, &st));
  CHECK_EQ_I64(st.problems, 0);
  nd_store *store = test_open_store(dir);
  int64_t hi = -1;
  CHECK_OK(nd_offsets(store, "t", 0, NULL, &hi));
  CHECK_EQ_I64(hi, NREC - 1); /* the torn last batch, and only it */
  CHECK_OK(nd_close(store));
  char q[PATH_MAX + 16];
  snprintf(q, sizeof q, "%s/quarantine", dir);
  CHECK(stat(q, &sb) == 0 && S_ISDIR(sb.st_mode));
  tmpdir_remove(dir);
}

/* Refusals change nothing: damage outside the segments, a held store. */
static void refusals(void) {
  char *dir;
  make_store(&dir);
  CHECK(dir);
  char pd[PATH_MAX], conf[PATH_MAX + 16], seg[PATH_MAX];
  part_dir(dir, 0, pd, sizeof pd);
  snprintf(conf, sizeof conf, "%s/../topic.conf", pd);
  CHECK_OK(nth_log(dir, 0, seg, sizeof seg));
  struct stat sb;
  CHECK(stat(seg, &sb) == 0);
  CHECK(truncate(seg, sb.st_size - 3) == 0);
  static char before[1 << 16], after[1 << 16];

  /* Held by a writer (this process): verify works, a repair refuses. */
  nd_store *s = NULL;
  nd_options ro = {.no_background = 1};
  CHECK_OK(nd_open(dir, &ro, &s));
  seen ev;
  nd_verify_stats st;
  snapshot(dir, before, sizeof before);
  CHECK_RC(verify(dir, ND_VERIFY_REPAIR, NULL, &ev, &st), ND_ELOCKED);
  CHECK(st.live);
  CHECK_EQ_I64(ev.n[ND_VERIFY_PLAN], 0);
  snapshot(dir, after, sizeof after);
  CHECK_EQ_I64(strcmp(before, after), 0);
  CHECK_OK(nd_close(s));

  /* A topic.conf the store cannot read: found, and no repair. */
  FILE *f = fopen(conf, "r+");
  CHECK(f);
  char text[4096];
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = '\0';
  char *id = strstr(text, "id=");
  CHECK(id != NULL);
  if (f && id) {
    memcpy(id + 3, "zz", 2);
    rewind(f);
    CHECK(fwrite(text, 1, n, f) == n);
  }
  if (f)
    fclose(f);
  snapshot(dir, before, sizeof before);
  CHECK_RC(verify(dir, ND_VERIFY_REPAIR, NULL, &ev, &st), ND_ECORRUPT);
  CHECK(st.unrepairable >= 1);
  CHECK(ev.damage_kinds[ND_DAMAGE_STORE] >= 1);
  CHECK(strstr(ev.all_damage, "invalid id") != NULL);
  CHECK_EQ_I64(ev.n[ND_VERIFY_PLAN], 0);
  snapshot(dir, after, sizeof after);
  CHECK_EQ_I64(strcmp(before, after), 0);
  tmpdir_remove(dir);
}

/* ---- repair under file-system faults ------------------------------------ */

/* Partition 0's .log files as they were before a repair: name and bytes. */
typedef struct logs {
  int n;
  char name[32][64];
  uint8_t *bytes[32];
  size_t len[32];
} logs;

static void logs_take(const char *dir, logs *l) {
  memset(l, 0, sizeof *l);
  char path[PATH_MAX];
  while (l->n < 32 && nth_log(dir, l->n, path, sizeof path) == 0) {
    snprintf(l->name[l->n], sizeof l->name[l->n], "%s", strrchr(path, '/') + 1);
    CHECK((l->bytes[l->n] = read_file(path, &l->len[l->n])) != NULL);
    l->n++;
  }
  CHECK(l->n >= 4);
}

static void logs_free(logs *l) {
  for (int i = 0; i < l->n; i++)
    free(l->bytes[i]);
}

/* 1 if path holds exactly len bytes equal to want. */
static int holds(const char *path, const uint8_t *want, size_t len) {
  size_t n = 0;
  uint8_t *got = read_file(path, &n);
  int same = got && n == len && !memcmp(got, want, len);
  free(got);
  return same;
}

/* Nothing lost: every byte of every .log of partition 0 is still there,
 * whole in the partition or moved to qdir, or, for the damaged segment
 * (seg, bad: a repair cut it), its head in place and its tail copied. */
static void nothing_lost(const char *dir, const logs *l, const char *qdir,
                         const char *seg, uint64_t bad, const char *what) {
  char pd[PATH_MAX], path[PATH_MAX * 2], tail[PATH_MAX * 2];
  part_dir(dir, 0, pd, sizeof pd);
  const char *segname = strrchr(seg, '/') + 1;
  for (int i = 0; i < l->n; i++) {
    snprintf(path, sizeof path, "%s/%s", pd, l->name[i]);
    if (holds(path, l->bytes[i], l->len[i]))
      continue;
    if (!strcmp(l->name[i], segname)) {
      snprintf(tail, sizeof tail, "%s/t-0/%s.from-byte-%llu", qdir, segname,
               (unsigned long long)bad);
      if (holds(path, l->bytes[i], bad) &&
          holds(tail, l->bytes[i] + bad, l->len[i] - bad))
        continue;
    } else {
      snprintf(path, sizeof path, "%s/t-0/%s", qdir, l->name[i]);
      if (holds(path, l->bytes[i], l->len[i]))
        continue;
    }
    fprintf(stderr, "%s: %s lost or changed\n", what, l->name[i]);
    CHECK(0);
  }
}

/* One call of the repair fails: the error names the call's file and the
 * errno, no byte of the log is lost, and a second repair, unhindered,
 * finishes the job (the first one's half-done moves included). Also the
 * quarantine's copy-then-unlink path, taken when the rename answers EXDEV
 * (a quarantine on another file system). */
typedef struct repair_fault {
  enum nd_test_io_kind kind;
  int countdown, err;
  enum nd_test_io_kind kind2; /* a second fault, or ND_TEST_IO_KINDS */
  int err2;
  const char *says; /* in the message, before the file's name */
  int file;         /* which file it names: below */
} repair_fault;
/* The file the message names: the quarantine directory, the copy of the
 * damaged segment's tail, the first later segment's .log or .index, the
 * clean-shutdown marker; none (the repair succeeds). */
enum { F_QDIR, F_TAIL, F_SEG2, F_SEG2_INDEX, F_MARKER, F_NONE };

static void repair_fails(const repair_fault *f) {
  char *dir;
  make_store(&dir);
  CHECK(dir);
  char seg[PATH_MAX], seg2[PATH_MAX], qdir[PATH_MAX];
  uint64_t bad;
  int64_t lost;
  flip_bit(dir, seg, sizeof seg, &bad, &lost);
  CHECK_OK(nth_log(dir, 2, seg2, sizeof seg2));
  snprintf(qdir, sizeof qdir, "%s-quarantine", dir);
  logs l;
  logs_take(dir, &l);

  char name[PATH_MAX * 2];
  switch (f->file) {
  case F_QDIR:
    snprintf(name, sizeof name, "cannot create %s/t-0", qdir);
    break;
  case F_TAIL:
    snprintf(name, sizeof name, "%s %s/t-0/%s.from-byte-%llu", f->says, qdir,
             strrchr(seg, '/') + 1, (unsigned long long)bad);
    break;
  case F_SEG2:
    snprintf(name, sizeof name, "%s %s", f->says, seg2);
    break;
  case F_SEG2_INDEX:
    snprintf(name, sizeof name, "%s %.*s.index", f->says,
             (int)(strlen(seg2) - 4), seg2);
    break;
  case F_MARKER:
    snprintf(name, sizeof name, "%s %s/clean-shutdown", f->says, dir);
    break;
  default:
    name[0] = '\0';
  }
  seen s;
  nd_verify_stats st;
  nd_test_io_fault_set(f->kind, f->countdown, f->err, 0);
  if (f->kind2 != ND_TEST_IO_KINDS)
    nd_test_io_fault_set(f->kind2, 0, f->err2, 0);
  int rc = verify(dir, ND_VERIFY_REPAIR, qdir, &s, &st);
  nd_test_io_fault_clear();
  int err = f->kind2 != ND_TEST_IO_KINDS ? f->err2 : f->err;
  if (f->file == F_NONE) {
    /* EXDEV alone: the copy path does the move, and the repair is done. */
    CHECK_OK(rc);
    CHECK(st.repaired);
  } else {
    CHECK_RC(rc, -err);
    if (!strstr(nd_errmsg(), name) || !strstr(nd_errmsg(), strerror(err)))
      fprintf(stderr, "want \"%s: %s\", got \"%s\"\n", name, strerror(err),
              nd_errmsg());
    CHECK(strstr(nd_errmsg(), name) != NULL);
    CHECK(strstr(nd_errmsg(), strerror(err)) != NULL);
    CHECK_EQ_I64(s.n[ND_VERIFY_REPAIRED], 0); /* recovery did not run */
    nothing_lost(dir, &l, qdir, seg, bad, "after the failed repair");
    /* Again, unhindered. */
    CHECK_OK(verify(dir, ND_VERIFY_REPAIR, qdir, &s, &st));
  }
  CHECK_EQ_I64(st.problems, 0);
  nothing_lost(dir, &l, qdir, seg, bad, "after the repair");
  struct stat sb;
  CHECK(stat(seg, &sb) == 0 && (uint64_t)sb.st_size == bad);
  repaired_ends(dir, qdir, lost);
  logs_free(&l);
  tmpdir_remove(dir);
}

static void repair_under_faults(void) {
  const enum nd_test_io_kind none = ND_TEST_IO_KINDS;
  const repair_fault faults[] = {
      /* the quarantine directory cannot be made */
      {ND_TEST_IO_MKDIR, 0, EACCES, none, 0, "", F_QDIR},
      /* the damaged segment's tail: disk full copying it, or its sync */
      {ND_TEST_IO_WRITE, 0, ENOSPC, none, 0, "cannot write", F_TAIL},
      {ND_TEST_IO_SYNC, 0, EIO, none, 0, "cannot sync", F_TAIL},
      /* moving the later segments: the first one's .log; its .index,
       * once its .log has moved (a segment split across places) */
      {ND_TEST_IO_RENAME, 0, EIO, none, 0, "cannot move", F_SEG2},
      {ND_TEST_IO_RENAME, 1, EIO, none, 0, "cannot move", F_SEG2_INDEX},
      /* on another file system: copied, then the unlink fails */
      {ND_TEST_IO_RENAME, 0, EXDEV, ND_TEST_IO_UNLINK, EIO, "cannot remove",
       F_SEG2},
      {ND_TEST_IO_RENAME, 0, EXDEV, none, 0, "", F_NONE},
      /* the clean-shutdown marker cannot be removed */
      {ND_TEST_IO_UNLINK, 0, EPERM, none, 0, "cannot remove", F_MARKER},
  };
  for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
    fprintf(stderr, "  fault %zu: %s\n", i,
            nd_test_io_kind_name(faults[i].kind));
    repair_fails(&faults[i]);
  }
}

int main(void) {
  RUN(healthy);
  RUN(flipped_bit_dry_run_and_repair);
  RUN(torn_tail_and_index);
  RUN(refusals);
  RUN(repair_under_faults);
  TEST_MAIN_END();
}
