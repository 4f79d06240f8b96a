"""test_kafka_confluent.py — confluent-kafka (librdkafka 2.0) against
`nodata serve`: AdminClient create/delete topics, create partitions and
describe configs; an idempotent Producer with acks=all and delivery
reports; a Consumer with manual assignment from the beginning, an offset
and a timestamp; a restart between produce and consume.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewPartitions, NewTopic)


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def consume(bs, assignments, want, timeout=30):
    c = Consumer({"bootstrap.servers": bs, "group.id": "ndtest-manual",
                  "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign(assignments)
    out = []
    deadline = time.time() + timeout
    while len(out) < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            ndtest.fail("consume error: %s" % m.error())
        out.append(m)
    c.close()
    return out


def main():
    with ndtest.Broker() as b:
        bs = b.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})

        # Create: one good topic with a config, one with a bad name, one
        # with an impossible replication factor, one with a bad config.
        fs = admin.create_topics([
            NewTopic("orders", num_partitions=3, replication_factor=1,
                     config={"retention.ms": "3600000"}),
            NewTopic("bad name!", num_partitions=1, replication_factor=1),
            NewTopic("rf3", num_partitions=1, replication_factor=3),
            NewTopic("badcfg", num_partitions=1, replication_factor=1,
                     config={"no.such.setting": "1"}),
        ], operation_timeout=10)
        fs["orders"].result(10)
        for name, code in (("bad name!", 17), ("rf3", 38), ("badcfg", 40)):
            try:
                fs[name].result(10)
                ndtest.fail("creating %r succeeded" % name)
            except ck.KafkaException as e:
                check(e.args[0].code() == code,
                      "creating %r: got %s, want code %d"
                      % (name, e.args[0], code))
        # Creating it again: TOPIC_ALREADY_EXISTS.
        try:
            admin.create_topics([NewTopic("orders", 1, 1)])["orders"].result(10)
            ndtest.fail("second create succeeded")
        except ck.KafkaException as e:
            check(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS,
                  "second create: %s" % e)

        admin.create_partitions([NewPartitions("orders", 4)])["orders"].result(10)
        try:
            admin.create_partitions(
                [NewPartitions("orders", 2)])["orders"].result(10)
            ndtest.fail("shrinking partitions succeeded")
        except ck.KafkaException as e:
            check(e.args[0].code() == KafkaError.INVALID_PARTITIONS,
                  "shrink: %s" % e)
        md = admin.list_topics(timeout=10)
        check(len(md.topics["orders"].partitions) == 4,
              "orders has %d partitions" % len(md.topics["orders"].partitions))
        check(md.controller_id == 0, "controller %d" % md.controller_id)

        res = admin.describe_configs([ConfigResource("topic", "orders")])
        cfg = list(res.values())[0].result(10)
        check(cfg["retention.ms"].value == "3600000",
              "retention.ms = %s" % cfg["retention.ms"].value)
        check("fsync" in cfg and "segment.bytes" in cfg,
              "configs: %s" % sorted(cfg))
        check(cfg["segment.bytes"].is_default, "segment.bytes not default")
        # AlterConfigs replaces the topic's whole config.
        res = admin.alter_configs([ConfigResource(
            "topic", "orders", set_config={"retention.ms": "7200000",
                                           "fsync": "always"})])
        list(res.values())[0].result(10)
        cfg = list(admin.describe_configs(
            [ConfigResource("topic", "orders")]).values())[0].result(10)
        check(cfg["retention.ms"].value == "7200000" and
              cfg["fsync"].value == "always",
              "after alter: %s %s" % (cfg["retention.ms"].value,
                                      cfg["fsync"].value))
        res = admin.describe_configs([ConfigResource("broker", "0")])
        bcfg = list(res.values())[0].result(10)
        check(bcfg["broker.id"].value == "0", "broker.id: %s" % bcfg)

        # Idempotent producer, acks=all, delivery reports.
        p = Producer({"bootstrap.servers": bs, "acks": "all",
                      "enable.idempotence": True, "linger.ms": 5})
        reports = []

        def dr(err, msg):
            reports.append((err, msg.partition(), msg.offset()))
        n = 300
        for i in range(n):
            p.produce("orders", key=b"key-%d" % i, value=b"value-%d" % i,
                      headers=[("seq", str(i).encode())], on_delivery=dr,
                      timestamp=1_000_000 + i)
        check(p.flush(30) == 0, "messages left unflushed")
        errs = [r for r in reports if r[0] is not None]
        check(len(reports) == n and not errs,
              "%d reports, errors %s" % (len(reports), errs[:3]))
        per_part = {}
        for _, part, off in reports:
            per_part.setdefault(part, []).append(off)
        for part, offs in per_part.items():
            check(sorted(offs) == list(range(len(offs))),
                  "partition %d offsets %s" % (part, sorted(offs)[:10]))

        del p
        b.restart()
        bs = b.bootstrap

        msgs = consume(bs, [TopicPartition("orders", i, ck.OFFSET_BEGINNING)
                            for i in range(4)], n)
        check(len(msgs) == n, "consumed %d of %d" % (len(msgs), n))
        seen = sorted(int(m.value().split(b"-")[1]) for m in msgs)
        check(seen == list(range(n)), "values differ")
        for m in msgs:
            i = int(m.value().split(b"-")[1])
            check(m.key() == b"key-%d" % i, "key %r" % m.key())
            check(m.headers() == [("seq", str(i).encode())],
                  "headers %r" % m.headers())
            check(m.timestamp()[1] == 1_000_000 + i,
                  "timestamp %r" % (m.timestamp(),))

        # From an offset.
        part0 = sorted(r[2] for r in reports if r[1] == 0)
        if len(part0) > 2:
            msgs = consume(bs, [TopicPartition("orders", 0, 2)],
                           len(part0) - 2)
            check([m.offset() for m in msgs] == part0[2:],
                  "from offset 2: %s" % [m.offset() for m in msgs][:5])

        # Offsets by time: the first record at or after a timestamp.
        c = Consumer({"bootstrap.servers": bs, "group.id": "ndtest-t"})
        tps = c.offsets_for_times(
            [TopicPartition("orders", i, 1_000_000 + 150) for i in range(4)],
            timeout=10)
        for tp in tps:
            check(tp.error is None, "offsets_for_times: %s" % tp.error)
        late = c.offsets_for_times([TopicPartition("orders", 0, 9_000_000)],
                                   timeout=10)
        lo, hi = c.get_watermark_offsets(TopicPartition("orders", 0),
                                         timeout=10)
        check(lo == 0 and hi == len(part0), "watermarks %d %d" % (lo, hi))
        check(late[0].offset in (-1, hi), "late lookup: %s" % late[0])
        c.close()
        # Check the by-time answer against what the records say.
        allmsgs = consume(bs, [TopicPartition("orders", i, ck.OFFSET_BEGINNING)
                               for i in range(4)], n)
        for tp in tps:
            mine = sorted((m.offset(), m.timestamp()[1]) for m in allmsgs
                          if m.partition() == tp.partition)
            want = next((o for o, ts in mine if ts >= 1_000_000 + 150), -1)
            got = tp.offset
            check(got == want or (want == -1 and got == len(mine)),
                  "partition %d by time: got %d want %d"
                  % (tp.partition, got, want))

        fs = admin.delete_topics(["orders"], operation_timeout=10)
        fs["orders"].result(10)
        md = admin.list_topics(timeout=10)
        check("orders" not in md.topics, "orders still listed")
        try:
            admin.delete_topics(["orders"])["orders"].result(10)
            ndtest.fail("deleting a missing topic succeeded")
        except ck.KafkaException as e:
            check(e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART,
                  "delete missing: %s" % e)
        # A clean stop, and nothing from the sanitizers when built with them.
        code = b.stop()
        check(code == 0, "nodata serve exited with %s" % code)
        check("Sanitizer" not in b.stderr() and "runtime error" not in b.stderr(),
              "sanitizer report:\n%s" % b.stderr()[-4000:])
    ndtest.passed()


if __name__ == "__main__":
    main()
