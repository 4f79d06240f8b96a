/*
 * segfile.c — walking .log files and reading index files (see segfile.h).
 */
#include "segfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 20)

typedef struct reader {
  int fd;
  uint8_t *buf;
  size_t cap;
  uint64_t start; /* file position of buf[0] */
  size_t len;
} reader;

static ssize_t pread_full(int fd, void *buf, size_t n, off_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (uint8_t *)buf + got, n - got, off + (off_t)got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* [pos, pos+need) in memory; NULL at end of file (*err 0) or on error. */
static const uint8_t *reader_get(reader *r, uint64_t pos, size_t need,
                                 int *err) {
  if (pos >= r->start && pos + need <= r->start + r->len)
    return r->buf + (pos - r->start);
  size_t want = need > CHUNK ? need : CHUNK;
  if (want > r->cap) {
    uint8_t *nb = realloc(r->buf, want);
    if (!nb) {
      *err = -ENOMEM;
      return NULL;
    }
    r->buf = nb;
    r->cap = want;
  }
  ssize_t n = pread_full(r->fd, r->buf, want, (off_t)pos);
  if (n < 0) {
    *err = (int)n;
    return NULL;
  }
  r->start = pos;
  r->len = (size_t)n;
  if ((size_t)n < need)
    return NULL;
  return r->buf;
}

int seg_walk_log(const char *path, seg_batch_fn fn, void *ctx, seg_walk *w,
                 progress *pr, uint64_t *bytes_done) {
  memset(w, 0, sizeof *w);
  w->bad_pos = -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  w->file_size = (uint64_t)st.st_size;
  reader r = {.fd = fd};
  uint64_t pos = 0;
  int err = 0;
  while (pos < w->file_size) {
    uint64_t left = w->file_size - pos;
    const uint8_t *h = reader_get(&r, pos, SEG_BATCH_HEADER, &err);
    if (!h) {
      if (err)
        break;
      w->bad_pos = (int64_t)pos;
      w->short_tail = 1;
      snprintf(w->why, sizeof w->why,
               "batch header cut short: %" PRIu64
               " bytes left, a header needs %d",
               left, SEG_BATCH_HEADER);
      break;
    }
    int32_t length = (int32_t)seg_be32(h + 8);
    int32_t count = (int32_t)seg_be32(h + 57);
    int32_t last_delta = (int32_t)seg_be32(h + 23);
    if (length < SEG_BATCH_HEADER - 12) {
      w->bad_pos = (int64_t)pos;
      snprintf(w->why, sizeof w->why,
               "batch length %d is below the 49-byte minimum", (int)length);
      break;
    }
    if (h[16] != 2) {
      w->bad_pos = (int64_t)pos;
      snprintf(w->why, sizeof w->why, "magic byte is %d, not 2", h[16]);
      break;
    }
    if (count < 0 || last_delta < 0) {
      w->bad_pos = (int64_t)pos;
      snprintf(w->why, sizeof w->why,
               "negative record count (%d) or last offset delta (%d)",
               (int)count, (int)last_delta);
      break;
    }
    uint64_t size = (uint64_t)length + 12;
    if (size > left) {
      w->bad_pos = (int64_t)pos;
      w->short_tail = 1;
      snprintf(w->why, sizeof w->why,
               "batch cut short: its header says %" PRIu64 " bytes, %" PRIu64
               " are left in the file",
               size, left);
      break;
    }
    const uint8_t *b = reader_get(&r, pos, (size_t)size, &err);
    if (!b)
      break;
    seg_batch sb = {
        .pos = pos,
        .size = size,
        .base = (int64_t)seg_be64(b),
        .last = (int64_t)seg_be64(b) + last_delta,
        .count = count,
        .attributes = (int16_t)(b[21] << 8 | b[22]),
        .base_ts = (int64_t)seg_be64(b + 27),
        .max_ts = (int64_t)seg_be64(b + 35),
        .producer_id = (int64_t)seg_be64(b + 43),
        .producer_epoch = (int16_t)(b[51] << 8 | b[52]),
        .base_sequence = (int32_t)seg_be32(b + 53),
        .leader_epoch = (int32_t)seg_be32(b + 12),
        .crc_ok = nd_crc32c(0, b + 21, (size_t)size - 21) == seg_be32(b + 17),
    };
    w->batches++;
    if (!sb.crc_ok)
      w->crc_bad++;
    pos += size;
    w->end = pos;
    if (bytes_done) {
      *bytes_done += size;
      if (pr)
        progress_update(pr, *bytes_done);
    }
    if (fn && fn(ctx, &sb, b))
      break;
  }
  free(r.buf);
  close(fd);
  return err;
}

int seg_read_index(const char *path, int entry_size, uint8_t **buf, size_t *n,
                   size_t *slots) {
  *buf = NULL;
  *n = *slots = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 1 : -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  size_t len = (size_t)st.st_size;
  if (len == 0) {
    close(fd);
    return 0;
  }
  uint8_t *b = malloc(len);
  if (!b) {
    close(fd);
    return -ENOMEM;
  }
  ssize_t got = pread_full(fd, b, len, 0);
  close(fd);
  if (got < 0) {
    free(b);
    return (int)got;
  }
  size_t total = (size_t)got / (size_t)entry_size;
  size_t i = 0;
  for (; i < total; i++) {
    const uint8_t *e = b + i * (size_t)entry_size;
    int zero = 1;
    for (int k = 0; k < entry_size; k++)
      zero &= e[k] == 0;
    if (zero)
      break;
  }
  *buf = b;
  *n = i;
  *slots = total;
  return 0;
}

int64_t seg_base_from_name(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  for (int i = 0; i < 20; i++)
    if (name[i] < '0' || name[i] > '9')
      return -1;
  if (name[20] != '.')
    return -1;
  return strtoll(name, NULL, 10);
}

const char *seg_codec_name(int attributes) {
  static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  int c = attributes & 7;
  return c < 5 ? names[c] : "unknown";
}
