/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup.h — consumer groups of the next-generation protocol (KIP-848):
 * the contract between the files that build them.
 *
 *   cgroup.c         the coordinator: ConsumerGroupHeartbeat, group and
 *                    member epochs, target assignment, reconciliation,
 *                    session and rebalance timeouts, static members,
 *                    group.consumer.* settings (its top is the design
 *                    essay: states, epochs, the reconciliation rule)
 *   cgroup_store.c   a group's state to and from the library's per-group
 *                    state bytes (nd_group_set_state), and loading at start
 *   cgroup_assign.c  the server-side assignors, `uniform` and `range`
 *   cgroup_regex.c   subscriptions by regular expression (RE2/J syntax)
 *   cgroup_classic.c where the classic APIs meet consumer groups:
 *                    ConsumerGroupDescribe, OffsetCommit/OffsetFetch by
 *                    member epoch, List/Describe/DeleteGroups, classic
 *                    members in a consumer group and the conversions
 *                    between the two kinds (group.consumer.migration.policy)
 *   cgroup_parts.c   sets of topic partitions (below)
 *
 * Everything runs on the loop thread, as the classic coordinator does
 * (group.h); a group id names either a classic group (group.h) or a
 * consumer group (here), never both at once.
 */
#ifndef ND_CGROUP_H
#define ND_CGROUP_H

#include <stdint.h>

#include "kafka.h"

/* ---- sets of topic partitions (cgroup_parts.c) ----------------------- */

/* A partition by topic id, as KIP-848 names them. */
typedef struct cg_tp {
  kf_uuid topic;
  int32_t partition;
} cg_tp;

/* A set: items sorted by (topic bytes, partition), no duplicates, owned
 * (malloc'ed) by the set. The zero value is the empty set. */
typedef struct cg_parts {
  cg_tp *items;
  int32_t count;
} cg_parts;

int cg_tp_cmp(const cg_tp *a, const cg_tp *b);
/* Sort and drop duplicates in place (after filling items by hand). */
void cg_parts_normalize(cg_parts *s);
/* 0 or -ENOMEM (s unchanged). Keeps s a set. */
int cg_parts_add(cg_parts *s, const kf_uuid *topic, int32_t partition);
int cg_parts_contains(const cg_parts *s, const kf_uuid *topic,
                      int32_t partition);
int cg_parts_equal(const cg_parts *a, const cg_parts *b);
/* *out = a ∩ b, a − b, a ∪ b: out is overwritten (free it first); it may
 * not be a or b. 0 or -ENOMEM (out empty). */
int cg_parts_intersect(const cg_parts *a, const cg_parts *b, cg_parts *out);
int cg_parts_minus(const cg_parts *a, const cg_parts *b, cg_parts *out);
int cg_parts_union(const cg_parts *a, const cg_parts *b, cg_parts *out);
int cg_parts_copy(const cg_parts *a, cg_parts *out);
void cg_parts_free(cg_parts *s);

/* ---- the server-side assignors (cgroup_assign.c) ---------------------- */

/* A topic the group's members subscribe to, as the assignor sees it. */
typedef struct cg_assign_topic {
  kf_uuid id;
  const char *name;
  int32_t partitions;
} cg_assign_topic;

typedef struct cg_assign_member {
  const char *member_id;
  const char *instance_id; /* NULL unless static */
  const char *rack_id;     /* NULL if not given */
  /* The member's subscription, resolved: indexes into the input's topics
   * (names and regular expression both already matched). */
  const int32_t *topics;
  int32_t ntopics;
  /* Its partitions in the current target assignment (stickiness). */
  const cg_parts *current;
} cg_assign_member;

typedef struct cg_assign_input {
  const cg_assign_topic *topics;
  int32_t ntopics;
  const cg_assign_member *members;
  int32_t nmembers;
} cg_assign_input;

/* Is name an assignor the broker has ("uniform", "range")? */
int cg_assignor_known(const char *name);
/* Compute the target assignment with assignor `name` (NULL: the default,
 * "uniform"): out[i] (nmembers sets, each overwritten) is members[i]'s.
 * Deterministic: the same input gives the same output, as Kafka's
 * assignors for the same input give the same (the order of members and
 * topics matters as cgroup_assign.c's top comment says). Loop thread or
 * any thread: no shared state. 0, ND_EINVAL (unknown assignor), -ENOMEM
 * (out all empty). */
int cg_assign(const char *name, const cg_assign_input *in, cg_parts *out);
/* cg_assign with the group's subscription type as Kafka's coordinator
 * computes it: from the subscribed topic *names*, existing or not.
 * heterogeneous = 1 when the members' names differ although the topics
 * that exist are the same for all (one also names a missing topic):
 * uniform then runs its heterogeneous builder, as Kafka's. cg_assign
 * decides from the resolved topics alone (as heterogeneous = 0). */
int cg_assign_typed(const char *name, const cg_assign_input *in,
                    int heterogeneous, cg_parts *out);

/* ---- regular-expression subscriptions (cgroup_regex.c) ----------------- */

typedef struct cg_regex cg_regex;
/* Compile a subscription pattern of Kafka's syntax (RE2/J: what it
 * accepts is accepted, what it refuses is refused, with its description
 * copied into err: PatternSyntaxException.getDescription(), e.g. "missing
 * closing )", which Kafka puts into INVALID_REGULAR_EXPRESSION's message
 * as "SubscribedTopicRegex `%s` is not a valid regular expression: %s.").
 * Matches whole topic names, as Kafka's Matcher.matches. *out is the
 * caller's (cg_regex_free). 0, ND_EINVAL (refused: err says why),
 * -ENOMEM. cg_regex_match: 1 or 0 (also when out of memory); a compiled
 * pattern may be matched from several threads at once. */
int cg_regex_compile(const char *pattern, cg_regex **out, char *err,
                     size_t errlen);
int cg_regex_match(const cg_regex *re, const char *topic);
/* The code point of the UTF-8 sequence at *p (not at its end), advancing
 * *p past it; a byte that starts no valid sequence is U+FFFD and advances
 * one byte, as Java's decoder replaces it (Kafka's strings are Java's:
 * the assignors' member order and the patterns work on code points). */
uint32_t cg_utf8_next(const unsigned char **p);
void cg_regex_free(cg_regex *re);

/* ---- groups and members (cgroup.c) -------------------------------------- */

/* Group states as Kafka 4 names them (ListGroups, Describe*). */
enum cg_state {
  CG_EMPTY,       /* no members */
  CG_ASSIGNING,   /* the group epoch is ahead of the assignment epoch */
  CG_RECONCILING, /* a member has not reached the assignment epoch */
  CG_STABLE,
  CG_DEAD,
};

/* Where a member is in reaching its target (Kafka's MemberState). */
enum cg_member_state {
  CGM_STABLE,                /* has its whole target assignment */
  CGM_UNREVOKED_PARTITIONS,  /* must first give up pending_revocation */
  CGM_UNRELEASED_PARTITIONS, /* waits for others to give up partitions */
  CGM_UNKNOWN,
};

/* Member kinds (ConsumerGroupDescribe v1's MemberType). */
enum { CGM_TYPE_CLASSIC = 0, CGM_TYPE_CONSUMER = 1 };

typedef struct cgroup cgroup;
struct group; /* a classic group (group.h) */

/* A partition with the member epoch at which it was assigned to a member
 * (Kafka's per-partition assignment epoch, KIP-1251). */
typedef struct cg_part_epoch {
  cg_tp tp;
  int32_t epoch;
} cg_part_epoch;

typedef struct cg_member {
  cgroup *g;
  struct cg_member *next; /* join order */
  char *id;
  char *instance_id; /* NULL unless static */
  char *rack_id;
  char *client_id, *client_host;
  int type; /* CGM_TYPE_* */
  int32_t rebalance_timeout_ms, session_timeout_ms;
  char **topic_names; /* the subscription by name, sorted */
  int32_t ntopic_names;
  char *regex;           /* the subscription by pattern, or NULL */
  char *server_assignor; /* NULL = the group's default */
  int32_t epoch, previous_epoch;
  int state;                   /* enum cg_member_state */
  cg_parts assigned;           /* usable now */
  cg_parts pending_revocation; /* to give up before the next epoch */
  /* The epoch at which each partition of `assigned` and
   * `pending_revocation` was given to this member (reconciliation keeps
   * it: a partition kept keeps its epoch, one given gets the assignment
   * epoch). Sorted by tp, malloc'ed; it may list partitions the member no
   * longer holds (ignored) and miss some it holds (then its current epoch
   * is assumed: cgroup_assignment_epoch). */
  cg_part_epoch *part_epochs;
  int32_t npart_epochs;
  /* A classic member inside this group (cgroup_classic.c): its JoinGroup
   * protocols, session, and parked requests; NULL for consumer members. */
  void *classic;
  int64_t session_deadline; /* net_now_ms() clock */
  net_timer *session_timer, *rebalance_timer;
} cg_member;

struct cgroup {
  struct cgroup *hnext;
  struct cgroup *bnext; /* chain of its hash bucket (cgroup.c) */
  broker *b;
  char *id;
  int state;                /* enum cg_state; computed by cgroup_update_state */
  int32_t epoch;            /* group epoch */
  int32_t assignment_epoch; /* epoch of the target assignment */
  char *assignor;           /* of the last target assignment */
  /* net_now_ms() when the target was last computed: the next one waits
   * group.consumer.assignment.interval.ms (not kept across restarts). */
  int64_t assigned_at;
  cg_member *members;
  int32_t nmembers;
  /* Target assignment: target[i] belongs to the member target_ids[i]. */
  char **target_ids;
  cg_parts *target;
  int32_t ntarget;
  /* What the last target assignment saw of each subscribed topic (id,
   * name, partitions): a change (partitions added, topic deleted or
   * created, a regex matching another topic) bumps the group epoch. */
  cg_assign_topic *topics_seen;
  int32_t ntopics_seen;
};

/* Lifecycle (kafka_init / kafka_fini): cgroup_init loads every consumer
 * group the library keeps state for; members' sessions start again then. */
int cgroup_init(broker *b);
void cgroup_fini(broker *b);

cgroup *cgroup_find(broker *b, const char *group_id);
cg_member *cgroup_member(const cgroup *g, const char *member_id);
/* Every consumer group, from this one along hnext (ListGroups). */
cgroup *cgroup_first(broker *b);
const char *cgroup_state_name(int state); /* "Empty", "Assigning", ... */
/* Set g->state from its members and epochs (Kafka's maybeUpdateGroupState):
 * call after changing them. */
void cgroup_update_state(cgroup *g);
/* Kafka's lower-case form for ListGroups' group_state filter. */
int cgroup_state_parse(const char *name);
/* Persist g's state (cgroup_store.c); called after every change. A failure
 * is logged, and the group keeps running from memory. */
void cgroup_persist(cgroup *g);
/* Drop an Empty group (DeleteGroups, expiry): memory and kept state. */
void cgroup_forget(broker *b, cgroup *g);

/* cgroup_store.c: the library's state bytes. encode: 0 or -ENOMEM, *out
 * malloc'ed. decode: 0 or ND_ECORRUPT (g untouched beyond what it
 * allocated; the caller frees g). */
int cgroup_encode(const cgroup *g, uint8_t **out, size_t *len);
int cgroup_decode(broker *b, const char *id, const uint8_t *p, size_t len,
                  cgroup **out);
void cgroup_free(cgroup *g);

/* For OffsetCommit/TxnOffsetCommit (v9+ carry the member epoch): 0, or the
 * error for every partition (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH,
 * ILLEGAL_GENERATION, UNSUPPORTED_VERSION as Kafka's
 * ConsumerGroup.validateOffsetCommit). An epoch older than the member's is
 * answered with the stale error too, but cgroup_commit_lagging then lets
 * the caller decide per partition. */
int16_t cgroup_commit_check(kafka_req *r, cgroup *g, const char *member_id,
                            int32_t member_epoch, int txn);
/* Kafka 4.4 (KIP-1251) lets a member commit with an epoch older than its
 * current one the partitions it has held since then (a commit racing the
 * heartbeat that moved it on). The member of group gid that sent `epoch`
 * when that epoch is older than its current one (and not negative), else
 * NULL (cgroup_commit_check's error holds for every partition). */
const cg_member *cgroup_commit_lagging(broker *b, const char *gid,
                                       const char *member_id, int32_t epoch);
/* The per-partition half of the above (the validator Kafka's
 * createAssignmentEpochValidator returns): 0 when m holds the partition
 * (assigned or pending revocation) since `epoch` or earlier, else
 * `stale` (STALE_MEMBER_EPOCH, or ILLEGAL_GENERATION where the caller's
 * request or member kind has no stale error). */
int16_t cgroup_commit_partition(const cg_member *m, int32_t epoch,
                                const uint8_t topic[16], int32_t partition,
                                int16_t stale);
/* The epoch at which m was given the partition (cg_member.part_epochs), or
 * -1 when it holds it neither as assigned nor as pending revocation.
 * cgroup.c. */
int32_t cgroup_assignment_epoch(const cg_member *m, const cg_tp *tp);
/* For OffsetFetch v9+ with a member: 0 or the group's error. */
int16_t cgroup_fetch_check(kafka_req *r, cgroup *g, const char *member_id,
                           int32_t member_epoch);

/* Is topic subscribed to by a member of g, by name or by a regex's match
 * in the last target assignment (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC,
 * Kafka's ModernGroup.isSubscribedToTopic)? cgroup_classic.c. */
int cgroup_subscribed(const cgroup *g, const char *topic);

/* ---- classic members' embedded protocol (cgroup_classic.c) ------------- */

/* A classic member's subscription: Kafka's ConsumerProtocolSubscription
 * v0-3, the JoinGroup metadata of protocol type "consumer". Everything is
 * owned (malloc'ed) by the struct; the zero value is empty. */
typedef struct cg_owned_topic {
  char *topic;
  int32_t *partitions;
  int32_t npartitions;
} cg_owned_topic;

typedef struct cg_subscription {
  int16_t version;
  char **topics;
  int32_t ntopics;
  cg_owned_topic *owned; /* v1+ */
  int32_t nowned;
  int32_t generation; /* v2+; -1 when not given */
  char *rack;         /* v3+; NULL when not given */
} cg_subscription;

/* Parse len bytes of subscription. A version above 3 is read as 3 (its
 * prefix), as Kafka's ConsumerProtocol reads newer ones. 0, ND_ECORRUPT
 * (truncated or negative lengths: out empty), -ENOMEM (out empty). */
int cg_subscription_parse(const uint8_t *p, size_t len, cg_subscription *out);
void cg_subscription_free(cg_subscription *s);

/* Encode s as a ConsumerProtocolAssignment of `version` (0-3 share one
 * layout; SyncGroup answers a classic member in the version of its
 * subscription), topics by name from the store (a topic deleted meanwhile
 * is left out), no user data. *out malloc'ed. 0 or -ENOMEM. */
int cg_assignment_encode(nd_store *st, const cg_parts *s, int16_t version,
                         uint8_t **out, size_t *len);
/* The reverse: a classic assignment as a set by topic id (topics the store
 * does not know are left out, as Kafka leaves out what its image has
 * not). 0, ND_ECORRUPT, -ENOMEM (out empty). */
int cg_assignment_decode(nd_store *st, const uint8_t *p, size_t len,
                         cg_parts *out);

/* Classic requests (coordinator.c) into g, a consumer group: the member
 * joins, syncs, heartbeats or leaves as a classic member inside it
 * (Kafka's classicGroup*ToConsumerGroup). join: 0 when answered, else the
 * error to answer it with; the others answer and return 0, or -1 when out
 * of memory (the handler convention). Loop thread. */
int16_t cgroup_classic_join(kafka_req *r, cgroup *g);
int cgroup_classic_sync(kafka_req *r, cgroup *g);
int cgroup_classic_heartbeat(kafka_req *r, cgroup *g);
int cgroup_classic_leave(kafka_req *r, cgroup *g);
/* Member `leaving` is about to leave g: when only classic members would
 * remain and group.consumer.migration.policy allows it, g becomes a
 * classic group of them at g's epoch, without `leaving`, and g (with every
 * member) is freed: 1 (Kafka's online downgrade:
 * validateOnlineDowngradeWithFencedMember, convertToClassicGroup). Else 0,
 * nothing changed. */
int cgroup_maybe_downgrade(cgroup *g, const cg_member *leaving);
/* Free a member's classic state (cg_member.classic); NULL is fine. */
void cgroup_classic_free(void *classic);

/* cgroup.c, for cgroup_classic.c: run ConsumerGroupHeartbeat's logic
 * (join or update, target assignment, reconciliation, persist) for a
 * request built from a classic member's JoinGroup; resp gets what a
 * heartbeat answer would. 0 or the error (resp's message set); *gp the
 * group. Restart a member's session; remove a member (it left, or its
 * session ended) as a leaving heartbeat does; the heartbeat interval. */
int16_t cgroup_heartbeat_as(kafka_req *r,
                            kafka_consumer_group_heartbeat_request *q,
                            kafka_consumer_group_heartbeat_response *resp,
                            cgroup **gp);
void cgroup_member_touch(cg_member *m);
/* Add g, built elsewhere (a converted classic group), to the groups. */
void cgroup_link(broker *b, cgroup *g);
/* The online upgrade (ConsumerGroupHeartbeat with epoch 0 into a classic
 * group with members, Kafka's validateOnlineUpgrade/convertToConsumerGroup):
 * when group.consumer.migration.policy allows it and every member speaks
 * the consumer's embedded protocol, the classic group is replaced by a
 * consumer group at its generation whose members are its members (classic
 * members, each keeping its assignment as its target), and their parked
 * JoinGroup/SyncGroup requests are answered REBALANCE_IN_PROGRESS.
 * cgroup_classic.c. 0, or the error (the classic group is untouched). */
int16_t cgroup_from_classic(kafka_req *r, struct group *cl);
/* A fresh member id (malloc'ed), or NULL when out of memory. */
char *cgroup_new_member_id(void);
void cgroup_member_remove(cg_member *m, const char *why);
int32_t cgroup_heartbeat_interval_ms(const cgroup *g);

/* Handlers (API table in kafka_api.c). */
int handle_consumer_group_heartbeat(kafka_req *r);
int handle_consumer_group_describe(kafka_req *r);

#endif
