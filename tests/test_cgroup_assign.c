/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cgroup_assign.c — the server-side assignors (broker/cgroup_assign.c)
 * on seeded random groups: every subscribed partition goes to exactly one
 * subscriber, uniform balances homogeneous groups and keeps what it can,
 * range hands out contiguous ranges in Kafka's member order, and the same
 * input gives the same output. That the results are Kafka's own is
 * tests/compat/test_cgroup_assign_kafka.py's part.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "test.h"

#define MAXM 24
#define MAXT 6

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

typedef struct group {
  cg_assign_topic topics[MAXT];
  char tname[MAXT][16];
  cg_assign_member members[MAXM];
  char mid[MAXM][24], iid[MAXM][16];
  int32_t subs[MAXM][MAXT];
  cg_parts cur[MAXM];
  cg_assign_input in;
} group;

static void group_random(group *g, int nm, int nt, int homog) {
  memset(g, 0, sizeof *g);
  for (int t = 0; t < nt; t++) {
    for (int k = 0; k < 16; k++)
      g->topics[t].id.b[k] = (uint8_t)rnd(256);
    snprintf(g->tname[t], sizeof g->tname[t], "t%d", t);
    g->topics[t].name = g->tname[t];
    g->topics[t].partitions = (int32_t)rnd(31); /* 0 to 30 */
  }
  for (int m = 0; m < nm; m++) {
    cg_assign_member *mb = &g->members[m];
    for (int k = 0; k < 22; k++)
      g->mid[m][k] =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0189-_"[rnd(58)];
    mb->member_id = g->mid[m];
    if (rnd(4) == 0) {
      snprintf(g->iid[m], sizeof g->iid[m], "i%u", rnd(1000));
      mb->instance_id = g->iid[m];
    }
    int n = 0;
    for (int t = 0; t < nt; t++)
      if (homog || rnd(2))
        g->subs[m][n++] = t;
    mb->topics = g->subs[m];
    mb->ntopics = n;
    mb->current = &g->cur[m];
  }
  g->in = (cg_assign_input){g->topics, nt, g->members, nm};
}

static void group_free(group *g) {
  for (int m = 0; m < MAXM; m++)
    cg_parts_free(&g->cur[m]);
}

static int subscribed(const group *g, int m, int t) {
  for (int k = 0; k < g->members[m].ntopics; k++)
    if (g->members[m].topics[k] == t)
      return 1;
  return 0;
}

/* Every partition of a subscribed topic has exactly one owner, who
 * subscribes to it; nothing else is assigned. Returns 0 when so. */
static int complete(const group *g, const cg_parts *out) {
  int32_t assigned = 0;
  for (int t = 0; t < g->in.ntopics; t++) {
    int any = 0;
    for (int m = 0; m < g->in.nmembers; m++)
      any |= subscribed(g, m, t);
    for (int32_t p = 0; p < g->topics[t].partitions; p++) {
      int owners = 0;
      for (int m = 0; m < g->in.nmembers; m++)
        if (cg_parts_contains(&out[m], &g->topics[t].id, p)) {
          if (!subscribed(g, m, t))
            return 1;
          owners++;
        }
      if (owners != any)
        return 2;
      assigned += owners;
    }
  }
  int32_t total = 0;
  for (int m = 0; m < g->in.nmembers; m++)
    total += out[m].count;
  return total == assigned ? 0 : 3;
}

static void spread(const cg_parts *out, int nm, int32_t *min, int32_t *max) {
  *min = INT32_MAX;
  *max = 0;
  for (int m = 0; m < nm; m++) {
    if (out[m].count < *min)
      *min = out[m].count;
    if (out[m].count > *max)
      *max = out[m].count;
  }
}

static void free_out(cg_parts *out, int n) {
  for (int m = 0; m < n; m++)
    cg_parts_free(&out[m]);
}

/* Random groups, both assignors, both kinds of subscription, with and
 * without current assignments (the last result, then members shuffled
 * out and in). */
static void complete_and_balanced(void) {
  static group g;
  cg_parts out[MAXM], again[MAXM];
  for (int round = 0; round < 600; round++) {
    int nm = 1 + (int)rnd(MAXM), nt = 1 + (int)rnd(MAXT);
    int homog = round % 2;
    const char *name = round % 3 ? "uniform" : "range";
    group_random(&g, nm, nt, homog);
    for (int step = 0; step < 3; step++) {
      CHECK_OK(cg_assign(name, &g.in, out));
      CHECK(complete(&g, out) == 0);
      int32_t min, max;
      spread(out, nm, &min, &max);
      if (homog && !strcmp(name, "uniform"))
        CHECK(max - min <= 1);
      /* Deterministic. */
      CHECK_OK(cg_assign(name, &g.in, again));
      for (int m = 0; m < nm; m++)
        CHECK(cg_parts_equal(&out[m], &again[m]));
      free_out(again, nm);
      /* The result becomes the current assignment; a member leaves. */
      for (int m = 0; m < nm; m++) {
        cg_parts_free(&g.cur[m]);
        g.cur[m] = out[m];
      }
      if (nm > 1 && rnd(2)) {
        int gone = (int)rnd((uint32_t)nm);
        cg_parts_free(&g.cur[gone]);
        g.members[gone] = g.members[nm - 1];
        memcpy(g.subs[gone], g.subs[nm - 1], sizeof g.subs[gone]);
        g.members[gone].topics = g.subs[gone];
        g.cur[gone] = g.cur[nm - 1];
        g.members[gone].current = &g.cur[gone];
        g.cur[nm - 1] = (cg_parts){0};
        g.in.nmembers = --nm;
      }
    }
    group_free(&g);
  }
}

/* Uniform, homogeneous: a stable assignment stays as it is, and when a
 * member joins, every old member keeps as much of what it had as its new
 * share allows. */
static void uniform_sticky(void) {
  static group g;
  cg_parts out[MAXM], next[MAXM];
  for (int round = 0; round < 300; round++) {
    int nm = 1 + (int)rnd(MAXM - 1), nt = 1 + (int)rnd(MAXT);
    group_random(&g, nm + 1, nt, 1);
    g.in.nmembers = nm;
    CHECK_OK(cg_assign("uniform", &g.in, out));
    for (int m = 0; m < nm; m++)
      CHECK_OK(cg_parts_copy(&out[m], &g.cur[m]));
    CHECK_OK(cg_assign("uniform", &g.in, next));
    for (int m = 0; m < nm; m++)
      CHECK(cg_parts_equal(&out[m], &next[m]));
    free_out(next, nm);
    g.in.nmembers = nm + 1; /* the new member has no current assignment */
    CHECK_OK(cg_assign("uniform", &g.in, next));
    CHECK(complete(&g, next) == 0);
    for (int m = 0; m < nm; m++) {
      cg_parts kept = {0};
      CHECK_OK(cg_parts_intersect(&out[m], &next[m], &kept));
      int32_t want =
          out[m].count < next[m].count ? out[m].count : next[m].count;
      CHECK(kept.count == want);
      cg_parts_free(&kept);
    }
    free_out(out, nm);
    free_out(next, nm + 1);
    group_free(&g);
  }
}

/* Range: for each topic, its subscribers in Kafka's order (static members
 * by instance id, then the rest by member id) get consecutive ranges, the
 * first ones one partition more. */
static void range_ranges(void) {
  static group g;
  cg_parts out[MAXM];
  for (int round = 0; round < 300; round++) {
    int nm = 1 + (int)rnd(MAXM), nt = 1 + (int)rnd(MAXT);
    group_random(&g, nm, nt, (int)rnd(2));
    /* Distinct instance ids: Kafka fences a duplicate. */
    for (int m = 0; m < nm; m++)
      if (g.members[m].instance_id)
        snprintf(g.iid[m], sizeof g.iid[m], "i%02d", (m * 7) % MAXM);
    CHECK_OK(cg_assign("range", &g.in, out));
    for (int t = 0; t < nt; t++) {
      int order[MAXM], n = 0;
      for (int m = 0; m < nm; m++)
        if (subscribed(&g, m, t))
          order[n++] = m;
      for (int i = 1; i < n; i++) /* insertion sort by Kafka's rule */
        for (int j = i; j > 0; j--) {
          const cg_assign_member *a = &g.members[order[j - 1]],
                                 *b = &g.members[order[j]];
          int c = a->instance_id && b->instance_id
                      ? strcmp(a->instance_id, b->instance_id)
                  : a->instance_id ? -1
                  : b->instance_id ? 1
                                   : strcmp(a->member_id, b->member_id);
          if (c <= 0)
            break;
          int x = order[j];
          order[j] = order[j - 1];
          order[j - 1] = x;
        }
      int32_t np = g.topics[t].partitions, next = 0;
      for (int i = 0; i < n; i++) {
        int32_t want = np / n + (i < np % n);
        for (int32_t p = next; p < next + want; p++)
          CHECK(cg_parts_contains(&out[order[i]], &g.topics[t].id, p));
        next += want;
      }
    }
    CHECK(complete(&g, out) == 0);
    free_out(out, nm);
    group_free(&g);
  }
}

/* No members, members without topics, topics without partitions, an
 * unknown assignor, a current assignment naming a deleted topic. */
static void edges(void) {
  static group g;
  cg_parts out[MAXM];
  cg_assign_input none = {0};
  CHECK_OK(cg_assign("uniform", &none, NULL));
  CHECK_OK(cg_assign("range", &none, NULL));
  CHECK(cg_assignor_known("uniform") && cg_assignor_known("range"));
  CHECK(!cg_assignor_known("sticky") && !cg_assignor_known(NULL));
  group_random(&g, 3, 2, 1);
  CHECK_RC(cg_assign("roundrobin", &g.in, out), ND_EINVAL);
  for (int m = 0; m < 3; m++)
    g.members[m].ntopics = 0;
  CHECK_OK(cg_assign("uniform", &g.in, out));
  for (int m = 0; m < 3; m++)
    CHECK(out[m].count == 0);
  free_out(out, 3);
  g.members[0].ntopics = 1;
  g.topics[g.subs[0][0]].partitions = 0;
  CHECK_OK(cg_assign("uniform", &g.in, out));
  CHECK(out[0].count == 0);
  free_out(out, 3);
  /* Partitions of a topic gone from the input, or past its count. */
  group_random(&g, 2, 1, 1);
  g.topics[0].partitions = 4;
  kf_uuid gone = {{1, 2, 3}};
  CHECK_OK(cg_parts_add(&g.cur[0], &gone, 0));
  CHECK_OK(cg_parts_add(&g.cur[0], &g.topics[0].id, 9));
  CHECK_OK(cg_parts_add(&g.cur[0], &g.topics[0].id, 1));
  CHECK_OK(cg_parts_add(&g.cur[1], &g.topics[0].id, 1)); /* twice */
  for (int k = 0; k < 2; k++) {
    CHECK_OK(cg_assign(k ? "range" : "uniform", &g.in, out));
    CHECK(complete(&g, out) == 0);
    CHECK(!cg_parts_contains(&out[0], &gone, 0));
    free_out(out, 2);
  }
  group_free(&g);
}

/* A large group (1000 members, 60 topics, up to 100 partitions each), both
 * kinds of subscription: complete, each partition once to a subscriber,
 * homogeneous uniform balanced. (Its running time is the point of having
 * it; nothing times it.) */
static void large_group(void) {
  enum { NM = 1000, NT = 60 };
  static cg_assign_topic topics[NT];
  static cg_assign_member members[NM];
  static char ids[NM][16];
  static int32_t subs[NM][NT];
  static cg_parts cur[NM], out[NM];
  static uint8_t sub[NM][NT];
  static int32_t owners[NT][101];
  for (int homog = 0; homog < 2; homog++)
    for (int k = 0; k < 2; k++) {
      const char *name = k ? "range" : "uniform";
      for (int t = 0; t < NT; t++) {
        for (int b = 0; b < 16; b++)
          topics[t].id.b[b] = (uint8_t)rnd(256);
        topics[t].name = "t";
        topics[t].partitions = 1 + (int32_t)rnd(100);
      }
      memset(sub, 0, sizeof sub);
      for (int m = 0; m < NM; m++) {
        snprintf(ids[m], sizeof ids[m], "m%u", rnd(1u << 30));
        int n = 0;
        for (int t = 0; t < NT; t++)
          if (homog || rnd(8) == 0) {
            subs[m][n++] = t;
            sub[m][t] = 1;
          }
        members[m] =
            (cg_assign_member){ids[m], NULL, NULL, subs[m], n, &cur[m]};
      }
      cg_assign_input in = {topics, NT, members, NM};
      for (int round = 0; round < 2; round++) {
        CHECK_OK(cg_assign(name, &in, out));
        memset(owners, 0, sizeof owners);
        int32_t min = INT32_MAX, max = 0;
        for (int m = 0; m < NM; m++) {
          for (int32_t i = 0; i < out[m].count; i++) {
            int t = 0;
            while (memcmp(&topics[t].id, &out[m].items[i].topic,
                          sizeof topics[t].id))
              t++;
            CHECK(sub[m][t]);
            owners[t][out[m].items[i].partition]++;
          }
          if (out[m].count < min)
            min = out[m].count;
          if (out[m].count > max)
            max = out[m].count;
        }
        for (int t = 0; t < NT; t++) {
          int any = 0;
          for (int m = 0; m < NM && !any; m++)
            any = sub[m][t];
          for (int32_t p = 0; p < topics[t].partitions; p++)
            CHECK(owners[t][p] == any);
        }
        if (homog && !k)
          CHECK(max - min <= 1);
        /* Round two starts from this assignment. */
        for (int m = 0; m < NM; m++) {
          cg_parts_free(&cur[m]);
          cur[m] = out[m];
        }
      }
      free_out(cur, NM);
    }
}

/* Subscription patterns: RE2/J's syntax, whole-name matches, its
 * refusals with its descriptions (test_cgroup_assign_kafka.py checks
 * hundreds more against RE2/J itself). */
static void regex_syntax(void) {
  static const struct {
    const char *pattern, *err; /* err NULL: accepted */
    const char *yes, *no;      /* space-separated names */
  } cases[] = {
      {"orders.*", NULL, "orders orders-eu orders.x", "Orders xorders"},
      {"topic-\\d{1,2}", NULL, "topic-1 topic-12", "topic-123 topic-"},
      {"(?i)orders-(eu|us)", NULL, "ORDERS-EU orders-us", "orders-e"},
      {"[[:upper:]][[:^upper:]]*", NULL, "Ab A_1", "AB a"},
      {"\\pL+\\p{Nd}", NULL, "ab1 Z9", "a_1 1"},
      {"\\Qa.b\\E|c", NULL, "a.b c", "axb"},
      {"a{,2}", NULL, "a{,2}", "a aa"}, /* not a repeat: literal text */
      {"^foo$|\\bbar\\b", NULL, "foo bar", "foobar"},
      {"(?:ab)+?", NULL, "ab abab", "aba"},
      {"\\x{41}\\101\\x41", NULL, "AAA", "aaa"},
      {"(?i)[k-k]", NULL, "k K", "j"},
      {"", NULL, NULL, "a"},
      {"(a", "missing closing )", NULL, NULL},
      {"a)", "regexp/syntax: internal error", NULL, NULL},
      {"[a", "missing closing ]", NULL, NULL},
      {"a**", "invalid nested repetition operator", NULL, NULL},
      {"a{*", "invalid nested repetition operator", NULL, NULL},
      {"*a", "missing argument to repetition operator", NULL, NULL},
      {"(a)\\1", "invalid escape sequence", NULL, NULL},
      {"(?=a)", "invalid or unsupported Perl syntax", NULL, NULL},
      {"(?<!a)b", "invalid named capture", NULL, NULL},
      {"(?P<n>a)(?P<n>b)", "duplicate capture group name", NULL, NULL},
      {"a{1001}", "invalid repeat count", NULL, NULL},
      {"[z-a]", "invalid character class range", NULL, NULL},
      {"[[:word2:]]", "invalid character class range", NULL, NULL},
      {"\\p{Klingon}", "invalid character class range", NULL, NULL},
      {"\\C", "invalid escape sequence", NULL, NULL},
      {"a\\", "trailing backslash at end of expression", NULL, NULL},
      {"(x{1000}){1001}", "invalid repeat count", NULL, NULL},
      {"((x{1000}){1000}){2}", "expression too large", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cg_regex *re = NULL;
    char err[128];
    int rc = cg_regex_compile(cases[i].pattern, &re, err, sizeof err);
    if (cases[i].err) {
      CHECK_RC(rc, ND_EINVAL);
      CHECK(re == NULL);
      if (strcmp(err, cases[i].err))
        fprintf(stderr, "%s: %s\n", cases[i].pattern, err);
      CHECK(!strcmp(err, cases[i].err));
      continue;
    }
    CHECK_OK(rc);
    for (int want = 1; want >= 0; want--) {
      const char *list = want ? cases[i].yes : cases[i].no;
      char names[256];
      snprintf(names, sizeof names, "%s", list ? list : "");
      for (char *save = NULL, *n = strtok_r(names, " ", &save); n;
           n = strtok_r(NULL, " ", &save)) {
        if (cg_regex_match(re, n) != want)
          fprintf(stderr, "%s on %s: want %d\n", cases[i].pattern, n, want);
        CHECK(cg_regex_match(re, n) == want);
      }
    }
    cg_regex_free(re);
  }
  cg_regex *re;
  char err[8];
  CHECK_RC(cg_regex_compile(NULL, &re, err, sizeof err), ND_EINVAL);
  cg_regex_free(NULL);
}

/* A pattern that makes a backtracking matcher take exponential time
 * finishes here (the NFA is linear in the name); no timing asserted. */
static void regex_linear(void) {
  cg_regex *re;
  char err[64];
  CHECK_OK(cg_regex_compile("(a*)*(a|aa)*b", &re, err, sizeof err));
  static char name[20001];
  memset(name, 'a', sizeof name - 1);
  CHECK(!cg_regex_match(re, name));
  name[sizeof name - 2] = 'b';
  CHECK(cg_regex_match(re, name));
  cg_regex_free(re);
}

/* ---- the differential driver --------------------------------------- */

/* `test_cgroup_assign --stdin`: the cases of tests/kafka/AssignJava.java's
 * input format run through cg_assign and cg_regex, printed in its output
 * format (tests/compat/test_cgroup_assign_kafka.py compares the two). */

static int hexval(int c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static void uuid_parse(const char *h, kf_uuid *u) {
  for (int k = 0; k < 16; k++)
    u->b[k] = (uint8_t)(hexval(h[2 * k]) << 4 | hexval(h[2 * k + 1]));
}

static int driver(void) {
  static char line[1 << 20];
  static cg_assign_topic topics[64];
  static cg_assign_member members[64];
  static char *owned[64 * 3];
  static int32_t subs[64][64];
  static cg_parts cur[64], out[64];
  static char id[256], assignor[32];
  int nt = 0, nm = 0, nowned = 0, hetero = 0;
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *save = NULL, *kind = strtok_r(line, " ", &save);
    if (!kind)
      continue;
    if (!strcmp(kind, "case")) {
      snprintf(id, sizeof id, "%s", strtok_r(NULL, " ", &save));
      snprintf(assignor, sizeof assignor, "%s", strtok_r(NULL, " ", &save));
      const char *type = strtok_r(NULL, " ", &save);
      hetero = type && !strcmp(type, "hetero");
      nt = nm = 0;
    } else if (!strcmp(kind, "topic")) {
      uuid_parse(strtok_r(NULL, " ", &save), &topics[nt].id);
      topics[nt].name = "";
      topics[nt++].partitions = atoi(strtok_r(NULL, " ", &save));
    } else if (!strcmp(kind, "member")) {
      cg_assign_member *m = &members[nm];
      memset(m, 0, sizeof *m);
      m->member_id = owned[nowned++] = strdup(strtok_r(NULL, " ", &save));
      const char *inst = strtok_r(NULL, " ", &save);
      if (strcmp(inst, "-"))
        m->instance_id = owned[nowned++] = strdup(inst);
      char *ts = strtok_r(NULL, " ", &save), *cs = strtok_r(NULL, " ", &save);
      m->topics = subs[nm];
      if (strcmp(ts, "-"))
        for (char *s2 = NULL, *t = strtok_r(ts, ",", &s2); t;
             t = strtok_r(NULL, ",", &s2))
          subs[nm][m->ntopics++] = atoi(t);
      cur[nm] = (cg_parts){0};
      if (strcmp(cs, "-"))
        for (char *s2 = NULL, *t = strtok_r(cs, ",", &s2); t;
             t = strtok_r(NULL, ",", &s2)) {
          kf_uuid u;
          uuid_parse(t, &u);
          if (cg_parts_add(&cur[nm], &u, atoi(t + 33)))
            return 1;
        }
      m->current = &cur[nm];
      nm++;
    } else if (!strcmp(kind, "end")) {
      cg_assign_input in = {topics, nt, members, nm};
      printf("case %s\n", id);
      if (cg_assign_typed(assignor, &in, hetero, out)) {
        printf("error cg_assign\n");
        continue;
      }
      for (int m = 0; m < nm; m++) {
        /* By topic number, then partition, as the harness prints. */
        printf("m %s ", members[m].member_id);
        int any = 0;
        for (int t = 0; t < nt; t++)
          for (int32_t p = 0; p < topics[t].partitions; p++)
            if (cg_parts_contains(&out[m], &topics[t].id, p))
              printf("%s%d:%d", any++ ? "," : "", t, p);
        printf("%s\n", any ? "" : "-");
        cg_parts_free(&out[m]);
        cg_parts_free(&cur[m]);
      }
      while (nowned > 0)
        free(owned[--nowned]);
    } else if (!strcmp(kind, "regex")) {
      const char *h = strtok_r(NULL, " ", &save) + 1; /* "h" + hex */
      char *names = strtok_r(NULL, " ", &save);
      char pat[4096];
      size_t n = strlen(h) / 2;
      for (size_t k = 0; k < n && k < sizeof pat - 1; k++)
        pat[k] = (char)(hexval(h[2 * k]) << 4 | hexval(h[2 * k + 1]));
      pat[n < sizeof pat - 1 ? n : sizeof pat - 1] = 0;
      cg_regex *re;
      char err[512];
      int rc = cg_regex_compile(pat, &re, err, sizeof err);
      if (rc) {
        printf("regex err %s\n", rc == ND_EINVAL ? err : "ENOMEM");
        continue;
      }
      printf("regex ok ");
      for (char *s2 = NULL, *t = names ? strtok_r(names, ",", &s2) : NULL; t;
           t = strtok_r(NULL, ",", &s2))
        putchar(cg_regex_match(re, t) ? '1' : '0');
      putchar('\n');
      cg_regex_free(re);
    }
  }
  return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--stdin"))
    return driver();
  RUN(complete_and_balanced);
  RUN(uniform_sticky);
  RUN(range_ranges);
  RUN(edges);
  RUN(large_group);
  RUN(regex_syntax);
  RUN(regex_linear);
  TEST_MAIN_END();
}
