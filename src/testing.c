/*
 * testing.c — include/nodata_testing.h: the tests' and fuzzers' only way
 * to the internals they exercise. Each call is a thin wrapper, so when an
 * internal changes, this file and the tests change together and nothing
 * else outside src/ notices.
 */
#include "nodata_testing.h"

#include "batch.h"
#include "config.h"
#include "crc32c.h"
#include "file.h"
#include "topic.h"

/* The testing enum names file.c's kinds by value. */
_Static_assert((int)ND_TEST_FAULT_WRITE == (int)FILE_FAULT_WRITE &&
                   (int)ND_TEST_FAULT_SYNC == (int)FILE_FAULT_SYNC &&
                   (int)ND_TEST_FAULT_CREATE == (int)FILE_FAULT_CREATE &&
                   (int)ND_TEST_FAULT_MAP == (int)FILE_FAULT_MAP,
               "nd_test_fault must match enum file_fault_kind");

void nd_test_fault_set(enum nd_test_fault kind, int countdown, int err,
                       size_t partial) {
  file_fault_set((enum file_fault_kind)kind, countdown, err, partial);
}

void nd_test_fault_clear(void) {
  file_fault_clear();
}

uint64_t nd_test_sync_count(void) {
  return file_sync_count();
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
