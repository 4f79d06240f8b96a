/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench.c — the runner behind nodata-bench and `nodata bench`: options,
 * scratch directory, the cases in order, and the summary that holds the
 * measured figures against the storage engine's targets (issue 3).
 *
 * Every figure is the median of --runs runs. Targets are judged only from
 * what this run measured; nothing is assumed about the machine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_int.h"

static const struct {
  const char *name;
  unsigned bit;
  const char *what;
} case_names[] = {
    {"append", CASE_APPEND,
     "fsync=never, batches of 1/100/1000 vs write(), "
     "SQLite"},
    {"durable", CASE_DURABLE,
     "fsync=always, 1 and 4 writers vs "
     "write()+fdatasync, SQLite FULL"},
    {"read", CASE_READ, "sequential nd_read (GB/s) and nd_iter (records/s)"},
    {"lookup", CASE_LOOKUP,
     "random nd_read / nd_offset_for_time vs SQLite "
     "SELECT"},
    {"open", CASE_OPEN, "nd_open with 1000 partitions, clean and unclean"},
    {"peers", CASE_PEERS,
     "2M records: append, ordered read, lookups vs LMDB, raw, SQLite"},
    {"groups", CASE_GROUPS,
     "1000 groups x 8 partitions: offsets of each, group list, open"},
};
#define NCASES (sizeof case_names / sizeof case_names[0])

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [--quick] [--runs N] [--dir DIR] [--case NAME]...\n"
          "Benchmark the nodata storage engine against write() and SQLite.\n"
          "  --quick      small sizes, 1 run (a smoke test; figures mean "
          "nothing)\n"
          "  --runs N     runs per case, median reported (default 5)\n"
          "  --dir DIR    work under DIR (default $TMPDIR or /tmp); a scratch\n"
          "               directory is made inside it and removed at the end\n"
          "  --case NAME  run only this case (repeat or comma-separate):\n",
          prog);
  for (size_t i = 0; i < NCASES; i++)
    fprintf(f, "               %-8s %s\n", case_names[i].name,
            case_names[i].what);
}

static int parse_cases(const char *arg, unsigned *cases) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", arg);
  for (char *save, *tok = strtok_r(buf, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    size_t i;
    for (i = 0; i < NCASES; i++)
      if (strcmp(tok, case_names[i].name) == 0)
        break;
    if (i == NCASES) {
      fprintf(stderr, "nodata-bench: unknown case \"%s\"\n", tok);
      return -1;
    }
    *cases |= case_names[i].bit;
  }
  return 0;
}

/* ---- summary ------------------------------------------------------------- */

typedef struct verdicts {
  int met, missed;
} verdicts;

static void target(verdicts *v, const char *what, const char *measured,
                   const char *goal, int ok) {
  printf("%-46s %18s %12s   %s\n", what, measured, goal,
         ok ? "met" : "NOT MET");
  if (ok)
    v->met++;
  else
    v->missed++;
}

static void summary(const bench_opts *o, const bench_results *r) {
  verdicts v = {0, 0};
  char m[64];
  printf("\n== summary: issue 3 and 17 targets (medians of %d run%s%s) ==\n",
         o->runs, o->runs == 1 ? "" : "s",
         o->quick ? ", --quick: sizes too small to mean anything" : "");
  printf("%-46s %18s %12s   %s\n", "target", "measured", "goal", "verdict");
  if (r->have_append) {
    int b = BENCH_NBATCH - 1; /* the 1000-record batches */
    const figure *nd = &r->app_nd[b], *raw = &r->app_raw[b],
                 *sql = &r->app_sql[b];
    double x = nd->rps / raw->rps, y = nd->rps / sql->rps;
    snprintf(m, sizeof m, "%.3fx", x);
    target(&v, "append 1000x100B, fsync=never, vs write()", m, ">= 0.50x",
           x >= 0.5);
    snprintf(m, sizeof m, "%.2fx", y);
    target(&v, "append 1000x100B, fsync=never, vs SQLite", m, ">= 10x",
           y >= 10);
  }
  if (r->have_durable) {
    double x = r->dur_nd1.rps / r->dur_raw.rps;
    double y = r->dur_nd4.rps / r->dur_nd1.rps;
    snprintf(m, sizeof m, "%.3fx", x);
    target(&v, "durable 100/batch, 1 writer, vs write+fdatasync", m, ">= 0.90x",
           x >= 0.9);
    snprintf(m, sizeof m, "%.3fx", y);
    target(&v, "durable 100/batch, 4 writers vs 1 writer", m, ">= 3.00x",
           y >= 3.0);
  }
  if (r->have_read) {
    snprintf(m, sizeof m, "%.2f GB/s", r->seq_raw.bps / 1e9);
    target(&v, "sequential read, raw batches", m, ">= 2 GB/s",
           r->seq_raw.bps >= 2e9);
    snprintf(m, sizeof m, "%.2f M rec/s", r->seq_dec.rps / 1e6);
    target(&v, "sequential read, decoded records", m, ">= 10 M/s",
           r->seq_dec.rps >= 10e6);
  }
  if (r->have_lookup) {
    snprintf(m, sizeof m, "%.2f us", r->lk_off.p99_us);
    target(&v, "random lookup by offset, warm, p99", m, "<= 10 us",
           r->lk_off.p99_us <= 10);
  }
  if (r->have_peers) {
    /* Issue 17's targets, measured beside LMDB in the same run. */
    const figure *lk = &r->pe_lk[PEER_NODATA], *lm = &r->pe_lk[PEER_LMDB];
    const figure *sq = &r->pe_seq[PEER_NODATA], *sl = &r->pe_seq[PEER_LMDB];
    snprintf(m, sizeof m, "%.2f us", lk->p99_us);
    target(&v, "peers: lookup by offset (nd_reader), p99", m, "<= 5 us",
           lk->p99_us <= 5);
    double x = lk->rps / lm->rps;
    snprintf(m, sizeof m, "%.2fx", x);
    target(&v, "peers: lookups/s vs LMDB", m, ">= 0.50x", x >= 0.5);
    x = sq->rps / sl->rps;
    snprintf(m, sizeof m, "%.2fx", x);
    target(&v, "peers: sequential decoded read vs LMDB", m, ">= 1.00x",
           x >= 1.0);
  }
  if (r->have_open) {
    char what[64];
    snprintf(what, sizeof what, "clean open, %d partitions",
             r->open_partitions);
    snprintf(m, sizeof m, "%.1f ms", r->clean_ms);
    target(&v, what, m, "<= 100 ms", r->clean_ms <= 100);
    /* "Grows with the tail, not the data": with the same tail, a store
     * several times larger may cost at most twice as much to recover. */
    double x = r->unclean_large_ms / r->unclean_small_ms;
    snprintf(what, sizeof what, "unclean open, %d partitions, same tail",
             r->open_partitions);
    snprintf(m, sizeof m, "%.2fx (data %.1fx)", x, r->large_mb / r->small_mb);
    target(&v, what, m, "<= 2x", x <= 2);
    x = r->deep_large_ms / r->deep_small_ms;
    snprintf(what, sizeof what, "unclean open, %d partitions, same tail",
             r->deep_partitions);
    snprintf(m, sizeof m, "%.2fx (data %.1fx)", x,
             r->deep_large_mb / r->deep_small_mb);
    target(&v, what, m, "<= 2x", x <= 2);
  }
  printf("%d met, %d not met\n", v.met, v.missed);
}

/* ---- main ---------------------------------------------------------------- */

static void print_context(const bench_opts *o) {
  time_t now = time(NULL);
  struct tm tm;
  char when[64];
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
  struct utsname u;
  if (uname(&u) != 0)
    memset(&u, 0, sizeof u);
  printf("nodata-bench %s: %s, %s %s, %ld cores, sqlite %s\n",
         ND_VERSION_STRING, when, u.sysname, u.machine,
         sysconf(_SC_NPROCESSORS_ONLN), sqlite_peer_version());
  printf("runs %d%s, scratch %s\n", o->runs, o->quick ? " (quick)" : "",
         o->root);
}

int nd_bench_main(int argc, char **argv) {
  const char *prog = argc > 0 && argv[0] ? argv[0] : "nodata-bench";
  bench_opts o;
  memset(&o, 0, sizeof o);
  o.runs = -1;
  const char *parent = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--quick") == 0) {
      o.quick = 1;
    } else if (strcmp(a, "--runs") == 0 && val) {
      char *end;
      long n = strtol(val, &end, 10);
      if (*end || n < 1 || n > 1000) {
        fprintf(stderr, "nodata-bench: --runs takes 1..1000\n");
        return 2;
      }
      o.runs = (int)n;
      i++;
    } else if (strcmp(a, "--dir") == 0 && val) {
      parent = val;
      i++;
    } else if (strcmp(a, "--case") == 0 && val) {
      if (parse_cases(val, &o.cases))
        return 2;
      i++;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout, prog);
      return 0;
    } else {
      usage(stderr, prog);
      return 2;
    }
  }
  if (o.runs < 0)
    o.runs = o.quick ? 1 : 5;
  if (!o.cases)
    o.cases = CASE_ALL;
  if (!parent) {
    parent = getenv("TMPDIR");
    if (!parent || !*parent)
      parent = "/tmp";
  }
  /* A missing --dir is made (one level) and removed again afterwards. */
  int made_parent = 0;
  if (mkdir(parent, 0755) == 0)
    made_parent = 1;
  else if (errno != EEXIST) {
    fprintf(stderr, "nodata-bench: cannot create %s: %s\n", parent,
            strerror(errno));
    return 1;
  }
  if (dir_make_temp(parent, "nodata-bench", o.root, sizeof o.root)) {
    if (made_parent)
      rmdir(parent);
    return 1;
  }

  print_context(&o);
  uint64_t t0 = bench_now_ns();
  bench_results r;
  memset(&r, 0, sizeof r);
  bench_data d;
  int rc = data_init(&d, o.quick ? 20000 : 1000000);
  if (!rc && (o.cases & CASE_APPEND))
    rc = case_append(&o, &d, &r);
  if (!rc && (o.cases & CASE_DURABLE))
    rc = case_durable(&o, &d, &r);
  if (!rc && (o.cases & (CASE_READ | CASE_LOOKUP)))
    rc = case_read_lookup(&o, &d, &r);
  if (!rc && (o.cases & CASE_OPEN))
    rc = case_open(&o, &d, &r);
  if (!rc && (o.cases & CASE_PEERS))
    rc = case_peers(&o, &d, &r);
  if (!rc && (o.cases & CASE_GROUPS))
    rc = case_groups(&o, &d, &r);
  data_free(&d);
  if (!rc)
    summary(&o, &r);
  dir_remove(o.root);
  if (made_parent)
    rmdir(parent);
  printf("\n%s in %.1f s\n", rc ? "nodata-bench: FAILED" : "nodata-bench: done",
         (double)(bench_now_ns() - t0) / 1e9);
  fflush(stdout);
  return rc ? 1 : 0;
}
