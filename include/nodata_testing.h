/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nodata_testing.h — hooks for nodata's own tests and fuzzers; not part of
 * the API, not installed, not exported from libnodata.so.
 *
 * Everything a test needs beyond nodata.h is here, as SQLite's tests reach
 * its internals through sqlite3_test_control: failing the Nth file-system
 * call of any kind (src/file.c's fault table), counting fdatasyncs,
 * simulating a power cut (file.c's crash recorder), calling each CRC-32C
 * implementation and the record varint codec, and reading and writing
 * topic.conf. Tests and fuzzers include this and nodata.h, never a src/
 * header (test_src_headers keeps it so), so the library's internals can
 * be rearranged without touching them.
 *
 * Unstable by design: these calls follow the internals they wrap and may
 * change in any commit, which is why the header is not installed and the
 * functions are left with the library's hidden visibility (only the static
 * libnodata, which the tests link, has them). Thread-safety: the fault
 * table, the sync count and the crash recorder are process-wide; set them
 * while no other thread uses a store. nd_test_io_calls counts the calling
 * thread's calls. The rest share no state.
 */
#ifndef NODATA_TESTING_H
#define NODATA_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the fault table (src/file.c) --------------------------------------- */

/* Every kind of file-system call the library makes: file.c makes them all
 * (test_src_fs_calls keeps it so), and counts each by kind. The values
 * are file.h's enum file_fault_kind. */
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

/* fdatasync/fsync calls the library has made so far, in every thread
 * (tests check that group commit shares them). Monotonic. */
uint64_t nd_test_sync_count(void);

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

/* ---- the transaction coordinator (src/txn_coord.c) ---------------------- */

/* on != 0: nd_append_batch stores transactional batches without checking
 * them against the transaction coordinator, as before the library had
 * one, for the partition level's own tests, which write batches of
 * producers no transactional id has; nd_open then leaves the open
 * transactions it finds alone (no abort of those the coordinator does
 * not know). Process-wide; 0 restores both. */
void nd_test_txn_unchecked(int on);

/* ---- primitives ---------------------------------------------------------- */

/* The portable CRC-32C, whatever the CPU. Same contract as nd_crc32c. */
uint32_t nd_test_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 if this CPU has an instruction-based CRC-32C, which then is what
 * nd_crc32c uses; 0 otherwise. */
int nd_test_crc32c_hw_available(void);

/* The instruction-based CRC-32C; only when nd_test_crc32c_hw_available()
 * (otherwise it returns the portable result). */
uint32_t nd_test_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* The zigzag varints of Kafka records: the encoded size of v; writing it
 * at p (room for 10 bytes) returns the size; reading one from [*p, end)
 * advances *p and returns 0, or -1 if it is truncated or overlong. */
size_t nd_test_varint_size(int64_t v);
size_t nd_test_varint_write(uint8_t *p, int64_t v);
int nd_test_varint_read(const uint8_t **p, const uint8_t *end, int64_t *out);

/* ---- topic.conf (src/topic.c, src/config.c) ----------------------------- */

/* Read dir/topic.conf as nd_open does: the topic's name (buffer of
 * ND_TOPIC_NAME_MAX + 1), id, partition count and configuration; the
 * name's hash must be dir's last component. 0, ND_ECORRUPT or -errno,
 * with nd_errmsg() set. */
int nd_test_topic_conf_read(const char *dir, char *name, uint8_t id[16],
                            int32_t *partitions, nd_topic_config *cfg);

/* Write dir/topic.conf as nd_topic_create does (atomically). */
int nd_test_topic_conf_write(const char *dir, const char *name,
                             const uint8_t id[16], int32_t partitions,
                             const nd_topic_config *cfg);

/* The configuration's topic.conf lines ("key=value\n" each) into buf (at
 * most cap bytes, NUL-terminated); returns the bytes written, or
 * ND_EINVAL if cap is too small. */
int nd_test_config_format(const nd_topic_config *cfg, char *buf, size_t cap);

/* 0 if every field of cfg is in range (as nd_topic_create checks), else
 * ND_ECONFIG naming the field. */
int nd_test_config_validate(const nd_topic_config *cfg);

/* ---- the batch cursor (src/batch.h), for its unit test ------------------
 * The public walks are nd_log_walk and nd_log_walk_mem. What only the
 * cursor under them has (the buffer a file walk reads through and its
 * size, where a walk starts and ends, the validation levels and DENSE, a
 * batch read by its header and loaded later, a read error as a code) is
 * reached through this thin wrapper of batch_cursor_*, so the test holds
 * the cursor to its contract (batch.h) without including src/. Values are
 * batch.h's (checked at build time). Not thread-safe: a cursor belongs to
 * one thread, as batch.h says. */

enum nd_test_check {
  ND_TEST_CHECK_FRAME = 1 << 0,
  ND_TEST_CHECK_FIELDS = 1 << 1,
  ND_TEST_CHECK_ORDER = 1 << 2,
  ND_TEST_CHECK_DENSE = 1 << 3,
  ND_TEST_CHECK_CRC = 1 << 4,
  ND_TEST_LEVEL_HEADER = ND_TEST_CHECK_FRAME,
  ND_TEST_LEVEL_SANE =
      ND_TEST_CHECK_FRAME | ND_TEST_CHECK_FIELDS | ND_TEST_CHECK_ORDER,
  ND_TEST_LEVEL_CRC = ND_TEST_LEVEL_SANE | ND_TEST_CHECK_CRC,
  ND_TEST_LEVEL_CLIENT =
      ND_TEST_CHECK_FRAME | ND_TEST_CHECK_FIELDS | ND_TEST_CHECK_CRC,
};

/* batch.h's enum batch_stop, in its order. */
enum nd_test_stop {
  ND_TEST_STOP_NONE,
  ND_TEST_STOP_END,
  ND_TEST_STOP_TORN,
  ND_TEST_STOP_LENGTH,
  ND_TEST_STOP_MAGIC,
  ND_TEST_STOP_FIELDS,
  ND_TEST_STOP_BACKWARDS,
  ND_TEST_STOP_GAP,
  ND_TEST_STOP_CRC,
  ND_TEST_STOP_MEMORY,
  ND_TEST_STOP_IO,
};

/* A cursor and what it says: batch, pos, size, stop, stop_pos and why are
 * batch_cursor's fields of the same names, copied after every call. The
 * cursor itself lives in impl (no allocation: a memory walk needs no
 * close, as batch.h allows). */
typedef struct nd_test_cursor {
  const uint8_t *batch;
  uint64_t pos, size;
  int stop; /* enum nd_test_stop */
  uint64_t stop_pos;
  const char *why;
  union {
    uint64_t u;
    void *p;
    unsigned char bytes[256];
  } impl;
} nd_test_cursor;

/* batch_cursor_mem over data[0, len), with the walk's end at end (len, or
 * more for a prefix of a longer log: ND_TEST_STOP_MEMORY). */
void nd_test_cursor_mem(nd_test_cursor *c, const void *data, size_t len,
                        uint64_t end, unsigned checks);
/* batch_cursor_fd: [pos, end) of fd through buf of cap bytes (NULL: the
 * cursor's own). Borrows fd and buf; nd_test_cursor_close() after. */
void nd_test_cursor_fd(nd_test_cursor *c, int fd, uint64_t pos, uint64_t end,
                       void *buf, size_t cap, unsigned checks);
/* batch_cursor_expect: the base offset the next batch must have. */
void nd_test_cursor_expect(nd_test_cursor *c, int64_t offset);
/* batch_cursor_next: 1, 0 (stopped), or a negative code (read error). */
int nd_test_cursor_next(nd_test_cursor *c);
/* batch_cursor_load: the whole current batch at c->batch; 0 or a code. */
int nd_test_cursor_load(nd_test_cursor *c);
/* batch_cursor_close: frees what the cursor allocated; safe twice. */
void nd_test_cursor_close(nd_test_cursor *c);

/* ---- batches as the cleaner leaves them -------------------------------- */

/* One uncompressed batch at base_offset as a cleaned log holds it
 * (docs/format.md): record i at offset delta deltas[i] (increasing; NULL
 * for 0, 1, ...), lastOffsetDelta last_delta (at least the last record's;
 * a cleaned batch keeps the one it had), the producer fields given (-1,
 * -1, -1 for none). n may be 0: an empty batch, as Kafka keeps an
 * idempotent producer's last batch, with baseTimestamp = maxTimestamp =
 * max_ts. With n > 0, max_ts >= 0 overrides the maxTimestamp (a batch
 * that still carries the timestamp of a record cleaned away). CRC set.
 * *out is the library's (nd_free). Errors: ND_EINVAL, ND_ENOMEM. */
int nd_test_batch_encode_sparse(const nd_record *recs, size_t n,
                                const int32_t *deltas, int32_t last_delta,
                                int64_t base_offset, int64_t producer_id,
                                int16_t producer_epoch, int32_t base_sequence,
                                int64_t max_ts, void **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* NODATA_TESTING_H */
