"""test_many_partitions.py — the broker with 10,000 partitions and a
descriptor limit of 1,024 (issue 7, limits): topic creation, produce with
acks=all to partitions spread over all of them, consume them back; the
broker's open descriptors stay under the limit (libnodata's descriptor
cache). Data on tmpfs when there is one: the test is about descriptors,
not about the disk.
"""
import os
import random
import resource
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTS = 10000


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


# The broker inherits the limit (it raises its soft limit only to the hard
# one).
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
with tempfile.TemporaryDirectory(prefix="nd-wide-", dir=base) as tmp:
    with ndtest.Broker(data_dir=os.path.join(tmp, "data")) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.create_topics([NewTopic("wide", PARTS, 1)],
                                     operation_timeout=60).values():
            f.result(120)
        md = admin.list_topics("wide", timeout=60)
        check(len(md.topics["wide"].partitions) == PARTS,
              "metadata shows %d partitions" % len(md.topics["wide"].partitions))
        rng = random.Random(7)
        picked = sorted(set(rng.randrange(PARTS) for _ in range(300)) | {0, PARTS - 1})
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                      "linger.ms": 5})
        errors = []
        for part in picked:
            p.produce("wide", value=b"p%d" % part, partition=part,
                      on_delivery=lambda e, m: e and errors.append(e))
        check(p.flush(60) == 0 and not errors, "produce: %s" % errors[:3])
        fds = len(os.listdir("/proc/%d/fd" % b.pid))
        check(fds < 1024, "broker holds %d descriptors" % fds)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "wide",
                      "enable.partition.eof": True})
        c.assign([TopicPartition("wide", part, 0) for part in picked])
        seen, eofs = {}, set()
        while len(eofs) < len(picked):
            m = c.poll(10)
            check(m is not None, "consume timed out with %d of %d partitions"
                  % (len(eofs), len(picked)))
            if m.error():
                check(m.error().code() == KafkaError._PARTITION_EOF,
                      str(m.error()))
                eofs.add(m.partition())
                continue
            seen[m.partition()] = m.value()
        c.close()
        check(seen == {part: b"p%d" % part for part in picked},
              "read back %d of %d partitions" % (len(seen), len(picked)))
        print("10,000 partitions under ulimit -n 1024: %d partitions written "
              "and read, broker at %d descriptors" % (len(picked), fds))
ndtest.passed()
