/*
 * file.h — every POSIX file call the engine makes goes through here: EINTR
 * and short transfers handled once, atomic replace of small files, and a
 * fault-injection hook so tests can fail the Nth write or sync (disk full,
 * EIO) without a special file system.
 */
#ifndef ND_FILE_H
#define ND_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* All return 0 (or a byte count where said) or -errno. */
/* open(path, flags | O_CREAT | O_CLOEXEC, 0644): the descriptor or -errno.
 * Used for new segment files, so that tests can fail their creation. */
int file_create(const char *path, int flags);
/* mmap the first len bytes of fd, shared, read-only or read-write. NULL
 * with errno set on failure (ENOMEM when the process is out of mappings:
 * vm.max_map_count). */
void *file_map(int fd, size_t len, int writable);
int file_write_all(int fd, const void *buf, size_t len);
int file_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Reads up to len bytes at off; returns the count (short only at EOF). */
ssize_t file_pread_full(int fd, void *buf, size_t len, off_t off);
int file_datasync(int fd);
int file_truncate(int fd, off_t len);
int file_sync_dir(const char *dir);

/* Replace path with data atomically: write path.tmp, fsync, rename, fsync
 * the directory. On failure path is unchanged and the tmp file removed. */
int file_write_atomic(const char *path, const void *data, size_t len);

/* Replace path with data by tmp file + rename, without fsync: for derived
 * hints (recovery point, producer state) whose loss or damage after a power
 * cut only costs a longer recovery, never data. */
int file_write_replace(const char *path, const void *data, size_t len);

/* Flush every dirty page of the file system holding dir (syncfs). */
int file_sync_fs(const char *dir);

/* Read a whole (small) file; *out is malloc'ed and NUL-terminated. */
int file_read_all(const char *path, char **out, size_t *len);

/* rm -rf path (no symlink following). */
int file_remove_tree(const char *path);

/* Test hooks. After `countdown` more successful calls of the kind, the
 * next one fails with err (and writes nothing, or `partial` bytes for a
 * write, to imitate a disk filling mid-write). countdown < 0 disables.
 * CREATE counts file_create, MAP counts file_map. */
enum file_fault_kind {
  FILE_FAULT_WRITE,
  FILE_FAULT_SYNC,
  FILE_FAULT_CREATE,
  FILE_FAULT_MAP
};
void file_fault_set(enum file_fault_kind kind, int countdown, int err,
                    size_t partial);
void file_fault_clear(void);
/* fdatasync calls made so far (tests check that group commit shares them). */
uint64_t file_sync_count(void);

#endif
