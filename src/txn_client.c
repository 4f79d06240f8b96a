/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txn_client.c — the embedder's transactions (nd_txn_open ... close): a
 * producer handle over the coordinator's calls, as a Kafka client speaking
 * Transactions V2 would use them: InitProducerId once, batches stamped
 * with the producer's id, epoch and sequences and appended with
 * ND_APPEND_TXN_ADD (the partition joins the transaction), EndTxn with an
 * epoch bump, after which sequences start again at 0.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "store.h"

#define DEFAULT_TIMEOUT_MS 60000 /* Kafka's transaction.timeout.ms */

typedef struct seq {
  char *topic;
  int32_t partition;
  int32_t next; /* the next batch's base sequence */
} seq;

struct nd_txn {
  nd_store *store;
  char *id;
  int64_t pid;
  int16_t epoch;
  int open; /* a transaction was begun (something appended or sent) */
  seq *seqs;
  size_t nseqs;
};

static void seqs_reset(nd_txn *x) {
  for (size_t i = 0; i < x->nseqs; i++)
    free(x->seqs[i].topic);
  free(x->seqs);
  x->seqs = NULL;
  x->nseqs = 0;
}

int nd_txn_open(nd_store *store, const char *transactional_id,
                int32_t timeout_ms, nd_txn **out) {
  if (!out)
    return nd_fail(ND_EINVAL, "%s: out needed", __func__);
  *out = NULL;
  nd_txn *x = calloc(1, sizeof *x);
  if (!x || !transactional_id || !(x->id = strdup(transactional_id))) {
    free(x);
    return transactional_id ? nd_fail(ND_ENOMEM, "out of memory")
                            : nd_fail(ND_EINVAL, "transactional id needed");
  }
  x->store = store;
  int rc = nd_txn_init_producer(store, transactional_id,
                                timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS,
                                -1, -1, ND_TXN_V2, 0, &x->pid, &x->epoch);
  if (rc) {
    free(x->id);
    free(x);
    return rc;
  }
  *out = x;
  return 0;
}

/* The sequence slot of a partition, made at 0 if new; NULL: no memory. */
static seq *seq_for(nd_txn *x, const char *tname, int32_t tpart) {
  for (size_t i = 0; i < x->nseqs; i++)
    if (x->seqs[i].partition == tpart && !strcmp(x->seqs[i].topic, tname))
      return &x->seqs[i];
  seq *v = realloc(x->seqs, (x->nseqs + 1) * sizeof *v);
  if (!v)
    return NULL;
  x->seqs = v;
  seq *q = &v[x->nseqs];
  if (!(q->topic = strdup(tname)))
    return NULL;
  q->partition = tpart;
  q->next = 0;
  x->nseqs++;
  return q;
}

int nd_txn_append(nd_txn *x, const char *tname, int32_t tpart,
                  const nd_record *records, size_t n, nd_append_info *info) {
  if (!x || !tname || !records || n == 0)
    return nd_fail(ND_EINVAL, "%s: handle, topic and records needed", __func__);
  seq *q = seq_for(x, tname, tpart);
  if (!q)
    return nd_fail(ND_ENOMEM, "out of memory");
  void *buf;
  size_t len;
  int rc = nd_batch_encode(records, n, 0, store_now_ms(), 0, &buf, &len);
  if (rc)
    return rc;
  uint8_t *b = buf;
  put_be16(b + BATCH_AT_ATTRIBUTES,
           (uint16_t)(batch_attributes(b) | BATCH_ATTR_TRANSACTIONAL));
  put_be64(b + BATCH_AT_PRODUCER_ID, (uint64_t)x->pid);
  put_be16(b + BATCH_AT_PRODUCER_EPOCH, (uint16_t)x->epoch);
  put_be32(b + BATCH_AT_BASE_SEQUENCE, (uint32_t)q->next);
  nd_batch_set_crc(b, len);
  rc = nd_append_batch(x->store, tname, tpart, b, len, ND_APPEND_TXN_ADD, info);
  nd_free(buf);
  if (!rc) {
    q->next += (int32_t)n;
    x->open = 1;
  }
  return rc;
}

int nd_txn_send_offsets(nd_txn *x, const char *group,
                        const nd_offset_commit *commits, size_t n) {
  if (!x)
    return nd_fail(ND_EINVAL, "%s: handle needed", __func__);
  int rc = nd_txn_commit_offsets(x->store, x->id, x->pid, x->epoch, group,
                                 commits, n, ND_TXN_V2, 0);
  if (!rc)
    x->open = 1;
  return rc;
}

/* EndTxn (V2): the epoch is bumped, so sequences start again at 0. */
static int end(nd_txn *x, int commit) {
  if (!x)
    return nd_fail(ND_EINVAL, "nd_txn_%s: handle needed",
                   commit ? "commit" : "abort");
  if (!x->open)
    return 0; /* nothing begun: nothing to end */
  int64_t pid;
  int16_t epoch;
  int rc = nd_txn_end(x->store, x->id, x->pid, x->epoch, commit, ND_TXN_V2, 0,
                      &pid, &epoch);
  if (!rc) {
    x->pid = pid;
    x->epoch = epoch;
    x->open = 0;
    seqs_reset(x);
  }
  return rc;
}

int nd_txn_commit(nd_txn *x) {
  return end(x, 1);
}

int nd_txn_abort(nd_txn *x) {
  return end(x, 0);
}

void nd_txn_close(nd_txn *x) {
  if (!x)
    return;
  if (x->open)
    end(x, 0);
  seqs_reset(x);
  free(x->id);
  free(x);
}
