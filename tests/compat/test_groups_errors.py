"""test_groups_errors.py — the group coordinator's answers, with requests
written by hand from Kafka 4.1's schemas (JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit, OffsetFetch, FindCoordinator, ListGroups,
DescribeGroups, DeleteGroups) and every response read field by field by the
small decoder below, not by the broker's codec.

Covered: FindCoordinator v0/v3/v4 (batched keys; transactional ids at node 0,
  share groups refused);
JoinGroup v5 MEMBER_ID_REQUIRED then a join with the handed-out id, the
leader getting the member list; SyncGroup v3; Heartbeat v3 with stale
generation and unknown member; OffsetCommit for an unknown group (v2:
ILLEGAL_GENERATION, v9: GROUP_ID_NOT_FOUND), a stale generation, an unknown
member, a simple commit into a live group, an unknown topic, by topic id
(v10); OffsetFetch v1/v5 (-1 for never-committed partitions), v8 (two
groups, null topics = all), v10 by topic id; ListGroups v4/v5 filters;
DescribeGroups v5/v6; DeleteGroups v1 (NON_EMPTY_GROUP while a member is in,
then deleted); LeaveGroup v3 batched; static membership (group.instance.id:
a restarted member takes its place back without a rebalance, the old id is
fenced, it leaves by instance id); session expiry; a member dropped after
the rebalance timeout while it only heartbeats; a parked SyncGroup whose
connection closes; and an acknowledged commit that survives kill -9 of the
broker.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from kafka_errors import (  # noqa: E402
    FENCED_INSTANCE_ID, GROUP_ID_NOT_FOUND, ILLEGAL_GENERATION,
    INVALID_GROUP_ID, INVALID_REQUEST, MEMBER_ID_REQUIRED, NON_EMPTY_GROUP,
    NONE, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, UNKNOWN_TOPIC_ID,
    UNKNOWN_TOPIC_OR_PARTITION)

TOPIC = "grp-errors"
PARTS = 3


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


# ---- writing ---------------------------------------------------------------

def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def s(v):  # classic string, int16 length, -1 = null
    if v is None:
        return i16(-1)
    b = v.encode()
    return i16(len(b)) + b


def by(v):  # classic bytes
    if v is None:
        return i32(-1)
    return i32(len(v)) + v


def arr(items):  # classic array
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def cs(v):  # compact string
    if v is None:
        return b"\x00"
    b = v.encode()
    return uvarint(len(b) + 1) + b


def carr(items):
    if items is None:
        return b"\x00"
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = b"\x00"


# ---- reading ---------------------------------------------------------------

class Reader:
    def __init__(self, data, flex):
        self.d = data
        self.p = 0
        self.flex = flex

    def take(self, n):
        check(self.p + n <= len(self.d), "response truncated at %d" % self.p)
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uuid(self):
        return self.take(16)

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def str(self):
        if self.flex:
            n = self.uvarint() - 1
        else:
            n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes(self):
        if self.flex:
            n = self.uvarint() - 1
        else:
            n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, fn):
        if self.flex:
            n = self.uvarint() - 1
        else:
            n = self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]

    def tags(self):
        if not self.flex:
            return {}
        out = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            out[tag] = self.take(self.uvarint())
        return out

    def end(self):
        check(self.p == len(self.d),
              "%d bytes left over" % (len(self.d) - self.p))


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.corr = 0

    def call(self, key, version, body, flex):
        self.corr += 1
        cid = b"groups-test"
        msg = struct.pack(">hhih", key, version, self.corr, len(cid)) + cid
        if flex:
            msg += TAGS  # request header v2
        self.s.sendall(struct.pack(">i", len(msg) + len(body)) + msg + body)
        r = ndtest.recv_frame(self.s, 20)
        check(r is not None, "api %d v%d: connection closed" % (key, version))
        rd = Reader(r, flex)
        eq(rd.i32(), self.corr, "api %d v%d correlation id" % (key, version))
        rd.tags()  # response header v1 when flexible
        return rd

    def close(self):
        self.s.close()


# ---- APIs ------------------------------------------------------------------

def metadata_v12(c, name):
    """The topic's id and partition count (Metadata v12, by name)."""
    body = carr([b"\x00" * 16 + cs(name) + TAGS]) + i8(1) + i8(0) + TAGS
    r = c.call(3, 12, body, True)
    r.i32()  # throttle

    def broker(r):
        node, host, port, rack = r.i32(), r.str(), r.i32(), r.str()
        r.tags()
        return node, host, port, rack

    brokers = r.array(broker)
    r.str()  # cluster id
    r.i32()  # controller

    def part(r):
        err, idx, leader, epoch = r.i16(), r.i32(), r.i32(), r.i32()
        r.array(lambda r: r.i32())
        r.array(lambda r: r.i32())
        r.array(lambda r: r.i32())
        r.tags()
        return idx

    def topic(r):
        err, tname, tid, internal = r.i16(), r.str(), r.uuid(), r.i8()
        parts = r.array(part)
        r.i32()
        r.tags()
        return err, tname, tid, parts

    topics = r.array(topic)
    r.tags()
    r.end()
    eq(len(topics), 1, "metadata topics")
    eq(topics[0][0], NONE, "metadata topic error")
    return topics[0][2], len(topics[0][3]), brokers


def find_coordinator(c, version, key, key_type=0):
    if version == 0:
        r = c.call(10, 0, s(key), False)
        err, node, host, port = r.i16(), r.i32(), r.str(), r.i32()
        r.end()
        return err, None, node, host, port
    body = s(key) + i8(key_type) if version < 3 else cs(key) + i8(key_type) + TAGS
    r = c.call(10, version, body, version >= 3)
    r.i32()
    err, msg, node, host, port = r.i16(), r.str(), r.i32(), r.str(), r.i32()
    r.tags()
    r.end()
    return err, msg, node, host, port


def find_coordinators_v4(c, keys, key_type=0):
    body = i8(key_type) + carr([cs(k) for k in keys]) + TAGS
    r = c.call(10, 4, body, True)
    r.i32()

    def coord(r):
        out = (r.str(), r.i32(), r.str(), r.i32(), r.i16(), r.str())
        r.tags()
        return out

    cs_ = r.array(coord)
    r.tags()
    r.end()
    return cs_


def join_body_v5(group, member, session=6000, protocols=(("range", b"sub"),),
                 instance=None, rebalance=10000):
    return (s(group) + i32(session) + i32(rebalance) + s(member) +
            s(instance) + s("consumer") +
            arr([s(n) + by(m) for n, m in protocols]))


def send_only(c, key, version, body):
    """Send a classic request whose answer comes later (recv_join)."""
    c.corr += 1
    hdr = struct.pack(">hhih", key, version, c.corr, 11) + b"groups-test"
    c.s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
    return c.corr


def recv_join_v5(c, corr, timeout=20):
    r = ndtest.recv_frame(c.s, timeout)
    check(r is not None, "JoinGroup answer: connection closed")
    rd = Reader(r, False)
    eq(rd.i32(), corr, "JoinGroup answer correlation id")
    out = {"throttle": rd.i32(), "error": rd.i16(), "generation": rd.i32(),
           "protocol": rd.str(), "leader": rd.str(), "member": rd.str(),
           "members": rd.array(lambda r: (r.str(), r.str(), r.bytes()))}
    rd.end()
    return out


def join_v5(c, group, member, session=6000, protocols=(("range", b"sub"),),
            instance=None, rebalance=10000):
    body = (s(group) + i32(session) + i32(rebalance) + s(member) +
            s(instance) +
            s("consumer") +
            arr([s(n) + by(m) for n, m in protocols]))
    r = c.call(11, 5, body, False)
    out = {"throttle": r.i32(), "error": r.i16(), "generation": r.i32(),
           "protocol": r.str(), "leader": r.str(), "member": r.str()}

    def mem(r):
        return r.str(), r.str(), r.bytes()

    out["members"] = r.array(mem)
    r.end()
    return out


def sync_v3(c, group, gen, member, assignments):
    body = (s(group) + i32(gen) + s(member) + s(None) +
            arr([s(m) + by(a) for m, a in assignments]))
    r = c.call(14, 3, body, False)
    r.i32()
    err, assignment = r.i16(), r.bytes()
    r.end()
    return err, assignment


def heartbeat_v3(c, group, gen, member, instance=None):
    r = c.call(12, 3, s(group) + i32(gen) + s(member) + s(instance), False)
    r.i32()
    err = r.i16()
    r.end()
    return err


def commit_v2(c, group, gen, member, offsets):
    """offsets: {topic: [(partition, offset, metadata)]} -> {(t, p): err}"""
    body = (s(group) + i32(gen) + s(member) + i64(-1) +
            arr([s(t) + arr([i32(p) + i64(o) + s(m) for p, o, m in ps])
                 for t, ps in offsets.items()]))
    r = c.call(8, 2, body, False)

    def part(r):
        return r.i32(), r.i16()

    def topic(r):
        return r.str(), r.array(part)

    topics = r.array(topic)
    r.end()
    return {(t, p): e for t, ps in topics for p, e in ps}


def commit_v7(c, group, gen, member, offsets):
    body = (s(group) + i32(gen) + s(member) + s(None) +
            arr([s(t) + arr([i32(p) + i64(o) + i32(-1) + s(m)
                             for p, o, m in ps])
                 for t, ps in offsets.items()]))
    r = c.call(8, 7, body, False)
    r.i32()

    def part(r):
        return r.i32(), r.i16()

    def topic(r):
        return r.str(), r.array(part)

    topics = r.array(topic)
    r.end()
    return {(t, p): e for t, ps in topics for p, e in ps}


def commit_v9(c, group, gen, member, offsets):
    body = (cs(group) + i32(gen) + cs(member) + cs(None) +
            carr([cs(t) + carr([i32(p) + i64(o) + i32(-1) + cs(m) + TAGS
                                for p, o, m in ps]) + TAGS
                  for t, ps in offsets.items()]) + TAGS)
    r = c.call(8, 9, body, True)
    r.i32()

    def part(r):
        out = (r.i32(), r.i16())
        r.tags()
        return out

    def topic(r):
        out = (r.str(), r.array(part))
        r.tags()
        return out

    topics = r.array(topic)
    r.tags()
    r.end()
    return {(t, p): e for t, ps in topics for p, e in ps}


def commit_v10(c, group, gen, member, offsets):
    """offsets: {topic_id: [(partition, offset, metadata)]}"""
    body = (cs(group) + i32(gen) + cs(member) + cs(None) +
            carr([tid + carr([i32(p) + i64(o) + i32(7) + cs(m) + TAGS
                              for p, o, m in ps]) + TAGS
                  for tid, ps in offsets.items()]) + TAGS)
    r = c.call(8, 10, body, True)
    r.i32()

    def part(r):
        out = (r.i32(), r.i16())
        r.tags()
        return out

    def topic(r):
        out = (r.uuid(), r.array(part))
        r.tags()
        return out

    topics = r.array(topic)
    r.tags()
    r.end()
    return {(t, p): e for t, ps in topics for p, e in ps}


def fetch_v1(c, group, topics):
    body = s(group) + arr([s(t) + arr([i32(p) for p in ps])
                           for t, ps in topics.items()])
    r = c.call(9, 1, body, False)

    def part(r):
        return r.i32(), (r.i64(), r.str(), r.i16())

    def topic(r):
        return r.str(), r.array(part)

    out = {(t, p): v for t, ps in r.array(topic) for p, v in ps}
    r.end()
    return out


def fetch_v5(c, group, topics):
    """-> ({(t, p): (offset, epoch, metadata, err)}, top-level error)"""
    body = s(group) + arr(None if topics is None else
                          [s(t) + arr([i32(p) for p in ps])
                           for t, ps in topics.items()])
    r = c.call(9, 5, body, False)
    r.i32()

    def part(r):
        return r.i32(), (r.i64(), r.i32(), r.str(), r.i16())

    def topic(r):
        return r.str(), r.array(part)

    out = {(t, p): v for t, ps in r.array(topic) for p, v in ps}
    err = r.i16()
    r.end()
    return out, err


def fetch_v8(c, groups):
    """groups: {group: None (all) or {topic: [partitions]}}"""
    body = carr([cs(g) + carr(None if ts is None else
                              [cs(t) + carr([i32(p) for p in ps]) + TAGS
                               for t, ps in ts.items()]) + TAGS
                 for g, ts in groups.items()]) + i8(0) + TAGS
    r = c.call(9, 8, body, True)
    r.i32()

    def part(r):
        out = (r.i32(), (r.i64(), r.i32(), r.str(), r.i16()))
        r.tags()
        return out

    def topic(r):
        out = (r.str(), r.array(part))
        r.tags()
        return out

    def group(r):
        gid = r.str()
        topics = r.array(topic)
        err = r.i16()
        r.tags()
        return gid, ({(t, p): v for t, ps in topics for p, v in ps}, err)

    out = dict(r.array(group))
    r.tags()
    r.end()
    return out


def fetch_v10(c, group, topics):
    """topics: {topic_id: [partitions]}"""
    body = carr([cs(group) + cs(None) + i32(-1) +
                 carr([tid + carr([i32(p) for p in ps]) + TAGS
                       for tid, ps in topics.items()]) + TAGS]) + i8(0) + TAGS
    r = c.call(9, 10, body, True)
    r.i32()

    def part(r):
        out = (r.i32(), (r.i64(), r.i32(), r.str(), r.i16()))
        r.tags()
        return out

    def topic(r):
        out = (r.uuid(), r.array(part))
        r.tags()
        return out

    def grp(r):
        gid = r.str()
        topics = r.array(topic)
        err = r.i16()
        r.tags()
        return gid, topics, err

    groups = r.array(grp)
    r.tags()
    r.end()
    eq(len(groups), 1, "OffsetFetch v10 groups")
    gid, topics, err = groups[0]
    eq(gid, group, "OffsetFetch v10 group id")
    eq(err, NONE, "OffsetFetch v10 group error")
    return {(t, p): v for t, ps in topics for p, v in ps}


def leave_v3(c, group, members):
    """members: member ids, or (member id, instance id) pairs"""
    members = [m if isinstance(m, tuple) else (m, None) for m in members]
    body = s(group) + arr([s(m) + s(i) for m, i in members])
    r = c.call(13, 3, body, False)
    r.i32()
    err = r.i16()

    def mem(r):
        return r.str(), r.str(), r.i16()

    ms = r.array(mem)
    r.end()
    return err, ms


def list_groups(c, version, states=(), types=()):
    if version >= 3:
        body = b""
        if version >= 4:
            body += carr([cs(x) for x in states])
        if version >= 5:
            body += carr([cs(x) for x in types])
        body += TAGS
    else:
        body = b""
    r = c.call(16, version, body, version >= 3)
    if version >= 1:
        r.i32()
    err = r.i16()

    def grp(r):
        out = [r.str(), r.str()]
        if version >= 4:
            out.append(r.str())
        if version >= 5:
            out.append(r.str())
        r.tags()
        return tuple(out)

    gs = r.array(grp)
    r.tags()
    r.end()
    return err, gs


def describe_groups(c, version, groups):
    flex = version >= 5
    if flex:
        body = carr([cs(g) for g in groups]) + i8(1) + TAGS
    else:
        body = arr([s(g) for g in groups]) + i8(1)
    r = c.call(15, version, body, flex)
    r.i32()

    def mem(r):
        m = {"member": r.str(), "instance": r.str(), "client": r.str(),
             "host": r.str(), "metadata": r.bytes(), "assignment": r.bytes()}
        r.tags()
        return m

    def grp(r):
        g = {"error": r.i16()}
        if version >= 6:
            g["message"] = r.str()
        g.update(group=r.str(), state=r.str(), ptype=r.str(), pdata=r.str(),
                 members=r.array(mem), ops=r.i32())
        r.tags()
        return g

    gs = r.array(grp)
    r.tags()
    r.end()
    return gs


def delete_groups_v1(c, groups):
    r = c.call(42, 1, arr([s(g) for g in groups]), False)
    r.i32()

    def res(r):
        return r.str(), r.i16()

    out = dict(r.array(res))
    r.end()
    return out


# ---- the test --------------------------------------------------------------

def main():
    with ndtest.Broker(args=["--group-initial-delay-ms", "100",
                             "--partitions", str(PARTS)]) as b:
        c = Conn(b.port)
        tid, nparts, brokers = metadata_v12(c, TOPIC)  # auto-creates it
        eq(nparts, PARTS, "partitions of the auto-created topic")

        # FindCoordinator: node 0 at the advertised address, every version.
        for v in (0, 1, 2, 3):
            err, msg, node, host, port = find_coordinator(c, v, "g1")
            eq((err, node, host, port), (NONE, 0, "127.0.0.1", b.port),
               "FindCoordinator v%d" % v)
            if v >= 1:
                eq(msg, None, "FindCoordinator v%d error message" % v)
        # A transactional id (key type 1) is coordinated by node 0 too;
        # share groups (type 2) are not served.
        err, msg, node, host, port = find_coordinator(c, 3, "txn", 1)
        eq((err, msg, node, host, port), (NONE, None, 0, "127.0.0.1", b.port),
           "FindCoordinator for a transaction")
        err, msg, node, host, port = find_coordinator(c, 3, "share", 2)
        eq(err, INVALID_REQUEST, "FindCoordinator for a share group")
        check(msg and "share" in msg, "FindCoordinator share group message")
        coords = find_coordinators_v4(c, ["g1", "g2"])
        eq(coords, [("g1", 0, "127.0.0.1", b.port, NONE, None),
                    ("g2", 0, "127.0.0.1", b.port, NONE, None)],
           "FindCoordinator v4 batched keys")

        # Offsets nobody committed: -1, empty metadata, no error.
        got = fetch_v1(c, "nobody", {TOPIC: [0, 1]})
        eq(got, {(TOPIC, 0): (-1, "", NONE), (TOPIC, 1): (-1, "", NONE)},
           "OffsetFetch v1 never committed")

        # OffsetCommit with a generation for a group nobody joined.
        one = {TOPIC: [(0, 5, "m")]}
        eq(commit_v2(c, "ghost", 3, "someone", one), {(TOPIC, 0):
           ILLEGAL_GENERATION}, "OffsetCommit v2 unknown group")
        eq(commit_v9(c, "ghost", 3, "someone", one), {(TOPIC, 0):
           GROUP_ID_NOT_FOUND}, "OffsetCommit v9 unknown group")
        eq(commit_v2(c, "", -1, "", one), {(TOPIC, 0): INVALID_GROUP_ID},
           "OffsetCommit empty group id")
        # A simple commit (generation -1) is fine; unknown topics are not.
        eq(commit_v2(c, "simple", -1, "", {TOPIC: [(0, 5, "m0"), (2, 9, None)],
                                          "no-such-topic": [(0, 1, "")]}),
           {(TOPIC, 0): NONE, (TOPIC, 2): NONE,
            ("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION},
           "OffsetCommit v2 simple")
        got, err = fetch_v5(c, "simple", {TOPIC: [0, 1, 2]})
        eq(err, NONE, "OffsetFetch v5 error")
        eq(got, {(TOPIC, 0): (5, -1, "m0", NONE),
                 (TOPIC, 1): (-1, -1, "", NONE),
                 (TOPIC, 2): (9, -1, "", NONE)}, "OffsetFetch v5")

        # A member joins: MEMBER_ID_REQUIRED first, then with the id.
        j = join_v5(c, "live", "")
        eq(j["error"], MEMBER_ID_REQUIRED, "JoinGroup v5 first answer")
        mid = j["member"]
        check(mid.startswith("groups-test-") and len(mid) > 30,
              "member id %r" % mid)
        j = join_v5(c, "live", mid)
        eq((j["error"], j["generation"], j["protocol"], j["leader"],
            j["member"]), (NONE, 1, "range", mid, mid), "JoinGroup v5")
        eq(j["members"], [(mid, None, b"sub")], "JoinGroup v5 members")
        err, asg = sync_v3(c, "live", 0, mid, [])
        eq(err, ILLEGAL_GENERATION, "SyncGroup v3 stale generation")
        err, asg = sync_v3(c, "live", 1, mid, [(mid, b"all of it")])
        eq((err, asg), (NONE, b"all of it"), "SyncGroup v3")
        eq(heartbeat_v3(c, "live", 1, mid), NONE, "Heartbeat v3")
        eq(heartbeat_v3(c, "live", 0, mid), ILLEGAL_GENERATION,
           "Heartbeat v3 stale generation")
        eq(heartbeat_v3(c, "live", 1, "stranger"), UNKNOWN_MEMBER_ID,
           "Heartbeat v3 unknown member")
        eq(heartbeat_v3(c, "nogroup", 1, mid), UNKNOWN_MEMBER_ID,
           "Heartbeat v3 unknown group")

        # Commits into the live group.
        eq(commit_v7(c, "live", 1, mid, {TOPIC: [(1, 42, "x")]}),
           {(TOPIC, 1): NONE}, "OffsetCommit v7 current generation")
        eq(commit_v7(c, "live", 0, mid, {TOPIC: [(1, 43, "")]}),
           {(TOPIC, 1): ILLEGAL_GENERATION}, "OffsetCommit v7 stale generation")
        eq(commit_v7(c, "live", 1, "stranger", {TOPIC: [(1, 43, "")]}),
           {(TOPIC, 1): UNKNOWN_MEMBER_ID}, "OffsetCommit v7 unknown member")
        eq(commit_v2(c, "live", -1, "", {TOPIC: [(1, 43, "")]}),
           {(TOPIC, 1): UNKNOWN_MEMBER_ID}, "OffsetCommit simple into live group")
        eq(commit_v10(c, "live", 1, mid, {tid: [(2, 77, "byid")],
                                          b"\x01" * 16: [(0, 1, "")]}),
           {(tid, 2): NONE, (b"\x01" * 16, 0): UNKNOWN_TOPIC_ID},
           "OffsetCommit v10 by topic id")
        got = fetch_v10(c, "live", {tid: [0, 1, 2]})
        eq(got, {(tid, 0): (-1, -1, "", NONE), (tid, 1): (42, -1, "x", NONE),
                 (tid, 2): (77, 7, "byid", NONE)}, "OffsetFetch v10")

        # OffsetFetch v8: two groups, one with every committed partition.
        got = fetch_v8(c, {"live": None, "simple": {TOPIC: [1, 2]}})
        eq(got["live"], ({(TOPIC, 1): (42, -1, "x", NONE),
                          (TOPIC, 2): (77, 7, "byid", NONE)}, NONE),
           "OffsetFetch v8 all of a group")
        eq(got["simple"], ({(TOPIC, 1): (-1, -1, "", NONE),
                            (TOPIC, 2): (9, -1, "", NONE)}, NONE),
           "OffsetFetch v8 some partitions")
        got, err = fetch_v5(c, "live", None)
        eq((got, err), ({(TOPIC, 1): (42, -1, "x", NONE),
                         (TOPIC, 2): (77, 7, "byid", NONE)}, NONE),
           "OffsetFetch v5 null topics")

        # Listing and describing.
        err, gs = list_groups(c, 0)
        eq(err, NONE, "ListGroups v0 error")
        eq(sorted(gs), [("live", "consumer"), ("simple", "")], "ListGroups v0")
        err, gs = list_groups(c, 4, states=["stable"])
        eq(gs, [("live", "consumer", "Stable")], "ListGroups v4 Stable only")
        err, gs = list_groups(c, 5, states=["Empty"], types=["classic"])
        eq(gs, [("simple", "", "Empty", "classic")], "ListGroups v5 filters")
        err, gs = list_groups(c, 5, types=["consumer"])
        eq(gs, [], "ListGroups v5 no consumer-protocol groups")
        d = describe_groups(c, 5, ["live", "simple", "nothing"])
        eq([(g["group"], g["error"], g["state"], g["ptype"], g["pdata"])
            for g in d],
           [("live", NONE, "Stable", "consumer", "range"),
            ("simple", NONE, "Empty", "", ""),
            ("nothing", NONE, "Dead", "", "")], "DescribeGroups v5")
        eq(len(d[0]["members"]), 1, "DescribeGroups members")
        m = d[0]["members"][0]
        eq((m["member"], m["instance"], m["client"], m["host"], m["metadata"],
            m["assignment"]), (mid, None, "groups-test", "/127.0.0.1", b"sub",
                               b"all of it"), "DescribeGroups member")
        # Kafka 4.1 without an authorizer: READ, DELETE, DESCRIBE,
        # DESCRIBE_CONFIGS, ALTER_CONFIGS (AclEntry.supportedOperations).
        eq(d[0]["ops"], sum(1 << a for a in (3, 6, 8, 10, 11)),
           "DescribeGroups authorized operations")
        d = describe_groups(c, 6, ["nothing"])
        eq((d[0]["error"], d[0]["state"]), (GROUP_ID_NOT_FOUND, "Dead"),
           "DescribeGroups v6 unknown group")

        # A second member makes the first one rejoin.
        c2 = Conn(b.port)
        j2 = join_v5(c2, "live", "")
        eq(j2["error"], MEMBER_ID_REQUIRED, "second member first join")
        mid2 = j2["member"]
        # Its join waits for the first member: send it, then heartbeat.
        body = (s("live") + i32(6000) + i32(10000) + s(mid2) + s(None) +
                s("consumer") + arr([s("range") + by(b"sub2")]))
        c2.corr += 1
        hdr = struct.pack(">hhih", 11, 5, c2.corr, 11) + b"groups-test"
        c2.s.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        time.sleep(0.3)  # let it arrive first
        eq(heartbeat_v3(c, "live", 1, mid), REBALANCE_IN_PROGRESS,
           "Heartbeat v3 during a rebalance")
        eq(commit_v7(c, "live", 1, mid, {TOPIC: [(0, 3, "")]}),
           {(TOPIC, 0): NONE}, "OffsetCommit while preparing a rebalance")
        eq(delete_groups_v1(c, ["live"]), {"live": NON_EMPTY_GROUP},
           "DeleteGroups v1 non-empty group")
        j = join_v5(c, "live", mid)
        eq((j["error"], j["generation"], j["leader"]), (NONE, 2, mid),
           "rejoin after a second member came")
        eq(sorted(j["members"]), sorted([(mid, None, b"sub"),
                                         (mid2, None, b"sub2")]),
           "the leader gets both members")
        r = ndtest.recv_frame(c2.s, 20)
        check(r is not None, "second member's JoinGroup answer")
        rd = Reader(r, False)
        eq(rd.i32(), c2.corr, "second member correlation id")
        rd.i32()
        eq((rd.i16(), rd.i32(), rd.str(), rd.str(), rd.str()),
           (NONE, 2, "range", mid, mid2), "second member's JoinGroup")
        eq(rd.array(lambda r: (r.str(), r.str(), r.bytes())), [],
           "a follower gets no member list")
        rd.end()
        eq(commit_v7(c, "live", 2, mid, {TOPIC: [(0, 4, "")]}),
           {(TOPIC, 0): REBALANCE_IN_PROGRESS},
           "OffsetCommit while waiting for the assignment")

        # Both leave in one LeaveGroup v3; the group is then Empty.
        err, ms = leave_v3(c, "live", [mid, mid2, "stranger"])
        eq(err, NONE, "LeaveGroup v3 error")
        eq(ms, [(mid, None, NONE), (mid2, None, NONE),
                ("stranger", None, UNKNOWN_MEMBER_ID)], "LeaveGroup v3 members")
        eq(heartbeat_v3(c, "live", 2, mid), UNKNOWN_MEMBER_ID,
           "Heartbeat after leaving")
        err, gs = list_groups(c, 4, states=["Empty"])
        eq(sorted(gs), [("live", "consumer", "Empty"), ("simple", "", "Empty")],
           "ListGroups v4 after leaving")
        eq(delete_groups_v1(c, ["live", "never-was"]),
           {"live": NONE, "never-was": GROUP_ID_NOT_FOUND}, "DeleteGroups v1")
        got, err = fetch_v5(c, "live", None)
        eq((got, err), ({}, NONE), "a deleted group has no offsets")
        c2.close()

        # Static membership: a member restarted with the same
        # group.instance.id gets its place (and assignment) back under a new
        # id without a rebalance; the old id is fenced.
        j = join_v5(c, "static", "", instance="inst-1")
        sm1 = j["member"]
        eq((j["error"], j["generation"], j["leader"]), (NONE, 1, sm1),
           "static member's first JoinGroup (no MEMBER_ID_REQUIRED)")
        check(sm1.startswith("inst-1-"), "static member id %r" % sm1)
        eq(j["members"], [(sm1, "inst-1", b"sub")], "static member listed")
        eq(sync_v3(c, "static", 1, sm1, [(sm1, b"mine")]), (NONE, b"mine"),
           "static member's SyncGroup")
        j = join_v5(c, "static", "", instance="inst-1")
        sm2 = j["member"]
        check(sm2 != sm1 and sm2.startswith("inst-1-"), "new id %r" % sm2)
        eq((j["error"], j["generation"], j["leader"], j["members"]),
           (NONE, 1, sm2, []), "static member back without a rebalance")
        eq(heartbeat_v3(c, "static", 1, sm1, "inst-1"), FENCED_INSTANCE_ID,
           "Heartbeat with the replaced id")
        eq(heartbeat_v3(c, "static", 1, sm2, "inst-1"), NONE,
           "Heartbeat with the new id")
        eq(sync_v3(c, "static", 1, sm2, []), (NONE, b"mine"),
           "the assignment stays with the instance")
        eq(commit_v7(c, "static", 1, sm1, {TOPIC: [(0, 1, "")]}),
           {(TOPIC, 0): UNKNOWN_MEMBER_ID}, "commit with the replaced id")
        err, ms = leave_v3(c, "static", [("", "inst-1")])
        eq((err, ms), (NONE, [("", "inst-1", NONE)]), "LeaveGroup by instance")
        eq(heartbeat_v3(c, "static", 1, sm2, "inst-1"), UNKNOWN_MEMBER_ID,
           "Heartbeat after the static member left")

        # Timeouts. A member that stops heartbeating is removed after its
        # session timeout.
        mid = join_v5(c, "sess", "", session=1000)["member"]
        j = join_v5(c, "sess", mid, session=1000)
        eq((j["error"], j["generation"]), (NONE, 1), "short-session join")
        eq(sync_v3(c, "sess", 1, mid, [(mid, b"a")]), (NONE, b"a"),
           "short-session sync")
        time.sleep(1.6)
        eq(heartbeat_v3(c, "sess", 1, mid), UNKNOWN_MEMBER_ID,
           "Heartbeat after the session expired")
        d = describe_groups(c, 5, ["sess"])
        eq((d[0]["state"], d[0]["members"]), ("Empty", []),
           "group after its only member expired")

        # A member that does not rejoin within the rebalance timeout is
        # dropped from the next generation (while it keeps heartbeating).
        a = join_v5(c, "rb", "", rebalance=1500)["member"]
        ca, cb = c, Conn(b.port)
        corr = send_only(ca, 11, 5, join_body_v5("rb", a, rebalance=1500))
        eq(recv_join_v5(ca, corr)["generation"], 1, "A's first generation")
        eq(sync_v3(ca, "rb", 1, a, [(a, b"x")]), (NONE, b"x"), "A syncs")
        bm = join_v5(cb, "rb", "", rebalance=1500)["member"]
        t0 = time.time()
        corr = send_only(cb, 11, 5, join_body_v5("rb", bm, rebalance=1500))
        time.sleep(0.3)
        eq(heartbeat_v3(ca, "rb", 1, a), REBALANCE_IN_PROGRESS,
           "A is told to rejoin")
        jb = recv_join_v5(cb, corr)
        took = time.time() - t0
        check(1.2 < took < 5, "rebalance completed after %.1f s" % took)
        eq((jb["error"], jb["generation"], jb["leader"], jb["members"]),
           (NONE, 2, bm, [(bm, None, b"sub")]),
           "B alone in generation 2, as leader")
        eq(heartbeat_v3(ca, "rb", 1, a), UNKNOWN_MEMBER_ID,
           "A after the rebalance timeout")

        # Parked requests of a closed connection are dropped: B waits in
        # SyncGroup as a follower when its connection goes; the leader's
        # assignment still completes the generation.
        lead = join_v5(ca, "rb", "", rebalance=1500)["member"]
        corr_l = send_only(ca, 11, 5, join_body_v5("rb", lead, rebalance=1500))
        time.sleep(0.2)
        eq(heartbeat_v3(cb, "rb", 2, bm), REBALANCE_IN_PROGRESS,
           "B is told to rejoin")
        jb = join_v5(cb, "rb", bm, rebalance=1500)
        jl = recv_join_v5(ca, corr_l)
        eq((jb["generation"], jl["generation"]), (3, 3), "generation 3")
        leader = jb["leader"]
        eq(leader, bm, "B stays leader")
        cl = Conn(b.port)
        send_only(cl, 14, 3, s("rb") + i32(3) + s(lead) + s(None) + arr([]))
        time.sleep(0.2)
        cl.close()  # the follower's parked SyncGroup goes with it
        time.sleep(0.2)
        eq(sync_v3(cb, "rb", 3, bm, [(bm, b"b"), (lead, b"l")]), (NONE, b"b"),
           "the leader's SyncGroup after a follower's connection closed")
        eq(sync_v3(ca, "rb", 3, lead, []), (NONE, b"l"),
           "the follower syncs again on another connection")
        err, ms = leave_v3(ca, "rb", [bm, lead])
        eq((err, [e for _, _, e in ms]), (NONE, [NONE, NONE]), "both leave")
        cb.close()

        # Requests pipelined behind a commit see it, as Kafka serves a
        # connection's requests in order: OffsetFetch, then DeleteGroups.
        c3 = Conn(b.port)
        corrs = []
        for k in range(20):
            corrs.append(send_only(c3, 8, 2, s("pipe") + i32(-1) + s("") +
                                   i64(-1) + arr([s(TOPIC) + arr([
                                       i32(0) + i64(100 + k) + s("p")])])))
        fetch_corr = send_only(c3, 9, 1, s("pipe") + arr([s(TOPIC) +
                                                         arr([i32(0)])]))
        del_corr = send_only(c3, 42, 1, arr([s("pipe")]))
        fetch2_corr = send_only(c3, 9, 1, s("pipe") + arr([s(TOPIC) +
                                                          arr([i32(0)])]))
        for k, corr in enumerate(corrs):
            r = Reader(ndtest.recv_frame(c3.s, 20), False)
            eq(r.i32(), corr, "pipelined commit %d correlation id" % k)
            eq(r.array(lambda r: (r.str(), r.array(lambda r: (r.i32(),
                                                              r.i16())))),
               [(TOPIC, [(0, NONE)])], "pipelined commit %d" % k)
        r = Reader(ndtest.recv_frame(c3.s, 20), False)
        eq(r.i32(), fetch_corr, "pipelined fetch correlation id")
        eq(r.array(lambda r: (r.str(), r.array(lambda r: (
            r.i32(), r.i64(), r.str(), r.i16())))),
           [(TOPIC, [(0, 119, "p", NONE)])], "fetch behind 20 commits")
        r = Reader(ndtest.recv_frame(c3.s, 20), False)
        eq(r.i32(), del_corr, "pipelined delete correlation id")
        r.i32()
        eq(r.array(lambda r: (r.str(), r.i16())), [("pipe", NONE)],
           "DeleteGroups behind the commits")
        r = Reader(ndtest.recv_frame(c3.s, 20), False)
        eq(r.i32(), fetch2_corr, "second fetch correlation id")
        eq(r.array(lambda r: (r.str(), r.array(lambda r: (
            r.i32(), r.i64(), r.str(), r.i16())))),
           [(TOPIC, [(0, -1, "", NONE)])], "fetch after the delete")
        c3.close()

        # An acknowledged commit survives kill -9.
        eq(commit_v2(c, "crash", -1, "", {TOPIC: [(1, 12345, "durable")]}),
           {(TOPIC, 1): NONE}, "commit before the crash")
        b.kill9()
        c.close()
        b.start()
        c = Conn(b.port)
        got, err = fetch_v5(c, "crash", {TOPIC: [1]})
        eq(got, {(TOPIC, 1): (12345, -1, "durable", NONE)},
           "offset after kill -9")
        got, err = fetch_v5(c, "simple", {TOPIC: [0]})
        eq(got, {(TOPIC, 0): (5, -1, "m0", NONE)}, "older offset after kill -9")
        c.close()
        b.stop()
        check(b.exit_code == 0, "broker exit status %r" % b.exit_code)
        err_text = b.stderr()
        check("runtime error" not in err_text and "Sanitizer" not in err_text,
              "sanitizer report:\n" + err_text)
    ndtest.passed()


if __name__ == "__main__":
    main()
