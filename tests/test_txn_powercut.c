/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Transactions and power cuts: after each simulated power cut (the crash
 * recorder of nodata_testing.h loses whatever was not durable, torn and
 * zeroed writes, lost renames of the producer-state snapshot and of
 * .txnindex files included), the reopened store's last stable offset and
 * aborted-transaction list are exactly those the recovered log implies
 * (Kafka's rules, recomputed here from the batches), every marker written
 * with ND_APPEND_SYNC is still there, and nd_verify finds nothing wrong.
 *
 * Each round: open with the recorder on, a random workload of four
 * transactional producers (batches, COMMIT and ABORT markers, some
 * synced), a plain producer, nd_sync and nd_maintain (snapshots and
 * recovery points), the machine stops after a random number of changing
 * calls, the cut, then the checks.
 *
 * Seed: ND_POWERCUT_SEED (default: time), printed; rounds:
 * ND_POWERCUT_ROUNDS (default 40).
 */
#include "test.h"

#include <sys/stat.h>
#include <time.h>

#include "nodata_testing.h"
#include "txn_batches.h"

#define PIDS 4

/* The marker type of the control batch b (len bytes), or -1. */
static int control_type(const uint8_t *b, size_t len) {
  const uint8_t *p = b + 61, *end = b + len;
  int64_t v;
  if (nd_test_varint_read(&p, end, &v) || p >= end)
    return -1;
  p++; /* attributes */
  if (nd_test_varint_read(&p, end, &v) || nd_test_varint_read(&p, end, &v) ||
      nd_test_varint_read(&p, end, &v) || v != 4 || end - p < 4)
    return -1;
  return p[3];
}

typedef struct expect {
  int64_t lso;
  char aborted[4096];
  int64_t batches;
} expect;

/* Kafka's rules over the log as it is: a transactional batch opens its
 * producer's transaction, a marker ends it, an ABORT marker lists it. */
static int model_of(nd_store *s, expect *e) {
  int64_t open[16][2];
  size_t nopen = 0;
  struct {
    int64_t pid, first, last;
  } ab[512];
  size_t nab = 0;
  int64_t ls, hw, off;
  if (nd_offsets(s, "t", 0, &ls, &hw))
    return -1;
  e->batches = 0;
  for (off = ls; off < hw;) {
    nd_batches b;
    if (nd_read(s, "t", 0, off, 1 << 20, &b))
      return -1;
    if (b.len == 0) {
      nd_free(b.data);
      break;
    }
    for (size_t at = 0; at < b.len;) {
      const uint8_t *h = b.data + at;
      size_t size = 12 + be32(h + 8);
      int64_t base = (int64_t)be64(h), pid = (int64_t)be64(h + 43);
      int attrs = be16(h + 21);
      size_t k = 0;
      while (k < nopen && open[k][0] != pid)
        k++;
      e->batches++;
      if (pid >= 0 && (attrs & 0x20)) {
        if (k < nopen) {
          if (control_type(h, size) == 0 && nab < 512) {
            ab[nab].pid = pid;
            ab[nab].first = open[k][1];
            ab[nab++].last = base;
          }
          open[k][0] = open[nopen - 1][0];
          open[k][1] = open[nopen - 1][1];
          nopen--;
        }
      } else if (pid >= 0 && (attrs & 0x10) && k == nopen && nopen < 16) {
        open[nopen][0] = pid;
        open[nopen++][1] = base;
      }
      at += size;
    }
    off = b.next_offset;
    nd_free(b.data);
  }
  e->lso = hw;
  for (size_t k = 0; k < nopen; k++)
    if (open[k][1] < e->lso)
      e->lso = open[k][1];
  /* Sorted by first offset, as nd_aborted_txns gives them. */
  for (size_t i = 1; i < nab; i++)
    for (size_t j = i; j > 0 && ab[j - 1].first > ab[j].first; j--) {
      __typeof__(ab[0]) t = ab[j];
      ab[j] = ab[j - 1];
      ab[j - 1] = t;
    }
  size_t used = 0;
  e->aborted[0] = 0;
  for (size_t i = 0; i < nab && used < sizeof e->aborted; i++)
    used +=
        (size_t)snprintf(e->aborted + used, sizeof e->aborted - used,
                         "%s%lld:%lld-%lld", i ? " " : "", (long long)ab[i].pid,
                         (long long)ab[i].first, (long long)ab[i].last);
  return 0;
}

static int store_view(nd_store *s, expect *e) {
  nd_partition_info pi;
  if (nd_partition_describe(s, "t", 0, &pi))
    return -1;
  e->lso = pi.last_stable_offset;
  nd_aborted_txn *l;
  size_t n;
  if (nd_aborted_txns(s, "t", 0, 0, pi.high_watermark, &l, &n))
    return -1;
  size_t used = 0;
  e->aborted[0] = 0;
  for (size_t i = 0; i < n && used < sizeof e->aborted; i++)
    used += (size_t)snprintf(
        e->aborted + used, sizeof e->aborted - used, "%s%lld:%lld-%lld",
        i ? " " : "", (long long)l[i].producer_id, (long long)l[i].first_offset,
        (long long)l[i].last_offset);
  nd_free(l);
  return 0;
}

typedef struct state {
  int32_t seq[PIDS + 1]; /* next sequence of each producer (0: plain) */
  int64_t durable;       /* offsets below were acknowledged durable */
  int64_t clock;
  int64_t markers_synced, aborts;
} state;

/* The producers' next sequences, from the store (a cut may have taken
 * back what the last round appended). */
static void refresh(nd_store *s, state *m) {
  for (int i = 0; i <= PIDS; i++)
    m->seq[i] = 0;
  nd_producer_info *pl;
  size_t n;
  if (nd_partition_producers(s, "t", 0, &pl, &n))
    return;
  for (size_t i = 0; i < n; i++) {
    int64_t pid = pl[i].producer_id;
    int k = pid == 9 ? 0 : (int)pid;
    if (k >= 0 && k <= PIDS)
      m->seq[k] = pl[i].last_sequence + 1;
  }
  nd_free(pl);
}

static void workload(nd_store *s, state *m, unsigned *seed, int actions) {
  for (int i = 0; i < actions; i++) {
    int pid = 1 + (int)(rand_r(seed) % PIDS);
    int64_t off;
    switch (rand_r(seed) % 10) {
    case 0:
    case 1:
    case 2:
    case 3: {
      int n = 1 + (int)(rand_r(seed) % 5);
      if (txn_append(s, "t", 0, pid, 0, m->seq[pid], 1, "x", n, &off) == 0)
        m->seq[pid] += n;
      break;
    }
    case 4:
    case 5: {
      int commit = (int)(rand_r(seed) % 2);
      unsigned flags = rand_r(seed) % 2 ? ND_APPEND_SYNC : 0;
      if (nd_txn_write_marker(s, "t", 0, pid, 0, commit, 0, flags, &off) == 0 &&
          off >= 0) {
        m->aborts += !commit;
        if (flags) {
          m->markers_synced++;
          if (off + 1 > m->durable)
            m->durable = off + 1;
        }
      }
      break;
    }
    case 6:
    case 7:
      if (txn_append(s, "t", 0, 9, 0, m->seq[0], 0, "p", 2, &off) == 0)
        m->seq[0] += 2;
      break;
    case 8: {
      int64_t hw;
      if (nd_offsets(s, "t", 0, NULL, &hw) == 0 && nd_sync(s) == 0 &&
          hw > m->durable)
        m->durable = hw;
      break;
    }
    default:
      m->clock += 3000; /* recovery point and snapshot due */
      nd_maintain(s, m->clock);
      break;
    }
  }
}

static void rounds_of_cuts(void) {
  const char *env = getenv("ND_POWERCUT_SEED");
  unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
  env = getenv("ND_POWERCUT_ROUNDS");
  int rounds = env ? atoi(env) : 40;
  fprintf(stderr, "txn powercut: seed %u, %d rounds\n", seed, rounds);
  char *tmp = tmpdir_make("txpower");
  CHECK(tmp);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/data", tmp);
  nd_store *s = test_open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.segment_bytes = 600;
  cfg.fsync = ND_FSYNC_NEVER;
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  CHECK_OK(nd_close(s));
  state m = {.clock = (int64_t)time(NULL) * 1000};
  nd_test_crash_stats total = {0};
  int64_t checked_aborts = 0;
  for (int round = 0; round < rounds && !nd_test_current_failed; round++) {
    char backup[PATH_MAX + 32];
    snprintf(backup, sizeof backup, "%s/backup%d", tmp, round);
    CHECK(mkdir(backup, 0755) == 0);
    CHECK_OK(nd_test_crash_record(backup));
    nd_test_crash_freeze_after(1 + rand_r(&seed) % 400);
    nd_options o = {.no_background = 1};
    s = NULL;
    if (nd_open(dir, &o, &s) == 0) {
      refresh(s, &m);
      workload(s, &m, &seed, 30 + (int)(rand_r(&seed) % 60));
      nd_test_crash_freeze_after(0);
      nd_close(s);
    }
    nd_test_crash_stats st;
    CHECK_OK(nd_test_crash_cut(rand_r(&seed), &st));
    total.data_ops_lost += st.data_ops_lost;
    total.renames_lost += st.renames_lost;
    s = test_open_store(dir);
    CHECK(s);
    expect want, got;
    CHECK_OK(model_of(s, &want));
    CHECK_OK(store_view(s, &got));
    if (want.lso != got.lso || strcmp(want.aborted, got.aborted) != 0) {
      fprintf(stderr,
              "round %d: LSO %lld, want %lld; aborted\n  got  '%s'\n  want "
              "'%s'\n",
              round, (long long)got.lso, (long long)want.lso, got.aborted,
              want.aborted);
      CHECK(0);
    }
    int64_t hw;
    CHECK_OK(nd_offsets(s, "t", 0, NULL, &hw));
    if (hw < m.durable) {
      fprintf(stderr, "round %d: high watermark %lld below %lld, durable\n",
              round, (long long)hw, (long long)m.durable);
      CHECK(0);
    }
    checked_aborts += (int64_t)(want.aborted[0] != 0);
    CHECK_OK(nd_close(s));
    nd_verify_stats vs;
    CHECK_OK(nd_verify(dir, NULL, &vs));
    CHECK_EQ_I64(vs.problems, 0);
  }
  fprintf(stderr,
          "txn powercut: %lld synced markers, %lld aborts; lost %llu data "
          "changes, %llu renames; %lld rounds checked aborted lists\n",
          (long long)m.markers_synced, (long long)m.aborts,
          (unsigned long long)total.data_ops_lost,
          (unsigned long long)total.renames_lost, (long long)checked_aborts);
  /* The workload did what the test claims to test. */
  if (rounds >= 30) {
    CHECK(m.markers_synced > 0);
    CHECK(checked_aborts > 0);
    CHECK(total.data_ops_lost > 0);
  }
  tmpdir_remove(tmp);
}

int main(void) {
  RUN(rounds_of_cuts);
  TEST_MAIN_END();
}
