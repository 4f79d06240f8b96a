/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sasl.c — SaslHandshake (17), SaslAuthenticate (36) and the state of a
 * connection on a SASL_PLAINTEXT or SASL_SSL listener, as Kafka's
 * SaslServerAuthenticator keeps it; DescribeUserScramCredentials (50) and
 * AlterUserScramCredentials (51) over scram_store.c.
 *
 * A connection on a SASL listener starts unauthenticated. Until it is,
 * only ApiVersions and SaslHandshake are served (anything else closes the
 * connection without an answer, as Kafka's "Unexpected Kafka request of
 * type X during SASL handshake"); after a SaslHandshake v1 only
 * SaslAuthenticate is (Kafka answers others with ILLEGAL_SASL_STATE, then
 * closes: nodata closes, the client sees the same failed authentication).
 * A SaslHandshake v0 is followed by the mechanism's tokens framed by their
 * size alone, no request header, as clients before KIP-152 sent them.
 * An unsupported mechanism is answered UNSUPPORTED_SASL_MECHANISM with
 * the enabled list, a failed authentication SASL_AUTHENTICATION_FAILED
 * with Kafka's message; the connection closes after either answer.
 *
 * KIP-368: with connections.max.reauth.ms > 0 (or a token that expires,
 * OAUTHBEARER), SaslAuthenticate v1+ answers the session's lifetime; a
 * connection whose session expired and sends anything but a SaslHandshake
 * (which begins re-authentication) is closed, as Kafka's Processor does.
 * Re-authentication keeps the mechanism and the principal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "kafka.h"
#include "sasl.h"

enum {
  M_PLAIN,
  M_SCRAM_256,
  M_SCRAM_512,
  M_OAUTHBEARER,
  M_COUNT,
};
static const char *const mech_names[M_COUNT] = {"PLAIN", "SCRAM-SHA-256",
                                                "SCRAM-SHA-512", "OAUTHBEARER"};

/* nodata's default when sasl.enabled.mechanisms is unset. Kafka's is
 * GSSAPI, which nodata has not; SCRAM is the one that needs nothing but
 * the data directory and never sends a password, so it is the default. */
#define DEFAULT_MECHANISMS "SCRAM-SHA-512,SCRAM-SHA-256"

/* Per listener: its enabled mechanisms in configured order, the PLAIN
 * JAAS users, the re-authentication bound. */
typedef struct sasl_listener {
  int order[M_COUNT];
  int n;
  const char *jaas;      /* listener.name.<l>.plain.sasl.jaas.config */
  int64_t max_reauth_ms; /* connections.max.reauth.ms, 0 = off */
} sasl_listener;

typedef struct sasl_state {
  scram_store store;
  sasl_listener l[BROKER_MAX_LISTENERS];
  sasl_oauth_config oauth[BROKER_MAX_LISTENERS];
} sasl_state;

/* A connection's exchange. */
enum {
  S_HANDSHAKE, /* waits for ApiVersions or SaslHandshake */
  S_AUTH,      /* a mechanism chosen: SaslAuthenticate only */
  S_RAW,       /* the same after a v0 handshake: raw tokens */
  S_CHECKING,  /* a PLAIN password being checked on the worker */
  S_DONE,      /* authenticated */
  S_FAILED,    /* refused: the connection closes */
};

typedef struct sasl_conn {
  int state;
  int mech;   /* M_* */
  int reauth; /* re-authenticating: prev_* hold what may not change */
  int prev_mech;
  char prev_principal[512];
  int client_reauth;       /* sent a SaslAuthenticate v1+ (KIP-368 aware) */
  int64_t token_expiry_ms; /* OAUTHBEARER's exp, wall clock; 0 = none */
  scram_server scram;
} sasl_conn;

static sasl_state *state_of(broker *b) {
  kafka_state *k = b->kafka;
  return k ? k->sasl : NULL;
}

static void conn_free(kafka_session *s) {
  if (s->sasl) {
    scram_server_free(&s->sasl->scram);
    free(s->sasl);
    s->sasl = NULL;
  }
}

static sasl_conn *conn_of(kafka_session *s) {
  if (!s->sasl) {
    s->sasl = calloc(1, sizeof *s->sasl);
    if (s->sasl)
      s->on_free = conn_free;
  }
  return s->sasl;
}

/* ---- configuration ------------------------------------------------------ */

/* The listener's value of a property: listener.name.<lower name>.NAME
 * first, as Kafka's per-listener overrides, then NAME. */
static const char *listener_prop(broker *b, size_t li, const char *name) {
  return broker_props_listener(b->cfg.props, b->cfg.listeners[li].name, name);
}

static int parse_mechanisms(const char *list, sasl_listener *l, char *why,
                            size_t wl) {
  l->n = 0;
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    if (!*p)
      break;
    size_t n = strcspn(p, ", ");
    int m = -1;
    for (int i = 0; i < M_COUNT; i++)
      if (strlen(mech_names[i]) == n && !strncmp(p, mech_names[i], n))
        m = i;
    if (m < 0) {
      if (n == 6 && !strncmp(p, "GSSAPI", 6))
        snprintf(why, wl,
                 "GSSAPI (Kerberos) is not supported by nodata: set "
                 "sasl.enabled.mechanisms to some of PLAIN, SCRAM-SHA-256, "
                 "SCRAM-SHA-512, OAUTHBEARER (Kafka's default is GSSAPI; "
                 "nodata's is " DEFAULT_MECHANISMS ")");
      else
        snprintf(why, wl,
                 "sasl.enabled.mechanisms: unknown mechanism '%.*s' (nodata "
                 "has PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)",
                 (int)(n > 64 ? 64 : n), p);
      return -1;
    }
    int dup = 0;
    for (int i = 0; i < l->n; i++)
      dup |= l->order[i] == m;
    if (!dup)
      l->order[l->n++] = m;
    p += n;
  }
  if (!l->n) {
    snprintf(why, wl, "sasl.enabled.mechanisms is empty");
    return -1;
  }
  return 0;
}

int sasl_init(broker *b) {
  sasl_state *st = calloc(1, sizeof *st);
  if (!st)
    return -ENOMEM;
  char why[512];
  if (scram_store_load(b->cfg.data_dir ? b->cfg.data_dir : ".", &st->store, why,
                       sizeof why) < 0) {
    blog_error("sasl", "cannot read the SCRAM credentials: %s", why);
    free(st);
    return ND_ECORRUPT;
  }
  for (size_t i = 0; i < b->cfg.nlisteners; i++) {
    sec_protocol p = b->cfg.listeners[i].protocol;
    if (p != SEC_SASL_PLAINTEXT && p != SEC_SASL_SSL)
      continue;
    sasl_listener *l = &st->l[i];
    const char *mechs = listener_prop(b, i, "sasl.enabled.mechanisms");
    int rc = parse_mechanisms(mechs ? mechs : DEFAULT_MECHANISMS, l, why,
                              sizeof why);
    const char *reauth = listener_prop(b, i, "connections.max.reauth.ms");
    char *end = NULL;
    if (!rc && reauth &&
        ((l->max_reauth_ms = strtoll(reauth, &end, 10)) < 0 || *end ||
         end == reauth)) {
      snprintf(why, sizeof why,
               "connections.max.reauth.ms: '%s' is not a number of "
               "milliseconds >= 0",
               reauth);
      rc = -1;
    }
    l->jaas = listener_prop(b, i, "plain.sasl.jaas.config");
    for (int m = 0; !rc && m < l->n; m++)
      if (l->order[m] == M_OAUTHBEARER)
        rc = sasl_oauth_configure(b->cfg.props, b->cfg.listeners[i].name,
                                  &st->oauth[i], why, sizeof why);
    if (rc) {
      blog_error("sasl", "listener %s: %s", b->cfg.listeners[i].name, why);
      sasl_fini_state(st);
      return -EINVAL;
    }
  }
  ((kafka_state *)b->kafka)->sasl = st;
  return 0;
}

void sasl_fini_state(sasl_state *st) {
  if (!st)
    return;
  scram_store_free(&st->store);
  for (size_t i = 0; i < BROKER_MAX_LISTENERS; i++)
    sasl_oauth_config_free(&st->oauth[i]);
  free(st);
}

void sasl_fini(broker *b) {
  kafka_state *k = b->kafka;
  if (k) {
    sasl_fini_state(k->sasl);
    k->sasl = NULL;
  }
}

/* ---- the gate ----------------------------------------------------------- */

#define SASL_HANDSHAKE_KEY 17
#define SASL_AUTHENTICATE_KEY 36
#define API_VERSIONS_KEY 18

static int is_sasl(const kafka_session *s) {
  return s->protocol == SEC_SASL_PLAINTEXT || s->protocol == SEC_SASL_SSL;
}

int sasl_gate(kafka_req *r, int key, char *why, size_t wl) {
  kafka_session *s = r->session;
  if (!is_sasl(s))
    return 0;
  sasl_conn *c = conn_of(s);
  if (!c) {
    snprintf(why, wl, "out of memory");
    return -1;
  }
  switch (c->state) {
  case S_HANDSHAKE:
    if (key == API_VERSIONS_KEY || key == SASL_HANDSHAKE_KEY)
      return 0;
    snprintf(why, wl,
             "unexpected request (API key %d) during SASL handshake: "
             "connection closed, as Kafka does",
             key);
    return -1;
  case S_AUTH:
    if (key == SASL_AUTHENTICATE_KEY)
      return 0;
    snprintf(why, wl,
             "unexpected request (API key %d) during SASL authentication: "
             "connection closed, as Kafka does",
             key);
    return -1;
  case S_CHECKING:
    snprintf(why, wl,
             "unexpected request (API key %d) while SASL credentials are "
             "checked: connection closed",
             key);
    return -1;
  case S_DONE:
    break;
  default:
    snprintf(why, wl, "request after a failed SASL authentication");
    return -1;
  }
  /* Authenticated. A SaslHandshake from a client that can re-authenticate
   * begins re-authentication; otherwise an expired session ends here. */
  if (key == SASL_HANDSHAKE_KEY && c->client_reauth) {
    c->reauth = 1;
    c->prev_mech = c->mech;
    snprintf(c->prev_principal, sizeof c->prev_principal, "%s", s->principal);
    c->state = S_HANDSHAKE;
    return 0;
  }
  if (s->session_expiry_ms && net_now_ms() >= s->session_expiry_ms) {
    snprintf(why, wl,
             "authentication session expired (KIP-368 re-authentication "
             "not done): connection closed, as Kafka does");
    return -1;
  }
  return 0;
}

/* ---- SaslHandshake ------------------------------------------------------ */

static int handshake_reply(kafka_req *r, int16_t err, const sasl_listener *l) {
  kafka_sasl_handshake_response *resp =
      kf_new(&r->arena, &kafka_sasl_handshake_response_desc);
  int n = l ? l->n : 0;
  kf_str *names = n ? kf_alloc(&r->arena, (size_t)n * sizeof *names) : NULL;
  if (!resp || (n && !names))
    return -1;
  for (int i = 0; i < n; i++)
    names[i] = kf_s(mech_names[l->order[i]]);
  resp->error_code = err;
  resp->mechanisms.items = names;
  resp->mechanisms.count = n;
  kafka_respond(r, resp);
  return 0;
}

int handle_sasl_handshake(kafka_req *r) {
  kafka_sasl_handshake_request *req = r->body;
  kafka_session *s = r->session;
  sasl_state *st = state_of(r->b);
  sasl_conn *c = s->sasl;
  /* Not a SASL listener, or authenticated and not re-authenticating:
   * Kafka's request handler answers ILLEGAL_SASL_STATE. */
  if (!is_sasl(s) || !c || !st || c->state != S_HANDSHAKE)
    return handshake_reply(r, KERR_ILLEGAL_SASL_STATE, NULL);
  const sasl_listener *l = &st->l[s->listener];
  int m = -1;
  for (int i = 0; i < l->n; i++)
    if (kafka_cstr_ok(req->mechanism) &&
        !strcmp(req->mechanism.ptr, mech_names[l->order[i]]))
      m = l->order[i];
  net_conn *conn = r->conn;
  if (m < 0 || (c->reauth && m != c->prev_mech)) {
    int ml = req->mechanism.len > 0 && req->mechanism.len < 64
                 ? req->mechanism.len
                 : 0;
    kafka_log(r, BLOG_WARN,
              "SASL mechanism '%.*s' is not enabled on this listener%s: "
              "connection closed",
              ml, ml ? req->mechanism.ptr : "",
              c->reauth ? " or differs from the session's" : "");
    c->state = S_FAILED;
    /* Kafka counts it as a failed authentication: delayed as one. */
    int64_t delay_ms = r->b->cfg.failed_auth_delay_ms;
    if (handshake_reply(r, KERR_UNSUPPORTED_SASL_MECHANISM, l) < 0)
      return -1;
    net_conn_close_after(conn, delay_ms, "unsupported SASL mechanism");
    return 0;
  }
  c->mech = m;
  c->state = r->version == 0 ? S_RAW : S_AUTH;
  scram_server_free(&c->scram);
  if (m == M_SCRAM_256 || m == M_SCRAM_512)
    scram_server_init(&c->scram,
                      m == M_SCRAM_256 ? SCRAM_SHA_256 : SCRAM_SHA_512);
  return handshake_reply(r, KERR_NONE, l);
}

/* ---- SaslAuthenticate --------------------------------------------------- */

/* One token through the connection's mechanism. SASL_MORE/SASL_OK put the
 * answer in *out (malloc'ed); SASL_OK sets the principal and the session's
 * expiry, and *lifetime_ms; SASL_FAIL sets *msg (static or in msgbuf). */
static int token_done(broker *b, kafka_session *s, int rc, const char *user,
                      int64_t expiry_ms, uint8_t **out, int64_t *lifetime_ms,
                      const char **msg, char *msgbuf, size_t ml);

static int run_token(broker *b, kafka_session *s, const uint8_t *tok, size_t n,
                     uint8_t **out, size_t *outlen, int64_t *lifetime_ms,
                     const char **msg, char *msgbuf, size_t ml) {
  sasl_state *st = state_of(b);
  sasl_conn *c = s->sasl;
  const sasl_listener *l = &st->l[s->listener];
  char user[512] = "";
  int rc;
  *out = NULL;
  *outlen = 0;
  *msg = NULL;
  *lifetime_ms = 0;
  int64_t expiry_ms = 0; /* the credential's own end, wall clock */
  switch (c->mech) {
  case M_PLAIN:
    rc = sasl_plain(&st->store, l->jaas, tok, n, user, sizeof user, msg);
    break;
  case M_SCRAM_256:
  case M_SCRAM_512:
    rc = scram_server_step(&c->scram, &st->store, tok, n, out, outlen, msg);
    if (rc == SASL_OK)
      snprintf(user, sizeof user, "%s", c->scram.user);
    break;
  default:
    rc = sasl_oauth(&st->oauth[s->listener], tok, n, user, sizeof user,
                    &expiry_ms, out, outlen, msgbuf, ml);
    *msg = msgbuf;
    break;
  }
  return token_done(b, s, rc, user, expiry_ms, out, lifetime_ms, msg, msgbuf,
                    ml);
}

/* After a mechanism's step: a refusal's message, or on success the
 * session's principal and lifetime (a re-authentication may not change
 * the principal). */
static int token_done(broker *b, kafka_session *s, int rc, const char *user,
                      int64_t expiry_ms, uint8_t **out, int64_t *lifetime_ms,
                      const char **msg, char *msgbuf, size_t ml) {
  sasl_state *st = state_of(b);
  sasl_conn *c = s->sasl;
  const sasl_listener *l = &st->l[s->listener];
  if (rc == SASL_FAIL) {
    if (!*msg || !**msg) {
      snprintf(msgbuf, ml,
               "Authentication failed during %s due to invalid credentials "
               "with SASL mechanism %s",
               c->reauth ? "re-authentication" : "authentication",
               mech_names[c->mech]);
      *msg = msgbuf;
    }
    return rc;
  }
  if (rc == SASL_MORE && c->mech != M_OAUTHBEARER)
    return rc;
  if (rc == SASL_MORE)
    return rc; /* OAUTHBEARER's error: the client answers, then fails */
  char principal[sizeof s->principal];
  snprintf(principal, sizeof principal, "User:%s", user);
  if (c->reauth && strcmp(principal, c->prev_principal)) {
    /* Kafka prints principals as TYPE.NAME here. */
    const char *prev = c->prev_principal + 5, *now = principal + 5;
    snprintf(msgbuf, ml,
             "Cannot change principals during re-authentication from "
             "User.%s: User.%s",
             prev, now);
    *msg = msgbuf;
    free(*out);
    *out = NULL;
    return SASL_FAIL;
  }
  snprintf(s->principal, sizeof s->principal, "%s", principal);
  s->authenticated = 1;
  c->state = S_DONE;
  c->reauth = 0;
  /* Kafka's session lifetime: connections.max.reauth.ms, bounded by the
   * credential's expiry when there is one and re-authentication is on. */
  int64_t life = l->max_reauth_ms;
  if (life > 0 && expiry_ms > 0) {
    int64_t left = expiry_ms - sasl_wall_ms();
    if (left < life)
      life = left > 0 ? left : 0;
  }
  *lifetime_ms = life > 0 ? life : 0;
  s->session_expiry_ms = life > 0 ? net_now_ms() + life : 0;
  return SASL_OK;
}

/* SaslAuthenticate's answer to a token's outcome (run_token's). */
static int auth_respond(kafka_req *r, kafka_sasl_authenticate_response *resp,
                        int rc, uint8_t *out, size_t outlen, int64_t life,
                        const char *msg, int was_reauth) {
  kafka_session *s = r->session;
  sasl_conn *c = s->sasl;
  net_conn *conn = r->conn;
  if (rc == SASL_FAIL) {
    c->state = S_FAILED;
    resp->error_code = KERR_SASL_AUTHENTICATION_FAILED;
    resp->error_message = kafka_str(r, msg);
    kafka_log(r, BLOG_WARN, "SASL %s %s failed: %s: connection closed",
              mech_names[c->mech],
              was_reauth ? "re-authentication" : "authentication", msg);
    int64_t delay_ms = r->b->cfg.failed_auth_delay_ms;
    kafka_respond(r, resp); /* frees r */
    net_conn_close_after(conn, delay_ms, "SASL authentication failed");
    return 0;
  }
  resp->auth_bytes.ptr =
      outlen ? (uint8_t *)kafka_strn(r, (const char *)out, outlen).ptr
             : (uint8_t *)"";
  resp->auth_bytes.len = (int32_t)outlen;
  free(out);
  resp->session_lifetime_ms = life;
  resp->error_message = kf_null_str(); /* Kafka leaves it null */
  if (rc == SASL_OK)
    kafka_log(r, was_reauth ? BLOG_DEBUG : BLOG_INFO, "SASL %s %s as %s%s",
              mech_names[c->mech],
              was_reauth ? "re-authenticated" : "authenticated", s->principal,
              life ? " (session expires)" : "");
  kafka_respond(r, resp);
  return 0;
}

/* A PLAIN password checked against SCRAM credentials costs a PBKDF2 (4096
 * to 16384 iterations; a hand-written credential may have more): done on
 * an auth lane of the worker, so the loop serves everyone else meanwhile.
 * The job holds copies of what it reads (the store and the listener's
 * JAAS text may change on the loop). */
typedef struct plain_job {
  kafka_req *r;
  kafka_sasl_authenticate_response *resp;
  scram_store store; /* the user's credentials only */
  scram_cred creds[2];
  char *jaas;
  uint8_t *tok;
  size_t n;
  int rc, was_reauth;
  char user[512];
  const char *msg; /* static, from sasl_plain */
} plain_job;

static void plain_run(void *arg) {
  plain_job *j = arg;
  j->rc = sasl_plain(&j->store, j->jaas, j->tok, j->n, j->user, sizeof j->user,
                     &j->msg);
}

static int plain_answer(kafka_req *r, void *arg) {
  plain_job *j = arg;
  kafka_session *s = r->session;
  s->sasl->state = S_AUTH; /* as run_token finds it */
  uint8_t *out = NULL;
  int64_t life = 0;
  const char *msg = j->msg;
  char msgbuf[600];
  int rc = token_done(r->b, s, j->rc, j->user, 0, &out, &life, &msg, msgbuf,
                      sizeof msgbuf);
  return auth_respond(r, j->resp, rc, out, 0, life, msg, j->was_reauth);
}

static void plain_job_free(plain_job *j) {
  OPENSSL_cleanse(j->tok, j->n);
  free(j->tok);
  free(j->jaas);
  OPENSSL_cleanse(j->creds, sizeof j->creds);
  free(j);
}

static void plain_done(void *arg) {
  plain_job *j = arg;
  kafka_answer_parked(j->r, plain_answer, j);
  plain_job_free(j);
}

/* Park r and check its PLAIN token on the worker when that costs a
 * PBKDF2 (the user has SCRAM credentials); 1 if parked, 0 to check it
 * here, -1 when out of memory. */
static int plain_offload(kafka_req *r, kafka_sasl_authenticate_response *resp,
                         const uint8_t *tok, size_t n, int was_reauth) {
  sasl_state *st = state_of(r->b);
  kafka_session *s = r->session;
  char user[512];
  if (sasl_plain_user(tok, n, user, sizeof user) != 0)
    return 0; /* refused without a PBKDF2 */
  plain_job *j = calloc(1, sizeof *j);
  if (!j)
    return -1;
  for (int mech = SCRAM_SHA_256; mech <= SCRAM_SHA_512; mech++) {
    const scram_cred *c = scram_store_find(&st->store, user, mech);
    if (c) {
      j->creds[j->store.n] = *c;
      j->creds[j->store.n++].user = j->user;
    }
  }
  if (j->store.n == 0) {
    free(j);
    return 0; /* JAAS users only: a string compare */
  }
  snprintf(j->user, sizeof j->user, "%s", user);
  j->store.v = j->creds;
  const char *jaas = st->l[s->listener].jaas;
  j->r = r;
  j->resp = resp;
  j->was_reauth = was_reauth;
  j->n = n;
  j->tok = malloc(n ? n : 1);
  j->jaas = jaas ? strdup(jaas) : NULL;
  if (!j->tok || (jaas && !j->jaas)) {
    plain_job_free(j);
    return -1;
  }
  memcpy(j->tok, tok, n);
  uint32_t h = (uint32_t)(uintptr_t)r->conn;
  h ^= h >> 16;
  if (kafka_run_on_lane(r, WORKER_LANE_AUTH + (int)(h % WORKER_AUTH_LANES),
                        plain_run, plain_done, j) != 0) {
    plain_job_free(j);
    return -1;
  }
  s->sasl->state = S_CHECKING;
  return 1;
}

int handle_sasl_authenticate(kafka_req *r) {
  kafka_sasl_authenticate_request *req = r->body;
  kafka_session *s = r->session;
  sasl_conn *c = s->sasl;
  kafka_sasl_authenticate_response *resp =
      kf_new(&r->arena, &kafka_sasl_authenticate_response_desc);
  if (!resp)
    return -1;
  if (!is_sasl(s) || !c || c->state != S_AUTH || !state_of(r->b)) {
    resp->error_code = KERR_ILLEGAL_SASL_STATE;
    resp->error_message =
        kf_s("SaslAuthenticate request received after successful "
             "authentication");
    kafka_respond(r, resp);
    return 0;
  }
  if (r->version > 0)
    c->client_reauth = 1;
  const uint8_t *tok =
      req->auth_bytes.ptr ? req->auth_bytes.ptr : (const uint8_t *)"";
  size_t n = req->auth_bytes.len > 0 ? (size_t)req->auth_bytes.len : 0;
  int was_reauth = c->reauth;
  if (c->mech == M_PLAIN && r->b->worker) {
    int parked = plain_offload(r, resp, tok, n, was_reauth);
    if (parked != 0)
      return parked < 0 ? -1 : 0;
  }
  uint8_t *out;
  size_t outlen;
  int64_t life;
  const char *msg;
  char msgbuf[600];
  int rc = run_token(r->b, s, tok, n, &out, &outlen, &life, &msg, msgbuf,
                     sizeof msgbuf);
  return auth_respond(r, resp, rc, out, outlen, life, msg, was_reauth);
}

/* A SaslHandshake v0's raw tokens: the frame is the token, the answer is
 * the mechanism's bytes with a size in front and nothing else. */
int sasl_raw_pending(net_conn *conn) {
  kafka_session *s = net_conn_data(conn);
  return s && s->sasl && s->sasl->state == S_RAW;
}

int sasl_raw_token(broker *b, net_conn *conn, net_req *req, net_frame *fr) {
  kafka_session *s = net_conn_data(conn);
  uint8_t *out;
  size_t outlen;
  int64_t life;
  const char *msg;
  char msgbuf[600];
  int rc = run_token(b, s, fr->data, fr->len, &out, &outlen, &life, &msg,
                     msgbuf, sizeof msgbuf);
  net_frame_free(fr);
  if (rc == SASL_FAIL) {
    /* Without a header there is no error to send: Kafka closes. */
    s->sasl->state = S_FAILED;
    free(out);
    blog(BLOG_WARN, "sasl", NULL, 0,
         "%s: SASL %s authentication failed (v0 handshake): %s: connection "
         "closed",
         net_conn_peer(conn), mech_names[s->sasl->mech], msg);
    net_reply_none(conn, req);
    net_conn_close_after(conn, b->cfg.failed_auth_delay_ms,
                         "SASL authentication failed");
    return 0;
  }
  if (rc == SASL_MORE)
    s->sasl->state = S_RAW;
  uint8_t *buf = malloc(4 + outlen);
  if (!buf) {
    free(out);
    net_conn_set_error(conn, "out of memory");
    return -1;
  }
  buf[0] = (uint8_t)(outlen >> 24);
  buf[1] = (uint8_t)(outlen >> 16);
  buf[2] = (uint8_t)(outlen >> 8);
  buf[3] = (uint8_t)outlen;
  if (outlen)
    memcpy(buf + 4, out, outlen);
  free(out);
  /* PLAIN's success answers an empty token, as Kafka's PlainSaslServer
   * (an empty array, not null) makes it send. */
  net_reply(conn, req, buf, 4 + outlen);
  return 0;
}

/* ---- DescribeUserScramCredentials / AlterUserScramCredentials ----------- */

int handle_describe_user_scram_credentials(kafka_req *r) {
  kafka_describe_user_scram_credentials_request *req = r->body;
  sasl_state *st = state_of(r->b);
  const scram_store *store = st ? &st->store : NULL;
  kafka_describe_user_scram_credentials_response *resp =
      kf_new(&r->arena, &kafka_describe_user_scram_credentials_response_desc);
  if (!resp)
    return -1;
  /* With ACLs: DESCRIBE on the cluster (KafkaApis), else the error alone. */
  if (!kafka_authorize_cluster(r, ACL_OP_DESCRIBE)) {
    resp->error_code = KERR_CLUSTER_AUTHORIZATION_FAILED;
    resp->error_message = kf_s(kafka_err_text(resp->error_code));
    resp->results.count = 0;
    kafka_respond(r, resp);
    return 0;
  }
  /* The users to answer for: those asked, or every user with one. */
  int32_t nq = req->users.count > 0 ? req->users.count : 0;
  size_t cap = nq ? (size_t)nq : (store ? store->n : 0);
  const char **users = kf_alloc(&r->arena, (cap + 1) * sizeof *users);
  if (!users)
    return -1;
  size_t nu = 0;
  if (nq) {
    for (int32_t i = 0; i < nq; i++)
      users[nu++] = kafka_cstr_ok(req->users.items[i].name)
                        ? req->users.items[i].name.ptr
                        : "";
  } else {
    for (size_t i = 0; store && i < store->n; i++) {
      int seen = 0;
      for (size_t j = 0; j < nu && !seen; j++)
        seen = !strcmp(users[j], store->v[i].user);
      if (!seen)
        users[nu++] = store->v[i].user;
    }
  }
  kafka_describe_user_scram_credentials_response_result *res = kf_new_array(
      &r->arena, &kafka_describe_user_scram_credentials_response_result_desc,
      (int32_t)nu);
  if (nu && !res)
    return -1;
  int32_t n = 0;
  for (size_t i = 0; i < nu; i++) {
    /* A user asked twice is answered once, with DUPLICATE_RESOURCE. */
    int dup = 0, first = 1;
    for (size_t j = 0; j < nu; j++)
      if (j != i && !strcmp(users[j], users[i])) {
        dup = 1;
        if (j < i)
          first = 0;
      }
    if (!first)
      continue;
    kafka_describe_user_scram_credentials_response_result *x = &res[n++];
    x->user = kafka_str(r, users[i]);
    char msg[600];
    if (dup) {
      x->error_code = KERR_DUPLICATE_RESOURCE;
      snprintf(msg, sizeof msg,
               "Cannot describe SCRAM credentials for the same user twice in "
               "a single request: %s",
               users[i]);
      x->error_message = kafka_str(r, msg);
      continue;
    }
    kafka_describe_user_scram_credentials_response_credential_info *ci =
        kf_new_array(
            &r->arena,
            &kafka_describe_user_scram_credentials_response_credential_info_desc,
            2);
    if (!ci)
      return -1;
    int32_t k = 0;
    for (int mech = SCRAM_SHA_256; mech <= SCRAM_SHA_512; mech++) {
      const scram_cred *cr = scram_store_find(store, users[i], mech);
      if (cr) {
        ci[k].mechanism = (int8_t)mech;
        ci[k].iterations = cr->iterations;
        k++;
      }
    }
    if (!k) {
      x->error_code = KERR_RESOURCE_NOT_FOUND;
      snprintf(msg, sizeof msg,
               "Attempt to describe a user credential that does not exist: %s",
               users[i]);
      x->error_message = kafka_str(r, msg);
      continue;
    }
    x->credential_infos.items = ci;
    x->credential_infos.count = k;
  }
  resp->results.items = res;
  resp->results.count = n;
  kafka_respond(r, resp);
  return 0;
}

/* Kafka's controller checks (ScramControlManager): a user altered twice in
 * one request is DUPLICATE_RESOURCE, an empty name or an unknown
 * mechanism, too few or too many iterations are refused, a deletion of
 * what does not exist is RESOURCE_NOT_FOUND. The request applies as one:
 * the file is written once with every accepted change. */
int handle_alter_user_scram_credentials(kafka_req *r) {
  kafka_alter_user_scram_credentials_request *req = r->body;
  sasl_state *st = state_of(r->b);
  kafka_alter_user_scram_credentials_response *resp =
      kf_new(&r->arena, &kafka_alter_user_scram_credentials_response_desc);
  int32_t nd = req->deletions.count > 0 ? req->deletions.count : 0;
  int32_t nup = req->upsertions.count > 0 ? req->upsertions.count : 0;
  int32_t total = nd + nup;
  kafka_alter_user_scram_credentials_response_result *res = kf_new_array(
      &r->arena, &kafka_alter_user_scram_credentials_response_result_desc,
      total);
  /* Per operation: its user, the error (0 = to apply) and message. */
  const char **user = kf_alloc(&r->arena, ((size_t)total + 1) * sizeof *user);
  int16_t *err = kf_alloc(&r->arena, ((size_t)total + 1) * sizeof *err);
  const char **msg = kf_alloc(&r->arena, ((size_t)total + 1) * sizeof *msg);
  if (!resp || !st || (total && (!res || !user || !err || !msg)))
    return -1;
  /* With ACLs: ALTER on the cluster (KafkaApis), else every operation
   * refused. */
  int denied = !kafka_authorize_cluster(r, ACL_OP_ALTER);
  for (int32_t i = 0; i < total; i++) {
    kf_str name = i < nd ? req->deletions.items[i].name
                         : req->upsertions.items[i - nd].name;
    int8_t mech = i < nd ? req->deletions.items[i].mechanism
                         : req->upsertions.items[i - nd].mechanism;
    user[i] = kafka_cstr_ok(name) ? name.ptr : "";
    if (denied) {
      err[i] = KERR_CLUSTER_AUTHORIZATION_FAILED;
      msg[i] = "Cluster authorization failed.";
      continue;
    }
    /* Twice in the request: every operation of that user fails. */
    for (int32_t j = 0; j < total; j++) {
      kf_str other = j < nd ? req->deletions.items[j].name
                            : req->upsertions.items[j - nd].name;
      if (j != i && kafka_str_eq(name, other)) {
        err[i] = KERR_DUPLICATE_RESOURCE;
        msg[i] = "A user credential cannot be altered twice in the same "
                 "request";
      }
    }
    if (err[i])
      continue;
    if (!*user[i]) {
      err[i] = KERR_UNACCEPTABLE_CREDENTIAL;
      msg[i] = "Username must not be empty";
    } else if (!scram_mech_name(mech)) {
      err[i] = KERR_UNSUPPORTED_SASL_MECHANISM;
      msg[i] = "Unknown SCRAM mechanism";
    } else if (strlen(user[i]) > 255) {
      /* nodata's own bound (the credential file's lines). */
      err[i] = KERR_UNACCEPTABLE_CREDENTIAL;
      msg[i] = "User name longer than 255 bytes";
    } else if (i < nd) {
      if (!scram_store_find(&st->store, user[i], mech)) {
        err[i] = KERR_RESOURCE_NOT_FOUND;
        msg[i] = "Attempt to delete a user credential that does not exist";
      }
    } else {
      const kafka_alter_user_scram_credentials_request_scram_credential_upsertion
          *u = &req->upsertions.items[i - nd];
      if (u->iterations < SCRAM_MIN_ITERATIONS) {
        err[i] = KERR_UNACCEPTABLE_CREDENTIAL;
        msg[i] = "Too few iterations";
      } else if (u->iterations > SCRAM_MAX_ITERATIONS) {
        err[i] = KERR_UNACCEPTABLE_CREDENTIAL;
        msg[i] = "Too many iterations";
      } else if (u->salted_password.len != (int32_t)scram_hash_len(mech) ||
                 u->salt.len <= 0 || u->salt.len > SCRAM_MAX_SALT) {
        err[i] = KERR_UNACCEPTABLE_CREDENTIAL;
        msg[i] = "Invalid salt or salted password";
      }
    }
  }
  /* Apply to a copy, then write: a failed write changes nothing. */
  int changed = 0, rc = 0;
  for (int32_t i = 0; i < total && !rc; i++) {
    if (err[i])
      continue;
    changed = 1;
    if (i < nd) {
      scram_store_del(&st->store, user[i], req->deletions.items[i].mechanism);
    } else {
      const kafka_alter_user_scram_credentials_request_scram_credential_upsertion
          *u = &req->upsertions.items[i - nd];
      rc = scram_store_put(&st->store, user[i], u->mechanism, u->iterations,
                           u->salt.ptr, (size_t)u->salt.len,
                           u->salted_password.ptr,
                           (size_t)u->salted_password.len);
    }
  }
  if (changed && !rc)
    rc = scram_store_save(&st->store);
  if (rc) {
    /* Go back to what the file says. */
    char why[256];
    scram_store fresh;
    if (scram_store_load(r->b->cfg.data_dir ? r->b->cfg.data_dir : ".", &fresh,
                         why, sizeof why) == 0) {
      scram_store_free(&st->store);
      st->store = fresh;
    }
    kafka_log(r, BLOG_ERROR, "cannot write the SCRAM credentials: %s",
              strerror(rc < 0 ? -rc : rc));
  }
  for (int32_t i = 0; i < total; i++) {
    res[i].user = kafka_str(r, user[i]);
    if (!err[i] && rc) {
      res[i].error_code = KERR_UNKNOWN_SERVER_ERROR;
      res[i].error_message = kf_s("cannot write the SCRAM credentials");
    } else {
      res[i].error_code = err[i];
      res[i].error_message = err[i] ? kf_s(msg[i]) : kf_null_str();
    }
    if (!err[i] && !rc)
      kafka_log(r, BLOG_INFO, "SCRAM credential of user %s %s", user[i],
                i < nd ? "deleted" : "set");
  }
  /* Kafka answers one result per user. */
  int32_t n = 0;
  for (int32_t i = 0; i < total; i++) {
    int seen = 0;
    for (int32_t j = 0; j < n && !seen; j++)
      seen = kafka_str_eq(res[j].user, res[i].user);
    if (!seen)
      res[n++] = res[i];
  }
  resp->results.items = res;
  resp->results.count = n;
  kafka_respond(r, resp);
  return 0;
}
