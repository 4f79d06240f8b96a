"""test_cgroup_admin.py — the classic group APIs meeting a consumer group
(KIP-848), by raw requests written from Kafka 4.4's schemas (kwire.py), on
nodata and on Apache Kafka 4.4 in the same run, every answer compared.

A consumer-protocol member joins by ConsumerGroupHeartbeat, then:
ConsumerGroupDescribe v0/v1 (the group, an unknown id, "", a classic
group known by its offsets), a commit with the previous epoch racing the
heartbeat that moved the member on (taken for the partitions it kept,
STALE_MEMBER_EPOCH for those it gave up), a classic member inside the
group (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), DescribeGroups v5/v6 and ListGroups v5 with
type and state filters showing it; OffsetCommit v8 from the member
(UNSUPPORTED_VERSION), v9 with its epoch, a stale one, a future one, an
unknown member, an admin commit (member "" epoch -1) into the live group;
OffsetFetch v9 with the member's epoch, a stale one, an unknown member,
no member; OffsetDelete of a subscribed topic; DeleteGroups while the
member is in (NON_EMPTY_GROUP); then the member leaves and the same
questions are asked of the Empty group, the admin commit goes in, the
offsets are deleted and the group is deleted.
"""
import os
import struct
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import kwire  # noqa: E402
import ndtest  # noqa: E402
from apache_kafka import classpath  # noqa: E402

TOPIC = "cga-topic"
PARTS = 4
GROUP = "cga-group"
CLASSIC = "cga-classic"


def wait_coordinator(c, gids):
    """Kafka answers COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR or
    COORDINATOR_LOAD_IN_PROGRESS until the offsets partition of each group
    is loaded; nodata answers at once."""
    for gid in gids:
        for _ in range(600):
            # FindCoordinator makes Kafka create its offsets topic.
            f = c.call("FindCoordinator", 6, {"KeyType": 0,
                                              "CoordinatorKeys": [gid]})
            if f["Coordinators"][0]["ErrorCode"]:
                time.sleep(0.1)
                continue
            r = c.call("OffsetFetch", 9, {"Groups": [{
                "GroupId": gid, "MemberId": None, "MemberEpoch": -1,
                "Topics": None}]})
            if r["Groups"][0]["ErrorCode"] not in (14, 15, 16):
                break
            time.sleep(0.1)
        else:
            ndtest.fail("no coordinator for %s" % gid)


def wait_topic(c):
    """Until the new topic's partitions all have a leader (Kafka's
    metadata propagates after CreateTopics answers)."""
    for _ in range(600):
        r = c.call("Metadata", 12, {"Topics": [{"Name": TOPIC}],
                                    "AllowAutoTopicCreation": False})
        t = r["Topics"][0]
        if not t["ErrorCode"] and len(t["Partitions"]) == PARTS and all(
                p["LeaderId"] >= 0 for p in t["Partitions"]):
            return
        time.sleep(0.1)
    ndtest.fail("topic %s has no leaders" % TOPIC)


def create_topic(c):
    r = c.call("CreateTopics", 7, {"Topics": [{
        "Name": TOPIC, "NumPartitions": PARTS, "ReplicationFactor": 1}],
        "TimeoutMs": 30000})
    err = r["Topics"][0]["ErrorCode"]
    if err:
        ndtest.fail("CreateTopics: %d" % err)
    return r["Topics"][0]["TopicId"]


def names(assignment, ids):
    """An assignment with topic names for ids (ids differ per broker)."""
    if assignment is None:
        return None
    return sorted((ids.get(t["TopicId"], t["TopicId"]), sorted(t["Partitions"]))
                  for t in assignment["TopicPartitions"])


def heartbeat(c, member, epoch, topics=None, ids=None):
    r = c.call("ConsumerGroupHeartbeat", 1, {
        "GroupId": GROUP, "MemberId": member, "MemberEpoch": epoch,
        "RebalanceTimeoutMs": 30000, "SubscribedTopicNames": topics,
        "TopicPartitions": [] if epoch == 0 else None})
    return {"error": r["ErrorCode"], "epoch": r["MemberEpoch"],
            "assignment": names(r["Assignment"], ids or {})}


def describe_cg(c, version, gids, member):
    r = c.call("ConsumerGroupDescribe", version,
               {"GroupIds": gids, "IncludeAuthorizedOperations": True})
    out = []
    for g in r["Groups"]:
        g = dict(g)
        g["Members"] = [dict(m, MemberId="<member>" if m["MemberId"] == member
                             else m["MemberId"], ClientHost="<host>",
                             Assignment=sorted(
                                 (t["TopicName"], sorted(t["Partitions"]))
                                 for t in m["Assignment"]["TopicPartitions"]),
                             TargetAssignment=sorted(
                                 (t["TopicName"], sorted(t["Partitions"]))
                                 for t in
                                 m["TargetAssignment"]["TopicPartitions"]))
                        for m in g["Members"]]
        out.append(g)
    return out


def describe_groups(c, version, member):
    r = c.call("DescribeGroups", version, {"Groups": [GROUP]})
    g = r["Groups"][0]
    g["Members"] = [dict(m, MemberId="<member>" if m["MemberId"] == member
                         else m["MemberId"], ClientHost="<host>")
                    for m in g["Members"]]
    return g


def list_groups(c, states, types):
    r = c.call("ListGroups", 5, {"StatesFilter": states,
                                 "TypesFilter": types})
    return sorted((g["GroupId"], g["ProtocolType"], g["GroupState"],
                   g["GroupType"]) for g in r["Groups"]
                  if g["GroupId"] in (GROUP, CLASSIC))


def commit(c, version, member, epoch, part=0, gid=None):
    r = c.call("OffsetCommit", version, {
        "GroupId": gid or GROUP, "GenerationIdOrMemberEpoch": epoch,
        "MemberId": member, "Topics": [{"Name": TOPIC, "Partitions": [{
            "PartitionIndex": part, "CommittedOffset": 5 + part}]}]})
    return r["Topics"][0]["Partitions"][0]["ErrorCode"]


def fetch(c, member, epoch):
    r = c.call("OffsetFetch", 9, {"Groups": [{
        "GroupId": GROUP, "MemberId": member, "MemberEpoch": epoch,
        "Topics": [{"Name": TOPIC, "PartitionIndexes": [0, 1]}]}]})
    g = r["Groups"][0]
    return {"error": g["ErrorCode"],
            "offsets": [(p["PartitionIndex"], p["CommittedOffset"],
                         p["ErrorCode"]) for t in g["Topics"]
                        for p in t["Partitions"]]}


def offset_delete(c):
    r = c.call("OffsetDelete", 0, {"GroupId": GROUP, "Topics": [{
        "Name": TOPIC, "Partitions": [{"PartitionIndex": 0}]}]})
    return [r["ErrorCode"]] + [p["ErrorCode"] for t in r["Topics"]
                               for p in t["Partitions"]]


def delete_group(c, gid=None):
    r = c.call("DeleteGroups", 2, {"GroupsNames": [gid or GROUP]})
    return r["Results"][0]["ErrorCode"]


def consumer_groups_sh(bootstrap, member, *args):
    """Kafka's kafka-consumer-groups.sh --describe on the group: its rows
    split into columns, the member id, the coordinator's address and node
    id (both differ by broker) and the epochs (relative to the join's,
    which the caller subtracts) normalised."""
    r = subprocess.run(
        ["java", "-Xmx256m", "-cp", classpath(),
         "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
         "--bootstrap-server", bootstrap, "--describe", "--group", GROUP]
        + list(args), capture_output=True, timeout=120)
    if r.returncode != 0:
        ndtest.fail("kafka-consumer-groups.sh %s: exit %d\n%s%s" % (
            " ".join(args), r.returncode, r.stdout.decode(),
            r.stderr.decode()))
    rows = []
    for line in r.stdout.decode().splitlines():
        cols = line.split()
        if not cols:
            continue
        cols = ["<member>" if c == member else c for c in cols]
        if "--state" in args and cols[0] == GROUP:
            cols[1:3] = ["<coordinator>"]
        rows.append(cols)
    return rows


def subscription(topics):
    """ConsumerProtocolSubscription v3: topics, null user data, no owned
    partitions, generation -1, null rack."""
    b = struct.pack(">hi", 3, len(topics))
    for t in topics:
        b += struct.pack(">h", len(t)) + t.encode()
    return b + struct.pack(">iiih", -1, 0, -1, -1)


def classic_member(c, epoch):
    """A classic consumer joining the live consumer group (a classic member
    inside it), syncing, heartbeating, leaving: the answers that do not
    depend on when the broker computes the assignment."""
    out = {}
    join = {"GroupId": GROUP, "SessionTimeoutMs": 30000,
            "RebalanceTimeoutMs": 30000, "MemberId": "",
            "ProtocolType": "consumer",
            "Protocols": [{"Name": "range",
                           "Metadata": subscription([TOPIC])}]}
    r = c.call("JoinGroup", 9, join)
    out["join1"] = (r["ErrorCode"], r["GenerationId"])
    mid = r["MemberId"]
    r = c.call("JoinGroup", 9, dict(join, MemberId=mid))
    out["join2"] = {k: r[k] for k in ("ErrorCode", "ProtocolType",
                                      "ProtocolName", "Leader",
                                      "SkipAssignment", "Members")}
    out["join2.member"] = r["MemberId"] == mid
    gen = r["GenerationId"]
    r = c.call("SyncGroup", 5, {"GroupId": GROUP, "GenerationId": gen,
                                "MemberId": mid, "ProtocolType": "consumer",
                                "ProtocolName": "range", "Assignments": []})
    out["sync"] = {k: r[k] for k in ("ErrorCode", "ProtocolType",
                                     "ProtocolName")}
    a = r["Assignment"]
    # An assignment in ConsumerProtocolAssignment's layout, of this topic.
    out["sync.assignment.version"] = struct.unpack(">h", a[:2])[0] if a else None
    r = c.call("SyncGroup", 5, {"GroupId": GROUP, "GenerationId": gen + 7,
                                "MemberId": mid, "ProtocolType": "consumer",
                                "ProtocolName": "range", "Assignments": []})
    out["sync.bad_generation"] = r["ErrorCode"]
    r = c.call("Heartbeat", 4, {"GroupId": GROUP, "GenerationId": gen + 7,
                                "MemberId": mid})
    out["heartbeat.bad_generation"] = r["ErrorCode"]
    r = c.call("Heartbeat", 4, {"GroupId": GROUP, "GenerationId": gen,
                                "MemberId": "nobody"})
    out["heartbeat.unknown"] = r["ErrorCode"]
    d = describe_cg(c, 1, [GROUP], mid)[0]
    out["describe.types"] = sorted(m["MemberType"] for m in d["Members"])
    out["describe.classic_subscription"] = [
        m["SubscribedTopicNames"] for m in d["Members"]
        if m["MemberId"] == "<member>"]
    out["commit.classic"] = commit(c, 9, mid, gen)
    out["commit.classic.bad"] = commit(c, 9, mid, gen + 7)
    r = c.call("LeaveGroup", 5, {"GroupId": GROUP, "Members": [
        {"MemberId": mid, "GroupInstanceId": None},
        {"MemberId": "nobody", "GroupInstanceId": None}]})
    out["leave"] = (r["ErrorCode"], [m["ErrorCode"] for m in r["Members"]])
    d = describe_cg(c, 1, [GROUP], mid)[0]
    out["after_leave.types"] = sorted(m["MemberType"] for m in d["Members"])
    return out


def lagging_commit(c, tid, ids):
    """Two consumer members; the first acknowledges giving up half its
    partitions and moves to a new epoch; then it commits every partition
    with its old epoch (a commit racing that heartbeat) and with its new
    one. Kafka 4.4 takes the old epoch for the partitions it kept only."""
    gid = GROUP + "-lag"
    m1, m2 = str(uuid.uuid4()), str(uuid.uuid4())

    def hb(member, epoch, owned, topics=None):
        return c.call("ConsumerGroupHeartbeat", 1, {
            "GroupId": gid, "MemberId": member, "MemberEpoch": epoch,
            "RebalanceTimeoutMs": 30000 if epoch == 0 else -1,
            "SubscribedTopicNames": topics,
            "TopicPartitions": [{"TopicId": uuid.UUID(tid),
                                 "Partitions": owned}] if owned else []})

    r = hb(m1, 0, [], [TOPIC])
    if r["ErrorCode"]:
        ndtest.fail("lagging_commit: join: %r" % r)
    first = r["MemberEpoch"]
    hb(m2, 0, [], [TOPIC])
    epoch, own = first, list(range(PARTS))
    for _ in range(100):
        r = hb(m1, epoch, own)
        if r["Assignment"] is not None:
            own = sorted(p for t in r["Assignment"]["TopicPartitions"]
                         for p in t["Partitions"])
        epoch = r["MemberEpoch"]
        if epoch > first and len(own) < PARTS:
            break
        time.sleep(0.1)
    old = {p: commit(c, 9, m1, first, part=p, gid=gid) for p in range(PARTS)}
    new = {p: commit(c, 9, m1, epoch, part=p, gid=gid) for p in range(PARTS)}
    return {"moved_on": epoch > first, "kept": len(own),
            "old_epoch.kept": sorted({old[p] for p in own}),
            "old_epoch.revoked": sorted({old[p] for p in range(PARTS)
                                         if p not in own}),
            "new_epoch": sorted(set(new.values()))}


def ask_everything(c, out, key, member, epoch):
    out[key + ".cgdescribe.v0"] = describe_cg(c, 0, [GROUP], member)
    out[key + ".cgdescribe.v1"] = describe_cg(c, 1, [GROUP], member)
    out[key + ".describe.v5"] = describe_groups(c, 5, member)
    out[key + ".describe.v6"] = describe_groups(c, 6, member)
    for states, types in (([], []), ([], ["consumer"]), ([], ["classic"]),
                          (["stable"], []), (["empty"], ["consumer"]),
                          (["Assigning", "reconciling"], [])):
        out["%s.list.%s.%s" % (key, ",".join(states), ",".join(types))] = \
            list_groups(c, states, types)


def scenario(bootstrap):
    out = {}
    member = str(uuid.uuid4())
    with kwire.Conn(bootstrap) as c:
        wait_coordinator(c, [GROUP, CLASSIC, "cga-none", GROUP + "-lag"])
        tid = create_topic(c)
        wait_topic(c)
        ids = {tid: TOPIC}
        # A classic group known only by a simple commit (generation -1).
        out["classic.commit"] = commit(c, 9, "", -1, gid=CLASSIC)
        out["cgdescribe.misc"] = describe_cg(c, 1, ["cga-none", "", CLASSIC],
                                             member)

        hb = heartbeat(c, member, 0, [TOPIC], ids)
        # Kafka may give the assignment in a later heartbeat.
        for _ in range(50):
            if hb["assignment"]:
                break
            time.sleep(0.1)
            hb = heartbeat(c, member, hb["epoch"], None, ids)
        out["join"] = dict(hb, epoch=hb["epoch"] > 0)
        epoch = join_epoch = hb["epoch"]
        ask_everything(c, out, "live", member, epoch)
        out["commit.v9"] = commit(c, 9, member, epoch)
        out["tool.offsets"] = consumer_groups_sh(bootstrap, member)
        out["tool.members"] = consumer_groups_sh(bootstrap, member,
                                                 "--members", "--verbose")
        out["tool.state"] = consumer_groups_sh(bootstrap, member, "--state")

        out["lagging_commit"] = lagging_commit(c, tid, ids)
        out["classic"] = classic_member(c, epoch)
        # The classic member's join moved the group epoch on: the
        # consumer member catches up before the checks by epoch below.
        for _ in range(50):
            hb = heartbeat(c, member, epoch, None, ids)
            epoch = hb["epoch"]
            d = describe_cg(c, 1, [GROUP], member)[0]
            if d["GroupState"] == "Stable":
                break
            time.sleep(0.1)
        out["commit.v8"] = commit(c, 8, member, epoch)
        out["commit.stale"] = commit(c, 9, member, epoch - 1)
        out["commit.future"] = commit(c, 9, member, epoch + 1)
        out["commit.unknown"] = commit(c, 9, "no-such-member", epoch)
        out["commit.admin"] = commit(c, 9, "", -1, part=1)
        out["commit.v9.generation-1"] = commit(c, 9, member, -1)
        out["fetch.member"] = fetch(c, member, epoch)
        out["fetch.stale"] = fetch(c, member, epoch - 1)
        out["fetch.future"] = fetch(c, member, epoch + 1)
        out["fetch.unknown"] = fetch(c, "no-such-member", epoch)
        out["fetch.none"] = fetch(c, None, -1)
        out["offset_delete.live"] = offset_delete(c)
        out["delete.live"] = delete_group(c)

        out["leave"] = heartbeat(c, member, -1)
        ask_everything(c, out, "empty", member, epoch)
        out["empty.commit.member"] = commit(c, 9, member, epoch)
        out["empty.commit.admin"] = commit(c, 9, "", -1, part=1)
        out["empty.fetch.member"] = fetch(c, member, epoch)
        out["empty.fetch.none"] = fetch(c, None, -1)
        out["offset_delete.empty"] = offset_delete(c)
        out["delete.empty"] = delete_group(c)
        out["deleted.cgdescribe"] = describe_cg(c, 1, [GROUP], member)
        out["deleted.fetch"] = fetch(c, None, -1)
        out["delete.classic"] = delete_group(c, CLASSIC)
    return relative_epochs(out, join_epoch)


def relative_epochs(v, base, key=None):
    """Epochs as offsets from the join's: how a broker numbers the first
    epoch is the heartbeat's business (test_cgroup_*), what follows from
    it is this test's."""
    if isinstance(v, dict):
        return {k: relative_epochs(x, base, k) for k, x in v.items()}
    if isinstance(v, list):
        if v and v[0] == GROUP and len(v) == 9 and key == "tool.members":
            return v[:5] + [int(v[5]) - base, v[6], int(v[7]) - base, v[8]]
        return [relative_epochs(x, base, key) for x in v]
    if key in ("GroupEpoch", "AssignmentEpoch", "MemberEpoch") and v > 0:
        return v - base
    return v


def main():
    want, got = differential.run_both(scenario)
    differential.compare(want, got)
    # What the comparison cannot show by itself: the answers are the
    # interesting ones, not the same error everywhere.
    for res in (want, got):
        if res["commit.stale"] == res["commit.v9"]:
            ndtest.fail("a stale epoch was not told apart: %r" % res)
    print("cgroup admin: %d answers the same on both brokers" % len(got))


if __name__ == "__main__":
    main()
