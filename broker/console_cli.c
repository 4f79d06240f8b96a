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
 * NOT_LEADER_OR_FOLLOWER or NOT_COORDINATOR). Any of Kafka's four
 * security protocols: over SSL and SASL_SSL the broker's certificate is
 * verified against --ssl-ca (else the system's CAs) and its name against
 * the --bootstrap host, as Kafka's clients do by default; --ssl-cert and
 * --ssl-key give a client certificate for listeners that require one.
 * --command-config reads the same from a Kafka client properties file, as
 * Kafka's own tools take one; flags win over it.
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
    "                         it\n"
    "  --http HOST:PORT       where to serve the console (default\n"
    "                         127.0.0.1:9644; port 0 picks a free port,\n"
    "                         printed at start-up)\n"
    "  --http-read-only       the console and its API change nothing\n"
    "  --http-allowed-hosts LIST\n"
    "                         host names the console answers to besides IP\n"
    "                         addresses, localhost and the --http host\n"
    "                         (comma-separated; * for any): DNS rebinding\n"
    "  --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL\n"
    "                         how to talk to the broker (default\n"
    "                         PLAINTEXT); SASL_* makes the console ask its\n"
    "                         users to log in, with their own SCRAM or\n"
    "                         PLAIN credentials; SSL and SASL_SSL are TLS\n"
    "                         1.2+, the broker's certificate verified and\n"
    "                         its name checked against the --bootstrap host\n"
    "  --sasl-mechanisms LIST the mechanisms to log in with, in order of\n"
    "                         preference (default\n"
    "                         SCRAM-SHA-512,SCRAM-SHA-256)\n"
    "  --ssl-ca FILE          CA certificates (PEM) to verify the broker's\n"
    "                         certificate with (Kafka's\n"
    "                         ssl.truststore.location, PEM); default the\n"
    "                         system's\n"
    "  --ssl-cert FILE        a client certificate chain (PEM) for a\n"
    "                         listener with ssl.client.auth=required; on\n"
    "                         SSL the console then acts as its principal\n"
    "  --ssl-key FILE         its private key (PEM; default: in the\n"
    "                         --ssl-cert file, as Kafka's PEM keystore)\n"
    "  --command-config FILE  Kafka client properties: security.protocol,\n"
    "                         sasl.mechanism, ssl.truststore.location,\n"
    "                         ssl.keystore.location, ssl.key.password,\n"
    "                         ssl.endpoint.identification.algorithm (empty:\n"
    "                         no host name check); flags win\n"
    "  --allow-insecure       serve on an address other than loopback with\n"
    "                         --security-protocol PLAINTEXT or SSL: anyone\n"
    "                         who reaches it acts on the broker with no\n"
    "                         login\n"
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
    "  nodata console --bootstrap kafka1.example.com:9094 \\\n"
    "      --security-protocol SASL_SSL --ssl-ca /etc/kafka/ca.pem\n"
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

/* Copy a file name or value into one of ck_target's arrays; 0, or a usage
 * error when it does not fit. */
static int put(char *dst, size_t cap, const char *v, const char *what) {
  if (strlen(v) >= cap)
    return console_usage_error("%s: too long", what);
  snprintf(dst, cap, "%s", v);
  return 0;
}

/* The options a --command-config file may give, each only where no flag
 * gave it (*v still NULL). */
typedef struct cli_opts {
  const char *protocol, *mechanisms, *ssl_ca, *ssl_cert, *ssl_key;
  const char *key_password, *endpoint_id;
} cli_opts;

/* Kafka client properties from path into o; the props stay alive in
 * *keep (the strings point into them). 0 or EXIT_USAGE. */
static int read_command_config(const char *path, cli_opts *o,
                               broker_props **keep) {
  char why[512];
  if (broker_props_load(path, keep, why, sizeof why) < 0)
    return console_usage_error("--command-config: %s", why);
  const char *name, *value;
  for (size_t i = 0; broker_props_at(*keep, i, &name, &value); i++) {
    const char **dst = !strcmp(name, "security.protocol") ? &o->protocol
                       : !strcmp(name, "sasl.mechanism")  ? &o->mechanisms
                       : !strcmp(name, "ssl.truststore.location") ? &o->ssl_ca
                       : !strcmp(name, "ssl.keystore.location")   ? &o->ssl_cert
                       : !strcmp(name, "ssl.key.password") ? &o->key_password
                       : !strcmp(name, "ssl.endpoint.identification.algorithm")
                           ? &o->endpoint_id
                           : NULL;
    if (dst) {
      if (!*dst)
        *dst = value;
    } else if ((!strcmp(name, "ssl.truststore.type") ||
                !strcmp(name, "ssl.keystore.type")) &&
               strcasecmp(value, "PEM") != 0) {
      fprintf(stderr,
              "nodata console: %s: %s=%s is not supported: only PEM files\n",
              path, name, value);
      return EXIT_USAGE;
    } else if (!strncmp(name, "sasl.", 5)) {
      fprintf(stderr,
              "nodata console: %s: %s is not used: the console logs each "
              "user in with their own credentials\n",
              path, name);
    } else if (strcmp(name, "ssl.truststore.type") != 0 &&
               strcmp(name, "ssl.keystore.type") != 0) {
      fprintf(stderr, "nodata console: %s: %s is not used by the console\n",
              path, name);
    }
  }
  return 0;
}

/* How to reach the broker, from the options, into t. 0 or EXIT_USAGE. */
static int target_of(const cli_opts *o, ck_target *t) {
  const char *protocol = o->protocol ? o->protocol : "PLAINTEXT";
  int p = sec_protocol_parse(protocol);
  if (p < 0)
    return console_usage_error(
        "--security-protocol %s: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
        protocol);
  t->protocol = (sec_protocol)p;
  if (ck_target_sasl(t)) {
    if (put(t->mechanisms, sizeof t->mechanisms,
            o->mechanisms ? o->mechanisms : "SCRAM-SHA-512,SCRAM-SHA-256",
            "--sasl-mechanisms") != 0)
      return EXIT_USAGE;
  } else if (o->mechanisms) {
    return console_usage_error("%s: --sasl-mechanisms needs "
                               "--security-protocol SASL_PLAINTEXT or SASL_SSL",
                               o->mechanisms);
  }
  if (!ck_target_tls(t)) {
    if (o->ssl_ca || o->ssl_cert || o->ssl_key)
      return console_usage_error("%s: TLS files need --security-protocol SSL "
                                 "or SASL_SSL",
                                 o->ssl_ca     ? o->ssl_ca
                                 : o->ssl_cert ? o->ssl_cert
                                               : o->ssl_key);
    return 0;
  }
  if (o->ssl_key && !o->ssl_cert)
    return console_usage_error("--ssl-key %s needs --ssl-cert", o->ssl_key);
  if ((o->ssl_ca && put(t->ssl_ca, sizeof t->ssl_ca, o->ssl_ca, o->ssl_ca)) ||
      (o->ssl_cert &&
       put(t->ssl_cert, sizeof t->ssl_cert, o->ssl_cert, o->ssl_cert)) ||
      (o->ssl_key &&
       put(t->ssl_key, sizeof t->ssl_key, o->ssl_key, o->ssl_key)) ||
      (o->key_password && put(t->ssl_key_password, sizeof t->ssl_key_password,
                              o->key_password, "ssl.key.password")))
    return EXIT_USAGE;
  if (o->endpoint_id && *o->endpoint_id &&
      strcasecmp(o->endpoint_id, "https") != 0)
    return console_usage_error(
        "ssl.endpoint.identification.algorithm=%s: https or empty",
        o->endpoint_id);
  t->ssl_no_host_check = o->endpoint_id && !*o->endpoint_id;
  /* Read the files now, so a wrong path or passphrase is a usage error at
   * start rather than a 502 at every call. */
  char why[512];
  if (ck_tls_check(t, why, sizeof why) < 0)
    return console_usage_error("%s", why);
  if (t->ssl_no_host_check)
    fprintf(stderr, "nodata console: warning: "
                    "ssl.endpoint.identification.algorithm is empty: the "
                    "broker's certificate is verified, but not that it names "
                    "the --bootstrap host\n");
  return 0;
}

int broker_console_main(int argc, char **argv) {
  const char *bootstrap = NULL, *http = "127.0.0.1:9644";
  const char *allowed_hosts = NULL, *command_config = NULL;
  cli_opts o = {0};
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
                       : !strcmp(a, "--security-protocol")  ? &o.protocol
                       : !strcmp(a, "--sasl-mechanisms")    ? &o.mechanisms
                       : !strcmp(a, "--ssl-ca")             ? &o.ssl_ca
                       : !strcmp(a, "--ssl-cert")           ? &o.ssl_cert
                       : !strcmp(a, "--ssl-key")            ? &o.ssl_key
                       : !strcmp(a, "--command-config")     ? &command_config
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
  broker_props *props = NULL;
  int rc = command_config ? read_command_config(command_config, &o, &props) : 0;
  if (!rc)
    rc = target_of(&o, t);
  /* target_of copied what it needs. */
  broker_props_free(props);
  if (rc)
    return rc;
  const char *protocol = sec_protocol_name(t->protocol);

  char hhost[256];
  int hport = 0;
  if (broker_parse_hostport(http, hhost, sizeof hhost, &hport) != 0)
    return console_usage_error("--http %s: expected HOST:PORT", http);
  snprintf(cfg.http_host, sizeof cfg.http_host, "%s", hhost);
  cfg.allowed_hosts = allowed_hosts;
  /* As `nodata serve` refuses it (serve.c's http_insecure_check): with no
   * login, whoever reaches --http acts on the broker as ANONYMOUS (or as
   * the --ssl-cert's principal). */
  if (!ck_target_sasl(t) && !allow_insecure &&
      broker_host_is_loopback(hhost) == 0) {
    fprintf(stderr,
            "nodata console: refusing to serve the console on %s: with "
            "--security-protocol %s there is no login, so anyone who "
            "can reach it could read, write and delete every topic of %s.\n"
            "  Serve it on 127.0.0.1, use --security-protocol "
            "SASL_SSL or SASL_PLAINTEXT, or say the network is trusted: "
            "--allow-insecure.\n",
            http, protocol, bootstrap);
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
