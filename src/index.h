/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.h — a sparse index file of fixed-size big-endian entries, used for
 * both per-segment indexes:
 *
 *   .index      8 bytes: relative offset u32, byte position in .log u32
 *   .timeindex 12 bytes: max timestamp so far i64, relative offset u32
 *
 * While its segment is active an index file is preallocated to its maximum
 * size and written through a read-write shared mapping, so appending an
 * entry is a store into the page cache; the entry count is published with a
 * release store so readers can binary-search without locks. When the
 * segment is sealed or the store closes cleanly the file is trimmed to its
 * real length.
 *
 * The preallocation is sparse: it costs no disk until entries are written.
 * A store into a page the file system has no block for faults, and on a
 * full file system that fault is a SIGBUS, not an error. So the writer
 * gives each page a block before its first entry lands there, with an
 * ordinary pwrite of zeros (sidx_reserve): a full disk then is an ENOSPC
 * the writer can handle (by skipping the entry: the index is sparse and
 * derived, a missing entry only makes a lookup scan further). Index files are
 * derived data: an index that fails index_plausible() is rebuilt from the log,
 * never trusted.
 *
 * Mappings are a bounded resource (vm.max_map_count): an index is mapped
 * only while its segment pins it (segment_pin_maps) and may be unmapped
 * whenever it is not pinned (sidx_unmap). The entry count, the capacity and
 * the file stay, so a later sidx_map finds the same entries: the shared
 * mapping wrote them to the file's pages. Only entries, not the count, go
 * through the mapping; the count lives here.
 */
#ifndef ND_INDEX_H
#define ND_INDEX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define OFFSET_ENTRY_SIZE 8
#define TIME_ENTRY_SIZE 12

typedef struct sparse_index {
  int entry_size;
  uint8_t *map;         /* mapping of the file (or anonymous memory);
                           NULL while unmapped */
  size_t map_len;       /* capacity in bytes: what appends may fill */
  size_t map_bytes;     /* length of the mapping in place */
  size_t reserved;      /* bytes from the start known to have blocks */
  _Atomic size_t count; /* entries published */
  int writable;
  int anon; /* read-only stores rebuild indexes in memory only */
} sparse_index;

/* Prepare path for appending, preallocated to max_bytes, keeping the first
 * `keep` entries already in the file (the rest is zeroed). Maps nothing:
 * see sidx_map. */
int sidx_open_active(sparse_index *ix, const char *path, int entry_size,
                     size_t max_bytes, size_t keep);
/* Count the entries of an existing index (at its current length, without
 * a zero tail left by an unclean shutdown) with pread; maps nothing. A
 * missing file gives an empty index. */
int sidx_open_sealed(sparse_index *ix, const char *path, int entry_size);
/* Map the index so its entries can be read (and, if writable, appended):
 * a writable one at its capacity, read-write; a sealed one at its entries'
 * length, read-only. Returns 1 if it made a mapping, 0 if none was needed
 * (already mapped, anonymous, or no entries to read), or -errno
 * (-ENOMEM: the process is out of mappings). */
int sidx_map(sparse_index *ix, const char *path);
/* Make sure the bytes of the next entry are backed by the file system
 * (see above) before it is appended to the writable index at path: 0
 * (also when the index is full or not writable: the append then refuses),
 * or -errno (-ENOSPC on a full file system) and nothing may be appended. */
int sidx_reserve(sparse_index *ix, const char *path);

/* For read-only stores: like sidx_map, but a sealed index's entries are
 * read with pread into private memory, so that a writer trimming or
 * cutting the file meanwhile can never fault a reader (fewer entries may
 * then be kept). Released by sidx_unmap like a mapping. */
int sidx_load(sparse_index *ix, const char *path);
/* Drop the mapping of a file-backed index (entries stay in the file). */
void sidx_unmap(sparse_index *ix);
/* An empty in-memory index of capacity max_bytes (read-only stores). */
int sidx_open_anon(sparse_index *ix, int entry_size, size_t max_bytes);
/* Unmap; if path is given and the index was writable, trim the file to its
 * real length first. */
int sidx_close(sparse_index *ix, const char *path);
/* Seal: trim the file to its real length and refuse further appends. A
 * mapping in place stays (readers may be searching it); pages past the new
 * end are never touched because readers stop at the entry count. */
int sidx_trim(sparse_index *ix, const char *path);
/* Keep only the first n entries (n <= count). */
void sidx_truncate(sparse_index *ix, size_t n);
/* Empty the index (before a rebuild). */
void sidx_reset(sparse_index *ix);

static inline size_t sidx_count(const sparse_index *ix) {
  return atomic_load_explicit(&ix->count, memory_order_acquire);
}
static inline int sidx_full(const sparse_index *ix) {
  return (sidx_count(ix) + 1) * (size_t)ix->entry_size > ix->map_len;
}

/* Append an entry; returns 0 or -ENOSPC when the index is full (roll). */
int sidx_append_offset(sparse_index *ix, uint32_t rel_offset, uint32_t pos);
int sidx_append_time(sparse_index *ix, int64_t ts, uint32_t rel_offset);

/* The fields of one entry from its bytes as the files store them
 * (OFFSET_ENTRY_SIZE or TIME_ENTRY_SIZE bytes at p): for the index's own
 * reads and for nd_index_read, which reads the files without a store. */
void sidx_decode_offset(const uint8_t *p, uint32_t *rel, uint32_t *pos);
void sidx_decode_time(const uint8_t *p, int64_t *ts, uint32_t *rel);

void sidx_offset_entry(const sparse_index *ix, size_t i, uint32_t *rel,
                       uint32_t *pos);
void sidx_time_entry(const sparse_index *ix, size_t i, int64_t *ts,
                     uint32_t *rel);

/* Position of the last entry whose relative offset is <= rel (0 if none). */
/* The last entry with relative offset <= rel into *erel, *epos: 1, or 0
 * if there is none (the batch is then found from byte 0). */
int sidx_lookup_entry(const sparse_index *ix, uint32_t rel, uint32_t *erel,
                      uint32_t *epos);
uint32_t sidx_lookup_offset(const sparse_index *ix, uint32_t rel);
/* The last entry with position <= max_pos and relative offset < rel_end:
 * returns 1 and sets *rel and *pos, or 0 when no entry qualifies. */
int sidx_last_within(const sparse_index *ix, uint32_t max_pos, uint64_t rel_end,
                     uint32_t *rel, uint32_t *pos);
/* Relative offset of the last entry whose timestamp is < ts; -1 if none
 * (scan from the segment start). */
int64_t sidx_lookup_time_before(const sparse_index *ix, int64_t ts);

/* Cheap structural check: entries strictly increasing (offset index: both
 * fields; time index: offsets strictly and timestamps non-decreasing) and
 * positions below log_size. */
int sidx_plausible_offset(const sparse_index *ix, uint64_t log_size);
int sidx_plausible_time(const sparse_index *ix, uint32_t max_rel);

#endif
