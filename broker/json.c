/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c — the console's JSON writer and reader (json.h says what each
 * promises).
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ------------------------------------------------------------- */

static void put(jw *w, const char *s, size_t n) {
  if (w->failed)
    return;
  if (w->len + n + 1 > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n + 1)
      cap *= 2;
    char *p = realloc(w->p, cap);
    if (!p) {
      w->failed = 1;
      return;
    }
    w->p = p;
    w->cap = cap;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
  w->p[w->len] = 0;
}

static void put1(jw *w, char c) {
  put(w, &c, 1);
}

/* Before a value: the comma its container needs. */
static void pre_value(jw *w) {
  if (w->after_key) {
    w->after_key = 0;
    return;
  }
  if (w->had[w->depth])
    put1(w, ',');
  w->had[w->depth] = 1;
}

static void open_level(jw *w, char opener, char closer) {
  pre_value(w);
  if (w->depth >= JSON_MAX_DEPTH) {
    w->failed = 1; /* a caller's bug: deeper than any page needs */
    return;
  }
  put1(w, opener);
  w->depth++;
  w->had[w->depth] = 0;
  w->closer[w->depth] = closer;
}

void jw_obj(jw *w) {
  open_level(w, '{', '}');
}

void jw_arr(jw *w) {
  open_level(w, '[', ']');
}

void jw_end(jw *w) {
  if (w->depth == 0 || w->after_key) {
    w->failed = 1;
    return;
  }
  put1(w, w->closer[w->depth]);
  w->depth--;
}

/* The length of the UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t len;
  unsigned min;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  unsigned cp = c & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

int json_utf8_valid(const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(s + i, n - i);
    if (!k)
      return 0;
    i += k;
  }
  return 1;
}

static void put_escaped(jw *w, const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  put1(w, '"');
  size_t run = 0; /* start of bytes copied as they are */
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    const char *esc = NULL;
    char buf[8];
    size_t k = 1;
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c < 0x20 || c == 0x7f) {
      snprintf(buf, sizeof buf, "\\u%04x", c);
      esc = buf;
    } else if (c >= 0x80) {
      k = utf8_seq(s + i, n - i);
      if (!k) {
        esc = "\\ufffd";
        k = 1;
      }
    }
    if (esc) {
      put(w, p + run, i - run);
      put(w, esc, strlen(esc));
      run = i + k;
    }
    i += k;
  }
  put(w, p + run, n - run);
  put1(w, '"');
}

void jw_key(jw *w, const char *key) {
  pre_value(w);
  put_escaped(w, key, strlen(key));
  put1(w, ':');
  w->after_key = 1;
}

void jw_strn(jw *w, const char *s, size_t n) {
  pre_value(w);
  put_escaped(w, s ? s : "", s ? n : 0);
}

void jw_str(jw *w, const char *s) {
  if (!s) {
    jw_null(w);
    return;
  }
  jw_strn(w, s, strlen(s));
}

void jw_int(jw *w, int64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
  pre_value(w);
  put(w, buf, (size_t)n);
}

void jw_double(jw *w, double v) {
  if (!isfinite(v)) {
    jw_null(w);
    return;
  }
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%.17g", v);
  /* %.17g is exact but noisy (0.1 → 0.10000000000000001); the shortest
   * of %.15g/%.16g that reads back the same is what people expect. */
  for (int prec = 15; prec <= 16; prec++) {
    char b2[32];
    int n2 = snprintf(b2, sizeof b2, "%.*g", prec, v);
    if (strtod(b2, NULL) == v) {
      memcpy(buf, b2, (size_t)n2 + 1);
      n = n2;
      break;
    }
  }
  pre_value(w);
  put(w, buf, (size_t)n);
}

void jw_bool(jw *w, int v) {
  pre_value(w);
  put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(jw *w) {
  pre_value(w);
  put(w, "null", 4);
}

void jw_raw(jw *w, const char *s, size_t n) {
  pre_value(w);
  put(w, s, n);
}

void jw_hex(jw *w, const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *s = p;
  pre_value(w);
  put1(w, '"');
  char buf[256];
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    buf[used++] = digits[s[i] >> 4];
    buf[used++] = digits[s[i] & 15];
    if (used == sizeof buf) {
      put(w, buf, used);
      used = 0;
    }
  }
  put(w, buf, used);
  put1(w, '"');
}

void jw_kstr(jw *w, const char *key, const char *s) {
  jw_key(w, key);
  jw_str(w, s);
}

void jw_kint(jw *w, const char *key, int64_t v) {
  jw_key(w, key);
  jw_int(w, v);
}

void jw_kdouble(jw *w, const char *key, double v) {
  jw_key(w, key);
  jw_double(w, v);
}

void jw_kbool(jw *w, const char *key, int v) {
  jw_key(w, key);
  jw_bool(w, v);
}

void jw_free(jw *w) {
  free(w->p);
  memset(w, 0, sizeof *w);
}

/* ---- reader ------------------------------------------------------------- */

typedef struct jp {
  const char *s, *end, *start;
  char *why;
  size_t whylen;
  int oom;
} jp;

static int fail(jp *p, const char *what) {
  if (p->why && !p->oom)
    snprintf(p->why, p->whylen, "byte %zu: %s", (size_t)(p->s - p->start),
             what);
  return -1;
}

static void skip_ws(jp *p) {
  while (p->s < p->end &&
         (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
    p->s++;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* A string at p->s (on its opening quote) into a malloc'ed copy. */
static int parse_string(jp *p, char **out, size_t *outlen) {
  p->s++;
  /* The decoded text is never longer than the encoded one. */
  const char *q = p->s;
  while (q < p->end && *q != '"') {
    if (*q == '\\')
      q++;
    q++;
  }
  if (q >= p->end)
    return fail(p, "unterminated string");
  char *o = malloc((size_t)(q - p->s) + 1);
  if (!o) {
    p->oom = 1;
    return -1;
  }
  size_t n = 0;
  while (*p->s != '"') {
    unsigned char c = (unsigned char)*p->s;
    if (c < 0x20) {
      free(o);
      return fail(p, "control character in string");
    }
    if (c != '\\') {
      size_t k = utf8_seq((const unsigned char *)p->s, (size_t)(q - p->s));
      if (!k) {
        free(o);
        return fail(p, "invalid UTF-8 in string");
      }
      memcpy(o + n, p->s, k);
      n += k;
      p->s += k;
      continue;
    }
    p->s++;
    char e = *p->s++;
    switch (e) {
    case '"':
    case '\\':
    case '/':
      o[n++] = e;
      break;
    case 'b':
      o[n++] = '\b';
      break;
    case 'f':
      o[n++] = '\f';
      break;
    case 'n':
      o[n++] = '\n';
      break;
    case 'r':
      o[n++] = '\r';
      break;
    case 't':
      o[n++] = '\t';
      break;
    case 'u': {
      unsigned cp;
      if (q - p->s < 4 || hex4(p->s, &cp) < 0) {
        free(o);
        return fail(p, "bad \\u escape");
      }
      p->s += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (q - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' ||
            hex4(p->s + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
          free(o);
          return fail(p, "unpaired surrogate");
        }
        p->s += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        free(o);
        return fail(p, "unpaired surrogate");
      }
      n += put_utf8(o + n, cp);
      break;
    }
    default:
      free(o);
      p->s--;
      return fail(p, "bad escape");
    }
  }
  p->s++;
  o[n] = 0;
  *out = o;
  *outlen = n;
  return 0;
}

static int parse_number(jp *p, jv *v) {
  const char *b = p->s;
  if (p->s < p->end && *p->s == '-')
    p->s++;
  if (p->s >= p->end || *p->s < '0' || *p->s > '9')
    return fail(p, "bad number");
  if (*p->s == '0')
    p->s++;
  else
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
      p->s++;
  int integral = 1;
  if (p->s < p->end && *p->s == '.') {
    integral = 0;
    p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
      return fail(p, "bad number");
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
      p->s++;
  }
  if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
    integral = 0;
    p->s++;
    if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
      p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
      return fail(p, "bad number");
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
      p->s++;
  }
  char buf[64];
  size_t n = (size_t)(p->s - b);
  if (n >= sizeof buf)
    return fail(p, "number too long");
  memcpy(buf, b, n);
  buf[n] = 0;
  v->type = JV_NUMBER;
  v->number = strtod(buf, NULL);
  if (integral) {
    char *e;
    errno = 0;
    long long i = strtoll(buf, &e, 10);
    if (errno == 0 && *e == 0) {
      v->is_int = 1;
      v->integer = i;
    }
  }
  return 0;
}

static int parse_value(jp *p, jv *v, int depth);

/* Append one child to v's array (grown by doubling). */
static jv *push(jp *p, jv *v, size_t *cap, char *key) {
  if (v->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 4;
    jv *items = realloc(v->items, nc * sizeof *items);
    if (items)
      v->items = items;
    char **keys = NULL;
    if (items && v->type == JV_OBJECT) {
      keys = realloc(v->keys, nc * sizeof *keys);
      if (keys)
        v->keys = keys;
    }
    if (!items || (v->type == JV_OBJECT && !keys)) {
      p->oom = 1;
      free(key);
      return NULL;
    }
    *cap = nc;
  }
  jv *c = &v->items[v->n];
  memset(c, 0, sizeof *c);
  if (v->type == JV_OBJECT)
    v->keys[v->n] = key;
  v->n++;
  return c;
}

static int parse_container(jp *p, jv *v, int depth, int object) {
  v->type = object ? JV_OBJECT : JV_ARRAY;
  char close = object ? '}' : ']';
  size_t cap = 0;
  p->s++;
  skip_ws(p);
  if (p->s < p->end && *p->s == close) {
    p->s++;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    if (object) {
      skip_ws(p);
      size_t klen;
      if (p->s >= p->end || *p->s != '"')
        return fail(p, "expected a string key");
      if (parse_string(p, &key, &klen) < 0)
        return -1;
      skip_ws(p);
      if (p->s >= p->end || *p->s != ':') {
        free(key);
        return fail(p, "expected ':'");
      }
      p->s++;
    }
    jv *c = push(p, v, &cap, key);
    if (!c || parse_value(p, c, depth + 1) < 0)
      return -1;
    skip_ws(p);
    if (p->s < p->end && *p->s == ',') {
      p->s++;
      continue;
    }
    if (p->s < p->end && *p->s == close) {
      p->s++;
      return 0;
    }
    return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int literal(jp *p, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0)
    return fail(p, "unexpected character");
  p->s += n;
  return 0;
}

static int parse_value(jp *p, jv *v, int depth) {
  if (depth > JSON_MAX_DEPTH)
    return fail(p, "nested too deeply");
  skip_ws(p);
  if (p->s >= p->end)
    return fail(p, "unexpected end");
  switch (*p->s) {
  case '{':
    return parse_container(p, v, depth, 1);
  case '[':
    return parse_container(p, v, depth, 0);
  case '"':
    v->type = JV_STRING;
    return parse_string(p, &v->str, &v->len);
  case 't':
    v->type = JV_BOOL;
    v->boolean = 1;
    return literal(p, "true");
  case 'f':
    v->type = JV_BOOL;
    return literal(p, "false");
  case 'n':
    v->type = JV_NULL;
    return literal(p, "null");
  default:
    return parse_number(p, v);
  }
}

static void jv_clear(jv *v) {
  for (size_t i = 0; i < v->n; i++) {
    jv_clear(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
}

void jv_free(jv *v) {
  if (!v)
    return;
  jv_clear(v);
  free(v);
}

int json_parse(const char *text, size_t len, jv **out, char *why,
               size_t whylen) {
  *out = NULL;
  jp p = {text, text + len, text, why, whylen, 0};
  jv *v = calloc(1, sizeof *v);
  if (!v)
    return -2;
  int rc = parse_value(&p, v, 1);
  if (rc == 0) {
    skip_ws(&p);
    if (p.s != p.end)
      rc = fail(&p, "text after the value");
  }
  if (rc < 0 || p.oom) {
    jv_free(v);
    if (p.oom && why)
      snprintf(why, whylen, "out of memory");
    return p.oom ? -2 : -1;
  }
  *out = v;
  return 0;
}

const jv *jv_get(const jv *v, const char *key) {
  if (!v || v->type != JV_OBJECT)
    return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (strcmp(v->keys[i], key) == 0)
      return &v->items[i];
  return NULL;
}

int jv_as_int(const jv *v, int64_t *out) {
  if (!v || v->type != JV_NUMBER || !v->is_int)
    return 0;
  *out = v->integer;
  return 1;
}

const char *jv_as_str(const jv *v) {
  return v && v->type == JV_STRING ? v->str : NULL;
}
