/*
 * record.h — one record inside a RecordBatch v2's record area, decoded in
 * place: the single decoder behind nd_iter (batch.c) and the readers
 * (lookup.c), so both agree on what a well-formed record is.
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

#include "batch.h"
#include "nodata.h"

/* varint_read with the one- and two-byte cases inline: record lengths
 * and the deltas of small batches take one or two bytes, and the
 * sequential read path decodes five varints per record. */
static inline int varint_fast(const uint8_t **pp, const uint8_t *end,
                              int64_t *out) {
  const uint8_t *p = *pp;
  if (end - p >= 2) {
    uint64_t u;
    if (!(p[0] & 0x80)) {
      u = p[0];
      *pp = p + 1;
    } else if (!(p[1] & 0x80)) {
      u = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
      *pp = p + 2;
    } else {
      return varint_read(pp, end, out);
    }
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
  }
  return varint_read(pp, end, out);
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

/* A growable array of header views, owned by whoever decodes. */
typedef struct record_hdrs {
  nd_header *v;
  size_t cap;
} record_hdrs;

/* Decode the record at *pp, inside the record area ending at end, of the
 * batch whose 61-byte header is at b, into *rec (its views point into the
 * record area and into hdrs). On success returns NULL and moves *pp past
 * the record; otherwise returns what is wrong (a static string) with *err
 * ND_ECORRUPT, or ND_ENOMEM when hdrs could not grow. */
const char *record_decode(const uint8_t *b, const uint8_t **pp,
                          const uint8_t *end, nd_record_view *rec,
                          record_hdrs *hdrs, int *err);

#endif
