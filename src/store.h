/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h — the store object shared by the files that implement the public
 * API: store.c (directory, lock, open/close, the topic registry and the
 * entry helpers), background.c (the maintenance thread and the trash),
 * api.c (topic admin, reads, committed offsets) and append.c (the append
 * path). Nothing outside src/ includes it.
 *
 * Every public entry point taking a store starts with one of the
 * store_enter* helpers and, when it took a topic reference, ends with
 * store_leave(). They are the only place that clears the thread's error,
 * refuses a NULL store, refuses writes to a read-only store and acquires
 * and releases topics, so every entry point behaves alike
 * (tests/test_null_store.c walks nodata.h's entry points).
 */
#ifndef ND_STORE_H
#define ND_STORE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "nodata.h"
#include "offsets.h"
#include "partition.h"
#include "stats.h"
#include "topic.h"

struct nd_store {
  char dir[PATH_MAX];
  char topics_dir[PATH_MAX];
  int lock_fd;     /* nodata.lock */
  int dir_lock_fd; /* the data directory: the lock that counts */
  int readonly;
  nd_options opts;
  nd_logger logger; /* opts.on_log */
  /* The topic defaults (nd_store_set_topic_defaults). defaults_lock
   * guards them and every topic's taking them (its cfg), and is never
   * held across I/O: the broker's loop thread changes them. Order:
   * defaults_lock, then map_lock, then a topic's lock. */
  nd_topic_config defaults;
  pthread_mutex_t defaults_lock;
  int32_t max_topic_parts, max_store_parts; /* resolved limits */

  pthread_rwlock_t map_lock; /* topics, ntopics */
  topic **topics;            /* sorted by name */
  size_t ntopics, cap;
  pthread_mutex_t admin_lock; /* create/delete/alter, one at a time */
  offsets_store *offsets;     /* committed consumer offsets */
  struct txn_coord *txn;      /* the transaction coordinator (txn_coord.h) */
  seg_caches caches;          /* bounds on descriptors and index maps */
  recovery_log recovery;      /* what nd_open's recovery did; fixed after */
  int64_t recovery_ms;        /* how long it took; fixed after */
  store_stats stats;          /* nd_store_stats_get; logger.stats */

  pthread_t bg;
  int bg_running;
  pthread_mutex_t bg_lock;
  pthread_cond_t bg_cond;
  char **trash; /* deleted topics' directories to remove (bg_lock) */
  size_t ntrash;
  int stopping;
  atomic_long readers; /* nd_reader handles open: nd_close waits for none */

  /* The cleaner threads (cleaner.c): they wait on cleaner_cond under
   * bg_lock; cleaner_stop also stops a cleaning under way. */
  pthread_t *cleaners;
  int ncleaners;
  pthread_cond_t cleaner_cond;
  _Atomic int cleaner_stop;
};

/* The wall clock in milliseconds since the epoch. */
int64_t store_now_ms(void);
/* A monotonic clock in milliseconds, for durations. */
int64_t store_mono_ms(void);

/* ---- entry helpers (store.c) ------------------------------------------- */

/* How an entry point uses the store. */
enum {
  ENTRY_READ = 0,
  ENTRY_WRITE = 1,      /* refused on a read-only store: ND_EREADONLY */
  ENTRY_OFFLINE_OK = 2, /* store_enter_topic: an offline topic is taken */
};

/* The first call of every public entry point taking a store: clears the
 * thread's error; a NULL store is ND_EINVAL and, with ENTRY_WRITE, a
 * read-only store ND_EREADONLY, each with a message naming fn. */
int store_enter(nd_store *s, const char *fn, unsigned mode);

/* store_enter for an entry point with required arguments: args_ok false
 * is ND_EINVAL, "fn: what" (checked before the read-only check). */
int store_enter_args(nd_store *s, const char *fn, unsigned mode, int args_ok,
                     const char *what);

/* store_enter, then a reference to topic name: ND_ENOTOPIC when there is
 * none, ND_EFAILED when it is offline (unless ENTRY_OFFLINE_OK). On
 * success the caller ends with store_leave(*t, rc). */
int store_enter_topic(nd_store *s, const char *fn, unsigned mode,
                      const char *name, topic **t);

/* store_enter_topic, then partition p of it: ND_ENOPARTITION when the
 * topic has no such partition, ND_EFAILED when it is offline. On success
 * the caller ends with store_leave(*t, rc). */
int store_enter_partition(nd_store *s, const char *fn, unsigned mode,
                          const char *name, int32_t p, topic **t,
                          partition **part);

/* Partition p of a topic the caller holds, checked as
 * store_enter_partition does; no reference is taken. */
int store_partition(topic *t, int32_t p, partition **part);

/* The last call of an entry point that took a topic: drops the reference
 * and returns rc, or ND_ENOTOPIC when rc is an error and the topic was
 * deleted meanwhile (its files were renamed away), as the header
 * promises. */
int store_leave(topic *t, int rc);

/* ---- topic registry (store.c) ------------------------------------------ */

/* Position of name in the sorted array, or where it would go; map_lock
 * held. */
size_t store_find_pos(nd_store *s, const char *name, int *found);
/* Adds an opened topic; ND_ETOPICEXISTS if the name is taken. */
int store_insert_topic(nd_store *s, topic *t);
/* A reference to topic name, or NULL; store_release drops it. */
topic *store_acquire(nd_store *s, const char *name);
/* References to every topic, for work done without the map lock; NULL
 * when out of memory. */
topic **store_snapshot(nd_store *s, size_t *n);
/* Drops a reference; the last one of a deleted topic frees it and has its
 * directory removed. */
void store_release(topic *t);
/* ND_EFAILED telling why topic t is offline. */
int store_offline_error(topic *t);

/* ---- background thread and trash (background.c) ------------------------ */

/* Starts the maintenance thread (nd_maintain every 100 ms, deleted
 * topics' files removed). */
int store_background_start(nd_store *s);
/* Stops and joins it, if it runs. */
void store_background_stop(nd_store *s);
/* Has a deleted topic's renamed-away directory removed. */
void store_trash(nd_store *s, const char *dir);
/* Start the cleaner threads (nd_options.cleaner_threads; none when < 0)
 * and stop them (a cleaning under way is abandoned: nothing of it was
 * committed, or it is whole). cleaner.c. */
int store_cleaner_start(nd_store *s);
void store_cleaner_stop(nd_store *s);
/* Removes every directory handed to store_trash so far. */
void store_empty_trash(nd_store *s);

/* 0 if text, the content of the FORMAT file at path, names the format
 * this build reads; else ND_EFORMAT saying what it names (nd_open,
 * nd_verify and nd_backup refuse a newer store with the same words). */
int store_format_check(const char *path, const char *text);

#endif
