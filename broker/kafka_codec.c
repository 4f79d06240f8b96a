/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_codec.c — the generic walker over the descriptor tables of
 * kafka_msgs.c. See kafka_codec.h for the encodings.
 */
#include "kafka_codec.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena -------------------------------------------------------------- */

struct kf_chunk {
  kf_chunk *next;
  size_t cap, used;
  max_align_t data[];
};

#define KF_CHUNK_MIN 8192

static void *arena_alloc(kf_arena *a, size_t n, int zero) {
  size_t need = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  if (need < n || (a->limit && (need > a->limit || a->total > a->limit - need)))
    return NULL;
  kf_chunk *c = a->head;
  if (!c || c->cap - c->used < need) {
    size_t cap = need > KF_CHUNK_MIN ? need : KF_CHUNK_MIN;
    if (cap > SIZE_MAX - sizeof(kf_chunk))
      return NULL;
    c = malloc(sizeof(kf_chunk) + cap);
    if (!c)
      return NULL;
    c->cap = cap;
    c->used = 0;
    /* A big one-off allocation goes behind the current chunk so the
     * current chunk's free space stays in use. */
    if (a->head && cap == need && need > KF_CHUNK_MIN) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
  }
  void *p = (uint8_t *)c->data + c->used;
  c->used += need;
  a->total += need;
  if (zero)
    memset(p, 0, n);
  return p;
}

void *kf_alloc(kf_arena *a, size_t n) {
  return arena_alloc(a, n, 1);
}

char *kf_strndup(kf_arena *a, const char *s, size_t len) {
  char *p = arena_alloc(a, len + 1, 0);
  if (p) {
    if (len)
      memcpy(p, s, len);
    p[len] = 0;
  }
  return p;
}

void kf_arena_free(kf_arena *a) {
  kf_chunk *c = a->head;
  while (c) {
    kf_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->total = 0;
}

kf_str kf_s(const char *s) {
  kf_str r = {s, s ? (int32_t)strlen(s) : -1};
  return r;
}

static void *at(const void *obj, const kf_field *f) {
  return (uint8_t *)(uintptr_t)obj + f->offset;
}

static int in_range(int v, int lo, int hi) {
  return lo >= 0 && v >= lo && v <= hi;
}

static void set_default(const kf_field *f, void *obj) {
  void *p = at(obj, f);
  int64_t d = f->def;
  switch (f->type) {
  case KF_BOOL:
  case KF_INT8: {
    int8_t v = (int8_t)d;
    memcpy(p, &v, 1);
    break;
  }
  case KF_INT16: {
    int16_t v = (int16_t)d;
    memcpy(p, &v, 2);
    break;
  }
  case KF_UINT16: {
    uint16_t v = (uint16_t)d;
    memcpy(p, &v, 2);
    break;
  }
  case KF_INT32: {
    int32_t v = (int32_t)d;
    memcpy(p, &v, 4);
    break;
  }
  case KF_UINT32: {
    uint32_t v = (uint32_t)d;
    memcpy(p, &v, 4);
    break;
  }
  case KF_INT64:
    memcpy(p, &d, 8);
    break;
  case KF_FLOAT64: {
    double v = (double)d;
    memcpy(p, &v, 8);
    break;
  }
  case KF_UUID:
    memset(p, 0, 16);
    break;
  case KF_STRING: {
    kf_str s = d ? kf_null_str() : kf_s("");
    memcpy(p, &s, sizeof s);
    break;
  }
  case KF_BYTES:
  case KF_RECORDS: {
    kf_bytes b = {NULL, d ? -1 : 0, 0};
    memcpy(p, &b, sizeof b);
    break;
  }
  case KF_STRUCT:
    kf_init(f->sub, p);
    break;
  case KF_ARRAY: {
    kf_array arr = {NULL, d ? -1 : 0};
    memcpy(p, &arr, sizeof arr);
    break;
  }
  }
}

void kf_init(const kf_struct *s, void *obj) {
  memset(obj, 0, s->size);
  for (uint32_t i = 0; i < s->nfields; i++)
    set_default(&s->fields[i], obj);
}

void *kf_new(kf_arena *a, const kf_struct *s) {
  void *p = kf_alloc(a, s->size);
  if (p)
    kf_init(s, p);
  return p;
}

void *kf_new_array(kf_arena *a, const kf_struct *s, int32_t n) {
  if (n <= 0)
    return NULL;
  uint8_t *p = kf_alloc(a, (size_t)n * s->size);
  if (p)
    for (int32_t i = 0; i < n; i++)
      kf_init(s, p + (size_t)i * s->size);
  return p;
}

/* ---- output buffer ------------------------------------------------------ */

void kf_put(kf_buf *b, const void *p, size_t n) {
  if (b->failed || n == 0)
    return;
  if (b->count_only) {
    b->len += n;
    return;
  }
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2) {
        b->failed = 1;
        return;
      }
      cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      b->failed = 1;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void kf_put_i8(kf_buf *b, int8_t v) {
  kf_put(b, &v, 1);
}

void kf_put_i16(kf_buf *b, int16_t v) {
  uint16_t u = (uint16_t)v;
  uint8_t x[2] = {(uint8_t)(u >> 8), (uint8_t)u};
  kf_put(b, x, 2);
}

void kf_put_i32(kf_buf *b, int32_t v) {
  uint32_t u = (uint32_t)v;
  uint8_t x[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8),
                  (uint8_t)u};
  kf_put(b, x, 4);
}

void kf_put_i64(kf_buf *b, int64_t v) {
  uint64_t u = (uint64_t)v;
  uint8_t x[8];
  for (int i = 0; i < 8; i++)
    x[i] = (uint8_t)(u >> (56 - 8 * i));
  kf_put(b, x, 8);
}

void kf_put_uvarint(kf_buf *b, uint64_t v) {
  uint8_t x[10];
  size_t n = 0;
  while (v >= 0x80) {
    x[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  x[n++] = (uint8_t)v;
  kf_put(b, x, n);
}

void kf_buf_free(kf_buf *b) {
  free(b->data);
  free(b->holes);
  b->data = NULL;
  b->holes = NULL;
  b->len = b->cap = b->ext_len = b->nholes = b->holes_cap = 0;
}

/* Leave a hole of n bytes for external part ext. */
static void put_hole(kf_buf *b, int32_t ext, size_t n) {
  if (b->failed)
    return;
  b->ext_len += n;
  if (b->count_only)
    return;
  if (b->nholes == b->holes_cap) {
    size_t cap = b->holes_cap ? 2 * b->holes_cap : 16;
    kf_hole *h = realloc(b->holes, cap * sizeof *h);
    if (!h) {
      b->failed = 1;
      return;
    }
    b->holes = h;
    b->holes_cap = cap;
  }
  b->holes[b->nholes++] = (kf_hole){.at = b->len, .ext = ext};
}

/* ---- input cursor ------------------------------------------------------- */

static int need(kf_cur *c, size_t n) {
  return (size_t)(c->end - c->p) >= n;
}

static uint64_t get_be(kf_cur *c, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | c->p[i];
  c->p += n;
  return v;
}

int kf_get_i16(kf_cur *c, int16_t *v) {
  if (!need(c, 2))
    return -1;
  *v = (int16_t)(uint16_t)get_be(c, 2);
  return 0;
}

int kf_get_i32(kf_cur *c, int32_t *v) {
  if (!need(c, 4))
    return -1;
  *v = (int32_t)(uint32_t)get_be(c, 4);
  return 0;
}

int kf_get_uvarint(kf_cur *c, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end)
      return -1;
    uint8_t byte = *c->p++;
    r |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* Length of a string/bytes/array: -1 for null, else 0..remaining-ish.
 * Compact forms carry len+1 as a uvarint; classic ones an int16 (strings)
 * or int32. */
static int get_len(kf_cur *c, int compact, int short_len, int64_t *len) {
  if (compact) {
    uint64_t u;
    if (kf_get_uvarint(c, &u) || u > INT32_MAX)
      return -1;
    *len = (int64_t)u - 1;
  } else if (short_len) {
    int16_t v;
    if (kf_get_i16(c, &v))
      return -1;
    *len = v;
  } else {
    int32_t v;
    if (kf_get_i32(c, &v))
      return -1;
    *len = v;
  }
  return *len < -1 ? -1 : 0;
}

/* ---- decode ------------------------------------------------------------- */

static int decode_value(const kf_field *f, int type, int version, int flex,
                        int nullable, kf_cur *c, kf_arena *a, void *p);

static size_t elem_size(const kf_field *f) {
  switch (f->elem) {
  case KF_BOOL:
  case KF_INT8:
    return 1;
  case KF_INT16:
  case KF_UINT16:
    return 2;
  case KF_INT32:
  case KF_UINT32:
    return 4;
  case KF_INT64:
  case KF_FLOAT64:
    return 8;
  case KF_UUID:
    return 16;
  case KF_STRING:
    return sizeof(kf_str);
  case KF_BYTES:
  case KF_RECORDS:
    return sizeof(kf_bytes);
  case KF_STRUCT:
    return f->sub->size;
  }
  return 0;
}

static int decode_value(const kf_field *f, int type, int version, int flex,
                        int nullable, kf_cur *c, kf_arena *a, void *p) {
  int compact = flex && !f->never_flex;
  switch (type) {
  case KF_BOOL:
  case KF_INT8: {
    if (!need(c, 1))
      return -1;
    uint8_t v = *c->p++;
    if (type == KF_BOOL)
      v = v != 0;
    memcpy(p, &v, 1);
    return 0;
  }
  case KF_INT16:
  case KF_UINT16: {
    if (!need(c, 2))
      return -1;
    uint16_t v = (uint16_t)get_be(c, 2);
    memcpy(p, &v, 2);
    return 0;
  }
  case KF_INT32:
  case KF_UINT32: {
    if (!need(c, 4))
      return -1;
    uint32_t v = (uint32_t)get_be(c, 4);
    memcpy(p, &v, 4);
    return 0;
  }
  case KF_INT64:
  case KF_FLOAT64: {
    if (!need(c, 8))
      return -1;
    uint64_t v = get_be(c, 8);
    memcpy(p, &v, 8);
    return 0;
  }
  case KF_UUID:
    if (!need(c, 16))
      return -1;
    memcpy(p, c->p, 16);
    c->p += 16;
    return 0;
  case KF_STRING: {
    int64_t len;
    if (get_len(c, compact, 1, &len))
      return -1;
    kf_str s = {NULL, -1};
    if (len >= 0) {
      if (!need(c, (size_t)len))
        return -1;
      s.ptr = kf_strndup(a, (const char *)c->p, (size_t)len);
      if (!s.ptr)
        return -1;
      s.len = (int32_t)len;
      c->p += len;
    } else if (!nullable) {
      return -1;
    }
    memcpy(p, &s, sizeof s);
    return 0;
  }
  case KF_BYTES:
  case KF_RECORDS: {
    int64_t len;
    if (get_len(c, compact, 0, &len))
      return -1;
    kf_bytes b = {NULL, -1, 0};
    if (len >= 0) {
      if (!need(c, (size_t)len))
        return -1;
      /* A view, not a copy (kafka_codec.h): writable when the input is. */
      b.ptr = (uint8_t *)(uintptr_t)c->p;
      b.len = (int32_t)len;
      c->p += len;
    } else if (!nullable) {
      return -1;
    }
    memcpy(p, &b, sizeof b);
    return 0;
  }
  case KF_STRUCT:
    if (nullable) {
      /* A nullable struct: an int8 marker, -1 null, 1 present. */
      if (!need(c, 1))
        return -1;
      int8_t mark = (int8_t)*c->p++;
      if (mark < 0) {
        kf_init(f->sub, p);
        kf_struct_set_null(f->sub, p);
        return 0;
      }
    }
    return kf_decode_struct(f->sub, version, flex, c, a, p);
  case KF_ARRAY: {
    int64_t n;
    if (get_len(c, compact, 0, &n))
      return -1;
    kf_array arr = {NULL, -1};
    if (n < 0 && !nullable)
      return -1;
    if (n >= 0) {
      /* Every element takes at least one byte on the wire, which bounds
       * what a hostile count can make us allocate. */
      if ((uint64_t)n > (uint64_t)(c->end - c->p))
        return -1;
      size_t es = elem_size(f);
      arr.count = (int32_t)n;
      if (n > 0) {
        arr.items = kf_alloc(a, (size_t)n * es);
        if (!arr.items)
          return -1;
      }
      for (int64_t i = 0; i < n; i++) {
        uint8_t *ep = (uint8_t *)arr.items + (size_t)i * es;
        if (decode_value(f, f->elem, version, flex, 0, c, a, ep))
          return -1;
      }
    }
    memcpy(p, &arr, sizeof arr);
    return 0;
  }
  }
  return -1;
}

static int is_tagged(const kf_field *f, int version, int flex) {
  return flex && in_range(version, f->tmin, f->tmax);
}

int kf_decode_struct(const kf_struct *s, int version, int flex, kf_cur *c,
                     kf_arena *a, void *out) {
  for (uint32_t i = 0; i < s->nfields; i++) {
    const kf_field *f = &s->fields[i];
    set_default(f, out);
    if (!in_range(version, f->vmin, f->vmax) || is_tagged(f, version, flex))
      continue;
    int nullable = in_range(version, f->nmin, f->nmax);
    if (decode_value(f, f->type, version, flex, nullable, c, a, at(out, f)))
      return -1;
  }
  if (!flex)
    return 0;
  uint64_t ntags;
  if (kf_get_uvarint(c, &ntags))
    return -1;
  for (uint64_t t = 0; t < ntags; t++) {
    uint64_t tag, size;
    if (kf_get_uvarint(c, &tag) || kf_get_uvarint(c, &size) ||
        size > (uint64_t)(c->end - c->p))
      return -1;
    kf_cur sub = {c->p, c->p + size};
    for (uint32_t i = 0; i < s->nfields; i++) {
      const kf_field *f = &s->fields[i];
      if (f->tag >= 0 && (uint64_t)f->tag == tag &&
          is_tagged(f, version, flex)) {
        int nullable = in_range(version, f->nmin, f->nmax);
        if (decode_value(f, f->type, version, flex, nullable, &sub, a,
                         at(out, f)))
          return -1;
        break;
      }
    }
    c->p += size; /* unknown tags are skipped */
  }
  return 0;
}

void *kf_decode(const kf_msg *m, int version, kf_cur *c, kf_arena *a) {
  void *obj = kf_alloc(a, m->body->size);
  if (!obj)
    return NULL;
  if (kf_decode_struct(m->body, version, kf_flexible(m, version), c, a, obj))
    return NULL;
  return obj;
}

/* ---- encode ------------------------------------------------------------- */

static void put_len(kf_buf *b, int compact, int short_len, int64_t len) {
  if (compact)
    kf_put_uvarint(b, (uint64_t)(len + 1));
  else if (short_len)
    kf_put_i16(b, (int16_t)len);
  else
    kf_put_i32(b, (int32_t)len);
}

/* "error_code" and "*_error_code" (topic_config_error_code, ...). */
static int is_error_field(const char *name) {
  size_t n = strlen(name);
  return n >= 10 && memcmp(name + n - 10, "error_code", 10) == 0;
}

static void encode_value(const kf_field *f, int type, int version, int flex,
                         int nullable, const void *p, kf_buf *b) {
  int compact = flex && !f->never_flex;
  switch (type) {
  case KF_BOOL:
  case KF_INT8:
    kf_put(b, p, 1);
    return;
  case KF_INT16:
  case KF_UINT16: {
    uint16_t v;
    memcpy(&v, p, 2);
    kf_put_i16(b, (int16_t)v);
    /* Nonzero int16s are rare (error codes, ApiVersions' ranges), so the
     * name is compared only for those. */
    if (v && b->on_error && !b->count_only && type == KF_INT16 &&
        is_error_field(f->name))
      b->on_error(b->on_error_key, (int16_t)v);
    return;
  }
  case KF_INT32:
  case KF_UINT32: {
    uint32_t v;
    memcpy(&v, p, 4);
    kf_put_i32(b, (int32_t)v);
    return;
  }
  case KF_INT64:
  case KF_FLOAT64: {
    uint64_t v;
    memcpy(&v, p, 8);
    kf_put_i64(b, (int64_t)v);
    return;
  }
  case KF_UUID:
    kf_put(b, p, 16);
    return;
  case KF_STRING: {
    kf_str s;
    memcpy(&s, p, sizeof s);
    /* A null where the version has no null is sent as "": lenient, so a
     * handler need not know every version's nullability. */
    if (s.len < 0 || !s.ptr) {
      put_len(b, compact, 1, nullable ? -1 : 0);
      return;
    }
    put_len(b, compact, 1, s.len);
    kf_put(b, s.ptr, (size_t)s.len);
    return;
  }
  case KF_BYTES:
  case KF_RECORDS: {
    kf_bytes v;
    memcpy(&v, p, sizeof v);
    if (v.len < 0 || (!v.ptr && v.len > 0 && v.ext <= 0)) {
      put_len(b, compact, 0, nullable ? -1 : 0);
      return;
    }
    put_len(b, compact, 0, v.len);
    if (v.ext > 0 && f->type == KF_RECORDS)
      put_hole(b, v.ext - 1, (size_t)v.len);
    else
      kf_put(b, v.ptr, (size_t)v.len);
    return;
  }
  case KF_STRUCT:
    if (nullable) {
      if (kf_struct_is_null(f->sub, p)) {
        kf_put_i8(b, -1);
        return;
      }
      kf_put_i8(b, 1);
    }
    kf_encode_struct(f->sub, version, flex, p, b);
    return;
  case KF_ARRAY: {
    kf_array arr;
    memcpy(&arr, p, sizeof arr);
    if (arr.count < 0 || (!arr.items && arr.count > 0)) {
      put_len(b, compact, 0, nullable ? -1 : 0);
      return;
    }
    put_len(b, compact, 0, arr.count);
    size_t es = elem_size(f);
    for (int32_t i = 0; i < arr.count; i++)
      encode_value(f, f->elem, version, flex, 0,
                   (const uint8_t *)arr.items + (size_t)i * es, b);
    return;
  }
  }
}

/* A nullable struct is null when its first field is an array or string
 * with the null length (-1): the generated structs have no flag of their
 * own, and the only nullable struct (ConsumerGroupHeartbeatResponse's
 * Assignment) starts with its partitions array. */
int kf_struct_is_null(const kf_struct *s, const void *obj) {
  if (!s->nfields)
    return 0;
  const kf_field *f = &s->fields[0];
  const void *p = at(obj, f);
  if (f->type == KF_ARRAY) {
    kf_array arr;
    memcpy(&arr, p, sizeof arr);
    return arr.count < 0;
  }
  if (f->type == KF_STRING) {
    kf_str v;
    memcpy(&v, p, sizeof v);
    return v.len < 0;
  }
  return 0;
}

void kf_struct_set_null(const kf_struct *s, void *obj) {
  if (!s->nfields)
    return;
  const kf_field *f = &s->fields[0];
  void *p = at(obj, f);
  if (f->type == KF_ARRAY) {
    kf_array arr = {NULL, -1};
    memcpy(p, &arr, sizeof arr);
  } else if (f->type == KF_STRING) {
    kf_str v = {NULL, -1};
    memcpy(p, &v, sizeof v);
  }
}

static int struct_is_default(const kf_struct *s, const void *obj) {
  for (uint32_t i = 0; i < s->nfields; i++)
    if (!kf_is_default(&s->fields[i], obj))
      return 0;
  return 1;
}

int kf_is_default(const kf_field *f, const void *obj) {
  const void *p = at(obj, f);
  switch (f->type) {
  case KF_BOOL:
  case KF_INT8:
    return *(const int8_t *)p == (int8_t)f->def;
  case KF_INT16: {
    int16_t v;
    memcpy(&v, p, 2);
    return v == (int16_t)f->def;
  }
  case KF_UINT16: {
    uint16_t v;
    memcpy(&v, p, 2);
    return v == (uint16_t)f->def;
  }
  case KF_INT32: {
    int32_t v;
    memcpy(&v, p, 4);
    return v == (int32_t)f->def;
  }
  case KF_UINT32: {
    uint32_t v;
    memcpy(&v, p, 4);
    return v == (uint32_t)f->def;
  }
  case KF_INT64: {
    int64_t v;
    memcpy(&v, p, 8);
    return v == f->def;
  }
  case KF_FLOAT64: {
    double v;
    memcpy(&v, p, 8);
    return v == (double)f->def;
  }
  case KF_UUID: {
    static const uint8_t zero[16];
    return memcmp(p, zero, 16) == 0;
  }
  case KF_STRING: {
    kf_str s;
    memcpy(&s, p, sizeof s);
    return f->def ? s.len < 0 : s.len == 0;
  }
  case KF_BYTES:
  case KF_RECORDS: {
    kf_bytes v;
    memcpy(&v, p, sizeof v);
    return f->def ? v.len < 0 : v.len == 0;
  }
  case KF_STRUCT:
    return struct_is_default(f->sub, p);
  case KF_ARRAY: {
    kf_array arr;
    memcpy(&arr, p, sizeof arr);
    return arr.count <= 0;
  }
  }
  return 1;
}

void kf_encode_struct(const kf_struct *s, int version, int flex,
                      const void *obj, kf_buf *b) {
  uint32_t ntags = 0;
  for (uint32_t i = 0; i < s->nfields; i++) {
    const kf_field *f = &s->fields[i];
    if (!in_range(version, f->vmin, f->vmax))
      continue;
    if (is_tagged(f, version, flex)) {
      if (!kf_is_default(f, obj))
        ntags++;
      continue;
    }
    encode_value(f, f->type, version, flex, in_range(version, f->nmin, f->nmax),
                 at(obj, f), b);
  }
  if (!flex)
    return;
  kf_put_uvarint(b, ntags);
  /* Tagged fields go out in ascending tag order. */
  int32_t last = -1;
  for (uint32_t n = 0; n < ntags; n++) {
    const kf_field *next = NULL;
    for (uint32_t i = 0; i < s->nfields; i++) {
      const kf_field *f = &s->fields[i];
      if (f->tag > last && in_range(version, f->vmin, f->vmax) &&
          is_tagged(f, version, flex) && !kf_is_default(f, obj) &&
          (!next || f->tag < next->tag))
        next = f;
    }
    if (!next)
      break;
    last = next->tag;
    kf_buf tmp = {0};
    tmp.count_only = b->count_only;
    encode_value(next, next->type, version, flex,
                 in_range(version, next->nmin, next->nmax), at(obj, next),
                 &tmp);
    /* A hole inside a tagged field would be placed relative to tmp;
     * no schema has records there, so refuse rather than misplace. */
    if (tmp.failed || tmp.ext_len)
      b->failed = 1;
    kf_put_uvarint(b, (uint64_t)next->tag);
    kf_put_uvarint(b, tmp.len);
    kf_put(b, tmp.data, tmp.len);
    kf_buf_free(&tmp);
  }
}

void kf_encode(const kf_msg *m, int version, const void *obj, kf_buf *b) {
  kf_encode_struct(m->body, version, kf_flexible(m, version), obj, b);
}
