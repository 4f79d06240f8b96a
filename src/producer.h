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
 * File format (text):
 *   producer-state 2 <offset it is valid up to>
 *   <pid> <epoch> <last timestamp> <n> then n times:
 *       <first_seq> <last_seq> <base> <last>
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
  int64_t last_ts; /* maxTimestamp of its newest batch */
  int n;           /* batches kept, newest last */
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

/* Save to / load from DIR/producer-state. load returns the offset the file
 * is valid up to in *upto, or -1 if there is no usable file. */
int producer_state_save(const producer_state *ps, const char *dir,
                        int64_t upto);
int producer_state_load(producer_state *ps, const char *dir, int64_t *upto);

#endif
