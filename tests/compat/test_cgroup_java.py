"""test_cgroup_java.py — the Java kafka-clients 4.4 consumer with
group.protocol=consumer (KIP-848, issue 22) against Apache Kafka 4.4 and
against nodata in the same run; what the members observe must be the same.

tests/kafka/CgroupJava.java is the scenario program (single-file source
launch); it prints {"compare": ..., "timeline": ...}:

- uniform: group.remote.assignor=uniform on two topics of 6 partitions;
  c1, c2, c3 join one at a time, c3 leaves the group, c4 joins, the static
  member c2 closes without leaving and a new consumer with its
  group.instance.id comes back: after each step each member's share, how
  many partitions it kept, how many moved, and that c2 got its very
  partitions back while the others kept theirs;
- range: the same with every member static, so the range assignor's
  partitions (ordered by instance id) are compared themselves;
- pattern: two members subscribed by SubscriptionPattern (the broker's
  RE2/J), a matching topic created while they run is assigned, a
  non-matching one never; the errors of three patterns RE2/J refuses;
- in each: records produced before and during, committed with commitSync
  after every batch; every record consumed, none twice; no partition
  assigned to a member while another held it (the rebalance listener's
  timeline); the committed offsets at the end offsets; Admin's
  listGroups and describeConsumerGroups (type, state, assignor, members by
  client id, their epochs and target assignment).

The timeline itself (when each callback ran) depends on timing and is
printed on failure (ND_DIFF_DUMP=DIR keeps both documents), not compared.

Both brokers are told to ask for a heartbeat every 500 ms
(group.consumer.heartbeat.interval.ms, and its minimum), so that the
steps take seconds, not the 5 s default per heartbeat.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
from apache_kafka import classpath  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "..", "kafka", "CgroupJava.java")
CP = classpath()

# The heartbeat interval the brokers ask for, the same on both.
GROUP_PROPS = ["group.consumer.heartbeat.interval.ms=500",
               "group.consumer.min.heartbeat.interval.ms=500"]


def nodata_config():
    """A --config file for nodata with the same group.consumer.* settings."""
    d = tempfile.mkdtemp(prefix="nd-cgroup-")
    path = os.path.join(d, "server.properties")
    with open(path, "w") as f:
        f.write("\n".join(GROUP_PROPS) + "\n")
    return path


def scenario(bootstrap):
    doc = differential.run_program(
        ["java", "-Xmx384m", "-cp", CP, PROGRAM, "uniform", "range",
         "pattern"], bootstrap, timeout=400)
    return doc


def main():
    want, got = differential.run_both(
        scenario, kafka_props=GROUP_PROPS,
        nodata_args=["--config", nodata_config()])
    for name, doc in (("Kafka", want), ("nodata", got)):
        for sc, c in doc["compare"].items():
            # Facts that must hold on each broker by themselves, apart from
            # being the same on both.
            if c["overlaps"]:
                ndtest.fail("%s, %s: a partition held by two members:\n%s"
                            % (name, sc, "\n".join(c["overlaps"])))
            if c["consumption"]["consumed_twice"] or \
                    not c["consumption"]["distinct_consumed_is_end_offsets"]:
                ndtest.fail("%s, %s: consumption %r" % (name, sc,
                                                        c["consumption"]))
    differential.compare(want["compare"], got["compare"],
                         what="Java kafka-clients 4.4, group.protocol=consumer")


main()
ndtest.passed()
