/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topic.c — topic.conf and the partitions of one topic (see topic.h).
 */
#include "topic.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "file.h"
#include "hash.h"
#include "layout.h"

int nd_topic_name_valid(const char *name) {
  if (!name)
    return nd_fail(ND_ETOPICNAME, "topic name is NULL");
  size_t len = strlen(name);
  if (len == 0)
    return nd_fail(ND_ETOPICNAME, "topic name is empty");
  if (len > ND_TOPIC_NAME_MAX)
    return nd_fail(ND_ETOPICNAME,
                   "topic name is %zu characters, the limit is %d", len,
                   ND_TOPIC_NAME_MAX);
  if (!strcmp(name, ".") || !strcmp(name, ".."))
    return nd_fail(ND_ETOPICNAME, "topic name cannot be '%s'", name);
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return nd_fail(ND_ETOPICNAME,
                     "topic name has character 0x%02x at position %zu; "
                     "allowed are [a-zA-Z0-9._-]",
                     (unsigned char)c, i);
  }
  return 0;
}

int topic_conf_write(const char *dir, const char *name, const uint8_t id[16],
                     int32_t partitions, const nd_topic_config *cfg) {
  char text[4096], uuid[37], path[PATH_MAX];
  uuid_format(id, uuid);
  int n = snprintf(text, sizeof text,
                   "# nodata topic\nname=%s\nid=%s\npartitions=%d\n", name,
                   uuid, (int)partitions);
  int m = config_format(cfg, text + n, sizeof text - (size_t)n);
  if (m < 0)
    return m;
  n += m;
  m = config_format_overrides(cfg->overrides, text + n,
                              sizeof text - (size_t)n);
  if (m < 0)
    return m;
  snprintf(path, sizeof path, "%s/" LAYOUT_TOPIC_CONF, dir);
  int rc = file_write_atomic(path, text, (size_t)(n + m));
  if (rc)
    return nd_fail_os(-rc, "cannot write %s", path);
  return 0;
}

int topic_conf_read(const char *dir, char name[ND_TOPIC_NAME_MAX + 1],
                    uint8_t id[16], int32_t *partitions, nd_topic_config *cfg) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" LAYOUT_TOPIC_CONF, dir);
  char *text;
  size_t len;
  int rc = file_read_all(path, &text, &len);
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", path);
  if (strlen(text) != len) {
    free(text);
    return nd_fail(ND_ECORRUPT, "%s: contains a NUL byte", path);
  }
  nd_topic_config_init(cfg);
  int have_name = 0, have_id = 0, have_parts = 0, have_overrides = 0,
      line_no = 0;
  uint64_t overrides = 0;
  rc = 0;
  /* Line by line, empty ones counted, so errors name the right line. */
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    line_no++;
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *eq = strchr(line, '=');
    if (!eq) {
      rc = nd_fail(ND_ECORRUPT, "%s line %d: no '=' in \"%.60s\"", path,
                   line_no, line);
      break;
    }
    *eq = '\0';
    const char *key = line, *val = eq + 1;
    if (!strcmp(key, "name")) {
      if (nd_topic_name_valid(val) != 0) {
        rc = nd_fail(ND_ECORRUPT, "%s line %d: invalid topic name", path,
                     line_no);
        break;
      }
      snprintf(name, ND_TOPIC_NAME_MAX + 1, "%s", val);
      have_name = 1;
    } else if (!strcmp(key, "id")) {
      if (uuid_parse(val, id) != 0) {
        rc = nd_fail(ND_ECORRUPT, "%s line %d: invalid id '%.40s'", path,
                     line_no, val);
        break;
      }
      have_id = 1;
    } else if (!strcmp(key, "partitions")) {
      char *end;
      long v = strtol(val, &end, 10);
      if (*end || v < 1 || v > 1000000) {
        rc = nd_fail(ND_ECORRUPT, "%s line %d: invalid partition count '%s'",
                     path, line_no, val);
        break;
      }
      *partitions = (int32_t)v;
      have_parts = 1;
    } else if (!strcmp(key, "overrides")) {
      if (config_parse_overrides(val, &overrides) != 0) {
        rc = nd_fail(ND_ECORRUPT, "%s line %d: %s", path, line_no, nd_errmsg());
        break;
      }
      have_overrides = 1;
    } else if (nd_topic_config_set(cfg, key, val) != 0) {
      rc = nd_fail(ND_ECORRUPT, "%s line %d: %s", path, line_no, nd_errmsg());
      break;
    }
  }
  free(text);
  if (rc)
    return rc;
  if (!have_name || !have_id || !have_parts)
    return nd_fail(ND_ECORRUPT, "%s: missing %s", path,
                   !have_name ? "name"
                   : !have_id ? "id"
                              : "partitions");
  if (have_overrides) {
    cfg->overrides = overrides;
  } else {
    /* Written before topics followed the store's defaults: what differs
     * from the built-in defaults was the topic's own choice (or the
     * defaults of its day, kept as they were). */
    nd_topic_config builtin;
    nd_topic_config_init(&builtin);
    cfg->overrides = config_differs(cfg, &builtin);
  }
  char expect[65];
  nd_topic_dirname(name, expect);
  const char *base = strrchr(dir, '/');
  base = base ? base + 1 : dir;
  if (strcmp(base, expect) != 0)
    return nd_fail(ND_ECORRUPT,
                   "%s: topic '%s' belongs in directory %s, not %s", path, name,
                   expect, base);
  return 0;
}

int topic_conf_salvage(const char *dir, char name[ND_TOPIC_NAME_MAX + 1],
                       int32_t *partitions) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" LAYOUT_TOPIC_CONF, dir);
  char *text;
  if (file_read_all(path, &text, NULL) != 0)
    return -1;
  int found = 0;
  *partitions = 0;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    if (!strncmp(line, "name=", 5) && nd_topic_name_valid(line + 5) == 0) {
      char expect[65];
      nd_topic_dirname(line + 5, expect);
      const char *base = strrchr(dir, '/');
      if (!strcmp(base ? base + 1 : dir, expect)) {
        snprintf(name, ND_TOPIC_NAME_MAX + 1, "%s", line + 5);
        found = 1;
      }
    } else if (!strncmp(line, "partitions=", 11)) {
      long v = strtol(line + 11, NULL, 10);
      *partitions = v >= 1 && v <= 1000000 ? (int32_t)v : 0;
    }
  }
  free(text);
  return found ? 0 : -1;
}

int topic_open(seg_caches *caches, const nd_logger *log, const char *dir,
               const nd_topic_config *defaults, int clean, int readonly,
               int allow_offline, int64_t now_ms, topic **out,
               recovery_log *report) {
  topic *t = calloc(1, sizeof *t);
  if (!t)
    return nd_fail(ND_ENOMEM, "out of memory");
  snprintf(t->dir, sizeof t->dir, "%s", dir);
  pthread_rwlock_init(&t->lock, NULL);
  atomic_init(&t->refs, 1);
  atomic_init(&t->round_robin, 0);
  atomic_init(&t->deleted, 0);
  int32_t n = 0;
  int rc = topic_conf_read(dir, t->name, t->id, &n, &t->cfg);
  if (rc == ND_ECORRUPT && allow_offline) {
    /* One bad topic.conf takes that topic offline, not the store. */
    char *why = strdup(nd_errmsg());
    if (why && topic_conf_salvage(dir, t->name, &n) == 0) {
      nd_log(log, ND_LOG_ERROR, "topic '%s' is offline: %s", t->name, why);
      nd_topic_config_init(&t->cfg);
      t->offline = why;
      t->conf_parts = n;
      *out = t;
      return 0;
    }
    if (why) {
      nd_log(log, ND_LOG_ERROR,
             "topic directory %s skipped: %s (its topic.conf does not "
             "name it)",
             dir, why);
      free(why);
      topic_close(t);
      *out = NULL;
      return 0;
    }
  }
  t->conf_parts = n;
  if (!rc) {
    t->cfg.overrides |= ND_TOPIC_OVERRIDES_EXACT;
    config_resolve(&t->cfg, &t->cfg, defaults);
    t->parts = calloc((size_t)n, sizeof *t->parts);
    if (!t->parts)
      rc = nd_fail(ND_ENOMEM, "out of memory");
  }
  for (int32_t i = 0; !rc && i < n; i++) {
    partition_recovery rec;
    rc = partition_open(caches, log, dir, i, &t->cfg, clean, readonly, now_ms,
                        &t->parts[i], &rec);
    if (!rc) {
      t->nparts = i + 1;
      if (t->parts[i]->offline)
        nd_log(log, ND_LOG_ERROR, "topic '%s' partition %d is offline: %s",
               t->name, (int)i, t->parts[i]->offline);
      if (report)
        recovery_log_add(report, t->name, i, &rec);
    }
  }
  if (rc && allow_offline && t->parts && (t->offline = strdup(nd_errmsg()))) {
    /* One topic that cannot be opened must not take the store down: keep
     * it visible (to be deleted or repaired), with nothing open. */
    for (int32_t i = 0; i < t->nparts; i++)
      partition_close(t->parts[i]);
    t->nparts = 0;
    rc = 0;
  }
  if (rc) {
    topic_close(t);
    return rc;
  }
  *out = t;
  return 0;
}

int topic_close(topic *t) {
  int rc = 0;
  for (int32_t i = 0; i < t->nparts; i++) {
    int r = partition_close(t->parts[i]);
    if (r && !rc)
      rc = r;
  }
  free(t->parts);
  free(t->offline);
  pthread_rwlock_destroy(&t->lock);
  free(t);
  return rc;
}

partition *topic_partition(topic *t, int32_t p) {
  partition *part = NULL;
  pthread_rwlock_rdlock(&t->lock);
  if (p >= 0 && p < t->nparts)
    part = t->parts[p];
  pthread_rwlock_unlock(&t->lock);
  return part;
}

void topic_config(topic *t, nd_topic_config *cfg) {
  pthread_rwlock_rdlock(&t->lock);
  *cfg = t->cfg;
  pthread_rwlock_unlock(&t->lock);
}

static int is_topic_hash(const char *s) {
  if (strlen(s) != 64)
    return 0;
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void topic_dirs_free(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int topic_dirs_list(const char *tp, char ***names_out, size_t *n_out) {
  *names_out = NULL;
  *n_out = 0;
  file_dir *d = file_dir_open(tp);
  if (!d)
    return errno == ENOENT ? -ENOENT : nd_fail_os(errno, "cannot open %s", tp);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  const char *name;
  while (!rc && (name = file_dir_next(d)) != NULL) {
    if (!is_topic_hash(name))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        rc = nd_fail(ND_ENOMEM, "out of memory");
        break;
      }
      names = nn;
    }
    if (!(names[n] = strdup(name)))
      rc = nd_fail(ND_ENOMEM, "out of memory");
    else
      n++;
  }
  file_dir_close(d);
  if (rc) {
    topic_dirs_free(names, n);
    return rc;
  }
  if (n)
    qsort(names, n, sizeof *names, cmp_names);
  *names_out = names;
  *n_out = n;
  return 0;
}
