/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record.h — one record inside a RecordBatch v2's record area, decoded in
 * place: the single decoder behind nd_iter (batch.c) and the readers
 * (lookup.c), so both agree on what a well-formed record is. Inline:
 * it runs once per record on the sequential read path.
 *
 * Record layout (Kafka's DefaultRecord; varints are zigzag):
 *   length varint | attributes i8 | timestampDelta varlong |
 *   offsetDelta varint | keyLength varint, key | valueLength varint, value |
 *   headerCount varint, headers (keyLength, key, valueLength, value)
 * A length of -1 is a null key, value or header value.
 */
#ifndef ND_RECORD_H
#define ND_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "batch.h"
#include "nodata.h"

/* varint_read with the one- and two-byte cases inline: record lengths
 * and the deltas of small batches take one or two bytes, and the
 * sequential read path decodes five varints per record. */
static inline int varint_fast(const uint8_t **pp, const uint8_t *end,
                              int64_t *out) {
  const uint8_t *p = *pp;
  uint64_t u;
  if (p < end && !(p[0] & 0x80)) {
    u = p[0];
    *pp = p + 1;
  } else if (end - p >= 2 && !(p[1] & 0x80)) {
    u = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
    *pp = p + 2;
  } else {
    return varint_read(pp, end, out);
  }
  *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return 0;
}

/* Skip the record at *pp (its length varint first) without decoding it:
 * 0 with *pp past it, or -1 when its length does not fit before end. */
static inline int record_skip(const uint8_t **pp, const uint8_t *end) {
  int64_t len;
  if (varint_fast(pp, end, &len) || len <= 0 || len > end - *pp)
    return -1;
  *pp += len;
  return 0;
}

/* What every record of a batch shares, read from its header once. */
typedef struct record_batch {
  int64_t base_offset, base_timestamp, max_timestamp, producer_id;
  int timestamp_type, codec, is_control;
} record_batch;

static inline void record_batch_init(record_batch *rb, const uint8_t *b) {
  rb->base_offset = batch_base_offset(b);
  rb->base_timestamp = batch_base_timestamp(b);
  rb->max_timestamp = batch_max_timestamp(b);
  rb->producer_id = batch_producer_id(b);
  rb->timestamp_type =
      batch_is_log_append_time(b) ? ND_TS_LOG_APPEND_TIME : ND_TS_CREATE_TIME;
  rb->codec = batch_codec(b);
  rb->is_control = batch_is_control(b);
}

/* A growable array of header views, owned by whoever decodes. */
typedef struct record_hdrs {
  nd_header *v;
  size_t cap;
} record_hdrs;

/* A length-prefixed bytes field: NULL for length -1. */
static inline int record_read_bytes(const uint8_t **p, const uint8_t *end,
                                    const uint8_t **out, size_t *len) {
  int64_t n;
  if (varint_fast(p, end, &n))
    return -1;
  if (n < 0) {
    *out = NULL;
    *len = 0;
    return n == -1 ? 0 : -1;
  }
  if ((uint64_t)n > (uint64_t)(end - *p))
    return -1;
  *out = *p;
  *len = (size_t)n;
  *p += n;
  return 0;
}

/* Decode the record at *pp, inside the record area ending at end, of the
 * batch rb describes, into *rec (its views point into the
 * record area and into hdrs). On success returns NULL and moves *pp past
 * the record; otherwise returns what is wrong (a static string) with *err
 * ND_ECORRUPT, or ND_ENOMEM when hdrs could not grow. */
static inline const char *record_decode(const record_batch *rb,
                                        const uint8_t **pp,
                                        const uint8_t *rec_end,
                                        nd_record_view *rec, record_hdrs *hdrs,
                                        int *err) {
  const uint8_t *p = *pp;
  int64_t len;
  *err = ND_ECORRUPT;
  if (varint_fast(&p, rec_end, &len) || len < 0 || len > rec_end - p)
    return "record length out of bounds";
  const uint8_t *end = p + len;
  int64_t ts_delta, off_delta, nh;
  if (p >= end)
    return "empty record";
  p++; /* record attributes, unused */
  if (varint_fast(&p, end, &ts_delta) || varint_fast(&p, end, &off_delta) ||
      off_delta < 0 || off_delta > INT32_MAX)
    return "bad record timestamp/offset delta";
  if (record_read_bytes(&p, end, &rec->key, &rec->key_len) ||
      record_read_bytes(&p, end, &rec->value, &rec->value_len))
    return "bad record key or value length";
  if (varint_fast(&p, end, &nh) || nh < 0 || nh > (end - p) / 2)
    return "bad record header count";
  if ((size_t)nh > hdrs->cap) {
    nd_header *nhd = realloc(hdrs->v, (size_t)nh * sizeof *nhd);
    if (!nhd) {
      *err = ND_ENOMEM;
      return "out of memory for headers";
    }
    hdrs->v = nhd;
    hdrs->cap = (size_t)nh;
  }
  for (int64_t h = 0; h < nh; h++) {
    const uint8_t *k, *v;
    size_t kl, vl;
    if (record_read_bytes(&p, end, &k, &kl) || !k ||
        record_read_bytes(&p, end, &v, &vl))
      return "bad record header";
    hdrs->v[h].key = (const char *)k;
    hdrs->v[h].key_len = kl;
    hdrs->v[h].value = v;
    hdrs->v[h].value_len = vl;
  }
  *pp = end;
  rec->offset = add_wrap(rb->base_offset, off_delta);
  rec->timestamp_type = rb->timestamp_type;
  rec->timestamp = rb->timestamp_type == ND_TS_LOG_APPEND_TIME
                       ? rb->max_timestamp
                       : add_wrap(rb->base_timestamp, ts_delta);
  rec->headers = nh ? hdrs->v : NULL;
  rec->header_count = (size_t)nh;
  rec->batch_base_offset = rb->base_offset;
  rec->codec = rb->codec;
  rec->producer_id = rb->producer_id;
  rec->is_control = rb->is_control;
  return NULL;
}

#endif
