/*
 * offsets.h — committed consumer-group offsets, in DATA/groups/.
 *
 * offsets.log is an append-only sequence of frames:
 *   u32 length of payload | u32 CRC-32C of payload | payload
 *   payload: u8 version (1), u32 op count, ops
 *   op: u8 kind
 *     1 commit:       str16 group, str16 topic, i32 partition, i64 offset,
 *                     i32 leader epoch, i64 commit time ms, str32 metadata
 *     2 delete group: str16 group
 *     3 delete topic: str16 topic
 *     4 group type:   str16 group, str16 protocol type (Kafka's
 *                     "consumer", "connect", …; the last one counts)
 *     5 delete offset: str16 group, str16 topic, i32 partition
 *   str16: u16 length + bytes; str32: i32 length (-1 = null) + bytes
 * (all integers big-endian). One call is one frame, so it is recorded
 * whole or not at all. At open the file is replayed into a hash map and
 * cut at the first torn or corrupt frame. When the file grows past four
 * times what the live entries need, it is rewritten as one frame (tmp,
 * fsync, rename, fsync dir) by the background maintenance.
 */
#ifndef ND_OFFSETS_H
#define ND_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "nodata.h"

typedef struct offsets_store offsets_store;

int offsets_open(const char *dir, int readonly, offsets_store **out);
int offsets_close(offsets_store *os);
int offsets_commit(offsets_store *os, const char *group,
                   const nd_offset_commit *c, size_t n, int64_t now_ms);
int offsets_get(offsets_store *os, const char *group, const char *topic,
                int32_t partition, int64_t *offset, int32_t *epoch,
                char **metadata, size_t *metadata_len);
/* The length of c's metadata: metadata_len, or strlen for 0. */
size_t offsets_meta_len(const nd_offset_commit *c);
int offsets_list(offsets_store *os, const char *group, nd_committed **list,
                 size_t *count);
int offsets_groups(offsets_store *os, char ***names, size_t *count);
/* A group's protocol type: written without a sync of its own (the next
 * commit's covers it); nothing is written when it is unchanged. */
int offsets_set_type(offsets_store *os, const char *group, const char *type);
/* *type: a malloc'ed copy, or NULL if never set. */
int offsets_get_type(offsets_store *os, const char *group, char **type);
/* Returns ND_ENOTFOUND if the group has no offsets. */
int offsets_delete_group(offsets_store *os, const char *group);
int offsets_delete_topic(offsets_store *os, const char *topic);
/* Forget the committed offsets of n partitions of group (Kafka's
 * OffsetDelete), durably, in one frame. Partitions without an offset are
 * skipped; nothing is written if none has one. */
int offsets_delete_partitions(offsets_store *os, const char *group,
                              const nd_topic_partition *parts, size_t n);
/* Compact the file if it is mostly dead entries. */
int offsets_maintain(offsets_store *os);

#endif
