/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl_mech.c — the server side of PLAIN (RFC 4616) and SCRAM-SHA-256/512
 * (RFC 5802, RFC 7677), as Kafka's PlainSaslServer and ScramSaslServer
 * answer: the same checks, the same messages.
 *
 * Messages: PlainSaslServer throws SaslAuthenticationException, whose
 * message the client sees ("Authentication failed: Invalid username or
 * password"); ScramSaslServer throws SaslException, which Kafka replaces
 * by a generic "Authentication failed during authentication due to
 * invalid credentials with SASL mechanism SCRAM-SHA-256" so that a client
 * cannot tell an unknown user from a wrong password. sasl.c writes that
 * one (it names the mechanism); here SCRAM failures set msg to NULL.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

/* ---- PLAIN -------------------------------------------------------------- */

/* Is user="pw" one of jaas's user_NAME="PASSWORD" options? Values are
 * double-quoted with backslash escapes, as JAAS reads them. */
static int jaas_matches(const char *jaas, const char *user, const char *pw,
                        size_t pwlen) {
  size_t ul = strlen(user);
  int found = 0;
  for (const char *p = jaas; (p = strstr(p, "user_")) != NULL;) {
    /* An option starts the value or follows a blank. */
    int starts = p == jaas || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n';
    p += 5;
    const char *eq = strchr(p, '=');
    if (!eq)
      break;
    size_t nl = (size_t)(eq - p);
    while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
      nl--;
    const char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    if (*v != '"')
      continue;
    v++;
    /* Compare the value byte by byte (unescaping) with pw, in time
     * independent of where they differ. */
    size_t i = 0;
    unsigned diff = 0;
    while (*v && *v != '"') {
      if (*v == '\\' && v[1])
        v++;
      diff |=
          i < pwlen ? (unsigned)((unsigned char)*v ^ (unsigned char)pw[i]) : 1u;
      i++;
      v++;
    }
    if (starts && nl == ul && !memcmp(p, user, ul) && i == pwlen && !diff)
      found = 1;
    p = *v ? v + 1 : v;
  }
  return found;
}

/* Kafka splits a PLAIN token on NUL and wants exactly three tokens (the
 * last may not be followed by another NUL): how many there are, and the
 * first three. */
static size_t plain_split(const uint8_t *tok, size_t n, const uint8_t *parts[3],
                          size_t lens[3]) {
  size_t k = 0, start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || tok[i] == 0) {
      if (k < 3) {
        parts[k] = tok + start;
        lens[k] = i - start;
      }
      k++;
      start = i + 1;
    }
  }
  return k;
}

int sasl_plain_user(const uint8_t *tok, size_t n, char *user, size_t ul) {
  const uint8_t *parts[3];
  size_t lens[3];
  /* What sasl_plain refuses before looking at a credential. */
  if (plain_split(tok, n, parts, lens) != 3 || lens[1] == 0 || lens[2] == 0 ||
      lens[1] >= ul)
    return -1;
  memcpy(user, parts[1], lens[1]);
  user[lens[1]] = 0;
  return 0;
}

int sasl_plain(const scram_store *store, const char *jaas, const uint8_t *tok,
               size_t n, char *user, size_t ul, const char **msg) {
  const uint8_t *parts[3];
  size_t lens[3];
  size_t k = plain_split(tok, n, parts, lens);
  static char bad[80];
  if (k != 3) {
    /* Kafka's message names the count. Only the loop gets here: a token
     * checked on a worker lane passed sasl_plain_user first. */
    snprintf(bad, sizeof bad,
             "Invalid SASL/PLAIN response: expected 3 tokens, got %zu", k);
    *msg = bad;
    return SASL_FAIL;
  }
  if (lens[1] == 0) {
    *msg = "Authentication failed: username not specified";
    return SASL_FAIL;
  }
  if (lens[2] == 0) {
    *msg = "Authentication failed: password not specified";
    return SASL_FAIL;
  }
  if (lens[1] >= ul) {
    *msg = "Authentication failed: Invalid username or password";
    return SASL_FAIL;
  }
  memcpy(user, parts[1], lens[1]);
  user[lens[1]] = 0;
  const char *pw = (const char *)parts[2];
  int ok = 0;
  for (int mech = SCRAM_SHA_256; mech <= SCRAM_SHA_512 && !ok; mech++) {
    const scram_cred *c = scram_store_find(store, user, mech);
    if (c)
      ok = scram_password_matches(c, pw, lens[2]);
  }
  if (!ok && jaas)
    ok = jaas_matches(jaas, user, pw, lens[2]);
  if (!ok) {
    *msg = "Authentication failed: Invalid username or password";
    return SASL_FAIL;
  }
  /* Kafka checks the authorization id after the password. */
  if (lens[0] && (lens[0] != lens[1] || memcmp(parts[0], parts[1], lens[0]))) {
    *msg = "Authentication failed: Client requested an authorization id "
           "that is different from username";
    return SASL_FAIL;
  }
  return SASL_OK;
}

/* ---- SCRAM -------------------------------------------------------------- */

void scram_server_init(scram_server *s, int mech) {
  memset(s, 0, sizeof *s);
  s->mech = mech;
}

void scram_server_free(scram_server *s) {
  free(s->client_first_bare);
  free(s->server_first);
  OPENSSL_cleanse(&s->cred_copy, sizeof s->cred_copy);
  memset(s, 0, sizeof *s);
}

/* A saslname (RFC 5802: "=2C" for ',' and "=3D" for '=') into out; -1 if
 * malformed or too long. */
static int unescape_name(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == '=') {
      if (i + 3 > n)
        return -1;
      if (!memcmp(in + i, "=2C", 3))
        c = ',';
      else if (!memcmp(in + i, "=3D", 3))
        c = '=';
      else
        return -1;
      i += 2;
    } else if (c == ',' || c == 0) {
      return -1;
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = c;
  }
  out[o] = 0;
  return 0;
}

/* A printable nonce (RFC 5802: printable ASCII but ','). */
static int nonce_ok(const char *p, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
      return 0;
  return 1;
}

static char *dupn(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

/* client-first-message: gs2-header client-first-message-bare, where the
 * gs2 header is "n," or "y," (no channel binding: Kafka's ScramSaslServer
 * takes neither "p=") then an optional "a=authzid" and ",", and the bare
 * part "n=saslname,r=nonce" with optional extensions after. */
static int client_first(scram_server *s, const scram_store *store,
                        const char *m, size_t n, uint8_t **out,
                        size_t *outlen) {
  if (n < 3 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',')
    return SASL_FAIL;
  const char *p = m + 2, *end = m + n;
  const char *comma = memchr(p, ',', (size_t)(end - p));
  if (!comma)
    return SASL_FAIL;
  char authzid[256] = "";
  if (comma > p) {
    if (p[0] != 'a' || p[1] != '=' ||
        unescape_name(p + 2, (size_t)(comma - p - 2), authzid, sizeof authzid) <
            0)
      return SASL_FAIL;
  }
  const char *bare = comma + 1;
  if (end - bare < 2 || bare[0] != 'n' || bare[1] != '=')
    return SASL_FAIL;
  const char *ue = memchr(bare, ',', (size_t)(end - bare));
  if (!ue ||
      unescape_name(bare + 2, (size_t)(ue - bare - 2), s->user,
                    sizeof s->user) < 0 ||
      !s->user[0])
    return SASL_FAIL;
  const char *r = ue + 1;
  if (end - r < 2 || r[0] != 'r' || r[1] != '=')
    return SASL_FAIL;
  const char *re = memchr(r, ',', (size_t)(end - r));
  const char *nonce = r + 2;
  size_t nl = (size_t)((re ? re : end) - nonce);
  if (!nonce_ok(nonce, nl) || nl > 512)
    return SASL_FAIL;
  /* Extensions (",key=value..."): Kafka's tokenauth is for delegation
   * tokens, which nodata has not; others are ignored, as Kafka does. */
  if (re && memmem(re, (size_t)(end - re), ",tokenauth=true", 15))
    return SASL_FAIL;
  /* Kafka: "Authentication/Authorization ID mismatch". */
  if (authzid[0] && strcmp(authzid, s->user))
    return SASL_FAIL;
  const scram_cred *c = scram_store_find(store, s->user, s->mech);
  if (!c)
    return SASL_FAIL; /* ScramSaslServer: invalid user credentials */
  s->cred_copy = *c;
  s->cred_copy.user = NULL;
  /* Our nonce: 24 random bytes, base64, appended to the client's. */
  uint8_t rnd[24];
  char snonce[40], salt[4 * (SCRAM_MAX_SALT / 3 + 2)];
  if (RAND_bytes(rnd, sizeof rnd) != 1)
    return SASL_FAIL;
  scram_b64_enc(rnd, sizeof rnd, snonce);
  /* '+' and '/' are printable and not ',': fine in a nonce. */
  scram_b64_enc(c->salt, c->salt_len, salt);
  size_t cap = nl + strlen(snonce) + strlen(salt) + 40;
  char *sf = malloc(cap);
  if (!sf)
    return SASL_FAIL;
  int len = snprintf(sf, cap, "r=%.*s%s,s=%s,i=%d", (int)nl, nonce, snonce,
                     salt, c->iterations);
  free(s->client_first_bare);
  free(s->server_first);
  s->client_first_bare = dupn(bare, (size_t)(end - bare));
  s->server_first = sf;
  uint8_t *o = (uint8_t *)dupn(sf, (size_t)len);
  if (!s->client_first_bare || !o) {
    free(o);
    return SASL_FAIL;
  }
  *out = o;
  *outlen = (size_t)len;
  s->step = 1;
  return SASL_MORE;
}

/* client-final-message: "c=" channel binding, ",r=" nonce, optional
 * extensions, ",p=" proof (last). */
static int client_final(scram_server *s, const char *m, size_t n, uint8_t **out,
                        size_t *outlen) {
  const char *end = m + n;
  /* The proof is the last attribute. */
  const char *p = NULL;
  for (const char *q = end; q > m; q--)
    if (q[-1] == ',') {
      p = q;
      break;
    }
  if (!p || end - p < 2 || p[0] != 'p' || p[1] != '=')
    return SASL_FAIL;
  size_t without_proof = (size_t)(p - 1 - m);
  if (n < 2 || m[0] != 'c' || m[1] != '=')
    return SASL_FAIL;
  const char *ce = memchr(m, ',', without_proof);
  if (!ce)
    return SASL_FAIL;
  /* Channel binding: base64 of the gs2 header, "biws" for "n,,"; Kafka's
   * server only reads it. */
  const char *r = ce + 1;
  if (m + without_proof - r < 2 || r[0] != 'r' || r[1] != '=')
    return SASL_FAIL;
  const char *re = memchr(r, ',', (size_t)(m + without_proof - r));
  size_t nl = (size_t)((re ? re : m + without_proof) - (r + 2));
  /* The nonce must end with the server-first's: Kafka checks endsWith,
   * not equality, and librdkafka relies on it (it sends its own nonce in
   * front of the server's, which already starts with it). */
  const char *sn = s->server_first + 2;
  const char *sne = strchr(sn, ',');
  size_t snl = sne ? (size_t)(sne - sn) : 0;
  if (!sne || nl < snl || memcmp(r + 2 + nl - snl, sn, snl))
    return SASL_FAIL;
  size_t hl = scram_hash_len(s->mech);
  uint8_t proof[SCRAM_MAX_HASH + 3];
  if (scram_b64_dec(p + 2, (size_t)(end - p - 2), proof, sizeof proof) !=
      (long)hl)
    return SASL_FAIL;
  /* AuthMessage := client-first-message-bare + "," + server-first-message
   * + "," + client-final-message-without-proof */
  size_t al = strlen(s->client_first_bare) + strlen(s->server_first) +
              without_proof + 3;
  char *am = malloc(al);
  if (!am)
    return SASL_FAIL;
  int aml = snprintf(am, al, "%s,%s,%.*s", s->client_first_bare,
                     s->server_first, (int)without_proof, m);
  const EVP_MD *md = s->mech == SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512();
  uint8_t csig[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH],
      ssig[SCRAM_MAX_HASH];
  unsigned ol = 0;
  int ok = HMAC(md, s->cred_copy.stored_key, (int)hl, (uint8_t *)am,
                (size_t)aml, csig, &ol) != NULL &&
           HMAC(md, s->cred_copy.server_key, (int)hl, (uint8_t *)am,
                (size_t)aml, ssig, &ol) != NULL;
  free(am);
  if (!ok)
    return SASL_FAIL;
  for (size_t i = 0; i < hl; i++)
    ckey[i] = proof[i] ^ csig[i];
  if (!EVP_Digest(ckey, hl, stored, NULL, md, NULL) ||
      CRYPTO_memcmp(stored, s->cred_copy.stored_key, hl) != 0)
    return SASL_FAIL;
  char *o = malloc(4 * (SCRAM_MAX_HASH / 3 + 2) + 3);
  if (!o)
    return SASL_FAIL;
  o[0] = 'v';
  o[1] = '=';
  scram_b64_enc(ssig, hl, o + 2);
  *out = (uint8_t *)o;
  *outlen = strlen(o);
  s->step = 2;
  return SASL_OK;
}

int scram_server_step(scram_server *s, const scram_store *store,
                      const uint8_t *tok, size_t n, uint8_t **out,
                      size_t *outlen, const char **msg) {
  *out = NULL;
  *outlen = 0;
  *msg = NULL;
  /* A message with a NUL in it is no SCRAM message. */
  if (memchr(tok, 0, n))
    return SASL_FAIL;
  const char *m = (const char *)tok;
  int rc = SASL_FAIL;
  if (s->step == 0)
    rc = client_first(s, store, m, n, out, outlen);
  else if (s->step == 1)
    rc = client_final(s, m, n, out, outlen);
  if (rc == SASL_FAIL)
    s->step = 3;
  return rc;
}
