/*
 * handle_metadata.c — Metadata (API 3): one broker, node 0, which is the
 * controller and leads every partition with leader epoch 0 for the life of
 * the partition.
 *
 * Topics the client names and we lack are created when the broker
 * auto-creates topics and the request allows it (v4+ field, true before).
 * v10+ carries topic ids; v12+ may name a topic by id only.
 */
#include <string.h>

#include "kafka.h"

typedef kafka_metadata_response_topic mtopic;
typedef kafka_metadata_response_partition mpart;

static const uint8_t zero_id[16];

static int fill_topic(kafka_req *r, mtopic *t, const nd_topic_info *info) {
  kafka_metadata_request *req = r->body;
  int32_t node = r->b->cfg.node_id;
  if (req->include_topic_authorized_operations)
    t->topic_authorized_operations = KAFKA_OPS_TOPIC;
  t->error_code = 0;
  t->name = kafka_str(r, info->name);
  t->is_internal = 0; /* offsets live in libnodata, not in a topic */
  memcpy(t->topic_id.b, info->id, 16);
  mpart *parts = kf_new_array(
      &r->arena, &kafka_metadata_response_partition_desc, info->partitions);
  int32_t *nodes = kf_alloc(&r->arena, sizeof(int32_t));
  if ((!parts && info->partitions > 0) || !nodes)
    return -1;
  nodes[0] = node;
  for (int32_t p = 0; p < info->partitions; p++) {
    parts[p].error_code = 0;
    parts[p].partition_index = p;
    parts[p].leader_id = node;
    parts[p].leader_epoch = 0;
    parts[p].replica_nodes.items = nodes;
    parts[p].replica_nodes.count = 1;
    parts[p].isr_nodes.items = nodes;
    parts[p].isr_nodes.count = 1;
    parts[p].offline_replicas.count = 0;
    /* An offline partition (damaged synced data, a bad topic.conf) looks
     * as in Kafka when its only replica's log directory failed: no
     * leader, the replica listed offline. Its produce and fetch answer
     * KAFKA_STORAGE_ERROR. */
    if ((info->offline || info->offline_partitions > 0) &&
        (info->offline ||
         nd_partition_describe(r->b->store, info->name, p,
                               &(nd_partition_info){0}) == ND_EFAILED)) {
      parts[p].error_code = KERR_LEADER_NOT_AVAILABLE;
      parts[p].leader_id = -1;
      parts[p].offline_replicas.items = nodes;
      parts[p].offline_replicas.count = 1;
    }
  }
  t->partitions.items = parts;
  t->partitions.count = info->partitions;
  return 0;
}

int handle_metadata(kafka_req *r) {
  kafka_metadata_request *req = r->body;
  broker *b = r->b;
  kafka_metadata_response *resp =
      kf_new(&r->arena, &kafka_metadata_response_desc);
  kafka_metadata_response_broker *br =
      kf_new_array(&r->arena, &kafka_metadata_response_broker_desc, 1);
  if (!resp || !br)
    return -1;
  br->node_id = b->cfg.node_id;
  br->host = kafka_str(r, kafka_advertised_host(b));
  br->port = kafka_advertised_port(b);
  br->rack = kf_null_str();
  resp->brokers.items = br;
  resp->brokers.count = 1;
  resp->cluster_id = kafka_str(r, r->k->cluster_id);
  resp->controller_id = b->cfg.node_id;
  /* v8-10 only (the field is gone from v11, KIP-700), as Kafka. */
  if (req->include_cluster_authorized_operations)
    resp->cluster_authorized_operations = KAFKA_OPS_CLUSTER;

  /* v0: an empty list means all topics; v1+: null means all, empty none. */
  int all =
      req->topics.count < 0 || (r->version == 0 && req->topics.count == 0);
  if (all) {
    nd_topic_info *infos = NULL;
    size_t n = 0;
    if (nd_topic_list(b->store, &infos, &n) != 0) {
      kafka_log(r, "listing topics failed: %s", nd_errmsg());
      n = 0;
    }
    mtopic *ts = kf_new_array(&r->arena, &kafka_metadata_response_topic_desc,
                              (int32_t)n);
    if (n && !ts) {
      nd_free(infos);
      return -1;
    }
    for (size_t i = 0; i < n; i++)
      if (fill_topic(r, &ts[i], &infos[i])) {
        nd_free(infos);
        return -1;
      }
    nd_free(infos);
    resp->topics.items = ts;
    resp->topics.count = (int32_t)n;
    kafka_respond(r, resp);
    return 0;
  }

  int32_t n = req->topics.count;
  mtopic *ts = kf_new_array(&r->arena, &kafka_metadata_response_topic_desc, n);
  if (n && !ts)
    return -1;
  /* allow_auto_topic_creation defaults to true in versions without it. */
  int may_create = b->cfg.auto_create && req->allow_auto_topic_creation;
  for (int32_t i = 0; i < n; i++) {
    kafka_metadata_request_topic *q = &req->topics.items[i];
    mtopic *t = &ts[i];
    nd_topic_info info;
    int rc;
    if (q->name.len < 0) {
      /* Lookup by id (v12+). */
      t->topic_id = q->topic_id;
      t->name = kf_null_str();
      if (memcmp(q->topic_id.b, zero_id, 16) == 0) {
        t->error_code = KERR_INVALID_REQUEST;
        continue;
      }
      rc = nd_topic_by_id(b->store, q->topic_id.b, &info);
      if (rc != 0) {
        t->error_code = KERR_UNKNOWN_TOPIC_ID;
        continue;
      }
    } else {
      t->name = q->name;
      if (!kafka_cstr_ok(q->name) || nd_topic_name_valid(q->name.ptr) != 0) {
        t->error_code = KERR_INVALID_TOPIC_EXCEPTION;
        continue;
      }
      rc = nd_topic_describe(b->store, q->name.ptr, &info);
      if (rc == ND_ENOTOPIC && may_create) {
        rc = kafka_auto_create(r, q->name.ptr);
        if (rc == 0)
          rc = nd_topic_describe(b->store, q->name.ptr, &info);
      }
      if (rc != 0) {
        t->error_code = kafka_err(rc);
        continue;
      }
    }
    if (fill_topic(r, t, &info))
      return -1;
  }
  resp->topics.items = ts;
  resp->topics.count = n;
  kafka_respond(r, resp);
  return 0;
}
