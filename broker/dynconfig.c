/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dynconfig.c — dynamic broker configs and group configs (KIP-226,
 * KIP-848): what AlterConfigs and IncrementalAlterConfigs change on BROKER
 * and GROUP resources, what DescribeConfigs shows for them, and
 * DATA/broker.conf, where they are kept across restarts.
 *
 * Levels, as Kafka has them: a per-broker value (resource "0") wins over a
 * cluster-wide default (resource ""), which wins over the flags of
 * `nodata serve` (STATIC_BROKER_CONFIG), which win over the built-in
 * default. Each known broker config is one row of `bconfs`, saying what
 * nodata does with it:
 *  - LIVE: applied at once (auto-create, partitions of new topics, the
 *    initial rebalance delay, the connection caps);
 *  - TOPIC: the broker-wide default of a topic setting (log.retention.ms
 *    for retention.ms, ...): pushed into the store
 *    (nd_store_set_topic_defaults), where every topic follows it for each
 *    setting it does not override, existing ones included, as in Kafka;
 *  - STORED: dynamic in Kafka but meaningless here (thread pools, SASL of
 *    a listener nodata does not have): accepted, kept and described, so
 *    tools that set them keep working;
 *  - READONLY: refused with INVALID_REQUEST "Cannot update these configs
 *    dynamically", as Kafka refuses its non-dynamic configs;
 *  - FIXED: one value only (min.insync.replicas=1: one replica).
 * A name nodata does not know is accepted and stored, as Kafka accepts
 * custom configs on a broker.
 *
 * Validation follows Kafka's ConfigAdminManager: duplicate resources or
 * keys and null values are INVALID_REQUEST; APPEND/SUBTRACT on a config
 * that is not a list is INVALID_CONFIG; what the broker refuses after that
 * (read-only, wrong type, a per-broker config at the cluster level) is
 * INVALID_REQUEST (KAFKA-13609 keeps that code). Group configs are checked
 * as GroupConfig.validate does: unknown names and bad values are
 * INVALID_CONFIG, bounds are the broker's group.consumer.* (and share.*,
 * streams.*) defaults. nodata serves the classic group protocol only, so
 * group configs are kept and described; they take effect with KIP-848.
 *
 * Everything runs on the loop thread (the only thread that reads b->cfg's
 * dynamic fields), so a change is a plain store. A change is written to
 * broker.conf (tmp, fsync, rename, fsync dir) before it is applied; if the
 * write fails nothing changes and the client gets KAFKA_STORAGE_ERROR.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kafka.h"
#include "logline.h"

enum { RES_BROKER = 4, RES_GROUP = 32 };
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };
/* DescribeConfigsResponse ConfigSource values. */
enum {
  SRC_DYNAMIC_BROKER = 2,
  SRC_DYNAMIC_DEFAULT = 3,
  SRC_STATIC = 4,
  SRC_DEFAULT = 5,
  SRC_GROUP = 8,
};
/* ConfigType values. */
enum {
  T_BOOL = 1,
  T_STRING = 2,
  T_INT = 3,
  T_LONG = 5,
  T_DOUBLE = 6,
  T_LIST = 7,
  T_PWD = 9
};
enum { M_LIVE, M_TOPIC, M_STORED, M_READONLY, M_FIXED };
/* Levels an entry lives at. */
enum { L_BROKER, L_DEFAULT, L_GROUP };

typedef struct bconf {
  const char *name;
  int type, mode;
  const char *dflt;  /* built-in default (text), NULL for null */
  const char *topic; /* M_TOPIC: the topic setting it is the default of */
  int per_broker;    /* listener/security config: not at the cluster level */
} bconf;

/* Kafka's defaults; TOPIC rows take theirs from libnodata's. */
static const bconf bconfs[] = {
    {"auto.create.topics.enable", T_BOOL, M_LIVE, "true", NULL, 0},
    {"num.partitions", T_INT, M_LIVE, "1", NULL, 0},
    {"group.initial.rebalance.delay.ms", T_INT, M_LIVE, "3000", NULL, 0},
    {"log.retention.ms", T_LONG, M_TOPIC, NULL, "retention.ms", 0},
    {"log.retention.bytes", T_LONG, M_TOPIC, NULL, "retention.bytes", 0},
    {"log.segment.bytes", T_INT, M_TOPIC, NULL, "segment.bytes", 0},
    {"log.roll.ms", T_LONG, M_TOPIC, NULL, "segment.ms", 0},
    {"log.index.size.max.bytes", T_INT, M_TOPIC, NULL, "segment.index.bytes",
     0},
    {"log.index.interval.bytes", T_INT, M_TOPIC, NULL, "index.interval.bytes",
     0},
    {"message.max.bytes", T_INT, M_TOPIC, NULL, "max.message.bytes", 0},
    {"log.message.timestamp.type", T_STRING, M_TOPIC, NULL,
     "message.timestamp.type", 0},
    {"log.message.timestamp.before.max.ms", T_LONG, M_TOPIC, NULL,
     "message.timestamp.before.max.ms", 0},
    {"log.message.timestamp.after.max.ms", T_LONG, M_TOPIC, NULL,
     "message.timestamp.after.max.ms", 0},
    {"compression.type", T_STRING, M_TOPIC, NULL, "compression.type", 0},
    {"compression.gzip.level", T_INT, M_TOPIC, NULL, "compression.gzip.level",
     0},
    {"compression.lz4.level", T_INT, M_TOPIC, NULL, "compression.lz4.level", 0},
    {"compression.zstd.level", T_INT, M_TOPIC, NULL, "compression.zstd.level",
     0},
    {"log.cleanup.policy", T_LIST, M_TOPIC, NULL, "cleanup.policy", 0},
    {"log.cleaner.min.cleanable.ratio", T_DOUBLE, M_TOPIC, NULL,
     "min.cleanable.dirty.ratio", 0},
    {"log.cleaner.min.compaction.lag.ms", T_LONG, M_TOPIC, NULL,
     "min.compaction.lag.ms", 0},
    {"log.cleaner.max.compaction.lag.ms", T_LONG, M_TOPIC, NULL,
     "max.compaction.lag.ms", 0},
    {"log.cleaner.delete.retention.ms", T_LONG, M_TOPIC, NULL,
     "delete.retention.ms", 0},
    /* The cleaner's own settings go to nd_options when the store opens
     * (flags of nodata serve); Kafka changes all but log.cleaner.enable
     * live, nodata refuses a live change as Kafka refuses its read-only
     * configs (docs/protocol.md). */
    {"log.cleaner.enable", T_BOOL, M_READONLY, "true", NULL, 0},
    {"log.cleaner.threads", T_INT, M_READONLY, "1", NULL, 0},
    {"log.cleaner.dedupe.buffer.size", T_LONG, M_READONLY, "134217728", NULL,
     0},
    {"log.cleaner.io.max.bytes.per.second", T_DOUBLE, M_READONLY,
     "1.7976931348623157E308", NULL, 0},
    {"log.cleaner.backoff.ms", T_LONG, M_READONLY, "15000", NULL, 0},
    /* Read only in Kafka too: the flags --transaction-* (docs/serve.md). */
    {"transaction.max.timeout.ms", T_INT, M_READONLY, "900000", NULL, 0},
    {"transactional.id.expiration.ms", T_INT, M_READONLY, "604800000", NULL, 0},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms", T_INT,
     M_READONLY, "10000", NULL, 0},
    /* Read only in Kafka too: the flags --offsets-retention-* (committed
     * offsets expire, coordinator_expiry.c). */
    {"offsets.retention.minutes", T_INT, M_READONLY, "10080", NULL, 0},
    {"offsets.retention.check.interval.ms", T_LONG, M_READONLY, "600000", NULL,
     0},
    {"min.insync.replicas", T_INT, M_FIXED, "1", NULL, 0},
    {"unclean.leader.election.enable", T_BOOL, M_STORED, "false", NULL, 0},
    {"background.threads", T_INT, M_STORED, "10", NULL, 0},
    {"num.io.threads", T_INT, M_STORED, "8", NULL, 0},
    {"num.network.threads", T_INT, M_STORED, "3", NULL, 0},
    {"num.replica.fetchers", T_INT, M_STORED, "1", NULL, 0},
    {"num.recovery.threads.per.data.dir", T_INT, M_STORED, "2", NULL, 0},
    {"max.connections", T_INT, M_LIVE, "2147483647", NULL, 0},
    {"max.connections.per.ip", T_INT, M_LIVE, "2147483647", NULL, 0},
    {"max.connections.per.ip.overrides", T_STRING, M_LIVE, "", NULL, 0},
    {"max.connection.creation.rate", T_INT, M_STORED, "2147483647", NULL, 0},
    {"producer.id.expiration.ms", T_INT, M_STORED, "86400000", NULL, 0},
    {"metric.reporters", T_LIST, M_STORED, "", NULL, 0},
    {"sasl.enabled.mechanisms", T_LIST, M_STORED, "GSSAPI", NULL, 1},
    {"sasl.jaas.config", T_PWD, M_STORED, NULL, NULL, 1},
    {"sasl.kerberos.service.name", T_STRING, M_STORED, NULL, NULL, 1},
    {"sasl.kerberos.kinit.cmd", T_STRING, M_STORED, "/usr/bin/kinit", NULL, 1},
    {"sasl.kerberos.min.time.before.relogin", T_LONG, M_STORED, "60000", NULL,
     1},
    {"sasl.kerberos.ticket.renew.jitter", T_STRING, M_STORED, "0.05", NULL, 1},
    {"sasl.kerberos.ticket.renew.window.factor", T_STRING, M_STORED, "0.8",
     NULL, 1},
    {"ssl.cipher.suites", T_LIST, M_STORED, "", NULL, 1},
    {"ssl.enabled.protocols", T_LIST, M_STORED, "TLSv1.2,TLSv1.3", NULL, 1},
    {"broker.id", T_INT, M_READONLY, "0", NULL, 0},
    {"node.id", T_INT, M_READONLY, "0", NULL, 0},
    {"log.dirs", T_STRING, M_READONLY, NULL, NULL, 0},
    {"log.dir", T_STRING, M_READONLY, "/tmp/kafka-logs", NULL, 0},
    {"listeners", T_LIST, M_READONLY, NULL, NULL, 0},
    {"advertised.listeners", T_LIST, M_READONLY, NULL, NULL, 0},
    {"socket.request.max.bytes", T_INT, M_READONLY, NULL, NULL, 0},
    {"connections.max.idle.ms", T_LONG, M_READONLY, "600000", NULL, 0},
    {"connection.failed.authentication.delay.ms", T_INT, M_READONLY, "100",
     NULL, 0},
    /* Kafka's default is -1, no bound (broker.h says why not here). */
    {"queued.max.request.bytes", T_LONG, M_READONLY, "268435456", NULL, 0},
    {"default.replication.factor", T_INT, M_READONLY, "1", NULL, 0},
    {"offsets.topic.replication.factor", T_INT, M_READONLY, "1", NULL, 0},
    {"process.roles", T_LIST, M_READONLY, "broker,controller", NULL, 0},
    /* KIP-848 consumer groups: flags of nodata serve (docs/serve.md), read
     * only; Kafka changes group.consumer.assignment.interval.ms live. */
    {"group.consumer.session.timeout.ms", T_INT, M_READONLY, "45000", NULL, 0},
    {"group.consumer.heartbeat.interval.ms", T_INT, M_READONLY, "5000", NULL,
     0},
    {"group.consumer.max.size", T_INT, M_READONLY, "2147483647", NULL, 0},
    {"group.consumer.assignors", T_LIST, M_READONLY, "uniform,range", NULL, 0},
    {"group.consumer.migration.policy", T_STRING, M_READONLY, "bidirectional",
     NULL, 0},
    {"group.consumer.assignment.interval.ms", T_INT, M_READONLY, "1000", NULL,
     0},
    {"group.consumer.min.assignment.interval.ms", T_INT, M_READONLY, "0", NULL,
     0},
    {"group.consumer.max.assignment.interval.ms", T_INT, M_READONLY, "15000",
     NULL, 0},
    {"group.consumer.min.session.timeout.ms", T_INT, M_READONLY, "45000", NULL,
     0},
    {"group.consumer.max.session.timeout.ms", T_INT, M_READONLY, "60000", NULL,
     0},
    {"group.consumer.min.heartbeat.interval.ms", T_INT, M_READONLY, "5000",
     NULL, 0},
    {"group.consumer.max.heartbeat.interval.ms", T_INT, M_READONLY, "15000",
     NULL, 0},
};
#define NBCONFS (sizeof bconfs / sizeof bconfs[0])

/* Kafka 4.1's GroupConfig: default, floor, and the broker's bounds. */
typedef struct gconf {
  const char *name;
  int type;
  const char *dflt;
  int64_t at_least, lo, hi;
  const char *lo_name, *hi_name;
} gconf;

static const gconf gconfs[] = {
    {"consumer.session.timeout.ms", T_INT, "45000", 1, 45000, 60000,
     "group.consumer.min.session.timeout.ms",
     "group.consumer.max.session.timeout.ms"},
    {"consumer.heartbeat.interval.ms", T_INT, "5000", 1, 5000, 15000,
     "group.consumer.min.heartbeat.interval.ms",
     "group.consumer.max.heartbeat.interval.ms"},
    {"share.session.timeout.ms", T_INT, "45000", 1, 45000, 60000,
     "group.share.min.session.timeout.ms",
     "group.share.max.session.timeout.ms"},
    {"share.heartbeat.interval.ms", T_INT, "5000", 1, 5000, 15000,
     "group.share.min.heartbeat.interval.ms",
     "group.share.max.heartbeat.interval.ms"},
    {"share.record.lock.duration.ms", T_INT, "30000", 1000, 15000, 60000,
     "group.share.min.record.lock.duration.ms",
     "group.share.max.record.lock.duration.ms"},
    {"share.auto.offset.reset", T_STRING, "latest", 0, 0, 0, NULL, NULL},
    {"share.isolation.level", T_STRING, "read_uncommitted", 0, 0, 0, NULL,
     NULL},
    {"streams.session.timeout.ms", T_INT, "45000", 1, 45000, 60000,
     "group.streams.min.session.timeout.ms",
     "group.streams.max.session.timeout.ms"},
    {"streams.heartbeat.interval.ms", T_INT, "5000", 1, 5000, 15000,
     "group.streams.min.heartbeat.interval.ms",
     "group.streams.max.heartbeat.interval.ms"},
    {"streams.num.standby.replicas", T_INT, "0", 0, 0, 2, NULL,
     "group.streams.max.standby.replicas"},
};
#define NGCONFS (sizeof gconfs / sizeof gconfs[0])

typedef struct dyn_entry {
  int level;
  char *group; /* L_GROUP only */
  char *name, *value;
} dyn_entry;

typedef struct dyn_state {
  dyn_entry *e;
  size_t n, cap;
  broker_config stat; /* the flags, before any dynamic value */
  nd_topic_config topic_defaults;
} dyn_state;

/* ---- small helpers ------------------------------------------------------ */

static const bconf *find_bconf(const char *name) {
  for (size_t i = 0; i < NBCONFS; i++)
    if (!strcmp(bconfs[i].name, name))
      return &bconfs[i];
  return NULL;
}

static const gconf *find_gconf(const char *name) {
  for (size_t i = 0; i < NGCONFS; i++)
    if (!strcmp(gconfs[i].name, name))
      return &gconfs[i];
  return NULL;
}

static int same_group(const dyn_entry *e, int level, const char *group) {
  return e->level == level &&
         (level != L_GROUP || (e->group && !strcmp(e->group, group)));
}

static const char *dyn_get(const dyn_state *d, int level, const char *group,
                           const char *name) {
  for (size_t i = 0; i < d->n; i++)
    if (same_group(&d->e[i], level, group) && !strcmp(d->e[i].name, name))
      return d->e[i].value;
  return NULL;
}

static void entry_free(dyn_entry *e) {
  free(e->group);
  free(e->name);
  free(e->value);
}

static int entry_add(dyn_state *d, int level, const char *group,
                     const char *name, const char *value) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 16;
    dyn_entry *e = realloc(d->e, cap * sizeof *e);
    if (!e)
      return -ENOMEM;
    d->e = e;
    d->cap = cap;
  }
  dyn_entry *e = &d->e[d->n];
  e->level = level;
  e->group = group ? strdup(group) : NULL;
  e->name = strdup(name);
  e->value = strdup(value);
  if (!e->name || !e->value || (group && !e->group)) {
    entry_free(e);
    return -ENOMEM;
  }
  d->n++;
  return 0;
}

/* One level's settings while a request changes them: names and values
 * owned by the request's arena or the state (never freed here). */
typedef struct kv {
  const char *name, *value;
} kv;

typedef struct kvset {
  kv *items;
  int32_t n, cap;
} kvset;

static const char *kv_get(const kvset *s, const char *name) {
  for (int32_t i = 0; i < s->n; i++)
    if (!strcmp(s->items[i].name, name))
      return s->items[i].value;
  return NULL;
}

static void kv_del(kvset *s, const char *name) {
  for (int32_t i = 0; i < s->n; i++)
    if (!strcmp(s->items[i].name, name)) {
      s->items[i] = s->items[--s->n];
      return;
    }
}

static void kv_put(kvset *s, const char *name, const char *value) {
  kv_del(s, name);
  s->items[s->n].name = name;
  s->items[s->n].value = value;
  s->n++;
}

/* ---- type checks -------------------------------------------------------- */

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return -1;
  *out = v;
  return 0;
}

/* Kafka's ConfigDef parse of one value; returns a message or NULL. */
static const char *type_error(int type, const char *value) {
  int64_t v;
  switch (type) {
  case T_INT:
    if (parse_i64(value, &v) || v < INT32_MIN || v > INT32_MAX)
      return "Not a number of type INT";
    return NULL;
  case T_LONG:
    return parse_i64(value, &v) ? "Not a number of type LONG" : NULL;
  case T_DOUBLE: {
    char *end;
    errno = 0;
    double d = strtod(value, &end);
    return !*value || errno || *end || d != d ? "Not a number of type DOUBLE"
                                              : NULL;
  }
  case T_BOOL:
    return strcasecmp(value, "true") && strcasecmp(value, "false")
               ? "Expected value to be either true or false"
               : NULL;
  default:
    return NULL;
  }
}

/* ---- broker.conf -------------------------------------------------------- */

static int conf_path(broker *b, char *buf, size_t n) {
  int w = snprintf(buf, n, "%s/broker.conf",
                   b->cfg.data_dir ? b->cfg.data_dir : ".");
  return w > 0 && (size_t)w < n ? 0 : -ENAMETOOLONG;
}

/* Percent-encode bytes that would break the line format. */
static int put_enc(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == '=')
      fprintf(f, "%%%02X", *p);
    else
      fputc(*p, f);
  }
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Decode in place; -1 on a bad escape. */
static int decode(char *s) {
  char *w = s;
  for (char *p = s; *p; p++) {
    if (*p == '%') {
      int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
      if (l < 0 || (h == 0 && l == 0))
        return -1;
      *w++ = (char)(h << 4 | l);
      p += 2;
    } else {
      *w++ = *p;
    }
  }
  *w = 0;
  return 0;
}

/* The same line escapes for the other files of the data directory that
 * the broker writes (quota.c's client-quotas). */
int kafka_conf_put_enc(FILE *f, const char *s) {
  return put_enc(f, s);
}
int kafka_conf_decode(char *s) {
  return decode(s);
}

/* Write every entry of d to DATA/broker.conf atomically. */
static int conf_save(broker *b, const dyn_state *d) {
  char path[4096];
  int rc = conf_path(b, path, sizeof path);
  if (rc)
    return rc;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return -ENOMEM;
  fputs("# nodata broker configs, written by nodata serve "
        "(docs/format.md)\n",
        f);
  static const char *const level_word[] = {"broker", "default", "group"};
  for (size_t i = 0; i < d->n; i++) {
    const dyn_entry *e = &d->e[i];
    fprintf(f, "%s ", level_word[e->level]);
    if (e->level == L_GROUP) {
      put_enc(f, e->group);
      fputc(' ', f);
    }
    put_enc(f, e->name);
    fputc('=', f);
    put_enc(f, e->value);
    fputc('\n', f);
  }
  if (fclose(f) != 0 || !text) {
    free(text);
    return -ENOMEM;
  }
  rc = broker_write_atomic(path, text, len);
  free(text);
  return rc;
}

/* Read DATA/broker.conf into d; a missing file is an empty one. */
/* warn: say which stored configs are ignored (once per start). */
static int conf_load(broker *b, dyn_state *d, int warn) {
  char path[4096];
  int rc = conf_path(b, path, sizeof path);
  if (rc)
    return rc;
  FILE *f = fopen(path, "r");
  if (!f)
    return errno == ENOENT ? 0 : -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  int lineno = 0;
  while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (got > 0 && line[got - 1] == '\n')
      line[--got] = 0;
    if (!line[0] || line[0] == '#')
      continue;
    char *word = line, *rest = strchr(line, ' ');
    char *group = NULL;
    int level = -1;
    if (rest) {
      *rest++ = 0;
      level = !strcmp(word, "broker")    ? L_BROKER
              : !strcmp(word, "default") ? L_DEFAULT
              : !strcmp(word, "group")   ? L_GROUP
                                         : -1;
    }
    if (level == L_GROUP) {
      group = rest;
      rest = strchr(rest, ' ');
      if (rest)
        *rest++ = 0;
    }
    char *eq = rest ? strchr(rest, '=') : NULL;
    if (level < 0 || !eq || eq == rest) {
      blog_error("config",
                 "%s line %d: not 'broker|default|group [GROUP] NAME=VALUE'",
                 path, lineno);
      rc = ND_ECORRUPT;
      break;
    }
    *eq = 0;
    if (decode(rest) || decode(eq + 1) || (group && decode(group))) {
      blog_error("config", "%s line %d: bad %%-escape", path, lineno);
      rc = ND_ECORRUPT;
      break;
    }
    const bconf *c = level == L_GROUP ? NULL : find_bconf(rest);
    if (c && c->mode == M_READONLY) {
      /* Stored by a nodata that took it live (log.cleaner.threads was
       * "stored and ignored"); its flag says what is in force now. */
      if (warn)
        blog_warn("config",
                  "%s line %d: %s is read-only now, ignored (use its flag)",
                  path, lineno, rest);
      continue;
    }
    rc = entry_add(d, level, group, rest, eq + 1);
  }
  free(line);
  fclose(f);
  return rc;
}

/* ---- applying ----------------------------------------------------------- */

/* The value a broker config has, at the highest level that sets it:
 * *src is its ConfigSource; NULL when it is null. */
static const char *effective(broker *b, const dyn_state *d, const bconf *c,
                             int *src, char *buf, size_t n);

/* The connection caps to the loop: the configured ones, max.connections
 * no higher than descriptors allow. A value that does not parse (edited
 * by hand into broker.conf) leaves that cap off. */
static void apply_limits(broker *b, dyn_state *d) {
  char buf[128];
  int src;
  int64_t conns = INT32_MAX, per_ip = INT32_MAX, x;
  const char *v =
      effective(b, d, find_bconf("max.connections"), &src, buf, sizeof buf);
  if (v && !parse_i64(v, &x) && x > 0)
    conns = x;
  v = effective(b, d, find_bconf("max.connections.per.ip"), &src, buf,
                sizeof buf);
  if (v && !parse_i64(v, &x) && x >= 0)
    per_ip = x;
  if (b->cfg.fd_max_connections > 0 && b->cfg.fd_max_connections < conns)
    conns = b->cfg.fd_max_connections;
  net_limits lim = {
      .max_connections = conns >= INT32_MAX ? SIZE_MAX : (size_t)conns,
      .max_per_ip = per_ip >= INT32_MAX ? SIZE_MAX : (size_t)per_ip};
  net_ip_limit *ip = NULL;
  char why[300];
  v = effective(b, d, find_bconf("max.connections.per.ip.overrides"), &src, buf,
                sizeof buf);
  if (v && net_parse_ip_limits(v, &ip, &lim.nip, why, sizeof why) < 0)
    blog_error("config", "max.connections.per.ip.overrides: %s", why);
  lim.ip = ip;
  if (b->loop && net_loop_set_limits(b->loop, &lim) != 0)
    blog_error("config", "no memory to change connection limits");
  free(ip);
}

/* The topic setting's value for broker config c's value v: Kafka takes
 * any negative log.retention.ms as -1, "forever" (KafkaConfig's
 * logRetentionTimeMillis), where a topic's retention.ms must be >= -1. */
static const char *topic_value(const bconf *c, const char *v, char *buf,
                               size_t n) {
  int64_t x;
  if (!strcmp(c->name, "log.retention.ms") && parse_i64(v, &x) == 0 && x < 0) {
    snprintf(buf, n, "-1");
    return buf;
  }
  return v;
}

/* Kafka's own checks of two log.* broker configs beyond their types
 * (KafkaConfig's requirements), in its words; NULL when v passes. */
static const char *requirement(const bconf *c, const char *v) {
  int64_t x;
  if (parse_i64(v, &x) != 0)
    return NULL;
  if (!strcmp(c->name, "log.retention.ms") && x == 0)
    return "requirement failed: log.retention.ms must be unlimited (-1) or, "
           "greater than or equal to 1";
  if (!strcmp(c->name, "log.roll.ms") && x < 1)
    return "requirement failed: log.roll.ms must be greater than or equal "
           "to 1";
  return NULL;
}

/* libnodata's defaults overlaid with the log.* settings at their highest
 * level (per-broker, cluster default, flag); no overrides bits. */
static void topic_defaults_build(broker *b, const dyn_state *d,
                                 nd_topic_config *out) {
  char buf[128];
  int src;
  nd_topic_config_init(out);
  for (size_t i = 0; i < NBCONFS; i++) {
    if (bconfs[i].mode != M_TOPIC)
      continue;
    const char *v = effective(b, d, &bconfs[i], &src, buf, sizeof buf);
    char tv[32];
    if (v && src != SRC_DEFAULT)
      nd_topic_config_set(out, bconfs[i].topic,
                          topic_value(&bconfs[i], v, tv, sizeof tv));
  }
  out->overrides = 0;
}

static void apply_all(broker *b, dyn_state *d) {
  char buf[128];
  int src;
  const char *v;
  v = effective(b, d, find_bconf("auto.create.topics.enable"), &src, buf,
                sizeof buf);
  /* A value edited by hand into broker.conf may not parse: the flag (or
   * built-in default) stays in force then. */
  b->cfg.auto_create = d->stat.auto_create;
  b->cfg.default_partitions = d->stat.default_partitions;
  b->cfg.group_initial_delay_ms = d->stat.group_initial_delay_ms;
  if (v && (!strcasecmp(v, "true") || !strcasecmp(v, "false")))
    b->cfg.auto_create = !strcasecmp(v, "true");
  v = effective(b, d, find_bconf("num.partitions"), &src, buf, sizeof buf);
  int64_t x;
  if (v && !parse_i64(v, &x) && x >= 1 && x <= 1000000)
    b->cfg.default_partitions = (int32_t)x;
  v = effective(b, d, find_bconf("group.initial.rebalance.delay.ms"), &src, buf,
                sizeof buf);
  if (v && !parse_i64(v, &x) && x >= 0 && x <= INT32_MAX)
    b->cfg.group_initial_delay_ms = (int32_t)x;
  apply_limits(b, d);
  topic_defaults_build(b, d, &d->topic_defaults);
  /* Every topic follows them for what it does not override, at once, as
   * Kafka's do. Each value was checked as a topic setting; this fails only
   * for what broker.conf's hand-edits could hold. */
  if (b->store &&
      nd_store_set_topic_defaults(b->store, &d->topic_defaults) != 0)
    blog_error("config", "the topics keep their previous defaults: %s",
               nd_errmsg());
}

int dynconfig_topic_defaults(broker *b, nd_topic_config *out) {
  dyn_state d;
  memset(&d, 0, sizeof d);
  d.stat = b->cfg;
  int rc = conf_load(b, &d, 0);
  if (rc == 0)
    topic_defaults_build(b, &d, out);
  for (size_t i = 0; i < d.n; i++)
    entry_free(&d.e[i]);
  free(d.e);
  return rc;
}

static const char *static_value(broker *b, const dyn_state *d, const bconf *c,
                                char *buf, size_t n) {
  const broker_config *s = &d->stat;
  if (!strcmp(c->name, "auto.create.topics.enable") &&
      (s->explicit_set & BC_SET_AUTO_CREATE))
    return s->auto_create ? "true" : "false";
  if (!strcmp(c->name, "num.partitions") &&
      (s->explicit_set & BC_SET_PARTITIONS)) {
    snprintf(buf, n, "%d", s->default_partitions);
    return buf;
  }
  if (!strcmp(c->name, "group.initial.rebalance.delay.ms") &&
      (s->explicit_set & BC_SET_GROUP_DELAY)) {
    snprintf(buf, n, "%d", s->group_initial_delay_ms);
    return buf;
  }
  static const struct {
    const char *name;
    uint64_t bit;
    size_t off;
  } nums[] = {
      {"max.connections", BC_SET_MAX_CONNECTIONS,
       offsetof(broker_config, max_connections)},
      {"max.connections.per.ip", BC_SET_MAX_PER_IP,
       offsetof(broker_config, max_connections_per_ip)},
      {"connections.max.idle.ms", BC_SET_IDLE,
       offsetof(broker_config, idle_ms)},
      {"connection.failed.authentication.delay.ms", BC_SET_FAILED_AUTH_DELAY,
       offsetof(broker_config, failed_auth_delay_ms)},
      {"queued.max.request.bytes", BC_SET_QUEUED_BYTES,
       offsetof(broker_config, queued_max_bytes)},
      {"transaction.max.timeout.ms", BC_SET_TXN_MAX_TIMEOUT,
       offsetof(broker_config, txn_max_timeout_ms)},
      {"transactional.id.expiration.ms", BC_SET_TXN_ID_EXPIRATION,
       offsetof(broker_config, txn_id_expiration_ms)},
      {"transaction.abort.timed.out.transaction.cleanup.interval.ms",
       BC_SET_TXN_ABORT_CHECK, offsetof(broker_config, txn_abort_check_ms)},
      {"offsets.retention.minutes", BC_SET_OFFSETS_RETENTION,
       offsetof(broker_config, offsets_retention_min)},
      {"offsets.retention.check.interval.ms", BC_SET_OFFSETS_RETENTION_CHECK,
       offsetof(broker_config, offsets_retention_check_ms)},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    if (!strcmp(c->name, nums[i].name) && (s->explicit_set & nums[i].bit)) {
      snprintf(buf, n, "%" PRId64,
               *(const int64_t *)(const void *)((const char *)s + nums[i].off));
      return buf;
    }
  static const struct {
    const char *name;
    unsigned bit;
    size_t off;
  } cg32[] = {
      {"group.consumer.session.timeout.ms", BC_SET_CG_SESSION,
       offsetof(broker_config, cg_session_ms)},
      {"group.consumer.min.session.timeout.ms", BC_SET_CG_MIN_SESSION,
       offsetof(broker_config, cg_min_session_ms)},
      {"group.consumer.max.session.timeout.ms", BC_SET_CG_MAX_SESSION,
       offsetof(broker_config, cg_max_session_ms)},
      {"group.consumer.heartbeat.interval.ms", BC_SET_CG_HEARTBEAT,
       offsetof(broker_config, cg_heartbeat_ms)},
      {"group.consumer.min.heartbeat.interval.ms", BC_SET_CG_MIN_HEARTBEAT,
       offsetof(broker_config, cg_min_heartbeat_ms)},
      {"group.consumer.max.heartbeat.interval.ms", BC_SET_CG_MAX_HEARTBEAT,
       offsetof(broker_config, cg_max_heartbeat_ms)},
      {"group.consumer.max.size", BC_SET_CG_MAX_SIZE,
       offsetof(broker_config, cg_max_size)},
      {"group.consumer.assignment.interval.ms", BC_SET_CG_ASSIGN_INTERVAL,
       offsetof(broker_config, cg_assign_interval_ms)},
      {"group.consumer.min.assignment.interval.ms",
       BC_SET_CG_MIN_ASSIGN_INTERVAL,
       offsetof(broker_config, cg_min_assign_interval_ms)},
      {"group.consumer.max.assignment.interval.ms",
       BC_SET_CG_MAX_ASSIGN_INTERVAL,
       offsetof(broker_config, cg_max_assign_interval_ms)},
  };
  for (size_t i = 0; i < sizeof cg32 / sizeof cg32[0]; i++)
    if (!strcmp(c->name, cg32[i].name) && (s->explicit_set & cg32[i].bit)) {
      snprintf(buf, n, "%" PRId32,
               *(const int32_t *)(const void *)((const char *)s + cg32[i].off));
      return buf;
    }
  if (!strcmp(c->name, "group.consumer.assignors") &&
      (s->explicit_set & BC_SET_CG_ASSIGNORS))
    return s->cg_assignors;
  if (!strcmp(c->name, "group.consumer.migration.policy") &&
      (s->explicit_set & BC_SET_CG_MIGRATION)) {
    static const char *const pol[] = {"disabled", "upgrade", "downgrade",
                                      "bidirectional"};
    return pol[s->cg_migration_policy & 3];
  }
  if (!strcmp(c->name, "max.connections.per.ip.overrides") &&
      (s->explicit_set & BC_SET_PER_IP_OVERRIDES))
    return s->per_ip_overrides;
  if (!strcmp(c->name, "log.cleaner.enable") &&
      (s->explicit_set & BC_SET_CLEANER_ENABLE))
    return s->cleaner_enable ? "true" : "false";
  if (!strcmp(c->name, "log.cleaner.threads") &&
      (s->explicit_set & BC_SET_CLEANER_THREADS)) {
    snprintf(buf, n, "%" PRId32, s->cleaner_threads);
    return buf;
  }
  if (!strcmp(c->name, "log.cleaner.dedupe.buffer.size") &&
      (s->explicit_set & BC_SET_CLEANER_DEDUPE)) {
    snprintf(buf, n, "%" PRId64, s->cleaner_dedupe_bytes);
    return buf;
  }
  if (!strcmp(c->name, "log.cleaner.backoff.ms") &&
      (s->explicit_set & BC_SET_CLEANER_BACKOFF)) {
    snprintf(buf, n, "%" PRId64, s->cleaner_backoff_ms);
    return buf;
  }
  if (!strcmp(c->name, "log.cleaner.io.max.bytes.per.second") &&
      (s->explicit_set & BC_SET_CLEANER_IO))
    return s->cleaner_io_text; /* as given */
  if (!strcmp(c->name, "log.dirs"))
    return b->cfg.data_dir ? b->cfg.data_dir : ".";
  if (!strcmp(c->name, "socket.request.max.bytes")) {
    snprintf(buf, n, "%zu", s->max_request_bytes);
    return buf;
  }
  if (!strcmp(c->name, "listeners") ||
      !strcmp(c->name, "advertised.listeners")) {
    /* Kafka's form: NAME://HOST:PORT for each listener, comma-separated. */
    int adv = c->name[0] == 'a';
    size_t nl = b->cfg.nlisteners ? b->cfg.nlisteners : 1, o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nl && o < n; i++) {
      const broker_listener *l =
          b->cfg.nlisteners ? &b->cfg.listeners[i] : NULL;
      const char *host = adv ? kafka_advertised_host(b, i)
                         : l ? l->host
                             : s->listen_host;
      int port = adv ? kafka_advertised_port(b, i)
                 : l ? l->port
                     : b->cfg.listen_port;
      int w = snprintf(buf + o, n - o,
                       strchr(host, ':') ? "%s%s://[%s]:%d" : "%s%s://%s:%d",
                       i ? "," : "", l ? l->name : "PLAINTEXT", host, port);
      if (w < 0)
        break;
      o += (size_t)w;
    }
    return buf;
  }
  /* The topic defaults (and the settings nodata only stores) from
   * --config FILE, as Kafka's STATIC_BROKER_CONFIG: checked at start-up
   * (dynconfig_static_check). */
  if ((c->mode == M_TOPIC || c->mode == M_STORED) && s->props) {
    const char *v = broker_props_get(s->props, c->name);
    if (v)
      return v;
  }
  return NULL;
}

int dynconfig_topic_levels(broker *b, const char *key, const char *names[3],
                           const char *values[3], int sources[3]) {
  dyn_state *d = b ? b->dyn : NULL;
  if (!d)
    return 0;
  const bconf *c = NULL;
  for (size_t i = 0; i < NBCONFS && !c; i++)
    if (bconfs[i].mode == M_TOPIC && !strcmp(bconfs[i].topic, key))
      c = &bconfs[i];
  if (!c)
    return 0;
  int n = 0;
  const char *v;
  char unused[8];
  if ((v = dyn_get(d, L_BROKER, NULL, c->name)))
    names[n] = c->name, values[n] = v, sources[n++] = SRC_DYNAMIC_BROKER;
  if ((v = dyn_get(d, L_DEFAULT, NULL, c->name)))
    names[n] = c->name, values[n] = v, sources[n++] = SRC_DYNAMIC_DEFAULT;
  /* A topic row's static value is the --config file's, not buf. */
  if ((v = static_value(b, d, c, unused, sizeof unused)))
    names[n] = c->name, values[n] = v, sources[n++] = SRC_STATIC;
  return n;
}

int dynconfig_known(const char *name) {
  return find_bconf(name) != NULL;
}

int dynconfig_static_check(const broker_props *props, const char **bad,
                           const char **value) {
  nd_topic_config tmp;
  nd_topic_config_init(&tmp);
  for (size_t i = 0; i < NBCONFS; i++) {
    if (bconfs[i].mode != M_TOPIC)
      continue;
    const char *v = broker_props_get(props, bconfs[i].name);
    char tv[32];
    if (v &&
        (requirement(&bconfs[i], v) ||
         nd_topic_config_set(&tmp, bconfs[i].topic,
                             topic_value(&bconfs[i], v, tv, sizeof tv)) != 0)) {
      *bad = bconfs[i].name;
      *value = v;
      return -1;
    }
  }
  return 0;
}

static const char *effective(broker *b, const dyn_state *d, const bconf *c,
                             int *src, char *buf, size_t n) {
  const char *v;
  if ((v = dyn_get(d, L_BROKER, NULL, c->name))) {
    *src = SRC_DYNAMIC_BROKER;
    return v;
  }
  if ((v = dyn_get(d, L_DEFAULT, NULL, c->name))) {
    *src = SRC_DYNAMIC_DEFAULT;
    return v;
  }
  if ((v = static_value(b, d, c, buf, n))) {
    *src = SRC_STATIC;
    return v;
  }
  *src = SRC_DEFAULT;
  if (c->mode == M_TOPIC) {
    nd_topic_config def;
    nd_topic_config_init(&def);
    if (nd_topic_config_get(&def, c->topic, buf, n) == 0)
      return buf;
  }
  return c->dflt;
}

int dynconfig_init(broker *b) {
  dyn_state *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  d->stat = b->cfg;
  b->dyn = d;
  int rc = conf_load(b, d, 1);
  if (rc == 0)
    apply_all(b, d);
  return rc;
}

void dynconfig_fini(broker *b) {
  dyn_state *d = b->dyn;
  if (!d)
    return;
  for (size_t i = 0; i < d->n; i++)
    entry_free(&d->e[i]);
  free(d->e);
  free(d);
  b->dyn = NULL;
}

const nd_topic_config *kafka_topic_defaults(broker *b) {
  static nd_topic_config builtin;
  dyn_state *d = b ? b->dyn : NULL;
  if (d)
    return &d->topic_defaults;
  nd_topic_config_init(&builtin);
  return &builtin;
}

/* ---- altering ----------------------------------------------------------- */

typedef struct alter_op {
  kf_str name, value;
  int8_t op;
} alter_op;

/* "[a, b]" as Kafka 4.4 prints a set of names in its messages. */
static kf_str name_set(kafka_req *r, const char *what, const char **names,
                       int n) {
  char buf[1024];
  int w = snprintf(buf, sizeof buf, "%s: [", what);
  for (int i = 0; i < n && w < (int)sizeof buf; i++)
    w += snprintf(buf + w, sizeof buf - (size_t)w, "%s%s", i ? ", " : "",
                  names[i]);
  if (w < (int)sizeof buf)
    snprintf(buf + w, sizeof buf - (size_t)w, "]");
  return kafka_str(r, buf);
}

static int is_listener_security(const char *name) {
  return !strncmp(name, "ssl.keystore.", 13) ||
         !strncmp(name, "ssl.truststore.", 15) ||
         !strcmp(name, "ssl.key.password");
}

/* Kafka's own checks of the connection caps (DynamicConnectionQuota), in
 * its words (checked against Kafka 4.4). Returns NULL when fine; `buf`
 * when it holds the whole message; else the reason for the usual
 * "Invalid value" message. */
static const char *check_connection_limit(const kvset *s, const char *name,
                                          const char *value, char *buf,
                                          size_t n) {
  int64_t v = 0;
  if (!strcmp(name, "max.connections") && !parse_i64(value, &v) && v == 0) {
    snprintf(buf, n,
             "Invalid value org.apache.kafka.common.config.ConfigException: "
             "Invalid max.connections 0 for configuration Invalid dynamic "
             "configuration");
    return buf;
  }
  if (!strcmp(name, "max.connections.per.ip") && !parse_i64(value, &v) &&
      v == 0) {
    const char *o = kv_get(s, "max.connections.per.ip.overrides");
    if (!o || !*o) {
      snprintf(buf, n,
               "requirement failed: max.connections.per.ip can be set to "
               "zero only if max.connections.per.ip.overrides property is "
               "set.");
      return buf;
    }
  }
  if (!strcmp(name, "max.connections.per.ip.overrides")) {
    net_ip_limit *ip = NULL;
    size_t nip = 0;
    char why[300];
    if (net_parse_ip_limits(value, &ip, &nip, why, sizeof why) < 0) {
      snprintf(buf, n,
               strncmp(why, "For input", 9)
                   ? "Error parsing configuration property "
                     "'max.connections.per.ip.overrides': %s"
                   : "%s",
               why);
      return buf;
    }
    free(ip);
  }
  return NULL;
}

/* msg with the config name `from` (where it stands as a name: after a
 * space or quote, before a colon or quote) replaced by `to`, into buf. */
static const char *renamed(const char *msg, const char *from, const char *to,
                           char *buf, size_t cap) {
  size_t fl = strlen(from);
  for (const char *p = strstr(msg, from); p; p = strstr(p + 1, from)) {
    char before = p > msg ? p[-1] : ' ', after = p[fl];
    if ((before == ' ' || before == '\'') && (after == ':' || after == '\'')) {
      snprintf(buf, cap, "%.*s%s%s", (int)(p - msg), msg, to, p + fl);
      return buf;
    }
  }
  snprintf(buf, cap, "%s", msg);
  return buf;
}

/* The broker checks of DynamicBrokerConfig.validateConfigs on the level's
 * new settings. */
static int16_t check_broker(kafka_req *r, const kvset *s, int level,
                            kf_str *msg) {
  const char *bad[32];
  int nbad = 0;
  for (int32_t i = 0; i < s->n && nbad < 32; i++) {
    const bconf *c = find_bconf(s->items[i].name);
    if (c && c->mode == M_READONLY)
      bad[nbad++] = s->items[i].name;
  }
  if (nbad) {
    *msg = name_set(r, "Cannot update these configs dynamically", bad, nbad);
    return KERR_INVALID_REQUEST;
  }
  for (int32_t i = 0; i < s->n && nbad < 32; i++)
    if (is_listener_security(s->items[i].name))
      bad[nbad++] = s->items[i].name;
  if (nbad) {
    *msg = name_set(r,
                    "These security configs can be dynamically updated only "
                    "per-listener using the listener prefix",
                    bad, nbad);
    return KERR_INVALID_REQUEST;
  }
  for (int32_t i = 0; i < s->n; i++) {
    const char *name = s->items[i].name, *value = s->items[i].value;
    const bconf *c = find_bconf(name);
    if (!c)
      continue;
    const char *why = type_error(c->type, value);
    char buf[512];
    if (!why && c->mode == M_TOPIC) {
      const char *req = requirement(c, value);
      if (req) {
        *msg = kafka_str(r, req);
        return KERR_INVALID_REQUEST;
      }
      nd_topic_config scratch;
      nd_topic_config_init(&scratch);
      char tv[32];
      if (nd_topic_config_set(&scratch, c->topic,
                              topic_value(c, value, tv, sizeof tv)) != 0) {
        /* The library's message is Kafka's for the topic config: named
         * after the broker config here, as Kafka names it. */
        *msg =
            kafka_str(r, renamed(nd_errmsg(), c->topic, name, buf, sizeof buf));
        return KERR_INVALID_REQUEST;
      }
      if (kafka_check_segment_bytes(r, name, value, msg))
        return KERR_INVALID_REQUEST; /* same words, Kafka's broker code */
    }
    if (!why && c->mode == M_LIVE && c->type == T_INT) {
      int64_t v = 0;
      parse_i64(value, &v);
      if (!strcmp(name, "num.partitions") && (v < 1 || v > 1000000))
        why = "Value must be at least 1 (and at most 1000000 here)";
      else if (v < 0)
        why = "Value must be at least 0";
    }
    if (!why && (why = check_connection_limit(s, name, value, buf,
                                              sizeof buf)) != NULL) {
      if (why == buf) { /* Kafka's whole message */
        *msg = kafka_str(r, buf);
        return KERR_INVALID_REQUEST;
      }
    }
    if (!why && c->mode == M_FIXED && strcmp(value, c->dflt)) {
      snprintf(buf, sizeof buf,
               "%s=%s is not supported: a single node only has %s", name, value,
               c->dflt);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_CONFIG;
    }
    if (!why && c->mode == M_STORED && c->type == T_INT &&
        strstr(name, "threads")) {
      int64_t v = 0;
      parse_i64(value, &v);
      if (v < 1)
        why = "value should be at least 1";
    }
    if (why) {
      snprintf(buf, sizeof buf, "Invalid value %s for configuration %s: %s",
               value, name, why);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
  }
  if (level == L_DEFAULT) {
    for (int32_t i = 0; i < s->n && nbad < 32; i++) {
      const bconf *c = find_bconf(s->items[i].name);
      if ((c && c->per_broker) ||
          !strncmp(s->items[i].name, "listener.name.", 14))
        bad[nbad++] = s->items[i].name;
    }
    if (nbad) {
      *msg = name_set(r,
                      "Cannot update these configs at default cluster level, "
                      "broker id must be specified",
                      bad, nbad);
      return KERR_INVALID_REQUEST;
    }
  }
  return 0;
}

/* GroupConfig.validate on the group's new settings (over the defaults). */
static int16_t check_group(kafka_req *r, const kvset *s, kf_str *msg) {
  char buf[512];
  for (int32_t i = 0; i < s->n; i++) {
    const char *name = s->items[i].name, *value = s->items[i].value;
    const gconf *g = find_gconf(name);
    if (!g) {
      snprintf(buf, sizeof buf, "Unknown group config name: %s", name);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_CONFIG;
    }
    const char *why = type_error(g->type, value);
    int64_t v = 0;
    if (!why && g->type == T_INT && (parse_i64(value, &v), v < g->at_least)) {
      snprintf(buf, sizeof buf, "Value must be at least %" PRId64, g->at_least);
      why = buf;
    }
    if (!why && !strcmp(name, "share.isolation.level") &&
        strcmp(value, "read_committed") && strcmp(value, "read_uncommitted"))
      why = "String must be one of: read_committed, read_uncommitted";
    if (!why && !strcmp(name, "share.auto.offset.reset") &&
        strcmp(value, "latest") && strcmp(value, "earliest") &&
        strncmp(value, "by_duration:P", 13))
      why = "String must be one of: latest, earliest, by_duration:PnDTnHnMn.nS";
    if (why) {
      char out[700];
      snprintf(out, sizeof out, "Invalid value %s for configuration %s: %s",
               value, name, why);
      *msg = kafka_str(r, out);
      return KERR_INVALID_CONFIG;
    }
    if (g->type == T_INT && (g->lo_name || g->hi_name)) {
      /* Kafka's text (checked against Kafka 4.4): the bounds are the
       * broker's group.*.min/max settings, shown by value (the consumer
       * ones are flags of nodata serve). */
      int64_t lo = g->lo, hi = g->hi;
      const broker_config *bc = &r->b->cfg;
      if (!strcmp(name, "consumer.session.timeout.ms"))
        lo = bc->cg_min_session_ms, hi = bc->cg_max_session_ms;
      else if (!strcmp(name, "consumer.heartbeat.interval.ms"))
        lo = bc->cg_min_heartbeat_ms, hi = bc->cg_max_heartbeat_ms;
      if ((g->lo_name && v < lo) || v > hi)
        snprintf(buf, sizeof buf,
                 "%s must be in the range %" PRId64 " to %" PRId64
                 " inclusive.",
                 name, g->lo_name ? lo : g->at_least, hi);
      else
        continue;
      *msg = kafka_str(r, buf);
      return KERR_INVALID_CONFIG;
    }
  }
  /* A session must outlast its heartbeat interval. */
  static const char *const pairs[][2] = {
      {"consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"},
      {"share.session.timeout.ms", "share.heartbeat.interval.ms"},
      {"streams.session.timeout.ms", "streams.heartbeat.interval.ms"}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const char *sv = kv_get(s, pairs[i][0]), *hv = kv_get(s, pairs[i][1]);
    int64_t sess = 0, hb = 0; /* values were type-checked above */
    parse_i64(sv ? sv : find_gconf(pairs[i][0])->dflt, &sess);
    parse_i64(hv ? hv : find_gconf(pairs[i][1])->dflt, &hb);
    if (sess <= hb) {
      snprintf(buf, sizeof buf, "%s must be greater than %s", pairs[i][0],
               pairs[i][1]);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_CONFIG;
    }
  }
  return 0;
}

/* Is `item` one of the comma-separated names in `list`? */
static int in_list(const char *list, const char *item) {
  size_t il = strlen(item);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == il && !strncmp(p, item, il))
      return 1;
    p += l + (e != NULL);
  }
  return 0;
}

const char *kafka_list_op(kafka_req *r, const char *old, const char *arg,
                          int append) {
  size_t cap = strlen(old ? old : "") + strlen(arg) + 2;
  char *out = kf_alloc(&r->arena, cap);
  char *oldc = kf_strndup(&r->arena, old ? old : "", strlen(old ? old : ""));
  char *argc = kf_strndup(&r->arena, arg, strlen(arg));
  if (!out || !oldc || !argc)
    return NULL;
  out[0] = 0;
  char *save = NULL;
  for (char *t = strtok_r(oldc, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (append || !in_list(arg, t)) {
      if (out[0])
        strcat(out, ",");
      strcat(out, t);
    }
  if (append)
    for (char *t = strtok_r(argc, ",", &save); t;
         t = strtok_r(NULL, ",", &save))
      if (!in_list(out, t)) {
        if (out[0])
          strcat(out, ",");
        strcat(out, t);
      }
  return out;
}

int16_t dynconfig_alter(kafka_req *r, int8_t type, kf_str name, int incremental,
                        const void *configs, int32_t n, int validate_only,
                        kf_str *msg) {
  broker *b = r->b;
  dyn_state *d = b->dyn;
  int level;
  const char *group = NULL;
  if (!kafka_cstr_ok(name)) {
    *msg = kafka_str(r, "resource name is null");
    return KERR_INVALID_REQUEST;
  }
  if (type == RES_BROKER) {
    level = name.len ? L_BROKER : L_DEFAULT;
    if (name.len) {
      int64_t id;
      char buf[200];
      if (parse_i64(name.ptr, &id)) {
        snprintf(buf, sizeof buf, "Node id must be an integer, but it is: %s",
                 name.ptr);
        *msg = kafka_str(r, buf);
        return KERR_INVALID_REQUEST;
      }
      if (id != b->cfg.node_id) {
        snprintf(buf, sizeof buf,
                 "Unexpected broker id, expected %d, but received %s",
                 b->cfg.node_id, name.ptr);
        *msg = kafka_str(r, buf);
        return KERR_INVALID_REQUEST;
      }
    }
  } else {
    level = L_GROUP;
    group = name.ptr;
    if (!*group) {
      *msg = kafka_str(r, "Group name must not be empty");
      return KERR_INVALID_REQUEST;
    }
  }
  alter_op *ops = kf_alloc(&r->arena, (size_t)(n > 0 ? n : 1) * sizeof *ops);
  if (!ops)
    return KERR_UNKNOWN_SERVER_ERROR;
  for (int32_t i = 0; i < n; i++) {
    if (incremental) {
      const kafka_incremental_alter_configs_request_alterable_config *c =
          (const kafka_incremental_alter_configs_request_alterable_config *)
              configs +
          i;
      ops[i] = (alter_op){c->name, c->value, c->config_operation};
    } else {
      const kafka_alter_configs_request_alterable_config *c =
          (const kafka_alter_configs_request_alterable_config *)configs + i;
      ops[i] = (alter_op){c->name, c->value, OP_SET};
    }
    if (!kafka_cstr_ok(ops[i].name)) {
      *msg = kafka_str(r, "config name is null");
      return KERR_INVALID_REQUEST;
    }
    for (int32_t j = 0; j < i; j++)
      if (!strcmp(ops[j].name.ptr, ops[i].name.ptr)) {
        *msg = kafka_str(r, "Error due to duplicate config keys");
        return KERR_INVALID_REQUEST;
      }
    if (ops[i].op != OP_DELETE && !kafka_cstr_ok(ops[i].value)) {
      char buf[300];
      snprintf(buf, sizeof buf, "Null value not supported for : %s",
               ops[i].name.ptr);
      *msg = kafka_str(r, buf);
      return KERR_INVALID_REQUEST;
    }
    if (ops[i].op < OP_SET || ops[i].op > OP_SUBTRACT) {
      *msg = kafka_str(r, "Unknown operations type");
      return KERR_INVALID_REQUEST;
    }
  }
  /* The level's settings now, then with the request applied. */
  kvset s = {0};
  s.cap = (int32_t)d->n + n + 1;
  s.items = kf_alloc(&r->arena, (size_t)s.cap * sizeof *s.items);
  if (!s.items)
    return KERR_UNKNOWN_SERVER_ERROR;
  if (incremental)
    for (size_t i = 0; i < d->n; i++)
      if (same_group(&d->e[i], level, group))
        kv_put(&s, d->e[i].name, d->e[i].value);
  for (int32_t i = 0; i < n; i++) {
    const char *k = ops[i].name.ptr, *v = ops[i].value.ptr;
    if (ops[i].op == OP_SET) {
      kv_put(&s, k, v);
    } else if (ops[i].op == OP_DELETE) {
      kv_del(&s, k);
    } else {
      const bconf *c = level == L_GROUP ? NULL : find_bconf(k);
      char buf[300];
      if (level != L_GROUP && !c) {
        snprintf(buf, sizeof buf, "Unknown config name: %s", k);
        *msg = kafka_str(r, buf);
        return KERR_INVALID_CONFIG;
      }
      if (!c || c->type != T_LIST) {
        snprintf(buf, sizeof buf,
                 "Config value %s is not allowed for config "
                 "key: %s",
                 ops[i].op == OP_APPEND ? "append" : "subtract", k);
        *msg = kafka_str(r, buf);
        return KERR_INVALID_CONFIG;
      }
      /* Unset at this level: the config's built-in default, as Kafka's
       * ConfigAdminManager takes it (a topic default's is the library's). */
      const char *old = kv_get(&s, k);
      nd_topic_config def;
      nd_topic_config_init(&def);
      if (!old && c->mode == M_TOPIC &&
          nd_topic_config_get(&def, c->topic, buf, sizeof buf) == 0)
        old = buf;
      const char *nv =
          kafka_list_op(r, old ? old : c->dflt, v, ops[i].op == OP_APPEND);
      if (!nv)
        return KERR_UNKNOWN_SERVER_ERROR;
      kv_put(&s, k, nv);
    }
  }
  int16_t err = level == L_GROUP ? check_group(r, &s, msg)
                                 : check_broker(r, &s, level, msg);
  if (err || validate_only)
    return err;

  /* The new state: other levels unchanged, this one replaced. */
  dyn_state nd = *d;
  nd.e = NULL;
  nd.n = nd.cap = 0;
  int rc = 0;
  for (size_t i = 0; i < d->n && rc == 0; i++)
    if (!same_group(&d->e[i], level, group))
      rc = entry_add(&nd, d->e[i].level, d->e[i].group, d->e[i].name,
                     d->e[i].value);
  for (int32_t i = 0; i < s.n && rc == 0; i++)
    rc = entry_add(&nd, level, group, s.items[i].name, s.items[i].value);
  if (rc == 0)
    rc = conf_save(b, &nd);
  if (rc != 0) {
    for (size_t i = 0; i < nd.n; i++)
      entry_free(&nd.e[i]);
    free(nd.e);
    char buf[300];
    snprintf(buf, sizeof buf, "cannot write %s/broker.conf: %s",
             b->cfg.data_dir ? b->cfg.data_dir : ".", strerror(-rc));
    *msg = kafka_str(r, buf);
    kafka_log(r, BLOG_ERROR, "%s", buf);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  for (size_t i = 0; i < d->n; i++)
    entry_free(&d->e[i]);
  free(d->e);
  *d = nd;
  apply_all(b, d);
  kafka_log(r, BLOG_INFO, "%s %s%s%s: configs changed",
            level == L_GROUP ? "group" : "broker", level == L_GROUP ? "" : "\"",
            name.ptr, level == L_GROUP ? "" : "\"");
  return 0;
}

/* ---- describing --------------------------------------------------------- */

typedef kafka_describe_configs_response_resource_result dc_entry;

static int is_sensitive(const bconf *c, const char *name) {
  return (c && c->type == T_PWD) || strstr(name, "password") ||
         strstr(name, "jaas");
}

/* Fill one entry; synonyms (when asked) are the levels that set it, in
 * order of precedence, then the default. */
static void fill(kafka_req *r, const kafka_describe_configs_request *req,
                 dc_entry *e, const char *name, const char *value, int src,
                 int read_only, int type, const char *const *syn_values,
                 const int *syn_src, int nsyn) {
  int sensitive = is_sensitive(find_bconf(name), name);
  e->name = kafka_str(r, name);
  e->value = sensitive ? kf_null_str() : kafka_str(r, value);
  e->read_only = (uint8_t)read_only;
  e->config_source = (int8_t)src;
  e->is_sensitive = (uint8_t)sensitive;
  e->config_type = (int8_t)type;
  e->documentation = kf_null_str();
  if (!req->include_synonyms || nsyn <= 0)
    return;
  kafka_describe_configs_response_synonym *s = kf_new_array(
      &r->arena, &kafka_describe_configs_response_synonym_desc, nsyn);
  if (!s)
    return;
  for (int i = 0; i < nsyn; i++) {
    s[i].name = e->name;
    s[i].value = sensitive ? kf_null_str() : kafka_str(r, syn_values[i]);
    s[i].source = (int8_t)syn_src[i];
  }
  e->synonyms.items = s;
  e->synonyms.count = nsyn;
}

static int describe_broker(kafka_req *r,
                           const kafka_describe_configs_request *req,
                           const kafka_describe_configs_request_resource *q,
                           kafka_describe_configs_response_result *res) {
  broker *b = r->b;
  dyn_state *d = b->dyn;
  int cluster = q->resource_name.len == 0;
  dc_entry *es = kf_new_array(
      &r->arena, &kafka_describe_configs_response_resource_result_desc,
      (int32_t)(NBCONFS + d->n + 1));
  if (!es)
    return -1;
  int32_t n = 0;
  if (cluster) {
    /* Kafka lists only the cluster-wide dynamic values here. */
    for (size_t i = 0; i < d->n; i++) {
      const dyn_entry *x = &d->e[i];
      if (x->level != L_DEFAULT || !kafka_config_wanted(q, x->name))
        continue;
      const bconf *c = find_bconf(x->name);
      const char *sv[] = {x->value};
      int ss[] = {SRC_DYNAMIC_DEFAULT};
      fill(r, req, &es[n++], x->name, x->value, SRC_DYNAMIC_DEFAULT, 0,
           c ? c->type : T_STRING, sv, ss, 1);
    }
  } else {
    for (size_t i = 0; i < NBCONFS; i++) {
      const bconf *c = &bconfs[i];
      if (!kafka_config_wanted(q, c->name))
        continue;
      char sbuf[300], dbuf[128];
      const char *sv[4];
      int ss[4], ns = 0;
      const char *v;
      if ((v = dyn_get(d, L_BROKER, NULL, c->name)))
        sv[ns] = v, ss[ns++] = SRC_DYNAMIC_BROKER;
      if ((v = dyn_get(d, L_DEFAULT, NULL, c->name)))
        sv[ns] = v, ss[ns++] = SRC_DYNAMIC_DEFAULT;
      if ((v = static_value(b, d, c, sbuf, sizeof sbuf)))
        sv[ns] = v, ss[ns++] = SRC_STATIC;
      const char *dv = c->dflt;
      if (c->mode == M_TOPIC) {
        nd_topic_config def;
        nd_topic_config_init(&def);
        if (nd_topic_config_get(&def, c->topic, dbuf, sizeof dbuf) == 0)
          dv = dbuf;
      }
      if (dv)
        sv[ns] = dv, ss[ns++] = SRC_DEFAULT;
      fill(r, req, &es[n++], c->name, ns ? sv[0] : NULL,
           ns ? ss[0] : SRC_DEFAULT, c->mode == M_READONLY, c->type, sv, ss,
           ns);
    }
    /* Names nodata does not know, set dynamically, at their level. */
    for (size_t i = 0; i < d->n; i++) {
      const dyn_entry *x = &d->e[i];
      if (x->level == L_GROUP || find_bconf(x->name) ||
          !kafka_config_wanted(q, x->name))
        continue;
      if (x->level == L_DEFAULT && dyn_get(d, L_BROKER, NULL, x->name))
        continue; /* shown once, at the level that wins */
      int src = x->level == L_BROKER ? SRC_DYNAMIC_BROKER : SRC_DYNAMIC_DEFAULT;
      const char *sv[] = {x->value};
      int ss[] = {src};
      fill(r, req, &es[n++], x->name, x->value, src, 0, T_STRING, sv, ss, 1);
    }
  }
  res->configs.items = es;
  res->configs.count = n;
  return 0;
}

static int describe_group(kafka_req *r,
                          const kafka_describe_configs_request *req,
                          const kafka_describe_configs_request_resource *q,
                          kafka_describe_configs_response_result *res) {
  dyn_state *d = r->b->dyn;
  if (!q->resource_name.len) {
    res->error_code = KERR_INVALID_REQUEST;
    res->error_message = kafka_str(r, "Group name must not be empty");
    return 0;
  }
  dc_entry *es = kf_new_array(
      &r->arena, &kafka_describe_configs_response_resource_result_desc,
      (int32_t)NGCONFS);
  if (!es)
    return -1;
  int32_t n = 0;
  for (size_t i = 0; i < NGCONFS; i++) {
    const gconf *g = &gconfs[i];
    if (!kafka_config_wanted(q, g->name))
      continue;
    const char *v = dyn_get(d, L_GROUP, q->resource_name.ptr, g->name);
    const char *sv[2];
    int ss[2], ns = 0;
    if (v)
      sv[ns] = v, ss[ns++] = SRC_GROUP;
    sv[ns] = g->dflt, ss[ns++] = SRC_DEFAULT;
    fill(r, req, &es[n++], g->name, sv[0], ss[0], 0, g->type, sv, ss, ns);
  }
  res->configs.items = es;
  res->configs.count = n;
  return 0;
}

int dynconfig_describe(kafka_req *r, const kafka_describe_configs_request *req,
                       const kafka_describe_configs_request_resource *q,
                       kafka_describe_configs_response_result *res) {
  if (q->resource_type == RES_GROUP)
    return describe_group(r, req, q, res);
  char node[16];
  snprintf(node, sizeof node, "%d", r->b->cfg.node_id);
  if (q->resource_name.len && strcmp(q->resource_name.ptr, node) != 0) {
    res->error_code = KERR_INVALID_REQUEST;
    res->error_message = kafka_str(r, "unknown broker id (this is node 0)");
    return 0;
  }
  return describe_broker(r, req, q, res);
}

const char *dynconfig_group_value(broker *b, const char *group,
                                  const char *name) {
  const dyn_state *d = b ? b->dyn : NULL;
  return d && group ? dyn_get(d, L_GROUP, group, name) : NULL;
}
