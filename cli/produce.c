/*
 * produce.c — `nodata produce`: one record per input line, appended in
 * batches (up to 1,000 records or 1 MiB, within max.message.bytes), each
 * record's offset printed.
 *
 * Records of one batch share a partition. With no -p, a keyed record goes
 * where Kafka's default partitioner sends its key, and unkeyed records go
 * to one partition per batch, rotating (Kafka's sticky partitioner), so a
 * change of target partition closes the batch.
 *
 * Compressed batches are encoded by the library (nd_batch_encode, then
 * nd_codecs_compress_batch) and stored with nd_append_batch, exactly as a
 * Kafka client's would be.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "nodata_codecs.h"

#define BATCH_MAX_RECORDS 1000
#define BATCH_MAX_BYTES (1 << 20)

static const char produce_usage[] =
    "usage: nodata produce TOPIC [-p N] [-k KEY] [-H KEY=VALUE ...]\n"
    "                      [--key-delimiter C] [--null-delimited]\n"
    "                      [--compression none|gzip|snappy|lz4|zstd]\n"
    "                      [-q] [--data DIR] [FILE ...]\n"
    "\n"
    "Append one record per line read from the FILEs (or standard input;\n"
    "\"-\" is standard input too) and print, for each, the partition and\n"
    "offset it was written at: \"partition P offset O\". The newline is not\n"
    "part of the value; an empty line is a record with an empty value.\n"
    "\n"
    "  -p, --partition N       write every record to partition N (default:\n"
    "                          by key as Kafka's default partitioner does;\n"
    "                          unkeyed records rotate per batch)\n"
    "  -k, --key KEY           the key of every record\n"
    "  -H, --header KEY=VALUE  a header on every record; repeatable\n"
    "  -K, --key-delimiter C   split each line at the first C: key before,\n"
    "                          value after (no C: null key, whole line)\n"
    "  -z, --null-delimited    records end with a NUL byte, not a newline\n"
    "                          (values may then hold newlines)\n"
    "  --compression CODEC     compress batches: none (default), gzip,\n"
    "                          snappy, lz4 or zstd\n"
    "  -q, --quiet             do not print offsets\n"
    "  --data DIR              data directory (default $NODATA_DATA,\n"
    "                          $NODATA_DIR, else ./data)\n"
    "\n"
    "Records are appended in batches of up to 1,000 records or 1 MiB.\n"
    "Producing needs the data directory to itself: while `nodata serve`\n"
    "runs, produce through it with a Kafka client instead.\n"
    "\n"
    "Examples:\n"
    "  echo hello | nodata produce events\n"
    "  printf 'user1:login\\nuser2:logout\\n' | nodata produce events -K :\n"
    "  nodata produce events -p 0 -H source=import --compression zstd "
    "dump.txt\n"
    "\n"
    "Exit status: 0 ok, 1 runtime failure (unknown topic, directory held,\n"
    "record too large), 2 usage error.\n";

typedef struct pending {
  int64_t key_off; /* into arena, -1 = null key */
  size_t key_len;
  int64_t val_off;
  size_t val_len;
} pending;

typedef struct producer {
  nd_store *st;
  const char *topic;
  int32_t partitions;
  int32_t fixed_partition; /* -1 = choose */
  int32_t sticky;          /* partition for unkeyed records */
  int codec;
  int quiet;
  int printing; /* 0 once stdout is gone */
  size_t batch_limit;
  const nd_header *headers;
  size_t nheaders;
  size_t headers_bytes;
  /* the batch being collected */
  int32_t target;
  int has_unkeyed;
  pending *recs;
  size_t nrecs;
  uint8_t *arena;
  size_t arena_len, arena_cap;
  size_t batch_bytes;
  nd_record *views;
  uint64_t produced;
} producer;

static int arena_put(producer *p, const void *data, size_t n, int64_t *off) {
  if (p->arena_len + n > p->arena_cap) {
    size_t cap = p->arena_cap ? p->arena_cap : 1 << 16;
    while (cap < p->arena_len + n)
      cap *= 2;
    uint8_t *a = realloc(p->arena, cap);
    if (!a)
      return -1;
    p->arena = a;
    p->arena_cap = cap;
  }
  memcpy(p->arena + p->arena_len, data, n);
  *off = (int64_t)p->arena_len;
  p->arena_len += n;
  return 0;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int flush_batch(producer *p) {
  if (p->nrecs == 0)
    return 0;
  nd_record *v = realloc(p->views, p->nrecs * sizeof *v);
  if (!v) {
    cli_error("produce", "out of memory");
    return -1;
  }
  p->views = v;
  for (size_t i = 0; i < p->nrecs; i++) {
    const pending *r = &p->recs[i];
    v[i] = (nd_record){
        .key = r->key_off >= 0 ? p->arena + r->key_off : NULL,
        .key_len = r->key_len,
        .value = p->arena + r->val_off,
        .value_len = r->val_len,
        .headers = p->headers,
        .header_count = p->nheaders,
        .timestamp = ND_TIMESTAMP_NOW,
    };
  }
  nd_append_info info;
  int rc;
  if (p->codec == ND_CODEC_NONE) {
    rc = nd_append(p->st, p->topic, p->target, v, p->nrecs, 0, &info);
  } else {
    void *enc = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    rc = nd_batch_encode(v, p->nrecs, 0, wall_ms(), 0, &enc, &len);
    if (!rc)
      rc = nd_codecs_compress_batch(enc, len, p->codec, &out, &out_len);
    if (!rc)
      rc = nd_append_batch(p->st, p->topic, p->target, out, out_len, 0, &info);
    nd_free(enc);
    free(out);
  }
  if (rc) {
    cli_lib_error("produce", rc, "append");
    return -1;
  }
  if (!p->quiet && p->printing) {
    for (size_t i = 0; i < p->nrecs; i++)
      printf("partition %d offset %" PRId64 "\n", (int)info.partition,
             info.base_offset + (int64_t)i);
    if (fflush(stdout) != 0 && cli_stdout_gone())
      p->printing = 0; /* keep appending: the input is what matters */
  }
  p->produced += p->nrecs;
  if (p->has_unkeyed && p->fixed_partition < 0)
    p->sticky = (p->sticky + 1) % p->partitions;
  p->nrecs = 0;
  p->arena_len = 0;
  p->batch_bytes = 0;
  p->has_unkeyed = 0;
  return 0;
}

static int add_record(producer *p, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen) {
  int32_t target = p->fixed_partition;
  if (target < 0)
    target = key ? nd_partition_for_key(key, klen, p->partitions) : p->sticky;
  /* Varints and the record header: 30 bytes is an upper bound. */
  size_t est = klen + vlen + p->headers_bytes + 30;
  if (p->nrecs > 0 && (target != p->target || p->nrecs >= BATCH_MAX_RECORDS ||
                       p->batch_bytes + est > p->batch_limit)) {
    if (flush_batch(p))
      return -1;
    if (p->fixed_partition < 0 && !key)
      target = p->sticky;
  }
  if (est > p->batch_limit) {
    /* Store what came before it, so the offsets printed are the truth. */
    if (flush_batch(p))
      return -1;
    cli_error("produce",
              "record %" PRIu64 " is %zu bytes, above the topic's limit of "
              "about %zu (max.message.bytes)",
              p->produced + p->nrecs + 1, klen + vlen, p->batch_limit);
    return -1;
  }
  if (p->nrecs % 256 == 0) {
    pending *r = realloc(p->recs, (p->nrecs + 256) * sizeof *r);
    if (!r) {
      cli_error("produce", "out of memory");
      return -1;
    }
    p->recs = r;
  }
  pending *r = &p->recs[p->nrecs];
  r->key_off = -1;
  r->key_len = klen;
  r->val_len = vlen;
  if ((key && arena_put(p, key, klen, &r->key_off)) ||
      arena_put(p, val, vlen, &r->val_off)) {
    cli_error("produce", "out of memory");
    return -1;
  }
  p->target = target;
  p->has_unkeyed |= key == NULL;
  p->nrecs++;
  p->batch_bytes += est;
  return 0;
}

/* Every record of one input stream. */
static int produce_stream(producer *p, FILE *in, int delim, int key_delim,
                          const char *fixed_key, progress *pr,
                          uint64_t *bytes_done) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  size_t fixed_len = fixed_key ? strlen(fixed_key) : 0;
  /* Someone typing wants each offset as soon as the line is entered. */
  int interactive = isatty(fileno(in));
  while ((n = getdelim(&line, &cap, delim, in)) >= 0) {
    *bytes_done += (uint64_t)n;
    size_t len = (size_t)n;
    if (len > 0 && line[len - 1] == (char)delim)
      len--;
    const uint8_t *val = (const uint8_t *)line, *key = NULL;
    size_t vlen = len, klen = 0;
    if (fixed_key) {
      key = (const uint8_t *)fixed_key;
      klen = fixed_len;
    } else if (key_delim >= 0) {
      const char *d = memchr(line, key_delim, len);
      if (d) {
        key = (const uint8_t *)line;
        klen = (size_t)(d - line);
        val = (const uint8_t *)d + 1;
        vlen = len - klen - 1;
      }
    }
    if (add_record(p, key, klen, val, vlen) ||
        (interactive && flush_batch(p))) {
      rc = -1;
      break;
    }
    progress_update(pr, *bytes_done);
  }
  if (!rc && ferror(in)) {
    cli_error("produce", "reading input: %s", strerror(errno));
    rc = -1;
  }
  free(line);
  return rc;
}

int cli_produce_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "produce", argc, argv);
  const char *data = NULL, *topic = NULL, *key = NULL, *kdelim = NULL;
  int64_t part = -1;
  int nul = 0, quiet = 0, codec = ND_CODEC_NONE;
  nd_header headers[64];
  size_t nheaders = 0, headers_bytes = 0;
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  size_t nfiles = 0;
  if (!files)
    return CLI_FAIL;
  int ret = CLI_USAGE;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (!topic)
        topic = o.arg;
      else
        files[nfiles++] = o.arg;
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(produce_usage, stdout);
      ret = CLI_OK;
      goto out;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_value(&o, "-p", "--partition")) {
      if (cli_parse_i64("produce", "--partition", o.val, 0, INT32_MAX, &part))
        goto out;
    } else if (cli_value(&o, "-k", "--key")) {
      key = o.val;
    } else if (cli_value(&o, "-H", "--header")) {
      const char *eq = strchr(o.val, '=');
      if (!eq || eq == o.val) {
        cli_usage_error("produce", "bad header '%s': want KEY=VALUE", o.val);
        goto out;
      }
      if (nheaders == sizeof headers / sizeof headers[0]) {
        cli_usage_error("produce", "at most 64 headers");
        goto out;
      }
      headers[nheaders++] =
          (nd_header){o.val, (size_t)(eq - o.val), eq + 1, strlen(eq + 1)};
      headers_bytes += strlen(o.val) + 10;
    } else if (cli_value(&o, "-K", "--key-delimiter")) {
      kdelim = o.val;
      if (strlen(kdelim) != 1) {
        cli_usage_error("produce",
                        "bad --key-delimiter '%s': want one character", kdelim);
        goto out;
      }
    } else if (cli_flag(&o, "-z", "--null-delimited")) {
      nul = 1;
    } else if (cli_value(&o, NULL, "--compression")) {
      codec = nd_codecs_parse(o.val);
      if (codec < 0) {
        cli_usage_error("produce",
                        "bad --compression '%s': want none, gzip, snappy, "
                        "lz4 or zstd",
                        o.val);
        goto out;
      }
    } else if (cli_flag(&o, "-q", "--quiet")) {
      quiet = 1;
    } else {
      ret = cli_unknown(&o);
      goto out;
    }
  }
  if (o.bad)
    goto out;
  if (!topic) {
    cli_usage_error("produce", "missing TOPIC");
    goto out;
  }
  if (key && kdelim) {
    cli_usage_error("produce", "give -k or --key-delimiter, not both");
    goto out;
  }
  ret = CLI_FAIL;
  cli_quiet_sigpipe();
  /* Open every input before touching the store, so a typo costs nothing. */
  FILE **ins = calloc(nfiles + 1, sizeof *ins);
  if (!ins)
    goto out;
  size_t nins = nfiles ? nfiles : 1;
  uint64_t total = 0;
  int known = 1;
  for (size_t i = 0; i < nins; i++) {
    const char *f = nfiles ? files[i] : "-";
    ins[i] = strcmp(f, "-") ? fopen(f, "rb") : stdin;
    if (!ins[i]) {
      cli_error("produce", "cannot open %s: %s", f, strerror(errno));
      goto close_ins;
    }
    struct stat sb;
    if (fstat(fileno(ins[i]), &sb) == 0 && S_ISREG(sb.st_mode))
      total += (uint64_t)sb.st_size;
    else
      known = 0;
  }
  nd_store *st;
  if (cli_open_write("produce", cli_data_dir(data), 0, &st))
    goto close_ins;
  nd_topic_info info;
  int rc = nd_topic_describe(st, topic, &info);
  if (rc) {
    if (rc == ND_ENOTOPIC)
      cli_error("produce",
                "unknown topic %s (create it with: nodata topics create %s)",
                topic, topic);
    else
      cli_lib_error("produce", rc, NULL);
    nd_close(st);
    goto close_ins;
  }
  if (part >= info.partitions) {
    cli_error("produce", "topic %s has %d partition%s: no partition %" PRId64,
              topic, (int)info.partitions, info.partitions == 1 ? "" : "s",
              part);
    nd_close(st);
    goto close_ins;
  }
  producer p = {
      .st = st,
      .topic = topic,
      .partitions = info.partitions,
      .fixed_partition = (int32_t)part,
      .sticky = (int32_t)(wall_ms() % info.partitions),
      .codec = codec,
      .quiet = quiet,
      .printing = 1,
      .headers = headers,
      .nheaders = nheaders,
      .headers_bytes = headers_bytes,
  };
  size_t limit = (size_t)info.config.max_message_bytes;
  if (limit > BATCH_MAX_BYTES)
    limit = BATCH_MAX_BYTES;
  p.batch_limit = limit > ND_BATCH_HEADER_SIZE + 64
                      ? limit - ND_BATCH_HEADER_SIZE - 64
                      : 64;
  progress pr;
  progress_init(&pr, "produce", known ? total : 0, 1);
  uint64_t done = 0;
  int err = 0;
  for (size_t i = 0; i < nins && !err; i++)
    err =
        produce_stream(&p, ins[i], nul ? '\0' : '\n',
                       kdelim ? (unsigned char)kdelim[0] : -1, key, &pr, &done);
  if (!err)
    err = flush_batch(&p);
  progress_end(&pr);
  if (cli_close("produce", st))
    err = 1;
  free(p.recs);
  free(p.arena);
  free(p.views);
  ret = err ? CLI_FAIL : CLI_OK;
close_ins:
  for (size_t i = 0; i < nins; i++)
    if (ins[i] && ins[i] != stdin)
      fclose(ins[i]);
  free(ins);
out:
  free(files);
  return ret;
}
