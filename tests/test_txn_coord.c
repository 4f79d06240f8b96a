/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_txn_coord.c — the transaction coordinator (nd_txn_*, nodata.h):
 * Kafka's transitions and errors for InitProducerId, AddPartitionsToTxn,
 * AddOffsetsToTxn, TxnOffsetCommit and EndTxn (V1 and V2), fencing at the
 * coordinator and at the partition (the append check), pending offsets,
 * durability across reopen, the producer-id counter, expiry, the
 * embedder's handle, and a crash at every file operation of an EndTxn.
 */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nodata_testing.h"

#define TID "app-1"

static char *dir;

static nd_store *open_store(void) {
  return test_open_store(dir);
}

/* A store in a fresh directory with topics a (2 partitions) and b (1). */
static nd_store *fresh(void) {
  tmpdir_remove(dir);
  dir = tmpdir_make("txn");
  nd_store *s = open_store();
  if (s &&
      (nd_topic_create(s, "a", 2, NULL) || nd_topic_create(s, "b", 1, NULL)))
    return NULL;
  return s;
}

/* One transactional batch of producer (pid, epoch) from base sequence seq
 * holding value v, appended to (topic, p) with flags. */
static int txn_append(nd_store *s, const char *topic, int32_t p, int64_t pid,
                      int16_t epoch, int32_t seq, const char *v,
                      unsigned flags) {
  nd_record r = {
      .value = v, .value_len = strlen(v), .timestamp = ND_TIMESTAMP_NOW};
  void *buf;
  size_t len;
  int rc = nd_batch_encode(&r, 1, 0, 0, 0, &buf, &len);
  if (rc)
    return rc;
  uint8_t *b = buf;
  b[22] |= ND_BATCH_ATTR_TRANSACTIONAL;
  for (int i = 0; i < 8; i++)
    b[43 + i] = (uint8_t)((uint64_t)pid >> (56 - 8 * i));
  b[51] = (uint8_t)((uint16_t)epoch >> 8);
  b[52] = (uint8_t)epoch;
  for (int i = 0; i < 4; i++)
    b[53 + i] = (uint8_t)((uint32_t)seq >> (24 - 8 * i));
  nd_batch_set_crc(b, len);
  rc = nd_append_batch(s, topic, p, b, len, flags, NULL);
  nd_free(buf);
  return rc;
}

/* What a partition holds, batch by batch. */
typedef struct seen {
  int n;
  int64_t offset[64];
  int control[64]; /* 0 data, 1 ABORT marker, 2 COMMIT marker */
  int64_t pid[64];
  int16_t epoch[64];
} seen;

static int collect(void *ctx, const nd_batch_info *bi, const void *batch) {
  seen *sn = ctx;
  if (sn->n >= 64)
    return 1;
  const uint8_t *b = batch;
  int i = sn->n++;
  sn->offset[i] = bi->base_offset;
  sn->pid[i] = bi->producer_id;
  sn->epoch[i] = bi->producer_epoch;
  /* A marker's one record: its key (version i16, type i16) starts after
   * five one-byte fields (length, attributes, deltas, key length). */
  sn->control[i] = bi->attributes & ND_BATCH_ATTR_CONTROL ? 1 + b[69] : 0;
  return 0;
}

static int read_all(nd_store *s, const char *topic, int32_t p, seen *sn) {
  memset(sn, 0, sizeof *sn);
  nd_batches bs;
  int rc = nd_read(s, topic, p, 0, 1 << 20, &bs);
  if (rc)
    return rc;
  nd_walk_result wr;
  rc = nd_log_walk_mem(bs.data, bs.len, 0, collect, sn, &wr);
  nd_free(bs.data);
  return rc;
}

static int64_t committed(nd_store *s, const char *g, const char *t, int32_t p) {
  int64_t off = -2;
  if (nd_committed_offset(s, g, t, p, &off, NULL, NULL, NULL) != 0)
    return -3;
  return off;
}

/* TID's producer (timeout, at now) with an Ongoing transaction holding one
 * batch `tag` in a-<p>. */
static int one_batch_txn(nd_store *s, int32_t p, const char *tag,
                         int32_t timeout, int64_t now, int64_t *pid,
                         int16_t *ep) {
  nd_topic_partition tp = {"a", p};
  int rc = nd_txn_init_producer(s, TID, timeout, -1, -1, 0, now, pid, ep);
  if (!rc)
    rc = nd_txn_add_partitions(s, TID, *pid, *ep, &tp, 1, 0, now);
  return rc ? rc : txn_append(s, "a", p, *pid, *ep, 0, tag, 0);
}

/* ---- InitProducerId ------------------------------------------------------ */

static void test_init(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid, pid2;
  int16_t ep;
  CHECK_RC(nd_txn_init_producer(s, TID, 0, -1, -1, 0, 0, &pid, &ep),
           ND_ETXNTIMEOUT);
  CHECK_RC(nd_txn_init_producer(s, TID, 900001, -1, -1, 0, 0, &pid, &ep),
           ND_ETXNTIMEOUT);
  CHECK_RC(nd_txn_init_producer(s, "", 1000, -1, -1, 0, 0, &pid, &ep),
           ND_EINVAL);
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid, &ep));
  CHECK(pid >= 0);
  CHECK_EQ_I64(ep, 0);
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  CHECK_EQ_I64(ti.state, ND_TXN_EMPTY);
  CHECK_EQ_I64(ti.producer_id, pid);
  CHECK_EQ_I64(ti.timeout_ms, 60000);
  CHECK_EQ_I64(ti.start_ms, -1);
  CHECK_EQ_I64(ti.version, 1);
  CHECK(!strcmp(nd_txn_state_name(ti.state), "Empty"));
  nd_txn_info_free(&ti, 1);
  /* Again without KIP-360: the epoch is bumped, the id kept. */
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid2, &ep));
  CHECK_EQ_I64(pid2, pid);
  CHECK_EQ_I64(ep, 1);
  /* KIP-360: the current identity is bumped; the one before it is a retry
   * and gets the current back; anything else is fenced. */
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, pid, 1, 0, 0, &pid2, &ep));
  CHECK_EQ_I64(ep, 2);
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, pid, 1, 0, 0, &pid2, &ep));
  CHECK_EQ_I64(pid2, pid);
  CHECK_EQ_I64(ep, 2);
  CHECK_RC(nd_txn_init_producer(s, TID, 60000, pid, 0, 0, 0, &pid2, &ep),
           ND_EPRODUCERFENCED);
  CHECK_RC(nd_txn_init_producer(s, TID, 60000, pid + 100, 2, 0, 0, &pid2, &ep),
           ND_EPRODUCERFENCED);
  /* Another id gets another producer id. */
  CHECK_OK(nd_txn_init_producer(s, "other", 1000, -1, -1, 0, 0, &pid2, &ep));
  CHECK(pid2 != pid);
  nd_txn_info *l;
  size_t n;
  CHECK_OK(nd_txn_list(s, &l, &n));
  CHECK_EQ_I64(n, 2);
  CHECK(!strcmp(l[0].transactional_id, TID));
  CHECK(!strcmp(l[1].transactional_id, "other"));
  nd_txn_info_free(l, n);
  CHECK_RC(nd_txn_describe(s, "nobody", &ti), ND_ENOTFOUND);
  CHECK_OK(nd_close(s));
}

/* ---- V1: AddPartitionsToTxn, the append check, EndTxn ------------------- */

static void test_v1_commit_abort(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid, np;
  int16_t ep, ne;
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 1000, &pid, &ep));
  nd_topic_partition parts[] = {{"a", 0}, {"a", 1}};
  /* Not added yet: the partition refuses the batch (KIP-890 part 1). */
  CHECK_RC(txn_append(s, "a", 0, pid, ep, 0, "x", 0), ND_ETXNSTATE);
  CHECK_RC(txn_append(s, "a", 0, pid + 999, ep, 0, "x", 0), ND_EPRODUCERID);
  CHECK_RC(nd_txn_add_partitions(s, TID, pid + 1, ep, parts, 2, 0, 2000),
           ND_EPRODUCERID);
  CHECK_RC(nd_txn_add_partitions(s, TID, pid, ep + 1, parts, 2, 0, 2000),
           ND_EPRODUCERFENCED);
  CHECK_RC(nd_txn_add_partitions(s, "nobody", pid, ep, parts, 2, 0, 2000),
           ND_ENOTFOUND);
  nd_topic_partition bad = {"nope", 0}, badp = {"a", 7};
  CHECK_RC(nd_txn_add_partitions(s, TID, pid, ep, &bad, 1, 0, 2000),
           ND_ENOTOPIC);
  CHECK_RC(nd_txn_add_partitions(s, TID, pid, ep, &badp, 1, 0, 2000),
           ND_ENOPARTITION);
  CHECK_RC(nd_txn_add_partitions(s, TID, pid, ep, parts, 1, ND_TXN_VERIFY_ONLY,
                                 2000),
           ND_ETXNSTATE);
  CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, parts, 2, 0, 2000));
  CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, parts, 2, ND_TXN_VERIFY_ONLY,
                                 2000));
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  CHECK_EQ_I64(ti.state, ND_TXN_ONGOING);
  CHECK_EQ_I64(ti.start_ms, 2000);
  CHECK_EQ_I64(ti.partition_count, 2);
  nd_txn_info_free(&ti, 1);
  CHECK_OK(txn_append(s, "a", 0, pid, ep, 0, "v0", 0));
  CHECK_OK(txn_append(s, "a", 1, pid, ep, 0, "v1", 0));
  CHECK_RC(txn_append(s, "b", 0, pid, ep, 0, "x", 0), ND_ETXNSTATE);
  /* Commit of the Ongoing transaction: markers, epoch kept (V1). */
  CHECK_RC(nd_txn_end(s, TID, pid, ep + 1, 1, 0, 3000, &np, &ne),
           ND_EPRODUCERFENCED);
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, 0, 3000, &np, &ne));
  CHECK_EQ_I64(np, pid);
  CHECK_EQ_I64(ne, ep);
  seen sn;
  for (int32_t p = 0; p < 2; p++) {
    CHECK_OK(read_all(s, "a", p, &sn));
    CHECK_EQ_I64(sn.n, 2);
    CHECK_EQ_I64(sn.control[0], 0);
    CHECK_EQ_I64(sn.control[1], 2); /* COMMIT */
    CHECK_EQ_I64(sn.pid[1], pid);
    CHECK_EQ_I64(sn.epoch[1], ep);
  }
  CHECK_OK(read_all(s, "b", 0, &sn));
  CHECK_EQ_I64(sn.n, 0);
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  CHECK_EQ_I64(ti.state, ND_TXN_COMPLETE_COMMIT);
  CHECK_EQ_I64(ti.partition_count, 0);
  CHECK_EQ_I64(ti.start_ms, 2000); /* the last one's, as Kafka shows it */
  nd_txn_info_free(&ti, 1);
  /* After the end the partition refuses the producer's batches until it
   * is added again: nothing lands after the marker. */
  CHECK_RC(txn_append(s, "a", 0, pid, ep, 1, "late", 0), ND_ETXNSTATE);
  /* A retried commit succeeds; an abort now, or a commit of nothing, is
   * INVALID_TXN_STATE (V1). */
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, 0, 3100, NULL, NULL));
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 0, 0, 3100, NULL, NULL), ND_ETXNSTATE);
  /* Abort: an ABORT marker on the one partition. */
  CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, parts, 1, 0, 4000));
  CHECK_OK(txn_append(s, "a", 0, pid, ep, 1, "v2", 0));
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 0, 0, 5000, NULL, NULL));
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 4);
  CHECK_EQ_I64(sn.control[3], 1); /* ABORT */
  CHECK_OK(read_all(s, "a", 1, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 0, 0, 5100, NULL, NULL));
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 1, 0, 5100, NULL, NULL), ND_ETXNSTATE);
  /* Empty (after an init): neither commit nor abort in V1. */
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 6000, &pid, &ep));
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 1, 0, 6000, NULL, NULL), ND_ETXNSTATE);
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 0, 0, 6000, NULL, NULL), ND_ETXNSTATE);
  CHECK_OK(nd_close(s));
}

/* ---- fencing ------------------------------------------------------------- */

static void test_fencing(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid, pid2;
  int16_t ep, ep2;
  CHECK_OK(one_batch_txn(s, 0, "zombie", 60000, 0, &pid, &ep));
  nd_topic_partition tp = {"a", 0};
  /* A new instance: the open transaction is aborted with the epoch bumped
   * (the marker carries it), then bumped again for the new producer. */
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid2, &ep2));
  CHECK_EQ_I64(pid2, pid);
  CHECK_EQ_I64(ep2, ep + 2);
  seen sn;
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_EQ_I64(sn.control[1], 1);
  CHECK_EQ_I64(sn.epoch[1], ep + 1);
  /* The zombie is refused everywhere: init, add, end, the partition. */
  CHECK_RC(nd_txn_init_producer(s, TID, 60000, pid, ep, 0, 0, &pid2, &ep2),
           ND_EPRODUCERFENCED);
  CHECK_RC(nd_txn_add_partitions(s, TID, pid, ep, &tp, 1, 0, 0),
           ND_EPRODUCERFENCED);
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL),
           ND_EPRODUCERFENCED);
  CHECK_RC(nd_txn_add_offsets(s, TID, pid, ep, "g", 0), ND_EPRODUCERFENCED);
  CHECK_RC(txn_append(s, "a", 0, pid, ep, 1, "zombie2", ND_APPEND_TXN_ADD),
           ND_EPRODUCERFENCED);
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_OK(nd_close(s));
}

/* ---- V2 ------------------------------------------------------------------ */

static void test_v2(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid, np;
  int16_t ep, ne;
  CHECK_OK(
      nd_txn_init_producer(s, TID, 60000, -1, -1, ND_TXN_V2, 0, &pid, &ep));
  /* Abort of an Empty transaction is allowed in V2, and bumps. */
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 0, ND_TXN_V2, 0, &np, &ne));
  CHECK_EQ_I64(np, pid);
  CHECK_EQ_I64(ne, ep + 1);
  ep = ne;
  /* Commit of nothing is not. */
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 1, ND_TXN_V2, 0, &np, &ne),
           ND_ETXNSTATE);
  /* Implicit add through the append. */
  CHECK_OK(txn_append(s, "b", 0, pid, ep, 0, "v", ND_APPEND_TXN_ADD));
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  CHECK_EQ_I64(ti.state, ND_TXN_ONGOING);
  CHECK_EQ_I64(ti.partition_count, 1);
  CHECK_EQ_I64(ti.version, 2);
  nd_txn_info_free(&ti, 1);
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, ND_TXN_V2, 0, &np, &ne));
  CHECK_EQ_I64(ne, ep + 1);
  seen sn;
  CHECK_OK(read_all(s, "b", 0, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_EQ_I64(sn.control[1], 2);
  CHECK_EQ_I64(sn.epoch[1], ep + 1); /* the marker carries the new epoch */
  /* A retry of that commit (with the epoch before the bump) succeeds and
   * gives the new identity again; an abort retry does not. */
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, ND_TXN_V2, 0, &np, &ne));
  CHECK_EQ_I64(ne, ep + 1);
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 0, ND_TXN_V2, 0, &np, &ne),
           ND_ETXNSTATE);
  /* The old epoch is fenced at the partition. */
  CHECK_RC(txn_append(s, "b", 0, pid, ep, 1, "old", ND_APPEND_TXN_ADD),
           ND_EPRODUCERFENCED);
  ep = ne;
  /* The new epoch starts a new transaction at sequence 0. */
  CHECK_OK(txn_append(s, "b", 0, pid, ep, 0, "w", ND_APPEND_TXN_ADD));
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 0, ND_TXN_V2, 0, &np, &ne));
  CHECK_OK(read_all(s, "b", 0, &sn));
  CHECK_EQ_I64(sn.n, 4);
  CHECK_EQ_I64(sn.control[3], 1);
  CHECK_EQ_I64(sn.epoch[3], ep + 1);
  CHECK_OK(nd_close(s));
}

/* ---- offsets ------------------------------------------------------------- */

static void test_offsets(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid;
  int16_t ep;
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid, &ep));
  nd_offset_commit oc = {"a", 1, 42, 3, "meta", 0};
  /* V1: the group must be added first. */
  CHECK_RC(nd_txn_commit_offsets(s, TID, pid, ep, "g", &oc, 1, 0, 0),
           ND_ETXNSTATE);
  CHECK_OK(nd_txn_add_offsets(s, TID, pid, ep, "g", 0));
  CHECK_OK(nd_txn_commit_offsets(s, TID, pid, ep, "g", &oc, 1, 0, 0));
  oc.offset = 43; /* a later one replaces it */
  CHECK_OK(nd_txn_commit_offsets(s, TID, pid, ep, "g", &oc, 1, 0, 0));
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", "a", 1), 1);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", "a", 0), 0);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "h", "a", 1), 0);
  /* No topic: any partition of the group (offset expiry keeps it). */
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", NULL, -1), 1);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "h", NULL, -1), 0);
  CHECK_RC(nd_txn_offsets_pending(s, NULL, "a", 1), ND_EINVAL);
  CHECK_EQ_I64(committed(s, "g", "a", 1), -1); /* invisible until commit */
  /* Pending offsets survive a reopen. */
  CHECK_OK(nd_close(s));
  s = open_store();
  CHECK(s);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", "a", 1), 1);
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL));
  CHECK_EQ_I64(committed(s, "g", "a", 1), 43);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", "a", 1), 0);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", NULL, -1), 0);
  /* Abort drops them. */
  CHECK_OK(nd_txn_add_offsets(s, TID, pid, ep, "g", 0));
  oc.offset = 99;
  CHECK_OK(nd_txn_commit_offsets(s, TID, pid, ep, "g", &oc, 1, 0, 0));
  CHECK_OK(nd_txn_end(s, TID, pid, ep, 0, 0, 0, NULL, NULL));
  CHECK_EQ_I64(committed(s, "g", "a", 1), 43);
  CHECK_EQ_I64(nd_txn_offsets_pending(s, "g", "a", 1), 0);
  /* V2 adds the group itself. */
  CHECK_OK(
      nd_txn_init_producer(s, "v2", 60000, -1, -1, ND_TXN_V2, 0, &pid, &ep));
  oc.offset = 7;
  CHECK_OK(nd_txn_commit_offsets(s, "v2", pid, ep, "g2", &oc, 1, ND_TXN_V2, 0));
  CHECK_OK(nd_txn_end(s, "v2", pid, ep, 1, ND_TXN_V2, 0, NULL, NULL));
  CHECK_EQ_I64(committed(s, "g2", "a", 1), 7);
  CHECK_OK(nd_close(s));
}

/* ---- durability and the producer-id counter ------------------------------ */

static void test_reopen(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid, pid2, ids[3];
  int16_t ep;
  CHECK_OK(
      nd_txn_init_producer(s, TID, 12345, -1, -1, ND_TXN_V2, 100, &pid, &ep));
  nd_topic_partition tp[] = {{"a", 1}, {"b", 0}};
  CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, tp, 2, 0, 200));
  CHECK_OK(nd_txn_add_offsets(s, TID, pid, ep, "grp", 300));
  for (int i = 0; i < 3; i++)
    CHECK_OK(nd_producer_id_new(s, &ids[i]));
  CHECK_OK(nd_close(s));
  s = open_store();
  CHECK(s);
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  CHECK_EQ_I64(ti.state, ND_TXN_ONGOING);
  CHECK_EQ_I64(ti.producer_id, pid);
  CHECK_EQ_I64(ti.producer_epoch, ep);
  CHECK_EQ_I64(ti.timeout_ms, 12345);
  CHECK_EQ_I64(ti.start_ms, 200);
  CHECK_EQ_I64(ti.last_update_ms, 300);
  CHECK_EQ_I64(ti.version, 2);
  CHECK_EQ_I64(ti.partition_count, 2);
  CHECK(!strcmp(ti.partitions[0].topic, "a"));
  CHECK_EQ_I64(ti.partitions[0].partition, 1);
  CHECK_EQ_I64(ti.group_count, 1);
  CHECK(!strcmp(ti.groups[0], "grp"));
  nd_txn_info_free(&ti, 1);
  /* The transaction goes on after the reopen. */
  CHECK_OK(txn_append(s, "b", 0, pid, ep, 0, "after", 0));
  /* Ids never repeat across a reopen. */
  CHECK_OK(nd_producer_id_new(s, &pid2));
  CHECK(pid2 > ids[2] && pid2 > pid);
  CHECK_OK(nd_close(s));
  /* A data directory the broker's counter used: the library starts above
   * it. */
  s = fresh();
  CHECK(s);
  CHECK_OK(nd_close(s));
  char path[4200];
  snprintf(path, sizeof path, "%s/broker-producer-ids", dir);
  FILE *f = fopen(path, "w");
  CHECK(f);
  fprintf(f, "5000000\n");
  fclose(f);
  /* The transactions dir exists but holds no limit yet. */
  snprintf(path, sizeof path, "%s/transactions/txn.log", dir);
  unlink(path);
  s = open_store();
  CHECK(s);
  CHECK_OK(nd_producer_id_new(s, &pid2));
  CHECK(pid2 >= 5000000);
  CHECK_OK(nd_close(s));
}

/* ---- expiry -------------------------------------------------------------- */

static void test_expire(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid;
  int16_t ep;
  CHECK_OK(one_batch_txn(s, 0, "slow", 1000, 10000, &pid, &ep));
  int aborted = -1;
  CHECK_OK(nd_txn_expire(s, 10900, &aborted)); /* not yet */
  CHECK_EQ_I64(aborted, 0);
  CHECK_OK(nd_txn_expire(s, 11001, &aborted));
  CHECK_EQ_I64(aborted, 1);
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  CHECK_EQ_I64(ti.state, ND_TXN_COMPLETE_ABORT);
  CHECK_EQ_I64(ti.producer_epoch, ep + 1); /* the producer is fenced */
  nd_txn_info_free(&ti, 1);
  seen sn;
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_EQ_I64(sn.control[1], 1);
  CHECK_EQ_I64(sn.epoch[1], ep + 1);
  CHECK_RC(nd_txn_end(s, TID, pid, ep, 1, 0, 12000, NULL, NULL),
           ND_EPRODUCERFENCED);
  CHECK_RC(txn_append(s, "a", 0, pid, ep, 1, "late", 0), ND_EPRODUCERFENCED);
  /* Idle past transactional_id_expiration_ms (7 days): forgotten, for
   * good (also after a reopen). */
  CHECK_OK(nd_txn_expire(s, 11001 + 604800000LL, &aborted));
  CHECK_OK(nd_txn_expire(s, 11002 + 604800000LL, &aborted));
  CHECK_RC(nd_txn_describe(s, TID, &ti), ND_ENOTFOUND);
  CHECK_OK(nd_close(s));
  s = open_store();
  CHECK(s);
  CHECK_RC(nd_txn_describe(s, TID, &ti), ND_ENOTFOUND);
  CHECK_OK(nd_close(s));
}

/* A producer killed inside its transaction, then the broker: the
 * transaction is still Ongoing after the restart, and its timeout, counted
 * from its start before the restart, still ends it (the exactly-once
 * checker's "stuck" partition was a transaction whose producer nobody
 * restarted, waiting for this). */
static void test_expire_after_reopen(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid;
  int16_t ep;
  CHECK_OK(one_batch_txn(s, 0, "orphan", 1000, 10000, &pid, &ep));
  CHECK_OK(nd_close(s));
  s = open_store();
  CHECK(s);
  int aborted = -1;
  CHECK_OK(nd_txn_expire(s, 10900, &aborted)); /* not yet */
  CHECK_EQ_I64(aborted, 0);
  CHECK_OK(nd_txn_expire(s, 11001, &aborted));
  CHECK_EQ_I64(aborted, 1);
  seen sn;
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 2); /* the data, then its ABORT marker */
  CHECK_EQ_I64(sn.control[1], 1);
  CHECK_EQ_I64(sn.epoch[1], ep + 1);
  CHECK_OK(nd_close(s));
}

/* The background thread runs the timeout check every
 * transaction_abort_check_ms: an abandoned transaction is aborted without
 * anyone calling nd_txn_expire. */
static void test_expire_in_background(void) {
  nd_store *s = fresh();
  CHECK(s);
  CHECK_OK(nd_close(s));
  nd_options o = {.transaction_abort_check_ms = 20};
  CHECK_OK(nd_open(dir, &o, &s));
  int64_t pid;
  int16_t ep;
  CHECK_OK(one_batch_txn(s, 0, "abandoned", 1, 0, &pid, &ep));
  int st = ND_TXN_ONGOING;
  /* Waits for the event, not for a time: bounded only so that a broken
   * background thread fails the test instead of hanging it. */
  for (int i = 0;
       i < 6000 && (st == ND_TXN_ONGOING || st == ND_TXN_PREPARE_ABORT); i++) {
    nd_txn_info ti;
    CHECK_OK(nd_txn_describe(s, TID, &ti));
    st = ti.state;
    nd_txn_info_free(&ti, 1);
    /* PrepareAbort: seen while the background thread writes markers. */
    if (st == ND_TXN_ONGOING || st == ND_TXN_PREPARE_ABORT)
      usleep(10000);
  }
  CHECK_EQ_I64(st, ND_TXN_COMPLETE_ABORT);
  CHECK_OK(nd_close(s));
}

/* ---- the embedder's handle ---------------------------------------------- */

static void test_handle(void) {
  nd_store *s = fresh();
  CHECK(s);
  nd_txn *t, *t2;
  CHECK_OK(nd_txn_open(s, TID, 0, &t));
  nd_record r = {.value = "r", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
  CHECK_OK(nd_txn_append(t, "a", 0, &r, 1, NULL));
  CHECK_OK(nd_txn_append(t, "a", 0, &r, 1, NULL));
  CHECK_OK(nd_txn_append(t, "b", 0, &r, 1, NULL));
  nd_offset_commit oc = {"a", 0, 5, -1, NULL, 0};
  CHECK_OK(nd_txn_send_offsets(t, "grp", &oc, 1));
  CHECK_EQ_I64(committed(s, "grp", "a", 0), -1);
  CHECK_OK(nd_txn_commit(t));
  CHECK_EQ_I64(committed(s, "grp", "a", 0), 5);
  seen sn;
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 3);
  CHECK_EQ_I64(sn.control[2], 2);
  /* The next transaction: sequences start again (new epoch). */
  CHECK_OK(nd_txn_append(t, "a", 0, &r, 1, NULL));
  CHECK_OK(nd_txn_abort(t));
  CHECK_OK(read_all(s, "a", 0, &sn));
  CHECK_EQ_I64(sn.n, 5);
  CHECK_EQ_I64(sn.control[4], 1);
  /* A second handle fences the first and aborts its transaction. */
  CHECK_OK(nd_txn_append(t, "a", 1, &r, 1, NULL));
  CHECK_OK(nd_txn_open(s, TID, 0, &t2));
  CHECK_RC(nd_txn_append(t, "a", 1, &r, 1, NULL), ND_EPRODUCERFENCED);
  CHECK_RC(nd_txn_commit(t), ND_EPRODUCERFENCED);
  CHECK_OK(read_all(s, "a", 1, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_EQ_I64(sn.control[1], 1);
  nd_txn_close(t);
  CHECK_OK(nd_txn_append(t2, "a", 1, &r, 1, NULL));
  nd_txn_close(t2); /* aborts */
  CHECK_OK(read_all(s, "a", 1, &sn));
  CHECK_EQ_I64(sn.n, 4);
  CHECK_EQ_I64(sn.control[3], 1);
  nd_txn_close(NULL);
  CHECK_OK(nd_close(s));
}

/* ---- appends racing ends ------------------------------------------------- */

typedef struct racer {
  nd_store *s;
  int32_t partition;
  _Atomic int *stop;
  int appended;
} racer;

/* Appends transactional batches (V1: to a partition the ender added) to
 * a-<partition> whenever the transaction is Ongoing; ND_ETXNSTATE (ended
 * meanwhile) is retried. */
static void *race_append(void *arg) {
  racer *r = arg;
  int32_t seq = 0;
  while (!*r->stop) {
    nd_txn_info ti;
    if (nd_txn_describe(r->s, TID, &ti) != 0)
      break;
    int64_t pid = ti.producer_id;
    int16_t ep = ti.producer_epoch;
    int ongoing = ti.state == ND_TXN_ONGOING;
    nd_txn_info_free(&ti, 1);
    if (!ongoing) {
      sched_yield();
      continue;
    }
    int rc = txn_append(r->s, "a", r->partition, pid, ep, seq, "r", 0);
    if (rc == 0) {
      seq++;
      r->appended++;
    } else if (rc != ND_ETXNSTATE) {
      fprintf(stderr, "append: %s\n", nd_errmsg());
      break;
    }
  }
  return NULL;
}

/* 1 if the newest batch of a-p is a marker (or there is none). */
static int ends_with_marker(nd_store *s, int32_t p) {
  nd_partition_info pi;
  if (nd_partition_describe(s, "a", p, &pi) != 0)
    return 0;
  if (pi.high_watermark == 0)
    return 1;
  nd_batches bs;
  if (nd_read(s, "a", p, pi.high_watermark - 1, 1 << 16, &bs) != 0)
    return 0;
  seen sn;
  memset(&sn, 0, sizeof sn);
  nd_walk_result wr;
  nd_log_walk_mem(bs.data, bs.len, 0, collect, &sn, &wr);
  nd_free(bs.data);
  return sn.n > 0 && sn.control[sn.n - 1] != 0;
}

/* EndTxn racing appends of its producer (V1: the epoch stays, so only the
 * coordinator's lock keeps a batch checked before the end from landing
 * after the marker): after each end, before the next add, every
 * partition's newest batch is the marker. */
static void test_threads_end_vs_append(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid;
  int16_t ep;
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid, &ep));
  _Atomic int stop = 0;
  racer rs[2] = {{s, 0, &stop, 0}, {s, 1, &stop, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&th[i], NULL, race_append, &rs[i]) == 0);
  nd_topic_partition tp[] = {{"a", 0}, {"a", 1}};
  int bad = 0;
  for (int i = 0; i < 100 && !bad; i++) {
    CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, tp, 2, 0, 0));
    for (int k = 0; k < 20; k++)
      sched_yield();
    CHECK_OK(nd_txn_end(s, TID, pid, ep, i % 3 != 0, 0, 0, NULL, NULL));
    for (int k = 0; k < 20; k++)
      sched_yield();
    for (int32_t p = 0; p < 2; p++)
      bad += !ends_with_marker(s, p);
  }
  stop = 1;
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  CHECK_EQ_I64(bad, 0);
  CHECK(rs[0].appended > 0 && rs[1].appended > 0);
  CHECK_OK(nd_close(s));
}

/* ---- damage to txn.log ----------------------------------------------------
 */

static char logged[4096];

static void keep_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  if (level == ND_LOG_WARN && strlen(logged) + strlen(msg) + 2 < sizeof logged)
    strcat(strcat(logged, msg), "\n");
}

/* A damaged frame costs that frame: its id's state before it (here: the
 * id is unknown), every other id intact, the damage told and the damaged
 * file kept; the rewritten file (a checkpoint) loads whole again. */
static void test_damage(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t p1, p2, p3;
  int16_t e1, e2;
  CHECK_OK(nd_txn_init_producer(s, "x1", 1000, -1, -1, 0, 0, &p1, &e1));
  CHECK_OK(nd_txn_init_producer(s, "x2", 1000, -1, -1, 0, 0, &p2, &e2));
  CHECK_OK(nd_close(s));
  char path[4200];
  snprintf(path, sizeof path, "%s/transactions/txn.log", dir);
  size_t len;
  uint8_t *d = read_file(path, &len);
  CHECK(d);
  /* Frames: the producer-id limit (30 bytes), x1's state, x2's state. */
  CHECK(len > 60 && d[30 + 16 + 5] == 1);
  d[30 + 16 + 20] ^= 0xff; /* inside x1's state: its payload CRC fails */
  FILE *f = fopen(path, "w");
  CHECK(f);
  CHECK(fwrite(d, 1, len, f) == len);
  fclose(f);
  free(d);
  logged[0] = '\0';
  nd_options o = {.no_background = 1, .on_log = keep_log};
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK(strstr(logged, "txn.log") && strstr(logged, "'x1'"));
  nd_txn_info ti;
  CHECK_RC(nd_txn_describe(s, "x1", &ti), ND_ENOTFOUND);
  CHECK_OK(nd_txn_describe(s, "x2", &ti));
  CHECK_EQ_I64(ti.producer_id, p2);
  nd_txn_info_free(&ti, 1);
  CHECK_OK(nd_close(s));
  char damaged[4300];
  snprintf(damaged, sizeof damaged, "%s.damaged", path);
  struct stat st;
  CHECK(stat(damaged, &st) == 0);
  logged[0] = '\0';
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK(!logged[0]);
  CHECK_OK(nd_txn_describe(s, "x2", &ti));
  CHECK_EQ_I64(ti.producer_id, p2);
  nd_txn_info_free(&ti, 1);
  /* The rewrite kept the producer-id counter. */
  CHECK_OK(nd_producer_id_new(s, &p3));
  CHECK(p3 > p2);
  CHECK_OK(nd_close(s));
}

/* ---- epoch exhaustion ---------------------------------------------------- */

static size_t put(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  return (size_t)bytes;
}

/* transactions/txn.log holding one id in state Empty at (pid, epoch) with
 * transaction version ver and the producer-id limit 1000, as format.md
 * describes the file (reaching epoch 32766 by bumps would take 32766
 * fdatasyncs). */
static int write_state(const char *id, int64_t pid, int16_t epoch, int ver) {
  uint8_t f[512];
  size_t n = 16;
  n += put(f + n, 1, 1);
  n += put(f + n, 2, 4); /* two ops */
  n += put(f + n, 3, 1); /* producer ids */
  n += put(f + n, 1000, 8);
  n += put(f + n, 1, 1); /* state */
  n += put(f + n, strlen(id), 2);
  memcpy(f + n, id, strlen(id));
  n += strlen(id);
  n += put(f + n, (uint64_t)pid, 8);
  n += put(f + n, (uint16_t)epoch, 2);
  n += put(f + n, UINT64_MAX, 8);
  n += put(f + n, 0xffff, 2);
  n += put(f + n, ND_TXN_EMPTY, 1);
  n += put(f + n, 60000, 4);
  n += put(f + n, UINT64_MAX, 8);
  n += put(f + n, 1, 8);
  n += put(f + n, (uint64_t)ver, 1);
  n += put(f + n, 0, 4);
  n += put(f + n, 0, 4);
  n += put(f + n, 0, 4);
  put(f, 0x89545853u, 4);
  put(f + 4, n - 16, 4);
  put(f + 8, nd_crc32c(0, f + 16, n - 16), 4);
  put(f + 12, nd_crc32c(0, f, 12), 4);
  char path[4200];
  snprintf(path, sizeof path, "%s/transactions/txn.log", dir);
  FILE *fp = fopen(path, "w");
  if (!fp)
    return -1;
  int ok = fwrite(f, 1, n, fp) == n;
  return fclose(fp) == 0 && ok ? 0 : -1;
}

static void test_epoch_exhaustion(void) {
  nd_store *s = fresh();
  CHECK(s);
  CHECK_OK(nd_close(s));
  CHECK(write_state(TID, 77, 32765, 1) == 0);
  s = open_store();
  CHECK(s);
  int64_t pid, np;
  int16_t ep, ne;
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid, &ep));
  CHECK_EQ_I64(pid, 77);
  CHECK_EQ_I64(ep, 32766);
  /* Exhausted: a new producer id, epoch 0; a KIP-360 retry naming the
   * old identity gets the new one. */
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, 77, 32766, 0, 0, &pid, &ep));
  CHECK(pid != 77 && pid >= 1000);
  CHECK_EQ_I64(ep, 0);
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, 77, 32766, 0, 0, &np, &ne));
  CHECK_EQ_I64(np, pid);
  CHECK_EQ_I64(ne, 0);
  CHECK_OK(nd_close(s));
  /* V2: the end that uses the last epoch rotates the producer id; its
   * retry (old id, epoch 32766) answers with the new identity; the old id
   * is fenced at the partition. */
  CHECK(write_state(TID, 88, 32766, 2) == 0);
  s = open_store();
  CHECK(s);
  CHECK_OK(txn_append(s, "b", 0, 88, 32766, 0, "v", ND_APPEND_TXN_ADD));
  CHECK_OK(nd_txn_end(s, TID, 88, 32766, 1, ND_TXN_V2, 0, &np, &ne));
  CHECK(np != 88);
  CHECK_EQ_I64(ne, 0);
  seen sn;
  CHECK_OK(read_all(s, "b", 0, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_EQ_I64(sn.epoch[1], 32767); /* the marker: the bumped epoch */
  CHECK_OK(nd_txn_end(s, TID, 88, 32766, 1, ND_TXN_V2, 0, &pid, &ep));
  CHECK_EQ_I64(pid, np);
  CHECK_EQ_I64(ep, 0);
  CHECK_RC(txn_append(s, "b", 0, 88, 32766, 1, "zombie", ND_APPEND_TXN_ADD),
           ND_EPRODUCERFENCED);
  CHECK_OK(txn_append(s, "b", 0, np, 0, 0, "new", ND_APPEND_TXN_ADD));
  CHECK_OK(nd_close(s));
}

/* ---- read_committed through the handle ---------------------------------- */

/* The values a read_committed reader of a-<p> returns now, concatenated. */
static int committed_values(nd_store *s, int32_t p, char *out, size_t cap) {
  nd_reader *r;
  int rc = nd_reader_open(s, "a", p, ND_READER_COMMITTED, NULL, &r);
  if (rc)
    return rc;
  out[0] = '\0';
  nd_record_view v;
  while ((rc = nd_reader_next(r, &v)) == 1)
    if (strlen(out) + v.value_len < cap)
      strncat(out, (const char *)v.value, v.value_len);
  nd_reader_close(r);
  return rc;
}

/* What a transaction appends is invisible to read_committed readers until
 * it commits (the open transaction holds the LSO back), then all of it is
 * visible at once; an aborted one never is. */
static void test_handle_read_committed(void) {
  nd_store *s = fresh();
  CHECK(s);
  nd_txn *t;
  CHECK_OK(nd_txn_open(s, TID, 0, &t));
  nd_record r1 = {.value = "A", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
  nd_record r2 = {.value = "B", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
  nd_record r3 = {.value = "C", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
  CHECK_OK(nd_txn_append(t, "a", 0, &r1, 1, NULL));
  CHECK_OK(nd_append(s, "a", 0, &r2, 1, 0, NULL)); /* not transactional */
  char got[64];
  CHECK_OK(committed_values(s, 0, got, sizeof got));
  CHECK(!strcmp(got, "")); /* the LSO is at A: B waits behind it */
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "a", 0, &pi));
  CHECK_EQ_I64(pi.last_stable_offset, 0);
  CHECK_OK(nd_txn_commit(t));
  CHECK_OK(committed_values(s, 0, got, sizeof got));
  CHECK(!strcmp(got, "AB"));
  CHECK_OK(nd_txn_append(t, "a", 0, &r3, 1, NULL));
  CHECK_OK(nd_txn_abort(t));
  CHECK_OK(nd_append(s, "a", 0, &r2, 1, 0, NULL));
  CHECK_OK(committed_values(s, 0, got, sizeof got));
  CHECK(!strcmp(got, "ABB")); /* C was aborted */
  nd_txn_close(t);
  CHECK_OK(nd_close(s));
}

/* ---- rule 4: a stray open transaction ------------------------------------ */

/* A partition holding an open transaction the coordinator does not know
 * (only damage to txn.log can make one: here the file is replaced by a
 * state without it) gets an ABORT marker at open, with a warning, so its
 * LSO moves again. */
static void test_stray_aborted_at_open(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid;
  int16_t ep;
  CHECK_OK(one_batch_txn(s, 1, "stray", 60000, 0, &pid, &ep));
  CHECK_OK(nd_close(s));
  CHECK(write_state(TID, pid, ep, 1) == 0); /* Empty: the add is lost */
  logged[0] = '\0';
  nd_options o = {.no_background = 1, .on_log = keep_log};
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK(strstr(logged, "a-1") && strstr(logged, "aborting"));
  seen sn;
  CHECK_OK(read_all(s, "a", 1, &sn));
  CHECK_EQ_I64(sn.n, 2);
  CHECK_EQ_I64(sn.control[1], 1);
  nd_partition_info pi;
  CHECK_OK(nd_partition_describe(s, "a", 1, &pi));
  CHECK_EQ_I64(pi.last_stable_offset, pi.high_watermark);
  CHECK_OK(nd_close(s));
  /* Nothing left to abort: the next open says nothing. */
  logged[0] = '\0';
  CHECK_OK(nd_open(dir, &o, &s));
  CHECK(!strstr(logged, "aborting"));
  CHECK_OK(nd_close(s));
}

/* ---- I/O faults during an EndTxn ---------------------------------------- */

/* A transaction over a-0, a-1, b-0 with an offset for group g, ready to
 * commit; *pid, *ep its producer. */
static nd_store *ready_txn(int64_t *pid, int16_t *ep) {
  nd_store *s = fresh();
  nd_topic_partition tp[] = {{"a", 0}, {"a", 1}, {"b", 0}};
  nd_offset_commit oc = {"a", 0, 11, -1, NULL, 0};
  if (!s || nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, pid, ep) ||
      nd_txn_add_partitions(s, TID, *pid, *ep, tp, 3, 0, 0) ||
      nd_txn_add_offsets(s, TID, *pid, *ep, "g", 0) ||
      nd_txn_commit_offsets(s, TID, *pid, *ep, "g", &oc, 1, 0, 0))
    return NULL;
  for (int i = 0; i < 3; i++)
    if (txn_append(s, tp[i].topic, tp[i].partition, *pid, *ep, 0, "d", 0))
      return NULL;
  return nd_sync(s) ? NULL : s;
}

/* Every partition holds its data and exactly one marker of kind want (2
 * COMMIT, 1 ABORT) after it; the offset is committed iff a commit. */
static void check_ended(nd_store *s, int want) {
  static const char *const topics[] = {"a", "a", "b"};
  static const int32_t parts[] = {0, 1, 0};
  for (int i = 0; i < 3; i++) {
    seen sn;
    CHECK_OK(read_all(s, topics[i], parts[i], &sn));
    CHECK_EQ_I64(sn.n, 2);
    CHECK_EQ_I64(sn.control[0], 0);
    CHECK_EQ_I64(sn.control[1], want);
  }
  CHECK_EQ_I64(committed(s, "g", "a", 0), want == 2 ? 11 : -1);
}

/* The k-th call of kind in nd_txn_end fails: the end reports it (an
 * error with a message), a retry on the same store or after a reopen
 * commits, and the result is whole: every marker once, the offset. */
static int prepared_seen; /* rounds that left the end past its commit point */

static void fault_round(enum nd_test_io_kind kind, int k, int err) {
  int64_t pid;
  int16_t ep;
  nd_store *s = ready_txn(&pid, &ep);
  CHECK(s);
  nd_test_io_fault_set(kind, k, err, 0);
  int rc = nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL);
  nd_test_io_fault_clear();
  CHECK(rc != 0);
  CHECK(*nd_errmsg());
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  int st = ti.state;
  nd_txn_info_free(&ti, 1);
  if (st == ND_TXN_PREPARE_COMMIT) {
    /* Past its commit point: being completed (Kafka's
     * CONCURRENT_TRANSACTIONS), and no abort of it. */
    nd_topic_partition tp = {"b", 0};
    prepared_seen++;
    CHECK_RC(nd_txn_add_partitions(s, TID, pid, ep, &tp, 1, 0, 0),
             ND_ECONCURRENTTXN);
    CHECK_RC(nd_txn_end(s, TID, pid, ep, 0, 0, 0, NULL, NULL), ND_ETXNSTATE);
  }
  /* The client retries; a failed file may refuse until a reopen. */
  rc = nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL);
  CHECK(rc == 0 || rc == ND_EFAILED);
  nd_close(s);
  s = open_store();
  CHECK(s);
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  st = ti.state;
  nd_txn_info_free(&ti, 1);
  if (st != ND_TXN_COMPLETE_COMMIT) {
    CHECK_EQ_I64(st, ND_TXN_ONGOING);
    CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL));
  }
  check_ended(s, 2);
  CHECK_OK(nd_close(s));
}

static void test_io_faults(void) {
  static const enum nd_test_io_kind kinds[] = {ND_TEST_IO_WRITE,
                                               ND_TEST_IO_SYNC};
  for (size_t i = 0; i < 2; i++) {
    int64_t pid;
    int16_t ep;
    nd_store *s = ready_txn(&pid, &ep);
    CHECK(s);
    uint64_t before = nd_test_io_calls(kinds[i]);
    CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL));
    uint64_t n = nd_test_io_calls(kinds[i]) - before;
    CHECK_OK(nd_close(s));
    CHECK(n >= 2);
    for (uint64_t k = 0; k < n; k++) {
      int failed = nd_test_current_failed;
      fault_round(kinds[i], (int)k, k % 2 ? ENOSPC : EIO);
      if (nd_test_current_failed && !failed) {
        fprintf(stderr, "  %s call %llu of %llu\n",
                nd_test_io_kind_name(kinds[i]), (unsigned long long)k,
                (unsigned long long)n);
        return;
      }
    }
  }
  CHECK(prepared_seen > 0); /* some faults hit after the commit point */
}

/* ---- the append check among many ids ------------------------------------ */

#define IDS 100

/* The append check finds each producer among many transactional ids (the
 * coordinator's producer id index), after the transitions that made the
 * ids and after a reopen (the index rebuilt from txn.log); an old epoch is
 * fenced and a producer id no id has is refused. */
static void test_many_ids(void) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid[IDS], maxpid = 0;
  int16_t ep[IDS];
  char id[IDS][16];
  for (int i = 0; i < IDS; i++) {
    snprintf(id[i], sizeof id[i], "many-%d", i);
    CHECK_OK(
        nd_txn_init_producer(s, id[i], 60000, -1, -1, 0, 0, &pid[i], &ep[i]));
    if (pid[i] > maxpid)
      maxpid = pid[i];
  }
  for (int i = 0; i < IDS; i++) /* V2: each append adds its partition */
    CHECK_OK(
        txn_append(s, "a", i % 2, pid[i], ep[i], 0, "v", ND_APPEND_TXN_ADD));
  for (int i = 0; i < IDS; i++)
    CHECK_OK(txn_append(s, "a", i % 2, pid[i], ep[i], 1, "w", 0));
  CHECK_RC(txn_append(s, "a", 0, pid[0], (int16_t)(ep[0] + 1), 2, "x", 0),
           ND_EPRODUCERFENCED);
  CHECK_RC(txn_append(s, "a", 0, maxpid + 1000, 0, 0, "x", 0), ND_EPRODUCERID);
  CHECK_OK(nd_close(s));
  s = open_store();
  CHECK(s);
  for (int i = IDS - 1; i >= 0; i--)
    CHECK_OK(txn_append(s, "a", i % 2, pid[i], ep[i], 2, "y", 0));
  CHECK_RC(txn_append(s, "a", 0, maxpid + 1000, 0, 0, "x", 0), ND_EPRODUCERID);
  for (int i = 0; i < IDS; i++)
    CHECK_OK(nd_txn_end(s, id[i], pid[i], ep[i], 1, 0, 0, NULL, NULL));
  CHECK_RC(txn_append(s, "a", 0, pid[IDS - 1], ep[IDS - 1], 3, "z", 0),
           ND_ETXNSTATE);
  CHECK_OK(nd_close(s));
}

/* ---- an end over more partitions than marker-sync threads ---------------- */

#define MANY 20

/* A transaction over m-0..m-19, ended (commit) with the k-th fdatasync of
 * the end failing: the markers are synced concurrently, yet any one
 * failing keeps the transaction PrepareCommit (CompleteCommit only after
 * every marker is durable, rule 2), and the retry finishes it with one
 * COMMIT marker per partition. k < 0: no fault. *syncs:
 * the fdatasyncs of a faultless end. */
static void many_round(int k, uint64_t *syncs) {
  nd_store *s = fresh();
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "m", MANY, NULL));
  int64_t pid;
  int16_t ep;
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid, &ep));
  nd_topic_partition tp[MANY];
  for (int i = 0; i < MANY; i++)
    tp[i] = (nd_topic_partition){"m", i};
  CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, tp, MANY, 0, 0));
  for (int i = 0; i < MANY; i++)
    CHECK_OK(txn_append(s, "m", i, pid, ep, 0, "d", 0));
  CHECK_OK(nd_sync(s));
  uint64_t before = nd_test_sync_count(); /* every thread's */
  if (k >= 0)
    nd_test_io_fault_set(ND_TEST_IO_SYNC, k, EIO, 0);
  int rc = nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL);
  nd_test_io_fault_clear();
  if (syncs)
    *syncs = nd_test_sync_count() - before;
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  int st = ti.state;
  nd_txn_info_free(&ti, 1);
  if (k < 0) {
    CHECK_OK(rc);
  } else {
    CHECK(rc != 0);
    CHECK(st != ND_TXN_COMPLETE_COMMIT);
  }
  /* The retry (a failed file may refuse until a reopen). */
  if (st != ND_TXN_COMPLETE_COMMIT) {
    rc = nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL);
    CHECK(rc == 0 || rc == ND_EFAILED);
    if (rc) {
      nd_close(s); /* the failed partition's error again */
      s = open_store();
      CHECK(s);
      CHECK_OK(nd_txn_describe(s, TID, &ti));
      st = ti.state;
      nd_txn_info_free(&ti, 1);
      if (st == ND_TXN_ONGOING)
        CHECK_OK(nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL));
    }
  }
  for (int i = 0; i < MANY; i++) {
    seen sn;
    CHECK_OK(read_all(s, "m", i, &sn));
    CHECK_EQ_I64(sn.n, 2);
    CHECK_EQ_I64(sn.control[1], 2);
  }
  CHECK_OK(nd_close(s));
}

static void test_many_partitions(void) {
  uint64_t n = 0;
  many_round(-1, &n);
  CHECK(n >= MANY); /* a sync per partition, and the coordinator's */
  /* The last sync is Complete's own frame (test_io_faults has it). */
  for (uint64_t k = 0; k + 1 < n; k++) {
    int failed = nd_test_current_failed;
    many_round((int)k, NULL);
    if (nd_test_current_failed && !failed) {
      fprintf(stderr, "  sync %llu of %llu\n", (unsigned long long)k,
              (unsigned long long)n);
      return;
    }
  }
}

/* ---- a crash at every file operation of an EndTxn ------------------------ */

/* One round: a transaction over a-0, a-1, b-0 with offsets, the machine
 * stops after `ops` changing calls of its nd_txn_end, power cut, reopen.
 * Either the commit point was durable (every partition has the COMMIT
 * marker, the offset is committed, the state CompleteCommit) or it was
 * not (still Ongoing, no marker anywhere, no offset; an abort then ends
 * it) — never a mix. *done: the end returned 0 before the machine
 * stopped. */
static void crash_round(uint64_t ops, unsigned seed, int *reached) {
  nd_store *s = fresh();
  CHECK(s);
  int64_t pid;
  int16_t ep;
  CHECK_OK(nd_txn_init_producer(s, TID, 60000, -1, -1, 0, 0, &pid, &ep));
  nd_topic_partition tp[] = {{"a", 0}, {"a", 1}, {"b", 0}};
  CHECK_OK(nd_txn_add_partitions(s, TID, pid, ep, tp, 3, 0, 0));
  CHECK_OK(nd_txn_add_offsets(s, TID, pid, ep, "g", 0));
  nd_offset_commit oc = {"a", 0, 11, -1, NULL, 0};
  CHECK_OK(nd_txn_commit_offsets(s, TID, pid, ep, "g", &oc, 1, 0, 0));
  for (int i = 0; i < 3; i++)
    CHECK_OK(txn_append(s, tp[i].topic, tp[i].partition, pid, ep, 0, "d", 0));
  CHECK_OK(nd_sync(s));
  char backup[4200];
  snprintf(backup, sizeof backup, "%s-bk", dir);
  mkdir(backup, 0755);
  CHECK_OK(nd_test_crash_record(backup));
  nd_test_crash_freeze_after(ops);
  int rc = nd_txn_end(s, TID, pid, ep, 1, 0, 0, NULL, NULL);
  *reached = rc == 0 && !nd_test_crash_frozen();
  nd_test_crash_freeze_after(0);
  nd_close(s);
  CHECK_OK(nd_test_crash_cut(seed, NULL));
  char cmd[8500];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", backup);
  CHECK(system(cmd) == 0);
  s = open_store();
  CHECK(s);
  nd_txn_info ti;
  CHECK_OK(nd_txn_describe(s, TID, &ti));
  int st = ti.state;
  nd_txn_info_free(&ti, 1);
  int markers = 0;
  for (int i = 0; i < 3; i++) {
    seen sn;
    CHECK_OK(read_all(s, tp[i].topic, tp[i].partition, &sn));
    CHECK(sn.n >= 1 && sn.control[0] == 0); /* the data is there */
    markers += sn.n == 2 && sn.control[1] == 2;
    CHECK(sn.n <= 2);
  }
  if (st == ND_TXN_COMPLETE_COMMIT) {
    CHECK_EQ_I64(markers, 3);
    CHECK_EQ_I64(committed(s, "g", "a", 0), 11);
  } else {
    CHECK(!*reached); /* an acknowledged commit must survive */
    CHECK_EQ_I64(st, ND_TXN_ONGOING);
    CHECK_EQ_I64(markers, 0);
    CHECK_EQ_I64(committed(s, "g", "a", 0), -1);
    CHECK_OK(nd_txn_end(s, TID, pid, ep, 0, 0, 0, NULL, NULL));
    for (int i = 0; i < 3; i++) {
      seen sn;
      CHECK_OK(read_all(s, tp[i].topic, tp[i].partition, &sn));
      CHECK(sn.n == 2 && sn.control[1] == 1);
    }
    CHECK_EQ_I64(committed(s, "g", "a", 0), -1);
  }
  CHECK_OK(nd_close(s));
}

static void test_crash_every_op(void) {
  unsigned seed = (unsigned)time(NULL);
  const char *env = getenv("ND_TXN_CRASH_SEED");
  if (env)
    seed = (unsigned)strtoul(env, NULL, 10);
  fprintf(stderr, "crash seed %u (ND_TXN_CRASH_SEED)\n", seed);
  int reached = 0, committed_seen = 0;
  for (uint64_t ops = 0; !reached && ops < 200; ops++) {
    int before = nd_test_current_failed;
    crash_round(ops, seed + (unsigned)ops, &reached);
    if (nd_test_current_failed && !before) {
      fprintf(stderr, "  at operation %llu\n", (unsigned long long)ops);
      return;
    }
    committed_seen += reached;
  }
  CHECK(reached); /* the loop went past the end's last operation */
  (void)committed_seen;
}

int main(void) {
  RUN(test_init);
  RUN(test_v1_commit_abort);
  RUN(test_fencing);
  RUN(test_v2);
  RUN(test_offsets);
  RUN(test_reopen);
  RUN(test_expire);
  RUN(test_expire_after_reopen);
  RUN(test_expire_in_background);
  RUN(test_handle);
  RUN(test_threads_end_vs_append);
  RUN(test_epoch_exhaustion);
  RUN(test_damage);
  RUN(test_handle_read_committed);
  RUN(test_stray_aborted_at_open);
  RUN(test_io_faults);
  RUN(test_many_partitions);
  RUN(test_many_ids);
  RUN(test_crash_every_op);
  tmpdir_remove(dir);
  TEST_MAIN_END();
}
