/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_groups.c — /api/groups...: consumer groups as Kafka's admin
 * tools see them (docs/http-api.md, "Consumer groups").
 *
 * Groups are assembled from these Kafka requests, each sent once for all
 * the groups of a call (so the list of a thousand groups costs five round
 * trips, not thousands):
 *   ListGroups v5             which groups, their type and state;
 *   DescribeGroups v5         classic groups: protocol, members, and each
 *                             member's assignment (ConsumerProtocol bytes);
 *   ConsumerGroupDescribe v1  consumer groups (KIP-848): assignor, members
 *                             with their assignments by topic name;
 *   OffsetFetch v8            every group's committed offsets at once (the
 *                             first version taking many groups);
 *   ListOffsets v7 (latest)   the log end of every partition named, for the
 *                             lag, Kafka's: log end - committed.
 *
 * Resetting offsets follows kafka-consumer-groups.sh --reset-offsets: the
 * new offsets are computed from ListOffsets (earliest, latest, by time)
 * and clamped to [log start, log end]; --execute commits them as the
 * AdminClient's alterConsumerGroupOffsets does (OffsetCommit with
 * generation -1 and no member), which the broker takes only while the
 * group has no members: Kafka 4 answers UNKNOWN_MEMBER_ID otherwise
 * (classic and consumer groups alike), which the API reports as the 409
 * NON_EMPTY_GROUP it gives when its own check of the members refuses.
 */
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "kafka_errors.h"
#include "kafka_msgs.h"

enum {
  K_LIST_OFFSETS = 2,
  K_METADATA = 3,
  K_OFFSET_COMMIT = 8,
  K_OFFSET_FETCH = 9,
  K_DESCRIBE_GROUPS = 15,
  K_LIST_GROUPS = 16,
  K_DELETE_GROUPS = 42,
  K_CONSUMER_GROUP_DESCRIBE = 69,
};

/* ListOffsets' special timestamps. */
#define LATEST_TS (-1)
#define EARLIEST_TS (-2)

/* One partition a group has an offset for or is assigned. */
typedef struct gpart {
  const char *topic;
  int32_t partition;
  int64_t committed; /* -1: none */
  kf_str metadata;
  int64_t log_end; /* -1: unknown */
} gpart;

/* One group, as the calls below fill it. */
typedef struct ginfo {
  const char *id;
  kf_str type, state, protocol_type, protocol;
  int empty; /* a classic group ListGroups said is Empty: no members */
  kafka_describe_groups_response_described_group *classic;
  kafka_consumer_group_describe_response_described_group *consumer;
  int16_t error; /* of its describe or offset fetch */
  kf_str error_message;
  gpart *parts;
  size_t nparts, cap;
} ginfo;

static int kf_eq(kf_str s, const char *c) {
  return s.len >= 0 && strlen(c) == (size_t)s.len &&
         memcmp(s.ptr, c, (size_t)s.len) == 0;
}

static void kstr(jw *w, kf_str s) {
  if (s.len < 0)
    jw_null(w);
  else
    jw_strn(w, s.ptr, (size_t)s.len);
}

static kf_str *str_array(console_call *cc, int32_t n) {
  return kf_alloc(&cc->arena, (size_t)(n ? n : 1) * sizeof(kf_str));
}

static int oom(console_call *cc) {
  return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
}

/* The part of g for topic/partition; added (committed -1) when absent.
 * NULL when out of memory. */
static gpart *part_of(console_call *cc, ginfo *g, const char *topic,
                      int32_t partition) {
  for (size_t i = 0; i < g->nparts; i++)
    if (g->parts[i].partition == partition && !strcmp(g->parts[i].topic, topic))
      return &g->parts[i];
  if (g->nparts == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 16;
    gpart *p = kf_alloc(&cc->arena, cap * sizeof *p);
    if (!p)
      return NULL;
    if (g->nparts)
      memcpy(p, g->parts, g->nparts * sizeof *p);
    g->parts = p;
    g->cap = cap;
  }
  gpart *p = &g->parts[g->nparts++];
  *p = (gpart){.topic = topic,
               .partition = partition,
               .committed = -1,
               .metadata = kf_null_str(),
               .log_end = -1};
  return p;
}

/* ---- ConsumerProtocol Assignment ----------------------------------------- */

/* A classic consumer's assignment: ConsumerProtocolAssignment.json, versions
 * 0-3, all with the same fields and never flexible: int16 version, then
 * [topic string, [int32 partition]], then nullable user data bytes. A
 * later version is read as the latest known, as Kafka's ConsumerProtocol
 * does (its fields only ever grow at the end). */
typedef struct bcur {
  const uint8_t *p;
  size_t n;
  int bad;
} bcur;

static uint32_t rd(bcur *c, size_t n) {
  if (c->bad || c->n < n) {
    c->bad = 1;
    return 0;
  }
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | c->p[i];
  c->p += n;
  c->n -= n;
  return v;
}

/* Write the assignment as [{"topic", "partitions"}]; returns 0, or -1
 * (nothing written) when the bytes are not a ConsumerProtocol assignment. */
static int write_assignment(jw *w, kf_bytes b) {
  if (b.len <= 0) { /* none yet: a member between join and sync */
    jw_arr(w);
    jw_end(w);
    return 0;
  }
  /* Check first, write after: a malformed tail must not leave half a
   * list behind. */
  for (int pass = 0; pass < 2; pass++) {
    bcur c = {b.ptr, (size_t)b.len, 0};
    int16_t version = (int16_t)rd(&c, 2);
    if (version < 0)
      return -1;
    int32_t nt = (int32_t)rd(&c, 4);
    if (c.bad || nt < 0)
      return -1;
    if (pass)
      jw_arr(w);
    for (int32_t t = 0; t < nt && !c.bad; t++) {
      int16_t tl = (int16_t)rd(&c, 2);
      if (tl < 0 || c.n < (size_t)tl)
        return -1;
      const char *name = (const char *)c.p;
      c.p += tl;
      c.n -= (size_t)tl;
      int32_t np = (int32_t)rd(&c, 4);
      if (c.bad || np < 0 || c.n < (size_t)np * 4)
        return -1;
      if (pass) {
        jw_obj(w);
        jw_key(w, "topic");
        jw_strn(w, name, (size_t)tl);
        jw_key(w, "partitions");
        jw_arr(w);
      }
      for (int32_t i = 0; i < np; i++) {
        int32_t p = (int32_t)rd(&c, 4);
        if (pass)
          jw_int(w, p);
      }
      if (pass) {
        jw_end(w);
        jw_end(w);
      }
    }
    if (pass)
      jw_end(w);
    if (c.bad)
      return -1;
    /* User data (nullable bytes) follows; its absence is tolerated as
     * Kafka's reader does for version 0 written by old clients. */
  }
  return 0;
}

/* The assigned partitions of a classic member into g's parts (so an
 * assigned partition without a commit still shows, with lag unknown). */
static int add_assignment_parts(console_call *cc, ginfo *g, kf_bytes b) {
  if (b.len <= 0)
    return 0;
  bcur c = {b.ptr, (size_t)b.len, 0};
  if ((int16_t)rd(&c, 2) < 0)
    return 0;
  int32_t nt = (int32_t)rd(&c, 4);
  for (int32_t t = 0; t < nt && !c.bad; t++) {
    int16_t tl = (int16_t)rd(&c, 2);
    if (c.bad || tl < 0 || c.n < (size_t)tl)
      return 0;
    char *name = kf_strndup(&cc->arena, (const char *)c.p, (size_t)tl);
    c.p += tl;
    c.n -= (size_t)tl;
    int32_t np = (int32_t)rd(&c, 4);
    if (c.bad || np < 0 || c.n < (size_t)np * 4 || !name)
      return name ? 0 : -1;
    for (int32_t i = 0; i < np; i++)
      if (!part_of(cc, g, name, (int32_t)rd(&c, 4)))
        return -1;
  }
  return 0;
}

/* ---- the four steps ------------------------------------------------------ */

static int is_classic(const ginfo *g) {
  return kf_eq(g->type, "classic");
}
static int is_consumer(const ginfo *g) {
  return kf_eq(g->type, "consumer");
}

/* ListGroups v5, every type and state; *out sorted by id. With only !=
 * NULL, just that group (*n 0 when it does not exist). */
static int list_groups(console_call *cc, const char *only, ginfo **out,
                       size_t *n) {
  kafka_list_groups_request *rq = console_new_req(cc, K_LIST_GROUPS);
  if (rq) {
    rq->states_filter.count = 0;
    rq->types_filter.count = 0;
  }
  kafka_list_groups_response *r;
  if (console_kafka(cc, K_LIST_GROUPS, 5, rq, (void **)&r) < 0)
    return -1;
  if (r->error_code)
    return console_kafka_error(cc, r->error_code, kf_null_str(), "groups");
  ginfo *gs = kf_alloc(
      &cc->arena, (size_t)(r->groups.count ? r->groups.count : 1) * sizeof *gs);
  if (!gs)
    return oom(cc);
  size_t k = 0;
  for (int32_t i = 0; i < r->groups.count; i++) {
    kafka_list_groups_response_listed_group *l = &r->groups.items[i];
    if (only && !kf_eq(l->group_id, only))
      continue;
    gs[k] = (ginfo){.id = l->group_id.ptr,
                    .type = l->group_type,
                    .state = l->group_state,
                    .protocol_type = l->protocol_type,
                    .protocol = kf_s("")};
    k++;
  }
  for (size_t i = 1; i < k; i++) /* insertion sort: ids are few */
    for (size_t j = i; j > 0 && strcmp(gs[j - 1].id, gs[j].id) > 0; j--) {
      ginfo t = gs[j];
      gs[j] = gs[j - 1];
      gs[j - 1] = t;
    }
  *out = gs;
  *n = k;
  return 0;
}

/* A classic group to ask DescribeGroups about: not an Empty one, which
 * has no members and no protocol (Kafka clears it when the last member
 * leaves), so ListGroups said all there is; and a group known only by its
 * offsets costs the broker a search of them all. */
static int describe_classic(const ginfo *g) {
  return is_classic(g) && !g->empty;
}

/* DescribeGroups v5 for the classic groups, ConsumerGroupDescribe v1 for
 * the consumer ones; other types (share, streams) keep ListGroups' facts. */
static int describe(console_call *cc, ginfo *gs, size_t n) {
  int32_t nc = 0, nk = 0;
  for (size_t i = 0; i < n; i++) {
    gs[i].empty = is_classic(&gs[i]) && kf_eq(gs[i].state, "Empty");
    nc += describe_classic(&gs[i]);
    nk += is_consumer(&gs[i]);
  }
  if (nc) {
    kafka_describe_groups_request *rq = console_new_req(cc, K_DESCRIBE_GROUPS);
    kf_str *ids = str_array(cc, nc);
    if (!rq || !ids)
      return oom(cc);
    int32_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (describe_classic(&gs[i]))
        ids[k++] = kf_s(gs[i].id);
    rq->groups.items = ids;
    rq->groups.count = k;
    kafka_describe_groups_response *r;
    if (console_kafka(cc, K_DESCRIBE_GROUPS, 5, rq, (void **)&r) < 0)
      return -1;
    for (int32_t j = 0; j < r->groups.count; j++) {
      kafka_describe_groups_response_described_group *d = &r->groups.items[j];
      for (size_t i = 0; i < n; i++) {
        if (!describe_classic(&gs[i]) || !kf_eq(d->group_id, gs[i].id))
          continue;
        if (d->error_code) {
          gs[i].error = d->error_code;
          gs[i].error_message = d->error_message;
          break;
        }
        gs[i].classic = d;
        gs[i].state = d->group_state;
        gs[i].protocol_type = d->protocol_type;
        gs[i].protocol = d->protocol_data;
        int decode = kf_eq(d->protocol_type, "consumer");
        for (int32_t m = 0; decode && m < d->members.count; m++)
          if (add_assignment_parts(cc, &gs[i],
                                   d->members.items[m].member_assignment) < 0)
            return oom(cc);
        break;
      }
    }
  }
  if (nk) {
    kafka_consumer_group_describe_request *rq =
        console_new_req(cc, K_CONSUMER_GROUP_DESCRIBE);
    kf_str *ids = str_array(cc, nk);
    if (!rq || !ids)
      return oom(cc);
    int32_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (is_consumer(&gs[i]))
        ids[k++] = kf_s(gs[i].id);
    rq->group_ids.items = ids;
    rq->group_ids.count = k;
    kafka_consumer_group_describe_response *r;
    if (console_kafka(cc, K_CONSUMER_GROUP_DESCRIBE, 1, rq, (void **)&r) < 0)
      return -1;
    for (int32_t j = 0; j < r->groups.count; j++) {
      kafka_consumer_group_describe_response_described_group *d =
          &r->groups.items[j];
      for (size_t i = 0; i < n; i++) {
        if (!is_consumer(&gs[i]) || !kf_eq(d->group_id, gs[i].id))
          continue;
        if (d->error_code) {
          gs[i].error = d->error_code;
          gs[i].error_message = d->error_message;
          break;
        }
        gs[i].consumer = d;
        gs[i].state = d->group_state;
        gs[i].protocol_type = kf_s("consumer");
        gs[i].protocol = d->assignor_name;
        for (int32_t m = 0; m < d->members.count; m++) {
          kafka_consumer_group_describe_response_assignment *a =
              &d->members.items[m].assignment;
          for (int32_t t = 0; t < a->topic_partitions.count; t++) {
            kafka_consumer_group_describe_response_topic_partitions *tp =
                &a->topic_partitions.items[t];
            for (int32_t p = 0;
                 tp->topic_name.len >= 0 && p < tp->partitions.count; p++)
              if (!part_of(cc, &gs[i], tp->topic_name.ptr,
                           tp->partitions.items[p]))
                return oom(cc);
          }
        }
        break;
      }
    }
  }
  return 0;
}

/* Groups whose committed offsets OffsetFetch serves (share groups keep
 * theirs elsewhere: DescribeShareGroupOffsets). */
static int has_offsets(const ginfo *g) {
  return !kf_eq(g->type, "share");
}

/* OffsetFetch v8: every group's committed offsets in one request. */
static int fetch_offsets(console_call *cc, ginfo *gs, size_t n) {
  int32_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += has_offsets(&gs[i]);
  if (!k)
    return 0;
  kafka_offset_fetch_request *rq = console_new_req(cc, K_OFFSET_FETCH);
  kafka_offset_fetch_request_group *rg =
      kf_new_array(&cc->arena, &kafka_offset_fetch_request_group_desc, k);
  if (!rq || !rg)
    return oom(cc);
  k = 0;
  for (size_t i = 0; i < n; i++)
    if (has_offsets(&gs[i])) {
      rg[k].group_id = kf_s(gs[i].id);
      rg[k].topics.count = -1; /* all its topics */
      k++;
    }
  rq->groups.items = rg;
  rq->groups.count = k;
  rq->topics.count = 0;
  kafka_offset_fetch_response *r;
  if (console_kafka(cc, K_OFFSET_FETCH, 8, rq, (void **)&r) < 0)
    return -1;
  for (int32_t j = 0; j < r->groups.count; j++) {
    kafka_offset_fetch_response_group *fg = &r->groups.items[j];
    for (size_t i = 0; i < n; i++) {
      if (!kf_eq(fg->group_id, gs[i].id))
        continue;
      if (fg->error_code) {
        if (!gs[i].error)
          gs[i].error = fg->error_code;
        break;
      }
      for (int32_t t = 0; t < fg->topics.count; t++) {
        kafka_offset_fetch_response_topics *ft = &fg->topics.items[t];
        for (int32_t p = 0; p < ft->partitions.count; p++) {
          kafka_offset_fetch_response_partitions *fp = &ft->partitions.items[p];
          if (fp->error_code || fp->committed_offset < 0 || ft->name.len < 0)
            continue;
          gpart *gp = part_of(cc, &gs[i], ft->name.ptr, fp->partition_index);
          if (!gp)
            return oom(cc);
          gp->committed = fp->committed_offset;
          gp->metadata = fp->metadata;
        }
      }
      break;
    }
  }
  return 0;
}

/* A (topic, partition) to ask about, and where its answer goes. */
typedef struct tp_ref {
  const char *topic;
  int32_t partition;
  size_t at;
} tp_ref;

static int tp_cmp(const void *a, const void *b) {
  const tp_ref *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* ListOffsets v7 at `ts` for a list of (topic, partition), duplicates
 * allowed: one request (each partition once, as Kafka requires), the
 * answers into off[] (-1 where the broker had none or erred). Sorting
 * keeps it O(n log n) for the thousands of partitions of a long list. */
static int list_offsets(console_call *cc, const char *const *topics,
                        const int32_t *parts, size_t n, int64_t ts,
                        int64_t *off) {
  for (size_t i = 0; i < n; i++)
    off[i] = -1;
  if (!n)
    return 0;
  tp_ref *refs = kf_alloc(&cc->arena, n * sizeof *refs);
  kafka_list_offsets_request *rq = console_new_req(cc, K_LIST_OFFSETS);
  kafka_list_offsets_request_topic *rt = kf_new_array(
      &cc->arena, &kafka_list_offsets_request_topic_desc, (int32_t)n);
  kafka_list_offsets_request_partition *rp = kf_new_array(
      &cc->arena, &kafka_list_offsets_request_partition_desc, (int32_t)n);
  if (!refs || !rq || !rt || !rp)
    return oom(cc);
  for (size_t i = 0; i < n; i++)
    refs[i] = (tp_ref){topics[i], parts[i], i};
  qsort(refs, n, sizeof *refs, tp_cmp);
  int32_t nt = 0, np = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && !tp_cmp(&refs[i - 1], &refs[i]))
      continue; /* asked already */
    if (i == 0 || strcmp(refs[i - 1].topic, refs[i].topic)) {
      rt[nt].name = kf_s(refs[i].topic);
      rt[nt].partitions.items = &rp[np];
      nt++;
    }
    rp[np].partition_index = refs[i].partition;
    rp[np].current_leader_epoch = -1;
    rp[np].timestamp = ts;
    np++;
    rt[nt - 1].partitions.count++;
  }
  rq->replica_id = -1;
  rq->isolation_level = 0; /* the high watermark, as Kafka's tools use */
  rq->topics.items = rt;
  rq->topics.count = nt;
  kafka_list_offsets_response *r;
  if (console_kafka(cc, K_LIST_OFFSETS, 7, rq, (void **)&r) < 0)
    return -1;
  for (int32_t t = 0; t < r->topics.count; t++) {
    kafka_list_offsets_response_topic_response *tr = &r->topics.items[t];
    if (tr->name.len < 0)
      continue;
    for (int32_t p = 0; p < tr->partitions.count; p++) {
      kafka_list_offsets_response_partition_response *pr =
          &tr->partitions.items[p];
      if (pr->error_code)
        continue;
      /* The first ref of (topic, partition), then all its duplicates. */
      tp_ref key = {tr->name.ptr, pr->partition_index, 0};
      size_t lo = 0, hi = n;
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tp_cmp(&refs[mid], &key) < 0)
          lo = mid + 1;
        else
          hi = mid;
      }
      for (; lo < n && !tp_cmp(&refs[lo], &key); lo++)
        off[refs[lo].at] = pr->offset;
    }
  }
  return 0;
}

/* The log end of every part of every group, in one ListOffsets. */
static int log_ends(console_call *cc, ginfo *gs, size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += gs[i].nparts;
  if (!total)
    return 0;
  const char **topics = kf_alloc(&cc->arena, total * sizeof *topics);
  int32_t *parts = kf_alloc(&cc->arena, total * sizeof *parts);
  int64_t *off = kf_alloc(&cc->arena, total * sizeof *off);
  if (!topics || !parts || !off)
    return oom(cc);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < gs[i].nparts; j++) {
      topics[k] = gs[i].parts[j].topic;
      parts[k++] = gs[i].parts[j].partition;
    }
  if (list_offsets(cc, topics, parts, total, LATEST_TS, off) < 0)
    return -1;
  k = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < gs[i].nparts; j++)
      gs[i].parts[j].log_end = off[k++];
  return 0;
}

/* All four steps for the groups of gs. */
static int gather(console_call *cc, ginfo *gs, size_t n) {
  if (describe(cc, gs, n) < 0 || fetch_offsets(cc, gs, n) < 0 ||
      log_ends(cc, gs, n) < 0)
    return -1;
  return 0;
}

/* ---- the answers ----------------------------------------------------------
 */

static int part_cmp(const void *a, const void *b) {
  const gpart *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int member_count(const ginfo *g) {
  if (g->classic)
    return g->classic->members.count;
  if (g->consumer)
    return g->consumer->members.count;
  return g->empty ? 0 : -1;
}

static void write_group(jw *w, ginfo *g, int full) {
  if (g->nparts > 1)
    qsort(g->parts, g->nparts, sizeof *g->parts, part_cmp);
  jw_obj(w);
  jw_kstr(w, "group_id", g->id);
  jw_key(w, "type");
  kstr(w, g->type);
  jw_key(w, "state");
  kstr(w, g->state);
  jw_key(w, "protocol_type");
  kstr(w, g->protocol_type);
  jw_key(w, "protocol");
  kstr(w, g->protocol);
  jw_key(w, "member_count");
  if (member_count(g) >= 0)
    jw_int(w, member_count(g));
  else
    jw_null(w);
  /* Total lag: known only when every partition's is. */
  int64_t lag = 0;
  int known = g->nparts > 0 && !g->error;
  for (size_t i = 0; i < g->nparts; i++) {
    const gpart *p = &g->parts[i];
    if (p->committed < 0 || p->log_end < 0)
      known = 0;
    else
      lag += p->log_end - p->committed;
  }
  jw_key(w, "lag");
  if (known)
    jw_int(w, lag);
  else
    jw_null(w);
  jw_key(w, "topics");
  jw_arr(w);
  for (size_t i = 0; i < g->nparts; i++)
    if (i == 0 || strcmp(g->parts[i].topic, g->parts[i - 1].topic))
      jw_str(w, g->parts[i].topic);
  jw_end(w);
  if (g->error) {
    jw_key(w, "error");
    jw_obj(w);
    jw_kstr(w, "code", kafka_err_name(g->error));
    jw_key(w, "message");
    if (g->error_message.len > 0)
      kstr(w, g->error_message);
    else
      jw_str(w, kafka_err_text(g->error));
    jw_end(w);
  }
  if (!full) {
    jw_end(w);
    return;
  }
  jw_key(w, "members");
  jw_arr(w);
  for (int32_t m = 0; g->classic && m < g->classic->members.count; m++) {
    kafka_describe_groups_response_described_group_member *mb =
        &g->classic->members.items[m];
    jw_obj(w);
    jw_key(w, "member_id");
    kstr(w, mb->member_id);
    jw_key(w, "instance_id");
    kstr(w, mb->group_instance_id);
    jw_key(w, "client_id");
    kstr(w, mb->client_id);
    jw_key(w, "host");
    kstr(w, mb->client_host);
    jw_key(w, "assignment");
    if (!kf_eq(g->classic->protocol_type, "consumer") ||
        write_assignment(w, mb->member_assignment) < 0) {
      /* Not ConsumerProtocol bytes (connect's, say): shown as they are. */
      jw_null(w);
      jw_key(w, "assignment_bytes");
      jw_obj(w);
      jw_kstr(w, "encoding", "hex");
      jw_key(w, "hex");
      jw_hex(w, mb->member_assignment.ptr,
             mb->member_assignment.len > 0 ? (size_t)mb->member_assignment.len
                                           : 0);
      jw_kint(w, "size",
              mb->member_assignment.len > 0 ? mb->member_assignment.len : 0);
      jw_end(w);
    }
    jw_end(w);
  }
  for (int32_t m = 0; g->consumer && m < g->consumer->members.count; m++) {
    kafka_consumer_group_describe_response_member *mb =
        &g->consumer->members.items[m];
    jw_obj(w);
    jw_key(w, "member_id");
    kstr(w, mb->member_id);
    jw_key(w, "instance_id");
    kstr(w, mb->instance_id);
    jw_key(w, "client_id");
    kstr(w, mb->client_id);
    jw_key(w, "host");
    kstr(w, mb->client_host);
    jw_kint(w, "member_epoch", mb->member_epoch);
    jw_key(w, "assignment");
    jw_arr(w);
    for (int32_t t = 0; t < mb->assignment.topic_partitions.count; t++) {
      kafka_consumer_group_describe_response_topic_partitions *tp =
          &mb->assignment.topic_partitions.items[t];
      jw_obj(w);
      jw_key(w, "topic");
      kstr(w, tp->topic_name);
      jw_key(w, "partitions");
      jw_arr(w);
      for (int32_t p = 0; p < tp->partitions.count; p++)
        jw_int(w, tp->partitions.items[p]);
      jw_end(w);
      jw_end(w);
    }
    jw_end(w);
    jw_end(w);
  }
  jw_end(w);
  jw_key(w, "offsets");
  jw_arr(w);
  for (size_t i = 0; i < g->nparts; i++) {
    const gpart *p = &g->parts[i];
    jw_obj(w);
    jw_kstr(w, "topic", p->topic);
    jw_kint(w, "partition", p->partition);
    jw_key(w, "committed");
    if (p->committed >= 0)
      jw_int(w, p->committed);
    else
      jw_null(w);
    jw_key(w, "log_end");
    if (p->log_end >= 0)
      jw_int(w, p->log_end);
    else
      jw_null(w);
    jw_key(w, "lag");
    if (p->committed >= 0 && p->log_end >= 0)
      jw_int(w, p->log_end - p->committed);
    else
      jw_null(w);
    jw_key(w, "metadata");
    kstr(w, p->metadata);
    jw_end(w);
  }
  jw_end(w);
  jw_end(w);
}

static int list(console_call *cc) {
  ginfo *gs;
  size_t n;
  if (list_groups(cc, NULL, &gs, &n) < 0 || gather(cc, gs, n) < 0)
    return -1;
  jw *w = console_json(cc);
  jw_obj(w);
  jw_key(w, "groups");
  jw_arr(w);
  for (size_t i = 0; i < n; i++)
    write_group(w, &gs[i], 0);
  jw_end(w);
  jw_end(w);
  return 0;
}

/* The one group of the path: 404 GROUP_ID_NOT_FOUND when ListGroups does
 * not know it (as Kafka's admin tools say "does not exist"). */
static int one_group(console_call *cc, ginfo **g) {
  size_t n;
  if (list_groups(cc, cc->params[0], g, &n) < 0)
    return -1;
  if (n == 0)
    return console_error(cc, 404, "GROUP_ID_NOT_FOUND",
                         "group %s does not exist", cc->params[0]);
  return 0;
}

static int get(console_call *cc) {
  ginfo *g;
  if (one_group(cc, &g) < 0 || gather(cc, g, 1) < 0)
    return -1;
  if (g->error)
    return console_kafka_error(cc, g->error, g->error_message, g->id);
  write_group(console_json(cc), g, 1);
  return 0;
}

static int lag_history(console_call *cc) {
  ginfo *g;
  if (one_group(cc, &g) < 0)
    return -1;
  int64_t t[CONSOLE_HISTORY], lag[CONSOLE_HISTORY];
  size_t n = console_history_group_lag(console_history_of(cc->con), g->id, t,
                                       lag, CONSOLE_HISTORY);
  jw *w = console_json(cc);
  jw_obj(w);
  console_history_write_interval(w, console_history_of(cc->con));
  jw_key(w, "samples");
  jw_arr(w);
  for (size_t i = 0; i < n; i++) {
    jw_obj(w);
    jw_kint(w, "t_ms", t[i]);
    jw_kint(w, "lag", lag[i]);
    jw_end(w);
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

static int delete_group(console_call *cc) {
  kafka_delete_groups_request *rq = console_new_req(cc, K_DELETE_GROUPS);
  kf_str *ids = str_array(cc, 1);
  if (!rq || !ids)
    return oom(cc);
  ids[0] = kf_s(cc->params[0]);
  rq->groups_names.items = ids;
  rq->groups_names.count = 1;
  kafka_delete_groups_response *r;
  if (console_kafka(cc, K_DELETE_GROUPS, 2, rq, (void **)&r) < 0)
    return -1;
  if (r->results.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "DeleteGroups answered %d results for one group",
                         (int)r->results.count);
  if (r->results.items[0].error_code)
    return console_kafka_error(cc, r->results.items[0].error_code,
                               r->results.items[0].error_message,
                               cc->params[0]);
  cc->rs->status = 204;
  return 0;
}

/* ---- reset offsets --------------------------------------------------------
 */

typedef enum { TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_TIMESTAMP, TO_SHIFT } to_t;

/* Metadata v12 for one topic: its partition count, or -1 answered. */
static int32_t partition_count(console_call *cc, const char *topic) {
  kafka_metadata_request *rq = console_new_req(cc, K_METADATA);
  kafka_metadata_request_topic *t =
      kf_new_array(&cc->arena, &kafka_metadata_request_topic_desc, 1);
  if (!rq || !t)
    return oom(cc);
  t->name = kf_s(topic);
  rq->topics.items = t;
  rq->topics.count = 1;
  rq->allow_auto_topic_creation = 0;
  kafka_metadata_response *r;
  if (console_kafka(cc, K_METADATA, 12, rq, (void **)&r) < 0)
    return -1;
  if (r->topics.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "Metadata answered %d topics for one",
                         (int)r->topics.count);
  if (r->topics.items[0].error_code)
    return console_kafka_error(cc, r->topics.items[0].error_code, kf_null_str(),
                               topic);
  return r->topics.items[0].partitions.count;
}

static const char *const to_names[] = {"earliest", "latest", "offset",
                                       "timestamp", "shift"};

/* A required integer member of the body; -1 answered 400 when absent. */
static int body_int(console_call *cc, const jv *b, const char *key,
                    int64_t *out) {
  if (!jv_as_int(jv_get(b, key), out))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"%s\" (a whole number) is required here", key);
  return 0;
}

static int reset_offsets(console_call *cc) {
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  if (b->type != JV_OBJECT)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body must be a JSON object");
  const char *topic = jv_as_str(jv_get(b, "topic"));
  const char *to = jv_as_str(jv_get(b, "to"));
  if (!topic || !*topic)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"topic\" (a string) is required");
  int kind = -1;
  for (int i = 0; to && i < 5; i++)
    if (!strcmp(to, to_names[i]))
      kind = i;
  if (kind < 0)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"to\" must be one of earliest, latest, offset, "
                         "timestamp, shift");
  int64_t arg = 0;
  if ((kind == TO_OFFSET && body_int(cc, b, "offset", &arg) < 0) ||
      (kind == TO_TIMESTAMP && body_int(cc, b, "timestamp_ms", &arg) < 0) ||
      (kind == TO_SHIFT && body_int(cc, b, "shift", &arg) < 0))
    return -1;
  const jv *dr = jv_get(b, "dry_run");
  if (dr && dr->type != JV_BOOL)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"dry_run\" must be true or false");
  int dry = dr ? dr->boolean : 1; /* previewing is the safe default */
  if (kind == TO_TIMESTAMP && arg < 0)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"timestamp_ms\" must not be negative");

  int32_t nparts = partition_count(cc, topic);
  if (nparts < 0)
    return -1;
  const jv *pl = jv_get(b, "partitions");
  size_t n = pl && pl->type == JV_ARRAY ? pl->n : (size_t)nparts;
  if (pl && pl->type != JV_ARRAY && pl->type != JV_NULL)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "\"partitions\" must be a list of numbers or null");
  if (n == 0)
    return console_error(cc, 400, "INVALID_REQUEST", "no partitions to reset");
  const char **topics = kf_alloc(&cc->arena, n * sizeof *topics);
  int32_t *parts = kf_alloc(&cc->arena, n * sizeof *parts);
  int64_t *cur = kf_alloc(&cc->arena, n * sizeof *cur);
  int64_t *start = kf_alloc(&cc->arena, n * sizeof *start);
  int64_t *end = kf_alloc(&cc->arena, n * sizeof *end);
  int64_t *at = kf_alloc(&cc->arena, n * sizeof *at);
  int64_t *nw = kf_alloc(&cc->arena, n * sizeof *nw);
  if (!topics || !parts || !cur || !start || !end || !at || !nw)
    return oom(cc);
  for (size_t i = 0; i < n; i++) {
    int64_t p = (int64_t)i;
    if (pl && pl->type == JV_ARRAY && !jv_as_int(&pl->items[i], &p))
      return console_error(cc, 400, "INVALID_REQUEST",
                           "\"partitions\" must be a list of numbers");
    if (p < 0 || p >= nparts)
      return console_error(cc, 404, "UNKNOWN_TOPIC_OR_PARTITION",
                           "topic %s has no partition %lld (it has %d)", topic,
                           (long long)p, (int)nparts);
    for (size_t j = 0; j < i; j++)
      if (parts[j] == p)
        return console_error(cc, 400, "INVALID_REQUEST",
                             "partition %lld is named twice", (long long)p);
    topics[i] = topic;
    parts[i] = (int32_t)p;
    cur[i] = -1;
  }

  /* The group: its members decide whether --execute may go on. A group
   * that does not exist yet may be given offsets (Kafka's tool allows it:
   * its state is Dead). */
  ginfo *g;
  size_t ng;
  if (list_groups(cc, cc->params[0], &g, &ng) < 0)
    return -1;
  if (ng == 0) {
    g = kf_alloc(&cc->arena, sizeof *g);
    if (!g)
      return oom(cc);
    *g = (ginfo){
        .id = cc->params[0], .type = kf_s("classic"), .state = kf_s("Dead")};
  } else if (describe(cc, g, 1) < 0) {
    return -1;
  } else if (g->error) {
    return console_kafka_error(cc, g->error, g->error_message, g->id);
  }
  if (fetch_offsets(cc, g, 1) < 0)
    return -1;
  if (g->error)
    return console_kafka_error(cc, g->error, g->error_message, g->id);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < g->nparts; j++)
      if (g->parts[j].partition == parts[i] &&
          !strcmp(g->parts[j].topic, topic))
        cur[i] = g->parts[j].committed;

  if (list_offsets(cc, topics, parts, n, EARLIEST_TS, start) < 0 ||
      list_offsets(cc, topics, parts, n, LATEST_TS, end) < 0 ||
      (kind == TO_TIMESTAMP && list_offsets(cc, topics, parts, n, arg, at) < 0))
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (start[i] < 0 || end[i] < 0)
      return console_error(cc, 503, "LEADER_NOT_AVAILABLE",
                           "no log start or end for %s-%d", topic,
                           (int)parts[i]);
    int64_t v = 0;
    switch (kind) {
    case TO_EARLIEST:
      v = start[i];
      break;
    case TO_LATEST:
      v = end[i];
      break;
    case TO_OFFSET:
      v = arg;
      break;
    case TO_TIMESTAMP:
      /* No record at or after the time: the end, as Kafka's tool does. */
      v = at[i] >= 0 ? at[i] : end[i];
      break;
    case TO_SHIFT:
      if (cur[i] < 0)
        return console_error(cc, 400, "INVALID_REQUEST",
                             "cannot shift the offset of %s-%d since there "
                             "is no current committed offset",
                             topic, (int)parts[i]);
      v = (arg > 0 && cur[i] > INT64_MAX - arg) ? INT64_MAX : cur[i] + arg;
      break;
    }
    nw[i] = v < start[i] ? start[i] : v > end[i] ? end[i] : v;
  }

  if (!dry) {
    if (member_count(g) > 0)
      return console_error(cc, 409, "NON_EMPTY_GROUP",
                           "offsets can only be reset while group %s has no "
                           "members, but it is %.*s with %d",
                           g->id, g->state.len > 0 ? (int)g->state.len : 0,
                           g->state.len > 0 ? g->state.ptr : "",
                           member_count(g));
    kafka_offset_commit_request *rq = console_new_req(cc, K_OFFSET_COMMIT);
    kafka_offset_commit_request_topic *t =
        kf_new_array(&cc->arena, &kafka_offset_commit_request_topic_desc, 1);
    kafka_offset_commit_request_partition *p = kf_new_array(
        &cc->arena, &kafka_offset_commit_request_partition_desc, (int32_t)n);
    if (!rq || !t || !p)
      return oom(cc);
    for (size_t i = 0; i < n; i++) {
      p[i].partition_index = parts[i];
      p[i].committed_offset = nw[i];
      p[i].committed_leader_epoch = -1;
      p[i].committed_metadata = kf_s("");
    }
    t->name = kf_s(topic);
    t->partitions.items = p;
    t->partitions.count = (int32_t)n;
    rq->group_id = kf_s(g->id);
    rq->generation_id_or_member_epoch = -1;
    rq->member_id = kf_s("");
    rq->group_instance_id = kf_null_str();
    rq->topics.items = t;
    rq->topics.count = 1;
    kafka_offset_commit_response *r;
    if (console_kafka(cc, K_OFFSET_COMMIT, 9, rq, (void **)&r) < 0)
      return -1;
    for (int32_t i = 0; i < r->topics.count; i++)
      for (int32_t j = 0; j < r->topics.items[i].partitions.count; j++) {
        int16_t e = r->topics.items[i].partitions.items[j].error_code;
        /* A member joined since the check: Kafka refuses a commit naming
         * no member into a live group with UNKNOWN_MEMBER_ID. */
        if (e == KERR_UNKNOWN_MEMBER_ID)
          return console_error(cc, 409, "NON_EMPTY_GROUP",
                               "group %s has members now: offsets can only "
                               "be reset while it has none (the broker "
                               "answered UNKNOWN_MEMBER_ID)",
                               g->id);
        if (e)
          return console_kafka_error(cc, e, kf_null_str(), g->id);
      }
  }

  jw *w = console_json(cc);
  jw_obj(w);
  jw_kbool(w, "dry_run", dry);
  jw_key(w, "offsets");
  jw_arr(w);
  for (size_t i = 0; i < n; i++) {
    jw_obj(w);
    jw_kstr(w, "topic", topic);
    jw_kint(w, "partition", parts[i]);
    jw_key(w, "current");
    if (cur[i] >= 0)
      jw_int(w, cur[i]);
    else
      jw_null(w);
    jw_kint(w, "new", nw[i]);
    jw_end(w);
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

const console_route console_group_routes[] = {
    {"GET", "/api/groups", list, 0},
    {"GET", "/api/groups/{}", get, 0},
    {"GET", "/api/groups/{}/lag-history", lag_history, 0},
    {"POST", "/api/groups/{}/reset-offsets", reset_offsets, CONSOLE_MUTATES},
    {"DELETE", "/api/groups/{}", delete_group, CONSOLE_MUTATES},
    {NULL, NULL, NULL, 0},
};
