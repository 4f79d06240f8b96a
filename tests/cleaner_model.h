/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cleaner_model.h — what the cleaner's tests share (test_cleaner.c,
 * test_cleaner_crash.c): a model of one partition's records, keyed
 * appends recorded in it, what a cleaning leaves (the last record of each
 * key below the cleaned end, every record from it on), and a record by
 * record comparison of the log read back through nd_read and nd_iter.
 */
#ifndef ND_TEST_CLEANER_MODEL_H
#define ND_TEST_CLEANER_MODEL_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodata.h"
#include "test.h"

#define T0 1700000000000LL /* the records' timestamps start here */

/* ---- the model ---------------------------------------------------------- */

typedef struct mrec {
  int64_t off, ts;
  int key;  /* -1: no key */
  int tomb; /* null value */
} mrec;

typedef struct model {
  mrec *r;
  size_t n, cap;
} model;

static void model_add(model *m, int64_t off, int key, int tomb, int64_t ts) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 256;
    m->r = realloc(m->r, m->cap * sizeof *m->r);
  }
  m->r[m->n++] = (mrec){off, ts, key, tomb};
}

static size_t key_text(int key, char *buf, size_t cap) {
  return (size_t)snprintf(buf, cap, "key-%d", key);
}
static size_t value_text(int64_t off, char *buf, size_t cap) {
  return (size_t)snprintf(buf, cap, "value-at-%" PRId64 "-padding-padding",
                          off);
}

/* Append n records as one batch: keys[i] (tomb[i]: a tombstone), the
 * timestamps ts, ts+1, ...; recorded in the model. */
static int append_batch(nd_store *s, const char *t, model *m, const int *keys,
                        const int *tombs, size_t n, int64_t ts) {
  nd_record recs[64];
  char kb[64][32], vb[64][64];
  int64_t ls, hw;
  if (nd_offsets(s, t, 0, &ls, &hw))
    return -1;
  for (size_t i = 0; i < n; i++) {
    size_t kl = key_text(keys[i], kb[i], sizeof kb[i]);
    size_t vl = value_text(hw + (int64_t)i, vb[i], sizeof vb[i]);
    recs[i] = (nd_record){keys[i] >= 0 ? kb[i] : NULL,
                          kl,
                          tombs && tombs[i] ? NULL : vb[i],
                          vl,
                          NULL,
                          0,
                          ts + (int64_t)i};
  }
  nd_append_info info;
  int rc = nd_append(s, t, 0, recs, n, 0, &info);
  if (rc) {
    fprintf(stderr, "append: %s\n", nd_errmsg());
    return rc;
  }
  for (size_t i = 0; i < n; i++)
    model_add(m, info.base_offset + (int64_t)i, keys[i], tombs && tombs[i],
              ts + (int64_t)i);
  return 0;
}

/* Records one at a time (a batch each), key = i % nkeys. */
static int append_keys(nd_store *s, const char *t, model *m, int count,
                       int nkeys, int64_t ts) {
  for (int i = 0; i < count; i++) {
    int k = i % nkeys;
    if (append_batch(s, t, m, &k, NULL, 1, ts + i))
      return -1;
  }
  return 0;
}

/* What a cleaning of everything below `end` leaves: below end the latest
 * record of each key (tombstones dropped when drop_tombs), from end on
 * everything. */
static model model_clean(const model *m, int64_t end, int drop_tombs) {
  model out = {0};
  for (size_t i = 0; i < m->n; i++) {
    const mrec *r = &m->r[i];
    int keep = 1;
    if (r->off < end) {
      for (size_t j = i + 1; j < m->n && m->r[j].off < end; j++)
        if (m->r[j].key == r->key)
          keep = 0;
      if (r->key < 0 || (r->tomb && drop_tombs))
        keep = 0;
    }
    if (keep)
      model_add(&out, r->off, r->key, r->tomb, r->ts);
  }
  return out;
}

/* Read the partition from its log start to its high watermark and
 * compare every record with the model. */
static int quiet; /* check_log says nothing (trying old-or-new) */
#define SAY(...) (quiet ? 0 : fprintf(stderr, __VA_ARGS__))

static int check_log(nd_store *s, const char *t, const model *want) {
  int64_t ls, hw;
  if (nd_offsets(s, t, 0, &ls, &hw)) {
    SAY("offsets: %s\n", nd_errmsg());
    return -1;
  }
  size_t i = 0;
  int64_t off = ls;
  while (off < hw) {
    nd_batches b;
    if (nd_read(s, t, 0, off, 4096, &b)) {
      SAY("read @%" PRId64 ": %s\n", off, nd_errmsg());
      return -1;
    }
    if (b.len == 0) {
      /* Only a hole up to the high watermark: the count below says
       * whether records went missing. */
      nd_free(b.data);
      break;
    }
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    int rc;
    while ((rc = nd_iter_next(&it, &v)) == 1) {
      if (i >= want->n) {
        SAY("extra record at %" PRId64 "\n", v.offset);
        rc = -1;
        break;
      }
      const mrec *r = &want->r[i++];
      char kb[32], vb[64];
      size_t kl = key_text(r->key, kb, sizeof kb);
      size_t vl = value_text(r->off, vb, sizeof vb);
      int key_ok = r->key < 0
                       ? v.key == NULL
                       : v.key && v.key_len == kl && !memcmp(v.key, kb, kl);
      int val_ok =
          r->tomb ? v.value == NULL
                  : v.value && v.value_len == vl && !memcmp(v.value, vb, vl);
      if (v.offset != r->off || v.timestamp != r->ts || !key_ok || !val_ok) {
        SAY("record %zu: got offset %" PRId64 " ts %" PRId64
            ", want offset %" PRId64 " ts %" PRId64 " key %d%s\n",
            i - 1, v.offset, v.timestamp, r->off, r->ts, r->key,
            r->tomb ? " (tombstone)" : "");
        rc = -1;
        break;
      }
    }
    nd_iter_close(&it);
    off = b.next_offset;
    nd_free(b.data);
    if (rc < 0)
      return -1;
  }
  if (i != want->n) {
    SAY("read %zu records, want %zu (next %" PRId64 ")\n", i, want->n,
        i < want->n ? want->r[i].off : -1);
    return -1;
  }
  return 0;
}

static int verify_clean(const char *dir) {
  nd_verify_stats st;
  memset(&st, 0, sizeof st);
  int rc = nd_verify(dir, NULL, &st);
  if (rc)
    fprintf(stderr, "nd_verify: %d %s\n", rc, nd_errmsg());
  return rc;
}

static nd_store *open_store(const char *dir, nd_options *o) {
  nd_options d = {.no_background = 1};
  nd_store *s = NULL;
  if (nd_open(dir, o ? o : &d, &s)) {
    fprintf(stderr, "nd_open: %s\n", nd_errmsg());
    return NULL;
  }
  return s;
}

static void compact_config(nd_topic_config *c) {
  nd_topic_config_init(c);
  CHECK_OK(nd_topic_config_set(c, "cleanup.policy", "compact"));
  c->segment_bytes = 1024; /* a segment per dozen records */
  c->index_interval_bytes = 128;
  c->fsync = ND_FSYNC_NEVER;
  c->timestamp_before_max_ms = INT64_MAX;
  c->timestamp_after_max_ms = INT64_MAX;
  c->delete_retention_ms = 1000;
  c->retention_ms = -1; /* roll() runs maintenance far in the future */
}

/* Start a new active segment now: every record so far becomes cleanable.
 * Returns its base (the high watermark). */
static int64_t roll(nd_store *s, const char *t) {
  nd_topic_info ti;
  int64_t ls, hw;
  if (nd_topic_describe(s, t, &ti))
    return -1;
  nd_topic_config c = ti.config;
  int64_t keep = c.segment_ms;
  c.segment_ms = 1;
  int rc = nd_topic_set_config(s, t, &c);
  if (!rc)
    rc = nd_maintain(s, T0 * 2);
  c.segment_ms = keep;
  if (!rc)
    rc = nd_topic_set_config(s, t, &c);
  if (!rc)
    rc = nd_offsets(s, t, 0, &ls, &hw);
  if (rc) {
    fprintf(stderr, "roll: %s\n", nd_errmsg());
    return -1;
  }
  return hw;
}

/* The end of a test: close the store (then nd_verify its directory, if
 * verify), free the model, remove the directory. */
static inline void finish(nd_store *s, char *dir, model *m, int verify) {
  CHECK(nd_close(s) == 0);
  if (verify)
    CHECK(verify_clean(dir) == 0);
  free(m->r);
  tmpdir_remove(dir);
}

#endif
