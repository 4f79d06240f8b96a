/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topics.c — `nodata topics list|create|alter|describe|delete`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char topics_usage[] =
    "usage: nodata topics list [--data DIR]\n"
    "       nodata topics create NAME [-p N] [--config KEY=VALUE ...]\n"
    "                                 [--if-not-exists] [--data DIR]\n"
    "       nodata topics alter NAME [--partitions N] [--config KEY=VALUE "
    "...]\n"
    "                                [--delete-config KEY ...] [--data DIR]\n"
    "       nodata topics describe NAME [--data DIR]\n"
    "       nodata topics where NAME [-p N] [--data DIR]\n"
    "       nodata topics delete NAME [--data DIR]\n"
    "\n"
    "Manage the topics of a data directory, without a broker.\n"
    "\n"
    "  list       names of all topics, one a line\n"
    "  create     a new topic with N partitions (default 1)\n"
    "  alter      change settings of a topic (the others keep their values)\n"
    "             and/or grow it to N partitions (never fewer: records are\n"
    "             not moved, so keys hash to other partitions from then on)\n"
    "  describe   its directory, partitions (log start, end offset, size,\n"
    "             segments, last timestamp; for a compacted topic also the\n"
    "             dirty ratio and the last cleaning) and every config setting\n"
    "  where      the topic's directory (with -p N: partition N's), where\n"
    "             its segment files are for `nodata inspect`\n"
    "  delete     remove a topic and all its data\n"
    "\n"
    "  -p, --partitions N        create: partitions of the new topic\n"
    "                            (default 1); alter: the new total, larger\n"
    "                            than now; where: the partition\n"
    "  -c, --config KEY=VALUE    a topic setting; repeatable. Keys:\n"
    "                            segment.bytes, retention.ms, fsync, ...\n"
    "                            (describe lists them all)\n"
    "  --delete-config KEY       alter: back to the default; repeatable\n"
    "  --if-not-exists           create: succeed if the topic exists\n"
    "  --data DIR                data directory (default $NODATA_DATA,\n"
    "                            $NODATA_DIR, else ./data)\n"
    "\n"
    "list, describe and where only read, so they work while `nodata serve`\n"
    "runs; create, alter and delete need the directory to themselves (with\n"
    "a broker running, use a Kafka admin tool: kafka-configs --alter,\n"
    "kafka-topics --alter --partitions).\n"
    "\n"
    "Examples:\n"
    "  nodata topics create orders -p 3 --config retention.ms=86400000\n"
    "  nodata topics create state --config cleanup.policy=compact\n"
    "  nodata topics alter orders --config cleanup.policy=compact,delete \\\n"
    "                             --delete-config retention.ms\n"
    "  nodata topics alter orders --partitions 6\n"
    "  nodata topics describe orders\n"
    "  nodata inspect $(nodata topics where orders -p "
    "0)/00000000000000000000.log\n"
    "  nodata topics list --data /var/lib/nodata\n"
    "\n"
    "Exit status: 0 ok, 1 runtime failure (unknown topic, directory held),\n"
    "2 usage error.\n";

static int do_list(const char *dir) {
  nd_store *st;
  if (cli_open_read("topics", dir, &st))
    return CLI_FAIL;
  nd_topic_info *infos = NULL;
  size_t n = 0;
  int rc = nd_topic_list(st, &infos, &n);
  if (rc) {
    cli_lib_error("topics", rc, "list");
    nd_close(st);
    return CLI_FAIL;
  }
  /* An offline topic is named on stderr too, so that scripts reading the
   * list keep working and an operator sees it. */
  for (size_t i = 0; i < n; i++) {
    printf("%s\n", infos[i].name);
    if (infos[i].offline)
      fprintf(stderr,
              "nodata topics: topic %s is offline (its partitions could not "
              "be opened; 'topics describe' says why, 'topics delete' "
              "removes it)\n",
              infos[i].name);
    else if (infos[i].offline_partitions)
      fprintf(stderr,
              "nodata topics: topic %s has %d offline partition%s (damaged "
              "data; 'nodata verify' shows where, 'nodata verify --repair' "
              "cuts it)\n",
              infos[i].name, (int)infos[i].offline_partitions,
              infos[i].offline_partitions == 1 ? "" : "s");
  }
  nd_free(infos);
  nd_close(st);
  return CLI_OK;
}

static int do_create(const char *dir, const char *name, int32_t partitions,
                     const nd_topic_config *cfg, int if_not_exists) {
  nd_store *st;
  if (cli_open_write("topics", dir, 1, &st))
    return CLI_FAIL;
  /* What --config named is the topic's own; the rest follows the
   * store's defaults. */
  nd_topic_config own = *cfg;
  own.overrides |= ND_TOPIC_OVERRIDES_EXACT;
  int rc = nd_topic_create(st, name, partitions, &own);
  if (rc == ND_ETOPICEXISTS && if_not_exists) {
    printf("topic %s already exists\n", name);
    return cli_close("topics", st);
  }
  if (rc) {
    if (rc == ND_ETOPICEXISTS)
      cli_error("topics", "topic %s already exists", name);
    else
      cli_lib_error("topics", rc, "create");
    nd_close(st);
    return CLI_FAIL;
  }
  if (cli_close("topics", st))
    return CLI_FAIL;
  printf("created topic %s with %d partition%s\n", name, (int)partitions,
         partitions == 1 ? "" : "s");
  return CLI_OK;
}

/* Open the store (to write, or only to read) and describe topic `name`
 * into *info; on failure say why and return CLI_FAIL, store closed. */
static int open_topic(const char *dir, const char *name, int write,
                      nd_store **st, nd_topic_info *info) {
  if (write ? cli_open_write("topics", dir, 0, st)
            : cli_open_read("topics", dir, st))
    return CLI_FAIL;
  int rc = nd_topic_describe(*st, name, info);
  if (rc == 0)
    return CLI_OK;
  if (rc == ND_ENOTOPIC)
    cli_error("topics", "unknown topic %s", name);
  else
    cli_lib_error("topics", rc, "describe");
  nd_close(*st);
  return CLI_FAIL;
}

/* The settings `topics alter` was given: KEY=VALUE to set, KEY (value
 * NULL) back to its default, applied in order. */
typedef struct cfg_change {
  const char *key, *value;
} cfg_change;

/* Kafka's refusal of a CreatePartitions that is no increase (4.4's
 * ReplicationControlManager texts, as the broker answers). */
static int no_increase(const char *name, int32_t now, int32_t want) {
  if (want == now)
    cli_error("topics", "Topic already has %d partition(s).", (int)now);
  else
    cli_error("topics",
              "The topic %s currently has %d partition(s); %d would not be an "
              "increase.",
              name, (int)now, (int)want);
  return CLI_FAIL;
}

/* Settings first, then partitions: everything is checked before either
 * changes, so a refused alter (a bad partition count, a limit, settings
 * that conflict) changes nothing. */
static int do_alter(const char *dir, const char *name, const cfg_change *ch,
                    size_t n, int32_t partitions) {
  nd_store *st;
  nd_topic_info info;
  if (open_topic(dir, name, 1, &st, &info))
    return CLI_FAIL;
  int rc;
  int32_t before = info.partitions;
  if (partitions > 0) {
    if (partitions <= before) {
      nd_close(st);
      return no_increase(name, before, partitions);
    }
    if ((rc = nd_partitions_allowed(st, name, partitions)) != 0) {
      cli_lib_error("topics", rc, "alter");
      nd_close(st);
      return CLI_FAIL;
    }
  }
  nd_topic_config def;
  nd_store_topic_defaults(st, &def);
  for (size_t i = 0; i < n; i++) {
    /* --delete-config: the topic follows the store's default again. */
    if (!ch[i].value)
      nd_topic_config_unset(&info.config, ch[i].key, &def); /* key checked */
    else
      nd_topic_config_set(&info.config, ch[i].key, ch[i].value); /* too */
  }
  /* What only the whole config can say (min.compaction.lag.ms above
   * max.compaction.lag.ms) is the library's to refuse here. */
  if (n && (rc = nd_topic_set_config(st, name, &info.config)) != 0) {
    cli_lib_error("topics", rc, "alter");
    nd_close(st);
    return CLI_FAIL;
  }
  if (partitions > 0 &&
      (rc = nd_topic_add_partitions(st, name, partitions)) != 0) {
    cli_lib_error("topics", rc,
                  n ? "alter (the settings were changed)" : "alter");
    nd_close(st);
    return CLI_FAIL;
  }
  if (cli_close("topics", st))
    return CLI_FAIL;
  printf("altered topic %s:\n", name);
  if (partitions > 0)
    printf("  partitions: %d -> %d\n", (int)before, (int)partitions);
  for (size_t i = 0; i < n; i++) {
    char v[128];
    if (nd_topic_config_get(&info.config, ch[i].key, v, sizeof v) == 0)
      printf("  %s=%s%s\n", ch[i].key, v, ch[i].value ? "" : " (default)");
  }
  return CLI_OK;
}

static int do_describe(const char *dir, const char *name) {
  nd_store *st;
  nd_topic_info info;
  if (open_topic(dir, name, 0, &st, &info))
    return CLI_FAIL;
  int rc;
  printf("topic: %s\n", info.name);
  printf("id: ");
  for (int i = 0; i < 16; i++)
    printf("%02x%s", info.id[i],
           i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
  char tdir[65];
  nd_topic_dirname(name, tdir);
  printf("\ndirectory: %s/topics/%s\n", dir, tdir);
  printf("partitions: %d\n", (int)info.partitions);
  /* A compacted topic also shows the cleaner's view: the share of its
   * sealed bytes written since the last cleaning, and when that was. */
  int compacted = (info.config.cleanup_policy & ND_CLEANUP_COMPACT) != 0;
  printf("%-9s  %12s  %12s  %12s  %8s  %-*s%s\n", "PARTITION", "LOG-START",
         "END-OFFSET", "SIZE", "SEGMENTS", compacted ? 24 : 0, "LAST-TIMESTAMP",
         compacted ? "  DIRTY-RATIO  LAST-CLEAN" : "");
  for (int32_t p = 0; p < info.partitions; p++) {
    nd_partition_info pi;
    rc = nd_partition_describe(st, name, p, &pi);
    if (rc) {
      cli_lib_error("topics", rc, "describe partition");
      nd_close(st);
      return CLI_FAIL;
    }
    char ts[40];
    cli_format_time(pi.max_timestamp, ts, sizeof ts);
    printf("%-9d  %12" PRId64 "  %12" PRId64 "  %12" PRId64 "  %8d  %-*s",
           (int)p, pi.log_start_offset, pi.high_watermark, pi.size_bytes,
           (int)pi.segment_count, compacted ? 24 : 0, ts);
    nd_clean_status cs;
    if (compacted && nd_clean_describe(st, name, p, &cs) == 0) {
      char when[40];
      cli_format_time(cs.last_clean_ms > 0 ? cs.last_clean_ms : -1, when,
                      sizeof when);
      printf("  %11.2f  %s", cs.dirty_ratio, when);
    }
    printf("\n");
  }
  printf("config:\n");
  for (const char *const *k = nd_topic_config_names(); *k; k++) {
    char v[128];
    if (nd_topic_config_get(&info.config, *k, v, sizeof v) == 0)
      printf("  %s=%s\n", *k, v);
  }
  nd_close(st);
  return CLI_OK;
}

/* The directory a topic's files are in is the SHA-256 of its name
 * (docs/format.md), which nobody can type: say it, for `inspect`. */
static int do_where(const char *dir, const char *name, int64_t partition) {
  nd_store *st;
  nd_topic_info info;
  if (open_topic(dir, name, 0, &st, &info))
    return CLI_FAIL;
  nd_close(st);
  if (partition >= info.partitions) {
    cli_error("topics", "topic %s has %d partition%s: no partition %" PRId64,
              name, (int)info.partitions, info.partitions == 1 ? "" : "s",
              partition);
    return CLI_FAIL;
  }
  char tdir[65];
  nd_topic_dirname(name, tdir);
  if (partition >= 0)
    printf("%s/topics/%s/%" PRId64 "\n", dir, tdir, partition);
  else
    printf("%s/topics/%s\n", dir, tdir);
  return CLI_OK;
}

static int do_delete(const char *dir, const char *name) {
  nd_store *st;
  if (cli_open_write("topics", dir, 0, &st))
    return CLI_FAIL;
  int rc = nd_topic_delete(st, name);
  if (rc) {
    if (rc == ND_ENOTOPIC)
      cli_error("topics", "unknown topic %s", name);
    else
      cli_lib_error("topics", rc, "delete");
    nd_close(st);
    return CLI_FAIL;
  }
  if (cli_close("topics", st))
    return CLI_FAIL;
  printf("deleted topic %s\n", name);
  return CLI_OK;
}

int cli_topics_main(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o, "topics", argc, argv);
  const char *data = NULL, *action = NULL, *name = NULL;
  int64_t partitions = 1;
  int if_not_exists = 0, have_p = 0, have_cfg = 0, have_del = 0;
  nd_topic_config cfg, scratch;
  nd_topic_config_init(&cfg);
  nd_topic_config_init(&scratch);
  enum { MAX_CHANGES = 64 };
  cfg_change changes[MAX_CHANGES];
  char keys[MAX_CHANGES][128];
  size_t nchanges = 0;
  while (cli_next(&o)) {
    if (cli_positional(&o)) {
      if (!action)
        action = o.arg;
      else if (!name)
        name = o.arg;
      else
        return cli_unknown(&o);
    } else if (cli_flag(&o, "-h", "--help")) {
      fputs(topics_usage, stdout);
      return CLI_OK;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_value(&o, "-p", "--partitions") ||
               cli_value(&o, NULL, "--partition")) {
      /* where: a partition number (0..); create, alter: a count. */
      if (cli_parse_i64("topics", "--partitions", o.val, 0, 1000000,
                        &partitions))
        return CLI_USAGE;
      have_p = 1;
    } else if (cli_value(&o, "-c", "--config")) {
      const char *eq = strchr(o.val, '=');
      if (!eq || eq == o.val)
        return cli_usage_error("topics", "bad --config '%s': want KEY=VALUE",
                               o.val);
      if (nchanges == MAX_CHANGES)
        return cli_usage_error("topics", "more than %d settings", MAX_CHANGES);
      char *key = keys[nchanges];
      snprintf(key, sizeof keys[0], "%.*s", (int)(eq - o.val), o.val);
      if (nd_topic_config_set(&cfg, key, eq + 1) != 0)
        return cli_usage_error("topics", "bad --config %s: %s", o.val,
                               nd_errmsg());
      changes[nchanges++] = (cfg_change){key, eq + 1};
      have_cfg = 1;
    } else if (cli_value(&o, NULL, "--delete-config")) {
      char v[128];
      if (nchanges == MAX_CHANGES)
        return cli_usage_error("topics", "more than %d settings", MAX_CHANGES);
      if (nd_topic_config_get(&scratch, o.val, v, sizeof v) != 0)
        return cli_usage_error("topics", "bad --delete-config %s: %s", o.val,
                               nd_errmsg());
      changes[nchanges++] = (cfg_change){o.val, NULL};
      have_del = 1;
    } else if (cli_flag(&o, NULL, "--if-not-exists")) {
      if_not_exists = 1;
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!action)
    return cli_usage_error("topics", "missing action: list, create, alter, "
                                     "describe, where or delete");
  int is_create = !strcmp(action, "create"),
      is_alter = !strcmp(action, "alter"), is_where = !strcmp(action, "where");
  if (have_p && !is_create && !is_alter && !is_where)
    return cli_usage_error("topics", "-p is for `topics create`, `alter` and "
                                     "`where`");
  if (have_p && !is_where && partitions < 1)
    return cli_usage_error("topics", "bad value '0' for --partitions: want "
                                     "an integer from 1 to 1000000");
  if (if_not_exists && !is_create)
    return cli_usage_error("topics", "--if-not-exists is for `topics "
                                     "create`");
  if (have_cfg && !is_create && !is_alter)
    return cli_usage_error("topics", "--config is for `topics create` and "
                                     "`topics alter`");
  if (have_del && !is_alter)
    return cli_usage_error("topics", "--delete-config is for `topics alter`");
  if (is_alter && !nchanges && !have_p)
    return cli_usage_error("topics", "alter needs --partitions, --config or "
                                     "--delete-config");
  const char *dir = cli_data_dir(data);
  if (!strcmp(action, "list")) {
    if (name)
      return cli_usage_error("topics", "unexpected argument '%s'", name);
    return do_list(dir);
  }
  if (!is_create && !is_alter && !is_where && strcmp(action, "describe") &&
      strcmp(action, "delete"))
    return cli_usage_error("topics", "unknown action '%s'", action);
  if (!name)
    return cli_usage_error("topics", "%s needs a topic NAME", action);
  if (nd_topic_name_valid(name) != 0)
    return cli_usage_error("topics", "bad topic name '%s': %s", name,
                           nd_errmsg());
  if (is_create)
    return do_create(dir, name, (int32_t)partitions, &cfg, if_not_exists);
  if (is_alter)
    return do_alter(dir, name, changes, nchanges,
                    have_p ? (int32_t)partitions : 0);
  if (is_where)
    return do_where(dir, name, have_p ? partitions : -1);
  if (!strcmp(action, "describe"))
    return do_describe(dir, name);
  return do_delete(dir, name);
}
