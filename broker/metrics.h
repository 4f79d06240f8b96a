/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h — the broker's counters and the HTTP listener that exports them
 * (`serve --http HOST:PORT`): GET /metrics in Prometheus text format 0.0.4,
 * /health and /ready. docs/metrics.md lists every metric.
 *
 * Cost on the request path: the counters are relaxed atomics (plain loads
 * and stores where the loop thread is the only writer), so counting is an
 * increment, never a lock. Per-partition counters live in a table of
 * their own (one lookup per partition of a Produce or Fetch, never per
 * record), whose entries are never freed while the broker runs, so a
 * pointer taken once stays valid. Rendering happens on the HTTP thread:
 * a scrape of many partitions never stalls the Kafka loop (http.c).
 */
#ifndef ND_BROKER_METRICS_H
#define ND_BROKER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

typedef struct net_loop net_loop;

/* One partition's traffic since the broker started. */
typedef struct metrics_part {
  _Atomic uint64_t produced_records, produced_bytes;
  _Atomic uint64_t fetched_records, fetched_bytes;
} metrics_part;

/* The counters of (topic, partition), made on first use; NULL when out of
 * memory (the traffic then goes uncounted). Any thread. */
metrics_part *metrics_partition(const char *topic, int32_t partition);

static inline void metrics_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Monotonic clock in nanoseconds, for request latency. */
int64_t metrics_now_ns(void);

/* A Kafka request of api key/version answered (or dropped) after arriving
 * at start_ns. Loop thread only. */
void metrics_request(int key, int version, int64_t start_ns);

/* An error code other than NONE in a response to api key (every such
 * field of the response counts, as Kafka's ErrorsPerSec does). Loop
 * thread only. */
void metrics_error(int key, int16_t code);

/* Connections: opened and closed. Loop thread only. */
void metrics_conn_opened(void);
void metrics_conn_closed(void);

/* A client throttled for ms by a quota of type QUOTA_* (kafka.h: 0
 * produce, 1 fetch, 2 request). Loop thread only. */
void metrics_throttle(int type, int32_t ms);

/* /ready's state. */
enum { METRICS_RECOVERING = 0, METRICS_SERVING = 1, METRICS_STOPPING = 2 };

typedef struct http_server http_server;

/* Bind host:port (port 0: any free one) and start the server's thread,
 * in the RECOVERING state: /health answers 200 and /ready 503 until
 * http_set_store(). bound[] gets the address bound, "HOST:PORT". Returns
 * 0, or -errno with why[]. */
int http_start(const char *host, int port, const char *data_dir,
               http_server **out, char *bound, size_t boundlen, char *why,
               size_t whylen);
/* The store is open and the Kafka listener up: serve everything. store
 * is NULL for `nodata console` (console_cli.c), which has none. */
void http_set_store(http_server *h, nd_store *store, net_loop *loop);
/* Start the web console (console.h) with cfg (copied): call once the
 * listeners are bound, before http_set_store. 0 or -ENOMEM. */
struct console_config;
int http_set_console(http_server *h, const struct console_config *cfg);
/* Stopping: /ready answers 503 from now on. */
void http_set_stopping(http_server *h);
/* Stop the thread and close every connection; h may be NULL. Call before
 * the store closes. */
void http_stop(http_server *h);

/* Render /metrics into a malloc'ed buffer (*out, *len). Any thread; for
 * tests and the HTTP thread. Returns 0 or -ENOMEM. */
int metrics_render(nd_store *store, const char *data_dir, int state, char **out,
                   size_t *len);

/* Decide /ready: 1 ready, 0 not, with the reason in why[]. Serving with
 * no store (`nodata console`, which has none) is ready. */
int metrics_ready(nd_store *store, int state, char *why, size_t whylen);

#endif
