/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_json.c — the console's JSON reader (broker/json.h) on arbitrary
 * request bodies, and its writer on whatever the reader accepts.
 *
 * Checked: nothing crashes or leaks (ASan), nesting is bounded (no stack
 * overflow on "[[[[..."), a refusal says where it stopped, and what the
 * reader accepts, written back by the writer, reads back to the same tree
 * (strings byte for byte, numbers exactly, keys in order).
 */
#include <string.h>

#include "fuzz.h"
#include "json.h"

static void write_value(jw *w, const jv *v) {
  switch (v->type) {
  case JV_NULL:
    jw_null(w);
    break;
  case JV_BOOL:
    jw_bool(w, v->boolean);
    break;
  case JV_NUMBER:
    if (v->is_int)
      jw_int(w, v->integer);
    else
      jw_double(w, v->number);
    break;
  case JV_STRING:
    jw_strn(w, v->str, v->len);
    break;
  case JV_ARRAY:
  case JV_OBJECT:
    if (v->type == JV_ARRAY)
      jw_arr(w);
    else
      jw_obj(w);
    for (size_t i = 0; i < v->n; i++) {
      if (v->type == JV_OBJECT)
        jw_key(w, v->keys[i]);
      write_value(w, &v->items[i]);
    }
    jw_end(w);
    break;
  }
}

static int same(const jv *a, const jv *b) {
  if (a->type != b->type || a->n != b->n)
    return 0;
  switch (a->type) {
  case JV_NULL:
    return 1;
  case JV_BOOL:
    return a->boolean == b->boolean;
  case JV_NUMBER:
    /* A fraction may come back written as an integer (-0.5e2 as -50):
     * the value is what must survive, and an integer exactly. */
    return a->number == b->number &&
           (!a->is_int || (b->is_int && a->integer == b->integer));
  case JV_STRING:
    return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
  case JV_ARRAY:
  case JV_OBJECT:
    for (size_t i = 0; i < a->n; i++) {
      if (a->type == JV_OBJECT && strcmp(a->keys[i], b->keys[i]) != 0)
        return 0;
      if (!same(&a->items[i], &b->items[i]))
        return 0;
    }
    return 1;
  }
  return 0;
}

static int has_infinity(const jv *v) {
  if (v->type == JV_NUMBER && !v->is_int && v->number - v->number != 0)
    return 1;
  for (size_t i = 0; i < v->n; i++)
    if (has_infinity(&v->items[i]))
      return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  jv *v = NULL;
  char why[160] = "";
  int rc = json_parse((const char *)data, size, &v, why, sizeof why);
  if (rc != 0) {
    FUZZ_CHECK(v == NULL);
    FUZZ_CHECK(rc == -2 || strncmp(why, "byte ", 5) == 0);
    return 0;
  }
  jw w = {0};
  write_value(&w, v);
  FUZZ_CHECK(!w.failed && w.depth == 0);
  jv *back = NULL;
  FUZZ_CHECK(json_parse(w.p, w.len, &back, why, sizeof why) == 0);
  /* Infinite numbers (1e999) are written as null: not comparable. */
  if (!has_infinity(v))
    FUZZ_CHECK(same(v, back));
  jv_free(back);
  jw_free(&w);
  jv_free(v);
  return 0;
}
