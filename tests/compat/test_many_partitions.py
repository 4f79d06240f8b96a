"""test_many_partitions.py — the broker with 100,000 partitions, a
descriptor limit of 1,024 and the kernel's mapping limit as it is (issue 7,
limits; issue 14, maps): topic creation, produce with acks=all to
partitions spread over all of them, consume them back, restart (a clean
open of 100,000 partitions) and do it again; the broker's open descriptors
stay under the limit (libnodata's descriptor cache) and its mappings far
under vm.max_map_count (the index mapping cache; two mappings per
partition used to exhaust 65,530 at about 32,000 partitions). The CLI
lists the store under the same descriptor limit. Data on tmpfs when there
is one: the test is about descriptors and mappings, not about the disk.
"""
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTS = 100000


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def mappings(pid):
    """(all mappings, index-file mappings) of a process."""
    with open("/proc/%d/maps" % pid) as f:
        lines = f.readlines()
    return len(lines), sum(1 for x in lines if "index" in x)


def produce_consume(b, picked, tag):
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                  "linger.ms": 5})
    errors = []
    for part in picked:
        p.produce("wide", value=b"%s%d" % (tag, part), partition=part,
                  on_delivery=lambda e, m: e and errors.append(e))
    check(p.flush(120) == 0 and not errors, "produce: %s" % errors[:3])
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
        seen.setdefault(m.partition(), []).append(m.value())
    c.close()
    return seen


# The broker inherits the limit (it raises its soft limit only to the hard
# one).
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
with tempfile.TemporaryDirectory(prefix="nd-wide-", dir=base) as tmp:
    data = os.path.join(tmp, "data")
    with ndtest.Broker(data_dir=data) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        t0 = time.monotonic()
        for f in admin.create_topics([NewTopic("wide", PARTS, 1)],
                                     operation_timeout=300).values():
            f.result(300)
        t_create = time.monotonic() - t0
        md = admin.list_topics("wide", timeout=60)
        check(len(md.topics["wide"].partitions) == PARTS,
              "metadata shows %d partitions" % len(md.topics["wide"].partitions))
        rng = random.Random(7)
        picked = sorted(set(rng.randrange(PARTS) for _ in range(300)) | {0, PARTS - 1})
        seen = produce_consume(b, picked, b"p")
        check(seen == {part: [b"p%d" % part] for part in picked},
              "read back %d of %d partitions" % (len(seen), len(picked)))
        fds = len(os.listdir("/proc/%d/fd" % b.pid))
        check(fds < 1024, "broker holds %d descriptors" % fds)
        maps, index_maps = mappings(b.pid)
        check(maps < 32000, "broker holds %d mappings" % maps)
        # Clean restart: an open of 100,000 partitions, then the same again.
        b.stop()
        t0 = time.monotonic()
        b.start(timeout=120)
        t_open = time.monotonic() - t0
        seen = produce_consume(b, picked, b"q")
        check(seen == {part: [b"p%d" % part, b"q%d" % part] for part in picked},
              "after restart, read back %d of %d partitions"
              % (len(seen), len(picked)))
        fds2 = len(os.listdir("/proc/%d/fd" % b.pid))
        check(fds2 < 1024, "restarted broker holds %d descriptors" % fds2)
        maps2, index_maps2 = mappings(b.pid)
        check(maps2 < 32000, "restarted broker holds %d mappings" % maps2)
        rss = b.rss_kb()
    # The CLI opens the same store under the same descriptor limit.
    t0 = time.monotonic()
    out = subprocess.run([ndtest.nodata_bin(), "topics", "list", "--data",
                          data], capture_output=True, text=True)
    t_list = time.monotonic() - t0
    check(out.returncode == 0 and out.stdout.split() == ["wide"],
          "topics list: rc %d %r" % (out.returncode, out.stderr[-300:]))
    print("%d partitions under ulimit -n 1024: create %.1f s, restart %.1f s, "
          "CLI list %.1f s; %d partitions written and read twice; broker at "
          "%d/%d descriptors, %d/%d mappings (%d/%d of index files), %d MB "
          "resident" % (PARTS, t_create, t_open, t_list, len(picked), fds,
                        fds2, maps, maps2, index_maps, index_maps2,
                        rss // 1024))
ndtest.passed()
