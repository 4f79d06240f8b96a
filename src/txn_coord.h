/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txn_coord.h — the transaction coordinator's state (the public calls,
 * nd_txn_*, are in nodata.h; the design in docs/transactions.md).
 *
 * DATA/transactions/txn.log is a framelog (framelog.h) with magic
 * 0x89545853 ("\x89TXS"); payload: u8 version (1), u32 op count, ops:
 *   1 state: str16 transactional id, i64 producer id, i16 epoch,
 *            i64 previous producer id, i16 previous epoch, u8 state,
 *            i32 timeout ms, i64 start ms, i64 last update ms,
 *            u8 transaction version, u32 n + n x (str16 topic, i32 partition),
 *            u32 n + n x str16 group,
 *            u32 n + n x (str16 group, str16 topic, i32 partition,
 *                         i64 offset, i32 leader epoch, str32 metadata)
 *            (the pending offsets)
 *   2 forget: str16 transactional id (expired)
 *   3 producer ids: i64 limit (ids below it may have been handed out)
 * Each transition of an id is one frame holding its whole state, so
 * replay keeps the last one; a checkpoint has one frame per id and one for
 * the producer-id limit.
 *
 * Locks: each id's entry has a lock held across a whole call for it (an
 * init, add, end, the append check of its producer's batch); the
 * coordinator's lock guards the table and the file and is taken inside an
 * entry's lock, briefly, never the other way round. Entries are never
 * freed before close (a forgotten id's entry is marked Dead and reused).
 */
#ifndef ND_TXN_COORD_H
#define ND_TXN_COORD_H

#include <stdint.h>

#include "error.h"
#include "nodata.h"

typedef struct txn_coord txn_coord;
typedef struct txn_entry txn_entry;

/* Load DATA/transactions (created unless readonly); nothing is completed
 * yet (txn_coord_recover, once the store is whole). */
int txn_coord_open(nd_store *s, const char *data_dir, int readonly,
                   const nd_logger *log, txn_coord **out);
/* Finish transactions a crash left Prepare* (markers, offsets, Complete*),
 * as the design's rule 2 says. */
int txn_coord_recover(nd_store *s);
int txn_coord_close(txn_coord *c);
/* Transactions not yet complete (Ongoing or Prepare*): a walk of the
 * table under the coordinator's lock, for nd_store_stats_get. */
int64_t txn_coord_open_count(txn_coord *c);
/* Rewrite txn.log when it has grown past four times its live state. */
int txn_coord_maintain(txn_coord *c);

/* The append check (nd_append_batch): a transactional batch of producer
 * (pid, epoch) for (topic, partition). On success *held is the entry whose
 * lock is held until txn_coord_append_end (after the partition append). */
int txn_coord_append_begin(nd_store *s, const char *topic_name,
                           int32_t partition_id, int64_t pid, int16_t epoch,
                           unsigned flags, txn_entry **held);
void txn_coord_append_end(txn_entry *held);
/* nd_test_txn_unchecked: the append check off (on != 0), process-wide. */
void txn_coord_set_unchecked(int on);

#endif
