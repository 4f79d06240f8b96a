/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_txn.c — Kafka's transaction APIs over libnodata's coordinator
 * (nd_txn_*): InitProducerId with a transactional id, AddPartitionsToTxn,
 * AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions and
 * ListTransactions.
 *
 * The library owns every durable fact (docs/protocol.md, "Transactions");
 * these handlers only translate, and answer as Kafka 4.4's KafkaApis and
 * TransactionCoordinator do (each answer compared with a real broker by
 * tests/compat/test_diff_txn_protocol.py).
 *
 * Every nd_txn_* call that changes state is durable (fdatasync'd) before
 * it returns, and EndTxn writes and syncs a marker per partition: none of
 * it may run on the event loop. The calls run on the worker's txn lanes
 * (broker.h), a transactional id always on the same lane, so one
 * producer's requests are done in arrival order while other producers'
 * overlap; the request is parked meanwhile and answered from the loop.
 *
 * Fenced producers: Kafka answers PRODUCER_FENCED (90) from the versions
 * that know it (KIP-588: InitProducerId v4, AddPartitionsToTxn,
 * AddOffsetsToTxn and EndTxn v2, TxnOffsetCommit v3) and
 * INVALID_PRODUCER_EPOCH (47) to older ones, which handle it the same way.
 */
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"
#include "group.h"
#include "kafka.h"

/* ---- running library calls on a txn lane -------------------------------- */

typedef struct txn_work txn_work;
struct txn_work {
  kafka_req *r;
  const char *tid;
  /* Lane thread: the library call(s); returns the nd_* result. */
  int (*call)(txn_work *w);
  /* Loop thread: build and send the answer (kafka_respond); -1 when out of
   * memory. */
  int (*answer)(kafka_req *r, txn_work *w);
  int rc;
  char msg[256]; /* nd_errmsg() of the lane thread for rc */
};

static void work_run(void *arg) {
  txn_work *w = arg;
  w->rc = w->call(w);
  snprintf(w->msg, sizeof w->msg, "%s", w->rc ? nd_errmsg() : "");
}

static int work_answer(kafka_req *r, void *arg) {
  txn_work *w = arg;
  return w->answer(r, w);
}

static void work_done(void *arg) {
  txn_work *w = arg;
  kafka_answer_parked(w->r, work_answer, w);
}

static uint64_t tid_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

int kafka_txn_lane(const char *tid) {
  return WORKER_LANE_TXN + (int)(tid_hash(tid) % WORKER_TXN_LANES);
}

/* Park r and run w->call on tid's lane; w lives in r's arena. */
static int txn_submit(kafka_req *r, txn_work *w) {
  w->r = r;
  return kafka_run_on_lane(r, kafka_txn_lane(w->tid), work_run, work_done, w);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The Kafka error for a coordinator call's rc. `fenced_from` is the first
 * version of the API that knows PRODUCER_FENCED. */
static int16_t txn_err(kafka_req *r, int rc, int fenced_from) {
  switch (rc) {
  case 0:
    return 0;
  case ND_EPRODUCERFENCED:
    return r->version >= fenced_from ? KERR_PRODUCER_FENCED
                                     : KERR_INVALID_PRODUCER_EPOCH;
  case ND_ENOTFOUND: /* an unknown transactional id, as Kafka answers it */
  case ND_EPRODUCERID:
    return KERR_INVALID_PRODUCER_ID_MAPPING;
  case ND_EINVAL:
    return KERR_INVALID_REQUEST;
  default:
    return kafka_err(rc);
  }
}

/* Log what the client is not told in words: a failure of the store, and
 * every fencing (an operator wants to know a zombie was stopped). */
static void txn_log_for(kafka_req *r, const char *tid, const char *msg,
                        int16_t err) {
  if (err == KERR_PRODUCER_FENCED || err == KERR_INVALID_PRODUCER_EPOCH)
    kafka_log(
        r, BLOG_WARN,
        "transactional id %s: producer fenced: %s; answered " KAFKA_ERR_FMT,
        tid, msg, KAFKA_ERR_ARGS(err));
  else if (err == KERR_INVALID_TXN_STATE)
    /* Fatal to a librdkafka producer: the coordinator's state is the
     * evidence of why. */
    kafka_log(r, BLOG_INFO, "transactional id %s: %s; answered " KAFKA_ERR_FMT,
              tid, msg, KAFKA_ERR_ARGS(err));
  else if (err == KERR_KAFKA_STORAGE_ERROR || err == KERR_UNKNOWN_SERVER_ERROR)
    kafka_log(r, BLOG_ERROR, "transactional id %s: %s; answered " KAFKA_ERR_FMT,
              tid, msg, KAFKA_ERR_ARGS(err));
}

static void txn_log(kafka_req *r, txn_work *w, int16_t err) {
  txn_log_for(r, w->tid, w->msg, err);
}

/* A transactional id Kafka accepts: not null, not empty. */
static const char *tid_of(kf_str s) {
  return kafka_cstr_ok(s) && s.len > 0 ? s.ptr : NULL;
}

/* ---- InitProducerId ----------------------------------------------------- */

typedef struct {
  txn_work w;
  int32_t timeout_ms;
  int64_t expected_pid;
  int16_t expected_epoch;
  int64_t pid;
  int16_t epoch;
} init_work;

static int init_call(txn_work *w) {
  init_work *iw = (init_work *)w;
  return nd_txn_init_producer(w->r->b->store, w->tid, iw->timeout_ms,
                              iw->expected_pid, iw->expected_epoch, 0, 0,
                              &iw->pid, &iw->epoch);
}

static int init_answer(kafka_req *r, txn_work *w) {
  init_work *iw = (init_work *)w;
  kafka_init_producer_id_response *resp =
      kf_new(&r->arena, &kafka_init_producer_id_response_desc);
  if (!resp)
    return -1;
  resp->error_code = txn_err(r, w->rc, 4);
  resp->producer_id = w->rc ? -1 : iw->pid;
  resp->producer_epoch = w->rc ? -1 : iw->epoch;
  txn_log(r, w, resp->error_code);
  kafka_respond(r, resp);
  return 0;
}

/* InitProducerId with a transactional id (handle_producers.c hands the
 * others a fresh id). */
int handle_init_producer_id_txn(kafka_req *r) {
  kafka_init_producer_id_request *req = r->body;
  const char *tid = tid_of(req->transactional_id);
  if (!tid) {
    /* Kafka's TransactionCoordinator: an empty id is INVALID_REQUEST. */
    kafka_init_producer_id_response *resp =
        kf_new(&r->arena, &kafka_init_producer_id_response_desc);
    if (!resp)
      return -1;
    resp->error_code = KERR_INVALID_REQUEST;
    resp->producer_id = -1;
    resp->producer_epoch = -1;
    kafka_respond(r, resp);
    return 0;
  }
  init_work *iw = kf_alloc(&r->arena, sizeof *iw);
  if (!iw)
    return -1;
  memset(iw, 0, sizeof *iw);
  iw->w.tid = tid;
  iw->w.call = init_call;
  iw->w.answer = init_answer;
  iw->timeout_ms = req->transaction_timeout_ms;
  iw->expected_pid = r->version >= 3 ? req->producer_id : -1;
  iw->expected_epoch = r->version >= 3 ? req->producer_epoch : -1;
  return txn_submit(r, &iw->w);
}

/* ---- AddPartitionsToTxn ------------------------------------------------- */

typedef kafka_add_partitions_to_txn_request_topic apt_qtopic;
typedef kafka_add_partitions_to_txn_response_topic_result apt_topic;
typedef kafka_add_partitions_to_txn_response_partition_result apt_part;

/* One transaction of the request: its answer per partition. */
typedef struct {
  const char *tid;
  int64_t pid;
  int16_t epoch;
  int verify_only;
  nd_topic_partition *parts;
  int *prc; /* verify_only: each partition's result */
  size_t n;
  apt_topic *topics; /* the answer, shaped like the request */
  int32_t ntopics;
  int16_t pre_err; /* decided before the coordinator (no call then) */
  int rc;
  char msg[256];
} apt_txn;

typedef struct {
  txn_work w;
  apt_txn *txns;
  int32_t n;
} apt_work;

static int apt_call(txn_work *w) {
  apt_work *aw = (apt_work *)w;
  for (int32_t i = 0; i < aw->n; i++) {
    apt_txn *t = &aw->txns[i];
    if (t->pre_err)
      continue;
    if (!t->verify_only) {
      t->rc = nd_txn_add_partitions(w->r->b->store, t->tid, t->pid, t->epoch,
                                    t->parts, t->n, 0, 0);
      snprintf(t->msg, sizeof t->msg, "%s", t->rc ? nd_errmsg() : "");
      continue;
    }
    /* Kafka verifies each partition: those in the transaction are
     * answered NONE, the others TRANSACTION_ABORTABLE. */
    for (size_t k = 0; k < t->n; k++) {
      t->prc[k] =
          nd_txn_add_partitions(w->r->b->store, t->tid, t->pid, t->epoch,
                                &t->parts[k], 1, ND_TXN_VERIFY_ONLY, 0);
      if (t->prc[k] && !t->rc) {
        t->rc = t->prc[k];
        snprintf(t->msg, sizeof t->msg, "%s", nd_errmsg());
      }
    }
  }
  return 0;
}

/* Shape one transaction's answer and decide what Kafka decides before
 * asking the coordinator (KafkaApis.handleAddPartitionsToTxnRequest): a
 * partition the broker does not have is UNKNOWN_TOPIC_OR_PARTITION, and
 * if there is one, every other partition is OPERATION_NOT_ATTEMPTED and
 * the coordinator is not asked. */
static int apt_prepare(kafka_req *r, apt_txn *t, kf_str tid, int64_t pid,
                       int16_t epoch, int verify_only, const apt_qtopic *qts,
                       int32_t nq) {
  t->tid = tid_of(tid);
  t->pid = pid;
  t->epoch = epoch;
  t->verify_only = verify_only;
  nq = nq > 0 ? nq : 0;
  t->topics = kf_new_array(
      &r->arena, &kafka_add_partitions_to_txn_response_topic_result_desc, nq);
  if (nq && !t->topics)
    return -1;
  t->ntopics = nq;
  size_t total = 0;
  for (int32_t i = 0; i < nq; i++)
    total += qts[i].partitions.count > 0 ? (size_t)qts[i].partitions.count : 0;
  t->parts = kf_alloc(&r->arena, (total ? total : 1) * sizeof *t->parts);
  t->prc = kf_alloc(&r->arena, (total ? total : 1) * sizeof *t->prc);
  if (!t->parts || !t->prc)
    return -1;
  /* With ACLs: WRITE on the transactional id (else every partition is
   * TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then WRITE on each topic (a
   * denied one is TOPIC_AUTHORIZATION_FAILED, the others not attempted). */
  int tid_denied =
      t->tid && !kafka_authorize(r, ACL_RES_TRANSACTIONAL_ID, t->tid,
                                 strlen(t->tid), ACL_OP_WRITE);
  int unknown = 0;
  for (int32_t i = 0; i < nq; i++) {
    const apt_qtopic *q = &qts[i];
    int32_t np = q->partitions.count > 0 ? q->partitions.count : 0;
    apt_part *ps = kf_new_array(
        &r->arena, &kafka_add_partitions_to_txn_response_partition_result_desc,
        np);
    if (np && !ps)
      return -1;
    t->topics[i].name = q->name;
    t->topics[i].results_by_partition.items = ps;
    t->topics[i].results_by_partition.count = np;
    nd_topic_info info;
    int denied = !tid_denied && np &&
                 !kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_WRITE);
    int known = kafka_cstr_ok(q->name) &&
                nd_topic_describe(r->b->store, q->name.ptr, &info) == 0;
    for (int32_t j = 0; j < np; j++) {
      ps[j].partition_index = q->partitions.items[j];
      if (denied) {
        ps[j].partition_error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        unknown = 1;
        continue;
      }
      if (!known || ps[j].partition_index < 0 ||
          ps[j].partition_index >= info.partitions) {
        ps[j].partition_error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        unknown = 1;
        continue;
      }
      t->parts[t->n].topic = q->name.ptr;
      t->parts[t->n].partition = ps[j].partition_index;
      t->n++;
    }
  }
  if (!t->tid)
    t->pre_err = KERR_INVALID_REQUEST;
  else if (tid_denied)
    t->pre_err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  else if (unknown)
    t->pre_err = KERR_OPERATION_NOT_ATTEMPTED;
  return 0;
}

/* Every partition gets the transaction's one error (or none), except the
 * unknown ones, which keep theirs when the coordinator was not asked. */
static void apt_finish(kafka_req *r, apt_txn *t) {
  int16_t err = t->pre_err ? t->pre_err : txn_err(r, t->rc, 2);
  if (!t->pre_err && t->rc)
    txn_log_for(r, t->tid, t->msg, err);
  size_t k = 0; /* parts[] holds the known partitions in answer order */
  for (int32_t i = 0; i < t->ntopics; i++) {
    apt_part *ps = t->topics[i].results_by_partition.items;
    for (int32_t j = 0; j < t->topics[i].results_by_partition.count; j++) {
      if (t->pre_err == KERR_OPERATION_NOT_ATTEMPTED &&
          ps[j].partition_error_code)
        continue;
      if (t->verify_only && !t->pre_err && k < t->n) {
        int rc = t->prc[k++];
        ps[j].partition_error_code =
            rc == ND_ETXNSTATE ? KERR_TRANSACTION_ABORTABLE : txn_err(r, rc, 2);
        continue;
      }
      ps[j].partition_error_code = err;
    }
  }
}

static int apt_answer(kafka_req *r, txn_work *w) {
  apt_work *aw = (apt_work *)w;
  kafka_add_partitions_to_txn_response *resp =
      kf_new(&r->arena, &kafka_add_partitions_to_txn_response_desc);
  if (!resp)
    return -1;
  for (int32_t i = 0; i < aw->n; i++)
    apt_finish(r, &aw->txns[i]);
  if (r->version < 4) {
    resp->results_by_topic_v3_and_below.items = aw->txns[0].topics;
    resp->results_by_topic_v3_and_below.count = aw->txns[0].ntopics;
  } else {
    kafka_add_partitions_to_txn_response_result *rs = kf_new_array(
        &r->arena, &kafka_add_partitions_to_txn_response_result_desc, aw->n);
    if (aw->n && !rs)
      return -1;
    for (int32_t i = 0; i < aw->n; i++) {
      rs[i].transactional_id = kafka_str(r, aw->txns[i].tid);
      rs[i].topic_results.items = aw->txns[i].topics;
      rs[i].topic_results.count = aw->txns[i].ntopics;
    }
    resp->results_by_transaction.items = rs;
    resp->results_by_transaction.count = aw->n;
  }
  kafka_respond(r, resp);
  return 0;
}

/* v0-3: the client's form (one transaction). v4+: the broker's batched
 * form (Kafka advertises it to clients too; without an authorizer it
 * serves it), where verify_only checks instead of adding (KIP-890). */
int handle_add_partitions_to_txn(kafka_req *r) {
  kafka_add_partitions_to_txn_request *req = r->body;
  /* v4+ is the brokers' batched form: it needs CLUSTER_ACTION on the
   * cluster (KafkaApis), else the whole request is refused. */
  if (r->version >= 4 && kafka_authz_on(r) &&
      !kafka_authorize_cluster(r, ACL_OP_CLUSTER_ACTION)) {
    kafka_add_partitions_to_txn_response *resp =
        kf_new(&r->arena, &kafka_add_partitions_to_txn_response_desc);
    if (!resp)
      return -1;
    resp->error_code = KERR_CLUSTER_AUTHORIZATION_FAILED;
    resp->results_by_transaction.count = 0;
    kafka_respond(r, resp);
    return 0;
  }
  apt_work *aw = kf_alloc(&r->arena, sizeof *aw);
  if (!aw)
    return -1;
  memset(aw, 0, sizeof *aw);
  aw->w.call = apt_call;
  aw->w.answer = apt_answer;
  aw->n = r->version < 4                ? 1
          : req->transactions.count > 0 ? req->transactions.count
                                        : 0;
  aw->txns = kf_alloc(&r->arena, (aw->n ? aw->n : 1) * sizeof *aw->txns);
  if (!aw->txns)
    return -1;
  memset(aw->txns, 0, (aw->n ? aw->n : 1) * sizeof *aw->txns);
  if (r->version < 4) {
    if (apt_prepare(r, &aw->txns[0], req->v3_and_below_transactional_id,
                    req->v3_and_below_producer_id,
                    req->v3_and_below_producer_epoch, 0,
                    req->v3_and_below_topics.items,
                    req->v3_and_below_topics.count) != 0)
      return -1;
  } else {
    for (int32_t i = 0; i < aw->n; i++) {
      kafka_add_partitions_to_txn_request_transaction *q =
          &req->transactions.items[i];
      if (apt_prepare(r, &aw->txns[i], q->transactional_id, q->producer_id,
                      q->producer_epoch, q->verify_only, q->topics.items,
                      q->topics.count) != 0)
        return -1;
    }
  }
  /* The lane of the first transaction (v0-3: the only one). */
  aw->w.tid = aw->n && aw->txns[0].tid ? aw->txns[0].tid : "";
  int asks = 0;
  for (int32_t i = 0; i < aw->n; i++)
    asks |= !aw->txns[i].pre_err;
  if (!asks) {
    aw->w.r = r;
    return apt_answer(r, &aw->w);
  }
  return txn_submit(r, &aw->w);
}

/* ---- AddOffsetsToTxn ---------------------------------------------------- */

typedef struct {
  txn_work w;
  int64_t pid;
  int16_t epoch;
  const char *group;
} aot_work;

static int aot_call(txn_work *w) {
  aot_work *a = (aot_work *)w;
  return nd_txn_add_offsets(w->r->b->store, w->tid, a->pid, a->epoch, a->group,
                            0);
}

static int aot_answer(kafka_req *r, txn_work *w) {
  kafka_add_offsets_to_txn_response *resp =
      kf_new(&r->arena, &kafka_add_offsets_to_txn_response_desc);
  if (!resp)
    return -1;
  resp->error_code = txn_err(r, w->rc, 2);
  txn_log(r, w, resp->error_code);
  kafka_respond(r, resp);
  return 0;
}

int handle_add_offsets_to_txn(kafka_req *r) {
  kafka_add_offsets_to_txn_request *req = r->body;
  aot_work *a = kf_alloc(&r->arena, sizeof *a);
  if (!a)
    return -1;
  memset(a, 0, sizeof *a);
  a->w.tid = tid_of(req->transactional_id);
  a->w.call = aot_call;
  a->w.answer = aot_answer;
  a->pid = req->producer_id;
  a->epoch = req->producer_epoch;
  a->group = group_cstr(req->group_id);
  /* With ACLs: WRITE on the transactional id, READ on the group. */
  int16_t denied = 0;
  if (!kafka_authorize_str(r, ACL_RES_TRANSACTIONAL_ID, req->transactional_id,
                           ACL_OP_WRITE))
    denied = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  else if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ))
    denied = KERR_GROUP_AUTHORIZATION_FAILED;
  if (denied || !a->w.tid || !group_id_ok(a->group)) {
    kafka_add_offsets_to_txn_response *resp =
        kf_new(&r->arena, &kafka_add_offsets_to_txn_response_desc);
    if (!resp)
      return -1;
    resp->error_code = denied     ? denied
                       : a->w.tid ? KERR_INVALID_GROUP_ID
                                  : KERR_INVALID_REQUEST;
    kafka_respond(r, resp);
    return 0;
  }
  return txn_submit(r, &a->w);
}

/* ---- EndTxn ------------------------------------------------------------- */

typedef struct {
  txn_work w;
  int64_t pid;
  int16_t epoch;
  int commit, v2;
  int64_t new_pid;
  int16_t new_epoch;
} end_work;

static int end_call(txn_work *w) {
  end_work *e = (end_work *)w;
  return nd_txn_end(w->r->b->store, w->tid, e->pid, e->epoch, e->commit,
                    e->v2 ? ND_TXN_V2 : 0, 0, &e->new_pid, &e->new_epoch);
}

static int end_answer(kafka_req *r, txn_work *w) {
  end_work *e = (end_work *)w;
  kafka_end_txn_response *resp =
      kf_new(&r->arena, &kafka_end_txn_response_desc);
  if (!resp)
    return -1;
  resp->error_code = txn_err(r, w->rc, 2);
  resp->producer_id = w->rc ? -1 : e->new_pid;
  resp->producer_epoch = w->rc ? -1 : e->new_epoch;
  txn_log(r, w, resp->error_code);
  kafka_respond(r, resp);
  return 0;
}

/* EndTxn v5+ is the Transactions V2 client's (KIP-890): every EndTxn
 * bumps the epoch and the answer carries the producer's next identity. */
int handle_end_txn(kafka_req *r) {
  kafka_end_txn_request *req = r->body;
  end_work *e = kf_alloc(&r->arena, sizeof *e);
  if (!e)
    return -1;
  memset(e, 0, sizeof *e);
  e->w.tid = tid_of(req->transactional_id);
  e->w.call = end_call;
  e->w.answer = end_answer;
  e->pid = req->producer_id;
  e->epoch = req->producer_epoch;
  e->commit = req->committed != 0;
  e->v2 = r->version >= 5;
  if (!kafka_authorize_str(r, ACL_RES_TRANSACTIONAL_ID, req->transactional_id,
                           ACL_OP_WRITE)) {
    kafka_end_txn_response *resp =
        kf_new(&r->arena, &kafka_end_txn_response_desc);
    if (!resp)
      return -1;
    resp->error_code = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    resp->producer_id = -1;
    resp->producer_epoch = -1;
    kafka_respond(r, resp);
    return 0;
  }
  if (!e->w.tid) {
    e->w.r = r;
    e->w.rc = ND_EINVAL;
    return end_answer(r, &e->w);
  }
  return txn_submit(r, &e->w);
}

/* ---- TxnOffsetCommit ---------------------------------------------------- */

typedef struct {
  txn_work w;
  int64_t pid;
  int16_t epoch;
  const char *group;
  nd_offset_commit *cs;
  int16_t **errs; /* the answer's error of each commit */
  size_t n;
  int v2;
} toc_work;

static int toc_call(txn_work *w) {
  toc_work *t = (toc_work *)w;
  if (t->n == 0)
    return 0;
  return nd_txn_commit_offsets(w->r->b->store, w->tid, t->pid, t->epoch,
                               t->group, t->cs, t->n, t->v2 ? ND_TXN_V2 : 0, 0);
}

static int toc_answer(kafka_req *r, txn_work *w) {
  toc_work *t = (toc_work *)w;
  int16_t err = txn_err(r, w->rc, 3);
  txn_log(r, w, err);
  for (size_t i = 0; i < t->n; i++)
    *t->errs[i] = err;
  kafka_respond(r, r->hctx);
  return 0;
}

/* Kafka's group coordinator checks the group first (a transactional commit
 * may come from a member of the current generation, or with generation -1
 * from outside the group), then the topics, then the transaction. v5+ is
 * the Transactions V2 client's: the group joins the transaction here
 * (there is no AddOffsetsToTxn); v6 names topics by id. */
int handle_txn_offset_commit(kafka_req *r) {
  kafka_txn_offset_commit_request *req = r->body;
  kafka_txn_offset_commit_response *resp =
      kf_new(&r->arena, &kafka_txn_offset_commit_response_desc);
  toc_work *t = kf_alloc(&r->arena, sizeof *t);
  if (!resp || !t)
    return -1;
  memset(t, 0, sizeof *t);
  r->hctx = resp;
  t->w.tid = tid_of(req->transactional_id);
  t->w.call = toc_call;
  t->w.answer = toc_answer;
  t->pid = req->producer_id;
  t->epoch = req->producer_epoch;
  t->group = group_cstr(req->group_id);
  t->v2 = r->version >= 5;
  int16_t gerr = 0;
  /* With ACLs: WRITE on the transactional id, READ on the group, then
   * READ on each topic (KafkaApis.handleTxnOffsetCommitRequest). */
  if (!kafka_authorize_str(r, ACL_RES_TRANSACTIONAL_ID, req->transactional_id,
                           ACL_OP_WRITE))
    gerr = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  else if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ))
    gerr = KERR_GROUP_AUTHORIZATION_FAILED;
  else if (!t->w.tid)
    gerr = KERR_INVALID_REQUEST;
  else if (!group_id_ok(t->group))
    gerr = KERR_INVALID_GROUP_ID;
  else if (r->version >= 3)
    gerr = group_commit_check(
        r, t->group, req->generation_id_or_member_epoch,
        group_cstr(req->member_id) ? group_cstr(req->member_id) : "",
        group_cstr(req->group_instance_id), 1);
  /* A consumer group member behind its epoch: per partition, as
   * OffsetCommit (cgroup_commit_lagging). */
  const cg_member *lag =
      r->version >= 3 && (gerr == KERR_STALE_MEMBER_EPOCH ||
                          gerr == KERR_ILLEGAL_GENERATION)
          ? cgroup_commit_lagging(r->b, t->group, group_cstr(req->member_id),
                                  req->generation_id_or_member_epoch)
          : NULL;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_txn_offset_commit_response_topic *ts =
      kf_new_array(&r->arena, &kafka_txn_offset_commit_response_topic_desc, nt);
  if (nt && !ts)
    return -1;
  resp->topics.items = ts;
  resp->topics.count = nt;
  size_t total = 0;
  for (int32_t i = 0; i < nt; i++)
    if (req->topics.items[i].partitions.count > 0)
      total += (size_t)req->topics.items[i].partitions.count;
  t->cs = kf_alloc(&r->arena, (total ? total : 1) * sizeof *t->cs);
  t->errs = kf_alloc(&r->arena, (total ? total : 1) * sizeof *t->errs);
  if (!t->cs || !t->errs)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_txn_offset_commit_request_topic *qt = &req->topics.items[i];
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    kafka_txn_offset_commit_response_partition *ps = kf_new_array(
        &r->arena, &kafka_txn_offset_commit_response_partition_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = qt->name;
    ts[i].topic_id = qt->topic_id;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    /* v6 names topics by id (KIP-1319): an unknown one is
     * UNKNOWN_TOPIC_ID. */
    nd_topic_info info;
    const char *topic = NULL;
    int16_t terr = lag ? 0 : gerr;
    if (!terr && r->version < 6 &&
        !kafka_authorize_str(r, ACL_RES_TOPIC, qt->name, ACL_OP_READ))
      terr = KERR_TOPIC_AUTHORIZATION_FAILED;
    if (!terr)
      terr = kafka_topic_resolve(
          r, r->version >= 6 ? KAFKA_TOPIC_BY_ID : 0, qt->name, qt->topic_id.b,
          KERR_UNKNOWN_TOPIC_OR_PARTITION, &info, &r->arena, &topic);
    if (!terr && r->version >= 6 &&
        !kafka_authorize(r, ACL_RES_TOPIC, topic, strlen(topic), ACL_OP_READ))
      terr = KERR_TOPIC_AUTHORIZATION_FAILED;
    for (int32_t j = 0; j < np; j++) {
      kafka_txn_offset_commit_request_partition *qp = &qt->partitions.items[j];
      ps[j].partition_index = qp->partition_index;
      if (terr) {
        ps[j].error_code = terr;
        continue;
      }
      if (qp->partition_index < 0 || qp->partition_index >= info.partitions) {
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (lag && (ps[j].error_code = cgroup_commit_partition(
                      lag, req->generation_id_or_member_epoch, info.id,
                      qp->partition_index, gerr)) != 0)
        continue;
      nd_offset_commit *c = &t->cs[t->n];
      memset(c, 0, sizeof *c);
      c->topic = topic;
      c->partition = qp->partition_index;
      c->offset = qp->committed_offset;
      c->leader_epoch = r->version >= 2 ? qp->committed_leader_epoch : -1;
      c->metadata =
          qp->committed_metadata.len >= 0 ? qp->committed_metadata.ptr : NULL;
      c->metadata_len = qp->committed_metadata.len > 0
                            ? (size_t)qp->committed_metadata.len
                            : 0;
      t->errs[t->n++] = &ps[j].error_code;
    }
  }
  if ((gerr && !lag) || t->n == 0) {
    kafka_respond(r, resp);
    return 0;
  }
  return txn_submit(r, &t->w);
}

/* ---- DescribeTransactions ----------------------------------------------- */

typedef kafka_describe_transactions_response_transaction_state dt_state;

/* The partitions of a transaction grouped by topic, in the library's
 * order. Kafka's own order is a hash set's; clients do not depend on
 * it. */
static int dt_topics(kafka_req *r, dt_state *s, const nd_txn_info *info) {
  size_t n = info->partition_count;
  kafka_describe_transactions_response_topic_data *td = kf_new_array(
      &r->arena, &kafka_describe_transactions_response_topic_data_desc,
      (int32_t)n);
  int32_t *parts = kf_alloc(&r->arena, (n ? n : 1) * sizeof *parts);
  if ((n && !td) || !parts)
    return -1;
  int32_t nt = 0;
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    const char *topic = info->partitions[i].topic;
    int seen = 0;
    for (int32_t k = 0; k < nt && !seen; k++)
      seen = strcmp(td[k].topic.ptr, topic) == 0;
    /* Topics the principal may not DESCRIBE are left out (KafkaApis). */
    if (seen || !kafka_authorize_quiet(r, ACL_RES_TOPIC, topic, strlen(topic),
                                       ACL_OP_DESCRIBE))
      continue;
    td[nt].topic = kafka_str(r, topic);
    td[nt].partitions.items = parts + used;
    for (size_t j = i; j < n; j++)
      if (strcmp(info->partitions[j].topic, topic) == 0)
        parts[used++] = info->partitions[j].partition;
    td[nt].partitions.count = (int32_t)(parts + used - td[nt].partitions.items);
    nt++;
  }
  s->topics.items = td;
  s->topics.count = nt;
  return 0;
}

/* Reads the coordinator's state in memory: answered on the loop. */
int handle_describe_transactions(kafka_req *r) {
  kafka_describe_transactions_request *req = r->body;
  kafka_describe_transactions_response *resp =
      kf_new(&r->arena, &kafka_describe_transactions_response_desc);
  int32_t n =
      req->transactional_ids.count > 0 ? req->transactional_ids.count : 0;
  dt_state *ss = kf_new_array(
      &r->arena, &kafka_describe_transactions_response_transaction_state_desc,
      n);
  if (!resp || (n && !ss))
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kf_str id = req->transactional_ids.items[i];
    dt_state *s = &ss[i];
    /* An error leaves the other fields at the schema's defaults (0, ""),
     * as Kafka does; "" is INVALID_REQUEST there, an unknown id
     * TRANSACTIONAL_ID_NOT_FOUND. */
    s->transactional_id = id;
    s->transaction_state = kf_s("");
    if (!kafka_authorize_str(r, ACL_RES_TRANSACTIONAL_ID, id,
                             ACL_OP_DESCRIBE)) {
      s->error_code = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
      continue;
    }
    nd_txn_info info;
    int rc =
        tid_of(id) ? nd_txn_describe(r->b->store, id.ptr, &info) : ND_EINVAL;
    if (rc != 0) {
      s->error_code = rc == ND_ENOTFOUND ? KERR_TRANSACTIONAL_ID_NOT_FOUND
                      : rc == ND_EINVAL  ? KERR_INVALID_REQUEST
                                         : kafka_err(rc);
      continue;
    }
    s->transaction_state = kafka_str(r, nd_txn_state_name(info.state));
    s->transaction_timeout_ms = info.timeout_ms;
    s->transaction_start_time_ms = info.start_ms;
    s->producer_id = info.producer_id;
    s->producer_epoch = info.producer_epoch;
    rc = dt_topics(r, s, &info);
    nd_txn_info_free(&info, 1);
    if (rc != 0)
      return -1;
  }
  resp->transaction_states.items = ss;
  resp->transaction_states.count = n;
  kafka_respond(r, resp);
  return 0;
}

/* ---- ListTransactions --------------------------------------------------- */

static int state_known(const char *name) {
  for (int s = ND_TXN_EMPTY; s <= ND_TXN_PREPARE_EPOCH_FENCE; s++)
    if (strcmp(nd_txn_state_name(s), name) == 0)
      return 1;
  return 0;
}

/* As Kafka's TransactionStateManager.listTransactionStates: state names
 * it does not know are returned in unknown_state_filters (and the known
 * ones still filter); a producer id filter; from v1 a duration filter
 * (only transactions running longer than it); from v2 a regular
 * expression the whole id must match (INVALID_REGULAR_EXPRESSION if it
 * does not compile; POSIX extended here, Java's there). */
int handle_list_transactions(kafka_req *r) {
  kafka_list_transactions_request *req = r->body;
  kafka_list_transactions_response *resp =
      kf_new(&r->arena, &kafka_list_transactions_response_desc);
  if (!resp)
    return -1;
  int32_t nsf = req->state_filters.count > 0 ? req->state_filters.count : 0;
  int32_t npf =
      req->producer_id_filters.count > 0 ? req->producer_id_filters.count : 0;
  kf_str *unknown = kf_alloc(&r->arena, (nsf ? nsf : 1) * sizeof *unknown);
  int *known = kf_alloc(&r->arena, (nsf ? nsf : 1) * sizeof *known);
  if (!unknown || !known)
    return -1;
  int32_t nunknown = 0, nknown = 0;
  for (int32_t i = 0; i < nsf; i++) {
    kf_str s = req->state_filters.items[i];
    known[i] = kafka_cstr_ok(s) && state_known(s.ptr);
    if (known[i])
      nknown++;
    else
      unknown[nunknown++] = s;
  }
  resp->unknown_state_filters.items = unknown;
  resp->unknown_state_filters.count = nunknown;
  regex_t re;
  int has_re = r->version >= 2 &&
               kafka_cstr_ok(req->transactional_id_pattern) &&
               req->transactional_id_pattern.len > 0;
  if (has_re) {
    size_t len = (size_t)req->transactional_id_pattern.len + 5;
    char *anchored = kf_alloc(&r->arena, len);
    if (!anchored)
      return -1;
    snprintf(anchored, len, "^(%s)$", req->transactional_id_pattern.ptr);
    if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB) != 0) {
      resp->error_code = KERR_INVALID_REGULAR_EXPRESSION;
      kafka_respond(r, resp);
      return 0;
    }
  }
  nd_txn_info *list = NULL;
  size_t count = 0;
  int rc = nd_txn_list(r->b->store, &list, &count);
  if (rc != 0) {
    if (has_re)
      regfree(&re);
    resp->error_code = kafka_err(rc);
    kafka_log(r, BLOG_ERROR, "cannot list transactions: %s", nd_errmsg());
    kafka_respond(r, resp);
    return 0;
  }
  kafka_list_transactions_response_transaction_state *out = kf_new_array(
      &r->arena, &kafka_list_transactions_response_transaction_state_desc,
      (int32_t)count);
  if (count && !out) {
    nd_txn_info_free(list, count);
    if (has_re)
      regfree(&re);
    return -1;
  }
  int64_t now = now_ms();
  int64_t duration = r->version >= 1 ? req->duration_filter : -1;
  int32_t k = 0;
  for (size_t i = 0; i < count; i++) {
    const nd_txn_info *t = &list[i];
    const char *state = nd_txn_state_name(t->state);
    if (nknown) {
      int match = 0;
      for (int32_t j = 0; j < nsf && !match; j++)
        match = known[j] && strcmp(req->state_filters.items[j].ptr, state) == 0;
      if (!match)
        continue;
    }
    if (npf) {
      int match = 0;
      for (int32_t j = 0; j < npf && !match; j++)
        match = req->producer_id_filters.items[j] == t->producer_id;
      if (!match)
        continue;
    }
    if (duration >= 0 && now - t->start_ms < duration)
      continue;
    if (has_re && regexec(&re, t->transactional_id, 0, NULL, 0) != 0)
      continue;
    /* Only ids the principal may DESCRIBE. */
    if (!kafka_authorize_quiet(r, ACL_RES_TRANSACTIONAL_ID, t->transactional_id,
                               strlen(t->transactional_id), ACL_OP_DESCRIBE))
      continue;
    out[k].transactional_id = kafka_str(r, t->transactional_id);
    out[k].producer_id = t->producer_id;
    out[k].transaction_state = kafka_str(r, state);
    k++;
  }
  nd_txn_info_free(list, count);
  if (has_re)
    regfree(&re);
  resp->transaction_states.items = out;
  resp->transaction_states.count = k;
  kafka_respond(r, resp);
  return 0;
}
