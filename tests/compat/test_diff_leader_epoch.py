"""test_diff_leader_epoch.py — OffsetForLeaderEpoch's errors, nodata
against Apache Kafka 4.4.

A client names the leader epoch it believes current (current_leader_epoch,
-1 for none) and the epoch whose end offset it wants. A fresh partition's
leader epoch is 0 on both brokers. Kafka answers a current epoch above the
leader's UNKNOWN_LEADER_EPOCH (75: the client has newer metadata than the
broker; it retries) — not FENCED_LEADER_EPOCH (74, for a client behind
the broker, which makes it refresh metadata), which nodata answered before
its codes came from one table (broker/kafka_errors.h). The request is
written by hand (v3, the newest non-flexible version) so that every field
is the test's choice.
"""
import socket
import struct
import time

import differential
import ndtest

ndtest.require("confluent_kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "epochs"
# (current_leader_epoch, leader_epoch) pairs asked for partition 0.
ASKS = [(-1, 0), (0, 0), (1, 0), (7, 0), (-1, 1), (0, 3), (-1, -1)]


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def offset_for_leader_epoch(bootstrap, topic, asks):
    host, port = bootstrap.rsplit(":", 1)
    body = struct.pack(">ii", -1, 1) + s16(topic) + struct.pack(">i", len(asks))
    # One partition entry per ask, all for partition 0: each is answered
    # on its own, in order.
    for cur, epoch in asks:
        body += struct.pack(">iii", 0, cur, epoch)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        ndtest.kafka_request(s, 23, 3, 7, body)
        f = ndtest.recv_frame(s, timeout=30)
    if f is None:
        ndtest.fail("%s closed the connection" % bootstrap)
    cid, _throttle, ntopics = struct.unpack_from(">iii", f)
    pos = 12
    out = []
    for _ in range(ntopics):
        (n,) = struct.unpack_from(">h", f, pos)
        pos += 2 + n
        (np,) = struct.unpack_from(">i", f, pos)
        pos += 4
        for _ in range(np):
            err, part, epoch, end = struct.unpack_from(">hiiq", f, pos)
            pos += 18
            out.append({"error": err, "partition": part,
                        "leader_epoch": epoch, "end_offset": end})
    return out


def scenario(bootstrap):
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(60)
    res = {}
    # Kafka's metadata reaches the partition's leader a moment after
    # CreateTopics returns: until then it answers NOT_LEADER_OR_FOLLOWER.
    for _ in range(100):
        res = {"asks": offset_for_leader_epoch(bootstrap, TOPIC, ASKS)}
        if all(p["error"] != 6 for p in res["asks"]):
            break
        time.sleep(0.2)
    res["unknown_topic"] = offset_for_leader_epoch(bootstrap, "nosuch",
                                                   [(-1, 0)])
    return res


want, got = differential.run_both(scenario)
print("Kafka:", want)
print("nodata:", got)
if want["asks"][2]["error"] != 75:
    ndtest.fail("Kafka answered current_leader_epoch 1 with %r, not "
                "UNKNOWN_LEADER_EPOCH: the oracle changed" % want["asks"][2])
differential.compare(want, got, what="OffsetForLeaderEpoch errors")
ndtest.passed()
