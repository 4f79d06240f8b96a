/*
 * nodata_testing.h — hooks for nodata's own tests and fuzzers; not part of
 * the API, not installed, not exported from libnodata.so.
 *
 * Everything a test needs beyond nodata.h is here, as SQLite's tests reach
 * its internals through sqlite3_test_control: failing the Nth file-system
 * call of a kind, counting fdatasyncs, calling each CRC-32C implementation
 * and the record varint codec, and reading and writing topic.conf. Tests
 * and fuzzers include this and nodata.h, never a src/ header (a test in
 * tests/CMakeLists.txt keeps it so), so the library's internals can be
 * rearranged without touching them.
 *
 * Unstable by design: these calls follow the internals they wrap and may
 * change in any commit, which is why the header is not installed and the
 * functions are left with the library's hidden visibility (only the static
 * libnodata, which the tests link, has them). Thread-safety: the fault and
 * sync-count hooks are process-wide and meant to be set while no other
 * thread uses a store; the rest share no state.
 */
#ifndef NODATA_TESTING_H
#define NODATA_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- file-system faults (src/file.c's hooks) ---------------------------- */

/* Kinds of file-system call a fault can hit; the values are file.c's. */
enum nd_test_fault {
  ND_TEST_FAULT_WRITE = 0,  /* file writes (a partial one writes `partial`
                               bytes first, as a disk filling mid-write) */
  ND_TEST_FAULT_SYNC = 1,   /* fdatasync / fsync */
  ND_TEST_FAULT_CREATE = 2, /* creating a segment's files */
  ND_TEST_FAULT_MAP = 3,    /* mmap of an index */
};

/* After `countdown` more successful calls of `kind`, the next one fails
 * with -err (and writes nothing, or `partial` bytes for a write).
 * countdown < 0 disarms that kind. Process-wide. */
void nd_test_fault_set(enum nd_test_fault kind, int countdown, int err,
                       size_t partial);

/* Disarm every fault. */
void nd_test_fault_clear(void);

/* fdatasync/fsync calls the library has made so far (tests check that
 * group commit shares them). Process-wide, monotonic. */
uint64_t nd_test_sync_count(void);

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

#ifdef __cplusplus
}
#endif
#endif /* NODATA_TESTING_H */
