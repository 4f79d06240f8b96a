/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c — the broker's counters (metrics.h says what they cost). The
 * rendering is in http.c, so that the network layer, which counts
 * connections here, links without the protocol layer.
 *
 * The counters are process-wide: one broker runs per process, and the
 * embedded tests that start several only ever read what they caused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics_int.h"

metrics_global g_metrics;

/* Single writer (the loop thread): a relaxed load and store instead of a
 * locked read-modify-write; readers on the HTTP thread see whole values. */
static inline void bump(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

int64_t metrics_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void metrics_request(int key, int version, int64_t start_ns) {
  if (key < 0 || key >= METRICS_API_KEYS || version < 0 ||
      version >= METRICS_API_VERSIONS)
    return;
  metrics_hist *h = &g_metrics.requests[key][version];
  int64_t us = (metrics_now_ns() - start_ns) / 1000;
  if (us < 0)
    us = 0;
  int i = 0;
  while (i < METRICS_BUCKETS - 1 && us > nd_latency_bounds_us[i])
    i++;
  bump(&h->buckets[i], 1);
  bump(&h->sum_us, (uint64_t)us);
  /* count last, release: a reader that sees it sees the bucket too, so a
   * scrape never shows a count above its buckets' sum. */
  atomic_store_explicit(
      &h->count, atomic_load_explicit(&h->count, memory_order_relaxed) + 1,
      memory_order_release);
}

void metrics_error(int key, int16_t code) {
  int c = code - METRICS_ERR_MIN;
  if (key < 0 || key >= METRICS_API_KEYS || c < 0 || c >= METRICS_ERR_CODES)
    return;
  bump(&g_metrics.errors[key][c], 1);
}

void metrics_conn_opened(void) {
  bump(&g_metrics.conns_accepted, 1);
  bump(&g_metrics.conns_open, 1);
}

void metrics_throttle(int type, int32_t ms) {
  if (type < 0 || type >= 3 || ms <= 0)
    return;
  bump(&g_metrics.throttles[type], 1);
  bump(&g_metrics.throttle_ms[type], (uint64_t)ms);
}

void metrics_conn_closed(void) {
  uint64_t n =
      atomic_load_explicit(&g_metrics.conns_open, memory_order_relaxed);
  if (n)
    atomic_store_explicit(&g_metrics.conns_open, n - 1, memory_order_relaxed);
}

/* ---- per-partition counters ---------------------------------------------
 * A chained hash table whose buckets are read without a lock: entries are
 * only ever pushed at a chain's head (under the mutex, with a release
 * store) and never removed while the process runs, so a reader walking a
 * chain with acquire loads always sees complete entries. A deleted topic
 * keeps its entry; the exporter shows only partitions that exist, and a
 * topic made again under the same name continues its counters (they only
 * grow, which is what a Prometheus counter must do). */

static pthread_mutex_t g_parts_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t part_hash(const char *topic, int32_t partition) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return (h ^ (uint32_t)partition) * 1099511628211ULL;
}

static metrics_part_entry *find_in(metrics_part_entry *e, const char *topic,
                                   int32_t partition) {
  for (; e; e = atomic_load_explicit(&e->next, memory_order_acquire))
    if (e->partition == partition && strcmp(e->topic, topic) == 0)
      return e;
  return NULL;
}

metrics_part *metrics_partition(const char *topic, int32_t partition) {
  _Atomic(metrics_part_entry *) *slot =
      &g_metrics.parts[part_hash(topic, partition) % METRICS_PART_BUCKETS];
  metrics_part_entry *e = find_in(
      atomic_load_explicit(slot, memory_order_acquire), topic, partition);
  if (e)
    return &e->c;
  pthread_mutex_lock(&g_parts_mu);
  metrics_part_entry *head = atomic_load_explicit(slot, memory_order_acquire);
  e = find_in(head, topic, partition);
  if (!e) {
    size_t n = strlen(topic);
    e = calloc(1, sizeof *e + n + 1);
    if (e) {
      memcpy(e->topic, topic, n + 1);
      e->partition = partition;
      atomic_store_explicit(&e->next, head, memory_order_relaxed);
      atomic_store_explicit(slot, e, memory_order_release);
      atomic_fetch_add_explicit(&g_metrics.nparts, 1, memory_order_relaxed);
    }
  }
  pthread_mutex_unlock(&g_parts_mu);
  return e ? &e->c : NULL;
}

metrics_part *metrics_partition_peek(const char *topic, int32_t partition) {
  metrics_part_entry *e = find_in(
      atomic_load_explicit(
          &g_metrics.parts[part_hash(topic, partition) % METRICS_PART_BUCKETS],
          memory_order_acquire),
      topic, partition);
  return e ? &e->c : NULL;
}
