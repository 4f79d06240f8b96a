/* SPDX-License-Identifier: Apache-2.0 */
/*
 * waitset.h — requests parked until a partition gets new records, indexed
 * by (topic, partition), so that an append wakes only the requests waiting
 * on its partition (Fetch long polling) instead of every parked one.
 *
 * Threads: the index (waitset_add, waitset_remove) and the wake callbacks
 * belong to the loop thread. waitset_notify may be called from any thread
 * (the store calls its append hook on whichever thread appends): it marks
 * the partition and posts one drain to the loop, which calls back each
 * waiter of the marked partitions once. Notifies that arrive before the
 * drain runs are coalesced into it.
 */
#ifndef ND_WAITSET_H
#define ND_WAITSET_H

#include <stdint.h>

#include "net.h"

typedef struct waitset waitset;
typedef struct wait_link wait_link;

/* One parked request, embedded in the caller's state; zero it before its
 * first waitset_add. The fields are the waitset's. */
typedef struct waiter {
  wait_link *links; /* one per partition waited on */
  uint64_t round;   /* the last drain that called it back */
} waiter;

/* Called on the loop thread for a waiter whose partition got records. It
 * may call waitset_remove (on this or any other waiter) and waitset_add. */
typedef void (*waitset_wake_fn)(void *ctx, waiter *w);

/* A waitset that posts its drains to loop. Errors: -ENOMEM. */
int waitset_new(net_loop *loop, waitset_wake_fn wake, void *ctx, waitset **out);

/* Free ws and every link still in it (the waiters are the caller's). On
 * the loop thread once nothing notifies any more, after the loop has run
 * its posts (a drain still queued would use ws). NULL is a no-op. */
void waitset_free(waitset *ws);

/* Make w wait on (topic, partition); topic is copied. A waiter may wait on
 * many partitions (and on one twice). Loop thread only. Errors: -ENOMEM
 * (w is then not woken by that partition; its other links stay). */
int waitset_add(waitset *ws, waiter *w, const char *topic, int32_t partition);

/* Take w off every partition it waits on. Loop thread only; a no-op for a
 * waiter not in ws, and for a NULL ws. */
void waitset_remove(waitset *ws, waiter *w);

/* (topic, partition) has new records: have its waiters called back on the
 * loop thread soon. Any thread; quick (one mutex, one hash lookup, at most
 * one net_post per drain). If the post fails for lack of memory the
 * waiters are left to their timers. */
void waitset_notify(waitset *ws, const char *topic, int32_t partition);

/* How many notifies have begun so far. A caller that reads it before
 * looking at the partitions, waitset_adds, and reads it again unchanged
 * knows that no notify for those partitions was missed in between;
 * otherwise it should look again. Any thread. */
uint64_t waitset_epoch(waitset *ws);

#endif
