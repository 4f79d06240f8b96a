/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c — the `nodata` program: a table of subcommands.
 *
 * Adding a subcommand is one row in `commands` plus its function, which
 * takes argc/argv starting at its own name (argv[0] = "topics"), prints
 * its usage to stdout on --help and returns the exit status below.
 *
 * Exit status, the same for every subcommand:
 *   0  success
 *   1  runtime failure (I/O error, data directory in use, broker error)
 *   2  usage error (unknown command or flag, bad value)
 *   3  data damaged (verify found corruption)
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nodata.h"

int broker_serve_main(int argc, char **argv);   /* broker/serve.c */
int broker_console_main(int argc, char **argv); /* broker/console_cli.c */

typedef struct command {
  const char *name;
  const char *summary; /* one line for `nodata --help` */
  int (*fn)(int argc, char **argv);
} command;

static const command commands[] = {
    {"serve", "run the Kafka-protocol broker on a data directory",
     broker_serve_main},
    {"console", "serve the web console for a remote Kafka broker",
     broker_console_main},
    {"topics", "list, create, alter, describe, where or delete topics",
     cli_topics_main},
    {"produce", "append records, one per input line", cli_produce_main},
    {"consume", "print records; -f follows new ones", cli_consume_main},
    {"groups", "list, describe, reset or delete consumer groups",
     cli_groups_main},
    {"inspect", "dump a segment, offset index or time index file",
     cli_inspect_main},
    {"verify", "check CRCs and indexes; --repair truncates damage",
     cli_verify_main},
    {"backup", "copy the data directory beside a running broker",
     cli_backup_main},
    {"users", "add, list or delete SCRAM users (SASL credentials)",
     cli_users_main},
    {"acls", "add, list or remove the ACLs the broker enforces", cli_acls_main},
#ifdef ND_HAVE_BENCH
    {"bench", "run the storage engine benchmark", cli_bench_main},
#endif
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fprintf(out, "usage: nodata [--version] [--help] COMMAND [ARGS]\n"
               "\n"
               "nodata is a single-node event log that stores Kafka record\n"
               "batches on disk and speaks the Kafka protocol.\n"
               "\n"
               "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(
      out,
      "\n"
      "Run `nodata help COMMAND` or `nodata COMMAND --help` for its flags.\n"
      "\n"
      "Examples:\n"
      "  nodata serve --data ./data --listen 127.0.0.1:9092\n"
      "  nodata help serve\n"
      "\n"
      "Exit status: 0 ok, 1 runtime failure, 2 usage error, 3 data "
      "damaged.\n");
}

static const command *find(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name))
      return &commands[i];
  return NULL;
}

static int unknown_command(const char *name) {
  fprintf(stderr, "nodata: unknown command '%s' (see nodata --help)\n", name);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *a = argv[1];
  if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(a, "--version") || !strcmp(a, "-V") || !strcmp(a, "version")) {
    printf("nodata %s (data format %d)\n", ND_VERSION_STRING,
           ND_FORMAT_VERSION);
    return 0;
  }
  if (!strcmp(a, "help")) {
    if (argc < 3) {
      usage(stdout);
      return 0;
    }
    const command *c = find(argv[2]);
    if (!c)
      return unknown_command(argv[2]);
    char *help_argv[] = {argv[2], "--help", NULL};
    return c->fn(2, help_argv);
  }
  if (a[0] == '-') {
    fprintf(stderr, "nodata: unknown flag '%s' (see nodata --help)\n", a);
    return 2;
  }
  const command *c = find(a);
  if (!c)
    return unknown_command(a);
  return c->fn(argc - 1, argv + 1);
}
