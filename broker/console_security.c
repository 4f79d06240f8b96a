/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_security.c — /api/acls and /api/users (docs/http-api.md): ACLs
 * through DescribeAcls, CreateAcls and DeleteAcls v3, SCRAM users through
 * DescribeUserScramCredentials and AlterUserScramCredentials v0, as the
 * caller's principal, so the broker's authorizer decides (DESCRIBE or
 * ALTER on the cluster) exactly as for kafka-acls.sh and kafka-configs.sh.
 *
 * A new user's password never crosses to the broker: as Kafka's admin
 * client does, the console salts it (32 bytes from getrandom) and sends
 * PBKDF2's output, the salted password.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "authorizer.h"
#include "console.h"
#include "kafka_errors.h"
#include "kafka_msgs.h"
#include "sasl.h"

#define DESCRIBE_ACLS 29
#define CREATE_ACLS 30
#define DELETE_ACLS 31
#define DESCRIBE_SCRAM 50
#define ALTER_SCRAM 51

/* Kafka's default for a new credential (ScramCredentialUtils, and
 * kafka-configs.sh's iterations when none is given). */
#define DEFAULT_ITERATIONS 8192
#define SALT_BYTES 32

/* ---- ACLs --------------------------------------------------------------- */

static void write_acl(jw *w, int8_t rt, kf_str name, int8_t pt,
                      kf_str principal, kf_str host, int8_t op, int8_t perm) {
  jw_obj(w);
  jw_kstr(w, "resource_type", acl_res_name(rt));
  jw_key(w, "resource_name");
  jw_strn(w, name.ptr, name.len > 0 ? (size_t)name.len : 0);
  jw_kstr(w, "pattern_type", acl_pat_name(pt));
  jw_key(w, "principal");
  jw_strn(w, principal.ptr, principal.len > 0 ? (size_t)principal.len : 0);
  jw_key(w, "host");
  jw_strn(w, host.ptr, host.len > 0 ? (size_t)host.len : 0);
  jw_kstr(w, "operation", acl_op_name(op));
  jw_kstr(w, "permission", acl_perm_name(perm));
  jw_end(w);
}

static int get_acls(console_call *cc) {
  kafka_describe_acls_request *rq = console_new_req(cc, DESCRIBE_ACLS);
  if (rq) {
    rq->resource_type_filter = ACL_RES_ANY;
    rq->resource_name_filter = kf_null_str();
    rq->pattern_type_filter = ACL_PAT_ANY;
    rq->principal_filter = kf_null_str();
    rq->host_filter = kf_null_str();
    rq->operation = ACL_OP_ANY;
    rq->permission_type = ACL_PERM_ANY;
  }
  kafka_describe_acls_response *r;
  if (console_kafka(cc, DESCRIBE_ACLS, 3, rq, (void **)&r) < 0)
    return -1;
  /* No authorizer: no ACLs to list, which the page says rather than an
   * error (Kafka's SECURITY_DISABLED). */
  int disabled = r->error_code == KERR_SECURITY_DISABLED;
  if (r->error_code && !disabled)
    return console_kafka_error(cc, r->error_code, r->error_message, "ACLs");
  jw *w = console_json(cc);
  jw_obj(w);
  jw_kbool(w, "authorizer", !disabled);
  jw_key(w, "acls");
  jw_arr(w);
  for (int i = 0; i < r->resources.count; i++) {
    const kafka_describe_acls_response_resource *res = &r->resources.items[i];
    for (int j = 0; j < res->acls.count; j++) {
      const kafka_describe_acls_response_acl_description *a =
          &res->acls.items[j];
      write_acl(w, res->resource_type, res->resource_name, res->pattern_type,
                a->principal, a->host, a->operation, a->permission_type);
    }
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

/* One binding, as A names it (docs/http-api.md). */
typedef struct acl_in {
  int8_t rt, pt, op, perm;
  const char *name, *principal, *host;
} acl_in;

/* The enum field `key` of body b through parse; absent gives def (-1:
 * required). 0, or -1 answered. */
static int enum_field(console_call *cc, const jv *b, const char *key,
                      int (*parse)(const char *), int def, int8_t *out,
                      const char *allowed) {
  const jv *v = jv_get(b, key);
  if (!v || v->type == JV_NULL) {
    if (def < 0)
      return console_error(cc, 400, "INVALID_REQUEST", "%s is required (%s)",
                           key, allowed);
    *out = (int8_t)def;
    return 0;
  }
  const char *s = jv_as_str(v);
  int code = s ? parse(s) : -1;
  /* ANY, MATCH and UNKNOWN are filters, not a binding's values. */
  if (code <= 1 || (parse == acl_pat_parse && code == ACL_PAT_MATCH))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "%s: %s%s%s is not one of %s", key, s ? "'" : "",
                         s ? s : "not a string", s ? "'" : "", allowed);
  *out = (int8_t)code;
  return 0;
}

static int str_field(console_call *cc, const jv *b, const char *key,
                     const char *def, const char **out) {
  const jv *v = jv_get(b, key);
  if (!v || v->type == JV_NULL) {
    if (!def)
      return console_error(cc, 400, "INVALID_REQUEST", "%s is required", key);
    *out = def;
    return 0;
  }
  const char *s = jv_as_str(v);
  if (!s || !*s || strlen(s) != v->len)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "%s must be a non-empty string", key);
  *out = s;
  return 0;
}

/* The body's binding. strict (DELETE): every field is required, so one
 * call removes exactly one binding and never a pattern's worth. */
static int acl_from_body(console_call *cc, int strict, acl_in *a) {
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  if (b->type != JV_OBJECT)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body is an ACL binding object");
  if (enum_field(cc, b, "resource_type", acl_res_parse, -1, &a->rt,
                 "TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN, "
                 "USER") < 0 ||
      str_field(cc, b, "resource_name", NULL, &a->name) < 0 ||
      enum_field(cc, b, "pattern_type", acl_pat_parse,
                 strict ? -1 : ACL_PAT_LITERAL, &a->pt,
                 "LITERAL, PREFIXED") < 0 ||
      str_field(cc, b, "principal", NULL, &a->principal) < 0 ||
      str_field(cc, b, "host", strict ? NULL : "*", &a->host) < 0 ||
      enum_field(cc, b, "operation", acl_op_parse, -1, &a->op,
                 "ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, "
                 "CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, "
                 "IDEMPOTENT_WRITE, CREATE_TOKENS, DESCRIBE_TOKENS") < 0 ||
      enum_field(cc, b, "permission", acl_perm_parse,
                 strict ? -1 : ACL_PERM_ALLOW, &a->perm, "ALLOW, DENY") < 0)
    return -1;
  return 0;
}

static int post_acl(console_call *cc) {
  acl_in a;
  if (acl_from_body(cc, 0, &a) < 0)
    return -1;
  kafka_create_acls_request *rq = console_new_req(cc, CREATE_ACLS);
  kafka_create_acls_request_acl_creation *cr =
      kf_new_array(&cc->arena, &kafka_create_acls_request_acl_creation_desc, 1);
  if (rq && cr) {
    cr->resource_type = a.rt;
    cr->resource_name = kf_s(a.name);
    cr->resource_pattern_type = a.pt;
    cr->principal = kf_s(a.principal);
    cr->host = kf_s(a.host);
    cr->operation = a.op;
    cr->permission_type = a.perm;
    rq->creations.items = cr;
    rq->creations.count = 1;
  }
  kafka_create_acls_response *r;
  if (console_kafka(cc, CREATE_ACLS, 3, rq && cr ? rq : NULL, (void **)&r) < 0)
    return -1;
  if (r->results.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "CreateAcls answered %d results for 1 creation",
                         r->results.count);
  if (r->results.items[0].error_code)
    return console_kafka_error(cc, r->results.items[0].error_code,
                               r->results.items[0].error_message, "ACL");
  cc->rs->status = 201;
  write_acl(console_json(cc), a.rt, kf_s(a.name), a.pt, kf_s(a.principal),
            kf_s(a.host), a.op, a.perm);
  return 0;
}

static int delete_acl(console_call *cc) {
  acl_in a;
  if (acl_from_body(cc, 1, &a) < 0)
    return -1;
  kafka_delete_acls_request *rq = console_new_req(cc, DELETE_ACLS);
  kafka_delete_acls_request_filter *f =
      kf_new_array(&cc->arena, &kafka_delete_acls_request_filter_desc, 1);
  if (rq && f) {
    f->resource_type_filter = a.rt;
    f->resource_name_filter = kf_s(a.name);
    f->pattern_type_filter = a.pt;
    f->principal_filter = kf_s(a.principal);
    f->host_filter = kf_s(a.host);
    f->operation = a.op;
    f->permission_type = a.perm;
    rq->filters.items = f;
    rq->filters.count = 1;
  }
  kafka_delete_acls_response *r;
  if (console_kafka(cc, DELETE_ACLS, 3, rq && f ? rq : NULL, (void **)&r) < 0)
    return -1;
  if (r->filter_results.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "DeleteAcls answered %d results for 1 filter",
                         r->filter_results.count);
  const kafka_delete_acls_response_filter_result *fr =
      &r->filter_results.items[0];
  if (fr->error_code)
    return console_kafka_error(cc, fr->error_code, fr->error_message, "ACL");
  int deleted = 0;
  for (int i = 0; i < fr->matching_acls.count; i++) {
    const kafka_delete_acls_response_matching_acl *m =
        &fr->matching_acls.items[i];
    if (m->error_code)
      return console_kafka_error(cc, m->error_code, m->error_message, "ACL");
    deleted++;
  }
  jw *w = console_json(cc);
  jw_obj(w);
  jw_kint(w, "deleted", deleted);
  jw_end(w);
  return 0;
}

/* ---- SCRAM users -------------------------------------------------------- */

/* The answer's order is the console's, not the broker's (Kafka lists a
 * user's credentials in its own map's order, nodata in the order they
 * were made): users by name, credentials by mechanism. */
static int user_cmp(const void *a, const void *b) {
  const kafka_describe_user_scram_credentials_response_result *x = a, *y = b;
  int32_t xl = x->user.len > 0 ? x->user.len : 0;
  int32_t yl = y->user.len > 0 ? y->user.len : 0;
  int c = xl && yl
              ? memcmp(x->user.ptr, y->user.ptr, (size_t)(xl < yl ? xl : yl))
              : 0;
  return c ? c : (xl > yl) - (xl < yl);
}

static int cred_cmp(const void *a, const void *b) {
  const kafka_describe_user_scram_credentials_response_credential_info *x = a,
                                                                       *y = b;
  return (x->mechanism > y->mechanism) - (x->mechanism < y->mechanism);
}

static int get_users(console_call *cc) {
  kafka_describe_user_scram_credentials_request *rq =
      console_new_req(cc, DESCRIBE_SCRAM);
  if (rq) {
    rq->users.items = NULL;
    rq->users.count = -1; /* every user */
  }
  kafka_describe_user_scram_credentials_response *r;
  if (console_kafka(cc, DESCRIBE_SCRAM, 0, rq, (void **)&r) < 0)
    return -1;
  if (r->error_code)
    return console_kafka_error(cc, r->error_code, r->error_message, "users");
  if (r->results.count > 1)
    qsort(r->results.items, (size_t)r->results.count, sizeof *r->results.items,
          user_cmp);
  for (int i = 0; i < r->results.count; i++)
    if (r->results.items[i].credential_infos.count > 1)
      qsort(r->results.items[i].credential_infos.items,
            (size_t)r->results.items[i].credential_infos.count,
            sizeof *r->results.items[i].credential_infos.items, cred_cmp);
  jw *w = console_json(cc);
  jw_obj(w);
  jw_key(w, "users");
  jw_arr(w);
  for (int i = 0; i < r->results.count; i++) {
    const kafka_describe_user_scram_credentials_response_result *u =
        &r->results.items[i];
    if (u->error_code)
      continue; /* only named users can be unknown; none were named */
    jw_obj(w);
    jw_key(w, "name");
    jw_strn(w, u->user.ptr, u->user.len > 0 ? (size_t)u->user.len : 0);
    jw_key(w, "credentials");
    jw_arr(w);
    for (int j = 0; j < u->credential_infos.count; j++) {
      jw_obj(w);
      const char *m = scram_mech_name(u->credential_infos.items[j].mechanism);
      jw_kstr(w, "mechanism", m ? m : "UNKNOWN");
      jw_kint(w, "iterations", u->credential_infos.items[j].iterations);
      jw_end(w);
    }
    jw_end(w);
    jw_end(w);
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

static int mech_of(console_call *cc, const char *m) {
  int mech = m ? scram_mech_parse(m) : SCRAM_UNKNOWN;
  if (mech == SCRAM_UNKNOWN)
    console_error(cc, 400, "UNSUPPORTED_SASL_MECHANISM",
                  "mechanism %s%s%s: SCRAM-SHA-256 or SCRAM-SHA-512",
                  m ? "'" : "", m ? m : "missing", m ? "'" : "");
  return mech;
}

/* The one result of an AlterUserScramCredentials call. */
static int alter_result(console_call *cc,
                        const kafka_alter_user_scram_credentials_response *r,
                        const char *user) {
  char what[300];
  snprintf(what, sizeof what, "user %s", user);
  if (r->results.count != 1)
    return console_error(cc, 502, "BROKER_CONNECTION_FAILED",
                         "AlterUserScramCredentials answered %d results for 1",
                         r->results.count);
  if (r->results.items[0].error_code)
    return console_kafka_error(cc, r->results.items[0].error_code,
                               r->results.items[0].error_message, what);
  return 0;
}

static int post_user(console_call *cc) {
  const jv *b = console_body(cc);
  if (!b)
    return -1;
  const char *name, *pw, *m;
  if (b->type != JV_OBJECT)
    return console_error(cc, 400, "INVALID_REQUEST",
                         "the body is {\"name\", \"password\", \"mechanism\", "
                         "\"iterations\"?}");
  if (str_field(cc, b, "name", NULL, &name) < 0 ||
      str_field(cc, b, "password", NULL, &pw) < 0 ||
      str_field(cc, b, "mechanism", NULL, &m) < 0)
    return -1;
  int mech = mech_of(cc, m);
  if (mech == SCRAM_UNKNOWN)
    return -1;
  int64_t iter = DEFAULT_ITERATIONS;
  const jv *iv = jv_get(b, "iterations");
  if (iv && iv->type != JV_NULL &&
      (!jv_as_int(iv, &iter) || iter < SCRAM_MIN_ITERATIONS ||
       iter > SCRAM_MAX_ITERATIONS))
    return console_error(cc, 400, "UNACCEPTABLE_CREDENTIAL",
                         "iterations: a whole number from %d to %d",
                         SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS);
  size_t hl = scram_hash_len(mech);
  uint8_t *salt = kf_alloc(&cc->arena, SALT_BYTES);
  uint8_t *salted = kf_alloc(&cc->arena, hl);
  if (!salt || !salted)
    return console_error(cc, 500, "OUT_OF_MEMORY", "out of memory");
  if (getrandom(salt, SALT_BYTES, 0) != SALT_BYTES)
    return console_error(cc, 500, "INTERNAL_ERROR", "getrandom failed");
  if (scram_salted_password(mech, pw, strlen(pw), salt, SALT_BYTES,
                            (int32_t)iter, salted) < 0)
    return console_error(cc, 500, "INTERNAL_ERROR", "PBKDF2 failed");
  kafka_alter_user_scram_credentials_request *rq =
      console_new_req(cc, ALTER_SCRAM);
  kafka_alter_user_scram_credentials_request_scram_credential_upsertion *u =
      kf_new_array(
          &cc->arena,
          &kafka_alter_user_scram_credentials_request_scram_credential_upsertion_desc,
          1);
  if (rq && u) {
    u->name = kf_s(name);
    u->mechanism = (int8_t)mech;
    u->iterations = (int32_t)iter;
    u->salt = (kf_bytes){.ptr = salt, .len = SALT_BYTES};
    u->salted_password = (kf_bytes){.ptr = salted, .len = (int32_t)hl};
    rq->deletions.count = 0;
    rq->upsertions.items = u;
    rq->upsertions.count = 1;
  }
  kafka_alter_user_scram_credentials_response *r;
  int rc = console_kafka(cc, ALTER_SCRAM, 0, rq && u ? rq : NULL, (void **)&r);
  OPENSSL_cleanse(salted, hl);
  if (rc < 0 || alter_result(cc, r, name) < 0)
    return -1;
  cc->rs->status = 201;
  jw *w = console_json(cc);
  jw_obj(w);
  jw_kstr(w, "name", name);
  jw_kstr(w, "mechanism", scram_mech_name(mech));
  jw_kint(w, "iterations", iter);
  jw_end(w);
  return 0;
}

static int delete_user(console_call *cc) {
  char m[64];
  if (!console_query(cc, "mechanism", m, sizeof m))
    return console_error(cc, 400, "INVALID_REQUEST",
                         "say which credential: ?mechanism=SCRAM-SHA-256 or "
                         "SCRAM-SHA-512");
  int mech = mech_of(cc, m);
  if (mech == SCRAM_UNKNOWN)
    return -1;
  const char *name = cc->params[0];
  kafka_alter_user_scram_credentials_request *rq =
      console_new_req(cc, ALTER_SCRAM);
  kafka_alter_user_scram_credentials_request_scram_credential_deletion *d =
      kf_new_array(
          &cc->arena,
          &kafka_alter_user_scram_credentials_request_scram_credential_deletion_desc,
          1);
  if (rq && d) {
    d->name = kf_s(name);
    d->mechanism = (int8_t)mech;
    rq->deletions.items = d;
    rq->deletions.count = 1;
    rq->upsertions.count = 0;
  }
  kafka_alter_user_scram_credentials_response *r;
  if (console_kafka(cc, ALTER_SCRAM, 0, rq && d ? rq : NULL, (void **)&r) < 0 ||
      alter_result(cc, r, name) < 0)
    return -1;
  cc->rs->status = 204;
  return 0;
}

const console_route console_security_routes[] = {
    {"GET", "/api/acls", get_acls, 0},
    {"POST", "/api/acls", post_acl, CONSOLE_MUTATES},
    {"DELETE", "/api/acls", delete_acl, CONSOLE_MUTATES},
    {"GET", "/api/users", get_users, 0},
    {"POST", "/api/users", post_user, CONSOLE_MUTATES},
    {"DELETE", "/api/users/{}", delete_user, CONSOLE_MUTATES},
    {NULL, NULL, NULL, 0},
};
