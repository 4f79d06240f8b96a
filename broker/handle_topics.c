/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_topics.c — topics and their partitions: CreateTopics,
 * DeleteTopics and CreatePartitions. Creating and deleting run on the
 * worker's admin lane (worker.c) while the request is parked.
 *
 * One broker holds every replica, so a replication factor above 1 is
 * refused the way Kafka refuses one above its broker count, and manual
 * assignments must name node 0 only. Topic configs are checked by
 * handle_configs.c (kafka_apply_config).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

/* ---- CreateTopics ------------------------------------------------------- */

/* Topics are checked on the loop, created on the worker's admin lane (a
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
    kafka_log_topic(r, BLOG_INFO, name, "created topic %s with %d partition(s)",
                    name, j->parts[i]);
    nd_topic_info info;
    if (nd_topic_describe(r->b->store, name, &info) == 0)
      memcpy(t->topic_id.b, info.id, 16);
  }
}

/* Each topic that is (or would be) created is answered with its config. */
static int topics_answer(topics_job *j) {
  kafka_req *r = j->r;
  broker *b = r->b;
  for (int32_t i = 0; i < j->resp->topics.count; i++)
    kafka_log_refusal(r, "create topic", j->resp->topics.items[i].name,
                      j->resp->topics.items[i].error_code,
                      j->resp->topics.items[i].error_message);
  const char *const *names = nd_topic_config_names();
  int32_t nc = 0;
  while (names[nc])
    nc++;
  /* The fixed settings too, as DescribeConfigs lists them: Kafka's answer
   * names every topic config. */
  int32_t nfixed = 0;
  while (kafka_fixed_configs[nfixed].name)
    nfixed++;
  for (int32_t i = 0; i < j->resp->topics.count; i++) {
    kafka_create_topics_response_creatable_topic_result *t =
        &j->resp->topics.items[i];
    if (t->error_code)
      continue;
    /* Its configs only for a principal that may DESCRIBE_CONFIGS it
     * (ControllerApis.createTopics). */
    if (!kafka_authorize_quiet(r, ACL_RES_TOPIC, t->name.ptr,
                               (size_t)t->name.len, ACL_OP_DESCRIBE_CONFIGS)) {
      t->topic_config_error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      continue;
    }
    kafka_create_topics_response_creatable_topic_configs *cs = kf_new_array(
        &r->arena, &kafka_create_topics_response_creatable_topic_configs_desc,
        nc + nfixed);
    if (!cs)
      return -1;
    for (int32_t k = 0; k < nc; k++) {
      char val[128];
      cs[k].name = kf_s(names[k]);
      if (nd_topic_config_get(&j->cfg[i], names[k], val, sizeof val) != 0)
        val[0] = 0;
      cs[k].value = kafka_str(r, val);
      /* The topic's own, else the broker level it follows. */
      const char *ln[3], *lv[3];
      int ls[3];
      int nl = dynconfig_topic_levels(b, names[k], ln, lv, ls);
      cs[k].config_source = kafka_topic_config_own(&j->cfg[i], names[k]) ? 1
                            : nl                                         ? ls[0]
                                                                         : 5;
      /* A setting the request gave is answered as given (" compact ,
       * delete ", "1" for a ratio), set on the topic, as Kafka 4.4 echoes
       * it; DescribeConfigs shows the value as read. */
      const kafka_create_topics_request_creatable_topic *q =
          &((kafka_create_topics_request *)r->body)->topics.items[i];
      for (int32_t g = q->configs.count - 1; g >= 0; g--) {
        const kafka_create_topics_request_creatable_topic_config *qc =
            &q->configs.items[g];
        if (kafka_cstr_ok(qc->name) && kafka_cstr_ok(qc->value) &&
            !strcmp(qc->name.ptr, names[k])) {
          cs[k].value = qc->value;
          cs[k].config_source = 1;
          break;
        }
      }
    }
    for (int32_t k = 0; k < nfixed; k++) {
      cs[nc + k].name = kf_s(kafka_fixed_configs[k].name);
      cs[nc + k].value = kf_s(kafka_fixed_configs[k].value);
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
    /* CREATE on the cluster or on the topic, before the name is looked at
     * (ControllerApis.createTopics, with its message). */
    if (kafka_authz_on(r) &&
        !kafka_authorize_quiet(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
                               sizeof ACL_CLUSTER_NAME - 1, ACL_OP_CREATE) &&
        !kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_CREATE)) {
      t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      t->error_message = kf_s("Authorization failed.");
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
    cfg->overrides = ND_TOPIC_OVERRIDES_EXACT; /* what the request names */
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

/* As CreateTopics: found on the loop, deleted on the worker's admin lane (every
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
      kafka_log_topic(j->r, BLOG_INFO, t->name.ptr, "deleted topic %s",
                      t->name.ptr);
    }
  }
}

static void delete_log_refusals(kafka_req *r,
                                kafka_delete_topics_response *resp) {
  for (int32_t i = 0; i < resp->responses.count; i++)
    kafka_log_refusal(r, "delete topic", resp->responses.items[i].name,
                      resp->responses.items[i].error_code,
                      resp->responses.items[i].error_message);
}

static int deleted_answer(kafka_req *r, void *arg) {
  delete_job *j = arg;
  delete_log_refusals(r, j->resp);
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
    /* DELETE on the topic (which implies DESCRIBE): by name before it is
     * looked up, by id once it is found (ids are not secret). */
    if (!by_id && kafka_cstr_ok(name) &&
        !kafka_authorize_str(r, ACL_RES_TOPIC, name, ACL_OP_DELETE)) {
      t->name = name;
      t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      continue;
    }
    t->error_code = kafka_topic_resolve(
        r, by_id ? KAFKA_TOPIC_BY_ID : 0, name, t->topic_id.b,
        KERR_INVALID_TOPIC_EXCEPTION, &info, &r->arena, &found);
    if (by_id && t->error_code == KERR_NONE &&
        !kafka_authorize(r, ACL_RES_TOPIC, found, strlen(found),
                         ACL_OP_DELETE)) {
      t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      continue;
    }
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
    delete_log_refusals(r, resp);
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

/* As CreateTopics: checked on the loop, the partitions made on the
 * worker's admin lane. */
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
      kafka_log_topic(r, BLOG_INFO, q->name.ptr,
                      "topic %s now has %d partitions", q->name.ptr, q->count);
    }
  }
}

static void parts_log_refusals(kafka_req *r,
                               kafka_create_partitions_response *resp) {
  for (int32_t i = 0; i < resp->results.count; i++)
    kafka_log_refusal(r, "add partitions to topic", resp->results.items[i].name,
                      resp->results.items[i].error_code,
                      resp->results.items[i].error_message);
}

static int parts_answer(kafka_req *r, void *arg) {
  parts_job *j = arg;
  parts_log_refusals(r, j->resp);
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
    if (!kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_ALTER)) {
      t->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
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
    parts_log_refusals(r, resp);
    kafka_respond(r, resp);
    return 0;
  }
  return kafka_run_on_worker(r, parts_create, parts_created, job);
}
