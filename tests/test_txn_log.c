/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transactions at the partition level: transactional batches open their
 * producer's transaction, markers close it, the last stable offset (LSO)
 * follows the earliest open transaction, read_committed reads stop at it,
 * ABORT markers fill the aborted-transaction index (.txnindex), and all of
 * it is rebuilt the same after a clean close, a kill -9 and a lost or
 * damaged index file.
 */
#include "test.h"

#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nodata_zerocopy.h"
#include "txn_batches.h"

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int64_t lso_of(nd_store *s, const char *t, int32_t p) {
  nd_partition_info pi;
  if (nd_partition_describe(s, t, p, &pi) != 0)
    return -2;
  return pi.last_stable_offset;
}

/* A marker; its offset, or -1 when nothing was written, -2 on error. */
static int64_t marker(nd_store *s, const char *t, int32_t p, int64_t pid,
                      int16_t epoch, int commit) {
  int64_t off;
  if (nd_txn_write_marker(s, t, p, pid, epoch, commit, 0, 0, &off) != 0)
    return -2;
  return off;
}

/* The aborted list of [from, upto) as text, "pid:first-last ..." */
static void aborted_text(nd_store *s, const char *t, int32_t p, int64_t from,
                         int64_t upto, char *out, size_t cap) {
  nd_aborted_txn *l = NULL;
  size_t n = 0;
  out[0] = 0;
  if (nd_aborted_txns(s, t, p, from, upto, &l, &n) != 0) {
    snprintf(out, cap, "error: %s", nd_errmsg());
    return;
  }
  size_t used = 0;
  for (size_t i = 0; i < n && used < cap; i++)
    used += (size_t)snprintf(out + used, cap - used, "%s%lld:%lld-%lld",
                             i ? " " : "", (long long)l[i].producer_id,
                             (long long)l[i].first_offset,
                             (long long)l[i].last_offset);
  nd_free(l);
}

#define CHECK_ABORTED(s, t, p, from, upto, want)                               \
  do {                                                                         \
    char got_[512];                                                            \
    aborted_text(s, t, p, from, upto, got_, sizeof got_);                      \
    if (strcmp(got_, want) != 0) {                                             \
      fprintf(stderr, "%s:%d: aborted [%lld, %lld): got '%s', want '%s'\n",    \
              __FILE__, __LINE__, (long long)(from), (long long)(upto), got_,  \
              want);                                                           \
      nd_test_current_failed = 1;                                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

/* The single partition directory of the store's single topic. */
static int part_dir(const char *dir, char *out, size_t cap) {
  char pat[PATH_MAX];
  snprintf(pat, sizeof pat, "%s/topics/*/0", dir);
  glob_t g;
  if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc != 1) {
    globfree(&g);
    return -1;
  }
  snprintf(out, cap, "%s", g.gl_pathv[0]);
  globfree(&g);
  return 0;
}

/* How many files of the partition end with ext. */
static int count_files(const char *pdir, const char *ext) {
  char pat[PATH_MAX];
  snprintf(pat, sizeof pat, "%s/*%s", pdir, ext);
  glob_t g;
  int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
  globfree(&g);
  return n;
}

/* Two producers, interleaved, in one partition:
 *   0 A1 (pid 1)   1 B1 (pid 2)   2 A2   3 COMMIT(1)   4 B2
 *   5 ABORT(2)     6 plain        7 A3   8 ABORT(1)
 * LSO at each step, and what read_committed returns. */
static void lso_moves(void) {
  char *dir = tmpdir_make("txlso");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t off;
  CHECK_EQ_I64(lso_of(s, "t", 0), 0);
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 0, 1, "A1", 2, &off));
  CHECK_EQ_I64(off, 0); /* offsets 0-1 */
  CHECK_EQ_I64(lso_of(s, "t", 0), 0);
  CHECK_OK(txn_append(s, "t", 0, 2, 0, 0, 1, "B1", 1, &off));
  CHECK_EQ_I64(off, 2);
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 2, 1, "A2", 1, &off));
  CHECK_EQ_I64(off, 3);
  CHECK_EQ_I64(lso_of(s, "t", 0), 0);
  /* nd_read_committed: nothing at or past the LSO. */
  nd_batches b;
  CHECK_OK(nd_read_committed(s, "t", 0, 0, 1 << 20, &b));
  CHECK_EQ_I64(b.len, 0);
  CHECK_EQ_I64(b.last_stable_offset, 0);
  CHECK_EQ_I64(b.high_watermark, 4);
  nd_free(b.data);
  nd_producer_info *pl;
  size_t pn;
  CHECK_OK(nd_partition_producers(s, "t", 0, &pl, &pn));
  CHECK_EQ_I64(pn, 2);
  for (size_t i = 0; i < pn; i++)
    CHECK_EQ_I64(pl[i].txn_start_offset, pl[i].producer_id == 1 ? 0 : 2);
  nd_free(pl);
  CHECK_EQ_I64(marker(s, "t", 0, 1, 0, 1), 4); /* commit A */
  CHECK_EQ_I64(lso_of(s, "t", 0), 2);          /* B is still open at 2 */
  CHECK_OK(nd_read_committed(s, "t", 0, 0, 1 << 20, &b));
  CHECK_EQ_I64(b.next_offset, 2); /* the batch at 0-1 only */
  CHECK_EQ_I64(b.last_stable_offset, 2);
  nd_free(b.data);
  nd_file_range fr;
  CHECK_OK(nd_read_file_committed(s, "t", 0, 0, 1 << 20, &fr));
  CHECK_EQ_I64(fr.next_offset, 2);
  CHECK_EQ_I64(fr.last_stable_offset, 2);
  if (fr.fd >= 0)
    close(fr.fd);
  /* At the LSO and past it: zero bytes, not an error. */
  CHECK_OK(nd_read_committed(s, "t", 0, 2, 1 << 20, &b));
  CHECK_EQ_I64(b.len, 0);
  nd_free(b.data);
  CHECK_OK(nd_read_committed(s, "t", 0, 4, 1 << 20, &b));
  CHECK_EQ_I64(b.len, 0);
  nd_free(b.data);
  CHECK_OK(nd_read_file_committed(s, "t", 0, 3, 1 << 20, &fr));
  CHECK_EQ_I64(fr.len, 0);
  CHECK_EQ_I64(fr.fd, -1);
  CHECK_OK(txn_append(s, "t", 0, 2, 0, 1, 1, "B2", 1, &off));
  CHECK_EQ_I64(off, 5);
  CHECK_EQ_I64(marker(s, "t", 0, 2, 0, 0), 6); /* abort B */
  CHECK_EQ_I64(lso_of(s, "t", 0), 7);
  CHECK_OK(nd_partition_producers(s, "t", 0, &pl, &pn));
  for (size_t i = 0; i < pn; i++)
    CHECK_EQ_I64(pl[i].txn_start_offset, -1);
  nd_free(pl);
  /* A non-transactional producer does not hold the LSO back. */
  CHECK_OK(txn_append(s, "t", 0, 3, 0, 0, 0, "plain", 1, &off));
  CHECK_EQ_I64(off, 7);
  CHECK_EQ_I64(lso_of(s, "t", 0), 8);
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 3, 1, "A3", 1, &off));
  CHECK_EQ_I64(off, 8);
  CHECK_EQ_I64(lso_of(s, "t", 0), 8);
  CHECK_OK(nd_read_committed(s, "t", 0, 0, 1 << 20, &b));
  CHECK_EQ_I64(b.next_offset, 8);
  nd_free(b.data);
  CHECK_EQ_I64(marker(s, "t", 0, 1, 0, 0), 9); /* abort A's second */
  CHECK_EQ_I64(lso_of(s, "t", 0), 10);
  CHECK_OK(nd_read_committed(s, "t", 0, 0, 1 << 20, &b));
  CHECK_EQ_I64(b.next_offset, 10);
  nd_free(b.data);
  CHECK_ABORTED(s, "t", 0, 0, 10, "2:2-6 1:8-9");
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Markers: idempotent (no open transaction: nothing written), fenced
 * below the producer's epoch, and a higher epoch (Transactions V2's bump)
 * taken by the producer. A plain batch from a producer with an open
 * transaction is refused, as Kafka refuses it. */
static void marker_rules(void) {
  char *dir = tmpdir_make("txmark");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t off;
  CHECK_EQ_I64(marker(s, "t", 0, 5, 1, 1), -1);
  CHECK_EQ_I64(marker(s, "t", 0, 5, 1, 0), -1);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "t", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 0);
  CHECK_OK(txn_append(s, "t", 0, 5, 1, 0, 1, "x", 1, &off));
  CHECK_RC(txn_append(s, "t", 0, 5, 1, 1, 0, "plain", 1, &off), ND_ETXNSTATE);
  CHECK_RC(nd_txn_write_marker(s, "t", 0, 5, 0, 1, 0, 0, &off),
           ND_EPRODUCERFENCED);
  CHECK_EQ_I64(lso_of(s, "t", 0), 0);
  /* V2: the marker carries the bumped epoch. */
  CHECK_EQ_I64(marker(s, "t", 0, 5, 2, 1), 1);
  CHECK_EQ_I64(lso_of(s, "t", 0), 2);
  CHECK_EQ_I64(marker(s, "t", 0, 5, 2, 1), -1); /* a retried marker */
  nd_producer_info *pl;
  size_t pn;
  CHECK_OK(nd_partition_producers(s, "t", 0, &pl, &pn));
  CHECK_EQ_I64(pn, 1);
  CHECK_EQ_I64(pl[0].producer_epoch, 2);
  CHECK_EQ_I64(pl[0].last_sequence, -1);
  CHECK_EQ_I64(pl[0].last_offset, 1);
  nd_free(pl);
  /* The old epoch is fenced by the partition now. */
  CHECK_RC(txn_append(s, "t", 0, 5, 1, 1, 1, "zombie", 1, &off),
           ND_EPRODUCERFENCED);
  CHECK_OK(txn_append(s, "t", 0, 5, 2, 0, 1, "y", 1, &off));
  CHECK_EQ_I64(off, 2);
  CHECK_OK(nd_offsets(s, "t", 0, NULL, &hw));
  CHECK_EQ_I64(hw, 3);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Kafka's rule for the aborted list of a fetch: lastOffset >= from and
 * firstOffset < upto, sorted by first offset. Layout:
 *   0-1 T1(pid 1)  2 T2(pid 2)  3 ABORT(2)  4 ABORT(1)  5 T3(pid 3)
 *   6 COMMIT(3)    7 T4(pid 4)  8 ABORT(4) */
static void aborted_ranges(void) {
  char *dir = tmpdir_make("txabr");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t off;
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 0, 1, "a", 2, &off));
  CHECK_OK(txn_append(s, "t", 0, 2, 0, 0, 1, "b", 1, &off));
  CHECK_EQ_I64(marker(s, "t", 0, 2, 0, 0), 3);
  CHECK_EQ_I64(marker(s, "t", 0, 1, 0, 0), 4);
  CHECK_OK(txn_append(s, "t", 0, 3, 0, 0, 1, "c", 1, &off));
  CHECK_EQ_I64(marker(s, "t", 0, 3, 0, 1), 6);
  CHECK_OK(txn_append(s, "t", 0, 4, 0, 0, 1, "d", 1, &off));
  CHECK_EQ_I64(marker(s, "t", 0, 4, 0, 0), 8);
  CHECK_ABORTED(s, "t", 0, 0, 9, "1:0-4 2:2-3 4:7-8");
  CHECK_ABORTED(s, "t", 0, 0, 1, "1:0-4");
  CHECK_ABORTED(s, "t", 0, 0, 2, "1:0-4");
  CHECK_ABORTED(s, "t", 0, 0, 3, "1:0-4 2:2-3");
  CHECK_ABORTED(s, "t", 0, 4, 9, "1:0-4 4:7-8");
  CHECK_ABORTED(s, "t", 0, 5, 9, "4:7-8");
  CHECK_ABORTED(s, "t", 0, 5, 7, "");
  CHECK_ABORTED(s, "t", 0, 8, 9, "4:7-8");
  CHECK_ABORTED(s, "t", 0, 9, 100, "");
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A log with open and aborted transactions across several segments,
 * left open: pid 1 open from offset 2 (in the first segment), pid 3
 * aborted, pid 4 committed. Returns the high watermark or -1. */
static int64_t build_log(nd_store *s, int snapshot_midway) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 300; /* a few batches per segment */
  if (nd_topic_create(s, "t", 1, &cfg) != 0)
    return -1;
  int64_t off;
  int32_t seq1 = 0, seq3 = 0;
  if (txn_append(s, "t", 0, 9, 0, 0, 0, "p", 1, &off) ||
      txn_append(s, "t", 0, 3, 0, seq3++, 1, "x", 1, &off) ||
      txn_append(s, "t", 0, 1, 0, seq1++, 1, "open", 1, &off))
    return -1;
  for (int i = 0; i < 6; i++) {
    /* A producer-state snapshot (and recovery point) here: a recovery
     * walks from it, keeping the index entries before it. */
    if (snapshot_midway && i == 3 && (nd_sync(s) || nd_maintain(s, 0)))
      return -1;
    char tag[16];
    snprintf(tag, sizeof tag, "r%d", i);
    if (txn_append(s, "t", 0, 3, 0, seq3, 1, tag, 2, &off) ||
        (seq3 += 2, marker(s, "t", 0, 3, 0, i % 2) < 0) ||
        txn_append(s, "t", 0, 3, 0, seq3++, 1, tag, 1, &off) ||
        txn_append(s, "t", 0, 1, 0, seq1++, 1, "more", 1, &off))
      return -1;
  }
  if (marker(s, "t", 0, 3, 0, 0) < 0)
    return -1;
  int64_t hw;
  if (nd_offsets(s, "t", 0, NULL, &hw) != 0)
    return -1;
  return hw;
}

#define WANT_ABORTED "3:1-5 3:11-15 3:21-25 3:31-33"

static void check_built(nd_store *s, int64_t hw) {
  CHECK_EQ_I64(lso_of(s, "t", 0), 2);
  int64_t h;
  CHECK_OK(nd_offsets(s, "t", 0, NULL, &h));
  CHECK_EQ_I64(h, hw);
  CHECK_ABORTED(s, "t", 0, 0, hw, WANT_ABORTED);
  nd_producer_info *pl;
  size_t pn;
  CHECK_OK(nd_partition_producers(s, "t", 0, &pl, &pn));
  int open = 0;
  for (size_t i = 0; i < pn; i++)
    if (pl[i].producer_id == 1) {
      CHECK_EQ_I64(pl[i].txn_start_offset, 2);
      open = 1;
    } else {
      CHECK_EQ_I64(pl[i].txn_start_offset, -1);
    }
  nd_free(pl);
  CHECK(open);
  /* And it goes on from there: closing pid 1 moves the LSO to the end. */
  CHECK(marker(s, "t", 0, 1, 0, 1) == hw);
  CHECK_EQ_I64(lso_of(s, "t", 0), hw + 1);
}

static void reopen_clean(void) {
  char *dir = tmpdir_make("txclean");
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw = build_log(s, 0);
  CHECK(hw > 0);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK(pi.segment_count > 3);
  CHECK_ABORTED(s, "t", 0, 0, hw, WANT_ABORTED);
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  check_built(s, hw);
  if (nd_test_current_failed)
    return;
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* kill -9 after the appends: the state is rebuilt from the snapshot (or
 * none) and the header walk. */
static void reopen_killed(void) {
  char *dir = tmpdir_make("txkill");
  pid_t child = fork();
  if (child == 0) {
    nd_store *cs = open_store(dir);
    int64_t hw = cs ? build_log(cs, 1) : -1;
    _exit(hw > 0 ? 0 : 1);
  }
  int st;
  waitpid(child, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw;
  CHECK_OK(nd_offsets(s, "t", 0, NULL, &hw));
  check_built(s, hw);
  if (nd_test_current_failed)
    return;
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The .txnindex files are derived: deleted or cut by hand they come back
 * from the log, found by the entry counts of the producer-state snapshot,
 * or (keep_state 0) because the snapshot is gone too while index files
 * remain. */
static void index_rebuilt_case(int keep_state) {
  char *dir = tmpdir_make("txidx");
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw = build_log(s, 0);
  CHECK(hw > 0);
  CHECK_OK(nd_close(s));
  char pdir[PATH_MAX], path[PATH_MAX + 32];
  CHECK_OK(part_dir(dir, pdir, sizeof pdir));
  int files = count_files(pdir, ".txnindex");
  CHECK(files >= 3);
  char pat[PATH_MAX + 16];
  snprintf(pat, sizeof pat, "%s/*.txnindex", pdir);
  glob_t g;
  CHECK(glob(pat, 0, NULL, &g) == 0);
  CHECK(unlink(g.gl_pathv[0]) == 0);
  CHECK(truncate(g.gl_pathv[1], 20) == 0);
  globfree(&g);
  if (!keep_state) {
    snprintf(path, sizeof path, "%s/producer-state", pdir);
    CHECK(unlink(path) == 0);
  }
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(count_files(pdir, ".txnindex"), files);
  check_built(s, hw);
  if (nd_test_current_failed)
    return;
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void index_rebuilt(void) {
  index_rebuilt_case(1);
}

static void index_and_state_rebuilt(void) {
  index_rebuilt_case(0);
}

/* Every .txnindex has its .log. */
static int orphans(const char *pdir) {
  char pat[PATH_MAX + 16];
  snprintf(pat, sizeof pat, "%s/*.txnindex", pdir);
  glob_t g;
  int n = 0;
  if (glob(pat, 0, NULL, &g) != 0)
    return 0;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%.*s.log",
             (int)(strlen(g.gl_pathv[i]) - strlen(".txnindex")), g.gl_pathv[i]);
    struct stat st;
    n += stat(log, &st) != 0;
  }
  globfree(&g);
  return n;
}

/* Retention and DeleteRecords remove a segment's .txnindex with it. */
static void retention_drops_index(void) {
  char *dir = tmpdir_make("txret");
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw = build_log(s, 0);
  CHECK(hw > 0);
  char pdir[PATH_MAX];
  CHECK_OK(part_dir(dir, pdir, sizeof pdir));
  int before = count_files(pdir, ".txnindex");
  CHECK(before >= 2);
  int64_t ls;
  CHECK_OK(nd_delete_records(s, "t", 0, 12, &ls));
  CHECK(count_files(pdir, ".txnindex") < before);
  CHECK_EQ_I64(orphans(pdir), 0);
  /* DeleteRecords moves by the high watermark, not the LSO (Kafka's
   * UnifiedLog), and the LSO is then never below the log start. */
  CHECK_EQ_I64(ls, 12);
  CHECK_EQ_I64(lso_of(s, "t", 0), 12);
  nd_batches b;
  CHECK_OK(nd_read_committed(s, "t", 0, 12, 1 << 20, &b));
  CHECK_EQ_I64(b.last_stable_offset, 12);
  CHECK_EQ_I64(b.len, 0);
  nd_free(b.data);
  /* What is left answers as before for what is left. */
  CHECK_ABORTED(s, "t", 0, 12, hw, "3:11-15 3:21-25 3:31-33");
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The values nd_reader_next gives from the reader's position, joined by
 * spaces, until it returns 0. */
static int read_all(nd_reader *r, char *out, size_t cap) {
  nd_record_view v;
  int rc;
  size_t used = 0;
  out[0] = 0;
  while ((rc = nd_reader_next(r, &v)) == 1 && used < cap)
    used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? " " : "",
                             (int)v.value_len, (const char *)v.value);
  return rc;
}

/* ND_READER_COMMITTED: aborted transactions' records skipped (also when
 * interleaved with a committed one of another producer), control records
 * skipped, and the read stops at the LSO until the open transaction is
 * decided. A reader without the flag sees everything. */
static void reader_committed(void) {
  char *dir = tmpdir_make("txrd");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t off;
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 0, 1, "ab", 2, &off));  /* 0-1 */
  CHECK_OK(txn_append(s, "t", 0, 2, 0, 0, 1, "ok", 2, &off));  /* 2-3 */
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 2, 1, "ab2", 1, &off)); /* 4 */
  CHECK_OK(txn_append(s, "t", 0, 9, 0, 0, 0, "plain", 1, &off));
  CHECK_EQ_I64(marker(s, "t", 0, 1, 0, 0), 6);
  CHECK_EQ_I64(marker(s, "t", 0, 2, 0, 1), 7);
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 3, 1, "late", 1, &off));  /* 8 */
  CHECK_OK(txn_append(s, "t", 0, 9, 0, 1, 0, "after", 1, &off)); /* 9 */
  nd_reader *r, *all;
  CHECK_OK(nd_reader_open(s, "t", 0, ND_READER_COMMITTED, NULL, &r));
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &all));
  char got[512];
  CHECK_OK(read_all(r, got, sizeof got));
  CHECK(strcmp(got, "ok-0 ok-1 plain-0") == 0);
  CHECK_OK(read_all(all, got, sizeof got));
  CHECK(strcmp(got, "ab-0 ab-1 ok-0 ok-1 ab2-0 plain-0 late-0 after-0") == 0);
  /* Still stopped at the LSO (8). */
  CHECK_OK(read_all(r, got, sizeof got));
  CHECK(strcmp(got, "") == 0);
  CHECK_EQ_I64(marker(s, "t", 0, 1, 0, 1), 10);
  CHECK_OK(read_all(r, got, sizeof got));
  CHECK(strcmp(got, "late-0 after-0") == 0);
  /* From the start again, and from inside the aborted transaction. */
  CHECK_OK(nd_reader_seek(r, 1));
  CHECK_OK(read_all(r, got, sizeof got));
  CHECK(strcmp(got, "ok-0 ok-1 plain-0 late-0 after-0") == 0);
  nd_reader_close(r);
  nd_reader_close(all);
  CHECK_RC(nd_reader_open(s, "t", 0, 1u << 5, NULL, &r), ND_EINVAL);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A keyed batch: n records, keys "k<key0 + i>", values "<tag>-<i>". */
static int kappend(nd_store *s, int64_t pid, int32_t seq, int txn,
                   const char *tag, int key0, int64_t *base) {
  nd_record r;
  char k[16], v[32];
  snprintf(k, sizeof k, "k%d", key0);
  snprintf(v, sizeof v, "%s-0", tag);
  r = (nd_record){k, strlen(k), v, strlen(v), NULL, 0, ND_TIMESTAMP_NOW};
  void *out = NULL;
  size_t len;
  if (nd_batch_encode(&r, 1, 0, 0, 0, &out, &len) != 0)
    return -1;
  /* The batches are this test's: no coordinator vouches for them. */
  nd_test_txn_unchecked(1);
  uint8_t *b = out;
  put_be16(b + 21, (uint16_t)(be16(b + 21) | (txn ? 0x10 : 0)));
  put_be64(b + 43, (uint64_t)pid);
  put_be16(b + 51, 0);
  put_be32(b + 53, (uint32_t)seq);
  nd_batch_set_crc(b, len);
  nd_append_info ai;
  int rc = nd_append_batch(s, "c", 0, b, len, 0, &ai);
  nd_free(b);
  if (!rc && base)
    *base = ai.base_offset;
  return rc;
}

static int compact_topic(nd_store *s) {
  nd_topic_config c;
  nd_topic_config_init(&c);
  if (nd_topic_config_set(&c, "cleanup.policy", "compact"))
    return -1;
  c.segment_bytes = 100; /* about a batch a segment */
  c.delete_retention_ms = 100;
  c.timestamp_before_max_ms = INT64_MAX;
  c.timestamp_after_max_ms = INT64_MAX;
  return nd_topic_create(s, "c", 1, &c);
}

/* Whether offset holds a record (1), is a hole (0), or error (-1). */
static int present(nd_store *s, int64_t off) {
  nd_reader *r;
  if (nd_reader_open(s, "c", 0, 0, NULL, &r))
    return -1;
  nd_record_view v;
  int rc = nd_reader_get(r, off, &v);
  nd_reader_close(r);
  return rc == 0 ? 1 : rc == ND_ENOTFOUND ? 0 : -1;
}

/* The cleaner and transactions (Kafka's LogCleaner): an aborted
 * transaction's records go and do not supersede older committed records
 * of their keys; its ABORT marker stays while a batch of it was seen,
 * with its index entry carried into the cleaned segment, then gets a
 * delete horizon and goes once it has passed (KIP-534); a COMMIT marker
 * whose data stays, stays. Layout:
 *   0 C k0 (pid 1, txn)  1 COMMIT(1)  2 A k0 (pid 2, txn)  3 ABORT(2)
 *   4 B k3 (pid 2, txn)  5 COMMIT(2)  6 P k1 (pid 9)  7 Q k2 (pid 9) */
static void cleaner_txns(void) {
  char *dir = tmpdir_make("txcl");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(compact_topic(s));
  int64_t off;
  CHECK_OK(kappend(s, 1, 0, 1, "C", 0, &off));
  CHECK(marker(s, "c", 0, 1, 0, 1) == 1);
  CHECK_OK(kappend(s, 2, 0, 1, "A", 0, &off));
  CHECK(marker(s, "c", 0, 2, 0, 0) == 3);
  CHECK_OK(kappend(s, 2, 1, 1, "B", 3, &off));
  CHECK(marker(s, "c", 0, 2, 0, 1) == 5);
  CHECK_OK(kappend(s, 9, 0, 0, "P", 1, &off));
  CHECK_OK(kappend(s, 9, 1, 0, "Q", 2, &off));
  CHECK_EQ_I64(off, 7);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "c", 0, &pi));
  CHECK(pi.segment_count >= 5);
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "c", 0, 1000, ND_CLEAN_FORCE, &st));
  CHECK(st.cleaned);
  nd_reader *r;
  char got[512];
  CHECK_OK(nd_reader_open(s, "c", 0, 0, NULL, &r));
  CHECK_OK(read_all(r, got, sizeof got));
  nd_reader_close(r);
  /* A-0 is gone, and C-0, older but committed, is k0's value. */
  CHECK(strcmp(got, "C-0 B-0 P-0") == 0 || strcmp(got, "C-0 B-0 P-0 Q-0") == 0);
  CHECK_EQ_I64(present(s, 2), 0);
  CHECK_EQ_I64(present(s, 3), 1);
  CHECK_EQ_I64(present(s, 1), 1);
  CHECK_ABORTED(s, "c", 0, 0, 8, "2:2-3");
  /* Again: no batch of the aborted transaction is left, so its marker
   * gets a delete horizon (now + delete.retention.ms) and its entry goes. */
  CHECK_OK(nd_clean(s, "c", 0, 2000, ND_CLEAN_FORCE, &st));
  CHECK_EQ_I64(present(s, 3), 1);
  CHECK_ABORTED(s, "c", 0, 0, 8, "");
  CHECK_OK(nd_clean(s, "c", 0, 2050, ND_CLEAN_FORCE, &st));
  CHECK_EQ_I64(present(s, 3), 1); /* the horizon (2100) has not passed */
  CHECK_OK(nd_clean(s, "c", 0, 3000, ND_CLEAN_FORCE, &st));
  CHECK_EQ_I64(present(s, 3), 0);
  /* The commit markers stay with their transactions' data. */
  CHECK_EQ_I64(present(s, 1), 1);
  CHECK_EQ_I64(present(s, 5), 1);
  CHECK_EQ_I64(lso_of(s, "c", 0), 8);
  /* And the store reopens to the same state, uncleanly too. */
  CHECK_OK(nd_close(s));
  s = open_store(dir);
  CHECK(s);
  CHECK_EQ_I64(lso_of(s, "c", 0), 8);
  CHECK_ABORTED(s, "c", 0, 0, 8, "");
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Nothing at or after the LSO is cleaned: an open transaction's records
 * may yet be aborted (Kafka's firstUncleanableOffset). Layout:
 *   0 D k0 (pid 9)  1 O k0 (pid 4, txn, stays open)  2.. k0 again */
static void cleaner_stops_at_lso(void) {
  char *dir = tmpdir_make("txcllso");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(compact_topic(s));
  int64_t off;
  CHECK_OK(kappend(s, 9, 0, 0, "D", 0, &off));
  CHECK_OK(kappend(s, 4, 0, 1, "O", 0, &off));
  for (int i = 0; i < 6; i++)
    CHECK_OK(kappend(s, 9, 1 + i, 0, "E", 0, &off));
  CHECK_EQ_I64(lso_of(s, "c", 0), 1);
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "c", 0, 1000, ND_CLEAN_FORCE, &st));
  /* Only the segment below offset 1 could be cleaned, and in it D-0 is
   * the latest k0 the cleaner may know of. */
  for (int64_t o = 0; o <= 7; o++)
    CHECK_EQ_I64(present(s, o), 1);
  /* Aborted, then cleaned: O-0 goes, the E-0s but the last too. */
  CHECK(marker(s, "c", 0, 4, 0, 0) == 8);
  CHECK_OK(kappend(s, 9, 7, 0, "F", 1, &off));
  CHECK_OK(nd_clean(s, "c", 0, 2000, ND_CLEAN_FORCE, &st));
  CHECK_EQ_I64(present(s, 0), 0);
  CHECK_EQ_I64(present(s, 1), 0);
  CHECK_EQ_I64(present(s, 7), 1);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

typedef struct findings {
  int index_damage, other_damage;
  char first[512];
} findings;

static void on_finding(void *ctx, const nd_verify_event *ev) {
  findings *f = ctx;
  if (ev->kind != ND_VERIFY_DAMAGE)
    return;
  if (ev->damage == ND_DAMAGE_INDEX && strstr(ev->text, ".txnindex"))
    f->index_damage++;
  else
    f->other_damage++;
  if (!f->first[0])
    snprintf(f->first, sizeof f->first, "%s", ev->text);
}

static int verify(const char *dir, unsigned flags, findings *f,
                  nd_verify_stats *st) {
  memset(f, 0, sizeof *f);
  nd_verify_options o = {.flags = flags, .on_event = on_finding, .ctx = f};
  return nd_verify(dir, &o, st);
}

/* nd_verify checks each .txnindex against the ABORT markers: an entry
 * naming no marker, and a marker without its entry, are reported, and
 * repair rebuilds the index. A cleaned log (markers whose aborted batches
 * are gone) is healthy. */
static void verify_txnindex(void) {
  char *dir = tmpdir_make("txver");
  nd_store *s = open_store(dir);
  CHECK(s);
  int64_t hw = build_log(s, 0);
  CHECK(hw > 0);
  CHECK_OK(nd_close(s));
  findings f;
  nd_verify_stats st;
  CHECK_OK(verify(dir, 0, &f, &st));
  CHECK_EQ_I64(st.problems, 0);
  char pdir[PATH_MAX], pat[PATH_MAX + 16];
  CHECK_OK(part_dir(dir, pdir, sizeof pdir));
  snprintf(pat, sizeof pat, "%s/*.txnindex", pdir);
  glob_t g;
  CHECK(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc >= 2);
  /* An entry whose lastOffset names no marker (byte 25 is in lastOffset's
   * low bytes), and a file gone. */
  FILE *fp = fopen(g.gl_pathv[0], "r+b");
  CHECK(fp);
  CHECK(fseek(fp, 25, SEEK_SET) == 0 && fputc(0x7f, fp) != EOF);
  fclose(fp);
  CHECK(unlink(g.gl_pathv[1]) == 0);
  globfree(&g);
  CHECK_OK(verify(dir, 0, &f, &st));
  CHECK_EQ_I64(f.index_damage, 2);
  CHECK_EQ_I64(f.other_damage, 0);
  CHECK(strstr(f.first, "names no ABORT marker") != NULL);
  CHECK_OK(verify(dir, ND_VERIFY_REPAIR, &f, &st));
  CHECK_EQ_I64(st.problems, 0);
  s = open_store(dir);
  CHECK(s);
  check_built(s, hw);
  if (nd_test_current_failed)
    return;
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);

  /* After the cleaner removed aborted batches. */
  dir = tmpdir_make("txver2");
  s = open_store(dir);
  CHECK(s);
  CHECK_OK(compact_topic(s));
  int64_t off;
  CHECK_OK(kappend(s, 2, 0, 1, "A", 0, &off));
  CHECK(marker(s, "c", 0, 2, 0, 0) == 1);
  CHECK_OK(kappend(s, 2, 1, 1, "B", 3, &off));
  CHECK(marker(s, "c", 0, 2, 0, 1) == 3);
  CHECK_OK(kappend(s, 9, 0, 0, "P", 1, &off));
  CHECK_OK(kappend(s, 9, 1, 0, "Q", 2, &off));
  nd_clean_stats cst;
  CHECK_OK(nd_clean(s, "c", 0, 1000, ND_CLEAN_FORCE, &cst));
  CHECK_EQ_I64(present(s, 0), 0);
  CHECK_OK(nd_close(s));
  CHECK_OK(verify(dir, 0, &f, &st));
  if (st.problems)
    fprintf(stderr, "first finding: %s\n", f.first);
  CHECK_EQ_I64(st.problems, 0);
  tmpdir_remove(dir);
}

/* Concurrency: while two producers write transactions (those of odd
 * number aborted, their values "a..."), a ND_READER_COMMITTED reader and
 * nd_read_committed run beside them: the reader never returns an aborted
 * record, nor a batch at or past the LSO it could have seen, and in the
 * end returns exactly the committed values, in log order. The first open
 * offset is published before the high watermark that shows its batch. */
typedef struct race {
  nd_store *s;
  _Atomic int done;
  int bad;
  int64_t seen;
  char why[256];
} race;

static void *race_reader(void *arg) {
  race *r = arg;
  nd_reader *rd;
  if (nd_reader_open(r->s, "t", 0, ND_READER_COMMITTED, NULL, &rd)) {
    r->bad = 1;
    return NULL;
  }
  for (;;) {
    int done = atomic_load(&r->done);
    nd_record_view v;
    int rc;
    while ((rc = nd_reader_next(rd, &v)) == 1) {
      if (v.value_len && ((const char *)v.value)[0] == 'a' && !r->bad) {
        r->bad = 1;
        snprintf(r->why, sizeof r->why, "aborted record at %lld",
                 (long long)v.offset);
      }
      r->seen++;
    }
    if (rc < 0 && !r->bad) {
      r->bad = 1;
      snprintf(r->why, sizeof r->why, "reader: %s", nd_errmsg());
    }
    /* A committed read stops at the LSO, and no open transaction's
     * batch lies below it. */
    nd_batches b;
    if (nd_read_committed(r->s, "t", 0, 0, 1 << 30, &b) == 0) {
      if (b.next_offset > b.last_stable_offset && !r->bad) {
        r->bad = 1;
        snprintf(r->why, sizeof r->why, "read past the LSO %lld to %lld",
                 (long long)b.last_stable_offset, (long long)b.next_offset);
      }
      nd_free(b.data);
    }
    /* The LSO never stops between a transaction's data and its marker:
     * a read that reaches the LSO ends with a marker (every batch here is
     * transactional). Found only by racing the marker's append. */
    nd_partition_info pi;
    if (nd_partition_describe(r->s, "t", 0, &pi) == 0 &&
        pi.high_watermark > 0 &&
        nd_read_committed(r->s, "t", 0, pi.high_watermark - 1, 1 << 20, &b) ==
            0) {
      size_t pos = 0, last = SIZE_MAX;
      while (pos + 61 <= b.len) {
        last = pos;
        pos += 12 + be32(b.data + pos + 8);
      }
      if (last != SIZE_MAX && b.next_offset == b.last_stable_offset &&
          !(be16(b.data + last + 21) & 0x20) && !r->bad) {
        r->bad = 1;
        snprintf(r->why, sizeof r->why,
                 "LSO %lld ends on a transaction's data, before its marker",
                 (long long)b.last_stable_offset);
      }
      nd_free(b.data);
    }
    if (done)
      break;
  }
  nd_reader_close(rd);
  return NULL;
}

static void concurrent_reader(void) {
  char *dir = tmpdir_make("txrace");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 4096;
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  race r = {.s = s};
  atomic_init(&r.done, 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, race_reader, &r) == 0);
  int32_t seq[3] = {0, 0, 0};
  int64_t committed = 0;
  for (int t = 0; t < 300; t++) {
    int pid = 1 + t % 2, abort_it = (t / 2) % 2;
    int n = 1 + t % 4;
    int64_t off;
    for (int k = 0; k < 2; k++) {
      CHECK_OK(txn_append(s, "t", 0, pid, 0, seq[pid], 1, abort_it ? "a" : "c",
                          n, &off));
      seq[pid] += n;
    }
    CHECK(marker(s, "t", 0, pid, 0, !abort_it) > 0);
    committed += abort_it ? 0 : 2 * n;
  }
  atomic_store(&r.done, 1);
  pthread_join(th, NULL);
  if (r.bad)
    fprintf(stderr, "%s\n", r.why);
  CHECK(!r.bad);
  CHECK_EQ_I64(r.seen, committed);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* A producer with an open transaction is never forgotten when the
 * producer state is full (4096 producers; the least recently active one
 * without a transaction goes instead): its transaction holds the LSO. */
static void open_txn_not_evicted(void) {
  char *dir = tmpdir_make("txevict");
  nd_store *s = open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t off;
  CHECK_OK(txn_append(s, "t", 0, 1, 0, 0, 1, "open", 1, &off));
  for (int64_t pid = 100; pid < 100 + 4200; pid++)
    CHECK_OK(txn_append(s, "t", 0, pid, 0, 0, 0, "p", 1, &off));
  nd_producer_info *pl;
  size_t pn;
  CHECK_OK(nd_partition_producers(s, "t", 0, &pl, &pn));
  int found = 0;
  for (size_t i = 0; i < pn; i++)
    if (pl[i].producer_id == 1 && pl[i].txn_start_offset == 0)
      found = 1;
  nd_free(pl);
  CHECK(found);
  CHECK(pn <= 4097);
  CHECK_EQ_I64(lso_of(s, "t", 0), 0);
  CHECK(marker(s, "t", 0, 1, 0, 1) == off + 1);
  CHECK_EQ_I64(lso_of(s, "t", 0), off + 2);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(lso_moves);
  RUN(marker_rules);
  RUN(aborted_ranges);
  RUN(reopen_clean);
  RUN(reopen_killed);
  RUN(index_rebuilt);
  RUN(index_and_state_rebuilt);
  RUN(retention_drops_index);
  RUN(reader_committed);
  RUN(cleaner_txns);
  RUN(cleaner_stops_at_lso);
  RUN(verify_txnindex);
  RUN(concurrent_reader);
  RUN(open_txn_not_evicted);
  TEST_MAIN_END();
}
