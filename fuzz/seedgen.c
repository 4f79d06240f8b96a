/* SPDX-License-Identifier: Apache-2.0 */
/*
 * seedgen.c — writes the seed corpora under fuzz/corpus/ (see README.md):
 *
 *   nd_fuzz_seedgen OUT_DIR FIXTURES_DIR
 *
 * Seeds are made by the code under test itself (batches from batch_encode
 * and real client batches from tests/fixtures, segments and offsets logs
 * written by a store, topic.conf by topic_conf_write, requests by the
 * Kafka encoder), so they are valid inputs the fuzzer mutates from. The
 * output is deterministic except for the fields a store fills from the
 * clock or at random (timestamps, topic ids).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz.h"
#include "kafka.h"
#include "nodata.h"
#include "nodata_codecs.h"
#include "nodata_testing.h"

static const char *out_root;
static const char *fixtures;

static void die(const char *what) {
  fprintf(stderr, "seedgen: %s: %s\n", what, nd_errmsg());
  exit(1);
}

static void seed(const char *target, const char *name, const void *p,
                 size_t n) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", out_root, target);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", out_root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
    fprintf(stderr, "seedgen: cannot write %s\n", path);
    exit(1);
  }
}

/* A seed made of a flags byte and then the bytes. */
static void seed_flagged(const char *target, const char *name, uint8_t flags,
                         const void *p, size_t n) {
  uint8_t *b = malloc(n + 1);
  b[0] = flags;
  if (n)
    memcpy(b + 1, p, n);
  seed(target, name, b, n + 1);
  free(b);
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *data = NULL;
  long n = -1;
  if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n + 1)) != NULL &&
      fread(data, 1, (size_t)n, f) == (size_t)n) {
    fclose(f);
    *len = (size_t)n;
    return data;
  }
  fprintf(stderr, "seedgen: cannot read %s\n", path);
  exit(1);
}

static uint8_t *fixture(const char *name, size_t *len) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s.batch", fixtures, name);
  return slurp(path, len);
}

static const char *const fixture_names[] = {
    "rdkafka-none",      "rdkafka-gzip",        "rdkafka-snappy",
    "rdkafka-lz4",       "rdkafka-zstd",        "kafka-python-none",
    "kafka-python-gzip", "kafka-python-snappy", "kafka-python-lz4",
    "kafka-python-zstd",
};
#define NFIXTURES (sizeof fixture_names / sizeof fixture_names[0])

/* A small batch with a key, a null key, headers and a null value. */
static uint8_t *small_batch(int log_append_time, size_t *len) {
  nd_header h[2] = {{"h1", 2, "v", 1}, {"h2", 2, NULL, 0}};
  nd_record r[3] = {
      {"key", 3, "value", 5, h, 2, 1700000000000},
      {NULL, 0, "v2", 2, NULL, 0, 1700000000001},
      {"k3", 2, NULL, 0, h, 1, 1699999999999},
  };
  void *buf = NULL;
  if (nd_batch_encode(r, 3, 0, 1700000000000,
                      log_append_time ? ND_BATCH_LOG_APPEND_TIME : 0, &buf,
                      len) != 0)
    die("nd_batch_encode");
  return buf;
}

/* ---- batch and codecs --------------------------------------------------- */

static void gen_batch_and_codecs(void) {
  size_t all_len = 0, first_len = 0;
  uint8_t *all = NULL;
  for (size_t i = 0; i < NFIXTURES; i++) {
    size_t n;
    uint8_t *b = fixture(fixture_names[i], &n);
    char name[64];
    snprintf(name, sizeof name, "%s", fixture_names[i]);
    seed_flagged("batch", name, 0, b, n);
    /* The compressed record area alone, for the codecs target. */
    int codec = be16(b + 21) & ND_BATCH_ATTR_CODEC_MASK;
    if (n > ND_BATCH_HEADER_SIZE) {
      uint8_t sel = (uint8_t)(codec + 1);
      seed_flagged("codecs", name, sel, b + ND_BATCH_HEADER_SIZE,
                   n - ND_BATCH_HEADER_SIZE);
    }
    if (i < 5) {
      if (i == 0)
        first_len = n;
      all = realloc(all, all_len + n);
      memcpy(all + all_len, b, n);
      all_len += n;
    }
    free(b);
  }
  /* Several batches back to back, and a torn copy of them. */
  seed_flagged("batch", "rdkafka-all", 0, all, all_len);
  seed_flagged("batch", "rdkafka-all-torn", 1, all, all_len - 100);
  seed_flagged("batch", "rdkafka-all-min-offset", 4 * 20, all, all_len);
  seed_flagged("batch", "rdkafka-all-no-decompressor", 2, all, all_len);
  /* The same log damaged once per finding of the walk (fuzz_batch holds
   * the walk to nd_batch_check on each): a record byte of the second
   * batch (its CRC), its record count, magic and batchLength. */
  static const struct {
    const char *name;
    size_t at;
    uint8_t val;
  } dmg[] = {{"rdkafka-all-bad-crc", 70, 0},
             {"rdkafka-all-bad-count", 57, 0xff},
             {"rdkafka-all-bad-magic", 16, 3},
             {"rdkafka-all-bad-length", 8, 0xff}};
  uint8_t *d = malloc(all_len);
  if (!d)
    die("malloc");
  for (size_t k = 0; k < sizeof dmg / sizeof dmg[0]; k++) {
    memcpy(d, all, all_len);
    d[first_len + dmg[k].at] =
        dmg[k].val ? dmg[k].val : d[first_len + dmg[k].at] ^ 1;
    seed_flagged("batch", dmg[k].name, 0, d, all_len);
  }
  /* Ascending offsets, as in a log (a client's batches all start at 0):
   * the walk's order check then passes them. */
  memcpy(d, all, all_len);
  int64_t next = 0;
  for (size_t pos = 0; pos + ND_BATCH_HEADER_SIZE <= all_len;) {
    put_be64(d + pos, (uint64_t)next);
    next += (int64_t)be32(d + pos + 23) + 1;
    pos += (size_t)be32(d + pos + 8) + ND_BATCH_LOG_OVERHEAD;
  }
  seed_flagged("batch", "rdkafka-all-ascending", 0, d, all_len);
  free(d);
  free(all);

  size_t n;
  uint8_t *b = small_batch(0, &n);
  seed_flagged("batch", "small", 0, b, n);
  /* Every codec over the same records, via nd_codecs_compress_batch. */
  for (int codec = ND_CODEC_GZIP; codec <= ND_CODEC_ZSTD; codec++) {
    void *z;
    size_t zlen;
    if (nd_codecs_compress_batch(b, n, codec, &z, &zlen) != 0)
      die("compress_batch");
    char name[64];
    snprintf(name, sizeof name, "small-%s", nd_codecs_name(codec));
    seed_flagged("batch", name, 0, z, zlen);
    free(z);
    /* The raw codec stream of the record area, and of nothing. */
    if (nd_codecs_compress(codec, b + ND_BATCH_HEADER_SIZE,
                           n - ND_BATCH_HEADER_SIZE, &z, &zlen) != 0)
      die("compress");
    snprintf(name, sizeof name, "records-%s", nd_codecs_name(codec));
    seed_flagged("codecs", name, (uint8_t)(codec + 1), z, zlen);
    free(z);
    if (nd_codecs_compress(codec, "", 0, &z, &zlen) != 0)
      die("compress");
    snprintf(name, sizeof name, "empty-%s", nd_codecs_name(codec));
    seed_flagged("codecs", name, (uint8_t)(codec + 1), z, zlen);
    free(z);
  }
  /* Two gzip members and two zstd frames back to back: both decoders
   * read concatenations. */
  for (int codec = ND_CODEC_GZIP; codec <= ND_CODEC_ZSTD; codec += 3) {
    void *z;
    size_t zlen;
    if (nd_codecs_compress(codec, "abcabcabc", 9, &z, &zlen) != 0)
      die("compress");
    uint8_t *two = malloc(2 * zlen);
    memcpy(two, z, zlen);
    memcpy(two + zlen, z, zlen);
    char name[64];
    snprintf(name, sizeof name, "two-%s", nd_codecs_name(codec));
    seed_flagged("codecs", name, (uint8_t)(codec + 1), two, 2 * zlen);
    free(two);
    free(z);
  }
  seed_flagged("codecs", "none", 1, "plain bytes", 11);
  free(b);
  b = small_batch(1, &n);
  seed_flagged("batch", "small-log-append-time", 0, b, n);
  free(b);
}

/* ---- a store, for segment_recovery and offsets_log ----------------------- */

static char store_dir[PATH_MAX];

static nd_store *open_store(void) {
  nd_options o;
  memset(&o, 0, sizeof o);
  o.no_background = 1;
  o.decompress = nd_codecs_decompress;
  nd_store *s;
  if (nd_open(store_dir, &o, &s) != 0)
    die("nd_open");
  return s;
}

static char part_dir[PATH_MAX];

static uint8_t *part_file(const char *name, size_t *len) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", part_dir, name);
  return slurp(path, len);
}

#define MARKER "NDFUZZ--"

static void gen_store_seeds(void) {
  snprintf(store_dir, sizeof store_dir, "%s/nodata-seedgen-%d",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
  fuzz_rm_rf(store_dir);
  nd_store *s = open_store();
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.index_interval_bytes = 128;
  cfg.segment_index_bytes = 4096;
  cfg.fsync = ND_FSYNC_NEVER;
  if (nd_topic_create(s, "t", 2, &cfg) != 0)
    die("topic create");
  /* Records of our own and client batches of every codec. */
  for (int i = 0; i < 3; i++) {
    size_t n;
    uint8_t *b = small_batch(0, &n);
    if (nd_append_batch(s, "t", 0, b, n, 0, NULL) != 0)
      die("append");
    free(b);
  }
  for (size_t i = 0; i < 5; i++) {
    size_t n;
    uint8_t *b = fixture(fixture_names[i], &n);
    if (nd_append_batch(s, "t", 0, b, n, 0, NULL) != 0)
      die("append fixture");
    free(b);
  }
  nd_record r = {"k", 1, "v", 1, NULL, 0, 1700000000000};
  if (nd_append(s, "t", 0, &r, 1, 0, NULL) != 0)
    die("append");

  nd_offset_commit c[3] = {{"t", 0, 5, 3, "meta", 0},
                           {"t", 1, 7, -1, NULL, 0},
                           {"t", 0, 9, 4, "m\0x", 3}};
  if (nd_group_set_protocol_type(s, "group-a", "consumer") != 0 ||
      nd_commit_offsets(s, "group-a", c, 2) != 0 ||
      nd_commit_offsets(s, "group-b", c + 2, 1) != 0 ||
      nd_commit_offset(s, "group-c", "t", 1, 11, "x") != 0 ||
      nd_delete_offsets(s, "group-a", &(nd_topic_partition){"t", 1}, 1) != 0 ||
      nd_group_delete(s, "group-c") != 0 ||
      nd_group_set_state(s, "group-a", "epoch\0 3", 8) != 0 ||
      nd_group_set_state(s, "group-d", "state only", 10) != 0 ||
      nd_group_set_state(s, "group-b", "gone", 4) != 0 ||
      nd_group_set_state(s, "group-b", NULL, 0) != 0)
    die("commit");
  if (nd_close(s) != 0)
    die("close");

  char hex[65];
  nd_topic_dirname("t", hex);
  snprintf(part_dir, sizeof part_dir, "%s/topics/%s/0", store_dir, hex);
  size_t log_len, idx_len, tidx_len, rp_len;
  uint8_t *log = part_file("00000000000000000000.log", &log_len);
  uint8_t *idx = part_file("00000000000000000000.index", &idx_len);
  uint8_t *tidx = part_file("00000000000000000000.timeindex", &tidx_len);
  uint8_t *rp = part_file("recovery-point", &rp_len);
  seed_flagged("segment_recovery", "log", 0, log, log_len);
  seed_flagged("segment_recovery", "log-torn", 0, log, log_len - 7);
  seed_flagged("segment_recovery", "log-fix-crc", 1, log, log_len);
  seed_flagged("segment_recovery", "empty", 0, "", 0);
  /* A log with its indexes and recovery point, crashed and clean. */
  size_t all_len = log_len + idx_len + tidx_len + rp_len + 3 * 8;
  uint8_t *all = malloc(all_len), *w = all;
  memcpy(w, log, log_len);
  w += log_len;
  memcpy(w, MARKER, 8);
  w += 8;
  memcpy(w, idx, idx_len);
  w += idx_len;
  memcpy(w, MARKER, 8);
  w += 8;
  memcpy(w, tidx, tidx_len);
  w += tidx_len;
  memcpy(w, MARKER, 8);
  w += 8;
  memcpy(w, rp, rp_len);
  seed_flagged("segment_recovery", "with-indexes-clean", 4, all, all_len);
  seed_flagged("segment_recovery", "with-indexes-crashed", 0, all, all_len);
  free(all);
  free(log);
  free(idx);
  free(tidx);
  free(rp);

  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/groups/offsets.log", store_dir);
  size_t olen;
  uint8_t *olog = slurp(path, &olen);
  seed_flagged("offsets_log", "commits", 0, olog, olen);
  seed_flagged("offsets_log", "commits-torn", 0, olog, olen - 3);
  seed_flagged("offsets_log", "commits-fix-crc", 1, olog, olen);
  seed_flagged("offsets_log", "empty", 0, "", 0);
  /* Damage the loader skips: a flipped bit in the third frame, zeros over
   * the second frame's header and some of its payload, garbage appended. */
  size_t at[4] = {0}, nf = 0;
  for (size_t pos = 0; nf < 4 && pos + 16 <= olen;
       pos += 16 + be32(olog + pos + 4))
    at[nf++] = pos;
  if (nf < 4)
    die("the offsets log has fewer than four frames");
  uint8_t *dmg = malloc(olen + 16);
  memcpy(dmg, olog, olen);
  dmg[at[2] + 24] ^= 0x08;
  seed_flagged("offsets_log", "commits-bitflip", 0, dmg, olen);
  fuzz_write_file(path, dmg, olen);
  {
    /* Opening the damaged file rewrites it as a checkpoint. */
    nd_close(open_store());
    size_t clen;
    uint8_t *ckpt = slurp(path, &clen);
    seed_flagged("offsets_log", "checkpoint", 0, ckpt, clen);
    free(ckpt);
  }
  memcpy(dmg, olog, olen);
  memset(dmg + at[1], 0, at[2] - at[1] - 4);
  seed_flagged("offsets_log", "commits-zero-hole", 0, dmg, olen);
  memcpy(dmg, olog, olen);
  memcpy(dmg + olen, "\x89OFS-garbage--!", 16);
  seed_flagged("offsets_log", "commits-garbage-appended", 0, dmg, olen + 16);
  free(dmg);
  free(olog);
  fuzz_rm_rf(store_dir);
}

/* ---- topic.conf ---------------------------------------------------------- */

static void gen_topic_conf(void) {
  char dir[PATH_MAX], hex[65];
  nd_topic_dirname("t", hex);
  snprintf(dir, sizeof dir, "%s/nodata-seedgen-conf-%d/%s",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), hex);
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", dir);
  *strrchr(parent, '/') = 0;
  mkdir(parent, 0755);
  mkdir(dir, 0755);
  static const uint8_t id[16] = {0x8d, 0x0b, 0x6c, 0x1e, 0x2b, 0x7a,
                                 0x4f, 0x0e, 0x9c, 0x55, 0x0f, 0x7f,
                                 0x6c, 0x0f, 0x2a, 0x11};
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/topic.conf", dir);
  for (int i = 0; i < 3; i++) {
    if (i == 1) {
      nd_topic_config_set(&cfg, "fsync", "always");
      nd_topic_config_set(&cfg, "message.timestamp.type", "LogAppendTime");
      nd_topic_config_set(&cfg, "retention.ms", "-1");
    } else if (i == 2) {
      nd_topic_config_set(&cfg, "fsync", "interval=250");
      nd_topic_config_set(&cfg, "segment.bytes", "14");
      nd_topic_config_set(&cfg, "max.message.bytes", "2147483647");
    }
    if (nd_test_topic_conf_write(dir, "t", id, i * 7 + 1, &cfg) != 0)
      die("nd_test_topic_conf_write");
    size_t n;
    uint8_t *text = slurp(path, &n);
    char name[32];
    snprintf(name, sizeof name, "conf-%d", i);
    seed("topic_conf", name, text, n);
    free(text);
  }
  static const char *const odd[] = {
      "# nodata topic\nname=t\nid=8d0b6c1e-2b7a-4f0e-9c55-0f7f6c0f2a11\n"
      "partitions=1\n",
      "name=other\nid=8d0b6c1e-2b7a-4f0e-9c55-0f7f6c0f2a11\npartitions=2\n",
      "name=t\npartitions=0\n",
      "segment.ms=1\nretention.bytes=-1\nindex.interval.bytes=0\n"
      "segment.index.bytes=4096\nfsync=never\nfsync=interval\n",
      "unknown.key=1\n",
      "retention.ms=9223372036854775808\n",
  };
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "lines-%zu", i);
    seed("topic_conf", name, odd[i], strlen(odd[i]));
  }
  fuzz_rm_rf(parent);
}

/* ---- Kafka requests ----------------------------------------------------- */

static kf_arena arena;
static uint8_t *records;
static size_t records_len;

static void fill_value(const kf_field *f, int type, int version, int depth,
                       void *p);

static void fill_struct(const kf_struct *s, int version, int depth, void *obj) {
  for (uint32_t i = 0; i < s->nfields; i++) {
    const kf_field *f = &s->fields[i];
    if (f->vmin < 0 || version < f->vmin || version > f->vmax)
      continue;
    fill_value(f, f->type, version, depth, (uint8_t *)obj + f->offset);
  }
}

static size_t elem_size(const kf_field *f) {
  switch (f->elem) {
  case KF_BOOL:
  case KF_INT8:
    return 1;
  case KF_INT16:
  case KF_UINT16:
    return 2;
  case KF_INT32:
  case KF_UINT32:
    return 4;
  case KF_INT64:
  case KF_FLOAT64:
    return 8;
  case KF_UUID:
    return 16;
  case KF_STRING:
    return sizeof(kf_str);
  case KF_BYTES:
  case KF_RECORDS:
    return sizeof(kf_bytes);
  default:
    return f->sub->size;
  }
}

/* Strings "t" (the topic every seed names), one element per array, a real
 * batch in record fields; numbers keep their schema defaults. */
static void fill_value(const kf_field *f, int type, int version, int depth,
                       void *p) {
  switch (type) {
  case KF_STRING: {
    kf_str s = kf_s("t");
    memcpy(p, &s, sizeof s);
    break;
  }
  case KF_BYTES: {
    kf_bytes b = {(uint8_t *)"xy", 2, 0};
    memcpy(p, &b, sizeof b);
    break;
  }
  case KF_RECORDS: {
    kf_bytes b = {records, (int32_t)records_len, 0};
    memcpy(p, &b, sizeof b);
    break;
  }
  case KF_STRUCT:
    fill_struct(f->sub, version, depth + 1, p);
    break;
  case KF_ARRAY: {
    if (depth > 5)
      break;
    size_t es = elem_size(f);
    void *items = kf_alloc(&arena, es);
    if (f->elem == KF_STRUCT)
      kf_init(f->sub, items);
    fill_value(f, f->elem, version, depth + 1, items);
    kf_array arr = {items, 1};
    memcpy(p, &arr, sizeof arr);
    break;
  }
  default:
    break;
  }
}

static void gen_kafka(void) {
  records = small_batch(0, &records_len);
  for (size_t i = 0; i < kafka_api_count; i++) {
    const kafka_api *api = &kafka_apis[i];
    int versions[2] = {api->min, api->max};
    for (int j = 0; j < 2; j++) {
      int v = versions[j];
      if (j == 1 && v == versions[0])
        break;
      void *body = kf_new(&arena, api->req->body);
      fill_struct(api->req->body, v, 0, body);
      kafka_request_header h = {api->key, (int16_t)v, 1000 + (int32_t)i,
                                kf_s("seedgen")};
      kf_buf b = {0};
      kf_encode(&kafka_request_header_msg, kf_flexible(api->req, v) ? 2 : 1, &h,
                &b);
      kf_encode(api->req, v, body, &b);
      if (b.failed)
        die("encode");
      char name[80];
      snprintf(name, sizeof name, "%s-v%d", api->name, v);
      seed("kafka_request", name, b.data, b.len);
      kf_buf_free(&b);
    }
  }
  kf_arena_free(&arena);
  free(records);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: nd_fuzz_seedgen OUT_DIR FIXTURES_DIR\n");
    return 2;
  }
  out_root = argv[1];
  fixtures = argv[2];
  mkdir(out_root, 0755);
  gen_batch_and_codecs();
  gen_store_seeds();
  gen_topic_conf();
  gen_kafka();
  return 0;
}
