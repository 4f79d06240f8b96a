// Command franzgotxn is one member of an exactly-once consume-transform-
// produce group with franz-go's GroupTransactSession, for
// tests/compat/test_diff_franz_go_txn.py, which runs several of them
// against Apache Kafka and against nodata serve, kills one with SIGKILL
// mid-way and checks that the output holds every input record exactly
// once.
//
//	franzgotxn GROUP IN OUT TRANSACTIONAL_ID BOOTSTRAP
//
// It reads IN read_committed as a member of GROUP and, for each poll of at
// most 10 records, begins a transaction, produces "T:<value>" with the
// same key to the same partition of OUT, and ends it with TryCommit (which
// also commits the group's offsets in the transaction, or aborts when the
// group rebalanced meanwhile). It holds each transaction open for a
// moment before ending it, so that a kill lands inside one. It prints one
// line per ended transaction, "committed N" or "aborted N" (N records),
// and runs until SIGTERM, when it closes the session (leaving the group).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr,
			"usage: franzgotxn GROUP IN OUT TRANSACTIONAL_ID BOOTSTRAP")
		os.Exit(2)
	}
	group, in, out, txnID, boot := os.Args[1], os.Args[2], os.Args[3],
		os.Args[4], os.Args[5]
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(boot),
		kgo.TransactionalID(txnID),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.RequireStableFetchOffsets(),
		// Records go to the partition of their input record.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// A killed member leaves the group soon, so the test need not
		// wait Kafka's default 45 s for its partitions.
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(time.Second),
	)
	if err != nil {
		fail("new session: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM,
		os.Interrupt)
	defer stop()
	for ctx.Err() == nil {
		fetches := sess.PollRecords(ctx, 10)
		if ctx.Err() != nil {
			break
		}
		fetches.EachError(func(t string, p int32, err error) {
			fail("fetch %s/%d: %v", t, p, err)
		})
		if fetches.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			fail("begin: %v", err)
		}
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Topic: out, Partition: r.Partition,
				Key: r.Key, Value: append([]byte("T:"), r.Value...)},
				func(_ *kgo.Record, err error) {
					if err != nil {
						fmt.Fprintf(os.Stderr, "produce: %v\n", err)
					}
				})
		})
		time.Sleep(50 * time.Millisecond)
		committed, err := sess.End(context.Background(), kgo.TryCommit)
		if err != nil {
			fail("end: %v", err)
		}
		if committed {
			fmt.Printf("committed %d\n", n)
		} else {
			fmt.Printf("aborted %d\n", n)
		}
	}
	sess.Close()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}
