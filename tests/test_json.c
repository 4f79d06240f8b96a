/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_json.c — the console's JSON writer and reader (broker/json.h):
 * what the writer makes parses back to the same values; bytes that are
 * not UTF-8 still make valid JSON; the reader takes RFC 8259 and refuses
 * the rest with where it stopped.
 */
#include "json.h"
#include "test.h"

static jv *parse_ok(const char *text) {
  jv *v = NULL;
  char why[128] = "";
  int rc = json_parse(text, strlen(text), &v, why, sizeof why);
  if (rc != 0)
    fprintf(stderr, "parse of %s failed: %s\n", text, why);
  return rc == 0 ? v : NULL;
}

static void expect_refused(const char *text, size_t len, const char *where) {
  jv *v = (jv *)1;
  char why[128] = "";
  CHECK(json_parse(text, len, &v, why, sizeof why) == -1);
  CHECK(v == NULL);
  if (!strstr(why, where))
    fprintf(stderr, "%s: reason '%s' lacks '%s'\n", text, why, where);
  CHECK(strstr(why, where) != NULL);
}

static void test_writer_round_trip(void) {
  jw w = {0};
  jw_obj(&w);
  jw_kstr(&w, "name", "orders \"eu\"\n");
  jw_kint(&w, "min", INT64_MIN);
  jw_kint(&w, "max", INT64_MAX);
  jw_kdouble(&w, "rate", 0.1);
  jw_kdouble(&w, "nan", 0.0 / 0.0);
  jw_kbool(&w, "yes", 1);
  jw_kstr(&w, "none", NULL);
  jw_key(&w, "list");
  jw_arr(&w);
  jw_int(&w, 1);
  jw_arr(&w);
  jw_end(&w);
  jw_obj(&w);
  jw_end(&w);
  jw_hex(&w, "\x00\xff", 2);
  jw_end(&w);
  jw_end(&w);
  CHECK(!w.failed && w.depth == 0);
  CHECK(strcmp(w.p, "{\"name\":\"orders \\\"eu\\\"\\n\",\"min\":"
                    "-9223372036854775808,\"max\":9223372036854775807,"
                    "\"rate\":0.1,\"nan\":null,\"yes\":true,\"none\":null,"
                    "\"list\":[1,[],{},\"00ff\"]}") == 0);
  jv *v = parse_ok(w.p);
  CHECK(v);
  CHECK(strcmp(jv_as_str(jv_get(v, "name")), "orders \"eu\"\n") == 0);
  int64_t x = 0;
  CHECK(jv_as_int(jv_get(v, "min"), &x) && x == INT64_MIN);
  CHECK(jv_as_int(jv_get(v, "max"), &x) && x == INT64_MAX);
  CHECK(!jv_as_int(jv_get(v, "rate"), &x)); /* not integral */
  CHECK(jv_get(v, "rate")->number == 0.1);
  CHECK(jv_get(v, "none")->type == JV_NULL);
  const jv *list = jv_get(v, "list");
  CHECK(list && list->type == JV_ARRAY && list->n == 4);
  CHECK(list->items[1].type == JV_ARRAY && list->items[1].n == 0);
  CHECK(list->items[2].type == JV_OBJECT && list->items[2].n == 0);
  CHECK(jv_get(v, "absent") == NULL);
  CHECK(jv_get(list, "name") == NULL); /* not an object */
  jv_free(v);
  jw_free(&w);
}

/* Every byte string, written as a JSON string, parses back: valid UTF-8
 * unchanged, anything else with U+FFFD for each bad byte. */
static void test_writer_any_bytes(void) {
  static const struct {
    const char *in;
    size_t len;
    const char *back;
  } cases[] = {
      {"caf\xc3\xa9", 5, "caf\xc3\xa9"},
      {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},
      {"a\x00z", 3, "a\\u0000z"},
      {"\xff", 1, "\\ufffd"},
      {"\xc0\xaf", 2, "\\ufffd\\ufffd"},            /* overlong '/' */
      {"\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd"}, /* a surrogate */
      {"\xe2\x82", 2, "\\ufffd\\ufffd"},            /* cut short */
      {"\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    jw w = {0};
    jw_strn(&w, cases[i].in, cases[i].len);
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", cases[i].back);
    if (strcmp(w.p, want) != 0)
      fprintf(stderr, "case %zu: %s, want %s\n", i, w.p, want);
    CHECK(strcmp(w.p, want) == 0);
    jv *v = parse_ok(w.p);
    CHECK(v && v->type == JV_STRING);
    CHECK(json_utf8_valid(v->str, v->len));
    jw_free(&w);
    jv_free(v);
  }
  CHECK(json_utf8_valid("caf\xc3\xa9", 5));
  CHECK(!json_utf8_valid("\xc3", 1));
  CHECK(!json_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
}

static void test_reader(void) {
  jv *v = parse_ok(" {\"a\" : [true, false, null, -0.5e2, \"\\u00e9\\ud83d"
                   "\\ude00\\/\"]} \n");
  CHECK(v);
  const jv *a = jv_get(v, "a");
  CHECK(a && a->n == 5);
  CHECK(a->items[0].type == JV_BOOL && a->items[0].boolean == 1);
  CHECK(a->items[1].type == JV_BOOL && a->items[1].boolean == 0);
  CHECK(a->items[3].number == -50.0 && !a->items[3].is_int);
  CHECK(strcmp(a->items[4].str, "\xc3\xa9\xf0\x9f\x98\x80/") == 0);
  jv_free(v);

  v = parse_ok("\"a\\u0000b\"");
  CHECK(v && v->len == 3 && v->str[1] == 0);
  jv_free(v);

  expect_refused("{\"a\":1,}", 8, "byte 7");
  expect_refused("[1 2]", 5, "expected ','");
  expect_refused("{'a':1}", 7, "expected a string key");
  expect_refused("\"abc", 4, "unterminated");
  expect_refused("\"\\ud800\"", 8, "surrogate");
  expect_refused("\"\x01\"", 3, "control");
  expect_refused("\"\xff\"", 3, "UTF-8");
  expect_refused("01", 2, "text after");
  expect_refused("1.", 2, "bad number");
  expect_refused("nul", 3, "unexpected");
  expect_refused("", 0, "unexpected end");
  expect_refused("[] []", 5, "text after");
  /* Deeper than JSON_MAX_DEPTH: refused, not a stack overflow. */
  char deep[200];
  memset(deep, '[', sizeof deep);
  expect_refused(deep, sizeof deep, "nested too deeply");
  /* A writer nested deeper than its limit fails rather than writing
   * something unbalanced. */
  jw w = {0};
  for (int i = 0; i <= JSON_MAX_DEPTH; i++)
    jw_arr(&w);
  CHECK(w.failed);
  jw_free(&w);
}

int main(void) {
  RUN(test_writer_round_trip);
  RUN(test_writer_any_bytes);
  RUN(test_reader);
  TEST_MAIN_END();
}
