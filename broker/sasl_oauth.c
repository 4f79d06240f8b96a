/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl_oauth.c — OAUTHBEARER (RFC 7628) with JWT validation (RFC 7519)
 * against a JSON Web Key Set (RFC 7517) read from a file, as Kafka's
 * OAuthBearerValidatorCallbackHandler validates with
 * sasl.oauthbearer.jwks.endpoint.url.
 *
 * The client's first message is "n,[a=authzid],\x01auth=Bearer TOKEN\x01
 * [key=value\x01...]\x01". The token must be a compact JWS signed with
 * RS256 or ES256 by a key of the set ("none" and every other algorithm
 * are refused), with an exp in the future and nbf/iat not in it (each
 * within sasl.oauthbearer.clock.skew.seconds), the expected issuer and
 * one of the expected audiences when those are configured, and a
 * principal in its sub claim (sasl.oauthbearer.sub.claim.name). A refused
 * token is answered as Kafka's OAuthBearerSaslServer answers it: the
 * challenge {"status":"invalid_token"}, then, when the client
 * acknowledges it with a lone 0x01, SASL_AUTHENTICATION_FAILED with that
 * same text. Why the token was refused goes to the broker's log only.
 *
 * Unlike Kafka without a server callback handler (its unsecured validator
 * accepts unsigned tokens), nodata always checks signatures: OAUTHBEARER
 * without a key set is refused at start. Key sets are read at start from
 * file:// URLs; https:// endpoints are refused with a message (nodata
 * makes no outgoing connections).
 *
 * JSON: json.h's strict reader (RFC 8259, nesting bounded, a repeated
 * member: the first wins), the one the console uses and fuzz_json covers.
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "json.h"
#include "sasl.h"

int64_t sasl_wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- JSON --------------------------------------------------------------- */

/* v's string, or NULL when v is not one or holds a NUL: a C string
 * comparison of a claim would silently stop at it. */
static const char *cstr(const jv *v) {
  const char *s = jv_as_str(v);
  return s && strlen(s) == v->len ? s : NULL;
}

/* The member `key` of object o as a C string, or NULL. */
static const char *jstr(const jv *o, const char *key) {
  return cstr(jv_get(o, key));
}

/* A JSON text of n bytes, or NULL. Where it is malformed is not said: the
 * callers' messages name the part of the token instead. */
static jv *parse(const char *text, size_t n) {
  jv *v = NULL;
  char why[80];
  return json_parse(text, n, &v, why, sizeof why) == 0 ? v : NULL;
}

/* ---- base64url ---------------------------------------------------------- */

/* Unpadded base64url (RFC 7515's) into a malloc'ed buffer (NUL after it);
 * NULL if malformed. */
static uint8_t *b64url(const char *s, size_t n, size_t *outlen) {
  if (n % 4 == 1 || n > (1u << 20))
    return NULL;
  size_t padded = (n + 3) / 4 * 4;
  char *t = malloc(padded + 1);
  uint8_t *out = malloc(padded / 4 * 3 + 1);
  if (!t || !out)
    goto bad;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      goto bad;
    t[i] = c;
  }
  for (size_t i = n; i < padded; i++)
    t[i] = '=';
  long l = scram_b64_dec(t, padded, out, padded / 4 * 3);
  if (l < 0)
    goto bad;
  out[l] = 0;
  *outlen = (size_t)l;
  free(t);
  return out;
bad:
  free(t);
  free(out);
  return NULL;
}

/* ---- key sets ----------------------------------------------------------- */

typedef struct jwk {
  char *kid; /* NULL if none */
  int ec;    /* 0 RSA (RS256), 1 EC P-256 (ES256) */
  EVP_PKEY *key;
} jwk;

struct jwks {
  jwk *k;
  size_t n;
};

void jwks_free(jwks *k) {
  if (!k)
    return;
  for (size_t i = 0; i < k->n; i++) {
    free(k->k[i].kid);
    EVP_PKEY_free(k->k[i].key);
  }
  free(k->k);
  free(k);
}

static EVP_PKEY *key_from(int ec, const jv *o) {
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  EVP_PKEY *key = NULL;
  BIGNUM *n = NULL, *e = NULL;
  uint8_t *a = NULL, *b = NULL;
  /* The builder keeps a pointer to the point until to_param: it must
   * outlive that call, so it lives here, not in the EC branch. */
  uint8_t pub[65];
  size_t al = 0, bl = 0;
  const char *fa = jstr(o, ec ? "x" : "n"), *fb = jstr(o, ec ? "y" : "e");
  if (!bld || !fa || !fb || !(a = b64url(fa, strlen(fa), &al)) ||
      !(b = b64url(fb, strlen(fb), &bl)))
    goto out;
  if (ec) {
    const char *crv = jstr(o, "crv");
    if (!crv || strcmp(crv, "P-256") || al != 32 || bl != 32)
      goto out;
    pub[0] = 4; /* uncompressed point */
    memcpy(pub + 1, a, 32);
    memcpy(pub + 33, b, 32);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                          sizeof pub))
      goto out;
  } else {
    if (al < 256 || al > 1024) /* RSA of 2048 bits at least, as JOSE says */
      goto out;
    n = BN_bin2bn(a, (int)al, NULL);
    e = BN_bin2bn(b, (int)bl, NULL);
    if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
      goto out;
  }
  if (!(params = OSSL_PARAM_BLD_to_param(bld)) ||
      !(ctx = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA", NULL)) ||
      EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    key = NULL;
out:
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  free(a);
  free(b);
  return key;
}

int jwks_parse(const char *json, size_t n, jwks **out, char *why, size_t wl) {
  *out = NULL;
  jv *doc = parse(json, n);
  if (!doc) {
    snprintf(why, wl, "not a JSON document");
    return -1;
  }
  const jv *keys = jv_get(doc, "keys");
  jwks *k = calloc(1, sizeof *k);
  if (!keys || keys->type != JV_ARRAY || !k) {
    snprintf(why, wl, "no \"keys\" array (a JWKS document, RFC 7517)");
    jv_free(doc);
    free(k);
    return -1;
  }
  if (keys->n && !(k->k = calloc(keys->n, sizeof *k->k))) {
    snprintf(why, wl, "out of memory");
    jv_free(doc);
    free(k);
    return -1;
  }
  for (size_t i = 0; i < keys->n; i++) {
    const jv *o = &keys->items[i];
    const char *kty = jstr(o, "kty"), *use = jstr(o, "use");
    const char *alg = jstr(o, "alg"), *kid = jstr(o, "kid");
    /* Keys for encryption, or of other types, are not ours to use. */
    if (!kty || (use && strcmp(use, "sig")))
      continue;
    int ec = !strcmp(kty, "EC");
    if (!ec && strcmp(kty, "RSA"))
      continue;
    if (alg && strcmp(alg, ec ? "ES256" : "RS256"))
      continue;
    EVP_PKEY *key = key_from(ec, o);
    if (!key) {
      snprintf(why, wl, "key %zu%s%s%s: not a usable %s key", i,
               kid ? " (kid " : "", kid ? kid : "", kid ? ")" : "",
               ec ? "EC P-256" : "RSA (2048 bits or more)");
      jv_free(doc);
      jwks_free(k);
      return -1;
    }
    k->k[k->n].ec = ec;
    k->k[k->n].key = key;
    k->k[k->n].kid = kid ? strdup(kid) : NULL;
    k->n++;
  }
  jv_free(doc);
  if (!k->n) {
    snprintf(why, wl, "no RS256 or ES256 signing key in the set");
    jwks_free(k);
    return -1;
  }
  *out = k;
  return 0;
}

/* ---- JWT ---------------------------------------------------------------- */

static int verify_with(const jwk *k, const uint8_t *msg, size_t ml,
                       const uint8_t *sig, size_t sl) {
  uint8_t der[80];
  const uint8_t *s = sig;
  size_t dl = sl;
  if (k->ec) {
    /* JOSE's ES256 signature is R || S; OpenSSL wants DER. */
    if (sl != 64)
      return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
      ECDSA_SIG_free(es);
      BN_free(r);
      BN_free(ss);
      return 0;
    }
    uint8_t *p = der;
    int l = i2d_ECDSA_SIG(es, NULL);
    if (l <= 0 || (size_t)l > sizeof der) {
      ECDSA_SIG_free(es);
      return 0;
    }
    l = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    s = der;
    dl = (size_t)l;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx &&
           EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->key) == 1 &&
           EVP_DigestVerify(ctx, s, dl, msg, ml) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

int jwt_verify(const jwks *keys, const char *jwt, size_t n, char **payload,
               char *why, size_t wl) {
  *payload = NULL;
  const char *d1 = memchr(jwt, '.', n);
  const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(jwt + n - d1 - 1)) : NULL;
  if (!d2 || memchr(d2 + 1, '.', (size_t)(jwt + n - d2 - 1))) {
    snprintf(why, wl, "not a signed JWT (header.payload.signature)");
    return -1;
  }
  size_t hl, pl, sl;
  uint8_t *h = b64url(jwt, (size_t)(d1 - jwt), &hl);
  uint8_t *p = b64url(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
  uint8_t *sig = b64url(d2 + 1, (size_t)(jwt + n - d2 - 1), &sl);
  jv *hdr = NULL;
  int rc = -1;
  if (!h || !p || !sig || !(hdr = parse((char *)h, hl))) {
    snprintf(why, wl, "malformed JWT (base64url or header JSON)");
    goto out;
  }
  const char *alg = jstr(hdr, "alg"), *kid = jstr(hdr, "kid");
  int ec = alg && !strcmp(alg, "ES256");
  if (!alg || (!ec && strcmp(alg, "RS256"))) {
    snprintf(why, wl, "JWT algorithm %.20s is not accepted (RS256, ES256)",
             alg ? alg : "(none)");
    jv_free(hdr);
    goto out;
  }
  int found = 0, ok = 0;
  for (size_t i = 0; i < keys->n && !ok; i++) {
    const jwk *k = &keys->k[i];
    if (k->ec != ec || (kid && (!k->kid || strcmp(kid, k->kid))))
      continue;
    found = 1;
    ok = verify_with(k, (const uint8_t *)jwt, (size_t)(d2 - jwt), sig, sl);
  }
  if (!ok)
    snprintf(why, wl,
             found ? "JWT signature does not verify"
                   : "no key in the set for the JWT's kid/alg");
  jv_free(hdr);
  if (!ok)
    goto out;
  *payload = (char *)p;
  p = NULL;
  rc = 0;
out:
  free(h);
  free(p);
  free(sig);
  return rc;
}

/* ---- configuration ------------------------------------------------------ */

/* listener.name.<l>.oauthbearer.<name> (Kafka's per-mechanism form),
 * then listener.name.<l>.<name>, then <name>. */
static const char *oprop(const broker_props *props, const char *listener,
                         const char *name) {
  char key[256];
  snprintf(key, sizeof key, "oauthbearer.%s", name);
  char full[320];
  int n = snprintf(full, sizeof full, "listener.name.");
  for (size_t i = 0; listener[i] && (size_t)n + 1 < sizeof full; i++)
    full[n++] = (char)tolower((unsigned char)listener[i]);
  snprintf(full + n, sizeof full - (size_t)n, ".%s", key);
  const char *v = broker_props_get(props, full);
  return v ? v : broker_props_listener(props, listener, name);
}

static char *dup_or_null(const char *s) {
  return s && *s ? strdup(s) : NULL;
}

int sasl_oauth_configure(const broker_props *props, const char *listener,
                         sasl_oauth_config *c, char *why, size_t wl) {
  memset(c, 0, sizeof *c);
  const char *url =
      oprop(props, listener, "sasl.oauthbearer.jwks.endpoint.url");
  if (!url) {
    snprintf(why, wl,
             "OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url "
             "(file:///path/to/jwks.json): nodata validates every token's "
             "signature");
    return -1;
  }
  if (strncmp(url, "file://", 7)) {
    snprintf(why, wl,
             "sasl.oauthbearer.jwks.endpoint.url=%.200s: only file:// URLs "
             "are supported (nodata makes no outgoing connections; fetch "
             "the key set into a file)",
             url);
    return -1;
  }
  const char *path = url + 7;
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t n = 0;
  if (f) {
    buf = malloc(1 << 20);
    if (buf)
      n = fread(buf, 1, 1 << 20, f);
    fclose(f);
  }
  if (!buf) {
    snprintf(why, wl, "sasl.oauthbearer.jwks.endpoint.url: %.200s: %s", path,
             f ? "out of memory" : strerror(errno));
    return -1;
  }
  char kwhy[256];
  int rc = jwks_parse(buf, n, &c->keys, kwhy, sizeof kwhy);
  free(buf);
  if (rc < 0) {
    snprintf(why, wl, "sasl.oauthbearer.jwks.endpoint.url: %.200s: %s", path,
             kwhy);
    return -1;
  }
  c->jwks_path = strdup(path);
  const char *skew =
      oprop(props, listener, "sasl.oauthbearer.clock.skew.seconds");
  c->clock_skew_s = 30; /* Kafka's default */
  if (skew) {
    char *end;
    c->clock_skew_s = strtoll(skew, &end, 10);
    if (*end || end == skew || c->clock_skew_s < 0) {
      snprintf(why, wl,
               "sasl.oauthbearer.clock.skew.seconds: '%.40s' is not "
               "a number of seconds >= 0",
               skew);
      sasl_oauth_config_free(c);
      return -1;
    }
  }
  c->audience =
      dup_or_null(oprop(props, listener, "sasl.oauthbearer.expected.audience"));
  c->issuer =
      dup_or_null(oprop(props, listener, "sasl.oauthbearer.expected.issuer"));
  const char *sub = oprop(props, listener, "sasl.oauthbearer.sub.claim.name");
  const char *scope =
      oprop(props, listener, "sasl.oauthbearer.scope.claim.name");
  c->sub_claim = strdup(sub && *sub ? sub : "sub");
  c->scope_claim = strdup(scope && *scope ? scope : "scope");
  if (!c->jwks_path || !c->sub_claim || !c->scope_claim) {
    snprintf(why, wl, "out of memory");
    sasl_oauth_config_free(c);
    return -1;
  }
  return 0;
}

void sasl_oauth_config_free(sasl_oauth_config *c) {
  jwks_free(c->keys);
  free(c->jwks_path);
  free(c->audience);
  free(c->issuer);
  free(c->sub_claim);
  free(c->scope_claim);
  memset(c, 0, sizeof *c);
}

/* ---- the exchange ------------------------------------------------------- */

#define INVALID_TOKEN "{\"status\":\"invalid_token\"}"

/* Does the comma-separated list hold s? */
static int in_list(const char *list, const char *s) {
  size_t l = strlen(s);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    size_t t = n;
    while (t && p[t - 1] == ' ')
      t--;
    if (t == l && !memcmp(p, s, l))
      return 1;
    p += n;
  }
  return 0;
}

/* The claims' checks; 0 or -1 with why[]. */
static int check_claims(const sasl_oauth_config *c, const jv *cl, char *user,
                        size_t ul, int64_t *expiry_ms, char *why, size_t wl) {
  int64_t now_ms = sasl_wall_ms(), skew_ms = c->clock_skew_s * 1000;
  const jv *exp = jv_get(cl, "exp"), *nbf = jv_get(cl, "nbf"),
           *iat = jv_get(cl, "iat");
  /* NumericDate: seconds; bounded so that milliseconds fit an int64. */
#define DATE_OK(v)                                                             \
  ((v)->type == JV_NUMBER && (v)->number > -9e12 && (v)->number < 9e12)
  if (!exp || !DATE_OK(exp)) {
    snprintf(why, wl, "no exp claim (a date in seconds)");
    return -1;
  }
  if ((nbf && !DATE_OK(nbf)) || (iat && !DATE_OK(iat))) {
    snprintf(why, wl, "nbf or iat is not a date in seconds");
    return -1;
  }
#undef DATE_OK
  int64_t exp_ms = (int64_t)(exp->number * 1000);
  if (exp_ms + skew_ms <= now_ms) {
    snprintf(why, wl, "token expired (exp %.0f)", exp->number);
    return -1;
  }
  if (nbf && (int64_t)(nbf->number * 1000) - skew_ms > now_ms) {
    snprintf(why, wl, "token not valid yet (nbf %.0f)", nbf->number);
    return -1;
  }
  if (iat && (int64_t)(iat->number * 1000) - skew_ms > now_ms) {
    snprintf(why, wl, "token issued in the future (iat %.0f)", iat->number);
    return -1;
  }
  if (c->issuer) {
    const char *iss = jstr(cl, "iss");
    if (!iss || strcmp(iss, c->issuer)) {
      snprintf(why, wl, "issuer %.100s is not the expected %.100s",
               iss ? iss : "(none)", c->issuer);
      return -1;
    }
  }
  if (c->audience) {
    const jv *aud = jv_get(cl, "aud");
    int ok = 0;
    if (cstr(aud))
      ok = in_list(c->audience, aud->str);
    for (size_t i = 0; aud && aud->type == JV_ARRAY && i < aud->n && !ok; i++)
      ok = cstr(&aud->items[i]) && in_list(c->audience, aud->items[i].str);
    if (!ok) {
      snprintf(why, wl, "no expected audience (%.100s) in aud", c->audience);
      return -1;
    }
  }
  const char *sub = jstr(cl, c->sub_claim);
  if (!sub || !*sub || strlen(sub) >= ul) {
    snprintf(why, wl, "no usable %.40s claim for the principal", c->sub_claim);
    return -1;
  }
  const jv *scope = jv_get(cl, c->scope_claim);
  if (scope && scope->type != JV_STRING && scope->type != JV_ARRAY) {
    snprintf(why, wl, "the %.40s claim is neither a string nor a list",
             c->scope_claim);
    return -1;
  }
  snprintf(user, ul, "%s", sub);
  *expiry_ms = exp_ms;
  return 0;
}

int sasl_oauth(const sasl_oauth_config *c, const uint8_t *tok, size_t n,
               char *user, size_t ul, int64_t *expiry_ms, uint8_t **out,
               size_t *outlen, char *msg, size_t ml) {
  *out = NULL;
  *outlen = 0;
  msg[0] = 0;
  /* The client's answer to our error challenge. */
  if (n == 1 && tok[0] == 0x01) {
    snprintf(msg, ml, "%s", INVALID_TOKEN);
    return SASL_FAIL;
  }
  /* gs2 header "n," or "y,", optional "a=authzid", ",", then \x01-separated
   * key=value pairs, ending with \x01\x01. */
  const char *m = (const char *)tok, *end = m + n;
  char authzid[256] = "";
  if (n < 4 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',' || memchr(m, 0, n)) {
    snprintf(msg, ml, "Invalid OAUTHBEARER client first message");
    return SASL_FAIL;
  }
  const char *p = m + 2, *comma = memchr(p, ',', (size_t)(end - p));
  if (!comma || (comma > p && (comma - p < 2 || p[0] != 'a' || p[1] != '=' ||
                               (size_t)(comma - p - 2) >= sizeof authzid))) {
    snprintf(msg, ml, "Invalid OAUTHBEARER client first message");
    return SASL_FAIL;
  }
  if (comma > p) {
    memcpy(authzid, p + 2, (size_t)(comma - p - 2));
    authzid[comma - p - 2] = 0;
  }
  p = comma + 1;
  const char *token = NULL;
  size_t tl = 0;
  if (end - p < 2 || p[0] != 0x01 || end[-1] != 0x01 || end[-2] != 0x01) {
    snprintf(msg, ml, "Invalid OAUTHBEARER client first message");
    return SASL_FAIL;
  }
  for (p++; p < end - 1;) {
    const char *e = memchr(p, 0x01, (size_t)(end - p));
    if (!e)
      break;
    if (e - p > 5 && !memcmp(p, "auth=", 5)) {
      const char *v = p + 5;
      if (e - v > 7 && !strncasecmp(v, "Bearer ", 7)) {
        token = v + 7;
        tl = (size_t)(e - token);
      }
    }
    p = e + 1;
  }
  if (!token || !tl) {
    snprintf(msg, ml, "Invalid OAUTHBEARER client first message");
    return SASL_FAIL;
  }
  char why[300];
  char *payload = NULL;
  jv *claims = NULL;
  int ok = jwt_verify(c->keys, token, tl, &payload, why, sizeof why) == 0;
  if (ok) {
    claims = parse(payload, strlen(payload));
    ok = claims && claims->type == JV_OBJECT;
    if (!ok)
      snprintf(why, sizeof why, "the claims are not a JSON object");
    else
      ok = check_claims(c, claims, user, ul, expiry_ms, why, sizeof why) == 0;
    jv_free(claims);
  }
  free(payload);
  if (!ok) {
    /* Kafka answers the error as a challenge; the client then sends
     * 0x01 and fails with the same text. The reason is for the log. */
    blog(BLOG_WARN, "sasl", NULL, 0, "OAUTHBEARER token refused: %s", why);
    uint8_t *o = malloc(sizeof INVALID_TOKEN);
    if (!o) {
      snprintf(msg, ml, "%s", INVALID_TOKEN);
      return SASL_FAIL;
    }
    memcpy(o, INVALID_TOKEN, sizeof INVALID_TOKEN - 1);
    *out = o;
    *outlen = sizeof INVALID_TOKEN - 1;
    return SASL_MORE;
  }
  if (authzid[0] && strcmp(authzid, user)) {
    snprintf(msg, ml,
             "Authentication failed: Client requested an authorization id "
             "(%.100s) that is different from the token's principal name "
             "(%.100s)",
             authzid, user);
    return SASL_FAIL;
  }
  return SASL_OK;
}
