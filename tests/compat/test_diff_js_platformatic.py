"""test_diff_js_platformatic.py — @platformatic/kafka (pure JavaScript,
flexible protocol versions only; 1.35.0, the newest for Node 20;
tests/js/package.json) against Apache Kafka 4.4 and nodata in the same
run; what the client observes must be the same, field by field (issue 16).

tests/js/platformatic.mjs (installed and run by jsdeps.py) takes the
steps of tests/js/spec.mjs:
- admin: create a topic with configs (the configs CreateTopics answers:
  those of spec.mjs's DESCRIBED compared; which names there are is a
  documented difference);
  the errors of an existing topic, a bad name, a replication factor of 3;
  DescribeConfigs of the topic (value, read-only, source, sensitive,
  type), of an unknown topic and a bad name; CreatePartitions up, to the
  same count, to fewer, of an unknown topic; the Metadata shape;
- one idempotent acks=all producer per codec the client has (zstd needs
  Node 22.15+), keys, headers, timestamps, a null value: the send
  results;
- every record read from the earliest offsets (offsets, keys, values,
  headers, timestamps), and from a manual offset (a seek);
- ListOffsets (latest; by time before, inside, past the records),
  DeleteRecords, of an unknown topic;
- a group of two members (the client's own round-robin assignment):
  the assignment, commits, the committed offsets, DescribeGroups (state,
  protocol, members' client ids and assignments), ListGroups, OffsetFetch.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import jsdeps  # noqa: E402

cmd = ["node", os.path.join(jsdeps.scenario_dir(), "platformatic.mjs")]
differential.compare_program(cmd, "@platformatic/kafka", documented={
    r"^create_config_names": "nodata lists its own topic configs"})
ndtest.passed()
