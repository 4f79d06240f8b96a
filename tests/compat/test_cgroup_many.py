"""test_cgroup_many.py — many KIP-848 groups on one nodata broker.

The coordinator finds a group by id in a hash table that grows while
groups are created (broker/cgroup.c). 600 groups of one member each are
made one after the other (the table doubles from 64 buckets to 1024), then
every member heartbeats again with its epoch and must be found, ListGroups
must list every group as a consumer group, and after a restart (the
groups are loaded back from the library) every member must go on with its
epoch. A group deleted in between must be gone from both. nodata only:
Kafka has no such table to test.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgh_wire  # noqa: E402
import ndtest  # noqa: E402

N = 600


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def heartbeat_all(c, epochs, what):
    for i, epoch in epochs.items():
        r = c.heartbeat("g%d" % i, "m%d" % i, epoch, topics=["t"],
                        rebalance_ms=30000)
        check(r["error"] == 0 and r["epoch"] == epoch,
              "%s: g%d's member (epoch %d) got %r" % (what, i, epoch, r))


def consumer_groups(c):
    r = c.k.call("ListGroups", 5, {"StatesFilter": [], "TypesFilter": []})
    check(r["ErrorCode"] == 0, "ListGroups: %r" % r["ErrorCode"])
    return {g["GroupId"] for g in r["Groups"] if g["GroupType"] == "consumer"}


with ndtest.Broker(args=["--group-consumer-session-timeout-ms", "600000",
                         "--group-consumer-max-session-timeout-ms",
                         "600000"]) as b:
    with cgh_wire.Conn(b.bootstrap) as c:
        check(c.create_topic("t", 4) == 0, "CreateTopics t")
        epochs = {}
        for i in range(N):
            r = c.heartbeat("g%d" % i, "m%d" % i, 0, topics=["t"],
                            rebalance_ms=30000, owned=[])
            check(r["error"] == 0 and r["epoch"] > 0,
                  "g%d: join answered %r" % (i, r))
            epochs[i] = r["epoch"]
        heartbeat_all(c, epochs, "before the restart")
        check(consumer_groups(c) == {"g%d" % i for i in range(N)},
              "ListGroups does not list the %d groups" % N)
        # One group gone: its member leaves (epoch -1), DeleteGroups.
        r = c.heartbeat("g7", "m7", -1)
        check(r["error"] == 0, "g7's member could not leave: %r" % r)
        d = c.k.call("DeleteGroups", 2, {"GroupsNames": ["g7"]})
        check(d["Results"][0]["ErrorCode"] == 0, "DeleteGroups g7: %r" % d)
        del epochs[7]
    b.restart()
    with cgh_wire.Conn(b.bootstrap) as c:
        heartbeat_all(c, epochs, "after the restart")
        groups = consumer_groups(c)
        check("g7" not in groups, "the deleted g7 came back")
        check(groups == {"g%d" % i for i in epochs},
              "after the restart ListGroups lists %d groups, not %d"
              % (len(groups), len(epochs)))
ndtest.passed()
