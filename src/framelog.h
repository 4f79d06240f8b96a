/* SPDX-License-Identifier: Apache-2.0 */
/*
 * framelog.h — an append-only file of checksummed frames, the storage of
 * the library's small state files (groups/offsets.log, see offsets.h;
 * transactions/txn.log, see txn_coord.h). The owner keeps its state in
 * memory and writes each change as one frame; loading replays the frames.
 *
 * Frame (form 2, all that is written):
 *   u32 magic | u32 payload length | u32 CRC-32C of the payload |
 *   u32 CRC-32C of the 12 bytes before it | payload
 * The payload is the owner's; every owner starts it with u8 version and
 * u32 op count (fl_frame_start writes them).
 * Form 1 (offsets.log files written before form 2; read, never written):
 *   u32 payload length | u32 CRC-32C of payload | payload
 * The magic read as a form-1 length is over 2 GiB, which no form-1 frame
 * has, so the two forms are told apart frame by frame.
 *
 * Damage costs only the damaged frames: a frame whose payload fails its
 * checksum (or whose ops do not parse) is skipped whole, its length
 * vouched for by the header checksum; bytes that start no frame are
 * skipped up to the next position where a frame header checks
 * (resynchronisation). Each damaged range is told through the logger
 * (file, bytes, and what the owner's describe callback reads in it); a
 * writable open then rewrites the file from the owner's state (a
 * checkpoint), keeping the damaged file as NAME.damaged. What follows the
 * last valid frame is a torn write when it is a frame cut by the end of
 * the file, zeros, or shorter than a header: it is cut (info level).
 *
 * Durability: fl_append writes, fl_sync is a group commit (concurrent
 * callers share one fdatasync). A failed fdatasync is sticky: every later
 * append and sync fails (ND_EFAILED) until the store is reopened.
 *
 * Thread-safety: the owner serialises fl_append, fl_rewrite and its own
 * state under one lock of its own; fl_sync may be called without it.
 */
#ifndef ND_FRAMELOG_H
#define ND_FRAMELOG_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "nodata.h"

#define FL_HEADER 16 /* form 2 frame header */

/* A growing output buffer of frames. */
typedef struct fl_buf {
  uint8_t *p;
  size_t len, cap;
  size_t frame; /* where the frame being built starts */
} fl_buf;

int fl_reserve(fl_buf *b, size_t n); /* 0 or ND_ENOMEM */
/* Writers of big-endian integers and bytes; room reserved first. */
void fl_u8(fl_buf *b, uint8_t v);
void fl_u16(fl_buf *b, uint16_t v);
void fl_u32(fl_buf *b, uint32_t v);
void fl_u64(fl_buf *b, uint64_t v);
void fl_bytes(fl_buf *b, const void *p, size_t n);
/* Start a frame at the end of b: header and version/op-count
 * placeholders, filled in by fl_frame_finish. */
int fl_frame_start(fl_buf *b, uint8_t version);
void fl_frame_finish(fl_buf *b, uint32_t magic, uint32_t ops);

/* A reader over a payload: take n bytes, or NULL (and bad set) past the
 * end. */
typedef struct fl_cur {
  const uint8_t *p, *end;
  int bad;
} fl_cur;
const uint8_t *fl_take(fl_cur *c, size_t n);
/* A reader over payload p[0..n) past its version and op count: 0, or -1
 * if it is too short or of another version. */
int fl_payload_start(fl_cur *c, const uint8_t *p, size_t n, uint8_t version,
                     uint32_t *ops);

/* A damage message being built (nd_log cuts lines at 1023 bytes). */
typedef struct fl_text {
  char s[1000];
  size_t n;
} fl_text;
void fl_text_add(fl_text *t, const char *fmt, ...) ND_PRINTF(2, 3);
/* A name from an unchecked frame: quoted, bytes outside printable ASCII
 * escaped, long ones shortened. */
void fl_text_name(fl_text *t, const uint8_t *p, size_t n);

/* What the owner does with its payloads. */
typedef struct fl_owner {
  /* Check (apply 0) or apply (apply 1) one payload: 0, -1 if it does
   * not parse (nothing applied when checking first), -2 out of memory. */
  int (*payload)(void *ctx, const uint8_t *p, size_t n, int apply);
  /* Tell what a damaged payload appears to hold, into t. */
  void (*describe)(void *ctx, const uint8_t *p, size_t n, fl_text *t);
  /* The owner's whole state as frames, for a checkpoint. */
  int (*checkpoint)(void *ctx, fl_buf *b);
  /* The sentence ending every damage message: what a loss means. */
  const char *loss;
  /* Form-1 frames may occur (offsets.log): their payload's version. */
  int form1;
  uint8_t form1_version;
} fl_owner;

typedef struct framelog {
  nd_logger log;
  char path[PATH_MAX];
  uint32_t magic;
  int fd;
  int readonly;
  const fl_owner *owner;
  void *ctx;
  uint64_t file_size;       /* owner's lock */
  _Atomic uint64_t written; /* frames appended */
  pthread_mutex_t sync_mu;  /* syncing, synced, failed */
  pthread_cond_t sync_cond;
  int syncing;
  uint64_t synced;
  int failed;
} framelog;

/* Initialise fl for path (dir must exist unless readonly), replay it
 * through owner->payload (a missing file is empty), tell and repair
 * damage as the header says, and open it for appending unless readonly.
 * On failure fl is closed. */
int fl_open(framelog *fl, const char *path, uint32_t magic, int readonly,
            const nd_logger *log, const fl_owner *owner, void *ctx);
/* Sync what was appended and not synced, close; returns the sync's
 * result. */
int fl_close(framelog *fl);
/* Append finished frames (owner's lock held); on failure nothing of them
 * stays. *frame: what fl_sync must reach for them to be durable. */
int fl_append(framelog *fl, const fl_buf *b, uint64_t *frame);
/* Group commit: returns once every frame up to `frame` is durable. */
int fl_sync(framelog *fl, uint64_t frame);
/* Replace the file with a checkpoint of the owner's state (owner's lock
 * held): tmp, fsync, rename, fsync dir — a crash leaves the old file or
 * the new one. */
int fl_rewrite(framelog *fl);

/* The end of the last whole frame of d[0..len), a copy of a frame log
 * taken while it is appended to: the bytes of a frame being written are
 * left out; anything else is kept (len). */
size_t fl_whole_frames(const uint8_t *d, size_t len);

#endif
