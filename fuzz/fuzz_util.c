/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_util.c — helpers shared by the fuzz targets (see fuzz.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "nodata.h"

#define MAX_SCRATCH 8

static char scratch[MAX_SCRATCH][PATH_MAX];
static int nscratch;

static void remove_scratch(void) {
  for (int i = 0; i < nscratch; i++)
    fuzz_rm_rf(scratch[i]);
}

const char *fuzz_scratch_dir(const char *tag) {
  FUZZ_CHECK(nscratch < MAX_SCRATCH);
  const char *root = "/dev/shm";
  struct stat st;
  if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode) || access(root, W_OK)) {
    root = getenv("TMPDIR");
    if (!root || !*root)
      root = "/tmp";
  }
  char *dir = scratch[nscratch];
  snprintf(dir, PATH_MAX, "%s/nodata-fuzz-%s-XXXXXX", root, tag);
  FUZZ_CHECK(mkdtemp(dir) != NULL);
  if (nscratch++ == 0)
    atexit(remove_scratch);
  return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int fuzz_rm_rf(const char *path) {
  if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    return -errno;
  return 0;
}

void fuzz_write_file(const char *path, const void *data, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FUZZ_CHECK(fd >= 0);
  const uint8_t *p = data;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    FUZZ_CHECK(w > 0);
    p += w;
    n -= (size_t)w;
  }
  FUZZ_CHECK(close(fd) == 0);
}

void fuzz_fix_batch_crcs(uint8_t *data, size_t n) {
  size_t pos = 0;
  while (n - pos >= 61) {
    uint8_t *p = data + pos;
    uint32_t len = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
                   (uint32_t)p[10] << 8 | p[11];
    if (len < 49 || len > n - pos - 12)
      return;
    uint32_t crc = nd_crc32c(0, p + 21, (size_t)len + 12 - 21);
    p[17] = (uint8_t)(crc >> 24);
    p[18] = (uint8_t)(crc >> 16);
    p[19] = (uint8_t)(crc >> 8);
    p[20] = (uint8_t)crc;
    pos += (size_t)len + 12;
  }
}

uint32_t fuzz_touch(const void *p, size_t n) {
  const volatile uint8_t *b = p;
  uint32_t h = 0;
  for (size_t i = 0; i < n; i++)
    h = h * 31 + b[i];
  return h;
}
