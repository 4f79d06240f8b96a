/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `nodata serve --config FILE` (broker/props.c): the file is read as
 * java.util.Properties reads a Kafka server.properties — separators '=',
 * ':' and white space, '#' and '!' comments, backslash continuations and
 * escapes, the last of a key given twice — and `listeners`,
 * `advertised.listeners` and `listener.security.protocol.map` parse into
 * listeners with Kafka's rules, refusing what Kafka refuses.
 */
#include "test.h"

#include "security.h"

#include <string.h>

static char *g_dir;

/* Load text as a properties file; NULL (why[] set) if it does not load. */
static broker_props *load(const char *text, char *why, size_t whylen) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/server.properties", g_dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return NULL;
  fputs(text, f);
  fclose(f);
  broker_props *p = NULL;
  why[0] = 0;
  if (broker_props_load(path, &p, why, whylen) < 0)
    return NULL;
  return p;
}

/* Does name have exactly value? */
static int is(const broker_props *p, const char *name, const char *value) {
  const char *v = broker_props_get(p, name);
  if (!v || strcmp(v, value)) {
    fprintf(stderr, "  %s: got [%s], want [%s]\n", name, v ? v : "(unset)",
            value);
    return 0;
  }
  return 1;
}

static void separators(void) {
  char why[256];
  broker_props *p = load("a=1\n"
                         "b:2\n"
                         "c 3\n"
                         "  d  =  4\n"
                         "e\t:\tfive six\n"
                         "f = trailing kept  \n"
                         "g=x=y:z\n"
                         "h\n"
                         "i=\n"
                         "j = = k\n",
                         why, sizeof why);
  CHECK(p != NULL);
  if (!p)
    return;
  CHECK(is(p, "a", "1"));
  CHECK(is(p, "b", "2"));
  CHECK(is(p, "c", "3"));
  CHECK(is(p, "d", "4"));
  CHECK(is(p, "e", "five six"));
  /* Java keeps a value's trailing white space. */
  CHECK(is(p, "f", "trailing kept  "));
  /* Only the first separator ends the key. */
  CHECK(is(p, "g", "x=y:z"));
  /* A key alone has the empty value. */
  CHECK(is(p, "h", ""));
  CHECK(is(p, "i", ""));
  /* White space then '=' is one separator; the next '=' is the value's. */
  CHECK(is(p, "j", "= k"));
  /* File order, for the unknown-name warnings. */
  const char *n, *v;
  CHECK(broker_props_at(p, 0, &n, &v) && !strcmp(n, "a"));
  CHECK(broker_props_at(p, 9, &n, &v) && !strcmp(n, "j"));
  CHECK(!broker_props_at(p, 10, &n, &v));
  broker_props_free(p);
}

static void comments_and_last_wins(void) {
  char why[256];
  broker_props *p = load("# a comment=1\n"
                         "   ! another: 2\n"
                         "\n"
                         "   \n"
                         "num.partitions=1\n"
                         "# a comment ending in a backslash does not go on \\\n"
                         "after.comment=yes\n"
                         "num.partitions=3\n"
                         "x=#not a comment\n",
                         why, sizeof why);
  CHECK(p != NULL);
  if (!p)
    return;
  CHECK(broker_props_get(p, "# a comment") == NULL);
  CHECK(broker_props_get(p, "!") == NULL);
  CHECK(is(p, "after.comment", "yes"));
  CHECK(is(p, "num.partitions", "3"));
  CHECK(is(p, "x", "#not a comment"));
  /* A key given twice is one property. */
  const char *n, *v;
  size_t count = 0;
  for (size_t i = 0; broker_props_at(p, i, &n, &v); i++)
    count++;
  CHECK_EQ_I64(count, 3);
  broker_props_free(p);
}

static void continuations(void) {
  char why[256];
  broker_props *p = load("listeners=PLAINTEXT://127.0.0.1:9092,\\\n"
                         "          SASL_SSL://127.0.0.1:9093\n"
                         "two.lines=a\\\n"
                         "   b\\\n"
                         "\tc\n"
                         "even=ends in one backslash\\\\\n"
                         "next=1\n"
                         "crlf=v\\\r\n"
                         "  w\r\n"
                         "last=continues at the end\\",
                         why, sizeof why);
  CHECK(p != NULL);
  if (!p)
    return;
  CHECK(is(p, "listeners",
           "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093"));
  CHECK(is(p, "two.lines", "abc"));
  /* An even number of backslashes is escaped backslashes, no joining. */
  CHECK(is(p, "even", "ends in one backslash\\"));
  CHECK(is(p, "next", "1"));
  CHECK(is(p, "crlf", "vw"));
  CHECK(is(p, "last", "continues at the end"));
  broker_props_free(p);
}

static void escapes(void) {
  char why[256];
  broker_props *p = load("key\\=with\\:seps\\ and\\ space = v\n"
                         "tab=a\\tb\n"
                         "nl=a\\nb\n"
                         "uni=\\u0041\\u00e9\\u20ac\n"
                         "other=\\q\\\\\n"
                         "sasl.jaas.config=org.Example required "
                         "password=\"p\\\\w\";\n",
                         why, sizeof why);
  CHECK(p != NULL);
  if (!p)
    return;
  CHECK(is(p, "key=with:seps and space", "v"));
  CHECK(is(p, "tab", "a\tb"));
  CHECK(is(p, "nl", "a\nb"));
  CHECK(is(p, "uni", "A\xc3\xa9\xe2\x82\xac"));
  /* An unknown escape is the character itself. */
  CHECK(is(p, "other", "q\\"));
  CHECK(is(p, "sasl.jaas.config", "org.Example required password=\"p\\w\";"));
  broker_props_free(p);

  /* A malformed \u is an error naming file and line. */
  p = load("a=1\nb=\\u12x4\n", why, sizeof why);
  CHECK(p == NULL);
  CHECK(strstr(why, "server.properties:2") != NULL);
  CHECK(strstr(why, "\\u") != NULL);
  broker_props_free(p);
}

static void missing_file(void) {
  char why[256], path[PATH_MAX];
  snprintf(path, sizeof path, "%s/none.properties", g_dir);
  broker_props *p = (broker_props *)1;
  CHECK(broker_props_load(path, &p, why, sizeof why) == -1);
  CHECK(p == NULL);
  CHECK(strstr(why, "none.properties") != NULL);
  CHECK(strstr(why, "No such file") != NULL);
}

static void set_replaces(void) {
  broker_props *p = broker_props_new();
  CHECK(p != NULL);
  CHECK_OK(broker_props_set(p, "a", "1"));
  CHECK_OK(broker_props_set(p, "a", "2"));
  for (int i = 0; i < 40; i++) { /* past the first growth */
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    CHECK_OK(broker_props_set(p, k, k));
  }
  CHECK(is(p, "a", "2"));
  CHECK(is(p, "k39", "k39"));
  CHECK(broker_props_get(p, "b") == NULL);
  broker_props_free(p);
}

static void listeners_parse(void) {
  broker_listener l[BROKER_MAX_LISTENERS];
  char why[256];
  int n = broker_listeners_parse(
      "internal://127.0.0.1:9092, EXTERNAL://:9093 ,V6://[::1]:0",
      "EXTERNAL://broker.example.com:19093",
      "INTERNAL:PLAINTEXT, external:SASL_SSL,V6:ssl", l, BROKER_MAX_LISTENERS,
      why, sizeof why);
  CHECK_EQ_I64(n, 3);
  if (n != 3) {
    fprintf(stderr, "  %s\n", why);
    return;
  }
  /* Names are upper-cased, as Kafka's ListenerName.normalised. */
  CHECK(!strcmp(l[0].name, "INTERNAL"));
  CHECK(l[0].protocol == SEC_PLAINTEXT);
  CHECK(!strcmp(l[0].host, "127.0.0.1") && l[0].port == 9092);
  CHECK(l[0].adv_port == 0 && !l[0].adv_host[0]);
  CHECK(!strcmp(l[1].name, "EXTERNAL"));
  CHECK(l[1].protocol == SEC_SASL_SSL);
  CHECK(!strcmp(l[1].host, "") && l[1].port == 9093);
  CHECK(!strcmp(l[1].adv_host, "broker.example.com"));
  CHECK(l[1].adv_port == 19093);
  CHECK(l[2].protocol == SEC_SSL);
  CHECK(!strcmp(l[2].host, "::1") && l[2].port == 0);

  /* Without a map, a listener named after a protocol is that protocol. */
  n = broker_listeners_parse("PLAINTEXT://127.0.0.1:1,sasl_plaintext://h:2",
                             NULL, NULL, l, BROKER_MAX_LISTENERS, why,
                             sizeof why);
  CHECK_EQ_I64(n, 2);
  CHECK(l[0].protocol == SEC_PLAINTEXT && l[1].protocol == SEC_SASL_PLAINTEXT);
  CHECK(!strcmp(sec_protocol_name(SEC_SASL_SSL), "SASL_SSL"));
  CHECK(sec_protocol_parse("Sasl_Ssl") == SEC_SASL_SSL);
  CHECK(sec_protocol_parse("TLS") == -1);
}

/* Each bad `listeners` (or advertised/map) and the words it is refused
 * with. */
static void listeners_errors(void) {
  static const struct {
    const char *listeners, *advertised, *map, *want;
  } bad[] = {
      {"127.0.0.1:9092", NULL, NULL, "is not NAME://HOST:PORT"},
      {"PLAINTEXT://127.0.0.1", NULL, NULL, "is not NAME://HOST:PORT"},
      {"PLAINTEXT://127.0.0.1:65536", NULL, NULL, "is not NAME://HOST:PORT"},
      {"PLAINTEXT://127.0.0.1:9x", NULL, NULL, "is not NAME://HOST:PORT"},
      {"PLAINTEXT://[::1:9092", NULL, NULL, "is not NAME://HOST:PORT"},
      {"PLAINTEXT://a:1,plaintext://b:2", NULL, NULL,
       "listener PLAINTEXT is named twice"},
      {"PLAINTEXT://a:1,SSL://b:1", NULL, NULL, "port 1 is used by PLAINTEXT"},
      {"CLIENT://a:1", NULL, NULL, "no security protocol for listener CLIENT"},
      {"CLIENT://a:1", NULL, "OTHER:PLAINTEXT", "no security protocol"},
      {"CLIENT://a:1", NULL, "CLIENT:TLS", "no security protocol"},
      {"", NULL, NULL, "no listener given"},
      {" , ", NULL, NULL, "no listener given"},
      {"PLAINTEXT://a:1", "SSL://b:2", NULL, "SSL is not one of the listeners"},
      {"PLAINTEXT://a:1", "PLAINTEXT://b:0", NULL, "port 1-65535"},
      {"PLAINTEXT://a:1", "PLAINTEXT://b", NULL, "is not NAME://HOST:PORT"},
      {"A://h:1,B://h:2,C://h:3,D://h:4,E://h:5,F://h:6,G://h:7,H://h:8,"
       "I://h:9",
       NULL,
       "A:PLAINTEXT,B:PLAINTEXT,C:PLAINTEXT,D:PLAINTEXT,E:PLAINTEXT,"
       "F:PLAINTEXT,G:PLAINTEXT,H:PLAINTEXT,I:PLAINTEXT",
       "more than 8 listeners"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    broker_listener l[BROKER_MAX_LISTENERS];
    char why[256] = "";
    int n =
        broker_listeners_parse(bad[i].listeners, bad[i].advertised, bad[i].map,
                               l, BROKER_MAX_LISTENERS, why, sizeof why);
    if (n != -1 || !strstr(why, bad[i].want)) {
      fprintf(stderr, "  listeners=%s advertised=%s map=%s: %d [%s]\n",
              bad[i].listeners, bad[i].advertised ? bad[i].advertised : "-",
              bad[i].map ? bad[i].map : "-", n, why);
      CHECK(0);
    }
  }
  /* Two port-0 listeners are fine: each gets its own free port. */
  broker_listener l[BROKER_MAX_LISTENERS];
  char why[256];
  CHECK_EQ_I64(broker_listeners_parse("A://h:0,B://h:0", NULL,
                                      "A:PLAINTEXT,B:PLAINTEXT", l,
                                      BROKER_MAX_LISTENERS, why, sizeof why),
               2);
}

static void known_names(void) {
  CHECK(broker_prop_known("listeners"));
  CHECK(broker_prop_known("ssl.keystore.location"));
  CHECK(broker_prop_known("sasl.enabled.mechanisms"));
  CHECK(broker_prop_known("super.users"));
  CHECK(broker_prop_known("listener.name.external.ssl.client.auth"));
  CHECK(broker_prop_known("sasl.oauthbearer.jwks.endpoint.url"));
  CHECK(broker_prop_known("allow.insecure"));
  CHECK(!broker_prop_known("foo.bar"));
  CHECK(!broker_prop_known("listener.nam"));
  CHECK(!broker_prop_known("ssl.keystore.locatio"));
}

/* Kafka's per-listener overrides: listener.name.<lower-case name>.X wins
 * over X, for that listener only. */
static void listener_overrides(void) {
  broker_props *p = broker_props_new();
  CHECK(p != NULL);
  CHECK(broker_props_listener(p, "SSL", "ssl.client.auth") == NULL);
  CHECK(broker_props_set(p, "ssl.client.auth", "none") == 0);
  CHECK(broker_props_set(p, "listener.name.mtls.ssl.client.auth", "required") ==
        0);
  const char *v = broker_props_listener(p, "MTLS", "ssl.client.auth");
  CHECK(v && !strcmp(v, "required"));
  v = broker_props_listener(p, "SSL", "ssl.client.auth");
  CHECK(v && !strcmp(v, "none"));
  /* Only the lower-case form is Kafka's key. */
  CHECK(broker_props_set(p, "listener.name.SSL.ssl.client.auth", "requested") ==
        0);
  v = broker_props_listener(p, "SSL", "ssl.client.auth");
  CHECK(v && !strcmp(v, "none"));
  broker_props_free(p);
}

int main(void) {
  g_dir = tmpdir_make("props");
  if (!g_dir)
    return 1;
  RUN(separators);
  RUN(comments_and_last_wins);
  RUN(continuations);
  RUN(escapes);
  RUN(missing_file);
  RUN(set_replaces);
  RUN(listeners_parse);
  RUN(listeners_errors);
  RUN(known_names);
  RUN(listener_overrides);
  tmpdir_remove(g_dir);
  TEST_MAIN_END();
}
