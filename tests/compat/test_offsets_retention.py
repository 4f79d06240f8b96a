"""test_offsets_retention.py — committed-offset expiry in nodata serve
beyond what the differential test (test_diff_offsets_retention.py) can
show against Kafka in a minute: groups known only by their offsets after
a restart, offsets pending in a transaction, and thousands of groups
expiring in one pass while the broker keeps answering.

The data directory's groups/offsets.log gets, before the broker starts,
commits made two hours ago (frames written as docs/format.md describes
them: the library stamps a commit with the time it is made, so an old
one can only be written by hand). The broker then runs with
--offsets-retention-minutes 60 and a check every 12 s:

- ot-standalone (no protocol type) and ot-empty (protocol type
  "consumer", Empty since before the start, so counted from each commit)
  lose their offsets and are removed, with the log lines saying by which
  rule;
- ot-mixed's old offset goes, the one committed a moment ago stays;
- ot-fresh (commits made now, written the same way) keeps its offset;
- ot-txn's old offset stays while a transaction (confluent-kafka) has
  offsets pending for that partition, and goes, with the group, at the
  first check after the abort;
- 3000 groups ot-many-NNNN with old offsets all go in the first pass;
  meanwhile ApiVersions is asked every 10 ms and the slowest answer is
  printed (the pass decides on the loop in slices of a few milliseconds
  and deletes on the worker; a time is no assertion on a shared machine);
- after a restart nothing removed comes back.
"""
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

import kwire  # noqa: E402
from test_kafka_versions import crc32c  # noqa: E402

TOPIC = "ot"
MANY = 3000
ARGS = ["--group-initial-delay-ms", "0", "--offsets-retention-minutes", "60",
        "--offsets-retention-check-interval-ms", "12000"]


def str16(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def commit_op(group, partition, offset, time_ms):
    """Op 1: a commit, no metadata (docs/format.md, groups/offsets.log)."""
    return (b"\x01" + str16(group) + str16(TOPIC) +
            struct.pack(">iqiqi", partition, offset, -1, time_ms, -1))


def type_op(group, ptype):
    return b"\x04" + str16(group) + str16(ptype)


def frame(ops):
    """A frame of form 2: magic, payload length, the payload's CRC-32C,
    the CRC-32C of those 12 bytes; payload: version 1, op count, ops."""
    payload = struct.pack(">BI", 1, len(ops)) + b"".join(ops)
    head = struct.pack(">III", 0x894F4653, len(payload), crc32c(payload))
    return head + struct.pack(">I", crc32c(head)) + payload


def offsets(k, groups):
    """OffsetFetch v9, all topics: {group: ["ot-P=OFFSET", ...]}."""
    r = k.call("OffsetFetch", 9, {"Groups": [
        {"GroupId": g, "MemberId": None, "MemberEpoch": -1, "Topics": None}
        for g in groups], "RequireStable": False})
    return {g["GroupId"]: sorted("%s-%d=%d" % (t["Name"], p["PartitionIndex"],
                                               p["CommittedOffset"])
                                 for t in g["Topics"] for p in t["Partitions"])
            for g in r["Groups"]}


def listed(k):
    r = k.call("ListGroups", 5, {"StatesFilter": [], "TypesFilter": []})
    return {g["GroupId"]: (g["ProtocolType"], g["GroupState"])
            for g in r["Groups"]}


def wait(what, cond, timeout=60):
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            ndtest.fail("timed out waiting for %s" % what)
        time.sleep(0.1)


class Prober(threading.Thread):
    """ApiVersions every 10 ms: the longest wait for an answer."""

    def __init__(self, bs):
        super().__init__(daemon=True)
        self.k = kwire.Conn(bs, client_id="ot-probe")
        self.stop, self.worst, self.count = threading.Event(), 0.0, 0

    def run(self):
        while not self.stop.wait(0.01):
            t = time.monotonic()
            self.k.call("ApiVersions", 3, {"ClientSoftwareName": "probe",
                                           "ClientSoftwareVersion": "1"})
            self.worst = max(self.worst, time.monotonic() - t)
            self.count += 1
        self.k.close()


def main():
    tmp = tempfile.mkdtemp(prefix="nd-offret-")
    data = os.path.join(tmp, "data")
    with ndtest.Broker(data_dir=data) as b:
        with kwire.Conn(b.bootstrap) as k:
            r = k.call("CreateTopics", 7, {"Topics": [{
                "Name": TOPIC, "NumPartitions": 2, "ReplicationFactor": 1}],
                "TimeoutMs": 30000})
            if r["Topics"][0]["ErrorCode"]:
                ndtest.fail("CreateTopics: %r" % r)
        ndtest.stop_clean(b)

    now = int(time.time() * 1000)
    old = now - 2 * 3600 * 1000
    ops = [commit_op("ot-standalone", 0, 1, old),
           commit_op("ot-standalone", 1, 2, old),
           type_op("ot-empty", "consumer"), commit_op("ot-empty", 0, 3, old),
           commit_op("ot-mixed", 0, 4, old), commit_op("ot-mixed", 1, 5, now),
           commit_op("ot-txn", 0, 6, old),
           type_op("ot-fresh", "consumer"), commit_op("ot-fresh", 0, 9, now)]
    with open(os.path.join(data, "groups", "offsets.log"), "ab") as f:
        f.write(frame(ops))
        for i in range(0, MANY, 500):
            f.write(frame([commit_op("ot-many-%04d" % n, 0, n, old)
                           for n in range(i, min(i + 500, MANY))]))

    b = ndtest.Broker(data_dir=data, args=ARGS)
    try:
        bs = b.bootstrap
        k = kwire.Conn(bs, client_id="ot-test")
        start = time.monotonic()
        before = listed(k)
        if len([g for g in before if g.startswith("ot-many-")]) != MANY or \
                before.get("ot-empty") != ("consumer", "Empty"):
            ndtest.fail("the written offsets did not load: %d groups"
                        % len(before))
        # Before the first check (12 s): a transaction holding offsets for
        # ot-txn's old partition.
        p = Producer({"bootstrap.servers": bs, "transactional.id": "ot-tx",
                      "transaction.timeout.ms": 120000})
        p.init_transactions(30)
        p.begin_transaction()
        c = Consumer({"bootstrap.servers": bs, "group.id": "ot-txn"})
        p.send_offsets_to_transaction([TopicPartition(TOPIC, 0, 7)],
                                      c.consumer_group_metadata(), 30)
        if re.search(r"offsets expiry|offsets? expired", b.stderr()):
            ndtest.fail("the first check ran before the transaction was "
                        "open (a machine this slow needs a longer "
                        "interval here):\n" + b.stderr()[-2000:])
        probe = Prober(bs)
        probe.start()

        def many_gone():
            return not any(g.startswith("ot-many-") for g in listed(k))
        wait("the first pass to remove the 3000 groups", many_gone)
        took = time.monotonic() - start - 12
        probe.stop.set()
        probe.join()
        got = offsets(k, ["ot-standalone", "ot-empty", "ot-mixed", "ot-txn",
                          "ot-fresh", "ot-many-0000"])
        want = {"ot-standalone": [], "ot-empty": [], "ot-mixed": ["ot-1=5"],
                "ot-txn": ["ot-0=6"], "ot-fresh": ["ot-0=9"],
                "ot-many-0000": []}
        if got != want:
            ndtest.fail("after the first pass: %r, want %r" % (got, want))
        groups = listed(k)
        for g in ("ot-standalone", "ot-empty"):
            if g in groups:
                ndtest.fail("%s is still listed: %r" % (g, groups[g]))
        for g in ("ot-mixed", "ot-txn", "ot-fresh"):
            if g not in groups:
                ndtest.fail("%s is gone" % g)
        print("first pass: %d groups removed in about %.1f s; %d ApiVersions "
              "meanwhile, the slowest answered in %.0f ms"
              % (MANY + 2, took, probe.count, probe.worst * 1000))

        # The abort frees ot-txn's offset: gone at the next check.
        p.abort_transaction(30)
        c.close()
        wait("ot-txn's offset to expire after the abort",
             lambda: "ot-txn" not in listed(k), timeout=30)
        k.close()
        log = b.stderr()
        rules = {
            "ot-standalone": r"2 committed offsets expired \(retention 60 "
                             r"min; a group without protocol type",
            "ot-empty": r"1 committed offset expired \(retention 60 min; an "
                        r"Empty group since before the broker started: "
                        r"counted from each commit\)",
            "ot-mixed": r"1 committed offset expired",
            "ot-txn": r"1 committed offset expired",
        }
        for g, rx in rules.items():
            if not re.search(r"group %s: %s" % (g, rx), log):
                ndtest.fail("no line for %s like %r:\n%s" % (g, rx,
                                                             log[-3000:]))
        # A line per group removed (those of one shape, ot-many-NNNN, are
        # held back after a few as every repeated broker line is), and a
        # summary per pass.
        for g in ("ot-standalone", "ot-empty", "ot-txn", "ot-many-0000"):
            if "group %s: removed (Empty, no committed offsets left)" % g \
                    not in log:
                ndtest.fail("no line says %s was removed:\n%s"
                            % (g, log[-3000:]))
        for rx in (r"offsets expiry: %d committed offsets of %d groups "
                   r"expired, %d groups removed \(\d+ groups looked at in "
                   r"\d+ ms\)" % (MANY + 4, MANY + 3, MANY + 2),
                   r"offsets expiry: 1 committed offset of 1 group expired, "
                   r"1 group removed"):
            if not re.search(rx, log):
                ndtest.fail("no summary like %r:\n%s" % (rx, log[-3000:]))
        # Durable: a restart brings nothing back.
        b.restart()
        with kwire.Conn(b.bootstrap) as k:
            left = sorted(g for g in listed(k) if g.startswith("ot-"))
        if left != ["ot-fresh", "ot-mixed"]:
            ndtest.fail("after a restart: %r" % left)
        ndtest.stop_clean(b)
    finally:
        b.close()
        shutil.rmtree(tmp, ignore_errors=True)


main()
ndtest.passed()
