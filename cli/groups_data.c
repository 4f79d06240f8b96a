/* SPDX-License-Identifier: Apache-2.0 */
/*
 * groups_data.c — consumer groups of a data directory, through libnodata
 * (see groups.h). Committed offsets are the library's; members, their ids
 * and the coordinator exist only in a running broker, so a data directory
 * reports none, and the state as Kafka would name it: "Empty" when no
 * broker holds the directory (nobody can be a member), else "Unknown" with
 * members_known = 0 (ask the broker with --bootstrap).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "groups.h"

typedef struct data_backend {
  gr_backend ops;
  nd_store *st;
  const char *dir;
  int held; /* a broker (another process) holds the directory */
} data_backend;

static data_backend *D(gr_backend *b) {
  return (data_backend *)b;
}

static int lib_fail(int rc, const char *what) {
  return cli_lib_error("groups", rc, what);
}

static const char *data_state(data_backend *d) {
  return d->held ? "Unknown" : "Empty";
}

static int d_list(gr_backend *b, gr_group **out, size_t *n) {
  char **names = NULL;
  size_t cnt = 0;
  int rc = nd_group_list(D(b)->st, &names, &cnt);
  if (rc)
    return lib_fail(rc, "list groups");
  gr_group *g = calloc(cnt ? cnt : 1, sizeof *g);
  if (!g) {
    nd_names_free(names, cnt);
    return lib_fail(ND_ENOMEM, NULL);
  }
  for (size_t i = 0; i < cnt; i++) {
    g[i].name = gr_strdup(names[i]);
    g[i].state = gr_strdup(data_state(D(b)));
    g[i].assignor = gr_strdup("");
    g[i].coordinator = gr_strdup("-");
  }
  nd_names_free(names, cnt);
  *out = g;
  *n = cnt;
  return CLI_OK;
}

static int d_describe(gr_backend *b, const char *group, gr_group *out,
                      int *found) {
  memset(out, 0, sizeof *out);
  nd_committed *list = NULL;
  size_t cnt = 0;
  int rc = nd_group_offsets(D(b)->st, group, &list, &cnt);
  if (rc)
    return lib_fail(rc, "read the group's offsets");
  nd_committed_free(list, cnt);
  char *type = NULL;
  rc = nd_group_protocol_type(D(b)->st, group, &type);
  if (rc)
    return lib_fail(rc, "read the group");
  nd_free(type);
  /* A KIP-848 group's coordinator keeps its state even before any commit. */
  void *state = NULL;
  size_t state_len = 0;
  int src = nd_group_state(D(b)->st, group, &state, &state_len);
  if (src && src != ND_ENOTFOUND)
    return lib_fail(src, "read the group");
  nd_free(state);
  *found = cnt > 0 || type != NULL || src == 0;
  out->name = gr_strdup(group);
  out->state = gr_strdup(data_state(D(b)));
  out->assignor = gr_strdup("");
  out->coordinator = gr_strdup("-");
  /* With no broker holding the directory nobody can be a member. */
  out->members_known = !D(b)->held;
  return CLI_OK;
}

static int d_committed(gr_backend *b, const char *group, gr_offset **out,
                       size_t *n) {
  nd_committed *list = NULL;
  size_t cnt = 0;
  int rc = nd_group_offsets(D(b)->st, group, &list, &cnt);
  if (rc)
    return lib_fail(rc, "read the group's offsets");
  gr_offset *o = calloc(cnt ? cnt : 1, sizeof *o);
  if (!o) {
    nd_committed_free(list, cnt);
    return lib_fail(ND_ENOMEM, NULL);
  }
  for (size_t i = 0; i < cnt; i++)
    o[i] = (gr_offset){gr_strdup(list[i].topic), list[i].partition,
                       list[i].offset};
  nd_committed_free(list, cnt);
  *out = o;
  *n = cnt;
  return CLI_OK;
}

static int d_watermarks(gr_backend *b, const char *topic, int32_t p,
                        int64_t *lo, int64_t *hi) {
  int rc = nd_offsets(D(b)->st, topic, p, lo, hi);
  if (rc) {
    /* A group may hold offsets of a partition the topic no longer has
     * (nd_group_offsets lists what was committed): report it, not fail. */
    if (rc == ND_ENOTOPIC || rc == ND_ENOPARTITION) {
      *lo = *hi = -1;
      return CLI_OK;
    }
    char what[300];
    snprintf(what, sizeof what, "offsets of %s-%d", topic, (int)p);
    return lib_fail(rc, what);
  }
  return CLI_OK;
}

static int d_offset_for_time(gr_backend *b, const char *topic, int32_t p,
                             int64_t ts, int64_t *offset) {
  int64_t found_ts;
  int rc = nd_offset_for_time(D(b)->st, topic, p, ts, offset, &found_ts);
  if (rc) {
    char what[300];
    snprintf(what, sizeof what, "offset by time of %s-%d", topic, (int)p);
    return lib_fail(rc, what);
  }
  return CLI_OK;
}

static int d_partitions(gr_backend *b, const char *topic, int32_t *n) {
  nd_topic_info info;
  int rc = nd_topic_describe(D(b)->st, topic, &info);
  if (rc == ND_ENOTOPIC) {
    cli_error("groups", "unknown topic %s", topic);
    return CLI_FAIL;
  }
  if (rc)
    return lib_fail(rc, "describe the topic");
  *n = info.partitions;
  return CLI_OK;
}

static int d_alter(gr_backend *b, const char *group, const gr_offset *list,
                   size_t n) {
  nd_offset_commit *c = calloc(n ? n : 1, sizeof *c);
  if (!c)
    return lib_fail(ND_ENOMEM, NULL);
  for (size_t i = 0; i < n; i++)
    c[i] = (nd_offset_commit){.topic = list[i].topic,
                              .partition = list[i].partition,
                              .offset = list[i].offset,
                              .leader_epoch = -1};
  int rc = nd_commit_offsets(D(b)->st, group, c, n);
  free(c);
  if (rc)
    return lib_fail(rc, "commit the offsets");
  return CLI_OK;
}

static int d_remove(gr_backend *b, const char *group) {
  int rc = nd_group_delete(D(b)->st, group);
  if (rc == ND_ENOTFOUND) {
    cli_error("groups",
              "group '%s' could not be deleted: the group id does "
              "not exist",
              group);
    return CLI_FAIL;
  }
  if (rc)
    return lib_fail(rc, "delete the group");
  return CLI_OK;
}

static int d_close(gr_backend *b) {
  int rc = cli_close("groups", D(b)->st);
  free(b);
  return rc;
}

int gr_open_data(const char *dir, int write, gr_backend **out) {
  pid_t pid = 0;
  int held = nd_lock_holder(dir, &pid) == 0 && pid != 0;
  if (write && held) {
    /* The broker holds the directory's lock and serves its groups: a
     * change goes through the broker. */
    cli_held_message("groups", dir, pid);
    cli_error("groups", "to change groups while the broker runs, use "
                        "--bootstrap HOST:PORT");
    return CLI_FAIL;
  }
  nd_store *st;
  if (write ? cli_open_write("groups", dir, 0, &st)
            : cli_open_read("groups", dir, &st))
    return CLI_FAIL;
  data_backend *d = calloc(1, sizeof *d);
  if (!d) {
    nd_close(st);
    return lib_fail(ND_ENOMEM, NULL);
  }
  d->ops = (gr_backend){d_list,       d_describe,        d_committed,
                        d_watermarks, d_offset_for_time, d_partitions,
                        d_alter,      d_remove,          d_close};
  d->st = st;
  d->dir = dir;
  d->held = held;
  *out = &d->ops;
  return CLI_OK;
}
