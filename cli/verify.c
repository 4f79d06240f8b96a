/*
 * verify.c — `nodata verify [TOPIC...] [--repair [--dry-run]]`: the
 * library's nd_verify (src/verify.c says what it checks and how a repair
 * goes through recovery), printed one line per event:
 *   damaged: FILE: byte N: what      ND_VERIFY_DAMAGE
 *   warning: ...                     ND_VERIFY_WARNING
 *   repair: ...                      ND_VERIFY_PLAN, _ACTION, _REPAIRED
 *   verified N topics, ...           ND_VERIFY_CHECKED (the summary)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char verify_usage[] =
    "usage: nodata verify [--repair [--dry-run] [--quarantine DIR]]\n"
    "                     [--data DIR] [TOPIC ...]\n"
    "\n"
    "Check the stored data of every topic (or the TOPICs named), reading\n"
    "the files directly and changing nothing:\n"
    "  - every batch's length, magic byte and CRC-32C, and that offsets\n"
    "    increase from batch to batch and segment to segment (a compacted\n"
    "    log has holes; the last segment's offsets run on without gaps);\n"
    "  - every .index and .timeindex entry against its .log;\n"
    "  - control batches (transaction markers) that end no transaction:\n"
    "    a client wrote them, and consumers stop or misread there.\n"
    "  - the committed consumer offsets (groups/offsets.log): each damaged\n"
    "    range, with the commits it held; --repair rewrites the file\n"
    "    without it, keeping the damaged file as offsets.log.damaged.\n"
    "Each problem is printed as \"damaged: FILE: byte N: what\", then a\n"
    "summary; a consumer group's committed offset past where a repair\n"
    "would end the log is printed as a warning. verify works while\n"
    "`nodata serve` runs.\n"
    "\n"
    "  --repair     after checking, say what will be dropped, then truncate\n"
    "               each damaged log at its first bad byte (moving the\n"
    "               partition's later segments aside: a log has no holes)\n"
    "               and rebuild the indexes, and verify again. Brings a\n"
    "               partition the broker took offline back. Needs the data\n"
    "               directory to itself (stop the broker first).\n"
    "  --dry-run    with --repair: say what the repair would drop and\n"
    "               rebuild, and change nothing\n"
    "  --quarantine DIR\n"
    "               where --repair puts what it drops (the bytes from the\n"
    "               first bad one, and the later segments whole); default\n"
    "               DATA/quarantine/<UTC time>/<topic>-<partition>/\n"
    "  --data DIR   data directory (default $NODATA_DATA, $NODATA_DIR,\n"
    "               else ./data)\n"
    "\n"
    "Examples:\n"
    "  nodata verify\n"
    "  nodata verify orders payments --data /var/lib/nodata\n"
    "  nodata verify --repair --dry-run orders\n"
    "  nodata verify --repair orders\n"
    "\n"
    "Exit status: 0 no damage (or all of it repaired), 1 runtime failure\n"
    "(unknown topic, unreadable files, directory held), 2 usage error,\n"
    "3 damage found.\n";

typedef struct printer {
  progress pr;
  int repair;
} printer;

static void summary(const nd_verify_stats *st) {
  char b[32];
  cli_format_bytes((double)st->bytes, b, sizeof b);
  printf("verified %d topic%s, %d partition%s, %" PRId64 " segment%s, %" PRId64
         " batches, %" PRId64 " records, %s: ",
         (int)st->topics, st->topics == 1 ? "" : "s", (int)st->partitions,
         st->partitions == 1 ? "" : "s", st->segments,
         st->segments == 1 ? "" : "s", st->batches, st->records, b);
  if (st->problems)
    printf("%d problem%s\n", st->problems, st->problems == 1 ? "" : "s");
  else
    printf("no damage found\n");
}

static void on_event(void *ctx, const nd_verify_event *ev) {
  printer *pr = ctx;
  progress_end(&pr->pr);
  switch (ev->kind) {
  case ND_VERIFY_DAMAGE:
    printf("damaged: %s\n", ev->text);
    break;
  case ND_VERIFY_WARNING:
    printf("warning: %s\n", ev->text);
    break;
  case ND_VERIFY_CHECKED:
    summary(ev->stats);
    /* The next pass (after a repair) has its own progress line. */
    progress_init(&pr->pr, "verify", 0, 1);
    break;
  default: /* what the repair will do, does, has done */
    printf("repair: %s\n", ev->text);
    break;
  }
  fflush(stdout);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total) {
  printer *pr = ctx;
  pr->pr.total = total;
  progress_update(&pr->pr, done);
}

int cli_verify_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "verify", argc, argv);
  const char *data = NULL;
  unsigned flags = 0;
  int dry_run = 0;
  const char *quarantine_dir = NULL;
  const char **topics = calloc((size_t)argc + 1, sizeof *topics);
  size_t ntopics = 0;
  if (!topics)
    return CLI_FAIL;
  int ret = CLI_USAGE;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (nd_topic_name_valid(o.arg) != 0) {
        cli_usage_error("verify", "bad topic name '%s': %s", o.arg,
                        nd_errmsg());
        goto out;
      }
      topics[ntopics++] = o.arg;
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(verify_usage, stdout);
      ret = CLI_OK;
      goto out;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_flag(&o, NULL, "--repair")) {
      flags |= ND_VERIFY_REPAIR;
    } else if (cli_flag(&o, NULL, "--dry-run")) {
      dry_run = 1;
    } else if (cli_value(&o, NULL, "--quarantine")) {
      quarantine_dir = o.val;
    } else {
      ret = cli_unknown(&o);
      goto out;
    }
  }
  if (o.bad)
    goto out;
  if (dry_run && !(flags & ND_VERIFY_REPAIR)) {
    cli_usage_error("verify", "--dry-run goes with --repair (verify alone "
                              "changes nothing)");
    goto out;
  }
  if (dry_run)
    flags |= ND_VERIFY_DRY_RUN;
  cli_quiet_sigpipe();
  const char *dir = cli_data_dir(data);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    cli_error("verify",
              "no data directory at %s (give --data DIR or set "
              "NODATA_DIR)",
              dir);
    ret = CLI_FAIL;
    goto out;
  }
  printer pr = {.repair = (flags & ND_VERIFY_REPAIR) != 0};
  progress_init(&pr.pr, "verify", 0, 1);
  nd_options open_opts;
  cli_open_options(&open_opts, 0);
  nd_verify_options vo = {.topics = topics,
                          .ntopics = ntopics,
                          .flags = flags,
                          .quarantine_dir = quarantine_dir,
                          .on_event = on_event,
                          .on_progress = on_progress,
                          .ctx = &pr,
                          .open_options = &open_opts};
  nd_verify_stats vs;
  int rc = nd_verify(dir, &vo, &vs);
  progress_end(&pr.pr);
  fflush(stdout);
  if (rc == ND_ELOCKED) {
    pid_t pid = 0;
    nd_lock_holder(dir, &pid);
    cli_held_message("verify", dir, pid);
    ret = CLI_FAIL;
  } else if (rc == ND_ECORRUPT && vs.unrepairable) {
    cli_lib_error("verify", rc, NULL);
    ret = CLI_DAMAGED;
  } else if (rc) {
    ret = cli_lib_error("verify", rc, NULL);
  } else if (!vs.problems) {
    ret = CLI_OK;
  } else {
    if (dry_run)
      printf("repair: dry run, nothing changed\n");
    else if (!(flags & ND_VERIFY_REPAIR))
      printf("run `nodata verify --repair` to truncate damaged logs at the "
             "first bad byte and rebuild indexes\n");
    ret = CLI_DAMAGED;
  }
  fflush(stdout);
out:
  free(topics);
  return ret;
}
