"""test_diff_broker_defaults.py — dynamic broker defaults of topic
settings, run against Apache Kafka 4.4 and nodata in the same test run and
compared field by field (differential.py).

A default set on the cluster-wide broker resource "" with
IncrementalAlterConfigs (log.retention.ms, log.segment.bytes,
message.max.bytes, log.cleanup.policy, log.roll.ms) applies at once to
every topic without an override of that key, existing ones included, and
to new ones. A topic override wins, even one equal to the default or to
the built-in default; deleting it (IncrementalAlterConfigs DELETE, or a
legacy AlterConfigs that leaves the key out) makes the topic follow the
broker default again. The scenario:

- topics "plain" (no configs), "own" (retention.ms=3600000), "own-dflt"
  (retention.ms=604800000, the built-in default, still an override) and
  "old" (segment.bytes 1 MiB, cleanup.policy=delete) holding two records
  stamped two days ago in segments of their own, and a current one;
- bad cluster defaults refused (error and message), nothing of a request
  with one applied; Kafka 4.4 takes log.retention.ms=-7 (any negative
  value is "forever": the topics' retention.ms is described as -1);
- the defaults set: DescribeConfigs v4 with synonyms of each topic (value,
  source, read-only, synonyms), of a topic created afterwards, and of the
  "" resource;
- effects: a keyless record to "plain" refused (it follows compact), to
  "old" accepted (its own delete); a 1.5 MB record to "plain" accepted and
  a 2.5 MB one refused (message.max.bytes 2000000); "old" loses its two
  old segments (retention.ms one day; ListOffsets earliest);
- DELETE of "own"'s retention.ms (follows the default), SET of "plain"'s
  to the default's value (an override: DYNAMIC_TOPIC_CONFIG); a legacy
  AlterConfigs of "own-dflt" with only segment.ms (its retention.ms
  override is gone);
- the defaults DELETEd: back to the built-in defaults, overrides kept;
- defaults set again, both brokers restarted: still followed, described
  and enforced (a keyless record refused, a 1.5 MB one accepted).

Kafka applies a broker config change a moment after answering: each
change is followed by settle(), which waits until the broker describes it
and then fences (a topic created and described after it).

nodata's built-in segment.bytes (134217728) differs from Kafka's
(1073741824), as docs/protocol.md says; describe() keeps a built-in
(DEFAULT_CONFIG) value under "default" so only those may differ.
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402

import test_kafka_versions as kv  # noqa: E402
import test_produce_poison as tpp  # noqa: E402
from kafka_errors import (INVALID_RECORD, MESSAGE_TOO_LARGE,  # noqa: E402
                          NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE,
                          UNKNOWN_TOPIC_OR_PARTITION)

SET, DELETE = 0, 1
TOPIC, BROKER = 2, 4
DEFAULT_CONFIG = 5
KEYS = ["retention.ms", "segment.bytes", "max.message.bytes",
        "cleanup.policy", "segment.ms"]
BROKER_KEYS = ["log.retention.ms", "log.segment.bytes", "message.max.bytes",
               "log.cleanup.policy", "log.roll.ms"]
DAY = 86400000
DEFAULTS = [("log.retention.ms", str(DAY)), ("log.segment.bytes", "2097152"),
            ("message.max.bytes", "2000000"),
            ("log.cleanup.policy", "compact,delete"),
            ("log.roll.ms", "7200000")]
TOPICS = ["plain", "own", "own-dflt", "old"]
OLD_RECORD = 600000  # three of them need three 1 MiB segments
# Kafka runs its retention check every 500 ms from the start (its first
# is 30 s after start by default); nodata's runs every 100 ms.
KAFKA_PROPS = ["log.retention.check.interval.ms=500",
               "log.initial.task.delay.ms=0"]


def now_ms():
    return int(time.time() * 1000)


def batch(records, ts):
    """A RecordBatch v2 of (key, value) records stamped ts; key None is
    null."""
    recs = b""
    for i, (k, v) in enumerate(records):
        body = b"\x00" + kv.zigzag(0) + kv.zigzag(i)
        body += kv.zigzag(-1) if k is None else kv.zigzag(len(k)) + k
        body += kv.zigzag(len(v)) + v + kv.zigzag(0)
        recs += kv.zigzag(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(records) - 1, ts, ts, -1, -1,
                            -1, len(records)) + recs
    body = struct.pack(">ib", 0, 2) + struct.pack(">I", kv.crc32c(after_crc))
    body += after_crc
    return struct.pack(">qi", 0, len(body)) + body


def produce(c, topic, records, ts=None):
    """Produce v9 of one batch to partition 0, acks=all: (error, base
    offset, error message). A partition not led yet (Kafka just after a
    create or a restart) is tried again."""
    b = batch(records, now_ms() if ts is None else ts)
    deadline = time.monotonic() + 30
    while True:
        (_, p), = tpp.produce(c, [(topic, b)])
        if p["error"] not in (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE,
                              UNKNOWN_TOPIC_OR_PARTITION) or \
                time.monotonic() > deadline:
            return p["error"], p["base"], p["message"]
        time.sleep(0.1)


def create(c, name, configs):
    """CreateTopics v7 of one topic, 1 partition: (error, message, KEYS
    as the response lists them: value or default, read-only, source)."""
    body = kv.carray([kv.cstr(name) + struct.pack(">ih", 1, 1) +
                      kv.carray([]) +
                      kv.carray([kv.cstr(k) + kv.cstr(v) + kv.TAGS
                                 for k, v in configs]) + kv.TAGS])
    body += struct.pack(">i", 10000) + b"\x00" + kv.TAGS
    rd = c.call(19, 7, body)
    rd.i32()

    def topic(r):
        t = (r.cstr(), r.uuid(), r.i16(), r.cstr(), r.i32(), r.i16(),
             r.carray(lambda q: ({"name": q.cstr(), "value": q.cstr(),
                                  "read_only": q.i8(), "source": q.i8()},
                                 q.i8(), q.tags())[0]))
        r.tags()
        return t
    ts = rd.carray(topic)
    rd.tags()
    rd.end()
    return ts[0][2], ts[0][3], {
        e["name"]: dict(entry(e), read_only=e["read_only"])
        for e in ts[0][6] or [] if e["name"] in KEYS}


def entry(e):
    """One described config or synonym as a dict; a built-in default's
    value is kept under "default" (see the top of the file)."""
    out = {"source": e["source"]}
    out["default" if e["source"] == DEFAULT_CONFIG else "value"] = e["value"]
    return out


def describe(c, name):
    """KEYS of a topic as DescribeConfigs v4 with synonyms gives them.
    Kafka's answer may lag its controller a moment after a create."""
    for _ in range(100):
        r = kv.describe_configs(c, name, KEYS)
        if r["error"] != UNKNOWN_TOPIC_OR_PARTITION:
            break
        time.sleep(0.1)
    out = {"error": r["error"], "message": r["message"]}
    for cfg in r["configs"]:
        d = entry(cfg)
        d["read_only"] = cfg["read_only"]
        d["synonyms"] = [dict(entry({"value": v, "source": s}), name=n)
                         for n, v, s in cfg["synonyms"]]
        out[cfg["name"]] = d
    return out


def describe_all(c, names=TOPICS):
    return {t: describe(c, t) for t in names}


def cluster_defaults(c):
    """What the "" resource lists of BROKER_KEYS: (value, source)."""
    r = kv.describe_configs(c, "", None, BROKER)
    return r["error"], {e["name"]: (e["value"], e["source"])
                        for e in r["configs"] if e["name"] in BROKER_KEYS}


FENCES = [0]


def fence(c):
    """A topic created after a change and seen by DescribeConfigs: Kafka
    has applied the change by then (metadata order)."""
    FENCES[0] += 1
    name = "fence-%d" % FENCES[0]
    create(c, name, [])
    describe(c, name)


def settle(c, want):
    """Wait (at most 15 s) until the broker (node 0 here, 1 on Kafka)
    describes each key of want at its value from the cluster default
    (None: not from it), then fence. Kafka answers an alter before its
    broker applies it; nodata after."""
    node = str(kv.describe_cluster(c)[4][0][0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = kv.describe_configs(c, node, list(want), BROKER)
        got = {e["name"]: e for e in r["configs"]}
        done = all(k in got and (got[k]["source"] != 3 if v is None else
                                 (got[k]["value"], got[k]["source"]) ==
                                 (v, 3)) for k, v in want.items())
        if done:
            break
        time.sleep(0.1)
    fence(c)
    return done


def set_defaults(c, pairs):
    r = kv.incremental_alter(c, BROKER, "", [(k, SET, v) for k, v in pairs])
    return r[:2] + (settle(c, dict(pairs)),)


def earliest(c, name):
    """ListOffsets earliest of partition 0: (error, offset)."""
    p = kv.list_offsets(c, name, -2)
    return p[1], p[3]


def wait_earliest(c, name, want, timeout=10):
    """The earliest offset once it is want, or after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        e = earliest(c, name)
        if e[1] == want or time.monotonic() > deadline:
            return e
        time.sleep(0.1)


def refusals(c):
    """Bad cluster defaults: each refused alone; then one bad among good
    ones, so nothing of the request applies."""
    seen = {}
    for k, v in [("log.segment.bytes", "1000"),
                 ("log.cleanup.policy", "shred"),
                 ("message.max.bytes", "-5"), ("log.retention.ms", "-7"),
                 ("log.retention.ms", "0"), ("log.roll.ms", "-3"),
                 ("log.retention.bytes", "-5"),
                 ("log.roll.ms", "0"), ("log.segment.bytes", "many")]:
        seen["%s=%s" % (k, v)] = kv.incremental_alter(
            c, BROKER, "", [(k, SET, v)])[:2]
    # A topic's retention.bytes has no lower bound in Kafka either.
    seen["topic retention.bytes=-5"] = kv.incremental_alter(
        c, TOPIC, "old", [("retention.bytes", SET, "-5")])[:2]
    seen["mixed"] = kv.incremental_alter(
        c, BROKER, "", [("log.retention.ms", SET, "5000"),
                        ("log.segment.bytes", SET, "1000")])[:2]
    fence(c)
    seen["cluster after"] = cluster_defaults(c)
    seen["plain after"] = describe(c, "plain")
    return seen


def legacy_alter(bootstrap, name, configs):
    """AlterConfigs (api 33) through confluent-kafka's admin client: the
    topic's whole override set becomes configs. (error code, text) or
    None."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, name,
                         set_config=configs)
    try:
        admin.alter_configs([res], request_timeout=15)[res].result()
        return None
    except KafkaException as e:
        return e.args[0].code(), e.args[0].str()


def scenario(bootstrap, broker):
    c = kv.Conn(int(bootstrap.rsplit(":", 1)[1]))
    seen = {}
    seen["create"] = {
        "plain": create(c, "plain", []),
        "own": create(c, "own", [("retention.ms", "3600000")]),
        "own-dflt": create(c, "own-dflt", [("retention.ms", "604800000")]),
        "old": create(c, "old", [("segment.bytes", "1048576"),
                                 ("cleanup.policy", "delete")])}
    # Two records two days old, a segment each (600 kB, 1 MiB segments),
    # then a current one in the active segment.
    two_days_ago = now_ms() - 2 * DAY
    seen["old produce"] = [
        produce(c, "old", [(b"a", b"a" * OLD_RECORD)], two_days_ago),
        produce(c, "old", [(b"b", b"b" * OLD_RECORD)], two_days_ago),
        produce(c, "old", [(b"c", b"c" * OLD_RECORD)])]
    seen["old earliest before"] = earliest(c, "old")
    seen["built-in"] = describe_all(c)
    seen["refusals"] = refusals(c)

    seen["set"] = set_defaults(c, DEFAULTS)
    seen["cluster"] = cluster_defaults(c)
    seen["followed"] = describe_all(c)
    seen["create after"] = create(c, "after", [])
    seen["after"] = describe(c, "after")

    big, too_big = b"x" * 1500000, b"y" * 2500000
    seen["effects"] = {
        "plain keyless": produce(c, "plain", [(None, b"no key")]),
        "plain keyed": produce(c, "plain", [(b"k", b"keyed")]),
        "plain 1.5 MB": produce(c, "plain", [(b"big", big)]),
        "plain 2.5 MB": produce(c, "plain", [(b"too big", too_big)]),
        "after keyless": produce(c, "after", [(None, b"no key")]),
        "own 1.5 MB": produce(c, "own", [(b"big", big)]),
        # "old" keeps its own delete, so a keyless record is fine
        "old keyless": produce(c, "old", [(None, b"no key")]),
        # retention.ms one day: the two old segments go
        "old earliest": wait_earliest(c, "old", 2)}

    seen["delete own"] = kv.incremental_alter(
        c, TOPIC, "own", [("retention.ms", DELETE, None)])[:2]
    seen["set plain"] = kv.incremental_alter(
        c, TOPIC, "plain", [("retention.ms", SET, str(DAY))])[:2]
    fence(c)
    seen["legacy own-dflt"] = legacy_alter(bootstrap, "own-dflt",
                                           {"segment.ms": "3600000"})
    fence(c)
    seen["overrides changed"] = describe_all(c, TOPICS + ["after"])

    r = kv.incremental_alter(c, BROKER, "", [(k, DELETE, None)
                                             for k, _ in DEFAULTS])
    seen["delete defaults"] = r[:2] + (
        settle(c, {k: None for k, _ in DEFAULTS}),)
    seen["cluster deleted"] = cluster_defaults(c)
    seen["defaults deleted"] = describe_all(c, TOPICS + ["after"])
    seen["deleted effects"] = {
        "plain keyless": produce(c, "plain", [(None, b"no key")]),
        "after 1.5 MB": produce(c, "after", [(b"big", big)])}

    seen["set again"] = set_defaults(c, [
        ("log.retention.ms", "43200000"), ("message.max.bytes", "2000000"),
        ("log.cleanup.policy", "compact")])
    broker.restart()
    c = kv.Conn(int(bootstrap.rsplit(":", 1)[1]))
    seen["settled after restart"] = settle(c, {
        "log.retention.ms": "43200000", "message.max.bytes": "2000000",
        "log.cleanup.policy": "compact"})
    seen["cluster restarted"] = cluster_defaults(c)
    seen["restarted"] = describe_all(c, TOPICS + ["after"])
    seen["restarted effects"] = {
        "after keyless": produce(c, "after", [(None, b"no key")]),
        "after 1.5 MB": produce(c, "after", [(b"big2", big)]),
        "old keyless": produce(c, "old", [(None, b"no key")])}

    # A default that conflicts with a topic's own setting is taken; the
    # topic describes both, and its next change must mend the conflict.
    seen["lags create"] = create(c, "lags", [("min.compaction.lag.ms", "10")])
    seen["lags set"] = set_defaults(c, [
        ("log.cleaner.max.compaction.lag.ms", "5")])
    fence(c)
    seen["lags"] = sorted((e["name"], e["value"], e["source"]) for e in
                          kv.describe_configs(c, "lags", [
                              "min.compaction.lag.ms",
                              "max.compaction.lag.ms"], TOPIC)["configs"])
    seen["lags other change"] = kv.incremental_alter(
        c, TOPIC, "lags", [("retention.ms", SET, "1000")])[:2]
    seen["lags mended"] = kv.incremental_alter(
        c, TOPIC, "lags", [("max.compaction.lag.ms", SET, "10")])[:2]
    return seen


def kafka_sanity(want):
    """What must hold on Kafka's side, so that a scenario that shows
    nothing (a default not applied on either broker) fails."""
    check = kv.check
    f = want["followed"]
    for k in ("set", "delete defaults", "set again"):
        check(want[k] == (0, None, True), "%s: %s" % (k, want[k]))
    check(f["plain"]["retention.ms"]["value"] == str(DAY) and
          f["plain"]["retention.ms"]["source"] == 3,
          "plain follows log.retention.ms: %s" % f["plain"])
    check(f["own"]["retention.ms"]["value"] == "3600000" and
          f["own"]["retention.ms"]["source"] == 1, "own: %s" % f["own"])
    check(f["own-dflt"]["retention.ms"]["value"] == "604800000" and
          f["own-dflt"]["retention.ms"]["source"] == 1,
          "own-dflt: %s" % f["own-dflt"])
    e = want["effects"]
    check(e["plain keyless"][0] == INVALID_RECORD and
          e["plain 1.5 MB"][0] == 0 and
          e["plain 2.5 MB"][0] == MESSAGE_TOO_LARGE and
          e["old keyless"][0] == 0 and e["old earliest"] == (0, 2),
          "effects: %s" % e)
    check(("max.compaction.lag.ms", "5", 3) in want["lags"] and
          ("min.compaction.lag.ms", "10", 1) in want["lags"] and
          want["lags other change"][0] == 40 and
          want["lags mended"] == (0, None),
          "conflicting default: %s %s %s" % (
              want["lags"], want["lags other change"], want["lags mended"]))
    o = want["overrides changed"]
    check(o["own"]["retention.ms"]["source"] == 3 and
          o["plain"]["retention.ms"]["source"] == 1 and
          o["own-dflt"]["retention.ms"]["source"] == 3,
          "overrides changed: %s" % o)
    d = want["defaults deleted"]
    check(d["plain"]["cleanup.policy"]["source"] == DEFAULT_CONFIG and
          d["after"]["max.message.bytes"]["source"] == DEFAULT_CONFIG,
          "defaults deleted: %s" % d)
    check(want["deleted effects"]["plain keyless"][0] == 0 and
          want["deleted effects"]["after 1.5 MB"][0] == MESSAGE_TOO_LARGE,
          "deleted effects: %s" % want["deleted effects"])
    check(want["legacy own-dflt"] is None and want["settled after restart"],
          "legacy %s, settled %s" % (want["legacy own-dflt"],
                                     want["settled after restart"]))
    r = want["restarted"]
    check(r["after"]["retention.ms"]["value"] == "43200000" and
          want["restarted effects"]["after keyless"][0] == INVALID_RECORD and
          want["restarted effects"]["after 1.5 MB"][0] == 0,
          "restarted: %s %s" % (r["after"], want["restarted effects"]))


if os.environ.get("ND_PROBE_KAFKA"):
    import json
    from apache_kafka import ApacheKafka
    with ApacheKafka(extra_props=KAFKA_PROPS) as k:
        print(json.dumps(scenario(k.bootstrap, k), indent=1, sort_keys=True,
                         default=repr))
    sys.exit(0)

want, got = differential.run_both(scenario, kafka_props=KAFKA_PROPS,
                                  with_broker=True)
kafka_sanity(want)
differential.compare(want, got, what="dynamic broker defaults", documented={
    # nodata's built-in segment.bytes, and its broker synonym's
    r"\.segment\.bytes\.(synonyms\[\d\]\.)?default$":
        "`segment.bytes` defaults to 134217728",
    # MESSAGE_TOO_LARGE: Kafka leaves error_message null, nodata says why
    r"effects\.\w+ \d\.5 MB\[2\]$":
        "Error responses carry the library's message"})
ndtest.passed()
