"""test_acl_matrix.py — the ACL differential matrix: for every API a
client can call, a principal without and with each permission the API
needs gets the same answers (error codes, which topics, groups and
transactional ids it sees) from nodata as from Apache Kafka 4.4 with
StandardAuthorizer and the same ACLs. One Kafka start for the whole
matrix.

Both brokers have one SASL_PLAINTEXT listener with PLAIN users
(listener.name.plaintext.plain.sasl.jaas.config, the same file):
User:admin, a super user, and User:alice, the principal under test
(allow.everyone.if.no.acl.found at its default, false). Each phase of
the matrix grants alice a set of permissions through CreateAcls (from
admin), runs one API as alice on a new connection, and takes the grants
back (DeleteAcls). Kafka applies ACL changes through its metadata log, a
little later than CreateAcls answers: each change is waited for until
DescribeAcls shows it.

What each API needs (KafkaApis): Metadata DESCRIBE (a named topic:
TOPIC_AUTHORIZATION_FAILED; all topics: the topic invisible;
auto-creation also CREATE); Produce WRITE; Fetch READ; ListOffsets and
OffsetForLeaderEpoch DESCRIBE; CreateTopics CREATE on the topic or the
cluster; DeleteTopics, DeleteRecords DELETE; CreatePartitions ALTER;
Describe/AlterConfigs DESCRIBE_CONFIGS/ALTER_CONFIGS (topic, cluster);
FindCoordinator DESCRIBE (group, transactional id); JoinGroup,
Heartbeat, SyncGroup, LeaveGroup READ group; OffsetCommit READ group
and topic; OffsetFetch DESCRIBE group and topic; DescribeGroups
DESCRIBE; ConsumerGroupHeartbeat READ group (with and without DESCRIBE
on its topic); ConsumerGroupDescribe DESCRIBE group, and
TOPIC_AUTHORIZATION_FAILED when its members use a topic the principal
may not describe; ListGroups
(filtered; all with DESCRIBE cluster); DeleteGroups
DELETE group; OffsetDelete DELETE group and READ topic; InitProducerId
WRITE transactional id, or IDEMPOTENT_WRITE cluster or WRITE on some
topic; AddPartitionsToTxn WRITE txn id and topic; AddOffsetsToTxn WRITE
txn id, READ group; EndTxn WRITE txn id; TxnOffsetCommit WRITE txn id,
READ group and topic; DescribeTransactions DESCRIBE txn id;
ListTransactions filtered; DescribeProducers READ; DescribeCluster's
authorized operations; DescribeLogDirs DESCRIBE cluster; the ACL APIs
DESCRIBE/ALTER cluster, and so the SCRAM credential APIs;
Describe/AlterClientQuotas DESCRIBE_CONFIGS/ALTER_CONFIGS cluster; Metadata's
topic authorized operations.
"""
import os
import shutil
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402
import test_kafka_versions as kv  # noqa: E402
from apache_kafka import ApacheKafka  # noqa: E402

ndtest.require("kafka")
from kafka.protocol.admin import (  # noqa: E402
    AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, ListGroupsRequest)
from kafka.protocol.commit import (  # noqa: E402
    OffsetCommitRequest, OffsetFetchRequest)
from kafka.protocol.fetch import FetchRequest  # noqa: E402
from kafka.protocol.group import (  # noqa: E402
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest)
from kafka.protocol.metadata import MetadataRequest  # noqa: E402
from kafka.protocol.offset import OffsetRequest  # noqa: E402
from kafka.protocol.produce import ProduceRequest  # noqa: E402
from kafka.protocol.types import Array, Schema  # noqa: E402

ADMIN, CLIENT = "User:admin", "User:alice"
ANON = CLIENT
PASSWORDS = {"admin": "admin-secret", "alice": "alice-secret"}
TOPIC, GROUP, TXN, CLUSTER = 2, 3, 5, 4
READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE = 3, 4, 5, 6, 7, 8
CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 9, 10, 11, 12
ALL = 2
# Kafka's listener is named PLAINTEXT (apache_kafka.py): mapped to
# SASL_PLAINTEXT here, and nodata's the same way, so one jaas line serves
# both. Kafka's broker reaches its controller as User:ANONYMOUS on the
# CONTROLLER listener (CLUSTER_ACTION): a super user there; on the SASL
# listener no one is anonymous.
PROPS = ["authorizer.class.name="
         "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
         "super.users=User:admin;User:ANONYMOUS",
         "listener.security.protocol.map=PLAINTEXT:SASL_PLAINTEXT,"
         "CONTROLLER:PLAINTEXT",
         "sasl.enabled.mechanisms=PLAIN",
         "sasl.mechanism.inter.broker.protocol=PLAIN",
         "listener.name.plaintext.plain.sasl.jaas.config="
         "org.apache.kafka.common.security.plain.PlainLoginModule required "
         'username="admin" password="admin-secret" '
         'user_admin="admin-secret" user_alice="alice-secret";']


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def s(v):
    if v is None:
        return i16(-1)
    b = v.encode()
    return i16(len(b)) + b


def arr(items):
    return i32(len(items)) + b"".join(items)


def rstr(rd):
    n = rd.i16()
    return None if n < 0 else rd.take(n).decode()


def rarr(rd, fn):
    n = rd.i32()
    return None if n < 0 else [fn(rd) for _ in range(n)]


class Conn(kv.Conn):
    """A connection authenticated as `principal` (SASL PLAIN)."""

    def __init__(self, bootstrap, principal):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=30)
        self.corr = 0
        user = principal.split(":", 1)[1]
        rd = self.call_classic(17, 1, s("PLAIN"))
        err = rd.i16()
        ndtest_check(err == 0, "SaslHandshake: %d" % err)
        tok = b"\0" + user.encode() + b"\0" + PASSWORDS[user].encode()
        rd = self.call_classic(36, 1, i32(len(tok)) + tok)
        err, msg = rd.i16(), rstr(rd)
        ndtest_check(err == 0, "SaslAuthenticate %s: %d %s" % (user, err, msg))

    def kp(self, req):
        """A kafka-python request object: its response as plain data."""
        rd = self.call_classic(req.API_KEY, req.API_VERSION, req.encode())
        resp = req.RESPONSE_TYPE
        return to_obj(resp.SCHEMA, resp.decode(rd.d[rd.p:]))


def to_obj(schema, data):
    """kafka-python's to_object, for null arrays too."""
    out = {}
    for i, (name, t) in enumerate(zip(schema.names, schema.fields)):
        v = data[i] if isinstance(data, tuple) else getattr(data, name)
        if isinstance(t, Array) and isinstance(t.array_of, Schema):
            v = None if v is None else [to_obj(t.array_of, x) for x in v]
        elif isinstance(t, Schema):
            v = to_obj(t, v)
        out[name] = v
    return out


# What an answer is compared on: error codes and the names of what it
# shows; offsets, ids, hosts and messages differ between the brokers.
KEEP = {"error_code", "topic", "topics", "name", "group", "group_id",
        "partition", "resource_name", "resource_type", "transactional_id",
        "results", "resources", "topic_errors", "topic_error_codes",
        "partitions", "groups", "coordinator_key"}


def norm(v, key=None):
    if isinstance(v, dict):
        return {k: norm(x, k) for k, x in sorted(v.items())
                if k in KEEP and not (k == "topics" and x is None)}
    if isinstance(v, (list, tuple)):
        items = [norm(x, key) for x in v]
        if key in ("topics", "groups"):
            # Kafka lists its own topics (__consumer_offsets...) too
            items = [x for x in items if not (isinstance(x, dict) and
                     str(x.get("topic", x.get("group", ""))).startswith("__"))]
        return sorted(items, key=repr)
    return v


def acl(res_type, name, op, perm=3, pattern=3):
    return (res_type, name, pattern, CLIENT, "*", op, perm)


def create_acls(c, acls):
    body = arr([i8(t) + s(n) + i8(p) + s(pr) + s(h) + i8(o) + i8(pm)
                for t, n, p, pr, h, o, pm in acls])
    rd = c.call_classic(30, 1, body)
    rd.i32()
    res = rarr(rd, lambda r: (r.i16(), rstr(r)))
    ndtest_check(all(e == 0 for e, _ in res), "CreateAcls: %s" % res)


def delete_client_acls(c):
    # every ACL of the principal under test
    body = arr([i8(1) + s(None) + i8(1) + s(CLIENT) + s(None) + i8(1) +
                i8(1)])
    c.call_classic(31, 1, body)


def count_acls(c, principal):
    rd = c.call_classic(29, 1, i8(1) + s(None) + i8(1) + s(principal) +
                        s(None) + i8(1) + i8(1))
    rd.i32()
    err, _ = rd.i16(), rstr(rd)
    ndtest_check(err == 0, "DescribeAcls: error %d" % err)
    n = 0
    for _ in range(rd.i32()):
        rd.i8(), rstr(rd), rd.i8()
        for _ in range(rd.i32()):
            rstr(rd), rstr(rd), rd.i8(), rd.i8()
            n += 1
    return n


def wait_acls(c, principal, n):
    deadline = time.monotonic() + 60
    while count_acls(c, principal) != n:
        ndtest_check(time.monotonic() < deadline,
                     "ACLs of %s not %d after 60 s" % (principal, n))
        time.sleep(0.05)


def ndtest_check(cond, msg):
    if not cond:
        ndtest.fail(msg)


# ---- requests the matrix sends (as alice) ----------------------------------

def batch():
    return kv.record_batch([b"v"], ts=int(time.time() * 1000))


def metadata(c, ph, topics, auto=False):
    return norm(c.kp(MetadataRequest[4](topics, auto)))


def metadata_auto(c, ph):
    """Metadata v4 auto-creating auto<phase>: (its answer, whether the
    topic comes to exist). Kafka creates in the background (the first
    answer UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE), nodata at
    once (no error): all three are "creating", and then the admin waits
    for the topic; a refused creation is answered at once."""
    name = "auto%d" % ph
    r = c.kp(MetadataRequest[4]([name], True))
    code = r["topics"][0]["error_code"]
    if code not in (0, 3, 5):
        return code
    deadline = time.monotonic() + 60
    while True:
        m = STATE["admin"].kp(MetadataRequest[4]([name], False))
        if m["topics"][0]["error_code"] == 0:
            return "created"
        ndtest_check(time.monotonic() < deadline,
                     "%s answered %d, not created in 60 s" % (name, code))
        time.sleep(0.2)


def metadata_ops(c, ph):
    """Metadata v10 of t with include_topic_authorized_operations."""
    body = kv.carray([b"\x00" * 16 + kv.cstr("t") + kv.TAGS])
    body += b"\x00\x00\x01" + kv.TAGS
    rd = c.call(3, 10, body)
    rd.i32()
    rd.carray(lambda r: (r.i32(), r.cstr(), r.i32(), r.cstr(), r.tags()))
    rd.cstr(), rd.i32()

    def part(r):
        r.i16(), r.i32(), r.i32(), r.i32()
        r.carray(lambda q: q.i32()), r.carray(lambda q: q.i32())
        r.carray(lambda q: q.i32())
        r.tags()

    def topic(r):
        t = {"error": r.i16(), "name": r.cstr()}
        r.uuid(), r.i8(), r.carray(part)
        t["ops"] = r.i32()
        r.tags()
        return t
    return rd.carray(topic)


def produce(c, ph):
    return norm(c.kp(ProduceRequest[3](None, 1, 10000,
                                       [("t", [(0, batch())])])))


def fetch(c, ph):
    return norm(c.kp(FetchRequest[4](-1, 0, 0, 1 << 20, 0,
                                     [("t", [(0, 0, 1 << 20)])])))


def list_offsets(c, ph):
    return norm(c.kp(OffsetRequest[1](-1, [("t", [(0, -1)])])))


def offset_for_leader_epoch(c, ph):
    rd = c.call_classic(23, 2, arr([s("t") + arr([i32(0) + i32(-1) +
                                                  i32(0)])]))
    rd.i32()
    return rarr(rd, lambda r: (rstr(r), rarr(r, lambda q: (
        q.i16(), q.i32(), q.i32(), q.i64())[:2])))


def create_topics(c, ph):
    return norm(c.kp(CreateTopicsRequest[2](
        [("ct%d" % ph, 1, 1, [], [])], 10000, False)))


def delete_topics(c, ph):
    return norm(c.kp(DeleteTopicsRequest[1](["dt%d" % ph], 10000)))


def create_partitions(c, ph):
    return norm(c.kp(CreatePartitionsRequest[0]([("t", (2, None))], 10000,
                                                True)))


def delete_records(c, ph):
    rd = c.call_classic(21, 0, arr([s("dr") + arr([i32(0) + i64(0)])]) +
                        i32(10000))
    rd.i32()
    return rarr(rd, lambda r: (rstr(r), rarr(r, lambda q: (
        q.i32(), q.i64(), q.i16())[::2])))


def no_node(r):
    # the broker resource is named by node id: 0 here, 1 in Kafka
    for x in r["resources"]:
        if x["resource_type"] == 4:
            x["resource_name"] = "node"
    return r


def describe_configs(c, ph, rtype, name):
    return no_node(norm(c.kp(DescribeConfigsRequest[1]([(rtype, name, None)],
                                                       False))))


def alter_configs(c, ph, rtype, name, key):
    return no_node(norm(c.kp(AlterConfigsRequest[0](
        [(rtype, name, [(key, "100000")])], True))))


def incremental_alter(c, ph):
    return kv.incremental_alter(c, 2, "t", [("retention.ms", 0, "100000")],
                                validate_only=True)[0]


def find_coordinator(c, ph, key, ktype):
    # (kafka-python's v1 response lacks throttle_time_ms)
    rd = c.call_classic(10, 1, s(key) + i8(ktype))
    rd.i32()
    return rd.i16()


def join_group(c, ph):
    return c.kp(JoinGroupRequest[2]("jg", 10000, 10000, "", "consumer",
                                    [("range", b"")]))["error_code"]


def heartbeat(c, ph):
    return c.kp(HeartbeatRequest[1]("g", 1, "m"))["error_code"]


def sync_group(c, ph):
    return c.kp(SyncGroupRequest[1]("g", 1, "m", []))["error_code"]


def leave_group(c, ph):
    return c.kp(LeaveGroupRequest[1]("g", "m"))["error_code"]


def offset_commit(c, ph):
    return norm(c.kp(OffsetCommitRequest[2]("g", -1, "", -1,
                                            [("t", [(0, 0, "")])])))


def offset_fetch(c, ph):
    return norm(c.kp(OffsetFetchRequest[1]("g", [("t", [0])])))


def describe_groups(c, ph):
    return [(g["error_code"], g["group"])
            for g in c.kp(DescribeGroupsRequest[0](["g"]))["groups"]]


def list_groups(c, ph):
    r = c.kp(ListGroupsRequest[1]())
    return r["error_code"], sorted(g["group"] for g in r["groups"])


def delete_groups(c, ph):
    return norm(c.kp(DeleteGroupsRequest[0](["dg%d" % ph])))


def offset_delete(c, ph):
    rd = c.call_classic(47, 0, s("od") + arr([s("t") + arr([i32(0)])]))
    err = rd.i16()
    rd.i32()
    return err, rarr(rd, lambda r: (rstr(r), rarr(r, lambda q: (
        q.i32(), q.i16()))))


def cg_heartbeat(c, ph):
    """A KIP-848 member joining group cgh (v1: the member id is the
    client's), subscribed to t: its error and whether it got partitions."""
    body = (kv.cstr("cgh") + kv.cstr("acl-member-%d" % ph) + i32(0) +
            b"\x00" + b"\x00" + i32(30000) + kv.carray([kv.cstr("t")]) +
            b"\x00" + b"\x00" + kv.carray([]) + kv.TAGS)
    rd = c.call(68, 1, body)
    rd.i32()  # throttle
    return rd.i16()


def cg_describe(c, ph):
    """ConsumerGroupDescribe v1 of cgh: each group's error and state."""
    rd = c.call(69, 1, kv.carray([kv.cstr("cgh")]) + b"\x00" + kv.TAGS)
    rd.i32()  # throttle
    out = []
    for _ in range(rd.uvarint() - 1):
        err = rd.i16()
        rd.cstr()  # message
        out.append((err, rd.cstr()))
        break  # the first group's fields are all that is compared
    return out


def init_pid(c, ph, tid):
    rd = c.call_classic(22, 0, s(tid) + i32(60000))
    rd.i32()
    return rd.i16()


# The admin's connection, for the transaction calls' producer ids.
STATE = {}


def admin_pid(tid="tx"):
    """A fresh producer id and epoch for tid, from the admin (each call
    bumps the epoch): the calls below use it, so an allowed call is
    answered as the transaction coordinator sees it, on both brokers."""
    deadline = time.monotonic() + 60
    while True:
        rd = STATE["admin"].call_classic(22, 0, s(tid) + i32(60000))
        rd.i32()
        err, pid, epoch = rd.i16(), rd.i64(), rd.i16()
        # CONCURRENT_TRANSACTIONS while the last one is being aborted
        if err != 51 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ndtest_check(err == 0, "admin InitProducerId %s: %d" % (tid, err))
    return i64(pid) + i16(epoch)


# Each transaction API has a transactional id of its own: an allowed call
# leaves its transaction open, and Kafka's next InitProducerId of that id
# would wait for abort markers (CONCURRENT_TRANSACTIONS).
def add_partitions(c, ph):
    rd = c.call_classic(24, 0, s("tx-ap") + admin_pid("tx-ap") +
                        arr([s("t") + arr([i32(0)])]))
    rd.i32()
    return rarr(rd, lambda r: (rstr(r), rarr(r, lambda q: (
        q.i32(), q.i16()))))


def add_offsets(c, ph):
    rd = c.call_classic(25, 0, s("tx-ao") + admin_pid("tx-ao") + s("g"))
    rd.i32()
    return rd.i16()


def end_txn(c, ph):
    rd = c.call_classic(26, 0, s("tx-end") + admin_pid("tx-end") + i8(0))
    rd.i32()
    return rd.i16()


def txn_offset_commit(c, ph):
    rd = c.call_classic(28, 0, s("tx-oc") + s("g") + admin_pid("tx-oc") +
                        arr([s("t") + arr([i32(0) + i64(0) + s("")])]))
    rd.i32()
    # Past authorization Kafka asks its transaction coordinator over the
    # inter-broker listener (KIP-890 verification), which on this SASL
    # setup answers COORDINATOR_NOT_AVAILABLE: only whether the call got
    # past the ACLs is compared.
    return rarr(rd, lambda r: (rstr(r), rarr(r, lambda q: (
        q.i32(), authz_only(q.i16())))))


def authz_only(code):
    return code if code in (29, 30, 31, 53) else "authorized"


def describe_transactions(c, ph):
    rd = c.call(65, 0, kv.carray([kv.cstr("tx")]) + kv.TAGS)
    rd.i32()

    def st(r):
        out = (r.i16(), r.cstr())
        r.cstr(), r.i32(), r.i64(), r.i64(), r.i16()
        r.carray(lambda q: (q.cstr(), q.carray(lambda p: p.i32()), q.tags()))
        r.tags()
        return out
    return rd.carray(st)


def list_transactions(c, ph):
    rd = c.call(66, 0, kv.carray([]) + kv.carray([]) + kv.TAGS)
    rd.i32()
    err = rd.i16()
    rd.carray(lambda r: r.cstr())

    def st(r):
        out = r.cstr()
        r.i64(), r.cstr(), r.tags()
        return out
    return err, sorted(rd.carray(st) or [])


def describe_producers(c, ph):
    body = kv.carray([kv.cstr("t") + kv.carray([i32(0)]) + kv.TAGS])
    rd = c.call(61, 0, body + kv.TAGS)
    rd.i32()

    def part(r):
        out = (r.i32(), r.i16())
        r.cstr()
        r.carray(lambda q: (q.i64(), q.i32(), q.i32(), q.i64(), q.i32(),
                            q.i64(), q.tags()))
        r.tags()
        return out

    def topic(r):
        out = (r.cstr(), r.carray(part))
        r.tags()
        return out
    return rd.carray(topic)


def describe_cluster_ops(c, ph):
    return kv.describe_cluster(c, ops=True)


def describe_log_dirs(c, ph):
    rd = c.call(35, 4, b"\x00" + kv.TAGS)
    rd.i32()
    err = rd.i16()
    n = rd.uvarint() - 1
    return err, n > 0


def describe_scram(c, ph):
    rd = c.call(50, 0, b"\x00" + kv.TAGS)  # every user
    rd.i32()
    return rd.i16()


def alter_scram(c, ph):
    # delete SCRAM-SHA-256 of a user who has none
    rd = c.call(51, 0, kv.carray([kv.cstr("zz") + i8(1) + kv.TAGS]) +
                kv.carray([]) + kv.TAGS)
    rd.i32()

    def res(r):
        out = (r.cstr(), r.i16())
        r.cstr(), r.tags()
        return out
    return rd.carray(res)


def describe_quotas(c, ph):
    # alice's user quotas (match type EXACT), not strict
    rd = c.call_classic(48, 0, arr([s("user") + i8(0) + s("alice")]) + i8(0))
    rd.i32()
    return rd.i16()


def alter_quotas(c, ph):
    # validate_only: producer_byte_rate for alice
    op = s("producer_byte_rate") + struct.pack(">d", 1048576.0) + i8(0)
    rd = c.call_classic(49, 0, arr([arr([s("user") + s("alice")]) +
                                    arr([op])]) + i8(1))
    rd.i32()

    def entry(r):
        err = r.i16()
        rstr(r)
        rarr(r, lambda q: (rstr(q), rstr(q)))
        return err
    return rarr(rd, entry)


def describe_acls(c, ph):
    rd = c.call_classic(29, 1, i8(1) + s(None) + i8(1) + s(None) + s(None) +
                        i8(1) + i8(1))
    rd.i32()
    return rd.i16()


def create_acls_client(c, ph):
    rd = c.call_classic(30, 1, arr([i8(2) + s("zz") + i8(3) + s("User:zz") +
                                    s("*") + i8(READ) + i8(3)]))
    rd.i32()
    return rarr(rd, lambda r: (r.i16(), rstr(r))[0])


def delete_acls_client(c, ph):
    rd = c.call_classic(31, 1, arr([i8(2) + s("zz") + i8(3) + s(None) +
                                    s(None) + i8(1) + i8(1)]))
    rd.i32()
    return rarr(rd, lambda r: r.i16())


# ---- the matrix --------------------------------------------------------------

def matrix(node):
    """(label, fn(conn, phase), [grant sets]): each grant set is a list of
    (resource type, name, operation) given to alice for one call."""
    t = lambda op, n="t": (TOPIC, n, op)  # noqa: E731
    g = lambda op, n="g": (GROUP, n, op)  # noqa: E731
    x = lambda op, n="tx": (TXN, n, op)  # noqa: E731
    cl = lambda op: (CLUSTER, "kafka-cluster", op)  # noqa: E731
    return [
        ("Metadata t", lambda c, p: metadata(c, p, ["t"]),
         [[], [t(DESCRIBE)], [t(READ)], [t(WRITE)], [t(CREATE)]]),
        ("Metadata all", lambda c, p: metadata(c, p, None),
         [[], [t(DESCRIBE)], [t(DESCRIBE, "*")]]),
        ("Metadata unknown", lambda c, p: metadata(c, p, ["nope"]),
         [[], [t(DESCRIBE, "nope")]]),
        ("Metadata auto-create", metadata_auto,
         [[], [t(DESCRIBE, "auto1")],
          [t(DESCRIBE, "auto2"), t(CREATE, "auto2")],
          [t(DESCRIBE, "auto3"), cl(CREATE)], [t(CREATE, "auto4")]]),
        ("Metadata ops", metadata_ops,
         [[t(DESCRIBE)], [t(READ), t(ALTER_CONFIGS)], [(TOPIC, "t", ALL)]]),
        ("Produce", produce, [[], [t(DESCRIBE)], [t(WRITE)]]),
        ("Fetch", fetch, [[], [t(DESCRIBE)], [t(READ)]]),
        ("ListOffsets", list_offsets, [[], [t(DESCRIBE)]]),
        ("OffsetForLeaderEpoch", offset_for_leader_epoch,
         [[], [t(DESCRIBE)]]),
        ("CreateTopics", create_topics,
         [[], [(TOPIC, "ct1", CREATE)], [cl(CREATE)]]),
        ("DeleteTopics", delete_topics,
         [[], [(TOPIC, "dt1", DESCRIBE)], [(TOPIC, "dt2", DELETE)]]),
        ("CreatePartitions", create_partitions, [[], [t(ALTER)]]),
        ("DeleteRecords", delete_records,
         [[], [t(DESCRIBE, "dr")], [t(DELETE, "dr")]]),
        ("DescribeConfigs topic",
         lambda c, p: describe_configs(c, p, 2, "t"),
         [[], [t(DESCRIBE)], [t(DESCRIBE_CONFIGS)], [t(ALTER_CONFIGS)]]),
        ("DescribeConfigs broker",
         lambda c, p: describe_configs(c, p, 4, str(node)),
         [[], [cl(DESCRIBE_CONFIGS)]]),
        ("AlterConfigs topic",
         lambda c, p: alter_configs(c, p, 2, "t", "retention.ms"),
         [[], [t(DESCRIBE_CONFIGS)], [t(ALTER_CONFIGS)]]),
        ("AlterConfigs broker",
         lambda c, p: alter_configs(c, p, 4, str(node),
                                    "log.retention.ms"),
         [[], [cl(ALTER_CONFIGS)]]),
        ("IncrementalAlterConfigs", incremental_alter,
         [[], [t(ALTER_CONFIGS)]]),
        ("FindCoordinator group", lambda c, p: find_coordinator(c, p, "g", 0),
         [[], [g(DESCRIBE)], [g(READ)]]),
        ("FindCoordinator txn", lambda c, p: find_coordinator(c, p, "tx", 1),
         [[], [x(DESCRIBE)], [x(WRITE)]]),
        ("JoinGroup", join_group, [[], [g(DESCRIBE, "jg")], [g(READ, "jg")]]),
        ("Heartbeat", heartbeat, [[], [g(READ)]]),
        ("SyncGroup", sync_group, [[], [g(READ)]]),
        ("LeaveGroup", leave_group, [[], [g(READ)]]),
        ("ConsumerGroupHeartbeat", cg_heartbeat,
         [[], [g(READ, "cgh")], [t(DESCRIBE)],
          [g(READ, "cgh"), t(DESCRIBE)]]),
        ("ConsumerGroupDescribe", cg_describe,
         [[], [g(DESCRIBE, "cgh")], [g(READ, "cgh")]]),
        ("OffsetCommit", offset_commit,
         [[], [g(READ)], [t(READ)], [g(READ), t(READ)]]),
        ("OffsetFetch", offset_fetch,
         [[], [g(DESCRIBE)], [t(DESCRIBE)], [g(DESCRIBE), t(DESCRIBE)]]),
        ("DescribeGroups", describe_groups, [[], [g(DESCRIBE)]]),
        ("ListGroups", list_groups, [[], [g(DESCRIBE)], [cl(DESCRIBE)]]),
        ("DeleteGroups", delete_groups,
         [[], [(GROUP, "dg1", READ)], [(GROUP, "dg2", DELETE)]]),
        ("OffsetDelete", offset_delete,
         [[], [g(DELETE, "od")], [g(DELETE, "od"), t(READ)]]),
        ("InitProducerId idempotent", lambda c, p: init_pid(c, p, None),
         [[], [t(READ)], [t(WRITE)], [cl(IDEMPOTENT_WRITE)]]),
        ("InitProducerId txn", lambda c, p: init_pid(c, p, "tx"),
         [[], [x(DESCRIBE)], [x(WRITE)]]),
        ("AddPartitionsToTxn", add_partitions,
         [[], [x(WRITE, "tx-ap")], [t(WRITE)],
          [x(WRITE, "tx-ap"), t(WRITE)]]),
        ("AddOffsetsToTxn", add_offsets,
         [[], [x(WRITE, "tx-ao")], [g(READ)], [x(WRITE, "tx-ao"), g(READ)]]),
        ("EndTxn", end_txn,
         [[], [x(DESCRIBE, "tx-end")], [x(WRITE, "tx-end")]]),
        ("TxnOffsetCommit", txn_offset_commit,
         [[], [x(WRITE, "tx-oc")], [x(WRITE, "tx-oc"), g(READ)],
          [x(WRITE, "tx-oc"), g(READ), t(READ)]]),
        ("DescribeTransactions", describe_transactions,
         [[], [x(DESCRIBE)]]),
        ("ListTransactions", list_transactions, [[], [x(DESCRIBE)]]),
        ("DescribeProducers", describe_producers,
         [[], [t(DESCRIBE)], [t(READ)]]),
        ("DescribeCluster ops", describe_cluster_ops,
         [[], [cl(DESCRIBE)], [cl(ALTER)], [cl(ALL)]]),
        ("DescribeLogDirs", describe_log_dirs, [[], [cl(DESCRIBE)]]),
        # Denied, Kafka 4.4 never answers DescribeUserScramCredentials
        # (the client times out); nodata answers CLUSTER_AUTHORIZATION_FAILED
        # (test_acls_durable.py): only the allowed call is compared.
        ("DescribeUserScramCredentials", describe_scram,
         [[cl(DESCRIBE)]]),
        ("AlterUserScramCredentials", alter_scram, [[], [cl(ALTER)]]),
        ("DescribeClientQuotas", describe_quotas,
         [[], [cl(DESCRIBE_CONFIGS)], [cl(ALTER_CONFIGS)]]),
        ("AlterClientQuotas", alter_quotas,
         [[], [cl(DESCRIBE_CONFIGS)], [cl(ALTER_CONFIGS)]]),
        ("DescribeAcls", describe_acls, [[], [cl(DESCRIBE)]]),
        ("CreateAcls", create_acls_client, [[], [cl(ALTER)]]),
        ("DeleteAcls", delete_acls_client, [[], [cl(ALTER)]]),
    ]


def setup(admin):
    names = ["t", "dr", "dt0", "dt1", "dt2"]
    r = admin.kp(CreateTopicsRequest[2]([(n, 1, 1, [], []) for n in names],
                                        30000, False))
    ndtest_check(all(e["error_code"] == 0 for e in r["topic_errors"]),
                 "admin CreateTopics: %s" % r)
    # Topics are usable once Metadata shows a leader for each.
    deadline = time.monotonic() + 60
    while True:
        m = admin.kp(MetadataRequest[4](names, False))
        if all(x["error_code"] == 0 and x["partitions"] and
               x["partitions"][0]["leader"] >= 0 for x in m["topics"]):
            break
        ndtest_check(time.monotonic() < deadline, "topics not ready: %s" % m)
        time.sleep(0.2)
    # Kafka's partition may still be taking its leadership: retry as
    # producers do (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE).
    while True:
        r = admin.kp(ProduceRequest[3](None, -1, 10000,
                                       [("t", [(0, batch())])]))
        err = r["topics"][0]["partitions"][0]["error_code"]
        if err not in (3, 5, 6) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ndtest_check(err == 0, "admin Produce: %s" % r)
    # Groups with committed offsets: g, od, dg0..dg2.
    # Kafka makes its offsets topic at the first FindCoordinator.
    deadline = time.monotonic() + 120
    for grp in ["g", "od", "dg0", "dg1", "dg2"]:
        while find_coordinator(admin, 0, grp, 0) != 0:
            ndtest_check(time.monotonic() < deadline, "no coordinator")
            time.sleep(0.2)
        while True:
            r = admin.kp(OffsetCommitRequest[2](grp, -1, "", -1,
                                                [("t", [(0, 1, "")])]))
            err = r["topics"][0]["partitions"][0]["error_code"]
            if err not in (14, 15, 16):  # coordinator still loading
                break
            ndtest_check(time.monotonic() < deadline, "commit: %s" % r)
            time.sleep(0.2)
        ndtest_check(err == 0, "admin OffsetCommit %s: %d" % (grp, err))
    # Kafka's transaction state topic and producer ids come up on first
    # use: wait for both, as clients retry.
    while find_coordinator(admin, 0, "tx", 1) != 0:
        ndtest_check(time.monotonic() < deadline, "no txn coordinator")
        time.sleep(0.2)
    for tid in (None, "tx"):
        while True:
            rd = admin.call_classic(22, 0, s(tid) + i32(60000))
            rd.i32()
            err = rd.i16()
            if err not in (14, 15, 16, 51):
                break
            ndtest_check(time.monotonic() < deadline, "InitProducerId %d"
                         % err)
            time.sleep(0.2)
        ndtest_check(err == 0, "admin InitProducerId %s: %d" % (tid, err))


def scenario(bootstrap):
    admin = Conn(bootstrap, ADMIN)
    STATE["admin"] = admin
    setup(admin)
    node = admin.kp(MetadataRequest[4]([], False))["controller_id"]
    out = {}
    for label, fn, grants in matrix(node):
        for ph, grant in enumerate(grants):
            if grant:
                create_acls(admin, [acl(*a) for a in grant])
            wait_acls(admin, CLIENT, len(grant))
            c = Conn(bootstrap, CLIENT)
            try:
                got = fn(c, ph)
            finally:
                c.s.close()
            out["%s %s" % (label, [(a[1], a[2]) for a in grant])] = got
            if grant:
                delete_client_acls(admin)
                wait_acls(admin, CLIENT, 0)
    admin.s.close()
    return out


def main():
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="nd-aclmatrix-")
    config = os.path.join(tmp, "server.properties")
    with open(config, "w") as f:
        f.write("\n".join(PROPS + ["listeners=PLAINTEXT://127.0.0.1:0"]) +
                "\n")
    # Kafka's JVM boots while the nodata half runs (as run_both does).
    kafka = ApacheKafka(extra_props=PROPS, wait=False)
    try:
        with ndtest.Broker(args=differential.NODATA_ARGS +
                           ["--config", config], listen=False) as b:
            got = scenario(b.bootstrap)
            ndtest.stop_clean(b)
        kafka.wait()
        want = scenario(kafka.bootstrap)
    finally:
        kafka.close()
        shutil.rmtree(tmp, ignore_errors=True)
    differential.compare(want, got, what="ACL matrix")
    print("ACL matrix: %d cases alike in %.0f s" % (len(want),
                                                   time.monotonic() - t0))
    ndtest.passed()


if __name__ == "__main__":
    main()
