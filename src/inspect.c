/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inspect.c — reading a segment's files as they are on disk, without a
 * store (nodata.h: nd_log_walk, nd_index_read, nd_segment_base). This is
 * what `nodata inspect` and `nodata verify` look at: they must see damage
 * the store would silently truncate at open, and work beside a broker that
 * holds the directory, so nothing here locks, writes or repairs.
 *
 * The walk is the store's own: batch.c's cursor decides what a valid batch
 * is (length, magic, counts, order, CRC) and says why it stopped; this
 * file only renames its stop reasons for the public API and words them.
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
#include "index.h"

/* The walk's buffer: one pread per 1 MiB of batches, so a multi-gigabyte
 * segment costs one buffer, not its size in memory. */
#define CHUNK (1u << 20)

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

/* The public finding for the cursor's stop reason: one definition of a
 * valid batch (batch.c's), only renamed for the public API. */
static int walk_stop_of(batch_stop s) {
  switch (s) {
  case BATCH_STOP_NONE:
  case BATCH_STOP_END:
    return ND_WALK_END;
  case BATCH_STOP_LENGTH:
    return ND_WALK_BAD_LENGTH;
  case BATCH_STOP_MAGIC:
    return ND_WALK_BAD_MAGIC;
  case BATCH_STOP_FIELDS:
    return ND_WALK_BAD_COUNT;
  case BATCH_STOP_CRC:
    return ND_WALK_BAD_CRC;
  /* GAP needs BATCH_CHECK_DENSE, which a public walk never asks for. */
  case BATCH_STOP_BACKWARDS:
  case BATCH_STOP_GAP:
    return ND_WALK_BACKWARDS;
  /* MEMORY cannot happen (a memory walk ends at the bytes it is given);
   * IO is returned as a code, not a finding. */
  case BATCH_STOP_TORN:
  case BATCH_STOP_MEMORY:
  case BATCH_STOP_IO:
    break;
  }
  return ND_WALK_TORN;
}

/* Put the cursor's finding into w, in words a person reads (the header's
 * numbers where they explain it). */
static void walk_finding(const batch_cursor *c, const uint8_t *h,
                         int64_t prev_next, nd_walk_result *w) {
  uint64_t left = w->file_size - c->stop_pos;
  nd_batch_info b = {0};
  if (h)
    batch_info_fill(h, &b);
  switch (c->stop) {
  case BATCH_STOP_TORN:
    if (c->size)
      stop(w, walk_stop_of(c->stop), c->stop_pos,
           "batch cut short: its header says %" PRIu64 " bytes, %" PRIu64
           " are left in the file",
           c->size, left);
    else
      stop(w, walk_stop_of(c->stop), c->stop_pos,
           "batch header cut short: %" PRIu64 " bytes left, a header needs %d",
           left, BATCH_HEADER_SIZE);
    return;
  case BATCH_STOP_FIELDS:
    stop(w, walk_stop_of(c->stop), c->stop_pos,
         "negative record count (%d) or last offset delta (%d)",
         (int)b.record_count, (int)b.last_offset_delta);
    return;
  case BATCH_STOP_CRC:
    stop(w, walk_stop_of(c->stop), c->stop_pos,
         "CRC-32C mismatch in the batch of offsets %" PRId64 "..%" PRId64
         " (%" PRIu64 " bytes)",
         b.base_offset, b.last_offset, c->size);
    return;
  case BATCH_STOP_BACKWARDS:
  case BATCH_STOP_GAP:
    stop(w, walk_stop_of(c->stop), c->stop_pos,
         "the batch starts at offset %" PRId64
         ", below the previous batch's end (%" PRId64 ")",
         b.base_offset, prev_next);
    return;
  default:
    stop(w, walk_stop_of(c->stop), c->stop_pos, "%s", c->why);
  }
}

/* Walk the batches c yields into w (c set up by the caller, over a file
 * or memory); returns 0 or a negative code. The cursor checks what flags
 * ask: framing and fields always, offset order with CHECK_ORDER, the CRC
 * with STOP_CRC (the batch is then not yielded). Without STOP_CRC a batch
 * whose CRC does not match is still given to fn, so the CRC is checked
 * here, by batch.c's own test, on the whole batch. */
static int walk_cursor(batch_cursor *c, const uint8_t *mem, unsigned flags,
                       nd_batch_fn fn, void *ctx, nd_walk_result *w) {
  int64_t prev_next = 0;
  int rc;
  while ((rc = batch_cursor_next(c)) == 1) {
    if (!(flags & ND_WALK_STOP_CRC) && (rc = batch_cursor_load(c)) != 0) {
      if (rc != ND_ECORRUPT)
        break;
      /* The file ended inside a batch whose header it held: it was cut
       * while this walk read it. */
      stop(w, ND_WALK_TORN, c->pos,
           "batch cut short: the file ended while it was read");
      return 0;
    }
    nd_batch_info b;
    batch_info_fill(c->batch, &b);
    b.pos = c->pos;
    b.crc_ok = (flags & ND_WALK_STOP_CRC) || batch_crc_ok(c->batch, c->size);
    w->batches++;
    if (!b.crc_ok)
      w->crc_bad++;
    w->end = c->pos + c->size;
    prev_next = batch_next_offset(c->batch);
    if (fn && fn(ctx, &b, c->batch)) {
      if (w->end < w->file_size) {
        w->stop = ND_WALK_CALLER;
        w->stop_pos = (int64_t)b.pos;
      }
      return 0;
    }
  }
  if (rc < 0)
    return rc == ND_ENOMEM
               ? nd_fail(ND_ENOMEM, "out of memory walking the batches")
               : nd_fail_os(-rc, "read at byte %" PRIu64, c->pos);
  if (c->stop == BATCH_STOP_END)
    return 0;
  /* The header at the stop, for the message: the cursor yields no batch
   * it refused. A whole header is there for every finding but TORN. */
  uint8_t hb[BATCH_HEADER_SIZE];
  const uint8_t *h = NULL;
  if (w->file_size - c->stop_pos >= BATCH_HEADER_SIZE) {
    if (mem)
      h = mem + c->stop_pos;
    else if (file_pread_full(c->fd, hb, sizeof hb, (off_t)c->stop_pos) ==
             (ssize_t)sizeof hb)
      h = hb;
  }
  walk_finding(c, h, prev_next, w);
  return 0;
}

static unsigned cursor_checks(unsigned flags) {
  unsigned checks = BATCH_CHECK_FRAME | BATCH_CHECK_FIELDS;
  if (flags & ND_WALK_CHECK_ORDER)
    checks |= BATCH_CHECK_ORDER;
  if (flags & ND_WALK_STOP_CRC)
    checks |= BATCH_CHECK_CRC;
  return checks;
}

/* Open path read-only and take its size: the descriptor, or a negative
 * code with the message set. */
static int open_sized(const char *path, uint64_t *size) {
  int fd = file_open(path, O_RDONLY);
  if (fd < 0)
    return nd_fail_os(-fd, "cannot open %s", path);
  struct stat st;
  int err = file_fstat(fd, &st);
  if (err) {
    file_close(fd);
    return nd_fail_os(-err, "cannot stat %s", path);
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
  batch_cursor c;
  batch_cursor_fd(&c, fd, 0, result->file_size, NULL, CHUNK,
                  cursor_checks(flags));
  int rc = walk_cursor(&c, NULL, flags, fn, ctx, result);
  batch_cursor_close(&c);
  file_close(fd);
  return rc;
}

int nd_log_walk_mem(const void *data, size_t len, unsigned flags,
                    nd_batch_fn fn, void *ctx, nd_walk_result *result) {
  nd_clear_error();
  if (!result)
    return nd_fail(ND_EINVAL, "nd_log_walk_mem: NULL result");
  memset(result, 0, sizeof *result);
  result->stop_pos = -1;
  if (!data && len)
    return nd_fail(ND_EINVAL, "nd_log_walk_mem: NULL data");
  if (flags & ~(unsigned)(ND_WALK_STOP_CRC | ND_WALK_CHECK_ORDER))
    return nd_fail(ND_EINVAL, "nd_log_walk_mem: unknown flags 0x%x", flags);
  result->file_size = len;
  batch_cursor c;
  batch_cursor_mem(&c, data, len, cursor_checks(flags));
  int rc = walk_cursor(&c, data, flags, fn, ctx, result);
  batch_cursor_close(&c);
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
  size_t esize = time ? TIME_ENTRY_SIZE : OFFSET_ENTRY_SIZE;
  uint64_t size = 0;
  int fd = open_sized(path, &size);
  if (fd < 0)
    return fd;
  size_t len = (size_t)size;
  uint8_t *raw = len ? malloc(len) : NULL;
  if (len && !raw) {
    file_close(fd);
    return nd_fail(ND_ENOMEM, "cannot allocate %zu bytes for %s", len, path);
  }
  ssize_t got = len ? file_pread_full(fd, raw, len, 0) : 0;
  file_close(fd);
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
      sidx_decode_time(e, &x->timestamp, &x->relative);
      x->position = 0;
    } else {
      uint32_t pos;
      sidx_decode_offset(e, &x->relative, &pos);
      x->position = pos;
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
