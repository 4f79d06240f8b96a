/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve.c — `nodata serve`: flags and environment, then the store, the
 * event loop, the worker and the protocol layer, in that order, and a
 * clean shutdown in the reverse order on SIGINT/SIGTERM.
 *
 * The start-up line goes to stdout and is flushed at once: scripts (and
 * tests/compat/lib.sh, ndtest.py) wait for it and read the port from it,
 * which is how `--listen 127.0.0.1:0` is usable. Its shape is stable:
 *   nodata serve: listening on HOST:PORT, data in DIR (pid N)
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "console.h"
#include "kafka.h"
#include "logline.h"
#include "metrics.h"
#include "tls.h"
#if __has_include("nodata_codecs.h")
#include "nodata_codecs.h"
#define ND_SERVE_DECOMPRESS nd_codecs_decompress
#define ND_SERVE_RECOMPRESS nd_codecs_recompress_batch
#else
#define ND_SERVE_DECOMPRESS NULL
#define ND_SERVE_RECOMPRESS NULL
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char serve_usage[] =
    "usage: nodata serve [--config FILE] [--data DIR] [--listen HOST:PORT]\n"
    "                    [--advertise HOST:PORT] [--allow-insecure]\n"
    "                    [--http HOST:PORT]\n"
    "                    [--max-request-bytes N]\n"
    "                    [--no-auto-create] [--partitions N]\n"
    "                    [--group-initial-delay-ms MS]\n"
    "                    [--max-connections N] [--max-connections-per-ip N]\n"
    "                    [--max-connections-per-ip-overrides LIST]\n"
    "                    [--connections-max-idle-ms MS]\n"
    "                    [--connection-failed-authentication-delay-ms MS]\n"
    "                    [--queued-max-request-bytes N]\n"
    "                    [--log-cleaner-enable true|false]\n"
    "                    [--log-cleaner-threads N]\n"
    "                    [--log-cleaner-dedupe-buffer-size N]\n"
    "                    [--log-cleaner-io-max-bytes-per-second N]\n"
    "                    [--log-cleaner-backoff-ms MS]\n"
    "                    [--transaction-version 1|2]\n"
    "                    [--transaction-max-timeout-ms MS]\n"
    "                    [--transactional-id-expiration-ms MS]\n"
    "                    [--transaction-abort-check-ms MS]\n"
    "                    [--offsets-retention-minutes N]\n"
    "                    [--offsets-retention-check-interval-ms MS]\n"
    "                    [--group-consumer-SETTING VALUE]...\n"
    "                    [--log-level error|warn|info|debug]\n"
    "                    [--log-format text|json]\n"
    "                    [--disk-free-warn-percent P]\n"
    "                    [--disk-free-warn-bytes N]\n"
    "                    [--disk-check-interval-ms MS]\n"
    "\n"
    "Run a single-node Kafka-protocol broker on the data directory. Kafka\n"
    "clients (librdkafka, kcat, kafka-python, Java) connect to it unchanged.\n"
    "\n"
    "  --config FILE          Kafka broker properties (server.properties\n"
    "                         form): listeners, advertised.listeners,\n"
    "                         listener.security.protocol.map and the\n"
    "                         settings below under Kafka's names; flags\n"
    "                         and NODATA_* variables override it\n"
    "                         (docs/serve.md, docs/security.md)\n"
    "  --data DIR             data directory, created if missing "
    "(default ./data)\n"
    "  --listen HOST:PORT     address to listen on (default "
    "127.0.0.1:9092);\n"
    "                         port 0 picks a free port, printed at start-up\n"
    "  --advertise HOST:PORT  address given to clients in metadata\n"
    "                         (default: the listen address)\n"
    "  --allow-insecure       serve on an address other than loopback\n"
    "                         through a listener that authenticates no one\n"
    "                         (PLAINTEXT, or SSL without client\n"
    "                         certificates); refused without it, as anyone\n"
    "                         who reaches the port could read, write and\n"
    "                         delete everything (docs/security.md)\n"
    "  --http HOST:PORT       serve the web console at /, its JSON API at\n"
    "                         /api/, /metrics (Prometheus), /health and\n"
    "                         /ready over HTTP there (default: off; e.g.\n"
    "                         127.0.0.1:9644; port 0 picks a free port,\n"
    "                         printed at start-up; docs/console.md,\n"
    "                         docs/http-api.md, docs/metrics.md)\n"
    "  --http-read-only       the console and its API change nothing\n"
    "  --http-allowed-hosts LIST\n"
    "                         host names the console answers to besides IP\n"
    "                         addresses, localhost and the --http host\n"
    "                         (comma-separated; * for any): DNS rebinding\n"
    "  --max-request-bytes N  largest request accepted; bigger ones close\n"
    "                         the connection (default 100M; K, M, G "
    "suffixes)\n"
    "  --no-auto-create       do not create topics on first use\n"
    "  --partitions N         partitions of auto-created topics "
    "(default 1)\n"
    "  --group-initial-delay-ms MS\n"
    "                         how long the first rebalance of an empty "
    "consumer\n"
    "                         group waits for more members (default 3000,\n"
    "                         Kafka's group.initial.rebalance.delay.ms)\n"
    "  --max-topic-partitions N\n"
    "                         most partitions one topic may have (default\n"
    "                         100000); more is refused: INVALID_PARTITIONS\n"
    "  --max-store-partitions N\n"
    "                         most partitions in all topics together\n"
    "                         (default 200000); more: POLICY_VIOLATION\n"
    "  --max-mapped-indexes N index files kept mapped at once, idle ones\n"
    "                         are unmapped (default: a quarter of the\n"
    "                         kernel's vm.max_map_count)\n"
    "  --min-segment-bytes N  least segment.bytes a client may set (default\n"
    "                         1048576, Kafka 4's minimum; lower it only\n"
    "                         for tests that need frequent rolls)\n"
    "  --max-connections N    connections open at once (Kafka's\n"
    "                         max.connections; default: what `ulimit -n`\n"
    "                         leaves beside the store, about half of it);\n"
    "                         more wait in the listen backlog\n"
    "  --max-connections-per-ip N\n"
    "                         connections from one address (default no\n"
    "                         cap); more are closed at once\n"
    "  --max-connections-per-ip-overrides HOST:N,...\n"
    "                         other caps for some addresses\n"
    "  --connections-max-idle-ms MS\n"
    "                         close connections idle this long, and\n"
    "                         requests not arrived whole this long after\n"
    "                         their first byte (default 600000; 0 never)\n"
    "  --connection-failed-authentication-delay-ms MS\n"
    "                         answer a failed SASL authentication, and\n"
    "                         close its connection, this late (default\n"
    "                         100; 0 at once): password guessing costs\n"
    "                         time, other connections are not slowed\n"
    "  --queued-max-request-bytes N\n"
    "                         memory for requests and unsent replies of\n"
    "                         all connections; over it, no connection is\n"
    "                         read until it drains (default 256M; -1 no\n"
    "                         bound; K, M, G suffixes)\n"
    "  --log-cleaner-enable true|false\n"
    "                         run the log cleaner, which compacts topics\n"
    "                         with cleanup.policy=compact (default true)\n"
    "  --log-cleaner-threads N\n"
    "                         cleaner threads (default 1; 0 none)\n"
    "  --log-cleaner-dedupe-buffer-size N\n"
    "                         memory for the key map of all cleaner\n"
    "                         threads, at least 1M each (default 128M;\n"
    "                         K, M, G suffixes)\n"
    "  --log-cleaner-io-max-bytes-per-second N\n"
    "                         read + write rate the cleaner keeps under\n"
    "                         (default no limit)\n"
    "  --log-cleaner-backoff-ms MS\n"
    "                         sleep when nothing is dirty enough (default\n"
    "                         15000)\n"
    "  --transaction-version 1|2\n"
    "                         the transaction.version feature finalized for\n"
    "                         clients (default 2, as Kafka 4.4: clients that\n"
    "                         can speak Transactions V2, KIP-890, do; 1\n"
    "                         makes every client use V1)\n"
    "  --transaction-max-timeout-ms MS\n"
    "                         longest transaction.timeout.ms a producer may\n"
    "                         ask for (default 900000)\n"
    "  --transactional-id-expiration-ms MS\n"
    "                         a transactional id idle this long is forgotten\n"
    "                         (default 604800000, 7 days)\n"
    "  --transaction-abort-check-ms MS\n"
    "                         how often transactions past their timeout are\n"
    "                         looked for and aborted (default 10000)\n"
    "  --offsets-retention-minutes N\n"
    "                         committed offsets expire this long after\n"
    "                         their commit, or after their group became\n"
    "                         Empty, as Kafka's offsets.retention.minutes\n"
    "                         (default 10080, 7 days; docs/protocol.md)\n"
    "  --offsets-retention-check-interval-ms MS\n"
    "                         how often expired offsets are looked for\n"
    "                         (default 600000)\n"
    "  --group-consumer-session-timeout-ms MS, --group-consumer-heartbeat-\n"
    "  interval-ms MS (and their -min-/-max- bounds), --group-consumer-max-\n"
    "  size N, --group-consumer-assignors LIST, --group-consumer-migration-\n"
    "  policy P, --group-consumer-assignment-interval-ms MS (and -min-/-max-)\n"
    "                         Kafka's group.consumer.* for KIP-848 consumer\n"
    "                         groups, with its defaults (docs/serve.md)\n"
    "  --log-level error|warn|info|debug\n"
    "                         least severe log line written to stderr\n"
    "                         (default info)\n"
    "  --log-format text|json log lines as text (timestamp, level,\n"
    "                         component, message) or one JSON object per\n"
    "                         line with the same and structured fields\n"
    "                         (default text)\n"
    "  --disk-free-warn-percent P, --disk-free-warn-bytes N\n"
    "                         warn once when the data directory's file\n"
    "                         system has less than P %% (default 5) or N\n"
    "                         bytes (default 1G; K, M, G suffixes) free,\n"
    "                         and again after it recovered\n"
    "  --disk-check-interval-ms MS\n"
    "                         how often free space is checked (default\n"
    "                         10000)\n"
    "  The topic defaults log.cleanup.policy, log.cleaner.min.cleanable.\n"
    "  ratio, log.cleaner.{min,max}.compaction.lag.ms and log.cleaner.\n"
    "  delete.retention.ms are set while it runs (kafka-configs --alter\n"
    "  --entity-type brokers), as log.retention.ms is.\n"
    "\n"
    "Environment (flags win; they win over --config): NODATA_CONFIG,\n"
    "NODATA_DATA (or NODATA_DIR), NODATA_LISTEN, NODATA_ALLOW_INSECURE=1,\n"
    "NODATA_ADVERTISE, NODATA_MAX_REQUEST_BYTES, NODATA_AUTO_CREATE=0,\n"
    "NODATA_PARTITIONS, NODATA_GROUP_INITIAL_DELAY_MS,\n"
    "NODATA_MAX_TOPIC_PARTITIONS, NODATA_MAX_STORE_PARTITIONS,\n"
    "NODATA_MAX_MAPPED_INDEXES, NODATA_MIN_SEGMENT_BYTES,\n"
    "NODATA_MAX_CONNECTIONS,\n"
    "NODATA_MAX_CONNECTIONS_PER_IP, NODATA_MAX_CONNECTIONS_PER_IP_OVERRIDES,\n"
    "NODATA_CONNECTIONS_MAX_IDLE_MS, NODATA_QUEUED_MAX_REQUEST_BYTES,\n"
    "NODATA_LOG_CLEANER_ENABLE, NODATA_LOG_CLEANER_THREADS,\n"
    "NODATA_LOG_CLEANER_DEDUPE_BUFFER_SIZE,\n"
    "NODATA_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND,\n"
    "NODATA_LOG_CLEANER_BACKOFF_MS, NODATA_TRANSACTION_VERSION,\n"
    "NODATA_TRANSACTION_MAX_TIMEOUT_MS, "
    "NODATA_TRANSACTIONAL_ID_EXPIRATION_MS,\n"
    "NODATA_TRANSACTION_ABORT_CHECK_MS, NODATA_OFFSETS_RETENTION_MINUTES,\n"
    "NODATA_OFFSETS_RETENTION_CHECK_INTERVAL_MS, NODATA_LOG_LEVEL,\n"
    "NODATA_LOG_FORMAT,\n"
    "NODATA_DISK_FREE_WARN_PERCENT, NODATA_DISK_FREE_WARN_BYTES,\n"
    "NODATA_DISK_CHECK_INTERVAL_MS.\n"
    "max.connections* can also be changed while it runs (kafka-configs\n"
    "--alter --entity-type brokers).\n"
    "\n"
    "SIGINT or SIGTERM stops it cleanly: in-flight requests finish, data is\n"
    "synced and the store is marked cleanly shut down.\n"
    "\n"
    "Examples:\n"
    "  nodata serve                  # 127.0.0.1:9092, this machine only\n"
    "  nodata serve --listen 127.0.0.1:0 --data /tmp/nd   # any free port\n"
    "  nodata serve --config /etc/nodata/server.properties\n"
    "      # on a network: listeners=SASL_SSL://0.0.0.0:9093 with TLS and\n"
    "      # SASL set up as docs/security.md shows\n"
    "  kcat -b 127.0.0.1:9092 -L\n"
    "\n"
    "Exit status: 0 stopped cleanly, 1 runtime failure (e.g. the data\n"
    "directory is in use), 2 usage error.\n";

static net_loop *volatile g_loop;

/* Logging and the free-space watch: serve.c's alone, so kept here rather
 * than in broker_config. */
static struct {
  int level, json;
  int free_pct;       /* warn below this % free */
  int64_t free_bytes; /* or below this many bytes free */
  int64_t check_ms;   /* between checks */
  int low;            /* below a threshold at the last check */
  net_timer *timer;
  const char *dir;
} g_log = {BLOG_INFO, 0, 5, (int64_t)1 << 30, 10000, 0, NULL, NULL};
static volatile sig_atomic_t g_stop_requested;

/* Installed before the store opens, so a SIGTERM during a long recovery
 * still ends in a clean shutdown instead of killing the process. */
static void on_stop_signal(int sig) {
  (void)sig;
  g_stop_requested = 1;
  net_loop *l = g_loop;
  if (l)
    net_loop_stop(l);
}

static int usage_error(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "nodata serve: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, " (see nodata serve --help)\n");
  return EXIT_USAGE;
}

int broker_parse_hostport(const char *s, char *host, size_t hostcap,
                          int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon || !colon[1])
    return -1;
  const char *h = s;
  size_t hl = (size_t)(colon - s);
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl >= hostcap)
    return -1;
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || *end || p < 0 || p > 65535)
    return -1;
  if (hl == 0) {
    snprintf(host, hostcap, "127.0.0.1");
  } else {
    memcpy(host, h, hl);
    host[hl] = 0;
  }
  *port = (int)p;
  return 0;
}

/* A byte count with an optional K/M/G (binary) suffix. */
static int parse_bytes(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *s == '-')
    return -1;
  unsigned long long mul = 1;
  if (*end) {
    switch (*end) {
    case 'k':
    case 'K':
      mul = 1ull << 10;
      break;
    case 'm':
    case 'M':
      mul = 1ull << 20;
      break;
    case 'g':
    case 'G':
      mul = 1ull << 30;
      break;
    default:
      return -1;
    }
    if (end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]) &&
        !((end[1] == 'i') && (end[2] == 'B' || end[2] == 'b') && !end[3]))
      return -1;
  }
  if (v > INT32_MAX / mul || v * mul < 1024 || v * mul > INT32_MAX)
    return -1;
  *out = (size_t)(v * mul);
  return 0;
}

/* A byte count of 0 or more with an optional K/M/G (binary) suffix,
 * without parse_bytes' 2 GiB cap. */
static int parse_size64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || v < 0)
    return -1;
  int shift = !*end                          ? 0
              : (*end == 'k' || *end == 'K') ? 10
              : (*end == 'm' || *end == 'M') ? 20
              : (*end == 'g' || *end == 'G') ? 30
                                             : -1;
  if (shift < 0 || (*end && end[1]) || v > (INT64_MAX >> shift))
    return -1;
  *out = (int64_t)v << shift;
  return 0;
}

static int parse_count(const char *s, long max, int32_t *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 1 || v > max)
    return -1;
  *out = (int32_t)v;
  return 0;
}

/* Apply one setting by name; `from` names the flag or variable for the
 * error line. Returns 0 or EXIT_USAGE. */
/* The numeric group.consumer.* settings: flag name, field, Kafka's default
 * and the least value the flag takes. Kafka's floors for the session
 * (45 s) and heartbeat interval (5 s) defaults stay; the least values a
 * flag takes are lower, as for the classic protocol (GROUP_MIN_SESSION_MS):
 * one node on one machine can tell a dead member sooner. */
typedef struct cg_int_setting {
  const char *flag;
  size_t off;
  int32_t dflt, lo;
  unsigned bit;
} cg_int_setting;

static const cg_int_setting cg_ints[] = {
    {"group-consumer-session-timeout-ms",
     offsetof(broker_config, cg_session_ms), 45000, 1, BC_SET_CG_SESSION},
    {"group-consumer-min-session-timeout-ms",
     offsetof(broker_config, cg_min_session_ms), 45000, 1,
     BC_SET_CG_MIN_SESSION},
    {"group-consumer-max-session-timeout-ms",
     offsetof(broker_config, cg_max_session_ms), 60000, 1,
     BC_SET_CG_MAX_SESSION},
    {"group-consumer-heartbeat-interval-ms",
     offsetof(broker_config, cg_heartbeat_ms), 5000, 1, BC_SET_CG_HEARTBEAT},
    {"group-consumer-min-heartbeat-interval-ms",
     offsetof(broker_config, cg_min_heartbeat_ms), 5000, 1,
     BC_SET_CG_MIN_HEARTBEAT},
    {"group-consumer-max-heartbeat-interval-ms",
     offsetof(broker_config, cg_max_heartbeat_ms), 15000, 1,
     BC_SET_CG_MAX_HEARTBEAT},
    {"group-consumer-max-size", offsetof(broker_config, cg_max_size), INT32_MAX,
     1, BC_SET_CG_MAX_SIZE},
    {"group-consumer-assignment-interval-ms",
     offsetof(broker_config, cg_assign_interval_ms), 1000, 0,
     BC_SET_CG_ASSIGN_INTERVAL},
    {"group-consumer-min-assignment-interval-ms",
     offsetof(broker_config, cg_min_assign_interval_ms), 0, 0,
     BC_SET_CG_MIN_ASSIGN_INTERVAL},
    {"group-consumer-max-assignment-interval-ms",
     offsetof(broker_config, cg_max_assign_interval_ms), 15000, 0,
     BC_SET_CG_MAX_ASSIGN_INTERVAL},
};

static const cg_int_setting *cg_int(const char *flag) {
  for (size_t i = 0; i < sizeof cg_ints / sizeof cg_ints[0]; i++)
    if (!strcmp(flag, cg_ints[i].flag))
      return &cg_ints[i];
  return NULL;
}

static int apply(broker_config *c, const char *name, const char *value,
                 const char *from, int *advertise_set) {
  if (!strcmp(name, "data")) {
    if (!*value)
      return usage_error("%s%s: empty data directory", from, "");
    c->data_dir = value;
  } else if (!strcmp(name, "config")) {
    /* Read before everything else (parse_config). */
  } else if (!strcmp(name, "auto-create")) {
    /* Only from the file (auto.create.topics.enable): the flag is
     * --no-auto-create, the variable NODATA_AUTO_CREATE. */
    if (strcmp(value, "true") && strcmp(value, "false"))
      return usage_error("%s: '%s' is not true or false", from, value);
    c->auto_create = !strcmp(value, "true");
    c->explicit_set |= BC_SET_AUTO_CREATE;
  } else if (!strcmp(name, "listen")) {
    if (broker_parse_hostport(value, c->listen_host, sizeof c->listen_host,
                              &c->listen_port) < 0)
      return usage_error("%s: '%s' is not HOST:PORT (port 0-65535)", from,
                         value);
    c->explicit_set |= BC_SET_LISTEN;
  } else if (!strcmp(name, "http")) {
    if (broker_parse_hostport(value, c->http_host, sizeof c->http_host,
                              &c->http_port) < 0)
      return usage_error("%s: '%s' is not HOST:PORT (port 0-65535)", from,
                         value);
  } else if (!strcmp(name, "http-allowed-hosts")) {
    if (strlen(value) >= sizeof c->http_allowed_hosts)
      return usage_error("%s: '%s' is longer than the 1023 bytes allowed", from,
                         value);
    snprintf(c->http_allowed_hosts, sizeof c->http_allowed_hosts, "%s", value);
  } else if (!strcmp(name, "advertise")) {
    if (broker_parse_hostport(value, c->advertise_host,
                              sizeof c->advertise_host,
                              &c->advertise_port) < 0 ||
        c->advertise_port == 0)
      return usage_error("%s: '%s' is not HOST:PORT (port 1-65535)", from,
                         value);
    *advertise_set = 1;
  } else if (!strcmp(name, "max-request-bytes")) {
    if (parse_bytes(value, &c->max_request_bytes) < 0)
      return usage_error("%s: '%s' is not a size from 1K to 2G-1", from, value);
  } else if (!strcmp(name, "partitions")) {
    if (parse_count(value, 1000000, &c->default_partitions) < 0)
      return usage_error("%s: '%s' is not a count from 1 to 1000000", from,
                         value);
    c->explicit_set |= BC_SET_PARTITIONS;
  } else if (!strcmp(name, "max-topic-partitions")) {
    if (parse_count(value, 1000000, &c->max_topic_partitions) < 0)
      return usage_error("%s: '%s' is not a count from 1 to 1000000", from,
                         value);
  } else if (!strcmp(name, "max-store-partitions") ||
             !strcmp(name, "max-mapped-indexes") ||
             !strcmp(name, "min-segment-bytes")) {
    int32_t *dst =
        !strcmp(name, "max-store-partitions") ? &c->max_store_partitions
        : !strcmp(name, "max-mapped-indexes") ? &c->max_mapped_indexes
                                              : &c->min_segment_bytes;
    if (parse_count(value, INT32_MAX, dst) < 0)
      return usage_error("%s: '%s' is not a count from 1 to 2147483647", from,
                         value);
  } else if (!strcmp(name, "max-connections") ||
             !strcmp(name, "max-connections-per-ip")) {
    int per_ip = name[15] == '-';
    int32_t v = 0;
    if (!strcmp(value, "0") && per_ip) {
      v = 0; /* only the overrides' addresses (checked below) */
    } else if (parse_count(value, INT32_MAX, &v) < 0) {
      return usage_error("%s: '%s' is not a count from 1 to 2147483647", from,
                         value);
    }
    *(per_ip ? &c->max_connections_per_ip : &c->max_connections) = v;
    c->explicit_set |= per_ip ? BC_SET_MAX_PER_IP : BC_SET_MAX_CONNECTIONS;
  } else if (!strcmp(name, "max-connections-per-ip-overrides")) {
    net_ip_limit *ip = NULL;
    size_t n = 0;
    char why[300];
    if (net_parse_ip_limits(value, &ip, &n, why, sizeof why) < 0)
      return usage_error("%s: %s", from, why);
    free(ip);
    c->per_ip_overrides = value;
    c->explicit_set |= BC_SET_PER_IP_OVERRIDES;
  } else if (!strcmp(name, "connections-max-idle-ms") ||
             !strcmp(name, "connection-failed-authentication-delay-ms")) {
    int idle = !strcmp(name, "connections-max-idle-ms");
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 0 || v > INT32_MAX)
      return usage_error("%s: '%s' is not a time from 0 to 2147483647 ms", from,
                         value);
    *(idle ? &c->idle_ms : &c->failed_auth_delay_ms) = v;
    c->explicit_set |= idle ? BC_SET_IDLE : BC_SET_FAILED_AUTH_DELAY;
  } else if (!strcmp(name, "queued-max-request-bytes")) {
    size_t v;
    if (!strcmp(value, "-1"))
      c->queued_max_bytes = -1;
    else if (parse_bytes(value, &v) == 0)
      c->queued_max_bytes = (int64_t)v;
    else
      return usage_error("%s: '%s' is not -1 or a size from 1K to 2G-1", from,
                         value);
    c->explicit_set |= BC_SET_QUEUED_BYTES;
  } else if (!strcmp(name, "log-cleaner-enable")) {
    if (strcmp(value, "true") && strcmp(value, "false"))
      return usage_error("%s: '%s' is not true or false", from, value);
    c->cleaner_enable = !strcmp(value, "true");
    c->explicit_set |= BC_SET_CLEANER_ENABLE;
  } else if (!strcmp(name, "log-cleaner-threads")) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < 0 || v > 64)
      return usage_error("%s: '%s' is not a count from 0 to 64", from, value);
    c->cleaner_threads = (int32_t)v;
    c->explicit_set |= BC_SET_CLEANER_THREADS;
  } else if (!strcmp(name, "log-cleaner-dedupe-buffer-size")) {
    if (parse_size64(value, &c->cleaner_dedupe_bytes) < 0)
      return usage_error("%s: '%s' is not a size (K, M, G suffixes)", from,
                         value);
    c->explicit_set |= BC_SET_CLEANER_DEDUPE;
  } else if (!strcmp(name, "log-cleaner-io-max-bytes-per-second")) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v > 0))
      return usage_error("%s: '%s' is not a rate above 0", from, value);
    c->cleaner_io_max = v;
    c->cleaner_io_text = value;
    c->explicit_set |= BC_SET_CLEANER_IO;
  } else if (!strcmp(name, "log-cleaner-backoff-ms")) {
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 0)
      return usage_error("%s: '%s' is not a time of 0 ms or more", from, value);
    c->cleaner_backoff_ms = v;
    c->explicit_set |= BC_SET_CLEANER_BACKOFF;
  } else if (cg_int(name)) {
    const cg_int_setting *t = cg_int(name);
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < t->lo || v > INT32_MAX)
      return usage_error(t->lo ? "%s: '%s' is not a number from 1 to "
                                 "2147483647"
                               : "%s: '%s' is not a number from 0 to "
                                 "2147483647",
                         from, value);
    *(int32_t *)(void *)((char *)c + t->off) = (int32_t)v;
    c->explicit_set |= t->bit;
  } else if (!strcmp(name, "group-consumer-assignors")) {
    /* Kafka takes class names or the short names; nodata has the two
     * built-in assignors and keeps their short names. */
    char buf[sizeof c->cg_assignors];
    size_t o = 0;
    const char *p = value;
    while (*p) {
      const char *e = strchr(p, ',');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      while (n && *p == ' ')
        p++, n--;
      while (n && p[n - 1] == ' ')
        n--;
      const char *dot = memrchr(p, '.', n);
      const char *base = dot ? dot + 1 : p;
      size_t bn = n - (size_t)(base - p);
      const char *shortname = NULL;
      if ((bn == 7 && !strncmp(base, "uniform", 7)) ||
          (bn == 14 && !strncmp(base, "UniformAssignor", 14)))
        shortname = "uniform";
      else if ((bn == 5 && !strncmp(base, "range", 5)) ||
               (bn == 13 && !strncmp(base, "RangeAssignor", 13)))
        shortname = "range";
      if (!shortname)
        return usage_error("%s: '%s' names an assignor nodata does not have "
                           "(it has uniform and range)",
                           from, value);
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", o ? "," : "",
                            shortname);
      if (o >= sizeof buf)
        return usage_error("%s: '%s' names too many assignors", from, value);
      p = e ? e + 1 : p + n;
    }
    if (!o)
      return usage_error("%s: '%s' names no assignor", from, value);
    memcpy(c->cg_assignors, buf, o + 1);
    c->explicit_set |= BC_SET_CG_ASSIGNORS;
  } else if (!strcmp(name, "group-consumer-migration-policy")) {
    static const char *const pol[] = {"disabled", "upgrade", "downgrade",
                                      "bidirectional"};
    int which = -1;
    for (int i = 0; i < 4; i++)
      if (!strcasecmp(value, pol[i]))
        which = i;
    if (which < 0)
      return usage_error("%s: '%s' is not disabled, upgrade, downgrade or "
                         "bidirectional",
                         from, value);
    c->cg_migration_policy = which;
    c->explicit_set |= BC_SET_CG_MIGRATION;
  } else if (!strcmp(name, "transaction-version")) {
    if (strcmp(value, "1") && strcmp(value, "2"))
      return usage_error("%s: '%s' is not 1 or 2", from, value);
    c->transaction_version = value[0] - '0';
  } else if (!strcmp(name, "transaction-max-timeout-ms") ||
             !strcmp(name, "transactional-id-expiration-ms") ||
             !strcmp(name, "transaction-abort-check-ms")) {
    /* Kafka's bounds: at least 1 ms, and the timeouts are ints. */
    int which = !strcmp(name, "transaction-max-timeout-ms")       ? 0
                : !strcmp(name, "transactional-id-expiration-ms") ? 1
                                                                  : 2;
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 1 || v > INT32_MAX)
      return usage_error("%s: '%s' is not a time from 1 to 2147483647 ms", from,
                         value);
    *(which == 0   ? &c->txn_max_timeout_ms
      : which == 1 ? &c->txn_id_expiration_ms
                   : &c->txn_abort_check_ms) = v;
    c->explicit_set |= which == 0   ? BC_SET_TXN_MAX_TIMEOUT
                       : which == 1 ? BC_SET_TXN_ID_EXPIRATION
                                    : BC_SET_TXN_ABORT_CHECK;
  } else if (!strcmp(name, "offsets-retention-minutes") ||
             !strcmp(name, "offsets-retention-check-interval-ms")) {
    /* Kafka's bounds: at least 1; the minutes are an int, the interval a
     * long. */
    int minutes = !strcmp(name, "offsets-retention-minutes");
    long long max = minutes ? INT32_MAX : INT64_MAX;
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 1 || v > max)
      return usage_error(minutes ? "%s: '%s' is not a number from 1 to "
                                   "2147483647"
                                 : "%s: '%s' is not a number from 1 to "
                                   "9223372036854775807",
                         from, value);
    if (minutes) {
      c->offsets_retention_min = v;
      c->explicit_set |= BC_SET_OFFSETS_RETENTION;
    } else {
      c->offsets_retention_check_ms = v;
      c->explicit_set |= BC_SET_OFFSETS_RETENTION_CHECK;
    }
  } else if (!strcmp(name, "log-level")) {
    if ((g_log.level = blog_parse_level(value)) < 0)
      return usage_error("%s: '%s' is not error, warn, info or debug", from,
                         value);
  } else if (!strcmp(name, "log-format")) {
    if (strcmp(value, "text") && strcmp(value, "json"))
      return usage_error("%s: '%s' is not text or json", from, value);
    g_log.json = !strcmp(value, "json");
  } else if (!strcmp(name, "disk-free-warn-percent")) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < 0 || v > 100)
      return usage_error("%s: '%s' is not a percentage from 0 to 100", from,
                         value);
    g_log.free_pct = (int)v;
  } else if (!strcmp(name, "disk-free-warn-bytes")) {
    if (parse_size64(value, &g_log.free_bytes) < 0)
      return usage_error("%s: '%s' is not a size (K, M, G suffixes)", from,
                         value);
  } else if (!strcmp(name, "disk-check-interval-ms")) {
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 100 || v > 86400000)
      return usage_error("%s: '%s' is not a time from 100 to 86400000 ms", from,
                         value);
    g_log.check_ms = v;
  } else if (!strcmp(name, "group-initial-delay-ms")) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < 0 || v > 300000)
      return usage_error("%s: '%s' is not a delay from 0 to 300000 ms", from,
                         value);
    c->group_initial_delay_ms = (int32_t)v;
    c->explicit_set |= BC_SET_GROUP_DELAY;
  }
  return 0;
}

/* What the store reports outside the calls' results (damage worked
 * around, recovery) goes to the broker's log. */
static void serve_store_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  /* nd_log_level's numbers are logline's (ERROR 0, WARN 1, INFO 2). */
  blog(level < BLOG_ERROR   ? BLOG_ERROR
       : level > BLOG_DEBUG ? BLOG_DEBUG
                            : level,
       "store", NULL, 0, "%s", msg);
}

/* What recovery did when the store was opened, so an operator learns
 * what a crash cost: one line per partition that needed work (the WARN
 * lines from the store say the same per cut, but only for cuts) and a
 * summary. */
static void log_recovery(nd_store *store) {
  nd_recovery_stats st;
  nd_recovery_partition *parts = NULL;
  size_t n = 0;
  if (nd_recovery_report(store, &st, &parts, &n) != 0) {
    blog_warn("recovery", "no recovery report: %s", nd_errmsg());
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const nd_recovery_partition *r = &parts[i];
    if (r->offline) {
      blog_field f[2] = {BLOG_STR("topic", r->topic),
                         BLOG_NUM("partition", r->partition)};
      blog(BLOG_ERROR, "recovery", f, 2, "topic '%s' partition %d: offline: %s",
           r->topic, (int)r->partition, r->reason);
      continue;
    }
    char cut[384] = "nothing cut";
    if (r->cut_file[0])
      snprintf(cut, sizeof cut,
               "cut %" PRId64 " bytes at %s byte %" PRId64 " (offset %" PRId64
               " on; %d later segments deleted): %s",
               r->bytes_truncated, r->cut_file, r->cut_position, r->cut_offset,
               (int)r->segments_deleted, r->reason);
    blog_field f[5] = {BLOG_STR("topic", r->topic),
                       BLOG_NUM("partition", r->partition),
                       BLOG_NUM("bytes_cut", r->bytes_truncated),
                       BLOG_NUM("indexes_rebuilt", r->indexes_rebuilt),
                       BLOG_NUM("segments_scanned", r->segments_scanned)};
    blog(r->bytes_truncated || r->segments_deleted ? BLOG_WARN : BLOG_INFO,
         "recovery", f, 5,
         "topic '%s' partition %d: %d segments scanned, %d indexes rebuilt, "
         "%s; producer state %s (%" PRId64 " batch headers read)",
         r->topic, (int)r->partition, (int)r->segments_scanned,
         (int)r->indexes_rebuilt, cut,
         r->producer_state_rebuilt ? "rebuilt" : "loaded", r->producer_batches);
  }
  nd_free(parts);
  if (st.partitions == 0)
    return; /* a new or empty store: nothing to recover */
  blog_field f[3] = {BLOG_NUM("clean_shutdown", st.clean_shutdown),
                     BLOG_NUM("bytes_cut", st.bytes_truncated),
                     BLOG_NUM("partitions_offline", st.partitions_offline)};
  blog(BLOG_INFO, "recovery", f, 3,
       "%s shutdown before; %d of %d partitions "
       "needed work: %" PRId64 " segments scanned, %" PRId64
       " indexes rebuilt, %" PRId64 " bytes cut, %d segments "
       "deleted, %d partitions offline",
       st.clean_shutdown ? "clean" : "unclean", (int)st.partitions_recovered,
       (int)st.partitions, st.segments_scanned, st.indexes_rebuilt,
       st.bytes_truncated, (int)st.segments_deleted,
       (int)st.partitions_offline);
}

int broker_host_is_loopback(const char *host) {
  if (!*host)
    return 0;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  if (getaddrinfo(host, NULL, &hints, &res) != 0)
    return -1;
  int loop = res != NULL;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)ai->ai_addr;
      loop &= (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (ai->ai_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ai->ai_addr;
      loop &= IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    } else {
      loop = 0;
    }
  }
  freeaddrinfo(res);
  return loop;
}

/* A listener's ssl.client.auth: its listener.name.<name>.ssl.client.auth
 * (lower-case name, as Kafka's per-listener overrides), else the
 * broker's. */
static const char *client_auth_of(const broker_config *c,
                                  const broker_listener *l) {
  return broker_props_listener(c->props, l->name, "ssl.client.auth");
}

/* host:port for a message: [v6]:port, and "every address" for "". */
static void addr_text(const char *host, int port, char *out, size_t cap) {
  if (!*host)
    snprintf(out, cap, "every address, port %d", port);
  else if (strchr(host, ':'))
    snprintf(out, cap, "[%s]:%d", host, port);
  else
    snprintf(out, cap, "%s:%d", host, port);
}

/* The listener the web console talks to (console.h's ck_target says
 * which and why): its index, or -1 with why[] saying why there is none. */
static int console_listener(const broker_config *c, char *why, size_t whylen) {
  int ssl = -1, mtls = -1;
  for (size_t i = 0; i < c->nlisteners; i++)
    if (c->listeners[i].protocol == SEC_PLAINTEXT ||
        c->listeners[i].protocol == SEC_SASL_PLAINTEXT)
      return (int)i;
  for (size_t i = 0; i < c->nlisteners; i++) {
    const broker_listener *l = &c->listeners[i];
    if (l->protocol != SEC_SSL && l->protocol != SEC_SASL_SSL)
      continue;
    const char *ca = client_auth_of(c, l);
    if (ca && !strcasecmp(ca, "required")) {
      if (mtls < 0)
        mtls = (int)i;
      continue;
    }
    if (l->protocol == SEC_SASL_SSL)
      return (int)i;
    if (ssl < 0)
      ssl = (int)i;
  }
  if (ssl >= 0)
    return ssl;
  if (mtls >= 0)
    snprintf(why, whylen,
             "the console has no client certificate, and listener %s (%s) "
             "requires one (ssl.client.auth=required), as every listener of "
             "this broker does: add a SASL_SSL listener, or a PLAINTEXT one "
             "on 127.0.0.1, for the console (docs/console.md)",
             c->listeners[mtls].name,
             sec_protocol_name(c->listeners[mtls].protocol));
  else
    snprintf(why, whylen, "this broker has no listener the console can use");
  return -1;
}

/* The web console acts for whoever reaches --http, as the principal of
 * the listener it talks to (console_listener). On PLAINTEXT and SSL that
 * is User:ANONYMOUS for everyone, with no login: an --http address others
 * can reach is then the same open door as a PLAINTEXT listener on it, and
 * refused the same way. (A broker without such a listener has a console
 * that answers 503.) Returns 0 or EXIT_USAGE. */
static int http_insecure_check(const broker_config *c) {
  if (!c->http_host[0] || broker_host_is_loopback(c->http_host) != 0)
    return 0;
  char why[512];
  int i = console_listener(c, why, sizeof why);
  if (i < 0 || c->listeners[i].protocol == SEC_SASL_PLAINTEXT ||
      c->listeners[i].protocol == SEC_SASL_SSL)
    return 0;
  const broker_listener *target = &c->listeners[i];
  char addr[300];
  addr_text(c->http_host, c->http_port, addr, sizeof addr);
  fprintf(stderr,
          "nodata serve: refusing to serve the web console on %s: it talks "
          "to the broker through listener %s (%s), which "
          "authenticates no one, so anyone who can reach that address could "
          "read, write and delete every topic as User:ANONYMOUS, with no "
          "login.\n"
          "  To keep it local, serve it on 127.0.0.1 (--http "
          "127.0.0.1:PORT).\n"
          "  To make the console ask for a login, put a SASL_PLAINTEXT "
          "listener first (on 127.0.0.1 if clients use another): the "
          "console logs its users in with SCRAM (docs/security.md).\n"
          "  If the network itself is trusted (a private network, a "
          "container's), say so: --allow-insecure, or allow.insecure=true "
          "in the --config file, or NODATA_ALLOW_INSECURE=1.\n",
          addr, target->name, sec_protocol_name(target->protocol));
  return EXIT_USAGE;
}

/* Safe by default: a listener that authenticates no one (PLAINTEXT, or
 * SSL without required client certificates) on an address others can
 * reach lets anyone read, write and delete every topic. Refused rather
 * than warned about, since a warning scrolls away in a service's log
 * (Redis's protected mode is the precedent); --allow-insecure says it is
 * meant. Returns 0 or EXIT_USAGE. */
static int insecure_check(const broker_config *c) {
  if (c->allow_insecure)
    return 0;
  for (size_t i = 0; i < c->nlisteners; i++) {
    const broker_listener *l = &c->listeners[i];
    const char *ca = client_auth_of(c, l);
    int authenticates =
        l->protocol == SEC_SASL_PLAINTEXT || l->protocol == SEC_SASL_SSL ||
        (l->protocol == SEC_SSL && ca && !strcasecmp(ca, "required"));
    if (authenticates || broker_host_is_loopback(l->host) != 0)
      continue;
    char addr[300];
    addr_text(l->host, l->port, addr, sizeof addr);
    fprintf(stderr,
            "nodata serve: refusing to listen on %s: listener %s (%s) "
            "authenticates no one, so anyone who can reach that address "
            "could read, write and delete every topic.\n"
            "  To keep it local, listen on 127.0.0.1 (the default).\n"
            "  To require clients to authenticate, make it a SASL_SSL or "
            "SASL_PLAINTEXT listener, or SSL with ssl.client.auth=required "
            "(docs/security.md).\n"
            "  If the network itself is trusted (a private network, a "
            "container's), say so: --allow-insecure, or allow.insecure=true "
            "in the --config file, or NODATA_ALLOW_INSECURE=1.\n",
            addr, l->name, sec_protocol_name(l->protocol));
    return EXIT_USAGE;
  }
  return http_insecure_check(c);
}

/* The flags that are Kafka broker properties, under Kafka's names in a
 * --config file (docs/serve.md). log.dirs after log.dir: Kafka's
 * log.dirs wins. */
static const struct {
  const char *prop, *flag;
} kafka_names[] = {
    {"log.dir", "data"},
    {"log.dirs", "data"},
    {"auto.create.topics.enable", "auto-create"},
    {"num.partitions", "partitions"},
    {"socket.request.max.bytes", "max-request-bytes"},
    {"group.initial.rebalance.delay.ms", "group-initial-delay-ms"},
    {"max.connections", "max-connections"},
    {"max.connections.per.ip", "max-connections-per-ip"},
    {"max.connections.per.ip.overrides", "max-connections-per-ip-overrides"},
    {"connections.max.idle.ms", "connections-max-idle-ms"},
    {"connection.failed.authentication.delay.ms",
     "connection-failed-authentication-delay-ms"},
    {"queued.max.request.bytes", "queued-max-request-bytes"},
    {"log.cleaner.enable", "log-cleaner-enable"},
    {"log.cleaner.threads", "log-cleaner-threads"},
    {"log.cleaner.dedupe.buffer.size", "log-cleaner-dedupe-buffer-size"},
    {"log.cleaner.io.max.bytes.per.second",
     "log-cleaner-io-max-bytes-per-second"},
    {"log.cleaner.backoff.ms", "log-cleaner-backoff-ms"},
    {"transaction.max.timeout.ms", "transaction-max-timeout-ms"},
    {"transactional.id.expiration.ms", "transactional-id-expiration-ms"},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms",
     "transaction-abort-check-ms"},
    {"offsets.retention.minutes", "offsets-retention-minutes"},
    {"offsets.retention.check.interval.ms",
     "offsets-retention-check-interval-ms"},
    {"group.consumer.session.timeout.ms", "group-consumer-session-timeout-ms"},
    {"group.consumer.min.session.timeout.ms",
     "group-consumer-min-session-timeout-ms"},
    {"group.consumer.max.session.timeout.ms",
     "group-consumer-max-session-timeout-ms"},
    {"group.consumer.heartbeat.interval.ms",
     "group-consumer-heartbeat-interval-ms"},
    {"group.consumer.min.heartbeat.interval.ms",
     "group-consumer-min-heartbeat-interval-ms"},
    {"group.consumer.max.heartbeat.interval.ms",
     "group-consumer-max-heartbeat-interval-ms"},
    {"group.consumer.max.size", "group-consumer-max-size"},
    {"group.consumer.assignors", "group-consumer-assignors"},
    {"group.consumer.migration.policy", "group-consumer-migration-policy"},
    {"group.consumer.assignment.interval.ms",
     "group-consumer-assignment-interval-ms"},
    {"group.consumer.min.assignment.interval.ms",
     "group-consumer-min-assignment-interval-ms"},
    {"group.consumer.max.assignment.interval.ms",
     "group-consumer-max-assignment-interval-ms"},
};

static int parse_config(int argc, char **argv, broker_config *c) {
  memset(c, 0, sizeof *c);
  c->data_dir = "./data";
  snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
  c->listen_port = 9092;
  c->max_request_bytes = (size_t)100 * 1024 * 1024;
  c->auto_create = 1;
  c->default_partitions = 1;
  c->node_id = 0;
  c->group_initial_delay_ms = 3000;
  c->min_segment_bytes = BROKER_MIN_SEGMENT_BYTES;
  c->idle_ms = 600000;
  c->failed_auth_delay_ms = 100;
  c->queued_max_bytes = BC_QUEUED_MAX_BYTES_DEFAULT;
  c->max_connections = INT32_MAX;
  c->max_connections_per_ip = INT32_MAX;
  c->per_ip_overrides = "";
  c->cleaner_enable = 1;
  c->cleaner_threads = 1;
  c->cleaner_dedupe_bytes = (int64_t)128 << 20;
  c->cleaner_io_max = 1.7976931348623157e308; /* Kafka's: Double.MAX_VALUE */
  c->cleaner_io_text = "1.7976931348623157E308";
  c->cleaner_backoff_ms = 15000;
  c->txn_max_timeout_ms = 900000;
  c->txn_id_expiration_ms = 604800000;
  c->txn_abort_check_ms = 10000;
  c->transaction_version = 2;
  c->offsets_retention_min = 10080;
  c->offsets_retention_check_ms = 600000;
  for (size_t i = 0; i < sizeof cg_ints / sizeof cg_ints[0]; i++)
    *(int32_t *)(void *)((char *)c + cg_ints[i].off) = cg_ints[i].dflt;
  snprintf(c->cg_assignors, sizeof c->cg_assignors, "uniform,range");
  c->cg_migration_policy = CG_MIGRATE_BIDIRECTIONAL;
  int advertise_set = 0, rc;

  /* The file first: variables and flags override what it says. */
  c->config_path = getenv("NODATA_CONFIG");
  if (c->config_path && !*c->config_path)
    c->config_path = NULL;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--config"))
      c->config_path = argv[i + 1];
    else if (!strncmp(argv[i], "--config=", 9))
      c->config_path = argv[i] + 9;
  if (!strncmp(argv[argc - 1], "--config=", 9))
    c->config_path = argv[argc - 1] + 9;
  char why[512];
  if (c->config_path) {
    if (broker_props_load(c->config_path, &c->props, why, sizeof why) < 0)
      return usage_error("%s%s", why, "");
  } else if (!(c->props = broker_props_new())) {
    return usage_error("out of memory%s%s", "", "");
  }

  /* Kafka's names for the flags, read from the file first: variables
   * and flags then override them. */
  for (size_t i = 0; i < sizeof kafka_names / sizeof kafka_names[0]; i++) {
    const char *v = broker_props_get(c->props, kafka_names[i].prop);
    if (!v)
      continue;
    char from[300];
    snprintf(from, sizeof from, "%s: %s", c->config_path, kafka_names[i].prop);
    if (!strcmp(kafka_names[i].prop, "log.dirs") && strchr(v, ','))
      return usage_error("%s: '%s': nodata keeps one data directory; give "
                         "one path",
                         from, v);
    if ((rc = apply(c, kafka_names[i].flag, v, from, &advertise_set)) != 0)
      return rc;
  }
  const char *ai_prop = broker_props_get(c->props, "allow.insecure");
  if (ai_prop) {
    if (strcmp(ai_prop, "true") && strcmp(ai_prop, "false"))
      return usage_error("%s: allow.insecure: '%s' is not true or false",
                         c->config_path, ai_prop);
    c->allow_insecure = !strcmp(ai_prop, "true");
  }

  static const struct {
    const char *env, *name;
  } envs[] = {
      {"NODATA_DIR", "data"},
      {"NODATA_DATA", "data"}, /* wins over NODATA_DIR */
      {"NODATA_CONFIG", "config"},
      {"NODATA_LISTEN", "listen"},
      {"NODATA_ADVERTISE", "advertise"},
      {"NODATA_HTTP", "http"},
      {"NODATA_HTTP_ALLOWED_HOSTS", "http-allowed-hosts"},
      {"NODATA_MAX_REQUEST_BYTES", "max-request-bytes"},
      {"NODATA_PARTITIONS", "partitions"},
      {"NODATA_MAX_TOPIC_PARTITIONS", "max-topic-partitions"},
      {"NODATA_MAX_STORE_PARTITIONS", "max-store-partitions"},
      {"NODATA_MAX_MAPPED_INDEXES", "max-mapped-indexes"},
      {"NODATA_MIN_SEGMENT_BYTES", "min-segment-bytes"},

      {"NODATA_GROUP_INITIAL_DELAY_MS", "group-initial-delay-ms"},
      {"NODATA_MAX_CONNECTIONS", "max-connections"},
      {"NODATA_MAX_CONNECTIONS_PER_IP", "max-connections-per-ip"},
      {"NODATA_MAX_CONNECTIONS_PER_IP_OVERRIDES",
       "max-connections-per-ip-overrides"},
      {"NODATA_CONNECTIONS_MAX_IDLE_MS", "connections-max-idle-ms"},
      {"NODATA_CONNECTION_FAILED_AUTHENTICATION_DELAY_MS",
       "connection-failed-authentication-delay-ms"},
      {"NODATA_QUEUED_MAX_REQUEST_BYTES", "queued-max-request-bytes"},
      {"NODATA_LOG_CLEANER_ENABLE", "log-cleaner-enable"},
      {"NODATA_LOG_CLEANER_THREADS", "log-cleaner-threads"},
      {"NODATA_LOG_CLEANER_DEDUPE_BUFFER_SIZE",
       "log-cleaner-dedupe-buffer-size"},
      {"NODATA_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND",
       "log-cleaner-io-max-bytes-per-second"},
      {"NODATA_LOG_CLEANER_BACKOFF_MS", "log-cleaner-backoff-ms"},
      {"NODATA_TRANSACTION_VERSION", "transaction-version"},
      {"NODATA_TRANSACTION_MAX_TIMEOUT_MS", "transaction-max-timeout-ms"},
      {"NODATA_TRANSACTIONAL_ID_EXPIRATION_MS",
       "transactional-id-expiration-ms"},
      {"NODATA_TRANSACTION_ABORT_CHECK_MS", "transaction-abort-check-ms"},
      {"NODATA_OFFSETS_RETENTION_MINUTES", "offsets-retention-minutes"},
      {"NODATA_OFFSETS_RETENTION_CHECK_INTERVAL_MS",
       "offsets-retention-check-interval-ms"},
      {"NODATA_GROUP_CONSUMER_SESSION_TIMEOUT_MS",
       "group-consumer-session-timeout-ms"},
      {"NODATA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS",
       "group-consumer-min-session-timeout-ms"},
      {"NODATA_GROUP_CONSUMER_MAX_SESSION_TIMEOUT_MS",
       "group-consumer-max-session-timeout-ms"},
      {"NODATA_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS",
       "group-consumer-heartbeat-interval-ms"},
      {"NODATA_GROUP_CONSUMER_MIN_HEARTBEAT_INTERVAL_MS",
       "group-consumer-min-heartbeat-interval-ms"},
      {"NODATA_GROUP_CONSUMER_MAX_HEARTBEAT_INTERVAL_MS",
       "group-consumer-max-heartbeat-interval-ms"},
      {"NODATA_GROUP_CONSUMER_MAX_SIZE", "group-consumer-max-size"},
      {"NODATA_GROUP_CONSUMER_ASSIGNORS", "group-consumer-assignors"},
      {"NODATA_GROUP_CONSUMER_MIGRATION_POLICY",
       "group-consumer-migration-policy"},
      {"NODATA_GROUP_CONSUMER_ASSIGNMENT_INTERVAL_MS",
       "group-consumer-assignment-interval-ms"},
      {"NODATA_GROUP_CONSUMER_MIN_ASSIGNMENT_INTERVAL_MS",
       "group-consumer-min-assignment-interval-ms"},
      {"NODATA_GROUP_CONSUMER_MAX_ASSIGNMENT_INTERVAL_MS",
       "group-consumer-max-assignment-interval-ms"},
      {"NODATA_LOG_LEVEL", "log-level"},
      {"NODATA_LOG_FORMAT", "log-format"},
      {"NODATA_DISK_FREE_WARN_PERCENT", "disk-free-warn-percent"},
      {"NODATA_DISK_FREE_WARN_BYTES", "disk-free-warn-bytes"},
      {"NODATA_DISK_CHECK_INTERVAL_MS", "disk-check-interval-ms"}};
  for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
    const char *v = getenv(envs[i].env);
    if (v && *v &&
        (rc = apply(c, envs[i].name, v, envs[i].env, &advertise_set)) != 0)
      return rc;
  }
  const char *ac = getenv("NODATA_AUTO_CREATE");
  if (ac && *ac) {
    if (!strcmp(ac, "0") || !strcmp(ac, "false") || !strcmp(ac, "no"))
      c->auto_create = 0;
    else if (!strcmp(ac, "1") || !strcmp(ac, "true") || !strcmp(ac, "yes"))
      c->auto_create = 1;
    else
      return usage_error("NODATA_AUTO_CREATE: '%s' is not 0 or 1%s", ac, "");
    c->explicit_set |= BC_SET_AUTO_CREATE;
  }
  const char *ai_env = getenv("NODATA_ALLOW_INSECURE");
  if (ai_env && *ai_env) {
    if (!strcmp(ai_env, "1") || !strcmp(ai_env, "true"))
      c->allow_insecure = 1;
    else if (!strcmp(ai_env, "0") || !strcmp(ai_env, "false"))
      c->allow_insecure = 0;
    else
      return usage_error("NODATA_ALLOW_INSECURE: '%s' is not 0 or 1%s", ai_env,
                         "");
  }

  static const char *const with_value[] = {
      "config",
      "data",
      "listen",
      "advertise",
      "http",
      "http-allowed-hosts",
      "max-request-bytes",
      "partitions",
      "group-initial-delay-ms",
      "max-topic-partitions",
      "max-store-partitions",
      "max-mapped-indexes",
      "min-segment-bytes",
      "max-connections",
      "max-connections-per-ip",
      "max-connections-per-ip-overrides",
      "connections-max-idle-ms",
      "connection-failed-authentication-delay-ms",
      "queued-max-request-bytes",
      "log-cleaner-enable",
      "log-cleaner-threads",
      "log-cleaner-dedupe-buffer-size",
      "log-cleaner-io-max-bytes-per-second",
      "log-cleaner-backoff-ms",
      "transaction-version",
      "transaction-max-timeout-ms",
      "transactional-id-expiration-ms",
      "transaction-abort-check-ms",
      "offsets-retention-minutes",
      "offsets-retention-check-interval-ms",
      "group-consumer-session-timeout-ms",
      "group-consumer-min-session-timeout-ms",
      "group-consumer-max-session-timeout-ms",
      "group-consumer-heartbeat-interval-ms",
      "group-consumer-min-heartbeat-interval-ms",
      "group-consumer-max-heartbeat-interval-ms",
      "group-consumer-max-size",
      "group-consumer-assignors",
      "group-consumer-migration-policy",
      "group-consumer-assignment-interval-ms",
      "group-consumer-min-assignment-interval-ms",
      "group-consumer-max-assignment-interval-ms",
      "log-level",
      "log-format",
      "disk-free-warn-percent",
      "disk-free-warn-bytes",
      "disk-check-interval-ms"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(serve_usage, stdout);
      return -1;
    }
    if (!strcmp(a, "--no-auto-create")) {
      c->auto_create = 0;
      c->explicit_set |= BC_SET_AUTO_CREATE;
      continue;
    }
    if (!strcmp(a, "--allow-insecure")) {
      c->allow_insecure = 1;
      continue;
    }
    if (!strcmp(a, "--http-read-only")) {
      c->http_read_only = 1;
      continue;
    }
    if (strncmp(a, "--", 2) != 0)
      return usage_error("unexpected argument '%s'%s", a, "");
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
      if (strlen(with_value[k]) != nl || strncmp(with_value[k], name, nl))
        continue;
      known = 1;
      const char *value = eq ? eq + 1 : NULL;
      if (!value) {
        if (i + 1 >= argc)
          return usage_error("%s needs a value%s", a, "");
        value = argv[++i];
      }
      char flag[64];
      snprintf(flag, sizeof flag, "--%s", with_value[k]);
      if ((rc = apply(c, with_value[k], value, flag, &advertise_set)) != 0)
        return rc;
    }
    if (!known)
      return usage_error("unknown flag '%s'%s", a, "");
  }
  /* Kafka's checks of group.consumer.* (GroupCoordinatorConfig), in its
   * words. */
  {
    static const struct {
      size_t v, lo, hi;
      const char *name, *lo_name, *hi_name;
    } ranges[] = {
        {offsetof(broker_config, cg_session_ms),
         offsetof(broker_config, cg_min_session_ms),
         offsetof(broker_config, cg_max_session_ms),
         "group.consumer.session.timeout.ms",
         "group.consumer.min.session.timeout.ms",
         "group.consumer.max.session.timeout.ms"},
        {offsetof(broker_config, cg_heartbeat_ms),
         offsetof(broker_config, cg_min_heartbeat_ms),
         offsetof(broker_config, cg_max_heartbeat_ms),
         "group.consumer.heartbeat.interval.ms",
         "group.consumer.min.heartbeat.interval.ms",
         "group.consumer.max.heartbeat.interval.ms"},
        {offsetof(broker_config, cg_assign_interval_ms),
         offsetof(broker_config, cg_min_assign_interval_ms),
         offsetof(broker_config, cg_max_assign_interval_ms),
         "group.consumer.assignment.interval.ms",
         "group.consumer.min.assignment.interval.ms",
         "group.consumer.max.assignment.interval.ms"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
      const char *base = (const char *)c;
      int32_t v = *(const int32_t *)(const void *)(base + ranges[i].v);
      int32_t lo = *(const int32_t *)(const void *)(base + ranges[i].lo);
      int32_t hi = *(const int32_t *)(const void *)(base + ranges[i].hi);
      if (v < lo)
        return usage_error("%s must be greater than or equal to %s",
                           ranges[i].name, ranges[i].lo_name);
      if (v > hi)
        return usage_error("%s must be less than or equal to %s",
                           ranges[i].name, ranges[i].hi_name);
    }
    if (c->cg_heartbeat_ms >= c->cg_session_ms)
      return usage_error("%s must be less than %s",
                         "group.consumer.heartbeat.interval.ms",
                         "group.consumer.session.timeout.ms");
  }
  /* Kafka's check (LogCleaner), in its words. */
  if (c->cleaner_enable && c->cleaner_threads > 0 &&
      c->cleaner_dedupe_bytes / c->cleaner_threads < (1 << 20))
    return usage_error("log.cleaner.dedupe.buffer.size must be at least 1MB "
                       "per cleaner thread%s%s",
                       "", "");
  if (c->max_connections_per_ip == 0 && !*c->per_ip_overrides)
    return usage_error("max.connections.per.ip can be 0 only with "
                       "max.connections.per.ip.overrides%s%s",
                       "", "");
  /* Listeners: the file's `listeners` unless --listen names the one
   * listener; without either, PLAINTEXT on the --listen default. The
   * file's are checked either way: a broken file is reported, not
   * hidden until the day the flag goes. */
  const char *lst = broker_props_get(c->props, "listeners");
  int n = 0;
  if (lst) {
    n = broker_listeners_parse(
        lst, broker_props_get(c->props, "advertised.listeners"),
        broker_props_get(c->props, "listener.security.protocol.map"),
        c->listeners, BROKER_MAX_LISTENERS, why, sizeof why);
    if (n < 0)
      return usage_error("%s: %s", c->config_path ? c->config_path : "config",
                         why);
  }
  if (lst && !(c->explicit_set & BC_SET_LISTEN)) {
    c->nlisteners = (size_t)n;
    snprintf(c->listen_host, sizeof c->listen_host, "%s", c->listeners[0].host);
    c->listen_port = c->listeners[0].port;
    if (c->listeners[0].adv_port && !advertise_set) {
      snprintf(c->advertise_host, sizeof c->advertise_host, "%s",
               c->listeners[0].adv_host);
      c->advertise_port = c->listeners[0].adv_port;
      advertise_set = 1;
    }
  } else {
    c->nlisteners = 1;
    broker_listener *l = &c->listeners[0];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "PLAINTEXT");
    l->protocol = SEC_PLAINTEXT;
    snprintf(l->host, sizeof l->host, "%s", c->listen_host);
    l->port = c->listen_port;
  }
  if ((rc = insecure_check(c)) != 0)
    return rc;
  if (!advertise_set) {
    c->advertise_port = c->listen_port;
    /* A wildcard address is no place to send clients to. */
    if (!c->listen_host[0] || !strcmp(c->listen_host, "0.0.0.0") ||
        !strcmp(c->listen_host, "::")) {
      if (gethostname(c->advertise_host, sizeof c->advertise_host) != 0)
        snprintf(c->advertise_host, sizeof c->advertise_host, "127.0.0.1");
      c->advertise_host[sizeof c->advertise_host - 1] = 0;
    } else {
      memcpy(c->advertise_host, c->listen_host, sizeof c->advertise_host);
    }
  }
  return 0;
}

/* How many connections the descriptor limit allows: the store's
 * descriptor cache and Fetch's file parts may each take a quarter of it
 * (src/segment.c, handle_fetch.c), and the process needs a few of its own
 * (listener, epoll, eventfd, directories, the offsets log). Accepting
 * beyond that would leave produces failing for want of a descriptor. */
static int64_t fd_connection_cap(void) {
  struct rlimit rl;
  int64_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < INT32_MAX
                  ? (int64_t)rl.rlim_cur
                  : INT32_MAX;
  int64_t capped = n > 65536 ? 65536 : n;
  int64_t store = capped / 4 < 16      ? 16
                  : capped / 4 > 16384 ? 16384
                                       : capped / 4;
  int64_t fetch = capped / 4 < 16 ? 16 : capped / 4;
  int64_t own = 64;
  int64_t left = n - store - fetch - own;
  return left < 8 ? 8 : left;
}

static const char *fmt_addr(const char *host, int port, char *buf, size_t cap) {
  if (strchr(host, ':'))
    snprintf(buf, cap, "[%s]:%d", host, port);
  else
    snprintf(buf, cap, "%s:%d", host, port);
  return buf;
}

/* The start-up line an operator reads first: what runs, on what, and the
 * settings in effect (flags, environment and their defaults alike). */
static void log_start(broker *b, const char *addr, const char *adv,
                      const char *dir) {
  const broker_config *c = &b->cfg;
  char qmax[32];
  if (c->queued_max_bytes < 0)
    snprintf(qmax, sizeof qmax, "none");
  else
    snprintf(qmax, sizeof qmax, "%" PRId64, c->queued_max_bytes);
  blog_field f[6] = {BLOG_STR("version", ND_VERSION_STRING),
                     BLOG_NUM("data_format", ND_FORMAT_VERSION),
                     BLOG_STR("data_dir", dir),
                     BLOG_STR("listen", addr),
                     BLOG_STR("advertise", adv),
                     BLOG_NUM("pid", getpid())};
  blog(BLOG_INFO, "serve", f, 6,
       "nodata %s (data format %d) started in %s, listening on %s, "
       "advertised as %s, pid %ld",
       ND_VERSION_STRING, ND_FORMAT_VERSION, dir, addr, adv, (long)getpid());
  blog(BLOG_INFO, "serve", NULL, 0,
       "settings: auto.create.topics.enable=%s num.partitions=%d "
       "max.request.bytes=%zu max.connections=%" PRId64
       " (descriptors allow %" PRId64 ") connections.max.idle.ms=%" PRId64
       " queued.max.request.bytes=%s log.cleaner.enable=%s "
       "log.cleaner.threads=%d transaction.version=%d "
       "group.initial.rebalance.delay.ms=%d offsets.retention.minutes=%" PRId64
       " offsets.retention.check.interval.ms=%" PRId64 " log.level=%s "
       "log.format=%s disk.free.warn=%d%%/%" PRId64 " bytes every %" PRId64
       " ms",
       c->auto_create ? "true" : "false", (int)c->default_partitions,
       c->max_request_bytes, c->max_connections, c->fd_max_connections,
       c->idle_ms, qmax, c->cleaner_enable ? "true" : "false",
       (int)c->cleaner_threads, c->transaction_version,
       (int)c->group_initial_delay_ms, c->offsets_retention_min,
       c->offsets_retention_check_ms, blog_level_name(g_log.level),
       g_log.json ? "json" : "text", g_log.free_pct, g_log.free_bytes,
       g_log.check_ms);
}

/* Free space of the data directory's file system, checked on the loop
 * every g_log.check_ms: one WARN when it falls below either threshold and
 * one INFO when it is above both again, not a line per check. */
static void disk_check(void *arg) {
  net_loop *loop = arg;
  g_log.timer = NULL;
  struct statvfs sv;
  if (g_log.dir && statvfs(g_log.dir, &sv) == 0 && sv.f_blocks > 0) {
    uint64_t unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    uint64_t avail = (uint64_t)sv.f_bavail * unit;
    uint64_t total = (uint64_t)sv.f_blocks * unit;
    double pct = 100.0 * (double)avail / (double)total;
    int low = pct < g_log.free_pct || avail < (uint64_t)g_log.free_bytes;
    if (low != g_log.low) {
      blog_field f[3] = {BLOG_NUM("free_bytes", avail),
                         BLOG_NUM("total_bytes", total),
                         BLOG_STR("data_dir", g_log.dir)};
      blog(low ? BLOG_WARN : BLOG_INFO, "serve", f, 3,
           "disk %s: %" PRIu64 " MiB free of %" PRIu64
           " MiB (%.1f %%) on the file system of %s (warn below %d %% or "
           "%" PRId64 " MiB)",
           low ? "nearly full" : "space recovered", avail >> 20, total >> 20,
           pct, g_log.dir, g_log.free_pct, g_log.free_bytes >> 20);
      g_log.low = low;
    }
  }
  g_log.timer = net_timer_add(loop, g_log.check_ms, disk_check, loop);
}

/* The local console's pin (console.h's ck_target): the certificate its
 * own TLS listener serves now. */
static int console_pin(void *arg, unsigned char out[32]) {
  return net_tls_fingerprint(arg, out);
}

/* Which listener the web console talks to (console_listener), once the
 * listeners are bound. Over TLS (no plaintext listener), it trusts exactly
 * the certificate that listener serves, tls[i]'s, checked at each
 * connection, so a reloaded keystore is followed: this is the broker
 * talking to itself over loopback, whatever names the certificate has for
 * its clients, and no CA is involved. */
static void console_target(const broker_config *c, net_tls *const *tls,
                           ck_target *t) {
  memset(t, 0, sizeof *t);
  int i = console_listener(c, t->why, sizeof t->why);
  if (i < 0)
    return;
  const broker_listener *l = &c->listeners[i];
  t->found = 1;
  t->protocol = l->protocol;
  t->port = l->port;
  snprintf(t->listener, sizeof t->listener, "%s", l->name);
  if (!*l->host || !strcmp(l->host, "0.0.0.0"))
    snprintf(t->host, sizeof t->host, "127.0.0.1");
  else if (!strcmp(l->host, "::"))
    snprintf(t->host, sizeof t->host, "::1");
  else
    snprintf(t->host, sizeof t->host, "%s", l->host);
  if (ck_target_sasl(t)) {
    const char *m =
        broker_props_listener(c->props, l->name, "sasl.enabled.mechanisms");
    snprintf(t->mechanisms, sizeof t->mechanisms, "%s",
             m ? m : "SCRAM-SHA-512,SCRAM-SHA-256");
  }
  if (ck_target_tls(t)) {
    t->pin = console_pin;
    t->pin_arg = tls[i];
  }
}

/* Every listener's bound port and advertised address, once bound: a
 * port 0 listener advertises the port it got; one without an advertised
 * address its bind address (a wildcard the host name, as Kafka). The
 * first listener's is --advertise's (or the file's). */
static void resolve_listeners(broker_config *c, net_loop *loop) {
  for (size_t i = 0; i < c->nlisteners; i++) {
    broker_listener *l = &c->listeners[i];
    int follows = l->adv_port == 0;
    l->port = net_loop_listen_port(loop, i);
    if (i == 0) {
      snprintf(l->adv_host, sizeof l->adv_host, "%s", c->advertise_host);
      l->adv_port = c->advertise_port;
      continue;
    }
    if (follows)
      l->adv_port = l->port;
    if (l->adv_host[0])
      continue;
    if (!*l->host || !strcmp(l->host, "0.0.0.0") || !strcmp(l->host, "::")) {
      if (gethostname(l->adv_host, sizeof l->adv_host) != 0)
        snprintf(l->adv_host, sizeof l->adv_host, "127.0.0.1");
      l->adv_host[sizeof l->adv_host - 1] = 0;
    } else {
      /* Two fields of one struct: gcc -O0 takes snprintf's to overlap. */
      size_t n = strnlen(l->host, sizeof l->adv_host - 1);
      memcpy(l->adv_host, l->host, n);
      l->adv_host[n] = 0;
    }
  }
}

/* The --config file's names: a WARN for each that nothing reads (Kafka's
 * words, never fatal: a server.properties from Kafka has many), a usage
 * error for a topic default that does not parse. */
static int check_props(const broker_config *c) {
  const char *name, *value;
  for (size_t i = 0; broker_props_at(c->props, i, &name, &value); i++) {
    int known = broker_prop_known(name) || dynconfig_known(name);
    for (size_t k = 0; !known && k < sizeof kafka_names / sizeof kafka_names[0];
         k++)
      known = !strcmp(name, kafka_names[k].prop);
    if (!known) {
      blog_field f[1] = {BLOG_STR("config", name)};
      blog(BLOG_WARN, "config", f, 1,
           "The configuration '%s' was supplied but isn't a known config.",
           name);
    }
  }
  if (dynconfig_static_check(c->props, &name, &value) < 0) {
    fprintf(stderr,
            "nodata serve: %s: %s: '%s' is not a valid value (see "
            "nodata serve --help)\n",
            c->config_path, name, value);
    return EXIT_USAGE;
  }
  return 0;
}

/* A TLS context for every SSL and SASL_SSL listener, into tls[i] and
 * listens[i] (NULL for the plaintext ones). Returns 0, or -1 after logging
 * why (the listener, and the property or file at fault). */
static int tls_contexts(const broker_config *c, net_listen *listens,
                        net_tls **tls) {
  for (size_t i = 0; i < c->nlisteners; i++) {
    const broker_listener *bl = &c->listeners[i];
    tls[i] = NULL;
    listens[i] = (net_listen){bl->host, bl->port, NULL};
    if (bl->protocol != SEC_SSL && bl->protocol != SEC_SASL_SSL)
      continue;
    char why[1024];
    if (net_tls_new(c->props, bl->name, &tls[i], why, sizeof why) < 0) {
      blog_error("serve", "listener %s: %s", bl->name, why);
      return -1;
    }
    listens[i].tls = tls[i];
  }
  return 0;
}

static void tls_free_all(net_tls **tls, size_t n) {
  for (size_t i = 0; i < n; i++)
    net_tls_free(tls[i]);
}

/* The properties live as long as the process: any part may read them
 * until exit (held here so that they stay reachable). */
static broker_props *g_props;

int broker_serve_main(int argc, char **argv) {
  /* Large short-lived buffers (a Fetch's read and response buffers) are
   * freed as soon as their request is answered; with glibc's defaults
   * every large one is a fresh mmap and munmap, faulted in page by page.
   * Keep freed memory in the heap for reuse instead. Produce no longer
   * depends on this: net.c reads its frames into pooled buffers and the
   * codec does not copy their records (without these settings a produce
   * benchmark run took ~600 page faults, against 183,000 before). */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);

  broker b;
  memset(&b, 0, sizeof b);
  int rc = parse_config(argc, argv, &b.cfg);
  g_props = b.cfg.props;
  if (rc < 0)
    return 0; /* --help */
  if (rc > 0)
    return rc;
  blog_setup(g_log.level, g_log.json);
  if ((rc = check_props(&b.cfg)) != 0)
    return rc;
  struct timespec t_start;
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  broker_config *c = &b.cfg;
  /* With --listen HOST:0 and no --advertise, clients must be told the
   * port actually bound. */
  int advertise_follows_port = c->advertise_port == 0;

  /* Every client connection and open segment costs a descriptor; a soft
   * limit of 1024 would cap the broker far below what the machine allows
   * (redis and others raise it the same way). */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  c->fd_max_connections = fd_connection_cap();
  if ((c->explicit_set & BC_SET_MAX_CONNECTIONS) &&
      c->fd_max_connections < c->max_connections)
    blog_warn("serve",
              "at most %" PRId64
              " connections at once: the descriptor limit (ulimit -n) "
              "leaves that beside the store's; more wait in the listen "
              "backlog",
              c->fd_max_connections);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* Checked before the store is touched; the loop would only say "cannot
   * assign address" for a name that does not resolve. */
  char addr[300];
  for (size_t i = 0; i < c->nlisteners; i++) {
    const broker_listener *l = &c->listeners[i];
    if (!*l->host)
      continue; /* every address */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(l->host, NULL, &hints, &res);
    if (gai != 0) {
      blog_error("serve", "cannot listen on %s: %s",
                 fmt_addr(l->host, l->port, addr, sizeof addr),
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
      return EXIT_RUNTIME;
    }
    freeaddrinfo(res);
  }

  /* The HTTP listener starts before the store opens, so that /health
   * answers and /ready says why it is not ready during a long recovery
   * (its own thread: metrics.h). Its line comes before the start-up line,
   * so whoever waits for that has both. */
  http_server *http = NULL;
  if (c->http_host[0]) {
    char bound[300], why[512];
    rc = http_start(c->http_host, c->http_port, c->data_dir, &http, bound,
                    sizeof bound, why, sizeof why);
    if (rc < 0) {
      blog_error("serve", "%s", why);
      return EXIT_RUNTIME;
    }
    printf("nodata serve: http on %s (console at /, /api/, /metrics, "
           "/health, /ready)\n",
           bound);
    fflush(stdout);
    blog_info("serve",
              "serving the console, /api/, /metrics, /health and /ready on "
              "http://%s%s",
              bound, c->http_read_only ? " (read-only)" : "");
  }

  nd_options opts;
  memset(&opts, 0, sizeof opts);
  opts.on_append = kafka_on_append;
  opts.on_append_ctx = &b;
  /* So the store's own lookups by time see inside compressed batches. */
  opts.decompress = ND_SERVE_DECOMPRESS;
  /* Topics with a compression.type other than producer are re-encoded by
   * the store, in the append, so every writer honours the setting. */
  opts.recompress = ND_SERVE_RECOMPRESS;
  opts.max_topic_partitions = c->max_topic_partitions;
  opts.max_store_partitions = c->max_store_partitions;
  opts.max_mapped_indexes = c->max_mapped_indexes;
  opts.on_log = serve_store_log;
  /* Kafka's log.cleaner.* in the library's terms: no cleaner is -1
   * threads; a backoff of 0 would mean the library's default, so 1 ms;
   * a rate at or above 2^63 (Kafka's default is Double.MAX_VALUE) is no
   * limit. */
  opts.cleaner_threads =
      c->cleaner_enable && c->cleaner_threads > 0 ? c->cleaner_threads : -1;
  opts.cleaner_dedupe_buffer_bytes = c->cleaner_dedupe_bytes;
  opts.cleaner_io_max_bytes_per_second = c->cleaner_io_max >= 9.2e18 ? 0
                                         : c->cleaner_io_max < 1
                                             ? 1
                                             : (int64_t)c->cleaner_io_max;
  opts.cleaner_backoff_ms =
      c->cleaner_backoff_ms > 0 ? c->cleaner_backoff_ms : 1;
  opts.transaction_max_timeout_ms = c->txn_max_timeout_ms;
  opts.transactional_id_expiration_ms = c->txn_id_expiration_ms;
  opts.transaction_abort_check_ms = c->txn_abort_check_ms;
  /* The dynamic broker defaults of topic settings (log.retention.ms, ...)
   * from the start, so retention never runs with others. */
  nd_topic_config topic_defaults;
  if ((rc = dynconfig_topic_defaults(&b, &topic_defaults)) != 0) {
    if (rc != ND_ECORRUPT) /* else the line before says where */
      blog_error("serve", "cannot read %s/broker.conf: %s", c->data_dir,
                 strerror(-rc));
    http_stop(http);
    return EXIT_RUNTIME;
  }
  opts.topic_defaults = &topic_defaults;
  rc = nd_open(c->data_dir, &opts, &b.store);
  if (rc == ND_ELOCKED) {
    pid_t pid = 0;
    if (nd_lock_holder(c->data_dir, &pid) == 0 && pid > 0)
      blog_error("serve", "data directory %s is in use by pid %ld", c->data_dir,
                 (long)pid);
    else
      blog_error("serve", "data directory %s is in use: %s", c->data_dir,
                 nd_errmsg());
    http_stop(http);
    return EXIT_RUNTIME;
  }
  if (rc < 0) {
    const char *msg = nd_errmsg();
    blog_error("serve", "cannot open data directory %s: %s", c->data_dir,
               *msg ? msg : nd_strerror(rc));
    http_stop(http);
    return EXIT_RUNTIME;
  }
  log_recovery(b.store);

  net_listen listens[BROKER_MAX_LISTENERS];
  net_tls *tls[BROKER_MAX_LISTENERS] = {NULL};
  if (tls_contexts(c, listens, tls) < 0) {
    tls_free_all(tls, c->nlisteners);
    http_stop(http);
    nd_close(b.store);
    return EXIT_USAGE;
  }
  net_config nc = {.listens = listens,
                   .nlistens = c->nlisteners,
                   .listen_host = c->listen_host,
                   .listen_port = c->listen_port,
                   .max_request_bytes = c->max_request_bytes,
                   .idle_ms = c->idle_ms,
                   .max_buffered_bytes = c->queued_max_bytes > 0
                                             ? (size_t)c->queued_max_bytes
                                             : 0,
                   .on_request = kafka_handle_request,
                   .on_close = kafka_conn_closed,
                   .ctx = &b};
  rc = net_loop_new(&nc, &b.loop);
  if (rc < 0) {
    /* With several, net.c named the one that failed. */
    if (c->nlisteners > 1)
      blog_error("serve",
                 "cannot listen on every listener (the line before names "
                 "the one that failed): %s",
                 strerror(-rc));
    else
      blog_error("serve", "cannot listen on %s: %s",
                 fmt_addr(*c->listen_host ? c->listen_host : "0.0.0.0",
                          c->listen_port, addr, sizeof addr),
                 strerror(-rc));
    tls_free_all(tls, c->nlisteners);
    http_stop(http);
    nd_close(b.store);
    return EXIT_RUNTIME;
  }
  c->listen_port = net_loop_port(b.loop);
  if (advertise_follows_port)
    c->advertise_port = c->listen_port;
  resolve_listeners(c, b.loop);

  if ((rc = worker_start(&b, &b.worker)) < 0) {
    blog_error("serve", "cannot start the worker threads: %s", strerror(-rc));
    net_loop_free(b.loop);
    tls_free_all(tls, c->nlisteners);
    http_stop(http);
    nd_close(b.store);
    return EXIT_RUNTIME;
  }
  if ((rc = kafka_init(&b)) < 0) {
    blog_error("serve", "cannot start the protocol layer: %s", nd_strerror(rc));
    worker_stop(b.worker);
    net_loop_free(b.loop);
    tls_free_all(tls, c->nlisteners);
    http_stop(http);
    nd_close(b.store);
    return EXIT_RUNTIME;
  }

  if (http) {
    console_config ccfg = {.read_only = c->http_read_only,
                           .data_dir = c->data_dir,
                           .version = ND_VERSION_STRING,
                           .allowed_hosts = c->http_allowed_hosts};
    snprintf(ccfg.http_host, sizeof ccfg.http_host, "%s", c->http_host);
    console_target(c, tls, &ccfg.target);
    if (http_set_console(http, &ccfg) != 0)
      blog_error("serve", "cannot start the web console: out of memory");
  }
  http_set_store(http, b.store, b.loop);
  g_loop = b.loop;
  if (g_stop_requested)
    net_loop_stop(b.loop); /* asked before the loop existed */

  char adv[300], real[PATH_MAX];
  const char *dir = realpath(c->data_dir, real) ? real : c->data_dir;
  /* An empty host (every address) reads as 0.0.0.0, as Kafka logs it. */
  fmt_addr(*c->listen_host ? c->listen_host : "0.0.0.0", c->listen_port, addr,
           sizeof addr);
  fmt_addr(c->advertise_host, c->advertise_port, adv, sizeof adv);
  printf("nodata serve: listening on %s, data in %s (pid %ld)", addr, dir,
         (long)getpid());
  if (strcmp(addr, adv) != 0)
    printf(", advertised as %s", adv);
  printf("\n");
  /* The first line keeps its shape (scripts read it); one more line per
   * further listener. */
  for (size_t i = 1; i < c->nlisteners; i++) {
    const broker_listener *l = &c->listeners[i];
    char la[300], aa[300];
    fmt_addr(*l->host ? l->host : "0.0.0.0", l->port, la, sizeof la);
    fmt_addr(l->adv_host, l->adv_port, aa, sizeof aa);
    printf("nodata serve: listener %s (%s) on %s", l->name,
           sec_protocol_name(l->protocol), la);
    if (strcmp(la, aa) != 0)
      printf(", advertised as %s", aa);
    printf("\n");
  }
  fflush(stdout);
  log_start(&b, addr, adv, dir);
  for (size_t i = 1; i < c->nlisteners; i++) {
    const broker_listener *l = &c->listeners[i];
    char la[300], aa[300];
    blog_info("serve", "listener %s (%s) on %s, advertised as %s", l->name,
              sec_protocol_name(l->protocol),
              fmt_addr(*l->host ? l->host : "0.0.0.0", l->port, la, sizeof la),
              fmt_addr(l->adv_host, l->adv_port, aa, sizeof aa));
  }
  g_log.dir = dir;
  disk_check(b.loop);

  net_loop_run(b.loop);
  http_set_stopping(http);
  struct timespec t_stop;
  clock_gettime(CLOCK_MONOTONIC, &t_stop);
  blog_info("serve", "stopping%s: finishing in-flight requests, syncing",
            g_stop_requested ? " (SIGINT or SIGTERM)" : "");
  if (g_log.timer) {
    net_timer_cancel(b.loop, g_log.timer);
    g_log.timer = NULL;
  }

  /* Reverse order: no more requests, then the worker's queued jobs
   * (syncs, commits, admin), then the protocol state, then the store
   * (sync + clean-shutdown mark). */
  worker_stop(b.worker);
  b.worker = NULL;
  kafka_fini(&b);
  g_loop = NULL;
  http_stop(http);
  rc = nd_close(b.store);
  net_loop_free(b.loop);
  tls_free_all(tls,
               c->nlisteners); /* after the loop: its connections used it */
  if (rc < 0) {
    blog_error("serve", "closing the store failed: %s", nd_errmsg());
    return EXIT_RUNTIME;
  }
  struct timespec t_end;
  clock_gettime(CLOCK_MONOTONIC, &t_end);
  int64_t up_ms = (t_stop.tv_sec - t_start.tv_sec) * 1000 +
                  (t_stop.tv_nsec - t_start.tv_nsec) / 1000000;
  int64_t stop_ms = (t_end.tv_sec - t_stop.tv_sec) * 1000 +
                    (t_end.tv_nsec - t_stop.tv_nsec) / 1000000;
  blog_field f[2] = {BLOG_NUM("uptime_ms", up_ms),
                     BLOG_NUM("shutdown_ms", stop_ms)};
  blog(BLOG_INFO, "serve", f, 2,
       "stopped cleanly after %" PRId64 ".%03d s up; the shutdown took %" PRId64
       " ms (fetch sent %" PRIu64
       " record bytes from segment files with sendfile, %" PRIu64 " copied)",
       up_ms / 1000, (int)(up_ms % 1000), stop_ms, b.fetch_bytes_sendfile,
       b.fetch_bytes_copied);
  return 0;
}
