"""test_recovery_log.py — issue 17: `nodata serve` says at start what
recovery did (nd_recovery_report).

After a clean shutdown the broker logs only the summary line: a clean
shutdown, no partition needed work, nothing cut. After a torn tail (bytes
past the recovery point of the newest segment, and no clean-shutdown
marker, as after a crash in the middle of a write) it logs one line for
the partition naming the topic, partition, segment file, the byte the file
now ends at, the first offset cut and the bytes cut, and a summary line
that counts them; the partition serves every record it had.
"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def check_records(bootstrap):
    """Partition 0 of r holds exactly the 300 records produced."""
    got = ndtest.read_partition(bootstrap, "r", 0)
    check(got == {i: b"v-%05d" % i for i in range(300)},
          "partition 0: %d records, want the 300 produced" % len(got))


def start(b):
    """Start b; return what it wrote to stderr during this start."""
    before = len(b.stderr())
    b.start()
    # The recovery lines precede the start-up line (nd_open comes first).
    return b.stderr()[before:]


with ndtest.Broker(args=["--min-segment-bytes", "4096"]) as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fs = admin.create_topics([NewTopic("r", 2, 1,
                                       config={"segment.bytes": "4096"})])
    for f in fs.values():
        f.result(30)
    pr = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    for i in range(300):
        pr.produce("r", value=b"v-%05d" % i, partition=0)
        if i % 25 == 24:  # many small batches: several segments
            pr.flush(30)
    check(pr.flush(30) == 0, "produce did not finish")
    ndtest.stop_clean(b)

    # ---- a clean restart: the summary alone ------------------------------
    err = start(b)
    check("INFO  recovery: clean shutdown before; 0 of 2 partitions "
          "needed work: 0 segments scanned, 0 indexes rebuilt, 0 bytes cut"
          in err, "clean start: no summary line: %r" % err)
    check("recovery: topic" not in err,
          "clean start: a partition line: %r" % err)
    check_records(b.bootstrap)
    ndtest.stop_clean(b)

    # ---- a torn tail ------------------------------------------------------
    p0 = os.path.join(b.data_dir, "topics", ndtest.topic_dir("r"), "0")
    logs = sorted(glob.glob(os.path.join(p0, "*.log")))
    check(len(logs) >= 2, "want several segments, have %d" % len(logs))
    newest = logs[-1]
    size = os.path.getsize(newest)
    with open(newest, "ab") as f:  # a batch header cut short
        f.write(b"\0\0\0\0\0\0\0\x64\0\0\x10\0\0\0\0\0\0")
    os.unlink(os.path.join(b.data_dir, "clean-shutdown"))
    err = start(b)
    name = os.path.basename(newest)
    # A partition that lost bytes is a WARN line; the summary is INFO.
    m = re.search(r"WARN  recovery: topic 'r' partition 0: 1 segments "
                  r"scanned, 1 indexes rebuilt, cut 17 bytes at %s byte "
                  r"(\d+) \(offset (\d+) on; 0 later segments deleted\): "
                  % re.escape(name), err)
    check(m, "torn tail: no partition line naming %s: %r" % (name, err))
    check(int(m.group(1)) == size and int(m.group(2)) == 300,
          "the line names byte %s offset %s, want %d and 300"
          % (m.group(1), m.group(2), size))
    # Partition 1 was only scanned from its recovery point (empty log).
    check("INFO  recovery: unclean shutdown before; " in err and
          " 17 bytes cut, 0 segments deleted, 0 partitions offline" in err,
          "torn tail: summary line: %r" % err)
    check(os.path.getsize(newest) == size, "the torn bytes were not cut")
    check_records(b.bootstrap)
    ndtest.stop_clean(b)
ndtest.passed()
