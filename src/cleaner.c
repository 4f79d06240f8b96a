/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleaner.c — the log cleaner: compaction of partitions whose
 * cleanup.policy has compact (docs/compaction.md; the files and the swap
 * rule in docs/format.md, "Cleaning").
 *
 * One cleaning of a partition (partition_clean), under its clean_lock:
 *   1. The cleanable range: the sealed segments, from the first, up to the
 *      first whose records are not all older than min.compaction.lag.ms.
 *      The active segment is never cleaned.
 *   2. A pass: from the cleaner checkpoint (the first dirty offset) on,
 *      every keyed record's offset goes into the offset map (key hash ->
 *      latest offset), until the range ends or the map is full (then the
 *      pass ends at that batch; the rest is the next pass).
 *   3. The segments from the first up to the map's end are rewritten,
 *      grouped while their sizes add up to at most segment.bytes: a record
 *      survives if it is the latest of its key (or past the map's end),
 *      and, if a tombstone, while its batch's delete horizon (set when the
 *      batch is first cleaned: now + delete.retention.ms) has not passed.
 *      Batches keep their base offset, lastOffsetDelta, producer fields,
 *      and each record its offset and timestamp; a batch left empty is
 *      dropped unless it is the last batch of its producer (then it stays
 *      empty, so the producer's sequence survives), or a control batch.
 *   4. Each group is written in DIR/cleaning/ as a segment of its own
 *      (<b0>.log and indexes), fdatasync'd; then DIR/cleaner-swap (the
 *      group's old bases) is written atomically: the commit point. The
 *      swap renames the new files over b0's, unlinks the other old
 *      segments' files and replaces the segment objects, under segs_lock
 *      held exclusively; then the directory is synced and the manifest
 *      removed. cleaner_recover finishes an interrupted swap at open.
 *   5. The checkpoint moves to the map's end.
 *
 * Readers never wait for more than the swap's renames: a reader holding an
 * old segment's mapping (nd_reader) keeps its bytes; the old segment
 * objects are closed without touching files by path (b0's path names the
 * new file by then). Retention and DeleteRecords free segments only with
 * clean_lock (trylock: while a cleaning runs they leave it to a later
 * round), so the cleaner never reads a freed segment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "crc32c.h"
#include "error.h"
#include "file.h"
#include "layout.h"
#include "offset_map.h"
#include "partition.h"
#include "record.h"
#include "store.h"

/* Kafka's RecordBatch.DELETE_HORIZON_FLAG_MASK (KIP-534): baseTimestamp
 * holds the delete horizon of the batch's tombstones. */
#define BATCH_ATTR_DELETE_HORIZON 0x40
#define DEFAULT_DEDUPE_BYTES ((int64_t)128 << 20)
#define WRITE_CHUNK ((size_t)1 << 20)
#define HEADER_WALK_BYTES 8192

static int64_t mono_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* ---- io throttle ---------------------------------------------------------
 * cleaner_io_max_bytes_per_second over the whole cleaning: after each read
 * or write the cleaner sleeps until its bytes so far fit the rate. */
typedef struct throttle {
  int64_t rate; /* bytes per second, 0 unlimited */
  int64_t start_us;
  int64_t bytes;
} throttle;

static void throttle_add(throttle *t, int64_t n) {
  if (t->rate <= 0)
    return;
  t->bytes += n;
  int64_t due_us = t->bytes * 1000000 / t->rate;
  int64_t ahead = due_us - (mono_us() - t->start_us);
  if (ahead > 0) {
    struct timespec ts = {(time_t)(ahead / 1000000),
                          (long)(ahead % 1000000) * 1000};
    nanosleep(&ts, NULL);
  }
}

/* ---- checkpoint ----------------------------------------------------------
 * DIR/cleaner-checkpoint: "<first dirty offset> <holes below> <last clean
 * ms>\n". The first is where the next cleaning's map starts; the second
 * bounds what the cleaner may have rewritten: recovery never takes a gap
 * between segments below it for a lost tail, even on a topic switched
 * back to delete since; the third is when the partition was
 * last cleaned (for `nodata topics describe`, which runs in another
 * process). Written atomically (synced), and before a pass swaps anything
 * the second moves up to the pass's end. A lost or damaged file reads as
 * 0 0 0: everything dirty, never cleaned. */

typedef struct checkpoint {
  int64_t first_dirty, holes_below, last_clean_ms;
} checkpoint;

static checkpoint checkpoint_read(const char *dir) {
  char path[PATH_MAX], *text = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANER_CHECKPOINT);
  checkpoint c = {0, 0, 0};
  if (file_read_all(path, &text, NULL) != 0)
    return c;
  long long a, b, t;
  char nl;
  if (sscanf(text, "%lld %lld %lld%c", &a, &b, &t, &nl) == 4 && nl == '\n' &&
      a >= 0 && b >= a && t >= 0)
    c = (checkpoint){a, b, t};
  free(text);
  return c;
}

/* holes_below never goes down: a pass that failed after its commit has
 * holes up to its end once the next open rolls it forward. */
static int checkpoint_write(const char *dir, checkpoint c) {
  int64_t had = checkpoint_read(dir).holes_below;
  if (had > c.holes_below)
    c.holes_below = had;
  char path[PATH_MAX], text[96];
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANER_CHECKPOINT);
  int n = snprintf(text, sizeof text, "%" PRId64 " %" PRId64 " %" PRId64 "\n",
                   c.first_dirty, c.holes_below, c.last_clean_ms);
  int rc = file_write_atomic(path, text, (size_t)n);
  return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
}

int64_t cleaner_holes_below(const char *dir) {
  return checkpoint_read(dir).holes_below;
}

/* ---- swap manifest and its roll-forward --------------------------------- */

/* A pass's swap: every group it rewrote. bases[i] is an old segment's
 * base; first[i] says it starts a group (whose cleaned segment takes its
 * name), the others of the group are replaced by it. */
typedef struct swap_list {
  int64_t *bases;
  uint8_t *first;
  size_t n;
} swap_list;

static void swap_list_free(swap_list *l) {
  free(l->bases);
  free(l->first);
  memset(l, 0, sizeof *l);
}

/* "nodata cleaner-swap 1\n", one line per group "<b0> <b1> ... <bk>\n",
 * then "crc <crc32c of the group lines>\n". */
static int manifest_write(const char *dir, const swap_list *l) {
  size_t cap = 64 + l->n * 22;
  char *text = malloc(cap);
  if (!text)
    return nd_fail(ND_ENOMEM, "out of memory");
  int len = snprintf(text, cap, "nodata cleaner-swap 1\n");
  int body = len;
  for (size_t i = 0; i < l->n; i++)
    len += snprintf(text + len, cap - (size_t)len, "%s%" PRId64,
                    i == 0        ? ""
                    : l->first[i] ? "\n"
                                  : " ",
                    l->bases[i]);
  len += snprintf(text + len, cap - (size_t)len, "\n");
  uint32_t crc =
      nd_crc32c(0, (const uint8_t *)text + body, (size_t)(len - body));
  len += snprintf(text + len, cap - (size_t)len, "crc %08x\n", crc);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANER_SWAP);
  int rc = file_write_atomic(path, text, (size_t)len);
  free(text);
  return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
}

/* 0 with the list, 1 if there is no manifest, or an error (a manifest
 * that does not parse: written atomically, it cannot be torn, so that is
 * damage the operator must see). */
static int manifest_read(const char *dir, swap_list *l) {
  char path[PATH_MAX], *text = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANER_SWAP);
  memset(l, 0, sizeof *l);
  int rc = file_read_all(path, &text, NULL);
  if (rc == -ENOENT)
    return 1;
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", path);
  const char *head = "nodata cleaner-swap 1\n";
  char *body = strncmp(text, head, strlen(head)) ? NULL : text + strlen(head);
  char *tail = body ? strstr(body, "crc ") : NULL;
  unsigned crc = 0;
  if (!tail || tail == body || tail[-1] != '\n' ||
      sscanf(tail, "crc %x", &crc) != 1 ||
      nd_crc32c(0, (const uint8_t *)body, (size_t)(tail - body)) != crc) {
    free(text);
    return nd_fail(ND_ECORRUPT, "%s does not parse or fails its CRC", path);
  }
  size_t cap = 1;
  for (char *c = body; c < tail; c++)
    cap += *c == ' ' || *c == '\n';
  l->bases = malloc(cap * sizeof *l->bases);
  l->first = malloc(cap);
  if (!l->bases || !l->first) {
    free(text);
    swap_list_free(l);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  int starts = 1;
  for (char *p = body; p < tail && l->n < cap;) {
    char *end;
    long long b = strtoll(p, &end, 10);
    if (end == p || b < 0 || (*end != ' ' && *end != '\n'))
      break;
    l->bases[l->n] = b;
    l->first[l->n++] = (uint8_t)starts;
    starts = *end == '\n';
    p = end + 1;
  }
  free(text);
  if (l->n == 0 || !l->first[0]) {
    swap_list_free(l);
    return nd_fail(ND_ECORRUPT, "%s names no segment", path);
  }
  return 0;
}

/* The .log last; every file before it may be missing from cleaning/
 * (then the old one is removed: it described the old .log). */
static const char *const seg_exts[] = {LAYOUT_INDEX, LAYOUT_TIMEINDEX,
                                       LAYOUT_TXNINDEX, LAYOUT_LOG};
#define SEG_EXTS (sizeof seg_exts / sizeof seg_exts[0])

/* Move the cleaned b0 from DIR/cleaning into DIR: the index files first,
 * the .log last, so that once the new .log is in place its indexes are
 * too (an index missing from cleaning/ removes the old one, which would
 * describe the old .log). Without a cleaned .log the move was done. */
static int swap_move(const char *dir, int64_t b0) {
  char tmp[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s/%s", dir, LAYOUT_CLEANING_DIR);
  segment_name(from, sizeof from, tmp, b0, LAYOUT_LOG);
  int e = file_exists(from);
  if (e <= 0)
    return e < 0 ? nd_fail_os(-e, "stat %s", from) : 0;
  for (size_t i = 0; i < SEG_EXTS; i++) {
    segment_name(from, sizeof from, tmp, b0, seg_exts[i]);
    segment_name(to, sizeof to, dir, b0, seg_exts[i]);
    e = file_rename(from, to);
    if (e == -ENOENT && i + 1 < SEG_EXTS)
      e = file_unlink(to) == -ENOENT ? 0 : 0;
    if (e)
      return nd_fail_os(-e, "cannot rename %s to %s", from, to);
  }
  return 0;
}

/* Unlink the replaced segments, all but each group's first (already
 * gone is fine). */
static int swap_unlink(const char *dir, const swap_list *l) {
  int rc = 0;
  for (size_t i = 0; i < l->n; i++)
    for (size_t x = 0; !l->first[i] && x < SEG_EXTS; x++) {
      char path[PATH_MAX];
      segment_name(path, sizeof path, dir, l->bases[i], seg_exts[x]);
      int e = file_unlink(path);
      if (e && e != -ENOENT && !rc)
        rc = nd_fail_os(-e, "cannot unlink %s", path);
    }
  return rc;
}

/* After the moves: make them durable, then drop the manifest. */
static int swap_finish(const char *dir, const nd_logger *lg) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANING_DIR);
  int e = stats_sync_dir(lg, path);
  if (e && e != -ENOENT)
    return nd_fail_os(-e, "fsync of directory %s", path);
  if ((e = stats_sync_dir(lg, dir)) != 0)
    return nd_fail_os(-e, "fsync of directory %s", dir);
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANER_SWAP);
  e = file_unlink(path);
  if (e && e != -ENOENT)
    return nd_fail_os(-e, "cannot unlink %s", path);
  if ((e = stats_sync_dir(lg, dir)) != 0)
    return nd_fail_os(-e, "fsync of directory %s", dir);
  return 0;
}

int cleaner_recover(const char *dir, int readonly, const nd_logger *log) {
  if (readonly)
    return 0;
  swap_list l;
  int rc = manifest_read(dir, &l);
  if (rc < 0)
    return rc;
  if (rc == 0) {
    for (size_t i = 0; !rc && i < l.n; i++)
      if (l.first[i])
        rc = swap_move(dir, l.bases[i]);
    if (!rc)
      rc = swap_unlink(dir, &l);
    if (!rc)
      rc = swap_finish(dir, log);
    if (!rc)
      nd_log(log, ND_LOG_INFO,
             "%s: finished a cleaner swap a crash interrupted (%zu segments "
             "from %020" PRId64 " replaced)",
             dir, l.n, l.bases[0]);
    swap_list_free(&l);
    if (rc)
      return rc;
  }
  /* Without a manifest, whatever is in cleaning/ was never committed. */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, LAYOUT_CLEANING_DIR);
  int e = file_remove_tree(path);
  return e ? nd_fail_os(-e, "cannot remove %s", path) : 0;
}

/* ---- the segments a cleaning sees --------------------------------------- */

typedef struct seg_ref {
  segment *seg;
  int64_t base, end; /* end: the next segment's base */
  uint64_t size;
  int64_t max_ts;
} seg_ref;

/* The sealed segments, first to last but the active one, cut before the
 * first one holding records younger than min.compaction.lag.ms. */
static int cleanable_refs(partition *p, const nd_topic_config *cfg,
                          int64_t now_ms, seg_ref **out, size_t *count) {
  pthread_rwlock_rdlock(&p->segs_lock);
  size_t n = p->nsegs ? p->nsegs - 1 : 0;
  seg_ref *v = n ? calloc(n, sizeof *v) : NULL;
  if (n && !v) {
    pthread_rwlock_unlock(&p->segs_lock);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  /* Kafka's firstUncleanableOffset includes the first unstable offset:
   * nothing at or after the LSO is cleaned (an open transaction's records
   * may yet be aborted), so a segment ending past it is left whole. */
  int64_t lso = partition_lso(p);
  size_t k = 0;
  for (; k < n; k++) {
    segment *s = p->segs[k];
    if (p->segs[k + 1]->base > lso)
      break;
    int64_t mts = atomic_load(&s->max_ts);
    if (cfg->min_compaction_lag_ms > 0 &&
        now_ms - mts < cfg->min_compaction_lag_ms)
      break;
    v[k].seg = s;
    v[k].base = s->base;
    v[k].end = p->segs[k + 1]->base;
    v[k].size = atomic_load(&s->size);
    v[k].max_ts = mts;
  }
  pthread_rwlock_unlock(&p->segs_lock);
  *out = v;
  *count = k;
  return 0;
}

static int64_t first_dirty_of(partition *p) {
  pthread_mutex_lock(&p->clean_stat_lock);
  if (p->first_dirty < 0) {
    checkpoint c = checkpoint_read(p->dir);
    p->first_dirty = c.first_dirty;
    p->last_clean_ms = c.last_clean_ms;
  }
  int64_t fd = p->first_dirty;
  pthread_mutex_unlock(&p->clean_stat_lock);
  return fd;
}

/* Clean and dirty bytes of the cleanable range given the checkpoint. */
static void dirty_bytes(const seg_ref *v, size_t n, int64_t first_dirty,
                        int64_t *clean, int64_t *dirty) {
  *clean = *dirty = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i].end <= first_dirty)
      *clean += (int64_t)v[i].size;
    else
      *dirty += (int64_t)v[i].size;
  }
}

/* The maxTimestamp of a segment's first batch (Kafka's
 * getFirstBatchTimestamp), or -1 if it cannot be read. */
static int64_t first_batch_ts(segment *seg) {
  uint8_t h[BATCH_HEADER_SIZE];
  int fd = segment_fd(seg);
  if (fd < 0)
    return -1;
  ssize_t got = file_pread_full(fd, h, sizeof h, 0);
  segment_unfd(seg);
  if (got != (ssize_t)sizeof h || batch_magic(h) != 2)
    return -1;
  return batch_max_timestamp(h);
}

/* max.compaction.lag.ms, as Kafka's LogCleanerManager judges it: due when
 * the first batch of a dirty sealed segment is older than the lag (its
 * records have waited that long to be compacted). */
static int lag_due(const seg_ref *v, size_t n, int64_t first_dirty,
                   const nd_topic_config *cfg, int64_t now_ms) {
  if (cfg->max_compaction_lag_ms <= 0 ||
      cfg->max_compaction_lag_ms == INT64_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i].end <= first_dirty || v[i].size == 0)
      continue;
    int64_t ts = first_batch_ts(v[i].seg);
    if (ts > 0 && now_ms - ts > cfg->max_compaction_lag_ms)
      return 1;
  }
  return 0;
}

/* Whether the partition wants cleaning: its dirty ratio reached
 * min.cleanable.dirty.ratio, a dirty record passed max.compaction.lag.ms,
 * or a kept tombstone's delete horizon passed. */
static int clean_due(partition *p, const seg_ref *v, size_t n,
                     int64_t first_dirty, int64_t clean_b, int64_t dirty_b,
                     const nd_topic_config *cfg, int64_t now_ms) {
  if (!n)
    return 0;
  pthread_mutex_lock(&p->clean_stat_lock);
  int64_t horizon = p->tomb_horizon_ms;
  pthread_mutex_unlock(&p->clean_stat_lock);
  if (horizon > 0 && now_ms >= horizon)
    return 1;
  if (dirty_b <= 0)
    return 0;
  double ratio = (double)dirty_b / (double)(clean_b + dirty_b);
  return ratio >= cfg->min_cleanable_dirty_ratio ||
         lag_due(v, n, first_dirty, cfg, now_ms);
}

/* ---- reading batches ---------------------------------------------------- */

/* Walk every whole batch of a segment's .log with fn, which returns 0 to
 * go on, 1 to stop, or an error code (its message set). */
typedef int (*batch_fn)(void *ctx, const uint8_t *b, size_t len);

static int walk_segment(segment *seg, uint64_t size, throttle *th, batch_fn fn,
                        void *ctx) {
  int fd = segment_fd(seg);
  if (fd < 0)
    return fd;
  /* A descriptor of its own: the cache may close the segment's. */
  int dfd = file_dup(fd);
  segment_unfd(seg);
  if (dfd < 0)
    return nd_fail_os(-dfd, "duplicating the descriptor of %s.log", seg->path);
  batch_cursor c;
  batch_cursor_fd(&c, dfd, 0, size, NULL, WRITE_CHUNK, BATCH_LEVEL_SANE);
  int rc = 0, got;
  while ((got = batch_cursor_next(&c)) == 1) {
    if ((got = batch_cursor_load(&c)) != 0)
      break;
    throttle_add(th, (int64_t)c.size);
    if ((rc = fn(ctx, c.batch, (size_t)c.size)) != 0)
      break;
  }
  uint64_t at = got == 0 ? c.stop_pos : c.pos;
  const char *why = c.why;
  int stop_end = c.stop == BATCH_STOP_END;
  batch_cursor_close(&c);
  file_close(dfd);
  if (rc)
    return rc < 0 ? rc : 0;
  if (got == 0 && !stop_end)
    return nd_fail(ND_ECORRUPT, "%s.log at byte %" PRIu64 ": %s", seg->path, at,
                   why ? why : "bad batch");
  if (got == ND_ENOMEM)
    return nd_fail(got, "out of memory reading %s.log", seg->path);
  if (got < 0)
    return got == ND_ECORRUPT
               ? nd_fail(got, "%s.log shrank under the cleaner", seg->path)
               : nd_fail_os(-got, "reading %s.log at byte %" PRIu64, seg->path,
                            at);
  return 0;
}

/* One record's fields, in place. */
typedef struct raw_record {
  const uint8_t *start, *end; /* the whole record, length varint first */
  const uint8_t *key, *value;
  size_t key_len, value_len;
  int64_t ts_delta, off_delta;
  uint8_t attrs;
  const uint8_t *headers; /* headerCount varint onwards */
} raw_record;

static int raw_next(const uint8_t **pp, const uint8_t *end, raw_record *r) {
  const uint8_t *p = *pp;
  int64_t len;
  r->start = p;
  if (varint_fast(&p, end, &len) || len <= 0 || len > end - p)
    return -1;
  const uint8_t *rend = p + len;
  r->end = rend;
  r->attrs = *p++;
  if (varint_fast(&p, rend, &r->ts_delta) ||
      varint_fast(&p, rend, &r->off_delta) ||
      record_read_bytes(&p, rend, &r->key, &r->key_len) ||
      record_read_bytes(&p, rend, &r->value, &r->value_len))
    return -1;
  r->headers = p;
  *pp = rend;
  return 0;
}

/* Records in the batches of v[0..n) ending at or after first_dirty, from
 * their headers; or an error. */
static int64_t count_records(const seg_ref *v, size_t n, int64_t first_dirty) {
  int64_t total = 0;
  uint8_t buf[HEADER_WALK_BYTES];
  for (size_t i = 0; i < n; i++) {
    if (v[i].end <= first_dirty)
      continue;
    int fd = segment_fd(v[i].seg);
    if (fd < 0)
      return fd;
    batch_cursor c;
    batch_cursor_fd(&c, fd, 0, v[i].size, buf, sizeof buf, BATCH_LEVEL_HEADER);
    int got;
    while ((got = batch_cursor_next(&c)) == 1)
      if (batch_next_offset(c.batch) > first_dirty)
        total += batch_record_count(c.batch);
    uint64_t at = c.pos;
    batch_cursor_close(&c);
    segment_unfd(v[i].seg);
    if (got < 0)
      return nd_fail_os(-got, "reading %s.log at byte %" PRIu64, v[i].seg->path,
                        at);
  }
  return total;
}

/* ---- transactions (Kafka's CleanedTransactionMetadata) ------------------
 * What a cleaning knows of the transactions it walks through: the aborted
 * transactions of the segments it reads (from their .txnindex), taken in
 * by first offset as the walk passes it. A batch of a producer with an
 * aborted transaction under way is that transaction's: dropped (and
 * never put in the offset map). A transaction marker may go when the walk
 * saw no batch of its transaction (the data is gone), once its delete
 * horizon (set the first time it is found so) has passed (KIP-534); an
 * ABORT marker that stays keeps its index entry, carried into the
 * cleaned segment's .txnindex. The state spans a whole pass (Kafka keeps
 * it per group of segments; a transaction crossing groups then keeps its
 * marker in nodata where Kafka would let it go). */

typedef struct txn_abort_open {
  txn_aborted t;
  int observed; /* a batch of it was walked */
} txn_abort_open;

typedef struct txn_track {
  partition *p;
  txn_aborted *ab; /* collected, by first offset from `next` on */
  size_t nab, next, abcap;
  txn_abort_open *open; /* aborted transactions under way, by producer */
  size_t nopen, opencap;
  int64_t *committed; /* producers with a batch of a transaction under way
                         that is not aborted */
  size_t ncommitted, comcap;
  txn_list *out; /* the cleaned segment's index, NULL in the map pass */
} txn_track;

static void track_free(txn_track *t) {
  free(t->ab);
  free(t->open);
  free(t->committed);
}

static int cmp_first(const void *a, const void *b) {
  int64_t x = ((const txn_aborted *)a)->first,
          y = ((const txn_aborted *)b)->first;
  return x < y ? -1 : x > y;
}

static int grow(void **v, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 8;
  void *nv = realloc(*v, nc * size);
  if (!nv)
    return nd_fail(ND_ENOMEM, "out of memory");
  *v = nv;
  *cap = nc;
  return 0;
}

/* Take in the aborted transactions that can hold batches of [base, end)
 * (Kafka's collectAbortedTransactions of the segment's range). */
static int track_collect(txn_track *t, int64_t base, int64_t end) {
  txn_aborted *v;
  size_t n;
  int rc = partition_aborted_collect(t->p, base, end, &v, &n);
  for (size_t i = 0; !rc && i < n; i++) {
    int dup = 0;
    for (size_t j = 0; j < t->nab && !dup; j++)
      dup = t->ab[j].pid == v[i].pid && t->ab[j].first == v[i].first;
    if (!dup && !(rc = grow((void **)&t->ab, &t->abcap, t->nab, sizeof *v)))
      t->ab[t->nab++] = v[i];
  }
  free(v);
  if (!rc && t->nab > t->next + 1)
    qsort(t->ab + t->next, t->nab - t->next, sizeof *t->ab, cmp_first);
  return rc;
}

static txn_abort_open *open_abort(txn_track *t, int64_t pid) {
  for (size_t i = 0; i < t->nopen; i++)
    if (t->open[i].t.pid == pid)
      return &t->open[i];
  return NULL;
}

/* Aborted transactions whose first offset is at or below `offset` are
 * under way. */
static int track_consume(txn_track *t, int64_t offset) {
  while (t->next < t->nab && t->ab[t->next].first <= offset) {
    const txn_aborted *a = &t->ab[t->next++];
    if (open_abort(t, a->pid))
      continue;
    int rc = grow((void **)&t->open, &t->opencap, t->nopen, sizeof *t->open);
    if (rc)
      return rc;
    t->open[t->nopen++] = (txn_abort_open){*a, 0};
  }
  return 0;
}

/* A data batch: 1 if it belongs to an aborted transaction (drop it), 0 if
 * not, or an error. */
static int track_batch(txn_track *t, const uint8_t *b) {
  int rc = track_consume(t, batch_last_offset(b));
  if (rc || !batch_is_transactional(b))
    return rc;
  int64_t pid = batch_producer_id(b);
  txn_abort_open *o = open_abort(t, pid);
  if (o) {
    o->observed = 1;
    return 1;
  }
  for (size_t i = 0; i < t->ncommitted; i++)
    if (t->committed[i] == pid)
      return 0;
  if ((rc = grow((void **)&t->committed, &t->comcap, t->ncommitted,
                 sizeof *t->committed)) != 0)
    return rc;
  t->committed[t->ncommitted++] = pid;
  return 0;
}

/* A control batch: 1 if the marker may go (no batch of its transaction
 * was walked), 0 if it stays, or an error. An ABORT marker that stays
 * puts its entry into the cleaned index. */
static int track_control(txn_track *t, const uint8_t *b, size_t len) {
  int rc = track_consume(t, batch_last_offset(b));
  if (rc)
    return rc;
  int type = batch_control_type(b, len);
  int64_t pid = batch_producer_id(b);
  if (type == 0) {
    txn_abort_open *o = open_abort(t, pid);
    if (!o)
      return 1;
    txn_abort_open gone = *o;
    *o = t->open[--t->nopen];
    if (!gone.observed)
      return 1;
    if (t->out && txnindex_push(t->out, &gone.t) != 0)
      return nd_fail(ND_ENOMEM, "out of memory");
    return 0;
  }
  if (type == 1) {
    for (size_t i = 0; i < t->ncommitted; i++)
      if (t->committed[i] == pid) {
        t->committed[i] = t->committed[--t->ncommitted];
        return 0;
      }
    return 1;
  }
  /* Not a marker (an emptied control batch): nothing to keep it for. */
  return 1;
}

/* ---- pass 1: the offset map --------------------------------------------- */

typedef struct map_ctx {
  const _Atomic int *stop; /* the store is closing */
  offset_map *map;
  int64_t from;    /* first dirty offset */
  int64_t map_end; /* offset after the last batch taken */
  int full;
  int64_t records, keys_before;
  nd_decompress_fn dec;
  int codec_skipped;
  txn_track *txn;
} map_ctx;

static int map_batch(void *vctx, const uint8_t *b, size_t len) {
  map_ctx *m = vctx;
  if (m->full)
    return 1;
  if (m->stop && atomic_load(m->stop))
    return nd_fail(ND_EFAILED, "cleaning stopped: the store is closing");
  int64_t next = batch_next_offset(b);
  if (next <= m->from)
    return 0;
  int32_t count = batch_record_count(b);
  int rc = batch_is_control(b) ? track_control(m->txn, b, len)
                               : track_batch(m->txn, b);
  if (rc < 0)
    return rc;
  /* An aborted transaction's records go: they must not hide older
   * records of their keys (Kafka leaves them out of the map too). */
  if (batch_is_control(b) || count == 0 || (rc == 1 && !batch_is_control(b))) {
    m->map_end = next;
    return 0;
  }
  if (m->map->used + (size_t)count > offset_map_capacity(m->map)) {
    if (m->map->used == 0) {
      return nd_fail(ND_ENOMEM,
                     "the cleaner's offset map holds %zu keys, a batch at "
                     "offset %" PRId64
                     " has %d records: raise cleaner_dedupe_buffer_bytes",
                     offset_map_capacity(m->map), batch_base_offset(b),
                     (int)count);
    }
    m->full = 1;
    return 1;
  }
  const uint8_t *area;
  size_t alen;
  void *owned;
  rc = batch_record_area(b, len, m->dec, &area, &alen, &owned);
  if (rc == ND_ECODEC) {
    /* Kept whole by the rewrite: its keys are not in the map, so older
     * records of those keys elsewhere stay too (nothing lost). */
    m->codec_skipped = 1;
    m->map_end = next;
    return 0;
  }
  if (rc)
    return nd_fail(rc, "cannot decompress the batch at offset %" PRId64,
                   batch_base_offset(b));
  const uint8_t *p = area, *end = area + alen;
  int64_t base = batch_base_offset(b);
  for (int32_t i = 0; i < count && p < end; i++) {
    raw_record r;
    if (raw_next(&p, end, &r)) {
      free(owned);
      return nd_fail(ND_ECORRUPT, "bad record in the batch at offset %" PRId64,
                     base);
    }
    int64_t off = base + r.off_delta;
    m->records++;
    if (r.key && off >= m->from)
      offset_map_put(m->map, r.key, r.key_len, off);
  }
  free(owned);
  m->map_end = next;
  return 0;
}

/* ---- pass 2: the rewrite ------------------------------------------------ */

typedef struct prod_last {
  int64_t pid, last_offset;
} prod_last;

static int cmp_prod(const void *a, const void *b) {
  int64_t x = ((const prod_last *)a)->pid, y = ((const prod_last *)b)->pid;
  return x < y ? -1 : x > y;
}

typedef struct out_seg {
  segment *seg;
  uint8_t *buf;
  size_t len, cap;
  uint64_t file_pos; /* bytes of buf already written */
  int32_t interval;
} out_seg;

typedef struct rewrite_ctx {
  const _Atomic int *stop;
  const offset_map *map;
  int64_t map_end;
  int64_t now_ms;
  const nd_topic_config *cfg;
  const nd_options *opts;
  const prod_last *prods;
  size_t nprods;
  int64_t log_end; /* the high watermark when the pass began */
  out_seg *out;
  throttle *th;
  nd_clean_stats *st;
  int64_t codec_kept;
  int64_t min_horizon; /* earliest horizon of kept tombstones, 0 none */
  uint8_t *scratch;    /* the rebuilt batch */
  size_t scratch_cap;
  txn_track *txn;
} rewrite_ctx;

static int out_flush(out_seg *o, throttle *th) {
  if (!o->len)
    return 0;
  int fd = segment_fd(o->seg);
  if (fd < 0)
    return fd;
  int rc = file_pwrite_all(fd, o->buf, o->len, (off_t)o->file_pos);
  segment_unfd(o->seg);
  if (rc)
    return nd_fail_os(-rc, "cannot write %s.log", o->seg->path);
  throttle_add(th, (int64_t)o->len);
  o->file_pos += o->len;
  o->len = 0;
  return 0;
}

static int out_batch(out_seg *o, const uint8_t *b, size_t len, throttle *th) {
  if (o->len + len > o->cap) {
    int rc = out_flush(o, th);
    if (rc)
      return rc;
    if (len > o->cap) {
      uint8_t *nb = realloc(o->buf, len);
      if (!nb)
        return nd_fail(ND_ENOMEM, "out of memory");
      o->buf = nb;
      o->cap = len;
    }
  }
  int rc = segment_pin_maps(o->seg);
  if (rc)
    return rc;
  segment_index_batch(o->seg, o->file_pos + o->len, batch_base_offset(b),
                      batch_max_timestamp(b), len, o->interval);
  segment_unpin_maps(o->seg);
  memcpy(o->buf + o->len, b, len);
  o->len += len;
  return 0;
}

static int is_last_of_producer(const rewrite_ctx *w, const uint8_t *b) {
  int64_t pid = batch_producer_id(b);
  if (pid < 0 || !w->nprods)
    return 0;
  prod_last key = {pid, 0};
  const prod_last *e = bsearch(&key, w->prods, w->nprods, sizeof key, cmp_prod);
  return e && e->last_offset == batch_last_offset(b);
}

static int scratch_fit(rewrite_ctx *w, size_t need) {
  if (need <= w->scratch_cap)
    return 0;
  uint8_t *n = realloc(w->scratch, need);
  if (!n)
    return nd_fail(ND_ENOMEM, "out of memory");
  w->scratch = n;
  w->scratch_cap = need;
  return 0;
}

/* The level a topic asks for when its batches are encoded with codec. */
static int level_of(const nd_topic_config *cfg, int codec) {
  return codec == ND_CODEC_GZIP   ? cfg->gzip_level
         : codec == ND_CODEC_LZ4  ? cfg->lz4_level
         : codec == ND_CODEC_ZSTD ? cfg->zstd_level
                                  : 0;
}

/* Kafka's LogCleaner.shouldRetainRecord: past the map's end everything
 * stays; below it a keyed record stays if it is its key's latest and, if
 * a tombstone, while its batch's delete horizon (horizon, -1 for none
 * yet) has not passed; a record without a key goes. */
static int keep_record(const rewrite_ctx *w, int64_t off, const raw_record *r,
                       int64_t horizon, int *expired) {
  *expired = 0;
  if (off >= w->map_end)
    return 1;
  if (!r->key)
    return 0;
  int64_t latest = offset_map_get(w->map, r->key, r->key_len);
  if (latest >= 0 && off < latest)
    return 0;
  *expired = !r->value && horizon >= 0 && w->now_ms >= horizon;
  return !*expired;
}

/* Kafka's RETAIN_EMPTY: the header alone, uncompressed, timestamps both
 * the batch's maxTimestamp (DefaultRecordBatch.writeEmptyHeader). */
static int write_empty(rewrite_ctx *w, const uint8_t *b) {
  int rc = scratch_fit(w, BATCH_HEADER_SIZE);
  if (rc)
    return rc;
  memcpy(w->scratch, b, BATCH_HEADER_SIZE);
  int64_t mts = batch_max_timestamp(b);
  put_be32(w->scratch + BATCH_AT_LENGTH,
           BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD);
  put_be16(w->scratch + BATCH_AT_ATTRIBUTES,
           (uint16_t)(batch_attributes(b) &
                      ~(BATCH_ATTR_CODEC_MASK | BATCH_ATTR_DELETE_HORIZON)));
  put_be64(w->scratch + BATCH_AT_BASE_TIMESTAMP, (uint64_t)mts);
  put_be64(w->scratch + BATCH_AT_MAX_TIMESTAMP, (uint64_t)mts);
  put_be32(w->scratch + BATCH_AT_RECORD_COUNT, 0);
  batch_update_crc(w->scratch, BATCH_HEADER_SIZE);
  return out_batch(w->out, w->scratch, BATCH_HEADER_SIZE, w->th);
}

/* A batch none of whose records stays: dropped, unless it is the last
 * batch of its producer (kept empty, so the producer's sequence and epoch
 * survive) or the log's last batch. The log's last batch stays too,
 * empty: Kafka never cleans the end of a log (its active segment holds
 * the last batch, as it rolls only on append); nodata also rolls an idle
 * segment on segment.ms, and without this header a consumer positioned
 * before the end would find no batch up to the high watermark and fetch
 * there forever. */
static int drop_batch(rewrite_ctx *w, const uint8_t *b) {
  if (!is_last_of_producer(w, b) && batch_next_offset(b) < w->log_end)
    return 0;
  return write_empty(w, b);
}

static int rewrite_batch(void *vctx, const uint8_t *b, size_t len) {
  rewrite_ctx *w = vctx;
  nd_clean_stats *st = w->st;
  if (w->stop && atomic_load(w->stop))
    return nd_fail(ND_EFAILED, "cleaning stopped: the store is closing");
  int32_t count = batch_record_count(b);
  st->records_in += count;
  int ctl = batch_is_control(b);
  int16_t attrs = batch_attributes(b);
  int has_horizon = (attrs & BATCH_ATTR_DELETE_HORIZON) != 0;
  int64_t horizon = has_horizon ? batch_base_timestamp(b) : -1;
  /* Transactions (Kafka's checkBatchRetention): an aborted transaction's
   * batch goes whole; a marker whose transaction left no batch here goes
   * once its delete horizon has passed, and is given one if it has none. */
  int can = ctl ? track_control(w->txn, b, len) : track_batch(w->txn, b);
  if (can < 0)
    return can;
  int discard = ctl ? can && has_horizon && w->now_ms >= horizon : can;
  int mark_horizon = ctl && can && !has_horizon;
  if (discard)
    return drop_batch(w, b);
  if (ctl && !mark_horizon) {
    st->records_kept += count;
    return out_batch(w->out, b, len, w->th);
  }
  const uint8_t *area;
  size_t alen;
  void *owned;
  int rc = batch_record_area(b, len, w->opts->decompress, &area, &alen, &owned);
  if (rc == ND_ECODEC ||
      (!rc && batch_codec(b) != ND_CODEC_NONE && !w->opts->recompress)) {
    free(owned);
    /* No codec hooks: kept whole, never dropped. */
    w->codec_kept++;
    st->records_kept += count;
    return out_batch(w->out, b, len, w->th);
  }
  if (rc)
    return nd_fail(rc, "cannot decompress the batch at offset %" PRId64,
                   batch_base_offset(b));
  int64_t base = batch_base_offset(b);
  int log_append = batch_is_log_append_time(b);
  int64_t base_ts = batch_base_timestamp(b);
  /* First walk: which records stay. */
  const uint8_t *p = area, *end = area + alen;
  int32_t kept = 0;
  int tombstones = 0;
  int64_t max_ts = -1;
  size_t kept_bytes = 0;
  for (int32_t i = 0; i < count; i++) {
    raw_record r;
    if (raw_next(&p, end, &r)) {
      free(owned);
      return nd_fail(ND_ECORRUPT, "bad record in the batch at offset %" PRId64,
                     base);
    }
    int expired = 0;
    if (!ctl && !keep_record(w, base + r.off_delta, &r, horizon, &expired)) {
      st->tombstones_removed += expired;
      continue;
    }
    kept++;
    kept_bytes += (size_t)(r.end - r.start);
    tombstones |= !r.value;
    int64_t ts = base_ts + r.ts_delta;
    if (ts > max_ts)
      max_ts = ts;
  }
  int set_horizon = (tombstones || mark_horizon) && !has_horizon;
  st->records_kept += kept;
  if (tombstones || mark_horizon) {
    int64_t h = set_horizon ? w->now_ms + w->cfg->delete_retention_ms : horizon;
    if (!w->min_horizon || h < w->min_horizon)
      w->min_horizon = h;
  }
  if (kept == count && !set_horizon) {
    free(owned);
    return out_batch(w->out, b, len, w->th);
  }
  if (kept == 0) {
    free(owned);
    return drop_batch(w, b);
  }
  /* Rebuild: the survivors, re-encoded when the base timestamp moves to
   * the delete horizon (their timestamps stay: the deltas change). */
  int64_t new_base_ts =
      set_horizon ? w->now_ms + w->cfg->delete_retention_ms : base_ts;
  size_t need = BATCH_HEADER_SIZE + kept_bytes + (size_t)kept * 20;
  if ((rc = scratch_fit(w, need)) != 0) {
    free(owned);
    return rc;
  }
  uint8_t *o = w->scratch;
  memcpy(o, b, BATCH_HEADER_SIZE);
  size_t pos = BATCH_HEADER_SIZE;
  p = area;
  for (int32_t i = 0; i < count; i++) {
    raw_record r;
    raw_next(&p, end, &r);
    int expired;
    if (!ctl && !keep_record(w, base + r.off_delta, &r, horizon, &expired))
      continue;
    if (new_base_ts == base_ts) {
      memcpy(o + pos, r.start, (size_t)(r.end - r.start));
      pos += (size_t)(r.end - r.start);
      continue;
    }
    /* attributes | tsDelta | the rest as it was (offsetDelta onwards). */
    int64_t ts = base_ts + r.ts_delta;
    const uint8_t *q = r.start;
    int64_t dummy;
    varint_fast(&q, r.end, &dummy); /* length */
    q++;                            /* attributes */
    varint_fast(&q, r.end, &dummy); /* tsDelta */
    uint8_t head[1 + 10];
    size_t hl = 0;
    head[hl++] = r.attrs;
    hl += varint_write(head + hl, ts - new_base_ts);
    size_t rest = (size_t)(r.end - q);
    pos += varint_write(o + pos, (int64_t)(hl + rest));
    memcpy(o + pos, head, hl);
    pos += hl;
    memcpy(o + pos, q, rest);
    pos += rest;
  }
  free(owned);
  int16_t nattrs =
      (int16_t)(attrs | (set_horizon ? BATCH_ATTR_DELETE_HORIZON : 0));
  put_be16(o + BATCH_AT_ATTRIBUTES,
           (uint16_t)(nattrs & ~BATCH_ATTR_CODEC_MASK));
  put_be64(o + BATCH_AT_BASE_TIMESTAMP, (uint64_t)new_base_ts);
  if (!log_append)
    put_be64(o + BATCH_AT_MAX_TIMESTAMP, (uint64_t)max_ts);
  put_be32(o + BATCH_AT_RECORD_COUNT, (uint32_t)kept);
  put_be32(o + BATCH_AT_LENGTH, (uint32_t)(pos - BATCH_LOG_OVERHEAD));
  batch_update_crc(o, pos);
  int codec = batch_codec(b);
  if (codec == ND_CODEC_NONE)
    return out_batch(w->out, o, pos, w->th);
  void *cb = NULL;
  size_t clen = 0;
  rc = w->opts->recompress(o, pos, codec, level_of(w->cfg, codec), &cb, &clen);
  if (rc)
    return nd_fail(rc, "cannot recompress the batch at offset %" PRId64, base);
  /* The hook sets the codec bits; the horizon bit is ours to keep. */
  uint8_t *c8 = cb;
  if (set_horizon || has_horizon) {
    put_be16(c8 + BATCH_AT_ATTRIBUTES,
             (uint16_t)(batch_attributes(c8) | BATCH_ATTR_DELETE_HORIZON));
    batch_update_crc(c8, clen);
  }
  rc = out_batch(w->out, c8, clen, w->th);
  free(cb);
  return rc;
}

/* ---- one group: write, commit, swap ------------------------------------- */

static void tmp_dir(const partition *p, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", p->dir, LAYOUT_CLEANING_DIR);
}

/* Write the cleaned group v[0..n) into DIR/cleaning/<b0>.*, sealed and
 * fdatasync'd. */
static int write_group(partition *p, const seg_ref *v, size_t n, rewrite_ctx *w,
                       segment **out) {
  char tmp[PATH_MAX];
  tmp_dir(p, tmp, sizeof tmp);
  int rc = file_mkdir(tmp);
  if (rc && rc != -EEXIST)
    return nd_fail_os(-rc, "cannot create %s", tmp);
  segment *ns;
  rc = segment_create(p->caches, tmp, v[0].base,
                      (size_t)w->cfg->segment_index_bytes, w->now_ms, &ns);
  if (rc)
    return rc;
  out_seg o = {ns, NULL, 0, 0, 0, w->cfg->index_interval_bytes};
  o.buf = malloc(WRITE_CHUNK);
  o.cap = o.buf ? WRITE_CHUNK : 0;
  if (!o.buf)
    rc = nd_fail(ND_ENOMEM, "out of memory");
  w->out = &o;
  w->txn->out = &ns->aborted;
  for (size_t i = 0; !rc && i < n; i++) {
    rc = track_collect(w->txn, v[i].base, v[i].end);
    if (!rc)
      rc = walk_segment(v[i].seg, v[i].size, w->th, rewrite_batch, w);
    if (!rc)
      w->st->bytes_in += (int64_t)v[i].size;
  }
  if (!rc)
    rc = out_flush(&o, w->th);
  free(o.buf);
  w->out = NULL;
  w->txn->out = NULL;
  if (!rc) {
    segment_set_size(ns, o.file_pos);
    atomic_store(&ns->next_offset, v[n - 1].end);
    rc = segment_seal(ns);
  }
  /* The entries of the ABORT markers kept, durable before the swap's
   * commit point as the .log is. */
  if (!rc && ns->aborted.n) {
    rc = txnindex_write(&ns->aborted, ns->path);
    ns->aborted.dirty = 1;
    if (!rc)
      rc = txnindex_sync(&ns->aborted, ns->path, &ns->caches->log);
  }
  if (rc) {
    segment_close(ns, 1);
    return rc;
  }
  w->st->bytes_out += (int64_t)o.file_pos;
  *out = ns;
  return 0;
}

/* One group of a pass: old segments v[at .. at + k), cleaned into a
 * segment (written and closed) whose largest timestamp is max_ts. */
typedef struct group {
  size_t at, k;
  segment *ns; /* sealed, in DIR/cleaning/ until the swap moves it */
} group;

/* Commit and swap every group of a pass at once, so that a pass is
 * all-or-nothing: after a crash at any point the partition holds its old
 * segments or all the new ones, and so does the running process whatever
 * fails after the commit: each cleaned segment's object is made before it
 * and names its files where they are (DIR/cleaning/ until its move, DIR
 * after), so a failed move leaves a segment that still reads whole, and
 * the next open finishes the move. On failure before the commit nothing
 * changed. */
static int swap_pass(partition *p, const seg_ref *v, group *g, size_t ng) {
  size_t n = g[ng - 1].at + g[ng - 1].k - g[0].at;
  swap_list l = {malloc(n * sizeof *l.bases), malloc(n), 0};
  segment **old = malloc(n * sizeof *old);
  if (!l.bases || !l.first || !old) {
    swap_list_free(&l);
    free(old);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  for (size_t j = 0; j < ng; j++)
    for (size_t i = g[j].at; i < g[j].at + g[j].k; i++) {
      l.first[l.n] = i == g[j].at;
      old[l.n] = v[i].seg;
      l.bases[l.n++] = v[i].base;
    }
  int rc = manifest_write(p->dir, &l);
  if (rc) {
    swap_list_free(&l);
    free(old);
    return rc;
  }
  /* Committed. The moves and the list change together, so that no one
   * looks a segment up between them: readers take segs_lock, and the
   * appender reads the list under append_lock alone (partition.h). */
  pthread_mutex_lock(&p->append_lock);
  pthread_rwlock_wrlock(&p->segs_lock);
  size_t at = 0;
  while (at < p->nsegs && p->segs[at] != old[0])
    at++;
  for (size_t j = 0; j < ng; j++) {
    segment *ns = g[j].ns;
    int e = rc ? 0 : swap_move(p->dir, ns->base);
    if (!rc && !e) /* the final name is shorter: it fits */
      segment_name(ns->path, strlen(ns->path) + 1, p->dir, ns->base, "");
    else if (!rc)
      rc = e;
    p->segs[at] = ns;
    g[j].ns = NULL;
    memmove(p->segs + at + 1, p->segs + at + g[j].k,
            (p->nsegs - at - g[j].k) * sizeof *p->segs);
    p->nsegs -= g[j].k - 1;
    at++;
  }
  pthread_rwlock_unlock(&p->segs_lock);
  pthread_mutex_unlock(&p->append_lock);
  /* The replaced segments: their paths may name the new files now, so
   * they are closed without touching files by name. */
  for (size_t i = 0; i < n; i++) {
    atomic_store(&old[i]->index_bad, 0);
    segment_close(old[i], 0);
  }
  if (!rc)
    rc = swap_unlink(p->dir, &l);
  if (!rc)
    rc = swap_finish(p->dir, p->log);
  swap_list_free(&l);
  free(old);
  return rc;
}

/* ---- one cleaning ------------------------------------------------------- */

/* Consecutive segments from v[0] whose sizes add up to at most
 * segment.bytes and whose offsets fit one segment's index (Kafka's
 * groupSegmentsBySize). */
static size_t group_len(const seg_ref *v, size_t n,
                        const nd_topic_config *cfg) {
  size_t k = 1;
  uint64_t total = v[0].size;
  size_t oidx = sidx_count(&v[0].seg->oidx), tidx = sidx_count(&v[0].seg->tidx);
  size_t omax = (size_t)cfg->segment_index_bytes / 8,
         tmax = (size_t)cfg->segment_index_bytes / 12;
  while (k < n && total + v[k].size <= (uint64_t)cfg->segment_bytes &&
         v[k].end - v[0].base <= (int64_t)INT32_MAX &&
         oidx + sidx_count(&v[k].seg->oidx) + 2 < omax &&
         tidx + sidx_count(&v[k].seg->tidx) + 2 < tmax) {
    total += v[k].size;
    oidx += sidx_count(&v[k].seg->oidx);
    tidx += sidx_count(&v[k].seg->tidx);
    k++;
  }
  return k;
}

static int producers_last(partition *p, prod_last **out, size_t *n) {
  pthread_mutex_lock(&p->append_lock);
  size_t c = p->producers.count;
  prod_last *v = c ? malloc(c * sizeof *v) : NULL;
  for (size_t i = 0; v && i < c; i++) {
    const producer_entry *e = &p->producers.entries[i];
    v[i].pid = e->pid;
    /* Kafka's lastRecordsOfActiveProducers: its last data batch stays,
     * even emptied (its sequence); after a marker's epoch bump it keeps
     * no batch, and the marker (its epoch) stays instead. */
    v[i].last_offset = e->n ? e->batches[e->n - 1].last_offset : e->last_offset;
  }
  pthread_mutex_unlock(&p->append_lock);
  if (c && !v)
    return nd_fail(ND_ENOMEM, "out of memory");
  if (c > 1)
    qsort(v, c, sizeof *v, cmp_prod);
  *out = v;
  *n = c;
  return 0;
}

static int clean_pass(partition *p, const nd_topic_config *cfg,
                      const nd_options *opts, const _Atomic int *stop,
                      int64_t now_ms, offset_map *map, int64_t from,
                      int64_t cl_end, throttle *th, nd_clean_stats *st,
                      int64_t *map_end, int64_t *codec_kept,
                      int64_t *min_horizon) {
  seg_ref *v;
  size_t n;
  int rc = cleanable_refs(p, cfg, now_ms, &v, &n);
  if (rc)
    return rc;
  while (n && v[n - 1].base >= cl_end)
    n--;
  txn_track mt = {.p = p};
  map_ctx m = {stop, map, from, from, 0, 0, 0, opts->decompress, 0, &mt};
  offset_map_clear(map);
  for (size_t i = 0; i < n && !m.full; i++) {
    if (v[i].end <= from)
      continue;
    rc = track_collect(&mt, v[i].base, v[i].end);
    if (!rc)
      rc = walk_segment(v[i].seg, v[i].size, th, map_batch, &m);
    if (rc) {
      track_free(&mt);
      free(v);
      return rc;
    }
    if (!m.full)
      m.map_end = v[i].end;
  }
  track_free(&mt);
  st->keys += (int64_t)map->used;
  *map_end = m.map_end;
  prod_last *prods = NULL;
  size_t nprods = 0;
  if ((rc = producers_last(p, &prods, &nprods)) != 0) {
    free(v);
    return rc;
  }
  /* Before anything is swapped: the segments up to the map's end may
   * get holes (recovery must know). */
  if (m.map_end > from) {
    pthread_mutex_lock(&p->clean_stat_lock);
    checkpoint c = {from, m.map_end, p->last_clean_ms};
    pthread_mutex_unlock(&p->clean_stat_lock);
    rc = checkpoint_write(p->dir, c);
  }
  txn_track wt = {.p = p};
  rewrite_ctx w = {.txn = &wt,
                   .stop = stop,
                   .map = map,
                   .map_end = m.map_end,
                   .now_ms = now_ms,
                   .cfg = cfg,
                   .opts = opts,
                   .prods = prods,
                   .nprods = nprods,
                   .log_end = atomic_load(&p->hw),
                   .th = th,
                   .st = st};
  /* Write every group, then swap them all (swap_pass). */
  size_t upto = 0;
  while (upto < n && v[upto].base < m.map_end)
    upto++;
  group *g = malloc((upto ? upto : 1) * sizeof *g);
  size_t ng = 0;
  if (!g && !rc)
    rc = nd_fail(ND_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < upto;) {
    size_t k = group_len(v + i, upto - i, cfg);
    segment *ns;
    rc = write_group(p, v + i, k, &w, &ns);
    if (rc)
      break;
    atomic_store(&ns->next_offset, v[i + k - 1].end);
    g[ng++] = (group){i, k, ns};
    i += k;
  }
  if (!rc && ng)
    rc = swap_pass(p, v, g, ng);
  if (!rc && ng) {
    /* The snapshot counts each segment's aborted-transaction entries:
     * renew it for the new segments, or the next unclean open would find
     * the counts off and rebuild the whole state from the log. */
    pthread_mutex_lock(&p->append_lock);
    rc = partition_snapshot_save(p);
    pthread_mutex_unlock(&p->append_lock);
  }
  if (!rc) {
    st->segments_in += (int32_t)upto;
    st->segments_out += (int32_t)ng;
  }
  for (size_t j = 0; j < ng; j++)
    if (g[j].ns) /* not swapped in: uncommitted */
      segment_close(g[j].ns, 1);
  free(g);
  if (rc) {
    /* Uncommitted (no manifest): the cleaned files go. */
    char tmp[PATH_MAX], path[PATH_MAX];
    tmp_dir(p, tmp, sizeof tmp);
    snprintf(path, sizeof path, "%s/%s", p->dir, LAYOUT_CLEANER_SWAP);
    if (file_exists(path) == 0)
      file_remove_tree(tmp);
  }
  *codec_kept += w.codec_kept;
  *min_horizon = w.min_horizon;
  track_free(&wt);
  free(w.scratch);
  free(prods);
  free(v);
  return rc;
}

int partition_clean(partition *p, const char *tname, const nd_topic_config *cfg,
                    const nd_options *opts, const nd_logger *log,
                    const _Atomic int *stop, int64_t now_ms, unsigned flags,
                    nd_clean_stats *stats) {
  nd_clean_stats st;
  memset(&st, 0, sizeof st);
  if (stats)
    memset(stats, 0, sizeof *stats);
  if (!(cfg->cleanup_policy & ND_CLEANUP_COMPACT) || p->offline)
    return 0;
  if (p->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  if (atomic_load(&p->failed))
    return nd_fail(ND_EFAILED, "partition %s failed after an I/O error",
                   p->dir);
  int64_t t0 = mono_us();
  pthread_mutex_lock(&p->clean_lock);
  int64_t first_dirty = first_dirty_of(p);
  st.first_dirty_before = st.first_dirty_after = first_dirty;
  seg_ref *v;
  size_t n;
  int rc = cleanable_refs(p, cfg, now_ms, &v, &n);
  if (rc) {
    pthread_mutex_unlock(&p->clean_lock);
    return rc;
  }
  int64_t clean_b, dirty_b;
  if (n && first_dirty < v[0].base)
    first_dirty = v[0].base;
  dirty_bytes(v, n, first_dirty, &clean_b, &dirty_b);
  int64_t cl_end = n ? v[n - 1].end : 0;
  int due = (flags & ND_CLEAN_FORCE) ||
            clean_due(p, v, n, first_dirty, clean_b, dirty_b, cfg, now_ms);
  /* The map is sized to the dirty part's records, counted from the batch
   * headers (a walk that reads no record data). */
  int64_t records = due ? count_records(v, n, first_dirty) : 0;
  free(v);
  if (!n || !due || records < 0) {
    pthread_mutex_unlock(&p->clean_lock);
    if (stats)
      *stats = st;
    return records < 0 ? (int)records : 0;
  }
  int64_t budget = opts->cleaner_dedupe_buffer_bytes > 0
                       ? opts->cleaner_dedupe_buffer_bytes
                       : DEFAULT_DEDUPE_BYTES;
  offset_map map;
  rc = offset_map_init(&map, records + 1, budget);
  throttle th = {opts->cleaner_io_max_bytes_per_second, mono_us(), 0};
  int64_t codec_kept = 0, min_horizon = 0;
  /* One pass at least: with nothing dirty (forced, or a tombstone
   * horizon passed) it rewrites the clean part for the tombstones. */
  while (!rc) {
    int64_t map_end = first_dirty;
    rc = clean_pass(p, cfg, opts, stop, now_ms, &map, first_dirty, cl_end, &th,
                    &st, &map_end, &codec_kept, &min_horizon);
    if (rc)
      break;
    st.passes++;
    int progress = map_end > first_dirty;
    if (progress) {
      first_dirty = map_end;
    }
    rc = checkpoint_write(p->dir,
                          (checkpoint){first_dirty, first_dirty, now_ms});
    pthread_mutex_lock(&p->clean_stat_lock);
    p->first_dirty = first_dirty;
    p->last_clean_ms = now_ms;
    pthread_mutex_unlock(&p->clean_stat_lock);
    if (!progress || first_dirty >= cl_end)
      break;
  }
  if (!rc) {
    pthread_mutex_lock(&p->clean_stat_lock);
    p->tomb_horizon_ms = min_horizon;
    pthread_mutex_unlock(&p->clean_stat_lock);
  }
  offset_map_free(&map);
  st.cleaned = st.passes > 0;
  st.first_dirty_after = first_dirty;
  st.duration_us = mono_us() - t0;
  if (codec_kept && !p->clean_codec_warned) {
    p->clean_codec_warned = 1;
    nd_log(log, ND_LOG_WARN,
           "cleaner: %s-%d: %" PRId64 " compressed batches kept whole: the "
           "store has no codec hooks (nd_options.decompress, recompress)",
           tname, (int)p->id, codec_kept);
  }
  if (st.cleaned) {
    double secs = (double)st.duration_us / 1e6;
    nd_log(log, ND_LOG_INFO,
           "cleaner: cleaned %s-%d: %d segments -> %d in %d passes, %" PRId64
           " -> %" PRId64 " bytes, %" PRId64 " -> %" PRId64 " records, %" PRId64
           " keys, %" PRId64 " tombstones removed, %.3f s, %.1f MB/s",
           tname, (int)p->id, (int)st.segments_in, (int)st.segments_out,
           (int)st.passes, st.bytes_in, st.bytes_out, st.records_in,
           st.records_kept, st.keys, st.tombstones_removed, secs,
           secs > 0 ? (double)st.bytes_in / 1e6 / secs : 0.0);
    pthread_mutex_lock(&p->clean_stat_lock);
    p->last_clean_ms = now_ms;
    p->last_clean = st;
    pthread_mutex_unlock(&p->clean_stat_lock);
  }
  pthread_mutex_unlock(&p->clean_lock);
  /* What a stop abandoned is no failure: nothing of it was committed. */
  if (rc && !(stop && atomic_load(stop)))
    STATS_ADD(log, cleaner_errors, 1);
  STATS_ADD(log, cleaner_passes, (uint64_t)st.passes);
  STATS_ADD(log, cleaner_bytes_read, (uint64_t)st.bytes_in);
  STATS_ADD(log, cleaner_bytes_written, (uint64_t)st.bytes_out);
  STATS_ADD(log, cleaner_records_removed,
            (uint64_t)(st.records_in - st.records_kept));
  if (stats)
    *stats = st;
  return rc;
}

void partition_clean_status(partition *p, const nd_topic_config *cfg,
                            int64_t now_ms, nd_clean_status *out) {
  memset(out, 0, sizeof *out);
  out->compacted = (cfg->cleanup_policy & ND_CLEANUP_COMPACT) != 0;
  if (p->offline)
    return;
  int64_t first_dirty = first_dirty_of(p);
  seg_ref *v;
  size_t n;
  /* min.compaction.lag.ms aside: the ratio is of all sealed bytes. */
  nd_topic_config all = *cfg;
  all.min_compaction_lag_ms = 0;
  if (cleanable_refs(p, &all, now_ms, &v, &n) == 0) {
    if (n && first_dirty < v[0].base)
      first_dirty = v[0].base;
    dirty_bytes(v, n, first_dirty, &out->clean_bytes, &out->dirty_bytes);
    free(v);
  }
  out->first_dirty_offset = first_dirty;
  int64_t total = out->clean_bytes + out->dirty_bytes;
  out->dirty_ratio = total ? (double)out->dirty_bytes / (double)total : 0;
  pthread_mutex_lock(&p->clean_stat_lock);
  out->last_clean_ms = p->last_clean_ms;
  out->last = p->last_clean;
  pthread_mutex_unlock(&p->clean_stat_lock);
}

int partition_clean_due(partition *p, const nd_topic_config *cfg,
                        int64_t now_ms, double *score) {
  *score = 0;
  if (!(cfg->cleanup_policy & ND_CLEANUP_COMPACT) || p->offline ||
      p->readonly || atomic_load(&p->failed))
    return 0;
  int64_t first_dirty = first_dirty_of(p);
  seg_ref *v;
  size_t n;
  if (cleanable_refs(p, cfg, now_ms, &v, &n))
    return 0;
  if (n && first_dirty < v[0].base)
    first_dirty = v[0].base;
  int64_t clean_b, dirty_b;
  dirty_bytes(v, n, first_dirty, &clean_b, &dirty_b);
  int due = clean_due(p, v, n, first_dirty, clean_b, dirty_b, cfg, now_ms);
  double ratio =
      clean_b + dirty_b ? (double)dirty_b / (double)(clean_b + dirty_b) : 0;
  /* Due for another reason than the ratio: ahead of any ratio. */
  *score = due && ratio < cfg->min_cleanable_dirty_ratio ? 2 : ratio;
  free(v);
  return due;
}

/* ---- the cleaner threads -------------------------------------------------
 * Each round cleans the partition most due (partition_clean_due); a round
 * that cleaned something is followed at once by another, otherwise the
 * thread sleeps cleaner_backoff_ms. They are apart from the maintenance
 * thread so that a long cleaning never delays flushes or retention. */

/* Clean the partition most due; 1 if one was cleaned. */
static int cleaner_round(nd_store *s) {
  int64_t now = store_now_ms();
  size_t n;
  topic **ts = store_snapshot(s, &n);
  if (!ts)
    return 0;
  topic *best_t = NULL;
  partition *best = NULL;
  double best_score = -1;
  for (size_t i = 0; i < n; i++) {
    nd_topic_config cfg;
    topic_config(ts[i], &cfg);
    if (!(cfg.cleanup_policy & ND_CLEANUP_COMPACT) || ts[i]->offline)
      continue;
    for (int32_t k = 0;; k++) {
      partition *p = topic_partition(ts[i], k);
      if (!p)
        break;
      double score;
      if (partition_clean_due(p, &cfg, now, &score) && score > best_score) {
        best_score = score;
        best = p;
        best_t = ts[i];
      }
    }
  }
  int cleaned = 0;
  if (best && !atomic_load(&s->cleaner_stop)) {
    nd_topic_config cfg;
    topic_config(best_t, &cfg);
    nd_clean_stats st;
    int rc = partition_clean(best, best_t->name, &cfg, &s->opts, &s->logger,
                             &s->cleaner_stop, now, 0, &st);
    if (rc && !atomic_load(&s->cleaner_stop) && !atomic_load(&best_t->deleted))
      nd_log(&s->logger, ND_LOG_ERROR, "cleaner: %s-%d: %s", best_t->name,
             (int)best->id, nd_errmsg());
    cleaned = !rc && st.cleaned;
  }
  for (size_t i = 0; i < n; i++)
    store_release(ts[i]);
  free(ts);
  return cleaned;
}

static void *cleaner_main(void *arg) {
  nd_store *s = arg;
  int64_t backoff =
      s->opts.cleaner_backoff_ms > 0 ? s->opts.cleaner_backoff_ms : 15000;
  while (!atomic_load(&s->cleaner_stop)) {
    if (cleaner_round(s))
      continue;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(backoff / 1000);
    ts.tv_nsec += (long)(backoff % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->bg_lock);
    if (!atomic_load(&s->cleaner_stop))
      pthread_cond_timedwait(&s->cleaner_cond, &s->bg_lock, &ts);
    pthread_mutex_unlock(&s->bg_lock);
  }
  return NULL;
}

int store_cleaner_start(nd_store *s) {
  if (s->opts.cleaner_threads < 0)
    return 0;
  int want = s->opts.cleaner_threads > 0 ? s->opts.cleaner_threads : 1;
  s->cleaners = calloc((size_t)want, sizeof *s->cleaners);
  if (!s->cleaners)
    return nd_fail(ND_ENOMEM, "out of memory");
  for (int i = 0; i < want; i++) {
    if (pthread_create(&s->cleaners[i], NULL, cleaner_main, s) != 0) {
      store_cleaner_stop(s);
      return nd_fail(ND_ENOMEM, "cannot start the cleaner thread");
    }
    s->ncleaners++;
  }
  return 0;
}

void store_cleaner_stop(nd_store *s) {
  pthread_mutex_lock(&s->bg_lock);
  atomic_store(&s->cleaner_stop, 1);
  pthread_cond_broadcast(&s->cleaner_cond);
  pthread_mutex_unlock(&s->bg_lock);
  for (int i = 0; i < s->ncleaners; i++)
    pthread_join(s->cleaners[i], NULL);
  free(s->cleaners);
  s->cleaners = NULL;
  s->ncleaners = 0;
}

/* ---- public entry points ------------------------------------------------ */

int nd_clean(nd_store *s, const char *name, int32_t part, int64_t now_ms,
             unsigned flags, nd_clean_stats *stats) {
  if (stats)
    memset(stats, 0, sizeof *stats);
  topic *t = NULL;
  partition *p = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_WRITE, name, part, &t, &p);
  if (rc)
    return rc;
  if (now_ms == 0)
    now_ms = store_now_ms();
  nd_topic_config cfg;
  topic_config(t, &cfg);
  rc = partition_clean(p, t->name, &cfg, &s->opts, &s->logger, NULL, now_ms,
                       flags, stats);
  return store_leave(t, rc);
}

int nd_clean_describe(nd_store *s, const char *name, int32_t part,
                      nd_clean_status *status) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, status != NULL,
                            "status needed");
  if (rc)
    return rc;
  topic *t = NULL;
  partition *p = NULL;
  rc = store_enter_partition(s, __func__, ENTRY_READ, name, part, &t, &p);
  if (rc)
    return rc;
  nd_topic_config cfg;
  topic_config(t, &cfg);
  partition_clean_status(p, &cfg, store_now_ms(), status);
  return store_leave(t, 0);
}
