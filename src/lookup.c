/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lookup.c — nd_reader: point lookups by offset and sequential reads that
 * decode records where they lie.
 *
 * Why not nd_read: it copies whole batches (pread into a fresh buffer),
 * and a consumer of one record then pays for the batch around it. With
 * 100-byte records in batches of 1000, a lookup read 111 KB, walked 8 KB
 * of headers through a second buffer and CRC'd the batch before decoding
 * ~500 records to reach the one it wanted: 28 us at p50 against LMDB's
 * 1 us, which returns a pointer into its mapping.
 *
 * So a reader does what LMDB does: it reads the segment through a shared
 * read-only mapping (lookup.h) and returns views into it. A lookup is an
 * index binary search (the mapped .index), a header hop or two to the batch
 * holding the offset, and a skip over the records before it by their
 * length prefixes (one or two bytes each: no decoding of their fields),
 * then one record decoded. The CRC is not checked per lookup (nodata.h,
 * "What a read guarantees", says when it is and why).
 *
 * Safety of views: a stored batch is never rewritten in place (appends
 * only add bytes past the published size; recovery cuts only at open;
 * retention deletes whole files), so bytes below a segment's published
 * size never change while a mapping holds them. A reader takes a
 * reference on the mapping it returns views into, so the segment may be
 * deleted, evicted from the mapping cache or remapped larger meanwhile:
 * munmap waits for the last reference. segs_lock (shared) is held only
 * while finding the segment and taking that reference.
 *
 * Read-only stores read with pread into the reader's buffer instead: a
 * writer in another process may cut a torn tail at its open, and a
 * mapping of the cut bytes would fault (SIGBUS) where pread returns short.
 */
#include "lookup.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "partition.h"
#include "record.h"
#include "segment.h"
#include "store.h"
#include "topic.h"

/* ---- mappings ------------------------------------------------------------ */

size_t logmap_limit(size_t map_limit) {
  size_t l = map_limit / 4;
  return l < 16 ? 16 : l;
}

static segment *seg_of_lmap(cache_entry *e) {
  return (segment *)((char *)e - offsetof(segment, lmap_entry));
}

/* A new mapping of seg's .log covering at least need bytes, one
 * reference held; NULL with *err set (and the thread's message). */
static logmap *logmap_new(segment *seg, uint64_t need, int *err) {
  size_t len = (size_t)((need + LOGMAP_STEP - 1) / LOGMAP_STEP * LOGMAP_STEP);
  if (len == 0)
    len = LOGMAP_STEP;
  logmap *lm = malloc(sizeof *lm);
  if (!lm) {
    /* -errno, as rescache callbacks answer (see reader_map) */
    *err = nd_fail_os(ENOMEM, "mapping %s.log", seg->path);
    return NULL;
  }
  int fd = segment_fd(seg);
  if (fd < 0) {
    free(lm);
    *err = fd;
    return NULL;
  }
  void *m = file_map(fd, len, 0);
  int e = errno;
  segment_unfd(seg);
  if (!m) {
    free(lm);
    *err = nd_fail_os(e, "cannot map %s.log (%zu bytes)", seg->path, len);
    return NULL;
  }
  atomic_init(&lm->refs, 1);
  lm->base = m;
  lm->len = len;
  return lm;
}

static void logmap_unref(logmap *lm) {
  if (lm &&
      atomic_fetch_sub_explicit(&lm->refs, 1, memory_order_acq_rel) == 1) {
    file_unmap((void *)lm->base, lm->len);
    free(lm);
  }
}

int logmap_acquire(cache_entry *e) {
  segment *seg = seg_of_lmap(e);
  int err = 0;
  logmap *lm = logmap_new(seg, atomic_load(&seg->size), &err);
  if (!lm)
    return err;
  pthread_mutex_lock(&seg->lmap_lock);
  logmap *old = atomic_exchange(&seg->lmap, lm);
  pthread_mutex_unlock(&seg->lmap_lock);
  logmap_unref(old); /* none: the cache released it */
  return 1;
}

void logmap_release(cache_entry *e) {
  segment *seg = seg_of_lmap(e);
  pthread_mutex_lock(&seg->lmap_lock);
  logmap *old = atomic_exchange(&seg->lmap, NULL);
  pthread_mutex_unlock(&seg->lmap_lock);
  logmap_unref(old);
}

/* ---- the reader ---------------------------------------------------------- */

/* Where records lie in batches a reader has looked into: the position of
 * every RPOS_STRIDE-th record, learnt while skipping to a record, so the
 * next lookup in the same batch skips at most RPOS_STRIDE - 1 records
 * instead of half the batch (with 1000-record batches that is ~55 KB of
 * memory touched, 5 us when the batch is not in the CPU cache). Keyed by
 * (segment, byte position): stored batches never change, so an entry
 * never goes stale. Bounded: when half the slots are taken the table is
 * emptied, so a reader keeps at most RPOS_SLOTS / 2 batches' positions
 * (4096 batches; 1 MiB with 1000-record batches). */
#define RPOS_STRIDE 16
#define RPOS_SLOTS 8192

typedef struct rpos {
  int64_t seg_base; /* INT64_MIN: a free slot */
  uint64_t pos;
  uint32_t n, cap; /* positions known, room for */
  uint32_t *at;    /* at[i]: record i * RPOS_STRIDE, from the record area */
} rpos;

struct nd_reader {
  nd_store *s; /* counts this reader in s->readers */
  topic *t;
  partition *p;
  unsigned flags;
  nd_decompress_fn decompress;
  int copy; /* read-only store: pread into buf instead of mapping */

  logmap *map; /* the mapping the batch below lies in (a reference) */
  /* The batch last entered: where it is and what is in it. */
  const uint8_t *batch; /* NULL when none */
  record_batch rb;      /* what its records share */
  size_t batch_total;
  int64_t seg_base; /* of the segment holding it */
  uint64_t batch_pos;
  int64_t batch_last;
  const uint8_t *rec_start, *rec_end; /* its record area (maybe inflated) */
  /* Sequential state. */
  const uint8_t *rec; /* next record in the batch */
  int32_t remaining;  /* records left in it */
  int64_t next_offset;

  uint8_t *buf; /* the batch's bytes in copy mode */
  size_t buf_cap;
  void *inflated; /* the batch's records, decompressed */
  record_hdrs hdrs;
  /* ND_READER_COMMITTED: the aborted transactions that can hold a batch
   * based in [ab_from, ab_upto) (nd_aborted_txns of that range, read
   * after ab_upto was the LSO: every transaction beginning below it was
   * decided and its ABORT marker indexed). */
  nd_aborted_txn *ab;
  size_t nab;
  int64_t ab_from, ab_upto;
  rpos *rtab; /* RPOS_SLOTS, allocated at the first lookup that needs it */
  size_t rused;
};

#define NO_HINT UINT64_MAX

/* Make r->map seg's mapping, covering [0, need). The segment's
 * reference is swapped for a larger mapping when the active segment grew
 * past it; the reader's old mapping is dropped (its views end here). */
static int reader_map(nd_reader *r, segment *seg, uint64_t need) {
  int rc = rescache_pin(&seg->caches->logmaps, &seg->lmap_entry);
  if (rc)
    return nd_fail_os(-rc, "cannot map %s.log (this store maps at most %zu)",
                      seg->path, seg->caches->logmaps.limit);
  logmap *lm = atomic_load_explicit(&seg->lmap, memory_order_acquire);
  if (lm && lm == r->map && lm->len >= need) {
    rescache_unpin(&seg->lmap_entry);
    return 0; /* the common case: no lock, no reference taken */
  }
  pthread_mutex_lock(&seg->lmap_lock);
  lm = atomic_load(&seg->lmap);
  if (lm && lm->len < need) {
    logmap *nm = logmap_new(seg, need, &rc);
    if (nm) {
      atomic_store(&seg->lmap, nm);
      logmap_unref(lm);
    }
    lm = nm;
  }
  if (lm)
    atomic_fetch_add(&lm->refs, 1);
  pthread_mutex_unlock(&seg->lmap_lock);
  rescache_unpin(&seg->lmap_entry);
  if (!lm)
    return rc;
  logmap_unref(r->map);
  r->map = lm;
  return 0;
}

/* bytes [pos, pos + n) of the segment: in the mapping, or read into dst
 * (copy mode). NULL with *err on a short or failed read. */
static const uint8_t *bytes_at(nd_reader *r, segment *seg, int fd, uint64_t pos,
                               size_t n, uint8_t *dst, int *err) {
  if (!r->copy)
    return r->map->base + pos;
  ssize_t got = file_pread_full(fd, dst, n, (off_t)pos);
  if (got == (ssize_t)n)
    return dst;
  *err = got < 0 ? nd_fail_os((int)-got, "reading %s.log at byte %" PRIu64,
                              seg->path, pos)
                 : nd_fail(ND_ECORRUPT,
                           "%s.log shorter than its published size (byte "
                           "%" PRIu64 ")",
                           seg->path, pos);
  return NULL;
}

/* Position and size of the first batch in seg whose last offset is >=
 * offset (the batch holding it, or after a hole the next one: segment.h),
 * walking headers from hint (a batch start at or before it) or from the
 * offset index's entry; 1 when the segment has none (offset is in a hole
 * at its end). The walk is the batch cursor's, at the SANE level: the bytes
 * below the published size are whole batches (lookup.c's header), so a header
 * the cursor refuses there is damage, reported as ND_ECORRUPT. In map mode
 * the cursor walks the mapping itself (no copy: a memory cursor is a few
 * stores and the same header checks the old loop made); in copy mode it
 * reads one header per pread, as before, through a header-sized stack
 * buffer: a 4 KiB one cost lookups ~10% (measured with nodata-bench
 * --case peers), the stack page it touches on every lookup. */
static int find_batch(nd_reader *r, segment *seg, int fd, uint64_t size,
                      int64_t offset, uint64_t hint, uint64_t *pos_out,
                      size_t *size_out) {
  int64_t expect = -1;
  int64_t next = atomic_load_explicit(&seg->next_offset, memory_order_acquire);
  uint64_t start = hint;
  if (start == NO_HINT) {
    start = 0;
    if (segment_pin_maps(seg) == 0) {
      start = segment_index_start(seg, (uint32_t)(offset - seg->base), &expect);
      segment_unpin_maps(seg);
    }
  }
  uint8_t tmp[BATCH_HEADER_SIZE];
  batch_cursor c;
  for (;;) {
    if (r->copy)
      batch_cursor_fd(&c, fd, start, size, tmp, sizeof tmp, BATCH_LEVEL_SANE);
    else /* positions in the cursor are from start: added back below */
      batch_cursor_mem(&c, r->map->base + start, (size_t)(size - start),
                       BATCH_LEVEL_SANE);
    uint64_t shift = r->copy ? 0 : start;
    int rc;
    while ((rc = batch_cursor_next(&c)) == 1) {
      const uint8_t *h = c.batch;
      uint64_t pos = c.pos + shift;
      if (expect >= 0 && !segment_index_entry_holds(seg, h, expect, pos))
        break; /* the index entry is wrong: walk from the segment's start */
      expect = -1;
      if (batch_last_offset(h) >= offset) {
        /* After a hole, a batch must still lie below the segment's end
         * (see segment_find): else its baseOffset is damaged. */
        if (batch_base_offset(h) > offset && batch_base_offset(h) >= next) {
          batch_cursor_close(&c);
          return nd_fail(ND_ECORRUPT,
                         "%s.log: batch at byte %" PRIu64
                         " claims offset %" PRId64
                         ", past the segment's end %" PRId64,
                         seg->path, pos, batch_base_offset(h), next);
        }
        *pos_out = pos;
        *size_out = (size_t)c.size;
        batch_cursor_close(&c);
        return 0;
      }
    }
    uint64_t at = c.pos + shift;
    batch_cursor_close(&c);
    if (rc < 0)
      return rc == ND_ENOMEM
                 ? nd_fail(ND_ENOMEM, "out of memory")
                 : nd_fail_os(-rc, "reading %s.log at byte %" PRIu64, seg->path,
                              at);
    if (rc == 1 && expect >= 0) {
      start = 0;
      expect = -1;
      continue;
    }
    if (c.stop == BATCH_STOP_END)
      return 1;
    return nd_fail(ND_ECORRUPT,
                   "%s.log: bad batch header at byte %" PRIu64
                   " looking for offset %" PRId64 "%s%s",
                   seg->path, at, offset, c.why ? ": " : "",
                   c.why ? c.why : "");
  }
}

/* The first call of every reader entry point, as store_enter is of the
 * store's: clears the thread's error, refuses NULL arguments and a
 * deleted topic. */
static inline int reader_enter(nd_reader *r, const nd_record_view *rec,
                               const char *fn) {
  nd_clear_error();
  if (!r || !rec)
    return nd_fail(ND_EINVAL, "%s: %s is NULL", fn, r ? "rec" : "reader");
  if (atomic_load_explicit(&r->t->deleted, memory_order_relaxed))
    return nd_fail(ND_ENOTOPIC, "topic '%s' was deleted", r->t->name);
  return 0;
}

static int out_of_range(nd_reader *r, int64_t offset, int64_t ls, int64_t hw) {
  return nd_fail(ND_ERANGE,
                 "offset %" PRId64 " out of range [%" PRId64 ", %" PRId64
                 ") in %s",
                 offset, ls, hw, r->p->dir);
}

/* Forget the batch (its views end). */
static void drop_batch(nd_reader *r) {
  r->batch = NULL;
  r->remaining = 0;
}

/* Make the batch holding `offset` current, or after a hole the batch
 * holding the next existing offset (segment.h): returns 0, 1 when offset
 * is the high watermark (nothing there yet) or only a hole lies between
 * it and the high watermark, or an error. hint: where the batch starts at
 * the earliest in the segment whose base is hint_seg. */
static int locate(nd_reader *r, int64_t offset, uint64_t hint,
                  int64_t hint_seg) {
  partition *p = r->p;
  int64_t hw = atomic_load_explicit(&p->hw, memory_order_acquire);
  int64_t ls = atomic_load_explicit(&p->log_start, memory_order_acquire);
  if (offset < ls || offset > hw)
    return out_of_range(r, offset, ls, hw);
  if (offset == hw)
    return 1;
  /* The same batch as last time (a sequential reader's seek, or lookups
   * close together): nothing to find. */
  if (r->batch && offset >= batch_base_offset(r->batch) &&
      offset <= r->batch_last)
    return 0;
  drop_batch(r);
  pthread_rwlock_rdlock(&p->segs_lock);
  size_t i = seg_index_for(p, offset);
  segment *seg = p->segs[i];
  if (offset >= atomic_load_explicit(&seg->next_offset, memory_order_acquire) &&
      i + 1 < p->nsegs)
    seg = p->segs[++i];
  uint64_t size, pos = 0;
  size_t total = 0;
  int fd = -1, rc;
  for (int64_t want = offset;;) {
    size = atomic_load_explicit(&seg->size, memory_order_acquire);
    if (r->copy)
      rc = fd = segment_fd(seg);
    else
      rc = reader_map(r, seg, size);
    if (rc < 0) {
      pthread_rwlock_unlock(&p->segs_lock);
      return rc;
    }
    if (seg->base != hint_seg || hint >= size)
      hint = NO_HINT;
    rc = find_batch(r, seg, fd, size, want, hint, &pos, &total);
    if (rc != 1 || i + 1 >= p->nsegs)
      break;
    /* A hole at the segment's end: the next existing offset is in a
     * later segment. */
    if (fd >= 0)
      segment_unfd(seg);
    fd = -1;
    seg = p->segs[++i];
    want = seg->base;
  }
  if (rc == 1) { /* only a hole up to the high watermark */
    if (fd >= 0)
      segment_unfd(seg);
    pthread_rwlock_unlock(&p->segs_lock);
    return 1;
  }
  const uint8_t *b = NULL;
  if (!rc) {
    if (r->copy && total > r->buf_cap) {
      uint8_t *nb = realloc(r->buf, total);
      if (!nb)
        rc = nd_fail(ND_ENOMEM, "cannot allocate %zu bytes", total);
      else {
        r->buf = nb;
        r->buf_cap = total;
      }
    }
    if (!rc)
      b = bytes_at(r, seg, fd, pos, total, r->buf, &rc);
  }
  int64_t seg_base = seg->base;
  char path[PATH_MAX];
  if (r->flags & ND_READER_VERIFY)
    segment_log_path(seg, path, sizeof path);
  if (fd >= 0)
    segment_unfd(seg);
  pthread_rwlock_unlock(&p->segs_lock);
  if (rc)
    return rc;
  const char *why;
  size_t t2;
  if ((r->flags & ND_READER_VERIFY) &&
      batch_check(b, total, 1, &t2, &why) != BATCH_VALID)
    return nd_fail(ND_ECORRUPT, "%s at byte %" PRIu64 ": %s", path, pos, why);
  free(r->inflated);
  r->inflated = NULL;
  size_t area_len;
  rc = batch_record_area(b, total, r->decompress, &r->rec_start, &area_len,
                         &r->inflated);
  if (rc == ND_ECODEC && !r->decompress)
    return nd_fail(ND_ECODEC,
                   "%s/%020" PRId64 ".log at byte %" PRIu64
                   ": compressed batch (codec %d) and no decompressor given",
                   p->dir, seg_base, pos, batch_codec(b));
  if (rc)
    return nd_fail(rc,
                   "%s/%020" PRId64 ".log at byte %" PRIu64
                   ": cannot decompress the records: %s",
                   p->dir, seg_base, pos, nd_errmsg());
  r->rec_end = r->rec_start + area_len;
  r->batch = b;
  r->batch_total = total;
  r->seg_base = seg_base;
  r->batch_pos = pos;
  r->batch_last = batch_last_offset(b);
  record_batch_init(&r->rb, b);
  /* The sequential state (rec, remaining) is nd_reader_next's to set:
   * drop_batch zeroed it, so a lookup that moved to another batch makes
   * the next nd_reader_next find its position again. */
  return 0;
}

static void rpos_clear(nd_reader *r) {
  for (size_t i = 0; i < RPOS_SLOTS; i++) {
    free(r->rtab[i].at);
    r->rtab[i] = (rpos){.seg_base = INT64_MIN};
  }
  r->rused = 0;
}

/* The positions known for the current batch, a new empty entry, or NULL
 * (out of memory: the lookup then skips from the batch's start). */
static rpos *rpos_find(nd_reader *r) {
  if (!r->rtab) {
    r->rtab = calloc(RPOS_SLOTS, sizeof *r->rtab);
    if (!r->rtab)
      return NULL;
    for (size_t i = 0; i < RPOS_SLOTS; i++)
      r->rtab[i].seg_base = INT64_MIN;
  }
  uint64_t h = (r->batch_pos ^ (uint64_t)r->seg_base * 0x9e3779b97f4a7c15u) *
               0xff51afd7ed558ccdu;
  size_t i = (size_t)(h >> 32) & (RPOS_SLOTS - 1);
  for (; r->rtab[i].seg_base != INT64_MIN; i = (i + 1) & (RPOS_SLOTS - 1))
    if (r->rtab[i].seg_base == r->seg_base && r->rtab[i].pos == r->batch_pos)
      return &r->rtab[i];
  if (r->rused >= RPOS_SLOTS / 2) {
    rpos_clear(r);
    i = (size_t)(h >> 32) & (RPOS_SLOTS - 1);
  }
  /* Room for every record the area could hold (at least 7 bytes each)
   * and the count claims, whichever is less. */
  size_t most = (size_t)(r->rec_end - r->rec_start) / 7 + 1;
  size_t count = (size_t)batch_record_count(r->batch);
  size_t cap = (count < most ? count : most) / RPOS_STRIDE + 1;
  uint32_t *at = malloc(cap * sizeof *at);
  if (!at)
    return NULL;
  r->rtab[i] = (rpos){r->seg_base, r->batch_pos, 0, (uint32_t)cap, at};
  r->rused++;
  return &r->rtab[i];
}

static int decode_fail(nd_reader *r, int err, const char *why) {
  int64_t base = r->batch ? batch_base_offset(r->batch) : -1;
  drop_batch(r);
  return nd_fail(err, "%s: batch at offset %" PRId64 ": %s", r->p->dir, base,
                 why);
}

int nd_reader_open(nd_store *s, const char *name, int32_t part, unsigned flags,
                   nd_decompress_fn decompress, nd_reader **out) {
  int rc = store_enter_args(
      s, __func__, ENTRY_READ,
      out && !(flags & ~(unsigned)(ND_READER_VERIFY | ND_READER_COMMITTED)),
      out ? "unknown flags" : "out is NULL");
  if (rc)
    return rc;
  *out = NULL;
  topic *t = NULL;
  partition *p = NULL;
  rc = store_enter_partition(s, __func__, ENTRY_READ, name, part, &t, &p);
  if (rc)
    return rc;
  nd_reader *r = calloc(1, sizeof *r);
  if (!r)
    return store_leave(t, nd_fail(ND_ENOMEM, "out of memory"));
  r->t = t; /* the reference is the reader's until nd_reader_close */
  r->p = p;
  r->flags = flags;
  r->decompress = decompress;
  r->copy = s->readonly;
  r->next_offset = atomic_load(&p->log_start);
  r->s = s;
  atomic_fetch_add(&s->readers, 1);
  *out = r;
  return 0;
}

int nd_reader_get(nd_reader *r, int64_t offset, nd_record_view *rec) {
  int rc = reader_enter(r, rec, __func__);
  if (rc)
    return rc;
  rc = locate(r, offset, NO_HINT, -1);
  int64_t hw = atomic_load_explicit(&r->p->hw, memory_order_acquire);
  if (rc == 1 && offset >= hw)
    return out_of_range(r, offset, atomic_load(&r->p->log_start), offset);
  /* A point lookup answers for its offset only: in a hole the cleaner left
   * (no batch holds it), the record is gone. nd_reader_seek there and
   * nd_reader_next give the next existing record, as a Kafka consumer
   * seeking there sees. */
  if (rc == 1 || (!rc && offset < batch_base_offset(r->batch)))
    return nd_fail(ND_ENOTFOUND,
                   "%s: no record at offset %" PRId64
                   " (removed by cleaning: a hole in the log)",
                   r->p->dir, offset);
  if (rc)
    return rc;
  /* Records are normally dense (offset delta = position): skip that many
   * by their lengths, from the nearest known position, then check the one
   * found; if the batch has gaps, decode from its start. */
  const uint8_t *q = r->rec_start;
  int64_t k = offset - batch_base_offset(r->batch);
  rpos *rp = k >= RPOS_STRIDE ? rpos_find(r) : NULL;
  int64_t i = 0;
  if (rp && rp->n) {
    int64_t j = k / RPOS_STRIDE < rp->n ? k / RPOS_STRIDE : rp->n - 1;
    q = r->rec_start + rp->at[j];
    i = j * RPOS_STRIDE;
  }
  for (; i <= k && q; i++) {
    if (rp && i % RPOS_STRIDE == 0 && i / RPOS_STRIDE == rp->n &&
        rp->n < rp->cap)
      rp->at[rp->n++] = (uint32_t)(q - r->rec_start);
    if (i < k && record_skip(&q, r->rec_end))
      q = NULL;
  }
  int err;
  const char *why = NULL;
  if (q) {
    why = record_decode(&r->rb, &q, r->rec_end, rec, &r->hdrs, &err);
    if (!why && rec->offset == offset)
      return 0;
  }
  q = r->rec_start;
  while (q < r->rec_end) {
    why = record_decode(&r->rb, &q, r->rec_end, rec, &r->hdrs, &err);
    if (why)
      return decode_fail(r, err, why);
    if (rec->offset == offset)
      return 0;
    if (rec->offset > offset)
      break;
  }
  return nd_fail(ND_ENOTFOUND,
                 "%s: no record at offset %" PRId64
                 " in its batch (offsets %" PRId64 "..%" PRId64 ")",
                 r->p->dir, offset, batch_base_offset(r->batch), r->batch_last);
}

int nd_reader_seek(nd_reader *r, int64_t offset) {
  /* Only its address is looked at (seek has no record to fill); zeroed
   * so gcc -O0 does not take a const pointer to it for a read. */
  nd_record_view unused = {0};
  int rc = reader_enter(r, &unused, __func__);
  if (rc)
    return rc;
  int64_t hw = atomic_load_explicit(&r->p->hw, memory_order_acquire);
  int64_t ls = atomic_load_explicit(&r->p->log_start, memory_order_acquire);
  if (offset < ls || offset > hw)
    return nd_fail(ND_ERANGE,
                   "offset %" PRId64 " out of range [%" PRId64 ", %" PRId64
                   "] in %s",
                   offset, ls, hw, r->p->dir);
  r->next_offset = offset;
  r->remaining = 0; /* the next call finds the batch holding offset */
  return 0;
}

/* ND_READER_COMMITTED: 1 if the transactional batch r->batch belongs to
 * an aborted transaction. A producer's transactions in a partition do not
 * overlap, so the batch is aborted iff an aborted transaction of its
 * producer spans its base offset: the same records Kafka's consumer drops
 * with its aborted-producer set (Fetcher's nextFetchedBatch). */
static int batch_aborted(nd_reader *r, int64_t lso, int *err) {
  int64_t base = batch_base_offset(r->batch);
  int64_t pid = batch_producer_id(r->batch);
  *err = 0;
  if (base < r->ab_from || base >= r->ab_upto) {
    nd_free(r->ab);
    r->ab = NULL;
    r->nab = 0;
    r->ab_from = r->ab_upto = 0;
    int rc = partition_aborted_txns(r->p, base, lso, &r->ab, &r->nab);
    if (rc) {
      *err = rc;
      return 0;
    }
    r->ab_from = base;
    r->ab_upto = lso;
  }
  for (size_t i = 0; i < r->nab; i++)
    if (r->ab[i].producer_id == pid && r->ab[i].first_offset <= base &&
        base <= r->ab[i].last_offset)
      return 1;
  return 0;
}

int nd_reader_next(nd_reader *r, nd_record_view *rec) {
  int rc = reader_enter(r, rec, __func__);
  if (rc)
    return rc;
  int committed = (r->flags & ND_READER_COMMITTED) != 0;
  /* Read once per call: the batches below it are decided. */
  int64_t lso = committed ? partition_lso(r->p) : INT64_MAX;
  for (;;) {
    if (committed && r->remaining == 0 && r->next_offset >= lso)
      return 0;
    if (r->remaining == 0) {
      /* The next batch starts where this one ends, in the same segment
       * unless it was the last there. */
      uint64_t hint = NO_HINT;
      int64_t hint_seg = -1;
      if (r->batch && r->next_offset == r->batch_last + 1) {
        hint = r->batch_pos + r->batch_total;
        hint_seg = r->seg_base;
      }
      rc = locate(r, r->next_offset, hint, hint_seg);
      if (rc == 1)
        return 0;
      if (rc)
        return rc;
      /* From the batch's first record (locate may have kept the batch a
       * lookup or an earlier pass left); those below the position are
       * passed over below. */
      if (committed && batch_base_offset(r->batch) >= lso)
        return 0; /* past a hole, at or after the LSO */
      r->rec = r->rec_start;
      r->remaining = batch_record_count(r->batch);
      int aborted = 0;
      if (committed && r->remaining > 0 &&
          (batch_attributes(r->batch) & BATCH_ATTR_TRANSACTIONAL) &&
          !batch_is_control(r->batch)) {
        aborted = batch_aborted(r, lso, &rc);
        if (rc)
          return rc;
      }
      if (r->remaining <= 0 || aborted) {
        /* An empty batch (segment.h), or an aborted transaction's: move
         * on. */
        r->remaining = 0;
        if (r->next_offset <= r->batch_last)
          r->next_offset = r->batch_last + 1;
        continue;
      }
    }
    int err;
    const char *why =
        record_decode(&r->rb, &r->rec, r->rec_end, rec, &r->hdrs, &err);
    if (why)
      return decode_fail(r, err, why);
    r->remaining--;
    int skip = rec->offset < r->next_offset || rec->is_control;
    if (!skip)
      r->next_offset = rec->offset + 1;
    /* Past the batch's last offset once it is read, so the next locate
     * moves on even if its last records were control records or gaps. */
    if (r->remaining == 0 && r->next_offset <= r->batch_last)
      r->next_offset = r->batch_last + 1;
    if (skip)
      continue;
    return 1;
  }
}

void nd_reader_release(nd_reader *r) {
  if (!r)
    return;
  drop_batch(r);
  free(r->inflated);
  r->inflated = NULL;
  logmap_unref(r->map);
  r->map = NULL;
}

void nd_reader_close(nd_reader *r) {
  if (!r)
    return;
  nd_reader_release(r);
  store_release(r->t);
  free(r->buf);
  free(r->hdrs.v);
  nd_free(r->ab);
  if (r->rtab)
    rpos_clear(r);
  free(r->rtab);
  atomic_fetch_sub(&r->s->readers, 1);
  free(r);
}
