"""test_diff_txn_protocol.py — the transaction APIs request by request,
written by hand from Kafka's schemas, answered by nodata as Apache Kafka
4.4 answers them (one scenario run on both, every answer compared).

What is asked, in order (each step's answers are recorded):
- FindCoordinator key type 1, for an id and for "" (refused);
- InitProducerId with a transactional id: a new id (epoch 0), again
  (epoch bump), a timeout above transaction.max.timeout.ms and of 0, an
  empty id, KIP-360's expected producer id/epoch that match nothing
  (PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH before);
- AddPartitionsToTxn: an unknown topic and partition beside a good one
  (UNKNOWN_TOPIC_OR_PARTITION and OPERATION_NOT_ATTEMPTED), an old epoch
  (v1 and v2), a wrong producer id, an unknown transactional id, then the
  partitions for real;
- Produce of transactional batches: to an added partition, to one not
  added (KIP-890 verification: INVALID_TXN_STATE at v3, TRANSACTION_ABORTABLE
  at v11), with an old epoch, and without a transactional id;
- what an open transaction shows: DescribeProducers' transaction start
  (and, once it ended, the coordinator epoch its marker carried and its
  time as the producer's last timestamp),
  Fetch at both isolation levels (last stable offset, aborted list null or
  empty), ListOffsets latest at both levels, DescribeTransactions,
  ListTransactions with state (known and unknown), producer id and
  duration filters;
- AddOffsetsToTxn and TxnOffsetCommit (pending offsets: OffsetFetch
  require_stable gets UNSTABLE_OFFSET_COMMIT, without it they are not
  there), a TxnOffsetCommit to an unknown topic and with a generation for
  an unknown group;
- EndTxn: old epoch (v1, v2), commit, commit again (a retry succeeds),
  abort after commit; then what the committed transaction shows;
- an aborted transaction: its records with aborted_transactions in a
  read_committed Fetch;
- EndTxn without a transaction (V1: INVALID_TXN_STATE) and an abort of an
  empty one at EndTxn v5 (V2: allowed, the epoch bumped and returned);
- Transactions V2: Produce v12 to a partition never added (added by the
  produce), EndTxn v5 commit (the next epoch returned);
- fencing: a second InitProducerId, then the first producer's EndTxn;
- the timeout: a transaction left open past transaction.timeout.ms is
  aborted by the coordinator (the check interval lowered on both brokers),
  its producer fenced.

Producer ids are compared by order of first appearance, times as "set".
The broker answers that Kafka gives only after its transaction state topic
is loaded (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
COORDINATOR_LOAD_IN_PROGRESS) are retried, as clients do; nodata never
gives them.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402
import test_kafka_versions as kv  # noqa: E402
from test_groups_errors import (  # noqa: E402
    arr, i8, i16, i32, i64, s as s16)

RETRY = (14, 15, 16)  # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR
TAGS = kv.TAGS


def rstr(rd):
    n = rd.i16()
    return None if n < 0 else rd.take(n).decode()


def rarr(rd, fn):
    n = rd.i32()
    return None if n < 0 else [fn(rd) for _ in range(n)]


def tagged(fn):
    """fn reading a struct of a flexible version, then its tag section."""
    def read(r):
        out = fn(r)
        r.tags()
        return out
    return read


def flex_topics(rd, part):
    """A flexible [name, [part]] array: [(name, [part(...)])]."""
    return rd.carray(tagged(lambda r: (r.cstr(), r.carray(tagged(part)))))


def txn_batch(values, pid, epoch, seq, transactional=True):
    """A RecordBatch v2 of values from an idempotent producer, with the
    transactional attribute bit (4) set."""
    # Now: Kafka's retention would delete records of an older time.
    b = bytearray(kv.record_batch(values, ts=int(time.time() * 1000), pid=pid,
                                  epoch=epoch, seq=seq))
    if transactional:
        b[21:23] = struct.pack(">h", 0x10)
        b[17:21] = struct.pack(">I", kv.crc32c(bytes(b[21:])))
    return bytes(b)


def batches(data):
    """[(base offset, attributes, records)] of the batches in data."""
    out, p = [], 0
    while data and p + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, p)
        attrs = struct.unpack_from(">h", data, p + 21)[0]
        n = struct.unpack_from(">i", data, p + 57)[0]
        out.append((base, attrs, n))
        p += 12 + length
    return out


class Txn:
    """One connection and the requests of the scenario."""

    def __init__(self, bootstrap):
        self.c = kv.Conn(int(bootstrap.rsplit(":", 1)[1]))

    def classic(self, key, version, body):
        return self.c.call_classic(key, version, body)

    def flex(self, key, version, body):
        return self.c.call(key, version, body + TAGS)

    # -- coordinator ---------------------------------------------------------
    def find_coordinator(self, key, retry=True):
        deadline = time.monotonic() + 120
        while True:
            rd = self.classic(10, 2, s16(key) + i8(1))
            rd.i32()
            err, msg = rd.i16(), rstr(rd)
            node, host, port = rd.i32(), rstr(rd), rd.i32()
            if not retry or err not in RETRY or time.monotonic() > deadline:
                return {"error": err, "message": msg if err else None,
                        "node": node >= 0, "host": bool(host), "port": port > 0}
            time.sleep(0.5)

    def init_pid(self, tid, timeout=60000, version=1, pid=-1, epoch=-1):
        deadline = time.monotonic() + 120
        while True:
            if version < 2:
                rd = self.classic(22, version, s16(tid) + i32(timeout))
            else:
                body = kv.cstr(tid) + i32(timeout)
                if version >= 3:
                    body += i64(pid) + i16(epoch)
                rd = self.flex(22, version, body)
            rd.i32()
            out = (rd.i16(), rd.i64(), rd.i16())
            if out[0] not in RETRY or time.monotonic() > deadline:
                return out
            time.sleep(0.5)

    def add_partitions(self, tid, pid, epoch, topics, version=1):
        body = s16(tid) + i64(pid) + i16(epoch) + arr(
            [s16(t) + arr([i32(p) for p in ps]) for t, ps in topics])
        rd = self.classic(24, version, body)
        rd.i32()
        res = rarr(rd, lambda r: (rstr(r), rarr(r, lambda q: (q.i32(), q.i16()))))
        return sorted((t, p, e) for t, ps in res for p, e in ps)

    def add_partitions_v4(self, txns, version=4):
        """The batched (broker) form: txns [(tid, pid, epoch, verify_only,
        [(topic, [partitions])])]: (error, sorted [(tid, topic, part,
        error)])."""
        body = kv.carray([
            kv.cstr(tid) + i64(pid) + i16(epoch) + i8(verify) + kv.carray(
                [kv.cstr(t) + kv.carray([i32(p) for p in ps]) + TAGS
                 for t, ps in topics]) + TAGS
            for tid, pid, epoch, verify, topics in txns])
        rd = self.flex(24, version, body)
        rd.i32()
        err = rd.i16()
        res = rd.carray(tagged(lambda r: (r.cstr(), flex_topics(
            r, lambda q: (q.i32(), q.i16())))))
        return err, sorted((tid, t, p, e) for tid, ts in res
                           for t, ps in ts for p, e in ps)

    def add_offsets(self, tid, pid, epoch, group, version=1):
        rd = self.classic(25, version, s16(tid) + i64(pid) + i16(epoch) +
                          s16(group))
        rd.i32()
        return rd.i16()

    def end_txn(self, tid, pid, epoch, commit, version=1):
        if version < 3:
            rd = self.classic(26, version, s16(tid) + i64(pid) + i16(epoch) +
                              i8(1 if commit else 0))
            rd.i32()
            return rd.i16()
        rd = self.flex(26, version, kv.cstr(tid) + i64(pid) + i16(epoch) +
                       i8(1 if commit else 0))
        rd.i32()
        return (rd.i16(), rd.i64(), rd.i16()) if version >= 5 else rd.i16()

    def txn_offset_commit(self, tid, group, pid, epoch, offsets, version=2,
                          generation=-1, member=""):
        if version < 3:
            body = s16(tid) + s16(group) + i64(pid) + i16(epoch) + arr(
                [s16(t) + arr([i32(p) + i64(o) + i32(-1) + s16("m")
                               for p, o in ps]) for t, ps in offsets])
            rd = self.classic(28, version, body)
            rd.i32()
            res = rarr(rd, lambda r: (rstr(r),
                                      rarr(r, lambda q: (q.i32(), q.i16()))))
        else:
            body = kv.cstr(tid) + kv.cstr(group) + i64(pid) + i16(epoch) + \
                i32(generation) + kv.cstr(member) + kv.cstr(None) + kv.carray(
                    [kv.cstr(t) + kv.carray(
                        [i32(p) + i64(o) + i32(-1) + kv.cstr("m") + TAGS
                         for p, o in ps]) + TAGS for t, ps in offsets])
            rd = self.flex(28, version, body)
            rd.i32()
            res = flex_topics(rd, lambda q: (q.i32(), q.i16()))
        return sorted((t, p, e) for t, ps in res for p, e in ps)

    def describe_txns(self, tids):
        rd = self.flex(65, 0, kv.carray([kv.cstr(t) for t in tids]))
        rd.i32()

        topic = tagged(lambda r: (r.cstr(), sorted(r.carray(lambda q: q.i32()))))
        return rd.carray(tagged(lambda r: {
            "error": r.i16(), "id": r.cstr(), "state": r.cstr(),
            "timeout": r.i32(), "start": r.i64(), "pid": r.i64(),
            "epoch": r.i16(), "topics": sorted(r.carray(topic))}))

    def list_txns(self, states=(), pids=(), duration=None, pattern=None,
                  version=0, only=()):
        body = kv.carray([kv.cstr(s) for s in states]) + \
            kv.carray([i64(p) for p in pids])
        if version >= 1:
            body += i64(-1 if duration is None else duration)
        if version >= 2:
            body += kv.cstr(pattern)
        rd = self.flex(66, version, body)
        rd.i32()
        err = rd.i16()
        unknown = rd.carray(lambda r: r.cstr())
        got = rd.carray(tagged(lambda r: (r.cstr(), r.i64(), r.cstr())))
        return {"error": err, "unknown": unknown,
                "txns": sorted(t for t in got if t[0] in only)}

    def group_ready(self, group):
        """Kafka makes its offsets topic on the first FindCoordinator of a
        group, then loads the group's partition: until then it answers
        NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS (DescribeGroups v1
        error, asked until neither)."""
        deadline = time.monotonic() + 120
        while True:
            rd = self.classic(10, 1, s16(group) + i8(0))
            rd.i32()
            err = rd.i16()
            if err == 0:
                rd = self.classic(15, 1, arr([s16(group)]))
                rd.i32()
                rd.i32()
                err = rd.i16()
            if err not in RETRY:
                return err
            if time.monotonic() > deadline:
                ndtest.fail("group %s: no coordinator in 120 s" % group)
            time.sleep(0.5)

    def stable(self, topic, part):
        """Kafka writes a transaction's markers after EndTxn answers: wait
        until the last stable offset is the high watermark (nodata's
        markers are written before the answer)."""
        deadline = time.monotonic() + 120
        while self.list_offsets(topic, part, 1) != \
                self.list_offsets(topic, part, 0):
            if time.monotonic() > deadline:
                ndtest.fail("%s-%d: markers not written in 120 s"
                            % (topic, part))
            time.sleep(0.2)

    # -- data ----------------------------------------------------------------
    def produce3(self, tid, topic, part, batch):
        body = s16(tid) + i16(-1) + i32(10000) + arr(
            [s16(topic) + arr([i32(part) + i32(len(batch)) + batch])])
        rd = self.classic(0, 3, body)
        res = rarr(rd, lambda r: (rstr(r), rarr(
            r, lambda q: (q.i32(), q.i16(), q.i64(), q.i64()))))
        return [(p[1], p[2]) for t in res for p in t[1]][0]

    def produce_flex(self, version, tid, topic, part, batch):
        body = kv.cstr(tid) + i16(-1) + i32(10000) + kv.carray(
            [kv.cstr(topic) + kv.carray(
                [i32(part) + kv.cbytes(batch) + TAGS]) + TAGS])
        rd = self.flex(0, version, body)

        def part_(q):
            out = {"index": q.i32(), "error": q.i16(), "base": q.i64(),
                   "append_time": q.i64(), "log_start": q.i64()}
            q.carray(lambda e: (e.i32(), e.cstr(), e.tags()))
            out["message"] = q.cstr()
            return out
        p = flex_topics(rd, part_)[0][1][0]
        return (p["error"], p["base"], p["message"] is not None)

    def fetch(self, topic, part, offset, isolation):
        body = i32(-1) + i32(0) + i32(0) + i32(1 << 20) + i8(isolation) + arr(
            [s16(topic) + arr([i32(part) + i64(offset) + i32(1 << 20)])])
        rd = self.classic(1, 4, body)
        rd.i32()

        def part_(q):
            return {"index": q.i32(), "error": q.i16(), "hw": q.i64(),
                    "lso": q.i64(),
                    "aborted": rarr(q, lambda a: (a.i64(), a.i64())),
                    "batches": batches(q.take(q.i32()) or b"")}
        res = rarr(rd, lambda r: (rstr(r), rarr(r, part_)))
        return res[0][1][0]

    def list_offsets(self, topic, part, isolation):
        body = i32(-1) + i8(isolation) + arr(
            [s16(topic) + arr([i32(part) + i64(-1)])])
        rd = self.classic(2, 2, body)
        rd.i32()
        res = rarr(rd, lambda r: (rstr(r), rarr(
            r, lambda q: (q.i32(), q.i16(), q.i64(), q.i64()))))
        p = res[0][1][0]
        return (p[1], p[3])

    def offset_fetch(self, group, topic, part, stable):
        body = kv.cstr(group) + kv.carray(
            [kv.cstr(topic) + kv.carray([i32(part)]) + TAGS]) + i8(stable)
        deadline = time.monotonic() + 120
        while True:
            got = self._offset_fetch(body)
            if got["error"] not in RETRY or time.monotonic() > deadline:
                return got
            time.sleep(0.5)

    def _offset_fetch(self, body):
        rd = self.flex(9, 7, body)
        rd.i32()
        res = flex_topics(
            rd, lambda q: (q.i32(), q.i64(), q.i32(), q.cstr(), q.i16()))
        top = rd.i16()
        if not res:
            return {"offset": None, "error": top}
        p = res[0][1][0]
        return {"offset": p[1], "error": p[4] or top}

    def describe_producers(self, topic, part):
        return kv.describe_producers(self.c, topic, [part])[part]


class Pids:
    """Producer ids by order of first appearance, so both brokers compare."""

    def __init__(self):
        self.seen = {}

    def __call__(self, pid):
        if pid < 0:
            return pid
        return "pid%d" % self.seen.setdefault(pid, len(self.seen))


def scenario(bootstrap):
    t = Txn(bootstrap)
    P = Pids()
    out = {}
    fetch = t.fetch

    def fetched(topic, part, offset, isolation):
        f = fetch(topic, part, offset, isolation)
        if f["aborted"]:
            f["aborted"] = [(P(p), first) for p, first in f["aborted"]]
        return f
    t.fetch = fetched
    kv.create_topic(t.c, "txp", 2)
    kv.create_topic(t.c, "txq", 1)
    out["groups_ready"] = [t.group_ready(g) for g in ("txg", "txg-none")]

    # FindCoordinator: Kafka creates its transaction state topic on the
    # first one; nodata is always there.
    out["find"] = t.find_coordinator("tx-a")
    out["find_empty"] = t.find_coordinator("", retry=False)

    # InitProducerId.
    e, pid, ep = t.init_pid("tx-a")
    out["init"] = (e, P(pid), ep)
    e, pid2, ep = t.init_pid("tx-a")
    out["init_again"] = (e, P(pid2), ep)
    epoch = ep
    out["init_timeout_high"] = t.init_pid("tx-b", timeout=900001)[0]
    out["init_timeout_zero"] = t.init_pid("tx-b", timeout=0)[0]
    out["init_empty_id"] = t.init_pid("", version=1)[0]
    out["init_expected_wrong_v4"] = t.init_pid("tx-a", version=4, pid=pid,
                                               epoch=epoch + 5)[0]
    out["init_expected_wrong_v3"] = t.init_pid("tx-a", version=3, pid=pid,
                                               epoch=epoch + 5)[0]
    out["init_expected_other_pid"] = t.init_pid("tx-a", version=4,
                                                pid=pid + 1000, epoch=0)[0]

    # AddPartitionsToTxn.
    out["add_unknown"] = t.add_partitions(
        "tx-a", pid, epoch, [("txp", [0, 5]), ("no-such-topic", [0])])
    out["add_old_epoch_v1"] = t.add_partitions("tx-a", pid, epoch - 1,
                                               [("txp", [0])], version=1)
    out["add_old_epoch_v2"] = t.add_partitions("tx-a", pid, epoch - 1,
                                               [("txp", [0])], version=2)
    out["add_wrong_pid"] = t.add_partitions("tx-a", pid + 1000, epoch,
                                            [("txp", [0])])
    out["add_unknown_tid"] = t.add_partitions("tx-never", pid, epoch,
                                              [("txp", [0])])
    out["add"] = t.add_partitions("tx-a", pid, epoch, [("txp", [0, 1])])
    # The broker form (v4+, KIP-890): verify_only checks, else adds.
    out["add_v4"] = t.add_partitions_v4([
        ("tx-a", pid, epoch, 1, [("txp", [0, 1])]),
        ("tx-b-none", 5, 0, 1, [("txp", [0])])])
    out["add_v4_not_in"] = t.add_partitions_v4([
        ("tx-a", pid, epoch, 1, [("txq", [0])])])
    out["add_v4_mixed"] = t.add_partitions_v4([
        ("tx-a", pid, epoch, 1, [("txp", [0]), ("txq", [0])])])

    # Produce.
    out["produce"] = t.produce3("tx-a", "txp", 0,
                                txn_batch([b"a0", b"a1"], pid, epoch, 0))
    out["produce_p1"] = t.produce3("tx-a", "txp", 1,
                                   txn_batch([b"b0"], pid, epoch, 0))
    out["produce_not_added_v3"] = t.produce3(
        "tx-a", "txq", 0, txn_batch([b"q"], pid, epoch, 0))
    out["produce_not_added_v11"] = t.produce_flex(
        11, "tx-a", "txq", 0, txn_batch([b"q"], pid, epoch, 0))
    out["produce_old_epoch"] = t.produce3(
        "tx-a", "txp", 0, txn_batch([b"z"], pid, epoch - 1, 2))
    out["produce_no_tid"] = t.produce3(
        None, "txp", 0, txn_batch([b"z"], pid, epoch, 2))

    # An open transaction seen from outside.
    dp = t.describe_producers("txp", 0)
    out["producers_open"] = (dp[0], [(P(p[0]), p[1], p[2], p[4], p[5])
                                     for p in dp[1]])
    out["fetch_open_committed"] = t.fetch("txp", 0, 0, 1)
    out["fetch_open_uncommitted"] = t.fetch("txp", 0, 0, 0)
    out["latest_open"] = (t.list_offsets("txp", 0, 1),
                          t.list_offsets("txp", 0, 0))

    def described(tids):
        return [dict(d, pid=P(d["pid"]) if d["error"] == 0 else d["pid"],
                     start=d["start"] > 0)
                for d in t.describe_txns(tids)]
    out["describe_open"] = described(["tx-a", "tx-never", ""])
    ours = ("tx-a", "tx-b", "tx-c", "tx-v2", "tx-t")

    def listed(**kw):
        got = t.list_txns(only=ours, **kw)
        got["txns"] = [(i, P(p), s) for i, p, s in got["txns"]]
        return got
    out["list_all"] = listed()
    out["list_states"] = listed(states=["Ongoing", "Bogus"])
    out["list_empty_state"] = listed(states=["Empty"])
    out["list_pid"] = listed(pids=[pid])
    out["list_duration"] = listed(version=1, duration=3600 * 1000)
    out["list_pattern"] = listed(version=2, pattern="tx-a|tx-b")

    # Offsets in the transaction.
    out["add_offsets"] = t.add_offsets("tx-a", pid, epoch, "txg")
    out["txn_commit_offsets"] = t.txn_offset_commit(
        "tx-a", "txg", pid, epoch, [("txp", [(0, 2)])])
    out["txn_commit_offsets_unknown_topic"] = t.txn_offset_commit(
        "tx-a", "txg", pid, epoch, [("no-such-topic", [(0, 2)])])
    out["txn_commit_offsets_generation"] = t.txn_offset_commit(
        "tx-a", "txg-none", pid, epoch, [("txp", [(0, 2)])], version=3,
        generation=4, member="m-1")
    out["offset_fetch_stable_open"] = t.offset_fetch("txg", "txp", 0, 1)
    out["offset_fetch_open"] = t.offset_fetch("txg", "txp", 0, 0)

    # EndTxn.
    out["end_old_epoch_v1"] = t.end_txn("tx-a", pid, epoch - 1, True, 1)
    out["end_old_epoch_v2"] = t.end_txn("tx-a", pid, epoch - 1, True, 2)
    # The COMMIT marker's time becomes the producer's last timestamp
    # (Kafka's appendEndTxnMarker), later than any of its data batches.
    time.sleep(0.005)
    t_end = int(time.time() * 1000)
    out["end_commit"] = t.end_txn("tx-a", pid, epoch, True)
    t.stable("txp", 0)
    t.stable("txp", 1)
    out["end_commit_retry"] = t.end_txn("tx-a", pid, epoch, True)
    out["end_abort_after_commit"] = t.end_txn("tx-a", pid, epoch, False)
    out["fetch_committed"] = t.fetch("txp", 0, 0, 1)
    out["latest_committed"] = (t.list_offsets("txp", 0, 1),
                               t.list_offsets("txp", 0, 0))
    out["offset_fetch_stable_done"] = t.offset_fetch("txg", "txp", 0, 1)
    dp = t.describe_producers("txp", 0)
    # With the coordinator epoch its COMMIT marker carried (Kafka's
    # ProducerStateEntry.coordinatorEpoch; -1 while open, above).
    out["producers_done"] = (dp[0], [(P(p[0]), p[1], p[2], p[4], p[5])
                                     for p in dp[1]])
    out["producers_done_last_timestamp_is_the_marker's"] = [
        p[3] >= t_end for p in dp[1]]
    out["describe_done"] = described(["tx-a"])

    # An aborted transaction on txp-1.
    out["add_again"] = t.add_partitions("tx-a", pid, epoch, [("txp", [1])])
    out["produce_aborted"] = t.produce3("tx-a", "txp", 1,
                                        txn_batch([b"x0", b"x1"], pid, epoch, 1))
    out["end_abort"] = t.end_txn("tx-a", pid, epoch, False)
    t.stable("txp", 1)
    out["fetch_aborted"] = t.fetch("txp", 1, 0, 1)
    out["fetch_aborted_from_2"] = t.fetch("txp", 1, 2, 1)
    dp = t.describe_producers("txp", 1)
    out["producers_aborted"] = (dp[0], [(P(p[0]), p[1], p[2], p[4], p[5])
                                        for p in dp[1]])
    out["fetch_aborted_uncommitted"] = t.fetch("txp", 1, 0, 0)

    # EndTxn without a transaction: V1 refuses both; V2 aborts an empty
    # transaction, bumping the epoch.
    e, cpid, cep = t.init_pid("tx-c")
    out["end_no_txn_commit"] = t.end_txn("tx-c", cpid, cep, True)
    out["end_no_txn_abort"] = t.end_txn("tx-c", cpid, cep, False)
    e, npid, nep = t.end_txn("tx-c", cpid, cep, False, 5)
    out["end_no_txn_abort_v5"] = (e, P(npid), nep - cep)

    # Transactions V2: Produce v12 adds the partition; EndTxn v5.
    e, vpid, vep = t.init_pid("tx-v2", version=5, pid=-1, epoch=-1)
    out["v2_produce"] = t.produce_flex(12, "tx-v2", "txq", 0,
                                       txn_batch([b"v2"], vpid, vep, 0))
    out["v2_describe"] = described(["tx-v2"])
    e, npid, nep = t.end_txn("tx-v2", vpid, vep, True, 5)
    out["v2_end"] = (e, P(npid), nep - vep)
    t.stable("txq", 0)
    out["v2_fetch"] = t.fetch("txq", 0, 0, 1)
    out["v2_produce_old_epoch"] = t.produce_flex(
        12, "tx-v2", "txq", 0, txn_batch([b"v2"], vpid, vep, 1))

    # Fencing: a new InitProducerId for tx-a; the old producer's requests.
    e, fpid, fep = t.init_pid("tx-a", version=4)
    out["fence_init"] = (e, P(fpid), fep - epoch)
    out["fenced_add_v2"] = t.add_partitions("tx-a", pid, epoch, [("txp", [0])],
                                            version=2)
    out["fenced_end_v2"] = t.end_txn("tx-a", pid, epoch, True, 2)
    out["fenced_end_v1"] = t.end_txn("tx-a", pid, epoch, True, 1)

    # The timeout: an open transaction of 1 s is aborted by the coordinator
    # (the check runs every 500 ms on both brokers here) and its producer
    # fenced.
    e, tpid, tep = t.init_pid("tx-t", timeout=1000)
    out["timeout_add"] = t.add_partitions("tx-t", tpid, tep, [("txq", [0])])
    out["timeout_produce"] = t.produce3("tx-t", "txq", 0,
                                        txn_batch([b"t"], tpid, tep, 0))
    deadline = time.monotonic() + 120
    while True:
        d = t.describe_txns(["tx-t"])[0]
        if d["state"] == "CompleteAbort" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    t.stable("txq", 0)
    out["timeout_state"] = (d["state"], d["epoch"] - tep, P(d["pid"]))
    out["timeout_end"] = t.end_txn("tx-t", tpid, tep, True, 2)
    out["timeout_fetch"] = t.fetch("txq", 0, 0, 1)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1:  # by hand against one broker: print its answers
        import json
        print(json.dumps(scenario(sys.argv[1]), indent=1, default=str))
        sys.exit(0)
    want, got = differential.run_both(
        scenario,
        nodata_args=["--transaction-abort-check-ms", "500"],
        kafka_props=["transaction.abort.timed.out.transaction.cleanup."
                     "interval.ms=500"])
    differential.compare(want, got, what="transaction APIs")
    ndtest.passed()
