/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptor and mapping bounds: many partitions under a small descriptor
 * limit, both the store's own bound and the process's RLIMIT_NOFILE, and
 * under a small bound on index mappings (vm.max_map_count's stand-in). */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Append to and read back every partition, round robin, several times. */
static int churn(nd_store *s, const char *topic, int parts, int rounds) {
  for (int r = 0; r < rounds; r++)
    for (int p = 0; p < parts; p++) {
      char v[32];
      int n = snprintf(v, sizeof v, "p%d-r%d", p, r);
      nd_record rec = {NULL, 0, v, (size_t)n, NULL, 0, ND_TIMESTAMP_NOW};
      nd_append_info ai;
      if (nd_append(s, topic, p, &rec, 1, 0, &ai) != 0 || ai.base_offset != r)
        return fprintf(stderr, "append p%d r%d: %s\n", p, r, nd_errmsg()), -1;
      nd_batches b;
      if (nd_read(s, topic, p, r, 100, &b) != 0)
        return fprintf(stderr, "read p%d r%d: %s\n", p, r, nd_errmsg()), -1;
      nd_iter it;
      nd_record_view view;
      nd_iter_init(&it, b.data, b.len, r, NULL);
      int ok = nd_iter_next(&it, &view) == 1 && view.value_len == (size_t)n &&
               !memcmp(view.value, v, (size_t)n);
      nd_iter_close(&it);
      nd_free(b.data);
      if (!ok)
        return fprintf(stderr, "wrong record p%d r%d\n", p, r), -1;
    }
  return 0;
}

static void store_bound(void) {
  char *dir = tmpdir_make("fdbound");
  nd_options o = {.no_background = 1, .max_open_files = 8};
  nd_store *s;
  int before = test_open_fds();
  CHECK_OK(nd_open(dir, &o, &s));
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 200; /* several segments per partition */
  CHECK_OK(nd_topic_create(s, "wide", 60, &cfg));
  CHECK_OK(churn(s, "wide", 60, 4));
  /* The store holds its directory and lock file (both locked), the
   * offsets log, the transactions log and at most 8 logs. */
  int during = test_open_fds() - before;
  fprintf(stderr, "descriptors held with 60 partitions, bound 8: %d\n", during);
  CHECK(during <= 8 + 4);
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(test_open_fds(), before);
  /* Reopen (clean) and read everything back through the bound. */
  CHECK_OK(nd_open(dir, &o, &s));
  for (int p = 0; p < 60; p++) {
    int64_t hw;
    CHECK_OK(nd_offsets(s, "wide", p, NULL, &hw));
    CHECK_EQ_I64(hw, 4);
  }
  CHECK(test_open_fds() - before <= 8 + 4);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Mappings of this store's index files in /proc/self/maps. */
static int index_maps(const char *dir) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f)
    return -1;
  char line[8192];
  int n = 0;
  while (fgets(line, sizeof line, f))
    n += strstr(line, dir) && strstr(line, "index");
  fclose(f);
  return n;
}

/* Every index entry a lookup or an append needs is mapped on demand and
 * idle ones are unmapped: 60 partitions with several indexed segments each
 * never hold more than the bound. */
static void map_bound(void) {
  char *dir = tmpdir_make("mapbound");
  nd_options o = {.no_background = 1, .max_mapped_indexes = 8};
  nd_store *s;
  CHECK_OK(nd_open(dir, &o, &s));
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 400;      /* several segments per partition */
  cfg.index_interval_bytes = 1; /* an entry for every batch but the first */
  CHECK_OK(nd_topic_create(s, "wide", 60, &cfg));
  int after_create = index_maps(dir);
  CHECK_OK(churn(s, "wide", 60, 6));
  int during = index_maps(dir);
  fprintf(stderr,
          "index mappings with 60 partitions, bound 8: %d after "
          "create, %d after appends and reads\n",
          after_create, during);
  CHECK(after_create <= 8);
  CHECK(during <= 8);
  CHECK_OK(nd_close(s));
  CHECK_EQ_I64(index_maps(dir), 0);
  /* Reopen (clean) and look every record up through the bound. */
  CHECK_OK(nd_open(dir, &o, &s));
  for (int p = 0; p < 60; p++)
    for (int r = 0; r < 6; r++) {
      nd_batches b;
      CHECK_OK(nd_read(s, "wide", p, r, 1, &b));
      CHECK(b.len > 0 && b.next_offset == r + 1);
      nd_free(b.data);
    }
  CHECK(index_maps(dir) <= 8);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void process_limit(void) {
  /* The descriptor logic does not depend on the file system, and 10,000
   * partitions cost minutes of metadata I/O on a slow disk: use tmpfs
   * when there is one. */
  const char *old_tmp = getenv("TMPDIR");
  char *saved = old_tmp ? strdup(old_tmp) : NULL;
  if (access("/dev/shm", W_OK) == 0)
    setenv("TMPDIR", "/dev/shm", 1);
  char *dir = tmpdir_make("rlimit");
  if (saved) {
    setenv("TMPDIR", saved, 1);
    free(saved);
  } else {
    unsetenv("TMPDIR");
  }
  CHECK(dir);
  pid_t pid = fork();
  if (pid == 0) {
    /* 10,000 partitions with 1,024 descriptors for the whole process. */
    struct rlimit rl = {1024, 1024};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      _exit(10);
    nd_options o = {.no_background = 1};
    nd_store *s;
    if (nd_open(dir, &o, &s) != 0)
      _exit(11);
    if (nd_topic_create(s, "many", 10000, NULL) != 0) {
      fprintf(stderr, "create: %s\n", nd_errmsg());
      _exit(12);
    }
    if (churn(s, "many", 10000, 2) != 0)
      _exit(13);
    if (nd_close(s) != 0)
      _exit(14);
    if (nd_open(dir, &o, &s) != 0)
      _exit(15);
    int64_t hw;
    if (nd_offsets(s, "many", 9999, NULL, &hw) != 0 || hw != 2)
      _exit(16);
    _exit(nd_close(s) == 0 ? 0 : 17);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st));
  CHECK_EQ_I64(WEXITSTATUS(st), 0);
  tmpdir_remove(dir);
}

struct racer {
  nd_store *s;
  int id;
  _Atomic int errors;
};

/* Threads 0 and 1 read offsets spread over the partitions (lookups through
 * the indexes); threads 2 and 3 also append to their own partitions. */
static void *race_reads(void *arg) {
  struct racer *r = arg;
  for (int i = 0; i < 2000; i++) {
    int p = (i * 7 + r->id) % 40;
    if (r->id >= 2 && i % 4 == 0) {
      int q = (i / 4 % 10) * 4 + r->id; /* 2, 3, 6, 7...: never shared */
      nd_record rec = {NULL, 0, "y", 1, NULL, 0, ND_TIMESTAMP_NOW};
      if (nd_append(r->s, "race", q, &rec, 1, 0, NULL) != 0)
        atomic_fetch_add(&r->errors, 1);
    }
    nd_batches b;
    if (nd_read(r->s, "race", p, i % 20, 1000, &b) != 0 || b.len == 0)
      atomic_fetch_add(&r->errors, 1);
    nd_free(b.data);
  }
  return NULL;
}

/* Readers and writers on many threads force evictions of each other's
 * descriptors and index mappings. */
static void eviction_race(void) {
  char *dir = tmpdir_make("fdrace");
  nd_options o = {
      .no_background = 1, .max_open_files = 4, .max_mapped_indexes = 4};
  nd_store *s;
  CHECK_OK(nd_open(dir, &o, &s));
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 1000;
  cfg.index_interval_bytes = 1;
  CHECK_OK(nd_topic_create(s, "race", 40, &cfg));
  for (int p = 0; p < 40; p++)
    for (int i = 0; i < 20; i++) {
      nd_record rec = {NULL, 0, "x", 1, NULL, 0, ND_TIMESTAMP_NOW};
      CHECK_OK(nd_append(s, "race", p, &rec, 1, 0, NULL));
    }
  struct racer rs[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    rs[i] = (struct racer){.s = s, .id = i};
    pthread_create(&t[i], NULL, race_reads, &rs[i]);
  }
  int errors = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    errors += atomic_load(&rs[i].errors);
  }
  CHECK_EQ_I64(errors, 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(store_bound);
  RUN(map_bound);
  RUN(process_limit);
  RUN(eviction_race);
  TEST_MAIN_END();
}
