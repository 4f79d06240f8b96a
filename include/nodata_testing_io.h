/*
 * nodata_testing_io.h — the tests' way to src/file.c's fault table and
 * crash recorder; not part of the API, not installed, not exported from
 * libnodata.so (the functions keep the library's hidden visibility: only
 * the static libnodata, which the tests link, has them).
 *
 * Tests include this and nodata.h, never src/file.h. (It sits beside
 * nodata_testing.h, the general testing header, and may be folded into
 * it; the enum's first four values are that header's nd_test_fault.)
 *
 * Unstable by design: these calls follow file.c. Thread-safety: the fault
 * table and the recorder are process-wide; set them while no other thread
 * uses a store. The call counts are per thread.
 */
#ifndef NODATA_TESTING_IO_H
#define NODATA_TESTING_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the fault table ---------------------------------------------------- */

/* Every kind of file-system call the library makes (file.h). */
enum nd_test_io_kind {
  ND_TEST_IO_WRITE,    /* write, pwrite */
  ND_TEST_IO_SYNC,     /* fdatasync of a file or directory, syncfs */
  ND_TEST_IO_CREATE,   /* creating a segment's .log */
  ND_TEST_IO_MAP,      /* mmap, file-backed or anonymous */
  ND_TEST_IO_OPEN,     /* open, dup, opendir */
  ND_TEST_IO_READ,     /* pread */
  ND_TEST_IO_TRUNCATE, /* ftruncate */
  ND_TEST_IO_RENAME,   /* rename */
  ND_TEST_IO_UNLINK,   /* unlink, rm -rf */
  ND_TEST_IO_MKDIR,    /* mkdir */
  ND_TEST_IO_LINK,     /* link */
  ND_TEST_IO_STAT,     /* stat, fstat */
  ND_TEST_IO_LOCK,     /* flock */
  ND_TEST_IO_KINDS
};

/* After `countdown` more successful calls of `kind`, the next one fails
 * with err and changes nothing (a write writes `partial` bytes first, as
 * a disk filling mid-write). countdown < 0 disarms. One-shot. */
void nd_test_io_fault_set(enum nd_test_io_kind kind, int countdown, int err,
                          size_t partial);
void nd_test_io_fault_clear(void);
/* Calls of `kind` the calling thread has made so far, faulted ones
 * included: run a workload once to count them, then fail each in turn. */
uint64_t nd_test_io_calls(enum nd_test_io_kind kind);
/* "write", "sync", ... */
const char *nd_test_io_kind_name(enum nd_test_io_kind kind);

/* ---- the crash recorder (file.h, "crash recorder") ---------------------- */

/* Start recording every change the library makes to files, with how to
 * undo it until the sync that makes it durable (data: fdatasync of the
 * file; names: fsync of their directory). backup_dir: an existing, empty
 * directory on the same file system (unlinked and replaced files are kept
 * there). 0 or -ENAMETOOLONG. */
int nd_test_crash_record(const char *backup_dir);
/* The machine stops after `ops` more changing calls (0: now): every later
 * one fails with EIO and changes nothing. */
void nd_test_crash_freeze_after(uint64_t ops);
/* 1 once the machine has stopped. */
int nd_test_crash_frozen(void);
typedef struct nd_test_crash_stats {
  uint64_t data_ops_lost; /* writes, truncates, maps undone */
  uint64_t data_ops_torn; /* writes kept in part */
  uint64_t zeroed;        /* lost extending writes read back as zeros */
  uint64_t names_lost;    /* creates, mkdirs, links, renames, unlinks undone */
  uint64_t renames_lost;  /* of which renames */
  uint64_t pages_lost;    /* pages of writable maps restored */
} nd_test_crash_stats;
/* The power cut: undo a random part (seeded) of what was not durable, as
 * a power cut may lose it, and stop recording. Call with every store
 * closed. st may be NULL. Returns 0. */
int nd_test_crash_cut(unsigned seed, nd_test_crash_stats *st);
/* Stop recording and forget, without a cut. */
void nd_test_crash_stop(void);

/* ---- the layer itself, for the recorder's own test ----------------------- */

/* As the library writes its files (each returns 0 or -errno): mkdir; a
 * whole-file replace that is durable (tmp, fdatasync, rename, fsync of the
 * directory) or a hint (tmp, rename, no sync); a new file written and
 * fdatasync'd but its directory not synced; unlink. */
int nd_test_io_mkdir(const char *path);
int nd_test_io_write_atomic(const char *path, const void *data, size_t len);
int nd_test_io_write_replace(const char *path, const void *data, size_t len);
int nd_test_io_write_new_synced(const char *path, const void *data, size_t len);
int nd_test_io_unlink(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* NODATA_TESTING_IO_H */
