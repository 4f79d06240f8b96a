/*
 * verify.c — `nodata verify [TOPIC...] [--repair]`.
 *
 * Reads every segment file directly (nd_log_walk, nd_index_read) rather
 * than through
 * nd_open: an open would quietly truncate a damaged tail, and verify's job
 * is to say what is wrong and where before anything changes. It checks
 *   - every batch: length, magic, counts, CRC-32C, and that offsets run on
 *     without gaps from one batch and one segment to the next;
 *   - every index entry against the log: an offset entry must name the
 *     position and base offset of a real batch; a time entry must sit at a
 *     batch boundary (or the segment end) and carry a timestamp no lower
 *     than any earlier batch's, or lookups by time would skip records;
 *   - control batches (transaction markers): one is legitimate only as the
 *     end of a transaction its producer opened earlier in the partition
 *     (a transactional batch with no marker since). Any other was written
 *     by a client through a nodata that did not refuse them, and makes
 *     librdkafka consumers stop at its offset and kafka-python return it
 *     as a record. Repair leaves it in place: cutting the log there would
 *     drop every later record.
 * The committed-offsets log is checked by the library's read-only open,
 * which reports each damaged range through nd_options.on_log.
 *
 * Repair leans on the library's own recovery instead of a second
 * implementation of it: without the clean-shutdown marker and without a
 * partition's recovery-point file, nd_open rescans that partition from its
 * first segment, truncates at the first invalid byte and rebuilds every
 * index. Verify states beforehand what that drops, copies the bytes from
 * the first bad one and moves the later segments into a quarantine
 * directory (the library would delete them), runs it, warns of committed
 * offsets past the new end, and verifies again.
 *
 * Beside a running writer the last segment of a partition may end in a
 * batch still being written, and its last index entry may be half
 * written; neither is reported as damage. Index files are read before
 * their log, so every entry seen names bytes already written.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char verify_usage[] =
    "usage: nodata verify [--repair [--quarantine DIR]] [--data DIR] "
    "[TOPIC ...]\n"
    "\n"
    "Check the stored data of every topic (or the TOPICs named), reading\n"
    "the files directly and changing nothing:\n"
    "  - every batch's length, magic byte and CRC-32C, and that offsets\n"
    "    continue without gaps from batch to batch and segment to segment;\n"
    "  - every .index and .timeindex entry against its .log;\n"
    "  - control batches (transaction markers) that end no transaction:\n"
    "    a client wrote them, and consumers stop or misread there.\n"
    "  - the committed consumer offsets (groups/offsets.log): each damaged\n"
    "    range, with the commits it held; --repair rewrites the file\n"
    "    without it, keeping the damaged file as offsets.log.damaged.\n"
    "Each problem is printed as \"damaged: FILE: byte N: what\", then a\n"
    "summary; a consumer group's committed offset past where a repair\n"
    "would end the log is printed as a warning. verify works while\n"
    "`nodata serve` runs.\n"
    "\n"
    "  --repair     after checking, say what will be dropped, then truncate\n"
    "               each damaged log at its first bad byte (moving the\n"
    "               partition's later segments aside: a log has no holes)\n"
    "               and rebuild the indexes, and verify again. Brings a\n"
    "               partition the broker took offline back. Needs the data\n"
    "               directory to itself (stop the broker first).\n"
    "  --quarantine DIR\n"
    "               where --repair puts what it drops (the bytes from the\n"
    "               first bad one, and the later segments whole); default\n"
    "               DATA/quarantine/<UTC time>/<topic>-<partition>/\n"
    "  --data DIR   data directory (default $NODATA_DATA, $NODATA_DIR,\n"
    "               else ./data)\n"
    "\n"
    "Examples:\n"
    "  nodata verify\n"
    "  nodata verify orders payments --data /var/lib/nodata\n"
    "  nodata verify --repair orders\n"
    "\n"
    "Exit status: 0 no damage (or all of it repaired), 1 runtime failure\n"
    "(unknown topic, unreadable files, directory held), 2 usage error,\n"
    "3 damage found.\n";

typedef struct vpart {
  char topic[ND_TOPIC_NAME_MAX + 1];
  int32_t id;
  char dir[PATH_MAX];
  int64_t *bases;
  size_t nsegs;
  uint64_t bytes;
  /* results */
  int log_damaged;
  size_t bad_seg;    /* segment holding the first bad byte */
  uint64_t bad_pos;  /* its position there */
  int64_t lost_from; /* first offset that repair would drop */
  int index_damaged; /* index files found inconsistent */
  int hints_damaged; /* recovery-point or log-start-offset unreadable */
  int stray_markers; /* control batches outside any transaction */
  /* Producers with a transactional batch and no marker after it yet. */
  int64_t *open_txns;
  size_t n_open_txns, cap_open_txns;
} vpart;

typedef struct verifier {
  const char *dir;
  int live; /* a writer holds the directory */
  vpart *parts;
  size_t nparts, cap;
  int problems;     /* damage lines printed */
  int unrepairable; /* damage outside segment files */
  int64_t segments, batches, records;
  uint64_t bytes, done;
  progress pr;
} verifier;

static void damaged(verifier *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void damaged(verifier *v, const char *fmt, ...) {
  va_list ap;
  progress_end(&v->pr);
  fputs("damaged: ", stdout);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  v->problems++;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void seg_path(const vpart *p, size_t i, const char *ext, char *out,
                     size_t cap) {
  snprintf(out, cap, "%s/%020" PRId64 "%s", p->dir, p->bases[i], ext);
}

/* ---- collecting what to check ------------------------------------------- */

static int add_partition(verifier *v, const char *topic, const char *tdir,
                         int32_t id) {
  if (v->nparts == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    vpart *n = realloc(v->parts, cap * sizeof *n);
    if (!n)
      return -ENOMEM;
    v->parts = n;
    v->cap = cap;
  }
  vpart *p = &v->parts[v->nparts];
  memset(p, 0, sizeof *p);
  snprintf(p->topic, sizeof p->topic, "%s", topic);
  p->id = id;
  snprintf(p->dir, sizeof p->dir, "%s/%d", tdir, (int)id);
  DIR *d = opendir(p->dir);
  if (!d) {
    damaged(v, "%s: partition directory missing (%s)", p->dir, strerror(errno));
    v->unrepairable++;
    return 0;
  }
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *name = e->d_name;
    if (strlen(name) != 24 || strcmp(name + 20, ".log") ||
        nd_segment_base(name) < 0)
      continue;
    if (p->nsegs == cap) {
      cap = cap ? cap * 2 : 8;
      int64_t *nb = realloc(p->bases, cap * sizeof *nb);
      if (!nb) {
        closedir(d);
        return -ENOMEM;
      }
      p->bases = nb;
    }
    p->bases[p->nsegs++] = nd_segment_base(name);
    char lp[PATH_MAX + 32];
    struct stat st;
    snprintf(lp, sizeof lp, "%s/%s", p->dir, name);
    if (stat(lp, &st) == 0)
      p->bytes += (uint64_t)st.st_size;
  }
  closedir(d);
  if (p->nsegs)
    qsort(p->bases, p->nsegs, sizeof *p->bases, cmp_i64);
  v->bytes += p->bytes;
  v->nparts++;
  return 0;
}

/* Name and partition count from topic.conf. */
static int read_topic_conf(const char *tdir, char *name, size_t cap,
                           int32_t *partitions) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/topic.conf", tdir);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char line[512];
  name[0] = '\0';
  *partitions = -1;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (!strncmp(line, "name=", 5))
      snprintf(name, cap, "%s", line + 5);
    else if (!strncmp(line, "partitions=", 11))
      *partitions = (int32_t)atoi(line + 11);
  }
  fclose(f);
  return name[0] && *partitions > 0 ? 0 : -1;
}

static int add_topic_dir(verifier *v, const char *tdir) {
  char name[ND_TOPIC_NAME_MAX + 1];
  int32_t n;
  if (read_topic_conf(tdir, name, sizeof name, &n)) {
    damaged(v, "%s/topic.conf: missing or unreadable (no name or partitions)",
            tdir);
    v->unrepairable++;
    return 0;
  }
  for (int32_t i = 0; i < n; i++) {
    int rc = add_partition(v, name, tdir, i);
    if (rc)
      return rc;
  }
  return 0;
}

static int is_topic_hash(const char *s) {
  if (strlen(s) != 64)
    return 0;
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- checking one segment ------------------------------------------------ */

typedef struct segcheck {
  vpart *p;
  verifier *v;
  const char *log_path;
  const char *index_path;
  const char *time_path;
  int64_t base;
  int64_t expect; /* base offset the next batch must have */
  int64_t max_ts; /* largest maxTimestamp of the batches so far */
  const nd_index_entry *oidx;
  size_t on, oi;
  const nd_index_entry *tidx;
  size_t tn, ti;
  int index_bad; /* problems printed for this segment's indexes */
  int in_flight; /* the live writer's segment: its last entries may be
                    half written */
  int log_bad;
  uint64_t bad_pos;
  int64_t records;
} segcheck;

static void index_problem(segcheck *c, const char *path, size_t entry,
                          int esize, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void index_problem(segcheck *c, const char *path, size_t entry,
                          int esize, const char *fmt, ...) {
  /* One line per index file: the first problem is enough to condemn it,
   * and a rebuild fixes all of them. */
  int bit = esize == 8 ? 1 : 2;
  if (c->index_bad & bit)
    return;
  /* The writer stores an entry byte by byte after its batch, one append
   * at a time: in its segment, only the last entry read can be partly
   * written, and it is not damage. */
  if (c->in_flight && entry + 1 == (esize == 8 ? c->on : c->tn))
    return;
  c->index_bad |= bit;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  damaged(c->v, "%s: byte %zu: entry %zu %s", path, entry * (size_t)esize,
          entry, msg);
}

/* Time entries at relative offsets up to and including `upto`. */
static void check_time_entries(segcheck *c, int64_t upto) {
  while (c->ti < c->tn) {
    const nd_index_entry *e = &c->tidx[c->ti];
    int64_t ts = e->timestamp;
    int64_t off = e->offset;
    if (off > upto)
      break;
    if (off < upto)
      index_problem(c, c->time_path, c->ti, 12,
                    "names offset %" PRId64
                    ", which is not the first offset of a batch",
                    off);
    else if (ts < c->max_ts)
      index_problem(c, c->time_path, c->ti, 12,
                    "has timestamp %" PRId64 " at offset %" PRId64
                    ", but an earlier batch has timestamp %" PRId64
                    " (lookups by time would skip it)",
                    ts, off, c->max_ts);
    c->ti++;
  }
}

/* Track the open transactions of c's partition through batch b, and report
 * a control batch that ends none. */
static void check_markers(segcheck *c, const nd_batch_info *b) {
  vpart *p = c->p;
  size_t k = 0;
  while (k < p->n_open_txns && p->open_txns[k] != b->producer_id)
    k++;
  int open = k < p->n_open_txns;
  if (b->attributes & ND_BATCH_ATTR_CONTROL) {
    if (open) {
      p->open_txns[k] = p->open_txns[--p->n_open_txns];
      return;
    }
    damaged(c->v,
            "%s: byte %" PRIu64 ": control batch (a transaction marker) at "
            "offset %" PRId64 " from producer %" PRId64
            ", which has no open transaction here: a client wrote it; "
            "librdkafka consumers stop at this offset and kafka-python "
            "returns it as a record (--repair leaves it: cutting the log "
            "there would drop every later record)",
            c->log_path, b->pos, b->base_offset, b->producer_id);
    p->stray_markers++;
    return;
  }
  if (!(b->attributes & ND_BATCH_ATTR_TRANSACTIONAL) || open)
    return;
  if (p->n_open_txns == p->cap_open_txns) {
    size_t cap = p->cap_open_txns ? p->cap_open_txns * 2 : 8;
    int64_t *n = realloc(p->open_txns, cap * sizeof *n);
    if (!n)
      return; /* a later marker of this producer is then reported */
    p->open_txns = n;
    p->cap_open_txns = cap;
  }
  p->open_txns[p->n_open_txns++] = b->producer_id;
}

static int on_batch(void *arg, const nd_batch_info *b, const void *bytes) {
  (void)bytes;
  segcheck *c = arg;
  c->v->done += b->size;
  progress_update(&c->v->pr, c->v->done);
  if (b->base_offset != c->expect) {
    damaged(c->v,
            "%s: byte %" PRIu64 ": the batch there starts at offset %" PRId64
            ", expected %" PRId64 " (offsets must continue without gaps)",
            c->log_path, b->pos, b->base_offset, c->expect);
    c->log_bad = 1;
    c->bad_pos = b->pos;
    return 1;
  }
  if (!b->crc_ok) {
    damaged(c->v,
            "%s: byte %" PRIu64 ": CRC-32C mismatch in the batch of offsets "
            "%" PRId64 "..%" PRId64 " (%" PRIu64 " bytes)",
            c->log_path, b->pos, b->base_offset, b->last_offset, b->size);
    c->log_bad = 1;
    c->bad_pos = b->pos;
    return 1;
  }
  while (c->oi < c->on) {
    uint64_t pos = c->oidx[c->oi].position;
    int64_t off = c->oidx[c->oi].offset;
    if (pos > b->pos)
      break;
    if (pos < b->pos)
      index_problem(
          c, c->index_path, c->oi, 8,
          "points to byte %" PRIu64 ", which is not the start of a batch", pos);
    else if (off != b->base_offset)
      index_problem(c, c->index_path, c->oi, 8,
                    "says offset %" PRId64 " is at byte %" PRIu64
                    ", but the batch there starts at offset %" PRId64,
                    off, pos, b->base_offset);
    c->oi++;
  }
  check_markers(c, b);
  check_time_entries(c, b->base_offset);
  if (b->max_timestamp > c->max_ts)
    c->max_ts = b->max_timestamp;
  c->expect = b->last_offset + 1;
  c->records += b->record_count;
  return 0;
}

/* An index file's entries; a missing one has none (it was never written,
 * or a crash lost it: the log is what matters). 0, or the library's code
 * after printing it. */
static int read_index(const char *path, nd_index_entry **e, size_t *n) {
  int rc = nd_index_read(path, e, n, NULL);
  if (rc == -ENOENT)
    return 0;
  if (rc)
    cli_lib_error("verify", rc, NULL);
  return rc;
}

/* Check segment i of p; returns 0, or -errno if a file cannot be read. */
static int check_segment(verifier *v, vpart *p, size_t i, int64_t *expect) {
  char lp[PATH_MAX + 32], ip[PATH_MAX + 32], tp[PATH_MAX + 32];
  seg_path(p, i, ".log", lp, sizeof lp);
  seg_path(p, i, ".index", ip, sizeof ip);
  seg_path(p, i, ".timeindex", tp, sizeof tp);
  segcheck c = {.v = v,
                .p = p,
                .log_path = lp,
                .index_path = ip,
                .time_path = tp,
                .base = p->bases[i],
                .expect = p->bases[i],
                .max_ts = -1,
                .in_flight = v->live && i + 1 == p->nsegs};
  if (i > 0 && p->bases[i] != *expect) {
    damaged(v,
            "%s: byte 0: the segment starts at offset %" PRId64
            " but the one before it ends at %" PRId64,
            lp, p->bases[i], *expect);
    p->log_damaged = 1;
    p->bad_seg = i;
    p->bad_pos = 0;
    p->lost_from = *expect;
    return 0;
  }
  /* Indexes first: every entry read then names bytes already written. */
  nd_index_entry *ob = NULL, *tb = NULL;
  int rc = read_index(ip, &ob, &c.on);
  if (rc)
    return rc;
  rc = read_index(tp, &tb, &c.tn);
  if (rc) {
    nd_free(ob);
    return rc;
  }
  c.oidx = ob;
  c.tidx = tb;
  for (size_t k = 1; k < c.tn; k++) {
    int64_t a = tb[k - 1].timestamp, b = tb[k].timestamp;
    if (b < a) {
      index_problem(&c, tp, k, 12,
                    "has timestamp %" PRId64
                    ", below the entry before it (%" PRId64 ")",
                    b, a);
      break;
    }
  }
  nd_walk_result w;
  rc = nd_log_walk(lp, 0, on_batch, &c, &w);
  if (rc) {
    nd_free(ob);
    nd_free(tb);
    cli_lib_error("verify", rc, NULL);
    return rc;
  }
  v->segments++;
  v->batches += w.batches;
  v->records += c.records;
  int last = i + 1 == p->nsegs;
  if (!c.log_bad && w.stop != ND_WALK_END && w.stop != ND_WALK_CALLER) {
    if (last && v->live && w.stop == ND_WALK_TORN) {
      /* The writer is appending this batch right now. */
    } else {
      damaged(v, "%s: byte %" PRId64 ": %s", lp, w.stop_pos, w.why);
      c.log_bad = 1;
      c.bad_pos = (uint64_t)w.stop_pos;
    }
  }
  if (c.log_bad) {
    p->log_damaged = 1;
    p->bad_seg = i;
    p->bad_pos = c.bad_pos;
    p->lost_from = c.expect;
  } else {
    /* Entries past the last batch point at nothing. */
    if (c.oi < c.on) {
      const nd_index_entry *e = &ob[c.oi];
      index_problem(&c, ip, c.oi, 8,
                    "points to byte %" PRIu64 " (offset %" PRId64
                    "), past the last batch (the log has %" PRIu64 " bytes)",
                    e->position, e->offset, w.end);
    }
    check_time_entries(&c, c.expect);
    if (c.ti < c.tn) {
      index_problem(&c, tp, c.ti, 12,
                    "names offset %" PRId64
                    ", past the end of the log (%" PRId64 ")",
                    tb[c.ti].offset, c.expect);
    }
  }
  if (c.index_bad)
    p->index_damaged++;
  *expect = c.expect;
  nd_free(ob);
  nd_free(tb);
  return 0;
}

/* Beside a live writer the directory listing can miss a segment created
 * while it was read, though it holds one created after it: if the segment
 * that should come next exists now, take it into the list. */
static void relist_missing(vpart *p, size_t i, int64_t expect) {
  char lp[PATH_MAX + 32];
  struct stat st;
  snprintf(lp, sizeof lp, "%s/%020" PRId64 ".log", p->dir, expect);
  if (stat(lp, &st) != 0)
    return;
  int64_t *nb = realloc(p->bases, (p->nsegs + 1) * sizeof *nb);
  if (!nb)
    return;
  p->bases = nb;
  memmove(nb + i + 1, nb + i, (p->nsegs - i) * sizeof *nb);
  nb[i] = expect;
  p->nsegs++;
}

static int check_partition(verifier *v, vpart *p) {
  int64_t expect = p->nsegs ? p->bases[0] : 0;
  for (size_t i = 0; i < p->nsegs; i++) {
    if (v->live && i > 0 && p->bases[i] > expect)
      relist_missing(p, i, expect);
    int rc = check_segment(v, p, i, &expect);
    if (rc)
      return rc;
    if (p->log_damaged)
      break;
  }
  return 0;
}

/* ---- the command ------------------------------------------------------- */

static int collect(verifier *v, char **topics, size_t ntopics) {
  char tdir[PATH_MAX];
  snprintf(tdir, sizeof tdir, "%s/topics", v->dir);
  if (ntopics) {
    for (size_t i = 0; i < ntopics; i++) {
      char hash[65], path[PATH_MAX + 80];
      nd_topic_dirname(topics[i], hash);
      snprintf(path, sizeof path, "%s/%s", tdir, hash);
      struct stat st;
      if (stat(path, &st) != 0) {
        cli_error("verify", "unknown topic %s", topics[i]);
        return CLI_FAIL;
      }
      if (add_topic_dir(v, path))
        return CLI_FAIL;
    }
    return 0;
  }
  DIR *d = opendir(tdir);
  if (!d) {
    if (errno == ENOENT)
      return 0; /* a new, empty store */
    cli_error("verify", "cannot open %s: %s", tdir, strerror(errno));
    return CLI_FAIL;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!is_topic_hash(e->d_name))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn)
        break;
      names = nn;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", tdir, names[i]);
    if (!rc && add_topic_dir(v, path))
      rc = CLI_FAIL;
    free(names[i]);
  }
  free(names);
  return rc;
}

static int check_format_file(verifier *v) {
  char path[PATH_MAX + 16], buf[64] = "";
  snprintf(path, sizeof path, "%s/FORMAT", v->dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    char tp[PATH_MAX + 16];
    struct stat st;
    snprintf(tp, sizeof tp, "%s/topics", v->dir);
    if (stat(tp, &st) == 0) {
      damaged(v, "%s: missing", path);
      v->unrepairable++;
    }
    return 0;
  }
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (strcmp(buf, "nodata 1\n")) {
    cli_error("verify", "%s: unknown data format \"%.*s\"", path,
              (int)strcspn(buf, "\n"), buf);
    return CLI_FAIL;
  }
  return 0;
}

/* Small offset files beside the segments: present ones must hold one
 * non-negative decimal offset. They are hints (repair rewrites them), but
 * a damaged one means something wrote where it should not. */
static void check_offset_file(verifier *v, vpart *p, const char *name) {
  char path[PATH_MAX + 32], buf[64];
  snprintf(path, sizeof path, "%s/%s", p->dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *end;
  errno = 0;
  long long val = strtoll(buf, &end, 10);
  if (errno || end == buf || (*end != '\n' && *end) || val < 0)
    damaged(v, "%s: not an offset (\"%.*s\")", path, (int)strcspn(buf, "\n"),
            buf);
}

/* The read-only open reports through on_log what it skips in
 * DATA/groups/offsets.log (docs/format.md): a damaged range, naming the
 * bytes, or a torn tail. Each is damage (a writable open, as --repair
 * makes, rewrites the damage away and cuts the tail), except a torn tail
 * beside a running writer: that is a commit being appended. */
static void library_log(void *ctx, int level, const char *msg) {
  verifier *v = ctx;
  if (level == ND_LOG_INFO && v->live)
    return;
  damaged(v, "%s", msg);
}

static vpart *find_part(verifier *v, const char *topic, int32_t id) {
  for (size_t i = 0; i < v->nparts; i++)
    if (v->parts[i].id == id && !strcmp(v->parts[i].topic, topic))
      return &v->parts[i];
  return NULL;
}

/* Committed offsets past the end a partition has (or will have after the
 * repair): the group's consumers would silently skip that many of the
 * next records written. end_of gives the end, or -1 to skip. */
static void check_committed(verifier *v, nd_store *s,
                            int64_t (*end_of)(verifier *, nd_store *,
                                              const char *, int32_t),
                            const char *when) {
  char **groups = NULL;
  size_t ng = 0;
  if (nd_group_list(s, &groups, &ng) != 0)
    return;
  for (size_t g = 0; g < ng; g++) {
    nd_committed *list = NULL;
    size_t n = 0;
    if (nd_group_offsets(s, groups[g], &list, &n) != 0)
      continue;
    for (size_t i = 0; i < n; i++) {
      int64_t end = end_of(v, s, list[i].topic, list[i].partition);
      if (end >= 0 && list[i].offset > end)
        printf("warning: group %s, topic %s partition %d: committed offset "
               "%" PRId64 " is past the end of the log %s (%" PRId64
               "); its consumers would skip the next %" PRId64
               " records written (reset the group's offset)\n",
               groups[g], list[i].topic, (int)list[i].partition, list[i].offset,
               when, end, list[i].offset - end);
    }
    nd_committed_free(list, n);
  }
  nd_names_free(groups, ng);
}

/* The end a damaged partition keeps after the repair. */
static int64_t end_after_repair(verifier *v, nd_store *s, const char *topic,
                                int32_t id) {
  (void)s;
  vpart *p = find_part(v, topic, id);
  return p && p->log_damaged ? p->lost_from : -1;
}

/* What only the library checks in full (topic.conf: every key, the id,
 * the name's hash; a recovery point past the log's end; the committed-
 * offsets log): a read-only open, which takes such topics and partitions
 * offline, saying why, and reports damaged offsets-log ranges. */
static void check_with_library(verifier *v) {
  nd_options o = {.flags = ND_OPEN_READONLY | ND_OPEN_NOCREATE,
                  .no_background = 1,
                  .on_log = library_log,
                  .on_log_ctx = v};
  nd_store *s = NULL;
  int rc = nd_open(v->dir, &o, &s);
  if (rc == ND_ECORRUPT) {
    damaged(v, "%s", nd_errmsg());
    v->unrepairable++;
  }
  nd_topic_info *infos = NULL;
  size_t n = 0;
  if (!rc && nd_topic_list(s, &infos, &n) == 0) {
    for (size_t i = 0; i < n; i++) {
      if (!infos[i].offline && !infos[i].offline_partitions)
        continue;
      for (int32_t p = 0; p < infos[i].partitions; p++) {
        nd_partition_info pi;
        if (nd_partition_describe(s, infos[i].name, p, &pi) != ND_EFAILED)
          continue;
        vpart *vp = find_part(v, infos[i].name, p);
        if (infos[i].offline) {
          const char *why = strstr(nd_errmsg(), " is offline: ");
          damaged(v, "%s", why ? why + 13 : nd_errmsg());
          v->unrepairable++;
          break;
        }
        /* Damage this walk found already is reported; anything else the
         * library saw (a recovery point past the end) is repaired by
         * rescanning the partition. */
        if (vp && !vp->log_damaged) {
          damaged(v, "%s", nd_errmsg());
          vp->hints_damaged = 1;
        }
      }
    }
    nd_free(infos);
  }
  if (!rc)
    check_committed(v, s, end_after_repair, "after the repair");
  nd_close(s);
}

/* Run every check; returns 0 or 1 (runtime failure, printed). */
static int run_checks(verifier *v, char **topics, size_t ntopics) {
  v->nparts = 0;
  v->problems = v->unrepairable = 0;
  v->segments = v->batches = v->records = 0;
  v->bytes = v->done = 0;
  progress_init(&v->pr, "verify", 0, 1);
  if (check_format_file(v))
    return CLI_FAIL;
  int rc = collect(v, topics, ntopics);
  if (rc)
    return rc;
  v->pr.total = v->bytes;
  for (size_t i = 0; i < v->nparts; i++) {
    if (check_partition(v, &v->parts[i]))
      return CLI_FAIL;
    check_offset_file(v, &v->parts[i], "recovery-point");
    check_offset_file(v, &v->parts[i], "log-start-offset");
  }
  check_with_library(v);
  progress_end(&v->pr);
  return 0;
}

static void summary(const verifier *v) {
  size_t ntopics = 0;
  for (size_t i = 0; i < v->nparts; i++)
    ntopics += i == 0 || strcmp(v->parts[i].topic, v->parts[i - 1].topic);
  char b[32];
  cli_format_bytes((double)v->done, b, sizeof b);
  printf("verified %zu topic%s, %zu partition%s, %" PRId64
         " segment%s, %" PRId64 " batches, %" PRId64 " records, %s: ",
         ntopics, ntopics == 1 ? "" : "s", v->nparts, v->nparts == 1 ? "" : "s",
         v->segments, v->segments == 1 ? "" : "s", v->batches, v->records, b);
  if (v->problems)
    printf("%d problem%s\n", v->problems, v->problems == 1 ? "" : "s");
  else
    printf("no damage found\n");
}

static void free_parts(verifier *v) {
  for (size_t i = 0; i < v->nparts; i++) {
    free(v->parts[i].bases);
    free(v->parts[i].open_txns);
  }
  v->nparts = 0;
}

/* Say what the repair will change, partition by partition. */
static void print_plan(const verifier *v) {
  for (size_t i = 0; i < v->nparts; i++) {
    const vpart *p = &v->parts[i];
    if (p->log_damaged) {
      char lp[PATH_MAX + 32];
      seg_path(p, p->bad_seg, ".log", lp, sizeof lp);
      uint64_t drop = 0;
      struct stat st;
      if (stat(lp, &st) == 0 && (uint64_t)st.st_size > p->bad_pos)
        drop = (uint64_t)st.st_size - p->bad_pos;
      for (size_t k = p->bad_seg + 1; k < p->nsegs; k++) {
        char kp[PATH_MAX + 32];
        seg_path(p, k, ".log", kp, sizeof kp);
        if (stat(kp, &st) == 0)
          drop += (uint64_t)st.st_size;
      }
      printf("repair: topic %s partition %d: will drop %" PRIu64
             " bytes, offsets %" PRId64 " onwards: ",
             p->topic, (int)p->id, drop, p->lost_from);
      size_t later = p->nsegs - p->bad_seg - 1;
      if (p->bad_pos == 0)
        printf("remove %s", lp);
      else
        printf("truncate %s at byte %" PRIu64, lp, p->bad_pos);
      if (later)
        printf(" and the %zu later segment%s", later, later == 1 ? "" : "s");
      printf("; then rebuild its indexes\n");
    } else if (p->index_damaged) {
      printf("repair: topic %s partition %d: will rebuild its indexes "
             "(no records are dropped)\n",
             p->topic, (int)p->id);
    }
    if (p->stray_markers)
      printf("repair: topic %s partition %d: leaves its %d stray control "
             "batch%s in place\n",
             p->topic, (int)p->id, p->stray_markers,
             p->stray_markers == 1 ? "" : "es");
  }
  fflush(stdout);
}

/* ---- quarantine: what repair drops is moved aside, not deleted -------- */

static int mkdirs(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *q = buf + 1;; q++) {
    if (*q && *q != '/')
      continue;
    char c = *q;
    *q = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return -errno;
    if (!c)
      return 0;
    *q = c;
  }
}

/* Copy bytes [from, end of file) of src to dst. */
static int copy_from(const char *src, uint64_t from, const char *dst) {
  FILE *in = fopen(src, "rb");
  if (!in)
    return -errno;
  FILE *out = fopen(dst, "wb");
  if (!out) {
    int e = errno;
    fclose(in);
    return -e;
  }
  int rc = fseeko(in, (off_t)from, SEEK_SET) == 0 ? 0 : -errno;
  char buf[65536];
  size_t n;
  while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, n, out) != n)
      rc = -EIO;
  if (!rc && ferror(in))
    rc = -EIO;
  fclose(in);
  if ((fflush(out) != 0 || fsync(fileno(out)) != 0) && !rc)
    rc = -errno;
  fclose(out);
  return rc;
}

/* Move src into dir (a copy then unlink across file systems). */
static int move_into(const char *src, const char *dir) {
  const char *base = strrchr(src, '/');
  char dst[PATH_MAX + 64];
  snprintf(dst, sizeof dst, "%s/%s", dir, base ? base + 1 : src);
  if (rename(src, dst) == 0)
    return 0;
  if (errno == ENOENT)
    return 0; /* an index that was never written */
  if (errno != EXDEV)
    return -errno;
  int rc = copy_from(src, 0, dst);
  return rc ? rc : (unlink(src) == 0 ? 0 : -errno);
}

static int count_records(void *arg, const nd_batch_info *b, const void *bytes) {
  (void)bytes;
  *(int64_t *)arg += b->record_count;
  return 0;
}

/* Say exactly what leaves partition p, and put it in qdir: the bytes of
 * the damaged segment from its first bad byte, and the later segments
 * whole (with their indexes). The log is then cut by the library. */
static int quarantine(const vpart *p, const char *qdir) {
  char dest[PATH_MAX + 300];
  snprintf(dest, sizeof dest, "%s/%s-%d", qdir, p->topic, (int)p->id);
  int rc = mkdirs(dest);
  if (rc) {
    cli_error("verify", "cannot create %s: %s", dest, strerror(-rc));
    return CLI_FAIL;
  }
  char lp[PATH_MAX + 32], tail[PATH_MAX + 400];
  struct stat st;
  seg_path(p, p->bad_seg, ".log", lp, sizeof lp);
  if (stat(lp, &st) == 0 && (uint64_t)st.st_size > p->bad_pos) {
    const char *base = strrchr(lp, '/') + 1;
    snprintf(tail, sizeof tail, "%s/%s.from-byte-%" PRIu64, dest, base,
             p->bad_pos);
    printf("repair: topic %s partition %d: drops %s bytes %" PRIu64 "..%" PRIu64
           " (offsets %" PRId64 " on, unreadable from there): copied to %s\n",
           p->topic, (int)p->id, lp, p->bad_pos, (uint64_t)st.st_size,
           p->lost_from, tail);
    if ((rc = copy_from(lp, p->bad_pos, tail)) != 0) {
      cli_error("verify", "cannot copy to %s: %s", tail, strerror(-rc));
      return CLI_FAIL;
    }
  }
  for (size_t k = p->bad_seg + 1; k < p->nsegs; k++) {
    seg_path(p, k, ".log", lp, sizeof lp);
    nd_walk_result w;
    int64_t records = 0;
    if (nd_log_walk(lp, 0, count_records, &records, &w) != 0)
      memset(&w, 0, sizeof w);
    printf("repair: topic %s partition %d: drops %s bytes 0..%" PRIu64
           " (offsets %" PRId64 "..%" PRId64 ", %" PRId64
           " records): moved to %s\n",
           p->topic, (int)p->id, lp, w.file_size, p->bases[k],
           p->bases[k] + records - 1, records, dest);
    const char *exts[] = {".log", ".index", ".timeindex"};
    for (int e = 0; e < 3; e++) {
      seg_path(p, k, exts[e], lp, sizeof lp);
      if ((rc = move_into(lp, dest)) != 0) {
        cli_error("verify", "cannot move %s to %s: %s", lp, dest,
                  strerror(-rc));
        return CLI_FAIL;
      }
    }
  }
  fflush(stdout);
  return 0;
}

/* The end a repaired partition has now. */
static int64_t end_now(verifier *v, nd_store *s, const char *topic,
                       int32_t id) {
  vpart *p = find_part(v, topic, id);
  int64_t hw = -1;
  if (!p || !p->log_damaged || nd_offsets(s, topic, id, NULL, &hw) != 0)
    return -1;
  return hw;
}

static int repair(verifier *v, char **topics, size_t ntopics,
                  const char *qdir_opt) {
  if (v->unrepairable) {
    cli_error("verify",
              "cannot repair: %d problem%s outside the segment files (see "
              "above) need a hand",
              v->unrepairable, v->unrepairable == 1 ? "" : "s");
    return CLI_DAMAGED;
  }
  pid_t pid = 0;
  if (nd_lock_holder(v->dir, &pid) == 0 && pid != 0) {
    cli_held_message("verify", v->dir, pid);
    return CLI_FAIL;
  }
  print_plan(v);
  char qdir[PATH_MAX + 64];
  if (qdir_opt) {
    snprintf(qdir, sizeof qdir, "%s", qdir_opt);
  } else {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(qdir, sizeof qdir, "%s/quarantine/%s", v->dir, stamp);
  }
  for (size_t i = 0; i < v->nparts; i++)
    if (v->parts[i].log_damaged && quarantine(&v->parts[i], qdir))
      return CLI_FAIL;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/clean-shutdown", v->dir);
  if (unlink(path) != 0 && errno != ENOENT) {
    cli_error("verify", "cannot remove %s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  for (size_t i = 0; i < v->nparts; i++) {
    const vpart *p = &v->parts[i];
    if (!p->log_damaged && !p->index_damaged && !p->hints_damaged)
      continue;
    /* Without a recovery point the open rescans the partition; an
     * unreadable log start is recomputed from the first segment. */
    const char *files[] = {"recovery-point", "log-start-offset"};
    for (int f = 0; f < (p->hints_damaged ? 2 : 1); f++) {
      snprintf(path, sizeof path, "%s/%s", p->dir, files[f]);
      if (unlink(path) != 0 && errno != ENOENT) {
        cli_error("verify", "cannot remove %s: %s", path, strerror(errno));
        return CLI_FAIL;
      }
    }
  }
  nd_store *st;
  if (cli_open_write("verify", v->dir, 0, &st))
    return CLI_FAIL;
  check_committed(v, st, end_now, "now");
  if (cli_close("verify", st))
    return CLI_FAIL;
  free_parts(v);
  printf("repair: done; checking again\n");
  fflush(stdout);
  int rc = run_checks(v, topics, ntopics);
  if (rc)
    return rc;
  summary(v);
  return v->problems ? CLI_DAMAGED : CLI_OK;
}

int cli_verify_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "verify", argc, argv);
  const char *data = NULL;
  int do_repair = 0;
  const char *quarantine_dir = NULL;
  char **topics = calloc((size_t)argc + 1, sizeof *topics);
  size_t ntopics = 0;
  if (!topics)
    return CLI_FAIL;
  int ret = CLI_USAGE;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (nd_topic_name_valid(o.arg) != 0) {
        cli_usage_error("verify", "bad topic name '%s': %s", o.arg,
                        nd_errmsg());
        goto out;
      }
      topics[ntopics++] = (char *)o.arg;
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(verify_usage, stdout);
      ret = CLI_OK;
      goto out;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_flag(&o, NULL, "--repair")) {
      do_repair = 1;
    } else if (cli_value(&o, NULL, "--quarantine")) {
      quarantine_dir = o.val;
    } else {
      ret = cli_unknown(&o);
      goto out;
    }
  }
  if (o.bad)
    goto out;
  cli_quiet_sigpipe();
  verifier v = {.dir = cli_data_dir(data)};
  struct stat st;
  if (stat(v.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    cli_error("verify",
              "no data directory at %s (give --data DIR or set "
              "NODATA_DIR)",
              v.dir);
    ret = CLI_FAIL;
    goto out;
  }
  pid_t pid = 0;
  v.live = nd_lock_holder(v.dir, &pid) == 0 && pid != 0;
  ret = run_checks(&v, topics, ntopics);
  if (ret == 0) {
    summary(&v);
    if (!v.problems)
      ret = CLI_OK;
    else if (do_repair)
      ret = repair(&v, topics, ntopics, quarantine_dir);
    else {
      printf("run `nodata verify --repair` to truncate damaged logs at the "
             "first bad byte and rebuild indexes\n");
      ret = CLI_DAMAGED;
    }
  }
  fflush(stdout);
  free_parts(&v);
  free(v.parts);
out:
  free(topics);
  return ret;
}
