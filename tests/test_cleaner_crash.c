/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cleaner_crash.c — a cleaning cut short, at every file operation it
 * makes:
 *   - by a power cut (the crash recorder of nodata_testing.h: the machine
 *     stops after N changing calls, then whatever was not durable is
 *     undone as a power cut may undo it): after reopening, the partition
 *     holds exactly the old records or exactly the cleaned ones, never a
 *     mix, no survivor lost, nothing of the cleaner's files left, and a
 *     cleaning then finishes the job;
 *   - by an I/O error (the fault table) at each call of each kind:
 *     nd_clean fails with the error's code and a message, the partition
 *     keeps serving the old records or the new ones, and a retry cleans.
 */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleaner_model.h"
#include "nodata_testing.h"

static char *tmpl;  /* a store with a dirty compacted partition, closed */
static model m;     /* its records */
static int64_t end; /* its active segment's base */

static void make_template(void) {
  tmpl = tmpdir_make("clean-crash-tmpl");
  nd_store *s = open_store(tmpl, NULL);
  nd_topic_config c;
  compact_config(&c);
  c.segment_bytes = 2048;
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  CHECK_OK(append_keys(s, "t", &m, 45, 8, T0));
  int tomb[2] = {1, 1}, keys[2] = {2, 5};
  CHECK_OK(append_batch(s, "t", &m, keys, tomb, 2, T0 + 100));
  end = roll(s, "t");
  CHECK_OK(append_keys(s, "t", &m, 3, 8, T0 + 200));
  CHECK_OK(nd_close(s));
}

static void copy_template(const char *to) {
  char cmd[3 * PATH_MAX];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, tmpl, to);
  CHECK(system(cmd) == 0);
}

static int exists(const char *dir, const char *name) {
  char cmd[2 * PATH_MAX];
  snprintf(cmd, sizeof cmd, "ls -d %s/topics/*/0/%s >/dev/null 2>&1", dir,
           name);
  return system(cmd) == 0;
}

/* The log is the old one or the cleaned one: 0 or 1; -1 neither. */
static int old_or_new(nd_store *s, const model *cleaned) {
  quiet = 1;
  int r = check_log(s, "t", &m) == 0        ? 0
          : check_log(s, "t", cleaned) == 0 ? 1
                                            : -1;
  quiet = 0;
  if (r < 0) {
    fprintf(stderr, "neither old nor new; against new:\n");
    check_log(s, "t", cleaned);
  }
  return r;
}

/* After the cut: reopen, old or new; then a cleaning makes it new. */
static int reopen_and_check(const char *dir, const model *cleaned,
                            const char *what, uint64_t at) {
  nd_store *s = open_store(dir, NULL);
  if (!s) {
    fprintf(stderr, "%s %" PRIu64 ": reopen failed\n", what, at);
    return -1;
  }
  int r = old_or_new(s, cleaned);
  if (r < 0)
    fprintf(stderr, "%s %" PRIu64 ": a mix\n", what, at);
  if (exists(dir, "cleaning") || exists(dir, "cleaner-swap")) {
    fprintf(stderr, "%s %" PRIu64 ": the cleaner's files are left\n", what, at);
    r = -1;
  }
  nd_clean_stats st;
  if (nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st) ||
      check_log(s, "t", cleaned)) {
    fprintf(stderr, "%s %" PRIu64 ": cleaning after: %s\n", what, at,
            nd_errmsg());
    r = -1;
  }
  nd_close(s);
  if (r >= 0 && verify_clean(dir))
    r = -1;
  return r;
}

static void test_power_cut_everywhere(void) {
  model cleaned = model_clean(&m, end, 0);
  char *work = tmpdir_make("clean-crash");
  char *backup = tmpdir_make("clean-crash-bak");
  int seen[2] = {0, 0};
  uint64_t k;
  for (k = 0;; k++) {
    copy_template(work);
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", backup);
    CHECK(system(cmd) == 0);
    CHECK_OK(nd_test_crash_record(backup));
    nd_store *s = open_store(work, NULL);
    CHECK(s != NULL);
    if (!s)
      break;
    nd_test_crash_freeze_after(k);
    nd_clean_stats st;
    int rc = nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st);
    int frozen = nd_test_crash_frozen();
    nd_close(s);
    nd_test_crash_stats cs;
    CHECK_OK(nd_test_crash_cut((unsigned)(k * 7919 + 1), &cs));
    int r = reopen_and_check(work, &cleaned, "power cut after op", k);
    CHECK(r >= 0);
    if (r < 0)
      break;
    seen[r]++;
    if (!frozen) {
      /* The cleaning made fewer than k changes: done, and new. */
      CHECK_OK(rc);
      CHECK_EQ_I64(r, 1);
      break;
    }
  }
  fprintf(stderr,
          "power cut at each of %" PRIu64 " operations: %d old, %d new\n", k,
          seen[0], seen[1]);
  CHECK(k > 20);
  CHECK(seen[0] > 0 && seen[1] > 0);
  free(cleaned.r);
  tmpdir_remove(work);
  tmpdir_remove(backup);
}

static void test_io_fault_everywhere(void) {
  static const enum nd_test_io_kind kinds[] = {
      ND_TEST_IO_WRITE, ND_TEST_IO_SYNC, ND_TEST_IO_CREATE,   ND_TEST_IO_MAP,
      ND_TEST_IO_OPEN,  ND_TEST_IO_READ, ND_TEST_IO_RENAME,   ND_TEST_IO_UNLINK,
      ND_TEST_IO_MKDIR, ND_TEST_IO_STAT, ND_TEST_IO_TRUNCATE,
  };
  model cleaned = model_clean(&m, end, 0);
  char *work = tmpdir_make("clean-fault");
  int failed = 0, total = 0;
  for (size_t x = 0; x < sizeof kinds / sizeof kinds[0]; x++) {
    enum nd_test_io_kind kind = kinds[x];
    /* How many calls of this kind one cleaning makes. */
    copy_template(work);
    nd_store *s = open_store(work, NULL);
    uint64_t before = nd_test_io_calls(kind);
    nd_clean_stats st;
    CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st));
    uint64_t calls = nd_test_io_calls(kind) - before;
    nd_close(s);

    for (uint64_t i = 0; i < calls; i++) {
      copy_template(work);
      s = open_store(work, NULL);
      nd_test_io_fault_set(kind, (int)i, EIO, 0);
      int rc = nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st);
      nd_test_io_fault_clear();
      total++;
      if (rc) {
        failed++;
        /* The error says what failed: the code, and a message naming
         * the file. */
        CHECK_EQ_I64(rc, -EIO);
        CHECK(strstr(nd_errmsg(), "/") != NULL);
        if (rc != -EIO)
          fprintf(stderr, "%s call %" PRIu64 ": %d %s\n",
                  nd_test_io_kind_name(kind), i, rc, nd_errmsg());
      }
      /* The partition serves on: old, or new when the fault came after
       * the commit, or missed the cleaning's outcome (a skipped index
       * entry, a leftover it could not remove). */
      int r = old_or_new(s, &cleaned);
      CHECK(r >= 0);
      CHECK(rc != 0 || r == 1);
      nd_close(s);
      CHECK(reopen_and_check(work, &cleaned, nd_test_io_kind_name(kind), i) >=
            0);
      if (nd_test_current_failed) {
        fprintf(stderr, "at %s call %" PRIu64 "\n", nd_test_io_kind_name(kind),
                i);
        break;
      }
    }
  }
  fprintf(stderr, "an I/O error at each of %d calls: %d failed the cleaning\n",
          total, failed);
  CHECK(failed > 20);
  free(cleaned.r);
  tmpdir_remove(work);
}

int main(void) {
  make_template();
  RUN(test_power_cut_everywhere);
  RUN(test_io_fault_everywhere);
  free(m.r);
  tmpdir_remove(tmpl);
  TEST_MAIN_END();
}
