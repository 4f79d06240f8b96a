/* SPDX-License-Identifier: Apache-2.0 */
/*
 * consume.c — `nodata consume`: print records from a starting point, and
 * with -f keep printing new ones as they arrive.
 *
 * The store is always opened read-only, so consuming works beside a
 * running broker or producer and never blocks one. A read-only store is a
 * snapshot of the files at open time, so following means reopening it:
 * when every partition has been read to the end, the command sleeps a
 * little and opens the directory again. The pause grows with how long an
 * open takes, which bounds the cost of following a large log.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "nodata_codecs.h"

#define READ_BYTES (1 << 20)
#define FOLLOW_MIN_SLEEP_MS 100

static const char consume_usage[] =
    "usage: nodata consume TOPIC [-p N] [-o START] [-n COUNT] [-f]\n"
    "                      [-G GROUP] [--format text|json|FMT] [--null TEXT]\n"
    "                      [--key-delimiter C] [--null-delimited] [--data "
    "DIR]\n"
    "\n"
    "Print the records of a topic (every partition, or -p N), partition\n"
    "by partition in offset order, then exit; with -f keep waiting for new\n"
    "records and print them as they are appended.\n"
    "\n"
    "  -p, --partition N       only partition N\n"
    "  -o, --offset START      where to start in each partition:\n"
    "                            beginning   the log start (default)\n"
    "                            end         after the last record (with -f:\n"
    "                                        only new records)\n"
    "                            OFFSET      that offset; below the log "
    "start:\n"
    "                                        the log start, said on stderr;\n"
    "                                        past the end: said on stderr,\n"
    "                                        and -f waits for that offset\n"
    "                            -N          the last N records\n"
    "                            @MS         the first record with timestamp\n"
    "                                        >= MS (milliseconds since 1970)\n"
    "  -n, --count COUNT       stop after COUNT records in all\n"
    "  -f, --follow            wait for new records (stop with Ctrl-C)\n"
    "  -G, --group GROUP       consume as consumer group GROUP: each\n"
    "                          partition starts at GROUP's committed offset\n"
    "                          (none, or outside the log: at -o, default\n"
    "                          beginning), and the offset after the last\n"
    "                          record printed is committed after each batch\n"
    "                          read and at exit (-n, Ctrl-C, end), once the\n"
    "                          output is flushed: at least once. Needs the\n"
    "                          data directory to itself, so no -f; with a\n"
    "                          broker running use a Kafka client (kcat -G)\n"
    "  --format text|json|FMT  text (default): the value, one record a line;\n"
    "                          json: one object a line (below); FMT: kcat's\n"
    "                          -f format (below)\n"
    "  --null TEXT             text and FMT: what a null key, value or header\n"
    "                          value prints as (default \"null\", as Kafka's\n"
    "                          console consumer; an empty one prints nothing)\n"
    "  -K, --key-delimiter C   text: print KEY C VALUE\n"
    "  -z, --null-delimited    text: end records with NUL, not a newline\n"
    "  --data DIR              data directory (default $NODATA_DATA,\n"
    "                          $NODATA_DIR, else ./data)\n"
    "\n"
    "FMT, as kcat -f: %t topic, %p partition, %o offset, %k key, %s value,\n"
    "%K key length and %S value length (-1 for null, 0 for empty: the exact\n"
    "way to tell them apart), %T timestamp (ms since 1970), %h headers as\n"
    "k=v,k=v, %% a percent sign; escapes \\n \\r \\t \\\\ \\xXX. Nothing is\n"
    "added: end FMT with \\n for one record a line.\n"
    "\n"
    "JSON output: {\"topic\":\"t\",\"partition\":0,\"offset\":5,\n"
    "\"timestamp\":1700000000000,\"key\":KEY,\"value\":VALUE,\n"
    "\"headers\":[{\"key\":K,\"value\":V},...]}. Each of KEY, VALUE, K and V\n"
    "is null for a null field, a JSON string when the bytes are valid\n"
    "UTF-8, and otherwise {\"base64\":\"...\"} holding the raw bytes in\n"
    "standard padded base64 (RFC 4648), so every value can be recovered\n"
    "exactly. Text output writes the raw bytes (a null value as --null).\n"
    "\n"
    "consume only reads (but for -G's commits): it works while `nodata\n"
    "serve` or a producer runs.\n"
    "\n"
    "Examples:\n"
    "  nodata consume events\n"
    "  nodata consume events -p 0 -o -10 --format json\n"
    "  nodata consume events -o end -f | grep ERROR\n"
    "  nodata consume events -o @1700000000000 -n 5\n"
    "  nodata consume events --format '%p/%o %T key=%k (%K) %s\\n'\n"
    "  nodata consume events -G billing -n 100   # the next 100, committed\n"
    "\n"
    "Exit status: 0 ok (also when the output pipe closes), 1 runtime\n"
    "failure (unknown topic, unreadable data), 2 usage error.\n";

enum start_kind {
  START_BEGIN,
  START_END,
  START_OFFSET,
  START_LAST,
  START_TIME
};

typedef struct part_state {
  int32_t id;
  int64_t next;
  int64_t stop;      /* without -f: the end offset when the command started */
  int64_t committed; /* -G: the offset last committed (-1: none) */
} part_state;

typedef struct consumer {
  const char *topic;
  int json;
  const char *fmt;       /* --format with %-tokens (checked), or NULL */
  const char *null_text; /* a null key or value in text and FMT output */
  const char *group;     /* -G GROUP, or NULL */
  int commit_failed;
  int key_delim; /* -1: none */
  int rec_delim;
  int64_t remaining; /* -1: no limit */
} consumer;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

/* Raw bytes, or the --null text for a null field. */
static void put_bytes(const consumer *c, const void *p, size_t n, FILE *f) {
  if (p)
    fwrite(p, 1, n, f);
  else
    fputs(c->null_text, f);
}

/* One format escape at *s (after the backslash): the byte it stands for,
 * or -1 when it is none of kcat's (\n \r \t \\ \xXX). */
static int fmt_escape(const char **s) {
  const char *p = *s;
  switch (*p) {
  case 'n':
    *s = p + 1;
    return '\n';
  case 'r':
    *s = p + 1;
    return '\r';
  case 't':
    *s = p + 1;
    return '\t';
  case '\\':
    *s = p + 1;
    return '\\';
  case 'x': {
    int v = 0, n = 0;
    for (p++; n < 2; p++, n++) {
      int d = *p >= '0' && *p <= '9'   ? *p - '0'
              : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
              : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                       : -1;
      if (d < 0)
        break;
      v = v * 16 + d;
    }
    if (n == 0)
      return -1;
    *s = p;
    return v;
  }
  default:
    return -1;
  }
}

/* NULL if fmt is a valid --format FMT, else what is wrong with it. */
static const char *fmt_check(const char *fmt) {
  static char why[96];
  for (const char *s = fmt; *s; s++) {
    if (*s == '%') {
      if (!s[1] || !strchr("tpoksKSTh%", s[1])) {
        snprintf(why, sizeof why, "unknown token %%%.1s", s[1] ? s + 1 : "");
        return why;
      }
      s++;
    } else if (*s == '\\') {
      const char *e = s + 1;
      if (fmt_escape(&e) < 0) {
        snprintf(why, sizeof why, "unknown escape \\%.1s", s[1] ? s + 1 : "");
        return why;
      }
      s = e - 1;
    }
  }
  return NULL;
}

/* kcat's -f: %t topic, %p partition, %o offset, %k key, %s value, %K and
 * %S their lengths (-1 for null), %T timestamp (ms), %h headers as
 * k=v,k=v, %% a percent sign; \n \r \t \\ \xXX. */
static void print_format(const consumer *c, int32_t part,
                         const nd_record_view *r) {
  FILE *f = stdout;
  for (const char *s = c->fmt; *s; s++) {
    if (*s == '\\') {
      const char *e = s + 1;
      putc(fmt_escape(&e), f); /* checked by fmt_check */
      s = e - 1;
      continue;
    }
    if (*s != '%') {
      putc(*s, f);
      continue;
    }
    switch (*++s) {
    case 't':
      fputs(c->topic, f);
      break;
    case 'p':
      fprintf(f, "%d", (int)part);
      break;
    case 'o':
      fprintf(f, "%" PRId64, r->offset);
      break;
    case 'k':
      put_bytes(c, r->key, r->key_len, f);
      break;
    case 's':
      put_bytes(c, r->value, r->value_len, f);
      break;
    case 'K':
      fprintf(f, "%lld", r->key ? (long long)r->key_len : -1LL);
      break;
    case 'S':
      fprintf(f, "%lld", r->value ? (long long)r->value_len : -1LL);
      break;
    case 'T':
      fprintf(f, "%" PRId64, r->timestamp);
      break;
    case 'h':
      for (size_t i = 0; i < r->header_count; i++) {
        const nd_header *h = &r->headers[i];
        if (i)
          putc(',', f);
        fwrite(h->key, 1, h->key_len, f);
        putc('=', f);
        put_bytes(c, h->value, h->value_len, f);
      }
      break;
    default:
      putc('%', f);
      break;
    }
  }
}

static void print_record(const consumer *c, int32_t part,
                         const nd_record_view *r) {
  FILE *f = stdout;
  if (c->fmt) {
    print_format(c, part, r);
    return;
  }
  if (!c->json) {
    if (c->key_delim >= 0) {
      put_bytes(c, r->key, r->key_len, f);
      putc(c->key_delim, f);
    }
    put_bytes(c, r->value, r->value_len, f);
    putc(c->rec_delim, f);
    return;
  }
  fputs("{\"topic\":", f);
  cli_json_string(f, (const uint8_t *)c->topic, strlen(c->topic));
  fprintf(f, ",\"partition\":%d,\"offset\":%" PRId64 ",\"timestamp\":%" PRId64,
          (int)part, r->offset, r->timestamp);
  fputs(",\"key\":", f);
  cli_json_bytes(f, r->key, r->key_len);
  fputs(",\"value\":", f);
  cli_json_bytes(f, r->value, r->value_len);
  fputs(",\"headers\":[", f);
  for (size_t i = 0; i < r->header_count; i++) {
    const nd_header *h = &r->headers[i];
    fputs(i ? ",{\"key\":" : "{\"key\":", f);
    cli_json_bytes(f, (const uint8_t *)h->key, h->key_len);
    fputs(",\"value\":", f);
    cli_json_bytes(f, h->value, h->value_len);
    putc('}', f);
  }
  fputs("]}\n", f);
}

static void corrupt_error(int rc) {
  cli_lib_error("consume", rc, NULL);
  if (rc == ND_ECORRUPT)
    fprintf(stderr, "nodata consume: `nodata verify` reports the damage; "
                    "`nodata verify --repair` truncates it\n");
}

/* -G: commit ps->next as GROUP's offset for the partition, once what was
 * read before it is out of our hands (stdout flushed): at least once, as
 * a Kafka consumer committing after processing. */
static int commit_position(consumer *c, nd_store *st, part_state *ps) {
  if (!c->group || ps->next == ps->committed || c->commit_failed)
    return 0;
  if (fflush(stdout) != 0 || ferror(stdout))
    return 0; /* not delivered: leave it to be read again */
  int rc = nd_commit_offset(st, c->group, c->topic, ps->id, ps->next, NULL);
  if (rc) {
    c->commit_failed = 1;
    cli_lib_error("consume", rc, "committing the group's offset");
    return -1;
  }
  ps->committed = ps->next;
  return 0;
}

/* Read partition ps from ps->next up to `upto`. Returns 1 if records were
 * read, 0 if none, -1 on error (printed), 2 when the output is gone or the
 * count is reached. */
static int drain(consumer *c, nd_store *st, part_state *ps, int64_t upto) {
  int got_any = 0;
  while (ps->next < upto && !g_stop) {
    int64_t before = ps->next;
    nd_batches b;
    int rc = nd_read(st, c->topic, ps->id, ps->next, READ_BYTES, &b);
    if (rc == ND_ERANGE) {
      int64_t ls, hw;
      if (nd_offsets(st, c->topic, ps->id, &ls, &hw) == 0 && ps->next > hw)
        break; /* -o N -f past the end: not written yet */
      if (rc == ND_ERANGE && ps->next < ls) {
        /* Retention moved the log start past us: carry on from it. */
        cli_error("consume",
                  "partition %d: offset %" PRId64
                  " was deleted by retention; continuing at %" PRId64,
                  (int)ps->id, ps->next, ls);
        ps->next = ls;
        continue;
      }
    }
    if (rc) {
      corrupt_error(rc);
      return -1;
    }
    if (b.len == 0) {
      nd_free(b.data);
      break;
    }
    nd_iter it;
    nd_iter_init(&it, b.data, b.len, ps->next, nd_codecs_decompress);
    nd_record_view r;
    int n;
    int done = 0;
    while ((n = nd_iter_next(&it, &r)) == 1) {
      if (r.offset >= upto)
        break;
      ps->next = r.offset + 1;
      if (r.is_control)
        continue;
      print_record(c, ps->id, &r);
      got_any = 1;
      if (c->remaining > 0 && --c->remaining == 0) {
        done = 1;
        break;
      }
    }
    nd_iter_close(&it);
    if (n < 0) {
      nd_free(b.data);
      corrupt_error(n);
      return -1;
    }
    /* Skip what the iterator had no record for (control or empty
     * batches, compacted gaps). */
    if (!done && b.next_offset > ps->next && b.next_offset <= upto)
      ps->next = b.next_offset;
    if (ps->next == before) {
      nd_free(b.data);
      break; /* nothing to move past: never spin on the same read */
    }
    nd_free(b.data);
    if (ferror(stdout))
      return 2;
    if (commit_position(c, st, ps))
      return -1;
    if (done)
      return 2;
  }
  return got_any;
}

static int start_offset(nd_store *st, const char *topic, int32_t p,
                        enum start_kind kind, int64_t arg, int follow,
                        int64_t *out) {
  int64_t ls, hw;
  int rc = nd_offsets(st, topic, p, &ls, &hw);
  if (rc)
    return cli_lib_error("consume", rc, NULL);
  int64_t o = ls;
  switch (kind) {
  case START_BEGIN:
    o = ls;
    break;
  case START_END:
    o = hw;
    break;
  case START_OFFSET:
    o = arg;
    break;
  case START_LAST:
    o = hw - arg;
    break;
  case START_TIME: {
    int64_t ts;
    rc = nd_offset_for_time(st, topic, p, arg, &o, &ts);
    if (rc)
      return cli_lib_error("consume", rc, NULL);
    if (o < 0)
      o = hw;
    break;
  }
  }
  if (kind == START_OFFSET && o < ls)
    cli_error("consume",
              "partition %d: offset %" PRId64 " is below the log start %" PRId64
              " (deleted by retention or never written); starting at %" PRId64,
              (int)p, o, ls, ls);
  if (o < ls)
    o = ls;
  if (kind == START_OFFSET && o > hw) {
    /* Kafka would reset such a position; a user who asked for offset N
     * wants N: say that it is not there yet, and with -f wait for it. */
    cli_error("consume",
              "partition %d: offset %" PRId64 " is past the log end %" PRId64
              "%s",
              (int)p, o, hw,
              follow ? "; waiting for it" : ": nothing to read (-f waits)");
    if (!follow)
      o = hw;
  } else if (o > hw) {
    o = hw;
  }
  *out = o;
  return 0;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
  }
}

int cli_consume_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "consume", argc, argv);
  const char *data = NULL, *topic = NULL;
  int64_t part = -1, count = -1, start_arg = 0;
  enum start_kind kind = START_BEGIN;
  int follow = 0, have_o = 0;
  const char *group = NULL;
  consumer c = {
      .key_delim = -1, .rec_delim = '\n', .remaining = -1, .null_text = "null"};
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (topic)
        return cli_unknown(&o);
      topic = o.arg;
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(consume_usage, stdout);
      return CLI_OK;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_value(&o, "-p", "--partition")) {
      if (cli_parse_i64("consume", "--partition", o.val, 0, INT32_MAX, &part))
        return CLI_USAGE;
    } else if (cli_value(&o, "-G", "--group")) {
      if (!*o.val || strlen(o.val) > ND_GROUP_NAME_MAX)
        return cli_usage_error("consume", "bad --group: want 1 to %d bytes",
                               ND_GROUP_NAME_MAX);
      group = o.val;
    } else if (cli_value(&o, "-o", "--offset")) {
      const char *v = o.val;
      have_o = 1;
      if (!strcmp(v, "beginning") || !strcmp(v, "earliest")) {
        kind = START_BEGIN;
      } else if (!strcmp(v, "end") || !strcmp(v, "latest")) {
        kind = START_END;
      } else if (v[0] == '@') {
        kind = START_TIME;
        if (cli_parse_i64("consume", "--offset @", v + 1, 0, INT64_MAX,
                          &start_arg))
          return CLI_USAGE;
      } else if (v[0] == '-') {
        kind = START_LAST;
        if (cli_parse_i64("consume", "--offset -N", v + 1, 1, INT64_MAX,
                          &start_arg))
          return CLI_USAGE;
      } else {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < 0)
          return cli_usage_error("consume",
                                 "bad --offset '%s': want beginning, end, an "
                                 "offset, -N or @TIMESTAMP_MS",
                                 v);
        kind = START_OFFSET;
        start_arg = x;
      }
    } else if (cli_value(&o, "-n", "--count")) {
      if (cli_parse_i64("consume", "--count", o.val, 1, INT64_MAX, &count))
        return CLI_USAGE;
    } else if (cli_flag(&o, "-f", "--follow")) {
      follow = 1;
    } else if (cli_value(&o, NULL, "--format")) {
      const char *why;
      c.json = 0;
      c.fmt = NULL;
      if (!strcmp(o.val, "json"))
        c.json = 1;
      else if (!strcmp(o.val, "text"))
        c.json = 0;
      else if (!strchr(o.val, '%'))
        return cli_usage_error("consume",
                               "bad --format '%s': want text, json or a "
                               "format with %%-tokens such as '%%k %%s\\n'",
                               o.val);
      else if ((why = fmt_check(o.val)) != NULL)
        return cli_usage_error("consume", "bad --format '%s': %s", o.val, why);
      else
        c.fmt = o.val;
    } else if (cli_value(&o, NULL, "--null")) {
      c.null_text = o.val;
    } else if (cli_value(&o, "-K", "--key-delimiter")) {
      if (strlen(o.val) != 1)
        return cli_usage_error(
            "consume", "bad --key-delimiter '%s': want one character", o.val);
      c.key_delim = (unsigned char)o.val[0];
    } else if (cli_flag(&o, "-z", "--null-delimited")) {
      c.rec_delim = '\0';
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!topic)
    return cli_usage_error("consume", "missing TOPIC");
  if (group && follow)
    return cli_usage_error(
        "consume", "-G and -f do not go together: a group commits offsets, "
                   "which needs the data directory to itself, so nothing "
                   "could append while it waits (follow as a group through "
                   "`nodata serve` with a Kafka client: kcat -G)");
  c.topic = topic;
  c.remaining = count;
  c.group = group;
  const char *dir = cli_data_dir(data);
  cli_quiet_sigpipe();

  nd_store *st;
  if (group) {
    pid_t holder = 0;
    if (nd_lock_holder(dir, &holder) == 0 && holder != 0) {
      cli_held_message("consume", dir, holder);
      cli_error("consume",
                "-G commits the group's offsets, which needs the data "
                "directory to itself: consume as group %s through the "
                "broker with a Kafka client (kcat -b HOST:PORT -G %s %s), "
                "or stop the broker",
                group, group, topic);
      return CLI_FAIL;
    }
    if (cli_open_write("consume", dir, 0, &st))
      return CLI_FAIL;
  } else if (cli_open_read("consume", dir, &st)) {
    return CLI_FAIL;
  }
  nd_topic_info info;
  int rc = nd_topic_describe(st, topic, &info);
  if (rc) {
    if (rc == ND_ENOTOPIC)
      cli_error("consume", "unknown topic %s", topic);
    else
      cli_lib_error("consume", rc, NULL);
    nd_close(st);
    return CLI_FAIL;
  }
  if (part >= info.partitions) {
    cli_error("consume", "topic %s has %d partition%s: no partition %" PRId64,
              topic, (int)info.partitions, info.partitions == 1 ? "" : "s",
              part);
    nd_close(st);
    return CLI_FAIL;
  }
  size_t np = part >= 0 ? 1 : (size_t)info.partitions;
  part_state *ps = calloc(np, sizeof *ps);
  if (!ps) {
    nd_close(st);
    return CLI_FAIL;
  }
  int ret = CLI_OK, positioned = 0;
  int64_t pause_ms = FOLLOW_MIN_SLEEP_MS;
  progress pr;
  progress_init(&pr, "consume", 0, 0);
  for (size_t i = 0; i < np; i++) {
    ps[i].id = part >= 0 ? (int32_t)part : (int32_t)i;
    ps[i].committed = -1;
    int64_t ls;
    if (nd_offsets(st, topic, ps[i].id, &ls, &ps[i].stop)) {
      ret = CLI_FAIL;
      goto out;
    }
    if (group) {
      /* The group's committed offset wins; -o is where a partition
       * without a usable one starts (Kafka's auto.offset.reset, here
       * earliest unless -o says otherwise). */
      int64_t off = -1;
      rc = nd_committed_offset(st, group, topic, ps[i].id, &off, NULL, NULL,
                               NULL);
      if (rc) {
        ret = cli_lib_error("consume", rc, "reading the group's offset");
        goto out;
      }
      ps[i].committed = off;
      if (off >= ls && off <= ps[i].stop) {
        ps[i].next = off;
        continue;
      }
      if (off >= 0)
        cli_error("consume",
                  "partition %d: group %s's committed offset %" PRId64
                  " is outside the log (%" PRId64 " to %" PRId64
                  "); starting at %s",
                  (int)ps[i].id, group, off, ls, ps[i].stop,
                  have_o ? "-o" : "the log start (earliest)");
    }
    if (start_offset(st, topic, ps[i].id, kind, start_arg, follow,
                     &ps[i].next)) {
      ret = CLI_FAIL;
      goto out;
    }
  }
  positioned = 1;
  if (follow) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  uint64_t total = 0, done_before = 0;
  for (size_t i = 0; i < np; i++)
    total += (uint64_t)(ps[i].stop - ps[i].next);
  progress_init(&pr, "consume", follow ? 0 : total, 0);
  for (;;) {
    int any = 0;
    for (size_t i = 0; i < np && !g_stop; i++) {
      int64_t upto = follow ? INT64_MAX : ps[i].stop;
      int64_t before = ps[i].next;
      int r = drain(&c, st, &ps[i], upto);
      done_before += (uint64_t)(ps[i].next - before);
      progress_update(&pr, done_before);
      if (r < 0) {
        ret = CLI_FAIL;
        goto out;
      }
      if (r == 2)
        goto out;
      any |= r;
    }
    if (!follow || g_stop)
      break;
    if (fflush(stdout) != 0)
      goto out;
    if (any)
      continue;
    /* Caught up: look again at the files after a pause. */
    nd_close(st);
    st = NULL;
    for (int tries = 0; !g_stop; tries++) {
      sleep_ms(pause_ms);
      if (g_stop)
        break;
      double t0 = cli_now();
      nd_options opts;
      memset(&opts, 0, sizeof opts);
      opts.flags = ND_OPEN_READONLY;
      opts.no_background = 1;
      opts.decompress = nd_codecs_decompress;
      rc = nd_open(dir, &opts, &st);
      if (!rc) {
        /* Spend at most a fifth of the time opening. */
        int64_t open_ms = (int64_t)((cli_now() - t0) * 1000);
        pause_ms = open_ms * 4;
        if (pause_ms < FOLLOW_MIN_SLEEP_MS)
          pause_ms = FOLLOW_MIN_SLEEP_MS;
        if (pause_ms > 2000)
          pause_ms = 2000;
        break;
      }
      st = NULL;
      /* A writer rolling or deleting segments can race an open: retry
       * for a while before giving up. */
      if (tries >= 50) {
        cli_lib_error("consume", rc, "reopening the data directory");
        ret = CLI_FAIL;
        goto out;
      }
    }
    if (g_stop)
      break;
  }
out:
  progress_end(&pr);
  fflush(stdout);
  /* -G: the positions reached, also after -n or Ctrl-C; not on a failed
   * read (the position is that of the bad batch, which is committed
   * already) nor when the output is gone (what was written last may not
   * have been read). */
  for (size_t i = 0; st && group && positioned && i < np; i++)
    if (commit_position(&c, st, &ps[i]))
      ret = CLI_FAIL;
  free(ps);
  if (st && group) {
    if (cli_close("consume", st))
      ret = CLI_FAIL;
  } else if (st) {
    nd_close(st);
  }
  if (cli_stdout_gone())
    return CLI_OK;
  if (ret == CLI_OK && ferror(stdout)) {
    cli_error("consume", "writing output: %s", strerror(errno));
    return CLI_FAIL;
  }
  return ret;
}
