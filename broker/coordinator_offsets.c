/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coordinator_offsets.c — a group's committed offsets: OffsetCommit,
 * OffsetFetch, OffsetDelete and DeleteGroups (which deletes them), and the
 * committer that makes commits durable off the loop. The group state they
 * check lives in coordinator.c; committed offsets live in libnodata
 * (DATA/groups/), so an OffsetCommit is durable (fdatasync'd) before it is
 * answered and survives kill -9.
 *
 * Commit checks follow Kafka 4's classic groups: generation -1 commits
 * ("simple" consumers, admin tools) need an Empty or unknown group; any
 * other commit needs a known member of the current generation
 * (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID), and a group
 * waiting for its leader's assignment answers REBALANCE_IN_PROGRESS. A
 * group known only by its committed offsets (after a restart, say) is an
 * Empty group, as Kafka loads it from its offsets topic; a commit with a
 * generation for a group with neither members nor offsets gets
 * ILLEGAL_GENERATION, or GROUP_ID_NOT_FOUND from v9 on, as Kafka 4 does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgroup.h"
#include "group.h"

/* ---- the committer ------------------------------------------------------ */

/* nd_commit_offsets fdatasyncs before it returns, and the loop must not
 * wait for a disk: commits go to the worker's commit lanes (worker.c) and
 * come back to the loop to be answered; the request is parked meanwhile
 * and its arena holds the job. A group always goes to the same lane, which
 * works in arrival order, so a group's later commit never lands before an
 * earlier one. Lanes of different groups overlap, and libnodata lets
 * concurrent commits share one fdatasync; commits of one group queued
 * behind each other are written as one. */

typedef struct commit_job {
  worker_job job; /* first: a worker_job * is a commit_job * */
  kafka_req *r;
  void *resp;
  const char *gid;
  nd_offset_commit *cs;
  int16_t **errs;
  size_t n;
  uint64_t seq; /* submission order, for readers waiting on it */
} commit_job;

/* A group with commits queued or running, and how far they got. Loop
 * thread only. Jobs of a group finish in submission order (one lane). */
typedef struct inflight {
  struct inflight *next;
  char *gid;
  int pending;
  uint64_t last_submitted, last_done;
} inflight;

/* A request (OffsetFetch, DeleteGroups) that must see the commits queued
 * before it: Kafka serves a connection's requests one after the other, and
 * a client may send OffsetFetch right behind its OffsetCommit. */
typedef struct commit_waiter {
  struct commit_waiter *prev, *next;
  kafka_req *r;
  int (*run)(kafka_req *r);
  size_t n;
  const char **gids;
  uint64_t *targets;
} commit_waiter;

#define INFLIGHT_BUCKETS 64

/* Loop thread only: the threads are the worker's. */
struct committer {
  broker *b;
  uint64_t seq;
  inflight *inflight[INFLIGHT_BUCKETS];
  commit_waiter *waiters, *waiters_tail; /* in arrival order */
};

static uint64_t gid_hash(const char *gid) {
  uint64_t h = 1469598103934665603ull;
  for (; *gid; gid++)
    h = (h ^ (uint8_t)*gid) * 1099511628211ull;
  return h;
}

static inflight **inflight_slot(committer *c, const char *gid) {
  inflight **pp = &c->inflight[gid_hash(gid) % INFLIGHT_BUCKETS];
  while (*pp && strcmp((*pp)->gid, gid) != 0)
    pp = &(*pp)->next;
  return pp;
}

/* Has everything of gid submitted up to `target` finished? */
static int inflight_done(committer *c, const char *gid, uint64_t target) {
  inflight *f = *inflight_slot(c, gid);
  return !f || f->last_done >= target;
}

static void waiter_unlink(committer *c, commit_waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    c->waiters = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    c->waiters_tail = w->prev;
}

static void waiters_run(committer *c) {
  for (commit_waiter *w = c->waiters, *next; w; w = next) {
    next = w->next;
    size_t i = 0;
    while (i < w->n && inflight_done(c, w->gids[i], w->targets[i]))
      i++;
    if (i < w->n)
      continue;
    kafka_req *r = w->r;
    waiter_unlink(c, w);
    kafka_unpark(r);
    r->hctx = NULL;
    /* w lives in r's arena: gone once r is answered. */
    if (w->run(r) != 0) {
      /* Out of memory: the client gets no answer and its connection
       * closes (as when a handler fails at once). */
      net_conn_close(r->conn, "out of memory answering a request");
      kafka_respond_none(r);
    }
  }
}

/* The job's msg is the library's message, taken on the thread that ran
 * the commit (nd_errmsg() is per thread). */
static void commit_answer(commit_job *j) {
  if (j->job.rc != 0) {
    int16_t e = kafka_err(j->job.rc);
    kafka_log(j->r, BLOG_ERROR,
              "group %s: commit failed: %s; answered " KAFKA_ERR_FMT, j->gid,
              j->job.msg, KAFKA_ERR_ARGS(e));
    for (size_t k = 0; k < j->n; k++)
      *j->errs[k] = e;
  }
  kafka_respond(j->r, j->resp);
}

/* Loop thread: one commit finished. */
static void commit_done(worker_job *wj) {
  commit_job *j = (commit_job *)wj;
  committer *c = wj->ctx;
  inflight **pp = inflight_slot(c, j->gid);
  inflight *f = *pp;
  if (f) {
    f->last_done = j->seq;
    if (--f->pending == 0) {
      *pp = f->next;
      free(f->gid);
      free(f);
    }
  }
  commit_answer(j); /* frees j with its request */
  waiters_run(c);
}

static void commit_one(broker *b, commit_job *j) {
  worker_job_result(&j->job, nd_commit_offsets(b->store, j->gid, j->cs, j->n));
}

/* Lane thread: the n commits queued together, runs of jobs of one group
 * as one call (in order, so the later offset of a partition wins), each
 * job alone if that fails. */
static void commit_run(worker_job *first, size_t n) {
  committer *c = first->ctx;
  commit_job *list = (commit_job *)first;
  while (n > 0) {
    commit_job *end = list;
    size_t k = 0, total = 0;
    while (k < n && strcmp(end->gid, list->gid) == 0) {
      total += end->n;
      k++;
      end = (commit_job *)end->job.next; /* not read once k == n */
    }
    nd_offset_commit *all = k > 1 ? malloc(total * sizeof *all) : NULL;
    int rc = -1;
    if (all) {
      size_t off = 0;
      commit_job *j = list;
      for (size_t i = 0; i < k; i++, j = (commit_job *)j->job.next) {
        memcpy(all + off, j->cs, j->n * sizeof *all);
        off += j->n;
      }
      rc = nd_commit_offsets(c->b->store, list->gid, all, total);
      free(all);
    }
    commit_job *j = list;
    for (size_t i = 0; i < k; i++, j = (commit_job *)j->job.next) {
      if (rc == 0)
        worker_job_result(&j->job, 0);
      else
        commit_one(c->b, j);
    }
    list = end;
    n -= k;
  }
}

int committer_lane(const char *gid) {
  return WORKER_LANE_COMMIT + (int)(gid_hash(gid) % WORKER_COMMIT_LANES);
}

int committer_start(broker *b, committer **out) {
  committer *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->b = b;
  *out = c;
  return 0;
}

/* After worker_stop: every commit has been answered by then. */
void committer_stop(committer *c) {
  if (!c)
    return;
  for (int i = 0; i < INFLIGHT_BUCKETS; i++)
    while (c->inflight[i]) {
      inflight *f = c->inflight[i];
      c->inflight[i] = f->next;
      free(f->gid);
      free(f);
    }
  free(c);
}

static int commit_closed(kafka_req *r) {
  (void)r;
  return 0; /* the worker holds it; kafka_respond frees it */
}

/* Queue the job on its group's lane (which, without a worker, commits
 * here), or commit here if it cannot be tracked. */
static void commit_submit(committer *c, commit_job *j) {
  j->job.run = commit_run;
  j->job.done = commit_done;
  j->job.ctx = c;
  inflight **pp = c ? inflight_slot(c, j->gid) : NULL;
  if (c && !*pp) {
    inflight *f = calloc(1, sizeof *f);
    char *gid = strdup(j->gid);
    if (!f || !gid) {
      free(f);
      free(gid);
      pp = NULL;
    } else {
      f->gid = gid;
      *pp = f;
      f->last_done = c->seq; /* everything before is done */
    }
  }
  if (!pp) {
    /* Cannot track it: commit on the loop instead. */
    commit_one(j->r->b, j);
    commit_answer(j);
    return;
  }
  j->seq = ++c->seq;
  (*pp)->pending++;
  (*pp)->last_submitted = j->seq;
  kafka_park(j->r, commit_closed);
  worker_queue(c->b->worker, committer_lane(j->gid), &j->job);
}

static int waiter_closed(kafka_req *r) {
  commit_waiter *w = r->hctx;
  committer *c = ((group_coord *)r->b->groups)->committer;
  if (w)
    waiter_unlink(c, w);
  return 1;
}

/* Run `run` for r now, or once the commits of gids queued so far are
 * done. Returns what run returns, or 0 when parked (-1: out of memory). */
static int after_commits(kafka_req *r, const char **gids, size_t n,
                         int (*run)(kafka_req *r)) {
  group_coord *gc = r->b->groups;
  committer *c = gc ? gc->committer : NULL;
  size_t wait = 0;
  for (size_t i = 0; c && i < n; i++)
    if (gids[i] && *inflight_slot(c, gids[i]))
      wait++;
  if (!wait)
    return run(r);
  commit_waiter *w = kf_alloc(&r->arena, sizeof *w);
  const char **wg = kf_alloc(&r->arena, wait * sizeof *wg);
  uint64_t *wt = kf_alloc(&r->arena, wait * sizeof *wt);
  if (!w || !wg || !wt)
    return -1;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    inflight *f = gids[i] ? *inflight_slot(c, gids[i]) : NULL;
    if (f) {
      wg[k] = gids[i];
      wt[k++] = f->last_submitted;
    }
  }
  w->r = r;
  w->run = run;
  w->n = k;
  w->gids = wg;
  w->targets = wt;
  w->next = NULL;
  w->prev = c->waiters_tail;
  if (c->waiters_tail)
    c->waiters_tail->next = w;
  else
    c->waiters = w;
  c->waiters_tail = w;
  r->hctx = w;
  kafka_park(r, waiter_closed);
  return 0;
}

/* ---- OffsetCommit ------------------------------------------------------- */

int group_has_offsets(kafka_req *r, const char *gid) {
  nd_committed *list = NULL;
  size_t count = 0;
  if (nd_group_offsets(r->b->store, gid, &list, &count) != 0)
    return 0;
  nd_committed_free(list, count);
  return count > 0;
}

int16_t group_commit_check(kafka_req *r, const char *gid, int32_t gen,
                           const char *member_id, const char *inst, int txn) {
  cgroup *cg = cgroup_find(r->b, gid);
  if (cg)
    return cgroup_commit_check(r, cg, member_id, gen, txn);
  group *g = group_find(r->b->groups, gid);
  if (!g) {
    if (gen < 0)
      return 0;
    /* A group known only by its offsets (e.g. after a restart) is an
     * Empty group, as Kafka loads it from its offsets topic. */
    if (group_has_offsets(r, gid))
      return KERR_UNKNOWN_MEMBER_ID;
    /* OffsetMetadataManager.validateTransactionalOffsetCommit: an unknown
     * group with a generation. */
    return !txn && r->version >= 9 ? KERR_GROUP_ID_NOT_FOUND
                                   : KERR_ILLEGAL_GENERATION;
  }
  if (gen < 0 && g->state == GROUP_EMPTY)
    return 0;
  gmember *m = NULL;
  if (gen >= 0 || *member_id || inst) {
    int16_t err = group_check_member(g, member_id, inst, &m);
    if (err)
      return err;
    if (gen != g->generation)
      return KERR_ILLEGAL_GENERATION;
  } else if (!txn) {
    return KERR_UNKNOWN_MEMBER_ID; /* only members commit into a live group */
  }
  /* A transactional commit with generation -1 may come from outside a
   * live group, and a rebalance does not stop it (ClassicGroup.
   * validateOffsetCommit with isTransactional). */
  if (!txn && g->state == GROUP_COMPLETING_REBALANCE)
    return KERR_REBALANCE_IN_PROGRESS;
  if (m)
    group_touch(m);
  return 0;
}

int handle_offset_commit(kafka_req *r) {
  kafka_offset_commit_request *req = r->body;
  kafka_offset_commit_response *resp =
      kf_new(&r->arena, &kafka_offset_commit_response_desc);
  if (!resp)
    return -1;
  const char *gid = group_cstr(req->group_id);
  const char *member_id = group_cstr(req->member_id);
  const char *inst =
      r->version >= 7 ? group_cstr(req->group_instance_id) : NULL;
  int16_t gerr;
  /* READ on the group, then READ on each topic (KafkaApis). */
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ))
    gerr = KERR_GROUP_AUTHORIZATION_FAILED;
  else if (!group_id_ok(gid))
    gerr = KERR_INVALID_GROUP_ID;
  else
    gerr = group_commit_check(r, gid, req->generation_id_or_member_epoch,
                              member_id ? member_id : "", inst, 0);
  /* A member of a consumer group behind its epoch may still commit the
   * partitions it has held since (cgroup_commit_lagging): decided per
   * partition below, refused with gerr. */
  const cg_member *lag =
      gerr == KERR_STALE_MEMBER_EPOCH || gerr == KERR_ILLEGAL_GENERATION
          ? cgroup_commit_lagging(r->b, gid, member_id,
                                  req->generation_id_or_member_epoch)
          : NULL;

  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_offset_commit_response_topic *ts =
      kf_new_array(&r->arena, &kafka_offset_commit_response_topic_desc, nt);
  if (nt && !ts)
    return -1;
  resp->topics.items = ts;
  resp->topics.count = nt;
  size_t total = 0;
  for (int32_t i = 0; i < nt; i++)
    if (req->topics.items[i].partitions.count > 0)
      total += (size_t)req->topics.items[i].partitions.count;
  nd_offset_commit *cs = kf_alloc(&r->arena, (total ? total : 1) * sizeof *cs);
  int16_t **errs = kf_alloc(&r->arena, (total ? total : 1) * sizeof *errs);
  if (!cs || !errs)
    return -1;
  size_t n = 0;

  for (int32_t i = 0; i < nt; i++) {
    kafka_offset_commit_request_topic *qt = &req->topics.items[i];
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    kafka_offset_commit_response_partition *ps = kf_new_array(
        &r->arena, &kafka_offset_commit_response_partition_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = qt->name;
    ts[i].topic_id = qt->topic_id;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    nd_topic_info info;
    const char *topic = NULL;
    int16_t terr = lag ? 0 : gerr;
    if (!terr && r->version < 10 &&
        !kafka_authorize_str(r, ACL_RES_TOPIC, qt->name, ACL_OP_READ))
      terr = KERR_TOPIC_AUTHORIZATION_FAILED;
    if (!terr)
      terr = kafka_topic_resolve(
          r, r->version >= 10 ? KAFKA_TOPIC_BY_ID : 0, qt->name, qt->topic_id.b,
          KERR_UNKNOWN_TOPIC_OR_PARTITION, &info, &r->arena, &topic);
    if (!terr && r->version >= 10 &&
        !kafka_authorize(r, ACL_RES_TOPIC, topic, strlen(topic), ACL_OP_READ))
      terr = KERR_TOPIC_AUTHORIZATION_FAILED;
    for (int32_t j = 0; j < np; j++) {
      kafka_offset_commit_request_partition *qp = &qt->partitions.items[j];
      ps[j].partition_index = qp->partition_index;
      if (terr) {
        ps[j].error_code = terr;
      } else if (qp->partition_index < 0 ||
                 qp->partition_index >= info.partitions) {
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      } else if (qp->committed_metadata.len > ND_OFFSET_METADATA_MAX) {
        /* Before the epoch, as Kafka's commitOffset checks them. */
        ps[j].error_code = KERR_OFFSET_METADATA_TOO_LARGE;
      } else if (lag && (ps[j].error_code = cgroup_commit_partition(
                             lag, req->generation_id_or_member_epoch, info.id,
                             qp->partition_index, gerr)) != 0) {
        /* held since a later epoch, or not at all */
      } else if (qp->committed_offset < -1) {
        ps[j].error_code = KERR_INVALID_REQUEST;
      } else {
        cs[n].topic = topic;
        cs[n].partition = qp->partition_index;
        cs[n].offset = qp->committed_offset;
        cs[n].leader_epoch = qp->committed_leader_epoch;
        /* Kept byte for byte, NULs included, as Kafka keeps it. Decoded
         * strings are NUL-terminated, so length 0 (meaning strlen) is right
         * for an empty one too. */
        kf_str m = qp->committed_metadata;
        cs[n].metadata = m.len >= 0 ? m.ptr : NULL;
        cs[n].metadata_len = m.len > 0 ? (size_t)m.len : 0;
        errs[n++] = &ps[j].error_code;
      }
    }
  }
  if (!n) {
    kafka_respond(r, resp);
    return 0;
  }
  /* One record for the whole request, synced before the answer. */
  commit_job *j = kf_alloc(&r->arena, sizeof *j);
  if (!j)
    return -1;
  j->r = r;
  j->resp = resp;
  j->gid = gid;
  j->cs = cs;
  j->errs = errs;
  j->n = n;
  commit_submit(r->b->groups ? ((group_coord *)r->b->groups)->committer : NULL,
                j);
  return 0;
}

/* ---- OffsetFetch -------------------------------------------------------- */

typedef kafka_offset_fetch_response_topics of_topic;
typedef kafka_offset_fetch_response_partitions of_part;

/* OffsetFetch v7+ with require_stable (KIP-447): a partition with offsets
 * pending in an open transaction is UNSTABLE_OFFSET_COMMIT (offset -1),
 * as Kafka answers, so the consumer retries until the transaction ends
 * rather than start from an offset about to change. */
static int unstable(kafka_req *r, const char *gid, const char *topic,
                    of_part *p) {
  const kafka_offset_fetch_request *req = r->body;
  if (r->version < 7 || !req->require_stable ||
      nd_txn_offsets_pending(r->b->store, gid, topic, p->partition_index) != 1)
    return 0;
  p->error_code = KERR_UNSTABLE_OFFSET_COMMIT;
  p->committed_offset = -1;
  p->committed_leader_epoch = -1;
  p->metadata = kf_s("");
  return 1;
}

static void fill_committed(kafka_req *r, const char *gid, const char *topic,
                           of_part *p) {
  if (group_id_ok(gid) && unstable(r, gid, topic, p))
    return;
  int64_t off = -1;
  int32_t epoch = -1;
  char *meta = NULL;
  size_t meta_len = 0;
  /* A group id nodata cannot store has no commits, as in Kafka. */
  int rc = !group_id_ok(gid) ? ND_ENOTFOUND
                             : nd_committed_offset(r->b->store, gid, topic,
                                                   p->partition_index, &off,
                                                   &epoch, &meta, &meta_len);
  if (rc != 0 && rc != ND_ENOTOPIC && rc != ND_ENOPARTITION &&
      rc != ND_ENOTFOUND) {
    p->error_code = kafka_err(rc);
    off = -1;
    epoch = -1;
  }
  p->committed_offset = off;
  p->committed_leader_epoch = off >= 0 ? epoch : -1;
  /* Kafka answers "" (OffsetFetchResponse.NO_METADATA) when there is none. */
  p->metadata = meta ? kafka_strn(r, meta, meta_len) : kf_s("");
  nd_free(meta);
}

/* One group's offsets in the v8+ shape (v1-7 are copied out of it).
 * all: every committed partition (null topics). qg: the v8+ request's
 * group (its member and epoch), NULL for v1-7. */
static int fetch_group(kafka_req *r, const kafka_offset_fetch_request_group *qg,
                       const char *gid, int all,
                       const kafka_offset_fetch_request_topics *qts,
                       int32_t nqt, kafka_offset_fetch_response_group *out) {
  /* Only a null id is invalid: Kafka answers "" (and any id) as a group,
   * one without commits when nodata could not have stored them. */
  if (!gid) {
    out->error_code = KERR_INVALID_GROUP_ID;
    out->topics.count = 0;
    return 0;
  }
  /* DESCRIBE on the group; then DESCRIBE on each topic: a denied one
   * asked for is an error, one of "all" is left out (KafkaApis). */
  if (!kafka_authorize(r, ACL_RES_GROUP, gid, strlen(gid), ACL_OP_DESCRIBE)) {
    out->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
    out->topics.count = 0;
    return 0;
  }
  /* v9+ name the member asking: a consumer group checks its epoch
   * (ConsumerGroup.validateOffsetFetch). */
  cgroup *cg =
      qg && r->version >= 9 && group_id_ok(gid) ? cgroup_find(r->b, gid) : NULL;
  if (cg) {
    out->error_code =
        cgroup_fetch_check(r, cg, group_cstr(qg->member_id), qg->member_epoch);
    if (out->error_code) {
      out->topics.count = 0;
      return 0;
    }
  }
  if (all && !group_id_ok(gid)) {
    out->topics.count = 0;
    return 0;
  }
  if (all) {
    nd_committed *list = NULL;
    size_t count = 0;
    int rc = nd_group_offsets(r->b->store, gid, &list, &count);
    if (rc != 0) {
      out->error_code = kafka_err(rc);
      return 0;
    }
    of_topic *ts = kf_new_array(
        &r->arena, &kafka_offset_fetch_response_topics_desc, (int32_t)count);
    if (count && !ts) {
      nd_committed_free(list, count);
      return -1;
    }
    int32_t nt = 0;
    for (size_t i = 0; i < count;) {
      size_t j = i;
      while (j < count && strcmp(list[j].topic, list[i].topic) == 0)
        j++;
      nd_topic_info info;
      if (nd_topic_describe(r->b->store, list[i].topic, &info) != 0 ||
          !kafka_authorize_quiet(r, ACL_RES_TOPIC, list[i].topic,
                                 strlen(list[i].topic), ACL_OP_DESCRIBE)) {
        i = j; /* deleted meanwhile, or not the principal's to see */
        continue;
      }
      of_topic *t = &ts[nt++];
      t->name = kafka_str(r, list[i].topic);
      memcpy(t->topic_id.b, info.id, 16);
      of_part *ps =
          kf_new_array(&r->arena, &kafka_offset_fetch_response_partitions_desc,
                       (int32_t)(j - i));
      if (!ps) {
        nd_committed_free(list, count);
        return -1;
      }
      for (size_t k = i; k < j; k++) {
        of_part *p = &ps[k - i];
        p->partition_index = list[k].partition;
        p->committed_offset = list[k].offset;
        p->committed_leader_epoch = list[k].leader_epoch;
        p->metadata = list[k].metadata ? kafka_strn(r, list[k].metadata,
                                                    list[k].metadata_len)
                                       : kf_s("");
        unstable(r, gid, list[i].topic, p);
      }
      t->partitions.items = ps;
      t->partitions.count = (int32_t)(j - i);
      i = j;
    }
    nd_committed_free(list, count);
    out->topics.items = ts;
    out->topics.count = nt;
    return 0;
  }
  of_topic *ts =
      kf_new_array(&r->arena, &kafka_offset_fetch_response_topics_desc, nqt);
  if (nqt && !ts)
    return -1;
  for (int32_t i = 0; i < nqt; i++) {
    const kafka_offset_fetch_request_topics *q = &qts[i];
    const char *topic = group_cstr(q->name);
    int16_t terr = 0;
    if (r->version >= 10) {
      nd_topic_info info;
      terr = kafka_topic_resolve(r, KAFKA_TOPIC_BY_ID, q->name, q->topic_id.b,
                                 0, &info, &r->arena, &topic);
    }
    if (!terr && topic &&
        !kafka_authorize(r, ACL_RES_TOPIC, topic, strlen(topic),
                         ACL_OP_DESCRIBE))
      terr = KERR_TOPIC_AUTHORIZATION_FAILED;
    int32_t np =
        q->partition_indexes.count > 0 ? q->partition_indexes.count : 0;
    of_part *ps = kf_new_array(
        &r->arena, &kafka_offset_fetch_response_partitions_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = q->name;
    ts[i].topic_id = q->topic_id;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    for (int32_t j = 0; j < np; j++) {
      ps[j].partition_index = q->partition_indexes.items[j];
      if (terr || !topic) {
        ps[j].error_code = terr ? terr : KERR_UNKNOWN_TOPIC_OR_PARTITION;
        ps[j].committed_offset = -1;
        ps[j].metadata = kf_s("");
        continue;
      }
      fill_committed(r, gid, topic, &ps[j]);
    }
  }
  out->topics.items = ts;
  out->topics.count = nqt;
  return 0;
}

static int offset_fetch_now(kafka_req *r) {
  kafka_offset_fetch_request *req = r->body;
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
      int32_t nq = q->topics.count > 0 ? q->topics.count : 0;
      if (fetch_group(r, q, group_cstr(q->group_id), q->topics.count < 0,
                      q->topics.items, nq, &out[i]) != 0)
        return -1;
    }
    resp->groups.items = out;
    resp->groups.count = n;
    kafka_respond(r, resp);
    return 0;
  }
  /* v1-7: one group. Ask in the v8 shape, then copy into the old one. */
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
  if (fetch_group(r, NULL, group_cstr(req->group_id), req->topics.count < 0,
                  qts, nq, &one) != 0)
    return -1;
  resp->error_code = one.error_code;
  /* v1 has no group-level error: Kafka puts a denied group's error on
   * every partition asked for (OffsetFetchRequest.getErrorResponse). */
  if (one.error_code == KERR_GROUP_AUTHORIZATION_FAILED && r->version < 2 &&
      nq > 0) {
    of_topic *dt =
        kf_new_array(&r->arena, &kafka_offset_fetch_response_topics_desc, nq);
    if (!dt)
      return -1;
    for (int32_t i = 0; i < nq; i++) {
      int32_t np = qts[i].partition_indexes.count > 0
                       ? qts[i].partition_indexes.count
                       : 0;
      of_part *ps = kf_new_array(
          &r->arena, &kafka_offset_fetch_response_partitions_desc, np);
      if (np && !ps)
        return -1;
      for (int32_t j = 0; j < np; j++) {
        ps[j].partition_index = qts[i].partition_indexes.items[j];
        ps[j].committed_offset = -1;
        ps[j].metadata = kf_s("");
        ps[j].error_code = one.error_code;
      }
      dt[i].name = qts[i].name;
      dt[i].partitions.items = ps;
      dt[i].partitions.count = np;
    }
    one.topics.items = dt;
    one.topics.count = nq;
  }
  int32_t nt = one.topics.count;
  kafka_offset_fetch_response_topic *ts =
      kf_new_array(&r->arena, &kafka_offset_fetch_response_topic_desc, nt);
  if (nt && !ts)
    return -1;
  for (int32_t i = 0; i < nt; i++) {
    of_topic *s = &one.topics.items[i];
    int32_t np = s->partitions.count;
    kafka_offset_fetch_response_partition *ps = kf_new_array(
        &r->arena, &kafka_offset_fetch_response_partition_desc, np);
    if (np && !ps)
      return -1;
    for (int32_t j = 0; j < np; j++) {
      ps[j].partition_index = s->partitions.items[j].partition_index;
      ps[j].committed_offset = s->partitions.items[j].committed_offset;
      ps[j].committed_leader_epoch =
          s->partitions.items[j].committed_leader_epoch;
      ps[j].metadata = s->partitions.items[j].metadata;
      ps[j].error_code = s->partitions.items[j].error_code;
    }
    ts[i].name = s->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

int handle_offset_fetch(kafka_req *r) {
  kafka_offset_fetch_request *req = r->body;
  if (r->version < 8) {
    const char *gid = group_cstr(req->group_id);
    return after_commits(r, &gid, 1, offset_fetch_now);
  }
  int32_t n = req->groups.count > 0 ? req->groups.count : 0;
  const char **gids = kf_alloc(&r->arena, ((size_t)n + 1) * sizeof *gids);
  if (!gids)
    return -1;
  for (int32_t i = 0; i < n; i++)
    gids[i] = group_cstr(req->groups.items[i].group_id);
  return after_commits(r, gids, (size_t)n, offset_fetch_now);
}

/* ---- DeleteGroups ------------------------------------------------------- */

static int delete_groups_now(kafka_req *r) {
  kafka_delete_groups_request *req = r->body;
  group_coord *gc = r->b->groups;
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
    const char *gid = group_cstr(req->groups_names.items[i]);
    rs[i].group_id = req->groups_names.items[i];
    if (!kafka_authorize_str(r, ACL_RES_GROUP, req->groups_names.items[i],
                             ACL_OP_DELETE)) {
      rs[i].error_code = KERR_GROUP_AUTHORIZATION_FAILED;
      continue;
    }
    if (!group_id_ok(gid)) {
      /* Kafka: null is invalid, "" and any other id not found. */
      rs[i].error_code = gid ? KERR_GROUP_ID_NOT_FOUND : KERR_INVALID_GROUP_ID;
      continue;
    }
    group *g = group_find(gc, gid);
    cgroup *cg = cgroup_find(r->b, gid);
    /* A consumer group goes only when Empty (ConsumerGroup.
     * validateDeleteGroup), with its offsets and its kept state. */
    if ((g && (g->state != GROUP_EMPTY || g->nmembers > 0 || g->pending)) ||
        (cg && cg->state != CG_EMPTY)) {
      rs[i].error_code = KERR_NON_EMPTY_GROUP;
      continue;
    }
    int rc = nd_group_delete(r->b->store, gid);
    if (rc == ND_ENOTFOUND && !g && !cg) {
      rs[i].error_code = KERR_GROUP_ID_NOT_FOUND;
      continue;
    }
    if (rc != 0 && rc != ND_ENOTFOUND) {
      rs[i].error_code = kafka_err(rc);
      kafka_log(
          r, BLOG_ERROR,
          "group %s: cannot delete its offsets: %s; answered " KAFKA_ERR_FMT,
          gid, nd_errmsg(), KAFKA_ERR_ARGS(rs[i].error_code));
      continue;
    }
    if (g)
      group_forget(gc, g);
    if (cg)
      cgroup_forget(r->b, cg);
    kafka_log(r, BLOG_INFO, "group %s deleted", gid);
  }
  resp->results.items = rs;
  resp->results.count = n;
  kafka_respond(r, resp);
  return 0;
}

int handle_delete_groups(kafka_req *r) {
  kafka_delete_groups_request *req = r->body;
  int32_t n = req->groups_names.count > 0 ? req->groups_names.count : 0;
  const char **gids = kf_alloc(&r->arena, ((size_t)n + 1) * sizeof *gids);
  if (!gids)
    return -1;
  for (int32_t i = 0; i < n; i++)
    gids[i] = group_cstr(req->groups_names.items[i]);
  return after_commits(r, gids, (size_t)n, delete_groups_now);
}

/* ---- OffsetDelete ------------------------------------------------------- */

/* Is topic in the subscription (ConsumerProtocol, read as its v0 prefix:
 * int16 version, then an array of int16-length strings) of any member of
 * an active "consumer" group? As Kafka's ClassicGroup.isSubscribedToTopic:
 * when the subscriptions cannot be read (no protocol chosen yet, or
 * metadata that does not parse), a consumer group counts as subscribed. */
int group_subscribed(const group *g, const char *topic) {
  if (!g->protocol)
    return 1;
  size_t tl = strlen(topic);
  for (const gmember *m = g->members; m; m = m->next) {
    const group_protocol *p = group_member_protocol(m, g->protocol);
    if (!p || p->len < 6)
      return 1;
    const uint8_t *q = p->meta + 2, *end = p->meta + p->len;
    int32_t n = (int32_t)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
                          (uint32_t)q[2] << 8 | q[3]);
    q += 4;
    for (int32_t i = 0; i < n; i++) {
      if (end - q < 2)
        return 1;
      int16_t l = (int16_t)(q[0] << 8 | q[1]);
      q += 2;
      if (l < 0 || end - q < l)
        return 1;
      if ((size_t)l == tl && memcmp(q, topic, tl) == 0)
        return 1;
      q += l;
    }
  }
  return 0;
}

/* Kafka's OffsetDelete (OffsetMetadataManager.deleteOffsets with
 * ClassicGroup.validateOffsetDelete, KafkaApis for unknown partitions):
 * a group neither in the coordinator nor with committed offsets is
 * GROUP_ID_NOT_FOUND; an active group of another protocol type than
 * "consumer" is NON_EMPTY_GROUP (top level, no topics); in an active
 * consumer group, partitions of a subscribed topic are
 * GROUP_SUBSCRIBED_TO_TOPIC; unknown ones UNKNOWN_TOPIC_OR_PARTITION;
 * the rest are forgotten durably (a partition without an offset too). */
static int offset_delete_now(kafka_req *r) {
  kafka_offset_delete_request *req = r->body;
  group_coord *gc = r->b->groups;
  kafka_offset_delete_response *resp =
      kf_new(&r->arena, &kafka_offset_delete_response_desc);
  if (!resp)
    return -1;
  const char *gid = group_cstr(req->group_id);
  group *g = gid ? group_find(gc, gid) : NULL;
  cgroup *cg = group_id_ok(gid) ? cgroup_find(r->b, gid) : NULL;
  int active = g && g->state != GROUP_EMPTY && g->state != GROUP_DEAD;
  /* DELETE on the group; READ on each topic (KafkaApis). */
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_DELETE)) {
    resp->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
  } else if (!group_id_ok(gid)) {
    resp->error_code = KERR_INVALID_GROUP_ID;
  } else if (cg) {
    /* ConsumerGroup.validateOffsetDelete lets every state in; only the
     * subscribed topics are kept (below). */
  } else if (!g || g->state == GROUP_DEAD) {
    nd_committed *list = NULL;
    size_t have = 0;
    if (nd_group_offsets(r->b->store, gid, &list, &have) != 0)
      have = 0;
    nd_committed_free(list, have);
    if (!have)
      resp->error_code = KERR_GROUP_ID_NOT_FOUND;
  } else if (active &&
             (!g->protocol_type || strcmp(g->protocol_type, "consumer"))) {
    resp->error_code = KERR_NON_EMPTY_GROUP;
  }
  if (resp->error_code) {
    kafka_respond(r, resp);
    return 0;
  }
  int32_t nt = req->topics.count > 0 ? req->topics.count : 0;
  kafka_offset_delete_response_topic *ts =
      kf_new_array(&r->arena, &kafka_offset_delete_response_topic_desc, nt);
  size_t total = 0;
  for (int32_t i = 0; i < nt; i++)
    if (req->topics.items[i].partitions.count > 0)
      total += (size_t)req->topics.items[i].partitions.count;
  nd_topic_partition *del = kf_alloc(&r->arena, (total + 1) * sizeof *del);
  if ((nt && !ts) || !del)
    return -1;
  size_t ndel = 0;
  for (int32_t i = 0; i < nt; i++) {
    kafka_offset_delete_request_topic *qt = &req->topics.items[i];
    int32_t np = qt->partitions.count > 0 ? qt->partitions.count : 0;
    kafka_offset_delete_response_partition *ps = kf_new_array(
        &r->arena, &kafka_offset_delete_response_partition_desc, np);
    if (np && !ps)
      return -1;
    ts[i].name = qt->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
    const char *topic = group_cstr(qt->name);
    nd_topic_info info;
    int denied =
        np && !kafka_authorize_str(r, ACL_RES_TOPIC, qt->name, ACL_OP_READ);
    int known = topic && nd_topic_describe(r->b->store, topic, &info) == 0;
    int subscribed = known && (cg ? cgroup_subscribed(cg, topic)
                                  : active && group_subscribed(g, topic));
    for (int32_t j = 0; j < np; j++) {
      int32_t p = qt->partitions.items[j].partition_index;
      ps[j].partition_index = p;
      if (denied)
        ps[j].error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      else if (!known || p < 0 || p >= info.partitions)
        ps[j].error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      else if (subscribed)
        ps[j].error_code = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
      else
        del[ndel++] = (nd_topic_partition){topic, p};
    }
  }
  int rc = nd_delete_offsets(r->b->store, gid, del, ndel);
  if (rc != 0) {
    kafka_log(r, BLOG_ERROR,
              "group %s: cannot delete offsets: %s; answered " KAFKA_ERR_FMT,
              gid, nd_errmsg(), KAFKA_ERR_ARGS(kafka_err(rc)));
    for (int32_t i = 0; i < nt; i++)
      for (int32_t j = 0; j < ts[i].partitions.count; j++)
        if (!ts[i].partitions.items[j].error_code)
          ts[i].partitions.items[j].error_code = kafka_err(rc);
  } else if (ndel) {
    kafka_log(r, BLOG_INFO, "group %s: deleted the offsets of %zu partition(s)",
              gid, ndel);
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  kafka_respond(r, resp);
  return 0;
}

int handle_offset_delete(kafka_req *r) {
  kafka_offset_delete_request *req = r->body;
  const char *gid = group_cstr(req->group_id);
  /* Commits of the group still on their way to disk land first, so a
   * delete is never undone by an earlier commit. */
  return after_commits(r, &gid, 1, offset_delete_now);
}
