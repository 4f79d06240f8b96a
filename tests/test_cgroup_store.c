/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cgroup_store.c — a consumer group's state bytes (broker/cgroup_store.c):
 * a group with static and dynamic members, subscriptions by name and by
 * pattern, target and current assignments, partitions pending revocation
 * reads back field for field; every truncation and trailing garbage is
 * ND_ECORRUPT; flipped bytes never crash or leak (run under ASan), and
 * what does decode reads back the same once written again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "test.h"

static kf_uuid topic(int n) {
  kf_uuid u;
  memset(u.b, n, sizeof u.b);
  return u;
}

static cg_member *member(cgroup *g, const char *id, const char *inst,
                         int32_t epoch) {
  cg_member *m = calloc(1, sizeof *m);
  m->g = g;
  m->id = strdup(id);
  m->instance_id = inst ? strdup(inst) : NULL;
  m->client_id = strdup("client");
  m->client_host = strdup("/127.0.0.1");
  m->type = CGM_TYPE_CONSUMER;
  m->rebalance_timeout_ms = 30000;
  m->session_timeout_ms = 45000;
  m->epoch = epoch;
  m->previous_epoch = epoch - 1;
  cg_member **pp = &g->members;
  while (*pp)
    pp = &(*pp)->next;
  *pp = m;
  g->nmembers++;
  return m;
}

static cgroup *sample(void) {
  cgroup *g = calloc(1, sizeof *g);
  g->id = strdup("grp");
  g->epoch = 7;
  g->assignment_epoch = 6;
  g->assignor = strdup("range");
  g->ntopics_seen = 2;
  g->topics_seen = calloc(2, sizeof *g->topics_seen);
  g->topics_seen[0] = (cg_assign_topic){topic(1), strdup("a"), 4};
  g->topics_seen[1] = (cg_assign_topic){topic(2), strdup("b"), 2};
  cg_member *m1 = member(g, "m1", NULL, 6);
  m1->ntopic_names = 2;
  m1->topic_names = calloc(2, sizeof(char *));
  m1->topic_names[0] = strdup("a");
  m1->topic_names[1] = strdup("b");
  m1->rack_id = strdup("rack-1");
  m1->server_assignor = strdup("range");
  m1->state = CGM_UNREVOKED_PARTITIONS;
  kf_uuid t1 = topic(1), t2 = topic(2);
  cg_parts_add(&m1->assigned, &t1, 0);
  cg_parts_add(&m1->assigned, &t1, 1);
  cg_parts_add(&m1->pending_revocation, &t2, 1);
  /* Given at different epochs; listed out of order (decoding sorts). */
  m1->npart_epochs = 3;
  m1->part_epochs = calloc(3, sizeof *m1->part_epochs);
  m1->part_epochs[0] = (cg_part_epoch){{t2, 1}, 2};
  m1->part_epochs[1] = (cg_part_epoch){{t1, 0}, 3};
  m1->part_epochs[2] = (cg_part_epoch){{t1, 1}, 6};
  cg_member *m2 = member(g, "m2", "inst-2", 5);
  m2->regex = strdup("a|b");
  m2->state = CGM_UNRELEASED_PARTITIONS;
  cg_parts_add(&m2->assigned, &t2, 0);
  g->ntarget = 2;
  g->target_ids = calloc(2, sizeof(char *));
  g->target = calloc(2, sizeof(cg_parts));
  g->target_ids[0] = strdup("m1");
  g->target_ids[1] = strdup("m2");
  cg_parts_add(&g->target[0], &t1, 0);
  cg_parts_add(&g->target[0], &t1, 1);
  cg_parts_add(&g->target[1], &t2, 0);
  cg_parts_add(&g->target[1], &t2, 1);
  return g;
}

static void test_round_trip(void) {
  cgroup *g = sample();
  uint8_t *p = NULL;
  size_t len = 0;
  CHECK_OK(cgroup_encode(g, &p, &len));
  cgroup *d = NULL;
  CHECK_OK(cgroup_decode(NULL, "grp", p, len, &d));
  CHECK(d && !strcmp(d->id, "grp"));
  CHECK(d->epoch == 7 && d->assignment_epoch == 6);
  CHECK(!strcmp(d->assignor, "range"));
  CHECK(d->ntopics_seen == 2 && !strcmp(d->topics_seen[1].name, "b") &&
        d->topics_seen[1].partitions == 2 &&
        !memcmp(d->topics_seen[1].id.b, g->topics_seen[1].id.b, 16));
  CHECK(d->ntarget == 2 && !strcmp(d->target_ids[1], "m2") &&
        cg_parts_equal(&d->target[1], &g->target[1]));
  CHECK(d->nmembers == 2);
  cg_member *a = d->members, *b = a ? a->next : NULL;
  CHECK(a && b && !b->next);
  if (a && b) {
    CHECK(!strcmp(a->id, "m1") && !a->instance_id &&
          !strcmp(a->rack_id, "rack-1"));
    CHECK(a->ntopic_names == 2 && !strcmp(a->topic_names[1], "b"));
    CHECK(a->epoch == 6 && a->previous_epoch == 5 &&
          a->state == CGM_UNREVOKED_PARTITIONS);
    CHECK(cg_parts_equal(&a->assigned, &g->members->assigned));
    CHECK(cg_parts_equal(&a->pending_revocation,
                         &g->members->pending_revocation));
    /* Each partition's assignment epoch, pending revocation included. */
    kf_uuid t1 = topic(1), t2 = topic(2);
    CHECK(a->npart_epochs == 3);
    CHECK(cgroup_assignment_epoch(a, &(cg_tp){t1, 0}) == 3);
    CHECK(cgroup_assignment_epoch(a, &(cg_tp){t1, 1}) == 6);
    CHECK(cgroup_assignment_epoch(a, &(cg_tp){t2, 1}) == 2);
    CHECK(cgroup_assignment_epoch(a, &(cg_tp){t2, 0}) == -1); /* not held */
    /* m2 has none listed: its current epoch stands in. */
    CHECK(cgroup_assignment_epoch(b, &(cg_tp){t2, 0}) == 5);
    CHECK(!strcmp(b->instance_id, "inst-2") && !strcmp(b->regex, "a|b"));
    CHECK(b->state == CGM_UNRELEASED_PARTITIONS && b->assigned.count == 1);
    CHECK(a->g == d && b->g == d);
  }
  /* The same bytes again, but for the epochs now sorted. */
  uint8_t *q = NULL;
  size_t qlen = 0;
  CHECK_OK(cgroup_encode(d, &q, &qlen));
  CHECK(qlen == len);
  cgroup *e = NULL;
  CHECK_OK(cgroup_decode(NULL, "grp", q, qlen, &e));
  uint8_t *q2 = NULL;
  size_t q2len = 0;
  if (e)
    CHECK_OK(cgroup_encode(e, &q2, &q2len));
  CHECK(q2len == qlen && q2 && !memcmp(q, q2, qlen));
  free(q2);
  cgroup_free(e);
  free(q);
  cgroup_free(d);
  cgroup_free(g);
  free(p);
}

static void test_damage(void) {
  cgroup *g = sample();
  uint8_t *p = NULL;
  size_t len = 0;
  CHECK_OK(cgroup_encode(g, &p, &len));
  cgroup_free(g);
  /* Every truncation is refused. */
  for (size_t n = 0; n < len; n++) {
    cgroup *d = NULL;
    int rc = cgroup_decode(NULL, "grp", p, n, &d);
    if (rc != ND_ECORRUPT) {
      CHECK(rc == ND_ECORRUPT);
      break;
    }
    cgroup_free(d);
  }
  /* Trailing bytes too. */
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, p, len);
  longer[len] = 0;
  cgroup *d = NULL;
  CHECK_RC(cgroup_decode(NULL, "grp", longer, len + 1, &d), ND_ECORRUPT);
  cgroup_free(d);
  free(longer);
  /* Any flipped byte: refused, or a group that encodes back to the
   * damaged bytes (it was read as written). */
  uint8_t *bad = malloc(len);
  for (size_t i = 0; i < len; i++)
    for (int bit = 0; bit < 8; bit += 3) {
      memcpy(bad, p, len);
      bad[i] ^= (uint8_t)(1u << bit);
      d = NULL;
      int rc = cgroup_decode(NULL, "grp", bad, len, &d);
      CHECK(rc == 0 || rc == ND_ECORRUPT);
      if (rc == 0) {
        uint8_t *q = NULL;
        size_t qlen = 0;
        CHECK_OK(cgroup_encode(d, &q, &qlen));
        /* Sets are normalized on reading (a flip may make two partitions
         * equal or out of order), so what was read need not be the damaged
         * bytes; reading it again must give it back exactly. */
        cgroup *e = NULL;
        CHECK_OK(cgroup_decode(NULL, "grp", q, qlen, &e));
        uint8_t *r = NULL;
        size_t rlen = 0;
        if (e)
          CHECK_OK(cgroup_encode(e, &r, &rlen));
        CHECK(rlen == qlen && r && !memcmp(r, q, qlen));
        free(r);
        cgroup_free(e);
        free(q);
      }
      cgroup_free(d);
    }
  free(bad);
  free(p);
}

/* A state written before the assignment epochs were kept (version 1: the
 * same bytes without them) still loads; its members' epochs stand in, and
 * it is written back as the current version. A version from the future is
 * refused. */
static void test_version_1(void) {
  cgroup *g = calloc(1, sizeof *g);
  g->id = strdup("grp");
  g->epoch = 4;
  g->assignment_epoch = 4;
  cg_member *m = member(g, "m1", NULL, 4);
  kf_uuid t1 = topic(1);
  cg_parts_add(&m->assigned, &t1, 2);
  uint8_t *p = NULL;
  size_t len = 0;
  CHECK_OK(cgroup_encode(g, &p, &len));
  cgroup_free(g);
  /* The last member's epoch list is its last 4 bytes (count 0). */
  CHECK(len > 9 && p[4] == 2 && !memcmp(p + len - 4, "\0\0\0\0", 4));
  p[4] = 1;
  cgroup *d = NULL;
  CHECK_OK(cgroup_decode(NULL, "grp", p, len - 4, &d));
  CHECK(d && d->members && d->members->npart_epochs == 0);
  if (d && d->members) {
    CHECK(cgroup_assignment_epoch(d->members, &(cg_tp){t1, 2}) == 4);
    uint8_t *q = NULL;
    size_t qlen = 0;
    CHECK_OK(cgroup_encode(d, &q, &qlen));
    CHECK(qlen == len && q[4] == 2);
    free(q);
  }
  cgroup_free(d);
  /* v1 bytes with the v2 tail are trailing garbage; v3 is unknown. */
  d = NULL;
  CHECK_RC(cgroup_decode(NULL, "grp", p, len, &d), ND_ECORRUPT);
  cgroup_free(d);
  p[4] = 3;
  d = NULL;
  CHECK_RC(cgroup_decode(NULL, "grp", p, len, &d), ND_ECORRUPT);
  cgroup_free(d);
  free(p);
}

int main(void) {
  RUN(test_round_trip);
  RUN(test_version_1);
  RUN(test_damage);
  TEST_MAIN_END();
}
