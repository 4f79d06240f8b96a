/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c — one .log file and its two sparse indexes (see segment.h).
 */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "layout.h"
#include "lookup.h"
#include "stats.h"

void segment_name(char *out, size_t cap, const char *dir, int64_t base,
                  const char *ext) {
  snprintf(out, cap, "%s/%0*" PRId64 "%s", dir, LAYOUT_SEGMENT_DIGITS, base,
           ext);
}

static void seg_path(const segment *seg, const char *ext, char *out,
                     size_t cap) {
  snprintf(out, cap, "%s%s", seg->path, ext);
}

void segment_log_path(const segment *seg, char *out, size_t cap) {
  seg_path(seg, LAYOUT_LOG, out, cap);
}

/* ---- bounded descriptors and mappings ----------------------------------- */

#define SEG_OF(e, field) ((segment *)((char *)(e)-offsetof(segment, field)))

static int fd_acquire(cache_entry *e) {
  segment *seg = SEG_OF(e, fd_entry);
  char path[PATH_MAX + 8];
  segment_log_path(seg, path, sizeof path);
  int fd = file_open(path, seg->readonly ? O_RDONLY : O_RDWR);
  if (fd < 0)
    return fd;
  seg->fd = fd;
  return 1;
}

static void fd_release(cache_entry *e) {
  segment *seg = SEG_OF(e, fd_entry);
  file_close(seg->fd);
  seg->fd = -1;
}

static int maps_acquire(cache_entry *e) {
  segment *seg = SEG_OF(e, map_entry);
  char ip[PATH_MAX];
  int (*map)(sparse_index *, const char *) =
      seg->readonly ? sidx_load : sidx_map;
  seg_path(seg, LAYOUT_INDEX, ip, sizeof ip);
  int a = map(&seg->oidx, ip);
  if (a < 0)
    return a;
  seg_path(seg, LAYOUT_TIMEINDEX, ip, sizeof ip);
  int b = map(&seg->tidx, ip);
  if (b < 0) {
    sidx_unmap(&seg->oidx);
    return b;
  }
  return a + b;
}

static void maps_release(cache_entry *e) {
  segment *seg = SEG_OF(e, map_entry);
  sidx_unmap(&seg->oidx);
  sidx_unmap(&seg->tidx);
}

/* A quarter of a kernel limit, clamped: the rest is left to the process's
 * other users (malloc arenas, thread stacks, libraries, sockets). */
static size_t quarter(long limit, size_t lo, size_t hi) {
  size_t q = limit > 0 ? (size_t)limit / 4 : lo;
  return q < lo ? lo : q > hi ? hi : q;
}

static long max_map_count(void) {
  char buf[32];
  int fd = file_open("/proc/sys/vm/max_map_count", O_RDONLY);
  ssize_t n = fd >= 0 ? file_pread_full(fd, buf, sizeof buf - 1, 0) : -1;
  file_close(fd);
  if (n <= 0)
    return 65530; /* Linux's default */
  buf[n] = '\0';
  return strtol(buf, NULL, 10);
}

void seg_caches_init(seg_caches *c, size_t fd_limit, size_t map_limit) {
  if (fd_limit == 0) {
    struct rlimit rl;
    rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    fd_limit = quarter(
        soft == RLIM_INFINITY || soft > 65536 ? 65536 : (long)soft, 16, 16384);
  }
  if (map_limit == 0)
    map_limit = quarter(max_map_count(), 64, 1 << 20);
  rescache_init(&c->fds, fd_limit, fd_acquire, fd_release);
  rescache_init(&c->maps, map_limit, maps_acquire, maps_release);
  rescache_init(&c->logmaps, logmap_limit(map_limit), logmap_acquire,
                logmap_release);
}

void seg_caches_destroy(seg_caches *c) {
  rescache_destroy(&c->fds);
  rescache_destroy(&c->maps);
  rescache_destroy(&c->logmaps);
}

static segment *seg_alloc(seg_caches *caches, const char *dir, int64_t base) {
  size_t len = strlen(dir) + 22; /* "/" + 20 digits + NUL */
  segment *seg = calloc(1, sizeof *seg + len);
  if (!seg)
    return NULL;
  seg->base = base;
  segment_name(seg->path, len, dir, base, "");
  seg->caches = caches;
  cache_entry_init(&seg->fd_entry);
  cache_entry_init(&seg->map_entry);
  cache_entry_init(&seg->lmap_entry);
  pthread_mutex_init(&seg->lmap_lock, NULL);
  atomic_init(&seg->lmap, NULL);
  seg->fd = -1;
  atomic_init(&seg->size, 0);
  atomic_init(&seg->next_offset, base);
  atomic_init(&seg->max_ts, -1);
  atomic_init(&seg->dir_synced, 1);
  seg->max_ts_indexed = INT64_MIN;
  return seg;
}

static void seg_free(segment *seg) {
  rescache_forget(&seg->caches->fds, &seg->fd_entry);
  rescache_forget(&seg->caches->maps, &seg->map_entry);
  rescache_forget(&seg->caches->logmaps, &seg->lmap_entry);
  cache_entry_destroy(&seg->fd_entry);
  cache_entry_destroy(&seg->map_entry);
  cache_entry_destroy(&seg->lmap_entry);
  pthread_mutex_destroy(&seg->lmap_lock);
  txnindex_free(&seg->aborted);
  free(seg);
}

int segment_fd(segment *seg) {
  int rc = rescache_pin(&seg->caches->fds, &seg->fd_entry);
  if (rc)
    return nd_fail_os(-rc, "cannot open %s.log", seg->path);
  return seg->fd;
}

void segment_unfd(segment *seg) {
  rescache_unpin(&seg->fd_entry);
}

int segment_pin_maps(segment *seg) {
  int rc = rescache_pin(&seg->caches->maps, &seg->map_entry);
  if (rc)
    return nd_fail_os(-rc,
                      "cannot map index %s.index or .timeindex (this store "
                      "maps at most %zu; the kernel's vm.max_map_count is %ld)",
                      seg->path, seg->caches->maps.limit, max_map_count());
  return 0;
}

void segment_unpin_maps(segment *seg) {
  rescache_unpin(&seg->map_entry);
}

/* Unmap both indexes before they change shape (activation, close); no
 * other thread may use them meanwhile. */
static void forget_maps(segment *seg) {
  rescache_forget(&seg->caches->maps, &seg->map_entry);
}

/* The .log's descriptor with the index mappings, both pinned until
 * unpin_both(); or -errno. */
static int pin_both(segment *seg) {
  int rc = segment_pin_maps(seg);
  if (rc)
    return rc;
  int fd = segment_fd(seg);
  if (fd < 0)
    segment_unpin_maps(seg);
  return fd;
}

static void unpin_both(segment *seg) {
  segment_unfd(seg);
  segment_unpin_maps(seg);
}

int segment_create(seg_caches *caches, const char *dir, int64_t base,
                   size_t index_max_bytes, int64_t now_ms, segment **out) {
  segment *seg = seg_alloc(caches, dir, base);
  if (!seg)
    return nd_fail(ND_ENOMEM, "out of memory");
  char p[PATH_MAX];
  seg_path(seg, LAYOUT_LOG, p, sizeof p);
  /* O_TRUNC, not O_EXCL: a leftover empty file from a crash mid-roll is
   * harmless to reuse; a non-empty one is never created over because the
   * new base is always the previous segment's end. */
  int fd = file_create(p, O_RDWR | O_TRUNC);
  if (fd < 0) {
    seg_free(seg);
    return nd_fail_os(-fd, "cannot create segment %s", p);
  }
  file_close(fd);
  seg->created_ms = now_ms;
  atomic_store(&seg->dir_synced, 0);
  int rc = segment_activate(seg, index_max_bytes);
  if (rc) {
    seg_free(seg);
    return rc;
  }
  *out = seg;
  return 0;
}

int segment_open(seg_caches *caches, const char *dir, int64_t base,
                 int readonly, segment **out) {
  segment *seg = seg_alloc(caches, dir, base);
  if (!seg)
    return nd_fail(ND_ENOMEM, "out of memory");
  seg->readonly = readonly;
  char p[PATH_MAX];
  seg_path(seg, LAYOUT_LOG, p, sizeof p);
  struct stat st;
  int e = file_stat(p, &st);
  if (e) {
    seg_free(seg);
    return nd_fail_os(-e, "cannot open segment %s", p);
  }
  segment_set_size(seg, (uint64_t)st.st_size);
  seg->created_ms = (int64_t)st.st_mtim.tv_sec * 1000;
  char ip[PATH_MAX];
  seg_path(seg, LAYOUT_INDEX, ip, sizeof ip);
  int rc = sidx_open_sealed(&seg->oidx, ip, OFFSET_ENTRY_SIZE);
  if (!rc) {
    seg_path(seg, LAYOUT_TIMEINDEX, ip, sizeof ip);
    rc = sidx_open_sealed(&seg->tidx, ip, TIME_ENTRY_SIZE);
  }
  if (rc) {
    seg_free(seg);
    return nd_fail_os(-rc, "cannot read index %s", ip);
  }
  *out = seg;
  return 0;
}

int segment_activate(segment *seg, size_t index_max_bytes) {
  char ip[PATH_MAX], tp[PATH_MAX];
  seg_path(seg, LAYOUT_INDEX, ip, sizeof ip);
  seg_path(seg, LAYOUT_TIMEINDEX, tp, sizeof tp);
  size_t keep_o = sidx_count(&seg->oidx), keep_t = sidx_count(&seg->tidx);
  forget_maps(seg);
  sidx_close(&seg->oidx, NULL);
  sidx_close(&seg->tidx, NULL);
  int rc;
  if (seg->readonly) {
    /* Read-only stores never write index files: rebuild in memory. */
    rc = sidx_open_anon(&seg->oidx, OFFSET_ENTRY_SIZE, index_max_bytes);
    if (!rc)
      rc =
          sidx_open_anon(&seg->tidx, TIME_ENTRY_SIZE, index_max_bytes / 8 * 12);
    keep_o = keep_t = 0;
  } else {
    rc = sidx_open_active(&seg->oidx, ip, OFFSET_ENTRY_SIZE, index_max_bytes,
                          keep_o);
    if (!rc)
      rc = sidx_open_active(&seg->tidx, tp, TIME_ENTRY_SIZE,
                            index_max_bytes / 8 * 12, keep_t);
  }
  if (rc)
    return nd_fail_os(-rc, "cannot prepare the indexes of %s", seg->path);
  seg->active = 1;
  if (keep_o == 0 && keep_t == 0) {
    seg->bytes_since_index = atomic_load(&seg->size);
    return 0;
  }
  if ((rc = segment_pin_maps(seg)) != 0)
    return rc;
  /* Entries kept from a clean close were built by the same policy; the
   * byte counter restarts from the last entry. */
  if (keep_o > 0) {
    uint32_t r, pos;
    sidx_offset_entry(&seg->oidx, keep_o - 1, &r, &pos);
    seg->bytes_since_index = atomic_load(&seg->size) - pos;
  } else {
    seg->bytes_since_index = atomic_load(&seg->size);
  }
  if (keep_t > 0) {
    uint32_t r;
    sidx_time_entry(&seg->tidx, keep_t - 1, &seg->max_ts_indexed, &r);
  }
  segment_unpin_maps(seg);
  return 0;
}

void segment_set_size(segment *seg, uint64_t size) {
  uint64_t old = atomic_exchange(&seg->size, size);
  STATS_ADD(seg->caches ? &seg->caches->log : NULL, log_bytes,
            (int64_t)size - (int64_t)old);
}

int segment_close(segment *seg, int unlink_files) {
  if (!seg)
    return 0;
  char ip[PATH_MAX], tp[PATH_MAX], lp[PATH_MAX];
  seg_path(seg, LAYOUT_INDEX, ip, sizeof ip);
  seg_path(seg, LAYOUT_TIMEINDEX, tp, sizeof tp);
  seg_path(seg, LAYOUT_LOG, lp, sizeof lp);
  int trim = seg->active && !unlink_files && !seg->readonly;
  forget_maps(seg);
  segment_set_size(seg, 0); /* its bytes leave the store's log_bytes */
  int rc = sidx_close(&seg->oidx, trim ? ip : NULL);
  int rc2 = sidx_close(&seg->tidx, trim ? tp : NULL);
  if (!rc)
    rc = rc2;
  if (atomic_load(&seg->index_bad) && !unlink_files && !seg->readonly) {
    /* Missing indexes fail the open's plausibility check: rebuilt. */
    file_unlink(ip);
    file_unlink(tp);
  }
  if (unlink_files) {
    char xp[PATH_MAX];
    seg_path(seg, LAYOUT_TXNINDEX, xp, sizeof xp);
    file_unlink(lp);
    file_unlink(ip);
    file_unlink(tp);
    file_unlink(xp);
  }
  seg_free(seg);
  return rc;
}

/* Give the next entry of an index its blocks (see index.h). On failure
 * (a full disk) the entry is skipped: the appended batch stays, and a
 * later batch retries, so the index only gets sparser while space lacks. */
static int reserve_entry(segment *seg, sparse_index *ix, const char *ext) {
  char path[PATH_MAX];
  seg_path(seg, ext, path, sizeof path);
  return sidx_reserve(ix, path);
}

void segment_index_batch(segment *seg, uint64_t pos, int64_t batch_base,
                         int64_t batch_max_ts, size_t batch_size,
                         int32_t interval) {
  if (pos > 0 && seg->bytes_since_index >= (uint64_t)interval &&
      reserve_entry(seg, &seg->oidx, LAYOUT_INDEX) == 0) {
    uint32_t rel = (uint32_t)(batch_base - seg->base);
    if (sidx_append_offset(&seg->oidx, rel, (uint32_t)pos) == 0) {
      int64_t mts = atomic_load_explicit(&seg->max_ts, memory_order_relaxed);
      if (mts > seg->max_ts_indexed &&
          reserve_entry(seg, &seg->tidx, LAYOUT_TIMEINDEX) == 0 &&
          sidx_append_time(&seg->tidx, mts, rel) == 0)
        seg->max_ts_indexed = mts;
    }
    seg->bytes_since_index = 0;
  }
  seg->bytes_since_index += batch_size;
  if (batch_max_ts > atomic_load_explicit(&seg->max_ts, memory_order_relaxed))
    atomic_store_explicit(&seg->max_ts, batch_max_ts, memory_order_release);
}

int segment_sync(segment *seg) {
  int fd = segment_fd(seg);
  if (fd < 0)
    return fd;
  char what[PATH_MAX + 8];
  snprintf(what, sizeof what, "%s.log", seg->path);
  const nd_logger *lg = seg->caches ? &seg->caches->log : NULL;
  int rc = stats_datasync(lg, fd, what);
  segment_unfd(seg);
  if (rc)
    return nd_fail_os(-rc, "fdatasync %s", what);
  if (!atomic_load(&seg->dir_synced)) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", seg->path);
    char *slash = strrchr(dir, '/');
    if (slash)
      *slash = '\0';
    rc = stats_sync_dir(lg, dir);
    if (rc)
      return nd_fail_os(-rc, "fsync of directory %s", dir);
    atomic_store(&seg->dir_synced, 1);
  }
  return 0;
}

int segment_final_time_entry(segment *seg) {
  int64_t mts = atomic_load(&seg->max_ts);
  int64_t next = atomic_load(&seg->next_offset);
  if (mts < 0 || mts <= seg->max_ts_indexed)
    return 0;
  int rc = segment_pin_maps(seg);
  if (rc)
    return rc;
  /* Unlike the sparse entries this one may not be skipped: a sealed
   * segment's maximum timestamp is read back from it (retention by time,
   * lookups by time), so without blocks for it the seal fails. */
  rc = reserve_entry(seg, &seg->tidx, LAYOUT_TIMEINDEX);
  if (rc)
    rc = nd_fail_os(-rc, "cannot extend %s.timeindex", seg->path);
  else if (sidx_append_time(&seg->tidx, mts, (uint32_t)(next - seg->base)) == 0)
    seg->max_ts_indexed = mts;
  segment_unpin_maps(seg);
  return rc;
}

int64_t segment_indexed_max_ts(segment *seg) {
  size_t nt = sidx_count(&seg->tidx);
  if (nt == 0 || segment_pin_maps(seg) != 0)
    return -1;
  int64_t t;
  uint32_t r;
  sidx_time_entry(&seg->tidx, nt - 1, &t, &r);
  segment_unpin_maps(seg);
  return t;
}

static int seal_pinned(segment *seg, int sync) {
  int rc = segment_final_time_entry(seg);
  if (rc)
    return rc;
  if (sync) {
    rc = segment_sync(seg);
    if (rc)
      return rc;
  } else {
    atomic_store(&seg->unsynced, 1);
  }
  char ip[PATH_MAX], tp[PATH_MAX];
  seg_path(seg, LAYOUT_INDEX, ip, sizeof ip);
  seg_path(seg, LAYOUT_TIMEINDEX, tp, sizeof tp);
  rc = sidx_trim(&seg->oidx, ip);
  if (!rc)
    rc = sidx_trim(&seg->tidx, tp);
  if (rc)
    return nd_fail_os(-rc, "cannot trim indexes of %s", seg->path);
  seg->active = 0;
  return 0;
}

static int seal(segment *seg, int sync) {
  if (!seg->active)
    return 0;
  /* Pinned throughout: trimming turns a writable index into a sealed one,
   * which is mapped differently, and a reader must not map it meanwhile
   * (a pinned entry is never acquired or released). */
  int rc = segment_pin_maps(seg);
  if (rc)
    return rc;
  rc = seal_pinned(seg, sync);
  segment_unpin_maps(seg);
  return rc;
}

int segment_seal(segment *seg) {
  return seal(seg, 1);
}

int segment_seal_unsynced(segment *seg) {
  return seal(seg, 0);
}

/* ---- walking the .log: every walk is a batch cursor (batch.h) ---------- */

/* Buffer sizes of the walks: a recovery scan reads record data (CRCs) in
 * large reads; header walks (lookups, tail walks) read a few KB. */
#define SCAN_CHUNK (1 << 20)
#define HEADER_CHUNK 8192

/* A failed read or allocation in a walk of seg's .log at pos. */
static int walk_fail(const segment *seg, int err, uint64_t pos) {
  if (err == ND_ENOMEM)
    return nd_fail(err, "out of memory walking %s.log", seg->path);
  return nd_fail_os(-err, "reading %s.log at byte %" PRIu64, seg->path, pos);
}

/* Walk batches from start_pos (whose batch must start at or above
 * start_offset, or at it when dense), offsets increasing (dense: each
 * right after the one before), with CRCs from crc_from on.
 * rebuild: from 0 the indexes are emptied first; from a resume point the
 * caller has cut them back to it (segment_resume_point). */
static int scan_fd(segment *seg, int fd, uint64_t start_pos,
                   int64_t start_offset, uint64_t crc_from, int rebuild,
                   int dense, int32_t interval, scan_result *res) {
  memset(res, 0, sizeof *res);
  res->next_offset = start_offset;
  res->max_ts = start_pos ? atomic_load(&seg->max_ts) : -1;
  uint64_t file_size;
  struct stat st;
  int e = file_fstat(fd, &st);
  if (e)
    return nd_fail_os(-e, "stat %s.log", seg->path);
  file_size = (uint64_t)st.st_size;
  if (rebuild && start_pos == 0) {
    sidx_reset(&seg->oidx);
    sidx_reset(&seg->tidx);
    seg->bytes_since_index = 0;
    seg->max_ts_indexed = INT64_MIN;
    atomic_store(&seg->max_ts, -1);
  }
  batch_cursor c;
  /* Offsets must increase, not follow each other: a cleaned segment has
   * holes (segment.h). The active segment is never cleaned, and there a
   * gap is damage: baseOffset is outside the CRC, and a flipped bit in it
   * would otherwise pass as a hole. */
  batch_cursor_fd(&c, fd, start_pos, file_size, NULL, SCAN_CHUNK,
                  BATCH_LEVEL_SANE | (dense ? BATCH_CHECK_DENSE : 0));
  batch_cursor_expect(&c, start_offset);
  int rc;
  for (;;) {
    if (batch_cursor_next_pos(&c) >= crc_from)
      c.checks |= BATCH_CHECK_CRC;
    if ((rc = batch_cursor_next(&c)) != 1)
      break;
    int64_t mts = batch_max_timestamp(c.batch);
    if (rebuild)
      segment_index_batch(seg, c.pos, batch_base_offset(c.batch), mts,
                          (size_t)c.size, interval);
    if (mts > res->max_ts)
      res->max_ts = mts;
    res->next_offset = batch_next_offset(c.batch);
    res->batches++;
  }
  batch_cursor_close(&c);
  if (rc < 0)
    return walk_fail(seg, rc, c.stop_pos);
  res->valid_end = c.stop_pos;
  if (c.stop != BATCH_STOP_END)
    res->why = c.why;
  if (!rebuild && res->max_ts > atomic_load(&seg->max_ts))
    atomic_store(&seg->max_ts, res->max_ts);
  return 0;
}

/* The batch at pos of a .log that ends at end, checked at the HEADER
 * level with one pread of its header. Returns 1 with *base and *bytes (its
 * size), 0 if no batch starts there (*bytes is then the size its header
 * claims when that runs past the end, else 0), or a negative code for a
 * failed read (no message set). */
static int header_at(int fd, uint64_t pos, uint64_t end, int64_t *base,
                     uint64_t *bytes) {
  uint8_t h[BATCH_HEADER_SIZE];
  batch_cursor c;
  batch_cursor_fd(&c, fd, pos, end, h, sizeof h, BATCH_LEVEL_HEADER);
  int rc = batch_cursor_next(&c);
  if (rc == 1)
    *base = batch_base_offset(c.batch);
  *bytes = c.size;
  batch_cursor_close(&c);
  return rc;
}

static int offset_index_plausible_fd(segment *seg, int fd, int32_t interval) {
  uint64_t size = atomic_load(&seg->size);
  if (!sidx_plausible_offset(&seg->oidx, size))
    return 0;
  size_t n = sidx_count(&seg->oidx);
  int64_t base;
  uint64_t first;
  if (n == 0) {
    /* Empty is right only if the policy never asked for an entry: fewer
     * than two batches, or a first batch smaller than the interval. A lost
     * index file would otherwise turn lookups into whole-segment walks.
     * A first batch cut short by the end counts at the size it claims. */
    if (size == 0)
      return 1;
    if (size < BATCH_HEADER_SIZE || header_at(fd, 0, size, &base, &first) < 0 ||
        first == 0)
      return 0;
    return first >= size || first < (uint64_t)interval;
  }
  /* The last offset entry must name a batch that really starts there. */
  uint32_t rel, pos;
  sidx_offset_entry(&seg->oidx, n - 1, &rel, &pos);
  return header_at(fd, pos, size, &base, &first) == 1 &&
         base == seg->base + rel;
}

int segment_indexes_plausible(segment *seg, int32_t interval) {
  uint64_t size = atomic_load(&seg->size);
  int64_t next = atomic_load(&seg->next_offset);
  if (segment_pin_maps(seg) != 0)
    return 0;
  int ok = sidx_plausible_time(&seg->tidx, (uint32_t)(next - seg->base));
  segment_unpin_maps(seg);
  if (!ok)
    return 0;
  /* Sealing and closing add a final time entry; without one the segment's
   * largest timestamp is unknown and retention could misjudge it. */
  if (size > 0 && sidx_count(&seg->tidx) == 0)
    return 0;
  return segment_offset_index_plausible(seg, interval);
}

uint64_t segment_index_start(segment *seg, uint32_t rel, int64_t *expect) {
  uint32_t erel, epos;
  *expect = -1;
  if (atomic_load_explicit(&seg->index_bad, memory_order_relaxed) ||
      !sidx_lookup_entry(&seg->oidx, rel, &erel, &epos))
    return 0;
  *expect = seg->base + (int64_t)erel;
  return epos;
}

/* A header walk (HEADER level, below the published size) that starts at
 * an index-given position: the lookups' walk. */
typedef struct index_walk {
  batch_cursor c;
  segment *seg;
  int fd;
  int64_t expect;   /* base offset the entry named; -1 once checked */
  uint64_t restart; /* where to walk from if the entry does not hold */
  int restarted;
  uint8_t buf[HEADER_CHUNK];
} index_walk;

/* Walk [pos, end) of seg's .log; with expect >= 0 the batch at pos must
 * have that base offset (else the walk restarts at restart). */
static void index_walk_start(index_walk *w, segment *seg, int fd, uint64_t pos,
                             int64_t expect, uint64_t restart, uint64_t end) {
  w->seg = seg;
  w->fd = fd;
  w->expect = expect;
  w->restart = restart;
  w->restarted = 0;
  batch_cursor_fd(&w->c, fd, pos, end, w->buf, sizeof w->buf,
                  BATCH_LEVEL_HEADER);
}

/* An index entry did not lead to the batch it names: distrust the index
 * (see segment.h) and say so once per segment. */
static void index_distrust(segment *seg, int64_t expect, uint64_t pos) {
  if (!atomic_exchange(&seg->index_bad, 1))
    nd_log(&seg->caches->log, ND_LOG_WARN,
           "%s.index: the entry for offset %" PRId64 " does not point at its "
           "batch (byte %" PRIu64 "); reading this segment without its "
           "index until the index is rebuilt at the next open",
           seg->path, expect, pos);
}

/* batch_cursor_next for an index walk. When its first batch is not the one
 * the entry named, the index is distrusted (see segment.h), which is said
 * once, and the walk restarts without it. */
static int index_walk_next(index_walk *w) {
  for (;;) {
    int got = batch_cursor_next(&w->c);
    int64_t expect = w->expect;
    if (expect < 0 || got < 0 || (got == 0 && w->c.stop == BATCH_STOP_END))
      return got;
    w->expect = -1;
    if (got == 1 && batch_base_offset(w->c.batch) == expect)
      return got;
    index_distrust(w->seg, expect, w->c.pos);
    uint64_t end = w->c.end;
    batch_cursor_close(&w->c);
    batch_cursor_fd(&w->c, w->fd, w->restart, end, w->buf, sizeof w->buf,
                    BATCH_LEVEL_HEADER);
    w->restarted = 1;
  }
}

int segment_index_entry_holds(segment *seg, const uint8_t *h, int64_t expect,
                              uint64_t pos) {
  if (batch_base_offset(h) == expect && batch_magic(h) == BATCH_MAGIC &&
      batch_length(h) >= BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)
    return 1;
  index_distrust(seg, expect, pos);
  return 0;
}

/* Walk headers from the index's nearest entry until the first batch whose
 * last offset is >= `offset`: the batch holding it, or after a hole the
 * one holding the next existing offset (segment.h). */
static int find_fd(segment *seg, int fd, int64_t offset, uint64_t *pos_out) {
  uint64_t size = atomic_load_explicit(&seg->size, memory_order_acquire);
  /* Batches appended after this load start at or above it; a caller's
   * offset below it is held by a batch before them. */
  int64_t next = atomic_load_explicit(&seg->next_offset, memory_order_acquire);
  if (offset < seg->base)
    return nd_fail(ND_ERANGE, "offset %" PRId64 " below segment base %" PRId64,
                   offset, seg->base);
  int64_t expect;
  uint64_t pos =
      segment_index_start(seg, (uint32_t)(offset - seg->base), &expect);
  index_walk w;
  index_walk_start(&w, seg, fd, pos, expect, 0, size);
  batch_cursor *cur = &w.c;
  int rc;
  for (;;) {
    int got = index_walk_next(&w);
    if (got <= 0) {
      rc = got < 0                       ? got
           : cur->stop == BATCH_STOP_END ? ND_ERANGE
                                         : ND_ECORRUPT;
      break;
    }
    if (batch_last_offset(cur->batch) >= offset) {
      /* After a hole, a batch must still lie below the segment's end: a
       * base past it is a damaged header (baseOffset is outside the CRC),
       * not the next existing offset. */
      int64_t base = batch_base_offset(cur->batch);
      if (base > offset && base >= next) {
        rc = ND_ECORRUPT;
        break;
      }
      *pos_out = cur->pos;
      rc = 0;
      break;
    }
  }
  batch_cursor_close(cur);
  if (rc == ND_ECORRUPT)
    return nd_fail(rc, "%s.log: batch headers inconsistent near byte %" PRIu64,
                   seg->path, cur->pos);
  if (rc == ND_ERANGE)
    return nd_fail(rc, "no batch at or after offset %" PRId64 " in %s.log",
                   offset, seg->path);
  if (rc < 0)
    return walk_fail(seg, rc, cur->pos);
  return rc;
}

static int find_time_fd(segment *seg, int fd, int64_t ts, int64_t *pos_out,
                        int64_t *batch_base) {
  uint64_t size = atomic_load_explicit(&seg->size, memory_order_acquire);
  int64_t rel = sidx_lookup_time_before(&seg->tidx, ts);
  int64_t expect = -1;
  uint64_t pos = rel > 0 ? segment_index_start(seg, (uint32_t)rel, &expect) : 0;
  index_walk w;
  index_walk_start(&w, seg, fd, pos, expect, 0, size);
  batch_cursor *cur = &w.c;
  int err = 0;
  *pos_out = -1;
  for (;;) {
    int got = index_walk_next(&w);
    if (got < 0) {
      err = got;
      break;
    }
    if (got == 0) {
      /* A log cut short ends the search; a bad header is corruption. */
      if (cur->stop != BATCH_STOP_END && cur->stop != BATCH_STOP_TORN)
        err = ND_ECORRUPT;
      break;
    }
    if (batch_max_timestamp(cur->batch) >= ts) {
      *pos_out = (int64_t)cur->pos;
      *batch_base = batch_base_offset(cur->batch);
      break;
    }
  }
  batch_cursor_close(cur);
  if (err == ND_ECORRUPT)
    return nd_fail(err, "%s.log: bad batch header at byte %" PRIu64, seg->path,
                   cur->pos);
  if (err)
    return walk_fail(seg, err, cur->pos);
  return 0;
}

static int read_fd(segment *seg, int fd, uint64_t pos, size_t max_bytes,
                   int64_t end_offset, uint8_t **out, size_t *out_len,
                   int64_t *next_offset) {
  uint64_t size = atomic_load_explicit(&seg->size, memory_order_acquire);
  *out = NULL;
  *out_len = 0;
  if (pos >= size)
    return 0;
  size_t want = max_bytes;
  if (want < BATCH_HEADER_SIZE)
    want = BATCH_HEADER_SIZE;
  if (want > size - pos)
    want = (size_t)(size - pos);
  uint8_t *buf = malloc(want);
  if (!buf)
    return nd_fail(ND_ENOMEM, "read: cannot allocate %zu bytes", want);
  ssize_t n = file_pread_full(fd, buf, want, (off_t)pos);
  if (n < 0 || (size_t)n < want) {
    free(buf);
    if (n < 0)
      return nd_fail_os((int)-n, "reading %s.log at byte %" PRIu64, seg->path,
                        pos);
    return nd_fail(ND_ECORRUPT, "%s.log shorter than its published size",
                   seg->path);
  }
  /* Keep whole batches only; if the first batch is larger than max_bytes,
   * read it whole so the reader makes progress. The walk's end is the
   * segment's: a batch that runs past the bytes read is not corrupt. */
  batch_cursor c;
  batch_cursor_mem(&c, buf, want, BATCH_LEVEL_HEADER);
  c.end = size - pos;
  size_t used = 0;
  int64_t next = -1;
  while (batch_cursor_next(&c) == 1) {
    /* Bytes past the high watermark the caller saw may already be in the
     * file (the size is published first): never return them. */
    if (batch_base_offset(c.batch) >= end_offset)
      break;
    next = batch_next_offset(c.batch);
    used = (size_t)(c.pos + c.size);
  }
  if (batch_stop_is_finding(c.stop)) {
    free(buf);
    return nd_fail(ND_ECORRUPT, "%s.log: %s at byte %" PRIu64, seg->path, c.why,
                   pos + c.stop_pos);
  }
  if (c.stop == BATCH_STOP_MEMORY && used == 0 && c.size > want &&
      batch_base_offset(buf) < end_offset) {
    size_t total = (size_t)c.size;
    uint8_t *nb = realloc(buf, total);
    if (!nb) {
      free(buf);
      return nd_fail(ND_ENOMEM, "read: cannot allocate %zu bytes", total);
    }
    buf = nb;
    ssize_t m =
        file_pread_full(fd, buf + want, total - want, (off_t)(pos + want));
    if (m < 0 || (size_t)m < total - want) {
      free(buf);
      if (m < 0) /* an I/O error is not damage */
        return nd_fail_os((int)-m, "reading %s.log at byte %" PRIu64, seg->path,
                          pos + want);
      return nd_fail(ND_ECORRUPT, "%s.log: short read at byte %" PRIu64,
                     seg->path, pos + want);
    }
    next = batch_next_offset(buf);
    used = total;
  }
  *out = buf;
  *out_len = used;
  if (next_offset && next >= 0)
    *next_offset = next;
  return 0;
}

/* Like read_fd, but only finds where the whole batches end, reading no
 * record data: the offset index jumps to the last indexed batch start
 * inside the range, and batch headers are walked from there, which is at
 * most about index.interval.bytes of log. */
static int range_fd(segment *seg, int fd, uint64_t pos, size_t max_bytes,
                    int64_t end_offset, uint64_t *len_out,
                    int64_t *next_offset) {
  uint64_t size = atomic_load_explicit(&seg->size, memory_order_acquire);
  *len_out = 0;
  if (pos >= size)
    return 0;
  uint64_t limit = max_bytes > size - pos ? size : pos + max_bytes;
  uint64_t walk = pos;
  int64_t walk_base = -1; /* base offset the batch at walk must have */
  uint64_t rel_end =
      end_offset > seg->base ? (uint64_t)(end_offset - seg->base) : 0;
  uint32_t rel, ipos;
  if (limit <= UINT32_MAX &&
      !atomic_load_explicit(&seg->index_bad, memory_order_relaxed) &&
      sidx_last_within(&seg->oidx, (uint32_t)limit, rel_end, &rel, &ipos) &&
      ipos > pos) {
    walk = ipos;
    walk_base = seg->base + (int64_t)rel;
  }
  /* A bad entry: walk the range from its start instead. */
  index_walk w;
  index_walk_start(&w, seg, fd, walk, walk_base, pos, size);
  batch_cursor *cur = &w.c;
  int rc = 0;
  uint64_t end = walk;
  int64_t next = walk_base;
  for (;;) {
    int got = index_walk_next(&w);
    if (w.restarted) { /* from pos now: nothing accepted yet */
      w.restarted = 0;
      end = pos;
      next = -1;
    }
    if (got < 0) {
      rc = got;
      break;
    }
    if (got == 0) {
      if (cur->stop != BATCH_STOP_END)
        rc = ND_ECORRUPT;
      break;
    }
    /* Bytes past the high watermark the caller saw may already be in the
     * file (the size is published first): never return them. */
    if (batch_base_offset(cur->batch) >= end_offset)
      break;
    /* The first batch goes whole even when it is larger than max_bytes,
     * so that the reader makes progress. */
    if (cur->pos + cur->size > limit && cur->pos > pos)
      break;
    next = batch_next_offset(cur->batch);
    end = cur->pos + cur->size;
  }
  batch_cursor_close(cur);
  if (rc == ND_ECORRUPT)
    return nd_fail(rc, "%s.log: bad batch header at byte %" PRIu64, seg->path,
                   cur->pos);
  if (rc)
    return walk_fail(seg, rc, cur->pos);
  *len_out = end - pos;
  if (next_offset && next >= 0)
    *next_offset = next;
  return 0;
}

int segment_scan(segment *seg, uint64_t crc_from, int rebuild, int32_t interval,
                 scan_result *res) {
  return segment_scan_from(seg, 0, seg->base, crc_from, rebuild, 0, interval,
                           res);
}

int segment_scan_from(segment *seg, uint64_t start_pos, int64_t start_offset,
                      uint64_t crc_from, int rebuild, int dense,
                      int32_t interval, scan_result *res) {
  int fd = pin_both(seg);
  if (fd < 0)
    return fd;
  int rc = scan_fd(seg, fd, start_pos, start_offset, crc_from, rebuild, dense,
                   interval, res);
  unpin_both(seg);
  return rc;
}

int segment_offset_index_plausible(segment *seg, int32_t interval) {
  int fd = pin_both(seg);
  if (fd < 0)
    return 0;
  int ok = offset_index_plausible_fd(seg, fd, interval);
  unpin_both(seg);
  return ok;
}

int segment_find(segment *seg, int64_t offset, uint64_t *pos_out) {
  int fd = pin_both(seg);
  if (fd < 0)
    return fd;
  int rc = find_fd(seg, fd, offset, pos_out);
  unpin_both(seg);
  return rc;
}

int segment_find_time(segment *seg, int64_t ts, int64_t *pos_out,
                      int64_t *batch_base) {
  int fd = pin_both(seg);
  if (fd < 0)
    return fd;
  int rc = find_time_fd(seg, fd, ts, pos_out, batch_base);
  unpin_both(seg);
  return rc;
}

int segment_read(segment *seg, uint64_t pos, size_t max_bytes,
                 int64_t end_offset, uint8_t **out, size_t *out_len,
                 int64_t *next_offset) {
  int fd = segment_fd(seg);
  if (fd < 0)
    return fd;
  int rc =
      read_fd(seg, fd, pos, max_bytes, end_offset, out, out_len, next_offset);
  segment_unfd(seg);
  return rc;
}

int segment_read_range(segment *seg, uint64_t pos, size_t max_bytes,
                       int64_t end_offset, int *fd_out, uint64_t *len_out,
                       int64_t *next_offset) {
  *fd_out = -1;
  int fd = pin_both(seg);
  if (fd < 0)
    return fd;
  int rc = range_fd(seg, fd, pos, max_bytes, end_offset, len_out, next_offset);
  if (!rc && *len_out > 0) {
    /* A descriptor of its own: the cache may close the segment's one, and
     * retention may unlink the file, while the caller is still sending. */
    *fd_out = file_dup(fd);
    if (*fd_out < 0) {
      rc = nd_fail_os(-*fd_out, "duplicating the descriptor of %s.log",
                      seg->path);
      *fd_out = -1;
    }
  }
  unpin_both(seg);
  return rc;
}

int segment_walk_tail(segment *seg, int32_t interval, int dense,
                      int64_t *end_offset, int64_t *max_ts) {
  uint64_t size = atomic_load(&seg->size);
  uint32_t rel = 0, pos = 0;
  size_t n = sidx_count(&seg->oidx);
  if (n > 0 && segment_offset_index_plausible(seg, interval) &&
      segment_pin_maps(seg) == 0) {
    sidx_offset_entry(&seg->oidx, n - 1, &rel, &pos);
    segment_unpin_maps(seg);
  }
  int64_t expect = seg->base + rel;
  *max_ts = -1;
  if (pos >= size) {
    *end_offset = expect;
    return pos == size;
  }
  int fd = segment_fd(seg);
  if (fd < 0)
    return fd;
  uint8_t buf[HEADER_CHUNK];
  batch_cursor c;
  batch_cursor_fd(&c, fd, pos, size, buf, sizeof buf,
                  BATCH_LEVEL_SANE | (dense ? BATCH_CHECK_DENSE : 0));
  batch_cursor_expect(&c, expect);
  int got;
  while ((got = batch_cursor_next(&c)) == 1) {
    expect = batch_next_offset(c.batch);
    if (batch_max_timestamp(c.batch) > *max_ts)
      *max_ts = batch_max_timestamp(c.batch);
  }
  batch_cursor_close(&c);
  segment_unfd(seg);
  if (got < 0)
    return walk_fail(seg, got, c.pos);
  *end_offset = expect;
  return c.stop == BATCH_STOP_END;
}

static int resume_point(segment *seg, int64_t offset, uint64_t *pos,
                        int64_t *batch_offset) {
  uint64_t size = atomic_load(&seg->size);
  size_t n = sidx_count(&seg->oidx);
  if (offset <= seg->base || n == 0)
    return 0;
  /* Last entry at or below the offset. */
  size_t lo = 0, hi = n, k = n;
  uint32_t target = (uint32_t)(offset - seg->base);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t r, q;
    sidx_offset_entry(&seg->oidx, mid, &r, &q);
    if (r <= target) {
      k = mid;
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (k == n)
    return 0;
  /* The entries up to it must be plausible and it must name a real batch;
   * the index was not fsynced, so after a power cut it may hold zeros. */
  sidx_truncate(&seg->oidx, k + 1);
  uint32_t rel, p;
  sidx_offset_entry(&seg->oidx, k, &rel, &p);
  int64_t base;
  uint64_t bytes;
  int fd = segment_fd(seg);
  int ok = fd >= 0 && sidx_plausible_offset(&seg->oidx, size) &&
           header_at(fd, p, size, &base, &bytes) == 1 &&
           base == seg->base + rel;
  if (fd >= 0)
    segment_unfd(seg);
  size_t nt = sidx_count(&seg->tidx), kt = 0;
  int64_t ts = INT64_MIN;
  for (; ok && kt < nt; kt++) {
    int64_t t;
    uint32_t r;
    sidx_time_entry(&seg->tidx, kt, &t, &r);
    if (r > rel)
      break;
    if (t < ts)
      ok = 0; /* not monotonic: garbage */
    ts = t;
  }
  if (!ok)
    return 0; /* the caller rescans from byte 0, which rebuilds all */
  sidx_truncate(&seg->tidx, kt);
  seg->max_ts_indexed = ts;
  atomic_store(&seg->max_ts, ts == INT64_MIN ? -1 : ts);
  seg->bytes_since_index = 0;
  *pos = p;
  *batch_offset = seg->base + rel;
  return 1;
}

int segment_resume_point(segment *seg, int64_t offset, uint64_t *pos,
                         int64_t *batch_offset) {
  if (segment_pin_maps(seg) != 0)
    return 0; /* the caller rescans from byte 0 */
  int ok = resume_point(seg, offset, pos, batch_offset);
  segment_unpin_maps(seg);
  return ok;
}
