/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logline.c — the broker's stderr lines: timestamp, level, component,
 * message, as text or JSON, with repeated shapes rate limited (see
 * logline.h).
 */
#include "logline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

const char *blog_level_name(int level) {
  return level >= 0 && level <= BLOG_DEBUG ? level_names[level] : "INFO";
}

int blog_parse_level(const char *s) {
  for (int i = 0; i <= BLOG_DEBUG; i++)
    if (!strcasecmp(s, level_names[i]))
      return i;
  return !strcasecmp(s, "warning") ? BLOG_WARN : -1;
}

/* An output buffer that truncates: text goes in only up to lim, whole
 * escapes or nothing, so what closes a JSON line (quotes, braces, the
 * newline: put_close) always fits between lim and cap. */
typedef struct obuf {
  char *p;
  size_t len, lim, cap;
  int cut; /* something did not fit */
} obuf;

#define OBUF_CLOSING 32

static void put_n(obuf *o, const char *s, size_t n) {
  if (o->len + n > o->lim) {
    o->cut = 1;
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void put_s(obuf *o, const char *s) {
  put_n(o, s, strlen(s));
}

static void put_close(obuf *o, const char *s) {
  size_t n = strlen(s);
  if (o->len + n + 1 < o->cap) {
    memcpy(o->p + o->len, s, n);
    o->len += n;
  }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t need = s[0] >= 0xf0 && s[0] <= 0xf4   ? 4
                : s[0] >= 0xe0                 ? 3
                : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                                               : 0;
  if (!need || need > n)
    return 0;
  for (size_t i = 1; i < need; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return need;
}

/* s (n bytes, or to its NUL when n < 0) escaped: in JSON as a string's
 * contents, in text with control characters as \xNN, so a client id with
 * a newline cannot start a line of its own. */
static void put_esc(obuf *o, const char *s, int n, int json) {
  size_t len = n < 0 ? strlen(s) : (size_t)n;
  char esc[8];
  for (size_t i = 0; i < len && !o->cut; i++) {
    unsigned char c = (unsigned char)s[i];
    if (json && (c == '"' || c == '\\')) {
      esc[0] = '\\';
      esc[1] = (char)c;
      put_n(o, esc, 2);
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", c);
      put_s(o, esc);
    } else if (c < 0x80 || !json) {
      put_n(o, s + i, 1);
    } else {
      size_t k = utf8_len((const unsigned char *)s + i, len - i);
      if (!k) {
        put_s(o, "\\ufffd"); /* JSON must be UTF-8 */
        continue;
      }
      put_n(o, s + i, k);
      i += k - 1;
    }
  }
}

size_t logline_format(char *out, size_t cap, int json, int64_t unix_ms,
                      int level, const char *component, const blog_field *f,
                      size_t nf, const char *msg) {
  if (cap < OBUF_CLOSING + 64) {
    if (cap)
      out[0] = 0;
    return 0;
  }
  obuf o = {out, 0, cap - OBUF_CLOSING, cap, 0};
  time_t secs = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char ts[64];
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(unix_ms % 1000));
  if (!json) {
    char head[96];
    snprintf(head, sizeof head, "%s %-5s %s: ", ts, blog_level_name(level),
             component);
    put_s(&o, head);
    put_esc(&o, msg, -1, 0);
  } else {
    put_s(&o, "{\"ts\":\"");
    put_s(&o, ts);
    put_s(&o, "\",\"level\":\"");
    put_s(&o, blog_level_name(level));
    put_s(&o, "\",\"component\":\"");
    put_esc(&o, component, -1, 1);
    put_s(&o, "\",\"msg\":\"");
    put_esc(&o, msg, -1, 1);
    put_close(&o, "\"");
    for (size_t i = 0; i < nf && !o.cut; i++) {
      size_t at = o.len;
      put_s(&o, ",\"");
      put_esc(&o, f[i].key, -1, 1);
      put_s(&o, "\":");
      if (f[i].str) {
        put_s(&o, "\"");
        put_esc(&o, f[i].str, f[i].len, 1);
        put_s(&o, "\"");
      } else {
        char num[24];
        snprintf(num, sizeof num, "%" PRId64, f[i].num);
        put_s(&o, num);
      }
      if (o.cut)
        o.len = at; /* no half field */
    }
    put_close(&o, o.cut ? ",\"truncated\":true}" : "}");
  }
  o.p[o.len++] = '\n';
  o.p[o.len] = 0;
  return o.len;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static logline_limiter limiter;
static int log_level = BLOG_INFO;
static int log_json;

void blog_setup(int level, int json) {
  log_level = level;
  log_json = json;
}

int blog_enabled(int level) {
  return level <= log_level;
}

void blog(int level, const char *component, const blog_field *f, size_t nf,
          const char *fmt, ...) {
  if (level > log_level)
    return;
  char msg[1024], line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  int64_t now = (int64_t)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
  int64_t unix_ms = (int64_t)real.tv_sec * 1000 + real.tv_nsec / 1000000;
  long held;
  pthread_mutex_lock(&log_lock);
  if (logline_admit(&limiter, msg, now, &held)) {
    if (held) {
      char note[160];
      snprintf(note, sizeof note,
               "%ld more line%s like the next one held back in the last %d s",
               held, held == 1 ? "" : "s", LOGLINE_WINDOW_MS / 1000);
      blog_field hf = BLOG_NUM("held_back", held);
      size_t n = logline_format(line, sizeof line, log_json, unix_ms, level,
                                component, &hf, 1, note);
      fwrite(line, 1, n, stderr);
    }
    size_t n = logline_format(line, sizeof line, log_json, unix_ms, level,
                              component, f, nf, msg);
    fwrite(line, 1, n, stderr);
  }
  pthread_mutex_unlock(&log_lock);
}
