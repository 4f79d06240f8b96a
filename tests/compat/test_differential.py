"""test_differential.py — one scenario, run against Apache Kafka 4.4 and
against nodata in the same test run; what the client observes must be the
same, field by field (issue 16's first differential scenario).

With confluent-kafka (librdkafka) on each broker:
- create a topic of 3 partitions;
- produce 60 records with keys, headers, explicit partitions and
  timestamps, one of them a tombstone (null value), acks=all; the
  delivery reports (partition, offset, timestamp) are compared;
- read every partition from the beginning: offsets, keys, values,
  headers, timestamps and timestamp types are compared;
- ListOffsets: earliest, latest and by timestamp (before the first, in
  the middle, past the last) for every partition;
- a consumer group commits offsets; committed() is compared.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "diff"
PARTS = 3
T0 = 1_700_000_000_000


def scenario(bootstrap):
    """Everything a client sees of the scenario on one broker."""
    seen = {}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTS, 1)])[TOPIC].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "linger.ms": 5, "enable.idempotence": True})
    reports = []

    def cb(err, msg):
        reports.append((None if err is None else err.code(), msg.partition(),
                        msg.offset(), msg.timestamp(), msg.key()))
    for i in range(60):
        value = None if i == 17 else b"value-%d" % i
        p.produce(TOPIC, key=b"key-%d" % (i % 7), value=value,
                  partition=i % PARTS, timestamp=T0 + 1000 * i,
                  headers=[("h", b"%d" % i), ("empty", b"")],
                  on_delivery=cb)
    p.flush(30)
    seen["delivery"] = sorted(reports, key=lambda r: (r[1], r[2]))

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "diff-read",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(TOPIC, q, 0) for q in range(PARTS)])
    records, eof = [], set()
    while len(eof) < PARTS:
        m = c.poll(30)
        if m is None:
            ndtest.fail("%s: nothing for 30 s" % bootstrap)
        if m.error():
            if m.error().code() == m.error()._PARTITION_EOF:
                eof.add(m.partition())
                continue
            ndtest.fail("%s: %s" % (bootstrap, m.error()))
        records.append((m.partition(), m.offset(), m.key(), m.value(),
                        m.headers(), m.timestamp()))
    seen["records"] = sorted(records)

    offsets = []
    for q in range(PARTS):
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, q), timeout=30)
        offsets.append(("watermarks", q, lo, hi))
        for ts in (T0 - 1, T0 + 30_500, T0 + 10_000_000):
            got = c.offsets_for_times([TopicPartition(TOPIC, q, ts)],
                                      timeout=30)[0]
            offsets.append(("time", q, ts, got.offset))
    seen["list_offsets"] = offsets
    c.close()

    g = Consumer({"bootstrap.servers": bootstrap, "group.id": "diff-group",
                  "enable.auto.commit": False})
    g.commit(offsets=[TopicPartition(TOPIC, q, 5 + q) for q in range(PARTS)],
             asynchronous=False)
    got = g.committed([TopicPartition(TOPIC, q) for q in range(PARTS)],
                      timeout=30)
    seen["committed"] = [(t.partition, t.offset, t.error) for t in got]
    g.close()
    return seen


want, got = differential.run_both(scenario)
differential.compare(want, got, what="confluent-kafka (Debian's librdkafka)")
ndtest.passed()
