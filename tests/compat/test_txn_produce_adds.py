"""test_txn_produce_adds.py — how a Transactions V2 Produce adds its
partitions to the transaction (broker/handle_produce.c, "txn_adds").

A V2 producer (Produce v12, transaction.version 2) adds partitions by
producing to them. nodata adds all the transactional partitions of one
request with one coordinator frame (one fdatasync of transactions/txn.log)
on the transactional id's lane, then appends. Asserted:

1. One frame: a Produce v12 of one transaction's batches to three new
   partitions grows txn.log by exactly what AddPartitionsToTxn of the
   same three partitions grows it for a twin id (one frame); a frame per
   partition would grow it by three frames. DescribeTransactions lists
   the three partitions (rule 1 of docs/transactions.md: durable before
   the data, which the next steps read back).
2. Arrival order: two Produce v12 requests of one producer sent back to
   back on one connection, the first adding a new partition beside one
   already in the transaction, the second only to the partition already
   in: both are appended in order (no OUT_OF_ORDER_SEQUENCE), so the
   second did not overtake the first while it waited for its add.
3. Per-partition answers kept: a fenced producer's V2 Produce to new
   partitions gets INVALID_PRODUCER_EPOCH on each partition and writes no
   frame; a partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION
   beside a good one, which is added and appended.
4. The commit (EndTxn v5) makes the records readable read_committed.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import test_diff_txn_protocol as tp  # noqa: E402
import test_kafka_versions as kv  # noqa: E402

i16, i32 = tp.i16, tp.i32
INVALID_PRODUCER_EPOCH = 47
UNKNOWN_TOPIC_OR_PARTITION = 3


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def produce_body(tid, parts):
    """A Produce v12 body: parts = [(topic, [(partition, batch)])]."""
    return kv.cstr(tid) + i16(-1) + i32(10000) + kv.carray(
        [kv.cstr(topic) + kv.carray(
            [i32(p) + kv.cbytes(batch) + tp.TAGS for p, batch in ps]) +
         tp.TAGS for topic, ps in parts]) + tp.TAGS


def read_produce(rd):
    """{(topic, partition): error} of a Produce v12 answer."""
    def part_(q):
        out = (q.i32(), q.i16())
        q.i64(), q.i64(), q.i64()
        q.carray(lambda e: (e.i32(), e.cstr(), e.tags()))
        q.cstr()
        return out
    return {(t, p): e for t, ps in tp.flex_topics(rd, part_) for p, e in ps}


def produce(t, tid, parts):
    return read_produce(t.flex(0, 12, produce_body(tid, parts)))


def main():
    with ndtest.Broker() as b:
        log = os.path.join(b.data_dir, "transactions", "txn.log")
        t = tp.Txn(b.bootstrap)
        tp.kv.create_topic(t.c, "a", 2)
        tp.kv.create_topic(t.c, "b", 1)
        tp.kv.create_topic(t.c, "c", 1)
        e, pid1, ep1 = t.init_pid("tx-1")
        e2, pid2, ep2 = t.init_pid("tx-2")
        check(e == 0 and e2 == 0, "InitProducerId: %d %d" % (e, e2))
        three = [("a", [0, 1]), ("b", [0])]

        # 1. AddPartitionsToTxn of three partitions: one frame, for scale.
        size = os.path.getsize(log)
        check(t.add_partitions("tx-1", pid1, ep1, three) ==
              [("a", 0, 0), ("a", 1, 0), ("b", 0, 0)], "AddPartitionsToTxn")
        one_frame = os.path.getsize(log) - size
        check(one_frame > 0, "AddPartitionsToTxn wrote no frame")

        # The V2 Produce of the twin id to the same three partitions.
        size = os.path.getsize(log)
        got = produce(t, "tx-2", [
            ("a", [(0, tp.txn_batch([b"a0"], pid2, ep2, 0)),
                   (1, tp.txn_batch([b"a1"], pid2, ep2, 0))]),
            ("b", [(0, tp.txn_batch([b"b0"], pid2, ep2, 0))])])
        check(got == {("a", 0): 0, ("a", 1): 0, ("b", 0): 0},
              "V2 Produce to three new partitions: %s" % got)
        grew = os.path.getsize(log) - size
        check(grew == one_frame,
              "the V2 Produce to three new partitions grew txn.log by %d "
              "bytes, one frame of them is %d: one frame per partition?"
              % (grew, one_frame))
        d = t.describe_txns(["tx-2"])[0]
        check(d["state"] == "Ongoing" and d["topics"] == three,
              "DescribeTransactions after the V2 Produce: %s" % d)

        # 2. Two requests back to back: a-0 (in) + c-0 (new), then a-0.
        s = t.c.s
        reqs = [produce_body("tx-2", [
                    ("a", [(0, tp.txn_batch([b"a0-2"], pid2, ep2, 1))]),
                    ("c", [(0, tp.txn_batch([b"c0"], pid2, ep2, 0))])]),
                produce_body("tx-2", [
                    ("a", [(0, tp.txn_batch([b"a0-3"], pid2, ep2, 2))])])]
        out = b""
        for n, body in enumerate(reqs):
            cid = b"adds-test"
            msg = struct.pack(">hhih", 0, 12, 1000 + n, len(cid)) + cid
            msg += tp.TAGS + body
            out += struct.pack(">i", len(msg)) + msg
        s.sendall(out)  # one write: the broker reads both at once
        answers = []
        for n in range(2):
            frame = ndtest.recv_frame(s, 30)
            check(frame is not None, "pipelined Produce: connection closed")
            rd = kv.Reader(frame)
            check(rd.i32() == 1000 + n, "pipelined Produce: correlation id")
            rd.tags()
            answers.append(read_produce(rd))
        check(answers == [{("a", 0): 0, ("c", 0): 0}, {("a", 0): 0}],
              "two Produce requests back to back: %s (the second overtook "
              "the first?)" % answers)

        # 3. A fenced producer: each partition answered, no frame.
        e, pid3, ep3 = t.init_pid("tx-3")
        e, pid3b, ep3b = t.init_pid("tx-3")
        check(e == 0 and pid3b == pid3 and ep3b == ep3 + 1,
              "InitProducerId again: %d %d %d" % (e, pid3b, ep3b))
        size = os.path.getsize(log)
        got = produce(t, "tx-3", [
            ("a", [(0, tp.txn_batch([b"z"], pid3, ep3, 0)),
                   (1, tp.txn_batch([b"z"], pid3, ep3, 0))])])
        check(got == {("a", 0): INVALID_PRODUCER_EPOCH,
                      ("a", 1): INVALID_PRODUCER_EPOCH},
              "V2 Produce of a fenced producer: %s" % got)
        check(os.path.getsize(log) == size,
              "a fenced producer's V2 Produce wrote a frame")
        # A partition that does not exist beside one that does.
        got = produce(t, "tx-3", [
            ("b", [(0, tp.txn_batch([b"y"], pid3b, ep3b, 0)),
                   (7, tp.txn_batch([b"y"], pid3b, ep3b, 0))])])
        check(got == {("b", 0): 0, ("b", 7): UNKNOWN_TOPIC_OR_PARTITION},
              "V2 Produce to b-0 and the missing b-7: %s" % got)
        d = t.describe_txns(["tx-3"])[0]
        check(d["state"] == "Ongoing" and d["topics"] == [("b", [0])],
              "DescribeTransactions of tx-3: %s" % d)

        # 4. The commit: tx-2's records readable read_committed.
        check(t.end_txn("tx-2", pid2, ep2, True, 5)[0] == 0, "EndTxn v5")
        for topic, part, want in (("a", 0, 3), ("a", 1, 1), ("b", 0, 1),
                                  ("c", 0, 1)):
            f = t.fetch(topic, part, 0, 1)
            data = [x for x in f["batches"] if not x[1] & 0x20]
            check(f["error"] == 0 and sum(x[2] for x in data) == want,
                  "read_committed %s-%d after the commit: %s"
                  % (topic, part, f))
        ndtest.stop_clean(b)
    ndtest.passed()


main()
