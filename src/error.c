/* SPDX-License-Identifier: Apache-2.0 */
/*
 * error.c — error codes, their text, and the per-thread message with
 * context that nd_errmsg() returns. One X-macro table (nodata.h) yields the
 * enum, nd_strerror and nd_errname, so they cannot drift apart.
 */
#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_message[1024];

/* Records an append refused one by one (nd_record_errors). The array is
 * reached through a thread-specific key too, so that it is freed when its
 * thread ends. */
typedef struct record_errors {
  nd_record_error *items;
  size_t n, cap;
  int64_t lo, hi;
} record_errors;
static _Thread_local record_errors rec_errs;
static pthread_key_t rec_key;
static pthread_once_t rec_once = PTHREAD_ONCE_INIT;
static int rec_key_ok;

static void rec_free(void *p) {
  free(p);
}

static void rec_key_make(void) {
  rec_key_ok = pthread_key_create(&rec_key, rec_free) == 0;
}

const char *nd_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define ND__TEXT(name, value, text)                                            \
  case value:                                                                  \
    return text;
    ND_ERRORS(ND__TEXT)
#undef ND__TEXT
  default:
    break;
  }
  if (err < 0 && err > -4096)
    return strerror(-err);
  return "unknown error";
}

const char *nd_errname(int err) {
  switch (err) {
  case 0:
    return "ND_OK";
#define ND__NAME(name, value, text)                                            \
  case value:                                                                  \
    return #name;
    ND_ERRORS(ND__NAME)
#undef ND__NAME
  case -ENOENT:
    return "ENOENT";
  case -ENOSPC:
    return "ENOSPC";
  case -EIO:
    return "EIO";
  case -EACCES:
    return "EACCES";
  case -EEXIST:
    return "EEXIST";
  case -ENOTDIR:
    return "ENOTDIR";
  case -EMFILE:
    return "EMFILE";
  case -EDQUOT:
    return "EDQUOT";
  case -EROFS:
    return "EROFS";
  default:
    return err < 0 ? "OS error" : "unknown";
  }
}

const char *nd_errmsg(void) {
  return last_message;
}

void nd_clear_error(void) {
  last_message[0] = '\0';
  rec_errs.n = 0;
}

void record_errors_reset(int64_t lo, int64_t hi) {
  rec_errs.n = 0;
  rec_errs.lo = lo;
  rec_errs.hi = hi;
}

int record_errors_add(int error, int32_t batch_index, int64_t offset,
                      int64_t timestamp) {
  if (rec_errs.n == rec_errs.cap) {
    pthread_once(&rec_once, rec_key_make);
    size_t cap = rec_errs.cap ? rec_errs.cap * 2 : 16;
    nd_record_error *ni = realloc(rec_errs.items, cap * sizeof *ni);
    if (!ni)
      return -1;
    rec_errs.items = ni;
    rec_errs.cap = cap;
    if (rec_key_ok)
      pthread_setspecific(rec_key, ni);
  }
  nd_record_error *e = &rec_errs.items[rec_errs.n++];
  e->error = error;
  e->batch_index = batch_index;
  e->offset = offset;
  e->timestamp = timestamp;
  return 0;
}

size_t nd_record_errors(const nd_record_error **list, int64_t *min_timestamp,
                        int64_t *max_timestamp) {
  if (list)
    *list = rec_errs.n ? rec_errs.items : NULL;
  if (min_timestamp)
    *min_timestamp = rec_errs.lo;
  if (max_timestamp)
    *max_timestamp = rec_errs.hi;
  return rec_errs.n;
}

static void set_message(const char *fmt, va_list ap) {
  vsnprintf(last_message, sizeof last_message, fmt, ap);
}

int nd_fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(fmt, ap);
  va_end(ap);
  return err;
}

int nd_set_error(int err, const char *fmt, ...) {
  if (!fmt) {
    nd_clear_error();
    return err;
  }
  va_list ap;
  va_start(ap, fmt);
  set_message(fmt, ap);
  va_end(ap);
  return err;
}

int nd_fail_os(int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(fmt, ap);
  va_end(ap);
  size_t n = strlen(last_message);
  snprintf(last_message + n, sizeof last_message - n, ": %s", strerror(errnum));
  return -errnum;
}

void nd_log(const nd_logger *lg, int level, const char *fmt, ...) {
  if (!lg || !lg->fn)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  lg->fn(lg->ctx, level, line);
}

void nd_free(void *p) {
  free(p);
}
