/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_txn.c — /api/transactions and /api/topics/{t}/producers
 * (docs/http-api.md, "Transactions and producers"), what
 * kafka-transactions.sh list/describe/describe-producers show:
 *   ListTransactions v1 then DescribeTransactions v0 for all the ids it
 *   names (two round trips however many transactions there are);
 *   Metadata v12 for the topic's partitions, then DescribeProducers v0
 *   for all of them.
 */
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "kafka_errors.h"
#include "kafka_msgs.h"

enum {
  K_METADATA = 3,
  K_DESCRIBE_PRODUCERS = 61,
  K_DESCRIBE_TRANSACTIONS = 65,
  K_LIST_TRANSACTIONS = 66,
};

static void kstr(jw *w, kf_str s) {
  if (s.len < 0)
    jw_null(w);
  else
    jw_strn(w, s.ptr, (size_t)s.len);
}

static int oom(console_call *cc) {
  return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
}

static int kf_cmp(kf_str a, kf_str b) {
  size_t n = (size_t)(a.len < b.len ? a.len : b.len);
  int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
  return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int txn_cmp(const void *a, const void *b) {
  const kafka_describe_transactions_response_transaction_state *x = a, *y = b;
  return kf_cmp(x->transactional_id, y->transactional_id);
}

static void
write_txn(jw *w,
          const kafka_describe_transactions_response_transaction_state *t) {
  jw_obj(w);
  jw_key(w, "transactional_id");
  kstr(w, t->transactional_id);
  jw_key(w, "state");
  kstr(w, t->transaction_state);
  jw_kint(w, "producer_id", t->producer_id);
  jw_kint(w, "producer_epoch", t->producer_epoch);
  jw_kint(w, "timeout_ms", t->transaction_timeout_ms);
  jw_key(w, "start_ms");
  if (t->transaction_start_time_ms >= 0)
    jw_int(w, t->transaction_start_time_ms);
  else
    jw_null(w); /* no transaction open */
  jw_key(w, "partitions");
  jw_arr(w);
  for (int32_t i = 0; i < t->topics.count; i++)
    for (int32_t p = 0; p < t->topics.items[i].partitions.count; p++) {
      jw_obj(w);
      jw_key(w, "topic");
      kstr(w, t->topics.items[i].topic);
      jw_kint(w, "partition", t->topics.items[i].partitions.items[p]);
      jw_end(w);
    }
  jw_end(w);
  if (t->error_code) {
    jw_key(w, "error");
    jw_obj(w);
    jw_kstr(w, "code", kafka_err_name(t->error_code));
    jw_kstr(w, "message", kafka_err_text(t->error_code));
    jw_end(w);
  }
  jw_end(w);
}

static int transactions(console_call *cc) {
  kafka_list_transactions_request *lq =
      console_new_req(cc, K_LIST_TRANSACTIONS);
  if (lq) {
    lq->state_filters.count = 0;
    lq->producer_id_filters.count = 0;
    lq->duration_filter = -1;
  }
  kafka_list_transactions_response *l;
  if (console_kafka(cc, K_LIST_TRANSACTIONS, 1, lq, (void **)&l) < 0)
    return -1;
  if (l->error_code)
    return console_kafka_error(cc, l->error_code, kf_null_str(),
                               "transactions");
  kafka_describe_transactions_response *d = NULL;
  int32_t n = l->transaction_states.count;
  if (n > 0) {
    kafka_describe_transactions_request *dq =
        console_new_req(cc, K_DESCRIBE_TRANSACTIONS);
    kf_str *ids = kf_alloc(&cc->arena, (size_t)n * sizeof *ids);
    if (!dq || !ids)
      return oom(cc);
    for (int32_t i = 0; i < n; i++)
      ids[i] = l->transaction_states.items[i].transactional_id;
    dq->transactional_ids.items = ids;
    dq->transactional_ids.count = n;
    if (console_kafka(cc, K_DESCRIBE_TRANSACTIONS, 0, dq, (void **)&d) < 0)
      return -1;
    if (d->transaction_states.count > 1)
      qsort(d->transaction_states.items, (size_t)d->transaction_states.count,
            sizeof *d->transaction_states.items, txn_cmp);
  }
  jw *w = console_json(cc);
  jw_obj(w);
  jw_key(w, "transactions");
  jw_arr(w);
  for (int32_t i = 0; d && i < d->transaction_states.count; i++) {
    /* One that ended and expired between the two calls is gone. */
    if (d->transaction_states.items[i].error_code ==
        KERR_TRANSACTIONAL_ID_NOT_FOUND)
      continue;
    write_txn(w, &d->transaction_states.items[i]);
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

static int producers(console_call *cc) {
  const char *topic = cc->params[0];
  kafka_metadata_request *mq = console_new_req(cc, K_METADATA);
  kafka_metadata_request_topic *mt =
      kf_new_array(&cc->arena, &kafka_metadata_request_topic_desc, 1);
  if (!mq || !mt)
    return oom(cc);
  mt->name = kf_s(topic);
  mq->topics.items = mt;
  mq->topics.count = 1;
  mq->allow_auto_topic_creation = 0;
  kafka_metadata_response *m;
  if (console_kafka(cc, K_METADATA, 12, mq, (void **)&m) < 0)
    return -1;
  if (m->topics.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "Metadata answered %d topics for one",
                         (int)m->topics.count);
  if (m->topics.items[0].error_code)
    return console_kafka_error(cc, m->topics.items[0].error_code, kf_null_str(),
                               topic);
  int32_t n = m->topics.items[0].partitions.count;

  kafka_describe_producers_response *r = NULL;
  if (n > 0) {
    kafka_describe_producers_request *rq =
        console_new_req(cc, K_DESCRIBE_PRODUCERS);
    kafka_describe_producers_request_topic_request *t = kf_new_array(
        &cc->arena, &kafka_describe_producers_request_topic_request_desc, 1);
    int32_t *ps = kf_alloc(&cc->arena, (size_t)n * sizeof *ps);
    if (!rq || !t || !ps)
      return oom(cc);
    for (int32_t i = 0; i < n; i++)
      ps[i] = m->topics.items[0].partitions.items[i].partition_index;
    t->name = kf_s(topic);
    t->partition_indexes.items = ps;
    t->partition_indexes.count = n;
    rq->topics.items = t;
    rq->topics.count = 1;
    if (console_kafka(cc, K_DESCRIBE_PRODUCERS, 0, rq, (void **)&r) < 0)
      return -1;
  }
  jw *w = console_json(cc);
  jw_obj(w);
  jw_key(w, "partitions");
  jw_arr(w);
  /* In partition order, whatever order the answer has. */
  for (int32_t want = 0; r && want < n; want++)
    for (int32_t i = 0; i < r->topics.count; i++)
      for (int32_t j = 0; j < r->topics.items[i].partitions.count; j++) {
        kafka_describe_producers_response_partition_response *p =
            &r->topics.items[i].partitions.items[j];
        if (p->partition_index != want)
          continue;
        jw_obj(w);
        jw_kint(w, "partition", p->partition_index);
        if (p->error_code) {
          jw_key(w, "error");
          jw_obj(w);
          jw_kstr(w, "code", kafka_err_name(p->error_code));
          jw_key(w, "message");
          if (p->error_message.len > 0)
            kstr(w, p->error_message);
          else
            jw_str(w, kafka_err_text(p->error_code));
          jw_end(w);
        }
        jw_key(w, "producers");
        jw_arr(w);
        for (int32_t k = 0; k < p->active_producers.count; k++) {
          kafka_describe_producers_response_producer_state *s =
              &p->active_producers.items[k];
          jw_obj(w);
          jw_kint(w, "producer_id", s->producer_id);
          jw_kint(w, "producer_epoch", s->producer_epoch);
          jw_kint(w, "last_sequence", s->last_sequence);
          jw_kint(w, "last_timestamp_ms", s->last_timestamp);
          jw_kint(w, "coordinator_epoch", s->coordinator_epoch);
          jw_key(w, "current_txn_start_offset");
          if (s->current_txn_start_offset >= 0)
            jw_int(w, s->current_txn_start_offset);
          else
            jw_null(w); /* not in a transaction */
          jw_end(w);
        }
        jw_end(w);
        jw_end(w);
      }
  jw_end(w);
  jw_end(w);
  return 0;
}

const console_route console_txn_routes[] = {
    {"GET", "/api/transactions", transactions, 0},
    {"GET", "/api/topics/{}/producers", producers, 0},
    {NULL, NULL, NULL, 0},
};
