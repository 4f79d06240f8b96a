/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify.c — nd_verify: check a data directory's files as they are on disk
 * and, when asked, repair them through recovery (nodata.h, "Verify and
 * repair a data directory").
 *
 * Why a walk of its own instead of nd_open: an open would quietly truncate
 * a damaged tail, and verify's job is to say what is wrong and where
 * before anything changes. The walk uses the public segment readers
 * (nd_log_walk, nd_index_read: the store's own header checks) and checks
 *   - every batch: length, magic, counts, CRC-32C, and that offsets
 *     increase from one batch and one segment to the next (not that they
 *     are dense: a hole the cleaner left, an empty batch, a segment whose
 *     base is below its first batch are not findings; docs/format.md),
 *     except in the last segment, the active one, which the cleaner never
 *     rewrites: there a gap is a damaged baseOffset (outside the CRC);
 *   - every index entry against the log: an offset entry must name the
 *     position and base offset of a real batch; a time entry must sit at a
 *     batch boundary (or the segment end) and carry a timestamp no lower
 *     than any earlier batch's, or lookups by time would skip records;
 *   - control batches (transaction markers): one is legitimate only as the
 *     end of a transaction its producer opened earlier in the partition
 *     (a transactional batch with no marker since). Any other was written
 *     by a client through a nodata that did not refuse them, and makes
 *     librdkafka consumers stop at its offset and kafka-python return it
 *     as a record. Repair leaves it in place: cutting the log there would
 *     drop every later record. Below the end of what the cleaner cleaned
 *     (cleaner-checkpoint) a marker may have lost its transaction's
 *     batches to the cleaning (aborted records, KIP-534): not a finding;
 *   - the aborted-transaction index (.txnindex) against the markers: each
 *     entry must name an ABORT marker of its producer at its lastOffset,
 *     with a firstOffset at or below the transaction's first batch still
 *     in the log; each ABORT marker that ends a transaction whose batches
 *     the walk saw must have its entry. Repair drops the producer-state
 *     file too, so that the open rebuilds both from the whole log.
 * What only the store checks in full (topic.conf: every key, the id, the
 * name's hash; a recovery point past the log's end; the committed-offsets
 * log) comes from a read-only nd_open, whose on_log lines and offline
 * topics and partitions become findings.
 *
 * Repair is recovery, not a second implementation of it: without the
 * clean-shutdown marker and without a partition's recovery-point file,
 * nd_open rescans that partition from its first segment, truncates at the
 * first invalid byte and rebuilds every index. Verify states beforehand
 * what that drops (ND_VERIFY_PLAN), copies the bytes from the first bad
 * one and moves the later segments into a quarantine directory (the store
 * would delete them), runs the open, warns of committed offsets past the
 * new end, and verifies again.
 *
 * Beside a running writer the last segment of a partition may end in a
 * batch still being written, and its last index entry may be half
 * written; neither is reported as damage. Index files are read before
 * their log, so every entry seen names bytes already written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
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
#include "partition.h"
#include "store.h"
#include "topic.h"

typedef struct vpart {
  char topic[ND_TOPIC_NAME_MAX + 1];
  int32_t id;
  char dir[PATH_MAX];
  int64_t *bases;
  size_t nsegs;
  uint64_t bytes;
  /* results */
  int log_damaged;
  size_t bad_seg;    /* segment holding the first bad byte */
  uint64_t bad_pos;  /* its position there */
  int64_t lost_from; /* first offset that repair would drop */
  int index_damaged; /* index files found inconsistent */
  int hints_damaged; /* recovery-point or log-start-offset unreadable */
  int stray_markers; /* control batches outside any transaction */
  int txn_damaged;   /* .txnindex files that disagree with the markers */
  int64_t cleaned;   /* cleaner-checkpoint's holes-below: cleaned below */
  /* Producers with a transactional batch and no marker after it yet, and
   * that transaction's first offset. */
  int64_t *open_txns, *open_first;
  size_t n_open_txns, cap_open_txns;
} vpart;

typedef struct verifier {
  const char *dir;
  nd_verify_options o;
  vpart *parts;
  size_t nparts, cap;
  nd_verify_stats st;
  uint64_t total; /* segment bytes to read */
} verifier;

static void emit(verifier *v, nd_verify_event *ev) {
  if (v->o.on_event)
    v->o.on_event(v->o.ctx, ev);
}

/* Emit an event of kind about partition p (may be NULL) with a formatted
 * text. */
static void event(verifier *v, int kind, int damage, const vpart *p,
                  const char *file, int64_t pos, int64_t offset,
                  const char *fmt, ...) ND_PRINTF(8, 9);

static void event(verifier *v, int kind, int damage, const vpart *p,
                  const char *file, int64_t pos, int64_t offset,
                  const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  nd_verify_event ev = {
      .kind = kind,
      .damage = damage,
      .repairable = kind == ND_VERIFY_DAMAGE && damage != ND_DAMAGE_STORE &&
                    damage != ND_DAMAGE_MARKER,
      .topic = p ? p->topic : NULL,
      .partition = p ? p->id : -1,
      .file = file,
      .pos = pos,
      .offset = offset,
      .text = text,
  };
  if (kind == ND_VERIFY_DAMAGE) {
    v->st.problems++;
    if (damage == ND_DAMAGE_STORE)
      v->st.unrepairable++;
  }
  emit(v, &ev);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void seg_path(const vpart *p, size_t i, const char *ext, char *out,
                     size_t cap) {
  snprintf(out, cap, "%s/%0*" PRId64 "%s", p->dir, LAYOUT_SEGMENT_DIGITS,
           p->bases[i], ext);
}

/* ---- collecting what to check ------------------------------------------- */

static int add_partition(verifier *v, const char *tname, const char *tdir,
                         int32_t id) {
  if (v->nparts == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    vpart *n = realloc(v->parts, cap * sizeof *n);
    if (!n)
      return nd_fail(ND_ENOMEM, "out of memory");
    v->parts = n;
    v->cap = cap;
  }
  vpart *p = &v->parts[v->nparts];
  memset(p, 0, sizeof *p);
  snprintf(p->topic, sizeof p->topic, "%s", tname);
  p->id = id;
  snprintf(p->dir, sizeof p->dir, "%s/%d", tdir, (int)id);
  p->cleaned = cleaner_holes_below(p->dir);
  file_dir *d = file_dir_open(p->dir);
  if (!d) {
    event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_STORE, p, p->dir, -1, -1,
          "%s: partition directory missing (%s)", p->dir, strerror(errno));
    return 0;
  }
  size_t cap = 0;
  const char *name;
  while ((name = file_dir_next(d)) != NULL) {
    if (strlen(name) != LAYOUT_SEGMENT_DIGITS + strlen(LAYOUT_LOG) ||
        strcmp(name + LAYOUT_SEGMENT_DIGITS, LAYOUT_LOG) ||
        nd_segment_base(name) < 0)
      continue;
    if (p->nsegs == cap) {
      cap = cap ? cap * 2 : 8;
      int64_t *nb = realloc(p->bases, cap * sizeof *nb);
      if (!nb) {
        file_dir_close(d);
        free(p->bases);
        return nd_fail(ND_ENOMEM, "out of memory");
      }
      p->bases = nb;
    }
    p->bases[p->nsegs++] = nd_segment_base(name);
    char lp[PATH_MAX + 32];
    struct stat st;
    snprintf(lp, sizeof lp, "%s/%s", p->dir, name);
    if (file_stat(lp, &st) == 0)
      p->bytes += (uint64_t)st.st_size;
  }
  file_dir_close(d);
  if (p->nsegs)
    qsort(p->bases, p->nsegs, sizeof *p->bases, cmp_i64);
  v->total += p->bytes;
  v->nparts++;
  return 0;
}

/* The topic's partitions, named by its topic.conf as the store reads it;
 * a topic.conf that does not parse but still names the topic and its
 * partition count (what the store salvages to list it offline) has its
 * segments checked all the same, and the read-only open reports it. */
static int add_topic_dir(verifier *v, const char *tdir) {
  char name[ND_TOPIC_NAME_MAX + 1];
  uint8_t id[16];
  int32_t n = 0;
  nd_topic_config cfg;
  if (topic_conf_read(tdir, name, id, &n, &cfg) != 0 &&
      topic_conf_salvage(tdir, name, &n) != 0) {
    char conf[PATH_MAX + 16];
    snprintf(conf, sizeof conf, "%s/topic.conf", tdir);
    event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_STORE, NULL, conf, -1, -1,
          "%s: missing or unreadable (no name or partitions)", conf);
    return 0;
  }
  v->st.topics++;
  for (int32_t i = 0; i < n; i++) {
    int rc = add_partition(v, name, tdir, i);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- checking one segment ------------------------------------------------ */

typedef struct segcheck {
  vpart *p;
  verifier *v;
  const char *log_path;
  const char *index_path;
  const char *time_path;
  int64_t base;
  int64_t expect; /* base offset the next batch must have at least */
  int64_t max_ts; /* largest maxTimestamp of the batches so far */
  const nd_index_entry *oidx;
  size_t on, oi;
  const nd_index_entry *tidx;
  size_t tn, ti;
  int index_bad; /* problems reported for this segment's indexes */
  int in_flight; /* the live writer's segment: its last entries may be
                    half written */
  int dense;     /* the last (active) segment, which the cleaner never
                    rewrites: its offsets must be dense */
  int log_bad;
  uint64_t bad_pos;
  int64_t records;
  /* The ABORT markers of this segment: (pid, first, marker offset); first
   * is -1 for one that ended no transaction the walk saw. */
  txn_aborted *aborts;
  size_t naborts, cap_aborts;
} segcheck;

static void index_problem(segcheck *c, const char *path, size_t entry,
                          int esize, const char *fmt, ...) ND_PRINTF(5, 6);

static void index_problem(segcheck *c, const char *path, size_t entry,
                          int esize, const char *fmt, ...) {
  /* One finding per index file: the first problem is enough to condemn
   * it, and a rebuild fixes all of them. */
  int bit = esize == 8 ? 1 : 2;
  if (c->index_bad & bit)
    return;
  /* The writer stores an entry byte by byte after its batch, one append
   * at a time: in its segment, only the last entry read can be partly
   * written, and it is not damage. */
  if (c->in_flight && entry + 1 == (esize == 8 ? c->on : c->tn))
    return;
  c->index_bad |= bit;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  event(c->v, ND_VERIFY_DAMAGE, ND_DAMAGE_INDEX, c->p, path,
        (int64_t)(entry * (size_t)esize), -1, "%s: byte %zu: entry %zu %s",
        path, entry * (size_t)esize, entry, msg);
}

/* Time entries at relative offsets up to and including `upto`. */
static void check_time_entries(segcheck *c, int64_t upto) {
  while (c->ti < c->tn) {
    const nd_index_entry *e = &c->tidx[c->ti];
    if (e->offset > upto)
      break;
    if (e->offset < upto)
      index_problem(c, c->time_path, c->ti, 12,
                    "names offset %" PRId64
                    ", which is not the first offset of a batch",
                    e->offset);
    else if (e->timestamp < c->max_ts)
      index_problem(c, c->time_path, c->ti, 12,
                    "has timestamp %" PRId64 " at offset %" PRId64
                    ", but an earlier batch has timestamp %" PRId64
                    " (lookups by time would skip it)",
                    e->timestamp, e->offset, c->max_ts);
    c->ti++;
  }
}

/* Track the open transactions of c's partition through batch b, and report
 * a control batch that ends none. */
static void note_abort(segcheck *c, int64_t pid, int64_t first, int64_t last) {
  if (c->naborts == c->cap_aborts) {
    size_t cap = c->cap_aborts ? c->cap_aborts * 2 : 8;
    txn_aborted *n = realloc(c->aborts, cap * sizeof *n);
    if (!n)
      return; /* its entry is then reported as naming no marker */
    c->aborts = n;
    c->cap_aborts = cap;
  }
  c->aborts[c->naborts++] = (txn_aborted){pid, first, last, 0};
}

static void check_markers(segcheck *c, const nd_batch_info *b,
                          const void *bytes) {
  vpart *p = c->p;
  size_t k = 0;
  while (k < p->n_open_txns && p->open_txns[k] != b->producer_id)
    k++;
  int open = k < p->n_open_txns;
  if (b->attributes & ND_BATCH_ATTR_CONTROL) {
    int type = batch_control_type(bytes, (size_t)b->size);
    if (type == 0)
      note_abort(c, b->producer_id, open ? p->open_first[k] : -1,
                 b->base_offset);
    if (open) {
      p->open_txns[k] = p->open_txns[--p->n_open_txns];
      p->open_first[k] = p->open_first[p->n_open_txns];
      return;
    }
    if (b->base_offset < p->cleaned)
      return; /* its transaction's batches were cleaned away */
    event(c->v, ND_VERIFY_DAMAGE, ND_DAMAGE_MARKER, p, c->log_path,
          (int64_t)b->pos, -1,
          "%s: byte %" PRIu64 ": control batch (a transaction marker) at "
          "offset %" PRId64 " from producer %" PRId64
          ", which has no open transaction here: a client wrote it; "
          "librdkafka consumers stop at this offset and kafka-python "
          "returns it as a record (--repair leaves it: cutting the log "
          "there would drop every later record)",
          c->log_path, b->pos, b->base_offset, b->producer_id);
    p->stray_markers++;
    return;
  }
  if (!(b->attributes & ND_BATCH_ATTR_TRANSACTIONAL) || open)
    return;
  if (p->n_open_txns == p->cap_open_txns) {
    size_t cap = p->cap_open_txns ? p->cap_open_txns * 2 : 8;
    int64_t *n = realloc(p->open_txns, cap * sizeof *n);
    if (n)
      p->open_txns = n;
    int64_t *f = n ? realloc(p->open_first, cap * sizeof *f) : NULL;
    if (!f)
      return; /* a later marker of this producer is then reported */
    p->open_first = f;
    p->cap_open_txns = cap;
  }
  p->open_first[p->n_open_txns] = b->base_offset;
  p->open_txns[p->n_open_txns++] = b->producer_id;
}

static void progress(verifier *v, uint64_t add) {
  v->st.bytes += add;
  if (v->o.on_progress)
    v->o.on_progress(v->o.ctx, v->st.bytes, v->total);
}

static int on_batch(void *arg, const nd_batch_info *b, const void *bytes) {
  segcheck *c = arg;
  progress(c->v, b->size);
  if (b->base_offset < c->expect || (c->dense && b->base_offset != c->expect)) {
    event(c->v, ND_VERIFY_DAMAGE, ND_DAMAGE_BATCH, c->p, c->log_path,
          (int64_t)b->pos, c->expect,
          "%s: byte %" PRIu64 ": the batch there starts at offset %" PRId64
          ", expected %" PRId64 "%s",
          c->log_path, b->pos, b->base_offset, c->expect,
          c->dense ? " (the active segment's offsets run on without gaps)"
                   : " or above (offsets must increase)");
    c->log_bad = 1;
    c->bad_pos = b->pos;
    return 1;
  }
  if (!b->crc_ok) {
    event(c->v, ND_VERIFY_DAMAGE, ND_DAMAGE_BATCH, c->p, c->log_path,
          (int64_t)b->pos, c->expect,
          "%s: byte %" PRIu64 ": CRC-32C mismatch in the batch of offsets "
          "%" PRId64 "..%" PRId64 " (%" PRIu64 " bytes)",
          c->log_path, b->pos, b->base_offset, b->last_offset, b->size);
    c->log_bad = 1;
    c->bad_pos = b->pos;
    return 1;
  }
  while (c->oi < c->on) {
    uint64_t pos = c->oidx[c->oi].position;
    int64_t off = c->oidx[c->oi].offset;
    if (pos > b->pos)
      break;
    if (pos < b->pos)
      index_problem(
          c, c->index_path, c->oi, 8,
          "points to byte %" PRIu64 ", which is not the start of a batch", pos);
    else if (off != b->base_offset)
      index_problem(c, c->index_path, c->oi, 8,
                    "says offset %" PRId64 " is at byte %" PRIu64
                    ", but the batch there starts at offset %" PRId64,
                    off, pos, b->base_offset);
    c->oi++;
  }
  check_markers(c, b, bytes);
  check_time_entries(c, b->base_offset);
  if (b->max_timestamp > c->max_ts)
    c->max_ts = b->max_timestamp;
  c->expect = b->last_offset + 1;
  c->records += b->record_count;
  return 0;
}

/* An index file's entries; a missing one has none (it was never written,
 * or a crash lost it: the log is what matters). */
static int read_index(const char *path, nd_index_entry **e, size_t *n) {
  int rc = nd_index_read(path, e, n, NULL);
  return rc == -ENOENT ? 0 : rc;
}

/* The segment's .txnindex against the ABORT markers its walk found. */
static void check_txnindex(verifier *v, vpart *p, segcheck *c,
                           const char *path) {
  char *text = NULL;
  size_t len = 0;
  if (file_read_all(path, &text, &len) != 0)
    len = 0; /* missing: no entries */
  const uint8_t *u = (const uint8_t *)text;
  int bad = 0;
  char why[256] = "";
  size_t at = 0;
  if (len % TXNINDEX_ENTRY_SIZE) {
    snprintf(why, sizeof why,
             "%zu bytes, not a whole number of %d-byte "
             "entries",
             len, TXNINDEX_ENTRY_SIZE);
    bad = 1;
    at = len - len % TXNINDEX_ENTRY_SIZE;
  }
  size_t n = len / TXNINDEX_ENTRY_SIZE;
  for (size_t i = 0; !bad && i < n; i++) {
    txn_aborted e;
    size_t k = 0;
    int ok = txnindex_decode(u + i * TXNINDEX_ENTRY_SIZE, &e) == 0;
    while (ok && k < c->naborts &&
           (c->aborts[k].last != e.last || c->aborts[k].pid != e.pid))
      k++;
    at = i * TXNINDEX_ENTRY_SIZE;
    if (!ok || k == c->naborts) {
      snprintf(why, sizeof why,
               "entry %zu (producer %" PRId64 ", offsets %" PRId64 "..%" PRId64
               ") names no ABORT marker of its producer",
               i, e.pid, e.first, e.last);
      bad = 1;
    } else if (c->aborts[k].first >= 0 && e.first > c->aborts[k].first) {
      snprintf(why, sizeof why,
               "entry %zu (producer %" PRId64 ") starts at %" PRId64
               ", after the transaction's batch at %" PRId64,
               i, e.pid, e.first, c->aborts[k].first);
      bad = 1;
    } else {
      c->aborts[k].lso = 1; /* found */
    }
  }
  for (size_t k = 0; !bad && k < c->naborts; k++)
    if (c->aborts[k].first >= 0 && !c->aborts[k].lso) {
      snprintf(why, sizeof why,
               "no entry for the aborted transaction of "
               "producer %" PRId64 " (offsets %" PRId64 "..%" PRId64 ")",
               c->aborts[k].pid, c->aborts[k].first, c->aborts[k].last);
      at = len;
      bad = 1;
    }
  free(text);
  if (!bad)
    return;
  event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_INDEX, p, path, (int64_t)at, -1,
        "%s: byte %zu: %s (read_committed consumers would be given the "
        "wrong aborted transactions)",
        path, at, why);
  p->txn_damaged++;
}

/* Check segment i of p; returns 0, or a negative code if a file cannot be
 * read. *expect: where the batches of segment i - 1 ended (in: the least
 * base segment i may have), then where its own end. *sealed_end: -1, or
 * where segment i - 1 says it ends when that is below segment i's base
 * (then a segment file between them is missing), then the same of i. */
static int check_segment(verifier *v, vpart *p, size_t i, int64_t *expect,
                         int64_t *sealed_end) {
  char lp[PATH_MAX + 32], ip[PATH_MAX + 32], tp[PATH_MAX + 32],
      xp[PATH_MAX + 32];
  seg_path(p, i, ".log", lp, sizeof lp);
  seg_path(p, i, ".index", ip, sizeof ip);
  seg_path(p, i, ".timeindex", tp, sizeof tp);
  seg_path(p, i, LAYOUT_TXNINDEX, xp, sizeof xp);
  segcheck c = {.v = v,
                .p = p,
                .log_path = lp,
                .index_path = ip,
                .time_path = tp,
                .base = p->bases[i],
                .expect = p->bases[i],
                .max_ts = -1,
                .in_flight = v->st.live && i + 1 == p->nsegs,
                .dense = i + 1 == p->nsegs};
  /* A segment may start above where the one before it ends: the cleaner
   * removed that one's last batches (a hole). An overlap is wrong, and so
   * is a start above where the one before was sealed. */
  if (i > 0 && (p->bases[i] < *expect ||
                (*sealed_end >= 0 && p->bases[i] > *sealed_end))) {
    event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_GAP, p, lp, 0, *expect,
          "%s: byte 0: the segment starts at offset %" PRId64
          " but the one before it ends at %" PRId64,
          lp, p->bases[i], *expect);
    p->log_damaged = 1;
    p->bad_seg = i;
    p->bad_pos = 0;
    p->lost_from = *expect;
    return 0;
  }
  /* Indexes first: every entry read then names bytes already written. */
  nd_index_entry *ob = NULL, *tb = NULL;
  int rc = read_index(ip, &ob, &c.on);
  if (rc)
    return rc;
  rc = read_index(tp, &tb, &c.tn);
  if (rc) {
    nd_free(ob);
    return rc;
  }
  c.oidx = ob;
  c.tidx = tb;
  for (size_t k = 1; k < c.tn; k++) {
    if (tb[k].timestamp < tb[k - 1].timestamp) {
      index_problem(&c, tp, k, 12,
                    "has timestamp %" PRId64
                    ", below the entry before it (%" PRId64 ")",
                    tb[k].timestamp, tb[k - 1].timestamp);
      break;
    }
  }
  nd_walk_result w;
  rc = nd_log_walk(lp, 0, on_batch, &c, &w);
  if (rc) {
    nd_free(ob);
    nd_free(tb);
    return rc;
  }
  v->st.segments++;
  v->st.batches += w.batches;
  v->st.records += c.records;
  int last = i + 1 == p->nsegs;
  if (!c.log_bad && w.stop != ND_WALK_END && w.stop != ND_WALK_CALLER) {
    if (last && v->st.live && w.stop == ND_WALK_TORN) {
      /* The writer is appending this batch right now. */
    } else {
      event(v, ND_VERIFY_DAMAGE,
            w.stop == ND_WALK_TORN ? ND_DAMAGE_TORN : ND_DAMAGE_BATCH, p, lp,
            w.stop_pos, c.expect, "%s: byte %" PRId64 ": %s", lp, w.stop_pos,
            w.why);
      c.log_bad = 1;
      c.bad_pos = (uint64_t)w.stop_pos;
    }
  }
  if (c.log_bad) {
    p->log_damaged = 1;
    p->bad_seg = i;
    p->bad_pos = c.bad_pos;
    p->lost_from = c.expect;
  } else {
    /* Entries past the last batch point at nothing. */
    if (c.oi < c.on) {
      const nd_index_entry *e = &ob[c.oi];
      index_problem(&c, ip, c.oi, 8,
                    "points to byte %" PRIu64 " (offset %" PRId64
                    "), past the last batch (the log has %" PRIu64 " bytes)",
                    e->position, e->offset, w.end);
    }
    /* A sealed segment ends at the next one's base (its final time
     * entry is there), above its last batch when that ends in a hole the
     * cleaner left. A final entry right after its last batch says it was
     * sealed there: the segment that began there is missing, which the
     * next segment's check reports. */
    int64_t end = c.expect;
    *sealed_end = -1;
    if (!last && p->bases[i + 1] > end) {
      if (c.tn > 0 && tb[c.tn - 1].offset == end)
        *sealed_end = end;
      else
        end = p->bases[i + 1];
    }
    check_time_entries(&c, end);
    if (c.ti < c.tn)
      index_problem(&c, tp, c.ti, 12,
                    "names offset %" PRId64
                    ", past the end of the log (%" PRId64 ")",
                    tb[c.ti].offset, end);
  }
  if (c.index_bad)
    p->index_damaged++;
  /* Beside a live writer the index may trail its segment's markers. */
  if (!c.log_bad && !c.in_flight)
    check_txnindex(v, p, &c, xp);
  free(c.aborts);
  *expect = c.expect;
  nd_free(ob);
  nd_free(tb);
  return 0;
}

/* Beside a live writer the directory listing can miss a segment created
 * while it was read, though it holds one created after it: if the segment
 * that should come next exists now, take it into the list. */
static void relist_missing(vpart *p, size_t i, int64_t expect) {
  char lp[PATH_MAX + 32];
  struct stat st;
  snprintf(lp, sizeof lp, "%s/%0*" PRId64 LAYOUT_LOG, p->dir,
           LAYOUT_SEGMENT_DIGITS, expect);
  if (file_stat(lp, &st) != 0)
    return;
  int64_t *nb = realloc(p->bases, (p->nsegs + 1) * sizeof *nb);
  if (!nb)
    return;
  p->bases = nb;
  memmove(nb + i + 1, nb + i, (p->nsegs - i) * sizeof *nb);
  nb[i] = expect;
  p->nsegs++;
}

static int check_partition(verifier *v, vpart *p) {
  int64_t expect = p->nsegs ? p->bases[0] : 0, sealed_end = -1;
  for (size_t i = 0; i < p->nsegs; i++) {
    if (v->st.live && i > 0 && p->bases[i] > expect)
      relist_missing(p, i, expect);
    int rc = check_segment(v, p, i, &expect, &sealed_end);
    if (rc)
      return rc;
    if (p->log_damaged)
      break;
  }
  return 0;
}

/* ---- collecting, and what only the store checks --------------------------
 */

static int collect(verifier *v) {
  char tdir[PATH_MAX];
  snprintf(tdir, sizeof tdir, "%s/" LAYOUT_TOPICS, v->dir);
  if (v->o.ntopics) {
    for (size_t i = 0; i < v->o.ntopics; i++) {
      const char *name = v->o.topics[i];
      if (!name || nd_topic_name_valid(name) != 0)
        return nd_fail(ND_EINVAL, "bad topic name '%s'", name ? name : "");
      char hash[65], path[PATH_MAX + 80];
      nd_topic_dirname(name, hash);
      snprintf(path, sizeof path, "%s/%s", tdir, hash);
      struct stat st;
      if (file_stat(path, &st) != 0)
        return nd_fail(ND_ENOTOPIC, "unknown topic %s", name);
      int rc = add_topic_dir(v, path);
      if (rc)
        return rc;
    }
    return 0;
  }
  char **names;
  size_t n;
  int rc = topic_dirs_list(tdir, &names, &n);
  if (rc == -ENOENT)
    return 0; /* a new, empty store */
  if (rc)
    return rc;
  for (size_t i = 0; i < n && !rc; i++) {
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", tdir, names[i]);
    rc = add_topic_dir(v, path);
  }
  topic_dirs_free(names, n);
  return rc;
}

static int check_format_file(verifier *v) {
  char path[PATH_MAX + 16], *buf = NULL;
  snprintf(path, sizeof path, "%s/" LAYOUT_FORMAT, v->dir);
  int rc = file_read_all(path, &buf, NULL);
  if (rc) {
    char tp[PATH_MAX + 16];
    struct stat st;
    snprintf(tp, sizeof tp, "%s/" LAYOUT_TOPICS, v->dir);
    if (file_stat(tp, &st) == 0)
      event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_STORE, NULL, path, -1, -1, "%s: %s",
            path, rc == -ENOENT ? "missing" : strerror(-rc));
    return 0;
  }
  rc = store_format_check(path, buf);
  free(buf);
  return rc;
}

/* Small offset files beside the segments: present ones must hold one
 * non-negative decimal offset. They are hints (repair rewrites them), but
 * a damaged one means something wrote where it should not. */
static void check_offset_file(verifier *v, vpart *p, const char *name) {
  char path[PATH_MAX + 32], *buf = NULL;
  snprintf(path, sizeof path, "%s/%s", p->dir, name);
  if (file_read_all(path, &buf, NULL) != 0)
    return;
  char *end;
  errno = 0;
  long long val = strtoll(buf, &end, 10);
  /* Not p->hints_damaged by itself: what the store makes of the hint is
   * for its open to say (check_with_library marks a partition it takes
   * offline), and dropping a log-start-offset it can use would bring back
   * records deleted below it. */
  if (errno || end == buf || (*end != '\n' && *end) || val < 0)
    event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_HINT, p, path, 0, -1,
          "%s: not an offset (\"%.*s\")", path, (int)strcspn(buf, "\n"), buf);
  free(buf);
}

/* The read-only open reports through on_log what it skips in
 * DATA/groups/offsets.log (docs/format.md): a damaged range, naming the
 * bytes, or a torn tail. Each is damage (a writable open, as a repair
 * makes, rewrites the damage away and cuts the tail), except a torn tail
 * beside a running writer: that is a commit being appended. Topic
 * directories the store skips are logged the same way. */
static void library_log(void *ctx, int level, const char *msg) {
  verifier *v = ctx;
  if (level == ND_LOG_INFO && v->st.live)
    return;
  /* Offline topics and partitions are reported below, with their kind. */
  if (strstr(msg, " is offline: "))
    return;
  int store = strncmp(msg, "topic directory ", 16) == 0;
  event(v, ND_VERIFY_DAMAGE, store ? ND_DAMAGE_STORE : ND_DAMAGE_OFFSETS, NULL,
        NULL, -1, -1, "%s", msg);
}

static vpart *find_part(verifier *v, const char *tname, int32_t id) {
  for (size_t i = 0; i < v->nparts; i++)
    if (v->parts[i].id == id && !strcmp(v->parts[i].topic, tname))
      return &v->parts[i];
  return NULL;
}

/* Committed offsets past the end a partition has (or will have after the
 * repair): the group's consumers would silently skip that many of the
 * next records written. end_of gives the end, or -1 to skip. */
static void check_committed(verifier *v, nd_store *s,
                            int64_t (*end_of)(verifier *, nd_store *,
                                              const char *, int32_t),
                            const char *when) {
  char **groups = NULL;
  size_t ng = 0;
  if (nd_group_list(s, &groups, &ng) != 0)
    return;
  for (size_t g = 0; g < ng; g++) {
    nd_committed *list = NULL;
    size_t n = 0;
    if (nd_group_offsets(s, groups[g], &list, &n) != 0)
      continue;
    for (size_t i = 0; i < n; i++) {
      int64_t end = end_of(v, s, list[i].topic, list[i].partition);
      if (end < 0 || list[i].offset <= end)
        continue;
      nd_verify_event ev = {
          .kind = ND_VERIFY_WARNING,
          .topic = list[i].topic,
          .partition = list[i].partition,
          .pos = -1,
          .offset = list[i].offset,
      };
      char text[1024];
      snprintf(text, sizeof text,
               "group %s, topic %s partition %d: committed offset %" PRId64
               " is past the end of the log %s (%" PRId64
               "); its consumers would skip the next %" PRId64
               " records written (reset the group's offset)",
               groups[g], list[i].topic, (int)list[i].partition, list[i].offset,
               when, end, list[i].offset - end);
      ev.text = text;
      emit(v, &ev);
    }
    nd_committed_free(list, n);
  }
  nd_names_free(groups, ng);
}

/* The end a damaged partition keeps after the repair. */
static int64_t end_after_repair(verifier *v, nd_store *s, const char *tname,
                                int32_t id) {
  (void)s;
  vpart *p = find_part(v, tname, id);
  return p && p->log_damaged ? p->lost_from : -1;
}

/* Options for an open of the store by verify: the caller's (codecs,
 * limits), with verify's flags, and no background thread. */
static nd_options open_options(const verifier *v, unsigned flags) {
  nd_options o;
  if (v->o.open_options)
    o = *v->o.open_options;
  else
    memset(&o, 0, sizeof o);
  o.flags = flags;
  o.no_background = 1;
  return o;
}

/* What only the store checks in full: a read-only open, which takes such
 * topics and partitions offline, saying why, and reports damaged
 * offsets-log ranges. */
static void check_with_library(verifier *v) {
  nd_options o = open_options(v, ND_OPEN_READONLY | ND_OPEN_NOCREATE);
  o.on_log = library_log;
  o.on_log_ctx = v;
  nd_store *s = NULL;
  int rc = nd_open(v->dir, &o, &s);
  if (rc == ND_ECORRUPT)
    event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_STORE, NULL, NULL, -1, -1, "%s",
          nd_errmsg());
  nd_topic_info *infos = NULL;
  size_t n = 0;
  if (!rc && nd_topic_list(s, &infos, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      if (!infos[i].offline && !infos[i].offline_partitions)
        continue;
      for (int32_t p = 0; p < infos[i].partitions; p++) {
        nd_partition_info pi;
        if (nd_partition_describe(s, infos[i].name, p, &pi) != ND_EFAILED)
          continue;
        vpart *vp = find_part(v, infos[i].name, p);
        if (infos[i].offline) {
          const char *why = strstr(nd_errmsg(), " is offline: ");
          event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_STORE, NULL, NULL, -1, -1, "%s",
                why ? why + 13 : nd_errmsg());
          break;
        }
        /* Damage this walk found already is reported; anything else the
         * store saw (a recovery point past the end) is repaired by
         * rescanning the partition. */
        if (vp && !vp->log_damaged) {
          event(v, ND_VERIFY_DAMAGE, ND_DAMAGE_HINT, vp, NULL, -1, -1, "%s",
                nd_errmsg());
          vp->hints_damaged = 1;
        }
      }
    }
    nd_free(infos);
  }
  if (!rc)
    check_committed(v, s, end_after_repair, "after the repair");
  nd_close(s);
}

static void free_parts(verifier *v) {
  for (size_t i = 0; i < v->nparts; i++) {
    free(v->parts[i].bases);
    free(v->parts[i].open_txns);
    free(v->parts[i].open_first);
  }
  v->nparts = 0;
}

/* One check pass over everything; 0 or a negative code. */
static int run_checks(verifier *v) {
  free_parts(v);
  int live = v->st.live;
  memset(&v->st, 0, sizeof v->st);
  v->st.live = live;
  v->total = 0;
  int rc = check_format_file(v);
  if (!rc)
    rc = collect(v);
  for (size_t i = 0; !rc && i < v->nparts; i++) {
    rc = check_partition(v, &v->parts[i]);
    check_offset_file(v, &v->parts[i], RECOVERY_POINT_FILE);
    check_offset_file(v, &v->parts[i], LOG_START_FILE);
  }
  if (rc)
    return rc;
  v->st.partitions = (int32_t)v->nparts;
  check_with_library(v);
  nd_verify_event ev = {.kind = ND_VERIFY_CHECKED,
                        .partition = -1,
                        .pos = -1,
                        .offset = -1,
                        .text = "",
                        .stats = &v->st};
  emit(v, &ev);
  return 0;
}

/* ---- repair ------------------------------------------------------------ */

static uint64_t file_size_or_0(const char *path) {
  struct stat st;
  return file_stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Say what the repair will change, partition by partition. */
static void plan(verifier *v) {
  for (size_t i = 0; i < v->nparts; i++) {
    const vpart *p = &v->parts[i];
    if (p->log_damaged) {
      char lp[PATH_MAX + 32];
      seg_path(p, p->bad_seg, LAYOUT_LOG, lp, sizeof lp);
      uint64_t size = file_size_or_0(lp);
      uint64_t drop = size > p->bad_pos ? size - p->bad_pos : 0;
      for (size_t k = p->bad_seg + 1; k < p->nsegs; k++) {
        char kp[PATH_MAX + 32];
        seg_path(p, k, LAYOUT_LOG, kp, sizeof kp);
        drop += file_size_or_0(kp);
      }
      size_t later = p->nsegs - p->bad_seg - 1;
      char what[PATH_MAX + 64], rest[64] = "";
      if (p->bad_pos == 0)
        snprintf(what, sizeof what, "remove %s", lp);
      else
        snprintf(what, sizeof what, "truncate %s at byte %" PRIu64, lp,
                 p->bad_pos);
      if (later)
        snprintf(rest, sizeof rest, " and the %zu later segment%s", later,
                 later == 1 ? "" : "s");
      event(v, ND_VERIFY_PLAN, 0, p, lp, (int64_t)p->bad_pos, p->lost_from,
            "topic %s partition %d: will drop %" PRIu64 " bytes, offsets "
            "%" PRId64 " onwards: %s%s; then rebuild its indexes",
            p->topic, (int)p->id, drop, p->lost_from, what, rest);
    } else if (p->index_damaged || p->txn_damaged) {
      event(v, ND_VERIFY_PLAN, 0, p, NULL, -1, -1,
            "topic %s partition %d: will rebuild its indexes (no records "
            "are dropped)",
            p->topic, (int)p->id);
    }
    if (p->stray_markers)
      event(v, ND_VERIFY_PLAN, 0, p, NULL, -1, -1,
            "topic %s partition %d: leaves its %d stray control batch%s in "
            "place",
            p->topic, (int)p->id, p->stray_markers,
            p->stray_markers == 1 ? "" : "es");
  }
}

static int mkdirs(const char *path) {
  int rc = file_mkdir_p(path);
  return rc ? nd_fail_os(-rc, "cannot create %s", path) : 0;
}

/* Copy bytes [from, end of file) of src to dst, synced. */
static int copy_from(const char *src, uint64_t from, const char *dst) {
  int in = file_open(src, O_RDONLY);
  if (in < 0)
    return nd_fail_os(-in, "cannot open %s", src);
  int out = file_open(dst, O_WRONLY | O_CREAT | O_TRUNC);
  if (out < 0) {
    int rc = nd_fail_os(-out, "cannot create %s", dst);
    file_close(in);
    return rc;
  }
  static const size_t chunk = 1 << 16;
  uint8_t *buf = malloc(chunk);
  int rc = buf ? 0 : nd_fail(ND_ENOMEM, "out of memory");
  for (uint64_t pos = from; !rc;) {
    ssize_t n = file_pread_full(in, buf, chunk, (off_t)pos);
    if (n < 0)
      rc = nd_fail_os((int)-n, "cannot read %s", src);
    else if (n == 0)
      break;
    else if ((rc = file_write_all(out, buf, (size_t)n)) != 0)
      rc = nd_fail_os(-rc, "cannot write %s", dst);
    else
      pos += (uint64_t)n;
  }
  if (!rc && (rc = file_datasync(out)) != 0)
    rc = nd_fail_os(-rc, "cannot sync %s", dst);
  free(buf);
  file_close(in);
  file_close(out);
  return rc;
}

/* Move src into dir (a copy then unlink across file systems). */
static int move_into(const char *src, const char *dir) {
  const char *base = strrchr(src, '/');
  char dst[PATH_MAX + 64];
  snprintf(dst, sizeof dst, "%s/%s", dir, base ? base + 1 : src);
  int rc = file_rename(src, dst);
  if (rc == 0 || rc == -ENOENT)
    return 0; /* ENOENT: an index that was never written */
  if (rc != -EXDEV)
    return nd_fail_os(-rc, "cannot move %s to %s", src, dir);
  rc = copy_from(src, 0, dst);
  if (!rc && (rc = file_unlink(src)) != 0)
    rc = nd_fail_os(-rc, "cannot remove %s", src);
  return rc;
}

static int count_records(void *arg, const nd_batch_info *b, const void *bytes) {
  (void)bytes;
  *(int64_t *)arg += b->record_count;
  return 0;
}

/* Put what leaves partition p in qdir, saying what: the bytes of the
 * damaged segment from its first bad byte, and the later segments whole
 * (with their indexes). The log is then cut by recovery. */
static int quarantine(verifier *v, const vpart *p, const char *qdir) {
  char dest[PATH_MAX + 300];
  snprintf(dest, sizeof dest, "%s/%s-%d", qdir, p->topic, (int)p->id);
  int rc = mkdirs(dest);
  if (rc)
    return rc;
  char lp[PATH_MAX + 32], tail[PATH_MAX + 400];
  seg_path(p, p->bad_seg, LAYOUT_LOG, lp, sizeof lp);
  uint64_t size = file_size_or_0(lp);
  if (size > p->bad_pos) {
    const char *base = strrchr(lp, '/') + 1;
    snprintf(tail, sizeof tail, "%s/%s.from-byte-%" PRIu64, dest, base,
             p->bad_pos);
    event(v, ND_VERIFY_ACTION, 0, p, lp, (int64_t)p->bad_pos, p->lost_from,
          "topic %s partition %d: drops %s bytes %" PRIu64 "..%" PRIu64
          " (offsets %" PRId64 " on, unreadable from there): copied to %s",
          p->topic, (int)p->id, lp, p->bad_pos, size, p->lost_from, tail);
    if ((rc = copy_from(lp, p->bad_pos, tail)) != 0)
      return rc;
  }
  for (size_t k = p->bad_seg + 1; k < p->nsegs; k++) {
    seg_path(p, k, LAYOUT_LOG, lp, sizeof lp);
    nd_walk_result w;
    int64_t records = 0;
    if (nd_log_walk(lp, 0, count_records, &records, &w) != 0)
      memset(&w, 0, sizeof w);
    event(v, ND_VERIFY_ACTION, 0, p, lp, 0, p->bases[k],
          "topic %s partition %d: drops %s bytes 0..%" PRIu64
          " (offsets %" PRId64 "..%" PRId64 ", %" PRId64
          " records): moved to %s",
          p->topic, (int)p->id, lp, w.file_size, p->bases[k],
          p->bases[k] + records - 1, records, dest);
    const char *exts[] = {LAYOUT_LOG, LAYOUT_INDEX, LAYOUT_TIMEINDEX};
    for (int e = 0; e < 3; e++) {
      seg_path(p, k, exts[e], lp, sizeof lp);
      if ((rc = move_into(lp, dest)) != 0)
        return rc;
    }
  }
  return file_sync_dir(dest);
}

static int unlink_if_there(const char *path) {
  int rc = file_unlink(path);
  if (rc && rc != -ENOENT)
    return nd_fail_os(-rc, "cannot remove %s", path);
  return 0;
}

/* The end a repaired partition has now. */
static int64_t end_now(verifier *v, nd_store *s, const char *tname,
                       int32_t id) {
  vpart *p = find_part(v, tname, id);
  int64_t hw = -1;
  if (!p || !p->log_damaged || nd_offsets(s, tname, id, NULL, &hw) != 0)
    return -1;
  return hw;
}

static int repair(verifier *v) {
  if (v->st.unrepairable)
    return nd_fail(ND_ECORRUPT,
                   "cannot repair: %d problem%s outside the segment files "
                   "need a hand",
                   v->st.unrepairable, v->st.unrepairable == 1 ? "" : "s");
  pid_t pid = 0;
  if (nd_lock_holder(v->dir, &pid) == 0 && pid != 0)
    return nd_fail(ND_ELOCKED, "data directory %s is held by pid %d", v->dir,
                   (int)pid);
  plan(v);
  if (v->o.flags & ND_VERIFY_DRY_RUN)
    return 0;
  char qdir[PATH_MAX + 64];
  if (v->o.quarantine_dir) {
    snprintf(qdir, sizeof qdir, "%s", v->o.quarantine_dir);
  } else {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(qdir, sizeof qdir, "%s/" LAYOUT_QUARANTINE "/%s", v->dir, stamp);
  }
  int rc = 0;
  for (size_t i = 0; !rc && i < v->nparts; i++)
    if (v->parts[i].log_damaged)
      rc = quarantine(v, &v->parts[i], qdir);
  /* Without the clean-shutdown marker and a partition's recovery point,
   * the open rescans that partition from its first segment; an unreadable
   * log start is recomputed from the first segment. */
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/" LAYOUT_CLEAN_SHUTDOWN, v->dir);
  if (!rc)
    rc = unlink_if_there(path);
  for (size_t i = 0; !rc && i < v->nparts; i++) {
    const vpart *p = &v->parts[i];
    if (!p->log_damaged && !p->index_damaged && !p->hints_damaged &&
        !p->txn_damaged)
      continue;
    snprintf(path, sizeof path, "%s/%s", p->dir, RECOVERY_POINT_FILE);
    rc = unlink_if_there(path);
    /* Without a snapshot (and a recovery point) the open rebuilds the
     * producer state and every .txnindex from the whole log. */
    snprintf(path, sizeof path, "%s/%s", p->dir, LAYOUT_PRODUCER_STATE);
    if (!rc && p->txn_damaged)
      rc = unlink_if_there(path);
    snprintf(path, sizeof path, "%s/%s", p->dir, LOG_START_FILE);
    if (!rc && p->hints_damaged)
      rc = unlink_if_there(path);
  }
  if (rc)
    return rc;
  nd_options o = open_options(v, ND_OPEN_NOCREATE);
  nd_store *s = NULL;
  if ((rc = nd_open(v->dir, &o, &s)) != 0)
    return rc;
  check_committed(v, s, end_now, "now");
  if ((rc = nd_close(s)) != 0)
    return rc;
  nd_verify_event ev = {.kind = ND_VERIFY_REPAIRED,
                        .partition = -1,
                        .pos = -1,
                        .offset = -1,
                        .text = "done; checking again"};
  emit(v, &ev);
  rc = run_checks(v);
  v->st.repaired = 1;
  return rc;
}

int nd_verify(const char *dir, const nd_verify_options *opts,
              nd_verify_stats *stats) {
  nd_clear_error();
  if (stats)
    memset(stats, 0, sizeof *stats);
  if (!dir)
    return nd_fail(ND_EINVAL, "nd_verify: NULL directory");
  verifier v = {.dir = dir};
  if (opts)
    v.o = *opts;
  if (v.o.flags & ~(unsigned)(ND_VERIFY_REPAIR | ND_VERIFY_DRY_RUN))
    return nd_fail(ND_EINVAL, "nd_verify: unknown flags 0x%x", v.o.flags);
  if (v.o.ntopics && !v.o.topics)
    return nd_fail(ND_EINVAL, "nd_verify: %zu topics but a NULL list",
                   v.o.ntopics);
  struct stat st;
  int rc = file_stat(dir, &st);
  if (rc)
    return nd_fail_os(-rc, "no data directory at %s", dir);
  if (!S_ISDIR(st.st_mode))
    return nd_fail(-ENOTDIR, "%s is not a directory", dir);
  pid_t pid = 0;
  v.st.live = nd_lock_holder(dir, &pid) == 0 && pid != 0;
  rc = run_checks(&v);
  if (!rc && v.st.problems && (v.o.flags & ND_VERIFY_REPAIR))
    rc = repair(&v);
  if (stats)
    *stats = v.st;
  free_parts(&v);
  free(v.parts);
  return rc;
}
