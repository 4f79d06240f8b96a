/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.h — committed consumer-group offsets, in DATA/groups/.
 *
 * offsets.log is an append-only sequence of frames (framelog.h: its code
 * is shared with the transaction coordinator's log). Frames of form 2 (all
 * that is written):
 *   u32 magic 0x894F4653 ("\x89OFS") | u32 payload length |
 *   u32 CRC-32C of the payload | u32 CRC-32C of the 12 bytes before it |
 *   payload
 * Frames of form 1 (files written before form 2; read, never written):
 *   u32 payload length | u32 CRC-32C of payload | payload
 * The magic read as a form-1 length is over 2 GiB, which no form-1 frame
 * has, so the two forms are told apart frame by frame.
 *   payload: u8 version (1), u32 op count, ops
 *   op: u8 kind
 *     1 commit:       str16 group, str16 topic, i32 partition, i64 offset,
 *                     i32 leader epoch, i64 commit time ms, str32 metadata
 *     2 delete group: str16 group
 *     3 delete topic: str16 topic
 *     4 group type:   str16 group, str16 protocol type (Kafka's
 *                     "consumer", "connect", …; the last one counts)
 *     5 delete offset: str16 group, str16 topic, i32 partition
 *     6 group state:  str16 group, u32 length + bytes (at most
 *                     ND_GROUP_STATE_MAX; opaque to the library: a group
 *                     coordinator's own state, the last one counts;
 *                     length 0 forgets it)
 *   str16: u16 length + bytes; str32: i32 length (-1 = null) + bytes
 * (all integers big-endian). One call is one frame, so it is recorded
 * whole or not at all.
 *
 * Loading replays the frames into a hash map (with an index by group,
 * offsets.c; memory only, like the map). Damage costs only the
 * damaged frames: a frame whose payload fails its checksum (or whose ops
 * do not parse) is skipped whole, its length vouched for by the header
 * checksum; bytes that start no frame are skipped up to the next position
 * where a frame header checks (resynchronisation). A skipped commit leaves
 * the previous commit of that partition in effect (an offset regression),
 * a skipped delete leaves what it deleted. Each damaged range is told
 * through nd_options.on_log (file, bytes, the ops it appears to hold); a
 * writable open then rewrites the file without it, keeping the damaged
 * file as offsets.log.damaged. What follows the last valid frame is a
 * torn write when it is a frame cut by the end of the file, zeros, or
 * shorter than a header: it is cut (logged at info level).
 *
 * The file is rewritten from the map (a checkpoint: tmp, fsync, rename,
 * fsync dir) when it grows past four times what the live entries need
 * (background maintenance), when damage was found, and when it holds
 * frames of form 1. A checkpoint has a frame per group, of at most
 * CHECKPOINT_FRAME_BYTES of ops, so damage to it costs one group's
 * entries in that frame, not every group's; an op bigger than that (a
 * group's state) has a frame of its own.
 */
#ifndef ND_OFFSETS_H
#define ND_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "nodata.h"

typedef struct offsets_store offsets_store;

/* log: where damage found while loading is told (copied; may be NULL). */
int offsets_open(const char *dir, int readonly, const nd_logger *log,
                 offsets_store **out);
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
/* A group's state (op 6): replaced whole by one frame, without a sync of
 * its own; len 0 forgets it (state may be NULL). Nothing is written when
 * it is unchanged. On failure the previous state stays. */
int offsets_set_state(offsets_store *os, const char *group, const void *state,
                      size_t len);
/* *state: a malloc'ed copy of *len bytes (NUL after them); ND_ENOTFOUND
 * (*state NULL, *len 0) if the group has none. */
int offsets_get_state(offsets_store *os, const char *group, void **state,
                      size_t *len);
/* Returns ND_ENOTFOUND if the group has no offsets, type or state. */
int offsets_delete_group(offsets_store *os, const char *group);
int offsets_delete_topic(offsets_store *os, const char *topic);
/* Forget the committed offsets of n partitions of group (Kafka's
 * OffsetDelete), durably, in one frame. Partitions without an offset are
 * skipped; nothing is written if none has one. */
int offsets_delete_partitions(offsets_store *os, const char *group,
                              const nd_topic_partition *parts, size_t n);
/* fdatasync what was appended and is not yet durable (types, states). */
int offsets_sync(offsets_store *os);
/* Compact the file if it is mostly dead entries. */
int offsets_maintain(offsets_store *os);

#endif
