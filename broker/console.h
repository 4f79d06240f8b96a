/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console.h — the web console's server side: the JSON API under /api of
 * the HTTP listener (docs/http-api.md) and the pages at / (console/,
 * embedded in the binary).
 *
 * The design in one rule: the console is a Kafka client of its own broker.
 * Every API call is answered by Kafka requests sent over loopback to one
 * of the broker's own listeners (over TLS when it has only SSL ones:
 * ck_target), as the caller's principal. So the console cannot do
 * anything that principal could not do with a Kafka client: the same
 * authentication (a login is a SASL handshake), the same ACLs, the same
 * validation and errors, the same quotas, and nothing the handlers do
 * needs a second path into the coordinators or the store.
 * Kafka's error names go through to the API's answers unchanged.
 *
 * The only thing read directly from the store is what Kafka's protocol
 * does not carry: the history the sampler keeps (rates, group lag over
 * the last 15 minutes), the data directory's disk, and the broker's own
 * counters (metrics.h).
 *
 * Threads: everything here runs on the console thread (http.c), one
 * request at a time; the HTTP thread only hands it /api/ calls and sends
 * its answers, so /health, /ready and /metrics never wait for it. A
 * Kafka round trip blocks the console thread, neither the HTTP thread nor
 * the Kafka loop (which answers it), and is bounded by CK_TIMEOUT_MS.
 *
 * Files, one concept each:
 *   console.c          dispatch, routes, query and body helpers, errors
 *   console_kafka.c    the blocking Kafka client over loopback (ck_*),
 *                      TLS included
 *   console_session.c  who is calling: login (SASL), cookies, expiry
 *   console_overview.c /api/overview and /api/history
 *   console_history.c  the sampler: rates and group lag, 15 minutes
 *   console_topics.c   /api/topics...
 *   console_messages.c /api/topics/{t}/partitions/{p}/messages, search,
 *                      download, produce
 *   console_groups.c   /api/groups...
 *   console_txn.c      /api/transactions, producers
 *   console_security.c /api/acls, /api/users
 *   console_assets.c   the built pages (generated at build time from
 *                      console/dist by console_assets.cmake)
 */
#ifndef ND_BROKER_CONSOLE_H
#define ND_BROKER_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "kafka_codec.h"
#include "nodata.h"
#include "security.h"

/* ---- the Kafka client --------------------------------------------------- */

/* A Kafka round trip (connect, handshake or one request) gives up after
 * this long: the console thread, and the calls queued behind, wait
 * meanwhile. */
#define CK_TIMEOUT_MS 10000

/* The broker's certificate as the local console expects it: the SHA-256
 * of the DER of the certificate its own listener serves now, into out.
 * Returns 0, or -1 when there is none. Called on the console thread. */
typedef int (*ck_pin_fn)(void *arg, unsigned char out[32]);

/* Which broker and listener the console talks to, and how.
 *
 * `nodata serve --http`: the broker's first PLAINTEXT or SASL_PLAINTEXT
 * listener (TLS over loopback would buy nothing); failing that its first
 * SASL_SSL, else SSL, listener that does not require client certificates,
 * over TLS to its own port, trusting exactly the certificate that listener
 * serves (pin, below). `nodata console`: --bootstrap, with TLS verified
 * against a CA file or the system's CAs and the host name checked. On a
 * SASL_* listener the console asks its users to log in.
 *
 * Plain data (console_new copies it): strings are arrays, pin_arg is the
 * caller's and must outlive the console. */
typedef struct ck_target {
  int found; /* 0: no such listener; why[] says so, and /api answers 503 */
  char why[512];
  char host[256]; /* where to connect: a wildcard bind becomes 127.0.0.1 */
  int port;
  sec_protocol protocol;
  char listener[64]; /* its name, for messages */
  /* On SASL_PLAINTEXT and SASL_SSL, the mechanisms the listener enables, in
   * the order the console tries them (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN),
   * comma-separated. */
  char mechanisms[128];
  /* On SSL and SASL_SSL (TLS 1.2 or later). With pin set, the broker must
   * present the certificate pin gives, and nothing else is checked (the
   * local console: it is its own certificate, whatever names it has).
   * Without, its chain is verified against ssl_ca (PEM CA certificates;
   * "" = the system's default paths) and its name against host, unless
   * ssl_no_host_check (Kafka's empty ssl.endpoint.identification.algorithm,
   * asked for by name). ssl_cert: a PEM client certificate chain for
   * listeners that require one ("" = none), its key in ssl_key ("" = in
   * ssl_cert's file), decrypted with ssl_key_password if set. The files are
   * read at each connection, so renewed ones need no restart. */
  char ssl_ca[1024];
  char ssl_cert[1024];
  char ssl_key[1024];
  char ssl_key_password[256];
  int ssl_no_host_check;
  ck_pin_fn pin;
  void *pin_arg;
} ck_target;

/* Load t's TLS files (CA, client certificate and key) as ck_open would,
 * without connecting: 0, or -1 with why[] naming the file and OpenSSL's
 * reason. 0 at once for a plaintext t. Thread-safe. */
int ck_tls_check(const ck_target *t, char *why, size_t whylen);

/* 1 when t's protocol is SSL or SASL_SSL. */
int ck_target_tls(const ck_target *t);

/* 1 when t's protocol is SASL_PLAINTEXT or SASL_SSL: callers log in. */
int ck_target_sasl(const ck_target *t);

/* "User:" and the certificate's subject as Kafka's DEFAULT principal
 * mapping writes it (RFC 2253), for the first certificate of the PEM file
 * `path`, into out. 0, or -1 with why[] naming the file and OpenSSL's
 * reason. Thread-safe. */
int ck_cert_principal(const char *path, char *out, size_t outlen, char *why,
                      size_t whylen);

typedef struct ck_conn ck_conn;

/* Connect to t (over TLS for SSL and SASL_SSL: the handshake and the
 * certificate checks of ck_target, each wait bounded by CK_TIMEOUT_MS)
 * and, with user != NULL, authenticate with SASL mechanism mech
 * ("SCRAM-SHA-256", "SCRAM-SHA-512" or "PLAIN"). Returns 0 with *out,
 * which the caller closes with ck_close; -1 when the broker cannot be
 * reached, its certificate is refused or it spoke nonsense (why[] names
 * the listener, its address and the reason: "certificate verify failed:
 * self-signed certificate in certificate chain"); -2 when authentication
 * failed (why[] then has the broker's message). One connection is used by
 * one thread at a time. */
int ck_open(const ck_target *t, const char *mech, const char *user,
            const char *password, ck_conn **out, char *why, size_t whylen);

/* Send one request (the struct of api `key`'s request schema, encoded at
 * `version`) and wait for its answer, decoded into a into *resp. Returns
 * 0; -1 when the connection failed (timeout, closed, malformed answer):
 * the connection is then unusable and must be closed. */
int ck_call(ck_conn *c, int16_t key, int16_t version, const void *req,
            kf_arena *a, void **resp, char *why, size_t whylen);

/* The principal the connection acts as: "User:NAME" after SASL, the
 * client certificate's (ck_cert_principal) on SSL with one, else
 * "User:ANONYMOUS". Valid until ck_close. */
const char *ck_principal(const ck_conn *c);

/* Close the connection and free c; NULL is a no-op. */
void ck_close(ck_conn *c);

/* Send a whole frame (size included) and read the answer's frame
 * (malloc'ed into *resp, its size excluded): for SASL's raw tokens and
 * ck_call. 0 or -1 with why. */
int ck_roundtrip(ck_conn *c, const uint8_t *frame, size_t len, uint8_t **resp,
                 size_t *resp_len, char *why, size_t whylen);
/* SASL on a fresh connection (console_sasl.c): SaslHandshake v1 and
 * SaslAuthenticate with mech. 0; -1 connection failed; -2 refused, why
 * has the broker's message. */
int ck_authenticate(ck_conn *c, const char *mech, const char *user,
                    const char *password, char *why, size_t whylen);

/* ---- the console -------------------------------------------------------- */

typedef struct console console;

struct console_config;
typedef struct console_config {
  ck_target target;
  int read_only;        /* --http-read-only: every mutating call is 403 */
  const char *data_dir; /* for the disk figures */
  const char *version;  /* ND_VERSION_STRING */
  /* `nodata console --bootstrap`: target is a remote Kafka-protocol
   * broker and there is no local store. The dispatcher then serves
   * without one (a local console answers 503 STARTING until its store is
   * open); the overview's disk, connections, rates and the history are
   * null/empty, as only the store has them (docs/http-api.md). */
  int remote;
  /* Which names a request's Host header may give (DNS rebinding: a page
   * of another site whose name has been pointed at 127.0.0.1 is, to the
   * browser, of the same origin as the console). Always allowed: IP
   * literals, localhost and *.localhost, and http_host (the --http host).
   * allowed_hosts: --http-allowed-hosts, a comma list of more names, or
   * "*" for any (behind a proxy that checks names itself); NULL = none. */
  char http_host[256];
  const char *allowed_hosts;
} console_config;

/* Made by http.c when the HTTP listener starts; *out owns copies. Returns
 * 0 or -ENOMEM. */
int console_new(const console_config *cfg, console **out);
/* The store is open (before this, /api answers 503 "starting"). */
void console_set_store(console *c, nd_store *store);
/* Called by the console thread (http.c) at least every
 * console_tick_ms(c): the sampler and session expiry. console_handle
 * and console_tick run on that one thread, never at once. */
void console_tick(console *c, int64_t now_ms);
/* How often console_tick is due: the sampler's interval, at most 1 s
 * (1 s for NULL). */
int64_t console_tick_ms(const console *c);
void console_free(console *c);

/* One HTTP request, as http.c parsed it. */
typedef struct console_req {
  const char *method;  /* "GET", "HEAD", "POST", "PUT", "DELETE" */
  const char *path;    /* as sent (not decoded), without the query */
  const char *query;   /* raw, after '?', "" if none */
  const char *headers; /* the header block, "Name: value\r\n"... */
  const char *body;    /* body_len bytes (Content-Length), or NULL */
  size_t body_len;
  /* The client's address, "HOST:PORT" ("[v6]:PORT"), for the log lines of
   * logins; NULL when unknown. */
  const char *peer;
} console_req;

/* The answer: status, a JSON body (or raw bytes), extra header lines. */
typedef struct console_resp {
  int status;
  const char *content_type; /* NULL: application/json */
  jw json;                  /* the body, unless raw is set */
  char *raw;                /* malloc'ed body bytes (downloads) */
  size_t raw_len;
  char headers[1024]; /* extra lines, each ending "\r\n" (Set-Cookie...) */
} console_resp;

/* Answer rq: any path under /api/. Never fails to fill rs (an error is
 * an answer). http.c frees rs->json and rs->raw after sending. */
void console_handle(console *c, const console_req *rq, console_resp *rs,
                    int64_t now_ms);

/* The built page for `path` ("/" is index.html; the pages route
 * themselves by the URL's fragment, #/topics/..., so any other path is a
 * file of console/dist or nothing). Returns 1 with the bytes (static,
 * never freed), their content type and whether they may be cached for
 * ever (hashed names under /assets/); 0 when there is no such file.
 * Generated at build time (broker/console_assets.cmake); thread-safe. */
int console_asset(const char *path, const uint8_t **data, size_t *len,
                  const char **content_type, int *immutable);

/* ---- for the route handlers --------------------------------------------- */

typedef struct console_session console_session;
typedef struct console_route console_route;

/* One API call in progress: what a handler reads and writes. */
typedef struct console_call {
  console *con;
  const console_req *rq;
  console_resp *rs;
  int64_t now_ms;
  nd_store *store; /* open store (the dispatcher checked); NULL if remote */
  const console_route *route;
  console_session *session; /* NULL: anonymous */
  ck_conn *k; /* the caller's Kafka connection; console_kafka opens it */
  const char *params[4]; /* the {} parts of the route's path, decoded */
  kf_arena arena; /* for Kafka requests and answers; freed after the call */
  jv *body_json;  /* console_body's parse, freed after the call */
} console_call;

typedef int (*console_route_fn)(console_call *cc);

/* A route: method and path pattern, "{}" matching one path segment. */
struct console_route {
  const char *method;
  const char *pattern;
  console_route_fn fn;
  unsigned flags; /* CONSOLE_* */
};

enum {
  /* Changes something: refused in read-only mode and from a page of
   * another origin, and a POST must carry Content-Type: application/json
   * (so a browser cannot send it from another site without a CORS
   * preflight, which the console never grants). */
  CONSOLE_MUTATES = 1,
  /* Answered without a login (the session and login calls). */
  CONSOLE_PUBLIC = 2,
  /* Checked as CONSOLE_MUTATES is for the origin and a POST's content
   * type, but served in read-only mode too (login, logout: a page of
   * another site must not log a browser in or out). */
  CONSOLE_SAME_ORIGIN = 4,
};

/* Each file's routes, ended by {NULL}. console.c tries them in order. */
extern const console_route console_session_routes[];
extern const console_route console_overview_routes[];
extern const console_route console_topic_routes[];
extern const console_route console_message_routes[];
extern const console_route console_group_routes[];
extern const console_route console_txn_routes[];
extern const console_route console_security_routes[];

/* Send one Kafka request as the caller (console_session's connection, or
 * the anonymous one), decoded answer in *resp. On failure the answer is
 * already set (502 "broker connection failed: ...") and -1 is returned:
 * the handler returns -1 too. */
int console_kafka(console_call *cc, int16_t key, int16_t version,
                  const void *req, void **resp);
/* A new request struct of api `key` at its schema defaults, in cc->arena. */
void *console_new_req(console_call *cc, int16_t key);

/* Answer with {"error":{"code":code,"message":...}} and status. Returns
 * -1 (so a handler can `return console_error(...)`). */
int console_error(console_call *cc, int status, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answer a Kafka error: its name as the code, Kafka's message (or the
 * code's text) as the message, and the HTTP status that fits: 403 for
 * *_AUTHORIZATION_FAILED, 404 UNKNOWN_TOPIC_OR_PARTITION/GROUP_ID_NOT_FOUND,
 * 409 *_ALREADY_EXISTS/NON_EMPTY_GROUP, 400 INVALID_* and POLICY_VIOLATION,
 * 503 for retriable ones, 500 otherwise. `what` names the object
 * ("topic orders"). Returns -1. */
int console_kafka_error(console_call *cc, int16_t code, kf_str message,
                        const char *what);
/* The HTTP status console_kafka_error would use. */
int console_kafka_status(int16_t code);

/* The JSON body of the answer (status 200 unless changed). */
jw *console_json(console_call *cc);

/* Query parameter `name`, percent-decoded, into buf: 1 if present, 0 if
 * not. */
int console_query(console_call *cc, const char *name, char *buf, size_t cap);
/* An integer query parameter: absent gives def; present must be a whole
 * number in [min, max], else the call is answered 400 and -1 returned. */
int console_query_int(console_call *cc, const char *name, int64_t def,
                      int64_t min, int64_t max, int64_t *out);
/* The request body as JSON (parsed once). NULL when it is missing or not
 * JSON: the answer is then 400 with the parser's reason. */
const jv *console_body(console_call *cc);
/* The value of request header `name` into buf; 1 if present. */
int console_header(const console_req *rq, const char *name, char *buf,
                   size_t cap);
/* The same in a raw header block ("Name: value\r\n"...): http.c's too.
 * The value's surrounding blanks are dropped; a longer value is cut to
 * cap - 1 bytes. */
int console_header_in(const char *hdrs, const char *name, char *buf,
                      size_t cap);
/* The value of one hex digit, or -1. */
int console_hexval(char c);

/* ---- sessions (console_session.c) --------------------------------------- */

/* Who is calling: finds the session of the request's cookie, and decides
 * whether the call may go on. Returns 0 (cc->session set, or NULL for the
 * anonymous caller on a PLAINTEXT listener); -1 with a 401 answer when the
 * listener needs a login and there is none. */
int console_session_enter(console_call *cc);
/* The Kafka connection of cc's caller, opened (anonymous) or kept (the
 * session's) as needed; NULL with a 502 answer on failure. */
ck_conn *console_session_conn(console_call *cc);
/* The connection failed: drop it (a session then ends: the user must log
 * in again, as the password is not kept; cc->session becomes NULL and the
 * answer's headers clear the cookie). */
void console_session_conn_failed(console_call *cc);
/* Expire idle sessions. */
void console_sessions_tick(console *c, int64_t now_ms);
void console_sessions_free(console *c);

/* ---- history (console_history.c) ---------------------------------------- */

/* Sampled every CONSOLE_SAMPLE_MS, CONSOLE_HISTORY samples kept (15 min). */
#define CONSOLE_SAMPLE_MS 5000
#define CONSOLE_HISTORY 180

typedef struct console_sample {
  int64_t t_ms; /* wall clock, ms since the epoch */
  /* Rates over the interval that ended at t_ms (per second). */
  double produce_records, produce_bytes;
  double fetch_records, fetch_bytes;
  /* fsync latency of the interval in ms (from the store's histogram):
   * -1 when none happened. */
  double fsync_p50_ms, fsync_p99_ms;
} console_sample;

typedef struct console_history console_history;

console_history *console_history_new(void);
void console_history_free(console_history *h);
/* Take a sample if CONSOLE_SAMPLE_MS passed since the last (the sampler
 * reads metrics.h's counters and the store). */
void console_history_tick(console_history *h, nd_store *store, int64_t now_ms);
/* The samples, oldest first, into out (up to cap); returns how many. */
size_t console_history_samples(const console_history *h, console_sample *out,
                               size_t cap);
/* A topic's produce rate in records/s over the last interval; -1 when not
 * sampled yet. */
double console_history_topic_rate(const console_history *h, const char *topic);
/* A group's total lag over time, oldest first: returns how many samples
 * (0 for a group never sampled). */
size_t console_history_group_lag(const console_history *h, const char *group,
                                 int64_t *t_ms, int64_t *lag, size_t cap);
/* The time between samples in ms: CONSOLE_SAMPLE_MS, or what
 * NODATA_CONSOLE_SAMPLE_MS in the environment says (100 to 60000; for
 * tests, docs/serve.md). The answers' "interval_s" is this. */
int64_t console_history_interval_ms(const console_history *h);
/* The "interval_s" member of a history answer: whole seconds as an
 * integer, a test's shorter interval as a fraction. */
void console_history_write_interval(jw *w, const console_history *h);
/* The console's sampler (for handlers). */
console_history *console_history_of(console *c);
/* Facts of the console for /api/overview. */
const console_config *console_config_of(console *c);

/* ---- the console's state (console.c owns it) ----------------------------- */

#define CONSOLE_MAX_SESSIONS 64

/* Failed logins from one client address (console_session.c): after
 * CONSOLE_LOGIN_FREE_FAILURES in a row, each further login from there
 * waits 1 s, then 2, 4... up to CONSOLE_LOGIN_MAX_WAIT_MS, until one
 * succeeds. CONSOLE_LOGIN_ADDRS addresses are remembered, the least
 * recently failing forgotten first. */
#define CONSOLE_LOGIN_FREE_FAILURES 5
#define CONSOLE_LOGIN_MAX_WAIT_MS 60000
#define CONSOLE_LOGIN_ADDRS 256

typedef struct console_login_failures {
  char addr[64]; /* the client's address, without its port; "" = free */
  int count;     /* failed logins in a row */
  int64_t not_before_ms, last_ms;
} console_login_failures;

struct console_session {
  char id[65];    /* the cookie's value: 32 random bytes in hex; "" = free */
  char user[256]; /* as logged in */
  ck_conn *k;     /* authenticated as user; NULL once it failed */
  int64_t created_ms, last_ms;
};

struct console {
  console_config cfg; /* strings copied */
  char data_dir[4096];
  char version[64];
  char allowed_hosts[1024];
  nd_store *_Atomic store;
  int64_t started_ms; /* wall clock */
  console_history *history;
  ck_conn *anon; /* the anonymous caller's connection (PLAINTEXT, SSL) */
  console_session sessions[CONSOLE_MAX_SESSIONS];
  console_login_failures failures[CONSOLE_LOGIN_ADDRS];
};

#endif
