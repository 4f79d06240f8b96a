/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_configs.c — configs: the topic configs CreateTopics and the
 * alter calls accept, DescribeConfigs, AlterConfigs and
 * IncrementalAlterConfigs.
 *
 * Topic configs are libnodata's own (nd_topic_config_names). A few Kafka
 * settings that cannot change anything on one node are accepted at their
 * only meaningful value and shown read-only by DescribeConfigs
 * (`kafka_fixed_configs`), so tools that always send them keep working; any
 * other name or value is INVALID_CONFIG with the library's message.
 *
 * BROKER and GROUP resources are dynconfig.c's (dynamic broker configs,
 * group configs); a resource named twice in one request is INVALID_REQUEST
 * for both, as Kafka answers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "logline.h"

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_BROKER_LOGGER = 8, RES_GROUP = 32 };

/* ---- topic configs ------------------------------------------------------ */

const kafka_fixed_config kafka_fixed_configs[] = {
    {"min.insync.replicas", "1"},
    {"unclean.leader.election.enable", "false"},
    {NULL, NULL},
};

static const kafka_fixed_config *find_fixed(const char *name) {
  for (const kafka_fixed_config *f = kafka_fixed_configs; f->name; f++)
    if (strcmp(f->name, name) == 0)
      return f;
  return NULL;
}

int16_t kafka_apply_config(kafka_req *r, nd_topic_config *cfg, kf_str name,
                           kf_str value, kf_str *msg) {
  if (!kafka_cstr_ok(name)) {
    *msg = kafka_str(r, "config name is null");
    return KERR_INVALID_CONFIG;
  }
  if (value.len < 0)
    return 0; /* null: keep the default */
  const kafka_fixed_config *f = find_fixed(name.ptr);
  if (f) {
    if (strcmp(name.ptr, "unclean.leader.election.enable") == 0 ||
        (kafka_cstr_ok(value) && strcmp(value.ptr, f->value) == 0))
      return 0;
    char buf[256];
    snprintf(buf, sizeof buf,
             "%s=%s is not supported: a single node only "
             "has %s",
             name.ptr, value.ptr ? value.ptr : "", f->value);
    *msg = kafka_str(r, buf);
    return KERR_INVALID_CONFIG;
  }
  if (!kafka_cstr_ok(value) ||
      nd_topic_config_set(cfg, name.ptr, value.ptr) != 0) {
    *msg = kafka_errmsg(r);
    return KERR_INVALID_CONFIG;
  }
  return kafka_check_segment_bytes(r, name.ptr, value.ptr, msg);
}

int16_t kafka_check_segment_bytes(kafka_req *r, const char *name,
                                  const char *value, kf_str *msg) {
  if (strcmp(name, "segment.bytes") && strcmp(name, "log.segment.bytes"))
    return 0;
  /* The library allows segments down to 14 bytes (embedders' tests); over
   * the network Kafka's minimum holds, in Kafka's words. */
  int32_t least = r->b->cfg.min_segment_bytes;
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  if (errno || end == value || *end || v >= least)
    return 0; /* unparsable values were refused already */
  char buf[256];
  snprintf(buf, sizeof buf,
           "Invalid value %s for configuration %s: Value must be at least "
           "%" PRId32,
           value, name, least);
  *msg = kafka_str(r, buf);
  return KERR_INVALID_CONFIG;
}

/* ---- DescribeConfigs ---------------------------------------------------- */

int kafka_topic_config_own(const nd_topic_config *cfg, const char *name) {
  if (cfg->overrides & nd_topic_config_bit(name))
    return 1;
  /* Kafka's flush.* views of nodata's own fsync: set on the topic when
   * fsync is and shows through them (fsync=always is flush.messages=1). */
  if (strncmp(name, "flush.", 6) ||
      !(cfg->overrides & nd_topic_config_bit("fsync")))
    return 0;
  nd_topic_config builtin;
  nd_topic_config_init(&builtin);
  char v[64], d[64];
  return nd_topic_config_get(cfg, name, v, sizeof v) == 0 &&
         nd_topic_config_get(&builtin, name, d, sizeof d) == 0 && strcmp(v, d);
}

enum {
  SRC_TOPIC = 1,
  SRC_DEFAULT = 5,
};
enum {
  CT_BOOLEAN = 1,
  CT_STRING = 2,
  CT_INT = 3,
  CT_LONG = 5,
  CT_DOUBLE = 6,
  CT_LIST = 7
};

typedef kafka_describe_configs_response_resource_result dc_entry;

int kafka_config_wanted(const kafka_describe_configs_request_resource *q,
                        const char *name) {
  if (q->configuration_keys.count < 0)
    return 1;
  for (int32_t i = 0; i < q->configuration_keys.count; i++) {
    kf_str k = q->configuration_keys.items[i];
    if (kafka_cstr_ok(k) && strcmp(k.ptr, name) == 0)
      return 1;
  }
  return 0;
}

/* Kafka's ConfigType of a topic config (LogConfig's definitions), which
 * clients show and may parse by; other names are guessed from the value. */
static const struct {
  const char *name;
  int type;
} topic_config_types[] = {
    {"segment.bytes", CT_INT},
    {"segment.ms", CT_LONG},
    {"segment.index.bytes", CT_INT},
    {"retention.ms", CT_LONG},
    {"retention.bytes", CT_LONG},
    {"max.message.bytes", CT_INT},
    {"index.interval.bytes", CT_INT},
    {"message.timestamp.type", CT_STRING},
    {"compression.type", CT_STRING},
    {"compression.gzip.level", CT_INT},
    {"compression.lz4.level", CT_INT},
    {"compression.zstd.level", CT_INT},
    {"flush.messages", CT_LONG},
    {"flush.ms", CT_LONG},
    {"delete.retention.ms", CT_LONG},
    {"message.timestamp.before.max.ms", CT_LONG},
    {"message.timestamp.after.max.ms", CT_LONG},
    {"cleanup.policy", CT_LIST},
    {"min.cleanable.dirty.ratio", CT_DOUBLE},
    {"min.compaction.lag.ms", CT_LONG},
    {"max.compaction.lag.ms", CT_LONG},
    {"min.insync.replicas", CT_INT},
    {"unclean.leader.election.enable", CT_BOOLEAN},
    {"fsync", CT_STRING}, /* nodata's own */
};

static int config_type(const char *name, const char *value) {
  for (size_t i = 0;
       i < sizeof topic_config_types / sizeof topic_config_types[0]; i++)
    if (strcmp(topic_config_types[i].name, name) == 0)
      return topic_config_types[i].type;
  if (!*value)
    return CT_STRING;
  char *end;
  strtoll(value, &end, 10);
  if (*end)
    return strcmp(value, "true") == 0 || strcmp(value, "false") == 0
               ? CT_BOOLEAN
               : CT_STRING;
  return CT_LONG;
}

/* The broker config behind each topic config, as Kafka 4.4 names it in
 * the synonyms of a topic config (LogConfig's synonyms): listed at its
 * default after the topic's own override. "" where Kafka lists none (its
 * broker configs there have no default: log.retention.ms, log.roll.ms,
 * log.flush.interval.ms). A config not here (nodata's `fsync`) is its own
 * one synonym. */
static const struct {
  const char *topic, *broker;
} broker_synonyms[] = {
    {"cleanup.policy", "log.cleanup.policy"},
    {"compression.type", "compression.type"},
    {"compression.gzip.level", "compression.gzip.level"},
    {"compression.lz4.level", "compression.lz4.level"},
    {"compression.zstd.level", "compression.zstd.level"},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms"},
    {"flush.messages", "log.flush.interval.messages"},
    {"flush.ms", ""},
    {"index.interval.bytes", "log.index.interval.bytes"},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"},
    {"max.message.bytes", "message.max.bytes"},
    {"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms"},
    {"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms"},
    {"message.timestamp.type", "log.message.timestamp.type"},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"},
    {"min.insync.replicas", "min.insync.replicas"},
    {"retention.bytes", "log.retention.bytes"},
    {"retention.ms", ""},
    {"segment.bytes", "log.segment.bytes"},
    {"segment.index.bytes", "log.index.size.max.bytes"},
    {"segment.ms", ""},
    {"unclean.leader.election.enable", "unclean.leader.election.enable"},
};

/* retention.ms and segment.ms: Kafka lists the hours config behind them
 * at its default (168) after a level that sets the ms one, and nothing
 * when none does. */
static const char *hours_synonym(const char *topic_config) {
  if (!strcmp(topic_config, "retention.ms"))
    return "log.retention.hours";
  if (!strcmp(topic_config, "segment.ms"))
    return "log.roll.hours";
  return NULL;
}

static const char *broker_synonym(const char *topic_config) {
  for (size_t i = 0; i < sizeof broker_synonyms / sizeof broker_synonyms[0];
       i++)
    if (strcmp(broker_synonyms[i].topic, topic_config) == 0)
      return broker_synonyms[i].broker;
  return NULL;
}

/* One entry. dvalue is the built-in default (the broker synonym's
 * value); levels (nlevels of them, highest first) are the broker config
 * behind it where set (dynconfig_topic_levels); own says the topic
 * overrides it. Its source is the highest of those. */
static void set_entry(kafka_req *r, const kafka_describe_configs_request *req,
                      dc_entry *e, const char *name, const char *value,
                      const char *dvalue, int own, int nlevels,
                      const char *const *lnames, const char *const *lvalues,
                      const int *lsources, int read_only) {
  int source = own ? SRC_TOPIC : nlevels ? lsources[0] : SRC_DEFAULT;
  e->name = kf_s(name);
  e->value = kafka_str(r, value);
  e->read_only = (uint8_t)read_only;
  e->config_source = (int8_t)source;
  e->is_sensitive = 0;
  e->config_type = (int8_t)config_type(name, value);
  e->documentation = kf_null_str();
  if (!req->include_synonyms)
    return;
  kafka_describe_configs_response_synonym *s =
      kf_new_array(&r->arena, &kafka_describe_configs_response_synonym_desc, 5);
  if (!s)
    return;
  const char *bname = broker_synonym(name);
  int32_t n = 0;
  if (own || !bname) {
    s[n].name = e->name;
    s[n].value = e->value;
    s[n++].source = (int8_t)(own ? SRC_TOPIC : source);
  }
  for (int i = 0; bname && i < nlevels && i < 3; i++) {
    s[n].name = kf_s(lnames[i]);
    s[n].value = kafka_str(r, lvalues[i]);
    s[n++].source = (int8_t)lsources[i];
  }
  const char *hours = hours_synonym(name);
  if (bname && *bname) {
    s[n].name = kf_s(bname);
    s[n].value = kafka_str(r, dvalue);
    s[n++].source = SRC_DEFAULT;
  } else if (hours && nlevels) {
    s[n].name = kf_s(hours);
    s[n].value = kf_s("168");
    s[n++].source = SRC_DEFAULT;
  }
  e->synonyms.items = s;
  e->synonyms.count = n;
}

static int describe_topic(kafka_req *r,
                          const kafka_describe_configs_request *req,
                          const kafka_describe_configs_request_resource *q,
                          kafka_describe_configs_response_result *res) {
  nd_topic_info info;
  const char *name = q->resource_name.ptr;
  /* Kafka's topic results carry "" when nothing is wrong (the field's
   * default), and for an unknown topic too. */
  res->error_message = kafka_str(r, "");
  /* Kafka checks the name first: a bad one is not merely unknown. */
  kf_str why = kafka_topic_name_error(r, name);
  if (why.ptr) {
    res->error_code = KERR_INVALID_TOPIC_EXCEPTION;
    res->error_message = why;
    return 0;
  }
  int rc = nd_topic_describe(r->b->store, name, &info);
  if (rc != 0) {
    res->error_code = kafka_err(rc);
    /* Kafka's answer for an unknown topic has an empty message. */
    if (rc != ND_ENOTOPIC)
      res->error_message = kafka_errmsg(r);
    return 0;
  }
  const char *const *names = nd_topic_config_names();
  int32_t n = 0, cap = 0;
  while (names[cap])
    cap++;
  int32_t nfixed =
      (int32_t)(sizeof kafka_fixed_configs / sizeof kafka_fixed_configs[0]) - 1;
  cap += nfixed;
  dc_entry *es = kf_new_array(
      &r->arena, &kafka_describe_configs_response_resource_result_desc, cap);
  if (!es)
    return -1;
  nd_topic_config defaults;
  nd_topic_config_init(&defaults);
  for (int32_t i = 0; names[i]; i++) {
    if (!kafka_config_wanted(q, names[i]))
      continue;
    char val[128], dval[128];
    if (nd_topic_config_get(&info.config, names[i], val, sizeof val) != 0)
      continue;
    if (nd_topic_config_get(&defaults, names[i], dval, sizeof dval) != 0)
      dval[0] = 0;
    const char *ln[3], *lv[3];
    int ls[3];
    int nl = dynconfig_topic_levels(r->b, names[i], ln, lv, ls);
    set_entry(r, req, &es[n++], names[i], val, dval,
              kafka_topic_config_own(&info.config, names[i]), nl, ln, lv, ls,
              0);
  }
  for (int32_t i = 0; i < nfixed; i++)
    if (kafka_config_wanted(q, kafka_fixed_configs[i].name))
      set_entry(r, req, &es[n++], kafka_fixed_configs[i].name,
                kafka_fixed_configs[i].value, kafka_fixed_configs[i].value, 0,
                0, NULL, NULL, NULL, 1);
  res->configs.items = es;
  res->configs.count = n;
  return 0;
}

/* With ACLs: the config operation `op` (DESCRIBE_CONFIGS, ALTER_CONFIGS)
 * on a config resource, as Kafka's AuthHelper maps them: a topic's on
 * the topic, a group's on the group, the broker's and its loggers' on the
 * cluster. 0, or the error to answer for the resource. */
static int16_t config_denied(kafka_req *r, int8_t type, kf_str name, int op) {
  if (!kafka_authz_on(r))
    return 0;
  switch (type) {
  case RES_TOPIC:
    return kafka_authorize_str(r, ACL_RES_TOPIC, name, op)
               ? 0
               : KERR_TOPIC_AUTHORIZATION_FAILED;
  case RES_GROUP:
    return kafka_authorize_str(r, ACL_RES_GROUP, name, op)
               ? 0
               : KERR_GROUP_AUTHORIZATION_FAILED;
  default:
    return kafka_authorize_cluster(r, op) ? 0
                                          : KERR_CLUSTER_AUTHORIZATION_FAILED;
  }
}

int handle_describe_configs(kafka_req *r) {
  kafka_describe_configs_request *req = r->body;
  kafka_describe_configs_response *resp =
      kf_new(&r->arena, &kafka_describe_configs_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->resources.count > 0 ? req->resources.count : 0;
  kafka_describe_configs_response_result *rs =
      kf_new_array(&r->arena, &kafka_describe_configs_response_result_desc, n);
  if (n && !rs)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kafka_describe_configs_request_resource *q = &req->resources.items[i];
    kafka_describe_configs_response_result *res = &rs[i];
    res->resource_type = q->resource_type;
    res->resource_name = q->resource_name;
    res->error_message = kf_null_str();
    int16_t denied = config_denied(r, q->resource_type, q->resource_name,
                                   ACL_OP_DESCRIBE_CONFIGS);
    if (denied) {
      /* Kafka answers its error's own text and no configs. */
      res->error_code = denied;
      res->error_message = kf_s(kafka_err_text(denied));
      res->configs.count = 0;
      continue;
    }
    if (!kafka_cstr_ok(q->resource_name)) {
      res->error_code = KERR_INVALID_REQUEST;
      continue;
    }
    int rc = 0;
    if (q->resource_type == RES_TOPIC) {
      rc = describe_topic(r, req, q, res);
    } else if (q->resource_type == RES_BROKER ||
               q->resource_type == RES_GROUP) {
      rc = dynconfig_describe(r, req, q, res);
    } else if (q->resource_type == RES_BROKER_LOGGER) {
      res->configs.count = 0;
    } else {
      res->error_code = KERR_INVALID_REQUEST;
      res->error_message = kafka_str(r, "unsupported resource type");
    }
    if (rc < 0)
      return -1;
  }
  resp->results.items = rs;
  resp->results.count = n;
  kafka_respond(r, resp);
  return 0;
}

/* ---- AlterConfigs / IncrementalAlterConfigs ----------------------------- */

/* Set one config in cfg; Kafka settings that have a single possible value
 * here are accepted at it (kafka_fixed_configs, above). */
static int16_t set_one(kafka_req *r, nd_topic_config *cfg,
                       const nd_topic_config *defaults, kf_str name,
                       kf_str value, kf_str *msg) {
  if (!kafka_cstr_ok(name)) {
    *msg = kafka_str(r, "config name is null");
    return KERR_INVALID_CONFIG;
  }
  if (value.len < 0) {
    /* null: the topic follows the broker's default (log.* configs) again */
    if (nd_topic_config_unset(cfg, name.ptr, defaults) != 0) {
      *msg = kafka_errmsg(r);
      return KERR_INVALID_CONFIG;
    }
    return 0;
  }
  return kafka_apply_config(r, cfg, name, value, msg);
}

/* IncrementalAlterConfigs' APPEND and SUBTRACT, as Kafka's
 * (ConfigAdminManager): only on a LIST config; they apply to the current
 * effective value (the default when the topic has no override), APPEND
 * adding the items not there yet, in order, SUBTRACT removing those
 * named (unknown ones are ignored). The result is validated as a SET. */
static int16_t list_op(kafka_req *r, nd_topic_config *cfg, kf_str name,
                       kf_str value, int append, kf_str *msg) {
  char buf[256];
  if (!kafka_cstr_ok(name)) {
    *msg = kafka_str(r, "config name is null");
    return KERR_INVALID_CONFIG;
  }
  if (config_type(name.ptr, "") != CT_LIST) {
    snprintf(buf, sizeof buf,
             "Can't %s to key %s because its type is not LIST.",
             append ? "APPEND" : "SUBTRACT", name.ptr);
    *msg = kafka_str(r, buf);
    return KERR_INVALID_CONFIG;
  }
  char cur[128];
  if (nd_topic_config_get(cfg, name.ptr, cur, sizeof cur) != 0) {
    *msg = kafka_errmsg(r);
    return KERR_INVALID_CONFIG;
  }
  const char *out =
      kafka_list_op(r, cur, kafka_cstr_ok(value) ? value.ptr : "", append);
  if (!out) {
    *msg = kafka_str(r, "out of memory");
    return KERR_UNKNOWN_SERVER_ERROR;
  }
  return kafka_apply_config(r, cfg, name, kf_s(out), msg);
}

static int16_t alter_topic(kafka_req *r, const nd_topic_config *defaults,
                           const char *topic, int incremental,
                           const void *configs, int32_t n, int validate,
                           kf_str *msg) {
  nd_topic_info info;
  int rc = nd_topic_describe(r->b->store, topic, &info);
  if (rc != 0) {
    *msg = kafka_errmsg(r);
    return kafka_err(rc);
  }
  nd_topic_config cfg;
  if (incremental) {
    cfg = info.config;
    const kafka_incremental_alter_configs_request_alterable_config *cs =
        configs;
    for (int32_t i = 0; i < n; i++) {
      int16_t err;
      switch (cs[i].config_operation) {
      case 0: /* SET */
        err = set_one(r, &cfg, defaults, cs[i].name, cs[i].value, msg);
        break;
      case 1: /* DELETE: back to the default */
        err = set_one(r, &cfg, defaults, cs[i].name, kf_null_str(), msg);
        break;
      case 2: /* APPEND */
      case 3: /* SUBTRACT */
        err = list_op(r, &cfg, cs[i].name, cs[i].value,
                      cs[i].config_operation == 2, msg);
        break;
      default:
        *msg = kafka_str(r, "unknown config operation");
        err = KERR_INVALID_REQUEST;
      }
      if (err)
        return err;
    }
  } else {
    /* AlterConfigs replaces the whole set of overrides: what is not named
     * follows the broker's defaults. */
    cfg = *defaults;
    cfg.overrides = ND_TOPIC_OVERRIDES_EXACT;
    const kafka_alter_configs_request_alterable_config *cs = configs;
    for (int32_t i = 0; i < n; i++) {
      int16_t err = set_one(r, &cfg, defaults, cs[i].name, cs[i].value, msg);
      if (err)
        return err;
    }
  }
  if (validate)
    return 0;
  rc = nd_topic_set_config(r->b->store, topic, &cfg);
  if (rc != 0) {
    *msg = kafka_errmsg(r);
    return kafka_err(rc);
  }
  /* What changed, old -> new, so the line alone tells the story. */
  char changes[400] = "";
  size_t cl = 0;
  const char *const *names = nd_topic_config_names();
  for (size_t k = 0; names[k] && cl < sizeof changes; k++) {
    char was[128], now[128];
    if (nd_topic_config_get(&info.config, names[k], was, sizeof was) != 0 ||
        nd_topic_config_get(&cfg, names[k], now, sizeof now) != 0 ||
        !strcmp(was, now))
      continue;
    int w = snprintf(changes + cl, sizeof changes - cl, "%s%s %s -> %s",
                     cl ? ", " : "", names[k], was, now);
    cl += w > 0 ? (size_t)w : 0;
  }
  kafka_log_topic(r, BLOG_INFO, topic, "topic %s: config changed: %s", topic,
                  cl ? changes : "no value differs");
  return 0;
}

static int same_resource(int8_t t1, kf_str n1, int8_t t2, kf_str n2) {
  return t1 == t2 && n1.len == n2.len &&
         (n1.len <= 0 || !memcmp(n1.ptr, n2.ptr, (size_t)n1.len));
}

/* Does an IncrementalAlterConfigs resource name one config twice? n is
 * small (a resource has a few dozen configs at most): quadratic is fine. */
static int dup_names(const void *configs, int32_t n) {
  const kafka_incremental_alter_configs_request_alterable_config *cs = configs;
  for (int32_t i = 0; i < n; i++)
    for (int32_t j = 0; j < i; j++)
      if (cs[i].name.len == cs[j].name.len &&
          (cs[i].name.len <= 0 ||
           !memcmp(cs[i].name.ptr, cs[j].name.ptr, (size_t)cs[i].name.len)))
        return 1;
  return 0;
}

/* One resource of AlterConfigs (incremental 0) or IncrementalAlterConfigs
 * (1); `twice` when the request names it more than once. */
static int16_t alter_resource(kafka_req *r, const nd_topic_config *defaults,
                              int8_t type, kf_str name, int incremental,
                              const void *configs, int32_t n, int validate,
                              int twice, kf_str *msg) {
  if (n < 0)
    n = 0;
  if (twice) {
    *msg = kafka_str(r, "Each resource must appear at most once.");
    return KERR_INVALID_REQUEST;
  }
  if (incremental && dup_names(configs, n)) {
    /* Kafka's ConfigAdminManager refuses the whole resource before any
     * change (a SET and a DELETE of one name: which would win?), with
     * this message (test_console_vs_kafka). */
    *msg = kafka_str(r, "Error due to duplicate config keys");
    return KERR_INVALID_REQUEST;
  }
  if (type == RES_BROKER || type == RES_GROUP)
    return dynconfig_alter(r, type, name, incremental, configs, n, validate,
                           msg);
  if (type != RES_TOPIC || !kafka_cstr_ok(name))
    return KERR_INVALID_REQUEST;
  return alter_topic(r, defaults, name.ptr, incremental, configs, n, validate,
                     msg);
}

/* A request with only topic resources is handled on the worker's admin lane:
 * changing a topic's config takes the store's admin lock, which a
 * creation of many partitions holds for seconds, and the event loop must
 * not wait for it. Broker and group resources change state the loop owns
 * (connection caps, group settings), so such requests stay on the loop;
 * they are quick unless they also name a topic. */
typedef void alter_fill(kafka_req *r, void *resp,
                        const nd_topic_config *defaults);

typedef struct alter_job {
  kafka_req *r;
  void *resp;
  alter_fill *fill;
  nd_topic_config defaults; /* copied on the loop, which may change them */
} alter_job;

static void alter_run(void *arg) {
  alter_job *j = arg;
  j->fill(j->r, j->resp, &j->defaults);
}

static int alter_answer(kafka_req *r, void *arg) {
  alter_job *j = arg;
  kafka_respond(r, j->resp);
  return 0;
}

static void alter_done(void *arg) {
  alter_job *j = arg;
  kafka_answer_parked(j->r, alter_answer, j);
}

static int alter_dispatch(kafka_req *r, void *resp, int only_topics,
                          alter_fill *fill) {
  if (!only_topics) {
    fill(r, resp, kafka_topic_defaults(r->b));
    kafka_respond(r, resp);
    return 0;
  }
  alter_job *j = kf_alloc(&r->arena, sizeof *j);
  if (!j)
    return -1;
  *j = (alter_job){.r = r,
                   .resp = resp,
                   .fill = fill,
                   .defaults = *kafka_topic_defaults(r->b)};
  return kafka_run_on_worker(r, alter_run, alter_done, j);
}

static void fill_alter(kafka_req *r, void *out,
                       const nd_topic_config *defaults) {
  kafka_alter_configs_request *req = r->body;
  kafka_alter_configs_response *resp = out;
  int32_t n = resp->responses.count;
  kafka_alter_configs_response_resource_response *rs = resp->responses.items;
  for (int32_t i = 0; i < n; i++) {
    kafka_alter_configs_request_resource *q = &req->resources.items[i];
    int twice = 0;
    for (int32_t j = 0; j < n; j++)
      twice |= j != i && same_resource(q->resource_type, q->resource_name,
                                       req->resources.items[j].resource_type,
                                       req->resources.items[j].resource_name);
    if (rs[i].error_code) /* denied, on the loop */
      continue;
    rs[i].error_code = alter_resource(
        r, defaults, q->resource_type, q->resource_name, 0, q->configs.items,
        q->configs.count, req->validate_only, twice, &rs[i].error_message);
  }
}

int handle_alter_configs(kafka_req *r) {
  kafka_alter_configs_request *req = r->body;
  kafka_alter_configs_response *resp =
      kf_new(&r->arena, &kafka_alter_configs_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->resources.count > 0 ? req->resources.count : 0;
  kafka_alter_configs_response_resource_response *rs = kf_new_array(
      &r->arena, &kafka_alter_configs_response_resource_response_desc, n);
  if (n && !rs)
    return -1;
  int only_topics = 1;
  for (int32_t i = 0; i < n; i++) {
    kafka_alter_configs_request_resource *q = &req->resources.items[i];
    rs[i].resource_type = q->resource_type;
    rs[i].resource_name = q->resource_name;
    rs[i].error_message = kf_null_str();
    /* Decided here, on the loop: the fill may run on the worker. */
    rs[i].error_code = config_denied(r, q->resource_type, q->resource_name,
                                     ACL_OP_ALTER_CONFIGS);
    only_topics &= q->resource_type == RES_TOPIC;
  }
  resp->responses.items = rs;
  resp->responses.count = n;
  return alter_dispatch(r, resp, only_topics && !req->validate_only,
                        fill_alter);
}

static void fill_incremental(kafka_req *r, void *out,
                             const nd_topic_config *defaults) {
  kafka_incremental_alter_configs_request *req = r->body;
  kafka_incremental_alter_configs_response *resp = out;
  int32_t n = resp->responses.count;
  kafka_incremental_alter_configs_response_alter_configs_resource_response *rs =
      resp->responses.items;
  for (int32_t i = 0; i < n; i++) {
    kafka_incremental_alter_configs_request_alter_configs_resource *q =
        &req->resources.items[i];
    int twice = 0;
    for (int32_t j = 0; j < n; j++)
      twice |= j != i && same_resource(q->resource_type, q->resource_name,
                                       req->resources.items[j].resource_type,
                                       req->resources.items[j].resource_name);
    if (rs[i].error_code) /* denied, on the loop */
      continue;
    rs[i].error_code = alter_resource(
        r, defaults, q->resource_type, q->resource_name, 1, q->configs.items,
        q->configs.count, req->validate_only, twice, &rs[i].error_message);
  }
}

int handle_incremental_alter_configs(kafka_req *r) {
  kafka_incremental_alter_configs_request *req = r->body;
  kafka_incremental_alter_configs_response *resp =
      kf_new(&r->arena, &kafka_incremental_alter_configs_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->resources.count > 0 ? req->resources.count : 0;
  kafka_incremental_alter_configs_response_alter_configs_resource_response *rs =
      kf_new_array(
          &r->arena,
          &kafka_incremental_alter_configs_response_alter_configs_resource_response_desc,
          n);
  if (n && !rs)
    return -1;
  int only_topics = 1;
  for (int32_t i = 0; i < n; i++) {
    kafka_incremental_alter_configs_request_alter_configs_resource *q =
        &req->resources.items[i];
    rs[i].resource_type = q->resource_type;
    rs[i].resource_name = q->resource_name;
    rs[i].error_message = kf_null_str();
    /* Decided here, on the loop: the fill may run on the worker. */
    rs[i].error_code = config_denied(r, q->resource_type, q->resource_name,
                                     ACL_OP_ALTER_CONFIGS);
    only_topics &= q->resource_type == RES_TOPIC;
  }
  resp->responses.items = rs;
  resp->responses.count = n;
  return alter_dispatch(r, resp, only_topics && !req->validate_only,
                        fill_incremental);
}
