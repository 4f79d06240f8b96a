/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c — the store's counters (stats.h) and nd_store_stats_get.
 */
#include "stats.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "file.h"
#include "store.h"
#include "txn_coord.h"

const int64_t nd_latency_bounds_us[ND_LATENCY_BUCKETS - 1] = {
    50,    100,   250,    500,    1000,   2500,    5000,   10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000};

const int64_t nd_batch_size_bounds[ND_LATENCY_BUCKETS - 1] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};

void stats_init(store_stats *st, int slow_fsync_ms) {
  memset(st, 0, sizeof *st);
  st->slow_fsync_us = slow_fsync_ms < 0    ? -1
                      : slow_fsync_ms == 0 ? 1000 * 1000
                                           : (int64_t)slow_fsync_ms * 1000;
}

void stats_hist_add(stats_hist *h, const int64_t *bounds, uint64_t v) {
  int b = 0;
  while (b < ND_LATENCY_BUCKETS - 1 && (int64_t)v > bounds[b])
    b++;
  atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static int64_t mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Counts one sync that took us microseconds and ended with rc; a slow one
 * is logged, since a disk that takes seconds to sync stalls every
 * producer waiting for durability and the operator must hear which file. */
static void observe_sync(const nd_logger *lg, const char *kind,
                         const char *what, int64_t us, int rc) {
  store_stats *st = lg ? lg->stats : NULL;
  if (!st)
    return;
  stats_hist_add(&st->fsync_us, nd_latency_bounds_us, (uint64_t)us);
  if (rc)
    atomic_fetch_add_explicit(&st->fsync_errors, 1, memory_order_relaxed);
  if (st->slow_fsync_us < 0 || us > st->slow_fsync_us) {
    atomic_fetch_add_explicit(&st->fsync_slow, 1, memory_order_relaxed);
    nd_log(lg, ND_LOG_WARN,
           "slow %s %s: %" PRId64 ".%03d ms (slow_fsync_ms is %" PRId64 ")%s",
           kind, what, us / 1000, (int)(us % 1000),
           st->slow_fsync_us < 0 ? (int64_t)-1 : st->slow_fsync_us / 1000,
           rc ? ", and it failed" : "");
  }
}

enum { SYNC_FD, SYNC_DIR, SYNC_FS };

static int run_sync(int how, int fd, const char *path) {
  return how == SYNC_FD    ? file_datasync(fd)
         : how == SYNC_DIR ? file_sync_dir(path)
                           : file_sync_fs(path);
}

static int timed_sync(const nd_logger *lg, int how, int fd, const char *what) {
  static const char *const kind[] = {"fdatasync of", "fsync of directory",
                                     "syncfs of"};
  if (!lg || !lg->stats)
    return run_sync(how, fd, what);
  int64_t t0 = mono_us();
  int rc = run_sync(how, fd, what);
  observe_sync(lg, kind[how], what, mono_us() - t0, rc);
  return rc;
}

int stats_datasync(const nd_logger *lg, int fd, const char *what) {
  return timed_sync(lg, SYNC_FD, fd, what);
}

int stats_sync_dir(const nd_logger *lg, const char *dir) {
  return timed_sync(lg, SYNC_DIR, -1, dir);
}

int stats_sync_fs(const nd_logger *lg, const char *dir) {
  return timed_sync(lg, SYNC_FS, -1, dir);
}

/* The calling thread's shard: threads are dealt shards in turn. */
static unsigned thread_shard(void) {
  static _Atomic unsigned next;
  static _Thread_local unsigned mine;
  if (!mine)
    mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) %
               STATS_SHARDS +
           1;
  return mine - 1;
}

void stats_append(const nd_logger *lg, int rc) {
  store_stats *st = lg ? lg->stats : NULL;
  if (!st)
    return;
  unsigned i = thread_shard();
  atomic_fetch_add_explicit(rc ? &st->shard[i].errors : &st->shard[i].appends,
                            1, memory_order_relaxed);
}

void stats_stored(const nd_logger *lg, uint64_t records, uint64_t bytes) {
  store_stats *st = lg ? lg->stats : NULL;
  if (!st)
    return;
  unsigned i = thread_shard();
  atomic_fetch_add_explicit(&st->shard[i].records, records,
                            memory_order_relaxed);
  atomic_fetch_add_explicit(&st->shard[i].bytes, bytes, memory_order_relaxed);
  /* The one shared line on this path: log_bytes is a gauge every append
   * moves, read as one value. */
  atomic_fetch_add_explicit(&st->log_bytes, (int64_t)bytes,
                            memory_order_relaxed);
}

static void hist_get(stats_hist *h, nd_histogram *out) {
  out->count = atomic_load_explicit(&h->count, memory_order_relaxed);
  out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
  for (int b = 0; b < ND_LATENCY_BUCKETS; b++)
    out->buckets[b] =
        atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

int nd_store_stats_get(nd_store *s, nd_store_stats *out) {
  int rc = store_enter_args(s, "nd_store_stats_get", ENTRY_READ, out != NULL,
                            "out is required");
  if (rc)
    return rc;
  memset(out, 0, sizeof *out);
  store_stats *st = &s->stats;
  hist_get(&st->fsync_us, &out->fsync_latency_us);
  out->fsync_errors = LOAD(st->fsync_errors);
  out->fsync_slow = LOAD(st->fsync_slow);
  hist_get(&st->group_commit, &out->group_commit_appends);
  for (int i = 0; i < STATS_SHARDS; i++) {
    out->appends += LOAD(st->shard[i].appends);
    out->appended_records += LOAD(st->shard[i].records);
    out->appended_bytes += LOAD(st->shard[i].bytes);
    out->append_errors += LOAD(st->shard[i].errors);
  }
  out->segments_rolled = LOAD(st->segments_rolled);
  out->retention_segments_deleted = LOAD(st->retention_segments);
  out->retention_bytes_deleted = LOAD(st->retention_bytes);
  out->delete_records_calls = LOAD(st->delete_records_calls);
  out->cleaner_passes = LOAD(st->cleaner_passes);
  out->cleaner_bytes_read = LOAD(st->cleaner_bytes_read);
  out->cleaner_bytes_written = LOAD(st->cleaner_bytes_written);
  out->cleaner_records_removed = LOAD(st->cleaner_records_removed);
  out->cleaner_errors = LOAD(st->cleaner_errors);
  /* Fixed when nd_open returned. */
  const nd_recovery_stats *r = &s->recovery.stats;
  out->recovery_partitions = (uint64_t)r->partitions_recovered;
  out->recovery_bytes_truncated = (uint64_t)r->bytes_truncated;
  out->recovery_indexes_rebuilt = (uint64_t)r->indexes_rebuilt;
  out->recovery_ms = s->recovery_ms;
  /* Gauges: the topic map is read under its lock; a partition's offline
   * reason is fixed at open and its failed flag an atomic, so the walk
   * reads two words a partition and takes no partition lock. */
  pthread_rwlock_rdlock(&s->map_lock);
  out->topics = (int32_t)s->ntopics;
  for (size_t i = 0; i < s->ntopics; i++) {
    topic *t = s->topics[i];
    pthread_rwlock_rdlock(&t->lock);
    if (t->offline) {
      out->partitions += t->conf_parts;
      out->partitions_offline += t->conf_parts;
    } else {
      out->partitions += t->nparts;
      for (int32_t p = 0; p < t->nparts; p++)
        if (t->parts[p]->offline || LOAD(t->parts[p]->failed))
          out->partitions_offline++;
    }
    pthread_rwlock_unlock(&t->lock);
  }
  pthread_rwlock_unlock(&s->map_lock);
  out->log_bytes = LOAD(st->log_bytes);
  out->open_files = (int64_t)rescache_used(&s->caches.fds);
  out->mapped_indexes = (int64_t)rescache_used(&s->caches.maps);
  out->transactions_open = s->txn ? txn_coord_open_count(s->txn) : 0;
  return 0;
}
