"""test_cgroup_confluent.py — confluent-kafka 2.x from PyPI (its bundled,
current librdkafka; tests/python/requirements.txt) with
group.protocol=consumer (KIP-848, issue 22) against Apache Kafka 4.4 and
against nodata in the same run (scenarios/py_cgroup_confluent.py):

- uniform and range (group.remote.assignor) on two topics of 6
  partitions: c1, c2, c3 join one at a time, c3 closes (leaves), c4 joins,
  the static member c2 closes (epoch -2: its place is kept) and a new c2
  with its group.instance.id gets its very partitions back while the
  others keep theirs; each member's share (per topic for range), and for
  uniform, which is sticky, what each kept and how many moved;
- pattern: two members subscribed by `^cgq\\.[a-c]`, a matching topic
  created while they run is assigned, a non-matching one never;
- in each: records produced before and during, committed synchronously
  after every batch; every record consumed once, no partition assigned to a
  member while another held it (the callbacks' timeline), committed
  offsets at the end offsets; list_consumer_groups and
  describe_consumer_groups (type, state, assignor, members by client id,
  target assignment).

cgroup_diff.py runs it on both brokers and compares.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import cgroup_diff  # noqa: E402
import pyvenv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
cgroup_diff.run([pyvenv.python(),
                 os.path.join(HERE, "scenarios", "py_cgroup_confluent.py")],
                ["uniform", "range", "pattern"],
                what="confluent-kafka (PyPI), group.protocol=consumer")
ndtest.passed()
