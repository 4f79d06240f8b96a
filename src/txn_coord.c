/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txn_coord.c — the transaction coordinator: transactional ids and their
 * transactions, durable in DATA/transactions/txn.log (format and locks in
 * txn_coord.h), Kafka's TransactionCoordinator rules (handleInitProducerId,
 * handleAddPartitionsToTransaction, handleEndTransaction, the timeout
 * abort) completed synchronously on one node, the producer-id counter and
 * the append check. docs/transactions.md explains the design.
 */
#include "txn_coord.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "framelog.h"
#include "layout.h"
#include "offsets.h"
#include "store.h"

#define TXN_MAGIC 0x89545853u /* "\x89TXS" */
#define TXN_VERSION 1
#define OP_STATE 1
#define OP_FORGET 2
#define OP_PID_LIMIT 3
#define PID_BLOCK 1000
#define TXN_ID_MAX 32767
/* Kafka's TransactionMetadata.isEpochExhausted: Short.MaxValue - 1. */
#define EPOCH_EXHAUSTED 32766
#define DEFAULT_MAX_TIMEOUT_MS 900000
#define DEFAULT_ID_EXPIRATION_MS 604800000LL
#define COMPACT_MIN_BYTES (64 * 1024)

/* nd_test_txn_unchecked: transactional batches are not the coordinator's
 * (the partition level's own tests). */
static _Atomic int unchecked;

/* A pending group offset: TxnOffsetCommit until the commit. */
typedef struct pend {
  char *group, *topic;
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch;
  char *meta; /* NULL: none */
  size_t meta_len;
} pend;

/* What a frame records of an id: its whole state. */
typedef struct tstate {
  int64_t pid, prev_pid;
  int16_t epoch, prev_epoch;
  int state;
  int32_t timeout_ms;
  int64_t start_ms, last_ms;
  int version;
  nd_topic_partition *parts; /* topics malloc'ed */
  size_t nparts;
  char **groups;
  size_t ngroups;
  pend *pend;
  size_t npend;
} tstate;

struct txn_entry {
  char *id;
  pthread_mutex_t mu; /* held across a whole call for this id */
  tstate st;          /* written under mu and the coordinator's mu */
  size_t frame_bytes; /* its last frame: what a checkpoint needs */
};

struct txn_coord {
  framelog fl;
  int fl_open, readonly;
  pthread_mutex_t mu; /* the table, the file, the state of entries */
  txn_entry **v;      /* sorted by id */
  size_t n, cap;
  pthread_mutex_t pid_mu; /* nd_producer_id_new, across its sync */
  int64_t next_pid, pid_limit;
  /* The append check's producer id -> entry index (c->mu): every producer
   * id an entry has held (current or previous) since open, open
   * addressing. Only ever added to: a producer id comes from the counter
   * and belongs to one transactional id for good, so a stale slot still
   * names the right entry, whose state says what the id is now. */
  struct pid_slot {
    int64_t pid; /* -1: free */
    txn_entry *e;
  } * pidx;
  size_t pidx_n, pidx_cap; /* cap: a power of 2, or 0 */
};

/* ---- state -------------------------------------------------------------- */

static void pend_free(pend *p) {
  free(p->group);
  free(p->topic);
  free(p->meta);
}

static void tstate_free(tstate *t) {
  for (size_t i = 0; i < t->nparts; i++)
    free((char *)t->parts[i].topic);
  free(t->parts);
  for (size_t i = 0; i < t->ngroups; i++)
    free(t->groups[i]);
  free(t->groups);
  for (size_t i = 0; i < t->npend; i++)
    pend_free(&t->pend[i]);
  free(t->pend);
  t->parts = NULL;
  t->groups = NULL;
  t->pend = NULL;
  t->nparts = t->ngroups = t->npend = 0;
}

/* The transaction's contents go: what a completed or new state keeps.
 * The start time stays, as Kafka's txnStartTimestamp does: DescribeTransactions
 * shows it after the end, and only InitProducerId resets it. */
static void tstate_clear_txn(tstate *t) {
  tstate_free(t);
}

static char *dup_n(const void *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    if (n)
      memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

static int add_part(tstate *t, const char *tname, int32_t tpart) {
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].partition == tpart && !strcmp(t->parts[i].topic, tname))
      return 0;
  nd_topic_partition *np = realloc(t->parts, (t->nparts + 1) * sizeof *np);
  if (!np)
    return ND_ENOMEM;
  t->parts = np;
  char *d = strdup(tname);
  if (!d)
    return ND_ENOMEM;
  t->parts[t->nparts].topic = d;
  t->parts[t->nparts++].partition = tpart;
  return 0;
}

static int has_part(const tstate *t, const char *tname, int32_t tpart) {
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].partition == tpart && !strcmp(t->parts[i].topic, tname))
      return 1;
  return 0;
}

static int has_group(const tstate *t, const char *group) {
  for (size_t i = 0; i < t->ngroups; i++)
    if (!strcmp(t->groups[i], group))
      return 1;
  return 0;
}

static int add_group(tstate *t, const char *group) {
  if (has_group(t, group))
    return 0;
  char **ng = realloc(t->groups, (t->ngroups + 1) * sizeof *ng);
  if (!ng)
    return ND_ENOMEM;
  t->groups = ng;
  if (!(t->groups[t->ngroups] = strdup(group)))
    return ND_ENOMEM;
  t->ngroups++;
  return 0;
}

/* Set (replacing an earlier one) the pending offset of a partition. */
static int put_pend(tstate *t, const char *group, const char *tname,
                    int32_t tpart, int64_t offset, int32_t leader_epoch,
                    const char *meta, size_t meta_len) {
  pend np = {0};
  np.group = strdup(group);
  np.topic = strdup(tname);
  np.partition = tpart;
  np.offset = offset;
  np.leader_epoch = leader_epoch;
  np.meta_len = meta ? meta_len : 0;
  if (meta)
    np.meta = dup_n(meta, meta_len);
  if (!np.group || !np.topic || (meta && !np.meta)) {
    pend_free(&np);
    return ND_ENOMEM;
  }
  for (size_t i = 0; i < t->npend; i++)
    if (t->pend[i].partition == tpart && !strcmp(t->pend[i].group, group) &&
        !strcmp(t->pend[i].topic, tname)) {
      pend_free(&t->pend[i]);
      t->pend[i] = np;
      return 0;
    }
  pend *v = realloc(t->pend, (t->npend + 1) * sizeof *v);
  if (!v) {
    pend_free(&np);
    return ND_ENOMEM;
  }
  t->pend = v;
  t->pend[t->npend++] = np;
  return 0;
}

/* A deep copy of a state, to change while the old one stays in effect
 * until the change is in the file. */
static int tstate_copy(tstate *dst, const tstate *src) {
  *dst = *src;
  dst->parts = NULL;
  dst->groups = NULL;
  dst->pend = NULL;
  dst->nparts = dst->ngroups = dst->npend = 0;
  int rc = 0;
  for (size_t i = 0; !rc && i < src->nparts; i++)
    rc = add_part(dst, src->parts[i].topic, src->parts[i].partition);
  for (size_t i = 0; !rc && i < src->ngroups; i++)
    rc = add_group(dst, src->groups[i]);
  for (size_t i = 0; !rc && i < src->npend; i++) {
    const pend *p = &src->pend[i];
    rc = put_pend(dst, p->group, p->topic, p->partition, p->offset,
                  p->leader_epoch, p->meta, p->meta_len);
  }
  if (rc) {
    tstate_free(dst);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  return 0;
}

/* ---- encoding ----------------------------------------------------------- */

static int enc_str16(fl_buf *b, const char *s) {
  size_t n = strlen(s);
  if (fl_reserve(b, 2 + n))
    return ND_ENOMEM;
  fl_u16(b, (uint16_t)n);
  fl_bytes(b, s, n);
  return 0;
}

static int enc_state(fl_buf *b, const char *id, const tstate *t) {
  if (fl_reserve(b, 1) || (fl_u8(b, OP_STATE), 0) || enc_str16(b, id) ||
      fl_reserve(b, 8 + 2 + 8 + 2 + 1 + 4 + 8 + 8 + 1 + 4))
    return ND_ENOMEM;
  fl_u64(b, (uint64_t)t->pid);
  fl_u16(b, (uint16_t)t->epoch);
  fl_u64(b, (uint64_t)t->prev_pid);
  fl_u16(b, (uint16_t)t->prev_epoch);
  fl_u8(b, (uint8_t)t->state);
  fl_u32(b, (uint32_t)t->timeout_ms);
  fl_u64(b, (uint64_t)t->start_ms);
  fl_u64(b, (uint64_t)t->last_ms);
  fl_u8(b, (uint8_t)t->version);
  fl_u32(b, (uint32_t)t->nparts);
  for (size_t i = 0; i < t->nparts; i++) {
    if (enc_str16(b, t->parts[i].topic) || fl_reserve(b, 4))
      return ND_ENOMEM;
    fl_u32(b, (uint32_t)t->parts[i].partition);
  }
  if (fl_reserve(b, 4))
    return ND_ENOMEM;
  fl_u32(b, (uint32_t)t->ngroups);
  for (size_t i = 0; i < t->ngroups; i++)
    if (enc_str16(b, t->groups[i]))
      return ND_ENOMEM;
  if (fl_reserve(b, 4))
    return ND_ENOMEM;
  fl_u32(b, (uint32_t)t->npend);
  for (size_t i = 0; i < t->npend; i++) {
    const pend *p = &t->pend[i];
    if (enc_str16(b, p->group) || enc_str16(b, p->topic) ||
        fl_reserve(b, 4 + 8 + 4 + 4 + p->meta_len))
      return ND_ENOMEM;
    fl_u32(b, (uint32_t)p->partition);
    fl_u64(b, (uint64_t)p->offset);
    fl_u32(b, (uint32_t)p->leader_epoch);
    if (p->meta) {
      fl_u32(b, (uint32_t)p->meta_len);
      fl_bytes(b, p->meta, p->meta_len);
    } else {
      fl_u32(b, UINT32_MAX);
    }
  }
  return 0;
}

static int enc_frame_state(fl_buf *b, const char *id, const tstate *t) {
  int rc = fl_frame_start(b, TXN_VERSION);
  if (!rc)
    rc = enc_state(b, id, t);
  if (!rc)
    fl_frame_finish(b, TXN_MAGIC, 1);
  return rc;
}

static int enc_frame_pid_limit(fl_buf *b, int64_t limit) {
  if (fl_frame_start(b, TXN_VERSION) || fl_reserve(b, 9))
    return ND_ENOMEM;
  fl_u8(b, OP_PID_LIMIT);
  fl_u64(b, (uint64_t)limit);
  fl_frame_finish(b, TXN_MAGIC, 1);
  return 0;
}

/* ---- the table ---------------------------------------------------------- */

static size_t find_pos(txn_coord *c, const char *id, int *found) {
  size_t lo = 0, hi = c->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int r = strcmp(c->v[mid]->id, id);
    if (r == 0) {
      *found = 1;
      return mid;
    }
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

/* The entry of id, made (Dead, no state) if there is none; c->mu held. */
static txn_entry *entry_get(txn_coord *c, const char *id, size_t len) {
  char *key = dup_n(id, len);
  if (!key)
    return NULL;
  int found;
  size_t pos = find_pos(c, key, &found);
  if (found) {
    free(key);
    return c->v[pos];
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    txn_entry **nv = realloc(c->v, cap * sizeof *nv);
    if (!nv) {
      free(key);
      return NULL;
    }
    c->v = nv;
    c->cap = cap;
  }
  txn_entry *e = calloc(1, sizeof *e);
  if (!e) {
    free(key);
    return NULL;
  }
  e->id = key;
  pthread_mutex_init(&e->mu, NULL);
  e->st.state = ND_TXN_DEAD;
  e->st.pid = e->st.prev_pid = -1;
  e->st.epoch = e->st.prev_epoch = -1;
  e->st.start_ms = -1;
  memmove(c->v + pos + 1, c->v + pos, (c->n - pos) * sizeof *c->v);
  c->v[pos] = e;
  c->n++;
  return e;
}

static txn_entry *entry_find(txn_coord *c, const char *id) {
  int found;
  size_t pos = find_pos(c, id, &found);
  return found ? c->v[pos] : NULL;
}

static size_t pid_home(int64_t pid, size_t cap) {
  uint64_t h = (uint64_t)pid * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) & (cap - 1);
}

static void pidx_place(struct pid_slot *v, size_t cap, int64_t pid,
                       txn_entry *e) {
  size_t i = pid_home(pid, cap);
  while (v[i].pid >= 0 && v[i].pid != pid)
    i = (i + 1) & (cap - 1);
  v[i].pid = pid;
  v[i].e = e;
}

/* Note that pid is (or was) e's; c->mu held. Out of memory leaves it out:
 * a miss falls back to the scan (append_find), so the index is only ever
 * a shortcut. */
static void pidx_put(txn_coord *c, int64_t pid, txn_entry *e) {
  if (pid < 0)
    return;
  if ((c->pidx_n + 1) * 2 > c->pidx_cap) {
    size_t cap = c->pidx_cap ? c->pidx_cap * 2 : 64;
    struct pid_slot *v = malloc(cap * sizeof *v);
    if (!v)
      return;
    for (size_t i = 0; i < cap; i++)
      v[i].pid = -1;
    for (size_t i = 0; i < c->pidx_cap; i++)
      if (c->pidx[i].pid >= 0)
        pidx_place(v, cap, c->pidx[i].pid, c->pidx[i].e);
    free(c->pidx);
    c->pidx = v;
    c->pidx_cap = cap;
  }
  size_t i = pid_home(pid, c->pidx_cap);
  while (c->pidx[i].pid >= 0 && c->pidx[i].pid != pid)
    i = (i + 1) & (c->pidx_cap - 1);
  if (c->pidx[i].pid < 0)
    c->pidx_n++;
  c->pidx[i].pid = pid;
  c->pidx[i].e = e;
}

static txn_entry *pidx_get(const txn_coord *c, int64_t pid) {
  if (!c->pidx_cap || pid < 0)
    return NULL;
  for (size_t i = pid_home(pid, c->pidx_cap); c->pidx[i].pid >= 0;
       i = (i + 1) & (c->pidx_cap - 1))
    if (c->pidx[i].pid == pid)
      return c->pidx[i].e;
  return NULL;
}

/* The entry of an append's producer id (c->mu held): *e the live entry
 * whose current producer id it is, else *rotated when a live entry had it
 * before. The index answers; a miss scans every entry, so what is found
 * never depends on the index being complete. */
static void append_find(txn_coord *c, int64_t pid, txn_entry **e,
                        int *rotated) {
  txn_entry *x = pidx_get(c, pid);
  if (x && x->st.state != ND_TXN_DEAD) {
    if (x->st.pid == pid) {
      *e = x;
      return;
    }
    if (x->st.prev_pid == pid) {
      *rotated = 1;
      return;
    }
  }
  for (size_t i = 0; i < c->n && !*e; i++) {
    const tstate *t = &c->v[i]->st;
    if (t->state == ND_TXN_DEAD)
      continue;
    if (t->pid == pid)
      *e = c->v[i];
    else if (t->prev_pid == pid)
      *rotated = 1;
  }
}

/* ---- replay ------------------------------------------------------------- */

static const char *take_str16(fl_cur *cur, size_t *len) {
  const uint8_t *lp = fl_take(cur, 2);
  if (!lp)
    return NULL;
  *len = be16(lp);
  const uint8_t *p = fl_take(cur, *len);
  if (!p || *len == 0 || memchr(p, '\0', *len)) {
    cur->bad = 1;
    return NULL;
  }
  return (const char *)p;
}

/* One OP_STATE's fields after its kind: into *t (apply) or only checked. */
static int parse_state(fl_cur *cur, tstate *t) {
  const uint8_t *f = fl_take(cur, 8 + 2 + 8 + 2 + 1 + 4 + 8 + 8 + 1 + 4);
  if (!f)
    return -1;
  t->pid = (int64_t)be64(f);
  t->epoch = (int16_t)be16(f + 8);
  t->prev_pid = (int64_t)be64(f + 10);
  t->prev_epoch = (int16_t)be16(f + 18);
  t->state = f[20];
  t->timeout_ms = (int32_t)be32(f + 21);
  t->start_ms = (int64_t)be64(f + 25);
  t->last_ms = (int64_t)be64(f + 33);
  t->version = f[41];
  if (t->state > ND_TXN_PREPARE_EPOCH_FENCE || t->version < 1 || t->version > 2)
    return -1;
  uint32_t n = be32(f + 42);
  for (uint32_t i = 0; i < n; i++) {
    size_t len;
    const char *s = take_str16(cur, &len);
    const uint8_t *pp = s ? fl_take(cur, 4) : NULL;
    if (!pp || len > ND_TOPIC_NAME_MAX)
      return -1;
    char name[ND_TOPIC_NAME_MAX + 1];
    memcpy(name, s, len);
    name[len] = '\0';
    if (add_part(t, name, (int32_t)be32(pp)))
      return -2;
  }
  const uint8_t *np = fl_take(cur, 4);
  if (!np)
    return -1;
  n = be32(np);
  for (uint32_t i = 0; i < n; i++) {
    size_t len;
    const char *s = take_str16(cur, &len);
    if (!s || len > ND_GROUP_NAME_MAX)
      return -1;
    char *g = dup_n(s, len);
    int rc = g ? add_group(t, g) : ND_ENOMEM;
    free(g);
    if (rc)
      return -2;
  }
  if (!(np = fl_take(cur, 4)))
    return -1;
  n = be32(np);
  for (uint32_t i = 0; i < n; i++) {
    size_t gl, tl;
    const char *g = take_str16(cur, &gl);
    const char *tp = g ? take_str16(cur, &tl) : NULL;
    const uint8_t *x = tp ? fl_take(cur, 20) : NULL;
    if (!x || gl > ND_GROUP_NAME_MAX || tl > ND_TOPIC_NAME_MAX)
      return -1;
    int32_t ml = (int32_t)be32(x + 16);
    const uint8_t *meta = NULL;
    if (ml < -1 || (ml > 0 && !(meta = fl_take(cur, (size_t)ml))))
      return -1;
    char *gs = dup_n(g, gl), *ts = dup_n(tp, tl);
    int rc = gs && ts ? put_pend(t, gs, ts, (int32_t)be32(x),
                                 (int64_t)be64(x + 4), (int32_t)be32(x + 12),
                                 ml < 0 ? NULL
                                 : meta ? (const char *)meta
                                        : "",
                                 ml > 0 ? (size_t)ml : 0)
                      : ND_ENOMEM;
    free(gs);
    free(ts);
    if (rc)
      return -2;
  }
  return 0;
}

static int payload_fn(void *ctx, const uint8_t *p, size_t len, int apply) {
  txn_coord *c = ctx;
  fl_cur cur;
  uint32_t ops;
  if (fl_payload_start(&cur, p, len, TXN_VERSION, &ops))
    return -1;
  for (uint32_t i = 0; i < ops; i++) {
    const uint8_t *k = fl_take(&cur, 1);
    if (!k)
      return -1;
    if (*k == OP_PID_LIMIT) {
      const uint8_t *v = fl_take(&cur, 8);
      if (!v)
        return -1;
      if (apply && (int64_t)be64(v) > c->pid_limit)
        c->pid_limit = (int64_t)be64(v);
      continue;
    }
    if (*k != OP_STATE && *k != OP_FORGET)
      return -1;
    size_t idl;
    const char *id = take_str16(&cur, &idl);
    if (!id)
      return -1;
    tstate t = {0};
    if (*k == OP_STATE) {
      int r = parse_state(&cur, &t);
      if (r) {
        tstate_free(&t);
        return r;
      }
    }
    if (!apply) {
      tstate_free(&t);
      continue;
    }
    txn_entry *e = entry_get(c, id, idl);
    if (!e) {
      tstate_free(&t);
      return -2;
    }
    tstate_free(&e->st);
    if (*k == OP_FORGET) {
      e->st.state = ND_TXN_DEAD;
      e->frame_bytes = 0;
    } else {
      e->st = t;
      e->frame_bytes = len + FL_HEADER;
      pidx_put(c, t.pid, e);
      pidx_put(c, t.prev_pid, e);
    }
  }
  return cur.p == cur.end ? 0 : -1;
}

static void describe_fn(void *ctx, const uint8_t *p, size_t len, fl_text *t) {
  (void)ctx;
  fl_cur cur;
  uint32_t ops;
  const uint8_t *k = fl_payload_start(&cur, p, len, TXN_VERSION, &ops) == 0
                         ? fl_take(&cur, 1)
                         : NULL;
  size_t idl;
  const char *id = k && *k != OP_PID_LIMIT ? take_str16(&cur, &idl) : NULL;
  if (k && *k == OP_PID_LIMIT) {
    fl_text_add(t, "the producer id counter's limit");
  } else if (id) {
    fl_text_add(t, "%s of transactional id ",
                *k == OP_FORGET ? "the expiry" : "a state");
    fl_text_name(t, (const uint8_t *)id, idl);
  } else {
    fl_text_add(t, "nothing readable");
  }
}

/* The whole state: the producer-id limit, then a frame per live id. */
static int checkpoint_fn(void *ctx, fl_buf *b) {
  txn_coord *c = ctx;
  int rc = enc_frame_pid_limit(b, c->pid_limit);
  for (size_t i = 0; !rc && i < c->n; i++)
    if (c->v[i]->st.state != ND_TXN_DEAD)
      rc = enc_frame_state(b, c->v[i]->id, &c->v[i]->st);
  return rc;
}

static const fl_owner txn_owner = {
    .payload = payload_fn,
    .describe = describe_fn,
    .checkpoint = checkpoint_fn,
    .loss = "A lost state leaves the one before it (or none: the id is "
            "unknown) in effect",
};

/* ---- open / close ------------------------------------------------------- */

/* The broker's own counter (before the library had one): the first id it
 * did not hand out, or -1. */
static int64_t broker_pid_limit(const char *data_dir) {
  char path[PATH_MAX + 32], *data;
  size_t len;
  snprintf(path, sizeof path, "%s/broker-producer-ids", data_dir);
  if (file_read_all(path, &data, &len) != 0)
    return -1;
  char buf[32];
  size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
  memcpy(buf, data, n);
  buf[n] = '\0';
  free(data);
  char *end;
  long long v = strtoll(buf, &end, 10);
  return end != buf && v > 0 ? (int64_t)v : -1;
}

int txn_coord_open(nd_store *s, const char *data_dir, int readonly,
                   const nd_logger *log, txn_coord **out) {
  (void)s;
  txn_coord *c = calloc(1, sizeof *c);
  if (!c)
    return nd_fail(ND_ENOMEM, "out of memory");
  c->readonly = readonly;
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->pid_mu, NULL);
  char dir[PATH_MAX + 16], path[PATH_MAX + 32];
  snprintf(dir, sizeof dir, "%s/" LAYOUT_TRANSACTIONS, data_dir);
  snprintf(path, sizeof path, "%s/" LAYOUT_TXN_LOG, dir);
  int rc = 0;
  if (!readonly && (rc = file_mkdir(dir)) != 0)
    rc = rc == -EEXIST ? 0 : nd_fail_os(-rc, "cannot create %s", dir);
  if (!rc)
    rc = fl_open(&c->fl, path, TXN_MAGIC, readonly, log, &txn_owner, c);
  c->fl_open = !rc;
  if (rc) {
    txn_coord_close(c);
    return rc;
  }
  int64_t b = broker_pid_limit(data_dir);
  c->next_pid = c->pid_limit > b ? c->pid_limit : (b > 0 ? b : 0);
  c->pid_limit = c->next_pid; /* a new block before the first id */
  *out = c;
  return 0;
}

int64_t txn_coord_open_count(txn_coord *c) {
  int64_t n = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->n; i++) {
    int st = c->v[i]->st.state;
    n += st == ND_TXN_ONGOING || st == ND_TXN_PREPARE_COMMIT ||
         st == ND_TXN_PREPARE_ABORT || st == ND_TXN_PREPARE_EPOCH_FENCE;
  }
  pthread_mutex_unlock(&c->mu);
  return n;
}

int txn_coord_close(txn_coord *c) {
  if (!c)
    return 0;
  int rc = c->fl_open ? fl_close(&c->fl) : 0;
  for (size_t i = 0; i < c->n; i++) {
    tstate_free(&c->v[i]->st);
    pthread_mutex_destroy(&c->v[i]->mu);
    free(c->v[i]->id);
    free(c->v[i]);
  }
  free(c->v);
  free(c->pidx);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->pid_mu);
  free(c);
  return rc;
}

int txn_coord_maintain(txn_coord *c) {
  if (!c || c->readonly)
    return 0;
  pthread_mutex_lock(&c->mu);
  uint64_t live = 64;
  for (size_t i = 0; i < c->n; i++)
    live += c->v[i]->frame_bytes;
  int rc = 0;
  if (c->fl.file_size >= COMPACT_MIN_BYTES && c->fl.file_size >= 4 * live)
    rc = fl_rewrite(&c->fl);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* ---- writing states ----------------------------------------------------- */

/* Make *ns e's state: its frame appended and synced (group commit), e's
 * lock held. The state is in effect from the append, so a checkpoint
 * taken meanwhile has it; should the sync fail, the file is failed for
 * good (sticky) and the store must be reopened. *ns is consumed. */
static int commit_state(txn_coord *c, txn_entry *e, tstate *ns) {
  fl_buf b = {0};
  if (enc_frame_state(&b, e->id, ns)) {
    free(b.p);
    tstate_free(ns);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  uint64_t frame;
  pthread_mutex_lock(&c->mu);
  int rc = fl_append(&c->fl, &b, &frame);
  if (!rc) {
    tstate old = e->st;
    e->st = *ns;
    *ns = old;
    e->frame_bytes = b.len;
    pidx_put(c, e->st.pid, e);
    pidx_put(c, e->st.prev_pid, e);
  }
  pthread_mutex_unlock(&c->mu);
  free(b.p);
  tstate_free(ns);
  return rc ? rc : fl_sync(&c->fl, frame);
}

static int64_t resolve_now(int64_t now_ms) {
  return now_ms ? now_ms : store_now_ms();
}

/* ---- producer ids ------------------------------------------------------- */

static int pid_new(txn_coord *c, int64_t *out) {
  pthread_mutex_lock(&c->pid_mu);
  int rc = 0;
  if (c->next_pid >= c->pid_limit) {
    fl_buf b = {0};
    int64_t limit = c->next_pid + PID_BLOCK;
    uint64_t frame = 0;
    if (enc_frame_pid_limit(&b, limit)) {
      rc = nd_fail(ND_ENOMEM, "out of memory");
    } else {
      pthread_mutex_lock(&c->mu);
      rc = fl_append(&c->fl, &b, &frame);
      if (!rc)
        c->pid_limit = limit;
      pthread_mutex_unlock(&c->mu);
    }
    free(b.p);
    /* No id of the block is handed out before the block is durable. */
    if (!rc)
      rc = fl_sync(&c->fl, frame);
  }
  if (!rc)
    *out = c->next_pid++;
  pthread_mutex_unlock(&c->pid_mu);
  return rc;
}

int nd_producer_id_new(nd_store *s, int64_t *producer_id) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, producer_id != NULL,
                            "producer_id needed");
  return rc ? rc : pid_new(s->txn, producer_id);
}

/* ---- names -------------------------------------------------------------- */

const char *nd_txn_state_name(int state) {
  static const char *const names[] = {
      "Empty",          "Ongoing",       "PrepareCommit", "PrepareAbort",
      "CompleteCommit", "CompleteAbort", "Dead",          "PrepareEpochFence"};
  return state >= 0 && state <= ND_TXN_PREPARE_EPOCH_FENCE ? names[state]
                                                           : "Unknown";
}

/* ---- entering a call for an id ------------------------------------------ */

static int check_id(const char *id) {
  if (!id || !*id)
    return nd_fail(ND_EINVAL, "transactional id is empty");
  if (strlen(id) > TXN_ID_MAX)
    return nd_fail(ND_EINVAL, "transactional id is %zu bytes, the limit is %d",
                   strlen(id), TXN_ID_MAX);
  return 0;
}

/* The entry of a known id, locked; ND_ENOTFOUND if unknown. */
static int lock_known(txn_coord *c, const char *id, txn_entry **out) {
  pthread_mutex_lock(&c->mu);
  txn_entry *e = entry_find(c, id);
  pthread_mutex_unlock(&c->mu);
  if (e) {
    pthread_mutex_lock(&e->mu);
    if (e->st.state != ND_TXN_DEAD) {
      *out = e;
      return 0;
    }
    pthread_mutex_unlock(&e->mu);
  }
  return nd_fail(ND_ENOTFOUND, "unknown transactional id '%s'", id);
}

/* Kafka's checks of the producer's identity for AddPartitionsToTxn,
 * AddOffsetsToTxn and TxnOffsetCommit, and its state: a transaction being
 * completed is CONCURRENT_TRANSACTIONS. */
static int check_producer(const txn_entry *e, int64_t pid, int16_t epoch) {
  if (e->st.pid != pid)
    return nd_fail(ND_EPRODUCERID,
                   "producer id %" PRId64 " is not that of transactional id "
                   "'%s' (%" PRId64 ")",
                   pid, e->id, e->st.pid);
  if (e->st.epoch != epoch)
    return nd_fail(ND_EPRODUCERFENCED,
                   "transactional id '%s': epoch %d is not the current one "
                   "(%d); the producer was fenced",
                   e->id, (int)epoch, (int)e->st.epoch);
  if (e->st.state == ND_TXN_PREPARE_COMMIT ||
      e->st.state == ND_TXN_PREPARE_ABORT ||
      e->st.state == ND_TXN_PREPARE_EPOCH_FENCE)
    return nd_fail(ND_ECONCURRENTTXN,
                   "transactional id '%s': its transaction is being "
                   "completed (%s)",
                   e->id, nd_txn_state_name(e->st.state));
  return 0;
}

/* The state begins (or goes on with) a transaction. */
static void begin_txn(tstate *t, int64_t now) {
  if (t->state != ND_TXN_ONGOING) {
    tstate_clear_txn(t);
    t->start_ms = now;
    t->state = ND_TXN_ONGOING;
  }
  t->last_ms = now;
}

/* ---- completing --------------------------------------------------------- */

/* Commit the pending offsets of each group (one nd_commit_offsets per
 * group, each durable). A partition whose topic is gone meanwhile is
 * skipped, as its offsets have nowhere to point. */
static int apply_offsets(nd_store *s, const tstate *t) {
  for (size_t g = 0; g < t->ngroups; g++) {
    size_t n = 0;
    nd_offset_commit *cs = malloc((t->npend ? t->npend : 1) * sizeof *cs);
    if (!cs)
      return nd_fail(ND_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->npend; i++) {
      const pend *p = &t->pend[i];
      if (strcmp(p->group, t->groups[g]))
        continue;
      cs[n++] = (nd_offset_commit){p->topic,        p->partition, p->offset,
                                   p->leader_epoch, p->meta,      p->meta_len};
    }
    int rc = n ? nd_commit_offsets(s, t->groups[g], cs, n) : 0;
    if (rc == ND_ENOTOPIC || rc == ND_ENOPARTITION) {
      rc = 0;
      for (size_t i = 0; !rc && i < n; i++) {
        rc = nd_commit_offsets(s, t->groups[g], &cs[i], 1);
        if (rc == ND_ENOTOPIC || rc == ND_ENOPARTITION)
          rc = 0;
      }
    }
    free(cs);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- syncing the markers ----------------------------------------------- */

/* At most this many fdatasyncs of markers in flight at once: the disk
 * merges concurrent flushes into fewer device cache flushes (and a
 * journal commit serves several), so n partitions cost a few sync
 * latencies instead of n; more threads than this buy little on one disk. */
#define MARKER_SYNC_THREADS 8

typedef struct mark_sync {
  nd_store *s;
  const nd_topic_partition *parts;
  const int64_t *off; /* -1: no marker written now */
  size_t n;
  _Atomic size_t next;
  pthread_mutex_t mu; /* rc and msg */
  int rc;
  char msg[256];
} mark_sync;

static void *mark_sync_run(void *arg) {
  mark_sync *m = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&m->next, 1);
    if (i >= m->n)
      break;
    /* off -1: no marker written now. A retry (or the completion at open)
     * finds the marker an earlier attempt wrote and writes none, but that
     * one may not be durable yet: sync up to the high watermark all the
     * same (free when it is), or Complete* could outlive a lost marker and
     * rule 4 would abort committed data at the next open. */
    int rc = nd_sync_partition(m->s, m->parts[i].topic, m->parts[i].partition,
                               m->off[i]);
    if (rc == ND_ENOTOPIC || rc == ND_ENOPARTITION)
      rc = 0; /* deleted meanwhile: nothing left to keep */
    if (rc) {
      pthread_mutex_lock(&m->mu);
      if (!m->rc) {
        m->rc = rc;
        snprintf(m->msg, sizeof m->msg, "%s", nd_errmsg());
      }
      pthread_mutex_unlock(&m->mu);
    }
  }
  return NULL;
}

/* Make the markers at off[i] of parts[i] durable, the fdatasyncs running
 * concurrently (the calling thread takes a share too). Returns after every
 * one has finished, so the caller's next frame (Complete*) is written only
 * once every marker is durable (rule 2). */
static int sync_markers(nd_store *s, const nd_topic_partition *parts,
                        const int64_t *off, size_t n) {
  mark_sync m = {.s = s, .parts = parts, .off = off, .n = n};
  atomic_init(&m.next, 0);
  pthread_mutex_init(&m.mu, NULL);
  pthread_t th[MARKER_SYNC_THREADS - 1];
  size_t nth = 0;
  /* Threads only when there are several syncs: one runs here. If a thread
   * cannot be made, the others (and this one) do its share. */
  while (nth + 1 < n && nth < MARKER_SYNC_THREADS - 1 &&
         pthread_create(&th[nth], NULL, mark_sync_run, &m) == 0)
    nth++;
  mark_sync_run(&m);
  for (size_t i = 0; i < nth; i++)
    pthread_join(th[i], NULL);
  pthread_mutex_destroy(&m.mu);
  if (m.rc)
    return nd_fail(m.rc, "%s", m.msg);
  return 0;
}

/* Finish a transaction in PrepareCommit/PrepareAbort (e locked): a marker
 * to every partition (with the state's epoch: the bumped one), then the
 * partitions synced together (sync_markers), the offsets of a commit,
 * then Complete*. Markers are idempotent, so a retry after a failure or a
 * crash repeats nothing visible. */
static int complete(nd_store *s, txn_entry *e, int64_t now) {
  const tstate *t = &e->st;
  int commit = t->state == ND_TXN_PREPARE_COMMIT;
  if (t->nparts) {
    int64_t *offs = malloc(t->nparts * sizeof *offs);
    if (!offs)
      return nd_fail(ND_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; !rc && i < t->nparts; i++) {
      rc = nd_txn_write_marker(s, t->parts[i].topic, t->parts[i].partition,
                               t->pid, t->epoch, commit, 0, 0, &offs[i]);
      if (rc == ND_ENOTOPIC || rc == ND_ENOPARTITION) {
        rc = 0; /* deleted meanwhile: nothing left to end */
        offs[i] = -1;
      }
    }
    if (!rc)
      rc = sync_markers(s, t->parts, offs, t->nparts);
    free(offs);
    if (rc)
      return rc;
  }
  if (commit) {
    int rc = apply_offsets(s, t);
    if (rc)
      return rc;
  }
  tstate ns;
  int rc = tstate_copy(&ns, t);
  if (rc)
    return rc;
  tstate_clear_txn(&ns);
  ns.state = commit ? ND_TXN_COMPLETE_COMMIT : ND_TXN_COMPLETE_ABORT;
  ns.last_ms = now;
  if (ns.epoch > EPOCH_EXHAUSTED) {
    /* The bump used the last epoch: the producer goes on with a new id
     * (Kafka's producer id rotation). */
    int64_t pid;
    if ((rc = pid_new(s->txn, &pid)) != 0) {
      tstate_free(&ns);
      return rc;
    }
    ns.prev_pid = ns.pid;
    ns.prev_epoch = ns.epoch;
    ns.pid = pid;
    ns.epoch = 0;
  }
  return commit_state(s->txn, e, &ns);
}

/* Ongoing (or, V2, Empty/Complete*) -> Prepare*: the commit point, durable
 * before any marker; then completion. bump: the epoch goes up first (V2,
 * fencing), and the markers carry the new one. */
static int end_txn(nd_store *s, txn_entry *e, int commit, int bump,
                   int64_t now) {
  tstate ns;
  int rc = tstate_copy(&ns, &e->st);
  if (rc)
    return rc;
  if (ns.state != ND_TXN_ONGOING)
    tstate_clear_txn(&ns); /* V2's abort of nothing: no markers */
  ns.state = commit ? ND_TXN_PREPARE_COMMIT : ND_TXN_PREPARE_ABORT;
  if (bump) {
    ns.prev_epoch = ns.epoch;
    ns.prev_pid = ns.pid;
    ns.epoch++;
  }
  if (!commit)
    for (size_t i = 0; i < ns.npend; i++)
      pend_free(&ns.pend[i]);
  if (!commit)
    ns.npend = 0; /* an abort drops them: nothing would apply them */
  ns.last_ms = now;
  if ((rc = commit_state(s->txn, e, &ns)) != 0)
    return rc;
  return complete(s, e, now);
}

/* ---- InitProducerId ----------------------------------------------------- */

int nd_txn_init_producer(nd_store *s, const char *id, int32_t timeout_ms,
                         int64_t expected_pid, int16_t expected_epoch,
                         unsigned flags, int64_t now_ms, int64_t *producer_id,
                         int16_t *producer_epoch) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE,
                            producer_id && producer_epoch, "outputs needed");
  if (rc || (rc = check_id(id)) != 0)
    return rc;
  int64_t max = s->opts.transaction_max_timeout_ms
                    ? s->opts.transaction_max_timeout_ms
                    : DEFAULT_MAX_TIMEOUT_MS;
  if (timeout_ms <= 0 || timeout_ms > max)
    return nd_fail(ND_ETXNTIMEOUT,
                   "transaction timeout %d ms is not in 1..%" PRId64
                   " (transaction_max_timeout_ms)",
                   (int)timeout_ms, max);
  int64_t now = resolve_now(now_ms);
  txn_coord *c = s->txn;
  pthread_mutex_lock(&c->mu);
  txn_entry *e = entry_get(c, id, strlen(id));
  pthread_mutex_unlock(&c->mu);
  if (!e)
    return nd_fail(ND_ENOMEM, "out of memory");
  pthread_mutex_lock(&e->mu);
  int version = flags & ND_TXN_V2 ? 2 : 1;
  tstate ns;
  if (e->st.state == ND_TXN_DEAD) {
    /* A new id: a new producer id, epoch 0 (Kafka makes it with epoch -1
     * and bumps it). */
    memset(&ns, 0, sizeof ns);
    ns.prev_pid = -1;
    ns.prev_epoch = -1;
    rc = pid_new(c, &ns.pid);
    goto write;
  }
  if (e->st.state == ND_TXN_PREPARE_COMMIT ||
      e->st.state == ND_TXN_PREPARE_ABORT) {
    /* Left so by an I/O error: finish it now, as a retry would. */
    if ((rc = complete(s, e, now)) != 0) {
      int err = rc;
      rc = nd_fail(
          ND_ECONCURRENTTXN,
          "transactional id '%s': its %s transaction cannot be "
          "completed yet (%s)",
          id, e->st.state == ND_TXN_PREPARE_COMMIT ? "committed" : "aborted",
          nd_strerror(err));
      goto out;
    }
  }
  int64_t cur_pid = e->st.pid;
  int16_t cur_epoch = e->st.epoch;
  if (expected_pid >= 0) {
    /* KIP-360: the producer names the identity it had. The one before the
     * current is a retry whose answer was lost: it gets the current. */
    if (expected_pid == e->st.prev_pid && expected_epoch == e->st.prev_epoch &&
        e->st.state != ND_TXN_ONGOING) {
      *producer_id = cur_pid;
      *producer_epoch = cur_epoch;
      goto out;
    }
    if (expected_pid != cur_pid || expected_epoch != cur_epoch) {
      rc = nd_fail(ND_EPRODUCERFENCED,
                   "transactional id '%s': producer %" PRId64
                   " epoch %d is not the current one (%" PRId64 " epoch %d)",
                   id, expected_pid, (int)expected_epoch, cur_pid,
                   (int)cur_epoch);
      goto out;
    }
  }
  if (e->st.state == ND_TXN_ONGOING) {
    /* The earlier holder's transaction is aborted with its epoch bumped,
     * fencing it at the partitions too (Kafka's PrepareEpochFence; here
     * completed before answering). */
    if ((rc = end_txn(s, e, 0, 1, now)) != 0)
      goto out;
  }
  if ((rc = tstate_copy(&ns, &e->st)) != 0)
    goto out;
  tstate_clear_txn(&ns);
  /* What a retry of this call will name (Kafka's lastProducerEpoch, set
   * only when the producer named its identity, and previousProducerId,
   * set by a rotation): a producer that named none is not retrying. */
  ns.prev_pid = expected_pid >= 0 ? cur_pid : -1;
  ns.prev_epoch = expected_pid >= 0 ? cur_epoch : -1;
  if (ns.epoch >= EPOCH_EXHAUSTED) {
    ns.prev_pid = cur_pid;
    ns.prev_epoch = cur_epoch;
    rc = pid_new(c, &ns.pid);
    ns.epoch = 0;
  } else {
    ns.epoch++;
  }
write:
  if (rc) {
    tstate_free(&ns);
    goto out;
  }
  ns.state = ND_TXN_EMPTY;
  ns.timeout_ms = timeout_ms;
  ns.start_ms = -1;
  ns.last_ms = now;
  ns.version = version;
  if ((rc = commit_state(c, e, &ns)) == 0) {
    *producer_id = e->st.pid;
    *producer_epoch = e->st.epoch;
  }
out:
  pthread_mutex_unlock(&e->mu);
  return rc;
}

/* ---- AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit --------------- */

/* ND_ENOTOPIC / ND_ENOPARTITION unless (tname, tpart) exists. */
static int check_partition(nd_store *s, const char *tname, int32_t tpart) {
  if (!tname)
    return nd_fail(ND_EINVAL, "topic name needed");
  struct topic *t = store_acquire(s, tname);
  if (!t)
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", tname);
  partition *part;
  int rc = store_partition(t, tpart, &part);
  store_release(t);
  return rc;
}

int nd_txn_add_partitions(nd_store *s, const char *id, int64_t pid,
                          int16_t epoch, const nd_topic_partition *parts,
                          size_t n, unsigned flags, int64_t now_ms) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, parts || !n,
                            "partitions needed");
  if (rc || (rc = check_id(id)) != 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    if ((rc = check_partition(s, parts[i].topic, parts[i].partition)) != 0)
      return rc;
  txn_entry *e;
  if ((rc = lock_known(s->txn, id, &e)) != 0)
    return rc;
  if ((rc = check_producer(e, pid, epoch)) != 0)
    goto out;
  if (flags & ND_TXN_VERIFY_ONLY) {
    for (size_t i = 0; i < n && !rc; i++)
      if (e->st.state != ND_TXN_ONGOING ||
          !has_part(&e->st, parts[i].topic, parts[i].partition))
        rc = nd_fail(ND_ETXNSTATE,
                     "transactional id '%s': %s-%d is not in its %s "
                     "transaction",
                     id, parts[i].topic, (int)parts[i].partition,
                     nd_txn_state_name(e->st.state));
    goto out;
  }
  int64_t now = resolve_now(now_ms);
  int all = e->st.state == ND_TXN_ONGOING;
  for (size_t i = 0; all && i < n; i++)
    all = has_part(&e->st, parts[i].topic, parts[i].partition);
  if (all)
    goto out; /* nothing new: no frame (a retry, or a client re-adding) */
  tstate ns;
  if ((rc = tstate_copy(&ns, &e->st)) != 0)
    goto out;
  begin_txn(&ns, now);
  for (size_t i = 0; !rc && i < n; i++)
    if (add_part(&ns, parts[i].topic, parts[i].partition))
      rc = nd_fail(ND_ENOMEM, "out of memory");
  if (rc)
    tstate_free(&ns);
  else
    rc = commit_state(s->txn, e, &ns);
out:
  pthread_mutex_unlock(&e->mu);
  return rc;
}

static int check_group_name(const char *group) {
  if (!group || !*group || strlen(group) > ND_GROUP_NAME_MAX)
    return nd_fail(ND_EINVAL, "group name is empty or longer than %d bytes",
                   ND_GROUP_NAME_MAX);
  return 0;
}

/* AddOffsetsToTxn (n 0) and TxnOffsetCommit: the group joins the
 * transaction (V1's TxnOffsetCommit: must have joined already) and its
 * offsets are pending in it, in one durable frame. */
static int group_call(nd_store *s, const char *id, int64_t pid, int16_t epoch,
                      const char *group, const nd_offset_commit *commits,
                      size_t n, int must_be_added, int64_t now_ms) {
  txn_entry *e;
  int rc = lock_known(s->txn, id, &e);
  if (rc)
    return rc;
  if ((rc = check_producer(e, pid, epoch)) != 0)
    goto out;
  int added = e->st.state == ND_TXN_ONGOING && has_group(&e->st, group);
  if (!added && must_be_added) {
    rc = nd_fail(ND_ETXNSTATE,
                 "transactional id '%s': group '%s' was not added to its "
                 "transaction (AddOffsetsToTxn)",
                 id, group);
    goto out;
  }
  if (added && !n)
    goto out; /* nothing new: no frame */
  tstate ns;
  if ((rc = tstate_copy(&ns, &e->st)) != 0)
    goto out;
  begin_txn(&ns, resolve_now(now_ms));
  if (add_group(&ns, group))
    rc = ND_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++)
    rc = put_pend(&ns, group, commits[i].topic, commits[i].partition,
                  commits[i].offset, commits[i].leader_epoch,
                  commits[i].metadata, offsets_meta_len(&commits[i]));
  if (rc) {
    tstate_free(&ns);
    rc = nd_fail(ND_ENOMEM, "out of memory");
  } else {
    rc = commit_state(s->txn, e, &ns);
  }
out:
  pthread_mutex_unlock(&e->mu);
  return rc;
}

int nd_txn_add_offsets(nd_store *s, const char *id, int64_t pid, int16_t epoch,
                       const char *group, int64_t now_ms) {
  int rc = store_enter(s, __func__, ENTRY_WRITE);
  if (rc || (rc = check_id(id)) != 0 || (rc = check_group_name(group)) != 0)
    return rc;
  return group_call(s, id, pid, epoch, group, NULL, 0, 0, now_ms);
}

int nd_txn_commit_offsets(nd_store *s, const char *id, int64_t pid,
                          int16_t epoch, const char *group,
                          const nd_offset_commit *commits, size_t n,
                          unsigned flags, int64_t now_ms) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, commits || !n,
                            "commits needed");
  if (rc || (rc = check_id(id)) != 0 || (rc = check_group_name(group)) != 0)
    return rc;
  for (size_t i = 0; i < n; i++) {
    const nd_offset_commit *c = &commits[i];
    if (offsets_meta_len(c) > ND_OFFSET_METADATA_MAX || c->offset < -1)
      return nd_fail(ND_EINVAL,
                     "offset %" PRId64 " for %s/%d: negative, or metadata "
                     "over %d bytes",
                     c->offset, c->topic ? c->topic : "?", (int)c->partition,
                     ND_OFFSET_METADATA_MAX);
    if ((rc = check_partition(s, c->topic, c->partition)) != 0)
      return rc;
  }
  return group_call(s, id, pid, epoch, group, commits, n, !(flags & ND_TXN_V2),
                    now_ms);
}

int nd_txn_offsets_pending(nd_store *s, const char *group, const char *tname,
                           int32_t tpart) {
  int rc =
      store_enter_args(s, __func__, ENTRY_READ, group != NULL, "group needed");
  if (rc)
    return rc;
  txn_coord *c = s->txn;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; !rc && i < c->n; i++) {
    const tstate *t = &c->v[i]->st;
    if (t->state != ND_TXN_ONGOING && t->state != ND_TXN_PREPARE_COMMIT)
      continue;
    /* No topic: any partition of the group. */
    for (size_t j = 0; !rc && j < t->npend; j++)
      rc = !strcmp(t->pend[j].group, group) &&
           (!tname || (t->pend[j].partition == tpart &&
                       !strcmp(t->pend[j].topic, tname)));
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* ---- EndTxn ------------------------------------------------------------- */

static int invalid_transition(const txn_entry *e, int commit) {
  return nd_fail(ND_ETXNSTATE, "transactional id '%s': cannot %s from %s",
                 e->id, commit ? "commit" : "abort",
                 nd_txn_state_name(e->st.state));
}

/* Kafka's handleEndTransaction, V1 (no epoch bump at the end): 1 to end
 * the Ongoing transaction, 0 when answered already (*rc). */
static int end_v1(const txn_entry *e, int64_t pid, int16_t epoch, int commit,
                  int *rc) {
  const tstate *t = &e->st;
  if (t->pid != pid)
    *rc = nd_fail(ND_EPRODUCERID,
                  "producer id %" PRId64 " is not that of transactional id "
                  "'%s'",
                  pid, e->id);
  else if (t->epoch != epoch)
    *rc = nd_fail(ND_EPRODUCERFENCED,
                  "transactional id '%s': epoch %d is not the current one "
                  "(%d); the producer was fenced",
                  e->id, (int)epoch, (int)t->epoch);
  else if (t->state == ND_TXN_ONGOING)
    return 1;
  else if ((t->state == ND_TXN_COMPLETE_COMMIT && commit) ||
           (t->state == ND_TXN_COMPLETE_ABORT && !commit))
    *rc = 0; /* a retry of an end that was done */
  else
    *rc = invalid_transition(e, commit);
  return 0;
}

/* Kafka's handleEndTransaction with Transactions V2: the epoch of the
 * request is the one before the bump when it is a retry. 1 to end (an
 * Ongoing transaction, or V2's abort of none), 0 when answered. */
static int end_v2(const txn_entry *e, int64_t pid, int16_t epoch, int commit,
                  int *rc) {
  const tstate *t = &e->st;
  /* The end before rotated the producer id (its bump used the last
   * epoch), or bumped the epoch: the producer did not hear of it. */
  int retry_overflow = t->prev_pid == pid && t->pid != pid &&
                       epoch == EPOCH_EXHAUSTED && t->epoch == 0;
  int retry_bump = t->pid == pid && t->epoch == epoch + 1;
  int retry = retry_overflow || retry_bump;
  int completed =
      t->state == ND_TXN_COMPLETE_COMMIT || t->state == ND_TXN_COMPLETE_ABORT;
  int valid = epoch == t->epoch || (completed && retry);
  *rc = 0;
  if (t->pid != pid && !retry_overflow) {
    *rc = nd_fail(ND_EPRODUCERID,
                  "producer id %" PRId64 " is not that of transactional id "
                  "'%s'",
                  pid, e->id);
    return 0;
  }
  if (!valid) {
    *rc = nd_fail(ND_EPRODUCERFENCED,
                  "transactional id '%s': epoch %d is not the current one "
                  "(%d); the producer was fenced",
                  e->id, (int)epoch, (int)t->epoch);
    return 0;
  }
  switch (t->state) {
  case ND_TXN_ONGOING:
    return 1;
  case ND_TXN_COMPLETE_COMMIT:
    if (commit == retry) /* a retried commit; or a new abort of nothing */
      return !commit;
    break;
  case ND_TXN_COMPLETE_ABORT:
    if (!commit)
      return !retry; /* a retry answers; else an abort of nothing */
    break;
  case ND_TXN_EMPTY:
    if (!commit)
      return 1; /* V2 allows aborting an empty transaction */
    break;
  }
  *rc = invalid_transition(e, commit);
  return 0;
}

int nd_txn_end(nd_store *s, const char *id, int64_t pid, int16_t epoch,
               int commit, unsigned flags, int64_t now_ms, int64_t *new_pid,
               int16_t *new_epoch) {
  int rc = store_enter(s, __func__, ENTRY_WRITE);
  if (rc || (rc = check_id(id)) != 0)
    return rc;
  txn_entry *e;
  if ((rc = lock_known(s->txn, id, &e)) != 0)
    return rc;
  int64_t now = resolve_now(now_ms);
  int v2 = (flags & ND_TXN_V2) != 0;
  commit = commit != 0;
  int st = e->st.state;
  if ((st == ND_TXN_PREPARE_COMMIT && commit) ||
      (st == ND_TXN_PREPARE_ABORT && !commit)) {
    /* Left so by an I/O error: a retry finishes it (Kafka answers
     * CONCURRENT_TRANSACTIONS until its markers are written; here the
     * retry writes them). */
    int ok = e->st.pid == pid &&
             (v2 ? e->st.epoch == epoch + 1 : e->st.epoch == epoch);
    rc = ok ? complete(s, e, now)
            : nd_fail(ND_EPRODUCERFENCED,
                      "transactional id '%s': producer %" PRId64
                      " epoch %d is not the one completing",
                      id, pid, (int)epoch);
  } else if (st == ND_TXN_PREPARE_COMMIT || st == ND_TXN_PREPARE_ABORT) {
    rc = invalid_transition(e, commit);
  } else if (v2 ? end_v2(e, pid, epoch, commit, &rc)
                : end_v1(e, pid, epoch, commit, &rc)) {
    rc = end_txn(s, e, commit, v2, now);
  }
  if (!rc) {
    if (new_pid)
      *new_pid = e->st.pid;
    if (new_epoch)
      *new_epoch = e->st.epoch;
  }
  pthread_mutex_unlock(&e->mu);
  return rc;
}

/* ---- describe and list -------------------------------------------------- */

static int info_fill(nd_txn_info *o, const txn_entry *e) {
  const tstate *t = &e->st;
  memset(o, 0, sizeof *o);
  o->transactional_id = strdup(e->id);
  o->state = t->state;
  o->producer_id = t->pid;
  o->producer_epoch = t->epoch;
  o->timeout_ms = t->timeout_ms;
  o->start_ms = t->start_ms;
  o->last_update_ms = t->last_ms;
  o->version = t->version;
  int oom = !o->transactional_id;
  if (t->nparts && !oom) {
    o->partitions = calloc(t->nparts, sizeof *o->partitions);
    oom = !o->partitions;
    for (size_t i = 0; !oom && i < t->nparts; i++, o->partition_count++) {
      o->partitions[i].partition = t->parts[i].partition;
      oom = !(o->partitions[i].topic = strdup(t->parts[i].topic));
    }
  }
  if (t->ngroups && !oom) {
    o->groups = calloc(t->ngroups, sizeof *o->groups);
    oom = !o->groups;
    for (size_t i = 0; !oom && i < t->ngroups; i++, o->group_count++)
      oom = !(o->groups[i] = strdup(t->groups[i]));
  }
  return oom ? ND_ENOMEM : 0;
}

static void info_clear(nd_txn_info *o) {
  free(o->transactional_id);
  for (size_t i = 0; i < o->partition_count; i++)
    free((char *)o->partitions[i].topic);
  free(o->partitions);
  for (size_t i = 0; i < o->group_count; i++)
    free(o->groups[i]);
  free(o->groups);
  memset(o, 0, sizeof *o);
}

int nd_txn_describe(nd_store *s, const char *id, nd_txn_info *info) {
  int rc =
      store_enter_args(s, __func__, ENTRY_READ, info != NULL, "info needed");
  if (rc || (rc = check_id(id)) != 0)
    return rc;
  txn_coord *c = s->txn;
  pthread_mutex_lock(&c->mu);
  txn_entry *e = entry_find(c, id);
  if (!e || e->st.state == ND_TXN_DEAD)
    rc = nd_fail(ND_ENOTFOUND, "unknown transactional id '%s'", id);
  else if (info_fill(info, e)) {
    info_clear(info);
    rc = nd_fail(ND_ENOMEM, "out of memory");
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* The arrays nd_txn_list handed out and not yet freed. The contract has
 * one free for both a describe (the caller's struct, count 1) and a list
 * (our array): only a pointer found here is ours to free. */
static pthread_mutex_t lists_mu = PTHREAD_MUTEX_INITIALIZER;
static nd_txn_info **lists;
static size_t nlists, lists_cap;

static int lists_add(nd_txn_info *p) {
  pthread_mutex_lock(&lists_mu);
  int rc = 0;
  if (nlists == lists_cap) {
    size_t cap = lists_cap ? lists_cap * 2 : 8;
    nd_txn_info **nv = realloc(lists, cap * sizeof *nv);
    if (nv) {
      lists = nv;
      lists_cap = cap;
    } else {
      rc = ND_ENOMEM;
    }
  }
  if (!rc)
    lists[nlists++] = p;
  pthread_mutex_unlock(&lists_mu);
  return rc;
}

static int lists_remove(const nd_txn_info *p) {
  pthread_mutex_lock(&lists_mu);
  int found = 0;
  for (size_t i = 0; i < nlists && !found; i++)
    if (lists[i] == p) {
      lists[i] = lists[--nlists];
      found = 1;
    }
  if (!nlists) {
    free(lists);
    lists = NULL;
    lists_cap = 0;
  }
  pthread_mutex_unlock(&lists_mu);
  return found;
}

int nd_txn_list(nd_store *s, nd_txn_info **list, size_t *count) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, list && count,
                            "list and count needed");
  if (rc)
    return rc;
  *list = NULL;
  *count = 0;
  txn_coord *c = s->txn;
  pthread_mutex_lock(&c->mu);
  size_t n = 0;
  for (size_t i = 0; i < c->n; i++)
    n += c->v[i]->st.state != ND_TXN_DEAD;
  nd_txn_info *out = n ? calloc(n, sizeof *out) : NULL;
  size_t k = 0;
  if (n && !out)
    rc = ND_ENOMEM;
  for (size_t i = 0; !rc && i < c->n; i++)
    if (c->v[i]->st.state != ND_TXN_DEAD)
      rc = info_fill(&out[k++], c->v[i]);
  pthread_mutex_unlock(&c->mu);
  if (!rc && out)
    rc = lists_add(out);
  if (rc) {
    for (size_t i = 0; i < k; i++)
      info_clear(&out[i]);
    free(out);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  *list = out;
  *count = n;
  return 0;
}

void nd_txn_info_free(nd_txn_info *list, size_t count) {
  if (!list)
    return;
  for (size_t i = 0; i < count; i++)
    info_clear(&list[i]);
  if (lists_remove(list))
    free(list);
}

/* ---- the append check --------------------------------------------------- */

void txn_coord_set_unchecked(int on) {
  unchecked = on != 0;
}

int txn_coord_append_begin(nd_store *s, const char *tname, int32_t tpart,
                           int64_t pid, int16_t epoch, unsigned flags,
                           txn_entry **held) {
  txn_coord *c = s->txn;
  *held = NULL;
  if (unchecked)
    return 0;
  txn_entry *e = NULL;
  int rotated = 0;
  pthread_mutex_lock(&c->mu);
  append_find(c, pid, &e, &rotated);
  pthread_mutex_unlock(&c->mu);
  if (!e && !rotated)
    return nd_fail(ND_EPRODUCERID,
                   "transactional batch of producer %" PRId64
                   ": no transactional id has that producer id",
                   pid);
  if (e)
    pthread_mutex_lock(&e->mu);
  if (!e || e->st.pid != pid || e->st.state == ND_TXN_DEAD) {
    /* It went on with a new producer id meanwhile: this one is old. */
    if (e)
      pthread_mutex_unlock(&e->mu);
    return nd_fail(ND_EPRODUCERFENCED,
                   "transactional batch of producer %" PRId64
                   ": its transactional id has a new producer id",
                   pid);
  }
  int rc = 0;
  const tstate *t = &e->st;
  if (epoch != t->epoch) {
    rc = nd_fail(ND_EPRODUCERFENCED,
                 "transactional batch of producer %" PRId64
                 " epoch %d: transactional id '%s' is at epoch %d",
                 pid, (int)epoch, e->id, (int)t->epoch);
  } else if (t->state == ND_TXN_ONGOING && has_part(t, tname, tpart)) {
    rc = 0;
  } else if (!(flags & ND_APPEND_TXN_ADD) ||
             t->state == ND_TXN_PREPARE_COMMIT ||
             t->state == ND_TXN_PREPARE_ABORT) {
    rc = nd_fail(ND_ETXNSTATE,
                 "transactional batch of producer %" PRId64
                 " for %s-%d: the partition is not in the transaction of "
                 "'%s' (%s)",
                 pid, tname, (int)tpart, e->id, nd_txn_state_name(t->state));
  } else {
    /* V2: the partition joins durably before the batch is appended (rule
     * 1: every partition holding data of a transaction is listed). */
    tstate ns;
    if ((rc = tstate_copy(&ns, t)) == 0) {
      begin_txn(&ns, store_now_ms());
      if (add_part(&ns, tname, tpart)) {
        tstate_free(&ns);
        rc = nd_fail(ND_ENOMEM, "out of memory");
      } else {
        rc = commit_state(c, e, &ns);
      }
    }
  }
  if (rc)
    pthread_mutex_unlock(&e->mu);
  else
    *held = e;
  return rc;
}

void txn_coord_append_end(txn_entry *held) {
  if (held)
    pthread_mutex_unlock(&held->mu);
}

/* ---- expiry and recovery ------------------------------------------------ */

/* The entries, for work done one entry lock at a time (entries are never
 * freed before close). NULL when out of memory or none. */
static txn_entry **snapshot(txn_coord *c, size_t *n) {
  pthread_mutex_lock(&c->mu);
  txn_entry **v = c->n ? malloc(c->n * sizeof *v) : NULL;
  *n = v ? c->n : 0;
  if (v)
    memcpy(v, c->v, c->n * sizeof *v);
  pthread_mutex_unlock(&c->mu);
  return v;
}

/* Forget an expired id (e locked): a frame saying so, then the state. */
static int forget(txn_coord *c, txn_entry *e) {
  fl_buf b = {0};
  if (fl_frame_start(&b, TXN_VERSION) || fl_reserve(&b, 1) ||
      (fl_u8(&b, OP_FORGET), 0) || enc_str16(&b, e->id)) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  fl_frame_finish(&b, TXN_MAGIC, 1);
  uint64_t frame;
  pthread_mutex_lock(&c->mu);
  int rc = fl_append(&c->fl, &b, &frame);
  if (!rc) {
    tstate_free(&e->st);
    e->st.state = ND_TXN_DEAD;
    e->frame_bytes = 0;
  }
  pthread_mutex_unlock(&c->mu);
  free(b.p);
  return rc ? rc : fl_sync(&c->fl, frame);
}

int nd_txn_expire(nd_store *s, int64_t now_ms, int *aborted) {
  if (aborted)
    *aborted = 0;
  int rc = store_enter(s, __func__, ENTRY_READ);
  if (rc || s->readonly)
    return rc;
  int64_t now = resolve_now(now_ms);
  int64_t idle = s->opts.transactional_id_expiration_ms
                     ? s->opts.transactional_id_expiration_ms
                     : DEFAULT_ID_EXPIRATION_MS;
  size_t n;
  txn_entry **v = snapshot(s->txn, &n);
  for (size_t i = 0; i < n; i++) {
    txn_entry *e = v[i];
    pthread_mutex_lock(&e->mu);
    const tstate *t = &e->st;
    int r = 0;
    if (t->state == ND_TXN_ONGOING &&
        t->start_ms + (int64_t)t->timeout_ms < now) {
      /* Kafka's abortTimedOutTransactions: the epoch is bumped (fencing
       * the producer) and the transaction aborted. */
      nd_log(&s->logger, ND_LOG_INFO,
             "transactional id '%s': transaction of producer %" PRId64
             " epoch %d timed out after %d ms; aborting it",
             e->id, t->pid, (int)t->epoch, (int)t->timeout_ms);
      r = end_txn(s, e, 0, 1, now);
      if (!r && aborted)
        ++*aborted;
    } else if (t->state == ND_TXN_PREPARE_COMMIT ||
               t->state == ND_TXN_PREPARE_ABORT) {
      r = complete(s, e, now);
    } else if ((t->state == ND_TXN_EMPTY ||
                t->state == ND_TXN_COMPLETE_COMMIT ||
                t->state == ND_TXN_COMPLETE_ABORT) &&
               t->last_ms + idle < now) {
      r = forget(s->txn, e);
    }
    pthread_mutex_unlock(&e->mu);
    if (r && !rc)
      rc = r;
  }
  free(v);
  return rc;
}

/* Rule 4 of the design: a partition whose producer state shows an open
 * transaction the coordinator does not list as Ongoing there gets an
 * ABORT marker. With rule 1 only damage to txn.log (a lost frame) can
 * leave one; left alone it would hold the partition's last stable offset
 * back for good. */
static int abort_strays(nd_store *s) {
  if (unchecked)
    return 0; /* the coordinator governs no transactional batch */
  size_t nt;
  topic **ts = store_snapshot(s, &nt);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t i = 0; i < nt; i++) {
    for (int32_t p = 0; topic_partition(ts[i], p); p++) {
      nd_producer_info *list = NULL;
      size_t n = 0;
      if (nd_partition_producers(s, ts[i]->name, p, &list, &n) != 0)
        continue; /* offline: nothing to end there now */
      for (size_t k = 0; k < n; k++) {
        if (list[k].txn_start_offset < 0)
          continue;
        int listed = 0;
        int16_t epoch = list[k].producer_epoch;
        pthread_mutex_lock(&s->txn->mu);
        for (size_t j = 0; j < s->txn->n && !listed; j++) {
          const tstate *t = &s->txn->v[j]->st;
          if (t->pid != list[k].producer_id || t->state == ND_TXN_DEAD)
            continue;
          listed = t->state == ND_TXN_ONGOING && has_part(t, ts[i]->name, p);
          if (t->epoch > epoch)
            epoch = t->epoch;
        }
        pthread_mutex_unlock(&s->txn->mu);
        if (listed)
          continue;
        nd_log(&s->logger, ND_LOG_WARN,
               "%s-%d: producer %" PRId64 " epoch %d has a transaction open "
               "from offset %" PRId64 " that the transaction coordinator "
               "does not know (damage to transactions/txn.log?); aborting it",
               ts[i]->name, (int)p, list[k].producer_id,
               (int)list[k].producer_epoch, list[k].txn_start_offset);
        int r = nd_txn_write_marker(s, ts[i]->name, p, list[k].producer_id,
                                    epoch, 0, 0, ND_APPEND_SYNC, NULL);
        if (r && !rc)
          rc = r;
      }
      nd_free(list);
    }
    store_release(ts[i]);
  }
  free(ts);
  return rc;
}

int txn_coord_recover(nd_store *s) {
  size_t n;
  txn_entry **v = snapshot(s->txn, &n);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    txn_entry *e = v[i];
    pthread_mutex_lock(&e->mu);
    int st = e->st.state;
    if (st == ND_TXN_PREPARE_COMMIT || st == ND_TXN_PREPARE_ABORT) {
      nd_log(&s->logger, ND_LOG_INFO,
             "transactional id '%s': finishing the %s of producer %" PRId64
             " epoch %d that a crash interrupted (%zu partitions)",
             e->id, st == ND_TXN_PREPARE_COMMIT ? "commit" : "abort", e->st.pid,
             (int)e->st.epoch, e->st.nparts);
      int r = complete(s, e, store_now_ms());
      if (r && !rc)
        rc = r;
    }
    pthread_mutex_unlock(&e->mu);
  }
  free(v);
  /* Then rule 4, once the coordinator's state is final. */
  int r = abort_strays(s);
  return rc ? rc : r;
}
