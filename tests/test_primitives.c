/* SPDX-License-Identifier: Apache-2.0 */
/* Primitives checked against published vectors: CRC-32C (RFC 3720), SHA-256
 * (FIPS 180-2), Kafka's murmur2 (values from Kafka's UtilsTest), zigzag
 * varints at their edges, and the topic name rule. */
#include "test.h"

#include "nodata_testing.h"

static void crc32c_vectors(void) {
  /* RFC 3720 B.4 and the common "123456789" check value. */
  uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
  for (int i = 0; i < 32; i++) {
    ones[i] = 0xff;
    inc[i] = (uint8_t)i;
    dec[i] = (uint8_t)(31 - i);
  }
  CHECK_EQ_I64(nd_crc32c(0, "123456789", 9), 0xE3069283u);
  CHECK_EQ_I64(nd_crc32c(0, zeros, 32), 0x8A9136AAu);
  CHECK_EQ_I64(nd_crc32c(0, ones, 32), 0x62A8AB43u);
  CHECK_EQ_I64(nd_crc32c(0, inc, 32), 0x46DD794Eu);
  CHECK_EQ_I64(nd_crc32c(0, dec, 32), 0x113FDB5Cu);
  /* Both implementations, every alignment, lengths around the three-lane
   * path's 3 KiB blocks, and chaining. */
  static uint8_t buf[10000];
  for (int i = 0; i < 10000; i++)
    buf[i] = (uint8_t)(i * 7 + 3 + (i >> 8));
  for (size_t off = 0; off < 9; off++)
    for (size_t len = 0; len + off <= 10000;
         len += len < 300 ? 13 : (len < 3000 ? 257 : 61)) {
      uint32_t sw = nd_test_crc32c_sw(0, buf + off, len);
#if defined(__x86_64__)
      if (nd_test_crc32c_hw_available())
        CHECK_EQ_I64(nd_test_crc32c_hw(0, buf + off, len), sw);
#endif
      CHECK_EQ_I64(nd_crc32c(nd_crc32c(0, buf + off, len / 2),
                             buf + off + len / 2, len - len / 2),
                   sw);
    }
}

static void sha256_vectors(void) {
  char hex[65];
  nd_topic_dirname("abc", hex);
  CHECK(!strcmp(
      hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  nd_topic_dirname("", hex);
  CHECK(!strcmp(
      hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  nd_topic_dirname("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                   hex);
  CHECK(!strcmp(
      hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
}

static void murmur2_vectors(void) {
  /* Kafka's UtilsTest.testMurmur2 cases. */
  CHECK_EQ_I64(nd_murmur2("21", 2), -973932308);
  CHECK_EQ_I64(nd_murmur2("foobar", 6), -790332482);
  CHECK_EQ_I64(nd_murmur2("a-little-bit-long-string", 24), -985981536);
  CHECK_EQ_I64(nd_murmur2("a-little-bit-longer-string", 26), -1486304829);
  CHECK_EQ_I64(
      nd_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48),
      -58897971);
  const uint8_t k[] = {'a', 'b', 'c'};
  CHECK_EQ_I64(nd_murmur2(k, 3), 479470107);
  /* Partition = positive hash mod count. */
  CHECK_EQ_I64(nd_partition_for_key("foobar", 6, 10),
               (int64_t)((uint32_t)-790332482 & 0x7fffffff) % 10);
}

static void varint_edges(void) {
  int64_t vals[] = {0,         -1,        1,         63,    -64,
                    64,        -65,       8191,      -8192, INT32_MAX,
                    INT32_MIN, INT64_MAX, INT64_MIN, 300,   -300};
  size_t sizes[] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 5, 5, 10, 10, 2, 2};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    uint8_t buf[16];
    size_t n = nd_test_varint_write(buf, vals[i]);
    CHECK_EQ_I64(n, sizes[i]);
    CHECK_EQ_I64(nd_test_varint_size(vals[i]), n);
    const uint8_t *p = buf;
    int64_t back;
    CHECK_OK(nd_test_varint_read(&p, buf + n, &back));
    CHECK_EQ_I64(back, vals[i]);
    CHECK(p == buf + n);
    /* Any truncation fails rather than reading past the end. */
    for (size_t cut = 0; cut < n; cut++) {
      p = buf;
      CHECK(nd_test_varint_read(&p, buf + cut, &back) == -1);
    }
  }
  /* Known encodings: zigzag(-1) = 1, zigzag(1) = 2, 300 -> d8 04. */
  uint8_t b[4];
  nd_test_varint_write(b, -1);
  CHECK_EQ_I64(b[0], 1);
  nd_test_varint_write(b, 300);
  CHECK(b[0] == 0xd8 && b[1] == 0x04);
  /* Eleven continuation bytes are rejected. */
  uint8_t over[11];
  memset(over, 0xff, sizeof over);
  const uint8_t *p = over;
  int64_t v;
  CHECK(nd_test_varint_read(&p, over + sizeof over, &v) == -1);
}

static void topic_names(void) {
  CHECK_OK(nd_topic_name_valid("orders"));
  CHECK_OK(nd_topic_name_valid("a.b_c-D9"));
  char longest[250];
  memset(longest, 'x', 249);
  longest[249] = '\0';
  CHECK_OK(nd_topic_name_valid(longest));
  char too_long[251];
  memset(too_long, 'x', 250);
  too_long[250] = '\0';
  CHECK_RC(nd_topic_name_valid(too_long), ND_ETOPICNAME);
  CHECK(strstr(nd_errmsg(), "250") != NULL);
  CHECK_RC(nd_topic_name_valid(""), ND_ETOPICNAME);
  CHECK_RC(nd_topic_name_valid("."), ND_ETOPICNAME);
  CHECK_RC(nd_topic_name_valid(".."), ND_ETOPICNAME);
  CHECK_RC(nd_topic_name_valid("a/b"), ND_ETOPICNAME);
  CHECK(strstr(nd_errmsg(), "position 1") != NULL);
  CHECK_RC(nd_topic_name_valid("sp ace"), ND_ETOPICNAME);
  CHECK_RC(nd_topic_name_valid(NULL), ND_ETOPICNAME);
}

static void config_text(void) {
  nd_topic_config c;
  nd_topic_config_init(&c);
  CHECK_OK(nd_topic_config_set(&c, "retention.ms", "-1"));
  CHECK_EQ_I64(c.retention_ms, -1);
  CHECK_OK(nd_topic_config_set(&c, "fsync", "interval=250"));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_INTERVAL);
  CHECK_EQ_I64(c.fsync_interval_ms, 250);
  CHECK_OK(nd_topic_config_set(&c, "fsync", "always"));
  CHECK_EQ_I64(c.fsync, ND_FSYNC_ALWAYS);
  char buf[64];
  CHECK_OK(nd_topic_config_get(&c, "fsync", buf, sizeof buf));
  CHECK(!strcmp(buf, "always"));
  CHECK_OK(nd_topic_config_set(&c, "message.timestamp.type", "LogAppendTime"));
  CHECK_OK(nd_topic_config_get(&c, "message.timestamp.type", buf, sizeof buf));
  CHECK(!strcmp(buf, "LogAppendTime"));
  CHECK_RC(nd_topic_config_set(&c, "no.such", "1"), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "no.such") != NULL);
  CHECK_RC(nd_topic_config_set(&c, "segment.bytes", "12"), ND_ECONFIG);
  CHECK(strstr(nd_errmsg(), "Value must be at least 14") != NULL);
  CHECK_RC(nd_topic_config_set(&c, "segment.bytes", "12x"), ND_ECONFIG);
  CHECK_RC(nd_topic_config_set(&c, "fsync", "sometimes"), ND_ECONFIG);
  CHECK_RC(nd_topic_config_get(&c, "segment.bytes", buf, 3), ND_EINVAL);
  /* Every listed name round-trips through get and set. */
  for (const char *const *n = nd_topic_config_names(); *n; n++) {
    nd_topic_config d;
    nd_topic_config_init(&d);
    CHECK_OK(nd_topic_config_get(&c, *n, buf, sizeof buf));
    CHECK_OK(nd_topic_config_set(&d, *n, buf));
    char again[64];
    CHECK_OK(nd_topic_config_get(&d, *n, again, sizeof again));
    CHECK(!strcmp(buf, again));
  }
}

static void error_text(void) {
  CHECK(!strcmp(nd_errname(ND_ENOTOPIC), "ND_ENOTOPIC"));
  CHECK(!strcmp(nd_strerror(ND_ERANGE), "offset out of range"));
  CHECK(!strcmp(nd_errname(-ENOSPC), "ENOSPC"));
  CHECK(strlen(nd_strerror(-EIO)) > 0);
  CHECK(!strcmp(nd_strerror(0), "success"));
}

int main(void) {
  RUN(crc32c_vectors);
  RUN(sha256_vectors);
  RUN(murmur2_vectors);
  RUN(varint_edges);
  RUN(topic_names);
  RUN(config_text);
  RUN(error_text);
  TEST_MAIN_END();
}
