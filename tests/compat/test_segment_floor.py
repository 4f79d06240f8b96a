"""test_segment_floor.py — a client cannot make a partition roll at every
record, and rolls that do happen cost a bounded number of mappings.

Issue 15: `segment.bytes=14` (the minimum accepted then) plus 32,726 tiny
produces made every append fail, for every topic, once each active segment
held two index mappings. Kafka 4 refuses segment.bytes below 1 MiB
(KIP-1030); so does nodata, in Kafka's words: INVALID_CONFIG for a topic,
INVALID_REQUEST for the broker default (what Kafka 4.4 answers, checked
against it). `--min-segment-bytes` lowers the floor for tests; then 2,000
one-record segments through the broker keep the index mappings within
--max-mapped-indexes, and every record is read back.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

FLOOR = "Value must be at least 1048576"


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def create_error(admin, name, config):
    try:
        admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(10)
        return None
    except KafkaException as e:
        return e.args[0]


def alter_error(admin, resource):
    try:
        admin.alter_configs([resource])[resource].result(10)
        return None
    except KafkaException as e:
        return e.args[0]


def index_maps(pid):
    with open("/proc/%d/maps" % pid) as f:
        return sum(1 for line in f if line.rstrip().endswith("index"))


with ndtest.Broker() as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    err = create_error(admin, "tiny", {"segment.bytes": "14"})
    check(err is not None and err.code() == 40 and
          err.str() == "Invalid value 14 for configuration segment.bytes: " + FLOOR,
          "create with segment.bytes=14: %s" % err)
    check(create_error(admin, "mib", {"segment.bytes": "1048576"}) is None,
          "1 MiB segments refused")
    err = alter_error(admin, ConfigResource("topic", "mib",
                                            set_config={"segment.bytes": "1048575"}))
    check(err is not None and err.code() == 40 and FLOOR in err.str(),
          "alter to 1048575: %s" % err)
    err = alter_error(admin, ConfigResource("broker", "0",
                                            set_config={"log.segment.bytes": "14"}))
    check(err is not None and err.code() == 42 and
          err.str() == "Invalid value 14 for configuration log.segment.bytes: "
          + FLOOR, "broker log.segment.bytes=14: %s" % err)
    ndtest.stop_clean(b)

BOUND = 16
with ndtest.Broker(args=["--min-segment-bytes", "14",
                         "--max-mapped-indexes", str(BOUND)]) as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    check(create_error(admin, "tiny", {"segment.bytes": "14",
                                       "index.interval.bytes": "1"}) is None,
          "segment.bytes=14 refused below a lowered floor")
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                  "linger.ms": 0, "batch.num.messages": 1})
    acked = {}

    def cb(err, msg):
        check(err is None, "produce: %s" % err)
        acked[msg.offset()] = msg.value()
    most = 0
    for i in range(2000):
        p.produce("tiny", value=b"r%05d" % i, partition=0, on_delivery=cb)
        if i % 50 == 49:
            p.flush(10)
            most = max(most, index_maps(b.pid))
    p.flush(10)
    check(len(acked) == 2000, "%d of 2000 acknowledged" % len(acked))
    seen = ndtest.read_partition(b.bootstrap, "tiny")
    most = max(most, index_maps(b.pid))
    check(seen == acked, "read back %d of %d" % (len(seen), len(acked)))
    segs = [f for f in os.listdir(os.path.join(
        b.data_dir, "topics", ndtest.topic_dir("tiny"), "0")) if f.endswith(".log")]
    check(len(segs) > 1000, "only %d segments: the rolls did not happen" % len(segs))
    check(most <= BOUND, "%d index mappings, bound %d" % (most, BOUND))
    print("%d segments, at most %d index mappings (bound %d)"
          % (len(segs), most, BOUND))
    ndtest.stop_clean(b)
ndtest.passed()
