"""test_diff_group_ids.py — group ids at the edge ("" and one longer than
nodata can store) in the read-only and delete group APIs, answered byte for
byte as Apache Kafka 4.4 answers them.

Kafka refuses only a null group id there; "" or any other id is a group,
one that does not exist: DeleteGroups says GROUP_ID_NOT_FOUND,
DescribeGroups a Dead group (error NONE before v6), OffsetFetch offset -1
with no error; DescribeGroups v6 GROUP_ID_NOT_FOUND. Flexible versions too. Requests are written by hand and the response bytes of the
two brokers compared (throttle 0 on both). An unknown ordinary group is in
each request as the control.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402

LONG = "g" * 1100  # over ND_GROUP_NAME_MAX (1024); Kafka has no limit


def s16(x):
    b = x.encode()
    return struct.pack(">h", len(b)) + b


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def cstr(x):  # compact string; lengths here stay below 128 * 128
    b = x.encode()
    n = len(b) + 1
    return (bytes([n]) if n < 128 else bytes([n & 0x7F | 0x80, n >> 7])) + b


def carr(items):  # compact array of fewer than 127 items
    return bytes([len(items) + 1]) + b"".join(items)


def flexible(s, key, version, cid, body):
    """A flexible request (header v2: v1's and an empty tag section)."""
    ndtest.kafka_request(s, key, version, cid, b"\x00" + body + b"\x00")
    return ndtest.recv_frame(s).hex()


def scenario(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        # Kafka's coordinator needs its offsets topic loaded first.
        deadline = time.monotonic() + 60
        while True:
            ndtest.kafka_request(s, 10, 1, 1, s16("g") + b"\x00")
            f = ndtest.recv_frame(s)
            if f[8:10] == b"\x00\x00":
                break
            if time.monotonic() > deadline:
                ndtest.fail("%s: no group coordinator in 60 s" % bootstrap)
            time.sleep(0.5)
        ids = ["", LONG, "never-was"]
        # Each id's offsets partition loads on its own: until it has,
        # Kafka answers COORDINATOR_LOAD_IN_PROGRESS (14) or NOT_COORDINATOR
        # (16) for it (seen on a loaded machine). DescribeGroups v1 of each
        # id alone until neither (nodata never answers them).
        for g in ids:
            while True:
                ndtest.kafka_request(s, 15, 1, 1, arr([s16(g)]))
                f = ndtest.recv_frame(s)
                if struct.unpack_from(">h", f, 12)[0] not in (14, 15, 16):
                    break
                if time.monotonic() > deadline:
                    ndtest.fail("%s: group %.20r not loaded in 60 s"
                                % (bootstrap, g))
                time.sleep(0.5)
        seen = {}
        ndtest.kafka_request(s, 42, 1, 2, arr([s16(g) for g in ids]))
        seen["delete_groups_v1"] = ndtest.recv_frame(s).hex()
        ndtest.kafka_request(s, 15, 1, 3, arr([s16(g) for g in ids]))
        seen["describe_groups_v1"] = ndtest.recv_frame(s).hex()
        for cid, g in enumerate(ids):
            body = s16(g) + arr([s16("no-such-topic") +
                                 arr([struct.pack(">i", 0)])])
            ndtest.kafka_request(s, 9, 1, 10 + cid, body)
            seen["offset_fetch_v1[%d]" % cid] = ndtest.recv_frame(s).hex()
        # The flexible versions: DescribeGroups v6 answers a group that
        # does not exist with GROUP_ID_NOT_FOUND and a message.
        seen["delete_groups_v2"] = flexible(
            s, 42, 2, 4, carr([cstr(g) for g in ids]))
        seen["describe_groups_v6"] = flexible(
            s, 15, 6, 5, carr([cstr(g) for g in ids]) + b"\x00")
    return seen


want, got = differential.run_both(scenario)
differential.compare(want, got, what="group ids at the edge")
ndtest.passed()
