/*
 * offsets.c — committed consumer-group offsets (format in offsets.h).
 */
#include "offsets.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "error.h"
#include "file.h"
#include "layout.h"

#define FRAME_MAGIC 0x894F4653u /* "\x89OFS" */
#define FRAME_HEADER 16         /* form 2 */
#define FRAME1_HEADER 8         /* form 1, read only */
#define PAYLOAD_VERSION 1
#define CHECKPOINT_FRAME_BYTES 4096
#define OP_COMMIT 1
#define OP_DELETE_GROUP 2
#define OP_DELETE_TOPIC 3
#define OP_GROUP_TYPE 4
#define OP_DELETE_OFFSET 5
#define COMPACT_MIN_BYTES (64 * 1024)

typedef struct entry {
  char *key; /* group \0 topic \0 partition(4 bytes) */
  size_t key_len;
  int64_t offset;
  int32_t epoch;
  int64_t time_ms;
  char *metadata; /* NUL-terminated copy; may hold NULs (meta_len says) */
  size_t meta_len;
} entry;

struct offsets_store {
  nd_logger log; /* the store's nd_options.on_log */
  char dir[PATH_MAX];
  char path[PATH_MAX];
  int fd;
  int readonly;
  pthread_mutex_t mu; /* map, file size, written */
  entry *slots;       /* open addressing; key NULL = empty */
  size_t cap, count;
  uint64_t file_size;
  uint64_t live_bytes; /* bytes the live entries need as ops */
  uint64_t written;    /* frames appended */
  pthread_mutex_t sync_mu;
  pthread_cond_t sync_cond;
  int syncing;
  uint64_t synced;
  int failed;
};

/* ---- the map ------------------------------------------------------------ */

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static size_t make_key(char *buf, const char *group, const char *topic,
                       int32_t partition) {
  size_t g = strlen(group), t = strlen(topic);
  memcpy(buf, group, g + 1);
  memcpy(buf + g + 1, topic, t + 1);
  put_be32((uint8_t *)buf + g + t + 2, (uint32_t)partition);
  return g + t + 6;
}

static entry *slot_for(offsets_store *os, const char *key, size_t len) {
  size_t mask = os->cap - 1;
  size_t i = (size_t)fnv1a(key, len) & mask;
  while (os->slots[i].key && (os->slots[i].key_len != len ||
                              memcmp(os->slots[i].key, key, len) != 0))
    i = (i + 1) & mask;
  return &os->slots[i];
}

static uint64_t op_size(size_t group_len, size_t topic_len, size_t meta_len) {
  return 1 + 2 + group_len + 2 + topic_len + 4 + 8 + 4 + 8 + 4 + meta_len;
}

/* A group's protocol type is kept in the map under a key no commit can
 * have: an empty topic name (topics are never nameless) and partition -1;
 * the type is the entry's metadata. */
static size_t type_key(char *buf, const char *group) {
  return make_key(buf, group, "", -1);
}

static int is_type_entry(const entry *e) {
  return e->key[strlen(e->key) + 1] == '\0';
}

static uint64_t type_op_size(size_t group_len, size_t type_len) {
  return 1 + 2 + group_len + 2 + type_len;
}

static uint64_t entry_op_size(const entry *e) {
  size_t g = strlen(e->key);
  if (is_type_entry(e))
    return type_op_size(g, e->meta_len);
  size_t t = strlen(e->key + g + 1);
  return op_size(g, t, e->meta_len);
}

static int grow(offsets_store *os) {
  size_t cap = os->cap ? os->cap * 2 : 64;
  entry *old = os->slots;
  size_t old_cap = os->cap;
  os->slots = calloc(cap, sizeof *os->slots);
  if (!os->slots) {
    os->slots = old;
    return ND_ENOMEM;
  }
  os->cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].key)
      *slot_for(os, old[i].key, old[i].key_len) = old[i];
  free(old);
  return 0;
}

static void entry_free(entry *e) {
  free(e->key);
  free(e->metadata);
  memset(e, 0, sizeof *e);
}

/* Remove slot i, re-inserting the cluster after it (linear probing). */
static void remove_slot(offsets_store *os, size_t i) {
  os->live_bytes -= entry_op_size(&os->slots[i]);
  entry_free(&os->slots[i]);
  os->count--;
  size_t mask = os->cap - 1;
  for (size_t j = (i + 1) & mask; os->slots[j].key; j = (j + 1) & mask) {
    entry e = os->slots[j];
    memset(&os->slots[j], 0, sizeof e);
    *slot_for(os, e.key, e.key_len) = e;
  }
}

static int map_put(offsets_store *os, const char *key, size_t key_len,
                   int64_t offset, int32_t epoch, int64_t time_ms,
                   const char *metadata, size_t meta_len, int meta_null) {
  if ((os->count + 1) * 4 > os->cap * 3 && grow(os) != 0)
    return ND_ENOMEM;
  char *meta = NULL;
  if (!meta_null) {
    meta = malloc(meta_len + 1);
    if (!meta)
      return ND_ENOMEM;
    if (meta_len)
      memcpy(meta, metadata, meta_len);
    meta[meta_len] = '\0';
  }
  entry *e = slot_for(os, key, key_len);
  if (e->key) {
    os->live_bytes -= entry_op_size(e);
    free(e->metadata);
  } else {
    e->key = malloc(key_len);
    if (!e->key) {
      free(meta);
      return ND_ENOMEM;
    }
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    os->count++;
  }
  e->offset = offset;
  e->epoch = epoch;
  e->time_ms = time_ms;
  e->metadata = meta;
  e->meta_len = meta ? meta_len : 0;
  os->live_bytes += entry_op_size(e);
  return 0;
}

/* Remove the entry with this key, if there is one. Returns 1 if removed. */
static int map_remove_key(offsets_store *os, const char *key, size_t len) {
  if (!os->cap)
    return 0;
  entry *e = slot_for(os, key, len);
  if (!e->key)
    return 0;
  remove_slot(os, (size_t)(e - os->slots));
  return 1;
}

/* Remove every entry whose group (field 0) or topic (field 1) is name. */
static int map_remove_matching(offsets_store *os, int field, const char *name) {
  int removed = 0;
  for (size_t i = 0; i < os->cap;) {
    entry *e = &os->slots[i];
    if (e->key) {
      const char *f = field == 0 ? e->key : e->key + strlen(e->key) + 1;
      if (!strcmp(f, name)) {
        remove_slot(os, i);
        removed++;
        continue; /* slot i now holds a moved entry (or is empty) */
      }
    }
    i++;
  }
  return removed;
}

/* ---- encoding ----------------------------------------------------------- */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  size_t frame; /* where the frame being built starts */
} wbuf;

static int wb_reserve(wbuf *b, size_t n) {
  if (b->len + n <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n)
    cap *= 2;
  uint8_t *np = realloc(b->p, cap);
  if (!np)
    return ND_ENOMEM;
  b->p = np;
  b->cap = cap;
  return 0;
}

static void wb_u8(wbuf *b, uint8_t v) {
  b->p[b->len++] = v;
}
static void wb_u16(wbuf *b, uint16_t v) {
  put_be16(b->p + b->len, v);
  b->len += 2;
}
static void wb_u32(wbuf *b, uint32_t v) {
  put_be32(b->p + b->len, v);
  b->len += 4;
}
static void wb_u64(wbuf *b, uint64_t v) {
  put_be64(b->p + b->len, v);
  b->len += 8;
}
static void wb_bytes(wbuf *b, const void *p, size_t n) {
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static int wb_commit_op(wbuf *b, const char *group, size_t g, const char *topic,
                        size_t t, int32_t partition, int64_t offset,
                        int32_t epoch, int64_t time_ms, const char *meta,
                        size_t meta_len) {
  if (wb_reserve(b, op_size(g, t, meta ? meta_len : 0)))
    return ND_ENOMEM;
  wb_u8(b, OP_COMMIT);
  wb_u16(b, (uint16_t)g);
  wb_bytes(b, group, g);
  wb_u16(b, (uint16_t)t);
  wb_bytes(b, topic, t);
  wb_u32(b, (uint32_t)partition);
  wb_u64(b, (uint64_t)offset);
  wb_u32(b, (uint32_t)epoch);
  wb_u64(b, (uint64_t)time_ms);
  if (meta) {
    wb_u32(b, (uint32_t)meta_len);
    wb_bytes(b, meta, meta_len);
  } else {
    wb_u32(b, UINT32_MAX);
  }
  return 0;
}

static int wb_type_op(wbuf *b, const char *group, size_t g, const char *type,
                      size_t t) {
  if (wb_reserve(b, type_op_size(g, t)))
    return ND_ENOMEM;
  wb_u8(b, OP_GROUP_TYPE);
  wb_u16(b, (uint16_t)g);
  wb_bytes(b, group, g);
  wb_u16(b, (uint16_t)t);
  wb_bytes(b, type, t);
  return 0;
}

/* Start a frame (form 2) at the end of b: header and version/count
 * placeholders, filled in by wb_frame_finish. */
static int wb_frame_start(wbuf *b) {
  if (wb_reserve(b, FRAME_HEADER + 5))
    return ND_ENOMEM;
  b->frame = b->len;
  b->len += FRAME_HEADER;
  wb_u8(b, PAYLOAD_VERSION);
  wb_u32(b, 0);
  return 0;
}

static void wb_frame_finish(wbuf *b, uint32_t ops) {
  uint8_t *h = b->p + b->frame;
  size_t payload = b->len - b->frame - FRAME_HEADER;
  put_be32(h + FRAME_HEADER + 1, ops);
  put_be32(h, FRAME_MAGIC);
  put_be32(h + 4, (uint32_t)payload);
  put_be32(h + 8, nd_crc32c(0, h + FRAME_HEADER, payload));
  put_be32(h + 12, nd_crc32c(0, h, 12));
}

/* A live entry as the op that recreates it. */
static int wb_entry_op(wbuf *b, const entry *e) {
  size_t g = strlen(e->key);
  if (is_type_entry(e))
    return wb_type_op(b, e->key, g, e->metadata, e->meta_len);
  const char *t = e->key + g + 1;
  size_t tl = strlen(t);
  return wb_commit_op(b, e->key, g, t, tl,
                      (int32_t)be32((const uint8_t *)t + tl + 1), e->offset,
                      e->epoch, e->time_ms, e->metadata, e->meta_len);
}

static int cmp_entry_group(const void *a, const void *b) {
  return strcmp((*(const entry *const *)a)->key,
                (*(const entry *const *)b)->key);
}

/* The live entries as frames, one group per frame and at most
 * CHECKPOINT_FRAME_BYTES of ops in each, so that damage to one frame of a
 * rewritten file costs only the entries in it. */
static int wb_checkpoint(offsets_store *os, wbuf *b) {
  entry **v = malloc((os->count ? os->count : 1) * sizeof *v);
  if (!v)
    return ND_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < os->cap; i++)
    if (os->slots[i].key)
      v[n++] = &os->slots[i];
  qsort(v, n, sizeof *v, cmp_entry_group);
  int rc = 0;
  uint32_t ops = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (ops && (strcmp(v[i]->key, v[i - 1]->key) != 0 ||
                b->len - b->frame >= CHECKPOINT_FRAME_BYTES)) {
      wb_frame_finish(b, ops);
      ops = 0;
    }
    if (!ops && (rc = wb_frame_start(b)) != 0)
      break;
    rc = wb_entry_op(b, v[i]);
    ops++;
  }
  if (!rc && ops)
    wb_frame_finish(b, ops);
  free(v);
  return rc;
}

/* Replace the file with a checkpoint of the map (tmp, fsync, rename,
 * fsync dir: a crash leaves the old file or the new one, never a mix).
 * *size: the new file's length. */
static int write_checkpoint(offsets_store *os, uint64_t *size) {
  wbuf b = {0};
  int rc = wb_checkpoint(os, &b);
  if (rc) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  rc = file_write_atomic(os->path, b.p, b.len);
  free(b.p);
  if (rc)
    return nd_fail_os(-rc, "cannot rewrite %s", os->path);
  *size = b.len;
  return 0;
}

/* ---- replay ------------------------------------------------------------- */

typedef struct rcur {
  const uint8_t *p, *end;
  int bad;
} rcur;

static const uint8_t *rc_take(rcur *c, size_t n) {
  if (c->bad || (size_t)(c->end - c->p) < n) {
    c->bad = 1;
    return NULL;
  }
  const uint8_t *r = c->p;
  c->p += n;
  return r;
}

/* One op as parsed; the names point into the frame, without NUL. */
typedef struct op {
  uint8_t kind;
  const uint8_t *name; /* the group; the topic of OP_DELETE_TOPIC */
  uint16_t name_len;
  const uint8_t *topic; /* OP_COMMIT, OP_DELETE_OFFSET; the type of op 4 */
  uint16_t topic_len;
  int32_t partition, epoch;
  int64_t offset, time_ms;
  const uint8_t *meta;
  int32_t meta_len; /* -1: null */
} op;

typedef int (*op_fn)(void *ctx, const op *o);

/* Parse one payload's ops, handing each to fn (NULL: only check).
 * Returns 0 if all of it parses, -1 at the first malformed op (fn has seen
 * the ones before it), or fn's first nonzero result. */
static int parse_ops(const uint8_t *payload, size_t len, op_fn fn, void *ctx) {
  rcur c = {payload, payload + len, 0};
  const uint8_t *h = rc_take(&c, 5);
  if (!h || h[0] != PAYLOAD_VERSION)
    return -1;
  uint32_t ops = be32(h + 1);
  for (uint32_t i = 0; i < ops; i++) {
    op o = {0};
    const uint8_t *k = rc_take(&c, 1), *lp = rc_take(&c, 2);
    if (!lp)
      return -1;
    o.kind = *k;
    o.name_len = be16(lp);
    o.name = rc_take(&c, o.name_len);
    if (!o.name || o.name_len == 0 || o.name_len > ND_GROUP_NAME_MAX ||
        memchr(o.name, '\0', o.name_len))
      return -1;
    int named = o.kind == OP_COMMIT || o.kind == OP_DELETE_OFFSET;
    if (named || o.kind == OP_GROUP_TYPE) {
      lp = rc_take(&c, 2);
      o.topic_len = lp ? be16(lp) : 0;
      o.topic = lp ? rc_take(&c, o.topic_len) : NULL;
      if (!o.topic || o.topic_len == 0 ||
          o.topic_len > (named ? ND_TOPIC_NAME_MAX : ND_GROUP_NAME_MAX) ||
          (named && memchr(o.topic, '\0', o.topic_len)))
        return -1;
    } else if (o.kind != OP_DELETE_GROUP && o.kind != OP_DELETE_TOPIC) {
      return -1;
    }
    if (named) {
      const uint8_t *f = rc_take(&c, o.kind == OP_COMMIT ? 28 : 4);
      if (!f)
        return -1;
      o.partition = (int32_t)be32(f);
      o.meta_len = -1;
      if (o.kind == OP_COMMIT) {
        o.offset = (int64_t)be64(f + 4);
        o.epoch = (int32_t)be32(f + 12);
        o.time_ms = (int64_t)be64(f + 16);
        o.meta_len = (int32_t)be32(f + 24);
        if (o.meta_len < -1 ||
            (o.meta_len > 0 && !(o.meta = rc_take(&c, (size_t)o.meta_len))))
          return -1;
      }
    }
    int r = fn ? fn(ctx, &o) : 0;
    if (r)
      return r;
  }
  return c.p == c.end ? 0 : -1;
}

/* The map key of a commit or offset delete. */
static size_t op_key(char *key, const op *o) {
  memcpy(key, o->name, o->name_len);
  key[o->name_len] = '\0';
  memcpy(key + o->name_len + 1, o->topic, o->topic_len);
  key[o->name_len + 1 + o->topic_len] = '\0';
  put_be32((uint8_t *)key + o->name_len + o->topic_len + 2,
           (uint32_t)o->partition);
  return (size_t)o->name_len + o->topic_len + 6;
}

#define KEY_MAX (ND_GROUP_NAME_MAX + ND_TOPIC_NAME_MAX + 8)

static int apply_op(void *ctx, const op *o) {
  offsets_store *os = ctx;
  char key[KEY_MAX], name[ND_GROUP_NAME_MAX + 1];
  memcpy(name, o->name, o->name_len);
  name[o->name_len] = '\0';
  switch (o->kind) {
  case OP_DELETE_GROUP:
  case OP_DELETE_TOPIC:
    map_remove_matching(os, o->kind == OP_DELETE_GROUP ? 0 : 1, name);
    return 0;
  case OP_GROUP_TYPE:
    return map_put(os, key, type_key(key, name), 0, -1, 0,
                   (const char *)o->topic, o->topic_len, 0)
               ? -2
               : 0;
  case OP_DELETE_OFFSET:
    map_remove_key(os, key, op_key(key, o));
    return 0;
  default:
    return map_put(os, key, op_key(key, o), o->offset, o->epoch, o->time_ms,
                   (const char *)o->meta,
                   o->meta_len > 0 ? (size_t)o->meta_len : 0, o->meta_len < 0)
               ? -2
               : 0;
  }
}

/* ---- damage: found while loading, told through nd_options.on_log -------- */

enum { DMG_BYTES, DMG_CHECKSUM, DMG_OPS };
#define DAMAGE_LOGGED 16 /* ranges described one by one; the rest counted */
#define OPS_DESCRIBED 8  /* ops of a damaged frame named in its message */

typedef struct damage {
  size_t from, to;
  size_t hdr; /* DMG_CHECKSUM, DMG_OPS: the frame's header length */
  int kind;
} damage;

typedef struct text {
  char s[1000]; /* nd_log cuts lines at 1023 bytes */
  size_t n;
} text;

static void tx_add(text *t, const char *fmt, ...) ND_PRINTF(2, 3);
static void tx_add(text *t, const char *fmt, ...) {
  if (t->n >= sizeof t->s - 1)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
  va_end(ap);
  t->n = n < 0 ? t->n : t->n + (size_t)n;
  if (t->n >= sizeof t->s - 1)
    t->n = sizeof t->s - 1;
}

/* A name from an unchecked frame: quoted, bytes outside printable ASCII
 * escaped, long ones shortened. */
static void tx_name(text *t, const uint8_t *p, size_t n) {
  tx_add(t, "'");
  for (size_t i = 0; i < n && i < 64; i++)
    tx_add(t, p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' ? "%c" : "\\x%02x",
           p[i]);
  tx_add(t, n > 64 ? "...'" : "'");
}

typedef struct describer {
  offsets_store *os;
  text *t;
  uint32_t ops, more; /* ops named, ops only counted */
} describer;

static void tx_in_effect(text *t, offsets_store *os, const char *key,
                         size_t kl) {
  entry *e = slot_for(os, key, kl);
  if (e->key)
    tx_add(t, " (now %" PRId64 ")", e->offset);
  else
    tx_add(t, " (now none)");
}

static int describe_op(void *ctx, const op *o) {
  describer *ds = ctx;
  text *t = ds->t;
  /* Room is kept for the sentence that says what the loss means. */
  if (ds->ops >= OPS_DESCRIBED || t->n > sizeof t->s - 300) {
    ds->more++;
    return 0;
  }
  ds->ops++;
  char key[KEY_MAX];
  tx_add(t, "%s", ds->ops > 1 ? "; " : "");
  switch (o->kind) {
  case OP_DELETE_GROUP:
    tx_add(t, "delete of group ");
    tx_name(t, o->name, o->name_len);
    break;
  case OP_DELETE_TOPIC:
    tx_add(t, "delete of the offsets of topic ");
    tx_name(t, o->name, o->name_len);
    break;
  case OP_GROUP_TYPE:
    tx_add(t, "protocol type of group ");
    tx_name(t, o->name, o->name_len);
    break;
  default:
    tx_add(t, "%s group ", o->kind == OP_COMMIT ? "commit" : "offset delete");
    tx_name(t, o->name, o->name_len);
    tx_add(t, " topic ");
    tx_name(t, o->topic, o->topic_len);
    tx_add(t, " partition %" PRId32, o->partition);
    if (o->kind == OP_COMMIT)
      tx_add(t, " offset %" PRId64, o->offset);
    tx_in_effect(t, ds->os, key, op_key(key, o));
  }
  return 0;
}

/* One line for each damaged range, naming the file, the bytes and, where a
 * frame's header survived, what its ops appear to have been. Called after
 * the whole file is loaded, so "now" is what the store shows. */
static void log_damage(offsets_store *os, const uint8_t *d, const damage *dm,
                       int at_end) {
  /* Nothing valid after it: a write cut short by a power cut can look
   * like this (a frame's size reached the disk before all its bytes), so
   * the message does not claim more than it knows. */
  const char *how = at_end ? " at the end (a write cut short by a crash, or "
                             "damage); dropped"
                           : "; skipped, the frames after them are used";
  text t = {{0}, 0};
  tx_add(&t, "%s: bytes %zu-%zu ", os->path, dm->from, dm->to);
  if (dm->kind == DMG_BYTES) {
    tx_add(&t, "hold no valid frame%s. What they held is unknown", how);
  } else {
    const uint8_t *payload = d + dm->from + dm->hdr;
    size_t plen = dm->to - dm->from - dm->hdr;
    tx_add(&t, "are a frame %s%s. It %s: ",
           dm->kind == DMG_CHECKSUM
               ? "that fails its checksum"
               : "whose checksum holds but whose ops do not parse",
           how,
           dm->kind == DMG_CHECKSUM ? "appears to hold (unchecked)" : "holds");
    describer ds = {os, &t, 0, 0};
    int r = parse_ops(payload, plen, describe_op, &ds);
    if (ds.more)
      tx_add(&t, "; and %" PRIu32 " more ops", ds.more);
    if (r)
      tx_add(&t, "%sops that do not parse", ds.ops ? "; then " : "");
  }
  tx_add(&t, ". A lost commit leaves the one before it (or none) in effect; "
             "a lost delete leaves what it deleted");
  nd_log(&os->log, ND_LOG_WARN, "%s", t.s);
}

/* ---- loading ------------------------------------------------------------ */

enum { F_VALID, F_CHECKSUM, F_TORN, F_NONE };

enum { FORM1_NO, FORM1_AT_BOUNDARY, FORM1_RESYNC };

/* What starts at pos: a frame of form 2 whose header checks (whole or
 * cut by the end of the file, payload checksum right or wrong), a form-1
 * frame whose checksum holds (form1: only where form 1 may still occur),
 * or nothing recognisable. *flen: the frame's whole length. */
static int frame_at(const uint8_t *d, size_t len, size_t pos, int form1,
                    size_t *flen, int *form) {
  size_t left = len - pos;
  const uint8_t *h = d + pos;
  if (left >= FRAME_HEADER && be32(h) == FRAME_MAGIC &&
      nd_crc32c(0, h, 12) == be32(h + 12)) {
    uint32_t plen = be32(h + 4);
    *form = 2;
    *flen = FRAME_HEADER + (size_t)plen;
    if (plen > left - FRAME_HEADER)
      return F_TORN;
    return nd_crc32c(0, h + FRAME_HEADER, plen) == be32(h + 8) ? F_VALID
                                                               : F_CHECKSUM;
  }
  if (form1 && left >= FRAME1_HEADER + 5) {
    uint32_t plen = be32(h);
    const uint8_t *payload = h + FRAME1_HEADER;
    /* Cheap tests first. Resynchronising tries every byte, and a form-1
     * header has nothing but its checksum to check in full: the CRC of a
     * length read from damaged bytes, at each position, would make
     * loading quadratic (a file of 0x01 bytes: a 16 MiB CRC per byte), so
     * there the ops must parse first, which damaged bytes fail early. */
    if (payload[0] == PAYLOAD_VERSION && plen >= 5 &&
        plen <= left - FRAME1_HEADER &&
        (form1 != FORM1_RESYNC || parse_ops(payload, plen, NULL, NULL) == 0) &&
        nd_crc32c(0, payload, plen) == be32(h + 4)) {
      *form = 1;
      *flen = FRAME1_HEADER + (size_t)plen;
      return F_VALID;
    }
  }
  return F_NONE;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

typedef struct loaded {
  damage dmg[DAMAGE_LOGGED];
  size_t ndmg, dmg_total; /* described, found */
  uint64_t dmg_bytes;
  size_t end_valid; /* end of the last frame applied */
  int form1;        /* frames of form 1 were met */
  int torn;         /* the bytes after end_valid are a torn write */
} loaded;

static void note_damage(loaded *ld, size_t from, size_t to, size_t hdr,
                        int kind) {
  if (ld->ndmg < DAMAGE_LOGGED)
    ld->dmg[ld->ndmg++] = (damage){from, to, hdr, kind};
  ld->dmg_total++;
  ld->dmg_bytes += to - from;
}

/* Apply every valid frame of d to the map. A frame that fails its
 * checksum, or whose ops do not parse, is skipped whole (its header gave
 * its length); bytes that start no frame are skipped up to the next
 * position where one starts (resynchronisation). What follows the last
 * valid frame is a torn write if it is a frame cut by the end of the file,
 * zeros, or shorter than a header. */
static int load_frames(offsets_store *os, const uint8_t *d, size_t len,
                       loaded *ld) {
  size_t pos = 0;
  int seen2 = 0; /* no form-1 frame follows one of form 2 */
  while (pos < len) {
    size_t flen;
    int form, k = frame_at(d, len, pos, seen2 ? FORM1_NO : FORM1_AT_BOUNDARY,
                           &flen, &form);
    if (k == F_TORN)
      break;
    if (k == F_NONE) {
      size_t q = pos + 1;
      while (q < len && frame_at(d, len, q, seen2 ? FORM1_NO : FORM1_RESYNC,
                                 &flen, &form) == F_NONE)
        q++;
      if (q == len)
        break;
      note_damage(ld, pos, q, 0, DMG_BYTES);
      pos = q;
      continue;
    }
    seen2 |= form == 2;
    ld->form1 |= form == 1;
    size_t hdr = form == 2 ? FRAME_HEADER : FRAME1_HEADER;
    const uint8_t *payload = d + pos + hdr;
    size_t plen = flen - hdr;
    int r = -1;
    if (k == F_VALID && (r = parse_ops(payload, plen, NULL, NULL)) == 0)
      r = parse_ops(payload, plen, apply_op, os);
    if (r == -2)
      return nd_fail(ND_ENOMEM, "out of memory loading %s", os->path);
    if (r == 0)
      ld->end_valid = pos + flen;
    else
      note_damage(ld, pos, pos + flen, hdr,
                  k == F_VALID ? DMG_OPS : DMG_CHECKSUM);
    pos += flen;
  }
  if (pos < len) {
    size_t flen;
    int form;
    ld->torn = pos == ld->end_valid &&
               (len - pos < FRAME_HEADER || all_zero(d + pos, len - pos) ||
                frame_at(d, len, pos, FORM1_NO, &flen, &form) == F_TORN);
    if (!ld->torn)
      note_damage(ld, pos, len, 0, DMG_BYTES);
  }
  return 0;
}

static int replay(offsets_store *os) {
  char *data;
  size_t len;
  int rc = file_read_all(os->path, &data, &len);
  if (rc == -ENOENT)
    return 0;
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", os->path);
  const uint8_t *d = (const uint8_t *)data;
  loaded ld;
  memset(&ld, 0, sizeof ld);
  rc = load_frames(os, d, len, &ld);
  if (!rc) {
    for (size_t i = 0; i < ld.ndmg; i++)
      log_damage(os, d, &ld.dmg[i], ld.dmg[i].from >= ld.end_valid);
    if (ld.dmg_total > ld.ndmg)
      nd_log(&os->log, ND_LOG_WARN,
             "%s: %zu more damaged ranges skipped (%" PRIu64
             " damaged bytes in all)",
             os->path, ld.dmg_total - ld.ndmg, ld.dmg_bytes);
    if (ld.torn)
      nd_log(&os->log, ND_LOG_INFO,
             "%s: the %zu bytes from byte %zu are a write cut short by a "
             "crash (an incomplete frame, or zeros)%s",
             os->path, len - ld.end_valid, ld.end_valid,
             os->readonly ? "" : "; cut");
  }
  free(data);
  os->file_size = len;
  if (rc || os->readonly)
    return rc;
  if (ld.dmg_total || ld.form1) {
    /* The damaged bytes go in a rewrite, not by cutting the file there:
     * frames after them are valid. The damaged file is kept (a hard link
     * to it survives the rename) for whoever wants to look at it. */
    char keep[PATH_MAX + 16];
    snprintf(keep, sizeof keep, "%s" LAYOUT_DAMAGED, os->path);
    int kept = 0;
    if (ld.dmg_total) {
      file_unlink(keep);
      kept = file_link(os->path, keep) == 0;
    }
    uint64_t size;
    if (write_checkpoint(os, &size) == 0) {
      os->file_size = size;
      if (ld.dmg_total)
        nd_log(&os->log, ND_LOG_INFO,
               "%s: rewritten without the damaged bytes%s%s", os->path,
               kept ? "; the damaged file is kept as " : "", kept ? keep : "");
      return 0;
    }
    /* Without a rewrite (disk full?) the file still works: the next frame
     * is appended after the last valid one, and the damage is met (and
     * told) again at the next open. The link would not stay a copy of the
     * damaged file: it shares the inode that is cut and appended to. */
    if (kept)
      file_unlink(keep);
    nd_log(&os->log, ND_LOG_WARN,
           "%s; the file is used as it is and the damage will be met "
           "again at the next open",
           nd_errmsg());
  }
  if (ld.end_valid < len) {
    /* Nothing valid follows the last valid frame: cut the rest, or a
     * frame appended after it could be swallowed by a torn frame's
     * length. */
    int fd = file_open(os->path, O_RDWR);
    if (fd < 0)
      return nd_fail_os(-fd, "cannot open %s", os->path);
    rc = file_truncate(fd, (off_t)ld.end_valid);
    if (!rc)
      rc = file_datasync(fd);
    file_close(fd);
    if (rc)
      return nd_fail_os(-rc, "cannot truncate %s at byte %zu", os->path,
                        ld.end_valid);
    os->file_size = ld.end_valid;
  }
  return 0;
}

/* ---- open / close ------------------------------------------------------- */

int offsets_open(const char *dir, int readonly, const nd_logger *log,
                 offsets_store **out) {
  offsets_store *os = calloc(1, sizeof *os);
  if (!os)
    return nd_fail(ND_ENOMEM, "out of memory");
  if (log)
    os->log = *log;
  os->fd = -1;
  os->readonly = readonly;
  snprintf(os->dir, sizeof os->dir, "%s", dir);
  snprintf(os->path, sizeof os->path, "%s/" LAYOUT_OFFSETS_LOG, dir);
  pthread_mutex_init(&os->mu, NULL);
  pthread_mutex_init(&os->sync_mu, NULL);
  pthread_cond_init(&os->sync_cond, NULL);
  int rc = 0;
  if (!readonly && (rc = file_mkdir(dir)) != 0)
    rc = rc == -EEXIST ? 0 : nd_fail_os(-rc, "cannot create %s", dir);
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s" LAYOUT_TMP, os->path);
  if (!rc && !readonly)
    file_unlink(tmp); /* an interrupted compaction; the old file is whole */
  if (!rc)
    rc = grow(os) ? nd_fail(ND_ENOMEM, "out of memory") : 0;
  if (!rc)
    rc = replay(os);
  if (!rc && !readonly) {
    os->fd = file_open(os->path, O_RDWR | O_CREAT);
    if (os->fd < 0) {
      rc = nd_fail_os(-os->fd, "cannot open %s", os->path);
      os->fd = -1;
    }
  }
  if (rc) {
    offsets_close(os);
    return rc;
  }
  *out = os;
  return 0;
}

int offsets_close(offsets_store *os) {
  if (!os)
    return 0;
  int rc = 0;
  if (os->fd >= 0) {
    if (os->synced < os->written)
      rc = file_datasync(os->fd);
    file_close(os->fd);
  }
  for (size_t i = 0; i < os->cap; i++)
    if (os->slots[i].key)
      entry_free(&os->slots[i]);
  free(os->slots);
  pthread_mutex_destroy(&os->mu);
  pthread_mutex_destroy(&os->sync_mu);
  pthread_cond_destroy(&os->sync_cond);
  free(os);
  return rc ? nd_fail_os(-rc, "fdatasync of offsets log") : 0;
}

/* A copy of e's metadata with its NUL terminator (NULL for none); *fail set
 * when out of memory. */
static char *meta_dup(const entry *e, int *fail) {
  if (!e->metadata)
    return NULL;
  char *m = malloc(e->meta_len + 1);
  if (m)
    memcpy(m, e->metadata, e->meta_len + 1);
  else
    *fail = 1;
  return m;
}

/* ---- writing ------------------------------------------------------------ */

size_t offsets_meta_len(const nd_offset_commit *c) {
  if (!c->metadata)
    return 0;
  return c->metadata_len ? c->metadata_len : strlen(c->metadata);
}

/* Group commit over the offsets file, as partitions do for their logs. */
static int sync_upto(offsets_store *os, uint64_t frame) {
  int rc = 0;
  pthread_mutex_lock(&os->sync_mu);
  while (os->synced < frame) {
    if (os->syncing) {
      pthread_cond_wait(&os->sync_cond, &os->sync_mu);
      continue;
    }
    if (os->failed) {
      rc = nd_fail(ND_EFAILED, "%s failed after an I/O error", os->path);
      break;
    }
    os->syncing = 1;
    pthread_mutex_unlock(&os->sync_mu);
    pthread_mutex_lock(&os->mu);
    uint64_t target = os->written;
    int fd = os->fd;
    pthread_mutex_unlock(&os->mu);
    int src = file_datasync(fd);
    pthread_mutex_lock(&os->sync_mu);
    os->syncing = 0;
    pthread_cond_broadcast(&os->sync_cond);
    if (src) {
      os->failed = 1;
      rc = nd_fail_os(-src, "fdatasync %s", os->path);
      break;
    }
    if (target > os->synced)
      os->synced = target;
  }
  pthread_mutex_unlock(&os->sync_mu);
  return rc;
}

/* Append a finished frame; on failure nothing of it stays. */
static int append_frame(offsets_store *os, wbuf *b, uint64_t *frame_no) {
  if (os->failed)
    return nd_fail(ND_EFAILED, "%s failed after an I/O error", os->path);
  int rc = file_pwrite_all(os->fd, b->p, b->len, (off_t)os->file_size);
  if (rc) {
    if (file_truncate(os->fd, (off_t)os->file_size) != 0)
      os->failed = 1;
    return nd_fail_os(-rc, "append to %s at byte %" PRIu64, os->path,
                      os->file_size);
  }
  os->file_size += b->len;
  *frame_no = ++os->written;
  return 0;
}

int offsets_commit(offsets_store *os, const char *group,
                   const nd_offset_commit *c, size_t n, int64_t now_ms) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  wbuf b = {0};
  size_t g = strlen(group);
  int rc = wb_frame_start(&b);
  for (size_t i = 0; !rc && i < n; i++)
    rc = wb_commit_op(&b, group, g, c[i].topic, strlen(c[i].topic),
                      c[i].partition, c[i].offset, c[i].leader_epoch, now_ms,
                      c[i].metadata, offsets_meta_len(&c[i]));
  if (rc) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  wb_frame_finish(&b, (uint32_t)n);
  uint64_t frame;
  pthread_mutex_lock(&os->mu);
  rc = append_frame(os, &b, &frame);
  char key[2 * ND_TOPIC_NAME_MAX + ND_GROUP_NAME_MAX + 8];
  for (size_t i = 0; !rc && i < n; i++) {
    size_t kl = make_key(key, group, c[i].topic, c[i].partition);
    const char *m = c[i].metadata;
    if (map_put(os, key, kl, c[i].offset, c[i].leader_epoch, now_ms, m,
                offsets_meta_len(&c[i]), m == NULL) != 0)
      rc = nd_fail(ND_ENOMEM, "out of memory");
  }
  pthread_mutex_unlock(&os->mu);
  free(b.p);
  return rc ? rc : sync_upto(os, frame);
}

static int write_delete(offsets_store *os, int kind, const char *name) {
  wbuf b = {0};
  size_t len = strlen(name);
  int rc = wb_frame_start(&b);
  if (!rc)
    rc = wb_reserve(&b, 3 + len);
  if (rc) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  wb_u8(&b, (uint8_t)kind);
  wb_u16(&b, (uint16_t)len);
  wb_bytes(&b, name, len);
  wb_frame_finish(&b, 1);
  uint64_t frame;
  rc = append_frame(os, &b, &frame);
  free(b.p);
  if (rc)
    return rc;
  map_remove_matching(os, kind == OP_DELETE_GROUP ? 0 : 1, name);
  pthread_mutex_unlock(&os->mu);
  rc = sync_upto(os, frame);
  pthread_mutex_lock(&os->mu);
  return rc;
}

int offsets_delete_group(offsets_store *os, const char *group) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  pthread_mutex_lock(&os->mu);
  int found = 0;
  for (size_t i = 0; i < os->cap && !found; i++)
    found = os->slots[i].key && !strcmp(os->slots[i].key, group);
  int rc = found ? write_delete(os, OP_DELETE_GROUP, group)
                 : nd_fail(ND_ENOTFOUND, "group '%s' has no offsets", group);
  pthread_mutex_unlock(&os->mu);
  return rc;
}

int offsets_delete_topic(offsets_store *os, const char *topic) {
  if (os->readonly)
    return 0;
  pthread_mutex_lock(&os->mu);
  int found = 0;
  for (size_t i = 0; i < os->cap && !found; i++)
    found = os->slots[i].key &&
            !strcmp(os->slots[i].key + strlen(os->slots[i].key) + 1, topic);
  int rc = found ? write_delete(os, OP_DELETE_TOPIC, topic) : 0;
  pthread_mutex_unlock(&os->mu);
  return rc;
}

int offsets_set_type(offsets_store *os, const char *group, const char *type) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  char key[ND_GROUP_NAME_MAX + 8];
  size_t kl = type_key(key, group), tl = strlen(type);
  pthread_mutex_lock(&os->mu);
  entry *e = slot_for(os, key, kl);
  if (e->key && e->meta_len == tl && !memcmp(e->metadata, type, tl)) {
    pthread_mutex_unlock(&os->mu);
    return 0; /* the common case: every rebalance of a group says it again */
  }
  wbuf b = {0};
  int rc = wb_frame_start(&b);
  if (!rc)
    rc = wb_type_op(&b, group, strlen(group), type, tl);
  if (rc) {
    rc = nd_fail(ND_ENOMEM, "out of memory");
  } else {
    wb_frame_finish(&b, 1);
    uint64_t frame;
    rc = append_frame(os, &b, &frame);
  }
  if (!rc && map_put(os, key, kl, 0, -1, 0, type, tl, 0) != 0)
    rc = nd_fail(ND_ENOMEM, "out of memory");
  pthread_mutex_unlock(&os->mu);
  free(b.p);
  return rc;
}

int offsets_get_type(offsets_store *os, const char *group, char **type) {
  char key[ND_GROUP_NAME_MAX + 8];
  size_t kl = type_key(key, group);
  int oom = 0;
  pthread_mutex_lock(&os->mu);
  entry *e = slot_for(os, key, kl);
  *type = e->key ? meta_dup(e, &oom) : NULL;
  pthread_mutex_unlock(&os->mu);
  return oom ? nd_fail(ND_ENOMEM, "out of memory") : 0;
}

int offsets_delete_partitions(offsets_store *os, const char *group,
                              const nd_topic_partition *parts, size_t n) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  char key[2 * ND_TOPIC_NAME_MAX + ND_GROUP_NAME_MAX + 8];
  size_t g = strlen(group);
  wbuf b = {0};
  int rc = wb_frame_start(&b);
  uint32_t ops = 0;
  pthread_mutex_lock(&os->mu);
  for (size_t i = 0; !rc && i < n; i++) {
    size_t kl = make_key(key, group, parts[i].topic, parts[i].partition);
    if (!os->cap || !slot_for(os, key, kl)->key)
      continue; /* nothing committed: nothing to forget */
    size_t t = strlen(parts[i].topic);
    if ((rc = wb_reserve(&b, 1 + 2 + g + 2 + t + 4)) != 0)
      break;
    wb_u8(&b, OP_DELETE_OFFSET);
    wb_u16(&b, (uint16_t)g);
    wb_bytes(&b, group, g);
    wb_u16(&b, (uint16_t)t);
    wb_bytes(&b, parts[i].topic, t);
    wb_u32(&b, (uint32_t)parts[i].partition);
    ops++;
  }
  if (rc) {
    pthread_mutex_unlock(&os->mu);
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  uint64_t frame = 0;
  if (ops) {
    wb_frame_finish(&b, ops);
    rc = append_frame(os, &b, &frame);
    for (size_t i = 0; !rc && i < n; i++) {
      size_t kl = make_key(key, group, parts[i].topic, parts[i].partition);
      map_remove_key(os, key, kl);
    }
  }
  pthread_mutex_unlock(&os->mu);
  free(b.p);
  return rc || !ops ? rc : sync_upto(os, frame);
}

/* ---- reading ------------------------------------------------------------
 */

int offsets_get(offsets_store *os, const char *group, const char *topic,
                int32_t partition, int64_t *offset, int32_t *epoch,
                char **metadata, size_t *metadata_len) {
  char key[2 * ND_TOPIC_NAME_MAX + ND_GROUP_NAME_MAX + 8];
  size_t kl = make_key(key, group, topic, partition);
  int rc = 0;
  pthread_mutex_lock(&os->mu);
  entry *e = slot_for(os, key, kl);
  *offset = e->key ? e->offset : -1;
  if (epoch)
    *epoch = e->key ? e->epoch : -1;
  if (metadata_len)
    *metadata_len = e->key ? e->meta_len : 0;
  if (metadata) {
    int oom = 0;
    *metadata = e->key ? meta_dup(e, &oom) : NULL;
    if (oom)
      rc = nd_fail(ND_ENOMEM, "out of memory");
  }
  pthread_mutex_unlock(&os->mu);
  return rc;
}

static int cmp_committed(const void *a, const void *b) {
  const nd_committed *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

int offsets_list(offsets_store *os, const char *group, nd_committed **list,
                 size_t *count) {
  *list = NULL;
  *count = 0;
  pthread_mutex_lock(&os->mu);
  size_t n = 0;
  for (size_t i = 0; i < os->cap; i++)
    n += os->slots[i].key && !strcmp(os->slots[i].key, group) &&
         !is_type_entry(&os->slots[i]);
  nd_committed *out = n ? calloc(n, sizeof *out) : NULL;
  size_t k = 0;
  int rc = n && !out ? ND_ENOMEM : 0;
  for (size_t i = 0; !rc && i < os->cap; i++) {
    entry *e = &os->slots[i];
    if (!e->key || strcmp(e->key, group) || is_type_entry(e))
      continue;
    const char *t = e->key + strlen(e->key) + 1;
    out[k].topic = strdup(t);
    out[k].partition = (int32_t)be32((const uint8_t *)t + strlen(t) + 1);
    out[k].offset = e->offset;
    out[k].leader_epoch = e->epoch;
    int oom = 0;
    out[k].metadata = meta_dup(e, &oom);
    out[k].metadata_len = e->meta_len;
    if (!out[k].topic || oom)
      rc = ND_ENOMEM;
    k++;
  }
  pthread_mutex_unlock(&os->mu);
  if (rc) {
    nd_committed_free(out, k);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  if (n > 1)
    qsort(out, n, sizeof *out, cmp_committed);
  *list = out;
  *count = n;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int offsets_groups(offsets_store *os, char ***names, size_t *count) {
  *names = NULL;
  *count = 0;
  pthread_mutex_lock(&os->mu);
  char **out = os->count ? malloc(os->count * sizeof *out) : NULL;
  size_t n = 0;
  int rc = os->count && !out ? ND_ENOMEM : 0;
  for (size_t i = 0; !rc && i < os->cap; i++) {
    if (!os->slots[i].key || is_type_entry(&os->slots[i]))
      continue;
    int seen = 0;
    for (size_t j = 0; j < n && !seen; j++)
      seen = !strcmp(out[j], os->slots[i].key);
    if (!seen && !(out[n++] = strdup(os->slots[i].key)))
      rc = ND_ENOMEM;
  }
  pthread_mutex_unlock(&os->mu);
  if (rc) {
    nd_names_free(out, n);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  if (n > 1)
    qsort(out, n, sizeof *out, cmp_str);
  *names = out;
  *count = n;
  return 0;
}

void nd_committed_free(nd_committed *list, size_t count) {
  for (size_t i = 0; list && i < count; i++) {
    free(list[i].topic);
    free(list[i].metadata);
  }
  free(list);
}

void nd_names_free(char **names, size_t count) {
  for (size_t i = 0; names && i < count; i++)
    free(names[i]);
  free(names);
}

/* ---- compaction ---------------------------------------------------------
 */

int offsets_maintain(offsets_store *os) {
  if (os->readonly)
    return 0;
  pthread_mutex_lock(&os->mu);
  if (os->file_size < COMPACT_MIN_BYTES ||
      os->file_size < 4 * (os->live_bytes + FRAME_HEADER + 5)) {
    pthread_mutex_unlock(&os->mu);
    return 0;
  }
  /* No fdatasync may run on the old descriptor while it is replaced. */
  pthread_mutex_lock(&os->sync_mu);
  while (os->syncing)
    pthread_cond_wait(&os->sync_cond, &os->sync_mu);
  uint64_t size;
  int rc = write_checkpoint(os, &size);
  struct stat now, old;
  if (rc && file_stat(os->path, &now) == 0 && file_fstat(os->fd, &old) == 0 &&
      (now.st_ino != old.st_ino || now.st_dev != old.st_dev)) {
    /* The rename happened but the directory's fsync failed: appending to
     * the old descriptor would write to an unlinked file, and the new
     * name is not known durable. A failed sync is sticky here as for
     * partitions: commits fail until the store is reopened, which reads
     * whichever file the name holds (both have every commit so far). */
    os->failed = 1;
  }
  if (!rc) {
    int fd = file_open(os->path, O_RDWR);
    if (fd < 0) {
      /* The compacted file is in place but cannot be reopened: stop
       * writing rather than append to the unlinked old file. */
      os->failed = 1;
      rc = nd_fail_os(-fd, "cannot reopen %s", os->path);
    } else {
      file_close(os->fd);
      os->fd = fd;
      os->file_size = size;
      os->synced = os->written; /* the new file was fsynced whole */
    }
  }
  pthread_mutex_unlock(&os->sync_mu);
  pthread_mutex_unlock(&os->mu);
  return rc;
}
