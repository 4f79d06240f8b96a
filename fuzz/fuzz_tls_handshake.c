/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tls_handshake.c — a TLS listener's server side (tls.c's context,
 * as net.c drives it) fed arbitrary client bytes: truncated and malformed
 * ClientHellos, garbage records, a handshake cut anywhere.
 *
 * At start the harness makes a test certificate with OpenSSL's API (an EC
 * key, self-signed), writes it to its scratch directory as a PEM keystore
 * (key + certificate) and truststore, and builds two contexts with
 * net_tls_new from Kafka properties: one with ssl.client.auth=none, one
 * with required (so client-certificate parsing and verification are
 * reached too).
 *
 * Input: a flags byte (bit 0: the mTLS context; bits 1-7: where to cut
 * the rest in two, in 1/128ths), then the client's bytes. The server SSL
 * (net_tls_accept, its socket BIO swapped for memory BIOs) gets the first
 * part, runs a handshake step, gets the second, runs steps until it stops
 * progressing; a finished handshake is read from (SSL_read) and asked for
 * its peer subject as net.c does.
 *
 * Checked: no crash, no leak, no sanitizer report; a step that fails
 * leaves an error OpenSSL can name or a reason net_tls_error gives; the
 * server never writes more than a bounded amount in reply to a short input.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "logline.h"
#include "security.h"
#include "tls.h"

static net_tls *ctx_plain, *ctx_mtls;
static broker_props *props_plain, *props_mtls;

/* A self-signed EC certificate for CN=localhost, written as key + cert
 * (the keystore) and cert alone (the truststore). */
static void make_cert(const char *keystore, const char *truststore) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  FUZZ_CHECK(key != NULL);
  X509 *x = X509_new();
  FUZZ_CHECK(x != NULL);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                             (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_set_pubkey(x, key);
  FUZZ_CHECK(X509_sign(x, key, EVP_sha256()) > 0);
  BIO *b = BIO_new_file(keystore, "w");
  FUZZ_CHECK(b != NULL);
  FUZZ_CHECK(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL));
  FUZZ_CHECK(PEM_write_bio_X509(b, x));
  BIO_free(b);
  b = BIO_new_file(truststore, "w");
  FUZZ_CHECK(b != NULL);
  FUZZ_CHECK(PEM_write_bio_X509(b, x));
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
}

static net_tls *make_ctx(broker_props **props, const char *ks, const char *ts,
                         const char *auth) {
  *props = broker_props_new();
  FUZZ_CHECK(*props != NULL);
  FUZZ_CHECK(broker_props_set(*props, "ssl.keystore.type", "PEM") == 0);
  FUZZ_CHECK(broker_props_set(*props, "ssl.keystore.location", ks) == 0);
  FUZZ_CHECK(broker_props_set(*props, "ssl.truststore.location", ts) == 0);
  FUZZ_CHECK(broker_props_set(*props, "ssl.client.auth", auth) == 0);
  net_tls *t = NULL;
  char why[512];
  if (net_tls_new(*props, "SSL", &t, why, sizeof why) != 0) {
    fprintf(stderr, "net_tls_new: %s\n", why);
    FUZZ_CHECK(0);
  }
  return t;
}

static void teardown(void) {
  net_tls_free(ctx_plain);
  net_tls_free(ctx_mtls);
  broker_props_free(props_plain);
  broker_props_free(props_mtls);
}

static void setup(void) {
  if (ctx_plain)
    return;
  blog_setup(BLOG_ERROR, 0); /* the contexts' start lines are noise here */
  const char *dir = fuzz_scratch_dir("tls");
  char ks[4096], ts[4096];
  snprintf(ks, sizeof ks, "%s/keystore.pem", dir);
  snprintf(ts, sizeof ts, "%s/truststore.pem", dir);
  make_cert(ks, ts);
  ctx_plain = make_ctx(&props_plain, ks, ts, "none");
  ctx_mtls = make_ctx(&props_mtls, ks, ts, "required");
  atexit(teardown);
}

/* OpenSSL is not instrumented for coverage, so libFuzzer would see every
 * input take the same path through this harness and keep none of the
 * ones that get further into the handshake. One branch per handshake
 * state reached and per error reason (bucketed) gives it that signal. */
static volatile unsigned sink;
#define B(n)                                                                   \
  if (v == (n))                                                                \
    sink += (n) + 1u;
#define B8(n)                                                                  \
  B(n) B(n + 1) B(n + 2) B(n + 3) B(n + 4) B(n + 5) B(n + 6) B(n + 7)
/* Not optimised: folded into one branch it would give no signal. */
#ifdef __clang__
__attribute__((optnone))
#endif
static void
feature(unsigned v) {
  B8(0) B8(8) B8(16) B8(24) B8(32) B8(40) B8(48) B8(56)
}
#undef B8
#undef B

/* Handshake steps until one neither finishes nor makes progress; 1 when
 * the handshake is done, 0 when it waits for bytes, -1 on failure. */
static int steps(SSL *ssl) {
  for (int i = 0; i < 8; i++) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
      return 1;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
      return 0;
    feature((unsigned)SSL_get_state(ssl) % 64);
    if (e != SSL_ERROR_WANT_WRITE) {
      feature((unsigned)ERR_GET_REASON(ERR_peek_last_error()) % 64);
      char err[256];
      net_tls_error(err, sizeof err); /* what net.c logs */
      fuzz_touch(err, strlen(err));
      return -1;
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  data++;
  size--;
  net_tls *t = (flags & 1) ? ctx_mtls : ctx_plain;
  size_t cut = size * (size_t)(flags >> 1) / 128;

  /* As net.c gets it, on a socket; then memory BIOs in the socket's place
   * (SSL_set_bio frees the socket BIO, which never touched fd -1). */
  SSL *ssl = net_tls_accept(t, -1);
  FUZZ_CHECK(ssl != NULL);
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  FUZZ_CHECK(rb && wb);
  SSL_set_bio(ssl, rb, wb);

  if (cut)
    FUZZ_CHECK(BIO_write(rb, data, (int)cut) == (int)cut);
  int st = steps(ssl);
  if (st == 0 && size > cut) {
    FUZZ_CHECK(BIO_write(rb, data + cut, (int)(size - cut)) ==
               (int)(size - cut));
    st = steps(ssl);
  }
  if (st == 1) {
    uint8_t buf[4096];
    ERR_clear_error();
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0)
      fuzz_touch(buf, (size_t)n);
    char subj[512];
    if (net_tls_peer_subject(ssl, subj, sizeof subj) == 0)
      FUZZ_CHECK(strlen(subj) < sizeof subj);
    (void)net_tls_ktls_send(ssl);
  }
  /* A server's first flight (ServerHello .. Finished with one small
   * certificate) is a few KB; a short input must not make it say much
   * more (an amplification would show here). */
  size_t out = BIO_ctrl_pending(wb);
  FUZZ_CHECK(out < 16384 + size);
  ERR_clear_error();
  SSL_free(ssl);
  return 0;
}
