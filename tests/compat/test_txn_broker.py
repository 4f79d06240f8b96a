"""test_txn_broker.py — what `nodata serve` does with transactions that
no Kafka answer shows (the answers themselves are compared with Kafka by
test_diff_txn_protocol.py):

1. A read_committed Fetch waiting on a partition is answered when a
transaction's marker moves the last stable offset, not at the end of its
max wait; the records of the still-open transaction do not answer it.

A raw Fetch v4 (isolation_level 1, min_bytes 1, max_wait 600 s) waits on
a partition whose only records belong to an open transaction (their
append wakes it, it reads nothing below the last stable offset and waits
again); EndTxn commits on another connection; the Fetch must come back
with the records and the new last stable offset well within its wait.
The bounds tell a woken fetch from one answered at max_wait (10 minutes
away); they do not measure speed.

2. The log: one line for a fenced producer's request (naming its
transactional id) and one for a transaction the coordinator aborts at its
timeout (the check every 200 ms here).

3. The settings: ApiVersions finalizes transaction.version 2 (supported
0-2), or 1 with --transaction-version 1, where a Produce v12 to a
partition never added is verified as V1 (TRANSACTION_ABORTABLE) instead
of adding it; --transaction-max-timeout-ms bounds InitProducerId's
timeout; DescribeConfigs of broker 0 describes the three transaction
settings read-only, as given (STATIC_BROKER_CONFIG) or at Kafka's
defaults.
"""
import time
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import test_diff_txn_protocol as tp  # noqa: E402

MAX_WAIT_MS = 600000
NOT_EARLY_S = 3
WOKEN_WITHIN_S = 60


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def features(c):
    """ApiVersions v5's supported and finalized features:
    ({name: (min, max)}, {name: (min, max)})."""
    err, _, _, tags = tp.kv.api_versions_v5(c, None, -1)
    check(err == 0, "ApiVersions v5: %d" % err)

    def table(raw, swap):
        if raw is None:
            return {}
        rd = tp.kv.Reader(raw)
        rows = rd.carray(tp.tagged(lambda r: (r.cstr(), r.i16(), r.i16())))
        return {n: (b, a) if swap else (a, b) for n, a, b in rows}
    return table(tags.get(0), False), table(tags.get(2), True)


def broker_configs(c, names):
    got = tp.kv.describe_configs(c, "0", names, rtype=4)
    return {x["name"]: (x["value"], x["read_only"], x["source"])
            for x in got["configs"]}


TXN_CONFIGS = ["transaction.max.timeout.ms", "transactional.id.expiration.ms",
               "transaction.abort.timed.out.transaction.cleanup.interval.ms"]


def settings():
    with ndtest.Broker() as b:
        c = tp.kv.Conn(b.port)
        sup, fin = features(c)
        check(sup == {"transaction.version": (0, 2),
                      "group.version": (0, 1)} and
              fin == {"transaction.version": (2, 2),
                      "group.version": (1, 1)},
              "features by default: %s %s" % (sup, fin))
        check(broker_configs(c, TXN_CONFIGS) == {
            "transaction.max.timeout.ms": ("900000", 1, 5),
            "transactional.id.expiration.ms": ("604800000", 1, 5),
            "transaction.abort.timed.out.transaction.cleanup.interval.ms":
                ("10000", 1, 5)}, "default transaction configs: %s"
              % broker_configs(c, TXN_CONFIGS))
        ndtest.stop_clean(b)
    with ndtest.Broker(args=["--transaction-version", "1",
                             "--transaction-max-timeout-ms", "5000"]) as b:
        t = tp.Txn(b.bootstrap)
        sup, fin = features(t.c)
        check(fin == {"transaction.version": (1, 1),
                      "group.version": (1, 1)},
              "--transaction-version 1: finalized %s" % fin)
        check(broker_configs(t.c, TXN_CONFIGS[:1]) == {
            "transaction.max.timeout.ms": ("5000", 1, 4)},
              "transaction.max.timeout.ms from the flag: %s"
              % broker_configs(t.c, TXN_CONFIGS[:1]))
        check(t.init_pid("tx-long", timeout=5001)[0] == 50,
              "a timeout above --transaction-max-timeout-ms")
        e, pid, epoch = t.init_pid("tx-v1", timeout=5000)
        check(e == 0, "InitProducerId at the maximum: %d" % e)
        tp.kv.create_topic(t.c, "v1only", 1)
        got = t.produce_flex(12, "tx-v1", "v1only", 0,
                             tp.txn_batch([b"x"], pid, epoch, 0))
        check(got[0] == 120, "Produce v12 to a partition not added, "
              "transaction.version 1: %s" % (got,))
        ndtest.stop_clean(b)


def main():
    with ndtest.Broker(args=["--transaction-abort-check-ms", "200"]) as b:
        t = tp.Txn(b.bootstrap)
        tp.kv.create_topic(t.c, "wake", 1)
        e, pid, epoch = t.init_pid("tx-wake")
        check(e == 0, "InitProducerId: %d" % e)
        check(t.add_partitions("tx-wake", pid, epoch, [("wake", [0])]) ==
              [("wake", 0, 0)], "AddPartitionsToTxn")

        # The waiting Fetch, on its own connection.
        s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
        body = struct.pack(">iiiib", -1, MAX_WAIT_MS, 1, 1 << 20, 1) + \
            tp.arr([tp.s16("wake") + tp.arr(
                [struct.pack(">iqi", 0, 0, 1 << 20)])])
        ndtest.kafka_request(s, 1, 4, 77, body)
        got = {}

        def wait_answer():
            got["frame"] = ndtest.recv_frame(s, timeout=WOKEN_WITHIN_S +
                                             NOT_EARLY_S + 30)
        th = threading.Thread(target=wait_answer)
        th.start()

        # The open transaction's records: not committed, no answer.
        err, base = t.produce3("tx-wake", "wake", 0,
                               tp.txn_batch([b"w1", b"w2"], pid, epoch, 0))
        check(err == 0 and base == 0, "Produce: %d" % err)
        th.join(NOT_EARLY_S)
        check(th.is_alive(), "the read_committed Fetch was answered before "
              "the transaction committed: %r" % got.get("frame"))

        check(t.end_txn("tx-wake", pid, epoch, True) == 0, "EndTxn")
        th.join(WOKEN_WITHIN_S)
        check(not th.is_alive() and got.get("frame"),
              "the read_committed Fetch was not answered within %d s of the "
              "commit (its max wait is %d s)"
              % (WOKEN_WITHIN_S, MAX_WAIT_MS // 1000))
        rd = tp.kv.Reader(got["frame"])
        check(rd.i32() == 77, "correlation id")
        rd.i32()
        res = tp.rarr(rd, lambda r: (tp.rstr(r), tp.rarr(r, lambda q: {
            "error": q.i16() if q.i32() is not None else None,
            "hw": q.i64(), "lso": q.i64(),
            "aborted": tp.rarr(q, lambda a: (a.i64(), a.i64())),
            "batches": tp.batches(q.take(q.i32()) or b"")})))
        p = res[0][1][0]
        check(p["error"] == 0 and p["hw"] == 3 and p["lso"] == 3 and
              p["aborted"] == [] and
              [x[:2] for x in p["batches"]] == [(0, 0x10), (2, 0x30)],
              "the woken Fetch: %s" % p)
        s.close()

        # A second InitProducerId fences the first producer, whose next
        # request is refused and logged.
        e, pid2, epoch2 = t.init_pid("tx-wake", version=4)
        check(e == 0 and epoch2 == epoch + 1, "second InitProducerId")
        check(t.end_txn("tx-wake", pid, epoch, True, 2) == 90, "fenced EndTxn")
        check("transactional id tx-wake: producer fenced" in b.stderr(),
              "no log line for the fenced producer:\n%s" % b.stderr())

        # A transaction of 500 ms left open is aborted by the coordinator,
        # which says so.
        e, tpid, tep = t.init_pid("tx-late", timeout=500)
        check(t.add_partitions("tx-late", tpid, tep, [("wake", [0])]) ==
              [("wake", 0, 0)], "AddPartitionsToTxn tx-late")
        deadline = time.monotonic() + 60
        while t.describe_txns(["tx-late"])[0]["state"] != "CompleteAbort":
            check(time.monotonic() < deadline,
                  "tx-late not aborted 60 s after its 500 ms timeout")
            time.sleep(0.2)
        check("transactional id 'tx-late': transaction of producer" in
              b.stderr() and "timed out" in b.stderr(),
              "no log line for the timed-out transaction:\n%s" % b.stderr())
        ndtest.stop_clean(b)
    settings()
    ndtest.passed()


main()
