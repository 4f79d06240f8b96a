/* SPDX-License-Identifier: Apache-2.0 */
/*
 * groups.h — where `nodata groups` gets consumer groups from: a data
 * directory through libnodata (groups_data.c) or any Kafka-protocol broker
 * through librdkafka's Admin API (groups_kafka.c). cli/groups.c prints the
 * same tables from either, so the commands behave alike on both.
 *
 * Every function prints its own error (one line, "nodata groups: ...")
 * and returns CLI_FAIL, or returns CLI_OK.
 */
#ifndef ND_CLI_GROUPS_H
#define ND_CLI_GROUPS_H

#include <stddef.h>
#include <stdint.h>

/* One partition of a group: its committed offset (-1 when none). */
typedef struct gr_offset {
  char *topic;
  int32_t partition;
  int64_t offset;
} gr_offset;

typedef struct gr_member {
  char *consumer_id, *host, *client_id;
  gr_offset *assigned; /* offset unused (-1) */
  size_t nassigned;
} gr_member;

typedef struct gr_group {
  char *name;
  char *state;       /* Kafka's names: Stable, Empty, ..., or Unknown */
  char *assignor;    /* "" when none */
  char *coordinator; /* "host:port  (id)", or "-" on a data directory */
  int members_known; /* 0 on a data directory a broker holds */
  gr_member *members;
  size_t nmembers;
} gr_group;

typedef struct gr_backend gr_backend;
struct gr_backend {
  /* Every group, name and state (state only: no members). */
  int (*list)(gr_backend *b, gr_group **groups, size_t *n);
  /* One group; *found = 0 when the broker or directory does not know it. */
  int (*describe)(gr_backend *b, const char *group, gr_group *out, int *found);
  /* The group's committed offsets, sorted by topic then partition. */
  int (*committed)(gr_backend *b, const char *group, gr_offset **list,
                   size_t *n);
  /* Log start offset and end offset (high watermark). */
  int (*watermarks)(gr_backend *b, const char *topic, int32_t partition,
                    int64_t *lo, int64_t *hi);
  /* First offset with timestamp >= ts_ms, -1 when none is that late. */
  int (*offset_for_time)(gr_backend *b, const char *topic, int32_t partition,
                         int64_t ts_ms, int64_t *offset);
  /* Number of partitions of a topic (error when it does not exist). */
  int (*partitions)(gr_backend *b, const char *topic, int32_t *n);
  /* Commit these offsets for the group, all or none. */
  int (*alter)(gr_backend *b, const char *group, const gr_offset *list,
               size_t n);
  /* Delete the group (its committed offsets). */
  int (*remove)(gr_backend *b, const char *group);
  /* Close and free; CLI_FAIL when a data directory's close failed. */
  int (*close)(gr_backend *b);
};

/* A data directory, opened read-only or, with write, for writing (refused,
 * with a pointer to --bootstrap, while a broker holds it). */
int gr_open_data(const char *dir, int write, gr_backend **out);
/* A Kafka-protocol broker at bootstrap ("host:port[,host:port]"). */
int gr_open_kafka(const char *bootstrap, gr_backend **out);

void gr_offsets_free(gr_offset *list, size_t n);
void gr_group_clear(gr_group *g);
void gr_groups_free(gr_group *g, size_t n);
/* qsort comparator: topic, then partition. */
int gr_offset_cmp(const void *a, const void *b);
/* A malloc'ed copy of s ("" for NULL); NULL only when out of memory. */
char *gr_strdup(const char *s);

#endif
