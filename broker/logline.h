/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logline.h — the broker's log lines on stderr: a timestamp, a level, a
 * component and the message, as text or as one JSON object per line, with
 * floods held back.
 *
 * Text:  2026-12-05T16:50:01.123Z INFO  serve: listening on 127.0.0.1:9092
 * JSON:  {"ts":"2026-12-05T16:50:01.123Z","level":"INFO",
 *         "component":"serve","msg":"listening on ...","topic":"t",...}
 * (the JSON fields after msg are the line's structured facts, for log
 * shippers; the text line says the same facts in its message).
 *
 * A failing disk or a misbehaving client can make the same line repeat
 * thousands of times a second (issue 15 counted 1,048 "No space left"
 * lines in 20 s), burying everything else. Lines are grouped by shape (the
 * text with every run of digits treated as one number, so byte positions
 * and ports do not make lines distinct); within a window of
 * LOGLINE_WINDOW_MS at most LOGLINE_BURST lines of one shape are printed,
 * and the next line of that shape after the window says how many were
 * held back. Lines below the level in effect are dropped before the
 * limiter sees them.
 */
#ifndef ND_LOGLINE_H
#define ND_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

#define LOGLINE_WINDOW_MS 10000
#define LOGLINE_BURST 5
#define LOGLINE_SHAPES 64

/* Levels, most severe first; the library's nd_log_level values (ERROR 0,
 * WARN 1, INFO 2) are the same numbers. */
enum blog_level {
  BLOG_ERROR = 0,
  BLOG_WARN = 1,
  BLOG_INFO = 2,
  BLOG_DEBUG = 3
};

typedef struct logline_shape {
  uint64_t key;    /* shape hash, 0 = unused */
  int64_t start;   /* window start, ms */
  int printed;     /* lines printed in this window */
  long suppressed; /* lines held back in this window */
} logline_shape;

typedef struct logline_limiter {
  logline_shape shapes[LOGLINE_SHAPES];
} logline_limiter;

/* One structured fact of a line: a string (str != NULL, at most len bytes
 * when len >= 0, else NUL-terminated) or a number (str == NULL). */
typedef struct blog_field {
  const char *key;
  const char *str;
  int len;
  int64_t num;
} blog_field;

#define BLOG_STR(k, s) ((blog_field){.key = (k), .str = (s), .len = -1})
#define BLOG_STRN(k, s, n) ((blog_field){.key = (k), .str = (s), .len = (n)})
#define BLOG_NUM(k, v) ((blog_field){.key = (k), .num = (int64_t)(v)})

/* Decide whether `line`, met at now_ms, is printed: 1 or 0. When it is and
 * lines of its shape were held back before, *held gets their count (else
 * 0). Not thread-safe: the caller serialises (blog does). */
int logline_admit(logline_limiter *l, const char *line, int64_t now_ms,
                  long *held);

/* Format one line (with its newline) into out, truncated to cap: text or
 * JSON, at unix_ms. Control characters a client chose (a client id) are
 * escaped in both forms, so no one can forge a line. Returns the length. */
size_t logline_format(char *out, size_t cap, int json, int64_t unix_ms,
                      int level, const char *component, const blog_field *f,
                      size_t nf, const char *msg);

/* "error", "warn", "info", "debug" (or "warning") -> level; -1 if none. */
int blog_parse_level(const char *s);
const char *blog_level_name(int level); /* "ERROR", ... */

/* The level and form in effect (default: info, text). Set once at start. */
void blog_setup(int level, int json);
/* 1 when a line at `level` would be printed (skip building costly ones). */
int blog_enabled(int level);

/* Print one line on stderr unless its level is filtered or the limiter
 * holds it back. Thread-safe. */
void blog(int level, const char *component, const blog_field *f, size_t nf,
          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define blog_error(comp, ...) blog(BLOG_ERROR, comp, NULL, 0, __VA_ARGS__)
#define blog_warn(comp, ...) blog(BLOG_WARN, comp, NULL, 0, __VA_ARGS__)
#define blog_info(comp, ...) blog(BLOG_INFO, comp, NULL, 0, __VA_ARGS__)
#define blog_debug(comp, ...) blog(BLOG_DEBUG, comp, NULL, 0, __VA_ARGS__)

#endif
