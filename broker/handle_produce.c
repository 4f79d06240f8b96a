/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_produce.c — Produce (API 0).
 *
 * Each partition's records (one or more RecordBatch v2, as the client
 * sent them) go to nd_append_batch, which checks and stores them verbatim.
 * Durability follows ARCHITECTURE.md §3:
 *   acks=0    no response at all;
 *   acks=1    answered after the page-cache write;
 *   acks=all  answered once every written partition is fdatasync'd, unless
 *             the topic's fsync policy is `never` (an explicit opt-out).
 * A topic with fsync=always is synced before any response, whatever acks.
 * Appends never fsync on the loop thread (ND_APPEND_NOSYNC): the worker's
 * sync lane does it (worker.c), sharing one fdatasync among concurrent
 * requests, and the response goes out from its completion callback.
 *
 * Versions 0-2 are advertised only so that librdkafka 2.0 enables its
 * codecs (kafka-protocol.md §3); a request at one of them never gets here:
 * kafka_api.c closes its connection, as Kafka 4 does. zstd needs v7 (KIP-110):
 * a zstd batch in an older request is UNSUPPORTED_COMPRESSION_TYPE, as
 * Kafka's ProduceRequest.validateRecords answers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

typedef kafka_produce_response_partition_produce_response ppart;
typedef kafka_produce_response_topic_produce_response ptopic;

/* A partition whose append waits for the transaction's adds (txn_adds). */
typedef struct deferred {
  const char *topic;
  int policy;
  kafka_produce_request_partition_produce_data *pd;
  kafka_produce_response_partition_produce_response *p;
} deferred;

/* A partition to fdatasync before the answer. part NULL: durability
 * wanted but nobody waits (acks=0). */
typedef struct want_sync {
  const char *topic;
  int32_t partition;
  int64_t offset;
  kafka_produce_response_partition_produce_response *part;
} want_sync;

typedef struct produce_ctx {
  int pending; /* flushes not yet completed, +1 while they are queued */
  void *resp;
  want_sync *syncs; /* malloc'ed, freed once the flushes are queued */
  size_t nsync, capsync;
  deferred *defs; /* malloc'ed, freed once appended */
  size_t ndef, capdef;
} produce_ctx;

typedef struct flush_wait {
  kafka_req *r;
  ppart *part;
} flush_wait;

/* Answer (or not, acks=0) once everything is written: the request's
 * bytes count against the producer_byte_rate quota, and a client over it
 * gets throttle_time_ms and is muted for that long (KIP-219; with acks=0
 * only muted, as Kafka does). */
static void produce_answer(kafka_req *r, produce_ctx *ctx) {
  kafka_produce_request *req = r->body;
  int32_t throttle =
      quota_record(r, QUOTA_PRODUCE, r->frame ? (double)r->frame->len : 0);
  quota_mute(r, QUOTA_PRODUCE, throttle);
  if (req->acks == 0) {
    kafka_respond_none(r);
  } else {
    ((kafka_produce_response *)ctx->resp)->throttle_time_ms = throttle;
    kafka_respond(r, ctx->resp);
  }
}

/* msg: the library's words for rc, captured where the sync ran. */
static void flush_done(void *arg, int rc, const char *msg) {
  flush_wait *w = arg;
  kafka_req *r = w->r;
  produce_ctx *ctx = r->hctx;
  if (rc != 0 && w->part) {
    w->part->error_code = KERR_KAFKA_STORAGE_ERROR;
    if (!r->dead)
      kafka_log(r, BLOG_ERROR, "fdatasync failed: %s; answered " KAFKA_ERR_FMT,
                msg, KAFKA_ERR_ARGS(w->part->error_code));
  }
  if (--ctx->pending > 0)
    return;
  produce_answer(r, ctx);
}

/* How many whole RecordBatches in records[0..len) have (attributes &
 * mask) == want, counting up to `most`. A batch counts when its header
 * reaches the attributes and its length fits in what is left, as Kafka's
 * batch iterator sees batches; only those bytes are read, the store checks
 * everything else. */
static int batches_with(const uint8_t *p, size_t len, uint8_t mask,
                        uint8_t want, int most) {
  enum { LENGTH_AT = 8, ATTRIBUTES_AT = 22, LOG_OVERHEAD = 12 };
  size_t q = 0;
  int n = 0;
  while (n < most && len - q > ATTRIBUTES_AT) {
    uint32_t batch_len = (uint32_t)p[q + LENGTH_AT] << 24 |
                         (uint32_t)p[q + LENGTH_AT + 1] << 16 |
                         (uint32_t)p[q + LENGTH_AT + 2] << 8 |
                         p[q + LENGTH_AT + 3];
    int whole = batch_len <= len - q - LOG_OVERHEAD;
    /* The first batch's attributes count even when it is cut short: the
     * store refuses it, but the request-level checks come first. */
    if ((whole || q == 0) && (p[q + ATTRIBUTES_AT] & mask) == want)
      n++;
    if (!whole)
      break;
    q += LOG_OVERHEAD + batch_len;
  }
  return n;
}

static int has_batch_attr(const uint8_t *p, size_t len, uint8_t mask,
                          uint8_t want) {
  return batches_with(p, len, mask, want, 1) > 0;
}

enum { ATTR_CODEC = 0x07, ATTR_TRANSACTIONAL = 0x10 };

/* The one place that decides whether a request may write transactional
 * batches at all; its error goes to every partition, as Kafka answers
 * before looking at topics (KafkaApis.handleProduceRequest). A request
 * with transactional records (attribute bit 4) needs a transactional.id
 * it is authorised for, and no id is never authorised:
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, no message (checked against the
 * real broker). With an id, each batch is checked against the
 * coordinator's state of its producer by the append (txn_append_flags,
 * txn_append_error). */
static int16_t produce_txn_error(const kafka_produce_request *req) {
  if (req->transactional_id.len >= 0)
    return 0;
  for (int32_t i = 0; i < req->topic_data.count; i++) {
    const kafka_produce_request_topic_produce_data *td =
        &req->topic_data.items[i];
    for (int32_t j = 0; j < td->partition_data.count; j++) {
      const kafka_produce_request_partition_produce_data *pd =
          &td->partition_data.items[j];
      if (pd->records.len > 0 &&
          has_batch_attr(pd->records.ptr, (size_t)pd->records.len,
                         ATTR_TRANSACTIONAL, ATTR_TRANSACTIONAL))
        return KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    }
  }
  return 0;
}

/* Kafka's per-record answer to ND_ETIMESTAMP and ND_ENOKEY
 * (RecordValidationException): one record_errors entry per refused record
 * in its own words, and an error_message that for timestamps is fixed and
 * otherwise (InvalidRecordException) counts the errors and shows the
 * first three as Java prints a RecordError list. */
static void record_errors(kafka_req *r, ppart *p, const char *topic,
                          int32_t partition, int rc) {
  const nd_record_error *e;
  int64_t lo, hi;
  size_t n = nd_record_errors(&e, &lo, &hi);
  if (rc == ND_ETIMESTAMP)
    p->error_message = kafka_str(
        r, "One or more records have been rejected due to invalid timestamp");
  kafka_produce_response_batch_index_and_error_message *items =
      n ? kf_new_array(
              &r->arena,
              &kafka_produce_response_batch_index_and_error_message_desc,
              (int32_t)n)
        : NULL;
  if (!items)
    return;
  char head[1024];
  int used = snprintf(head, sizeof head,
                      "One or more records have been rejected due to %zu "
                      "record errors in total, and only showing the first "
                      "three errors at most: [",
                      n);
  for (size_t i = 0; i < n; i++) {
    char msg[256];
    if (e[i].error == ND_ENOKEY)
      snprintf(msg, sizeof msg,
               "Compacted topic cannot accept message without key in topic "
               "partition %s-%d",
               topic, (int)partition);
    else
      snprintf(msg, sizeof msg,
               "Timestamp %" PRId64 " of message with offset %" PRId64
               " is out of range. The timestamp should be within [%" PRId64
               ", %" PRId64 "]",
               e[i].timestamp, e[i].offset, lo, hi);
    items[i].batch_index = e[i].batch_index;
    items[i].batch_index_error_message = kafka_str(r, msg);
    if (i < 3 && used > 0 && (size_t)used < sizeof head)
      used += snprintf(head + used, sizeof head - (size_t)used,
                       "%sRecordError(batchIndex=%d, message='%s')",
                       i ? ", " : "", (int)e[i].batch_index, msg);
  }
  if (rc != ND_ETIMESTAMP && used > 0 && (size_t)used < sizeof head) {
    snprintf(head + used, sizeof head - (size_t)used, "]");
    p->error_message = kafka_str(r, head);
  }
  p->record_errors.items = items;
  p->record_errors.count = (int32_t)n;
}

/* How a transactional batch joins its producer's transaction: a
 * Transactions V2 client (KIP-890 part 2: Produce v12+, with
 * transaction.version 2 finalized) adds its partition by producing to it;
 * an older one must have added it with AddPartitionsToTxn, which the
 * append verifies (KIP-890 part 1), as Kafka decides by the version
 * (AddPartitionsToTxnManager.produceRequestVersionToTransactionSupported
 * Operation). */
static unsigned txn_append_flags(kafka_req *r) {
  return r->version >= 12 && kafka_transaction_version(r->b) >= 2
             ? ND_APPEND_TXN_ADD
             : 0;
}

/* Kafka's answer to a transactional batch the coordinator refused, for
 * this Produce version (AddPartitionsToTxnManager): a batch outside its
 * producer's transaction is TRANSACTION_ABORTABLE from v11 (the producer
 * aborts and goes on) and INVALID_TXN_STATE before; a producer id that is
 * not its transactional id's is INVALID_PRODUCER_ID_MAPPING; an old epoch
 * is INVALID_PRODUCER_EPOCH at every version (kafka_err), as Kafka turns
 * PRODUCER_FENCED into it for Produce. */
static int16_t txn_append_error(kafka_req *r, int rc) {
  if (rc == ND_ETXNSTATE)
    return r->version >= 11 ? KERR_TRANSACTION_ABORTABLE
                            : KERR_INVALID_TXN_STATE;
  if (rc == ND_EPRODUCERID || rc == ND_ENOTFOUND)
    return KERR_INVALID_PRODUCER_ID_MAPPING;
  return kafka_err(rc);
}

static int on_close(kafka_req *r) {
  (void)r;
  return 0; /* flush callbacks still hold it; they free it */
}

/* Grow a malloc'ed array by one element; the new one, NULL when out of
 * memory. */
static void *grow(void **v, size_t *n, size_t *cap, size_t size) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    void *nv = realloc(*v, c * size);
    if (!nv)
      return NULL;
    *v = nv;
    *cap = c;
  }
  return (char *)*v + (*n)++ * size;
}

/* Errors that refuse the records themselves (too large, damaged, bad
 * timestamps or keys), as opposed to retriable or transactional states. */
static int refused_data(int16_t code) {
  return code == KERR_MESSAGE_TOO_LARGE || code == KERR_RECORD_LIST_TOO_LARGE ||
         code == KERR_CORRUPT_MESSAGE || code == KERR_INVALID_RECORD ||
         code == KERR_INVALID_TIMESTAMP || code == KERR_POLICY_VIOLATION ||
         code == KERR_UNSUPPORTED_COMPRESSION_TYPE;
}

/* Append one partition's batch and note its sync; -1 when out of memory. */
static int append_part(kafka_req *r, produce_ctx *ctx, const char *name,
                       int policy,
                       kafka_produce_request_partition_produce_data *pd,
                       ppart *p) {
  kafka_produce_request *req = r->body;
  broker *b = r->b;
  nd_append_info ai;
  memset(&ai, 0, sizeof ai);
  int txn = req->transactional_id.len >= 0 &&
            has_batch_attr(pd->records.ptr, (size_t)pd->records.len,
                           ATTR_TRANSACTIONAL, ATTR_TRANSACTIONAL);
  int rc = nd_append_batch(
      b->store, name, pd->index, pd->records.ptr, (size_t)pd->records.len,
      ND_APPEND_NOSYNC | (txn ? txn_append_flags(r) : 0), &ai);
  if (rc == 0) {
    metrics_part *m = metrics_partition(name, pd->index);
    if (m) {
      metrics_add(&m->produced_records,
                  (uint64_t)(ai.last_offset - ai.base_offset + 1));
      metrics_add(&m->produced_bytes, (uint64_t)pd->records.len);
    }
  }
  if (rc == ND_EDUPSEQ)
    rc = 0; /* a retry of a stored batch: acknowledge the first copy */
  if (rc != 0) {
    p->error_code = txn_append_error(r, rc);
    /* Kafka's transaction verification answers without a message. */
    p->error_message = txn && (rc == ND_ETXNSTATE || rc == ND_EPRODUCERID ||
                               rc == ND_ENOTFOUND || rc == ND_EPRODUCERFENCED)
                           ? kf_null_str()
                           : kafka_errmsg(r);
    if (txn && rc == ND_EPRODUCERFENCED)
      kafka_log(r, BLOG_WARN,
                "transactional id %s: producer fenced: %s; "
                "answered " KAFKA_ERR_FMT,
                req->transactional_id.ptr, nd_errmsg(),
                KAFKA_ERR_ARGS(p->error_code));
    if (rc == ND_ETIMESTAMP || rc == ND_ENOKEY)
      record_errors(r, p, name, pd->index, rc);
    if (rc == ND_ECONTROL || rc == ND_ETIMESTAMP || rc == ND_ENOKEY)
      /* Kafka's record validation answers with the log start. */
      nd_offsets(b->store, name, pd->index, &p->log_start_offset, NULL);
    if (refused_data(p->error_code)) {
      /* What the client sent was refused: an operator wants to see why a
       * producer's records do not arrive (the limiter holds a flood). */
      blog_field f[2] = {BLOG_STR("topic", name),
                         BLOG_NUM("partition", pd->index)};
      kafka_logx(r, BLOG_WARN, f, 2,
                 "produce to %s/%d refused: " KAFKA_ERR_FMT ": %s", name,
                 pd->index, KAFKA_ERR_ARGS(p->error_code), nd_errmsg());
    }
    if (p->error_code == KERR_KAFKA_STORAGE_ERROR ||
        p->error_code == KERR_UNKNOWN_SERVER_ERROR)
      kafka_log(r, BLOG_ERROR,
                "append to %s/%d failed: %s; answered " KAFKA_ERR_FMT, name,
                pd->index, nd_errmsg(), KAFKA_ERR_ARGS(p->error_code));
    return 0;
  }
  p->base_offset = ai.base_offset;
  p->log_append_time_ms = ai.log_append_time;
  p->log_start_offset = ai.log_start_offset;
  int16_t acks = req->acks;
  if (policy == ND_FSYNC_ALWAYS || (acks == -1 && policy != ND_FSYNC_NEVER)) {
    want_sync *w =
        grow((void **)&ctx->syncs, &ctx->nsync, &ctx->capsync, sizeof *w);
    if (!w)
      return -1;
    *w = (want_sync){name, pd->index, ai.last_offset, p};
  }
  return 0;
}

/* Every append is done: queue the syncs (requested only now, so that a
 * fast completion cannot answer before later partitions are written), or
 * answer. */
static void produce_finish(kafka_req *r, produce_ctx *ctx) {
  if (ctx->nsync == 0) {
    produce_answer(r, ctx);
    return;
  }
  ctx->pending = 1; /* held until every request is queued */
  kafka_park(r, on_close);
  for (size_t i = 0; i < ctx->nsync; i++) {
    want_sync *s = &ctx->syncs[i];
    flush_wait *w = kf_alloc(&r->arena, sizeof *w);
    if (w) {
      w->r = r;
      w->part = s->part;
      ctx->pending++;
      if (worker_sync(r->b, s->topic, s->partition, s->offset, flush_done, w) ==
          0)
        continue;
      ctx->pending--;
    }
    s->part->error_code = KERR_KAFKA_STORAGE_ERROR;
  }
  free(ctx->syncs);
  ctx->syncs = NULL;
  flush_wait self = {r, NULL};
  flush_done(&self, 0, "");
}

/* ---- a Transactions V2 request's partitions join at once ---------------- */

/* Rule 1 of docs/transactions.md: a partition joins its transaction
 * durably before its data. A V2 producer adds partitions by producing;
 * done batch by batch (ND_APPEND_TXN_ADD) that is one synced coordinator
 * frame per new partition, serially, on the loop. Instead the request's
 * transactional partitions are added with one nd_txn_add_partitions (one
 * frame, one fdatasync) on the transactional id's lane, then appended on
 * the loop. Every V2 transactional request takes that road, even one
 * adding nothing, so that a producer's requests are appended in arrival
 * order (the lane runs its jobs one at a time): a later request may not
 * overtake an earlier one and break its sequence numbers. The appends
 * keep ND_APPEND_TXN_ADD: should the batched add fail (fenced, a
 * transaction being completed, a batch of another producer), each batch
 * is checked and answered on its own, as before. */
typedef struct txn_adds {
  kafka_req *r;
  const char *tid;
  int64_t pid;
  int16_t epoch;
  nd_topic_partition *parts; /* r's arena */
  size_t n;
} txn_adds;

enum { BATCH_PRODUCER_ID_AT = 43, BATCH_EPOCH_AT = 51, BATCH_HEADER = 61 };

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static void adds_run(void *arg) {
  txn_adds *a = arg;
  if (a->n)
    (void)nd_txn_add_partitions(a->r->b->store, a->tid, a->pid, a->epoch,
                                a->parts, a->n, 0, 0);
}

static int adds_resume(kafka_req *r, void *arg) {
  (void)arg;
  produce_ctx *ctx = r->hctx;
  int rc = 0;
  for (size_t i = 0; !rc && i < ctx->ndef; i++) {
    deferred *d = &ctx->defs[i];
    rc = append_part(r, ctx, d->topic, d->policy, d->pd, d->p);
  }
  free(ctx->defs);
  ctx->defs = NULL;
  if (rc) {
    free(ctx->syncs);
    ctx->syncs = NULL;
    return -1;
  }
  produce_finish(r, ctx);
  return 0;
}

static void adds_done(void *arg) {
  txn_adds *a = arg;
  if (a->r->dead) { /* kafka_answer_parked only frees r */
    produce_ctx *ctx = a->r->hctx;
    free(ctx->defs);
    free(ctx->syncs);
  }
  kafka_answer_parked(a->r, adds_resume, a);
}

/* Add the deferred partitions of one producer (the first batch's) on the
 * lane, then append them all. -1 when out of memory. */
static int adds_submit(kafka_req *r, produce_ctx *ctx) {
  kafka_produce_request *req = r->body;
  txn_adds *a = kf_alloc(&r->arena, sizeof *a);
  nd_topic_partition *parts = kf_alloc(&r->arena, ctx->ndef * sizeof *parts);
  if (!a || !parts)
    return -1;
  memset(a, 0, sizeof *a);
  a->r = r;
  a->tid = req->transactional_id.ptr;
  a->parts = parts;
  for (size_t i = 0; i < ctx->ndef; i++) {
    const kf_bytes *rec = &ctx->defs[i].pd->records;
    if (rec->len < BATCH_HEADER)
      continue; /* the store refuses it */
    int64_t pid = (int64_t)be(rec->ptr + BATCH_PRODUCER_ID_AT, 8);
    int16_t epoch = (int16_t)be(rec->ptr + BATCH_EPOCH_AT, 2);
    if (!a->n) {
      a->pid = pid;
      a->epoch = epoch;
    } else if (pid != a->pid || epoch != a->epoch) {
      continue; /* checked on its own by the append */
    }
    parts[a->n++] =
        (nd_topic_partition){ctx->defs[i].topic, ctx->defs[i].pd->index};
  }
  return kafka_run_on_lane(r, kafka_txn_lane(a->tid), adds_run, adds_done, a);
}

int handle_produce(kafka_req *r) {
  kafka_produce_request *req = r->body;
  kafka_produce_response *resp =
      kf_new(&r->arena, &kafka_produce_response_desc);
  produce_ctx *ctx = kf_alloc(&r->arena, sizeof *ctx);
  if (!resp || !ctx)
    return -1;
  memset(ctx, 0, sizeof *ctx);
  ctx->resp = resp;
  r->hctx = ctx;
  int32_t nt = req->topic_data.count > 0 ? req->topic_data.count : 0;
  ptopic *ts = kf_new_array(
      &r->arena, &kafka_produce_response_topic_produce_response_desc, nt);
  if (nt && !ts)
    return -1;
  resp->responses.items = ts;
  resp->responses.count = nt;

  int16_t acks = req->acks;
  int16_t whole_err = produce_txn_error(req);
  if (!whole_err && acks != 0 && acks != 1 && acks != -1)
    whole_err = KERR_INVALID_REQUIRED_ACKS;
  /* A V2 transactional request: its transactional batches wait for one
   * add of all their partitions (txn_adds). */
  int defer = !whole_err && kafka_cstr_ok(req->transactional_id) &&
              req->transactional_id.len > 0 &&
              (txn_append_flags(r) & ND_APPEND_TXN_ADD);

  for (int32_t i = 0; i < nt; i++) {
    kafka_produce_request_topic_produce_data *td = &req->topic_data.items[i];
    ptopic *t = &ts[i];
    t->name = td->name;
    t->topic_id = td->topic_id;
    int32_t np = td->partition_data.count > 0 ? td->partition_data.count : 0;
    ppart *ps = kf_new_array(
        &r->arena, &kafka_produce_response_partition_produce_response_desc, np);
    if (np && !ps)
      goto oom;
    t->partition_responses.items = ps;
    t->partition_responses.count = np;

    /* Resolve the topic once for all its partitions. */
    int16_t terr = whole_err;
    const char *name = NULL;
    nd_topic_info info;
    if (!terr)
      terr = kafka_topic_resolve(
          r,
          r->version >= 13 ? KAFKA_TOPIC_BY_ID
                           : KAFKA_TOPIC_VALIDATE | KAFKA_TOPIC_AUTO_CREATE,
          td->name, td->topic_id.b, KERR_INVALID_TOPIC_EXCEPTION, &info,
          &r->arena, &name);
    int policy = terr ? ND_FSYNC_INTERVAL : info.config.fsync;

    for (int32_t j = 0; j < np; j++) {
      kafka_produce_request_partition_produce_data *pd =
          &td->partition_data.items[j];
      ppart *p = &ps[j];
      p->index = pd->index;
      p->base_offset = -1;
      if (terr) {
        p->error_code = terr;
        continue;
      }
      /* Kafka's ProduceRequest.validateRecords: from v3 (the first
       * version served) exactly one batch per partition. */
      int nbatches =
          pd->records.len > 0
              ? batches_with(pd->records.ptr, (size_t)pd->records.len, 0, 0, 2)
              : 0;
      if (nbatches != 1) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 nbatches ? "Produce requests with version %d are only "
                            "allowed to contain exactly one record batch per "
                            "partition"
                          : "Produce requests with version %d must have at "
                            "least one record batch per partition",
                 r->version);
        p->error_code = KERR_INVALID_RECORD;
        p->error_message = kafka_str(r, msg);
        continue;
      }
      if (r->version < 7 &&
          has_batch_attr(pd->records.ptr, (size_t)pd->records.len, ATTR_CODEC,
                         ND_CODEC_ZSTD)) {
        p->error_code = KERR_UNSUPPORTED_COMPRESSION_TYPE;
        p->error_message =
            kafka_str(r, "zstd batches need Produce v7 or later");
        continue;
      }
      if (defer && pd->index >= 0 && pd->index < info.partitions &&
          has_batch_attr(pd->records.ptr, (size_t)pd->records.len,
                         ATTR_TRANSACTIONAL, ATTR_TRANSACTIONAL)) {
        deferred *d =
            grow((void **)&ctx->defs, &ctx->ndef, &ctx->capdef, sizeof *d);
        if (!d)
          goto oom;
        *d = (deferred){name, policy, pd, p};
        continue;
      }
      if (append_part(r, ctx, name, policy, pd, p))
        goto oom;
    }
  }

  if (ctx->ndef) {
    if (adds_submit(r, ctx) == 0)
      return 0;
    goto oom;
  }
  produce_finish(r, ctx);
  return 0;

oom:
  free(ctx->syncs);
  free(ctx->defs);
  ctx->syncs = NULL;
  ctx->defs = NULL;
  return -1;
}
