/*
 * kafka_api.c — the Kafka protocol layer's entry points (bootstrap version).
 *
 * This first cut answers ApiVersions only, so that `nodata serve` links and
 * a client can complete its handshake; the table-driven codec and the other
 * handlers replace it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static void put16(uint8_t *p, int v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, int32_t v) {
  uint32_t u = (uint32_t)v;
  p[0] = (uint8_t)(u >> 24);
  p[1] = (uint8_t)(u >> 16);
  p[2] = (uint8_t)(u >> 8);
  p[3] = (uint8_t)u;
}

int kafka_init(broker *b) {
  b->kafka = NULL;
  return 0;
}

void kafka_fini(broker *b) {
  b->kafka = NULL;
}

int kafka_handle_request(void *ctx, net_conn *conn, net_req *req,
                         const uint8_t *frame, size_t len) {
  (void)ctx;
  if (len < 8) {
    net_conn_close(conn, "request shorter than its header");
    return -1;
  }
  int api_key = (int16_t)(frame[0] << 8 | frame[1]);
  int api_version = (int16_t)(frame[2] << 8 | frame[3]);
  if (api_key != 18) {
    net_conn_close(conn, "API not implemented yet");
    return -1;
  }
  /* ApiVersions in the v0 layout (header v0): error, [key, min, max]; a
   * version above 3 gets 35 so librdkafka falls back to v0. */
  int flex = api_version >= 3 && api_version <= 4;
  size_t n = 4 + 4 + 2 + (flex ? 1 : 4) + 6 + (flex ? 1 : 0) +
             (api_version >= 1 && api_version <= 4 ? 4 : 0) + (flex ? 1 : 0);
  uint8_t *buf = calloc(1, n);
  if (!buf)
    return -1;
  uint8_t *p = buf;
  put32(p, (int32_t)(n - 4));
  memcpy(p + 4, frame + 4, 4);
  p += 8;
  put16(p, api_version > 4 ? 35 : 0);
  p += 2;
  if (flex)
    *p++ = 2;
  else {
    put32(p, 1);
    p += 4;
  }
  put16(p, 18);
  put16(p + 2, 0);
  put16(p + 4, 4);
  p += 6;
  if (flex)
    *p++ = 0;
  if (api_version >= 1 && api_version <= 4)
    p += 4; /* throttle 0 */
  if (flex)
    *p++ = 0;
  net_reply(conn, req, buf, (size_t)(p - buf));
  return 0;
}

void kafka_conn_closed(void *ctx, net_conn *conn) {
  (void)ctx;
  (void)conn;
}

void kafka_on_append(void *ctx, const char *topic, int32_t partition,
                     int64_t high_watermark) {
  (void)ctx;
  (void)topic;
  (void)partition;
  (void)high_watermark;
}
