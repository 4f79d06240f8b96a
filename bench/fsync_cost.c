/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsync_cost.c — what one fdatasync costs on this disk, as a function of how
 * much was appended before it and of how the file's blocks came to be, and
 * from that the most group commit can gain here.
 *
 * A durable append is write + fdatasync; group commit lets one fdatasync
 * cover the appends of k writers. If a sync covering k batches costs T(k),
 * k writers reach at best k * T(1) / T(k) times one writer's rate, and less
 * by the CPU time between syncs. This measures that bound directly: one
 * thread appends k batches, then calls fdatasync, again and again (perfect
 * batching, nothing in between), for k = 1 and k = 4, in three kinds of
 * file:
 *
 *   extend     every append extends the file and its blocks are allocated
 *              at writeback: what nodata's .log and the bench's raw peer do;
 *   keep-size  blocks allocated 1 MiB ahead with
 *              fallocate(FALLOC_FL_KEEP_SIZE), which leaves the file's
 *              bytes and size as they are (a format-neutral option for the
 *              .log): the size still grows with every append, and on ext4
 *              the preallocated (unwritten) extents must be converted as
 *              the data reaches them;
 *   overwrite  the range was written with zeros and synced beforehand, so
 *              an append changes neither size nor allocation and the
 *              fdatasync writes data only (a .log would need a zero-filled
 *              tail for that: a change of the on-disk format).
 *
 * The six configurations run interleaved, rotated round by round, and the
 * medians are printed. Scheduler wake-up latency is part of every
 * fdatasync measured; on a loaded machine run it under `chrt -f 1` to see
 * the disk alone. Standalone: libc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { EXTEND, KEEP_SIZE, OVERWRITE, NMODES };
static const char *const mode_names[NMODES] = {"extend", "keep-size",
                                               "overwrite"};
static const int ks[] = {1, 4};
#define NK 2
#define NCONF (NMODES * NK)
/* How far ahead the keep-size file is allocated. */
#define KEEP_SIZE_STEP (1u << 20)
/* The overwrite file's zero-filled region; appends wrap around in it. */
#define OVERWRITE_SPAN (8u << 20)

typedef struct result {
  double rate;    /* appends per second */
  double sync_us; /* median fdatasync */
} result;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int pwrite_all(int fd, const char *p, size_t len, off_t off) {
  while (len) {
    ssize_t n = pwrite(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    off += n;
    len -= (size_t)n;
  }
  return 0;
}

/* An unlinked scratch file in dir, prepared for mode. */
static int scratch_file(const char *dir, enum mode m) {
  char path[4096];
  snprintf(path, sizeof path, "%s/fsync-cost.%ld.tmp", dir, (long)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  unlink(path);
  if (m == OVERWRITE) {
    static char zeros[1 << 16];
    for (off_t o = 0; o < (off_t)OVERWRITE_SPAN; o += (off_t)sizeof zeros)
      if (pwrite_all(fd, zeros, sizeof zeros, o) != 0) {
        close(fd);
        return -1;
      }
  }
  if (fsync(fd) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int run_one(const char *dir, enum mode m, int k, const char *batch,
                   size_t batch_len, uint64_t duration_ns, uint64_t *lat,
                   size_t lat_cap, result *out) {
  int fd = scratch_file(dir, m);
  if (fd < 0)
    return -1;
  uint64_t pos = 0, reserved = 0, appends = 0;
  size_t n = 0;
  uint64_t t0 = now_ns(), deadline = t0 + duration_ns;
  int rc = 0;
  while (now_ns() < deadline && n < lat_cap) {
    for (int i = 0; i < k && !rc; i++) {
      if (m == OVERWRITE && pos + batch_len > OVERWRITE_SPAN)
        pos = 0;
      if (m == KEEP_SIZE && pos + batch_len > reserved) {
        if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)pos,
                      (off_t)(batch_len + KEEP_SIZE_STEP)) == 0)
          reserved = pos + batch_len + KEEP_SIZE_STEP;
      }
      rc = pwrite_all(fd, batch, batch_len, (off_t)pos);
      pos += batch_len;
    }
    uint64_t a = now_ns();
    if (rc || fdatasync(fd) != 0) {
      rc = -1;
      break;
    }
    lat[n++] = now_ns() - a;
    appends += (uint64_t)k;
  }
  uint64_t el = now_ns() - t0;
  close(fd);
  if (rc || n == 0)
    return -1;
  qsort(lat, n, sizeof *lat, cmp_u64);
  out->rate = (double)appends / ((double)el / 1e9);
  out->sync_us = (double)lat[n / 2] / 1000.0;
  return 0;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void) {
  fprintf(stderr,
          "usage: nodata-fsync-cost [--dir DIR] [--batch BYTES] "
          "[--rounds N] [--ms MS]\n"
          "  one fdatasync after 1 and after 4 appended batches, in files\n"
          "  that extend, are preallocated (keep size) or are overwritten;\n"
          "  defaults: $TMPDIR or /tmp, 11000 bytes (100 records of 100 B),\n"
          "  7 rounds of 1000 ms per configuration\n");
}

int main(int argc, char **argv) {
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  size_t batch_len = 11000;
  int rounds = 7;
  long ms = 1000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      dir = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
      batch_len = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
      ms = atol(argv[++i]);
    else {
      usage();
      return 2;
    }
  }
  if (batch_len == 0 || batch_len > (1u << 20) || rounds < 1 || ms < 1) {
    usage();
    return 2;
  }
  char *batch = malloc(batch_len);
  size_t lat_cap = 1u << 20;
  uint64_t *lat = malloc(lat_cap * sizeof *lat);
  double *rate = malloc((size_t)(NCONF * rounds) * sizeof *rate);
  double *sync_us = malloc((size_t)(NCONF * rounds) * sizeof *sync_us);
  if (!batch || !lat || !rate || !sync_us) {
    fprintf(stderr, "nodata-fsync-cost: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < batch_len; i++)
    batch[i] = (char)(i * 131 + 7);
  printf("fdatasync after k appended batches of %zu bytes, %s, %d rounds of "
         "%ld ms\n",
         batch_len, dir, rounds, ms);
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < NCONF; j++) {
      int c = (r + j) % NCONF;
      result res;
      if (run_one(dir, (enum mode)(c / NK), ks[c % NK], batch, batch_len,
                  (uint64_t)ms * 1000000u, lat, lat_cap, &res) != 0) {
        fprintf(stderr, "nodata-fsync-cost: %s in %s: %s\n", mode_names[c / NK],
                dir, strerror(errno));
        return 1;
      }
      rate[c * rounds + r] = res.rate;
      sync_us[c * rounds + r] = res.sync_us;
    }
  }
  printf("%-10s %2s %12s %16s\n", "file", "k", "appends/s", "fdatasync p50 us");
  for (int m = 0; m < NMODES; m++) {
    double med[NK];
    for (int i = 0; i < NK; i++) {
      int c = m * NK + i;
      med[i] = median(rate + c * rounds, rounds);
      printf("%-10s %2d %12.0f %16.0f\n", mode_names[m], ks[i], med[i],
             median(sync_us + c * rounds, rounds));
    }
    printf("%-10s    ceiling of 4 writers / 1 writer: %.2fx\n", mode_names[m],
           med[1] / med[0]);
  }
  free(batch);
  free(lat);
  free(rate);
  free(sync_us);
  return 0;
}
