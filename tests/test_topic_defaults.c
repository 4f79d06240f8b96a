/* SPDX-License-Identifier: Apache-2.0 */
/* The store's topic defaults and a topic's overrides: a setting a topic
 * does not set itself follows the defaults, live (nd_store_set_topic_
 * defaults) and across reopens; an override, even at the default's value,
 * stays; overrides are kept in topic.conf; a topic.conf from before them
 * takes what differs from the built-in defaults as its overrides. */
#include "test.h"

#include "bytes.h"

#include <time.h>

#define HOUR 3600000LL
#define DAY (24 * HOUR)

static nd_store *open_with(const char *dir, const nd_topic_config *defaults) {
  nd_options o = {.no_background = 1, .cleaner_threads = -1};
  o.topic_defaults = defaults;
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static nd_topic_config describe(nd_store *s, const char *name) {
  nd_topic_info info;
  memset(&info, 0, sizeof info);
  if (nd_topic_describe(s, name, &info) != 0)
    fprintf(stderr, "describe %s: %s\n", name, nd_errmsg());
  return info.config;
}

static int is_own(const nd_topic_config *c, const char *name) {
  return (c->overrides & nd_topic_config_bit(name)) != 0;
}

static nd_topic_config defaults_with(const char *k1, const char *v1,
                                     const char *k2, const char *v2) {
  nd_topic_config d;
  nd_topic_config_init(&d);
  if (k1 && nd_topic_config_set(&d, k1, v1) != 0)
    fprintf(stderr, "%s=%s: %s\n", k1, v1, nd_errmsg());
  if (k2 && nd_topic_config_set(&d, k2, v2) != 0)
    fprintf(stderr, "%s=%s: %s\n", k2, v2, nd_errmsg());
  return d;
}

static void bits(void) {
  nd_topic_config c;
  nd_topic_config_init(&c);
  CHECK_EQ_I64(c.overrides, 0);
  uint64_t r = nd_topic_config_bit("retention.ms");
  CHECK(r != 0 && (r & (r - 1)) == 0);
  CHECK(nd_topic_config_bit("segment.bytes") != r);
  CHECK_EQ_I64(nd_topic_config_bit("no.such.setting"), 0);
  CHECK_EQ_I64(nd_topic_config_bit(NULL), 0);
  /* Every setting has its own bit (Kafka's flush.* views of fsync too,
   * so a topic says which it was given), none is EXACT's. */
  uint64_t seen = 0;
  for (const char *const *n = nd_topic_config_names(); *n; n++) {
    uint64_t b = nd_topic_config_bit(*n);
    CHECK(b && !(b & ND_TOPIC_OVERRIDES_EXACT));
    CHECK(!(seen & b));
    seen |= b;
  }
  /* Setting marks, even at the default's value; a refused value does
   * not. */
  CHECK_RC(nd_topic_config_set(&c, "retention.ms", "-7"), ND_ECONFIG);
  CHECK_EQ_I64(c.overrides, 0);
  CHECK_OK(nd_topic_config_set(&c, "retention.ms", "604800000"));
  CHECK_EQ_I64(c.overrides, r);
  CHECK_OK(nd_topic_config_set(&c, "flush.ms", "250"));
  CHECK(is_own(&c, "flush.ms") && !is_own(&c, "fsync"));
  /* Unset: the value comes from the defaults given, the bit goes. */
  nd_topic_config d = defaults_with("retention.ms", "3600000", NULL, NULL);
  CHECK_OK(nd_topic_config_unset(&c, "retention.ms", &d));
  CHECK_EQ_I64(c.retention_ms, HOUR);
  CHECK(!is_own(&c, "retention.ms"));
  CHECK_OK(nd_topic_config_unset(&c, "flush.ms", NULL));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_INTERVAL);
  CHECK_EQ_I64(c.fsync_interval_ms, 1000);
  CHECK_EQ_I64(c.overrides, 0);
  CHECK_RC(nd_topic_config_unset(&c, "nope", NULL), ND_ECONFIG);
  /* One view unset while the other stays: only that view goes back. */
  CHECK_OK(nd_topic_config_set(&c, "flush.ms", "250"));
  CHECK_OK(nd_topic_config_set(&c, "flush.messages", "1"));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_ALWAYS);
  CHECK_OK(nd_topic_config_unset(&c, "flush.messages", NULL));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_INTERVAL);
  CHECK_EQ_I64(c.fsync_interval_ms, 250);
  CHECK(is_own(&c, "flush.ms") && !is_own(&c, "flush.messages"));
  CHECK_OK(nd_topic_config_set(&c, "flush.messages", "1"));
  CHECK_OK(nd_topic_config_unset(&c, "flush.ms", NULL));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_ALWAYS);
  CHECK_EQ_I64(c.fsync_interval_ms, 1000);
  /* Unsetting fsync itself takes its views with it. */
  CHECK_OK(nd_topic_config_set(&c, "flush.ms", "250"));
  CHECK_OK(nd_topic_config_unset(&c, "fsync", NULL));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_INTERVAL);
  CHECK_EQ_I64(c.fsync_interval_ms, 1000);
  CHECK_EQ_I64(c.overrides, 0);
}

/* Topics follow the store's defaults live, overrides stay. */
static void follow_live(void) {
  char *dir = tmpdir_make("tdefaults-live");
  nd_topic_config d = defaults_with("retention.ms", "86400000", NULL, NULL);
  nd_store *s = open_with(dir, &d);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "follow", 1, NULL));
  nd_topic_config c;
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "retention.ms", "3600000"));
  CHECK_OK(nd_topic_create(s, "own", 1, &c));
  /* Explicitly the default's value: an override all the same. */
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "retention.ms", "86400000"));
  CHECK_OK(nd_topic_create(s, "own-dflt", 1, &c));
  /* A field written directly, no bit: it differs from the built-in
   * default nd_topic_config_init gave, so it is the topic's own;
   * retention.ms, left at the built-in value, follows the store's. */
  nd_topic_config_init(&c);
  c.segment_bytes = 1 << 20;
  CHECK_OK(nd_topic_create(s, "direct", 1, &c));

  nd_topic_config f = describe(s, "follow");
  CHECK_EQ_I64(f.retention_ms, DAY);
  CHECK(f.overrides & ND_TOPIC_OVERRIDES_EXACT);
  CHECK_EQ_I64(f.overrides & ~ND_TOPIC_OVERRIDES_EXACT, 0);
  f = describe(s, "direct");
  CHECK_EQ_I64(f.retention_ms, DAY);
  CHECK_EQ_I64(f.segment_bytes, 1 << 20);
  CHECK(is_own(&f, "segment.bytes") && !is_own(&f, "retention.ms") &&
        !is_own(&f, "cleanup.policy"));

  nd_topic_config d2 =
      defaults_with("retention.ms", "172800000", "segment.bytes", "2097152");
  CHECK_OK(nd_store_set_topic_defaults(s, &d2));
  nd_topic_config got;
  CHECK_OK(nd_store_topic_defaults(s, &got));
  CHECK_EQ_I64(got.retention_ms, 2 * DAY);
  CHECK_EQ_I64(got.overrides, 0);
  f = describe(s, "follow");
  CHECK_EQ_I64(f.retention_ms, 2 * DAY);
  CHECK_EQ_I64(f.segment_bytes, 2097152);
  CHECK_EQ_I64(describe(s, "own").retention_ms, HOUR);
  CHECK_EQ_I64(describe(s, "own").segment_bytes, 2097152);
  CHECK_EQ_I64(describe(s, "own-dflt").retention_ms, DAY);
  CHECK_EQ_I64(describe(s, "direct").segment_bytes, 1 << 20);
  CHECK_EQ_I64(describe(s, "direct").retention_ms, 2 * DAY);
  /* New topics take them too. */
  CHECK_OK(nd_topic_create(s, "after", 1, NULL));
  CHECK_EQ_I64(describe(s, "after").retention_ms, 2 * DAY);

  /* Out-of-range defaults are refused, and nothing changes. */
  nd_topic_config oor = d2;
  oor.segment_bytes = 3;
  oor.retention_ms = 5;
  CHECK_RC(nd_store_set_topic_defaults(s, &oor), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "segment.bytes") != NULL);
  CHECK_RC(nd_store_set_topic_defaults(s, NULL), ND_EINVAL);
  CHECK_EQ_I64(describe(s, "follow").retention_ms, 2 * DAY);
  CHECK_OK(nd_store_topic_defaults(s, &got));
  CHECK_EQ_I64(got.retention_ms, 2 * DAY);

  /* An override and defaults that conflict: taken all the same, as
   * Kafka 4.4 takes them (its topic then describes min.compaction.lag.ms
   * 10 above max.compaction.lag.ms 5); the topic's next config change
   * must mend the conflict. */
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "min.compaction.lag.ms", "10"));
  CHECK_OK(nd_topic_create(s, "lags", 1, &c));
  nd_topic_config conflict = d2;
  CHECK_OK(nd_topic_config_set(&conflict, "max.compaction.lag.ms", "5"));
  CHECK_OK(nd_store_set_topic_defaults(s, &conflict));
  f = describe(s, "lags");
  CHECK_EQ_I64(f.min_compaction_lag_ms, 10);
  CHECK_EQ_I64(f.max_compaction_lag_ms, 5);
  CHECK_OK(nd_topic_config_set(&f, "retention.ms", "1000"));
  CHECK_RC(nd_topic_set_config(s, "lags", &f), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "min.compaction.lag.ms (10)") != NULL);
  CHECK_OK(nd_topic_config_set(&f, "max.compaction.lag.ms", "10"));
  CHECK_OK(nd_topic_set_config(s, "lags", &f));
  CHECK_EQ_I64(describe(s, "lags").retention_ms, 1000);
  CHECK_OK(nd_store_set_topic_defaults(s, &d2));

  /* DELETE of an override (describe, unset, set): follows again. A
   * config from nd_topic_describe is EXACT: a stale field of a followed
   * setting does not become an override. */
  c = describe(s, "own");
  CHECK_OK(nd_topic_config_unset(&c, "retention.ms", &got));
  c.segment_bytes = 999999; /* not an override: ignored */
  CHECK_OK(nd_topic_set_config(s, "own", &c));
  f = describe(s, "own");
  CHECK_EQ_I64(f.retention_ms, 2 * DAY);
  CHECK_EQ_I64(f.segment_bytes, 2097152);
  CHECK_EQ_I64(f.overrides & ~ND_TOPIC_OVERRIDES_EXACT, 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static char *conf_text(const char *dir, const char *topic) {
  char hash[65], path[PATH_MAX];
  nd_topic_dirname(topic, hash);
  snprintf(path, sizeof path, "%s/topics/%s/topic.conf", dir, hash);
  size_t len;
  return (char *)read_file(path, &len);
}

static void conf_put(const char *dir, const char *topic, const char *text) {
  char hash[65], path[PATH_MAX];
  nd_topic_dirname(topic, hash);
  snprintf(path, sizeof path, "%s/topics/%s/topic.conf", dir, hash);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

/* Overrides are kept; a reopen with other defaults moves the followers. */
static void across_reopen(void) {
  char *dir = tmpdir_make("tdefaults-reopen");
  nd_topic_config d = defaults_with("retention.ms", "86400000", NULL, NULL);
  nd_store *s = open_with(dir, &d);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "follow", 1, NULL));
  nd_topic_config c;
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "retention.ms", "86400000"));
  CHECK_OK(nd_topic_config_set(&c, "flush.messages", "1"));
  CHECK_OK(nd_topic_create(s, "own", 1, &c));
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "min.compaction.lag.ms", "10"));
  CHECK_OK(nd_topic_create(s, "lags", 1, &c));
  CHECK_OK(nd_close(s));
  char *text = conf_text(dir, "own");
  CHECK(text &&
        strstr(text, "\noverrides=retention.ms,fsync,flush.messages\n"));
  free(text);
  text = conf_text(dir, "follow");
  CHECK(text && strstr(text, "\noverrides=\n"));
  free(text);

  nd_topic_config d3 =
      defaults_with("retention.ms", "259200000", "max.compaction.lag.ms", "5");
  s = open_with(dir, &d3);
  CHECK(s);
  CHECK_EQ_I64(describe(s, "follow").retention_ms, 3 * DAY);
  CHECK_EQ_I64(describe(s, "follow").max_compaction_lag_ms, 5);
  nd_topic_config o = describe(s, "own");
  CHECK_EQ_I64(o.retention_ms, DAY);
  CHECK_EQ_I64(o.fsync, ND_FSYNC_ALWAYS);
  CHECK(is_own(&o, "retention.ms") && is_own(&o, "flush.messages") &&
        !is_own(&o, "flush.ms"));
  /* "lags" follows max.compaction.lag.ms=5 beside its own
   * min.compaction.lag.ms=10, as after a live change. */
  nd_topic_config l = describe(s, "lags");
  CHECK_EQ_I64(l.min_compaction_lag_ms, 10);
  CHECK_EQ_I64(l.max_compaction_lag_ms, 5);
  CHECK_EQ_I64(l.retention_ms, 3 * DAY);
  CHECK(is_own(&l, "min.compaction.lag.ms") &&
        !is_own(&l, "max.compaction.lag.ms"));
  CHECK_OK(nd_close(s));

  /* Out-of-range defaults: the open fails, saying so. */
  nd_topic_config oor;
  nd_topic_config_init(&oor);
  oor.max_message_bytes = -1;
  nd_options o2 = {.no_background = 1, .topic_defaults = &oor};
  CHECK_RC(nd_open(dir, &o2, &s), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "topic defaults") != NULL);
  tmpdir_remove(dir);
}

/* A topic.conf written before overrides: what differs from the built-in
 * defaults is the topic's own (the defaults of its day included), the rest
 * follows the store's defaults. */
static void legacy_conf(void) {
  char *dir = tmpdir_make("tdefaults-legacy");
  nd_store *s = open_with(dir, NULL);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "old", 1, NULL));
  nd_topic_info info;
  CHECK_OK(nd_topic_describe(s, "old", &info));
  CHECK_OK(nd_close(s));
  char uuid[37];
  static const char hex[] = "0123456789abcdef";
  for (int i = 0, o = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      uuid[o++] = '-';
    uuid[o++] = hex[info.id[i] >> 4];
    uuid[o++] = hex[info.id[i] & 15];
    uuid[o] = 0;
  }
  char text[512];
  snprintf(text, sizeof text,
           "# nodata topic\nname=old\nid=%s\npartitions=1\n"
           "retention.ms=604800000\nsegment.bytes=1048576\n"
           "cleanup.policy=delete\n",
           uuid);
  conf_put(dir, "old", text);
  nd_topic_config d =
      defaults_with("retention.ms", "86400000", "segment.bytes", "2097152");
  s = open_with(dir, &d);
  CHECK(s);
  nd_topic_config c = describe(s, "old");
  CHECK_EQ_I64(c.retention_ms, DAY);
  CHECK_EQ_I64(c.segment_bytes, 1048576);
  CHECK(is_own(&c, "segment.bytes") && !is_own(&c, "retention.ms") &&
        !is_own(&c, "cleanup.policy"));
  /* The next write says so in the file. */
  CHECK_OK(nd_topic_set_config(s, "old", &c));
  CHECK_OK(nd_close(s));
  char *t = conf_text(dir, "old");
  CHECK(t && strstr(t, "\noverrides=segment.bytes\n"));
  free(t);
  /* An overrides line naming an unknown setting: that topic is offline,
   * named, the store opens. */
  snprintf(text, sizeof text,
           "# nodata topic\nname=old\nid=%s\npartitions=1\n"
           "overrides=retention.ms,no.such\n",
           uuid);
  conf_put(dir, "old", text);
  s = open_with(dir, NULL);
  CHECK(s);
  CHECK_OK(nd_topic_describe(s, "old", &info));
  CHECK(info.offline);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The defaults' effect, not only their description: retention.ms of the
 * store's defaults deletes a follower's old segments once lowered. */
static void retention_follows(void) {
  char *dir = tmpdir_make("tdefaults-retention");
  nd_topic_config d = defaults_with("segment.bytes", "14", NULL, NULL);
  nd_store *s = open_with(dir, &d);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  nd_topic_config c;
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "retention.ms", "-1"));
  CHECK_OK(nd_topic_create(s, "keep", 1, &c));
  int64_t now = (int64_t)time(NULL) * 1000;
  for (int i = 0; i < 4; i++) {
    nd_record r = {"k", 1, "value", 5, NULL, 0, now - 10 * HOUR + i};
    CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
    CHECK_OK(nd_append(s, "keep", 0, &r, 1, 0, NULL));
  }
  CHECK_OK(nd_maintain(s, now));
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK_EQ_I64(pi.log_start_offset, 0);
  nd_topic_config d2 =
      defaults_with("segment.bytes", "14", "retention.ms", "3600000");
  CHECK_OK(nd_store_set_topic_defaults(s, &d2));
  CHECK_OK(nd_maintain(s, now));
  CHECK_OK(nd_partition_describe(s, "t", 0, &pi));
  CHECK(pi.log_start_offset >= 3); /* sealed segments only */
  CHECK_OK(nd_partition_describe(s, "keep", 0, &pi));
  CHECK_EQ_I64(pi.log_start_offset, 0);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(bits);
  RUN(follow_live);
  RUN(across_reopen);
  RUN(legacy_conf);
  RUN(retention_follows);
  TEST_MAIN_END();
}
