/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_console_tls.c — the console's TLS client (broker/console_kafka.c)
 * against an in-process TLS server, no broker: what ck_open accepts and
 * refuses before any Kafka byte is sent.
 *
 * Two self-signed certificates, A (served) and B, neither naming
 * 127.0.0.1. With a pin (the local console's way, serve.c): A's
 * fingerprint connects; B's, or a pin that has none, is refused as "not
 * the one the listener is configured with". Without a pin: a CA file of B
 * is "certificate verify failed: self-signed certificate"; A as the CA
 * passes the chain but not the name ("IP address mismatch"), and passes
 * with the host check off (Kafka's empty
 * ssl.endpoint.identification.algorithm). ck_tls_check names a CA file
 * that does not exist. compat/test_console_tls.py has the real brokers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"
#include "test.h"

typedef struct server {
  int lfd, port, conns;
  SSL_CTX *ctx;
  pthread_t thread;
} server;

/* A self-signed EC certificate for CN=cn (no subjectAltName); NULL on
 * failure. *key gets its key. */
static X509 *make_cert(const char *cn, EVP_PKEY **key) {
  *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!*key || !x)
    return NULL;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                             -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_set_pubkey(x, *key);
  if (X509_sign(x, *key, EVP_sha256()) == 0) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* Serves s->conns connections one after another: the handshake, then
 * reads until the client goes. A failed handshake is the client's
 * refusal, which is what some cases expect. */
static void *serve(void *arg) {
  server *s = arg;
  for (int i = 0; i < s->conns; i++) {
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      break;
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      char buf[256];
      while (SSL_read(ssl, buf, sizeof buf) > 0)
        ;
    }
    SSL_free(ssl);
    close(fd);
  }
  return NULL;
}

static int server_start(server *s, X509 *cert, EVP_PKEY *key, int conns) {
  memset(s, 0, sizeof *s);
  s->conns = conns;
  s->ctx = SSL_CTX_new(TLS_server_method());
  if (!s->ctx || SSL_CTX_use_certificate(s->ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey(s->ctx, key) != 1)
    return -1;
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(s->lfd, 8) != 0 ||
      getsockname(s->lfd, (struct sockaddr *)&a, &l) != 0)
    return -1;
  s->port = ntohs(a.sin_port);
  return pthread_create(&s->thread, NULL, serve, s) == 0 ? 0 : -1;
}

static void server_stop(server *s) {
  pthread_join(s->thread, NULL);
  close(s->lfd);
  SSL_CTX_free(s->ctx);
}

static unsigned char pin_want[32];

static int pin_fixed(void *arg, unsigned char out[32]) {
  (void)arg;
  memcpy(out, pin_want, sizeof pin_want);
  return 0;
}

static int pin_none(void *arg, unsigned char out[32]) {
  (void)arg;
  (void)out;
  return -1;
}

static void target_for(ck_target *t, int port) {
  memset(t, 0, sizeof *t);
  t->found = 1;
  t->protocol = SEC_SSL;
  t->port = port;
  snprintf(t->host, sizeof t->host, "127.0.0.1");
  snprintf(t->listener, sizeof t->listener, "SSL");
}

/* ck_open on t: its result, why in why[]. */
static int try_open(const ck_target *t, char *why, size_t whylen) {
  ck_conn *c = NULL;
  why[0] = 0;
  int rc = ck_open(t, NULL, NULL, NULL, &c, why, whylen);
  if (rc == 0 && strcmp(ck_principal(c), "User:ANONYMOUS") != 0)
    rc = -3;
  ck_close(c);
  return rc;
}

static int write_pem(const char *path, X509 *x) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  int ok = PEM_write_X509(f, x);
  return fclose(f) == 0 && ok ? 0 : -1;
}

static void test_pin_and_verify(void) {
  EVP_PKEY *ka = NULL, *kb = NULL;
  X509 *a = make_cert("broker-a", &ka), *b = make_cert("broker-b", &kb);
  char *dir = tmpdir_make("console-tls");
  char ca_a[PATH_MAX], ca_b[PATH_MAX], why[512];
  server s;
  CHECK(a && b && dir);
  snprintf(ca_a, sizeof ca_a, "%s/a.pem", dir);
  snprintf(ca_b, sizeof ca_b, "%s/b.pem", dir);
  CHECK(write_pem(ca_a, a) == 0 && write_pem(ca_b, b) == 0);
  /* One connection for each try_open below. */
  CHECK(server_start(&s, a, ka, 8) == 0);
  ck_target t;
  unsigned n = 0;

  /* Pinned to what is served: in, whatever the certificate names. */
  target_for(&t, s.port);
  t.pin = pin_fixed;
  CHECK(X509_digest(a, EVP_sha256(), pin_want, &n) == 1);
  CHECK(try_open(&t, why, sizeof why) == 0);

  /* Pinned to another certificate, or to none. */
  CHECK(X509_digest(b, EVP_sha256(), pin_want, &n) == 1);
  CHECK(try_open(&t, why, sizeof why) == -1);
  CHECK(strstr(why, "not the one the listener is configured with"));
  t.pin = pin_none;
  CHECK(try_open(&t, why, sizeof why) == -1);
  CHECK(strstr(why, "not the one the listener is configured with"));

  /* Verified: an untrusted self-signed certificate. */
  target_for(&t, s.port);
  snprintf(t.ssl_ca, sizeof t.ssl_ca, "%s", ca_b);
  CHECK(try_open(&t, why, sizeof why) == -1);
  CHECK(strstr(why, "TLS handshake with listener SSL (127.0.0.1:"));
  CHECK(strstr(why, "certificate verify failed: self-signed certificate"));

  /* Trusted, but it does not name 127.0.0.1; then without the check. */
  snprintf(t.ssl_ca, sizeof t.ssl_ca, "%s", ca_a);
  CHECK(try_open(&t, why, sizeof why) == -1);
  CHECK(strstr(why, "certificate verify failed: IP address mismatch"));
  t.ssl_no_host_check = 1;
  CHECK(try_open(&t, why, sizeof why) == 0);

  /* The files are read before any connection. */
  snprintf(t.ssl_ca, sizeof t.ssl_ca, "%s/missing.pem", dir);
  CHECK(ck_tls_check(&t, why, sizeof why) == -1);
  CHECK(strstr(why, "missing.pem"));
  CHECK(try_open(&t, why, sizeof why) == -1);
  CHECK(strstr(why, "missing.pem"));
  snprintf(t.ssl_ca, sizeof t.ssl_ca, "%s", ca_a);
  CHECK(ck_tls_check(&t, why, sizeof why) == 0);
  CHECK(try_open(&t, why, sizeof why) == 0);

  server_stop(&s);
  X509_free(a);
  X509_free(b);
  EVP_PKEY_free(ka);
  EVP_PKEY_free(kb);
  tmpdir_remove(dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_pin_and_verify);
  TEST_MAIN_END();
}
