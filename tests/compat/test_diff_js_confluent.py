"""test_diff_js_confluent.py — @confluentinc/kafka-javascript (the newest,
librdkafka-based; tests/js/package.json) against Apache Kafka 4.4 and
nodata in the same run; what the client observes must be the same, field
by field (issue 16).

tests/js/confluent.mjs (installed and run by jsdeps.py) takes the steps
of tests/js/spec.mjs:
- admin: create a topic with configs; the errors, with the broker's
  messages, of an existing topic, a bad name, a replication factor of 3;
  CreatePartitions up, to the same count, to fewer, of an unknown topic;
  the Metadata shape (topic id present, internal, partitions, errors,
  leader, replicas, ISR) and of an unknown topic;
- one idempotent acks=all producer per codec (none, gzip, snappy, lz4,
  zstd), keys, headers, timestamps, a null value: the send results;
- every record read from the beginning (offsets, keys, values, headers,
  timestamps), and again after a seek;
- ListOffsets (watermarks; by time before, inside, past the records),
  DeleteRecords and the low watermark after it, of an unknown topic;
- a group of two members with the range assignor: the assignment,
  commits, committed(), DescribeGroups (state, protocol, members'
  client ids and assignments), ListGroups, OffsetFetch.
The client has no DescribeConfigs.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import jsdeps  # noqa: E402

cmd = ["node", os.path.join(jsdeps.scenario_dir(), "confluent.mjs")]
differential.compare_program(cmd, "@confluentinc/kafka-javascript")
ndtest.passed()
