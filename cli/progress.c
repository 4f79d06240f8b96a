/* SPDX-License-Identifier: Apache-2.0 */
/*
 * progress.c — the status line for long work (see cli.h). Only a terminal
 * gets it: redirected stderr stays free of carriage returns.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(progress *p, const char *label, uint64_t total, int bytes) {
  p->label = label;
  p->on = isatty(STDERR_FILENO);
  p->shown = 0;
  p->bytes = bytes;
  p->total = total;
  p->start = p->last = cli_now();
}

static void amount(const progress *p, double v, char *buf, size_t cap) {
  if (p->bytes)
    cli_format_bytes(v, buf, cap);
  else
    snprintf(buf, cap, "%.0f", v);
}

void progress_update(progress *p, uint64_t done) {
  if (!p->on)
    return;
  double now = cli_now();
  /* Quick work shows nothing; then a redraw every quarter second. */
  if (now - p->start < 1.0 || now - p->last < 0.25)
    return;
  p->last = now;
  double el = now - p->start;
  double rate = (double)done / el;
  char d[32], t[32], r[32];
  amount(p, (double)done, d, sizeof d);
  amount(p, rate, r, sizeof r);
  if (p->total > 0 && done <= p->total) {
    amount(p, (double)p->total, t, sizeof t);
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "\r\033[K%s: %s / %s (%.0f%%), %s%s/s, ETA %d:%02d",
            p->label, d, t, 100.0 * (double)done / (double)p->total, r,
            p->bytes ? "" : " records", (int)eta / 60, (int)eta % 60);
  } else {
    fprintf(stderr, "\r\033[K%s: %s%s, %s%s/s", p->label, d,
            p->bytes ? "" : " records", r, p->bytes ? "" : " records");
  }
  fflush(stderr);
  p->shown = 1;
}

void progress_end(progress *p) {
  if (p->shown) {
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
  }
  p->shown = 0;
}
