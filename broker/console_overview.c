/* SPDX-License-Identifier: Apache-2.0 */
/*
 * console_overview.c — GET /api/overview and GET /api/history
 * (docs/http-api.md).
 *
 * The overview counts topics and partitions with a Metadata request and
 * groups with ListGroups, as the caller, so it shows what that principal
 * may describe; the rest is the broker's own: the sampler's last sample
 * (console_history.c), the connection gauge of metrics.h, and the data
 * directory's disk. Walking the data directory costs a stat per file, so
 * its total is cached for DISK_CACHE_MS: a big store is not walked per
 * call.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "console.h"
#include "kafka_msgs.h"
#include "metrics_int.h"

#define DISK_CACHE_MS 30000
/* Directories deeper than this are not walked (the store's tree is
 * three levels: topics/<topic>/<partition>). */
#define DISK_MAX_DEPTH 16

/* Bytes the files under directory fd take on disk (st_blocks, as du
 * counts: a sparse or preallocated file counts what it holds). Closes
 * fd. */
static int64_t dir_used(int fd, int depth) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 0;
  }
  int64_t used = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue; /* gone meanwhile (a segment deleted): not counted */
    used += (int64_t)st.st_blocks * 512;
    if (S_ISDIR(st.st_mode) && depth < DISK_MAX_DEPTH) {
      int sub = openat(dirfd(d), e->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0)
        used += dir_used(sub, depth + 1);
    }
  }
  closedir(d);
  return used;
}

/* The cache of the data directory's total: the console thread is the only
 * caller, one console per broker; a second data directory (tests running
 * two brokers in one process) simply refreshes it. */
static struct {
  char dir[4096];
  int64_t at_ms;
  int64_t used;
} disk_cache;

static int64_t disk_used(const char *dir, int64_t now_ms) {
  if (strcmp(disk_cache.dir, dir) == 0 && disk_cache.at_ms &&
      now_ms - disk_cache.at_ms < DISK_CACHE_MS && now_ms >= disk_cache.at_ms)
    return disk_cache.used;
  int64_t used = -1;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st;
    used = fstat(fd, &st) == 0 ? (int64_t)st.st_blocks * 512 : 0;
    used += dir_used(fd, 0);
  }
  snprintf(disk_cache.dir, sizeof disk_cache.dir, "%s", dir);
  disk_cache.at_ms = now_ms;
  disk_cache.used = used;
  return used;
}

/* A rate or latency that may be unknown (negative): null then. */
static void kmaybe(jw *w, const char *key, double v) {
  jw_key(w, key);
  if (v < 0)
    jw_null(w);
  else
    jw_double(w, v);
}

/* "disk": the data directory's use and its file system's space. */
static void disk(console_call *cc, jw *w, const char *dir) {
  jw_key(w, "disk");
  jw_obj(w);
  int64_t used = disk_used(dir, cc->now_ms);
  jw_key(w, "used_bytes");
  if (used < 0)
    jw_null(w);
  else
    jw_int(w, used);
  struct statvfs vfs;
  if (statvfs(dir, &vfs) == 0) {
    jw_kint(w, "free_bytes", (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize);
    jw_kint(w, "total_bytes", (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize);
  } else {
    jw_key(w, "free_bytes");
    jw_null(w);
    jw_key(w, "total_bytes");
    jw_null(w);
  }
  jw_end(w);
}

static int overview(console_call *cc) {
  const console_config *cfg = console_config_of(cc->con);
  kafka_metadata_request *mq = console_new_req(cc, 3 /* Metadata */);
  if (mq)
    mq->topics.count = -1; /* all the caller may describe */
  kafka_metadata_response *md;
  if (console_kafka(cc, 3, 12, mq, (void **)&md) < 0)
    return -1;
  int64_t topics = 0, partitions = 0;
  for (int32_t i = 0; i < md->topics.count; i++)
    if (md->topics.items[i].error_code == 0) {
      topics++;
      partitions += md->topics.items[i].partitions.count;
    }
  kafka_list_groups_request *gq = console_new_req(cc, 16 /* ListGroups */);
  kafka_list_groups_response *gr;
  if (console_kafka(cc, 16, 5, gq, (void **)&gr) < 0)
    return -1;
  console_sample last;
  size_t have =
      console_history_samples(console_history_of(cc->con), &last, 1) == 1;
  if (!have)
    last = (console_sample){.produce_records = -1,
                            .produce_bytes = -1,
                            .fetch_records = -1,
                            .fetch_bytes = -1,
                            .fsync_p50_ms = -1,
                            .fsync_p99_ms = -1};

  jw *w = console_json(cc);
  jw_obj(w);
  jw_kstr(w, "version", cfg->version);
  jw_kint(w, "started_ms", cc->con->started_ms);
  jw_kint(w, "uptime_s", (cc->now_ms - cc->con->started_ms) / 1000);
  /* Where the console's Kafka requests go: the broker's own listener,
   * or the remote broker `nodata console --bootstrap` names. */
  jw_key(w, "kafka");
  jw_obj(w);
  char addr[300];
  snprintf(addr, sizeof addr,
           strchr(cfg->target.host, ':') ? "[%s]:%d" : "%s:%d",
           cfg->target.host, cfg->target.port);
  jw_kstr(w, "address", addr);
  jw_kstr(w, "listener", cfg->target.listener);
  jw_kbool(w, "remote", cfg->remote);
  jw_end(w);
  if (cfg->remote) { /* no data directory here: the broker's is remote */
    jw_key(w, "data_dir");
    jw_null(w);
    jw_key(w, "disk");
    jw_null(w);
  } else {
    jw_kstr(w, "data_dir", cfg->data_dir);
    disk(cc, w, cfg->data_dir);
  }
  jw_kint(w, "topics", topics);
  jw_kint(w, "partitions", partitions);
  jw_key(w, "groups");
  if (gr->error_code)
    jw_null(w); /* not allowed to list them (or not now) */
  else
    jw_int(w, gr->groups.count);
  jw_key(w, "connections"); /* this process's: none to count if remote */
  if (cfg->remote)
    jw_null(w);
  else
    jw_int(w, (int64_t)atomic_load_explicit(&g_metrics.conns_open,
                                            memory_order_relaxed));
  jw_key(w, "rates");
  jw_obj(w);
  kmaybe(w, "produce_records_s", last.produce_records);
  kmaybe(w, "produce_bytes_s", last.produce_bytes);
  kmaybe(w, "fetch_records_s", last.fetch_records);
  kmaybe(w, "fetch_bytes_s", last.fetch_bytes);
  jw_end(w);
  jw_key(w, "fsync");
  jw_obj(w);
  kmaybe(w, "p50_ms", last.fsync_p50_ms);
  kmaybe(w, "p99_ms", last.fsync_p99_ms);
  jw_end(w);
  jw_end(w);
  return 0;
}

static int history(console_call *cc) {
  const console_history *h = console_history_of(cc->con);
  console_sample s[CONSOLE_HISTORY];
  size_t n = console_history_samples(h, s, CONSOLE_HISTORY);
  jw *w = console_json(cc);
  jw_obj(w);
  console_history_write_interval(w, h);
  jw_key(w, "samples");
  jw_arr(w);
  for (size_t i = 0; i < n; i++) {
    jw_obj(w);
    jw_kint(w, "t_ms", s[i].t_ms);
    jw_kdouble(w, "produce_records_s", s[i].produce_records);
    jw_kdouble(w, "produce_bytes_s", s[i].produce_bytes);
    jw_kdouble(w, "fetch_records_s", s[i].fetch_records);
    jw_kdouble(w, "fetch_bytes_s", s[i].fetch_bytes);
    kmaybe(w, "fsync_p50_ms", s[i].fsync_p50_ms);
    kmaybe(w, "fsync_p99_ms", s[i].fsync_p99_ms);
    jw_end(w);
  }
  jw_end(w);
  jw_end(w);
  return 0;
}

const console_route console_overview_routes[] = {
    {"GET", "/api/overview", overview, 0},
    {"GET", "/api/history", history, 0},
    {NULL, NULL, NULL, 0},
};
