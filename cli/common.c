/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c — flag parsing, opening the store, JSON output (see cli.h).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kafka.h"
#include "nodata_codecs.h"

/* ---- flags ----------------------------------------------------------------
 */

void cli_opts_init(cli_opts *o, const char *cmd, int argc, char **argv) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->argc = argc;
  o->argv = argv;
  o->i = 0; /* argv[0] is the subcommand's name */
}

int cli_next(cli_opts *o) {
  o->val = NULL;
  if (o->bad)
    return 0;
  for (;;) {
    if (++o->i >= o->argc)
      return 0;
    o->arg = o->argv[o->i];
    if (!o->no_more_flags && !strcmp(o->arg, "--")) {
      o->no_more_flags = 1;
      continue;
    }
    return 1;
  }
}

int cli_positional(const cli_opts *o) {
  return o->no_more_flags || o->arg[0] != '-' || o->arg[1] == '\0';
}

int cli_flag(cli_opts *o, const char *s, const char *l) {
  if (cli_positional(o))
    return 0;
  return (s && !strcmp(o->arg, s)) || (l && !strcmp(o->arg, l));
}

int cli_value(cli_opts *o, const char *s, const char *l) {
  if (cli_positional(o) || o->bad)
    return 0;
  const char *a = o->arg;
  const char *name = NULL;
  if (l) {
    size_t n = strlen(l);
    if (!strncmp(a, l, n) && a[n] == '=') {
      o->val = a + n + 1;
      return 1;
    }
    if (!strcmp(a, l))
      name = l;
  }
  if (!name && s) {
    size_t n = strlen(s);
    if (!strcmp(a, s))
      name = s;
    else if (n == 2 && a[1] != '-' && !strncmp(a, s, n)) {
      o->val = a + n;
      return 1;
    }
  }
  if (!name)
    return 0;
  if (o->i + 1 >= o->argc) {
    cli_usage_error(o->cmd, "flag %s needs a value", name);
    o->bad = 1;
    return 0;
  }
  o->val = o->argv[++o->i];
  return 1;
}

int cli_unknown(cli_opts *o) {
  if (o->bad)
    return CLI_USAGE;
  o->bad = 1;
  if (cli_positional(o))
    return cli_usage_error(o->cmd, "unexpected argument '%s'", o->arg);
  return cli_usage_error(o->cmd, "unknown flag '%s'", o->arg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "nodata %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see nodata %s --help)\n", cmd);
  return CLI_USAGE;
}

void cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "nodata %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_lib_error(const char *cmd, int rc, const char *what) {
  const char *msg = nd_errmsg();
  if (!msg || !*msg)
    msg = nd_strerror(rc);
  if (what)
    cli_error(cmd, "%s: %s", what, msg);
  else
    cli_error(cmd, "%s", msg);
  return CLI_FAIL;
}

int cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t min,
                  int64_t max, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) {
    if (max == INT64_MAX)
      cli_usage_error(cmd, "bad value '%s' for %s: want an integer >= %" PRId64,
                      s, flag, min);
    else
      cli_usage_error(cmd,
                      "bad value '%s' for %s: want an integer from %" PRId64
                      " to %" PRId64,
                      s, flag, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

/* ---- data directory and store ------------------------------------------ */

const char *cli_data_dir(const char *flag_value) {
  if (flag_value && *flag_value)
    return flag_value;
  /* The same precedence as `nodata serve`. */
  const char *e = getenv("NODATA_DATA");
  if (e && *e)
    return e;
  e = getenv("NODATA_DIR");
  if (e && *e)
    return e;
  return "./data";
}

/* A positive count from the environment, or 0 (the library's default). */
static int32_t env_count(const char *name) {
  const char *v = getenv(name);
  char *end;
  long n = v && *v ? strtol(v, &end, 10) : 0;
  return n > 0 && n <= INT32_MAX && !*end ? (int32_t)n : 0;
}

/* What the store reports outside the calls' results (damage worked
 * around, recovery) is worth seeing on the terminal too. */
static void cli_store_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  fprintf(stderr, "nodata: %s: %s\n",
          level == ND_LOG_ERROR  ? "error"
          : level == ND_LOG_WARN ? "warning"
                                 : "info",
          msg);
}

void cli_open_options(nd_options *opts, unsigned flags) {
  memset(opts, 0, sizeof *opts);
  opts->flags = flags;
  opts->decompress = nd_codecs_decompress;
  opts->recompress = nd_codecs_recompress_batch;
  /* A command runs for moments: no flusher thread; nd_close syncs. */
  opts->no_background = 1;
  /* The same limits as `nodata serve` under the same environment. */
  opts->max_topic_partitions = env_count("NODATA_MAX_TOPIC_PARTITIONS");
  opts->max_store_partitions = env_count("NODATA_MAX_STORE_PARTITIONS");
  opts->max_mapped_indexes = env_count("NODATA_MAX_MAPPED_INDEXES");
  opts->on_log = cli_store_log;
}

/* The topic defaults nodata serve keeps in DIR/broker.conf (dynamic
 * log.* configs), so that the topics here follow what they follow under
 * the broker; the flags it was started with are not known here. A file
 * that does not parse was logged: the built-in defaults apply. */
static nd_topic_config cli_defaults;
static void cli_topic_defaults(const char *dir, nd_options *opts) {
  broker b;
  memset(&b, 0, sizeof b);
  b.cfg.data_dir = dir;
  if (dynconfig_topic_defaults(&b, &cli_defaults) == 0)
    opts->topic_defaults = &cli_defaults;
}

int cli_open_read(const char *cmd, const char *dir, nd_store **out) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    cli_error(cmd,
              "no data directory at %s (give --data DIR or set NODATA_DIR)",
              dir);
    return CLI_FAIL;
  }
  nd_options opts;
  cli_open_options(&opts, ND_OPEN_READONLY);
  cli_topic_defaults(dir, &opts);
  int rc = nd_open(dir, &opts, out);
  if (rc)
    return cli_lib_error(cmd, rc, NULL);
  return 0;
}

/* Addresses the process listens on (TCP), from /proc: its socket inodes
 * matched against /proc/net/tcp{,6}. Best effort: empty when unreadable. */
static void listening_addrs(pid_t pid, char *out, size_t cap) {
  out[0] = '\0';
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (!d)
    return;
  unsigned long inodes[64];
  size_t ninodes = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && ninodes < 64) {
    char fp[320], link[64];
    snprintf(fp, sizeof fp, "%s/%s", path, e->d_name);
    ssize_t n = readlink(fp, link, sizeof link - 1);
    if (n <= 0)
      continue;
    link[n] = '\0';
    unsigned long ino;
    if (sscanf(link, "socket:[%lu]", &ino) == 1)
      inodes[ninodes++] = ino;
  }
  closedir(d);
  const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
  size_t used = 0;
  for (int t = 0; t < 2; t++) {
    FILE *f = fopen(tables[t], "r");
    if (!f)
      continue;
    char line[512];
    while (fgets(line, sizeof line, f)) {
      char local[128];
      unsigned st;
      unsigned long ino;
      if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*s %*s %lu", local, &st,
                 &ino) != 3 ||
          st != 0x0A /* LISTEN */)
        continue;
      int mine = 0;
      for (size_t i = 0; i < ninodes; i++)
        mine |= inodes[i] == ino;
      char *colon = strchr(local, ':');
      if (!mine || !colon)
        continue;
      unsigned port = (unsigned)strtoul(colon + 1, NULL, 16);
      char host[64];
      if (t == 0 && colon - local == 8) {
        unsigned long a = strtoul(local, NULL, 16); /* little-endian */
        snprintf(host, sizeof host, "%lu.%lu.%lu.%lu", a & 255, a >> 8 & 255,
                 a >> 16 & 255, a >> 24 & 255);
      } else {
        snprintf(host, sizeof host, "[::]");
      }
      int n = snprintf(out + used, cap - used, "%s%s:%u", used ? ", " : "",
                       host, port);
      if (n < 0 || (size_t)n >= cap - used)
        break;
      used += (size_t)n;
    }
    fclose(f);
  }
}

void cli_held_message(const char *cmd, const char *dir, pid_t pid) {
  char what[256] = "";
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  FILE *f = fopen(path, "r");
  if (f) {
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* argv is NUL-separated: look for a "serve" argument. */
    int serve = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
      serve |= !strcmp(buf + i, "serve");
    if (serve) {
      char addrs[160];
      listening_addrs(pid, addrs, sizeof addrs);
      if (addrs[0])
        snprintf(what, sizeof what, " (nodata serve, listening on %s)", addrs);
      else
        snprintf(what, sizeof what, " (nodata serve)");
    }
  }
  if (pid > 0)
    cli_error(cmd,
              "data directory %s is held by pid %d%s; stop it first, or "
              "write through it with a Kafka client",
              dir, (int)pid, what);
  else
    cli_error(cmd, "data directory %s is held by another process", dir);
}

int cli_open_write(const char *cmd, const char *dir, int create,
                   nd_store **out) {
  struct stat st;
  if (!create && stat(dir, &st) != 0) {
    cli_error(cmd,
              "no data directory at %s (give --data DIR or set NODATA_DIR)",
              dir);
    return CLI_FAIL;
  }
  /* Ask first so that a held directory is reported without nd_open
   * creating anything. */
  pid_t pid = 0;
  if (nd_lock_holder(dir, &pid) == 0 && pid != 0) {
    cli_held_message(cmd, dir, pid);
    return CLI_FAIL;
  }
  nd_options opts;
  cli_open_options(&opts, create ? 0 : ND_OPEN_NOCREATE);
  cli_topic_defaults(dir, &opts);
  int rc = nd_open(dir, &opts, out);
  if (rc == ND_ELOCKED) {
    nd_lock_holder(dir, &pid);
    cli_held_message(cmd, dir, pid);
    return CLI_FAIL;
  }
  if (rc)
    return cli_lib_error(cmd, rc, NULL);
  return 0;
}

int cli_close(const char *cmd, nd_store *store) {
  int rc = nd_close(store);
  if (rc)
    return cli_lib_error(cmd, rc, "closing the data directory");
  return 0;
}

/* ---- output helpers ------------------------------------------------------ */

int cli_utf8_valid(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return 0;
    }
    if (i + len > n)
      return 0;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

void cli_json_string(FILE *f, const uint8_t *p, size_t n) {
  putc('"', f);
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    switch (c) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (c < 0x20 || c == 0x7F)
        fprintf(f, "\\u%04x", c);
      else
        putc(c, f);
    }
  }
  putc('"', f);
}

static void base64(FILE *f, const uint8_t *p, size_t n) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    putc(tab[v >> 18], f);
    putc(tab[v >> 12 & 63], f);
    putc(tab[v >> 6 & 63], f);
    putc(tab[v & 63], f);
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    putc(tab[v >> 18], f);
    putc(tab[v >> 12 & 63], f);
    fputs("==", f);
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    putc(tab[v >> 18], f);
    putc(tab[v >> 12 & 63], f);
    putc(tab[v >> 6 & 63], f);
    putc('=', f);
  }
}

void cli_json_bytes(FILE *f, const uint8_t *p, size_t n) {
  if (!p) {
    fputs("null", f);
  } else if (cli_utf8_valid(p, n)) {
    cli_json_string(f, p, n);
  } else {
    fputs("{\"base64\":\"", f);
    base64(f, p, n);
    fputs("\"}", f);
  }
}

void cli_format_time(int64_t ms, char *buf, size_t cap) {
  if (ms < 0) {
    snprintf(buf, cap, "-");
    return;
  }
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&s, &tm)) {
    snprintf(buf, cap, "%" PRId64, ms);
    return;
  }
  char day[40];
  strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, cap, "%s.%03dZ", day, (int)(ms % 1000));
}

void cli_format_bytes(double n, char *buf, size_t cap) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, cap, "%.0f B", n);
  else
    snprintf(buf, cap, "%.1f %s", n, units[u]);
}

void cli_quiet_sigpipe(void) {
  signal(SIGPIPE, SIG_IGN);
}

int cli_stdout_gone(void) {
  return ferror(stdout) && errno == EPIPE;
}
