/* SPDX-License-Identifier: Apache-2.0 */
/*
 * batch.c — RecordBatch v2 checks, encoding, and the record iterator.
 * The format is described in batch.h. Untrusted bytes (client batches,
 * files after a crash) are only read through length-checked steps.
 */
#include "batch.h"
#include "record.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"

void batch_header_decode(const uint8_t *p, batch_header *h) {
  h->base_offset = batch_base_offset(p);
  h->length = batch_length(p);
  h->leader_epoch = batch_leader_epoch(p);
  h->magic = (int8_t)batch_magic(p);
  h->crc = batch_crc(p);
  h->attributes = batch_attributes(p);
  h->last_offset_delta = batch_last_offset_delta(p);
  h->base_timestamp = batch_base_timestamp(p);
  h->max_timestamp = batch_max_timestamp(p);
  h->producer_id = batch_producer_id(p);
  h->producer_epoch = batch_producer_epoch(p);
  h->base_sequence = batch_base_sequence(p);
  h->record_count = batch_record_count(p);
}

/* ---- validity ------------------------------------------------------------ */

/* The one place batch validity is decided (see batch.h), up to the CRC,
 * which needs the whole batch. h holds min(left, 61) bytes, where left is
 * what the walk's range holds from h on. Checks in the documented order;
 * on BATCH_STOP_NONE *size is the batch's size (<= left, >= 61). */
static batch_stop judge(const uint8_t *h, uint64_t left, unsigned checks,
                        int have_expect, int64_t expect, uint64_t *size,
                        const char **why) {
  *size = 0;
  if (left < BATCH_AT_MAGIC + 1) {
    *why = "truncated batch header";
    return BATCH_STOP_TORN;
  }
  if (batch_length(h) < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD) {
    *why = "batch length below the 49-byte minimum";
    return BATCH_STOP_LENGTH;
  }
  if (batch_magic(h) != BATCH_MAGIC) {
    *why = "magic byte is not 2";
    return BATCH_STOP_MAGIC;
  }
  *size = batch_size(h);
  if (*size > left) {
    *why = "batch cut short";
    return BATCH_STOP_TORN;
  }
  if ((checks & BATCH_CHECK_FIELDS) && !batch_header_sane(h)) {
    *why = "negative record count or last offset delta";
    return BATCH_STOP_FIELDS;
  }
  if ((checks & (BATCH_CHECK_ORDER | BATCH_CHECK_DENSE)) && have_expect) {
    int64_t base = batch_base_offset(h);
    int dense = (checks & BATCH_CHECK_DENSE) != 0;
    if (base < expect || (dense && base != expect)) {
      *why = dense ? "batch base offset breaks the offset sequence"
                   : "batch base offset below the previous batch's end";
      return base < expect ? BATCH_STOP_BACKWARDS : BATCH_STOP_GAP;
    }
  }
  return BATCH_STOP_NONE;
}

int batch_crc_ok(const uint8_t *p, uint64_t size) {
  return nd_crc32c(0, p + BATCH_AT_ATTRIBUTES,
                   (size_t)size - BATCH_AT_ATTRIBUTES) == batch_crc(p);
}

enum batch_status batch_check(const uint8_t *p, size_t avail, int check_crc,
                              size_t *total, const char **why) {
  uint64_t size;
  batch_stop st =
      judge(p, avail, BATCH_CHECK_FRAME | BATCH_CHECK_FIELDS, 0, 0, &size, why);
  if (st == BATCH_STOP_TORN)
    return BATCH_SHORT;
  if (st != BATCH_STOP_NONE)
    return BATCH_INVALID;
  if (check_crc && !batch_crc_ok(p, size)) {
    *why = "CRC-32C mismatch";
    return BATCH_INVALID;
  }
  *total = (size_t)size;
  return BATCH_VALID;
}

/* ---- the batch cursor ------------------------------------------------------
 */

static void cursor_init(batch_cursor *c, unsigned checks) {
  memset(c, 0, sizeof *c);
  c->checks = checks | BATCH_CHECK_FRAME;
  c->fd = -1;
}

void batch_cursor_mem(batch_cursor *c, const void *data, size_t len,
                      unsigned checks) {
  cursor_init(c, checks);
  c->end = len;
  c->win = data;
  c->win_len = len;
  c->eof = len; /* the window is all there is: never refilled */
}

void batch_cursor_fd(batch_cursor *c, int fd, uint64_t pos, uint64_t end,
                     void *buf, size_t cap, unsigned checks) {
  cursor_init(c, checks);
  c->fd = fd;
  c->pos = c->next_pos = pos;
  c->end = end;
  c->buf = buf;
  c->cap = cap;
  c->eof = UINT64_MAX; /* not known yet */
}

void batch_cursor_expect(batch_cursor *c, int64_t offset) {
  c->expect = offset;
  c->have_expect = 1;
}

void batch_cursor_close(batch_cursor *c) {
  if (c->buf_owned)
    free(c->buf);
  free(c->big);
  c->buf = c->big = NULL;
  c->buf_owned = 0;
  c->cap = c->big_cap = 0;
  c->win = NULL;
  c->win_len = 0;
  c->batch = NULL;
}

/* Bytes [pos, pos + need) of the walk: a pointer to pos, with *have the
 * bytes there (fewer than need only where the bytes end: the memory given,
 * or the file). An fd walk reads when the window does not hold them: the
 * caller's buffer full (up to the end) when that holds them, else exactly
 * those bytes into the big buffer. *err (0 on entry) is set when a read or
 * an allocation fails. */
static const uint8_t *window(batch_cursor *c, uint64_t pos, size_t need,
                             size_t *have, int *err) {
  uint64_t win_end = c->win_pos + c->win_len;
  if (pos >= c->win_pos && pos <= win_end &&
      (pos + need <= win_end || win_end >= c->eof)) {
    uint64_t in = win_end - pos;
    *have = in < need ? (size_t)in : need;
    if (!c->win)
      return NULL; /* an empty memory walk: no pointer arithmetic on NULL */
    return c->win + (pos - c->win_pos);
  }
  uint64_t left = c->end > pos ? c->end - pos : 0;
  size_t want = c->cap < left ? c->cap : (size_t)left;
  if (want < need)
    want = need;
  uint8_t *dst;
  if (want <= c->cap) {
    if (!c->buf) {
      if (!(c->buf = malloc(c->cap))) {
        *err = ND_ENOMEM;
        return NULL;
      }
      c->buf_owned = 1;
    }
    dst = c->buf;
  } else {
    if (want > c->big_cap) {
      uint8_t *nb = realloc(c->big, want);
      if (!nb) {
        *err = ND_ENOMEM;
        return NULL;
      }
      c->big = nb;
      c->big_cap = want;
    }
    dst = c->big;
  }
  ssize_t n = file_pread_full(c->fd, dst, want, (off_t)pos);
  if (n < 0) {
    c->win_len = 0; /* the buffer's bytes are gone */
    *err = (int)n;
    return NULL;
  }
  c->win = dst;
  c->win_pos = pos;
  c->win_len = (size_t)n;
  if ((size_t)n < want)
    c->eof = pos + (uint64_t)n;
  *have = (size_t)n < need ? (size_t)n : need;
  return dst;
}

static int cursor_stop(batch_cursor *c, batch_stop why_code, const char *why) {
  c->batch = NULL;
  c->stop = why_code;
  c->stop_pos = c->pos;
  c->why = why;
  return 0;
}

static int cursor_io(batch_cursor *c, int err) {
  c->batch = NULL;
  c->stop = BATCH_STOP_IO;
  c->stop_pos = c->pos;
  c->why = err == ND_ENOMEM ? "out of memory" : "read error";
  return err;
}

int batch_cursor_next(batch_cursor *c) {
  if (c->stop != BATCH_STOP_NONE && c->stop != BATCH_STOP_IO)
    return 0;
  c->stop = BATCH_STOP_NONE;
  c->batch = NULL;
  uint64_t pos = c->pos = c->next_pos;
  c->size = 0;
  if (pos >= c->end)
    return cursor_stop(c, BATCH_STOP_END, "end of the log");
  uint64_t left = c->end - pos;
  size_t need = left < BATCH_HEADER_SIZE ? (size_t)left : BATCH_HEADER_SIZE;
  size_t have = 0; /* set by window() unless err; gcc -O3 cannot see it */
  int err = 0;
  const uint8_t *h = window(c, pos, need, &have, &err);
  if (err)
    return cursor_io(c, err);
  int mem = c->fd < 0;
  if (have < need) {
    if (mem) { /* more of the log than was given: the caller reads on */
      if (have >= BATCH_LOG_OVERHEAD)
        c->size = batch_size(h);
      return cursor_stop(c, BATCH_STOP_MEMORY,
                         "batch runs past the bytes in memory");
    }
    left = have; /* the file ends before the walk's end */
  }
  uint64_t size;
  const char *why;
  batch_stop st =
      judge(h, left, c->checks, c->have_expect, c->expect, &size, &why);
  c->size = size;
  if (st != BATCH_STOP_NONE)
    return cursor_stop(c, st, why);
  if (mem || (c->checks & BATCH_CHECK_CRC)) {
    h = window(c, pos, (size_t)size, &have, &err);
    if (err)
      return cursor_io(c, err);
    if (have < size)
      return mem ? cursor_stop(c, BATCH_STOP_MEMORY,
                               "batch runs past the bytes in memory")
                 : cursor_stop(c, BATCH_STOP_TORN, "batch cut short");
    if ((c->checks & BATCH_CHECK_CRC) && !batch_crc_ok(h, size))
      return cursor_stop(c, BATCH_STOP_CRC, "CRC-32C mismatch");
  }
  c->batch = h;
  c->next_pos = pos + size;
  c->expect = batch_next_offset(h);
  c->have_expect = 1;
  return 1;
}

int batch_cursor_load(batch_cursor *c) {
  if (!c->batch)
    return ND_EINVAL;
  size_t have = 0;
  int err = 0;
  const uint8_t *p = window(c, c->pos, (size_t)c->size, &have, &err);
  if (err)
    return err;
  if (have < c->size)
    return ND_ECORRUPT;
  c->batch = p;
  return 0;
}

int ts_check_refuses(const ts_check *tc, int64_t ts) {
  if (ts == -1)
    return 0;
  int64_t diff = sub_wrap(tc->now, ts);
  return diff > tc->before_max || sub_wrap(0, diff) > tc->after_max;
}

int batch_record_area(const uint8_t *b, size_t len, nd_decompress_fn dec,
                      const uint8_t **area, size_t *area_len, void **owned) {
  *owned = NULL;
  int codec = batch_codec(b);
  if (codec == ND_CODEC_NONE) {
    *area = b + BATCH_HEADER_SIZE;
    *area_len = len - BATCH_HEADER_SIZE;
    return 0;
  }
  if (!dec)
    return ND_ECODEC;
  void *out = NULL;
  size_t out_len = 0;
  int rc = dec(codec, b + BATCH_HEADER_SIZE, len - BATCH_HEADER_SIZE, &out,
               &out_len);
  if (rc) {
    free(out);
    return rc;
  }
  *owned = out;
  *area = out;
  *area_len = out_len;
  return 0;
}

int batch_check_record_area(const uint8_t *hdr, const uint8_t *r, size_t len,
                            int32_t count, int64_t *max_ts_delta, ts_check *tc,
                            const char **why) {
  const uint8_t *end = r + len;
  int64_t max_delta = INT64_MIN;
  for (int32_t i = 0; i < count; i++) {
    int64_t rec_len, ts_delta, off_delta;
    if (varint_read(&r, end, &rec_len) || rec_len < 1 || rec_len > end - r) {
      *why = "record length runs past the batch";
      return -1;
    }
    const uint8_t *q = r + 1, *rec_end = r + rec_len; /* past attributes */
    if (varint_read(&q, rec_end, &ts_delta) ||
        varint_read(&q, rec_end, &off_delta)) {
      *why = "record header cut short";
      return -1;
    }
    if (off_delta != i) {
      *why = "record offset deltas are not 0, 1, 2, ...";
      return -1;
    }
    if (ts_delta > max_delta)
      max_delta = ts_delta;
    int64_t key_len = 0;
    if (tc && tc->need_key &&
        (varint_read(&q, rec_end, &key_len) == 0 && key_len < 0)) {
      /* Out of memory, the list is short but the count is right. */
      tc->keyless++;
      (void)record_errors_add(ND_ENOKEY, i,
                              add_wrap(batch_base_offset(hdr), off_delta),
                              add_wrap(batch_base_timestamp(hdr), ts_delta));
    } else if (tc && tc->check_ts) {
      int64_t ts = add_wrap(batch_base_timestamp(hdr), ts_delta);
      if (ts_check_refuses(tc, ts)) {
        tc->bad++;
        (void)record_errors_add(
            ND_ETIMESTAMP, i, add_wrap(batch_base_offset(hdr), off_delta), ts);
      }
    }
    r = rec_end;
  }
  if (r != end) {
    *why = "bytes after the last record";
    return -1;
  }
  if (max_ts_delta)
    *max_ts_delta = max_delta;
  return 0;
}

int batch_check_records(const uint8_t *p, size_t total, int64_t *max_ts_delta,
                        ts_check *tc, const char **why) {
  if (max_ts_delta)
    *max_ts_delta = INT64_MIN;
  if (batch_codec(p))
    return 0;
  return batch_check_record_area(p, p + BATCH_HEADER_SIZE,
                                 total - BATCH_HEADER_SIZE,
                                 batch_record_count(p), max_ts_delta, tc, why);
}

int batch_fix_max_timestamp(uint8_t *p, size_t total, int64_t max_ts_delta) {
  if (max_ts_delta == INT64_MIN || batch_is_log_append_time(p))
    return 0;
  /* Kafka's record timestamp is baseTimestamp + delta, in wrapping int64. */
  int64_t max_ts = add_wrap(batch_base_timestamp(p), max_ts_delta);
  if (batch_max_timestamp(p) == max_ts)
    return 0;
  put_be64(p + BATCH_AT_MAX_TIMESTAMP, (uint64_t)max_ts);
  batch_update_crc(p, total);
  return 1;
}

void batch_update_crc(uint8_t *p, size_t total) {
  put_be32(p + BATCH_AT_CRC,
           nd_crc32c(0, p + BATCH_AT_ATTRIBUTES, total - BATCH_AT_ATTRIBUTES));
}

void batch_set_log_append_time(uint8_t *p, size_t total, int64_t ts) {
  uint16_t attr = (uint16_t)batch_attributes(p);
  put_be16(p + BATCH_AT_ATTRIBUTES, attr | BATCH_ATTR_LOG_APPEND_TIME);
  put_be64(p + BATCH_AT_MAX_TIMESTAMP, (uint64_t)ts);
  batch_update_crc(p, total);
}

/* ---- varints ----------------------------------------------------------- */

size_t varint_size(int64_t v) {
  uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  size_t n = 1;
  while (u >= 0x80) {
    u >>= 7;
    n++;
  }
  return n;
}

size_t varint_write(uint8_t *p, int64_t v) {
  uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  size_t n = 0;
  while (u >= 0x80) {
    p[n++] = (uint8_t)(u | 0x80);
    u >>= 7;
  }
  p[n++] = (uint8_t)u;
  return n;
}

int varint_read(const uint8_t **pp, const uint8_t *end, int64_t *out) {
  const uint8_t *p = *pp;
  uint64_t u = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p >= end)
      return -1;
    uint8_t b = *p++;
    if (shift == 63 && (b & 0x7e))
      return -1; /* more than 64 bits */
    u |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
      *pp = p;
      return 0;
    }
  }
  return -1;
}

int batch_control_marker(const uint8_t *b, size_t len, int32_t *coord_epoch) {
  *coord_epoch = -1;
  if (len < BATCH_HEADER_SIZE || batch_codec(b) != 0)
    return -1;
  const uint8_t *p = b + BATCH_HEADER_SIZE, *end = b + len;
  int64_t v;
  /* length, attributes (1 byte), timestampDelta, offsetDelta, keyLength */
  if (varint_read(&p, end, &v) || p >= end)
    return -1;
  p++;
  if (varint_read(&p, end, &v) || varint_read(&p, end, &v) ||
      varint_read(&p, end, &v) || v < 4 || end - p < v)
    return -1;
  int type = (int)be16(p + 2);
  if (be16(p) != 0 || (type != 0 && type != 1))
    return -1;
  /* valueLength, then the value: version i16, coordinatorEpoch i32 */
  p += v;
  if (varint_read(&p, end, &v) == 0 && v >= 6 && end - p >= 6)
    *coord_epoch = (int32_t)be32(p + 2);
  return type;
}

int batch_control_type(const uint8_t *b, size_t len) {
  int32_t coord_epoch;
  return batch_control_marker(b, len, &coord_epoch);
}

/* ---- encoding ---------------------------------------------------------- */

static size_t bytes_field_size(const void *p, size_t len) {
  return p ? varint_size((int64_t)len) + len : 1;
}

/* batch_encode, with record i at offset delta deltas[i] when deltas is
 * given (else i); lastOffsetDelta is the last record's. */
static int64_t encode(const nd_record *recs, size_t n, const int32_t *deltas,
                      int64_t now_ms, int log_append_time, uint8_t **buf,
                      size_t *cap) {
  if (!recs || n == 0 || n > INT32_MAX)
    return nd_fail(ND_EINVAL, "append: need 1 to 2^31-1 records, got %zu", n);
  int64_t base_ts = INT64_MAX, max_ts = INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    int64_t ts = recs[i].timestamp == ND_TIMESTAMP_NOW || log_append_time
                     ? now_ms
                     : recs[i].timestamp;
    if (ts < base_ts)
      base_ts = ts;
    if (ts > max_ts)
      max_ts = ts;
  }
  /* Size pass: the total is known before anything is written, so the
   * buffer grows at most once. */
  uint64_t total = BATCH_HEADER_SIZE;
  for (size_t i = 0; i < n; i++) {
    const nd_record *r = &recs[i];
    int64_t ts = r->timestamp == ND_TIMESTAMP_NOW || log_append_time
                     ? now_ms
                     : r->timestamp;
    int64_t delta = deltas ? deltas[i] : (int64_t)i;
    uint64_t body = 1 + varint_size(sub_wrap(ts, base_ts)) +
                    varint_size(delta) + bytes_field_size(r->key, r->key_len) +
                    bytes_field_size(r->value, r->value_len) +
                    varint_size((int64_t)r->header_count);
    if (r->header_count && !r->headers)
      return nd_fail(ND_EINVAL, "record %zu: %zu headers but NULL array", i,
                     r->header_count);
    for (size_t h = 0; h < r->header_count; h++) {
      const nd_header *hd = &r->headers[h];
      if (!hd->key)
        return nd_fail(ND_EINVAL, "record %zu header %zu: NULL key", i, h);
      body += varint_size((int64_t)hd->key_len) + hd->key_len +
              bytes_field_size(hd->value, hd->value_len);
    }
    total += varint_size((int64_t)body) + body;
    if (total > INT32_MAX)
      return nd_fail(ND_ETOOLARGE, "batch of %zu records exceeds 2 GiB", n);
  }
  if (*cap < total) {
    uint8_t *nb = realloc(*buf, total);
    if (!nb)
      return nd_fail(ND_ENOMEM, "append: cannot allocate %llu bytes",
                     (unsigned long long)total);
    *buf = nb;
    *cap = total;
  }
  uint8_t *p = *buf;
  put_be64(p + BATCH_AT_BASE_OFFSET, 0);
  put_be32(p + BATCH_AT_LENGTH, (uint32_t)(total - BATCH_LOG_OVERHEAD));
  put_be32(p + BATCH_AT_LEADER_EPOCH, 0);
  p[BATCH_AT_MAGIC] = BATCH_MAGIC;
  put_be16(p + BATCH_AT_ATTRIBUTES,
           log_append_time ? BATCH_ATTR_LOG_APPEND_TIME : 0);
  put_be32(p + BATCH_AT_LAST_OFFSET_DELTA,
           (uint32_t)(deltas ? deltas[n - 1] : (int32_t)(n - 1)));
  put_be64(p + BATCH_AT_BASE_TIMESTAMP, (uint64_t)base_ts);
  put_be64(p + BATCH_AT_MAX_TIMESTAMP, (uint64_t)max_ts);
  put_be64(p + BATCH_AT_PRODUCER_ID, (uint64_t)-1);
  put_be16(p + BATCH_AT_PRODUCER_EPOCH, (uint16_t)-1);
  put_be32(p + BATCH_AT_BASE_SEQUENCE, (uint32_t)-1);
  put_be32(p + BATCH_AT_RECORD_COUNT, (uint32_t)n);
  uint8_t *w = p + BATCH_HEADER_SIZE;
  for (size_t i = 0; i < n; i++) {
    const nd_record *r = &recs[i];
    int64_t ts = r->timestamp == ND_TIMESTAMP_NOW || log_append_time
                     ? now_ms
                     : r->timestamp;
    int64_t delta = deltas ? deltas[i] : (int64_t)i;
    int64_t body = 1 + (int64_t)varint_size(sub_wrap(ts, base_ts)) +
                   (int64_t)varint_size(delta) +
                   (int64_t)bytes_field_size(r->key, r->key_len) +
                   (int64_t)bytes_field_size(r->value, r->value_len) +
                   (int64_t)varint_size((int64_t)r->header_count);
    for (size_t h = 0; h < r->header_count; h++) {
      const nd_header *hd = &r->headers[h];
      body += (int64_t)(varint_size((int64_t)hd->key_len) + hd->key_len +
                        bytes_field_size(hd->value, hd->value_len));
    }
    w += varint_write(w, body);
    *w++ = 0;
    w += varint_write(w, sub_wrap(ts, base_ts));
    w += varint_write(w, delta);
    if (r->key) {
      w += varint_write(w, (int64_t)r->key_len);
      memcpy(w, r->key, r->key_len);
      w += r->key_len;
    } else {
      w += varint_write(w, -1);
    }
    if (r->value) {
      w += varint_write(w, (int64_t)r->value_len);
      memcpy(w, r->value, r->value_len);
      w += r->value_len;
    } else {
      w += varint_write(w, -1);
    }
    w += varint_write(w, (int64_t)r->header_count);
    for (size_t h = 0; h < r->header_count; h++) {
      const nd_header *hd = &r->headers[h];
      w += varint_write(w, (int64_t)hd->key_len);
      memcpy(w, hd->key, hd->key_len);
      w += hd->key_len;
      if (hd->value) {
        w += varint_write(w, (int64_t)hd->value_len);
        memcpy(w, hd->value, hd->value_len);
        w += hd->value_len;
      } else {
        w += varint_write(w, -1);
      }
    }
  }
  batch_update_crc(p, (size_t)total);
  return (int64_t)total;
}

int64_t batch_encode(const nd_record *recs, size_t n, int64_t now_ms,
                     int log_append_time, uint8_t **buf, size_t *cap) {
  return encode(recs, n, NULL, now_ms, log_append_time, buf, cap);
}

int64_t batch_encode_deltas(const nd_record *recs, size_t n,
                            const int32_t *deltas, int64_t now_ms,
                            uint8_t **buf, size_t *cap) {
  for (size_t i = 0; deltas && i < n; i++)
    if (deltas[i] < 0 || (i > 0 && deltas[i] <= deltas[i - 1]))
      return nd_fail(ND_EINVAL, "record %zu: offset deltas must increase", i);
  return encode(recs, n, deltas, now_ms, 0, buf, cap);
}

/* ---- iterator ---------------------------------------------------------- */

void nd_iter_init(nd_iter *it, const void *data, size_t len, int64_t min_offset,
                  nd_decompress_fn decompress) {
  memset(it, 0, sizeof *it);
  it->data = data;
  it->len = len;
  it->min_offset = min_offset;
  it->decompress = decompress;
}

void nd_iter_close(nd_iter *it) {
  free(it->inflated);
  free(it->hdrs);
  it->inflated = NULL;
  it->hdrs = NULL;
  it->hdrs_cap = 0;
  it->batch = NULL;
  it->remaining = 0;
  it->pos = it->len;
}

static int iter_fail(nd_iter *it, int err, const char *what) {
  int64_t base = it->batch ? batch_base_offset(it->batch) : -1;
  size_t pos = it->pos;
  it->pos = it->len;
  it->remaining = 0;
  it->batch = NULL;
  return nd_fail(err, "record batch at byte %zu (base offset %lld): %s", pos,
                 (long long)base, what);
}

/* Move to the next batch that has records; 1 = ready, 0 = end, <0 error. */
static int iter_next_batch(nd_iter *it) {
  for (;;) {
    if (it->batch) {
      it->pos += (size_t)batch_size(it->batch);
      it->batch = NULL;
    }
    free(it->inflated);
    it->inflated = NULL;
    if (it->pos >= it->len)
      return 0;
    const uint8_t *p = it->data + it->pos;
    size_t total;
    const char *why;
    enum batch_status st = batch_check(p, it->len - it->pos, 1, &total, &why);
    if (st == BATCH_SHORT)
      return 0; /* a partial batch at the end of a read is not an error */
    it->batch = p;
    if (st != BATCH_VALID)
      return iter_fail(it, ND_ECORRUPT, why);
    int32_t count = batch_record_count(p);
    int64_t last = batch_last_offset(p);
    if (count == 0 || last < it->min_offset)
      continue;
    size_t area_len;
    int rc = batch_record_area(p, total, it->decompress, &it->rec, &area_len,
                               &it->inflated);
    if (rc)
      return iter_fail(it, rc,
                       rc == ND_ECODEC && !it->decompress
                           ? "compressed batch and no decompressor given"
                           : "cannot decompress the records");
    it->rec_end = it->rec + area_len;
    it->remaining = count;
    return 1;
  }
}

int nd_iter_next(nd_iter *it, nd_record_view *rec) {
  for (;;) {
    if (it->remaining == 0) {
      int rc = iter_next_batch(it);
      if (rc <= 0)
        return rc;
    }
    /* The header array lives in the iterator (its public layout). */
    record_hdrs hdrs = {it->hdrs, it->hdrs_cap};
    record_batch rb;
    record_batch_init(&rb, it->batch);
    int err;
    const char *why =
        record_decode(&rb, &it->rec, it->rec_end, rec, &hdrs, &err);
    it->hdrs = hdrs.v;
    it->hdrs_cap = hdrs.cap;
    if (why)
      return iter_fail(it, err, why);
    it->remaining--;
    if (rec->offset < it->min_offset || rec->is_control)
      continue;
    return 1;
  }
}
