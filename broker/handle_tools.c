/*
 * handle_tools.c — the APIs that admin tools and consoles call beside the
 * client APIs (kafka-topics, kafka-configs, kafka-delete-records, rpk,
 * kadm, Redpanda Console): DeleteRecords, OffsetForLeaderEpoch,
 * DescribeCluster, AlterConfigs, IncrementalAlterConfigs, DescribeLogDirs.
 *
 * Leader epochs: a partition has one leader for its whole life, so its
 * leader epoch is always 0 (Metadata says so too). A client asking about
 * epoch 0 gets the log end, any other epoch -1/-1; a current leader epoch
 * above 0 gets UNKNOWN_LEADER_EPOCH like a broker that has not seen that
 * epoch yet.
 *
 * BROKER and GROUP resources are dynconfig.c's (dynamic broker configs,
 * group configs); a resource named twice in one request is INVALID_REQUEST
 * for both, as Kafka answers.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "kafka.h"
#include "logline.h"

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_GROUP = 32 };

/* ---- DeleteRecords ------------------------------------------------------ */

int handle_delete_records(kafka_req *r) {
  kafka_delete_records_request *req = r->body;
  kafka_delete_records_response *resp =
      kf_new(&r->arena, &kafka_delete_records_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_delete_records_response_topic_result *ts = kf_new_array(
      &r->arena, &kafka_delete_records_response_topic_result_desc, nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_delete_records_request_topic *q = &req->topics.items[i];
    int32_t np = q->partitions.count > 0 ? q->partitions.count : 0;
    kafka_delete_records_response_partition_result *ps = kf_new_array(
        &r->arena, &kafka_delete_records_response_partition_result_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = q->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    for (int32_t j = 0; j < np; j++) {
      kafka_delete_records_request_partition *qp = &q->partitions.items[j];
      ps[j].partition_index = qp->partition_index;
      ps[j].low_watermark = -1;
      if (!kafka_cstr_ok(q->name)) {
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (qp->offset < -1) {
        ps[j].error_code = KERR_OFFSET_OUT_OF_RANGE;
        continue;
      }
      int64_t ls = -1;
      int rc = nd_delete_records(r->b->store, q->name.ptr, qp->partition_index,
                                 qp->offset, &ls);
      if (rc != 0) {
        ps[j].error_code = kafka_err(rc);
        continue;
      }
      ps[j].low_watermark = ls;
      kafka_log(r, "%s/%d: records before %lld deleted", q->name.ptr,
                qp->partition_index, (long long)ls);
    }
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

/* ---- OffsetForLeaderEpoch ----------------------------------------------- */

int handle_offset_for_leader_epoch(kafka_req *r) {
  kafka_offset_for_leader_epoch_request *req = r->body;
  kafka_offset_for_leader_epoch_response *resp =
      kf_new(&r->arena, &kafka_offset_for_leader_epoch_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result *ts =
      kf_new_array(
          &r->arena,
          &kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result_desc,
          nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_offset_for_leader_epoch_request_offset_for_leader_topic *q =
        &req->topics.items[i];
    int32_t np = q->partitions.count > 0 ? q->partitions.count : 0;
    kafka_offset_for_leader_epoch_response_epoch_end_offset *ps = kf_new_array(
        &r->arena,
        &kafka_offset_for_leader_epoch_response_epoch_end_offset_desc, np);
    if (np && !ps)
      return -1;
    ts[i].topic = q->topic;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    for (int32_t j = 0; j < np; j++) {
      kafka_offset_for_leader_epoch_request_offset_for_leader_partition *qp =
          &q->partitions.items[j];
      ps[j].partition = qp->partition;
      ps[j].leader_epoch = -1;
      ps[j].end_offset = -1;
      int64_t ls, hw;
      int rc = kafka_cstr_ok(q->topic) ? nd_offsets(r->b->store, q->topic.ptr,
                                                    qp->partition, &ls, &hw)
                                       : ND_ENOTOPIC;
      if (rc != 0) {
        ps[j].error_code = kafka_err(rc);
        continue;
      }
      if (qp->current_leader_epoch > 0) {
        ps[j].error_code = KERR_UNKNOWN_LEADER_EPOCH;
        continue;
      }
      if (qp->leader_epoch == 0) {
        ps[j].leader_epoch = 0;
        ps[j].end_offset = hw;
      }
      /* Any other epoch never existed: -1/-1, as Kafka answers for an
       * epoch above its latest or an undefined one. */
    }
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

/* ---- DescribeCluster ---------------------------------------------------- */

int handle_describe_cluster(kafka_req *r) {
  kafka_describe_cluster_request *req = r->body;
  broker *b = r->b;
  kafka_describe_cluster_response *resp =
      kf_new(&r->arena, &kafka_describe_cluster_response_desc);
  kafka_describe_cluster_response_broker *br =
      kf_new_array(&r->arena, &kafka_describe_cluster_response_broker_desc, 1);
  if (!resp || !br)
    return -1;
  br->broker_id = b->cfg.node_id;
  br->host = kafka_str(r, kafka_advertised_host(b));
  br->port = kafka_advertised_port(b);
  br->rack = kf_null_str();
  resp->endpoint_type = req->endpoint_type;
  resp->cluster_id = kafka_str(r, r->k->cluster_id);
  resp->controller_id = b->cfg.node_id;
  if (req->include_cluster_authorized_operations)
    resp->cluster_authorized_operations = KAFKA_OPS_CLUSTER;
  resp->brokers.items = br;
  resp->brokers.count = 1;
  kafka_respond(r, resp);
  return 0;
}

/* ---- AlterConfigs / IncrementalAlterConfigs ----------------------------- */

/* Set one config in cfg; Kafka settings that have a single possible value
 * here are accepted at it (see handle_admin.c). */
static int16_t set_one(kafka_req *r, nd_topic_config *cfg,
                       const nd_topic_config *defaults, kf_str name,
                       kf_str value, kf_str *msg) {
  if (!kafka_cstr_ok(name)) {
    *msg = kafka_str(r, "config name is null");
    return KERR_INVALID_CONFIG;
  }
  if (value.len < 0) {
    /* null: back to the default, which is the broker's (log.* configs) */
    nd_topic_config def = *defaults;
    char buf[128];
    if (nd_topic_config_get(&def, name.ptr, buf, sizeof buf) != 0 ||
        nd_topic_config_set(cfg, name.ptr, buf) != 0) {
      *msg = kafka_errmsg(r);
      return KERR_INVALID_CONFIG;
    }
    return 0;
  }
  return kafka_apply_config(r, cfg, name, value, msg);
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
      default: /* APPEND, SUBTRACT: only for list configs; we have none */
        *msg = kafka_str(r, "APPEND and SUBTRACT apply to list configs only");
        err = KERR_INVALID_CONFIG;
      }
      if (err)
        return err;
    }
  } else {
    /* AlterConfigs replaces the whole set: what is not named is reset. */
    nd_topic_config_init(&cfg);
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
  /* Maybe on the worker thread: the connection is the loop's to read. */
  broker_log("%s v%d: topic %s: config changed", r->api->name, r->version,
             topic);
  return 0;
}

static int same_resource(int8_t t1, kf_str n1, int8_t t2, kf_str n2) {
  return t1 == t2 && n1.len == n2.len &&
         (n1.len <= 0 || !memcmp(n1.ptr, n2.ptr, (size_t)n1.len));
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
  if (type == RES_BROKER || type == RES_GROUP)
    return dynconfig_alter(r, type, name, incremental, configs, n, validate,
                           msg);
  if (type != RES_TOPIC || !kafka_cstr_ok(name))
    return KERR_INVALID_REQUEST;
  return alter_topic(r, defaults, name.ptr, incremental, configs, n, validate,
                     msg);
}

/* A request with only topic resources is handled on the worker thread:
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
    only_topics &= q->resource_type == RES_TOPIC;
  }
  resp->responses.items = rs;
  resp->responses.count = n;
  return alter_dispatch(r, resp, only_topics && !req->validate_only,
                        fill_incremental);
}

/* ---- DescribeLogDirs ---------------------------------------------------- */

typedef kafka_describe_log_dirs_response_topic ld_topic;
typedef kafka_describe_log_dirs_response_partition ld_part;

static int fill_log_topic(kafka_req *r, ld_topic *t, const char *name,
                          const int32_t *want, int32_t nwant, int32_t nparts) {
  int32_t n = want ? nwant : nparts;
  ld_part *ps = kf_new_array(
      &r->arena, &kafka_describe_log_dirs_response_partition_desc, n);
  if (n && !ps)
    return -1;
  int32_t k = 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t p = want ? want[i] : i;
    nd_partition_info pi;
    if (nd_partition_describe(r->b->store, name, p, &pi) != 0)
      continue; /* Kafka leaves out partitions it does not host */
    ps[k].partition_index = p;
    ps[k].partition_size = pi.size_bytes;
    ps[k].offset_lag = 0;
    ps[k].is_future_key = 0;
    k++;
  }
  t->name = kafka_str(r, name);
  t->partitions.items = ps;
  t->partitions.count = k;
  return 0;
}

int handle_describe_log_dirs(kafka_req *r) {
  kafka_describe_log_dirs_request *req = r->body;
  broker *b = r->b;
  kafka_describe_log_dirs_response *resp =
      kf_new(&r->arena, &kafka_describe_log_dirs_response_desc);
  kafka_describe_log_dirs_response_result *res =
      kf_new_array(&r->arena, &kafka_describe_log_dirs_response_result_desc, 1);
  if (!resp || !res)
    return -1;
  char dir[PATH_MAX];
  const char *data = b->cfg.data_dir ? b->cfg.data_dir : ".";
  if (!realpath(data, dir))
    snprintf(dir, sizeof dir, "%s", data);
  res->log_dir = kafka_str(r, dir);
  struct statvfs vfs;
  if (statvfs(data, &vfs) == 0) {
    res->total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
    res->usable_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
  }
  if (req->topics.count < 0) {
    nd_topic_info *infos = NULL;
    size_t n = 0;
    if (nd_topic_list(b->store, &infos, &n) != 0)
      n = 0;
    ld_topic *ts = kf_new_array(
        &r->arena, &kafka_describe_log_dirs_response_topic_desc, (int32_t)n);
    if (n && !ts) {
      nd_free(infos);
      return -1;
    }
    for (size_t i = 0; i < n; i++)
      if (fill_log_topic(r, &ts[i], infos[i].name, NULL, 0,
                         infos[i].partitions)) {
        nd_free(infos);
        return -1;
      }
    nd_free(infos);
    res->topics.items = ts;
    res->topics.count = (int32_t)n;
  } else {
    int32_t n = req->topics.count, k = 0;
    ld_topic *ts = kf_new_array(
        &r->arena, &kafka_describe_log_dirs_response_topic_desc, n);
    if (n && !ts)
      return -1;
    for (int32_t i = 0; i < n; i++) {
      kafka_describe_log_dirs_request_describable_log_dir_topic *q =
          &req->topics.items[i];
      nd_topic_info info;
      if (!kafka_cstr_ok(q->topic) ||
          nd_topic_describe(b->store, q->topic.ptr, &info) != 0)
        continue;
      if (fill_log_topic(r, &ts[k++], q->topic.ptr, q->partitions.items,
                         q->partitions.count > 0 ? q->partitions.count : 0,
                         info.partitions))
        return -1;
    }
    res->topics.items = ts;
    res->topics.count = k;
  }
  resp->results.items = res;
  resp->results.count = 1;
  kafka_respond(r, resp);
  return 0;
}

/* ---- DescribeProducers -------------------------------------------------- */

/* The idempotent producers each asked-for partition knows, from libnodata's
 * per-partition producer state. No transactions: coordinator epoch -1 and
 * no open transaction (current_txn_start_offset -1). */
int handle_describe_producers(kafka_req *r) {
  kafka_describe_producers_request *req = r->body;
  kafka_describe_producers_response *resp =
      kf_new(&r->arena, &kafka_describe_producers_response_desc);
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_describe_producers_response_topic_response *ts = kf_new_array(
      &r->arena, &kafka_describe_producers_response_topic_response_desc, nt);
  if (!resp || (nt && !ts))
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_describe_producers_request_topic_request *q = &req->topics.items[i];
    int ok = kafka_cstr_ok(q->name);
    int32_t np =
        q->partition_indexes.count > 0 ? q->partition_indexes.count : 0;
    kafka_describe_producers_response_partition_response *ps = kf_new_array(
        &r->arena, &kafka_describe_producers_response_partition_response_desc,
        np);
    if (np && !ps)
      return -1;
    for (int32_t j = 0; j < np; j++) {
      ps[j].partition_index = q->partition_indexes.items[j];
      nd_producer_info *list = NULL;
      size_t n = 0;
      int rc = ok ? nd_partition_producers(r->b->store, q->name.ptr,
                                           ps[j].partition_index, &list, &n)
                  : ND_ENOTOPIC;
      if (rc) {
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        ps[j].error_message = kafka_str(r, nd_errmsg());
        continue;
      }
      kafka_describe_producers_response_producer_state *st = kf_new_array(
          &r->arena, &kafka_describe_producers_response_producer_state_desc,
          (int32_t)n);
      if (n && !st) {
        nd_free(list);
        return -1;
      }
      for (size_t k = 0; k < n; k++) {
        st[k].producer_id = list[k].producer_id;
        st[k].producer_epoch = list[k].producer_epoch;
        st[k].last_sequence = list[k].last_sequence;
        st[k].last_timestamp = list[k].last_timestamp;
        st[k].coordinator_epoch = -1;
        st[k].current_txn_start_offset = -1;
      }
      nd_free(list);
      ps[j].active_producers.items = st;
      ps[j].active_producers.count = (int32_t)n;
    }
    ts[i].name = q->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}
