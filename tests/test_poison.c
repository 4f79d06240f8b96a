/* SPDX-License-Identifier: Apache-2.0 */
/* Batches that would poison a partition: control batches from anyone but a
 * marker writer, and records whose timestamps are out of the topic's
 * message.timestamp.{before,after}.max.ms bounds. */
#include "test.h"

#include <time.h>

#include "bytes.h"

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One uncompressed batch of n records with the given timestamps, as a
 * client builds it (base offset 0), with extra attribute bits. */
static uint8_t *make_batch(const int64_t *ts, size_t n, uint16_t attrs,
                           size_t *len) {
  nd_record r[8];
  for (size_t i = 0; i < n; i++)
    r[i] = (nd_record){"k", 1, "v", 1, NULL, 0, ts[i]};
  void *enc = NULL;
  size_t size = 0;
  if (nd_batch_encode(r, n, 0, 0, 0, &enc, &size) != 0)
    return NULL;
  uint8_t *buf = enc;
  put_be16(buf + 21, (uint16_t)(be16(buf + 21) | attrs));
  nd_batch_set_crc(buf, (size_t)size);
  *len = (size_t)size;
  return buf;
}

static int64_t end_offset(nd_store *s, const char *topic) {
  int64_t hw = -1;
  nd_offsets(s, topic, 0, NULL, &hw);
  return hw;
}

static void control_batches(void) {
  char *dir = tmpdir_make("poison");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  int64_t now = wall_ms();
  int64_t ts[2] = {now, now};
  size_t len;
  uint8_t *b = make_batch(ts, 2, ND_BATCH_ATTR_CONTROL, &len);
  CHECK(b);
  CHECK_RC(nd_append_batch(s, "t", 0, b, len, 0, NULL), ND_ECONTROL);
  CHECK(strcmp(nd_errmsg(), "Clients are not allowed to write control "
                            "records in topic partition t-0") == 0);
  CHECK_EQ_I64(end_offset(s, "t"), 0);
  /* A good batch before it in the same call: nothing of the call is
   * stored. */
  size_t glen;
  uint8_t *g = make_batch(ts, 1, 0, &glen);
  CHECK(g);
  uint8_t *two = malloc(glen + len);
  CHECK(two);
  memcpy(two, g, glen);
  memcpy(two + glen, b, len);
  CHECK_RC(nd_append_batch(s, "t", 0, two, glen + len, 0, NULL), ND_ECONTROL);
  CHECK_EQ_I64(end_offset(s, "t"), 0);
  free(two);
  /* Also with the transactional bit, as a real marker has. */
  put_be16(b + 21, ND_BATCH_ATTR_CONTROL | ND_BATCH_ATTR_TRANSACTIONAL);
  nd_batch_set_crc(b, len);
  CHECK_RC(nd_append_batch(s, "t", 0, b, len, 0, NULL), ND_ECONTROL);
  /* A marker writer says so; readers skip the batch. */
  CHECK_OK(nd_append_batch(s, "t", 0, g, glen, 0, NULL));
  CHECK_OK(nd_append_batch(s, "t", 0, b, len, ND_APPEND_CONTROL, NULL));
  CHECK_EQ_I64(end_offset(s, "t"), 3);
  /* A transactional batch is judged by the transaction coordinator
   * (test_txn_coord.c): without a producer id it is malformed, with one
   * no transactional id has it is refused; nothing is stored. */
  put_be16(g + 21, ND_BATCH_ATTR_TRANSACTIONAL);
  nd_batch_set_crc(g, glen);
  CHECK_RC(nd_append_batch(s, "t", 0, g, glen, 0, NULL), ND_EBATCH);
  put_be64(g + 43, 12345);
  put_be16(g + 51, 0);
  nd_batch_set_crc(g, glen);
  CHECK_RC(nd_append_batch(s, "t", 0, g, glen, 0, NULL), ND_EPRODUCERID);
  CHECK_EQ_I64(end_offset(s, "t"), 3);
  free(g);
  free(b);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void timestamp_bounds(void) {
  char *dir = tmpdir_make("poison");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  CHECK_EQ_I64(cfg.timestamp_before_max_ms, INT64_MAX);
  CHECK_EQ_I64(cfg.timestamp_after_max_ms, 3600000);
  CHECK_OK(nd_topic_create(s, "dflt", 1, &cfg));
  CHECK_OK(
      nd_topic_config_set(&cfg, "message.timestamp.before.max.ms", "86400000"));
  CHECK_OK(
      nd_topic_config_set(&cfg, "message.timestamp.after.max.ms", "60000"));
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  int64_t now = wall_ms();
  const int64_t day = 86400000, hour = 3600000;

  /* nd_append: an explicit timestamp two days old is refused. */
  nd_record r = {"k", 1, "v", 1, NULL, 0, now - 2 * day};
  CHECK_RC(nd_append(s, "t", 0, &r, 1, 0, NULL), ND_ETIMESTAMP);
  CHECK(strstr(nd_errmsg(), "is out of range. The timestamp should be "
                            "within [") != NULL);
  const nd_record_error *e;
  int64_t lo, hi;
  CHECK_EQ_I64(nd_record_errors(&e, &lo, &hi), 1);
  CHECK_EQ_I64(e[0].batch_index, 0);
  CHECK_EQ_I64(e[0].timestamp, now - 2 * day);
  CHECK_EQ_I64(hi - lo, day + 60000);
  CHECK(lo <= now - day + 1000 && lo >= now - day - 60000);
  /* The list lasts until the next call. */
  CHECK_EQ_I64(end_offset(s, "t"), 0);
  CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 0);
  r.timestamp = now - hour;
  CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  r.timestamp = ND_TIMESTAMP_NOW;
  CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));

  /* nd_append_batch: every refused record is listed, with the offset the
   * client gave it; -1 (no timestamp) is never refused. */
  int64_t ts[5] = {now, now + 2 * hour, -1, now - 3 * day, now + 1000};
  size_t len;
  uint8_t *b = make_batch(ts, 5, 0, &len);
  CHECK(b);
  CHECK_RC(nd_append_batch(s, "t", 0, b, len, 0, NULL), ND_ETIMESTAMP);
  CHECK(strstr(nd_errmsg(), "of message with offset 1 is out of range") !=
        NULL);
  CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 2);
  CHECK_EQ_I64(e[0].batch_index, 1);
  CHECK_EQ_I64(e[0].offset, 1);
  CHECK_EQ_I64(e[0].timestamp, now + 2 * hour);
  CHECK_EQ_I64(e[1].batch_index, 3);
  CHECK_EQ_I64(e[1].timestamp, now - 3 * day);
  CHECK_EQ_I64(end_offset(s, "t"), 2);
  /* The same batch is fine where the bounds are Kafka's defaults, except
   * that two hours ahead is past the default hour. */
  CHECK_RC(nd_append_batch(s, "dflt", 0, b, len, 0, NULL), ND_ETIMESTAMP);
  CHECK_EQ_I64(nd_record_errors(&e, NULL, NULL), 1);
  CHECK_EQ_I64(e[0].batch_index, 1);
  free(b);
  int64_t ok[3] = {now - 3650 * day, -1, now + hour / 2};
  b = make_batch(ok, 3, 0, &len);
  CHECK(b);
  CHECK_OK(nd_append_batch(s, "dflt", 0, b, len, 0, NULL));
  free(b);
  /* Java's wrapping subtraction: near INT64_MIN, now - ts wraps negative,
   * so even an unlimited before.max.ms refuses it (as Kafka 4.4 does). */
  int64_t low[1] = {INT64_MIN + 5};
  b = make_batch(low, 1, 0, &len);
  CHECK(b);
  CHECK_RC(nd_append_batch(s, "dflt", 0, b, len, 0, NULL), ND_ETIMESTAMP);
  CHECK_EQ_I64(nd_record_errors(&e, &lo, NULL), 1);
  CHECK(lo >= now - INT64_MAX && lo <= now - INT64_MAX + 60000);
  free(b);

  /* LogAppendTime topics take the store's time: not checked. */
  nd_topic_config la;
  nd_topic_config_init(&la);
  la.timestamp_type = ND_TS_LOG_APPEND_TIME;
  la.timestamp_after_max_ms = 0;
  la.timestamp_before_max_ms = 0;
  CHECK_OK(nd_topic_create(s, "la", 1, &la));
  b = make_batch(ts, 5, 0, &len);
  CHECK(b);
  CHECK_OK(nd_append_batch(s, "la", 0, b, len, 0, NULL));
  free(b);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

static void timestamp_config(void) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  char buf[64];
  CHECK_OK(nd_topic_config_get(&cfg, "message.timestamp.before.max.ms", buf,
                               sizeof buf));
  CHECK(strcmp(buf, "9223372036854775807") == 0);
  CHECK_OK(nd_topic_config_get(&cfg, "message.timestamp.after.max.ms", buf,
                               sizeof buf));
  CHECK(strcmp(buf, "3600000") == 0);
  CHECK_RC(nd_topic_config_set(&cfg, "message.timestamp.after.max.ms", "-5"),
           ND_ECONFIG);
  CHECK_RC(nd_topic_config_set(&cfg, "message.timestamp.before.max.ms", "x"),
           ND_ECONFIG);
  /* Removed in Kafka 4.0: unknown, as Kafka 4.4 says. */
  CHECK_RC(
      nd_topic_config_set(&cfg, "message.timestamp.difference.max.ms", "5"),
      ND_ECONFIG);
  CHECK_OK(nd_topic_config_set(&cfg, "message.timestamp.after.max.ms", "0"));
  CHECK_OK(
      nd_topic_config_set(&cfg, "message.timestamp.before.max.ms", "1234"));

  /* Kept in topic.conf across a reopen. */
  char *dir = tmpdir_make("poison");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "t", 1, &cfg));
  CHECK_OK(nd_close(s));
  s = test_open_store(dir);
  CHECK(s);
  nd_topic_info info;
  CHECK_OK(nd_topic_describe(s, "t", &info));
  CHECK_EQ_I64(info.config.timestamp_after_max_ms, 0);
  CHECK_EQ_I64(info.config.timestamp_before_max_ms, 1234);
  /* after.max.ms 0: a record a minute ahead is refused. */
  nd_record r = {"k", 1, "v", 1, NULL, 0, wall_ms() + 60000};
  CHECK_RC(nd_append(s, "t", 0, &r, 1, 0, NULL), ND_ETIMESTAMP);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(control_batches);
  RUN(timestamp_bounds);
  RUN(timestamp_config);
  TEST_MAIN_END();
}
