/* SPDX-License-Identifier: Apache-2.0 */
/*
 * groups.c — `nodata groups list|describe|lag|reset-offsets|delete`: the
 * tables and reset options of Kafka's kafka-consumer-groups.sh, on a data
 * directory or, with --bootstrap, through any Kafka-protocol broker. Where
 * the groups come from is groups.h's backend; this file decides what to
 * print and what to reset, identically for both.
 */
/* timegm: the build defines _GNU_SOURCE */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "groups.h"

static const char groups_usage[] =
    "usage: nodata groups list [--state]\n"
    "       nodata groups describe GROUP|--all-groups [--members [--verbose]"
    " | --state]\n"
    "       nodata groups lag [GROUP]\n"
    "       nodata groups reset-offsets GROUP|--all-groups\n"
    "                 --topic T[:P,P...]|--all-topics\n"
    "                 --to-earliest|--to-latest|--to-current|--to-offset N|\n"
    "                 --shift-by N|--to-datetime YYYY-MM-DDTHH:mm:SS.sss\n"
    "                 [--dry-run|--execute]\n"
    "       nodata groups delete GROUP\n"
    "   each with [--data DIR | --bootstrap HOST:PORT]\n"
    "\n"
    "Consumer groups and their committed offsets, as kafka-consumer-groups.sh\n"
    "shows and changes them (the same columns and options).\n"
    "\n"
    "  list           group names; --state adds each group's state\n"
    "  describe       per partition: GROUP TOPIC PARTITION CURRENT-OFFSET\n"
    "                 LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID;\n"
    "                 --members: one line per member (--verbose: and its\n"
    "                 partitions); --state: coordinator, assignor, state and\n"
    "                 member count\n"
    "  lag            per group and topic: partitions with a committed offset\n"
    "                 and their total lag (log end offset - committed)\n"
    "  reset-offsets  prints the new offsets; changes them only with\n"
    "                 --execute (--dry-run, the default, changes nothing).\n"
    "                 A group with active members is refused, as Kafka's\n"
    "                 tool refuses it: stop its consumers first\n"
    "  delete         forget a group and its committed offsets\n"
    "\n"
    "  --data DIR             data directory (default $NODATA_DATA,\n"
    "                         $NODATA_DIR, else ./data)\n"
    "  -b, --bootstrap HOST:PORT\n"
    "                         through a broker instead (nodata serve, Apache\n"
    "                         Kafka, ...); also --bootstrap-server\n"
    "  --group G              the group (or give it as an argument)\n"
    "  --all-groups           describe or reset every group\n"
    "  --topic T[:P,...]      reset: a topic, or some of its partitions;\n"
    "                         repeatable\n"
    "  --all-topics           reset: every partition the group has an\n"
    "                         offset for\n"
    "  --to-earliest          reset to the log start offset\n"
    "  --to-latest            reset to the log end offset\n"
    "  --to-current           reset to the committed offset (the end offset\n"
    "                         where none)\n"
    "  --to-offset N          reset to N (kept within start..end)\n"
    "  --shift-by N           move the committed offset by N (kept within\n"
    "                         start..end)\n"
    "  --to-datetime TIME     the first offset at or after TIME,\n"
    "                         YYYY-MM-DDTHH:mm:SS.sss with an optional zone\n"
    "                         (Z, +01:00); without one, local time, as\n"
    "                         Kafka. Past the last record: the end offset\n"
    "\n"
    "On a data directory the commands that read (list, describe, lag, a\n"
    "dry run) work while `nodata serve` runs; reset --execute and delete\n"
    "need the directory to themselves (with a broker running, use\n"
    "--bootstrap). Members, their ids and hosts and the coordinator are\n"
    "known only to a broker: on a data directory those columns show \"-\"\n"
    "and a group's state is Empty, or Unknown while a broker holds the\n"
    "directory.\n"
    "\n"
    "Examples:\n"
    "  nodata groups list --state\n"
    "  nodata groups describe orders-app\n"
    "  nodata groups lag --bootstrap 127.0.0.1:9092\n"
    "  nodata groups reset-offsets orders-app --topic orders --to-earliest \\\n"
    "                              --execute\n"
    "  nodata groups reset-offsets orders-app --topic orders:0,2 \\\n"
    "      --to-datetime 2026-11-25T00:00:00.000Z --bootstrap kafka:9092\n"
    "  nodata groups delete old-app\n"
    "\n"
    "Exit status: 0 ok, 1 runtime failure (unknown group, active members,\n"
    "directory held, broker unreachable), 2 usage error.\n";

/* ---- small helpers shared with the backends ---------------------------- */

char *gr_strdup(const char *s) {
  return strdup(s ? s : "");
}

int gr_offset_cmp(const void *a, const void *b) {
  const gr_offset *x = a, *y = b;
  int c = strcmp(x->topic ? x->topic : "", y->topic ? y->topic : "");
  if (c)
    return c;
  return (x->partition > y->partition) - (x->partition < y->partition);
}

void gr_offsets_free(gr_offset *list, size_t n) {
  for (size_t i = 0; list && i < n; i++)
    free(list[i].topic);
  free(list);
}

void gr_group_clear(gr_group *g) {
  free(g->name);
  free(g->state);
  free(g->assignor);
  free(g->coordinator);
  for (size_t i = 0; g->members && i < g->nmembers; i++) {
    free(g->members[i].consumer_id);
    free(g->members[i].host);
    free(g->members[i].client_id);
    gr_offsets_free(g->members[i].assigned, g->members[i].nassigned);
  }
  free(g->members);
  memset(g, 0, sizeof *g);
}

void gr_groups_free(gr_group *g, size_t n) {
  for (size_t i = 0; g && i < n; i++)
    gr_group_clear(&g[i]);
  free(g);
}

static int wider(int w, const char *s) {
  int n = (int)strlen(s);
  return n > w ? n : w;
}

static const char *or_dash(const char *s) {
  return s && *s ? s : "-";
}

static void fmt_i64(char *buf, size_t cap, int64_t v) {
  if (v < 0)
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, "%" PRId64, v);
}

static int group_cmp(const void *a, const void *b) {
  return strcmp(((const gr_group *)a)->name, ((const gr_group *)b)->name);
}

/* The groups sorted by name, as a data directory lists them, whatever
 * order a broker answers in. */
static int list_groups(gr_backend *b, gr_group **g, size_t *n) {
  if (b->list(b, g, n))
    return CLI_FAIL;
  qsort(*g, *n, sizeof **g, group_cmp);
  return CLI_OK;
}

/* ---- list ---------------------------------------------------------------- */

static int do_list(gr_backend *b, int state) {
  gr_group *g = NULL;
  size_t n = 0;
  if (list_groups(b, &g, &n))
    return CLI_FAIL;
  int w = 25;
  for (size_t i = 0; i < n; i++)
    w = wider(w, g[i].name);
  if (state)
    printf("%-*s %-20s\n", w, "GROUP", "STATE");
  for (size_t i = 0; i < n; i++) {
    if (state)
      printf("%-*s %-20s\n", w, g[i].name, g[i].state);
    else
      printf("%s\n", g[i].name);
  }
  gr_groups_free(g, n);
  return CLI_OK;
}

/* ---- describe -------------------------------------------------------------
 * Kafka's rows: every partition assigned to a member (with its committed
 * offset, or "-"), then every other partition the group has an offset for,
 * without a member; here sorted by topic and partition. */

typedef struct row {
  gr_offset tp; /* tp.offset: committed, -1 none */
  int64_t end;  /* log end offset, -1 unknown */
  const gr_member *m;
} row;

static int row_cmp(const void *a, const void *b) {
  return gr_offset_cmp(&((const row *)a)->tp, &((const row *)b)->tp);
}

/* The describe rows of one group, watermarks filled in; *rows malloc'ed
 * (topic strings borrowed from committed/members: free rows only). */
static int collect_rows(gr_backend *b, const gr_group *g,
                        const gr_offset *committed, size_t nc, row **out,
                        size_t *nout) {
  size_t cap = nc;
  for (size_t i = 0; i < g->nmembers; i++)
    cap += g->members[i].nassigned;
  row *r = calloc(cap ? cap : 1, sizeof *r);
  if (!r) {
    cli_error("groups", "out of memory");
    return CLI_FAIL;
  }
  size_t n = 0;
  for (size_t i = 0; i < g->nmembers; i++)
    for (size_t j = 0; j < g->members[i].nassigned; j++) {
      gr_offset tp = g->members[i].assigned[j];
      const gr_offset *c =
          bsearch(&tp, committed, nc, sizeof *committed, gr_offset_cmp);
      tp.offset = c ? c->offset : -1;
      r[n++] = (row){tp, -1, &g->members[i]};
    }
  for (size_t i = 0; i < nc; i++) {
    int assigned = 0;
    for (size_t j = 0; j < n && !assigned; j++)
      assigned = r[j].m && !gr_offset_cmp(&r[j].tp, &committed[i]);
    if (!assigned)
      r[n++] = (row){committed[i], -1, NULL};
  }
  qsort(r, n, sizeof *r, row_cmp);
  for (size_t i = 0; i < n; i++) {
    int64_t lo;
    if (b->watermarks(b, r[i].tp.topic, r[i].tp.partition, &lo, &r[i].end)) {
      free(r);
      return CLI_FAIL;
    }
  }
  *out = r;
  *nout = n;
  return CLI_OK;
}

/* Print one group's table (offsets, --members or --state), its header
 * unless *header_done; an unknown group is an error, as in Kafka 4. */
static int describe_one(gr_backend *b, const char *name, int members,
                        int verbose, int state, int *header_done) {
  gr_group g;
  int found = 0;
  if (b->describe(b, name, &g, &found))
    return CLI_FAIL;
  if (!found) {
    gr_group_clear(&g);
    cli_error("groups", "group %s not found", name);
    return CLI_FAIL;
  }
  int gw = wider(15, g.name);
  if (state) {
    if (!*header_done)
      printf("\n%-*s %-25s %-20s %-20s %s\n", gw, "GROUP", "COORDINATOR (ID)",
             "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS");
    char nm[32];
    if (g.members_known)
      snprintf(nm, sizeof nm, "%zu", g.nmembers);
    else
      snprintf(nm, sizeof nm, "-");
    printf("%-*s %-25s %-20s %-20s %s\n", gw, g.name, g.coordinator,
           or_dash(g.assignor), g.state, nm);
  } else if (members) {
    int cw = 15, hw = 15, lw = 15;
    for (size_t i = 0; i < g.nmembers; i++) {
      cw = wider(cw, g.members[i].consumer_id);
      hw = wider(hw, g.members[i].host);
      lw = wider(lw, g.members[i].client_id);
    }
    if (!*header_done)
      printf("\n%-*s %-*s %-*s %-*s %-15s%s\n", gw, "GROUP", cw, "CONSUMER-ID",
             hw, "HOST", lw, "CLIENT-ID", "#PARTITIONS",
             verbose ? " ASSIGNMENT" : "");
    for (size_t i = 0; i < g.nmembers; i++) {
      const gr_member *m = &g.members[i];
      printf("%-*s %-*s %-*s %-*s %-15zu", gw, g.name, cw, m->consumer_id, hw,
             m->host, lw, m->client_id, m->nassigned);
      if (verbose) {
        /* "t1:0,1,2,t2:0" as Kafka's tool writes an assignment */
        putchar(' ');
        for (size_t j = 0; j < m->nassigned; j++) {
          const gr_offset *a = &m->assigned[j];
          int same = j && !strcmp(a->topic, m->assigned[j - 1].topic);
          printf("%s%s%s%d", j ? "," : "", same ? "" : a->topic,
                 same ? "" : ":", (int)a->partition);
        }
        if (!m->nassigned)
          putchar('-');
      }
      putchar('\n');
    }
  } else {
    gr_offset *committed = NULL;
    size_t nc = 0;
    row *r = NULL;
    size_t n = 0;
    if (b->committed(b, name, &committed, &nc) ||
        collect_rows(b, &g, committed, nc, &r, &n)) {
      gr_offsets_free(committed, nc);
      gr_group_clear(&g);
      return CLI_FAIL;
    }
    int tw = 15, cw = 15, hw = 15;
    for (size_t i = 0; i < n; i++) {
      tw = wider(tw, r[i].tp.topic);
      if (r[i].m) {
        cw = wider(cw, r[i].m->consumer_id);
        hw = wider(hw, r[i].m->host);
      }
    }
    if (!*header_done)
      printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s\n", gw, "GROUP",
             tw, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
             "LAG", cw, "CONSUMER-ID", hw, "HOST", "CLIENT-ID");
    for (size_t i = 0; i < n; i++) {
      char cur[24], end[24], lag[24];
      fmt_i64(cur, sizeof cur, r[i].tp.offset);
      fmt_i64(end, sizeof end, r[i].end);
      fmt_i64(lag, sizeof lag,
              r[i].tp.offset >= 0 && r[i].end >= 0
                  ? (r[i].end > r[i].tp.offset ? r[i].end - r[i].tp.offset : 0)
                  : -1);
      printf("%-*s %-*s %-10d %-15s %-15s %-15s %-*s %-*s %s\n", gw, g.name, tw,
             r[i].tp.topic, (int)r[i].tp.partition, cur, end, lag, cw,
             r[i].m ? r[i].m->consumer_id : "-", hw,
             r[i].m ? r[i].m->host : "-", r[i].m ? r[i].m->client_id : "-");
    }
    free(r);
    gr_offsets_free(committed, nc);
  }
  /* Kafka's tool says so on stderr; a data directory cannot know. */
  if (g.members_known && g.nmembers == 0)
    fprintf(stderr, "Consumer group '%s' has no active members.\n", g.name);
  else if (!g.members_known && (members || !state))
    fprintf(stderr,
            "nodata groups: members of '%s' are known only to a running "
            "broker (use --bootstrap HOST:PORT)\n",
            g.name);
  gr_group_clear(&g);
  *header_done = 1;
  return CLI_OK;
}

static int do_describe(gr_backend *b, const char *group, int all, int members,
                       int verbose, int state) {
  int header_done = 0;
  if (!all)
    return describe_one(b, group, members, verbose, state, &header_done);
  gr_group *g = NULL;
  size_t n = 0;
  if (list_groups(b, &g, &n))
    return CLI_FAIL;
  int rc = CLI_OK;
  /* One table per group, each with its header, as Kafka's tool prints. */
  for (size_t i = 0; i < n && !rc; i++) {
    header_done = 0;
    rc = describe_one(b, g[i].name, members, verbose, state, &header_done);
  }
  gr_groups_free(g, n);
  return rc;
}

/* ---- lag ------------------------------------------------------------------
 */

static int lag_one(gr_backend *b, const char *group, int gw) {
  gr_offset *c = NULL;
  size_t n = 0;
  if (b->committed(b, group, &c, &n))
    return CLI_FAIL;
  int rc = CLI_OK;
  for (size_t i = 0; i < n && !rc;) {
    size_t j = i;
    int64_t lag = 0;
    int unknown = 0;
    for (; j < n && !strcmp(c[j].topic, c[i].topic); j++) {
      int64_t lo, hi;
      if ((rc = b->watermarks(b, c[j].topic, c[j].partition, &lo, &hi)))
        break;
      if (hi < 0)
        unknown = 1;
      else if (hi > c[j].offset)
        lag += hi - c[j].offset;
    }
    if (!rc) {
      char l[24];
      fmt_i64(l, sizeof l, unknown ? -1 : lag);
      printf("%-*s %-15s %-10zu %s\n", gw, group, c[i].topic, j - i, l);
    }
    i = j;
  }
  gr_offsets_free(c, n);
  return rc;
}

static int do_lag(gr_backend *b, const char *group) {
  gr_group *g = NULL;
  size_t n = 0;
  if (!group && list_groups(b, &g, &n))
    return CLI_FAIL;
  int gw = wider(15, group ? group : "");
  for (size_t i = 0; i < n; i++)
    gw = wider(gw, g[i].name);
  printf("%-*s %-15s %-10s %s\n", gw, "GROUP", "TOPIC", "PARTITIONS", "LAG");
  int rc = CLI_OK;
  if (group) {
    gr_group d;
    int found = 0;
    if (b->describe(b, group, &d, &found))
      return CLI_FAIL;
    gr_group_clear(&d);
    if (!found) {
      cli_error("groups", "group %s not found", group);
      return CLI_FAIL;
    }
    rc = lag_one(b, group, gw);
  }
  for (size_t i = 0; i < n && !rc; i++)
    rc = lag_one(b, g[i].name, gw);
  gr_groups_free(g, n);
  return rc;
}

/* ---- reset-offsets --------------------------------------------------------
 */

enum reset_to {
  TO_NONE,
  TO_EARLIEST,
  TO_LATEST,
  TO_CURRENT,
  TO_OFFSET,
  TO_SHIFT,
  TO_DATETIME
};

typedef struct reset_opts {
  enum reset_to to;
  int64_t value; /* offset, shift, or time in ms */
  const char **topics;
  size_t ntopics;
  int all_topics;
  int execute;
} reset_opts;

/* Kafka's --to-datetime: YYYY-MM-DDTHH:mm:SS.sss, then optionally Z or
 * +HH:MM / -HH:MM (also +HHMM); without a zone, local time (Kafka's
 * Utils.getDateTime uses the JVM's default zone). */
static int parse_datetime(const char *s, int64_t *ms) {
  struct tm tm = {0};
  int y, mo, d, h, mi, sec, n = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) !=
          6 ||
      !n)
    return -1;
  const char *p = s + n;
  int frac = 0;
  if (*p == '.') {
    int digits = 0;
    for (p++; isdigit((unsigned char)*p); p++, digits++)
      if (digits < 3)
        frac = frac * 10 + (*p - '0');
    if (!digits)
      return -1;
    for (; digits < 3; digits++)
      frac *= 10;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t;
  if (!*p) {
    tm.tm_isdst = -1;
    t = mktime(&tm);
  } else {
    int zh = 0, zm = 0, sign = 1;
    if (!strcmp(p, "Z")) {
    } else if ((*p == '+' || *p == '-') &&
               (sscanf(p + 1, "%2d:%2d", &zh, &zm) == 2 ||
                sscanf(p + 1, "%2d%2d", &zh, &zm) == 2)) {
      sign = *p == '-' ? -1 : 1;
    } else {
      return -1;
    }
    t = timegm(&tm) - sign * (zh * 3600 + zm * 60);
  }
  if (t == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
    return -1;
  *ms = (int64_t)t * 1000 + frac;
  return 0;
}

/* Add partition (topic, p) to the plan unless it is there already. */
static int plan_add(gr_offset **plan, size_t *n, size_t *cap, const char *topic,
                    int32_t p) {
  for (size_t i = 0; i < *n; i++)
    if ((*plan)[i].partition == p && !strcmp((*plan)[i].topic, topic))
      return CLI_OK;
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    gr_offset *np = realloc(*plan, nc * sizeof *np);
    if (!np) {
      cli_error("groups", "out of memory");
      return CLI_FAIL;
    }
    *plan = np;
    *cap = nc;
  }
  (*plan)[(*n)++] = (gr_offset){gr_strdup(topic), p, -1};
  return CLI_OK;
}

/* The partitions to reset: --topic T (every partition), T:0,2, or
 * --all-topics (the partitions the group has offsets for). */
static int reset_scope(gr_backend *b, const reset_opts *ro,
                       const gr_offset *committed, size_t nc, gr_offset **out,
                       size_t *nout) {
  gr_offset *plan = NULL;
  size_t n = 0, cap = 0;
  int rc = CLI_OK;
  if (ro->all_topics)
    for (size_t i = 0; i < nc && !rc; i++)
      rc =
          plan_add(&plan, &n, &cap, committed[i].topic, committed[i].partition);
  for (size_t t = 0; t < ro->ntopics && !rc; t++) {
    char topic[256];
    const char *spec = ro->topics[t], *colon = strchr(spec, ':');
    snprintf(topic, sizeof topic, "%.*s",
             (int)(colon ? (size_t)(colon - spec) : strlen(spec)), spec);
    int32_t np;
    if ((rc = b->partitions(b, topic, &np)))
      break;
    if (!colon) {
      for (int32_t p = 0; p < np && !rc; p++)
        rc = plan_add(&plan, &n, &cap, topic, p);
      continue;
    }
    for (const char *q = colon + 1; *q && !rc;) {
      char *end;
      long p = strtol(q, &end, 10);
      if (end == q || (*end && *end != ',') || p < 0) {
        rc = cli_usage_error("groups", "bad --topic '%s': want T or T:P,P",
                             spec);
        break;
      }
      if (p >= np) {
        cli_error("groups", "topic %s has no partition %ld", topic, p);
        rc = CLI_FAIL;
        break;
      }
      rc = plan_add(&plan, &n, &cap, topic, (int32_t)p);
      q = *end ? end + 1 : end;
    }
  }
  if (rc) {
    gr_offsets_free(plan, n);
    return rc;
  }
  if (n)
    qsort(plan, n, sizeof *plan, gr_offset_cmp);
  *out = plan;
  *nout = n;
  return CLI_OK;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* The new offset of every partition of the plan, as Kafka's tool computes
 * it: --to-offset and --shift-by are kept within the log's start..end;
 * --to-datetime past the last record falls back to the end (with Kafka's
 * warning). */
static int reset_compute(gr_backend *b, const char *group, const reset_opts *ro,
                         const gr_offset *committed, size_t nc, gr_offset *plan,
                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    gr_offset *p = &plan[i];
    int64_t lo, hi;
    if (b->watermarks(b, p->topic, p->partition, &lo, &hi))
      return CLI_FAIL;
    if (hi < 0) {
      cli_error("groups", "unknown partition %s-%d", p->topic,
                (int)p->partition);
      return CLI_FAIL;
    }
    const gr_offset *c =
        bsearch(p, committed, nc, sizeof *committed, gr_offset_cmp);
    switch (ro->to) {
    case TO_EARLIEST:
      p->offset = lo;
      break;
    case TO_LATEST:
      p->offset = hi;
      break;
    case TO_CURRENT:
      p->offset = c ? c->offset : hi;
      break;
    case TO_OFFSET:
      p->offset = clamp(ro->value, lo, hi);
      break;
    case TO_SHIFT:
      if (!c) {
        cli_error("groups",
                  "cannot shift the offset of %s-%d: group '%s' has no "
                  "committed offset for it",
                  p->topic, (int)p->partition, group);
        return CLI_FAIL;
      }
      p->offset = clamp(c->offset + ro->value, lo, hi);
      break;
    case TO_DATETIME: {
      int64_t off;
      if (b->offset_for_time(b, p->topic, p->partition, ro->value, &off))
        return CLI_FAIL;
      if (off < 0) {
        fprintf(stderr,
                "Warn: Partition %d from topic %s is empty. Falling back to "
                "latest known offset.\n",
                (int)p->partition, p->topic);
        off = hi;
      }
      p->offset = off;
      break;
    }
    case TO_NONE:
      break;
    }
  }
  return CLI_OK;
}

static int reset_one(gr_backend *b, const char *group, const reset_opts *ro,
                     int *header_done) {
  gr_group g;
  int found = 0;
  if (b->describe(b, group, &g, &found))
    return CLI_FAIL;
  /* Kafka's tool resets only a group nobody consumes in: the members'
   * next commits would overwrite the reset. A new group (not found) is
   * fine: the reset creates it. */
  if (found && strcmp(g.state, "Empty") && strcmp(g.state, "Dead")) {
    cli_error("groups",
              "assignments can only be reset if the group '%s' is inactive, "
              "but the current state is %s (stop its consumers first)",
              group, g.state);
    gr_group_clear(&g);
    return CLI_FAIL;
  }
  gr_group_clear(&g);
  gr_offset *committed = NULL, *plan = NULL;
  size_t nc = 0, n = 0;
  int rc = b->committed(b, group, &committed, &nc);
  if (!rc)
    rc = reset_scope(b, ro, committed, nc, &plan, &n);
  if (!rc)
    rc = reset_compute(b, group, ro, committed, nc, plan, n);
  if (!rc && ro->execute && n)
    rc = b->alter(b, group, plan, n);
  if (!rc) {
    int gw = wider(15, group), tw = 15;
    for (size_t i = 0; i < n; i++)
      tw = wider(tw, plan[i].topic);
    if (!*header_done)
      printf("\n%-*s %-*s %-10s %s\n", gw, "GROUP", tw, "TOPIC", "PARTITION",
             "NEW-OFFSET");
    *header_done = 1;
    for (size_t i = 0; i < n; i++)
      printf("%-*s %-*s %-10d %" PRId64 "\n", gw, group, tw, plan[i].topic,
             (int)plan[i].partition, plan[i].offset);
  }
  gr_offsets_free(committed, nc);
  gr_offsets_free(plan, n);
  return rc;
}

static int do_reset(gr_backend *b, const char *group, int all,
                    const reset_opts *ro) {
  int header_done = 0;
  if (!all)
    return reset_one(b, group, ro, &header_done);
  gr_group *g = NULL;
  size_t n = 0;
  if (list_groups(b, &g, &n))
    return CLI_FAIL;
  int rc = CLI_OK;
  for (size_t i = 0; i < n && !rc; i++)
    rc = reset_one(b, g[i].name, ro, &header_done);
  gr_groups_free(g, n);
  return rc;
}

/* ---- main ------------------------------------------------------------------
 */

static int set_to(reset_opts *ro, enum reset_to to) {
  if (ro->to != TO_NONE && ro->to != to)
    return cli_usage_error("groups", "give one --to-... or --shift-by");
  ro->to = to;
  return 0;
}

int cli_groups_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "groups", argc, argv);
  const char *data = NULL, *bootstrap = NULL, *action = NULL, *group = NULL;
  int all_groups = 0, members = 0, verbose = 0, state = 0, dry_run = 0;
  reset_opts ro = {0};
  const char *topics[64];
  ro.topics = topics;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (!action)
        action = o.arg;
      else if (!group)
        group = o.arg;
      else
        return cli_unknown(&o);
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(groups_usage, stdout);
      return CLI_OK;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_value(&o, "-b", "--bootstrap") ||
               cli_value(&o, NULL, "--bootstrap-server")) {
      bootstrap = o.val;
    } else if (cli_value(&o, "-g", "--group")) {
      if (group && strcmp(group, o.val))
        return cli_usage_error("groups", "one group at a time (or "
                                         "--all-groups)");
      group = o.val;
    } else if (cli_flag(&o, NULL, "--all-groups")) {
      all_groups = 1;
    } else if (cli_flag(&o, NULL, "--members")) {
      members = 1;
    } else if (cli_flag(&o, NULL, "--verbose")) {
      verbose = 1;
    } else if (cli_flag(&o, NULL, "--state")) {
      state = 1;
    } else if (cli_value(&o, "-t", "--topic")) {
      if (ro.ntopics == sizeof topics / sizeof topics[0])
        return cli_usage_error("groups", "more than %zu --topic",
                               sizeof topics / sizeof topics[0]);
      topics[ro.ntopics++] = o.val;
    } else if (cli_flag(&o, NULL, "--all-topics")) {
      ro.all_topics = 1;
    } else if (cli_flag(&o, NULL, "--to-earliest")) {
      if (set_to(&ro, TO_EARLIEST))
        return CLI_USAGE;
    } else if (cli_flag(&o, NULL, "--to-latest")) {
      if (set_to(&ro, TO_LATEST))
        return CLI_USAGE;
    } else if (cli_flag(&o, NULL, "--to-current")) {
      if (set_to(&ro, TO_CURRENT))
        return CLI_USAGE;
    } else if (cli_value(&o, NULL, "--to-offset")) {
      if (set_to(&ro, TO_OFFSET) ||
          cli_parse_i64("groups", "--to-offset", o.val, 0, INT64_MAX,
                        &ro.value))
        return CLI_USAGE;
    } else if (cli_value(&o, NULL, "--shift-by")) {
      if (set_to(&ro, TO_SHIFT) ||
          cli_parse_i64("groups", "--shift-by", o.val, INT64_MIN / 2,
                        INT64_MAX / 2, &ro.value))
        return CLI_USAGE;
    } else if (cli_value(&o, NULL, "--to-datetime")) {
      if (set_to(&ro, TO_DATETIME))
        return CLI_USAGE;
      if (parse_datetime(o.val, &ro.value))
        return cli_usage_error("groups",
                               "bad --to-datetime '%s': want "
                               "YYYY-MM-DDTHH:mm:SS.sss, optionally with a "
                               "zone (Z, +01:00)",
                               o.val);
    } else if (cli_flag(&o, NULL, "--dry-run")) {
      dry_run = 1;
    } else if (cli_flag(&o, NULL, "--execute")) {
      ro.execute = 1;
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!action)
    return cli_usage_error("groups", "missing action: list, describe, lag, "
                                     "reset-offsets or delete");
  int is_list = !strcmp(action, "list"), is_desc = !strcmp(action, "describe"),
      is_lag = !strcmp(action, "lag"),
      is_reset = !strcmp(action, "reset-offsets"),
      is_del = !strcmp(action, "delete");
  if (!is_list && !is_desc && !is_lag && !is_reset && !is_del)
    return cli_usage_error("groups", "unknown action '%s'", action);
  if (data && bootstrap)
    return cli_usage_error("groups", "give --data or --bootstrap, not both");
  if (is_list && group)
    return cli_usage_error("groups", "unexpected argument '%s'", group);
  if ((is_desc || is_reset) && !group && !all_groups)
    return cli_usage_error("groups", "%s needs a GROUP (or --all-groups)",
                           action);
  if (is_del && !group)
    return cli_usage_error("groups", "delete needs a GROUP");
  if (group && all_groups)
    return cli_usage_error("groups", "give a GROUP or --all-groups, not both");
  if (all_groups && !is_desc && !is_reset)
    return cli_usage_error("groups", "--all-groups is for describe and "
                                     "reset-offsets");
  if (state && !is_list && !is_desc)
    return cli_usage_error("groups", "--state is for list and describe");
  if ((members || verbose) && !is_desc)
    return cli_usage_error("groups", "--members is for describe");
  if (members && state)
    return cli_usage_error("groups", "give --members or --state, not both");
  if (verbose && !members)
    return cli_usage_error("groups", "--verbose goes with --members");
  int reset_flags =
      ro.to != TO_NONE || ro.ntopics || ro.all_topics || ro.execute || dry_run;
  if (reset_flags && !is_reset)
    return cli_usage_error("groups", "--topic, --to-... and --execute are "
                                     "for reset-offsets");
  if (is_reset) {
    if (ro.to == TO_NONE)
      return cli_usage_error(
          "groups", "reset-offsets needs one of --to-earliest, --to-latest, "
                    "--to-current, --to-offset, --shift-by, --to-datetime");
    if (!ro.ntopics && !ro.all_topics)
      return cli_usage_error("groups",
                             "reset-offsets needs --topic T or --all-topics");
    if (ro.ntopics && ro.all_topics)
      return cli_usage_error("groups", "give --topic or --all-topics, not "
                                       "both");
    if (ro.execute && dry_run)
      return cli_usage_error("groups", "give --dry-run or --execute, not "
                                       "both");
  }
  for (size_t i = 0; i < ro.ntopics; i++) {
    char t[256];
    const char *c = strchr(topics[i], ':');
    snprintf(t, sizeof t, "%.*s",
             (int)(c ? (size_t)(c - topics[i]) : strlen(topics[i])), topics[i]);
    if (nd_topic_name_valid(t) != 0)
      return cli_usage_error("groups", "bad topic name '%s': %s", t,
                             nd_errmsg());
  }

  int write = (is_reset && ro.execute) || is_del;
  gr_backend *b;
  if (bootstrap ? gr_open_kafka(bootstrap, &b)
                : gr_open_data(cli_data_dir(data), write, &b))
    return CLI_FAIL;
  int rc;
  if (is_list)
    rc = do_list(b, state);
  else if (is_desc)
    rc = do_describe(b, group, all_groups, members, verbose, state);
  else if (is_lag)
    rc = do_lag(b, group);
  else if (is_reset)
    rc = do_reset(b, group, all_groups, &ro);
  else if ((rc = b->remove(b, group)) == CLI_OK)
    printf("Deletion of requested consumer groups ('%s') was successful.\n",
           group);
  if (is_reset && !rc && !ro.execute && !dry_run)
    fprintf(stderr, "nodata groups: dry run, nothing changed (add --execute "
                    "to apply, --dry-run to say so)\n");
  if (b->close(b) && !rc)
    rc = CLI_FAIL;
  if (rc == CLI_OK && cli_stdout_gone())
    return CLI_OK;
  return rc;
}
