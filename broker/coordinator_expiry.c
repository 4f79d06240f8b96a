/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coordinator_expiry.c — committed offsets expire, as Kafka's
 * offsets.retention.minutes makes them (Kafka 4's GroupCoordinatorShard.
 * cleanupGroupMetadata, OffsetMetadataManager.cleanupExpiredOffsets and
 * each group's offsetExpirationCondition), so a broker that sees groups
 * come and go (a CI machine running tests with fresh group ids) does not
 * keep every one of them for ever.
 *
 * Every offsets.retention.check.interval.ms (`--offsets-retention-check-
 * interval-ms`, 600000) a pass looks at every group: those with offsets
 * or state in the library, the classic groups in memory and the consumer
 * groups. An offset expires once now - base >= offsets.retention.minutes,
 * where the group's kind decides the base and which offsets may go:
 *
 * - a classic group without a protocol type (standalone consumers that
 *   only commit, generation -1): every offset, base its commit time;
 * - a classic group with a protocol type, Empty: every offset, base the
 *   time it became Empty (Kafka's currentStateTimestamp). A group Empty
 *   since before the broker started is known only by its offsets: its
 *   time is not kept, so the base is each offset's commit time, as Kafka
 *   does for a group whose stored metadata lacks that time;
 * - a classic "consumer" group that is Stable: offsets of topics no
 *   member subscribes to (KIP-496), base the commit time; nothing when a
 *   subscription cannot be read;
 * - a classic group in any other state (rebalancing, or Stable with
 *   another protocol type, "connect" say): nothing;
 * - a consumer group (KIP-848), in any state: offsets of topics it does
 *   not subscribe to (an Empty one: all), base the commit time.
 *
 * An offset with offsets pending in an open transaction stays. A group
 * left without offsets is removed when it is Empty (a classic group with
 * no members and no member id handed out, or a consumer group Empty) and
 * no transaction has offsets pending for it: gone from ListGroups, Dead to
 * DescribeGroups. So is an Empty group that never had offsets (Kafka
 * removes those at its next pass too).
 *
 * Where the work runs. Deciding is cheap (nd_group_offsets is about a
 * microsecond a group) and needs the groups' state, which lives on the
 * loop: the pass runs there, in slices of a few milliseconds (a 0 ms
 * timer between them), so thousands of groups never stall the loop.
 * Deleting is an fdatasync per call: it runs on the worker, one job per
 * group (its expired offsets in one nd_delete_offsets, or the whole group
 * in one nd_group_delete), on the group's commit lane, so it lands in
 * order with the group's commits: a commit sent after the pass looked
 * lands after the delete, and one queued before it is seen by the job,
 * which deletes an offset only if it still has the commit the pass saw
 * (offset and commit time) and still has nothing pending in a
 * transaction. At most EXPIRY_INFLIGHT jobs are queued at once, the pass
 * waiting for one to finish before it looks at the next group, so a
 * client's commit never waits behind more than that many expiry syncs
 * and a group is looked at just before its job is queued. A group the
 * job removed goes from memory when its job is done, if it is still
 * Empty then; if a member came meanwhile, what the removal took from the
 * library (the protocol type, a consumer group's state) is written again.
 *
 * Each group whose offsets expired is logged (INFO: how many, which
 * rule), and each group removed; a pass that did anything ends with a
 * summary line, since the lines of groups whose names differ only in
 * digits are held back after a few, as every broker line of a repeated
 * shape is (logline.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cgroup.h"
#include "group.h"

#define EXPIRY_INFLIGHT WORKER_COMMIT_LANES
#define EXPIRY_SLICE_MS 5 /* of loop time, then a 0 ms timer */

/* Which of Kafka's conditions a group's offsets expire by. */
enum {
  RULE_STANDALONE,     /* no protocol type: each offset's commit time */
  RULE_EMPTY,          /* Empty: since it became Empty */
  RULE_EMPTY_UNKNOWN,  /* Empty since before the start: commit time */
  RULE_STABLE,         /* Stable "consumer": unsubscribed topics */
  RULE_CONSUMER_GROUP, /* KIP-848: topics it does not subscribe to */
};

static const char *const rule_text[] = {
    "a group without protocol type (standalone consumers): counted from "
    "each commit",
    "an Empty group: counted from when it became Empty",
    "an Empty group since before the broker started: counted from each "
    "commit",
    "a Stable consumer group: topics no member subscribes to, counted from "
    "each commit",
    "a consumer group: topics it does not subscribe to, counted from each "
    "commit",
};

struct expiry {
  broker *b;
  group_coord *gc;
  net_timer *timer; /* the next pass, or the next slice of this one */
  /* The pass: every group id, sorted, and the next to look at. */
  char **ids;
  size_t nids, next;
  int walking;
  int inflight; /* jobs queued on the worker */
  /* What the pass did, for its summary line (the lines per group are
   * rate limited as every broker line of a repeated shape). */
  size_t looked, expired, groups_expired, removed;
  int64_t started_ms;
};

typedef struct expiry_job {
  worker_job job; /* first: a worker_job * is an expiry_job * */
  expiry *x;
  char *gid;
  int rule;
  int remove; /* remove the group if nothing else is left */
  /* The group's offsets as the pass saw them; expire[i]: list[i] goes. */
  nd_committed *list;
  size_t count;
  unsigned char *expire;
  /* What the job did. */
  size_t deleted;
  int removed;     /* the library forgot the group (or knew nothing of it) */
  int lib_removed; /* ... and it had something to forget */
} expiry_job;

int64_t group_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expiry_timer(void *arg);

/* Once the pass has looked at every group and its jobs are done. */
static void summary(expiry *x) {
  if (x->walking || x->inflight || !x->looked)
    return;
  if (x->expired || x->removed)
    blog(BLOG_INFO, "group", NULL, 0,
         "offsets expiry: %zu committed offset%s of %zu group%s expired, %zu "
         "group%s removed (%zu groups looked at in %" PRId64 " ms)",
         x->expired, x->expired == 1 ? "" : "s", x->groups_expired,
         x->groups_expired == 1 ? "" : "s", x->removed,
         x->removed == 1 ? "" : "s", x->looked, net_now_ms() - x->started_ms);
  x->looked = x->expired = x->groups_expired = x->removed = 0;
}

static void arm(expiry *x, int64_t delay_ms) {
  if (!x->timer)
    x->timer = net_timer_add(x->b->loop, delay_ms, expiry_timer, x);
}

/* ---- the job, on the group's commit lane --------------------------------- */

static void job_free(expiry_job *j) {
  nd_committed_free(j->list, j->count);
  free(j->expire);
  free(j->gid);
  free(j);
}

/* The offsets the pass expired that still have the commit it saw and
 * nothing pending in a transaction. The pending check comes first: a
 * transaction's offsets are committed before it stops being pending, so a
 * commit it makes after the check shows in the list read after it. */
static void job_one(nd_store *st, expiry_job *j) {
  size_t want = 0;
  for (size_t i = 0; i < j->count; i++) {
    if (j->expire[i] && nd_txn_offsets_pending(st, j->gid, j->list[i].topic,
                                               j->list[i].partition) == 1)
      j->expire[i] = 0;
    want += j->expire[i];
  }
  int open_txn = j->remove && nd_txn_offsets_pending(st, j->gid, NULL, -1) == 1;
  nd_committed *now = NULL;
  size_t nnow = 0;
  int rc = nd_group_offsets(st, j->gid, &now, &nnow);
  nd_topic_partition *parts =
      rc == 0 ? malloc((want ? want : 1) * sizeof *parts) : NULL;
  if (rc == 0 && !parts)
    rc = -ENOMEM;
  size_t k = 0;
  for (size_t i = 0, w = 0; rc == 0 && i < nnow; i++) {
    /* Both lists are sorted by topic, then partition. */
    const nd_committed *c = &now[i];
    while (w < j->count) {
      int d = strcmp(j->list[w].topic, c->topic);
      if (d > 0 || (d == 0 && j->list[w].partition >= c->partition))
        break;
      w++;
    }
    if (w < j->count && j->expire[w] && !strcmp(j->list[w].topic, c->topic) &&
        j->list[w].partition == c->partition &&
        j->list[w].offset == c->offset &&
        j->list[w].commit_time_ms == c->commit_time_ms)
      parts[k++] = (nd_topic_partition){j->list[w].topic, c->partition};
  }
  if (rc == 0 && j->remove && !open_txn && k == nnow) {
    /* Nothing else left: the group goes whole, in one record. */
    rc = nd_group_delete(st, j->gid);
    j->lib_removed = rc == 0;
    if (rc == ND_ENOTFOUND)
      rc = 0;
    j->removed = rc == 0;
  } else if (rc == 0 && k) {
    rc = nd_delete_offsets(st, j->gid, parts, k);
  }
  if (rc == 0)
    j->deleted = k;
  free(parts);
  nd_committed_free(now, nnow);
  worker_job_result(&j->job, rc);
}

static void job_run(worker_job *first, size_t n) {
  worker_job *wj = first;
  for (size_t i = 0; i < n; i++) {
    expiry_job *j = (expiry_job *)wj;
    job_one(j->x->b->store, j);
    if (i + 1 < n) /* the last one's next is the lane's, not ours */
      wj = wj->next;
  }
}

/* Loop thread: the job is done. */
static void job_done(worker_job *wj) {
  expiry_job *j = (expiry_job *)wj;
  expiry *x = j->x;
  broker *b = x->b;
  x->inflight--;
  if (wj->rc != 0) {
    blog(BLOG_ERROR, "group", &BLOG_STR("group", j->gid), 1,
         "group %s: cannot delete its expired committed offsets: %s", j->gid,
         wj->msg);
  } else {
    x->expired += j->deleted;
    x->groups_expired += j->deleted > 0;
    if (j->deleted)
      group_log(j->gid,
                "%zu committed offset%s expired (retention %" PRId64
                " min; %s)",
                j->deleted, j->deleted == 1 ? "" : "s",
                b->cfg.offsets_retention_min, rule_text[j->rule]);
    if (j->removed) {
      int forgot = j->lib_removed;
      cgroup *cg = cgroup_find(b, j->gid);
      group *g = cg ? NULL : group_find(x->gc, j->gid);
      if (cg && cg->state == CG_EMPTY && cg->nmembers == 0) {
        cgroup_forget(b, cg);
        forgot = 1;
      } else if (cg) {
        cgroup_persist(cg); /* a member came meanwhile: keep its state */
      } else if (g && g->state == GROUP_EMPTY && g->nmembers == 0 &&
                 !g->pending) {
        group_forget(x->gc, g);
        forgot = 1;
      } else if (g && g->protocol_type &&
                 nd_group_set_protocol_type(b->store, g->id,
                                            g->protocol_type) != 0) {
        blog_warn("group",
                  "group %s: cannot record its protocol type again: %s", g->id,
                  nd_errmsg());
      }
      x->removed += forgot;
      if (forgot)
        group_log(j->gid, "removed (Empty, no committed offsets left)");
    }
  }
  job_free(j);
  if (x->walking)
    arm(x, 0);
  summary(x);
}

/* ---- the pass, on the loop ---------------------------------------------- */

static int cmp_id(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_free(expiry *x) {
  for (size_t i = 0; i < x->nids; i++)
    free(x->ids[i]);
  free(x->ids);
  x->ids = NULL;
  x->nids = x->next = 0;
}

/* Every group: those the library keeps offsets or state for, the classic
 * groups in memory, the consumer groups. 0 or -ENOMEM. */
static int collect(expiry *x) {
  char **names = NULL;
  size_t nnames = 0;
  if (nd_group_list(x->b->store, &names, &nnames) != 0) {
    blog(BLOG_ERROR, "group", NULL, 0,
         "cannot list the groups whose offsets may expire: %s", nd_errmsg());
    names = NULL;
    nnames = 0;
  }
  size_t ncg = 0;
  for (cgroup *cg = cgroup_first(x->b); cg; cg = cg->hnext)
    ncg++;
  size_t cap = nnames + x->gc->ngroups + ncg;
  char **ids = malloc((cap ? cap : 1) * sizeof *ids);
  size_t n = 0;
  int ok = ids != NULL;
  for (size_t i = 0; ok && i < nnames; i++)
    ok = (ids[n++] = strdup(names[i])) != NULL;
  for (size_t i = 0; ok && i < x->gc->nbuckets; i++)
    for (group *g = x->gc->buckets[i]; ok && g; g = g->hnext)
      ok = (ids[n++] = strdup(g->id)) != NULL;
  for (cgroup *cg = cgroup_first(x->b); ok && cg; cg = cg->hnext)
    ok = (ids[n++] = strdup(cg->id)) != NULL;
  nd_names_free(names, nnames);
  if (!ok) {
    while (ids && n)
      free(ids[--n]);
    free(ids);
    return -ENOMEM;
  }
  qsort(ids, n, sizeof *ids, cmp_id);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && !strcmp(ids[k - 1], ids[i]))
      free(ids[i]);
    else
      ids[k++] = ids[i];
  }
  x->ids = ids;
  x->nids = k;
  x->next = 0;
  return 0;
}

/* Decide for group gid (Kafka's offsetExpirationCondition and
 * isSubscribedToTopic) and queue its job if anything is to go. */
static void look_at(expiry *x, const char *gid) {
  broker *b = x->b;
  cgroup *cg = cgroup_find(b, gid);
  group *g = cg ? NULL : group_find(x->gc, gid);
  int rule, removable;
  if (cg) {
    rule = RULE_CONSUMER_GROUP;
    removable = cg->state == CG_EMPTY && cg->nmembers == 0;
  } else if (g) {
    int empty =
        g->state == GROUP_EMPTY && g->nmembers == 0 && g->pending == NULL;
    if (!g->protocol_type) {
      rule = RULE_STANDALONE;
    } else if (g->state == GROUP_EMPTY) {
      rule = g->empty_since_ms > 0 ? RULE_EMPTY : RULE_EMPTY_UNKNOWN;
    } else if (g->state == GROUP_STABLE &&
               !strcmp(g->protocol_type, "consumer")) {
      rule = RULE_STABLE;
    } else {
      return; /* rebalancing, or not a consumer group: nothing expires */
    }
    removable = empty;
  } else {
    char *type = NULL;
    if (nd_group_protocol_type(b->store, gid, &type) != 0)
      return;
    rule = type ? RULE_EMPTY_UNKNOWN : RULE_STANDALONE;
    nd_free(type);
    removable = 1;
  }
  nd_committed *list = NULL;
  size_t count = 0;
  if (nd_group_offsets(b->store, gid, &list, &count) != 0) {
    blog(BLOG_ERROR, "group", &BLOG_STR("group", gid), 1,
         "group %s: cannot read its committed offsets to expire them: %s", gid,
         nd_errmsg());
    return;
  }
  /* A group known to the library by its state alone, with no group in
   * memory, is one the broker could not load: left alone. */
  if (!count && (!removable || (!g && !cg)))
    return;
  unsigned char *expire = calloc(count ? count : 1, 1);
  if (!expire) {
    nd_committed_free(list, count);
    return;
  }
  int64_t now = group_wall_ms();
  int64_t retention = b->cfg.offsets_retention_min * 60000;
  size_t n = 0;
  for (size_t i = 0; i < count; i++) {
    const nd_committed *c = &list[i];
    if ((rule == RULE_STABLE && group_subscribed(g, c->topic)) ||
        (rule == RULE_CONSUMER_GROUP && cgroup_subscribed(cg, c->topic)))
      continue;
    int64_t base = rule == RULE_EMPTY ? g->empty_since_ms : c->commit_time_ms;
    if (now - base < retention ||
        nd_txn_offsets_pending(b->store, gid, c->topic, c->partition) == 1)
      continue;
    expire[i] = 1;
    n++;
  }
  int remove = removable && n == count;
  if (!n && !remove) {
    free(expire);
    nd_committed_free(list, count);
    return;
  }
  expiry_job *j = calloc(1, sizeof *j);
  char *id = strdup(gid);
  if (!j || !id) {
    free(j);
    free(id);
    free(expire);
    nd_committed_free(list, count);
    return;
  }
  j->x = x;
  j->gid = id;
  j->rule = rule;
  j->remove = remove;
  j->list = list;
  j->count = count;
  j->expire = expire;
  j->job.run = job_run;
  j->job.done = job_done;
  j->job.ctx = x;
  x->inflight++;
  worker_queue(b->worker, committer_lane(gid), &j->job);
}

/* Look at groups for a few milliseconds, or until EXPIRY_INFLIGHT jobs
 * are queued (a job done arms the timer again); then the next pass. */
static void walk(expiry *x) {
  int64_t until = net_now_ms() + EXPIRY_SLICE_MS;
  size_t looked = 0;
  while (x->next < x->nids) {
    if (x->inflight >= EXPIRY_INFLIGHT)
      return;
    if (++looked % 32 == 0 && net_now_ms() >= until) {
      arm(x, 0);
      return;
    }
    look_at(x, x->ids[x->next++]);
  }
  x->looked = x->nids;
  ids_free(x);
  x->walking = 0;
  summary(x);
  /* A job done meanwhile (at once, without a worker) may have armed a
   * slice: the next thing is the next pass. */
  if (x->timer) {
    net_timer_cancel(x->b->loop, x->timer);
    x->timer = NULL;
  }
  arm(x, x->b->cfg.offsets_retention_check_ms);
}

static void expiry_timer(void *arg) {
  expiry *x = arg;
  x->timer = NULL;
  if (x->walking) {
    walk(x);
    return;
  }
  /* A pass starts when the last one's jobs are all done. */
  if (x->inflight > 0 || collect(x) != 0) {
    arm(x, x->b->cfg.offsets_retention_check_ms);
    return;
  }
  x->walking = 1;
  x->started_ms = net_now_ms();
  walk(x);
}

int expiry_start(broker *b, group_coord *gc) {
  gc->expiry = NULL;
  if (!b->loop || !b->store)
    return 0;
  expiry *x = calloc(1, sizeof *x);
  if (!x)
    return -ENOMEM;
  x->b = b;
  x->gc = gc;
  gc->expiry = x;
  arm(x, b->cfg.offsets_retention_check_ms);
  return 0;
}

void expiry_stop(group_coord *gc) {
  expiry *x = gc ? gc->expiry : NULL;
  if (!x)
    return;
  if (x->timer)
    net_timer_cancel(x->b->loop, x->timer);
  ids_free(x);
  free(x);
  gc->expiry = NULL;
}
