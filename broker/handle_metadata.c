/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_metadata.c — Metadata (API 3): one broker, node 0, which is the
 * controller and leads every partition with leader epoch 0 for the life of
 * the partition.
 *
 * Topics the client names and we lack are created when the broker
 * auto-creates topics and the request allows it (v4+ field, true before),
 * at most METADATA_CREATE_MAX per request: creating a topic costs a
 * directory, files and fsyncs per partition, so one request naming 30,000
 * new topics would keep the disk busy for minutes. The others are answered
 * LEADER_NOT_AVAILABLE, as Kafka answers topics whose creation is under
 * way (it creates them asynchronously); clients retry, and each retry
 * creates the next ones. The creation itself runs on the worker's admin lane
 * (worker.c) while the request is parked, so the loop serves everyone else
 * meanwhile; the answer is built once the topics exist.
 * v10+ carries topic ids; v12+ may name a topic by id only.
 *
 * Also the broker's description of itself: DescribeCluster and
 * DescribeLogDirs (the one log directory, its partitions' sizes).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "kafka.h"

/* Topics one Metadata request may auto-create (see the top). */
#define METADATA_CREATE_MAX 100

typedef kafka_metadata_response_topic mtopic;
typedef kafka_metadata_response_partition mpart;

static const uint8_t zero_id[16];

static int fill_topic(kafka_req *r, mtopic *t, const nd_topic_info *info) {
  kafka_metadata_request *req = r->body;
  int32_t node = r->b->cfg.node_id;
  if (req->include_topic_authorized_operations)
    t->topic_authorized_operations = kafka_authorized_ops(
        r, ACL_RES_TOPIC, info->name, strlen(info->name), KAFKA_OPS_TOPIC);
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

/* What a Metadata request's auto-creation carries to the worker. */
typedef struct create_job {
  kafka_req *r;
  int32_t n;         /* topics to create */
  const char **name; /* [n], views into the request */
  int *rc;           /* [n], nd_topic_create's */
  int32_t partitions;
  nd_topic_config cfg;
  int8_t *state; /* per requested topic: CREATE_* */
} create_job;

enum { CREATE_NONE, CREATE_TRIED, CREATE_LATER, CREATE_DENIED };

/* The cluster's authorized operations: none unless the principal may
 * DESCRIBE the cluster (KafkaApis asks that first, without logging). */
static int32_t cluster_ops(kafka_req *r) {
  if (kafka_authz_on(r) &&
      !kafka_authorize_quiet(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
                             sizeof ACL_CLUSTER_NAME - 1, ACL_OP_DESCRIBE))
    return 0;
  return kafka_authorized_ops(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
                              sizeof ACL_CLUSTER_NAME - 1, KAFKA_OPS_CLUSTER);
}

static kafka_metadata_response *new_response(kafka_req *r) {
  kafka_metadata_request *req = r->body;
  broker *b = r->b;
  kafka_metadata_response *resp =
      kf_new(&r->arena, &kafka_metadata_response_desc);
  kafka_metadata_response_broker *br =
      kf_new_array(&r->arena, &kafka_metadata_response_broker_desc, 1);
  if (!resp || !br)
    return NULL;
  br->node_id = b->cfg.node_id;
  br->host = kafka_str(r, kafka_advertised_host(b, r->session->listener));
  br->port = kafka_advertised_port(b, r->session->listener);
  br->rack = kf_null_str();
  resp->brokers.items = br;
  resp->brokers.count = 1;
  resp->cluster_id = kafka_str(r, r->k->cluster_id);
  resp->controller_id = b->cfg.node_id;
  /* v8-10 only (the field is gone from v11, KIP-700), as Kafka. */
  if (req->include_cluster_authorized_operations)
    resp->cluster_authorized_operations = cluster_ops(r);
  return resp;
}

static int answer_all(kafka_req *r) {
  broker *b = r->b;
  kafka_metadata_response *resp = new_response(r);
  if (!resp)
    return -1;
  nd_topic_info *infos = NULL;
  size_t n = 0;
  if (nd_topic_list(b->store, &infos, &n) != 0) {
    kafka_log(r, BLOG_ERROR, "listing topics failed: %s", nd_errmsg());
    n = 0;
  }
  mtopic *ts =
      kf_new_array(&r->arena, &kafka_metadata_response_topic_desc, (int32_t)n);
  if (n && !ts) {
    nd_free(infos);
    return -1;
  }
  /* Topics the principal may not DESCRIBE are left out (not an error:
   * invisible, as Kafka answers a request for all topics). */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!kafka_authorize_quiet(r, ACL_RES_TOPIC, infos[i].name,
                               strlen(infos[i].name), ACL_OP_DESCRIBE))
      continue;
    if (fill_topic(r, &ts[k++], &infos[i])) {
      nd_free(infos);
      return -1;
    }
  }
  nd_free(infos);
  resp->topics.items = ts;
  resp->topics.count = (int32_t)k;
  kafka_respond(r, resp);
  return 0;
}

/* The named topics as they are now; j says which ones auto-creation
 * tried (NULL: none). */
static int answer_named(kafka_req *r, const create_job *j) {
  kafka_metadata_request *req = r->body;
  broker *b = r->b;
  kafka_metadata_response *resp = new_response(r);
  int32_t n = req->topics.count;
  mtopic *ts = kf_new_array(&r->arena, &kafka_metadata_response_topic_desc, n);
  if (!resp || (n && !ts))
    return -1;
  int32_t k = 0; /* j's topic for request topic i */
  for (int32_t i = 0; i < n; i++) {
    kafka_metadata_request_topic *q = &req->topics.items[i];
    mtopic *t = &ts[i];
    nd_topic_info info;
    int rc;
    int8_t state = j ? j->state[i] : CREATE_NONE;
    if (q->name.len < 0 ||
        (q->name.len == 0 && memcmp(q->topic_id.b, zero_id, 16) != 0)) {
      /* Lookup by id (v12+). The Java client asks so with the name at
       * the schema's default, "" (MetadataRequest.Builder by topic ids:
       * how KIP-848 consumers with a pattern learn their topics' names);
       * Kafka goes by a non-zero id whatever the name. */
      t->topic_id = q->topic_id;
      t->name = kf_null_str();
      if (memcmp(q->topic_id.b, zero_id, 16) == 0) {
        t->error_code = KERR_INVALID_REQUEST;
        continue;
      }
      t->error_code = kafka_topic_resolve(r, KAFKA_TOPIC_BY_ID, q->name,
                                          q->topic_id.b, 0, &info, NULL, NULL);
      if (t->error_code)
        continue;
      /* Ids are not secret: a denied one is answered by id, unnamed. */
      if (!kafka_authorize(r, ACL_RES_TOPIC, info.name, strlen(info.name),
                           ACL_OP_DESCRIBE)) {
        t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
    } else {
      t->name = q->name;
      /* DESCRIBE before anything else, so a denied principal learns
       * nothing of the topic (Kafka leaves its operations unset). */
      if (!kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_DESCRIBE)) {
        t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      /* Kafka fills in the operations of every topic it names in the
       * answer, those with an error too (KafkaApis sets them after the
       * lookup), and clients decode them: kafka-python's admin fails on
       * the "not asked for" value when it asked. */
      if (req->include_topic_authorized_operations)
        t->topic_authorized_operations = kafka_authorized_ops(
            r, ACL_RES_TOPIC, q->name.ptr ? q->name.ptr : "",
            (size_t)q->name.len, KAFKA_OPS_TOPIC);
      if (!kafka_cstr_ok(q->name) || nd_topic_name_valid(q->name.ptr) != 0) {
        t->error_code = KERR_INVALID_TOPIC_EXCEPTION;
        continue;
      }
      rc = nd_topic_describe(b->store, q->name.ptr, &info);
      if (state == CREATE_TRIED) {
        int crc = j->rc[k++];
        if (rc == ND_ENOTOPIC && crc != 0)
          rc = crc;
      }
      if (rc == ND_ENOTOPIC && state == CREATE_DENIED) {
        t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      if (rc == ND_ENOTOPIC && state == CREATE_LATER) {
        t->error_code = KERR_LEADER_NOT_AVAILABLE;
        continue;
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

/* On the worker's admin lane. */
static void create_run(void *arg) {
  create_job *j = arg;
  for (int32_t i = 0; i < j->n; i++) {
    int rc =
        nd_topic_create(j->r->b->store, j->name[i], j->partitions, &j->cfg);
    j->rc[i] = rc == ND_ETOPICEXISTS ? 0 : rc;
    if (rc == 0)
      kafka_log_topic(j->r, BLOG_INFO, j->name[i],
                      "created topic %s with %d partition(s)", j->name[i],
                      j->partitions);
  }
}

static int answer_created(kafka_req *r, void *arg) {
  return answer_named(r, arg);
}

/* Back on the loop thread. */
static void create_done(void *arg) {
  create_job *j = arg;
  kafka_answer_parked(j->r, answer_created, j);
}

int handle_metadata(kafka_req *r) {
  kafka_metadata_request *req = r->body;
  broker *b = r->b;
  /* v0: an empty list means all topics; v1+: null means all, empty none. */
  if (req->topics.count < 0 || (r->version == 0 && req->topics.count == 0))
    return answer_all(r);
  /* allow_auto_topic_creation defaults to true in versions without it. */
  int32_t n = req->topics.count;
  if (!b->cfg.auto_create || !req->allow_auto_topic_creation || n == 0)
    return answer_named(r, NULL);
  create_job *j = kf_alloc(&r->arena, sizeof *j);
  if (!j)
    return -1;
  memset(j, 0, sizeof *j);
  j->r = r;
  j->state = kf_alloc(&r->arena, (size_t)n);
  j->name = kf_alloc(&r->arena, (size_t)n * sizeof *j->name);
  j->rc = kf_alloc(&r->arena, (size_t)n * sizeof *j->rc);
  if (!j->state || !j->name || !j->rc)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kafka_metadata_request_topic *q = &req->topics.items[i];
    nd_topic_info info;
    j->state[i] = CREATE_NONE;
    if (q->name.len < 0 || !kafka_cstr_ok(q->name) ||
        nd_topic_name_valid(q->name.ptr) != 0 ||
        nd_topic_describe(b->store, q->name.ptr, &info) != ND_ENOTOPIC)
      continue;
    /* With ACLs: only topics the principal may see (the others are
     * answered TOPIC_AUTHORIZATION_FAILED below) and create: CREATE on the
     * cluster or the topic, else TOPIC_AUTHORIZATION_FAILED too, as Kafka
     * answers a topic it would auto-create for someone else. */
    if (kafka_authz_on(r)) {
      if (!kafka_authorize_quiet(r, ACL_RES_TOPIC, q->name.ptr,
                                 (size_t)q->name.len, ACL_OP_DESCRIBE))
        continue;
      if (!kafka_authorize_quiet(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
                                 sizeof ACL_CLUSTER_NAME - 1, ACL_OP_CREATE) &&
          !kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_CREATE)) {
        j->state[i] = CREATE_DENIED;
        continue;
      }
    }
    if (j->n == METADATA_CREATE_MAX) {
      j->state[i] = CREATE_LATER;
      continue;
    }
    j->state[i] = CREATE_TRIED;
    j->name[j->n++] = q->name.ptr;
  }
  if (j->n == 0)
    return answer_named(r, j);
  j->partitions = b->cfg.default_partitions > 0 ? b->cfg.default_partitions : 1;
  j->cfg = *kafka_topic_defaults(b);
  j->cfg.overrides = ND_TOPIC_OVERRIDES_EXACT; /* none: all follow */
  return kafka_run_on_worker(r, create_run, create_done, j);
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
  br->host = kafka_str(r, kafka_advertised_host(b, r->session->listener));
  br->port = kafka_advertised_port(b, r->session->listener);
  br->rack = kf_null_str();
  resp->endpoint_type = req->endpoint_type;
  resp->cluster_id = kafka_str(r, r->k->cluster_id);
  resp->controller_id = b->cfg.node_id;
  if (req->include_cluster_authorized_operations)
    resp->cluster_authorized_operations = cluster_ops(r);
  resp->brokers.items = br;
  resp->brokers.count = 1;
  kafka_respond(r, resp);
  return 0;
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
  /* DESCRIBE on the cluster, else no log directories and the error
   * (KafkaApis.handleDescribeLogDirsRequest). */
  if (!kafka_authorize_cluster(r, ACL_OP_DESCRIBE)) {
    resp->error_code = KERR_CLUSTER_AUTHORIZATION_FAILED;
    resp->results.count = 0;
    kafka_respond(r, resp);
    return 0;
  }
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
