/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c — per-topic settings under their Kafka names. One table lists
 * each setting's name, field, bounds and kind, so parsing, printing and the
 * list of names stay in step.
 *
 * Kafka's flush.messages and flush.ms are views of the fsync policy, not
 * settings of their own (K_FLUSH_*): they are computed from `fsync` when
 * read and change it when set, and topic.conf does not store them, so
 * there is one truth about when a partition is synced.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

enum kind {
  K_I64,
  K_I32,
  K_FSYNC,
  K_TSTYPE,
  K_COMPRESSION,
  K_GZIP_LEVEL, /* -1 (default) or 1-9, as Kafka's GzipCompression */
  K_FLUSH_MESSAGES,
  K_FLUSH_MS,
  K_POLICY, /* cleanup.policy: a list of delete and compact */
  K_RATIO,  /* a double in [0, 1] */
};

/* Kafka's "never" for flush.messages and flush.ms: Long.MAX_VALUE. */
#define FLUSH_NEVER INT64_MAX

struct setting {
  const char *name;
  size_t offset;
  enum kind kind;
  int64_t min, max;
};

#define F(field) offsetof(nd_topic_config, field)
static const struct setting settings[] = {
    {"segment.bytes", F(segment_bytes), K_I64, 14, INT32_MAX},
    {"segment.ms", F(segment_ms), K_I64, 1, INT64_MAX},
    {"segment.index.bytes", F(segment_index_bytes), K_I64, 4096, INT32_MAX},
    {"retention.ms", F(retention_ms), K_I64, -1, INT64_MAX},
    /* Kafka's has no lower bound: any negative is "no limit". */
    {"retention.bytes", F(retention_bytes), K_I64, INT64_MIN, INT64_MAX},
    {"max.message.bytes", F(max_message_bytes), K_I32, 0, INT32_MAX},
    {"index.interval.bytes", F(index_interval_bytes), K_I32, 0, INT32_MAX},
    {"fsync", F(fsync), K_FSYNC, 0, 0},
    {"message.timestamp.type", F(timestamp_type), K_TSTYPE, 0, 1},
    {"compression.type", F(compression), K_COMPRESSION, 0, 0},
    {"compression.gzip.level", F(gzip_level), K_GZIP_LEVEL, -1, 9},
    {"compression.lz4.level", F(lz4_level), K_I32, 1, 17},
    {"compression.zstd.level", F(zstd_level), K_I32, -131072, 22},
    {"flush.messages", 0, K_FLUSH_MESSAGES, 0, 0},
    {"flush.ms", 0, K_FLUSH_MS, 0, 0},
    {"delete.retention.ms", F(delete_retention_ms), K_I64, 0, INT64_MAX},
    {"message.timestamp.before.max.ms", F(timestamp_before_max_ms), K_I64, 0,
     INT64_MAX},
    {"message.timestamp.after.max.ms", F(timestamp_after_max_ms), K_I64, 0,
     INT64_MAX},
    {"cleanup.policy", F(cleanup_policy), K_POLICY, 0, 0},
    {"min.cleanable.dirty.ratio", F(min_cleanable_dirty_ratio), K_RATIO, 0, 1},
    {"min.compaction.lag.ms", F(min_compaction_lag_ms), K_I64, 0, INT64_MAX},
    {"max.compaction.lag.ms", F(max_compaction_lag_ms), K_I64, 1, INT64_MAX},
};
#undef F
#define NSETTINGS (sizeof settings / sizeof settings[0])

static const char *names[NSETTINGS + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_fill(void) {
  for (size_t i = 0; i < NSETTINGS; i++)
    names[i] = settings[i].name;
  names[NSETTINGS] = NULL;
}

const char *const *nd_topic_config_names(void) {
  pthread_once(&names_once, names_fill);
  return names;
}

/* Kafka's compression.type values, indexed by enum nd_codec. */
static const char *const codec_names[] = {"uncompressed", "gzip", "snappy",
                                          "lz4", "zstd"};

void nd_topic_config_init(nd_topic_config *cfg) {
  memset(cfg, 0, sizeof *cfg); /* no overrides */
  cfg->segment_bytes = 128LL << 20;
  cfg->segment_ms = 7LL * 24 * 3600 * 1000;
  cfg->segment_index_bytes = 10LL << 20;
  cfg->retention_ms = 7LL * 24 * 3600 * 1000;
  cfg->retention_bytes = -1;
  cfg->max_message_bytes = (1 << 20) + 12;
  cfg->index_interval_bytes = 4096;
  cfg->fsync = ND_FSYNC_INTERVAL;
  cfg->fsync_interval_ms = 1000;
  cfg->timestamp_type = ND_TS_CREATE_TIME;
  cfg->compression = ND_COMPRESSION_PRODUCER;
  cfg->gzip_level = ND_COMPRESSION_GZIP_DEFAULT;
  cfg->lz4_level = 9;
  cfg->zstd_level = 3;
  cfg->delete_retention_ms = 24LL * 3600 * 1000;
  /* Kafka 4's defaults: no limit into the past, one hour into the future. */
  cfg->timestamp_before_max_ms = INT64_MAX;
  cfg->timestamp_after_max_ms = 3600LL * 1000;
  cfg->cleanup_policy = ND_CLEANUP_DELETE;
  cfg->min_cleanable_dirty_ratio = 0.5;
  cfg->min_compaction_lag_ms = 0;
  cfg->max_compaction_lag_ms = INT64_MAX;
}

/* Java's Double.toString of d, which Kafka prints in its messages and
 * DescribeConfigs: the shortest digits that read back as d, "1.0" not
 * "1", and m.mmmE-n outside [1e-3, 1e7). */
static void java_double(double d, char *buf, size_t cap) {
  char t[40];
  int prec = 1;
  for (; prec < 17; prec++) {
    snprintf(t, sizeof t, "%.*e", prec - 1, d);
    if (strtod(t, NULL) == d)
      break;
  }
  snprintf(t, sizeof t, "%.*e", prec - 1, d);
  if (d != d || d - d != 0) { /* NaN, infinities: what %e says */
    snprintf(buf, cap, "%s", t);
    return;
  }
  /* t is [-]D[.DDD]e[+-]XX: split into sign, digits and exponent. */
  const char *p = t;
  int neg = *p == '-';
  p += neg;
  char digits[24];
  size_t nd = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.' && nd + 1 < sizeof digits)
      digits[nd++] = *p;
  digits[nd] = 0;
  int exp = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    digits[--nd] = 0;
  double a = d < 0 ? -d : d;
  size_t used = 0;
  char out[64];
  if (neg)
    out[used++] = '-';
  if (a == 0 || (a >= 1e-3 && a < 1e7)) {
    if (exp < 0) { /* 0.000DDD */
      used += (size_t)snprintf(out + used, sizeof out - used, "0.");
      for (int i = -1; i > exp; i--)
        out[used++] = '0';
      used += (size_t)snprintf(out + used, sizeof out - used, "%s", digits);
    } else { /* DDD.DDD, at least one digit after the point */
      for (int i = 0; i <= exp; i++)
        out[used++] = (size_t)i < nd ? digits[i] : '0';
      out[used++] = '.';
      if ((size_t)exp + 1 < nd)
        used += (size_t)snprintf(out + used, sizeof out - used, "%s",
                                 digits + exp + 1);
      else
        out[used++] = '0';
    }
    out[used] = 0;
  } else {
    snprintf(out + used, sizeof out - used, "%c.%sE%d", digits[0],
             nd > 1 ? digits + 1 : "0", exp);
  }
  snprintf(buf, cap, "%s", out);
}

/* cleanup.policy: Kafka's list type (ConfigDef LIST with ValidList): the
 * value trimmed, split at commas with the spaces around them, each item
 * one of compact and delete; an empty value is the empty list (neither),
 * an empty item an error; a repeated item counts once, and which came
 * first is kept (ND_CLEANUP_DELETE_FIRST). Kafka's messages. */
static int parse_policy(const char *value, int32_t *out) {
  int32_t policy = 0;
  const char *p = value, *end = value + strlen(value);
  while (p < end && isspace((unsigned char)*p))
    p++;
  while (end > p && isspace((unsigned char)end[-1]))
    end--;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *item_end = comma ? comma : end, *last = item_end;
    while (last > p && isspace((unsigned char)last[-1]))
      last--;
    size_t n = (size_t)(last - p);
    if (n == 0)
      return nd_fail(ND_ECONFIG,
                     "Configuration 'cleanup.policy' values must not be "
                     "empty.");
    int32_t bit = n == 6 && !strncmp(p, "delete", 6)    ? ND_CLEANUP_DELETE
                  : n == 7 && !strncmp(p, "compact", 7) ? ND_CLEANUP_COMPACT
                                                        : 0;
    if (!bit)
      return nd_fail(ND_ECONFIG,
                     "Invalid value %.*s for configuration cleanup.policy: "
                     "String must be one of: compact, delete",
                     (int)n, p);
    if (bit == ND_CLEANUP_COMPACT && !(policy & ND_CLEANUP_COMPACT) &&
        (policy & ND_CLEANUP_DELETE))
      policy |= ND_CLEANUP_DELETE_FIRST;
    policy |= bit;
    if (!comma)
      break;
    p = comma + 1;
    while (p < end && isspace((unsigned char)*p))
      p++;
    if (p == end) /* "compact," ends in an empty item */
      return nd_fail(ND_ECONFIG,
                     "Configuration 'cleanup.policy' values must not be "
                     "empty.");
  }
  *out = policy;
  return 0;
}

/* A double in [0, 1], in Kafka's words (ConfigDef DOUBLE with
 * Range.between(0, 1)); the range message prints the parsed value as
 * Java does ("2" is "2.0"). */
static int parse_ratio(const char *name, const char *value, double *out) {
  char *end;
  errno = 0;
  double v = strtod(value, &end);
  while (*end && isspace((unsigned char)*end))
    end++;
  if (!*value || errno || *end || v != v)
    return nd_fail(ND_ECONFIG,
                   "Invalid value %s for configuration %s: Not a number of "
                   "type DOUBLE",
                   value, name);
  if (v < 0.0 || v > 1.0) {
    char shown[40];
    java_double(v, shown, sizeof shown);
    return nd_fail(ND_ECONFIG,
                   "Invalid value %s for configuration %s: Value must be %s",
                   shown, name, v < 0.0 ? "at least 0" : "no more than 1");
  }
  *out = v;
  return 0;
}

static const struct setting *find(const char *name) {
  for (size_t i = 0; i < NSETTINGS; i++)
    if (!strcmp(settings[i].name, name))
      return &settings[i];
  return NULL;
}

static int parse_i64(const char *s, int64_t *out) {
  if (!s || !*s)
    return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

/* The overrides bit of a setting: its row in the table. */
static uint64_t bit_of(const struct setting *s) {
  return UINT64_C(1) << (s - settings);
}

static int is_view(const struct setting *s) {
  return s->kind == K_FLUSH_MESSAGES || s->kind == K_FLUSH_MS;
}

/* fsync and its two views (Kafka's flush.*): one policy, which follows
 * the defaults only while none of the three is set on the topic. */
static uint64_t fsync_group(void) {
  return bit_of(find("fsync")) | bit_of(find("flush.messages")) |
         bit_of(find("flush.ms"));
}

uint64_t nd_topic_config_bit(const char *name) {
  const struct setting *s = name ? find(name) : NULL;
  return s ? bit_of(s) : 0;
}

static int set_value(nd_topic_config *cfg, const struct setting *s,
                     const char *name, const char *value);

int nd_topic_config_set(nd_topic_config *cfg, const char *name,
                        const char *value) {
  if (!cfg || !name || !value)
    return nd_fail(ND_EINVAL, "config: NULL argument");
  const struct setting *s = find(name);
  if (!s)
    return nd_fail(ND_ECONFIG, "unknown topic config '%s'", name);
  int rc = set_value(cfg, s, name, value);
  if (rc == 0)
    cfg->overrides |= bit_of(s);
  return rc;
}

/* The bytes of a setting's value in the struct: one field, or fsync's
 * two (the policy and its interval). */
static void value_span(const struct setting *s, size_t *off, size_t *len) {
  switch (s->kind) {
  case K_I64:
    *off = s->offset, *len = sizeof(int64_t);
    return;
  case K_RATIO:
    *off = s->offset, *len = sizeof(double);
    return;
  case K_FSYNC:
  case K_FLUSH_MESSAGES:
  case K_FLUSH_MS:
    *off = *len = 0; /* fsync's two fields, by hand; views have none */
    return;
  default:
    *off = s->offset, *len = sizeof(int32_t);
  }
}

static void copy_setting(nd_topic_config *to, const nd_topic_config *from,
                         const struct setting *s) {
  size_t off, len;
  value_span(s, &off, &len);
  if (len) {
    memcpy((char *)to + off, (const char *)from + off, len);
  } else {
    to->fsync = from->fsync;
    to->fsync_interval_ms = from->fsync_interval_ms;
  }
}

static int same_setting(const nd_topic_config *a, const nd_topic_config *b,
                        const struct setting *s) {
  size_t off, len;
  value_span(s, &off, &len);
  if (len)
    return !memcmp((const char *)a + off, (const char *)b + off, len);
  return a->fsync == b->fsync && a->fsync_interval_ms == b->fsync_interval_ms;
}

int nd_topic_config_unset(nd_topic_config *cfg, const char *name,
                          const nd_topic_config *defaults) {
  if (!cfg || !name)
    return nd_fail(ND_EINVAL, "config: NULL argument");
  const struct setting *s = find(name);
  if (!s)
    return nd_fail(ND_ECONFIG, "unknown topic config '%s'", name);
  nd_topic_config builtin;
  if (!defaults) {
    nd_topic_config_init(&builtin);
    defaults = &builtin;
  }
  cfg->overrides &= ~(s->kind == K_FSYNC ? fsync_group() : bit_of(s));
  if (is_view(s) && (cfg->overrides & fsync_group())) {
    /* The policy stays the topic's: only this view of it goes back to
     * the default's (flush.ms's interval, or flush.messages' choice
     * between always and the interval). */
    char v[64];
    if (nd_topic_config_get(defaults, name, v, sizeof v) == 0)
      set_value(cfg, s, name, v);
    return 0;
  }
  copy_setting(cfg, defaults, s);
  return 0;
}

uint64_t config_differs(const nd_topic_config *a, const nd_topic_config *b) {
  uint64_t mask = 0;
  for (size_t i = 0; i < NSETTINGS; i++)
    if (!is_view(&settings[i]) && !same_setting(a, b, &settings[i]))
      mask |= bit_of(&settings[i]);
  return mask;
}

void config_resolve(nd_topic_config *out, const nd_topic_config *in,
                    const nd_topic_config *defaults) {
  uint64_t mask = in->overrides & ~ND_TOPIC_OVERRIDES_EXACT;
  if (!(in->overrides & ND_TOPIC_OVERRIDES_EXACT)) {
    nd_topic_config builtin;
    nd_topic_config_init(&builtin);
    mask |= config_differs(in, &builtin);
  }
  *out = *in;
  for (size_t i = 0; i < NSETTINGS; i++) {
    const struct setting *s = &settings[i];
    if (!is_view(s) &&
        !(mask & (s->kind == K_FSYNC ? fsync_group() : bit_of(s))))
      copy_setting(out, defaults, s);
  }
  out->overrides = mask;
}

int config_format_overrides(uint64_t mask, char *buf, size_t cap) {
  size_t used = 0;
  const char *sep = "overrides=";
  for (size_t i = 0; i <= NSETTINGS; i++) {
    const char *item = "";
    if (i == NSETTINGS)
      sep = used ? "\n" : "overrides=\n";
    else if (mask & bit_of(&settings[i]))
      item = settings[i].name;
    else
      continue;
    int n = snprintf(buf + used, cap - used, "%s%s", sep, item);
    if (n < 0 || (size_t)n >= cap - used)
      return nd_fail(ND_EINVAL, "config text longer than %zu bytes", cap);
    used += (size_t)n;
    sep = ",";
  }
  return (int)used;
}

int config_parse_overrides(const char *list, uint64_t *mask) {
  *mask = 0;
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const struct setting *s = NULL;
    for (size_t i = 0; i < NSETTINGS && !s; i++)
      if (strlen(settings[i].name) == len && !memcmp(settings[i].name, p, len))
        s = &settings[i];
    if (!s)
      return nd_fail(ND_ECONFIG, "overrides: unknown topic config '%.*s'",
                     (int)(len > 60 ? 60 : len), p);
    *mask |= bit_of(s);
    if (!end)
      break;
    p = end + 1;
  }
  return 0;
}

static int set_value(nd_topic_config *cfg, const struct setting *s,
                     const char *name, const char *value) {
  char *field = (char *)cfg + s->offset;
  int64_t v;
  switch (s->kind) {
  case K_FSYNC:
    if (!strcmp(value, "always")) {
      cfg->fsync = ND_FSYNC_ALWAYS;
    } else if (!strcmp(value, "never")) {
      cfg->fsync = ND_FSYNC_NEVER;
      cfg->fsync_interval_ms = FLUSH_NEVER; /* flush.ms shows never too */
    } else if (!strcmp(value, "interval")) {
      cfg->fsync = ND_FSYNC_INTERVAL;
      if (cfg->fsync_interval_ms == FLUSH_NEVER)
        cfg->fsync_interval_ms = 1000;
    } else if (!strncmp(value, "interval=", 9) &&
               parse_i64(value + 9, &v) == 0 && v >= 1) {
      cfg->fsync = ND_FSYNC_INTERVAL;
      cfg->fsync_interval_ms = v;
    } else {
      return nd_fail(ND_ECONFIG,
                     "fsync='%s': expected always, never, interval or "
                     "interval=<ms> with ms >= 1",
                     value);
    }
    return 0;
  case K_TSTYPE:
    if (!strcmp(value, "CreateTime"))
      cfg->timestamp_type = ND_TS_CREATE_TIME;
    else if (!strcmp(value, "LogAppendTime"))
      cfg->timestamp_type = ND_TS_LOG_APPEND_TIME;
    else
      return nd_fail(ND_ECONFIG,
                     "message.timestamp.type='%s': expected CreateTime or "
                     "LogAppendTime",
                     value);
    return 0;
  case K_COMPRESSION:
    if (!strcmp(value, "producer")) {
      cfg->compression = ND_COMPRESSION_PRODUCER;
      return 0;
    }
    for (int c = ND_CODEC_NONE; c <= ND_CODEC_ZSTD; c++)
      if (!strcmp(value, codec_names[c])) {
        cfg->compression = c;
        return 0;
      }
    /* Kafka's wording (ConfigDef.ValidString), names in Kafka's order. */
    return nd_fail(ND_ECONFIG,
                   "Invalid value %s for configuration compression.type: "
                   "String must be one of: uncompressed, zstd, lz4, snappy, "
                   "gzip, producer",
                   value);
  case K_FLUSH_MESSAGES:
    if (parse_i64(value, &v) != 0 || v < 1)
      return nd_fail(ND_ECONFIG,
                     "flush.messages='%s': expected an integer >= 1", value);
    if (v == 1) {
      cfg->fsync = ND_FSYNC_ALWAYS;
    } else if (v == FLUSH_NEVER) {
      /* Back to the time-based policy flush.ms describes. */
      if (cfg->fsync == ND_FSYNC_ALWAYS)
        cfg->fsync = cfg->fsync_interval_ms == FLUSH_NEVER ? ND_FSYNC_NEVER
                                                           : ND_FSYNC_INTERVAL;
    } else {
      return nd_fail(ND_ECONFIG,
                     "flush.messages=%" PRId64 ": nodata syncs after every "
                     "append (1) or by time (flush.ms, with "
                     "flush.messages=9223372036854775807), not every N "
                     "messages",
                     v);
    }
    return 0;
  case K_FLUSH_MS:
    if (parse_i64(value, &v) != 0 || v < 0)
      return nd_fail(ND_ECONFIG, "flush.ms='%s': expected an integer >= 0",
                     value);
    /* 0 (sync at every check) is the shortest interval we have. */
    cfg->fsync_interval_ms = v < 1 ? 1 : v;
    if (cfg->fsync != ND_FSYNC_ALWAYS)
      cfg->fsync = v == FLUSH_NEVER ? ND_FSYNC_NEVER : ND_FSYNC_INTERVAL;
    return 0;
  case K_POLICY:
    return parse_policy(value, &cfg->cleanup_policy);
  case K_RATIO: {
    double d = 0;
    if (parse_ratio(name, value, &d))
      return ND_ECONFIG;
    memcpy(field, &d, sizeof d);
    return 0;
  }
  case K_GZIP_LEVEL:
  case K_I64:
  case K_I32:
    /* Kafka's words (ConfigDef's parse and Range validators). */
    if (parse_i64(value, &v) != 0)
      return nd_fail(ND_ECONFIG,
                     "Invalid value %s for configuration %s: Not a number "
                     "of type %s",
                     value, name, s->kind == K_I64 ? "LONG" : "INT");
    if (s->kind == K_GZIP_LEVEL && v == 0)
      return nd_fail(ND_ECONFIG,
                     "compression.gzip.level=0: expected -1 (default) or "
                     "1-9");
    if (v < s->min || v > s->max)
      return nd_fail(ND_ECONFIG,
                     "Invalid value %" PRId64 " for configuration %s: Value "
                     "must be %s %" PRId64,
                     v, name, v < s->min ? "at least" : "no more than",
                     v < s->min ? s->min : s->max);
    if (s->kind == K_I64)
      memcpy(field, &v, sizeof(int64_t));
    else {
      int32_t v32 = (int32_t)v;
      memcpy(field, &v32, sizeof v32);
    }
    return 0;
  }
  return nd_fail(ND_ECONFIG, "unknown topic config '%s'", name);
}

int nd_topic_config_get(const nd_topic_config *cfg, const char *name, char *buf,
                        size_t buf_size) {
  const struct setting *s = find(name);
  if (!s)
    return nd_fail(ND_ECONFIG, "unknown topic config '%s'", name);
  const char *field = (const char *)cfg + s->offset;
  int n;
  switch (s->kind) {
  case K_FSYNC:
    if (cfg->fsync == ND_FSYNC_ALWAYS)
      n = snprintf(buf, buf_size, "always");
    else if (cfg->fsync == ND_FSYNC_NEVER)
      n = snprintf(buf, buf_size, "never");
    else
      n = snprintf(buf, buf_size, "interval=%" PRId64, cfg->fsync_interval_ms);
    break;
  case K_COMPRESSION:
    n = snprintf(buf, buf_size, "%s",
                 cfg->compression >= ND_CODEC_NONE &&
                         cfg->compression <= ND_CODEC_ZSTD
                     ? codec_names[cfg->compression]
                     : "producer");
    break;
  case K_FLUSH_MESSAGES:
    n = snprintf(buf, buf_size, "%" PRId64,
                 cfg->fsync == ND_FSYNC_ALWAYS ? (int64_t)1 : FLUSH_NEVER);
    break;
  case K_FLUSH_MS:
    n = snprintf(buf, buf_size, "%" PRId64,
                 cfg->fsync == ND_FSYNC_NEVER ? FLUSH_NEVER
                                              : cfg->fsync_interval_ms);
    break;
  case K_TSTYPE:
    n = snprintf(buf, buf_size, "%s",
                 cfg->timestamp_type == ND_TS_LOG_APPEND_TIME ? "LogAppendTime"
                                                              : "CreateTime");
    break;
  case K_POLICY: {
    int32_t pol = cfg->cleanup_policy;
    int both = (pol & ND_CLEANUP_COMPACT) && (pol & ND_CLEANUP_DELETE);
    n = snprintf(buf, buf_size, "%s",
                 both ? (pol & ND_CLEANUP_DELETE_FIRST ? "delete,compact"
                                                       : "compact,delete")
                 : pol & ND_CLEANUP_COMPACT ? "compact"
                 : pol & ND_CLEANUP_DELETE  ? "delete"
                                            : "");
    break;
  }
  case K_RATIO: {
    double d;
    char t[40];
    memcpy(&d, field, sizeof d);
    java_double(d, t, sizeof t); /* as Kafka describes it: "1.0", "0.5" */
    n = snprintf(buf, buf_size, "%s", t);
    break;
  }
  case K_I64: {
    int64_t v;
    memcpy(&v, field, sizeof v);
    n = snprintf(buf, buf_size, "%" PRId64, v);
    break;
  }
  default: {
    int32_t v;
    memcpy(&v, field, sizeof v);
    n = snprintf(buf, buf_size, "%" PRId32, v);
    break;
  }
  }
  if (n < 0 || (size_t)n >= buf_size)
    return nd_fail(ND_EINVAL, "config %s: buffer of %zu bytes too small", name,
                   buf_size);
  return 0;
}

int config_validate(const nd_topic_config *cfg) {
  char buf[64];
  for (size_t i = 0; i < NSETTINGS; i++) {
    const struct setting *s = &settings[i];
    int64_t v;
    if (s->kind == K_I64) {
      memcpy(&v, (const char *)cfg + s->offset, sizeof v);
    } else if (s->kind == K_I32 || s->kind == K_GZIP_LEVEL) {
      int32_t v32;
      memcpy(&v32, (const char *)cfg + s->offset, sizeof v32);
      v = v32;
    } else {
      continue;
    }
    if (v < s->min || v > s->max || (s->kind == K_GZIP_LEVEL && v == 0)) {
      snprintf(buf, sizeof buf, "%" PRId64, v);
      return nd_fail(ND_ECONFIG,
                     "Invalid value %s for configuration %s: Value must be "
                     "in [%" PRId64 ", %" PRId64 "]",
                     buf, s->name, s->min, s->max);
    }
  }
  if (cfg->fsync < ND_FSYNC_NEVER || cfg->fsync > ND_FSYNC_ALWAYS)
    return nd_fail(ND_ECONFIG, "fsync policy %d unknown", (int)cfg->fsync);
  if (cfg->fsync_interval_ms < 1)
    return nd_fail(ND_ECONFIG, "fsync interval %" PRId64 " ms: must be >= 1",
                   cfg->fsync_interval_ms);
  if (cfg->compression < ND_COMPRESSION_PRODUCER ||
      cfg->compression > ND_CODEC_ZSTD)
    return nd_fail(ND_ECONFIG, "compression %d unknown", (int)cfg->compression);
  if (cfg->timestamp_type != ND_TS_CREATE_TIME &&
      cfg->timestamp_type != ND_TS_LOG_APPEND_TIME)
    return nd_fail(ND_ECONFIG, "timestamp type %d unknown",
                   (int)cfg->timestamp_type);
  if (cfg->cleanup_policy < 0 ||
      cfg->cleanup_policy >
          (ND_CLEANUP_DELETE | ND_CLEANUP_COMPACT | ND_CLEANUP_DELETE_FIRST))
    return nd_fail(ND_ECONFIG, "cleanup policy %d unknown",
                   (int)cfg->cleanup_policy);
  if (!(cfg->min_cleanable_dirty_ratio >= 0.0 &&
        cfg->min_cleanable_dirty_ratio <= 1.0))
    return nd_fail(ND_ECONFIG,
                   "min.cleanable.dirty.ratio=%g: must be between 0 and 1",
                   cfg->min_cleanable_dirty_ratio);
  if (cfg->min_compaction_lag_ms > cfg->max_compaction_lag_ms)
    return nd_fail(ND_ECONFIG, /* Kafka's words (LogConfig) */
                   "conflict topic config setting min.compaction.lag.ms "
                   "(%" PRId64 ") > max.compaction.lag.ms (%" PRId64 ")",
                   cfg->min_compaction_lag_ms, cfg->max_compaction_lag_ms);
  return 0;
}

int config_format(const nd_topic_config *cfg, char *buf, size_t cap) {
  size_t used = 0;
  char val[64];
  for (size_t i = 0; i < NSETTINGS; i++) {
    /* flush.* are views of fsync. Only the interval kept under `always`
     * (what applies if flush.messages is raised again) needs a line. */
    if (settings[i].kind == K_FLUSH_MESSAGES ||
        (settings[i].kind == K_FLUSH_MS && cfg->fsync != ND_FSYNC_ALWAYS))
      continue;
    int rc = nd_topic_config_get(cfg, settings[i].name, val, sizeof val);
    if (rc)
      return rc;
    int n = snprintf(buf + used, cap - used, "%s=%s\n", settings[i].name, val);
    if (n < 0 || (size_t)n >= cap - used)
      return nd_fail(ND_EINVAL, "config text longer than %zu bytes", cap);
    used += (size_t)n;
  }
  return (int)used;
}
