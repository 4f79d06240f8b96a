/* SPDX-License-Identifier: Apache-2.0 */
/* The consumer's embedded protocol as classic members inside a consumer
 * group speak it (cgroup_classic.c): ConsumerProtocolSubscription v0-3
 * parsed from bytes written here by hand from Kafka's schema, every
 * truncation and a forged count refused as corrupt; ConsumerProtocolAssignment
 * encoded from a set by topic id and decoded back, byte for byte as the
 * schema lays it out, deleted topics left out. */
#include "test.h"

#include "cgroup.h"

static nd_store *open_store(const char *dir) {
  nd_options o = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

/* A little writer for the hand-made bytes. */
typedef struct wbuf {
  uint8_t b[512];
  size_t n;
} wbuf;

static void w16(wbuf *w, int v) {
  w->b[w->n++] = (uint8_t)((unsigned)v >> 8);
  w->b[w->n++] = (uint8_t)v;
}

static void w32(wbuf *w, int32_t v) {
  uint32_t u = (uint32_t)v;
  for (int i = 3; i >= 0; i--)
    w->b[w->n++] = (uint8_t)(u >> (8 * i));
}

static void wstr(wbuf *w, const char *s) {
  if (!s) {
    w16(w, -1);
    return;
  }
  w16(w, (int)strlen(s));
  memcpy(w->b + w->n, s, strlen(s));
  w->n += strlen(s);
}

/* Subscription v3: topics [a, bb], user data "ud", owned {a: [0, 2]},
 * generation 7, rack "r1". */
static void subscription_v3(wbuf *w, int version) {
  w->n = 0;
  w16(w, version);
  w32(w, 2);
  wstr(w, "a");
  wstr(w, "bb");
  w32(w, 2);
  memcpy(w->b + w->n, "ud", 2);
  w->n += 2;
  if (version >= 1) {
    w32(w, 1);
    wstr(w, "a");
    w32(w, 2);
    w32(w, 0);
    w32(w, 2);
  }
  if (version >= 2)
    w32(w, 7);
  if (version >= 3)
    wstr(w, "r1");
}

static void subscription_versions(void) {
  for (int v = 0; v <= 3; v++) {
    wbuf w;
    subscription_v3(&w, v);
    cg_subscription s;
    CHECK_OK(cg_subscription_parse(w.b, w.n, &s));
    CHECK_EQ_I64(s.version, v);
    CHECK_EQ_I64(s.ntopics, 2);
    CHECK(strcmp(s.topics[0], "a") == 0 && strcmp(s.topics[1], "bb") == 0);
    CHECK_EQ_I64(s.nowned, v >= 1 ? 1 : 0);
    if (v >= 1) {
      CHECK(strcmp(s.owned[0].topic, "a") == 0);
      CHECK_EQ_I64(s.owned[0].npartitions, 2);
      CHECK_EQ_I64(s.owned[0].partitions[1], 2);
    }
    CHECK_EQ_I64(s.generation, v >= 2 ? 7 : -1);
    CHECK(v >= 3 ? s.rack && strcmp(s.rack, "r1") == 0 : !s.rack);
    cg_subscription_free(&s);
  }
}

/* A newer version is read by its v3 prefix; bytes after it are ignored. */
static void subscription_newer_version(void) {
  wbuf w;
  subscription_v3(&w, 3);
  w.b[1] = 9;
  w32(&w, 12345);
  cg_subscription s;
  CHECK_OK(cg_subscription_parse(w.b, w.n, &s));
  CHECK_EQ_I64(s.version, 9);
  CHECK(s.rack && strcmp(s.rack, "r1") == 0);
  cg_subscription_free(&s);
}

static void subscription_refused(void) {
  wbuf w;
  subscription_v3(&w, 3);
  /* Every cut inside the v3 layout is corrupt, not a shorter answer. */
  for (size_t cut = 0; cut < w.n; cut++) {
    cg_subscription s;
    CHECK_RC(cg_subscription_parse(w.b, cut, &s), ND_ECORRUPT);
    CHECK(s.ntopics == 0 && s.topics == NULL && s.owned == NULL);
  }
  /* A topic count far beyond the bytes there. */
  wbuf f = {.n = 0};
  w16(&f, 0);
  w32(&f, 0x7fffffff);
  wstr(&f, "a");
  cg_subscription s;
  CHECK_RC(cg_subscription_parse(f.b, f.n, &s), ND_ECORRUPT);
  /* A null topic name. */
  f.n = 0;
  w16(&f, 0);
  w32(&f, 1);
  wstr(&f, NULL);
  w32(&f, -1);
  CHECK_RC(cg_subscription_parse(f.b, f.n, &s), ND_ECORRUPT);
  /* A negative version. */
  f.n = 0;
  w16(&f, -1);
  w32(&f, 0);
  w32(&f, -1);
  CHECK_RC(cg_subscription_parse(f.b, f.n, &s), ND_ECORRUPT);
}

static void assignment_round_trip(void) {
  char *dir = tmpdir_make("cgclassic");
  nd_store *st = open_store(dir);
  CHECK(st);
  CHECK_OK(nd_topic_create(st, "alpha", 4, NULL));
  CHECK_OK(nd_topic_create(st, "beta", 2, NULL));
  CHECK_OK(nd_topic_create(st, "gone", 1, NULL));
  nd_topic_info a, b, g;
  CHECK_OK(nd_topic_describe(st, "alpha", &a));
  CHECK_OK(nd_topic_describe(st, "beta", &b));
  CHECK_OK(nd_topic_describe(st, "gone", &g));
  kf_uuid ia, ib, ig;
  memcpy(ia.b, a.id, 16);
  memcpy(ib.b, b.id, 16);
  memcpy(ig.b, g.id, 16);
  cg_parts set = {0};
  CHECK_OK(cg_parts_add(&set, &ia, 3));
  CHECK_OK(cg_parts_add(&set, &ib, 1));
  CHECK_OK(cg_parts_add(&set, &ia, 0));
  CHECK_OK(cg_parts_add(&set, &ig, 0));
  CHECK_OK(nd_topic_delete(st, "gone"));

  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK_OK(cg_assignment_encode(st, &set, 2, &buf, &len));
  /* The schema's layout, topics in the set's order (by topic id). */
  wbuf want = {.n = 0};
  w16(&want, 2);
  w32(&want, 2);
  int alpha_first = memcmp(ia.b, ib.b, 16) < 0;
  for (int k = 0; k < 2; k++) {
    if ((k == 0) == alpha_first) {
      wstr(&want, "alpha");
      w32(&want, 2);
      w32(&want, 0);
      w32(&want, 3);
    } else {
      wstr(&want, "beta");
      w32(&want, 1);
      w32(&want, 1);
    }
  }
  w32(&want, -1);
  CHECK_EQ_I64(len, want.n);
  CHECK_MEM(buf, want.b, len);

  cg_parts back = {0};
  CHECK_OK(cg_assignment_decode(st, buf, len, &back));
  cg_parts live = {0};
  CHECK_OK(cg_parts_add(&live, &ia, 0));
  CHECK_OK(cg_parts_add(&live, &ia, 3));
  CHECK_OK(cg_parts_add(&live, &ib, 1));
  CHECK(cg_parts_equal(&back, &live));
  for (size_t cut = 0; cut < len; cut++) {
    cg_parts none = {0};
    CHECK_RC(cg_assignment_decode(st, buf, cut, &none), ND_ECORRUPT);
    CHECK_EQ_I64(none.count, 0);
  }
  /* An empty assignment is the version, no topics, null user data. */
  free(buf);
  CHECK_OK(cg_assignment_encode(st, NULL, 0, &buf, &len));
  CHECK_EQ_I64(len, 10);
  cg_parts_free(&back);
  CHECK_OK(cg_assignment_decode(st, buf, len, &back));
  CHECK_EQ_I64(back.count, 0);
  free(buf);
  cg_parts_free(&set);
  cg_parts_free(&live);
  nd_close(st);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(subscription_versions);
  RUN(subscription_newer_version);
  RUN(subscription_refused);
  RUN(assignment_round_trip);
  TEST_MAIN_END();
}
