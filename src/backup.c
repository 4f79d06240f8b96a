/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup.c — nd_backup: a consistent copy of a data directory made beside
 * a running writer (`nodata backup`, docs/serve.md "Backup and restore").
 *
 * The store is not opened: like nd_verify and nd_log_walk, the copy reads
 * files as they are on disk and takes no lock, so a broker keeps serving.
 * What makes the copy consistent is what the writer guarantees about each
 * file (layout.h):
 *
 *   - A segment .log only ever grows by appends (one pwrite a batch), and
 *     only the last segment of a partition does. Sealed segments change
 *     only by whole-file replacement: retention unlinks them, the
 *     cleaner's swap renames cleaned files over them (with cleaner-swap
 *     present while it runs). An open descriptor keeps the file it opened
 *     whatever happens to its name, so a partition is copied from
 *     descriptors taken at one point: its directory is listed, every .log
 *     (and log-start-offset, cleaner-checkpoint) opened, and the directory
 *     listed again; the two listings must name the same files (same
 *     inodes) with no swap in progress, else it starts over. The last
 *     segment is copied up to its size at that point and cut after its last
 *     whole batch whose CRC checks (an append in progress is cut, never
 *     copied torn); sealed segments are copied whole. Copies, never hard
 *     links: a link shares the inode, and `nodata verify --repair` (and
 *     recovery, for a torn tail) truncate a segment in place, which
 *     would change the backup with the source.
 *   - Indexes, producer-state, .txnindex and recovery-point are derived
 *     or hints: left out, so the first open of the copy rescans every
 *     partition, checks every batch's CRC and rebuilds them all (without
 *     a recovery point nothing is taken on trust).
 *   - topic.conf, log-start-offset, cleaner-checkpoint, broker.conf,
 *     broker-producer-ids and FORMAT are replaced atomically by rename:
 *     read whole at one point.
 *   - transactions/txn.log and groups/offsets.log grow by one frame a
 *     pwrite, or are replaced by rename: copied up to their size when
 *     opened and cut after the last whole frame. They are copied before
 *     any partition, so a committed offset (of a record a consumer had
 *     read) is never past its partition's copied end, and a transaction
 *     the coordinator knew as ongoing, or began after, and that has no
 *     marker in a partition's copy is aborted when the copy is first
 *     opened (docs/transactions.md, "Strays are aborted at open").
 *
 * FORMAT is written last: a directory without it that holds topics opens
 * only if every topic looks complete, and nd_backup fails (with what was
 * copied left in place) before writing it if anything went wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "framelog.h"
#include "layout.h"
#include "nodata.h"
#include "store.h"
#include "topic.h"

#define COPY_CHUNK (1u << 20)
/* A partition whose files keep changing between the two listings (a
 * retention pass, a cleaner swap) is tried again after a pause; a swap
 * takes milliseconds, so this bound is only reached if something is
 * wrong. */
#define SNAPSHOT_TRIES 2000
#define SNAPSHOT_PAUSE_NS 10000000L

typedef struct backup {
  const char *src;
  char dest[PATH_MAX];
  const nd_backup_options *opts;
  nd_backup_stats st;
  uint8_t *buf; /* COPY_CHUNK bytes */
} backup;

static void report(backup *b, nd_backup_item *it) {
  if (b->opts && b->opts->on_item)
    b->opts->on_item(b->opts->ctx, it);
}

static int make_dir(const char *path) {
  int rc = file_mkdir_p(path);
  return rc ? nd_fail_os(-rc, "cannot create %s", path) : 0;
}

static int sync_dir(const char *path) {
  int rc = file_sync_dir(path);
  return rc ? nd_fail_os(-rc, "cannot sync %s", path) : 0;
}

/* Copy bytes [0, len) of in to the new file dst; the descriptor of dst
 * stays open in *out for the caller to cut and sync. */
static int copy_prefix(backup *b, int in, const char *src, uint64_t len,
                       const char *dst, int *out) {
  int fd = file_open(dst, O_RDWR | O_CREAT | O_EXCL);
  if (fd < 0)
    return nd_fail_os(-fd, "cannot create %s", dst);
  for (uint64_t pos = 0; pos < len;) {
    size_t want = len - pos < COPY_CHUNK ? (size_t)(len - pos) : COPY_CHUNK;
    ssize_t n = file_pread_full(in, b->buf, want, (off_t)pos);
    int rc = 0;
    if (n < 0)
      rc = nd_fail_os((int)-n, "cannot read %s", src);
    else if (n == 0)
      break; /* shorter than when measured: cannot be, but not an error */
    else if ((rc = file_write_all(fd, b->buf, (size_t)n)) != 0)
      rc = nd_fail_os(-rc, "cannot write %s", dst);
    if (rc) {
      file_close(fd);
      return rc;
    }
    pos += (uint64_t)n;
  }
  *out = fd;
  return 0;
}

/* Cut dst (open as fd) to len bytes if it is longer, sync and close it. */
static int finish_file(int fd, const char *dst, uint64_t len, uint64_t size) {
  int rc = 0;
  if (len < size && (rc = file_truncate(fd, (off_t)len)) != 0)
    rc = nd_fail_os(-rc, "cannot truncate %s", dst);
  if (!rc && (rc = file_datasync(fd)) != 0)
    rc = nd_fail_os(-rc, "cannot sync %s", dst);
  file_close(fd);
  return rc;
}

/* A small file replaced atomically by its writer: read whole and written
 * to dst, synced. 1 when src does not exist. */
static int copy_small(const char *src, const char *dst, uint64_t *bytes) {
  char *text;
  size_t len;
  int rc = file_read_all(src, &text, &len);
  if (rc == -ENOENT)
    return 1;
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", src);
  rc = file_write_atomic(dst, text, len);
  free(text);
  if (rc)
    return nd_fail_os(-rc, "cannot write %s", dst);
  *bytes = len;
  return 0;
}

/* ---- frame logs: txn.log, offsets.log ------------------------------------ */

/* A frame log (framelog.h) copied up to its size when opened, cut after
 * its last whole frame. */
static int copy_framelog(backup *b, const char *dirname, const char *name) {
  char src[PATH_MAX], ddir[PATH_MAX], dst[PATH_MAX + 32], rel[64];
  snprintf(src, sizeof src, "%s/%s/%s", b->src, dirname, name);
  snprintf(ddir, sizeof ddir, "%s/%s", b->dest, dirname);
  snprintf(dst, sizeof dst, "%s/%s", ddir, name);
  snprintf(rel, sizeof rel, "%s/%s", dirname, name);
  int in = file_open(src, O_RDONLY);
  if (in == -ENOENT)
    return 0;
  if (in < 0)
    return nd_fail_os(-in, "cannot open %s", src);
  struct stat st;
  int rc = file_fstat(in, &st);
  if (rc) {
    file_close(in);
    return nd_fail_os(-rc, "cannot stat %s", src);
  }
  uint64_t size = (uint64_t)st.st_size;
  int out = -1;
  rc = make_dir(ddir);
  if (!rc)
    rc = copy_prefix(b, in, src, size, dst, &out);
  file_close(in);
  if (rc)
    return rc;
  /* The whole-frame end, from the copy (which no writer changes). */
  uint64_t end = size;
  uint8_t *all = size ? malloc(size) : NULL;
  if (size && !all) {
    file_close(out);
    return nd_fail(ND_ENOMEM, "out of memory reading %s", dst);
  }
  if (size) {
    ssize_t n = file_pread_full(out, all, size, 0);
    if (n == (ssize_t)size)
      end = fl_whole_frames(all, size);
    free(all);
    if (n != (ssize_t)size) {
      file_close(out);
      return nd_fail_os(n < 0 ? (int)-n : EIO, "cannot read back %s", dst);
    }
  }
  if ((rc = finish_file(out, dst, end, size)) != 0)
    return rc;
  if ((rc = sync_dir(ddir)) != 0)
    return rc;
  nd_backup_item it = {.kind = ND_BACKUP_FILE,
                       .partition = -1,
                       .path = rel,
                       .start_offset = -1,
                       .end_offset = -1,
                       .bytes = end,
                       .cut = size - end};
  b->st.files++;
  b->st.bytes += end;
  report(b, &it);
  return 0;
}

/* ---- partitions ---------------------------------------------------------- */

/* A file of the partition directory taken into the snapshot. */
typedef struct pfile {
  char name[LAYOUT_SEGMENT_DIGITS + 16];
  ino_t ino;
  int fd;        /* -1 until opened */
  uint64_t size; /* at the snapshot */
  int64_t base;  /* .log: its base offset; else -1 */
} pfile;

typedef struct psnap {
  pfile *f;
  size_t n, cap;
  int swapping; /* cleaner-swap present: a swap in progress */
} psnap;

static void snap_free(psnap *s) {
  for (size_t i = 0; i < s->n; i++)
    if (s->f[i].fd >= 0)
      file_close(s->f[i].fd);
  free(s->f);
  memset(s, 0, sizeof *s);
}

static int cmp_pfile(const void *a, const void *b) {
  const pfile *x = a, *y = b;
  if (x->base != y->base)
    return x->base < y->base ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* List what the snapshot takes from dir: segment .log files, the log
 * start and the cleaner checkpoint, with their inodes. -ENOENT when the
 * directory is gone. */
static int snap_list(const char *dir, psnap *s) {
  memset(s, 0, sizeof *s);
  file_dir *d = file_dir_open(dir);
  if (!d)
    return errno == ENOENT ? -ENOENT : nd_fail_os(errno, "cannot list %s", dir);
  int rc = 0;
  const char *name;
  while (!rc && (name = file_dir_next(d)) != NULL) {
    int64_t base = -1;
    size_t len = strlen(name);
    if (!strcmp(name, LAYOUT_CLEANER_SWAP)) {
      s->swapping = 1;
      continue;
    }
    if (len == LAYOUT_SEGMENT_DIGITS + strlen(LAYOUT_LOG) &&
        !strcmp(name + LAYOUT_SEGMENT_DIGITS, LAYOUT_LOG))
      base = nd_segment_base(name);
    if (base < 0 && strcmp(name, LAYOUT_LOG_START) &&
        strcmp(name, LAYOUT_CLEANER_CHECKPOINT))
      continue;
    char path[PATH_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int sr = file_stat(path, &st);
    if (sr == -ENOENT)
      continue; /* gone since listed: the second listing will differ */
    if (sr) {
      rc = nd_fail_os(-sr, "cannot stat %s", path);
      break;
    }
    if (s->n == s->cap) {
      size_t cap = s->cap ? s->cap * 2 : 8;
      pfile *nf = realloc(s->f, cap * sizeof *nf);
      if (!nf) {
        rc = nd_fail(ND_ENOMEM, "out of memory");
        break;
      }
      s->f = nf;
      s->cap = cap;
    }
    pfile *f = &s->f[s->n++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->ino = st.st_ino;
    f->fd = -1;
    f->size = 0;
    f->base = base;
  }
  file_dir_close(d);
  if (rc) {
    snap_free(s);
    return rc;
  }
  /* Segments by base offset, then the two small files (base -1 first). */
  qsort(s->f, s->n, sizeof *s->f, cmp_pfile);
  return 0;
}

static int snap_same(const psnap *a, const psnap *b) {
  if (a->n != b->n || b->swapping)
    return 0;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->f[i].name, b->f[i].name) || a->f[i].ino != b->f[i].ino)
      return 0;
  return 1;
}

/* Open every listed file; 1 if one is gone or another file now has its
 * name (try again), 0 when all are open, with their sizes. */
static int snap_open(const char *dir, psnap *s) {
  for (size_t i = 0; i < s->n; i++) {
    pfile *f = &s->f[i];
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, f->name);
    f->fd = file_open(path, O_RDONLY);
    if (f->fd == -ENOENT) {
      f->fd = -1;
      return 1;
    }
    if (f->fd < 0) {
      int err = -f->fd;
      f->fd = -1;
      if (err == EMFILE)
        return nd_fail_os(err,
                          "cannot open %s: the %zu files of a partition are "
                          "opened at once; raise the descriptor limit "
                          "(ulimit -n)",
                          path, s->n);
      return nd_fail_os(err, "cannot open %s", path);
    }
    struct stat st;
    int rc = file_fstat(f->fd, &st);
    if (rc)
      return nd_fail_os(-rc, "cannot stat %s", path);
    if (st.st_ino != f->ino)
      return 1;
    f->size = (uint64_t)st.st_size;
  }
  return 0;
}

/* The partition's files at one point (see the top of this file). 1 when
 * the directory is gone. A swap in progress is waited for while a writer
 * holds the store (store_dir); without one, cleaner-swap was left by a
 * crash, and only an open of the store finishes that swap. */
static int snapshot(const char *store_dir, const char *dir, psnap *out) {
  struct timespec pause = {0, SNAPSHOT_PAUSE_NS};
  for (int tries = 0; tries < SNAPSHOT_TRIES; tries++) {
    if (tries)
      nanosleep(&pause, NULL);
    psnap a, b;
    int rc = snap_list(dir, &a);
    if (rc == -ENOENT)
      return 1;
    if (rc)
      return rc;
    if (a.swapping) {
      snap_free(&a);
      pid_t pid = 0;
      if (nd_lock_holder(store_dir, &pid) == 0 && pid == 0)
        return nd_fail(ND_EFAILED,
                       "%s/" LAYOUT_CLEANER_SWAP ": a cleaning swap "
                       "interrupted by a crash, which the next open of the "
                       "store finishes; open it once (nodata serve, or "
                       "nodata verify --repair) before a backup",
                       dir);
      continue;
    }
    rc = snap_open(dir, &a);
    if (rc < 0) {
      snap_free(&a);
      return rc;
    }
    if (rc == 0) {
      rc = snap_list(dir, &b);
      if (rc == -ENOENT) {
        snap_free(&a);
        return 1;
      }
      if (rc) {
        snap_free(&a);
        return rc;
      }
      int same = snap_same(&a, &b);
      snap_free(&b);
      if (same) {
        *out = a;
        return 0;
      }
    }
    snap_free(&a);
  }
  return nd_fail(ND_EFAILED,
                 "%s: its files changed at every one of %d tries to take "
                 "them at one point",
                 dir, SNAPSHOT_TRIES);
}

typedef struct walk_end {
  int64_t next; /* offset after the last batch walked */
} walk_end;

static int on_last_batch(void *ctx, const nd_batch_info *bi,
                         const void *bytes) {
  (void)bytes;
  ((walk_end *)ctx)->next = bi->last_offset + 1;
  return 0;
}

/* Copy one partition's snapshot into ddir; *it gets what was copied. */
static int copy_partition(backup *b, const char *sdir, const char *ddir,
                          psnap *s, nd_backup_item *it) {
  int rc = make_dir(ddir);
  if (rc)
    return rc;
  size_t last = s->n;
  for (size_t i = 0; i < s->n; i++)
    if (s->f[i].base >= 0)
      last = i; /* sorted: the last segment comes last */
  int64_t first_base = -1;
  for (size_t i = 0; i < s->n && !rc; i++) {
    pfile *f = &s->f[i];
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/%s", sdir, f->name);
    snprintf(dst, sizeof dst, "%s/%s", ddir, f->name);
    int out;
    if ((rc = copy_prefix(b, f->fd, src, f->size, dst, &out)) != 0)
      break;
    uint64_t keep = f->size;
    if (f->base < 0) {
      /* log-start-offset: the copy's start; cleaner-checkpoint as is. */
      if (!strcmp(f->name, LAYOUT_LOG_START) && f->size < 32) {
        char text[32] = {0};
        if (file_pread_full(f->fd, text, f->size, 0) == (ssize_t)f->size)
          it->start_offset = strtoll(text, NULL, 10);
      }
    } else if (i == last) {
      /* The active segment: whole batches with a good CRC only. */
      walk_end we = {f->base};
      nd_walk_result res;
      rc = nd_log_walk(dst, ND_WALK_STOP_CRC | ND_WALK_CHECK_ORDER,
                       on_last_batch, &we, &res);
      if (rc) {
        file_close(out);
        break;
      }
      keep = res.end;
      it->end_offset = we.next;
      it->cut = f->size - keep;
    }
    if (f->base >= 0) {
      if (first_base < 0)
        first_base = f->base;
      it->segments++;
    }
    it->bytes += keep;
    rc = finish_file(out, dst, keep, f->size);
  }
  if (!rc)
    rc = sync_dir(ddir);
  if (it->start_offset < first_base)
    it->start_offset = first_base;
  if (it->end_offset < 0) /* no segment at all: an empty partition */
    it->end_offset = it->start_offset < 0 ? 0 : it->start_offset;
  return rc;
}

/* ---- topics -------------------------------------------------------------- */

/* A topic deleted while it was being copied: its copy is removed. */
static int drop_topic(backup *b, const char *ddir, const char *name,
                      const char *rel) {
  int rc = file_remove_tree(ddir);
  if (rc)
    return nd_fail_os(-rc, "cannot remove %s", ddir);
  nd_backup_item it = {.kind = ND_BACKUP_SKIPPED,
                       .topic = name,
                       .partition = -1,
                       .path = rel,
                       .start_offset = -1,
                       .end_offset = -1,
                       .text = "deleted while the backup ran: left out"};
  b->st.skipped++;
  report(b, &it);
  return 0;
}

static int copy_topic(backup *b, const char *hash) {
  char sdir[PATH_MAX], ddir[PATH_MAX], conf_src[PATH_MAX + 16],
      conf_dst[PATH_MAX + 16], rel[128];
  snprintf(sdir, sizeof sdir, "%s/" LAYOUT_TOPICS "/%s", b->src, hash);
  snprintf(ddir, sizeof ddir, "%s/" LAYOUT_TOPICS "/%s", b->dest, hash);
  snprintf(conf_src, sizeof conf_src, "%s/" LAYOUT_TOPIC_CONF, sdir);
  snprintf(conf_dst, sizeof conf_dst, "%s/" LAYOUT_TOPIC_CONF, ddir);
  snprintf(rel, sizeof rel, LAYOUT_TOPICS "/%s", hash);
  int rc = make_dir(ddir);
  if (rc)
    return rc;
  uint64_t bytes = 0;
  rc = copy_small(conf_src, conf_dst, &bytes);
  if (rc == 1) { /* deleted since listed (renamed away whole) */
    rc = file_remove_tree(ddir);
    return rc ? nd_fail_os(-rc, "cannot remove %s", ddir) : 0;
  }
  if (rc)
    return rc;
  b->st.bytes += bytes;
  /* The partitions the copied topic.conf names: read from the copy, so
   * they are those of the file copied. One that does not parse (the topic
   * is offline in the source) is copied with what can be salvaged. */
  char name[ND_TOPIC_NAME_MAX + 1];
  uint8_t id[16];
  int32_t n = 0;
  nd_topic_config cfg;
  if (topic_conf_read(ddir, name, id, &n, &cfg) != 0 &&
      topic_conf_salvage(ddir, name, &n) != 0) {
    snprintf(name, sizeof name, "%s", hash);
    n = 0;
  }
  nd_clear_error();
  b->st.topics++;
  for (int32_t i = 0; i < n; i++) {
    char sp[PATH_MAX + 16], dp[PATH_MAX + 16], prel[160];
    snprintf(sp, sizeof sp, "%s/%d", sdir, (int)i);
    snprintf(dp, sizeof dp, "%s/%d", ddir, (int)i);
    snprintf(prel, sizeof prel, "%s/%d", rel, (int)i);
    psnap s;
    rc = snapshot(b->src, sp, &s);
    if (rc == 1) {
      struct stat st;
      if (file_stat(sdir, &st) == -ENOENT) {
        b->st.topics--;
        return drop_topic(b, ddir, name, rel);
      }
      return nd_fail(ND_ECORRUPT,
                     "%s: partition directory missing in the source", sp);
    }
    if (rc)
      return rc;
    nd_backup_item it = {.kind = ND_BACKUP_PARTITION,
                         .topic = name,
                         .partition = i,
                         .path = prel,
                         .start_offset = -1,
                         .end_offset = -1};
    rc = copy_partition(b, sp, dp, &s, &it);
    snap_free(&s);
    if (rc)
      return rc;
    b->st.partitions++;
    b->st.segments += it.segments;
    b->st.bytes += it.bytes;
    report(b, &it);
  }
  return sync_dir(ddir);
}

static int copy_topics(backup *b) {
  char tp[PATH_MAX], dtp[PATH_MAX];
  snprintf(tp, sizeof tp, "%s/" LAYOUT_TOPICS, b->src);
  snprintf(dtp, sizeof dtp, "%s/" LAYOUT_TOPICS, b->dest);
  char **names;
  size_t n;
  int rc = topic_dirs_list(tp, &names, &n);
  if (rc == -ENOENT)
    return 0; /* a store with no topic yet */
  if (rc)
    return rc;
  rc = make_dir(dtp);
  for (size_t i = 0; i < n && !rc; i++)
    rc = copy_topic(b, names[i]);
  topic_dirs_free(names, n);
  if (!rc)
    rc = sync_dir(dtp);
  return rc;
}

/* ---- the whole directory ------------------------------------------------- */

/* dest must not exist or be an empty directory: a backup never mixes
 * with other files. */
static int prepare_dest(backup *b) {
  file_dir *d = file_dir_open(b->dest);
  if (!d) {
    if (errno != ENOENT)
      return nd_fail_os(errno, "cannot open %s", b->dest);
    return make_dir(b->dest);
  }
  const char *name;
  int empty = 1;
  while (empty && (name = file_dir_next(d)) != NULL)
    empty = !strcmp(name, ".") || !strcmp(name, "..");
  file_dir_close(d);
  if (!empty)
    return nd_fail_os(EEXIST,
                      "%s is not empty: a backup goes to a new or empty "
                      "directory",
                      b->dest);
  return 0;
}

static int copy_top_file(backup *b, const char *name) {
  char src[PATH_MAX], dst[PATH_MAX];
  snprintf(src, sizeof src, "%s/%s", b->src, name);
  snprintf(dst, sizeof dst, "%s/%s", b->dest, name);
  uint64_t bytes = 0;
  int rc = copy_small(src, dst, &bytes);
  if (rc == 1)
    return 0;
  if (rc)
    return rc;
  nd_backup_item it = {.kind = ND_BACKUP_FILE,
                       .partition = -1,
                       .path = name,
                       .start_offset = -1,
                       .end_offset = -1,
                       .bytes = bytes};
  b->st.files++;
  b->st.bytes += bytes;
  report(b, &it);
  return 0;
}

int nd_backup(const char *dir, const char *dest, const nd_backup_options *opts,
              nd_backup_stats *stats) {
  if (!dir || !dest || !*dir || !*dest)
    return nd_fail(ND_EINVAL, "nd_backup: NULL or empty directory");
  backup b = {.src = dir, .opts = opts};
  if (snprintf(b.dest, sizeof b.dest, "%s", dest) >= (int)sizeof b.dest)
    return nd_fail_os(ENAMETOOLONG, "%.64s...: path too long", dest);
  /* The source must be a store of this format: FORMAT is read first and
   * written to the copy last. */
  char fpath[PATH_MAX], *format = NULL;
  size_t flen = 0;
  snprintf(fpath, sizeof fpath, "%s/" LAYOUT_FORMAT, dir);
  int rc = file_read_all(fpath, &format, &flen);
  if (rc == -ENOENT) {
    struct stat st;
    if (file_stat(dir, &st) != 0)
      return nd_fail_os(ENOENT, "%s: no such directory", dir);
    return nd_fail(ND_EFORMAT,
                   "%s is missing: %s is not a nodata data "
                   "directory",
                   fpath, dir);
  }
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", fpath);
  if ((rc = store_format_check(fpath, format)) != 0) {
    free(format);
    return rc;
  }
  if ((rc = prepare_dest(&b)) != 0) {
    free(format);
    return rc;
  }
  if (!(b.buf = malloc(COPY_CHUNK))) {
    free(format);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  /* The coordinators' logs before any partition (see the top). */
  rc = copy_framelog(&b, LAYOUT_TRANSACTIONS, LAYOUT_TXN_LOG);
  if (!rc)
    rc = copy_framelog(&b, LAYOUT_GROUPS, LAYOUT_OFFSETS_LOG);
  if (!rc)
    rc = copy_top_file(&b, "broker.conf");
  if (!rc)
    rc = copy_top_file(&b, "broker-producer-ids");
  if (!rc)
    rc = copy_topics(&b);
  if (!rc) {
    char dst[PATH_MAX];
    snprintf(dst, sizeof dst, "%s/" LAYOUT_FORMAT, b.dest);
    if ((rc = file_write_atomic(dst, format, flen)) != 0)
      rc = nd_fail_os(-rc, "cannot write %s", dst);
  }
  if (!rc)
    rc = sync_dir(b.dest);
  free(format);
  free(b.buf);
  if (stats)
    *stats = b.st;
  return rc;
}
