/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_telemetry.c — KIP-714 client telemetry: GetTelemetrySubscriptions
 * (API 71) and PushTelemetry (API 72), answered as Apache Kafka 4.4 answers
 * them with no client-metrics subscription and no telemetry exporter
 * plugin configured (its ClientMetricsManager; checked against a real 4.4,
 * tests/compat/test_diff_telemetry.py).
 *
 * Such a Kafka does not advertise the two APIs in ApiVersions, so clients
 * that honour the advertisement (the Java client since 3.7, librdkafka
 * since 2.5) never send them: nodata leaves them out of ApiVersions too
 * (kafka_api.c). A client that sends them anyway gets Kafka's answers:
 *
 * GetTelemetrySubscriptions: a new client instance id for a zero one (a
 * random version-4 uuid whose base64 has no '-', as Uuid.randomUuid), no
 * requested metrics, push interval 300000 ms (Kafka's default), telemetry
 * max bytes 1048576, compression types zstd, lz4, gzip, snappy, delta
 * temporality, and subscription id crc32c("[]300000") ^ the id's Java
 * hashCode (ClientMetricsManager.computeSubscriptionId of no metrics).
 * A second one within the push interval of the instance's last request is
 * THROTTLING_QUOTA_EXCEEDED unless the last push failed for its
 * subscription id or compression.
 *
 * PushTelemetry: a zero id is INVALID_REQUEST; after a terminating push,
 * INVALID_REQUEST; too soon (and not terminating) THROTTLING_QUOTA_
 * EXCEEDED; another subscription id UNKNOWN_SUBSCRIPTION_ID; a compression
 * type Kafka does not know (not 0-4) UNSUPPORTED_COMPRESSION_TYPE; metrics over
 * the max bytes TELEMETRY_TOO_LARGE; else NONE, and the metrics are dropped (no
 * exporter).
 *
 * Instances live as Kafka's do without an exporter plugin: created by the
 * first request naming them, kept when their connection closes (a Kafka
 * 4.4 answers a push on a new connection as throttled), forgotten after
 * three push intervals unused.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kafka.h"

#define TELEMETRY_PUSH_INTERVAL_MS 300000
#define TELEMETRY_MAX_BYTES 1048576
/* Kafka's Crc32C of "[]300000": Set.toString() of no metrics, then the
 * push interval (checked by the differential test's formula). */
#define TELEMETRY_CRC_NO_METRICS 0xd4c75bdeu
/* Instances kept at most; past it the least recently used is forgotten
 * (Kafka's cache holds 16384). */
#define TELEMETRY_MAX_INSTANCES 4096

typedef struct tm_instance {
  kf_uuid id;
  int64_t last_get_ms, last_push_ms, used_ms;
  int32_t subscription_id;
  int16_t last_error;
  uint8_t terminating;
} tm_instance;

struct telemetry_state {
  tm_instance *v;
  size_t n, cap;
};

static const int8_t accepted_compression[] = {4, 3, 1,
                                              2}; /* zstd lz4 gzip snappy */

static int uuid_is_zero(const kf_uuid *u) {
  static const uint8_t zero[16];
  return !memcmp(u->b, zero, 16);
}

/* Kafka's Uuid.RESERVED: the zero uuid and METADATA_TOPIC_ID (0, 1). */
static int uuid_reserved(const kf_uuid *u) {
  static const uint8_t one[16] = {[15] = 1};
  return uuid_is_zero(u) || !memcmp(u->b, one, 16);
}

static int32_t subscription_id(const kf_uuid *u) {
  uint64_t ms = 0, ls = 0;
  for (int i = 0; i < 8; i++) {
    ms = ms << 8 | u->b[i];
    ls = ls << 8 | u->b[8 + i];
  }
  uint64_t h = ms ^ ls;
  uint32_t hash = (uint32_t)(h >> 32) ^ (uint32_t)h;
  return (int32_t)(TELEMETRY_CRC_NO_METRICS ^ hash);
}

/* Uuid.randomUuid: version 4, never reserved, and no '-' in its url-safe
 * base64 (a 6-bit group of 62), which Kafka avoids so ids do not look like
 * command-line flags. */
static void random_uuid(kf_uuid *u) {
  for (;;) {
    if (getrandom(u->b, 16, GRND_NONBLOCK) != 16) {
      static uint64_t x;
      x += (uint64_t)time(NULL) ^ (uint64_t)net_now_ms() << 20;
      for (int i = 0; i < 16; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        u->b[i] = (uint8_t)x;
      }
    }
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
    int dash = 0;
    for (int bit = 0; bit < 128 && !dash; bit += 6) {
      unsigned g = 0;
      for (int k = 0; k < 6; k++) {
        int at = bit + k;
        g = g << 1 | (at < 128 ? (u->b[at / 8] >> (7 - at % 8)) & 1u : 0u);
      }
      dash = g == 62;
    }
    if (!dash && !uuid_reserved(u))
      return;
  }
}

/* The instance named id, created if new (NULL without memory). Those
 * unused for three push intervals are forgotten first, as Kafka's
 * expiration timer does. */
static tm_instance *instance(kafka_state *k, const kf_uuid *id, int64_t now) {
  struct telemetry_state *t = k->telemetry;
  if (!t && !(t = k->telemetry = calloc(1, sizeof *t)))
    return NULL;
  for (size_t i = 0; i < t->n;)
    if (now - t->v[i].used_ms >= 3 * (int64_t)TELEMETRY_PUSH_INTERVAL_MS)
      t->v[i] = t->v[--t->n];
    else
      i++;
  for (size_t i = 0; i < t->n; i++)
    if (!memcmp(t->v[i].id.b, id->b, 16)) {
      t->v[i].used_ms = now;
      return &t->v[i];
    }
  tm_instance *slot;
  if (t->n == TELEMETRY_MAX_INSTANCES) {
    slot = &t->v[0];
    for (size_t i = 1; i < t->n; i++)
      if (t->v[i].used_ms < slot->used_ms)
        slot = &t->v[i];
  } else {
    if (t->n == t->cap) {
      size_t cap = t->cap ? t->cap * 2 : 16;
      tm_instance *v = realloc(t->v, cap * sizeof *v);
      if (!v)
        return NULL;
      t->v = v;
      t->cap = cap;
    }
    slot = &t->v[t->n++];
  }
  *slot = (tm_instance){
      .id = *id, .used_ms = now, .subscription_id = subscription_id(id)};
  return slot;
}

void telemetry_fini(kafka_state *k) {
  if (k && k->telemetry) {
    free(k->telemetry->v);
    free(k->telemetry);
    k->telemetry = NULL;
  }
}

/* ClientMetricsInstance.maybeUpdateGetRequestTimestamp. */
static int get_due(tm_instance *m, int64_t now) {
  int64_t last =
      m->last_get_ms > m->last_push_ms ? m->last_get_ms : m->last_push_ms;
  if (now - last < TELEMETRY_PUSH_INTERVAL_MS)
    return 0;
  m->last_get_ms = now;
  return 1;
}

/* ClientMetricsInstance.maybeUpdatePushRequestTimestamp: a push right
 * after a get is welcome; otherwise one per interval. */
static int push_due(tm_instance *m, int64_t now) {
  int ok = m->last_get_ms > m->last_push_ms;
  if (!ok) {
    int64_t last =
        m->last_get_ms > m->last_push_ms ? m->last_get_ms : m->last_push_ms;
    ok = now - last >= TELEMETRY_PUSH_INTERVAL_MS;
  }
  if (ok)
    m->last_push_ms = now;
  return ok;
}

/* Wall-clock ms as Kafka's time.milliseconds(): the first request of an
 * instance (timestamps 0) is always due. */
static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int handle_get_telemetry_subscriptions(kafka_req *r) {
  kafka_get_telemetry_subscriptions_request *req = r->body;
  kafka_get_telemetry_subscriptions_response *resp =
      kf_new(&r->arena, &kafka_get_telemetry_subscriptions_response_desc);
  if (!resp)
    return -1;
  int64_t now = now_ms();
  kf_uuid id = req->client_instance_id;
  if (uuid_is_zero(&id))
    random_uuid(&id);
  tm_instance *m = instance(r->k, &id, now);
  if (!m)
    return -1;
  if (!get_due(m, now) && m->last_error != KERR_UNKNOWN_SUBSCRIPTION_ID &&
      m->last_error != KERR_UNSUPPORTED_COMPRESSION_TYPE) {
    /* Kafka's error response: every other field at its default. */
    resp->error_code = KERR_THROTTLING_QUOTA_EXCEEDED;
    kafka_log(r, BLOG_DEBUG, "asked again within the push interval");
    kafka_respond(r, resp);
    return 0;
  }
  m->last_error = KERR_NONE;
  resp->client_instance_id = id;
  resp->subscription_id = m->subscription_id;
  resp->accepted_compression_types.items = (int8_t *)accepted_compression;
  resp->accepted_compression_types.count =
      (int32_t)(sizeof accepted_compression / sizeof accepted_compression[0]);
  resp->push_interval_ms = TELEMETRY_PUSH_INTERVAL_MS;
  resp->telemetry_max_bytes = TELEMETRY_MAX_BYTES;
  resp->delta_temporality = 1;
  kafka_log(r, BLOG_DEBUG, "no client-metrics subscription: none requested");
  kafka_respond(r, resp);
  return 0;
}

static int16_t push_error(const kafka_push_telemetry_request *req,
                          tm_instance *m, int64_t now) {
  if (m->terminating)
    return KERR_INVALID_REQUEST;
  if (!push_due(m, now) && !req->terminating)
    return KERR_THROTTLING_QUOTA_EXCEEDED;
  if (req->subscription_id != m->subscription_id)
    return KERR_UNKNOWN_SUBSCRIPTION_ID;
  /* Any compression Kafka knows (CompressionType.forId), none included. */
  if (req->compression_type < 0 || req->compression_type > 4)
    return KERR_UNSUPPORTED_COMPRESSION_TYPE;
  if (req->metrics.len > TELEMETRY_MAX_BYTES)
    return KERR_TELEMETRY_TOO_LARGE;
  return KERR_NONE;
}

int handle_push_telemetry(kafka_req *r) {
  kafka_push_telemetry_request *req = r->body;
  kafka_push_telemetry_response *resp =
      kf_new(&r->arena, &kafka_push_telemetry_response_desc);
  if (!resp)
    return -1;
  if (uuid_reserved(&req->client_instance_id)) {
    resp->error_code = KERR_INVALID_REQUEST;
    kafka_respond(r, resp);
    return 0;
  }
  int64_t now = now_ms();
  tm_instance *m = instance(r->k, &req->client_instance_id, now);
  if (!m)
    return -1;
  resp->error_code = push_error(req, m, now);
  /* As Kafka: the error is remembered (a get after a bad subscription id
   * or compression is not throttled) and terminating is kept either way. */
  m->last_error = resp->error_code;
  m->terminating = req->terminating;
  kafka_respond(r, resp);
  return 0;
}
