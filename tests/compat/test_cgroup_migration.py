"""test_cgroup_migration.py — one group id moving between the classic and
the consumer (KIP-848) protocol with real clients, on Apache Kafka 4.4 and
nodata in the same run, compared field by field: confluent-kafka from PyPI
(current librdkafka) with group.protocol=classic, then =consumer, then
=classic again, 3 members each time over a 6-partition topic under
produce (scenarios/py_cgroup_migration.py). Between phases the group is
Empty, so each change converts an empty group: every record is consumed
once, none lost, none twice (the committed offsets carry over), and
ListGroups and DescribeConsumerGroups show the group's type as it
changes. Then the rolling upgrade under steady produce: three classic
members replaced one at a time by consumer-protocol members (the first
converts the live classic group), then back to classic members (inside
the consumer group, converted back to a classic group when the last
consumer-protocol member leaves): nothing lost, nothing consumed twice.
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
# Client-side errors (a commit racing a rebalance) depend on timing: they
# are shown, and what they could cause (a record lost or consumed twice)
# is checked below on both brokers.
for broker, res in (("Kafka", want), ("nodata", got)):
    for name, p in res.items():
        errs = p.pop("errors", [])
        if errs:
            print("%s %s: client errors %s" % (broker, name, errs))
differential.compare(want, got, what="group protocol migration")
for res in (want, got):
    for name, p in res.items():
        if p["lost"] or p["twice"] or p.get("consumed", 300) != 300:
            ndtest.fail("%s: %r" % (name, p))
ndtest.passed()
