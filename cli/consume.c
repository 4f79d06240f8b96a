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
    "                      [--format text|json] [--key-delimiter C]\n"
    "                      [--null-delimited] [--data DIR]\n"
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
    "                            OFFSET      that offset (clamped to the log)\n"
    "                            -N          the last N records\n"
    "                            @MS         the first record with timestamp\n"
    "                                        >= MS (milliseconds since 1970)\n"
    "  -n, --count COUNT       stop after COUNT records in all\n"
    "  -f, --follow            wait for new records (stop with Ctrl-C)\n"
    "  --format text|json      text (default): the value, one record a line;\n"
    "                          json: one object a line (below)\n"
    "  -K, --key-delimiter C   text: print KEY C VALUE\n"
    "  -z, --null-delimited    text: end records with NUL, not a newline\n"
    "  --data DIR              data directory (default $NODATA_DATA,\n"
    "                          $NODATA_DIR, else ./data)\n"
    "\n"
    "JSON output: {\"topic\":\"t\",\"partition\":0,\"offset\":5,\n"
    "\"timestamp\":1700000000000,\"key\":KEY,\"value\":VALUE,\n"
    "\"headers\":[{\"key\":K,\"value\":V},...]}. Each of KEY, VALUE, K and V\n"
    "is null for a null field, a JSON string when the bytes are valid\n"
    "UTF-8, and otherwise {\"base64\":\"...\"} holding the raw bytes in\n"
    "standard padded base64 (RFC 4648), so every value can be recovered\n"
    "exactly. Text output writes the raw bytes (a null value as nothing).\n"
    "\n"
    "consume only reads: it works while `nodata serve` or a producer runs.\n"
    "\n"
    "Examples:\n"
    "  nodata consume events\n"
    "  nodata consume events -p 0 -o -10 --format json\n"
    "  nodata consume events -o end -f | grep ERROR\n"
    "  nodata consume events -o @1700000000000 -n 5\n"
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
  int64_t stop; /* without -f: the end offset when the command started */
} part_state;

typedef struct consumer {
  const char *topic;
  int json;
  int key_delim; /* -1: none */
  int rec_delim;
  int64_t remaining; /* -1: no limit */
} consumer;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void print_record(const consumer *c, int32_t part,
                         const nd_record_view *r) {
  FILE *f = stdout;
  if (!c->json) {
    if (c->key_delim >= 0) {
      if (r->key)
        fwrite(r->key, 1, r->key_len, f);
      putc(c->key_delim, f);
    }
    if (r->value)
      fwrite(r->value, 1, r->value_len, f);
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
      if (nd_offsets(st, c->topic, ps->id, &ls, &hw) == 0 && ps->next < ls) {
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
    if (done)
      return 2;
  }
  return got_any;
}

static int start_offset(nd_store *st, const char *topic, int32_t p,
                        enum start_kind kind, int64_t arg, int64_t *out) {
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
  if (o < ls)
    o = ls;
  if (o > hw)
    o = hw;
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
  int follow = 0;
  consumer c = {.key_delim = -1, .rec_delim = '\n', .remaining = -1};
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
    } else if (cli_value(&o, "-o", "--offset")) {
      const char *v = o.val;
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
      if (!strcmp(o.val, "json"))
        c.json = 1;
      else if (!strcmp(o.val, "text"))
        c.json = 0;
      else
        return cli_usage_error("consume",
                               "bad --format '%s': want text or json", o.val);
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
  c.topic = topic;
  c.remaining = count;
  const char *dir = cli_data_dir(data);
  cli_quiet_sigpipe();

  nd_store *st;
  if (cli_open_read("consume", dir, &st))
    return CLI_FAIL;
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
  int ret = CLI_OK;
  int64_t pause_ms = FOLLOW_MIN_SLEEP_MS;
  progress pr;
  progress_init(&pr, "consume", 0, 0);
  for (size_t i = 0; i < np; i++) {
    ps[i].id = part >= 0 ? (int32_t)part : (int32_t)i;
    int64_t ls;
    if (start_offset(st, topic, ps[i].id, kind, start_arg, &ps[i].next) ||
        nd_offsets(st, topic, ps[i].id, &ls, &ps[i].stop)) {
      ret = CLI_FAIL;
      goto out;
    }
  }
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
  free(ps);
  if (st)
    nd_close(st);
  if (cli_stdout_gone())
    return CLI_OK;
  if (ret == CLI_OK && ferror(stdout)) {
    cli_error("consume", "writing output: %s", strerror(errno));
    return CLI_FAIL;
  }
  return ret;
}
