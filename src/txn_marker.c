/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txn_marker.c — transaction markers: the control batch a coordinator
 * writes to each partition of a transaction when it ends.
 *
 * Format (Kafka's EndTransactionMarker, a RecordBatch v2 of one record):
 *   attributes  0x30 (transactional | control), no compression
 *   producerId/producerEpoch  the producer's; baseSequence -1
 *   record key   version i16 = 0, type i16 (0 ABORT, 1 COMMIT)
 *   record value version i16 = 0, coordinatorEpoch i32
 */
#include <stdint.h>

#include "batch.h"
#include "error.h"
#include "nodata.h"
#include "store.h"

enum { MARKER_ABORT = 0, MARKER_COMMIT = 1 };

int nd_txn_write_marker(nd_store *store, const char *name, int32_t p,
                        int64_t producer_id, int16_t producer_epoch, int commit,
                        int32_t coordinator_epoch, unsigned flags,
                        int64_t *offset) {
  if (offset)
    *offset = -1;
  if (producer_id < 0 || producer_epoch < 0)
    return nd_fail(ND_EINVAL, "%s: producer %lld epoch %d", __func__,
                   (long long)producer_id, (int)producer_epoch);
  uint8_t key[4], value[6];
  put_be16(key, 0);
  put_be16(key + 2, commit ? MARKER_COMMIT : MARKER_ABORT);
  put_be16(value, 0);
  put_be32(value + 2, (uint32_t)coordinator_epoch);
  nd_record rec = {.key = key,
                   .key_len = sizeof key,
                   .value = value,
                   .value_len = sizeof value,
                   .timestamp = ND_TIMESTAMP_NOW};
  void *buf;
  size_t len;
  int rc = nd_batch_encode(&rec, 1, 0, store_now_ms(), 0, &buf, &len);
  if (rc)
    return rc;
  uint8_t *b = buf;
  put_be16(b + BATCH_AT_ATTRIBUTES,
           ND_BATCH_ATTR_TRANSACTIONAL | ND_BATCH_ATTR_CONTROL);
  put_be64(b + BATCH_AT_PRODUCER_ID, (uint64_t)producer_id);
  put_be16(b + BATCH_AT_PRODUCER_EPOCH, (uint16_t)producer_epoch);
  nd_batch_set_crc(b, len);
  nd_append_info info;
  rc = nd_append_batch(store, name, p, b, len,
                       (flags & ND_APPEND_SYNC) | ND_APPEND_CONTROL, &info);
  nd_free(buf);
  /* base_offset -1: no open transaction, nothing written. */
  if (rc == 0 && offset)
    *offset = info.base_offset;
  return rc;
}
