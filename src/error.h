/* SPDX-License-Identifier: Apache-2.0 */
/* error.h — setting the per-thread error message that nd_errmsg() returns,
 * and the store's log (nd_options.on_log). */
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

/* Clear the calling thread's message and record errors (start of each
 * public call). */
void nd_clear_error(void);

/* Where a store's messages go: nd_options.on_log and its context; and
 * its counters (stats.h), which travel with the logger because every part
 * of the engine already holds it. NULL stats: nothing is counted. */
typedef struct nd_logger {
  nd_log_fn fn;
  void *ctx;
  struct store_stats *stats;
} nd_logger;

/* Format one line and hand it to lg (nothing if lg or its fn is NULL).
 * The callback may run with store locks held (nodata.h says so). */
void nd_log(const nd_logger *lg, int level, const char *fmt, ...)
    ND_PRINTF(3, 4);

/* The calling thread's nd_record_errors() list: empty it and set the
 * range it is checked against, then add one refused record. _add returns
 * -1 when out of memory (the list stays as it was; callers still count
 * the record). */
void record_errors_reset(int64_t lo, int64_t hi);
int record_errors_add(int error, int32_t batch_index, int64_t offset,
                      int64_t timestamp);

#endif
