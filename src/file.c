/*
 * file.c — the engine's only layer of file-system calls (see file.h).
 */
#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAULT_KINDS 4
static _Atomic int fault_countdown[FAULT_KINDS] = {-1, -1, -1, -1};
static _Atomic int fault_err[FAULT_KINDS];
static _Atomic size_t fault_partial;
static _Atomic uint64_t sync_calls;

uint64_t file_sync_count(void) {
  return atomic_load(&sync_calls);
}

void file_fault_set(enum file_fault_kind kind, int countdown, int err,
                    size_t partial) {
  atomic_store(&fault_err[kind], err);
  atomic_store(&fault_partial, partial);
  atomic_store(&fault_countdown[kind], countdown);
}

void file_fault_clear(void) {
  for (int k = 0; k < FAULT_KINDS; k++)
    atomic_store(&fault_countdown[k], -1);
}

/* 0: proceed; otherwise the errno to fail with. The countdown reaches -1
 * after firing once, so a fault is one-shot. */
static int fault_hit(enum file_fault_kind kind) {
  int c = atomic_load_explicit(&fault_countdown[kind], memory_order_relaxed);
  if (c < 0)
    return 0;
  c = atomic_fetch_sub(&fault_countdown[kind], 1);
  if (c == 0)
    return atomic_load(&fault_err[kind]);
  if (c < 0)
    atomic_store(&fault_countdown[kind], -1);
  return 0;
}

static int write_faulted(int fd, const void *buf, size_t len, off_t off,
                         int positional) {
  int err = fault_hit(FILE_FAULT_WRITE);
  if (!err)
    return 0;
  size_t part = atomic_load(&fault_partial);
  if (part > len)
    part = len;
  if (part) {
    ssize_t n = positional ? pwrite(fd, buf, part, off) : write(fd, buf, part);
    (void)n;
  }
  return err;
}

int file_create(const char *path, int flags) {
  int err = fault_hit(FILE_FAULT_CREATE);
  if (err)
    return -err;
  int fd = open(path, flags | O_CREAT | O_CLOEXEC, 0644);
  return fd >= 0 ? fd : -errno;
}

void *file_map(int fd, size_t len, int writable) {
  int err = fault_hit(FILE_FAULT_MAP);
  if (err) {
    errno = err;
    return NULL;
  }
  void *m = mmap(NULL, len, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                 MAP_SHARED, fd, 0);
  return m == MAP_FAILED ? NULL : m;
}

int file_write_all(int fd, const void *buf, size_t len) {
  int err = write_faulted(fd, buf, len, 0, 0);
  if (err)
    return -err;
  const char *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      return -EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int file_pwrite_all(int fd, const void *buf, size_t len, off_t off) {
  int err = write_faulted(fd, buf, len, off, 1);
  if (err)
    return -err;
  const char *p = buf;
  while (len) {
    ssize_t n = pwrite(fd, p, len, off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      return -EIO;
    p += n;
    off += n;
    len -= (size_t)n;
  }
  return 0;
}

ssize_t file_pread_full(int fd, void *buf, size_t len, off_t off) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

int file_datasync(int fd) {
  atomic_fetch_add_explicit(&sync_calls, 1, memory_order_relaxed);
  int err = fault_hit(FILE_FAULT_SYNC);
  if (err)
    return -err;
  while (fdatasync(fd) != 0) {
    if (errno != EINTR)
      return -errno;
  }
  return 0;
}

int file_truncate(int fd, off_t len) {
  while (ftruncate(fd, len) != 0) {
    if (errno != EINTR)
      return -errno;
  }
  return 0;
}

int file_sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int rc = file_datasync(fd);
  close(fd);
  return rc;
}

static void dirname_of(const char *path, char *out, size_t cap) {
  snprintf(out, cap, "%s", path);
  char *slash = strrchr(out, '/');
  if (!slash)
    snprintf(out, cap, ".");
  else if (slash == out)
    out[1] = '\0';
  else
    *slash = '\0';
}

static int write_tmp_and_rename(const char *path, const void *data, size_t len,
                                int durable) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  int rc = file_write_all(fd, data, len);
  if (rc == 0 && durable)
    rc = file_datasync(fd);
  close(fd);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = -errno;
  if (rc != 0)
    unlink(tmp);
  return rc;
}

int file_write_replace(const char *path, const void *data, size_t len) {
  return write_tmp_and_rename(path, data, len, 0);
}

int file_sync_fs(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int err = fault_hit(FILE_FAULT_SYNC);
  int rc = err ? -err : (syncfs(fd) == 0 ? 0 : -errno);
  atomic_fetch_add_explicit(&sync_calls, 1, memory_order_relaxed);
  close(fd);
  return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len) {
  int rc = write_tmp_and_rename(path, data, len, 1);
  if (rc)
    return rc;
  char dir[PATH_MAX];
  dirname_of(path, dir, sizeof dir);
  return file_sync_dir(dir);
}

int file_read_all(const char *path, char **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  ssize_t n = file_pread_full(fd, buf, size, 0);
  close(fd);
  if (n < 0) {
    free(buf);
    return (int)n;
  }
  buf[n] = '\0';
  *out = buf;
  if (len)
    *len = (size_t)n;
  return 0;
}

int file_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISDIR(st.st_mode))
    return unlink(path) == 0 ? 0 : -errno;
  DIR *d = opendir(path);
  if (!d)
    return -errno;
  int rc = 0;
  struct dirent *e;
  char child[PATH_MAX];
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >=
        (int)sizeof child) {
      rc = -ENAMETOOLONG;
      continue;
    }
    int r = file_remove_tree(child);
    if (r && !rc)
      rc = r;
  }
  closedir(d);
  if (rmdir(path) != 0 && !rc)
    rc = -errno;
  return rc;
}
