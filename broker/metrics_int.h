/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_int.h — the counters' layout, shared by metrics.c (which counts)
 * and http.c (which renders). Not for the handlers: they use metrics.h.
 */
#ifndef ND_BROKER_METRICS_INT_H
#define ND_BROKER_METRICS_INT_H

#include "metrics.h"

/* Latency buckets: the library's (nd_latency_bounds_us, in us), so that
 * request and fsync latencies compare bucket by bucket; the last is
 * +Inf. */
#define METRICS_BUCKETS ND_LATENCY_BUCKETS

/* Request counters by API key and version: dense arrays, so counting is
 * an index, not a lookup. Kafka's keys stay below 128 and versions below
 * 24 (Fetch is at 18); anything outside is not counted. */
#define METRICS_API_KEYS 128
#define METRICS_API_VERSIONS 24
/* Error codes -1 (UNKNOWN_SERVER_ERROR) .. 158. */
#define METRICS_ERR_MIN (-1)
#define METRICS_ERR_CODES 160
/* Per-partition table: a power of two, enough that 100,000 partitions make
 * chains of a few entries. */
#define METRICS_PART_BUCKETS 32768

typedef struct metrics_hist {
  _Atomic uint64_t count;
  _Atomic uint64_t sum_us;
  _Atomic uint64_t buckets[METRICS_BUCKETS]; /* per bucket, not cumulative */
} metrics_hist;

typedef struct metrics_part_entry {
  metrics_part c;
  _Atomic(struct metrics_part_entry *) next;
  int32_t partition;
  char topic[]; /* NUL-terminated */
} metrics_part_entry;

typedef struct metrics_global {
  metrics_hist requests[METRICS_API_KEYS][METRICS_API_VERSIONS];
  _Atomic uint64_t errors[METRICS_API_KEYS][METRICS_ERR_CODES];
  _Atomic uint64_t conns_accepted, conns_open;
  /* Quota throttling by type (produce, fetch, request): times and ms. */
  _Atomic uint64_t throttles[3], throttle_ms[3];
  _Atomic uint64_t nparts;
  _Atomic(metrics_part_entry *) parts[METRICS_PART_BUCKETS];
} metrics_global;

extern metrics_global g_metrics;

/* The counters of (topic, partition) if they exist; never allocates. */
metrics_part *metrics_partition_peek(const char *topic, int32_t partition);

#endif
