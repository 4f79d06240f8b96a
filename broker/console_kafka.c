/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_kafka.c — the console's Kafka client: one blocking TCP
 * connection to one of the broker's own listeners, one request in flight
 * at a time (console.h says why the console is a client of its broker).
 *
 * Wire: a request is INT32 size, the request header (v2 for a flexible
 * version, else v1; client id "nodata-console"), the body encoded by the
 * generated schema at the asked version; the answer is INT32 size, the
 * response header (v1 with tagged fields for a flexible version, v0 for
 * ApiVersions always, KIP-511) and the body. Every wait is bounded by
 * CK_TIMEOUT_MS, measured from the call's start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "kafka.h"

/* An answer bigger than this is refused: the console asks for bounded
 * things (its Fetch asks for at most a few MiB). */
#define CK_MAX_RESPONSE (64 << 20)

struct ck_conn {
  int fd;
  int32_t next_correlation;
  char principal[300];
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for `events` or deadline; 0, or -1 with why. */
static int wait_fd(int fd, short events, int64_t deadline, char *why,
                   size_t whylen) {
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) {
      snprintf(why, whylen, "no answer within %d ms", CK_TIMEOUT_MS);
      return -1;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, (int)left);
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR) {
      snprintf(why, whylen, "poll: %s", strerror(errno));
      return -1;
    }
  }
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline,
                    char *why, size_t whylen) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_fd(fd, POLLOUT, deadline, why, whylen) < 0)
        return -1;
      continue;
    }
    snprintf(why, whylen, "send: %s", strerror(errno));
    return -1;
  }
  return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n, int64_t deadline, char *why,
                    size_t whylen) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r > 0) {
      p += r;
      n -= (size_t)r;
      continue;
    }
    if (r == 0) {
      snprintf(why, whylen, "the broker closed the connection");
      return -1;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_fd(fd, POLLIN, deadline, why, whylen) < 0)
        return -1;
      continue;
    }
    snprintf(why, whylen, "recv: %s", strerror(errno));
    return -1;
  }
  return 0;
}

static const kafka_api *api_of(int16_t key) {
  for (size_t i = 0; i < kafka_api_count; i++)
    if (kafka_apis[i].key == key)
      return &kafka_apis[i];
  return NULL;
}

int ck_roundtrip(ck_conn *c, const uint8_t *frame, size_t len, uint8_t **resp,
                 size_t *resp_len, char *why, size_t whylen) {
  int64_t deadline = mono_ms() + CK_TIMEOUT_MS;
  if (send_all(c->fd, frame, len, deadline, why, whylen) < 0)
    return -1;
  uint8_t sz[4];
  if (recv_all(c->fd, sz, 4, deadline, why, whylen) < 0)
    return -1;
  uint32_t n = (uint32_t)sz[0] << 24 | (uint32_t)sz[1] << 16 |
               (uint32_t)sz[2] << 8 | sz[3];
  if (n < 4 || n > CK_MAX_RESPONSE) {
    snprintf(why, whylen, "answer of %u bytes (the console takes 4 to %d)", n,
             CK_MAX_RESPONSE);
    return -1;
  }
  uint8_t *buf = malloc(n);
  if (!buf) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if (recv_all(c->fd, buf, n, deadline, why, whylen) < 0) {
    free(buf);
    return -1;
  }
  *resp = buf;
  *resp_len = n;
  return 0;
}

int ck_call(ck_conn *c, int16_t key, int16_t version, const void *req,
            kf_arena *a, void **resp, char *why, size_t whylen) {
  *resp = NULL;
  const kafka_api *api = api_of(key);
  if (!api || version < api->req->vmin || version > api->req->vmax) {
    snprintf(why, whylen, "API %d v%d has no schema here", key, version);
    return -1;
  }
  int flex = kf_flexible(api->req, version);
  int32_t corr = c->next_correlation++;
  kafka_request_header h = {.request_api_key = key,
                            .request_api_version = version,
                            .correlation_id = corr,
                            .client_id = kf_s("nodata-console")};
  kf_buf b = {0};
  kf_put_i32(&b, 0); /* size, patched below */
  kf_encode(&kafka_request_header_msg, flex ? 2 : 1, &h, &b);
  kf_encode(api->req, version, req, &b);
  if (b.failed || b.nholes) {
    kf_buf_free(&b);
    snprintf(why, whylen, "cannot encode %s v%d", api->name, version);
    return -1;
  }
  uint32_t n = (uint32_t)(b.len - 4);
  b.data[0] = (uint8_t)(n >> 24);
  b.data[1] = (uint8_t)(n >> 16);
  b.data[2] = (uint8_t)(n >> 8);
  b.data[3] = (uint8_t)n;
  uint8_t *frame = NULL;
  size_t flen = 0;
  int rc = ck_roundtrip(c, b.data, b.len, &frame, &flen, why, whylen);
  kf_buf_free(&b);
  if (rc < 0)
    return -1;
  /* The answer's bytes must outlive the decoded struct (strings and
   * records point into them): they go into the arena. */
  uint8_t *kept = kf_alloc(a, flen);
  if (!kept) {
    free(frame);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  memcpy(kept, frame, flen);
  free(frame);
  kf_cur cur = {kept, kept + flen};
  int32_t got;
  if (kf_get_i32(&cur, &got) < 0 || got != corr) {
    snprintf(why, whylen, "%s v%d: answer for correlation id %d, not %d",
             api->name, version, got, corr);
    return -1;
  }
  if (flex && key != 18 /* ApiVersions */) {
    /* The response header's tagged fields: none are defined; skip them. */
    uint64_t ntags;
    if (kf_get_uvarint(&cur, &ntags) < 0) {
      snprintf(why, whylen, "%s v%d: malformed response header", api->name,
               version);
      return -1;
    }
    for (uint64_t i = 0; i < ntags; i++) {
      uint64_t tag, size;
      if (kf_get_uvarint(&cur, &tag) < 0 || kf_get_uvarint(&cur, &size) < 0 ||
          size > (uint64_t)(cur.end - cur.p)) {
        snprintf(why, whylen, "%s v%d: malformed response header", api->name,
                 version);
        return -1;
      }
      cur.p += size;
    }
  }
  int rv = version;
  if (rv > api->resp->vmax)
    rv = api->resp->vmax;
  void *body = kf_decode(api->resp, rv, &cur, a);
  if (!body) {
    snprintf(why, whylen, "%s v%d: malformed answer", api->name, version);
    return -1;
  }
  *resp = body;
  return 0;
}

int ck_open(const ck_target *t, const char *mech, const char *user,
            const char *password, ck_conn **out, char *why, size_t whylen) {
  *out = NULL;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char port[8];
  snprintf(port, sizeof port, "%d", t->port);
  int gai = getaddrinfo(t->host, port, &hints, &res);
  if (gai != 0) {
    snprintf(why, whylen, "listener %s (%s:%d): %s", t->listener, t->host,
             t->port, gai_strerror(gai));
    return -1;
  }
  int fd =
      socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = fd < 0 ? errno : 0;
  if (!err && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      char w[128];
      err = 0;
      socklen_t sl = sizeof err;
      if (wait_fd(fd, POLLOUT, mono_ms() + CK_TIMEOUT_MS, w, sizeof w) < 0)
        err = ETIMEDOUT;
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
        err = errno;
    }
  }
  freeaddrinfo(res);
  if (err) {
    if (fd >= 0)
      close(fd);
    snprintf(why, whylen, "cannot connect to listener %s (%s:%d): %s",
             t->listener, t->host, t->port, strerror(err));
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ck_conn *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  c->fd = fd;
  c->next_correlation = 1;
  snprintf(c->principal, sizeof c->principal, "User:ANONYMOUS");
  if (user) {
    int rc = ck_authenticate(c, mech, user, password, why, whylen);
    if (rc < 0) {
      ck_close(c);
      return rc;
    }
    snprintf(c->principal, sizeof c->principal, "User:%s", user);
  }
  *out = c;
  return 0;
}

const char *ck_principal(const ck_conn *c) {
  return c->principal;
}

void ck_close(ck_conn *c) {
  if (!c)
    return;
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}
