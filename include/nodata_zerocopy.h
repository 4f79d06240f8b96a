/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nodata_zerocopy.h — reads as file ranges, for senders that move record
 * bytes from the page cache to a socket without copying them through user
 * space (the broker's Fetch uses sendfile). The one internal header that
 * ARCHITECTURE.md allows beside nodata.h: not installed, not a stable
 * API, and nothing but the broker should need it. Conventions are those
 * of nodata.h.
 */
#ifndef NODATA_ZEROCOPY_H
#define NODATA_ZEROCOPY_H

#include "nodata.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* Whole batches of one segment, as a byte range of its .log file. */
typedef struct nd_file_range {
  int fd;      /* owned by the caller (close it); -1 when len is 0 */
  int64_t pos; /* byte position of the first batch in the file */
  size_t len;  /* bytes of whole RecordBatch v2, back to back */
  int64_t high_watermark;
  int64_t log_start_offset;
  int64_t next_offset;        /* offset after the last batch in the range */
  int64_t last_stable_offset; /* at the time of the read */
} nd_file_range;

/* The batches nd_read would return for the same arguments (like nd_read, a
 * read ends at the end of a segment; the next call goes on from
 * next_offset), given as a range of a file instead of a copy. Reads batch
 * headers only, never record data.
 *
 * out->fd is a new close-on-exec descriptor of the segment's .log: the
 * bytes [pos, pos+len) stay readable through it until the caller closes
 * it, even if retention or DeleteRecords removes the segment meanwhile,
 * because stored batches are never rewritten in place. Each call with
 * len > 0 costs one descriptor, so a caller that holds many at once should
 * bound them (EMFILE is returned as -EMFILE, and nd_read still works).
 *
 * Errors: those of nd_read, plus -EMFILE/-ENFILE. Thread-safety: as
 * nd_read. */
int nd_read_file(nd_store *store, const char *topic, int32_t partition,
                 int64_t offset, size_t max_bytes, nd_file_range *out);

/* nd_read_file ending at the last stable offset, as nd_read_committed:
 * no batch at or past the LSO is in the range. Errors and thread-safety:
 * as nd_read_file. */
int nd_read_file_committed(nd_store *store, const char *topic,
                           int32_t partition, int64_t offset, size_t max_bytes,
                           nd_file_range *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* NODATA_ZEROCOPY_H */
