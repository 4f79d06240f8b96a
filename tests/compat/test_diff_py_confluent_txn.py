"""test_diff_py_confluent_txn.py — confluent-kafka's transactional API
(from PyPI, with the librdkafka its wheel bundles;
tests/python/requirements.txt) against Apache Kafka 4.4 and against nodata
in the same run; what the client observes must be the same, field by
field (issue 19).

scenarios/py_confluent_txn.py runs in the venv of pyvenv.py:
- init_transactions, begin_transaction, produce to two partitions,
  commit_transaction; an aborted transaction; a committed one on one
  partition; empty transactions committed and aborted (no markers): the
  offsets of every delivery report (markers take an offset), ListOffsets
  latest read_committed (the last stable offset, 0 while the first
  transaction is open) and read_uncommitted, and every record a
  read_committed and a read_uncommitted consumer read;
- a consume-transform-produce loop with send_offsets_to_transaction and
  the consumer's group metadata: while a transaction holding offsets is
  open, a read_committed consumer's committed() times out (the broker
  answers UNSTABLE_OFFSET_COMMIT); the aborted transaction leaves the
  group's committed offsets; in the end the output, read_committed, is the
  input exactly once, and read_uncommitted also has the aborted copies;
- fencing: a second producer with the same transactional id; the first's
  next produce and commit fail with the fatal _FENCED; what each
  isolation level reads.

Takes about 30 s, most of it Apache Kafka's start.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import pyvenv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
cmd = [pyvenv.python(), os.path.join(HERE, "scenarios", "py_confluent_txn.py")]
want, got = differential.run_both(
    lambda bootstrap: differential.run_program(cmd, bootstrap))
# Kafka itself must pass the loop's checks, or comparing proves nothing.
ctp = want["consume_transform_produce"]
if not all(v is True for v in ctp.values() if isinstance(v, bool)):
    ndtest.fail("Apache Kafka: the consume-transform-produce checks do not "
                "all hold: %s" % ctp)
differential.compare(want, got, what="confluent-kafka transactions (PyPI)")
ndtest.passed()
