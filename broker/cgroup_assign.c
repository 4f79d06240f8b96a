/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup_assign.c — the server-side assignors of consumer groups (KIP-848),
 * `uniform` (the default) and `range`, giving what Kafka 4.4's
 * UniformAssignor and RangeAssignor give for the same input.
 *
 * Same input, same output: Kafka's assignors are deterministic, but some of
 * their choices follow the iteration order of java.util.HashMap/HashSet
 * (which member gets the extra partition, which partitions an over-quota
 * member keeps, the order unassigned partitions are handed out in). That
 * order is a function of the keys' Java hash codes, the table's capacity
 * and, inside one bucket, the order of insertion; so this file computes it
 * (java_* below) instead of inventing its own. "The input" is therefore
 * the members in the order the coordinator inserts them into the group
 * spec's HashMap (cg_assign_input.members), each member's subscribed
 * topics in the order they are inserted into its HashSet
 * (cg_assign_member.topics), and each current assignment inserted topic by
 * topic, partition by partition, in cg_parts order, all with put() (which
 * appends to a bucket; computeIfAbsent() would prepend).
 * tests/kafka/AssignJava.java builds Kafka's GroupSpec exactly so, and
 * tests/compat/test_cgroup_assign_kafka.py checks both agree. Inside a
 * Kafka broker those maps carry their history (the assignor's own output
 * of the last rebalance, record replays), so on two points a Kafka broker
 * may choose differently from this file for the same group: which of an
 * over-quota member's partitions it keeps in the homogeneous case when
 * two of the member's topics share a HashMap bucket, and, with members
 * in the same bucket, which of them gets an extra partition; both only
 * change which valid, balanced and sticky assignment is picked.
 *
 * uniform. Homogeneous groups (every member subscribes to the same topics):
 * each member's quota is total/members, and total%members of them get one
 * more: members are taken in the HashMap's order, each is offered an extra
 * partition while extras remain and keeps the offer only if it uses it or
 * if no fewer extras than members are left; walking its current assignment
 * in map order a member keeps partitions up to its quota and gives up the
 * rest;
 * then the partitions nobody holds (subscribed topics in the HashSet's
 * order, partitions ascending, then those given up) fill the members below
 * quota, in member order. Heterogeneous groups: members are numbered in
 * map order; each keeps its current partitions of topics it still
 * subscribes to; topics are sorted by partitions per subscriber
 * descending, subscribers ascending, topic id ascending (Kafka's Uuid
 * order: two signed longs); each topic's unowned partitions go one by one
 * to its least loaded subscriber (fewest partitions, then lowest number);
 * then, up to 16 rounds over the topics with two or more subscribers,
 * partitions move from the most to the least loaded subscribers of each
 * topic until their counts differ by at most one (the mover gives its
 * highest partition of that topic).
 *
 * range. Members sorted: static members first by instance id, then the
 * others by member id (Java's String order). For each topic its
 * subscribers, in that order, get consecutive ranges: partitions/subscribers
 * each, the first partitions%subscribers one more. Kafka 4.4's server-side
 * range is sticky only through that order (static members keep their
 * place across restarts); it does not look at the current assignment.
 *
 * Racks: Kafka 4.4's two assignors ignore them, so do these.
 *
 * Where this may differ from Kafka: inputs Kafka's coordinator never
 * builds. A partition in two members' current assignments is kept by the
 * first member in map order only (Kafka would leave it with both); a
 * current partition past its topic's partition count, or of a topic the
 * input does not list, is dropped (Kafka's heterogeneous builder would
 * fail on it). A Java HashMap bucket of 8 or more keys becomes a tree whose
 * order this file does not model: with String and Uuid keys that needs 8
 * keys whose hashes agree in the table's low bits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "nodata.h"

/* ---- Java's hash codes, orders and HashMap iteration ----------------- */

/* The UTF-16 code units of s, one at a time: *pend holds a pending low
 * surrogate. Returns 0 at the end. */
static int utf16_next(const unsigned char **p, uint32_t *pend, uint32_t *u) {
  if (*pend) {
    *u = *pend;
    *pend = 0;
    return 1;
  }
  if (!**p)
    return 0;
  uint32_t c = cg_utf8_next(p);
  if (c >= 0x10000) {
    c -= 0x10000;
    *u = 0xd800 | (c >> 10);
    *pend = 0xdc00 | (c & 0x3ff);
  } else {
    *u = c;
  }
  return 1;
}

/* String.hashCode: s[0]*31^(n-1) + ... over UTF-16 code units. */
static int32_t java_string_hash(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  uint32_t pend = 0, u, h = 0;
  while (utf16_next(&p, &pend, &u))
    h = 31 * h + u;
  return (int32_t)h;
}

/* String.compareTo: by UTF-16 code units. */
static int java_string_cmp(const char *a, const char *b) {
  const unsigned char *p = (const unsigned char *)a,
                      *q = (const unsigned char *)b;
  uint32_t pa = 0, pb = 0, ua, ub;
  for (;;) {
    int ha = utf16_next(&p, &pa, &ua), hb = utf16_next(&q, &pb, &ub);
    if (!ha || !hb)
      return ha - hb;
    if (ua != ub)
      return ua < ub ? -1 : 1;
  }
}

static int64_t uuid_half(const kf_uuid *u, int i) {
  uint64_t v = 0;
  for (int k = 0; k < 8; k++)
    v = v << 8 | u->b[8 * i + k];
  return (int64_t)v;
}

/* Kafka's Uuid.hashCode: the two longs xor'ed, then the halves. */
static int32_t java_uuid_hash(const kf_uuid *u) {
  uint64_t h = (uint64_t)(uuid_half(u, 0) ^ uuid_half(u, 1));
  return (int32_t)(uint32_t)(h >> 32) ^ (int32_t)(uint32_t)h;
}

/* Kafka's Uuid.compareTo: most then least significant long, signed. */
static int java_uuid_cmp(const kf_uuid *a, const kf_uuid *b) {
  for (int i = 0; i < 2; i++) {
    int64_t x = uuid_half(a, i), y = uuid_half(b, i);
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}

/* HashMap.tableSizeFor: the power of two at or above c. */
static int32_t java_table_size(int32_t c) {
  int32_t n = 1;
  while (n < c && n < (1 << 30))
    n <<= 1;
  return n;
}

/* The capacity of a HashMap made with `initial` (0: the default 16) after
 * n keys were put: it doubles whenever the size passes 3/4 of it. */
static int32_t java_capacity(int32_t initial, int32_t n) {
  int32_t cap = initial > 0 ? java_table_size(initial) : 16;
  while (n > (int32_t)((float)cap * 0.75f) && cap < (1 << 30))
    cap <<= 1;
  return cap;
}

/* new HashSet<>(c) of a collection of n: max(n/.75 + 1, 16). */
static int32_t java_copy_initial(int32_t n) {
  int32_t c = (int32_t)((float)n / 0.75f) + 1;
  return c > 16 ? c : 16;
}

static uint32_t java_bucket(int32_t hash, int32_t cap) {
  uint32_t h = (uint32_t)hash;
  return (h ^ (h >> 16)) & (uint32_t)(cap - 1);
}

typedef struct order_key {
  uint32_t bucket;
  int32_t pos; /* insertion order */
} order_key;

static int order_cmp(const void *a, const void *b) {
  const order_key *x = a, *y = b;
  if (x->bucket != y->bucket)
    return x->bucket < y->bucket ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The iteration order of a HashMap of capacity cap holding n keys with
 * these hashes, inserted in index order (no removals: they keep the order
 * of the rest): by bucket, then by insertion. order[k] is the index of
 * the k-th key iterated. 0 or -ENOMEM. */
static int java_order(const int32_t *hashes, int32_t n, int32_t cap,
                      int32_t *order) {
  if (n <= 0)
    return 0;
  order_key *k = malloc((size_t)n * sizeof *k);
  if (!k)
    return -ENOMEM;
  for (int32_t i = 0; i < n; i++)
    k[i] = (order_key){java_bucket(hashes[i], cap), i};
  qsort(k, (size_t)n, sizeof *k, order_cmp);
  for (int32_t i = 0; i < n; i++)
    order[i] = k[i].pos;
  free(k);
  return 0;
}

/* ---- the assignment being built -------------------------------------- */

/* One current partition of a member, as the input gives it. */
typedef struct cur_tp {
  int32_t topic; /* index into in->topics, -1 if the input has no such */
  int32_t partition;
} cur_tp;

typedef struct asg {
  const cg_assign_input *in;
  int32_t nm, nt;
  int32_t *poff;   /* nt + 1: first global index of each topic's partitions */
  int32_t *owner;  /* poff[nt]: member index, or -1 */
  uint8_t *sub;    /* nm * nt: member m subscribes to topic t */
  int32_t *nsubs;  /* nt: subscribers per topic */
  int32_t *morder; /* nm: member indexes in the group spec's map order */
  int32_t *size;   /* nm: partitions each member owns */
  /* Current assignments, deduplicated (first member in map order keeps a
   * partition), valid ones only, in cg_parts order. */
  cur_tp **cur;
  int32_t *ncur;
  int32_t *ncur_topics; /* distinct topics in the input's current set */
  int32_t *by_id;       /* topic indexes sorted by id bytes (lookup) */
} asg;

static void asg_free(asg *a) {
  free(a->poff);
  free(a->owner);
  free(a->sub);
  free(a->nsubs);
  free(a->morder);
  free(a->size);
  if (a->cur)
    for (int32_t m = 0; m < a->nm; m++)
      free(a->cur[m]);
  free(a->cur);
  free(a->ncur);
  free(a->ncur_topics);
  free(a->by_id);
}

static const cg_assign_input *sort_in; /* qsort has no context argument */

static int by_id_cmp(const void *x, const void *y) {
  const cg_assign_topic *t = sort_in->topics;
  return memcmp(t[*(const int32_t *)x].id.b, t[*(const int32_t *)y].id.b,
                sizeof t->id.b);
}

static int32_t topic_index(const asg *a, const kf_uuid *id) {
  int32_t lo = 0, hi = a->nt;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    int c = memcmp(a->in->topics[a->by_id[mid]].id.b, id->b, sizeof id->b);
    if (!c)
      return a->by_id[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static int asg_init(asg *a, const cg_assign_input *in) {
  memset(a, 0, sizeof *a);
  a->in = in;
  a->nm = in->nmembers > 0 ? in->nmembers : 0;
  a->nt = in->ntopics > 0 ? in->ntopics : 0;
  int32_t nm = a->nm, nt = a->nt;
  a->poff = calloc((size_t)nt + 1, sizeof *a->poff);
  a->sub = calloc((size_t)nm * (size_t)nt + 1, 1);
  a->nsubs = calloc((size_t)nt + 1, sizeof *a->nsubs);
  a->morder = calloc((size_t)nm + 1, sizeof *a->morder);
  a->size = calloc((size_t)nm + 1, sizeof *a->size);
  a->cur = calloc((size_t)nm + 1, sizeof *a->cur);
  a->ncur = calloc((size_t)nm + 1, sizeof *a->ncur);
  a->ncur_topics = calloc((size_t)nm + 1, sizeof *a->ncur_topics);
  a->by_id = calloc((size_t)nt + 1, sizeof *a->by_id);
  int32_t *hashes = calloc((size_t)nm + 1, sizeof *hashes);
  if (!a->poff || !a->sub || !a->nsubs || !a->morder || !a->size || !a->cur ||
      !a->ncur || !a->ncur_topics || !a->by_id || !hashes)
    goto nomem;
  for (int32_t t = 0; t < nt; t++) {
    int32_t np = in->topics[t].partitions;
    a->poff[t + 1] = a->poff[t] + (np > 0 ? np : 0);
    a->by_id[t] = t;
  }
  sort_in = in;
  qsort(a->by_id, (size_t)nt, sizeof *a->by_id, by_id_cmp);
  a->owner = malloc(((size_t)a->poff[nt] + 1) * sizeof *a->owner);
  if (!a->owner)
    goto nomem;
  for (int32_t m = 0; m < nm; m++) {
    const cg_assign_member *mb = &in->members[m];
    for (int32_t k = 0; k < mb->ntopics; k++) {
      int32_t t = mb->topics[k];
      if (t >= 0 && t < nt && !a->sub[(size_t)m * nt + t]) {
        a->sub[(size_t)m * nt + t] = 1;
        a->nsubs[t]++;
      }
    }
    hashes[m] = java_string_hash(mb->member_id ? mb->member_id : "");
  }
  if (java_order(hashes, nm, java_capacity(0, nm), a->morder))
    goto nomem;
  /* Current assignments: a partition already met (owner set) belongs to
   * the member before in map order. */
  for (int32_t i = 0; i < a->poff[nt]; i++)
    a->owner[i] = -1;
  for (int32_t k = 0; k < nm; k++) {
    int32_t m = a->morder[k];
    const cg_parts *c = in->members[m].current;
    if (!c || c->count <= 0)
      continue;
    a->cur[m] = malloc((size_t)c->count * sizeof *a->cur[m]);
    if (!a->cur[m])
      goto nomem;
    for (int32_t i = 0; i < c->count; i++) {
      if (i == 0 || memcmp(c->items[i].topic.b, c->items[i - 1].topic.b,
                           sizeof c->items[i].topic.b))
        a->ncur_topics[m]++;
      int32_t t = topic_index(a, &c->items[i].topic);
      int32_t p = c->items[i].partition;
      if (t < 0 || p < 0 || p >= in->topics[t].partitions ||
          a->owner[a->poff[t] + p] >= 0)
        continue;
      a->owner[a->poff[t] + p] = m;
      a->cur[m][a->ncur[m]++] = (cur_tp){t, p};
    }
  }
  /* The algorithms start from "nobody owns anything". */
  for (int32_t i = 0; i < a->poff[nt]; i++)
    a->owner[i] = -1;
  free(hashes);
  return 0;
nomem:
  free(hashes);
  asg_free(a);
  return -ENOMEM;
}

static void give(asg *a, int32_t t, int32_t p, int32_t m) {
  int32_t *o = &a->owner[a->poff[t] + p];
  if (*o >= 0)
    a->size[*o]--;
  *o = m;
  a->size[m]++;
}

/* The owners to the output sets. */
static int asg_output(const asg *a, cg_parts *out) {
  for (int32_t m = 0; m < a->nm; m++) {
    out[m].count = 0;
    out[m].items = NULL;
    if (a->size[m] > 0 &&
        !(out[m].items = malloc((size_t)a->size[m] * sizeof *out[m].items)))
      goto nomem;
  }
  for (int32_t t = 0; t < a->nt; t++)
    for (int32_t p = 0; p < a->poff[t + 1] - a->poff[t]; p++) {
      int32_t m = a->owner[a->poff[t] + p];
      if (m >= 0)
        out[m].items[out[m].count++] = (cg_tp){a->in->topics[t].id, p};
    }
  for (int32_t m = 0; m < a->nm; m++)
    cg_parts_normalize(&out[m]);
  return 0;
nomem:
  for (int32_t m = 0; m < a->nm; m++)
    cg_parts_free(&out[m]);
  return -ENOMEM;
}

/* ---- uniform, homogeneous -------------------------------------------- */

/* The iteration order of a HashSet<Integer> holding these partitions
 * (inserted ascending, as a current assignment is): order[] gets indexes
 * into ps. */
static int int_set_order(const cur_tp *ps, int32_t n, int32_t *order) {
  int32_t *h = malloc(((size_t)n + 1) * sizeof *h);
  if (!h)
    return -ENOMEM;
  for (int32_t i = 0; i < n; i++)
    h[i] = ps[i].partition;
  int rc = java_order(h, n, java_capacity(0, n), order);
  free(h);
  return rc;
}

static int uniform_homogeneous(asg *a) {
  const cg_assign_input *in = a->in;
  int32_t nt = a->nt, first = a->morder[0];
  int rc = -ENOMEM;
  int32_t *hash = malloc(((size_t)nt + 1) * sizeof *hash);
  int32_t *topics = malloc(((size_t)nt + 1) * sizeof *topics);
  int32_t *o1 = malloc(((size_t)nt + 1) * sizeof *o1);
  int32_t *un = malloc(((size_t)a->poff[nt] + 1) * sizeof *un);
  int32_t *quota = malloc(((size_t)a->nm + 1) * sizeof *quota);
  uint8_t *unheld = malloc((size_t)a->poff[nt] + 1);
  if (!hash || !topics || !o1 || !un || !quota || !unheld)
    goto done;
  /* The subscribed topics: the first member's HashSet (its topics in
   * their insertion order, duplicates and unknown ones aside), copied into
   * the builder's own HashSet. */
  int32_t k = 0;
  const cg_assign_member *fm = &in->members[first];
  for (int32_t i = 0; i < fm->ntopics; i++) {
    int32_t t = fm->topics[i], dup = 0;
    if (t < 0 || t >= nt)
      continue;
    for (int32_t j = 0; j < k && !dup; j++)
      dup = topics[j] == t;
    if (!dup)
      topics[k++] = t;
  }
  if (k == 0) {
    rc = 0; /* nothing subscribed: everybody gets nothing */
    goto done;
  }
  for (int32_t i = 0; i < k; i++)
    hash[i] = java_uuid_hash(&in->topics[topics[i]].id);
  if (java_order(hash, k, java_capacity(0, k), o1))
    goto done;
  /* o1 is the first set's order; the copy re-buckets it. */
  int32_t *tmp = o1;
  int32_t *h2 = malloc(((size_t)k + 1) * sizeof *h2);
  int32_t *o2 = malloc(((size_t)k + 1) * sizeof *o2);
  if (!h2 || !o2) {
    free(h2);
    free(o2);
    goto done;
  }
  for (int32_t i = 0; i < k; i++)
    h2[i] = hash[tmp[i]];
  if (java_order(h2, k, java_capacity(java_copy_initial(k), k), o2)) {
    free(h2);
    free(o2);
    goto done;
  }
  int32_t *sorder = o1; /* reuse: topic indexes in the set's order */
  int32_t *ordered = malloc(((size_t)k + 1) * sizeof *ordered);
  if (!ordered) {
    free(h2);
    free(o2);
    goto done;
  }
  for (int32_t i = 0; i < k; i++)
    ordered[i] = topics[tmp[o2[i]]];
  memcpy(sorder, ordered, (size_t)k * sizeof *sorder);
  free(ordered);
  free(h2);
  free(o2);

  /* Partitions nobody holds now, in the set's topic order. */
  memset(unheld, 1, (size_t)a->poff[nt] + 1);
  for (int32_t m = 0; m < a->nm; m++)
    for (int32_t i = 0; i < a->ncur[m]; i++)
      unheld[a->poff[a->cur[m][i].topic] + a->cur[m][i].partition] = 0;
  int32_t nun = 0, total = 0;
  for (int32_t i = 0; i < k; i++) {
    int32_t t = sorder[i], np = a->poff[t + 1] - a->poff[t];
    for (int32_t p = 0; p < np; p++)
      if (unheld[a->poff[t] + p])
        un[nun++] = a->poff[t] + p;
    total += np;
  }
  int32_t minq = total / a->nm, extra = total % a->nm;

  /* Each member keeps what fits its quota, in its map's order. */
  for (int32_t j = 0; j < a->nm; j++) {
    int32_t m = a->morder[j], q = minq, has_extra = extra > 0;
    q += has_extra;
    const cur_tp *c = a->cur[m];
    int32_t n = a->ncur[m];
    /* Its topics (runs in c), in HashMap<Uuid> order: the map held every
     * topic of the input's current set, known or not. */
    int32_t nruns = 0;
    int32_t *run = malloc(((size_t)n + 1) * sizeof *run);
    int32_t *rh = malloc(((size_t)n + 1) * sizeof *rh);
    int32_t *ro = malloc(((size_t)n + 1) * sizeof *ro);
    int32_t *po = malloc(((size_t)n + 1) * sizeof *po);
    if (!run || !rh || !ro || !po) {
      free(run);
      free(rh);
      free(ro);
      free(po);
      goto done;
    }
    for (int32_t i = 0; i < n; i++)
      if (i == 0 || c[i].topic != c[i - 1].topic) {
        rh[nruns] = java_uuid_hash(&in->topics[c[i].topic].id);
        run[nruns++] = i;
      }
    int32_t cap = java_capacity(0, a->ncur_topics[m]);
    if (java_order(rh, nruns, cap, ro)) {
      free(run);
      free(rh);
      free(ro);
      free(po);
      goto done;
    }
    for (int32_t r = 0; r < nruns; r++) {
      int32_t s = run[ro[r]];
      int32_t e = ro[r] + 1 < nruns ? run[ro[r] + 1] : n;
      int32_t t = c[s].topic, sz = e - s;
      if (!a->sub[(size_t)m * nt + t])
        continue; /* no longer subscribed: dropped */
      if (sz <= q) {
        q -= sz;
        for (int32_t i = s; i < e; i++)
          give(a, t, c[i].partition, m);
        continue;
      }
      if (int_set_order(c + s, sz, po)) {
        free(run);
        free(rh);
        free(ro);
        free(po);
        goto done;
      }
      for (int32_t i = 0; i < sz; i++) {
        int32_t p = c[s + po[i]].partition;
        if (q > 0) {
          q--;
          give(a, t, p, m);
        } else {
          un[nun++] = a->poff[t] + p;
        }
      }
    }
    free(run);
    free(rh);
    free(ro);
    free(po);
    /* A member that did not need its extra partition hands it on while
     * there are more members left than extras, so that one which already
     * holds an extra partition can keep it. */
    if (q > 0 && has_extra && a->nm - j > extra) {
      q--;
      has_extra = 0;
    }
    quota[j] = q;
    extra -= has_extra;
  }
  /* The members below quota, in order, take the rest. */
  int32_t next = 0;
  for (int32_t j = 0; j < a->nm; j++) {
    int32_t m = a->morder[j];
    for (int32_t i = 0; i < quota[j] && next < nun; i++, next++) {
      int32_t g = un[next], t = 0;
      while (a->poff[t + 1] <= g)
        t++;
      give(a, t, g - a->poff[t], m);
    }
  }
  rc = 0;
done:
  free(hash);
  free(topics);
  free(o1);
  free(un);
  free(quota);
  free(unheld);
  return rc;
}

/* ---- uniform, heterogeneous ------------------------------------------ */

/* Members are numbered in map order: idx[m] is member m's number, mem[i]
 * the member numbered i. Ties between equally loaded members go to the
 * lower number. */
typedef struct het {
  asg *a;
  int32_t *num;  /* member -> number */
  int32_t *mem;  /* number -> member */
  int32_t *subs; /* per topic, its subscribers' numbers ascending */
  int32_t *soff; /* nt + 1 */
  /* The balancer's state (Kafka's MemberAssignmentBalancer). */
  int32_t *sorted; /* numbers, by load then number */
  int32_t ns;
  int32_t least_end, least_count, next_least;
  int32_t most_start, most_end, most_count, next_most;
} het;

static het *het_ctx; /* for qsort */

static int het_member_cmp(const void *x, const void *y) {
  int32_t i = *(const int32_t *)x, j = *(const int32_t *)y;
  int32_t si = het_ctx->a->size[het_ctx->mem[i]];
  int32_t sj = het_ctx->a->size[het_ctx->mem[j]];
  if (si != sj)
    return si < sj ? -1 : 1;
  return (i > j) - (i < j);
}

static int32_t load(const het *h, int32_t k) {
  return h->a->size[h->mem[h->sorted[k]]];
}

/* Start balancing topic t's subscribers; returns most − least load. */
static int32_t bal_init(het *h, int32_t t) {
  h->ns = h->soff[t + 1] - h->soff[t];
  memcpy(h->sorted, h->subs + h->soff[t], (size_t)h->ns * sizeof *h->sorted);
  het_ctx = h;
  qsort(h->sorted, (size_t)h->ns, sizeof *h->sorted, het_member_cmp);
  h->least_end = 0;
  h->least_count = load(h, 0) - 1;
  h->next_least = 0;
  h->most_start = h->most_end = h->ns;
  h->most_count = load(h, h->ns - 1) + 1;
  h->next_most = h->ns - 1;
  return load(h, h->ns - 1) - load(h, 0);
}

/* The subscriber to give the next partition to: the least loaded range
 * takes one each, then rises a level and takes in those now level. */
static int32_t bal_next_least(het *h) {
  if (h->next_least >= h->least_end) {
    h->least_count++;
    while (h->least_end < h->ns && load(h, h->least_end) == h->least_count)
      h->least_end++;
    h->next_least = 0;
  }
  return h->sorted[h->next_least++];
}

/* The subscriber to take a partition from, or -1: the mirror image, from
 * the most loaded end. */
static int32_t bal_next_most(het *h) {
  if (h->next_most < h->most_start) {
    if (h->most_end <= h->most_start && h->most_start > 0)
      h->most_count = load(h, h->most_start - 1);
    else
      h->most_count--;
    while (h->most_start > 0 && load(h, h->most_start - 1) == h->most_count)
      h->most_start--;
    h->next_most = h->most_end - 1;
  }
  if (h->next_most < 0)
    return -1;
  return h->sorted[h->next_most--];
}

/* The last one bal_next_most returned has nothing of the topic to give:
 * out of the most loaded range. */
static void bal_exclude(het *h) {
  int32_t x = h->sorted[h->next_most + 1];
  h->sorted[h->next_most + 1] = h->sorted[h->most_end - 1];
  h->sorted[h->most_end - 1] = x;
  h->most_end--;
}

static int bal_balanced(const het *h) {
  return h->most_count - h->least_count <= 1;
}

static int het_topic_cmp(const void *x, const void *y) {
  const asg *a = het_ctx->a;
  int32_t t1 = *(const int32_t *)x, t2 = *(const int32_t *)y;
  int64_t p1 = a->poff[t1 + 1] - a->poff[t1],
          p2 = a->poff[t2 + 1] - a->poff[t2];
  int64_t s1 = a->nsubs[t1], s2 = a->nsubs[t2];
  /* partitions per subscriber, descending: p2/s2 vs p1/s1, exactly */
  if (p2 * s1 != p1 * s2)
    return p2 * s1 < p1 * s2 ? -1 : 1;
  if (s1 != s2)
    return s1 < s2 ? -1 : 1;
  return java_uuid_cmp(&a->in->topics[t1].id, &a->in->topics[t2].id);
}

static void het_sort_topics(het *h, int32_t *ts, int32_t n) {
  het_ctx = h;
  qsort(ts, (size_t)n, sizeof *ts, het_topic_cmp);
}

/* One topic's rebalancing: moves partitions from its most to its least
 * loaded subscribers. part/start/end are scratch of the topic's size and
 * the members' count. Returns how many moved. */
static int32_t het_balance_topic(het *h, int32_t t, int32_t *part,
                                 int32_t *start, int32_t *end) {
  asg *a = h->a;
  int32_t moved = 0, np = a->poff[t + 1] - a->poff[t];
  if (bal_init(h, t) <= 1)
    return 0;
  /* The topic's partitions grouped by owner number, then ascending (a
   * counting sort): start[i]..end[i] is member number i's run. */
  for (int32_t i = 0; i < a->nm; i++)
    start[i] = 0;
  for (int32_t p = 0; p < np; p++)
    start[h->num[a->owner[a->poff[t] + p]]]++;
  for (int32_t i = 0, at = 0; i < a->nm; i++) {
    int32_t c = start[i];
    start[i] = end[i] = at;
    at += c;
  }
  for (int32_t p = 0; p < np; p++)
    part[end[h->num[a->owner[a->poff[t] + p]]]++] = p;
  while (!bal_balanced(h)) {
    int32_t most;
    for (;;) {
      most = bal_next_most(h);
      if (most < 0)
        break;
      if (end[most] - start[most] <= 0) {
        bal_exclude(h);
        continue;
      }
      break;
    }
    if (most < 0)
      break;
    int32_t p = part[--end[most]];
    int32_t least = bal_next_least(h);
    if (bal_balanced(h))
      break;
    give(a, t, p, h->mem[least]);
    moved++;
  }
  return moved;
}

static int uniform_heterogeneous(asg *a) {
  int32_t nm = a->nm, nt = a->nt;
  het h = {.a = a};
  int rc = -ENOMEM;
  h.num = malloc(((size_t)nm + 1) * sizeof *h.num);
  h.mem = malloc(((size_t)nm + 1) * sizeof *h.mem);
  h.sorted = malloc(((size_t)nm + 1) * sizeof *h.sorted);
  h.soff = calloc((size_t)nt + 1, sizeof *h.soff);
  int32_t *ts = malloc(((size_t)nt + 1) * sizeof *ts);
  int32_t maxp = 0;
  for (int32_t t = 0; t < nt; t++)
    if (a->poff[t + 1] - a->poff[t] > maxp)
      maxp = a->poff[t + 1] - a->poff[t];
  int32_t *part = malloc(((size_t)maxp + 1) * sizeof *part);
  int32_t *start = malloc(((size_t)nm + 1) * sizeof *start);
  int32_t *end = malloc(((size_t)nm + 1) * sizeof *end);
  size_t nsub = 0;
  for (int32_t t = 0; t < nt; t++) {
    h.soff[t] = (int32_t)nsub;
    nsub += (size_t)a->nsubs[t];
  }
  if (h.soff)
    h.soff[nt] = (int32_t)nsub;
  h.subs = malloc((nsub + 1) * sizeof *h.subs);
  if (!h.num || !h.mem || !h.sorted || !h.soff || !ts || !part || !start ||
      !end || !h.subs)
    goto done;
  for (int32_t i = 0; i < nm; i++) {
    h.mem[i] = a->morder[i];
    h.num[a->morder[i]] = i;
  }
  {
    int32_t *fill = calloc((size_t)nt + 1, sizeof *fill);
    if (!fill)
      goto done;
    for (int32_t i = 0; i < nm; i++)
      for (int32_t t = 0; t < nt; t++)
        if (a->sub[(size_t)h.mem[i] * nt + t])
          h.subs[h.soff[t] + fill[t]++] = i;
    free(fill);
  }
  /* Keep current partitions of still-subscribed topics. */
  for (int32_t m = 0; m < nm; m++)
    for (int32_t i = 0; i < a->ncur[m]; i++)
      if (a->sub[(size_t)m * nt + a->cur[m][i].topic])
        give(a, a->cur[m][i].topic, a->cur[m][i].partition, m);
  /* The unowned partitions, topic by topic in the sorted order. */
  int32_t n = 0;
  for (int32_t t = 0; t < nt; t++)
    if (a->nsubs[t] > 0)
      for (int32_t p = 0; p < a->poff[t + 1] - a->poff[t]; p++)
        if (a->owner[a->poff[t] + p] < 0) {
          ts[n++] = t;
          break;
        }
  het_sort_topics(&h, ts, n);
  for (int32_t i = 0; i < n; i++) {
    int32_t t = ts[i];
    bal_init(&h, t);
    for (int32_t p = 0; p < a->poff[t + 1] - a->poff[t]; p++)
      if (a->owner[a->poff[t] + p] < 0)
        give(a, t, p, h.mem[bal_next_least(&h)]);
  }
  /* Rebalance the topics with two subscribers or more. */
  n = 0;
  for (int32_t t = 0; t < nt; t++)
    if (a->nsubs[t] >= 2)
      ts[n++] = t;
  het_sort_topics(&h, ts, n);
  int32_t last = -1;
  for (int iter = 0; iter < 16 && n > 0; iter++)
    for (int32_t i = 0; i < n; i++) {
      if (i == last)
        goto balanced;
      int32_t moved = het_balance_topic(&h, ts[i], part, start, end);
      if (moved > 0 || last == -1)
        last = i;
    }
balanced:
  rc = 0;
done:
  free(h.num);
  free(h.mem);
  free(h.sorted);
  free(h.soff);
  free(h.subs);
  free(ts);
  free(part);
  free(start);
  free(end);
  return rc;
}

/* ---- range ------------------------------------------------------------ */

static const cg_assign_input *range_in;
static const int32_t *range_rank; /* member -> position in map order */

static int range_cmp(const void *x, const void *y) {
  int32_t i = *(const int32_t *)x, j = *(const int32_t *)y;
  const char *a = range_in->members[i].instance_id;
  const char *b = range_in->members[j].instance_id;
  int c;
  if (a && b)
    c = java_string_cmp(a, b);
  else if (a || b)
    c = a ? -1 : 1;
  else
    c = java_string_cmp(
        range_in->members[i].member_id ? range_in->members[i].member_id : "",
        range_in->members[j].member_id ? range_in->members[j].member_id : "");
  if (c)
    return c;
  /* A stable sort of the map's order, as Java's List.sort. */
  return (range_rank[i] > range_rank[j]) - (range_rank[i] < range_rank[j]);
}

static int range_assign(asg *a) {
  int32_t nm = a->nm, nt = a->nt;
  int32_t *sorted = malloc(((size_t)nm + 1) * sizeof *sorted);
  int32_t *rank = malloc(((size_t)nm + 1) * sizeof *rank);
  if (!sorted || !rank) {
    free(sorted);
    free(rank);
    return -ENOMEM;
  }
  for (int32_t i = 0; i < nm; i++) {
    sorted[i] = a->morder[i];
    rank[a->morder[i]] = i;
  }
  range_in = a->in;
  range_rank = rank;
  qsort(sorted, (size_t)nm, sizeof *sorted, range_cmp);
  for (int32_t t = 0; t < nt; t++) {
    int32_t ns = a->nsubs[t], np = a->poff[t + 1] - a->poff[t];
    if (ns == 0)
      continue;
    int32_t minq = np / ns, extra = np % ns, next = 0;
    for (int32_t i = 0; i < nm; i++) {
      int32_t m = sorted[i];
      if (!a->sub[(size_t)m * nt + t])
        continue;
      int32_t q = minq;
      if (extra > 0) {
        q++;
        extra--;
      }
      int32_t e = next + q < np ? next + q : np;
      for (int32_t p = next; p < e; p++)
        give(a, t, p, m);
      next = e;
    }
  }
  free(sorted);
  free(rank);
  return 0;
}

/* ---- entry points ------------------------------------------------------ */

int cg_assignor_known(const char *name) {
  return name && (!strcmp(name, "uniform") || !strcmp(name, "range"));
}

/* Kafka's group spec is HOMOGENEOUS when every member subscribes to the
 * same topics (here: the resolved ones the input lists). */
static int homogeneous(const asg *a) {
  for (int32_t m = 1; m < a->nm; m++)
    if (memcmp(a->sub, a->sub + (size_t)m * a->nt, (size_t)a->nt))
      return 0;
  return 1;
}

int cg_assign(const char *name, const cg_assign_input *in, cg_parts *out) {
  return cg_assign_typed(name, in, 0, out);
}

int cg_assign_typed(const char *name, const cg_assign_input *in,
                    int heterogeneous, cg_parts *out) {
  if (!name)
    name = "uniform";
  if (!cg_assignor_known(name) || !in || (in->nmembers > 0 && !out))
    return ND_EINVAL;
  for (int32_t m = 0; m < in->nmembers; m++)
    out[m] = (cg_parts){0};
  if (in->nmembers <= 0)
    return 0;
  asg a;
  int rc = asg_init(&a, in);
  if (rc)
    return rc;
  if (!strcmp(name, "range"))
    rc = range_assign(&a);
  else if (!heterogeneous && homogeneous(&a))
    rc = uniform_homogeneous(&a);
  else
    rc = uniform_heterogeneous(&a);
  if (!rc)
    rc = asg_output(&a, out);
  asg_free(&a);
  return rc;
}
