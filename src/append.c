/* SPDX-License-Identifier: Apache-2.0 */
/*
 * append.c — the append path's public entry points: nd_append (records
 * encoded here), nd_append_batch (client batches validated as Kafka's
 * LogValidator does) and nd_sync_partition, with the broker-side
 * recompression of compression.type. Entered through store.h's helpers,
 * as every public entry point is.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "error.h"
#include "store.h"
#include "txn_coord.h"

/* ---- append ------------------------------------------------------------- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

typedef struct scratch {
  uint8_t *buf;
  size_t cap;
} scratch;

static void scratch_free(void *p) {
  scratch *sc = p;
  free(sc->buf);
  free(sc);
}

static void scratch_key_init(void) {
  pthread_key_create(&scratch_key, scratch_free);
}

/* A per-thread encode buffer, so appends neither allocate per call nor
 * encode under the partition's lock. */
static scratch *thread_scratch(void) {
  pthread_once(&scratch_once, scratch_key_init);
  scratch *sc = pthread_getspecific(scratch_key);
  if (!sc) {
    sc = calloc(1, sizeof *sc);
    if (sc && pthread_setspecific(scratch_key, sc) != 0) {
      free(sc);
      sc = NULL;
    }
  }
  return sc;
}

static int32_t choose_partition(topic *t, const void *key, size_t key_len) {
  int32_t n;
  pthread_rwlock_rdlock(&t->lock);
  n = t->nparts;
  pthread_rwlock_unlock(&t->lock);
  if (key)
    return nd_partition_for_key(key, key_len, n);
  return (int32_t)(atomic_fetch_add(&t->round_robin, 1) % (uint32_t)n);
}

/* ---- recompression ------------------------------------------------------ */

/* The level a topic asks for when its batches are re-encoded with codec. */
static int codec_level(const nd_topic_config *cfg, int codec) {
  switch (codec) {
  case ND_CODEC_GZIP:
    return cfg->gzip_level;
  case ND_CODEC_LZ4:
    return cfg->lz4_level;
  case ND_CODEC_ZSTD:
    return cfg->zstd_level;
  default:
    return 0; /* snappy and uncompressed have no level */
  }
}

/* Kafka's broker-side recompression (LogValidator): a topic whose
 * compression.type names a codec stores every batch with that codec,
 * re-encoding those that arrive with another one ("uncompressed" decodes
 * them). Same-codec batches stay as sent, whatever their level, as in
 * Kafka. Offsets, timestamps and producer fields are not touched: only the
 * record area, attributes, batchLength and CRC change. Control batches
 * are left alone (Kafka never compresses them).
 * b[0..len) has been validated batch by batch. On success *out is NULL
 * when nothing needs re-encoding, else a malloc'ed buffer of *out_len
 * bytes holding every batch in order. Each new batch is checked against
 * max.message.bytes again, since re-encoding may grow it (Kafka checks
 * after recompression too). */
static int recompress_batches(nd_store *s, const nd_topic_config *cfg,
                              const char *name, const uint8_t *b, size_t len,
                              uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  int want = cfg->compression;
  if (want == ND_COMPRESSION_PRODUCER)
    return 0;
  int needed = 0;
  batch_cursor c;
  for (batch_cursor_mem(&c, b, len, BATCH_LEVEL_HEADER);
       batch_cursor_next(&c) == 1;)
    if (batch_codec(c.batch) != want && !batch_is_control(c.batch))
      needed = 1;
  if (!needed)
    return 0;
  if (!s->opts.recompress) {
    char what[32];
    if (nd_topic_config_get(cfg, "compression.type", what, sizeof what) != 0)
      what[0] = 0;
    return nd_fail(ND_ECODEC,
                   "topic '%s' has compression.type=%s and this store was "
                   "opened without a recompressor (nd_options.recompress)",
                   name, what);
  }
  uint8_t *acc = NULL;
  size_t used = 0, cap = 0;
  int rc = 0;
  for (batch_cursor_mem(&c, b, len, BATCH_LEVEL_HEADER);
       !rc && batch_cursor_next(&c) == 1;) {
    size_t q = (size_t)c.pos, total = (size_t)c.size;
    void *nb = NULL;
    size_t nlen = total;
    const uint8_t *src = c.batch;
    if (batch_codec(src) != want && !batch_is_control(src)) {
      rc = s->opts.recompress(src, total, want, codec_level(cfg, want), &nb,
                              &nlen);
      if (rc) {
        free(nb);
        char why[256]; /* nd_fail rewrites the buffer nd_errmsg() points at */
        snprintf(why, sizeof why, "%s", nd_errmsg());
        rc = nd_fail(rc,
                     "batch at byte %zu: re-encoding it for topic '%s' "
                     "failed: %s",
                     q, name, why);
        break;
      }
      src = nb;
      if (nlen > (size_t)cfg->max_message_bytes)
        rc = nd_fail(ND_ETOOLARGE,
                     "batch at byte %zu is %zu bytes once re-encoded for "
                     "compression.type; topic '%s' allows "
                     "max.message.bytes=%d",
                     q, nlen, name, (int)cfg->max_message_bytes);
    }
    if (!rc && used + nlen > cap) {
      size_t ncap = cap ? cap : len + 64;
      while (ncap < used + nlen)
        ncap *= 2;
      uint8_t *na = realloc(acc, ncap);
      if (!na)
        rc = nd_fail(ND_ENOMEM, "out of memory re-encoding a batch");
      else {
        acc = na;
        cap = ncap;
      }
    }
    if (!rc) {
      memcpy(acc + used, src, nlen);
      used += nlen;
    }
    free(nb);
  }
  if (rc) {
    free(acc);
    return rc;
  }
  *out = acc;
  *out_len = used;
  return 0;
}

/* The topic's checks of each record as of now, or NULL when none applies:
 * its bounds on record timestamps (not under LogAppendTime: the store
 * stamps its own time) and, on a compacted topic, that every record has a
 * key. Starts the thread's nd_record_errors() list. */
static ts_check *ts_check_start(ts_check *tc, const nd_topic_config *cfg,
                                int64_t now) {
  tc->now = now;
  tc->before_max = cfg->timestamp_before_max_ms;
  tc->after_max = cfg->timestamp_after_max_ms;
  tc->bad = tc->keyless = 0;
  tc->check_ts = cfg->timestamp_type != ND_TS_LOG_APPEND_TIME;
  tc->need_key = (cfg->cleanup_policy & ND_CLEANUP_COMPACT) != 0;
  record_errors_reset(sub_wrap(now, tc->before_max),
                      add_wrap(now, tc->after_max));
  return tc->check_ts || tc->need_key ? tc : NULL;
}

/* The first refused record of either kind, for the messages below. */
static const nd_record_error *first_refused(int error) {
  const nd_record_error *e;
  size_t n = nd_record_errors(&e, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    if (e[i].error == error)
      return &e[i];
  return NULL;
}

/* ND_ENOKEY in Kafka's words (LogValidator.validateKey), with where. */
static int keyless_fail(const ts_check *tc, const char *name, int32_t p) {
  const nd_record_error *e = first_refused(ND_ENOKEY);
  if (!e) /* out of memory listing them */
    return nd_fail(ND_ENOKEY,
                   "Compacted topic cannot accept message without key in "
                   "topic partition %s-%d (%zu records refused)",
                   name, (int)p, tc->keyless);
  return nd_fail(ND_ENOKEY,
                 "Compacted topic cannot accept message without key in "
                 "topic partition %s-%d: the record at index %d of its batch "
                 "has none (%zu record%s refused)",
                 name, (int)p, (int)e->batch_index, tc->keyless,
                 tc->keyless == 1 ? "" : "s");
}

/* ND_ETIMESTAMP in Kafka's words for the first refused record. */
static int ts_check_fail(const ts_check *tc) {
  const nd_record_error *e = first_refused(ND_ETIMESTAMP);
  int64_t lo, hi;
  nd_record_errors(NULL, &lo, &hi);
  if (!e) /* out of memory listing them */
    return nd_fail(ND_ETIMESTAMP,
                   "%zu record timestamps are out of range. The timestamp "
                   "should be within [%" PRId64 ", %" PRId64 "]",
                   tc->bad, lo, hi);
  return nd_fail(ND_ETIMESTAMP,
                 "Timestamp %" PRId64 " of message with offset %" PRId64
                 " is out of range. The timestamp should be within [%" PRId64
                 ", %" PRId64 "] (%zu record%s refused)",
                 e->timestamp, e->offset, lo, hi, tc->bad,
                 tc->bad == 1 ? "" : "s");
}

/* Encode records into this thread's buffer and append them to partition
 * p; *sync_to as partition_append. */
static int append_records(nd_store *s, partition *part, int32_t p,
                          const nd_topic_config *cfg, const char *name,
                          const nd_record *records, size_t n, unsigned flags,
                          nd_append_info *info, int64_t *sync_to) {
  scratch *sc = thread_scratch();
  if (!sc)
    return nd_fail(ND_ENOMEM, "out of memory");
  int64_t now = store_now_ms();
  int64_t size = batch_encode(records, n, now,
                              cfg->timestamp_type == ND_TS_LOG_APPEND_TIME,
                              &sc->buf, &sc->cap);
  if (size < 0)
    return (int)size;
  if (size > cfg->max_message_bytes)
    return nd_fail(ND_ETOOLARGE,
                   "batch of %zu records is %" PRId64
                   " bytes; topic '%s' allows max.message.bytes=%d",
                   n, size, name, (int)cfg->max_message_bytes);
  /* The records' own keys and timestamps, without walking the encoded
   * batch; the clock's (ND_TIMESTAMP_NOW) are within any bounds. A record
   * without a key is refused for that alone, as Kafka checks the key
   * first. */
  ts_check tcs, *tc = ts_check_start(&tcs, cfg, now);
  for (size_t i = 0; tc && i < n; i++) {
    int64_t ts = records[i].timestamp;
    if (tc->need_key && !records[i].key) {
      tc->keyless++;
      (void)record_errors_add(ND_ENOKEY, (int32_t)i, (int64_t)i, ts);
    } else if (tc->check_ts && ts != ND_TIMESTAMP_NOW &&
               ts_check_refuses(tc, ts)) {
      tc->bad++;
      (void)record_errors_add(ND_ETIMESTAMP, (int32_t)i, (int64_t)i, ts);
    }
  }
  if (tc && tc->bad)
    return ts_check_fail(tc);
  if (tc && tc->keyless)
    return keyless_fail(tc, name, p);
  uint8_t *re = NULL;
  size_t re_len = 0;
  int rc =
      recompress_batches(s, cfg, name, sc->buf, (size_t)size, &re, &re_len);
  if (rc)
    return rc;
  if (re) {
    rc = partition_append(part, cfg, re, re_len, now, flags, info, sync_to);
    free(re);
    return rc;
  }
  return partition_append(part, cfg, sc->buf, (size_t)size, now, flags, info,
                          sync_to);
}

/* The end of every successful append, with no lock held: tell the
 * embedder that readers can see the records (the broker wakes the fetches
 * waiting on the partition), then wait for fdatasync if the append asked
 * for it. The hook comes first so that consumers are not held back by the
 * producer's fdatasync: readers see records once the high watermark is
 * published, synced or not. */
static int append_done(nd_store *s, const topic *t, partition *part,
                       const nd_append_info *info, int64_t sync_to) {
  if (s->opts.on_append)
    s->opts.on_append(s->opts.on_append_ctx, t->name, info->partition,
                      info->last_offset + 1);
  return sync_to >= 0 ? partition_sync(part, sync_to) : 0;
}

/* Every nd_append / nd_append_batch on a store ends here: counted as an
 * append or an append error (stats.h). */
static int append_count(nd_store *s, int rc) {
  if (s)
    stats_append(&s->logger, rc);
  return rc;
}

int nd_append(nd_store *s, const char *name, int32_t p,
              const nd_record *records, size_t n, unsigned flags,
              nd_append_info *info) {
  if (!records || n == 0)
    return append_count(
        s, nd_fail(ND_EINVAL, "%s: at least one record needed", __func__));
  topic *t = NULL;
  int rc = store_enter_topic(s, __func__, ENTRY_WRITE, name, &t);
  if (rc)
    return append_count(s, rc);
  /* The partition is chosen once the topic is held: -1 picks it by key. */
  if (p == -1)
    p = choose_partition(t, records[0].key, records[0].key_len);
  partition *part = NULL;
  if ((rc = store_partition(t, p, &part)) == 0) {
    nd_topic_config cfg;
    topic_config(t, &cfg);
    nd_append_info local;
    int64_t sync_to = -1;
    if (!info)
      info = &local;
    /* From before encoding until written, so a group-commit leader waits
     * for this append to share its fdatasync. */
    partition_append_begin(part);
    rc = append_records(s, part, p, &cfg, name, records, n, flags, info,
                        &sync_to);
    partition_append_end(part);
    if (!rc)
      rc = append_done(s, t, part, info, sync_to);
  }
  return append_count(s, store_leave(t, rc));
}

/* A compressed client batch, looked into as Kafka's broker does before it
 * stores one: the records must decompress and be framed like those of an
 * uncompressed batch, or a record could claim an offset outside it. */
static int check_compressed_records(nd_store *s, const uint8_t *b, size_t total,
                                    size_t at, int64_t *max_ts_delta,
                                    ts_check *tc) {
  int codec = batch_codec(b);
  void *plain = NULL;
  size_t plain_len = 0;
  int rc = s->opts.decompress(codec, b + BATCH_HEADER_SIZE,
                              total - BATCH_HEADER_SIZE, &plain, &plain_len);
  if (rc) {
    free(plain);
    if (rc != ND_ECODEC && rc != ND_ETOOLARGE && rc != ND_ENOMEM)
      rc = ND_ECORRUPT;
    return nd_fail(rc, "batch at byte %zu: its %s records do not decompress",
                   at,
                   codec == ND_CODEC_GZIP     ? "gzip"
                   : codec == ND_CODEC_SNAPPY ? "snappy"
                   : codec == ND_CODEC_LZ4    ? "lz4"
                                              : "zstd");
  }
  const char *why = NULL;
  rc = batch_check_record_area(b, plain, plain_len, batch_record_count(b),
                               max_ts_delta, tc, &why);
  free(plain);
  if (rc)
    return nd_fail(ND_EBATCH, "batch at byte %zu (compressed): %s", at, why);
  return 0;
}

/* The producer of a transactional batch at byte at: the first one's, and
 * every later one's must be the same (the coordinator checks one). */
static int txn_batch_identity(const uint8_t *b, size_t at, int64_t *pid,
                              int16_t *epoch) {
  int64_t bp = batch_producer_id(b);
  int16_t be = batch_producer_epoch(b);
  if (bp < 0 || be < 0)
    return nd_fail(ND_EBATCH,
                   "batch at byte %zu: transactional without a producer id "
                   "and epoch",
                   at);
  if (*pid >= 0 && (bp != *pid || be != *epoch))
    return nd_fail(ND_EBATCH,
                   "batch at byte %zu: transactional batches of one append "
                   "must be of one producer (%" PRId64
                   " epoch %d, then %" PRId64 " epoch %d)",
                   at, *pid, (int)*epoch, bp, (int)be);
  *pid = bp;
  *epoch = be;
  return 0;
}

int nd_append_batch(nd_store *s, const char *name, int32_t p, void *buf,
                    size_t len, unsigned flags, nd_append_info *info) {
  if (!buf || len == 0)
    return append_count(s, nd_fail(ND_EINVAL, "%s: bytes needed", __func__));
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_WRITE, name, p, &t, &part);
  if (rc)
    return append_count(s, rc);
  nd_topic_config cfg;
  topic_config(t, &cfg);
  int64_t now = store_now_ms();
  ts_check tcs, *tc = ts_check_start(&tcs, &cfg, now);
  int64_t txn_pid = -1; /* the producer of the transactional batches */
  int16_t txn_epoch = -1;
  /* Validate everything before anything is written: a request is stored
   * whole or not at all. */
  uint8_t *b = buf;
  batch_cursor c;
  for (batch_cursor_mem(&c, buf, len, BATCH_LEVEL_CLIENT);;) {
    if (batch_cursor_next(&c) != 1) {
      if (c.stop == BATCH_STOP_END)
        break;
      rc = nd_fail(c.stop == BATCH_STOP_TORN ? ND_EBATCH : ND_ECORRUPT,
                   "batch at byte %" PRIu64 " of %zu: %s", c.stop_pos, len,
                   c.why);
      goto out;
    }
    size_t q = (size_t)c.pos, total = (size_t)c.size;
    int32_t count = batch_record_count(c.batch);
    int32_t last_delta = batch_last_offset_delta(c.batch);
    if (count < 1 || last_delta != count - 1) {
      rc = nd_fail(ND_EBATCH,
                   "batch at byte %zu: %d records but last offset delta %d", q,
                   (int)count, (int)last_delta);
      goto out;
    }
    if (total > (size_t)cfg.max_message_bytes) {
      rc = nd_fail(ND_ETOOLARGE,
                   "batch at byte %zu is %zu bytes; topic '%s' allows "
                   "max.message.bytes=%d",
                   q, total, name, (int)cfg.max_message_bytes);
      goto out;
    }
    if ((batch_attributes(c.batch) & BATCH_ATTR_TRANSACTIONAL) &&
        !batch_is_control(c.batch) &&
        (rc = txn_batch_identity(c.batch, q, &txn_pid, &txn_epoch)) != 0)
      goto out;
    if (batch_is_control(c.batch) && !(flags & ND_APPEND_CONTROL)) {
      /* Kafka's words (LogValidator): a marker is the broker's to write. */
      rc = nd_fail(ND_ECONTROL,
                   "Clients are not allowed to write control records in "
                   "topic partition %s-%d",
                   name, (int)p);
      goto out;
    }
    int64_t max_ts_delta;
    const char *why;
    if (batch_check_records(b + q, total, &max_ts_delta, tc, &why) != 0) {
      rc = nd_fail(ND_EBATCH, "batch at byte %zu: %s", q, why);
      goto out;
    }
    int codec = batch_codec(c.batch);
    if (codec > ND_CODEC_ZSTD) {
      rc = nd_fail(ND_ECODEC, "batch at byte %zu: compression codec %d", q,
                   codec);
      goto out;
    }
    if (codec != ND_CODEC_NONE && !s->opts.decompress && tc && tc->need_key) {
      /* Its keys cannot be seen, and one keyless record stored would be
       * one the cleaner cannot place: refused rather than trusted. */
      rc = nd_fail(ND_ECODEC,
                   "batch at byte %zu: topic '%s' is compacted and its "
                   "records need keys, but this store was opened without a "
                   "decompressor (nd_options.decompress) to look at the "
                   "keys of a compressed batch",
                   q, name);
      goto out;
    }
    if (codec != ND_CODEC_NONE && s->opts.decompress &&
        (rc = check_compressed_records(s, b + q, total, q, &max_ts_delta,
                                       tc)) != 0)
      goto out;
    /* Time lookups, retention and segment.ms read the header's
     * maxTimestamp: make it the records' true maximum, as Kafka does.
     * Without a decompressor a compressed batch keeps its own. The cursor
     * has judged this batch already and will not look at it again. */
    batch_fix_max_timestamp(b + q, total, max_ts_delta);
  }
  if (tc && tc->bad) {
    rc = ts_check_fail(tc);
    goto out;
  }
  if (tc && tc->keyless) {
    rc = keyless_fail(tc, name, p);
    goto out;
  }
  uint8_t *re = NULL;
  size_t re_len = 0;
  rc = recompress_batches(s, &cfg, name, b, len, &re, &re_len);
  if (rc)
    goto out;
  nd_append_info local;
  int64_t sync_to = -1;
  if (!info)
    info = &local;
  /* A transactional batch is checked against its transaction under the
   * transaction's lock, held until the batch is in the log: the
   * coordinator's end takes the same lock, so no batch lands after the
   * marker (design rule 3). */
  txn_entry *held = NULL;
  if (txn_pid >= 0 &&
      (rc = txn_coord_append_begin(s, name, p, txn_pid, txn_epoch, flags,
                                   &held)) != 0) {
    free(re);
    goto out;
  }
  partition_append_begin(part);
  rc = partition_append(part, &cfg, re ? re : buf, re ? re_len : len, now,
                        flags, info, &sync_to);
  partition_append_end(part);
  txn_coord_append_end(held);
  free(re);
  /* A marker with nothing to end wrote nothing (base_offset -1). */
  if (!rc && info->base_offset >= 0)
    rc = append_done(s, t, part, info, sync_to);
out:
  return append_count(s, store_leave(t, rc));
}

int nd_sync_partition(nd_store *s, const char *name, int32_t p,
                      int64_t offset) {
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  return store_leave(t, partition_sync(part, offset < 0 ? -1 : offset + 1));
}
