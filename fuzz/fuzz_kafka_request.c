/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kafka_request.c — the broker's table-driven request decoder, for
 * every API key and version in kafka_apis[] (broker/kafka_api.c).
 *
 * Input: one request frame as kafka_handle_request() gets it from the
 * network layer (the size prefix already stripped): api key i16, version
 * i16, correlation id, client id, header tags when flexible, then the
 * body. Every version the request schema defines is decoded, not only
 * the served ones, since the codec serves them all.
 *
 * Checked: decoding never reads outside the frame and never leaks (the
 * arena owns what is decoded; records and bytes are views into the frame,
 * which outlives them here as a request's frame does in the broker, and
 * ASan would report one used after its frame is gone); a Produce's record
 * views lie inside the frame; what decodes re-encodes, and the encoding
 * decodes again to the same bytes (encode(decode(encode(x))) ==
 * encode(x)); the sizing pass of kafka_respond() agrees with the bytes
 * written.
 */
#include <string.h>

#include "fuzz.h"
#include "kafka.h"

static const kafka_api *find_api(int key) {
  for (size_t i = 0; i < kafka_api_count; i++)
    if (kafka_apis[i].key == key)
      return &kafka_apis[i];
  return NULL;
}

/* Produce's record sets are views into the frame, not copies. */
static void check_record_views(const kafka_produce_request *req,
                               const uint8_t *data, size_t size) {
  for (int32_t t = 0; t < req->topic_data.count; t++) {
    const kafka_produce_request_topic_produce_data *td =
        &req->topic_data.items[t];
    for (int32_t p = 0; p < td->partition_data.count; p++) {
      kf_bytes r = td->partition_data.items[p].records;
      FUZZ_CHECK(r.len < 0 || (r.ptr >= data && (size_t)r.len <= size &&
                               (size_t)(r.ptr - data) <= size - (size_t)r.len));
    }
  }
}

static kf_buf encode(const kf_msg *m, int version, const void *obj) {
  kf_buf count = {0};
  count.count_only = 1;
  kf_encode(m, version, obj, &count);
  kf_buf b = {0};
  kf_encode(m, version, obj, &b);
  FUZZ_CHECK(!b.failed && !count.failed);
  FUZZ_CHECK(count.len == b.len);
  return b;
}

static void check_reencode(const kf_msg *m, int version, const void *body) {
  kf_buf b1 = encode(m, version, body);
  kf_arena a = {0};
  /* An empty encoding leaves data NULL; NULL + 0 is undefined in C. */
  static const uint8_t none[1];
  const uint8_t *p = b1.data ? b1.data : none;
  kf_cur c = {p, p + b1.len};
  void *again = kf_decode(m, version, &c, &a);
  FUZZ_CHECK(again != NULL);
  FUZZ_CHECK(c.p == c.end);
  kf_buf b2 = encode(m, version, again);
  FUZZ_CHECK(b1.len == b2.len &&
             (b1.len == 0 || !memcmp(b1.data, b2.data, b1.len)));
  kf_buf_free(&b1);
  kf_buf_free(&b2);
  kf_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8)
    return 0;
  int key = (int16_t)(data[0] << 8 | data[1]);
  int version = (int16_t)(data[2] << 8 | data[3]);
  const kafka_api *api = find_api(key);
  if (!api)
    return 0;
  const kf_msg *m = api->req;
  if (version >= m->vmin && version <= m->vmax) {
    kf_arena a = {0};
    kf_cur c = {data, data + size};
    int flex = kf_flexible(m, version);
    kafka_request_header *h =
        kf_decode(&kafka_request_header_msg, flex ? 2 : 1, &c, &a);
    if (h) {
      FUZZ_CHECK(h->request_api_key == key &&
                 h->request_api_version == version);
      FUZZ_CHECK(h->client_id.len < 0 ||
                 (h->client_id.ptr && h->client_id.ptr[h->client_id.len] == 0));
      check_reencode(&kafka_request_header_msg, flex ? 2 : 1, h);
      void *body = kf_decode(m, version, &c, &a);
      if (body) {
        FUZZ_CHECK(c.p <= c.end);
        if (key == 0)
          check_record_views(body, data, size);
        check_reencode(m, version, body);
      }
    }
    /* Amplification: an arena is bounded by the frame times the largest
     * decoded struct, since every array element takes a wire byte. */
    FUZZ_CHECK(a.total <= (size + 1) * 1024);
    kf_arena_free(&a);
  }
  return 0;
}
