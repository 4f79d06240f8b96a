"""test_diff_txn_confluent.py — the transactional producer and the
read_committed consumer of the Debian confluent-kafka (librdkafka 2.0.2,
Transactions V1) against Apache Kafka 4.4 and nodata in the same run;
what the client sees must be the same.

The scenario: a read_committed consumer waits on an empty topic while a
transactional producer commits a transaction over two partitions (the
consumer must get it: the markers wake its fetch); a transaction is
aborted; one commits records together with a consumer group's offsets
(send_offsets_to_transaction); one is left open while a read_committed
consumer reads up to it (and not into it) and a read_uncommitted one
reads past it; a second producer with the same transactional.id fences
the first (its commit fails with the error librdkafka reports), and its
open transaction is aborted. Then what each isolation level reads from
each partition (values and their order), the committed offsets of the
group, the last stable offsets (ListOffsets at read_committed), the
errors the fenced producer saw, and what kcat reads of each partition at
both isolation levels.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
from confluent_kafka import (Consumer, KafkaException,  # noqa: E402
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC, SRC, GROUP = "txc", "txc-src", "txc-group"


def consume(bootstrap, isolation, want, timeout=60):
    """Values of TOPIC by partition, read from the start until `want`
    records arrived or nothing more came for a while after timeout."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                  "enable.auto.commit": False,
                  "isolation.level": isolation,
                  "enable.partition.eof": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in (0, 1)])
    got = {0: [], 1: []}
    deadline = time.monotonic() + timeout
    while sum(map(len, got.values())) < want and \
            time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got[m.partition()].append(m.value().decode())
    c.close()
    return got


def kcat(bootstrap, partition, isolation):
    """The values kcat reads from the start of a partition to its end."""
    if not shutil.which("kcat"):
        ndtest.skip("kcat is not installed")
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-p",
                        str(partition), "-o", "beginning", "-e", "-q",
                        "-X", "isolation.level=" + isolation, "-f", "%s\n"],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        ndtest.fail("kcat against %s: %s" % (bootstrap, r.stderr.decode()))
    return r.stdout.decode().split()


def producer(bootstrap, tid):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid,
                  "transaction.timeout.ms": 60000, "linger.ms": 0})
    p.init_transactions(60)
    return p


def send(p, values):
    for part, v in values:
        p.produce(TOPIC, value=v.encode(), partition=part)
    p.flush(30)


def scenario(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 2, 1),
                                  NewTopic(SRC, 1, 1)]).values():
        f.result(60)
    out = {}

    # A read_committed consumer parked on the empty topic gets the first
    # transaction once it commits.
    import threading
    early = {}

    def reader():
        early.update(consume(bootstrap, "read_committed", 3, timeout=120))
    th = threading.Thread(target=reader)
    th.start()
    time.sleep(3)  # let it subscribe and start polling: not an assertion
    p = producer(bootstrap, "txc-1")
    p.begin_transaction()
    send(p, [(0, "c1"), (0, "c2"), (1, "c3")])
    p.commit_transaction(60)
    th.join()
    out["early_reader"] = early

    p.begin_transaction()
    send(p, [(0, "a1"), (1, "a2")])
    p.abort_transaction(60)

    # Records and a group's offsets in one transaction.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "enable.auto.commit": False})
    p.begin_transaction()
    send(p, [(0, "o1")])
    p.send_offsets_to_transaction([TopicPartition(SRC, 0, 5)],
                                  c.consumer_group_metadata(), 60)
    p.commit_transaction(60)
    out["committed"] = [(t.topic, t.partition, t.offset)
                        for t in c.committed([TopicPartition(SRC, 0)], 60)]
    c.close()

    # An open transaction: read_committed stops before it.
    p.begin_transaction()
    send(p, [(1, "open1")])
    out["open_committed"] = consume(bootstrap, "read_committed", 100,
                                    timeout=8)
    out["open_uncommitted"] = consume(bootstrap, "read_uncommitted", 7)
    lc = Consumer({"bootstrap.servers": bootstrap, "group.id": "lso",
                   "isolation.level": "read_committed"})
    out["lso_open"] = [lc.get_watermark_offsets(TopicPartition(TOPIC, q),
                                                60, cached=False)
                       for q in (0, 1)]

    # A second producer of the same id fences the first and aborts its
    # open transaction.
    p2 = producer(bootstrap, "txc-1")
    try:
        p.commit_transaction(60)
        out["fenced"] = "no error"
    except KafkaException as e:
        err = e.args[0]
        out["fenced"] = {"name": err.name(), "fatal": err.fatal()}
    p2.begin_transaction()
    send(p2, [(1, "p2")])
    p2.commit_transaction(60)
    out["final_committed"] = consume(bootstrap, "read_committed", 5)
    out["final_uncommitted"] = consume(bootstrap, "read_uncommitted", 8)
    out["lso_final"] = [lc.get_watermark_offsets(TopicPartition(TOPIC, q),
                                                 60, cached=False)
                        for q in (0, 1)]
    lc.close()
    out["kcat"] = {"%s-%d" % (iso, q): kcat(bootstrap, q, iso)
                   for iso in ("read_committed", "read_uncommitted")
                   for q in (0, 1)}
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1:  # by hand against one broker: print what it saw
        print(scenario(sys.argv[1]))
        sys.exit(0)
    want, got = differential.run_both(scenario)
    differential.compare(want, got, what="confluent-kafka transactions")
    ndtest.passed()
