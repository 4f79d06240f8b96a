"""test_diff_franz_go.py — franz-go (kgo, kadm; tests/go/franzgo) against
Apache Kafka 4.4 and against nodata in the same run; what the client
observes must be the same, field by field (issue 16, Go clients).

The scenario (tests/go/franzgo/main.go) covers:
- kadm: CreateTopics with partitions and configs (and the configs the
  answer carries), again (TOPIC_ALREADY_EXISTS), with an invalid config;
  ListBrokers and Metadata shape (node ids recorded only as "is the
  broker"); DescribeTopicConfigs, AlterTopicConfigs (set, delete, an
  unknown config, an unknown topic);
- kgo produce with acks all (idempotent), leader and none, each with
  every compression codec: delivery reports (partition, offset,
  timestamp, producer id and epoch); a producer to a missing topic;
- consume with ConsumePartitions from the start, an offset, a time:
  offsets, keys, values, headers, timestamps, attributes;
- a consumer group of two static members with the range balancer: the
  assignments OnPartitionsAssigned saw, DescribeGroups, ListGroups;
- kadm FetchOffsets, CommitOffsets, DeleteRecords, ListStartOffsets,
  ListEndOffsets, ListOffsetsAfterMilli, with their error codes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import go_program  # noqa: E402

exe = go_program.build("franzgo")
want, got = differential.run_both(
    lambda bootstrap: differential.run_program([exe], bootstrap))
differential.compare(want, got, what="franz-go", documented={
    # fg-zstd keeps the default; fg had its segment.bytes DELETEd.
    r"^(create\[1\]|configs_altered\[0\])\.configs\.segment\.bytes\[0\]$":
        "`segment.bytes` defaults to 134217728",
})
ndtest.passed()
