/*
 * handle_admin.c — ListOffsets, CreateTopics, DeleteTopics,
 * CreatePartitions, DescribeConfigs and InitProducerId.
 *
 * One broker holds every replica, so a replication factor above 1 is
 * refused the way Kafka refuses one above its broker count, and manual
 * assignments must name node 0 only.
 *
 * Topic configs are libnodata's own (nd_topic_config_names). A few Kafka
 * settings that cannot change anything on one node are accepted at their
 * only meaningful value and shown read-only by DescribeConfigs
 * (`fixed_configs`), so tools that always send them keep working; any
 * other name or value is INVALID_CONFIG with the library's message.
 *
 * Producer ids (always a new one with epoch 0, as Kafka does for a
 * producer without a transactional id) are handed out from a counter
 * persisted in DATA/broker-producer-ids in blocks (written atomically before a
 * block is used), so ids never repeat across restarts and the store's
 * per-producer sequence state never meets a recycled id.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"

#if __has_include("nodata_codecs.h")
#include "nodata_codecs.h"
#define ND_DECOMPRESS nd_codecs_decompress
#else
#define ND_DECOMPRESS NULL
#endif

/* ---- ListOffsets -------------------------------------------------------- */

enum {
  TS_LATEST = -1,
  TS_EARLIEST = -2,
  TS_MAX_TIMESTAMP = -3,
  TS_EARLIEST_LOCAL = -4,
  TS_LATEST_TIERED = -5,
  TS_EARLIEST_PENDING_UPLOAD = -6,
};

/* The first ListOffsets version that knows a special timestamp: Kafka 4.4
 * answers UNSUPPORTED_VERSION for one asked at an older version, and for a
 * negative timestamp it does not know at all, before it looks the topic
 * up. */
static int timestamp_known(int64_t ts, int version) {
  switch (ts) {
  case TS_LATEST:
  case TS_EARLIEST:
    return 1;
  case TS_MAX_TIMESTAMP:
    return version >= 7; /* KIP-734 */
  case TS_EARLIEST_LOCAL:
    return version >= 8; /* KIP-405 */
  case TS_LATEST_TIERED:
    return version >= 9; /* KIP-1005 */
  case TS_EARLIEST_PENDING_UPLOAD:
    return version >= 11; /* KIP-1023 */
  default:
    return ts >= 0;
  }
}

/* Kafka answers a time lookup with the exact record. A store opened
 * without a decompressor can only look inside uncompressed batches and
 * then answers with the batch holding the record, so look inside that
 * batch here; when the store was exact this finds the same record. */
static void exact_time(nd_store *st, const char *topic, int32_t partition,
                       int64_t ts, int64_t *off, int64_t *when) {
  nd_batches nb;
  if (nd_read(st, topic, partition, *off, 1, &nb) != 0)
    return;
  nd_iter it;
  nd_iter_init(&it, nb.data, nb.len, *off, ND_DECOMPRESS);
  nd_record_view rec;
  while (nd_iter_next(&it, &rec) == 1) {
    if (rec.timestamp >= ts) {
      *off = rec.offset;
      *when = rec.timestamp;
      break;
    }
  }
  nd_iter_close(&it);
  nd_free(nb.data);
}

static void list_one(kafka_req *r, const char *topic, int32_t partition,
                     int64_t ts,
                     kafka_list_offsets_response_partition_response *p) {
  nd_store *st = r->b->store;
  int64_t ls, hw;
  int rc = nd_offsets(st, topic, partition, &ls, &hw);
  if (rc != 0) {
    p->error_code = kafka_err(rc);
    return;
  }
  switch (ts) {
  case TS_LATEST:
    p->offset = hw;
    return;
  case TS_EARLIEST:
  case TS_EARLIEST_LOCAL:
    p->offset = ls;
    return;
  case TS_LATEST_TIERED:
  case TS_EARLIEST_PENDING_UPLOAD:
    /* Nothing is tiered: Kafka 4.4 answers -1 for both on a topic without
     * remote storage (nothing was uploaded, nothing is pending upload). */
    return;
  case TS_MAX_TIMESTAMP: {
    nd_partition_info pi;
    rc = nd_partition_describe(st, topic, partition, &pi);
    if (rc != 0) {
      p->error_code = kafka_err(rc);
      return;
    }
    if (pi.max_timestamp < 0 || hw == ls)
      return;
    ts = pi.max_timestamp;
    break;
  }
  default:
    break; /* a time: timestamp_known() let no other negative one in */
  }
  int64_t off = -1, when = -1;
  rc = nd_offset_for_time(st, topic, partition, ts, &off, &when);
  if (rc != 0) {
    p->error_code = kafka_err(rc);
    return;
  }
  if (off >= 0)
    exact_time(st, topic, partition, ts, &off, &when);
  p->offset = off;
  p->timestamp = off >= 0 ? when : -1;
}

int handle_list_offsets(kafka_req *r) {
  kafka_list_offsets_request *req = r->body;
  kafka_list_offsets_response *resp =
      kf_new(&r->arena, &kafka_list_offsets_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_list_offsets_response_topic_response *ts = kf_new_array(
      &r->arena, &kafka_list_offsets_response_topic_response_desc, nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_list_offsets_request_topic *qt = &req->topics.items[i];
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    kafka_list_offsets_response_partition_response *ps = kf_new_array(
        &r->arena, &kafka_list_offsets_response_partition_response_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = qt->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    for (int32_t j = 0; j < np; j++) {
      int64_t when = qt->partitions.items[j].timestamp;
      ps[j].partition_index = qt->partitions.items[j].partition_index;
      ps[j].timestamp = -1;
      ps[j].offset = -1;
      if (!timestamp_known(when, r->version))
        ps[j].error_code = KERR_UNSUPPORTED_VERSION;
      else if (!kafka_cstr_ok(qt->name))
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      else
        list_one(r, qt->name.ptr, ps[j].partition_index, when, &ps[j]);
      /* Kafka's epoch is 0 (our only one) with an offset, -1 without one:
       * errors, nothing tiered, no record at or after the time. */
      ps[j].leader_epoch = ps[j].offset >= 0 ? 0 : -1;
    }
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

/* ---- topic configs ------------------------------------------------------ */

typedef struct fixed_config {
  const char *name, *value;
} fixed_config;

static const fixed_config fixed_configs[] = {
    {"cleanup.policy", "delete"},
    {"min.insync.replicas", "1"},
    {"unclean.leader.election.enable", "false"},
    {NULL, NULL},
};

static const fixed_config *find_fixed(const char *name) {
  for (const fixed_config *f = fixed_configs; f->name; f++)
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
  const fixed_config *f = find_fixed(name.ptr);
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

/* ---- CreateTopics ------------------------------------------------------- */

/* Topics are checked on the loop, created on the worker thread (a
 * directory, files and fsyncs per partition: a minute for 2,000 topics on
 * an ordinary disk, which the loop must not wait for) while the request is
 * parked, and the answer is finished back on the loop. */
typedef struct topics_job {
  kafka_req *r;
  kafka_create_topics_response *resp;
  nd_topic_config *cfg; /* per topic */
  int32_t *parts;       /* per topic: partitions to create, 0 = none */
} topics_job;

static void topics_create(void *arg) {
  topics_job *j = arg;
  kafka_req *r = j->r;
  kafka_create_topics_request *req = r->body;
  for (int32_t i = 0; i < j->resp->topics.count; i++) {
    kafka_create_topics_response_creatable_topic_result *t =
        &j->resp->topics.items[i];
    const char *name = req->topics.items[i].name.ptr;
    if (!j->parts[i])
      continue;
    int rc = nd_topic_create(r->b->store, name, j->parts[i], &j->cfg[i]);
    if (rc != 0) {
      /* The arena is this thread's while the request is parked. A name
       * given twice finds its first entry created. */
      t->error_code = kafka_err(rc);
      t->error_message = kafka_errmsg(r);
      if (rc == ND_ETOPICEXISTS) {
        char buf[300];
        snprintf(buf, sizeof buf, "Topic '%s' already exists.", name);
        t->error_message = kafka_str(r, buf);
      }
      t->num_partitions = t->replication_factor = -1;
      continue;
    }
    fprintf(stderr, "nodata: created topic %s with %d partition(s)\n", name,
            j->parts[i]);
    nd_topic_info info;
    if (nd_topic_describe(r->b->store, name, &info) == 0)
      memcpy(t->topic_id.b, info.id, 16);
  }
}

/* Each topic that is (or would be) created is answered with its config. */
static int topics_answer(topics_job *j) {
  kafka_req *r = j->r;
  broker *b = r->b;
  const char *const *names = nd_topic_config_names();
  int32_t nc = 0;
  while (names[nc])
    nc++;
  /* The fixed settings too, as DescribeConfigs lists them: Kafka's answer
   * names every topic config. */
  const int32_t nfixed =
      (int32_t)(sizeof fixed_configs / sizeof fixed_configs[0]) - 1;
  const nd_topic_config defaults = *kafka_topic_defaults(b);
  for (int32_t i = 0; i < j->resp->topics.count; i++) {
    kafka_create_topics_response_creatable_topic_result *t =
        &j->resp->topics.items[i];
    if (t->error_code)
      continue;
    kafka_create_topics_response_creatable_topic_configs *cs = kf_new_array(
        &r->arena, &kafka_create_topics_response_creatable_topic_configs_desc,
        nc + nfixed);
    if (!cs)
      return -1;
    for (int32_t k = 0; k < nc; k++) {
      char val[128], dval[128];
      cs[k].name = kf_s(names[k]);
      if (nd_topic_config_get(&j->cfg[i], names[k], val, sizeof val) != 0)
        val[0] = 0;
      if (nd_topic_config_get(&defaults, names[k], dval, sizeof dval) != 0)
        dval[0] = 0;
      cs[k].value = kafka_str(r, val);
      cs[k].config_source = strcmp(val, dval) ? 1 : 5;
    }
    for (int32_t k = 0; k < nfixed; k++) {
      cs[nc + k].name = kf_s(fixed_configs[k].name);
      cs[nc + k].value = kf_s(fixed_configs[k].value);
      cs[nc + k].config_source = 5;
      cs[nc + k].read_only = 1;
    }
    t->configs.items = cs;
    t->configs.count = nc + nfixed;
  }
  kafka_respond(r, j->resp);
  return 0;
}

static int topics_answer_parked(kafka_req *r, void *arg) {
  (void)r;
  return topics_answer(arg);
}

static void topics_created(void *arg) {
  topics_job *j = arg;
  kafka_answer_parked(j->r, topics_answer_parked, j);
}

int handle_create_topics(kafka_req *r) {
  kafka_create_topics_request *req = r->body;
  broker *b = r->b;
  kafka_create_topics_response *resp =
      kf_new(&r->arena, &kafka_create_topics_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_create_topics_response_creatable_topic_result *res = kf_new_array(
      &r->arena, &kafka_create_topics_response_creatable_topic_result_desc, nt);
  if (nt && !res)
    return -1;
  resp->topics.items = res;
  resp->topics.count = nt;
  topics_job *job = kf_alloc(&r->arena, sizeof *job);
  if (!job)
    return -1;
  job->r = r;
  job->resp = resp;
  job->cfg = kf_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *job->cfg);
  job->parts = kf_alloc(&r->arena, (size_t)(nt ? nt : 1) * sizeof *job->parts);
  if (!job->cfg || !job->parts)
    return -1;
  memset(job->parts, 0, (size_t)(nt ? nt : 1) * sizeof *job->parts);
  int32_t to_create = 0;
  for (int32_t i = 0; i < nt; i++) {
    kafka_create_topics_request_creatable_topic *q = &req->topics.items[i];
    kafka_create_topics_response_creatable_topic_result *t = &res[i];
    t->name = q->name;
    t->num_partitions = -1;
    t->replication_factor = -1;
    t->configs.count = -1;            /* null unless we describe the topic */
    t->error_message = kf_null_str(); /* Kafka's default, as it answers */
    if (!kafka_cstr_ok(q->name)) {
      t->error_code = KERR_INVALID_TOPIC_EXCEPTION;
      continue;
    }
    kf_str why = kafka_topic_name_error(r, q->name.ptr);
    if (why.ptr) {
      t->error_code = KERR_INVALID_TOPIC_EXCEPTION;
      t->error_message = why;
      continue;
    }
    nd_topic_info info;
    if (nd_topic_describe(b->store, q->name.ptr, &info) == 0) {
      t->error_code = KERR_TOPIC_ALREADY_EXISTS;
      char buf[300];
      snprintf(buf, sizeof buf, "Topic '%s' already exists.", q->name.ptr);
      t->error_message = kafka_str(r, buf);
      continue;
    }
    int32_t parts = q->num_partitions;
    if (q->assignments.count > 0) {
      if (parts != -1 || q->replication_factor != -1) {
        t->error_code = KERR_INVALID_REQUEST;
        t->error_message = kafka_str(
            r, "both assignments and partitions/replication factor given");
        continue;
      }
      parts = q->assignments.count;
      int bad = 0;
      for (int32_t j = 0; j < q->assignments.count; j++) {
        kafka_create_topics_request_creatable_replica_assignment *as =
            &q->assignments.items[j];
        if (as->partition_index != j || as->broker_ids.count != 1 ||
            as->broker_ids.items[0] != b->cfg.node_id)
          bad = 1;
      }
      if (bad) {
        t->error_code = KERR_INVALID_REPLICA_ASSIGNMENT;
        t->error_message =
            kafka_str(r, "replicas must be exactly [0], partitions 0..n-1");
        continue;
      }
    }
    if (parts == -1)
      parts = b->cfg.default_partitions > 0 ? b->cfg.default_partitions : 1;
    if (parts <= 0) {
      t->error_code = KERR_INVALID_PARTITIONS;
      /* Kafka's words (ReplicationControlManager), which tools show. */
      t->error_message = kafka_str(
          r, "Number of partitions was set to an invalid non-positive value.");
      continue;
    }
    if (q->replication_factor != -1 && q->replication_factor != 1) {
      /* Kafka 4.4's text (its ReplicationControlManager), one broker. */
      char buf[300];
      snprintf(buf, sizeof buf,
               "Unable to replicate the partition %d time(s): The target "
               "replication factor of %d cannot be reached because only 1 "
               "broker(s) are registered or some brokers have all their log "
               "directories cordoned.",
               q->replication_factor, q->replication_factor);
      t->error_code = KERR_INVALID_REPLICATION_FACTOR;
      t->error_message = kafka_str(r, buf);
      continue;
    }
    nd_topic_config *cfg = &job->cfg[i];
    *cfg = *kafka_topic_defaults(b);
    int16_t err = 0;
    for (int32_t k = 0; k < q->configs.count && !err; k++)
      err = kafka_apply_config(r, cfg, q->configs.items[k].name,
                               q->configs.items[k].value, &t->error_message);
    if (err) {
      t->error_code = err;
      continue;
    }
    /* validateOnly checks the partition limits too, as Kafka's create
     * policy would. */
    int rc = req->validate_only
                 ? nd_partitions_allowed(b->store, q->name.ptr, parts)
                 : 0;
    if (rc != 0) {
      t->error_code = kafka_err(rc);
      t->error_message = kafka_errmsg(r);
      continue;
    }
    if (!req->validate_only) {
      job->parts[i] = parts;
      to_create++;
    }
    t->num_partitions = parts;
    t->replication_factor = 1;
  }
  if (!to_create)
    return topics_answer(job);
  return kafka_run_on_worker(r, topics_create, topics_created, job);
}

/* ---- DeleteTopics ------------------------------------------------------- */

/* As CreateTopics: found on the loop, deleted on the worker thread (every
 * segment file of every partition goes). */
typedef struct delete_job {
  kafka_req *r;
  kafka_delete_topics_response *resp;
} delete_job;

static void topics_delete(void *arg) {
  delete_job *j = arg;
  for (int32_t i = 0; i < j->resp->responses.count; i++) {
    kafka_delete_topics_response_deletable_topic_result *t =
        &j->resp->responses.items[i];
    if (t->error_code)
      continue;
    int rc = nd_topic_delete(j->r->b->store, t->name.ptr);
    if (rc != 0) {
      t->error_code = kafka_err(rc);
      t->error_message = kafka_errmsg(j->r);
    } else {
      /* libnodata also forgets the topic's committed offsets. */
      fprintf(stderr, "nodata: deleted topic %s\n", t->name.ptr);
    }
  }
}

static int deleted_answer(kafka_req *r, void *arg) {
  delete_job *j = arg;
  kafka_respond(r, j->resp);
  return 0;
}

static void topics_deleted(void *arg) {
  delete_job *j = arg;
  kafka_answer_parked(j->r, deleted_answer, j);
}

int handle_delete_topics(kafka_req *r) {
  kafka_delete_topics_request *req = r->body;
  kafka_delete_topics_response *resp =
      kf_new(&r->arena, &kafka_delete_topics_response_desc);
  if (!resp)
    return -1;
  /* v0-5 list names; v6 lists {name or id}. */
  int by_state = r->version >= 6;
  int32_t n = by_state ? req->topics.count : req->topic_names.count;
  if (n < 0)
    n = 0;
  kafka_delete_topics_response_deletable_topic_result *res = kf_new_array(
      &r->arena, &kafka_delete_topics_response_deletable_topic_result_desc, n);
  if (n && !res)
    return -1;
  int32_t to_delete = 0;
  for (int32_t i = 0; i < n; i++) {
    kafka_delete_topics_response_deletable_topic_result *t = &res[i];
    kf_str name =
        by_state ? req->topics.items[i].name : req->topic_names.items[i];
    nd_topic_info info;
    int by_id = by_state && name.len < 0;
    const char *found;
    if (by_id)
      t->topic_id = req->topics.items[i].topic_id;
    t->error_code = kafka_topic_resolve(
        r, by_id ? KAFKA_TOPIC_BY_ID : 0, name, t->topic_id.b,
        KERR_INVALID_TOPIC_EXCEPTION, &info, &r->arena, &found);
    /* A usable name asked for is answered with, found or not; a topic
     * asked for by id is named only if found. */
    if (!by_id && kafka_cstr_ok(name))
      t->name = name;
    else if (t->error_code == KERR_NONE)
      t->name = kf_s(found);
    if (t->error_code)
      continue;
    memcpy(t->topic_id.b, info.id, 16);
    to_delete++;
  }
  resp->responses.items = res;
  resp->responses.count = n;
  if (!to_delete) {
    kafka_respond(r, resp);
    return 0;
  }
  delete_job *job = kf_alloc(&r->arena, sizeof *job);
  if (!job)
    return -1;
  *job = (delete_job){.r = r, .resp = resp};
  return kafka_run_on_worker(r, topics_delete, topics_deleted, job);
}

/* ---- CreatePartitions --------------------------------------------------- */

/* As CreateTopics: checked on the loop, the partitions made on the worker
 * thread. */
typedef struct parts_job {
  kafka_req *r;
  kafka_create_partitions_response *resp;
  uint8_t *add; /* per result: 1 to add its partitions */
  int32_t *src; /* per result: its topic in the request */
} parts_job;

static void parts_create(void *arg) {
  parts_job *j = arg;
  kafka_req *r = j->r;
  kafka_create_partitions_request *req = r->body;
  for (int32_t i = 0; i < j->resp->results.count; i++) {
    kafka_create_partitions_request_topic *q = &req->topics.items[j->src[i]];
    kafka_create_partitions_response_topic_result *t =
        &j->resp->results.items[i];
    if (!j->add[i])
      continue;
    int rc = nd_topic_add_partitions(r->b->store, q->name.ptr, q->count);
    if (rc != 0) {
      t->error_code = rc == ND_EINVAL ? KERR_INVALID_PARTITIONS : kafka_err(rc);
      t->error_message = kafka_errmsg(r);
    } else {
      fprintf(stderr, "nodata: topic %s now has %d partitions\n", q->name.ptr,
              q->count);
    }
  }
}

static int parts_answer(kafka_req *r, void *arg) {
  parts_job *j = arg;
  kafka_respond(r, j->resp);
  return 0;
}

static void parts_created(void *arg) {
  parts_job *j = arg;
  kafka_answer_parked(j->r, parts_answer, j);
}

int handle_create_partitions(kafka_req *r) {
  kafka_create_partitions_request *req = r->body;
  broker *b = r->b;
  kafka_create_partitions_response *resp =
      kf_new(&r->arena, &kafka_create_partitions_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->topics.count > 0 ? req->topics.count : 0;
  kafka_create_partitions_response_topic_result *res = kf_new_array(
      &r->arena, &kafka_create_partitions_response_topic_result_desc, n);
  parts_job *job = kf_alloc(&r->arena, sizeof *job);
  uint8_t *add = kf_alloc(&r->arena, (size_t)(n ? n : 1));
  int32_t *src = kf_alloc(&r->arena, (size_t)(n ? n : 1) * sizeof *src);
  if ((n && !res) || !job || !add || !src)
    return -1;
  memset(add, 0, (size_t)(n ? n : 1));
  *job = (parts_job){.r = r, .resp = resp, .add = add, .src = src};
  /* A topic named twice is not grown at all: as Kafka's ControllerApis,
   * it gets one INVALID_REQUEST result, after the others. */
  int32_t m = 0, ndup = 0;
  for (int32_t pass = 0; pass < 2; pass++)
    for (int32_t i = 0; i < n; i++) {
      int dup = 0, first = 1;
      for (int32_t j = 0; j < n; j++)
        if (j != i && kafka_str_eq(req->topics.items[j].name,
                                   req->topics.items[i].name)) {
          dup = 1;
          first = first && j > i;
        }
      if (pass == 0 && !dup)
        src[m++] = i;
      if (pass == 1 && dup && first) {
        src[m] = i;
        res[m].name = req->topics.items[i].name;
        res[m].error_code = KERR_INVALID_REQUEST;
        res[m++].error_message = kafka_str(r, "Duplicate topic name.");
        ndup++;
      }
    }
  int32_t to_add = 0;
  for (int32_t k = 0; k < m - ndup; k++) {
    kafka_create_partitions_request_topic *q = &req->topics.items[src[k]];
    kafka_create_partitions_response_topic_result *t = &res[k];
    t->name = q->name;
    nd_topic_info info;
    int rc;
    if (!kafka_cstr_ok(q->name)) {
      t->error_code = KERR_INVALID_TOPIC_EXCEPTION;
      continue;
    }
    if ((rc = nd_topic_describe(b->store, q->name.ptr, &info)) != 0) {
      t->error_code = kafka_err(rc);
      /* Kafka gives no message for an unknown topic here. */
      t->error_message = rc == ND_ENOTOPIC ? kf_null_str() : kafka_errmsg(r);
      continue;
    }
    if (q->count <= info.partitions) {
      /* Kafka 4.4's texts (ReplicationControlManager). */
      char buf[400];
      if (q->count == info.partitions)
        snprintf(buf, sizeof buf, "Topic already has %d partition(s).",
                 info.partitions);
      else
        snprintf(buf, sizeof buf,
                 "The topic %s currently has %d partition(s); %d would not "
                 "be an increase.",
                 q->name.ptr, info.partitions, q->count);
      t->error_code = KERR_INVALID_PARTITIONS;
      t->error_message = kafka_str(r, buf);
      continue;
    }
    if (q->assignments.count > 0) {
      int bad = q->assignments.count != q->count - info.partitions;
      for (int32_t j = 0; j < q->assignments.count && !bad; j++)
        bad = q->assignments.items[j].broker_ids.count != 1 ||
              q->assignments.items[j].broker_ids.items[0] != b->cfg.node_id;
      if (bad) {
        t->error_code = KERR_INVALID_REPLICA_ASSIGNMENT;
        t->error_message = kafka_str(r, "each new partition's replicas "
                                        "must be exactly [0]");
        continue;
      }
    }
    if (req->validate_only) {
      if ((rc = nd_partitions_allowed(b->store, q->name.ptr, q->count)) != 0) {
        t->error_code = kafka_err(rc);
        t->error_message = kafka_errmsg(r);
      }
      continue;
    }
    add[k] = 1;
    to_add++;
  }
  resp->results.items = res;
  resp->results.count = m;
  if (!to_add) {
    kafka_respond(r, resp);
    return 0;
  }
  return kafka_run_on_worker(r, parts_create, parts_created, job);
}

/* ---- DescribeConfigs ---------------------------------------------------- */

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_BROKER_LOGGER = 8, RES_GROUP = 32 };
enum {
  SRC_TOPIC = 1,
  SRC_DEFAULT = 5,
};
enum { CT_BOOLEAN = 1, CT_STRING = 2, CT_INT = 3, CT_LONG = 5, CT_LIST = 7 };

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
    {"max.message.bytes", "message.max.bytes"},
    {"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms"},
    {"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms"},
    {"message.timestamp.type", "log.message.timestamp.type"},
    {"min.insync.replicas", "min.insync.replicas"},
    {"retention.bytes", "log.retention.bytes"},
    {"retention.ms", ""},
    {"segment.bytes", "log.segment.bytes"},
    {"segment.index.bytes", "log.index.size.max.bytes"},
    {"segment.ms", ""},
    {"unclean.leader.election.enable", "unclean.leader.election.enable"},
};

static const char *broker_synonym(const char *topic_config) {
  for (size_t i = 0; i < sizeof broker_synonyms / sizeof broker_synonyms[0];
       i++)
    if (strcmp(broker_synonyms[i].topic, topic_config) == 0)
      return broker_synonyms[i].broker;
  return NULL;
}

/* One entry; dvalue is the built-in default (the broker synonym's value). */
static void set_entry(kafka_req *r, const kafka_describe_configs_request *req,
                      dc_entry *e, const char *name, const char *value,
                      const char *dvalue, int source, int read_only) {
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
      kf_new_array(&r->arena, &kafka_describe_configs_response_synonym_desc, 2);
  if (!s)
    return;
  const char *bname = broker_synonym(name);
  int32_t n = 0;
  if (source == SRC_TOPIC || !bname) {
    s[n].name = e->name;
    s[n].value = e->value;
    s[n++].source = (int8_t)source;
  }
  if (bname && *bname) {
    s[n].name = kf_s(bname);
    s[n].value = kafka_str(r, dvalue);
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
      (int32_t)(sizeof fixed_configs / sizeof fixed_configs[0]) - 1;
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
    set_entry(r, req, &es[n++], names[i], val, dval,
              strcmp(val, dval) ? SRC_TOPIC : SRC_DEFAULT, 0);
  }
  for (int32_t i = 0; i < nfixed; i++)
    if (kafka_config_wanted(q, fixed_configs[i].name))
      set_entry(r, req, &es[n++], fixed_configs[i].name, fixed_configs[i].value,
                fixed_configs[i].value, SRC_DEFAULT, 1);
  res->configs.items = es;
  res->configs.count = n;
  return 0;
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

/* ---- InitProducerId ----------------------------------------------------- */

#define PID_BLOCK 1000

static int pid_path(broker *b, char *buf, size_t n) {
  int w = snprintf(buf, n, "%s/broker-producer-ids",
                   b->cfg.data_dir ? b->cfg.data_dir : ".");
  return w > 0 && (size_t)w < n ? 0 : -1;
}

/* Persist `limit` as the first id the next run may hand out. */
static int pid_save(broker *b, int64_t limit) {
  char path[4096];
  if (pid_path(b, path, sizeof path))
    return -ENAMETOOLONG;
  char line[32];
  int len = snprintf(line, sizeof line, "%" PRId64 "\n", limit);
  return broker_write_atomic(path, line, (size_t)len);
}

static int64_t pid_load(broker *b) {
  char path[4096];
  if (pid_path(b, path, sizeof path))
    return -1;
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  long long v = -1;
  if (fscanf(f, "%lld", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

static int64_t pid_next(kafka_req *r) {
  kafka_state *k = r->k;
  if (k->next_producer_id == 0) {
    int64_t v = pid_load(r->b);
    /* Without a saved counter, start above anything an earlier run could
     * have handed out at fewer than 1000 ids a second. */
    k->next_producer_id = v > 0 ? v : (int64_t)time(NULL) * 1000;
    k->producer_id_limit = k->next_producer_id;
  }
  if (k->next_producer_id >= k->producer_id_limit) {
    int rc = pid_save(r->b, k->next_producer_id + PID_BLOCK);
    if (rc != 0) {
      kafka_log(r, "cannot persist the producer id counter: %s",
                nd_strerror(rc));
      return -1;
    }
    k->producer_id_limit = k->next_producer_id + PID_BLOCK;
  }
  return k->next_producer_id++;
}

int handle_init_producer_id(kafka_req *r) {
  kafka_init_producer_id_request *req = r->body;
  kafka_init_producer_id_response *resp =
      kf_new(&r->arena, &kafka_init_producer_id_response_desc);
  if (!resp)
    return -1;
  resp->producer_id = -1;
  resp->producer_epoch = -1;
  if (req->transactional_id.len >= 0) {
    resp->error_code = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    kafka_log(r,
              "transactional producer refused: transactions are not "
              "supported; answered " KAFKA_ERR_FMT,
              KAFKA_ERR_ARGS(resp->error_code));
  } else {
    /* Without a transactional id Kafka always hands out a fresh id with
     * epoch 0, whatever id and epoch the request names (clients differ in
     * what they send there), and so do we. */
    int64_t pid = pid_next(r);
    if (pid < 0) {
      resp->error_code = KERR_KAFKA_STORAGE_ERROR;
    } else {
      resp->producer_id = pid;
      resp->producer_epoch = 0;
    }
  }
  kafka_respond(r, resp);
  return 0;
}
