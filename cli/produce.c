/* SPDX-License-Identifier: Apache-2.0 */
/*
 * produce.c — `nodata produce`: one record per input line, appended in
 * batches (up to 1,000 records or 1 MiB, within max.message.bytes), each
 * record's offset printed.
 *
 * Records of one batch share a partition. With no -p, a keyed record goes
 * where Kafka's default partitioner sends its key, and unkeyed records go
 * to one partition per batch, rotating (Kafka's sticky partitioner). As in
 * a Kafka producer's record accumulator, each partition has its own open
 * batch, appended when full, when the input pauses (linger.ms=0: nothing
 * waits for input that is not there), at the end, or when all open
 * batches hold 32 MiB (buffer.memory). Keyed input spread over partitions
 * thus makes full batches, not one batch per change of partition. The
 * offsets are still printed in input order: each record keeps its place
 * in a queue that is printed as far as its batches are appended.
 *
 * Compressed batches are encoded by the library (nd_batch_encode, then
 * nd_codecs_compress_batch) and stored with nd_append_batch, exactly as a
 * Kafka client's would be.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
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
/* At most this much waits in the open batches of all partitions (Kafka's
 * buffer.memory default). */
#define PENDING_MAX_BYTES (32u << 20)

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
    "Records are gathered per partition, as a Kafka producer does, and\n"
    "appended in batches of up to 1,000 records or 1 MiB (within the\n"
    "topic's max.message.bytes); a partition's batch is appended when full,\n"
    "when the input pauses (a pipe fed line by line is stored as it comes)\n"
    "and at the end. The offsets are printed in input order.\n"
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
  int64_t key_off; /* into the batch's arena, -1 = null key */
  size_t key_len;
  int64_t val_off;
  size_t val_len;
  uint64_t qpos; /* its place in the input order (producer.q) */
} pending;

/* The records gathered for one partition: its open batch. */
typedef struct pbatch {
  pending *recs;
  size_t nrecs, recs_cap;
  uint8_t *arena;
  size_t arena_len, arena_cap;
  size_t bytes;    /* estimated encoded size */
  int has_unkeyed; /* closing it moves the sticky partition on */
} pbatch;

/* A record in input order, until its offset is printed. */
typedef struct order {
  int32_t partition;
  int64_t offset; /* -1 until its batch is appended */
} order;

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
  pbatch *open;         /* one per partition */
  size_t pending_bytes; /* in all open batches */
  size_t pending_recs;
  /* Offsets are printed in input order: the records not printed yet,
   * q[q_head] to q[q_head + q_len - 1]; q[0] is record number q_first of
   * the input. */
  order *q;
  size_t q_head, q_len, q_cap;
  uint64_t q_first;
  nd_record *views;
  size_t views_cap;
  uint64_t produced;
} producer;

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *n = realloc(*p, c * size);
  if (!n)
    return -1;
  *p = n;
  *cap = c;
  return 0;
}

static int arena_put(pbatch *b, const void *data, size_t n, int64_t *off) {
  if (b->arena_len + n > b->arena_cap) {
    size_t cap = b->arena_cap ? b->arena_cap : 1 << 12;
    while (cap < b->arena_len + n)
      cap *= 2;
    uint8_t *a = realloc(b->arena, cap);
    if (!a)
      return -1;
    b->arena = a;
    b->arena_cap = cap;
  }
  if (n)
    memcpy(b->arena + b->arena_len, data, n);
  *off = (int64_t)b->arena_len;
  b->arena_len += n;
  return 0;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Print "partition P offset O" for the records at the head of the input
 * order whose batches are appended. */
static void print_ready(producer *p) {
  while (p->q_len && p->q[p->q_head].offset >= 0) {
    const order *r = &p->q[p->q_head];
    if (p->printing)
      printf("partition %d offset %" PRId64 "\n", (int)r->partition, r->offset);
    p->q_head++;
    p->q_len--;
  }
  /* Keep the queue no larger than twice what waits in it. */
  if (p->q_head > p->q_len) {
    memmove(p->q, p->q + p->q_head, p->q_len * sizeof *p->q);
    p->q_first += p->q_head;
    p->q_head = 0;
  }
  if (p->printing && fflush(stdout) != 0 && cli_stdout_gone())
    p->printing = 0; /* keep appending: the input is what matters */
}

static int flush_batch(producer *p, int32_t part) {
  pbatch *b = &p->open[part];
  if (b->nrecs == 0)
    return 0;
  if (grow((void **)&p->views, &p->views_cap, b->nrecs, sizeof *p->views)) {
    cli_error("produce", "out of memory");
    return -1;
  }
  nd_record *v = p->views;
  for (size_t i = 0; i < b->nrecs; i++) {
    const pending *r = &b->recs[i];
    v[i] = (nd_record){
        .key = r->key_off >= 0 ? b->arena + r->key_off : NULL,
        .key_len = r->key_len,
        .value = b->arena + r->val_off,
        .value_len = r->val_len,
        .headers = p->headers,
        .header_count = p->nheaders,
        .timestamp = ND_TIMESTAMP_NOW,
    };
  }
  nd_append_info info;
  int rc;
  if (p->codec == ND_CODEC_NONE) {
    rc = nd_append(p->st, p->topic, part, v, b->nrecs, 0, &info);
  } else {
    void *enc = NULL, *out = NULL;
    size_t len = 0, out_len = 0;
    rc = nd_batch_encode(v, b->nrecs, 0, wall_ms(), 0, &enc, &len);
    if (!rc)
      rc = nd_codecs_compress_batch(enc, len, p->codec, &out, &out_len);
    if (!rc)
      rc = nd_append_batch(p->st, p->topic, part, out, out_len, 0, &info);
    nd_free(enc);
    free(out);
  }
  if (rc) {
    cli_lib_error("produce", rc, "append");
    return -1;
  }
  p->produced += b->nrecs;
  p->pending_bytes -= b->bytes;
  p->pending_recs -= b->nrecs;
  if (!p->quiet) {
    for (size_t i = 0; i < b->nrecs; i++)
      p->q[b->recs[i].qpos - p->q_first].offset = info.base_offset + (int64_t)i;
    print_ready(p);
  }
  /* Kafka's sticky partitioner moves on when a batch of unkeyed records
   * is complete. */
  if (b->has_unkeyed && p->fixed_partition < 0)
    p->sticky = (p->sticky + 1) % p->partitions;
  b->nrecs = 0;
  b->arena_len = 0;
  b->bytes = 0;
  b->has_unkeyed = 0;
  return 0;
}

/* Every open batch, in partition order: at the end of the input, when it
 * pauses, and when the open batches hold too much. */
static int flush_all(producer *p) {
  for (int32_t i = 0; i < p->partitions && p->pending_recs; i++)
    if (flush_batch(p, i))
      return -1;
  return 0;
}

static int add_record(producer *p, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen) {
  int32_t target = p->fixed_partition;
  if (target < 0)
    target = key ? nd_partition_for_key(key, klen, p->partitions) : p->sticky;
  /* Varints and the record header: 30 bytes is an upper bound. */
  size_t est = klen + vlen + p->headers_bytes + 30;
  if (est > p->batch_limit) {
    /* Store what came before it, so the offsets printed are the truth. */
    if (flush_all(p))
      return -1;
    cli_error("produce",
              "record %" PRIu64 " is %zu bytes, above the topic's limit of "
              "about %zu (max.message.bytes)",
              p->produced + 1, klen + vlen, p->batch_limit);
    return -1;
  }
  pbatch *b = &p->open[target];
  if (b->nrecs > 0 &&
      (b->nrecs >= BATCH_MAX_RECORDS || b->bytes + est > p->batch_limit)) {
    if (flush_batch(p, target))
      return -1;
    if (p->fixed_partition < 0 && !key) {
      target = p->sticky;
      b = &p->open[target];
    }
  }
  if (grow((void **)&b->recs, &b->recs_cap, b->nrecs + 1, sizeof *b->recs))
    goto oom;
  pending *r = &b->recs[b->nrecs];
  if (!p->quiet) {
    size_t at = p->q_head + p->q_len;
    if (grow((void **)&p->q, &p->q_cap, at + 1, sizeof *p->q))
      goto oom;
    p->q[at] = (order){target, -1};
    p->q_len++;
    r->qpos = p->q_first + at;
  }
  r->key_off = -1;
  r->key_len = klen;
  r->val_len = vlen;
  if ((key && arena_put(b, key, klen, &r->key_off)) ||
      arena_put(b, val, vlen, &r->val_off))
    goto oom;
  b->has_unkeyed |= key == NULL;
  b->nrecs++;
  b->bytes += est;
  p->pending_bytes += est;
  p->pending_recs++;
  /* Kafka's buffer.memory: a bound on what waits in open batches. */
  if (p->pending_bytes > PENDING_MAX_BYTES)
    return flush_all(p);
  return 0;
oom:
  cli_error("produce", "out of memory");
  return -1;
}

/* Would reading the input now wait? Then what is gathered goes out first,
 * as a producer with linger.ms=0 sends what it has when the application
 * pauses: a pipe fed a line at a time still gets each record stored (and
 * its offset printed) as it comes. */
static int input_idle(FILE *in, int can_wait) {
  if (!can_wait)
    return 0;
#ifdef __GLIBC__
  /* Lines still in stdio's buffer are no pause (glibc's FILE is public). */
  if (in->_IO_read_ptr < in->_IO_read_end)
    return 0;
#endif
  struct pollfd pfd = {.fd = fileno(in), .events = POLLIN};
  return poll(&pfd, 1, 0) == 0;
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
  struct stat sb;
  int can_wait = fstat(fileno(in), &sb) != 0 || !S_ISREG(sb.st_mode);
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
        ((interactive || input_idle(in, can_wait)) && flush_all(p))) {
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
  p.open = calloc((size_t)info.partitions, sizeof *p.open);
  if (!p.open) {
    cli_error("produce", "out of memory");
    nd_close(st);
    goto close_ins;
  }
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
    err = flush_all(&p);
  progress_end(&pr);
  if (cli_close("produce", st))
    err = 1;
  for (int32_t i = 0; p.open && i < p.partitions; i++) {
    free(p.open[i].recs);
    free(p.open[i].arena);
  }
  free(p.open);
  free(p.q);
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
