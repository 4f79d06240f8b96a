/*
 * record.c — the record decoder (record.h).
 */
#include "record.h"

#include <stdlib.h>

static int read_bytes(const uint8_t **p, const uint8_t *end,
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

const char *record_decode(const uint8_t *b, const uint8_t **pp,
                          const uint8_t *rec_end, nd_record_view *rec,
                          record_hdrs *hdrs, int *err) {
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
  if (read_bytes(&p, end, &rec->key, &rec->key_len) ||
      read_bytes(&p, end, &rec->value, &rec->value_len))
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
    if (read_bytes(&p, end, &k, &kl) || !k || read_bytes(&p, end, &v, &vl))
      return "bad record header";
    hdrs->v[h].key = (const char *)k;
    hdrs->v[h].key_len = kl;
    hdrs->v[h].value = v;
    hdrs->v[h].value_len = vl;
  }
  *pp = end;
  int16_t attr = (int16_t)be16(b + 21);
  rec->offset = add_wrap((int64_t)be64(b), off_delta);
  rec->timestamp_type = (attr & BATCH_ATTR_LOG_APPEND_TIME)
                            ? ND_TS_LOG_APPEND_TIME
                            : ND_TS_CREATE_TIME;
  rec->timestamp = rec->timestamp_type == ND_TS_LOG_APPEND_TIME
                       ? (int64_t)be64(b + 35)
                       : add_wrap((int64_t)be64(b + 27), ts_delta);
  rec->headers = nh ? hdrs->v : NULL;
  rec->header_count = (size_t)nh;
  rec->batch_base_offset = (int64_t)be64(b);
  rec->codec = attr & BATCH_ATTR_CODEC_MASK;
  rec->producer_id = (int64_t)be64(b + 43);
  rec->is_control = (attr & BATCH_ATTR_CONTROL) != 0;
  return NULL;
}
