"""test_diff_compaction_config.py — issue 18's settings and its one new
refusal, run against Apache Kafka 4.4 and nodata in the same test run and
compared field by field (differential.py):

- keyless records on a compacted topic: confluent-kafka's producer gets
  its delivery error (a keyed record and a keyless one to a delete topic
  go through); raw Produce v9 requests give the whole partition answer
  (error code, base offset, log start, error_message, record_errors) for
  a keyless batch, a batch mixing keyed and keyless records, the same
  gzip'ed, five keyless records (Kafka's message shows three), a keyless
  record beside an out-of-range timestamp, an empty key and a tombstone
  (accepted); nothing of a refused batch is stored (watermarks);
- a topic altered to compact keeps the keyless records it holds, and
  refuses new ones;
- CreateTopics with good and bad values of cleanup.policy,
  min.cleanable.dirty.ratio, min/max.compaction.lag.ms,
  delete.retention.ms, segment.ms (error code and message);
- DescribeConfigs (v4, synonyms) of those six: value, read-only flag,
  source, sensitivity, synonyms, type;
- IncrementalAlterConfigs SET, DELETE, APPEND, SUBTRACT on cleanup.policy
  (APPEND and SUBTRACT on the effective value, the default included), on
  the non-list settings, bad values and a min lag above the max lag;
  AlterConfigs (confluent-kafka's alter_configs) with a bad value.
"""
import gzip
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402

import test_kafka_versions as kv  # noqa: E402
import test_produce_poison as tpp  # noqa: E402
from kafka_errors import UNKNOWN_TOPIC_OR_PARTITION  # noqa: E402

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC = 2
SIX = ["cleanup.policy", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
       "max.compaction.lag.ms", "delete.retention.ms", "segment.ms"]
HOUR = 3600000
# A timestamp error names the record's timestamp and a range from the
# broker's clock: compared without the numbers.
TS_RANGE = re.compile(r"^Timestamp -?\d+ (.*) \[-?\d+, -?\d+\]$")


def batch(records, ts, codec=None):
    """A RecordBatch v2 of (key, value, timestamp delta) records; key or
    value None is null. codec "gzip" compresses the records area."""
    recs = b""
    for i, (k, v, d) in enumerate(records):
        body = b"\x00" + kv.zigzag(d) + kv.zigzag(i)
        body += kv.zigzag(-1) if k is None else kv.zigzag(len(k)) + k
        body += kv.zigzag(-1) if v is None else kv.zigzag(len(v)) + v
        body += kv.zigzag(0)
        recs += kv.zigzag(len(body)) + body
    attrs = 0
    if codec == "gzip":
        recs = gzip.compress(recs)
        attrs = 1
    max_ts = ts + max(d for _, _, d in records)
    after_crc = struct.pack(">hiqqqhii", attrs, len(records) - 1, ts, max_ts,
                            -1, -1, -1, len(records)) + recs
    body = struct.pack(">ib", 0, 2) + struct.pack(">I", kv.crc32c(after_crc))
    body += after_crc
    return struct.pack(">qi", 0, len(body)) + body


def produce(c, topic, b):
    """Produce v9 of one batch to partition 0, acks=all: the partition's
    answer, append time left out (it is the broker's clock)."""
    (_, p), = tpp.produce(c, [(topic, b)])
    return {"error": p["error"], "base": p["base"], "log_start":
            p["log_start"], "message": p["message"],
            "record_errors": [(i, TS_RANGE.sub(r"Timestamp T \1 [LO, HI]", m))
                              for i, m in p["record_errors"]]}


def create(c, name, configs):
    """CreateTopics v7 of one topic, 1 partition: (error, message, the
    six settings as the response lists them: value, read-only, source,
    sensitive)."""
    body = kv.carray([kv.cstr(name) + struct.pack(">ih", 1, 1) +
                      kv.carray([]) +
                      kv.carray([kv.cstr(k) + kv.cstr(v) + kv.TAGS
                                 for k, v in configs]) + kv.TAGS])
    body += struct.pack(">i", 10000) + b"\x00" + kv.TAGS
    rd = c.call(19, 7, body)
    rd.i32()

    def topic(r):
        t = (r.cstr(), r.uuid(), r.i16(), r.cstr(), r.i32(), r.i16(),
             r.carray(lambda q: (q.cstr(), q.cstr(), q.i8(), q.i8(), q.i8(),
                                 q.tags())[:5]))
        r.tags()
        return t
    ts = rd.carray(topic)
    rd.tags()
    rd.end()
    return ts[0][2], ts[0][3], sorted(e for e in ts[0][6] or []
                                      if e[0] in SIX)


def describe(c, name):
    """The six settings of a topic as DescribeConfigs v4 gives them.
    Kafka's answer may lag its controller a moment after a create."""
    for _ in range(100):
        r = kv.describe_configs(c, name, SIX)
        if r["error"] != UNKNOWN_TOPIC_OR_PARTITION:
            break
        time.sleep(0.1)
    out = {"error": r["error"], "message": r["message"]}
    for cfg in r["configs"]:
        cfg.pop("doc")
        out[cfg.pop("name")] = cfg
    return out


FENCES = [0]


def fence(c):
    """Kafka answers an alter once its controller has the change; the
    broker applies it a moment later, in metadata order. A topic created
    after it and seen by DescribeConfigs is a barrier: the change is
    applied by then. (nodata applies it before answering.)"""
    FENCES[0] += 1
    name = "fence-%d" % FENCES[0]
    create(c, name, [])
    describe(c, name)


def alter(c, name, configs):
    """IncrementalAlterConfigs v1, then the topic's six settings as
    described (value, source): (error, message, values)."""
    err, msg, _, _ = kv.incremental_alter(c, TOPIC, name, configs)
    fence(c)
    r = kv.describe_configs(c, name, SIX)
    return err, msg, {x["name"]: (x["value"], x["source"])
                      for x in r["configs"]}


def watermarks(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    finally:
        c.close()


def client_produce(bootstrap, topic, records):
    """confluent-kafka's producer, no retries: each record's delivery
    (error code or None, offset)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0,
                  "retries": 0, "acks": "all"})
    out = []
    for k, v in records:
        p.produce(topic, key=k, value=v, partition=0, on_delivery=lambda e, m:
                  out.append((None if e is None else e.code(), m.offset())))
        p.flush(30)
    return out


def keyless(bootstrap, c):
    seen = {}
    for name, policy in (("cmp", "compact"), ("both", "compact,delete"),
                         ("plain", "delete")):
        seen["create " + name] = create(c, name, [("cleanup.policy", policy)])
    seen["client"] = {
        t: client_produce(bootstrap, t, [(b"k", b"v"), (None, b"nokey"),
                                         (b"", b"empty key")])
        for t in ("cmp", "both", "plain")}
    now = kv_now()
    tries = {
        "one keyless": ("cmp", [(None, b"a", 0)], None),
        "mixed": ("cmp", [(b"k1", b"a", 0), (None, b"b", 0), (b"k2", b"c", 0),
                          (None, b"d", 0)], None),
        "mixed gzip": ("cmp", [(b"k1", b"a", 0), (None, b"b", 0),
                               (b"k2", b"c", 0), (None, b"d", 0)], "gzip"),
        "five keyless": ("both", [(None, b"%d" % i, 0) for i in range(5)],
                         None),
        "keyless and late": ("cmp", [(b"k1", b"a", 0), (None, b"b", 0),
                                     (b"k3", b"c", 2 * HOUR),
                                     (None, b"d", 2 * HOUR)], None),
        "tombstone": ("cmp", [(b"k1", None, 0)], None),
        "empty key": ("cmp", [(b"", b"e", 0)], "gzip"),
    }
    for what, (t, recs, codec) in tries.items():
        seen["produce " + what] = produce(c, t, batch(recs, now, codec))
    for t in ("cmp", "both", "plain"):
        seen["watermarks " + t] = watermarks(bootstrap, t)
    # Compaction turned on later: what is stored stays, new keyless fail.
    seen["to compact"] = kv.incremental_alter(
        c, TOPIC, "plain", [("cleanup.policy", SET, "compact")])[:2]
    fence(c)
    seen["after: produce"] = produce(c, "plain", batch([(None, b"x", 0)], now))
    seen["after: watermarks"] = watermarks(bootstrap, "plain")
    seen["after: client"] = client_produce(bootstrap, "plain",
                                           [(None, b"y"), (b"k", b"z")])
    return seen


def kv_now():
    return int(time.time() * 1000)


def creates(c):
    seen = {}
    tries = [
        ("cleanup.policy", "shred"), ("cleanup.policy", ""),
        ("cleanup.policy", "compact,compact"), ("cleanup.policy", "Compact"),
        ("cleanup.policy", " compact , delete "),
        ("cleanup.policy", "delete,compact"), ("cleanup.policy", "compact,"),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("min.cleanable.dirty.ratio", "-0.1"),
        ("min.cleanable.dirty.ratio", "half"),
        ("min.cleanable.dirty.ratio", "1"), ("min.cleanable.dirty.ratio", "0"),
        ("min.cleanable.dirty.ratio", "0.25"),
        ("min.compaction.lag.ms", "-1"), ("max.compaction.lag.ms", "0"),
        ("max.compaction.lag.ms", "1"), ("delete.retention.ms", "-1"),
        ("delete.retention.ms", "0"), ("segment.ms", "0"),
        ("segment.ms", "1"), ("segment.ms", "x"),
    ]
    for i, (k, v) in enumerate(tries):
        name = "c%d" % i
        r = create(c, name, [(k, v)])
        seen["create %s=%r" % (k, v)] = r
        if r[0] == 0:
            seen["describe %s=%r" % (k, v)] = describe(c, name)
    seen["create min > max"] = create(c, "lags", [
        ("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")])
    seen["create min = max"] = create(c, "lags2", [
        ("min.compaction.lag.ms", "7"), ("max.compaction.lag.ms", "7")])
    seen["describe default"] = create(c, "dflt", []), describe(c, "dflt")
    seen["describe min = max"] = describe(c, "lags2")
    return seen


def alters(c):
    seen = {}
    create(c, "alt", [])
    steps = [
        [("cleanup.policy", APPEND, "compact")],
        [("cleanup.policy", APPEND, "compact")],
        [("cleanup.policy", SUBTRACT, "delete")],
        [("cleanup.policy", SUBTRACT, "compact")],
        [("cleanup.policy", SET, "compact,delete")],
        [("cleanup.policy", SUBTRACT, "shred")],
        [("cleanup.policy", APPEND, "shred")],
        [("cleanup.policy", DELETE, None)],
        [("cleanup.policy", SUBTRACT, "delete")],
        [("cleanup.policy", SET, "")],
        [("cleanup.policy", SET, "compact")],
        [("cleanup.policy", APPEND, "delete,compact")],
        [("cleanup.policy", SET, "shred")],
        [("min.cleanable.dirty.ratio", SET, "1.5")],
        [("min.cleanable.dirty.ratio", SET, "0.75")],
        [("min.cleanable.dirty.ratio", APPEND, "0.5")],
        [("min.cleanable.dirty.ratio", DELETE, None)],
        [("max.compaction.lag.ms", SET, "100")],
        [("min.compaction.lag.ms", SET, "200")],
        [("min.compaction.lag.ms", SET, "100")],
        [("max.compaction.lag.ms", SET, "50")],
        [("max.compaction.lag.ms", DELETE, None)],
        [("min.compaction.lag.ms", SET, "200"),
         ("max.compaction.lag.ms", SET, "150")],
        [("delete.retention.ms", SET, "-1")],
        [("delete.retention.ms", SET, "1000")],
        [("segment.ms", SET, "0")],
        [("segment.ms", SET, "60000")],
        [("segment.ms", SUBTRACT, "1")],
        [("delete.retention.ms", DELETE, None), ("segment.ms", DELETE, None),
         ("min.compaction.lag.ms", DELETE, None)],
    ]
    for i, step in enumerate(steps):
        seen["%02d %r" % (i, step)] = alter(c, "alt", step)
    return seen


def legacy_alter(bootstrap, c):
    """AlterConfigs (api 33) through confluent-kafka's admin client."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    seen = {}
    for configs in ({"cleanup.policy": "compact",
                     "min.cleanable.dirty.ratio": "0.1"},
                    {"cleanup.policy": "compact,shred"},
                    {"min.cleanable.dirty.ratio": "2"},
                    {"min.compaction.lag.ms": "9", "max.compaction.lag.ms":
                     "8"}):
        res = ConfigResource(ConfigResource.Type.TOPIC, "alt2",
                             set_config=configs)
        try:
            admin.alter_configs([res], request_timeout=15)[res].result()
            r = None
        except KafkaException as e:
            r = (e.args[0].code(), e.args[0].str())
        fence(c)
        d = admin.describe_configs([ConfigResource(
            ConfigResource.Type.TOPIC, "alt2")], request_timeout=15)
        vals = list(d.values())[0].result()
        seen[repr(sorted(configs.items()))] = (r, {
            k: vals[k].value for k in SIX})
    return seen


def scenario(bootstrap):
    c = kv.Conn(int(bootstrap.rsplit(":", 1)[1]))
    seen = {"keyless": keyless(bootstrap, c), "creates": creates(c),
            "alters": alters(c)}
    create(c, "alt2", [])
    seen["legacy"] = legacy_alter(bootstrap, c)
    return seen


if os.environ.get("ND_PROBE_KAFKA"):
    import json
    from apache_kafka import ApacheKafka
    with ApacheKafka() as k:
        print(json.dumps(scenario(k.bootstrap), indent=1, sort_keys=True,
                         default=repr))
    sys.exit(0)

want, got = differential.run_both(scenario)
differential.compare(want, got, what="compaction settings and keyless "
                     "records")
ndtest.passed()
