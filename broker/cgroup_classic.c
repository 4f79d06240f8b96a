/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_classic.c — where Kafka's other group APIs meet consumer groups
 * (KIP-848): ConsumerGroupDescribe, and what OffsetCommit, TxnOffsetCommit,
 * OffsetFetch, ListGroups, DescribeGroups, DeleteGroups and OffsetDelete
 * (coordinator_groups.c, coordinator_offsets.c, handle_txn.c) ask of a
 * consumer group.
 *
 * The answers are Kafka 4.4's (GroupMetadataManager, ConsumerGroup,
 * KafkaApis), checked against a running Kafka by test_cgroup_admin.py:
 *
 *   - a commit with epoch -1 into a group without members is an admin's
 *     (or a "simple" consumer's) and is let in; otherwise the member must
 *     be in the group (UNKNOWN_MEMBER_ID), a consumer-protocol member must
 *     use OffsetCommit v9+ (UNSUPPORTED_VERSION: older versions cannot
 *     carry its epoch), and the epoch must be the member's own, neither
 *     older nor newer (STALE_MEMBER_EPOCH; ILLEGAL_GENERATION for a classic
 *     member, whose "epoch" is its generation);
 *   - a fetch names no member (null id, epoch -1) or one of the group's at
 *     its epoch, with the same errors;
 *   - DescribeGroups is for classic groups only: a consumer group is Dead
 *     there (v6+: GROUP_ID_NOT_FOUND, "Group %s is not a classic group.");
 *     ConsumerGroupDescribe says the mirror of it for classic groups;
 *   - a consumer group can be deleted only when Empty, and its offsets
 *     go with it; OffsetDelete refuses partitions of a topic a member is
 *     subscribed to (GROUP_SUBSCRIBED_TO_TOPIC).
 *
 * Classic members speak the consumer's embedded protocol inside JoinGroup
 * and SyncGroup. Its bytes (Kafka's ConsumerProtocol, big-endian, never
 * flexible):
 *
 *   Subscription v0-3: int16 version, [string topic], nullable bytes
 *     user_data, v1+ [string topic, [int32 partition]] owned_partitions,
 *     v2+ int32 generation_id, v3+ nullable string rack_id
 *   Assignment v0-3:   int16 version, [string topic, [int32 partition]],
 *     nullable bytes user_data
 *
 * where [x] is an int32 count then the items, a string an int16 length
 * then its bytes (-1: null) and bytes an int32 length then the bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "group.h"
#include "logline.h"

/* The assignor of a group whose members name none: the first of Kafka's
 * group.consumer.assignors default ("uniform, range"). */
#ifndef CGROUP_DEFAULT_ASSIGNOR
#define CGROUP_DEFAULT_ASSIGNOR "uniform"
#endif

/* ---- committed offsets -------------------------------------------------- */

/* The error of an OffsetCommit/TxnOffsetCommit whose epoch is not the
 * member's: TxnOffsetCommit below v6 has no STALE_MEMBER_EPOCH (Kafka's
 * TxnOffsetCommitRequest.supportsStaleMemberEpochError), a classic member
 * sends generations. */
static int16_t commit_stale_error(const kafka_req *r, const cg_member *m,
                                  int txn) {
  if (m->type == CGM_TYPE_CLASSIC || (txn && r->version < 6))
    return KERR_ILLEGAL_GENERATION;
  return KERR_STALE_MEMBER_EPOCH;
}

int16_t cgroup_commit_check(kafka_req *r, cgroup *g, const char *member_id,
                            int32_t member_epoch, int txn) {
  /* Epoch -1: the admin client, or a consumer outside group management;
   * it may commit while nobody else is in the group. */
  if (member_epoch < 0 && g->nmembers == 0)
    return 0;
  /* A transactional producer that names no member (generation -1, no
   * member id) commits whoever is in the group, as Kafka 4.4 lets it. */
  if (txn && member_epoch < 0 && (!member_id || !*member_id))
    return 0;
  cg_member *m = cgroup_member(g, member_id ? member_id : "");
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  /* OffsetCommit below v9 has no member epoch to check; the transactional
   * commit carries one from v3 on, and classic members send generations. */
  if (!txn && m->type == CGM_TYPE_CONSUMER && r->version < 9)
    return KERR_UNSUPPORTED_VERSION;
  if (member_epoch == m->epoch)
    return 0;
  /* TxnOffsetCommit below v6 has no STALE_MEMBER_EPOCH: Kafka 4.4 answers
   * ILLEGAL_GENERATION there, as for a classic member. An older epoch is
   * refused here too, but cgroup_commit_lagging lets the caller take the
   * partitions held since then. */
  return commit_stale_error(r, m, txn);
}

const cg_member *cgroup_commit_lagging(broker *b, const char *gid,
                                       const char *member_id, int32_t epoch) {
  cgroup *g = gid ? cgroup_find(b, gid) : NULL;
  const cg_member *m = g && member_id ? cgroup_member(g, member_id) : NULL;
  if (!m || epoch < 0 || epoch >= m->epoch)
    return NULL;
  return m;
}

int16_t cgroup_commit_partition(const cg_member *m, int32_t epoch,
                                const uint8_t topic[16], int32_t partition,
                                int16_t stale) {
  cg_tp tp;
  memcpy(tp.topic.b, topic, 16);
  tp.partition = partition;
  /* Not held (-1), or given after the epoch the commit names: Kafka's
   * "Partition %s-%d is not assigned or pending revocation for member." /
   * "Received member epoch %d is older than assignment epoch %d for
   * partition %s-%d." */
  int32_t given = cgroup_assignment_epoch(m, &tp);
  return given < 0 || epoch < given ? stale : 0;
}

int16_t cgroup_fetch_check(kafka_req *r, cgroup *g, const char *member_id,
                           int32_t member_epoch) {
  (void)r;
  /* No member named: the admin client, or a consumer that does not say. */
  if (!member_id && member_epoch < 0)
    return 0;
  cg_member *m = cgroup_member(g, member_id ? member_id : "");
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  if (member_epoch != m->epoch)
    return m->type == CGM_TYPE_CLASSIC ? KERR_ILLEGAL_GENERATION
                                       : KERR_STALE_MEMBER_EPOCH;
  return 0;
}

int cgroup_subscribed(const cgroup *g, const char *topic) {
  for (const cg_member *m = g->members; m; m = m->next)
    for (int32_t i = 0; i < m->ntopic_names; i++)
      if (strcmp(m->topic_names[i], topic) == 0)
        return 1;
  /* Topics a member's regular expression matched: the last target
   * assignment saw every subscribed topic (Kafka's subscribedTopicNames
   * counts them the same way). */
  if (!g->nmembers)
    return 0;
  for (int32_t i = 0; i < g->ntopics_seen; i++)
    if (g->topics_seen[i].name && strcmp(g->topics_seen[i].name, topic) == 0)
      return 1;
  return 0;
}

/* ---- the embedded consumer protocol ------------------------------------ */

typedef struct rd {
  const uint8_t *p, *end;
  int bad;
} rd;

static int need(rd *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = 1;
    return 0;
  }
  return 1;
}

static int32_t rd_i32(rd *r) {
  if (!need(r, 4))
    return 0;
  uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
               (uint32_t)r->p[2] << 8 | r->p[3];
  r->p += 4;
  return (int32_t)v;
}

static int16_t rd_i16(rd *r) {
  if (!need(r, 2))
    return 0;
  int16_t v = (int16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
  r->p += 2;
  return v;
}

/* A count of items of at least `min` bytes each, checked against what is
 * left, so a forged count cannot make us allocate gigabytes. */
static int32_t rd_count(rd *r, size_t min) {
  int32_t n = rd_i32(r);
  if (n < 0 || (size_t)n > (size_t)(r->end - r->p) / min) {
    r->bad = 1;
    return 0;
  }
  return n;
}

/* A string, malloc'ed; *out NULL for null. 0, or -1 (bad or no memory:
 * r->bad tells which). */
static int rd_str(rd *r, char **out, int nullable) {
  *out = NULL;
  int16_t n = rd_i16(r);
  if (r->bad)
    return -1;
  if (n < 0) {
    r->bad = !nullable || n != -1;
    return r->bad ? -1 : 0;
  }
  if (!need(r, (size_t)n))
    return -1;
  char *s = malloc((size_t)n + 1);
  if (!s)
    return -1;
  memcpy(s, r->p, (size_t)n);
  s[n] = 0;
  r->p += n;
  *out = s;
  return 0;
}

static void rd_skip_bytes(rd *r) {
  int32_t n = rd_i32(r);
  if (n == -1 || r->bad)
    return;
  if (n < 0 || !need(r, (size_t)n)) {
    r->bad = 1;
    return;
  }
  r->p += n;
}

void cg_subscription_free(cg_subscription *s) {
  for (int32_t i = 0; i < s->ntopics; i++)
    free(s->topics[i]);
  free(s->topics);
  for (int32_t i = 0; i < s->nowned; i++) {
    free(s->owned[i].topic);
    free(s->owned[i].partitions);
  }
  free(s->owned);
  free(s->rack);
  memset(s, 0, sizeof *s);
  s->generation = -1;
}

int cg_subscription_parse(const uint8_t *p, size_t len, cg_subscription *out) {
  memset(out, 0, sizeof *out);
  out->generation = -1;
  rd r = {p, p + len, 0};
  int oom = 0;
  out->version = rd_i16(&r);
  if (!r.bad && out->version < 0)
    r.bad = 1;
  int32_t n = rd_count(&r, 2);
  if (n && !r.bad && !(out->topics = calloc((size_t)n, sizeof *out->topics)))
    oom = 1;
  for (int32_t i = 0; i < n && !r.bad && !oom; i++, out->ntopics++)
    if (rd_str(&r, &out->topics[i], 0) < 0)
      oom = !r.bad;
  rd_skip_bytes(&r);
  if (out->version >= 1 && !r.bad && !oom) {
    n = rd_count(&r, 6);
    if (n && !r.bad && !(out->owned = calloc((size_t)n, sizeof *out->owned)))
      oom = 1;
    for (int32_t i = 0; i < n && !r.bad && !oom; i++) {
      cg_owned_topic *t = &out->owned[out->nowned++];
      if (rd_str(&r, &t->topic, 0) < 0) {
        oom = !r.bad;
        break;
      }
      int32_t np = rd_count(&r, 4);
      if (np && !r.bad &&
          !(t->partitions = malloc((size_t)np * sizeof *t->partitions)))
        oom = 1;
      for (int32_t j = 0; j < np && !r.bad && !oom; j++)
        t->partitions[t->npartitions++] = rd_i32(&r);
    }
  }
  if (out->version >= 2 && !r.bad && !oom)
    out->generation = rd_i32(&r);
  if (out->version >= 3 && !r.bad && !oom && rd_str(&r, &out->rack, 1) < 0)
    oom = !r.bad;
  if (r.bad || oom) {
    cg_subscription_free(out);
    return oom ? -ENOMEM : ND_ECORRUPT;
  }
  return 0;
}

static void put16(uint8_t **q, int16_t v) {
  (*q)[0] = (uint8_t)((uint16_t)v >> 8);
  (*q)[1] = (uint8_t)v;
  *q += 2;
}

static void put32(uint8_t **q, int32_t v) {
  uint32_t u = (uint32_t)v;
  (*q)[0] = (uint8_t)(u >> 24);
  (*q)[1] = (uint8_t)(u >> 16);
  (*q)[2] = (uint8_t)(u >> 8);
  (*q)[3] = (uint8_t)u;
  *q += 4;
}

int cg_assignment_encode(nd_store *st, const cg_parts *s, int16_t version,
                         uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int32_t n = s ? s->count : 0;
  /* Names first: the size depends on them. */
  nd_topic_info *infos = n ? calloc((size_t)n, sizeof *infos) : NULL;
  int *known = n ? calloc((size_t)n, sizeof *known) : NULL;
  if (n && (!infos || !known)) {
    free(infos);
    free(known);
    return -ENOMEM;
  }
  size_t size = 2 + 4 + 4; /* version, topic count, null user data */
  int32_t ntopics = 0;
  for (int32_t i = 0; i < n;) {
    int32_t j = i;
    while (j < n && memcmp(s->items[j].topic.b, s->items[i].topic.b, 16) == 0)
      j++;
    if (nd_topic_by_id(st, s->items[i].topic.b, &infos[i]) == 0) {
      known[i] = 1;
      ntopics++;
      size += 2 + strlen(infos[i].name) + 4 + 4 * (size_t)(j - i);
    }
    i = j;
  }
  uint8_t *buf = malloc(size), *q = buf;
  if (!buf) {
    free(infos);
    free(known);
    return -ENOMEM;
  }
  put16(&q, version);
  put32(&q, ntopics);
  for (int32_t i = 0; i < n;) {
    int32_t j = i;
    while (j < n && memcmp(s->items[j].topic.b, s->items[i].topic.b, 16) == 0)
      j++;
    if (known[i]) {
      size_t l = strlen(infos[i].name);
      put16(&q, (int16_t)l);
      memcpy(q, infos[i].name, l);
      q += l;
      put32(&q, j - i);
      for (int32_t k = i; k < j; k++)
        put32(&q, s->items[k].partition);
    }
    i = j;
  }
  put32(&q, -1);
  free(infos);
  free(known);
  *out = buf;
  *len = size;
  return 0;
}

int cg_assignment_decode(nd_store *st, const uint8_t *p, size_t len,
                         cg_parts *out) {
  memset(out, 0, sizeof *out);
  rd r = {p, p + len, 0};
  int16_t version = rd_i16(&r);
  if (version < 0)
    r.bad = 1;
  int32_t n = rd_count(&r, 6);
  for (int32_t i = 0; i < n && !r.bad; i++) {
    char *topic = NULL;
    if (rd_str(&r, &topic, 0) < 0) {
      if (!r.bad) {
        cg_parts_free(out);
        return -ENOMEM;
      }
      break;
    }
    nd_topic_info info;
    kf_uuid id;
    int known = nd_topic_describe(st, topic, &info) == 0;
    if (known)
      memcpy(id.b, info.id, 16);
    free(topic);
    int32_t np = rd_count(&r, 4);
    for (int32_t j = 0; j < np && !r.bad; j++) {
      int32_t part = rd_i32(&r);
      if (known && !r.bad && part >= 0 && cg_parts_add(out, &id, part) < 0) {
        cg_parts_free(out);
        return -ENOMEM;
      }
    }
  }
  rd_skip_bytes(&r);
  if (r.bad) {
    cg_parts_free(out);
    return ND_ECORRUPT;
  }
  return 0;
}

/* ---- classic members ---------------------------------------------------- */

/* What a classic member inside a consumer group said in its JoinGroup
 * (cg_member.classic): the protocol it runs (the first it named, as Kafka
 * picks) and the version of its subscription, which SyncGroup answers
 * in. */
typedef struct cg_classic {
  char *protocol;
  int16_t version;
  /* Every protocol it named, for the classic group a downgrade makes. */
  group_protocol *protocols;
  int32_t nprotocols;
  /* When told to rejoin: the net_now_ms() by which it must (its rebalance
   * timeout later), else it is removed, as Kafka's join timeout does;
   * 0 when not told. */
  int64_t rejoin_by;
} cg_classic;

static void protocols_clear(cg_classic *c) {
  group_protocols_free(&c->protocols, &c->nprotocols);
}

/* Copy one protocol into c; 0 or -1 (no memory). */
static int protocol_add(cg_classic *c, const char *name, const uint8_t *meta,
                        int32_t len) {
  group_protocol *ps =
      realloc(c->protocols, ((size_t)c->nprotocols + 1) * sizeof *ps);
  if (!ps)
    return -1;
  c->protocols = ps;
  group_protocol *p = &ps[c->nprotocols];
  p->len = len > 0 ? len : 0;
  p->name = strdup(name);
  p->meta = malloc(p->len ? (size_t)p->len : 1);
  if (!p->name || !p->meta) {
    free(p->name);
    free(p->meta);
    return -1;
  }
  if (p->len)
    memcpy(p->meta, meta, (size_t)p->len);
  c->nprotocols++;
  return 0;
}

void cgroup_classic_free(void *classic) {
  cg_classic *c = classic;
  if (!c)
    return;
  protocols_clear(c);
  free(c->protocol);
  free(c);
}

static cg_member *static_member(const cgroup *g, const char *inst) {
  for (cg_member *m = g->members; m; m = m->next)
    if (m->instance_id && strcmp(m->instance_id, inst) == 0)
      return m;
  return NULL;
}

/* The member a classic request names (Kafka's validateConsumerGroupMember):
 * 0 with *out set, UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID. A member of
 * the consumer protocol is unknown to the classic APIs. */
static int16_t classic_member(const cgroup *g, const char *member_id,
                              const char *inst, cg_member **out) {
  cg_member *m = inst ? static_member(g, inst)
                      : cgroup_member(g, member_id ? member_id : "");
  *out = NULL;
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  if (inst && (!member_id || strcmp(m->id, member_id)))
    return KERR_FENCED_INSTANCE_ID;
  if (m->type != CGM_TYPE_CLASSIC)
    return KERR_UNKNOWN_MEMBER_ID;
  *out = m;
  return 0;
}

static const cg_parts *target_of(const cgroup *g, const char *member_id);

/* Is a partition m's target gives it still held by another member (so
 * rejoining now would not get it)? Kafka's waitingOnUnreleasedPartition. */
static int waits_on_others(const cgroup *g, const cg_member *m) {
  const cg_parts *t = target_of(g, m->id);
  for (int32_t i = 0; t && i < t->count; i++) {
    const cg_tp *tp = &t->items[i];
    if (cg_parts_contains(&m->assigned, &tp->topic, tp->partition))
      continue;
    for (const cg_member *o = g->members; o; o = o->next)
      if (o != m &&
          (cg_parts_contains(&o->assigned, &tp->topic, tp->partition) ||
           cg_parts_contains(&o->pending_revocation, &tp->topic,
                             tp->partition)))
        return 1;
  }
  return 0;
}

int16_t cgroup_classic_join(kafka_req *r, cgroup *g) {
  kafka_join_group_request *req = r->body;
  const char *member_id = group_cstr(req->member_id);
  const char *inst =
      r->version >= 5 ? group_cstr(req->group_instance_id) : NULL;
  if (!member_id)
    member_id = "";
  /* Kafka's throwIfClassicProtocolIsNotSupported: the consumer's embedded
   * protocol, which the broker can read, and nothing else. */
  const char *ptype = group_cstr(req->protocol_type);
  if (!ptype || strcmp(ptype, "consumer") || req->protocols.count <= 0)
    return KERR_INCONSISTENT_GROUP_PROTOCOL;
  const kafka_join_group_request_protocol *proto = &req->protocols.items[0];
  cg_subscription sub;
  int rc = cg_subscription_parse(
      proto->metadata.ptr,
      proto->metadata.len > 0 ? (size_t)proto->metadata.len : 0, &sub);
  if (rc == -ENOMEM)
    return -1;
  if (rc != 0)
    return KERR_INCONSISTENT_GROUP_PROTOCOL;
  char *made = NULL;
  if (!*member_id) {
    if (!(made = cgroup_new_member_id())) {
      cg_subscription_free(&sub);
      return -1;
    }
    /* KIP-394: a dynamic member comes back with the id it is given. */
    if (!inst && r->version >= 4) {
      group_join_error(r, KERR_MEMBER_ID_REQUIRED, made);
      free(made);
      cg_subscription_free(&sub);
      return 0;
    }
    member_id = made;
  }
  /* The join as the heartbeat it amounts to: the subscription and the
   * partitions the member still owns (none for an eager consumer, which
   * gave everything up before rejoining). */
  kafka_consumer_group_heartbeat_request q;
  memset(&q, 0, sizeof q);
  q.group_id = req->group_id;
  q.member_id = kafka_str(r, member_id);
  free(made);
  cg_member *old =
      inst ? static_member(g, inst) : cgroup_member(g, q.member_id.ptr);
  q.member_epoch = old && old->type == CGM_TYPE_CLASSIC ? old->epoch : 0;
  q.instance_id = inst ? kafka_str(r, inst) : kf_null_str();
  q.rack_id = sub.rack ? kafka_str(r, sub.rack) : kf_null_str();
  q.rebalance_timeout_ms =
      r->version >= 1 ? req->rebalance_timeout_ms : req->session_timeout_ms;
  q.subscribed_topic_regex = kf_null_str();
  q.server_assignor = kf_null_str();
  kf_str *names =
      kf_alloc(&r->arena, ((size_t)sub.ntopics + 1) * sizeof *names);
  kafka_consumer_group_heartbeat_request_topic_partitions *tps =
      kf_alloc(&r->arena, ((size_t)sub.nowned + 1) * sizeof *tps);
  kafka_consumer_group_heartbeat_response *hresp =
      kf_new(&r->arena, &kafka_consumer_group_heartbeat_response_desc);
  if (!names || !tps || !hresp) {
    cg_subscription_free(&sub);
    return -1;
  }
  for (int32_t i = 0; i < sub.ntopics; i++)
    names[i] = kafka_str(r, sub.topics[i]);
  q.subscribed_topic_names.items = names;
  q.subscribed_topic_names.count = sub.ntopics;
  int32_t nt = 0;
  for (int32_t i = 0; i < sub.nowned; i++) {
    nd_topic_info info;
    if (nd_topic_describe(r->b->store, sub.owned[i].topic, &info) != 0)
      continue;
    memcpy(tps[nt].topic_id.b, info.id, 16);
    size_t bytes = (size_t)sub.owned[i].npartitions * sizeof(int32_t);
    int32_t *ps = kf_alloc(&r->arena, bytes ? bytes : 1);
    if (!ps) {
      cg_subscription_free(&sub);
      return -1;
    }
    if (bytes)
      memcpy(ps, sub.owned[i].partitions, bytes);
    tps[nt].partitions.items = ps;
    tps[nt].partitions.count = sub.owned[i].npartitions;
    nt++;
  }
  q.topic_partitions.items = tps;
  q.topic_partitions.count = nt;
  int16_t version = sub.version > 3 ? 3 : sub.version;
  cg_subscription_free(&sub);

  cgroup *gp = NULL;
  int16_t err = cgroup_heartbeat_as(r, &q, hresp, &gp);
  if (err)
    return err;
  cg_member *m = cgroup_member(gp, q.member_id.ptr);
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  cg_classic *c = m->classic;
  if (!c && !(c = calloc(1, sizeof *c)))
    return -1;
  m->classic = c;
  char *pname = strdup(group_cstr(proto->name) ? proto->name.ptr : "");
  if (!pname)
    return -1;
  free(c->protocol);
  c->protocol = pname;
  c->version = version;
  c->rejoin_by = 0;
  protocols_clear(c);
  for (int32_t i = 0; i < req->protocols.count; i++) {
    const kafka_join_group_request_protocol *jp = &req->protocols.items[i];
    if (protocol_add(c, group_cstr(jp->name) ? jp->name.ptr : "",
                     jp->metadata.ptr, jp->metadata.len) != 0)
      return -1;
  }
  m->type = CGM_TYPE_CLASSIC;
  m->session_timeout_ms = req->session_timeout_ms;
  cgroup_member_touch(m);
  cgroup_persist(gp);
  kafka_log(r, BLOG_INFO,
            "group %s: classic member %s joined the consumer group at epoch "
            "%d",
            gp->id, m->id, m->epoch);

  kafka_join_group_response *resp =
      kf_new(&r->arena, &kafka_join_group_response_desc);
  if (!resp)
    return -1;
  /* No leader: the broker assigns (Kafka answers so, and a follower
   * sends an empty SyncGroup). */
  resp->generation_id = m->epoch;
  resp->protocol_type = kf_s("consumer");
  resp->protocol_name = kafka_str(r, c->protocol);
  resp->leader = kf_s("");
  resp->member_id = kafka_str(r, m->id);
  kafka_respond(r, resp);
  return 0;
}

static void sync_respond(kafka_req *r, int16_t err, const cg_member *m) {
  kafka_sync_group_request *req = r->body;
  kafka_sync_group_response *resp =
      kf_new(&r->arena, &kafka_sync_group_response_desc);
  if (!resp) {
    kafka_respond_none(r);
    return;
  }
  resp->error_code = err;
  resp->protocol_type = r->version >= 5 ? kf_null_str() : kf_s("");
  resp->protocol_name = r->version >= 5 ? kf_null_str() : kf_s("");
  if (!err && m) {
    const cg_classic *c = m->classic;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cg_assignment_encode(r->b->store, &m->assigned, c ? c->version : 0,
                             &buf, &len) != 0) {
      kafka_respond_none(r);
      return;
    }
    uint8_t *copy = kf_alloc(&r->arena, len);
    if (!copy) {
      free(buf);
      kafka_respond_none(r);
      return;
    }
    memcpy(copy, buf, len);
    free(buf);
    resp->assignment.ptr = copy;
    resp->assignment.len = (int32_t)len;
    resp->protocol_type =
        req->protocol_type.len >= 0 ? req->protocol_type : kf_s("consumer");
    resp->protocol_name = req->protocol_name.len >= 0
                              ? req->protocol_name
                              : kafka_str(r, c ? c->protocol : "");
  }
  kafka_respond(r, resp);
}

int cgroup_classic_sync(kafka_req *r, cgroup *g) {
  kafka_sync_group_request *req = r->body;
  const char *inst =
      r->version >= 3 ? group_cstr(req->group_instance_id) : NULL;
  cg_member *m = NULL;
  int16_t err = classic_member(g, group_cstr(req->member_id), inst, &m);
  if (!err && req->generation_id != m->epoch)
    err = KERR_ILLEGAL_GENERATION;
  if (!err && r->version >= 5) {
    const cg_classic *c = m->classic;
    const char *pt = group_cstr(req->protocol_type);
    const char *pn = group_cstr(req->protocol_name);
    if ((pt && strcmp(pt, "consumer")) ||
        (pn && c && c->protocol && strcmp(pn, c->protocol)))
      err = KERR_INCONSISTENT_GROUP_PROTOCOL;
  }
  /* A target assignment newer than the join: rejoin first. */
  if (!err && m->epoch < g->assignment_epoch)
    err = KERR_REBALANCE_IN_PROGRESS;
  if (m)
    cgroup_member_touch(m);
  sync_respond(r, err, err ? NULL : m);
  return 0;
}

int cgroup_classic_heartbeat(kafka_req *r, cgroup *g) {
  kafka_heartbeat_request *req = r->body;
  kafka_heartbeat_response *resp =
      kf_new(&r->arena, &kafka_heartbeat_response_desc);
  if (!resp)
    return -1;
  const char *inst =
      r->version >= 3 ? group_cstr(req->group_instance_id) : NULL;
  cg_member *m = NULL;
  resp->error_code = classic_member(g, group_cstr(req->member_id), inst, &m);
  if (!resp->error_code && req->generation_id != m->epoch)
    resp->error_code = KERR_ILLEGAL_GENERATION;
  if (!resp->error_code) {
    cgroup_member_touch(m);
    /* Kafka's rule for a classic member: rejoin when a newer target
     * assignment exists (not merely a newer group epoch: Kafka 4.4 computes
     * the target a moment later), when it has partitions to give up (an eager
     * consumer gives up everything on rejoining, so nothing is consumed twice),
     * or when partitions it waits for are free now. */
    if (m->epoch < g->assignment_epoch ||
        m->state == CGM_UNREVOKED_PARTITIONS ||
        (m->state == CGM_UNRELEASED_PARTITIONS && !waits_on_others(g, m)))
      resp->error_code = KERR_REBALANCE_IN_PROGRESS;
    cg_classic *c = m->classic;
    if (resp->error_code && c) {
      /* A member that heartbeats but never rejoins would keep partitions
       * others wait for: after its rebalance timeout it is removed. */
      int64_t now = net_now_ms();
      if (!c->rejoin_by)
        c->rejoin_by =
            now + (m->rebalance_timeout_ms > 0 ? m->rebalance_timeout_ms
                                               : m->session_timeout_ms);
      else if (now > c->rejoin_by) {
        kafka_log(r, BLOG_INFO,
                  "group %s: classic member %s did not rejoin within its "
                  "rebalance timeout: removed",
                  g->id, m->id);
        cgroup_member_remove(m, "removed: it did not rejoin in time");
        resp->error_code = KERR_UNKNOWN_MEMBER_ID;
      }
    }
  }
  kafka_respond(r, resp);
  return 0;
}

/* One identity of a LeaveGroup: 0 and the member gone, or the error. */
static int16_t leave_one(kafka_req *r, cgroup *g, const char *member_id,
                         const char *inst) {
  cg_member *m = NULL;
  int16_t err = classic_member(g, member_id, inst, &m);
  /* v3+ may name a static member by its instance id alone. */
  if (err == KERR_FENCED_INSTANCE_ID && inst && (!member_id || !*member_id)) {
    m = static_member(g, inst);
    err = m && m->type == CGM_TYPE_CLASSIC ? 0 : KERR_UNKNOWN_MEMBER_ID;
  }
  if (err)
    return err;
  kafka_log(r, BLOG_INFO, "group %s: classic member %s leaves", g->id, m->id);
  cgroup_member_remove(m, "left the group (LeaveGroup)"); /* may free g */
  return 0;
}

int cgroup_classic_leave(kafka_req *r, cgroup *g) {
  kafka_leave_group_request *req = r->body;
  kafka_leave_group_response *resp =
      kf_new(&r->arena, &kafka_leave_group_response_desc);
  if (!resp)
    return -1;
  if (r->version < 3) {
    resp->error_code = leave_one(r, g, group_cstr(req->member_id), NULL);
    kafka_respond(r, resp);
    return 0;
  }
  int32_t n = req->members.count > 0 ? req->members.count : 0;
  kafka_leave_group_response_member_response *ms = kf_new_array(
      &r->arena, &kafka_leave_group_response_member_response_desc, n);
  if (n && !ms)
    return -1;
  /* A leave may turn the group into a classic one (the downgrade), which
   * frees g: look it up again for each identity. */
  const char *gid = group_cstr(req->group_id);
  for (int32_t i = 0; i < n; i++) {
    const kafka_leave_group_request_member_identity *id =
        &req->members.items[i];
    ms[i].member_id = id->member_id;
    ms[i].group_instance_id = id->group_instance_id;
    cgroup *now = cgroup_find(r->b, gid);
    ms[i].error_code = now ? leave_one(r, now, group_cstr(id->member_id),
                                       group_cstr(id->group_instance_id))
                           : KERR_UNKNOWN_MEMBER_ID;
  }
  resp->members.items = ms;
  resp->members.count = n;
  kafka_respond(r, resp);
  return 0;
}

/* ---- the online upgrade -------------------------------------------------- */

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One classic member as a classic member of the consumer group c. */
static int16_t convert_member(kafka_req *r, const group *cl, const gmember *gm,
                              cgroup *c, cg_member **out) {
  const group_protocol *p =
      cl->protocol ? group_member_protocol(gm, cl->protocol) : NULL;
  if (!p && gm->nprotocols > 0)
    p = &gm->protocols[0];
  if (!p)
    return KERR_GROUP_ID_NOT_FOUND;
  cg_subscription sub;
  int rc =
      cg_subscription_parse(p->meta, p->len > 0 ? (size_t)p->len : 0, &sub);
  if (rc != 0)
    return rc == -ENOMEM ? KERR_UNKNOWN_SERVER_ERROR : KERR_GROUP_ID_NOT_FOUND;
  cg_member *m = calloc(1, sizeof *m);
  cg_classic *cc = calloc(1, sizeof *cc);
  int ok = m && cc;
  if (ok) {
    m->classic = cc;
    m->type = CGM_TYPE_CLASSIC;
    m->state = CGM_STABLE;
    m->epoch = m->previous_epoch = cl->generation;
    m->rebalance_timeout_ms = gm->rebalance_ms;
    m->session_timeout_ms = gm->session_ms;
    cc->version = sub.version > 3 ? 3 : sub.version;
    ok = (m->id = strdup(gm->id)) && (cc->protocol = strdup(p->name)) &&
         (!gm->instance_id || (m->instance_id = strdup(gm->instance_id))) &&
         (!gm->client_id || (m->client_id = strdup(gm->client_id))) &&
         (!gm->client_host || (m->client_host = strdup(gm->client_host))) &&
         (!sub.rack || (m->rack_id = strdup(sub.rack)));
  }
  for (int32_t i = 0; ok && i < gm->nprotocols; i++)
    ok = protocol_add(cc, gm->protocols[i].name, gm->protocols[i].meta,
                      gm->protocols[i].len) == 0;
  if (ok) {
    /* The subscription, sorted as cgroup.c keeps it; taken from sub. */
    m->topic_names = sub.topics;
    m->ntopic_names = sub.ntopics;
    sub.topics = NULL;
    sub.ntopics = 0;
    if (m->ntopic_names > 1)
      qsort(m->topic_names, (size_t)m->ntopic_names, sizeof(char *), name_cmp);
    if (gm->assignment && cg_assignment_decode(r->b->store, gm->assignment,
                                               (size_t)gm->assignment_len,
                                               &m->assigned) == -ENOMEM)
      ok = 0;
  }
  cg_subscription_free(&sub);
  if (!ok) {
    if (m && !m->classic)
      free(cc);
    /* Not linked yet: cgroup_free of the group frees what is linked. */
    *out = m;
    return KERR_UNKNOWN_SERVER_ERROR;
  }
  (void)c;
  *out = m;
  return 0;
}

int16_t cgroup_from_classic(kafka_req *r, group *cl) {
  broker *b = r->b;
  int policy = b->cfg.cg_migration_policy;
  if (policy != CG_MIGRATE_UPGRADE && policy != CG_MIGRATE_BIDIRECTIONAL) {
    kafka_log(r, BLOG_INFO,
              "group %s: not upgraded to a consumer group: "
              "group.consumer.migration.policy does not allow it",
              cl->id);
    return KERR_GROUP_ID_NOT_FOUND;
  }
  if (!cl->protocol_type || strcmp(cl->protocol_type, "consumer") ||
      cl->nmembers > b->cfg.cg_max_size) {
    kafka_log(r, BLOG_INFO,
              "group %s: not upgraded to a consumer group: its protocol type "
              "is %s with %d member(s)",
              cl->id, cl->protocol_type ? cl->protocol_type : "(none)",
              cl->nmembers);
    return KERR_GROUP_ID_NOT_FOUND;
  }
  cgroup *c = calloc(1, sizeof *c);
  int32_t n = cl->nmembers;
  if (!c || !(c->id = strdup(cl->id)) ||
      !(c->target_ids = calloc((size_t)n + 1, sizeof *c->target_ids)) ||
      !(c->target = calloc((size_t)n + 1, sizeof *c->target))) {
    cgroup_free(c);
    return KERR_UNKNOWN_SERVER_ERROR;
  }
  c->b = b;
  c->epoch = c->assignment_epoch = cl->generation;
  cg_member **tail = &c->members;
  int16_t err = 0;
  for (const gmember *gm = cl->members; gm && !err; gm = gm->next) {
    cg_member *m = NULL;
    err = convert_member(r, cl, gm, c, &m);
    if (m) {
      *tail = m;
      tail = &m->next;
      c->nmembers++;
    }
    if (!err) {
      /* Its assignment is its target until the next epoch's. */
      c->target_ids[c->ntarget] = strdup(m->id);
      if (!c->target_ids[c->ntarget] ||
          cg_parts_copy(&m->assigned, &c->target[c->ntarget]) != 0) {
        free(c->target_ids[c->ntarget]);
        c->target_ids[c->ntarget] = NULL;
        err = KERR_UNKNOWN_SERVER_ERROR;
      } else {
        c->ntarget++;
      }
    }
  }
  if (err) {
    kafka_log(r, BLOG_WARN,
              "group %s: not upgraded to a consumer group: a member's "
              "embedded consumer protocol is malformed (or out of memory)",
              cl->id);
    cgroup_free(c);
    return err;
  }
  kafka_log(r, BLOG_INFO,
            "group %s: classic group of %d member(s) at generation %d "
            "upgraded to a consumer group",
            cl->id, cl->nmembers, cl->generation);
  group_drop(b->groups, cl, KERR_REBALANCE_IN_PROGRESS);
  cgroup_link(b, c);
  for (cg_member *m = c->members; m; m = m->next) {
    m->g = c;
    cgroup_member_touch(m);
  }
  cgroup_update_state(c);
  cgroup_persist(c);
  return 0;
}

/* ---- the online downgrade ------------------------------------------------ */

int cgroup_maybe_downgrade(cgroup *g, const cg_member *leaving) {
  broker *b = g->b;
  int policy = b->cfg.cg_migration_policy;
  if (policy != CG_MIGRATE_DOWNGRADE && policy != CG_MIGRATE_BIDIRECTIONAL)
    return 0;
  const cg_member *first_left = NULL;
  for (const cg_member *m = g->members; m; m = m->next) {
    const cg_classic *c = m->classic;
    if (m == leaving)
      continue;
    if (m->type != CGM_TYPE_CLASSIC || !c || !c->protocol || !c->nprotocols)
      return 0;
    if (!first_left)
      first_left = m;
  }
  if (!first_left)
    return 0; /* nobody left: it stays an (empty) consumer group */
  int32_t n = g->nmembers;
  group_member_spec *specs = calloc((size_t)n, sizeof *specs);
  uint8_t **bufs = calloc((size_t)n, sizeof *bufs);
  int ok = specs && bufs;
  int32_t k = 0;
  for (const cg_member *m = g->members; ok && m && k < n; m = m->next) {
    if (m == leaving)
      continue;
    const cg_classic *c = m->classic;
    size_t len = 0;
    ok = cg_assignment_encode(b->store, &m->assigned, c->version, &bufs[k],
                              &len) == 0;
    specs[k] = (group_member_spec){
        m->id,          m->instance_id,        m->client_id,
        m->client_host, m->session_timeout_ms, m->rebalance_timeout_ms,
        c->protocols,   c->nprotocols,         bufs[k],
        (int32_t)len};
    k++;
  }
  const cg_classic *first = first_left->classic;
  if (ok)
    ok =
        group_from_consumer(b, g->id, g->epoch, first->protocol, specs, k) == 0;
  for (int32_t i = 0; bufs && i < k; i++)
    free(bufs[i]);
  free(bufs);
  free(specs);
  if (!ok) {
    blog_warn("group",
              "group %s: only classic members are left but it stays a "
              "consumer group: out of memory",
              g->id);
    return 0;
  }
  blog_info("group",
            "group %s: only classic members are left: downgraded to a "
            "classic group at generation %d",
            g->id, g->epoch);
  cgroup_forget(b, g);
  return 1;
}

/* ---- ConsumerGroupDescribe ---------------------------------------------- */

typedef kafka_consumer_group_describe_response_described_group cgd_group;
typedef kafka_consumer_group_describe_response_member cgd_member;
typedef kafka_consumer_group_describe_response_assignment cgd_assignment;
typedef kafka_consumer_group_describe_response_topic_partitions cgd_topic;

/* A set of partitions as the answer's assignment: one entry per topic,
 * named. A topic deleted meanwhile is left out, as Kafka leaves out what
 * its metadata image no longer has. -1 on allocation failure. */
static int describe_parts(kafka_req *r, const cg_parts *s,
                          cgd_assignment *out) {
  out->topic_partitions.count = 0;
  if (!s || s->count <= 0)
    return 0;
  cgd_topic *ts = kf_new_array(
      &r->arena, &kafka_consumer_group_describe_response_topic_partitions_desc,
      s->count);
  int32_t *parts = kf_alloc(&r->arena, (size_t)s->count * sizeof *parts);
  if (!ts || !parts)
    return -1;
  int32_t nt = 0;
  for (int32_t i = 0; i < s->count;) {
    int32_t j = i;
    /* Items are sorted by topic, so a topic's partitions are together. */
    while (j < s->count &&
           memcmp(s->items[j].topic.b, s->items[i].topic.b, 16) == 0)
      j++;
    nd_topic_info info;
    if (nd_topic_by_id(r->b->store, s->items[i].topic.b, &info) == 0) {
      cgd_topic *t = &ts[nt++];
      t->topic_id = s->items[i].topic;
      t->topic_name = kafka_str(r, info.name);
      for (int32_t k = i; k < j; k++)
        parts[k] = s->items[k].partition;
      t->partitions.items = parts + i;
      t->partitions.count = j - i;
    }
    i = j;
  }
  out->topic_partitions.items = ts;
  out->topic_partitions.count = nt;
  return 0;
}

/* The member's partitions in the group's target assignment, or NULL. */
static const cg_parts *target_of(const cgroup *g, const char *member_id) {
  for (int32_t i = 0; i < g->ntarget; i++)
    if (strcmp(g->target_ids[i], member_id) == 0)
      return &g->target[i];
  return NULL;
}

/* Kafka's ConsumerGroup.preferredServerAssignor: the assignor most
 * members name (the first of them to join on a tie), else the broker's
 * default. */
static const char *preferred_assignor(const cgroup *g) {
  const char *best = NULL;
  int32_t best_n = 0;
  for (const cg_member *m = g->members; m; m = m->next) {
    if (!m->server_assignor)
      continue;
    int32_t n = 0;
    for (const cg_member *o = g->members; o; o = o->next)
      n += o->server_assignor &&
           strcmp(o->server_assignor, m->server_assignor) == 0;
    if (n > best_n) {
      best = m->server_assignor;
      best_n = n;
    }
  }
  return best ? best : CGROUP_DEFAULT_ASSIGNOR;
}

static int describe_member(kafka_req *r, const cgroup *g, const cg_member *m,
                           cgd_member *d) {
  d->member_id = kafka_str(r, m->id);
  d->instance_id = kafka_str(r, m->instance_id);
  d->rack_id = kafka_str(r, m->rack_id);
  d->member_epoch = m->epoch;
  d->client_id = kafka_str(r, m->client_id ? m->client_id : "");
  d->client_host = kafka_str(r, m->client_host ? m->client_host : "");
  d->subscribed_topic_names.count = 0;
  if (m->ntopic_names > 0) {
    kf_str *names =
        kf_alloc(&r->arena, (size_t)m->ntopic_names * sizeof *names);
    if (!names)
      return -1;
    for (int32_t i = 0; i < m->ntopic_names; i++)
      names[i] = kafka_str(r, m->topic_names[i]);
    d->subscribed_topic_names.items = names;
    d->subscribed_topic_names.count = m->ntopic_names;
  }
  /* Kafka 4.4 answers "" for a member without a regex, not null. */
  d->subscribed_topic_regex = kafka_str(r, m->regex ? m->regex : "");
  d->member_type = (int8_t)m->type;
  if (describe_parts(r, &m->assigned, &d->assignment) < 0 ||
      describe_parts(r, target_of(g, m->id), &d->target_assignment) < 0)
    return -1;
  return 0;
}

static int describe_group(kafka_req *r, const char *gid, int ops,
                          cgd_group *d) {
  d->group_state = kf_s("");
  d->assignor_name = kf_s("");
  cgroup *g = cgroup_find(r->b, gid);
  if (!g || g->state == CG_DEAD) {
    /* GroupMetadataManager.consumerGroup's words, for an unknown id and
     * for a classic group. */
    int classic = group_find(r->b->groups, gid) || group_has_offsets(r, gid);
    const char *fmt =
        classic ? "Group %s is not a consumer group." : "Group %s not found.";
    size_t len = strlen(fmt) + strlen(gid);
    char *msg = kf_alloc(&r->arena, len);
    if (!msg)
      return -1;
    snprintf(msg, len, fmt, gid);
    d->error_code = KERR_GROUP_ID_NOT_FOUND;
    d->error_message = kf_s(msg);
    return 0;
  }
  d->group_state = kf_s(cgroup_state_name(g->state));
  d->group_epoch = g->epoch;
  d->assignment_epoch = g->assignment_epoch;
  d->assignor_name = kafka_str(r, preferred_assignor(g));
  if (ops)
    d->authorized_operations = kafka_authorized_ops(
        r, ACL_RES_GROUP, gid, strlen(gid), KAFKA_OPS_GROUP);
  cgd_member *ms = kf_new_array(
      &r->arena, &kafka_consumer_group_describe_response_member_desc,
      g->nmembers);
  if (g->nmembers && !ms)
    return -1;
  int32_t k = 0;
  for (const cg_member *m = g->members; m && k < g->nmembers; m = m->next)
    if (describe_member(r, g, m, &ms[k++]) < 0)
      return -1;
  d->members.items = ms;
  d->members.count = k;
  return 0;
}

static int topics_describable(kafka_req *r, const cgd_assignment *a) {
  for (int32_t i = 0; i < a->topic_partitions.count; i++)
    if (!kafka_authorize_str(r, ACL_RES_TOPIC,
                             a->topic_partitions.items[i].topic_name,
                             ACL_OP_DESCRIBE))
      return 0;
  return 1;
}

/* As Kafka 4.4's KafkaApis: a described group whose members subscribe to
 * or hold a topic the principal may not DESCRIBE is answered with
 * TOPIC_AUTHORIZATION_FAILED and nothing else, so a group's description
 * never reveals a topic its reader could not see in Metadata. */
static void hide_undescribable(kafka_req *r, cgd_group *d) {
  for (int32_t i = 0; i < d->members.count; i++) {
    const cgd_member *m = &d->members.items[i];
    int ok = topics_describable(r, &m->assignment) &&
             topics_describable(r, &m->target_assignment);
    for (int32_t j = 0; ok && j < m->subscribed_topic_names.count; j++)
      ok = kafka_authorize_str(r, ACL_RES_TOPIC,
                               m->subscribed_topic_names.items[j],
                               ACL_OP_DESCRIBE);
    if (!ok) {
      kf_str id = d->group_id;
      memset(d, 0, sizeof *d);
      d->group_id = id;
      d->group_state = kf_s("");
      d->assignor_name = kf_s("");
      d->authorized_operations = INT32_MIN;
      d->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      d->error_message = kf_s("The described group uses topics that the "
                              "client is not authorized to describe.");
      return;
    }
  }
}

int handle_consumer_group_describe(kafka_req *r) {
  kafka_consumer_group_describe_request *req = r->body;
  kafka_consumer_group_describe_response *resp =
      kf_new(&r->arena, &kafka_consumer_group_describe_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->group_ids.count > 0 ? req->group_ids.count : 0;
  cgd_group *ds = kf_new_array(
      &r->arena, &kafka_consumer_group_describe_response_described_group_desc,
      n);
  if (n && !ds)
    return -1;
  /* Kafka's order: the groups the principal may not DESCRIBE (KafkaApis),
   * then the invalid ids (GroupCoordinatorService), then the rest as
   * asked. */
  enum { DENIED, INVALID, OK };
  uint8_t *cls = kf_alloc(&r->arena, (size_t)n + 1);
  if (!cls)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kf_str id = req->group_ids.items[i];
    const char *gid = group_cstr(id);
    cls[i] = !kafka_authorize_str(r, ACL_RES_GROUP, id, ACL_OP_DESCRIBE)
                 ? DENIED
             : !gid || !*gid ? INVALID
                             : OK;
  }
  int32_t k = 0;
  for (int pass = DENIED; pass <= OK; pass++)
    for (int32_t i = 0; i < n; i++) {
      if (cls[i] != pass)
        continue;
      cgd_group *d = &ds[k++];
      d->group_id = req->group_ids.items[i];
      d->group_state = kf_s("");
      d->assignor_name = kf_s("");
      if (pass == DENIED)
        d->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
      else if (pass == INVALID)
        d->error_code = KERR_INVALID_GROUP_ID;
      else if (describe_group(r, group_cstr(d->group_id),
                              req->include_authorized_operations, d) < 0)
        return -1;
      else if (!d->error_code)
        hide_undescribable(r, d);
    }
  resp->groups.items = ds;
  resp->groups.count = k;
  kafka_respond(r, resp);
  return 0;
}
