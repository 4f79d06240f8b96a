/* SPDX-License-Identifier: Apache-2.0 */
/*
 * users.c — `nodata users add|list|delete`: the SCRAM credentials of a
 * data directory (broker/scram_store.c), which SASL's PLAIN and SCRAM
 * mechanisms check.
 *
 * add and delete take the data directory's lock for the edit, as every
 * command that writes does: while `nodata serve` runs they refuse and
 * name it, and credentials then change through the broker
 * (AlterUserScramCredentials, e.g. kafka-configs.sh --alter
 * --add-config 'SCRAM-SHA-256=[password=...]' --entity-type users). One
 * writer at a time means no edit is lost to another; the broker reads
 * the file when it starts. list only reads the file and works beside it.
 *
 * The password is read from standard input (its first line), never from
 * the command line, where other users could see it in the process list.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "sasl.h"

static const char users_usage[] =
    "usage: nodata users add NAME --mechanism MECH [--iterations N] "
    "[--data DIR]\n"
    "       nodata users list [--data DIR]\n"
    "       nodata users delete NAME [--mechanism MECH] [--data DIR]\n"
    "\n"
    "SCRAM credentials of the broker's SASL listeners (PLAIN checks them\n"
    "too), kept salted in DIR/security/scram-credentials: never the\n"
    "password. add reads the password from standard input (the first\n"
    "line; without echo on a terminal).\n"
    "\n"
    "  --mechanism MECH  SCRAM-SHA-256 or SCRAM-SHA-512 (delete: both\n"
    "                    when not given)\n"
    "  --iterations N    PBKDF2 iterations, 4096-16384 (default 4096, as\n"
    "                    kafka-configs.sh)\n"
    "  --data DIR        data directory (default $NODATA_DATA, $NODATA_DIR,\n"
    "                    else ./data)\n"
    "\n"
    "add and delete refuse while `nodata serve` runs on DIR: change users\n"
    "through the broker then (AlterUserScramCredentials, kafka-configs.sh\n"
    "--entity-type users). list works beside it.\n"
    "\n"
    "Example:\n"
    "  echo 'alice-secret' | nodata users add alice --mechanism "
    "SCRAM-SHA-512 --data /var/lib/nodata\n"
    "\n"
    "Exit status: 0 done, 1 runtime failure (broker running, no such\n"
    "credential, I/O error), 2 usage error.\n";

/* The first line of standard input, without its end of line; echo off
 * on a terminal. Returns its length or -1. */
static long read_password(char *buf, size_t cap) {
  int tty = isatty(STDIN_FILENO);
  struct termios old, quiet;
  if (tty) {
    fprintf(stderr, "Password: ");
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) == 0) {
      quiet = old;
      quiet.c_lflag &= ~(tcflag_t)ECHO;
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    } else {
      tty = 0;
    }
  }
  char *got = fgets(buf, (int)cap, stdin);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (!got)
    return -1;
  size_t n = strlen(buf);
  if (n && buf[n - 1] == '\n')
    buf[--n] = 0;
  if (n && buf[n - 1] == '\r')
    buf[--n] = 0;
  return (long)n;
}

static int load(const char *dir, scram_store *s) {
  char why[512];
  if (scram_store_load(dir, s, why, sizeof why) < 0) {
    cli_error("users", "%s", why);
    return CLI_FAIL;
  }
  return CLI_OK;
}

static int list(const char *dir) {
  scram_store s;
  if (load(dir, &s))
    return CLI_FAIL;
  for (size_t i = 0; i < s.n; i++)
    printf("%s %s iterations=%d\n", s.v[i].user, scram_mech_name(s.v[i].mech),
           s.v[i].iterations);
  scram_store_free(&s);
  return CLI_OK;
}

static int edit(const char *dir, int add, const char *name, int mech,
                int64_t iterations) {
  char pw[4096];
  long pwlen = 0;
  if (add) {
    pwlen = read_password(pw, sizeof pw);
    if (pwlen <= 0) {
      cli_error("users", "no password on standard input (give it as the "
                         "first line)");
      return CLI_FAIL;
    }
  }
  /* The lock for the length of the edit (refused while a broker runs). */
  nd_store *st;
  if (cli_open_write("users", dir, add, &st))
    return CLI_FAIL;
  scram_store s;
  int rc = load(dir, &s);
  if (rc) {
    cli_close("users", st);
    return rc;
  }
  int changed = 0;
  if (add) {
    uint8_t salt[32], salted[SCRAM_MAX_HASH];
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        scram_salted_password(mech, pw, (size_t)pwlen, salt, sizeof salt,
                              (int32_t)iterations, salted) < 0 ||
        scram_store_put(&s, name, mech, (int32_t)iterations, salt, sizeof salt,
                        salted, scram_hash_len(mech)) < 0) {
      cli_error("users", "cannot derive the credential (out of memory?)");
      rc = CLI_FAIL;
    }
    OPENSSL_cleanse(salted, sizeof salted);
    changed = !rc;
  } else {
    for (int m = SCRAM_SHA_256; m <= SCRAM_SHA_512; m++)
      if ((!mech || m == mech) && scram_store_del(&s, name, m) == 0)
        changed = 1;
    if (!changed) {
      cli_error("users", "no %s credential for user %s",
                mech ? scram_mech_name(mech) : "SCRAM", name);
      rc = CLI_FAIL;
    }
  }
  OPENSSL_cleanse(pw, sizeof pw);
  if (changed) {
    int w = scram_store_save(&s);
    if (w < 0) {
      cli_error("users", "cannot write %s: %s", s.path, strerror(-w));
      rc = CLI_FAIL;
    } else {
      printf("%s %s credential of user %s\n", add ? "set" : "deleted",
             mech ? scram_mech_name(mech) : "every SCRAM", name);
    }
  }
  scram_store_free(&s);
  if (cli_close("users", st))
    rc = CLI_FAIL;
  return rc;
}

int cli_users_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "users", argc, argv);
  const char *data = NULL, *action = NULL, *name = NULL, *mech_s = NULL;
  int64_t iterations = SCRAM_MIN_ITERATIONS;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (!action)
        action = o.arg;
      else if (!name)
        name = o.arg;
      else
        return cli_usage_error("users", "unexpected argument '%s'", o.arg);
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(users_usage, stdout);
      return CLI_OK;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_value(&o, "-m", "--mechanism")) {
      mech_s = o.val;
    } else if (cli_value(&o, NULL, "--iterations")) {
      if (cli_parse_i64("users", "--iterations", o.val, SCRAM_MIN_ITERATIONS,
                        SCRAM_MAX_ITERATIONS, &iterations) < 0)
        return CLI_USAGE;
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!action)
    return cli_usage_error("users", "give add, list or delete");
  int mech = SCRAM_UNKNOWN;
  if (mech_s && !(mech = scram_mech_parse(mech_s)))
    return cli_usage_error("users",
                           "--mechanism: '%s' is not SCRAM-SHA-256 or "
                           "SCRAM-SHA-512",
                           mech_s);
  const char *dir = cli_data_dir(data);
  if (!strcmp(action, "list")) {
    if (name)
      return cli_usage_error("users", "list takes no name");
    return list(dir);
  }
  int add = !strcmp(action, "add");
  if (!add && strcmp(action, "delete"))
    return cli_usage_error("users", "unknown action '%s' (add, list, delete)",
                           action);
  if (!name || !*name)
    return cli_usage_error("users", "give the user's name");
  if (strlen(name) > 255)
    return cli_usage_error("users", "user names are at most 255 bytes");
  if (add && !mech)
    return cli_usage_error("users", "add needs --mechanism SCRAM-SHA-256 or "
                                    "SCRAM-SHA-512");
  return edit(dir, add, name, mech, iterations);
}
