/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_store.c — a consumer group as the library's per-group state bytes
 * (nd_group_set_state), so that a restart keeps epochs and assignments.
 *
 * Format (big-endian; str = i32 length, -1 for null, then the bytes;
 * parts = i32 count, then count × (16-byte topic id, i32 partition)):
 *
 *   "NDCG" u8 version (2; 1 is read too)
 *   i32 group epoch, i32 assignment epoch, str assignor
 *   i32 n, n × (16-byte topic id, str name, i32 partitions)   topics seen
 *   i32 n, n × (str member id, parts)                          the target
 *   i32 n, n × member:
 *     str id, str instance id, str rack id, str client id, str client host
 *     i8 type, i32 rebalance timeout, i32 session timeout
 *     i32 k, k × str subscribed name, str regex, str server assignor
 *     i32 epoch, i32 previous epoch, i8 state
 *     parts assigned, parts pending revocation
 *     (v2) i32 n, n × (16-byte topic id, i32 partition, i32 epoch): the
 *     epoch each partition was given at (cg_member.part_epochs; v1 has
 *     none: its members' current epochs are assumed)
 *
 * The whole group is one value: the library keeps it as one frame, whole
 * or not at all. Timers are not kept: members get a whole session again
 * when the group is loaded. A classic member's own state (cg_member
 * .classic) is not kept either; it joins again after a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "kafka.h"
#include "logline.h"

#define CG_MAGIC "NDCG"
#define CG_VERSION 2

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  int failed;
} wbuf;

static void put(wbuf *w, const void *d, size_t n) {
  if (w->failed)
    return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 256;
    while (cap < w->len + n)
      cap *= 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
      w->failed = 1;
      return;
    }
    w->p = p;
    w->cap = cap;
  }
  memcpy(w->p + w->len, d, n);
  w->len += n;
}

static void put_i32(wbuf *w, int32_t v) {
  uint8_t b[4] = {(uint8_t)((uint32_t)v >> 24), (uint8_t)((uint32_t)v >> 16),
                  (uint8_t)((uint32_t)v >> 8), (uint8_t)v};
  put(w, b, 4);
}

static void put_i8(wbuf *w, int v) {
  uint8_t b = (uint8_t)v;
  put(w, &b, 1);
}

static void put_str(wbuf *w, const char *s) {
  if (!s) {
    put_i32(w, -1);
    return;
  }
  size_t n = strlen(s);
  put_i32(w, (int32_t)n);
  put(w, s, n);
}

static void put_parts(wbuf *w, const cg_parts *p) {
  put_i32(w, p->count);
  for (int32_t i = 0; i < p->count; i++) {
    put(w, p->items[i].topic.b, 16);
    put_i32(w, p->items[i].partition);
  }
}

int cgroup_encode(const cgroup *g, uint8_t **out, size_t *len) {
  wbuf w = {0};
  put(&w, CG_MAGIC, 4);
  put_i8(&w, CG_VERSION);
  put_i32(&w, g->epoch);
  put_i32(&w, g->assignment_epoch);
  put_str(&w, g->assignor);
  put_i32(&w, g->ntopics_seen);
  for (int32_t i = 0; i < g->ntopics_seen; i++) {
    put(&w, g->topics_seen[i].id.b, 16);
    put_str(&w, g->topics_seen[i].name);
    put_i32(&w, g->topics_seen[i].partitions);
  }
  put_i32(&w, g->ntarget);
  for (int32_t i = 0; i < g->ntarget; i++) {
    put_str(&w, g->target_ids[i]);
    put_parts(&w, &g->target[i]);
  }
  put_i32(&w, g->nmembers);
  for (const cg_member *m = g->members; m; m = m->next) {
    put_str(&w, m->id);
    put_str(&w, m->instance_id);
    put_str(&w, m->rack_id);
    put_str(&w, m->client_id);
    put_str(&w, m->client_host);
    put_i8(&w, m->type);
    put_i32(&w, m->rebalance_timeout_ms);
    put_i32(&w, m->session_timeout_ms);
    put_i32(&w, m->ntopic_names);
    for (int32_t i = 0; i < m->ntopic_names; i++)
      put_str(&w, m->topic_names[i]);
    put_str(&w, m->regex);
    put_str(&w, m->server_assignor);
    put_i32(&w, m->epoch);
    put_i32(&w, m->previous_epoch);
    put_i8(&w, m->state);
    put_parts(&w, &m->assigned);
    put_parts(&w, &m->pending_revocation);
    put_i32(&w, m->npart_epochs);
    for (int32_t i = 0; i < m->npart_epochs; i++) {
      put(&w, m->part_epochs[i].tp.topic.b, 16);
      put_i32(&w, m->part_epochs[i].tp.partition);
      put_i32(&w, m->part_epochs[i].epoch);
    }
  }
  if (w.failed) {
    free(w.p);
    return -ENOMEM;
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

/* ---- decoding: every read is bounded; anything short or impossible is
 * ND_ECORRUPT. ---------------------------------------------------------- */

typedef struct rbuf {
  const uint8_t *p, *end;
  int bad; /* 1 corrupt, 2 out of memory */
} rbuf;

static int get(rbuf *r, void *d, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    if (!r->bad)
      r->bad = 1;
    memset(d, 0, n);
    return -1;
  }
  memcpy(d, r->p, n);
  r->p += n;
  return 0;
}

static int32_t get_i32(rbuf *r) {
  uint8_t b[4];
  if (get(r, b, 4))
    return 0;
  return (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                   (uint32_t)b[2] << 8 | b[3]);
}

static int get_i8(rbuf *r) {
  uint8_t b;
  return get(r, &b, 1) ? 0 : (int8_t)b;
}

/* A count that the remaining bytes can hold (each item >= min bytes). */
static int32_t get_count(rbuf *r, size_t min) {
  int32_t n = get_i32(r);
  if (n < 0 || (size_t)n > (size_t)(r->end - r->p) / (min ? min : 1)) {
    r->bad = r->bad ? r->bad : 1;
    return 0;
  }
  return n;
}

static char *get_str(rbuf *r) {
  int32_t n = get_i32(r);
  if (r->bad || n < 0)
    return NULL;
  if ((size_t)n > (size_t)(r->end - r->p)) {
    r->bad = 1;
    return NULL;
  }
  if (memchr(r->p, 0, (size_t)n)) {
    r->bad = 1;
    return NULL;
  }
  char *s = malloc((size_t)n + 1);
  if (!s) {
    r->bad = 2;
    return NULL;
  }
  memcpy(s, r->p, (size_t)n);
  s[n] = 0;
  r->p += n;
  return s;
}

static void get_parts(rbuf *r, cg_parts *p) {
  int32_t n = get_count(r, 20);
  if (r->bad || !n)
    return;
  p->items = calloc((size_t)n, sizeof *p->items);
  if (!p->items) {
    r->bad = 2;
    return;
  }
  for (int32_t i = 0; i < n && !r->bad; i++) {
    get(r, p->items[i].topic.b, 16);
    p->items[i].partition = get_i32(r);
  }
  p->count = n;
  cg_parts_normalize(p);
}

static int part_epoch_cmp(const void *a, const void *b) {
  return cg_tp_cmp(&((const cg_part_epoch *)a)->tp,
                   &((const cg_part_epoch *)b)->tp);
}

static void get_part_epochs(rbuf *r, cg_member *m) {
  int32_t n = get_count(r, 24);
  if (r->bad || !n)
    return;
  if (!(m->part_epochs = calloc((size_t)n, sizeof *m->part_epochs))) {
    r->bad = 2;
    return;
  }
  for (int32_t i = 0; i < n && !r->bad; i++) {
    get(r, m->part_epochs[i].tp.topic.b, 16);
    m->part_epochs[i].tp.partition = get_i32(r);
    m->part_epochs[i].epoch = get_i32(r);
  }
  m->npart_epochs = n;
  /* Looked up by bsearch: sorted whatever the bytes say. */
  qsort(m->part_epochs, (size_t)n, sizeof *m->part_epochs, part_epoch_cmp);
}

int cgroup_decode(broker *b, const char *id, const uint8_t *p, size_t len,
                  cgroup **out) {
  *out = NULL;
  rbuf r = {p, p + len, 0};
  char magic[4];
  if (get(&r, magic, 4) || memcmp(magic, CG_MAGIC, 4))
    return ND_ECORRUPT;
  int version = get_i8(&r);
  if (version < 1 || version > CG_VERSION)
    return ND_ECORRUPT;
  cgroup *g = calloc(1, sizeof *g);
  if (!g || !(g->id = strdup(id))) {
    free(g);
    return -ENOMEM;
  }
  *out = g;
  g->b = b;
  g->epoch = get_i32(&r);
  g->assignment_epoch = get_i32(&r);
  g->assignor = get_str(&r);
  int32_t n = get_count(&r, 24);
  if (n && !r.bad &&
      !(g->topics_seen = calloc((size_t)n, sizeof *g->topics_seen)))
    r.bad = 2;
  for (int32_t i = 0; i < n && !r.bad; i++, g->ntopics_seen++) {
    get(&r, g->topics_seen[i].id.b, 16);
    g->topics_seen[i].name = get_str(&r);
    g->topics_seen[i].partitions = get_i32(&r);
    if (!g->topics_seen[i].name && !r.bad)
      r.bad = 1;
  }
  n = get_count(&r, 8);
  if (n && !r.bad &&
      (!(g->target_ids = calloc((size_t)n, sizeof *g->target_ids)) ||
       !(g->target = calloc((size_t)n, sizeof *g->target))))
    r.bad = 2;
  for (int32_t i = 0; i < n && !r.bad; i++, g->ntarget++) {
    g->target_ids[i] = get_str(&r);
    get_parts(&r, &g->target[i]);
    if (!g->target_ids[i] && !r.bad)
      r.bad = 1;
  }
  n = get_count(&r, 40);
  cg_member **tail = &g->members;
  for (int32_t i = 0; i < n && !r.bad; i++) {
    cg_member *m = calloc(1, sizeof *m);
    if (!m) {
      r.bad = 2;
      break;
    }
    m->g = g;
    *tail = m;
    tail = &m->next;
    g->nmembers++;
    m->id = get_str(&r);
    m->instance_id = get_str(&r);
    m->rack_id = get_str(&r);
    m->client_id = get_str(&r);
    m->client_host = get_str(&r);
    m->type = get_i8(&r);
    m->rebalance_timeout_ms = get_i32(&r);
    m->session_timeout_ms = get_i32(&r);
    int32_t k = get_count(&r, 4);
    if (k && !r.bad && !(m->topic_names = calloc((size_t)k, sizeof(char *))))
      r.bad = 2;
    for (int32_t j = 0; j < k && !r.bad; j++, m->ntopic_names++)
      if (!(m->topic_names[j] = get_str(&r)) && !r.bad)
        r.bad = 1;
    m->regex = get_str(&r);
    m->server_assignor = get_str(&r);
    m->epoch = get_i32(&r);
    m->previous_epoch = get_i32(&r);
    m->state = get_i8(&r);
    get_parts(&r, &m->assigned);
    get_parts(&r, &m->pending_revocation);
    if (version >= 2)
      get_part_epochs(&r, m);
    if (!r.bad &&
        (!m->id || m->state < CGM_STABLE || m->state > CGM_UNKNOWN ||
         (m->type != CGM_TYPE_CLASSIC && m->type != CGM_TYPE_CONSUMER)))
      r.bad = 1;
  }
  if (!r.bad && r.p != r.end)
    r.bad = 1; /* trailing bytes: not what we wrote */
  if (r.bad)
    return r.bad == 2 ? -ENOMEM : ND_ECORRUPT;
  return 0;
}

void cgroup_persist(cgroup *g) {
  broker *b = g->b;
  if (!b->store)
    return;
  uint8_t *p = NULL;
  size_t len = 0;
  int rc = cgroup_encode(g, &p, &len);
  if (rc == 0)
    rc = nd_group_set_state(b->store, g->id, p, len);
  free(p);
  if (rc != 0)
    blog_warn("group",
              "consumer group %s: its state could not be kept (%s); it goes "
              "on from memory",
              g->id, nd_strerror(rc));
}
