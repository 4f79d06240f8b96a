"""test_cgroup_franz_go.py — franz-go with its KIP-848 option
(kgo.ServerSideBalancer, v1.22.0 and later; tests/go pins v1.22.3) against
Apache Kafka 4.4 and against nodata in the same run (issue 22;
tests/go/cgroupfranz):

- uniform (kgo.StickyBalancer) and range (kgo.RangeBalancer) on two topics
  of 6 partitions: c1, c2 (static), c3 join one at a time, c3 leaves, c4
  joins: each member's share (per topic for range), for uniform what each
  kept and how many moved;
- pattern: two members with kgo.ConsumeRegex, which franz-go sends as
  SubscribedTopicRegex (wrapped in `.*(?:...).*`); a matching topic
  created while they run is assigned, a non-matching one never;
- in each: records produced before and during, CommitRecords after every
  poll (BlockRebalanceOnPoll), every record consumed once, no partition
  assigned to a member while another held it, committed offsets at the
  end offsets; kadm's ListGroups and DescribeConsumerGroups
  (ConsumerGroupDescribe: state, assignor, epochs, member type,
  subscriptions, assignment and target, members by client id);
- the leave of each member: franz-go v1.22.3 leaves a static member with
  epoch -2 but no instance id, which Kafka refuses (INVALID_REQUEST
  "InstanceId can't be null."); the same answer is expected from nodata.
  (So the static restart the Java and confluent-kafka tests do is not
  done here: the old c2 keeps its place until its session times out.)

cgroup_diff.py runs it on both brokers and compares.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import cgroup_diff  # noqa: E402
import go_program  # noqa: E402

cgroup_diff.run([go_program.build("cgroupfranz")],
                ["uniform", "range", "pattern"],
                what="franz-go, kgo.ServerSideBalancer")
ndtest.passed()
