"""test_cgroup_java.py — the Java kafka-clients 4.4 consumer with
group.protocol=consumer (KIP-848, issue 22) against Apache Kafka 4.4 and
against nodata in the same run (tests/kafka/CgroupJava.java's "uniform"
and "pattern"; test_cgroup_java_range.py has "range"):

- uniform (group.remote.assignor=uniform): two topics of 6 partitions; c1,
  c2, c3 join one at a time, c3 leaves the group, c4 joins, the static
  member c2 closes without leaving (epoch -2) and a new consumer with its
  group.instance.id comes back: after each step each member's share, how
  many partitions it kept, how many moved, and that c2 got its very
  partitions back while the others kept theirs;
- pattern: two members subscribed to `cgp\\.[a-c]` by SubscriptionPattern
  (the broker matches, RE2/J syntax) share cgp.a and cgp.b, never
  cgp.other; cgp.c, created while they run, joins the assignment; three
  patterns RE2/J refuses (an unclosed group, a lookahead that Java's own
  regex would take, a trailing backslash): the exception and message the
  member's poll raises (INVALID_REGULAR_EXPRESSION, the broker's message);
  eleven patterns of RE2/J syntax beyond POSIX ERE (`(?:`, `(?i)`, `\w`,
  `[[:alpha:]]`, `\pL`, a lazy `*?`, `\Q...\E`, `(?P<x>`, `{1,2}`, a
  negated class, a top-level `|`), each alone in a group: the topics it is
  given;
- in each: records produced before and during, committed with commitSync
  after every batch (the new protocol's OffsetCommit carries the member
  epoch); every record consumed, none twice; no partition assigned to a
  member while another held it (the rebalance listener's timeline); the
  committed offsets at the end offsets; Admin's listGroups and
  describeConsumerGroups (type, state, assignor, members by client id,
  their epochs and target assignment), and after they leave.

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
                ["uniform", "pattern"],
                what="Java kafka-clients 4.4, group.protocol=consumer")
ndtest.passed()
