/*
 * topics.c — `nodata topics list|create|describe|delete`.
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
    "       nodata topics describe NAME [--data DIR]\n"
    "       nodata topics delete NAME [--data DIR]\n"
    "\n"
    "Manage the topics of a data directory, without a broker.\n"
    "\n"
    "  list       names of all topics, one a line\n"
    "  create     a new topic with N partitions (default 1)\n"
    "  describe   partitions (log start, end offset, size, segments, last\n"
    "             timestamp; for a compacted topic also the dirty ratio and\n"
    "             the last cleaning) and every config setting\n"
    "  delete     remove a topic and all its data\n"
    "\n"
    "  -p, --partitions N        partitions of a new topic (default 1)\n"
    "  -c, --config KEY=VALUE    a topic setting; repeatable. Keys:\n"
    "                            segment.bytes, retention.ms, fsync, ...\n"
    "                            (describe lists them all)\n"
    "  --if-not-exists           create: succeed if the topic exists\n"
    "  --data DIR                data directory (default $NODATA_DATA,\n"
    "                            $NODATA_DIR, else ./data)\n"
    "\n"
    "list and describe only read, so they work while `nodata serve` runs;\n"
    "create and delete need the directory to themselves.\n"
    "\n"
    "Examples:\n"
    "  nodata topics create orders -p 3 --config retention.ms=86400000\n"
    "  nodata topics describe orders\n"
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
  int rc = nd_topic_create(st, name, partitions, cfg);
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

static int do_describe(const char *dir, const char *name) {
  nd_store *st;
  if (cli_open_read("topics", dir, &st))
    return CLI_FAIL;
  nd_topic_info info;
  int rc = nd_topic_describe(st, name, &info);
  if (rc) {
    if (rc == ND_ENOTOPIC)
      cli_error("topics", "unknown topic %s", name);
    else
      cli_lib_error("topics", rc, "describe");
    nd_close(st);
    return CLI_FAIL;
  }
  printf("topic: %s\n", info.name);
  printf("id: ");
  for (int i = 0; i < 16; i++)
    printf("%02x%s", info.id[i],
           i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
  printf("\npartitions: %d\n", (int)info.partitions);
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
  int if_not_exists = 0, have_p = 0, have_cfg = 0;
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
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
    } else if (cli_value(&o, "-p", "--partitions")) {
      if (cli_parse_i64("topics", "--partitions", o.val, 1, 1000000,
                        &partitions))
        return CLI_USAGE;
      have_p = 1;
    } else if (cli_value(&o, "-c", "--config")) {
      const char *eq = strchr(o.val, '=');
      if (!eq || eq == o.val)
        return cli_usage_error("topics", "bad --config '%s': want KEY=VALUE",
                               o.val);
      char key[128];
      snprintf(key, sizeof key, "%.*s", (int)(eq - o.val), o.val);
      if (nd_topic_config_set(&cfg, key, eq + 1) != 0)
        return cli_usage_error("topics", "bad --config %s: %s", o.val,
                               nd_errmsg());
      have_cfg = 1;
    } else if (cli_flag(&o, NULL, "--if-not-exists")) {
      if_not_exists = 1;
    } else {
      return cli_unknown(&o);
    }
  }
  if (o.bad)
    return CLI_USAGE;
  if (!action)
    return cli_usage_error("topics",
                           "missing action: list, create, describe or delete");
  int is_create = !strcmp(action, "create");
  if ((have_p || have_cfg || if_not_exists) && !is_create)
    return cli_usage_error("topics", "-p, --config and --if-not-exists are "
                                     "for `topics create`");
  const char *dir = cli_data_dir(data);
  if (!strcmp(action, "list")) {
    if (name)
      return cli_usage_error("topics", "unexpected argument '%s'", name);
    return do_list(dir);
  }
  if (!is_create && strcmp(action, "describe") && strcmp(action, "delete"))
    return cli_usage_error("topics", "unknown action '%s'", action);
  if (!name)
    return cli_usage_error("topics", "%s needs a topic NAME", action);
  if (nd_topic_name_valid(name) != 0)
    return cli_usage_error("topics", "bad topic name '%s': %s", name,
                           nd_errmsg());
  if (is_create)
    return do_create(dir, name, (int32_t)partitions, &cfg, if_not_exists);
  if (!strcmp(action, "describe"))
    return do_describe(dir, name);
  return do_delete(dir, name);
}
