"""test_migrate_to_kafka.py — the hand-off from nodata to Apache Kafka with
MirrorMaker 2 (issue 16 §4, docs/migrate-to-kafka.md), as a user does it:

- `nodata serve` holds two topics (orders, 3 partitions; audit, 1) with
  keyed records, headers and timestamps, and a third (scratch) that is not
  to be migrated; a consumer group (billing) has processed part of each
  partition and committed;
- MirrorMaker 2 in dedicated mode (tests/kafka/mirror/pom.xml), configured
  as the guide says, mirrors nodata to a real Apache Kafka 4.4 broker
  while more records are produced to nodata;
- on Kafka: orders and audit exist with the same partition counts and the
  settings made on nodata (retention.ms; flush.messages, but not nodata's
  own fsync, which Kafka refuses), scratch does not; every record (key,
  value, headers, timestamp, partition) is there in nodata's order at
  nodata's offsets, but for audit, whose first 5 records were deleted on
  nodata (DeleteRecords) before the move: MirrorMaker copies from the log
  start, so Kafka numbers its records from 0;
- billing's committed offsets were translated, never past what the group
  had processed on nodata, and exactly where the group had read a
  partition to its end (orders/0). MirrorMaker may leave a partition
  untranslated (orders/2, committed at 0, now and then is): the consumer
  then starts at auto.offset.reset, "earliest" as the guide says;
- billing resumes on Kafka and reads every record it had not processed,
  and nothing else but what MirrorMaker 2's offset translation allows:
  it is at-least-once (OffsetSyncStore.translateDownstream, KAFKA-12468):
  a translated offset is one past the newest offset sync MirrorMaker
  kept at or below the committed offset, so the records between the two
  are read again; the test prints how many;
- records produced to nodata after the group moved still reach it;
- MirrorMaker 2 logged no ERROR against nodata (the guide's settings
  work), made no topic or group on nodata, and nodata logged no failure.

Everything is stopped at the end: MirrorMaker 2, both brokers.
"""
import atexit
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from apache_kafka import ApacheKafka, classpath  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import (OFFSET_BEGINNING, Consumer,  # noqa: E402
                             KafkaError, Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewTopic)

HERE = os.path.dirname(os.path.abspath(__file__))
MIRROR_POM = os.path.join(HERE, "..", "kafka", "mirror", "pom.xml")
CP = classpath(MIRROR_POM)
START = time.monotonic()

TOPICS = {"orders": 3, "audit": 1}
GROUP = "billing"
# Records per partition produced before MirrorMaker starts, while it runs
# (before the group moves) and after the group moved to Kafka.
N1, N2, N3 = 40, 15, 5
# What billing processed on nodata before the move, per partition: all of
# one, part of others, nothing of orders/2.
PROCESSED = {("orders", 0): N1, ("orders", 1): 25, ("orders", 2): 0,
             ("audit", 0): 13}
# Records deleted on nodata before the move (DeleteRecords): MirrorMaker
# copies from the log start, so Kafka numbers audit's records from 0 and
# its offsets are nodata's minus 5 (docs/migrate-to-kafka.md, "Offsets").
DELETED = {("audit", 0): 5}
# Topic settings made on nodata, which MirrorMaker copies to Kafka.
CONFIGS = {"orders": {"retention.ms": "1209600000"},
           "audit": {"flush.messages": "1"}}
T0 = (int(time.time()) - 3600) * 1000  # within Kafka's timestamp bounds

# The guide's settings (docs/migrate-to-kafka.md), with the intervals made
# short for a test.
MM2_PROPS = """
clusters=nodata,kafka
nodata.bootstrap.servers={nodata}
kafka.bootstrap.servers={kafka}
nodata->kafka.enabled=true
nodata->kafka.topics=orders|audit
nodata->kafka.groups=billing
kafka->nodata.emit.heartbeats.enabled=false
replication.policy.class=\
org.apache.kafka.connect.mirror.IdentityReplicationPolicy
offset-syncs.topic.location=target
sync.group.offsets.enabled=true
config.properties.exclude=fsync,\
follower.replication.throttled.replicas,\
leader.replication.throttled.replicas,\
message.timestamp.difference.max.ms,\
log.message.timestamp.before.max.ms,\
log.message.timestamp.after.max.ms,\
message.timestamp.type,\
unclean.leader.election.enable,\
min.insync.replicas
replication.factor=1
offset-syncs.topic.replication.factor=1
heartbeats.topic.replication.factor=1
checkpoints.topic.replication.factor=1
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
tasks.max=1
sync.group.offsets.interval.seconds=1
emit.checkpoints.interval.seconds=1
emit.heartbeats.interval.seconds=1
refresh.topics.interval.seconds=5
refresh.groups.interval.seconds=5
kafka.offset.flush.interval.ms=1000
offset.lag.max=10
"""


class MirrorMaker:
    """MirrorMaker 2 in dedicated mode, logging to a file in tmp."""

    def __init__(self, tmp, nodata, kafka):
        props = os.path.join(tmp, "mm2.properties")
        with open(props, "w") as f:
            f.write(MM2_PROPS.format(nodata=nodata, kafka=kafka))
        self.log = os.path.join(tmp, "mm2.log")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["java", "-Xmx512m", "-XX:+UseG1GC",
                 "-Dorg.slf4j.simpleLogger.showDateTime=true",
                 "-cp", CP, "org.apache.kafka.connect.mirror.MirrorMaker",
                 props],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=ndtest._pdeathsig)
        atexit.register(self.stop)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def check_alive(self):
        if self.proc.poll() is not None:
            ndtest.fail("MirrorMaker 2 exited with %d:\n%s"
                        % (self.proc.returncode, self.text()[-5000:]))

    def stop(self):
        ndtest.terminate(self.proc, 60)


def record(topic, p, i):
    return {"key": b"%s-%d-key-%d" % (topic.encode(), p, i),
            "value": b"%s/%d value %d" % (topic.encode(), p, i) * (1 + i % 3),
            "headers": [("seq", b"%d" % i), ("empty", b"")],
            "timestamp": T0 + 1000 * i + p}


def produce(bootstrap, first, count, skip=()):
    """count records to every partition of TOPICS but those in skip,
    numbered from first (a number, or one per partition: {(topic, p): n}),
    which is the offset each will have."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "enable.idempotence": True, "linger.ms": 5})
    errors = []
    for topic, parts in TOPICS.items():
        for part in range(parts):
            if (topic, part) in skip:
                continue
            at = first[(topic, part)] if isinstance(first, dict) else first
            for i in range(at, at + count):
                r = record(topic, part, i)
                p.produce(topic, key=r["key"], value=r["value"],
                          headers=r["headers"], timestamp=r["timestamp"],
                          partition=part,
                          on_delivery=lambda e, m: e and errors.append(e))
    if p.flush(60) or errors:
        ndtest.fail("producing to nodata: %s" % errors[:3])


def expected(topic, p, start, end, shift=0):
    """What a consumer sees of records start..end-1 of a partition, at
    their offsets minus shift."""
    return [(i - shift, r["key"], r["value"], r["headers"],
             (1, r["timestamp"]))
            for i, r in ((i, record(topic, p, i)) for i in range(start, end))]


def delete_records(bootstrap, topic, part, before):
    """DeleteRecords v0 by hand (confluent-kafka 1.7 has no call for it);
    returns the partition's new low watermark."""
    name = topic.encode()
    body = struct.pack(">ih", 1, len(name)) + name + \
        struct.pack(">iiqi", 1, part, before, 30000)
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sk:
        ndtest.kafka_request(sk, 21, 0, 7, body)
        r = ndtest.recv_frame(sk, 30)
    at = 4 + 4 + 4 + 2 + len(name) + 4
    _, low, err = struct.unpack_from(">iqh", r, at)
    check(err == 0, "DeleteRecords on %s/%d: error %d" % (topic, part, err))
    return low


def read_all(bootstrap, topic, part):
    """Every record of a partition from its log start: (offset, key,
    value, headers, ts)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "nd-read",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, part, OFFSET_BEGINNING)])
    out = []
    try:
        while True:
            m = c.poll(30)
            if m is None:
                ndtest.fail("reading %s/%d at %s: nothing for 30 s"
                            % (topic, part, bootstrap))
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return out
                ndtest.fail("reading %s/%d: %s" % (topic, part, m.error()))
            out.append(seen(m))
    finally:
        c.close()


def seen(m):
    return (m.offset(), m.key(), m.value(), m.headers() or [],
            m.timestamp())


def end_offsets(bootstrap, topic, parts):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "nd-ends"})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, q), 10)[1]
                for q in range(parts)]
    except Exception:
        return None  # the topic is not there yet
    finally:
        c.close()


def committed(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    try:
        tps = c.committed([TopicPartition(t, q) for t, n in TOPICS.items()
                           for q in range(n)], 10)
        return {(tp.topic, tp.partition): tp.offset for tp in tps}
    finally:
        c.close()


def topic_configs(bootstrap):
    """The settings of TOPICS that are not defaults: {topic: {name: value}}."""
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.describe_configs([ConfigResource("topic", t) for t in TOPICS])
    return {r.name: {n: e.value for n, e in f.result(30).items()
                     if not e.is_default}
            for r, f in fs.items()}


def wait_for(what, cond, mm, timeout=150):
    deadline = time.monotonic() + timeout
    while True:
        mm.check_alive()
        r = cond()
        if r:
            return r
        if time.monotonic() > deadline:
            ndtest.fail("%s: not after %d s; MirrorMaker 2's log:\n%s"
                        % (what, timeout, mm.text()[-8000:]))
        time.sleep(0.5)


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


kafka = ApacheKafka(wait=False)  # boots while nodata is filled
tmp = tempfile.mkdtemp(prefix="nd-mm2-")
atexit.register(shutil.rmtree, tmp, True)
with ndtest.Broker(args=["--group-initial-delay-ms", "0"]) as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for f in admin.create_topics([NewTopic(t, n, 1, config=CONFIGS.get(t, {}))
                                  for t, n in list(TOPICS.items()) +
                                  [("scratch", 2)]]).values():
        f.result(30)
    produce(b.bootstrap, 0, N1)
    for (t, q), n in DELETED.items():
        check(delete_records(b.bootstrap, t, q, n) == n,
              "%s/%d's log start after DeleteRecords" % (t, q))
    shift = {tp: DELETED.get(tp, 0) for tp in PROCESSED}

    # billing processes part of each partition on nodata, then commits
    # where it got to and leaves (a consumer that is shut down for the
    # move).
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP,
                  "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.subscribe(list(TOPICS))
    got = set()
    deadline = time.monotonic() + 60
    while len(got) < N1 * sum(TOPICS.values()) - sum(DELETED.values()):
        m = c.poll(1)
        if m is not None and not m.error():
            got.add((m.topic(), m.partition(), m.offset()))
        check(time.monotonic() < deadline,
              "billing read %d records on nodata in 60 s" % len(got))
    c.commit(offsets=[TopicPartition(t, q, o) for (t, q), o in
                      PROCESSED.items()], asynchronous=False)
    c.close()
    check(committed(b.bootstrap) == PROCESSED,
          "billing's commits on nodata: %s" % committed(b.bootstrap))

    kafka.wait()
    print("brokers ready, records on nodata: %.0f s"
          % (time.monotonic() - START))
    mm = MirrorMaker(tmp, b.bootstrap, kafka.bootstrap)
    t_mm = time.monotonic()
    wait_for("orders and audit on Kafka with nodata's %d records" % N1,
             lambda: all(end_offsets(kafka.bootstrap, t, n) ==
                         [N1 - shift[(t, q)] for q in range(n)]
                         for t, n in TOPICS.items()), mm)
    print("MirrorMaker 2 mirrored the first records in %.0f s"
          % (time.monotonic() - t_mm))
    # More records while MirrorMaker runs, to every partition but
    # orders/0: billing read all of it, and a group at the end of a
    # partition is translated exactly (OffsetSyncStore.translateDownstream:
    # one past the last offset sync, which is then the last record).
    produce(b.bootstrap, N1, N2, skip=[("orders", 0)])
    ends = {tp: N1 + (0 if tp == ("orders", 0) else N2) for tp in PROCESSED}
    wait_for("the records produced during mirroring on Kafka",
             lambda: all(end_offsets(kafka.bootstrap, t, n) ==
                         [ends[(t, q)] - shift[(t, q)] for q in range(n)]
                         for t, n in TOPICS.items()), mm)

    # The group's offsets, translated (MirrorCheckpointConnector) and
    # written to Kafka's group coordinator (sync.group.offsets).
    last = {}

    def synced():
        o = committed(kafka.bootstrap)
        if o != last.get("offsets"):
            print("  billing's offsets on Kafka: %s" % sorted(o.items()))
        last["offsets"] = o
        return o if o[("orders", 0)] == N1 else None
    t_sync = time.monotonic()
    translated = wait_for(
        "billing's committed offsets on Kafka, orders/0 at its end (%d)"
        % N1, synced, mm)
    print("offsets translated %.0f s after the last records were mirrored"
          % (time.monotonic() - t_sync))
    print("offsets on nodata %s, translated on Kafka %s"
          % (sorted(PROCESSED.items()), sorted(translated.items())))
    # A partition MirrorMaker could not translate (no offset sync kept at
    # or below the commit: OffsetSyncStore's javadoc) has no offset on
    # Kafka, and the consumer starts where auto.offset.reset says: the
    # guide's "earliest" reads it whole, again.
    # MirrorMaker may still translate it before the consumer joins: then
    # the consumer starts there, also never past the commit.
    untranslated = sorted(tp for tp, o in translated.items() if o < 0)
    for tp, o in translated.items():
        check(o <= PROCESSED[tp] - shift[tp],
              "billing's offset of %s/%d on Kafka is %d, past the %d it "
              "committed on nodata (%d on Kafka): records it never "
              "processed would be lost" % (tp[0], tp[1], o, PROCESSED[tp],
                                           PROCESSED[tp] - shift[tp]))

    kmeta = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(
        timeout=10).topics
    for t, n in TOPICS.items():
        check(t in kmeta and len(kmeta[t].partitions) == n,
              "topic %s on Kafka: %s" % (t, kmeta.get(t)))
    # MirrorMaker copies the settings made on nodata, but for nodata's own
    # fsync, which Kafka does not know (config.properties.exclude): its
    # Kafka form, flush.messages=1, comes along.
    src_cfg, dst_cfg = topic_configs(b.bootstrap), topic_configs(
        kafka.bootstrap)
    for t, cfg in src_cfg.items():
        want_cfg = {k: v for k, v in cfg.items() if k != "fsync"}
        check(want_cfg == CONFIGS[t] and
              all(dst_cfg[t].get(k) == v for k, v in want_cfg.items()),
              "topic %s: settings on nodata %s, on Kafka %s" % (t, cfg,
                                                               dst_cfg[t]))
    check("scratch" not in kmeta and "nodata.scratch" not in kmeta,
          "scratch was mirrored although not listed: %s" % sorted(kmeta))
    for t, n in TOPICS.items():
        for q in range(n):
            k = shift[(t, q)]
            src = read_all(b.bootstrap, t, q)
            check(src == expected(t, q, k, ends[(t, q)]),
                  "%s/%d on nodata is not what was produced" % (t, q))
            src = expected(t, q, k, ends[(t, q)], shift=k)  # Kafka's view
            dst = read_all(kafka.bootstrap, t, q)
            if dst != src:
                diff = next(i for i, (x, y) in enumerate(zip(dst + [None] * 9,
                                                             src)) if x != y)
                ndtest.fail("%s/%d on Kafka differs from nodata at index %d:"
                            " Kafka %r, nodata %r" % (t, q, diff,
                                                      dst[diff:diff + 1],
                                                      src[diff:diff + 1]))
    print("every record of orders and audit on Kafka, in order, keys, "
          "values, headers and timestamps equal, offsets too (audit's "
          "less the %d deleted on nodata)" % DELETED[("audit", 0)])

    # The cut-over: billing resumes on Kafka; producers still write to
    # nodata and MirrorMaker carries their records over.
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": GROUP,
                  "enable.auto.commit": False,
                  # as the guide says: an untranslated partition is read
                  # from its start
                  "auto.offset.reset": "earliest"})
    c.subscribe(list(TOPICS))
    before3 = {tp: ends[tp] - shift[tp] for tp in translated}  # Kafka's
    reads = {tp: [] for tp in translated}

    def reached(tp, end):
        """Has billing read tp up to end (a Kafka offset)?"""
        if reads[tp]:
            return reads[tp][-1][0] + 1 >= end
        return translated[tp] >= end  # it started there
    produced3 = False
    deadline = time.monotonic() + 120
    while not all(reached(tp, n + N3) for tp, n in before3.items()):
        mm.check_alive()
        m = c.poll(0.5)
        if m is not None and not m.error():
            reads[(m.topic(), m.partition())].append(seen(m))
        if not produced3 and c.assignment() and \
                all(reached(tp, n) for tp, n in before3.items()):
            produce(b.bootstrap, ends, N3)
            produced3 = True
        check(time.monotonic() < deadline,
              "billing on Kafka read %s records in 120 s, to offsets %s"
              % ({k: len(v) for k, v in reads.items()},
                 {k: n + N3 for k, n in before3.items()}))
    extra = c.poll(3)  # anything more would be a duplicate or a stray
    check(extra is None or extra.error(),
          "billing read more than the remaining records: %r"
          % (extra and seen(extra),))
    c.close()
    mm.check_alive()
    log = mm.text()
    mm.stop()

    repeats = 0
    for (t, q), got in reads.items():
        start, k = translated[(t, q)], shift[(t, q)]
        if start < 0 and got:  # untranslated when looked at
            start = got[0][0]
            check(start <= PROCESSED[(t, q)] - k,
                  "billing started %s/%d on Kafka at %d, past its commit"
                  % (t, q, start))
        check(got == expected(t, q, start + k, ends[(t, q)] + N3, shift=k),
              "billing on Kafka read %s/%d from offset %s, %d records, "
              "wanted offsets %d..%d"
              % (t, q, got[0][0] if got else None, len(got), start,
                 ends[(t, q)] + N3 - k - 1))
        repeats += PROCESSED[(t, q)] - k - start
    print("billing resumed on Kafka: every record after its commits, the "
          "%d produced after the move too; %d record(s) read again "
          "(between MirrorMaker's last offset sync and the commit; "
          "partitions without a translated offset: %s)"
          % (N3 * sum(TOPICS.values()), repeats, untranslated or "none"))

    errors = [line for line in log.splitlines()
              if re.search(r"\b(ERROR|FATAL)\b", line)]
    check(not errors, "MirrorMaker 2 logged errors:\n%s\n...\n%s"
          % ("\n".join(errors[:20]), log[-4000:]))
    # Its topic ACL sync asked nodata and took the answer (SECURITY_DISABLED,
    # as from Kafka without an authorizer) for "no ACLs to copy".
    check("No ACL authorizer is configured on the source" in log,
          "MirrorMaker 2 did not log that nodata has no ACLs to copy")
    # MirrorMaker only reads nodata: no topic or group of its own there.
    topics = set(admin.list_topics(timeout=10).topics)
    check(topics == set(TOPICS) | {"scratch"},
          "topics on nodata after the migration: %s" % sorted(topics))
    groups = sorted(g.id for g in admin.list_groups(timeout=10))
    check(groups == [GROUP], "groups on nodata after the migration: %s"
          % groups)
    ndtest.stop_clean(b)
    for line in b.stderr().splitlines():
        check(not re.search(r"error|fail", line, re.I),
              "nodata logged: %s" % line)
kafka.close()
print("migration test took %.0f s" % (time.monotonic() - START))
ndtest.passed()
