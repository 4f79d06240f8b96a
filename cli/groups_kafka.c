/* SPDX-License-Identifier: Apache-2.0 */
/*
 * groups_kafka.c — consumer groups of any Kafka-protocol broker (nodata
 * serve, Apache Kafka, Redpanda) through librdkafka's Admin API (see
 * groups.h): ListConsumerGroups, DescribeConsumerGroups,
 * ListConsumerGroupOffsets, AlterConsumerGroupOffsets, DeleteGroups, and
 * for the logs rd_kafka_query_watermark_offsets and
 * rd_kafka_offsets_for_times. Only the `nodata` program links librdkafka;
 * libnodata and the broker do not.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "groups.h"

/* Long enough for a broker that is busy, short enough that a wrong address
 * does not hang a script (librdkafka retries the connection meanwhile). */
#define GR_TIMEOUT_MS 30000

typedef struct kafka_backend {
  gr_backend ops;
  rd_kafka_t *rk;
  rd_kafka_queue_t *q;
  const char *bootstrap;
  char last_log[512]; /* librdkafka's last complaint, for a failed call */
} kafka_backend;

static kafka_backend *K(gr_backend *b) {
  return (kafka_backend *)b;
}

/* librdkafka logs connection failures as it retries; keep the last one to
 * explain a timeout instead of printing each. */
static void k_log(const rd_kafka_t *rk, int level, const char *fac,
                  const char *buf) {
  (void)fac;
  kafka_backend *k = rd_kafka_opaque(rk);
  if (k && level <= 4)
    snprintf(k->last_log, sizeof k->last_log, "%s", buf);
}

static int k_fail(kafka_backend *k, const char *what, const char *why) {
  if (!why || !*why)
    why = k->last_log[0] ? k->last_log : "no answer";
  cli_error("groups", "%s via %s: %s", what, k->bootstrap, why);
  return CLI_FAIL;
}

/* Run one admin call (fire puts its result on k->q) and wait for it. On
 * success *ev is the result event (rd_kafka_event_destroy). */
static int k_wait(kafka_backend *k, const char *what, rd_kafka_event_t **ev) {
  rd_kafka_event_t *e = rd_kafka_queue_poll(k->q, GR_TIMEOUT_MS + 5000);
  if (!e)
    return k_fail(k, what, "timed out");
  if (rd_kafka_event_error(e)) {
    int rc = k_fail(k, what, rd_kafka_event_error_string(e));
    rd_kafka_event_destroy(e);
    return rc;
  }
  *ev = e;
  return CLI_OK;
}

/* Kafka answers a group call with NOT_COORDINATOR,
 * COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS while its
 * group coordinator moves or starts (a new cluster's first group creates
 * __consumer_offsets). Kafka's admin client retries those; librdkafka 2.0
 * returns them, so the caller retries (sleeping 200 ms) until *deadline
 * (set on the first call). */
static int coordinator_busy(rd_kafka_resp_err_t e, double *deadline) {
  if (e != RD_KAFKA_RESP_ERR_NOT_COORDINATOR &&
      e != RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE &&
      e != RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS)
    return 0;
  if (*deadline == 0)
    *deadline = cli_now() + GR_TIMEOUT_MS / 1000.0;
  if (cli_now() > *deadline)
    return 0;
  struct timespec ts = {0, 200 * 1000 * 1000};
  nanosleep(&ts, NULL);
  return 1;
}

static rd_kafka_AdminOptions_t *k_options(kafka_backend *k,
                                          rd_kafka_admin_op_t op) {
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, op);
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(o, GR_TIMEOUT_MS, err, sizeof err);
  return o;
}

static const char *state_name(rd_kafka_consumer_group_state_t s) {
  /* Kafka's spelling (ConsumerGroupState.toString), which librdkafka's
   * rd_kafka_consumer_group_state_name() shares. */
  return rd_kafka_consumer_group_state_name(s);
}

static int k_list(gr_backend *b, gr_group **out, size_t *n) {
  kafka_backend *k = K(b);
  rd_kafka_AdminOptions_t *o =
      k_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
  rd_kafka_ListConsumerGroups(k->rk, o, k->q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev;
  if (k_wait(k, "list groups", &ev))
    return CLI_FAIL;
  const rd_kafka_ListConsumerGroups_result_t *res =
      rd_kafka_event_ListConsumerGroups_result(ev);
  size_t nerr = 0;
  const rd_kafka_error_t **errs =
      rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
  if (nerr) {
    int rc = k_fail(k, "list groups", rd_kafka_error_string(errs[0]));
    rd_kafka_event_destroy(ev);
    return rc;
  }
  size_t cnt = 0;
  const rd_kafka_ConsumerGroupListing_t **l =
      rd_kafka_ListConsumerGroups_result_valid(res, &cnt);
  gr_group *g = calloc(cnt ? cnt : 1, sizeof *g);
  if (!g) {
    rd_kafka_event_destroy(ev);
    return k_fail(k, "list groups", "out of memory");
  }
  for (size_t i = 0; i < cnt; i++) {
    g[i].name = gr_strdup(rd_kafka_ConsumerGroupListing_group_id(l[i]));
    g[i].state =
        gr_strdup(state_name(rd_kafka_ConsumerGroupListing_state(l[i])));
    g[i].assignor = gr_strdup("");
    g[i].coordinator = gr_strdup("-");
    g[i].members_known = 1;
  }
  rd_kafka_event_destroy(ev);
  *out = g;
  *n = cnt;
  return CLI_OK;
}

static void copy_partitions(const rd_kafka_topic_partition_list_t *l,
                            gr_offset **out, size_t *n) {
  *n = 0;
  *out = calloc(l && l->cnt ? (size_t)l->cnt : 1, sizeof **out);
  if (!*out || !l)
    return;
  for (int i = 0; i < l->cnt; i++)
    (*out)[(*n)++] = (gr_offset){gr_strdup(l->elems[i].topic),
                                 l->elems[i].partition, l->elems[i].offset};
  qsort(*out, *n, sizeof **out, gr_offset_cmp);
}

static int k_describe(gr_backend *b, const char *group, gr_group *out,
                      int *found) {
  kafka_backend *k = K(b);
  double deadline = 0;
  memset(out, 0, sizeof *out);
again:;
  rd_kafka_AdminOptions_t *o =
      k_options(k, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  const char *groups[] = {group};
  rd_kafka_DescribeConsumerGroups(k->rk, groups, 1, o, k->q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev;
  if (k_wait(k, "describe the group", &ev))
    return CLI_FAIL;
  size_t cnt = 0;
  const rd_kafka_ConsumerGroupDescription_t **d =
      rd_kafka_DescribeConsumerGroups_result_groups(
          rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
  if (cnt != 1) {
    rd_kafka_event_destroy(ev);
    return k_fail(k, "describe the group", "no description in the answer");
  }
  const rd_kafka_error_t *err = rd_kafka_ConsumerGroupDescription_error(d[0]);
  if (err && coordinator_busy(rd_kafka_error_code(err), &deadline)) {
    rd_kafka_event_destroy(ev);
    goto again;
  }
  if (err) {
    int rc = k_fail(k, "describe the group", rd_kafka_error_string(err));
    rd_kafka_event_destroy(ev);
    return rc;
  }
  rd_kafka_consumer_group_state_t st =
      rd_kafka_ConsumerGroupDescription_state(d[0]);
  /* Kafka answers DescribeGroups for an unknown group with state Dead;
   * its own tool then says the group was not found. */
  *found = st != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
  out->name = gr_strdup(group);
  out->state = gr_strdup(state_name(st));
  out->assignor =
      gr_strdup(rd_kafka_ConsumerGroupDescription_partition_assignor(d[0]));
  const rd_kafka_Node_t *c =
      rd_kafka_ConsumerGroupDescription_coordinator(d[0]);
  char coord[300] = "-";
  if (c)
    snprintf(coord, sizeof coord, "%s:%u  (%d)", rd_kafka_Node_host(c),
             (unsigned)rd_kafka_Node_port(c), rd_kafka_Node_id(c));
  out->coordinator = gr_strdup(coord);
  out->members_known = 1;
  size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d[0]);
  out->members = calloc(nm ? nm : 1, sizeof *out->members);
  if (out->members) {
    for (size_t i = 0; i < nm; i++) {
      const rd_kafka_MemberDescription_t *m =
          rd_kafka_ConsumerGroupDescription_member(d[0], i);
      gr_member *gm = &out->members[i];
      gm->consumer_id = gr_strdup(rd_kafka_MemberDescription_consumer_id(m));
      gm->host = gr_strdup(rd_kafka_MemberDescription_host(m));
      gm->client_id = gr_strdup(rd_kafka_MemberDescription_client_id(m));
      const rd_kafka_MemberAssignment_t *a =
          rd_kafka_MemberDescription_assignment(m);
      copy_partitions(a ? rd_kafka_MemberAssignment_partitions(a) : NULL,
                      &gm->assigned, &gm->nassigned);
      out->nmembers++;
    }
  }
  rd_kafka_event_destroy(ev);
  return CLI_OK;
}

static int k_committed(gr_backend *b, const char *group, gr_offset **out,
                       size_t *n) {
  kafka_backend *k = K(b);
  double deadline = 0;
again:;
  rd_kafka_AdminOptions_t *o =
      k_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  rd_kafka_ListConsumerGroupOffsets_t *req =
      rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
  rd_kafka_ListConsumerGroupOffsets(k->rk, &req, 1, o, k->q);
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev;
  if (k_wait(k, "read the group's offsets", &ev))
    return CLI_FAIL;
  size_t cnt = 0;
  const rd_kafka_group_result_t **gr =
      rd_kafka_ListConsumerGroupOffsets_result_groups(
          rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
  if (cnt == 1 && rd_kafka_group_result_error(gr[0]) &&
      coordinator_busy(rd_kafka_error_code(rd_kafka_group_result_error(gr[0])),
                       &deadline)) {
    rd_kafka_event_destroy(ev);
    goto again;
  }
  if (cnt != 1 || rd_kafka_group_result_error(gr[0])) {
    int rc = k_fail(
        k, "read the group's offsets",
        cnt == 1 ? rd_kafka_error_string(rd_kafka_group_result_error(gr[0]))
                 : "no group in the answer");
    rd_kafka_event_destroy(ev);
    return rc;
  }
  const rd_kafka_topic_partition_list_t *l =
      rd_kafka_group_result_partitions(gr[0]);
  gr_offset *all;
  size_t na;
  copy_partitions(l, &all, &na);
  /* Partitions without a committed offset come back as -1001 (Kafka's
   * OffsetFetch -1): not the group's. */
  size_t keep = 0;
  for (size_t i = 0; all && i < na; i++) {
    if (all[i].offset >= 0)
      all[keep++] = all[i];
    else
      free(all[i].topic);
  }
  rd_kafka_event_destroy(ev);
  if (!all)
    return k_fail(k, "read the group's offsets", "out of memory");
  *out = all;
  *n = keep;
  return CLI_OK;
}

static int k_watermarks(gr_backend *b, const char *topic, int32_t p,
                        int64_t *lo, int64_t *hi) {
  kafka_backend *k = K(b);
  rd_kafka_resp_err_t e =
      rd_kafka_query_watermark_offsets(k->rk, topic, p, lo, hi, GR_TIMEOUT_MS);
  if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
      e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
      e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
    /* Offsets of a topic deleted since: shown, with no end offset. */
    *lo = *hi = -1;
    return CLI_OK;
  }
  if (e) {
    char what[300];
    snprintf(what, sizeof what, "offsets of %s-%d", topic, (int)p);
    return k_fail(k, what, rd_kafka_err2str(e));
  }
  return CLI_OK;
}

static int k_offset_for_time(gr_backend *b, const char *topic, int32_t p,
                             int64_t ts, int64_t *offset) {
  kafka_backend *k = K(b);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, p)->offset = ts;
  rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(k->rk, l, GR_TIMEOUT_MS);
  if (!e)
    e = l->elems[0].err;
  /* -1 (Kafka's "no such record") comes back as RD_KAFKA_OFFSET_END. */
  *offset = l->elems[0].offset < 0 ? -1 : l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  if (e) {
    char what[300];
    snprintf(what, sizeof what, "offset by time of %s-%d", topic, (int)p);
    return k_fail(k, what, rd_kafka_err2str(e));
  }
  return CLI_OK;
}

static int k_partitions(gr_backend *b, const char *topic, int32_t *n) {
  kafka_backend *k = K(b);
  /* Metadata for all topics: asking for one by name may create it on a
   * broker with auto.create.topics.enable. */
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, GR_TIMEOUT_MS);
  if (e)
    return k_fail(k, "read the topics", rd_kafka_err2str(e));
  int i = 0;
  while (i < md->topic_cnt && strcmp(md->topics[i].topic, topic))
    i++;
  int rc = CLI_FAIL;
  if (i == md->topic_cnt) {
    cli_error("groups", "unknown topic %s", topic);
  } else if (md->topics[i].err) {
    k_fail(k, "read the topic", rd_kafka_err2str(md->topics[i].err));
  } else {
    *n = md->topics[i].partition_cnt;
    rc = CLI_OK;
  }
  rd_kafka_metadata_destroy(md);
  return rc;
}

static int k_alter(gr_backend *b, const char *group, const gr_offset *list,
                   size_t n) {
  kafka_backend *k = K(b);
  double deadline = 0;
again:;
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)n);
  for (size_t i = 0; i < n; i++)
    rd_kafka_topic_partition_list_add(l, list[i].topic, list[i].partition)
        ->offset = list[i].offset;
  rd_kafka_AlterConsumerGroupOffsets_t *req =
      rd_kafka_AlterConsumerGroupOffsets_new(group, l);
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_AdminOptions_t *o =
      k_options(k, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
  rd_kafka_AlterConsumerGroupOffsets(k->rk, &req, 1, o, k->q);
  rd_kafka_AlterConsumerGroupOffsets_destroy(req);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev;
  if (k_wait(k, "commit the offsets", &ev))
    return CLI_FAIL;
  size_t cnt = 0;
  const rd_kafka_group_result_t **gr =
      rd_kafka_AlterConsumerGroupOffsets_result_groups(
          rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);
  int rc = CLI_OK;
  const rd_kafka_topic_partition_list_t *pl =
      cnt == 1 ? rd_kafka_group_result_partitions(gr[0]) : NULL;
  rd_kafka_resp_err_t first =
      cnt != 1 ? 0
      : rd_kafka_group_result_error(gr[0])
          ? rd_kafka_error_code(rd_kafka_group_result_error(gr[0]))
      : pl && pl->cnt ? pl->elems[0].err
                      : 0;
  if (coordinator_busy(first, &deadline)) {
    rd_kafka_event_destroy(ev);
    goto again;
  }
  if (cnt != 1) {
    rc = k_fail(k, "commit the offsets", "no group in the answer");
  } else if (rd_kafka_group_result_error(gr[0])) {
    rc = k_fail(k, "commit the offsets",
                rd_kafka_error_string(rd_kafka_group_result_error(gr[0])));
  } else {
    /* A refused partition is reported per partition, not for the group. */
    for (int i = 0; pl && i < pl->cnt && !rc; i++)
      if (pl->elems[i].err) {
        char what[300];
        snprintf(what, sizeof what, "commit the offset of %s-%d",
                 pl->elems[i].topic, (int)pl->elems[i].partition);
        rc = k_fail(k, what, rd_kafka_err2str(pl->elems[i].err));
      }
  }
  rd_kafka_event_destroy(ev);
  return rc;
}

static int k_remove(gr_backend *b, const char *group) {
  kafka_backend *k = K(b);
  double deadline = 0;
again:;
  rd_kafka_DeleteGroup_t *dg = rd_kafka_DeleteGroup_new(group);
  rd_kafka_AdminOptions_t *o = k_options(k, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  rd_kafka_DeleteGroups(k->rk, &dg, 1, o, k->q);
  rd_kafka_DeleteGroup_destroy(dg);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_event_t *ev;
  if (k_wait(k, "delete the group", &ev))
    return CLI_FAIL;
  size_t cnt = 0;
  const rd_kafka_group_result_t **gr = rd_kafka_DeleteGroups_result_groups(
      rd_kafka_event_DeleteGroups_result(ev), &cnt);
  int rc = CLI_OK;
  if (cnt == 1 && rd_kafka_group_result_error(gr[0]) &&
      coordinator_busy(rd_kafka_error_code(rd_kafka_group_result_error(gr[0])),
                       &deadline)) {
    rd_kafka_event_destroy(ev);
    goto again;
  }
  if (cnt != 1) {
    rc = k_fail(k, "delete the group", "no group in the answer");
  } else if (rd_kafka_group_result_error(gr[0])) {
    const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[0]);
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    /* Kafka's tool's words for the two errors an operator meets. */
    cli_error("groups", "group '%s' could not be deleted: %s", group,
              code == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND
                  ? "the group id does not exist"
              : code == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP
                  ? "the group is not empty (it has active members)"
                  : rd_kafka_error_string(e));
    rc = CLI_FAIL;
  }
  rd_kafka_event_destroy(ev);
  return rc;
}

static int k_close(gr_backend *b) {
  kafka_backend *k = K(b);
  if (k->q)
    rd_kafka_queue_destroy(k->q);
  if (k->rk)
    rd_kafka_destroy(k->rk);
  free(k);
  return CLI_OK;
}

int gr_open_kafka(const char *bootstrap, gr_backend **out) {
  kafka_backend *k = calloc(1, sizeof *k);
  if (!k) {
    cli_error("groups", "out of memory");
    return CLI_FAIL;
  }
  k->bootstrap = bootstrap;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char err[512];
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                        sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", "nodata-groups", err, sizeof err) !=
          RD_KAFKA_CONF_OK ||
      /* The log end offset is the high watermark, as Kafka's tool shows
       * it, not the last stable offset a read_committed reader gets. */
      rd_kafka_conf_set(conf, "isolation.level", "read_uncommitted", err,
                        sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    free(k);
    return cli_usage_error("groups", "bad --bootstrap '%s': %s", bootstrap,
                           err);
  }
  rd_kafka_conf_set_opaque(conf, k);
  rd_kafka_conf_set_log_cb(conf, k_log);
  /* A consumer handle without group.id: it joins no group, so it cannot
   * disturb the groups it looks at (and isolation.level is a consumer
   * property). rd_kafka_new owns conf on success. */
  k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!k->rk) {
    rd_kafka_conf_destroy(conf);
    free(k);
    cli_error("groups", "cannot create a Kafka client: %s", err);
    return CLI_FAIL;
  }
  k->q = rd_kafka_queue_new(k->rk);
  k->ops = (gr_backend){k_list,       k_describe,        k_committed,
                        k_watermarks, k_offset_for_time, k_partitions,
                        k_alter,      k_remove,          k_close};
  *out = &k->ops;
  return CLI_OK;
}
