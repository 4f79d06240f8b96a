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

/* Format a line and hand it to opts->on_log, if there is one (see
 * nd_log_fn); a no-op for NULL opts. Lines longer than 2 KiB are cut. */
void nd_log(const nd_options *opts, int level, const char *fmt, ...)
    ND_PRINTF(3, 4);

#endif
