"""test_cgroup_java_range.py — the Java kafka-clients 4.4 consumer with
group.protocol=consumer and group.remote.assignor=range (KIP-848, issue
22) against Apache Kafka 4.4 and against nodata in the same run
(tests/kafka/CgroupJava.java's "range"):

- every member static, so the range assignor's partitions (it orders
  members by instance id) are determined and compared themselves: c1, c2,
  c3 join one at a time, c3 leaves the group (CloseOptions LEAVE_GROUP),
  c4 joins, c2 closes without leaving (epoch -2) and a new consumer with
  its group.instance.id gets its very partitions back;
- records produced before and during, commitSync after every batch;
  every record consumed once; no partition held by two members at once;
  committed offsets at the end offsets; describeConsumerGroups and
  listGroups, and after the members leave (the assignor then shown);
- kafka-consumer-groups.sh --describe --state --verbose and --describe
  --members --verbose on the live group: the tables (assignor, state,
  group and target assignment epochs, member count; each member's instance
  id, client id, partition count, epochs, current and target assignment),
  with the coordinator's address and the member ids masked.

cgroup_diff.py runs it on both brokers and compares.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import cgroup_diff  # noqa: E402
from apache_kafka import classpath  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "..", "kafka", "CgroupJava.java")

cgroup_diff.run(["java", "-Xmx384m", "-cp", classpath(), PROGRAM],
                ["range"],
                what="Java kafka-clients 4.4, group.remote.assignor=range")
ndtest.passed()
