/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_sasl.c — the client side of SASL for the console's logins
 * (console.h: ck_authenticate), as a Kafka client does it: SaslHandshake
 * v1 names the mechanism, then SaslAuthenticate v2 (flexible) carries the
 * mechanism's tokens as auth_bytes.
 *
 * Tokens:
 *   PLAIN (RFC 4616): one token "\0" user "\0" password.
 *   SCRAM-SHA-256/512 (RFC 5802, RFC 7677), no channel binding:
 *     client-first  "n,," "n=" saslname ",r=" cnonce
 *     server-first  "r=" cnonce snonce ",s=" base64(salt) ",i=" iterations
 *     client-final  "c=biws,r=" cnonce snonce ",p=" base64(ClientProof)
 *     server-final  "v=" base64(ServerSignature)
 *   saslname escapes ',' as "=2C" and '=' as "=3D"; cnonce is 24 bytes
 *   from getrandom in base64. The server's signature is checked, so a
 *   listener that does not know the password cannot pass as the broker.
 *
 * The broker's own SCRAM helpers (sasl.h: base64, PBKDF2) do the
 * arithmetic they share with the server side; secrets derived here are
 * wiped before returning.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "console.h"
#include "kafka_errors.h"
#include "kafka_msgs.h"
#include "sasl.h"

#define SASL_HANDSHAKE 17
#define SASL_AUTHENTICATE 36
/* 24 random bytes: 32 base64 characters, as Kafka's ScramFormatter. */
#define NONCE_BYTES 24

/* One SaslAuthenticate v2 round: token out, the server's token back (in
 * a, as *resp). 0 when the server accepted it; -1 connection failed; -2
 * refused (why = Kafka's message). */
static int authenticate(ck_conn *c, kf_arena *a, const void *tok, size_t n,
                        kafka_sasl_authenticate_response **resp, char *why,
                        size_t whylen) {
  kafka_sasl_authenticate_request rq = {
      .auth_bytes = {.ptr = (uint8_t *)tok, .len = (int32_t)n}};
  void *r = NULL;
  if (ck_call(c, SASL_AUTHENTICATE, 2, &rq, a, &r, why, whylen) < 0)
    return -1;
  *resp = r;
  if ((*resp)->error_code != 0) {
    const char *name = kafka_err_name((*resp)->error_code);
    if ((*resp)->error_message.len > 0)
      snprintf(why, whylen, "%.*s", (int)(*resp)->error_message.len,
               (*resp)->error_message.ptr);
    else
      snprintf(why, whylen, "%s", name ? name : "authentication failed");
    return -2;
  }
  return 0;
}

static int plain(ck_conn *c, kf_arena *a, const char *user,
                 const char *password, char *why, size_t whylen) {
  size_t ul = strlen(user), pl = strlen(password);
  char *tok = malloc(ul + pl + 2);
  if (!tok) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  tok[0] = 0;
  memcpy(tok + 1, user, ul);
  tok[1 + ul] = 0;
  memcpy(tok + 2 + ul, password, pl);
  kafka_sasl_authenticate_response *r;
  int rc = authenticate(c, a, tok, ul + pl + 2, &r, why, whylen);
  OPENSSL_cleanse(tok, ul + pl + 2);
  free(tok);
  return rc;
}

/* saslname: ',' and '=' escaped (RFC 5802 section 5.1). */
static int sasl_name(const char *user, char *out, size_t cap) {
  size_t o = 0;
  for (const char *p = user; *p; p++) {
    const char *s = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
    size_t n = s ? 3 : 1;
    if (o + n >= cap)
      return -1;
    if (s)
      memcpy(out + o, s, 3);
    else
      out[o] = *p;
    o += n;
  }
  out[o] = 0;
  return 0;
}

/* The attribute `k=` of a SCRAM message (comma-separated), into out. */
static int attr(const char *msg, size_t n, char k, const char **v, size_t *vl) {
  for (const char *p = msg, *end = msg + n; p < end;) {
    const char *e = memchr(p, ',', (size_t)(end - p));
    if (!e)
      e = end;
    if (e - p >= 2 && p[0] == k && p[1] == '=') {
      *v = p + 2;
      *vl = (size_t)(e - p - 2);
      return 1;
    }
    p = e + 1;
  }
  return 0;
}

static int scram(ck_conn *c, kf_arena *a, int mech, const char *user,
                 const char *password, char *why, size_t whylen) {
  const EVP_MD *md = mech == SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512();
  size_t hl = scram_hash_len(mech);
  char name[768];
  if (sasl_name(user, name, sizeof name) < 0) {
    snprintf(why, whylen, "user name too long");
    return -2;
  }
  uint8_t raw[NONCE_BYTES];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
    snprintf(why, whylen, "getrandom failed");
    return -1;
  }
  char nonce[4 * (NONCE_BYTES / 3) + 1];
  scram_b64_enc(raw, sizeof raw, nonce);

  char first[1024];
  int fl = snprintf(first, sizeof first, "n,,n=%s,r=%s", name, nonce);
  kafka_sasl_authenticate_response *r;
  int rc = authenticate(c, a, first, (size_t)fl, &r, why, whylen);
  if (rc < 0)
    return rc;
  /* server-first: our nonce extended, the salt, the iterations. */
  const char *sf = (const char *)r->auth_bytes.ptr;
  size_t sfl = r->auth_bytes.len > 0 ? (size_t)r->auth_bytes.len : 0;
  const char *rn, *s, *i;
  size_t rnl, sl, il;
  if (!attr(sf, sfl, 'r', &rn, &rnl) || !attr(sf, sfl, 's', &s, &sl) ||
      !attr(sf, sfl, 'i', &i, &il) || rnl <= strlen(nonce) ||
      memcmp(rn, nonce, strlen(nonce)) != 0 || il == 0 || il > 9) {
    snprintf(why, whylen,
             "the broker's SCRAM server-first message is "
             "malformed or does not extend the client's nonce");
    return -1;
  }
  int32_t iter = 0;
  for (size_t k = 0; k < il; k++) {
    if (i[k] < '0' || i[k] > '9') {
      snprintf(why, whylen, "SCRAM iterations are not a number");
      return -1;
    }
    iter = iter * 10 + (i[k] - '0');
  }
  /* Bounded: a server asking for millions would block the console thread. */
  if (iter < SCRAM_MIN_ITERATIONS || iter > SCRAM_MAX_ITERATIONS) {
    snprintf(why, whylen, "SCRAM iterations %d outside [%d, %d]", iter,
             SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS);
    return -1;
  }
  uint8_t salt[SCRAM_MAX_SALT];
  long saltl = scram_b64_dec(s, sl, salt, sizeof salt);
  if (saltl <= 0) {
    snprintf(why, whylen, "SCRAM salt is not base64");
    return -1;
  }

  /* AuthMessage := client-first-bare "," server-first ","
   * client-final-without-proof */
  char *final = malloc(rnl + 200);
  size_t aml = (size_t)fl + sfl + rnl + 16;
  char *am = malloc(aml);
  if (!final || !am) {
    free(final);
    free(am);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  int cfl = snprintf(final, rnl + 200, "c=biws,r=%.*s", (int)rnl, rn);
  int amn = snprintf(am, aml, "%s,%.*s,%s", first + 3, (int)sfl, sf, final);

  uint8_t salted[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH],
      csig[SCRAM_MAX_HASH], skey[SCRAM_MAX_HASH], ssig[SCRAM_MAX_HASH];
  unsigned ol = 0;
  int ok =
      scram_salted_password(mech, password, strlen(password), salt,
                            (size_t)saltl, iter, salted) == 0 &&
      HMAC(md, salted, (int)hl, (const uint8_t *)"Client Key", 10, ckey, &ol) &&
      EVP_Digest(ckey, hl, stored, NULL, md, NULL) &&
      HMAC(md, stored, (int)hl, (const uint8_t *)am, (size_t)amn, csig, &ol) &&
      HMAC(md, salted, (int)hl, (const uint8_t *)"Server Key", 10, skey, &ol) &&
      HMAC(md, skey, (int)hl, (const uint8_t *)am, (size_t)amn, ssig, &ol);
  free(am);
  rc = -1;
  if (!ok) {
    snprintf(why, whylen, "SCRAM key derivation failed");
    goto out;
  }
  uint8_t proof[SCRAM_MAX_HASH];
  for (size_t k = 0; k < hl; k++)
    proof[k] = ckey[k] ^ csig[k];
  char p64[4 * (SCRAM_MAX_HASH / 3 + 1) + 1];
  scram_b64_enc(proof, hl, p64);
  char *msg = malloc((size_t)cfl + strlen(p64) + 4);
  if (!msg) {
    snprintf(why, whylen, "out of memory");
    goto out;
  }
  int ml = sprintf(msg, "%s,p=%s", final, p64);
  rc = authenticate(c, a, msg, (size_t)ml, &r, why, whylen);
  free(msg);
  if (rc < 0)
    goto out;
  /* server-final: the broker proves it knows the credential too. */
  const char *v;
  size_t vl;
  uint8_t got[SCRAM_MAX_HASH + 3];
  const char *sfin = (const char *)r->auth_bytes.ptr;
  size_t sfinl = r->auth_bytes.len > 0 ? (size_t)r->auth_bytes.len : 0;
  if (!attr(sfin, sfinl, 'v', &v, &vl) ||
      scram_b64_dec(v, vl, got, sizeof got) != (long)hl ||
      CRYPTO_memcmp(got, ssig, hl) != 0) {
    snprintf(why, whylen,
             "the broker's SCRAM server signature does not "
             "match: it does not hold this user's credential");
    rc = -1;
  }
out:
  OPENSSL_cleanse(salted, sizeof salted);
  OPENSSL_cleanse(ckey, sizeof ckey);
  OPENSSL_cleanse(skey, sizeof skey);
  free(final);
  return rc;
}

int ck_authenticate(ck_conn *c, const char *mech, const char *user,
                    const char *password, char *why, size_t whylen) {
  int sm = mech ? scram_mech_parse(mech) : SCRAM_UNKNOWN;
  if (!mech || (sm == SCRAM_UNKNOWN && strcmp(mech, "PLAIN") != 0)) {
    snprintf(why, whylen,
             "SASL mechanism %s: the console speaks SCRAM-SHA-512, "
             "SCRAM-SHA-256 and PLAIN",
             mech ? mech : "(none)");
    return -2;
  }
  kf_arena a = {0};
  kafka_sasl_handshake_request hs = {.mechanism = kf_s(mech)};
  void *r = NULL;
  int rc = ck_call(c, SASL_HANDSHAKE, 1, &hs, &a, &r, why, whylen);
  if (rc == 0) {
    kafka_sasl_handshake_response *h = r;
    if (h->error_code != 0) {
      /* UNSUPPORTED_SASL_MECHANISM names what the listener enables. */
      int o =
          snprintf(why, whylen, "%s: %s; the listener enables",
                   kafka_err_name(h->error_code) ? kafka_err_name(h->error_code)
                                                 : "SaslHandshake failed",
                   mech);
      for (int k = 0; k < h->mechanisms.count && o > 0 && (size_t)o < whylen;
           k++)
        o += snprintf(why + o, whylen - (size_t)o, "%s%.*s", k ? ", " : " ",
                      (int)h->mechanisms.items[k].len,
                      h->mechanisms.items[k].ptr);
      rc = -2;
    } else if (sm == SCRAM_UNKNOWN) {
      rc = plain(c, &a, user, password, why, whylen);
    } else {
      rc = scram(c, &a, sm, user, password, why, whylen);
    }
  }
  kf_arena_free(&a);
  return rc;
}
