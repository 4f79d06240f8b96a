/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_batch.c — the RecordBatch v2 validator and the record iterator on
 * arbitrary bytes.
 *
 * Input: one flags byte, then the bytes of a log (batches back to back).
 *   bit 0  recompute every batch CRC first (see fuzz_fix_batch_crcs), so
 *          mutations reach the records instead of dying at the CRC check
 *   bit 1  iterate without a decompressor (compressed batches: ND_ECODEC)
 *   2..7   min_offset - 1 for the iterator
 *
 * Checked: batch_check at every byte offset agrees with itself with and
 * without the CRC and never claims more bytes than it was given; the
 * iterator never reads outside its buffers (every byte it hands out is
 * read); the public walk (nd_log_walk_mem: the batch cursor) and
 * nd_batch_check agree on every input, batch by batch and on the finding
 * that stops the walk, with each walk flag; and the records of the first batch
 * survive a trip through batch_encode and nd_codecs_compress_batch with every
 * codec unchanged.
 */
#include <string.h>

#include "bytes.h"
#include "fuzz.h"
#include "nodata_codecs.h"

/* Bounds the work per input (a decompression bomb of 1-byte records). */
#define MAX_RECORDS 200000
#define MAX_ROUND_TRIP 64

typedef struct owned_record {
  nd_record rec;
  nd_header *hdrs;
  uint8_t *mem; /* key, value and header bytes */
} owned_record;

static void check_offsets(const uint8_t *p, size_t n) {
  /* The CRC at every offset is quadratic; large inputs get it only where
   * a walk from the start finds batches. */
  int crc_everywhere = n <= 8192;
  for (size_t i = 0; i < n; i++) {
    nd_batch_info h, h2;
    int st = nd_batch_check(p + i, n - i, crc_everywhere, &h);
    if (st == 0) {
      size_t total = (size_t)h.size;
      FUZZ_CHECK(total >= ND_BATCH_HEADER_SIZE && total <= n - i);
      FUZZ_CHECK(nd_batch_check(p + i, n - i, 0, &h2) == 0);
      FUZZ_CHECK(h2.size == h.size);
      FUZZ_CHECK(h.magic == 2 && h.record_count >= 0 &&
                 h.last_offset_delta >= 0 &&
                 (size_t)h.length + ND_BATCH_LOG_OVERHEAD == total);
    } else {
      FUZZ_CHECK(st == 1 || st == ND_EBATCH);
      FUZZ_CHECK(st == 1 || *nd_errmsg() != '\0');
    }
  }
  size_t pos = 0;
  while (pos < n) {
    nd_batch_info h;
    if (nd_batch_check(p + pos, n - pos, 1, &h) != 0)
      break;
    pos += (size_t)h.size;
  }
}

/* What the walk gave its callback, in order (bounded). */
#define MAX_WALKED 4096
typedef struct walked {
  size_t n;
  uint64_t pos[MAX_WALKED], size[MAX_WALKED];
  int crc_ok[MAX_WALKED];
  const uint8_t *bytes[MAX_WALKED];
} walked;

static int on_walked(void *ctx, const nd_batch_info *b, const void *bytes) {
  walked *w = ctx;
  if (w->n < MAX_WALKED) {
    w->pos[w->n] = b->pos;
    w->size[w->n] = b->size;
    w->crc_ok[w->n] = b->crc_ok;
    w->bytes[w->n] = bytes;
  }
  w->n++;
  return 0;
}

/* The walk (the batch cursor, through nd_log_walk_mem) and nd_batch_check
 * (batch_check) agree on every input, with each flag: the walk yields
 * exactly the batches nd_batch_check accepts back to back from the start,
 * with their CRC verdict, and stops where nd_batch_check stops, with the
 * finding its answer names (1: torn; ND_EBATCH: the header field that is
 * wrong, else the CRC), or at offsets going backwards when asked. */
static void walk_agrees(const uint8_t *p, size_t n, unsigned flags) {
  static walked w;
  w.n = 0;
  nd_walk_result r;
  FUZZ_CHECK(nd_log_walk_mem(p, n, flags, on_walked, &w, &r) == 0);
  FUZZ_CHECK(r.file_size == n && r.batches == (int64_t)w.n);
  int stop_crc = (flags & ND_WALK_STOP_CRC) != 0;
  size_t pos = 0, k = 0;
  int64_t crc_bad = 0, next = 0;
  int want = ND_WALK_END;
  while (pos < n) {
    nd_batch_info h;
    int st = nd_batch_check(p + pos, n - pos, stop_crc, &h);
    if (st == 1) {
      want = ND_WALK_TORN;
      break;
    }
    if (st != 0) {
      FUZZ_CHECK(st == ND_EBATCH);
      /* Which check failed, from the same bytes (the frame before the
       * fields before the CRC: batch.h's order). */
      const uint8_t *b = p + pos;
      int32_t length = (int32_t)be32(b + 8);
      if (length < ND_BATCH_HEADER_SIZE - ND_BATCH_LOG_OVERHEAD)
        want = ND_WALK_BAD_LENGTH;
      else if (b[16] != 2)
        want = ND_WALK_BAD_MAGIC;
      else if (h.record_count < 0 || h.last_offset_delta < 0)
        want = ND_WALK_BAD_COUNT;
      else
        want = ND_WALK_BAD_CRC;
      break;
    }
    if ((flags & ND_WALK_CHECK_ORDER) && k > 0 && h.base_offset < next) {
      want = ND_WALK_BACKWARDS;
      break;
    }
    nd_batch_info c;
    int crc_ok = nd_batch_check(p + pos, (size_t)h.size, 1, &c) == 0;
    crc_bad += !crc_ok;
    if (k < MAX_WALKED) {
      FUZZ_CHECK(k < w.n && w.pos[k] == pos && w.size[k] == h.size);
      FUZZ_CHECK(w.crc_ok[k] == crc_ok && w.bytes[k] == p + pos);
    }
    next = (int64_t)((uint64_t)h.last_offset + 1);
    pos += (size_t)h.size;
    k++;
  }
  FUZZ_CHECK(w.n == k && r.crc_bad == crc_bad);
  FUZZ_CHECK(r.stop == want);
  FUZZ_CHECK(r.end == (uint64_t)pos);
  FUZZ_CHECK(r.stop_pos == (want == ND_WALK_END ? -1 : (int64_t)pos));
  FUZZ_CHECK((want == ND_WALK_END) == (r.why[0] == '\0'));
}

static void iterate(const uint8_t *p, size_t n, int64_t min_offset,
                    nd_decompress_fn dec) {
  nd_iter it;
  nd_iter_init(&it, p, n, min_offset, dec);
  nd_record_view v;
  int rc;
  size_t count = 0;
  while (count < MAX_RECORDS && (rc = nd_iter_next(&it, &v)) == 1) {
    count++;
    FUZZ_CHECK(v.offset >= min_offset);
    FUZZ_CHECK(!v.is_control);
    FUZZ_CHECK(v.codec >= 0 && v.codec <= 7);
    FUZZ_CHECK(v.key || v.key_len == 0);
    FUZZ_CHECK(v.value || v.value_len == 0);
    fuzz_touch(v.key, v.key_len);
    fuzz_touch(v.value, v.value_len);
    FUZZ_CHECK(v.headers || v.header_count == 0);
    for (size_t h = 0; h < v.header_count; h++) {
      FUZZ_CHECK(v.headers[h].key != NULL);
      fuzz_touch(v.headers[h].key, v.headers[h].key_len);
      fuzz_touch(v.headers[h].value, v.headers[h].value_len);
    }
  }
  nd_iter_close(&it);
  nd_iter_close(&it); /* documented as safe twice */
}

static uint8_t *copy_or_null(uint8_t **w, const void *src, size_t n) {
  if (!src)
    return NULL;
  uint8_t *r = *w;
  if (n)
    memcpy(r, src, n);
  *w += n;
  return r;
}

static void free_owned(owned_record *o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(o[i].hdrs);
    free(o[i].mem);
  }
}

/* Collect the records of the batch at p (all of them, or none if any
 * fails to decode). Returns the count. */
static size_t collect(const uint8_t *p, size_t total, owned_record *out) {
  nd_iter it;
  nd_iter_init(&it, p, total, INT64_MIN, nd_codecs_decompress);
  nd_record_view v;
  size_t n = 0;
  int rc;
  while ((rc = nd_iter_next(&it, &v)) == 1) {
    if (n == MAX_ROUND_TRIP) {
      rc = -1;
      break;
    }
    size_t bytes = v.key_len + v.value_len;
    for (size_t h = 0; h < v.header_count; h++)
      bytes += v.headers[h].key_len + v.headers[h].value_len;
    owned_record *o = &out[n];
    memset(o, 0, sizeof *o);
    o->mem = malloc(bytes ? bytes : 1);
    o->hdrs = v.header_count ? calloc(v.header_count, sizeof *o->hdrs) : NULL;
    FUZZ_CHECK(o->mem && (o->hdrs || !v.header_count));
    n++;
    uint8_t *w = o->mem;
    o->rec.key = copy_or_null(&w, v.key, v.key_len);
    o->rec.key_len = v.key_len;
    o->rec.value = copy_or_null(&w, v.value, v.value_len);
    o->rec.value_len = v.value_len;
    for (size_t h = 0; h < v.header_count; h++) {
      o->hdrs[h].key = (const char *)copy_or_null(&w, v.headers[h].key,
                                                  v.headers[h].key_len);
      o->hdrs[h].key_len = v.headers[h].key_len;
      o->hdrs[h].value =
          copy_or_null(&w, v.headers[h].value, v.headers[h].value_len);
      o->hdrs[h].value_len = v.headers[h].value_len;
    }
    o->rec.headers = o->hdrs;
    o->rec.header_count = v.header_count;
    o->rec.timestamp = v.timestamp;
  }
  nd_iter_close(&it);
  /* Batches that end in an error or hold too many records are left out
   * (control batches yield no records, so they are too). */
  if (rc != 0) {
    free_owned(out, n);
    return 0;
  }
  return n;
}

static int same_bytes(const void *a, size_t al, const void *b, size_t bl) {
  if (!a || !b)
    return !a && !b && al == 0 && bl == 0;
  return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static void expect_records(const uint8_t *batch, size_t len,
                           const owned_record *want, size_t n) {
  nd_iter it;
  nd_iter_init(&it, batch, len, INT64_MIN, nd_codecs_decompress);
  nd_record_view v;
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(nd_iter_next(&it, &v) == 1);
    const nd_record *r = &want[i].rec;
    FUZZ_CHECK(v.offset == (int64_t)i);
    FUZZ_CHECK(v.timestamp == r->timestamp);
    FUZZ_CHECK(same_bytes(v.key, v.key_len, r->key, r->key_len));
    FUZZ_CHECK(same_bytes(v.value, v.value_len, r->value, r->value_len));
    FUZZ_CHECK(v.header_count == r->header_count);
    for (size_t h = 0; h < v.header_count; h++) {
      FUZZ_CHECK(same_bytes(v.headers[h].key, v.headers[h].key_len,
                            r->headers[h].key, r->headers[h].key_len));
      FUZZ_CHECK(same_bytes(v.headers[h].value, v.headers[h].value_len,
                            r->headers[h].value, r->headers[h].value_len));
    }
  }
  FUZZ_CHECK(nd_iter_next(&it, &v) == 0);
  nd_iter_close(&it);
}

static void round_trip(const uint8_t *p, size_t n) {
  nd_batch_info h;
  if (nd_batch_check(p, n, 1, &h) != 0)
    return;
  size_t total = (size_t)h.size;
  owned_record recs[MAX_ROUND_TRIP];
  size_t count = collect(p, total, recs);
  if (!count)
    return;
  /* now = INT64_MIN keeps a record whose timestamp happens to be
   * ND_TIMESTAMP_NOW at that value instead of the clock's. */
  nd_record plain[MAX_ROUND_TRIP];
  for (size_t i = 0; i < count; i++)
    plain[i] = recs[i].rec;
  void *buf = NULL;
  size_t len = 0;
  FUZZ_CHECK(nd_batch_encode(plain, count, 0, INT64_MIN, 0, &buf, &len) == 0);
  FUZZ_CHECK(len >= ND_BATCH_HEADER_SIZE);
  FUZZ_CHECK(nd_batch_check(buf, len, 1, &h) == 0 && h.size == len);
  expect_records(buf, (size_t)len, recs, count);
  for (int codec = ND_CODEC_GZIP; codec <= ND_CODEC_ZSTD; codec++) {
    void *z = NULL;
    size_t zlen = 0;
    int rc = nd_codecs_compress_batch(buf, (size_t)len, codec, &z, &zlen);
    if (rc == ND_ETOOLARGE)
      continue;
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(nd_batch_check(z, zlen, 1, &h) == 0 && h.size == zlen);
    expect_records(z, zlen, recs, count);
    free(z);
  }
  nd_free(buf);
  free_owned(recs, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  size_t n = size - 1;
  uint8_t *p = malloc(n ? n : 1);
  FUZZ_CHECK(p != NULL);
  memcpy(p, data + 1, n);
  if (flags & 1)
    fuzz_fix_batch_crcs(p, n);
  check_offsets(p, n);
  walk_agrees(p, n, 0);
  walk_agrees(p, n, ND_WALK_STOP_CRC);
  walk_agrees(p, n, ND_WALK_CHECK_ORDER);
  iterate(p, n, (int64_t)(flags >> 2) - 1,
          (flags & 2) ? NULL : nd_codecs_decompress);
  round_trip(p, n);
  free(p);
  return 0;
}
