/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txnindex.h — the aborted-transaction index of one segment (Kafka's
 * TransactionIndex, file <base>.txnindex): one entry per ABORT marker the
 * segment holds, in marker order, so that a read_committed Fetch can be
 * given the aborted transactions its range overlaps without a log scan.
 *
 * File format (Kafka's AbortedTxn, big-endian, 34 bytes an entry, back to
 * back, no header): version i16 (0), producerId i64, firstOffset i64,
 * lastOffset i64 (the marker's offset), lastStableOffset i64 (the LSO
 * once the transaction was complete: the first offset of the earliest
 * transaction still open, else lastOffset + 1).
 *
 * Derived data (layout.h): written with each ABORT marker, fdatasync'd
 * before the producer-state snapshot or recovery point that covers it is
 * written (partition_maintain, partition_close), dropped at and after the
 * offset where recovery's header walk starts and re-added by that walk.
 * A file that does not parse whole (torn tail, bad entry) keeps its valid
 * prefix; the walk or nd_verify finds what is missing.
 *
 * The entries are kept in memory with the segment (loaded at open); every
 * access is under the partition's txn_lock.
 */
#ifndef ND_TXNINDEX_H
#define ND_TXNINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define TXNINDEX_ENTRY_SIZE 34

typedef struct txn_aborted {
  int64_t pid;
  int64_t first;
  int64_t last;
  int64_t lso;
} txn_aborted;

typedef struct txn_list {
  txn_aborted *v;
  size_t n, cap;
  int dirty; /* written since the last txnindex_sync */
} txn_list;

struct segment;

/* Load seg's file into l (l empty before). Entries must lie in
 * [seg base, next_offset), ascending by lastOffset, first < last; the
 * first that does not ends the list (and, unless readonly, the file is
 * cut there). Returns 0 (a missing file is an empty list) or ND_ENOMEM. */
int txnindex_load(txn_list *l, const char *seg_path, int64_t base,
                  int64_t next_offset, int readonly);
/* Add an entry in memory and, unless readonly, write it to the file (not
 * synced). */
int txnindex_add(txn_list *l, const char *seg_path, const txn_aborted *e,
                 int readonly);
/* Drop the entries with lastOffset >= offset, in memory and in the file
 * (removed when nothing is left). */
int txnindex_truncate(txn_list *l, const char *seg_path, int64_t offset);
/* Add an entry in memory only (ND_ENOMEM). */
int txnindex_push(txn_list *l, const txn_aborted *e);
/* Replace the file with the entries of l (the cleaner's new segments). */
int txnindex_write(const txn_list *l, const char *seg_path);
/* fdatasync the file if entries were added since the last sync. */
int txnindex_sync(txn_list *l, const char *seg_path, const nd_logger *lg);
void txnindex_free(txn_list *l);
/* Encode/decode one 34-byte entry (verify.c, inspect.c). */
void txnindex_encode(uint8_t *p, const txn_aborted *e);
int txnindex_decode(const uint8_t *p, txn_aborted *e);

#endif
