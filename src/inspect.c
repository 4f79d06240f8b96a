/*
 * inspect.c — reading a segment's files as they are on disk, without a
 * store (nodata.h: nd_log_walk, nd_index_read, nd_segment_base). This is
 * what `nodata inspect` and `nodata verify` look at: they must see damage
 * the store would silently truncate at open, and work beside a broker that
 * holds the directory, so nothing here locks, writes or repairs.
 *
 * The walk applies the store's own header checks (batch_check: length,
 * magic, counts) through batch.c, reading the file in 1 MiB chunks so a
 * multi-gigabyte segment costs one buffer, not its size in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "batchinfo.h"
#include "error.h"
#include "file.h"

#define CHUNK (1u << 20)

/* The same chunked reader as segment.c's scan; both give way to the one
 * batch cursor (issue 17) when it lands in batch.c. */
typedef struct reader {
  int fd;
  uint8_t *buf;
  size_t cap;
  uint64_t start; /* file position of buf[0] */
  size_t len;
} reader;

/* [pos, pos+need) in memory; NULL at end of file (*err 0) or on error. */
static const uint8_t *reader_get(reader *r, uint64_t pos, size_t need,
                                 int *err) {
  if (pos >= r->start && pos + need <= r->start + r->len)
    return r->buf + (pos - r->start);
  size_t want = need > CHUNK ? need : CHUNK;
  if (want > r->cap) {
    uint8_t *nb = realloc(r->buf, want);
    if (!nb) {
      *err = nd_fail(ND_ENOMEM, "cannot allocate %zu bytes", want);
      return NULL;
    }
    r->buf = nb;
    r->cap = want;
  }
  ssize_t n = file_pread_full(r->fd, r->buf, want, (off_t)pos);
  if (n < 0) {
    *err = nd_fail_os((int)-n, "read at byte %" PRIu64, pos);
    return NULL;
  }
  r->start = pos;
  r->len = (size_t)n;
  return (size_t)n < need ? NULL : r->buf;
}

static void stop(nd_walk_result *w, int why, uint64_t pos, const char *fmt, ...)
    ND_PRINTF(4, 5);

static void stop(nd_walk_result *w, int why, uint64_t pos, const char *fmt,
                 ...) {
  w->stop = why;
  w->stop_pos = (int64_t)pos;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->why, sizeof w->why, fmt, ap);
  va_end(ap);
}

/* Walk fd's batches into w; returns 0 or a negative code. */
static int walk_fd(int fd, unsigned flags, nd_batch_fn fn, void *ctx,
                   nd_walk_result *w) {
  reader r = {.fd = fd};
  uint64_t pos = 0;
  int64_t next = INT64_MIN; /* offset the next batch may start at */
  int err = 0;
  while (pos < w->file_size) {
    uint64_t left = w->file_size - pos;
    const uint8_t *h = reader_get(&r, pos, BATCH_HEADER_SIZE, &err);
    if (!h) {
      if (!err)
        stop(w, ND_WALK_TORN, pos,
             "batch header cut short: %" PRIu64
             " bytes left, a header needs %d",
             left, BATCH_HEADER_SIZE);
      break;
    }
    nd_batch_info b;
    batch_info_fill(h, &b);
    b.pos = pos;
    if (b.length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD) {
      stop(w, ND_WALK_BAD_LENGTH, pos,
           "batch length %d is below the 49-byte minimum", (int)b.length);
      break;
    }
    if (b.magic != BATCH_MAGIC) {
      stop(w, ND_WALK_BAD_MAGIC, pos, "magic byte is %d, not 2", h[16]);
      break;
    }
    if (!batch_header_sane(h)) {
      stop(w, ND_WALK_BAD_COUNT, pos,
           "negative record count (%d) or last offset delta (%d)",
           (int)b.record_count, (int)b.last_offset_delta);
      break;
    }
    if (b.size > left) {
      stop(w, ND_WALK_TORN, pos,
           "batch cut short: its header says %" PRIu64 " bytes, %" PRIu64
           " are left in the file",
           b.size, left);
      break;
    }
    if ((flags & ND_WALK_CHECK_ORDER) && next != INT64_MIN &&
        b.base_offset < next) {
      stop(w, ND_WALK_BACKWARDS, pos,
           "the batch starts at offset %" PRId64
           ", below the previous batch's end (%" PRId64 ")",
           b.base_offset, next);
      break;
    }
    const uint8_t *bytes = reader_get(&r, pos, (size_t)b.size, &err);
    if (!bytes) {
      if (!err) /* the file shrank under us: a tail cut while we read */
        stop(w, ND_WALK_TORN, pos, "the file ended while it was read");
      break;
    }
    size_t total;
    const char *why;
    b.crc_ok =
        batch_check(bytes, (size_t)b.size, 1, &total, &why) == BATCH_VALID;
    if (!b.crc_ok && (flags & ND_WALK_STOP_CRC)) {
      stop(w, ND_WALK_BAD_CRC, pos,
           "CRC-32C mismatch in the batch of offsets %" PRId64 "..%" PRId64
           " (%" PRIu64 " bytes)",
           b.base_offset, b.last_offset, b.size);
      break;
    }
    w->batches++;
    if (!b.crc_ok)
      w->crc_bad++;
    pos += b.size;
    w->end = pos;
    next = add_wrap(b.last_offset, 1);
    if (fn && fn(ctx, &b, bytes)) {
      if (pos < w->file_size) {
        w->stop = ND_WALK_CALLER;
        w->stop_pos = (int64_t)b.pos;
      }
      break;
    }
  }
  free(r.buf);
  return err;
}

/* Open path read-only and take its size: the descriptor, or a negative
 * code with the message set. */
static int open_sized(const char *path, uint64_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nd_fail_os(errno, "cannot open %s", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = nd_fail_os(errno, "cannot stat %s", path);
    close(fd);
    return rc;
  }
  *size = (uint64_t)st.st_size;
  return fd;
}

int nd_log_walk(const char *path, unsigned flags, nd_batch_fn fn, void *ctx,
                nd_walk_result *result) {
  nd_clear_error();
  if (!result)
    return nd_fail(ND_EINVAL, "nd_log_walk: NULL result");
  memset(result, 0, sizeof *result);
  result->stop_pos = -1;
  if (!path)
    return nd_fail(ND_EINVAL, "nd_log_walk: NULL path");
  if (flags & ~(unsigned)(ND_WALK_STOP_CRC | ND_WALK_CHECK_ORDER))
    return nd_fail(ND_EINVAL, "nd_log_walk: unknown flags 0x%x", flags);
  int fd = open_sized(path, &result->file_size);
  if (fd < 0)
    return fd;
  int rc = walk_fd(fd, flags, fn, ctx, result);
  close(fd);
  return rc;
}

int64_t nd_segment_base(const char *path) {
  if (!path)
    return nd_fail(ND_EINVAL, "nd_segment_base: NULL path");
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  int64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9')
      return nd_fail(ND_EINVAL, "'%s' is not a segment file name", name);
    /* Twenty digits can exceed INT64_MAX; no segment is named so. */
    if (v > (INT64_MAX - (name[i] - '0')) / 10)
      return nd_fail(ND_EINVAL, "'%s': offset out of range", name);
    v = v * 10 + (name[i] - '0');
  }
  if (name[20] != '.')
    return nd_fail(ND_EINVAL, "'%s' is not a segment file name", name);
  return v;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

int nd_index_read(const char *path, nd_index_entry **entries, size_t *count,
                  size_t *slots) {
  nd_clear_error();
  if (entries)
    *entries = NULL;
  if (count)
    *count = 0;
  if (slots)
    *slots = 0;
  if (!path || !entries || !count)
    return nd_fail(ND_EINVAL, "nd_index_read: NULL argument");
  int time = ends_with(path, ".timeindex");
  if (!time && !ends_with(path, ".index"))
    return nd_fail(ND_EINVAL, "'%s' is not a .index or .timeindex file", path);
  int64_t base = nd_segment_base(path);
  if (base < 0)
    return (int)base;
  size_t esize = time ? 12 : 8;
  uint64_t size;
  int fd = open_sized(path, &size);
  if (fd < 0)
    return fd;
  size_t len = (size_t)size;
  uint8_t *raw = len ? malloc(len) : NULL;
  if (len && !raw) {
    close(fd);
    return nd_fail(ND_ENOMEM, "cannot allocate %zu bytes for %s", len, path);
  }
  ssize_t got = len ? file_pread_full(fd, raw, len, 0) : 0;
  close(fd);
  if (got < 0) {
    free(raw);
    return nd_fail_os((int)-got, "cannot read %s", path);
  }
  size_t total = (size_t)got / esize, n = 0;
  for (; n < total; n++) {
    const uint8_t *e = raw + n * esize;
    size_t k = 0;
    while (k < esize && e[k] == 0)
      k++;
    if (k == esize)
      break;
  }
  nd_index_entry *out = n ? malloc(n * sizeof *out) : NULL;
  if (n && !out) {
    free(raw);
    return nd_fail(ND_ENOMEM, "cannot allocate %zu index entries", n);
  }
  for (size_t i = 0; i < n; i++) {
    const uint8_t *e = raw + i * esize;
    nd_index_entry *x = &out[i];
    if (time) {
      x->timestamp = (int64_t)be64(e);
      x->relative = be32(e + 8);
      x->position = 0;
    } else {
      x->relative = be32(e);
      x->position = be32(e + 4);
      x->timestamp = -1;
    }
    x->offset = base + x->relative;
  }
  free(raw);
  *entries = out;
  *count = n;
  if (slots)
    *slots = total;
  return 0;
}
