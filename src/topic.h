/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topic.h — a topic: its name, id, config and partitions, and the
 * topic.conf file that describes it:
 *
 *   # nodata topic
 *   name=<topic name>
 *   id=<uuid>
 *   partitions=<n>
 *   <setting>=<value>      one line per nd_topic_config setting
 *   overrides=<name>,...   the settings the topic sets itself; the values
 *                          of the others are those of the store's defaults
 *                          when the file was written, and are replaced by
 *                          the current defaults at open (a file without
 *                          this line: the settings whose values differ
 *                          from the built-in defaults are overrides)
 *
 * The directory is topics/<hex sha256 of the name>; topic.conf is always
 * replaced atomically (tmp, fsync, rename, fsync dir).
 */
#ifndef ND_TOPIC_H
#define ND_TOPIC_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "nodata.h"
#include "partition.h"

typedef struct topic {
  char name[ND_TOPIC_NAME_MAX + 1];
  uint8_t id[16];
  char dir[PATH_MAX];
  pthread_rwlock_t lock; /* cfg and the parts array */
  nd_topic_config cfg;
  partition **parts;
  int32_t nparts;
  _Atomic int refs;
  _Atomic uint32_t round_robin;
  /* Set when the topic is deleted while others still hold references:
   * their operations then fail with ND_ENOTOPIC, whatever the file system
   * said about the renamed-away files. */
  _Atomic int deleted;
  /* Set (malloc'ed) when the topic's partitions could not be opened at
   * nd_open: the topic is listed with its configured partition count and
   * can be deleted, but every partition operation fails with ND_EFAILED
   * and this reason; the rest of the store is unaffected. */
  char *offline;
  int32_t conf_parts; /* partitions named by topic.conf */
  void *store;        /* the nd_store holding it (store.c removes its files) */
} topic;

int topic_conf_write(const char *dir, const char *name, const uint8_t id[16],
                     int32_t partitions, const nd_topic_config *cfg);
/* Parse DIR/topic.conf. Errors: ND_ECORRUPT naming the file and line. */
int topic_conf_read(const char *dir, char name[ND_TOPIC_NAME_MAX + 1],
                    uint8_t id[16], int32_t *partitions, nd_topic_config *cfg);
/* The name and partition count of a topic.conf that does not parse, if
 * its name line is intact and matches the directory: enough to list the
 * topic as offline (nd_open) and to check its segments (nd_verify).
 * Returns 0 when found, -1 if not. */
int topic_conf_salvage(const char *dir, char name[ND_TOPIC_NAME_MAX + 1],
                       int32_t *partitions);

/* Open a topic directory and all its partitions; the settings it does not
 * override come from defaults. If allow_offline is set,
 * a partition that fails to open, or a topic.conf that does not parse,
 * makes the topic open offline (see topic.offline) instead of failing; a
 * topic.conf too damaged to name its topic leaves *out NULL (the directory
 * is skipped, and logged). A partition with damaged synced data opens
 * offline on its own (partition.offline), the rest of the topic serves.
 * report, if not NULL, is told what recovery did to each partition. */
int topic_open(seg_caches *caches, const nd_logger *log, const char *dir,
               const nd_topic_config *defaults, int clean, int readonly,
               int allow_offline, int64_t now_ms, topic **out,
               recovery_log *report);
/* Close partitions and free. Returns the first error. */
int topic_close(topic *t);

/* Partition p, or NULL if out of range. Partitions live as long as the
 * topic, so the pointer stays valid while the caller holds a reference. */
partition *topic_partition(topic *t, int32_t p);
/* Snapshot of the config. */
void topic_config(topic *t, nd_topic_config *cfg);

/* The topic directories in tp (DATA/topics): names of 64 lowercase hex
 * characters, so not the .creating/.deleted leftovers, sorted. *names
 * and each name are malloc'ed (topic_dirs_free). -ENOENT when tp does not
 * exist (nothing allocated), else 0 or an nd_fail code. Used by the tools
 * that read a data directory without opening the store (verify, backup). */
int topic_dirs_list(const char *tp, char ***names, size_t *n);
void topic_dirs_free(char **names, size_t n);

#endif
