/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomic_file.c — the broker's own small state file (broker.conf; the
 * producer id counter is the library's now) replaced whole: write a
 * temporary beside the file, fdatasync it, rename it over the file, fsync
 * the directory. A crash at any point leaves the old file or the new one,
 * never a mix; the directory fsync makes the rename itself survive power
 * loss. (libnodata has the same for its own files, but the broker uses
 * only the public header.)
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static int fsync_parent(const char *path) {
  char copy[PATH_MAX];
  if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
    return -ENAMETOOLONG;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int rc = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

int broker_write_atomic(const char *path, const void *data, size_t len) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  int rc = write_all(fd, data, len);
  if (rc == 0 && fdatasync(fd) != 0)
    rc = -errno;
  if (close(fd) != 0 && rc == 0)
    rc = -errno;
  if (rc == 0 && rename(tmp, path) != 0)
    rc = -errno;
  if (rc != 0) {
    unlink(tmp);
    return rc;
  }
  return fsync_parent(path);
}
