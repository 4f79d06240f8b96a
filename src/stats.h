/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.h — the store's counters behind nd_store_stats_get (nodata.h).
 *
 * They live in the nd_store and are reached through the store's logger
 * (nd_logger.stats), which every part of the engine already holds, so a
 * partition, a segment or a frame log counts without knowing the store.
 * A logger without stats (verify's, a test's) counts nothing.
 *
 * Everything is a relaxed atomic: the figures are monitoring, read at a
 * scrape, and need no ordering with the data they describe. The append
 * counters are sharded by thread, each shard on its own cache line, so
 * that appenders on different cores do not bounce one line between them;
 * the reader sums the shards.
 */
#ifndef ND_STATS_H
#define ND_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "error.h"
#include "nodata.h"

typedef struct stats_hist {
  _Atomic uint64_t count, sum;
  _Atomic uint64_t buckets[ND_LATENCY_BUCKETS];
} stats_hist;

#define STATS_SHARDS 16

typedef struct store_stats {
  /* nd_options.slow_fsync_ms in microseconds; -1 logs every sync. */
  int64_t slow_fsync_us;
  stats_hist fsync_us;
  _Atomic uint64_t fsync_errors, fsync_slow;
  stats_hist group_commit;
  struct {
    _Alignas(64) _Atomic uint64_t appends;
    _Atomic uint64_t records, bytes, errors;
  } shard[STATS_SHARDS];
  _Alignas(64) _Atomic uint64_t segments_rolled;
  _Atomic uint64_t retention_segments, retention_bytes;
  _Atomic uint64_t delete_records_calls;
  _Atomic uint64_t cleaner_passes, cleaner_bytes_read, cleaner_bytes_written,
      cleaner_records_removed, cleaner_errors;
  _Atomic int64_t log_bytes; /* every open segment's .log size */
} store_stats;

/* Zeroes st and sets the slow-sync threshold from nd_options. */
void stats_init(store_stats *st, int slow_fsync_ms);

/* Adds one observation to a histogram with bounds nd_latency_bounds_us or
 * nd_batch_size_bounds. */
void stats_hist_add(stats_hist *h, const int64_t *bounds, uint64_t v);

/* The engine's syncs, timed and counted in lg's stats (when it has some),
 * a slow one logged at ND_LOG_WARN naming what (a path). Same results as
 * file_datasync, file_sync_dir and file_sync_fs (file.h). */
int stats_datasync(const nd_logger *lg, int fd, const char *what);
int stats_sync_dir(const nd_logger *lg, const char *dir);
int stats_sync_fs(const nd_logger *lg, const char *dir);

/* A finished nd_append / nd_append_batch: rc 0 counts an append, else an
 * append error. */
void stats_append(const nd_logger *lg, int rc);
/* Records and bytes an append wrote to a partition's log (and so to the
 * store's log_bytes). */
void stats_stored(const nd_logger *lg, uint64_t records, uint64_t bytes);

/* Adds v to a counter of lg's stats, if it has any: field is the name of a
 * store_stats member. */
#define STATS_ADD(lg, field, v)                                                \
  do {                                                                         \
    const nd_logger *stats_lg_ = (lg);                                         \
    if (stats_lg_ && stats_lg_->stats)                                         \
      atomic_fetch_add_explicit(&stats_lg_->stats->field, (v),                 \
                                memory_order_relaxed);                         \
  } while (0)

#endif
