"""test_groups_kafka_python.py — kafka-python 2.0 KafkaConsumer with a
group_id and auto-commit against `nodata serve`: it reads every message
once, commits as it goes and on close; the committed offsets are what
KafkaConsumer.committed() and the admin client's list_consumer_group_offsets
report; after a broker restart the empty group is still listed and
described as a "consumer" group, and a new consumer of the group resumes
there and reads exactly what was produced since. The admin client also lists,
describes and deletes the group.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

TOPIC = "grp-kpy"
GROUP = "grp-kpy-g"
PARTS = 3


def consume(bootstrap, want, timeout=40):
    from kafka import KafkaConsumer
    c = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP,
                      enable_auto_commit=True, auto_commit_interval_ms=300,
                      auto_offset_reset="earliest", session_timeout_ms=6000,
                      heartbeat_interval_ms=1000, consumer_timeout_ms=500)
    got = []
    deadline = time.time() + timeout
    while len(got) < len(want) and time.time() < deadline:
        for m in c:
            got.append(m.value.decode())
    # Whatever else arrives within a second would be a re-read.
    end = time.time() + 1
    while time.time() < end:
        for m in c:
            got.append(m.value.decode())
    c.close()  # commits the final positions
    return got


def main():
    ndtest.require("kafka")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient

    with ndtest.Broker(args=["--group-initial-delay-ms", "200",
                             "--partitions", str(PARTS)]) as b:
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        vals = ["a%d" % i for i in range(150)]
        for i, v in enumerate(vals):
            p.send(TOPIC, key=str(i).encode(), value=v.encode())
        p.flush(30)

        got = consume(b.bootstrap, vals)
        if sorted(got) != sorted(vals):
            ndtest.fail("first run: %d values, %d distinct, want %d"
                        % (len(got), len(set(got)), len(vals)))

        # What was committed: every partition at its end.
        c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=GROUP,
                          enable_auto_commit=False)
        ends = c.end_offsets([TopicPartition(TOPIC, i) for i in range(PARTS)])
        for tp, end in ends.items():
            got_off = c.committed(tp)
            if got_off != end:
                ndtest.fail("committed %s = %s, end offset %s" % (tp, got_off,
                                                                  end))
        c.close()
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        offs = admin.list_consumer_group_offsets(GROUP)
        if {tp.partition: o.offset for tp, o in offs.items()} != \
                {tp.partition: e for tp, e in ends.items()}:
            ndtest.fail("list_consumer_group_offsets: %s" % offs)
        groups = admin.list_consumer_groups()
        if (GROUP, "consumer") not in groups:
            ndtest.fail("list_consumer_groups: %s" % groups)
        desc = admin.describe_consumer_groups([GROUP])
        if desc[0].group != GROUP or desc[0].state != "Empty":
            ndtest.fail("describe_consumer_groups: %s" % (desc,))
        admin.close()

        # Offsets survive a restart, and so does what the group is: an
        # empty group is still a "consumer" group, as on Kafka.
        b.restart()
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        groups = admin.list_consumer_groups()
        if (GROUP, "consumer") not in groups:
            ndtest.fail("list_consumer_groups after a restart: %s" % groups)
        desc = admin.describe_consumer_groups([GROUP])
        if (desc[0].state, desc[0].protocol_type) != ("Empty", "consumer"):
            ndtest.fail("describe_consumer_groups after a restart: %s"
                        % (desc,))
        admin.close()
        # The group resumes where it committed.
        p.close()
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        vals2 = ["b%d" % i for i in range(40)]
        for i, v in enumerate(vals2):
            p.send(TOPIC, key=str(i).encode(), value=v.encode())
        p.flush(30)
        p.close()
        got = consume(b.bootstrap, vals2)
        if sorted(got) != sorted(vals2):
            ndtest.fail("after the restart: %s" % sorted(got)[:10])

        # The admin client deletes the (now empty) group and its offsets.
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        res = admin.delete_consumer_groups([GROUP])
        if [(g, getattr(e, "__name__", type(e).__name__)) for g, e in res] \
                != [(GROUP, "NoError")]:
            ndtest.fail("delete_consumer_groups: %s" % res)
        offs = admin.list_consumer_group_offsets(GROUP)
        if offs:
            ndtest.fail("offsets after deleting the group: %s" % offs)
        admin.close()

        code = b.stop()
        if code != 0:
            ndtest.fail("nodata serve exited with %s" % code)
        err = b.stderr()
        if "Sanitizer" in err or "runtime error" in err:
            ndtest.fail("sanitizer report:\n%s" % err[-4000:])
    ndtest.passed()


if __name__ == "__main__":
    main()
