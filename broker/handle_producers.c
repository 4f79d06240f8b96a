/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_producers.c — producer ids and state: InitProducerId and
 * DescribeProducers.
 *
 * Producer ids (always a new one with epoch 0, as Kafka does for a
 * producer without a transactional id) come from the store's durable
 * counter (nd_producer_id_new), so ids never repeat across restarts and the
 * store's per-producer sequence state never meets a recycled id. A
 * transactional id's producer is the coordinator's (handle_txn.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"

/* ---- InitProducerId ----------------------------------------------------- */

int handle_init_producer_id(kafka_req *r) {
  kafka_init_producer_id_request *req = r->body;
  /* With ACLs (KafkaApis.handleInitProducerIdRequest): WRITE on the
   * transactional id; without one, IDEMPOTENT_WRITE on the cluster or
   * WRITE on some topic (KIP-679). */
  int16_t denied = 0;
  if (kafka_authz_on(r)) {
    if (req->transactional_id.len >= 0) {
      if (!kafka_authorize_str(r, ACL_RES_TRANSACTIONAL_ID,
                               req->transactional_id, ACL_OP_WRITE))
        denied = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (!kafka_authorize_cluster(r, ACL_OP_IDEMPOTENT_WRITE) &&
               !kafka_authorize_any(r, ACL_RES_TOPIC, ACL_OP_WRITE)) {
      denied = KERR_CLUSTER_AUTHORIZATION_FAILED;
    }
  }
  if (!denied && req->transactional_id.len >= 0)
    return handle_init_producer_id_txn(r); /* handle_txn.c */
  kafka_init_producer_id_response *resp =
      kf_new(&r->arena, &kafka_init_producer_id_response_desc);
  if (!resp)
    return -1;
  resp->producer_id = -1;
  resp->producer_epoch = -1;
  if (denied) {
    resp->error_code = denied;
    kafka_respond(r, resp);
    return 0;
  }
  /* Without a transactional id Kafka always hands out a fresh id with
   * epoch 0, whatever id and epoch the request names (clients differ in
   * what they send there), and so do we. The id comes from the store's
   * durable counter, shared with the transactional ids' producers. It
   * reserves ids in blocks, so the call writes only once a block. */
  int64_t pid = -1;
  int rc = nd_producer_id_new(r->b->store, &pid);
  if (rc != 0) {
    resp->error_code = kafka_err(rc);
    kafka_log(r, BLOG_ERROR,
              "cannot hand out a producer id: %s; answered " KAFKA_ERR_FMT,
              nd_errmsg(), KAFKA_ERR_ARGS(resp->error_code));
  } else {
    resp->producer_id = pid;
    resp->producer_epoch = 0;
  }
  kafka_respond(r, resp);
  return 0;
}

/* ---- DescribeProducers -------------------------------------------------- */

/* The producers each asked-for partition knows, from libnodata's
 * per-partition producer state, with the first offset of a producer's
 * open transaction there (current_txn_start_offset, -1 without one).
 * The coordinator epoch is the one the producer's last transaction marker
 * carried in the partition (0: nodata's one coordinator never moves), -1
 * before any marker, as Kafka's ProducerStateEntry.coordinatorEpoch. */
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
    int denied = q->partition_indexes.count > 0 &&
                 !kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_READ);
    int32_t np =
        q->partition_indexes.count > 0 ? q->partition_indexes.count : 0;
    kafka_describe_producers_response_partition_response *ps = kf_new_array(
        &r->arena, &kafka_describe_producers_response_partition_response_desc,
        np);
    if (np && !ps)
      return -1;
    for (int32_t j = 0; j < np; j++) {
      ps[j].partition_index = q->partition_indexes.items[j];
      if (denied) {
        ps[j].error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
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
        st[k].coordinator_epoch = list[k].coordinator_epoch;
        st[k].current_txn_start_offset = list[k].txn_start_offset;
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
