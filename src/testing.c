/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testing.c — include/nodata_testing.h: the tests' and fuzzers' only way
 * to the internals they exercise. Each call is a thin wrapper, so when an
 * internal changes, this file and the tests change together and nothing
 * else outside src/ notices.
 */
#include "nodata_testing.h"

#include <stdlib.h>

#include "batch.h"
#include "config.h"
#include "crc32c.h"
#include "file.h"
#include "topic.h"
#include "txn_coord.h"

/* The testing enum names file.c's kinds by value. */
_Static_assert((int)ND_TEST_IO_WRITE == (int)FILE_FAULT_WRITE &&
                   (int)ND_TEST_IO_SYNC == (int)FILE_FAULT_SYNC &&
                   (int)ND_TEST_IO_CREATE == (int)FILE_FAULT_CREATE &&
                   (int)ND_TEST_IO_MAP == (int)FILE_FAULT_MAP &&
                   (int)ND_TEST_IO_OPEN == (int)FILE_FAULT_OPEN &&
                   (int)ND_TEST_IO_READ == (int)FILE_FAULT_READ &&
                   (int)ND_TEST_IO_TRUNCATE == (int)FILE_FAULT_TRUNCATE &&
                   (int)ND_TEST_IO_RENAME == (int)FILE_FAULT_RENAME &&
                   (int)ND_TEST_IO_UNLINK == (int)FILE_FAULT_UNLINK &&
                   (int)ND_TEST_IO_MKDIR == (int)FILE_FAULT_MKDIR &&
                   (int)ND_TEST_IO_LINK == (int)FILE_FAULT_LINK &&
                   (int)ND_TEST_IO_STAT == (int)FILE_FAULT_STAT &&
                   (int)ND_TEST_IO_LOCK == (int)FILE_FAULT_LOCK &&
                   (int)ND_TEST_IO_KINDS == (int)FILE_FAULT_KINDS,
               "nd_test_io_kind must match enum file_fault_kind");
_Static_assert(sizeof(nd_test_crash_stats) == sizeof(file_crash_stats),
               "nd_test_crash_stats must match file_crash_stats");

void nd_test_io_fault_set(enum nd_test_io_kind kind, int countdown, int err,
                          size_t partial) {
  file_fault_set((enum file_fault_kind)kind, countdown, err, partial);
}

void nd_test_io_fault_clear(void) {
  file_fault_clear();
}

uint64_t nd_test_io_calls(enum nd_test_io_kind kind) {
  return file_fault_calls((enum file_fault_kind)kind);
}

const char *nd_test_io_kind_name(enum nd_test_io_kind kind) {
  return file_fault_name((enum file_fault_kind)kind);
}

uint64_t nd_test_sync_count(void) {
  return file_sync_count();
}

int nd_test_crash_record(const char *backup_dir) {
  return file_crash_record(backup_dir);
}

void nd_test_crash_freeze_after(uint64_t ops) {
  file_crash_freeze_after(ops);
}

int nd_test_crash_frozen(void) {
  return file_crash_frozen();
}

int nd_test_crash_cut(unsigned seed, nd_test_crash_stats *st) {
  file_crash_stats fs;
  int rc = file_crash_cut(seed, &fs);
  if (st)
    *st = (nd_test_crash_stats){fs.data_ops_lost, fs.data_ops_torn,
                                fs.zeroed,        fs.names_lost,
                                fs.renames_lost,  fs.pages_lost};
  return rc;
}

void nd_test_crash_stop(void) {
  file_crash_stop();
}

int nd_test_io_mkdir(const char *path) {
  return file_mkdir(path);
}

int nd_test_io_write_atomic(const char *path, const void *data, size_t len) {
  return file_write_atomic(path, data, len);
}

int nd_test_io_write_replace(const char *path, const void *data, size_t len) {
  return file_write_replace(path, data, len);
}

int nd_test_io_write_new_synced(const char *path, const void *data,
                                size_t len) {
  int fd = file_create(path, O_WRONLY | O_EXCL);
  if (fd < 0)
    return fd;
  int rc = file_write_all(fd, data, len);
  if (!rc)
    rc = file_datasync(fd);
  file_close(fd);
  return rc;
}

int nd_test_io_unlink(const char *path) {
  return file_unlink(path);
}

uint32_t nd_test_crc32c_sw(uint32_t crc, const void *buf, size_t len) {
  return crc32c_sw(crc, buf, len);
}

int nd_test_crc32c_hw_available(void) {
  return crc32c_hw_available();
}

uint32_t nd_test_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
#if defined(__x86_64__)
  if (crc32c_hw_available())
    return crc32c_hw(crc, buf, len);
#endif
  return crc32c_sw(crc, buf, len);
}

size_t nd_test_varint_size(int64_t v) {
  return varint_size(v);
}

size_t nd_test_varint_write(uint8_t *p, int64_t v) {
  return varint_write(p, v);
}

int nd_test_varint_read(const uint8_t **p, const uint8_t *end, int64_t *out) {
  return varint_read(p, end, out);
}

int nd_test_topic_conf_read(const char *dir, char *name, uint8_t id[16],
                            int32_t *partitions, nd_topic_config *cfg) {
  return topic_conf_read(dir, name, id, partitions, cfg);
}

int nd_test_topic_conf_write(const char *dir, const char *name,
                             const uint8_t id[16], int32_t partitions,
                             const nd_topic_config *cfg) {
  return topic_conf_write(dir, name, id, partitions, cfg);
}

int nd_test_config_format(const nd_topic_config *cfg, char *buf, size_t cap) {
  return config_format(cfg, buf, cap);
}

int nd_test_config_validate(const nd_topic_config *cfg) {
  return config_validate(cfg);
}

/* ---- the batch cursor, for its unit test -------------------------------- */

_Static_assert((int)ND_TEST_CHECK_FRAME == BATCH_CHECK_FRAME &&
                   (int)ND_TEST_CHECK_FIELDS == BATCH_CHECK_FIELDS &&
                   (int)ND_TEST_CHECK_ORDER == BATCH_CHECK_ORDER &&
                   (int)ND_TEST_CHECK_DENSE == BATCH_CHECK_DENSE &&
                   (int)ND_TEST_CHECK_CRC == BATCH_CHECK_CRC &&
                   (int)ND_TEST_LEVEL_HEADER == BATCH_LEVEL_HEADER &&
                   (int)ND_TEST_LEVEL_SANE == BATCH_LEVEL_SANE &&
                   (int)ND_TEST_LEVEL_CRC == BATCH_LEVEL_CRC &&
                   (int)ND_TEST_LEVEL_CLIENT == BATCH_LEVEL_CLIENT,
               "nd_test_check and batch.h's enum batch_check differ");
_Static_assert((int)ND_TEST_STOP_NONE == BATCH_STOP_NONE &&
                   (int)ND_TEST_STOP_END == BATCH_STOP_END &&
                   (int)ND_TEST_STOP_TORN == BATCH_STOP_TORN &&
                   (int)ND_TEST_STOP_LENGTH == BATCH_STOP_LENGTH &&
                   (int)ND_TEST_STOP_MAGIC == BATCH_STOP_MAGIC &&
                   (int)ND_TEST_STOP_FIELDS == BATCH_STOP_FIELDS &&
                   (int)ND_TEST_STOP_BACKWARDS == BATCH_STOP_BACKWARDS &&
                   (int)ND_TEST_STOP_GAP == BATCH_STOP_GAP &&
                   (int)ND_TEST_STOP_CRC == BATCH_STOP_CRC &&
                   (int)ND_TEST_STOP_MEMORY == BATCH_STOP_MEMORY &&
                   (int)ND_TEST_STOP_IO == BATCH_STOP_IO,
               "nd_test_stop and batch.h's enum batch_stop differ");
_Static_assert(sizeof(batch_cursor) <= sizeof(((nd_test_cursor *)0)->impl),
               "nd_test_cursor's impl is too small for a batch_cursor");

static batch_cursor *test_cursor(nd_test_cursor *c) {
  return (batch_cursor *)(void *)c->impl.bytes;
}

/* Copy what the cursor says into the wrapper's fields. */
static int test_cursor_sync(nd_test_cursor *c, int rc) {
  const batch_cursor *bc = test_cursor(c);
  c->batch = bc->batch;
  c->pos = bc->pos;
  c->size = bc->size;
  c->stop = (int)bc->stop;
  c->stop_pos = bc->stop_pos;
  c->why = bc->why;
  return rc;
}

void nd_test_cursor_mem(nd_test_cursor *c, const void *data, size_t len,
                        uint64_t end, unsigned checks) {
  batch_cursor_mem(test_cursor(c), data, len, checks);
  test_cursor(c)->end = end;
  test_cursor_sync(c, 0);
}

void nd_test_cursor_fd(nd_test_cursor *c, int fd, uint64_t pos, uint64_t end,
                       void *buf, size_t cap, unsigned checks) {
  batch_cursor_fd(test_cursor(c), fd, pos, end, buf, cap, checks);
  test_cursor_sync(c, 0);
}

void nd_test_cursor_expect(nd_test_cursor *c, int64_t offset) {
  batch_cursor_expect(test_cursor(c), offset);
}

int nd_test_cursor_next(nd_test_cursor *c) {
  return test_cursor_sync(c, batch_cursor_next(test_cursor(c)));
}

int nd_test_cursor_load(nd_test_cursor *c) {
  return test_cursor_sync(c, batch_cursor_load(test_cursor(c)));
}

void nd_test_cursor_close(nd_test_cursor *c) {
  batch_cursor_close(test_cursor(c));
  test_cursor_sync(c, 0);
}

int nd_test_batch_encode_sparse(const nd_record *recs, size_t n,
                                const int32_t *deltas, int32_t last_delta,
                                int64_t base_offset, int64_t producer_id,
                                int16_t producer_epoch, int32_t base_sequence,
                                int64_t max_ts, void **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  uint8_t *buf = NULL;
  size_t cap = 0;
  int64_t size;
  if (n == 0) { /* an empty batch: the header alone */
    if (!(buf = calloc(1, BATCH_HEADER_SIZE)))
      return ND_ENOMEM;
    size = BATCH_HEADER_SIZE;
    put_be32(buf + BATCH_AT_LENGTH, BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD);
    buf[BATCH_AT_MAGIC] = BATCH_MAGIC;
    put_be64(buf + BATCH_AT_BASE_TIMESTAMP, (uint64_t)max_ts);
    put_be64(buf + BATCH_AT_MAX_TIMESTAMP, (uint64_t)max_ts);
  } else {
    size = batch_encode_deltas(recs, n, deltas, 0, &buf, &cap);
    if (size < 0) {
      free(buf);
      return (int)size;
    }
    int32_t top = deltas ? deltas[n - 1] : (int32_t)n - 1;
    if (last_delta < top) {
      free(buf);
      return ND_EINVAL;
    }
    if (max_ts >= 0)
      put_be64(buf + BATCH_AT_MAX_TIMESTAMP, (uint64_t)max_ts);
  }
  batch_set_base_offset(buf, base_offset);
  put_be32(buf + BATCH_AT_LAST_OFFSET_DELTA, (uint32_t)last_delta);
  put_be64(buf + BATCH_AT_PRODUCER_ID, (uint64_t)producer_id);
  put_be16(buf + BATCH_AT_PRODUCER_EPOCH, (uint16_t)producer_epoch);
  put_be32(buf + BATCH_AT_BASE_SEQUENCE, (uint32_t)base_sequence);
  put_be32(buf + BATCH_AT_RECORD_COUNT, (uint32_t)n);
  batch_update_crc(buf, (size_t)size);
  *out = buf;
  *out_len = (size_t)size;
  return 0;
}

void nd_test_txn_unchecked(int on) {
  txn_coord_set_unchecked(on);
}
