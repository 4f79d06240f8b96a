/* SPDX-License-Identifier: Apache-2.0 */
/*
 * framelog.c — append-only files of checksummed frames (see framelog.h):
 * the frame format, loading with damage skipped and told, group commit,
 * and the checkpoint rewrite. Moved out of offsets.c so the transaction
 * coordinator's log shares it.
 */
#include "framelog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "file.h"
#include "layout.h"
#include "stats.h"

#define FRAME1_HEADER 8  /* form 1, read only */
#define DAMAGE_LOGGED 16 /* ranges described one by one; the rest counted */

/* ---- writing frames ----------------------------------------------------- */

int fl_reserve(fl_buf *b, size_t n) {
  if (b->len + n <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n)
    cap *= 2;
  uint8_t *np = realloc(b->p, cap);
  if (!np)
    return ND_ENOMEM;
  b->p = np;
  b->cap = cap;
  return 0;
}

void fl_u8(fl_buf *b, uint8_t v) {
  b->p[b->len++] = v;
}
void fl_u16(fl_buf *b, uint16_t v) {
  put_be16(b->p + b->len, v);
  b->len += 2;
}
void fl_u32(fl_buf *b, uint32_t v) {
  put_be32(b->p + b->len, v);
  b->len += 4;
}
void fl_u64(fl_buf *b, uint64_t v) {
  put_be64(b->p + b->len, v);
  b->len += 8;
}
void fl_bytes(fl_buf *b, const void *p, size_t n) {
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

int fl_frame_start(fl_buf *b, uint8_t version) {
  if (fl_reserve(b, FL_HEADER + 5))
    return ND_ENOMEM;
  b->frame = b->len;
  b->len += FL_HEADER;
  fl_u8(b, version);
  fl_u32(b, 0);
  return 0;
}

void fl_frame_finish(fl_buf *b, uint32_t magic, uint32_t ops) {
  uint8_t *h = b->p + b->frame;
  size_t payload = b->len - b->frame - FL_HEADER;
  put_be32(h + FL_HEADER + 1, ops);
  put_be32(h, magic);
  put_be32(h + 4, (uint32_t)payload);
  put_be32(h + 8, nd_crc32c(0, h + FL_HEADER, payload));
  put_be32(h + 12, nd_crc32c(0, h, 12));
}

const uint8_t *fl_take(fl_cur *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = 1;
    return NULL;
  }
  const uint8_t *r = c->p;
  c->p += n;
  return r;
}

int fl_payload_start(fl_cur *c, const uint8_t *p, size_t n, uint8_t version,
                     uint32_t *ops) {
  c->p = p;
  c->end = p + n;
  c->bad = 0;
  const uint8_t *h = fl_take(c, 5);
  if (!h || h[0] != version)
    return -1;
  *ops = be32(h + 1);
  return 0;
}

/* ---- damage text -------------------------------------------------------- */

void fl_text_add(fl_text *t, const char *fmt, ...) {
  if (t->n >= sizeof t->s - 1)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
  va_end(ap);
  t->n = n < 0 ? t->n : t->n + (size_t)n;
  if (t->n >= sizeof t->s - 1)
    t->n = sizeof t->s - 1;
}

void fl_text_name(fl_text *t, const uint8_t *p, size_t n) {
  fl_text_add(t, "'");
  for (size_t i = 0; i < n && i < 64; i++)
    fl_text_add(t,
                p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' ? "%c" : "\\x%02x",
                p[i]);
  fl_text_add(t, n > 64 ? "...'" : "'");
}

enum { DMG_BYTES, DMG_CHECKSUM, DMG_OPS };

typedef struct damage {
  size_t from, to;
  size_t hdr; /* DMG_CHECKSUM, DMG_OPS: the frame's header length */
  int kind;
} damage;

/* One line for each damaged range, naming the file, the bytes and, where a
 * frame's header survived, what its ops appear to have been. Called after
 * the whole file is loaded, so "now" is what the store shows. */
static void log_damage(framelog *fl, const uint8_t *d, const damage *dm,
                       int at_end) {
  /* Nothing valid after it: a write cut short by a power cut can look
   * like this (a frame's size reached the disk before all its bytes), so
   * the message does not claim more than it knows. */
  const char *how = at_end ? " at the end (a write cut short by a crash, or "
                             "damage); dropped"
                           : "; skipped, the frames after them are used";
  fl_text t = {{0}, 0};
  fl_text_add(&t, "%s: bytes %zu-%zu ", fl->path, dm->from, dm->to);
  if (dm->kind == DMG_BYTES) {
    fl_text_add(&t, "hold no valid frame%s. What they held is unknown", how);
  } else {
    fl_text_add(&t, "are a frame %s%s. It %s: ",
                dm->kind == DMG_CHECKSUM
                    ? "that fails its checksum"
                    : "whose checksum holds but whose ops do not parse",
                how,
                dm->kind == DMG_CHECKSUM ? "appears to hold (unchecked)"
                                         : "holds");
    fl->owner->describe(fl->ctx, d + dm->from + dm->hdr,
                        dm->to - dm->from - dm->hdr, &t);
  }
  fl_text_add(&t, ". %s", fl->owner->loss);
  nd_log(&fl->log, ND_LOG_WARN, "%s", t.s);
}

/* ---- loading ------------------------------------------------------------ */

enum { F_VALID, F_CHECKSUM, F_TORN, F_NONE };

enum { FORM1_NO, FORM1_AT_BOUNDARY, FORM1_RESYNC };

/* What starts at pos: a frame of form 2 whose header checks (whole or
 * cut by the end of the file, payload checksum right or wrong), a form-1
 * frame whose checksum holds (form1: only where form 1 may still occur),
 * or nothing recognisable. *flen: the frame's whole length. */
static int frame_at(framelog *fl, const uint8_t *d, size_t len, size_t pos,
                    int form1, size_t *flen, int *form) {
  size_t left = len - pos;
  const uint8_t *h = d + pos;
  if (left >= FL_HEADER && be32(h) == fl->magic &&
      nd_crc32c(0, h, 12) == be32(h + 12)) {
    uint32_t plen = be32(h + 4);
    *form = 2;
    *flen = FL_HEADER + (size_t)plen;
    if (plen > left - FL_HEADER)
      return F_TORN;
    return nd_crc32c(0, h + FL_HEADER, plen) == be32(h + 8) ? F_VALID
                                                            : F_CHECKSUM;
  }
  if (form1 && fl->owner->form1 && left >= FRAME1_HEADER + 5) {
    uint32_t plen = be32(h);
    const uint8_t *payload = h + FRAME1_HEADER;
    /* Cheap tests first. Resynchronising tries every byte, and a form-1
     * header has nothing but its checksum to check in full: the CRC of a
     * length read from damaged bytes, at each position, would make
     * loading quadratic (a file of 0x01 bytes: a 16 MiB CRC per byte), so
     * there the ops must parse first, which damaged bytes fail early. */
    if (payload[0] == fl->owner->form1_version && plen >= 5 &&
        plen <= left - FRAME1_HEADER &&
        (form1 != FORM1_RESYNC ||
         fl->owner->payload(fl->ctx, payload, plen, 0) == 0) &&
        nd_crc32c(0, payload, plen) == be32(h + 4)) {
      *form = 1;
      *flen = FRAME1_HEADER + (size_t)plen;
      return F_VALID;
    }
  }
  return F_NONE;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

typedef struct loaded {
  damage dmg[DAMAGE_LOGGED];
  size_t ndmg, dmg_total; /* described, found */
  uint64_t dmg_bytes;
  size_t end_valid; /* end of the last frame applied */
  int form1;        /* frames of form 1 were met */
  int torn;         /* the bytes after end_valid are a torn write */
} loaded;

static void note_damage(loaded *ld, size_t from, size_t to, size_t hdr,
                        int kind) {
  if (ld->ndmg < DAMAGE_LOGGED)
    ld->dmg[ld->ndmg++] = (damage){from, to, hdr, kind};
  ld->dmg_total++;
  ld->dmg_bytes += to - from;
}

/* Apply every valid frame of d. A frame that fails its checksum, or whose
 * ops do not parse, is skipped whole (its header gave its length); bytes
 * that start no frame are skipped up to the next position where one
 * starts (resynchronisation). What follows the last valid frame is a torn
 * write if it is a frame cut by the end of the file, zeros, or shorter
 * than a header. */
static int load_frames(framelog *fl, const uint8_t *d, size_t len, loaded *ld) {
  size_t pos = 0;
  int seen2 = 0; /* no form-1 frame follows one of form 2 */
  while (pos < len) {
    size_t flen;
    int form, k = frame_at(fl, d, len, pos,
                           seen2 ? FORM1_NO : FORM1_AT_BOUNDARY, &flen, &form);
    if (k == F_TORN)
      break;
    if (k == F_NONE) {
      size_t q = pos + 1;
      while (q < len && frame_at(fl, d, len, q, seen2 ? FORM1_NO : FORM1_RESYNC,
                                 &flen, &form) == F_NONE)
        q++;
      if (q == len)
        break;
      note_damage(ld, pos, q, 0, DMG_BYTES);
      pos = q;
      continue;
    }
    seen2 |= form == 2;
    ld->form1 |= form == 1;
    size_t hdr = form == 2 ? FL_HEADER : FRAME1_HEADER;
    const uint8_t *payload = d + pos + hdr;
    size_t plen = flen - hdr;
    int r = -1;
    if (k == F_VALID &&
        (r = fl->owner->payload(fl->ctx, payload, plen, 0)) == 0)
      r = fl->owner->payload(fl->ctx, payload, plen, 1);
    if (r == -2)
      return nd_fail(ND_ENOMEM, "out of memory loading %s", fl->path);
    if (r == 0)
      ld->end_valid = pos + flen;
    else
      note_damage(ld, pos, pos + flen, hdr,
                  k == F_VALID ? DMG_OPS : DMG_CHECKSUM);
    pos += flen;
  }
  if (pos < len) {
    size_t flen;
    int form;
    ld->torn = pos == ld->end_valid &&
               (len - pos < FL_HEADER || all_zero(d + pos, len - pos) ||
                frame_at(fl, d, len, pos, FORM1_NO, &flen, &form) == F_TORN);
    if (!ld->torn)
      note_damage(ld, pos, len, 0, DMG_BYTES);
  }
  return 0;
}

/* For a copy of a live file (nd_backup): where its last whole frame
 * ends when what follows is an append in progress, i.e. fewer bytes than
 * a header, or a form-2 header that checks with a payload the end cuts.
 * Anything else (form-1 frames, damage) is the loader's to tell: len.
 * The magic is the first frame's, so no owner is needed. */
size_t fl_whole_frames(const uint8_t *d, size_t len) {
  if (len < FL_HEADER || nd_crc32c(0, d, 12) != be32(d + 12))
    return len;
  uint32_t magic = be32(d);
  size_t pos = 0;
  while (pos < len) {
    const uint8_t *h = d + pos;
    size_t left = len - pos;
    if (left < FL_HEADER)
      return pos;
    if (be32(h) != magic || nd_crc32c(0, h, 12) != be32(h + 12))
      return len;
    uint32_t plen = be32(h + 4);
    if (plen > left - FL_HEADER)
      return pos;
    pos += FL_HEADER + (size_t)plen;
  }
  return len;
}

/* The owner's state as a checkpoint file; *size its length. */
static int write_checkpoint(framelog *fl, uint64_t *size) {
  fl_buf b = {0};
  int rc = fl->owner->checkpoint(fl->ctx, &b);
  if (rc) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  rc = file_write_atomic(fl->path, b.p, b.len);
  free(b.p);
  if (rc)
    return nd_fail_os(-rc, "cannot rewrite %s", fl->path);
  *size = b.len;
  return 0;
}

static int replay(framelog *fl) {
  char *data;
  size_t len;
  int rc = file_read_all(fl->path, &data, &len);
  if (rc == -ENOENT)
    return 0;
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", fl->path);
  const uint8_t *d = (const uint8_t *)data;
  loaded ld;
  memset(&ld, 0, sizeof ld);
  rc = load_frames(fl, d, len, &ld);
  if (!rc) {
    for (size_t i = 0; i < ld.ndmg; i++)
      log_damage(fl, d, &ld.dmg[i], ld.dmg[i].from >= ld.end_valid);
    if (ld.dmg_total > ld.ndmg)
      nd_log(&fl->log, ND_LOG_WARN,
             "%s: %zu more damaged ranges skipped (%" PRIu64
             " damaged bytes in all)",
             fl->path, ld.dmg_total - ld.ndmg, ld.dmg_bytes);
    if (ld.torn)
      nd_log(&fl->log, ND_LOG_INFO,
             "%s: the %zu bytes from byte %zu are a write cut short by a "
             "crash (an incomplete frame, or zeros)%s",
             fl->path, len - ld.end_valid, ld.end_valid,
             fl->readonly ? "" : "; cut");
  }
  free(data);
  fl->file_size = len;
  if (rc || fl->readonly)
    return rc;
  if (ld.dmg_total || ld.form1) {
    /* The damaged bytes go in a rewrite, not by cutting the file there:
     * frames after them are valid. The damaged file is kept (a hard link
     * to it survives the rename) for whoever wants to look at it. */
    char keep[PATH_MAX + 16];
    snprintf(keep, sizeof keep, "%s" LAYOUT_DAMAGED, fl->path);
    int kept = 0;
    if (ld.dmg_total) {
      file_unlink(keep);
      kept = file_link(fl->path, keep) == 0;
    }
    uint64_t size;
    if (write_checkpoint(fl, &size) == 0) {
      fl->file_size = size;
      if (ld.dmg_total)
        nd_log(&fl->log, ND_LOG_INFO,
               "%s: rewritten without the damaged bytes%s%s", fl->path,
               kept ? "; the damaged file is kept as " : "", kept ? keep : "");
      return 0;
    }
    /* Without a rewrite (disk full?) the file still works: the next frame
     * is appended after the last valid one, and the damage is met (and
     * told) again at the next open. The link would not stay a copy of the
     * damaged file: it shares the inode that is cut and appended to. */
    if (kept)
      file_unlink(keep);
    nd_log(&fl->log, ND_LOG_WARN,
           "%s; the file is used as it is and the damage will be met "
           "again at the next open",
           nd_errmsg());
  }
  if (ld.end_valid < len) {
    /* Nothing valid follows the last valid frame: cut the rest, or a
     * frame appended after it could be swallowed by a torn frame's
     * length. */
    int fd = file_open(fl->path, O_RDWR);
    if (fd < 0)
      return nd_fail_os(-fd, "cannot open %s", fl->path);
    rc = file_truncate(fd, (off_t)ld.end_valid);
    if (!rc)
      rc = stats_datasync(&fl->log, fd, fl->path);
    file_close(fd);
    if (rc)
      return nd_fail_os(-rc, "cannot truncate %s at byte %zu", fl->path,
                        ld.end_valid);
    fl->file_size = ld.end_valid;
  }
  return 0;
}

/* ---- open / close ------------------------------------------------------- */

int fl_open(framelog *fl, const char *path, uint32_t magic, int readonly,
            const nd_logger *log, const fl_owner *owner, void *ctx) {
  memset(fl, 0, sizeof *fl);
  if (log)
    fl->log = *log;
  fl->fd = -1;
  fl->magic = magic;
  fl->readonly = readonly;
  fl->owner = owner;
  fl->ctx = ctx;
  snprintf(fl->path, sizeof fl->path, "%s", path);
  pthread_mutex_init(&fl->sync_mu, NULL);
  pthread_cond_init(&fl->sync_cond, NULL);
  char tmp[PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s" LAYOUT_TMP, fl->path);
  if (!readonly)
    file_unlink(tmp); /* an interrupted rewrite; the old file is whole */
  int rc = replay(fl);
  if (!rc && !readonly) {
    fl->fd = file_open(fl->path, O_RDWR | O_CREAT);
    if (fl->fd < 0) {
      rc = nd_fail_os(-fl->fd, "cannot open %s", fl->path);
      fl->fd = -1;
    }
  }
  if (rc)
    fl_close(fl);
  return rc;
}

int fl_close(framelog *fl) {
  int rc = 0;
  if (fl->fd >= 0) {
    if (fl->synced < atomic_load(&fl->written))
      rc = stats_datasync(&fl->log, fl->fd, fl->path);
    file_close(fl->fd);
    fl->fd = -1;
  }
  pthread_mutex_destroy(&fl->sync_mu);
  pthread_cond_destroy(&fl->sync_cond);
  return rc ? nd_fail_os(-rc, "fdatasync of %s", fl->path) : 0;
}

/* ---- appending and syncing ---------------------------------------------- */

int fl_append(framelog *fl, const fl_buf *b, uint64_t *frame) {
  if (fl->failed)
    return nd_fail(ND_EFAILED, "%s failed after an I/O error", fl->path);
  int rc = file_pwrite_all(fl->fd, b->p, b->len, (off_t)fl->file_size);
  if (rc) {
    if (file_truncate(fl->fd, (off_t)fl->file_size) != 0)
      fl->failed = 1;
    return nd_fail_os(-rc, "append to %s at byte %" PRIu64, fl->path,
                      fl->file_size);
  }
  fl->file_size += b->len;
  *frame = atomic_fetch_add(&fl->written, 1) + 1;
  return 0;
}

/* Group commit over the file, as partitions do for their logs. The
 * descriptor is read once syncing is set: fl_rewrite replaces it only
 * while no sync runs. */
int fl_sync(framelog *fl, uint64_t frame) {
  int rc = 0;
  pthread_mutex_lock(&fl->sync_mu);
  while (fl->synced < frame) {
    if (fl->syncing) {
      pthread_cond_wait(&fl->sync_cond, &fl->sync_mu);
      continue;
    }
    if (fl->failed) {
      rc = nd_fail(ND_EFAILED, "%s failed after an I/O error", fl->path);
      break;
    }
    fl->syncing = 1;
    uint64_t target = atomic_load(&fl->written);
    int fd = fl->fd;
    pthread_mutex_unlock(&fl->sync_mu);
    int src = stats_datasync(&fl->log, fd, fl->path);
    pthread_mutex_lock(&fl->sync_mu);
    fl->syncing = 0;
    pthread_cond_broadcast(&fl->sync_cond);
    if (src) {
      fl->failed = 1;
      rc = nd_fail_os(-src, "fdatasync %s", fl->path);
      break;
    }
    if (target > fl->synced)
      fl->synced = target;
  }
  pthread_mutex_unlock(&fl->sync_mu);
  return rc;
}

int fl_rewrite(framelog *fl) {
  /* No fdatasync may run on the old descriptor while it is replaced. */
  pthread_mutex_lock(&fl->sync_mu);
  while (fl->syncing)
    pthread_cond_wait(&fl->sync_cond, &fl->sync_mu);
  uint64_t size;
  int rc = write_checkpoint(fl, &size);
  struct stat now, old;
  if (rc && file_stat(fl->path, &now) == 0 && file_fstat(fl->fd, &old) == 0 &&
      (now.st_ino != old.st_ino || now.st_dev != old.st_dev)) {
    /* The rename happened but the directory's fsync failed: appending to
     * the old descriptor would write to an unlinked file, and the new
     * name is not known durable. A failed sync is sticky here as for
     * partitions: writes fail until the store is reopened, which reads
     * whichever file the name holds (both have every change so far). */
    fl->failed = 1;
  }
  if (!rc) {
    int fd = file_open(fl->path, O_RDWR);
    if (fd < 0) {
      /* The rewritten file is in place but cannot be reopened: stop
       * writing rather than append to the unlinked old file. */
      fl->failed = 1;
      rc = nd_fail_os(-fd, "cannot reopen %s", fl->path);
    } else {
      file_close(fl->fd);
      fl->fd = fd;
      fl->file_size = size;
      fl->synced = atomic_load(&fl->written); /* the new file was synced */
    }
  }
  pthread_mutex_unlock(&fl->sync_mu);
  return rc;
}
