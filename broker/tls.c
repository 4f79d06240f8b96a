/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.c — a TLS listener's context (tls.h) with OpenSSL 3.
 *
 * Properties are Kafka's, each looked up first as
 * listener.name.<listener>.<name> (listener name in lower case), then as
 * <name>, as Kafka's per-listener overrides work. Only PEM stores: a
 * keystore is one file with the private key and the certificate chain
 * (or the inline ssl.keystore.key + ssl.keystore.certificate.chain), a
 * truststore one file of CA certificates (or inline
 * ssl.truststore.certificates). Protocols older than TLS 1.2 are refused
 * at start even if named, since they have known attacks.
 *
 * Reload: the keystore and truststore files' identity (inode, size,
 * mtime to the nanosecond) is remembered when loaded and compared on
 * every accepted connection — two stat() calls, cheap next to a TLS
 * handshake. A change loads a new SSL_CTX; connections accepted from then
 * on use it, those open keep the old one (each SSL holds a reference to
 * its context). Chosen over SIGHUP because it needs no step from the
 * operator or the tool that renews certificates (certbot, cert-manager
 * replace the files), and over a timer because it costs nothing while no
 * one connects and takes effect at the very next connection. A file that
 * fails to load (half written, wrong password) keeps the old context and
 * is reported once per change.
 */
#include "tls.h"

#include "logline.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

typedef struct file_id {
  int present;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} file_id;

struct net_tls {
  char listener[64];         /* lower case, as in listener.name.<l>.* */
  char name[64];             /* as configured, for log lines */
  const broker_props *props; /* the broker's, read-only while serving */
  SSL_CTX *ctx;
  /* The files the context came from, and their identity when loaded. */
  char *keystore, *truststore;
  file_id key_id, trust_id;
  /* The identities of the last failed reload, so it is reported once. */
  file_id bad_key_id, bad_trust_id;
  /* The served certificate's SHA-256, for net_tls_fingerprint: written
   * by the loop thread at each load, read by the console thread. */
  pthread_mutex_t fp_mu;
  unsigned char fp[32];
  int has_fp;
};

const char *net_tls_error(char *buf, size_t buflen) {
  unsigned long e, last = 0;
  while ((e = ERR_get_error()) != 0)
    last = e; /* the innermost cause is usually first; the last says most */
  if (!last) {
    snprintf(buf, buflen, "%s", "");
    return buf;
  }
  const char *r = ERR_reason_error_string(last);
  if (r)
    snprintf(buf, buflen, "%s", r);
  else
    ERR_error_string_n(last, buf, buflen);
  return buf;
}

/* listener.name.<l>.<name>, else <name>. */
const char *net_tls_prop(const broker_props *props, const char *listener,
                         const char *name) {
  return broker_props_listener(props, listener, name);
}

static const char *prop(const net_tls *t, const char *name) {
  return net_tls_prop(t->props, t->listener, name);
}

/* The property's name as the user should look for it, for errors. */
static const char *prop_name(const net_tls *t, const char *name, char *buf,
                             size_t buflen) {
  char key[256];
  snprintf(key, sizeof key, "listener.name.%s.%s", t->listener, name);
  snprintf(buf, buflen, "%s", broker_props_get(t->props, key) ? key : name);
  return buf;
}

static int set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_why(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

static int is_blank(const char *s) {
  while (s && *s && isspace((unsigned char)*s))
    s++;
  return !s || !*s;
}

static void file_stat(const char *path, file_id *id) {
  struct stat st;
  memset(id, 0, sizeof *id);
  if (!path || stat(path, &st) != 0)
    return;
  id->present = 1;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  id->size = st.st_size;
  id->mtime = st.st_mtim;
}

static int file_same(const file_id *a, const file_id *b) {
  return a->present == b->present && a->dev == b->dev && a->ino == b->ino &&
         a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
         a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The PEM text of a store: the file at location, or the inline value. */
static BIO *store_bio(const char *location, const char *inline_pem) {
  if (location)
    return BIO_new_file(location, "r");
  return BIO_new_mem_buf(inline_pem, -1);
}

/* Never let OpenSSL prompt on a terminal for a passphrase: without
 * ssl.key.password an encrypted key simply fails to load. */
int net_tls_password_cb(char *buf, int size, int rwflag, void *u) {
  (void)rwflag;
  const char *pw = u;
  if (!pw)
    return 0;
  int n = (int)strlen(pw);
  if (n > size)
    n = size;
  memcpy(buf, pw, (size_t)n);
  return n;
}

/* Key and chain from the keystore into ctx. */
static int load_keystore(net_tls *t, SSL_CTX *ctx, char *why, size_t whylen) {
  char pn[256], err[256];
  const char *type = prop(t, "ssl.keystore.type");
  if (type && strcasecmp(type, "PEM") != 0)
    return set_why(why, whylen,
                   "%s=%s is not supported: only PEM keystores (key and "
                   "certificate chain in one PEM file)",
                   prop_name(t, "ssl.keystore.type", pn, sizeof pn), type);
  const char *loc = prop(t, "ssl.keystore.location");
  const char *ikey = prop(t, "ssl.keystore.key");
  const char *ichain = prop(t, "ssl.keystore.certificate.chain");
  const char *pw = prop(t, "ssl.key.password");
  if (is_blank(loc))
    loc = NULL;
  if (!loc && (is_blank(ikey) || is_blank(ichain)))
    return set_why(why, whylen,
                   "listener %s is SSL but has no certificate: set "
                   "ssl.keystore.location (a PEM file with the private key "
                   "and certificate chain) or ssl.keystore.key and "
                   "ssl.keystore.certificate.chain",
                   t->name);
  char what[PATH_MAX + 64];
  if (loc)
    snprintf(what, sizeof what, "%s=%s",
             prop_name(t, "ssl.keystore.location", pn, sizeof pn), loc);
  else
    snprintf(what, sizeof what, "%s",
             prop_name(t, "ssl.keystore.key", pn, sizeof pn));
  ERR_clear_error();
  BIO *b = store_bio(loc, ikey);
  if (!b)
    return set_why(why, whylen, "%s: cannot read: %s", what,
                   errno ? strerror(errno) : net_tls_error(err, sizeof err));
  EVP_PKEY *pkey =
      PEM_read_bio_PrivateKey(b, NULL, net_tls_password_cb, (void *)pw);
  BIO_free(b);
  if (!pkey)
    return set_why(why, whylen, "%s: no private key could be read (%s%s)", what,
                   net_tls_error(err, sizeof err),
                   pw ? "; is ssl.key.password right?"
                      : "; an encrypted key needs ssl.key.password");
  if (!loc)
    snprintf(what, sizeof what, "%s",
             prop_name(t, "ssl.keystore.certificate.chain", pn, sizeof pn));
  b = store_bio(loc, ichain);
  X509 *cert = b ? PEM_read_bio_X509(b, NULL, net_tls_password_cb, NULL) : NULL;
  STACK_OF(X509) *chain = sk_X509_new_null();
  X509 *x;
  while (cert && chain && b &&
         (x = PEM_read_bio_X509(b, NULL, net_tls_password_cb, NULL)) != NULL)
    if (!sk_X509_push(chain, x))
      X509_free(x);
  ERR_clear_error(); /* the end of the file reads as "no start line" */
  BIO_free(b);
  int rc = 0;
  if (!cert) {
    rc = set_why(why, whylen, "%s: no certificate in it", what);
  } else if (!chain) {
    rc = set_why(why, whylen, "out of memory");
  } else if (SSL_CTX_use_cert_and_key(ctx, cert, pkey, chain, 1) != 1 ||
             SSL_CTX_check_private_key(ctx) != 1) {
    rc = set_why(why, whylen,
                 "%s: the private key does not go with the certificate (%s)",
                 what, net_tls_error(err, sizeof err));
  }
  X509_free(cert);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(pkey);
  return rc;
}

/* CA certificates that client certificates are verified against. */
static int load_truststore(net_tls *t, SSL_CTX *ctx, char *why, size_t whylen) {
  char pn[256], err[256];
  const char *type = prop(t, "ssl.truststore.type");
  if (type && strcasecmp(type, "PEM") != 0)
    return set_why(why, whylen, "%s=%s is not supported: only PEM truststores",
                   prop_name(t, "ssl.truststore.type", pn, sizeof pn), type);
  const char *loc = prop(t, "ssl.truststore.location");
  const char *inl = prop(t, "ssl.truststore.certificates");
  if (is_blank(loc))
    loc = NULL;
  if (!loc && is_blank(inl)) {
    /* As Kafka falls back to the JVM's default trust store. */
    SSL_CTX_set_default_verify_paths(ctx);
    return 0;
  }
  char what[PATH_MAX + 64];
  if (loc)
    snprintf(what, sizeof what, "%s=%s",
             prop_name(t, "ssl.truststore.location", pn, sizeof pn), loc);
  else
    snprintf(what, sizeof what, "%s",
             prop_name(t, "ssl.truststore.certificates", pn, sizeof pn));
  ERR_clear_error();
  BIO *b = store_bio(loc, inl);
  if (!b)
    return set_why(why, whylen, "%s: cannot read: %s", what,
                   errno ? strerror(errno) : net_tls_error(err, sizeof err));
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
  int n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(b, NULL, net_tls_password_cb, NULL)) != NULL) {
    X509_STORE_add_cert(store, x);
    /* Told to clients in the CertificateRequest, so one with several
     * certificates picks one this listener trusts. */
    X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
    if (names && nm && sk_X509_NAME_push(names, nm))
      nm = NULL;
    X509_NAME_free(nm);
    X509_free(x);
    n++;
  }
  ERR_clear_error();
  BIO_free(b);
  if (!n) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    return set_why(why, whylen, "%s: no certificate in it", what);
  }
  if (names)
    SSL_CTX_set_client_CA_list(ctx, names);
  return 0;
}

/* TLSv1.2 and/or TLSv1.3 from ssl.enabled.protocols. */
static int set_protocols(net_tls *t, SSL_CTX *ctx, int *v13, char *why,
                         size_t whylen) {
  char pn[256];
  const char *v = prop(t, "ssl.enabled.protocols");
  if (is_blank(v))
    v = "TLSv1.2,TLSv1.3";
  int has12 = 0, has13 = 0;
  char *copy = strdup(v), *save = NULL;
  if (!copy)
    return set_why(why, whylen, "out of memory");
  int rc = 0;
  for (char *tok = strtok_r(copy, ", \t", &save); tok && !rc;
       tok = strtok_r(NULL, ", \t", &save)) {
    if (strcmp(tok, "TLSv1.2") == 0)
      has12 = 1;
    else if (strcmp(tok, "TLSv1.3") == 0)
      has13 = 1;
    else if (strcmp(tok, "TLSv1") == 0 || strcmp(tok, "TLSv1.1") == 0 ||
             strncmp(tok, "SSL", 3) == 0)
      rc = set_why(why, whylen,
                   "%s: %s is not allowed: protocols older than TLSv1.2 "
                   "have known attacks",
                   prop_name(t, "ssl.enabled.protocols", pn, sizeof pn), tok);
    else
      rc = set_why(why, whylen, "%s: unknown protocol '%s' (TLSv1.2, TLSv1.3)",
                   prop_name(t, "ssl.enabled.protocols", pn, sizeof pn), tok);
  }
  free(copy);
  if (rc)
    return rc;
  if (!has12 && !has13)
    return set_why(why, whylen, "%s is empty",
                   prop_name(t, "ssl.enabled.protocols", pn, sizeof pn));
  SSL_CTX_set_min_proto_version(ctx, has12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, has13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  *v13 = has13;
  return 0;
}

/* ssl.cipher.suites: Kafka names suites the IANA way (Java's names:
 * TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256); OpenSSL
 * has its own names for TLS 1.2 ones, which are accepted too. */
static int set_ciphers(net_tls *t, SSL_CTX *ctx, char *why, size_t whylen) {
  char pn[256], err[256];
  const char *v = prop(t, "ssl.cipher.suites");
  if (is_blank(v))
    return 0;
  size_t cap = strlen(v) * 2 + 64;
  char *l12 = calloc(1, cap), *l13 = calloc(1, cap), *copy = strdup(v);
  int rc = 0;
  if (!l12 || !l13 || !copy) {
    rc = set_why(why, whylen, "out of memory");
    goto out;
  }
  char *save = NULL;
  for (char *tok = strtok_r(copy, ", \t", &save); tok;
       tok = strtok_r(NULL, ", \t", &save)) {
    int tls13 = strncmp(tok, "TLS_AES_", 8) == 0 ||
                strncmp(tok, "TLS_CHACHA20_", 13) == 0;
    const char *name = tok;
    if (!tls13) {
      const char *o = OPENSSL_cipher_name(tok);
      if (o && strcmp(o, "(NONE)") != 0)
        name = o;
    }
    char *dst = tls13 ? l13 : l12;
    if (*dst)
      strcat(dst, ":");
    strcat(dst, name);
  }
  ERR_clear_error();
  if (SSL_CTX_set_ciphersuites(ctx, l13) != 1) {
    rc = set_why(why, whylen, "%s: no usable TLSv1.3 suite in '%s' (%s)",
                 prop_name(t, "ssl.cipher.suites", pn, sizeof pn), l13,
                 net_tls_error(err, sizeof err));
  } else if (*l12) {
    if (SSL_CTX_set_cipher_list(ctx, l12) != 1)
      rc = set_why(why, whylen, "%s: no usable TLSv1.2 suite in '%s' (%s)",
                   prop_name(t, "ssl.cipher.suites", pn, sizeof pn), l12,
                   net_tls_error(err, sizeof err));
  } else {
    /* Only TLS 1.3 suites named: TLS 1.2 would have none. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  }
  if (!rc && !*l13 && SSL_CTX_get_max_proto_version(ctx) != TLS1_2_VERSION)
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
out:
  free(l12);
  free(l13);
  free(copy);
  return rc;
}

static SSL_CTX *ctx_build(net_tls *t, char *why, size_t whylen) {
  char pn[256];
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    set_why(why, whylen, "cannot create a TLS context: out of memory");
    return NULL;
  }
  /* Partial writes and a moving buffer: net.c retries a write from its
   * reply queue, whose pointer may differ (a gathered copy) but whose
   * bytes are the same. Buffers are released while idle so a thousand
   * idle TLS connections cost little. kTLS is asked for: OpenSSL turns it
   * on per connection when the kernel and cipher allow it. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx,
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                          SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_ENABLE_KTLS);
  static const unsigned char sid[] = "nodata";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  int v13 = 1;
  if (set_protocols(t, ctx, &v13, why, whylen) < 0 ||
      set_ciphers(t, ctx, why, whylen) < 0 ||
      load_keystore(t, ctx, why, whylen) < 0)
    goto fail;
  const char *auth = prop(t, "ssl.client.auth");
  int mode = SSL_VERIFY_NONE;
  if (is_blank(auth) || strcasecmp(auth, "none") == 0)
    mode = SSL_VERIFY_NONE;
  else if (strcasecmp(auth, "requested") == 0)
    mode = SSL_VERIFY_PEER;
  else if (strcasecmp(auth, "required") == 0)
    mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  else {
    set_why(why, whylen,
            "Invalid value %s for configuration %s: String must be one of: "
            "required, requested, none",
            auth, prop_name(t, "ssl.client.auth", pn, sizeof pn));
    goto fail;
  }
  if (mode != SSL_VERIFY_NONE && load_truststore(t, ctx, why, whylen) < 0)
    goto fail;
  SSL_CTX_set_verify(ctx, mode, NULL);
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

static char *dup_or_null(const char *s) {
  return is_blank(s) ? NULL : strdup(s);
}

/* The context from the properties and files as they are now. */
static int tls_load(net_tls *t, char *why, size_t whylen) {
  char *ks = dup_or_null(prop(t, "ssl.keystore.location"));
  const char *auth = prop(t, "ssl.client.auth");
  char *ts = !is_blank(auth) && strcasecmp(auth, "none") != 0
                 ? dup_or_null(prop(t, "ssl.truststore.location"))
                 : NULL;
  file_id kid, tid;
  /* Stat before reading: a change while reading is then seen next time. */
  file_stat(ks, &kid);
  file_stat(ts, &tid);
  SSL_CTX *ctx = ctx_build(t, why, whylen);
  if (!ctx) {
    free(ks);
    free(ts);
    t->bad_key_id = kid;
    t->bad_trust_id = tid;
    return -1;
  }
  SSL_CTX_free(t->ctx); /* open connections hold their own reference */
  t->ctx = ctx;
  unsigned char fp[32];
  unsigned n = 0;
  X509 *x = SSL_CTX_get0_certificate(ctx);
  int ok = x && X509_digest(x, EVP_sha256(), fp, &n) == 1 && n == sizeof fp;
  pthread_mutex_lock(&t->fp_mu);
  memcpy(t->fp, fp, sizeof fp);
  t->has_fp = ok;
  pthread_mutex_unlock(&t->fp_mu);
  free(t->keystore);
  free(t->truststore);
  t->keystore = ks;
  t->truststore = ts;
  t->key_id = kid;
  t->trust_id = tid;
  return 0;
}

/* "subject ..., serial ..., expires ..." of the context's certificate. */
static void describe_cert(SSL_CTX *ctx, char *out, size_t outlen) {
  X509 *x = SSL_CTX_get0_certificate(ctx);
  char subj[256] = "?", serial[128] = "?", until[64] = "?";
  if (x) {
    X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex)
      snprintf(serial, sizeof serial, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    BIO *m = BIO_new(BIO_s_mem());
    if (m && ASN1_TIME_print(m, X509_get0_notAfter(x))) {
      int n = BIO_read(m, until, sizeof until - 1);
      until[n > 0 ? n : 0] = 0;
    }
    BIO_free(m);
  }
  snprintf(out, outlen, "certificate %s, serial %s, valid until %s", subj,
           serial, until);
}

int net_tls_new(const broker_props *props, const char *listener, net_tls **out,
                char *why, size_t whylen) {
  *out = NULL;
  net_tls *t = calloc(1, sizeof *t);
  if (!t)
    return set_why(why, whylen, "out of memory");
  t->props = props;
  pthread_mutex_init(&t->fp_mu, NULL);
  size_t i = 0;
  for (; listener && listener[i] && i + 1 < sizeof t->listener; i++)
    t->listener[i] = (char)tolower((unsigned char)listener[i]);
  t->listener[i] = 0;
  snprintf(t->name, sizeof t->name, "%s", listener ? listener : "");
  /* Rules that cannot work stop the start, as Kafka's do. */
  if (net_tls_map_principal(prop(t, "ssl.principal.mapping.rules"), NULL, NULL,
                            0, why, whylen) < 0 ||
      tls_load(t, why, whylen) < 0) {
    net_tls_free(t);
    return -1;
  }
  char d[512];
  describe_cert(t->ctx, d, sizeof d);
  blog_info("tls", "listener %s: %s", listener ? listener : "", d);
  *out = t;
  return 0;
}

int net_tls_reload(net_tls *t, char *why, size_t whylen) {
  return tls_load(t, why, whylen);
}

/* Reload when a file changed since it was loaded (see the top). */
static void maybe_reload(net_tls *t) {
  if (!t->keystore && !t->truststore)
    return;
  file_id kid, tid;
  file_stat(t->keystore, &kid);
  file_stat(t->truststore, &tid);
  if (file_same(&kid, &t->key_id) && file_same(&tid, &t->trust_id))
    return;
  if (file_same(&kid, &t->bad_key_id) && file_same(&tid, &t->bad_trust_id))
    return; /* failed as it is now; reported already */
  char why[512];
  if (tls_load(t, why, sizeof why) < 0) {
    blog_warn("tls",
              "listener %s: keeping the certificate in use; the changed "
              "files do not load: %s",
              t->name, why);
    return;
  }
  memset(&t->bad_key_id, 0, sizeof t->bad_key_id);
  memset(&t->bad_trust_id, 0, sizeof t->bad_trust_id);
  char d[512];
  describe_cert(t->ctx, d, sizeof d);
  blog_info("tls", "listener %s: reloaded, new connections get %s", t->name, d);
}

struct ssl_st *net_tls_accept(net_tls *t, int fd) {
  maybe_reload(t);
  SSL *ssl = SSL_new(t->ctx);
  if (!ssl)
    return NULL;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return NULL;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

int net_tls_fingerprint(net_tls *t, unsigned char out[32]) {
  pthread_mutex_lock(&t->fp_mu);
  int ok = t->has_fp;
  memcpy(out, t->fp, sizeof t->fp);
  pthread_mutex_unlock(&t->fp_mu);
  return ok ? 0 : -1;
}

const char *net_tls_listener(const net_tls *t) {
  return t->name;
}

int net_tls_cert_subject(X509 *x, char *out, size_t outlen) {
  BIO *m = BIO_new(BIO_s_mem());
  if (!m)
    return -1;
  /* RFC 2253 (most specific first, comma separated, no spaces) as Java's
   * X500Principal.getName() gives it, which Kafka's default principal
   * builder uses; non-ASCII characters stay UTF-8 as Java leaves them. */
  unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  int rc = -1;
  if (X509_NAME_print_ex(m, X509_get_subject_name(x), 0, flags) >= 0) {
    int n = BIO_read(m, out, (int)outlen - 1);
    out[n > 0 ? n : 0] = 0;
    rc = 0;
  }
  BIO_free(m);
  return rc;
}

int net_tls_peer_subject(struct ssl_st *ssl, char *out, size_t outlen) {
  X509 *x = SSL_get0_peer_certificate(ssl);
  if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
    return -1;
  return net_tls_cert_subject(x, out, outlen);
}

int net_tls_ktls_send(struct ssl_st *ssl) {
  return BIO_get_ktls_send(SSL_get_wbio(ssl)) ? 1 : 0;
}

void net_tls_free(net_tls *t) {
  if (!t)
    return;
  SSL_CTX_free(t->ctx);
  free(t->keystore);
  free(t->truststore);
  pthread_mutex_destroy(&t->fp_mu);
  free(t);
}
