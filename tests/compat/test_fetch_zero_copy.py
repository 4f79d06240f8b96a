"""test_fetch_zero_copy.py — Fetch answers from the segment files with
sendfile, and real clients read every byte right: confluent-kafka
(librdkafka) and kafka-python consume 4 partitions of records of 10 B to
6 KB (plain and lz4-compressed batches, keys, headers) across many 256 KiB
segments, with small and large fetch limits; each record is checked
against what was produced, in order, none missing or repeated. The
broker's shutdown line must show that most record bytes left through
sendfile, so the zero-copy path is the one tested.
"""
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck, kp = ndtest.require("confluent_kafka", "kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "zc"
PARTS = 4
PER_PRODUCER = 6000


def value(i):
    """Record i's value: 10 B to 6 KB, content derived from i."""
    n = 10 + (i * 7919) % 6000
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * (n // 32 + 1))[:n]


def produce(bs, first, compression):
    p = Producer({"bootstrap.servers": bs, "acks": "all",
                  "compression.type": compression, "linger.ms": 20})
    failed = []

    def report(err, msg):
        if err:
            failed.append(err)

    for i in range(first, first + PER_PRODUCER):
        p.produce(TOPIC, value(i), key=str(i).encode(),
                  partition=i % PARTS, headers=[("i", str(i).encode())],
                  on_delivery=report)
        if i % 1000 == 0:
            p.poll(0)
    if p.flush(60) != 0 or failed:
        ndtest.fail("produce (%s): %d undelivered, errors %s"
                    % (compression, len(p), failed[:3]))


def check_partition(got, who):
    """got: {partition: [(offset, key, value, headers)]} -> all there."""
    total = 0
    for part in range(PARTS):
        recs = got.get(part, [])
        offs = [r[0] for r in recs]
        if offs != list(range(len(recs))):
            ndtest.fail("%s: partition %d offsets not dense from 0: %s..."
                        % (who, part, offs[:10]))
        for off, key, val, hdrs in recs:
            i = int(key)
            if i % PARTS != part or val != value(i) or hdrs != [("i", key)]:
                ndtest.fail("%s: partition %d offset %d: record %d differs"
                            % (who, part, off, i))
        total += len(recs)
    if total != 2 * PER_PRODUCER:
        ndtest.fail("%s: read %d records, want %d"
                    % (who, total, 2 * PER_PRODUCER))
    keys = sorted(int(r[1]) for recs in got.values() for r in recs)
    if keys != list(range(2 * PER_PRODUCER)):
        ndtest.fail("%s: records missing or repeated" % who)


def consume_confluent(bs, extra):
    conf = {"bootstrap.servers": bs, "group.id": "zc-" + str(len(extra)),
            "enable.auto.commit": False, "enable.partition.eof": True}
    conf.update(extra)
    c = Consumer(conf)
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTS)])
    got, eof = {}, set()
    deadline = time.time() + 60
    while len(eof) < PARTS and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            ndtest.fail("confluent consume: %s" % m.error())
        hdrs = [(k, v) for k, v in (m.headers() or [])]
        got.setdefault(m.partition(), []).append(
            (m.offset(), m.key(), m.value(), hdrs))
    c.close()
    return got


def consume_kafka_python(bs, extra):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False,
                      consumer_timeout_ms=5000, **extra)
    tps = [KTP(TOPIC, p) for p in range(PARTS)]
    c.assign(tps)
    c.seek_to_beginning()
    got = {}
    for m in c:
        got.setdefault(m.partition, []).append(
            (m.offset, m.key, m.value, list(m.headers)))
        if sum(len(v) for v in got.values()) == 2 * PER_PRODUCER:
            break
    c.close()
    return got


def main():
    # 256 KiB segments, below Kafka's 1 MiB minimum, so that responses
    # cross segments often: the broker's test-only floor allows them.
    with ndtest.Broker(args=["--min-segment-bytes", "262144"]) as b:
        bs = b.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})
        admin.create_topics([NewTopic(
            TOPIC, num_partitions=PARTS, replication_factor=1,
            config={"segment.bytes": str(256 * 1024)})])[TOPIC].result(10)
        produce(bs, 0, "none")
        produce(bs, PER_PRODUCER, "lz4")

        # librdkafka: its defaults (1 MiB per partition, 50 MiB per
        # fetch), then small limits (several responses per segment, the
        # response limit cutting partitions off).
        check_partition(consume_confluent(bs, {}), "confluent defaults")
        check_partition(consume_confluent(bs, {
            "max.partition.fetch.bytes": 40000, "fetch.max.bytes": 100000,
            "message.max.bytes": 100000,
            "receive.message.max.bytes": 3000000}),
            "confluent small limits")
        # kafka-python: its own fetch sizes and decoder.
        check_partition(consume_kafka_python(bs, {}), "kafka-python")
        check_partition(consume_kafka_python(bs, {
            "max_partition_fetch_bytes": 30000, "fetch_max_bytes": 70000}),
            "kafka-python small limits")

        b.stop()
        m = re.search(r"fetch sent (\d+) record bytes from segment files "
                      r"with sendfile, (\d+) copied", b.stderr())
        if not m:
            ndtest.fail("no fetch summary at shutdown: %r" % b.stderr()[-500:])
        sent, copied = int(m.group(1)), int(m.group(2))
        print("fetch: %d bytes by sendfile, %d copied" % (sent, copied))
        if sent == 0 or sent < 4 * copied:
            ndtest.fail("zero copy not used enough: %d sent, %d copied"
                        % (sent, copied))
    ndtest.passed()


if __name__ == "__main__":
    main()
