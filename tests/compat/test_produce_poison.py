"""test_produce_poison.py — batches a client must not be able to write,
answered as Kafka 4.4 answers them (each checked against the real broker):

- a control batch (attribute bit 5): INVALID_RECORD (87) for its
  partition, log_start_offset the real log start, no record_errors; nodata
  also sends Kafka's exception text ("Clients are not allowed to write
  control records in topic partition T-P"), which Kafka only logs;
- a transactional batch (bit 4) from a producer without a transaction (a
  producer id from InitProducerId without transactional.id, or none):
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) for every partition of the
  request, even a good batch to another topic, log_start_offset -1, no
  message;
- then a librdkafka consumer (confluent-kafka) and kafka-python read the
  topic through the refused attempts and get every good record, in order;
  before this change the control batch was stored and librdkafka stopped
  at its offset without an error, kafka-python handed it out;
- record timestamps: message.timestamp.before.max.ms / after.max.ms (topic)
  and log.message.timestamp.* (broker defaults), Kafka 4.4's defaults, a
  confluent-kafka Producer with explicit timestamps (too old, too far
  ahead: delivery error INVALID_TIMESTAMP; inside: delivered), a gzip batch
  refused record by record in Kafka's words, LogAppendTime topics not
  checked, and the settings through AdminClient (describe, alter);
- two batches for one partition, or none: INVALID_RECORD, as Kafka 4.4
  answers from Produce v3 (before: both batches stored; none was
  CORRUPT_MESSAGE).
"""
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
kafka = ndtest.require("kafka")
from confluent_kafka import KafkaError, Producer  # noqa: E402
from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

import test_kafka_versions as kv  # noqa: E402
from test_kafka_confluent import consume as confluent_consume  # noqa: E402

INVALID_TIMESTAMP, INVALID_RECORD, TXN_AUTH_FAILED = 32, 87, 53
CONTROL, TRANSACTIONAL = 0x20, 0x10
HOUR, DAY = 3600000, 86400000
check = kv.check


def now_ms():
    return int(time.time() * 1000)


def batch(values, ts, attrs=0, deltas=None, pid=-1, epoch=-1, seq=-1,
          gzip=False):
    """kv.record_batch with extra attribute bits (and gzip'ed records)."""
    b = kv.record_batch(values, ts=ts, deltas=deltas, pid=pid, epoch=epoch,
                        seq=seq)
    recs = b[61:]
    if gzip:
        import gzip as gz
        recs = gz.compress(recs)
        attrs |= 1
    after_crc = struct.pack(">h", attrs) + b[23:61] + recs
    body = struct.pack(">ib", 0, 2) + struct.pack(">I", kv.crc32c(after_crc))
    body += after_crc
    return b[:8] + struct.pack(">i", len(body)) + body


def produce(c, parts, txn_id=None):
    """Produce v9 (flexible; error_message and record_errors), acks=all.
    parts: [(topic, batch)] to partition 0. Returns [(topic, partition
    response)]."""
    body = kv.cstr(txn_id) + struct.pack(">hi", -1, 10000)
    body += kv.carray([kv.cstr(t) + kv.carray([struct.pack(">i", 0) +
                                               kv.cbytes(b) + kv.TAGS]) +
                       kv.TAGS for t, b in parts])
    body += kv.TAGS
    rd = c.call(0, 9, body)

    def topic(r):
        t = (r.cstr(), r.carray(kv.produce_partition))
        r.tags()
        return t
    ts = rd.carray(topic)
    rd.i32()
    rd.tags()
    rd.end()
    out = []
    for name, ps in ts:
        p = ps[0]
        p["record_errors"] = [(i, m) for i, m, _ in p["record_errors"]]
        out.append((name, p))
    return out


def init_producer_id(c, txn_id=None, expect=(-1, -1)):
    """InitProducerId v4, without transactional.id unless txn_id is given,
    with KIP-360's expected producer id and epoch: (error, id, epoch)."""
    body = kv.cstr(txn_id) + struct.pack(">iqh", 60000, *expect) + kv.TAGS
    rd = c.call(22, 4, body)
    rd.i32()
    err, pid, epoch = rd.i16(), rd.i64(), rd.i16()
    rd.tags()
    return err, pid, epoch


def create(admin, name, config=None):
    for f in admin.create_topics([NewTopic(name, 1, 1, config=config or {})],
                                 request_timeout=10).values():
        f.result()


def describe(admin, name, rtype=ConfigResource.Type.TOPIC):
    res = ConfigResource(rtype, name)
    return admin.describe_configs([res], request_timeout=10)[res].result()


def consume_confluent(bootstrap, topic, want):
    """Before nodata refused control batches, librdkafka stopped at the
    stored one without an error: the wait below ran out."""
    ms = confluent_consume(bootstrap, [TopicPartition(topic, 0, 0)],
                           len(want), timeout=60)
    got = [(m.offset(), m.value()) for m in ms]
    check([v for _, v in got] == want,
          "confluent consumer got %s, want %s (stalled?)" % (got, want))
    return got


def consume_kafka_python(bootstrap, topic, want):
    c = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap,
                            auto_offset_reset="earliest",
                            enable_auto_commit=False,
                            consumer_timeout_ms=10000)
    got = []
    try:
        for m in c:
            got.append((m.offset, m.value))
            if len(got) >= len(want):
                break
    finally:
        c.close()
    check([v for _, v in got] == want,
          "kafka-python got %s, want %s" % (got, want))


def produce_values(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    errs = []
    for v in values:
        p.produce(topic, v, on_delivery=lambda e, m: errs.append(e))
        p.flush(10)
    check(errs == [None] * len(values), "delivery errors %s" % errs)


def poison_batches(b, admin, c):
    t = "poison"
    create(admin, t)
    create(admin, "other")
    produce_values(b.bootstrap, t, [b"good-0", b"good-1"])
    now = now_ms()

    # A control batch: INVALID_RECORD, Kafka's exception text.
    (name, p), = produce(c, [(t, batch([b"marker?"], now, CONTROL))])
    check(p["error"] == INVALID_RECORD and p["base"] == -1 and
          p["log_start"] == 0 and p["record_errors"] == [],
          "control batch: %s" % p)
    check(p["message"] == "Clients are not allowed to write control "
          "records in topic partition poison-0", "control message %s" % p)
    # Control batches are refused before timestamps are looked at.
    (name, p), = produce(c, [(t, batch([b"x", b"y"], now, CONTROL,
                                       deltas=[0, 2 * HOUR]))])
    check(p["error"] == INVALID_RECORD, "control + late record: %s" % p)

    # Transactional batches without a transaction: 53 for the whole
    # request, good batches and unknown topics included.
    err, pid, epoch = init_producer_id(c)
    check(err == 0 and pid >= 0, "InitProducerId %s %s" % (err, pid))
    # A transactional producer that names an identity it never had is
    # fenced, and the broker's log line names the error it answered with
    # as NAME(code) (broker/kafka_errors.h).
    err, tpid, tepoch = init_producer_id(c, "tx-1")
    check(err == 0, "transactional InitProducerId: %s" % err)
    err, _, _ = init_producer_id(c, "tx-1", (tpid, tepoch + 5))
    check(err == 90, "InitProducerId with a wrong epoch: %s" % err)
    check("answered PRODUCER_FENCED(90)" in b.stderr(),
          "log does not name the error: %r" % b.stderr()[-1000:])
    for what, bb in (
            ("with an idempotent producer id",
             batch([b"txn"], now, TRANSACTIONAL, pid=pid, epoch=epoch,
                   seq=0)),
            ("without a producer id", batch([b"txn"], now, TRANSACTIONAL)),
            ("with the control bit too",
             batch([b"txn"], now, TRANSACTIONAL | CONTROL))):
        rs = produce(c, [("other", batch([b"fine"], now)), (t, bb),
                         ("no-such-topic", bb)])
        for name, p in rs:
            check(p["error"] == TXN_AUTH_FAILED and p["base"] == -1 and
                  p["log_start"] == -1 and p["message"] is None and
                  p["record_errors"] == [],
                  "transactional batch %s: %s got %s" % (what, name, p))
    # The idempotent producer's sequence 0 was not used up by the refusal.
    (name, p), = produce(c, [(t, batch([b"good-2"], now, pid=pid,
                                       epoch=epoch, seq=0))])
    check(p["error"] == 0 and p["base"] == 2, "idempotent batch %s" % p)
    produce_values(b.bootstrap, t, [b"good-3"])
    want = [b"good-0", b"good-1", b"good-2", b"good-3"]
    got = consume_confluent(b.bootstrap, t, want)
    check([o for o, _ in got] == [0, 1, 2, 3], "offsets %s" % got)
    consume_kafka_python(b.bootstrap, t, want)


def timestamps(b, admin, c):
    # Kafka 4.4's defaults, with the broker setting as the synonym.
    create(admin, "ts-default")
    d = describe(admin, "ts-default")
    check(d["message.timestamp.before.max.ms"].value ==
          "9223372036854775807" and
          d["message.timestamp.after.max.ms"].value == "3600000",
          "defaults %s %s" % (d["message.timestamp.before.max.ms"],
                              d["message.timestamp.after.max.ms"]))
    check("message.timestamp.difference.max.ms" not in d,
          "difference.max.ms is gone in Kafka 4")
    bd = describe(admin, "0", ConfigResource.Type.BROKER)
    check(bd["log.message.timestamp.after.max.ms"].value == "3600000" and
          bd["log.message.timestamp.before.max.ms"].value ==
          "9223372036854775807", "broker defaults")

    create(admin, "ts", {"message.timestamp.before.max.ms": str(DAY)})
    check(describe(admin, "ts")["message.timestamp.before.max.ms"].value ==
          str(DAY), "before.max.ms set at create")
    now = now_ms()
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
                  "retries": 0})
    results = {}

    def send(label, ts):
        p.produce("ts", label.encode(), timestamp=ts,
                  on_delivery=lambda e, m: results.__setitem__(label, e))
        p.flush(10)
    send("two-days-old", now - 2 * DAY)
    send("two-hours-ahead", now + 2 * HOUR)
    send("an-hour-old", now - HOUR)
    send("ten-minutes-ahead", now + 600000)
    for label in ("two-days-old", "two-hours-ahead"):
        e = results.get(label)
        check(e is not None and e.code() == KafkaError.INVALID_TIMESTAMP,
              "%s: delivery report %s" % (label, e))
    for label in ("an-hour-old", "ten-minutes-ahead"):
        check(label in results and results[label] is None,
              "%s: delivery report %s" % (label, results.get(label)))

    # A gzip batch: every record looked at, each refused one listed.
    now = now_ms()
    (name, r), = produce(c, [("ts", batch([b"a", b"b", b"c", b"d"], now,
                                          deltas=[0, 2 * HOUR, -3 * DAY,
                                                  1000], gzip=True))])
    check(r["error"] == INVALID_TIMESTAMP and r["base"] == -1 and
          r["log_start"] == 0, "gzip batch: %s" % r)
    check(r["message"] == "One or more records have been rejected due to "
          "invalid timestamp", "message %s" % r)
    check([i for i, _ in r["record_errors"]] == [1, 2], "indexes %s" % r)
    pat = re.compile(r"Timestamp (-?\d+) of message with offset (\d+) is out "
                     r"of range\. The timestamp should be within "
                     r"\[(-?\d+), (-?\d+)\]$")
    for (i, msg), ts in zip(r["record_errors"], (now + 2 * HOUR,
                                                 now - 3 * DAY)):
        m = pat.match(msg)
        check(m and int(m.group(1)) == ts and int(m.group(2)) == i and
              int(m.group(4)) - int(m.group(3)) == DAY + HOUR,
              "record error %r" % msg)

    # AlterConfigs: after.max.ms 0 refuses a record a minute ahead.
    res = ConfigResource(ConfigResource.Type.TOPIC, "ts", set_config={
        "message.timestamp.after.max.ms": "0",
        "message.timestamp.before.max.ms": str(DAY)})
    for f in admin.alter_configs([res], request_timeout=10).values():
        f.result()
    d = describe(admin, "ts")
    check(d["message.timestamp.after.max.ms"].value == "0", "altered")
    send("a-minute-ahead", now_ms() + 60000)
    e = results.get("a-minute-ahead")
    check(e is not None and e.code() == KafkaError.INVALID_TIMESTAMP,
          "after.max.ms=0: %s" % e)
    res = ConfigResource(ConfigResource.Type.TOPIC, "ts", set_config={
        "message.timestamp.after.max.ms": "-5"})
    try:
        for f in admin.alter_configs([res], request_timeout=10).values():
            f.result()
        ndtest.fail("after.max.ms=-5 accepted")
    except ck.KafkaException as ex:
        check(ex.args[0].code() == KafkaError.INVALID_CONFIG, "%s" % ex)

    # LogAppendTime: the broker's clock, nothing to check.
    create(admin, "ts-append", {"message.timestamp.type": "LogAppendTime",
                                "message.timestamp.after.max.ms": "0",
                                "message.timestamp.before.max.ms": "0"})
    results.clear()
    p.produce("ts-append", b"old", timestamp=1000,
              on_delivery=lambda e, m: results.__setitem__("old", e))
    p.flush(10)
    check("old" in results and results["old"] is None,
          "LogAppendTime: %s" % results.get("old"))

    # The broker-level default, for topics created afterwards.
    res = ConfigResource(ConfigResource.Type.BROKER, "0", set_config={
        "log.message.timestamp.after.max.ms": "7200000"})
    for f in admin.alter_configs([res], request_timeout=10).values():
        f.result()
    create(admin, "ts-later")
    d = describe(admin, "ts-later")
    check(d["message.timestamp.after.max.ms"].value == "7200000",
          "broker default not applied: %s" % d["message.timestamp.after.max.ms"])
    results.clear()
    p.produce("ts-later", b"x", timestamp=now_ms() + 90 * 60000,
              on_delivery=lambda e, m: results.__setitem__("x", e))
    p.flush(10)
    check("x" in results and results["x"] is None,
          "90 minutes ahead under a 2-hour default: %s" % results.get("x"))


def one_batch_per_partition(b, admin, c):
    """Produce v3+ carries exactly one batch per partition: two batches
    (the second could hide anything the first's checks passed) and none
    are INVALID_RECORD, as Kafka 4.4 answers (compared with it: 87 for
    both at v3, v7, v8); nothing of a refused partition is stored."""
    t = "one-batch"
    create(admin, t)
    now = now_ms()
    two = batch([b"a"], now) + batch([b"b"], now)
    (name, p), = produce(c, [(t, two)])
    check(p["error"] == INVALID_RECORD and p["base"] == -1 and
          "exactly one record batch" in (p["message"] or ""),
          "two batches in one partition: %s" % p)
    (name, p), = produce(c, [(t, b"")])
    check(p["error"] == INVALID_RECORD and
          "at least one record batch" in (p["message"] or ""),
          "no batch: %s" % p)
    for v in (3, 7, 8):
        err, _ = kv.produce_classic(c, v, t, two)
        check(err == INVALID_RECORD, "v%d two batches: error %d" % (v, err))
    (name, p), = produce(c, [(t, batch([b"c"], now))])
    check(p["error"] == 0 and p["base"] == 0, "one batch: %s" % p)
    consume_confluent(b.bootstrap, t, [b"c"])


def main():
    with ndtest.Broker() as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        c = kv.Conn(b.port)
        poison_batches(b, admin, c)
        timestamps(b, admin, c)
        one_batch_per_partition(b, admin, c)
        ndtest.stop_clean(b)
    ndtest.passed()


if __name__ == "__main__":
    main()
