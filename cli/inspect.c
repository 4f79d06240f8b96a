/*
 * inspect.c — `nodata inspect PATH`: dump a .log, .index or .timeindex as
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
#include "segfile.h"

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

static int on_batch(void *arg, const seg_batch *b, const uint8_t *bytes) {
  ictx *c = arg;
  char mt[40];
  cli_format_time(b->max_ts, mt, sizeof mt);
  printf("batch pos=%" PRIu64 " base=%" PRId64 " last=%" PRId64
         " count=%d size=%" PRIu64 " crc=%s compression=%s base_ts=%" PRId64
         " max_ts=%" PRId64 " (%s) producer=%" PRId64
         " epoch=%d seq=%d%s%s%s\n",
         b->pos, b->base, b->last, (int)b->count, b->size,
         b->crc_ok ? "ok" : "BAD", seg_codec_name(b->attributes), b->base_ts,
         b->max_ts, mt, b->producer_id, (int)b->producer_epoch,
         (int)b->base_sequence, b->attributes & 0x08 ? " log-append-time" : "",
         b->attributes & 0x10 ? " transactional" : "",
         b->attributes & 0x20 ? " control" : "");
  if (c->first < 0)
    c->first = b->base;
  c->last = b->last;
  c->nrecords += b->count;
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
  seg_walk w;
  int64_t base = seg_base_from_name(path);
  printf("file %s\n", path);
  int rc = seg_walk_log(path, on_batch, &c, &w, NULL, NULL);
  if (rc) {
    cli_error("inspect", "cannot read %s: %s", path, strerror(-rc));
    return CLI_FAIL;
  }
  if (w.bad_pos >= 0)
    printf("damaged at byte %" PRId64 ": %s\n", w.bad_pos, w.why);
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
  if (w.bad_pos >= 0 || w.crc_bad || c.decode_errors)
    return CLI_DAMAGED;
  return CLI_OK;
}

static int inspect_index(const char *path, int time) {
  int esize = time ? 12 : 8;
  uint8_t *buf;
  size_t n, slots;
  int rc = seg_read_index(path, esize, &buf, &n, &slots);
  if (rc) {
    cli_error("inspect", "cannot read %s: %s", path,
              rc == 1 ? "no such file" : strerror(-rc));
    return CLI_FAIL;
  }
  int64_t base = seg_base_from_name(path);
  if (base < 0)
    base = 0;
  printf("file %s\n", path);
  int bad = 0;
  int64_t prev_ts = INT64_MIN;
  uint32_t prev_rel = 0, prev_pos = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *e = buf + i * (size_t)esize;
    if (time) {
      int64_t ts = (int64_t)seg_be64(e);
      uint32_t rel = seg_be32(e + 8);
      char t[40];
      cli_format_time(ts, t, sizeof t);
      int order = i == 0 || (ts >= prev_ts && rel >= prev_rel);
      printf("entry %zu timestamp=%" PRId64 " (%s) rel=%u offset=%" PRId64
             "%s\n",
             i, ts, t, rel, base + rel, order ? "" : " OUT-OF-ORDER");
      bad |= !order;
      prev_ts = ts;
      prev_rel = rel;
    } else {
      uint32_t rel = seg_be32(e), pos = seg_be32(e + 4);
      int order = i == 0 || (rel > prev_rel && pos > prev_pos);
      printf("entry %zu rel=%u offset=%" PRId64 " pos=%u%s\n", i, rel,
             base + rel, pos, order ? "" : " OUT-OF-ORDER");
      bad |= !order;
      prev_rel = rel;
      prev_pos = pos;
    }
  }
  printf("summary: %zu entries", n);
  if (slots > n)
    printf(", %zu more slots zero-filled (preallocated: active segment, or "
           "a store not closed cleanly)",
           slots - n);
  printf("\n");
  free(buf);
  return bad ? CLI_DAMAGED : CLI_OK;
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
  else
    return cli_usage_error(
        "inspect", "'%s' is not a .log, .index or .timeindex file", path);
  fflush(stdout);
  if (cli_stdout_gone())
    return CLI_OK;
  return rc;
}
