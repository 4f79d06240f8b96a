/* SPDX-License-Identifier: Apache-2.0 */
/* Records without a key on a compacted topic (cleanup.policy has
 * compact): refused whole with ND_ENOKEY by nd_append and nd_append_batch,
 * compressed batches looked into, nothing written; a topic turned to
 * compact keeps what it holds. And cleanup.policy's text as Kafka 4.4
 * reads and writes it, with the compaction settings' Kafka messages. */
#include "test.h"

#include <time.h>

#include "bytes.h"
#include "nodata_codecs.h"

static nd_store *open_store(const char *dir, int with_decompressor) {
  nd_options o = {.no_background = 1};
  if (with_decompressor)
    o.decompress = nd_codecs_decompress;
  nd_store *s = NULL;
  if (nd_open(dir, &o, &s) != 0)
    fprintf(stderr, "nd_open(%s): %s\n", dir, nd_errmsg());
  return s;
}

static int64_t end_offset(nd_store *s, const char *topic) {
  int64_t hw = -1;
  nd_offsets(s, topic, 0, NULL, &hw);
  return hw;
}

static void create(nd_store *s, const char *name, const char *policy) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  CHECK_OK(nd_topic_config_set(&cfg, "cleanup.policy", policy));
  CHECK_OK(nd_topic_create(s, name, 1, &cfg));
}

/* rec i has a key unless keyless[i]. */
static uint8_t *make_batch(const int *keyless, size_t n, int codec,
                           size_t *len) {
  nd_record r[8];
  for (size_t i = 0; i < n; i++)
    r[i] = (nd_record){
        keyless[i] ? NULL : "k", keyless[i] ? 0 : 1, "v", 1, NULL, 0,
        ND_TIMESTAMP_NOW};
  void *enc = NULL, *z = NULL;
  size_t size = 0, zlen = 0;
  if (nd_batch_encode(r, n, 0, 0, 0, &enc, &size) != 0)
    return NULL;
  if (codec == ND_CODEC_NONE) {
    *len = size;
    return enc;
  }
  int rc = nd_codecs_compress_batch(enc, size, codec, &z, &zlen);
  free(enc);
  *len = zlen;
  return rc ? NULL : z;
}

static void keyless_append(void) {
  char *dir = tmpdir_make("compact-keys");
  nd_store *s = open_store(dir, 0);
  CHECK(s);
  create(s, "c", "compact");
  create(s, "cd", "delete,compact");
  create(s, "d", "delete");
  nd_record r[4] = {
      {"a", 1, "1", 1, NULL, 0, ND_TIMESTAMP_NOW},
      {NULL, 0, "2", 1, NULL, 0, ND_TIMESTAMP_NOW},
      {"", 0, "3", 1, NULL, 0, ND_TIMESTAMP_NOW}, /* an empty key is a key */
      {NULL, 0, "4", 1, NULL, 0, ND_TIMESTAMP_NOW},
  };
  CHECK_RC(nd_append(s, "c", 0, r, 4, 0, NULL), ND_ENOKEY);
  CHECK(strstr(nd_errmsg(), "Compacted topic cannot accept message without "
                            "key in topic partition c-0: the record at "
                            "index 1 of its batch has none (2 records "
                            "refused)") != NULL);
  const nd_record_error *e;
  CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 2);
  CHECK_EQ_I64(e[0].error, ND_ENOKEY);
  CHECK_EQ_I64(e[0].batch_index, 1);
  CHECK_EQ_I64(e[1].error, ND_ENOKEY);
  CHECK_EQ_I64(e[1].batch_index, 3);
  CHECK_EQ_I64(end_offset(s, "c"), 0);
  CHECK_RC(nd_append(s, "cd", 0, r + 1, 1, 0, NULL), ND_ENOKEY);
  CHECK(strstr(nd_errmsg(), "partition cd-0: the record at index 0") != NULL);
  /* Partition -1 with a keyless first record: round robin, refused. */
  CHECK_RC(nd_append(s, "c", -1, r + 1, 1, 0, NULL), ND_ENOKEY);
  CHECK_EQ_I64(end_offset(s, "c"), 0);
  /* Keys (the empty one too) and tombstones go through. */
  nd_record tomb = {"a", 1, NULL, 0, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "c", 0, r, 1, 0, NULL));
  CHECK_OK(nd_append(s, "c", 0, r + 2, 1, 0, NULL));
  CHECK_OK(nd_append(s, "c", 0, &tomb, 1, 0, NULL));
  CHECK_EQ_I64(end_offset(s, "c"), 3);
  CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 0);
  /* A delete topic takes anything. */
  CHECK_OK(nd_append(s, "d", 0, r, 4, 0, NULL));
  CHECK_EQ_I64(end_offset(s, "d"), 4);
  /* Keyless beside a timestamp out of range: ND_ETIMESTAMP, as Kafka
   * answers INVALID_TIMESTAMP, and both kinds listed; a record with
   * neither once, for its key. */
  int64_t far = (int64_t)time(NULL) * 1000 + 3 * 3600000LL;
  nd_record mixed[3] = {
      {NULL, 0, "x", 1, NULL, 0, far},
      {"k", 1, "y", 1, NULL, 0, far},
      {NULL, 0, "z", 1, NULL, 0, ND_TIMESTAMP_NOW},
  };
  CHECK_RC(nd_append(s, "c", 0, mixed, 3, 0, NULL), ND_ETIMESTAMP);
  CHECK(strstr(nd_errmsg(), "of message with offset 1 is out of range"));
  CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 3);
  CHECK_EQ_I64(e[0].error, ND_ENOKEY);
  CHECK_EQ_I64(e[1].error, ND_ETIMESTAMP);
  CHECK_EQ_I64(e[1].batch_index, 1);
  CHECK_EQ_I64(e[2].error, ND_ENOKEY);
  CHECK_EQ_I64(end_offset(s, "c"), 3);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void keyless_batches(void) {
  char *dir = tmpdir_make("compact-keys");
  nd_store *s = open_store(dir, 1);
  CHECK(s);
  create(s, "c", "compact");
  create(s, "d", "delete");
  const int one[3] = {0, 0, 1}, none[3] = {0, 0, 0};
  for (int codec = ND_CODEC_NONE; codec <= ND_CODEC_ZSTD; codec++) {
    size_t len;
    uint8_t *b = make_batch(one, 3, codec, &len);
    CHECK(b);
    CHECK_RC(nd_append_batch(s, "c", 0, b, len, 0, NULL), ND_ENOKEY);
    CHECK(strstr(nd_errmsg(), "topic partition c-0: the record at index 2 "
                              "of its batch has none (1 record refused)"));
    const nd_record_error *e;
    CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 1);
    CHECK_EQ_I64(e[0].batch_index, 2);
    CHECK_EQ_I64(e[0].error, ND_ENOKEY);
    CHECK_OK(nd_append_batch(s, "d", 0, b, len, 0, NULL));
    free(b);
    /* A good batch followed by a bad one in one call: nothing stored. */
    size_t glen;
    uint8_t *g = make_batch(none, 3, codec, &glen);
    b = make_batch(one, 3, codec, &len);
    CHECK(g && b);
    uint8_t *two = malloc(glen + len);
    CHECK(two);
    memcpy(two, g, glen);
    memcpy(two + glen, b, len);
    CHECK_RC(nd_append_batch(s, "c", 0, two, glen + len, 0, NULL), ND_ENOKEY);
    CHECK_EQ_I64(end_offset(s, "c"), 3 * codec);
    CHECK_OK(nd_append_batch(s, "c", 0, g, glen, 0, NULL));
    CHECK_EQ_I64(end_offset(s, "c"), 3 * codec + 3);
    free(two);
    free(g);
    free(b);
  }
  CHECK_OK(nd_close(s));

  /* Without a decompressor the keys of a compressed batch cannot be
   * seen: refused on a compacted topic (ND_ECODEC, saying why), stored on
   * a delete one; uncompressed batches are still checked. */
  s = open_store(dir, 0);
  CHECK(s);
  size_t len;
  uint8_t *b = make_batch(none, 3, ND_CODEC_GZIP, &len);
  CHECK(b);
  int64_t before = end_offset(s, "c");
  CHECK_RC(nd_append_batch(s, "c", 0, b, len, 0, NULL), ND_ECODEC);
  CHECK(strstr(nd_errmsg(), "compacted") && strstr(nd_errmsg(), "decompress"));
  CHECK_EQ_I64(end_offset(s, "c"), before);
  CHECK_OK(nd_append_batch(s, "d", 0, b, len, 0, NULL));
  free(b);
  b = make_batch(one, 3, ND_CODEC_NONE, &len);
  CHECK(b);
  CHECK_RC(nd_append_batch(s, "c", 0, b, len, 0, NULL), ND_ENOKEY);
  free(b);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* Turning compaction on later changes nothing stored: the keyless
 * records stay readable; new ones are refused, across a reopen too. */
static void policy_change(void) {
  char *dir = tmpdir_make("compact-keys");
  nd_store *s = open_store(dir, 0);
  CHECK(s);
  create(s, "t", "delete");
  nd_record r = {NULL, 0, "old", 3, NULL, 0, ND_TIMESTAMP_NOW};
  CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  nd_topic_info info;
  CHECK_OK(nd_topic_describe(s, "t", &info));
  CHECK_OK(nd_topic_config_set(&info.config, "cleanup.policy", "compact"));
  CHECK_OK(nd_topic_set_config(s, "t", &info.config));
  CHECK_RC(nd_append(s, "t", 0, &r, 1, 0, NULL), ND_ENOKEY);
  CHECK_OK(nd_close(s));
  s = open_store(dir, 0);
  CHECK(s);
  CHECK_RC(nd_append(s, "t", 0, &r, 1, 0, NULL), ND_ENOKEY);
  CHECK_EQ_I64(end_offset(s, "t"), 2);
  nd_reader *rd = NULL;
  CHECK_OK(nd_reader_open(s, "t", 0, 0, NULL, &rd));
  nd_record_view v;
  for (int64_t o = 0; o < 2; o++) {
    CHECK_RC(nd_reader_next(rd, &v), 1);
    CHECK_EQ_I64(v.offset, o);
    CHECK(v.key == NULL && v.value_len == 3 && !memcmp(v.value, "old", 3));
  }
  nd_reader_close(rd);
  r.key = "k";
  r.key_len = 1;
  CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void check_get(const nd_topic_config *c, const char *name,
                      const char *want) {
  char buf[64];
  CHECK_OK(nd_topic_config_get(c, name, buf, sizeof buf));
  if (strcmp(buf, want) != 0)
    fprintf(stderr, "%s: got '%s', want '%s'\n", name, buf, want);
  CHECK(!strcmp(buf, want));
}

static void check_refused(nd_topic_config *c, const char *name,
                          const char *value, const char *want_msg) {
  CHECK_RC(nd_topic_config_set(c, name, value), ND_ECONFIG);
  if (strcmp(nd_errmsg(), want_msg) != 0)
    fprintf(stderr, "%s=%s: got '%s'\n", name, value, nd_errmsg());
  CHECK(!strcmp(nd_errmsg(), want_msg));
}

/* cleanup.policy and the compaction settings as Kafka 4.4 takes them
 * (each checked against its broker: tests/compat/
 * test_diff_compaction_config.py compares the broker's answers). */
static void settings_text(void) {
  nd_topic_config c;
  nd_topic_config_init(&c);
  check_get(&c, "cleanup.policy", "delete");
  check_get(&c, "min.cleanable.dirty.ratio", "0.5");
  const struct {
    const char *in, *out;
    int mask;
  } ok[] = {
      {"compact", "compact", ND_CLEANUP_COMPACT},
      {" compact , delete ", "compact,delete",
       ND_CLEANUP_COMPACT | ND_CLEANUP_DELETE},
      {"delete,compact", "delete,compact",
       ND_CLEANUP_COMPACT | ND_CLEANUP_DELETE | ND_CLEANUP_DELETE_FIRST},
      {"compact,compact", "compact", ND_CLEANUP_COMPACT},
      {"delete,compact,delete", "delete,compact",
       ND_CLEANUP_COMPACT | ND_CLEANUP_DELETE | ND_CLEANUP_DELETE_FIRST},
      {"", "", 0}, /* neither: Kafka 4.4 takes the empty list */
      {"delete", "delete", ND_CLEANUP_DELETE},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    CHECK_OK(nd_topic_config_set(&c, "cleanup.policy", ok[i].in));
    CHECK_EQ_I64(c.cleanup_policy, ok[i].mask);
    check_get(&c, "cleanup.policy", ok[i].out);
  }
  check_refused(&c, "cleanup.policy", "shred",
                "Invalid value shred for configuration cleanup.policy: "
                "String must be one of: compact, delete");
  check_refused(&c, "cleanup.policy", "compact,Delete",
                "Invalid value Delete for configuration cleanup.policy: "
                "String must be one of: compact, delete");
  check_refused(&c, "cleanup.policy", "compact,",
                "Configuration 'cleanup.policy' values must not be empty.");
  check_refused(&c, "cleanup.policy", ",compact",
                "Configuration 'cleanup.policy' values must not be empty.");
  CHECK_EQ_I64(c.cleanup_policy, ND_CLEANUP_DELETE); /* unchanged */

  /* Ratios print as Java's Double.toString. */
  const char *ratios[][2] = {{"1", "1.0"},
                             {"0", "0.0"},
                             {"0.25", "0.25"},
                             {"0.1", "0.1"},
                             {"0.0001", "1.0E-4"},
                             {"0.001", "0.001"},
                             {"0.123456789", "0.123456789"}};
  for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
    CHECK_OK(
        nd_topic_config_set(&c, "min.cleanable.dirty.ratio", ratios[i][0]));
    check_get(&c, "min.cleanable.dirty.ratio", ratios[i][1]);
  }
  check_refused(&c, "min.cleanable.dirty.ratio", "2",
                "Invalid value 2.0 for configuration "
                "min.cleanable.dirty.ratio: Value must be no more than 1");
  check_refused(&c, "min.cleanable.dirty.ratio", "-0.5",
                "Invalid value -0.5 for configuration "
                "min.cleanable.dirty.ratio: Value must be at least 0");
  check_refused(&c, "min.cleanable.dirty.ratio", "half",
                "Invalid value half for configuration "
                "min.cleanable.dirty.ratio: Not a number of type DOUBLE");
  check_refused(&c, "max.compaction.lag.ms", "0",
                "Invalid value 0 for configuration max.compaction.lag.ms: "
                "Value must be at least 1");
  check_refused(&c, "delete.retention.ms", "soon",
                "Invalid value soon for configuration delete.retention.ms: "
                "Not a number of type LONG");
  check_refused(&c, "max.message.bytes", "x",
                "Invalid value x for configuration max.message.bytes: Not a "
                "number of type INT");

  /* min > max is the whole config's fault, found at create. */
  char *dir = tmpdir_make("compact-keys");
  nd_store *s = open_store(dir, 0);
  CHECK(s);
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "min.compaction.lag.ms", "10"));
  CHECK_OK(nd_topic_config_set(&c, "max.compaction.lag.ms", "5"));
  CHECK_RC(nd_topic_create(s, "lags", 1, &c), ND_ECONFIG);
  CHECK(!strcmp(nd_errmsg(), "conflict topic config setting "
                             "min.compaction.lag.ms (10) > "
                             "max.compaction.lag.ms (5)"));
  /* The order of the list and the ratio survive topic.conf. */
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "cleanup.policy", "delete,compact"));
  CHECK_OK(nd_topic_config_set(&c, "min.cleanable.dirty.ratio", "0.3"));
  CHECK_OK(nd_topic_create(s, "kept", 1, &c));
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "cleanup.policy", ""));
  CHECK_OK(nd_topic_create(s, "neither", 1, &c));
  CHECK_OK(nd_close(s));
  s = open_store(dir, 0);
  CHECK(s);
  nd_topic_info info;
  CHECK_OK(nd_topic_describe(s, "kept", &info));
  check_get(&info.config, "cleanup.policy", "delete,compact");
  check_get(&info.config, "min.cleanable.dirty.ratio", "0.3");
  CHECK_OK(nd_topic_describe(s, "neither", &info));
  check_get(&info.config, "cleanup.policy", "");
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(keyless_append);
  RUN(keyless_batches);
  RUN(policy_change);
  RUN(settings_text);
  TEST_MAIN_END();
}
