/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_history.c — the console's sampler (console.h). Not sampling yet:
 * every history is empty.
 */
#include <stdlib.h>

#include "console.h"

struct console_history {
  int unused;
};

console_history *console_history_new(void) {
  return calloc(1, sizeof(console_history));
}

void console_history_free(console_history *h) {
  free(h);
}

void console_history_tick(console_history *h, nd_store *store, int64_t now_ms) {
  (void)h;
  (void)store;
  (void)now_ms;
}

size_t console_history_samples(const console_history *h, console_sample *out,
                               size_t cap) {
  (void)h;
  (void)out;
  (void)cap;
  return 0;
}

double console_history_topic_rate(const console_history *h, const char *topic) {
  (void)h;
  (void)topic;
  return -1;
}

size_t console_history_group_lag(const console_history *h, const char *group,
                                 int64_t *t_ms, int64_t *lag, size_t cap) {
  (void)h;
  (void)group;
  (void)t_ms;
  (void)lag;
  (void)cap;
  return 0;
}
