/* SPDX-License-Identifier: Apache-2.0 */
/*
 * encode.c — the public doors to RecordBatch v2 bytes (nodata.h, "Batches
 * and segment files, for tools"): encoding, checking and re-stamping the
 * CRC of one batch. Thin wrappers over batch.c, so a tool that encodes a
 * batch gets the very bytes nd_append stores, and a tool that checks one
 * applies the store's own idea of valid — never a second copy of either.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "batchinfo.h"
#include "error.h"

static void info_from_header(const uint8_t *p, nd_batch_info *info) {
  batch_header h;
  batch_header_decode(p, &h);
  info->base_offset = h.base_offset;
  info->length = h.length;
  info->leader_epoch = h.leader_epoch;
  info->magic = h.magic;
  info->crc = h.crc;
  info->attributes = h.attributes;
  info->last_offset_delta = h.last_offset_delta;
  info->last_offset = add_wrap(h.base_offset, h.last_offset_delta);
  info->base_timestamp = h.base_timestamp;
  info->max_timestamp = h.max_timestamp;
  info->producer_id = h.producer_id;
  info->producer_epoch = h.producer_epoch;
  info->base_sequence = h.base_sequence;
  info->record_count = h.record_count;
  /* A negative batchLength frames nothing; size stays 0 for it. */
  info->size =
      h.length >= 0 ? (uint64_t)h.length + BATCH_LOG_OVERHEAD : (uint64_t)0;
}

void batch_info_fill(const uint8_t *p, nd_batch_info *info) {
  memset(info, 0, sizeof *info);
  info_from_header(p, info);
}

int nd_batch_encode(const nd_record *records, size_t n, int64_t base_offset,
                    int64_t now_ms, unsigned flags, void **out,
                    size_t *out_len) {
  nd_clear_error();
  if (!out || !out_len)
    return nd_fail(ND_EINVAL, "nd_batch_encode: NULL out or out_len");
  *out = NULL;
  *out_len = 0;
  if (flags & ~(unsigned)ND_BATCH_LOG_APPEND_TIME)
    return nd_fail(ND_EINVAL, "nd_batch_encode: unknown flags 0x%x", flags);
  uint8_t *buf = NULL;
  size_t cap = 0;
  int64_t size = batch_encode(
      records, n, now_ms, (flags & ND_BATCH_LOG_APPEND_TIME) != 0, &buf, &cap);
  if (size < 0) {
    free(buf);
    return (int)size;
  }
  /* baseOffset is outside the CRC: setting it keeps the CRC valid, as the
   * store's own assignment of offsets does. */
  batch_set_base_offset(buf, base_offset);
  *out = buf;
  *out_len = (size_t)size;
  return 0;
}

int nd_batch_check(const void *data, size_t len, int check_crc,
                   nd_batch_info *info) {
  nd_clear_error();
  if (info)
    memset(info, 0, sizeof *info);
  if (!data && len)
    return nd_fail(ND_EINVAL, "nd_batch_check: NULL data");
  const uint8_t *p = data;
  if (info && len >= BATCH_HEADER_SIZE)
    info_from_header(p, info);
  size_t total = 0;
  const char *why = NULL;
  enum batch_status st = batch_check(p, len, check_crc, &total, &why);
  if (st == BATCH_SHORT)
    return 1;
  if (st == BATCH_INVALID)
    return nd_fail(ND_EBATCH, "invalid batch: %s", why);
  if (info) {
    info->size = total;
    info->crc_ok = check_crc != 0;
  }
  return 0;
}

int nd_batch_set_crc(void *batch, size_t len) {
  nd_clear_error();
  if (!batch)
    return nd_fail(ND_EINVAL, "nd_batch_set_crc: NULL batch");
  if (len < BATCH_HEADER_SIZE || batch_size(batch) != len)
    return nd_fail(ND_EINVAL,
                   "nd_batch_set_crc: %zu bytes are not one whole batch", len);
  batch_update_crc(batch, len);
  return 0;
}

const char *nd_codec_name(int attributes) {
  static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  int c = attributes & BATCH_ATTR_CODEC_MASK;
  return c < 5 ? names[c] : "unknown";
}
