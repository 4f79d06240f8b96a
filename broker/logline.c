/*
 * logline.c — the broker's stderr lines, with repeated shapes rate limited
 * (see logline.h).
 */
#include "logline.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* FNV-1a over the line, with each run of digits hashed as one '#'. */
static uint64_t shape_key(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) {
    unsigned char c = (unsigned char)*s++;
    if (c >= '0' && c <= '9') {
      while (*s >= '0' && *s <= '9')
        s++;
      c = '#';
    }
    h = (h ^ c) * 1099511628211ull;
  }
  return h ? h : 1;
}

int logline_admit(logline_limiter *l, const char *line, int64_t now_ms,
                  long *held) {
  uint64_t key = shape_key(line);
  logline_shape *slot = &l->shapes[key % LOGLINE_SHAPES];
  *held = 0;
  if (slot->key != key) {
    /* A new shape takes the slot (a collision only resets a count). */
    *slot = (logline_shape){.key = key, .start = now_ms};
  } else if (now_ms - slot->start >= LOGLINE_WINDOW_MS) {
    *held = slot->suppressed;
    slot->start = now_ms;
    slot->printed = 0;
    slot->suppressed = 0;
  }
  if (slot->printed >= LOGLINE_BURST) {
    slot->suppressed++;
    return 0;
  }
  slot->printed++;
  return 1;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static logline_limiter limiter;

void broker_log(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  long held;
  pthread_mutex_lock(&log_lock);
  if (logline_admit(&limiter, line, now, &held)) {
    if (held)
      fprintf(stderr,
              "nodata: %ld more line%s like the next one held back in the "
              "last %d s\n",
              held, held == 1 ? "" : "s", LOGLINE_WINDOW_MS / 1000);
    fprintf(stderr, "nodata: %s\n", line);
  }
  pthread_mutex_unlock(&log_lock);
}
