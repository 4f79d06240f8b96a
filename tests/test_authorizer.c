/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ACL authorizer (broker/authorizer.c) decides as Kafka's
 * StandardAuthorizer: DENY wins over ALLOW; literal, "*" and PREFIXED
 * patterns; User:* and host "*"; an ALLOW of READ/WRITE/DELETE/ALTER
 * implies DESCRIBE and of ALTER_CONFIGS implies DESCRIBE_CONFIGS, while a
 * DENY denies only its own operation; ALL; super users;
 * allow.everyone.if.no.acl.found only for resources without any ACL.
 * Filters match as Kafka's ResourcePatternFilter (MATCH). The file
 * survives a save and load, and a damaged file is refused with its name
 * and line.
 */
#include "test.h"

#include "authorizer.h"

#include <stdio.h>
#include <string.h>

#define ALICE "User:alice"
#define BOB "User:bob"
#define HOST "10.0.0.1"

static void add(authorizer *a, int type, int pattern, const char *name,
                const char *principal, const char *host, int op, int perm) {
  acl_binding b = {(int8_t)type, (int8_t)pattern, name,        principal,
                   host,         (int8_t)op,      (int8_t)perm};
  CHECK(authz_add(a, &b) == 1);
}

static int may(const authorizer *a, const char *principal, const char *host,
               int type, const char *name, int op) {
  return authz_authorize(a, principal, host, type, name, strlen(name), op);
}

static void deny_wins(void) {
  authorizer *a = authz_new();
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "orders", ALICE, "*", ACL_OP_READ,
      ACL_PERM_ALLOW);
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "orders", ACL_OP_READ));
  CHECK(!may(a, BOB, HOST, ACL_RES_TOPIC, "orders", ACL_OP_READ));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "orders", ACL_OP_WRITE));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "order", ACL_OP_READ));
  CHECK(!may(a, ALICE, HOST, ACL_RES_GROUP, "orders", ACL_OP_READ));
  /* A DENY from another pattern (a prefix, for everyone) wins. */
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "ord", "User:*", HOST, ACL_OP_READ,
      ACL_PERM_DENY);
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "orders", ACL_OP_READ));
  CHECK(may(a, ALICE, "10.0.0.2", ACL_RES_TOPIC, "orders", ACL_OP_READ));
  /* DENY ALL denies every operation. */
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "orders", ALICE, "10.0.0.3",
      ACL_OP_ALL, ACL_PERM_DENY);
  CHECK(!may(a, ALICE, "10.0.0.3", ACL_RES_TOPIC, "orders", ACL_OP_READ));
  CHECK(!may(a, ALICE, "10.0.0.3", ACL_RES_TOPIC, "orders", ACL_OP_DESCRIBE));
  authz_free(a);
}

static void patterns(void) {
  authorizer *a = authz_new();
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "app.", ALICE, "*", ACL_OP_WRITE,
      ACL_PERM_ALLOW);
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "app.secret.", ALICE, "*",
      ACL_OP_WRITE, ACL_PERM_DENY);
  add(a, ACL_RES_GROUP, ACL_PAT_LITERAL, "*", BOB, "*", ACL_OP_READ,
      ACL_PERM_ALLOW);
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "app.x", ACL_OP_WRITE));
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "app.", ACL_OP_WRITE));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "app", ACL_OP_WRITE));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "xapp.x", ACL_OP_WRITE));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "app.secret.k", ACL_OP_WRITE));
  /* The literal "*" is every group; a literal name is not a prefix. */
  CHECK(may(a, BOB, HOST, ACL_RES_GROUP, "any-group", ACL_OP_READ));
  CHECK(!may(a, BOB, HOST, ACL_RES_TOPIC, "any-group", ACL_OP_READ));
  /* A prefixed "*" is a prefix, not a wildcard. */
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "*", BOB, "*", ACL_OP_READ,
      ACL_PERM_ALLOW);
  CHECK(!may(a, BOB, HOST, ACL_RES_TOPIC, "t", ACL_OP_READ));
  CHECK(may(a, BOB, HOST, ACL_RES_TOPIC, "*t", ACL_OP_READ));
  /* Many ACLs: each check still finds its own. */
  char name[64];
  for (int i = 0; i < 500; i++) {
    snprintf(name, sizeof name, "topic-%d", i);
    add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, name, ALICE, "*", ACL_OP_READ,
        ACL_PERM_ALLOW);
  }
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "topic-432", ACL_OP_READ));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "topic-500", ACL_OP_READ));
  CHECK_EQ_I64(authz_count(a), 504);
  authz_free(a);
}

static void implied_ops(void) {
  authorizer *a = authz_new();
  int implies[] = {ACL_OP_READ, ACL_OP_WRITE, ACL_OP_DELETE, ACL_OP_ALTER};
  for (size_t i = 0; i < 4; i++) {
    char t[8];
    snprintf(t, sizeof t, "t%zu", i);
    add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, t, ALICE, "*", implies[i],
        ACL_PERM_ALLOW);
    CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, t, ACL_OP_DESCRIBE));
    CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, t, ACL_OP_DESCRIBE_CONFIGS));
  }
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "c", ALICE, "*", ACL_OP_CREATE,
      ACL_PERM_ALLOW);
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "c", ACL_OP_DESCRIBE));
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "cfg", ALICE, "*",
      ACL_OP_ALTER_CONFIGS, ACL_PERM_ALLOW);
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "cfg", ACL_OP_DESCRIBE_CONFIGS));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "cfg", ACL_OP_DESCRIBE));
  /* DENY READ does not deny DESCRIBE (Kafka denies only the named
   * operation). */
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "t0", ALICE, "*", ACL_OP_READ,
      ACL_PERM_DENY);
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "t0", ALICE, "*", ACL_OP_DESCRIBE,
      ACL_PERM_ALLOW);
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "t0", ACL_OP_READ));
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "t0", ACL_OP_DESCRIBE));
  /* ALL allows everything, the authorized-operations answer included. */
  add(a, ACL_RES_CLUSTER, ACL_PAT_LITERAL, ACL_CLUSTER_NAME, BOB, "*",
      ACL_OP_ALL, ACL_PERM_ALLOW);
  int32_t mask = (1 << ACL_OP_CREATE) | (1 << ACL_OP_ALTER) |
                 (1 << ACL_OP_IDEMPOTENT_WRITE);
  CHECK_EQ_I64(authz_allowed_ops(a, BOB, HOST, ACL_RES_CLUSTER,
                                 ACL_CLUSTER_NAME, 13, mask),
               mask);
  CHECK_EQ_I64(authz_allowed_ops(a, ALICE, HOST, ACL_RES_TOPIC, "t1", 2,
                                 (1 << ACL_OP_WRITE) | (1 << ACL_OP_READ) |
                                     (1 << ACL_OP_DESCRIBE)),
               (1 << ACL_OP_WRITE) | (1 << ACL_OP_DESCRIBE));
  authz_free(a);
}

static void super_users_and_default(void) {
  authorizer *a = authz_new();
  CHECK_OK(authz_configure(a, " User:admin ; User:ops", 0));
  CHECK(may(a, "User:admin", HOST, ACL_RES_TOPIC, "t", ACL_OP_DELETE));
  CHECK(may(a, "User:ops", HOST, ACL_RES_CLUSTER, ACL_CLUSTER_NAME,
            ACL_OP_ALTER));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "t", ACL_OP_DESCRIBE));
  /* A super user's DENY does not bind it. */
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "t", "User:admin", "*", ACL_OP_ALL,
      ACL_PERM_DENY);
  CHECK(may(a, "User:admin", HOST, ACL_RES_TOPIC, "t", ACL_OP_READ));
  /* allow.everyone.if.no.acl.found: only where no ACL names the resource
   * (whoever it names). */
  CHECK_OK(authz_configure(a, NULL, 1));
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "other", ACL_OP_READ));
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "t", ACL_OP_READ));
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "ot", BOB, "*", ACL_OP_WRITE,
      ACL_PERM_ALLOW);
  CHECK(!may(a, ALICE, HOST, ACL_RES_TOPIC, "other", ACL_OP_READ));
  CHECK(!may(a, "User:admin", HOST, ACL_RES_TOPIC, "t", ACL_OP_READ));
  authz_free(a);
}

static void count_each(void *arg, const acl_binding *b) {
  (void)b;
  (*(int *)arg)++;
}

static void filters(void) {
  authorizer *a = authz_new();
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "orders", ALICE, "*", ACL_OP_READ,
      ACL_PERM_ALLOW);
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "*", ALICE, "*", ACL_OP_DESCRIBE,
      ACL_PERM_ALLOW);
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "ord", BOB, "*", ACL_OP_WRITE,
      ACL_PERM_DENY);
  add(a, ACL_RES_GROUP, ACL_PAT_LITERAL, "orders", BOB, "*", ACL_OP_READ,
      ACL_PERM_ALLOW);
  /* The same ACL twice is one. */
  acl_binding dup = {ACL_RES_GROUP, ACL_PAT_LITERAL, "orders",      BOB,
                     "*",           ACL_OP_READ,     ACL_PERM_ALLOW};
  CHECK(authz_add(a, &dup) == 0);
  int n = 0;
  acl_filter match = {ACL_RES_TOPIC, ACL_PAT_MATCH, "orders",    NULL,
                      NULL,          ACL_OP_ANY,    ACL_PERM_ANY};
  authz_list(a, &match, count_each, &n);
  CHECK_EQ_I64(n, 3);
  acl_filter any = {ACL_RES_ANY, ACL_PAT_ANY, "orders",    NULL,
                    NULL,        ACL_OP_ANY,  ACL_PERM_ANY};
  n = 0;
  authz_list(a, &any, count_each, &n);
  CHECK_EQ_I64(n, 2);
  acl_filter bob = {ACL_RES_ANY, ACL_PAT_ANY, NULL,        BOB,
                    NULL,        ACL_OP_ANY,  ACL_PERM_ANY};
  n = 0;
  CHECK_EQ_I64(authz_remove(a, &bob, count_each, &n), 2);
  CHECK_EQ_I64(n, 2);
  CHECK_EQ_I64(authz_count(a), 2);
  /* The index follows removals. */
  CHECK(may(a, ALICE, HOST, ACL_RES_TOPIC, "orders", ACL_OP_READ));
  CHECK(!may(a, BOB, HOST, ACL_RES_GROUP, "orders", ACL_OP_READ));
  authz_free(a);
}

/* Kafka's authorizeByResourceType (InitProducerId's WRITE on any
 * topic): some ALLOW no DENY covers. */
static void any_resource(void) {
  authorizer *a = authz_new();
  CHECK(!authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "app.", ALICE, "*", ACL_OP_WRITE,
      ACL_PERM_ALLOW);
  CHECK(authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  CHECK(!authz_authorize_any(a, BOB, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  CHECK(!authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_READ));
  CHECK(!authz_authorize_any(a, ALICE, HOST, ACL_RES_GROUP, ACL_OP_WRITE));
  /* A DENY on a shorter prefix covers it. */
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "ap", ALICE, "*", ACL_OP_WRITE,
      ACL_PERM_DENY);
  CHECK(!authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  /* Another ALLOW outside it: allowed again; a DENY on "*" covers all. */
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "orders", ALICE, "*", ACL_OP_ALL,
      ACL_PERM_ALLOW);
  CHECK(authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  add(a, ACL_RES_TOPIC, ACL_PAT_LITERAL, "*", "User:*", "*", ACL_OP_WRITE,
      ACL_PERM_DENY);
  CHECK(!authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  CHECK_OK(authz_configure(a, ALICE, 0));
  CHECK(authz_authorize_any(a, ALICE, HOST, ACL_RES_TOPIC, ACL_OP_WRITE));
  authz_free(a);
}

static void validation(void) {
  char why[256];
  acl_binding b = {ACL_RES_CLUSTER, ACL_PAT_LITERAL, "x", ALICE, "*",
                   ACL_OP_ALTER,    ACL_PERM_ALLOW};
  CHECK(authz_validate(&b, why, sizeof why) == -2);
  CHECK(strcmp(why, "The only valid name for the CLUSTER resource is "
                    "kafka-cluster") == 0);
  b.name = ACL_CLUSTER_NAME;
  CHECK_OK(authz_validate(&b, why, sizeof why));
  b.principal = "alice";
  CHECK(authz_validate(&b, why, sizeof why) == -2);
  CHECK(strstr(why, "Could not parse principal from `alice`") != NULL);
  b.principal = ALICE;
  b.pattern = ACL_PAT_MATCH;
  CHECK(authz_validate(&b, why, sizeof why) == -1);
  b.pattern = ACL_PAT_LITERAL;
  b.host = "";
  CHECK(authz_validate(&b, why, sizeof why) == -2);
  CHECK(acl_op_parse("IdempotentWrite") == ACL_OP_IDEMPOTENT_WRITE);
  CHECK(acl_op_parse("describe-configs") == ACL_OP_DESCRIBE_CONFIGS);
  CHECK(acl_res_parse("TransactionalId") == ACL_RES_TRANSACTIONAL_ID);
  CHECK(acl_op_parse("nope") == -1);
}

static void file_round_trip(void) {
  char *dir = tmpdir_make("authz");
  char path[512], why[512];
  snprintf(path, sizeof path, "%s/acls", dir);
  authorizer *a = authz_new();
  CHECK(authz_load(a, path, why, sizeof why) == 1); /* no file: none */
  /* Names with what the format must escape. */
  add(a, ACL_RES_GROUP, ACL_PAT_LITERAL, "g\twith tab%and\nnewline", ALICE, "*",
      ACL_OP_READ, ACL_PERM_ALLOW);
  add(a, ACL_RES_TOPIC, ACL_PAT_PREFIXED, "app.", "User:b c", HOST,
      ACL_OP_IDEMPOTENT_WRITE, ACL_PERM_DENY);
  CHECK_OK(authz_save(a, path));
  authorizer *b = authz_new();
  CHECK_OK(authz_load(b, path, why, sizeof why));
  CHECK_EQ_I64(authz_count(b), 2);
  CHECK(may(b, ALICE, HOST, ACL_RES_GROUP, "g\twith tab%and\nnewline",
            ACL_OP_READ));
  CHECK(!may(b, "User:b c", HOST, ACL_RES_TOPIC, "app.1",
             ACL_OP_IDEMPOTENT_WRITE));
  /* A damaged line: refused, naming file and line; what was loaded
   * before stays. */
  FILE *f = fopen(path, "a");
  CHECK(f != NULL);
  fputs("TOPIC\tLITERAL\tt\tUser:x\t*\tREED\tALLOW\n", f);
  fclose(f);
  CHECK(authz_load(b, path, why, sizeof why) == -1);
  char want[600];
  snprintf(want, sizeof want, "%s:4: unknown operation", path);
  CHECK(strcmp(why, want) == 0);
  CHECK_EQ_I64(authz_count(b), 2);
  /* Not an ACL file at all. */
  f = fopen(path, "w");
  fputs("garbage\n", f);
  fclose(f);
  CHECK(authz_load(b, path, why, sizeof why) == -1);
  CHECK(strstr(why, ":1: not a nodata ACL file") != NULL);
  f = fopen(path, "w");
  fclose(f);
  CHECK(authz_load(b, path, why, sizeof why) == -1);
  /* A big file loads whole (in bulk: sorted and indexed once), every
   * ACL findable, the prefixed ones too. */
  f = fopen(path, "w");
  fputs("# nodata acls v1\n", f);
  for (int i = 0; i < 50000; i++)
    fprintf(f, "TOPIC\t%s\tt%d.\tUser:u%d\t*\tREAD\tALLOW\n",
            i % 2 ? "PREFIXED" : "LITERAL", i, i);
  fclose(f);
  CHECK_OK(authz_load(b, path, why, sizeof why));
  CHECK_EQ_I64(authz_count(b), 50000);
  CHECK(may(b, "User:u4242", HOST, ACL_RES_TOPIC, "t4242.", ACL_OP_READ));
  CHECK(!may(b, "User:u4242", HOST, ACL_RES_TOPIC, "t4242.x", ACL_OP_READ));
  CHECK(may(b, "User:u4243", HOST, ACL_RES_TOPIC, "t4243.x", ACL_OP_READ));
  CHECK(!may(b, "User:u4243", HOST, ACL_RES_TOPIC, "t4242.", ACL_OP_READ));
  authz_free(a);
  authz_free(b);
  tmpdir_remove(dir);
}

int main(void) {
  RUN(deny_wins);
  RUN(patterns);
  RUN(implied_ops);
  RUN(super_users_and_default);
  RUN(filters);
  RUN(any_resource);
  RUN(validation);
  RUN(file_round_trip);
  TEST_MAIN_END();
}
