/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inspect.c — `nodata inspect PATH`: dump a .log, .index, .timeindex or
 * .txnindex as
 * it is on disk, one line per batch or entry, in key=value form so that
 * grep and awk can pick fields out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nodata_codecs.h"

static const char inspect_usage[] =
    "usage: nodata inspect [--records] PATH\n"
    "\n"
    "Dump one segment file as it is on disk (no data directory needed, and\n"
    "safe while a broker runs):\n"
    "  NNN.log        one line per batch: position, base and last offset,\n"
    "                 record count, size, CRC ok/BAD, compression, base and\n"
    "                 max timestamp, producer id; then a summary\n"
    "  NNN.index      offset index entries: relative and absolute offset,\n"
    "                 byte position in the .log\n"
    "  NNN.timeindex  time index entries: timestamp, relative and absolute\n"
    "                 offset\n"
    "  NNN.txnindex   aborted-transaction entries (Kafka's format): producer\n"
    "                 id, first and last (ABORT marker) offset, last stable\n"
    "                 offset\n"
    "\n"
    "  --records      .log: also decode every record (one JSON object a\n"
    "                 line, as `nodata consume --format json` prints them)\n"
    "\n"
    "Examples:\n"
    "  nodata inspect data/topics/*/0/00000000000000000000.log\n"
    "  nodata inspect --records data/topics/*/0/00000000000000000000.log\n"
    "  nodata inspect data/topics/*/0/00000000000000000000.index\n"
    "\n"
    "Exit status: 0 ok, 1 runtime failure (unreadable file), 2 usage\n"
    "error, 3 the file is damaged (bad CRC, cut short, bad header).\n";

typedef struct ictx {
  int records;
  int64_t nrecords;
  int64_t first, last;
  int decode_errors;
} ictx;

static void print_record(const nd_record_view *r) {
  FILE *f = stdout;
  fprintf(f, "  {\"offset\":%" PRId64 ",\"timestamp\":%" PRId64 ",\"key\":",
          r->offset, r->timestamp);
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

static int on_batch(void *arg, const nd_batch_info *b, const void *bytes) {
  ictx *c = arg;
  char mt[40];
  cli_format_time(b->max_timestamp, mt, sizeof mt);
  printf(
      "batch pos=%" PRIu64 " base=%" PRId64 " last=%" PRId64
      " count=%d size=%" PRIu64 " crc=%s compression=%s base_ts=%" PRId64
      " max_ts=%" PRId64 " (%s) producer=%" PRId64 " epoch=%d seq=%d%s%s%s\n",
      b->pos, b->base_offset, b->last_offset, (int)b->record_count, b->size,
      b->crc_ok ? "ok" : "BAD", nd_codec_name(b->attributes), b->base_timestamp,
      b->max_timestamp, mt, b->producer_id, (int)b->producer_epoch,
      (int)b->base_sequence,
      b->attributes & ND_BATCH_ATTR_LOG_APPEND_TIME ? " log-append-time" : "",
      b->attributes & ND_BATCH_ATTR_TRANSACTIONAL ? " transactional" : "",
      b->attributes & ND_BATCH_ATTR_CONTROL ? " control" : "");
  if (c->first < 0)
    c->first = b->base_offset;
  c->last = b->last_offset;
  c->nrecords += b->record_count;
  if (c->records && b->crc_ok) {
    nd_iter it;
    nd_iter_init(&it, bytes, (size_t)b->size, 0, nd_codecs_decompress);
    nd_record_view r;
    int n;
    while ((n = nd_iter_next(&it, &r)) == 1)
      print_record(&r);
    if (n < 0) {
      const char *m = nd_errmsg();
      printf("  cannot decode: %s\n", m && *m ? m : nd_strerror(n));
      c->decode_errors++;
    }
    nd_iter_close(&it);
  }
  return ferror(stdout) ? 1 : 0;
}

static int inspect_log(const char *path, int records) {
  ictx c = {.records = records, .first = -1, .last = -1};
  nd_walk_result w;
  int64_t base = nd_segment_base(path);
  printf("file %s\n", path);
  int rc = nd_log_walk(path, 0, on_batch, &c, &w);
  if (rc) {
    cli_lib_error("inspect", rc, NULL);
    return CLI_FAIL;
  }
  int damaged = w.stop != ND_WALK_END && w.stop != ND_WALK_CALLER;
  if (damaged)
    printf("damaged at byte %" PRId64 ": %s\n", w.stop_pos, w.why);
  printf("summary: %" PRId64 " batches, %" PRId64 " records, ", w.batches,
         c.nrecords);
  if (c.first >= 0)
    printf("offsets %" PRId64 "..%" PRId64 ", ", c.first, c.last);
  printf("%" PRIu64 " bytes", w.file_size);
  if (base >= 0 && c.first >= 0 && c.first != base)
    printf(", first offset %" PRId64 " but the file is named for %" PRId64,
           c.first, base);
  if (w.crc_bad)
    printf(", %" PRId64 " with a BAD CRC", w.crc_bad);
  printf("\n");
  fflush(stdout);
  if (damaged || w.crc_bad || c.decode_errors)
    return CLI_DAMAGED;
  return CLI_OK;
}

static int inspect_index(const char *path, int time) {
  nd_index_entry *e;
  size_t n, slots;
  int rc = nd_index_read(path, &e, &n, &slots);
  if (rc) {
    cli_lib_error("inspect", rc, NULL);
    return CLI_FAIL;
  }
  printf("file %s\n", path);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const nd_index_entry *x = &e[i], *prev = i ? &e[i - 1] : NULL;
    if (time) {
      char t[40];
      cli_format_time(x->timestamp, t, sizeof t);
      int order = !prev || (x->timestamp >= prev->timestamp &&
                            x->relative >= prev->relative);
      printf("entry %zu timestamp=%" PRId64 " (%s) rel=%u offset=%" PRId64
             "%s\n",
             i, x->timestamp, t, x->relative, x->offset,
             order ? "" : " OUT-OF-ORDER");
      bad |= !order;
    } else {
      int order = !prev || (x->relative > prev->relative &&
                            x->position > prev->position);
      printf("entry %zu rel=%u offset=%" PRId64 " pos=%" PRIu64 "%s\n", i,
             x->relative, x->offset, x->position, order ? "" : " OUT-OF-ORDER");
      bad |= !order;
    }
  }
  printf("summary: %zu entries", n);
  if (slots > n)
    printf(", %zu more slots zero-filled (preallocated: active segment, or "
           "a store not closed cleanly)",
           slots - n);
  printf("\n");
  nd_free(e);
  return bad ? CLI_DAMAGED : CLI_OK;
}

static int64_t be64_at(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return (int64_t)v;
}

/* A .txnindex: 34-byte entries (docs/format.md), decoded here from the
 * documented format. Damaged: a cut entry, a version other than 0, or
 * marker offsets not increasing. */
static int inspect_txnindex(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    cli_error("inspect", "%s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  unsigned char e[34];
  size_t n = 0, got;
  int bad = 0;
  int64_t prev = -1;
  while ((got = fread(e, 1, sizeof e, f)) == sizeof e) {
    int version = e[0] << 8 | e[1];
    int64_t pid = be64_at(e + 2), first = be64_at(e + 10),
            last = be64_at(e + 18), lso = be64_at(e + 26);
    int ok = version == 0 && first < last && last > prev;
    printf("entry %zu version=%d producer=%" PRId64 " first=%" PRId64
           " last=%" PRId64 " lso=%" PRId64 "%s\n",
           n, version, pid, first, last, lso, ok ? "" : " BAD");
    bad |= !ok;
    prev = last;
    n++;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    cli_error("inspect", "%s: read error", path);
    return CLI_FAIL;
  }
  printf("summary: %zu entries", n);
  if (got)
    printf(", then %zu bytes of a cut entry", got);
  printf("\n");
  return bad || got ? CLI_DAMAGED : CLI_OK;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

int cli_inspect_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "inspect", argc, argv);
  const char *path = NULL;
  int records = 0;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (path)
        return cli_unknown(&o);
      path = o.arg;
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(inspect_usage, stdout);
      return CLI_OK;
    } else if (cli_flag(&o, "-r", "--records")) {
      records = 1;
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!path)
    return cli_usage_error("inspect", "missing PATH");
  if (records && !ends_with(path, ".log"))
    return cli_usage_error("inspect", "--records is for .log files");
  cli_quiet_sigpipe();
  int rc;
  if (ends_with(path, ".log"))
    rc = inspect_log(path, records);
  else if (ends_with(path, ".timeindex"))
    rc = inspect_index(path, 1);
  else if (ends_with(path, ".index"))
    rc = inspect_index(path, 0);
  else if (ends_with(path, ".txnindex"))
    rc = inspect_txnindex(path);
  else
    return cli_usage_error(
        "inspect", "'%s' is not a .log, .index, .timeindex or .txnindex file",
        path);
  fflush(stdout);
  if (cli_stdout_gone())
    return CLI_OK;
  return rc;
}
