"""test_cgroup_java_pattern.py — the Java kafka-clients 4.4 consumer with
group.protocol=consumer (KIP-848, issue 22) subscribed by a regular
expression the broker matches (SubscriptionPattern, RE2/J syntax), against
Apache Kafka 4.4 and against nodata in the same run
(tests/kafka/CgroupJava.java's "pattern"):

- two members subscribed to `cgp\\.[a-c]` share cgp.a and cgp.b (2
  partitions each), never cgp.other; cgp.c (4 partitions), created while
  they run, joins the assignment: each member's share, what it kept, what
  moved, the partitions assigned in all;
- records produced before and during are each consumed once, committed
  offsets end at the end offsets, no partition held by two members;
  describeConsumerGroups and listGroups;
- three patterns RE2/J refuses (an unclosed group, a lookahead that Java's
  own regex would take, a trailing backslash): the exception class and
  message the member's poll raises (INVALID_REGULAR_EXPRESSION with the
  broker's message).

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
                ["pattern"],
                what="Java kafka-clients 4.4, SubscriptionPattern")
ndtest.passed()
