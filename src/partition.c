/* SPDX-License-Identifier: Apache-2.0 */
/*
 * partition.c — segments of one partition: append with roll, group commit,
 * reads, retention (see partition.h). Open and crash recovery are in
 * recovery.c.
 */
#include "partition.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "layout.h"
#include "stats.h"

/* How often a changed recovery point is written out. It only bounds how
 * much a recovery rescans, so it need not follow every fdatasync. */
#define RP_PERSIST_INTERVAL_MS 2000
/* The longest a group-commit leader waits for others to join its sync. */
#define GROUP_COMMIT_WAIT_NS 200000L

/* ---- small helpers ------------------------------------------------------ */

/* The log start is durable (reads below it must stay refused after a
 * crash); the recovery point is a hint: if it is lost, recovery scans more. */
static int write_offset_file(const char *dir, const char *name, int64_t v) {
  char path[PATH_MAX], text[32];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int n = snprintf(text, sizeof text, "%" PRId64 "\n", v);
  int rc = strcmp(name, LOG_START_FILE) == 0
               ? file_write_atomic(path, text, (size_t)n)
               : file_write_replace(path, text, (size_t)n);
  if (rc)
    return nd_fail_os(-rc, "cannot write %s", path);
  return 0;
}

/* Producer sequence numbers wrap from INT32_MAX to 0. */
static int32_t seq_add(int32_t seq, int32_t n) {
  int64_t v = (int64_t)seq + n;
  return (int32_t)(v > INT32_MAX ? v - (int64_t)INT32_MAX - 1 : v);
}

int segs_push(partition *p, segment *seg) {
  if (p->nsegs == p->segs_cap) {
    size_t cap = p->segs_cap ? p->segs_cap * 2 : 4;
    segment **n = realloc(p->segs, cap * sizeof *n);
    if (!n)
      return nd_fail(ND_ENOMEM, "out of memory");
    p->segs = n;
    p->segs_cap = cap;
  }
  p->segs[p->nsegs++] = seg;
  return 0;
}

/* Index of the segment holding offset: last with base <= offset. */
size_t seg_index_for(partition *p, int64_t offset) {
  size_t lo = 0, hi = p->nsegs;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->segs[mid]->base <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

partition *partition_alloc(const char *topic_dir, int32_t id) {
  size_t len = strlen(topic_dir) + 13; /* "/" + int32 + NUL */
  partition *p = calloc(1, sizeof *p + len);
  if (!p)
    return NULL;
  p->id = id;
  snprintf(p->dir, len, "%s/%d", topic_dir, (int)id);
  pthread_mutex_init(&p->append_lock, NULL);
  pthread_rwlock_init(&p->segs_lock, NULL);
  pthread_mutex_init(&p->sync_lock, NULL);
  pthread_cond_init(&p->sync_cond, NULL);
  pthread_mutex_init(&p->clean_lock, NULL);
  pthread_mutex_init(&p->clean_stat_lock, NULL);
  pthread_mutex_init(&p->txn_lock, NULL);
  atomic_init(&p->txn_first_open, INT64_MAX);
  p->first_dirty = -1;
  atomic_init(&p->hw, 0);
  atomic_init(&p->log_start, 0);
  atomic_init(&p->synced, 0);
  atomic_init(&p->last_sync_ms, 0);
  atomic_init(&p->failed, 0);
  atomic_init(&p->appending, 0);
  atomic_init(&p->sync_callers, 0);
  return p;
}

void partition_free(partition *p) {
  for (size_t i = 0; i < p->nsegs; i++)
    segment_close(p->segs[i], 0);
  free(p->segs);
  free(p->scratch);
  free(p->offline);
  producer_state_free(&p->producers);
  producer_text_free(&p->snapshot_written);
  pthread_mutex_destroy(&p->append_lock);
  pthread_rwlock_destroy(&p->segs_lock);
  pthread_mutex_destroy(&p->sync_lock);
  pthread_cond_destroy(&p->sync_cond);
  pthread_mutex_destroy(&p->clean_lock);
  pthread_mutex_destroy(&p->clean_stat_lock);
  pthread_mutex_destroy(&p->txn_lock);
  free(p);
}

int partition_create_dir(const char *topic_dir, int32_t id) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/%d", topic_dir, (int)id);
  int rc = file_mkdir(dir);
  if (rc && rc != -EEXIST)
    return nd_fail_os(-rc, "cannot create %s", dir);
  return 0;
}

int partition_dirty(partition *p) {
  return !p->readonly && !atomic_load(&p->failed) &&
         atomic_load(&p->synced) < atomic_load(&p->hw);
}

void partition_assume_synced(partition *p) {
  if (!atomic_load(&p->failed))
    atomic_store(&p->synced, atomic_load(&p->hw));
}

static int txnindexes_sync(partition *p);
static int snapshot_save(partition *p);

int partition_snapshot_save(partition *p) {
  int rc = txnindexes_sync(p);
  /* Written with no producer too: recovery reads a missing file as lost,
   * never as "there was no state" (a power cut can keep a recovery point
   * and lose the snapshot written before it, neither being synced). */
  if (!rc)
    rc = snapshot_save(p);
  return rc;
}

/* Save the producer-state snapshot, valid up to the high watermark, with
 * the count of each segment's aborted-transaction entries (producer.h).
 * Under append_lock, or with no append possible (close). */
static int snapshot_save(partition *p) {
  producer_txn_count few[8], *c = few;
  size_t n = 0, cap = 8;
  int rc = 0;
  pthread_rwlock_rdlock(&p->segs_lock);
  pthread_mutex_lock(&p->txn_lock);
  for (size_t i = 0; i < p->nsegs && !rc; i++) {
    if (p->segs[i]->aborted.n == 0)
      continue;
    if (n == cap) {
      cap *= 2;
      producer_txn_count *nc =
          c == few ? malloc(cap * sizeof *nc) : realloc(c, cap * sizeof *nc);
      if (!nc) {
        rc = nd_fail(ND_ENOMEM, "out of memory");
        break;
      }
      if (c == few)
        memcpy(nc, few, sizeof few);
      c = nc;
    }
    c[n++] =
        (producer_txn_count){p->segs[i]->base, (int64_t)p->segs[i]->aborted.n};
  }
  pthread_mutex_unlock(&p->txn_lock);
  pthread_rwlock_unlock(&p->segs_lock);
  if (!rc)
    rc = producer_state_save(&p->producers, p->dir, atomic_load(&p->hw), c, n,
                             &p->snapshot_written);
  if (c != few)
    free(c);
  return rc;
}

int partition_close(partition *p) {
  int rc = 0;
  if (!p->readonly) {
    rc = partition_sync(p, -1);
    /* Final time entry so the next open knows the segment's max timestamp
     * without reading it; without it the next open rebuilds the index. */
    segment_final_time_entry(active_seg(p));
    int64_t hw = atomic_load(&p->hw);
    if (!rc)
      rc = partition_snapshot_save(p);
    if (!rc && atomic_load(&p->synced) >= hw && p->rp_persisted != hw)
      rc = write_offset_file(p->dir, RECOVERY_POINT_FILE, hw);
    int64_t ls = atomic_load(&p->log_start);
    if (!rc && ls != p->log_start_persisted)
      rc = write_offset_file(p->dir, LOG_START_FILE, ls);
  }
  partition_free(p);
  return rc;
}

/* fdatasync the .txnindex files written since their last sync: before a
 * producer-state snapshot (or recovery point) that covers their entries is
 * written, since recovery trusts the entries below the snapshot. */
static int txnindexes_sync(partition *p) {
  int rc = 0;
  pthread_rwlock_rdlock(&p->segs_lock);
  pthread_mutex_lock(&p->txn_lock);
  for (size_t i = 0; i < p->nsegs && !rc; i++)
    rc = txnindex_sync(&p->segs[i]->aborted, p->segs[i]->path, p->log);
  pthread_mutex_unlock(&p->txn_lock);
  pthread_rwlock_unlock(&p->segs_lock);
  return rc;
}

/* ---- append -------------------------------------------------------------- */

static int roll(partition *p, const nd_topic_config *cfg, int64_t now_ms) {
  segment *old = active_seg(p);
  int rc = segment_seal_unsynced(old);
  if (rc) {
    atomic_store(&p->failed, 1);
    return rc;
  }
  segment *seg;
  rc = segment_create(p->caches, p->dir, atomic_load(&p->hw),
                      (size_t)cfg->segment_index_bytes, now_ms, &seg);
  if (rc)
    return rc;
  pthread_rwlock_wrlock(&p->segs_lock);
  rc = segs_push(p, seg);
  pthread_rwlock_unlock(&p->segs_lock);
  if (rc)
    segment_close(seg, 1);
  else
    STATS_ADD(p->log, segments_rolled, 1);
  return rc;
}

/* The transaction checks of batch b from a producer, before anything is
 * written (Kafka's ProducerAppendInfo): 0 to go on, 1 for a marker that
 * has nothing to end (alone: the caller writes nothing), or an error. */
static int txn_check(partition *p, const uint8_t *b, int alone) {
  /* Only a marker, or a plain batch while some transaction is open here,
   * needs the producer's entry: an idempotent producer's append does not
   * pay a second search of the state. */
  if (!batch_is_control(b) &&
      (batch_is_transactional(b) ||
       atomic_load_explicit(&p->txn_first_open, memory_order_relaxed) ==
           INT64_MAX))
    return 0;
  int64_t pid = batch_producer_id(b);
  const producer_entry *e = producer_find(&p->producers, pid);
  if (batch_is_control(b)) {
    if (e && batch_producer_epoch(b) < e->epoch)
      return nd_fail(ND_EPRODUCERFENCED,
                     "transaction marker of producer %" PRId64
                     " has epoch %d, older than its current %d in %s",
                     pid, (int)batch_producer_epoch(b), (int)e->epoch, p->dir);
    return alone && (!e || e->txn_first < 0) ? 1 : 0;
  }
  if (e && e->txn_first >= 0)
    /* Kafka's words (ProducerAppendInfo.checkProducerEpoch's sibling). */
    return nd_fail(ND_ETXNSTATE,
                   "Expected transactional write from producer %" PRId64
                   " at offset %" PRId64 " in partition %s",
                   pid, atomic_load(&p->hw), p->dir);
  return 0;
}

int partition_txn_note(partition *p, segment *seg, const uint8_t *h, size_t len,
                       int64_t base) {
  int64_t pid = batch_producer_id(h);
  int16_t epoch = batch_producer_epoch(h);
  if (pid < 0)
    return 0;
  if (batch_is_control(h)) {
    int32_t coord_epoch;
    int type = batch_control_marker(h, len, &coord_epoch);
    int64_t first;
    if (type < 0)
      return 0; /* not a marker: no transaction to end */
    if (producer_txn_end(&p->producers, pid, epoch, coord_epoch, base,
                         batch_max_timestamp(h), &first) != 0)
      return nd_fail(ND_ENOMEM, "out of memory");
    if (first < 0)
      return 0;
    /* txn_first_open moves up only after the high watermark shows this
     * marker (append_write; recovery sets it at its end): before, a
     * read_committed Fetch could get the transaction's data without its
     * marker, or an aborted transaction's data before its entry below. */
    int64_t open = producer_first_open(&p->producers, -1);
    if (type != 0)
      return 0;
    /* Kafka's AbortedTxn.lastStableOffset: the LSO once this one is
     * complete (ProducerStateManager.lastStableOffset). */
    txn_aborted a = {pid, first, base, open == INT64_MAX ? base + 1 : open};
    pthread_mutex_lock(&p->txn_lock);
    int rc = txnindex_add(&seg->aborted, seg->path, &a, p->readonly);
    pthread_mutex_unlock(&p->txn_lock);
    return rc;
  }
  if (!batch_is_transactional(h))
    return 0;
  int opened =
      producer_txn_batch(&p->producers, pid, epoch, base, batch_last_offset(h));
  if (opened < 0)
    return nd_fail(ND_ENOMEM, "out of memory");
  if (opened && base < atomic_load(&p->txn_first_open))
    atomic_store(&p->txn_first_open, base);
  return 0;
}

/* The append proper; *sync_to gets the offset to make durable before
 * returning to the caller, or stays -1. */
static int append_write(partition *p, const nd_topic_config *cfg, uint8_t *buf,
                        size_t len, int64_t now_ms, unsigned flags,
                        nd_append_info *info, int64_t *sync_to) {
  if (p->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  pthread_mutex_lock(&p->append_lock);
  if (atomic_load(&p->failed)) {
    pthread_mutex_unlock(&p->append_lock);
    return nd_fail(ND_EFAILED,
                   "partition %s refuses appends after an I/O error; reopen "
                   "the store to recover it",
                   p->dir);
  }
  int64_t hw = atomic_load_explicit(&p->hw, memory_order_relaxed);
  /* Count offsets first: the roll decision needs the last offset. The
   * callers checked the batches (nd_append_batch) or made them (nd_append);
   * this walk frames them once more, so that the later passes may trust
   * the framing, and refuses the append if it does not hold. */
  int64_t next = hw;
  batch_cursor c;
  batch_cursor_mem(&c, buf, len, BATCH_LEVEL_HEADER);
  while (batch_cursor_next(&c) == 1)
    next += batch_last_offset_delta(c.batch) + 1;
  if (c.stop != BATCH_STOP_END) {
    pthread_mutex_unlock(&p->append_lock);
    return nd_fail(ND_EBATCH, "append to %s: batch at byte %" PRIu64 ": %s",
                   p->dir, c.stop_pos, c.why);
  }
  segment *seg = active_seg(p);
  int rc = 0;
  if (!seg->active) {
    /* First append since open. Readers may be searching the read-only
     * index mapping that activation replaces: keep them out meanwhile. */
    pthread_rwlock_wrlock(&p->segs_lock);
    rc = segment_activate(seg, (size_t)cfg->segment_index_bytes);
    pthread_rwlock_unlock(&p->segs_lock);
    if (rc) {
      pthread_mutex_unlock(&p->append_lock);
      return rc;
    }
  }
  uint64_t size = atomic_load_explicit(&seg->size, memory_order_relaxed);
  if (size > 0 && (size + len > (uint64_t)cfg->segment_bytes ||
                   sidx_full(&seg->oidx) || sidx_full(&seg->tidx) ||
                   now_ms - seg->created_ms >= partition_roll_ms(cfg) ||
                   next - seg->base > (int64_t)UINT32_MAX)) {
    rc = roll(p, cfg, now_ms);
    if (rc) {
      pthread_mutex_unlock(&p->append_lock);
      return rc;
    }
    seg = active_seg(p);
    size = 0;
  }
  /* Idempotent producers: a retried batch is answered with its first
   * copy's offsets, a gap or an old epoch is refused; nothing is written. */
  for (batch_cursor_mem(&c, buf, len, BATCH_LEVEL_HEADER);
       batch_cursor_next(&c) == 1;) {
    const uint8_t *b = c.batch;
    int64_t pid = batch_producer_id(b);
    int32_t seq = batch_base_sequence(b);
    int rc_txn = pid >= 0 ? txn_check(p, b, len == c.size) : 0;
    if (rc_txn) {
      pthread_mutex_unlock(&p->append_lock);
      if (rc_txn == 1) {
        /* A marker for a producer with no open transaction here: nothing
         * to end, nothing written (markers are idempotent). */
        if (info) {
          info->partition = p->id;
          info->base_offset = info->last_offset = -1;
          info->log_append_time = -1;
          info->log_start_offset = atomic_load(&p->log_start);
        }
        return 0;
      }
      return rc_txn;
    }
    if (pid >= 0 && seq >= 0 && !batch_is_control(b)) {
      producer_batch dup;
      int32_t last_seq = seq_add(seq, batch_record_count(b) - 1);
      enum producer_verdict v = producer_check(
          &p->producers, pid, batch_producer_epoch(b), seq, last_seq, &dup);
      if (v != PRODUCER_OK) {
        pthread_mutex_unlock(&p->append_lock);
        if (v == PRODUCER_DUPLICATE && len == c.size) {
          if (info) {
            info->partition = p->id;
            info->base_offset = dup.base_offset;
            info->last_offset = dup.last_offset;
            info->log_append_time = -1;
            info->log_start_offset = atomic_load(&p->log_start);
          }
          return nd_fail(ND_EDUPSEQ,
                         "producer %" PRId64 " sequence %d..%d already stored "
                         "at offset %" PRId64,
                         pid, (int)seq, (int)last_seq, dup.base_offset);
        }
        if (v == PRODUCER_FENCED)
          return nd_fail(ND_EPRODUCERFENCED,
                         "producer %" PRId64 " epoch %d is older than the "
                         "current one",
                         pid, (int)batch_producer_epoch(b));
        return nd_fail(ND_ESEQUENCE,
                       "producer %" PRId64 " sequence %d out of order in %s",
                       pid, (int)seq, p->dir);
      }
    }
  }
  int64_t max_ts = -1;
  int64_t off = hw;
  int marker = 0;
  for (batch_cursor_mem(&c, buf, len, BATCH_LEVEL_HEADER);
       batch_cursor_next(&c) == 1;) {
    uint8_t *b = buf + c.pos; /* the caller's bytes, ours to stamp */
    batch_set_base_offset(b, off);
    /* The partition leader epoch is the leader's, not the client's (Kafka's
     * leader stamps its own; producers send -1). One node, one epoch: 0,
     * the epoch Metadata and OffsetForLeaderEpoch give. Consumers take a
     * record's epoch from here and commit it. Outside the CRC. */
    batch_set_leader_epoch(b, 0);
    if (cfg->timestamp_type == ND_TS_LOG_APPEND_TIME)
      batch_set_log_append_time(b, (size_t)c.size, now_ms);
    off += batch_last_offset_delta(b) + 1;
  }
  /* The index entries go in after the write: their mappings are pinned
   * first, so that an append that could not index fails whole. */
  rc = segment_pin_maps(seg);
  int fd = rc ? rc : segment_fd(seg);
  if (fd < 0) {
    if (!rc)
      segment_unpin_maps(seg);
    pthread_mutex_unlock(&p->append_lock);
    return fd;
  }
  rc = file_pwrite_all(fd, buf, len, (off_t)size);
  if (rc) {
    /* Nothing partial may stay: cut back to the last whole batch. If even
     * that fails the tail is unknown and the partition stops appending. */
    int trc = file_truncate(fd, (off_t)size);
    segment_unfd(seg);
    if (trc)
      atomic_store(&p->failed, 1);
    segment_unpin_maps(seg);
    pthread_mutex_unlock(&p->append_lock);
    return nd_fail_os(-rc, "append to %s.log at byte %" PRIu64 " (%zu bytes)",
                      seg->path, size, len);
  }
  segment_unfd(seg);
  off = hw;
  for (batch_cursor_mem(&c, buf, len, BATCH_LEVEL_HEADER);
       batch_cursor_next(&c) == 1;) {
    const uint8_t *b = c.batch;
    int64_t mts = batch_max_timestamp(b);
    segment_index_batch(seg, size + c.pos, off, mts, (size_t)c.size,
                        cfg->index_interval_bytes);
    if (mts > max_ts)
      max_ts = mts;
    int64_t pid = batch_producer_id(b);
    int32_t seq = batch_base_sequence(b);
    int64_t last = off + batch_last_offset_delta(b);
    if (pid >= 0 && seq >= 0 && !batch_is_control(b) &&
        producer_record(&p->producers, pid, batch_producer_epoch(b), seq,
                        seq_add(seq, batch_record_count(b) - 1), off, last,
                        mts) != 0) {
      /* Only retry detection is lost; the data is stored. */
    }
    marker |= pid >= 0 && batch_is_control(b);
    if (pid >= 0 && partition_txn_note(p, seg, b, (size_t)c.size, off) != 0) {
      /* Out of memory or a failed .txnindex write: the batch is stored;
       * the state is rebuilt from the log at the next open, and
       * nd_verify reports a missing index entry. */
      nd_clear_error();
    }
    off = last + 1;
  }
  segment_unpin_maps(seg);
  atomic_store_explicit(&seg->next_offset, off, memory_order_release);
  atomic_store_explicit(&seg->size, size + len, memory_order_release);
  atomic_store_explicit(&p->hw, off, memory_order_release);
  /* A transaction ends in this order, the reverse of its start (Kafka
   * keeps it unstable until the high watermark passes its marker): the
   * LSO passes the marker only once the high watermark shows it. */
  if (marker)
    atomic_store_explicit(&p->txn_first_open,
                          producer_first_open(&p->producers, -1),
                          memory_order_release);
  pthread_mutex_unlock(&p->append_lock);
  /* Counted after the lock: the counters are the scrape's, not the log's. */
  atomic_fetch_add_explicit(&p->appends_unsynced, 1, memory_order_relaxed);
  stats_stored(p->log, (uint64_t)(off - hw), len);

  if (info) {
    info->partition = p->id;
    info->base_offset = hw;
    info->last_offset = off - 1;
    info->log_append_time =
        cfg->timestamp_type == ND_TS_LOG_APPEND_TIME ? now_ms : -1;
    info->log_start_offset = atomic_load(&p->log_start);
  }
  int want_sync = (flags & ND_APPEND_SYNC) || (cfg->fsync == ND_FSYNC_ALWAYS &&
                                               !(flags & ND_APPEND_NOSYNC));
  if (want_sync)
    *sync_to = off;
  return 0;
}

int partition_append(partition *p, const nd_topic_config *cfg, uint8_t *buf,
                     size_t len, int64_t now_ms, unsigned flags,
                     nd_append_info *info, int64_t *sync_to) {
  *sync_to = -1;
  return append_write(p, cfg, buf, len, now_ms, flags, info, sync_to);
}

void partition_append_begin(partition *p) {
  atomic_fetch_add(&p->appending, 1);
}

void partition_append_end(partition *p) {
  atomic_fetch_sub(&p->appending, 1);
}

/* ---- durability ---------------------------------------------------------- */

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Before a group-commit leader syncs, let the round fill up: wait, at most
 * half as long as the last fdatasync took (and never over 200 us), until
 * as many callers wait for a sync as the last round had and no append is
 * under way. Threads that have just been woken by the previous round need
 * a moment to append again; without this pause, on a machine with fewer
 * cores than writers, a sync covered about half of them. */
static void group_commit_gather(partition *p, int expect, int64_t budget) {
  if (budget > GROUP_COMMIT_WAIT_NS)
    budget = GROUP_COMMIT_WAIT_NS;
  if (expect <= 1 && atomic_load(&p->appending) == 0)
    return;
  int64_t start = mono_ns();
  while (mono_ns() - start < budget) {
    if (atomic_load(&p->sync_callers) >= expect &&
        atomic_load(&p->appending) == 0)
      return;
    sched_yield();
  }
}

/* fdatasync the active segment and the segments sealed since the last
 * sync (a roll leaves theirs to us; they are the last ones before the
 * active one: everything earlier is durable). *target gets the offset
 * that is then durable. The descriptors are taken under the shared lock,
 * which keeps retention from closing the segments, and synced after it is
 * released: a roll takes the lock exclusively, and an appender (the
 * broker's event loop) must never wait for a writeback. */
static int sync_segments(partition *p, int64_t *target) {
  struct to_sync {
    int fd;
    int64_t base;
  } few[16], *v = few;
  size_t n = 0;
  int need_dir = 0, rc = 0;
  pthread_rwlock_rdlock(&p->segs_lock);
  segment *active = active_seg(p);
  *target = atomic_load_explicit(&active->next_offset, memory_order_acquire);
  size_t first = p->nsegs - 1;
  while (first > 0 && atomic_load(&p->segs[first - 1]->unsynced))
    first--;
  size_t want = p->nsegs - first;
  if (want > sizeof few / sizeof few[0] && !(v = malloc(want * sizeof *v))) {
    pthread_rwlock_unlock(&p->segs_lock);
    return nd_fail(ND_ENOMEM, "sync of %s: out of memory", p->dir);
  }
  for (size_t i = first; !rc && i < p->nsegs; i++) {
    segment *seg = p->segs[i];
    int fd = segment_fd(seg);
    if (fd < 0) {
      rc = fd;
      break;
    }
    v[n].fd = file_dup(fd);
    v[n].base = seg->base;
    segment_unfd(seg);
    if (v[n].fd < 0)
      rc = nd_fail_os(-v[n].fd, "duplicating the descriptor of %s.log",
                      seg->path);
    else
      n++;
  }
  /* Out of descriptors: nothing is synced and nothing is marked, so the
   * caller may retry. Else the marks go now: if a sync below fails, the
   * whole partition fails. */
  for (size_t i = first; !rc && i < p->nsegs; i++) {
    atomic_store(&p->segs[i]->unsynced, 0);
    if (!atomic_exchange(&p->segs[i]->dir_synced, 1))
      need_dir = 1;
  }
  pthread_rwlock_unlock(&p->segs_lock);
  for (size_t i = 0; i < n; i++) {
    char path[PATH_MAX];
    if (!rc)
      segment_name(path, sizeof path, p->dir, v[i].base, LAYOUT_LOG);
    int e = rc ? 0 : stats_datasync(p->log, v[i].fd, path);
    if (e)
      rc = nd_fail_os(-e, "fdatasync %s", path);
    file_close(v[i].fd);
  }
  if (!rc && need_dir) {
    /* A new segment's name is durable only once its directory is. */
    int e = stats_sync_dir(p->log, p->dir);
    if (e)
      rc = nd_fail_os(-e, "fsync of directory %s", p->dir);
  }
  if (v != few)
    free(v);
  return rc;
}

/* Group commit: one caller at a time runs fdatasync for everything written
 * so far; callers that arrive meanwhile wait and share the next one. */
int partition_sync(partition *p, int64_t upto) {
  if (p->readonly)
    return 0;
  /* Nothing past the high watermark exists to be made durable: a caller
   * asking for more (an offset it never got, a partition still empty) is
   * given everything appended so far. Without the bound the loop below
   * would sync again and again, waiting for offsets no one will write. */
  int64_t hw = atomic_load(&p->hw);
  if (upto < 0 || upto > hw)
    upto = hw;
  int rc = 0;
  pthread_mutex_lock(&p->sync_lock);
  atomic_fetch_add(&p->sync_callers, 1);
  while (atomic_load(&p->synced) < upto) {
    if (p->syncing) {
      pthread_cond_wait(&p->sync_cond, &p->sync_lock);
      continue;
    }
    if (atomic_load(&p->failed)) {
      rc =
          nd_fail(ND_EFAILED, "partition %s failed after an I/O error", p->dir);
      break;
    }
    p->syncing = 1;
    int expect = p->last_round_callers;
    int64_t budget = p->last_sync_ns / 2;
    pthread_mutex_unlock(&p->sync_lock);
    group_commit_gather(p, expect, budget);
    int64_t target = -1;
    int callers = atomic_load(&p->sync_callers);
    /* Taken before the sync: appends after this point are not in it. */
    uint64_t batch =
        atomic_exchange_explicit(&p->appends_unsynced, 0, memory_order_relaxed);
    int64_t t0 = mono_ns();
    int src = sync_segments(p, &target);
    if (!src && batch && p->log && p->log->stats)
      stats_hist_add(&p->log->stats->group_commit, nd_batch_size_bounds, batch);
    int64_t took = mono_ns() - t0;
    pthread_mutex_lock(&p->sync_lock);
    p->last_round_callers = callers;
    p->last_sync_ns = took;
    p->syncing = 0;
    pthread_cond_broadcast(&p->sync_cond);
    if (src == -EMFILE || src == -ENFILE) {
      /* No descriptor to sync with: nothing was synced, nothing was
       * lost; the caller may retry. */
      rc = src;
      break;
    }
    if (src) {
      /* After a failed fdatasync the kernel may have dropped the dirty
       * pages: the tail is of unknown state, so stop appending here. */
      atomic_store(&p->failed, 1);
      rc = src;
      break;
    }
    if (target > atomic_load(&p->synced))
      atomic_store(&p->synced, target);
  }
  atomic_fetch_sub(&p->sync_callers, 1);
  pthread_mutex_unlock(&p->sync_lock);
  return rc;
}

/* ---- reads ------------------------------------------------------------- */

/* Where a read from `offset` starts: *hw and *ls get the bounds it sees;
 * returns 1 when there is nothing to read (offset is the high watermark,
 * or only a hole lies between it and the high watermark), an error
 * (ND_ERANGE outside the bounds), or 0 with *seg and *pos naming the
 * first batch whose last offset is >= offset (the batch holding it, or
 * after a hole the next one, as Kafka's Fetch answers) and segs_lock held
 * for reading: the caller reads, then unlocks. */
/* The LSO and the high watermark *hw it was taken with, one consistent
 * pair. An append stores a transaction's first offset before the high
 * watermark that shows its batch, and the high watermark that shows its
 * marker before the first offset moves up (append_write): no single load
 * order sees both right, so the high watermark is read again around the
 * first offset until it did not move (it only grows). */
static int64_t lso_load(partition *p, int64_t *hw) {
  int64_t h = atomic_load_explicit(&p->hw, memory_order_acquire), first;
  for (;;) {
    first = atomic_load_explicit(&p->txn_first_open, memory_order_acquire);
    int64_t again = atomic_load_explicit(&p->hw, memory_order_acquire);
    if (again == h)
      break;
    h = again;
  }
  *hw = h;
  return first < h ? first : h;
}

static int read_start(partition *p, int64_t offset, int64_t *hw, int64_t *ls,
                      int64_t *lso, segment **seg, uint64_t *pos) {
  *lso = lso_load(p, hw);
  *ls = atomic_load_explicit(&p->log_start, memory_order_acquire);
  if (*lso < *ls) /* DeleteRecords past an open transaction, as Kafka */
    *lso = *ls;
  if (offset < *ls || offset > *hw)
    return nd_fail(ND_ERANGE,
                   "offset %" PRId64 " out of range [%" PRId64 ", %" PRId64
                   "] in %s",
                   offset, *ls, *hw, p->dir);
  if (offset == *hw)
    return 1;
  pthread_rwlock_rdlock(&p->segs_lock);
  size_t i = seg_index_for(p, offset);
  *seg = p->segs[i];
  if (offset >=
          atomic_load_explicit(&(*seg)->next_offset, memory_order_acquire) &&
      i + 1 < p->nsegs)
    *seg = p->segs[++i];
  int rc = segment_find(*seg, offset, pos);
  /* A hole at the segment's end (segment.h): the next existing offset is
   * in a later segment. */
  while (rc == ND_ERANGE && i + 1 < p->nsegs) {
    *seg = p->segs[++i];
    rc = segment_find(*seg, (*seg)->base, pos);
  }
  if (rc == ND_ERANGE) {
    nd_clear_error();
    rc = 1;
  }
  if (rc)
    pthread_rwlock_unlock(&p->segs_lock);
  return rc;
}

static int read_batches(partition *p, int64_t offset, size_t max_bytes,
                        int committed, nd_batches *out) {
  memset(out, 0, sizeof *out);
  out->next_offset = offset;
  segment *seg;
  uint64_t pos;
  int rc = read_start(p, offset, &out->high_watermark, &out->log_start_offset,
                      &out->last_stable_offset, &seg, &pos);
  if (rc)
    return rc > 0 ? 0 : rc;
  int64_t end = committed ? out->last_stable_offset : out->high_watermark;
  if (offset >= end) {
    pthread_rwlock_unlock(&p->segs_lock);
    return 0;
  }
  rc = segment_read(seg, pos, max_bytes, end, &out->data, &out->len,
                    &out->next_offset);
  pthread_rwlock_unlock(&p->segs_lock);
  return rc;
}

int partition_read(partition *p, int64_t offset, size_t max_bytes,
                   nd_batches *out) {
  return read_batches(p, offset, max_bytes, 0, out);
}

int partition_read_committed(partition *p, int64_t offset, size_t max_bytes,
                             nd_batches *out) {
  return read_batches(p, offset, max_bytes, 1, out);
}

static int read_range(partition *p, int64_t offset, size_t max_bytes,
                      int committed, nd_file_range *out) {
  memset(out, 0, sizeof *out);
  out->fd = -1;
  out->next_offset = offset;
  segment *seg;
  uint64_t pos, len = 0;
  int rc = read_start(p, offset, &out->high_watermark, &out->log_start_offset,
                      &out->last_stable_offset, &seg, &pos);
  if (rc)
    return rc > 0 ? 0 : rc;
  int64_t end = committed ? out->last_stable_offset : out->high_watermark;
  if (offset >= end) {
    pthread_rwlock_unlock(&p->segs_lock);
    return 0;
  }
  rc = segment_read_range(seg, pos, max_bytes, end, &out->fd, &len,
                          &out->next_offset);
  pthread_rwlock_unlock(&p->segs_lock);
  if (!rc) {
    out->pos = (int64_t)pos;
    out->len = (size_t)len;
  }
  return rc;
}

int partition_read_file(partition *p, int64_t offset, size_t max_bytes,
                        nd_file_range *out) {
  return read_range(p, offset, max_bytes, 0, out);
}

int partition_read_file_committed(partition *p, int64_t offset,
                                  size_t max_bytes, nd_file_range *out) {
  return read_range(p, offset, max_bytes, 1, out);
}

int64_t partition_lso(partition *p) {
  int64_t hw;
  int64_t lso = lso_load(p, &hw);
  int64_t ls = atomic_load_explicit(&p->log_start, memory_order_acquire);
  /* Kafka's UnifiedLog moves the first unstable offset up to the log
   * start when DeleteRecords or retention passes it. */
  return lso < ls ? ls : lso;
}

static int cmp_aborted(const void *a, const void *b) {
  const nd_aborted_txn *x = a, *y = b;
  return (x->first_offset > y->first_offset) -
         (x->first_offset < y->first_offset);
}

/* Kafka's collectAbortedTransactions: from the segment that can hold a
 * marker at or after `from` on, every entry with lastOffset >= from and
 * firstOffset < upto; an entry whose lastStableOffset >= upto ends the
 * search (a transaction aborted later began at or after that LSO, so at
 * or after upto). */
int partition_aborted_collect(partition *p, int64_t from, int64_t upto,
                              txn_aborted **list, size_t *count) {
  *list = NULL;
  *count = 0;
  txn_aborted *out = NULL;
  size_t n = 0, cap = 0;
  int rc = 0, done = 0;
  pthread_rwlock_rdlock(&p->segs_lock);
  pthread_mutex_lock(&p->txn_lock);
  for (size_t i = p->nsegs ? seg_index_for(p, from) : 0; i < p->nsegs && !done;
       i++) {
    const txn_list *l = &p->segs[i]->aborted;
    for (size_t j = 0; j < l->n; j++) {
      const txn_aborted *e = &l->v[j];
      if (e->last >= from && e->first < upto) {
        if (n == cap) {
          size_t ncap = cap ? cap * 2 : 8;
          txn_aborted *v = realloc(out, ncap * sizeof *v);
          if (!v) {
            rc = nd_fail(ND_ENOMEM, "out of memory");
            done = 1;
            break;
          }
          out = v;
          cap = ncap;
        }
        out[n++] = *e;
      }
      if (e->lso >= upto) {
        done = 1;
        break;
      }
    }
  }
  pthread_mutex_unlock(&p->txn_lock);
  pthread_rwlock_unlock(&p->segs_lock);
  if (rc) {
    free(out);
    return rc;
  }
  *list = out;
  *count = n;
  return 0;
}

int partition_aborted_txns(partition *p, int64_t from, int64_t upto,
                           nd_aborted_txn **list, size_t *count) {
  txn_aborted *v;
  size_t n;
  *list = NULL;
  *count = 0;
  int rc = partition_aborted_collect(p, from, upto, &v, &n);
  if (rc || n == 0)
    return rc;
  nd_aborted_txn *out = malloc(n * sizeof *out);
  if (!out) {
    free(v);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++)
    out[i] = (nd_aborted_txn){v[i].pid, v[i].first, v[i].last};
  free(v);
  if (n > 1)
    qsort(out, n, sizeof *out, cmp_aborted);
  *list = out;
  *count = n;
  return 0;
}

/* In the batch at buf (whole), the first record at or above ls with a
 * timestamp >= ts: 1 with *offset and *timestamp, 0 if none (the records
 * that had such timestamps were cleaned away, or the batch is empty), or
 * a negative code when its records cannot be read (compressed, no codec). */
static int batch_first_at_time(const uint8_t *buf, size_t len, int64_t ts,
                               int64_t ls, nd_decompress_fn decompress,
                               int64_t *offset, int64_t *timestamp) {
  nd_iter it;
  nd_iter_init(&it, buf, len, ls, decompress);
  nd_record_view r;
  int got;
  while ((got = nd_iter_next(&it, &r)) == 1) {
    if (r.timestamp >= ts) {
      *offset = r.offset;
      *timestamp = r.timestamp;
      break;
    }
  }
  nd_iter_close(&it);
  return got;
}

int partition_offset_for_time(partition *p, int64_t ts,
                              nd_decompress_fn decompress, int64_t *offset,
                              int64_t *timestamp) {
  *offset = -1;
  *timestamp = -1;
  int64_t ls = atomic_load(&p->log_start);
  int64_t hw = atomic_load(&p->hw);
  int rc = 0;
  uint8_t *buf = NULL;
  size_t len = 0;
  pthread_rwlock_rdlock(&p->segs_lock);
  for (size_t i = 0; i < p->nsegs && *offset < 0; i++) {
    segment *seg = p->segs[i];
    if (atomic_load(&seg->max_ts) < ts || atomic_load(&seg->next_offset) <= ls)
      continue;
    int64_t pos, base;
    rc = segment_find_time(seg, ts, &pos, &base);
    if (rc || pos < 0)
      continue;
    /* The batch's maxTimestamp is >= ts: find its first such record. On a
     * cleaned log that record may be gone (a batch keeps its
     * maxTimestamp, an empty one too), so the answer is the first
     * EXISTING record with a timestamp >= ts, in a later batch or
     * segment if need be, as Kafka's lookup walks on. A batch that cannot
     * be decoded (compressed, no codec) answers with its base offset, the
     * conservative answer. */
    for (uint64_t at = (uint64_t)pos; *offset < 0;) {
      free(buf);
      buf = NULL;
      rc = segment_read(seg, at, 1, hw, &buf, &len, NULL);
      if (rc || len == 0)
        break;
      if (batch_max_timestamp(buf) >= ts && batch_record_count(buf) > 0 &&
          batch_last_offset(buf) >= ls &&
          batch_first_at_time(buf, len, ts, ls, decompress, offset, timestamp) <
              0) {
        nd_clear_error();
        int64_t b = batch_base_offset(buf);
        *offset = b < ls ? ls : b;
        *timestamp = batch_max_timestamp(buf);
      }
      at += len;
    }
    if (rc)
      break;
  }
  pthread_rwlock_unlock(&p->segs_lock);
  free(buf);
  return rc;
}

int partition_producers(partition *p, nd_producer_info **list, size_t *count) {
  *list = NULL;
  *count = 0;
  pthread_mutex_lock(&p->append_lock);
  size_t n = p->producers.count;
  nd_producer_info *out = n ? calloc(n, sizeof *out) : NULL;
  for (size_t i = 0; out && i < n; i++) {
    const producer_entry *e = &p->producers.entries[i];
    out[i].producer_id = e->pid;
    out[i].producer_epoch = e->epoch;
    /* No batch kept after a marker bumped its epoch. */
    out[i].last_sequence = e->n ? e->batches[e->n - 1].last_seq : -1;
    out[i].last_offset = e->last_offset;
    out[i].last_timestamp = e->last_ts;
    out[i].txn_start_offset = e->txn_first;
    out[i].coordinator_epoch = e->coord_epoch;
  }
  pthread_mutex_unlock(&p->append_lock);
  if (n && !out)
    return nd_fail(ND_ENOMEM, "out of memory");
  *list = out;
  *count = n;
  return 0;
}

int partition_describe(partition *p, nd_partition_info *info) {
  memset(info, 0, sizeof *info);
  info->last_stable_offset = lso_load(p, &info->high_watermark);
  info->log_start_offset = atomic_load(&p->log_start);
  info->recovery_point = atomic_load(&p->synced);
  info->max_timestamp = -1;
  if (info->last_stable_offset < info->log_start_offset)
    info->last_stable_offset = info->log_start_offset;
  pthread_rwlock_rdlock(&p->segs_lock);
  info->segment_count = (int32_t)p->nsegs;
  for (size_t i = 0; i < p->nsegs; i++) {
    info->size_bytes += (int64_t)atomic_load(&p->segs[i]->size);
    int64_t m = atomic_load(&p->segs[i]->max_ts);
    if (m > info->max_timestamp)
      info->max_timestamp = m;
  }
  pthread_rwlock_unlock(&p->segs_lock);
  return 0;
}

/* ---- retention and log start ------------------------------------------- */

/* Why a segment was deleted, for the log line an operator reads when data
 * disappears (Kafka logs each deletion with its breach). */
enum drop_why {
  DROP_LOG_START,
  DROP_RETENTION_MS,
  DROP_RETENTION_BYTES,
  DROP_DELETE_RECORDS
};

/* Whose segments go and why, for the log line of each (drop_head). */
typedef struct drop_ctx {
  const char *topic;
  const uint8_t *why;         /* per segment; NULL: all DROP_DELETE_RECORDS */
  const nd_topic_config *cfg; /* the limits breached (retention) */
} drop_ctx;

/* Segment seg (its .log bytes) is gone: counted and logged with the
 * reason and the limit it broke. */
static void drop_report(partition *p, const drop_ctx *d, int why,
                        const segment *seg, uint64_t bytes) {
  STATS_ADD(p->log, retention_segments, 1);
  STATS_ADD(p->log, retention_bytes, bytes);
  char reason[128];
  int64_t ls = atomic_load(&p->log_start);
  if (why == DROP_RETENTION_MS)
    snprintf(reason, sizeof reason,
             "retention.ms=%" PRId64 " breached (largest timestamp %" PRId64
             ")",
             d->cfg->retention_ms, atomic_load(&seg->max_ts));
  else if (why == DROP_RETENTION_BYTES)
    snprintf(reason, sizeof reason, "retention.bytes=%" PRId64 " breached",
             d->cfg->retention_bytes);
  else
    snprintf(reason, sizeof reason, "%s (log start offset %" PRId64 ")",
             why == DROP_DELETE_RECORDS ? "DeleteRecords"
                                        : "below the log start",
             ls);
  nd_log(p->log, ND_LOG_INFO,
         "deleted segment %s-%d base offset %" PRId64 " (%" PRIu64
         " bytes): %s",
         d->topic ? d->topic : p->dir, (int)p->id, seg->base, bytes, reason);
}

static int drop_head_locked(partition *p, size_t k, const drop_ctx *d) {
  if (k == 0)
    return 0;
  segment **gone = malloc(k * sizeof *gone);
  if (!gone)
    return nd_fail(ND_ENOMEM, "out of memory");
  pthread_rwlock_wrlock(&p->segs_lock);
  memcpy(gone, p->segs, k * sizeof *gone);
  memmove(p->segs, p->segs + k, (p->nsegs - k) * sizeof *p->segs);
  p->nsegs -= k;
  int64_t new_start = p->segs[0]->base;
  if (atomic_load(&p->log_start) < new_start)
    atomic_store(&p->log_start, new_start);
  pthread_rwlock_unlock(&p->segs_lock);
  /* Persist the new start before the files go, so a crash in between
   * cannot resurrect a shorter log start than the files imply. */
  int rc =
      write_offset_file(p->dir, LOG_START_FILE, atomic_load(&p->log_start));
  if (!rc)
    p->log_start_persisted = atomic_load(&p->log_start);
  for (size_t i = 0; i < k; i++) {
    /* Reported before the close, which frees the segment; its files are
     * unlinked right after, whatever happens. */
    drop_report(p, d, d->why ? d->why[i] : DROP_DELETE_RECORDS, gone[i],
                atomic_load(&gone[i]->size));
    segment_close(gone[i], 1);
  }
  free(gone);
  return rc;
}

/* Remove sealed segments [0, k) from the list and delete their files.
 * While the cleaner is reading them (clean_lock held) nothing is dropped:
 * the log start is what reads obey, and the next maintenance round drops
 * the segments below it (partition_maintain). */
static int drop_head(partition *p, size_t k, const drop_ctx *d) {
  if (k == 0)
    return 0;
  if (pthread_mutex_trylock(&p->clean_lock) != 0)
    return 0;
  int rc = drop_head_locked(p, k, d);
  pthread_mutex_unlock(&p->clean_lock);
  return rc;
}

int partition_delete_records(partition *p, const char *topic, int64_t offset,
                             int64_t *new_start) {
  if (p->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  STATS_ADD(p->log, delete_records_calls, 1);
  pthread_mutex_lock(&p->append_lock);
  int64_t hw = atomic_load(&p->hw);
  if (offset < 0)
    offset = hw;
  if (offset > hw) {
    pthread_mutex_unlock(&p->append_lock);
    return nd_fail(ND_ERANGE,
                   "delete records before %" PRId64
                   ": above the high watermark %" PRId64,
                   offset, hw);
  }
  int rc = 0;
  if (offset > atomic_load(&p->log_start)) {
    atomic_store(&p->log_start, offset);
    rc = write_offset_file(p->dir, LOG_START_FILE, offset);
    if (!rc)
      p->log_start_persisted = offset;
    size_t k = 0;
    while (k + 1 < p->nsegs && atomic_load(&p->segs[k]->next_offset) <= offset)
      k++;
    if (!rc)
      rc = drop_head(p, k, &(drop_ctx){topic, NULL, NULL});
  }
  if (new_start)
    *new_start = atomic_load(&p->log_start);
  pthread_mutex_unlock(&p->append_lock);
  return rc;
}

int partition_maintain(partition *p, const char *topic,
                       const nd_topic_config *cfg, int64_t now_ms) {
  if (p->readonly)
    return 0;
  int rc = 0;
  int64_t hw = atomic_load(&p->hw);
  if (cfg->fsync == ND_FSYNC_INTERVAL && atomic_load(&p->synced) < hw &&
      now_ms - atomic_load(&p->last_sync_ms) >= cfg->fsync_interval_ms) {
    atomic_store(&p->last_sync_ms, now_ms);
    rc = partition_sync(p, hw);
  }
  int64_t synced = atomic_load(&p->synced);
  if (synced != p->rp_persisted &&
      now_ms - p->rp_persisted_ms >= RP_PERSIST_INTERVAL_MS) {
    /* Producer state first, so that a recovery point comes with the
     * state as of it (neither is synced: see producers_rebuild). */
    pthread_mutex_lock(&p->append_lock);
    int r = partition_snapshot_save(p);
    pthread_mutex_unlock(&p->append_lock);
    if (!r)
      r = write_offset_file(p->dir, RECOVERY_POINT_FILE, synced);
    if (!r) {
      p->rp_persisted = synced;
      p->rp_persisted_ms = now_ms;
    } else if (!rc) {
      rc = r;
    }
  }
  pthread_mutex_lock(&p->append_lock);
  segment *seg = active_seg(p);
  if (atomic_load(&seg->size) > 0 &&
      now_ms - seg->created_ms >= partition_roll_ms(cfg)) {
    int r = roll(p, cfg, now_ms);
    if (r && !rc)
      rc = r;
  }
  /* Retention: whole sealed segments, oldest first; for a topic that only
   * compacts, just those DeleteRecords put below the log start while the
   * cleaner held them (drop_head). */
  size_t k = 0;
  int64_t total = 0;
  int64_t ls = atomic_load(&p->log_start);
  while (k + 1 < p->nsegs && p->segs[k + 1]->base <= ls)
    k++;
  for (size_t i = k; i < p->nsegs; i++)
    total += (int64_t)atomic_load(&p->segs[i]->size);
  /* calloc'ed: the segments below the log start are DROP_LOG_START (0). */
  uint8_t *why = calloc(p->nsegs, 1);
  if (!why) {
    pthread_mutex_unlock(&p->append_lock);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  while ((cfg->cleanup_policy & ND_CLEANUP_DELETE) && k + 1 < p->nsegs) {
    segment *s = p->segs[k];
    int64_t ssize = (int64_t)atomic_load(&s->size);
    int by_time = cfg->retention_ms >= 0 &&
                  now_ms - atomic_load(&s->max_ts) > cfg->retention_ms;
    int by_size =
        cfg->retention_bytes >= 0 && total - ssize >= cfg->retention_bytes;
    if (!by_time && !by_size)
      break;
    why[k] = by_time ? DROP_RETENTION_MS : DROP_RETENTION_BYTES;
    total -= ssize;
    k++;
  }
  if (k) {
    int r = drop_head(p, k, &(drop_ctx){topic, why, cfg});
    if (r && !rc)
      rc = r;
  }
  free(why);
  pthread_mutex_unlock(&p->append_lock);
  return rc;
}
