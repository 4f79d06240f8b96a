/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.c — the public entry points for the store as a whole, topic
 * administration, reads and committed consumer offsets. Each starts with
 * a store_enter* helper and, when it took a topic, ends with store_leave
 * (store.h), so every entry point clears the error, refuses a NULL store
 * and a write to a read-only store, and acquires and releases the same
 * way. Appends are in append.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "file.h"
#include "hash.h"
#include "layout.h"
#include "store.h"
#include "txn_coord.h"

int nd_maintain(nd_store *s, int64_t now) {
  int rc = store_enter(s, __func__, ENTRY_READ);
  if (rc)
    return rc;
  if (s->readonly)
    return 0;
  if (now == 0)
    now = store_now_ms();
  size_t n;
  topic **ts = store_snapshot(s, &n);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    nd_topic_config cfg;
    topic_config(ts[i], &cfg);
    for (int32_t p = 0;; p++) {
      partition *part = topic_partition(ts[i], p);
      if (!part)
        break;
      int r = partition_maintain(part, ts[i]->name, &cfg, now);
      if (r && !rc)
        rc = r;
    }
    store_release(ts[i]);
  }
  free(ts);
  int r = offsets_maintain(s->offsets);
  if (!r)
    r = txn_coord_maintain(s->txn);
  return rc ? rc : r;
}

int nd_sync(nd_store *s) {
  int rc = store_enter(s, __func__, ENTRY_READ);
  if (rc)
    return rc;
  size_t n;
  topic **ts = store_snapshot(s, &n);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    for (int32_t p = 0;; p++) {
      partition *part = topic_partition(ts[i], p);
      if (!part)
        break;
      int r = partition_sync(part, -1);
      if (r && !rc)
        rc = r;
    }
    store_release(ts[i]);
  }
  free(ts);
  int r = offsets_sync(s->offsets);
  return rc ? rc : r;
}

/* ---- topics ------------------------------------------------------------- */

static void fill_info(topic *t, nd_topic_info *info) {
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%s", t->name);
  memcpy(info->id, t->id, 16);
  pthread_rwlock_rdlock(&t->lock);
  info->partitions = t->offline ? t->conf_parts : t->nparts;
  info->offline = t->offline != NULL;
  for (int32_t i = 0; i < t->nparts; i++)
    info->offline_partitions += t->parts[i]->offline != NULL;
  info->config = t->cfg;
  info->config.overrides |= ND_TOPIC_OVERRIDES_EXACT;
  pthread_rwlock_unlock(&t->lock);
}

static void store_defaults(nd_store *s, nd_topic_config *out) {
  pthread_mutex_lock(&s->defaults_lock);
  *out = s->defaults;
  pthread_mutex_unlock(&s->defaults_lock);
}

/* t takes the store's current defaults for what it does not override. */
static void topic_follow(nd_store *s, topic *t) {
  pthread_mutex_lock(&s->defaults_lock);
  pthread_rwlock_wrlock(&t->lock);
  nd_topic_config cfg = t->cfg;
  cfg.overrides |= ND_TOPIC_OVERRIDES_EXACT;
  config_resolve(&cfg, &cfg, &s->defaults);
  t->cfg = cfg;
  pthread_rwlock_unlock(&t->lock);
  pthread_mutex_unlock(&s->defaults_lock);
}

/* Partitions of every topic (offline ones as configured). */
static int64_t store_partitions(nd_store *s) {
  int64_t total = 0;
  pthread_rwlock_rdlock(&s->map_lock);
  for (size_t i = 0; i < s->ntopics; i++) {
    topic *t = s->topics[i];
    pthread_rwlock_rdlock(&t->lock);
    total += t->offline ? t->conf_parts : t->nparts;
    pthread_rwlock_unlock(&t->lock);
  }
  pthread_rwlock_unlock(&s->map_lock);
  return total;
}

/* May topic `name`, which has `current` partitions (0: new), have
 * `wanted`? */
static int check_limits(nd_store *s, const char *name, int32_t current,
                        int32_t wanted) {
  if (wanted < 1)
    return nd_fail(ND_EINVAL, "topic '%s': %d partitions; must be at least 1",
                   name, (int)wanted);
  if (wanted > s->max_topic_parts)
    return nd_fail(ND_ETOPICLIMIT,
                   "topic '%s': %d partitions is over the limit of %d per "
                   "topic (max_topic_partitions; nodata serve "
                   "--max-topic-partitions)",
                   name, (int)wanted, (int)s->max_topic_parts);
  int64_t total = store_partitions(s);
  if (total - current + wanted > s->max_store_parts)
    return nd_fail(ND_ESTORELIMIT,
                   "topic '%s': %d more partitions would make %" PRId64
                   " in the store, over its limit of %d "
                   "(max_store_partitions; nodata serve "
                   "--max-store-partitions)",
                   name, (int)(wanted - current), total - current + wanted,
                   (int)s->max_store_parts);
  return 0;
}

int nd_partitions_allowed(nd_store *s, const char *name, int32_t partitions) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, name != NULL,
                            "name is required");
  if (rc)
    return rc;
  int32_t current = 0;
  topic *t = store_acquire(s, name);
  if (t) {
    current = t->offline ? t->conf_parts : t->nparts;
    store_release(t);
  }
  return check_limits(s, name, current, partitions);
}

int nd_topic_create(nd_store *s, const char *name, int32_t partitions,
                    const nd_topic_config *cfg_in) {
  int rc = store_enter(s, __func__, ENTRY_WRITE);
  if (rc || (rc = nd_topic_name_valid(name)) != 0)
    return rc;
  pthread_mutex_lock(&s->admin_lock);
  nd_topic_config cfg, defaults;
  store_defaults(s, &defaults);
  cfg = defaults;
  if (cfg_in)
    config_resolve(&cfg, cfg_in, &defaults);
  if ((rc = config_validate(&cfg)) != 0) {
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  topic *existing = store_acquire(s, name);
  if (existing) {
    store_release(existing);
    pthread_mutex_unlock(&s->admin_lock);
    return nd_fail(ND_ETOPICEXISTS, "topic '%s' already exists", name);
  }
  /* Under admin_lock: no other create or grow can slip past the limit. */
  if ((rc = check_limits(s, name, 0, partitions)) != 0) {
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  char hash[65], tmp[PATH_MAX], final[PATH_MAX];
  nd_topic_dirname(name, hash);
  snprintf(tmp, sizeof tmp, "%s/%s" LAYOUT_CREATING, s->topics_dir, hash);
  snprintf(final, sizeof final, "%s/%s", s->topics_dir, hash);
  uint8_t id[16];
  file_remove_tree(tmp);
  rc = uuid_random(id);
  if (rc)
    rc = nd_fail_os(-rc, "cannot get random bytes for the topic id");
  if (!rc && (rc = file_mkdir(tmp)) != 0)
    rc = nd_fail_os(-rc, "cannot create %s", tmp);
  for (int32_t i = 0; !rc && i < partitions; i++)
    rc = partition_create_dir(tmp, i);
  if (!rc)
    rc = topic_conf_write(tmp, name, id, partitions, &cfg);
  /* The topic appears whole or not at all: one rename publishes it. */
  if (!rc && (rc = file_rename(tmp, final)) != 0)
    rc = nd_fail_os(-rc, "cannot rename %s to %s", tmp, final);
  if (!rc && (rc = stats_sync_dir(&s->logger, s->topics_dir)) != 0)
    rc = nd_fail_os(-rc, "cannot sync %s", s->topics_dir);
  if (rc) {
    file_remove_tree(tmp);
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  topic *t = NULL;
  rc = topic_open(&s->caches, &s->logger, final, &defaults, 1, 0, 0,
                  store_now_ms(), &t, NULL);
  if (!rc && (rc = store_insert_topic(s, t)) != 0)
    topic_close(t);
  if (!rc) /* the defaults may have changed since */
    topic_follow(s, t);
  if (rc && file_rename(final, tmp) == 0) {
    /* Complete or nothing: unpublish what could not be opened (the
     * caller is told the create failed) and remove it. */
    stats_sync_dir(&s->logger, s->topics_dir);
    file_remove_tree(tmp);
  }
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_delete(nd_store *s, const char *name) {
  int rc = store_enter(s, __func__, ENTRY_WRITE);
  if (rc)
    return rc;
  pthread_mutex_lock(&s->admin_lock);
  pthread_rwlock_wrlock(&s->map_lock);
  int found = 0;
  size_t pos = name ? store_find_pos(s, name, &found) : 0;
  if (!found) {
    pthread_rwlock_unlock(&s->map_lock);
    pthread_mutex_unlock(&s->admin_lock);
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  }
  topic *t = s->topics[pos];
  char gone[PATH_MAX];
  uint8_t r[16];
  char tag[37];
  uuid_random(r);
  uuid_format(r, tag);
  snprintf(gone, sizeof gone, "%s.%.8s" LAYOUT_DELETED, t->dir, tag);
  if ((rc = file_rename(t->dir, gone)) != 0)
    rc = nd_fail_os(-rc, "cannot rename %s", t->dir);
  if (!rc) {
    memmove(s->topics + pos, s->topics + pos + 1,
            (s->ntopics - pos - 1) * sizeof *s->topics);
    s->ntopics--;
    atomic_store(&t->deleted, 1);
    snprintf(t->dir, sizeof t->dir, "%s", gone);
  }
  pthread_rwlock_unlock(&s->map_lock);
  if (!rc) {
    stats_sync_dir(&s->logger, s->topics_dir);
    store_release(t);
    /* A topic created later under the same name starts with no offsets. */
    rc = offsets_delete_topic(s->offsets, name);
  }
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_add_partitions(nd_store *s, const char *name, int32_t partitions) {
  int rc = store_enter(s, __func__, ENTRY_WRITE);
  if (rc)
    return rc;
  /* The topic is taken under admin_lock: no delete or other grow between
   * the check of the count and the new topic.conf. */
  pthread_mutex_lock(&s->admin_lock);
  topic *t = NULL;
  if ((rc = store_enter_topic(s, __func__, ENTRY_WRITE, name, &t)) != 0) {
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  int32_t old = t->nparts;
  if (partitions <= old) {
    rc = nd_fail(ND_EINVAL,
                 "topic '%s' has %d partitions; the new count %d must be "
                 "larger",
                 name, (int)old, (int)partitions);
    goto out;
  }
  if ((rc = check_limits(s, name, old, partitions)) != 0)
    goto out;
  partition **parts = calloc((size_t)partitions, sizeof *parts);
  if (!parts) {
    rc = nd_fail(ND_ENOMEM, "out of memory");
    goto out;
  }
  nd_topic_config cfg;
  topic_config(t, &cfg);
  int32_t opened = old;
  for (int32_t i = old; !rc && i < partitions; i++) {
    partition_recovery rec;
    char pdir[PATH_MAX];
    /* Directories past the count are leftovers of a failed grow. */
    snprintf(pdir, sizeof pdir, "%s/%d", t->dir, (int)i);
    file_remove_tree(pdir);
    rc = partition_create_dir(t->dir, i);
    if (!rc)
      rc = partition_open(&s->caches, &s->logger, t->dir, i, &cfg, 1, 0,
                          store_now_ms(), &parts[i], &rec);
    if (!rc)
      opened = i + 1;
  }
  if (!rc)
    rc = topic_conf_write(t->dir, t->name, t->id, partitions, &cfg);
  if (rc) {
    /* Nothing of a failed grow stays: the count in topic.conf is the old
     * one, and the new directories go. */
    for (int32_t i = old; i < opened; i++)
      partition_close(parts[i]);
    for (int32_t i = old; i < partitions; i++) {
      char pdir[PATH_MAX];
      snprintf(pdir, sizeof pdir, "%s/%d", t->dir, (int)i);
      file_remove_tree(pdir);
    }
    free(parts);
    goto out;
  }
  pthread_rwlock_wrlock(&t->lock);
  memcpy(parts, t->parts, (size_t)old * sizeof *parts);
  free(t->parts);
  t->parts = parts;
  t->nparts = partitions;
  pthread_rwlock_unlock(&t->lock);
out:
  rc = store_leave(t, rc);
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_set_config(nd_store *s, const char *name,
                        const nd_topic_config *cfg_in) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, cfg_in != NULL,
                            "config is required");
  if (rc)
    return rc;
  pthread_mutex_lock(&s->admin_lock);
  nd_topic_config cfg, defaults;
  store_defaults(s, &defaults);
  config_resolve(&cfg, cfg_in, &defaults);
  if ((rc = config_validate(&cfg)) != 0) {
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  topic *t = NULL;
  if ((rc = store_enter_topic(s, __func__, ENTRY_WRITE, name, &t)) != 0) {
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  rc = topic_conf_write(t->dir, t->name, t->id, t->nparts, &cfg);
  if (!rc) {
    pthread_rwlock_wrlock(&t->lock);
    t->cfg = cfg;
    pthread_rwlock_unlock(&t->lock);
    topic_follow(s, t); /* the defaults may have changed since */
  }
  rc = store_leave(t, rc);
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_store_set_topic_defaults(nd_store *s, const nd_topic_config *defaults) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, defaults != NULL,
                            "defaults are required");
  if (rc)
    return rc;
  nd_topic_config d = *defaults;
  d.overrides = 0;
  if ((rc = config_validate(&d)) != 0)
    return rc;
  /* A topic whose overrides conflict with the new defaults
   * (min.compaction.lag.ms above the default max.compaction.lag.ms) takes
   * them all the same, as Kafka's does; its next config change must mend
   * the conflict. A topic created or changed meanwhile follows them once
   * done (topic_follow). */
  pthread_mutex_lock(&s->defaults_lock);
  pthread_rwlock_rdlock(&s->map_lock);
  for (size_t i = 0; i < s->ntopics; i++) {
    topic *t = s->topics[i];
    if (t->offline)
      continue;
    pthread_rwlock_wrlock(&t->lock);
    t->cfg.overrides |= ND_TOPIC_OVERRIDES_EXACT;
    config_resolve(&t->cfg, &t->cfg, &d);
    pthread_rwlock_unlock(&t->lock);
  }
  s->defaults = d;
  pthread_rwlock_unlock(&s->map_lock);
  pthread_mutex_unlock(&s->defaults_lock);
  return 0;
}

int nd_store_topic_defaults(nd_store *s, nd_topic_config *out) {
  int rc =
      store_enter_args(s, __func__, ENTRY_READ, out != NULL, "out is required");
  if (rc)
    return rc;
  store_defaults(s, out);
  return 0;
}

int nd_topic_describe(nd_store *s, const char *name, nd_topic_info *info) {
  topic *t = NULL;
  int rc = store_enter_args(s, __func__, ENTRY_READ, info != NULL,
                            "info is required");
  if (rc)
    return rc;
  /* An offline topic is described too: info->offline says so. */
  if ((rc = store_enter_topic(s, __func__, ENTRY_OFFLINE_OK, name, &t)) != 0)
    return rc;
  fill_info(t, info);
  return store_leave(t, 0);
}

int nd_topic_by_id(nd_store *s, const uint8_t id[16], nd_topic_info *info) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, id && info,
                            "id and info are required");
  if (rc)
    return rc;
  topic *t = NULL;
  pthread_rwlock_rdlock(&s->map_lock);
  for (size_t i = 0; i < s->ntopics; i++) {
    if (!memcmp(s->topics[i]->id, id, 16)) {
      t = s->topics[i];
      atomic_fetch_add(&t->refs, 1);
      break;
    }
  }
  pthread_rwlock_unlock(&s->map_lock);
  if (!t) {
    char text[37];
    uuid_format(id, text);
    return nd_fail(ND_ENOTOPIC, "no topic has id %s", text);
  }
  fill_info(t, info);
  return store_leave(t, 0);
}

int nd_topic_list(nd_store *s, nd_topic_info **infos, size_t *count) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, infos && count,
                            "infos and count are required");
  if (rc)
    return rc;
  size_t n;
  topic **ts = store_snapshot(s, &n);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  nd_topic_info *out = NULL;
  if (n) {
    out = malloc(n * sizeof *out);
    if (!out) {
      for (size_t i = 0; i < n; i++)
        store_release(ts[i]);
      free(ts);
      return nd_fail(ND_ENOMEM, "out of memory");
    }
  }
  for (size_t i = 0; i < n; i++) {
    fill_info(ts[i], &out[i]);
    store_release(ts[i]);
  }
  free(ts);
  *infos = out;
  *count = n;
  return 0;
}

/* ---- reads -------------------------------------------------------------- */

int nd_partition_describe(nd_store *s, const char *name, int32_t p,
                          nd_partition_info *info) {
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  return store_leave(t, partition_describe(part, info));
}

int nd_partition_producers(nd_store *s, const char *name, int32_t p,
                           nd_producer_info **list, size_t *count) {
  if (!list || !count)
    return nd_fail(ND_EINVAL, "%s: list and count are required", __func__);
  *list = NULL;
  *count = 0;
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  return store_leave(t, partition_producers(part, list, count));
}

int nd_offsets(nd_store *s, const char *name, int32_t p, int64_t *log_start,
               int64_t *hw) {
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  if (log_start)
    *log_start = atomic_load(&part->log_start);
  if (hw)
    *hw = atomic_load(&part->hw);
  return store_leave(t, 0);
}

int nd_offset_for_time(nd_store *s, const char *name, int32_t p, int64_t ts,
                       int64_t *offset, int64_t *timestamp) {
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  int64_t o, tsf;
  rc = store_leave(
      t, partition_offset_for_time(part, ts, s->opts.decompress, &o, &tsf));
  if (!rc) {
    if (offset)
      *offset = o;
    if (timestamp)
      *timestamp = tsf;
  }
  return rc;
}

static int read_entry(nd_store *s, const char *fn, const char *name, int32_t p,
                      int64_t offset, size_t max_bytes, int committed,
                      nd_batches *out) {
  if (!out)
    return nd_fail(ND_EINVAL, "%s: out is NULL", fn);
  memset(out, 0, sizeof *out);
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, fn, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  return store_leave(
      t, committed ? partition_read_committed(part, offset, max_bytes, out)
                   : partition_read(part, offset, max_bytes, out));
}

int nd_read(nd_store *s, const char *name, int32_t p, int64_t offset,
            size_t max_bytes, nd_batches *out) {
  return read_entry(s, __func__, name, p, offset, max_bytes, 0, out);
}

int nd_read_committed(nd_store *s, const char *name, int32_t p, int64_t offset,
                      size_t max_bytes, nd_batches *out) {
  return read_entry(s, __func__, name, p, offset, max_bytes, 1, out);
}

static int read_file_entry(nd_store *s, const char *fn, const char *name,
                           int32_t p, int64_t offset, size_t max_bytes,
                           int committed, nd_file_range *out) {
  if (!out)
    return nd_fail(ND_EINVAL, "%s: out is NULL", fn);
  memset(out, 0, sizeof *out);
  out->fd = -1;
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, fn, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  /* A failed read holds no descriptor: segment_read_range dups last. */
  return store_leave(
      t, committed ? partition_read_file_committed(part, offset, max_bytes, out)
                   : partition_read_file(part, offset, max_bytes, out));
}

int nd_read_file(nd_store *s, const char *name, int32_t p, int64_t offset,
                 size_t max_bytes, nd_file_range *out) {
  return read_file_entry(s, __func__, name, p, offset, max_bytes, 0, out);
}

int nd_read_file_committed(nd_store *s, const char *name, int32_t p,
                           int64_t offset, size_t max_bytes,
                           nd_file_range *out) {
  return read_file_entry(s, __func__, name, p, offset, max_bytes, 1, out);
}

int nd_aborted_txns(nd_store *s, const char *name, int32_t p, int64_t from,
                    int64_t upto, nd_aborted_txn **list, size_t *count) {
  if (!list || !count)
    return nd_fail(ND_EINVAL, "%s: list and count are required", __func__);
  *list = NULL;
  *count = 0;
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_READ, name, p, &t, &part);
  if (rc)
    return rc;
  return store_leave(t, partition_aborted_txns(part, from, upto, list, count));
}

int nd_delete_records(nd_store *s, const char *name, int32_t p, int64_t offset,
                      int64_t *new_log_start) {
  topic *t = NULL;
  partition *part = NULL;
  int rc = store_enter_partition(s, __func__, ENTRY_WRITE, name, p, &t, &part);
  if (rc)
    return rc;
  return store_leave(
      t, partition_delete_records(part, t->name, offset, new_log_start));
}

/* ---- committed offsets -------------------------------------------------- */

static int check_group(const char *group) {
  if (!group || !*group)
    return nd_fail(ND_EINVAL, "group name is empty");
  size_t len = strlen(group);
  if (len > ND_GROUP_NAME_MAX)
    return nd_fail(ND_EINVAL, "group name is %zu bytes, the limit is %d", len,
                   ND_GROUP_NAME_MAX);
  return 0;
}

int nd_commit_offsets(nd_store *s, const char *group,
                      const nd_offset_commit *commits, size_t n) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, !n || commits,
                            "commits needed");
  if (rc)
    return rc;
  if ((rc = check_group(group)) != 0 || n == 0)
    return rc;
  for (size_t i = 0; i < n; i++) {
    const nd_offset_commit *c = &commits[i];
    if (offsets_meta_len(c) > ND_OFFSET_METADATA_MAX)
      return nd_fail(ND_EINVAL,
                     "offset metadata for %s/%d is %zu bytes, the limit is %d",
                     c->topic ? c->topic : "?", (int)c->partition,
                     offsets_meta_len(c), ND_OFFSET_METADATA_MAX);
    if (c->offset < -1)
      return nd_fail(ND_EINVAL, "offset %" PRId64 " for %s/%d is negative",
                     c->offset, c->topic ? c->topic : "?", (int)c->partition);
    topic *t = NULL;
    partition *part = NULL;
    rc = store_enter_partition(s, __func__, ENTRY_WRITE, c->topic, c->partition,
                               &t, &part);
    if (rc)
      return rc;
    store_leave(t, 0);
  }
  return offsets_commit(s->offsets, group, commits, n, store_now_ms());
}

int nd_commit_offset(nd_store *s, const char *group, const char *topic_name,
                     int32_t partition_id, int64_t offset,
                     const char *metadata) {
  nd_offset_commit c = {topic_name, partition_id, offset, -1, metadata, 0};
  return nd_commit_offsets(s, group, &c, 1);
}

int nd_committed_offset(nd_store *s, const char *group, const char *topic_name,
                        int32_t partition_id, int64_t *offset,
                        int32_t *leader_epoch, char **metadata,
                        size_t *metadata_len) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, offset && topic_name,
                            "topic and offset needed");
  if (rc)
    return rc;
  if ((rc = check_group(group)) != 0)
    return rc;
  if (strlen(topic_name) > ND_TOPIC_NAME_MAX)
    return nd_fail(ND_ETOPICNAME, "topic name longer than %d",
                   ND_TOPIC_NAME_MAX);
  return offsets_get(s->offsets, group, topic_name, partition_id, offset,
                     leader_epoch, metadata, metadata_len);
}

int nd_group_offsets(nd_store *s, const char *group, nd_committed **list,
                     size_t *count) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, list && count,
                            "list and count needed");
  if (rc)
    return rc;
  rc = check_group(group);
  return rc ? rc : offsets_list(s->offsets, group, list, count);
}

int nd_group_list(nd_store *s, char ***names, size_t *count) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, names && count,
                            "names and count needed");
  if (rc)
    return rc;
  return offsets_groups(s->offsets, names, count);
}

int nd_group_set_protocol_type(nd_store *s, const char *group,
                               const char *type) {
  int rc =
      store_enter_args(s, __func__, ENTRY_WRITE, type != NULL, "type needed");
  if (rc)
    return rc;
  if ((rc = check_group(group)) != 0)
    return rc;
  size_t len = strlen(type);
  if (len == 0 || len > ND_GROUP_NAME_MAX)
    return nd_fail(ND_EINVAL, "protocol type is %zu bytes, it must be 1 to %d",
                   len, ND_GROUP_NAME_MAX);
  return offsets_set_type(s->offsets, group, type);
}

int nd_group_protocol_type(nd_store *s, const char *group, char **type) {
  int rc =
      store_enter_args(s, __func__, ENTRY_READ, type != NULL, "type needed");
  if (rc)
    return rc;
  *type = NULL;
  rc = check_group(group);
  return rc ? rc : offsets_get_type(s->offsets, group, type);
}

int nd_group_set_state(nd_store *s, const char *group, const void *state,
                       size_t len) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, state || !len,
                            "state needed (len > 0)");
  if (rc)
    return rc;
  if ((rc = check_group(group)) != 0)
    return rc;
  if (len > ND_GROUP_STATE_MAX)
    return nd_fail(ND_EINVAL, "group state is %zu bytes, the limit is %u", len,
                   ND_GROUP_STATE_MAX);
  return offsets_set_state(s->offsets, group, state, len);
}

int nd_group_state(nd_store *s, const char *group, void **state, size_t *len) {
  int rc = store_enter_args(s, __func__, ENTRY_READ, state && len,
                            "state and len needed");
  if (rc)
    return rc;
  *state = NULL;
  *len = 0;
  rc = check_group(group);
  return rc ? rc : offsets_get_state(s->offsets, group, state, len);
}

int nd_delete_offsets(nd_store *s, const char *group,
                      const nd_topic_partition *parts, size_t n) {
  int rc = store_enter_args(s, __func__, ENTRY_WRITE, !n || parts,
                            "partitions needed");
  if (rc)
    return rc;
  if ((rc = check_group(group)) != 0 || n == 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (!parts[i].topic || !*parts[i].topic ||
        strlen(parts[i].topic) > ND_TOPIC_NAME_MAX)
      return nd_fail(ND_EINVAL, "delete_offsets: partition %zu: bad topic", i);
  return offsets_delete_partitions(s->offsets, group, parts, n);
}

int nd_group_delete(nd_store *s, const char *group) {
  int rc = store_enter(s, __func__, ENTRY_WRITE);
  if (rc)
    return rc;
  rc = check_group(group);
  return rc ? rc : offsets_delete_group(s->offsets, group);
}
