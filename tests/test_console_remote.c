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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"
#include "test.h"

#define T0 1800000000000LL

/* A port nothing listens on: bound, then closed. */
static int dead_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &l) != 0)
    return 1;
  close(fd);
  return ntohs(a.sin_port);
}

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

/* One call; the answer's status, its body in out[] (cap bytes). */
static int request(console *c, const char *method, const char *path,
                   const char *headers, const char *body, char *out,
                   size_t cap) {
  console_req rq = {.method = method,
                    .path = path,
                    .query = "",
                    .headers = headers,
                    .body = body,
                    .body_len = body ? strlen(body) : 0};
  console_resp rs;
  console_handle(c, &rq, &rs, T0);
  snprintf(out, cap, "%s", rs.json.p ? rs.json.p : "");
  int st = rs.status;
  jw_free(&rs.json);
  free(rs.raw);
  return st;
}

static void test_local_waits_for_store(void) {
  console *c = make(0, 0, dead_port());
  CHECK(c != NULL);
  if (!c)
    return;
  char out[1024];
  CHECK(request(c, "GET", "/api/topics", "", NULL, out, sizeof out) == 503);
  CHECK(strstr(out, "STARTING") != NULL);
  CHECK(request(c, "GET", "/api/session", "", NULL, out, sizeof out) == 503);
  CHECK(request(c, "GET", "/api/history", "", NULL, out, sizeof out) == 503);
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
  CHECK(request(c, "GET", "/api/session", "", NULL, out, sizeof out) == 200);
  CHECK(strstr(out, "\"listener\":\"bootstrap\"") != NULL);
  CHECK(strstr(out, "\"auth\":\"none\"") != NULL);
  CHECK(request(c, "GET", "/api/history", "", NULL, out, sizeof out) == 200);
  CHECK(strstr(out, "\"samples\":[]") != NULL);
  for (int i = 0; i < 3; i++) {
    CHECK(request(c, "GET", "/api/topics", "", NULL, out, sizeof out) == 502);
    CHECK(strstr(out, "BROKER_CONNECTION_FAILED") != NULL);
    CHECK(strstr(out, addr) != NULL);
    console_tick(c, T0 + (i + 1) * 10000); /* no store: nothing sampled */
  }
  CHECK(request(c, "GET", "/api/history", "", NULL, out, sizeof out) == 200);
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
                "{\"name\":\"t\"}", out, sizeof out) == 403);
  CHECK(strstr(out, "READ_ONLY") != NULL);
  CHECK(request(c, "GET", "/api/session", "", NULL, out, sizeof out) == 200);
  CHECK(strstr(out, "\"read_only\":true") != NULL);
  console_free(c);
}

int main(void) {
  RUN(test_local_waits_for_store);
  RUN(test_remote_serves_without_store);
  RUN(test_remote_read_only);
  TEST_MAIN_END();
}
