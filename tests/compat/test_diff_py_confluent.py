"""test_diff_py_confluent.py — confluent-kafka 2.x from PyPI (the newest,
with the librdkafka its wheel bundles; tests/python/requirements.txt)
against Apache Kafka 4.4 and nodata in the same run; what the client
observes must be the same, field by field (issue 16).

scenarios/py_confluent.py runs in the venv of pyvenv.py and does
scenarios/spec.py's steps:
- admin: create a topic with configs; describe those configs (value,
  source, default, read-only, sensitive); grow it with CreatePartitions;
  the Metadata shape (partitions, leader is a listed broker, replicas,
  ISR); the error codes of creating an existing topic, a replication
  factor of 3, fewer partitions, partitions/configs/records/offsets of an
  unknown topic;
- one idempotent acks=all producer per codec (none, gzip, snappy, lz4,
  zstd), keys, headers, timestamps, a null value: delivery reports;
- a consumer assigned from offset 0 (every record: offsets, keys, values,
  headers, timestamps and their type), a seek, offsets_for_times;
- DeleteRecords (the new low watermark), ListOffsets through the admin
  client (earliest, latest, max-timestamp, by time; offsets, timestamps,
  leader epochs);
- a group of two members with the range assignor: the assignment, commit
  and committed(), DescribeGroups (state, assignor, members), ListGroups,
  OffsetFetch through the admin client.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import pyvenv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
cmd = [pyvenv.python(), os.path.join(HERE, "scenarios", "py_confluent.py")]
differential.compare_program(cmd, "confluent-kafka (PyPI)")
ndtest.passed()
