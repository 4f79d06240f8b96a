"""test_dynamic_configs.py — dynamic broker configs and group configs
(AlterConfigs, IncrementalAlterConfigs and DescribeConfigs on BROKER and
GROUP resources), through confluent-kafka 1.7's AdminClient (AlterConfigs,
DescribeConfigs on broker "0") and, for what it cannot send
(IncrementalAlterConfigs, GROUP resources, the cluster-wide "" resource),
the hand-written requests of test_kafka_versions.py:

- precedence: per-broker "0" > cluster default "" > flag > default, with
  each level's ConfigSource in the value and the synonyms;
- live effects: auto-create off, num.partitions and log.retention.ms for
  auto-created topics, a dynamic group.initial.rebalance.delay.ms seen by
  a consumer's first assignment;
- validate_only changes nothing; AlterConfigs replaces a level's set;
- persistence across a restart (DATA/broker.conf);
- refusals as Kafka's: read-only configs, wrong types, per-broker configs
  at the cluster level, APPEND on a non-list, a duplicate resource,
  another broker id; Kafka-dynamic configs nodata ignores are kept
  (librdkafka 0081's sasl.kerberos.min.time.before.relogin), and so are
  unknown names;
- group configs: a group that does not exist describes with defaults, SET
  is checked against the broker's bounds, kept across a restart, DELETE
  returns to the default.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402

import test_kafka_versions as kv  # noqa: E402

BROKER, GROUP = 4, 32
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
INVALID_CONFIG, INVALID_REQUEST = 40, 42
check = kv.check


def desc(c, name, keys=None, rtype=BROKER):
    d = kv.describe_configs(c, name, keys, rtype)
    check(d["error"] == 0, "describe %s: %s" % (name, d))
    return {e["name"]: e for e in d["configs"]}


def value(c, key, name="0"):
    e = desc(c, name, [key])[key]
    return e["value"], e["source"]


def alter(c, name, ops, rtype=BROKER, validate_only=False, want=0):
    r = kv.incremental_alter(c, rtype, name, ops, validate_only)
    check(r[0] == want, "alter %s %s: want %d, got %s" % (name, ops, want, r))
    return r[1]


def precedence(c):
    # Nothing set: the built-in default, and the flag as STATIC.
    check(value(c, "log.retention.ms") == ("604800000", 5), "default")
    check(value(c, "group.initial.rebalance.delay.ms") == ("10000", 4),
          "flag is STATIC_BROKER_CONFIG")
    alter(c, "", [("log.retention.ms", SET, "111111")])
    check(value(c, "log.retention.ms") == ("111111", 3), "cluster default")
    alter(c, "0", [("log.retention.ms", SET, "222222")])
    e = desc(c, "0", ["log.retention.ms"])["log.retention.ms"]
    check((e["value"], e["source"], e["read_only"]) == ("222222", 2, 0),
          "per-broker wins: %s" % e)
    check([(s[1], s[2]) for s in e["synonyms"]] ==
          [("222222", 2), ("111111", 3), ("604800000", 5)],
          "synonyms in order of precedence: %s" % e["synonyms"])
    # The cluster resource shows only its own dynamic values.
    cl = desc(c, "")
    check(set(cl) == {"log.retention.ms"} and
          cl["log.retention.ms"]["value"] == "111111" and
          cl["log.retention.ms"]["source"] == 3, "resource '': %s" % cl)
    alter(c, "0", [("log.retention.ms", DELETE, None)])
    check(value(c, "log.retention.ms") == ("111111", 3), "after DELETE")
    alter(c, "0", [("log.retention.ms", SET, "222222")])


def refusals(c):
    m = alter(c, "0", [("log.dirs", SET, "/x"), ("node.id", SET, "3")],
              want=INVALID_REQUEST)
    # Kafka 4.4's text, from the real broker.
    check("Cannot update these configs dynamically: [" in m and "log.dirs" in m
          and "node.id" in m, m)
    alter(c, "0", [("listeners", SET, "PLAINTEXT://:1")], want=INVALID_REQUEST)
    m = alter(c, "0", [("num.partitions", SET, "many")], want=INVALID_REQUEST)
    check("num.partitions" in m, m)
    # Kafka 4.4 takes any negative log.retention.ms as "forever"
    # (test_diff_broker_defaults), and refuses 0 in its own words.
    m = alter(c, "0", [("log.retention.ms", SET, "0")], want=INVALID_REQUEST)
    check(m.startswith("requirement failed: log.retention.ms"), m)
    m = alter(c, "0", [("background.threads", APPEND, "1")],
              want=INVALID_CONFIG)
    check("append is not allowed" in m, m)
    # A list config takes APPEND (as Kafka's does).
    alter(c, "0", [("log.cleanup.policy", APPEND, "compact")], want=0)
    alter(c, "0", [("log.cleanup.policy", SET, "delete")], want=0)
    alter(c, "0", [("log.cleanup.policy", SET, "shred")],
          want=INVALID_REQUEST)
    alter(c, "1", [("num.partitions", SET, "2")], want=INVALID_REQUEST)
    m = alter(c, "", [("sasl.kerberos.min.time.before.relogin", SET, "1")],
              want=INVALID_REQUEST)
    check("broker id must be specified" in m, m)
    # A resource named twice: both refused, nothing applied.
    body = kv.carray([kv.struct.pack(">b", BROKER) + kv.cstr("0") +
                      kv.carray([kv.cstr("num.partitions") + b"\x00" +
                                 kv.cstr("9") + kv.TAGS]) + kv.TAGS] * 2)
    rd = c.call(44, 1, body + b"\x00" + kv.TAGS)
    rd.i32()
    errs = rd.carray(lambda r: (r.i16(), r.cstr(), r.i8(), r.cstr(),
                                r.tags())[0])
    check(errs == [INVALID_REQUEST] * 2, "duplicate resource: %s" % errs)
    # What Kafka allows dynamically, or does not know, is kept.
    alter(c, "0", [("sasl.kerberos.min.time.before.relogin", SET, "58000"),
                   ("background.threads", SET, "9"),
                   ("my.custom.config", SET, "x y")])
    d = desc(c, "0", ["sasl.kerberos.min.time.before.relogin",
                      "my.custom.config"])
    check(d["sasl.kerberos.min.time.before.relogin"]["value"] == "58000" and
          d["my.custom.config"]["value"] == "x y" and
          d["my.custom.config"]["source"] == 2, "kept: %s" % d)
    alter(c, "0", [("metric.reporters", APPEND, "a,b"),
                   ("metric.reporters", SUBTRACT, "a")], want=INVALID_REQUEST)
    alter(c, "0", [("metric.reporters", APPEND, "a,b")])
    alter(c, "0", [("metric.reporters", SUBTRACT, "a")])
    check(value(c, "metric.reporters") == ("b", 2), "list ops")


def live(c, b, admin):
    # validate_only: checked, not applied.
    alter(c, "0", [("num.partitions", SET, "4")], validate_only=True)
    check(value(c, "num.partitions") == ("1", 5), "validate_only applied")
    alter(c, "0", [("num.partitions", SET, "3")])
    ts = kv.metadata(c, 12, [(None, "auto1")], auto_create=True)
    check(ts[0]["error"] == 0 and len(ts[0]["partitions"]) == 3,
          "auto-created with num.partitions=3: %s" % ts)
    t = desc(c, "auto1", ["retention.ms"], rtype=2)["retention.ms"]
    check(t["value"] == "222222", "new topic's retention.ms: %s" % t)

    # AlterConfigs through a real client: replaces the level's whole set.
    res = ConfigResource("broker", "0", set_config={
        "auto.create.topics.enable": "false", "num.partitions": "3",
        "log.retention.ms": "222222",
        "sasl.kerberos.min.time.before.relogin": "58000"})
    for f in admin.alter_configs([res], request_timeout=10).values():
        f.result()
    got = admin.describe_configs([ConfigResource("broker", "0")],
                                 request_timeout=10)
    cfg = list(got.values())[0].result()
    check(cfg["auto.create.topics.enable"].value == "false" and
          cfg["auto.create.topics.enable"].source == 2 and
          not cfg["auto.create.topics.enable"].is_read_only,
          "confluent describe: %s" % cfg["auto.create.topics.enable"])
    check(cfg["background.threads"].source == 5 and
          "my.custom.config" not in cfg, "AlterConfigs replaced the set")
    check(cfg["log.dirs"].is_read_only, "log.dirs read-only")
    ts = kv.metadata(c, 12, [(None, "auto2")], auto_create=True)
    check(ts[0]["error"] == kv.UNKNOWN_TOPIC_OR_PARTITION,
          "auto-create off: %s" % ts)

    # The first rebalance of an empty group waits the dynamic delay, not
    # the flag's 10 s.
    alter(c, "", [("group.initial.rebalance.delay.ms", SET, "0")])
    kv.create_topic(c, "gt", 1)
    cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-delay",
                     "session.timeout.ms": 6000})
    assigned = []
    cons.subscribe(["gt"], on_assign=lambda _c, ps: assigned.extend(ps))
    t0 = time.monotonic()
    while not assigned and time.monotonic() - t0 < 8:
        cons.poll(0.2)
    took = time.monotonic() - t0
    cons.close()
    check(assigned and took < 6, "assignment after %.1fs" % took)


def groups(c):
    g = desc(c, "no-such-group", rtype=GROUP)
    check(len(g) == 10 and g["consumer.session.timeout.ms"]["value"] ==
          "45000" and all(e["source"] == 5 for e in g.values()),
          "unknown group's defaults: %s" % g)
    alter(c, "my-group", [("consumer.session.timeout.ms", SET, "50000")],
          rtype=GROUP)
    e = desc(c, "my-group", ["consumer.session.timeout.ms"],
             rtype=GROUP)["consumer.session.timeout.ms"]
    check((e["value"], e["source"]) == ("50000", 8), "group SET: %s" % e)
    m = alter(c, "my-group", [("consumer.session.timeout.ms", SET, "30000")],
              rtype=GROUP, want=INVALID_CONFIG)
    # Kafka 4.4's text, from the real broker.
    check(m == "consumer.session.timeout.ms must be in the range 45000 to "
          "60000 inclusive.", m)
    m = alter(c, "my-group", [("consumer.heartbeat.interval.ms", SET, "16000")],
              rtype=GROUP, want=INVALID_CONFIG)
    check(m == "consumer.heartbeat.interval.ms must be in the range 5000 to "
          "15000 inclusive.", m)
    m = alter(c, "my-group", [("session.timeout.ms", SET, "1")], rtype=GROUP,
              want=INVALID_CONFIG)
    check("Unknown group config name" in m, m)
    alter(c, "my-group", [("share.auto.offset.reset", SET, "earliest")],
          rtype=GROUP, validate_only=True)
    alter(c, "other", [("share.isolation.level", SET, "read_committed")],
          rtype=GROUP)


def after_restart(c):
    check(value(c, "log.retention.ms") == ("222222", 2), "per-broker kept")
    check(value(c, "group.initial.rebalance.delay.ms") == ("0", 3),
          "cluster default kept")
    check(value(c, "auto.create.topics.enable") == ("false", 2), "kept")
    ts = kv.metadata(c, 12, [(None, "auto3")], auto_create=True)
    check(ts[0]["error"] == kv.UNKNOWN_TOPIC_OR_PARTITION,
          "auto-create still off: %s" % ts)
    g = desc(c, "my-group", rtype=GROUP)
    check(g["consumer.session.timeout.ms"]["value"] == "50000" and
          g["share.auto.offset.reset"]["value"] == "latest",
          "group configs kept, validate_only not: %s" % g)
    alter(c, "my-group", [("consumer.session.timeout.ms", DELETE, None)],
          rtype=GROUP)
    check(desc(c, "my-group", rtype=GROUP)["consumer.session.timeout.ms"]
          ["source"] == 5, "group DELETE")


def main():
    with ndtest.Broker(args=["--group-initial-delay-ms", "10000"]) as b:
        c = kv.Conn(b.port)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        precedence(c)
        refusals(c)
        live(c, b, admin)
        groups(c)
        conf = open(os.path.join(b.data_dir, "broker.conf")).read()
        check("broker log.retention.ms=222222\n" in conf and
              "group my-group consumer.session.timeout.ms=50000\n" in conf,
              "broker.conf:\n%s" % conf)
        b.restart()
        c = kv.Conn(b.port)
        after_restart(c)
        ndtest.stop_clean(b)
    ndtest.passed()


if __name__ == "__main__":
    main()
