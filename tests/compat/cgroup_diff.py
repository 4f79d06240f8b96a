"""cgroup_diff.py — the shared half of the KIP-848 client tests (issue 22):
run a consumer-group scenario program on Apache Kafka and on nodata, check
what must hold on each broker by itself, and compare the two.

A program (tests/kafka/CgroupJava.java, scenarios/py_cgroup_confluent.py,
tests/go/cgroupfranz) takes SCENARIO... BOOTSTRAP and prints
{"compare": {SCENARIO: {...}}, "timeline": {SCENARIO: [...]}}; every
scenario's part has "overlaps" (partitions assigned to a member while
another held them, per the rebalance callbacks' global order: must be
empty) and "consumption" (every record consumed, none twice). Only
"compare" is compared; the timeline depends on timing and is shown when a
check fails (ND_DIFF_DUMP=DIR keeps both documents, as differential.py).

    cgroup_diff.run(cmd, ["uniform", "range"], what="...")

Both brokers ask members for a heartbeat every 500 ms
(group.consumer.heartbeat.interval.ms and its minimum, under Kafka's names
in nodata's --config file), so a step takes about a second instead of the
5 s default per heartbeat.
"""
import json
import os
import sys
import tempfile

import differential
import ndtest

GROUP_PROPS = ["group.consumer.heartbeat.interval.ms=500",
               "group.consumer.min.heartbeat.interval.ms=500"]


def nodata_config():
    """A --config file for nodata with GROUP_PROPS."""
    path = os.path.join(tempfile.mkdtemp(prefix="nd-cgroup-"),
                        "server.properties")
    with open(path, "w") as f:
        f.write("\n".join(GROUP_PROPS) + "\n")
    return path


def check_alone(name, doc):
    """What must hold on one broker whatever the other does."""
    for sc, c in doc["compare"].items():
        tl = json.dumps(doc.get("timeline", {}).get(sc, []))[-4000:]
        if c["overlaps"]:
            ndtest.fail("%s, %s: a partition held by two members:\n%s\n"
                        "timeline: %s" % (name, sc, "\n".join(c["overlaps"]),
                                          tl))
        cons = c["consumption"]
        if cons["consumed_twice"] or \
                not cons["distinct_consumed_is_end_offsets"]:
            ndtest.fail("%s, %s: consumption %r\ntimeline: %s"
                        % (name, sc, cons, tl))


def summary(want, got):
    """One line per broker and scenario: the commits the members' commitSync
    saw fail and the records consumed twice (printed; ctest -V shows it)."""
    for name, doc in (("kafka", want), ("nodata", got)):
        for sc, c in doc["compare"].items():
            print("summary: %s %s commit_errors=%r consumed_twice=%r"
                  % (name, sc, c.get("commit_errors"),
                     c.get("consumption", {}).get("consumed_twice")))
    sys.stdout.flush()


def run(cmd, scenarios, what, documented=None, timeout=300):
    """The whole test: cmd + scenarios + [bootstrap] on both brokers."""
    want, got = differential.run_both(
        lambda bs: differential.run_program(list(cmd) + list(scenarios), bs,
                                            timeout=timeout),
        kafka_props=GROUP_PROPS, nodata_args=["--config", nodata_config()])
    summary(want, got)
    check_alone("Apache Kafka", want)
    check_alone("nodata", got)
    differential.compare(want["compare"], got["compare"],
                         documented=documented, what=what)
