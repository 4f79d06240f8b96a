/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_null_store.c — every public entry point that takes a store answers a
 * NULL store with ND_EINVAL and a message, never a crash (nd_close(NULL) is
 * a no-op, like free). Each call runs in a child process, so a crash fails
 * the test naming the entry point instead of ending it. The same calls on
 * a read-only store: each that writes is ND_EREADONLY.
 *
 * The list of calls is checked against the public headers: every function
 * declared there with an `nd_store *` parameter must be in it (and nothing
 * else), so a new entry point cannot be added without its NULL check.
 */
#include <ctype.h>
#include <sys/wait.h>

#include "nodata_zerocopy.h"
#include "test.h"

typedef struct call {
  const char *name;
  int (*fn)(nd_store *s);
  int want;    /* for a NULL store */
  int want_ro; /* for a read-only store: writers refuse */
} call;

static nd_topic_info info;
static nd_partition_info pinfo;
static nd_append_info ainfo;
static nd_batches batches;
static nd_file_range range;
static int64_t i64a, i64b;
static char *str;
static size_t len;

static int c_close(nd_store *s) {
  return nd_close(s);
}
static int c_sync(nd_store *s) {
  return nd_sync(s);
}
static int c_maintain(nd_store *s) {
  return nd_maintain(s, 0);
}
static int c_recovery_report(nd_store *s) {
  nd_recovery_stats st;
  return nd_recovery_report(s, &st, NULL, NULL);
}
static int c_store_stats_get(nd_store *s) {
  nd_store_stats st;
  return nd_store_stats_get(s, &st);
}
static int c_topic_create(nd_store *s) {
  return nd_topic_create(s, "t", 1, NULL);
}
static int c_topic_delete(nd_store *s) {
  return nd_topic_delete(s, "t");
}
static int c_topic_add_partitions(nd_store *s) {
  return nd_topic_add_partitions(s, "t", 2);
}
static int c_partitions_allowed(nd_store *s) {
  return nd_partitions_allowed(s, "t", 1);
}
static int c_topic_set_config(nd_store *s) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  return nd_topic_set_config(s, "t", &cfg);
}
static int c_store_set_topic_defaults(nd_store *s) {
  nd_topic_config cfg;
  nd_topic_config_init(&cfg);
  return nd_store_set_topic_defaults(s, &cfg);
}
static int c_store_topic_defaults(nd_store *s) {
  nd_topic_config cfg;
  return nd_store_topic_defaults(s, &cfg);
}
static int c_topic_describe(nd_store *s) {
  return nd_topic_describe(s, "t", &info);
}
static int c_topic_by_id(nd_store *s) {
  uint8_t id[16] = {1};
  return nd_topic_by_id(s, id, &info);
}
static int c_topic_list(nd_store *s) {
  nd_topic_info *list;
  return nd_topic_list(s, &list, &len);
}
static int c_append(nd_store *s) {
  nd_record r = {.value = "v", .value_len = 1};
  return nd_append(s, "t", 0, &r, 1, 0, &ainfo);
}
static int c_append_batch(nd_store *s) {
  static uint8_t buf[128];
  return nd_append_batch(s, "t", 0, buf, sizeof buf, 0, &ainfo);
}
static int c_sync_partition(nd_store *s) {
  return nd_sync_partition(s, "t", 0, -1);
}
static int c_txn_write_marker(nd_store *s) {
  return nd_txn_write_marker(s, "t", 0, 1, 0, 1, 0, 0, &i64a);
}
static int c_partition_describe(nd_store *s) {
  return nd_partition_describe(s, "t", 0, &pinfo);
}
static int c_partition_producers(nd_store *s) {
  nd_producer_info *list;
  return nd_partition_producers(s, "t", 0, &list, &len);
}
static int c_offsets(nd_store *s) {
  return nd_offsets(s, "t", 0, &i64a, &i64b);
}
static int c_offset_for_time(nd_store *s) {
  return nd_offset_for_time(s, "t", 0, 0, &i64a, &i64b);
}
static int c_read(nd_store *s) {
  return nd_read(s, "t", 0, 0, 1024, &batches);
}
static int c_read_file(nd_store *s) {
  return nd_read_file(s, "t", 0, 0, 1024, &range);
}
static int c_read_committed(nd_store *s) {
  return nd_read_committed(s, "t", 0, 0, 1024, &batches);
}
static int c_read_file_committed(nd_store *s) {
  return nd_read_file_committed(s, "t", 0, 0, 1024, &range);
}
static int c_aborted_txns(nd_store *s) {
  nd_aborted_txn *list = NULL;
  int rc = nd_aborted_txns(s, "t", 0, 0, 100, &list, &len);
  nd_free(list);
  return rc;
}
static int c_reader_open(nd_store *s) {
  nd_reader *r = NULL;
  int rc = nd_reader_open(s, "t", 0, 0, NULL, &r);
  nd_reader_close(r);
  return rc;
}
static int c_delete_records(nd_store *s) {
  return nd_delete_records(s, "t", 0, 0, &i64a);
}
static int c_clean(nd_store *s) {
  return nd_clean(s, "t", 0, 0, 0, NULL);
}
static int c_clean_describe(nd_store *s) {
  static nd_clean_status st;
  return nd_clean_describe(s, "t", 0, &st);
}
static int c_commit_offsets(nd_store *s) {
  nd_offset_commit c = {"t", 0, 1, -1, NULL, 0};
  return nd_commit_offsets(s, "g", &c, 1);
}
static int c_commit_offset(nd_store *s) {
  return nd_commit_offset(s, "g", "t", 0, 1, NULL);
}
static int c_committed_offset(nd_store *s) {
  return nd_committed_offset(s, "g", "t", 0, &i64a, NULL, &str, &len);
}
static int c_group_offsets(nd_store *s) {
  nd_committed *list;
  return nd_group_offsets(s, "g", &list, &len);
}
static int c_group_list(nd_store *s) {
  char **names;
  return nd_group_list(s, &names, &len);
}
static int c_group_set_protocol_type(nd_store *s) {
  return nd_group_set_protocol_type(s, "g", "consumer");
}
static int c_group_protocol_type(nd_store *s) {
  return nd_group_protocol_type(s, "g", &str);
}
static int c_group_set_state(nd_store *s) {
  return nd_group_set_state(s, "g", "state", 5);
}
static int c_group_state(nd_store *s) {
  void *state;
  return nd_group_state(s, "g", &state, &len);
}
static int c_delete_offsets(nd_store *s) {
  nd_topic_partition tp = {"t", 0};
  return nd_delete_offsets(s, "g", &tp, 1);
}
static int c_group_delete(nd_store *s) {
  return nd_group_delete(s, "g");
}
static int c_producer_id_new(nd_store *s) {
  return nd_producer_id_new(s, &i64a);
}
static int c_txn_init_producer(nd_store *s) {
  int16_t e;
  return nd_txn_init_producer(s, "x", 1000, -1, -1, 0, 0, &i64a, &e);
}
static int c_txn_add_partitions(nd_store *s) {
  nd_topic_partition tp = {"t", 0};
  return nd_txn_add_partitions(s, "x", 1, 0, &tp, 1, 0, 0);
}
static int c_txn_add_offsets(nd_store *s) {
  return nd_txn_add_offsets(s, "x", 1, 0, "g", 0);
}
static int c_txn_commit_offsets(nd_store *s) {
  nd_offset_commit c = {"t", 0, 1, -1, NULL, 0};
  return nd_txn_commit_offsets(s, "x", 1, 0, "g", &c, 1, 0, 0);
}
static int c_txn_offsets_pending(nd_store *s) {
  return nd_txn_offsets_pending(s, "g", "t", 0);
}
static int c_txn_end(nd_store *s) {
  return nd_txn_end(s, "x", 1, 0, 1, 0, 0, NULL, NULL);
}
static int c_txn_describe(nd_store *s) {
  nd_txn_info ti;
  return nd_txn_describe(s, "x", &ti);
}
static int c_txn_list(nd_store *s) {
  nd_txn_info *l;
  return nd_txn_list(s, &l, &len);
}
static int c_txn_expire(nd_store *s) {
  return nd_txn_expire(s, 0, NULL);
}
static int c_txn_open(nd_store *s) {
  nd_txn *t;
  return nd_txn_open(s, "x", 0, &t);
}

#define CALL(n, want, want_ro)                                                 \
  { #n, c_##n, want, want_ro }

static const call calls[] = {
    CALL(close, 0, 0),
    CALL(sync, ND_EINVAL, 0),
    CALL(maintain, ND_EINVAL, 0),
    CALL(recovery_report, ND_EINVAL, 0),
    CALL(store_stats_get, ND_EINVAL, 0),
    CALL(topic_create, ND_EINVAL, ND_EREADONLY),
    CALL(topic_delete, ND_EINVAL, ND_EREADONLY),
    CALL(topic_add_partitions, ND_EINVAL, ND_EREADONLY),
    CALL(partitions_allowed, ND_EINVAL, 0),
    CALL(topic_set_config, ND_EINVAL, ND_EREADONLY),
    CALL(store_set_topic_defaults, ND_EINVAL, 0),
    CALL(store_topic_defaults, ND_EINVAL, 0),
    CALL(topic_describe, ND_EINVAL, 0),
    CALL(topic_by_id, ND_EINVAL, ND_ENOTOPIC),
    CALL(topic_list, ND_EINVAL, 0),
    CALL(append, ND_EINVAL, ND_EREADONLY),
    CALL(append_batch, ND_EINVAL, ND_EREADONLY),
    CALL(sync_partition, ND_EINVAL, 0),
    CALL(txn_write_marker, ND_EINVAL, ND_EREADONLY),
    CALL(partition_describe, ND_EINVAL, 0),
    CALL(partition_producers, ND_EINVAL, 0),
    CALL(offsets, ND_EINVAL, 0),
    CALL(offset_for_time, ND_EINVAL, 0),
    CALL(read, ND_EINVAL, 0),
    CALL(read_file, ND_EINVAL, 0),
    CALL(read_committed, ND_EINVAL, 0),
    CALL(read_file_committed, ND_EINVAL, 0),
    CALL(aborted_txns, ND_EINVAL, 0),
    CALL(reader_open, ND_EINVAL, 0),
    CALL(delete_records, ND_EINVAL, ND_EREADONLY),
    CALL(clean, ND_EINVAL, ND_EREADONLY),
    CALL(clean_describe, ND_EINVAL, 0),
    CALL(commit_offsets, ND_EINVAL, ND_EREADONLY),
    CALL(commit_offset, ND_EINVAL, ND_EREADONLY),
    CALL(committed_offset, ND_EINVAL, 0),
    CALL(group_offsets, ND_EINVAL, 0),
    CALL(group_list, ND_EINVAL, 0),
    CALL(group_set_protocol_type, ND_EINVAL, ND_EREADONLY),
    CALL(group_protocol_type, ND_EINVAL, 0),
    CALL(group_set_state, ND_EINVAL, ND_EREADONLY),
    CALL(group_state, ND_EINVAL, 0),
    CALL(delete_offsets, ND_EINVAL, ND_EREADONLY),
    CALL(group_delete, ND_EINVAL, ND_EREADONLY),
    CALL(producer_id_new, ND_EINVAL, ND_EREADONLY),
    CALL(txn_init_producer, ND_EINVAL, ND_EREADONLY),
    CALL(txn_add_partitions, ND_EINVAL, ND_EREADONLY),
    CALL(txn_add_offsets, ND_EINVAL, ND_EREADONLY),
    CALL(txn_commit_offsets, ND_EINVAL, ND_EREADONLY),
    CALL(txn_offsets_pending, ND_EINVAL, 0),
    CALL(txn_end, ND_EINVAL, ND_EREADONLY),
    CALL(txn_describe, ND_EINVAL, ND_ENOTFOUND),
    CALL(txn_list, ND_EINVAL, 0),
    CALL(txn_expire, ND_EINVAL, 0),
    CALL(txn_open, ND_EINVAL, ND_EREADONLY),
};

#define NCALLS (sizeof calls / sizeof calls[0])

/* Runs every call on store s (NULL, or read-only), each in a child
 * process, which exits with 0 when the call returned what it should and
 * left a message (for errors), 1 otherwise; a crash shows as a signal. */
static void walk(nd_store *s, int ro, const char *what) {
  int bad = 0;
  for (size_t i = 0; i < NCALLS; i++) {
    const call *c = &calls[i];
    int want = ro ? c->want_ro : c->want;
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      int rc = c->fn(s);
      if (rc != want || (rc && !*nd_errmsg())) {
        fprintf(stderr, "nd_%s(%s, ...) returned %s (%d), want %s; '%s'\n",
                c->name, what, nd_errname(rc), rc, nd_errname(want),
                nd_errmsg());
        _exit(1);
      }
      _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status))
      fprintf(stderr, "nd_%s(%s, ...) died of signal %d\n", c->name, what,
              WTERMSIG(status));
    bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  CHECK_EQ_I64(bad, 0);
}

static void null_store(void) {
  walk(NULL, 0, "NULL");
}

/* A read-only store: every call that would write is ND_EREADONLY, the
 * others answer as on any store (the data they look at exists). */
static void readonly_store(void) {
  char *dir = tmpdir_make("null-store-ro");
  nd_store *s = test_open_store(dir);
  nd_record r = {.value = "v", .value_len = 1};
  CHECK_OK(nd_topic_create(s, "t", 1, NULL));
  CHECK_OK(nd_append(s, "t", 0, &r, 1, 0, NULL));
  CHECK_OK(nd_commit_offset(s, "g", "t", 0, 1, NULL));
  CHECK_OK(nd_group_set_protocol_type(s, "g", "consumer"));
  CHECK_OK(nd_group_set_state(s, "g", "kept", 4));
  CHECK_OK(nd_close(s));
  nd_options o = {.flags = ND_OPEN_READONLY};
  nd_store *rs = NULL;
  CHECK_OK(nd_open(dir, &o, &rs));
  if (rs)
    walk(rs, 1, "read-only store");
  CHECK_OK(nd_close(rs));
  tmpdir_remove(dir);
}

/* ---- the list against the headers --------------------------------------- */

static char *read_text(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, used = 0, n;
  char *buf = malloc(cap);
  while (buf && (n = fread(buf + used, 1, cap - used - 1, f)) > 0) {
    used += n;
    if (used + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb)
        free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (buf)
    buf[used] = 0;
  return buf;
}

/* Blanks comments and preprocessor lines, so only declarations remain. */
static void strip(char *s) {
  for (char *p = s; *p; p++) {
    if (p[0] == '/' && p[1] == '*') {
      char *e = strstr(p + 2, "*/");
      char *end = e ? e + 2 : p + strlen(p);
      memset(p, ' ', (size_t)(end - p));
      p = end - 1;
    } else if (p[0] == '/' && p[1] == '/') {
      while (*p && *p != '\n')
        *p++ = ' ';
      p--;
    } else if (*p == '#' && (p == s || p[-1] == '\n')) {
      /* Through continuation lines. */
      while (*p && !(*p == '\n' && p[-1] != '\\'))
        *p++ = ' ';
      p--;
    }
  }
}

/* Does decl (one declaration) have a parameter of type `nd_store *`? Not
 * `nd_store **`: nd_open makes a store. */
static int takes_store(const char *open) {
  for (const char *q = strstr(open, "nd_store"); q;
       q = strstr(q + 1, "nd_store")) {
    const char *r = q + 8;
    if (isalnum((unsigned char)*r) || *r == '_')
      continue;
    while (isspace((unsigned char)*r))
      r++;
    if (*r++ != '*')
      continue;
    while (isspace((unsigned char)*r))
      r++;
    if (*r != '*')
      return 1;
  }
  return 0;
}

/* Adds to names[] (without "nd_") every function text declares with an
 * `nd_store *` parameter. */
static void store_functions(char *text, char names[][64], size_t *n,
                            size_t cap) {
  strip(text);
  char *decl = text;
  for (char *p = text;; p++) {
    if (*p && *p != ';' && *p != '{' && *p != '}')
      continue;
    char end = *p;
    *p = 0;
    char *open = strchr(decl, '(');
    if (open && takes_store(open)) {
      char *e = open;
      while (e > decl && isspace((unsigned char)e[-1]))
        e--;
      char *b = e;
      while (b > decl && (isalnum((unsigned char)b[-1]) || b[-1] == '_'))
        b--;
      if (e - b > 3 && !strncmp(b, "nd_", 3) && *n < cap) {
        snprintf(names[*n], 64, "%.*s", (int)(e - b - 3), b + 3);
        (*n)++;
      }
    }
    if (!end)
      break;
    decl = p + 1;
  }
}

static int in_list(char names[][64], size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(names[i], name))
      return 1;
  return 0;
}

/* calls[] holds exactly the headers' functions taking an nd_store *. */
static void list_matches_headers(void) {
  const char *src = getenv("ND_SOURCE_DIR");
  CHECK(src != NULL);
  if (!src)
    return;
  static const char *headers[] = {"include/nodata.h",
                                  "include/nodata_zerocopy.h"};
  char names[128][64];
  size_t n = 0;
  for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", src, headers[h]);
    char *text = read_text(path);
    if (!text)
      fprintf(stderr, "cannot read %s\n", path);
    CHECK(text != NULL);
    if (text)
      store_functions(text, names, &n, sizeof names / sizeof names[0]);
    free(text);
  }
  CHECK(n >= 20); /* the parser found the entry points at all */
  char listed[NCALLS][64];
  for (size_t i = 0; i < NCALLS; i++)
    snprintf(listed[i], sizeof listed[i], "%s", calls[i].name);
  int missing = 0, stale = 0;
  for (size_t i = 0; i < n; i++)
    if (!in_list(listed, NCALLS, names[i])) {
      fprintf(stderr,
              "nd_%s takes an nd_store * but test_null_store.c does not "
              "call it\n",
              names[i]);
      missing++;
    }
  for (size_t i = 0; i < NCALLS; i++)
    if (!in_list(names, n, listed[i])) {
      fprintf(stderr,
              "test_null_store.c calls nd_%s, which no public header "
              "declares with an nd_store * parameter\n",
              listed[i]);
      stale++;
    }
  CHECK_EQ_I64(missing, 0);
  CHECK_EQ_I64(stale, 0);
}

int main(void) {
  RUN(null_store);
  RUN(readonly_store);
  RUN(list_matches_headers);
  TEST_MAIN_END();
}
