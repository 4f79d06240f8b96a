/* SPDX-License-Identifier: Apache-2.0 */
/*
 * producer.h — idempotent-producer state of one partition: for each
 * producer id, its epoch and the sequence numbers and offsets of its last
 * few batches (Kafka keeps five: a producer has at most five requests in
 * flight), so a retried batch is recognised and acknowledged with the
 * offsets of its first copy instead of being stored twice.
 *
 * The state is derived from the log. It is saved in the partition's
 * `producer-state` file (valid up to the offset written in its first line)
 * at clean close and when the recovery point is persisted, and on open it
 * is brought up to the high watermark by walking the batch headers after
 * that offset.
 *
 * Transactions: a transactional batch opens its producer's transaction in
 * the partition if none is open (txn_first = the batch's base offset); a
 * control batch (marker) closes it. A producer with an open transaction
 * is never forgotten (PRODUCERS_MAX), or the LSO would move past it.
 *
 * File format (text):
 *   producer-state 5 <offset it is valid up to>
 *   <pid> <epoch> <last timestamp> <txn first offset or -1> <last offset>
 *       <coordinator epoch> <n> then n times: <first_seq> <last_seq> <base>
 *       <last>
 * (one line per producer), then one line per segment whose .txnindex has
 * entries: txnindex <segment base> <entries>, and last "end <lines>", the
 * number of lines between the first and it: the file is written without
 * fsync, and one a power cut left shorter is not used (the state is
 * rebuilt from the log). A version-4 file is the same without the end
 * line, still read. A version-3 file is the same
 * without <coordinator epoch>, read as -1 (unknown until the producer's
 * next marker). A version-2 file (no transaction fields) is not trusted:
 * the state is rebuilt from the log, as for a missing one.
 */
#ifndef ND_PRODUCER_H
#define ND_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#define PRODUCER_BATCHES_KEPT 5

typedef struct producer_batch {
  int32_t first_seq, last_seq;
  int64_t base_offset, last_offset;
} producer_batch;

typedef struct producer_entry {
  int64_t pid;
  int16_t epoch;
  int64_t last_ts;     /* maxTimestamp of its newest batch */
  int64_t txn_first;   /* first offset of its open transaction, -1 */
  int64_t last_offset; /* of its newest batch or marker */
  int32_t coord_epoch; /* coordinatorEpoch of its last transaction marker,
                          -1 before any (Kafka's ProducerStateEntry) */
  int n;               /* batches kept, newest last; 0 after an epoch bump by
                          a marker */
  producer_batch batches[PRODUCER_BATCHES_KEPT];
} producer_entry;

typedef struct producer_state {
  producer_entry *entries;
  size_t count, cap;
} producer_state;

/* Outcome of checking a batch from producer pid. */
enum producer_verdict {
  PRODUCER_OK = 0,
  PRODUCER_DUPLICATE = 1, /* *dup holds the first copy's offsets */
  PRODUCER_OUT_OF_ORDER = 2,
  PRODUCER_FENCED = 3, /* epoch older than the one seen */
};

enum producer_verdict producer_check(const producer_state *ps, int64_t pid,
                                     int16_t epoch, int32_t first_seq,
                                     int32_t last_seq, producer_batch *dup);
/* Record a stored batch. Returns 0 or ND_ENOMEM. */
int producer_record(producer_state *ps, int64_t pid, int16_t epoch,
                    int32_t first_seq, int32_t last_seq, int64_t base,
                    int64_t last, int64_t ts);
void producer_state_free(producer_state *ps);
/* The entry of pid, or NULL. */
producer_entry *producer_find(const producer_state *ps, int64_t pid);
/* Note a transactional batch [base, last] of pid (after producer_record,
 * if it has sequence numbers): opens its transaction if none is open.
 * Returns 1 if it opened one, 0 if one was open, -1 out of memory. */
int producer_txn_batch(producer_state *ps, int64_t pid, int16_t epoch,
                       int64_t base, int64_t last);
/* A marker of pid at offset with epoch and timestamp ts, carrying
 * coord_epoch: closes its open transaction, takes the marker's epoch,
 * timestamp and coordinator epoch (Kafka's appendEndTxnMarker; a higher
 * epoch forgets the sequences). *first gets the transaction's first
 * offset, -1 if none was open. Creates the entry if need be (ND_ENOMEM). */
int producer_txn_end(producer_state *ps, int64_t pid, int16_t epoch,
                     int32_t coord_epoch, int64_t offset, int64_t ts,
                     int64_t *first);
/* The smallest txn_first of all open transactions, INT64_MAX if none;
 * skip_pid's is left out (-1: none left out). */
int64_t producer_first_open(const producer_state *ps, int64_t skip_pid);

/* The aborted-transaction index entries a snapshot vouches for: segment
 * base and how many entries its .txnindex held (all below the snapshot's
 * offset). Recovery compares them with the files (txnindex.h). */
typedef struct producer_txn_count {
  int64_t base;
  int64_t count;
} producer_txn_count;

/* Save to / load from DIR/producer-state, with the index counts (lines
 * "txnindex <base> <count>"). load returns the offset the file is valid
 * up to in *upto, or -1 if there is no usable file; it returns 1 when a
 * file exists but is not usable (another version, damaged): then the
 * state must be rebuilt from the whole log, since "no file" means "no
 * state" only when no file was written. *counts is malloc'ed (free).
 * *written (save) and *file (load), each may be NULL, get a copy of the
 * file's text (none when not usable); save writes nothing when its text
 * is what *written holds, the file's as last written. */
typedef struct producer_text {
  char *text;
  size_t len;
} producer_text;
int producer_state_save(const producer_state *ps, const char *dir, int64_t upto,
                        const producer_txn_count *counts, size_t ncounts,
                        producer_text *written);
int producer_state_load(producer_state *ps, const char *dir, int64_t *upto,
                        producer_txn_count **counts, size_t *ncounts,
                        producer_text *file);
void producer_text_free(producer_text *t);

#endif
