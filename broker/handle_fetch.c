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
 * parked on the loop until an append (kafka_on_append posts a re-check) or
 * max_wait_ms (a loop timer), then answered with whatever is there.
 *
 * Fetch sessions (KIP-227) are declined: every response carries session id
 * 0, which tells the client to keep sending full fetch requests.
 *
 * v13+ names topics by id; an unknown id gets UNKNOWN_TOPIC_ID, so a client
 * holding the id of a deleted topic never reads a re-created one.
 */
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

typedef kafka_fetch_response_partition_data fpart;
typedef kafka_fetch_response_fetchable_topic_response ftopic;

#define KERR_FETCH_SESSION_ID_NOT_FOUND 70

typedef struct fetch_wait {
  net_timer *timer;
} fetch_wait;

/* Build the response into `a`. Returns the record bytes it holds, or -1
 * when out of memory; *has_error is set when any partition has an error
 * (answered at once: waiting would not change it). */
static int64_t build(kafka_req *r, kf_arena *a, kafka_fetch_response **out,
                     int *has_error, void ***bufs, size_t *nbufs) {
  kafka_fetch_request *req = r->body;
  broker *b = r->b;
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
  size_t cap = 0;

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
      if (nd_topic_by_id(b->store, qt->topic_id.b, &info) != 0)
        terr = KERR_UNKNOWN_TOPIC_ID;
      else
        name = kf_strndup(a, info.name, strlen(info.name));
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
      p->aborted_transactions.count = 0;
      p->records.len = 0;
      if (terr || !name) {
        p->error_code = terr ? terr : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        *has_error = 1;
        continue;
      }
      int64_t limit = qp->partition_max_bytes > 0 ? qp->partition_max_bytes : 0;
      if (limit > max_bytes - total)
        limit = max_bytes - total;
      int64_t ls = -1, hw = -1;
      if (limit <= 0 && total > 0) {
        /* The response is full: report offsets only. */
        int rc = nd_offsets(b->store, name, qp->partition, &ls, &hw);
        if (rc != 0) {
          p->error_code = kafka_err(rc);
          *has_error = 1;
          continue;
        }
        p->high_watermark = hw;
        p->last_stable_offset = hw;
        p->log_start_offset = ls;
        continue;
      }
      nd_batches nb;
      memset(&nb, 0, sizeof nb);
      int rc = nd_read(b->store, name, qp->partition, qp->fetch_offset,
                       limit > 0 ? (size_t)limit : 1, &nb);
      if (rc != 0) {
        p->error_code = kafka_err(rc);
        *has_error = 1;
        if (nd_offsets(b->store, name, qp->partition, &ls, &hw) == 0) {
          p->high_watermark = hw;
          p->last_stable_offset = hw;
          p->log_start_offset = ls;
        }
        continue;
      }
      p->high_watermark = nb.high_watermark;
      p->last_stable_offset = nb.high_watermark;
      p->log_start_offset = nb.log_start_offset;
      if (nb.len == 0) {
        nd_free(nb.data);
        continue;
      }
      if (total > 0 && (int64_t)nb.len > max_bytes - total) {
        nd_free(nb.data); /* only the first batch may exceed the limit */
        continue;
      }
      if (*nbufs == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        void **nb2 = realloc(*bufs, ncap * sizeof *nb2);
        if (!nb2) {
          nd_free(nb.data);
          return -1;
        }
        *bufs = nb2;
        cap = ncap;
      }
      (*bufs)[(*nbufs)++] = nb.data;
      p->records.ptr = nb.data;
      p->records.len = (int32_t)nb.len;
      total += (int64_t)nb.len;
    }
  }
  return total;
}

static void free_bufs(void **bufs, size_t n) {
  for (size_t i = 0; i < n; i++)
    nd_free(bufs[i]);
  free(bufs);
}

/* Try to answer r. Returns 1 if answered (r is gone), 0 if it should wait,
 * -1 when out of memory. */
static int attempt(kafka_req *r, int final) {
  kafka_fetch_request *req = r->body;
  kf_arena a = {0};
  kafka_fetch_response *resp = NULL;
  int has_error = 0;
  void **bufs = NULL;
  size_t nbufs = 0;
  int64_t got = build(r, &a, &resp, &has_error, &bufs, &nbufs);
  if (got < 0) {
    free_bufs(bufs, nbufs);
    kf_arena_free(&a);
    return -1;
  }
  int64_t min_bytes = req->min_bytes > 0 ? req->min_bytes : 0;
  if (final || has_error || got >= min_bytes || req->max_wait_ms <= 0 ||
      !r->b->loop) {
    kafka_respond(r, resp);
    free_bufs(bufs, nbufs);
    kf_arena_free(&a);
    return 1;
  }
  free_bufs(bufs, nbufs);
  kf_arena_free(&a);
  return 0;
}

static void on_timeout(void *arg) {
  kafka_req *r = arg;
  fetch_wait *w = r->hctx;
  w->timer = NULL;
  if (attempt(r, 1) < 0) {
    net_conn_close(r->conn, "out of memory answering a fetch");
    kafka_respond_none(r);
  }
}

static int on_close(kafka_req *r) {
  fetch_wait *w = r->hctx;
  if (w && w->timer)
    net_timer_cancel(r->b->loop, w->timer);
  return 1;
}

int handle_fetch(kafka_req *r) {
  int rc = attempt(r, 0);
  if (rc != 0)
    return rc < 0 ? -1 : 0;
  kafka_fetch_request *req = r->body;
  fetch_wait *w = kf_alloc(&r->arena, sizeof *w);
  if (!w)
    return -1;
  r->hctx = w;
  w->timer = net_timer_add(r->b->loop, req->max_wait_ms, on_timeout, r);
  if (!w->timer)
    return attempt(r, 1) < 0 ? -1 : 0;
  kafka_park(r, on_close);
  return 0;
}

/* Has any partition of a parked fetch moved since it was parked? A cheap
 * look at the offsets, so that an append wakes only the fetches it can
 * satisfy instead of reading for every parked consumer. */
static int may_have_data(kafka_req *r) {
  kafka_fetch_request *req = r->body;
  for (int32_t i = 0; i < req->topics.count; i++) {
    kafka_fetch_request_topic *t = &req->topics.items[i];
    nd_topic_info info;
    const char *name = t->topic.ptr;
    if (r->version >= 13) {
      if (nd_topic_by_id(r->b->store, t->topic_id.b, &info) != 0)
        return 1; /* gone: answer with the error now */
      name = info.name;
    }
    for (int32_t j = 0; j < t->partitions.count; j++) {
      int64_t ls, hw;
      if (nd_offsets(r->b->store, name, t->partitions.items[j].partition, &ls,
                     &hw) != 0 ||
          hw != t->partitions.items[j].fetch_offset)
        return 1;
    }
  }
  return 0;
}

void fetch_wake_all(kafka_state *k) {
  kafka_req *r = k->parked;
  while (r) {
    kafka_req *next = r->next;
    if (r->api->key == 1 && !r->dead && may_have_data(r)) {
      fetch_wait *w = r->hctx;
      net_timer *t = w->timer;
      int rc = attempt(r, 0);
      if (rc == 1 && t)
        net_timer_cancel(k->b->loop, t);
      /* Out of memory now: leave it to its timer. */
    }
    r = next;
  }
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
