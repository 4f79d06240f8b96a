"""test_diff_streams_eos.py — Kafka Streams with
processing.guarantee=exactly_once_v2, killed (SIGKILL) and restarted
mid-stream several times, against Apache Kafka 4.4 and against nodata in
the same run (issue 19): the final counts must be exact on both.

StreamsCount.java (kafka-streams 4.4.0, tests/kafka/streams/pom.xml; the
program test_kafka_streams.py runs) counts the records of each key of
`words` (2 partitions) into a RocksDB store and writes every new count to
`counts`. With exactly_once_v2 each commit is a transaction of its
producer: the counts written, the store's changelog records and the
group's input offsets commit together or not at all.

On each broker:
- 1600 records over 12 keys go to `words` in four chunks, each written by
  a producer thread in bursts of 40 every 250 ms once the app is
  RUNNING (idempotent, acks=all: none lost or doubled);
- the app is killed with SIGKILL once it has written at least 60 more
  counts since its start (read_uncommitted high watermarks of `counts`),
  so the kill lands mid-stream, usually inside a transaction (the test
  fails unless at least one kill came while input was left uncommitted),
  three times; each restart keeps the state directory (as a restarted
  machine would), so the app comes back with the same transactional id,
  fences its killed self and aborts its open transaction;
- the fourth start runs to the end: once the last chunk is written and
  the group has committed the end of `words`, `counts` is read
  read_committed and
  the last count of each key must equal the number of records of that key
  in `words`. A count written by a killed transaction and read anyway, or
  an input record counted twice (its offsets not committed with its
  count), or lost, makes a count wrong.

What is compared is the counts (the same exact counts on both brokers).
The same run with processing.guarantee=at_least_once gives Kafka's own
counts too high (k0 119 instead of 102: input counted again after a
kill), so exact counts are what exactly_once_v2 adds.

Takes about 80-110 s: eight Streams starts, each waiting out the killed
member's 6 s session.
"""
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
from apache_kafka import classpath  # noqa: E402
from jvm import Jvm  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import (Consumer, KafkaException, Producer,  # noqa
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CP = classpath(os.path.join(HERE, "..", "kafka", "streams", "pom.xml"))
PROGRAM = os.path.join(HERE, "StreamsCount.java")
START = time.monotonic()

APP = "nd-eos-count"
PARTS = 2
KEYS = ["k%d" % i for i in range(12)]
TOTAL, BURST = 1600, 40
KILLS = 3
SETTINGS = [
    "processing.guarantee=exactly_once_v2",
    "commit.interval.ms=100",
    "statestore.cache.max.bytes=0",
    # The killed member's session ends soon, so the restarted app gets
    # its partitions without waiting Kafka's default 45 s.
    "session.timeout.ms=6000", "heartbeat.interval.ms=1000",
]
_rnd = random.Random(19)
WORDS = [_rnd.choice(KEYS) for _ in range(TOTAL)]


class App(Jvm):
    def __init__(self, tmp, bootstrap, n):
        super().__init__(CP, [PROGRAM, bootstrap, APP,
                              os.path.join(tmp, "state"), "words",
                              "counts"] + SETTINGS,
                         log=os.path.join(tmp, "app%d.log" % n), heap="384m",
                         props=["java.io.tmpdir=" + tmp,
                                "org.slf4j.simpleLogger.defaultLogLevel="
                                "warn"])

    def running(self):
        states = [line.split()[1:] for line in self.text().splitlines()
                  if line.startswith("state ")]
        return states and states[-1] == ["RUNNING"]


def high_watermarks(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "nd-eos-hw",
                  "isolation.level": "read_uncommitted"})
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                return sum(c.get_watermark_offsets(
                    TopicPartition(topic, q), 10)[1] for q in range(PARTS))
            except KafkaException:
                # Kafka's partitions have no leader for a moment after
                # the topic is created.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        c.close()


def committed_all(bootstrap):
    # read_uncommitted: a consumer requiring stable offsets would wait for
    # the app's open transaction.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": APP,
                  "isolation.level": "read_uncommitted"})
    try:
        tps = [TopicPartition("words", q) for q in range(PARTS)]
        done = c.committed(tps, 10)
        ends = [c.get_watermark_offsets(tp, 10)[1] for tp in tps]
        # An empty partition has no committed offset.
        return [max(tp.offset, 0) for tp in done] == ends
    finally:
        c.close()


def last_counts(bootstrap):
    """The newest count of each key in `counts`, read read_committed."""
    got = {}
    for q in range(PARTS):
        for m in ndtest.consume_to_end(
                bootstrap, "counts", q,
                conf={"isolation.level": "read_committed"}):
            got[m.key().decode()] = struct.unpack(">q", m.value())[0]
    return got


def producer_thread(bootstrap, words, errors):
    # murmur2, the Java client's partitioner: the keys spread over both
    # partitions (librdkafka's default, crc32, puts these all in one).
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "enable.idempotence": True, "linger.ms": 5,
                  "partitioner": "murmur2_random"})
    for i in range(0, len(words), BURST):
        for k in words[i:i + BURST]:
            p.produce("words", key=k.encode(), value=b"x",
                      on_delivery=lambda e, m: e and errors.append(e))
        p.poll(0)
        time.sleep(0.25)
    if p.flush(60) != 0:
        errors.append("flush did not finish")


def scenario(bootstrap):
    tmp = tempfile.mkdtemp(prefix="nd-txc-streams-")
    app = None
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic(t, PARTS, 1) for t in
                                      ("words", "counts")]).values():
            f.result(30)
        errors, mid_stream = [], 0
        chunk = TOTAL // (KILLS + 1)
        for n in range(1, KILLS + 2):
            app = App(tmp, bootstrap, n)
            app.wait_for("the app running (start %d)" % n, app.running,
                         timeout=150)
            base = high_watermarks(bootstrap, "counts")
            prod = threading.Thread(target=producer_thread, args=(
                bootstrap, WORDS[(n - 1) * chunk:n * chunk], errors))
            prod.start()
            if n > KILLS:
                prod.join(300)
                break
            # Kill once it has written and while it has input it has not
            # committed: a fast app on an idle machine commits each burst
            # within its 100 ms commit interval, and a kill between bursts
            # would test nothing.
            app.wait_for("the app writing counts (start %d)" % n,
                         lambda: high_watermarks(bootstrap, "counts") >=
                         base + 60 and not committed_all(bootstrap),
                         timeout=150, interval=0.02)
            app.kill9()
            # Mid-stream: input the killed app had not committed yet.
            left = not committed_all(bootstrap)
            mid_stream += left
            print("%s: start %d killed%s: %.0f s" % (
                bootstrap, n, " mid-stream" if left else
                " with all its input committed", time.monotonic() - START))
            prod.join(300)
        if errors:
            ndtest.fail("producing `words`: %s" % errors[:3])
        if not mid_stream:
            ndtest.fail("no kill came while the app had input left")
        app.wait_for("the app committing every record of `words`",
                     lambda: committed_all(bootstrap), timeout=180)
        counts = last_counts(bootstrap)
        if app.stop() is None:
            ndtest.fail("the app did not stop")
        if [x for x in app.text().splitlines() if x.startswith("error ")]:
            ndtest.fail("the app reported an error:\n%s" % app.report())
        print("%s: counted: %.0f s" % (bootstrap, time.monotonic() - START))
        return {"counts": counts}
    finally:
        if app is not None:
            app.kill9()
        shutil.rmtree(tmp, ignore_errors=True)


exact = {k: WORDS.count(k) for k in KEYS}
want, got = differential.run_both(scenario)
if want["counts"] != exact:
    ndtest.fail("Apache Kafka: the counts are %s, not %s"
                % (want["counts"], exact))
differential.compare(want, got, what="Kafka Streams exactly_once_v2")
print("took %.0f s" % (time.monotonic() - START))
ndtest.passed()
