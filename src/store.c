/*
 * store.c — the data directory and every public nd_* entry point that is
 * not about one concept alone: open/close with the lock, FORMAT and
 * clean-shutdown files, the topic registry, background maintenance.
 *
 * Directory layout (docs/format.md has the full description):
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "error.h"
#include "file.h"
#include "hash.h"
#include "offsets.h"
#include "topic.h"

#define FORMAT_TEXT "nodata 1\n"
#define MAINTAIN_PERIOD_MS 100

struct nd_store {
  char dir[PATH_MAX];
  char topics_dir[PATH_MAX];
  int lock_fd;     /* nodata.lock */
  int dir_lock_fd; /* the data directory: the lock that counts */
  int readonly;
  nd_options opts;
  nd_logger logger; /* opts.on_log */
  nd_topic_config defaults;
  int32_t max_topic_parts, max_store_parts; /* resolved limits */

  pthread_rwlock_t map_lock; /* topics, ntopics */
  topic **topics;            /* sorted by name */
  size_t ntopics, cap;
  pthread_mutex_t admin_lock; /* create/delete/alter, one at a time */
  offsets_store *offsets;     /* committed consumer offsets */
  seg_caches caches;          /* bounds on descriptors and index maps */
  recovery_log recovery;      /* what nd_open's recovery did; fixed after */

  pthread_t bg;
  int bg_running;
  pthread_mutex_t bg_lock;
  pthread_cond_t bg_cond;
  char **trash; /* deleted topics' directories to remove (bg_lock) */
  size_t ntrash;
  int stopping;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- topic registry ---------------------------------------------------- */

/* Position of name in the sorted array, or where it would go. */
static size_t find_pos(nd_store *s, const char *name, int *found) {
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

static int insert_topic(nd_store *s, topic *t) {
  t->store = s;
  pthread_rwlock_wrlock(&s->map_lock);
  int found;
  size_t pos = find_pos(s, t->name, &found);
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

static topic *acquire(nd_store *s, const char *name) {
  topic *t = NULL;
  if (!name)
    return NULL;
  pthread_rwlock_rdlock(&s->map_lock);
  int found;
  size_t pos = find_pos(s, name, &found);
  if (found) {
    t = s->topics[pos];
    atomic_fetch_add(&t->refs, 1);
  }
  pthread_rwlock_unlock(&s->map_lock);
  return t;
}

/* Remove a deleted topic's renamed-away directory: in the background
 * thread when there is one, since unlinking gigabytes of segments takes
 * long and the caller may be an event loop (DeleteTopics in the broker).
 * Whatever is left at close, or after a crash, goes at the next open. */
static void trash(nd_store *s, const char *dir) {
  char *copy = strdup(dir);
  pthread_mutex_lock(&s->bg_lock);
  char **nt = copy && s->bg_running && !s->stopping
                  ? realloc(s->trash, (s->ntrash + 1) * sizeof *nt)
                  : NULL;
  if (nt) {
    s->trash = nt;
    s->trash[s->ntrash++] = copy;
    copy = NULL;
    pthread_cond_signal(&s->bg_cond);
  }
  pthread_mutex_unlock(&s->bg_lock);
  if (!nt)
    file_remove_tree(dir);
  free(copy);
}

static void empty_trash(nd_store *s) {
  pthread_mutex_lock(&s->bg_lock);
  char **list = s->trash;
  size_t n = s->ntrash;
  s->trash = NULL;
  s->ntrash = 0;
  pthread_mutex_unlock(&s->bg_lock);
  for (size_t i = 0; i < n; i++) {
    file_remove_tree(list[i]);
    free(list[i]);
  }
  free(list);
}

/* A deleted topic's directory was renamed away; the last holder frees the
 * partitions without persisting anything and has the files removed. */
static void release(topic *t) {
  if (atomic_fetch_sub(&t->refs, 1) != 1)
    return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", t->dir);
  nd_store *s = t->store;
  for (int32_t i = 0; i < t->nparts; i++)
    t->parts[i]->readonly = 1; /* nothing to sync or persist */
  topic_close(t);
  trash(s, dir);
}

/* An operation that failed because its topic was deleted meanwhile (its
 * files were renamed away) reports ND_ENOTOPIC, as the header promises. */
static int unless_deleted(topic *t, int rc) {
  if (rc < 0 && atomic_load(&t->deleted))
    return nd_fail(ND_ENOTOPIC, "topic '%s' was deleted", t->name);
  return rc;
}

static int offline_error(topic *t) {
  return nd_fail(ND_EFAILED,
                 "topic '%s' is offline: %s (delete it, or fix the cause and "
                 "reopen the store)",
                 t->name, t->offline);
}

static int partition_offline_error(topic *t, int32_t p, partition *part) {
  return nd_fail(ND_EFAILED, "topic '%s' partition %d is offline: %s", t->name,
                 (int)p, part->offline);
}

static int acquire_partition(nd_store *s, const char *name, int32_t p,
                             topic **t_out, partition **p_out) {
  /* Every per-partition entry point comes through here. */
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  topic *t = acquire(s, name);
  if (!t)
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  if (t->offline) {
    int rc = offline_error(t);
    release(t);
    return rc;
  }
  partition *part = topic_partition(t, p);
  if (!part) {
    int32_t n = t->nparts;
    release(t);
    return nd_fail(ND_ENOPARTITION,
                   "topic '%s' has no partition %d (it has %d)", name, (int)p,
                   (int)n);
  }
  if (part->offline) {
    int rc = partition_offline_error(t, p, part);
    release(t);
    return rc;
  }
  *t_out = t;
  *p_out = part;
  return 0;
}

/* ---- open / close ------------------------------------------------------- */

static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *q = buf + 1; *q; q++) {
    if (*q != '/')
      continue;
    *q = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return -errno;
    *q = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return -errno;
  return 0;
}

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
  FILE *f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
  if (!f)
    return 0;
  char line[256];
  pid_t found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    long pid;
    unsigned maj, min;
    unsigned long long ino;
    if (sscanf(line, "%*d: FLOCK %*s %*s %ld %x:%x:%llu", &pid, &maj, &min,
               &ino) == 4 &&
        ino == (unsigned long long)st.st_ino && makedev(maj, min) == st.st_dev)
      found = (pid_t)pid;
  }
  fclose(f);
  return found;
}

/* 1 if another open file description holds an flock on fd's file. */
static int flock_held(int fd) {
  if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
    flock(fd, LOCK_UN);
    return 0;
  }
  return 1;
}

int nd_lock_holder(const char *dir, pid_t *pid) {
  char path[PATH_MAX];
  *pid = 0;
  snprintf(path, sizeof path, "%s/nodata.lock", dir);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return errno == ENOENT ? 0 : nd_fail_os(errno, "cannot open %s", dir);
  int held = flock_held(dfd);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) {
    int e = errno;
    close(dfd);
    return nd_fail_os(e, "cannot open %s", path);
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
  if (fd >= 0)
    close(fd);
  close(dfd);
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
  snprintf(path, sizeof path, "%s/nodata.lock", s->dir);
  s->dir_lock_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dir_lock_fd < 0)
    return nd_fail_os(errno, "cannot open %s", s->dir);
  if (flock(s->dir_lock_fd, LOCK_EX | LOCK_NB) != 0)
    return errno == EWOULDBLOCK ? lock_busy(s)
                                : nd_fail_os(errno, "cannot lock %s", s->dir);
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->lock_fd < 0)
    return nd_fail_os(errno, "cannot open %s", path);
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
    return errno == EWOULDBLOCK ? lock_busy(s)
                                : nd_fail_os(errno, "cannot lock %s", path);
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
  DIR *d = opendir(tp);
  if (!d) {
    snprintf(bad, cap, "%s (%s)", tp, strerror(errno));
    return 0;
  }
  int ok = 1;
  struct dirent *e;
  while (ok && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[PATH_MAX], *text = NULL;
    snprintf(path, sizeof path, "%s/%.200s/topic.conf", tp, e->d_name);
    size_t len = strlen(e->d_name);
    if (len != 64) {
      /* Leftovers of an interrupted create or delete are this format's. */
      ok = (len > 8 && !strcmp(e->d_name + len - 8, ".deleted")) ||
           (len > 9 && !strcmp(e->d_name + len - 9, ".creating"));
    } else {
      ok = file_read_all(path, &text, NULL) == 0 &&
           !strncmp(text, "# nodata topic\nname=", 20);
      free(text);
    }
    if (!ok)
      snprintf(bad, cap, "%s", path);
  }
  closedir(d);
  return ok;
}

static int check_format(nd_store *s, int *is_new) {
  char path[PATH_MAX], *text;
  snprintf(path, sizeof path, "%s/FORMAT", s->dir);
  int rc = file_read_all(path, &text, NULL);
  if (rc == -ENOENT) {
    /* A directory without FORMAT is new only if it holds no topics; one
     * whose topics are all this format's lost only the FORMAT file. */
    char tp[PATH_MAX], bad[PATH_MAX + 64];
    struct stat st;
    snprintf(tp, sizeof tp, "%s/topics", s->dir);
    if (stat(tp, &st) == 0) {
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
  int ok = strcmp(text, FORMAT_TEXT) == 0;
  if (!ok) {
    char shown[64];
    snprintf(shown, sizeof shown, "%s", text);
    char *nl = strchr(shown, '\n');
    if (nl)
      *nl = '\0';
    free(text);
    return nd_fail(ND_EFORMAT,
                   "%s says \"%s\"; this build of nodata reads \"nodata 1\"",
                   path, shown);
  }
  free(text);
  return 0;
}

static int load_topics(nd_store *s, int clean) {
  DIR *d = opendir(s->topics_dir);
  if (!d) {
    if (errno == ENOENT && s->readonly)
      return 0;
    return nd_fail_os(errno, "cannot open %s", s->topics_dir);
  }
  struct dirent *e;
  int rc = 0;
  int64_t now = now_ms();
  s->recovery.stats.clean_shutdown = clean;
  while (!rc && (e = readdir(d)) != NULL) {
    const char *name = e->d_name;
    if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
      continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->topics_dir, name);
    size_t len = strlen(name);
    if (len != 64) {
      /* Leftovers of an interrupted create or delete. */
      if (!s->readonly && ((len > 8 && !strcmp(name + len - 8, ".deleted")) ||
                           (len > 9 && !strcmp(name + len - 9, ".creating"))))
        file_remove_tree(path);
      continue;
    }
    topic *t = NULL;
    rc = topic_open(&s->caches, &s->logger, path, clean, s->readonly, 1, now,
                    &t, &s->recovery);
    if (!rc && t) {
      rc = insert_topic(s, t);
      if (rc)
        topic_close(t);
    }
  }
  closedir(d);
  return rc;
}

static void *background_main(void *arg) {
  nd_store *s = arg;
  pthread_mutex_lock(&s->bg_lock);
  while (!s->stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += MAINTAIN_PERIOD_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->bg_cond, &s->bg_lock, &ts);
    if (s->stopping)
      break;
    pthread_mutex_unlock(&s->bg_lock);
    empty_trash(s);
    nd_maintain(s, 0);
    pthread_mutex_lock(&s->bg_lock);
  }
  pthread_mutex_unlock(&s->bg_lock);
  return NULL;
}

static void store_free(nd_store *s) {
  offsets_close(s->offsets);
  for (size_t i = 0; i < s->ntopics; i++)
    topic_close(s->topics[i]);
  free(s->topics);
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  if (s->dir_lock_fd >= 0)
    close(s->dir_lock_fd);
  seg_caches_destroy(&s->caches);
  recovery_log_free(&s->recovery);
  pthread_rwlock_destroy(&s->map_lock);
  pthread_mutex_destroy(&s->admin_lock);
  pthread_mutex_destroy(&s->bg_lock);
  pthread_cond_destroy(&s->bg_cond);
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
  pthread_mutex_init(&s->bg_lock, NULL);
  pthread_cond_init(&s->bg_cond, NULL);
  if (opts)
    s->opts = *opts;
  s->logger = (nd_logger){s->opts.on_log, s->opts.on_log_ctx};
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
  s->opts.topic_defaults = NULL;
  if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir - 80) {
    store_free(s);
    return nd_fail(ND_EINVAL, "data directory path too long");
  }
  snprintf(s->topics_dir, sizeof s->topics_dir, "%s/topics", dir);

  int rc = 0;
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno != ENOENT || s->readonly || (s->opts.flags & ND_OPEN_NOCREATE))
      rc = nd_fail_os(errno, "cannot open data directory %s", dir);
    else if ((rc = mkdir_p(dir)) != 0)
      rc = nd_fail_os(-rc, "cannot create data directory %s", dir);
  } else if (!S_ISDIR(st.st_mode)) {
    rc = nd_fail(-ENOTDIR, "%s is not a directory", dir);
  }
  if (!rc && !s->readonly)
    rc = take_lock(s);
  int is_new = 0;
  if (!rc)
    rc = check_format(s, &is_new);
  char clean_path[PATH_MAX];
  snprintf(clean_path, sizeof clean_path, "%s/clean-shutdown", dir);
  int clean = is_new || access(clean_path, F_OK) == 0;
  if (!rc && !s->readonly) {
    if (mkdir(s->topics_dir, 0755) != 0 && errno != EEXIST)
      rc = nd_fail_os(errno, "cannot create %s", s->topics_dir);
    /* From here on the store may change: a crash must not look clean. */
    if (!rc && unlink(clean_path) == 0)
      rc = file_sync_dir(dir);
    if (rc < 0 && rc > -4096 && !*nd_errmsg())
      rc = nd_fail_os(-rc, "cannot sync %s", dir);
  }
  if (!rc)
    rc = load_topics(s, clean);
  if (!rc) {
    char groups[PATH_MAX];
    snprintf(groups, sizeof groups, "%s/groups", dir);
    nd_logger log = {s->opts.on_log, s->opts.on_log_ctx};
    rc = offsets_open(groups, s->readonly, &log, &s->offsets);
  }
  if (!rc && !s->readonly && !s->opts.no_background) {
    if (pthread_create(&s->bg, NULL, background_main, s) != 0)
      rc = nd_fail(ND_ENOMEM, "cannot start the background thread");
    else
      s->bg_running = 1;
  }
  if (rc) {
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
  if (s->bg_running) {
    pthread_mutex_lock(&s->bg_lock);
    s->stopping = 1;
    pthread_cond_signal(&s->bg_cond);
    pthread_mutex_unlock(&s->bg_lock);
    pthread_join(s->bg, NULL);
    s->bg_running = 0;
  }
  empty_trash(s);
  /* Many dirty partitions: one syncfs beats an fdatasync per file. */
  size_t dirty = 0;
  for (size_t i = 0; i < s->ntopics; i++)
    for (int32_t p = 0; p < s->topics[i]->nparts; p++)
      dirty += (size_t)partition_dirty(s->topics[i]->parts[p]);
  if (dirty > 8 && file_sync_fs(s->dir) == 0)
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
  if (!rc)
    rc = orc;
  if (!rc && !s->readonly) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/clean-shutdown", s->dir);
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

/* ---- maintenance -------------------------------------------------------- */

/* References to every topic, for work done without the map lock. */
static topic **snapshot(nd_store *s, size_t *n) {
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

int nd_maintain(nd_store *s, int64_t now) {
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  if (s->readonly)
    return 0;
  if (now == 0)
    now = now_ms();
  size_t n;
  topic **ts = snapshot(s, &n);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    nd_topic_config cfg;
    topic_config(ts[i], &cfg);
    for (int32_t p = 0;; p++) {
      partition *part = topic_partition(ts[i], p);
      if (!part)
        break;
      int r = partition_maintain(part, &cfg, now);
      if (r && !rc)
        rc = r;
    }
    release(ts[i]);
  }
  free(ts);
  int r = offsets_maintain(s->offsets);
  return rc ? rc : r;
}

int nd_sync(nd_store *s) {
  nd_clear_error();
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  size_t n;
  topic **ts = snapshot(s, &n);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    for (int32_t p = 0;; p++) {
      partition *part = topic_partition(ts[i], p);
      if (!part)
        break;
      int r = partition_sync(part, -1);
      if (r && !rc)
        rc = r;
    }
    release(ts[i]);
  }
  free(ts);
  return rc;
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
  pthread_rwlock_unlock(&t->lock);
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
  nd_clear_error();
  if (!s || !name)
    return nd_fail(ND_EINVAL, "store and name are required");
  int32_t current = 0;
  topic *t = acquire(s, name);
  if (t) {
    current = t->offline ? t->conf_parts : t->nparts;
    release(t);
  }
  return check_limits(s, name, current, partitions);
}

int nd_topic_create(nd_store *s, const char *name, int32_t partitions,
                    const nd_topic_config *cfg_in) {
  nd_clear_error();
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  int rc = nd_topic_name_valid(name);
  if (rc)
    return rc;
  nd_topic_config cfg = cfg_in ? *cfg_in : s->defaults;
  if ((rc = config_validate(&cfg)) != 0)
    return rc;
  pthread_mutex_lock(&s->admin_lock);
  topic *existing = acquire(s, name);
  if (existing) {
    release(existing);
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
  snprintf(tmp, sizeof tmp, "%s/%s.creating", s->topics_dir, hash);
  snprintf(final, sizeof final, "%s/%s", s->topics_dir, hash);
  uint8_t id[16];
  file_remove_tree(tmp);
  rc = uuid_random(id);
  if (rc)
    rc = nd_fail_os(-rc, "cannot get random bytes for the topic id");
  if (!rc && mkdir(tmp, 0755) != 0)
    rc = nd_fail_os(errno, "cannot create %s", tmp);
  for (int32_t i = 0; !rc && i < partitions; i++)
    rc = partition_create_dir(tmp, i);
  if (!rc)
    rc = topic_conf_write(tmp, name, id, partitions, &cfg);
  /* The topic appears whole or not at all: one rename publishes it. */
  if (!rc && rename(tmp, final) != 0)
    rc = nd_fail_os(errno, "cannot rename %s to %s", tmp, final);
  if (!rc && (rc = file_sync_dir(s->topics_dir)) != 0)
    rc = nd_fail_os(-rc, "cannot sync %s", s->topics_dir);
  if (rc) {
    file_remove_tree(tmp);
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  topic *t = NULL;
  rc = topic_open(&s->caches, &s->logger, final, 1, 0, 0, now_ms(), &t, NULL);
  if (!rc && (rc = insert_topic(s, t)) != 0)
    topic_close(t);
  if (rc && rename(final, tmp) == 0) {
    /* Complete or nothing: unpublish what could not be opened (the
     * caller is told the create failed) and remove it. */
    file_sync_dir(s->topics_dir);
    file_remove_tree(tmp);
  }
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_delete(nd_store *s, const char *name) {
  nd_clear_error();
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  pthread_mutex_lock(&s->admin_lock);
  pthread_rwlock_wrlock(&s->map_lock);
  int found = 0;
  size_t pos = name ? find_pos(s, name, &found) : 0;
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
  snprintf(gone, sizeof gone, "%s.%.8s.deleted", t->dir, tag);
  int rc = 0;
  if (rename(t->dir, gone) != 0)
    rc = nd_fail_os(errno, "cannot rename %s", t->dir);
  if (!rc) {
    memmove(s->topics + pos, s->topics + pos + 1,
            (s->ntopics - pos - 1) * sizeof *s->topics);
    s->ntopics--;
    atomic_store(&t->deleted, 1);
    snprintf(t->dir, sizeof t->dir, "%s", gone);
  }
  pthread_rwlock_unlock(&s->map_lock);
  if (!rc) {
    file_sync_dir(s->topics_dir);
    release(t);
    /* A topic created later under the same name starts with no offsets. */
    rc = offsets_delete_topic(s->offsets, name);
  }
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_add_partitions(nd_store *s, const char *name, int32_t partitions) {
  nd_clear_error();
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  pthread_mutex_lock(&s->admin_lock);
  topic *t = acquire(s, name);
  int rc = 0;
  if (!t) {
    pthread_mutex_unlock(&s->admin_lock);
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  }
  if (t->offline) {
    rc = offline_error(t);
    goto out;
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
                          now_ms(), &parts[i], &rec);
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
  release(t);
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_set_config(nd_store *s, const char *name,
                        const nd_topic_config *cfg) {
  nd_clear_error();
  if (!s || !cfg)
    return nd_fail(ND_EINVAL, "store and config are required");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  int rc = config_validate(cfg);
  if (rc)
    return rc;
  pthread_mutex_lock(&s->admin_lock);
  topic *t = acquire(s, name);
  if (!t) {
    pthread_mutex_unlock(&s->admin_lock);
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  }
  if (t->offline) {
    rc = offline_error(t);
    release(t);
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
  }
  rc = topic_conf_write(t->dir, t->name, t->id, t->nparts, cfg);
  if (!rc) {
    pthread_rwlock_wrlock(&t->lock);
    t->cfg = *cfg;
    pthread_rwlock_unlock(&t->lock);
  }
  release(t);
  pthread_mutex_unlock(&s->admin_lock);
  return rc;
}

int nd_topic_describe(nd_store *s, const char *name, nd_topic_info *info) {
  nd_clear_error();
  if (!s || !info)
    return nd_fail(ND_EINVAL, "store and info are required");
  topic *t = acquire(s, name);
  if (!t)
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  fill_info(t, info);
  release(t);
  return 0;
}

int nd_topic_by_id(nd_store *s, const uint8_t id[16], nd_topic_info *info) {
  nd_clear_error();
  if (!s || !id || !info)
    return nd_fail(ND_EINVAL, "store, id and info are required");
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
  release(t);
  return 0;
}

int nd_topic_list(nd_store *s, nd_topic_info **infos, size_t *count) {
  nd_clear_error();
  if (!s || !infos || !count)
    return nd_fail(ND_EINVAL, "store, infos and count are required");
  size_t n;
  topic **ts = snapshot(s, &n);
  if (!ts)
    return nd_fail(ND_ENOMEM, "out of memory");
  nd_topic_info *out = NULL;
  if (n) {
    out = malloc(n * sizeof *out);
    if (!out) {
      for (size_t i = 0; i < n; i++)
        release(ts[i]);
      free(ts);
      return nd_fail(ND_ENOMEM, "out of memory");
    }
  }
  for (size_t i = 0; i < n; i++) {
    fill_info(ts[i], &out[i]);
    release(ts[i]);
  }
  free(ts);
  *infos = out;
  *count = n;
  return 0;
}

/* ---- append ------------------------------------------------------------- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

typedef struct scratch {
  uint8_t *buf;
  size_t cap;
} scratch;

static void scratch_free(void *p) {
  scratch *sc = p;
  free(sc->buf);
  free(sc);
}

static void scratch_key_init(void) {
  pthread_key_create(&scratch_key, scratch_free);
}

/* A per-thread encode buffer, so appends neither allocate per call nor
 * encode under the partition's lock. */
static scratch *thread_scratch(void) {
  pthread_once(&scratch_once, scratch_key_init);
  scratch *sc = pthread_getspecific(scratch_key);
  if (!sc) {
    sc = calloc(1, sizeof *sc);
    if (sc && pthread_setspecific(scratch_key, sc) != 0) {
      free(sc);
      sc = NULL;
    }
  }
  return sc;
}

static int32_t choose_partition(topic *t, const void *key, size_t key_len) {
  int32_t n;
  pthread_rwlock_rdlock(&t->lock);
  n = t->nparts;
  pthread_rwlock_unlock(&t->lock);
  if (key)
    return nd_partition_for_key(key, key_len, n);
  return (int32_t)(atomic_fetch_add(&t->round_robin, 1) % (uint32_t)n);
}

/* ---- recompression ------------------------------------------------------ */

/* The level a topic asks for when its batches are re-encoded with codec. */
static int codec_level(const nd_topic_config *cfg, int codec) {
  switch (codec) {
  case ND_CODEC_GZIP:
    return cfg->gzip_level;
  case ND_CODEC_LZ4:
    return cfg->lz4_level;
  case ND_CODEC_ZSTD:
    return cfg->zstd_level;
  default:
    return 0; /* snappy and uncompressed have no level */
  }
}

/* Kafka's broker-side recompression (LogValidator): a topic whose
 * compression.type names a codec stores every batch with that codec,
 * re-encoding those that arrive with another one ("uncompressed" decodes
 * them). Same-codec batches stay as sent, whatever their level, as in
 * Kafka. Offsets, timestamps and producer fields are not touched: only the
 * record area, attributes, batchLength and CRC change. Control batches
 * are left alone (Kafka never compresses them).
 * b[0..len) has been validated batch by batch. On success *out is NULL
 * when nothing needs re-encoding, else a malloc'ed buffer of *out_len
 * bytes holding every batch in order. Each new batch is checked against
 * max.message.bytes again, since re-encoding may grow it (Kafka checks
 * after recompression too). */
static int recompress_batches(nd_store *s, const nd_topic_config *cfg,
                              const char *name, const uint8_t *b, size_t len,
                              uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  int want = cfg->compression;
  if (want == ND_COMPRESSION_PRODUCER)
    return 0;
  int needed = 0;
  for (size_t q = 0; q < len; q += (size_t)be32(b + q + 8) + 12)
    if ((b[q + 22] & BATCH_ATTR_CODEC_MASK) != want &&
        !(b[q + 22] & BATCH_ATTR_CONTROL))
      needed = 1;
  if (!needed)
    return 0;
  if (!s->opts.recompress) {
    char what[32];
    if (nd_topic_config_get(cfg, "compression.type", what, sizeof what) != 0)
      what[0] = 0;
    return nd_fail(ND_ECODEC,
                   "topic '%s' has compression.type=%s and this store was "
                   "opened without a recompressor (nd_options.recompress)",
                   name, what);
  }
  uint8_t *acc = NULL;
  size_t used = 0, cap = 0;
  int rc = 0;
  for (size_t q = 0; q < len && !rc;) {
    size_t total = (size_t)be32(b + q + 8) + 12;
    void *nb = NULL;
    size_t nlen = total;
    int codec = b[q + 22] & BATCH_ATTR_CODEC_MASK;
    const uint8_t *src = b + q;
    if (codec != want && !(b[q + 22] & BATCH_ATTR_CONTROL)) {
      rc = s->opts.recompress(b + q, total, want, codec_level(cfg, want), &nb,
                              &nlen);
      if (rc) {
        free(nb);
        char why[256]; /* nd_fail rewrites the buffer nd_errmsg() points at */
        snprintf(why, sizeof why, "%s", nd_errmsg());
        rc = nd_fail(rc,
                     "batch at byte %zu: re-encoding it for topic '%s' "
                     "failed: %s",
                     q, name, why);
        break;
      }
      src = nb;
      if (nlen > (size_t)cfg->max_message_bytes)
        rc = nd_fail(ND_ETOOLARGE,
                     "batch at byte %zu is %zu bytes once re-encoded for "
                     "compression.type; topic '%s' allows "
                     "max.message.bytes=%d",
                     q, nlen, name, (int)cfg->max_message_bytes);
    }
    if (!rc && used + nlen > cap) {
      size_t ncap = cap ? cap : len + 64;
      while (ncap < used + nlen)
        ncap *= 2;
      uint8_t *na = realloc(acc, ncap);
      if (!na)
        rc = nd_fail(ND_ENOMEM, "out of memory re-encoding a batch");
      else {
        acc = na;
        cap = ncap;
      }
    }
    if (!rc) {
      memcpy(acc + used, src, nlen);
      used += nlen;
    }
    free(nb);
    q += total;
  }
  if (rc) {
    free(acc);
    return rc;
  }
  *out = acc;
  *out_len = used;
  return 0;
}

/* The topic's bounds on record timestamps as of now, or NULL when they do
 * not apply (LogAppendTime: the store stamps its own time). Starts the
 * thread's nd_record_errors() list. */
static ts_check *ts_check_start(ts_check *tc, const nd_topic_config *cfg,
                                int64_t now) {
  if (cfg->timestamp_type == ND_TS_LOG_APPEND_TIME)
    return NULL;
  tc->now = now;
  tc->before_max = cfg->timestamp_before_max_ms;
  tc->after_max = cfg->timestamp_after_max_ms;
  tc->bad = 0;
  record_errors_reset(sub_wrap(now, tc->before_max),
                      add_wrap(now, tc->after_max));
  return tc;
}

/* ND_ETIMESTAMP in Kafka's words for the first refused record. */
static int ts_check_fail(const ts_check *tc) {
  const nd_record_error *e;
  int64_t lo, hi;
  if (nd_record_errors(&e, &lo, &hi) == 0) /* out of memory listing them */
    return nd_fail(ND_ETIMESTAMP,
                   "%zu record timestamps are out of range. The timestamp "
                   "should be within [%" PRId64 ", %" PRId64 "]",
                   tc->bad, lo, hi);
  return nd_fail(ND_ETIMESTAMP,
                 "Timestamp %" PRId64 " of message with offset %" PRId64
                 " is out of range. The timestamp should be within [%" PRId64
                 ", %" PRId64 "] (%zu record%s refused)",
                 e->timestamp, e->offset, lo, hi, tc->bad,
                 tc->bad == 1 ? "" : "s");
}

/* Encode records into this thread's buffer and append them; *sync_to as
 * partition_append. */
static int append_records(nd_store *s, partition *part,
                          const nd_topic_config *cfg, const char *name,
                          const nd_record *records, size_t n, unsigned flags,
                          nd_append_info *info, int64_t *sync_to) {
  scratch *sc = thread_scratch();
  if (!sc)
    return nd_fail(ND_ENOMEM, "out of memory");
  int64_t now = now_ms();
  int64_t size = batch_encode(records, n, now,
                              cfg->timestamp_type == ND_TS_LOG_APPEND_TIME,
                              &sc->buf, &sc->cap);
  if (size < 0)
    return (int)size;
  if (size > cfg->max_message_bytes)
    return nd_fail(ND_ETOOLARGE,
                   "batch of %zu records is %" PRId64
                   " bytes; topic '%s' allows max.message.bytes=%d",
                   n, size, name, (int)cfg->max_message_bytes);
  /* The records' own timestamps, without walking the encoded batch; the
   * clock's (ND_TIMESTAMP_NOW) are within any bounds. */
  ts_check tcs, *tc = ts_check_start(&tcs, cfg, now);
  for (size_t i = 0; tc && i < n; i++) {
    int64_t ts = records[i].timestamp;
    if (ts == ND_TIMESTAMP_NOW || !ts_check_refuses(tc, ts))
      continue;
    tc->bad++;
    (void)record_errors_add((int32_t)i, (int64_t)i, ts);
  }
  if (tc && tc->bad)
    return ts_check_fail(tc);
  uint8_t *re = NULL;
  size_t re_len = 0;
  int rc =
      recompress_batches(s, cfg, name, sc->buf, (size_t)size, &re, &re_len);
  if (rc)
    return rc;
  if (re) {
    rc = partition_append(part, cfg, re, re_len, now, flags, info, sync_to);
    free(re);
    return rc;
  }
  return partition_append(part, cfg, sc->buf, (size_t)size, now, flags, info,
                          sync_to);
}

/* The end of every successful append, with no lock held: tell the
 * embedder that readers can see the records (the broker wakes the fetches
 * waiting on the partition), then wait for fdatasync if the append asked
 * for it. The hook comes first so that consumers are not held back by the
 * producer's fdatasync: readers see records once the high watermark is
 * published, synced or not. */
static int append_done(nd_store *s, const topic *t, partition *part,
                       const nd_append_info *info, int64_t sync_to) {
  if (s->opts.on_append)
    s->opts.on_append(s->opts.on_append_ctx, t->name, info->partition,
                      info->last_offset + 1);
  return sync_to >= 0 ? partition_sync(part, sync_to) : 0;
}

int nd_append(nd_store *s, const char *name, int32_t p,
              const nd_record *records, size_t n, unsigned flags,
              nd_append_info *info) {
  nd_clear_error();
  if (!s || !records || n == 0)
    return nd_fail(ND_EINVAL, "append: store and at least one record needed");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  topic *t = acquire(s, name);
  if (!t)
    return nd_fail(ND_ENOTOPIC, "unknown topic '%s'", name ? name : "(null)");
  if (t->offline) {
    int rc = offline_error(t);
    release(t);
    return rc;
  }
  if (p == -1)
    p = choose_partition(t, records[0].key, records[0].key_len);
  partition *part = topic_partition(t, p);
  int rc;
  if (!part) {
    rc = nd_fail(ND_ENOPARTITION, "topic '%s' has no partition %d", name,
                 (int)p);
  } else if (part->offline) {
    rc = partition_offline_error(t, p, part);
  } else {
    nd_topic_config cfg;
    topic_config(t, &cfg);
    nd_append_info local;
    int64_t sync_to = -1;
    if (!info)
      info = &local;
    /* From before encoding until written, so a group-commit leader waits
     * for this append to share its fdatasync. */
    partition_append_begin(part);
    rc = append_records(s, part, &cfg, name, records, n, flags, info, &sync_to);
    partition_append_end(part);
    if (!rc)
      rc = append_done(s, t, part, info, sync_to);
  }
  rc = unless_deleted(t, rc);
  release(t);
  return rc;
}

/* A compressed client batch, looked into as Kafka's broker does before it
 * stores one: the records must decompress and be framed like those of an
 * uncompressed batch, or a record could claim an offset outside it. */
static int check_compressed_records(nd_store *s, const uint8_t *b, size_t total,
                                    size_t at, int64_t *max_ts_delta,
                                    ts_check *tc) {
  int codec = b[22] & BATCH_ATTR_CODEC_MASK;
  void *plain = NULL;
  size_t plain_len = 0;
  int rc = s->opts.decompress(codec, b + BATCH_HEADER_SIZE,
                              total - BATCH_HEADER_SIZE, &plain, &plain_len);
  if (rc) {
    free(plain);
    if (rc != ND_ECODEC && rc != ND_ETOOLARGE && rc != ND_ENOMEM)
      rc = ND_ECORRUPT;
    return nd_fail(rc, "batch at byte %zu: its %s records do not decompress",
                   at,
                   codec == ND_CODEC_GZIP     ? "gzip"
                   : codec == ND_CODEC_SNAPPY ? "snappy"
                   : codec == ND_CODEC_LZ4    ? "lz4"
                                              : "zstd");
  }
  const char *why = NULL;
  rc = batch_check_record_area(b, plain, plain_len, (int32_t)be32(b + 57),
                               max_ts_delta, tc, &why);
  free(plain);
  if (rc)
    return nd_fail(ND_EBATCH, "batch at byte %zu (compressed): %s", at, why);
  return 0;
}

int nd_append_batch(nd_store *s, const char *name, int32_t p, void *buf,
                    size_t len, unsigned flags, nd_append_info *info) {
  nd_clear_error();
  if (!s || !buf || len == 0)
    return nd_fail(ND_EINVAL, "append_batch: store and bytes needed");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  nd_topic_config cfg;
  topic_config(t, &cfg);
  int64_t now = now_ms();
  ts_check tcs, *tc = ts_check_start(&tcs, &cfg, now);
  /* Validate everything before anything is written: a request is stored
   * whole or not at all. */
  uint8_t *b = buf;
  for (size_t q = 0; q < len;) {
    size_t total;
    const char *why;
    enum batch_status st = batch_check(b + q, len - q, 1, &total, &why);
    if (st != BATCH_VALID) {
      rc = nd_fail(st == BATCH_SHORT ? ND_EBATCH : ND_ECORRUPT,
                   "batch at byte %zu of %zu: %s", q, len, why);
      goto out;
    }
    int32_t count = (int32_t)be32(b + q + 57);
    int32_t last_delta = (int32_t)be32(b + q + 23);
    if (count < 1 || last_delta != count - 1) {
      rc = nd_fail(ND_EBATCH,
                   "batch at byte %zu: %d records but last offset delta %d", q,
                   (int)count, (int)last_delta);
      goto out;
    }
    if (total > (size_t)cfg.max_message_bytes) {
      rc = nd_fail(ND_ETOOLARGE,
                   "batch at byte %zu is %zu bytes; topic '%s' allows "
                   "max.message.bytes=%d",
                   q, total, name, (int)cfg.max_message_bytes);
      goto out;
    }
    if ((b[q + 22] & BATCH_ATTR_CONTROL) && !(flags & ND_APPEND_CONTROL)) {
      /* Kafka's words (LogValidator): a marker is the broker's to write. */
      rc = nd_fail(ND_ECONTROL,
                   "Clients are not allowed to write control records in "
                   "topic partition %s-%d",
                   name, (int)p);
      goto out;
    }
    int64_t max_ts_delta;
    if (batch_check_records(b + q, total, &max_ts_delta, tc, &why) != 0) {
      rc = nd_fail(ND_EBATCH, "batch at byte %zu: %s", q, why);
      goto out;
    }
    int codec = b[q + 22] & BATCH_ATTR_CODEC_MASK;
    if (codec > ND_CODEC_ZSTD) {
      rc = nd_fail(ND_ECODEC, "batch at byte %zu: compression codec %d", q,
                   codec);
      goto out;
    }
    if (codec != ND_CODEC_NONE && s->opts.decompress &&
        (rc = check_compressed_records(s, b + q, total, q, &max_ts_delta,
                                       tc)) != 0)
      goto out;
    /* Time lookups, retention and segment.ms read the header's
     * maxTimestamp: make it the records' true maximum, as Kafka does.
     * Without a decompressor a compressed batch keeps its own. */
    batch_fix_max_timestamp(b + q, total, max_ts_delta);
    q += total;
  }
  if (tc && tc->bad) {
    rc = ts_check_fail(tc);
    goto out;
  }
  uint8_t *re = NULL;
  size_t re_len = 0;
  rc = recompress_batches(s, &cfg, name, b, len, &re, &re_len);
  if (rc)
    goto out;
  nd_append_info local;
  int64_t sync_to = -1;
  if (!info)
    info = &local;
  partition_append_begin(part);
  rc = partition_append(part, &cfg, re ? re : buf, re ? re_len : len, now,
                        flags, info, &sync_to);
  partition_append_end(part);
  free(re);
  if (!rc)
    rc = append_done(s, t, part, info, sync_to);
out:
  rc = unless_deleted(t, rc);
  release(t);
  return rc;
}

int nd_sync_partition(nd_store *s, const char *name, int32_t p,
                      int64_t offset) {
  nd_clear_error();
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  rc = unless_deleted(t, partition_sync(part, offset < 0 ? -1 : offset + 1));
  release(t);
  return rc;
}

/* ---- reads -------------------------------------------------------------- */

int nd_partition_describe(nd_store *s, const char *name, int32_t p,
                          nd_partition_info *info) {
  nd_clear_error();
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  rc = partition_describe(part, info);
  release(t);
  return rc;
}

int nd_partition_producers(nd_store *s, const char *name, int32_t p,
                           nd_producer_info **list, size_t *count) {
  nd_clear_error();
  if (!list || !count)
    return nd_fail(ND_EINVAL, "producers: list and count are required");
  *list = NULL;
  *count = 0;
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  rc = partition_producers(part, list, count);
  release(t);
  return rc;
}

int nd_offsets(nd_store *s, const char *name, int32_t p, int64_t *log_start,
               int64_t *hw) {
  nd_clear_error();
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  if (log_start)
    *log_start = atomic_load(&part->log_start);
  if (hw)
    *hw = atomic_load(&part->hw);
  release(t);
  return 0;
}

int nd_offset_for_time(nd_store *s, const char *name, int32_t p, int64_t ts,
                       int64_t *offset, int64_t *timestamp) {
  nd_clear_error();
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  int64_t o, tsf;
  rc = unless_deleted(
      t, partition_offset_for_time(part, ts, s->opts.decompress, &o, &tsf));
  if (!rc) {
    if (offset)
      *offset = o;
    if (timestamp)
      *timestamp = tsf;
  }
  release(t);
  return rc;
}

int nd_read(nd_store *s, const char *name, int32_t p, int64_t offset,
            size_t max_bytes, nd_batches *out) {
  nd_clear_error();
  if (!out)
    return nd_fail(ND_EINVAL, "read: out is NULL");
  memset(out, 0, sizeof *out);
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  rc = unless_deleted(t, partition_read(part, offset, max_bytes, out));
  release(t);
  return rc;
}

int nd_read_file(nd_store *s, const char *name, int32_t p, int64_t offset,
                 size_t max_bytes, nd_file_range *out) {
  nd_clear_error();
  if (!out)
    return nd_fail(ND_EINVAL, "read: out is NULL");
  memset(out, 0, sizeof *out);
  out->fd = -1;
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  /* A failed read holds no descriptor: segment_read_range dups last. */
  rc = unless_deleted(t, partition_read_file(part, offset, max_bytes, out));
  release(t);
  return rc;
}

int nd_delete_records(nd_store *s, const char *name, int32_t p, int64_t offset,
                      int64_t *new_log_start) {
  nd_clear_error();
  if (s && s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  topic *t = NULL;
  partition *part = NULL;
  int rc = acquire_partition(s, name, p, &t, &part);
  if (rc)
    return rc;
  rc = unless_deleted(t, partition_delete_records(part, offset, new_log_start));
  release(t);
  return rc;
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
  nd_clear_error();
  if (!s || (n && !commits))
    return nd_fail(ND_EINVAL, "commit: store and commits needed");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  int rc = check_group(group);
  if (rc || n == 0)
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
    rc = acquire_partition(s, c->topic, c->partition, &t, &part);
    if (rc)
      return rc;
    release(t);
  }
  return offsets_commit(s->offsets, group, commits, n, now_ms());
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
  nd_clear_error();
  if (!s || !offset || !topic_name)
    return nd_fail(ND_EINVAL, "committed_offset: store, topic, offset needed");
  int rc = check_group(group);
  if (rc)
    return rc;
  if (strlen(topic_name) > ND_TOPIC_NAME_MAX)
    return nd_fail(ND_ETOPICNAME, "topic name longer than %d",
                   ND_TOPIC_NAME_MAX);
  return offsets_get(s->offsets, group, topic_name, partition_id, offset,
                     leader_epoch, metadata, metadata_len);
}

int nd_group_offsets(nd_store *s, const char *group, nd_committed **list,
                     size_t *count) {
  nd_clear_error();
  if (!s || !list || !count)
    return nd_fail(ND_EINVAL, "group_offsets: store, list, count needed");
  int rc = check_group(group);
  return rc ? rc : offsets_list(s->offsets, group, list, count);
}

int nd_group_list(nd_store *s, char ***names, size_t *count) {
  nd_clear_error();
  if (!s || !names || !count)
    return nd_fail(ND_EINVAL, "group_list: store, names, count needed");
  return offsets_groups(s->offsets, names, count);
}

int nd_group_set_protocol_type(nd_store *s, const char *group,
                               const char *type) {
  nd_clear_error();
  if (!s || !type)
    return nd_fail(ND_EINVAL, "group_set_protocol_type: store, type needed");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  int rc = check_group(group);
  if (rc)
    return rc;
  size_t len = strlen(type);
  if (len == 0 || len > ND_GROUP_NAME_MAX)
    return nd_fail(ND_EINVAL, "protocol type is %zu bytes, it must be 1 to %d",
                   len, ND_GROUP_NAME_MAX);
  return offsets_set_type(s->offsets, group, type);
}

int nd_group_protocol_type(nd_store *s, const char *group, char **type) {
  nd_clear_error();
  if (!s || !type)
    return nd_fail(ND_EINVAL, "group_protocol_type: store, type needed");
  *type = NULL;
  int rc = check_group(group);
  return rc ? rc : offsets_get_type(s->offsets, group, type);
}

int nd_delete_offsets(nd_store *s, const char *group,
                      const nd_topic_partition *parts, size_t n) {
  nd_clear_error();
  if (!s || (n && !parts))
    return nd_fail(ND_EINVAL, "delete_offsets: store and partitions needed");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  int rc = check_group(group);
  if (rc || n == 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (!parts[i].topic || !*parts[i].topic ||
        strlen(parts[i].topic) > ND_TOPIC_NAME_MAX)
      return nd_fail(ND_EINVAL, "delete_offsets: partition %zu: bad topic", i);
  return offsets_delete_partitions(s->offsets, group, parts, n);
}

int nd_group_delete(nd_store *s, const char *group) {
  nd_clear_error();
  if (!s)
    return nd_fail(ND_EINVAL, "store is NULL");
  if (s->readonly)
    return nd_fail(ND_EREADONLY, "store %s opened read-only", s->dir);
  int rc = check_group(group);
  return rc ? rc : offsets_delete_group(s->offsets, group);
}

int nd_recovery_report(nd_store *s, nd_recovery_stats *stats,
                       nd_recovery_partition **parts, size_t *count) {
  nd_clear_error();
  if (!s || (parts && !count) || (!parts && count))
    return nd_fail(ND_EINVAL, "nd_recovery_report: NULL store or count");
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
