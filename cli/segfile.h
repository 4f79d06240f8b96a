/*
 * segfile.h — reading segment files directly, for inspect and verify.
 *
 * These tools look at the bytes as they are on disk, without nd_open, so
 * they can report damage the library would silently truncate at open and
 * work on a directory a broker holds. The layout (docs in src/batch.h,
 * src/index.h, src/segment.h):
 *
 *   NNNNNNNNNNNNNNNNNNNN.log        RecordBatch v2 back to back; the name
 *                                   is the first offset, 20 digits
 *   .index      8-byte entries: offset - base (u32 BE), .log position (u32)
 *   .timeindex 12-byte entries: max timestamp of all earlier batches
 *               (i64 BE), offset - base (u32 BE)
 *
 * While a segment is active its index files are preallocated and read as
 * zeros past the last entry. No real entry is all zeros (an offset entry
 * is never at position 0, a time entry never at relative offset 0), so the
 * first all-zero entry ends the list.
 */
#ifndef ND_CLI_SEGFILE_H
#define ND_CLI_SEGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

#define SEG_BATCH_HEADER 61

typedef struct seg_batch {
  uint64_t pos;  /* byte position in the .log */
  uint64_t size; /* whole batch, 12 + batchLength */
  int64_t base;
  int64_t last;
  int32_t count;
  int16_t attributes;
  int64_t base_ts;
  int64_t max_ts;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t leader_epoch;
  int crc_ok;
} seg_batch;

/* Called for every batch whose header is sane; bytes holds the whole
 * batch (valid during the call). Return non-zero to stop the walk. */
typedef int (*seg_batch_fn)(void *ctx, const seg_batch *b,
                            const uint8_t *bytes);

typedef struct seg_walk {
  uint64_t file_size;
  uint64_t end;    /* position after the last batch visited */
  int64_t bad_pos; /* -1, or where the walk met an unreadable batch */
  int short_tail;  /* the problem is a batch cut short by end of file */
  char why[200];   /* what was wrong at bad_pos */
  int64_t batches;
  int64_t crc_bad;
} seg_walk;

/* Walk the batches of a .log. A bad CRC is reported to fn (crc_ok 0) and
 * the walk continues, because the length field still frames the next
 * batch; a bad length, magic or count, or a batch cut short, stops it
 * (bad_pos, why). Returns 0, or -errno when the file cannot be read (the
 * message printed by the caller from strerror). */
int seg_walk_log(const char *path, seg_batch_fn fn, void *ctx, seg_walk *out,
                 progress *pr, uint64_t *bytes_done);

/* Entries of an index file; *n counts the entries before the first
 * all-zero one, *slots the whole file's. *buf is malloc'ed (free()); NULL
 * with 0 entries for a missing or empty file. Returns 0, 1 if the file is
 * missing, or -errno. */
int seg_read_index(const char *path, int entry_size, uint8_t **buf, size_t *n,
                   size_t *slots);

static inline uint32_t seg_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}
static inline uint64_t seg_be64(const uint8_t *p) {
  return (uint64_t)seg_be32(p) << 32 | seg_be32(p + 4);
}

/* The base offset in a segment file name, or -1 if it is not one. */
int64_t seg_base_from_name(const char *path);

const char *seg_codec_name(int attributes);

#endif
