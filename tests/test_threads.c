/* SPDX-License-Identifier: Apache-2.0 */
/* Concurrency: one writer with several readers racing it, group commit
 * across appending threads, and topics deleted while others use them. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "nodata_testing.h"
#include "nodata_zerocopy.h"

#define TOTAL 20000

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

struct race {
  nd_store *s;
  _Atomic int errors;
};

static void *writer(void *arg) {
  struct race *r = arg;
  unsigned seed = 7;
  int64_t next = 0;
  while (next < TOTAL) {
    int n = 1 + (int)(rand_r(&seed) % 10);
    if (next + n > TOTAL)
      n = (int)(TOTAL - next);
    nd_record recs[10];
    char vals[10][24];
    for (int i = 0; i < n; i++) {
      int len =
          snprintf(vals[i], sizeof vals[i], "seq-%lld", (long long)(next + i));
      recs[i] =
          (nd_record){NULL, 0, vals[i], (size_t)len, NULL, 0, ND_TIMESTAMP_NOW};
    }
    nd_append_info ai;
    if (nd_append(r->s, "race", 0, recs, (size_t)n, 0, &ai) != 0 ||
        ai.base_offset != next) {
      atomic_fetch_add(&r->errors, 1);
      return NULL;
    }
    next += n;
  }
  return NULL;
}

/* Every other read goes through nd_read_file (the broker's zero-copy
 * Fetch), copied out here with pread: its ranges must hold whole batches
 * below the high watermark just as nd_read's copies do. */
static int read_batches(nd_store *s, int64_t off, int through_file,
                        nd_batches *b) {
  if (!through_file)
    return nd_read(s, "race", 0, off, 4096, b);
  nd_file_range fr;
  int rc = nd_read_file(s, "race", 0, off, 4096, &fr);
  if (rc)
    return rc;
  memset(b, 0, sizeof *b);
  b->len = fr.len;
  b->data = malloc(fr.len ? fr.len : 1);
  if (fr.len && pread(fr.fd, b->data, fr.len, (off_t)fr.pos) != (ssize_t)fr.len)
    rc = -EIO;
  if (fr.fd >= 0)
    close(fr.fd);
  return rc;
}

static void *reader(void *arg) {
  struct race *r = arg;
  int64_t off = 0;
  unsigned calls = 0;
  while (off < TOTAL) {
    nd_batches b;
    if (read_batches(r->s, off, calls++ % 2, &b) != 0) {
      fprintf(stderr, "reader at %lld: %s\n", (long long)off, nd_errmsg());
      atomic_fetch_add(&r->errors, 1);
      return NULL;
    }
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    nd_record_view v;
    int rc;
    while ((rc = nd_iter_next(&it, &v)) == 1) {
      char want[24];
      int len = snprintf(want, sizeof want, "seq-%lld", (long long)off);
      if (v.offset != off || v.value_len != (size_t)len ||
          memcmp(v.value, want, (size_t)len)) {
        fprintf(stderr, "reader at %lld: got offset %lld\n", (long long)off,
                (long long)v.offset);
        atomic_fetch_add(&r->errors, 1);
        break;
      }
      off++;
    }
    if (rc < 0) {
      fprintf(stderr, "reader at %lld: %s\n", (long long)off, nd_errmsg());
      atomic_fetch_add(&r->errors, 1);
    }
    nd_iter_close(&it);
    nd_free(b.data);
    if (atomic_load(&r->errors))
      return NULL;
  }
  return NULL;
}

static void one_writer_many_readers(void) {
  char *dir = tmpdir_make("race");
  struct race r = {.s = open_store(dir)};
  CHECK(r.s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 64 * 1024; /* rolls while readers read */
  CHECK_OK(nd_topic_create(r.s, "race", 1, &cfg));
  pthread_t w, rd[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&rd[i], NULL, reader, &r);
  pthread_create(&w, NULL, writer, &r);
  pthread_join(w, NULL);
  for (int i = 0; i < 3; i++)
    pthread_join(rd[i], NULL);
  CHECK_EQ_I64(atomic_load(&r.errors), 0);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(r.s, "race", 0, &pi));
  CHECK_EQ_I64(pi.high_watermark, TOTAL);
  CHECK(pi.segment_count > 2);
  CHECK_OK(nd_close(r.s));
  tmpdir_remove(dir);
}

#define GC_THREADS 4
#define GC_APPENDS 150

static void *durable_appender(void *arg) {
  struct race *r = arg;
  for (int i = 0; i < GC_APPENDS; i++) {
    nd_record rec = {NULL, 0, "durable", 7, NULL, 0, ND_TIMESTAMP_NOW};
    nd_append_info ai;
    if (nd_append(r->s, "gc", 0, &rec, 1, 0, &ai) != 0) {
      atomic_fetch_add(&r->errors, 1);
      return NULL;
    }
    /* fsync=always: on return the record is below the recovery point. */
    nd_partition_info pi;
    if (nd_partition_describe(r->s, "gc", 0, &pi) != 0 ||
        pi.recovery_point <= ai.last_offset) {
      atomic_fetch_add(&r->errors, 1);
      return NULL;
    }
  }
  return NULL;
}

static void group_commit(void) {
  char *dir = tmpdir_make("gc");
  struct race r = {.s = open_store(dir)};
  CHECK(r.s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  CHECK_OK(nd_topic_create(r.s, "gc", 1, &cfg));
  uint64_t before = nd_test_sync_count();
  pthread_t t[GC_THREADS];
  for (int i = 0; i < GC_THREADS; i++)
    pthread_create(&t[i], NULL, durable_appender, &r);
  for (int i = 0; i < GC_THREADS; i++)
    pthread_join(t[i], NULL);
  uint64_t syncs = nd_test_sync_count() - before;
  CHECK_EQ_I64(atomic_load(&r.errors), 0);
  int64_t hw;
  CHECK_OK(nd_offsets(r.s, "gc", 0, NULL, &hw));
  CHECK_EQ_I64(hw, GC_THREADS * GC_APPENDS);
  /* Concurrent appenders share fdatasyncs: fewer syncs than appends. */
  fprintf(stderr, "group commit: %d appends, %llu fdatasyncs\n",
          GC_THREADS * GC_APPENDS, (unsigned long long)syncs);
  CHECK(syncs < (uint64_t)(GC_THREADS * GC_APPENDS));
  CHECK_OK(nd_close(r.s));
  tmpdir_remove(dir);
}

static void *churn_appender(void *arg) {
  struct race *r = arg;
  for (int i = 0; i < 3000; i++) {
    nd_record rec = {NULL, 0, "x", 1, NULL, 0, ND_TIMESTAMP_NOW};
    int rc = nd_append(r->s, "churn", 0, &rec, 1, 0, NULL);
    if (rc != 0 && rc != ND_ENOTOPIC)
      atomic_fetch_add(&r->errors, 1);
    nd_batches b;
    rc = nd_read(r->s, "churn", 0, 0, 1024, &b);
    if (rc == 0)
      nd_free(b.data);
    else if (rc != ND_ENOTOPIC && rc != ND_ERANGE)
      atomic_fetch_add(&r->errors, 1);
  }
  return NULL;
}

static void delete_while_in_use(void) {
  char *dir = tmpdir_make("churn");
  struct race r = {.s = open_store(dir)};
  CHECK(r.s);
  CHECK_OK(nd_topic_create(r.s, "churn", 1, NULL));
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, churn_appender, &r);
  for (int i = 0; i < 40; i++) {
    CHECK_OK(nd_topic_delete(r.s, "churn"));
    CHECK_OK(nd_topic_create(r.s, "churn", 1, NULL));
  }
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  CHECK_EQ_I64(atomic_load(&r.errors), 0);
  CHECK_OK(nd_close(r.s));
  /* No deleted topic directory is left behind. */
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "test $(ls '%s/topics' | wc -l) -eq 1", dir);
  CHECK(system(cmd) == 0);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(one_writer_many_readers);
  RUN(group_commit);
  RUN(delete_while_in_use);
  TEST_MAIN_END();
}
