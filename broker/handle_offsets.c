/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_offsets.c — a partition's log offsets: ListOffsets (by time, the
 * earliest, the latest, the highest timestamp), OffsetForLeaderEpoch, and
 * DeleteRecords, which moves the log start offset.
 *
 * Leader epochs: a partition has one leader for its whole life, so its
 * leader epoch is always 0 (Metadata says so too). A client asking about
 * epoch 0 gets the log end, any other epoch -1/-1; a current leader epoch
 * above 0 gets UNKNOWN_LEADER_EPOCH like a broker that has not seen that
 * epoch yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#if __has_include("nodata_codecs.h")
#include "nodata_codecs.h"
#define ND_DECOMPRESS nd_codecs_decompress
#else
#define ND_DECOMPRESS NULL
#endif

/* ---- ListOffsets -------------------------------------------------------- */

enum {
  TS_LATEST = -1,
  TS_EARLIEST = -2,
  TS_MAX_TIMESTAMP = -3,
  TS_EARLIEST_LOCAL = -4,
  TS_LATEST_TIERED = -5,
  TS_EARLIEST_PENDING_UPLOAD = -6,
};

/* The first ListOffsets version that knows a special timestamp: Kafka 4.4
 * answers UNSUPPORTED_VERSION for one asked at an older version, and for a
 * negative timestamp it does not know at all, before it looks the topic
 * up. */
static int timestamp_known(int64_t ts, int version) {
  switch (ts) {
  case TS_LATEST:
  case TS_EARLIEST:
    return 1;
  case TS_MAX_TIMESTAMP:
    return version >= 7; /* KIP-734 */
  case TS_EARLIEST_LOCAL:
    return version >= 8; /* KIP-405 */
  case TS_LATEST_TIERED:
    return version >= 9; /* KIP-1005 */
  case TS_EARLIEST_PENDING_UPLOAD:
    return version >= 11; /* KIP-1023 */
  default:
    return ts >= 0;
  }
}

/* Kafka answers a time lookup with the exact record. A store opened
 * without a decompressor can only look inside uncompressed batches and
 * then answers with the batch holding the record, so look inside that
 * batch here; when the store was exact this finds the same record. */
static void exact_time(nd_store *st, const char *topic, int32_t partition,
                       int64_t ts, int64_t *off, int64_t *when) {
  nd_batches nb;
  if (nd_read(st, topic, partition, *off, 1, &nb) != 0)
    return;
  nd_iter it;
  nd_iter_init(&it, nb.data, nb.len, *off, ND_DECOMPRESS);
  nd_record_view rec;
  while (nd_iter_next(&it, &rec) == 1) {
    if (rec.timestamp >= ts) {
      *off = rec.offset;
      *when = rec.timestamp;
      break;
    }
  }
  nd_iter_close(&it);
  nd_free(nb.data);
}

/* At read_committed (isolation_level 1) the latest offset is the last
 * stable offset and a lookup by time finds only offsets below it, as
 * Kafka's Partition.fetchOffsetForTimestamp bounds them by its "last
 * fetchable offset"; at read_uncommitted by the high watermark. */
static void list_one(kafka_req *r, const char *topic, int32_t partition,
                     int64_t ts, int committed,
                     kafka_list_offsets_response_partition_response *p) {
  nd_store *st = r->b->store;
  nd_partition_info pi;
  int rc = nd_partition_describe(st, topic, partition, &pi);
  if (rc != 0) {
    p->error_code = kafka_err(rc);
    return;
  }
  int64_t ls = pi.log_start_offset, hw = pi.high_watermark;
  int64_t fetchable = committed ? pi.last_stable_offset : hw;
  switch (ts) {
  case TS_LATEST:
    p->offset = fetchable;
    return;
  case TS_EARLIEST:
  case TS_EARLIEST_LOCAL:
    p->offset = ls;
    return;
  case TS_LATEST_TIERED:
  case TS_EARLIEST_PENDING_UPLOAD:
    /* Nothing is tiered: Kafka 4.4 answers -1 for both on a topic without
     * remote storage (nothing was uploaded, nothing is pending upload). */
    return;
  case TS_MAX_TIMESTAMP:
    if (pi.max_timestamp < 0 || hw == ls)
      return;
    ts = pi.max_timestamp;
    break;
  default:
    break; /* a time: timestamp_known() let no other negative one in */
  }
  int64_t off = -1, when = -1;
  rc = nd_offset_for_time(st, topic, partition, ts, &off, &when);
  if (rc != 0) {
    p->error_code = kafka_err(rc);
    return;
  }
  if (off >= 0)
    exact_time(st, topic, partition, ts, &off, &when);
  if (off >= fetchable)
    off = -1;
  p->offset = off;
  p->timestamp = off >= 0 ? when : -1;
}

int handle_list_offsets(kafka_req *r) {
  kafka_list_offsets_request *req = r->body;
  kafka_list_offsets_response *resp =
      kf_new(&r->arena, &kafka_list_offsets_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_list_offsets_response_topic_response *ts = kf_new_array(
      &r->arena, &kafka_list_offsets_response_topic_response_desc, nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_list_offsets_request_topic *qt = &req->topics.items[i];
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    kafka_list_offsets_response_partition_response *ps = kf_new_array(
        &r->arena, &kafka_list_offsets_response_partition_response_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = qt->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    /* DESCRIBE on the topic, before anything else about it. */
    int denied =
        np && !kafka_authorize_str(r, ACL_RES_TOPIC, qt->name, ACL_OP_DESCRIBE);
    for (int32_t j = 0; j < np; j++) {
      int64_t when = qt->partitions.items[j].timestamp;
      ps[j].partition_index = qt->partitions.items[j].partition_index;
      ps[j].timestamp = -1;
      ps[j].offset = -1;
      if (denied)
        ps[j].error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      else if (!timestamp_known(when, r->version))
        ps[j].error_code = KERR_UNSUPPORTED_VERSION;
      else if (!kafka_cstr_ok(qt->name))
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      else
        list_one(r, qt->name.ptr, ps[j].partition_index, when,
                 r->version >= 2 && req->isolation_level == 1, &ps[j]);
      /* Kafka's epoch is 0 (our only one) with an offset, -1 without one:
       * errors, nothing tiered, no record at or after the time. */
      ps[j].leader_epoch = ps[j].offset >= 0 ? 0 : -1;
    }
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

/* ---- DeleteRecords ------------------------------------------------------ */

int handle_delete_records(kafka_req *r) {
  kafka_delete_records_request *req = r->body;
  kafka_delete_records_response *resp =
      kf_new(&r->arena, &kafka_delete_records_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_delete_records_response_topic_result *ts = kf_new_array(
      &r->arena, &kafka_delete_records_response_topic_result_desc, nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_delete_records_request_topic *q = &req->topics.items[i];
    int32_t np = q->partitions.count > 0 ? q->partitions.count : 0;
    kafka_delete_records_response_partition_result *ps = kf_new_array(
        &r->arena, &kafka_delete_records_response_partition_result_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = q->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    int denied =
        np && !kafka_authorize_str(r, ACL_RES_TOPIC, q->name, ACL_OP_DELETE);
    for (int32_t j = 0; j < np; j++) {
      kafka_delete_records_request_partition *qp = &q->partitions.items[j];
      ps[j].partition_index = qp->partition_index;
      ps[j].low_watermark = -1;
      if (denied) {
        ps[j].error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      if (!kafka_cstr_ok(q->name)) {
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (qp->offset < -1) {
        ps[j].error_code = KERR_OFFSET_OUT_OF_RANGE;
        continue;
      }
      int64_t ls = -1;
      int rc = nd_delete_records(r->b->store, q->name.ptr, qp->partition_index,
                                 qp->offset, &ls);
      if (rc != 0) {
        ps[j].error_code = kafka_err(rc);
        continue;
      }
      ps[j].low_watermark = ls;
      kafka_log(r, BLOG_INFO, "%s/%d: records before %lld deleted", q->name.ptr,
                qp->partition_index, (long long)ls);
    }
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

/* ---- OffsetForLeaderEpoch ----------------------------------------------- */

int handle_offset_for_leader_epoch(kafka_req *r) {
  kafka_offset_for_leader_epoch_request *req = r->body;
  kafka_offset_for_leader_epoch_response *resp =
      kf_new(&r->arena, &kafka_offset_for_leader_epoch_response_desc);
  if (!resp)
    return -1;
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result *ts =
      kf_new_array(
          &r->arena,
          &kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result_desc,
          nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    kafka_offset_for_leader_epoch_request_offset_for_leader_topic *q =
        &req->topics.items[i];
    int32_t np = q->partitions.count > 0 ? q->partitions.count : 0;
    kafka_offset_for_leader_epoch_response_epoch_end_offset *ps = kf_new_array(
        &r->arena,
        &kafka_offset_for_leader_epoch_response_epoch_end_offset_desc, np);
    if (np && !ps)
      return -1;
    ts[i].topic = q->topic;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    int denied =
        np && !kafka_authorize_str(r, ACL_RES_TOPIC, q->topic, ACL_OP_DESCRIBE);
    for (int32_t j = 0; j < np; j++) {
      kafka_offset_for_leader_epoch_request_offset_for_leader_partition *qp =
          &q->partitions.items[j];
      ps[j].partition = qp->partition;
      ps[j].leader_epoch = -1;
      ps[j].end_offset = -1;
      if (denied) {
        ps[j].error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
        continue;
      }
      int64_t ls, hw;
      int rc = kafka_cstr_ok(q->topic) ? nd_offsets(r->b->store, q->topic.ptr,
                                                    qp->partition, &ls, &hw)
                                       : ND_ENOTOPIC;
      if (rc != 0) {
        ps[j].error_code = kafka_err(rc);
        continue;
      }
      if (qp->current_leader_epoch > 0) {
        ps[j].error_code = KERR_UNKNOWN_LEADER_EPOCH;
        continue;
      }
      if (qp->leader_epoch == 0) {
        ps[j].leader_epoch = 0;
        ps[j].end_offset = hw;
      }
      /* Any other epoch never existed: -1/-1, as Kafka answers for an
       * epoch above its latest or an undefined one. */
    }
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}
