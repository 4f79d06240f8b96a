/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_offsets_log.c — replay of the committed-offsets log
 * (DATA/groups/offsets.log, src/offsets.c) from arbitrary bytes.
 *
 * Input: one flags byte, then the file. Flag bit 0 recomputes the CRCs of
 * every frame met walking the file from the start (both checksums of a
 * frame of form 2, the one of form 1), so mutations get past the checksum
 * into the ops.
 *
 * Checked: nd_open succeeds whatever the file holds; an open that tells
 * no damage (nd_options.on_log at warning level) of a file of form 2 only
 * cuts a torn tail (what remains is a prefix of the input); an open that
 * tells damage rewrites the file so that the next open tells none; what
 * the store shows after open (groups, offsets, epochs, metadata, protocol
 * types, group states) is exactly what the next open shows, so nothing
 * visible is lost or invented by the cut or the rewrite; every listed
 * group has offsets or a state; a commit, a type, states set and
 * forgotten and a group delete made afterwards survive a compaction, a
 * close and a reopen too.
 */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "fuzz.h"
#include "nodata.h"

static char store_dir[PATH_MAX];
static char log_path[PATH_MAX];

static int warnings;

static void count_warnings(void *ctx, int level, const char *msg) {
  (void)ctx;
  (void)msg;
  warnings += level <= ND_LOG_WARN;
}

static nd_options options(void) {
  nd_options o;
  memset(&o, 0, sizeof o);
  o.no_background = 1;
  o.on_log = count_warnings;
  return o;
}

static void setup(void) {
  if (store_dir[0])
    return;
  snprintf(store_dir, sizeof store_dir, "%s/store",
           fuzz_scratch_dir("offsets"));
  nd_options o = options();
  nd_store *s;
  FUZZ_CHECK(nd_open(store_dir, &o, &s) == 0);
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  cfg.fsync = ND_FSYNC_NEVER;
  FUZZ_CHECK(nd_topic_create(s, "t", 2, &cfg) == 0);
  FUZZ_CHECK(nd_close(s) == 0);
  snprintf(log_path, sizeof log_path, "%s/groups/offsets.log", store_dir);
}

#define FRAME_MAGIC 0x894F4653u

static void fix_frame_crcs(uint8_t *p, size_t n) {
  size_t pos = 0;
  while (n - pos >= 8) {
    uint8_t *f = p + pos;
    if (n - pos >= 16 && be32(f) == FRAME_MAGIC) {
      uint32_t len = be32(f + 4);
      if (len > n - pos - 16)
        return;
      put_be32(f + 8, nd_crc32c(0, f + 16, len));
      put_be32(f + 12, nd_crc32c(0, f, 12));
      pos += 16 + (size_t)len;
      continue;
    }
    uint32_t len = be32(f);
    if (len > n - pos - 8)
      return;
    put_be32(f + 4, nd_crc32c(0, f + 8, len));
    pos += 8 + (size_t)len;
  }
}

typedef struct text {
  char *p;
  size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n + 1)
      cap *= 2;
    t->p = realloc(t->p, cap);
    FUZZ_CHECK(t->p != NULL);
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = 0;
}

static void putf(text *t, const char *fmt, long long a, long long b,
                 long long c) {
  char buf[96];
  int n = snprintf(buf, sizeof buf, fmt, a, b, c);
  put(t, buf, (size_t)n);
}

/* Everything the store shows about committed offsets, as one string. The
 * names are written with their lengths, so different states never print
 * the same. */
static char *snapshot(nd_store *s, char **first_group) {
  text t = {0};
  put(&t, "", 0);
  char **groups;
  size_t ng;
  FUZZ_CHECK(nd_group_list(s, &groups, &ng) == 0);
  for (size_t i = 0; i < ng; i++) {
    FUZZ_CHECK(groups[i] && groups[i][0]);
    if (i)
      FUZZ_CHECK(strcmp(groups[i - 1], groups[i]) < 0);
    putf(&t, "group %lld:", (long long)strlen(groups[i]), 0, 0);
    put(&t, groups[i], strlen(groups[i]));
    char *type;
    FUZZ_CHECK(nd_group_protocol_type(s, groups[i], &type) == 0);
    if (type) {
      putf(&t, " type %lld:", (long long)strlen(type), 0, 0);
      put(&t, type, strlen(type));
      nd_free(type);
    }
    void *state;
    size_t state_len;
    int src = nd_group_state(s, groups[i], &state, &state_len);
    FUZZ_CHECK(src == 0 || (src == ND_ENOTFOUND && !state && !state_len));
    if (src == 0) {
      FUZZ_CHECK(state && state_len > 0 && state_len <= ND_GROUP_STATE_MAX);
      putf(&t, " state %lld:", (long long)state_len, 0, 0);
      put(&t, state, state_len);
      nd_free(state);
    }
    put(&t, "\n", 1);
    nd_committed *list;
    size_t n;
    FUZZ_CHECK(nd_group_offsets(s, groups[i], &list, &n) == 0);
    FUZZ_CHECK(n > 0 || src == 0);
    for (size_t j = 0; j < n; j++) {
      nd_committed *c = &list[j];
      putf(&t, " %lld:", (long long)strlen(c->topic), 0, 0);
      put(&t, c->topic, strlen(c->topic));
      putf(&t, " p%lld o%lld e%lld", c->partition, (long long)c->offset,
           c->leader_epoch);
      if (c->metadata) {
        putf(&t, " m%lld:", (long long)c->metadata_len, 0, 0);
        put(&t, c->metadata, c->metadata_len);
      }
      put(&t, "\n", 1);
      /* The single lookup agrees with the listing. */
      int64_t off;
      int32_t epoch;
      char *meta;
      size_t meta_len;
      FUZZ_CHECK(nd_committed_offset(s, groups[i], c->topic, c->partition, &off,
                                     &epoch, &meta, &meta_len) == 0);
      FUZZ_CHECK(off == c->offset && epoch == c->leader_epoch);
      FUZZ_CHECK(!meta == !c->metadata &&
                 (!meta || (meta_len == c->metadata_len &&
                            !memcmp(meta, c->metadata, meta_len + 1))));
      nd_free(meta);
    }
    nd_committed_free(list, n);
  }
  if (first_group)
    *first_group = ng ? strdup(groups[0]) : NULL;
  nd_names_free(groups, ng);
  return t.p;
}

static nd_store *open_store(void) {
  nd_options o = options();
  nd_store *s;
  int rc = nd_open(store_dir, &o, &s);
  if (rc)
    fprintf(stderr, "nd_open: %s\n", nd_errmsg());
  FUZZ_CHECK(rc == 0);
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  setup();
  size_t n = size - 1;
  uint8_t *file = malloc(n ? n : 1);
  FUZZ_CHECK(file != NULL);
  memcpy(file, data + 1, n);
  if (data[0] & 1)
    fix_frame_crcs(file, n);
  fuzz_write_file(log_path, file, n);

  warnings = 0;
  nd_store *s = open_store();
  char *first = NULL;
  char *s1 = snapshot(s, &first);
  FUZZ_CHECK(nd_close(s) == 0);
  int damaged = warnings;

  /* Without damage, open cuts a torn tail and nothing else. */
  struct stat st;
  FUZZ_CHECK(stat(log_path, &st) == 0);
  FILE *f = fopen(log_path, "rb");
  FUZZ_CHECK(f != NULL);
  uint8_t *kept = malloc((size_t)st.st_size + 1);
  FUZZ_CHECK(kept != NULL);
  FUZZ_CHECK(fread(kept, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
  fclose(f);
  if (!damaged && n >= 4 && be32(file) == FRAME_MAGIC)
    FUZZ_CHECK((size_t)st.st_size <= n &&
               (st.st_size == 0 || !memcmp(kept, file, (size_t)st.st_size)));
  free(kept);
  free(file);

  warnings = 0;
  s = open_store();
  FUZZ_CHECK(warnings == 0);
  char *s2 = snapshot(s, NULL);
  if (strcmp(s1, s2) != 0)
    fprintf(stderr, "after first open:\n%s\nafter reopen:\n%s\n", s1, s2);
  FUZZ_CHECK(!strcmp(s1, s2));

  FUZZ_CHECK(nd_commit_offset(s, "g", "t", 1, 42, "meta") == 0);
  FUZZ_CHECK(nd_group_set_protocol_type(s, "g", "consumer") == 0);
  FUZZ_CHECK(nd_group_set_state(s, "g", "epoch\0 2", 8) == 0);
  FUZZ_CHECK(nd_group_set_state(s, "s", "only state", 10) == 0);
  FUZZ_CHECK(nd_group_set_state(s, "s", "replaced", 8) == 0);
  FUZZ_CHECK(nd_group_set_state(s, "f", "forgotten", 9) == 0);
  FUZZ_CHECK(nd_group_set_state(s, "f", NULL, 0) == 0);
  if (first)
    FUZZ_CHECK(nd_group_delete(s, first) == 0);
  char *s3 = snapshot(s, NULL);
  nd_maintain(s, 0);
  FUZZ_CHECK(nd_close(s) == 0);
  s = open_store();
  char *s4 = snapshot(s, NULL);
  FUZZ_CHECK(!strcmp(s3, s4));
  FUZZ_CHECK(nd_close(s) == 0);
  free(first);
  free(s1);
  free(s2);
  free(s3);
  free(s4);
  return 0;
}
