/*
 * handle_producers.c — producer ids and state: InitProducerId and
 * DescribeProducers.
 *
 * Producer ids (always a new one with epoch 0, as Kafka does for a
 * producer without a transactional id) are handed out from a counter
 * persisted in DATA/broker-producer-ids in blocks (written atomically before a
 * block is used), so ids never repeat across restarts and the store's
 * per-producer sequence state never meets a recycled id.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"

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
