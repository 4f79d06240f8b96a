"""test_lock_removed.py — deleting nodata.lock does not let a second broker
share the data directory.

The lock was an flock on nodata.lock; once a cleanup script removed the
file, a second `nodata serve` locked a fresh one and both brokers
acknowledged writes to the same logs (issue 15: acks=all records lost, the
log corrupted). Now the directory itself is locked: the second broker must
refuse to start and name the first one's pid, and the first keeps serving
every acknowledged record.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def produce(bootstrap, values):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "message.timeout.ms": 10000})
    acked = {}

    def cb(err, msg):
        check(err is None, "produce failed: %s" % err)
        acked[msg.offset()] = msg.value()
    for v in values:
        p.produce("t", value=v, partition=0, on_delivery=cb)
    p.flush(15)
    check(len(acked) == len(values), "only %d acknowledged" % len(acked))
    return acked


with ndtest.Broker() as a:
    acked = produce(a.bootstrap, [b"a%04d" % i for i in range(500)])
    lock = os.path.join(a.data_dir, "nodata.lock")
    os.unlink(lock)
    b = ndtest.Broker(data_dir=a.data_dir, start=False)
    try:
        b.start()
        ndtest.fail("a second broker started on a directory held by pid %d"
                    % a.pid)
    except ndtest.BrokerError:
        pass
    check(b.exit_code not in (None, 0), "second broker exit %s" % b.exit_code)
    check(("in use by pid %d" % a.pid) in b.stderr(),
          "the refusal does not name the holder: %r" % b.stderr())
    b.close()
    acked.update(produce(a.bootstrap, [b"b%04d" % i for i in range(500)]))
    seen = ndtest.read_partition(a.bootstrap, "t")
    check(seen == acked, "%d acknowledged, %d read back identical"
          % (len(acked), sum(seen.get(o) == v for o, v in acked.items())))
    ndtest.stop_clean(a)
print("second broker refused with the lock file gone; %d records intact"
      % len(acked))
ndtest.passed()
