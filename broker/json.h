/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.h — the JSON the console's HTTP API speaks (RFC 8259): a writer
 * that appends to a growable buffer, and a reader that turns a request
 * body into a small tree.
 *
 * The writer keeps commas and nesting itself, so a caller writes
 * jw_obj(w); jw_key(w, "a"); jw_int(w, 1); jw_end(w) and never a
 * separator. Strings are escaped; bytes that are not UTF-8 become U+FFFD,
 * so whatever a record holds, the output is valid JSON. An allocation
 * failure sets w->failed and every later call does nothing: check once
 * at the end.
 *
 * The reader accepts exactly RFC 8259 (no comments, no trailing commas),
 * up to JSON_MAX_DEPTH levels, and says where it stopped when it refuses.
 * Both are for one thread at a time; nothing is shared.
 */
#ifndef ND_BROKER_JSON_H
#define ND_BROKER_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

typedef struct jw {
  char *p; /* the text so far, NUL-terminated when !failed */
  size_t len, cap;
  int failed;
  int depth;
  /* per level: 1 once it holds an element (a comma goes before the next);
   * after a key, the value needs none */
  unsigned char had[JSON_MAX_DEPTH + 1];
  char closer[JSON_MAX_DEPTH + 1]; /* '}' or ']' per open level */
  int after_key;
} jw;

void jw_obj(jw *w);
void jw_arr(jw *w);
/* Close the innermost object or array. */
void jw_end(jw *w);
void jw_key(jw *w, const char *key);
/* A string; NULL writes null. */
void jw_str(jw *w, const char *s);
/* n bytes that may hold anything (NUL, invalid UTF-8). */
void jw_strn(jw *w, const char *s, size_t n);
void jw_int(jw *w, int64_t v);
/* Non-finite values are written as null. */
void jw_double(jw *w, double v);
void jw_bool(jw *w, int v);
void jw_null(jw *w);
/* The bytes of s as one value, unchecked (a JSON text made elsewhere). */
void jw_raw(jw *w, const char *s, size_t n);
/* Hex of n bytes as a string value. */
void jw_hex(jw *w, const void *p, size_t n);
/* Key and value in one call. */
void jw_kstr(jw *w, const char *key, const char *s);
void jw_kint(jw *w, const char *key, int64_t v);
void jw_kdouble(jw *w, const char *key, double v);
void jw_kbool(jw *w, const char *key, int v);
/* Frees the buffer; the struct may be reused after. */
void jw_free(jw *w);

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int json_utf8_valid(const void *s, size_t n);

typedef enum jv_type {
  JV_NULL,
  JV_BOOL,
  JV_NUMBER,
  JV_STRING,
  JV_ARRAY,
  JV_OBJECT
} jv_type;

typedef struct jv {
  jv_type type;
  int boolean;
  double number;
  int is_int; /* the number was an integer that fits int64 */
  int64_t integer;
  char *str; /* JV_STRING: NUL-terminated (may hold NULs: see len) */
  size_t len;
  /* JV_ARRAY and JV_OBJECT: n children; keys[i] for objects */
  struct jv *items;
  char **keys;
  size_t n;
} jv;

/* Parse text[0..len) into *out (jv_free). Returns 0, or -1 with why set
 * ("byte 17: expected ':'"); -2 when out of memory. */
int json_parse(const char *text, size_t len, jv **out, char *why,
               size_t whylen);
/* The member `key` of an object, or NULL (also when v is not an object). */
const jv *jv_get(const jv *v, const char *key);
/* Typed getters: 1 and *out set if v is that type; 0 otherwise (NULL v
 * included). jv_get_int accepts only integral numbers. */
int jv_as_int(const jv *v, int64_t *out);
const char *jv_as_str(const jv *v);
void jv_free(jv *v);

#endif
