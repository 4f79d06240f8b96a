/* SPDX-License-Identifier: Apache-2.0 */
/*
 * case_groups.c — committed offsets of many consumer groups: 1,000 groups
 * commit 8 partitions each (one nd_commit_offsets per group, so 1,000
 * frames and fdatasyncs, untimed), then per run:
 *
 * offsets: nd_group_offsets of every group in turn, as OffsetFetch for
 *          all partitions, the console's sampler and `nodata groups` ask
 *          (calls/s, p50/p99 per call, and the pass over all groups in ms);
 * groups:  nd_group_list, 20 calls (per call);
 * open:    nd_close and nd_open of that store: the replay of offsets.log
 *          that rebuilds what the listings read (ms).
 *
 * The topic has no records: only the groups' part of the store is measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

#define GROUP_PARTS 8
#define GROUP_LISTS 20

typedef struct groups_set {
  char dir[PATH_MAX];
  nd_store *s;
  int n; /* groups */
} groups_set;

static void group_name(char *buf, size_t cap, int g) {
  snprintf(buf, cap, "group-%04d", g);
}

static int groups_build(const bench_opts *o, groups_set *gs) {
  memset(gs, 0, sizeof *gs);
  gs->n = o->quick ? 50 : 1000;
  if (dir_make_temp(o->root, "groups", gs->dir, sizeof gs->dir) ||
      store_open(gs->dir, 1, &gs->s) ||
      topic_make(gs->s, BENCH_TOPIC, GROUP_PARTS, ND_FSYNC_NEVER))
    return -1;
  uint64_t t0 = bench_now_ns();
  nd_offset_commit c[GROUP_PARTS];
  char name[32];
  for (int g = 0; g < gs->n; g++) {
    for (int p = 0; p < GROUP_PARTS; p++)
      c[p] = (nd_offset_commit){BENCH_TOPIC, p, 1000 + g, 3, "", 0};
    group_name(name, sizeof name, g);
    int rc = nd_commit_offsets(gs->s, name, c, GROUP_PARTS);
    if (rc)
      return bench_fail("nd_commit_offsets", rc);
  }
  printf("(%d groups x %d partitions committed in %.1f s, untimed)\n", gs->n,
         GROUP_PARTS, (double)(bench_now_ns() - t0) / 1e9);
  return 0;
}

/* nd_group_offsets of every group once. */
static int offsets_run(groups_set *gs, lat_buf *lat, run_stat *st) {
  char name[32];
  lat->n = 0;
  uint64_t t0 = bench_now_ns();
  for (int g = 0; g < gs->n; g++) {
    group_name(name, sizeof name, g);
    nd_committed *list;
    size_t n;
    uint64_t a = bench_now_ns();
    int rc = nd_group_offsets(gs->s, name, &list, &n);
    uint64_t b = bench_now_ns();
    if (rc)
      return bench_fail("nd_group_offsets", rc);
    int ok = n == GROUP_PARTS && list[0].offset == 1000 + g;
    nd_committed_free(list, n);
    if (!ok)
      return bench_fail("nd_group_offsets: wrong list", ND_ECORRUPT);
    if (lat_add(lat, b - a))
      return -1;
  }
  *st = stat_of((uint64_t)gs->n, 0, bench_now_ns() - t0, lat);
  st->bps = -1;
  return 0;
}

static int names_run(groups_set *gs, lat_buf *lat, run_stat *st) {
  lat->n = 0;
  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < GROUP_LISTS; i++) {
    char **names;
    size_t n;
    uint64_t a = bench_now_ns();
    int rc = nd_group_list(gs->s, &names, &n);
    uint64_t b = bench_now_ns();
    if (rc)
      return bench_fail("nd_group_list", rc);
    nd_names_free(names, n);
    if (n != (size_t)gs->n)
      return bench_fail("nd_group_list: wrong count", ND_ECORRUPT);
    if (lat_add(lat, b - a))
      return -1;
  }
  *st = stat_of(GROUP_LISTS, 0, bench_now_ns() - t0, lat);
  st->bps = -1;
  return 0;
}

static int reopen_run(groups_set *gs, run_stat *st) {
  int rc = nd_close(gs->s);
  gs->s = NULL;
  if (rc)
    return bench_fail("nd_close", rc);
  uint64_t t0 = bench_now_ns();
  if (store_open(gs->dir, 1, &gs->s))
    return -1;
  uint64_t el = bench_now_ns() - t0;
  *st = stat_of(1, 0, el, NULL);
  st->bps = -1;
  st->p50_us = st->p99_us = (double)el / 1e3;
  return 0;
}

int case_groups(const bench_opts *o, const bench_data *d, bench_results *r) {
  (void)d;
  int ret = -1, runs = o->runs;
  groups_set gs;
  memset(&gs, 0, sizeof gs);
  lat_buf lat = {0};
  /* Per run: the offsets pass, the group lists, the open. */
  run_stat *st = calloc(3 * (size_t)runs, sizeof *st);
  run_stat *a = st, *b = st + runs, *c = st + 2 * runs;
  print_header("consumer groups: committed offsets (records/s = calls/s)",
               "ms each", NULL);
  if (!st || groups_build(o, &gs) || lat_init(&lat, 1024))
    goto out;
  for (int run = 0; run < runs; run++)
    if (offsets_run(&gs, &lat, &a[run]) || names_run(&gs, &lat, &b[run]) ||
        reopen_run(&gs, &c[run]))
      goto out;
  r->groups = gs.n;
  r->grp_offsets = figure_of(a, runs);
  r->grp_names = figure_of(b, runs);
  r->grp_open = figure_of(c, runs);
  char what[64], x[32];
  snprintf(what, sizeof what, "nd_group_offsets, each of %d", gs.n);
  const struct {
    const char *name, *fmt;
    const figure *f;
    double ms;
  } rows[] = {
      {what, "%.1f all", &r->grp_offsets, 1e3 * gs.n / r->grp_offsets.rps},
      {"nd_group_list", "%.2f", &r->grp_names, r->grp_names.p50_us / 1e3},
      {"nd_open (replays offsets.log)", "%.1f", &r->grp_open,
       r->grp_open.p50_us / 1e3},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    snprintf(x, sizeof x, rows[i].fmt, rows[i].ms);
    print_row(rows[i].name, rows[i].f, x, NULL);
  }
  printf("(ms each: a pass over every group, one nd_group_list, one "
         "nd_open)\n");
  r->have_groups = 1;
  ret = 0;
out:
  if (gs.s)
    nd_close(gs.s);
  if (gs.dir[0])
    dir_remove(gs.dir);
  lat_free(&lat);
  free(st);
  return ret;
}
