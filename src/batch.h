/*
 * batch.h — Kafka RecordBatch v2: the unit of storage and transfer.
 *
 * Layout (big-endian; offsets from the batch start):
 *    0 baseOffset i64        8 batchLength i32 (bytes after this field)
 *   12 partitionLeaderEpoch  16 magic i8 = 2      17 crc u32 (CRC-32C of
 *   21..end)                 21 attributes i16    23 lastOffsetDelta i32
 *   27 baseTimestamp i64     35 maxTimestamp i64  43 producerId i64
 *   51 producerEpoch i16     53 baseSequence i32  57 recordCount i32
 *   61 records (zigzag-varint framed; compressed as one blob if codec != 0)
 *
 * A batch is valid when it is complete, batchLength >= 49, magic == 2, the
 * CRC matches, and recordCount / lastOffsetDelta are sane. Recovery and
 * nd_append_batch both use batch_check(); nothing else decides validity.
 */
#ifndef ND_BATCH_H
#define ND_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

#define BATCH_HEADER_SIZE 61
#define BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define BATCH_MAGIC 2
#define BATCH_ATTR_CODEC_MASK 0x07
#define BATCH_ATTR_LOG_APPEND_TIME 0x08
#define BATCH_ATTR_TRANSACTIONAL 0x10
#define BATCH_ATTR_CONTROL 0x20

typedef struct batch_header {
  int64_t base_offset;
  int32_t length; /* batchLength */
  int32_t leader_epoch;
  int8_t magic;
  uint32_t crc;
  int16_t attributes;
  int32_t last_offset_delta;
  int64_t base_timestamp;
  int64_t max_timestamp;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t record_count;
} batch_header;

static inline uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}
static inline uint64_t be64(const uint8_t *p) {
  return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static inline uint16_t be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}
static inline void put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v) {
  put_be32(p, (uint32_t)(v >> 32));
  put_be32(p + 4, (uint32_t)v);
}

/* Offset and timestamp arithmetic on bytes from clients or disk wraps
 * instead of overflowing: a hostile baseOffset (outside the CRC) must not
 * be undefined behaviour. Callers then reject what is out of range. */
static inline int64_t add_wrap(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t sub_wrap(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a - (uint64_t)b);
}
/* Last offset of the batch at p: baseOffset + lastOffsetDelta. */
static inline int64_t batch_last_offset(const uint8_t *p) {
  return add_wrap((int64_t)be64(p), (int32_t)be32(p + 23));
}

/* Header fields that must hold even where the CRC is not checked (below
 * the recovery point, the header walk of a clean open): a negative record
 * count or last offset delta would move offsets backwards. */
static inline int batch_header_sane(const uint8_t *p) {
  return (int32_t)be32(p + 57) >= 0 && (int32_t)be32(p + 23) >= 0;
}

/* Decode the 61-byte header at p (caller ensures 61 bytes). */
void batch_header_decode(const uint8_t *p, batch_header *h);

/* Result of checking bytes that should start with a batch. */
enum batch_status {
  BATCH_VALID = 0,
  BATCH_SHORT = 1, /* fewer bytes than the header or batchLength says */
  BATCH_INVALID = 2,
};

/* Check the batch at p with `avail` bytes available. On BATCH_VALID,
 * *total is its full size (12 + batchLength). Otherwise *why names the
 * problem (static string). Checks the CRC when check_crc. */
enum batch_status batch_check(const uint8_t *p, size_t avail, int check_crc,
                              size_t *total, const char **why);

/* Kafka's bounds on CreateTime record timestamps (LogValidator's
 * validateTimestamp): a record is refused when now - ts > before_max or
 * ts - now > after_max, both differences in wrapping 64-bit arithmetic as
 * Java computes them, so that a timestamp near INT64_MIN is refused even
 * with before_max = INT64_MAX; -1 (no timestamp) is never refused. Each
 * refused record is counted in bad and added to the thread's
 * nd_record_errors() list (while memory lasts). */
typedef struct ts_check {
  int64_t now, before_max, after_max;
  size_t bad; /* records refused so far */
} ts_check;

/* 1 if a record with timestamp ts is out of tc's bounds. */
int ts_check_refuses(const ts_check *tc, int64_t ts);

/* For an uncompressed batch from a client: every record's framing stays
 * inside the batch, there are exactly recordCount records, and their
 * offset deltas are 0, 1, 2, ... (Kafka rejects anything else, so a
 * record cannot claim an offset outside its batch). Returns 0, or -1 with
 * *why set. *max_ts_delta (may be NULL) gets the largest record timestamp
 * delta. Compressed batches are not looked into here (*max_ts_delta is
 * INT64_MIN; see batch_check_record_area). */
int batch_check_records(const uint8_t *p, size_t total, int64_t *max_ts_delta,
                        ts_check *tc, const char **why);
/* The same checks on a record area: the bytes after the header at hdr, or
 * their decompressed form for a compressed batch. With tc, every record's
 * timestamp is also checked (see ts_check). */
int batch_check_record_area(const uint8_t *hdr, const uint8_t *records,
                            size_t len, int32_t count, int64_t *max_ts_delta,
                            ts_check *tc, const char **why);
/* A client's maxTimestamp is not trusted, as Kafka does not trust it (some
 * producers leave it at -1): set it to baseTimestamp + max_ts_delta and
 * fix the CRC. Nothing changes for a LogAppendTime batch or when
 * max_ts_delta is INT64_MIN (not known). Returns 1 if it rewrote the
 * header, else 0. */
int batch_fix_max_timestamp(uint8_t *p, size_t total, int64_t max_ts_delta);

/* Recompute the CRC of a complete batch in place. */
void batch_update_crc(uint8_t *p, size_t total);

/* Stamp LogAppendTime: set attribute bit 3, maxTimestamp = ts, fix CRC. */
void batch_set_log_append_time(uint8_t *p, size_t total, int64_t ts);

/* Encode records as one uncompressed batch with base offset 0 into a
 * malloc'ed or reused buffer: *buf of capacity *cap grows as needed.
 * Timestamps of ND_TIMESTAMP_NOW become now_ms. Returns the batch size or
 * a negative code (ND_EINVAL, ND_ENOMEM, ND_ETOOLARGE over 2 GiB). */
int64_t batch_encode(const nd_record *recs, size_t n, int64_t now_ms,
                     int log_append_time, uint8_t **buf, size_t *cap);

/* Zigzag varints, as records use them. */
size_t varint_size(int64_t v);
size_t varint_write(uint8_t *p, int64_t v);
/* Read one zigzag varint (at most 10 bytes) from [*p, end). Returns 0 and
 * advances *p, or -1 if truncated or overlong. */
int varint_read(const uint8_t **p, const uint8_t *end, int64_t *out);

#endif
