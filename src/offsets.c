/* SPDX-License-Identifier: Apache-2.0 */
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
#include "framelog.h"
#include "layout.h"

#define FRAME_MAGIC 0x894F4653u /* "\x89OFS" */
#define PAYLOAD_VERSION 1
#define CHECKPOINT_FRAME_BYTES 4096
#define OP_COMMIT 1
#define OP_DELETE_GROUP 2
#define OP_DELETE_TOPIC 3
#define OP_GROUP_TYPE 4
#define OP_DELETE_OFFSET 5
#define OP_GROUP_STATE 6
#define COMPACT_MIN_BYTES (64 * 1024)
/* The map: every entry (a commit, a group's type, a group's state) under
 * its key, and beside it an index by group, so that what asks for one
 * group (its offsets, its deletion) or for the groups costs the entries of
 * that group or the number of groups, not a walk of every entry: with
 * thousands of groups, a broker listing each group's offsets in turn
 * walked the whole map once per group.
 *
 * Entries and groups are allocated one by one and the tables hold
 * pointers, so moving a slot (growth, removal) never moves a node and a
 * group's list stays valid. A group lives as long as it has an entry: its
 * record goes with its last one. */
typedef struct hnode {
  uint64_t hash;
  size_t key_len;
  const char *key;
} hnode;

/* Open addressing, linear probing; NULL = empty; cap a power of two. */
typedef struct htab {
  hnode **slots;
  size_t cap, count;
} htab;

typedef struct group_rec group_rec;

typedef struct entry {
  hnode h; /* key: group \0 topic \0 partition(4 bytes), in keybuf */
  group_rec *g;
  struct entry *prev, *next; /* g's entries, in no order */
  int kind;                  /* ENTRY_*, from the key */
  int32_t epoch;
  int64_t offset;
  int64_t time_ms;
  char *metadata; /* NUL-terminated copy; may hold NULs (meta_len says) */
  size_t meta_len;
  char keybuf[];
} entry;

struct group_rec {
  hnode h; /* key: the name, without its NUL */
  entry *first;
  /* offsets_list's count, and offsets_groups' rule: a group is listed
   * for its commits or its state, not for a protocol type alone. */
  size_t commits, listed;
  char name[];
};

struct offsets_store {
  framelog fl; /* offsets.log: frames, group commit, checkpoints */
  int fl_open; /* fl is open (fl_close due) */
  int readonly;
  pthread_mutex_t mu;  /* map, groups, appends */
  htab map;            /* entry by key */
  htab groups;         /* group by name */
  uint64_t live_bytes; /* bytes the live entries need as ops */
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

static hnode **tab_slot(const htab *t, uint64_t hash, const char *key,
                        size_t len) {
  size_t mask = t->cap - 1;
  size_t i = (size_t)hash & mask;
  for (hnode *n; (n = t->slots[i]) != NULL; i = (i + 1) & mask)
    if (n->hash == hash && n->key_len == len && !memcmp(n->key, key, len))
      break;
  return &t->slots[i];
}

/* Room for one more node: 0, or ND_ENOMEM with t unchanged. */
static int tab_reserve(htab *t) {
  if (t->cap && (t->count + 1) * 4 <= t->cap * 3)
    return 0;
  size_t cap = t->cap ? t->cap * 2 : 64;
  hnode **slots = calloc(cap, sizeof *slots);
  if (!slots)
    return ND_ENOMEM;
  htab old = *t;
  t->slots = slots;
  t->cap = cap;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i])
      *tab_slot(t, old.slots[i]->hash, old.slots[i]->key,
                old.slots[i]->key_len) = old.slots[i];
  free(old.slots);
  return 0;
}

/* Empty slot s, re-inserting the cluster after it (linear probing). */
static void tab_remove(htab *t, hnode **s) {
  *s = NULL;
  t->count--;
  size_t mask = t->cap - 1;
  for (size_t j = ((size_t)(s - t->slots) + 1) & mask; t->slots[j];
       j = (j + 1) & mask) {
    hnode *n = t->slots[j];
    t->slots[j] = NULL;
    *tab_slot(t, n->hash, n->key, n->key_len) = n;
  }
}

static size_t make_key(char *buf, const char *group, const char *topic,
                       int32_t partition) {
  size_t g = strlen(group), t = strlen(topic);
  memcpy(buf, group, g + 1);
  memcpy(buf + g + 1, topic, t + 1);
  put_be32((uint8_t *)buf + g + t + 2, (uint32_t)partition);
  return g + t + 6;
}

static entry *map_find(const offsets_store *os, const char *key, size_t len) {
  return (entry *)*tab_slot(&os->map, fnv1a(key, len), key, len);
}

static group_rec *group_find(const offsets_store *os, const char *name,
                             size_t len) {
  return (group_rec *)*tab_slot(&os->groups, fnv1a(name, len), name, len);
}

static uint64_t op_size(size_t group_len, size_t topic_len, size_t meta_len) {
  return 1 + 2 + group_len + 2 + topic_len + 4 + 8 + 4 + 8 + 4 + meta_len;
}

/* A group's protocol type and its coordinator state are kept in the map
 * under keys no commit can have: an empty topic name (topics are never
 * nameless) and partition -1 (the type) or -2 (the state); the type or
 * the state is the entry's metadata. */
#define TYPE_PARTITION (-1)
#define STATE_PARTITION (-2)
enum { ENTRY_COMMIT, ENTRY_TYPE, ENTRY_STATE };

static size_t type_key(char *buf, const char *group) {
  return make_key(buf, group, "", TYPE_PARTITION);
}

static size_t state_key(char *buf, const char *group) {
  return make_key(buf, group, "", STATE_PARTITION);
}

static int key_kind(const char *key) {
  size_t g = strlen(key);
  if (key[g + 1] != '\0')
    return ENTRY_COMMIT;
  return (int32_t)be32((const uint8_t *)key + g + 2) == TYPE_PARTITION
             ? ENTRY_TYPE
             : ENTRY_STATE;
}

static uint64_t type_op_size(size_t group_len, size_t type_len) {
  return 1 + 2 + group_len + 2 + type_len;
}

static uint64_t state_op_size(size_t group_len, size_t state_len) {
  return 1 + 2 + group_len + 4 + (uint64_t)state_len;
}

static uint64_t entry_op_size(const entry *e) {
  size_t g = strlen(e->h.key);
  switch (e->kind) {
  case ENTRY_TYPE:
    return type_op_size(g, e->meta_len);
  case ENTRY_STATE:
    return state_op_size(g, e->meta_len);
  default:
    return op_size(g, strlen(e->h.key + g + 1), e->meta_len);
  }
}

/* An entry for key, in no table yet (its values zero, no metadata), or
 * NULL when out of memory. */
static entry *entry_new(const char *key, size_t len) {
  entry *e = calloc(1, sizeof *e + len);
  if (!e)
    return NULL;
  memcpy(e->keybuf, key, len);
  e->h.hash = fnv1a(key, len);
  e->h.key_len = len;
  e->h.key = e->keybuf;
  e->kind = key_kind(e->keybuf);
  return e;
}

static void entry_free(entry *e) {
  if (e)
    free(e->metadata);
  free(e);
}

/* A record for the group of key, in no table yet, or NULL when out of
 * memory. */
static group_rec *group_new(const char *key) {
  size_t len = strlen(key);
  group_rec *g = calloc(1, sizeof *g + len + 1);
  if (!g)
    return NULL;
  memcpy(g->name, key, len + 1);
  g->h.hash = fnv1a(key, len);
  g->h.key_len = len;
  g->h.key = g->name;
  return g;
}

/* Room in both tables for one more entry and one more group, so that
 * entry_link cannot fail: 0 or ND_ENOMEM (growth is harmless either way). */
static int map_reserve(offsets_store *os) {
  return tab_reserve(&os->map) || tab_reserve(&os->groups) ? ND_ENOMEM : 0;
}

/* Put e (not in the map; its key in none of it) into the map and at the
 * head of its group's list. Room was reserved (map_reserve); a group that
 * has no record yet takes *spare, which the caller made beforehand
 * (group_new) so that nothing here can fail; *spare is set to NULL when
 * taken. */
static void entry_link(offsets_store *os, entry *e, group_rec **spare) {
  *tab_slot(&os->map, e->h.hash, e->h.key, e->h.key_len) = &e->h;
  os->map.count++;
  size_t gl = strlen(e->h.key);
  hnode **gs = tab_slot(&os->groups, fnv1a(e->h.key, gl), e->h.key, gl);
  if (!*gs) {
    *gs = &(*spare)->h;
    *spare = NULL;
    os->groups.count++;
  }
  group_rec *g = (group_rec *)*gs;
  e->g = g;
  e->prev = NULL;
  e->next = g->first;
  if (g->first)
    g->first->prev = e;
  g->first = e;
  g->commits += e->kind == ENTRY_COMMIT;
  g->listed += e->kind != ENTRY_TYPE;
  os->live_bytes += entry_op_size(e);
}

/* Take e out of the map and its group's list, and free it; the group
 * goes with its last entry. */
static void entry_remove(offsets_store *os, entry *e) {
  tab_remove(&os->map, tab_slot(&os->map, e->h.hash, e->h.key, e->h.key_len));
  os->live_bytes -= entry_op_size(e);
  group_rec *g = e->g;
  if (e->prev)
    e->prev->next = e->next;
  else
    g->first = e->next;
  if (e->next)
    e->next->prev = e->prev;
  g->commits -= e->kind == ENTRY_COMMIT;
  g->listed -= e->kind != ENTRY_TYPE;
  if (!g->first) {
    tab_remove(&os->groups,
               tab_slot(&os->groups, g->h.hash, g->h.key, g->h.key_len));
    free(g);
  }
  entry_free(e);
}

/* Set e's values, replacing its metadata with meta (taken). */
static void entry_set(offsets_store *os, entry *e, int64_t offset,
                      int32_t epoch, int64_t time_ms, char *meta,
                      size_t meta_len) {
  os->live_bytes -= entry_op_size(e);
  free(e->metadata);
  e->offset = offset;
  e->epoch = epoch;
  e->time_ms = time_ms;
  e->metadata = meta;
  e->meta_len = meta ? meta_len : 0;
  os->live_bytes += entry_op_size(e);
}

static int map_put(offsets_store *os, const char *key, size_t key_len,
                   int64_t offset, int32_t epoch, int64_t time_ms,
                   const char *metadata, size_t meta_len, int meta_null) {
  char *meta = NULL;
  if (!meta_null) {
    meta = malloc(meta_len + 1);
    if (!meta)
      return ND_ENOMEM;
    if (meta_len)
      memcpy(meta, metadata, meta_len);
    meta[meta_len] = '\0';
  }
  entry *e = map_find(os, key, key_len);
  if (!e) {
    group_rec *spare = NULL;
    if (map_reserve(os) != 0 || !(e = entry_new(key, key_len)) ||
        (!group_find(os, key, strlen(key)) && !(spare = group_new(key)))) {
      entry_free(e);
      free(meta);
      return ND_ENOMEM;
    }
    entry_link(os, e, &spare);
  }
  entry_set(os, e, offset, epoch, time_ms, meta, meta_len);
  return 0;
}

/* Remove the entry with this key, if there is one. Returns 1 if removed. */
static int map_remove_key(offsets_store *os, const char *key, size_t len) {
  entry *e = map_find(os, key, len);
  if (!e)
    return 0;
  entry_remove(os, e);
  return 1;
}

/* Remove every entry of a group: the group's list, not the map. */
static int map_remove_group(offsets_store *os, const char *name) {
  group_rec *g = group_find(os, name, strlen(name));
  int removed = 0;
  /* The last removal frees g: its list is followed by next pointers
   * taken before each removal. */
  for (entry *e = g ? g->first : NULL, *next; e; e = next) {
    next = e->next;
    entry_remove(os, e);
    removed++;
  }
  return removed;
}

/* Remove every entry of a topic. Deleting a topic is rare, so this walks
 * the whole map rather than keep an index by topic too. */
static int map_remove_topic(offsets_store *os, const char *topic) {
  int removed = 0;
  for (size_t i = 0; i < os->map.cap;) {
    entry *e = (entry *)os->map.slots[i];
    if (e && !strcmp(e->h.key + strlen(e->h.key) + 1, topic)) {
      entry_remove(os, e);
      removed++;
      continue; /* slot i now holds a moved entry (or is empty) */
    }
    i++;
  }
  return removed;
}

/* ---- encoding ----------------------------------------------------------- */

static int wb_commit_op(fl_buf *b, const char *group, size_t g,
                        const char *topic, size_t t, int32_t partition,
                        int64_t offset, int32_t epoch, int64_t time_ms,
                        const char *meta, size_t meta_len) {
  if (fl_reserve(b, op_size(g, t, meta ? meta_len : 0)))
    return ND_ENOMEM;
  fl_u8(b, OP_COMMIT);
  fl_u16(b, (uint16_t)g);
  fl_bytes(b, group, g);
  fl_u16(b, (uint16_t)t);
  fl_bytes(b, topic, t);
  fl_u32(b, (uint32_t)partition);
  fl_u64(b, (uint64_t)offset);
  fl_u32(b, (uint32_t)epoch);
  fl_u64(b, (uint64_t)time_ms);
  if (meta) {
    fl_u32(b, (uint32_t)meta_len);
    fl_bytes(b, meta, meta_len);
  } else {
    fl_u32(b, UINT32_MAX);
  }
  return 0;
}

static int wb_type_op(fl_buf *b, const char *group, size_t g, const char *type,
                      size_t t) {
  if (fl_reserve(b, type_op_size(g, t)))
    return ND_ENOMEM;
  fl_u8(b, OP_GROUP_TYPE);
  fl_u16(b, (uint16_t)g);
  fl_bytes(b, group, g);
  fl_u16(b, (uint16_t)t);
  fl_bytes(b, type, t);
  return 0;
}

static int wb_state_op(fl_buf *b, const char *group, size_t g,
                       const void *state, size_t len) {
  if (fl_reserve(b, state_op_size(g, len)))
    return ND_ENOMEM;
  fl_u8(b, OP_GROUP_STATE);
  fl_u16(b, (uint16_t)g);
  fl_bytes(b, group, g);
  fl_u32(b, (uint32_t)len);
  if (len)
    fl_bytes(b, state, len);
  return 0;
}

/* A live entry as the op that recreates it. */
static int wb_entry_op(fl_buf *b, const entry *e) {
  const char *key = e->h.key;
  size_t g = strlen(key);
  if (e->kind == ENTRY_TYPE)
    return wb_type_op(b, key, g, e->metadata, e->meta_len);
  if (e->kind == ENTRY_STATE)
    return wb_state_op(b, key, g, e->metadata, e->meta_len);
  const char *t = key + g + 1;
  size_t tl = strlen(t);
  return wb_commit_op(b, key, g, t, tl,
                      (int32_t)be32((const uint8_t *)t + tl + 1), e->offset,
                      e->epoch, e->time_ms, e->metadata, e->meta_len);
}

/* By whole key: groups in order (a key starts with its group and a NUL),
 * and within a group its state, its type, then its commits, so that a
 * checkpoint's frames are the same whatever the map's order. */
static int cmp_entry_key(const void *a, const void *b) {
  const hnode *x = &(*(const entry *const *)a)->h,
              *y = &(*(const entry *const *)b)->h;
  int c =
      memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);
  return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* The live entries as frames, one group per frame and at most
 * CHECKPOINT_FRAME_BYTES of ops in each, so that damage to one frame of a
 * rewritten file costs only the entries in it. A group's state is its
 * first op (cmp_entry_key), so a state bigger than that fills its frame
 * alone: damage to it costs no commit, and damage to a commit frame costs
 * no state. */
static int wb_checkpoint(offsets_store *os, fl_buf *b) {
  entry **v = malloc((os->map.count ? os->map.count : 1) * sizeof *v);
  if (!v)
    return ND_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < os->map.cap; i++)
    if (os->map.slots[i])
      v[n++] = (entry *)os->map.slots[i];
  qsort(v, n, sizeof *v, cmp_entry_key);
  int rc = 0;
  uint32_t ops = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (ops && (v[i]->g != v[i - 1]->g ||
                b->len - b->frame >= CHECKPOINT_FRAME_BYTES)) {
      fl_frame_finish(b, FRAME_MAGIC, ops);
      ops = 0;
    }
    if (!ops && (rc = fl_frame_start(b, PAYLOAD_VERSION)) != 0)
      break;
    rc = wb_entry_op(b, v[i]);
    ops++;
  }
  if (!rc && ops)
    fl_frame_finish(b, FRAME_MAGIC, ops);
  free(v);
  return rc;
}

/* ---- replay ------------------------------------------------------------- */

typedef struct op {
  uint8_t kind;
  const uint8_t *name; /* the group; the topic of OP_DELETE_TOPIC */
  uint16_t name_len;
  const uint8_t *topic; /* OP_COMMIT, OP_DELETE_OFFSET; the type of op 4 */
  uint16_t topic_len;
  int32_t partition, epoch;
  int64_t offset, time_ms;
  const uint8_t *meta; /* a commit's metadata; the state of op 6 */
  int32_t meta_len;    /* -1: null; 0 in op 6 forgets the state */
} op;

typedef int (*op_fn)(void *ctx, const op *o);

/* Parse one payload's ops, handing each to fn (NULL: only check).
 * Returns 0 if all of it parses, -1 at the first malformed op (fn has seen
 * the ones before it), or fn's first nonzero result. */
static int parse_ops(const uint8_t *payload, size_t len, op_fn fn, void *ctx) {
  fl_cur c;
  uint32_t ops;
  if (fl_payload_start(&c, payload, len, PAYLOAD_VERSION, &ops))
    return -1;
  for (uint32_t i = 0; i < ops; i++) {
    op o = {0};
    const uint8_t *k = fl_take(&c, 1), *lp = fl_take(&c, 2);
    if (!lp)
      return -1;
    o.kind = *k;
    o.name_len = be16(lp);
    o.name = fl_take(&c, o.name_len);
    if (!o.name || o.name_len == 0 || o.name_len > ND_GROUP_NAME_MAX ||
        memchr(o.name, '\0', o.name_len))
      return -1;
    int named = o.kind == OP_COMMIT || o.kind == OP_DELETE_OFFSET;
    if (named || o.kind == OP_GROUP_TYPE) {
      lp = fl_take(&c, 2);
      o.topic_len = lp ? be16(lp) : 0;
      o.topic = lp ? fl_take(&c, o.topic_len) : NULL;
      if (!o.topic || o.topic_len == 0 ||
          o.topic_len > (named ? ND_TOPIC_NAME_MAX : ND_GROUP_NAME_MAX) ||
          (named && memchr(o.topic, '\0', o.topic_len)))
        return -1;
    } else if (o.kind == OP_GROUP_STATE) {
      lp = fl_take(&c, 4);
      uint32_t n = lp ? be32(lp) : UINT32_MAX;
      if (n > ND_GROUP_STATE_MAX || (n && !(o.meta = fl_take(&c, n))))
        return -1;
      o.meta_len = (int32_t)n;
    } else if (o.kind != OP_DELETE_GROUP && o.kind != OP_DELETE_TOPIC) {
      return -1;
    }
    if (named) {
      const uint8_t *f = fl_take(&c, o.kind == OP_COMMIT ? 28 : 4);
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
            (o.meta_len > 0 && !(o.meta = fl_take(&c, (size_t)o.meta_len))))
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
    map_remove_group(os, name);
    return 0;
  case OP_DELETE_TOPIC:
    map_remove_topic(os, name);
    return 0;
  case OP_GROUP_TYPE:
    return map_put(os, key, type_key(key, name), 0, -1, 0,
                   (const char *)o->topic, o->topic_len, 0)
               ? -2
               : 0;
  case OP_DELETE_OFFSET:
    map_remove_key(os, key, op_key(key, o));
    return 0;
  case OP_GROUP_STATE:
    if (o->meta_len == 0) {
      map_remove_key(os, key, state_key(key, name));
      return 0;
    }
    return map_put(os, key, state_key(key, name), 0, -1, 0,
                   (const char *)o->meta, (size_t)o->meta_len, 0)
               ? -2
               : 0;
  default:
    return map_put(os, key, op_key(key, o), o->offset, o->epoch, o->time_ms,
                   (const char *)o->meta,
                   o->meta_len > 0 ? (size_t)o->meta_len : 0, o->meta_len < 0)
               ? -2
               : 0;
  }
}

/* ---- damage: found while loading, told through nd_options.on_log -------- */

#define OPS_DESCRIBED 8 /* ops of a damaged frame named in its message */

typedef struct describer {
  offsets_store *os;
  fl_text *t;
  uint32_t ops, more; /* ops named, ops only counted */
} describer;

static void tx_in_effect(fl_text *t, offsets_store *os, const char *key,
                         size_t kl) {
  entry *e = map_find(os, key, kl);
  if (e)
    fl_text_add(t, " (now %" PRId64 ")", e->offset);
  else
    fl_text_add(t, " (now none)");
}

static int describe_op(void *ctx, const op *o) {
  describer *ds = ctx;
  fl_text *t = ds->t;
  /* Room is kept for the sentence that says what the loss means. */
  if (ds->ops >= OPS_DESCRIBED || t->n > sizeof t->s - 300) {
    ds->more++;
    return 0;
  }
  ds->ops++;
  char key[KEY_MAX];
  fl_text_add(t, "%s", ds->ops > 1 ? "; " : "");
  switch (o->kind) {
  case OP_DELETE_GROUP:
    fl_text_add(t, "delete of group ");
    fl_text_name(t, o->name, o->name_len);
    break;
  case OP_DELETE_TOPIC:
    fl_text_add(t, "delete of the offsets of topic ");
    fl_text_name(t, o->name, o->name_len);
    break;
  case OP_GROUP_TYPE:
    fl_text_add(t, "protocol type of group ");
    fl_text_name(t, o->name, o->name_len);
    break;
  case OP_GROUP_STATE: {
    char name[ND_GROUP_NAME_MAX + 1];
    memcpy(name, o->name, o->name_len);
    name[o->name_len] = '\0';
    fl_text_add(t, "state of group ");
    fl_text_name(t, o->name, o->name_len);
    fl_text_add(t, " (%" PRId32 " bytes%s)", o->meta_len,
                o->meta_len ? "" : ": forget it");
    entry *e = map_find(ds->os, key, state_key(key, name));
    if (e)
      fl_text_add(t, " (now %zu bytes)", e->meta_len);
    else
      fl_text_add(t, " (now none)");
    break;
  }
  default:
    fl_text_add(t, "%s group ",
                o->kind == OP_COMMIT ? "commit" : "offset delete");
    fl_text_name(t, o->name, o->name_len);
    fl_text_add(t, " topic ");
    fl_text_name(t, o->topic, o->topic_len);
    fl_text_add(t, " partition %" PRId32, o->partition);
    if (o->kind == OP_COMMIT)
      fl_text_add(t, " offset %" PRId64, o->offset);
    tx_in_effect(t, ds->os, key, op_key(key, o));
  }
  return 0;
}

/* A damaged frame's payload as far as it parses: the ops it names and
 * what is in effect for each now (framelog tells the rest). */
static void describe_payload(void *ctx, const uint8_t *p, size_t n,
                             fl_text *t) {
  describer ds = {ctx, t, 0, 0};
  int r = parse_ops(p, n, describe_op, &ds);
  if (ds.more)
    fl_text_add(t, "; and %" PRIu32 " more ops", ds.more);
  if (r)
    fl_text_add(t, "%sops that do not parse", ds.ops ? "; then " : "");
}

static int payload_fn(void *ctx, const uint8_t *p, size_t n, int apply) {
  return parse_ops(p, n, apply ? apply_op : NULL, ctx);
}

static int checkpoint_fn(void *ctx, fl_buf *b) {
  return wb_checkpoint(ctx, b);
}

static const fl_owner offsets_owner = {
    .payload = payload_fn,
    .describe = describe_payload,
    .checkpoint = checkpoint_fn,
    .loss = "A lost commit leaves the one before it (or none) in effect; a "
            "lost delete leaves what it deleted; a lost group state leaves "
            "the one before it (or none)",
    .form1 = 1,
    .form1_version = PAYLOAD_VERSION,
};

/* ---- open / close ------------------------------------------------------- */

int offsets_open(const char *dir, int readonly, const nd_logger *log,
                 offsets_store **out) {
  offsets_store *os = calloc(1, sizeof *os);
  if (!os)
    return nd_fail(ND_ENOMEM, "out of memory");
  os->readonly = readonly;
  pthread_mutex_init(&os->mu, NULL);
  int rc = 0;
  if (!readonly && (rc = file_mkdir(dir)) != 0)
    rc = rc == -EEXIST ? 0 : nd_fail_os(-rc, "cannot create %s", dir);
  if (!rc)
    rc = map_reserve(os) ? nd_fail(ND_ENOMEM, "out of memory") : 0;
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/" LAYOUT_OFFSETS_LOG, dir);
  if (!rc)
    rc = fl_open(&os->fl, path, FRAME_MAGIC, readonly, log, &offsets_owner, os);
  os->fl_open = !rc; /* a failed fl_open closed it */
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
  int rc = os->fl_open ? fl_close(&os->fl) : 0;
  for (size_t i = 0; i < os->map.cap; i++)
    entry_free((entry *)os->map.slots[i]);
  for (size_t i = 0; i < os->groups.cap; i++)
    free(os->groups.slots[i]);
  free(os->map.slots);
  free(os->groups.slots);
  pthread_mutex_destroy(&os->mu);
  free(os);
  return rc;
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

int offsets_commit(offsets_store *os, const char *group,
                   const nd_offset_commit *c, size_t n, int64_t now_ms) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  fl_buf b = {0};
  size_t g = strlen(group);
  int rc = fl_frame_start(&b, PAYLOAD_VERSION);
  for (size_t i = 0; !rc && i < n; i++)
    rc = wb_commit_op(&b, group, g, c[i].topic, strlen(c[i].topic),
                      c[i].partition, c[i].offset, c[i].leader_epoch, now_ms,
                      c[i].metadata, offsets_meta_len(&c[i]));
  if (rc) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  fl_frame_finish(&b, FRAME_MAGIC, (uint32_t)n);
  uint64_t frame;
  pthread_mutex_lock(&os->mu);
  rc = fl_append(&os->fl, &b, &frame);
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
  return rc ? rc : fl_sync(&os->fl, frame);
}

static int write_delete(offsets_store *os, int kind, const char *name) {
  fl_buf b = {0};
  size_t len = strlen(name);
  int rc = fl_frame_start(&b, PAYLOAD_VERSION);
  if (!rc)
    rc = fl_reserve(&b, 3 + len);
  if (rc) {
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  fl_u8(&b, (uint8_t)kind);
  fl_u16(&b, (uint16_t)len);
  fl_bytes(&b, name, len);
  fl_frame_finish(&b, FRAME_MAGIC, 1);
  uint64_t frame;
  rc = fl_append(&os->fl, &b, &frame);
  free(b.p);
  if (rc)
    return rc;
  if (kind == OP_DELETE_GROUP)
    map_remove_group(os, name);
  else
    map_remove_topic(os, name);
  pthread_mutex_unlock(&os->mu);
  rc = fl_sync(&os->fl, frame);
  pthread_mutex_lock(&os->mu);
  return rc;
}

int offsets_delete_group(offsets_store *os, const char *group) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  pthread_mutex_lock(&os->mu);
  int found = group_find(os, group, strlen(group)) != NULL;
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
  for (size_t i = 0; i < os->map.cap && !found; i++) {
    const char *k = os->map.slots[i] ? os->map.slots[i]->key : NULL;
    found = k && !strcmp(k + strlen(k) + 1, topic);
  }
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
  entry *e = map_find(os, key, kl);
  if (e && e->meta_len == tl && !memcmp(e->metadata, type, tl)) {
    pthread_mutex_unlock(&os->mu);
    return 0; /* the common case: every rebalance of a group says it again */
  }
  fl_buf b = {0};
  int rc = fl_frame_start(&b, PAYLOAD_VERSION);
  if (!rc)
    rc = wb_type_op(&b, group, strlen(group), type, tl);
  if (rc) {
    rc = nd_fail(ND_ENOMEM, "out of memory");
  } else {
    fl_frame_finish(&b, FRAME_MAGIC, 1);
    uint64_t frame;
    rc = fl_append(&os->fl, &b, &frame);
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
  entry *e = map_find(os, key, kl);
  *type = e ? meta_dup(e, &oom) : NULL;
  pthread_mutex_unlock(&os->mu);
  return oom ? nd_fail(ND_ENOMEM, "out of memory") : 0;
}

/* Install a group's new state, or forget it (*copy NULL), in the map
 * once its frame is appended: e is the group's state entry (or NULL),
 * found before the append; *copy (the bytes, with a NUL after them), the
 * entry *fresh and the group record *spare were allocated before it and
 * room reserved in the tables, so nothing here can fail and the map
 * always says what the file says. What the map takes is set to NULL. */
static void state_install(offsets_store *os, entry *e, entry **fresh,
                          group_rec **spare, char **copy, size_t len) {
  if (!*copy) {
    entry_remove(os, e); /* forgetting none writes nothing: e is there */
    return;
  }
  if (!e) {
    e = *fresh;
    *fresh = NULL;
    entry_link(os, e, spare);
  }
  entry_set(os, e, 0, -1, 0, *copy, len);
  *copy = NULL;
}

int offsets_set_state(offsets_store *os, const char *group, const void *state,
                      size_t len) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  char key[ND_GROUP_NAME_MAX + 8];
  size_t kl = state_key(key, group);
  /* The frame and the map's copy are made outside the lock: a state may
   * be megabytes, and committers wait on this lock. Forgetting a state
   * needs no entry or group record. */
  fl_buf b = {0};
  char *copy = len ? malloc(len + 1) : NULL;
  entry *fresh = len ? entry_new(key, kl) : NULL;
  group_rec *spare = len ? group_new(key) : NULL;
  int rc = len && (!copy || !fresh || !spare)
               ? ND_ENOMEM
               : fl_frame_start(&b, PAYLOAD_VERSION);
  if (!rc)
    rc = wb_state_op(&b, group, strlen(group), state, len);
  if (rc) {
    free(copy);
    entry_free(fresh);
    free(spare);
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  if (len) {
    memcpy(copy, state, len);
    copy[len] = '\0';
  }
  fl_frame_finish(&b, FRAME_MAGIC, 1);
  pthread_mutex_lock(&os->mu);
  int ready = map_reserve(os) == 0;
  if (!ready)
    rc = nd_fail(ND_ENOMEM, "out of memory");
  entry *e = ready ? map_find(os, key, kl) : NULL;
  /* Setting the state a group has (or forgetting none) writes nothing, so
   * a coordinator may save at every change of its group without
   * comparing. */
  int same = ready &&
             (e ? copy && e->meta_len == len && !memcmp(e->metadata, copy, len)
                : !copy);
  if (ready && !same) {
    uint64_t frame;
    rc = fl_append(&os->fl, &b, &frame);
    if (!rc)
      state_install(os, e, &fresh, &spare, &copy, len);
  }
  pthread_mutex_unlock(&os->mu);
  entry_free(fresh);
  free(spare);
  free(copy);
  free(b.p);
  return rc;
}

int offsets_get_state(offsets_store *os, const char *group, void **state,
                      size_t *len) {
  char key[ND_GROUP_NAME_MAX + 8];
  size_t kl = state_key(key, group);
  int oom = 0;
  pthread_mutex_lock(&os->mu);
  entry *e = map_find(os, key, kl);
  *state = e ? meta_dup(e, &oom) : NULL;
  *len = e && !oom ? e->meta_len : 0;
  int found = e != NULL;
  pthread_mutex_unlock(&os->mu);
  if (oom)
    return nd_fail(ND_ENOMEM, "out of memory");
  return found ? 0 : nd_fail(ND_ENOTFOUND, "group '%s' has no state", group);
}

int offsets_delete_partitions(offsets_store *os, const char *group,
                              const nd_topic_partition *parts, size_t n) {
  if (os->readonly)
    return nd_fail(ND_EREADONLY, "store opened read-only");
  char key[2 * ND_TOPIC_NAME_MAX + ND_GROUP_NAME_MAX + 8];
  size_t g = strlen(group);
  fl_buf b = {0};
  int rc = fl_frame_start(&b, PAYLOAD_VERSION);
  uint32_t ops = 0;
  pthread_mutex_lock(&os->mu);
  for (size_t i = 0; !rc && i < n; i++) {
    size_t kl = make_key(key, group, parts[i].topic, parts[i].partition);
    if (!map_find(os, key, kl))
      continue; /* nothing committed: nothing to forget */
    size_t t = strlen(parts[i].topic);
    if ((rc = fl_reserve(&b, 1 + 2 + g + 2 + t + 4)) != 0)
      break;
    fl_u8(&b, OP_DELETE_OFFSET);
    fl_u16(&b, (uint16_t)g);
    fl_bytes(&b, group, g);
    fl_u16(&b, (uint16_t)t);
    fl_bytes(&b, parts[i].topic, t);
    fl_u32(&b, (uint32_t)parts[i].partition);
    ops++;
  }
  if (rc) {
    pthread_mutex_unlock(&os->mu);
    free(b.p);
    return nd_fail(ND_ENOMEM, "out of memory");
  }
  uint64_t frame = 0;
  if (ops) {
    fl_frame_finish(&b, FRAME_MAGIC, ops);
    rc = fl_append(&os->fl, &b, &frame);
    for (size_t i = 0; !rc && i < n; i++) {
      size_t kl = make_key(key, group, parts[i].topic, parts[i].partition);
      map_remove_key(os, key, kl);
    }
  }
  pthread_mutex_unlock(&os->mu);
  free(b.p);
  return rc || !ops ? rc : fl_sync(&os->fl, frame);
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
  entry *e = map_find(os, key, kl);
  *offset = e ? e->offset : -1;
  if (epoch)
    *epoch = e ? e->epoch : -1;
  if (metadata_len)
    *metadata_len = e ? e->meta_len : 0;
  if (metadata) {
    int oom = 0;
    *metadata = e ? meta_dup(e, &oom) : NULL;
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
  const group_rec *g = group_find(os, group, strlen(group));
  size_t n = g ? g->commits : 0;
  nd_committed *out = n ? calloc(n, sizeof *out) : NULL;
  size_t k = 0;
  int rc = n && !out ? ND_ENOMEM : 0;
  for (const entry *e = n ? g->first : NULL; !rc && e; e = e->next) {
    if (e->kind != ENTRY_COMMIT)
      continue;
    const char *t = e->h.key + g->h.key_len + 1;
    out[k].topic = strdup(t);
    out[k].partition = (int32_t)be32((const uint8_t *)t + strlen(t) + 1);
    out[k].offset = e->offset;
    out[k].leader_epoch = e->epoch;
    out[k].commit_time_ms = e->time_ms;
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
  size_t max = os->groups.count;
  char **out = max ? malloc(max * sizeof *out) : NULL;
  size_t n = 0;
  int rc = max && !out ? ND_ENOMEM : 0;
  for (size_t i = 0; !rc && i < os->groups.cap; i++) {
    const group_rec *g = (const group_rec *)os->groups.slots[i];
    /* A group is listed for its offsets or its state, not for a
     * protocol type alone (the coordinator of a group that never
     * committed has nothing to resume). */
    if (g && g->listed && !(out[n++] = strdup(g->name)))
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

int offsets_sync(offsets_store *os) {
  return os->readonly ? 0 : fl_sync(&os->fl, atomic_load(&os->fl.written));
}

int offsets_maintain(offsets_store *os) {
  if (os->readonly)
    return 0;
  pthread_mutex_lock(&os->mu);
  int rc = 0;
  if (os->fl.file_size >= COMPACT_MIN_BYTES &&
      os->fl.file_size >= 4 * (os->live_bytes + FL_HEADER + 5))
    rc = fl_rewrite(&os->fl);
  pthread_mutex_unlock(&os->mu);
  return rc;
}
