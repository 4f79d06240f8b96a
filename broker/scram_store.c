/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scram_store.c — SCRAM credentials in the data directory.
 *
 * DATA/security/scram-credentials, written whole with broker_write_atomic:
 *
 *   # nodata scram-credentials v1
 *   USER MECHANISM ITERATIONS SALT STORED_KEY SERVER_KEY
 *
 * one line per user and mechanism, fields separated by one space, the
 * byte fields in base64 and the user name percent-escaped (any byte
 * below '!', '%' and DEL as %XX) so that every name Kafka accepts fits
 * on a line. What is kept is what Kafka's controller keeps (its
 * UserScramCredentialRecord): enough to verify a client, never enough
 * to log in as one without the password.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"
#include "sasl.h"

#define HEADER "# nodata scram-credentials v1\n"

const char *scram_mech_name(int mech) {
  return mech == SCRAM_SHA_256   ? "SCRAM-SHA-256"
         : mech == SCRAM_SHA_512 ? "SCRAM-SHA-512"
                                 : NULL;
}

int scram_mech_parse(const char *s) {
  if (s && !strcmp(s, "SCRAM-SHA-256"))
    return SCRAM_SHA_256;
  if (s && !strcmp(s, "SCRAM-SHA-512"))
    return SCRAM_SHA_512;
  return SCRAM_UNKNOWN;
}

size_t scram_hash_len(int mech) {
  return mech == SCRAM_SHA_256 ? 32 : mech == SCRAM_SHA_512 ? 64 : 0;
}

static const EVP_MD *mech_md(int mech) {
  return mech == SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512();
}

/* ---- base64 ------------------------------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void scram_b64_enc(const uint8_t *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n)
      v |= in[i + 2];
    out[o++] = b64[v >> 18 & 63];
    out[o++] = b64[v >> 12 & 63];
    out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? b64[v & 63] : '=';
  }
  out[o] = 0;
}

static int b64_val(char c) {
  const char *p = c ? strchr(b64, c) : NULL;
  return p ? (int)(p - b64) : -1;
}

long scram_b64_dec(const char *in, size_t n, uint8_t *out, size_t cap) {
  if (n % 4)
    return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4], pad = 0;
    for (int j = 0; j < 4; j++) {
      if (in[i + j] == '=' && i + 4 == n && j >= 2) {
        v[j] = 0;
        pad++;
      } else if (pad || (v[j] = b64_val(in[i + j])) < 0) {
        return -1;
      }
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                 (uint32_t)v[2] << 6 | (uint32_t)v[3];
    uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
    /* Canonical only: the bits a pad leaves unused are zero. */
    if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
      return -1;
    for (int j = 0; j < 3 - pad; j++) {
      if (o >= cap)
        return -1;
      out[o++] = b[j];
    }
  }
  return (long)o;
}

/* ---- key derivation ----------------------------------------------------- */

int scram_salted_password(int mech, const char *pw, size_t pwlen,
                          const uint8_t *salt, size_t salt_len, int32_t iter,
                          uint8_t *out) {
  size_t hl = scram_hash_len(mech);
  if (!hl || iter <= 0 || pwlen > INT32_MAX || salt_len > INT32_MAX)
    return -1;
  return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)salt_len, iter,
                           mech_md(mech), (int)hl, out) == 1
             ? 0
             : -1;
}

/* StoredKey and ServerKey from SaltedPassword (RFC 5802 section 3). */
static int derive_keys(int mech, const uint8_t *salted, uint8_t *stored,
                       uint8_t *server) {
  size_t hl = scram_hash_len(mech);
  uint8_t client_key[SCRAM_MAX_HASH];
  unsigned len = 0;
  if (!HMAC(mech_md(mech), salted, (int)hl, (const uint8_t *)"Client Key", 10,
            client_key, &len) ||
      !HMAC(mech_md(mech), salted, (int)hl, (const uint8_t *)"Server Key", 10,
            server, &len) ||
      !EVP_Digest(client_key, hl, stored, NULL, mech_md(mech), NULL))
    return -1;
  OPENSSL_cleanse(client_key, sizeof client_key);
  return 0;
}

int scram_password_matches(const scram_cred *cred, const char *pw,
                           size_t pwlen) {
  size_t hl = scram_hash_len(cred->mech);
  uint8_t salted[SCRAM_MAX_HASH], stored[SCRAM_MAX_HASH],
      server[SCRAM_MAX_HASH];
  int ok =
      hl &&
      scram_salted_password(cred->mech, pw, pwlen, cred->salt, cred->salt_len,
                            cred->iterations, salted) == 0 &&
      derive_keys(cred->mech, salted, stored, server) == 0 &&
      CRYPTO_memcmp(stored, cred->stored_key, hl) == 0;
  OPENSSL_cleanse(salted, sizeof salted);
  return ok;
}

/* ---- the store ---------------------------------------------------------- */

const scram_cred *scram_store_find(const scram_store *s, const char *user,
                                   int mech) {
  for (size_t i = 0; s && i < s->n; i++)
    if (s->v[i].mech == mech && !strcmp(s->v[i].user, user))
      return &s->v[i];
  return NULL;
}

int scram_store_has_user(const scram_store *s, const char *user) {
  for (size_t i = 0; s && i < s->n; i++)
    if (!strcmp(s->v[i].user, user))
      return 1;
  return 0;
}

static scram_cred *slot(scram_store *s, const char *user, int mech) {
  scram_cred *c = (scram_cred *)scram_store_find(s, user, mech);
  if (c)
    return c;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 8;
    scram_cred *v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return NULL;
    s->v = v;
    s->cap = cap;
  }
  c = &s->v[s->n];
  memset(c, 0, sizeof *c);
  if (!(c->user = strdup(user)))
    return NULL;
  c->mech = mech;
  s->n++;
  return c;
}

int scram_store_put(scram_store *s, const char *user, int mech,
                    int32_t iterations, const uint8_t *salt, size_t salt_len,
                    const uint8_t *salted, size_t salted_len) {
  size_t hl = scram_hash_len(mech);
  if (!hl || salted_len != hl || salt_len > SCRAM_MAX_SALT)
    return -EINVAL;
  uint8_t stored[SCRAM_MAX_HASH], server[SCRAM_MAX_HASH];
  if (derive_keys(mech, salted, stored, server) < 0)
    return -ENOMEM;
  scram_cred *c = slot(s, user, mech);
  if (!c)
    return -ENOMEM;
  c->iterations = iterations;
  c->salt_len = salt_len;
  memcpy(c->salt, salt, salt_len);
  memcpy(c->stored_key, stored, hl);
  memcpy(c->server_key, server, hl);
  return 0;
}

int scram_store_del(scram_store *s, const char *user, int mech) {
  scram_cred *c = (scram_cred *)scram_store_find(s, user, mech);
  if (!c)
    return -ENOENT;
  free(c->user);
  size_t i = (size_t)(c - s->v);
  memmove(c, c + 1, (s->n - i - 1) * sizeof *c);
  s->n--;
  return 0;
}

void scram_store_free(scram_store *s) {
  for (size_t i = 0; i < s->n; i++) {
    OPENSSL_cleanse(&s->v[i], sizeof s->v[i] - sizeof s->v[i].user);
    free(s->v[i].user);
  }
  free(s->v);
  free(s->path);
  memset(s, 0, sizeof *s);
}

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* One line's fields into c; 0 or -1. */
static int parse_line(char *line, scram_store *s) {
  char *f[6];
  int n = 0;
  for (char *p = line; n < 6; n++) {
    f[n] = p;
    char *sp = strchr(p, ' ');
    if (!sp) {
      n++;
      break;
    }
    *sp = 0;
    p = sp + 1;
  }
  if (n != 6 || strchr(f[5], ' '))
    return -1;
  /* The name, unescaped in place. */
  char *w = f[0];
  for (char *r = f[0]; *r; r++) {
    if (*r == '%') {
      int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
      if (lo < 0 || (hi == 0 && lo == 0))
        return -1;
      *w++ = (char)(hi << 4 | lo);
      r += 2;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
  int mech = scram_mech_parse(f[1]);
  char *end;
  long iter = strtol(f[2], &end, 10);
  size_t hl = scram_hash_len(mech);
  uint8_t salt[SCRAM_MAX_SALT], sk[SCRAM_MAX_HASH + 3], vk[SCRAM_MAX_HASH + 3];
  long saltn = scram_b64_dec(f[3], strlen(f[3]), salt, sizeof salt);
  if (!*f[0] || !hl || *end || end == f[2] || iter <= 0 || iter > INT32_MAX ||
      saltn < 0 ||
      scram_b64_dec(f[4], strlen(f[4]), sk, sizeof sk) != (long)hl ||
      scram_b64_dec(f[5], strlen(f[5]), vk, sizeof vk) != (long)hl ||
      scram_store_find(s, f[0], mech))
    return -1;
  scram_cred *c = slot(s, f[0], mech);
  if (!c)
    return -1;
  c->iterations = (int32_t)iter;
  c->salt_len = (size_t)saltn;
  memcpy(c->salt, salt, (size_t)saltn);
  memcpy(c->stored_key, sk, hl);
  memcpy(c->server_key, vk, hl);
  return 0;
}

int scram_store_load(const char *dir, scram_store *s, char *why, size_t wl) {
  memset(s, 0, sizeof *s);
  size_t pl = strlen(dir) + 40;
  if (!(s->path = malloc(pl))) {
    snprintf(why, wl, "out of memory");
    return -1;
  }
  snprintf(s->path, pl, "%s/security/scram-credentials", dir);
  FILE *f = fopen(s->path, "r");
  if (!f) {
    if (errno == ENOENT)
      return 0;
    snprintf(why, wl, "%s: %s", s->path, strerror(errno));
    scram_store_free(s);
    return -1;
  }
  char line[4096];
  int lineno = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n') {
      rc = -1;
      break;
    }
    line[--len] = 0;
    if (lineno == 1) {
      if (strcmp(line, "# nodata scram-credentials v1")) {
        snprintf(why, wl, "%s: unknown format (first line '%.60s')", s->path,
                 line);
        fclose(f);
        scram_store_free(s);
        return -1;
      }
      continue;
    }
    if (parse_line(line, s) < 0) {
      rc = -1;
      break;
    }
  }
  if (!rc && lineno == 0)
    rc = -1; /* an empty file is no file we wrote */
  fclose(f);
  if (rc) {
    snprintf(why, wl, "%s: damaged at line %d", s->path, lineno);
    scram_store_free(s);
  }
  return rc;
}

int scram_store_save(const scram_store *s) {
  size_t cap = sizeof HEADER + 1;
  for (size_t i = 0; i < s->n; i++)
    cap += 3 * strlen(s->v[i].user) + 40 + 4 * (SCRAM_MAX_SALT / 3 + 2) +
           8 * (SCRAM_MAX_HASH / 3 + 2);
  char *buf = malloc(cap);
  if (!buf)
    return -ENOMEM;
  size_t o = (size_t)snprintf(buf, cap, "%s", HEADER);
  for (size_t i = 0; i < s->n; i++) {
    const scram_cred *c = &s->v[i];
    for (const unsigned char *p = (const unsigned char *)c->user; *p; p++)
      if (*p <= ' ' || *p == '%' || *p == 0x7f)
        o += (size_t)snprintf(buf + o, cap - o, "%%%02X", *p);
      else
        buf[o++] = (char)*p;
    size_t hl = scram_hash_len(c->mech);
    o += (size_t)snprintf(buf + o, cap - o, " %s %d ", scram_mech_name(c->mech),
                          c->iterations);
    scram_b64_enc(c->salt, c->salt_len, buf + o);
    o += strlen(buf + o);
    buf[o++] = ' ';
    scram_b64_enc(c->stored_key, hl, buf + o);
    o += strlen(buf + o);
    buf[o++] = ' ';
    scram_b64_enc(c->server_key, hl, buf + o);
    o += strlen(buf + o);
    buf[o++] = '\n';
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", s->path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  int rc = 0;
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    rc = -errno;
  if (!rc)
    rc = broker_write_atomic(s->path, buf, o);
  OPENSSL_cleanse(buf, o);
  free(buf);
  return rc;
}
