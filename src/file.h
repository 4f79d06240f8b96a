/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.h — the engine's only layer of file-system calls. Nothing else in
 * src/ calls open, mmap, rename, unlink, mkdir, stat, ftruncate, fsync,
 * opendir, flock, pread or pwrite itself (file_crash.c, the recorder, aside;
 * tests/src_fs_calls.cmake keeps it so); everything goes through here, so
 * that:
 *   - EINTR and short transfers are handled once;
 *   - a test can fail the Nth call of any kind with a chosen errno (a fault
 *     table, as SQLite's aSyscall / test_vfs): disk full mid-write, EIO on
 *     sync, a rename or mkdir refused, mmap out of mappings...;
 *   - a test can simulate a power cut that loses exactly what was not made
 *     durable: unsynced writes (lost, torn, or read back as zeros),
 *     unsynced renames, creates, unlinks and mkdirs (the crash recorder,
 *     below).
 *
 * Every call returns 0 (or the descriptor / byte count where said) or
 * -errno, and on failure also leaves errno set, so that a call site written
 * against POSIX reads the same after the swap. Descriptors are opened
 * O_CLOEXEC. All calls are thread-safe (the fault table is atomics, the
 * recorder takes a mutex, the call counts are per thread); a file_dir is
 * used by one thread at a time.
 */
#ifndef ND_FILE_H
#define ND_FILE_H

#include <fcntl.h> /* the O_ flags of file_open */
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ---- descriptors -------------------------------------------------------- */

/* open(path, flags | O_CLOEXEC, 0644): the descriptor or -errno. Counted
 * as OPEN. */
int file_open(const char *path, int flags);
/* open(path, flags | O_CREAT | O_CLOEXEC, 0644): the descriptor or -errno.
 * Used for new segment files and counted as CREATE, so that tests can fail
 * a segment roll apart from every other open. */
int file_create(const char *path, int flags);
/* close(fd); never fails a caller (the descriptor is gone either way). */
void file_close(int fd);
/* A second descriptor (F_DUPFD_CLOEXEC) for the same open file; OPEN. */
int file_dup(int fd);
/* stat / fstat into *st; STAT. file_exists: 1, 0 (ENOENT) or -errno. */
int file_stat(const char *path, struct stat *st);
int file_fstat(int fd, struct stat *st);
int file_exists(const char *path);

/* ---- data --------------------------------------------------------------- */

int file_write_all(int fd, const void *buf, size_t len);
int file_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Reads up to len bytes at off; returns the count (short only at EOF). */
ssize_t file_pread_full(int fd, void *buf, size_t len, off_t off);
/* fdatasync(fd); SYNC. On a directory descriptor it makes the names
 * created, renamed or removed in it durable. */
int file_datasync(int fd);
int file_truncate(int fd, off_t len);
/* Open dir and fdatasync it (names made durable). */
int file_sync_dir(const char *dir);
/* Flush every dirty page of the file system holding dir (syncfs). */
int file_sync_fs(const char *dir);

/* mmap the first len bytes of fd, shared, read-only or read-write. NULL
 * with errno set on failure (ENOMEM when the process is out of mappings:
 * vm.max_map_count). MAP. */
void *file_map(int fd, size_t len, int writable);
/* Private anonymous memory of len bytes, zeroed, never backed by swap
 * reservation (MAP_NORESERVE); NULL with errno set. Also MAP: it is the
 * same vm.max_map_count that runs out. */
void *file_map_anon(size_t len);
void file_unmap(void *map, size_t len);
/* Tell the kernel the mapping is touched at random (no readahead). */
void file_advise_random(void *map, size_t len);

/* ---- names -------------------------------------------------------------- */

/* mkdir(path, 0755); MKDIR. -EEXIST if it exists. */
int file_mkdir(const char *path);
/* mkdir -p; each level counted as MKDIR. */
int file_mkdir_p(const char *path);
/* rename(from, to); RENAME. Durable once the directory is synced. */
int file_rename(const char *from, const char *to);
/* link(from, to) (a second name for a file); LINK. */
int file_link(const char *from, const char *to);
/* unlink(path); UNLINK. */
int file_unlink(const char *path);
/* rm -rf path (no symlink following); each unlink/rmdir counted as UNLINK.
 * 0 if path does not exist. */
int file_remove_tree(const char *path);

/* Directory listing: NULL with errno set if dir cannot be opened (OPEN).
 * file_dir_next returns each entry's name but "." and "..", then NULL;
 * the name is valid until the next call. */
typedef struct file_dir file_dir;
file_dir *file_dir_open(const char *dir);
const char *file_dir_next(file_dir *d);
void file_dir_close(file_dir *d);

/* flock(fd, LOCK_EX or LOCK_SH | LOCK_NB); LOCK. -EWOULDBLOCK when another
 * open file holds a conflicting lock. file_unlock never fails a caller. */
int file_lock(int fd, int exclusive);
void file_unlock(int fd);

/* ---- whole small files -------------------------------------------------- */

/* Replace path with data atomically: write path.tmp, fsync, rename, fsync
 * the directory. On failure path is unchanged and the tmp file removed. */
int file_write_atomic(const char *path, const void *data, size_t len);

/* Replace path with data by tmp file + rename, without fsync: for derived
 * hints (recovery point, producer state) whose loss or damage after a power
 * cut only costs a longer recovery, never data. */
int file_write_replace(const char *path, const void *data, size_t len);

/* Read a whole (small) file; *out is malloc'ed and NUL-terminated. Works
 * for /proc files, whose size stat does not tell. */
int file_read_all(const char *path, char **out, size_t *len);

/* ---- fault table (tests) ------------------------------------------------ */

/* One counter per kind of call. After `countdown` more successful calls of
 * the kind, the next one fails with err and changes nothing (a WRITE writes
 * `partial` bytes first, to imitate a disk filling mid-write; an OPEN or
 * CREATE creates nothing). countdown < 0 disables; a fault fires once, in
 * whichever thread makes that call. The calls of each kind are counted
 * whether or not a fault is set, so a test can run a workload once, read
 * file_fault_calls, and then fail each of its calls in turn. */
enum file_fault_kind {
  FILE_FAULT_WRITE,    /* file_write_all, file_pwrite_all */
  FILE_FAULT_SYNC,     /* file_datasync, file_sync_dir, file_sync_fs */
  FILE_FAULT_CREATE,   /* file_create */
  FILE_FAULT_MAP,      /* file_map, file_map_anon */
  FILE_FAULT_OPEN,     /* file_open, file_dup, file_dir_open */
  FILE_FAULT_READ,     /* file_pread_full, file_read_all */
  FILE_FAULT_TRUNCATE, /* file_truncate */
  FILE_FAULT_RENAME,   /* file_rename */
  FILE_FAULT_UNLINK,   /* file_unlink, file_remove_tree */
  FILE_FAULT_MKDIR,    /* file_mkdir, file_mkdir_p */
  FILE_FAULT_LINK,     /* file_link */
  FILE_FAULT_STAT,     /* file_stat, file_fstat, file_exists */
  FILE_FAULT_LOCK,     /* file_lock */
  FILE_FAULT_KINDS
};
void file_fault_set(enum file_fault_kind kind, int countdown, int err,
                    size_t partial);
void file_fault_clear(void);
/* Calls of the kind made so far by the calling thread (faulted ones
 * included): a test runs its workload on one thread to count it. */
uint64_t file_fault_calls(enum file_fault_kind kind);
/* "write", "sync", ... for messages. */
const char *file_fault_name(enum file_fault_kind kind);
/* fdatasync calls made so far (tests check that group commit shares them). */
uint64_t file_sync_count(void);

/* ---- crash recorder (tests) --------------------------------------------- */

/*
 * A power cut loses what the file system was not told to keep. While
 * recording, every change made through this layer is noted with what it
 * takes to undo it, until the sync that makes it durable:
 *   - data (write, pwrite, ftruncate, O_TRUNC, a writable mmap): durable
 *     when that file is fdatasync'd (or the file system syncfs'd);
 *   - names (create, mkdir, rename, link, unlink, rm -rf): durable when the
 *     directory holding the name is synced (both directories for a rename).
 * file_crash_cut then undoes what was not durable, as a power cut may
 * leave it: per file, the unsynced changes survive up to a random point,
 * the next one may be torn at a random byte, and what is lost of an
 * extending write may read back as zeros; pages of a writable
 * mapping survive or not one by one; the unsynced name changes survive up
 * to a random point of their (journal) order and are undone after it: a
 * rename goes back, a replaced or unlinked file comes back, a created
 * file or directory disappears.
 *
 * backup_dir must be an existing, empty directory on the same file system
 * as the files (unlinked and replaced files are kept there as hard links).
 * Record before opening the store; the files on disk at that moment are
 * taken as durable.
 */
int file_crash_record(const char *backup_dir);
/* The machine stops after `ops` more changing calls: from then on every
 * call that would change a file (write, truncate, create, rename, unlink,
 * mkdir, link, sync, a writable map) fails with EIO and changes nothing.
 * ops == 0 stops it now. */
void file_crash_freeze_after(uint64_t ops);
int file_crash_frozen(void);
typedef struct {
  uint64_t data_ops_lost; /* writes, truncates, maps undone */
  uint64_t data_ops_torn; /* writes kept in part */
  uint64_t zeroed;        /* extending writes lost as zeros */
  uint64_t names_lost;    /* name changes undone */
  uint64_t renames_lost;  /* of which renames */
  uint64_t pages_lost;    /* pages of writable maps restored */
} file_crash_stats;
/* Apply the power cut (seeded, so a failing seed repeats) and stop
 * recording. Call with the store closed. st may be NULL. */
int file_crash_cut(unsigned seed, file_crash_stats *st);
/* Stop recording and forget, without a power cut. */
void file_crash_stop(void);

#endif
