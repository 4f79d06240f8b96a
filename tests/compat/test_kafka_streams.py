"""test_kafka_streams.py — a Kafka Streams application's state survives a
kill -9 and the loss of its local state, restored from its compacted
changelog topic on nodata (issue 18).

StreamsCount.java (kafka-streams 4.4.0, tests/kafka/streams/pom.xml,
resolved into ~/.m2; run as a single-file source program) counts the
records of each key of `words` (2 partitions) in a persistent (RocksDB)
key-value store whose changelog topic, <app>-counts-changelog, Streams
creates compacted, and writes every new count to `counts`. The store's
cache is off, so every update is a changelog record: many records per key,
which a cleaner can compact. Streams creates the changelog with Kafka's
settings passed through its topic.* overrides (segment.ms 1000,
min.cleanable.dirty.ratio 0.01), so a cleaner cleans while the test runs.

- the app counts the first records; once it has committed them all (its
  group's committed offsets at the end of `words`), the last count of each
  key in `counts` is right, and nodata describes the changelog topic as
  cleanup.policy=compact, with the settings Streams gave it;
- the app is killed (kill -9) and started again with an empty state
  directory: it restores the store from the changelog (its restore
  listener reports every changelog partition restored, records > 0),
  counts more records, and the last count of each key in `counts` is the
  total of both rounds. A store not restored (or restored from a changelog
  missing a key's newest count) would give the second round's count, or a
  smaller one.

Passes whether or not nodata's cleaner has compacted the changelog: before
the kill it gives a cleaner up to 30 s to clean (ndtest.wait_cleaned), so
that the restore reads a cleaned changelog, and prints how many offsets
were cleaned away, then and at the end.

Takes about 20-25 s with nodata's cleaner, 50 s without one (the 30 s
wait), on a loaded 2-core machine: two application starts, and the killed
member's 6 s session ending before the restarted app gets its partitions.
"""
import atexit
import os
import random
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from apache_kafka import classpath  # noqa: E402
from jvm import Jvm  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewTopic)

HERE = os.path.dirname(os.path.abspath(__file__))
CP = classpath(os.path.join(HERE, "..", "kafka", "streams", "pom.xml"))
PROGRAM = os.path.join(HERE, "StreamsCount.java")
START = time.monotonic()

APP = "nd-count"
CHANGELOG = APP + "-counts-changelog"
PARTS = 2
KEYS = ["k%d" % i for i in range(8)]
# For the changelog topics Streams creates (StreamsConfig's topic.*
# prefix): segments rolled every second and a low dirty ratio, so a
# cleaner has work while the test runs. Kafka's names; nodata must keep
# them.
CLEANING = {"segment.ms": "1000", "min.cleanable.dirty.ratio": "0.01"}
SETTINGS = [
    "commit.interval.ms=200",
    # Every update goes to the changelog and to `counts` (no cache).
    "statestore.cache.max.bytes=0",
    # The killed member's session ends soon, so the restarted app gets
    # its partitions without waiting Kafka's default 45 s.
    "session.timeout.ms=6000", "heartbeat.interval.ms=1000",
] + ["topic.%s=%s" % kv for kv in CLEANING.items()]


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


class App(Jvm):
    def __init__(self, tmp, bootstrap, n):
        self.state_dir = os.path.join(tmp, "state%d" % n)
        super().__init__(CP, [PROGRAM, bootstrap, APP, self.state_dir,
                              "words", "counts"] + SETTINGS,
                         log=os.path.join(tmp, "app%d.log" % n), heap="384m",
                         # RocksDB unpacks its native library there, and
                         # a kill -9 leaves it behind.
                         props=["java.io.tmpdir=" + tmp,
                                "org.slf4j.simpleLogger.defaultLogLevel="
                                "warn"])

    def lines(self, prefix):
        return [line.split()[1:] for line in self.text().splitlines()
                if line.startswith(prefix + " ")]

    def running(self):
        states = self.lines("state")
        return states and states[-1] == ["RUNNING"]


def produce(bootstrap, records):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for k in records:
        p.produce("words", key=k.encode(), value=b"x",
                  on_delivery=lambda e, m: e and errors.append(e))
    check(p.flush(60) == 0 and not errors, "producing: %s" % errors[:3])


def committed_all(bootstrap):
    """Has the app committed every record of `words`?"""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": APP})
    try:
        tps = [TopicPartition("words", q) for q in range(PARTS)]
        done = c.committed(tps, 10)
        ends = [c.get_watermark_offsets(tp, 10)[1] for tp in tps]
        return [tp.offset for tp in done] == ends
    finally:
        c.close()


def last_counts(bootstrap):
    """The newest count of each key in `counts`."""
    return {k.decode(): struct.unpack(">q", v)[0]
            for _, _, k, v in ndtest.read_topic(bootstrap, "counts")[0]}


def counted(app, bootstrap, want, what):
    app.wait_for("the app committing every record of `words` (%s)" % what,
                 lambda: committed_all(bootstrap), timeout=150)
    got = last_counts(bootstrap)
    check(got == want, "%s: the counts in `counts` are %s, not %s"
          % (what, got, want))


def main():
    tmp = tempfile.mkdtemp(prefix="nd-streams-")
    atexit.register(shutil.rmtree, tmp, True)
    rnd = random.Random(18)
    first = [rnd.choice(KEYS) for _ in range(400)]
    second = [rnd.choice(KEYS) for _ in range(150)]
    totals = {k: first.count(k) + second.count(k) for k in KEYS}

    with ndtest.Broker(args=["--group-initial-delay-ms", "0"]) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.create_topics([NewTopic(t, PARTS, 1) for t in
                                      ("words", "counts")]).values():
            f.result(30)

        app = App(tmp, b.bootstrap, 1)
        app.wait_for("the app running", app.running, timeout=150)
        print("app 1 running: %.0f s" % (time.monotonic() - START))
        # In two halves over a second apart: the changelog's first segment
        # then rolls (segment.ms) and a cleaner may clean it.
        half = len(first) // 2
        produce(b.bootstrap, first[:half])
        counted(app, b.bootstrap, {k: first[:half].count(k) for k in KEYS},
                "first half")
        time.sleep(1.5)
        produce(b.bootstrap, first[half:])
        counted(app, b.bootstrap, {k: first.count(k) for k in KEYS},
                "first round")
        cfg = {r.name: {n: e.value for n, e in f.result(30).items()}
               for r, f in admin.describe_configs(
                   [ConfigResource("topic", CHANGELOG)]).items()}[CHANGELOG]
        want = dict(CLEANING, **{"cleanup.policy": "compact"})
        check(all(cfg.get(k) == v for k, v in want.items()),
              "nodata describes %s as %s, Streams made it %s"
              % (CHANGELOG, {k: cfg.get(k) for k in want}, want))
        print("first round counted, changelog compacted: %.0f s"
              % (time.monotonic() - START))

        # The restore below reads a cleaned changelog when the cleaner has
        # been at it by then (not required).
        log, span = ndtest.wait_cleaned(b.bootstrap, CHANGELOG)
        print("%s before the kill: %d records in %d offsets (%d cleaned "
              "away): %.0f s" % (CHANGELOG, len(log), span, span - len(log),
                                 time.monotonic() - START))

        # A crash, and the local state lost with it.
        app.kill9()
        shutil.rmtree(app.state_dir)
        app = App(tmp, b.bootstrap, 2)
        app.wait_for("the app running again", app.running, timeout=150)
        restored = {r[1]: int(r[2]) for r in app.lines("restored")}
        check(sorted(restored) == ["%s-%d" % (CHANGELOG, q)
                                   for q in range(PARTS)] and
              all(n > 0 for n in restored.values()),
              "the restarted app did not restore both changelog partitions:"
              " %s\n%s" % (restored, app.text()[-3000:]))
        print("app 2 running, restored %s: %.0f s"
              % (restored, time.monotonic() - START))
        produce(b.bootstrap, second)
        counted(app, b.bootstrap, totals, "after the kill and the restore")
        check(app.stop() is not None, "the app did not stop")
        errors = app.lines("error")
        check(not errors, "the app reported %s" % errors)

        log, span = ndtest.read_topic(b.bootstrap, CHANGELOG)
        print("%s: %d records in %d offsets (%d cleaned away)"
              % (CHANGELOG, len(log), span, span - len(log)))
        ndtest.stop_clean(b)
    print("took %.0f s" % (time.monotonic() - START))
    ndtest.passed()


main()
