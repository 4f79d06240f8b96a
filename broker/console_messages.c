/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_messages.c — the Messages calls of the console's API
 * (docs/http-api.md, "Messages"): browse a partition, search a topic,
 * download a range as JSON lines, produce one record.
 *
 * Reading is what a Kafka consumer does, over the console's loopback
 * connection as the caller: ListOffsets finds where to start (earliest,
 * latest or the last stable offset, or by timestamp), Fetch v12 (topics by
 * name, max_wait 0 so a poll answers at once, bounded sizes) brings whole
 * batches, and libnodata's nd_iter decodes their records (the codecs
 * through nd_codecs_decompress). With isolation=committed the batches of
 * aborted transactions are skipped as the Java consumer skips them: the
 * Fetch answer lists (producer id, first offset) of the aborted
 * transactions in range; a producer joins the aborted set when a batch
 * reaches its first offset, its transactional batches are dropped while
 * it is there, and its ABORT marker takes it out. Control records are
 * never listed (nd_iter skips them).
 *
 * Producing builds one RecordBatch v2 with nd_batch_encode (compressed by
 * nd_codecs_compress_batch when asked) and sends it with Produce v9,
 * acks=-1, to the partition Kafka's default partitioner picks (murmur2 of
 * the key), so the broker validates it exactly as a client's batch.
 *
 * Record bytes go out in the API's B form: {"encoding":"null"},
 * {"encoding":"utf8","text"} when json_utf8_valid says so, else
 * {"encoding":"hex","hex"}; each with "size".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "kafka_errors.h"
#include "kafka_msgs.h"
#include "nodata_codecs.h"

/* Versions nodata serves (kafka_apis) and Apache Kafka 4.x serves too
 * (4.4: Metadata 0-13, ListOffsets 1-11, Fetch 4-18, Produce 3-13). */
#define V_METADATA 12
#define V_LIST_OFFSETS 7 /* isolation level (v2+); Kafka 4.4 serves 1-11 */
#define V_FETCH 12       /* the last version naming topics by name */
#define V_PRODUCE 9

/* A Fetch brings at most this much; a page loops for more. */
#define FETCH_MAX_BYTES (1024 * 1024)

#define BROWSE_LIMIT_MAX 500
#define DOWNLOAD_LIMIT_MAX 100000
#define SEARCH_SCAN_MAX 100000
/* An answer stops growing past these (a page of large values; the answer
 * is copied once more to be sent): next_offset says where to go on. */
#define PAGE_MAX_BYTES ((size_t)16 << 20)
#define DOWNLOAD_MAX_BYTES ((size_t)64 << 20)

enum { ISO_UNCOMMITTED = 0, ISO_COMMITTED = 1 };

/* ---- record bytes ------------------------------------------------------- */

/* The B form of n bytes at p (NULL: null). */
static void write_bytes(jw *w, const void *p, size_t n) {
  jw_obj(w);
  if (!p) {
    jw_kstr(w, "encoding", "null");
    jw_kint(w, "size", 0);
  } else if (json_utf8_valid(p, n)) {
    jw_kstr(w, "encoding", "utf8");
    jw_key(w, "text");
    jw_strn(w, p, n);
    jw_kint(w, "size", (int64_t)n);
  } else {
    jw_kstr(w, "encoding", "hex");
    jw_key(w, "hex");
    jw_hex(w, p, n);
    jw_kint(w, "size", (int64_t)n);
  }
  jw_end(w);
}

static const char *codec_name(int codec) {
  switch (codec) {
  case ND_CODEC_NONE:
    return "none";
  case ND_CODEC_GZIP:
    return "gzip";
  case ND_CODEC_SNAPPY:
    return "snappy";
  case ND_CODEC_LZ4:
    return "lz4";
  case ND_CODEC_ZSTD:
    return "zstd";
  }
  return "unknown";
}

/* One record as M (docs/http-api.md); partition >= 0 adds "partition"
 * (search's matches). */
static void write_record(jw *w, const nd_record_view *r, const nd_batch_info *b,
                         int32_t partition) {
  jw_obj(w);
  if (partition >= 0)
    jw_kint(w, "partition", partition);
  jw_kint(w, "offset", r->offset);
  jw_kint(w, "timestamp_ms", r->timestamp);
  jw_kstr(w, "timestamp_type",
          r->timestamp_type == ND_TS_LOG_APPEND_TIME ? "log_append" : "create");
  jw_key(w, "key");
  write_bytes(w, r->key, r->key_len);
  jw_key(w, "value");
  write_bytes(w, r->value, r->value_len);
  jw_key(w, "headers");
  jw_arr(w);
  for (size_t i = 0; i < r->header_count; i++) {
    const nd_header *h = &r->headers[i];
    jw_obj(w);
    jw_key(w, "key");
    jw_strn(w, h->key, h->key_len);
    jw_key(w, "value");
    write_bytes(w, h->value, h->value_len);
    jw_end(w);
  }
  jw_end(w);
  jw_kstr(w, "compression", codec_name(r->codec));
  jw_kint(w, "batch_offset", r->batch_base_offset);
  jw_kint(w, "producer_id", r->producer_id);
  jw_kbool(w, "transactional",
           (b->attributes & ND_BATCH_ATTR_TRANSACTIONAL) != 0);
  jw_end(w);
}

/* ---- request parameters ------------------------------------------------- */

/* The partition of the path: a whole number in [0, INT32_MAX]. */
static int path_partition(console_call *cc, const char *s, int32_t *out) {
  char *e = NULL;
  errno = 0;
  long long v = strtoll(s, &e, 10);
  if (!*s || *e || errno || v < 0 || v > INT32_MAX || s[0] == '+' ||
      s[0] == '-' || s[0] == ' ')
    return console_error(cc, 400, "INVALID_PARAMETER",
                         "partition %s: expected a whole number from 0", s);
  *out = (int32_t)v;
  return 0;
}

enum { FROM_BEGINNING, FROM_END, FROM_OFFSET, FROM_TIMESTAMP };

/* Where a read starts, as the query says (from, offset, timestamp,
 * isolation). */
typedef struct read_query {
  int from;
  int64_t offset;    /* FROM_OFFSET */
  int64_t timestamp; /* FROM_TIMESTAMP */
  int isolation;
} read_query;

static int parse_read_query(console_call *cc, read_query *q) {
  char v[64];
  memset(q, 0, sizeof *q);
  q->from = FROM_BEGINNING;
  if (console_query(cc, "from", v, sizeof v)) {
    if (!strcmp(v, "beginning"))
      q->from = FROM_BEGINNING;
    else if (!strcmp(v, "end"))
      q->from = FROM_END;
    else if (!strcmp(v, "offset"))
      q->from = FROM_OFFSET;
    else if (!strcmp(v, "timestamp"))
      q->from = FROM_TIMESTAMP;
    else
      return console_error(cc, 400, "INVALID_PARAMETER",
                           "query parameter from=%s: expected beginning, end, "
                           "offset or timestamp",
                           v);
  }
  if (q->from == FROM_OFFSET) {
    if (!console_query(cc, "offset", v, sizeof v))
      return console_error(cc, 400, "INVALID_PARAMETER",
                           "from=offset needs offset=N");
    if (console_query_int(cc, "offset", 0, 0, INT64_MAX, &q->offset) < 0)
      return -1;
  }
  if (q->from == FROM_TIMESTAMP) {
    if (!console_query(cc, "timestamp", v, sizeof v))
      return console_error(cc, 400, "INVALID_PARAMETER",
                           "from=timestamp needs timestamp=MS");
    if (console_query_int(cc, "timestamp", 0, 0, INT64_MAX, &q->timestamp) < 0)
      return -1;
  }
  q->isolation = ISO_UNCOMMITTED;
  if (console_query(cc, "isolation", v, sizeof v)) {
    if (!strcmp(v, "committed"))
      q->isolation = ISO_COMMITTED;
    else if (strcmp(v, "uncommitted") != 0)
      return console_error(cc, 400, "INVALID_PARAMETER",
                           "query parameter isolation=%s: expected "
                           "uncommitted or committed",
                           v);
  }
  return 0;
}

/* ---- Kafka calls -------------------------------------------------------- */

/* ListOffsets for one partition: ts -2 earliest, -1 latest (the last stable
 * offset under read_committed), else the first offset whose timestamp is
 * at or after ts (-1 when there is none). -1 with the answer set. */
static int list_offset(console_call *cc, const char *topic, int32_t partition,
                       int64_t ts, int isolation, int64_t *out) {
  kafka_list_offsets_request *rq = console_new_req(cc, 2);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->replica_id = -1;
  rq->isolation_level = (int8_t)isolation;
  rq->topics.count = 1;
  rq->topics.items =
      kf_new_array(&cc->arena, &kafka_list_offsets_request_topic_desc, 1);
  kafka_list_offsets_request_partition *p =
      kf_new_array(&cc->arena, &kafka_list_offsets_request_partition_desc, 1);
  if (!rq->topics.items || !p)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items[0].name = kf_s(topic);
  rq->topics.items[0].partitions.items = p;
  rq->topics.items[0].partitions.count = 1;
  p->partition_index = partition;
  p->current_leader_epoch = -1;
  p->timestamp = ts;
  kafka_list_offsets_response *r;
  if (console_kafka(cc, 2, V_LIST_OFFSETS, rq, (void **)&r) < 0)
    return -1;
  char what[400];
  snprintf(what, sizeof what, "partition %s-%d", topic, (int)partition);
  if (r->topics.count != 1 || r->topics.items[0].partitions.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "ListOffsets answered %d topics for one",
                         (int)r->topics.count);
  const kafka_list_offsets_response_partition_response *pr =
      &r->topics.items[0].partitions.items[0];
  if (pr->error_code)
    return console_kafka_error(cc, pr->error_code, kf_null_str(), what);
  *out = pr->offset;
  return 0;
}

/* What a Fetch says of a partition besides its records. */
typedef struct part_figures {
  int64_t log_start, high_watermark, last_stable;
} part_figures;

/* One Fetch of one partition from offset: *pd points into cc->arena. */
static int fetch_once(console_call *cc, const char *topic, int32_t partition,
                      int64_t offset, int isolation,
                      const kafka_fetch_response_partition_data **pd) {
  kafka_fetch_request *rq = console_new_req(cc, 1);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->replica_id = -1;
  rq->max_wait_ms = 0; /* a poll answers at once, with nothing if so */
  rq->min_bytes = 0;
  rq->max_bytes = FETCH_MAX_BYTES;
  rq->isolation_level = (int8_t)isolation;
  rq->session_id = 0;
  rq->session_epoch = -1; /* no fetch session */
  rq->topics.count = 1;
  rq->topics.items =
      kf_new_array(&cc->arena, &kafka_fetch_request_topic_desc, 1);
  kafka_fetch_request_partition *p =
      kf_new_array(&cc->arena, &kafka_fetch_request_partition_desc, 1);
  if (!rq->topics.items || !p)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items[0].topic = kf_s(topic);
  rq->topics.items[0].partitions.items = p;
  rq->topics.items[0].partitions.count = 1;
  rq->forgotten_topics_data.count = 0;
  p->partition = partition;
  p->current_leader_epoch = -1;
  p->fetch_offset = offset;
  p->last_fetched_epoch = -1;
  p->log_start_offset = -1;
  p->partition_max_bytes = FETCH_MAX_BYTES;
  kafka_fetch_response *r;
  if (console_kafka(cc, 1, V_FETCH, rq, (void **)&r) < 0)
    return -1;
  char what[400];
  snprintf(what, sizeof what, "partition %s-%d", topic, (int)partition);
  if (r->error_code)
    return console_kafka_error(cc, r->error_code, kf_null_str(), what);
  if (r->responses.count != 1 || r->responses.items[0].partitions.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "Fetch answered %d topics for one",
                         (int)r->responses.count);
  *pd = &r->responses.items[0].partitions.items[0];
  if ((*pd)->error_code)
    return console_kafka_error(cc, (*pd)->error_code, kf_null_str(), what);
  return 0;
}

/* The number of partitions of topic (Metadata, never creating it). */
static int partition_count(console_call *cc, const char *topic, int32_t *n) {
  kafka_metadata_request *rq = console_new_req(cc, 3);
  if (!rq)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->allow_auto_topic_creation = 0;
  rq->topics.count = 1;
  rq->topics.items =
      kf_new_array(&cc->arena, &kafka_metadata_request_topic_desc, 1);
  if (!rq->topics.items)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  rq->topics.items[0].name = kf_s(topic);
  kafka_metadata_response *r;
  if (console_kafka(cc, 3, V_METADATA, rq, (void **)&r) < 0)
    return -1;
  char what[300];
  snprintf(what, sizeof what, "topic %s", topic);
  if (r->topics.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "Metadata answered %d topics for one",
                         (int)r->topics.count);
  if (r->topics.items[0].error_code)
    return console_kafka_error(cc, r->topics.items[0].error_code, kf_null_str(),
                               what);
  *n = r->topics.items[0].partitions.count;
  return 0;
}

/* ---- reading a partition ------------------------------------------------ */

/* Called for each record read, in offset order; returns 1 to stop after
 * it, 0 to go on, -1 on failure (the answer set). */
typedef int (*record_fn)(void *ctx, const nd_record_view *r,
                         const nd_batch_info *b);

/* Read the varint (zigzag) at *p below end; -1 when malformed. */
static int get_varint(const uint8_t **p, const uint8_t *end, int64_t *v) {
  uint64_t u = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end)
      return -1;
    uint8_t c = *(*p)++;
    u |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
      return 0;
    }
  }
  return -1;
}

/* Whether a control batch holds an ABORT marker: its (uncompressed) first
 * record's key is version i16, type i16 (0 = ABORT). A batch that cannot
 * be read that way counts as an end of the transaction either way, which
 * is what matters to the aborted set. */
static int is_abort_marker(const uint8_t *batch, const nd_batch_info *b) {
  if ((b->attributes & ND_BATCH_ATTR_CODEC_MASK) != 0)
    return 1;
  const uint8_t *p = batch + ND_BATCH_HEADER_SIZE, *end = batch + b->size;
  int64_t len, ts, od, kl;
  if (get_varint(&p, end, &len) || p >= end)
    return 1;
  p++; /* attributes */
  if (get_varint(&p, end, &ts) || get_varint(&p, end, &od) ||
      get_varint(&p, end, &kl) || kl < 4 || end - p < 4)
    return 1;
  return p[2] == 0 && p[3] == 0;
}

/* A set of producer ids (aborted transactions of one Fetch answer). */
typedef struct pid_set {
  int64_t *v;
  size_t n, cap;
} pid_set;

static int pid_has(const pid_set *s, int64_t pid) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == pid)
      return 1;
  return 0;
}

static int pid_add(pid_set *s, int64_t pid) {
  if (pid_has(s, pid))
    return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    int64_t *v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = pid;
  return 0;
}

static void pid_del(pid_set *s, int64_t pid) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == pid) {
      s->v[i] = s->v[--s->n];
      return;
    }
}

/* Where a read of a partition starts and stops, and what it found. */
typedef struct part_read {
  const char *topic;
  int32_t partition;
  int isolation;
  int64_t start; /* first offset to read */
  int64_t stop;  /* read below this only; INT64_MAX: to the end */
  int64_t skip;  /* records to pass over before the first handed out */
  part_figures fig;
  int64_t next_offset; /* where a next read continues */
  int at_end;          /* nothing more to read below stop */
} part_read;

/* The records of one Fetch answer's batches, from *off on. Returns 0 (and
 * *off past what was consumed), 1 when fn asked to stop, -1 failure. */
static int read_batches(console_call *cc, part_read *pr,
                        const kafka_fetch_response_partition_data *pd,
                        int64_t *off, record_fn fn, void *ctx) {
  const uint8_t *data = pd->records.ptr;
  size_t len = pd->records.len > 0 ? (size_t)pd->records.len : 0;
  pid_set aborted = {0};
  size_t next_abort = 0; /* aborted_transactions are in first_offset order */
  int rc = 0;
  for (size_t pos = 0; pos < len && *off < pr->stop;) {
    nd_batch_info b;
    int st = nd_batch_check(data + pos, len - pos, 0, &b);
    if (st == 1)
      break; /* a partial batch ends a Fetch answer */
    if (st < 0) {
      rc = console_error(cc, 502, "CORRUPT_MESSAGE",
                         "partition %s-%d at byte %zu of a Fetch answer: %s",
                         pr->topic, (int)pr->partition, pos, nd_errmsg());
      break;
    }
    const uint8_t *batch = data + pos;
    pos += b.size;
    if (b.last_offset < *off)
      continue;
    if (pr->isolation == ISO_COMMITTED && b.producer_id >= 0) {
      /* The Java consumer's rule (CompletedFetch): producers whose aborted
       * transaction began at or before this batch's last offset. */
      while (next_abort < (size_t)pd->aborted_transactions.count &&
             pd->aborted_transactions.items[next_abort].first_offset <=
                 b.last_offset) {
        if (pid_add(&aborted,
                    pd->aborted_transactions.items[next_abort].producer_id)) {
          rc = console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
          goto out;
        }
        next_abort++;
      }
      if (b.attributes & ND_BATCH_ATTR_CONTROL) {
        if (is_abort_marker(batch, &b))
          pid_del(&aborted, b.producer_id);
      } else if ((b.attributes & ND_BATCH_ATTR_TRANSACTIONAL) &&
                 pid_has(&aborted, b.producer_id)) {
        *off = b.last_offset + 1;
        continue;
      }
    }
    nd_iter it;
    nd_iter_init(&it, batch, b.size, *off, nd_codecs_decompress);
    nd_record_view r;
    int n;
    while ((n = nd_iter_next(&it, &r)) == 1) {
      if (r.offset >= pr->stop) {
        *off = pr->stop; /* came after the range was set */
        break;
      }
      *off = r.offset + 1;
      if (pr->skip > 0) {
        pr->skip--;
        continue;
      }
      int f = fn(ctx, &r, &b);
      if (f != 0) {
        nd_iter_close(&it);
        rc = f;
        goto out;
      }
    }
    nd_iter_close(&it);
    if (n < 0) {
      rc = console_error(cc, 502, "CORRUPT_MESSAGE", "partition %s-%d: %s",
                         pr->topic, (int)pr->partition, nd_errmsg());
      break;
    }
    if (b.last_offset + 1 > *off && b.last_offset + 1 <= pr->stop)
      *off = b.last_offset + 1; /* past control records and gaps */
  }
out:
  free(aborted.v);
  return rc;
}

/* Read pr's partition from pr->start, handing records to fn until it
 * stops, pr->stop, or the end. 0 or -1 (answered). */
static int read_partition(console_call *cc, part_read *pr, record_fn fn,
                          void *ctx) {
  int64_t off = pr->start;
  for (;;) {
    const kafka_fetch_response_partition_data *pd;
    if (fetch_once(cc, pr->topic, pr->partition, off, pr->isolation, &pd) < 0)
      return -1;
    pr->fig.log_start = pd->log_start_offset;
    pr->fig.high_watermark = pd->high_watermark;
    pr->fig.last_stable = pd->last_stable_offset;
    int64_t before = off;
    int rc = read_batches(cc, pr, pd, &off, fn, ctx);
    pr->next_offset = off;
    if (rc < 0)
      return -1;
    if (rc > 0) {
      int64_t end = pr->isolation == ISO_COMMITTED ? pd->last_stable_offset
                                                   : pd->high_watermark;
      pr->at_end = off >= end || off >= pr->stop;
      return 0;
    }
    /* No progress: nothing more is visible (the end, or the last stable
     * offset); stop rather than ask again. */
    if (off == before || off >= pr->stop) {
      pr->at_end = 1;
      return 0;
    }
  }
}

/* A record_fn that counts. */
static int count_record(void *ctx, const nd_record_view *r,
                        const nd_batch_info *b) {
  (void)r;
  (void)b;
  ++*(int64_t *)ctx;
  return 0;
}

/* Set pr->start and pr->skip for the last `window` records below latest.
 * Offsets are not records: control records, aborted transactions (under
 * read_committed) and compacted gaps take offsets and show nothing, so a
 * window of `window` offsets may hold fewer. Count what the window holds,
 * and widen it (doubling) until it holds enough or reaches the log start;
 * pr->skip passes over the surplus at its front. */
static int end_window(console_call *cc, part_read *pr, int64_t earliest,
                      int64_t latest, int64_t window) {
  int64_t span = window;
  for (int round = 0;; round++) {
    pr->start = latest - span > earliest ? latest - span : earliest;
    pr->skip = 0;
    if (pr->start == earliest && round == 0)
      return 0; /* the whole partition: nothing to skip */
    int64_t n = 0;
    if (read_partition(cc, pr, count_record, &n) < 0)
      return -1;
    if (n >= window || pr->start == earliest || round == 16) {
      pr->skip = n > window ? n - window : 0;
      pr->at_end = 0;
      return 0;
    }
    span = span > INT64_MAX / 2 ? INT64_MAX : span * 2;
  }
}

/* Set pr->start (and pr->stop) for q, reading `window` records from the
 * end for FROM_END: ListOffsets as a consumer's seek would. clamp_end:
 * an offset past the end starts at the end. */
static int resolve_start(console_call *cc, part_read *pr, const read_query *q,
                         int64_t window, int clamp_end) {
  int64_t earliest, latest;
  if (list_offset(cc, pr->topic, pr->partition, -2, q->isolation, &earliest) <
      0)
    return -1;
  pr->stop = INT64_MAX;
  switch (q->from) {
  case FROM_BEGINNING:
    pr->start = earliest;
    break;
  case FROM_END:
    if (list_offset(cc, pr->topic, pr->partition, -1, q->isolation, &latest) <
        0)
      return -1;
    pr->stop = latest;
    if (end_window(cc, pr, earliest, latest, window) < 0)
      return -1;
    break;
  case FROM_OFFSET:
    /* Below the log start the records are gone: start at the first. */
    pr->start = q->offset < earliest ? earliest : q->offset;
    /* A search over every partition with one offset: a partition that
     * ends before it has nothing to search (a browse says
     * OFFSET_OUT_OF_RANGE, as a Fetch does). */
    if (clamp_end) {
      if (list_offset(cc, pr->topic, pr->partition, -1, q->isolation, &latest) <
          0)
        return -1;
      if (pr->start > latest)
        pr->start = latest;
    }
    break;
  case FROM_TIMESTAMP: {
    int64_t at;
    if (list_offset(cc, pr->topic, pr->partition, q->timestamp, q->isolation,
                    &at) < 0)
      return -1;
    if (at < 0 &&
        list_offset(cc, pr->topic, pr->partition, -1, q->isolation, &at) < 0)
      return -1;
    pr->start = at;
    break;
  }
  }
  pr->next_offset = pr->start;
  pr->fig.log_start = earliest;
  return 0;
}

/* ---- browse and download ------------------------------------------------ */

typedef struct page_ctx {
  jw *w;     /* messages: the array; download: NULL */
  char *buf; /* download: the JSON lines */
  size_t len, cap;
  int64_t count, limit;
  size_t max_bytes;
  int failed;
} page_ctx;

static int page_record(void *ctx, const nd_record_view *r,
                       const nd_batch_info *b) {
  page_ctx *pc = ctx;
  if (pc->w) {
    write_record(pc->w, r, b, -1);
  } else {
    jw line = {0};
    write_record(&line, r, b, -1);
    if (line.failed) {
      pc->failed = 1;
      return 1;
    }
    if (pc->len + line.len + 1 > pc->cap) {
      size_t cap = pc->cap ? pc->cap : 65536;
      while (pc->len + line.len + 1 > cap)
        cap *= 2;
      char *nb = realloc(pc->buf, cap);
      if (!nb) {
        jw_free(&line);
        pc->failed = 1;
        return 1;
      }
      pc->buf = nb;
      pc->cap = cap;
    }
    memcpy(pc->buf + pc->len, line.p, line.len);
    pc->len += line.len;
    pc->buf[pc->len++] = '\n';
    jw_free(&line);
  }
  return ++pc->count >= pc->limit ||
         (pc->w ? pc->w->len : pc->len) >= pc->max_bytes;
}

/* The parts of a browse or download: topic, partition, query, limit. */
static int read_page(console_call *cc, int64_t limit_def, int64_t limit_max,
                     part_read *pr, read_query *q, page_ctx *pc) {
  memset(pr, 0, sizeof *pr);
  pr->topic = cc->params[0];
  if (path_partition(cc, cc->params[1], &pr->partition) < 0)
    return -1;
  if (parse_read_query(cc, q) < 0 ||
      console_query_int(cc, "limit", limit_def, 1, limit_max, &pc->limit) < 0)
    return -1;
  pr->isolation = q->isolation;
  if (resolve_start(cc, pr, q, pc->limit, 0) < 0)
    return -1;
  return read_partition(cc, pr, page_record, pc);
}

static int browse(console_call *cc) {
  part_read pr;
  read_query q;
  jw msgs = {0};
  page_ctx pc = {.w = &msgs, .max_bytes = PAGE_MAX_BYTES};
  jw_arr(&msgs);
  if (read_page(cc, 50, BROWSE_LIMIT_MAX, &pr, &q, &pc) < 0) {
    jw_free(&msgs);
    return -1;
  }
  jw_end(&msgs);
  jw *w = console_json(cc);
  jw_obj(w);
  jw_kstr(w, "topic", pr.topic);
  jw_kint(w, "partition", pr.partition);
  jw_kint(w, "log_start", pr.fig.log_start);
  jw_kint(w, "high_watermark", pr.fig.high_watermark);
  jw_kint(w, "last_stable", pr.fig.last_stable);
  jw_kint(w, "next_offset", pr.next_offset);
  jw_key(w, "messages");
  if (msgs.failed)
    w->failed = 1;
  else
    jw_raw(w, msgs.p, msgs.len);
  jw_end(w);
  jw_free(&msgs);
  return 0;
}

static int download(console_call *cc) {
  part_read pr;
  read_query q;
  page_ctx pc = {.max_bytes = DOWNLOAD_MAX_BYTES};
  if (read_page(cc, 1000, DOWNLOAD_LIMIT_MAX, &pr, &q, &pc) < 0) {
    free(pc.buf);
    return -1;
  }
  if (pc.failed) {
    free(pc.buf);
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  }
  static const char *const from[] = {"beginning", "end", "offset", "timestamp"};
  /* The file name: the topic's characters are [a-zA-Z0-9._-] (Kafka's
   * rule), safe in a quoted header value. */
  snprintf(
      cc->rs->headers, sizeof cc->rs->headers,
      "Content-Disposition: attachment; filename=\"%.200s-%d-%s.jsonl\"\r\n"
      "X-Next-Offset: %lld\r\n",
      pr.topic, (int)pr.partition, from[q.from], (long long)pr.next_offset);
  cc->rs->content_type = "application/x-ndjson";
  cc->rs->raw = pc.buf ? pc.buf : malloc(1);
  cc->rs->raw_len = pc.len;
  if (!cc->rs->raw)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  return 0;
}

/* ---- search ------------------------------------------------------------- */

enum { IN_KEY = 1, IN_VALUE = 2 };

typedef struct search_ctx {
  jw *w;
  const char *q;
  size_t qlen;
  int in;
  int32_t partition;
  int64_t scanned, scan_max; /* in this partition */
  int64_t matches, limit;    /* over all */
  int64_t total_scanned;
  int limit_hit;
} search_ctx;

static int contains(const void *hay, size_t n, const char *q, size_t qlen) {
  return hay && (qlen == 0 || memmem(hay, n, q, qlen) != NULL);
}

static int search_record(void *ctx, const nd_record_view *r,
                         const nd_batch_info *b) {
  search_ctx *sc = ctx;
  sc->scanned++;
  sc->total_scanned++;
  if (((sc->in & IN_KEY) && contains(r->key, r->key_len, sc->q, sc->qlen)) ||
      ((sc->in & IN_VALUE) &&
       contains(r->value, r->value_len, sc->q, sc->qlen))) {
    write_record(sc->w, r, b, sc->partition);
    if (++sc->matches >= sc->limit || sc->w->len >= PAGE_MAX_BYTES) {
      sc->limit_hit = 1;
      return 1;
    }
  }
  return sc->scanned >= sc->scan_max;
}

static int search(console_call *cc) {
  const char *topic = cc->params[0];
  char q[4096], in[16];
  if (!console_query(cc, "q", q, sizeof q) || !q[0])
    return console_error(cc, 400, "INVALID_PARAMETER",
                         "search needs q=TEXT (not empty, up to %zu bytes)",
                         sizeof q - 1);
  int where = IN_KEY | IN_VALUE;
  if (console_query(cc, "in", in, sizeof in)) {
    if (!strcmp(in, "key"))
      where = IN_KEY;
    else if (!strcmp(in, "value"))
      where = IN_VALUE;
    else if (strcmp(in, "both") != 0)
      return console_error(cc, 400, "INVALID_PARAMETER",
                           "query parameter in=%s: expected key, value or both",
                           in);
  }
  read_query rq;
  int64_t part, scan, limit;
  if (console_query_int(cc, "partition", -1, 0, INT32_MAX, &part) < 0 ||
      console_query_int(cc, "scan", 10000, 1, SEARCH_SCAN_MAX, &scan) < 0 ||
      console_query_int(cc, "limit", 100, 1, BROWSE_LIMIT_MAX, &limit) < 0 ||
      parse_read_query(cc, &rq) < 0)
    return -1;
  int32_t nparts;
  if (part >= 0) {
    nparts = (int32_t)part + 1;
  } else if (partition_count(cc, topic, &nparts) < 0) {
    return -1;
  }
  jw matches = {0};
  jw_arr(&matches);
  search_ctx sc = {.w = &matches,
                   .q = q,
                   .qlen = strlen(q),
                   .in = where,
                   .scan_max = scan,
                   .limit = limit};
  int truncated = 0;
  for (int32_t p = part >= 0 ? (int32_t)part : 0; p < nparts; p++) {
    if (sc.limit_hit) {
      truncated = 1; /* partitions left unsearched */
      break;
    }
    part_read pr = {.topic = topic, .partition = p, .isolation = rq.isolation};
    sc.partition = p;
    sc.scanned = 0;
    if (resolve_start(cc, &pr, &rq, scan, 1) < 0 ||
        read_partition(cc, &pr, search_record, &sc) < 0) {
      jw_free(&matches);
      return -1;
    }
    if (sc.limit_hit && !pr.at_end && sc.scanned < scan)
      truncated = 1;
  }
  jw_end(&matches);
  jw *w = console_json(cc);
  jw_obj(w);
  jw_key(w, "matches");
  if (matches.failed)
    w->failed = 1;
  else
    jw_raw(w, matches.p, matches.len);
  jw_kint(w, "scanned", sc.total_scanned);
  jw_kbool(w, "truncated", truncated);
  jw_end(w);
  jw_free(&matches);
  return 0;
}

/* ---- produce ------------------------------------------------------------ */

/* The bytes of body field `name` (a string or null) in `encoding` ("utf8"
 * or "hex"), into *p (in the arena; NULL for null). -1 answered. */
static int body_bytes(console_call *cc, const jv *v, const char *name,
                      const char *encoding, const uint8_t **p, size_t *n) {
  *p = NULL;
  *n = 0;
  if (!v || v->type == JV_NULL)
    return 0;
  if (v->type != JV_STRING)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "%s: expected a string or null", name);
  if (!strcmp(encoding, "utf8")) {
    *p = (const uint8_t *)v->str;
    *n = v->len;
    return 0;
  }
  if (strcmp(encoding, "hex") != 0)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "%s encoding %s: expected utf8 or hex", name,
                         encoding);
  if (v->len % 2)
    return console_error(cc, 400, "INVALID_REQUEST", "%s: hex of an odd length",
                         name);
  uint8_t *out = kf_alloc(&cc->arena, v->len / 2 + 1);
  if (!out)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  for (size_t i = 0; i < v->len; i += 2) {
    int hi = console_hexval(v->str[i]), lo = console_hexval(v->str[i + 1]);
    if (hi < 0 || lo < 0)
      return console_error(cc, 400, "INVALID_REQUEST",
                           "%s: not hex at character %zu", name, i);
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  *p = out;
  *n = v->len / 2;
  return 0;
}

/* An optional string field: def when absent or null. */
static int body_str(console_call *cc, const jv *body, const char *name,
                    const char *def, const char **out) {
  const jv *v = jv_get(body, name);
  *out = def;
  if (!v || v->type == JV_NULL)
    return 0;
  if (v->type != JV_STRING)
    return console_error(cc, 400, "INVALID_REQUEST", "%s: expected a string",
                         name);
  *out = v->str;
  return 0;
}

static int codec_of(const char *s) {
  static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, names[i]))
      return i; /* enum nd_codec's order */
  return -1;
}

static int produce(console_call *cc) {
  const char *topic = cc->params[0];
  const jv *body = console_body(cc);
  if (!body)
    return -1;
  if (body->type != JV_OBJECT)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body must be a JSON object");
  const char *kenc, *venc, *comp;
  if (body_str(cc, body, "key_encoding", "utf8", &kenc) < 0 ||
      body_str(cc, body, "value_encoding", "utf8", &venc) < 0 ||
      body_str(cc, body, "compression", "none", &comp) < 0)
    return -1;
  int codec = codec_of(comp);
  if (codec < 0)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "compression %s: expected none, gzip, snappy, lz4 or "
                         "zstd",
                         comp);
  nd_record rec = {.timestamp = cc->now_ms};
  const uint8_t *p;
  size_t n;
  if (body_bytes(cc, jv_get(body, "key"), "key", kenc, &p, &n) < 0)
    return -1;
  rec.key = p;
  rec.key_len = n;
  if (body_bytes(cc, jv_get(body, "value"), "value", venc, &p, &n) < 0)
    return -1;
  rec.value = p;
  rec.value_len = n;
  const jv *ts = jv_get(body, "timestamp_ms");
  if (ts && ts->type != JV_NULL &&
      (!jv_as_int(ts, &rec.timestamp) || rec.timestamp < 0))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "timestamp_ms: expected a whole number from 0");
  const jv *hs = jv_get(body, "headers");
  if (hs && hs->type != JV_NULL) {
    if (hs->type != JV_ARRAY)
      return console_error(cc, 400, "INVALID_REQUEST",
                           "headers: expected an array of {key, value}");
    nd_header *h = kf_alloc(&cc->arena, (hs->n + 1) * sizeof *h);
    if (!h)
      return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
    for (size_t i = 0; i < hs->n; i++) {
      const jv *e = &hs->items[i];
      const char *k = jv_as_str(jv_get(e, "key"));
      const char *henc;
      if (e->type != JV_OBJECT || !k)
        return console_error(cc, 400, "INVALID_REQUEST",
                             "headers[%zu]: expected {\"key\": string, "
                             "\"value\": string or null}",
                             i);
      if (body_str(cc, e, "value_encoding", "utf8", &henc) < 0 ||
          body_bytes(cc, jv_get(e, "value"), "header value", henc, &p, &n) < 0)
        return -1;
      h[i].key = k;
      h[i].key_len = jv_get(e, "key")->len;
      h[i].value = p;
      h[i].value_len = n;
    }
    rec.headers = h;
    rec.header_count = hs->n;
  }
  /* The partition: given, or Kafka's default partitioner's. */
  const jv *pv = jv_get(body, "partition");
  int64_t partition = -1;
  if (pv && pv->type != JV_NULL &&
      (!jv_as_int(pv, &partition) || partition < 0 || partition > INT32_MAX))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "partition: expected a whole number from 0 or null");
  if (partition < 0) {
    int32_t count;
    if (partition_count(cc, topic, &count) < 0)
      return -1;
    if (count <= 0)
      return console_error(cc, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                           "topic %s has no partitions", topic);
    if (rec.key) {
      partition = nd_partition_for_key(rec.key, rec.key_len, count);
    } else {
      /* A null key goes anywhere: a fresh pick per call. */
      static unsigned seed;
      seed = seed * 1103515245u + 12345u + (unsigned)cc->now_ms;
      partition = (int64_t)((seed >> 8) % (unsigned)count);
    }
  }
  void *batch = NULL, *packed = NULL;
  size_t blen = 0, plen = 0;
  if (nd_batch_encode(&rec, 1, 0, cc->now_ms, 0, &batch, &blen) < 0)
    return console_error(cc, 400, "INVALID_REQUEST", "cannot encode: %s",
                         nd_errmsg());
  if (codec != ND_CODEC_NONE) {
    int rc = nd_codecs_compress_batch(batch, blen, codec, &packed, &plen);
    nd_free(batch);
    batch = NULL;
    if (rc < 0)
      return console_error(cc, 500, "CODEC_FAILED", "cannot compress: %s",
                           nd_errmsg());
  }
  kafka_produce_request *rq = console_new_req(cc, 0);
  kafka_produce_request_partition_produce_data *pd = kf_new_array(
      &cc->arena, &kafka_produce_request_partition_produce_data_desc, 1);
  if (rq)
    rq->topic_data.items = kf_new_array(
        &cc->arena, &kafka_produce_request_topic_produce_data_desc, 1);
  if (!rq || !pd || !rq->topic_data.items) {
    nd_free(batch);
    free(packed);
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  }
  rq->transactional_id = kf_null_str();
  rq->acks = -1;
  rq->timeout_ms = CK_TIMEOUT_MS / 2;
  rq->topic_data.count = 1;
  rq->topic_data.items[0].name = kf_s(topic);
  rq->topic_data.items[0].partition_data.items = pd;
  rq->topic_data.items[0].partition_data.count = 1;
  pd->index = (int32_t)partition;
  pd->records.ptr = packed ? packed : batch;
  pd->records.len = (int32_t)(packed ? plen : blen);
  kafka_produce_response *r;
  int rc = console_kafka(cc, 0, V_PRODUCE, rq, (void **)&r);
  nd_free(batch);
  free(packed);
  if (rc < 0)
    return -1;
  char what[400];
  snprintf(what, sizeof what, "partition %s-%d", topic, (int)partition);
  if (r->responses.count != 1 ||
      r->responses.items[0].partition_responses.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "Produce answered %d topics for one",
                         (int)r->responses.count);
  const kafka_produce_response_partition_produce_response *pr =
      &r->responses.items[0].partition_responses.items[0];
  if (pr->error_code)
    return console_kafka_error(cc, pr->error_code, pr->error_message, what);
  cc->rs->status = 201;
  jw *w = console_json(cc);
  jw_obj(w);
  jw_kint(w, "partition", partition);
  jw_kint(w, "offset", pr->base_offset);
  jw_kint(w, "timestamp_ms",
          pr->log_append_time_ms >= 0 ? pr->log_append_time_ms : rec.timestamp);
  jw_end(w);
  return 0;
}

const console_route console_message_routes[] = {
    {"GET", "/api/topics/{}/partitions/{}/messages", browse, 0},
    {"GET", "/api/topics/{}/partitions/{}/download", download, 0},
    {"GET", "/api/topics/{}/search", search, 0},
    {"POST", "/api/topics/{}/messages", produce, CONSOLE_MUTATES},
    {NULL, NULL, NULL, 0},
};
