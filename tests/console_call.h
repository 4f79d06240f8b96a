/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_call.h — what the console's C tests share (test_console_session.c,
 * test_console_remote.c): a port nothing listens on, and one API call
 * through console_handle without HTTP. Static functions: each test
 * program includes it once.
 */
#ifndef ND_TESTS_CONSOLE_CALL_H
#define ND_TESTS_CONSOLE_CALL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"

/* A port nothing listens on: bound, then closed (1 if that failed). */
static int dead_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
    if (fd >= 0)
      close(fd);
    return 1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

/* One call at time now; the answer's status, its body in out[] (cap
 * bytes, truncated). */
static int request(console *c, const char *method, const char *path,
                   const char *headers, const char *body, int64_t now,
                   char *out, size_t cap) {
  /* As a browser on the console's own address sends it (console.c
   * refuses calls naming another host). */
  char hdrs[4096];
  snprintf(hdrs, sizeof hdrs, "Host: 127.0.0.1:9644\r\n%s",
           headers ? headers : "");
  console_req rq = {.method = method,
                    .path = path,
                    .query = "",
                    .headers = hdrs,
                    .body = body,
                    .body_len = body ? strlen(body) : 0};
  console_resp rs;
  console_handle(c, &rq, &rs, now);
  snprintf(out, cap, "%s", rs.json.p ? rs.json.p : "");
  int st = rs.status;
  jw_free(&rs.json);
  free(rs.raw);
  return st;
}

#endif
