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

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(torture);
  TEST_MAIN_END();
}
