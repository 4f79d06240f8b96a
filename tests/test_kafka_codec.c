/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kafka_codec.c — the table-driven Kafka codec against bytes written
 * by hand from the schemas (never produced by our own encoder), and our
 * encoder against hand-written expected bytes, for classic and flexible
 * versions, tagged fields, and truncated or hostile input.
 */
#include "kafka_codec.h"
#include "kafka_msgs.h"
#include "test.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Decode a request header (v1 or v2, by the API's flexible versions) and
 * then the body. Returns the body or NULL. */
static void *decode_frame(const kf_msg *m, const uint8_t *p, size_t n,
                          kf_arena *a, kafka_request_header **hdr) {
  kf_cur c = {p, p + n};
  if (n < 4)
    return NULL;
  int version = (int16_t)(p[2] << 8 | p[3]);
  *hdr = kf_decode(&kafka_request_header_msg, kf_flexible(m, version) ? 2 : 1,
                   &c, a);
  if (!*hdr)
    return NULL;
  return kf_decode(m, version, &c, a);
}

static int str_is(kf_str s, const char *want) {
  return s.len == (int32_t)strlen(want) && memcmp(s.ptr, want, s.len) == 0 &&
         s.ptr[s.len] == 0;
}

/* Produce v3: classic encodings, header v1. */
static const uint8_t produce_v3[] = {
    0x00, 0x00, 0x00, 0x03,      /* api 0, v3 */
    0x00, 0x00, 0x00, 0x07,      /* correlation 7 */
    0x00, 0x03, 'c',  'l',  'i', /* client id */
    0xff, 0xff,                  /* transactional id: null */
    0xff, 0xff,                  /* acks -1 */
    0x00, 0x00, 0x75, 0x30,      /* timeout 30000 */
    0x00, 0x00, 0x00, 0x01,      /* 1 topic */
    0x00, 0x03, 'f',  'o',  'o', /* name */
    0x00, 0x00, 0x00, 0x01,      /* 1 partition */
    0x00, 0x00, 0x00, 0x02,      /* index 2 */
    0x00, 0x00, 0x00, 0x04,      /* records: 4 bytes */
    0xde, 0xad, 0xbe, 0xef,
};

/* Produce v9: flexible, header v2 (client id keeps its int16 length), an
 * unknown tag in the body that must be skipped. */
static const uint8_t produce_v9[] = {
    0x00, 0x00, 0x00, 0x09,       /* api 0, v9 */
    0x00, 0x00, 0x00, 0x08,       /* correlation 8 */
    0x00, 0x03, 'c',  'l',  'i',  /* client id, int16 length */
    0x00,                         /* header tags: none */
    0x00,                         /* transactional id: compact null */
    0x00, 0x01,                   /* acks 1 */
    0x00, 0x00, 0x03, 0xe8,       /* timeout 1000 */
    0x02,                         /* compact array: 1 topic */
    0x04, 'f',  'o',  'o',        /* compact string */
    0x02,                         /* 1 partition */
    0x00, 0x00, 0x00, 0x05,       /* index 5 */
    0x05, 0xde, 0xad, 0xbe, 0xef, /* compact records, 4 bytes */
    0x00,                         /* partition tags */
    0x00,                         /* topic tags */
    0x01, 0x1f, 0x02, 0xaa, 0xbb, /* body tags: unknown tag 31, 2 bytes */
};

static void test_produce_classic(void) {
  kf_arena a = {0};
  kafka_request_header *h = NULL;
  kafka_produce_request *req = decode_frame(
      &kafka_produce_request_msg, produce_v3, sizeof produce_v3, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(h->request_api_key, 0);
  CHECK_EQ_I64(h->request_api_version, 3);
  CHECK_EQ_I64(h->correlation_id, 7);
  CHECK(str_is(h->client_id, "cli"));
  CHECK_EQ_I64(req->transactional_id.len, -1);
  CHECK_EQ_I64(req->acks, -1);
  CHECK_EQ_I64(req->timeout_ms, 30000);
  CHECK_EQ_I64(req->topic_data.count, 1);
  CHECK(str_is(req->topic_data.items[0].name, "foo"));
  CHECK_EQ_I64(req->topic_data.items[0].partition_data.count, 1);
  kafka_produce_request_partition_produce_data *p =
      &req->topic_data.items[0].partition_data.items[0];
  CHECK_EQ_I64(p->index, 2);
  CHECK_EQ_I64(p->records.len, 4);
  CHECK(memcmp(p->records.ptr, "\xde\xad\xbe\xef", 4) == 0);
  kf_arena_free(&a);
}

static void test_produce_flexible(void) {
  kf_arena a = {0};
  kafka_request_header *h = NULL;
  kafka_produce_request *req = decode_frame(
      &kafka_produce_request_msg, produce_v9, sizeof produce_v9, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(h->correlation_id, 8);
  CHECK(str_is(h->client_id, "cli"));
  CHECK_EQ_I64(req->transactional_id.len, -1);
  CHECK_EQ_I64(req->acks, 1);
  CHECK_EQ_I64(req->timeout_ms, 1000);
  CHECK_EQ_I64(req->topic_data.count, 1);
  CHECK(str_is(req->topic_data.items[0].name, "foo"));
  kafka_produce_request_partition_produce_data *p =
      &req->topic_data.items[0].partition_data.items[0];
  CHECK_EQ_I64(p->index, 5);
  CHECK_EQ_I64(p->records.len, 4);
  CHECK(memcmp(p->records.ptr, "\xde\xad\xbe\xef", 4) == 0);
  kf_arena_free(&a);
}

/* Records are not copied: they point into the frame decoded, and writing
 * through them (as nd_append_batch does, setting the base offset) writes
 * the frame. */
static void test_records_are_views(void) {
  const uint8_t *srcs[] = {produce_v3, produce_v9};
  const size_t lens[] = {sizeof produce_v3, sizeof produce_v9};
  for (int i = 0; i < 2; i++) {
    uint8_t *frame = malloc(lens[i]);
    memcpy(frame, srcs[i], lens[i]);
    kf_arena a = {0};
    kafka_request_header *h = NULL;
    kafka_produce_request *req =
        decode_frame(&kafka_produce_request_msg, frame, lens[i], &a, &h);
    CHECK(req);
    kf_bytes rec = req->topic_data.items[0].partition_data.items[0].records;
    CHECK_EQ_I64(rec.len, 4);
    CHECK(rec.ptr > frame && rec.ptr + rec.len <= frame + lens[i]);
    size_t at = (size_t)(rec.ptr - frame);
    CHECK(memcmp(frame + at, "\xde\xad\xbe\xef", 4) == 0);
    rec.ptr[0] = 0x11;
    CHECK(frame[at] == 0x11);
    kf_arena_free(&a);
    free(frame);
  }
}

/* Every strict prefix of a request must be rejected, never read past. */
static void check_prefixes(const kf_msg *m, const uint8_t *frame, size_t n) {
  for (size_t len = 0; len < n; len++) {
    kf_arena a = {0};
    /* A heap copy of exactly len bytes, so ASan catches any over-read. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, frame, len);
    kafka_request_header *h = NULL;
    void *body = decode_frame(m, copy, len, &a, &h);
    free(copy);
    kf_arena_free(&a);
    if (body) {
      fprintf(stderr, "%s: prefix of %zu/%zu bytes decoded\n", m->name, len, n);
      nd_test_current_failed = 1;
      return;
    }
  }
}

static void test_truncated(void) {
  check_prefixes(&kafka_produce_request_msg, produce_v3, sizeof produce_v3);
  check_prefixes(&kafka_produce_request_msg, produce_v9, sizeof produce_v9);
}

static void test_hostile_lengths(void) {
  kf_arena a = {0};
  kafka_request_header *h;
  uint8_t f[sizeof produce_v3];
  memcpy(f, produce_v3, sizeof f);
  /* Topic count 0x7fffffff with a few bytes behind it. */
  f[21] = 0x7f, f[22] = 0xff, f[23] = 0xff, f[24] = 0xff;
  CHECK(!decode_frame(&kafka_produce_request_msg, f, sizeof f, &a, &h));
  /* A negative (non-null) string length. */
  memcpy(f, produce_v3, sizeof f);
  f[25] = 0xff, f[26] = 0xfe;
  CHECK(!decode_frame(&kafka_produce_request_msg, f, sizeof f, &a, &h));
  /* A records length past the end. */
  memcpy(f, produce_v3, sizeof f);
  f[41] = 0x05;
  CHECK(!decode_frame(&kafka_produce_request_msg, f, sizeof f, &a, &h));
  /* An 11-byte varint in a flexible request. */
  uint8_t g[sizeof produce_v9 + 10];
  memcpy(g, produce_v9, 15);
  memset(g + 15, 0xff, 11);
  memcpy(g + 26, produce_v9 + 15, sizeof produce_v9 - 15 - 1);
  CHECK(!decode_frame(&kafka_produce_request_msg, g, sizeof g, &a, &h));
  kf_arena_free(&a);
  /* The arena's limit stops a decode that would allocate too much. */
  kf_arena small = {0};
  small.limit = 64;
  CHECK(!decode_frame(&kafka_produce_request_msg, produce_v3, sizeof produce_v3,
                      &small, &h));
  kf_arena_free(&small);
  small.limit = 1 << 20;
  CHECK(decode_frame(&kafka_produce_request_msg, produce_v3, sizeof produce_v3,
                     &small, &h));
  kf_arena_free(&small);
}

/* ApiVersions v3 exactly as librdkafka 2.0.2 sends it (kafka-protocol.md
 * §2), without the size prefix. */
static void test_api_versions_request(void) {
  static const uint8_t f[] = {
      0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 'r', 'd',
      'k',  'a',  'f',  'k',  'a',  0x00, 0x0b, 'l',  'i',  'b',  'r', 'd',
      'k',  'a',  'f',  'k',  'a',  0x06, '2',  '.',  '0',  '.',  '2', 0x00};
  kf_arena a = {0};
  kafka_request_header *h;
  kafka_api_versions_request *req =
      decode_frame(&kafka_api_versions_request_msg, f, sizeof f, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(h->request_api_key, 18);
  CHECK_EQ_I64(h->correlation_id, 1);
  CHECK(str_is(h->client_id, "rdkafka"));
  CHECK(str_is(req->client_software_name, "librdkafka"));
  CHECK(str_is(req->client_software_version, "2.0.2"));
  kf_arena_free(&a);
  check_prefixes(&kafka_api_versions_request_msg, f, sizeof f);
}

/* ApiVersions v5 (Kafka 4.4, KIP-1242) as the Java client 4.4 sends it to
 * a known node: ClusterId and NodeId after the software name and version.
 * The same body at v4 stops before them: they take the schema defaults
 * (null, -1), which the broker reads as "nothing expected". */
static void test_api_versions_v5_request(void) {
  static const uint8_t f[] = {
      0x00, 0x12, 0x00, 0x05, 0x00, 0x00, 0x00, 0x07, 0x00,
      0x01, 'j',  0x00, /* header tags */
      0x12, 'a',  'p',  'a',  'c',  'h',  'e',  '-',  'k',
      'a',  'f',  'k',  'a',  '-',  'j',  'a',  'v',  'a', /* software name */
      0x06, '4',  '.',  '4',  '.',  '0', /* software version */
      0x04, 'c',  'i',  'd',             /* ClusterId "cid" */
      0x00, 0x00, 0x00, 0x00,            /* NodeId 0 */
      0x00};
  kf_arena a = {0};
  kafka_request_header *h;
  kafka_api_versions_request *req =
      decode_frame(&kafka_api_versions_request_msg, f, sizeof f, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(h->request_api_version, 5);
  CHECK(str_is(req->client_software_name, "apache-kafka-java"));
  CHECK(str_is(req->client_software_version, "4.4.0"));
  CHECK(str_is(req->cluster_id, "cid"));
  CHECK_EQ_I64(req->node_id, 0);
  check_prefixes(&kafka_api_versions_request_msg, f, sizeof f);

  /* Null ClusterId (compact length 0), NodeId -1. */
  uint8_t n[sizeof f - 3];
  memcpy(n, f, 36);
  n[36] = 0x00;
  memset(n + 37, 0xff, 4);
  n[41] = 0x00;
  req = decode_frame(&kafka_api_versions_request_msg, n, sizeof n, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(req->cluster_id.len, -1);
  CHECK_EQ_I64(req->node_id, -1);

  /* v4: the fields do not exist; their defaults. */
  uint8_t v4[37];
  memcpy(v4, f, 36);
  v4[3] = 0x04;
  v4[36] = 0x00;
  req = decode_frame(&kafka_api_versions_request_msg, v4, sizeof v4, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(req->cluster_id.len, -1);
  CHECK_EQ_I64(req->node_id, -1);
  kf_arena_free(&a);
}

/* Metadata v12: a topic named by id only (null name), and flags. */
static void test_metadata_v12(void) {
  static const uint8_t f[] = {
      0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x2a, /* api 3 v12, corr 42 */
      0xff, 0xff,                                     /* client id null */
      0x00,                                           /* header tags */
      0x03,                                           /* 2 topics */
      1,    2,    3,    4,    5,    6,    7,    8,
      9,    10,   11,   12,   13,   14,   15,   16, /* topic id */
      0x00,                                         /* name null */
      0x00,                                         /* topic tags */
      0,    0,    0,    0,    0,    0,    0,    0,
      0,    0,    0,    0,    0,    0,    0,    0, /* zero id */
      0x04, 'b',  'a',  'r',                       /* name "bar" */
      0x00,                                        /* topic tags */
      0x00,                                        /* auto create false */
      0x01,                                        /* include topic ops */
      0x00};                                       /* body tags */
  kf_arena a = {0};
  kafka_request_header *h;
  kafka_metadata_request *req =
      decode_frame(&kafka_metadata_request_msg, f, sizeof f, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(h->correlation_id, 42);
  CHECK_EQ_I64(h->client_id.len, -1);
  CHECK_EQ_I64(req->topics.count, 2);
  CHECK_EQ_I64(req->topics.items[0].topic_id.b[0], 1);
  CHECK_EQ_I64(req->topics.items[0].topic_id.b[15], 16);
  CHECK_EQ_I64(req->topics.items[0].name.len, -1);
  CHECK(str_is(req->topics.items[1].name, "bar"));
  CHECK_EQ_I64(req->allow_auto_topic_creation, 0);
  CHECK_EQ_I64(req->include_topic_authorized_operations, 1);
  kf_arena_free(&a);
  check_prefixes(&kafka_metadata_request_msg, f, sizeof f);
}

/* Metadata v0: fields of later versions take their schema defaults. */
static void test_metadata_v0_defaults(void) {
  static const uint8_t f[] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
                              0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  kf_arena a = {0};
  kafka_request_header *h;
  kafka_metadata_request *req =
      decode_frame(&kafka_metadata_request_msg, f, sizeof f, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(h->client_id.len, 0);
  CHECK_EQ_I64(req->topics.count, 0);
  CHECK_EQ_I64(req->allow_auto_topic_creation, 1); /* "default": "true" */
  kf_arena_free(&a);
}

/* Fetch v4 as kafka-python sends it, and Fetch v12 with the tagged
 * ClusterId (tag 0) set and an unknown tag at partition level. */
static void test_fetch(void) {
  static const uint8_t v4[] = {
      0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05,
      0x00, 0x01, 'k',  0xff, 0xff, 0xff, 0xff,       /* replica -1 */
      0x00, 0x00, 0x01, 0xf4,                         /* max wait 500 */
      0x00, 0x00, 0x00, 0x01,                         /* min bytes 1 */
      0x03, 0x20, 0x00, 0x00,                         /* max bytes */
      0x00,                                           /* isolation 0 */
      0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't',        /* 1 topic "t" */
      0x00, 0x00, 0x00, 0x01,                         /* 1 partition */
      0x00, 0x00, 0x00, 0x00,                         /* partition 0 */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* offset 9 */
      0x00, 0x10, 0x00, 0x00};                        /* part max bytes */
  kf_arena a = {0};
  kafka_request_header *h;
  kafka_fetch_request *req =
      decode_frame(&kafka_fetch_request_msg, v4, sizeof v4, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(req->replica_id, -1);
  CHECK_EQ_I64(req->max_wait_ms, 500);
  CHECK_EQ_I64(req->min_bytes, 1);
  CHECK_EQ_I64(req->max_bytes, 0x03200000);
  CHECK_EQ_I64(req->session_id, 0);
  CHECK_EQ_I64(req->session_epoch, -1); /* schema default */
  CHECK_EQ_I64(req->topics.count, 1);
  CHECK(str_is(req->topics.items[0].topic, "t"));
  kafka_fetch_request_partition *p = &req->topics.items[0].partitions.items[0];
  CHECK_EQ_I64(p->fetch_offset, 9);
  CHECK_EQ_I64(p->partition_max_bytes, 0x100000);
  CHECK_EQ_I64(p->current_leader_epoch, -1);
  CHECK_EQ_I64(p->log_start_offset, -1);
  kf_arena_free(&a);
  check_prefixes(&kafka_fetch_request_msg, v4, sizeof v4);

  static const uint8_t v12[] = {
      0x00, 0x01, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x06,
      0x00, 0x01, 'k',  0x00, 0xff, 0xff, 0xff, 0xff, /* replica -1 */
      0x00, 0x00, 0x01, 0xf4, 0x00, 0x00, 0x00, 0x01, /* wait, min */
      0x7f, 0xff, 0xff, 0xff, 0x01,                   /* max, isolation 1 */
      0x00, 0x00, 0x00, 0x00,                         /* session 0 */
      0xff, 0xff, 0xff, 0xff,                         /* epoch -1 */
      0x02, 0x02, 't',                                /* 1 topic "t" */
      0x02,                                           /* 1 partition */
      0x00, 0x00, 0x00, 0x03,                         /* partition 3 */
      0x00, 0x00, 0x00, 0x07,                         /* leader epoch 7 */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, /* offset 256 */
      0xff, 0xff, 0xff, 0xff,                         /* last fetched ep */
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* log start -1 */
      0x00, 0x00, 0x10, 0x00,                         /* part max 4096 */
      0x01, 0x63, 0x01, 0x00,                         /* unknown tag 99 */
      0x00,                                           /* topic tags */
      0x01,                                           /* no forgotten */
      0x02, 'r',                                      /* rack "r" */
      0x01, 0x00, 0x03, 0x03, 'i',  'd'};             /* tag 0 ClusterId */
  req = decode_frame(&kafka_fetch_request_msg, v12, sizeof v12, &a, &h);
  CHECK(req);
  CHECK_EQ_I64(req->isolation_level, 1);
  CHECK_EQ_I64(req->max_bytes, INT32_MAX);
  p = &req->topics.items[0].partitions.items[0];
  CHECK_EQ_I64(p->partition, 3);
  CHECK_EQ_I64(p->current_leader_epoch, 7);
  CHECK_EQ_I64(p->fetch_offset, 256);
  CHECK_EQ_I64(p->partition_max_bytes, 4096);
  CHECK_EQ_I64(req->forgotten_topics_data.count, 0);
  CHECK(str_is(req->rack_id, "r"));
  CHECK(str_is(req->cluster_id, "id"));
  kf_arena_free(&a);
  check_prefixes(&kafka_fetch_request_msg, v12, sizeof v12);
}

static int buf_is(const kf_buf *b, const uint8_t *want, size_t n) {
  if (b->len == n && memcmp(b->data, want, n) == 0)
    return 1;
  fprintf(stderr, "got  ");
  for (size_t i = 0; i < b->len; i++)
    fprintf(stderr, "%02x ", b->data[i]);
  fprintf(stderr, "\nwant ");
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "%02x ", want[i]);
  fprintf(stderr, "\n");
  return 0;
}

static kafka_api_versions_response *api_versions(kf_arena *a) {
  kafka_api_versions_response *r = kf_new(a, &kafka_api_versions_response_desc);
  kafka_api_versions_response_api_version *k =
      kf_new_array(a, &kafka_api_versions_response_api_version_desc, 2);
  k[0].api_key = 18, k[0].min_version = 0, k[0].max_version = 4;
  k[1].api_key = 0, k[1].min_version = 0, k[1].max_version = 13;
  r->api_keys.items = k;
  r->api_keys.count = 2;
  return r;
}

static void test_encode_api_versions(void) {
  kf_arena a = {0};
  kafka_api_versions_response *r = api_versions(&a);
  kf_buf b = {0};
  kf_encode(&kafka_api_versions_response_msg, 0, r, &b);
  static const uint8_t v0[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                               0x00, 0x12, 0x00, 0x00, 0x00, 0x04,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x0d};
  CHECK(buf_is(&b, v0, sizeof v0));
  kf_buf_free(&b);

  r->error_code = 35;
  r->throttle_time_ms = 0x01020304;
  kf_encode(&kafka_api_versions_response_msg, 1, r, &b);
  static const uint8_t v1[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x02, 0x00, 0x12,
                               0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
                               0x00, 0x0d, 0x01, 0x02, 0x03, 0x04};
  CHECK(buf_is(&b, v1, sizeof v1));
  kf_buf_free(&b);

  /* v3: compact array, per-entry tags, throttle, body tags; the
   * FinalizedFeaturesEpoch tag (1) appears only when not -1. */
  r->error_code = 0;
  r->throttle_time_ms = 0;
  kf_encode(&kafka_api_versions_response_msg, 3, r, &b);
  static const uint8_t v3[] = {0x00, 0x00, 0x03, 0x00, 0x12, 0x00, 0x00, 0x00,
                               0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK(buf_is(&b, v3, sizeof v3));
  kf_buf_free(&b);

  r->finalized_features_epoch = 5;
  r->zk_migration_ready = 1;
  kf_encode(&kafka_api_versions_response_msg, 3, r, &b);
  static const uint8_t
      v3t[] = {0x00, 0x00, 0x03, 0x00, 0x12, 0x00, 0x00, 0x00,
               0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d,
               0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* 2 tagged fields */
               0x01, 0x08, 0,    0,    0,    0,    0,    0,
               0,    5,           /* tag 1: epoch 5 */
               0x03, 0x01, 0x01}; /* tag 3: true */
  CHECK(buf_is(&b, v3t, sizeof v3t));

  /* And the tags read back (a response decoded as a client would). */
  kf_cur c = {b.data, b.data + b.len};
  kafka_api_versions_response *back =
      kf_decode(&kafka_api_versions_response_msg, 3, &c, &a);
  CHECK(back);
  CHECK_EQ_I64(back->finalized_features_epoch, 5);
  CHECK_EQ_I64(back->zk_migration_ready, 1);
  CHECK_EQ_I64(back->api_keys.count, 2);
  CHECK_EQ_I64(back->api_keys.items[1].max_version, 13);
  kf_buf_free(&b);
  kf_arena_free(&a);
}

/* DeleteGroups v3 adds a nullable ErrorMessage per group, DescribeLogDirs
 * v5 an IsCordoned bool per directory: both written only from v3/v5. */
static void test_encode_kafka44_fields(void) {
  kf_arena a = {0};
  kf_buf b = {0};
  kafka_delete_groups_response *dg =
      kf_new(&a, &kafka_delete_groups_response_desc);
  kafka_delete_groups_response_deletable_group_result *g = kf_new_array(
      &a, &kafka_delete_groups_response_deletable_group_result_desc, 1);
  CHECK(dg && g);
  CHECK_EQ_I64(g->error_message.len, -1); /* the schema's default: null */
  g->group_id = kf_s("g");
  g->error_code = 69;
  dg->results.items = g;
  dg->results.count = 1;
  kf_encode(&kafka_delete_groups_response_msg, 3, dg, &b);
  static const uint8_t dg3[] = {0,    0,   0,    0,    0x02,
                                0x02, 'g', 0x00, 0x45, 0x00 /* null message */,
                                0x00, 0x00};
  CHECK(buf_is(&b, dg3, sizeof dg3));
  kf_buf_free(&b);
  kf_encode(&kafka_delete_groups_response_msg, 2, dg, &b);
  static const uint8_t dg2[] = {0,   0,    0,    0,    0x02, 0x02,
                                'g', 0x00, 0x45, 0x00, 0x00};
  CHECK(buf_is(&b, dg2, sizeof dg2));
  kf_buf_free(&b);

  kafka_describe_log_dirs_response *ld =
      kf_new(&a, &kafka_describe_log_dirs_response_desc);
  kafka_describe_log_dirs_response_result *d =
      kf_new_array(&a, &kafka_describe_log_dirs_response_result_desc, 1);
  CHECK(ld && d);
  d->log_dir = kf_s("/d");
  d->topics.count = 0;
  d->total_bytes = 7;
  d->usable_bytes = 3;
  d->is_cordoned = 1;
  ld->results.items = d;
  ld->results.count = 1;
  kf_encode(&kafka_describe_log_dirs_response_msg, 5, ld, &b);
  static const uint8_t ld5[] = {
      0,    0,   0,   0,    0, 0, /* throttle, error */
      0x02, 0,   0,               /* 1 result, error 0 */
      0x03, '/', 'd', 0x01,       /* dir, no topics */
      0,    0,   0,   0,    0, 0, 0, 7,    0,
      0,    0,   0,   0,    0, 0, 3, 0x01, /* IsCordoned */
      0x00, 0x00};
  CHECK(buf_is(&b, ld5, sizeof ld5));
  kf_buf_free(&b);
  kf_encode(&kafka_describe_log_dirs_response_msg, 4, ld, &b);
  CHECK_EQ_I64(b.len, sizeof ld5 - 1); /* v4: no IsCordoned */
  kf_buf_free(&b);
  kf_arena_free(&a);
}

static kafka_produce_response *produce_response(kf_arena *a) {
  kafka_produce_response *r = kf_new(a, &kafka_produce_response_desc);
  kafka_produce_response_topic_produce_response *t =
      kf_new_array(a, &kafka_produce_response_topic_produce_response_desc, 1);
  kafka_produce_response_partition_produce_response *p = kf_new_array(
      a, &kafka_produce_response_partition_produce_response_desc, 1);
  t->name = kf_s("foo");
  t->partition_responses.items = p;
  t->partition_responses.count = 1;
  p->index = 2;
  p->base_offset = 0x0102;
  p->log_start_offset = 0;
  r->responses.items = t;
  r->responses.count = 1;
  return r;
}

static void test_encode_produce(void) {
  kf_arena a = {0};
  kafka_produce_response *r = produce_response(&a);
  kf_buf b = {0};
  /* v2: no log start offset yet, throttle last. */
  kf_encode(&kafka_produce_response_msg, 2, r, &b);
  static const uint8_t v2[] = {
      0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 'f',  'o',  'o',  0x00,
      0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, /* idx 2, err 0 */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02,       /* base offset */
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       /* append time -1 */
      0x00, 0x00, 0x00, 0x00};                              /* throttle */
  CHECK(buf_is(&b, v2, sizeof v2));
  kf_buf_free(&b);

  /* v9: compact forms, null error message, empty record errors, tags;
   * CurrentLeader (tag 0) left out at its default. */
  kf_encode(&kafka_produce_response_msg, 9, r, &b);
  static const uint8_t v9[] = {
      0x02, 0x04, 'f',  'o',  'o',  0x02, 0x00, 0x00,
      0x00, 0x02, 0x00, 0x00,                         /* err */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, /* base */
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* append time */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* log start */
      0x01,                                           /* record errors [] */
      0x00,                                           /* error msg null */
      0x00,                                           /* partition tags */
      0x00,                                           /* topic tags */
      0x00, 0x00, 0x00, 0x00,                         /* throttle */
      0x00};                                          /* body tags */
  CHECK(buf_is(&b, v9, sizeof v9));
  kf_buf_free(&b);

  /* v10 with a current leader: tag 0 holding the struct, which being
   * flexible ends with its own (empty) tag section: 9 bytes. */
  r->responses.items[0].partition_responses.items[0].current_leader.leader_id =
      0;
  r->responses.items[0]
      .partition_responses.items[0]
      .current_leader.leader_epoch = 3;
  kf_encode(&kafka_produce_response_msg, 10, r, &b);
  static const uint8_t tail[] = {0x01, 0x00, 0x09, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x03, 0x00};
  CHECK(b.len == sizeof v9 - 1 + sizeof tail);
  CHECK(memcmp(b.data, v9, 38) == 0);
  CHECK(memcmp(b.data + 38, tail, sizeof tail) == 0);
  CHECK(memcmp(b.data + 38 + sizeof tail, v9 + 39, sizeof v9 - 39) == 0);
  kf_buf_free(&b);
  kf_arena_free(&a);
}

/* Metadata v1 response: rack nullable, controller id, is_internal. */
static void test_encode_metadata_v1(void) {
  kf_arena a = {0};
  kafka_metadata_response *r = kf_new(&a, &kafka_metadata_response_desc);
  kafka_metadata_response_broker *br =
      kf_new_array(&a, &kafka_metadata_response_broker_desc, 1);
  br->node_id = 0;
  br->host = kf_s("h");
  br->port = 9092;
  r->brokers.items = br;
  r->brokers.count = 1;
  r->controller_id = 0;
  kf_buf b = {0};
  kf_encode(&kafka_metadata_response_msg, 1, r, &b);
  static const uint8_t v1[] = {
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* 1 broker, node 0 */
      0x00, 0x01, 'h',  0x00, 0x00, 0x23, 0x84,       /* host, port */
      0xff, 0xff,                                     /* rack null */
      0x00, 0x00, 0x00, 0x00,                         /* controller 0 */
      0x00, 0x00, 0x00, 0x00};                        /* 0 topics */
  CHECK(buf_is(&b, v1, sizeof v1));
  kf_buf_free(&b);
  kf_arena_free(&a);
}

/* The sizing pass agrees with the real encoding, tagged fields included. */
static void test_count_only(void) {
  kf_arena a = {0};
  kafka_produce_response *r = produce_response(&a);
  r->responses.items[0]
      .partition_responses.items[0]
      .current_leader.leader_epoch = 3;
  for (int v = 0; v <= 13; v++) {
    kf_buf real = {0}, count = {0};
    count.count_only = 1;
    kf_encode(&kafka_produce_response_msg, v, r, &real);
    kf_encode(&kafka_produce_response_msg, v, r, &count);
    CHECK_EQ_I64(count.len, real.len);
    CHECK(count.data == NULL);
    kf_buf_free(&real);
  }
  kf_arena_free(&a);
}

/* A records field marked external (kf_bytes.ext) leaves a hole where its
 * bytes go, counted in ext_len and not in the buffer: splicing the bytes
 * in at the hole gives exactly the encoding of the same field in memory,
 * in classic and flexible versions, between in-memory records fields. */
static void test_external_records(void) {
  kf_arena a = {0};
  kafka_fetch_response *r = kf_new(&a, &kafka_fetch_response_desc);
  kafka_fetch_response_fetchable_topic_response *t =
      kf_new_array(&a, &kafka_fetch_response_fetchable_topic_response_desc, 1);
  kafka_fetch_response_partition_data *ps =
      kf_new_array(&a, &kafka_fetch_response_partition_data_desc, 3);
  CHECK(r && t && ps);
  static uint8_t mem0[] = "AAAAA", mem2[] = "CC", file[] = "BBBBBBB";
  ps[0].records = (kf_bytes){mem0, 5, 0};
  ps[1].records = (kf_bytes){NULL, 7, 1}; /* part 0 of the files */
  ps[2].records = (kf_bytes){mem2, 2, 0};
  t->topic = kf_s("t");
  t->partitions.items = ps;
  t->partitions.count = 3;
  r->responses.items = t;
  r->responses.count = 1;
  for (int v = 4; v <= 16; v += 8) {
    kf_buf count = {0}, holed = {0}, whole = {0};
    count.count_only = 1;
    kf_encode(&kafka_fetch_response_msg, v, r, &count);
    kf_encode(&kafka_fetch_response_msg, v, r, &holed);
    CHECK(!holed.failed && holed.nholes == 1 && holed.ext_len == 7);
    CHECK_EQ_I64(count.len, holed.len);
    CHECK_EQ_I64(count.ext_len, 7);
    ps[1].records = (kf_bytes){file, 7, 0};
    kf_encode(&kafka_fetch_response_msg, v, r, &whole);
    ps[1].records = (kf_bytes){NULL, 7, 1};
    size_t at = holed.holes[0].at;
    CHECK_EQ_I64(holed.holes[0].ext, 0);
    CHECK(whole.len == holed.len + 7 && at <= holed.len);
    CHECK(memcmp(whole.data, holed.data, at) == 0);
    CHECK(memcmp(whole.data + at, file, 7) == 0);
    CHECK(memcmp(whole.data + at + 7, holed.data + at, holed.len - at) == 0);
    kf_buf_free(&holed);
    kf_buf_free(&whole);
  }
  kf_arena_free(&a);
}

/* Every message at every version: a default object encodes, decodes back
 * to the same bytes, and every truncation and thousands of random byte
 * flips of it decode cleanly or fail cleanly (ASan/UBSan watch the
 * reads). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)rng_state;
}

static void test_all_messages(void) {
  for (size_t i = 0; i < kafka_all_msgs_count; i++) {
    const kf_msg *m = kafka_all_msgs[i];
    for (int v = m->vmin; v <= m->vmax; v++) {
      kf_arena a = {0};
      void *obj = kf_new(&a, m->body);
      CHECK(obj);
      kf_buf b = {0};
      kf_encode(m, v, obj, &b);
      CHECK(!b.failed);
      if (!b.data) /* an empty message (ListGroups v0 and the like) */
        kf_put(&b, "", 1), b.len = 0;
      kf_cur c = {b.data, b.data + b.len};
      void *back = kf_decode(m, v, &c, &a);
      if (!back || c.p != c.end) {
        fprintf(stderr, "%s v%d: default object does not round trip\n", m->name,
                v);
        nd_test_current_failed = 1;
        kf_buf_free(&b);
        kf_arena_free(&a);
        return;
      }
      kf_buf again = {0};
      kf_encode(m, v, back, &again);
      CHECK(again.len == b.len &&
            (b.len == 0 || memcmp(again.data, b.data, b.len) == 0));
      kf_buf_free(&again);
      for (size_t len = 0; len < b.len; len++) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, b.data, len);
        kf_cur cc = {cut, cut + len};
        kf_arena t = {0};
        /* A prefix may decode when what is cut off is optional; it must
         * never read past its end. */
        (void)kf_decode(m, v, &cc, &t);
        kf_arena_free(&t);
        free(cut);
      }
      for (int round = 0; round < 200; round++) {
        size_t len = b.len + (rnd() % 8);
        uint8_t *mut = malloc(len ? len : 1);
        for (size_t k = 0; k < len; k++)
          mut[k] = k < b.len ? b.data[k] : (uint8_t)rnd();
        for (int flips = 1 + (int)(rnd() % 3); flips > 0 && len; flips--)
          mut[rnd() % len] = (uint8_t)(rnd() % 4 == 0 ? 0xff : rnd());
        kf_cur cc = {mut, mut + len};
        kf_arena t = {0};
        (void)kf_decode(m, v, &cc, &t);
        kf_arena_free(&t);
        free(mut);
      }
      kf_buf_free(&b);
      kf_arena_free(&a);
    }
  }
}

int main(void) {
  RUN(test_produce_classic);
  RUN(test_produce_flexible);
  RUN(test_records_are_views);
  RUN(test_truncated);
  RUN(test_hostile_lengths);
  RUN(test_api_versions_request);
  RUN(test_api_versions_v5_request);
  RUN(test_encode_kafka44_fields);
  RUN(test_metadata_v12);
  RUN(test_metadata_v0_defaults);
  RUN(test_fetch);
  RUN(test_encode_api_versions);
  RUN(test_encode_produce);
  RUN(test_encode_metadata_v1);
  RUN(test_count_only);
  RUN(test_external_records);
  RUN(test_all_messages);
  TEST_MAIN_END();
}
