/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_session.c — who is calling the console's API, and over which
 * Kafka connection (console.h).
 *
 * On a PLAINTEXT or SSL listener every caller is User:ANONYMOUS (on SSL
 * with `nodata console --ssl-cert`, the certificate's principal), as on
 * that listener's Kafka port, and shares one connection.
 *
 * On a SASL_PLAINTEXT or SASL_SSL listener a caller logs in: POST
 * /api/login performs the SASL exchange on a new connection
 * (console_sasl.c), and the session is that authenticated connection,
 * named by a cookie:
 *   nd_session=<64 hex digits: 32 bytes from getrandom>; HttpOnly;
 *   SameSite=Strict; Path=/
 * The password is used for the exchange and forgotten, so a session lives
 * exactly as long as its connection: when the connection fails (broker
 * restart, KIP-368 re-authentication due) or is idle for
 * CONSOLE_IDLE_MS, the session ends and the user logs in again. At most
 * CONSOLE_MAX_SESSIONS live at once: a login beyond that ends the session
 * idle the longest. Cookies are compared in constant time, so timing does
 * not tell how much of a guess was right.
 *
 * Guessing passwords: the broker answers a failed SASL authentication
 * connection.failed.authentication.delay.ms late (100 ms), which alone
 * still allows ten guesses a second, each holding the console thread
 * that all users share. So failed logins are also counted per client
 * address (console.h, CONSOLE_LOGIN_*): past five in a row, a login from
 * that address is refused at once, 429 LOGIN_THROTTLED with Retry-After,
 * for 1 s, then 2, 4... up to a minute, until one succeeds. Per address,
 * not per user name: guessing across many users is slowed as well, and a
 * locked-out user can still log in from elsewhere. Behind a proxy every
 * user shares its address: a guesser there delays them all (by a minute
 * at most).
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "console.h"
#include "logline.h"

/* A session unused this long ends (docs/http-api.md). */
#define CONSOLE_IDLE_MS (30 * 60 * 1000)

/* The mechanisms the console can log in with, in the order it prefers
 * them when the login names none: SCRAM never sends the password. */
static const char *const console_mechs[] = {"SCRAM-SHA-512", "SCRAM-SHA-256",
                                            "PLAIN"};
#define N_MECHS (sizeof console_mechs / sizeof *console_mechs)

static int needs_login(const console *c) {
  return ck_target_sasl(&c->cfg.target);
}

/* Does the target listener enable mech (its comma list, blanks around
 * names allowed)? */
static int enabled(const console *c, const char *mech) {
  size_t ml = strlen(mech);
  for (const char *p = c->cfg.target.mechanisms; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *e = p;
    while (*e && *e != ',')
      e++;
    const char *t = e;
    while (t > p && t[-1] == ' ')
      t--;
    if ((size_t)(t - p) == ml && memcmp(p, mech, ml) == 0)
      return 1;
    p = e;
  }
  return 0;
}

/* A user name fit for a log line: control bytes become '?'. */
static void printable(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && o + 1 < cap; s++)
    out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
  out[o] = 0;
}

/* The caller's address for a log line. */
static const char *from(const console_call *cc) {
  return cc->rq->peer ? cc->rq->peer : "an unknown address";
}

/* The address of the caller, without its port ("[v6]:p" gives "v6"). */
static void addr_of(const console_call *cc, char *out, size_t cap) {
  const char *p = cc->rq->peer ? cc->rq->peer : "";
  size_t n = strlen(p);
  const char *colon = strrchr(p, ':');
  if (colon)
    n = (size_t)(colon - p);
  if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
    p++;
    n -= 2;
  }
  snprintf(out, cap, "%.*s", (int)n, p);
}

/* The failures of addr, or NULL; with make, a slot for it (the least
 * recently failing one's when all are taken). */
static console_login_failures *failures_of(console *c, const char *addr,
                                           int make) {
  console_login_failures *free_slot = NULL, *oldest = NULL;
  for (size_t i = 0; i < CONSOLE_LOGIN_ADDRS; i++) {
    console_login_failures *f = &c->failures[i];
    if (f->count && !strcmp(f->addr, addr))
      return f;
    if (!f->count && !free_slot)
      free_slot = f;
    if (f->count && (!oldest || f->last_ms < oldest->last_ms))
      oldest = f;
  }
  if (!make)
    return NULL;
  console_login_failures *f = free_slot ? free_slot : oldest;
  memset(f, 0, sizeof *f);
  snprintf(f->addr, sizeof f->addr, "%s", addr);
  return f;
}

static void end_session(console_session *s, const char *why) {
  if (!s->id[0])
    return;
  char u[128];
  printable(s->user, u, sizeof u);
  blog_info("console", "session of user %s ended: %s", u, why);
  ck_close(s->k);
  OPENSSL_cleanse(s->id, sizeof s->id);
  memset(s, 0, sizeof *s);
}

/* The session whose id the request's nd_session cookie holds, or NULL.
 * Every live slot is compared in full, in constant time. */
static console_session *find(console *c, const console_req *rq) {
  char cookies[2048];
  if (!console_header(rq, "Cookie", cookies, sizeof cookies))
    return NULL;
  const char *v = NULL;
  for (const char *p = cookies; *p;) {
    while (*p == ' ' || *p == ';')
      p++;
    if (!strncmp(p, "nd_session=", 11)) {
      v = p + 11;
      break;
    }
    p = strchr(p, ';');
    if (!p)
      break;
  }
  if (!v)
    return NULL;
  size_t vl = strcspn(v, "; ");
  if (vl != 64)
    return NULL;
  console_session *found = NULL;
  for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
    console_session *s = &c->sessions[i];
    if (s->id[0] && CRYPTO_memcmp(s->id, v, 64) == 0)
      found = s;
  }
  return found;
}

int console_session_enter(console_call *cc) {
  console *c = cc->con;
  cc->session = NULL;
  if (!needs_login(c))
    return 0;
  console_session *s = find(c, cc->rq);
  if (s && cc->now_ms - s->last_ms > CONSOLE_IDLE_MS) {
    end_session(s, "idle for 30 minutes");
    s = NULL;
  }
  if (s) {
    s->last_ms = cc->now_ms;
    cc->session = s;
    return 0;
  }
  if (cc->route && (cc->route->flags & CONSOLE_PUBLIC))
    return 0;
  console_error(cc, 401, "NOT_LOGGED_IN",
                "listener %s authenticates its clients: log in "
                "(POST /api/login) with a SASL/SCRAM user",
                c->cfg.target.listener);
  return -1;
}

ck_conn *console_session_conn(console_call *cc) {
  console *c = cc->con;
  if (cc->session) {
    if (cc->session->k)
      return cc->session->k;
    console_error(cc, 401, "NOT_LOGGED_IN", "the session ended: log in again");
    return NULL;
  }
  if (needs_login(c)) {
    console_error(cc, 401, "NOT_LOGGED_IN",
                  "listener %s authenticates its clients: log in first",
                  c->cfg.target.listener);
    return NULL;
  }
  if (c->anon)
    return c->anon;
  char why[512];
  if (ck_open(&c->cfg.target, NULL, NULL, NULL, &c->anon, why, sizeof why) !=
      0) {
    console_error(cc, 502, "BROKER_CONNECTION_FAILED", "%s", why);
    return NULL;
  }
  return c->anon;
}

void console_session_conn_failed(console_call *cc) {
  if (cc->session) {
    /* Without the password there is no reconnecting: the session ends,
     * and the browser's cookie with it. */
    end_session(cc->session, "its connection to the broker failed");
    cc->session = NULL;
    snprintf(cc->rs->headers, sizeof cc->rs->headers,
             "Set-Cookie: nd_session=; Max-Age=0; HttpOnly; "
             "SameSite=Strict; Path=/\r\n");
    return;
  }
  ck_close(cc->con->anon);
  cc->con->anon = NULL;
}

void console_sessions_tick(console *c, int64_t now_ms) {
  if (!c)
    return;
  for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++)
    if (c->sessions[i].id[0] &&
        now_ms - c->sessions[i].last_ms > CONSOLE_IDLE_MS)
      end_session(&c->sessions[i], "idle for 30 minutes");
}

void console_sessions_free(console *c) {
  for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++)
    if (c->sessions[i].id[0]) {
      ck_close(c->sessions[i].k);
      memset(&c->sessions[i], 0, sizeof c->sessions[i]);
    }
  ck_close(c->anon);
  c->anon = NULL;
}

/* ---- routes ------------------------------------------------------------- */

static int get_session(console_call *cc) {
  jw *w = console_json(cc);
  const console_config *cfg = console_config_of(cc->con);
  int sasl = needs_login(cc->con);
  jw_obj(w);
  jw_kstr(w, "auth", sasl ? "sasl" : "none");
  jw_key(w, "mechanisms");
  jw_arr(w);
  for (size_t i = 0; sasl && i < N_MECHS; i++)
    if (enabled(cc->con, console_mechs[i]))
      jw_str(w, console_mechs[i]);
  jw_end(w);
  if (cc->session) {
    char principal[300];
    snprintf(principal, sizeof principal, "User:%s", cc->session->user);
    jw_kstr(w, "user", cc->session->user);
    jw_kstr(w, "principal", principal);
  } else {
    char principal[600] = "User:ANONYMOUS", why[256];
    const ck_target *t = &cfg->target;
    if (t->protocol == SEC_SSL && t->ssl_cert[0])
      ck_cert_principal(t->ssl_cert, principal, sizeof principal, why,
                        sizeof why);
    jw_kstr(w, "user", NULL);
    jw_kstr(w, "principal", sasl ? NULL : principal);
  }
  jw_kbool(w, "read_only", cfg->read_only);
  jw_kstr(w, "listener", cfg->target.listener);
  jw_end(w);
  return 0;
}

/* A free slot, else the one idle the longest (its session ends). */
static console_session *slot(console *c) {
  console_session *oldest = &c->sessions[0];
  for (size_t i = 0; i < CONSOLE_MAX_SESSIONS; i++) {
    console_session *s = &c->sessions[i];
    if (!s->id[0])
      return s;
    if (s->last_ms < oldest->last_ms)
      oldest = s;
  }
  end_session(oldest, "idle the longest when the session table was full");
  return oldest;
}

static int login(console_call *cc) {
  console *c = cc->con;
  if (!needs_login(c))
    return console_error(cc, 400, "LOGIN_NOT_NEEDED",
                         "listener %s authenticates no one: every caller is "
                         "User:ANONYMOUS",
                         c->cfg.target.listener);
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  const char *user = jv_as_str(jv_get(b, "username"));
  const char *pw = jv_as_str(jv_get(b, "password"));
  const jv *mv = jv_get(b, "mechanism");
  const char *mech = jv_as_str(mv);
  if (!user || !*user || !pw || strlen(user) != jv_get(b, "username")->len ||
      strlen(pw) != jv_get(b, "password")->len)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "login takes {\"username\": \"...\", \"password\": "
                         "\"...\", \"mechanism\"?: \"SCRAM-SHA-512\"} "
                         "(strings without NUL)");
  if (strlen(user) >= sizeof cc->session->user)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "user name longer than %zu bytes",
                         sizeof cc->session->user - 1);
  if (mv && mv->type != JV_NULL) {
    int known = 0;
    for (size_t i = 0; mech && i < N_MECHS; i++)
      known |= !strcmp(mech, console_mechs[i]);
    if (!known || !enabled(c, mech))
      return console_error(
          cc, 400, "UNSUPPORTED_SASL_MECHANISM",
          "mechanism %s: listener %s enables %s, and the console logs in "
          "with SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN",
          mech ? mech : "(not a string)", c->cfg.target.listener,
          c->cfg.target.mechanisms);
  } else {
    mech = NULL;
    for (size_t i = 0; !mech && i < N_MECHS; i++)
      if (enabled(c, console_mechs[i]))
        mech = console_mechs[i];
    if (!mech)
      return console_error(cc, 400, "UNSUPPORTED_SASL_MECHANISM",
                           "listener %s enables %s: none the console can log "
                           "in with (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN)",
                           c->cfg.target.listener, c->cfg.target.mechanisms);
  }
  char u[128], addr[64];
  printable(user, u, sizeof u);
  addr_of(cc, addr, sizeof addr);
  console_login_failures *f = failures_of(c, addr, 0);
  if (f && cc->now_ms < f->not_before_ms) {
    int64_t wait_s = (f->not_before_ms - cc->now_ms + 999) / 1000;
    snprintf(cc->rs->headers, sizeof cc->rs->headers, "Retry-After: %lld\r\n",
             (long long)wait_s);
    return console_error(cc, 429, "LOGIN_THROTTLED",
                         "%d failed logins in a row from %s: the next one "
                         "is taken in %lld s",
                         f->count, addr[0] ? addr : "this address",
                         (long long)wait_s);
  }
  /* A login replaces the caller's session (no fixation of an old id). */
  if (cc->session) {
    end_session(cc->session, "the browser logged in again");
    cc->session = NULL;
  }
  ck_conn *k = NULL;
  char why[512];
  int rc = ck_open(&c->cfg.target, mech, user, pw, &k, why, sizeof why);
  if (rc == -2) {
    f = failures_of(c, addr, 1);
    f->count++;
    f->last_ms = cc->now_ms;
    int over = f->count - CONSOLE_LOGIN_FREE_FAILURES;
    int64_t wait_ms = 0;
    if (over >= 0) {
      wait_ms = over >= 16 ? CONSOLE_LOGIN_MAX_WAIT_MS : 1000LL << over;
      if (wait_ms > CONSOLE_LOGIN_MAX_WAIT_MS)
        wait_ms = CONSOLE_LOGIN_MAX_WAIT_MS;
      f->not_before_ms = cc->now_ms + wait_ms;
    }
    char then[96] = "";
    if (wait_ms)
      snprintf(then, sizeof then,
               " (%d in a row from there: its next login waits %lld s)",
               f->count, (long long)(wait_ms / 1000));
    blog_info("console", "login refused: user %s, %s, from %s: %s%s", u, mech,
              from(cc), why, then);
    return console_error(cc, 401, "SASL_AUTHENTICATION_FAILED", "%s", why);
  }
  if (rc < 0)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED", "%s", why);
  uint8_t raw[32];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
    ck_close(k);
    return console_error(cc, 500, "INTERNAL_ERROR",
                         "getrandom failed: no session id");
  }
  console_session *s = slot(c);
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
  OPENSSL_cleanse(raw, sizeof raw);
  snprintf(s->user, sizeof s->user, "%s", user);
  s->k = k;
  s->created_ms = s->last_ms = cc->now_ms;
  cc->session = s;
  if ((f = failures_of(c, addr, 0)) != NULL)
    memset(f, 0, sizeof *f); /* a success ends the address's run */
  blog_info("console", "login: user %s, %s, from %s", u, mech, from(cc));
  snprintf(cc->rs->headers, sizeof cc->rs->headers,
           "Set-Cookie: nd_session=%s; HttpOnly; SameSite=Strict; Path=/\r\n",
           s->id);
  jw *w = console_json(cc);
  jw_obj(w);
  jw_kstr(w, "user", s->user);
  jw_kstr(w, "principal", ck_principal(k));
  jw_kstr(w, "mechanism", mech);
  jw_end(w);
  return 0;
}

static int logout(console_call *cc) {
  if (cc->session) {
    char u[128];
    printable(cc->session->user, u, sizeof u);
    blog_info("console", "logout: user %s, from %s", u, from(cc));
    end_session(cc->session, "logged out");
    cc->session = NULL;
  }
  cc->rs->status = 204;
  snprintf(cc->rs->headers, sizeof cc->rs->headers,
           "Set-Cookie: nd_session=; Max-Age=0; HttpOnly; SameSite=Strict; "
           "Path=/\r\n");
  return 0;
}

const console_route console_session_routes[] = {
    {"GET", "/api/session", get_session, CONSOLE_PUBLIC},
    /* Not CONSOLE_MUTATES (a read-only console still takes logins), but
     * checked as such for the origin and the content type: a page of
     * another site must not log a browser in or out. */
    {"POST", "/api/login", login, CONSOLE_PUBLIC | CONSOLE_SAME_ORIGIN},
    {"POST", "/api/logout", logout, CONSOLE_PUBLIC | CONSOLE_SAME_ORIGIN},
    {NULL, NULL, NULL, 0},
};
