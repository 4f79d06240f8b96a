/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file_crash.c — the crash recorder (file.h, "crash recorder"): a power cut
 * simulated by undoing every change the file system was not told to keep.
 *
 * The model is POSIX's, not one file system's: a file's data is durable
 * after fdatasync of that file; a name (create, rename, link, unlink,
 * mkdir) after fsync of the directory holding it. Nothing else is assumed
 * to reach the disk — not the name of a new file whose data was synced,
 * not a rename whose source was synced, not a page of a mapping. This is
 * the model ALICE and SQLite's test_vfs test against, and the one under
 * which ext4 with delayed allocation loses a renamed-over file's data.
 *
 * Each change is noted, before it is made, with what undoes it: the old
 * bytes and size for a write or truncate (via a descriptor of the file's
 * own, so renames do not matter), the old pages for a writable mapping, a
 * hard link to a replaced or unlinked file kept in the backup directory, a
 * renamed-away tree for rm -rf. A sync marks the changes it covers as
 * durable. The cut undoes, newest first, a random suffix of each file's
 * undurable data changes (the first undone one possibly torn) and a random
 * suffix of the undurable name changes in their order (a journal keeps
 * metadata in order), all data before names so that undoing a write does
 * not depend on where the file's name ends up.
 *
 * Not the hot path: one mutex, linear lookups.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "file_crash.h"

enum op_kind {
  OP_WRITE,    /* data: old bytes at off, old size */
  OP_TRUNCATE, /* data: old size and the bytes cut off */
  OP_MAP,      /* data: the mapped range's old content */
  OP_CREATE,   /* name: a new file at path */
  OP_MKDIR,    /* name: a new directory at path */
  OP_LINK,     /* name: a new link at path */
  OP_RENAME,   /* name: path2 -> path, the replaced file kept as backup */
  OP_UNLINK,   /* name: path removed, kept as backup */
  OP_RMTREE    /* name: the tree at path, kept as backup */
};

typedef struct {
  dev_t dev;
  ino_t ino;
} ident;

typedef struct {
  enum op_kind kind;
  int durable;
  int file;      /* data ops: index into files */
  ident dir[2];  /* name ops: the directories whose sync makes it durable */
  int synced[2]; /* per directory; dir[1] unused (synced) unless a rename */
  off_t off;
  size_t len;
  off_t old_size;
  uint8_t *old; /* old bytes (OP_WRITE: at off; OP_TRUNCATE: from len) */
  size_t old_len;
  char *path, *path2, *backup;
} op;

typedef struct {
  ident id;
  int fd; /* our own descriptor, to undo through whatever the name */
} tracked;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int recording;
static _Atomic int frozen;
static _Atomic int64_t freeze_countdown = -1;
static char backup_dir[PATH_MAX];
static unsigned backup_seq;
static op *ops;
static size_t nops, capops;
static tracked *files;
static size_t nfiles, capfiles;

int file_crash_recording(void) {
  return atomic_load_explicit(&recording, memory_order_relaxed);
}

int file_crash_frozen(void) {
  return atomic_load(&frozen);
}

int crash_gate(void) {
  if (atomic_load(&frozen))
    return EIO;
  if (atomic_load(&freeze_countdown) >= 0 &&
      atomic_fetch_sub(&freeze_countdown, 1) == 0) {
    atomic_store(&frozen, 1);
    return EIO;
  }
  return 0;
}

void file_crash_freeze_after(uint64_t n) {
  if (n == 0)
    atomic_store(&frozen, 1);
  else
    atomic_store(&freeze_countdown, (int64_t)n);
}

/* ---- noting ------------------------------------------------------------- */

static op *op_add(enum op_kind kind) {
  if (nops == capops) {
    size_t cap = capops ? capops * 2 : 256;
    op *n = realloc(ops, cap * sizeof *n);
    if (!n)
      return NULL;
    ops = n;
    capops = cap;
  }
  op *o = &ops[nops++];
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->file = -1;
  o->synced[1] = 1;
  return o;
}

/* The tracked file of fd (our own descriptor is opened on first sight). */
static int file_of(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return -1;
  for (size_t i = 0; i < nfiles; i++)
    if (files[i].id.dev == st.st_dev && files[i].id.ino == st.st_ino)
      return (int)i;
  if (nfiles == capfiles) {
    size_t cap = capfiles ? capfiles * 2 : 64;
    tracked *n = realloc(files, cap * sizeof *n);
    if (!n)
      return -1;
    files = n;
    capfiles = cap;
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  int own = open(proc, O_RDWR | O_CLOEXEC);
  if (own < 0)
    return -1;
  files[nfiles] = (tracked){{st.st_dev, st.st_ino}, own};
  return (int)nfiles++;
}

static ident dir_ident(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  struct stat st;
  ident id = {0, 0};
  if (stat(dir, &st) == 0)
    id = (ident){st.st_dev, st.st_ino};
  return id;
}

/* Old bytes of the tracked file f in [off, off + len), as many as exist. */
static uint8_t *old_bytes(int f, off_t off, size_t len, size_t *got) {
  *got = 0;
  uint8_t *b = len ? malloc(len) : NULL;
  if (!b)
    return NULL;
  ssize_t n = pread(files[f].fd, b, len, off);
  *got = n > 0 ? (size_t)n : 0;
  return b;
}

static off_t size_of(int f) {
  struct stat st;
  return fstat(files[f].fd, &st) == 0 ? st.st_size : 0;
}

void crash_note_write(int fd, off_t off, size_t len) {
  pthread_mutex_lock(&lock);
  int f = file_of(fd);
  op *o = f >= 0 ? op_add(OP_WRITE) : NULL;
  if (o) {
    o->file = f;
    o->off = off;
    o->len = len;
    o->old_size = size_of(f);
    o->old = old_bytes(f, off, len, &o->old_len);
  }
  pthread_mutex_unlock(&lock);
}

void crash_note_truncate(int fd, off_t len) {
  pthread_mutex_lock(&lock);
  int f = file_of(fd);
  op *o = f >= 0 ? op_add(OP_TRUNCATE) : NULL;
  if (o) {
    o->file = f;
    o->off = len;
    o->old_size = size_of(f);
    if (o->old_size > len)
      o->old = old_bytes(f, len, (size_t)(o->old_size - len), &o->old_len);
  }
  pthread_mutex_unlock(&lock);
}

void crash_note_map(int fd, size_t len) {
  pthread_mutex_lock(&lock);
  int f = file_of(fd);
  op *o = f >= 0 ? op_add(OP_MAP) : NULL;
  if (o) {
    o->file = f;
    o->len = len;
    o->old_size = size_of(f);
    o->old = old_bytes(f, 0, len, &o->old_len);
  }
  pthread_mutex_unlock(&lock);
}

static void note_name(enum op_kind kind, const char *path) {
  pthread_mutex_lock(&lock);
  op *o = op_add(kind);
  if (o) {
    o->dir[0] = dir_ident(path);
    o->path = strdup(path);
  }
  pthread_mutex_unlock(&lock);
}

void crash_note_create(const char *path) {
  note_name(OP_CREATE, path);
}

void crash_note_mkdir(const char *path) {
  note_name(OP_MKDIR, path);
}

void crash_note_link(const char *to) {
  note_name(OP_LINK, to);
}

/* A new name in the backup directory (lock held). */
static char *backup_name(void) {
  char b[PATH_MAX];
  snprintf(b, sizeof b, "%s/%u", backup_dir, backup_seq++);
  return strdup(b);
}

int crash_do_rename(const char *from, const char *to) {
  pthread_mutex_lock(&lock);
  struct stat st;
  char *backup = NULL;
  /* A file renamed over comes back if the rename is lost. */
  if (lstat(to, &st) == 0 && !S_ISDIR(st.st_mode)) {
    backup = backup_name();
    if (backup && link(to, backup) != 0) {
      free(backup);
      backup = NULL;
    }
  }
  int rc = rename(from, to) == 0 ? 0 : -errno;
  op *o = rc ? NULL : op_add(OP_RENAME);
  if (o) {
    o->dir[0] = dir_ident(to);
    o->dir[1] = dir_ident(from);
    o->synced[1] = 0;
    o->path = strdup(to);
    o->path2 = strdup(from);
    o->backup = backup;
  } else if (backup) {
    unlink(backup);
    free(backup);
  }
  pthread_mutex_unlock(&lock);
  if (rc)
    errno = -rc;
  return rc;
}

static int do_kept(enum op_kind kind, const char *path) {
  pthread_mutex_lock(&lock);
  char *backup = backup_name();
  int rc = -ENOMEM;
  if (backup) {
    /* Kept aside instead of removed: a lost unlink brings it back. */
    if (kind == OP_UNLINK) {
      struct stat st;
      rc = lstat(path, &st) != 0     ? -errno
           : S_ISDIR(st.st_mode)     ? -EISDIR
           : link(path, backup) != 0 ? -errno
           : unlink(path) != 0       ? -errno
                                     : 0;
    } else {
      rc = rename(path, backup) == 0 ? 0 : errno == ENOENT ? 1 : -errno;
    }
  }
  op *o = rc == 0 ? op_add(kind) : NULL;
  if (o) {
    o->dir[0] = dir_ident(path);
    o->path = strdup(path);
    o->backup = backup;
  } else {
    free(backup);
  }
  pthread_mutex_unlock(&lock);
  if (rc < 0)
    errno = -rc;
  return rc < 0 ? rc : 0;
}

int crash_do_unlink(const char *path) {
  return do_kept(OP_UNLINK, path);
}

int crash_do_remove_tree(const char *path) {
  return do_kept(OP_RMTREE, path);
}

void crash_note_sync(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return;
  ident id = {st.st_dev, st.st_ino};
  int is_dir = S_ISDIR(st.st_mode);
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < nops; i++) {
    op *o = &ops[i];
    if (o->durable)
      continue;
    if (!is_dir && o->file >= 0 && files[o->file].id.dev == id.dev &&
        files[o->file].id.ino == id.ino)
      o->durable = 1;
    if (is_dir && o->file < 0) {
      for (int k = 0; k < 2; k++)
        if (o->dir[k].dev == id.dev && o->dir[k].ino == id.ino)
          o->synced[k] = 1;
      o->durable = o->synced[0] && o->synced[1];
    }
  }
  pthread_mutex_unlock(&lock);
}

void crash_note_syncfs(void) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < nops; i++)
    ops[i].durable = 1;
  pthread_mutex_unlock(&lock);
}

/* ---- the cut ------------------------------------------------------------ */

static void forget_all(void) {
  for (size_t i = 0; i < nops; i++) {
    free(ops[i].old);
    free(ops[i].path);
    free(ops[i].path2);
    free(ops[i].backup);
  }
  free(ops);
  ops = NULL;
  nops = capops = 0;
  for (size_t i = 0; i < nfiles; i++)
    close(files[i].fd);
  free(files);
  files = NULL;
  nfiles = capfiles = 0;
}

int file_crash_record(const char *dir) {
  pthread_mutex_lock(&lock);
  forget_all();
  int rc = snprintf(backup_dir, sizeof backup_dir, "%s", dir) <
                   (int)sizeof backup_dir
               ? 0
               : -ENAMETOOLONG;
  backup_seq = 0;
  atomic_store(&frozen, 0);
  atomic_store(&freeze_countdown, -1);
  atomic_store(&recording, rc == 0);
  pthread_mutex_unlock(&lock);
  return rc;
}

void file_crash_stop(void) {
  pthread_mutex_lock(&lock);
  atomic_store(&recording, 0);
  atomic_store(&frozen, 0);
  atomic_store(&freeze_countdown, -1);
  forget_all();
  pthread_mutex_unlock(&lock);
}

static void pwrite_quiet(int fd, const void *b, size_t len, off_t off) {
  if (len && pwrite(fd, b, len, off) != (ssize_t)len) {
    /* The test's own files on a healthy disk: nothing to do but go on. */
  }
}

static void truncate_quiet(int fd, off_t len) {
  if (ftruncate(fd, len) != 0) {
    /* as above */
  }
}

static const char *const kind_names[] = {"write",  "truncate", "map",
                                         "create", "mkdir",    "link",
                                         "rename", "unlink",   "rmtree"};

/* ND_CRASH_DEBUG=1 in the environment: what the cut undoes, on stderr. */
static void debug_op(const char *what, const op *o) {
  static int on = -1;
  if (on < 0)
    on = getenv("ND_CRASH_DEBUG") != NULL;
  if (!on)
    return;
  char proc[64], path[PATH_MAX] = "?";
  if (o->file >= 0) {
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", files[o->file].fd);
    ssize_t n = readlink(proc, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
  }
  fprintf(stderr,
          "crash: %s %s %s%s%s off %lld len %zu (old size %lld, %zu bytes "
          "kept)\n",
          what, kind_names[o->kind], o->file >= 0 ? path : o->path,
          o->path2 ? " from " : "", o->path2 ? o->path2 : "", (long long)o->off,
          o->len, (long long)o->old_size, o->old_len);
}

/* Undo a write, keeping its first `keep` bytes (a torn write). */
static void undo_write(const op *o, int fd, size_t keep) {
  if (keep < o->old_len)
    pwrite_quiet(fd, o->old + keep, o->old_len - keep, o->off + (off_t)keep);
  off_t kept_end = o->off + (off_t)keep;
  truncate_quiet(fd, kept_end > o->old_size ? kept_end : o->old_size);
}

static void undo_map(const op *o, int fd, unsigned *seed, uint64_t *pages) {
  /* Each page of the mapping reached the disk or not, on its own. */
  const size_t page = 4096;
  for (size_t at = 0; at < o->old_len; at += page) {
    if (rand_r(seed) % 2)
      continue;
    size_t n = o->old_len - at < page ? o->old_len - at : page;
    pwrite_quiet(fd, o->old + at, n, (off_t)at);
    (*pages)++;
  }
}

/* Lost bytes of an extending write that read back as zeros: the size
 * reached the disk, the data did not (XFS, ext4 without auto_da_alloc).
 * Only past what was durable. Stale data from other files (ext4
 * data=writeback) is not modelled: a garbage tail of the .log is
 * test_torture's, and a hint file holding digits it was never given
 * would be a file system bug, not a power cut. */
static void zero_fill(int fd, off_t from, off_t to) {
  static const uint8_t zeros[4096];
  for (off_t at = from; at < to;) {
    size_t n =
        (size_t)(to - at) < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
    pwrite_quiet(fd, zeros, n, at);
    at += (off_t)n;
  }
}

static void cut_file(int f, unsigned *seed, file_crash_stats *st) {
  size_t m = 0;
  for (size_t i = 0; i < nops; i++)
    m += ops[i].file == f && !ops[i].durable;
  size_t *idx = m ? malloc(m * sizeof *idx) : NULL;
  if (!idx)
    return;
  m = 0;
  for (size_t i = 0; i < nops; i++)
    if (ops[i].file == f && !ops[i].durable)
      idx[m++] = i;
  size_t keep = (size_t)rand_r(seed) % (m + 1); /* ops kept whole */
  if (keep == m) {
    free(idx);
    return;
  }
  int fd = files[f].fd;
  off_t durable_size = ops[idx[0]].old_size, lost_end = 0;
  for (size_t j = m; j-- > keep;) {
    const op *o = &ops[idx[j]];
    size_t torn = 0;
    if (j == keep && o->kind == OP_WRITE && o->len > 1 && rand_r(seed) % 2) {
      torn = 1 + (size_t)rand_r(seed) % (o->len - 1);
      st->data_ops_torn++;
    }
    debug_op(torn ? "tear" : "undo", o);
    if (o->kind == OP_WRITE) {
      undo_write(o, fd, torn);
      if (o->off + (off_t)o->len > lost_end)
        lost_end = o->off + (off_t)o->len;
    } else if (o->kind == OP_TRUNCATE) {
      truncate_quiet(fd, o->old_size);
      pwrite_quiet(fd, o->old, o->old_len, o->off);
    } else {
      undo_map(o, fd, seed, &st->pages_lost);
    }
    st->data_ops_lost++;
  }
  free(idx);
  off_t now = size_of(f);
  off_t from = now > durable_size ? now : durable_size;
  if (lost_end > from && rand_r(seed) % 3 == 0) {
    zero_fill(fd, from, lost_end);
    st->zeroed++;
  }
}

static void undo_name(const op *o) {
  debug_op("undo", o);
  switch (o->kind) {
  case OP_CREATE:
  case OP_LINK:
    unlink(o->path);
    break;
  case OP_MKDIR:
    file_remove_tree(o->path); /* not recording any more */
    break;
  case OP_RENAME:
    if (rename(o->path, o->path2) == 0 && o->backup)
      (void)rename(o->backup, o->path);
    break;
  case OP_UNLINK:
  case OP_RMTREE:
    (void)rename(o->backup, o->path);
    break;
  default:
    break;
  }
}

int file_crash_cut(unsigned seed, file_crash_stats *out) {
  file_crash_stats st = {0};
  pthread_mutex_lock(&lock);
  atomic_store(&recording, 0);
  for (size_t f = 0; f < nfiles; f++)
    cut_file((int)f, &seed, &st);
  size_t undurable = 0;
  for (size_t i = 0; i < nops; i++)
    undurable += ops[i].file < 0 && !ops[i].durable;
  /* The name changes survive in order up to a random one. */
  size_t keep = undurable ? (size_t)rand_r(&seed) % (undurable + 1) : 0;
  size_t seen = 0, from = nops;
  for (size_t i = 0; i < nops && from == nops; i++)
    if (ops[i].file < 0 && !ops[i].durable && seen++ == keep)
      from = i;
  for (size_t i = nops; i-- > from;) {
    const op *o = &ops[i];
    if (o->file >= 0 || o->durable)
      continue;
    undo_name(o);
    st.names_lost++;
    st.renames_lost += o->kind == OP_RENAME;
  }
  forget_all();
  atomic_store(&frozen, 0);
  atomic_store(&freeze_countdown, -1);
  pthread_mutex_unlock(&lock);
  if (out)
    *out = st;
  return 0;
}
