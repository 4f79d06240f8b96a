/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_codec.h — one table-driven codec for every Kafka message.
 *
 * Each message is described by data (kafka_msgs.c, generated from Kafka's
 * JSON schemas by tools/kafka_gen.py): a kf_struct lists its fields in wire
 * order with the versions each exists in, the versions it may be null in,
 * its tag when it travels in the tagged-field section, its default and the
 * nested struct it holds. kf_decode()/kf_encode() walk those tables, so no
 * API or version has code of its own here.
 *
 * Encodings. Classic versions: big-endian integers; STRING with an int16
 * length, BYTES and ARRAY with an int32 length, -1 for null. Flexible
 * versions (version >= the message's first flexible version): strings,
 * bytes and arrays carry an unsigned varint of length+1 (0 = null), and
 * every struct ends with a tagged-field section (uvarint count, then per
 * field uvarint tag, uvarint size, data). Unknown tags are skipped.
 *
 * Decoded values live in a kf_arena: strings are copied and NUL-terminated
 * (so handlers can pass them to nd_* calls). Bytes and records are not
 * copied: they point into the buffer being decoded (a Produce's record set
 * is up to a megabyte), so that buffer must outlive the decoded message —
 * the broker's requests own their frame and free it with their arena
 * (kafka.h) — and they are writable exactly when that buffer is (Produce
 * stores batches in place with their base offset set). Freeing a request
 * is one kf_arena_free() plus freeing its frame.
 *
 * Decoding reads untrusted bytes only through a bounded cursor; any
 * underflow, bad varint or impossible length makes kf_decode return -1.
 */
#ifndef ND_KAFKA_CODEC_H
#define ND_KAFKA_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* A string: ptr is NUL-terminated when decoded; len -1 means null. */
typedef struct kf_str {
  const char *ptr;
  int32_t len;
} kf_str;

/* Bytes or records: len -1 means null. Decoded ones point into the input
 * (see above); ptr is writable only if that input is. ext > 0 (records,
 * encoding only): the len bytes are not in memory but external part
 * ext - 1, which the sender splices in where the encoder leaves a hole
 * (kf_buf.holes). */
typedef struct kf_bytes {
  uint8_t *ptr;
  int32_t len;
  int32_t ext;
} kf_bytes;

typedef struct kf_uuid {
  uint8_t b[16];
} kf_uuid;

/* Arrays are generated as struct { T *items; int32_t count; } with count -1
 * for null; the codec reaches them through this layout. */
typedef struct kf_array {
  void *items;
  int32_t count;
} kf_array;

enum kf_type {
  KF_BOOL,
  KF_INT8,
  KF_INT16,
  KF_UINT16,
  KF_INT32,
  KF_UINT32,
  KF_INT64,
  KF_FLOAT64,
  KF_UUID,
  KF_STRING,
  KF_BYTES,
  KF_RECORDS,
  KF_STRUCT,
  KF_ARRAY, /* elem says of what */
};

struct kf_struct;

typedef struct kf_field {
  const char *name;
  uint8_t type; /* enum kf_type */
  uint8_t elem; /* element type for KF_ARRAY, else == type */
  uint32_t offset;
  int16_t vmin, vmax; /* versions the field exists in */
  int16_t nmin, nmax; /* versions it may be null in, -1 = never */
  int16_t tmin, tmax; /* versions it is a tagged field in, -1 = never */
  int32_t tag;
  uint8_t never_flex; /* classic encoding even in flexible versions */
  int64_t def;        /* numeric default; strings/bytes/arrays: 1 = null */
  const struct kf_struct *sub;
} kf_field;

typedef struct kf_struct {
  const char *name;
  uint32_t size;
  uint32_t nfields;
  const kf_field *fields;
} kf_struct;

typedef struct kf_msg {
  const char *name;
  int16_t api_key;
  int16_t vmin, vmax; /* versions the schema defines */
  int16_t flex_min;   /* first flexible version (0x7fff: none) */
  const kf_struct *body;
} kf_msg;

/* ---- arena -------------------------------------------------------------- */

typedef struct kf_chunk kf_chunk;
typedef struct kf_arena {
  kf_chunk *head;
  size_t total; /* bytes handed out */
  size_t limit; /* fail allocations beyond this total; 0 = no limit */
} kf_arena;

/* Zeroed memory valid until kf_arena_free; NULL when out of memory. */
void *kf_alloc(kf_arena *a, size_t n);
/* A copy of s[0..len) with a NUL after it. */
char *kf_strndup(kf_arena *a, const char *s, size_t len);
void kf_arena_free(kf_arena *a);

/* A struct of type s with every field at its schema default (nullable
 * strings null, numbers as the schema says: leader epochs -1 and so on). */
void *kf_new(kf_arena *a, const kf_struct *s);
/* n such structs back to back, for an array field. */
void *kf_new_array(kf_arena *a, const kf_struct *s, int32_t n);
void kf_init(const kf_struct *s, void *obj);

/* String helpers for building responses (no copy). */
kf_str kf_s(const char *s);
static inline kf_str kf_null_str(void) {
  kf_str s = {0, -1};
  return s;
}

/* ---- output buffer ------------------------------------------------------ */

/* Where an external part's bytes belong: before data[at]. */
typedef struct kf_hole {
  size_t at;
  int32_t ext; /* kf_bytes.ext - 1 */
} kf_hole;

typedef struct kf_buf {
  uint8_t *data;
  size_t len, cap;
  int failed;     /* an allocation failed: the content is incomplete */
  int count_only; /* only count len (to size the real buffer once) */
  size_t ext_len; /* bytes of external parts, not in data */
  kf_hole *holes; /* in the order of `at` (not kept when count_only) */
  size_t nholes, holes_cap;
  /* Called for each int16 field named *error_code that is not 0, with
   * on_error_key (the broker's error metrics); NULL = none. Not called
   * when count_only. */
  void (*on_error)(int key, int16_t code);
  int on_error_key;
} kf_buf;

void kf_put(kf_buf *b, const void *p, size_t n);
void kf_put_i8(kf_buf *b, int8_t v);
void kf_put_i16(kf_buf *b, int16_t v);
void kf_put_i32(kf_buf *b, int32_t v);
void kf_put_i64(kf_buf *b, int64_t v);
void kf_put_uvarint(kf_buf *b, uint64_t v);
void kf_buf_free(kf_buf *b);

/* ---- input cursor ------------------------------------------------------- */

typedef struct kf_cur {
  const uint8_t *p, *end;
} kf_cur;

int kf_get_i16(kf_cur *c, int16_t *v);
int kf_get_i32(kf_cur *c, int32_t *v);
int kf_get_uvarint(kf_cur *c, uint64_t *v);

/* ---- messages ----------------------------------------------------------- */

static inline int kf_flexible(const kf_msg *m, int version) {
  return version >= m->flex_min;
}

/* Decode one struct of type s at `version` from c into out (already
 * allocated, size s->size). Returns 0, or -1 on malformed input. */
int kf_decode_struct(const kf_struct *s, int version, int flex, kf_cur *c,
                     kf_arena *a, void *out);
/* Encode obj (type s) at `version`. Sets b->failed on allocation failure. */
void kf_encode_struct(const kf_struct *s, int version, int flex,
                      const void *obj, kf_buf *b);

/* A message body: decode into a new arena object (NULL on malformed input)
 * and encode. */
void *kf_decode(const kf_msg *m, int version, kf_cur *c, kf_arena *a);
void kf_encode(const kf_msg *m, int version, const void *obj, kf_buf *b);

/* Nullable struct fields (an int8 marker on the wire, -1 null, 1
 * present): a struct is null when its first field (an array or string)
 * has the null length -1. kf_struct_set_null makes it so. */
int kf_struct_is_null(const kf_struct *s, const void *obj);
void kf_struct_set_null(const kf_struct *s, void *obj);

/* Is the field at its default (used to leave tagged fields out)? */
int kf_is_default(const kf_field *f, const void *obj);

#endif
