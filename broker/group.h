/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.h — the classic consumer group coordinator of `nodata serve`.
 *
 * Node 0 coordinates every group. All state lives on the loop thread (no
 * locks): groups in a hash table, members in join order, JoinGroup and
 * SyncGroup requests parked on their member until the rebalance gets
 * there. A group moves through Kafka's classic states:
 *
 *   Empty --JoinGroup--> PreparingRebalance --every member rejoined, or the
 *   rebalance timeout--> CompletingRebalance --leader's SyncGroup--> Stable
 *   --join / leave / session expiry / leader's rejoin--> PreparingRebalance
 *
 * and back to Empty when the last member goes. Committed offsets are not
 * kept here: libnodata stores them (nd_commit_offsets), so a group that
 * only commits ("simple" consumers, generation -1) needs no state at all.
 *
 * coordinator.c holds the state machine and JoinGroup, SyncGroup,
 * Heartbeat and LeaveGroup; coordinator_groups.c FindCoordinator,
 * ListGroups and DescribeGroups; coordinator_offsets.c the committed
 * offsets (OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups). They
 * read the state through the structures below.
 */
#ifndef ND_GROUP_H
#define ND_GROUP_H

#include <stdint.h>

#include "kafka.h"

enum group_state {
  GROUP_EMPTY,
  GROUP_PREPARING_REBALANCE,
  GROUP_COMPLETING_REBALANCE,
  GROUP_STABLE,
  GROUP_DEAD,
};

/* Session timeouts a JoinGroup may ask for. Kafka's floor is 6 s
 * (group.min.session.timeout.ms); one node on one machine can tell a dead
 * consumer sooner, and tests rely on it. */
#define GROUP_MIN_SESSION_MS 1000
#define GROUP_MAX_SESSION_MS 1800000

typedef struct group group;
typedef struct group_coord group_coord;
typedef struct committer committer;

typedef struct group_protocol {
  char *name;
  uint8_t *meta;
  int32_t len;
} group_protocol;

typedef struct gmember {
  group *g;
  struct gmember *next; /* join order */
  char *id;
  char *instance_id; /* group.instance.id of a static member, or NULL */
  char *client_id, *client_host;
  int32_t session_ms, rebalance_ms;
  group_protocol *protocols;
  int32_t nprotocols;
  uint8_t *assignment; /* from the leader's SyncGroup; NULL = none yet */
  int32_t assignment_len;
  /* Rejoined in the current rebalance. Stays set when the connection of
   * the parked JoinGroup closes: Kafka keeps such a member in the next
   * generation and lets its session time out. */
  int awaiting_join;
  int is_new;                     /* has not completed a join yet */
  kafka_req *join_req, *sync_req; /* parked, answered later */
  int64_t deadline;               /* session expiry, net_now_ms() clock */
  net_timer *timer;
} gmember;

/* A member id handed out with MEMBER_ID_REQUIRED (KIP-394), not yet used
 * to join. It counts as a member that has not rejoined, and expires with
 * the session timeout of the JoinGroup that got it. */
typedef struct gpending {
  group *g;
  struct gpending *next;
  char *id;
  net_timer *timer;
} gpending;

struct group {
  group_coord *gc;
  group *hnext;
  char *id;
  int state; /* enum group_state */
  int32_t generation;
  char *protocol_type; /* NULL until the first member joins */
  char *protocol;      /* chosen for the generation; NULL when Empty */
  gmember *members, *leader;
  int32_t nmembers;
  gpending *pending;
  /* The running rebalance: the initial delay of a group that was Empty
   * (extended while members keep arriving, like Kafka's
   * InitialDelayedJoin), else the rebalance timeout. */
  net_timer *join_timer;
  int initial_delay;
  int new_member_added;
  int64_t initial_remaining_ms;
  /* When the group last became Empty (or was made), wall clock ms
   * (group_wall_ms): an Empty group's offsets expire counted from it, as
   * from Kafka's currentStateTimestamp (coordinator_expiry.c). */
  int64_t empty_since_ms;
};

typedef struct expiry expiry;

struct group_coord {
  broker *b;
  group **buckets;
  size_t nbuckets, ngroups;
  committer *committer; /* OffsetCommit's fdatasyncs, off the loop */
  expiry *expiry;       /* committed offsets expiring (coordinator_expiry.c) */
};

/* Lifecycle, from kafka_init / kafka_fini. */
int group_init(broker *b);
void group_fini(broker *b);

/* The committer (coordinator_offsets.c): OffsetCommits made durable on
 * the worker's commit lanes. Stop it after worker_stop: every commit has
 * been answered by then. */
int committer_start(broker *b, committer **out);
void committer_stop(committer *c);
/* The worker lane that takes group gid's commits, in arrival order: work
 * queued there lands between them, never across one. */
int committer_lane(const char *gid);

/* Committed offsets expire (coordinator_expiry.c): every
 * offsets.retention.check.interval.ms a pass on the loop finds the
 * offsets Kafka's rules expire and deletes them on the group's commit
 * lane, removing groups left Empty without offsets. Start from
 * group_init (nothing without a loop); stop from group_fini, after
 * worker_stop (a job still running then has been completed). 0 or
 * -ENOMEM. */
int expiry_start(broker *b, group_coord *gc);
void expiry_stop(group_coord *gc);
/* An INFO line of component "group" about group gid: "group GID: ...". */
void group_log(const char *gid, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The wall clock in ms since the epoch, the clock of the library's commit
 * times (nd_committed.commit_time_ms). */
int64_t group_wall_ms(void);
/* Is topic among the subscriptions (ConsumerProtocol) of the members of an
 * active "consumer" group (coordinator_offsets.c)? 1 also when they cannot
 * be read, as Kafka's ClassicGroup.isSubscribedToTopic treats a group
 * whose subscriptions it does not know (OffsetDelete refuses the topic,
 * expiry keeps its offsets). Loop thread. */
int group_subscribed(const group *g, const char *topic);

/* A usable group id: not empty, and short enough for libnodata to keep
 * its offsets (ND_GROUP_NAME_MAX). */
static inline int group_id_ok(const char *gid) {
  return gid && *gid && __builtin_strlen(gid) <= ND_GROUP_NAME_MAX;
}

/* A request's string as a C string, NULL for a null one. */
static inline const char *group_cstr(kf_str s) {
  return kafka_cstr_ok(s) ? s.ptr : NULL;
}

/* A malloc'ed copy of a request's string, NULL for a null one (or when
 * out of memory). */
char *group_dup_str(kf_str s);
/* The client's address as Kafka shows a member's host ("/127.0.0.1"),
 * written into buf (from r->peer, so it outlives the connection). */
const char *group_client_host(kafka_req *r, char *buf, size_t cap);

/* Has the group committed offsets? (coordinator_offsets.c) */
int group_has_offsets(kafka_req *r, const char *gid);
/* Who may commit into group gid (Kafka's ClassicGroup.validateOffsetCommit):
 * 0 or the error for every partition. txn: a TxnOffsetCommit, which Kafka
 * lets in with generation -1 from outside a live group and during a
 * rebalance. Touches the committing member. Loop thread. */
int16_t group_commit_check(kafka_req *r, const char *gid, int32_t gen,
                           const char *member_id, const char *inst, int txn);

/* Free a JoinGroup's protocol list (names and metadata) and empty it:
 * *protocols NULL, *n 0. For classic members of either kind of group. */
void group_protocols_free(group_protocol **protocols, int32_t *n);

/* Lookups for the handlers in coordinator_*.c. */
group *group_find(group_coord *gc, const char *id);
gmember *group_find_member(const group *g, const char *member_id);
gmember *group_find_instance(const group *g, const char *instance_id);
const char *group_state_name(int state);
const group_protocol *group_member_protocol(const gmember *m, const char *name);
/* The member's session starts again (a heartbeat, sync or commit). */
void group_touch(gmember *m);
/* Forget an Empty group's in-memory state (DeleteGroups). */
void group_forget(group_coord *gc, group *g);
/* A member of a consumer group becoming a classic group (the online
 * downgrade): what group_from_consumer copies. */
typedef struct group_member_spec {
  const char *id, *instance_id, *client_id, *client_host;
  int32_t session_ms, rebalance_ms;
  const group_protocol *protocols;
  int32_t nprotocols;
  const uint8_t *assignment; /* ConsumerProtocolAssignment, may be NULL */
  int32_t assignment_len;
} group_member_spec;

/* Make classic group `id` at `generation` from n members (the first is
 * the leader), running `protocol` of type "consumer", and start a
 * rebalance so that they rejoin it (Kafka's ClassicGroup.fromConsumerGroup
 * and prepareRebalance). Everything is copied. 0 or -ENOMEM (no group). */
int group_from_consumer(broker *b, const char *id, int32_t generation,
                        const char *protocol, const group_member_spec *specs,
                        int32_t n);

/* Answer a JoinGroup with err alone (and member_id, MEMBER_ID_REQUIRED's
 * new id). */
void group_join_error(kafka_req *r, int16_t err, const char *member_id);
/* Drop a group with its members (converted to a consumer group): their
 * parked JoinGroup/SyncGroup requests are answered with err. */
void group_drop(group_coord *gc, group *g, int16_t err);

/* For an identity in a request: FENCED_INSTANCE_ID if instance_id names a
 * static member with another member id, else UNKNOWN_MEMBER_ID if the
 * member id is not in the group, else 0 with *out set. */
int16_t group_check_member(group *g, const char *member_id,
                           const char *instance_id, gmember **out);

/* Handlers (API table in kafka_api.c). */
int handle_find_coordinator(kafka_req *r);
int handle_join_group(kafka_req *r);
int handle_sync_group(kafka_req *r);
int handle_heartbeat(kafka_req *r);
int handle_leave_group(kafka_req *r);
int handle_offset_commit(kafka_req *r);
int handle_offset_fetch(kafka_req *r);
int handle_list_groups(kafka_req *r);
int handle_describe_groups(kafka_req *r);
int handle_delete_groups(kafka_req *r);
int handle_offset_delete(kafka_req *r);

#endif
