/*
 * handle_group.c — the classic consumer group coordinator and committed
 * offsets: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups.
 *
 * Node 0 coordinates every group. A group moves through Kafka's classic
 * states:
 *
 *   Empty --join--> PreparingRebalance --all joined or rebalance timeout-->
 *   CompletingRebalance --leader's SyncGroup--> Stable --join/leave/expiry-->
 *   PreparingRebalance ...
 *
 * JoinGroup requests are parked until the rebalance completes; the leader
 * (the first member, kept across generations while it stays) gets every
 * member's subscription, computes the assignment client side and sends it
 * in SyncGroup; the other members' SyncGroups are parked until then. The
 * broker treats subscriptions and assignments as opaque bytes. A join into
 * an Empty group waits INITIAL_DELAY_MS for others to arrive, like Kafka's
 * group.initial.rebalance.delay.ms, so a few consumers starting together
 * share one rebalance. Sessions expire when no heartbeat (or join/sync)
 * arrives within session.timeout.ms; the member is removed and the others
 * rebalance. From JoinGroup v4 on, a new member first gets
 * MEMBER_ID_REQUIRED with its id (KIP-394). group.instance.id (static
 * membership) keeps a member's id across restarts.
 *
 * Committed offsets live in memory and, durably, in the internal topic
 * __consumer_offsets (one partition, kept forever, marked internal in
 * Metadata), written through the public libnodata API like any topic: a
 * commit appends one record per partition and is answered once the flusher
 * has fdatasync'd it, as acks=all. Record layout (our own, not Kafka's):
 *   key "O" group NUL topic NUL be32(partition),
 *       value be64(offset) be32(leader epoch) metadata   (null: forget it)
 *   key "G" group, value null: forget the group's offsets
 *   key "T" topic, value null: forget the topic's offsets (topic deleted)
 * At start-up the log is replayed; when it holds far more records than
 * live offsets it is rewritten (live offsets appended, synced, then the
 * log start moved past the old records with nd_delete_records).
 * TODO(issue 5): move the storage into libnodata (nd_commit_offset) when it
 * exists; the coordinator only needs load/commit/forget.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kafka.h"

#define OFFSETS_TOPIC "__consumer_offsets"
#define INITIAL_DELAY_MS 500
#define SWEEP_MS 500
#define MIN_SESSION_MS 1000
#define MAX_SESSION_MS 1800000

enum {
  KERR_COORDINATOR_NOT_AVAILABLE = 15,
  KERR_ILLEGAL_GENERATION = 22,
  KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
  KERR_INVALID_GROUP_ID = 24,
  KERR_UNKNOWN_MEMBER_ID = 25,
  KERR_INVALID_SESSION_TIMEOUT = 26,
  KERR_REBALANCE_IN_PROGRESS = 27,
  KERR_NON_EMPTY_GROUP = 68,
  KERR_GROUP_ID_NOT_FOUND = 69,
  KERR_MEMBER_ID_REQUIRED = 79,
};

enum gstate { G_EMPTY, G_PREPARING, G_COMPLETING, G_STABLE };
static const char *const state_names[] = {"Empty", "PreparingRebalance",
                                          "CompletingRebalance", "Stable"};

typedef struct gproto {
  char *name;
  uint8_t *meta;
  int32_t len;
} gproto;

typedef struct group group;

typedef struct gmember {
  struct gmember *next;
  group *g;
  char *id, *instance_id, *client_id, *client_host;
  int32_t session_ms, rebalance_ms;
  gproto *protos;
  int nprotos;
  kafka_req *join, *sync; /* parked requests */
  uint8_t *assignment;
  int32_t assignment_len;
  int64_t deadline;
} gmember;

typedef struct goffset {
  char *topic;
  int32_t partition;
  int32_t epoch;
  int64_t offset;
  char *meta;
} goffset;

struct group {
  group *next;
  char *id;
  int state;
  int32_t generation;
  char *protocol_type, *protocol;
  char *leader;
  gmember *members;
  char **pending; /* ids handed out with MEMBER_ID_REQUIRED */
  int npending;
  net_timer *join_timer;
  int initial; /* the join timer is the initial delay of an empty group */
  goffset *offsets;
  size_t noffsets, capoffsets;
};

typedef struct groups {
  broker *b;
  group *list;
  net_timer *sweep;
  uint64_t counter;
  int64_t log_records; /* records in __consumer_offsets since its start */
} groups;

/* ---- small helpers ------------------------------------------------------ */

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    if (n)
      memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

static char *dups(kf_str s) {
  return s.len < 0 ? NULL : dupn(s.ptr, (size_t)s.len);
}

static int streq(const char *a, kf_str b) {
  return a && b.len >= 0 && strlen(a) == (size_t)b.len &&
         memcmp(a, b.ptr, (size_t)b.len) == 0;
}

static groups *G(kafka_req *r) {
  return r->b->groups;
}

static group *find_group(groups *gs, kf_str id) {
  for (group *g = gs->list; g; g = g->next)
    if (streq(g->id, id))
      return g;
  return NULL;
}

static group *new_group(groups *gs, kf_str id) {
  group *g = calloc(1, sizeof *g);
  if (!g || !(g->id = dups(id))) {
    free(g);
    return NULL;
  }
  g->next = gs->list;
  gs->list = g;
  return g;
}

static gmember *find_member(group *g, kf_str id) {
  if (!g)
    return NULL;
  for (gmember *m = g->members; m; m = m->next)
    if (streq(m->id, id))
      return m;
  return NULL;
}

static gmember *find_instance(group *g, kf_str instance) {
  if (!g || instance.len < 0)
    return NULL;
  for (gmember *m = g->members; m; m = m->next)
    if (streq(m->instance_id, instance))
      return m;
  return NULL;
}

static int nmembers(const group *g) {
  int n = 0;
  for (gmember *m = g->members; m; m = m->next)
    n++;
  return n;
}

static void free_protos(gmember *m) {
  for (int i = 0; i < m->nprotos; i++) {
    free(m->protos[i].name);
    free(m->protos[i].meta);
  }
  free(m->protos);
  m->protos = NULL;
  m->nprotos = 0;
}

static const gproto *member_proto(const gmember *m, const char *name) {
  for (int i = 0; name && i < m->nprotos; i++)
    if (strcmp(m->protos[i].name, name) == 0)
      return &m->protos[i];
  return NULL;
}

/* ---- parked requests ---------------------------------------------------- */

static int join_closed(kafka_req *r) {
  gmember *m = r->hctx;
  if (m && m->join == r)
    m->join = NULL;
  return 1;
}

static int sync_closed(kafka_req *r) {
  gmember *m = r->hctx;
  if (m && m->sync == r)
    m->sync = NULL;
  return 1;
}

static void answer_join_error(kafka_req *r, int16_t err, const char *member) {
  kafka_join_group_response *resp =
      kf_new(&r->arena, &kafka_join_group_response_desc);
  if (!resp) {
    kafka_respond_none(r);
    return;
  }
  resp->error_code = err;
  resp->generation_id = -1;
  resp->member_id = kafka_str(r, member ? member : "");
  resp->protocol_name = kf_null_str();
  kafka_respond(r, resp);
}

static void answer_sync(kafka_req *r, int16_t err, const gmember *m) {
  kafka_sync_group_response *resp =
      kf_new(&r->arena, &kafka_sync_group_response_desc);
  if (!resp) {
    kafka_respond_none(r);
    return;
  }
  resp->error_code = err;
  if (m && !err) {
    resp->protocol_type = kafka_str(r, m->g->protocol_type);
    resp->protocol_name = kafka_str(r, m->g->protocol);
    resp->assignment.ptr = m->assignment;
    resp->assignment.len = m->assignment ? m->assignment_len : 0;
  }
  kafka_respond(r, resp);
}

static void fail_parked(gmember *m, int16_t err) {
  if (m->join) {
    kafka_req *r = m->join;
    m->join = NULL;
    r->hctx = NULL;
    answer_join_error(r, err, m->id);
  }
  if (m->sync) {
    kafka_req *r = m->sync;
    m->sync = NULL;
    r->hctx = NULL;
    answer_sync(r, err, NULL);
  }
}

/* ---- rebalancing -------------------------------------------------------- */

static void complete_join(group *g, groups *gs);

static void join_timeout(void *arg) {
  group *g = arg;
  g->join_timer = NULL;
  g->initial = 0;
  complete_join(g, NULL);
}

static void free_member(gmember *m) {
  fail_parked(m, KERR_UNKNOWN_MEMBER_ID);
  free(m->id);
  free(m->instance_id);
  free(m->client_id);
  free(m->client_host);
  free_protos(m);
  free(m->assignment);
  free(m);
}

static void cancel_join_timer(group *g, broker *b) {
  if (g->join_timer) {
    net_timer_cancel(b->loop, g->join_timer);
    g->join_timer = NULL;
  }
}

static groups *g_groups; /* for timer callbacks; one broker per process */

static void prepare_rebalance(group *g) {
  broker *b = g_groups->b;
  if (g->state == G_COMPLETING)
    for (gmember *m = g->members; m; m = m->next)
      if (m->sync) {
        kafka_req *r = m->sync;
        m->sync = NULL;
        r->hctx = NULL;
        answer_sync(r, KERR_REBALANCE_IN_PROGRESS, NULL);
      }
  int was_empty = g->state == G_EMPTY;
  g->state = G_PREPARING;
  if (g->join_timer)
    return;
  int64_t delay = 0;
  for (gmember *m = g->members; m; m = m->next)
    if (m->rebalance_ms > delay)
      delay = m->rebalance_ms;
  if (was_empty) {
    delay = INITIAL_DELAY_MS;
    g->initial = 1;
  }
  g->join_timer =
      b->loop ? net_timer_add(b->loop, delay, join_timeout, g) : NULL;
}

/* Complete the join now if every member has rejoined (and no initial
 * delay is running). */
static void maybe_complete(group *g) {
  if (g->state != G_PREPARING || g->initial)
    return;
  for (gmember *m = g->members; m; m = m->next)
    if (!m->join)
      return;
  complete_join(g, NULL);
}

static void remove_member(group *g, gmember *m) {
  gmember **pp = &g->members;
  while (*pp && *pp != m)
    pp = &(*pp)->next;
  if (*pp)
    *pp = m->next;
  if (g->leader && m->id && strcmp(g->leader, m->id) == 0) {
    free(g->leader);
    g->leader = NULL;
  }
  free_member(m);
}

static void after_departure(group *g) {
  if (!g->members) {
    cancel_join_timer(g, g_groups->b);
    g->state = G_EMPTY;
    g->generation++;
    free(g->protocol);
    g->protocol = NULL;
    return;
  }
  if (g->state == G_PREPARING)
    maybe_complete(g);
  else
    prepare_rebalance(g);
}

static char *choose_protocol(group *g) {
  gmember *lead = g->members;
  for (gmember *m = g->members; m; m = m->next)
    if (g->leader && strcmp(m->id, g->leader) == 0)
      lead = m;
  for (int i = 0; i < lead->nprotos; i++) {
    int all = 1;
    for (gmember *m = g->members; m && all; m = m->next)
      all = member_proto(m, lead->protos[i].name) != NULL;
    if (all)
      return strdup(lead->protos[i].name);
  }
  return lead->nprotos ? strdup(lead->protos[0].name) : strdup("");
}

static void complete_join(group *g, groups *unused) {
  (void)unused;
  broker *b = g_groups->b;
  cancel_join_timer(g, b);
  g->initial = 0;
  /* Members that did not rejoin within the rebalance timeout are out. */
  for (gmember *m = g->members, *next; m; m = next) {
    next = m->next;
    if (!m->join)
      remove_member(g, m);
  }
  g->generation++;
  if (!g->members) {
    g->state = G_EMPTY;
    return;
  }
  free(g->protocol);
  g->protocol = choose_protocol(g);
  if (!g->leader || !find_member(g, kf_s(g->leader))) {
    free(g->leader);
    g->leader = strdup(g->members->id);
  }
  g->state = G_COMPLETING;
  int n = nmembers(g);
  int64_t now = net_now_ms();
  for (gmember *m = g->members; m; m = m->next) {
    kafka_req *r = m->join;
    m->join = NULL;
    m->deadline = now + m->session_ms;
    free(m->assignment);
    m->assignment = NULL;
    m->assignment_len = 0;
    if (!r)
      continue;
    r->hctx = NULL;
    kafka_join_group_response *resp =
        kf_new(&r->arena, &kafka_join_group_response_desc);
    if (!resp) {
      kafka_respond_none(r);
      continue;
    }
    resp->generation_id = g->generation;
    resp->protocol_type = kafka_str(r, g->protocol_type);
    resp->protocol_name = kafka_str(r, g->protocol);
    resp->leader = kafka_str(r, g->leader);
    resp->member_id = kafka_str(r, m->id);
    if (strcmp(m->id, g->leader) == 0) {
      kafka_join_group_response_member *ms =
          kf_new_array(&r->arena, &kafka_join_group_response_member_desc, n);
      int i = 0;
      for (gmember *o = g->members; ms && o; o = o->next, i++) {
        const gproto *p = member_proto(o, g->protocol);
        ms[i].member_id = kafka_str(r, o->id);
        ms[i].group_instance_id = kafka_str(r, o->instance_id);
        ms[i].metadata.ptr = p ? p->meta : NULL;
        ms[i].metadata.len = p ? p->len : 0;
      }
      resp->members.items = ms;
      resp->members.count = ms ? n : 0;
    }
    kafka_respond(r, resp);
  }
}

static void sweep(void *arg) {
  groups *gs = arg;
  gs->sweep = NULL;
  int64_t now = net_now_ms();
  for (group *g = gs->list; g; g = g->next) {
    int gone = 0;
    for (gmember *m = g->members, *next; m; m = next) {
      next = m->next;
      if (!m->join && now > m->deadline) {
        fprintf(stderr,
                "nodata: group %s: member %s left (no heartbeat for %d ms)\n",
                g->id, m->id, m->session_ms);
        remove_member(g, m);
        gone = 1;
      }
    }
    if (gone)
      after_departure(g);
  }
  gs->sweep = net_timer_add(gs->b->loop, SWEEP_MS, sweep, gs);
}

/* ---- FindCoordinator ---------------------------------------------------- */

static void coordinator(kafka_req *r, int8_t type, int16_t *err, kf_str *msg,
                        int32_t *node, kf_str *host, int32_t *port) {
  if (type != 0) {
    *err = KERR_INVALID_REQUEST;
    *msg = kafka_str(r, type == 1 ? "transactions are not supported"
                                  : "only consumer groups are supported");
    *node = -1;
    *host = kf_s("");
    *port = -1;
    return;
  }
  *err = 0;
  *msg = kf_null_str();
  *node = r->b->cfg.node_id;
  *host = kafka_str(r, kafka_advertised_host(r->b));
  *port = kafka_advertised_port(r->b);
}

int handle_find_coordinator(kafka_req *r) {
  kafka_find_coordinator_request *req = r->body;
  kafka_find_coordinator_response *resp =
      kf_new(&r->arena, &kafka_find_coordinator_response_desc);
  if (!resp)
    return -1;
  if (r->version < 4) {
    coordinator(r, req->key_type, &resp->error_code, &resp->error_message,
                &resp->node_id, &resp->host, &resp->port);
  } else {
    int32_t n =
        req->coordinator_keys.count > 0 ? req->coordinator_keys.count : 0;
    kafka_find_coordinator_response_coordinator *cs = kf_new_array(
        &r->arena, &kafka_find_coordinator_response_coordinator_desc, n);
    if (n && !cs)
      return -1;
    for (int32_t i = 0; i < n; i++) {
      cs[i].key = req->coordinator_keys.items[i];
      coordinator(r, req->key_type, &cs[i].error_code, &cs[i].error_message,
                  &cs[i].node_id, &cs[i].host, &cs[i].port);
    }
    resp->coordinators.items = cs;
    resp->coordinators.count = n;
  }
  kafka_respond(r, resp);
  return 0;
}

/* ---- JoinGroup ---------------------------------------------------------- */

static char *new_member_id(groups *gs, kafka_req *r) {
  char buf[320];
  uint64_t x = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^
               (++gs->counter * 0xBF58476D1CE4E5B9ull) ^ (uint64_t)net_now_ms();
  const char *cid = kafka_cstr_ok(r->client_id) ? r->client_id.ptr : "member";
  snprintf(buf, sizeof buf, "%.200s-%016llx", cid, (unsigned long long)x);
  return strdup(buf);
}

static int set_protocols(gmember *m, const kafka_join_group_request *req) {
  free_protos(m);
  int32_t n = req->protocols.count > 0 ? req->protocols.count : 0;
  m->protos = calloc((size_t)n + 1, sizeof *m->protos);
  if (!m->protos)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kafka_join_group_request_protocol *p = &req->protocols.items[i];
    m->protos[i].name = dups(p->name);
    int32_t len = p->metadata.len > 0 ? p->metadata.len : 0;
    m->protos[i].meta = malloc((size_t)len + 1);
    if (!m->protos[i].name || !m->protos[i].meta)
      return -1;
    if (len)
      memcpy(m->protos[i].meta, p->metadata.ptr, (size_t)len);
    m->protos[i].len = len;
    m->nprotos = i + 1;
  }
  return 0;
}

static int protocols_fit(group *g, const kafka_join_group_request *req) {
  if (req->protocols.count <= 0 || req->protocol_type.len <= 0)
    return 0;
  if (!g->members)
    return 1;
  if (!g->protocol_type || !streq(g->protocol_type, req->protocol_type))
    return 0;
  /* At least one protocol every current member also supports. */
  for (int32_t i = 0; i < req->protocols.count; i++) {
    int all = 1;
    for (gmember *m = g->members; m && all; m = m->next) {
      int found = 0;
      for (int j = 0; j < m->nprotos && !found; j++)
        found = streq(m->protos[j].name, req->protocols.items[i].name);
      all = found;
    }
    if (all)
      return 1;
  }
  return 0;
}

int handle_join_group(kafka_req *r) {
  kafka_join_group_request *req = r->body;
  groups *gs = G(r);
  if (req->group_id.len <= 0) {
    answer_join_error(r, KERR_INVALID_GROUP_ID, "");
    return 0;
  }
  if (req->session_timeout_ms < MIN_SESSION_MS ||
      req->session_timeout_ms > MAX_SESSION_MS) {
    answer_join_error(r, KERR_INVALID_SESSION_TIMEOUT,
                      req->member_id.len > 0 ? req->member_id.ptr : "");
    return 0;
  }
  group *g = find_group(gs, req->group_id);
  if (!g && !(g = new_group(gs, req->group_id)))
    return -1;
  if (!protocols_fit(g, req)) {
    answer_join_error(r, KERR_INCONSISTENT_GROUP_PROTOCOL,
                      req->member_id.len > 0 ? req->member_id.ptr : "");
    return 0;
  }
  gmember *m = NULL;
  if (req->member_id.len <= 0) {
    m = find_instance(g, req->group_instance_id);
    if (!m) {
      char *id = new_member_id(gs, r);
      if (!id)
        return -1;
      if (r->version >= 4 && req->group_instance_id.len < 0) {
        /* KIP-394: hand out the id first; the member joins with it. */
        char **np = realloc(g->pending, (size_t)(g->npending + 1) * sizeof *np);
        if (!np) {
          free(id);
          return -1;
        }
        g->pending = np;
        g->pending[g->npending++] = id;
        answer_join_error(r, KERR_MEMBER_ID_REQUIRED, id);
        return 0;
      }
      m = calloc(1, sizeof *m);
      if (!m) {
        free(id);
        return -1;
      }
      m->id = id;
    }
  } else {
    m = find_member(g, req->member_id);
    if (!m) {
      int idx = -1;
      for (int i = 0; i < g->npending; i++)
        if (streq(g->pending[i], req->member_id))
          idx = i;
      if (idx < 0) {
        answer_join_error(r, KERR_UNKNOWN_MEMBER_ID, req->member_id.ptr);
        return 0;
      }
      m = calloc(1, sizeof *m);
      if (!m)
        return -1;
      m->id = g->pending[idx];
      g->pending[idx] = g->pending[--g->npending];
    }
  }
  if (!m->g) {
    /* New member: append, so the first member stays first (the leader). */
    m->g = g;
    gmember **pp = &g->members;
    while (*pp)
      pp = &(*pp)->next;
    *pp = m;
  }
  if (!g->protocol_type || !g->members->next) {
    free(g->protocol_type);
    g->protocol_type = dups(req->protocol_type);
  }
  m->session_ms = req->session_timeout_ms;
  m->rebalance_ms = req->rebalance_timeout_ms > 0 ? req->rebalance_timeout_ms
                                                  : req->session_timeout_ms;
  free(m->client_id);
  m->client_id = dups(r->client_id);
  free(m->client_host);
  m->client_host = strdup(net_conn_peer(r->conn));
  if (req->group_instance_id.len >= 0 && !m->instance_id)
    m->instance_id = dups(req->group_instance_id);
  if (set_protocols(m, req) != 0)
    return -1;
  m->deadline = net_now_ms() + m->session_ms;
  if (m->join) {
    kafka_req *old = m->join;
    m->join = NULL;
    old->hctx = NULL;
    answer_join_error(old, KERR_REBALANCE_IN_PROGRESS, m->id);
  }
  m->join = r;
  r->hctx = m;
  kafka_park(r, join_closed);
  if (g->state != G_PREPARING)
    prepare_rebalance(g);
  maybe_complete(g);
  return 0;
}

/* ---- SyncGroup / Heartbeat / LeaveGroup --------------------------------- */

int handle_sync_group(kafka_req *r) {
  kafka_sync_group_request *req = r->body;
  group *g = find_group(G(r), req->group_id);
  gmember *m = find_member(g, req->member_id);
  if (!m) {
    answer_sync(r, KERR_UNKNOWN_MEMBER_ID, NULL);
    return 0;
  }
  if (req->generation_id != g->generation) {
    answer_sync(r, KERR_ILLEGAL_GENERATION, NULL);
    return 0;
  }
  if ((req->protocol_type.len >= 0 &&
       !streq(g->protocol_type, req->protocol_type)) ||
      (req->protocol_name.len >= 0 &&
       !streq(g->protocol, req->protocol_name))) {
    answer_sync(r, KERR_INCONSISTENT_GROUP_PROTOCOL, NULL);
    return 0;
  }
  m->deadline = net_now_ms() + m->session_ms;
  if (g->state == G_PREPARING) {
    answer_sync(r, KERR_REBALANCE_IN_PROGRESS, NULL);
    return 0;
  }
  if (g->state == G_STABLE) {
    answer_sync(r, 0, m);
    return 0;
  }
  /* CompletingRebalance: the leader's assignment completes it. */
  if (g->leader && strcmp(g->leader, m->id) == 0) {
    for (int32_t i = 0; i < req->assignments.count; i++) {
      kafka_sync_group_request_assignment *a = &req->assignments.items[i];
      gmember *o = find_member(g, a->member_id);
      if (!o)
        continue;
      free(o->assignment);
      int32_t len = a->assignment.len > 0 ? a->assignment.len : 0;
      o->assignment = malloc((size_t)len + 1);
      if (!o->assignment)
        return -1;
      if (len)
        memcpy(o->assignment, a->assignment.ptr, (size_t)len);
      o->assignment_len = len;
    }
    g->state = G_STABLE;
    for (gmember *o = g->members; o; o = o->next)
      if (o->sync) {
        kafka_req *w = o->sync;
        o->sync = NULL;
        w->hctx = NULL;
        answer_sync(w, 0, o);
      }
    answer_sync(r, 0, m);
    return 0;
  }
  if (m->sync) {
    kafka_req *old = m->sync;
    m->sync = NULL;
    old->hctx = NULL;
    answer_sync(old, KERR_REBALANCE_IN_PROGRESS, NULL);
  }
  m->sync = r;
  r->hctx = m;
  kafka_park(r, sync_closed);
  return 0;
}

int handle_heartbeat(kafka_req *r) {
  kafka_heartbeat_request *req = r->body;
  kafka_heartbeat_response *resp =
      kf_new(&r->arena, &kafka_heartbeat_response_desc);
  if (!resp)
    return -1;
  group *g = find_group(G(r), req->group_id);
  gmember *m = find_member(g, req->member_id);
  if (!m)
    resp->error_code = KERR_UNKNOWN_MEMBER_ID;
  else if (req->generation_id != g->generation)
    resp->error_code = KERR_ILLEGAL_GENERATION;
  else {
    m->deadline = net_now_ms() + m->session_ms;
    if (g->state != G_STABLE)
      resp->error_code = KERR_REBALANCE_IN_PROGRESS;
  }
  kafka_respond(r, resp);
  return 0;
}

static int16_t leave_one(group *g, kf_str member, kf_str instance,
                         kf_str reason, kafka_req *r) {
  gmember *m = member.len > 0 ? find_member(g, member) : NULL;
  if (!m)
    m = find_instance(g, instance);
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  kafka_log(r, "group %s: member %s leaves%s%s", g->id, m->id,
            kafka_cstr_ok(reason) && reason.len ? ": " : "",
            kafka_cstr_ok(reason) ? reason.ptr : "");
  remove_member(g, m);
  return 0;
}

int handle_leave_group(kafka_req *r) {
  kafka_leave_group_request *req = r->body;
  kafka_leave_group_response *resp =
      kf_new(&r->arena, &kafka_leave_group_response_desc);
  if (!resp)
    return -1;
  group *g = find_group(G(r), req->group_id);
  int left = 0;
  if (r->version < 3) {
    resp->error_code =
        g ? leave_one(g, req->member_id, kf_null_str(), kf_null_str(), r)
          : KERR_UNKNOWN_MEMBER_ID;
    left = resp->error_code == 0;
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
          g ? leave_one(g, q->member_id, q->group_instance_id, q->reason, r)
            : KERR_UNKNOWN_MEMBER_ID;
      left |= ms[i].error_code == 0;
    }
    resp->members.items = ms;
    resp->members.count = n;
    if (!g)
      resp->error_code = KERR_UNKNOWN_MEMBER_ID;
  }
  if (left)
    after_departure(g);
  kafka_respond(r, resp);
  return 0;
}

/* ---- committed offsets: memory ------------------------------------------ */

static goffset *find_offset(group *g, const char *topic, int32_t partition) {
  for (size_t i = 0; i < g->noffsets; i++)
    if (g->offsets[i].partition == partition &&
        strcmp(g->offsets[i].topic, topic) == 0)
      return &g->offsets[i];
  return NULL;
}

static void drop_offset_at(group *g, size_t i) {
  free(g->offsets[i].topic);
  free(g->offsets[i].meta);
  g->offsets[i] = g->offsets[--g->noffsets];
}

static int set_offset(group *g, const char *topic, int32_t partition,
                      int64_t offset, int32_t epoch, const char *meta,
                      size_t meta_len) {
  goffset *o = find_offset(g, topic, partition);
  char *m = dupn(meta ? meta : "", meta ? meta_len : 0);
  if (!m)
    return -1;
  if (!o) {
    if (g->noffsets == g->capoffsets) {
      size_t cap = g->capoffsets ? g->capoffsets * 2 : 16;
      goffset *no = realloc(g->offsets, cap * sizeof *no);
      if (!no) {
        free(m);
        return -1;
      }
      g->offsets = no;
      g->capoffsets = cap;
    }
    o = &g->offsets[g->noffsets];
    o->topic = strdup(topic);
    if (!o->topic) {
      free(m);
      return -1;
    }
    o->partition = partition;
    o->meta = NULL;
    g->noffsets++;
  }
  free(o->meta);
  o->meta = m;
  o->offset = offset;
  o->epoch = epoch;
  return 0;
}

static void free_group(group *g) {
  for (gmember *m = g->members, *next; m; m = next) {
    next = m->next;
    free_member(m);
  }
  for (size_t i = 0; i < g->noffsets; i++) {
    free(g->offsets[i].topic);
    free(g->offsets[i].meta);
  }
  for (int i = 0; i < g->npending; i++)
    free(g->pending[i]);
  free(g->pending);
  free(g->offsets);
  free(g->id);
  free(g->protocol_type);
  free(g->protocol);
  free(g->leader);
  free(g);
}

static void unlink_group(groups *gs, group *g) {
  group **pp = &gs->list;
  while (*pp && *pp != g)
    pp = &(*pp)->next;
  if (*pp)
    *pp = g->next;
}

/* ---- committed offsets: the log ----------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* Key and value for one offset; the buffers are malloc'ed into rec. */
static int offset_record(nd_record *rec, const char *group_id,
                         const char *topic, int32_t partition,
                         const goffset *o) {
  size_t gl = strlen(group_id), tl = strlen(topic);
  uint8_t *key = malloc(1 + gl + 1 + tl + 1 + 4);
  if (!key)
    return -1;
  key[0] = 'O';
  memcpy(key + 1, group_id, gl + 1);
  memcpy(key + 2 + gl, topic, tl + 1);
  put_be32(key + 3 + gl + tl, (uint32_t)partition);
  memset(rec, 0, sizeof *rec);
  rec->key = key;
  rec->key_len = 7 + gl + tl;
  rec->timestamp = ND_TIMESTAMP_NOW;
  if (o) {
    size_t ml = strlen(o->meta);
    uint8_t *val = malloc(12 + ml + 1);
    if (!val) {
      free(key);
      return -1;
    }
    put_be32(val, (uint32_t)((uint64_t)o->offset >> 32));
    put_be32(val + 4, (uint32_t)o->offset);
    put_be32(val + 8, (uint32_t)o->epoch);
    memcpy(val + 12, o->meta, ml);
    rec->value = val;
    rec->value_len = 12 + ml;
  }
  return 0;
}

static int marker_record(nd_record *rec, char kind, const char *name) {
  size_t l = strlen(name);
  uint8_t *key = malloc(1 + l);
  if (!key)
    return -1;
  key[0] = (uint8_t)kind;
  memcpy(key + 1, name, l);
  memset(rec, 0, sizeof *rec);
  rec->key = key;
  rec->key_len = 1 + l;
  rec->timestamp = ND_TIMESTAMP_NOW;
  return 0;
}

static void free_records(nd_record *recs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free((void *)recs[i].key);
    free((void *)recs[i].value);
  }
  free(recs);
}

static int append_records(groups *gs, nd_record *recs, size_t n,
                          int64_t *last) {
  int rc = 0;
  *last = -1;
  for (size_t i = 0; i < n && rc == 0; i += 500) {
    size_t chunk = n - i < 500 ? n - i : 500;
    nd_append_info ai;
    rc = nd_append(gs->b->store, OFFSETS_TOPIC, 0, recs + i, chunk,
                   ND_APPEND_NOSYNC, &ai);
    if (rc == 0)
      *last = ai.last_offset;
  }
  if (rc == 0)
    gs->log_records += (int64_t)n;
  return rc;
}

static void apply_record(groups *gs, const nd_record_view *v) {
  if (!v->key || v->key_len < 2)
    return;
  const char *k = (const char *)v->key;
  if (k[0] == 'G' || k[0] == 'T') {
    char *name = dupn(k + 1, v->key_len - 1);
    if (!name)
      return;
    for (group *g = gs->list; g; g = g->next)
      for (size_t i = g->noffsets; i-- > 0;)
        if (k[0] == 'T' ? strcmp(g->offsets[i].topic, name) == 0
                        : strcmp(g->id, name) == 0)
          drop_offset_at(g, i);
    free(name);
    return;
  }
  if (k[0] != 'O')
    return;
  const char *gid = k + 1;
  const char *end = k + v->key_len;
  const char *gz = memchr(gid, 0, (size_t)(end - gid));
  if (!gz)
    return;
  const char *topic = gz + 1;
  const char *tz = memchr(topic, 0, (size_t)(end - topic));
  if (!tz || end - tz != 5)
    return;
  int32_t part = (int32_t)get_be32((const uint8_t *)tz + 1);
  group *g = find_group(gs, kf_s(gid));
  if (!g && !(g = new_group(gs, kf_s(gid))))
    return;
  if (!v->value) {
    for (size_t i = 0; i < g->noffsets; i++)
      if (g->offsets[i].partition == part &&
          strcmp(g->offsets[i].topic, topic) == 0) {
        drop_offset_at(g, i);
        break;
      }
    return;
  }
  if (v->value_len < 12)
    return;
  int64_t off =
      (int64_t)((uint64_t)get_be32(v->value) << 32 | get_be32(v->value + 4));
  int32_t epoch = (int32_t)get_be32(v->value + 8);
  set_offset(g, topic, part, off, epoch, (const char *)v->value + 12,
             v->value_len - 12);
}

/* Rewrite the live offsets and move the log start past the old records. */
static void compact(groups *gs, size_t live) {
  nd_record *recs = calloc(live ? live : 1, sizeof *recs);
  if (!recs)
    return;
  size_t n = 0;
  for (group *g = gs->list; g; g = g->next)
    for (size_t i = 0; i < g->noffsets && n < live; i++)
      if (offset_record(&recs[n], g->id, g->offsets[i].topic,
                        g->offsets[i].partition, &g->offsets[i]) == 0)
        n++;
  int64_t ls, hw, last;
  if (nd_offsets(gs->b->store, OFFSETS_TOPIC, 0, &ls, &hw) == 0 &&
      append_records(gs, recs, n, &last) == 0 &&
      nd_sync_partition(gs->b->store, OFFSETS_TOPIC, 0, -1) == 0 &&
      nd_delete_records(gs->b->store, OFFSETS_TOPIC, 0, hw, &ls) == 0)
    gs->log_records = (int64_t)n;
  free_records(recs, n);
}

static int load_offsets(groups *gs) {
  nd_store *st = gs->b->store;
  nd_topic_info info;
  int rc = nd_topic_describe(st, OFFSETS_TOPIC, &info);
  if (rc == ND_ENOTOPIC) {
    nd_topic_config cfg;
    nd_topic_config_init(&cfg);
    nd_topic_config_set(&cfg, "retention.ms", "-1");
    nd_topic_config_set(&cfg, "segment.bytes", "16777216");
    rc = nd_topic_create(st, OFFSETS_TOPIC, 1, &cfg);
    if (rc == ND_ETOPICEXISTS)
      rc = 0;
    return rc;
  }
  if (rc != 0)
    return rc;
  int64_t ls, hw;
  if ((rc = nd_offsets(st, OFFSETS_TOPIC, 0, &ls, &hw)) != 0)
    return rc;
  int64_t pos = ls;
  while (pos < hw) {
    nd_batches nb;
    if ((rc = nd_read(st, OFFSETS_TOPIC, 0, pos, 1 << 20, &nb)) != 0)
      return rc;
    nd_iter it;
    nd_iter_init(&it, nb.data, nb.len, pos, NULL);
    nd_record_view v;
    int more;
    while ((more = nd_iter_next(&it, &v)) == 1) {
      apply_record(gs, &v);
      gs->log_records++;
    }
    nd_iter_close(&it);
    nd_free(nb.data);
    if (more < 0)
      return more;
    if (nb.next_offset <= pos)
      break;
    pos = nb.next_offset;
  }
  size_t live = 0;
  for (group *g = gs->list; g; g = g->next)
    live += g->noffsets;
  if (gs->log_records > 10000 && (size_t)gs->log_records > 4 * live)
    compact(gs, live);
  return 0;
}

/* ---- OffsetCommit ------------------------------------------------------- */

typedef kafka_offset_commit_response_partition oc_part;

typedef struct commit_wait {
  kafka_req *r;
  void *resp;
  oc_part **parts; /* answered partitions, to mark on a failed sync */
  size_t nparts;
} commit_wait;

static void commit_done(void *arg, int rc) {
  commit_wait *w = arg;
  if (rc != 0)
    for (size_t i = 0; i < w->nparts; i++)
      if (w->parts[i]->error_code == 0)
        w->parts[i]->error_code = KERR_KAFKA_STORAGE_ERROR;
  kafka_respond(w->r, w->resp);
}

static int commit_closed(kafka_req *r) {
  (void)r;
  return 0; /* the flusher callback frees it */
}

int handle_offset_commit(kafka_req *r) {
  kafka_offset_commit_request *req = r->body;
  groups *gs = G(r);
  kafka_offset_commit_response *resp =
      kf_new(&r->arena, &kafka_offset_commit_response_desc);
  if (!resp)
    return -1;
  group *g = find_group(gs, req->group_id);
  int32_t gen = req->generation_id_or_member_epoch;
  int16_t gerr = 0;
  if (req->group_id.len <= 0)
    gerr = KERR_INVALID_GROUP_ID;
  else if (gen < 0 && req->member_id.len <= 0) {
    if (g && g->members)
      gerr = KERR_UNKNOWN_MEMBER_ID; /* a simple commit into a live group */
  } else {
    gmember *m = find_member(g, req->member_id);
    if (!g)
      gerr = KERR_ILLEGAL_GENERATION;
    else if (!m)
      gerr = KERR_UNKNOWN_MEMBER_ID;
    else if (gen != g->generation)
      gerr = KERR_ILLEGAL_GENERATION;
    else if (g->state == G_COMPLETING)
      gerr = KERR_REBALANCE_IN_PROGRESS;
    else
      m->deadline = net_now_ms() + m->session_ms;
  }
  if (!gerr && !g && !(g = new_group(gs, req->group_id)))
    return -1;

  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_offset_commit_response_topic *ts =
      kf_new_array(&r->arena, &kafka_offset_commit_response_topic_desc, nt);
  if (nt && !ts)
    return -1;
  resp->topics.items = ts;
  resp->topics.count = nt;
  size_t total = 0;
  for (int32_t i = 0; i < nt; i++)
    total += (size_t)(req->topics.items[i].partitions.count > 0
                          ? req->topics.items[i].partitions.count
                          : 0);
  nd_record *recs = calloc(total ? total : 1, sizeof *recs);
  oc_part **done = kf_alloc(&r->arena, (total ? total : 1) * sizeof *done);
  if (!recs || !done) {
    free(recs);
    return -1;
  }
  size_t nrec = 0, ndone = 0;
  for (int32_t i = 0; i < nt; i++) {
    kafka_offset_commit_request_topic *qt = &req->topics.items[i];
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    oc_part *ps = kf_new_array(
        &r->arena, &kafka_offset_commit_response_partition_desc, np);
    if (np && !ps) {
      free_records(recs, nrec);
      return -1;
    }
    ts[i].name = qt->name;
    ts[i].topic_id = qt->topic_id;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    const char *topic = NULL;
    nd_topic_info info;
    memset(&info, 0, sizeof info);
    int16_t terr = gerr;
    if (!terr) {
      if (r->version >= 10) {
        if (nd_topic_by_id(r->b->store, qt->topic_id.b, &info) == 0)
          topic = kafka_str(r, info.name).ptr;
        else
          terr = KERR_UNKNOWN_TOPIC_ID;
      } else if (kafka_cstr_ok(qt->name) &&
                 nd_topic_describe(r->b->store, qt->name.ptr, &info) == 0) {
        topic = qt->name.ptr;
      } else {
        terr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      }
    }
    for (int32_t j = 0; j < np; j++) {
      kafka_offset_commit_request_partition *qp = &qt->partitions.items[j];
      ps[j].partition_index = qp->partition_index;
      if (terr) {
        ps[j].error_code = terr;
        continue;
      }
      if (qp->partition_index < 0 || qp->partition_index >= info.partitions) {
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      const char *meta = kafka_cstr_ok(qp->committed_metadata)
                             ? qp->committed_metadata.ptr
                             : "";
      if (set_offset(g, topic, qp->partition_index, qp->committed_offset,
                     qp->committed_leader_epoch, meta, strlen(meta)) != 0 ||
          offset_record(&recs[nrec], g->id, topic, qp->partition_index,
                        find_offset(g, topic, qp->partition_index)) != 0) {
        ps[j].error_code = KERR_UNKNOWN_SERVER_ERROR;
        continue;
      }
      nrec++;
      done[ndone++] = &ps[j];
    }
  }
  if (nrec == 0) {
    free(recs);
    kafka_respond(r, resp);
    return 0;
  }
  int64_t last;
  int rc = append_records(gs, recs, nrec, &last);
  free_records(recs, nrec);
  if (rc != 0) {
    kafka_log(r, "storing offsets failed: %s", nd_errmsg());
    for (size_t i = 0; i < ndone; i++)
      done[i]->error_code = KERR_KAFKA_STORAGE_ERROR;
    kafka_respond(r, resp);
    return 0;
  }
  commit_wait *w = kf_alloc(&r->arena, sizeof *w);
  if (!w)
    return -1;
  w->r = r;
  w->resp = resp;
  w->parts = done;
  w->nparts = ndone;
  if (r->b->flusher) {
    kafka_park(r, commit_closed);
    if (flusher_request(r->b->flusher, OFFSETS_TOPIC, 0, last, commit_done,
                        w) == 0)
      return 0;
    kafka_unpark(r);
  }
  commit_done(w, nd_sync_partition(r->b->store, OFFSETS_TOPIC, 0, last));
  return 0;
}

/* ---- OffsetFetch -------------------------------------------------------- */

static void fill_fetched(group *g, const char *topic, int32_t part,
                         kafka_req *r, int64_t *offset, int32_t *epoch,
                         kf_str *meta) {
  goffset *o = g && topic ? find_offset(g, topic, part) : NULL;
  *offset = o ? o->offset : -1;
  *epoch = o ? o->epoch : -1;
  *meta = kafka_str(r, o ? o->meta : "");
}

/* One group's answer for v8+ (and, reshaped, for v1-7). */
static int fetch_group(kafka_req *r, group *g, int all,
                       kafka_offset_fetch_request_topics *qts, int32_t nqt,
                       kafka_offset_fetch_response_group *out) {
  if (all) {
    /* Every committed partition, grouped by topic. */
    size_t n = g ? g->noffsets : 0;
    kafka_offset_fetch_response_topics *ts = kf_new_array(
        &r->arena, &kafka_offset_fetch_response_topics_desc, (int32_t)n);
    if (n && !ts)
      return -1;
    int32_t nt = 0;
    for (size_t i = 0; i < n; i++) {
      goffset *o = &g->offsets[i];
      int32_t t;
      for (t = 0; t < nt; t++)
        if (strcmp(ts[t].name.ptr, o->topic) == 0)
          break;
      if (t == nt) {
        ts[nt].name = kafka_str(r, o->topic);
        nd_topic_info info;
        if (nd_topic_describe(r->b->store, o->topic, &info) == 0)
          memcpy(ts[nt].topic_id.b, info.id, 16);
        ts[nt].partitions.items = kf_new_array(
            &r->arena, &kafka_offset_fetch_response_partitions_desc,
            (int32_t)n);
        if (!ts[nt].partitions.items)
          return -1;
        nt++;
      }
      kafka_offset_fetch_response_partitions *p =
          &ts[t].partitions.items[ts[t].partitions.count++];
      p->partition_index = o->partition;
      fill_fetched(g, o->topic, o->partition, r, &p->committed_offset,
                   &p->committed_leader_epoch, &p->metadata);
    }
    out->topics.items = ts;
    out->topics.count = nt;
    return 0;
  }
  kafka_offset_fetch_response_topics *ts =
      kf_new_array(&r->arena, &kafka_offset_fetch_response_topics_desc, nqt);
  if (nqt && !ts)
    return -1;
  for (int32_t i = 0; i < nqt; i++) {
    kafka_offset_fetch_request_topics *q = &qts[i];
    const char *topic = kafka_cstr_ok(q->name) ? q->name.ptr : NULL;
    int16_t terr = 0;
    if (r->version >= 10) {
      nd_topic_info info;
      if (nd_topic_by_id(r->b->store, q->topic_id.b, &info) == 0)
        topic = kafka_str(r, info.name).ptr;
      else
        terr = KERR_UNKNOWN_TOPIC_ID;
    }
    int32_t np =
        q->partition_indexes.count > 0 ? q->partition_indexes.count : 0;
    kafka_offset_fetch_response_partitions *ps = kf_new_array(
        &r->arena, &kafka_offset_fetch_response_partitions_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = q->name;
    ts[i].topic_id = q->topic_id;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    for (int32_t j = 0; j < np; j++) {
      ps[j].partition_index = q->partition_indexes.items[j];
      ps[j].error_code = terr;
      fill_fetched(g, topic, ps[j].partition_index, r, &ps[j].committed_offset,
                   &ps[j].committed_leader_epoch, &ps[j].metadata);
    }
  }
  out->topics.items = ts;
  out->topics.count = nqt;
  return 0;
}

int handle_offset_fetch(kafka_req *r) {
  kafka_offset_fetch_request *req = r->body;
  groups *gs = G(r);
  kafka_offset_fetch_response *resp =
      kf_new(&r->arena, &kafka_offset_fetch_response_desc);
  if (!resp)
    return -1;
  if (r->version >= 8) {
    int32_t n = req->groups.count > 0 ? req->groups.count : 0;
    kafka_offset_fetch_response_group *out =
        kf_new_array(&r->arena, &kafka_offset_fetch_response_group_desc, n);
    if (n && !out)
      return -1;
    for (int32_t i = 0; i < n; i++) {
      kafka_offset_fetch_request_group *q = &req->groups.items[i];
      out[i].group_id = q->group_id;
      if (fetch_group(r, find_group(gs, q->group_id),
                      q->topics.count<0, q->topics.items, q->topics.count> 0
                          ? q->topics.count
                          : 0,
                      &out[i]))
        return -1;
    }
    resp->groups.items = out;
    resp->groups.count = n;
    kafka_respond(r, resp);
    return 0;
  }
  /* v1-7: one group; reuse the v8 shapes, then copy into the old ones. */
  int32_t nq = req->topics.count > 0 ? req->topics.count : 0;
  kafka_offset_fetch_request_topics *qts =
      kf_new_array(&r->arena, &kafka_offset_fetch_request_topics_desc, nq);
  if (nq && !qts)
    return -1;
  for (int32_t i = 0; i < nq; i++) {
    qts[i].name = req->topics.items[i].name;
    qts[i].partition_indexes.items =
        req->topics.items[i].partition_indexes.items;
    qts[i].partition_indexes.count =
        req->topics.items[i].partition_indexes.count;
  }
  kafka_offset_fetch_response_group one;
  memset(&one, 0, sizeof one);
  if (fetch_group(r, find_group(gs, req->group_id), req->topics.count < 0, qts,
                  nq, &one))
    return -1;
  int32_t nt = one.topics.count;
  kafka_offset_fetch_response_topic *ts =
      kf_new_array(&r->arena, &kafka_offset_fetch_response_topic_desc, nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    int32_t np = one.topics.items[i].partitions.count;
    kafka_offset_fetch_response_partition *ps = kf_new_array(
        &r->arena, &kafka_offset_fetch_response_partition_desc, np);
    if (np && !ps)
      return -1;
    for (int32_t j = 0; j < np; j++) {
      kafka_offset_fetch_response_partitions *s =
          &one.topics.items[i].partitions.items[j];
      ps[j].partition_index = s->partition_index;
      ps[j].committed_offset = s->committed_offset;
      ps[j].committed_leader_epoch = s->committed_leader_epoch;
      ps[j].metadata = s->metadata;
      ps[j].error_code = s->error_code;
    }
    ts[i].name = one.topics.items[i].name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

/* ---- ListGroups / DescribeGroups / DeleteGroups ------------------------- */

static int in_filter(const char *v, kf_str *items, int32_t n) {
  if (n <= 0)
    return 1;
  for (int32_t i = 0; i < n; i++)
    if (kafka_cstr_ok(items[i]) && strcasecmp(items[i].ptr, v) == 0)
      return 1;
  return 0;
}

int handle_list_groups(kafka_req *r) {
  kafka_list_groups_request *req = r->body;
  kafka_list_groups_response *resp =
      kf_new(&r->arena, &kafka_list_groups_response_desc);
  if (!resp)
    return -1;
  int32_t n = 0;
  for (group *g = G(r)->list; g; g = g->next)
    n++;
  kafka_list_groups_response_listed_group *ls =
      kf_new_array(&r->arena, &kafka_list_groups_response_listed_group_desc, n);
  if (n && !ls)
    return -1;
  int32_t k = 0;
  for (group *g = G(r)->list; g; g = g->next) {
    if (!in_filter(state_names[g->state], req->states_filter.items,
                   req->states_filter.count) ||
        !in_filter("classic", req->types_filter.items, req->types_filter.count))
      continue;
    ls[k].group_id = kafka_str(r, g->id);
    ls[k].protocol_type =
        kafka_str(r, g->protocol_type ? g->protocol_type : "");
    ls[k].group_state = kf_s(state_names[g->state]);
    ls[k].group_type = kf_s("classic");
    k++;
  }
  resp->groups.items = ls;
  resp->groups.count = k;
  kafka_respond(r, resp);
  return 0;
}

int handle_describe_groups(kafka_req *r) {
  kafka_describe_groups_request *req = r->body;
  kafka_describe_groups_response *resp =
      kf_new(&r->arena, &kafka_describe_groups_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->groups.count > 0 ? req->groups.count : 0;
  kafka_describe_groups_response_described_group *ds = kf_new_array(
      &r->arena, &kafka_describe_groups_response_described_group_desc, n);
  if (n && !ds)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    group *g = find_group(G(r), req->groups.items[i]);
    ds[i].group_id = req->groups.items[i];
    ds[i].error_message = kf_null_str();
    if (!g) {
      ds[i].group_state = kf_s("Dead");
      if (r->version >= 6) {
        ds[i].error_code = KERR_GROUP_ID_NOT_FOUND;
        ds[i].error_message = kafka_str(r, "no such group");
      }
      continue;
    }
    ds[i].group_state = kf_s(state_names[g->state]);
    ds[i].protocol_type =
        kafka_str(r, g->protocol_type ? g->protocol_type : "");
    ds[i].protocol_data = kafka_str(
        r, g->state == G_STABLE || g->state == G_COMPLETING ? g->protocol : "");
    int32_t nm = nmembers(g), k = 0;
    kafka_describe_groups_response_described_group_member *ms = kf_new_array(
        &r->arena, &kafka_describe_groups_response_described_group_member_desc,
        nm);
    if (nm && !ms)
      return -1;
    for (gmember *m = g->members; m; m = m->next, k++) {
      const gproto *p = member_proto(m, g->protocol);
      ms[k].member_id = kafka_str(r, m->id);
      ms[k].group_instance_id = kafka_str(r, m->instance_id);
      ms[k].client_id = kafka_str(r, m->client_id ? m->client_id : "");
      ms[k].client_host = kafka_str(r, m->client_host ? m->client_host : "");
      ms[k].member_metadata.ptr = p ? p->meta : NULL;
      ms[k].member_metadata.len = p ? p->len : 0;
      ms[k].member_assignment.ptr = m->assignment;
      ms[k].member_assignment.len = m->assignment ? m->assignment_len : 0;
    }
    ds[i].members.items = ms;
    ds[i].members.count = nm;
  }
  resp->groups.items = ds;
  resp->groups.count = n;
  kafka_respond(r, resp);
  return 0;
}

int handle_delete_groups(kafka_req *r) {
  kafka_delete_groups_request *req = r->body;
  groups *gs = G(r);
  kafka_delete_groups_response *resp =
      kf_new(&r->arena, &kafka_delete_groups_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->groups_names.count > 0 ? req->groups_names.count : 0;
  kafka_delete_groups_response_deletable_group_result *rs = kf_new_array(
      &r->arena, &kafka_delete_groups_response_deletable_group_result_desc, n);
  if (n && !rs)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    group *g = find_group(gs, req->groups_names.items[i]);
    rs[i].group_id = req->groups_names.items[i];
    if (!g) {
      rs[i].error_code = KERR_GROUP_ID_NOT_FOUND;
      continue;
    }
    if (g->members) {
      rs[i].error_code = KERR_NON_EMPTY_GROUP;
      continue;
    }
    nd_record rec;
    int64_t last;
    if (marker_record(&rec, 'G', g->id) != 0 ||
        append_records(gs, &rec, 1, &last) != 0) {
      rs[i].error_code = KERR_KAFKA_STORAGE_ERROR;
      if (rec.key)
        free((void *)rec.key);
      continue;
    }
    free((void *)rec.key);
    kafka_log(r, "group %s deleted", g->id);
    unlink_group(gs, g);
    free_group(g);
  }
  resp->results.items = rs;
  resp->results.count = n;
  kafka_respond(r, resp);
  return 0;
}

/* ---- life --------------------------------------------------------------- */

void group_topic_deleted(broker *b, const char *topic) {
  groups *gs = b->groups;
  if (!gs)
    return;
  int had = 0;
  for (group *g = gs->list; g; g = g->next)
    for (size_t i = g->noffsets; i-- > 0;)
      if (strcmp(g->offsets[i].topic, topic) == 0) {
        drop_offset_at(g, i);
        had = 1;
      }
  if (!had)
    return;
  nd_record rec;
  int64_t last;
  if (marker_record(&rec, 'T', topic) == 0) {
    append_records(gs, &rec, 1, &last);
    free((void *)rec.key);
  }
}

int group_is_internal(const char *topic) {
  return strcmp(topic, OFFSETS_TOPIC) == 0;
}

int group_init(broker *b) {
  groups *gs = calloc(1, sizeof *gs);
  if (!gs)
    return -ENOMEM;
  gs->b = b;
  b->groups = gs;
  g_groups = gs;
  int rc = load_offsets(gs);
  if (rc != 0) {
    fprintf(stderr, "nodata: cannot load committed offsets from %s: %s\n",
            OFFSETS_TOPIC, nd_errmsg());
    return rc;
  }
  if (b->loop)
    gs->sweep = net_timer_add(b->loop, SWEEP_MS, sweep, gs);
  return 0;
}

void group_fini(broker *b) {
  groups *gs = b->groups;
  if (!gs)
    return;
  if (gs->sweep && b->loop)
    net_timer_cancel(b->loop, gs->sweep);
  for (group *g = gs->list, *next; g; g = next) {
    next = g->next;
    if (b->loop)
      cancel_join_timer(g, b);
    /* Parked joins and syncs belong to closed connections by now. */
    for (gmember *m = g->members; m; m = m->next) {
      if (m->join)
        m->join->hctx = NULL;
      if (m->sync)
        m->sync->hctx = NULL;
      m->join = m->sync = NULL;
    }
    free_group(g);
  }
  free(gs);
  b->groups = NULL;
  g_groups = NULL;
}
