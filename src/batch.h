/* SPDX-License-Identifier: Apache-2.0 */
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
 * Only batch.h and batch.c know these byte offsets: everything else reads
 * and writes header fields through the batch_* accessors below.
 *
 * Validity. A batch is valid when it is complete, batchLength >= 49,
 * magic == 2, the CRC matches, and recordCount / lastOffsetDelta are not
 * negative; in a log, base offsets also ascend. Which of these a reader
 * checks is its validation level (enum batch_check). One function in
 * batch.c decides them, used by the batch cursor and by batch_check();
 * every reader of .log bytes or of a client's batches in the library goes
 * through one of the two (nd_iter too), so nothing else decides validity.
 * Code outside the library that peeks at a batch (the broker's
 * request-level checks, the codecs) decides nothing for the store: every
 * batch is checked here before it is stored.
 *
 * The batch cursor: one walker over batches back to back, used for every
 * walk of .log bytes (recovery, reads, offset and time lookups, index
 * rebuild, producer state, the tail walk of a clean open) and of batches
 * in memory (a client's request, append's passes).
 *
 *   - Two sources, one contract. batch_cursor_fd() walks [pos, end) of a
 *     file through a buffer the caller sizes (and may provide, e.g. on its
 *     stack): one pread fills it, and it is refilled only when the next
 *     header (or, when the whole batch is needed, the next batch) is not
 *     already in it; a batch larger than the buffer is read whole into a
 *     second, malloc'ed buffer only when the whole batch is needed.
 *     batch_cursor_mem() walks bytes already in memory, without copying.
 *   - batch_cursor_next() yields one batch at a time: its position, size
 *     and a pointer to its bytes. The header (61 bytes) is always there;
 *     the whole batch is there in a memory walk, at the CRC level, and
 *     after batch_cursor_load(). The pointer is valid until the next call
 *     on the cursor. Positions are file positions (fd) or indexes into
 *     the caller's bytes (memory).
 *   - The checks (a level, plus BATCH_CHECK_DENSE for a log whose offsets
 *     must follow each other exactly) are made in this order: framing
 *     (enough bytes for batchLength and magic, batchLength >= 49, magic 2,
 *     the whole batch before the end), fields, offset order, CRC. They may
 *     be changed between batches (recovery checks CRCs from a position).
 *   - At the first batch that fails, or at the end, the walk stops and says
 *     why (enum batch_stop), where (stop_pos: the first byte not accepted)
 *     and in words (why: a static string). A clean end is BATCH_STOP_END:
 *     the last batch ended exactly at the walk's end. A file shorter than
 *     the end it was given ends the walk where a read meets the file's
 *     end: a header cut there is BATCH_STOP_TORN, and so is a batch the
 *     walk reads whole; an fd walk below the CRC level reads only headers
 *     and takes a whole header at its word (the caller vouches for the
 *     bytes below end). A memory walk over a prefix of a longer
 *     log (end set past the bytes given) stops with BATCH_STOP_MEMORY when
 *     the next batch runs past the bytes in memory, with its size in
 *     c->size when known, so the caller can read the rest. A failed read
 *     or allocation is not a finding: next() returns its negative code
 *     (BATCH_STOP_IO).
 *   - Not thread-safe: a cursor belongs to one thread. It holds no lock
 *     and never writes; the caller keeps the file's bytes below `end`
 *     stable (as segment.h's published size does).
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
/* ---- header fields ------------------------------------------------------
 * Accessors of the header at p (61 bytes there). They read what the bytes
 * say: whether that is valid is the cursor's or batch_check()'s to say. */

enum {
  BATCH_AT_BASE_OFFSET = 0,
  BATCH_AT_LENGTH = 8,
  BATCH_AT_LEADER_EPOCH = 12,
  BATCH_AT_MAGIC = 16,
  BATCH_AT_CRC = 17,
  BATCH_AT_ATTRIBUTES = 21, /* the CRC covers from here to the end */
  BATCH_AT_LAST_OFFSET_DELTA = 23,
  BATCH_AT_BASE_TIMESTAMP = 27,
  BATCH_AT_MAX_TIMESTAMP = 35,
  BATCH_AT_PRODUCER_ID = 43,
  BATCH_AT_PRODUCER_EPOCH = 51,
  BATCH_AT_BASE_SEQUENCE = 53,
  BATCH_AT_RECORD_COUNT = 57,
};

static inline int64_t batch_base_offset(const uint8_t *p) {
  return (int64_t)be64(p + BATCH_AT_BASE_OFFSET);
}
/* batchLength: the bytes after this field. */
static inline int32_t batch_length(const uint8_t *p) {
  return (int32_t)be32(p + BATCH_AT_LENGTH);
}
/* The whole batch's size, 12 + batchLength (meaningful once framed). */
static inline uint64_t batch_size(const uint8_t *p) {
  return (uint64_t)be32(p + BATCH_AT_LENGTH) + BATCH_LOG_OVERHEAD;
}
static inline int32_t batch_leader_epoch(const uint8_t *p) {
  return (int32_t)be32(p + BATCH_AT_LEADER_EPOCH);
}
static inline int batch_magic(const uint8_t *p) {
  return (int8_t)p[BATCH_AT_MAGIC];
}
static inline uint32_t batch_crc(const uint8_t *p) {
  return be32(p + BATCH_AT_CRC);
}
static inline int16_t batch_attributes(const uint8_t *p) {
  return (int16_t)be16(p + BATCH_AT_ATTRIBUTES);
}
static inline int batch_codec(const uint8_t *p) {
  return batch_attributes(p) & BATCH_ATTR_CODEC_MASK;
}
static inline int batch_is_control(const uint8_t *p) {
  return (batch_attributes(p) & BATCH_ATTR_CONTROL) != 0;
}
static inline int batch_is_transactional(const uint8_t *p) {
  return (batch_attributes(p) & BATCH_ATTR_TRANSACTIONAL) != 0;
}
static inline int batch_is_log_append_time(const uint8_t *p) {
  return (batch_attributes(p) & BATCH_ATTR_LOG_APPEND_TIME) != 0;
}
static inline int32_t batch_last_offset_delta(const uint8_t *p) {
  return (int32_t)be32(p + BATCH_AT_LAST_OFFSET_DELTA);
}
static inline int64_t batch_base_timestamp(const uint8_t *p) {
  return (int64_t)be64(p + BATCH_AT_BASE_TIMESTAMP);
}
static inline int64_t batch_max_timestamp(const uint8_t *p) {
  return (int64_t)be64(p + BATCH_AT_MAX_TIMESTAMP);
}
static inline int64_t batch_producer_id(const uint8_t *p) {
  return (int64_t)be64(p + BATCH_AT_PRODUCER_ID);
}
static inline int16_t batch_producer_epoch(const uint8_t *p) {
  return (int16_t)be16(p + BATCH_AT_PRODUCER_EPOCH);
}
static inline int32_t batch_base_sequence(const uint8_t *p) {
  return (int32_t)be32(p + BATCH_AT_BASE_SEQUENCE);
}
static inline int32_t batch_record_count(const uint8_t *p) {
  return (int32_t)be32(p + BATCH_AT_RECORD_COUNT);
}
/* Last offset of the batch at p: baseOffset + lastOffsetDelta. */
static inline int64_t batch_last_offset(const uint8_t *p) {
  return add_wrap(batch_base_offset(p), batch_last_offset_delta(p));
}
/* The offset after the batch: where the next one must start. */
static inline int64_t batch_next_offset(const uint8_t *p) {
  return add_wrap(batch_last_offset(p), 1);
}

/* The fields the store writes into a batch it appends (outside the CRC). */
static inline void batch_set_base_offset(uint8_t *p, int64_t v) {
  put_be64(p + BATCH_AT_BASE_OFFSET, (uint64_t)v);
}
static inline void batch_set_leader_epoch(uint8_t *p, int32_t v) {
  put_be32(p + BATCH_AT_LEADER_EPOCH, (uint32_t)v);
}

/* Header fields that must hold even where the CRC is not checked (below
 * the recovery point, the header walk of a clean open): a negative record
 * count or last offset delta would move offsets backwards. */
static inline int batch_header_sane(const uint8_t *p) {
  return batch_record_count(p) >= 0 && batch_last_offset_delta(p) >= 0;
}

/* Decode the 61-byte header at p (caller ensures 61 bytes). */
void batch_header_decode(const uint8_t *p, batch_header *h);

/* ---- validity ------------------------------------------------------------ */

/* What a walk checks of each batch: a level, optionally with DENSE.
 * FRAME is always checked: without it there is no next batch. */
enum batch_check {
  BATCH_CHECK_FRAME = 1 << 0,  /* batchLength >= 49, magic 2, complete */
  BATCH_CHECK_FIELDS = 1 << 1, /* recordCount, lastOffsetDelta >= 0 */
  BATCH_CHECK_ORDER = 1 << 2,  /* base offset >= the expected one */
  BATCH_CHECK_DENSE = 1 << 3,  /* base offset == the expected one */
  BATCH_CHECK_CRC = 1 << 4,    /* CRC-32C over attributes..end */
  /* The levels. HEADER is what a read of bytes known valid needs to find
   * its way (bytes below a segment's published size are whole batches);
   * SANE what a walk that reads no record data can check; CRC everything. */
  BATCH_LEVEL_HEADER = BATCH_CHECK_FRAME,
  BATCH_LEVEL_SANE = BATCH_CHECK_FRAME | BATCH_CHECK_FIELDS | BATCH_CHECK_ORDER,
  BATCH_LEVEL_CRC = BATCH_LEVEL_SANE | BATCH_CHECK_CRC,
  /* A client's batches: offsets are not assigned yet, so not ordered. */
  BATCH_LEVEL_CLIENT = BATCH_CHECK_FRAME | BATCH_CHECK_FIELDS | BATCH_CHECK_CRC,
};

/* Why a walk stopped. */
typedef enum batch_stop {
  BATCH_STOP_NONE = 0, /* not stopped */
  BATCH_STOP_END,      /* the last batch ended exactly at the end */
  /* Findings: the bytes at stop_pos are not a batch the checks accept. */
  BATCH_STOP_TORN,      /* the end comes inside the header or the batch */
  BATCH_STOP_LENGTH,    /* batchLength below 49 */
  BATCH_STOP_MAGIC,     /* magic is not 2 */
  BATCH_STOP_FIELDS,    /* negative recordCount or lastOffsetDelta */
  BATCH_STOP_BACKWARDS, /* base offset below the expected one */
  BATCH_STOP_GAP,       /* DENSE: base offset above the expected one */
  BATCH_STOP_CRC,       /* CRC-32C mismatch */
  /* Not findings. */
  BATCH_STOP_MEMORY, /* memory walk: the batch runs past the bytes given */
  BATCH_STOP_IO,     /* a read or an allocation failed: see next()'s code */
} batch_stop;

/* 1 if the stop is a finding about the bytes (TORN .. CRC). */
static inline int batch_stop_is_finding(batch_stop s) {
  return s >= BATCH_STOP_TORN && s <= BATCH_STOP_CRC;
}

typedef struct batch_cursor {
  /* The current batch, after next() returned 1: its bytes (the header at
   * least, see the contract above), position and size (12 + batchLength).
   * After a stop: pos is stop_pos, and size the size the header there
   * claims when it could be read (else 0). */
  const uint8_t *batch;
  uint64_t pos;
  uint64_t size;
  /* Why and where the walk stopped (BATCH_STOP_NONE while walking). */
  batch_stop stop;
  uint64_t stop_pos;
  const char *why;
  /* What is checked (enum batch_check); may change between batches. */
  unsigned checks;
  /* Where the walk ends: the file or log position after the last byte it
   * may read. A memory walk's end is the length given; set it higher for
   * a prefix of a longer log (see BATCH_STOP_MEMORY). */
  uint64_t end;
  /* private */
  int fd; /* -1: memory walk */
  uint64_t next_pos;
  int64_t expect; /* ORDER/DENSE: the next base offset, if have_expect */
  int have_expect;
  const uint8_t *win; /* bytes [win_pos, win_pos + win_len) */
  uint64_t win_pos;
  size_t win_len;
  uint64_t eof; /* where the bytes end (memory, or a short read); else max */
  uint8_t *buf; /* fd walk: the caller's buffer, or a malloc'ed one */
  size_t cap;
  int buf_owned;
  uint8_t *big; /* fd walk: for whole batches larger than buf */
  size_t big_cap;
} batch_cursor;

/* Walk the batches in data[0, len) (positions are indexes into data),
 * checking `checks` (enum batch_check). The bytes are borrowed, not
 * copied, until the walk ends; every batch yielded is whole in them. */
void batch_cursor_mem(batch_cursor *c, const void *data, size_t len,
                      unsigned checks);

/* Walk the batches in [pos, end) of the file fd, checking `checks`,
 * reading through buf of cap bytes (the caller's, borrowed; or, when buf
 * is NULL, a malloc'ed one of cap bytes made at the first read). What
 * does not fit in cap bytes (a whole batch at the CRC level, a header when
 * cap < 61) is read into a malloc'ed buffer of its size. The descriptor is
 * borrowed. Call batch_cursor_close() after. */
void batch_cursor_fd(batch_cursor *c, int fd, uint64_t pos, uint64_t end,
                     void *buf, size_t cap, unsigned checks);

/* With ORDER or DENSE: the base offset the next batch must have (DENSE)
 * or at least have (ORDER). Without a call, the first batch's is not
 * checked; after each batch it is that batch's last offset + 1. */
void batch_cursor_expect(batch_cursor *c, int64_t offset);

/* Where the next batch starts (before the first next(): the start). */
static inline uint64_t batch_cursor_next_pos(const batch_cursor *c) {
  return c->next_pos;
}

/* Move to the next batch. Returns 1 (c->batch, c->pos, c->size describe
 * it), 0 when the walk stopped (c->stop, c->stop_pos, c->why say why; a
 * stopped cursor stays stopped), or a negative code when a read or an
 * allocation failed: -errno from pread, ND_ENOMEM (c->stop is then
 * BATCH_STOP_IO; calling again retries the same batch). Sets no error
 * message (see batch_cursor_load). */
int batch_cursor_next(batch_cursor *c);

/* Make the whole current batch available at c->batch (an fd walk below
 * the CRC level holds only its header). Returns 0, or a negative code:
 * as next(), ND_ECORRUPT when the file now ends inside the batch (it was
 * framed against the end, so the file shrank), ND_EINVAL without a
 * current batch. Like next(), it sets no error message: the caller, who
 * knows the file, does. */
int batch_cursor_load(batch_cursor *c);

/* Free what the cursor allocated (not the caller's buffer). Safe to call
 * twice and on a memory walk. */
void batch_cursor_close(batch_cursor *c);

/* 1 if the CRC-32C stored in the whole, framed batch at p (size bytes)
 * matches its bytes: the CRC check of the cursor and batch_check(), for a
 * walker that reports a CRC mismatch without stopping (nd_log_walk). */
int batch_crc_ok(const uint8_t *p, uint64_t size);

/* Result of checking bytes that should start with a batch. */
enum batch_status {
  BATCH_VALID = 0,
  BATCH_SHORT = 1, /* fewer bytes than the header or batchLength says */
  BATCH_INVALID = 2,
};

/* Check the one batch at p with `avail` bytes available: framing and
 * fields, and the CRC when check_crc (the cursor's checks, without offset
 * order). On BATCH_VALID, *total is its full size (12 + batchLength).
 * Otherwise *why names the problem (static string). */
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
  size_t bad;     /* records refused for their timestamp so far */
  int check_ts;   /* 0: timestamps are not checked (LogAppendTime) */
  int need_key;   /* a compacted topic: a record without a key is refused
                     (ND_ENOKEY), before its timestamp is looked at, as
                     Kafka's LogValidator orders its checks */
  size_t keyless; /* records refused for a null key so far */
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
/* The record area of the whole batch b (len bytes): in place when it is
 * uncompressed, else inflated by dec into *owned, which the caller frees
 * with free() (NULL when nothing was allocated). Returns 0, ND_ECODEC for
 * a compressed batch and no dec (nothing set but *owned), or dec's error
 * with its message. */
int batch_record_area(const uint8_t *b, size_t len, nd_decompress_fn dec,
                      const uint8_t **area, size_t *area_len, void **owned);
/* The same checks on a record area: the bytes after the header at hdr, or
 * their decompressed form for a compressed batch. With tc, every record's
 * key (need_key) and timestamp (check_ts) are also checked (see
 * ts_check). */
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

/* batch_encode with record i at offset delta deltas[i] (increasing, >= 0;
 * lastOffsetDelta is the last one), as a cleaned batch keeps its records'
 * offsets: for tests that build a cleaned log by hand (nodata_testing.h).
 * ND_EINVAL if the deltas do not increase. */
int64_t batch_encode_deltas(const nd_record *recs, size_t n,
                            const int32_t *deltas, int64_t now_ms,
                            uint8_t **buf, size_t *cap);

/* Zigzag varints, as records use them. */
size_t varint_size(int64_t v);
size_t varint_write(uint8_t *p, int64_t v);
/* Read one zigzag varint (at most 10 bytes) from [*p, end). Returns 0 and
 * advances *p, or -1 if truncated or overlong. */
int varint_read(const uint8_t **p, const uint8_t *end, int64_t *out);
/* The type of the transaction marker in the whole control batch b (len
 * bytes): 0 ABORT, 1 COMMIT (Kafka's EndTransactionMarker key), or -1 when
 * its first record is not a marker key. */
int batch_control_type(const uint8_t *b, size_t len);
/* batch_control_type, and *coord_epoch (not NULL) gets the marker's
 * coordinatorEpoch (its value: version i16, coordinatorEpoch i32), or -1
 * when it is not a marker or its value is too short to hold one. */
int batch_control_marker(const uint8_t *b, size_t len, int32_t *coord_epoch);

#endif
