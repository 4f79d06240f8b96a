/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coordinator.c — the classic group coordinator: group state, rebalances,
 * sessions, and the JoinGroup, SyncGroup, Heartbeat and LeaveGroup
 * handlers. See group.h for the states.
 *
 * It follows Kafka's GroupCoordinator (2.4-3.x, the classic protocol) so
 * that clients meet the answers they were written against:
 *
 * - JoinGroup v4+ with an empty member id gets MEMBER_ID_REQUIRED and a
 *   fresh id (KIP-394); the id is "pending" until the member joins with it.
 * - A rebalance waits until every member (and no pending id) has rejoined,
 *   or the largest rebalance timeout of the members; members that did not
 *   rejoin by then are dropped (static members are kept). A group that was
 *   Empty first waits the initial delay (group.initial.rebalance.delay.ms,
 *   `--group-initial-delay-ms`), again as long as members keep arriving,
 *   so consumers starting together share one rebalance.
 * - The leader is the first member, kept while it rejoins. Only the leader
 *   gets the member list; the protocol is the one most members list first
 *   among those every member supports (ties: the leader's order).
 * - A member is alive while it heartbeats (or syncs, or commits) within its
 *   session timeout, and always while it waits in JoinGroup or SyncGroup.
 *   A closed connection means nothing by itself (Kafka relies on the
 *   session timeout too); only its parked requests are dropped.
 * - Static members (group.instance.id, JoinGroup v5+) keep their place
 *   across restarts: rejoining with an empty member id replaces the old id
 *   (FENCED_INSTANCE_ID for whoever still uses it) and, in a Stable group
 *   whose protocol does not change, needs no rebalance.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cgroup.h"
#include "group.h"

void group_log(const char *gid, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  blog(BLOG_INFO, "group", &BLOG_STR("group", gid), 1, "group %s: %s", gid,
       msg);
}

#define glog(g, ...) group_log((g)->id, __VA_ARGS__)

static const char *const state_names[] = {
    "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"};

const char *group_state_name(int state) {
  return state >= 0 && state <= GROUP_DEAD ? state_names[state] : "Unknown";
}

char *group_dup_str(kf_str s) {
  if (s.len < 0 || !s.ptr)
    return NULL;
  char *p = malloc((size_t)s.len + 1);
  if (p) {
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = 0;
  }
  return p;
}

/* A C string from a decoded request string; NULL for null or for a string
 * with a NUL inside (which no id may hold). */
static const char *cstr(kf_str s) {
  return kafka_cstr_ok(s) ? s.ptr : NULL;
}

/* ---- the group table ---------------------------------------------------- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

group *group_find(group_coord *gc, const char *id) {
  if (!gc || !id || !gc->nbuckets)
    return NULL;
  for (group *g = gc->buckets[hash_str(id) % gc->nbuckets]; g; g = g->hnext)
    if (strcmp(g->id, id) == 0)
      return g;
  return NULL;
}

static int grow(group_coord *gc) {
  size_t n = gc->nbuckets ? gc->nbuckets * 2 : 64;
  group **b = calloc(n, sizeof *b);
  if (!b)
    return -1;
  for (size_t i = 0; i < gc->nbuckets; i++)
    for (group *g = gc->buckets[i], *next; g; g = next) {
      next = g->hnext;
      size_t k = hash_str(g->id) % n;
      g->hnext = b[k];
      b[k] = g;
    }
  free(gc->buckets);
  gc->buckets = b;
  gc->nbuckets = n;
  return 0;
}

static group *group_create(group_coord *gc, const char *id) {
  if (gc->ngroups >= gc->nbuckets && grow(gc) != 0)
    return NULL;
  group *g = calloc(1, sizeof *g);
  if (!g || !(g->id = strdup(id))) {
    free(g);
    return NULL;
  }
  g->gc = gc;
  g->state = GROUP_EMPTY;
  g->empty_since_ms = group_wall_ms(); /* as Kafka's new ClassicGroup */
  size_t k = hash_str(id) % gc->nbuckets;
  g->hnext = gc->buckets[k];
  gc->buckets[k] = g;
  gc->ngroups++;
  return g;
}

gmember *group_find_member(const group *g, const char *member_id) {
  if (!g || !member_id)
    return NULL;
  for (gmember *m = g->members; m; m = m->next)
    if (strcmp(m->id, member_id) == 0)
      return m;
  return NULL;
}

gmember *group_find_instance(const group *g, const char *instance_id) {
  if (!g || !instance_id)
    return NULL;
  for (gmember *m = g->members; m; m = m->next)
    if (m->instance_id && strcmp(m->instance_id, instance_id) == 0)
      return m;
  return NULL;
}

int16_t group_check_member(group *g, const char *member_id,
                           const char *instance_id, gmember **out) {
  *out = NULL;
  gmember *s = group_find_instance(g, instance_id);
  if (s && (!member_id || strcmp(s->id, member_id) != 0))
    return KERR_FENCED_INSTANCE_ID;
  gmember *m = group_find_member(g, member_id);
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  *out = m;
  return 0;
}

const group_protocol *group_member_protocol(const gmember *m,
                                            const char *name) {
  for (int32_t i = 0; name && i < m->nprotocols; i++)
    if (strcmp(m->protocols[i].name, name) == 0)
      return &m->protocols[i];
  return NULL;
}

static gpending *find_pending(const group *g, const char *id) {
  for (gpending *p = g->pending; p; p = p->next)
    if (strcmp(p->id, id) == 0)
      return p;
  return NULL;
}

/* ---- answers ------------------------------------------------------------ */

static void join_error(kafka_req *r, int16_t err, const char *member_id) {
  kafka_join_group_response *resp =
      kf_new(&r->arena, &kafka_join_group_response_desc);
  if (!resp) {
    kafka_respond_none(r);
    return;
  }
  resp->error_code = err;
  resp->generation_id = -1;
  resp->protocol_name = r->version >= 7 ? kf_null_str() : kf_s("");
  resp->leader = kf_s("");
  resp->member_id = kafka_str(r, member_id ? member_id : "");
  kafka_respond(r, resp);
}

void group_join_error(kafka_req *r, int16_t err, const char *member_id) {
  join_error(r, err, member_id);
}

/* The current generation for m; the leader gets the members with their
 * metadata for the chosen protocol unless `members` is 0. */
static void join_answer(kafka_req *r, group *g, gmember *m, int members,
                        int skip_assignment) {
  kafka_join_group_response *resp =
      kf_new(&r->arena, &kafka_join_group_response_desc);
  if (!resp) {
    kafka_respond_none(r);
    return;
  }
  resp->generation_id = g->generation;
  resp->protocol_type = kafka_str(r, g->protocol_type);
  resp->protocol_name = kafka_str(r, g->protocol);
  resp->leader = kafka_str(r, g->leader ? g->leader->id : "");
  resp->member_id = kafka_str(r, m->id);
  resp->skip_assignment = (uint8_t)(skip_assignment != 0);
  if (members && g->nmembers > 0) {
    kafka_join_group_response_member *ms = kf_new_array(
        &r->arena, &kafka_join_group_response_member_desc, g->nmembers);
    if (!ms) {
      kafka_respond_none(r);
      return;
    }
    int32_t i = 0;
    for (gmember *o = g->members; o; o = o->next, i++) {
      const group_protocol *p = group_member_protocol(o, g->protocol);
      /* The response is encoded before the group can change: no copies. */
      ms[i].member_id = kf_s(o->id);
      ms[i].group_instance_id =
          o->instance_id ? kf_s(o->instance_id) : kf_null_str();
      ms[i].metadata.ptr = p ? p->meta : NULL;
      ms[i].metadata.len = p ? p->len : 0;
    }
    resp->members.items = ms;
    resp->members.count = i;
  }
  kafka_respond(r, resp);
}

static void sync_answer(kafka_req *r, int16_t err, const gmember *m) {
  kafka_sync_group_response *resp =
      kf_new(&r->arena, &kafka_sync_group_response_desc);
  if (!resp) {
    kafka_respond_none(r);
    return;
  }
  resp->error_code = err;
  resp->assignment.ptr = NULL;
  resp->assignment.len = 0;
  if (m && !err) {
    resp->protocol_type = kafka_str(r, m->g->protocol_type);
    resp->protocol_name = kafka_str(r, m->g->protocol);
    if (m->assignment) {
      resp->assignment.ptr = m->assignment;
      resp->assignment.len = m->assignment_len;
    }
  }
  kafka_respond(r, resp);
}

/* Parked requests whose connection closes: only forget them. Nothing else
 * may be answered from here (kafka_conn_closed is walking the parked list
 * and would meet requests freed under it). */
static int join_closed(kafka_req *r) {
  gmember *m = r->hctx;
  if (m && m->join_req == r)
    m->join_req = NULL;
  return 1;
}

static int sync_closed(kafka_req *r) {
  gmember *m = r->hctx;
  if (m && m->sync_req == r)
    m->sync_req = NULL;
  return 1;
}

static kafka_req *take_join(gmember *m) {
  kafka_req *r = m->join_req;
  m->join_req = NULL;
  if (r)
    r->hctx = NULL;
  return r;
}

static kafka_req *take_sync(gmember *m) {
  kafka_req *r = m->sync_req;
  m->sync_req = NULL;
  if (r)
    r->hctx = NULL;
  return r;
}

static void fail_parked(gmember *m, int16_t err) {
  kafka_req *r;
  if ((r = take_join(m)))
    join_error(r, err, m->id);
  if ((r = take_sync(m)))
    sync_answer(r, err, NULL);
}

/* ---- sessions ----------------------------------------------------------- */

static void member_expire(gmember *m);

static void member_timer(void *arg) {
  gmember *m = arg;
  m->timer = NULL;
  broker *b = m->g->gc->b;
  int64_t now = net_now_ms();
  /* Waiting in JoinGroup or SyncGroup counts as alive: the rebalance has
   * its own timeout. */
  if (m->awaiting_join || m->sync_req) {
    m->timer = net_timer_add(b->loop, m->session_ms, member_timer, m);
    return;
  }
  if (now < m->deadline) {
    m->timer = net_timer_add(b->loop, m->deadline - now, member_timer, m);
    return;
  }
  member_expire(m);
}

void group_touch(gmember *m) {
  m->deadline = net_now_ms() + m->session_ms;
  /* The timer only checks the deadline when it fires, so a heartbeat costs
   * no timer operation; it is armed here only if it is missing. */
  if (!m->timer && m->g->gc->b->loop)
    m->timer = net_timer_add(m->g->gc->b->loop, m->session_ms, member_timer, m);
}

void group_protocols_free(group_protocol **protocols, int32_t *n) {
  for (int32_t i = 0; i < *n; i++) {
    free((*protocols)[i].name);
    free((*protocols)[i].meta);
  }
  free(*protocols);
  *protocols = NULL;
  *n = 0;
}

static void protocols_free(gmember *m) {
  group_protocols_free(&m->protocols, &m->nprotocols);
}

/* Unlink and free m, answering its parked requests with err. The caller
 * moves the group on (member_gone). */
static void member_free(group *g, gmember *m, int16_t err) {
  fail_parked(m, err);
  if (m->timer)
    net_timer_cancel(g->gc->b->loop, m->timer);
  gmember **pp = &g->members;
  while (*pp && *pp != m)
    pp = &(*pp)->next;
  if (*pp) {
    *pp = m->next;
    g->nmembers--;
  }
  if (g->leader == m)
    g->leader = g->members;
  free(m->id);
  free(m->instance_id);
  free(m->client_id);
  free(m->client_host);
  protocols_free(m);
  free(m->assignment);
  free(m);
}

static void pending_free(group *g, gpending *p) {
  gpending **pp = &g->pending;
  while (*pp && *pp != p)
    pp = &(*pp)->next;
  if (*pp)
    *pp = p->next;
  if (p->timer)
    net_timer_cancel(g->gc->b->loop, p->timer);
  free(p->id);
  free(p);
}

/* ---- rebalancing -------------------------------------------------------- */

static void maybe_complete_join(group *g);
static void complete_join(group *g);

static int64_t rebalance_timeout(const group *g) {
  int64_t t = 0;
  for (gmember *m = g->members; m; m = m->next)
    if (m->rebalance_ms > t)
      t = m->rebalance_ms;
  return t;
}

/* group.initial.rebalance.delay.ms, read at each use: it is a dynamic
 * broker config (dynconfig.c). */
static int64_t initial_delay_ms(const group_coord *gc) {
  int32_t d = gc->b->cfg.group_initial_delay_ms;
  return d > 0 ? d : 0;
}

static void join_timer(void *arg) {
  group *g = arg;
  g->join_timer = NULL;
  if (g->initial_delay && g->new_member_added && g->initial_remaining_ms > 0) {
    /* Members are still arriving: wait one more delay, within the
     * rebalance timeout. */
    int64_t d = initial_delay_ms(g->gc);
    if (d > g->initial_remaining_ms)
      d = g->initial_remaining_ms;
    g->initial_remaining_ms -= d;
    g->new_member_added = 0;
    g->join_timer = net_timer_add(g->gc->b->loop, d, join_timer, g);
    if (g->join_timer)
      return;
  }
  g->initial_delay = 0;
  complete_join(g);
}

static void set_join_timer(group *g, int64_t delay) {
  if (g->join_timer)
    net_timer_cancel(g->gc->b->loop, g->join_timer);
  g->join_timer = net_timer_add(g->gc->b->loop, delay, join_timer, g);
}

static void prepare_rebalance(group *g, const char *why) {
  if (g->state == GROUP_COMPLETING_REBALANCE) {
    /* The assignment being waited for is void: everyone rejoins. */
    for (gmember *m = g->members; m; m = m->next) {
      kafka_req *r = take_sync(m);
      if (r)
        sync_answer(r, KERR_REBALANCE_IN_PROGRESS, NULL);
      free(m->assignment);
      m->assignment = NULL;
      m->assignment_len = 0;
    }
  }
  int64_t timeout = rebalance_timeout(g);
  if (g->state == GROUP_EMPTY && initial_delay_ms(g->gc) > 0) {
    g->initial_delay = 1;
    g->new_member_added = 0;
    g->initial_remaining_ms = timeout > initial_delay_ms(g->gc)
                                  ? timeout - initial_delay_ms(g->gc)
                                  : 0;
    set_join_timer(g, initial_delay_ms(g->gc));
  } else {
    g->initial_delay = 0;
    set_join_timer(g, timeout);
  }
  glog(g, "rebalancing from generation %d (%d member%s): %s", g->generation,
       g->nmembers, g->nmembers == 1 ? "" : "s", why);
  g->state = GROUP_PREPARING_REBALANCE;
  maybe_complete_join(g);
}

static void maybe_prepare_rebalance(group *g, const char *why) {
  if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE ||
      g->state == GROUP_EMPTY)
    prepare_rebalance(g, why);
}

/* After members left or expired. */
static void member_gone(group *g, const char *why) {
  switch (g->state) {
  case GROUP_STABLE:
  case GROUP_COMPLETING_REBALANCE:
    prepare_rebalance(g, why);
    break;
  case GROUP_PREPARING_REBALANCE:
    maybe_complete_join(g);
    break;
  default:
    break;
  }
}

static void maybe_complete_join(group *g) {
  if (g->state != GROUP_PREPARING_REBALANCE || g->initial_delay || g->pending)
    return;
  for (gmember *m = g->members; m; m = m->next)
    if (!m->awaiting_join)
      return;
  complete_join(g);
}

/* The protocol for the generation: among those every member supports, the
 * one most members list first; ties go to the leader's order. */
static const char *select_protocol(const group *g) {
  const gmember *lead = g->leader ? g->leader : g->members;
  const char *best = NULL;
  int best_votes = -1;
  for (int32_t i = 0; i < lead->nprotocols; i++) {
    const char *name = lead->protocols[i].name;
    int all = 1;
    for (gmember *m = g->members; m && all; m = m->next)
      all = group_member_protocol(m, name) != NULL;
    if (!all)
      continue;
    int votes = 0;
    for (gmember *m = g->members; m; m = m->next)
      for (int32_t j = 0; j < m->nprotocols; j++) {
        int ok = 1;
        for (gmember *o = g->members; o && ok; o = o->next)
          ok = group_member_protocol(o, m->protocols[j].name) != NULL;
        if (ok) {
          votes += strcmp(m->protocols[j].name, name) == 0;
          break;
        }
      }
    if (votes > best_votes) {
      best = name;
      best_votes = votes;
    }
  }
  if (!best && lead->nprotocols > 0)
    best = lead->protocols[0].name;
  return best ? best : "";
}

static void complete_join(group *g) {
  broker *b = g->gc->b;
  if (g->join_timer) {
    net_timer_cancel(b->loop, g->join_timer);
    g->join_timer = NULL;
  }
  g->initial_delay = 0;
  int64_t timeout = rebalance_timeout(g);
  for (gmember *m = g->members, *next; m; m = next) {
    next = m->next;
    if (!m->awaiting_join && !m->instance_id) {
      glog(g, "member %s removed: did not rejoin within %lld ms", m->id,
           (long long)timeout);
      member_free(g, m, KERR_UNKNOWN_MEMBER_ID);
    }
  }
  if (!g->leader || !g->leader->awaiting_join) {
    for (gmember *m = g->members; m; m = m->next)
      if (m->awaiting_join) {
        g->leader = m;
        break;
      }
  }
  if (g->nmembers > 0 && (!g->leader || !g->leader->awaiting_join)) {
    /* Only static members that have not come back: wait for them (their
     * sessions expire meanwhile if they are gone for good). */
    glog(g, "no member rejoined; waiting another rebalance timeout");
    set_join_timer(g, rebalance_timeout(g));
    return;
  }
  g->generation++;
  free(g->protocol);
  g->protocol = NULL;
  if (g->nmembers == 0) {
    g->state = GROUP_EMPTY;
    g->empty_since_ms = group_wall_ms();
    glog(g, "generation %d is empty", g->generation);
    return;
  }
  g->protocol = strdup(select_protocol(g));
  g->state = GROUP_COMPLETING_REBALANCE;
  glog(g, "generation %d: %d member%s, protocol %s, leader %s", g->generation,
       g->nmembers, g->nmembers == 1 ? "" : "s",
       g->protocol ? g->protocol : "?", g->leader->id);
  for (gmember *m = g->members; m; m = m->next) {
    kafka_req *r = take_join(m);
    m->awaiting_join = 0;
    m->is_new = 0;
    group_touch(m);
    if (r)
      join_answer(r, g, m, m == g->leader, 0);
  }
}

static void member_expire(gmember *m) {
  group *g = m->g;
  char why[400];
  snprintf(why, sizeof why, "member %.300s timed out (no heartbeat for %d ms)",
           m->id, m->session_ms);
  glog(g, "%s", why);
  member_free(g, m, KERR_UNKNOWN_MEMBER_ID);
  member_gone(g, why);
}

static void pending_timer(void *arg) {
  gpending *p = arg;
  group *g = p->g;
  p->timer = NULL;
  glog(g, "member id %s expired before it was used to join", p->id);
  pending_free(g, p);
  maybe_complete_join(g);
}

/* ---- JoinGroup ---------------------------------------------------------- */

/* "<prefix>-<random uuid>", as Kafka names members. */
static char *new_member_id(const char *prefix) {
  uint8_t u[16];
  if (getrandom(u, sizeof u, GRND_NONBLOCK) != (ssize_t)sizeof u) {
    /* Uniqueness is all that matters here, not secrecy. */
    static uint64_t x;
    x += (uint64_t)time(NULL) ^ (uint64_t)net_now_ms() << 20;
    for (size_t i = 0; i < sizeof u; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      u[i] = (uint8_t)x;
    }
  }
  u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
  u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
  size_t pl = prefix ? strlen(prefix) : 0;
  if (pl > 255)
    pl = 255; /* ids stay short whatever the client id */
  char *id = malloc(pl + 1 + 36 + 1);
  if (!id)
    return NULL;
  if (pl)
    memcpy(id, prefix, pl);
  snprintf(id + pl, 1 + 36 + 1,
           "-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
           "%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
           u[11], u[12], u[13], u[14], u[15]);
  return id;
}

/* Does the request's protocol set fit the group? An empty group takes any
 * non-empty set; otherwise the type must match and one protocol must be
 * supported by every current member. */
static int protocols_fit(const group *g, const kafka_join_group_request *req) {
  if (g->nmembers == 0)
    return 1;
  if (!g->protocol_type || !kafka_cstr_ok(req->protocol_type) ||
      strcmp(g->protocol_type, req->protocol_type.ptr) != 0)
    return 0;
  for (int32_t i = 0; i < req->protocols.count; i++) {
    const char *name = cstr(req->protocols.items[i].name);
    int all = name != NULL;
    for (gmember *m = g->members; m && all; m = m->next)
      all = group_member_protocol(m, name) != NULL;
    if (all)
      return 1;
  }
  return 0;
}

/* Same protocols, in the same order, with the same metadata? */
static int protocols_match(const gmember *m,
                           const kafka_join_group_request *req) {
  if (req->protocols.count != m->nprotocols)
    return 0;
  for (int32_t i = 0; i < m->nprotocols; i++) {
    const kafka_join_group_request_protocol *p = &req->protocols.items[i];
    const group_protocol *q = &m->protocols[i];
    int32_t len = p->metadata.len > 0 ? p->metadata.len : 0;
    if (!kafka_cstr_ok(p->name) || strcmp(p->name.ptr, q->name) != 0 ||
        len != q->len || (len && memcmp(p->metadata.ptr, q->meta, (size_t)len)))
      return 0;
  }
  return 1;
}

const char *group_client_host(kafka_req *r, char *buf, size_t cap) {
  const char *peer = r->peer;
  const char *colon = strrchr(peer, ':');
  size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
  if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
    peer++;
    n -= 2;
  }
  /* Kafka shows InetAddress.toString(): "/127.0.0.1". */
  snprintf(buf, cap, "/%.*s", (int)n, peer);
  return buf;
}

/* Take the request's protocols, timeouts and client identity. */
static int member_update(gmember *m, kafka_req *r) {
  kafka_join_group_request *req = r->body;
  int32_t n = req->protocols.count > 0 ? req->protocols.count : 0;
  group_protocol *ps = calloc((size_t)n + 1, sizeof *ps);
  if (!ps)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kafka_join_group_request_protocol *p = &req->protocols.items[i];
    int32_t len = p->metadata.len > 0 ? p->metadata.len : 0;
    ps[i].name = group_dup_str(p->name);
    ps[i].meta = malloc((size_t)len + 1);
    ps[i].len = len;
    if (!ps[i].name || !ps[i].meta) {
      for (int32_t j = 0; j <= i; j++) {
        free(ps[j].name);
        free(ps[j].meta);
      }
      free(ps);
      return -1;
    }
    if (len)
      memcpy(ps[i].meta, p->metadata.ptr, (size_t)len);
  }
  char host[300];
  char *cid = group_dup_str(r->client_id.len >= 0 ? r->client_id : kf_s(""));
  char *chost = strdup(group_client_host(r, host, sizeof host));
  if (!cid || !chost) {
    free(cid);
    free(chost);
    for (int32_t j = 0; j < n; j++) {
      free(ps[j].name);
      free(ps[j].meta);
    }
    free(ps);
    return -1;
  }
  protocols_free(m);
  m->protocols = ps;
  m->nprotocols = n;
  free(m->client_id);
  m->client_id = cid;
  free(m->client_host);
  m->client_host = chost;
  m->session_ms = req->session_timeout_ms;
  /* JoinGroup v0 has no rebalance timeout: Kafka uses the session's. */
  m->rebalance_ms = r->version >= 1 && req->rebalance_timeout_ms > 0
                        ? req->rebalance_timeout_ms
                        : req->session_timeout_ms;
  return 0;
}

static void park_join(gmember *m, kafka_req *r) {
  kafka_req *old = take_join(m);
  if (old) /* a retried JoinGroup replaces the one still waiting */
    join_error(old, KERR_REBALANCE_IN_PROGRESS, m->id);
  m->join_req = r;
  m->awaiting_join = 1;
  r->hctx = m;
  kafka_park(r, join_closed);
}

/* A new member (id owned by the callee) joins and the group rebalances. */
static int add_member(group *g, kafka_req *r, char *id) {
  kafka_join_group_request *req = r->body;
  gmember *m = calloc(1, sizeof *m);
  if (!m) {
    free(id);
    return -1;
  }
  m->g = g;
  m->id = id;
  const char *inst = r->version >= 5 ? cstr(req->group_instance_id) : NULL;
  if ((inst && !(m->instance_id = strdup(inst))) || member_update(m, r) != 0) {
    free(m->instance_id);
    free(m->id);
    free(m);
    return -1;
  }
  if (g->nmembers == 0) {
    char *t = group_dup_str(req->protocol_type);
    if (!t) {
      protocols_free(m);
      free(m->client_id);
      free(m->client_host);
      free(m->instance_id);
      free(m->id);
      free(m);
      return -1;
    }
    free(g->protocol_type);
    g->protocol_type = t;
    /* So that the group, empty after a restart, still says what it is. A
     * failure costs only that, so the join goes on. */
    if (nd_group_set_protocol_type(r->b->store, g->id, t) != 0)
      glog(g, "cannot record protocol type '%s': %s", t, nd_errmsg());
  }
  gmember **pp = &g->members;
  while (*pp)
    pp = &(*pp)->next;
  *pp = m;
  g->nmembers++;
  if (!g->leader)
    g->leader = m;
  if (g->state == GROUP_PREPARING_REBALANCE && g->initial_delay)
    g->new_member_added = 1;
  m->is_new = 1;
  park_join(m, r);
  group_touch(m);
  char why[400];
  snprintf(why, sizeof why, "member %.300s joined", m->id);
  maybe_prepare_rebalance(g, why);
  maybe_complete_join(g);
  return 0;
}

/* A known member rejoins with new protocols, or while a rebalance runs. */
static int update_and_rebalance(group *g, gmember *m, kafka_req *r,
                                const char *why) {
  if (member_update(m, r) != 0)
    return -1;
  park_join(m, r);
  group_touch(m);
  maybe_prepare_rebalance(g, why);
  maybe_complete_join(g);
  return 0;
}

/* A static member comes back with an empty member id: it takes over its
 * old place under a new id. */
static int static_rejoin(group *g, gmember *m, kafka_req *r, char *id) {
  glog(g, "static member %s rejoins as %s (was %s)", m->instance_id, id, m->id);
  fail_parked(m, KERR_FENCED_INSTANCE_ID);
  free(m->id);
  m->id = id;
  if (g->state == GROUP_STABLE) {
    char *before = strdup(g->protocol ? g->protocol : "");
    if (!before || member_update(m, r) != 0) {
      free(before);
      return -1;
    }
    int same = strcmp(select_protocol(g), before) == 0;
    free(before);
    if (same) {
      /* Nothing to reassign: the member gets its generation back (a
       * leader from v9 on is told to skip the assignment). */
      group_touch(m);
      int skip = m == g->leader && r->version >= 9;
      join_answer(r, g, m, skip, skip);
      return 0;
    }
    return update_and_rebalance(g, m, r, "static member changed protocols");
  }
  return update_and_rebalance(g, m, r, "static member rejoined");
}

int handle_join_group(kafka_req *r) {
  kafka_join_group_request *req = r->body;
  group_coord *gc = r->b->groups;
  const char *gid = cstr(req->group_id);
  const char *member_id = cstr(req->member_id);
  const char *inst = r->version >= 5 ? cstr(req->group_instance_id) : NULL;
  if (!member_id)
    member_id = "";
  /* READ on the group first (KafkaApis), answered with no member id. */
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ)) {
    join_error(r, KERR_GROUP_AUTHORIZATION_FAILED, "");
    return 0;
  }
  if (!group_id_ok(gid)) {
    join_error(r, KERR_INVALID_GROUP_ID, member_id);
    return 0;
  }
  if (req->session_timeout_ms < GROUP_MIN_SESSION_MS ||
      req->session_timeout_ms > GROUP_MAX_SESSION_MS) {
    kafka_log(r, BLOG_WARN, "group %s: session timeout %d ms is outside %d-%d",
              gid, req->session_timeout_ms, GROUP_MIN_SESSION_MS,
              GROUP_MAX_SESSION_MS);
    join_error(r, KERR_INVALID_SESSION_TIMEOUT, member_id);
    return 0;
  }
  if (!kafka_cstr_ok(req->protocol_type) || !req->protocol_type.len ||
      req->protocols.count <= 0) {
    join_error(r, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
    return 0;
  }
  for (int32_t i = 0; i < req->protocols.count; i++)
    if (!kafka_cstr_ok(req->protocols.items[i].name)) {
      join_error(r, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
      return 0;
    }
  /* The id may name a consumer group (KIP-848). An Empty one gives way to
   * the classic group this join makes, its offsets kept (Kafka's
   * maybeDeleteEmptyConsumerGroup); one with members takes the joiner as
   * a classic member (cgroup_classic.c). */
  cgroup *cg = cgroup_find(r->b, gid);
  if (cg && cg->nmembers == 0) {
    kafka_log(r, BLOG_INFO,
              "group %s: the empty consumer group becomes a classic group",
              gid);
    cgroup_forget(r->b, cg);
  } else if (cg) {
    int16_t err = cgroup_classic_join(r, cg);
    if (err < 0)
      return -1;
    if (err)
      join_error(r, err, member_id);
    return 0;
  }
  group *g = group_find(gc, gid);
  if (!*member_id) {
    if (!g && !(g = group_create(gc, gid)))
      return -1;
    if (!protocols_fit(g, req)) {
      join_error(r, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
      return 0;
    }
    const char *prefix =
        inst ? inst : (kafka_cstr_ok(r->client_id) ? r->client_id.ptr : "");
    char *id = new_member_id(prefix);
    if (!id)
      return -1;
    if (inst) {
      gmember *m = group_find_instance(g, inst);
      return m ? static_rejoin(g, m, r, id) : add_member(g, r, id);
    }
    if (r->version >= 4) {
      /* KIP-394: the member must come back with this id, so that a client
       * retrying a JoinGroup never leaves a stray member behind. */
      gpending *p = calloc(1, sizeof *p);
      if (!p) {
        free(id);
        return -1;
      }
      p->g = g;
      p->id = id;
      p->timer =
          net_timer_add(gc->b->loop, req->session_timeout_ms, pending_timer, p);
      p->next = g->pending;
      g->pending = p;
      join_error(r, KERR_MEMBER_ID_REQUIRED, id);
      return 0;
    }
    return add_member(g, r, id);
  }
  if (!g) {
    join_error(r, KERR_UNKNOWN_MEMBER_ID, member_id);
    return 0;
  }
  if (!protocols_fit(g, req)) {
    join_error(r, KERR_INCONSISTENT_GROUP_PROTOCOL, member_id);
    return 0;
  }
  gpending *p = find_pending(g, member_id);
  if (p) {
    char *id = p->id;
    p->id = NULL;
    pending_free(g, p);
    return add_member(g, r, id);
  }
  gmember *m;
  int16_t err = group_check_member(g, member_id, inst, &m);
  if (err) {
    join_error(r, err, member_id);
    return 0;
  }
  char why[400];
  const char *reason = r->version >= 8 ? cstr(req->reason) : NULL;
  switch (g->state) {
  case GROUP_PREPARING_REBALANCE:
    return update_and_rebalance(g, m, r, "member rejoined");
  case GROUP_COMPLETING_REBALANCE:
    if (protocols_match(m, req)) {
      /* It missed the answer: give it again. */
      group_touch(m);
      join_answer(r, g, m, m == g->leader, 0);
      return 0;
    }
    snprintf(why, sizeof why, "member %.200s changed its protocols%s%.150s",
             m->id, reason ? ": " : "", reason ? reason : "");
    return update_and_rebalance(g, m, r, why);
  case GROUP_STABLE:
    if (m == g->leader || !protocols_match(m, req)) {
      /* The leader rejoins when what it assigns changed (e.g. a topic
       * got partitions): that is a rebalance even with the same
       * subscription. */
      snprintf(why, sizeof why, "%s %.200s rejoined%s%.150s",
               m == g->leader ? "leader" : "member", m->id, reason ? ": " : "",
               reason ? reason : "");
      return update_and_rebalance(g, m, r, why);
    }
    group_touch(m);
    join_answer(r, g, m, 0, 0);
    return 0;
  default:
    join_error(r, KERR_UNKNOWN_MEMBER_ID, member_id);
    return 0;
  }
}

/* ---- SyncGroup ---------------------------------------------------------- */

static int set_assignment(gmember *m, const kf_bytes *a) {
  int32_t len = a && a->len > 0 ? a->len : 0;
  uint8_t *p = malloc((size_t)len + 1);
  if (!p)
    return -1;
  if (len)
    memcpy(p, a->ptr, (size_t)len);
  free(m->assignment);
  m->assignment = p;
  m->assignment_len = len;
  return 0;
}

int handle_sync_group(kafka_req *r) {
  kafka_sync_group_request *req = r->body;
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ)) {
    sync_answer(r, KERR_GROUP_AUTHORIZATION_FAILED, NULL);
    return 0;
  }
  /* A classic member inside a consumer group (cgroup_classic.c). */
  cgroup *cg = cgroup_find(r->b, cstr(req->group_id));
  if (cg)
    return cgroup_classic_sync(r, cg);
  group *g = group_find(r->b->groups, cstr(req->group_id));
  const char *inst = r->version >= 3 ? cstr(req->group_instance_id) : NULL;
  gmember *m = NULL;
  int16_t err = g ? group_check_member(g, cstr(req->member_id), inst, &m)
                  : KERR_UNKNOWN_MEMBER_ID;
  if (!err && req->generation_id != g->generation)
    err = KERR_ILLEGAL_GENERATION;
  if (!err && r->version >= 5 &&
      ((req->protocol_type.len >= 0 &&
        (!g->protocol_type || !kafka_cstr_ok(req->protocol_type) ||
         strcmp(g->protocol_type, req->protocol_type.ptr) != 0)) ||
       (req->protocol_name.len >= 0 &&
        (!g->protocol || !kafka_cstr_ok(req->protocol_name) ||
         strcmp(g->protocol, req->protocol_name.ptr) != 0))))
    err = KERR_INCONSISTENT_GROUP_PROTOCOL;
  if (!err && g->state == GROUP_PREPARING_REBALANCE)
    err = KERR_REBALANCE_IN_PROGRESS;
  else if (!err && g->state != GROUP_COMPLETING_REBALANCE &&
           g->state != GROUP_STABLE)
    err = KERR_UNKNOWN_MEMBER_ID;
  if (err) {
    sync_answer(r, err, NULL);
    return 0;
  }
  group_touch(m);
  if (g->state == GROUP_STABLE) {
    sync_answer(r, 0, m);
    return 0;
  }
  kafka_req *old = take_sync(m);
  if (old)
    sync_answer(old, KERR_REBALANCE_IN_PROGRESS, NULL);
  if (m != g->leader) {
    m->sync_req = r;
    r->hctx = m;
    kafka_park(r, sync_closed);
    return 0;
  }
  /* The leader's assignment completes the generation; a member it left
   * out gets an empty one. */
  for (gmember *o = g->members; o; o = o->next) {
    const kf_bytes *a = NULL;
    for (int32_t i = 0; i < req->assignments.count; i++)
      if (kafka_cstr_ok(req->assignments.items[i].member_id) &&
          strcmp(req->assignments.items[i].member_id.ptr, o->id) == 0)
        a = &req->assignments.items[i].assignment;
    if (set_assignment(o, a) != 0)
      return -1;
  }
  g->state = GROUP_STABLE;
  glog(g, "generation %d is stable", g->generation);
  for (gmember *o = g->members; o; o = o->next) {
    kafka_req *w = take_sync(o);
    if (w)
      sync_answer(w, 0, o);
  }
  sync_answer(r, 0, m);
  return 0;
}

/* ---- Heartbeat ---------------------------------------------------------- */

int handle_heartbeat(kafka_req *r) {
  kafka_heartbeat_request *req = r->body;
  kafka_heartbeat_response *resp =
      kf_new(&r->arena, &kafka_heartbeat_response_desc);
  if (!resp)
    return -1;
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ)) {
    resp->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
    kafka_respond(r, resp);
    return 0;
  }
  cgroup *cg = cgroup_find(r->b, cstr(req->group_id));
  if (cg)
    return cgroup_classic_heartbeat(r, cg);
  group *g = group_find(r->b->groups, cstr(req->group_id));
  const char *inst = r->version >= 3 ? cstr(req->group_instance_id) : NULL;
  gmember *m = NULL;
  int16_t err = g ? group_check_member(g, cstr(req->member_id), inst, &m)
                  : KERR_UNKNOWN_MEMBER_ID;
  if (!err && req->generation_id != g->generation)
    err = KERR_ILLEGAL_GENERATION;
  if (!err) {
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
      group_touch(m);
      err = KERR_REBALANCE_IN_PROGRESS; /* rejoin */
      break;
    case GROUP_COMPLETING_REBALANCE:
    case GROUP_STABLE:
      group_touch(m);
      break;
    default:
      err = KERR_UNKNOWN_MEMBER_ID;
    }
  }
  resp->error_code = err;
  kafka_respond(r, resp);
  return 0;
}

/* ---- LeaveGroup --------------------------------------------------------- */

static int16_t leave_one(kafka_req *r, group *g, const char *member_id,
                         const char *inst, kf_str reason, int *left) {
  if (!g)
    return KERR_UNKNOWN_MEMBER_ID;
  gmember *m;
  if (inst) {
    m = group_find_instance(g, inst);
    if (!m)
      return KERR_UNKNOWN_MEMBER_ID;
    if (member_id && *member_id && strcmp(member_id, m->id) != 0)
      return KERR_FENCED_INSTANCE_ID;
  } else {
    gpending *p = member_id ? find_pending(g, member_id) : NULL;
    if (p) {
      pending_free(g, p);
      *left = 1;
      return 0;
    }
    m = group_find_member(g, member_id);
    if (!m)
      return KERR_UNKNOWN_MEMBER_ID;
  }
  const char *why = kafka_cstr_ok(reason) && reason.len ? reason.ptr : NULL;
  kafka_log(r, BLOG_INFO, "group %s: member %s leaves%s%s", g->id, m->id,
            why ? ": " : "", why ? why : "");
  member_free(g, m, KERR_UNKNOWN_MEMBER_ID);
  *left = 1;
  return 0;
}

int handle_leave_group(kafka_req *r) {
  kafka_leave_group_request *req = r->body;
  kafka_leave_group_response *resp =
      kf_new(&r->arena, &kafka_leave_group_response_desc);
  if (!resp)
    return -1;
  /* Denied: the error alone, no member answered (LeaveGroupRequest's
   * error response). */
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ)) {
    resp->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
    resp->members.count = 0;
    kafka_respond(r, resp);
    return 0;
  }
  cgroup *cg = cgroup_find(r->b, cstr(req->group_id));
  if (cg)
    return cgroup_classic_leave(r, cg);
  group *g = group_find(r->b->groups, cstr(req->group_id));
  int left = 0;
  if (r->version < 3) {
    resp->error_code =
        leave_one(r, g, cstr(req->member_id), NULL, kf_null_str(), &left);
  } else {
    int32_t n = req->members.count > 0 ? req->members.count : 0;
    kafka_leave_group_response_member_response *ms = kf_new_array(
        &r->arena, &kafka_leave_group_response_member_response_desc, n);
    if (n && !ms)
      return -1;
    for (int32_t i = 0; i < n; i++) {
      kafka_leave_group_request_member_identity *q = &req->members.items[i];
      ms[i].member_id = q->member_id;
      ms[i].group_instance_id = q->group_instance_id;
      ms[i].error_code =
          leave_one(r, g, cstr(q->member_id), cstr(q->group_instance_id),
                    r->version >= 5 ? q->reason : kf_null_str(), &left);
    }
    resp->members.items = ms;
    resp->members.count = n;
  }
  if (left)
    member_gone(g, "members left");
  kafka_respond(r, resp);
  return 0;
}

/* ---- life --------------------------------------------------------------- */

static void group_free(group_coord *gc, group *g) {
  while (g->members) {
    gmember *m = g->members;
    /* At shutdown the parked requests belong to closed connections and
     * kafka_fini frees them; otherwise there are none (Empty group). */
    if (m->join_req)
      m->join_req->hctx = NULL;
    if (m->sync_req)
      m->sync_req->hctx = NULL;
    m->join_req = m->sync_req = NULL;
    member_free(g, m, 0);
  }
  while (g->pending)
    pending_free(g, g->pending);
  if (g->join_timer)
    net_timer_cancel(gc->b->loop, g->join_timer);
  free(g->id);
  free(g->protocol_type);
  free(g->protocol);
  free(g);
}

void group_forget(group_coord *gc, group *g) {
  group **pp = &gc->buckets[hash_str(g->id) % gc->nbuckets];
  while (*pp && *pp != g)
    pp = &(*pp)->hnext;
  if (*pp) {
    *pp = g->hnext;
    gc->ngroups--;
  }
  group_free(gc, g);
}

static int member_from_spec(group *g, const group_member_spec *s) {
  gmember *m = calloc(1, sizeof *m);
  if (!m)
    return -ENOMEM;
  m->g = g;
  m->session_ms = s->session_ms;
  m->rebalance_ms = s->rebalance_ms;
  int ok = (m->id = strdup(s->id)) &&
           (!s->instance_id || (m->instance_id = strdup(s->instance_id))) &&
           (!s->client_id || (m->client_id = strdup(s->client_id))) &&
           (!s->client_host || (m->client_host = strdup(s->client_host)));
  if (ok && s->nprotocols > 0) {
    m->protocols = calloc((size_t)s->nprotocols, sizeof *m->protocols);
    ok = m->protocols != NULL;
    for (int32_t i = 0; ok && i < s->nprotocols; i++, m->nprotocols++) {
      const group_protocol *p = &s->protocols[i];
      m->protocols[i].len = p->len;
      ok = (m->protocols[i].name = strdup(p->name)) &&
           (m->protocols[i].meta = malloc(p->len > 0 ? (size_t)p->len : 1));
      if (ok && p->len > 0)
        memcpy(m->protocols[i].meta, p->meta, (size_t)p->len);
    }
  }
  if (ok && s->assignment && s->assignment_len > 0) {
    ok = (m->assignment = malloc((size_t)s->assignment_len)) != NULL;
    if (ok) {
      memcpy(m->assignment, s->assignment, (size_t)s->assignment_len);
      m->assignment_len = s->assignment_len;
    }
  }
  /* Linked before any failure so that member_free can unlink it. */
  gmember **tail = &g->members;
  while (*tail)
    tail = &(*tail)->next;
  *tail = m;
  g->nmembers++;
  if (!ok) {
    member_free(g, m, 0);
    return -ENOMEM;
  }
  if (!g->leader)
    g->leader = m;
  group_touch(m);
  return 0;
}

int group_from_consumer(broker *b, const char *id, int32_t generation,
                        const char *protocol, const group_member_spec *specs,
                        int32_t n) {
  group_coord *gc = b->groups;
  group *g = group_create(gc, id);
  if (!g)
    return -ENOMEM;
  g->generation = generation;
  if (!(g->protocol_type = strdup("consumer")) ||
      !(g->protocol = strdup(protocol))) {
    group_forget(gc, g);
    return -ENOMEM;
  }
  for (int32_t i = 0; i < n; i++)
    if (member_from_spec(g, &specs[i]) != 0) {
      group_forget(gc, g);
      return -ENOMEM;
    }
  g->state = GROUP_STABLE;
  prepare_rebalance(g, "downgraded from a consumer group");
  return 0;
}

void group_drop(group_coord *gc, group *g, int16_t err) {
  while (g->members)
    member_free(g, g->members, err);
  group_forget(gc, g);
}

int group_init(broker *b) {
  group_coord *gc = calloc(1, sizeof *gc);
  if (!gc)
    return -ENOMEM;
  gc->b = b;
  int rc = committer_start(b, &gc->committer);
  if (rc == 0 && (rc = expiry_start(b, gc)) != 0)
    committer_stop(gc->committer);
  if (rc != 0) {
    free(gc);
    return rc;
  }
  b->groups = gc;
  return 0;
}

void group_fini(broker *b) {
  group_coord *gc = b->groups;
  if (!gc)
    return;
  expiry_stop(gc);
  committer_stop(gc->committer);
  for (size_t i = 0; i < gc->nbuckets; i++)
    for (group *g = gc->buckets[i], *next; g; g = next) {
      next = g->hnext;
      group_free(gc, g);
    }
  free(gc->buckets);
  free(gc);
  b->groups = NULL;
}
