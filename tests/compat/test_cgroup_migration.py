"""test_cgroup_migration.py — one group id moving between the classic and
the consumer (KIP-848) protocol with real clients, on Apache Kafka 4.4 and
nodata in the same run, compared field by field: confluent-kafka from PyPI
(current librdkafka) with group.protocol=classic, then =consumer, then
=classic again, 3 members each time over a 6-partition topic under
produce (scenarios/py_cgroup_migration.py). Between phases the group is
Empty, so each change converts an empty group: every record is consumed
once, none lost, none twice (the committed offsets carry over), and
ListGroups and DescribeConsumerGroups show the group's type as it
changes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402
import pyvenv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
cmd = [pyvenv.python(), os.path.join(HERE, "scenarios",
                                     "py_cgroup_migration.py")]
want, got = differential.run_both(lambda bs: differential.run_program(cmd, bs))
differential.compare(want, got, what="group protocol migration")
for res in (want, got):
    for name, p in res.items():
        if p["lost"] or p["twice"] or p["consumed"] != 300:
            ndtest.fail("%s: %r" % (name, p))
ndtest.passed()
