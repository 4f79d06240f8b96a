/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_cli.c — `nodata console`: the web console and its API
 * (console.h, docs/http-api.md) served for a remote Kafka-protocol broker
 * (Apache Kafka, Redpanda, another nodata) instead of the broker of this
 * process.
 *
 * The console already is only a Kafka client of its broker, so this is
 * the HTTP listener of `nodata serve` (metrics.h's http_start) with a
 * console whose target is --bootstrap and which has no store
 * (console_config.remote). Everything a page or script does is Kafka
 * requests to that one address: a cluster of several brokers is served
 * only as far as the bootstrap broker answers for it (calls that need
 * a partition's leader or a group's coordinator elsewhere get Kafka's
 * NOT_LEADER_OR_FOLLOWER or NOT_COORDINATOR). No TLS: the console's
 * client (console_kafka.c) speaks PLAINTEXT and SASL_PLAINTEXT only.
 *
 * The process does nothing but serve HTTP until SIGINT or SIGTERM; an
 * unreachable broker makes each call answer 502, never stops it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker.h"
#include "console.h"
#include "logline.h"
#include "metrics.h"

#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char console_usage[] =
    "usage: nodata console --bootstrap HOST:PORT [FLAGS]\n"
    "\n"
    "Serve the web console and its JSON API (docs/console.md,\n"
    "docs/http-api.md) for a remote Kafka-protocol broker: Apache Kafka,\n"
    "Redpanda or another nodata. The console is a Kafka client of that\n"
    "broker; it needs no data directory and keeps nothing.\n"
    "\n"
    "Flags:\n"
    "  --bootstrap HOST:PORT  the broker to talk to (required); every call\n"
    "                         goes to this one broker, so a cluster of\n"
    "                         several is served as far as it answers for\n"
    "                         it. No TLS: PLAINTEXT or SASL_PLAINTEXT\n"
    "  --http HOST:PORT       where to serve the console (default\n"
    "                         127.0.0.1:9644; port 0 picks a free port,\n"
    "                         printed at start-up)\n"
    "  --http-read-only       the console and its API change nothing\n"
    "  --http-allowed-hosts LIST\n"
    "                         host names the console answers to besides IP\n"
    "                         addresses, localhost and the --http host\n"
    "                         (comma-separated; * for any): DNS rebinding\n"
    "  --security-protocol PLAINTEXT|SASL_PLAINTEXT\n"
    "                         how to talk to the broker (default\n"
    "                         PLAINTEXT); SASL_PLAINTEXT makes the console\n"
    "                         ask its users to log in, with their own\n"
    "                         SCRAM or PLAIN credentials\n"
    "  --sasl-mechanisms LIST the mechanisms to log in with, in order of\n"
    "                         preference (default\n"
    "                         SCRAM-SHA-512,SCRAM-SHA-256)\n"
    "  --allow-insecure       serve on an address other than loopback with\n"
    "                         --security-protocol PLAINTEXT: anyone who\n"
    "                         reaches it acts on the broker with no login\n"
    "  -h, --help             this help\n"
    "\n"
    "Overview figures only the broker's machine has (data directory, disk,\n"
    "connections, rates, fsync latency) are null; the rest is the same\n"
    "API as `nodata serve --http`.\n"
    "\n"
    "Examples:\n"
    "  nodata console --bootstrap kafka1:9092 --http 127.0.0.1:9644\n"
    "  nodata console --bootstrap kafka1:9093 --security-protocol \\\n"
    "      SASL_PLAINTEXT --sasl-mechanisms SCRAM-SHA-512 --http-read-only\n"
    "\n"
    "Exit status: 0 stopped by SIGINT or SIGTERM, 1 runtime failure (the\n"
    "HTTP address cannot be bound), 2 usage error. A broker that cannot be\n"
    "reached is not a failure: each call answers 502 until it is back.\n";

static volatile sig_atomic_t g_console_stop;

static void on_console_signal(int sig) {
  (void)sig;
  g_console_stop = 1;
}

static int console_usage_error(const char *fmt, const char *a) {
  fprintf(stderr, "nodata console: ");
  fprintf(stderr, fmt, a);
  fprintf(stderr, " (see nodata console --help)\n");
  return EXIT_USAGE;
}

int broker_console_main(int argc, char **argv) {
  const char *bootstrap = NULL, *http = "127.0.0.1:9644";
  const char *protocol = "PLAINTEXT", *mechanisms = NULL;
  const char *allowed_hosts = NULL;
  int read_only = 0, allow_insecure = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(console_usage, stdout);
      return EXIT_OK;
    }
    if (!strcmp(a, "--http-read-only")) {
      read_only = 1;
      continue;
    }
    if (!strcmp(a, "--allow-insecure")) {
      allow_insecure = 1;
      continue;
    }
    const char **dst = !strcmp(a, "--bootstrap")            ? &bootstrap
                       : !strcmp(a, "--http")               ? &http
                       : !strcmp(a, "--security-protocol")  ? &protocol
                       : !strcmp(a, "--sasl-mechanisms")    ? &mechanisms
                       : !strcmp(a, "--http-allowed-hosts") ? &allowed_hosts
                                                            : NULL;
    if (!dst)
      return console_usage_error("unknown flag '%s'", a);
    if (i + 1 >= argc)
      return console_usage_error("%s needs a value", a);
    *dst = argv[++i];
  }
  if (!bootstrap)
    return console_usage_error("%s is required", "--bootstrap HOST:PORT");

  console_config cfg = {.read_only = read_only,
                        .data_dir = NULL,
                        .version = ND_VERSION_STRING,
                        .remote = 1};
  ck_target *t = &cfg.target;
  if (broker_parse_hostport(bootstrap, t->host, sizeof t->host, &t->port) !=
          0 ||
      t->port == 0)
    return console_usage_error("--bootstrap %s: expected HOST:PORT", bootstrap);
  t->found = 1;
  snprintf(t->listener, sizeof t->listener, "bootstrap");
  if (!strcasecmp(protocol, "PLAINTEXT")) {
    t->protocol = SEC_PLAINTEXT;
    if (mechanisms)
      return console_usage_error(
          "%s: --sasl-mechanisms needs --security-protocol SASL_PLAINTEXT",
          mechanisms);
  } else if (!strcasecmp(protocol, "SASL_PLAINTEXT")) {
    t->protocol = SEC_SASL_PLAINTEXT;
    snprintf(t->mechanisms, sizeof t->mechanisms, "%s",
             mechanisms ? mechanisms : "SCRAM-SHA-512,SCRAM-SHA-256");
  } else {
    return console_usage_error(
        "--security-protocol %s: PLAINTEXT or SASL_PLAINTEXT (the console "
        "has no TLS client)",
        protocol);
  }

  char hhost[256];
  int hport = 0;
  if (broker_parse_hostport(http, hhost, sizeof hhost, &hport) != 0)
    return console_usage_error("--http %s: expected HOST:PORT", http);
  snprintf(cfg.http_host, sizeof cfg.http_host, "%s", hhost);
  cfg.allowed_hosts = allowed_hosts;
  /* As `nodata serve` refuses it (serve.c's http_insecure_check): with no
   * login, whoever reaches --http acts on the broker as ANONYMOUS. */
  if (t->protocol == SEC_PLAINTEXT && !allow_insecure &&
      broker_host_is_loopback(hhost) == 0) {
    fprintf(stderr,
            "nodata console: refusing to serve the console on %s: with "
            "--security-protocol PLAINTEXT there is no login, so anyone who "
            "can reach it could read, write and delete every topic of %s.\n"
            "  Serve it on 127.0.0.1, use --security-protocol "
            "SASL_PLAINTEXT, or say the network is trusted: "
            "--allow-insecure.\n",
            http, bootstrap);
    return EXIT_USAGE;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_console_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* Blocked until sigsuspend, so a signal cannot slip in between the
   * check and the wait; the HTTP and console threads inherit the mask, so
   * they all come to this thread. */
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, &old);

  http_server *h = NULL;
  char bound[300], why[512];
  if (http_start(hhost, hport, NULL, &h, bound, sizeof bound, why, sizeof why) <
      0) {
    blog_error("console", "%s", why);
    return EXIT_RUNTIME;
  }
  if (http_set_console(h, &cfg) != 0) {
    blog_error("console", "cannot start the web console: out of memory");
    http_stop(h);
    return EXIT_RUNTIME;
  }
  http_set_store(h, NULL, NULL); /* serving: /ready answers 200 */
  printf("nodata console: http on %s (console for %s, %s)\n", bound, bootstrap,
         protocol);
  fflush(stdout);
  blog_info("console", "serving the console for %s on http://%s%s", bootstrap,
            bound, read_only ? " (read-only)" : "");
  /* The HTTP and console threads do all the work; this one waits for a
   * signal. */
  while (!g_console_stop)
    sigsuspend(&old);
  blog_info("console", "stopping (SIGINT or SIGTERM)");
  http_stop(h);
  return EXIT_OK;
}
