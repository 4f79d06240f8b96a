/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cleaner.c — log compaction (nd_clean): what survives a cleaning,
 * compared record by record with a model kept here (the last record of
 * each key below the active segment, every record in it), read back
 * through nd_read and nd_iter, before and after a reopen, with nd_verify
 * finding nothing wrong.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bytes.h"
#include "nodata.h"
#include "nodata_codecs.h"
#include "nodata_testing.h"
#include "test.h"

#include "cleaner_model.h"

/* ---- tests ------------------------------------------------------------- */

static void test_latest_per_key(void) {
  char *dir = tmpdir_make("clean-basic");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 300, 20, T0));
  int64_t end = roll(s, "t");
  /* Some superseding records stay in the active segment. */
  CHECK_OK(append_keys(s, "t", &m, 10, 20, T0 + 1000));
  nd_partition_info before;
  CHECK_OK(nd_partition_describe(s, "t", 0, &before));

  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned);
  CHECK_EQ_I64(st.passes, 1);
  CHECK_EQ_I64(st.records_in, 300);
  CHECK_EQ_I64(st.records_kept, 20);
  CHECK_EQ_I64(st.keys, 20);
  CHECK_EQ_I64(st.first_dirty_before, 0);
  CHECK_EQ_I64(st.first_dirty_after, end);
  CHECK(st.bytes_out < st.bytes_in);
  model want = model_clean(&m, end, 0);
  CHECK_EQ_I64((int64_t)want.n, 30);
  CHECK_OK(check_log(s, "t", &want));
  nd_partition_info after;
  CHECK_OK(nd_partition_describe(s, "t", 0, &after));
  CHECK_EQ_I64(after.high_watermark, before.high_watermark);
  CHECK_EQ_I64(after.log_start_offset, 0);

  nd_clean_status cs;
  CHECK_OK(nd_clean_describe(s, "t", 0, &cs));
  CHECK(cs.compacted);
  CHECK_EQ_I64(cs.first_dirty_offset, end);
  CHECK_EQ_I64(cs.dirty_bytes, 0);
  CHECK_EQ_I64(cs.last_clean_ms, T0 + 10000);
  CHECK_EQ_I64(cs.last.records_kept, 20);

  /* Nothing dirty: nothing to do, the log unchanged. */
  CHECK_OK(nd_clean(s, "t", 0, T0 + 20000, 0, &st));
  CHECK(!st.cleaned);
  CHECK_OK(check_log(s, "t", &want));

  /* The same after a clean reopen, and after an unclean one (the
   * recovery scan reads the holey segments). */
  CHECK_OK(nd_close(s));
  s = open_store(dir, NULL);
  CHECK(s != NULL);
  CHECK_OK(check_log(s, "t", &want));
  CHECK_OK(nd_clean_describe(s, "t", 0, &cs));
  CHECK_EQ_I64(cs.first_dirty_offset, end); /* the checkpoint file */
  CHECK_OK(nd_close(s));
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/clean-shutdown", dir);
  remove(marker);
  snprintf(marker, sizeof marker, "rm -f %s/topics/*/0/recovery-point", dir);
  CHECK(system(marker) == 0);
  s = open_store(dir, NULL);
  CHECK(s != NULL);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  finish(s, dir, &m, 1);
}

static void test_not_compacted(void) {
  char *dir = tmpdir_make("clean-delete");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  c.cleanup_policy = ND_CLEANUP_DELETE;
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 100, 5, T0));
  roll(s, "t");
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st));
  CHECK(!st.cleaned);
  CHECK_OK(check_log(s, "t", &m));
  CHECK_RC(nd_clean(s, "nope", 0, 0, 0, &st), ND_ENOTOPIC);
  CHECK_RC(nd_clean(s, "t", 3, 0, 0, &st), ND_ENOPARTITION);
  finish(s, dir, &m, 0);
}

/* Tombstones stay at the first cleaning, and go at a cleaning after
 * delete.retention.ms has passed since. */
static void test_tombstones(void) {
  char *dir = tmpdir_make("clean-tomb");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 60, 6, T0));
  int keys[3] = {1, 3, 5}, tombs[3] = {1, 1, 1};
  CHECK_OK(append_batch(s, "t", &m, keys, tombs, 3, T0 + 100));
  int64_t end = roll(s, "t");
  nd_clean_stats st;
  int64_t now = T0 + 10000;
  CHECK_OK(nd_clean(s, "t", 0, now, 0, &st));
  CHECK(st.cleaned);
  CHECK_EQ_I64(st.tombstones_removed, 0);
  model want = model_clean(&m, end, 0);
  CHECK_EQ_I64((int64_t)want.n, 6);
  CHECK_OK(check_log(s, "t", &want));
  /* Before the horizon (delete.retention.ms = 1000 after that cleaning):
   * a forced cleaning keeps them. */
  CHECK_OK(nd_clean(s, "t", 0, now + 999, ND_CLEAN_FORCE, &st));
  CHECK_EQ_I64(st.tombstones_removed, 0);
  CHECK_OK(check_log(s, "t", &want));
  /* After it they go, though nothing is dirty: the horizon makes the
   * partition due. */
  CHECK_OK(nd_clean(s, "t", 0, now + 1000, 0, &st));
  CHECK(st.cleaned);
  CHECK_EQ_I64(st.tombstones_removed, 3);
  free(want.r);
  want = model_clean(&m, end, 1);
  CHECK_EQ_I64((int64_t)want.n, 3);
  CHECK_OK(check_log(s, "t", &want));
  /* The tombstones' batch was the log's last: it stays as an empty
   * header, so a consumer before the end still gets a batch that takes
   * it to the high watermark instead of fetching nothing forever. */
  nd_batches b;
  CHECK_OK(nd_read(s, "t", 0, end - 1, 1 << 20, &b));
  CHECK(b.len > 0);
  CHECK_EQ_I64(b.next_offset, end);
  nd_free(b.data);
  free(want.r);
  finish(s, dir, &m, 1);
}

/* min.cleanable.dirty.ratio: a little new data is not worth a cleaning,
 * unless forced. */
static void test_dirty_ratio(void) {
  char *dir = tmpdir_make("clean-ratio");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  c.min_cleanable_dirty_ratio = 0.5;
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  /* Distinct keys: cleaning keeps nearly everything, so the clean part
   * stays large. */
  CHECK_OK(append_keys(s, "t", &m, 200, 200, T0));
  roll(s, "t");
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned); /* all dirty: ratio 1 */
  CHECK_OK(append_keys(s, "t", &m, 30, 10, T0 + 500));
  int64_t end = roll(s, "t");
  nd_clean_status cs;
  CHECK_OK(nd_clean_describe(s, "t", 0, &cs));
  CHECK(cs.dirty_bytes > 0);
  CHECK(cs.dirty_ratio > 0 && cs.dirty_ratio < 0.5);
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(!st.cleaned);
  CHECK_OK(check_log(s, "t", &m)); /* unchanged */
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st));
  CHECK(st.cleaned);
  model want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  finish(s, dir, &m, 0);
}

/* A dedupe buffer far smaller than the keys: several passes, the same
 * result. */
static void test_small_map(void) {
  char *dir = tmpdir_make("clean-passes");
  nd_options o = {.no_background = 1, .cleaner_dedupe_buffer_bytes = 24 * 32};
  nd_store *s = open_store(dir, &o);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 400, 100, T0));
  int64_t end = roll(s, "t");
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned);
  CHECK(st.passes > 3);
  CHECK_EQ_I64(st.first_dirty_after, end);
  model want = model_clean(&m, end, 0);
  CHECK_EQ_I64((int64_t)want.n, 100);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  finish(s, dir, &m, 1);
}

/* min.compaction.lag.ms keeps young segments out; max.compaction.lag.ms
 * makes old dirty data due below the ratio, and rolls the active
 * segment. */
static void test_lags(void) {
  char *dir = tmpdir_make("clean-lag");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  c.min_compaction_lag_ms = 5000;
  c.min_cleanable_dirty_ratio = 0.99;
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 100, 10, T0));
  int64_t end = roll(s, "t");
  nd_clean_stats st;
  /* Record i has timestamp T0 + i. At T0 + 5000 every segment holds a
   * record younger than 5 s: nothing is cleanable. */
  CHECK_OK(nd_clean(s, "t", 0, T0 + 5000, ND_CLEAN_FORCE, &st));
  CHECK(!st.cleaned);
  CHECK_OK(check_log(s, "t", &m));
  /* At T0 + 5040 the segments up to the first holding a record above
   * T0 + 40 are: cleaned up to there, and not beyond. */
  CHECK_OK(nd_clean(s, "t", 0, T0 + 5040, ND_CLEAN_FORCE, &st));
  CHECK(st.cleaned);
  CHECK(st.first_dirty_after > 0 && st.first_dirty_after <= 41);
  model want = model_clean(&m, st.first_dirty_after, 0);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  CHECK_OK(nd_clean(s, "t", 0, T0 + 5099 + 100, ND_CLEAN_FORCE, &st));
  CHECK(st.cleaned);
  want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);

  /* A little dirty data: below the ratio, not due... */
  CHECK_OK(append_keys(s, "t", &m, 12, 10, T0 + 200));
  end = roll(s, "t");
  c.min_compaction_lag_ms = 0;
  c.max_compaction_lag_ms = 60000;
  CHECK_OK(nd_topic_set_config(s, "t", &c));
  CHECK_OK(nd_clean(s, "t", 0, T0 + 200 + 60000, 0, &st));
  CHECK(!st.cleaned);
  /* ...until its first record (T0 + 200) is older than
   * max.compaction.lag.ms, as Kafka judges it: the newer ones (up to
   * T0 + 211) need not be. */
  CHECK_OK(nd_clean(s, "t", 0, T0 + 200 + 60001, 0, &st));
  CHECK(st.cleaned);
  want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));

  /* max.compaction.lag.ms rolls the active segment as segment.ms does. */
  int k = 3;
  CHECK_OK(append_batch(s, "t", &m, &k, NULL, 1, T0 + 500));
  nd_partition_info a, b;
  CHECK_OK(nd_partition_describe(s, "t", 0, &a));
  /* roll() made the active segment at T0 * 2 (its clock). */
  CHECK_OK(nd_maintain(s, T0 * 2 + 59999));
  CHECK_OK(nd_partition_describe(s, "t", 0, &b));
  CHECK_EQ_I64(b.segment_count, a.segment_count);
  CHECK_OK(nd_maintain(s, T0 * 2 + 60000));
  CHECK_OK(nd_partition_describe(s, "t", 0, &b));
  CHECK_EQ_I64(b.segment_count, a.segment_count + 1);
  /* Compact-only: no retention, though retention.ms has long passed. */
  c.retention_ms = 1;
  CHECK_OK(nd_topic_set_config(s, "t", &c));
  CHECK_OK(nd_maintain(s, T0 * 2));
  CHECK_OK(nd_partition_describe(s, "t", 0, &a));
  CHECK_EQ_I64(a.log_start_offset, 0);
  CHECK_EQ_I64(a.segment_count, b.segment_count);
  free(want.r);
  finish(s, dir, &m, 0);
}

/* The active segment is never cleaned, however superseded. */
static void test_active_never(void) {
  char *dir = tmpdir_make("clean-active");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  c.segment_bytes = 1 << 20;
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 100, 2, T0));
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 100000, ND_CLEAN_FORCE, &st));
  CHECK(!st.cleaned);
  CHECK_OK(check_log(s, "t", &m));
  finish(s, dir, &m, 0);
}

/* Cleaned segments are small: the next cleaning groups them. */
static void test_grouping(void) {
  char *dir = tmpdir_make("clean-group");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 200, 4, T0));
  roll(s, "t");
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned);
  CHECK_EQ_I64(st.segments_out, st.segments_in); /* each was full */
  CHECK_OK(append_keys(s, "t", &m, 20, 4, T0 + 300));
  int64_t end = roll(s, "t");
  nd_partition_info a, b;
  CHECK_OK(nd_partition_describe(s, "t", 0, &a));
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, ND_CLEAN_FORCE, &st));
  CHECK(st.cleaned);
  CHECK(st.segments_out < st.segments_in);
  CHECK_OK(nd_partition_describe(s, "t", 0, &b));
  CHECK_EQ_I64(b.segment_count,
               a.segment_count - st.segments_in + st.segments_out);
  model want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));
  CHECK_OK(nd_close(s));
  s = open_store(dir, NULL);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  finish(s, dir, &m, 1);
}

/* One record from producer pid at sequence seq, key `key`. */
static int append_idem(nd_store *s, model *m, int64_t pid, int32_t seq, int key,
                       int64_t ts, nd_append_info *ai) {
  char kb[32], vb[64];
  int64_t ls, hw;
  if (nd_offsets(s, "t", 0, &ls, &hw))
    return -1;
  size_t kl = key_text(key, kb, sizeof kb);
  size_t vl = value_text(hw, vb, sizeof vb);
  nd_record r = {kb, kl, vb, vl, NULL, 0, ts};
  void *b;
  size_t len;
  if (nd_batch_encode(&r, 1, 0, 0, 0, &b, &len))
    return -1;
  uint8_t *p = b;
  put_be64(p + 43, (uint64_t)pid);
  put_be16(p + 51, 0);
  put_be32(p + 53, (uint32_t)seq);
  nd_batch_set_crc(b, len);
  int rc = nd_append_batch(s, "t", 0, b, len, 0, ai);
  nd_free(b);
  if (!rc && m)
    model_add(m, ai->base_offset, key, 0, ts);
  return rc;
}

/* An idempotent producer whose records were all superseded keeps its
 * last batch (empty) through cleaning and restarts: its next sequence
 * is accepted, a retry of its last one is still a duplicate. */
static void test_producer_state(void) {
  char *dir = tmpdir_make("clean-idem");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  nd_append_info ai;
  for (int i = 0; i < 30; i++)
    CHECK_OK(append_idem(s, &m, 7, i, 1, T0 + i, &ai));
  int64_t last7 = ai.base_offset;
  /* A plain producer supersedes key 1. */
  CHECK_OK(append_keys(s, "t", &m, 40, 2, T0 + 100));
  int64_t end = roll(s, "t");
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned);
  model want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));
  /* The empty batch is there, at producer 7's last offset. */
  nd_batches b;
  CHECK_OK(nd_read(s, "t", 0, last7, 1, &b));
  nd_batch_info bi;
  CHECK_OK(nd_batch_check(b.data, b.len, 1, &bi));
  CHECK_EQ_I64(bi.base_offset, last7);
  CHECK_EQ_I64(bi.record_count, 0);
  CHECK_EQ_I64(bi.producer_id, 7);
  CHECK_EQ_I64(bi.base_sequence, 29);
  nd_free(b.data);
  for (int round = 0; round < 3; round++) {
    /* A retry of the last batch: a duplicate, nothing stored. */
    CHECK_RC(append_idem(s, NULL, 7, 29 + round, 1, T0 + 200, &ai), ND_EDUPSEQ);
    /* The next sequence: accepted. */
    CHECK_OK(append_idem(s, &m, 7, 30 + round, 1, T0 + 200, &ai));
    CHECK_RC(append_idem(s, NULL, 7, 40, 1, T0 + 200, &ai), ND_ESEQUENCE);
    /* Round 1 reopens cleanly, round 2 after a crash (no clean-shutdown
     * marker, no recovery point). */
    CHECK_OK(nd_close(s));
    if (round == 1) {
      char cmd[4200];
      snprintf(cmd, sizeof cmd,
               "rm -f %s/clean-shutdown %s/topics/*/0/recovery-point", dir,
               dir);
      CHECK(system(cmd) == 0);
    }
    s = open_store(dir, NULL);
    CHECK(s != NULL);
  }
  free(want.r);
  want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  finish(s, dir, &m, 1);
}

/* Compressed batches are cleaned through the codec hooks and written
 * back with their own codec; without hooks they are kept whole. */
static void test_compressed(void) {
  int codecs[] = {ND_CODEC_GZIP, ND_CODEC_SNAPPY, ND_CODEC_LZ4, ND_CODEC_ZSTD};
  for (int with_hooks = 1; with_hooks >= 0; with_hooks--) {
    char *dir = tmpdir_make("clean-codec");
    /* Appending needs the decompressor (a compacted topic checks keys);
     * the cleaning without hooks runs in a store reopened without them. */
    nd_options o = {.no_background = 1,
                    .decompress = nd_codecs_decompress,
                    .recompress = nd_codecs_recompress_batch};
    nd_store *s = open_store(dir, &o);
    nd_topic_config c;
    compact_config(&c);
    c.segment_bytes = 4096;
    CHECK_OK(nd_topic_create(s, "t", 1, &c));
    model m = {0};
    for (int i = 0; i < 40; i++) {
      nd_record r[8];
      char kb[8][32], vb[8][64];
      int64_t ls, hw;
      CHECK_OK(nd_offsets(s, "t", 0, &ls, &hw));
      for (int j = 0; j < 8; j++) {
        int key = (i * 8 + j) % 12;
        size_t kl = key_text(key, kb[j], sizeof kb[j]);
        size_t vl = value_text(hw + j, vb[j], sizeof vb[j]);
        /* Every 5th batch ends with a tombstone. */
        int tomb = j == 7 && i % 5 == 0;
        r[j] = (nd_record){kb[j], kl, tomb ? NULL : vb[j], vl,
                           NULL,  0,  T0 + i * 8 + j};
        model_add(&m, hw + j, key, tomb, T0 + i * 8 + j);
      }
      void *raw, *z;
      size_t rlen, zlen;
      CHECK_OK(nd_batch_encode(r, 8, 0, 0, 0, &raw, &rlen));
      CHECK_OK(nd_codecs_compress_batch(raw, rlen, codecs[i % 4], &z, &zlen));
      nd_free(raw);
      CHECK_OK(nd_append_batch(s, "t", 0, z, zlen, 0, NULL));
      free(z);
    }
    int64_t end = roll(s, "t");
    if (!with_hooks) {
      CHECK_OK(nd_close(s));
      nd_options bare = {.no_background = 1};
      s = open_store(dir, &bare);
    }
    nd_clean_stats st;
    CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
    CHECK(st.cleaned);
    model want = with_hooks ? model_clean(&m, end, 0) : m;
    /* Read back through a decompressing iterator. */
    int64_t off = 0, ls, hw;
    size_t i = 0;
    CHECK_OK(nd_offsets(s, "t", 0, &ls, &hw));
    int codec_seen[5] = {0};
    while (off < hw) {
      nd_batches b;
      CHECK_OK(nd_read(s, "t", 0, off, 1 << 20, &b));
      if (!b.len) {
        nd_free(b.data);
        break;
      }
      /* Each batch keeps a codec: its own. */
      size_t pos = 0;
      while (pos < b.len) {
        nd_batch_info bi;
        CHECK_OK(nd_batch_check(b.data + pos, b.len - pos, 1, &bi));
        codec_seen[bi.attributes & 7]++;
        /* Batch i was written at offset 8 i with codecs[i % 4]. */
        CHECK_EQ_I64(bi.attributes & 7, codecs[(bi.base_offset / 8) % 4]);
        pos += (size_t)bi.size;
      }
      nd_iter it;
      nd_record_view v;
      nd_iter_init(&it, b.data, b.len, off, nd_codecs_decompress);
      while (nd_iter_next(&it, &v) == 1) {
        CHECK(i < want.n);
        if (i >= want.n)
          break;
        CHECK_EQ_I64(v.offset, want.r[i].off);
        CHECK_EQ_I64(v.timestamp, want.r[i].ts);
        CHECK_EQ_I64(v.value == NULL, want.r[i].tomb);
        i++;
      }
      nd_iter_close(&it);
      off = b.next_offset;
      nd_free(b.data);
    }
    CHECK_EQ_I64((int64_t)i, (int64_t)want.n);
    CHECK_EQ_I64(codec_seen[0], 0);
    if (with_hooks) {
      CHECK(st.records_kept < st.records_in);
      CHECK(st.bytes_out < st.bytes_in);
    } else {
      CHECK_EQ_I64(st.records_kept, st.records_in);
    }
    CHECK_OK(nd_close(s));
    free(m.r);
    if (with_hooks)
      free(want.r);
    tmpdir_remove(dir);
  }
}

/* A reader's view into an old segment stays valid through the swap, and
 * the reader finds the survivors in the new segments. */
static void test_reader_during_swap(void) {
  char *dir = tmpdir_make("clean-reader");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 200, 10, T0));
  int64_t end = roll(s, "t");
  nd_reader *r;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &r));
  nd_record_view v;
  CHECK_EQ_I64(nd_reader_next(r, &v), 1);
  CHECK_EQ_I64(v.offset, 0);
  char want0[64];
  size_t n0 = value_text(0, want0, sizeof want0);
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned);
  /* Record 0 is gone from the log, but the view still reads it. */
  CHECK_EQ_I64((int64_t)v.value_len, (int64_t)n0);
  CHECK_MEM(v.value, want0, n0);
  /* Each survivor reads through the same reader at its offset (walking
   * through holes with nd_reader_next is the readers' own test,
   * test_holes). */
  model want = model_clean(&m, end, 0);
  for (size_t i = 0; i < want.n; i++) {
    char vb[64];
    size_t vl = value_text(want.r[i].off, vb, sizeof vb);
    CHECK_OK(nd_reader_get(r, want.r[i].off, &v));
    CHECK_EQ_I64(v.offset, want.r[i].off);
    CHECK(v.value_len == vl && !memcmp(v.value, vb, vl));
  }
  nd_reader_close(r);
  free(want.r);
  finish(s, dir, &m, 0);
}

/* nd_clean on its own thread against DeleteRecords and retention on
 * others (run under TSan by `make test-tsan`): no segment is freed under
 * the cleaner, and the log reads whole after. */
typedef struct race {
  nd_store *s;
  _Atomic int stop;
  int errors;
} race;

static void *race_cleaner(void *arg) {
  race *r = arg;
  int64_t now = T0 + 10000;
  while (!atomic_load(&r->stop)) {
    nd_clean_stats st;
    if (nd_clean(r->s, "t", 0, now++, ND_CLEAN_FORCE, &st)) {
      fprintf(stderr, "nd_clean: %s\n", nd_errmsg());
      r->errors++;
    }
  }
  return NULL;
}

static void test_race_delete(void) {
  char *dir = tmpdir_make("clean-race");
  nd_store *s = open_store(dir, NULL);
  nd_topic_config c;
  compact_config(&c);
  c.cleanup_policy = ND_CLEANUP_COMPACT | ND_CLEANUP_DELETE;
  c.retention_bytes = 1 << 20;
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 400, 50, T0));
  race r = {s, 0, 0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, race_cleaner, &r) == 0);
  int64_t del = 0;
  for (int i = 0; i < 60; i++) {
    CHECK_OK(append_keys(s, "t", &m, 5, 50, T0 + 1000 + i * 5));
    if (i % 10 == 9)
      roll(s, "t");
    if (i % 3 == 0) {
      del += 7;
      CHECK_OK(nd_delete_records(s, "t", 0, del, NULL));
    }
    if (i == 40) {
      /* Retention by size, too. */
      c.retention_bytes = 2000;
      CHECK_OK(nd_topic_set_config(s, "t", &c));
    }
    CHECK_OK(nd_maintain(s, T0 * 2));
  }
  atomic_store(&r.stop, 1);
  pthread_join(th, NULL);
  CHECK_EQ_I64(r.errors, 0);
  /* Every record left reads with its own value, in increasing offsets. */
  int64_t ls, hw, off, last = -1;
  CHECK_OK(nd_offsets(s, "t", 0, &ls, &hw));
  off = ls;
  while (off < hw) {
    nd_batches b;
    CHECK_OK(nd_read(s, "t", 0, off, 1 << 16, &b));
    if (!b.len) {
      nd_free(b.data);
      break;
    }
    nd_iter it;
    nd_record_view v;
    nd_iter_init(&it, b.data, b.len, off, NULL);
    while (nd_iter_next(&it, &v) == 1) {
      char vb[64];
      size_t vl = value_text(v.offset, vb, sizeof vb);
      CHECK(v.offset > last && v.offset >= ls);
      CHECK(v.value_len == vl && !memcmp(v.value, vb, vl));
      last = v.offset;
    }
    nd_iter_close(&it);
    off = b.next_offset;
    nd_free(b.data);
  }
  finish(s, dir, &m, 1);
}

/* The store's cleaner thread cleans a dirty partition on its own and
 * says so through on_log. */
typedef struct log_seen {
  pthread_mutex_t lock;
  int cleaned_lines;
} log_seen;

static void on_log(void *ctx, int level, const char *msg) {
  log_seen *ls = ctx;
  if (level == ND_LOG_INFO && strstr(msg, "cleaner: cleaned t-0:") &&
      strstr(msg, "records") && strstr(msg, "MB/s")) {
    pthread_mutex_lock(&ls->lock);
    ls->cleaned_lines++;
    pthread_mutex_unlock(&ls->lock);
  }
}

static void test_thread(void) {
  char *dir = tmpdir_make("clean-thread");
  log_seen seen = {PTHREAD_MUTEX_INITIALIZER, 0};
  nd_options o = {
      .cleaner_backoff_ms = 20, .on_log = on_log, .on_log_ctx = &seen};
  nd_store *s = open_store(dir, &o);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 200, 10, T0));
  int64_t end = roll(s, "t");
  nd_clean_status cs;
  /* No time limit here (a loaded machine): ctest's timeout bounds it. */
  /* The thread may clean while the appends roll segments; it gets to
   * everything below the active segment in the end. */
  for (;;) {
    CHECK_OK(nd_clean_describe(s, "t", 0, &cs));
    if (cs.first_dirty_offset == end || nd_test_current_failed)
      break;
    usleep(10000);
  }
  CHECK(cs.last_clean_ms > 0);
  CHECK_EQ_I64(cs.dirty_bytes, 0);
  pthread_mutex_lock(&seen.lock);
  CHECK(seen.cleaned_lines >= 1);
  pthread_mutex_unlock(&seen.lock);
  model want = model_clean(&m, end, 0);
  CHECK_OK(check_log(s, "t", &want));
  free(want.r);
  finish(s, dir, &m, 0);
}

/* cleaner_io_max_bytes_per_second: a cleaning takes at least as long as
 * its bytes take at that rate (a lower bound: never flaky when slow). */
static void test_io_throttle(void) {
  char *dir = tmpdir_make("clean-io");
  nd_options o = {.no_background = 1,
                  .cleaner_io_max_bytes_per_second = 100 * 1000};
  nd_store *s = open_store(dir, &o);
  nd_topic_config c;
  compact_config(&c);
  CHECK_OK(nd_topic_create(s, "t", 1, &c));
  model m = {0};
  CHECK_OK(append_keys(s, "t", &m, 200, 10, T0));
  roll(s, "t");
  nd_clean_stats st;
  CHECK_OK(nd_clean(s, "t", 0, T0 + 10000, 0, &st));
  CHECK(st.cleaned);
  /* Read twice (map, rewrite), written once: at least in + out. */
  int64_t bytes = st.bytes_in + st.bytes_out;
  CHECK(bytes > 20000);
  CHECK(st.duration_us >= bytes * 1000000 / o.cleaner_io_max_bytes_per_second);
  finish(s, dir, &m, 0);
}

int main(void) {
  RUN(test_latest_per_key);
  RUN(test_not_compacted);
  RUN(test_tombstones);
  RUN(test_dirty_ratio);
  RUN(test_small_map);
  RUN(test_lags);
  RUN(test_active_never);
  RUN(test_grouping);
  RUN(test_producer_state);
  RUN(test_compressed);
  RUN(test_reader_during_swap);
  RUN(test_race_delete);
  RUN(test_thread);
  RUN(test_io_throttle);
  TEST_MAIN_END();
}
