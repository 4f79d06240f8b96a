/* SPDX-License-Identifier: Apache-2.0 */
/*
 * backup.c — `nodata backup DEST [--data DIR]`: the library's nd_backup
 * (src/backup.c says how the copy stays consistent beside a running
 * broker), printed one line per thing copied:
 *   copied T/P: offsets S up to E, N segments, B       a partition
 *   copied groups/offsets.log: B                        another file
 *   skipped topic T: why                                a topic left out
 *   backup of DIR in DEST: N topics, ...                the summary
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cli.h"

static const char backup_usage[] =
    "usage: nodata backup DEST [--data DIR]\n"
    "\n"
    "Copy the data directory into DEST (a new or empty directory) while\n"
    "`nodata serve` keeps running on it: nothing is locked or changed.\n"
    "Each partition is copied as of one moment during the backup: sealed\n"
    "segments whole, the active one up to its last whole batch, so the\n"
    "copy holds every record the partition had when the backup started\n"
    "and no torn one. Partitions are copied one after the other (not a\n"
    "snapshot across partitions). Committed consumer offsets and the\n"
    "transaction state are copied first, up to their last whole frame.\n"
    "Indexes are left out and rebuilt when the copy is first opened.\n"
    "Everything written is fsynced; FORMAT is written last.\n"
    "\n"
    "Restore: stop the broker, move DEST in place of the data directory\n"
    "(or serve DEST) and start it: recovery checks every batch and\n"
    "rebuilds the indexes. `nodata verify --data DEST` checks a backup.\n"
    "\n"
    "  --data DIR   data directory (default $NODATA_DATA, $NODATA_DIR,\n"
    "               else ./data)\n"
    "\n"
    "Examples:\n"
    "  nodata backup /backup/nodata-$(date +%F) --data /var/lib/nodata\n"
    "  nodata verify --data /backup/nodata-2026-12-05\n"
    "  nodata serve --data /backup/nodata-2026-12-05\n"
    "\n"
    "Exit status: 0 copied, 1 runtime failure (no data directory, DEST\n"
    "not empty, a file unreadable or unwritable: what was copied stays,\n"
    "without FORMAT), 2 usage error.\n";

static void on_item(void *ctx, const nd_backup_item *it) {
  (void)ctx;
  char b[32];
  cli_format_bytes((double)it->bytes, b, sizeof b);
  switch (it->kind) {
  case ND_BACKUP_PARTITION:
    printf("copied %s/%d: offsets %" PRId64 " up to %" PRId64 ", %" PRId64
           " segment%s, %s",
           it->topic, (int)it->partition, it->start_offset, it->end_offset,
           it->segments, it->segments == 1 ? "" : "s", b);
    break;
  case ND_BACKUP_FILE:
    printf("copied %s: %s", it->path, b);
    break;
  default:
    printf("skipped topic %s: %s\n", it->topic, it->text);
    fflush(stdout);
    return;
  }
  if (it->cut)
    printf(" (%" PRIu64 " bytes being written left out)", it->cut);
  putchar('\n');
  fflush(stdout);
}

int cli_backup_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "backup", argc, argv);
  const char *data = NULL, *dest = NULL;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (dest)
        return cli_usage_error("backup", "one destination only ('%s', '%s')",
                               dest, o.arg);
      dest = o.arg;
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(backup_usage, stdout);
      return CLI_OK;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!dest)
    return cli_usage_error("backup", "give the destination directory");
  const char *dir = cli_data_dir(data);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    cli_error("backup",
              "no data directory at %s (give --data DIR or set NODATA_DIR)",
              dir);
    return CLI_FAIL;
  }
  cli_quiet_sigpipe();
  /* Every segment of a partition is opened at once (its snapshot): raise
   * the soft descriptor limit to the hard one, as `nodata serve` does. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  nd_backup_options bo = {.on_item = on_item};
  nd_backup_stats bs;
  double t0 = cli_now();
  int rc = nd_backup(dir, dest, &bo, &bs);
  if (rc)
    return cli_lib_error("backup", rc, NULL);
  char b[32];
  cli_format_bytes((double)bs.bytes, b, sizeof b);
  printf("backup of %s in %s: %d topic%s, %d partition%s, %" PRId64
         " segment%s, %d other file%s, %s in %.1f s; fsynced\n",
         dir, dest, (int)bs.topics, bs.topics == 1 ? "" : "s",
         (int)bs.partitions, bs.partitions == 1 ? "" : "s", bs.segments,
         bs.segments == 1 ? "" : "s", (int)bs.files, bs.files == 1 ? "" : "s",
         b, cli_now() - t0);
  return CLI_OK;
}
