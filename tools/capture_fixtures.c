/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture_fixtures.c — capture RecordBatch v2 bytes exactly as real Kafka
 * clients write them, for tests/fixtures/.
 *
 * Not part of the build: the fixtures it writes are committed, so CI needs
 * neither librdkafka's development files nor the Python codec modules.
 * To rerun (Debian: librdkafka-dev, python3-kafka, python3-snappy,
 * python3-lz4, python3-zstandard):
 *
 *   cc -O1 -Wall -o /tmp/capture_fixtures tools/capture_fixtures.c \
 *      $(pkg-config --cflags --libs rdkafka)
 *   /tmp/capture_fixtures tests/fixtures
 *
 * How: librdkafka's in-process mock cluster stores produced batches
 * verbatim. We produce one batch per codec with librdkafka, then run
 * tools/capture_kafka_python.py against the same mock for kafka-python's
 * batches, then read every batch back with a hand-written Fetch v4 over a
 * plain socket (no client library in the read path, so nothing re-encodes
 * the bytes). Each batch is written to <client>-<codec>.batch beside a
 * <client>-<codec>.expect manifest of the records that were sent; finally
 * the Python script checks every batch against its manifest with
 * kafka-python's own decoder, an implementation independent of ours.
 *
 * The manifest format (read by tests/test_codecs.c):
 *   lines starting with '#' are comments;
 *   "@client <text>" and "@codec <name>" describe the batch;
 *   every other line is one record, fields separated by one space:
 *     offset_delta timestamp_ms key value [hkey=hvalue ...]
 *   key, value, hkey and hvalue are lowercase hex, "-" for null and "."
 *   for a present but empty field.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BASE_TS INT64_C(1700000000000)
#define MAX_HDRS 4
#define MAX_RECS 8

struct hdr {
  const char *key;
  const void *val; /* NULL = null value */
  size_t val_len;
};

struct rec {
  const void *key; /* NULL = null key */
  size_t key_len;
  const void *val; /* NULL = null value */
  size_t val_len;
  int64_t ts;
  int nhdrs;
  struct hdr hdrs[MAX_HDRS];
};

static struct rec recs[MAX_RECS];
static int nrecs;

static uint8_t bin_key[] = {0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe};
static uint8_t bin_hval[] = {0x00, 0x01, 0xff};
static uint8_t bin_val[256];
static char big_val[4096];

/* The record set every fixture carries: keyed records with headers, a null
 * key, a null value with a null header value, binary bytes, a value large
 * and repetitive enough that every codec shrinks the batch (clients send
 * it uncompressed otherwise), an empty value, and a timestamp that goes
 * backwards (maxTimestamp is then not the last record's). */
static void build_records(void) {
  for (int i = 0; i < 256; i++)
    bin_val[i] = (uint8_t)i;
  const char *phrase = "nodata RecordBatch fixture payload, compress me; ";
  size_t pl = strlen(phrase);
  for (size_t i = 0; i < sizeof big_val; i++)
    big_val[i] = phrase[i % pl];

  struct rec *r = &recs[nrecs++];
  *r = (struct rec){.key = "user-1",
                    .key_len = 6,
                    .val = "{\"event\":\"login\",\"n\":1}",
                    .val_len = 23,
                    .ts = BASE_TS,
                    .nhdrs = 2};
  r->hdrs[0] = (struct hdr){"trace-id", "abc123", 6};
  r->hdrs[1] = (struct hdr){"source", "nodata-fixtures", 15};

  r = &recs[nrecs++];
  *r = (struct rec){.val = "no key", .val_len = 6, .ts = BASE_TS + 1};

  r = &recs[nrecs++];
  *r = (struct rec){
      .key = "user-2", .key_len = 6, .ts = BASE_TS + 2, .nhdrs = 1};
  r->hdrs[0] = (struct hdr){"deleted-by", NULL, 0};

  r = &recs[nrecs++];
  *r = (struct rec){.key = bin_key,
                    .key_len = sizeof bin_key,
                    .val = bin_val,
                    .val_len = sizeof bin_val,
                    .ts = BASE_TS + 3,
                    .nhdrs = 1};
  r->hdrs[0] = (struct hdr){"bin", bin_hval, sizeof bin_hval};

  r = &recs[nrecs++];
  *r = (struct rec){.key = "compressible",
                    .key_len = 12,
                    .val = big_val,
                    .val_len = sizeof big_val,
                    .ts = BASE_TS + 10,
                    .nhdrs = 3};
  r->hdrs[0] = (struct hdr){"dup", "1", 1};
  r->hdrs[1] = (struct hdr){"dup", "2", 1};
  r->hdrs[2] = (struct hdr){"empty", "", 0};

  r = &recs[nrecs++];
  *r =
      (struct rec){.key = "user-1", .key_len = 6, .val = "", .ts = BASE_TS + 5};
}

static void put_hex(FILE *f, const void *p, size_t n) {
  if (!p) {
    fputc('-', f);
    return;
  }
  if (n == 0) {
    fputc('.', f);
    return;
  }
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%02x", ((const uint8_t *)p)[i]);
}

static int write_expect(const char *path, const char *client,
                        const char *codec) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return -1;
  }
  fprintf(f, "# Records sent by the client into the batch beside this file;\n"
             "# written by tools/capture_fixtures.c (format described "
             "there).\n");
  fprintf(f, "@client %s\n@codec %s\n", client, codec);
  for (int i = 0; i < nrecs; i++) {
    const struct rec *r = &recs[i];
    fprintf(f, "%d %" PRId64 " ", i, r->ts);
    put_hex(f, r->key, r->key_len);
    fputc(' ', f);
    put_hex(f, r->val, r->val_len);
    for (int h = 0; h < r->nhdrs; h++) {
      fputc(' ', f);
      put_hex(f, r->hdrs[h].key, strlen(r->hdrs[h].key));
      fputc('=', f);
      put_hex(f, r->hdrs[h].val, r->hdrs[h].val_len);
    }
    fputc('\n', f);
  }
  return fclose(f);
}

static int produce_all(const char *bootstraps, const char *topic,
                       const char *codec) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *kv[][2] = {
      {"bootstrap.servers", bootstraps},
      {"compression.codec", codec},
      /* One batch for all records: wait long enough to collect them. */
      {"linger.ms", "200"},
      {"batch.num.messages", "1000"},
      {"acks", "all"},
      {"enable.idempotence", "false"},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      fprintf(stderr, "%s=%s: %s\n", kv[i][0], kv[i][1], err);
      return -1;
    }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", err);
    return -1;
  }
  for (int i = 0; i < nrecs; i++) {
    const struct rec *r = &recs[i];
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(MAX_HDRS);
    for (int h = 0; h < r->nhdrs; h++)
      rd_kafka_header_add(hdrs, r->hdrs[h].key, -1, r->hdrs[h].val,
                          (ssize_t)r->hdrs[h].val_len);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(r->key, r->key_len),
        RD_KAFKA_V_VALUE((void *)r->val, r->val_len),
        RD_KAFKA_V_TIMESTAMP(r->ts), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e) {
      fprintf(stderr, "produce to %s: %s\n", topic, rd_kafka_err2str(e));
      rd_kafka_headers_destroy(hdrs);
      rd_kafka_destroy(rk);
      return -1;
    }
  }
  rd_kafka_resp_err_t e = rd_kafka_flush(rk, 10000);
  rd_kafka_destroy(rk);
  if (e) {
    fprintf(stderr, "flush %s: %s\n", topic, rd_kafka_err2str(e));
    return -1;
  }
  return 0;
}

/* ---- a Fetch v4 by hand ---- */

static int connect_to(const char *bootstraps) {
  char host[256];
  snprintf(host, sizeof host, "%s", bootstraps);
  char *comma = strchr(host, ',');
  if (comma)
    *comma = '\0';
  char *colon = strrchr(host, ':');
  if (!colon)
    return -1;
  *colon = '\0';
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *ai;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
    return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

static int full_io(int fd, void *buf, size_t n, int writing) {
  uint8_t *p = buf;
  while (n) {
    ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
    if (k <= 0) {
      if (k < 0 && errno == EINTR)
        continue;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

struct wbuf {
  uint8_t b[1024];
  size_t n;
};
static void w8(struct wbuf *w, uint8_t v) {
  w->b[w->n++] = v;
}
static void w16(struct wbuf *w, uint16_t v) {
  w8(w, (uint8_t)(v >> 8));
  w8(w, (uint8_t)v);
}
static void w32(struct wbuf *w, uint32_t v) {
  w16(w, (uint16_t)(v >> 16));
  w16(w, (uint16_t)v);
}
static void w64(struct wbuf *w, uint64_t v) {
  w32(w, (uint32_t)(v >> 32));
  w32(w, (uint32_t)v);
}
static void wstr(struct wbuf *w, const char *s) {
  w16(w, (uint16_t)strlen(s));
  memcpy(w->b + w->n, s, strlen(s));
  w->n += strlen(s);
}
static uint32_t r32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* Fetch partition 0 of topic from offset 0; returns the records bytes. */
static uint8_t *fetch_records(const char *bootstraps, const char *topic,
                              size_t *len) {
  int fd = connect_to(bootstraps);
  if (fd < 0) {
    fprintf(stderr, "cannot connect to %s\n", bootstraps);
    return NULL;
  }
  struct wbuf w = {.n = 4};
  w16(&w, 1); /* Fetch */
  w16(&w, 4);
  w32(&w, 7); /* correlation id */
  wstr(&w, "nodata-capture");
  w32(&w, (uint32_t)-1); /* replica_id */
  w32(&w, 500);          /* max_wait_ms */
  w32(&w, 1);            /* min_bytes */
  w32(&w, 16 << 20);     /* max_bytes */
  w8(&w, 0);             /* isolation_level */
  w32(&w, 1);
  wstr(&w, topic);
  w32(&w, 1);
  w32(&w, 0);        /* partition */
  w64(&w, 0);        /* fetch_offset */
  w32(&w, 16 << 20); /* partition_max_bytes */
  uint32_t body = (uint32_t)(w.n - 4);
  w.b[0] = (uint8_t)(body >> 24);
  w.b[1] = (uint8_t)(body >> 16);
  w.b[2] = (uint8_t)(body >> 8);
  w.b[3] = (uint8_t)body;
  uint8_t lenb[4];
  uint8_t *resp = NULL;
  if (full_io(fd, w.b, w.n, 1) || full_io(fd, lenb, 4, 0))
    goto fail;
  uint32_t rlen = r32(lenb);
  resp = malloc(rlen);
  if (!resp || full_io(fd, resp, rlen, 0))
    goto fail;
  /* correlation_id, throttle, [topic: name, [partition: id, error, hw, lso,
   * aborted[], records]] — one topic, one partition. */
  size_t p = 4 + 4 + 4;
  uint16_t tlen = (uint16_t)(resp[p] << 8 | resp[p + 1]);
  p += 2 + tlen + 4 + 4;
  uint16_t perr = (uint16_t)(resp[p] << 8 | resp[p + 1]);
  if (perr) {
    fprintf(stderr, "fetch %s: error code %u\n", topic, perr);
    goto fail;
  }
  p += 2 + 8 + 8;
  int32_t naborted = (int32_t)r32(resp + p);
  p += 4 + (naborted > 0 ? (size_t)naborted * 16 : 0);
  int32_t rl = (int32_t)r32(resp + p);
  p += 4;
  if (rl <= 0 || p + (size_t)rl > rlen) {
    fprintf(stderr, "fetch %s: no records\n", topic);
    goto fail;
  }
  uint8_t *out = malloc((size_t)rl);
  memcpy(out, resp + p, (size_t)rl);
  *len = (size_t)rl;
  free(resp);
  close(fd);
  return out;
fail:
  free(resp);
  close(fd);
  return NULL;
}

static int capture(const char *bootstraps, const char *dir, const char *topic) {
  size_t len;
  uint8_t *b = fetch_records(bootstraps, topic, &len);
  if (!b)
    return -1;
  /* Exactly one whole batch is expected: the test reads the file as one. */
  if (len < 61 || r32(b + 8) + 12 != len || b[16] != 2) {
    fprintf(stderr, "%s: %zu bytes are not exactly one v2 batch\n", topic, len);
    free(b);
    return -1;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.batch", dir, topic);
  FILE *f = fopen(path, "wb");
  int rc = f && fwrite(b, 1, len, f) == len ? 0 : -1;
  if (f && fclose(f))
    rc = -1;
  printf("%-28s %5zu bytes, attributes 0x%02x%02x\n", path, len, b[21], b[22]);
  free(b);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR   (run from the repository root)\n",
            argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  static const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  setvbuf(stdout, NULL, _IOLBF, 0); /* keep order with the child */
  build_records();

  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!owner) {
    fprintf(stderr, "rd_kafka_new: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 1);
  if (!mc) {
    fprintf(stderr, "cannot create the mock cluster\n");
    return 1;
  }
  const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
  int failed = 0;
  char topic[64], path[1024];
  for (int i = 0; i < 5; i++) {
    snprintf(topic, sizeof topic, "rdkafka-%s", codecs[i]);
    rd_kafka_mock_topic_create(mc, topic, 1, 1);
    snprintf(topic, sizeof topic, "kafka-python-%s", codecs[i]);
    rd_kafka_mock_topic_create(mc, topic, 1, 1);
  }
  for (int i = 0; i < 5 && !failed; i++) {
    snprintf(topic, sizeof topic, "rdkafka-%s", codecs[i]);
    snprintf(path, sizeof path, "%s/%s.expect", dir, topic);
    char client[64];
    snprintf(client, sizeof client, "librdkafka %s", rd_kafka_version_str());
    if (write_expect(path, client, codecs[i]) ||
        produce_all(bs, topic, codecs[i]) || capture(bs, dir, topic))
      failed = 1;
  }
  /* kafka-python produces the same records (read from the manifest just
   * written) and writes its own manifests. */
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 tools/capture_kafka_python.py produce %s "
           "%s/rdkafka-none.expect %s",
           bs, dir, dir);
  if (!failed && system(cmd) != 0)
    failed = 1;
  for (int i = 0; i < 5 && !failed; i++) {
    snprintf(topic, sizeof topic, "kafka-python-%s", codecs[i]);
    if (capture(bs, dir, topic))
      failed = 1;
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(owner);
  if (failed)
    return 1;
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 tools/capture_kafka_python.py verify %s", dir);
  return system(cmd) == 0 ? 0 : 1;
}
