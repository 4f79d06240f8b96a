"""test_diff_py_kafka_python.py — kafka-python 2.x from PyPI (the newest
2.x; tests/python/requirements.txt) against Apache Kafka 4.4 and nodata in
the same run; what the client observes must be the same, field by field
(issue 16).

scenarios/py_kafka_python.py runs in the venv of pyvenv.py and does
scenarios/spec.py's steps:
- admin: create a topic with configs; describe those configs (value,
  read-only, source, sensitive, synonyms); grow it with CreatePartitions;
  the Metadata shape (partitions, errors, replicas, ISR, a leader); the
  errors, with the broker's messages, of creating an existing topic, a
  replication factor of 3, fewer partitions, partitions of an unknown
  topic; DescribeConfigs of an unknown topic;
- one idempotent acks=all producer per codec (none, gzip, snappy, lz4,
  zstd), keys, headers, timestamps, a null value: the record metadata;
- a consumer assigned from the beginning (every record: offsets, keys,
  values, headers, timestamp types and timestamps), end offsets, a seek,
  offsets_for_times (offset and timestamp);
- DeleteRecords (the new low watermark), beginning_offsets after it;
- a group of two members with the range assignor: the assignment, commit
  and committed(), DescribeGroups (state, protocol type and name,
  members' assignments, client ids), ListGroups, OffsetFetch through the
  admin client.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import pyvenv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
cmd = [pyvenv.python(), os.path.join(HERE, "scenarios", "py_kafka_python.py")]
differential.compare_program(cmd, "kafka-python 2.x (PyPI)")
ndtest.passed()
