/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kafka's ssl.principal.mapping.rules (broker/tls_principal.c): DEFAULT
 * keeps the subject, RULE:pattern/replacement/[LU] rewrites a subject it
 * matches whole (the rule from Kafka's documentation, with its lazy
 * group, included), rules are tried in order, none applying fails with
 * Kafka's words, malformed rules are refused when checked at start.
 */
#include "test.h"

#include "tls.h"

#include <string.h>

static int map(const char *rules, const char *subject, char *out) {
  char why[512];
  return net_tls_map_principal(rules, subject, out, 256, why, sizeof why);
}

static void default_keeps_subject(void) {
  char out[256];
  CHECK_OK(map(NULL, "CN=alice,OU=eng,O=Example", out));
  CHECK(strcmp(out, "CN=alice,OU=eng,O=Example") == 0);
  CHECK_OK(map("DEFAULT", "CN=a", out));
  CHECK(strcmp(out, "CN=a") == 0);
}

static void rules_in_order(void) {
  /* Kafka's documented example, then DEFAULT. */
  const char *rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,"
                      " RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, DEFAULT";
  char out[256];
  CHECK_OK(map(rules, "CN=kafka-svc,OU=ServiceUsers,O=Example", out));
  CHECK(strcmp(out, "kafka-svc") == 0);
  CHECK_OK(map(rules, "CN=Alice,OU=Eng,O=Example", out));
  CHECK(strcmp(out, "alice@eng") == 0);
  CHECK_OK(map(rules, "CN=bob", out));
  CHECK(strcmp(out, "CN=bob") == 0);
  CHECK_OK(map("RULE:^CN=([a-z]+)$/$1/U", "CN=bob", out));
  CHECK(strcmp(out, "BOB") == 0);
  /* A whole-subject match only, as Java's Matcher.matches(). */
  char why[512];
  CHECK(net_tls_map_principal("RULE:CN=bob/x/", "CN=bobby", out, sizeof out,
                              why, sizeof why) < 0);
  CHECK(strstr(why, "No rules apply to CN=bobby") != NULL);
}

static void malformed_rules_refused(void) {
  char why[512];
  CHECK(net_tls_map_principal("RULE:^CN=(.*$/x/", NULL, NULL, 0, why,
                              sizeof why) < 0);
  CHECK(strstr(why, "ssl.principal.mapping.rules") != NULL);
  CHECK(net_tls_map_principal("RULE:nope", NULL, NULL, 0, why, sizeof why) < 0);
  CHECK(net_tls_map_principal("SOMETHING", NULL, NULL, 0, why, sizeof why) < 0);
  CHECK(net_tls_map_principal("RULE:(?=x)y/z/", NULL, NULL, 0, why,
                              sizeof why) < 0);
  CHECK_OK(net_tls_map_principal("RULE:^CN=(.*?)$/$1/L,DEFAULT", NULL, NULL, 0,
                                 why, sizeof why));
}

int main(void) {
  RUN(default_keeps_subject);
  RUN(rules_in_order);
  RUN(malformed_rules_refused);
  TEST_MAIN_END();
}
