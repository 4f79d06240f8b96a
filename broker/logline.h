/*
 * logline.h — the broker's log lines on stderr, with floods held back.
 *
 * A failing disk or a misbehaving client can make the same line repeat
 * thousands of times a second (issue 15 counted 1,048 "No space left"
 * lines in 20 s), burying everything else. Lines are grouped by shape (the
 * text with every run of digits treated as one number, so byte positions
 * and ports do not make lines distinct); within a window of
 * LOGLINE_WINDOW_MS at most LOGLINE_BURST lines of one shape are printed,
 * and the next line of that shape after the window says how many were
 * held back.
 */
#ifndef ND_LOGLINE_H
#define ND_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

#define LOGLINE_WINDOW_MS 10000
#define LOGLINE_BURST 5
#define LOGLINE_SHAPES 64

typedef struct logline_shape {
  uint64_t key;    /* shape hash, 0 = unused */
  int64_t start;   /* window start, ms */
  int printed;     /* lines printed in this window */
  long suppressed; /* lines held back in this window */
} logline_shape;

typedef struct logline_limiter {
  logline_shape shapes[LOGLINE_SHAPES];
} logline_limiter;

/* Decide whether `line`, met at now_ms, is printed: 1 or 0. When it is and
 * lines of its shape were held back before, *held gets their count (else
 * 0). Not thread-safe: the caller serialises (broker_log does). */
int logline_admit(logline_limiter *l, const char *line, int64_t now_ms,
                  long *held);

/* Print "nodata: <formatted>" on stderr unless the limiter holds it back.
 * Thread-safe. */
void broker_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
