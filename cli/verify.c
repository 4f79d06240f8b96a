/* SPDX-License-Identifier: Apache-2.0 */
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
    "usage: nodata verify [--repair [--dry-run | --yes] [--quarantine DIR]]\n"
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
    "  - the committed consumer offsets and group states\n"
    "    (groups/offsets.log): each damaged range, with the commits and\n"
    "    states it held; --repair rewrites the file\n"
    "    without it, keeping the damaged file as offsets.log.damaged.\n"
    "Each problem is printed as \"damaged: FILE: byte N: what\", then a\n"
    "summary; a consumer group's committed offset past where a repair\n"
    "would end the log is printed as a warning. verify works while\n"
    "`nodata serve` runs.\n"
    "\n"
    "  --repair     after checking, say what will be dropped and ask\n"
    "               \"Repair? [y/N]\" on the terminal; on yes truncate\n"
    "               each damaged log at its first bad byte (moving the\n"
    "               partition's later segments aside: a log has no holes)\n"
    "               and rebuild the indexes, and verify again. Brings a\n"
    "               partition the broker took offline back. Needs the data\n"
    "               directory to itself (stop the broker first). With no\n"
    "               damage found there is nothing to ask. When standard\n"
    "               input is not a terminal, a repair that would change\n"
    "               something is refused (exit 2) unless --yes is given.\n"
    "  -y, --yes    with --repair: repair without asking (scripts)\n"
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
    "  nodata verify --repair --yes --data /var/lib/nodata\n"
    "\n"
    "Exit status: 0 no damage (or all of it repaired), 1 runtime failure\n"
    "(unknown topic, unreadable files, directory held), 2 usage error (also\n"
    "a repair refused for want of --yes), 3 damage found (also when the\n"
    "answer was no).\n";

typedef struct printer {
  progress pr;
  int repair;
  /* The confirmed repair after a dry run: its first check pass and plan
   * were printed by the dry run already. */
  int quiet_first_pass;
  int passes; /* ND_VERIFY_CHECKED events so far */
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
  if (ev->kind == ND_VERIFY_CHECKED)
    pr->passes++;
  if (pr->quiet_first_pass &&
      (ev->kind == ND_VERIFY_PLAN ||
       (pr->passes == 0 && ev->kind != ND_VERIFY_ACTION) ||
       (pr->passes == 1 && ev->kind == ND_VERIFY_CHECKED))) {
    if (ev->kind == ND_VERIFY_CHECKED)
      progress_init(&pr->pr, "verify", 0, 1);
    return;
  }
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

/* Ask on the terminal whether to go ahead; 1 for yes. */
static int confirm(void) {
  fprintf(stderr, "Repair: drop what is listed above (it is kept in the "
                  "quarantine directory)? [y/N] ");
  fflush(stderr);
  char line[64];
  if (!fgets(line, sizeof line, stdin))
    return 0;
  return line[0] == 'y' || line[0] == 'Y';
}

static int run_verify(const char *dir, nd_verify_options *vo, printer *pr,
                      nd_verify_stats *vs) {
  progress_init(&pr->pr, "verify", 0, 1);
  pr->passes = 0;
  vo->ctx = pr;
  int rc = nd_verify(dir, vo, vs);
  progress_end(&pr->pr);
  fflush(stdout);
  return rc;
}

int cli_verify_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "verify", argc, argv);
  const char *data = NULL;
  unsigned flags = 0;
  int dry_run = 0, yes = 0;
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
    } else if (cli_flag(&o, "-y", "--yes")) {
      yes = 1;
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
  if (yes && !(flags & ND_VERIFY_REPAIR)) {
    cli_usage_error("verify", "--yes goes with --repair");
    goto out;
  }
  if (yes && dry_run) {
    cli_usage_error("verify", "give --dry-run or --yes, not both");
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
  nd_options open_opts;
  cli_open_options(&open_opts, 0);
  nd_verify_options vo = {.topics = topics,
                          .ntopics = ntopics,
                          .flags = flags,
                          .quarantine_dir = quarantine_dir,
                          .on_event = on_event,
                          .on_progress = on_progress,
                          .open_options = &open_opts};
  nd_verify_stats vs = {0};
  int rc;
  int ask = (flags & ND_VERIFY_REPAIR) && !dry_run && !yes;
  pid_t holder = 0;
  if (ask && nd_lock_holder(dir, &holder) == 0 && holder != 0) {
    /* Say so before a check that could only end in this refusal. */
    rc = ND_ELOCKED;
  } else if (ask) {
    /* A dry run first: the findings and the plan, then the question. */
    vo.flags = flags | ND_VERIFY_DRY_RUN;
    rc = run_verify(dir, &vo, &pr, &vs);
    /* Damage no repair fixes: the repair itself refuses, and says why. */
    int refused = rc == 0 && vs.unrepairable;
    if (rc == 0 && vs.problems && !refused) {
      if (!isatty(STDIN_FILENO)) {
        cli_error("verify",
                  "not repairing: standard input is not a terminal to ask "
                  "on; run again with --yes to repair, or --dry-run to "
                  "only see the plan");
        ret = CLI_USAGE;
        goto out;
      }
      if (!confirm()) {
        printf("repair: not confirmed, nothing changed\n");
        ret = CLI_DAMAGED;
        goto out;
      }
    }
    if (rc == 0 && vs.problems) {
      vo.flags = flags;
      pr.quiet_first_pass = 1;
      rc = run_verify(dir, &vo, &pr, &vs);
    }
  } else {
    rc = run_verify(dir, &vo, &pr, &vs);
  }
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
    if (dry_run || (vo.flags & ND_VERIFY_DRY_RUN))
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
