/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulated power cuts that lose more than the tail of the newest .log:
 * unsynced renames, creates, unlinks and mkdirs, hint files (recovery
 * point, producer state), index writes (pwrite and mmap), torn and
 * zeroed data — whatever the library's crash recorder (src/file.c) finds not
 * yet durable (nodata_testing.h; the model is POSIX's: data durable after
 * fdatasync of the file, names after fsync of their directory).
 *
 * Each round opens the store with the recorder on and runs a random
 * workload: appends to an fsync=always topic (acknowledged on return),
 * appends to an fsync=never topic (acknowledged only when a later nd_sync
 * returns 0), topic creation and growth, DeleteRecords (the log start is
 * durable: whole segments unlinked, reads below it refused; all
 * acknowledged on return), offset commits
 * (durable on return, per nodata.h), background work (nd_maintain: hint
 * files renamed into place without a sync). The machine stops after a random
 * number of changing file-system calls (every later one fails with EIO, so the
 * round also exercises the error paths of a dead disk), the store is
 * closed as it can be, and the power cut is applied. Then the store is
 * reopened (recovery) and must hold every acknowledged record above the
 * acknowledged log start,
 * byte-identical at its offset, dense offsets, no record that was not
 * written at its offset, every acknowledged topic, and every acknowledged
 * commit. What recovery kept beyond the acknowledged ends is acknowledged
 * from then on (the next round must keep it too).
 *
 * Seed: ND_POWERCUT_SEED (default: time), printed; rounds:
 * ND_POWERCUT_ROUNDS (default 60). To look at a failure: ND_POWERCUT_KEEP=1
 * keeps the directory, ND_CRASH_DEBUG=1 prints every change the cut undoes.
 */
#include "test.h"

#include <sys/stat.h>
#include <time.h>

#include "nodata_testing.h"

#define PARTS 2
#define MAX_CREATED 12

static size_t value_for(int topic, int p, int64_t off, char *buf, size_t cap) {
  size_t len = 8 + (size_t)((off * 2654435761u + (unsigned)(p + topic)) % 150);
  if (len > cap)
    len = cap;
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)('a' + (off * 31 + (int64_t)i * 7 + p + topic * 5) % 26);
  int n = snprintf(buf, len, "%d:%d:%lld:", topic, p, (long long)off);
  if (n > 0 && (size_t)n < len)
    buf[n] = '|';
  return len;
}

typedef struct part_ref {
  int topic, p;
} part_ref;

static size_t part_value(void *ctx, int64_t off, char *buf, size_t cap) {
  const part_ref *r = ctx;
  return value_for(r->topic, r->p, off, buf, cap);
}

/* Every record of (name, p) below its high watermark is the one written
 * at its offset. The high watermark, or -1 after printing why not. */
static int64_t verify_partition(nd_store *s, const char *name, int topic, int p,
                                int64_t *log_start) {
  part_ref r = {topic, p};
  return test_check_records(s, name, p, part_value, &r, log_start);
}

static int append_some(nd_store *s, const char *name, int topic, int p, int n,
                       int64_t *last) {
  int64_t hw;
  if (nd_offsets(s, name, p, NULL, &hw) != 0)
    return -1;
  nd_record recs[20];
  static char vals[20][200];
  for (int i = 0; i < n; i++) {
    size_t len = value_for(topic, p, hw + i, vals[i], sizeof vals[i]);
    recs[i] = (nd_record){NULL, 0, vals[i], len, NULL, 0, ND_TIMESTAMP_NOW};
  }
  nd_append_info ai;
  int rc = nd_append(s, name, p, recs, (size_t)n, 0, &ai);
  if (rc == 0 && ai.base_offset != hw) {
    fprintf(stderr, "%s/%d: appended at %lld, high watermark was %lld\n", name,
            p, (long long)ai.base_offset, (long long)hw);
    return -2;
  }
  if (rc == 0)
    *last = ai.last_offset;
  return rc;
}

typedef struct {
  /* Acknowledged: must survive. -1: nothing yet. */
  int64_t always[PARTS], never[PARTS], commit;
  int64_t never_pending[PARTS];
  /* DeleteRecords on "always": the acknowledged log start, and the
   * highest asked for (a call that failed may still have happened). */
  int64_t log_start[PARTS], log_start_asked[PARTS];
  /* Partitions of "grow": acknowledged, and the most asked for. */
  int32_t grown, grow_asked;
  int created;   /* topics c0 .. c<created-1> acknowledged */
  int creating;  /* the create that may or may not have happened */
  int64_t clock; /* nd_maintain's, moved on so that hints are due */
} model;

static void workload(nd_store *s, model *m, unsigned *seed, int actions) {
  for (int i = 0; i < actions; i++) {
    int p = (int)(rand_r(seed) % PARTS), n = 1 + (int)(rand_r(seed) % 20);
    int64_t last;
    switch (rand_r(seed) % 13) {
    case 0:
    case 1:
    case 2:
    case 3:
      if (append_some(s, "always", 0, p, n, &last) == 0)
        m->always[p] = last;
      break;
    case 4:
    case 5:
    case 6:
      if (append_some(s, "never", 1, p, n, &last) == 0)
        m->never_pending[p] = last;
      break;
    case 7:
      if (nd_sync(s) == 0)
        memcpy(m->never, m->never_pending, sizeof m->never);
      break;
    case 8:
      if (m->created < MAX_CREATED) {
        char name[16];
        snprintf(name, sizeof name, "c%d", m->created);
        nd_topic_config cfg;
        nd_topic_config_init(&cfg);
        cfg.segment_bytes = 4096;
        m->creating = 1;
        if (nd_topic_create(s, name, 1, &cfg) == 0) {
          m->created++;
          m->creating = 0;
        }
      }
      break;
    case 10: {
      int64_t ls, hw, got;
      if (nd_offsets(s, "always", p, &ls, &hw) != 0 || hw == ls)
        break;
      int64_t to = ls + 1 + (int64_t)(rand_r(seed) % (uint64_t)(hw - ls));
      if (to > m->log_start_asked[p])
        m->log_start_asked[p] = to;
      if (nd_delete_records(s, "always", p, to, &got) == 0)
        m->log_start[p] = got;
      break;
    }
    case 11:
      if (m->grown < 6) {
        m->grow_asked = m->grown + 1;
        if (nd_topic_add_partitions(s, "grow", m->grown + 1) == 0)
          m->grown++;
      }
      break;
    case 9:
      /* Background work: interval flushes, and the recovery point and
       * producer state written as hints (renamed into place, unsynced). */
      m->clock += 2500;
      nd_maintain(s, m->clock);
      break;
    default: {
      int64_t v = m->commit + 1 + (int64_t)(rand_r(seed) % 5);
      if (nd_commit_offset(s, "g", "always", 0, v, NULL) == 0)
        m->commit = v;
      break;
    }
    }
  }
}

/* After the cut: everything acknowledged is there and nothing is wrong. */
static int check_after(nd_store *s, model *m, int round) {
  int ok = 1;
  for (int p = 0; p < PARTS; p++) {
    int64_t ls = -1;
    int64_t hw = verify_partition(s, "always", 0, p, &ls);
    int64_t hn = verify_partition(s, "never", 1, p, NULL);
    if (hw >= 0 && (ls < m->log_start[p] || ls > m->log_start_asked[p])) {
      fprintf(stderr,
              "round %d partition %d: log start %lld, acknowledged %lld, "
              "asked up to %lld\n",
              round, p, (long long)ls, (long long)m->log_start[p],
              (long long)m->log_start_asked[p]);
      ok = 0;
    }
    m->log_start[p] = m->log_start_asked[p] = ls;
    if (hw <= m->always[p] || hn <= m->never[p]) {
      fprintf(stderr,
              "round %d partition %d: always hw %lld (acked %lld), never hw "
              "%lld (synced %lld, appended %lld)\n",
              round, p, (long long)hw, (long long)m->always[p], (long long)hn,
              (long long)m->never[p], (long long)m->never_pending[p]);
      ok = 0;
    }
    m->always[p] = hw - 1;
    m->never[p] = m->never_pending[p] = hn - 1;
  }
  for (int c = 0; c < m->created; c++) {
    char name[16];
    snprintf(name, sizeof name, "c%d", c);
    nd_topic_info info;
    if (nd_topic_describe(s, name, &info) != 0 || info.offline) {
      fprintf(stderr, "round %d: acknowledged topic %s: %s\n", round, name,
              nd_errmsg());
      ok = 0;
    }
  }
  if (m->creating) {
    /* Created or not, but whole: it either opens or is not there. */
    char name[16];
    snprintf(name, sizeof name, "c%d", m->created);
    nd_topic_info info;
    int rc = nd_topic_describe(s, name, &info);
    if (rc == 0 && !info.offline)
      m->created++;
    else if (rc != ND_ENOTOPIC) {
      fprintf(stderr, "round %d: half-created topic %s: %s\n", round, name,
              nd_errmsg());
      ok = 0;
    }
    m->creating = 0;
  }
  nd_topic_info gi = {0};
  if (nd_topic_describe(s, "grow", &gi) != 0 || gi.offline ||
      gi.partitions < m->grown || gi.partitions > m->grow_asked) {
    fprintf(stderr, "round %d: grow has %d partitions, acknowledged %d: %s\n",
            round, (int)gi.partitions, (int)m->grown, nd_errmsg());
    ok = 0;
  }
  m->grown = m->grow_asked = gi.partitions;
  int64_t got = -1;
  if (nd_committed_offset(s, "g", "always", 0, &got, NULL, NULL, NULL) != 0 ||
      got < m->commit) {
    fprintf(stderr, "round %d: committed offset %lld, acknowledged %lld\n",
            round, (long long)got, (long long)m->commit);
    ok = 0;
  }
  if (got > m->commit)
    m->commit = got;
  return ok;
}

static void powercut(void) {
  const char *e = getenv("ND_POWERCUT_SEED");
  unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
  e = getenv("ND_POWERCUT_ROUNDS");
  int rounds = e ? atoi(e) : 60;
  fprintf(stderr,
          "powercut: seed %u, %d rounds (ND_POWERCUT_SEED=%u repeats)\n", seed,
          rounds, seed);
  char *tmp = tmpdir_make("powercut");
  CHECK(tmp);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/data", tmp);
  nd_store *s = test_open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_ALWAYS;
  cfg.segment_bytes = 8 * 1024; /* rolls: new files, new names */
  cfg.index_interval_bytes = 256;
  cfg.segment_index_bytes = 16 * 1024;
  CHECK_OK(nd_topic_create(s, "always", PARTS, &cfg));
  cfg.fsync = ND_FSYNC_NEVER;
  CHECK_OK(nd_topic_create(s, "never", PARTS, &cfg));
  CHECK_OK(nd_topic_create(s, "grow", 1, NULL));
  CHECK_OK(nd_close(s));

  model m = {.commit = -1,
             .clock = (int64_t)time(NULL) * 1000,
             .grown = 1,
             .grow_asked = 1};
  for (int p = 0; p < PARTS; p++)
    m.always[p] = m.never[p] = m.never_pending[p] = -1;
  nd_test_crash_stats total = {0};
  int frozen_mid = 0;
  for (int round = 0; round < rounds && !nd_test_current_failed; round++) {
    char backup[PATH_MAX];
    snprintf(backup, sizeof backup, "%s/backup%d", tmp, round);
    CHECK(mkdir(backup, 0755) == 0);
    CHECK_OK(nd_test_crash_record(backup));
    /* Anywhere from before the open to well into the workload. */
    nd_test_crash_freeze_after(1 + rand_r(&seed) % 600);
    nd_options o = {.no_background = round % 2 == 0};
    s = NULL;
    if (nd_open(dir, &o, &s) == 0) {
      workload(s, &m, &seed, 40 + (int)(rand_r(&seed) % 80));
      frozen_mid += nd_test_crash_frozen();
      nd_test_crash_freeze_after(0); /* the power goes, if it had not */
      nd_close(s);                   /* as far as a dead disk lets it */
    } else {
      frozen_mid++;
    }
    nd_test_crash_stats st;
    CHECK_OK(nd_test_crash_cut(rand_r(&seed), &st));
    total.data_ops_lost += st.data_ops_lost;
    total.data_ops_torn += st.data_ops_torn;
    total.zeroed += st.zeroed;
    total.names_lost += st.names_lost;
    total.renames_lost += st.renames_lost;
    total.pages_lost += st.pages_lost;
    s = test_open_store(dir);
    CHECK(s);
    if (!s)
      break;
    CHECK(check_after(s, &m, round));
    CHECK_OK(nd_close(s));
  }
  fprintf(stderr,
          "powercut: %d rounds (%d stopped mid-workload); lost: %llu data "
          "changes (%llu torn, %llu zeroed), %llu pages of maps, %llu name "
          "changes (%llu renames); %lld + %lld always, %lld + %lld never "
          "records, %d topics verified\n",
          rounds, frozen_mid, (unsigned long long)total.data_ops_lost,
          (unsigned long long)total.data_ops_torn,
          (unsigned long long)total.zeroed,
          (unsigned long long)total.pages_lost,
          (unsigned long long)total.names_lost,
          (unsigned long long)total.renames_lost, (long long)m.always[0] + 1,
          (long long)m.always[1] + 1, (long long)m.never[0] + 1,
          (long long)m.never[1] + 1, m.created);
  /* The simulation did lose each kind of thing it claims to (else the
   * test would pass without testing). */
  if (rounds >= 30) {
    CHECK(frozen_mid > 0);
    CHECK(total.data_ops_lost > 0);
    CHECK(total.data_ops_torn > 0);
    CHECK(total.zeroed > 0);
    CHECK(total.pages_lost > 0);
    CHECK(total.renames_lost > 0);
  }
  if (!getenv("ND_POWERCUT_KEEP"))
    tmpdir_remove(tmp);
}

/* ---- the recorder itself ------------------------------------------------ */

static int slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (int)n;
}

/* One scene, cut with `seed`: old files written and synced before the
 * recording, then, recorded: an atomic replace, a hint replace, a synced
 * file in a new unsynced name, a new unsynced directory, an unlink. */
typedef struct {
  int atomic_new, hint_old, hint_new, hint_partial, synced_gone, dir_gone,
      unlinked_back, bad;
} outcome;

static void scene(const char *tmp, unsigned seed, outcome *o) {
  char d[PATH_MAX], a[PATH_MAX], h[PATH_MAX], f[PATH_MAX], nd[PATH_MAX],
      u[PATH_MAX], bk[PATH_MAX], buf[64];
  snprintf(d, sizeof d, "%s/scene%u", tmp, seed);
  snprintf(bk, sizeof bk, "%s/backup%u", tmp, seed);
  snprintf(a, sizeof a, "%s/atomic", d);
  snprintf(h, sizeof h, "%s/hint", d);
  snprintf(f, sizeof f, "%s/fresh", d);
  snprintf(nd, sizeof nd, "%s/newdir", d);
  snprintf(u, sizeof u, "%s/doomed", d);
  if (nd_test_io_mkdir(d) || nd_test_io_mkdir(bk) ||
      nd_test_io_write_atomic(a, "old", 3) ||
      nd_test_io_write_atomic(h, "old hint", 8) ||
      nd_test_io_write_atomic(u, "u", 1)) {
    o->bad++;
    return;
  }
  nd_test_crash_record(bk);
  int ok = nd_test_io_write_atomic(a, "new", 3) == 0 &&
           nd_test_io_write_replace(h, "new hint", 8) == 0;
  ok = ok && nd_test_io_write_new_synced(f, "x", 1) == 0;
  ok = ok && nd_test_io_mkdir(nd) == 0 && nd_test_io_unlink(u) == 0;
  nd_test_crash_cut(seed, NULL);
  if (!ok) {
    o->bad++;
    return;
  }
  /* Durable: the atomic replace, always. */
  if (slurp(a, buf, sizeof buf) == 3 && !strcmp(buf, "new"))
    o->atomic_new++;
  else
    o->bad++;
  /* A hint: the old one, the new one, or a torn/zeroed new one. */
  int n = slurp(h, buf, sizeof buf);
  if (n == 8 && !memcmp(buf, "old hint", 8))
    o->hint_old++;
  else if (n == 8 && !memcmp(buf, "new hint", 8))
    o->hint_new++;
  else if (n >= 0 && n <= 8 && !strncmp(buf, "new hint", strlen(buf)))
    o->hint_partial++;
  else
    o->bad++;
  o->synced_gone += access(f, F_OK) != 0;
  o->dir_gone += access(nd, F_OK) != 0;
  o->unlinked_back += access(u, F_OK) == 0;
}

/* What the cut does, scene by scene: what was made durable always stays,
 * and each kind of undurable change is lost in some cuts and kept in
 * others. */
static void recorder_model(void) {
  char *tmp = tmpdir_make("recorder");
  CHECK(tmp);
  outcome o = {0};
  for (unsigned seed = 1; seed <= 40; seed++)
    scene(tmp, seed, &o);
  fprintf(stderr,
          "recorder: atomic new %d; hint old %d new %d torn %d; synced file "
          "gone %d; dir gone %d; unlinked back %d; bad %d\n",
          o.atomic_new, o.hint_old, o.hint_new, o.hint_partial, o.synced_gone,
          o.dir_gone, o.unlinked_back, o.bad);
  CHECK_EQ_I64(o.bad, 0);
  CHECK_EQ_I64(o.atomic_new, 40);
  CHECK(o.hint_old > 0 && o.hint_new > 0 && o.hint_partial > 0);
  CHECK(o.synced_gone > 0 && o.synced_gone < 40);
  CHECK(o.dir_gone > 0 && o.dir_gone < 40);
  CHECK(o.unlinked_back > 0 && o.unlinked_back < 40);
  tmpdir_remove(tmp);
}

int main(void) {
  RUN(recorder_model);
  RUN(powercut);
  TEST_MAIN_END();
}
