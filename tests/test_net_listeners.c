/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Several listening sockets on one loop (broker/net.c, net_config.listens):
 * each is bound (port 0 resolved, net_loop_listen_port), accepts, and
 * tells the handler which listener took a connection
 * (net_conn_listener); the connection caps pause and resume every
 * listener together; stopping closes them all; a listener that cannot
 * bind fails the whole loop without leaking the ones already bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "net.h"
#include "test.h"

typedef struct server {
  net_loop *loop;
  pthread_t thread;
} server;

/* Every request is answered with "L<listener index>". */
static int on_request(void *ctx, net_conn *conn, net_req *req,
                      net_frame *frame) {
  (void)ctx;
  net_frame_free(frame);
  uint8_t *b = malloc(6);
  if (!b)
    return -1;
  b[0] = b[1] = b[2] = 0;
  b[3] = 2;
  b[4] = 'L';
  b[5] = (uint8_t)('0' + net_conn_listener(conn));
  net_reply(conn, req, b, 6);
  return 0;
}

static void on_close(void *ctx, net_conn *conn) {
  (void)ctx;
  (void)conn;
}

static void *loop_thread(void *arg) {
  net_loop_run(arg);
  return NULL;
}

static int start(server *s, const net_listen *ls, size_t n,
                 const net_limits *lim) {
  net_config cfg = {.listens = ls,
                    .nlistens = n,
                    .max_request_bytes = 1 << 20,
                    .on_request = on_request,
                    .on_close = on_close};
  int rc = net_loop_new(&cfg, &s->loop);
  if (rc < 0)
    return rc;
  if (lim && net_loop_set_limits(s->loop, lim) != 0)
    return -1;
  return pthread_create(&s->thread, NULL, loop_thread, s->loop) == 0 ? 0 : -1;
}

static void stop(server *s) {
  net_loop_stop(s->loop);
  pthread_join(s->thread, NULL);
  net_loop_free(s->loop);
  s->loop = NULL;
}

static int cli_connect(const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
      connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Send one request; return the reply's listener digit, or -1. */
static int ask(int fd) {
  uint8_t req[5] = {0, 0, 0, 1, 'E'};
  if (send(fd, req, 5, MSG_NOSIGNAL) != 5)
    return -1;
  uint8_t r[6];
  size_t got = 0;
  while (got < 6) {
    ssize_t n = recv(fd, r + got, 6 - got, 0);
    if (n <= 0)
      return -1;
    got += (size_t)n;
  }
  return r[4] == 'L' ? r[5] - '0' : -1;
}

/* Nothing to read within 300 ms (the request waits, not refused). */
static int nothing_yet(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 300) == 0;
}

static void each_listener_serves(void) {
  /* 127.0.0.2 is loopback too on Linux: a listener of another address. */
  net_listen ls[3] = {
      {"127.0.0.1", 0, NULL}, {"127.0.0.2", 0, NULL}, {"127.0.0.1", 0, NULL}};
  server s;
  CHECK_OK(start(&s, ls, 3, NULL));
  if (!s.loop)
    return;
  int port[3];
  for (int i = 0; i < 3; i++) {
    port[i] = net_loop_listen_port(s.loop, (size_t)i);
    CHECK(port[i] > 0);
  }
  CHECK(port[0] != port[2]);
  CHECK_EQ_I64(net_loop_port(s.loop), port[0]);
  CHECK_EQ_I64(net_loop_listen_port(s.loop, 3), -1);
  const char *host[3] = {"127.0.0.1", "127.0.0.2", "127.0.0.1"};
  int fd[3];
  /* Out of order, twice each: the index comes from the accepting
   * socket, not from the order of connections. */
  for (int round = 0; round < 2; round++) {
    for (int i = 2; i >= 0; i--) {
      fd[i] = cli_connect(host[i], port[i]);
      CHECK(fd[i] >= 0);
    }
    for (int i = 0; i < 3; i++) {
      CHECK_EQ_I64(ask(fd[i]), i);
      close(fd[i]);
    }
  }
  /* Listener 1 is bound to 127.0.0.2 only. */
  int wrong = cli_connect("127.0.0.1", port[1]);
  CHECK(wrong < 0);
  if (wrong >= 0)
    close(wrong);
  /* Stopped (before the loop is freed): every listener is closed. */
  net_loop_stop(s.loop);
  pthread_join(s.thread, NULL);
  for (int i = 0; i < 3; i++) {
    int late = cli_connect(host[i], port[i]);
    CHECK(late < 0);
    if (late >= 0)
      close(late);
  }
  net_loop_free(s.loop);
}

/* max.connections counts all listeners: at the cap none accepts, and one
 * closing lets the waiting connection of another listener in. */
static void caps_span_listeners(void) {
  net_listen ls[2] = {{"127.0.0.1", 0, NULL}, {"127.0.0.1", 0, NULL}};
  net_limits lim = {.max_connections = 2, .max_per_ip = SIZE_MAX};
  server s;
  CHECK_OK(start(&s, ls, 2, &lim));
  if (!s.loop)
    return;
  int p0 = net_loop_listen_port(s.loop, 0);
  int p1 = net_loop_listen_port(s.loop, 1);
  int a = cli_connect("127.0.0.1", p0), b = cli_connect("127.0.0.1", p1);
  CHECK(ask(a) == 0 && ask(b) == 1);
  int late = cli_connect("127.0.0.1", p1); /* completes in the backlog */
  CHECK(late >= 0);
  uint8_t req[5] = {0, 0, 0, 1, 'E'};
  CHECK(send(late, req, 5, MSG_NOSIGNAL) == 5);
  CHECK(nothing_yet(late));
  int late0 = cli_connect("127.0.0.1", p0);
  CHECK(late0 >= 0);
  CHECK(send(late0, req, 5, MSG_NOSIGNAL) == 5);
  CHECK(nothing_yet(late0));
  close(a);
  close(b);
  /* Both waiting connections are accepted now, each on its own listener. */
  uint8_t r[6];
  CHECK(recv(late, r, 6, MSG_WAITALL) == 6 && r[5] == '1');
  CHECK(recv(late0, r, 6, MSG_WAITALL) == 6 && r[5] == '0');
  close(late);
  close(late0);
  stop(&s);
}

static void bind_failure(void) {
  /* A port in use by another socket. */
  int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  CHECK(bind(busy, (struct sockaddr *)&a, sizeof a) == 0 &&
        listen(busy, 1) == 0 &&
        getsockname(busy, (struct sockaddr *)&a, &al) == 0);
  int fds_before = test_open_fds();
  net_listen ls[2] = {{"127.0.0.1", 0, NULL},
                      {"127.0.0.1", ntohs(a.sin_port), NULL}};
  net_config cfg = {.listens = ls,
                    .nlistens = 2,
                    .on_request = on_request,
                    .on_close = on_close};
  net_loop *l = (net_loop *)1;
  CHECK_EQ_I64(net_loop_new(&cfg, &l), -EADDRINUSE);
  CHECK(l == NULL);
  /* The first listener, bound before the second failed, is closed. */
  CHECK_EQ_I64(test_open_fds(), fds_before);
  close(busy);

  /* More than 8, a bad port, an empty array: refused. */
  net_listen many[9];
  for (int i = 0; i < 9; i++)
    many[i] = (net_listen){"127.0.0.1", 0, NULL};
  cfg.listens = many;
  cfg.nlistens = 9;
  CHECK_EQ_I64(net_loop_new(&cfg, &l), -EINVAL);
  many[0].port = 70000;
  cfg.nlistens = 1;
  CHECK_EQ_I64(net_loop_new(&cfg, &l), -EINVAL);
  cfg.nlistens = 0;
  CHECK_EQ_I64(net_loop_new(&cfg, &l), -EINVAL);
}

/* Without listens: the one of listen_host:listen_port, as before. */
static void single_listener_default(void) {
  net_config cfg = {.listen_host = "127.0.0.1",
                    .listen_port = 0,
                    .on_request = on_request,
                    .on_close = on_close};
  server s;
  CHECK_OK(net_loop_new(&cfg, &s.loop));
  if (!s.loop)
    return;
  CHECK(pthread_create(&s.thread, NULL, loop_thread, s.loop) == 0);
  int port = net_loop_port(s.loop);
  CHECK(port > 0 && net_loop_listen_port(s.loop, 0) == port);
  int fd = cli_connect("127.0.0.1", port);
  CHECK(ask(fd) == 0);
  close(fd);
  stop(&s);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(each_listener_serves);
  RUN(caps_span_listeners);
  RUN(bind_failure);
  RUN(single_listener_default);
  TEST_MAIN_END();
}
