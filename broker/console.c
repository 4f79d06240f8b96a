/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console.c — the console's API dispatch: a request under /api/ is matched
 * against the route tables of the console_*.c files, checked (store open,
 * caller known, read-only mode, a mutating POST's content type, the
 * Origin of a browser's request), and handed to its handler with a
 * console_call; the helpers the handlers share (errors, queries, bodies,
 * Kafka calls) are here too. console.h gives the design.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "console.h"
#include "kafka.h"
#include "kafka_errors.h"

/* ---- the console -------------------------------------------------------- */

int console_new(const console_config *cfg, console **out) {
  *out = NULL;
  console *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->cfg = *cfg;
  snprintf(c->data_dir, sizeof c->data_dir, "%s",
           cfg->data_dir ? cfg->data_dir : ".");
  snprintf(c->version, sizeof c->version, "%s",
           cfg->version ? cfg->version : "");
  snprintf(c->allowed_hosts, sizeof c->allowed_hosts, "%s",
           cfg->allowed_hosts ? cfg->allowed_hosts : "");
  c->cfg.data_dir = c->data_dir;
  c->cfg.version = c->version;
  c->cfg.allowed_hosts = c->allowed_hosts;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  c->started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  c->history = console_history_new();
  if (!c->history) {
    free(c);
    return -ENOMEM;
  }
  *out = c;
  return 0;
}

void console_set_store(console *c, nd_store *store) {
  if (c)
    atomic_store(&c->store, store);
}

void console_tick(console *c, int64_t now_ms) {
  if (!c)
    return;
  nd_store *store = atomic_load(&c->store);
  if (store)
    console_history_tick(c->history, store, now_ms);
  console_sessions_tick(c, now_ms);
}

int64_t console_tick_ms(const console *c) {
  int64_t ms = c ? console_history_interval_ms(c->history) : 1000;
  return ms > 0 && ms < 1000 ? ms : 1000;
}

void console_free(console *c) {
  if (!c)
    return;
  console_sessions_free(c);
  console_history_free(c->history);
  free(c);
}

console_history *console_history_of(console *c) {
  return c->history;
}

const console_config *console_config_of(console *c) {
  return &c->cfg;
}

/* ---- helpers for handlers ----------------------------------------------- */

jw *console_json(console_call *cc) {
  return &cc->rs->json;
}

int console_error(console_call *cc, int status, const char *code,
                  const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  jw_free(&cc->rs->json);
  free(cc->rs->raw);
  cc->rs->raw = NULL;
  cc->rs->raw_len = 0;
  cc->rs->content_type = NULL;
  cc->rs->status = status;
  jw *w = &cc->rs->json;
  jw_obj(w);
  jw_key(w, "error");
  jw_obj(w);
  jw_kstr(w, "code", code);
  jw_kstr(w, "message", msg);
  jw_end(w);
  jw_end(w);
  return -1;
}

int console_kafka_status(int16_t code) {
  const char *name = kafka_err_name(code);
  if (!name)
    return 500;
  size_t n = strlen(name);
  if (n > 21 && strcmp(name + n - 21, "_AUTHORIZATION_FAILED") == 0)
    return 403;
  if (!strcmp(name, "UNKNOWN_TOPIC_OR_PARTITION") ||
      !strcmp(name, "UNKNOWN_TOPIC_ID") ||
      !strcmp(name, "GROUP_ID_NOT_FOUND") ||
      !strcmp(name, "TRANSACTIONAL_ID_NOT_FOUND") ||
      !strcmp(name, "RESOURCE_NOT_FOUND") ||
      !strcmp(name, "OFFSET_OUT_OF_RANGE"))
    return 404;
  if ((n > 15 && strcmp(name + n - 15, "_ALREADY_EXISTS") == 0) ||
      !strcmp(name, "NON_EMPTY_GROUP") ||
      !strcmp(name, "GROUP_SUBSCRIBED_TO_TOPIC") ||
      !strcmp(name, "REBALANCE_IN_PROGRESS") ||
      !strcmp(name, "UNKNOWN_MEMBER_ID"))
    return 409;
  if (!strncmp(name, "INVALID_", 8) || !strcmp(name, "POLICY_VIOLATION") ||
      !strcmp(name, "MESSAGE_TOO_LARGE") ||
      !strcmp(name, "RECORD_LIST_TOO_LARGE") ||
      !strcmp(name, "UNSUPPORTED_VERSION") ||
      !strcmp(name, "UNSUPPORTED_SASL_MECHANISM") ||
      !strcmp(name, "CORRUPT_MESSAGE") || !strcmp(name, "RESOURCE_NOT_FOUND") ||
      !strcmp(name, "UNACCEPTABLE_CREDENTIAL") ||
      !strcmp(name, "DUPLICATE_RESOURCE") || !strcmp(name, "SECURITY_DISABLED"))
    return 400;
  if (!strcmp(name, "THROTTLING_QUOTA_EXCEEDED"))
    return 429;
  if (!strcmp(name, "SASL_AUTHENTICATION_FAILED"))
    return 401;
  if (!strcmp(name, "NOT_COORDINATOR") ||
      !strcmp(name, "COORDINATOR_NOT_AVAILABLE") ||
      !strcmp(name, "COORDINATOR_LOAD_IN_PROGRESS") ||
      !strcmp(name, "REQUEST_TIMED_OUT") ||
      !strcmp(name, "NOT_ENOUGH_REPLICAS") ||
      !strcmp(name, "KAFKA_STORAGE_ERROR") ||
      !strcmp(name, "LEADER_NOT_AVAILABLE"))
    return 503;
  return 500;
}

int console_kafka_error(console_call *cc, int16_t code, kf_str message,
                        const char *what) {
  const char *name = kafka_err_name(code);
  char msg[768];
  if (message.len > 0)
    snprintf(msg, sizeof msg, "%.*s", (int)message.len, message.ptr);
  else
    snprintf(msg, sizeof msg, "%s",
             kafka_err_text(code) ? kafka_err_text(code) : "");
  return console_error(cc, console_kafka_status(code), name ? name : "UNKNOWN",
                       "%s%s%s", what ? what : "", what && *what ? ": " : "",
                       msg);
}

static const kafka_api *api_of(int16_t key) {
  for (size_t i = 0; i < kafka_api_count; i++)
    if (kafka_apis[i].key == key)
      return &kafka_apis[i];
  return NULL;
}

void *console_new_req(console_call *cc, int16_t key) {
  const kafka_api *api = api_of(key);
  return api ? kf_new(&cc->arena, api->req->body) : NULL;
}

int console_kafka(console_call *cc, int16_t key, int16_t version,
                  const void *req, void **resp) {
  *resp = NULL;
  if (!req)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  ck_conn *k = console_session_conn(cc);
  if (!k)
    return -1; /* answered */
  char why[256];
  if (ck_call(k, key, version, req, &cc->arena, resp, why, sizeof why) == 0)
    return 0;
  int had_session = cc->session != NULL;
  console_session_conn_failed(cc);
  const kafka_api *api = api_of(key);
  if (had_session) /* it ended with its connection (docs/http-api.md) */
    return console_error(cc, 401, "NOT_LOGGED_IN",
                         "the session ended: its connection to the broker "
                         "failed (%s v%d: %s); log in again",
                         api ? api->name : "request", version, why);
  const ck_target *t = &cc->con->cfg.target;
  return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                       "%s v%d to listener %s (%s:%d) failed: %s",
                       api ? api->name : "request", version, t->listener,
                       t->host, t->port, why);
}

int console_header_in(const char *hdrs, const char *name, char *buf,
                      size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = hdrs; p && *p;) {
    const char *end = strstr(p, "\r\n");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      size_t vl = len - (size_t)(v - p);
      while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (cap == 0)
        return 1;
      if (vl >= cap)
        vl = cap - 1;
      memcpy(buf, v, vl);
      buf[vl] = 0;
      return 1;
    }
    p = end ? end + 2 : NULL;
  }
  return 0;
}

int console_header(const console_req *rq, const char *name, char *buf,
                   size_t cap) {
  return console_header_in(rq->headers, name, buf, cap);
}

int console_hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decode s[0..n) into buf (and '+' to ' ' when plus); -1 when a
 * %XX is malformed, decodes to NUL, or the result does not fit. */
static int pct_decode(const char *s, size_t n, int plus, char *buf,
                      size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n)
        return -1;
      int hi = console_hexval(s[i + 1]), lo = console_hexval(s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -1;
      c = (char)(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && plus) {
      c = ' ';
    }
    if (o + 1 >= cap)
      return -1;
    buf[o++] = c;
  }
  if (cap == 0)
    return -1;
  buf[o] = 0;
  return 0;
}

int console_query(console_call *cc, const char *name, char *buf, size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = cc->rq->query; p && *p;) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    size_t kl = eq ? (size_t)(eq - p) : len;
    char key[128];
    if (pct_decode(p, kl, 1, key, sizeof key) == 0 && strlen(key) == nl &&
        memcmp(key, name, nl) == 0) {
      const char *v = eq ? eq + 1 : p + len;
      size_t vl = eq ? len - kl - 1 : 0;
      if (pct_decode(v, vl, 1, buf, cap) == 0)
        return 1;
      if (cap)
        buf[0] = 0;
      return 1; /* present but undecodable: an empty value */
    }
    p = end ? end + 1 : NULL;
  }
  return 0;
}

int console_query_int(console_call *cc, const char *name, int64_t def,
                      int64_t min, int64_t max, int64_t *out) {
  char v[64];
  if (!console_query(cc, name, v, sizeof v)) {
    *out = def;
    return 0;
  }
  char *e = NULL;
  errno = 0;
  long long x = strtoll(v, &e, 10);
  if (!v[0] || *e || errno || x < min || x > max)
    return console_error(cc, 400, "INVALID_PARAMETER",
                         "query parameter %s=%s: expected a whole number from "
                         "%lld to %lld",
                         name, v, (long long)min, (long long)max);
  *out = x;
  return 0;
}

const jv *console_body(console_call *cc) {
  if (cc->body_json)
    return cc->body_json;
  if (!cc->rq->body || cc->rq->body_len == 0) {
    console_error(cc, 400, "INVALID_REQUEST",
                  "this call takes a JSON body (Content-Type: "
                  "application/json)");
    return NULL;
  }
  char why[160];
  int rc = json_parse(cc->rq->body, cc->rq->body_len, &cc->body_json, why,
                      sizeof why);
  if (rc == -2) {
    console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
    return NULL;
  }
  if (rc < 0) {
    console_error(cc, 400, "INVALID_JSON", "the body is not JSON: %s", why);
    return NULL;
  }
  return cc->body_json;
}

/* ---- dispatch ----------------------------------------------------------- */

static const console_route *const route_tables[] = {
    console_session_routes,  console_overview_routes, console_topic_routes,
    console_message_routes,  console_group_routes,    console_txn_routes,
    console_security_routes,
};

/* Match path against pattern, "{}" taking one non-empty segment; the
 * segments go to params (pointers into segbuf, each NUL-terminated and
 * percent-decoded). */
static int match(const char *pattern, const char *path, const char **params,
                 char *segbuf, size_t segcap) {
  size_t np = 0, used = 0;
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (p[0] == '{' && p[1] == '}') {
      const char *e = strchr(s, '/');
      size_t len = e ? (size_t)(e - s) : strlen(s);
      if (len == 0 || np == 4 || used + len + 1 > segcap)
        return 0;
      memcpy(segbuf + used, s, len);
      segbuf[used + len] = 0;
      params[np++] = segbuf + used;
      used += len + 1;
      s += len;
      p += 2;
      continue;
    }
    if (*p != *s)
      return 0;
    p++;
    s++;
  }
  return *p == 0 && *s == 0;
}

static int method_is(const console_req *rq, const char *m) {
  return strcmp(rq->method, m) == 0 ||
         (strcmp(m, "GET") == 0 && strcmp(rq->method, "HEAD") == 0);
}

/* A browser names the page's origin on a cross-site request: it must be
 * this console's own (scheme://Host). */
static int origin_ok(const console_req *rq) {
  char origin[512], host[512];
  if (!console_header(rq, "Origin", origin, sizeof origin))
    return 1;
  if (!console_header(rq, "Host", host, sizeof host))
    return 0;
  const char *o = strstr(origin, "://");
  return o && strcmp(o + 3, host) == 0;
}

/* Is name (a Host header's host part) one the console answers to? */
static int host_allowed(const console *c, const char *name) {
  struct in_addr a4;
  if (inet_pton(AF_INET, name, &a4) == 1)
    return 1;
  size_t n = strlen(name);
  if (!strcasecmp(name, "localhost") ||
      (n > 10 && !strcasecmp(name + n - 10, ".localhost")))
    return 1;
  if (c->cfg.http_host[0] && !strcasecmp(name, c->cfg.http_host))
    return 1;
  for (const char *p = c->allowed_hosts; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t len = strcspn(p, ", ");
    if (len == 1 && *p == '*')
      return 1;
    if (len && len == n && !strncasecmp(p, name, n))
      return 1;
    p += len;
  }
  return 0;
}

/* The Host header's host part (an IPv6 literal's brackets and the port
 * dropped) into buf; 0 when there is no usable Host header. */
static int host_of(const console_req *rq, char *buf, size_t cap) {
  char host[300];
  if (!console_header(rq, "Host", host, sizeof host) || !host[0])
    return 0;
  if (host[0] == '[') {
    char *e = strchr(host, ']');
    if (!e)
      return 0;
    *e = 0;
    snprintf(buf, cap, "%s", host + 1);
    struct in6_addr a6;
    return inet_pton(AF_INET6, buf, &a6) == 1 ? 1 : 0;
  }
  char *colon = strchr(host, ':');
  if (colon)
    *colon = 0;
  snprintf(buf, cap, "%s", host);
  return 1;
}

void console_handle(console *c, const console_req *rq, console_resp *rs,
                    int64_t now_ms) {
  memset(rs, 0, sizeof *rs);
  rs->status = 200;
  console_call cc = {.con = c, .rq = rq, .rs = rs, .now_ms = now_ms};
  /* DNS rebinding: a site whose name now resolves to this address would
   * be, to the browser, of the console's origin, cookies and all; its
   * requests carry its own name in Host. */
  char hname[300];
  if (!host_of(rq, hname, sizeof hname)) {
    console_error(&cc, 400, "INVALID_HOST",
                  "the request has no Host header, or one that is not "
                  "HOST[:PORT] (an IPv6 address in brackets)");
    return;
  }
  if (!(hname[0] && strchr(hname, ':')) && !host_allowed(c, hname)) {
    char shown[64];
    snprintf(shown, sizeof shown, "%s", hname);
    for (char *p = shown; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
        *p = '?';
    console_error(&cc, 403, "HOST_NOT_ALLOWED",
                  "the console answers to IP addresses, localhost and its "
                  "--http host, not to '%s' (a page of another site could "
                  "otherwise reach it through DNS); allow more names with "
                  "--http-allowed-hosts",
                  shown);
    return;
  }
  const console_route *route = NULL;
  int path_matched = 0;
  char segs[2048];
  for (size_t t = 0; !route && t < sizeof route_tables / sizeof *route_tables;
       t++)
    for (const console_route *r = route_tables[t]; r->method; r++) {
      const char *params[4] = {0};
      if (!match(r->pattern, rq->path, params, segs, sizeof segs))
        continue;
      path_matched = 1;
      if (!method_is(rq, r->method))
        continue;
      route = r;
      memcpy(cc.params, params, sizeof params);
      break;
    }
  if (!route) {
    if (path_matched)
      console_error(&cc, 405, "METHOD_NOT_ALLOWED", "%s is not served on %s",
                    rq->method, rq->path);
    else
      console_error(&cc, 404, "NOT_FOUND",
                    "no such API: %s (docs/http-api.md lists them)", rq->path);
    return;
  }
  if (route->flags & (CONSOLE_MUTATES | CONSOLE_SAME_ORIGIN)) {
    char ct[128];
    if (!origin_ok(rq)) {
      console_error(&cc, 403, "CROSS_ORIGIN",
                    "a page of another origin may not change this broker");
      return;
    }
    if ((route->flags & CONSOLE_MUTATES) && c->cfg.read_only) {
      console_error(&cc, 403, "READ_ONLY",
                    "the console is read-only (--http-read-only)");
      return;
    }
    if (strcmp(rq->method, "POST") == 0 &&
        (!console_header(rq, "Content-Type", ct, sizeof ct) ||
         strncasecmp(ct, "application/json", 16) != 0)) {
      console_error(&cc, 415, "UNSUPPORTED_MEDIA_TYPE",
                    "POST needs Content-Type: application/json");
      return;
    }
  }
  if (!c->cfg.target.found) {
    console_error(&cc, 503, "NO_LISTENER", "%s", c->cfg.target.why);
    return;
  }
  cc.store = atomic_load(&c->store);
  if (!cc.store && !c->cfg.remote) {
    console_error(&cc, 503, "STARTING",
                  "the broker is still opening its store (recovery)");
    return;
  }
  cc.route = route;
  if (console_session_enter(&cc) == 0)
    route->fn(&cc);
  jv_free(cc.body_json);
  kf_arena_free(&cc.arena);
  if (rs->json.failed) {
    jw_free(&rs->json);
    rs->status = 500;
    static const char oom[] = "{\"error\":{\"code\":\"OUT_OF_MEMORY\","
                              "\"message\":\"out of memory\"}}";
    jw_raw(&rs->json, oom, sizeof oom - 1);
  }
}
