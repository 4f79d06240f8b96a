/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_history.c — the console's sampler (console.h): every
 * CONSOLE_SAMPLE_MS (NODATA_CONSOLE_SAMPLE_MS in the environment, for
 * tests) it turns the broker's counters into rates and keeps the last
 * CONSOLE_HISTORY samples, 15 minutes.
 *
 * What one sample reads, all on the console thread, nothing over Kafka:
 *   - the per-partition counters of metrics_int.h's table (produced and
 *     fetched records and bytes): summed globally and per topic, and the
 *     difference to the previous sample's totals over the time between
 *     the two is the rate. The table's entries are never freed, so a
 *     topic's totals only grow; a topic first seen after the first
 *     sample counted from 0 (its entry was made by its first traffic).
 *   - the store's fsync histogram (nd_store_stats_get): the p50 and p99
 *     of the interval come from the bucket counts' differences, placed
 *     within a bucket by linear interpolation (as Prometheus's
 *     histogram_quantile does).
 *   - each group's total lag: its committed offsets (nd_group_offsets)
 *     against the log ends (nd_offsets), for at most HIST_MAX_GROUPS
 *     groups (the first by name), so one sample's work stays bounded.
 *
 * Layout: a ring of samples; a hash table of topics (open addressing,
 * never shrinks: topics only ever join the counters' table); and a
 * sorted array of groups, each with a lag ring aligned with the samples'
 * (INT64_MIN: not sampled then). A group not seen for a whole ring is
 * dropped.
 *
 * The first tick only takes the baseline totals: rates need two.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "metrics_int.h"

#define HIST_MAX_GROUPS 1000
#define HIST_NO_LAG INT64_MIN

typedef struct hist_topic {
  char *name;         /* NULL: free slot */
  uint64_t cur, prev; /* produced records: this walk's total, the last's */
  double rate;        /* records/s over the last interval; -1 none yet */
} hist_topic;

typedef struct hist_group {
  char *name;
  int64_t lag[CONSOLE_HISTORY]; /* by ring slot; HIST_NO_LAG */
  uint64_t last_seq;            /* the last sample that saw it */
} hist_group;

struct console_history {
  int64_t interval_ms;
  int started; /* the baseline is taken */
  int64_t last_ms;
  /* Totals at the last sample. */
  uint64_t p_rec, p_bytes, f_rec, f_bytes;
  uint64_t fsync_buckets[ND_LATENCY_BUCKETS];
  console_sample ring[CONSOLE_HISTORY];
  size_t head; /* the slot of the next sample */
  size_t count;
  uint64_t seq; /* samples taken */
  hist_topic *topics;
  size_t topic_cap, topic_n;
  hist_group **groups; /* sorted by name */
  size_t group_n;
};

console_history *console_history_new(void) {
  console_history *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  h->interval_ms = CONSOLE_SAMPLE_MS;
  /* Tests cannot wait 5 s per sample: docs/serve.md. */
  const char *env = getenv("NODATA_CONSOLE_SAMPLE_MS");
  if (env && *env) {
    char *e = NULL;
    long v = strtol(env, &e, 10);
    if (e && !*e && v >= 100 && v <= 60000)
      h->interval_ms = v;
  }
  return h;
}

void console_history_free(console_history *h) {
  if (!h)
    return;
  for (size_t i = 0; i < h->topic_cap; i++)
    free(h->topics[i].name);
  free(h->topics);
  for (size_t i = 0; i < h->group_n; i++) {
    free(h->groups[i]->name);
    free(h->groups[i]);
  }
  free(h->groups);
  free(h);
}

int64_t console_history_interval_ms(const console_history *h) {
  return h ? h->interval_ms : CONSOLE_SAMPLE_MS;
}

/* ---- topics ------------------------------------------------------------- */

static uint64_t str_hash(const char *s) {
  uint64_t x = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    x = (x ^ (unsigned char)*s) * 1099511628211ull;
  return x;
}

/* The slot of topic name, made (with cur = prev = 0) if missing; NULL
 * when out of memory. */
static hist_topic *topic_slot(console_history *h, const char *name) {
  if ((h->topic_n + 1) * 2 > h->topic_cap) {
    size_t cap = h->topic_cap ? h->topic_cap * 2 : 256;
    hist_topic *t = calloc(cap, sizeof *t);
    if (!t)
      return NULL;
    for (size_t i = 0; i < h->topic_cap; i++) {
      if (!h->topics[i].name)
        continue;
      size_t j = str_hash(h->topics[i].name) & (cap - 1);
      while (t[j].name)
        j = (j + 1) & (cap - 1);
      t[j] = h->topics[i];
    }
    free(h->topics);
    h->topics = t;
    h->topic_cap = cap;
  }
  size_t j = str_hash(name) & (h->topic_cap - 1);
  while (h->topics[j].name) {
    if (strcmp(h->topics[j].name, name) == 0)
      return &h->topics[j];
    j = (j + 1) & (h->topic_cap - 1);
  }
  char *copy = strdup(name);
  if (!copy)
    return NULL;
  h->topics[j] = (hist_topic){.name = copy, .rate = -1};
  h->topic_n++;
  return &h->topics[j];
}

static const hist_topic *topic_find(const console_history *h,
                                    const char *name) {
  if (!h->topic_cap)
    return NULL;
  size_t j = str_hash(name) & (h->topic_cap - 1);
  while (h->topics[j].name) {
    if (strcmp(h->topics[j].name, name) == 0)
      return &h->topics[j];
    j = (j + 1) & (h->topic_cap - 1);
  }
  return NULL;
}

/* Walk the counters' table: global totals into *s and each topic's
 * produced records into its slot's cur. */
static void walk_counters(console_history *h, uint64_t tot[4]) {
  for (size_t i = 0; i < h->topic_cap; i++)
    h->topics[i].cur = 0;
  /* Consecutive entries mostly share a topic (partitions are made
   * together): remember the last slot to skip most lookups. */
  hist_topic *last = NULL;
  for (size_t b = 0; b < METRICS_PART_BUCKETS; b++) {
    for (metrics_part_entry *e =
             atomic_load_explicit(&g_metrics.parts[b], memory_order_acquire);
         e; e = atomic_load_explicit(&e->next, memory_order_acquire)) {
      uint64_t pr =
          atomic_load_explicit(&e->c.produced_records, memory_order_relaxed);
      tot[0] += pr;
      tot[1] +=
          atomic_load_explicit(&e->c.produced_bytes, memory_order_relaxed);
      tot[2] +=
          atomic_load_explicit(&e->c.fetched_records, memory_order_relaxed);
      tot[3] += atomic_load_explicit(&e->c.fetched_bytes, memory_order_relaxed);
      if (!last || strcmp(last->name, e->topic) != 0) {
        last = topic_slot(h, e->topic);
        if (!last)
          continue; /* out of memory: this topic has no rate */
      }
      last->cur += pr;
    }
  }
}

/* ---- fsync -------------------------------------------------------------- */

/* The q-quantile (0..1) of a per-bucket histogram of n observations, in
 * ms; -1 when n is 0. */
static double quantile_ms(const uint64_t *d, uint64_t n, double q) {
  if (n == 0)
    return -1;
  double rank = q * (double)n, cum = 0;
  for (int i = 0; i < ND_LATENCY_BUCKETS; i++) {
    if (d[i] == 0)
      continue;
    if (cum + (double)d[i] >= rank) {
      if (i == ND_LATENCY_BUCKETS - 1) /* above the last bound */
        return (double)nd_latency_bounds_us[ND_LATENCY_BUCKETS - 2] / 1000.0;
      double lo = i ? (double)nd_latency_bounds_us[i - 1] : 0;
      double hi = (double)nd_latency_bounds_us[i];
      return (lo + (hi - lo) * (rank - cum) / (double)d[i]) / 1000.0;
    }
    cum += (double)d[i];
  }
  return (double)nd_latency_bounds_us[ND_LATENCY_BUCKETS - 2] / 1000.0;
}

/* ---- groups ------------------------------------------------------------- */

static int group_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, (*(hist_group *const *)b)->name);
}

static hist_group *group_find(const console_history *h, const char *name) {
  if (!h->group_n)
    return NULL;
  hist_group **g =
      bsearch(&name, h->groups, h->group_n, sizeof *h->groups, group_cmp);
  return g ? *g : NULL;
}

/* A group's total lag now; HIST_NO_LAG when it has no committed offset
 * whose log end is known. */
static int64_t group_lag(nd_store *store, const char *group) {
  nd_committed *list = NULL;
  size_t n = 0;
  if (nd_group_offsets(store, group, &list, &n) != 0)
    return HIST_NO_LAG;
  int64_t lag = HIST_NO_LAG;
  for (size_t i = 0; i < n; i++) {
    int64_t start, hw;
    if (list[i].offset < 0 ||
        nd_offsets(store, list[i].topic, list[i].partition, &start, &hw) != 0)
      continue;
    if (lag == HIST_NO_LAG)
      lag = 0;
    if (hw > list[i].offset)
      lag += hw - list[i].offset;
  }
  nd_committed_free(list, n);
  return lag;
}

/* Record each group's lag in ring slot `slot`: merge the store's sorted
 * names with the kept groups, so groups come and go in one pass. */
static void sample_groups(console_history *h, nd_store *store, size_t slot) {
  char **names = NULL;
  size_t all = 0;
  if (nd_group_list(store, &names, &all) != 0)
    all = 0;
  size_t nn = all < HIST_MAX_GROUPS ? all : HIST_MAX_GROUPS;
  hist_group **out = malloc((h->group_n + nn + 1) * sizeof *out);
  if (!out) {
    nd_names_free(names, all);
    return;
  }
  size_t o = 0, i = 0, j = 0;
  while (i < h->group_n || j < nn) {
    int c = i == h->group_n ? 1
            : j == nn       ? -1
                            : strcmp(h->groups[i]->name, names[j]);
    hist_group *g;
    if (c < 0) { /* kept, not listed now */
      g = h->groups[i++];
      g->lag[slot] = HIST_NO_LAG;
      if (h->seq - g->last_seq >= CONSOLE_HISTORY) {
        free(g->name);
        free(g);
        continue;
      }
    } else {
      if (c == 0) {
        g = h->groups[i++];
      } else {
        g = malloc(sizeof *g);
        if (!g || !(g->name = strdup(names[j]))) {
          free(g);
          j++;
          continue;
        }
        for (size_t k = 0; k < CONSOLE_HISTORY; k++)
          g->lag[k] = HIST_NO_LAG;
      }
      g->lag[slot] = group_lag(store, names[j++]);
      g->last_seq = h->seq;
    }
    out[o++] = g;
  }
  free(h->groups);
  h->groups = out;
  h->group_n = o;
  nd_names_free(names, all);
}

/* ---- sampling ----------------------------------------------------------- */

void console_history_tick(console_history *h, nd_store *store, int64_t now_ms) {
  if (!h || !store)
    return;
  if (h->started && now_ms - h->last_ms < h->interval_ms)
    return;
  uint64_t tot[4] = {0, 0, 0, 0};
  walk_counters(h, tot);
  nd_store_stats st;
  int have_stats = nd_store_stats_get(store, &st) == 0;
  if (!h->started) {
    h->started = 1;
    for (size_t i = 0; i < h->topic_cap; i++)
      if (h->topics[i].name) {
        h->topics[i].prev = h->topics[i].cur;
        h->topics[i].rate = -1;
      }
  } else {
    double dt = (double)(now_ms - h->last_ms) / 1000.0;
    if (dt <= 0)
      dt = 1e-3;
    size_t slot = h->head;
    console_sample *s = &h->ring[slot];
    s->t_ms = now_ms;
    s->produce_records = (double)(tot[0] - h->p_rec) / dt;
    s->produce_bytes = (double)(tot[1] - h->p_bytes) / dt;
    s->fetch_records = (double)(tot[2] - h->f_rec) / dt;
    s->fetch_bytes = (double)(tot[3] - h->f_bytes) / dt;
    s->fsync_p50_ms = s->fsync_p99_ms = -1;
    if (have_stats) {
      uint64_t d[ND_LATENCY_BUCKETS], n = 0;
      for (int i = 0; i < ND_LATENCY_BUCKETS; i++) {
        uint64_t now = st.fsync_latency_us.buckets[i];
        d[i] = now >= h->fsync_buckets[i] ? now - h->fsync_buckets[i] : 0;
        n += d[i];
      }
      s->fsync_p50_ms = quantile_ms(d, n, 0.50);
      s->fsync_p99_ms = quantile_ms(d, n, 0.99);
    }
    for (size_t i = 0; i < h->topic_cap; i++) {
      hist_topic *t = &h->topics[i];
      if (!t->name)
        continue;
      t->rate = t->cur >= t->prev ? (double)(t->cur - t->prev) / dt : 0;
      t->prev = t->cur;
    }
    sample_groups(h, store, slot);
    h->head = (h->head + 1) % CONSOLE_HISTORY;
    if (h->count < CONSOLE_HISTORY)
      h->count++;
    h->seq++;
  }
  h->p_rec = tot[0];
  h->p_bytes = tot[1];
  h->f_rec = tot[2];
  h->f_bytes = tot[3];
  if (have_stats)
    memcpy(h->fsync_buckets, st.fsync_latency_us.buckets,
           sizeof h->fsync_buckets);
  h->last_ms = now_ms;
}

/* ---- reading ------------------------------------------------------------ */

size_t console_history_samples(const console_history *h, console_sample *out,
                               size_t cap) {
  if (!h)
    return 0;
  size_t n = h->count < cap ? h->count : cap;
  /* The newest n, oldest first. */
  size_t first = (h->head + CONSOLE_HISTORY - n) % CONSOLE_HISTORY;
  for (size_t i = 0; i < n; i++)
    out[i] = h->ring[(first + i) % CONSOLE_HISTORY];
  return n;
}

double console_history_topic_rate(const console_history *h, const char *topic) {
  if (!h || !h->count)
    return -1;
  const hist_topic *t = topic_find(h, topic);
  /* A topic with no traffic since the broker started has no counters
   * (the table makes them on first use): its rate is 0. */
  if (!t)
    return 0;
  return t->rate < 0 ? -1 : t->rate;
}

size_t console_history_group_lag(const console_history *h, const char *group,
                                 int64_t *t_ms, int64_t *lag, size_t cap) {
  const hist_group *g = h ? group_find(h, group) : NULL;
  if (!g)
    return 0;
  size_t first = (h->head + CONSOLE_HISTORY - h->count) % CONSOLE_HISTORY;
  size_t n = 0;
  for (size_t i = 0; i < h->count && n < cap; i++) {
    size_t slot = (first + i) % CONSOLE_HISTORY;
    if (g->lag[slot] == HIST_NO_LAG)
      continue;
    t_ms[n] = h->ring[slot].t_ms;
    lag[n++] = g->lag[slot];
  }
  return n;
}

void console_history_write_interval(jw *w, const console_history *h) {
  int64_t ims = console_history_interval_ms(h);
  if (ims % 1000 == 0)
    jw_kint(w, "interval_s", ims / 1000);
  else
    jw_kdouble(w, "interval_s", (double)ims / 1000.0);
}
