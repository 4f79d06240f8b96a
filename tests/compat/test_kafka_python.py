"""test_kafka_python.py — kafka-python 2.0 against `nodata serve`:
KafkaProducer (gzip, keys, headers) and KafkaConsumer with manual
assignment, offsets by time and watermarks, KafkaAdminClient create and
delete; a restart between produce and consume.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

kafka = ndtest.require("kafka")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def main():
    with ndtest.Broker() as b:
        bs = b.bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bs)
        r = admin.create_topics([NewTopic("kp", 2, 1)])
        check(all(e[1] == 0 for e in r.topic_errors), "create: %s" % r)

        p = KafkaProducer(bootstrap_servers=bs, compression_type="gzip",
                          acks="all")
        # The inferred release decides which request versions it sends: a
        # coherent table makes it pick Produce v7+ and magic 2.
        check(p.config["api_version"] >= (2, 1),
              "api_version %s" % (p.config["api_version"],))
        n = 200
        futs = [p.send("kp", key=b"k%d" % i, value=b"v%d" % i * 10,
                       headers=[("i", str(i).encode())], partition=i % 2,
                       timestamp_ms=2_000_000 + i) for i in range(n)]
        p.flush(30)
        metas = [f.get(10) for f in futs]
        for part in (0, 1):
            offs = [m.offset for m in metas if m.partition == part]
            check(offs == list(range(n // 2)),
                  "partition %d offsets %s" % (part, offs[:5]))
        p.close()
        admin.close()

        b.restart()
        bs = b.bootstrap

        c = KafkaConsumer(bootstrap_servers=bs, auto_offset_reset="earliest",
                          consumer_timeout_ms=5000)
        tps = [TopicPartition("kp", 0), TopicPartition("kp", 1)]
        c.assign(tps)
        got = list(c)
        check(len(got) == n, "consumed %d of %d" % (len(got), n))
        for m in got:
            i = int(m.key[1:])
            check(m.value == b"v%d" % i * 10, "value of %d" % i)
            check(m.headers == [("i", str(i).encode())], "headers %s"
                  % m.headers)
            check(m.timestamp == 2_000_000 + i, "timestamp %d" % m.timestamp)
            check(m.partition == i % 2, "partition of %d" % i)

        end = c.end_offsets(tps)
        beg = c.beginning_offsets(tps)
        check(all(end[tp] == n // 2 and beg[tp] == 0 for tp in tps),
              "watermarks %s %s" % (end, beg))
        # Record i sits in partition i%2 at offset i//2.
        ft = c.offsets_for_times({tps[0]: 2_000_000 + 51,
                                  tps[1]: 9_000_000})
        check(ft[tps[0]].offset == 26 and ft[tps[0]].timestamp == 2_000_052,
              "by time: %r" % (ft[tps[0]],))
        check(ft[tps[1]] is None, "late by time: %r" % (ft[tps[1]],))

        c.seek(tps[1], 90)
        rest = list(c)
        check([m.offset for m in rest] == list(range(90, 100)),
              "after seek: %s" % [m.offset for m in rest])
        c.close()

        admin = KafkaAdminClient(bootstrap_servers=bs)
        r = admin.delete_topics(["kp"])
        check(all(e[1] == 0 for e in r.topic_error_codes), "delete: %s" % r)
        admin.close()
        # A clean stop, and nothing from the sanitizers when built with them.
        code = b.stop()
        check(code == 0, "nodata serve exited with %s" % code)
        check("Sanitizer" not in b.stderr() and "runtime error" not in b.stderr(),
              "sanitizer report:\n%s" % b.stderr()[-4000:])
    ndtest.passed()


main()
