/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layout.h — every file and directory of a data directory, by name: the
 * one place the engine spells them. For each: where its format is
 * described, and its durability class, i.e. what a power cut may do to it
 * (file.h's crash recorder simulates exactly that; test_powercut checks
 * the store survives it):
 *
 *   SYNCED   written by file_write_atomic (tmp, fdatasync, rename, fsync of
 *            the directory) or fdatasync'd before the write is
 *            acknowledged: survives a power cut as acknowledged.
 *   LOG      fdatasync'd per the topic's fsync policy, names made durable
 *            by an fsync of the directory; after a power cut the unsynced
 *            tail may be lost or torn, and recovery cuts it (recovery.c).
 *   HINT     written by file_write_replace (tmp, rename, no sync): after a
 *            power cut it may be the old one, empty, torn, or missing.
 *            A hint's loss costs only a longer recovery, never data; its
 *            reader takes a value only if it parses whole, and a value
 *            that claims more than the data holds is caught by recovery.
 *   DERIVED  never synced; rebuilt from the .log when missing or
 *            implausible (recovery.c, index.c).
 *   MARKER   its presence is the message.
 *
 * DATA/                                  docs/format.md, "Directory"
 *   nodata.lock          MARKER   pid, text; flock'ed (store.c)
 *   FORMAT               SYNCED   "nodata 1\n" (store.c)
 *   clean-shutdown       MARKER   written SYNCED by nd_close; removed, and
 *                                 the directory synced, at open
 *   broker.conf          SYNCED   owned by nodata serve (broker/dynconfig.c,
 *                                 broker/atomic_file.c), not libnodata
 *   broker-producer-ids  SYNCED   owned by nodata serve, likewise
 *   topics/<sha256 hex of the name>/          (hash.c)
 *       topic.conf       SYNCED   key=value text (topic.c, docs/format.md)
 *       <partition>/     "0", "1", ... (partition.c)
 *           <base>.log        LOG      RecordBatch v2 back to back
 *                                      (batch.h, segment.h)
 *           <base>.index      DERIVED  8-byte entries (index.h)
 *           <base>.timeindex  DERIVED  12-byte entries (index.h)
 *           <base>.txnindex   DERIVED  34-byte aborted-transaction entries,
 *                                      only where the segment holds an
 *                                      ABORT marker (txnindex.h); synced
 *                                      before the producer-state snapshot
 *                                      that covers it is written
 *           recovery-point    HINT     decimal offset (recovery.c)
 *           log-start-offset  SYNCED   decimal offset (partition.c)
 *           producer-state    HINT     text (producer.h)
 *           cleaner-checkpoint SYNCED  "<first dirty> <holes below>
 *                                      <last clean ms>": where the next
 *                                      cleaning starts, and below which
 *                                      the cleaner may have left holes
 *                                      (cleaner.c, recovery.c)
 *           cleaner-swap      SYNCED   the swap manifest, the commit point
 *                                      of a cleaning (cleaner.c,
 *                                      docs/format.md "Cleaning")
 *           cleaning/         cleaned segments being written:
 *               <base>.log    LOG, fdatasync'd before cleaner-swap is
 *                             written; moved into the partition by the
 *                             swap; removed at open without cleaner-swap
 *               <base>.index, <base>.timeindex   DERIVED, likewise
 *   topics/<hash>.creating/              a topic being created; published
 *                                        by one rename (api.c)
 *   topics/<hash>.<tag>.deleted/         a deleted topic, removed by the
 *                                        background thread (store.c)
 *   groups/offsets.log   SYNCED   frames, fdatasync'd per commit (offsets.h)
 *   groups/offsets.log.damaged    a hard link to a damaged offsets.log,
 *                                 kept for whoever wants to look
 *   transactions/txn.log SYNCED   frames, fdatasync'd per transition of a
 *                                 transactional id (txn_coord.h)
 *   transactions/txn.log.damaged  as groups/offsets.log.damaged
 *   quarantine/<UTC time>/         what nd_verify's repair took out of
 *                                 the log (verify.c); never read back
 *   any.tmp              the temporary of a file_write_atomic/_replace;
 *                        a leftover is removed or overwritten
 */
#ifndef ND_LAYOUT_H
#define ND_LAYOUT_H

#include <string.h>

#define LAYOUT_LOCK "nodata.lock"
#define LAYOUT_FORMAT "FORMAT"
#define LAYOUT_CLEAN_SHUTDOWN "clean-shutdown"
#define LAYOUT_TOPICS "topics"
#define LAYOUT_TOPIC_CONF "topic.conf"
#define LAYOUT_CREATING ".creating"
#define LAYOUT_DELETED ".deleted"
/* Segment files: the base offset in 20 zero-padded digits (so that `ls`
 * order is log order), then the extension. */
#define LAYOUT_SEGMENT_DIGITS 20
#define LAYOUT_LOG ".log"
#define LAYOUT_INDEX ".index"
#define LAYOUT_TIMEINDEX ".timeindex"
#define LAYOUT_TXNINDEX ".txnindex"
#define LAYOUT_RECOVERY_POINT "recovery-point"
#define LAYOUT_LOG_START "log-start-offset"
#define LAYOUT_PRODUCER_STATE "producer-state"
#define LAYOUT_CLEANER_CHECKPOINT "cleaner-checkpoint"
#define LAYOUT_CLEANER_SWAP "cleaner-swap"
#define LAYOUT_CLEANING_DIR "cleaning"
#define LAYOUT_GROUPS "groups"
#define LAYOUT_OFFSETS_LOG "offsets.log"
#define LAYOUT_TRANSACTIONS "transactions"
#define LAYOUT_TXN_LOG "txn.log"
#define LAYOUT_DAMAGED ".damaged"
#define LAYOUT_QUARANTINE "quarantine"
#define LAYOUT_TMP ".tmp"

/* 1 if name ends with suffix and has something before it. */
static inline int layout_has_suffix(const char *name, const char *suffix) {
  size_t n = strlen(name), k = strlen(suffix);
  return n > k && !strcmp(name + n - k, suffix);
}

#endif
