/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_kafka.c — the console's Kafka client: one blocking TCP
 * connection to one of the broker's own listeners (or `nodata console`'s
 * --bootstrap), one request in flight at a time (console.h says why the
 * console is a client of its broker).
 *
 * TLS (SSL, SASL_SSL) is OpenSSL on the same nonblocking socket: a
 * WANT_READ or WANT_WRITE of SSL_connect, SSL_read or SSL_write becomes
 * the same bounded poll as a plaintext wait, so a peer that stalls the
 * handshake or a record costs at most CK_TIMEOUT_MS too. The context is
 * made for each connection from ck_target's files: connections are few
 * (one per login, one shared anonymous), and renewed files are then read
 * without a restart.
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

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "console.h"
#include "kafka.h"
#include "tls.h"

/* An answer bigger than this is refused: the console asks for bounded
 * things (its Fetch asks for at most a few MiB). */
#define CK_MAX_RESPONSE (64 << 20)

struct ck_conn {
  int fd;
  SSL *ssl; /* NULL on PLAINTEXT and SASL_PLAINTEXT */
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

/* After an SSL_* call returned rc <= 0: wait for what it wants and return
 * 0 to call it again, or -1 with why. */
static int tls_wait(ck_conn *c, int rc, int64_t deadline, char *why,
                    size_t whylen) {
  int e = SSL_get_error(c->ssl, rc);
  if (e == SSL_ERROR_WANT_READ)
    return wait_fd(c->fd, POLLIN, deadline, why, whylen);
  if (e == SSL_ERROR_WANT_WRITE)
    return wait_fd(c->fd, POLLOUT, deadline, why, whylen);
  char err[256];
  if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
    snprintf(why, whylen, "the broker closed the connection");
  else if (e == SSL_ERROR_SYSCALL)
    snprintf(why, whylen, "TLS: %s", strerror(errno));
  else {
    net_tls_error(err, sizeof err);
    /* TLS 1.3 says so only after the handshake, at the first read. */
    snprintf(why, whylen, "TLS: %s%s", err,
             strstr(err, "certificate required")
                 ? " (the listener requires a client certificate)"
                 : "");
  }
  return -1;
}

/* All n bytes read into rbuf, or written from wbuf, over TLS: 0, or -1
 * with why. SSL_read comes first and the poll only when it wants: a
 * record already read from the socket may hold what is asked for. */
static int tls_all(ck_conn *c, uint8_t *rbuf, const uint8_t *wbuf, size_t n,
                   int64_t deadline, char *why, size_t whylen) {
  size_t done = 0;
  while (done < n) {
    size_t left = n - done;
    int len = left > INT32_MAX ? INT32_MAX : (int)left;
    ERR_clear_error();
    errno = 0;
    int r = rbuf ? SSL_read(c->ssl, rbuf + done, len)
                 : SSL_write(c->ssl, wbuf + done, len);
    if (r > 0)
      done += (size_t)r;
    else if (tls_wait(c, r, deadline, why, whylen) < 0)
      return -1;
  }
  return 0;
}

static int send_all(ck_conn *c, const uint8_t *p, size_t n, int64_t deadline,
                    char *why, size_t whylen) {
  if (c->ssl)
    return tls_all(c, NULL, p, n, deadline, why, whylen);
  while (n > 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_fd(c->fd, POLLOUT, deadline, why, whylen) < 0)
        return -1;
      continue;
    }
    snprintf(why, whylen, "send: %s", strerror(errno));
    return -1;
  }
  return 0;
}

static int recv_all(ck_conn *c, uint8_t *p, size_t n, int64_t deadline,
                    char *why, size_t whylen) {
  if (c->ssl)
    return tls_all(c, p, NULL, n, deadline, why, whylen);
  while (n > 0) {
    ssize_t r = recv(c->fd, p, n, 0);
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
      if (wait_fd(c->fd, POLLIN, deadline, why, whylen) < 0)
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
  if (send_all(c, frame, len, deadline, why, whylen) < 0)
    return -1;
  uint8_t sz[4];
  if (recv_all(c, sz, 4, deadline, why, whylen) < 0)
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
  if (recv_all(c, buf, n, deadline, why, whylen) < 0) {
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

int ck_target_tls(const ck_target *t) {
  return t->protocol == SEC_SSL || t->protocol == SEC_SASL_SSL;
}

int ck_target_sasl(const ck_target *t) {
  return t->protocol == SEC_SASL_PLAINTEXT || t->protocol == SEC_SASL_SSL;
}

int ck_cert_principal(const char *path, char *out, size_t outlen, char *why,
                      size_t whylen) {
  char err[256], subject[512];
  ERR_clear_error();
  BIO *b = BIO_new_file(path, "r");
  X509 *x = b ? PEM_read_bio_X509(b, NULL, net_tls_password_cb, NULL) : NULL;
  BIO_free(b);
  if (!x) {
    snprintf(why, whylen, "%s: no certificate could be read (%s)", path,
             net_tls_error(err, sizeof err));
    return -1;
  }
  int rc = net_tls_cert_subject(x, subject, sizeof subject);
  X509_free(x);
  if (rc < 0) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  snprintf(out, outlen, "User:%s", subject);
  return 0;
}

static int is_ip(const char *host) {
  unsigned char a[16];
  return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The client context from t's files; NULL with why naming the file. */
static SSL_CTX *tls_ctx(const ck_target *t, char *why, size_t whylen) {
  char err[256];
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(why, whylen, "cannot create a TLS context: %s",
             net_tls_error(err, sizeof err));
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx, net_tls_password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(
      ctx, t->ssl_key_password[0] ? (void *)t->ssl_key_password : NULL);
  if (t->pin) {
    /* The peer's certificate is compared with the pin after the
     * handshake, before a byte of Kafka is sent; its chain and names do not
     * matter then. OpenSSL still checks that the peer holds its key. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (t->ssl_ca[0] ? SSL_CTX_load_verify_locations(ctx, t->ssl_ca, NULL) != 1
                     : SSL_CTX_set_default_verify_paths(ctx) != 1) {
      snprintf(why, whylen, "CA file %s: %s",
               t->ssl_ca[0] ? t->ssl_ca : "(the system's)",
               net_tls_error(err, sizeof err));
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  if (t->ssl_cert[0]) {
    const char *key = t->ssl_key[0] ? t->ssl_key : t->ssl_cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, t->ssl_cert) != 1) {
      snprintf(why, whylen, "client certificate %s: %s", t->ssl_cert,
               net_tls_error(err, sizeof err));
      SSL_CTX_free(ctx);
      return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      snprintf(why, whylen, "client key %s: %s", key,
               net_tls_error(err, sizeof err));
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  return ctx;
}

int ck_tls_check(const ck_target *t, char *why, size_t whylen) {
  if (!ck_target_tls(t))
    return 0;
  SSL_CTX *ctx = tls_ctx(t, why, whylen);
  SSL_CTX_free(ctx);
  return ctx ? 0 : -1;
}

/* The TLS handshake on c's connected socket, and the checks of the
 * broker's certificate (ck_target). 0, or -1 with why. */
static int tls_connect(ck_conn *c, const ck_target *t, char *why,
                       size_t whylen) {
  char err[512];
  SSL_CTX *ctx = tls_ctx(t, err, sizeof err);
  if (ctx) {
    c->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    if (!c->ssl)
      snprintf(err, sizeof err, "out of memory");
  }
  if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
    snprintf(why, whylen, "listener %s (%s:%d): %s", t->listener, t->host,
             t->port, c->ssl ? "cannot set up TLS" : err);
    return -1;
  }
  int ip = is_ip(t->host);
  /* SNI takes names only (RFC 6066). */
  if (!ip)
    SSL_set_tlsext_host_name(c->ssl, t->host);
  if (!t->pin && !t->ssl_no_host_check) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->host)
                : X509_VERIFY_PARAM_set1_host(vp, t->host, 0);
    if (ok != 1) {
      snprintf(why, whylen, "listener %s (%s:%d): cannot check that name",
               t->listener, t->host, t->port);
      return -1;
    }
  }
  int64_t deadline = mono_ms() + CK_TIMEOUT_MS;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_connect(c->ssl);
    if (rc == 1)
      break;
    int e = SSL_get_error(c->ssl, rc);
    long v = SSL_get_verify_result(c->ssl);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (tls_wait(c, rc, deadline, err, sizeof err) == 0)
        continue;
      snprintf(err, sizeof err, "handshake timed out after %d ms",
               CK_TIMEOUT_MS);
    } else if (v != X509_V_OK) {
      snprintf(err, sizeof err, "certificate verify failed: %s",
               X509_verify_cert_error_string(v));
    } else {
      tls_wait(c, rc, deadline, err, sizeof err);
    }
    snprintf(why, whylen, "TLS handshake with listener %s (%s:%d) failed: %s",
             t->listener, t->host, t->port, err);
    return -1;
  }
  if (t->pin) {
    unsigned char want[32], got[32];
    unsigned n = 0;
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (t->pin(t->pin_arg, want) != 0 || !peer ||
        X509_digest(peer, EVP_sha256(), got, &n) != 1 || n != sizeof got ||
        CRYPTO_memcmp(want, got, sizeof got) != 0) {
      snprintf(why, whylen,
               "TLS handshake with listener %s (%s:%d): the certificate "
               "served there is not the one the listener is configured "
               "with, so it is not this broker",
               t->listener, t->host, t->port);
      return -1;
    }
  }
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
  if (ck_target_tls(t) && tls_connect(c, t, why, whylen) < 0) {
    ck_close(c);
    return -1;
  }
  /* Kafka's principal on SSL is the client certificate's (with its
   * DEFAULT mapping rule; a broker with other rules may name it otherwise,
   * which only this label would miss). */
  if (t->protocol == SEC_SSL && t->ssl_cert[0]) {
    char w[256];
    if (ck_cert_principal(t->ssl_cert, c->principal, sizeof c->principal, w,
                          sizeof w) < 0)
      snprintf(c->principal, sizeof c->principal, "User:ANONYMOUS");
  }
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
  if (c->ssl) {
    /* close_notify, if the socket takes it now; a dead peer is no error
     * here (SIGPIPE is ignored by both commands that run the console). */
    if (SSL_is_init_finished(c->ssl))
      SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    ERR_clear_error();
  }
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}
