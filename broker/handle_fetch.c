/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle_fetch.c — Fetch (API 1).
 *
 * Returns whole batches from the fetch offset on (the batch holding the
 * offset comes first; clients skip the records before it), as nd_read
 * gives them. Limits: partition_max_bytes per partition and max_bytes for
 * the response, except that the first batch found is always returned even
 * if larger, so a consumer always makes progress (KIP-74).
 *
 * Long poll: when fewer than min_bytes are available, the request is
 * parked on the loop, indexed by every partition it reads (k->fetch_waits).
 * An append to one of them (kafka_on_append) has it looked at again, and it
 * is answered as soon as its partitions hold min_bytes from their fetch
 * offsets, as Kafka does; else at max_wait_ms (a loop timer) with whatever
 * is there. Appends to other partitions do not touch it.
 *
 * Record bytes go from the segment files to the socket with sendfile
 * (nd_read_file gives each partition's batches as a file range; the
 * response's records fields are holes the net layer fills from the
 * files), so they are never copied through the broker. Ranges under
 * FETCH_COPY_BELOW bytes are copied instead: for them a pread costs less
 * than a descriptor and a sendfile call of their own. File descriptors
 * held by queued responses are bounded (fetch_files_max); past the bound,
 * and when the process is out of descriptors, partitions are copied.
 *
 * Fetch sessions (KIP-227) are declined: every response carries session id
 * 0, which tells the client to keep sending full fetch requests.
 *
 * v13+ names topics by id; an unknown id gets UNKNOWN_TOPIC_ID, so a client
 * holding the id of a deleted topic never reads a re-created one.
 *
 * isolation_level 1 (read_committed): batches end at the last stable
 * offset (nd_read_file_committed / nd_read_committed, the same zero-copy
 * path), and the partition's aborted transactions overlapping what is
 * returned are listed (nd_aborted_txns, Kafka's
 * collectAbortedTransactions) so the client drops their records. Every
 * answer carries the last stable offset, at both levels, as Kafka's do.
 * A transaction's marker is an append, so the store's append hook wakes
 * the read_committed fetches waiting on its partition when the LSO moves.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kafka.h"
#include "nodata_zerocopy.h"

#define FETCH_COPY_BELOW (16 * 1024)

typedef kafka_fetch_response_partition_data fpart;
typedef kafka_fetch_response_fetchable_topic_response ftopic;

typedef struct fetch_wait {
  waiter waiter; /* in k->fetch_waits, on each partition of the request */
  kafka_req *req;
  net_timer *timer;
} fetch_wait;

/* A parked fetch about to be answered or dropped leaves its timer and the
 * index of waiting fetches. */
static void unwait(kafka_req *r) {
  fetch_wait *w = r->hctx;
  if (!w)
    return;
  if (w->timer)
    net_timer_cancel(r->b->loop, w->timer);
  w->timer = NULL;
  waitset_remove(r->k->fetch_waits, &w->waiter);
}

/* What a response under construction holds: copied buffers to free after
 * encoding, and file ranges to hand to the net layer. */
typedef struct fetch_hold {
  void **bufs;
  size_t nbufs, bufs_cap;
  net_file *files;
  size_t nfiles, files_cap;
  /* What each partition's records add to its metrics, counted only when
   * the response goes out (a fetch that waits is built again). */
  struct fetch_count {
    metrics_part *m;
    uint64_t records, bytes;
  } * counts;
  size_t ncounts, counts_cap;
} fetch_hold;

static void hold_release(fetch_hold *h) {
  for (size_t i = 0; i < h->nbufs; i++)
    nd_free(h->bufs[i]);
  free(h->bufs);
  for (size_t i = 0; i < h->nfiles; i++)
    if (h->files[i].fd >= 0)
      close(h->files[i].fd);
  free(h->files);
  free(h->counts);
  memset(h, 0, sizeof *h);
}

static int hold_buf(fetch_hold *h, void *buf) {
  if (h->nbufs == h->bufs_cap) {
    size_t cap = h->bufs_cap ? h->bufs_cap * 2 : 8;
    void **nb = realloc(h->bufs, cap * sizeof *nb);
    if (!nb)
      return -1;
    h->bufs = nb;
    h->bufs_cap = cap;
  }
  h->bufs[h->nbufs++] = buf;
  return 0;
}

/* Note what a partition's records add to its counters; out of memory, they
 * go uncounted (the fetch itself is not failed for a metric). */
static void hold_count(fetch_hold *h, const char *topic, int32_t partition,
                       uint64_t records, uint64_t bytes) {
  metrics_part *m = metrics_partition(topic, partition);
  if (!m)
    return;
  if (h->ncounts == h->counts_cap) {
    size_t cap = h->counts_cap ? h->counts_cap * 2 : 8;
    struct fetch_count *nc = realloc(h->counts, cap * sizeof *nc);
    if (!nc)
      return;
    h->counts = nc;
    h->counts_cap = cap;
  }
  h->counts[h->ncounts++] = (struct fetch_count){m, records, bytes};
}

/* Returns the file's ext number (index + 1), or -1. */
static int32_t hold_file(fetch_hold *h, const nd_file_range *fr) {
  if (h->nfiles == h->files_cap) {
    size_t cap = h->files_cap ? h->files_cap * 2 : 8;
    net_file *nf = realloc(h->files, cap * sizeof *nf);
    if (!nf)
      return -1;
    h->files = nf;
    h->files_cap = cap;
  }
  h->files[h->nfiles++] =
      (net_file){.fd = fr->fd, .off = fr->pos, .len = fr->len, .at = 0};
  return (int32_t)h->nfiles;
}

/* A quarter of the descriptor limit: the store's descriptor cache takes
 * another quarter, and connections need the rest. */
static size_t fetch_files_max(void) {
  static size_t max;
  if (!max) {
    struct rlimit rl;
    rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (n == RLIM_INFINITY || n > 65536)
      n = 65536;
    max = n / 4 > 16 ? (size_t)(n / 4) : 16;
  }
  return max;
}

/* Read one partition's batches into p->records: as a file range when that
 * pays and descriptors allow, else as a copy. Returns nd_* rc, or
 * ND_ENOMEM when the hold cannot grow. */
static int read_partition(kafka_req *r, fetch_hold *h, const char *name,
                          int32_t partition, int64_t offset, size_t limit,
                          int committed, fpart *p, nd_batches *nb) {
  broker *b = r->b;
  memset(nb, 0, sizeof *nb);
  size_t queued = b->loop ? net_loop_files_open(b->loop) : 0;
  if (queued + h->nfiles < fetch_files_max()) {
    nd_file_range fr;
    int rc = committed
                 ? nd_read_file_committed(b->store, name, partition, offset,
                                          limit, &fr)
                 : nd_read_file(b->store, name, partition, offset, limit, &fr);
    if (rc != -EMFILE && rc != -ENFILE) {
      nb->high_watermark = fr.high_watermark;
      nb->last_stable_offset = fr.last_stable_offset;
      nb->log_start_offset = fr.log_start_offset;
      nb->next_offset = fr.next_offset;
      nb->len = fr.len;
      if (rc != 0 || fr.len == 0)
        return rc;
      if (fr.len >= FETCH_COPY_BELOW) {
        int32_t ext = hold_file(h, &fr);
        if (ext < 0) {
          close(fr.fd);
          return ND_ENOMEM;
        }
        p->records.ptr = NULL;
        p->records.ext = ext;
        return 0;
      }
      uint8_t *buf = malloc(fr.len);
      ssize_t got = buf ? pread(fr.fd, buf, fr.len, (off_t)fr.pos) : -1;
      int err = errno;
      close(fr.fd);
      if (!buf || hold_buf(h, buf) != 0) {
        free(buf);
        return ND_ENOMEM;
      }
      if (got != (ssize_t)fr.len)
        return got < 0 ? -err : -EIO;
      p->records.ptr = buf;
      return 0;
    }
  }
  int rc = committed
               ? nd_read_committed(b->store, name, partition, offset, limit, nb)
               : nd_read(b->store, name, partition, offset, limit, nb);
  if (rc != 0 || nb->len == 0) {
    nd_free(nb->data);
    nb->data = NULL;
    return rc;
  }
  if (hold_buf(h, nb->data) != 0) {
    nd_free(nb->data);
    return ND_ENOMEM;
  }
  p->records.ptr = nb->data;
  return 0;
}

/* The last stable offset of a partition, for the answers that read no
 * batches. */
static int lso_of(kafka_req *r, const char *name, int32_t partition,
                  int64_t *ls, int64_t *hw, int64_t *lso) {
  nd_partition_info pi;
  int rc = nd_partition_describe(r->b->store, name, partition, &pi);
  if (rc == 0) {
    *ls = pi.log_start_offset;
    *hw = pi.high_watermark;
    *lso = pi.last_stable_offset;
  }
  return rc;
}

/* Kafka's aborted_transactions of a read_committed answer: the aborted
 * transactions that overlap the offsets from the fetch offset up to the
 * end of what is returned. */
static int aborted_of(kafka_req *r, kf_arena *a, const char *name,
                      int32_t partition, int64_t from, int64_t upto, fpart *p) {
  nd_aborted_txn *list = NULL;
  size_t n = 0;
  int rc = nd_aborted_txns(r->b->store, name, partition, from, upto, &list, &n);
  if (rc != 0)
    return rc;
  kafka_fetch_response_aborted_transaction *at = kf_new_array(
      a, &kafka_fetch_response_aborted_transaction_desc, (int32_t)n);
  if (n && !at) {
    nd_free(list);
    return ND_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    at[i].producer_id = list[i].producer_id;
    at[i].first_offset = list[i].first_offset;
  }
  nd_free(list);
  p->aborted_transactions.items = at;
  p->aborted_transactions.count = (int32_t)n;
  return 0;
}

/* Build the response into `a`. Returns the record bytes it holds, or -1
 * when out of memory; *has_error is set when any partition has an error
 * (answered at once: waiting would not change it). */
static int64_t build(kafka_req *r, kf_arena *a, kafka_fetch_response **out,
                     int *has_error, fetch_hold *h) {
  kafka_fetch_request *req = r->body;
  kafka_fetch_response *resp = kf_new(a, &kafka_fetch_response_desc);
  if (!resp)
    return -1;
  *out = resp;
  resp->session_id = 0;
  if (req->session_id != 0) {
    resp->error_code = KERR_FETCH_SESSION_ID_NOT_FOUND;
    *has_error = 1;
    return 0;
  }
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  ftopic *ts =
      kf_new_array(a, &kafka_fetch_response_fetchable_topic_response_desc, nt);
  if (nt && !ts)
    return -1;
  resp->responses.items = ts;
  resp->responses.count = nt;
  int64_t max_bytes = req->max_bytes > 0 ? req->max_bytes : INT32_MAX;
  int64_t total = 0;
  int committed = req->isolation_level == 1;

  for (int32_t i = 0; i < nt; i++) {
    kafka_fetch_request_topic *qt = &req->topics.items[i];
    ftopic *t = &ts[i];
    t->topic = qt->topic;
    t->topic_id = qt->topic_id;
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    fpart *ps = kf_new_array(a, &kafka_fetch_response_partition_data_desc, np);
    if (np && !ps)
      return -1;
    t->partitions.items = ps;
    t->partitions.count = np;

    int16_t terr = 0;
    const char *name = NULL;
    nd_topic_info info;
    if (r->version >= 13) {
      terr = kafka_topic_resolve(r, KAFKA_TOPIC_BY_ID, qt->topic,
                                 qt->topic_id.b, 0, &info, a, &name);
    } else if (!kafka_cstr_ok(qt->topic)) {
      terr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else {
      name = qt->topic.ptr;
    }

    for (int32_t j = 0; j < np; j++) {
      kafka_fetch_request_partition *qp = &qt->partitions.items[j];
      fpart *p = &ps[j];
      p->partition_index = qp->partition;
      p->high_watermark = -1;
      p->last_stable_offset = -1;
      p->log_start_offset = -1;
      /* Kafka: null at read_uncommitted, a list at read_committed. */
      p->aborted_transactions.count = committed ? 0 : -1;
      p->records.len = 0;
      if (terr || !name) {
        p->aborted_transactions.count = -1;
        p->error_code = terr ? terr : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        *has_error = 1;
        continue;
      }
      int64_t limit = qp->partition_max_bytes > 0 ? qp->partition_max_bytes : 0;
      if (limit > max_bytes - total)
        limit = max_bytes - total;
      int64_t ls = -1, hw = -1, lso = -1;
      if (limit <= 0 && total > 0) {
        /* The response is full: report offsets only. */
        int rc = lso_of(r, name, qp->partition, &ls, &hw, &lso);
        if (rc != 0) {
          p->error_code = kafka_err(rc);
          *has_error = 1;
          continue;
        }
        p->high_watermark = hw;
        p->last_stable_offset = lso;
        p->log_start_offset = ls;
        continue;
      }
      nd_batches nb;
      size_t nfiles = h->nfiles, nbufs = h->nbufs;
      int rc = read_partition(r, h, name, qp->partition, qp->fetch_offset,
                              limit > 0 ? (size_t)limit : 1, committed, p, &nb);
      if (rc == ND_ENOMEM)
        return -1;
      if (rc != 0) {
        p->aborted_transactions.count = -1;
        p->error_code = kafka_err(rc);
        *has_error = 1;
        if (lso_of(r, name, qp->partition, &ls, &hw, &lso) == 0) {
          p->high_watermark = hw;
          p->last_stable_offset = lso;
          p->log_start_offset = ls;
        }
        continue;
      }
      p->high_watermark = nb.high_watermark;
      p->last_stable_offset = nb.last_stable_offset;
      p->log_start_offset = nb.log_start_offset;
      if (nb.len == 0)
        continue;
      /* Without its aborted transactions a read_committed client would
       * take aborted records for committed ones: no records then. */
      int no_aborted = 0;
      if (committed &&
          (no_aborted = aborted_of(r, a, name, qp->partition, qp->fetch_offset,
                                   nb.next_offset, p)) != 0) {
        if (no_aborted == ND_ENOMEM)
          return -1;
        kafka_log(r, BLOG_ERROR, "%s/%d: cannot list aborted transactions: %s",
                  name, qp->partition, nd_errmsg());
        p->error_code = kafka_err(no_aborted);
        p->aborted_transactions.count = -1;
        *has_error = 1;
      }
      if (no_aborted || (total > 0 && (int64_t)nb.len > max_bytes - total)) {
        /* Only the first batch may exceed the limit: give back what this
         * partition took (it is the last thing held). */
        if (h->nfiles > nfiles) {
          close(h->files[--h->nfiles].fd);
        } else if (h->nbufs > nbufs) {
          nd_free(h->bufs[--h->nbufs]);
        }
        p->records.ptr = NULL;
        p->records.ext = 0;
        continue;
      }
      p->records.len = (int32_t)nb.len;
      total += (int64_t)nb.len;
      hold_count(h, name, qp->partition,
                 nb.next_offset > qp->fetch_offset
                     ? (uint64_t)(nb.next_offset - qp->fetch_offset)
                     : 0,
                 nb.len);
    }
  }
  return total;
}

/* Try to answer r. Returns 1 if answered (r is gone), 0 if it should wait,
 * -1 when out of memory. */
static int attempt(kafka_req *r, int final) {
  kafka_fetch_request *req = r->body;
  kf_arena a = {0};
  kafka_fetch_response *resp = NULL;
  int has_error = 0;
  fetch_hold h = {0};
  int64_t got = build(r, &a, &resp, &has_error, &h);
  if (got < 0) {
    hold_release(&h);
    kf_arena_free(&a);
    return -1;
  }
  int64_t min_bytes = req->min_bytes > 0 ? req->min_bytes : 0;
  if (final || has_error || got >= min_bytes || req->max_wait_ms <= 0 ||
      !r->b->loop) {
    int32_t throttle = quota_record(r, QUOTA_FETCH, (double)got);
    if (throttle > 0) {
      /* As Kafka: over consumer_byte_rate the answer is empty (the bytes
       * are not sent, so not counted), carries the throttle time, and the
       * connection is muted for it; the client fetches them again. */
      quota_unrecord(r, QUOTA_FETCH, (double)got);
      quota_mute(r, QUOTA_FETCH, throttle);
      int32_t session = resp ? resp->session_id : 0;
      kafka_fetch_response *empty =
          kf_new(&r->arena, &kafka_fetch_response_desc);
      hold_release(&h);
      kf_arena_free(&a);
      if (!empty)
        return -1;
      empty->throttle_time_ms = throttle;
      empty->session_id = session;
      unwait(r);
      kafka_respond(r, empty);
      return 1;
    }
    uint64_t from_files = 0;
    for (size_t i = 0; i < h.nfiles; i++)
      from_files += h.files[i].len;
    r->b->fetch_bytes_sendfile += from_files;
    r->b->fetch_bytes_copied += (uint64_t)got - from_files;
    for (size_t i = 0; i < h.ncounts; i++) {
      metrics_add(&h.counts[i].m->fetched_records, h.counts[i].records);
      metrics_add(&h.counts[i].m->fetched_bytes, h.counts[i].bytes);
    }
    unwait(r);
    kafka_respond_files(r, resp, h.files, h.nfiles); /* takes the fds */
    h.nfiles = 0;
    hold_release(&h);
    kf_arena_free(&a);
    return 1;
  }
  hold_release(&h);
  kf_arena_free(&a);
  return 0;
}

static void on_timeout(void *arg) {
  kafka_req *r = arg;
  fetch_wait *w = r->hctx;
  w->timer = NULL;
  if (attempt(r, 1) < 0) {
    unwait(r);
    net_conn_close(r->conn, "out of memory answering a fetch");
    kafka_respond_none(r);
  }
}

static int on_close(kafka_req *r) {
  unwait(r);
  return 1;
}

/* Put r in the index under every partition it reads. A partition that
 * cannot be indexed (out of memory) is left to the timer. */
static void wait_on_partitions(kafka_req *r, fetch_wait *w) {
  kafka_fetch_request *req = r->body;
  for (int32_t i = 0; i < req->topics.count; i++) {
    kafka_fetch_request_topic *t = &req->topics.items[i];
    nd_topic_info info;
    const char *name = t->topic.ptr;
    if (r->version >= 13) {
      if (kafka_topic_resolve(r, KAFKA_TOPIC_BY_ID, t->topic, t->topic_id.b, 0,
                              &info, NULL, &name) != KERR_NONE)
        continue;
    } else if (!kafka_cstr_ok(t->topic)) {
      continue;
    }
    for (int32_t j = 0; j < t->partitions.count; j++)
      waitset_add(r->k->fetch_waits, &w->waiter, name,
                  t->partitions.items[j].partition);
  }
}

/* What the handler returns after attempt() gave rc, with r possibly in
 * the index: out of memory drops the connection, so r leaves it. */
static int attempted(kafka_req *r, int rc) {
  if (rc < 0)
    unwait(r);
  return rc < 0 ? -1 : 0;
}

int handle_fetch(kafka_req *r) {
  waitset *ws = r->k->fetch_waits;
  uint64_t epoch = ws ? waitset_epoch(ws) : 0;
  int rc = attempt(r, 0);
  if (rc != 0)
    return rc < 0 ? -1 : 0;
  kafka_fetch_request *req = r->body;
  fetch_wait *w = kf_alloc(&r->arena, sizeof *w);
  if (!w)
    return -1;
  memset(w, 0, sizeof *w);
  w->req = r;
  r->hctx = w;
  wait_on_partitions(r, w);
  /* An append on another thread while attempt() read found nobody to
   * wake: if any happened, look again, now that none can be missed. */
  if (waitset_epoch(ws) != epoch && (rc = attempt(r, 0)) != 0)
    return attempted(r, rc);
  w->timer = net_timer_add(r->b->loop, req->max_wait_ms, on_timeout, r);
  if (!w->timer)
    return attempted(r, attempt(r, 1));
  kafka_park(r, on_close);
  return 0;
}

void fetch_wake(void *ctx, waiter *wt) {
  (void)ctx;
  fetch_wait *w = (fetch_wait *)((char *)wt - offsetof(fetch_wait, waiter));
  /* Out of memory now: leave it to its timer. */
  attempt(w->req, 0);
}

void fetch_fini(kafka_state *k) {
  for (kafka_req *r = k->parked; r; r = r->next) {
    if (r->api->key == 1) {
      fetch_wait *w = r->hctx;
      if (w && w->timer && k->b->loop)
        net_timer_cancel(k->b->loop, w->timer);
      if (w)
        w->timer = NULL;
    }
  }
}
