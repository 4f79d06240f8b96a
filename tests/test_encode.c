/* SPDX-License-Identifier: Apache-2.0 */
/* nd_batch_encode, nd_batch_check, nd_batch_set_crc: the public doors to
 * RecordBatch v2 bytes that the CLI, the bench and the fuzzers use instead
 * of a private copy of the format. Only nodata.h is included. */
#include "test.h"

static const nd_header hdrs[] = {
    {.key = "h1", .key_len = 2, .value = "v", .value_len = 1},
    {.key = "h2", .key_len = 2, .value = NULL, .value_len = 0},
};

/* n records with explicit timestamps (not in order: base and max must be
 * the minimum and maximum), some null keys and values, headers. */
static void make_records(nd_record *r, size_t n, int64_t ts0) {
  static char keys[16][8], vals[16][16];
  for (size_t i = 0; i < n; i++) {
    snprintf(keys[i], sizeof keys[i], "k%zu", i);
    snprintf(vals[i], sizeof vals[i], "value-%zu", i);
    r[i] = (nd_record){
        .key = i % 3 == 1 ? NULL : keys[i],
        .key_len = i % 3 == 1 ? 0 : strlen(keys[i]),
        .value = i % 4 == 3 ? NULL : vals[i],
        .value_len = i % 4 == 3 ? 0 : strlen(vals[i]),
        .headers = i % 2 ? hdrs : NULL,
        .header_count = i % 2 ? 2 : 0,
        .timestamp = ts0 + (int64_t)((i * 7) % 5),
    };
  }
}

/* The contract the bench relies on: the encoder's bytes at base offset B
 * are the bytes nd_append stores at B. Three appends, then one read of
 * everything, compared with three encodes. */
static void encode_matches_append(void) {
  char *dir = tmpdir_make("encode");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t ts0 = 1700000000000;
  nd_record r[16];
  size_t sizes[] = {3, 5, 1};
  uint8_t want[8192];
  size_t want_len = 0;
  int64_t base = 0;
  for (int b = 0; b < 3; b++) {
    make_records(r, sizes[b], ts0 + b * 100);
    CHECK_OK(nd_append(s, "t", 0, r, sizes[b], 0, NULL));
    void *enc = NULL;
    size_t len = 0;
    CHECK_OK(nd_batch_encode(r, sizes[b], base, 0, 0, &enc, &len));
    CHECK(enc && len > ND_BATCH_HEADER_SIZE && want_len + len <= sizeof want);
    if (enc)
      memcpy(want + want_len, enc, len);
    want_len += len;
    nd_free(enc);
    base += (int64_t)sizes[b];
  }
  nd_batches got;
  CHECK_OK(nd_read(s, "t", 0, 0, 1 << 20, &got));
  CHECK_EQ_I64(got.len, want_len);
  CHECK(got.len == want_len && !memcmp(got.data, want, want_len));
  nd_free(got.data);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

/* The header fields and the records decode as given. */
static void encode_fields(void) {
  nd_record r[6];
  make_records(r, 6, 5000);
  void *enc = NULL;
  size_t len = 0;
  CHECK_OK(nd_batch_encode(r, 6, 42, 0, 0, &enc, &len));
  nd_batch_info info;
  CHECK_OK(nd_batch_check(enc, len, 1, &info));
  CHECK_EQ_I64(info.size, len);
  CHECK_EQ_I64(info.base_offset, 42);
  CHECK_EQ_I64(info.last_offset, 47);
  CHECK_EQ_I64(info.record_count, 6);
  CHECK_EQ_I64(info.magic, 2);
  CHECK_EQ_I64(info.attributes, 0);
  CHECK_EQ_I64(info.base_timestamp, 5000);
  CHECK_EQ_I64(info.max_timestamp, 5004);
  CHECK_EQ_I64(info.producer_id, -1);
  CHECK_EQ_I64(info.producer_epoch, -1);
  CHECK_EQ_I64(info.base_sequence, -1);
  CHECK(info.crc_ok);
  nd_iter it;
  nd_iter_init(&it, enc, len, 0, NULL);
  nd_record_view v;
  size_t i = 0;
  while (nd_iter_next(&it, &v) == 1) {
    CHECK(i < 6);
    if (i >= 6)
      break;
    CHECK_EQ_I64(v.offset, 42 + (int64_t)i);
    CHECK_EQ_I64(v.timestamp, r[i].timestamp);
    CHECK(!r[i].key ? !v.key
                    : v.key_len == r[i].key_len &&
                          !memcmp(v.key, r[i].key, v.key_len));
    CHECK(!r[i].value ? !v.value
                      : v.value_len == r[i].value_len &&
                            !memcmp(v.value, r[i].value, v.value_len));
    CHECK_EQ_I64(v.header_count, r[i].header_count);
    i++;
  }
  CHECK_EQ_I64(i, 6);
  nd_iter_close(&it);
  nd_free(enc);

  /* ND_TIMESTAMP_NOW takes now_ms; LogAppendTime stamps every record. */
  r[0].timestamp = ND_TIMESTAMP_NOW;
  CHECK_OK(nd_batch_encode(r, 1, 0, 777, 0, &enc, &len));
  CHECK_OK(nd_batch_check(enc, len, 1, &info));
  CHECK_EQ_I64(info.max_timestamp, 777);
  nd_free(enc);
  make_records(r, 3, 5000);
  CHECK_OK(
      nd_batch_encode(r, 3, 0, 9999, ND_BATCH_LOG_APPEND_TIME, &enc, &len));
  CHECK_OK(nd_batch_check(enc, len, 1, &info));
  CHECK_EQ_I64(info.attributes & ND_BATCH_ATTR_LOG_APPEND_TIME,
               ND_BATCH_ATTR_LOG_APPEND_TIME);
  CHECK_EQ_I64(info.max_timestamp, 9999);
  nd_iter_init(&it, enc, len, 0, NULL);
  while (nd_iter_next(&it, &v) == 1)
    CHECK_EQ_I64(v.timestamp, 9999);
  nd_iter_close(&it);
  nd_free(enc);
}

static void encode_errors(void) {
  nd_record r[2];
  make_records(r, 2, 1);
  void *enc = (void *)1;
  size_t len = 7;
  CHECK_RC(nd_batch_encode(r, 0, 0, 0, 0, &enc, &len), ND_EINVAL);
  CHECK(enc == NULL && len == 0);
  CHECK_RC(nd_batch_encode(NULL, 1, 0, 0, 0, &enc, &len), ND_EINVAL);
  CHECK_RC(nd_batch_encode(r, 1, 0, 0, 0, NULL, &len), ND_EINVAL);
  CHECK_RC(nd_batch_encode(r, 1, 0, 0, 0x100, &enc, &len), ND_EINVAL);
  CHECK(strstr(nd_errmsg(), "flags") != NULL);
  nd_header bad = {.key = NULL, .key_len = 0};
  r[0].headers = &bad;
  r[0].header_count = 1;
  CHECK_RC(nd_batch_encode(r, 1, 0, 0, 0, &enc, &len), ND_EINVAL);
  CHECK(strstr(nd_errmsg(), "NULL key") != NULL);
  CHECK(enc == NULL);
}

static void check_and_crc(void) {
  nd_record r[3];
  make_records(r, 3, 1000);
  void *enc = NULL;
  size_t len = 0;
  CHECK_OK(nd_batch_encode(r, 3, 0, 0, 0, &enc, &len));
  uint8_t *b = enc;
  nd_batch_info info;
  /* Short: the header there says how much the batch needs. */
  CHECK_RC(nd_batch_check(b, len - 1, 1, &info), 1);
  CHECK_EQ_I64(info.size, len);
  CHECK_RC(nd_batch_check(b, 20, 1, &info), 1);
  CHECK_RC(nd_batch_check(b, 0, 1, NULL), 1);
  /* A changed byte under the CRC: caught only when the CRC is checked. */
  b[len - 1] ^= 0x55;
  CHECK_RC(nd_batch_check(b, len, 1, &info), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "CRC") != NULL);
  CHECK_OK(nd_batch_check(b, len, 0, &info));
  CHECK(!info.crc_ok);
  /* nd_batch_set_crc makes the change part of the batch. */
  CHECK_OK(nd_batch_set_crc(b, len));
  CHECK_OK(nd_batch_check(b, len, 1, &info));
  CHECK(info.crc_ok);
  CHECK_RC(nd_batch_set_crc(b, len - 1), ND_EINVAL);
  CHECK_RC(nd_batch_set_crc(NULL, len), ND_EINVAL);
  /* Header damage, whatever the CRC. */
  b[16] = 1;
  CHECK_RC(nd_batch_check(b, len, 0, NULL), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "magic") != NULL);
  b[16] = 2;
  b[57] = 0x80; /* recordCount < 0 */
  CHECK_RC(nd_batch_check(b, len, 0, NULL), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "negative") != NULL);
  b[57] = 0;
  uint8_t save[4];
  memcpy(save, b + 8, 4);
  memcpy(b + 8, "\0\0\0\x0a", 4); /* batchLength 10 < 49 */
  CHECK_RC(nd_batch_check(b, len, 0, NULL), ND_EBATCH);
  CHECK(strstr(nd_errmsg(), "49") != NULL);
  memcpy(b + 8, save, 4);
  CHECK_OK(nd_batch_check(b, len, 1, NULL));
  CHECK_EQ_I64(strcmp(nd_codec_name(ND_CODEC_ZSTD), "zstd"), 0);
  CHECK_EQ_I64(strcmp(nd_codec_name(0x10 | ND_CODEC_GZIP), "gzip"), 0);
  CHECK_EQ_I64(strcmp(nd_codec_name(7), "unknown"), 0);
  nd_free(enc);
}

int main(void) {
  RUN(encode_matches_append);
  RUN(encode_fields);
  RUN(encode_errors);
  RUN(check_and_crc);
  TEST_MAIN_END();
}
