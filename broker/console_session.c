/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_session.c — who is calling the console's API, and over which
 * Kafka connection (console.h).
 *
 * On a PLAINTEXT listener every caller is User:ANONYMOUS, as on that
 * listener's Kafka port, and shares one connection. Logins on a
 * SASL_PLAINTEXT listener come with the login calls.
 */
#include <stdio.h>
#include <string.h>

#include "console.h"

int console_session_enter(console_call *cc) {
  cc->session = NULL;
  return 0;
}

ck_conn *console_session_conn(console_call *cc) {
  console *c = cc->con;
  if (c->anon)
    return c->anon;
  char why[256];
  if (ck_open(&c->cfg.target, NULL, NULL, NULL, &c->anon, why, sizeof why) !=
      0) {
    console_error(cc, 502, "BROKER_CONNECTION_FAILED", "%s", why);
    return NULL;
  }
  return c->anon;
}

void console_session_conn_failed(console_call *cc) {
  ck_close(cc->con->anon);
  cc->con->anon = NULL;
}

void console_sessions_tick(console *c, int64_t now_ms) {
  (void)c;
  (void)now_ms;
}

void console_sessions_free(console *c) {
  ck_close(c->anon);
  c->anon = NULL;
}

static int get_session(console_call *cc) {
  jw *w = console_json(cc);
  const console_config *cfg = console_config_of(cc->con);
  jw_obj(w);
  jw_kstr(w, "auth",
          cfg->target.protocol == SEC_SASL_PLAINTEXT ? "sasl" : "none");
  jw_kstr(w, "user", NULL);
  jw_kbool(w, "read_only", cfg->read_only);
  jw_kstr(w, "listener", cfg->target.listener);
  jw_end(w);
  return 0;
}

const console_route console_session_routes[] = {
    {"GET", "/api/session", get_session, CONSOLE_PUBLIC},
    {NULL, NULL, NULL, 0},
};
