"""test_diff_offsets_retention.py — committed-offset expiry
(offsets.retention.minutes=1, offsets.retention.check.interval.ms=1000)
on Apache Kafka 4.4 and on nodata serve, run at the same time and
compared field by field (differential.py).

Nine groups, set up at once, their commits made together at t0:

- ret-simple: a standalone consumer (confluent-kafka, assign() and
  commit: generation -1, no protocol type): its offsets expire by commit
  time and the group goes;
- ret-simple-late: standalone commits of A-0 at t0 and of A-1 at t0+20 s:
  each offset by its own commit time, so A-0 goes, A-1 and the group stay;
- ret-empty-early / ret-empty-late: classic consumer groups
  (confluent-kafka, subscribed to A) that commit A-0 and B-0 at t0 and
  leave at t0+1 s / t0+12 s: an Empty group's offsets expire counted from
  when it became Empty, so at t0+66 s the first is gone and the second
  keeps both (54 s Empty, although committed 66 s ago);
- ret-live: a classic consumer group whose member (subscribed to A) stays:
  B-0 expires by commit time (KIP-496), A-0 stays, the group is Stable;
- ret-connect: a live classic group of protocol type "connect" (raw
  JoinGroup/SyncGroup/Heartbeat): Stable and not a consumer group, so
  nothing expires;
- ret-cg-empty / ret-cg-live: KIP-848 consumer groups (raw
  ConsumerGroupHeartbeat) committing A-0 and B-0; the first one's member
  leaves at t0+1 s (all its offsets expire by commit time and the group
  goes), the second's stays subscribed to A (B-0 expires);
- ret-no-offsets: a classic consumer group that joins and leaves without
  committing: an Empty group without offsets goes at the next check.

OffsetFetch (every group, all topics), ListGroups v5, DescribeGroups v5
and v6 and ConsumerGroupDescribe v1 are asked at t0, t0+45 s and t0+66 s,
and each broker's answers must match what the list above says (so a rule
that neither broker follows fails too) as well as each other.

Both brokers run the scenario at the same time (Kafka's half in the main
thread through differential.kafka_answer, so `make test`'s second pass
takes Kafka's answer from the first; nodata's in a thread): about 80 s,
most of it the 66 s the expiry needs.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

import kwire  # noqa: E402
import cgh_wire  # noqa: E402
from test_cgroup_admin import wait_coordinator  # noqa: E402

A, B = "ret-a", "ret-b"
SIMPLE, SIMPLE_LATE = "ret-simple", "ret-simple-late"
EMPTY_EARLY, EMPTY_LATE = "ret-empty-early", "ret-empty-late"
LIVE, CONNECT = "ret-live", "ret-connect"
CG_EMPTY, CG_LIVE = "ret-cg-empty", "ret-cg-live"
NO_OFFSETS = "ret-no-offsets"
GROUPS = [SIMPLE, SIMPLE_LATE, EMPTY_EARLY, EMPTY_LATE, LIVE, CONNECT,
          CG_EMPTY, CG_LIVE, NO_OFFSETS]
CONSUMER_GROUPS = [CG_EMPTY, CG_LIVE]

KAFKA_PROPS = ["offsets.retention.minutes=1",
               "offsets.retention.check.interval.ms=1000"]
NODATA_ARGS = ["--offsets-retention-minutes", "1",
               "--offsets-retention-check-interval-ms", "1000"]

# When things happen, in seconds after the commits (t0).
LEAVE_EARLY, LEAVE_LATE, LATE_COMMIT = 1, 12, 20
SNAPSHOTS = [("t0", 0), ("45s", 45), ("66s", 66)]


def wait_ready(k, gids):
    """Topics with leaders, and a loaded coordinator for every group
    (Kafka creates __consumer_offsets on the first FindCoordinator)."""
    for _ in range(600):
        r = k.call("Metadata", 12, {"Topics": [{"Name": A}, {"Name": B}],
                                    "AllowAutoTopicCreation": False})
        if all(not t["ErrorCode"] and t["Partitions"] and
               all(p["LeaderId"] >= 0 for p in t["Partitions"])
               for t in r["Topics"]):
            break
        time.sleep(0.1)
    else:
        ndtest.fail("topics without leaders")
    wait_coordinator(k, gids)


def commit(k, gid, offsets, gen=-1, member=""):
    """OffsetCommit v9 of [(topic, partition, offset)]: the error codes."""
    by_topic = {}
    for t, p, o in offsets:
        by_topic.setdefault(t, []).append({"PartitionIndex": p,
                                           "CommittedOffset": o})
    r = k.call("OffsetCommit", 9, {
        "GroupId": gid, "GenerationIdOrMemberEpoch": gen, "MemberId": member,
        "GroupInstanceId": None,
        "Topics": [{"Name": t, "Partitions": ps}
                   for t, ps in sorted(by_topic.items())]})
    return sorted(p["ErrorCode"] for t in r["Topics"] for p in t["Partitions"])


def consumer(bs, gid):
    return Consumer({"bootstrap.servers": bs, "group.id": gid,
                     "enable.auto.commit": False,
                     "session.timeout.ms": 30000,
                     "partition.assignment.strategy": "range"})


def classic_member(bs, gid):
    """A confluent-kafka consumer subscribed to A, once it has its
    partitions."""
    c = consumer(bs, gid)
    c.subscribe([A])
    end = time.time() + 60
    while not c.assignment():
        if time.time() > end:
            ndtest.fail("%s: no assignment in 60 s" % gid)
        c.poll(0.2)
    return c


class Beater(threading.Thread):
    """Heartbeats of a live raw member every 2 s until stopped (the first
    error is kept: the member must stay in its group)."""

    def __init__(self, beat):
        super().__init__(daemon=True)
        self.beat, self.stop, self.errors = beat, threading.Event(), []

    def run(self):
        while not self.stop.wait(2):
            try:
                err = self.beat()
            except Exception as e:  # noqa: BLE001 - reported at the end
                err = repr(e)
            if err and not self.errors:
                self.errors.append(err)


def connect_member(bs):
    """A raw member of protocol type "connect" in CONNECT, committed A-0
    at t0 by the caller; returns (conn, generation, member id)."""
    k = kwire.Conn(bs, client_id="ret-connect")
    join = {"GroupId": CONNECT, "SessionTimeoutMs": 30000,
            "RebalanceTimeoutMs": 30000, "MemberId": "",
            "GroupInstanceId": None, "ProtocolType": "connect",
            "Protocols": [{"Name": "sessioned", "Metadata": b"\x00\x01"}]}
    r = k.call("JoinGroup", 9, join)
    if r["ErrorCode"] != 79:  # MEMBER_ID_REQUIRED
        ndtest.fail("connect join: %r" % r)
    mid = r["MemberId"]
    r = k.call("JoinGroup", 9, dict(join, MemberId=mid))
    if r["ErrorCode"]:
        ndtest.fail("connect join: %r" % r)
    gen = r["GenerationId"]
    r = k.call("SyncGroup", 5, {
        "GroupId": CONNECT, "GenerationId": gen, "MemberId": mid,
        "GroupInstanceId": None, "ProtocolType": "connect",
        "ProtocolName": "sessioned",
        "Assignments": [{"MemberId": mid, "Assignment": b"\x00"}]})
    if r["ErrorCode"]:
        ndtest.fail("connect sync: %r" % r)
    return k, gen, mid


def cg_member(bs, gid):
    """A KIP-848 member subscribed to A, once it holds A's partitions;
    returns (conn, member id, epoch)."""
    c = cgh_wire.Conn(bs, client_id=gid)
    mid = str(uuid.uuid4())
    r = c.heartbeat(gid, mid, 0, rebalance_ms=30000, topics=[A], owned=[])
    end = time.time() + 60
    while not r["assignment"]:
        if r["error"]:
            ndtest.fail("%s heartbeat: %r" % (gid, r))
        if time.time() > end:
            ndtest.fail("%s: no assignment in 60 s" % gid)
        time.sleep(0.2)
        r = c.heartbeat(gid, mid, r["epoch"])
    return c, mid, r["epoch"]


def snapshot(bs):
    """What a client sees of every group: committed offsets, the group
    list, DescribeGroups (v5: a Dead group; v6: GROUP_ID_NOT_FOUND) and
    ConsumerGroupDescribe of the KIP-848 ones."""
    with kwire.Conn(bs, client_id="ret-look") as k:
        r = k.call("OffsetFetch", 9, {
            "Groups": [{"GroupId": g, "MemberId": None, "MemberEpoch": -1,
                        "Topics": None} for g in GROUPS],
            "RequireStable": False})
        offsets = {g["GroupId"]: {"error": g["ErrorCode"], "offsets": sorted(
            "%s-%d=%d%s" % (t["Name"], p["PartitionIndex"],
                            p["CommittedOffset"],
                            " error %d" % p["ErrorCode"]
                            if p["ErrorCode"] else "")
            for t in g["Topics"] for p in t["Partitions"])}
            for g in r["Groups"]}
        r = k.call("ListGroups", 5, {"StatesFilter": [], "TypesFilter": []})
        listed = sorted((g["GroupId"], g["ProtocolType"], g["GroupState"],
                         g["GroupType"]) for g in r["Groups"]
                        if g["GroupId"] in GROUPS)
        described = {}
        for v in (5, 6):
            r = k.call("DescribeGroups", v, {"Groups": GROUPS})
            for g in r["Groups"]:
                described["v%d %s" % (v, g["GroupId"])] = {
                    "error": g["ErrorCode"],
                    "message": g.get("ErrorMessage"),
                    "state": g["GroupState"],
                    "protocol_type": g["ProtocolType"],
                    "protocol": g["ProtocolData"],
                    "members": len(g["Members"])}
        r = k.call("ConsumerGroupDescribe", 1,
                   {"GroupIds": CONSUMER_GROUPS,
                    "IncludeAuthorizedOperations": False})
        cgs = {g["GroupId"]: {"error": g["ErrorCode"],
                              "message": g["ErrorMessage"],
                              "state": g["GroupState"],
                              "members": len(g["Members"])}
               for g in r["Groups"]}
    return {"offsets": offsets, "listed": listed, "described": described,
            "consumer_groups": cgs}


def configs(k):
    """The two settings as DescribeConfigs v4 (synonyms) shows them on this
    node, and IncrementalAlterConfigs' answer to a change of each, here
    and at the cluster default (both read-only in Kafka)."""
    node = str(k.call("Metadata", 12, {"Topics": [],
                                       "AllowAutoTopicCreation": False})
               ["Brokers"][0]["NodeId"])
    names = ["offsets.retention.minutes",
             "offsets.retention.check.interval.ms"]
    r = k.call("DescribeConfigs", 4, {
        "Resources": [{"ResourceType": 4, "ResourceName": node,
                       "ConfigurationKeys": names}],
        "IncludeSynonyms": True, "IncludeDocumentation": False})
    res = r["Results"][0]
    out = {"describe": (res["ErrorCode"], sorted(
        (c["Name"], c["Value"], c["ReadOnly"], c["ConfigSource"],
         c["IsSensitive"], c["ConfigType"],
         [(y["Name"], y["Value"], y["Source"]) for y in c["Synonyms"]])
        for c in res["Configs"]))}
    for name, value in zip(names, ("5", "2000")):
        for where in (node, ""):
            r = k.call("IncrementalAlterConfigs", 1, {"Resources": [{
                "ResourceType": 4, "ResourceName": where,
                "Configs": [{"Name": name, "ConfigOperation": 0,
                             "Value": value}]}], "ValidateOnly": False})
            x = r["Responses"][0]
            out["alter %s at %s" % (name, "node" if where else "default")] = \
                (x["ErrorCode"], x["ErrorMessage"])
    return out


def scenario(bs):
    k = kwire.Conn(bs, client_id="ret-setup")
    for name, parts in ((A, 2), (B, 1)):
        r = k.call("CreateTopics", 7, {"Topics": [{
            "Name": name, "NumPartitions": parts, "ReplicationFactor": 1}],
            "TimeoutMs": 30000})
        if r["Topics"][0]["ErrorCode"]:
            ndtest.fail("CreateTopics %s: %r" % (name, r))
    wait_ready(k, GROUPS)
    seen = {"setup": {}, "configs": configs(k)}

    simple = consumer(bs, SIMPLE)
    simple.assign([TopicPartition(A, 0), TopicPartition(A, 1)])
    members = {g: classic_member(bs, g)
               for g in (EMPTY_EARLY, EMPTY_LATE, LIVE, NO_OFFSETS)}
    conn_k, conn_gen, conn_mid = connect_member(bs)
    cgs = {g: cg_member(bs, g) for g in CONSUMER_GROUPS}

    # t0: every commit at once.
    simple.commit(offsets=[TopicPartition(A, 0, 5), TopicPartition(A, 1, 6)],
                  asynchronous=False)
    seen["setup"]["simple-late A-0"] = commit(k, SIMPLE_LATE, [(A, 0, 7)])
    for g in (EMPTY_EARLY, EMPTY_LATE, LIVE):
        members[g].commit(offsets=[TopicPartition(A, 0, 3),
                                   TopicPartition(B, 0, 4)],
                          asynchronous=False)
    seen["setup"]["connect"] = commit(conn_k, CONNECT, [(A, 0, 11)],
                                      conn_gen, conn_mid)
    for g, (c, mid, epoch) in cgs.items():
        seen["setup"][g] = commit(c.k, g, [(A, 0, 13), (B, 0, 14)], epoch,
                                  mid)
    t0 = time.monotonic()
    simple.close()

    beaters = [Beater(lambda: conn_k.call("Heartbeat", 4, {
        "GroupId": CONNECT, "GenerationId": conn_gen, "MemberId": conn_mid,
        "GroupInstanceId": None})["ErrorCode"])]
    c, mid, epoch = cgs[CG_LIVE]
    beaters.append(Beater(lambda: c.heartbeat(CG_LIVE, mid, epoch)["error"]))
    for b in beaters:
        b.start()

    def at(s):
        time.sleep(max(0.0, t0 + s - time.monotonic()))

    steps = sorted([(s, "snapshot " + name) for name, s in SNAPSHOTS] +
                   [(LEAVE_EARLY, "leave early"), (LEAVE_LATE, "leave late"),
                    (LATE_COMMIT, "late commit")])
    for s, what in steps:
        at(s)
        if what.startswith("snapshot "):
            seen[what[9:]] = snapshot(bs)
        elif what == "leave early":
            members.pop(EMPTY_EARLY).close()
            members.pop(NO_OFFSETS).close()
            e, emid, eepoch = cgs[CG_EMPTY]
            seen["setup"]["cg-empty leaves"] = e.heartbeat(
                CG_EMPTY, emid, -1)["error"]
            e.close()
        elif what == "leave late":
            members.pop(EMPTY_LATE).close()
        else:
            seen["setup"]["simple-late A-1"] = commit(k, SIMPLE_LATE,
                                                      [(A, 1, 8)])
    for b in beaters:
        b.stop.set()
        b.join()
    seen["setup"]["heartbeats"] = [b.errors for b in beaters]
    members.pop(LIVE).close()
    conn_k.close()
    cgs[CG_LIVE][0].close()
    k.close()
    return seen


# What each broker must show (Kafka 4.4 does): the offsets of each group
# ("topic-partition=offset"), and the groups ListGroups lists.
EXPECT = {
    "45s": {"offsets": {
        SIMPLE: ["ret-a-0=5", "ret-a-1=6"],
        SIMPLE_LATE: ["ret-a-0=7", "ret-a-1=8"],
        EMPTY_EARLY: ["ret-a-0=3", "ret-b-0=4"],
        EMPTY_LATE: ["ret-a-0=3", "ret-b-0=4"],
        LIVE: ["ret-a-0=3", "ret-b-0=4"],
        CONNECT: ["ret-a-0=11"],
        CG_EMPTY: ["ret-a-0=13", "ret-b-0=14"],
        CG_LIVE: ["ret-a-0=13", "ret-b-0=14"],
        NO_OFFSETS: []},
        "listed": [SIMPLE, SIMPLE_LATE, EMPTY_EARLY, EMPTY_LATE, LIVE, CONNECT,
                   CG_EMPTY, CG_LIVE]},
    "66s": {"offsets": {
        SIMPLE: [],
        SIMPLE_LATE: ["ret-a-1=8"],
        EMPTY_EARLY: [],
        EMPTY_LATE: ["ret-a-0=3", "ret-b-0=4"],
        LIVE: ["ret-a-0=3"],
        CONNECT: ["ret-a-0=11"],
        CG_EMPTY: [],
        CG_LIVE: ["ret-a-0=13"],
        NO_OFFSETS: []},
        "listed": [SIMPLE_LATE, EMPTY_LATE, LIVE, CONNECT, CG_LIVE]},
}


def check(who, seen):
    """Fail unless the broker's answers show the rules (EXPECT)."""
    bad = []
    for when, want in EXPECT.items():
        got = seen[when]
        for g, offs in want["offsets"].items():
            if got["offsets"][g] != {"error": 0, "offsets": offs}:
                bad.append("%s %s: offsets %r, want %r" % (
                    when, g, got["offsets"][g], offs))
        listed = sorted(x[0] for x in got["listed"])
        if listed != sorted(want["listed"]):
            bad.append("%s: ListGroups %r, want %r" % (
                when, listed, sorted(want["listed"])))
    if any(seen["setup"]["heartbeats"]):
        bad.append("a live member lost its group: %r"
                   % seen["setup"]["heartbeats"])
    if bad:
        ndtest.fail("%s does not expire offsets as Kafka's rules say:\n  %s"
                    % (who, "\n  ".join(bad)))


def main():
    """Both halves at once: nodata's in a thread, Kafka's here (or from
    the first pass's cache)."""
    got, failed = {}, []

    def nodata_half():
        try:
            with ndtest.Broker(args=differential.NODATA_ARGS +
                               NODATA_ARGS) as b:
                got["seen"] = scenario(b.bootstrap)
                ndtest.stop_clean(b)
                got["log"] = b.stderr()
        except BaseException as e:  # noqa: BLE001 - ndtest.fail exits
            failed.append(e)

    t = threading.Thread(target=nodata_half)
    started = time.monotonic()
    t.start()

    def kafka_half():
        from apache_kafka import ApacheKafka
        with ApacheKafka(extra_props=KAFKA_PROPS) as kafka:
            return scenario(kafka.bootstrap)

    want = differential.kafka_answer("offsets retention %r" % KAFKA_PROPS,
                                     kafka_half)
    t.join()
    if failed:
        raise failed[0]
    check("Apache Kafka", want)
    check("nodata", got["seen"])
    # One INFO line per group whose offsets expired, one per group removed.
    log = got["log"]
    for g, n in ((SIMPLE, 2), (SIMPLE_LATE, 1), (EMPTY_EARLY, 2), (LIVE, 1),
                 (CG_EMPTY, 2), (CG_LIVE, 1)):
        if not re.search(r"group %s: %d committed offsets? expired "
                         r"\(retention 1 min; [^)]+\)" % (re.escape(g), n), log):
            ndtest.fail("no line says %d of %s's offsets expired:\n%s"
                        % (n, g, log[-3000:]))
    for g in (SIMPLE, EMPTY_EARLY, CG_EMPTY, NO_OFFSETS):
        if "group %s: removed" % g not in log:
            ndtest.fail("no line says %s was removed:\n%s" % (g, log[-3000:]))
    differential.compare(want, got["seen"], what="offsets retention")
    print("both brokers in %.0f s" % (time.monotonic() - started))


def described(bs):
    """The two settings as DescribeConfigs v4 shows them: (value, source)."""
    with kwire.Conn(bs, client_id="ret-configs") as k:
        r = k.call("DescribeConfigs", 4, {
            "Resources": [{"ResourceType": 4, "ResourceName": "0",
                           "ConfigurationKeys": [
                               "offsets.retention.minutes",
                               "offsets.retention.check.interval.ms"]}],
            "IncludeSynonyms": False, "IncludeDocumentation": False})
    return {c["Name"]: (c["Value"], c["ConfigSource"])
            for c in r["Results"][0]["Configs"]}


def nodata_settings():
    """nodata alone: the defaults, the variables, the --config file's
    names (no warning for them) and the values refused."""
    names = ("offsets.retention.minutes", "offsets.retention.check.interval.ms")
    cases = [
        ("defaults", {}, [], ("10080", 5), ("600000", 5)),
        ("variables", {"NODATA_OFFSETS_RETENTION_MINUTES": "7",
                       "NODATA_OFFSETS_RETENTION_CHECK_INTERVAL_MS": "1234"},
         [], ("7", 4), ("1234", 4)),
    ]
    tmp = tempfile.mkdtemp(prefix="nd-offret-")
    props = os.path.join(tmp, "server.properties")
    with open(props, "w") as f:
        f.write("offsets.retention.minutes=9\n"
                "offsets.retention.check.interval.ms=5000\n")
    cases.append(("--config", {}, ["--config", props], ("9", 4),
                  ("5000", 4)))
    for what, env, args, minutes, check_ms in cases:
        with ndtest.Broker(args=args, env=env) as b:
            got = described(b.bootstrap)
            ndtest.stop_clean(b)
            if got != dict(zip(names, (minutes, check_ms))):
                ndtest.fail("%s: DescribeConfigs says %r" % (what, got))
            if "isn't a known config" in b.stderr():
                ndtest.fail("%s: a warning for a known name:\n%s"
                            % (what, b.stderr()))
    for flag, value in (("--offsets-retention-minutes", "0"),
                        ("--offsets-retention-minutes", "2147483648"),
                        ("--offsets-retention-minutes", "1m"),
                        ("--offsets-retention-check-interval-ms", "0")):
        r = subprocess.run([ndtest.nodata_bin(), "serve", "--data",
                            os.path.join(tmp, "data"), "--listen",
                            "127.0.0.1:0", flag, value],
                           capture_output=True, timeout=30)
        err = r.stderr.decode()
        if r.returncode != 2 or "'%s' is not a number from 1 to" % value \
                not in err:
            ndtest.fail("%s %s: exit %d, %r" % (flag, value, r.returncode,
                                                  err))
    shutil.rmtree(tmp, ignore_errors=True)


if os.environ.get("ND_PROBE_KAFKA"):
    import json
    from apache_kafka import ApacheKafka
    with ApacheKafka(extra_props=KAFKA_PROPS) as kafka:
        print(json.dumps(scenario(kafka.bootstrap), indent=1, sort_keys=True,
                         default=repr))
    sys.exit(0)

nodata_settings()
main()
ndtest.passed()
