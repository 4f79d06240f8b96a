/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl.h — SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners
 * (sasl.c: SaslHandshake, SaslAuthenticate, the connection's state,
 * KIP-368 re-authentication; sasl_plain.c, sasl_scram.c, sasl_oauth.c:
 * the mechanisms; scram_store.c: the SCRAM credentials kept in the data
 * directory, which `nodata users` edits too).
 *
 * The mechanisms' parts are pure functions over bytes (no connection, no
 * broker) so that fuzz/fuzz_sasl.c and the CLI can call them.
 */
#ifndef ND_BROKER_SASL_H
#define ND_BROKER_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "kafka.h"

/* ---- SCRAM credentials (scram_store.c) ---------------------------------- */

/* Kafka's ScramMechanism type codes, as AlterUserScramCredentials and
 * DescribeUserScramCredentials carry them. */
enum { SCRAM_UNKNOWN = 0, SCRAM_SHA_256 = 1, SCRAM_SHA_512 = 2 };

/* Kafka's bounds on iterations (ScramMechanism.minIterations and the
 * controller's MAX_ITERATIONS). */
#define SCRAM_MIN_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 16384
#define SCRAM_MAX_HASH 64 /* SHA-512's size */
#define SCRAM_MAX_SALT 256

/* "SCRAM-SHA-256", "SCRAM-SHA-512", or NULL. */
const char *scram_mech_name(int mech);
/* The mechanism named s (case-sensitive, as Kafka), or SCRAM_UNKNOWN. */
int scram_mech_parse(const char *s);
/* The hash size of mech (32 or 64), 0 for an unknown one. */
size_t scram_hash_len(int mech);

typedef struct scram_cred {
  char *user;
  int mech;
  int32_t iterations;
  size_t salt_len;
  uint8_t salt[SCRAM_MAX_SALT];
  uint8_t stored_key[SCRAM_MAX_HASH];
  uint8_t server_key[SCRAM_MAX_HASH];
} scram_cred;

/* Every credential of a data directory: DATA/security/scram-credentials, a
 * header line, then one line per user and mechanism holding the salt,
 * iterations, StoredKey and ServerKey (RFC 5802), never a password. */
typedef struct scram_store {
  char *path;
  scram_cred *v;
  size_t n, cap;
} scram_store;

/* Read the file of data directory `dir` (none yet is an empty store).
 * Returns 0, or -1 with why[] set (damaged file, out of memory). */
int scram_store_load(const char *dir, scram_store *s, char *why, size_t wl);
/* Write the store back (atomically, durably), creating DATA/security.
 * Returns 0 or -errno. */
int scram_store_save(const scram_store *s);
void scram_store_free(scram_store *s);
/* The credential of user for mech, or NULL. */
const scram_cred *scram_store_find(const scram_store *s, const char *user,
                                   int mech);
/* Does user have any credential? */
int scram_store_has_user(const scram_store *s, const char *user);
/* Add or replace user's credential for mech from a salted password
 * (PBKDF2's output, as AlterUserScramCredentials sends it). 0 or -ENOMEM
 * / -EINVAL (unknown mech, salt too long, bad length). */
int scram_store_put(scram_store *s, const char *user, int mech,
                    int32_t iterations, const uint8_t *salt, size_t salt_len,
                    const uint8_t *salted, size_t salted_len);
/* Remove it; 0, or -ENOENT if there was none. */
int scram_store_del(scram_store *s, const char *user, int mech);

/* SaltedPassword := Hi(password, salt, i) (PBKDF2 with HMAC-H) into
 * out[scram_hash_len(mech)]. 0 or -1. */
int scram_salted_password(int mech, const char *pw, size_t pwlen,
                          const uint8_t *salt, size_t salt_len, int32_t iter,
                          uint8_t *out);
/* Does password match cred (derived with its salt and iterations, the
 * keys compared in constant time)? 1 yes, 0 no. */
int scram_password_matches(const scram_cred *cred, const char *pw,
                           size_t pwlen);

/* Base64 (RFC 4648, padded). enc writes a NUL-terminated string into
 * out[4 * ((n + 2) / 3) + 1]; dec returns the decoded length or -1 for
 * anything but canonical padded base64, writing at most cap bytes. */
void scram_b64_enc(const uint8_t *in, size_t n, char *out);
long scram_b64_dec(const char *in, size_t n, uint8_t *out, size_t cap);

/* ---- mechanisms, server side -------------------------------------------- */

/* An exchange's outcome: more = the mechanism answers `out` and waits for
 * the next token; ok = authenticated as `user` (out may hold a last
 * message); fail = refused, `msg` is what SaslAuthenticate's error message
 * says (Kafka's words). */
enum { SASL_MORE = 0, SASL_OK = 1, SASL_FAIL = -1 };

/* PLAIN (RFC 4616): one token "authzid\0authcid\0password". Checks the
 * SCRAM credentials in `store` (any of the user's mechanisms) and, when
 * not NULL, the JAAS users of `jaas` (user_NAME="password" entries, as
 * Kafka's PlainLoginModule). user[] gets the authcid on SASL_OK. */
int sasl_plain(const scram_store *store, const char *jaas, const uint8_t *tok,
               size_t n, char *user, size_t ul, const char **msg);
/* The authcid of a PLAIN token into user[] (NUL-terminated): 0, or -1 when
 * the token is one sasl_plain refuses before looking at any credential. */
int sasl_plain_user(const uint8_t *tok, size_t n, char *user, size_t ul);

/* SCRAM's server (RFC 5802, as Kafka's ScramSaslServer). */
typedef struct scram_server {
  int mech;
  int step; /* 0 = waits for client-first, 1 = for client-final, 2 = done */
  char user[256];
  char *client_first_bare;
  char *server_first;
  const scram_cred *cred; /* NULL for an unknown user: fails at the end */
  scram_cred cred_copy;   /* cred's bytes, the store may change meanwhile */
} scram_server;

void scram_server_init(scram_server *s, int mech);
void scram_server_free(scram_server *s);
/* One token. On SASL_MORE or SASL_OK *out (malloc'ed, *outlen bytes) is the
 * answer; on SASL_OK s->user is who authenticated. */
int scram_server_step(scram_server *s, const scram_store *store,
                      const uint8_t *tok, size_t n, uint8_t **out,
                      size_t *outlen, const char **msg);

/* ---- OAUTHBEARER (sasl_oauth.c) ----------------------------------------- */

/* A listener's JWT validation settings, Kafka's names:
 * sasl.oauthbearer.jwks.endpoint.url (file:// only), .clock.skew.seconds
 * (30), .expected.audience (comma list), .expected.issuer,
 * .sub.claim.name ("sub"), .scope.claim.name ("scope"). */
typedef struct jwks jwks;
typedef struct sasl_oauth_config {
  jwks *keys;
  char *jwks_path;
  int64_t clock_skew_s;
  char *audience; /* comma-separated; NULL = not checked */
  char *issuer;   /* NULL = not checked */
  char *sub_claim;
  char *scope_claim;
} sasl_oauth_config;

/* Read the listener's settings and its key set. 0, or -1 with why[]. */
int sasl_oauth_configure(const broker_props *props, const char *listener,
                         sasl_oauth_config *c, char *why, size_t wl);
void sasl_oauth_config_free(sasl_oauth_config *c);
/* The milliseconds since the epoch (tokens' exp, nbf, iat). */
int64_t sasl_wall_ms(void);
/* One OAUTHBEARER token (RFC 7628 client message). SASL_OK: user[] is the
 * principal's name, *expiry_ms the token's exp. A refused token answers
 * SASL_MORE with Kafka's {"status":"invalid_token"} in *out, and the
 * client's next message (a lone 0x01) fails with msg[] set; malformed
 * messages fail at once. */
int sasl_oauth(const sasl_oauth_config *c, const uint8_t *tok, size_t n,
               char *user, size_t ul, int64_t *expiry_ms, uint8_t **out,
               size_t *outlen, char *msg, size_t ml);
/* A JWKS document (RFC 7517) into *out: its RSA and EC P-256 keys. 0, or
 * -1 with why[]. */
int jwks_parse(const char *json, size_t n, jwks **out, char *why, size_t wl);
void jwks_free(jwks *k);
/* Check a compact JWS (header.payload.signature) against keys: RS256 or
 * ES256, the key chosen by "kid" (or tried in turn without one). Returns
 * 0 and the decoded payload (malloc'ed, NUL-terminated) in *payload, or
 * -1 with why[]. */
int jwt_verify(const jwks *keys, const char *jwt, size_t n, char **payload,
               char *why, size_t wl);

/* ---- broker side (sasl.c) ----------------------------------------------- */

typedef struct sasl_state sasl_state;
/* Read the SCRAM credentials and every SASL listener's settings
 * (sasl.enabled.mechanisms, per listener too; GSSAPI is refused with a
 * message). 0, or a negative error with the reason logged. */
int sasl_init(broker *b);
void sasl_fini(broker *b);
void sasl_fini_state(sasl_state *st);
/* Before a request (API key `key`) is decoded: 0 to serve it, -1 to close
 * the connection (why[] says why), as Kafka's authenticator decides. */
int sasl_gate(kafka_req *r, int key, char *why, size_t wl);
/* After a SaslHandshake v0 the connection's frames are raw tokens. */
int sasl_raw_pending(net_conn *conn);
int sasl_raw_token(broker *b, net_conn *conn, net_req *req, net_frame *fr);

int handle_sasl_handshake(kafka_req *r);
int handle_sasl_authenticate(kafka_req *r);
int handle_describe_user_scram_credentials(kafka_req *r);
int handle_alter_user_scram_credentials(kafka_req *r);

#endif
