/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_topics.c — the /api/topics calls (docs/http-api.md): list,
 * create, describe, delete, alter configs, add partitions.
 *
 * Every figure comes from Kafka requests as the caller (console.h), a
 * fixed number per call whatever the number of topics, so the list of
 * 1,000 topics is five round trips:
 *   Metadata (all topics)             names, ids, partitions
 *   DescribeConfigs (one request, every topic, three keys)
 *                                     cleanup.policy, retention.*
 *   ListOffsets earliest, then latest (one request each, every
 *   partition)                        records = high watermark - log start
 *   DescribeLogDirs (all)             sizes
 * plus the sampler's produce rate (console_history.c). A describe adds
 * ListOffsets read_committed for the last stable offsets and asks
 * DescribeConfigs for every config with its documentation.
 *
 * A figure Kafka refuses (DescribeLogDirs needs DESCRIBE on the
 * cluster; a partition's offsets may be unavailable) is null in the
 * answer, not an error: the rest of the row is still true. Changes
 * (CreateTopics, DeleteTopics, IncrementalAlterConfigs,
 * CreatePartitions) answer Kafka's error by name.
 *
 * API versions: those nodata and Apache Kafka 4.x both serve.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "kafka_msgs.h"

enum {
  V_METADATA = 12,
  V_DESCRIBE_CONFIGS = 4,
  V_LIST_OFFSETS = 8,
  V_DESCRIBE_LOG_DIRS = 4,
  V_CREATE_TOPICS = 7,
  V_DELETE_TOPICS = 6,
  V_INCREMENTAL_ALTER_CONFIGS = 1,
  V_CREATE_PARTITIONS = 3,
};

/* What changes wait for in the broker (CreateTopics' timeout_ms...):
 * under the console's own CK_TIMEOUT_MS, so Kafka answers first. */
#define CHANGE_TIMEOUT_MS 5000
#define RESOURCE_TOPIC 2

/* One topic being described: Metadata's entry and what the other
 * requests said of it (-1: unknown). The arrays are by partition index,
 * in the call's arena. */
typedef struct trow {
  const kafka_metadata_response_topic *md;
  const char *name;
  int32_t np; /* slots in the arrays: highest partition index + 1 */
  int64_t *start, *hw, *lso, *size;
  const kafka_describe_configs_response_result *cfg; /* NULL: refused */
} trow;

static int row_cmp(const void *a, const void *b) {
  return strcmp(((const trow *)a)->name, ((const trow *)b)->name);
}

static trow *row_find(trow *rows, size_t n, kf_str name) {
  if (!name.ptr || name.len < 0)
    return NULL;
  trow key = {.name = name.ptr};
  return bsearch(&key, rows, n, sizeof *rows, row_cmp);
}

static int64_t *slot(int64_t *arr, const trow *r, int32_t p) {
  return p >= 0 && p < r->np ? &arr[p] : NULL;
}

/* ListOffsets of every partition of rows at `timestamp` (-2 earliest, -1
 * latest) and isolation level into dst (which of start/hw/lso, by
 * offset in trow). -1 when the call failed (answered). */
static int list_offsets(console_call *cc, trow *rows, size_t n,
                        int64_t timestamp, int8_t isolation, size_t field) {
  kafka_list_offsets_request *rq = console_new_req(cc, 2 /* ListOffsets */);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->isolation_level = isolation;
  rq->topics.items = kf_new_array(
      &cc->arena, &kafka_list_offsets_request_topic_desc, (int32_t)n);
  if (!rq->topics.items)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.count = (int32_t)n;
  for (size_t i = 0; i < n; i++) {
    kafka_list_offsets_request_topic *t = &rq->topics.items[i];
    int32_t np = rows[i].md->partitions.count;
    t->name = kf_s(rows[i].name);
    t->partitions.items = kf_new_array(
        &cc->arena, &kafka_list_offsets_request_partition_desc, np);
    if (np && !t->partitions.items)
      return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
    t->partitions.count = np;
    for (int32_t p = 0; p < np; p++) {
      t->partitions.items[p].partition_index =
          rows[i].md->partitions.items[p].partition_index;
      t->partitions.items[p].timestamp = timestamp;
    }
  }
  kafka_list_offsets_response *r;
  if (console_kafka(cc, 2, V_LIST_OFFSETS, rq, (void **)&r) < 0)
    return -1;
  for (int32_t i = 0; i < r->topics.count; i++) {
    trow *row = row_find(rows, n, r->topics.items[i].name);
    if (!row)
      continue;
    int64_t *arr = *(int64_t **)((char *)row + field);
    for (int32_t j = 0; j < r->topics.items[i].partitions.count; j++) {
      const kafka_list_offsets_response_partition_response *p =
          &r->topics.items[i].partitions.items[j];
      int64_t *s = slot(arr, row, p->partition_index);
      if (s && p->error_code == 0 && p->offset >= 0)
        *s = p->offset;
    }
  }
  return 0;
}

/* Describe the topics: `one` (a name) or all the caller may describe.
 * detail: every config with documentation and the last stable offsets.
 * 0 with *rows sorted by name; -1 answered (one's Metadata error, as
 * Kafka's error: 404 for a topic that does not exist). */
static int gather(console_call *cc, const char *one, int detail, trow **rows,
                  size_t *nrows) {
  *rows = NULL;
  *nrows = 0;
  kafka_metadata_request *mq = console_new_req(cc, 3 /* Metadata */);
  if (!mq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  mq->allow_auto_topic_creation = 0;
  if (one) {
    mq->topics.items =
        kf_new_array(&cc->arena, &kafka_metadata_request_topic_desc, 1);
    if (!mq->topics.items)
      return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
    mq->topics.items[0].name = kf_s(one);
    mq->topics.count = 1;
  } else {
    mq->topics.count = -1;
  }
  kafka_metadata_response *md;
  if (console_kafka(cc, 3, V_METADATA, mq, (void **)&md) < 0)
    return -1;
  size_t n = 0;
  trow *r = kf_alloc(&cc->arena,
                     (size_t)(md->topics.count > 0 ? md->topics.count : 1) *
                         sizeof *r);
  if (!r)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  for (int32_t i = 0; i < md->topics.count; i++) {
    const kafka_metadata_response_topic *t = &md->topics.items[i];
    if (one && t->error_code) {
      char what[300];
      snprintf(what, sizeof what, "topic %s", one);
      return console_kafka_error(cc, t->error_code, kf_null_str(), what);
    }
    if (t->error_code || !t->name.ptr)
      continue; /* listing all: Kafka leaves out what may not be seen */
    trow *row = &r[n++];
    row->md = t;
    row->name = t->name.ptr;
    int32_t np = 0;
    for (int32_t p = 0; p < t->partitions.count; p++)
      if (t->partitions.items[p].partition_index >= np)
        np = t->partitions.items[p].partition_index + 1;
    row->np = np;
    size_t bytes = (size_t)(np ? np : 1) * sizeof(int64_t);
    row->start = kf_alloc(&cc->arena, bytes);
    row->hw = kf_alloc(&cc->arena, bytes);
    row->lso = kf_alloc(&cc->arena, bytes);
    row->size = kf_alloc(&cc->arena, bytes);
    if (!row->start || !row->hw || !row->lso || !row->size)
      return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
    for (int32_t p = 0; p < np; p++)
      row->start[p] = row->hw[p] = row->lso[p] = row->size[p] = -1;
  }
  if (one && n == 0)
    return console_error(cc, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                         "topic %s: This server does not host this "
                         "topic-partition.",
                         one);
  qsort(r, n, sizeof *r, row_cmp);
  *rows = r;
  *nrows = n;
  if (n == 0)
    return 0;

  /* Configs: one request for every topic. */
  kafka_describe_configs_request *dq =
      console_new_req(cc, 32 /* DescribeConfigs */);
  if (!dq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  dq->resources.items = kf_new_array(
      &cc->arena, &kafka_describe_configs_request_resource_desc, (int32_t)n);
  kf_str *keys = kf_alloc(&cc->arena, 3 * sizeof *keys);
  if (!dq->resources.items || !keys)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  keys[0] = kf_s("cleanup.policy");
  keys[1] = kf_s("retention.ms");
  keys[2] = kf_s("retention.bytes");
  dq->resources.count = (int32_t)n;
  for (size_t i = 0; i < n; i++) {
    kafka_describe_configs_request_resource *res = &dq->resources.items[i];
    res->resource_type = RESOURCE_TOPIC;
    res->resource_name = kf_s(r[i].name);
    res->configuration_keys.items = detail ? NULL : keys;
    res->configuration_keys.count = detail ? -1 : 3;
  }
  dq->include_synonyms = 0;
  dq->include_documentation = detail ? 1 : 0;
  kafka_describe_configs_response *dr;
  if (console_kafka(cc, 32, V_DESCRIBE_CONFIGS, dq, (void **)&dr) < 0)
    return -1;
  for (int32_t i = 0; i < dr->results.count; i++) {
    trow *row = row_find(r, n, dr->results.items[i].resource_name);
    if (row && dr->results.items[i].error_code == 0)
      row->cfg = &dr->results.items[i];
  }

  if (list_offsets(cc, r, n, -2, 0, offsetof(trow, start)) < 0 ||
      list_offsets(cc, r, n, -1, 0, offsetof(trow, hw)) < 0 ||
      (detail && list_offsets(cc, r, n, -1, 1, offsetof(trow, lso)) < 0))
    return -1;

  /* Sizes: all topics at once (null: every topic), or the one's. */
  kafka_describe_log_dirs_request *lq =
      console_new_req(cc, 35 /* DescribeLogDirs */);
  if (!lq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  if (one) {
    lq->topics.items = kf_new_array(
        &cc->arena,
        &kafka_describe_log_dirs_request_describable_log_dir_topic_desc, 1);
    int32_t *parts =
        kf_alloc(&cc->arena, (size_t)(r[0].np ? r[0].np : 1) * sizeof *parts);
    if (!lq->topics.items || !parts)
      return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
    for (int32_t p = 0; p < r[0].np; p++)
      parts[p] = p;
    lq->topics.items[0].topic = kf_s(r[0].name);
    lq->topics.items[0].partitions.items = parts;
    lq->topics.items[0].partitions.count = r[0].np;
    lq->topics.count = 1;
  } else {
    lq->topics.items = NULL;
    lq->topics.count = -1;
  }
  kafka_describe_log_dirs_response *lr;
  if (console_kafka(cc, 35, V_DESCRIBE_LOG_DIRS, lq, (void **)&lr) < 0)
    return -1;
  if (lr->error_code == 0)
    for (int32_t d = 0; d < lr->results.count; d++) {
      const kafka_describe_log_dirs_response_result *res =
          &lr->results.items[d];
      if (res->error_code)
        continue;
      for (int32_t i = 0; i < res->topics.count; i++) {
        trow *row = row_find(r, n, res->topics.items[i].name);
        if (!row)
          continue;
        for (int32_t j = 0; j < res->topics.items[i].partitions.count; j++) {
          const kafka_describe_log_dirs_response_partition *p =
              &res->topics.items[i].partitions.items[j];
          int64_t *s = slot(row->size, row, p->partition_index);
          if (s && !p->is_future_key)
            *s = (*s < 0 ? 0 : *s) + p->partition_size;
        }
      }
    }
  return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Kafka's Uuid.toString(): URL-safe base64 without padding, as
 * kafka-topics.sh and the clients show a topic id. */
static void write_uuid(jw *w, const kf_uuid *u) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char out[23];
  size_t o = 0;
  for (int i = 0; i < 16; i += 3) {
    uint32_t v = (uint32_t)u->b[i] << 16;
    if (i + 1 < 16)
      v |= (uint32_t)u->b[i + 1] << 8;
    if (i + 2 < 16)
      v |= u->b[i + 2];
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    if (i + 1 < 16)
      out[o++] = b64[(v >> 6) & 63];
    if (i + 2 < 16)
      out[o++] = b64[v & 63];
  }
  out[o] = 0;
  jw_str(w, out);
}

static const kafka_describe_configs_response_resource_result *
cfg_get(const trow *r, const char *name) {
  if (!r->cfg)
    return NULL;
  for (int32_t i = 0; i < r->cfg->configs.count; i++)
    if (r->cfg->configs.items[i].name.ptr &&
        strcmp(r->cfg->configs.items[i].name.ptr, name) == 0)
      return &r->cfg->configs.items[i];
  return NULL;
}

/* A config that holds a whole number, as a number; null when unknown. */
static void kcfg_int(jw *w, const trow *r, const char *key, const char *name) {
  const kafka_describe_configs_response_resource_result *c = cfg_get(r, name);
  jw_key(w, key);
  char *e = NULL;
  long long v = c && c->value.ptr ? strtoll(c->value.ptr, &e, 10) : 0;
  if (c && c->value.ptr && c->value.len > 0 && e && !*e)
    jw_int(w, v);
  else
    jw_null(w);
}

/* Sum of arr over r's partitions (of b - a when a is given); -1 if any is
 * unknown. */
static int64_t sum_parts(const trow *r, const int64_t *b, const int64_t *a) {
  int64_t s = 0;
  for (int32_t i = 0; i < r->md->partitions.count; i++) {
    int32_t p = r->md->partitions.items[i].partition_index;
    if (p < 0 || p >= r->np || b[p] < 0 || (a && a[p] < 0))
      return -1;
    s += a ? (b[p] > a[p] ? b[p] - a[p] : 0) : b[p];
  }
  return s;
}

static void kint_or_null(jw *w, const char *key, int64_t v) {
  jw_key(w, key);
  if (v < 0)
    jw_null(w);
  else
    jw_int(w, v);
}

/* T's members (docs/http-api.md), inside an open object. */
static void write_topic_fields(console_call *cc, jw *w, const trow *r) {
  jw_kstr(w, "name", r->name);
  jw_key(w, "id");
  write_uuid(w, &r->md->topic_id);
  jw_kbool(w, "internal", r->md->is_internal);
  jw_kint(w, "partition_count", r->md->partitions.count);
  kint_or_null(w, "size_bytes", sum_parts(r, r->size, NULL));
  kint_or_null(w, "records", sum_parts(r, r->hw, r->start));
  const kafka_describe_configs_response_resource_result *cp =
      cfg_get(r, "cleanup.policy");
  jw_key(w, "cleanup_policy");
  if (cp && cp->value.ptr)
    jw_strn(w, cp->value.ptr, (size_t)cp->value.len);
  else
    jw_null(w);
  kcfg_int(w, r, "retention_ms", "retention.ms");
  kcfg_int(w, r, "retention_bytes", "retention.bytes");
  double rate =
      console_history_topic_rate(console_history_of(cc->con), r->name);
  jw_key(w, "produce_records_s");
  if (rate < 0)
    jw_null(w);
  else
    jw_double(w, rate);
}

/* Kafka's DescribeConfigsResponse.ConfigSource, by the names of the Admin
 * client's ConfigEntry.ConfigSource. */
static const char *source_name(int8_t s) {
  static const char *const names[] = {
      "UNKNOWN",
      "DYNAMIC_TOPIC_CONFIG",
      "DYNAMIC_BROKER_CONFIG",
      "DYNAMIC_DEFAULT_BROKER_CONFIG",
      "STATIC_BROKER_CONFIG",
      "DEFAULT_CONFIG",
      "DYNAMIC_BROKER_LOGGER_CONFIG",
      "CLIENT_METRICS_CONFIG",
      "GROUP_CONFIG",
  };
  return s >= 0 && (size_t)s < sizeof names / sizeof *names ? names[s]
                                                            : "UNKNOWN";
}

/* "configs": [C...] from a DescribeConfigs result. */
static void write_configs(jw *w,
                          const kafka_describe_configs_response_result *res) {
  jw_key(w, "configs");
  jw_arr(w);
  for (int32_t i = 0; res && i < res->configs.count; i++) {
    const kafka_describe_configs_response_resource_result *c =
        &res->configs.items[i];
    jw_obj(w);
    jw_key(w, "name");
    jw_strn(w, c->name.ptr ? c->name.ptr : "",
            c->name.len > 0 ? (size_t)c->name.len : 0);
    jw_key(w, "value");
    if (c->value.ptr && c->value.len >= 0)
      jw_strn(w, c->value.ptr, (size_t)c->value.len);
    else
      jw_null(w);
    jw_kstr(w, "source", source_name(c->config_source));
    jw_kbool(w, "is_default", c->config_source == 5 /* DEFAULT_CONFIG */);
    jw_kbool(w, "sensitive", c->is_sensitive);
    jw_kbool(w, "read_only", c->read_only);
    if (c->documentation.ptr && c->documentation.len > 0) {
      jw_key(w, "documentation");
      jw_strn(w, c->documentation.ptr, (size_t)c->documentation.len);
    }
    jw_end(w);
  }
  jw_end(w);
}

/* Answer T of topic `name` (after a change): 0 or -1 answered. */
static int answer_topic(console_call *cc, const char *name, int status) {
  trow *rows;
  size_t n;
  if (gather(cc, name, 0, &rows, &n) < 0)
    return -1;
  jw *w = console_json(cc);
  cc->rs->status = status;
  jw_obj(w);
  write_topic_fields(cc, w, &rows[0]);
  jw_end(w);
  return 0;
}

/* ---- the calls ---------------------------------------------------------- */

static int list(console_call *cc) {
  trow *rows;
  size_t n;
  if (gather(cc, NULL, 0, &rows, &n) < 0)
    return -1;
  jw *w = console_json(cc);
  jw_obj(w);
  jw_key(w, "topics");
  jw_arr(w);
  for (size_t i = 0; i < n; i++) {
    jw_obj(w);
    write_topic_fields(cc, w, &rows[i]);
    jw_end(w);
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

static int describe(console_call *cc) {
  const char *name = cc->params[0];
  trow *rows;
  size_t n;
  if (gather(cc, name, 1, &rows, &n) < 0)
    return -1;
  const trow *r = &rows[0];
  jw *w = console_json(cc);
  jw_obj(w);
  write_topic_fields(cc, w, r);
  jw_key(w, "partitions");
  jw_arr(w);
  for (int32_t i = 0; i < r->md->partitions.count; i++) {
    int32_t p = r->md->partitions.items[i].partition_index;
    int ok = p >= 0 && p < r->np;
    jw_obj(w);
    jw_kint(w, "partition", p);
    kint_or_null(w, "log_start", ok ? r->start[p] : -1);
    kint_or_null(w, "high_watermark", ok ? r->hw[p] : -1);
    kint_or_null(w, "last_stable", ok ? r->lso[p] : -1);
    kint_or_null(w, "size_bytes", ok ? r->size[p] : -1);
    kint_or_null(
        w, "records",
        ok && r->hw[p] >= 0 && r->start[p] >= 0 ? r->hw[p] - r->start[p] : -1);
    jw_end(w);
  }
  jw_end(w);
  write_configs(w, r->cfg);
  jw_end(w);
  return 0;
}

/* A config value from the body: a string, or a number or boolean written
 * as Kafka's text would be. NULL (answered 400) otherwise. */
static const char *config_value(console_call *cc, const char *name,
                                const jv *v) {
  if (v->type == JV_STRING)
    return v->str;
  char buf[64];
  if (v->type == JV_NUMBER && v->is_int)
    snprintf(buf, sizeof buf, "%lld", (long long)v->integer);
  else if (v->type == JV_NUMBER)
    snprintf(buf, sizeof buf, "%.17g", v->number);
  else if (v->type == JV_BOOL)
    snprintf(buf, sizeof buf, "%s", v->boolean ? "true" : "false");
  else {
    console_error(cc, 400, "INVALID_REQUEST",
                  "config %s: the value must be a string", name);
    return NULL;
  }
  return kf_strndup(&cc->arena, buf, strlen(buf));
}

static int create(console_call *cc) {
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  const char *name = jv_as_str(jv_get(b, "name"));
  if (b->type != JV_OBJECT || !name)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body must be an object with a \"name\" string");
  int64_t partitions = 1;
  const jv *pj = jv_get(b, "partitions");
  if (pj && pj->type != JV_NULL &&
      (!jv_as_int(pj, &partitions) || partitions < INT32_MIN ||
       partitions > INT32_MAX))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"partitions\" must be a whole number");
  const jv *cj = jv_get(b, "configs");
  if (cj && cj->type != JV_NULL && cj->type != JV_OBJECT)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"configs\" must be an object of name: value");
  kafka_create_topics_request *rq = console_new_req(cc, 19 /* CreateTopics */);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  kafka_create_topics_request_creatable_topic *t = kf_new_array(
      &cc->arena, &kafka_create_topics_request_creatable_topic_desc, 1);
  if (!t)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  t->name = kf_s(name);
  t->num_partitions = (int32_t)partitions;
  t->replication_factor = -1; /* the broker's default */
  t->assignments.count = 0;
  size_t nc = cj && cj->type == JV_OBJECT ? cj->n : 0;
  t->configs.items = kf_new_array(
      &cc->arena, &kafka_create_topics_request_creatable_topic_config_desc,
      (int32_t)(nc ? nc : 1));
  if (!t->configs.items)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  t->configs.count = (int32_t)nc;
  for (size_t i = 0; i < nc; i++) {
    const char *v = config_value(cc, cj->keys[i], &cj->items[i]);
    if (!v)
      return -1;
    t->configs.items[i].name = kf_s(cj->keys[i]);
    t->configs.items[i].value = kf_s(v);
  }
  rq->topics.items = t;
  rq->topics.count = 1;
  rq->timeout_ms = CHANGE_TIMEOUT_MS;
  kafka_create_topics_response *r;
  if (console_kafka(cc, 19, V_CREATE_TOPICS, rq, (void **)&r) < 0)
    return -1;
  if (r->topics.count < 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "CreateTopics answered no result");
  char what[300];
  snprintf(what, sizeof what, "topic %s", name);
  if (r->topics.items[0].error_code)
    return console_kafka_error(cc, r->topics.items[0].error_code,
                               r->topics.items[0].error_message, what);
  return answer_topic(cc, name, 201);
}

static int delete_topic(console_call *cc) {
  const char *name = cc->params[0];
  kafka_delete_topics_request *rq = console_new_req(cc, 20 /* DeleteTopics */);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items = kf_new_array(
      &cc->arena, &kafka_delete_topics_request_delete_topic_state_desc, 1);
  if (!rq->topics.items)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items[0].name = kf_s(name);
  rq->topics.count = 1;
  rq->timeout_ms = CHANGE_TIMEOUT_MS;
  kafka_delete_topics_response *r;
  if (console_kafka(cc, 20, V_DELETE_TOPICS, rq, (void **)&r) < 0)
    return -1;
  char what[300];
  snprintf(what, sizeof what, "topic %s", name);
  if (r->responses.count > 0 && r->responses.items[0].error_code)
    return console_kafka_error(cc, r->responses.items[0].error_code,
                               r->responses.items[0].error_message, what);
  cc->rs->status = 204;
  return 0;
}

/* DescribeConfigs of one topic, every config with documentation, into
 * *out. 0 or -1 answered. */
static int topic_configs(console_call *cc, const char *name,
                         const kafka_describe_configs_response_result **out) {
  kafka_describe_configs_request *dq =
      console_new_req(cc, 32 /* DescribeConfigs */);
  if (!dq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  dq->resources.items = kf_new_array(
      &cc->arena, &kafka_describe_configs_request_resource_desc, 1);
  if (!dq->resources.items)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  dq->resources.count = 1;
  dq->resources.items[0].resource_type = RESOURCE_TOPIC;
  dq->resources.items[0].resource_name = kf_s(name);
  dq->resources.items[0].configuration_keys.count = -1;
  dq->include_documentation = 1;
  kafka_describe_configs_response *dr;
  if (console_kafka(cc, 32, V_DESCRIBE_CONFIGS, dq, (void **)&dr) < 0)
    return -1;
  char what[300];
  snprintf(what, sizeof what, "topic %s", name);
  if (dr->results.count < 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "DescribeConfigs answered no result");
  if (dr->results.items[0].error_code)
    return console_kafka_error(cc, dr->results.items[0].error_code,
                               dr->results.items[0].error_message, what);
  *out = &dr->results.items[0];
  return 0;
}

static int alter_configs(console_call *cc) {
  const char *name = cc->params[0];
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  const jv *set = jv_get(b, "set"), *del = jv_get(b, "delete");
  if (b->type != JV_OBJECT ||
      (set && set->type != JV_OBJECT && set->type != JV_NULL) ||
      (del && del->type != JV_ARRAY && del->type != JV_NULL))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body must be {\"set\": {name: value}, "
                         "\"delete\": [name...]}");
  size_t ns = set && set->type == JV_OBJECT ? set->n : 0;
  size_t nd = del && del->type == JV_ARRAY ? del->n : 0;
  if (ns + nd == 0)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "nothing to change: give \"set\" or \"delete\"");
  kafka_incremental_alter_configs_request *rq =
      console_new_req(cc, 44 /* IncrementalAlterConfigs */);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  kafka_incremental_alter_configs_request_alter_configs_resource *res =
      kf_new_array(
          &cc->arena,
          &kafka_incremental_alter_configs_request_alter_configs_resource_desc,
          1);
  kafka_incremental_alter_configs_request_alterable_config *cs = kf_new_array(
      &cc->arena,
      &kafka_incremental_alter_configs_request_alterable_config_desc,
      (int32_t)(ns + nd));
  if (!res || !cs)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  for (size_t i = 0; i < ns; i++) {
    const char *v = config_value(cc, set->keys[i], &set->items[i]);
    if (!v)
      return -1;
    cs[i].name = kf_s(set->keys[i]);
    cs[i].config_operation = 0; /* SET */
    cs[i].value = kf_s(v);
  }
  for (size_t i = 0; i < nd; i++) {
    const char *k = jv_as_str(&del->items[i]);
    if (!k)
      return console_error(cc, 400, "INVALID_REQUEST",
                           "\"delete\" must list config names");
    cs[ns + i].name = kf_s(k);
    cs[ns + i].config_operation = 1; /* DELETE */
    cs[ns + i].value = kf_null_str();
  }
  res->resource_type = RESOURCE_TOPIC;
  res->resource_name = kf_s(name);
  res->configs.items = cs;
  res->configs.count = (int32_t)(ns + nd);
  rq->resources.items = res;
  rq->resources.count = 1;
  kafka_incremental_alter_configs_response *r;
  if (console_kafka(cc, 44, V_INCREMENTAL_ALTER_CONFIGS, rq, (void **)&r) < 0)
    return -1;
  char what[300];
  snprintf(what, sizeof what, "topic %s", name);
  if (r->responses.count > 0 && r->responses.items[0].error_code)
    return console_kafka_error(cc, r->responses.items[0].error_code,
                               r->responses.items[0].error_message, what);
  const kafka_describe_configs_response_result *cfg = NULL;
  if (topic_configs(cc, name, &cfg) < 0)
    return -1;
  jw *w = console_json(cc);
  jw_obj(w);
  write_configs(w, cfg);
  jw_end(w);
  return 0;
}

static int add_partitions(console_call *cc) {
  const char *name = cc->params[0];
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  int64_t count;
  if (b->type != JV_OBJECT || !jv_as_int(jv_get(b, "count"), &count) ||
      count < INT32_MIN || count > INT32_MAX)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body must be {\"count\": N}, N the new total of "
                         "partitions");
  kafka_create_partitions_request *rq =
      console_new_req(cc, 37 /* CreatePartitions */);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items =
      kf_new_array(&cc->arena, &kafka_create_partitions_request_topic_desc, 1);
  if (!rq->topics.items)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items[0].name = kf_s(name);
  rq->topics.items[0].count = (int32_t)count;
  rq->topics.items[0].assignments.items = NULL;
  rq->topics.items[0].assignments.count = -1;
  rq->topics.count = 1;
  rq->timeout_ms = CHANGE_TIMEOUT_MS;
  kafka_create_partitions_response *r;
  if (console_kafka(cc, 37, V_CREATE_PARTITIONS, rq, (void **)&r) < 0)
    return -1;
  char what[300];
  snprintf(what, sizeof what, "topic %s", name);
  if (r->results.count > 0 && r->results.items[0].error_code)
    return console_kafka_error(cc, r->results.items[0].error_code,
                               r->results.items[0].error_message, what);
  return answer_topic(cc, name, 200);
}

const console_route console_topic_routes[] = {
    {"GET", "/api/topics", list, 0},
    {"POST", "/api/topics", create, CONSOLE_MUTATES},
    {"GET", "/api/topics/{}", describe, 0},
    {"DELETE", "/api/topics/{}", delete_topic, CONSOLE_MUTATES},
    {"PUT", "/api/topics/{}/configs", alter_configs, CONSOLE_MUTATES},
    {"POST", "/api/topics/{}/partitions", add_partitions, CONSOLE_MUTATES},
    {NULL, NULL, NULL, 0},
};
