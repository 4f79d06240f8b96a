/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h — what the `nodata` subcommands share: flag parsing with one-line
 * usage errors, the data directory and how a store is opened (read-only
 * beside a running writer, refused with the holder's pid for writes),
 * JSON/base64 output of raw bytes, and terminal progress lines.
 *
 * Every subcommand returns one of the exit statuses below and prints at
 * most one line on stderr for a usage error.
 */
#ifndef ND_CLI_H
#define ND_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nodata.h"

enum {
  CLI_OK = 0,
  CLI_FAIL = 1,    /* runtime failure */
  CLI_USAGE = 2,   /* unknown flag, bad value */
  CLI_DAMAGED = 3, /* verify/inspect found corruption */
};

/* The subcommands (one row each in main.c). */
int cli_topics_main(int argc, char **argv);
int cli_produce_main(int argc, char **argv);
int cli_consume_main(int argc, char **argv);
int cli_inspect_main(int argc, char **argv);
int cli_verify_main(int argc, char **argv);
int cli_backup_main(int argc, char **argv);
int cli_groups_main(int argc, char **argv);
int cli_bench_main(int argc, char **argv);
int cli_users_main(int argc, char **argv);

/* ---- flags ---------------------------------------------------------------
 * Walk argv with cli_next(); for each argument test it with
 * cli_positional(), cli_flag() or cli_value(), and end the chain with
 * `return cli_unknown(&o)`. Values may be given as "-p 3", "-p3",
 * "--partition 3" or "--partition=3"; "--" ends the flags. A flag that
 * takes a value consumes the next argument whatever it looks like, so
 * "-o -5" works. */
typedef struct cli_opts {
  const char *cmd; /* "consume": for messages */
  int argc;
  char **argv;
  int i;
  int no_more_flags;
  const char *arg; /* the current argument */
  const char *val; /* value of the flag cli_value() matched */
  int bad;         /* a usage error was already printed */
} cli_opts;

void cli_opts_init(cli_opts *o, const char *cmd, int argc, char **argv);
int cli_next(cli_opts *o);
int cli_positional(const cli_opts *o);
int cli_flag(cli_opts *o, const char *short_name, const char *long_name);
int cli_value(cli_opts *o, const char *short_name, const char *long_name);
/* Prints "unknown flag" (unless an error was printed already); returns 2. */
int cli_unknown(cli_opts *o);

/* Print "nodata CMD: <message> (see nodata CMD --help)" and return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print "nodata CMD: <message>" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print the library's last error for a failed call: nd_errmsg() if set,
 * else nd_strerror(rc), after an optional prefix. Returns 1. */
int cli_lib_error(const char *cmd, int rc, const char *what);
/* The options every command opens the store with (codecs, the same
 * partition limits as `nodata serve`, the store's log on stderr, no
 * background thread), and flags. */
void cli_open_options(nd_options *opts, unsigned flags);

/* Integer value of a flag within [min, max]; prints a usage error and
 * returns -1 otherwise. */
int cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t min,
                  int64_t max, int64_t *out);

/* ---- data directory and store ------------------------------------------ */

/* --data if given, else $NODATA_DATA, $NODATA_DIR, else "./data". */
const char *cli_data_dir(const char *flag_value);

/* Open for reading: read-only, so it works beside a running broker and
 * never changes the files. Prints the error and returns 1 on failure. */
int cli_open_read(const char *cmd, const char *dir, nd_store **out);

/* Open for writing. create: make the directory if missing. When another
 * process holds the directory, says who (pid, and for a broker what it
 * listens on) and returns 1 without touching anything. */
int cli_open_write(const char *cmd, const char *dir, int create,
                   nd_store **out);

/* Close a store opened above; prints a failure. Returns 0 or 1. */
int cli_close(const char *cmd, nd_store *store);

/* One line naming the process holding dir: "data directory D is held by
 * pid N (nodata serve, listening on 127.0.0.1:9092)". */
void cli_held_message(const char *cmd, const char *dir, pid_t pid);

/* ---- output helpers ------------------------------------------------------ */

int cli_utf8_valid(const uint8_t *p, size_t n);
/* A JSON string literal of UTF-8 bytes. */
void cli_json_string(FILE *f, const uint8_t *p, size_t n);
/* Bytes as JSON: null for NULL, a string when they are valid UTF-8, else
 * {"base64":"..."} (RFC 4648, padded): reversible either way. */
void cli_json_bytes(FILE *f, const uint8_t *p, size_t n);
/* "2026-11-25T04:18:47.123Z" for a timestamp in ms (or "-" when < 0). */
void cli_format_time(int64_t ms, char *buf, size_t cap);
/* "12.3 MiB" */
void cli_format_bytes(double n, char *buf, size_t cap);

/* Ignore SIGPIPE so a closed pipe shows up as EPIPE on write, which the
 * commands turn into a quiet, successful exit. */
void cli_quiet_sigpipe(void);
/* 1 if stdout failed with EPIPE (the reader went away). */
int cli_stdout_gone(void);

/* ---- progress -------------------------------------------------------------
 * A status line on stderr for long work, shown only when stderr is a
 * terminal and the work has taken more than a second; redrawn at most four
 * times a second; erased by progress_end(). */
typedef struct progress {
  const char *label;
  int on;
  int shown;
  int bytes; /* units are bytes (else records) */
  uint64_t total;
  double start, last;
} progress;

void progress_init(progress *p, const char *label, uint64_t total, int bytes);
void progress_update(progress *p, uint64_t done);
void progress_end(progress *p);
double cli_now(void);

#endif
