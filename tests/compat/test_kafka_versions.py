"""test_kafka_versions.py — versions no client on this machine sends,
written by hand from Kafka's schemas and answered by `nodata serve`; every
response is read field by field by the small decoder below (not by
our own codec).

Covered: CreateTopics v7 (returns the topic id), Metadata v12/v13 by name
and by id, Produce v13 (topic ids), Fetch v13-v18 (topic ids, flexible),
ListOffsets v10, DeleteTopics v6 by id, DeleteRecords v2,
OffsetForLeaderEpoch v4, DescribeCluster v2 (with and without the cluster's
authorized operations), IncrementalAlterConfigs v1,
DescribeConfigs v4, DescribeLogDirs v4, Kafka 4.4's new versions as Kafka
4.4 answers them (ApiVersions v5 with the expected cluster and node of
KIP-1242, ListOffsets v11 and which special timestamps each version knows,
DeleteGroups v3, DescribeLogDirs v5), and a deleted then re-created topic:
the old id gets UNKNOWN_TOPIC_ID, never the new topic's data.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from kafka_errors import (  # noqa: E402
    GROUP_ID_NOT_FOUND, UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION,
    UNSUPPORTED_COMPRESSION_TYPE, UNSUPPORTED_VERSION)


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


# ---- writing (flexible versions) ------------------------------------------

def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def cstr(s):
    if s is None:
        return b"\x00"
    b = s.encode()
    return uvarint(len(b) + 1) + b


def cbytes(b):
    if b is None:
        return b"\x00"
    return uvarint(len(b) + 1) + b


def carray(items):
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = b"\x00"


# ---- reading ---------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

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

    def cstr(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def cbytes(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1)

    def carray(self, fn):
        n = self.uvarint()
        return None if n == 0 else [fn(self) for _ in range(n - 1)]

    def tags(self):
        out = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            out[tag] = self.take(self.uvarint())
        return out

    def end(self):
        check(self.p == len(self.d), "%d bytes left over" % (len(self.d) - self.p))


# ---- RecordBatch v2 --------------------------------------------------------

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def zigzag(n):
    return uvarint((n << 1) ^ (n >> 63))


def record_batch(values, ts=1_700_000_000_000, pid=-1, epoch=-1, seq=-1,
                 deltas=None, max_ts=None):
    """deltas: each record's timestamp delta (default 0); max_ts: the
    header's maxTimestamp (default the true maximum)."""
    deltas = deltas or [0] * len(values)
    if max_ts is None:
        max_ts = ts + max(deltas)
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + zigzag(deltas[i]) + zigzag(i) + zigzag(-1) + \
            zigzag(len(v)) + v + zigzag(0)
        recs += zigzag(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, ts, max_ts, pid,
                            epoch, seq, len(values)) + recs
    crc = crc32c(after_crc)
    head = struct.pack(">ib", 0, 2) + struct.pack(">I", crc)
    batch = head + after_crc
    return struct.pack(">qi", 0, len(batch)) + batch


def zstd_batch(batch):
    """record_batch's batch with its records area compressed with zstd."""
    import zstandard
    recs = zstandard.ZstdCompressor().compress(batch[61:])
    after_crc = struct.pack(">h", 4) + batch[23:61] + recs
    head = struct.pack(">ib", 0, 2) + struct.pack(">I", crc32c(after_crc))
    body = head + after_crc
    return batch[:8] + struct.pack(">i", len(body)) + body


def produce_classic(c, version, name, batch):
    """Produce v3-v8 (not flexible) of one batch to partition 0: the
    partition's (error, base offset)."""
    s16 = lambda t: struct.pack(">h", len(t)) + t  # noqa: E731
    body = struct.pack(">hhi", -1, -1, 10000)  # null txn id, acks, timeout
    body += struct.pack(">i", 1) + s16(name.encode()) + struct.pack(">i", 1)
    body += struct.pack(">ii", 0, len(batch)) + batch
    rd = c.call_classic(0, version, body)
    check(rd.i32() == 1, "Produce v%d: topics" % version)
    rd.take(rd.i16())
    check(rd.i32() == 1, "Produce v%d: partitions" % version)
    index, err, base = rd.i32(), rd.i16(), rd.i64()
    return err, base


# ---- requests --------------------------------------------------------------

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.corr = 0

    def call(self, key, version, body):
        self.corr += 1
        cid = b"versions-test"
        msg = struct.pack(">hhih", key, version, self.corr, len(cid)) + cid
        msg += TAGS + body  # header v2
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        r = ndtest.recv_frame(self.s, 15)
        check(r is not None, "api %d v%d: connection closed" % (key, version))
        rd = Reader(r)
        check(rd.i32() == self.corr, "api %d v%d: correlation id" % (key, version))
        rd.tags()  # response header v1
        return rd

    def call_classic(self, key, version, body):
        """A non-flexible version: request header v1, response header v0."""
        self.corr += 1
        cid = b"versions-test"
        msg = struct.pack(">hhih", key, version, self.corr, len(cid)) + cid
        self.s.sendall(struct.pack(">i", len(msg) + len(body)) + msg + body)
        r = ndtest.recv_frame(self.s, 15)
        check(r is not None, "api %d v%d: connection closed" % (key, version))
        rd = Reader(r)
        check(rd.i32() == self.corr, "api %d v%d: correlation id" % (key, version))
        return rd


def create_topic(c, name, parts):
    body = carray([cstr(name) + struct.pack(">ih", parts, 1) + carray([]) +
                   carray([cstr("retention.ms") + cstr("1000000") + TAGS]) +
                   TAGS])
    body += struct.pack(">i", 10000) + b"\x00" + TAGS
    rd = c.call(19, 7, body)
    rd.i32()  # throttle

    def topic(r):
        t = {"name": r.cstr(), "id": r.uuid(), "error": r.i16(),
             "message": r.cstr(), "partitions": r.i32(), "rf": r.i16()}
        t["configs"] = r.carray(lambda q: (q.cstr(), q.cstr(), q.i8(), q.i8(),
                                           q.i8(), q.tags())[:2])
        t["tags"] = r.tags()
        return t
    ts = rd.carray(topic)
    rd.tags()
    rd.end()
    check(len(ts) == 1, "CreateTopics v7: %d results" % len(ts))
    t = ts[0]
    check(t["error"] == 0, "CreateTopics v7: error %d %s"
          % (t["error"], t["message"]))
    check(t["name"] == name and t["partitions"] == parts and t["rf"] == 1,
          "CreateTopics v7: %s" % t)
    check(t["id"] != b"\x00" * 16, "CreateTopics v7: zero topic id")
    check(("retention.ms", "1000000") in t["configs"],
          "CreateTopics v7 configs: %s" % t["configs"])
    return t["id"]


def metadata(c, version, topics, auto_create=False, cluster=False):
    """topics: list of (topic_id or None, name or None). With cluster, also
    the cluster id."""
    body = carray([(tid or b"\x00" * 16) + cstr(name) + TAGS
                   for tid, name in topics])
    body += (b"\x01" if auto_create else b"\x00") + b"\x00" + TAGS  # no ops
    rd = c.call(3, version, body)
    rd.i32()
    brokers = rd.carray(lambda r: (r.i32(), r.cstr(), r.i32(), r.cstr(),
                                   r.tags())[:4])
    cluster_id = rd.cstr()
    controller = rd.i32()

    def part(r):
        p = (r.i16(), r.i32(), r.i32(), r.i32(),
             r.carray(lambda q: q.i32()), r.carray(lambda q: q.i32()),
             r.carray(lambda q: q.i32()))
        r.tags()
        return p

    def topic(r):
        t = {"error": r.i16(), "name": r.cstr(), "id": r.uuid(),
             "internal": r.i8(), "partitions": r.carray(part),
             "ops": r.i32()}
        r.tags()
        return t
    ts = rd.carray(topic)
    top_error = rd.i16() if version >= 13 else None
    rd.tags()
    rd.end()
    check(len(brokers) == 1 and brokers[0][0] == 0, "brokers %s" % brokers)
    check(controller == 0, "controller %d" % controller)
    check(cluster_id, "no cluster id")
    if version >= 13:
        check(top_error == 0, "Metadata v13 error %d" % top_error)
    return (ts, cluster_id) if cluster else ts


def produce_partition(r):
    """One partition of a flexible ProduceResponse (v9+)."""
    p = {"index": r.i32(), "error": r.i16(), "base": r.i64(),
         "append_time": r.i64(), "log_start": r.i64(),
         "record_errors": r.carray(lambda q: (q.i32(), q.cstr(), q.tags())),
         "message": r.cstr()}
    r.tags()
    return p


def produce(c, version, topic_id, values, **producer):
    batch = record_batch(values, **producer)
    body = cstr(None) + struct.pack(">hi", -1, 10000)
    body += carray([topic_id + carray([struct.pack(">i", 0) + cbytes(batch) +
                                       TAGS]) + TAGS])
    body += TAGS
    rd = c.call(0, version, body)

    def topic(r):
        t = {"id": r.uuid(), "partitions": r.carray(produce_partition)}
        r.tags()
        return t
    ts = rd.carray(topic)
    rd.i32()
    rd.tags()
    rd.end()
    check(len(ts) == 1 and ts[0]["id"] == topic_id, "Produce v%d topics %s"
          % (version, ts))
    return ts[0]["partitions"][0], batch


def fetch(c, version, topic_id, offset, max_wait=0):
    part = struct.pack(">iiqiqi", 0, -1, offset, -1, -1, 1 << 20) + TAGS
    body = b""
    if version <= 14:
        body += struct.pack(">i", -1)  # replica id (v0-14)
    body += struct.pack(">iiib", max_wait, 1, 1 << 20, 0)
    body += struct.pack(">ii", 0, -1)  # no fetch session
    body += carray([topic_id + carray([part]) + TAGS])
    body += carray([])  # forgotten topics
    body += cstr("")    # rack
    body += TAGS
    rd = c.call(1, version, body)
    rd.i32()
    err = rd.i16()
    session = rd.i32()

    def p(r):
        out = {"index": r.i32(), "error": r.i16(), "hw": r.i64(),
               "lso": r.i64(), "log_start": r.i64(),
               "aborted": r.carray(lambda q: (q.i64(), q.i64(), q.tags())),
               "preferred": r.i32(), "records": r.cbytes()}
        out["tags"] = r.tags()
        return out

    def t(r):
        out = {"id": r.uuid(), "partitions": r.carray(p)}
        r.tags()
        return out
    ts = rd.carray(t)
    rd.tags()
    rd.end()
    check(err == 0 and session == 0, "Fetch v%d: error %d session %d"
          % (version, err, session))
    check(len(ts) == 1 and ts[0]["id"] == topic_id, "Fetch v%d topics"
          % version)
    return ts[0]["partitions"][0]


def list_offsets(c, name, ts, version=10):
    """ListOffsets v6+ (flexible) of partition 0: (partition, error,
    timestamp, offset, leader epoch)."""
    body = struct.pack(">ib", -1, 0)
    body += carray([cstr(name) + carray([struct.pack(">iiq", 0, -1, ts) +
                                         TAGS]) + TAGS])
    if version >= 10:
        body += struct.pack(">i", 5000)  # TimeoutMs
    body += TAGS
    rd = c.call(2, version, body)
    rd.i32()

    def p(r):
        out = (r.i32(), r.i16(), r.i64(), r.i64(), r.i32())
        r.tags()
        return out

    def t(r):
        out = (r.cstr(), r.carray(p))
        r.tags()
        return out
    tops = rd.carray(t)
    rd.tags()
    rd.end()
    return tops[0][1][0]


def delete_by_id(c, topic_id):
    body = carray([cstr(None) + topic_id + TAGS]) + struct.pack(">i", 5000)
    body += TAGS
    rd = c.call(20, 6, body)
    rd.i32()

    def r_(r):
        out = (r.cstr(), r.uuid(), r.i16(), r.cstr())
        r.tags()
        return out
    res = rd.carray(r_)
    rd.tags()
    rd.end()
    return res


def delete_records(c, name, part, offset):
    body = carray([cstr(name) + carray([struct.pack(">iq", part, offset) +
                                        TAGS]) + TAGS])
    body += struct.pack(">i", 5000) + TAGS
    rd = c.call(21, 2, body)
    rd.i32()

    def p(r):
        out = (r.i32(), r.i64(), r.i16())
        r.tags()
        return out

    def t(r):
        out = (r.cstr(), r.carray(p))
        r.tags()
        return out
    ts = rd.carray(t)
    rd.tags()
    rd.end()
    return ts[0][1][0]


def offset_for_leader_epoch(c, name, epoch):
    body = struct.pack(">i", -1)
    body += carray([cstr(name) + carray([struct.pack(">iii", 0, -1, epoch) +
                                         TAGS]) + TAGS]) + TAGS
    rd = c.call(23, 4, body)
    rd.i32()

    def p(r):
        out = (r.i16(), r.i32(), r.i32(), r.i64())
        r.tags()
        return out

    def t(r):
        out = (r.cstr(), r.carray(p))
        r.tags()
        return out
    ts = rd.carray(t)
    rd.tags()
    rd.end()
    return ts[0][1][0]


def describe_cluster(c, ops=False):
    rd = c.call(60, 2, (b"\x01" if ops else b"\x00") + b"\x01\x00" + TAGS)
    rd.i32()
    err, msg, etype, cluster, controller = (rd.i16(), rd.cstr(), rd.i8(),
                                            rd.cstr(), rd.i32())

    def br(r):
        out = (r.i32(), r.cstr(), r.i32(), r.cstr(), r.i8())
        r.tags()
        return out
    brokers = rd.carray(br)
    authorized = rd.i32()
    rd.tags()
    rd.end()
    if ops:
        return authorized
    check(authorized == -2**31, "not asked, authorized ops %d" % authorized)
    return err, etype, cluster, controller, brokers


def incremental_alter(c, rtype, name, configs, validate_only=False):
    """IncrementalAlterConfigs v1 of one resource: (error, message, type,
    name). configs are (name, op, value): SET 0, DELETE 1, APPEND 2,
    SUBTRACT 3."""
    body = carray([struct.pack(">b", rtype) + cstr(name) +
                   carray([cstr(k) + struct.pack(">b", op) + cstr(v) + TAGS
                           for k, op, v in configs]) + TAGS])
    body += struct.pack(">b", 1 if validate_only else 0) + TAGS
    rd = c.call(44, 1, body)
    rd.i32()

    def r_(r):
        out = (r.i16(), r.cstr(), r.i8(), r.cstr())
        r.tags()
        return out
    res = rd.carray(r_)
    rd.tags()
    rd.end()
    return res[0]


def describe_configs(c, name, keys, rtype=2):
    """DescribeConfigs v4 of one resource (a topic unless rtype says
    otherwise), with synonyms; keys None asks for every config."""
    body = carray([struct.pack(">b", rtype) + cstr(name) +
                   (carray([cstr(k) for k in keys]) if keys is not None
                    else b"\x00") + TAGS])
    body += b"\x01\x00" + TAGS  # synonyms, no documentation
    rd = c.call(32, 4, body)
    rd.i32()

    def syn(r):
        out = (r.cstr(), r.cstr(), r.i8())
        r.tags()
        return out

    def cfg(r):
        out = {"name": r.cstr(), "value": r.cstr(), "read_only": r.i8(),
               "source": r.i8(), "sensitive": r.i8(),
               "synonyms": r.carray(syn), "type": r.i8(), "doc": r.cstr()}
        r.tags()
        return out

    def res(r):
        out = {"error": r.i16(), "message": r.cstr(), "type": r.i8(),
               "name": r.cstr(), "configs": r.carray(cfg)}
        r.tags()
        return out
    rs = rd.carray(res)
    rd.tags()
    rd.end()
    return rs[0]


def describe_log_dirs(c, version=4):
    rd = c.call(35, version, b"\x00" + TAGS)  # all topics
    rd.i32()
    check(rd.i16() == 0, "DescribeLogDirs error")

    def part(r):
        out = (r.i32(), r.i64(), r.i64(), r.i8())
        r.tags()
        return out

    def topic(r):
        out = (r.cstr(), r.carray(part))
        r.tags()
        return out

    def result(r):
        out = {"error": r.i16(), "dir": r.cstr(), "topics": r.carray(topic),
               "total": r.i64(), "usable": r.i64()}
        if version >= 5:
            out["cordoned"] = r.i8()
        r.tags()
        return out
    rs = rd.carray(result)
    rd.tags()
    rd.end()
    return rs


def api_versions_v5(c, cluster, node):
    """ApiVersions v5 (KIP-1242) naming the cluster and node the client
    means to reach: (error, {api key: (min, max)}, throttle, tags)."""
    body = cstr("versions-test") + cstr("1") + cstr(cluster)
    body += struct.pack(">i", node) + TAGS
    c.corr += 1
    cid = b"versions-test"
    msg = struct.pack(">hhih", 18, 5, c.corr, len(cid)) + cid + TAGS + body
    c.s.sendall(struct.pack(">i", len(msg)) + msg)
    r = ndtest.recv_frame(c.s, 15)
    check(r is not None, "ApiVersions v5: connection closed")
    rd = Reader(r)
    check(rd.i32() == c.corr, "ApiVersions v5: correlation id")
    # Response header v0 (ApiVersions' own exception), body flexible.
    err = rd.i16()
    keys = rd.carray(lambda q: (q.i16(), q.i16(), q.i16(), q.tags())[:3])
    throttle = rd.i32()
    tags = rd.tags()
    rd.end()
    return err, {k: (lo, hi) for k, lo, hi in keys}, throttle, tags


def delete_groups(c, groups, version=3):
    """DeleteGroups v2+ (flexible): [(group, error[, message])]."""
    rd = c.call(42, version, carray([cstr(g) for g in groups]) + TAGS)
    rd.i32()

    def res(r):
        out = (r.cstr(), r.i16()) + ((r.cstr(),) if version >= 3 else ())
        r.tags()
        return out
    rs = rd.carray(res)
    rd.tags()
    rd.end()
    return sorted(rs)


def kafka44(c, cluster):
    """The versions Kafka 4.4 added to APIs we serve, answered as Kafka 4.4
    answers them (each checked against a Kafka 4.4 broker)."""
    # ApiVersions v5: nothing named, or this cluster and node: the table.
    for named in ((None, -1), (cluster, 0)):
        err, table, throttle, _ = api_versions_v5(c, *named)
        check(err == 0 and throttle == 0, "ApiVersions v5 %s: error %d"
              % (named, err))
        for key, rng in ((18, (0, 5)), (2, (1, 11)), (35, (1, 5)),
                         (42, (0, 3))):
            check(table.get(key) == rng, "ApiVersions v5: api %d is %s, "
                  "want %s" % (key, table.get(key), rng))
    # Another cluster or node: REBOOTSTRAP_REQUIRED and no API keys; only
    # one of the two: INVALID_REQUEST (an empty cluster id is one named).
    for named, want in (((cluster + "x", 0), 129), ((cluster, 1), 129),
                        (("", 0), 129), ((cluster, -1), 42),
                        ((None, 0), 42), (("", -1), 42)):
        got = api_versions_v5(c, *named)
        check(got == (want, {}, 0, {}), "ApiVersions v5 %s: %s, want "
              "error %d and nothing else" % (named, got, want))
    # The connection stays usable, as on Kafka.
    check(api_versions_v5(c, None, -1)[0] == 0, "ApiVersions v5 after errors")

    # ListOffsets v11: EARLIEST_PENDING_UPLOAD (-6, KIP-1023) is -1 with
    # epoch -1 when nothing is tiered; older versions, and timestamps no
    # version knows, get UNSUPPORTED_VERSION, even for an unknown topic.
    check(list_offsets(c, "vt", -6, 11) == (0, 0, -1, -1, -1),
          "ListOffsets v11 -6: %s" % (list_offsets(c, "vt", -6, 11),))
    check(list_offsets(c, "nosuch", -6, 11)[1] == UNKNOWN_TOPIC_OR_PARTITION,
          "ListOffsets v11 -6, unknown topic")
    check(list_offsets(c, "vt", -5, 11) == (0, 0, -1, -1, -1),
          "ListOffsets v11 -5: %s" % (list_offsets(c, "vt", -5, 11),))
    check(list_offsets(c, "vt", -1, 11) == (0, 0, -1, 4, 0),
          "ListOffsets v11 latest: %s" % (list_offsets(c, "vt", -1, 11),))
    for v, ts in ((10, -6), (11, -7), (11, -100), (8, -5), (7, -4),
                  (6, -3)):
        for topic in ("vt", "nosuch"):
            got = list_offsets(c, topic, ts, v)
            check(got == (0, UNSUPPORTED_VERSION, -1, -1, -1),
                  "ListOffsets v%d %d on %s: %s" % (v, ts, topic, got))
    for v, ts, off in ((7, -3, 0), (8, -4, 0), (9, -5, -1)):
        got = list_offsets(c, "vt", ts, v)
        check(got[1] == 0 and got[3] == off, "ListOffsets v%d %d: %s"
              % (v, ts, got))

    # DeleteGroups v3 adds ErrorMessage: Kafka 4.4 leaves it null, errors
    # included (GROUP_ID_NOT_FOUND here).
    got = delete_groups(c, ["no-such-group"])
    check(got == [("no-such-group", GROUP_ID_NOT_FOUND, None)],
          "DeleteGroups v3: %s" % got)

    # DescribeLogDirs v5 adds IsCordoned: never, nodata cannot cordon.
    d5 = describe_log_dirs(c, 5)
    d4 = describe_log_dirs(c, 4)
    check(len(d5) == 1 and d5[0]["error"] == 0 and d5[0]["cordoned"] == 0,
          "DescribeLogDirs v5: %s" % d5)
    check(d5[0]["dir"] == d4[0]["dir"] and d5[0]["topics"] == d4[0]["topics"],
          "DescribeLogDirs v5 differs from v4: %s / %s" % (d5, d4))


def describe_producers(c, name, partitions):
    """DescribeProducers v0 (flexible): {partition: (error, [producers])}."""
    body = carray([cstr(name) +
                   carray([struct.pack(">i", p) for p in partitions]) + TAGS])
    rd = c.call(61, 0, body + TAGS)
    rd.i32()

    def producer(r):
        out = (r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64())
        r.tags()
        return out

    def part(r):
        out = (r.i32(), r.i16(), r.cstr(), r.carray(producer))
        r.tags()
        return out

    def topic(r):
        out = (r.cstr(), r.carray(part))
        r.tags()
        return out
    ts = rd.carray(topic)
    rd.tags()
    rd.end()
    check(len(ts) == 1 and ts[0][0] == name, "DescribeProducers topics %s" % ts)
    return {p[0]: (p[1], p[3]) for p in ts[0][1]}


def tools(c):
    """The admin-tool APIs on topic vt, which holds offsets 0-3."""
    e = offset_for_leader_epoch(c, "vt", 0)
    check(e == (0, 0, 0, 4), "OffsetForLeaderEpoch: %s" % (e,))
    err, etype, cluster, controller, brokers = describe_cluster(c)
    check(err == 0 and controller == 0 and len(brokers) == 1 and
          brokers[0][0] == 0 and cluster, "DescribeCluster: %s"
          % ((err, etype, cluster, controller, brokers),))
    # Asked for: every cluster operation, as Kafka without an authorizer
    # (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
    # ALTER_CONFIGS, IDEMPOTENT_WRITE).
    ops = describe_cluster(c, ops=True)
    want = sum(1 << a for a in (5, 7, 8, 9, 10, 11, 12))
    check(ops == want, "cluster authorized ops %d, want %d" % (ops, want))

    r = incremental_alter(c, 2, "vt", [("retention.ms", 0, "12345")])
    check(r[0] == 0, "IncrementalAlterConfigs SET: %s" % (r,))
    d = describe_configs(c, "vt", ["retention.ms"])
    check(d["error"] == 0 and len(d["configs"]) == 1 and
          d["configs"][0]["value"] == "12345" and
          d["configs"][0]["source"] == 1, "after SET: %s" % d)
    r = incremental_alter(c, 2, "vt", [("retention.ms", 1, None)])
    check(r[0] == 0, "IncrementalAlterConfigs DELETE: %s" % (r,))
    d = describe_configs(c, "vt", ["retention.ms"])
    check(d["configs"][0]["source"] == 5, "after DELETE: %s" % d)
    r = incremental_alter(c, 2, "vt", [("no.such.config", 0, "1")])
    check(r[0] == 40 and r[1], "bad config: %s" % (r,))
    r = incremental_alter(c, 4, "0", [("log.dirs", 0, "/elsewhere")])
    check(r[0] == 42 and "Cannot update these configs dynamically" in r[1]
          and "log.dirs" in r[1], "read-only broker config: %s" % (r,))

    dirs = describe_log_dirs(c)
    check(len(dirs) == 1 and dirs[0]["error"] == 0, "log dirs: %s" % dirs)
    vt = [t for t in dirs[0]["topics"] if t[0] == "vt"]
    check(vt and sorted(p[0] for p in vt[0][1]) == [0, 1] and
          sum(p[1] for p in vt[0][1]) > 0, "vt in log dirs: %s" % vt)
    check(dirs[0]["total"] > 0 and dirs[0]["usable"] > 0, "sizes: %s" % dirs)

    r = delete_records(c, "vt", 0, 2)
    check(r == (0, 2, 0), "DeleteRecords: %s" % (r,))
    lo = list_offsets(c, "vt", -2)
    check(lo[3] == 2, "earliest after DeleteRecords: %s" % (lo,))
    r = delete_records(c, "vt", 0, 99)
    check(r[2] == 1, "DeleteRecords past the end: %s" % (r,))


def main():
    with ndtest.Broker() as b:
        c = Conn(b.port)
        tid = create_topic(c, "vt", 2)

        for v in (12, 13):
            ts, cluster = metadata(c, v, [(None, "vt")], cluster=True)
            check(len(ts) == 1 and ts[0]["error"] == 0 and
                  ts[0]["id"] == tid and len(ts[0]["partitions"]) == 2,
                  "Metadata v%d by name: %s" % (v, ts))
            p0 = ts[0]["partitions"][0]
            check(p0[2] == 0 and p0[4] == [0] and p0[5] == [0],
                  "partition leader/replicas: %s" % (p0,))
            ts = metadata(c, v, [(tid, None)])
            check(ts[0]["name"] == "vt" and ts[0]["id"] == tid,
                  "Metadata v%d by id: %s" % (v, ts))
            # The Java client's MetadataRequest.Builder.forTopicIds leaves
            # the name at "" beside the id; Kafka looks the topic up by id
            # (a consumer subscribed by SubscriptionPattern depends on it).
            ts = metadata(c, v, [(tid, "")])
            check(len(ts) == 1 and ts[0]["error"] == 0 and
                  ts[0]["name"] == "vt" and ts[0]["id"] == tid,
                  "Metadata v%d by id with an empty name: %s" % (v, ts))
        ts = metadata(c, 12, [(b"\x01" * 16, None)])
        check(ts[0]["error"] == UNKNOWN_TOPIC_ID, "unknown id: %s" % ts)

        p, batch = produce(c, 13, tid, [b"one", b"two", b"three"])
        check(p["error"] == 0 and p["base"] == 0, "Produce v13: %s" % p)
        p, batch2 = produce(c, 13, tid, [b"four"])
        check(p["error"] == 0 and p["base"] == 3, "Produce v13 again: %s" % p)

        # An idempotent producer's batches on partition 0 of "vp", then
        # DescribeProducers lists it with its last sequence and timestamp.
        pid_tid = create_topic(c, "vp", 1)
        for seq, vals in ((0, [b"a", b"b"]), (2, [b"c"])):
            p, _ = produce(c, 13, pid_tid, vals, ts=1_700_000_000_000 + seq,
                           pid=4242, epoch=3, seq=seq)
            check(p["error"] == 0, "idempotent Produce v13: %s" % p)
        dp = describe_producers(c, "vp", [0, 7])
        check(dp[0][0] == 0 and dp[0][1] ==
              [(4242, 3, 2, 1_700_000_000_002, -1, -1)],
              "DescribeProducers partition 0: %s" % (dp[0],))
        check(dp[7][0] == UNKNOWN_TOPIC_OR_PARTITION and dp[7][1] == [],
              "DescribeProducers missing partition: %s" % (dp[7],))

        # A producer that leaves the batch's maxTimestamp at -1 (Sarama
        # 1.22): the broker recomputes it from the records, as Kafka does,
        # so lookups by time find them. The largest is not the last here.
        mts_tid = create_topic(c, "mts", 1)
        base = 1_700_000_000_000
        p, _ = produce(c, 13, mts_tid, [b"x", b"y", b"z"], ts=base,
                       deltas=[0, 10, 5], max_ts=-1)
        check(p["error"] == 0, "Produce with maxTimestamp -1: %s" % p)
        lo = list_offsets(c, "mts", base + 6)
        check(lo[1] == 0 and lo[3] == 1 and lo[2] == base + 10,
              "ListOffsets at a time inside the batch: %s" % (lo,))
        lo = list_offsets(c, "mts", -3)
        check(lo[3] == 1 and lo[2] == base + 10,
              "ListOffsets max timestamp: %s" % (lo,))
        stored = fetch(c, 18, mts_tid, 0)["records"]
        check(struct.unpack(">q", stored[35:43])[0] == base + 10 and
              crc32c(stored[21:]) == struct.unpack(">I", stored[17:21])[0],
              "stored maxTimestamp and CRC: %s" % stored[:61].hex())

        # zstd came with Produce v7 (KIP-110): older versions are refused
        # with UNSUPPORTED_COMPRESSION_TYPE and store nothing, as on Kafka.
        create_topic(c, "zs", 1)
        z = zstd_batch(record_batch([b"zstd-1", b"zstd-2"]))
        for v in (3, 6):
            err, _ = produce_classic(c, v, "zs", z)
            check(err == UNSUPPORTED_COMPRESSION_TYPE,
                  "zstd in Produce v%d: error %d" % (v, err))
        check(list_offsets(c, "zs", -1)[3] == 0, "a refused zstd batch was stored")
        err, base_off = produce_classic(c, 7, "zs", z)
        check(err == 0 and base_off == 0, "zstd in Produce v7: error %d" % err)
        err, _ = produce_classic(c, 3, "zs", record_batch([b"plain"]))
        check(err == 0, "uncompressed in Produce v3: error %d" % err)

        for v in range(13, 19):
            fp = fetch(c, v, tid, 0)
            check(fp["error"] == 0 and fp["hw"] == 4 and fp["lso"] == 4 and
                  fp["log_start"] == 0, "Fetch v%d: %s" % (v, fp))
            # Stored verbatim, base offsets assigned.
            want = batch + struct.pack(">q", 3) + batch2[8:]
            check(fp["records"] == want, "Fetch v%d: records differ" % v)
            fp = fetch(c, v, tid, 3)
            check(fp["records"] == struct.pack(">q", 3) + batch2[8:],
                  "Fetch v%d from 3" % v)
        fp = fetch(c, 18, tid, 99)
        check(fp["error"] == 1, "Fetch past the end: error %d" % fp["error"])

        # Long poll: an empty fetch waits max_wait_ms.
        t0 = time.monotonic()
        fp = fetch(c, 16, tid, 4, max_wait=300)
        dt = time.monotonic() - t0
        check(fp["error"] == 0 and fp["records"] in (b"", None),
              "empty fetch: %s" % fp)
        check(0.25 <= dt < 5, "empty fetch took %.3f s" % dt)

        lo = list_offsets(c, "vt", -1)
        check(lo[1] == 0 and lo[3] == 4 and lo[4] == 0, "latest: %s" % (lo,))
        lo = list_offsets(c, "vt", -2)
        check(lo[3] == 0, "earliest: %s" % (lo,))
        lo = list_offsets(c, "vt", -3)
        check(lo[3] == 0 and lo[2] == 1_700_000_000_000,
              "max timestamp: %s" % (lo,))

        kafka44(c, cluster)
        tools(c)
        fp = fetch(c, 18, tid, 0)
        check(fp["error"] == 1 and fp["log_start"] == 2,
              "Fetch below the log start: %s" % fp)

        res = delete_by_id(c, tid)
        check(res == [("vt", tid, 0, None)], "DeleteTopics v6: %s" % res)
        res = delete_by_id(c, tid)
        check(res[0][2] == UNKNOWN_TOPIC_ID, "delete again: %s" % res)

        tid2 = create_topic(c, "vt", 1)
        check(tid2 != tid, "re-created topic kept its id")
        fp = fetch(c, 13, tid, 0)
        check(fp["error"] == UNKNOWN_TOPIC_ID,
              "fetch by the old id: error %d" % fp["error"])
        p, _ = produce(c, 13, tid, [b"x"])
        check(p["error"] == UNKNOWN_TOPIC_ID, "produce by the old id: %s" % p)
        fp = fetch(c, 13, tid2, 0)
        check(fp["error"] == 0 and fp["hw"] == 0, "new topic: %s" % fp)
        # A clean stop, and nothing from the sanitizers when built with them.
        code = b.stop()
        check(code == 0, "nodata serve exited with %s" % code)
        check("Sanitizer" not in b.stderr() and "runtime error" not in b.stderr(),
              "sanitizer report:\n%s" % b.stderr()[-4000:])
    ndtest.passed()


if __name__ == "__main__":
    main()
