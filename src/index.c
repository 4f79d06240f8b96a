/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.c — sparse mmapped offset and time indexes (format in index.h).
 */
#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "file.h"

static void sidx_init(sparse_index *ix, int entry_size) {
  memset(ix, 0, sizeof *ix);
  ix->entry_size = entry_size;
  atomic_init(&ix->count, 0);
}

int sidx_open_active(sparse_index *ix, const char *path, int entry_size,
                     size_t max_bytes, size_t keep) {
  sidx_init(ix, entry_size);
  max_bytes -= max_bytes % (size_t)entry_size;
  if (max_bytes < (size_t)entry_size)
    max_bytes = (size_t)entry_size;
  if (keep * (size_t)entry_size > max_bytes)
    keep = max_bytes / (size_t)entry_size;
  int fd = file_open(path, O_RDWR | O_CREAT);
  if (fd < 0)
    return fd;
  /* Trim then extend: bytes past the kept entries read as zeros. */
  int rc = file_truncate(fd, (off_t)(keep * (size_t)entry_size));
  if (!rc)
    rc = file_truncate(fd, (off_t)max_bytes);
  file_close(fd);
  if (rc)
    return rc;
  ix->map_len = max_bytes;
  ix->reserved = keep * (size_t)entry_size; /* written, so allocated */
  ix->writable = 1;
  atomic_store_explicit(&ix->count, keep, memory_order_release);
  return 0;
}

int sidx_reserve(sparse_index *ix, const char *path) {
  size_t es = (size_t)ix->entry_size;
  size_t from = sidx_count(ix) * es;
  /* Nothing to back when the index is full: the append says so itself. */
  if (ix->anon || from + es <= ix->reserved || !ix->writable ||
      from + es > ix->map_len)
    return 0;
  /* Up to a page boundary: the unit the mapping faults in. The zeros land
   * past the published entries, where no reader looks. */
  static const uint8_t zeros[4096];
  long ps = sysconf(_SC_PAGESIZE);
  size_t page = ps > 0 ? (size_t)ps : sizeof zeros;
  size_t end = (from + es + page - 1) / page * page;
  if (end > ix->map_len)
    end = ix->map_len;
  int fd = file_open(path, O_WRONLY);
  if (fd < 0)
    return fd;
  int rc = 0;
  for (size_t at = from; at < end && !rc;) {
    size_t n = end - at < sizeof zeros ? end - at : sizeof zeros;
    rc = file_pwrite_all(fd, zeros, n, (off_t)at);
    at += n;
  }
  file_close(fd);
  if (!rc)
    ix->reserved = end;
  return rc;
}

/* 1 if entry i of the file is all zeros, 0 if not, -errno. */

/* 1 if entry i of the file is all zeros or missing, 0 if not, -errno. */
static int entry_is_zero(int fd, size_t i, int entry_size) {
  uint8_t e[TIME_ENTRY_SIZE];
  ssize_t n = file_pread_full(fd, e, (size_t)entry_size,
                              (off_t)(i * (size_t)entry_size));
  if (n < 0)
    return (int)n;
  /* Past the end: the file was trimmed since it was measured (a writer's
   * roll, beside a read-only open); no entry there, as in a zero tail. */
  if (n < entry_size)
    return 1;
  for (int k = 0; k < entry_size; k++)
    if (e[k])
      return 0;
  return 1;
}

/* Entries written before an unclean shutdown, in a file still at its
 * preallocated size: the rest reads as zeros, and an all-zero entry is
 * never valid (entries exist only for batches after the first, so their
 * relative offset is > 0). Binary search for the start of the zero tail;
 * a zero entry elsewhere is left for the plausibility check to reject.
 * After a clean close the last entry is non-zero: one pread. */
static ssize_t written_entries(int fd, size_t n, int entry_size) {
  if (n == 0)
    return 0;
  int z = entry_is_zero(fd, n - 1, entry_size);
  if (z <= 0)
    return z < 0 ? z : (ssize_t)n;
  size_t lo = 0, hi = n - 1; /* first zero entry in [lo, hi] */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if ((z = entry_is_zero(fd, mid, entry_size)) < 0)
      return z;
    if (z)
      hi = mid;
    else
      lo = mid + 1;
  }
  return (ssize_t)lo;
}

int sidx_open_sealed(sparse_index *ix, const char *path, int entry_size) {
  sidx_init(ix, entry_size);
  int fd = file_open(path, O_RDONLY);
  if (fd < 0)
    return fd == -ENOENT ? 0 : fd;
  struct stat st;
  int e = file_fstat(fd, &st);
  ssize_t n = e == 0
                  ? written_entries(fd, (size_t)st.st_size / (size_t)entry_size,
                                    entry_size)
                  : e;
  file_close(fd);
  if (n < 0)
    return (int)n;
  ix->map_len = (size_t)n * (size_t)entry_size;
  atomic_store_explicit(&ix->count, (size_t)n, memory_order_release);
  return 0;
}

int sidx_open_anon(sparse_index *ix, int entry_size, size_t max_bytes) {
  sidx_init(ix, entry_size);
  max_bytes -= max_bytes % (size_t)entry_size;
  if (max_bytes < (size_t)entry_size)
    max_bytes = (size_t)entry_size;
  void *m = file_map_anon(max_bytes);
  if (!m)
    return -errno;
  ix->map = m;
  ix->map_len = max_bytes;
  ix->map_bytes = max_bytes;
  ix->writable = 1;
  ix->anon = 1;
  return 0;
}

int sidx_map(sparse_index *ix, const char *path) {
  if (ix->map || ix->anon)
    return 0;
  /* A sealed index is read up to its entries; a writable one is mapped
   * whole, since appends fill it in place. */
  size_t len =
      ix->writable ? ix->map_len : sidx_count(ix) * (size_t)ix->entry_size;
  if (len == 0)
    return 0;
  int fd = file_open(path, ix->writable ? O_RDWR : O_RDONLY);
  if (fd < 0)
    return fd;
  void *m = file_map(fd, len, ix->writable);
  int e = errno;
  file_close(fd);
  if (!m)
    return -e;
  /* Entries are touched a page at a time; default readahead would zero-fill
   * a large run of the sparse file on the first touch (milliseconds per
   * index, measured by the benchmark). */
  file_advise_random(m, len);
  ix->map = m;
  ix->map_bytes = len;
  return 1;
}

int sidx_load(sparse_index *ix, const char *path) {
  if (ix->map || ix->anon || ix->writable)
    return sidx_map(ix, path);
  size_t len = sidx_count(ix) * (size_t)ix->entry_size;
  if (len == 0)
    return 0;
  int fd = file_open(path, O_RDONLY);
  if (fd < 0)
    return fd;
  /* Private memory, not a mapping of the file: a writer may trim or cut
   * the file at any moment, and a mapped page past its end is SIGBUS. */
  void *m = file_map_anon(len);
  if (!m) {
    int e = errno;
    file_close(fd);
    return -e;
  }
  ssize_t n = file_pread_full(fd, m, len, 0);
  file_close(fd);
  if (n < 0) {
    file_unmap(m, len);
    return (int)n;
  }
  /* Cut short meanwhile: keep the whole entries that were read. */
  if ((size_t)n < len)
    atomic_store_explicit(&ix->count, (size_t)n / (size_t)ix->entry_size,
                          memory_order_release);
  ix->map = m;
  ix->map_bytes = len;
  return 1;
}

void sidx_unmap(sparse_index *ix) {
  if (!ix->map || ix->anon)
    return;
  file_unmap(ix->map, ix->map_bytes);
  ix->map = NULL;
  ix->map_bytes = 0;
}

int sidx_close(sparse_index *ix, const char *path) {
  int rc = 0;
  size_t n = sidx_count(ix);
  if (ix->map)
    file_unmap(ix->map, ix->map_bytes);
  if (path && ix->writable && !ix->anon) {
    int fd = file_open(path, O_RDWR);
    if (fd < 0)
      rc = fd;
    else {
      rc = file_truncate(fd, (off_t)(n * (size_t)ix->entry_size));
      file_close(fd);
    }
  }
  ix->map = NULL;
  ix->map_len = 0;
  ix->map_bytes = 0;
  atomic_store(&ix->count, 0);
  return rc;
}

int sidx_trim(sparse_index *ix, const char *path) {
  if (!ix->writable || ix->anon) {
    ix->writable = 0;
    return 0;
  }
  ix->writable = 0;
  int fd = file_open(path, O_RDWR);
  if (fd < 0)
    return fd;
  int rc = file_truncate(fd, (off_t)(sidx_count(ix) * (size_t)ix->entry_size));
  file_close(fd);
  return rc;
}

void sidx_truncate(sparse_index *ix, size_t n) {
  if (n < sidx_count(ix))
    atomic_store_explicit(&ix->count, n, memory_order_release);
}

void sidx_reset(sparse_index *ix) {
  atomic_store_explicit(&ix->count, 0, memory_order_release);
}

int sidx_append_offset(sparse_index *ix, uint32_t rel, uint32_t pos) {
  size_t n = sidx_count(ix);
  if (!ix->writable || (n + 1) * OFFSET_ENTRY_SIZE > ix->map_len)
    return -ENOSPC;
  uint8_t *p = ix->map + n * OFFSET_ENTRY_SIZE;
  put_be32(p, rel);
  put_be32(p + 4, pos);
  atomic_store_explicit(&ix->count, n + 1, memory_order_release);
  return 0;
}

int sidx_append_time(sparse_index *ix, int64_t ts, uint32_t rel) {
  size_t n = sidx_count(ix);
  if (!ix->writable || (n + 1) * TIME_ENTRY_SIZE > ix->map_len)
    return -ENOSPC;
  uint8_t *p = ix->map + n * TIME_ENTRY_SIZE;
  put_be64(p, (uint64_t)ts);
  put_be32(p + 8, rel);
  atomic_store_explicit(&ix->count, n + 1, memory_order_release);
  return 0;
}

void sidx_decode_offset(const uint8_t *p, uint32_t *rel, uint32_t *pos) {
  *rel = be32(p);
  *pos = be32(p + 4);
}

void sidx_decode_time(const uint8_t *p, int64_t *ts, uint32_t *rel) {
  *ts = (int64_t)be64(p);
  *rel = be32(p + 8);
}

void sidx_offset_entry(const sparse_index *ix, size_t i, uint32_t *rel,
                       uint32_t *pos) {
  sidx_decode_offset(ix->map + i * OFFSET_ENTRY_SIZE, rel, pos);
}

void sidx_time_entry(const sparse_index *ix, size_t i, int64_t *ts,
                     uint32_t *rel) {
  sidx_decode_time(ix->map + i * TIME_ENTRY_SIZE, ts, rel);
}

int sidx_lookup_entry(const sparse_index *ix, uint32_t rel, uint32_t *erel,
                      uint32_t *epos) {
  size_t lo = 0, hi = sidx_count(ix); /* answer in [lo, hi) */
  int found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t r, p;
    sidx_offset_entry(ix, mid, &r, &p);
    if (r <= rel) {
      *erel = r;
      *epos = p;
      found = 1;
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return found;
}

uint32_t sidx_lookup_offset(const sparse_index *ix, uint32_t rel) {
  uint32_t erel, epos;
  return sidx_lookup_entry(ix, rel, &erel, &epos) ? epos : 0;
}

int sidx_last_within(const sparse_index *ix, uint32_t max_pos, uint64_t rel_end,
                     uint32_t *rel, uint32_t *pos) {
  /* Both fields grow strictly from entry to entry, so "inside both
   * bounds" holds for a prefix of the entries: find its last one. */
  size_t lo = 0, hi = sidx_count(ix);
  int found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t r, q;
    sidx_offset_entry(ix, mid, &r, &q);
    if (q <= max_pos && (uint64_t)r < rel_end) {
      *rel = r;
      *pos = q;
      found = 1;
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return found;
}

int64_t sidx_lookup_time_before(const sparse_index *ix, int64_t ts) {
  size_t lo = 0, hi = sidx_count(ix);
  int64_t found = -1;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int64_t t;
    uint32_t r;
    sidx_time_entry(ix, mid, &t, &r);
    if (t < ts) {
      found = r;
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return found;
}

int sidx_plausible_offset(const sparse_index *ix, uint64_t log_size) {
  size_t n = sidx_count(ix);
  uint32_t prev_rel = 0, prev_pos = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t r, p;
    sidx_offset_entry(ix, i, &r, &p);
    if (p >= log_size && !(p == 0 && log_size == 0))
      return 0;
    if (i > 0 && (r <= prev_rel || p <= prev_pos))
      return 0;
    prev_rel = r;
    prev_pos = p;
  }
  return 1;
}

int sidx_plausible_time(const sparse_index *ix, uint32_t max_rel) {
  size_t n = sidx_count(ix);
  int64_t prev_ts = INT64_MIN;
  uint32_t prev_rel = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t t;
    uint32_t r;
    sidx_time_entry(ix, i, &t, &r);
    if (r > max_rel || t < prev_ts || (i > 0 && r < prev_rel))
      return 0;
    prev_ts = t;
    prev_rel = r;
  }
  return 1;
}
