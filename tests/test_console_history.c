/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_console_history.c — the console's sampler (broker/console_history.c)
 * driven with a clock of its own: the first tick takes the baseline and no
 * sample; later ticks sample only once the interval passed; rates are the
 * counters' differences over the time between ticks, globally and per
 * topic; a topic first counted after the baseline counts from 0; a group's
 * lag is log end - committed summed over its partitions and follows
 * commits; a group that disappears keeps its samples; the ring keeps the
 * newest CONSOLE_HISTORY samples, oldest first; fsync quantiles are -1 for
 * an interval without fsyncs and within the histogram's bounds after
 * synced appends.
 *
 * The counters are the process's own (metrics.h), so each topic name here
 * is unique to this test.
 */
#include "test.h"

#include "console.h"
#include "metrics.h"

static void append_n(nd_store *s, const char *topic, int32_t p, int n,
                     unsigned flags) {
  for (int i = 0; i < n; i++) {
    nd_record r = {.value = "v", .value_len = 1, .timestamp = ND_TIMESTAMP_NOW};
    if (nd_append(s, topic, p, &r, 1, flags, NULL) != 0)
      fprintf(stderr, "append: %s\n", nd_errmsg());
  }
}

static void sampling(void) {
  char *dir = tmpdir_make("hist");
  nd_store *s = test_open_store(dir);
  CHECK(s);
  CHECK_OK(nd_topic_create(s, "hist-a", 2, NULL));
  CHECK_OK(nd_topic_create(s, "hist-b", 1, NULL));
  console_history *h = console_history_new();
  CHECK(h);
  int64_t iv = console_history_interval_ms(h);
  CHECK(iv >= 100);
  metrics_part *a0 = metrics_partition("hist-a", 0);
  metrics_part *a1 = metrics_partition("hist-a", 1);
  CHECK(a0 && a1);
  metrics_add(&a0->produced_records, 100);
  metrics_add(&a0->produced_bytes, 1000);

  int64_t t = 1000000;
  console_sample out[CONSOLE_HISTORY];
  console_history_tick(h, s, t); /* the baseline */
  CHECK(console_history_samples(h, out, CONSOLE_HISTORY) == 0);
  CHECK(console_history_topic_rate(h, "hist-a") == -1);

  /* Before the interval passes: nothing. */
  console_history_tick(h, s, t + iv - 1);
  CHECK(console_history_samples(h, out, CONSOLE_HISTORY) == 0);

  /* 2 s later: the counts since the baseline over 2 s. */
  metrics_add(&a0->produced_records, 30);
  metrics_add(&a1->produced_records, 10);
  metrics_add(&a1->produced_bytes, 400);
  metrics_add(&a1->fetched_records, 8);
  metrics_part *b0 = metrics_partition("hist-b", 0); /* new since the base */
  CHECK(b0);
  metrics_add(&b0->produced_records, 6);
  int64_t dt = iv > 2000 ? iv : 2000;
  console_history_tick(h, s, t + dt);
  CHECK(console_history_samples(h, out, CONSOLE_HISTORY) == 1);
  double secs = (double)dt / 1000.0;
  CHECK(out[0].t_ms == t + dt);
  CHECK(out[0].produce_records == 46 / secs);
  CHECK(out[0].produce_bytes == 400 / secs);
  CHECK(out[0].fetch_records == 8 / secs);
  CHECK(console_history_topic_rate(h, "hist-a") == 40 / secs);
  CHECK(console_history_topic_rate(h, "hist-b") == 6 / secs);
  /* Never counted: no traffic, a rate of 0. */
  CHECK(console_history_topic_rate(h, "hist-none") == 0);
  /* No fsync in the interval (no_background store, no sync appends). */
  CHECK(out[0].fsync_p50_ms == -1 && out[0].fsync_p99_ms == -1);

  /* Group lag: g1 committed 2 of hist-a/0's 5 and 0 of hist-a/1's 3. */
  append_n(s, "hist-a", 0, 5, ND_APPEND_SYNC);
  append_n(s, "hist-a", 1, 3, ND_APPEND_SYNC);
  CHECK_OK(nd_commit_offset(s, "g1", "hist-a", 0, 2, NULL));
  CHECK_OK(nd_commit_offset(s, "g1", "hist-a", 1, 0, NULL));
  t += dt;
  console_history_tick(h, s, t + iv);
  t += iv;
  int64_t ts[CONSOLE_HISTORY], lag[CONSOLE_HISTORY];
  CHECK(console_history_group_lag(h, "g1", ts, lag, CONSOLE_HISTORY) == 1);
  CHECK(ts[0] == t && lag[0] == 3 + 3);
  CHECK(console_history_group_lag(h, "nobody", ts, lag, CONSOLE_HISTORY) == 0);
  CHECK(console_history_samples(h, out, CONSOLE_HISTORY) == 2);
  /* The synced appends fsynced: quantiles within the histogram. */
  CHECK(out[1].fsync_p50_ms >= 0 && out[1].fsync_p50_ms <= out[1].fsync_p99_ms);
  CHECK(out[1].fsync_p99_ms <= 2500.0);
  CHECK(out[1].produce_records == 0); /* nd_append is not the broker's */

  /* The consumer catches up: the lag falls to 0. */
  CHECK_OK(nd_commit_offset(s, "g1", "hist-a", 0, 5, NULL));
  CHECK_OK(nd_commit_offset(s, "g1", "hist-a", 1, 3, NULL));
  console_history_tick(h, s, t + iv);
  t += iv;
  CHECK(console_history_group_lag(h, "g1", ts, lag, CONSOLE_HISTORY) == 2);
  CHECK(lag[0] == 6 && lag[1] == 0 && ts[1] == t);

  /* The group is deleted: its past samples stay, no new ones. */
  CHECK_OK(nd_group_delete(s, "g1"));
  console_history_tick(h, s, t + iv);
  t += iv;
  CHECK(console_history_group_lag(h, "g1", ts, lag, CONSOLE_HISTORY) == 2);

  /* The ring: CONSOLE_HISTORY newest, oldest first. */
  for (int i = 0; i < CONSOLE_HISTORY + 5; i++) {
    t += iv;
    console_history_tick(h, s, t);
  }
  size_t n = console_history_samples(h, out, CONSOLE_HISTORY);
  CHECK(n == CONSOLE_HISTORY);
  CHECK(out[n - 1].t_ms == t);
  for (size_t i = 1; i < n; i++)
    CHECK(out[i].t_ms == out[i - 1].t_ms + iv);
  /* A whole ring later, the deleted group is forgotten. */
  CHECK(console_history_group_lag(h, "g1", ts, lag, CONSOLE_HISTORY) == 0);
  /* Fewer than asked: the newest. */
  CHECK(console_history_samples(h, out, 3) == 3 && out[2].t_ms == t);

  console_history_free(h);
  CHECK_OK(nd_close(s));
  tmpdir_remove(dir);
}

int main(void) {
  RUN(sampling);
  TEST_MAIN_END();
}
