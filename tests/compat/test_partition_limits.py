"""test_partition_limits.py — the partition limits through a real Kafka
client and the CLI (issue 14): `nodata serve --max-topic-partitions` and
`--max-store-partitions` refuse CreateTopics and CreatePartitions over them
with INVALID_PARTITIONS (per topic) and POLICY_VIOLATION (per store), with
a message naming the limit, validateOnly included; nothing is created by a
refused request. The CLI takes the same limits from the environment.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import KafkaError  # noqa: E402
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def outcome(futures):
    """{name: None or (error code, message)} of admin futures."""
    out = {}
    for name, f in futures.items():
        try:
            f.result(30)
            out[name] = None
        except Exception as e:  # KafkaException wrapping a KafkaError
            err = e.args[0]
            out[name] = (err.code(), err.str())
    return out


with ndtest.Broker(args=["--max-topic-partitions", "8",
                         "--max-store-partitions", "12"]) as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    r = outcome(admin.create_topics([NewTopic("big", 9, 1)]))
    check(r["big"] and r["big"][0] == KafkaError.INVALID_PARTITIONS
          and "limit of 8 per topic" in r["big"][1], "9 partitions: %s" % r)
    r = outcome(admin.create_topics([NewTopic("a", 8, 1)]))
    check(r["a"] is None, "8 partitions: %s" % r)
    for validate in (True, False):
        r = outcome(admin.create_topics([NewTopic("b", 5, 1)],
                                        validate_only=validate))
        check(r["b"] and r["b"][0] == KafkaError.POLICY_VIOLATION
              and "limit of 12" in r["b"][1],
              "5 more, validate_only=%s: %s" % (validate, r))
    r = outcome(admin.create_topics([NewTopic("b", 4, 1)], validate_only=True))
    check(r["b"] is None, "validate 4 more: %s" % r)
    md = admin.list_topics(timeout=10)
    check("b" not in md.topics and "big" not in md.topics,
          "a refused or validated topic exists: %s" % sorted(md.topics))
    r = outcome(admin.create_partitions([NewPartitions("a", 9)]))
    check(r["a"] and r["a"][0] == KafkaError.INVALID_PARTITIONS,
          "grow to 9: %s" % r)
    r = outcome(admin.create_topics([NewTopic("b", 4, 1)]))
    check(r["b"] is None, "4 more: %s" % r)
    r = outcome(admin.create_partitions([NewPartitions("b", 5)]))
    check(r["b"] and r["b"][0] == KafkaError.POLICY_VIOLATION,
          "grow past the store limit: %s" % r)
    md = admin.list_topics(timeout=10)
    check(len(md.topics["a"].partitions) == 8
          and len(md.topics["b"].partitions) == 4,
          "partition counts changed: a %d, b %d"
          % (len(md.topics["a"].partitions), len(md.topics["b"].partitions)))
    b.stop()  # the CLI takes the store's lock
    data = b.data_dir
    # The CLI, on the same store, with its limits from the environment.
    env = dict(os.environ, NODATA_MAX_TOPIC_PARTITIONS="3")
    p = subprocess.run([ndtest.nodata_bin(), "topics", "create", "c", "-p", "4",
                        "--data", data], env=env, capture_output=True, text=True)
    check(p.returncode != 0 and "limit of 3 per topic" in p.stderr,
          "CLI over the topic limit: rc %d, %r" % (p.returncode, p.stderr))
    env = dict(os.environ, NODATA_MAX_STORE_PARTITIONS="14")
    p = subprocess.run([ndtest.nodata_bin(), "topics", "create", "c", "-p", "3",
                        "--data", data], env=env, capture_output=True, text=True)
    check(p.returncode != 0 and "limit of 14" in p.stderr,
          "CLI over the store limit: rc %d, %r" % (p.returncode, p.stderr))
    p = subprocess.run([ndtest.nodata_bin(), "topics", "list", "--data", data],
                       capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.split() == ["a", "b"],
          "topics list: rc %d, %r %r" % (p.returncode, p.stdout, p.stderr))
print("limits refused with INVALID_PARTITIONS / POLICY_VIOLATION and by "
      "the CLI; nothing created")
ndtest.passed()
