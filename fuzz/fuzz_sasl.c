/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_sasl.c — the SASL mechanisms' servers (broker/sasl.h) on arbitrary
 * client messages, and the parsers behind them.
 *
 * Input: the first byte picks what the rest is:
 *   0  a PLAIN token, checked against a store holding alice's SCRAM
 *      credentials (one iteration: the derivation is not what is fuzzed);
 *   1  a SCRAM-SHA-256 exchange: the rest split at the first '\n' into a
 *      client-first and a client-final message;
 *   2  the same with SCRAM-SHA-512;
 *   3  an OAUTHBEARER client message, against a key set of one EC key;
 *   4  JWT claims (JSON) signed here with that key (ES256), in a valid
 *      client message, so that the claims' checks run;
 *   5  a JWKS document;
 *   6  a compact JWT verified against the key set.
 *
 * Checked: nothing crashes or leaks (ASan); an outcome is one of
 * SASL_OK/MORE/FAIL and a failure has a message where the mechanism gives
 * one; SCRAM's server-first message starts with the client's nonce and
 * no exchange authenticates without the password (the proofs fuzzed here
 * cannot be right); a PLAIN success names alice and needed her password.
 */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sasl.h"

static scram_store store;
static sasl_oauth_config oauth;
static EVP_PKEY *ec_key;

static void b64url(const uint8_t *in, size_t n, char *out) {
  scram_b64_enc(in, n, out);
  size_t o = 0;
  for (size_t i = 0; out[i]; i++) {
    if (out[i] == '=')
      break;
    out[o++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
  }
  out[o] = 0;
}

static void setup(void) {
  if (ec_key)
    return;
  memset(&store, 0, sizeof store);
  uint8_t salt[16] = "fuzz-salt-16byte", salted[SCRAM_MAX_HASH];
  for (int mech = SCRAM_SHA_256; mech <= SCRAM_SHA_512; mech++) {
    FUZZ_CHECK(scram_salted_password(mech, "alice-pw", 8, salt, sizeof salt, 1,
                                     salted) == 0);
    FUZZ_CHECK(scram_store_put(&store, "alice", mech, 1, salt, sizeof salt,
                               salted, scram_hash_len(mech)) == 0);
  }
  /* The key set: one EC P-256 key made now. */
  ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  FUZZ_CHECK(ec_key);
  uint8_t pub[65];
  size_t pl = 0;
  FUZZ_CHECK(EVP_PKEY_get_octet_string_param(ec_key, OSSL_PKEY_PARAM_PUB_KEY,
                                             pub, sizeof pub, &pl) == 1 &&
             pl == 65);
  char x[64], y[64], json[400];
  b64url(pub + 1, 32, x);
  b64url(pub + 33, 32, y);
  snprintf(json, sizeof json,
           "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\","
           "\"x\":\"%s\",\"y\":\"%s\"}]}",
           x, y);
  char why[256];
  FUZZ_CHECK(jwks_parse(json, strlen(json), &oauth.keys, why, sizeof why) == 0);
  oauth.clock_skew_s = 30;
  oauth.sub_claim = "sub";
  oauth.scope_claim = "scope";
  oauth.audience = "nodata";
  /* Sanity: the right password passes, so a failure below is meaningful. */
  char user[256];
  const char *msg;
  FUZZ_CHECK(sasl_plain(&store, NULL, (const uint8_t *)"\0alice\0alice-pw", 15,
                        user, sizeof user, &msg) == SASL_OK);
}

static void plain(const uint8_t *d, size_t n) {
  char user[256];
  const char *msg = NULL;
  int rc =
      sasl_plain(&store, "user_bob=\"bob-pw\"", d, n, user, sizeof user, &msg);
  if (rc == SASL_OK) {
    FUZZ_CHECK(!strcmp(user, "alice") || !strcmp(user, "bob"));
    FUZZ_CHECK(memmem(d, n, "\0alice-pw", 9) || memmem(d, n, "\0bob-pw", 7));
  } else {
    FUZZ_CHECK(rc == SASL_FAIL && msg && *msg);
  }
}

static void scram(int mech, const uint8_t *d, size_t n) {
  const uint8_t *nl = memchr(d, '\n', n);
  size_t n1 = nl ? (size_t)(nl - d) : n;
  scram_server s;
  scram_server_init(&s, mech);
  uint8_t *out;
  size_t outlen;
  const char *msg;
  int rc = scram_server_step(&s, &store, d, n1, &out, &outlen, &msg);
  FUZZ_CHECK(rc != SASL_OK);
  if (rc == SASL_MORE) {
    FUZZ_CHECK(outlen > 2 && !memcmp(out, "r=", 2));
    /* The client's nonce comes first. */
    const uint8_t *r = memmem(d, n1, ",r=", 3);
    FUZZ_CHECK(r);
    free(out);
    if (nl) {
      rc = scram_server_step(&s, &store, nl + 1, n - n1 - 1, &out, &outlen,
                             &msg);
      FUZZ_CHECK(rc == SASL_FAIL); /* no fuzzed proof is right */
      free(out);
    }
  } else {
    FUZZ_CHECK(rc == SASL_FAIL && !out);
  }
  scram_server_free(&s);
}

static void oauth_msg(const uint8_t *d, size_t n) {
  char user[256], msg[300];
  int64_t exp = 0;
  uint8_t *out;
  size_t outlen;
  int rc = sasl_oauth(&oauth, d, n, user, sizeof user, &exp, &out, &outlen, msg,
                      sizeof msg);
  if (rc == SASL_MORE)
    FUZZ_CHECK(outlen && out);
  else if (rc == SASL_FAIL)
    FUZZ_CHECK(*msg && !out);
  else
    FUZZ_CHECK(rc == SASL_OK && *user && exp > 0);
  free(out);
}

static void signed_claims(const uint8_t *d, size_t n) {
  if (n > 4096)
    return;
  static const char head[] = "{\"alg\":\"ES256\",\"kid\":\"k1\"}";
  char *tok = malloc(2 * n + 400);
  FUZZ_CHECK(tok);
  b64url((const uint8_t *)head, sizeof head - 1, tok);
  size_t o = strlen(tok);
  tok[o++] = '.';
  b64url(d, n, tok + o);
  o += strlen(tok + o);
  /* Sign header.payload, R || S. */
  uint8_t der[80], rs[64];
  size_t dl = sizeof der;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  FUZZ_CHECK(ctx &&
             EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec_key) == 1 &&
             EVP_DigestSign(ctx, der, &dl, (uint8_t *)tok, o) == 1);
  EVP_MD_CTX_free(ctx);
  const uint8_t *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dl);
  FUZZ_CHECK(sig);
  FUZZ_CHECK(BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) == 32 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) == 32);
  ECDSA_SIG_free(sig);
  tok[o++] = '.';
  b64url(rs, 64, tok + o);
  o += strlen(tok + o);
  char *m = malloc(o + 40);
  FUZZ_CHECK(m);
  int ml = snprintf(m, o + 40, "n,,\001auth=Bearer %s\001\001", tok);
  oauth_msg((const uint8_t *)m, (size_t)ml);
  free(m);
  free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  if (size < 1)
    return 0;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  char why[256];
  switch (data[0] % 7) {
  case 0:
    plain(d, n);
    break;
  case 1:
    scram(SCRAM_SHA_256, d, n);
    break;
  case 2:
    scram(SCRAM_SHA_512, d, n);
    break;
  case 3:
    oauth_msg(d, n);
    break;
  case 4:
    signed_claims(d, n);
    break;
  case 5: {
    jwks *k = NULL;
    if (jwks_parse((const char *)d, n, &k, why, sizeof why) == 0)
      FUZZ_CHECK(k);
    else
      FUZZ_CHECK(!k && *why);
    jwks_free(k);
    break;
  }
  default: {
    char *payload = NULL;
    if (jwt_verify(oauth.keys, (const char *)d, n, &payload, why, sizeof why) ==
        0)
      FUZZ_CHECK(payload);
    free(payload);
    break;
  }
  }
  return 0;
}
