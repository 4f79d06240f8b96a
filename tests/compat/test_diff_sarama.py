"""test_diff_sarama.py — IBM Sarama (tests/go/sarama) against Apache Kafka
4.4 and against nodata in the same run; what the client observes must be
the same, field by field (issue 16, Go clients). Sarama's Version is its
MaxVersion, the newest protocol it knows.

The scenario (tests/go/sarama/main.go) covers:
- ClusterAdmin: CreateTopic (with a config; again: TOPIC_ALREADY_EXISTS;
  0 partitions: INVALID_PARTITIONS), DescribeCluster, DescribeTopics
  (shape; an unknown topic), DescribeConfig;
- SyncProducer with keys, headers, timestamps, explicit partitions and
  every codec, plain and idempotent: the offsets it reports; a producer
  to a missing topic;
- Consumer: partition consumers from the oldest offset, from an offset
  and from the newest (then a new record), high watermarks, an offset out
  of range;
- a ConsumerGroup of two members with BalanceStrategyRange: the claims
  each session got, what each read, DescribeConsumerGroups (an unknown
  group too) and ListConsumerGroups;
- OffsetManager commits read back by a new OffsetManager and by
  ListConsumerGroupOffsets (an unknown group too);
- DeleteRecords (in range, past the end, an unknown topic) and the offsets
  GetOffset lists after it (oldest, newest, by time).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import go_program  # noqa: E402

exe = go_program.build("sarama")
want, got = differential.run_both(
    lambda bootstrap: differential.run_program([exe], bootstrap))
differential.compare(want, got, what="Sarama")
ndtest.passed()
