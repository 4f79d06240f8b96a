/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_console_remote.c — the dispatcher's store check
 * (broker/console.c) with and without console_config.remote, no broker:
 * a local console with no store yet answers every call 503 STARTING
 * (recovery is under way), while a remote one (`nodata console`, which
 * never has a store) serves: its session answer, its history (empty:
 * nothing is sampled), and Kafka-backed calls that reach its client
 * (502 BROKER_CONNECTION_FAILED naming the address, call after call,
 * with the sampler ticking in between); read-only still refuses changes.
 * What a remote console answers in front of a real Kafka is
 * tests/compat/test_console_vs_kafka.py's.
 */
#include "console_call.h"
#include "test.h"

#define T0 1800000000000LL

static console *make(int remote, int read_only, int port) {
  console_config cfg = {.read_only = read_only, .remote = remote};
  cfg.target.found = 1;
  cfg.target.protocol = SEC_PLAINTEXT;
  cfg.target.port = port;
  snprintf(cfg.target.host, sizeof cfg.target.host, "127.0.0.1");
  snprintf(cfg.target.listener, sizeof cfg.target.listener, "bootstrap");
  console *c = NULL;
  return console_new(&cfg, &c) == 0 ? c : NULL;
}

static void test_local_waits_for_store(void) {
  console *c = make(0, 0, dead_port());
  CHECK(c != NULL);
  if (!c)
    return;
  char out[1024];
  CHECK(request(c, "GET", "/api/topics", "", NULL, T0, out, sizeof out) == 503);
  CHECK(strstr(out, "STARTING") != NULL);
  CHECK(request(c, "GET", "/api/session", "", NULL, T0, out, sizeof out) ==
        503);
  CHECK(request(c, "GET", "/api/history", "", NULL, T0, out, sizeof out) ==
        503);
  console_free(c);
}

static void test_remote_serves_without_store(void) {
  int port = dead_port();
  console *c = make(1, 0, port);
  CHECK(c != NULL);
  if (!c)
    return;
  char out[1024], addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  CHECK(request(c, "GET", "/api/session", "", NULL, T0, out, sizeof out) ==
        200);
  CHECK(strstr(out, "\"listener\":\"bootstrap\"") != NULL);
  CHECK(strstr(out, "\"auth\":\"none\"") != NULL);
  CHECK(request(c, "GET", "/api/history", "", NULL, T0, out, sizeof out) ==
        200);
  CHECK(strstr(out, "\"samples\":[]") != NULL);
  for (int i = 0; i < 3; i++) {
    CHECK(request(c, "GET", "/api/topics", "", NULL, T0, out, sizeof out) ==
          502);
    CHECK(strstr(out, "BROKER_CONNECTION_FAILED") != NULL);
    CHECK(strstr(out, addr) != NULL);
    console_tick(c, T0 + (i + 1) * 10000); /* no store: nothing sampled */
  }
  CHECK(request(c, "GET", "/api/history", "", NULL, T0, out, sizeof out) ==
        200);
  CHECK(strstr(out, "\"samples\":[]") != NULL);
  console_free(c);
}

static void test_remote_read_only(void) {
  console *c = make(1, 1, dead_port());
  CHECK(c != NULL);
  if (!c)
    return;
  char out[1024];
  CHECK(request(c, "POST", "/api/topics",
                "Content-Type: application/json\r\nHost: h:1\r\n",
                "{\"name\":\"t\"}", T0, out, sizeof out) == 403);
  CHECK(strstr(out, "READ_ONLY") != NULL);
  CHECK(request(c, "GET", "/api/session", "", NULL, T0, out, sizeof out) ==
        200);
  CHECK(strstr(out, "\"read_only\":true") != NULL);
  console_free(c);
}

int main(void) {
  RUN(test_local_waits_for_store);
  RUN(test_remote_serves_without_store);
  RUN(test_remote_read_only);
  TEST_MAIN_END();
}
