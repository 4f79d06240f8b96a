/* SPDX-License-Identifier: Apache-2.0 */
/*
 * coordinator_groups.c — finding and describing groups: FindCoordinator,
 * ListGroups and DescribeGroups. They read the group state of
 * coordinator.c and, for groups known only by their committed offsets
 * (after a restart, or "simple" consumers), libnodata's record of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgroup.h"
#include "group.h"

/* ---- FindCoordinator ---------------------------------------------------- */

static void coordinator(kafka_req *r, int8_t type, kf_str key, int16_t *err,
                        kf_str *msg, int32_t *node, kf_str *host,
                        int32_t *port) {
  *node = -1;
  *host = kf_s("");
  *port = -1;
  *msg = kf_null_str();
  if (type != 0 && type != 1) {
    /* Not COORDINATOR_NOT_AVAILABLE: a client would wait for a
     * coordinator that never comes. */
    *err = KERR_INVALID_REQUEST;
    *msg = kf_s(type == 2 ? "share groups are not supported by nodata"
                          : "unknown coordinator key type");
    return;
  }
  /* Type 1, a transactional id: node 0 coordinates every one, "" too
   * (Kafka 4.4 answers it; InitProducerId refuses it). */
  if (type == 0 && (!kafka_cstr_ok(key) || key.len == 0)) {
    *err = KERR_INVALID_GROUP_ID;
    *msg = kf_s("empty group id");
    return;
  }
  *err = 0;
  *node = r->b->cfg.node_id;
  *host = kafka_str(r, kafka_advertised_host(r->b, r->session->listener));
  *port = kafka_advertised_port(r->b, r->session->listener);
}

/* With ACLs: DESCRIBE on the group or transactional id a key names
 * (KafkaApis.handleFindCoordinatorRequest); 1 when denied, the answer
 * then set. */
static int coordinator_denied(kafka_req *r, int8_t key_type, kf_str key,
                              int16_t *err, kf_str *msg, int32_t *node,
                              kf_str *host, int32_t *port) {
  int16_t code = 0;
  if (key_type == 0 &&
      !kafka_authorize_str(r, ACL_RES_GROUP, key, ACL_OP_DESCRIBE))
    code = KERR_GROUP_AUTHORIZATION_FAILED;
  else if (key_type == 1 && !kafka_authorize_str(r, ACL_RES_TRANSACTIONAL_ID,
                                                 key, ACL_OP_DESCRIBE))
    code = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
  if (!code)
    return 0;
  *err = code;
  *msg = kf_s(kafka_err_text(code));
  *node = -1;
  *host = kf_s("");
  *port = -1;
  return 1;
}

int handle_find_coordinator(kafka_req *r) {
  kafka_find_coordinator_request *req = r->body;
  kafka_find_coordinator_response *resp =
      kf_new(&r->arena, &kafka_find_coordinator_response_desc);
  if (!resp)
    return -1;
  if (r->version < 4) {
    int8_t type = r->version >= 1 ? req->key_type : 0;
    if (!coordinator_denied(r, type, req->key, &resp->error_code,
                            &resp->error_message, &resp->node_id, &resp->host,
                            &resp->port))
      coordinator(r, type, req->key, &resp->error_code, &resp->error_message,
                  &resp->node_id, &resp->host, &resp->port);
  } else {
    int32_t n =
        req->coordinator_keys.count > 0 ? req->coordinator_keys.count : 0;
    kafka_find_coordinator_response_coordinator *cs = kf_new_array(
        &r->arena, &kafka_find_coordinator_response_coordinator_desc, n);
    if (n && !cs)
      return -1;
    for (int32_t i = 0; i < n; i++) {
      cs[i].key = req->coordinator_keys.items[i];
      if (!coordinator_denied(r, req->key_type, cs[i].key, &cs[i].error_code,
                              &cs[i].error_message, &cs[i].node_id, &cs[i].host,
                              &cs[i].port))
        coordinator(r, req->key_type, cs[i].key, &cs[i].error_code,
                    &cs[i].error_message, &cs[i].node_id, &cs[i].host,
                    &cs[i].port);
    }
    resp->coordinators.items = cs;
    resp->coordinators.count = n;
  }
  kafka_respond(r, resp);
  return 0;
}

/* ---- ListGroups --------------------------------------------------------- */

/* The protocol type of a group: what its members said, or, for a group
 * that has had no member since the broker started, what it was before. */
static kf_str protocol_type(kafka_req *r, const group *g, const char *gid) {
  if (g && g->protocol_type)
    return kafka_str(r, g->protocol_type);
  char *t = NULL;
  if (nd_group_protocol_type(r->b->store, gid, &t) != 0)
    kafka_log(r, BLOG_ERROR, "cannot read the protocol type of group %s: %s",
              gid, nd_errmsg());
  kf_str out = kafka_str(r, t ? t : "");
  nd_free(t);
  return out;
}

static int in_filter(const char *v, const kf_str *items, int32_t n) {
  if (n <= 0)
    return 1;
  for (int32_t i = 0; i < n; i++)
    if (kafka_cstr_ok(items[i]) && strcasecmp(items[i].ptr, v) == 0)
      return 1;
  return 0;
}

int handle_list_groups(kafka_req *r) {
  kafka_list_groups_request *req = r->body;
  group_coord *gc = r->b->groups;
  kafka_list_groups_response *resp =
      kf_new(&r->arena, &kafka_list_groups_response_desc);
  if (!resp)
    return -1;
  /* Groups known only by their committed offsets are Empty, as Kafka
   * shows groups it loaded from its offsets topic. */
  char **names = NULL;
  size_t nnames = 0;
  int rc = nd_group_list(r->b->store, &names, &nnames);
  if (rc != 0) {
    kafka_log(r, BLOG_ERROR, "cannot list groups with offsets: %s",
              nd_errmsg());
    names = NULL;
    nnames = 0;
  }
  size_t ncg = 0;
  for (cgroup *cg = cgroup_first(r->b); cg; cg = cg->hnext)
    ncg++;
  size_t cap = gc->ngroups + nnames + ncg;
  kafka_list_groups_response_listed_group *ls = kf_new_array(
      &r->arena, &kafka_list_groups_response_listed_group_desc, (int32_t)cap);
  if (cap && !ls) {
    nd_names_free(names, nnames);
    return -1;
  }
  int32_t k = 0;
  const kf_str *sf = req->states_filter.items, *tf = req->types_filter.items;
  int32_t nsf = r->version >= 4 ? req->states_filter.count : 0;
  int32_t ntf = r->version >= 5 ? req->types_filter.count : 0;
  int type_ok = in_filter("classic", tf, ntf);
  /* With ACLs: every group for DESCRIBE on the cluster, else those the
   * principal may DESCRIBE (KafkaApis.handleListGroupsRequest). */
  int all = !kafka_authz_on(r) ||
            kafka_authorize_quiet(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
                                  sizeof ACL_CLUSTER_NAME - 1, ACL_OP_DESCRIBE);
  for (size_t i = 0; i < gc->nbuckets; i++)
    for (group *g = gc->buckets[i]; g; g = g->hnext) {
      const char *state = group_state_name(g->state);
      if (!type_ok || !in_filter(state, sf, nsf))
        continue;
      if (!all && !kafka_authorize_quiet(r, ACL_RES_GROUP, g->id, strlen(g->id),
                                         ACL_OP_DESCRIBE))
        continue;
      ls[k].group_id = kafka_str(r, g->id);
      ls[k].protocol_type = protocol_type(r, g, g->id);
      ls[k].group_state = kf_s(state);
      ls[k].group_type = kf_s("classic");
      k++;
    }
  /* Consumer groups (KIP-848): type "consumer", their own states. */
  int consumer_ok = in_filter("consumer", tf, ntf);
  for (cgroup *cg = cgroup_first(r->b); cg; cg = cg->hnext) {
    const char *state = cgroup_state_name(cg->state);
    if (!consumer_ok || cg->state == CG_DEAD || !in_filter(state, sf, nsf))
      continue;
    if (!all && !kafka_authorize_quiet(r, ACL_RES_GROUP, cg->id, strlen(cg->id),
                                       ACL_OP_DESCRIBE))
      continue;
    ls[k].group_id = kafka_str(r, cg->id);
    ls[k].protocol_type = kf_s("consumer");
    ls[k].group_state = kf_s(state);
    ls[k].group_type = kf_s("consumer");
    k++;
  }
  for (size_t i = 0; i < nnames; i++) {
    if (group_find(gc, names[i]) || cgroup_find(r->b, names[i]) || !type_ok ||
        !in_filter("Empty", sf, nsf))
      continue;
    if (!all && !kafka_authorize_quiet(r, ACL_RES_GROUP, names[i],
                                       strlen(names[i]), ACL_OP_DESCRIBE))
      continue;
    ls[k].group_id = kafka_str(r, names[i]);
    ls[k].protocol_type = protocol_type(r, NULL, names[i]);
    ls[k].group_state = kf_s("Empty");
    ls[k].group_type = kf_s("classic");
    k++;
  }
  nd_names_free(names, nnames);
  resp->groups.items = ls;
  resp->groups.count = k;
  kafka_respond(r, resp);
  return 0;
}

/* ---- DescribeGroups ----------------------------------------------------- */

int handle_describe_groups(kafka_req *r) {
  kafka_describe_groups_request *req = r->body;
  kafka_describe_groups_response *resp =
      kf_new(&r->arena, &kafka_describe_groups_response_desc);
  if (!resp)
    return -1;
  int32_t n = req->groups.count > 0 ? req->groups.count : 0;
  kafka_describe_groups_response_described_group *ds = kf_new_array(
      &r->arena, &kafka_describe_groups_response_described_group_desc, n);
  if (n && !ds)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    kafka_describe_groups_response_described_group *d = &ds[i];
    const char *gid = group_cstr(req->groups.items[i]);
    d->group_id = req->groups.items[i];
    d->protocol_type = kf_s("");
    d->protocol_data = kf_s("");
    /* DESCRIBE on the group, else its error alone
     * (DescribeGroupsResponse.groupError). */
    if (!kafka_authorize_str(r, ACL_RES_GROUP, req->groups.items[i],
                             ACL_OP_DESCRIBE)) {
      d->error_code = KERR_GROUP_AUTHORIZATION_FAILED;
      d->group_state = kf_s("");
      continue;
    }
    if (req->include_authorized_operations)
      d->authorized_operations =
          kafka_authorized_ops(r, ACL_RES_GROUP, gid ? gid : "",
                               gid ? strlen(gid) : 0, KAFKA_OPS_GROUP);
    if (!gid) {
      d->error_code = KERR_INVALID_GROUP_ID;
      d->group_state = kf_s("Dead");
      continue;
    }
    /* "" or an id too long to store: a group that does not exist (Kafka
     * answers so; only null is invalid). */
    group *g = group_id_ok(gid) ? group_find(r->b->groups, gid) : NULL;
    /* DescribeGroups is the classic groups' (GroupMetadataManager.
     * describeGroups): a consumer group is Dead to it, even though it has
     * offsets. */
    int consumer = !g && group_id_ok(gid) && cgroup_find(r->b, gid);
    const char *not_found =
        consumer ? "Group %s is not a classic group." : "Group %s not found.";
    if (!g) {
      if (!consumer && group_id_ok(gid) && group_has_offsets(r, gid)) {
        d->group_state = kf_s("Empty");
        d->protocol_type = protocol_type(r, NULL, gid);
      } else {
        d->group_state = kf_s("Dead");
        /* Kafka 4 says so from v6 on, in its words (GroupIdNotFound's
         * message); older versions show a Dead group. */
        if (r->version >= 6) {
          size_t len = strlen(gid) + strlen(not_found);
          char *msg = kf_alloc(&r->arena, len);
          d->error_code = KERR_GROUP_ID_NOT_FOUND;
          if (msg)
            snprintf(msg, len, not_found, gid);
          d->error_message = msg ? kf_s(msg) : kf_null_str();
        }
      }
      continue;
    }
    int stable = g->state == GROUP_STABLE;
    d->group_state = kf_s(group_state_name(g->state));
    d->protocol_type = protocol_type(r, g, gid);
    d->protocol_data = kafka_str(r, stable && g->protocol ? g->protocol : "");
    kafka_describe_groups_response_described_group_member *ms = kf_new_array(
        &r->arena, &kafka_describe_groups_response_described_group_member_desc,
        g->nmembers);
    if (g->nmembers && !ms)
      return -1;
    int32_t k = 0;
    for (gmember *m = g->members; m; m = m->next, k++) {
      ms[k].member_id = kafka_str(r, m->id);
      ms[k].group_instance_id = kafka_str(r, m->instance_id);
      ms[k].client_id = kafka_str(r, m->client_id ? m->client_id : "");
      ms[k].client_host = kafka_str(r, m->client_host ? m->client_host : "");
      ms[k].member_metadata.len = 0;
      ms[k].member_assignment.len = 0;
      /* Metadata and assignment belong to a settled generation only. */
      if (!stable)
        continue;
      const group_protocol *p = group_member_protocol(m, g->protocol);
      if (p) {
        ms[k].member_metadata.ptr = p->meta;
        ms[k].member_metadata.len = p->len;
      }
      if (m->assignment) {
        ms[k].member_assignment.ptr = m->assignment;
        ms[k].member_assignment.len = m->assignment_len;
      }
    }
    d->members.items = ms;
    d->members.count = k;
  }
  resp->groups.items = ds;
  resp->groups.count = n;
  kafka_respond(r, resp);
  return 0;
}
