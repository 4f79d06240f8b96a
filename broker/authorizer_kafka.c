/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authorizer_kafka.c — the broker's side of the ACLs: turning them on
 * from Kafka's properties, loading and saving DATA/security/acls, and the
 * one-call checks the handlers make (kafka.h).
 *
 * Kafka's property names: authorizer.class.name set to
 * org.apache.kafka.metadata.authorizer.StandardAuthorizer (KRaft's) or
 * kafka.security.authorizer.AclAuthorizer (the ZooKeeper-era name, so an
 * old server.properties carries over) turns checks on; any other class is
 * refused (nodata cannot load Java classes, and silently not authorizing
 * would open everything). super.users and allow.everyone.if.no.acl.found
 * as Kafka reads them.
 *
 * Without an authorizer every check is one pointer test: kafka_authz_on.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authorizer.h"
#include "kafka.h"

#define STANDARD_AUTHORIZER                                                    \
  "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
#define ACL_AUTHORIZER "kafka.security.authorizer.AclAuthorizer"

int kafka_authz_init(broker *b) {
  kafka_state *k = b->kafka;
  const char *cls = broker_props_get(b->cfg.props, "authorizer.class.name");
  if (!cls || !*cls)
    return 0;
  if (strcmp(cls, STANDARD_AUTHORIZER) != 0 &&
      strcmp(cls, ACL_AUTHORIZER) != 0) {
    blog_error("authorizer",
               "authorizer.class.name=%s: nodata's authorizer is Kafka's "
               "StandardAuthorizer; set it to " STANDARD_AUTHORIZER
               " (or " ACL_AUTHORIZER "), or leave it unset for none",
               cls);
    return ND_ECORRUPT;
  }
  const char *every =
      broker_props_get(b->cfg.props, "allow.everyone.if.no.acl.found");
  int allow_every = 0;
  if (every) {
    /* Kafka reads it as a Java boolean: case-insensitive true, else
     * false; nodata refuses what is neither, so a typo cannot silently
     * decide. */
    if (!strcasecmp(every, "true"))
      allow_every = 1;
    else if (strcasecmp(every, "false") != 0) {
      blog_error("authorizer",
                 "allow.everyone.if.no.acl.found=%s: expected true or false",
                 every);
      return ND_ECORRUPT;
    }
  }
  authorizer *a = authz_new();
  if (!a || authz_configure(a, broker_props_get(b->cfg.props, "super.users"),
                            allow_every) < 0) {
    authz_free(a);
    return -ENOMEM;
  }
  char path[4096], why[4200];
  authz_file_path(b->cfg.data_dir, path, sizeof path);
  if (authz_load(a, path, why, sizeof why) < 0) {
    blog_error("authorizer",
               "cannot read the ACLs: %s (fix or remove the line; the "
               "broker does not start without its ACLs)",
               why);
    authz_free(a);
    return ND_ECORRUPT;
  }
  k->authz = a;
  blog_info("authorizer", "ACLs on (%s): %zu ACLs from %s%s", cls,
            authz_count(a), path,
            allow_every ? "; allow.everyone.if.no.acl.found=true" : "");
  return 0;
}

void kafka_authz_fini(broker *b) {
  kafka_state *k = b->kafka;
  if (!k)
    return;
  authz_free(k->authz);
  k->authz = NULL;
}

/* Kafka's resource type names in its authorizer log ("Topic", "Group"). */
static const char *res_log_name(int t) {
  switch (t) {
  case ACL_RES_TOPIC:
    return "Topic";
  case ACL_RES_GROUP:
    return "Group";
  case ACL_RES_CLUSTER:
    return "Cluster";
  case ACL_RES_TRANSACTIONAL_ID:
    return "TransactionalId";
  case ACL_RES_DELEGATION_TOKEN:
    return "DelegationToken";
  case ACL_RES_USER:
    return "User";
  }
  return "Unknown";
}

static int check(kafka_req *r, int res_type, const char *name, size_t len,
                 int op, int log) {
  const authorizer *a = r->k ? r->k->authz : NULL;
  if (!a)
    return 1;
  const kafka_session *s = r->session;
  if (authz_authorize(a, s->principal, s->host, res_type, name, len, op))
    return 1;
  if (log) {
    /* Kafka's kafka.authorizer.logger line, at INFO (blog holds back
     * floods of one shape). */
    blog_field f[4] = {BLOG_STR("principal", s->principal),
                       BLOG_STR("operation", acl_op_name(op)),
                       BLOG_STR("resource_type", res_log_name(res_type)),
                       BLOG_STRN("resource", name, (int)len)};
    kafka_logx(r, BLOG_INFO, f, 4,
               "Principal = %s is Denied operation = %s from host = %s on "
               "resource = %s:LITERAL:%.*s",
               s->principal, acl_op_name(op), s->host, res_log_name(res_type),
               (int)len, name);
  }
  return 0;
}

int kafka_authorize(kafka_req *r, int res_type, const char *name, size_t len,
                    int op) {
  return check(r, res_type, name, len, op, 1);
}

int kafka_authorize_quiet(kafka_req *r, int res_type, const char *name,
                          size_t len, int op) {
  return check(r, res_type, name, len, op, 0);
}

int kafka_authorize_cluster(kafka_req *r, int op) {
  return check(r, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
               sizeof ACL_CLUSTER_NAME - 1, op, 1);
}

int kafka_authorize_any(kafka_req *r, int res_type, int op) {
  const authorizer *a = r->k ? r->k->authz : NULL;
  if (!a)
    return 1;
  return authz_authorize_any(a, r->session->principal, r->session->host,
                             res_type, op);
}

int32_t kafka_authorized_ops(kafka_req *r, int res_type, const char *name,
                             size_t len, int32_t all) {
  const authorizer *a = r->k ? r->k->authz : NULL;
  if (!a)
    return all;
  return authz_allowed_ops(a, r->session->principal, r->session->host, res_type,
                           name, len, all);
}

/* ---- DescribeAcls, CreateAcls, DeleteAcls with the authorizer on ---- */

/* A request's string as a C string in r's arena (NULL for null). */
static const char *cstr(kafka_req *r, kf_str s) {
  if (!s.ptr || s.len < 0)
    return NULL;
  return kf_strndup(&r->arena, s.ptr, (size_t)s.len);
}

/* Persist the set; on failure the change is answered as failed (the ACLs
 * in memory are the new ones: the next change writes them again). */
static int save(kafka_req *r, kf_str *msg) {
  char path[4096];
  authz_file_path(r->b->cfg.data_dir, path, sizeof path);
  int rc = authz_save(r->k->authz, path);
  if (rc < 0) {
    char m[512];
    snprintf(m, sizeof m, "cannot write %s: %s", path, strerror(-rc));
    *msg = kafka_str(r, m);
    kafka_log(r, BLOG_ERROR, "%s", m);
    return -1;
  }
  return 0;
}

typedef struct describe_acc {
  kafka_req *r;
  kafka_describe_acls_response_resource *res;
  int32_t nres, cap;
  kafka_describe_acls_response_acl_description *acls;
  int32_t nacls, acap;
  int oom;
} describe_acc;

/* Acls come in the set's order, a resource's together: one response
 * resource per run of equal (type, name, pattern). */
static void describe_one(void *arg, const acl_binding *b) {
  describe_acc *d = arg;
  if (d->oom)
    return;
  kafka_describe_acls_response_resource *last =
      d->nres ? &d->res[d->nres - 1] : NULL;
  if (!last || last->resource_type != b->res_type ||
      last->pattern_type != b->pattern ||
      strcmp(last->resource_name.ptr, b->name) != 0) {
    if (d->nres == d->cap) {
      int32_t nc = d->cap ? d->cap * 2 : 8;
      kafka_describe_acls_response_resource *n = kf_new_array(
          &d->r->arena, &kafka_describe_acls_response_resource_desc, nc);
      if (!n) {
        d->oom = 1;
        return;
      }
      if (d->nres)
        memcpy(n, d->res, (size_t)d->nres * sizeof(*n));
      d->res = n;
      d->cap = nc;
    }
    last = &d->res[d->nres++];
    last->resource_type = b->res_type;
    last->pattern_type = b->pattern;
    last->resource_name = kafka_str(d->r, b->name);
    last->acls.items = NULL;
    last->acls.count = 0;
  }
  /* Each resource's ACLs are contiguous in d->acls (the set's order keeps
   * them together); items points at its first once set. */
  if (d->nacls == d->acap) {
    int32_t nc = d->acap ? d->acap * 2 : 16;
    kafka_describe_acls_response_acl_description *n = kf_new_array(
        &d->r->arena, &kafka_describe_acls_response_acl_description_desc, nc);
    if (!n) {
      d->oom = 1;
      return;
    }
    if (d->nacls)
      memcpy(n, d->acls, (size_t)d->nacls * sizeof(*n));
    /* Re-point every resource's items into the new array. */
    for (int32_t i = 0; i < d->nres; i++)
      if (d->res[i].acls.items)
        d->res[i].acls.items = n + (d->res[i].acls.items - d->acls);
    d->acls = n;
    d->acap = nc;
  }
  kafka_describe_acls_response_acl_description *e = &d->acls[d->nacls++];
  e->principal = kafka_str(d->r, b->principal);
  e->host = kafka_str(d->r, b->host);
  e->operation = b->op;
  e->permission_type = b->perm;
  if (!last->acls.items)
    last->acls.items = e;
  last->acls.count++;
}

static int filter_of(kafka_req *r, acl_filter *f, int8_t res, kf_str name,
                     int8_t pattern, kf_str principal, kf_str host, int8_t op,
                     int8_t perm) {
  *f = (acl_filter){res,           pattern, cstr(r, name), cstr(r, principal),
                    cstr(r, host), op,      perm};
  /* A filter with an UNKNOWN code does not parse in Kafka: it closes the
   * connection. */
  acl_binding probe = *f;
  return authz_codes_known(&probe) ? 0 : -1;
}

int kafka_describe_acls_on(kafka_req *r) {
  kafka_describe_acls_request *req = r->body;
  kafka_describe_acls_response *resp =
      kf_new(&r->arena, &kafka_describe_acls_response_desc);
  if (!resp)
    return -1;
  acl_filter f;
  if (filter_of(r, &f, req->resource_type_filter, req->resource_name_filter,
                req->pattern_type_filter, req->principal_filter,
                req->host_filter, req->operation, req->permission_type) < 0)
    return -1;
  resp->resources.count = 0;
  if (!kafka_authorize_cluster(r, ACL_OP_DESCRIBE)) {
    resp->error_code = KERR_CLUSTER_AUTHORIZATION_FAILED;
    resp->error_message = kf_s("Cluster authorization failed.");
  } else {
    describe_acc d = {.r = r};
    authz_list(r->k->authz, &f, describe_one, &d);
    if (d.oom)
      return -1;
    resp->resources.items = d.res;
    resp->resources.count = d.nres;
  }
  kafka_respond(r, resp);
  return 0;
}

int kafka_create_acls_on(kafka_req *r) {
  kafka_create_acls_request *req = r->body;
  kafka_create_acls_response *resp =
      kf_new(&r->arena, &kafka_create_acls_response_desc);
  int32_t n = req->creations.count > 0 ? req->creations.count : 0;
  kafka_create_acls_response_acl_creation_result *res = kf_new_array(
      &r->arena, &kafka_create_acls_response_acl_creation_result_desc, n);
  if (!resp || (n && !res))
    return -1;
  resp->results.items = res;
  resp->results.count = n;
  /* A creation with an UNKNOWN code does not parse in Kafka. */
  for (int32_t i = 0; i < n; i++) {
    const kafka_create_acls_request_acl_creation *c = &req->creations.items[i];
    acl_binding b = {c->resource_type, c->resource_pattern_type, "", "", "",
                     c->operation,     c->permission_type};
    if (!authz_codes_known(&b))
      return -1;
  }
  int denied = !kafka_authorize_cluster(r, ACL_OP_ALTER);
  int changed = 0;
  for (int32_t i = 0; i < n; i++) {
    const kafka_create_acls_request_acl_creation *c = &req->creations.items[i];
    res[i].error_code = 0;
    res[i].error_message = kf_null_str();
    if (denied) {
      res[i].error_code = KERR_CLUSTER_AUTHORIZATION_FAILED;
      res[i].error_message = kf_s("Cluster authorization failed.");
      continue;
    }
    acl_binding b = {c->resource_type,          c->resource_pattern_type,
                     cstr(r, c->resource_name), cstr(r, c->principal),
                     cstr(r, c->host),          c->operation,
                     c->permission_type};
    char why[512];
    int v = authz_validate(&b, why, sizeof why);
    if (v == -1) {
      res[i].error_code = KERR_UNKNOWN_SERVER_ERROR;
      continue;
    }
    if (v == -2) {
      res[i].error_code = KERR_INVALID_REQUEST;
      res[i].error_message = kafka_str(r, why);
      continue;
    }
    int added = authz_add(r->k->authz, &b);
    if (added < 0) {
      res[i].error_code = KERR_UNKNOWN_SERVER_ERROR;
      res[i].error_message = kf_s("out of memory");
      continue;
    }
    if (added) {
      changed = 1;
      kafka_log(r, BLOG_INFO, "ACL added: %s %s %s %s host %s %s %s",
                acl_res_name(b.res_type), acl_pat_name(b.pattern), b.name,
                b.principal, b.host, acl_op_name(b.op), acl_perm_name(b.perm));
    }
  }
  kf_str msg;
  if (changed && save(r, &msg) < 0)
    for (int32_t i = 0; i < n; i++)
      if (!res[i].error_code) {
        res[i].error_code = KERR_KAFKA_STORAGE_ERROR;
        res[i].error_message = msg;
      }
  kafka_respond(r, resp);
  return 0;
}

typedef struct delete_acc {
  kafka_req *r;
  kafka_delete_acls_response_matching_acl *items;
  int32_t n, cap;
  int oom;
} delete_acc;

static void delete_one(void *arg, const acl_binding *b) {
  delete_acc *d = arg;
  if (d->oom)
    return;
  if (d->n == d->cap) {
    int32_t nc = d->cap ? d->cap * 2 : 8;
    kafka_delete_acls_response_matching_acl *n = kf_new_array(
        &d->r->arena, &kafka_delete_acls_response_matching_acl_desc, nc);
    if (!n) {
      d->oom = 1;
      return;
    }
    if (d->n)
      memcpy(n, d->items, (size_t)d->n * sizeof(*n));
    d->items = n;
    d->cap = nc;
  }
  kafka_delete_acls_response_matching_acl *m = &d->items[d->n++];
  m->error_code = 0;
  m->error_message = kf_null_str();
  m->resource_type = b->res_type;
  m->resource_name = kafka_str(d->r, b->name);
  m->pattern_type = b->pattern;
  m->principal = kafka_str(d->r, b->principal);
  m->host = kafka_str(d->r, b->host);
  m->operation = b->op;
  m->permission_type = b->perm;
  kafka_log(d->r, BLOG_INFO, "ACL removed: %s %s %s %s host %s %s %s",
            acl_res_name(b->res_type), acl_pat_name(b->pattern), b->name,
            b->principal, b->host, acl_op_name(b->op), acl_perm_name(b->perm));
}

int kafka_delete_acls_on(kafka_req *r) {
  kafka_delete_acls_request *req = r->body;
  kafka_delete_acls_response *resp =
      kf_new(&r->arena, &kafka_delete_acls_response_desc);
  int32_t n = req->filters.count > 0 ? req->filters.count : 0;
  kafka_delete_acls_response_filter_result *res = kf_new_array(
      &r->arena, &kafka_delete_acls_response_filter_result_desc, n);
  if (!resp || (n && !res))
    return -1;
  acl_filter *fs = n ? kf_alloc(&r->arena, (size_t)n * sizeof(*fs)) : NULL;
  if (n && !fs)
    return -1;
  for (int32_t i = 0; i < n; i++) {
    const kafka_delete_acls_request_filter *q = &req->filters.items[i];
    if (filter_of(r, &fs[i], q->resource_type_filter, q->resource_name_filter,
                  q->pattern_type_filter, q->principal_filter, q->host_filter,
                  q->operation, q->permission_type) < 0)
      return -1;
  }
  resp->filter_results.items = res;
  resp->filter_results.count = n;
  int denied = !kafka_authorize_cluster(r, ACL_OP_ALTER);
  int changed = 0;
  for (int32_t i = 0; i < n; i++) {
    res[i].error_code = 0;
    res[i].error_message = kf_null_str();
    res[i].matching_acls.count = 0;
    if (denied) {
      res[i].error_code = KERR_CLUSTER_AUTHORIZATION_FAILED;
      res[i].error_message = kf_s("Cluster authorization failed.");
      continue;
    }
    delete_acc d = {.r = r};
    int gone = authz_remove(r->k->authz, &fs[i], delete_one, &d);
    if (gone < 0 || d.oom)
      return -1;
    changed |= gone > 0;
    res[i].matching_acls.items = d.items;
    res[i].matching_acls.count = d.n;
  }
  kf_str msg;
  if (changed && save(r, &msg) < 0)
    for (int32_t i = 0; i < n; i++) {
      res[i].error_code = KERR_KAFKA_STORAGE_ERROR;
      res[i].error_message = msg;
    }
  kafka_respond(r, resp);
  return 0;
}
