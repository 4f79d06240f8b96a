/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup.c — the coordinator of KIP-848 consumer groups:
 * ConsumerGroupHeartbeat.
 *
 * The broker computes the assignment; members only heartbeat. There is no
 * "rebalance" in the classic sense (no barrier where every member rejoins):
 * each member moves on its own, one heartbeat at a time, towards the target
 * the broker computed for it. Kafka 4.4's GroupMetadataManager and
 * CurrentAssignmentBuilder define the behaviour; this file follows them.
 *
 * Epochs.
 *   - The group epoch counts changes of what the assignment depends on:
 *     a member joins, leaves or is fenced, a subscription (names, regular
 *     expression) changes, a subscribed topic appears, goes or grows
 *     (looked at on every heartbeat, so a topic created for a pattern is
 *     picked up at the next one). A new group starts at 0 and its first
 *     member takes it to 2, as Kafka 4.4 does (creation counts too).
 *   - The assignment epoch is the group epoch the target assignment was
 *     computed for. When a heartbeat finds group epoch > assignment epoch,
 *     the target is computed again (the assignor named by the members, by
 *     majority, else the first of group.consumer.assignors), sticky to the
 *     previous target, at most once per
 *     group.consumer.assignment.interval.ms (Kafka 4.4's batching; changes
 *     in between wait for the next computation, members meanwhile reach
 *     the target they have).
 *   - A member epoch is the assignment epoch the member has reached. It
 *     joins with 0; the broker answers with the epoch it gives it. A
 *     heartbeat with an epoch above the member's, or below it (except the
 *     previous epoch with owned partitions within the assignment: the answer
 *     that bumped it may have been lost), is FENCED_MEMBER_EPOCH: the member
 *     drops everything and joins again with 0 under the same member id,
 *     which starts it over (Kafka 4.4 accepts that join).
 *
 * Group states (derived, cgroup_update_state): Empty (no members),
 * Assigning (group epoch > assignment epoch), Reconciling (some member is
 * not Stable at the assignment epoch), Stable.
 *
 * Member states and the reconciliation rule (CurrentAssignmentBuilder).
 * A member's `assigned` partitions are the ones it may use now;
 * `pending_revocation` the ones it must give up first. Moving a member
 * towards its target T:
 *     keep     = assigned ∩ T
 *     revoke   = assigned − keep
 *     give     = T − keep − {partitions another member still holds}
 *   - revoke not empty (and the member still reports owning some of them):
 *     UNREVOKED_PARTITIONS, epoch unchanged, assigned = keep. The member
 *     is answered with `keep` only; once its heartbeat no longer lists any
 *     revoked partition it moves to epoch + 1 and on.
 *   - else give not empty: epoch = assignment epoch, assigned = keep ∪
 *     give; UNRELEASED_PARTITIONS if some of T is still held elsewhere,
 *     else STABLE.
 *   - else: epoch = assignment epoch, UNRELEASED or STABLE the same way.
 * A partition is therefore never given to a member while another member
 * still holds it (in `assigned` or `pending_revocation`): revoke before
 * assign, so nothing is consumed by two members at once. Partitions that
 * nobody else holds are given at once: consumption of the partitions a
 * rebalance does not move never stops.
 * Each partition a member holds carries the epoch it was given at
 * (cg_member.part_epochs): kept and revoked partitions keep theirs, given
 * ones get the assignment epoch. A commit with an older member epoch is
 * taken for the partitions held since then (KIP-1251, cgroup_classic.c's
 * cgroup_commit_partition), so a commit racing the heartbeat that moved
 * the member on is not lost, and one for a partition given later is not
 * taken.
 *
 * Timers. Every heartbeat restarts the member's session (the group's
 * consumer.session.timeout.ms, else group.consumer.session.timeout.ms);
 * when it runs out the member is fenced: removed, its partitions free, the
 * group epoch bumped. Entering UNREVOKED_PARTITIONS starts the rebalance
 * timeout (the member's RebalanceTimeoutMs); a member that has not revoked
 * by then is fenced the same way.
 *
 * Static members (group.instance.id): a heartbeat with epoch -2 leaves
 * for a while: the member keeps its assignment (nobody else gets its
 * partitions) and its session keeps running. A new member id joining
 * with epoch 0 and that instance id takes its place, assignment included;
 * while the old one has not left (-2), the newcomer gets
 * UNRELEASED_INSTANCE_ID, and a heartbeat of the instance id under another
 * member id gets FENCED_INSTANCE_ID.
 *
 * Durability: after every change cgroup_persist (cgroup_store.c) gives the
 * whole group to the library (nd_group_set_state), beside the committed
 * offsets; cgroup_init reads the groups back and restarts every member's
 * session, so after a restart members go on with their epochs and
 * assignments.
 *
 * Everything runs on the loop thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "cgroup.h"
#include "group.h"
#include "kafka.h"
#include "logline.h"

/* The coordinator's state (b->cgroups): every group in a list (through
 * hnext, for ListGroups and shutdown) and in a hash table by id (through
 * bnext), so a heartbeat's lookup costs the same with 10 groups or
 * 100,000. The table doubles when it holds more groups than buckets. */
typedef struct cg_coord {
  broker *b;
  cgroup *groups;
  cgroup **buckets;
  size_t nbuckets, ngroups;
} cg_coord;

static uint64_t id_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  while (*s)
    h = (h ^ (uint8_t)*s++) * 1099511628211ull;
  return h;
}

/* Grow the table to n buckets (a power of two): 0, or -1 on no memory
 * with the old table kept (only longer chains). */
static int buckets_resize(cg_coord *c, size_t n) {
  cgroup **nb = calloc(n, sizeof *nb);
  if (!nb)
    return -1;
  for (cgroup *g = c->groups; g; g = g->hnext) {
    size_t i = id_hash(g->id) & (n - 1);
    g->bnext = nb[i];
    nb[i] = g;
  }
  free(c->buckets);
  c->buckets = nb;
  c->nbuckets = n;
  return 0;
}

static cg_coord *coord(broker *b) {
  return b->cgroups;
}

/* ---- names ----------------------------------------------------------------
 */

static const char *const state_names[] = {"Empty", "Assigning", "Reconciling",
                                          "Stable", "Dead"};

const char *cgroup_state_name(int state) {
  return state >= 0 && state <= CG_DEAD ? state_names[state] : "Unknown";
}

int cgroup_state_parse(const char *name) {
  for (int i = 0; i <= CG_DEAD; i++)
    if (name && !strcasecmp(name, state_names[i]))
      return i;
  return -1;
}

/* ---- members and groups
 * ------------------------------------------------------ */

static const char *cstr(kf_str s) {
  return kafka_cstr_ok(s) ? s.ptr : NULL;
}

static void member_cancel_timers(cg_member *m) {
  broker *b = m->g ? m->g->b : NULL;
  if (m->session_timer && b && b->loop)
    net_timer_cancel(b->loop, m->session_timer);
  if (m->rebalance_timer && b && b->loop)
    net_timer_cancel(b->loop, m->rebalance_timer);
  m->session_timer = m->rebalance_timer = NULL;
}

static void free_names(char **names, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static void member_free(cg_member *m) {
  if (!m)
    return;
  if (m->g)
    member_cancel_timers(m);
  free(m->id);
  free(m->instance_id);
  free(m->rack_id);
  free(m->client_id);
  free(m->client_host);
  free_names(m->topic_names, m->ntopic_names);
  free(m->regex);
  free(m->server_assignor);
  cg_parts_free(&m->assigned);
  cg_parts_free(&m->pending_revocation);
  free(m->part_epochs);
  cgroup_classic_free(m->classic);
  free(m);
}

static void target_clear(cgroup *g) {
  for (int32_t i = 0; i < g->ntarget; i++) {
    free(g->target_ids[i]);
    cg_parts_free(&g->target[i]);
  }
  free(g->target_ids);
  free(g->target);
  g->target_ids = NULL;
  g->target = NULL;
  g->ntarget = 0;
}

static void topics_clear(cg_assign_topic *t, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    free((char *)t[i].name);
  free(t);
}

void cgroup_free(cgroup *g) {
  if (!g)
    return;
  while (g->members) {
    cg_member *m = g->members;
    g->members = m->next;
    member_free(m);
  }
  target_clear(g);
  topics_clear(g->topics_seen, g->ntopics_seen);
  free(g->assignor);
  free(g->id);
  free(g);
}

cgroup *cgroup_find(broker *b, const char *group_id) {
  cg_coord *c = coord(b);
  if (!c || !group_id)
    return NULL;
  if (!c->nbuckets) { /* no memory for a table yet: the list */
    for (cgroup *g = c->groups; g; g = g->hnext)
      if (!strcmp(g->id, group_id))
        return g;
    return NULL;
  }
  for (cgroup *g = c->buckets[id_hash(group_id) & (c->nbuckets - 1)]; g;
       g = g->bnext)
    if (!strcmp(g->id, group_id))
      return g;
  return NULL;
}

cgroup *cgroup_first(broker *b) {
  cg_coord *c = coord(b);
  return c ? c->groups : NULL;
}

cg_member *cgroup_member(const cgroup *g, const char *member_id) {
  if (!g || !member_id)
    return NULL;
  for (cg_member *m = g->members; m; m = m->next)
    if (!strcmp(m->id, member_id))
      return m;
  return NULL;
}

static cg_member *static_member(const cgroup *g, const char *instance_id) {
  if (!instance_id)
    return NULL;
  for (cg_member *m = g->members; m; m = m->next)
    if (m->instance_id && !strcmp(m->instance_id, instance_id))
      return m;
  return NULL;
}

static void member_link(cgroup *g, cg_member *m) {
  m->g = g;
  m->next = NULL;
  cg_member **pp = &g->members;
  while (*pp)
    pp = &(*pp)->next;
  *pp = m;
  g->nmembers++;
}

static void member_unlink(cgroup *g, cg_member *m) {
  for (cg_member **pp = &g->members; *pp; pp = &(*pp)->next)
    if (*pp == m) {
      *pp = m->next;
      g->nmembers--;
      m->next = NULL;
      return;
    }
}

static int32_t target_index(const cgroup *g, const char *member_id) {
  for (int32_t i = 0; i < g->ntarget; i++)
    if (!strcmp(g->target_ids[i], member_id))
      return i;
  return -1;
}

static const cg_parts *target_of(const cgroup *g, const char *member_id) {
  static const cg_parts empty;
  int32_t i = target_index(g, member_id);
  return i >= 0 ? &g->target[i] : &empty;
}

static void target_remove(cgroup *g, const char *member_id) {
  int32_t i = target_index(g, member_id);
  if (i < 0)
    return;
  free(g->target_ids[i]);
  cg_parts_free(&g->target[i]);
  g->ntarget--;
  memmove(&g->target_ids[i], &g->target_ids[i + 1],
          (size_t)(g->ntarget - i) * sizeof *g->target_ids);
  memmove(&g->target[i], &g->target[i + 1],
          (size_t)(g->ntarget - i) * sizeof *g->target);
}

void cgroup_update_state(cgroup *g) {
  if (!g->members) {
    g->state = CG_EMPTY;
    return;
  }
  if (g->epoch > g->assignment_epoch) {
    g->state = CG_ASSIGNING;
    return;
  }
  g->state = CG_STABLE;
  for (cg_member *m = g->members; m; m = m->next)
    if (m->state != CGM_STABLE || m->epoch != g->assignment_epoch) {
      g->state = CG_RECONCILING;
      return;
    }
}

static cgroup *group_new(broker *b, const char *id) {
  cgroup *g = calloc(1, sizeof *g);
  if (!g || !(g->id = strdup(id))) {
    free(g);
    return NULL;
  }
  g->b = b;
  g->state = CG_EMPTY;
  return g;
}

/* Add g (made by group_new or cgroup_decode) to the coordinator. */
static void group_link(broker *b, cgroup *g) {
  cg_coord *c = coord(b);
  g->hnext = c->groups;
  c->groups = g;
  c->ngroups++;
  if (c->ngroups > c->nbuckets &&
      buckets_resize(c, c->nbuckets ? c->nbuckets * 2 : 64) == 0)
    return; /* the new table holds g */
  if (c->nbuckets) {
    size_t i = id_hash(g->id) & (c->nbuckets - 1);
    g->bnext = c->buckets[i];
    c->buckets[i] = g;
  }
}

static void group_unlink(broker *b, cgroup *g) {
  cg_coord *c = coord(b);
  for (cgroup **pp = &c->groups; *pp; pp = &(*pp)->hnext)
    if (*pp == g) {
      *pp = g->hnext;
      c->ngroups--;
      break;
    }
  if (!c->nbuckets)
    return;
  for (cgroup **pp = &c->buckets[id_hash(g->id) & (c->nbuckets - 1)]; *pp;
       pp = &(*pp)->bnext)
    if (*pp == g) {
      *pp = g->bnext;
      return;
    }
}

void cgroup_forget(broker *b, cgroup *g) {
  group_unlink(b, g);
  if (b->store) {
    int rc = nd_group_set_state(b->store, g->id, NULL, 0);
    if (rc != 0 && rc != ND_ENOTFOUND)
      blog_warn("group", "could not forget the state of group %s: %s", g->id,
                nd_strerror(rc));
  }
  cgroup_free(g);
}

/* ---- settings
 * ------------------------------------------------------------------ */

/* The group's own consumer.session.timeout.ms / heartbeat interval
 * (IncrementalAlterConfigs on the GROUP), else the broker's. */
static int32_t group_setting(broker *b, const char *gid, const char *name,
                             int32_t dflt) {
  const char *v = dynconfig_group_value(b, gid, name);
  if (!v || !*v)
    return dflt;
  char *end;
  long x = strtol(v, &end, 10);
  return *end || x <= 0 || x > INT32_MAX ? dflt : (int32_t)x;
}

static int32_t session_ms(const cgroup *g) {
  return group_setting(g->b, g->id, "consumer.session.timeout.ms",
                       g->b->cfg.cg_session_ms);
}

static int32_t heartbeat_ms(const cgroup *g) {
  return group_setting(g->b, g->id, "consumer.heartbeat.interval.ms",
                       g->b->cfg.cg_heartbeat_ms);
}

/* Is name one of group.consumer.assignors (short names)? Writes the
 * first, the default, into dflt. */
static int assignor_enabled(broker *b, const char *name, char *dflt, size_t n) {
  const char *p = b->cfg.cg_assignors;
  int found = 0, first = 1;
  while (p && *p) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    while (len && (*p == ' '))
      p++, len--;
    while (len && p[len - 1] == ' ')
      len--;
    if (len) {
      if (first && dflt) {
        snprintf(dflt, n, "%.*s", (int)len, p);
        first = 0;
      }
      if (name && strlen(name) == len && !memcmp(name, p, len))
        found = 1;
    }
    p = e ? e + 1 : NULL;
  }
  return found;
}

/* ---- subscriptions
 * ----------------------------------------------------------- */

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int subscribes_name(const cg_member *m, const char *topic) {
  return m->ntopic_names &&
         bsearch(&topic, m->topic_names, (size_t)m->ntopic_names,
                 sizeof *m->topic_names, name_cmp) != NULL;
}

/* The members' compiled patterns, in member order (NULL where none). */
typedef struct regex_set {
  cg_regex **re;
  int32_t n;
} regex_set;

static void regex_set_free(regex_set *s) {
  for (int32_t i = 0; i < s->n; i++)
    cg_regex_free(s->re[i]);
  free(s->re);
  s->re = NULL;
  s->n = 0;
}

static int regex_set_build(const cgroup *g, regex_set *s) {
  s->n = 0;
  s->re = calloc((size_t)g->nmembers + 1, sizeof *s->re);
  if (!s->re)
    return -ENOMEM;
  int32_t i = 0;
  for (cg_member *m = g->members; m; m = m->next, i++) {
    char err[8];
    if (m->regex && *m->regex &&
        cg_regex_compile(m->regex, &s->re[i], err, sizeof err) == -ENOMEM) {
      s->n = i;
      regex_set_free(s);
      return -ENOMEM;
    }
  }
  s->n = i;
  return 0;
}

static int member_subscribes(const cg_member *m, const cg_regex *re,
                             const char *topic) {
  return subscribes_name(m, topic) || (re && cg_regex_match(re, topic));
}

/* The topics the members subscribe to, as they are now: sorted by name,
 * names malloc'ed. 0 or -ENOMEM. */
/* resolve_topics' list: the library's (nd_topic_list) or its own. */
static void release(nd_topic_info *infos, int from_library) {
  if (from_library)
    nd_free(infos);
  else
    free(infos);
}

static int resolve_topics(const cgroup *g, const regex_set *rs,
                          cg_assign_topic **out, int32_t *nout) {
  *out = NULL;
  *nout = 0;
  if (!g->b->store || !g->members)
    return 0;
  nd_topic_info *infos = NULL;
  size_t count = 0;
  int by_pattern = 0;
  for (int32_t j = 0; j < rs->n; j++)
    by_pattern |= rs->re[j] != NULL;
  if (!by_pattern) {
    /* Names only (the usual case): describe those, not every topic. The
     * union of the members' sorted lists, sorted, like nd_topic_list. */
    size_t want = 0;
    for (cg_member *m = g->members; m; m = m->next)
      want += (size_t)m->ntopic_names;
    const char **names = calloc(want + 1, sizeof *names);
    infos = calloc(want + 1, sizeof *infos);
    if (!names || !infos) {
      free(names);
      free(infos);
      return -ENOMEM;
    }
    size_t k = 0;
    for (cg_member *m = g->members; m; m = m->next)
      for (int32_t i = 0; i < m->ntopic_names; i++)
        names[k++] = m->topic_names[i];
    qsort(names, k, sizeof *names, name_cmp);
    for (size_t i = 0; i < k; i++)
      if ((i == 0 || strcmp(names[i], names[i - 1])) &&
          nd_topic_describe(g->b->store, names[i], &infos[count]) == 0)
        count++;
    free(names);
  } else if (nd_topic_list(g->b->store, &infos, &count) != 0) {
    return -ENOMEM;
  }
  cg_assign_topic *t = calloc(count + 1, sizeof *t);
  if (!t) {
    release(infos, by_pattern);
    return -ENOMEM;
  }
  int32_t n = 0;
  for (size_t i = 0; i < count; i++) {
    if (infos[i].offline)
      continue;
    int32_t j = 0;
    int want = 0;
    for (cg_member *m = g->members; m && !want; m = m->next, j++)
      want = member_subscribes(m, j < rs->n ? rs->re[j] : NULL, infos[i].name);
    if (!want)
      continue;
    memcpy(t[n].id.b, infos[i].id, 16);
    t[n].partitions = infos[i].partitions;
    if (!(t[n].name = strdup(infos[i].name))) {
      topics_clear(t, n);
      release(infos, by_pattern);
      return -ENOMEM;
    }
    n++;
  }
  release(infos, by_pattern);
  *out = t;
  *nout = n;
  return 0;
}

static int topics_equal(const cg_assign_topic *a, int32_t na,
                        const cg_assign_topic *b, int32_t nb) {
  if (na != nb)
    return 0;
  for (int32_t i = 0; i < na; i++)
    if (memcmp(a[i].id.b, b[i].id.b, 16) ||
        a[i].partitions != b[i].partitions || strcmp(a[i].name, b[i].name))
      return 0;
  return 1;
}

/* Look at the subscribed topics again: 1 if they changed (g->topics_seen
 * replaced), 0 if not, -ENOMEM. */
static int refresh_topics(cgroup *g) {
  regex_set rs;
  if (regex_set_build(g, &rs) != 0)
    return -ENOMEM;
  cg_assign_topic *t;
  int32_t n;
  int rc = resolve_topics(g, &rs, &t, &n);
  regex_set_free(&rs);
  if (rc != 0)
    return rc;
  if (topics_equal(t, n, g->topics_seen, g->ntopics_seen)) {
    topics_clear(t, n);
    return 0;
  }
  topics_clear(g->topics_seen, g->ntopics_seen);
  g->topics_seen = t;
  g->ntopics_seen = n;
  return 1;
}

/* ---- the target assignment
 * ------------------------------------------------------ */

/* Kafka's computePreferredServerAssignor: the assignor most members name,
 * else the broker's default. Ties go to the smaller name, so the choice
 * does not depend on join order. */
static void preferred_assignor(const cgroup *g, char *out, size_t n) {
  const char *best = NULL;
  int best_count = 0;
  for (cg_member *m = g->members; m; m = m->next) {
    if (!m->server_assignor)
      continue;
    int c = 0;
    for (cg_member *x = g->members; x; x = x->next)
      c +=
          x->server_assignor && !strcmp(x->server_assignor, m->server_assignor);
    if (c > best_count ||
        (c == best_count && best && strcmp(m->server_assignor, best) < 0)) {
      best = m->server_assignor;
      best_count = c;
    }
  }
  if (best)
    snprintf(out, n, "%s", best);
  else if (!assignor_enabled(g->b, NULL, out, n) || !*out)
    snprintf(out, n, "uniform");
}

/* Compute the target for the group epoch from the members and
 * g->topics_seen. 0, -ENOMEM or ND_EINVAL (no such assignor); the old
 * target stays on error. */
static int compute_target(cgroup *g) {
  char name[64] = "";
  preferred_assignor(g, name, sizeof name);
  int32_t nm = g->nmembers;
  regex_set rs;
  if (regex_set_build(g, &rs) != 0)
    return -ENOMEM;
  cg_assign_member *am = calloc((size_t)nm + 1, sizeof *am);
  int32_t *idx = calloc((size_t)nm * (size_t)g->ntopics_seen + 1, sizeof *idx);
  cg_parts *out = calloc((size_t)nm + 1, sizeof *out);
  char **ids = calloc((size_t)nm + 1, sizeof *ids);
  int rc = am && idx && out && ids ? 0 : -ENOMEM;
  int32_t i = 0;
  for (cg_member *m = g->members; m && rc == 0; m = m->next, i++) {
    am[i].member_id = m->id;
    am[i].instance_id = m->instance_id;
    am[i].rack_id = m->rack_id;
    am[i].topics = idx + (size_t)i * (size_t)g->ntopics_seen;
    for (int32_t t = 0; t < g->ntopics_seen; t++)
      if (member_subscribes(m, i < rs.n ? rs.re[i] : NULL,
                            g->topics_seen[t].name))
        idx[(size_t)i * (size_t)g->ntopics_seen + (size_t)am[i].ntopics++] = t;
    am[i].current = target_of(g, m->id);
    if (!(ids[i] = strdup(m->id)))
      rc = -ENOMEM;
  }
  if (rc == 0) {
    cg_assign_input in = {g->topics_seen, g->ntopics_seen, am, nm};
    rc = cg_assign(name, &in, out);
  }
  regex_set_free(&rs);
  free(am);
  free(idx);
  if (rc == 0) {
    char *an = strdup(name);
    if (!an)
      rc = -ENOMEM;
    else {
      target_clear(g);
      g->target_ids = ids;
      g->target = out;
      g->ntarget = nm;
      free(g->assignor);
      g->assignor = an;
      g->assignment_epoch = g->epoch;
      return 0;
    }
  }
  for (int32_t k = 0; k < nm; k++) {
    if (ids)
      free(ids[k]);
    if (out)
      cg_parts_free(&out[k]);
  }
  free(ids);
  free(out);
  return rc;
}

/* ---- reconciliation (CurrentAssignmentBuilder)
 * --------------------------------- */

/* Does another member than m still hold (topic, partition)? */
static int held_elsewhere(const cgroup *g, const cg_member *m,
                          const cg_tp *tp) {
  for (cg_member *x = g->members; x; x = x->next)
    if (x != m &&
        (cg_parts_contains(&x->assigned, &tp->topic, tp->partition) ||
         cg_parts_contains(&x->pending_revocation, &tp->topic, tp->partition)))
      return 1;
  return 0;
}

/* Does the member still report owning one of `revoke`? (It does when it
 * did not say what it owns.) */
static int owns_any(const cg_parts *owned, const cg_parts *revoke) {
  if (!owned)
    return 1;
  for (int32_t i = 0; i < revoke->count; i++)
    if (cg_parts_contains(owned, &revoke->items[i].topic,
                          revoke->items[i].partition))
      return 1;
  return 0;
}

static int part_epoch_cmp(const void *a, const void *b) {
  return cg_tp_cmp(&((const cg_part_epoch *)a)->tp,
                   &((const cg_part_epoch *)b)->tp);
}

int32_t cgroup_assignment_epoch(const cg_member *m, const cg_tp *tp) {
  if (!cg_parts_contains(&m->assigned, &tp->topic, tp->partition) &&
      !cg_parts_contains(&m->pending_revocation, &tp->topic, tp->partition))
    return -1;
  cg_part_epoch key = {*tp, 0};
  const cg_part_epoch *e =
      m->npart_epochs ? bsearch(&key, m->part_epochs, (size_t)m->npart_epochs,
                                sizeof key, part_epoch_cmp)
                      : NULL;
  /* Held but not listed (a state kept before nodata kept these, a classic
   * member's assignment, a converted group): its current epoch, which
   * refuses no commit Kafka would take at that epoch. */
  return e ? e->epoch : m->epoch;
}

/* The assignment epochs of m's next `a` and `b` (disjoint sets): what m
 * holds now keeps its epoch, the rest gets `fresh`; every one of b gets
 * `fresh` when b_given (Kafka's computeNextAssignment puts the target
 * assignment epoch on the partitions it gives, a partition this member was
 * revoking and gets back included). *out malloc'ed (NULL when both are
 * empty). 0 or -ENOMEM. */
static int part_epochs_next(const cg_member *m, const cg_parts *a,
                            const cg_parts *b, int b_given, int32_t fresh,
                            cg_part_epoch **out, int32_t *nout) {
  *out = NULL;
  *nout = 0;
  int32_t n = a->count + b->count;
  if (!n)
    return 0;
  cg_part_epoch *v = malloc((size_t)n * sizeof *v);
  if (!v)
    return -ENOMEM;
  int32_t k = 0;
  for (int pass = 0; pass < 2; pass++) {
    const cg_parts *s = pass ? b : a;
    for (int32_t i = 0; i < s->count; i++, k++) {
      int32_t e =
          pass && b_given ? -1 : cgroup_assignment_epoch(m, &s->items[i]);
      v[k].tp = s->items[i];
      v[k].epoch = e >= 0 ? e : fresh;
    }
  }
  qsort(v, (size_t)n, sizeof *v, part_epoch_cmp);
  *out = v;
  *nout = n;
  return 0;
}

static void set_part_epochs(cg_member *m, cg_part_epoch *v, int32_t n) {
  free(m->part_epochs);
  m->part_epochs = v;
  m->npart_epochs = n;
}

static void set_epoch(cg_member *m, int32_t epoch) {
  m->previous_epoch = m->epoch;
  m->epoch = epoch;
}

/* computeNextAssignment. 0 or -ENOMEM (m unchanged). */
static int next_assignment(cgroup *g, cg_member *m, int32_t member_epoch,
                           const cg_parts *target, int32_t tepoch,
                           const cg_parts *owned) {
  cg_parts keep = {0}, revoke = {0}, give = {0}, all = {0};
  int rc = cg_parts_intersect(&m->assigned, target, &keep);
  if (rc == 0)
    rc = cg_parts_minus(&m->assigned, &keep, &revoke);
  if (rc == 0)
    rc = cg_parts_minus(target, &keep, &give);
  if (rc != 0)
    goto out;
  int unreleased = 0;
  int32_t k = 0;
  for (int32_t i = 0; i < give.count; i++) {
    if (held_elsewhere(g, m, &give.items[i]))
      unreleased = 1;
    else
      give.items[k++] = give.items[i];
  }
  give.count = k;
  cg_part_epoch *pe = NULL;
  int32_t npe = 0;
  if (revoke.count && owns_any(owned, &revoke)) {
    /* Kept and revoked partitions keep the epochs they were given at. */
    if ((rc = part_epochs_next(m, &keep, &revoke, 0, tepoch, &pe, &npe)) != 0)
      goto out;
    set_part_epochs(m, pe, npe);
    m->state = CGM_UNREVOKED_PARTITIONS;
    set_epoch(m, member_epoch);
    cg_parts_free(&m->assigned);
    cg_parts_free(&m->pending_revocation);
    m->assigned = keep;
    m->pending_revocation = revoke;
    keep = (cg_parts){0};
    revoke = (cg_parts){0};
  } else {
    if ((rc = cg_parts_union(&keep, &give, &all)) != 0 ||
        (rc = part_epochs_next(m, &keep, &give, 1, tepoch, &pe, &npe)) != 0)
      goto out;
    set_part_epochs(m, pe, npe);
    m->state = unreleased ? CGM_UNRELEASED_PARTITIONS : CGM_STABLE;
    set_epoch(m, tepoch);
    cg_parts_free(&m->assigned);
    cg_parts_free(&m->pending_revocation);
    m->assigned = all;
    all = (cg_parts){0};
  }
out:
  cg_parts_free(&keep);
  cg_parts_free(&revoke);
  cg_parts_free(&give);
  cg_parts_free(&all);
  return rc;
}

/* Move m towards the target (maybeReconcile). 0, -ENOMEM, or
 * KERR_FENCED_MEMBER_EPOCH (a member in an unknown state that still owns
 * partitions). */
static int reconcile(cgroup *g, cg_member *m, const cg_parts *owned) {
  const cg_parts *target = target_of(g, m->id);
  int32_t tepoch = g->assignment_epoch;
  if (m->state == CGM_STABLE && m->epoch == tepoch)
    return 0;
  switch (m->state) {
  case CGM_STABLE:
    return next_assignment(g, m, m->epoch, target, tepoch, owned);
  case CGM_UNREVOKED_PARTITIONS:
    if (owns_any(owned, &m->pending_revocation))
      return 0;
    return next_assignment(g, m, m->epoch + 1, target, tepoch, owned);
  case CGM_UNRELEASED_PARTITIONS:
    return next_assignment(g, m, m->epoch, target, tepoch, owned);
  default:
    if (!owned || owned->count)
      return KERR_FENCED_MEMBER_EPOCH;
    return next_assignment(g, m, tepoch, target, tepoch, owned);
  }
}

/* ---- timers and fencing
 * -------------------------------------------------------- */

static void session_expired(void *arg);
static void rebalance_expired(void *arg);

static void session_start(cg_member *m) {
  broker *b = m->g->b;
  if (!b->loop)
    return;
  if (m->session_timer)
    net_timer_cancel(b->loop, m->session_timer);
  /* A classic member keeps the session timeout of its JoinGroup. */
  if (m->type != CGM_TYPE_CLASSIC || m->session_timeout_ms <= 0)
    m->session_timeout_ms = session_ms(m->g);
  m->session_deadline = net_now_ms() + m->session_timeout_ms;
  m->session_timer =
      net_timer_add(b->loop, m->session_timeout_ms, session_expired, m);
}

static void rebalance_timer_set(cg_member *m, int on) {
  broker *b = m->g->b;
  if (!b->loop)
    return;
  if (m->rebalance_timer)
    net_timer_cancel(b->loop, m->rebalance_timer);
  m->rebalance_timer = NULL;
  if (on)
    m->rebalance_timer = net_timer_add(
        b->loop, m->rebalance_timeout_ms > 0 ? m->rebalance_timeout_ms : 0,
        rebalance_expired, m);
}

/* Remove m from its group (leave, session or rebalance timeout): its
 * partitions are free, the group epoch moves on and the target assignment
 * is computed again at the next heartbeat. */
/* May free g (the online downgrade): callers do not use g after. */
static void fence_member(cgroup *g, cg_member *m, const char *why) {
  blog_info("group", "group %s: member %s %s (group epoch %d)", g->id, m->id,
            why, g->epoch + 1);
  /* Only classic members left: the group becomes a classic group at this
   * epoch, without the member (cgroup_classic.c frees g and m then). */
  if (cgroup_maybe_downgrade(g, m))
    return;
  member_unlink(g, m);
  target_remove(g, m->id);
  member_free(m);
  g->epoch++;
  /* The last member gone, Kafka 4.4 shows the (empty) target assignment
   * at the new epoch (ConsumerGroupDescribe's AssignmentEpoch ==
   * GroupEpoch; test_cgroup_admin.py compares). */
  if (!g->members)
    g->assignment_epoch = g->epoch;
  /* Kafka computes the subscription metadata without the member now, so
   * a topic nobody subscribes to any more does not bump the epoch again. */
  (void)refresh_topics(g);
  cgroup_update_state(g);
  cgroup_persist(g);
}

static void session_expired(void *arg) {
  cg_member *m = arg;
  m->session_timer = NULL;
  fence_member(m->g, m, "fenced: the session expired");
}

static void rebalance_expired(void *arg) {
  cg_member *m = arg;
  m->rebalance_timer = NULL;
  if (m->state != CGM_UNREVOKED_PARTITIONS)
    return;
  fence_member(m->g, m,
               "fenced: it did not revoke within the rebalance timeout");
}

/* ---- ConsumerGroupHeartbeat
 * ------------------------------------------------------ */

typedef struct hb_ctx {
  kafka_req *r;
  kafka_consumer_group_heartbeat_request *req;
  kafka_consumer_group_heartbeat_response *resp;
} hb_ctx;

__attribute__((format(printf, 3, 4))) static int16_t
fail(hb_ctx *h, int16_t code, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  h->resp->error_code = code;
  h->resp->error_message = kafka_str(h->r, buf);
  return code;
}

/* Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid. */
static int16_t validate(hb_ctx *h) {
  const kafka_consumer_group_heartbeat_request *q = h->req;
  if (!q->group_id.len)
    return fail(h, KERR_INVALID_REQUEST, "GroupId can't be empty.");
  if (!q->instance_id.len)
    return fail(h, KERR_INVALID_REQUEST, "InstanceId can't be empty.");
  if (!q->rack_id.len)
    return fail(h, KERR_INVALID_REQUEST, "RackId can't be empty.");
  /* v1 (KIP-1082): the consumer makes its own member id. */
  if (h->r->version >= 1 && q->member_id.len <= 0)
    return fail(h, KERR_INVALID_REQUEST, "MemberId can't be empty.");
  if (q->member_epoch > 0 || q->member_epoch == -1) {
    if (q->member_id.len <= 0)
      return fail(h, KERR_INVALID_REQUEST, "MemberId can't be empty.");
  } else if (q->member_epoch == 0) {
    if (q->rebalance_timeout_ms == -1)
      return fail(h, KERR_INVALID_REQUEST,
                  "RebalanceTimeoutMs must be provided in first request.");
    if (q->topic_partitions.count != 0)
      return fail(h, KERR_INVALID_REQUEST,
                  "TopicPartitions must be empty when (re-)joining.");
    /* Kafka 4.4 asks for one of them non-null (an empty list will do). */
    if (q->subscribed_topic_names.count < 0 &&
        (h->r->version < 1 || q->subscribed_topic_regex.len < 0))
      return fail(h, KERR_INVALID_REQUEST,
                  "Either SubscribedTopicNames or SubscribedTopicRegex must "
                  "be non-null when (re-)joining.");
  } else if (q->member_epoch == -2) {
    if (q->member_id.len <= 0)
      return fail(h, KERR_INVALID_REQUEST, "MemberId can't be empty.");
    if (q->instance_id.len < 0)
      return fail(h, KERR_INVALID_REQUEST, "InstanceId can't be null.");
  } else {
    return fail(h, KERR_INVALID_REQUEST, "MemberEpoch is invalid.");
  }
  for (int32_t i = 0; i < q->subscribed_topic_names.count; i++)
    if (!kafka_cstr_ok(q->subscribed_topic_names.items[i]))
      return fail(h, KERR_INVALID_REQUEST, "SubscribedTopicNames is invalid.");
  if (q->server_assignor.len >= 0) {
    const char *a = cstr(q->server_assignor);
    if (!a || !cg_assignor_known(a) || !assignor_enabled(h->r->b, a, NULL, 0)) {
      /* Kafka lists them as a Java list would: "uniform, range". */
      char list[512];
      size_t o = 0;
      for (const char *c = h->r->b->cfg.cg_assignors; *c && o + 3 < sizeof list;
           c++) {
        list[o++] = *c;
        if (*c == ',')
          list[o++] = ' ';
      }
      list[o] = 0;
      return fail(h, KERR_UNSUPPORTED_ASSIGNOR,
                  "ServerAssignor %s is not supported. Supported assignors: "
                  "%s.",
                  a ? a : "", list);
    }
  }
  if (q->subscribed_topic_regex.len > 0) {
    const char *p = cstr(q->subscribed_topic_regex);
    char err[256] = "";
    cg_regex *re = NULL;
    int rc = p ? cg_regex_compile(p, &re, err, sizeof err) : ND_EINVAL;
    cg_regex_free(re);
    if (rc == -ENOMEM)
      return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
    if (rc != 0)
      return fail(h, KERR_INVALID_REGULAR_EXPRESSION,
                  "SubscribedTopicRegex `%s` is not a valid regular "
                  "expression: %s.",
                  p ? p : "", err);
  }
  return 0;
}

/* Kafka's throwIfConsumerGroupMemberEpochIsInvalid. */
static int16_t check_epoch(hb_ctx *h, const cg_member *m,
                           const cg_parts *owned) {
  int32_t e = h->req->member_epoch;
  if (e > m->epoch)
    return fail(h, KERR_FENCED_MEMBER_EPOCH,
                "The consumer group member has a greater member epoch (%d) "
                "than the one known by the group coordinator (%d). The member "
                "must abandon all its partitions and rejoin.",
                e, m->epoch);
  if (e < m->epoch) {
    int subset = owned != NULL;
    for (int32_t i = 0; subset && i < owned->count; i++)
      subset = cg_parts_contains(&m->assigned, &owned->items[i].topic,
                                 owned->items[i].partition);
    if (e != m->previous_epoch || !subset)
      return fail(h, KERR_FENCED_MEMBER_EPOCH,
                  "The consumer group member has a smaller member epoch (%d) "
                  "than the one known by the group coordinator (%d). The "
                  "member must abandon all its partitions and rejoin.",
                  e, m->epoch);
  }
  return 0;
}

/* The request's owned partitions as a set (*given 0 when null). */
static int owned_parts(const kafka_consumer_group_heartbeat_request *q,
                       cg_parts *out, int *given) {
  *out = (cg_parts){0};
  *given = q->topic_partitions.count >= 0;
  for (int32_t i = 0; i < q->topic_partitions.count; i++) {
    const kafka_consumer_group_heartbeat_request_topic_partitions *t =
        &q->topic_partitions.items[i];
    for (int32_t j = 0; j < t->partitions.count; j++)
      if (cg_parts_add(out, &t->topic_id, t->partitions.items[j]) != 0) {
        cg_parts_free(out);
        return -ENOMEM;
      }
  }
  return 0;
}

static int set_assignment(hb_ctx *h, const cg_parts *p) {
  kafka_consumer_group_heartbeat_response_assignment *a = &h->resp->assignment;
  int32_t ntopics = 0;
  for (int32_t i = 0; i < p->count; i++)
    if (i == 0 || memcmp(p->items[i].topic.b, p->items[i - 1].topic.b, 16))
      ntopics++;
  a->topic_partitions.count = ntopics;
  a->topic_partitions.items = NULL;
  if (!ntopics)
    return 0;
  a->topic_partitions.items = kf_new_array(
      &h->r->arena,
      &kafka_consumer_group_heartbeat_response_topic_partitions_desc, ntopics);
  if (!a->topic_partitions.items)
    return -ENOMEM;
  int32_t t = -1;
  for (int32_t i = 0; i < p->count; i++) {
    if (i == 0 || memcmp(p->items[i].topic.b, p->items[i - 1].topic.b, 16)) {
      t++;
      int32_t n = 0;
      while (i + n < p->count &&
             !memcmp(p->items[i + n].topic.b, p->items[i].topic.b, 16))
        n++;
      a->topic_partitions.items[t].topic_id = p->items[i].topic;
      a->topic_partitions.items[t].partitions.items =
          kf_alloc(&h->r->arena, (size_t)n * sizeof(int32_t));
      if (!a->topic_partitions.items[t].partitions.items)
        return -ENOMEM;
      a->topic_partitions.items[t].partitions.count = 0;
    }
    kafka_consumer_group_heartbeat_response_topic_partitions *tp =
        &a->topic_partitions.items[t];
    tp->partitions.items[tp->partitions.count++] = p->items[i].partition;
  }
  return 0;
}

/* Replace a list of subscribed names with the request's (sorted, no
 * duplicates). 1 if it differs, 0 if not, -ENOMEM. */
static int update_names(cg_member *m,
                        const kafka_consumer_group_heartbeat_request *q) {
  int32_t n = q->subscribed_topic_names.count;
  char **names = calloc((size_t)n + 1, sizeof *names);
  if (!names)
    return -ENOMEM;
  for (int32_t i = 0; i < n; i++)
    if (!(names[i] = strdup(q->subscribed_topic_names.items[i].ptr))) {
      free_names(names, i);
      return -ENOMEM;
    }
  qsort(names, (size_t)n, sizeof *names, name_cmp);
  int32_t k = 0;
  for (int32_t i = 0; i < n; i++) {
    if (k && !strcmp(names[k - 1], names[i]))
      free(names[i]);
    else
      names[k++] = names[i];
  }
  int same = k == m->ntopic_names;
  for (int32_t i = 0; same && i < k; i++)
    same = !strcmp(names[i], m->topic_names[i]);
  if (same) {
    free_names(names, k);
    return 0;
  }
  free_names(m->topic_names, m->ntopic_names);
  m->topic_names = names;
  m->ntopic_names = k;
  return 1;
}

/* Replace *slot with a copy of s unless s is null; 1 if the value
 * changed, 0 if not, -ENOMEM. */
static int update_str(char **slot, kf_str s) {
  if (s.len < 0)
    return 0;
  if (*slot && !strcmp(*slot, s.ptr))
    return 0;
  char *p = group_dup_str(s);
  if (!p)
    return -ENOMEM;
  free(*slot);
  *slot = p;
  return 1;
}

/* A member id as Kafka's Uuid.randomUuid().toString(): 16 random bytes in
 * URL-safe base64 without padding (v0 lets the broker choose). */
static char *new_member_id(void) {
  uint8_t u[16];
  if (getrandom(u, sizeof u, GRND_NONBLOCK) != (ssize_t)sizeof u) {
    static uint64_t x = 88172645463325252ull;
    x ^= (uint64_t)time(NULL) ^ (uint64_t)net_now_ms() << 20;
    for (size_t i = 0; i < sizeof u; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      u[i] = (uint8_t)x;
    }
  }
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *id = malloc(23);
  if (!id)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < 16; i += 3) {
    uint32_t v = (uint32_t)u[i] << 16;
    if (i + 1 < 16)
      v |= (uint32_t)u[i + 1] << 8;
    if (i + 2 < 16)
      v |= u[i + 2];
    id[o++] = b64[(v >> 18) & 63];
    id[o++] = b64[(v >> 12) & 63];
    if (i + 1 < 16)
      id[o++] = b64[(v >> 6) & 63];
    if (i + 2 < 16)
      id[o++] = b64[v & 63];
  }
  id[o] = 0;
  return id;
}

/* A new member, copying the static member it replaces (or not). */
static cg_member *member_new(const char *id, const cg_member *from) {
  cg_member *m = calloc(1, sizeof *m);
  if (!m || !(m->id = strdup(id))) {
    free(m);
    return NULL;
  }
  m->type = CGM_TYPE_CONSUMER;
  m->state = CGM_STABLE;
  m->rebalance_timeout_ms = -1;
  if (!from)
    return m;
  int ok = 1;
#define COPY(f)                                                                \
  if (from->f && !(m->f = strdup(from->f)))                                    \
  ok = 0
  COPY(instance_id);
  COPY(rack_id);
  COPY(regex);
  COPY(server_assignor);
#undef COPY
  m->rebalance_timeout_ms = from->rebalance_timeout_ms;
  m->state = from->state;
  if (from->ntopic_names) {
    m->topic_names = calloc((size_t)from->ntopic_names, sizeof *m->topic_names);
    if (!m->topic_names)
      ok = 0;
    for (int32_t i = 0; ok && i < from->ntopic_names; i++, m->ntopic_names++)
      if (!(m->topic_names[i] = strdup(from->topic_names[i])))
        ok = 0;
  }
  if (ok &&
      (cg_parts_copy(&from->assigned, &m->assigned) != 0 ||
       cg_parts_copy(&from->pending_revocation, &m->pending_revocation) != 0))
    ok = 0;
  /* The assignment comes with the epochs it was given at (Kafka's builder
   * copies the member's partitions with theirs). */
  if (ok && from->npart_epochs) {
    size_t sz = (size_t)from->npart_epochs * sizeof *m->part_epochs;
    if (!(m->part_epochs = malloc(sz)))
      ok = 0;
    else {
      memcpy(m->part_epochs, from->part_epochs, sz);
      m->npart_epochs = from->npart_epochs;
    }
  }
  if (!ok) {
    member_free(m);
    return NULL;
  }
  return m;
}

/* The heartbeat proper (consumerGroupHeartbeat): 0 with the response
 * filled, or the error code (set in the response). */
static int16_t heartbeat(hb_ctx *h, cgroup **gp, int *changed) {
  kafka_req *r = h->r;
  const kafka_consumer_group_heartbeat_request *q = h->req;
  broker *b = r->b;
  const char *gid = q->group_id.ptr;
  int32_t e = q->member_epoch;
  cgroup *g = cgroup_find(b, gid);
  if (!g) {
    if (e != 0)
      return fail(h, KERR_GROUP_ID_NOT_FOUND, "Consumer group %s not found.",
                  gid);
    if (!(g = group_new(b, gid)))
      return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
    group_link(b, g);
  }
  *gp = g;
  const char *mid = cstr(q->member_id);
  if (!mid)
    return fail(h, KERR_INVALID_REQUEST, "MemberId is invalid.");
  if (g->nmembers >= b->cfg.cg_max_size && (!*mid || !cgroup_member(g, mid)))
    return fail(h, KERR_GROUP_MAX_SIZE_REACHED,
                "The consumer group has reached its maximum capacity of %d "
                "members.",
                b->cfg.cg_max_size);
  char *made = NULL;
  if (!*mid) {
    if (!(made = new_member_id()))
      return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
    mid = made;
  }
  cg_parts owned;
  int owned_given;
  if (owned_parts(q, &owned, &owned_given) != 0) {
    free(made);
    return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
  }
  const cg_parts *ownedp = owned_given ? &owned : NULL;
  const char *inst = cstr(q->instance_id);
  cg_member *m = NULL, *replaced = NULL;
  int is_new = 0;
  int16_t err = 0;
  if (!inst) {
    m = cgroup_member(g, mid);
    if (!m && e == 0)
      is_new = 1;
    else if (m && e == 0)
      ; /* joins again (after a fencing, say): starts over below */
    else if (!m)
      err = fail(h, KERR_UNKNOWN_MEMBER_ID,
                 "Member %s is not a member of group %s.", mid, gid);
    else
      err = check_epoch(h, m, ownedp);
  } else {
    cg_member *old = static_member(g, inst);
    if (e == 0) {
      if (!old)
        is_new = 1;
      else if (!strcmp(old->id, mid))
        m = old; /* the same member joins again */
      else if (old->epoch != -2)
        err = fail(h, KERR_UNRELEASED_INSTANCE_ID,
                   "Static member %s with instance id %s cannot join the group "
                   "because the instance id is owned by %s member.",
                   mid, inst, old->id);
      else
        replaced = old;
    } else if (!old) {
      err = fail(h, KERR_UNKNOWN_MEMBER_ID, "Instance id %s is unknown.", inst);
    } else if (strcmp(old->id, mid)) {
      err = fail(h, KERR_FENCED_INSTANCE_ID,
                 "Static member %s with instance id %s was fenced by member "
                 "%s.",
                 mid, inst, old->id);
    } else {
      m = old;
      err = check_epoch(h, m, ownedp);
    }
  }
  if (!err && (is_new || replaced)) {
    /* A rejoin with epoch 0 under the id of a member still in the group
     * (after FENCED_MEMBER_EPOCH, say) starts that member again. */
    cg_member *same = replaced ? NULL : cgroup_member(g, mid);
    if (same) {
      m = same;
      is_new = 0;
    } else if (!(m = member_new(mid, replaced))) {
      err = fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
    }
  }
  free(made);
  if (err) {
    cg_parts_free(&owned);
    return err;
  }
  /* 1. The member's subscription and identity. */
  int bump = g->epoch == 0, rc = 0, sub = 0, x;
  if (inst && (x = update_str(&m->instance_id, q->instance_id)) != 0)
    rc = x < 0 ? x : rc, *changed = 1;
  if ((x = update_str(&m->rack_id, q->rack_id)) != 0)
    rc = x < 0 ? x : rc, *changed = 1;
  if (q->rebalance_timeout_ms != -1 &&
      q->rebalance_timeout_ms != m->rebalance_timeout_ms)
    m->rebalance_timeout_ms = q->rebalance_timeout_ms, *changed = 1;
  if ((x = update_str(&m->server_assignor, q->server_assignor)) != 0)
    rc = x < 0 ? x : rc, *changed = 1;
  if (q->subscribed_topic_names.count >= 0 && (x = update_names(m, q)) != 0)
    rc = x < 0 ? x : rc, sub = 1;
  if (r->version >= 1 && q->subscribed_topic_regex.len >= 0) {
    if (q->subscribed_topic_regex.len == 0) {
      if (m->regex)
        free(m->regex), m->regex = NULL, sub = 1;
    } else if ((x = update_str(&m->regex, q->subscribed_topic_regex)) != 0)
      rc = x < 0 ? x : rc, sub = 1;
  }
  char host[80];
  group_client_host(r, host, sizeof host);
  kf_str cid = r->client_id.len >= 0 ? r->client_id : kf_s("");
  if (update_str(&m->client_id, cid) < 0 ||
      update_str(&m->client_host, kf_s(host)) < 0)
    rc = -ENOMEM;
  if (rc != 0) {
    if (is_new || replaced)
      member_free(m);
    cg_parts_free(&owned);
    return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
  }
  if (sub)
    *changed = bump = 1;
  if (replaced) {
    /* The new member takes the place of the static member that left: its
     * target and partitions (copied by member_new) go to the new id. */
    int32_t ti = target_index(g, replaced->id);
    if (ti >= 0) {
      char *nid = strdup(m->id);
      if (nid) {
        free(g->target_ids[ti]);
        g->target_ids[ti] = nid;
      }
    }
    blog_info("group",
              "group %s: static member %s (instance %s) replaced by %s", g->id,
              replaced->id, inst, m->id);
    member_unlink(g, replaced);
    member_free(replaced);
    m->epoch = m->previous_epoch = 0;
    *changed = 1;
  }
  if (is_new || replaced) {
    member_link(g, m);
    if (is_new)
      blog_info("group", "group %s: member %s%s%s joins", g->id, m->id,
                inst ? " instance " : "", inst ? inst : "");
    *changed = 1;
  }
  /* A member joining again with epoch 0 starts over from its target. */
  if (e == 0 && !is_new && !replaced && m->epoch != 0) {
    m->previous_epoch = m->epoch = 0;
    m->state = CGM_STABLE;
    *changed = 1;
  }
  /* Topics created, deleted or grown, or a pattern matching others. */
  int tc = refresh_topics(g);
  if (tc < 0) {
    cg_parts_free(&owned);
    return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
  }
  if (tc)
    bump = 1;
  if (bump) {
    /* Kafka 4.4 gives a new group's first member epoch 2: the group's
     * creation counts as a change of its own. */
    if (g->epoch == 0)
      g->epoch++;
    g->epoch++;
    *changed = 1;
    blog_info("group", "group %s: group epoch %d", g->id, g->epoch);
  }
  /* 2. The target assignment, at most once per
   * group.consumer.assignment.interval.ms (Kafka 4.4 batches changes so;
   * meanwhile members reconcile towards the target they have). */
  int64_t now = net_now_ms();
  if (g->epoch > g->assignment_epoch &&
      (g->assignment_epoch == 0 || !g->assigned_at ||
       now - g->assigned_at >= b->cfg.cg_assign_interval_ms)) {
    g->assigned_at = now;
    int ac = compute_target(g);
    if (ac != 0) {
      cg_parts_free(&owned);
      return fail(h, KERR_UNKNOWN_SERVER_ERROR,
                  "Failed to compute a new target assignment for epoch %d: %s",
                  g->epoch, nd_strerror(ac));
    }
    *changed = 1;
  }
  /* 3. Reconcile the member. */
  cg_parts before;
  int32_t epoch_before = m->epoch, prev_before = m->previous_epoch;
  int state_before = m->state;
  cg_parts pend_before = {0};
  if (cg_parts_copy(&m->assigned, &before) != 0 ||
      cg_parts_copy(&m->pending_revocation, &pend_before) != 0) {
    cg_parts_free(&before);
    cg_parts_free(&owned);
    return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
  }
  rc = reconcile(g, m, ownedp);
  cg_parts_free(&owned);
  if (rc == KERR_FENCED_MEMBER_EPOCH) {
    cg_parts_free(&before);
    cg_parts_free(&pend_before);
    return fail(h, KERR_FENCED_MEMBER_EPOCH,
                "The consumer group member is in a unknown state. The member "
                "must abandon all its partitions and rejoin.");
  }
  if (rc != 0) {
    cg_parts_free(&before);
    cg_parts_free(&pend_before);
    return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
  }
  int assigned_changed = !cg_parts_equal(&before, &m->assigned);
  int member_changed = assigned_changed || epoch_before != m->epoch ||
                       prev_before != m->previous_epoch ||
                       state_before != m->state ||
                       !cg_parts_equal(&pend_before, &m->pending_revocation);
  cg_parts_free(&before);
  cg_parts_free(&pend_before);
  if (member_changed) {
    *changed = 1;
    rebalance_timer_set(m, m->state == CGM_UNREVOKED_PARTITIONS);
  }
  session_start(m);
  cgroup_update_state(g);
  h->resp->member_id = kafka_str(r, m->id);
  h->resp->member_epoch = m->epoch;
  h->resp->heartbeat_interval_ms = heartbeat_ms(g);
  /* The assignment goes out when it changed, or to a full request (a
   * join, or a member that lost track and sends everything again). */
  int full =
      e == 0 || (q->rebalance_timeout_ms != -1 &&
                 (q->subscribed_topic_names.count >= 0 ||
                  (r->version >= 1 && q->subscribed_topic_regex.len >= 0)) &&
                 q->topic_partitions.count >= 0);
  if ((full || assigned_changed) && set_assignment(h, &m->assigned) != 0)
    return fail(h, KERR_UNKNOWN_SERVER_ERROR, "out of memory");
  return 0;
}

/* consumerGroupLeave: epoch -1 (leave) or -2 (a static member leaves for a
 * while). */
static int16_t leave(hb_ctx *h, int *changed) {
  const kafka_consumer_group_heartbeat_request *q = h->req;
  const char *gid = q->group_id.ptr, *mid = cstr(q->member_id);
  const char *inst = cstr(q->instance_id);
  cgroup *g = cgroup_find(h->r->b, gid);
  if (!g)
    return fail(h, KERR_GROUP_ID_NOT_FOUND, "Group %s not found.", gid);
  cg_member *m;
  if (!inst) {
    m = cgroup_member(g, mid);
    if (!m)
      return fail(h, KERR_UNKNOWN_MEMBER_ID,
                  "Member %s is not a member of group %s.", mid ? mid : "",
                  gid);
  } else {
    m = static_member(g, inst);
    if (!m)
      return fail(h, KERR_UNKNOWN_MEMBER_ID, "Instance id %s is unknown.",
                  inst);
    if (!mid || strcmp(m->id, mid))
      return fail(h, KERR_FENCED_INSTANCE_ID,
                  "Static member %s with instance id %s was fenced by member "
                  "%s.",
                  mid ? mid : "", inst, m->id);
  }
  h->resp->member_id = kafka_str(h->r, m->id);
  h->resp->member_epoch = q->member_epoch;
  *changed = 1;
  if (inst && q->member_epoch == -2) {
    blog_info("group",
              "group %s: static member %s (instance %s) left for a while",
              g->id, m->id, inst);
    m->epoch = -2;
    cg_parts_free(&m->pending_revocation);
    rebalance_timer_set(m, 0);
    cgroup_update_state(g);
    cgroup_persist(g);
    return 0;
  }
  fence_member(g, m, "left the group");
  return 0;
}

int16_t cgroup_heartbeat_as(kafka_req *r,
                            kafka_consumer_group_heartbeat_request *q,
                            kafka_consumer_group_heartbeat_response *resp,
                            cgroup **gp) {
  hb_ctx h = {r, q, resp};
  int changed = 0;
  *gp = NULL;
  int16_t err = heartbeat(&h, gp, &changed);
  if (!err && *gp && changed)
    cgroup_persist(*gp);
  return err;
}

void cgroup_link(broker *b, cgroup *g) {
  group_link(b, g);
}

char *cgroup_new_member_id(void) {
  return new_member_id();
}

void cgroup_member_touch(cg_member *m) {
  session_start(m);
}

void cgroup_member_remove(cg_member *m, const char *why) {
  fence_member(m->g, m, why);
}

int32_t cgroup_heartbeat_interval_ms(const cgroup *g) {
  return heartbeat_ms(g);
}

int handle_consumer_group_heartbeat(kafka_req *r) {
  kafka_consumer_group_heartbeat_request *req = r->body;
  kafka_consumer_group_heartbeat_response *resp =
      kf_new(&r->arena, &kafka_consumer_group_heartbeat_response_desc);
  if (!resp)
    return -1;
  resp->assignment.topic_partitions.count = -1; /* no assignment */
  hb_ctx h = {r, req, resp};
  if (!kafka_authorize_str(r, ACL_RES_GROUP, req->group_id, ACL_OP_READ)) {
    resp->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
    kafka_respond(r, resp);
    return 0;
  }
  /* Clients may not learn of topics they cannot describe (KafkaApis). */
  for (int32_t i = 0; i < req->subscribed_topic_names.count; i++)
    if (!kafka_authorize_str(r, ACL_RES_TOPIC,
                             req->subscribed_topic_names.items[i],
                             ACL_OP_DESCRIBE)) {
      resp->error_code = KERR_TOPIC_AUTHORIZATION_FAILED;
      kafka_respond(r, resp);
      return 0;
    }
  if (validate(&h) != 0) {
    kafka_respond(r, resp);
    return 0;
  }
  const char *gid = cstr(req->group_id);
  if (!gid || strlen(gid) > ND_GROUP_NAME_MAX) {
    fail(&h, KERR_INVALID_REQUEST, "GroupId is invalid.");
    kafka_respond(r, resp);
    return 0;
  }
  /* A group id names a classic group or a consumer group. Joining an
   * empty classic group with epoch 0 replaces it (Kafka deletes it); a
   * classic group with members is converted by cgroup_classic.c when the
   * migration policy allows it, else it is not a consumer group. */
  group *cl = r->b->groups ? group_find(r->b->groups, gid) : NULL;
  if (cl && cl->state != GROUP_DEAD) {
    if (req->member_epoch == 0 && cl->nmembers == 0) {
      group_forget(r->b->groups, cl);
    } else if (req->member_epoch == 0 && cgroup_from_classic(r, cl) == 0) {
      /* Converted: the classic members are classic members of the
       * consumer group now, and this member joins it. */
    } else {
      fail(&h, KERR_GROUP_ID_NOT_FOUND, "Group %s is not a consumer group",
           gid);
      kafka_respond(r, resp);
      return 0;
    }
  }
  int changed = 0;
  cgroup *g = NULL;
  int16_t err = req->member_epoch == -1 || req->member_epoch == -2
                    ? leave(&h, &changed)
                    : heartbeat(&h, &g, &changed);
  if (err) {
    /* A group made for a join that failed is not kept. */
    if (g && g->epoch == 0 && !g->members) {
      group_unlink(r->b, g);
      cgroup_free(g);
    }
    resp->member_id = kf_null_str();
    resp->member_epoch = 0;
    resp->heartbeat_interval_ms = 0;
    resp->assignment.topic_partitions.count = -1;
  } else if (g && changed) {
    cgroup_persist(g);
  }
  kafka_respond(r, resp);
  return 0;
}

/* ---- lifecycle
 * -------------------------------------------------------------------- */

/* Start the timers of a group read back at start: every member gets a
 * whole session (as Kafka does when a coordinator loads its groups). */
static void start_loaded(cgroup *g) {
  for (cg_member *m = g->members; m; m = m->next) {
    m->g = g;
    session_start(m);
    if (m->state == CGM_UNREVOKED_PARTITIONS)
      rebalance_timer_set(m, 1);
  }
  cgroup_update_state(g);
}

int cgroup_init(broker *b) {
  cg_coord *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->b = b;
  b->cgroups = c;
  if (!b->store)
    return 0;
  char **names = NULL;
  size_t count = 0;
  int rc = nd_group_list(b->store, &names, &count);
  if (rc != 0)
    return 0; /* nothing kept: start empty */
  for (size_t i = 0; i < count; i++) {
    void *state = NULL;
    size_t len = 0;
    rc = nd_group_state(b->store, names[i], &state, &len);
    if (rc != 0 || !len) {
      nd_free(state);
      continue;
    }
    cgroup *g = NULL;
    rc = cgroup_decode(b, names[i], state, len, &g);
    nd_free(state);
    if (rc != 0) {
      blog_error(
          "group",
          "the kept state of consumer group %s does not decode (%s): the "
          "group starts empty",
          names[i], nd_strerror(rc));
      cgroup_free(g);
      continue;
    }
    group_link(b, g);
    start_loaded(g);
    blog_info("group", "consumer group %s loaded: epoch %d, %d members", g->id,
              g->epoch, g->nmembers);
  }
  nd_names_free(names, count);
  return 0;
}

void cgroup_fini(broker *b) {
  cg_coord *c = coord(b);
  if (!c)
    return;
  while (c->groups) {
    cgroup *g = c->groups;
    c->groups = g->hnext;
    cgroup_free(g);
  }
  free(c->buckets);
  free(c);
  b->cgroups = NULL;
}
