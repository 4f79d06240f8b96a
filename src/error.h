/* error.h — setting the per-thread error message that nd_errmsg() returns. */
#ifndef ND_ERROR_H
#define ND_ERROR_H

#include "nodata.h"

#if defined(__GNUC__)
#define ND_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ND_PRINTF(a, b)
#endif

/* Record a message for the calling thread and return err, so a failing
 * path reads `return nd_fail(ND_ERANGE, "offset %lld ...", ...);`. */
int nd_fail(int err, const char *fmt, ...) ND_PRINTF(2, 3);

/* Like nd_fail for an OS error: returns -errnum and appends strerror. */
int nd_fail_os(int errnum, const char *fmt, ...) ND_PRINTF(2, 3);

/* Clear the calling thread's message (start of each public call). */
void nd_clear_error(void);

/* Where the store reports what it did on its own (nd_options.log). */
typedef struct nd_logger {
  void (*fn)(void *ctx, const char *msg);
  void *ctx;
} nd_logger;

/* Format one line and hand it to the logger; no-op without one. */
void nd_log(const nd_logger *lg, const char *fmt, ...) ND_PRINTF(2, 3);

#endif
