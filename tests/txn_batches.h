/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txn_batches.h — transactional batches as a Kafka producer builds them
 * (attributes bit 4, producer id/epoch, base sequence), for the tests of
 * transactions at the partition level.
 */
#ifndef ND_TEST_TXN_BATCHES_H
#define ND_TEST_TXN_BATCHES_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "nodata.h"
#include "nodata_testing.h"

/* n records "<tag>-<i>" (keys "k<i % keys>" when keys > 0) in one batch
 * of producer pid/epoch from sequence seq; transactional unless txn is 0.
 * nd_free() the result. */
static inline uint8_t *txn_batch(int64_t pid, int16_t epoch, int32_t seq,
                                 int txn, const char *tag, int n, int keys,
                                 size_t *len) {
  nd_record r[64];
  char vals[64][32], ks[64][16];
  if (n > 64)
    n = 64;
  for (int i = 0; i < n; i++) {
    snprintf(vals[i], sizeof vals[i], "%s-%d", tag, i);
    r[i] = (nd_record){.value = vals[i],
                       .value_len = strlen(vals[i]),
                       .timestamp = ND_TIMESTAMP_NOW};
    if (keys > 0) {
      snprintf(ks[i], sizeof ks[i], "k%d", i % keys);
      r[i].key = ks[i];
      r[i].key_len = strlen(ks[i]);
    }
  }
  /* These producers have no transactional id: the partition level is
   * tested without the coordinator's append check (test_txn_coord.c
   * tests that). */
  nd_test_txn_unchecked(1);
  void *out = NULL;
  /* Stamped now: retention by time must not take the segments. */
  if (nd_batch_encode(r, (size_t)n, 0, (int64_t)time(NULL) * 1000, 0, &out,
                      len) != 0)
    return NULL;
  uint8_t *b = out;
  put_be16(b + 21, (uint16_t)(be16(b + 21) | (txn ? 0x10 : 0)));
  put_be64(b + 43, (uint64_t)pid);
  put_be16(b + 51, (uint16_t)epoch);
  put_be32(b + 53, (uint32_t)seq);
  nd_batch_set_crc(b, *len);
  return b;
}

/* Append such a batch to topic/partition; *base gets its offset. */
static inline int txn_append(nd_store *s, const char *topic, int32_t p,
                             int64_t pid, int16_t epoch, int32_t seq, int txn,
                             const char *tag, int n, int64_t *base) {
  size_t len;
  uint8_t *b = txn_batch(pid, epoch, seq, txn, tag, n, 0, &len);
  if (!b)
    return ND_ENOMEM;
  nd_append_info ai;
  int rc = nd_append_batch(s, topic, p, b, len, 0, &ai);
  nd_free(b);
  if (rc == 0 && base)
    *base = ai.base_offset;
  return rc;
}

#endif
