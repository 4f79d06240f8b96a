/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c — the data directory: open/close with the lock, FORMAT and
 * clean-shutdown files, the topic registry, and the entry helpers every
 * public nd_* entry point starts with (store.h). The entry points
 * themselves are in api.c and append.c, the background thread in
 * background.c.
 *
 * Directory layout (layout.h names every file; docs/format.md has the
 * full description):
 *   .               the directory itself is flock()ed by the writer: a
 *                   directory holding a store cannot be unlinked from
 *                   under it, as a lock file can
 *   nodata.lock     holds the writer's pid; also flock()ed, for older
 *                   versions of nodata, which lock only this file
 *   FORMAT          "nodata 1\n"
 *   clean-shutdown  present only between a clean close and the next open
 *   topics/<sha256(name)>/topic.conf, topics/<sha256(name)>/<p>/...
 *
 * Topics are looked up by name in a sorted array under a rwlock and
 * reference counted, so a topic deleted while another thread appends to it
 * is freed by whoever drops the last reference.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "file.h"
#include "layout.h"
#include "store.h"
#include "txn_coord.h"

#define FORMAT_TEXT "nodata 1\n"

int64_t store_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t store_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- topic registry ---------------------------------------------------- */

size_t store_find_pos(nd_store *s, const char *name, int *found) {
  size_t lo = 0, hi = s->ntopics;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->topics[mid]->name, name);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

int store_insert_topic(nd_store *s, topic *t) {
  t->store = s;
  pthread_rwlock_wrlock(&s->map_lock);
  int found;
  size_t pos = store_find_pos(s, t->name, &found);
  if (found) {
    pthread_rwlock_unlock(&s->map_lock);
    return nd_fail(ND_ETOPICEXISTS, "topic '%s' already exists", t->name);
  }
  if (s->ntopics == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    topic **n = realloc(s->topics, cap * sizeof *n);
    if (!n) {
      pthread_rwlock_unlock(&s->map_lock);
      return nd_fail(ND_ENOMEM, "out of memory");
    }
    s->topics = n;
    s->cap = cap;
  }
  memmove(s->topics + pos + 1, s->topics + pos,
          (s->ntopics - pos) * sizeof *s->topics);
  s->topics[pos] = t;
  s->ntopics++;
  pthread_rwlock_unlock(&s->map_lock);
  return 0;
}

topic *store_acquire(nd_store *s, const char *name) {
  topic *t = NULL;
  if (!name)
    return NULL;
  pthread_rwlock_rdlock(&s->map_lock);
  int found;
  size_t pos = store_find_pos(s, name, &found);
  if (found) {
    t = s->topics[pos];
    atomic_fetch_add(&t->refs, 1);
  }
  pthread_rwlock_unlock(&s->map_lock);
  return t;
}

topic **store_snapshot(nd_store *s, size_t *n) {
  pthread_rwlock_rdlock(&s->map_lock);
  topic **ts = malloc((s->ntopics ? s->ntopics : 1) * sizeof *ts);
  *n = 0;
  if (ts) {
    for (size_t i = 0; i < s->ntopics; i++) {
      ts[i] = s->topics[i];
      atomic_fetch_add(&ts[i]->refs, 1);
    }
    *n = s->ntopics;
  }
  pthread_rwlock_unlock(&s->map_lock);
  return ts;
}

/* A deleted topic's directory was renamed away; the last holder frees the
 * partitions without persisting anything and has the files removed. */
void store_release(topic *t) {
  if (atomic_fetch_sub(&t->refs, 1) != 1)
    return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", t->dir);
  nd_store *s = t->store;
  for (int32_t i = 0; i < t->nparts; i++)
    t->parts[i]->readonly = 1; /* nothing to sync or persist */
  topic_close(t);
  store_trash(s, dir);
}

int store_offline_error(topic *t) {
  return nd_fail(ND_EFAILED,
                 "topic '%s' is offline: %s (delete it, or fix the cause and "
                 "reopen the store)",
                 t->name, t->offline);
}

/* ---- entry helpers ------------------------------------------------------ */

int store_enter_args(nd_store *s, const char *fn, unsigned mode, int args_ok,
                     const char *what) {
  nd_clear_error();
  if (!s)
    return nd_fail(ND_EINVAL, "%s: store is NULL", fn);
  if (!args_ok)
    return nd_fail(ND_EINVAL, "%s: %s", fn, what);
  if ((mode & ENTRY_WRITE) && s->readonly)
    return nd_fail(ND_EREADONLY, "%s: store %s opened read-only", fn, s->dir);
  return 0;
}

int store_enter(nd_store *s, const char *fn, unsigned mode) {
  return store_enter_args(s, fn, mode, 1, NULL);
}

int store_enter_topic(nd_store *s, const char *fn, unsigned mode,
                      const char *name, topic **t_out) {
  int rc = store_enter(s, fn, mode);
  if (rc)
    return rc;
  topic *t = store_acquire(s, name);
  if (!t)
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  if (t->offline && !(mode & ENTRY_OFFLINE_OK)) {
    rc = store_offline_error(t);
    store_release(t);
    return rc;
  }
  *t_out = t;
  return 0;
}

int store_partition(topic *t, int32_t p, partition **p_out) {
  partition *part = topic_partition(t, p);
  if (!part) {
    int32_t n;
    pthread_rwlock_rdlock(&t->lock);
    n = t->nparts;
    pthread_rwlock_unlock(&t->lock);
    return nd_fail(ND_ENOPARTITION,
                   "topic '%s' has no partition %d (it has %d)", t->name,
                   (int)p, (int)n);
  }
  if (part->offline)
    return nd_fail(ND_EFAILED, "topic '%s' partition %d is offline: %s",
                   t->name, (int)p, part->offline);
  *p_out = part;
  return 0;
}

int store_enter_partition(nd_store *s, const char *fn, unsigned mode,
                          const char *name, int32_t p, topic **t_out,
                          partition **p_out) {
  topic *t = NULL;
  int rc =
      store_enter_topic(s, fn, mode & ~(unsigned)ENTRY_OFFLINE_OK, name, &t);
  if (rc)
    return rc;
  if ((rc = store_partition(t, p, p_out)) != 0) {
    store_release(t);
    return rc;
  }
  *t_out = t;
  return 0;
}

int store_leave(topic *t, int rc) {
  if (rc < 0 && atomic_load(&t->deleted))
    rc = nd_fail(ND_ENOTOPIC, "topic '%s' was deleted", t->name);
  store_release(t);
  return rc;
}

/* ---- open / close ------------------------------------------------------- */

static int read_lock_pid(const char *path, pid_t *pid) {
  char *text;
  *pid = 0;
  if (file_read_all(path, &text, NULL) != 0)
    return 0;
  *pid = (pid_t)atoi(text);
  free(text);
  return 0;
}

/* The pid holding an flock on the inode of `fd`, from /proc/locks (the
 * lock file may have been removed), or 0. */
static pid_t flock_owner(int fd) {
  struct stat st;
  char *text = NULL;
  if (file_fstat(fd, &st) != 0 || file_read_all("/proc/locks", &text, NULL))
    return 0;
  pid_t found = 0;
  for (char *line = text, *nl; !found && line && *line;
       line = nl ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    long pid;
    unsigned maj, min;
    unsigned long long ino;
    if (sscanf(line, "%*d: FLOCK %*s %*s %ld %x:%x:%llu", &pid, &maj, &min,
               &ino) == 4 &&
        ino == (unsigned long long)st.st_ino && makedev(maj, min) == st.st_dev)
      found = (pid_t)pid;
  }
  free(text);
  return found;
}

/* 1 if another open file description holds an flock on fd's file. */
static int flock_held(int fd) {
  if (file_lock(fd, 0) == 0) {
    file_unlock(fd);
    return 0;
  }
  return 1;
}

int nd_lock_holder(const char *dir, pid_t *pid) {
  char path[PATH_MAX];
  *pid = 0;
  snprintf(path, sizeof path, "%s/" LAYOUT_LOCK, dir);
  int dfd = file_open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0)
    return dfd == -ENOENT ? 0 : nd_fail_os(-dfd, "cannot open %s", dir);
  int held = flock_held(dfd);
  int fd = file_open(path, O_RDONLY);
  if (fd < 0 && fd != -ENOENT) {
    file_close(dfd);
    return nd_fail_os(-fd, "cannot open %s", path);
  }
  if (!held && fd >= 0)
    held = flock_held(fd); /* an older nodata locks only the file */
  if (held) {
    read_lock_pid(path, pid);
    if (*pid <= 0)
      *pid = flock_owner(dfd);
    if (*pid <= 0)
      *pid = -1;
  }
  file_close(fd);
  file_close(dfd);
  return 0;
}

static int lock_busy(nd_store *s) {
  pid_t pid;
  nd_lock_holder(s->dir, &pid);
  if (pid > 0)
    return nd_fail(ND_ELOCKED, "data directory %s is in use by pid %d", s->dir,
                   (int)pid);
  return nd_fail(ND_ELOCKED, "data directory %s is in use by another process",
                 s->dir);
}

/* The directory itself is the lock: nodata.lock can be deleted by a
 * cleanup script or a restore while the writer runs, and a second writer
 * would then lock a new file and share the store (issue 15). The file is
 * still locked too, so older versions see the store as held. */
static int take_lock(nd_store *s) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" LAYOUT_LOCK, s->dir);
  int rc = s->dir_lock_fd = file_open(s->dir, O_RDONLY | O_DIRECTORY);
  if (rc < 0) {
    s->dir_lock_fd = -1;
    return nd_fail_os(-rc, "cannot open %s", s->dir);
  }
  if ((rc = file_lock(s->dir_lock_fd, 1)) != 0)
    return rc == -EWOULDBLOCK ? lock_busy(s)
                              : nd_fail_os(-rc, "cannot lock %s", s->dir);
  rc = s->lock_fd = file_open(path, O_RDWR | O_CREAT);
  if (rc < 0) {
    s->lock_fd = -1;
    return nd_fail_os(-rc, "cannot open %s", path);
  }
  if ((rc = file_lock(s->lock_fd, 1)) != 0)
    return rc == -EWOULDBLOCK ? lock_busy(s)
                              : nd_fail_os(-rc, "cannot lock %s", path);
  return 0;
}

/* The holder's pid in nodata.lock, once FORMAT says the store is this
 * format's: a directory of another (newer) format is left as it was. */
static int write_lock_pid(nd_store *s) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" LAYOUT_LOCK, s->dir);
  char text[32];
  int n = snprintf(text, sizeof text, "%d\n", (int)getpid());
  int rc = file_truncate(s->lock_fd, 0);
  if (!rc)
    rc = file_pwrite_all(s->lock_fd, text, (size_t)n, 0);
  if (rc)
    return nd_fail_os(-rc, "cannot write %s", path);
  return 0;
}

/* 1 if every topic directory in tp holds a topic.conf that starts as
 * this format writes it ("# nodata topic", then name=): a lost FORMAT file
 * is then safely written again. 0 names the first one that does not in
 * *bad. */
static int topics_look_like_v1(const char *tp, char *bad, size_t cap) {
  file_dir *d = file_dir_open(tp);
  if (!d) {
    snprintf(bad, cap, "%s (%s)", tp, strerror(errno));
    return 0;
  }
  int ok = 1;
  const char *name;
  while (ok && (name = file_dir_next(d)) != NULL) {
    if (name[0] == '.')
      continue;
    char path[PATH_MAX], *text = NULL;
    snprintf(path, sizeof path, "%s/%.200s/" LAYOUT_TOPIC_CONF, tp, name);
    size_t len = strlen(name);
    if (len != 64) {
      /* Leftovers of an interrupted create or delete are this format's. */
      ok = layout_has_suffix(name, LAYOUT_DELETED) ||
           layout_has_suffix(name, LAYOUT_CREATING);
    } else {
      ok = file_read_all(path, &text, NULL) == 0 &&
           !strncmp(text, "# nodata topic\nname=", 20);
      free(text);
    }
    if (!ok)
      snprintf(bad, cap, "%s", path);
  }
  file_dir_close(d);
  return ok;
}

static int check_format(nd_store *s, int *is_new) {
  char path[PATH_MAX], *text;
  snprintf(path, sizeof path, "%s/" LAYOUT_FORMAT, s->dir);
  int rc = file_read_all(path, &text, NULL);
  if (rc == -ENOENT) {
    /* A directory without FORMAT is new only if it holds no topics; one
     * whose topics are all this format's lost only the FORMAT file. */
    char tp[PATH_MAX], bad[PATH_MAX + 64];
    struct stat st;
    snprintf(tp, sizeof tp, "%s/" LAYOUT_TOPICS, s->dir);
    if (file_stat(tp, &st) == 0) {
      if (!topics_look_like_v1(tp, bad, sizeof bad))
        return nd_fail(ND_EFORMAT,
                       "%s is missing and %s is not a nodata 1 topic, so "
                       "this may be another format's store",
                       path, bad);
      nd_log(&s->logger, ND_LOG_WARN,
             "%s is missing, but every topic in %s is a nodata 1 topic: %s",
             path, tp,
             s->readonly ? "reading it as nodata 1" : "writing it again");
    } else {
      *is_new = 1;
    }
    if (s->readonly)
      return 0;
    rc = file_write_atomic(path, FORMAT_TEXT, strlen(FORMAT_TEXT));
    return rc ? nd_fail_os(-rc, "cannot write %s", path) : 0;
  }
  if (rc)
    return nd_fail_os(-rc, "cannot read %s", path);
  rc = store_format_check(path, text);
  free(text);
  return rc;
}

int store_format_check(const char *path, const char *text) {
  if (strcmp(text, FORMAT_TEXT) == 0)
    return 0;
  char shown[64];
  snprintf(shown, sizeof shown, "%s", text);
  shown[strcspn(shown, "\n")] = '\0';
  return nd_fail(ND_EFORMAT,
                 "%s says \"%s\"; this build of nodata reads \"nodata 1\"",
                 path, shown);
}

static int load_topics(nd_store *s, int clean) {
  file_dir *d = file_dir_open(s->topics_dir);
  if (!d) {
    if (errno == ENOENT && s->readonly)
      return 0;
    return nd_fail_os(errno, "cannot open %s", s->topics_dir);
  }
  const char *name;
  int rc = 0;
  int64_t now = store_now_ms();
  s->recovery.stats.clean_shutdown = clean;
  while (!rc && (name = file_dir_next(d)) != NULL) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->topics_dir, name);
    size_t len = strlen(name);
    if (len != 64) {
      /* Leftovers of an interrupted create or delete. */
      if (!s->readonly && (layout_has_suffix(name, LAYOUT_DELETED) ||
                           layout_has_suffix(name, LAYOUT_CREATING)))
        file_remove_tree(path);
      continue;
    }
    topic *t = NULL;
    rc = topic_open(&s->caches, &s->logger, path, &s->defaults, clean,
                    s->readonly, 1, now, &t, &s->recovery);
    if (!rc && t) {
      rc = store_insert_topic(s, t);
      if (rc)
        topic_close(t);
    }
  }
  file_dir_close(d);
  return rc;
}

static void store_free(nd_store *s) {
  txn_coord_close(s->txn);
  offsets_close(s->offsets);
  for (size_t i = 0; i < s->ntopics; i++)
    topic_close(s->topics[i]);
  free(s->topics);
  file_close(s->lock_fd);
  file_close(s->dir_lock_fd);
  seg_caches_destroy(&s->caches);
  recovery_log_free(&s->recovery);
  pthread_rwlock_destroy(&s->map_lock);
  pthread_mutex_destroy(&s->admin_lock);
  pthread_mutex_destroy(&s->defaults_lock);
  pthread_mutex_destroy(&s->bg_lock);
  pthread_cond_destroy(&s->bg_cond);
  pthread_cond_destroy(&s->cleaner_cond);
  free(s);
}

int nd_open(const char *dir, const nd_options *opts, nd_store **out) {
  nd_clear_error();
  if (!dir || !*dir || !out)
    return nd_fail(ND_EINVAL, "nd_open: directory and out are required");
  *out = NULL;
  nd_store *s = calloc(1, sizeof *s);
  if (!s)
    return nd_fail(ND_ENOMEM, "out of memory");
  s->lock_fd = -1;
  s->dir_lock_fd = -1;
  pthread_rwlock_init(&s->map_lock, NULL);
  pthread_mutex_init(&s->admin_lock, NULL);
  pthread_mutex_init(&s->defaults_lock, NULL);
  pthread_mutex_init(&s->bg_lock, NULL);
  pthread_cond_init(&s->bg_cond, NULL);
  pthread_cond_init(&s->cleaner_cond, NULL);
  if (opts)
    s->opts = *opts;
  stats_init(&s->stats, s->opts.slow_fsync_ms);
  s->logger = (nd_logger){s->opts.on_log, s->opts.on_log_ctx, &s->stats};
  seg_caches_init(
      &s->caches,
      s->opts.max_open_files > 0 ? (size_t)s->opts.max_open_files : 0,
      s->opts.max_mapped_indexes > 0 ? (size_t)s->opts.max_mapped_indexes : 0);
  s->caches.log = s->logger;
  s->readonly = (s->opts.flags & ND_OPEN_READONLY) != 0;
  /* topic.conf holds at most 1,000,000 partitions (topic_conf_read). */
  s->max_topic_parts = s->opts.max_topic_partitions > 0
                           ? s->opts.max_topic_partitions
                           : ND_DEFAULT_MAX_TOPIC_PARTITIONS;
  if (s->max_topic_parts > 1000000)
    s->max_topic_parts = 1000000;
  s->max_store_parts = s->opts.max_store_partitions > 0
                           ? s->opts.max_store_partitions
                           : ND_DEFAULT_MAX_STORE_PARTITIONS;
  if (s->opts.topic_defaults)
    s->defaults = *s->opts.topic_defaults;
  else
    nd_topic_config_init(&s->defaults);
  s->defaults.overrides = 0;
  s->opts.topic_defaults = NULL;
  if (config_validate(&s->defaults) != 0) {
    int rc = nd_fail(ND_ECONFIG, "topic defaults: %s", nd_errmsg());
    store_free(s);
    return rc;
  }
  if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir - 80) {
    store_free(s);
    return nd_fail(ND_EINVAL, "data directory path too long");
  }
  snprintf(s->topics_dir, sizeof s->topics_dir, "%s/" LAYOUT_TOPICS, dir);

  int rc = 0;
  struct stat st;
  if ((rc = file_stat(dir, &st)) != 0) {
    if (rc != -ENOENT || s->readonly || (s->opts.flags & ND_OPEN_NOCREATE))
      rc = nd_fail_os(-rc, "cannot open data directory %s", dir);
    else if ((rc = file_mkdir_p(dir)) != 0)
      rc = nd_fail_os(-rc, "cannot create data directory %s", dir);
  } else if (!S_ISDIR(st.st_mode)) {
    rc = nd_fail(-ENOTDIR, "%s is not a directory", dir);
  }
  if (!rc && !s->readonly)
    rc = take_lock(s);
  int is_new = 0;
  if (!rc)
    rc = check_format(s, &is_new);
  if (!rc && !s->readonly)
    rc = write_lock_pid(s);
  char clean_path[PATH_MAX];
  snprintf(clean_path, sizeof clean_path, "%s/" LAYOUT_CLEAN_SHUTDOWN, dir);
  int clean = is_new || file_exists(clean_path) == 1;
  if (!rc && !s->readonly) {
    if ((rc = file_mkdir(s->topics_dir)) != 0 && rc != -EEXIST)
      rc = nd_fail_os(-rc, "cannot create %s", s->topics_dir);
    else
      rc = 0;
    /* From here on the store may change: a crash must not look clean. A
     * marker that cannot be removed would make it look clean: no open. */
    int u = rc ? 0 : file_unlink(clean_path);
    if (!rc && u == 0)
      rc = stats_sync_dir(&s->logger, dir);
    else if (u && u != -ENOENT)
      rc = nd_fail_os(-u, "cannot remove %s", clean_path);
    if (rc < 0 && rc > -4096 && !*nd_errmsg())
      rc = nd_fail_os(-rc, "cannot sync %s", dir);
  }
  int64_t recovery_start = store_mono_ms();
  if (!rc)
    rc = load_topics(s, clean);
  if (!rc) {
    char groups[PATH_MAX];
    snprintf(groups, sizeof groups, "%s/" LAYOUT_GROUPS, dir);
    rc = offsets_open(groups, s->readonly, &s->logger, &s->offsets);
    if (!rc)
      rc = txn_coord_open(s, s->dir, s->readonly, &s->logger, &s->txn);
  }
  /* Transactions a crash left between their commit point and their end
   * are finished before anyone can read (design rule 2). One that cannot
   * be (a full disk) stays Prepare*: its partitions keep it open (not
   * visible to read_committed readers) until nd_txn_expire or a retried
   * EndTxn finishes it, which is better than a store that cannot open. */
  if (!rc && !s->readonly && txn_coord_recover(s) != 0) {
    nd_log(&s->logger, ND_LOG_WARN,
           "%s; the transaction stays prepared and is finished later",
           nd_errmsg());
    nd_clear_error();
  }
  s->recovery_ms = store_mono_ms() - recovery_start;
  if (!rc && !s->readonly && !s->opts.no_background)
    rc = store_background_start(s);
  if (!rc && !s->readonly && !s->opts.no_background)
    rc = store_cleaner_start(s);
  if (rc) {
    store_cleaner_stop(s);
    store_background_stop(s);
    store_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int nd_close(nd_store *s) {
  if (!s)
    return 0;
  nd_clear_error();
  long readers = atomic_load(&s->readers);
  if (readers)
    return nd_fail(ND_EBUSY,
                   "nd_close of %s: %ld reader(s) still open; close them "
                   "first (nothing was closed)",
                   s->dir, readers);
  store_cleaner_stop(s);
  store_background_stop(s);
  store_empty_trash(s);
  /* Many dirty partitions: one syncfs beats an fdatasync per file. */
  size_t dirty = 0;
  for (size_t i = 0; i < s->ntopics; i++)
    for (int32_t p = 0; p < s->topics[i]->nparts; p++)
      dirty += (size_t)partition_dirty(s->topics[i]->parts[p]);
  if (dirty > 8 && stats_sync_fs(&s->logger, s->dir) == 0)
    for (size_t i = 0; i < s->ntopics; i++)
      for (int32_t p = 0; p < s->topics[i]->nparts; p++)
        partition_assume_synced(s->topics[i]->parts[p]);
  int rc = 0;
  for (size_t i = 0; i < s->ntopics; i++) {
    int r = topic_close(s->topics[i]);
    if (r && !rc)
      rc = r;
  }
  s->ntopics = 0;
  int orc = offsets_close(s->offsets);
  s->offsets = NULL;
  int trc = txn_coord_close(s->txn);
  s->txn = NULL;
  if (!orc)
    orc = trc;
  if (!rc)
    rc = orc;
  if (!rc && !s->readonly) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" LAYOUT_CLEAN_SHUTDOWN, s->dir);
    rc = file_write_atomic(path, "", 0);
    if (rc)
      rc = nd_fail_os(-rc, "cannot write %s", path);
  }
  store_free(s);
  return rc;
}

int nd_default_dir(char *buf, size_t buf_size) {
  const char *env = getenv("NODATA_DIR");
  int n;
  if (env && *env) {
    n = snprintf(buf, buf_size, "%s", env);
  } else {
    const char *tmp = getenv("TMPDIR");
    n = snprintf(buf, buf_size, "%s/nodata", tmp && *tmp ? tmp : "/tmp");
  }
  if (n < 0 || (size_t)n >= buf_size)
    return nd_fail(ND_EINVAL, "buffer of %zu bytes too small", buf_size);
  return 0;
}

int nd_recovery_report(nd_store *s, nd_recovery_stats *stats,
                       nd_recovery_partition **parts, size_t *count) {
  int rc = store_enter_args(s, "nd_recovery_report", ENTRY_READ,
                            !parts == !count, "parts and count go together");
  if (rc)
    return rc;
  /* Written only during nd_open, so no lock is needed to read it. */
  if (stats)
    *stats = s->recovery.stats;
  if (parts) {
    *parts = NULL;
    *count = 0;
    size_t n = s->recovery.count;
    if (n) {
      *parts = malloc(n * sizeof **parts);
      if (!*parts)
        return nd_fail(ND_ENOMEM, "out of memory");
      memcpy(*parts, s->recovery.parts, n * sizeof **parts);
      *count = n;
    }
  }
  return 0;
}
