/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kill -9 and power-loss torture for the library.
 *
 * Each round forks a writer that appends batches of random size to two
 * partitions of an fsync=always topic (small segments, so rolls happen)
 * and reports every acknowledged append on a pipe; a reader thread in the
 * writer checks every record it sees. The parent kills the writer with
 * SIGKILL at a random moment. In odd rounds it then also simulates a power
 * cut: everything after the last acknowledged batch of each partition is
 * cut at a random byte, optionally followed by zeros or garbage (a torn or
 * reordered write), since only fdatasync'd bytes are promised. Then the
 * store is reopened (recovery) and every acknowledged record must be there,
 * byte-identical, at its acknowledged offset, with dense offsets and no
 * record that does not match what was written at its offset.
 *
 * Values are a pure function of (partition, offset), so any surviving
 * record can be checked. Seed: ND_TORTURE_SEED (default: time), printed;
 * rounds: ND_TORTURE_ROUNDS (default 150).
 */
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "bytes.h"

#define PARTS 2

static size_t value_for(int p, int64_t off, char *buf, size_t cap) {
  /* Length varies with the offset, so batches have uneven sizes. */
  size_t len = 8 + (size_t)((off * 2654435761u + (unsigned)p) % 120);
  if (len > cap)
    len = cap;
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)('a' + (off * 31 + (int64_t)i * 7 + p) % 26);
  int n = snprintf(buf, len, "%d:%lld:", p, (long long)off);
  if (n > 0 && (size_t)n < len)
    buf[n] = '|';
  return len;
}

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static size_t part_value(void *ctx, int64_t off, char *buf, size_t cap) {
  return value_for(*(const int *)ctx, off, buf, cap);
}

/* Check every record of partition p below its high watermark, which must
 * start at 0. Returns the high watermark, or -1 on any mismatch. */
static int64_t verify_partition(nd_store *s, int p) {
  int64_t ls;
  int64_t hw = test_check_records(s, "t", p, part_value, &p, &ls);
  return hw >= 0 && ls != 0 ? -1 : hw;
}

static atomic_int reader_stop;

static void *reader_main(void *arg) {
  nd_store *s = arg;
  while (!atomic_load(&reader_stop))
    for (int p = 0; p < PARTS; p++)
      if (verify_partition(s, p) < 0)
        _exit(42); /* a reader saw a wrong record: the parent sees 42 */
  return NULL;
}

static void writer_main(const char *dir, int fd, unsigned seed) {
  nd_store *s = open_store(dir);
  if (!s)
    _exit(2);
  pthread_t reader;
  pthread_create(&reader, NULL, reader_main, s);
  for (;;) {
    int p = (int)(rand_r(&seed) % PARTS);
    int n = 1 + (int)(rand_r(&seed) % 20);
    int64_t hw;
    if (nd_offsets(s, "t", p, NULL, &hw) != 0)
      _exit(3);
    nd_record recs[20];
    static char vals[20][160];
    for (int i = 0; i < n; i++) {
      size_t len = value_for(p, hw + i, vals[i], sizeof vals[i]);
      recs[i] = (nd_record){NULL, 0, vals[i], len, NULL, 0, ND_TIMESTAMP_NOW};
    }
    nd_append_info ai;
    if (nd_append(s, "t", p, recs, (size_t)n, 0, &ai) != 0 ||
        ai.base_offset != hw)
      _exit(4);
    char line[64];
    int len =
        snprintf(line, sizeof line, "%d %lld\n", p, (long long)ai.last_offset);
    if (write(fd, line, (size_t)len) != len)
      _exit(5);
  }
}

/* The newest segment file of partition p (a power cut can only damage
 * what was written after the last fdatasync, which is in the newest file)
 * and the byte position up to which it holds acknowledged batches: just
 * after the batch holding `last`, or 0 if that batch is in an older
 * segment (then nothing of the newest file was acknowledged). */
static int64_t durable_end(const char *dir, int p, int64_t last, char *path) {
  char hash[65], pdir[PATH_MAX];
  nd_topic_dirname("t", hash);
  snprintf(pdir, sizeof pdir, "%s/topics/%s/%d", dir, hash, p);
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "ls %s | grep '\\.log$' | sort", pdir);
  FILE *ls = popen(cmd, "r");
  if (!ls)
    return -1;
  char name[64], newest[64] = "";
  while (fgets(name, sizeof name, ls)) {
    name[strcspn(name, "\n")] = 0;
    snprintf(newest, sizeof newest, "%s", name);
  }
  pclose(ls);
  if (!newest[0])
    return -1;
  snprintf(path, PATH_MAX, "%s/%s", pdir, newest);
  if (strtoll(newest, NULL, 10) > last)
    return 0;
  size_t len;
  uint8_t *data = read_file(path, &len);
  if (!data)
    return -1;
  int64_t pos = 0;
  while ((size_t)pos + ND_BATCH_HEADER_SIZE <= len) {
    size_t total = (size_t)be32(data + pos + 8) + ND_BATCH_LOG_OVERHEAD;
    int64_t end = batch_last_offset(data + pos);
    if ((size_t)pos + total > len)
      break;
    pos += (int64_t)total;
    if (end >= last) {
      free(data);
      return pos;
    }
  }
  free(data);
  return -1;
}

/* Damage everything after byte `keep` of path as a power cut might. */
static int power_cut(const char *path, int64_t keep, unsigned *seed) {
  size_t len;
  uint8_t *data = read_file(path, &len);
  if (!data)
    return -1;
  size_t cut = (size_t)keep;
  if (len > cut)
    cut += rand_r(seed) % (len - cut + 1);
  FILE *f = fopen(path, "wb");
  if (!f) {
    free(data);
    return -1;
  }
  fwrite(data, 1, cut, f);
  int mode = (int)(rand_r(seed) % 3);
  size_t extra = rand_r(seed) % 5000;
  for (size_t i = 0; mode && i < extra; i++)
    fputc(mode == 1 ? 0 : (int)(rand_r(seed) & 0xff), f);
  fclose(f);
  free(data);
  return 0;
}

static void torture(void) {
  const char *e = getenv("ND_TORTURE_SEED");
  unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
  e = getenv("ND_TORTURE_ROUNDS");
  int rounds = e ? atoi(e) : 150;
  fprintf(stderr, "torture: seed %u, %d rounds (ND_TORTURE_SEED=%u repeats)\n",
          seed, rounds, seed);
  char *dir = tmpdir_make("torture");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  cfg.segment_bytes = 16 * 1024;
  cfg.index_interval_bytes = 512;
  CHECK_OK(nd_topic_create(s, "t", PARTS, &cfg));
  CHECK_OK(nd_close(s));
  int64_t acked[PARTS] = {-1, -1};
  int kills = 0, cuts = 0;
  for (int round = 0; round < rounds; round++) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    unsigned child_seed = rand_r(&seed);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      writer_main(dir, fds[1], child_seed);
    }
    close(fds[1]);
    struct timespec nap = {0, (long)(1 + rand_r(&seed) % 40) * 1000000L};
    nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st)); /* not an early exit: 42 = a reader saw junk */
    kills++;
    FILE *in = fdopen(fds[0], "r");
    int p;
    long long last;
    while (fscanf(in, "%d %lld", &p, &last) == 2)
      if (p >= 0 && p < PARTS && last > acked[p])
        acked[p] = last;
    fclose(in);
    if (round % 2 == 1) {
      for (p = 0; p < PARTS; p++) {
        if (acked[p] < 0)
          continue;
        char path[PATH_MAX];
        int64_t keep = durable_end(dir, p, acked[p], path);
        CHECK(keep >= 0);
        CHECK_OK(power_cut(path, keep, &seed));
      }
      cuts++;
    }
    s = open_store(dir);
    CHECK(s);
    for (p = 0; p < PARTS; p++) {
      int64_t hw = verify_partition(s, p);
      if (hw < 0 || hw <= acked[p])
        fprintf(stderr, "round %d partition %d: hw %lld, acked up to %lld\n",
                round, p, (long long)hw, (long long)acked[p]);
      CHECK(hw > acked[p]);
      /* What recovery kept beyond the acknowledged end is acknowledged
       * from now on: the next round must keep it too. */
      acked[p] = hw - 1;
    }
    CHECK_OK(nd_close(s));
  }
  fprintf(stderr,
          "torture: %d kills, %d simulated power cuts, %lld + %lld "
          "records verified\n",
          kills, cuts, (long long)acked[0] + 1, (long long)acked[1] + 1);
  tmpdir_remove(dir);
}

/* ---- a compacted topic being cleaned ----------------------------------
 * The writer appends keyed records to a compacted topic "c" while a
 * thread cleans it in a loop (nd_clean, forced), and reports each
 * acknowledged record's offset and key. After each kill -9 the store is
 * reopened (recovery, including a cleaner swap cut short): every record
 * there must be the one written at its offset, offsets must increase, and
 * for every key the latest acknowledged record (or a later one of the
 * key) must still be there — a cleaning may drop superseded records,
 * never a survivor. */

#define CKEYS 16

static atomic_int cleaner_stop;

static void *cleaner_main(void *arg) {
  nd_store *s = arg;
  while (!atomic_load(&cleaner_stop))
    if (nd_clean(s, "c", 0, 0, ND_CLEAN_FORCE, NULL) != 0)
      _exit(43); /* the parent sees 43 */
  return NULL;
}

static void compact_writer(const char *dir, int fd, unsigned seed) {
  nd_store *s = open_store(dir);
  if (!s)
    _exit(2);
  pthread_t cleaner;
  pthread_create(&cleaner, NULL, cleaner_main, s);
  for (;;) {
    int64_t hw;
    if (nd_offsets(s, "c", 0, NULL, &hw) != 0)
      _exit(3);
    int key = (int)(rand_r(&seed) % CKEYS);
    char k[16], v[160];
    int kl = snprintf(k, sizeof k, "k%d", key);
    size_t vl = value_for(9, hw, v, sizeof v);
    nd_record r = {k, (size_t)kl, v, vl, NULL, 0, ND_TIMESTAMP_NOW};
    nd_append_info ai;
    if (nd_append(s, "c", 0, &r, 1, 0, &ai) != 0 || ai.base_offset != hw)
      _exit(4);
    char line[64];
    int len = snprintf(line, sizeof line, "%lld %d\n", (long long)hw, key);
    if (write(fd, line, (size_t)len) != len)
      _exit(5);
  }
}

/* Every record of "c" is the one written at its offset, in increasing
 * order; for each key k, latest[k] (-1: none acknowledged) or a later
 * record of k must be there. *seen gets the records, *end the high
 * watermark. */
static int verify_compacted(nd_store *s, const int64_t *latest, int64_t *seen,
                            int64_t *end) {
  int64_t ls, hw, off, prev = -1;
  *seen = 0;
  int found[CKEYS] = {0};
  if (nd_offsets(s, "c", 0, &ls, &hw) != 0)
    return -1;
  *end = hw;
  for (off = ls; off < hw;) {
    nd_batches b;
    if (nd_read(s, "c", 0, off, 1 << 16, &b) != 0)
      return -1;
    if (!b.len) {
      nd_free(b.data);
      break;
    }
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    int bad = 0;
    while (!bad && nd_iter_next(&it, &v) == 1) {
      char want[160];
      size_t n = value_for(9, v.offset, want, sizeof want);
      char kb[16] = "";
      if (v.key && v.key_len < sizeof kb)
        memcpy(kb, v.key, v.key_len);
      int key = kb[0] == 'k' ? atoi(kb + 1) : -1;
      bad = v.offset <= prev || v.value_len != n || memcmp(v.value, want, n) ||
            key < 0 || key >= CKEYS;
      /* A later record of the key may be there, written but killed
       * before it was reported: it supersedes the acknowledged one. */
      if (!bad && latest[key] >= 0 && v.offset >= latest[key])
        found[key] = 1;
      ++*seen;
      prev = v.offset;
    }
    nd_iter_close(&it);
    off = b.next_offset;
    nd_free(b.data);
    if (bad) {
      fprintf(stderr, "compacted: wrong record at offset %lld\n",
              (long long)prev);
      return -1;
    }
  }
  for (int k = 0; k < CKEYS; k++)
    if (latest[k] >= 0 && !found[k]) {
      fprintf(stderr, "compacted: key %d's latest record %lld is gone\n", k,
              (long long)latest[k]);
      return -1;
    }
  return 0;
}

static void torture_compacted(void) {
  const char *e = getenv("ND_TORTURE_SEED");
  unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
  e = getenv("ND_TORTURE_ROUNDS");
  int rounds = (e ? atoi(e) : 150) / 3;
  fprintf(stderr, "torture compacted: seed %u, %d rounds\n", seed, rounds);
  char *dir = tmpdir_make("torture-compact");
  nd_store *s = open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  cfg.segment_bytes = 4 * 1024;
  cfg.index_interval_bytes = 512;
  cfg.cleanup_policy = ND_CLEANUP_COMPACT;
  cfg.min_cleanable_dirty_ratio = 0;
  CHECK_OK(nd_topic_create(s, "c", 1, &cfg));
  CHECK_OK(nd_close(s));
  int64_t latest[CKEYS];
  for (int k = 0; k < CKEYS; k++)
    latest[k] = -1;
  long long records = 0;
  int64_t last_seen = 0, last_end = 0;
  for (int round = 0; round < rounds; round++) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    unsigned child_seed = rand_r(&seed);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      compact_writer(dir, fds[1], child_seed);
    }
    close(fds[1]);
    struct timespec nap = {0, (long)(5 + rand_r(&seed) % 60) * 1000000L};
    nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st)); /* 43: nd_clean failed; 4: an append did */
    FILE *in = fdopen(fds[0], "r");
    long long off;
    int key;
    while (fscanf(in, "%lld %d", &off, &key) == 2)
      if (key >= 0 && key < CKEYS && off > latest[key]) {
        latest[key] = off;
        records++;
      }
    fclose(in);
    s = open_store(dir);
    CHECK(s);
    int64_t seen, end;
    CHECK_OK(verify_compacted(s, latest, &seen, &end));
    CHECK_OK(nd_close(s));
    if (nd_test_current_failed)
      break;
    last_seen = seen;
    last_end = end;
  }
  fprintf(stderr,
          "torture compacted: %lld records acknowledged, %lld of %lld "
          "offsets left\n",
          records, (long long)last_seen, (long long)last_end);
  /* The cleaner did run: offsets were removed. */
  CHECK(last_seen < last_end);
  tmpdir_remove(dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(torture);
  RUN(torture_compacted);
  TEST_MAIN_END();
}
