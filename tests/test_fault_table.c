/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every kind of file-system call failed, in turn, at many points of one
 * workload (src/file.c's fault table through nodata_testing.h, as SQLite's
 * aSyscall): open, create,
 * read, write (part written), sync, truncate, map, rename, link, unlink,
 * mkdir, stat, lock.
 *
 * The workload opens a store, creates topics, appends to an fsync=always
 * topic (rolling segments), commits offsets, syncs, deletes a topic, runs
 * the background work (hint files, trash), reads, looks up by time,
 * closes, and opens and reads again. It is run once to count the calls of
 * each kind, then once per chosen call with that call failing. Each run
 * asserts:
 *   - the first call that fails after the fault says which file and why:
 *     its message names a file under the data directory and the errno's
 *     text, and it returns -errno (or an ND_ code whose message says so);
 *   - the process keeps running (the rest of the workload runs on the same
 *     store, whatever it answers);
 *   - with the fault gone, the store opens and holds every record whose
 *     append was acknowledged, byte-identical at its offset, and every
 *     acknowledged commit;
 *   - the fault did fire (the kind's call count passed it).
 * And per kind, that at least one of its faults reached the caller as an
 * error (a kind whose every failure is swallowed would test nothing). A
 * link is made only when groups/offsets.log is damaged: its own test.
 */
#include "test.h"

#include <time.h>

#include "nodata_testing.h"

#define APPENDS 30
#define PICKS 8

typedef struct {
  const char *dir;
  int err;          /* the errno injected; 0 for the counting run */
  int seen;         /* a call failed after the fault fired */
  int precise;      /* ... and its message said which file and why */
  char first[1200]; /* that message, for the report */
  int64_t acked[2]; /* highest acknowledged offset per partition */
  int64_t commit;   /* acknowledged committed offset */
} run;

static void value_for(int p, int64_t off, char *buf, size_t *len) {
  *len = (size_t)snprintf(buf, 64, "p%d-offset-%lld-%s", p, (long long)off,
                          off % 3 ? "x" : "a longer value, to vary sizes");
}

/* A step's result: the first failure after the fault is checked. */
static void step(run *r, int rc, const char *what) {
  if (rc == 0 || !r->err || r->seen)
    return;
  r->seen = 1;
  const char *msg = nd_errmsg();
  snprintf(r->first, sizeof r->first, "%s: rc %d: %s", what, rc, msg);
  r->precise = strstr(msg, strerror(r->err)) && strstr(msg, r->dir) &&
               (rc == -r->err || rc < -4096 || rc > 0 || rc == ND_EFAILED ||
                rc == ND_ECORRUPT);
}

static void append_some(nd_store *s, run *r, int p, int n) {
  int64_t hw;
  if (nd_offsets(s, "t", p, NULL, &hw) != 0) {
    step(r, -1, "nd_offsets");
    return;
  }
  nd_record recs[5];
  char vals[5][64];
  for (int i = 0; i < n; i++) {
    size_t len;
    value_for(p, hw + i, vals[i], &len);
    recs[i] = (nd_record){NULL, 0, vals[i], len, NULL, 0, ND_TIMESTAMP_NOW};
  }
  nd_append_info ai;
  int rc = nd_append(s, "t", p, recs, (size_t)n, 0, &ai);
  step(r, rc, "nd_append");
  if (rc == 0)
    r->acked[p] = ai.last_offset;
}

static void read_all(nd_store *s, run *r) {
  for (int p = 0; p < 2; p++) {
    nd_batches b;
    int rc = nd_read(s, "t", p, 0, 1 << 20, &b);
    step(r, rc, "nd_read");
    if (rc == 0)
      nd_free(b.data);
  }
  int64_t off, ts;
  step(r, nd_offset_for_time(s, "t", 0, 0, &off, &ts), "nd_offset_for_time");
}

static void workload(run *r) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  int rc = nd_open(r->dir, &o, &s);
  step(r, rc, "nd_open");
  if (rc)
    return;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  cfg.segment_bytes = 2048;
  cfg.index_interval_bytes = 128;
  cfg.segment_index_bytes = 4096;
  step(r, nd_topic_create(s, "t", 2, &cfg), "nd_topic_create t");
  for (int i = 0; i < APPENDS; i++) {
    append_some(s, r, i % 2, 1 + i % 5);
    if (i == APPENDS / 2) {
      int64_t v = r->acked[0] + 1;
      rc = nd_commit_offset(s, "g", "t", 0, v, "meta");
      step(r, rc, "nd_commit_offset");
      if (rc == 0)
        r->commit = v;
    }
  }
  step(r, nd_sync(s), "nd_sync");
  step(r, nd_topic_create(s, "d", 1, NULL), "nd_topic_create d");
  step(r, nd_topic_delete(s, "d"), "nd_topic_delete d");
  /* 10 s on: the recovery point's write is due whatever the timing, so
   * every run makes the same calls. */
  step(r, nd_maintain(s, (int64_t)time(NULL) * 1000 + 10000), "nd_maintain");
  read_all(s, r);
  step(r, nd_close(s), "nd_close");
  s = NULL;
  rc = nd_open(r->dir, &o, &s);
  step(r, rc, "nd_open again");
  if (rc)
    return;
  read_all(s, r);
  append_some(s, r, 0, 2);
  step(r, nd_close(s), "nd_close again");
}

/* With no fault: every acknowledged record and commit is there. */
static int verify(run *r) {
  nd_store *s = test_open_store(r->dir);
  if (!s)
    return 0;
  int ok = 1;
  for (int p = 0; p < 2 && ok; p++) {
    int64_t hw = 0;
    if (r->acked[p] >= 0 && nd_offsets(s, "t", p, NULL, &hw) != 0) {
      fprintf(stderr, "t/%d: %s\n", p, nd_errmsg());
      ok = 0;
      break;
    }
    if (hw <= r->acked[p]) {
      fprintf(stderr, "t/%d: high watermark %lld, acknowledged up to %lld\n", p,
              (long long)hw, (long long)r->acked[p]);
      ok = 0;
    }
    for (int64_t off = 0; ok && off < hw;) {
      nd_batches b;
      if (nd_read(s, "t", p, off, 1 << 20, &b) != 0) {
        fprintf(stderr, "read t/%d@%lld: %s\n", p, (long long)off, nd_errmsg());
        ok = 0;
        break;
      }
      nd_iter it;
      nd_record_view v;
      nd_iter_init(&it, b.data, b.len, off, NULL);
      while (ok && nd_iter_next(&it, &v) == 1) {
        char want[64];
        size_t len;
        value_for(p, off, want, &len);
        ok = v.offset == off && v.value_len == len &&
             !memcmp(v.value, want, len);
        if (!ok)
          fprintf(stderr, "t/%d offset %lld: wrong record\n", p,
                  (long long)off);
        off++;
      }
      nd_iter_close(&it);
      nd_free(b.data);
    }
  }
  int64_t got = -1;
  if (r->commit >= 0 &&
      (nd_committed_offset(s, "g", "t", 0, &got, NULL, NULL, NULL) != 0 ||
       got != r->commit)) {
    fprintf(stderr, "committed %lld, acknowledged %lld\n", (long long)got,
            (long long)r->commit);
    ok = 0;
  }
  if (nd_close(s) != 0)
    ok = 0;
  return ok;
}

static const int kind_err[ND_TEST_IO_KINDS] = {
    [ND_TEST_IO_WRITE] = ENOSPC,   [ND_TEST_IO_SYNC] = EIO,
    [ND_TEST_IO_CREATE] = EMFILE,  [ND_TEST_IO_MAP] = ENOMEM,
    [ND_TEST_IO_OPEN] = ENFILE,    [ND_TEST_IO_READ] = EIO,
    [ND_TEST_IO_TRUNCATE] = EFBIG, [ND_TEST_IO_RENAME] = ENOSPC,
    [ND_TEST_IO_UNLINK] = EBUSY,   [ND_TEST_IO_MKDIR] = EDQUOT,
    [ND_TEST_IO_LINK] = EMLINK,    [ND_TEST_IO_STAT] = EOVERFLOW,
    [ND_TEST_IO_LOCK] = ENOLCK};

static void each_kind_each_point(void) {
  char *tmp = tmpdir_make("faulttable");
  CHECK(tmp);
  char dir[PATH_MAX];
  /* Count the calls of each kind one workload makes. */
  snprintf(dir, sizeof dir, "%s/count", tmp);
  uint64_t before[ND_TEST_IO_KINDS], calls[ND_TEST_IO_KINDS];
  for (int k = 0; k < ND_TEST_IO_KINDS; k++)
    before[k] = nd_test_io_calls(k);
  run c = {.dir = dir, .acked = {-1, -1}, .commit = -1};
  workload(&c);
  for (int k = 0; k < ND_TEST_IO_KINDS; k++)
    calls[k] = nd_test_io_calls(k) - before[k];
  CHECK(verify(&c));
  int runs = 0;
  for (int k = 0; k < ND_TEST_IO_KINDS; k++) {
    /* A link is made only for damaged offsets: link_fails_damage_kept. */
    if (k == ND_TEST_IO_LINK)
      continue;
    /* Every other kind is reached by the workload, or it has a gap. */
    CHECK(calls[k] > 0);
    int reached_caller = 0;
    uint64_t picks = calls[k] < PICKS ? calls[k] : PICKS;
    for (uint64_t j = 0; j < picks; j++) {
      /* Spread over the workload: first call, last call, between. */
      uint64_t at = picks > 1 ? j * (calls[k] - 1) / (picks - 1) : 0;
      snprintf(dir, sizeof dir, "%s/%s-%llu", tmp, nd_test_io_kind_name(k),
               (unsigned long long)at);
      run r = {.dir = dir, .err = kind_err[k], .acked = {-1, -1}, .commit = -1};
      uint64_t base = nd_test_io_calls(k);
      nd_test_io_fault_set(k, (int)at, r.err, 5);
      workload(&r);
      nd_test_io_fault_clear();
      runs++;
      if (nd_test_io_calls(k) <= base + at)
        fprintf(stderr, "%s fault at call %llu did not fire: %llu calls\n",
                nd_test_io_kind_name(k), (unsigned long long)at,
                (unsigned long long)(nd_test_io_calls(k) - base));
      CHECK(nd_test_io_calls(k) > base + at); /* it fired */
      if (r.seen) {
        reached_caller++;
        if (!r.precise)
          fprintf(stderr, "%s fault at call %llu: imprecise error: %s\n",
                  nd_test_io_kind_name(k), (unsigned long long)at, r.first);
        CHECK(r.precise);
      }
      if (!verify(&r)) {
        fprintf(stderr, "%s fault at call %llu (%s) lost data\n",
                nd_test_io_kind_name(k), (unsigned long long)at,
                r.seen ? r.first : "no error seen");
        CHECK(0);
      }
    }
    fprintf(stderr,
            "%-8s %4llu calls, %llu failed in turn, %d reached the "
            "caller\n",
            nd_test_io_kind_name(k), (unsigned long long)calls[k],
            (unsigned long long)picks, reached_caller);
    CHECK(reached_caller > 0);
  }
  fprintf(stderr, "%d faulted runs\n", runs);
  tmpdir_remove(tmp);
}

/* Damage in the middle of groups/offsets.log: the open rewrites the file
 * without it, keeping the damaged one as offsets.log.damaged by a hard
 * link. If the link fails, the open still succeeds with every undamaged
 * commit; only the copy for the curious is missing. Returns whether the
 * copy exists, or -1 on a failed check. */
static int open_damaged_offsets(const char *dir, int fail_link) {
  nd_store *s = test_open_store(dir);
  if (!s)
    return -1;
  int ok = nd_topic_create(s, "t", 1, NULL) == 0 &&
           nd_commit_offset(s, "a", "t", 0, 5, NULL) == 0;
  for (int64_t v = 1; ok && v <= 3; v++)
    ok = nd_commit_offset(s, "b", "t", 0, v, NULL) == 0;
  if (nd_close(s) != 0 || !ok)
    return -1;
  char path[PATH_MAX], kept[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/groups/offsets.log", dir);
  snprintf(kept, sizeof kept, "%s.damaged", path);
  size_t len;
  uint8_t *b = read_file(path, &len);
  if (!b)
    return -1;
  b[len / 4] ^= 0x10; /* in an early frame: not b's last commit */
  FILE *f = fopen(path, "wb");
  ok = f && fwrite(b, 1, len, f) == len;
  if (f)
    fclose(f);
  free(b);
  uint64_t links = nd_test_io_calls(ND_TEST_IO_LINK);
  if (fail_link)
    nd_test_io_fault_set(ND_TEST_IO_LINK, 0, EMLINK, 0);
  s = test_open_store(dir);
  nd_test_io_fault_clear();
  int64_t got = -1;
  ok = ok && s &&
       nd_committed_offset(s, "b", "t", 0, &got, NULL, NULL, NULL) == 0 &&
       got == 3 && nd_test_io_calls(ND_TEST_IO_LINK) > links;
  if (!s || nd_close(s) != 0 || !ok)
    return -1;
  struct stat st;
  return stat(kept, &st) == 0;
}

static void link_fails_damage_kept(void) {
  char *tmp = tmpdir_make("faultlink");
  CHECK(tmp);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/kept", tmp);
  CHECK_EQ_I64(open_damaged_offsets(dir, 0), 1);
  snprintf(dir, sizeof dir, "%s/link-fails", tmp);
  CHECK_EQ_I64(open_damaged_offsets(dir, 1), 0);
  tmpdir_remove(tmp);
}

int main(void) {
  RUN(each_kind_each_point);
  RUN(link_fails_damage_kept);
  TEST_MAIN_END();
}
