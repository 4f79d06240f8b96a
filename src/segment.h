/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.h — one log segment: NNNNNNNNNNNNNNNNNNNN.log (batches back to
 * back) with its .index and .timeindex (see index.h), named by base offset.
 *
 * Invariants: bytes [0, size) of the .log are whole, valid batches whose
 * offsets increase within [base, next_offset): each batch's base offset is
 * above the previous batch's last offset, and the first batch's is >= base.
 * They need not be dense. A segment the cleaner rewrote keeps every
 * surviving batch's base offset and lastOffsetDelta, so it has holes:
 * between batches, inside batches (records removed, offset deltas kept),
 * before its first batch (base may be below it) and after its last one (a
 * sealed segment's next_offset is the next segment's base, whatever its
 * last batch); a batch may hold no record at all (an idempotent producer's
 * last batch, kept for its sequence). Every reader treats a hole as "the
 * next existing offset", as Kafka does. The active (last) segment is never
 * cleaned, so its offsets are dense from its base: recovery and verify
 * check that there, where a gap can only be a damaged baseOffset (outside
 * the CRC). Only the partition's appender writes;
 * it publishes size and next_offset with release stores after the bytes and
 * index entries are in place, so readers need no lock to read below them.
 *
 * Index policy (shared by append and rebuild, so a rebuilt index equals the
 * one appends made): before writing a batch, if at least
 * index.interval.bytes were written since the last entry, add an offset
 * entry (batch base, position) and, if the maximum timestamp seen so far grew,
 * a time entry (max timestamp of all earlier batches, batch base). Sealing
 * adds a final time entry at next_offset, so the last time entry of a sealed
 * segment holds its maximum timestamp. Entries name batches, never offsets
 * in between, so on a cleaned segment every entry points at a batch that
 * exists (an empty batch is one: it keeps its header, maxTimestamp
 * included); the cleaner writes a rewritten segment's indexes by this same
 * policy over the batches it keeps, so a rebuild from the .log equals them.
 */
#ifndef ND_SEGMENT_H
#define ND_SEGMENT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "error.h"
#include "index.h"
#include "rescache.h"
#include "txnindex.h"

/* The store's bounds on the kernel resources segments hold. */
typedef struct seg_caches {
  rescache fds;     /* .log descriptors, weight 1 each */
  rescache maps;    /* index mappings, a segment's pair weighs 0 to 2 */
  rescache logmaps; /* .log mappings for readers (lookup.h), weight 1 */
  nd_logger log;    /* the store's nd_options.on_log, for what segments see */
} seg_caches;

/* Bounds: fd_limit descriptors, map_limit mappings; 0 for the defaults (a
 * quarter of RLIMIT_NOFILE, between 16 and 16384; a quarter of
 * vm.max_map_count, between 64 and 1048576). */
void seg_caches_init(seg_caches *c, size_t fd_limit, size_t map_limit);
void seg_caches_destroy(seg_caches *c);

typedef struct segment {
  int64_t base;
  seg_caches *caches;
  /* The .log descriptor, opened on demand under the store's bound; use it
   * only between segment_fd() and segment_unfd(). */
  cache_entry fd_entry;
  int fd;
  /* The index mappings (oidx.map, tidx.map), made on demand under the
   * store's bound; read or append entries only between segment_pin_maps()
   * and segment_unpin_maps(). Counts and capacities are always valid. */
  cache_entry map_entry;
  /* The .log mapped read-only for nd_reader (lookup.h), made on demand
   * under the store's bound; readers take references of their own, so
   * eviction, a remap or deleting the segment never unmaps bytes a
   * reader's view points into. lmap_lock guards swapping it. */
  cache_entry lmap_entry;
  pthread_mutex_t lmap_lock;
  struct logmap *_Atomic lmap;
  _Atomic uint64_t size;
  _Atomic int64_t next_offset;
  _Atomic int64_t max_ts; /* largest batch maxTimestamp, -1 when empty */
  int64_t created_ms;     /* for segment.ms */
  uint64_t bytes_since_index;
  int64_t max_ts_indexed; /* timestamp of the last time-index entry */
  sparse_index oidx;
  sparse_index tidx;
  int active;
  int readonly;
  /* An offset-index entry was found not to name the batch it claims (a
   * plausible but wrong entry, e.g. a bit flip): lookups in this segment
   * walk from byte 0 from now on, and close removes the index files so
   * the next open rebuilds them from the log. */
  _Atomic int index_bad;
  /* 0 for a segment created by this process until its directory entry is
   * fsynced: fdatasync of the file alone does not make a new file's name
   * durable. Done at the segment's first sync, not at creation, so that
   * creating thousands of partitions costs no fsyncs. */
  _Atomic int dir_synced;
  /* Sealed by segment_seal_unsynced: its tail may not be fdatasync'd yet;
   * the partition's next sync does it (see partition_sync). */
  _Atomic int unsynced;
  /* The aborted transactions whose ABORT marker is in this segment
   * (txnindex.h), under the partition's txn_lock. */
  txn_list aborted;
  /* Directory + 20-digit base, without extension; sized to fit (a fixed
   * PATH_MAX here and in partition cost 8 KB per partition, 800 MB for
   * 100,000 partitions). */
  char path[];
} segment;

/* Fixed-width file name of a base offset: "%020lld". */
void segment_name(char *out, size_t cap, const char *dir, int64_t base,
                  const char *ext);

/* Create a new empty segment in dir and make it active. */
int segment_create(seg_caches *caches, const char *dir, int64_t base,
                   size_t index_max_bytes, int64_t now_ms, segment **out);

/* Open an existing segment (index entries counted, not yet trusted). No
 * descriptor is opened and nothing mapped until one is needed. */
int segment_open(seg_caches *caches, const char *dir, int64_t base,
                 int readonly, segment **out);

/* The .log's descriptor, pinned until segment_unfd(); or -errno (the
 * thread's error message is set). */
int segment_fd(segment *seg);
void segment_unfd(segment *seg);

/* Map both indexes if they are not (under the store's bound) and keep
 * them mapped until segment_unpin_maps(). Returns 0 or -errno (the thread's
 * error message names the index and the bound). */
int segment_pin_maps(segment *seg);
void segment_unpin_maps(segment *seg);
void segment_log_path(const segment *seg, char *out, size_t cap);

/* Set the .log's size (an open, a truncation, a cleaner's rewrite),
 * keeping the store's log_bytes (stats.h) in step. Appends store the size
 * themselves and count it with stats_stored. */
void segment_set_size(segment *seg, uint64_t size);

/* Close (and trim indexes if it was active). unlink: also delete files. */
int segment_close(segment *seg, int unlink_files);

/* Turn an opened segment into the active one (indexes writable). */
int segment_activate(segment *seg, size_t index_max_bytes);

/* fdatasync the .log, and on its first sync its directory entry too. */
int segment_sync(segment *seg);

/* The final time-index entry (the segment's largest timestamp at
 * next_offset) that sealing and a clean close add, so an open knows the
 * maximum timestamp without reading the log. Returns 0 or -errno. */
int segment_final_time_entry(segment *seg);
/* The timestamp of the last time-index entry, or -1 if none (or if the
 * index cannot be mapped). */
int64_t segment_indexed_max_ts(segment *seg);

/* Seal: final time-index entry, trim index files, fdatasync the log. */
int segment_seal(segment *seg);
/* The same without the fdatasync, which is left to whoever syncs the
 * partition next: an appender that rolls must not wait for the writeback
 * of a whole segment. Marks the segment unsynced. */
int segment_seal_unsynced(segment *seg);

/* Add the index entries for a batch about to be written at pos. The maps
 * must be pinned. */
void segment_index_batch(segment *seg, uint64_t pos, int64_t batch_base,
                         int64_t batch_max_ts, size_t batch_size,
                         int32_t interval);

/* Result of walking a segment's batches. */
typedef struct scan_result {
  uint64_t valid_end;  /* bytes of whole valid batches */
  int64_t next_offset; /* offset after the last valid batch */
  int64_t max_ts;
  int64_t batches;
  const char *why; /* why it stopped early, NULL at a clean end */
} scan_result;

/* Walk batches from position 0, checking length, magic, offset order
 * (each batch must start above the previous batch's last offset; holes
 * are allowed, see the invariants) and, at positions >= crc_from, the CRC. If
 * rebuild, the indexes are rebuilt as appends would have built them. Stops at
 * the first invalid byte. */
int segment_scan(segment *seg, uint64_t crc_from, int rebuild, int32_t interval,
                 scan_result *res);

/* segment_scan from a resume point (see segment_resume_point). dense:
 * also check that offsets are dense from start_offset on (the active
 * segment, which the cleaner never rewrites: there a gap can only be a
 * damaged baseOffset, which the CRC does not cover). */
int segment_scan_from(segment *seg, uint64_t start_pos, int64_t start_offset,
                      uint64_t crc_from, int rebuild, int dense,
                      int32_t interval, scan_result *res);

/* Where recovery can start in an active segment instead of byte 0: the last
 * offset-index entry at or below `offset` (the recovery point), if the
 * entries up to it are plausible and it names a real batch. Cuts both
 * indexes back to that point and restores the indexing state, so a scan
 * from there rebuilds the rest as appends would have. Returns 1 with the
 * position and that batch's base offset, or 0 (scan from 0). */
int segment_resume_point(segment *seg, int64_t offset, uint64_t *pos,
                         int64_t *batch_offset);

/* Walk the batch headers from the last plausible offset-index entry to the
 * end of the file. Returns 1 if they end exactly at the file's end with
 * increasing offsets, dense ones if `dense` (as segment_scan_from) (then
 * *end_offset is the offset after the last batch, or the entry's offset
 * when no batch follows it, and
 * *max_ts the largest maxTimestamp seen), 0 if not, or -errno. */
int segment_walk_tail(segment *seg, int32_t interval, int dense,
                      int64_t *end_offset, int64_t *max_ts);

/* 1 if the indexes are consistent with the log (cheap checks: ordering,
 * bounds, and the last offset entry names a real batch); 0 if they must
 * be rebuilt with segment_scan(). Uses size and next_offset. */
int segment_indexes_plausible(segment *seg, int32_t interval);
/* The offset-index half of that check (needs only the size). */
int segment_offset_index_plausible(segment *seg, int32_t interval);

/* Where to start walking headers for relative offset rel: the position of
 * the last offset-index entry at or below it, with the base offset the
 * batch there must have in *expect; or byte 0 (*expect -1) when there is
 * no entry or the index is distrusted. The maps must be pinned. */
uint64_t segment_index_start(segment *seg, uint32_t rel, int64_t *expect);
/* Does the header h at an index-given position start the batch the entry
 * named? If not, the index is distrusted from now on (logged once). */
int segment_index_entry_holds(segment *seg, const uint8_t *h, int64_t expect,
                              uint64_t pos);

/* Position of the first batch whose last offset is >= `offset` (>= the
 * segment's base): the batch holding it, or, when offset is in a hole, the
 * batch holding the next existing offset. ND_ERANGE when the segment has
 * none (offset in the hole after its last batch, or an empty segment: the
 * caller goes on with the next segment). Errors: ND_ERANGE, ND_ECORRUPT,
 * -errno. */
int segment_find(segment *seg, int64_t offset, uint64_t *pos);

/* Position of the first batch whose maxTimestamp >= ts, or -1 if none; on
 * success *batch_base gets its base offset. */
int segment_find_time(segment *seg, int64_t ts, int64_t *pos,
                      int64_t *batch_base);

/* Read up to max bytes of whole batches starting at pos (always at least
 * one whole batch), stopping before any batch that starts at or after
 * end_offset (the high watermark the caller saw). Into a malloc'ed
 * buffer. */
int segment_read(segment *seg, uint64_t pos, size_t max_bytes,
                 int64_t end_offset, uint8_t **out, size_t *out_len,
                 int64_t *next_offset);

/* The same whole batches segment_read would return, as a byte range of
 * the .log instead of a copy: *fd_out gets a descriptor of its own
 * (close-on-exec, the caller closes it) open on the .log, valid for the
 * range even after the segment is closed or deleted; -1 when *len_out is
 * 0. Reads batch headers only (see range_fd). */
int segment_read_range(segment *seg, uint64_t pos, size_t max_bytes,
                       int64_t end_offset, int *fd_out, uint64_t *len_out,
                       int64_t *next_offset);

#endif
