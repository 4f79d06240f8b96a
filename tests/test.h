/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test.h — the project's minimal test harness.
 *
 * Each tests/test_*.c is its own program and its own ctest entry, so a crash
 * stays contained and ctest's timeout covers hangs. A failed CHECK prints
 * file:line, the expression and nd_errmsg() and exits with status 1 at the
 * end of that test function. We chose this over a framework package because
 * it is 100 lines, needs nothing installed and gives exactly the failure
 * text we want (error code names and the library's context message).
 */
#ifndef ND_TEST_H
#define ND_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nodata.h"

/* Descriptors this process has open, or -1. */
static inline int test_open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n - 3; /* ".", "..", and the DIR's own descriptor */
}

static int nd_test_failures;
static int nd_test_current_failed;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__,   \
              __LINE__, #cond, nd_errmsg());                                   \
      nd_test_current_failed = 1;                                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

/* Expect a call to return exactly `want` (0 or an ND_E code). */
#define CHECK_RC(call, want)                                                   \
  do {                                                                         \
    int rc_ = (call);                                                          \
    if (rc_ != (want)) {                                                       \
      fprintf(stderr, "%s:%d: %s returned %s (%d), want %s; %s\n", __FILE__,   \
              __LINE__, #call, nd_errname(rc_), rc_, nd_errname(want),         \
              nd_errmsg());                                                    \
      nd_test_current_failed = 1;                                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, 0)

#define CHECK_EQ_I64(a, b)                                                     \
  do {                                                                         \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                              \
    if (a_ != b_) {                                                            \
      fprintf(stderr, "%s:%d: %s == %s failed: %" PRId64 " != %" PRId64 "\n",  \
              __FILE__, __LINE__, #a, #b, a_, b_);                             \
      nd_test_current_failed = 1;                                              \
      return;                                                                  \
    }                                                                          \
  } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define RUN(fn)                                                                \
  do {                                                                         \
    nd_test_current_failed = 0;                                                \
    fn();                                                                      \
    fprintf(stderr, "%-4s %s\n", nd_test_current_failed ? "FAIL" : "ok", #fn); \
    nd_test_failures += nd_test_current_failed;                                \
  } while (0)

#define TEST_MAIN_END()                                                        \
  do {                                                                         \
    if (nd_test_failures)                                                      \
      fprintf(stderr, "%d test(s) failed\n", nd_test_failures);                \
    return nd_test_failures ? 1 : 0;                                           \
  } while (0)

/* This test cannot run here: exit 77, which ctest shows as skipped. With
 * CI set a skip is a failure, since CI is where every test must run (the
 * scripted tests' nd_skip and ndtest.skip do the same). */
static inline int test_skip(const char *why) {
  const char *ci = getenv("CI");
  if (ci && *ci) {
    fprintf(stderr, "FAIL: would skip, but CI must run every test: %s\n", why);
    return 1;
  }
  fprintf(stderr, "SKIP: %s\n", why);
  return 77;
}

/* A fresh directory under $TMPDIR; removed by tmpdir_remove(). */
static inline char *tmpdir_make(const char *tag) {
  const char *base = getenv("TMPDIR");
  char *path = malloc(PATH_MAX);
  if (!path)
    return NULL;
  snprintf(path, PATH_MAX, "%s/nd-%s-XXXXXX", base && *base ? base : "/tmp",
           tag);
  if (!mkdtemp(path)) {
    free(path);
    return NULL;
  }
  return path;
}

static inline void tmpdir_remove(char *path) {
  if (!path)
    return;
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0)
    fprintf(stderr, "warning: could not remove %s\n", path);
  free(path);
}

/* Open (creating) the store at dir without background threads, so a test
 * decides when things happen; NULL after printing why. */
static inline nd_store *test_open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

/* nd_group_list gives exactly the n names of want (sorted), else prints
 * what it gave and returns 0. */
static inline int test_groups_are(nd_store *s, size_t n,
                                  const char *const *want) {
  char **names;
  size_t count;
  if (nd_group_list(s, &names, &count) != 0)
    return 0;
  int ok = count == n;
  for (size_t i = 0; ok && i < n; i++)
    ok = !strcmp(names[i], want[i]);
  if (!ok) {
    fprintf(stderr, "groups:");
    for (size_t i = 0; i < count; i++)
      fprintf(stderr, " %s", names[i]);
    fprintf(stderr, " (want %zu)\n", n);
  }
  nd_names_free(names, count);
  return ok;
}

/* A counter of this process's I/O from /proc/self/io ("rchar": bytes read
 * through read/pread, "syscr": read system calls), or -1. */
static inline long long test_proc_io(const char *key) {
  FILE *f = fopen("/proc/self/io", "r");
  if (!f)
    return -1;
  char line[128];
  size_t klen = strlen(key);
  long long v = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, klen) && line[klen] == ':' &&
        sscanf(line + klen + 1, "%lld", &v) == 1)
      break;
  fclose(f);
  return v;
}

/* The value a test wrote at `off` of one partition, into buf (cap bytes):
 * its length. ctx is the test's. */
typedef size_t (*test_value_fn)(void *ctx, int64_t off, char *buf, size_t cap);

/* Read (topic, p) from its log start to its high watermark and check that
 * every record is at its offset with the value value() gives. Returns the
 * high watermark (and *log_start, may be NULL), or -1 after printing the
 * first difference. */
static inline int64_t test_check_records(nd_store *s, const char *topic,
                                         int32_t p, test_value_fn value,
                                         void *ctx, int64_t *log_start) {
  int64_t ls, hw;
  if (nd_offsets(s, topic, p, &ls, &hw) != 0) {
    fprintf(stderr, "%s/%d: offsets: %s\n", topic, p, nd_errmsg());
    return -1;
  }
  if (log_start)
    *log_start = ls;
  int64_t off = ls;
  while (off < hw) {
    nd_batches b;
    if (nd_read(s, topic, p, off, 64 * 1024, &b) != 0) {
      fprintf(stderr, "read %s/%d@%lld: %s\n", topic, p, (long long)off,
              nd_errmsg());
      return -1;
    }
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    int rc;
    while ((rc = nd_iter_next(&it, &v)) == 1) {
      char want[256];
      size_t n = value(ctx, off, want, sizeof want);
      if (v.offset != off || v.value_len != n || memcmp(v.value, want, n)) {
        fprintf(stderr, "%s/%d offset %lld: wrong record (got offset %lld)\n",
                topic, p, (long long)off, (long long)v.offset);
        rc = -1;
        break;
      }
      off++;
    }
    nd_iter_close(&it);
    nd_free(b.data);
    if (rc < 0)
      return -1;
  }
  return hw;
}

/* Read a whole file into a malloc'ed buffer. */
static inline uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf)
    *len = (size_t)n;
  return buf;
}

#endif
