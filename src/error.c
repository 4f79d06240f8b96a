/*
 * error.c — error codes, their text, and the per-thread message with
 * context that nd_errmsg() returns. One X-macro table (nodata.h) yields the
 * enum, nd_strerror and nd_errname, so they cannot drift apart.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_message[1024];

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
