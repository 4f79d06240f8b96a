/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.c — the engine's only layer of file-system calls (see file.h).
 *
 * Each call passes two gates before it touches the file system: the fault
 * table (fail this call of this kind with a chosen errno) and, for a call
 * that changes something, the crash recorder (note how to undo it, or
 * refuse it once the simulated machine has stopped). Both are tests' tools
 * and cost a relaxed atomic load when unused.
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
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "file_crash.h"
#include "layout.h"

/* ---- fault table -------------------------------------------------------- */

static _Atomic int fault_countdown[FILE_FAULT_KINDS] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
static _Atomic int fault_err[FILE_FAULT_KINDS];
/* Per thread: counting is on every call's path (pread included), and a
 * shared counter would bounce its cache line between reader threads. */
static _Thread_local uint64_t fault_calls[FILE_FAULT_KINDS];
static _Atomic size_t fault_partial;
static _Atomic uint64_t sync_calls;

static const char *const fault_names[FILE_FAULT_KINDS] = {
    "write",  "sync",   "create", "map",  "open", "read", "truncate",
    "rename", "unlink", "mkdir",  "link", "stat", "lock"};

_Static_assert(sizeof fault_names / sizeof fault_names[0] == FILE_FAULT_KINDS,
               "a name for every fault kind");

const char *file_fault_name(enum file_fault_kind kind) {
  return (unsigned)kind < FILE_FAULT_KINDS ? fault_names[kind] : "?";
}

uint64_t file_sync_count(void) {
  return atomic_load(&sync_calls);
}

uint64_t file_fault_calls(enum file_fault_kind kind) {
  return (unsigned)kind < FILE_FAULT_KINDS ? fault_calls[kind] : 0;
}

void file_fault_set(enum file_fault_kind kind, int countdown, int err,
                    size_t partial) {
  if ((unsigned)kind >= FILE_FAULT_KINDS)
    return;
  atomic_store(&fault_err[kind], err);
  atomic_store(&fault_partial, partial);
  atomic_store(&fault_countdown[kind], countdown);
}

void file_fault_clear(void) {
  for (int k = 0; k < FILE_FAULT_KINDS; k++)
    atomic_store(&fault_countdown[k], -1);
}

/* 0: proceed; otherwise the errno to fail with. The countdown reaches -1
 * after firing once, so a fault is one-shot. */
static int fault_hit(enum file_fault_kind kind) {
  fault_calls[kind]++;
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

/* The gate of a call that changes the file system: a fault of its kind,
 * or a stopped (simulated) machine. */
static int change_gate(enum file_fault_kind kind) {
  int err = fault_hit(kind);
  if (!err && file_crash_recording())
    err = crash_gate();
  return err;
}

/* -err with errno set: every call's failure return. */
static int fail(int err) {
  errno = err;
  return -err;
}

static int fail_errno(void) {
  return fail(errno);
}

/* ---- descriptors -------------------------------------------------------- */

static int open_gated(enum file_fault_kind kind, const char *path, int flags) {
  int changes = (flags & (O_CREAT | O_TRUNC)) != 0;
  int err = changes ? change_gate(kind) : fault_hit(kind);
  if (err)
    return fail(err);
  if (!changes || !file_crash_recording()) {
    int fd = open(path, flags | O_CLOEXEC, 0644);
    return fd >= 0 ? fd : fail_errno();
  }
  /* Recording: a new name, and a truncation, are noted apart so a power
   * cut can undo each. */
  int existed = access(path, F_OK) == 0;
  int fd = open(path, (flags & ~O_TRUNC) | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail_errno();
  if (!existed)
    crash_note_create(path);
  else if (flags & O_TRUNC) {
    crash_note_truncate(fd, 0);
    if (ftruncate(fd, 0) != 0) {
      int e = errno;
      close(fd);
      return fail(e);
    }
  }
  return fd;
}

int file_open(const char *path, int flags) {
  return open_gated(FILE_FAULT_OPEN, path, flags);
}

int file_create(const char *path, int flags) {
  return open_gated(FILE_FAULT_CREATE, path, flags | O_CREAT);
}

void file_close(int fd) {
  if (fd >= 0)
    close(fd);
}

int file_dup(int fd) {
  int err = fault_hit(FILE_FAULT_OPEN);
  if (err)
    return fail(err);
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return d >= 0 ? d : fail_errno();
}

int file_stat(const char *path, struct stat *st) {
  int err = fault_hit(FILE_FAULT_STAT);
  if (err)
    return fail(err);
  return stat(path, st) == 0 ? 0 : fail_errno();
}

int file_fstat(int fd, struct stat *st) {
  int err = fault_hit(FILE_FAULT_STAT);
  if (err)
    return fail(err);
  return fstat(fd, st) == 0 ? 0 : fail_errno();
}

int file_exists(const char *path) {
  struct stat st;
  int rc = file_stat(path, &st);
  return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* ---- data --------------------------------------------------------------- */

static int write_faulted(int fd, const void *buf, size_t len, off_t off,
                         int positional) {
  int err = change_gate(FILE_FAULT_WRITE);
  if (!err)
    return 0;
  if (err != EIO || !file_crash_frozen()) {
    /* A disk filling mid-write leaves part of it (not so a dead machine). */
    size_t part = atomic_load(&fault_partial);
    if (part > len)
      part = len;
    if (part) {
      ssize_t n =
          positional ? pwrite(fd, buf, part, off) : write(fd, buf, part);
      (void)n;
    }
  }
  return err;
}

int file_write_all(int fd, const void *buf, size_t len) {
  int err = write_faulted(fd, buf, len, 0, 0);
  if (err)
    return fail(err);
  if (file_crash_recording())
    crash_note_write(fd, lseek(fd, 0, SEEK_CUR), len);
  const char *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno();
    }
    if (n == 0)
      return fail(EIO);
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int file_pwrite_all(int fd, const void *buf, size_t len, off_t off) {
  int err = write_faulted(fd, buf, len, off, 1);
  if (err)
    return fail(err);
  if (file_crash_recording())
    crash_note_write(fd, off, len);
  const char *p = buf;
  while (len) {
    ssize_t n = pwrite(fd, p, len, off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno();
    }
    if (n == 0)
      return fail(EIO);
    p += n;
    off += n;
    len -= (size_t)n;
  }
  return 0;
}

ssize_t file_pread_full(int fd, void *buf, size_t len, off_t off) {
  int err = fault_hit(FILE_FAULT_READ);
  if (err)
    return fail(err);
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail_errno();
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

int file_datasync(int fd) {
  atomic_fetch_add_explicit(&sync_calls, 1, memory_order_relaxed);
  int err = change_gate(FILE_FAULT_SYNC);
  if (err)
    return fail(err);
  while (fdatasync(fd) != 0) {
    if (errno != EINTR)
      return fail_errno();
  }
  if (file_crash_recording())
    crash_note_sync(fd);
  return 0;
}

int file_truncate(int fd, off_t len) {
  int err = change_gate(FILE_FAULT_TRUNCATE);
  if (err)
    return fail(err);
  if (file_crash_recording())
    crash_note_truncate(fd, len);
  while (ftruncate(fd, len) != 0) {
    if (errno != EINTR)
      return fail_errno();
  }
  return 0;
}

int file_sync_dir(const char *dir) {
  int fd = file_open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return fd;
  int rc = file_datasync(fd);
  close(fd);
  return rc ? fail(-rc) : 0;
}

int file_sync_fs(const char *dir) {
  int fd = file_open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return fd;
  atomic_fetch_add_explicit(&sync_calls, 1, memory_order_relaxed);
  int err = change_gate(FILE_FAULT_SYNC);
  int rc = err ? -err : (syncfs(fd) == 0 ? 0 : -errno);
  if (!rc && file_crash_recording())
    crash_note_syncfs();
  close(fd);
  return rc ? fail(-rc) : 0;
}

void *file_map(int fd, size_t len, int writable) {
  int err = writable ? change_gate(FILE_FAULT_MAP) : fault_hit(FILE_FAULT_MAP);
  if (err) {
    errno = err;
    return NULL;
  }
  if (writable && file_crash_recording())
    crash_note_map(fd, len);
  void *m = mmap(NULL, len, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                 MAP_SHARED, fd, 0);
  return m == MAP_FAILED ? NULL : m;
}

void *file_map_anon(size_t len) {
  int err = fault_hit(FILE_FAULT_MAP);
  if (err) {
    errno = err;
    return NULL;
  }
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

void file_unmap(void *map, size_t len) {
  if (map)
    munmap(map, len);
}

void file_advise_random(void *map, size_t len) {
  /* Advice only: a kernel that refuses it reads ahead as before. */
  (void)madvise(map, len, MADV_RANDOM);
}

/* ---- names -------------------------------------------------------------- */

int file_mkdir(const char *path) {
  int err = change_gate(FILE_FAULT_MKDIR);
  if (err)
    return fail(err);
  if (mkdir(path, 0755) != 0)
    return fail_errno();
  if (file_crash_recording())
    crash_note_mkdir(path);
  return 0;
}

int file_mkdir_p(const char *path) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return fail(ENAMETOOLONG);
  for (char *q = buf + 1; *q; q++) {
    if (*q != '/')
      continue;
    *q = '\0';
    int rc = file_mkdir(buf);
    if (rc && rc != -EEXIST)
      return rc;
    *q = '/';
  }
  int rc = file_mkdir(buf);
  return rc == -EEXIST ? 0 : rc;
}

int file_rename(const char *from, const char *to) {
  int err = change_gate(FILE_FAULT_RENAME);
  if (err)
    return fail(err);
  if (file_crash_recording())
    return crash_do_rename(from, to);
  return rename(from, to) == 0 ? 0 : fail_errno();
}

int file_link(const char *from, const char *to) {
  int err = change_gate(FILE_FAULT_LINK);
  if (err)
    return fail(err);
  if (link(from, to) != 0)
    return fail_errno();
  if (file_crash_recording())
    crash_note_link(to);
  return 0;
}

int file_unlink(const char *path) {
  int err = change_gate(FILE_FAULT_UNLINK);
  if (err)
    return fail(err);
  if (file_crash_recording())
    return crash_do_unlink(path);
  return unlink(path) == 0 ? 0 : fail_errno();
}

static int remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -errno;
  int err = change_gate(FILE_FAULT_UNLINK);
  if (err)
    return -err;
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
    int r = remove_tree(child);
    if (r && !rc)
      rc = r;
  }
  closedir(d);
  if (rmdir(path) != 0 && !rc)
    rc = -errno;
  return rc;
}

int file_remove_tree(const char *path) {
  if (file_crash_recording()) {
    /* One noted change, undone whole: the tree is kept aside. */
    int err = change_gate(FILE_FAULT_UNLINK);
    if (err)
      return fail(err);
    return crash_do_remove_tree(path);
  }
  int rc = remove_tree(path);
  return rc ? fail(-rc) : 0;
}

struct file_dir {
  DIR *d;
};

file_dir *file_dir_open(const char *dir) {
  int err = fault_hit(FILE_FAULT_OPEN);
  if (err) {
    errno = err;
    return NULL;
  }
  file_dir *fd = malloc(sizeof *fd);
  if (!fd) {
    errno = ENOMEM;
    return NULL;
  }
  if (!(fd->d = opendir(dir))) {
    int e = errno;
    free(fd);
    errno = e;
    return NULL;
  }
  return fd;
}

const char *file_dir_next(file_dir *d) {
  struct dirent *e;
  while ((e = readdir(d->d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      return e->d_name;
  return NULL;
}

void file_dir_close(file_dir *d) {
  if (!d)
    return;
  closedir(d->d);
  free(d);
}

int file_lock(int fd, int exclusive) {
  int err = fault_hit(FILE_FAULT_LOCK);
  if (err)
    return fail(err);
  while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    if (errno != EINTR)
      return fail_errno();
  }
  return 0;
}

void file_unlock(int fd) {
  (void)flock(fd, LOCK_UN);
}

/* ---- whole small files -------------------------------------------------- */

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
  if (snprintf(tmp, sizeof tmp, "%s" LAYOUT_TMP, path) >= (int)sizeof tmp)
    return -ENAMETOOLONG;
  int fd = file_open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0)
    return fd;
  int rc = file_write_all(fd, data, len);
  if (rc == 0 && durable)
    rc = file_datasync(fd);
  close(fd);
  if (rc == 0)
    rc = file_rename(tmp, path);
  if (rc != 0)
    file_unlink(tmp);
  return rc;
}

int file_write_replace(const char *path, const void *data, size_t len) {
  int rc = write_tmp_and_rename(path, data, len, 0);
  return rc ? fail(-rc) : 0;
}

int file_write_atomic(const char *path, const void *data, size_t len) {
  int rc = write_tmp_and_rename(path, data, len, 1);
  if (rc)
    return fail(-rc);
  char dir[PATH_MAX];
  dirname_of(path, dir, sizeof dir);
  return file_sync_dir(dir);
}

int file_read_all(const char *path, char **out, size_t *len) {
  int fd = file_open(path, O_RDONLY);
  if (fd < 0)
    return fd;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail(e);
  }
  /* /proc files say 0: read until EOF, growing the buffer. */
  size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, got = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      close(fd);
      return fail(ENOMEM);
    }
    ssize_t n = file_pread_full(fd, buf + got, cap - 1 - got, (off_t)got);
    if (n < 0) {
      close(fd);
      free(buf);
      return (int)n;
    }
    got += (size_t)n;
    if (got < cap - 1)
      break;
    char *nb = realloc(buf, cap * 2);
    if (!nb)
      free(buf);
    buf = nb;
    cap *= 2;
  }
  close(fd);
  buf[got] = '\0';
  *out = buf;
  if (len)
    *len = got;
  return 0;
}
