/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recovery.c — open of a partition and crash recovery (see partition.h).
 *
 * The question an open answers is which bytes of the partition's files
 * are the log. A crash (process or power) can leave the newest segment
 * with a half-written batch, a file size that grew before its data did
 * (zeros), index entries for batches that never reached the disk, or none
 * for batches that did, and rolls whose new segment exists while the old
 * one's last writes were lost. Recovery must find the longest prefix made
 * of whole, valid batches, serve nothing past it, and never delete data
 * that was acknowledged as durable.
 *
 * What it trusts, and why:
 *   - The recovery point (DIR/recovery-point): every offset below it was
 *     fdatasync'd before the file was written, so those bytes are on disk
 *     as written unless the disk itself broke. It is a hint: lost, damaged
 *     or stale, recovery only scans more (from the first segment).
 *   - The clean-shutdown marker (store-level): nd_close synced everything
 *     and wrote indexes and the recovery point last, so a clean open need
 *     not read record data.
 *   - Segment file names (20-digit base offsets) and their order.
 *   - Nothing else without a check: index files are derived data, tested
 *     for plausibility and rebuilt when they fail; the log-start file,
 *     when unreadable, is recomputed from the first segment.
 *
 * What it checks, in this order (partition_open):
 *   1. Read the recovery point first, then list the segments: beside a
 *      live writer (a read-only open) every byte below the point is then
 *      in a listed segment. Leftover "*.deleted" files of an interrupted
 *      retention are removed.
 *   2. Every segment before the one to scan must end where the next
 *      begins or below it (in a hole the cleaner left), and the last one
 *      exactly at the recovery point. This walks only
 *      the batch headers after each segment's last index entry
 *      (segment_walk_tail), so a clean open of thousands of partitions
 *      reads a few KB each. A segment that fails is treated as after a
 *      crash, and everything after it with it.
 *   3. The index files of the segments not scanned must be plausible
 *      (ordered, in bounds, the last entry names a real batch); otherwise
 *      they are rebuilt from the log.
 *   4. After an unclean shutdown (or a failed step 2), the scan: from the
 *      last index entry at or below the recovery point in its segment
 *      (segment_resume_point; byte 0 without one) to the end of the log,
 *      every batch is read whole and checked: header sane, offsets
 *      increasing (each batch starts above the previous one's last offset;
 *      not necessarily right after it: a cleaned log has holes, see
 *      segment.h; in the last segment, the active one, which the cleaner
 *      never rewrites, right after it, since a gap there can only be a
 *      damaged baseOffset, which the CRC does not cover), CRC-32C over the
 *      batch. Indexes are rebuilt as appends
 *      would have built them. Consecutive segments must not overlap; a gap
 *      between them is a hole when hole_between() says the cleaner can
 *      have left it, else the previous segment's lost tail.
 *   5. The producer state (idempotent producers' last sequences, open
 *      transactions) is the snapshot plus the batch headers after it;
 *      without a usable snapshot, or when the aborted-transaction index
 *      files disagree with the entry counts it holds, the headers of the
 *      whole log (a transaction still open may have begun anywhere), and
 *      the .txnindex files are rebuilt with it (txnindex.h).
 *
 * What it cuts, and what it refuses to cut. The scan stops at the first
 * invalid byte. If the offset there is at or past the recovery point (and,
 * after a clean close, in the last segment), the bytes are an unsynced
 * tail that no caller was told is durable: the segment is truncated there
 * and every later segment deleted (truncate_at), and a WARN line names the
 * file, byte and reason. If the offset is below it, the bytes had been
 * synced: that is damage, not a torn write. The partition opens offline
 * (go_offline), every call on it fails naming file and byte, and nothing
 * on disk changes; `nodata verify --repair` cuts with the operator's
 * consent. A log that ends before the recovery point is damage too.
 *
 * Why a torn record is never served: the high watermark is the offset
 * after the last batch the scan (or, on a clean open, the header walk
 * ending exactly at the recorded end) accepted, and reads never go past
 * it; the bytes after it are truncated before the first append, so an
 * append never lands behind garbage that a later scan would stop at. A
 * read-only open cuts nothing on disk; it clamps the segment's size in
 * memory instead.
 *
 * Compared with Kafka's LogLoader (storage/.../log/LogLoader.java): the
 * shape is the same — a clean-shutdown marker skips recovery, and after an
 * unclean one the segments from the recovery point's on are recovered
 * (LogSegment.recover: batch validity including CRC, indexes rebuilt,
 * producer state rebuilt) and the first invalid byte truncates that
 * segment and deletes all later ones. The differences:
 *   - Kafka recovers whole segments from their base offset; nodata resumes
 *     inside the segment at the last index entry below the recovery point,
 *     so an unclean open reads the unsynced tail, not the whole segment.
 *   - Kafka trusts a clean shutdown entirely (it sanity-checks index files
 *     only); nodata still walks each segment's tail headers and checks the
 *     segments are contiguous, which catches a sealed segment cut after a
 *     clean close.
 *   - Kafka does not tell flushed from unflushed invalid bytes inside the
 *     segments it recovers: whatever is invalid there is truncated, with
 *     every later segment. nodata never cuts below the recovery point; it
 *     takes the partition offline instead, since cutting synced data
 *     would silently drop acknowledged records.
 *   - Kafka keeps a producer snapshot per segment and rebuilds up to each
 *     recovered segment; nodata keeps one snapshot and reads headers after
 *     it.
 *   - Kafka logs each recovered segment; nodata logs each cut (WARN) and
 *     keeps what it did per partition (partition_recovery: segments
 *     scanned, indexes rebuilt, bytes and segments cut and where, producer
 *     batches read, offline and why), which the store gathers into its
 *     report (recovery_log, nd_recovery_report) and `nodata serve` logs.
 */
#include "partition.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "layout.h"

static int read_offset_file(const char *dir, const char *name, int64_t *out) {
  char path[PATH_MAX], *text = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int rc = file_read_all(path, &text, NULL);
  if (rc)
    return rc;
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  int ok = !errno && end != text && (*end == '\n' || *end == '\0') && v >= 0;
  free(text);
  if (!ok)
    return ND_ECORRUPT;
  *out = v;
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Base offsets of the .log files in dir, sorted; removes leftovers of
 * interrupted operations (*.tmp, *.deleted) unless readonly. */
static int list_segments(const char *dir, int readonly, int64_t **out,
                         size_t *count) {
  file_dir *d = file_dir_open(dir);
  if (!d && errno == ENOENT && !readonly) {
    /* topic.conf names more partitions than there are directories (a
     * crash while partitions were added): an empty partition. */
    int e = file_mkdir(dir);
    if (e == 0 || e == -EEXIST)
      d = file_dir_open(dir);
  }
  if (!d && errno == ENOENT && readonly) {
    *out = NULL;
    *count = 0;
    return 0;
  }
  if (!d)
    return nd_fail_os(errno, "cannot open partition directory %s", dir);
  int64_t *bases = NULL;
  size_t n = 0, cap = 0;
  const char *name;
  while ((name = file_dir_next(d)) != NULL) {
    size_t len = strlen(name);
    if (layout_has_suffix(name, LAYOUT_DELETED) && !readonly) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s", dir, name);
      file_unlink(path);
      continue;
    }
    if (len != LAYOUT_SEGMENT_DIGITS + strlen(LAYOUT_LOG) ||
        strcmp(name + LAYOUT_SEGMENT_DIGITS, LAYOUT_LOG))
      continue;
    int digits = 1;
    for (int i = 0; i < LAYOUT_SEGMENT_DIGITS; i++)
      digits &= name[i] >= '0' && name[i] <= '9';
    if (!digits)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      int64_t *nb = realloc(bases, cap * sizeof *nb);
      if (!nb) {
        free(bases);
        file_dir_close(d);
        return nd_fail(ND_ENOMEM, "out of memory");
      }
      bases = nb;
    }
    bases[n++] = strtoll(name, NULL, 10);
  }
  file_dir_close(d);
  if (n > 1)
    qsort(bases, n, sizeof *bases, cmp_i64);
  *out = bases;
  *count = n;
  return 0;
}

/* ---- open and recovery -------------------------------------------------- */

/* Cut the unsynced tail at segment i, byte valid_end; later segments are
 * deleted. A writable store says so through its logger. */
static int truncate_at(partition *p, size_t i, uint64_t valid_end,
                       const char *why, partition_recovery *rec) {
  segment *seg = p->segs[i];
  uint64_t size = atomic_load(&seg->size);
  if (!p->readonly && (valid_end < size || i + 1 < p->nsegs))
    nd_log(p->log, ND_LOG_WARN,
           "recovery: %s.log: byte %" PRIu64 ": %s; cutting the unsynced "
           "tail from offset %" PRId64 " (%" PRIu64
           " bytes of this segment, %zu later segment%s)",
           seg->path, valid_end, why, atomic_load(&seg->next_offset),
           size - valid_end, p->nsegs - i - 1,
           p->nsegs - i - 1 == 1 ? "" : "s");
  if (valid_end < size) {
    if (p->readonly) {
      segment_set_size(seg, valid_end);
    } else {
      int fd = segment_fd(seg);
      if (fd < 0)
        return fd;
      int rc = file_truncate(fd, (off_t)valid_end);
      segment_unfd(seg);
      if (rc)
        return nd_fail_os(-rc, "cannot truncate %s.log to %" PRIu64 " bytes",
                          seg->path, valid_end);
      segment_set_size(seg, valid_end);
    }
    rec->info.bytes_truncated += (int64_t)(size - valid_end);
  }
  for (size_t j = i + 1; j < p->nsegs; j++) {
    rec->info.bytes_truncated += (int64_t)atomic_load(&p->segs[j]->size);
    rec->info.segments_deleted++;
    segment_close(p->segs[j], !p->readonly);
  }
  if (valid_end < size || i + 1 < p->nsegs) {
    const char *base = strrchr(seg->path, '/');
    snprintf(rec->info.cut_file, sizeof rec->info.cut_file, "%s" LAYOUT_LOG,
             base ? base + 1 : seg->path);
    rec->info.cut_position = (int64_t)valid_end;
    rec->info.cut_offset = atomic_load(&seg->next_offset);
    snprintf(rec->info.reason, sizeof rec->info.reason, "%s", why);
  }
  p->nsegs = i + 1;
  return 0;
}

/* Invalid bytes recovery met inside synced data. */
typedef struct damage {
  char file[PATH_MAX];
  uint64_t pos;
  int64_t offset; /* the offset the bytes there should have held */
  char why[160];
} damage;

static int synced_damage(damage *d, const segment *seg, uint64_t pos,
                         int64_t offset, const char *why) {
  snprintf(d->file, sizeof d->file, "%s" LAYOUT_LOG, seg->path);
  d->pos = pos;
  d->offset = offset;
  snprintf(d->why, sizeof d->why, "%s", why);
  return 1;
}

/* Whether a gap between two segments, ending at `next_base`, is a hole
 * the cleaner left rather than a lost tail. Within a segment a crash
 * cannot leave a valid batch after a gap (lost bytes read as zeros or
 * end the file), so the scan takes any increase of offsets there; but
 * when a segment's unsynced tail is lost while the next segment's file
 * survived (the roll made it), the next segment starts above where the
 * previous one now ends, just as after cleaning. Told apart by what can
 * have been cleaned: a gap wholly in synced data is never a lost tail;
 * above the recovery point it is a hole only on a compacted topic (the
 * recovery point file lags the syncs the cleaner's swap made) or below
 * the cleaner checkpoint's "holes below" (a topic cleaned, then switched
 * to delete). Kafka's recovery checks neither and keeps both. */
static int hole_between(const nd_topic_config *cfg, int64_t next_base,
                        int64_t synced_end, int64_t cleaned_below) {
  return next_base <= synced_end || next_base <= cleaned_below ||
         (cfg->cleanup_policy & ND_CLEANUP_COMPACT) != 0;
}

/* Scan segments [first, n) with CRC checks, rebuilding their indexes and
 * truncating the unsynced tail at the first invalid byte. Invalid bytes
 * holding offsets below synced_end are not a torn tail but damage: then
 * nothing is cut, *d says where, and the result is 1. */
static int recover_from(partition *p, size_t first, int64_t rp,
                        int64_t synced_end, const nd_topic_config *cfg,
                        partition_recovery *rec, damage *d) {
  rec->recovered = 1;
  for (size_t i = first; i < p->nsegs; i++) {
    segment *seg = p->segs[i];
    int64_t expect =
        i > first ? atomic_load(&p->segs[i - 1]->next_offset) : seg->base;
    if (seg->base != expect) {
      char why[96];
      snprintf(why, sizeof why,
               "the segment starts at offset %" PRId64 ", expected %" PRId64,
               seg->base, expect);
      if (expect < synced_end)
        return synced_damage(d, seg, 0, expect, why);
      /* A gap or overlap between segments: keep what precedes it. */
      return truncate_at(p, i - 1, atomic_load(&p->segs[i - 1]->size), why,
                         rec);
    }
    int rc = segment_activate(seg, (size_t)cfg->segment_index_bytes);
    if (rc)
      return rc;
    /* Below the recovery point everything was fdatasync'd: resume at the
     * last index entry there, so recovery reads the unsynced tail, not
     * the whole segment. */
    uint64_t start = 0;
    int64_t start_off = seg->base;
    if (i == first && rp > seg->base &&
        !segment_resume_point(seg, rp, &start, &start_off)) {
      start = 0;
      start_off = seg->base;
    }
    scan_result res;
    /* The last segment is the active one, never cleaned: dense. */
    rc = segment_scan_from(seg, start, start_off, start, 1, i + 1 == p->nsegs,
                           cfg->index_interval_bytes, &res);
    if (rc)
      return rc;
    rec->info.segments_scanned++;
    rec->info.indexes_rebuilt++;
    atomic_store(&seg->next_offset, res.next_offset);
    atomic_store(&seg->max_ts, res.max_ts);
    uint64_t size = atomic_load(&seg->size);
    if (res.valid_end > size) {
      /* Grown since it was measured: a live writer appended (a read-only
       * open). The scan read those batches whole; keep size and end in
       * step, or reads would look for offsets past the size. */
      segment_set_size(seg, res.valid_end);
      size = res.valid_end;
    }
    int last = i + 1 == p->nsegs;
    if (res.valid_end < size) {
      const char *why = res.why ? res.why : "bytes after the last batch";
      if ((!last || res.why) && res.next_offset < synced_end)
        return synced_damage(d, seg, res.valid_end, res.next_offset, why);
      if (!last || res.why) {
        rc = truncate_at(p, i, res.valid_end, why, rec);
        if (rc)
          return rc;
      }
      last = 1;
    }
    if (!last) {
      /* A segment that ends in a hole the cleaner left ends at the next
       * one's base (segment.h), before sealing writes its final time
       * entry there. */
      int64_t next_base = p->segs[i + 1]->base;
      if (next_base > res.next_offset &&
          hole_between(cfg, next_base, synced_end, cleaner_holes_below(p->dir)))
        atomic_store(&seg->next_offset, next_base);
      rc = segment_seal(seg);
      if (rc)
        return rc;
    } else {
      break;
    }
  }
  return 0;
}

/* Bring the producer state up to the high watermark: load the snapshot
 * and walk the batch headers after it. Without a usable snapshot the walk
 * starts at the first segment: an open transaction may have begun
 * anywhere. The aborted-transaction index of each segment is loaded, its
 * entries at or after where the walk starts dropped, and the walk adds
 * them again (txnindex.h). */
/* 1 if the .txnindex entries below upto are those the snapshot vouches
 * for: each segment holds as many as counted (a listed segment that is
 * gone was removed by retention). */
static int txn_counts_match(partition *p, int64_t upto,
                            const producer_txn_count *c, size_t n) {
  for (size_t i = 0; i < p->nsegs; i++) {
    const segment *seg = p->segs[i];
    int64_t want = 0, have = 0;
    for (size_t j = 0; j < n; j++)
      if (c[j].base == seg->base)
        want = c[j].count;
    for (size_t j = 0; j < seg->aborted.n; j++)
      if (seg->aborted.v[j].last < upto)
        have++;
    if (have != want)
      return 0;
  }
  return 1;
}

static int producers_rebuild(partition *p, partition_recovery *rec) {
  int64_t upto = -1;
  producer_txn_count *counts = NULL;
  size_t ncounts = 0;
  /* What the file holds, whether used or not: a save of the same text
   * (an idle partition's close) writes nothing. */
  producer_text_free(&p->snapshot_written);
  producer_state_load(&p->producers, p->dir, &upto, &counts, &ncounts,
                      &p->snapshot_written);
  int have_file = upto >= 0;
  int64_t hw = atomic_load(&p->hw);
  for (size_t i = 0; i < p->nsegs; i++) {
    segment *seg = p->segs[i];
    int64_t end = atomic_load(&seg->next_offset);
    if (txnindex_load(&seg->aborted, seg->path, seg->base, end, p->readonly)) {
      free(counts);
      return ND_ENOMEM;
    }
  }
  /* No usable file: the walk starts at the log's start. A recovery point
   * says nothing of the state here: both files are hints written without
   * fsync, and a power cut can keep the recovery point and lose (or cut
   * short) the snapshot written before it, which held transactions open
   * since before that point. */
  /* Index files that disagree with the snapshot (lost, cut or damaged
   * by hand or a crash): rebuilt with the state from the whole log. */
  if (have_file && upto >= 0 && upto <= hw &&
      !txn_counts_match(p, upto, counts, ncounts))
    upto = -1;
  free(counts);
  if (upto < 0 || upto > hw || upto < p->segs[0]->base) {
    producer_state_free(&p->producers);
    upto = p->segs[0]->base;
    rec->info.producer_state_rebuilt = 1;
  }
  for (size_t i = 0; i < p->nsegs; i++) {
    segment *seg = p->segs[i];
    if (atomic_load(&seg->next_offset) <= upto)
      continue;
    /* Entries the walk below adds again (or that a crash left past the
     * log's end). */
    if (p->readonly) {
      while (seg->aborted.n && seg->aborted.v[seg->aborted.n - 1].last >= upto)
        seg->aborted.n--;
    } else if (txnindex_truncate(&seg->aborted, seg->path, upto) != 0) {
      nd_clear_error(); /* derived data: the memory copy is right */
    }
  }
  size_t i = seg_index_for(p, upto);
  for (; i < p->nsegs; i++) {
    segment *seg = p->segs[i];
    uint64_t pos = 0;
    int64_t seg_end = atomic_load(&seg->next_offset);
    if (upto >= seg_end)
      continue;
    if (upto > seg->base && segment_find(seg, upto, &pos) != 0)
      return 0; /* best effort: state is an optimisation of retries */
    uint64_t size = atomic_load(&seg->size);
    int fd = segment_fd(seg);
    if (fd < 0)
      return 0;
    /* Headers only, through a small buffer: one read per few KB of log,
     * not one per batch. */
    uint8_t buf[8192];
    batch_cursor c;
    batch_cursor_fd(&c, fd, pos, size, buf, sizeof buf, BATCH_LEVEL_HEADER);
    int rc = 0;
    while (!rc && batch_cursor_next(&c) == 1) {
      const uint8_t *h = c.batch;
      rec->info.producer_batches++;
      int64_t base = batch_base_offset(h);
      int64_t pid = batch_producer_id(h);
      int32_t seq = batch_base_sequence(h);
      /* The last sequence is baseSequence + lastOffsetDelta, as Kafka's
       * lastSequence(): a cleaned batch keeps its lastOffsetDelta with
       * fewer records, and an empty one still carries its producer's
       * state (which is why the cleaner keeps it). */
      int32_t delta = batch_last_offset_delta(h);
      if (pid < 0 || base < upto || delta < 0)
        continue;
      if (seq >= 0 && !batch_is_control(h)) {
        int64_t last_seq = (int64_t)seq + delta;
        if (last_seq > INT32_MAX)
          last_seq -= (int64_t)INT32_MAX + 1;
        if (producer_record(&p->producers, pid, batch_producer_epoch(h), seq,
                            (int32_t)last_seq, base, batch_last_offset(h),
                            batch_max_timestamp(h)) != 0)
          rc = ND_ENOMEM;
      }
      /* A marker's type is in its record: read the (small) batch whole. */
      if (!rc && batch_is_control(h) && batch_cursor_load(&c) != 0) {
        nd_clear_error();
        continue;
      }
      int trc =
          rc ? 0 : partition_txn_note(p, seg, c.batch, (size_t)c.size, base);
      if (trc == ND_ENOMEM)
        rc = trc;
      else if (trc)
        nd_clear_error(); /* a .txnindex not written: verify reports it */
    }
    batch_cursor_close(&c);
    segment_unfd(seg);
    if (rc)
      return rc;
  }
  /* The cleaner cleans only below the LSO, so every transaction with a
   * batch below the end of what it cleaned was decided then; it may have
   * removed the marker (KIP-534) once the transaction's batches there
   * were gone, leaving a walk from before it to find a transaction that
   * never ends. One whose batches all lie there is closed. */
  int64_t cleaned = cleaner_holes_below(p->dir);
  for (size_t k = 0; k < p->producers.count; k++) {
    producer_entry *e = &p->producers.entries[k];
    if (e->txn_first >= 0 && e->last_offset < cleaned)
      e->txn_first = -1;
  }
  atomic_store(&p->txn_first_open, producer_first_open(&p->producers, -1));
  return 0;
}

/* Take the partition offline for damage d: close its segments without
 * touching their files (an active one's indexes are trimmed back as at a
 * clean close; they are derived data). */
static int go_offline(partition *p, const damage *d, int64_t synced_end,
                      partition_recovery *rec) {
  char msg[PATH_MAX + 512];
  snprintf(msg, sizeof msg,
           "damage in synced data: %s: byte %" PRIu64 ": %s (offset %" PRId64
           "; offsets below %" PRId64
           " had been synced). Nothing was deleted; `nodata verify` shows "
           "the damage and `nodata verify --repair` cuts the log there",
           d->file, d->pos, d->why, d->offset, synced_end);
  const char *base = strrchr(d->file, '/');
  snprintf(rec->info.reason, sizeof rec->info.reason,
           "damage in synced data: %s: byte %" PRIu64 ": %s",
           base ? base + 1 : d->file, d->pos, d->why);
  rec->info.offline = 1;
  char *text = strdup(msg);
  if (!text)
    return nd_fail(ND_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->nsegs; i++)
    segment_close(p->segs[i], 0);
  p->nsegs = 0;
  p->offline = text;
  p->readonly = 1;
  return 0;
}

int partition_open(seg_caches *caches, const nd_logger *log,
                   const char *topic_dir, int32_t id,
                   const nd_topic_config *cfg, int clean, int readonly,
                   int64_t now_ms, partition **out, partition_recovery *rec) {
  memset(rec, 0, sizeof *rec);
  rec->info.partition = id;
  rec->info.cut_position = -1;
  rec->info.cut_offset = -1;
  partition *p = partition_alloc(topic_dir, id);
  if (!p)
    return nd_fail(ND_ENOMEM, "out of memory");
  p->caches = caches;
  p->log = log;
  p->readonly = readonly;
  /* The recovery point before the segment list: beside a live writer
   * (a read-only open) every byte below it is then in a listed segment. */
  int64_t log_start = 0, rp = 0;
  int rc = read_offset_file(p->dir, RECOVERY_POINT_FILE, &rp);
  int have_rp = rc == 0;
  rc = read_offset_file(p->dir, LOG_START_FILE, &log_start);
  if (rc == ND_ECORRUPT)
    log_start = 0; /* recomputed from the segments below */
  p->log_start_persisted = log_start;
  int64_t *bases = NULL;
  size_t nbases = 0;
  /* A cleaning a crash interrupted: finished or undone before the
   * segments are listed (cleaner.c). */
  rc = cleaner_recover(p->dir, readonly, log);
  if (rc) {
    partition_free(p);
    return rc;
  }
  rc = list_segments(p->dir, readonly, &bases, &nbases);
  if (rc) {
    partition_free(p);
    return rc;
  }

  for (size_t i = 0; i < nbases; i++) {
    segment *seg;
    rc = segment_open(p->caches, p->dir, bases[i], readonly, &seg);
    if (!rc && (rc = segs_push(p, seg)) != 0)
      segment_close(seg, 0);
    if (rc) {
      free(bases);
      partition_free(p);
      return rc;
    }
  }
  free(bases);

  if (p->nsegs == 0) {
    if (readonly) {
      /* Nothing on disk yet (a writer may create it): an empty log. */
      atomic_store(&p->hw, log_start);
      atomic_store(&p->log_start, log_start);
      atomic_store(&p->synced, log_start);
      *out = p;
      return 0;
    }
    segment *seg;
    rc = segment_create(p->caches, p->dir, log_start,
                        (size_t)cfg->segment_index_bytes, now_ms, &seg);
    if (!rc && (rc = segs_push(p, seg)) != 0)
      segment_close(seg, 1);
    if (rc) {
      partition_free(p);
      return rc;
    }
    atomic_store(&p->hw, log_start);
    atomic_store(&p->log_start, log_start);
    atomic_store(&p->synced, log_start);
    p->rp_persisted = -1;
    *out = p;
    return 0;
  }

  /* Sealed segments end where the next begins. */
  for (size_t i = 0; i + 1 < p->nsegs; i++)
    atomic_store(&p->segs[i]->next_offset, p->segs[i + 1]->base);

  size_t first_scan = p->nsegs; /* no scan */
  if (!clean || !have_rp) {
    first_scan = 0;
    if (have_rp)
      first_scan = seg_index_for(p, rp);
  }
  /* Each segment before the scan must end exactly where the next one
   * begins, and the last one at the recovery point: checked by walking the
   * batch headers after each segment's last index entry (a clean open reads
   * no record data). A segment that fails is recovered like after a crash,
   * and everything after it with it. */
  for (size_t i = 0; i < first_scan && i < p->nsegs; i++) {
    segment *seg = p->segs[i];
    int64_t end, mts;
    int ok = segment_walk_tail(seg, cfg->index_interval_bytes,
                               i + 1 == p->nsegs, &end, &mts);
    if (ok < 0) {
      partition_free(p);
      return ok;
    }
    int last = i + 1 == p->nsegs;
    /* A cleaned segment may end in a hole, below the next one's base
     * (segment.h): only an overlap is wrong. Its next offset stays the
     * next base, set above. */
    if (ok && !last && end > p->segs[i + 1]->base)
      ok = 0;
    if (ok && last && have_rp && end != rp)
      ok = 0;
    if (!ok) {
      first_scan = i;
      break;
    }
    if (last)
      atomic_store(&seg->next_offset, end);
    if (mts > atomic_load(&seg->max_ts))
      atomic_store(&seg->max_ts, mts);
  }
  /* Sealed segments keep their index files; they are rebuilt only if they
   * fail the plausibility check. Their maximum timestamp is the last
   * time-index entry (sealing adds it). */
  for (size_t i = 0; i < p->nsegs && i < first_scan; i++) {
    segment *seg = p->segs[i];
    /* Read-only stores rebuild into memory (segment_activate). */
    if (!segment_indexes_plausible(seg, cfg->index_interval_bytes)) {
      rc = segment_activate(seg, (size_t)cfg->segment_index_bytes);
      scan_result res;
      if (!rc)
        rc = segment_scan(seg, UINT64_MAX, 1, cfg->index_interval_bytes, &res);
      if (!rc && i + 1 < p->nsegs)
        rc = segment_seal(seg);
      if (rc) {
        partition_free(p);
        return rc;
      }
      rec->info.indexes_rebuilt++;
    } else {
      int64_t t = segment_indexed_max_ts(seg);
      if (t > atomic_load(&seg->max_ts))
        atomic_store(&seg->max_ts, t);
    }
  }
  /* Synced data, which recovery must never cut: everything below the
   * recovery point, and after a clean close every segment before the last
   * (close syncs them all). */
  int64_t synced_end = have_rp ? rp : -1;
  if (clean && p->segs[p->nsegs - 1]->base > synced_end)
    synced_end = p->segs[p->nsegs - 1]->base;
  damage dmg;
  if (first_scan < p->nsegs) {
    rc = recover_from(p, first_scan, have_rp ? rp : -1, synced_end, cfg, rec,
                      &dmg);
    if (rc == 0 && atomic_load(&active_seg(p)->next_offset) < synced_end) {
      segment *end = active_seg(p);
      char why[96];
      snprintf(why, sizeof why,
               "the log ends here, at offset %" PRId64 ", before the "
               "recovery point",
               atomic_load(&end->next_offset));
      rc = synced_damage(&dmg, end, atomic_load(&end->size),
                         atomic_load(&end->next_offset), why);
    }
    if (rc == 1)
      rc = go_offline(p, &dmg, synced_end, rec);
    if (rc || p->offline) {
      if (rc)
        partition_free(p);
      else
        *out = p;
      return rc;
    }
  }
  segment *last = active_seg(p);
  /* The last segment's indexes become writable (preallocated, mapped
   * read-write) at its first append, not here: opening thousands of
   * partitions stays cheap. */
  int64_t hw = atomic_load(&last->next_offset);
  if (log_start < p->segs[0]->base)
    log_start = p->segs[0]->base;
  if (log_start > hw)
    log_start = hw;
  atomic_store(&p->hw, hw);
  atomic_store(&p->log_start, log_start);
  /* After recovery every surviving byte was read back from the file, but
   * only what was fdatasync'd is known durable; a clean close synced all. */
  int64_t synced = clean && !rec->recovered ? hw : (rp < hw ? rp : hw);
  atomic_store(&p->synced, synced);
  p->rp_persisted = have_rp ? rp : -1;
  rc = producers_rebuild(p, rec);
  if (rc) {
    partition_free(p);
    return nd_fail(rc, "out of memory rebuilding producer state of %s", p->dir);
  }
  *out = p;
  return 0;
}

/* ---- the store's recovery report ---------------------------------------- */

void recovery_log_add(recovery_log *rl, const char *topic, int32_t id,
                      const partition_recovery *rec) {
  const nd_recovery_partition *r = &rec->info;
  nd_recovery_stats *st = &rl->stats;
  st->partitions++;
  int worked = rec->recovered || r->indexes_rebuilt || r->bytes_truncated ||
               r->segments_deleted || r->producer_batches ||
               r->producer_state_rebuilt || r->offline;
  if (!worked)
    return;
  st->partitions_recovered++;
  st->partitions_offline += r->offline;
  st->segments_scanned += r->segments_scanned;
  st->indexes_rebuilt += r->indexes_rebuilt;
  st->bytes_truncated += r->bytes_truncated;
  st->segments_deleted += r->segments_deleted;
  st->producer_batches += r->producer_batches;
  if (rl->count == rl->cap) {
    size_t cap = rl->cap ? rl->cap * 2 : 8;
    nd_recovery_partition *n = realloc(rl->parts, cap * sizeof *n);
    if (!n)
      return; /* a healthy partition must not go offline for its report */
    rl->parts = n;
    rl->cap = cap;
  }
  nd_recovery_partition *e = &rl->parts[rl->count++];
  *e = *r;
  snprintf(e->topic, sizeof e->topic, "%s", topic);
  e->partition = id;
}

void recovery_log_free(recovery_log *rl) {
  free(rl->parts);
  memset(rl, 0, sizeof *rl);
}
