/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_console_session.c — the console's sessions (broker/console_session.c)
 * without a broker, the clock given by the test: a session unused for 30
 * minutes ends (at the tick, and at the next call even before a tick);
 * the cookie is found among others and only when all 64 digits match;
 * without a session a Kafka-backed call is 401 before any Kafka request;
 * logins are checked (mechanism, body, origin) before the broker is
 * reached, and a read-only console still takes them. The logins that do
 * reach a broker are test_console_auth.py's.
 */
#include "console_call.h"
#include "test.h"

#define MIN_MS (60 * 1000)
#define T0 1800000000000LL

static const char ID[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

typedef struct fixture {
  char *dir;
  nd_store *store;
  console *con;
} fixture;

static int setup(fixture *f, int read_only) {
  memset(f, 0, sizeof *f);
  f->dir = tmpdir_make("console-session");
  f->store = f->dir ? test_open_store(f->dir) : NULL;
  if (!f->store)
    return -1;
  console_config cfg = {.read_only = read_only, .data_dir = f->dir};
  cfg.target.found = 1;
  cfg.target.protocol = SEC_SASL_PLAINTEXT;
  cfg.target.port = dead_port();
  snprintf(cfg.target.host, sizeof cfg.target.host, "127.0.0.1");
  snprintf(cfg.target.listener, sizeof cfg.target.listener, "SASL_PLAINTEXT");
  snprintf(cfg.target.mechanisms, sizeof cfg.target.mechanisms,
           "PLAIN, SCRAM-SHA-512");
  if (console_new(&cfg, &f->con) != 0)
    return -1;
  console_set_store(f->con, f->store);
  return 0;
}

static void teardown(fixture *f) {
  console_free(f->con);
  if (f->store)
    nd_close(f->store);
  tmpdir_remove(f->dir);
}

/* A session as a login leaves it, without its connection. */
static void add_session(console *c, int i, const char *user, int64_t at) {
  console_session *s = &c->sessions[i];
  memcpy(s->id, ID, sizeof ID);
  s->id[63] = (char)('0' + i);
  snprintf(s->user, sizeof s->user, "%s", user);
  s->created_ms = s->last_ms = at;
}

static void user_is(console *c, const char *cookie, int64_t now,
                    const char *want) {
  char hdr[256], out[1024], frag[300];
  snprintf(hdr, sizeof hdr, "Cookie: %s\r\n", cookie);
  CHECK(request(c, "GET", "/api/session", hdr, NULL, now, out, sizeof out) ==
        200);
  if (want)
    snprintf(frag, sizeof frag, "\"user\":\"%s\"", want);
  else
    snprintf(frag, sizeof frag, "\"user\":null");
  if (!strstr(out, frag))
    fprintf(stderr, "cookie %s: %s lacks %s\n", cookie, out, frag);
  CHECK(strstr(out, frag) != NULL);
}

static void test_idle_expiry(void) {
  fixture f;
  CHECK_OK(setup(&f, 0));
  if (!f.con)
    goto out;
  add_session(f.con, 0, "alice", T0);
  add_session(f.con, 1, "bob", T0);
  char a[80], b[80];
  snprintf(a, sizeof a, "nd_session=%s", f.con->sessions[0].id);
  snprintf(b, sizeof b, "nd_session=%s", f.con->sessions[1].id);
  /* Used at 29 minutes: alice's idle time starts again. */
  user_is(f.con, a, T0 + 29 * MIN_MS, "alice");
  /* At 30 minutes and a bit, the tick ends bob's only. */
  console_tick(f.con, T0 + 30 * MIN_MS + 1);
  CHECK(f.con->sessions[1].id[0] == 0);
  CHECK(f.con->sessions[0].id[0] != 0);
  user_is(f.con, b, T0 + 30 * MIN_MS + 2, NULL);
  user_is(f.con, a, T0 + 30 * MIN_MS + 2, "alice");
  /* No tick ran: the call itself finds the session too old. */
  user_is(f.con, a, T0 + 61 * MIN_MS, NULL);
  CHECK(f.con->sessions[0].id[0] == 0);
out:
  teardown(&f);
}

static void test_cookie_match(void) {
  fixture f;
  CHECK_OK(setup(&f, 0));
  if (!f.con)
    goto out;
  add_session(f.con, 5, "carol", T0);
  char id[65], c[256];
  memcpy(id, f.con->sessions[5].id, sizeof id);
  snprintf(c, sizeof c, "theme=dark; nd_session=%s; other=1", id);
  user_is(f.con, c, T0, "carol");
  snprintf(c, sizeof c, "xnd_session=%s", id);
  user_is(f.con, c, T0, NULL);
  snprintf(c, sizeof c, "nd_session=%.63s", id); /* one digit short */
  user_is(f.con, c, T0, NULL);
  snprintf(c, sizeof c, "nd_session=%sa", id); /* one too many */
  user_is(f.con, c, T0, NULL);
  id[0] = id[0] == '0' ? '1' : '0'; /* the first digit differs */
  snprintf(c, sizeof c, "nd_session=%s", id);
  user_is(f.con, c, T0, NULL);
  CHECK(f.con->sessions[5].id[0] != 0); /* a wrong guess ends nothing */
out:
  teardown(&f);
}

static void test_checks_before_kafka(void) {
  fixture f;
  CHECK_OK(setup(&f, 1));
  if (!f.con)
    goto out;
  char out[1024];
  const char *json = "Content-Type: application/json\r\nHost: h:1\r\n";
  /* No session: 401 at once (the listener is not even reachable). */
  CHECK(request(f.con, "GET", "/api/acls", "", NULL, T0, out, sizeof out) ==
        401);
  CHECK(strstr(out, "NOT_LOGGED_IN") != NULL);
  /* The session route says what a login may use: enabled ones the
   * console speaks, in its order. */
  CHECK(request(f.con, "GET", "/api/session", "", NULL, T0, out, sizeof out) ==
        200);
  CHECK(strstr(out, "\"mechanisms\":[\"SCRAM-SHA-512\",\"PLAIN\"]") != NULL);
  CHECK(strstr(out, "\"principal\":null") != NULL);
  /* Logins: a mechanism not enabled, one the console does not speak, a
   * body without a password: 400 before any connection. */
  CHECK(request(f.con, "POST", "/api/login", json,
                "{\"username\":\"a\",\"password\":\"p\",\"mechanism\":"
                "\"SCRAM-SHA-256\"}",
                T0, out, sizeof out) == 400);
  CHECK(strstr(out, "UNSUPPORTED_SASL_MECHANISM") != NULL);
  CHECK(request(f.con, "POST", "/api/login", json,
                "{\"username\":\"a\",\"password\":\"p\",\"mechanism\":"
                "\"OAUTHBEARER\"}",
                T0, out, sizeof out) == 400);
  CHECK(request(f.con, "POST", "/api/login", json, "{\"username\":\"a\"}", T0,
                out, sizeof out) == 400);
  CHECK(strstr(out, "INVALID_REQUEST") != NULL);
  /* Another origin, or not JSON: refused, read-only or not. */
  CHECK(request(f.con, "POST", "/api/login",
                "Content-Type: application/json\r\nHost: h:1\r\nOrigin: "
                "http://evil.example\r\n",
                "{\"username\":\"a\",\"password\":\"p\"}", T0, out,
                sizeof out) == 403);
  CHECK(strstr(out, "CROSS_ORIGIN") != NULL);
  CHECK(request(f.con, "POST", "/api/login", "Content-Type: text/plain\r\n",
                "{\"username\":\"a\",\"password\":\"p\"}", T0, out,
                sizeof out) == 415);
  /* A well-formed login in read-only mode goes to the broker (none
   * here): 502, not READ_ONLY. */
  CHECK(request(f.con, "POST", "/api/login", json,
                "{\"username\":\"a\",\"password\":\"p\"}", T0, out,
                sizeof out) == 502);
  CHECK(strstr(out, "BROKER_CONNECTION_FAILED") != NULL);
  for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++)
    CHECK(f.con->sessions[i].id[0] == 0);
out:
  teardown(&f);
}

int main(void) {
  RUN(test_idle_expiry);
  RUN(test_cookie_match);
  RUN(test_checks_before_kafka);
  TEST_MAIN_END();
}
