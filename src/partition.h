/* SPDX-License-Identifier: Apache-2.0 */
/*
 * partition.h — one partition: an ordered list of segments, the last one
 * active. Appends are serialised by append_lock; readers take segs_lock
 * shared only to find and read a segment, and never wait for an append.
 * The segment list changes (roll, retention, truncation) under segs_lock
 * held exclusively.
 *
 * Offsets: log_start <= high watermark (hw). Durability: synced (the
 * recovery point) <= hw; recovery after an unclean shutdown rescans from the
 * segment holding the persisted recovery point.
 */
#ifndef ND_PARTITION_H
#define ND_PARTITION_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "error.h"
#include "layout.h"
#include "nodata.h"
#include "nodata_zerocopy.h"
#include "producer.h"
#include "segment.h"

typedef struct partition {
  int32_t id;
  int readonly;
  seg_caches *caches; /* the store's bounds on descriptors and mappings */

  pthread_mutex_t append_lock;
  pthread_rwlock_t segs_lock;
  segment **segs;
  size_t nsegs, segs_cap;

  _Atomic int64_t hw;
  _Atomic int64_t log_start;

  pthread_mutex_t sync_lock;
  pthread_cond_t sync_cond;
  int syncing;
  _Atomic int64_t synced; /* recovery point */
  _Atomic int64_t last_sync_ms;
  int64_t rp_persisted; /* value in the recovery-point file */
  /* The producer-state file's text as last read or written (not written
   * again unchanged); under append_lock once open. */
  producer_text snapshot_written;
  int64_t rp_persisted_ms;
  int64_t log_start_persisted;
  _Atomic int failed;       /* sticky after an unrecoverable I/O error */
  _Atomic int appending;    /* appends under way (for group commit) */
  _Atomic int sync_callers; /* threads inside partition_sync */
  int last_round_callers;   /* under sync_lock: callers at the last sync */
  int64_t last_sync_ns;     /* under sync_lock: how long it took */
  /* Appends since the last sync began: the group-commit batch size. */
  _Atomic uint64_t appends_unsynced;

  producer_state producers; /* idempotent producer sequences, under
                               append_lock */
  /* Transactions: the first offset of the earliest open transaction,
   * INT64_MAX when none is open (written under append_lock, before the
   * high watermark that makes its batch visible). LSO = min(this, hw). */
  _Atomic int64_t txn_first_open;
  /* Guards every segment's aborted-transaction list (segment.aborted). */
  pthread_mutex_t txn_lock;
  /* The log cleaner (cleaner.c). clean_lock is held for a whole cleaning
   * of this partition; whatever frees sealed segments (retention,
   * DeleteRecords) takes it with trylock and, finding it held, leaves the
   * segments for a later round, so the cleaner never reads a freed
   * segment. clean_stat_lock guards the figures below, which describe
   * reads without waiting for a cleaning. */
  pthread_mutex_t clean_lock;
  pthread_mutex_t clean_stat_lock;
  int64_t first_dirty;   /* the cleaner checkpoint, -1 until read */
  int64_t last_clean_ms; /* 0: not cleaned by this process */
  nd_clean_stats last_clean;
  int clean_codec_warned; /* a compressed batch kept whole was logged */
  /* The earliest delete horizon of the tombstones the last cleaning
   * kept, 0 if none: past it the partition is due for cleaning however
   * little is dirty (Kafka's latestDeleteHorizon). This process only. */
  int64_t tomb_horizon_ms;
  /* Set (malloc'ed) when the open found invalid bytes in data that had
   * been synced: the partition holds no segments, every operation fails
   * with ND_EFAILED and this reason, and nothing on disk was changed. It
   * is also readonly, so sync, maintenance and close skip it. */
  char *offline;
  const nd_logger *log; /* the store's (recovery events) */
  uint8_t *scratch;     /* encode buffer, used under append_lock */
  size_t scratch_cap;
  char dir[]; /* topic dir + "/" + id, sized to fit (see segment.path) */
} partition;

/* How an open went, for the store's recovery report (nd_recovery_report);
 * info.topic is left for the caller to fill. */
typedef struct partition_recovery {
  int recovered; /* 1 if a scan ran */
  nd_recovery_partition info;
} partition_recovery;

/* The store's recovery report, filled while nd_open opens the partitions
 * and read-only afterwards. */
typedef struct recovery_log {
  nd_recovery_stats stats;
  nd_recovery_partition *parts; /* those that needed work */
  size_t count, cap;
} recovery_log;

/* Count partition `id` of `topic` in rl, listing it if rec says recovery
 * did anything to it. The report is diagnostics: out of memory, the
 * entry is left out (the totals still count it), never the open failed. */
void recovery_log_add(recovery_log *rl, const char *topic, int32_t id,
                      const partition_recovery *rec);
void recovery_log_free(recovery_log *rl);

/* Files beside the segments: the offset below which everything was
 * fdatasync'd (a hint), and the durable log start (layout.h). */
#define RECOVERY_POINT_FILE LAYOUT_RECOVERY_POINT
#define LOG_START_FILE LAYOUT_LOG_START

/* Shared by partition.c and recovery.c (the open lives in recovery.c). */
partition *partition_alloc(const char *topic_dir, int32_t id);
void partition_free(partition *p);
int segs_push(partition *p, segment *seg);
/* Index of the segment holding offset: last with base <= offset. */
size_t seg_index_for(partition *p, int64_t offset);
static inline segment *active_seg(partition *p) {
  return p->segs[p->nsegs - 1];
}

int partition_create_dir(const char *topic_dir, int32_t id);
/* Open (and after an unclean shutdown recover) a partition. Invalid bytes
 * past the recovery point are a torn tail: cut, and logged. Invalid bytes
 * in synced data (below the recovery point, or in a segment before the
 * last after a clean shutdown) are damage: the partition opens offline
 * (partition.offline) and nothing is changed on disk. */
int partition_open(seg_caches *caches, const nd_logger *log,
                   const char *topic_dir, int32_t id,
                   const nd_topic_config *cfg, int clean, int readonly,
                   int64_t now_ms, partition **out, partition_recovery *rec);
/* 1 if appended data is not yet fdatasync'd. */
int partition_dirty(partition *p);
/* After a successful syncfs of the whole file system (nd_close with many
 * dirty partitions): everything appended so far is durable. No append may
 * run concurrently. */
void partition_assume_synced(partition *p);
/* Sync, seal the active segment's index files, persist the recovery
 * point and log start, free. */
int partition_close(partition *p);

/* Append pre-validated batches in buf (their base offsets are assigned
 * here). cfg is a snapshot of the topic config. Does not wait for
 * durability: *sync_to gets the offset the caller must pass to
 * partition_sync (after partition_append_end) before reporting success, or
 * -1 if the policy and flags ask for none. */
int partition_append(partition *p, const nd_topic_config *cfg, uint8_t *buf,
                     size_t len, int64_t now_ms, unsigned flags,
                     nd_append_info *info, int64_t *sync_to);
int partition_sync(partition *p, int64_t upto);
/* Bracket an append from before its records are encoded until it is
 * written, so that a group-commit leader waits for it (see partition_sync).
 * The bracket must end before the caller's own partition_sync. */
void partition_append_begin(partition *p);
void partition_append_end(partition *p);
int partition_read(partition *p, int64_t offset, size_t max_bytes,
                   nd_batches *out);
int partition_read_file(partition *p, int64_t offset, size_t max_bytes,
                        nd_file_range *out);
int partition_offset_for_time(partition *p, int64_t ts,
                              nd_decompress_fn decompress, int64_t *offset,
                              int64_t *timestamp);
int partition_describe(partition *p, nd_partition_info *info);
/* fdatasync the .txnindex files written since their last sync, then
 * save the producer-state snapshot (valid up to the high watermark, with
 * each segment's index entry count) if there are producers. Under
 * append_lock, or with no append possible. */
int partition_snapshot_save(partition *p);
/* The last stable offset: the first offset of the earliest open
 * transaction, else the high watermark. */
int64_t partition_lso(partition *p);
/* As partition_read / _read_file, ending before the LSO (committed). */
int partition_read_committed(partition *p, int64_t offset, size_t max_bytes,
                             nd_batches *out);
int partition_read_file_committed(partition *p, int64_t offset,
                                  size_t max_bytes, nd_file_range *out);
/* The index entries nd_aborted_txns would give, as stored (with their
 * lastStableOffset), in marker order; *list malloc'ed. */
int partition_aborted_collect(partition *p, int64_t from, int64_t upto,
                              txn_aborted **list, size_t *count);
/* nd_aborted_txns for one partition. */
int partition_aborted_txns(partition *p, int64_t from, int64_t upto,
                           nd_aborted_txn **list, size_t *count);
/* Record the transaction effects of the batch h (header; len bytes of it
 * readable at h, whole for a control batch) at offset base, which is in
 * segment seg: opens or closes its producer's transaction, and for an
 * ABORT marker adds the index entry. Under append_lock (or at open). */
int partition_txn_note(partition *p, segment *seg, const uint8_t *h, size_t len,
                       int64_t base);
int partition_producers(partition *p, nd_producer_info **list, size_t *count);
/* topic names the partition in the log line of each segment deleted. */
int partition_delete_records(partition *p, const char *topic, int64_t offset,
                             int64_t *new_start);
/* Interval flush, time-based roll, retention, recovery-point persistence;
 * each segment deleted is counted (stats.h) and logged naming topic. */
int partition_maintain(partition *p, const char *topic,
                       const nd_topic_config *cfg, int64_t now_ms);

/* ---- the log cleaner (cleaner.c) ---------------------------------------- */

/* How old the active segment may get before it rolls: segment.ms, and
 * for a compacted topic at most max.compaction.lag.ms (as Kafka's
 * LogConfig.maxSegmentMs), so that no record stays out of the cleaner's
 * reach longer than that. */
static inline int64_t partition_roll_ms(const nd_topic_config *cfg) {
  if ((cfg->cleanup_policy & ND_CLEANUP_COMPACT) &&
      cfg->max_compaction_lag_ms < cfg->segment_ms)
    return cfg->max_compaction_lag_ms;
  return cfg->segment_ms;
}

/* Finish or undo a swap a crash interrupted (docs/format.md, "Cleaning"):
 * with a swap manifest, roll the swap forward; without one, remove the
 * cleaner's unfinished files. Called by partition_open before it lists
 * the segments; does nothing on a read-only open (which then reads the
 * old segments, still whole until the manifest is written). */
int cleaner_recover(const char *dir, int readonly, const nd_logger *log);
/* Offsets below this may have holes the cleaner left (it rewrote the
 * segments there): recovery never takes a gap below it for a lost tail.
 * 0 when nothing was cleaned (cleaner-checkpoint). */
int64_t cleaner_holes_below(const char *dir);
/* Clean one partition (nd_clean without the entry checks). */
int partition_clean(partition *p, const char *tname, const nd_topic_config *cfg,
                    const nd_options *opts, const nd_logger *log,
                    const _Atomic int *stop, int64_t now_ms, unsigned flags,
                    nd_clean_stats *stats);
/* The same choice the cleaner thread makes: 1 if the partition is due
 * for cleaning now, with *score (its dirty ratio; 2 when due by
 * max.compaction.lag.ms or a tombstone horizon below the ratio) to pick
 * the most due. */
int partition_clean_due(partition *p, const nd_topic_config *cfg,
                        int64_t now_ms, double *score);
/* The cleaner's view of the partition (nd_clean_describe). */
void partition_clean_status(partition *p, const nd_topic_config *cfg,
                            int64_t now_ms, nd_clean_status *st);

#endif
