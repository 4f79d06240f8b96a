/*
 * verify.c — `nodata verify [TOPIC...] [--repair]`.
 *
 * Reads every segment file directly (see segfile.h) rather than through
 * nd_open: an open would quietly truncate a damaged tail, and verify's job
 * is to say what is wrong and where before anything changes. It checks
 *   - every batch: length, magic, counts, CRC-32C, and that offsets run on
 *     without gaps from one batch and one segment to the next;
 *   - every index entry against the log: an offset entry must name the
 *     position and base offset of a real batch; a time entry must sit at a
 *     batch boundary (or the segment end) and carry a timestamp no lower
 *     than any earlier batch's, or lookups by time would skip records.
 * The committed-offsets log is checked by the library's read-only open,
 * which reports each damaged range through nd_options.on_log.
 *
 * Repair leans on the library's own recovery instead of a second
 * implementation of it: without the clean-shutdown marker and without a
 * partition's recovery-point file, nd_open rescans that partition from its
 * first segment, truncates at the first invalid byte (dropping later
 * segments) and rebuilds every index. Verify states beforehand what that
 * drops, runs it, and verifies again.
 *
 * Beside a running writer the last segment of a partition may end in a
 * batch still being written; that is not reported as damage. Index files
 * are read before their log, so every entry seen names bytes already
 * written.
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
#include <unistd.h>

#include "cli.h"
#include "segfile.h"

static const char verify_usage[] =
    "usage: nodata verify [--repair] [--data DIR] [TOPIC ...]\n"
    "\n"
    "Check the stored data of every topic (or the TOPICs named), reading\n"
    "the files directly and changing nothing:\n"
    "  - every batch's length, magic byte and CRC-32C, and that offsets\n"
    "    continue without gaps from batch to batch and segment to segment;\n"
    "  - every .index and .timeindex entry against its .log;\n"
    "  - the committed consumer offsets (groups/offsets.log): each damaged\n"
    "    range, with the commits it held; --repair rewrites the file\n"
    "    without it, keeping the damaged file as offsets.log.damaged.\n"
    "Each problem is printed as \"damaged: FILE: byte N: what\", then a\n"
    "summary. verify works while `nodata serve` runs.\n"
    "\n"
    "  --repair     after checking, say what will be dropped, then truncate\n"
    "               each damaged log at its first bad byte (removing the\n"
    "               partition's later segments: a log has no holes) and\n"
    "               rebuild the indexes, and verify again. Needs the data\n"
    "               directory to itself (stop the broker first).\n"
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
        seg_base_from_name(name) < 0)
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
    p->bases[p->nsegs++] = seg_base_from_name(name);
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
  verifier *v;
  const char *log_path;
  const char *index_path;
  const char *time_path;
  int64_t base;
  int64_t expect; /* base offset the next batch must have */
  int64_t max_ts; /* largest maxTimestamp of the batches so far */
  const uint8_t *oidx;
  size_t on, oi;
  const uint8_t *tidx;
  size_t tn, ti;
  int index_bad; /* problems printed for this segment's indexes */
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
    const uint8_t *e = c->tidx + c->ti * 12;
    int64_t ts = (int64_t)seg_be64(e);
    int64_t off = c->base + seg_be32(e + 8);
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

static int on_batch(void *arg, const seg_batch *b, const uint8_t *bytes) {
  (void)bytes;
  segcheck *c = arg;
  if (b->base != c->expect) {
    damaged(c->v,
            "%s: byte %" PRIu64 ": the batch there starts at offset %" PRId64
            ", expected %" PRId64 " (offsets must continue without gaps)",
            c->log_path, b->pos, b->base, c->expect);
    c->log_bad = 1;
    c->bad_pos = b->pos;
    return 1;
  }
  if (!b->crc_ok) {
    damaged(c->v,
            "%s: byte %" PRIu64 ": CRC-32C mismatch in the batch of offsets "
            "%" PRId64 "..%" PRId64 " (%" PRIu64 " bytes)",
            c->log_path, b->pos, b->base, b->last, b->size);
    c->log_bad = 1;
    c->bad_pos = b->pos;
    return 1;
  }
  while (c->oi < c->on) {
    const uint8_t *e = c->oidx + c->oi * 8;
    uint64_t pos = seg_be32(e + 4);
    int64_t off = c->base + seg_be32(e);
    if (pos > b->pos)
      break;
    if (pos < b->pos)
      index_problem(
          c, c->index_path, c->oi, 8,
          "points to byte %" PRIu64 ", which is not the start of a batch", pos);
    else if (off != b->base)
      index_problem(c, c->index_path, c->oi, 8,
                    "says offset %" PRId64 " is at byte %" PRIu64
                    ", but the batch there starts at offset %" PRId64,
                    off, pos, b->base);
    c->oi++;
  }
  check_time_entries(c, b->base);
  if (b->max_ts > c->max_ts)
    c->max_ts = b->max_ts;
  c->expect = b->last + 1;
  c->records += b->count;
  return 0;
}

/* Check segment i of p; returns 0, or -errno if a file cannot be read. */
static int check_segment(verifier *v, vpart *p, size_t i, int64_t *expect) {
  char lp[PATH_MAX + 32], ip[PATH_MAX + 32], tp[PATH_MAX + 32];
  seg_path(p, i, ".log", lp, sizeof lp);
  seg_path(p, i, ".index", ip, sizeof ip);
  seg_path(p, i, ".timeindex", tp, sizeof tp);
  segcheck c = {.v = v,
                .log_path = lp,
                .index_path = ip,
                .time_path = tp,
                .base = p->bases[i],
                .expect = p->bases[i],
                .max_ts = -1};
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
  uint8_t *ob = NULL, *tb = NULL;
  size_t oslots, tslots;
  int rc = seg_read_index(ip, 8, &ob, &c.on, &oslots);
  if (rc < 0) {
    cli_error("verify", "cannot read %s: %s", ip, strerror(-rc));
    return rc;
  }
  rc = seg_read_index(tp, 12, &tb, &c.tn, &tslots);
  if (rc < 0) {
    free(ob);
    cli_error("verify", "cannot read %s: %s", tp, strerror(-rc));
    return rc;
  }
  c.oidx = ob;
  c.tidx = tb;
  for (size_t k = 1; k < c.tn; k++) {
    int64_t a = (int64_t)seg_be64(tb + (k - 1) * 12),
            b = (int64_t)seg_be64(tb + k * 12);
    if (b < a) {
      index_problem(&c, tp, k, 12,
                    "has timestamp %" PRId64
                    ", below the entry before it (%" PRId64 ")",
                    b, a);
      break;
    }
  }
  seg_walk w;
  rc = seg_walk_log(lp, on_batch, &c, &w, &v->pr, &v->done);
  if (rc) {
    free(ob);
    free(tb);
    cli_error("verify", "cannot read %s: %s", lp, strerror(-rc));
    return rc;
  }
  v->segments++;
  v->batches += w.batches;
  v->records += c.records;
  int last = i + 1 == p->nsegs;
  if (!c.log_bad && w.bad_pos >= 0) {
    if (last && v->live && w.short_tail) {
      /* The writer is appending this batch right now. */
    } else {
      damaged(v, "%s: byte %" PRId64 ": %s", lp, w.bad_pos, w.why);
      c.log_bad = 1;
      c.bad_pos = (uint64_t)w.bad_pos;
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
      const uint8_t *e = ob + c.oi * 8;
      index_problem(&c, ip, c.oi, 8,
                    "points to byte %u (offset %" PRId64
                    "), past the last batch (the log has %" PRIu64 " bytes)",
                    seg_be32(e + 4), c.base + seg_be32(e), w.end);
    }
    check_time_entries(&c, c.expect);
    if (c.ti < c.tn) {
      const uint8_t *e = tb + c.ti * 12;
      index_problem(&c, tp, c.ti, 12,
                    "names offset %" PRId64
                    ", past the end of the log (%" PRId64 ")",
                    c.base + seg_be32(e + 8), c.expect);
    }
  }
  if (c.index_bad)
    p->index_damaged++;
  *expect = c.expect;
  free(ob);
  free(tb);
  return 0;
}

static int check_partition(verifier *v, vpart *p) {
  int64_t expect = p->nsegs ? p->bases[0] : 0;
  for (size_t i = 0; i < p->nsegs; i++) {
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

/* What only the library checks in full (topic.conf: every key, the id,
 * the name's hash; the committed-offsets log): a read-only open, whose
 * error names file and line. */
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
  for (size_t i = 0; i < v->nparts; i++)
    free(v->parts[i].bases);
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
  }
  fflush(stdout);
}

static int repair(verifier *v, char **topics, size_t ntopics) {
  if (v->unrepairable) {
    cli_error("verify",
              "cannot repair: %d problem%s outside the segment files (see "
              "above) need a hand",
              v->unrepairable, v->unrepairable == 1 ? "" : "s");
    return CLI_DAMAGED;
  }
  pid_t pid = 0;
  if (nd_lock_holder(v->dir, &pid) == 0 && pid > 0) {
    cli_held_message("verify", v->dir, pid);
    return CLI_FAIL;
  }
  print_plan(v);
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
  v.live = nd_lock_holder(v.dir, &pid) == 0 && pid > 0;
  ret = run_checks(&v, topics, ntopics);
  if (ret == 0) {
    summary(&v);
    if (!v.problems)
      ret = CLI_OK;
    else if (do_repair)
      ret = repair(&v, topics, ntopics);
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
