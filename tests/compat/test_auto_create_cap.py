"""test_auto_create_cap.py — topic creation never holds the event loop, and
one Metadata request auto-creates a bounded number of topics.

- Metadata v1 naming 5,000 new topics (auto-creation on): while it is
  being answered, another client's request is answered (its reply comes
  while the big request has none yet); the big request creates exactly
  100 topics and answers LEADER_NOT_AVAILABLE (retriable) for the others;
  the same request again creates the next 100.
- meanwhile a Produce to a new topic is answered UNKNOWN_TOPIC_OR_PARTITION
  (retriable) rather than waiting for the store's topic lock;
- CreateTopics of one topic with 5,000 partitions, then CreatePartitions
  of 5,000 more: another client is answered meanwhile, then the topic
  has all its partitions;
- an AlterConfigs of another topic sent during that CreateTopics waits
  for the store's admin lock on the worker thread, not on the event loop:
  a third client is still answered, and the change is made.

Ordering, not durations: once the broker has begun creating (a topic
directory appears), the other client's reply must arrive before the big
request's. Auto-created topics get 10 partitions each (--partitions), so
that the creation outlasts that round trip on any disk.
"""
import hashlib
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from kafka_errors import (  # noqa: E402
    LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION)

CAP = 100


import test_kafka_versions as kv  # noqa: E402

check = kv.check

def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def answered_meanwhile(port, big):
    """A fresh client's ApiVersions is answered while `big` (a socket
    whose request is being handled) has no reply yet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    ndtest.kafka_request(s, 18, 0, 77)
    r = ndtest.recv_frame(s, 600)
    s.close()
    check(r is not None and struct.unpack(">i", r[:4])[0] == 77,
          "no ApiVersions reply")
    big.setblocking(False)
    try:
        got = big.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        got = b""
    big.setblocking(True)
    return got == b""


def wait_started(d, before):
    """Until directory d has more entries than `before` (topic directories
    in DATA/topics, partitions in a topic's)."""
    for _ in range(6000):
        if os.path.isdir(d) and len(os.listdir(d)) > before:
            return
        time.sleep(0.01)
    ndtest.fail("nothing new appeared in %s" % d)


def metadata_v1(s, names, corr):
    body = struct.pack(">i", len(names)) + b"".join(string(n) for n in names)
    ndtest.kafka_request(s, 3, 1, corr, body)


def parse_metadata_v1(r):
    p = 4  # correlation id
    (nb,) = struct.unpack(">i", r[p:p + 4])
    p += 4
    for _ in range(nb):
        p += 4
        (hl,) = struct.unpack(">h", r[p:p + 2])
        p += 2 + hl + 4
        (rl,) = struct.unpack(">h", r[p:p + 2])
        p += 2 + max(rl, 0)
    p += 4  # controller
    (nt,) = struct.unpack(">i", r[p:p + 4])
    p += 4
    out = {}
    for _ in range(nt):
        (err, nl) = struct.unpack(">hh", r[p:p + 4])
        p += 4
        name = r[p:p + nl].decode()
        p += nl + 1  # is_internal
        (np_,) = struct.unpack(">i", r[p:p + 4])
        p += 4
        for _ in range(np_):
            p += 2 + 4 + 4
            for _ in range(2):  # replicas, isr
                (k,) = struct.unpack(">i", r[p:p + 4])
                p += 4 + 4 * k
        out[name] = (err, np_)
    return out


def admin_reply_ok(s, corr, what):
    """The one result of a CreateTopics v2 / CreatePartitions v1 reply
    (name, error, message) has no error."""
    r = ndtest.recv_frame(s, 600)
    check(r is not None, "no %s reply" % what)
    (c, _thr, n, nl) = struct.unpack(">iiih", r[:14])
    (err,) = struct.unpack(">h", r[14 + nl:16 + nl])
    check(c == corr and n == 1 and err == 0, "%s error %d" % (what, err))


def alter_retention(s, topic, corr):
    """AlterConfigs v0 setting retention.ms of one topic."""
    body = (struct.pack(">ib", 1, 2) + string(topic) + struct.pack(">i", 1)
            + string("retention.ms") + string("123456") + struct.pack(">b", 0))
    ndtest.kafka_request(s, 33, 0, corr, body)


def topic_count(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    ndtest.kafka_request(s, 3, 1, 5, struct.pack(">i", -1))
    r = ndtest.recv_frame(s, 60)
    s.close()
    return len(parse_metadata_v1(r))


with ndtest.Broker(args=["--partitions", "10"]) as b:
    names = ["auto-%05d" % i for i in range(5000)]
    big = socket.create_connection(("127.0.0.1", b.port), timeout=60)
    metadata_v1(big, names, 1)
    topics = os.path.join(b.data_dir, "topics")
    wait_started(topics, 0)
    check(answered_meanwhile(b.port, big),
          "another client waited for a Metadata naming 5,000 new topics")
    # A produce to a new topic meanwhile is not made to wait for the
    # store's topic creation either: retriable, and created on its
    # client's metadata refresh.
    c = kv.Conn(b.port)
    err, _ = kv.produce_classic(c, 3, "fresh", kv.record_batch([b"v"]))
    check(err == UNKNOWN_TOPIC_OR_PARTITION and answered_meanwhile(b.port, big),
          "a produce to a new topic waited for the creation (error %d)" % err)
    c.s.close()
    r = ndtest.recv_frame(big, 600)
    check(r is not None, "no Metadata reply")
    got = parse_metadata_v1(r)
    ok = [n for n in names if got[n][0] == 0]
    later = [n for n in names if got[n][0] == LEADER_NOT_AVAILABLE]
    print("Metadata naming 5,000 new topics: %d created, %d to retry"
          % (len(ok), len(later)))
    check(len(ok) == CAP and len(later) == 5000 - CAP,
          "want %d created and the rest LEADER_NOT_AVAILABLE" % CAP)
    ok = [n for n in names if got[n] == (0, 10)]
    check(len(ok) == CAP, "want %d topics of 10 partitions" % CAP)
    check(ok == names[:CAP], "the first %d named are the ones created" % CAP)
    check(topic_count(b.port) == CAP, "topics in the store")
    metadata_v1(big, names, 2)
    got = parse_metadata_v1(ndtest.recv_frame(big, 600))
    check(sum(1 for n in names if got[n] == (0, 10)) == 2 * CAP,
          "a retry creates the next %d" % CAP)

    # CreateTopics v2 of one topic with 5,000 partitions, then
    # CreatePartitions v1 of 5,000 more.
    wide = os.path.join(topics, hashlib.sha256(b"wide").hexdigest())
    steps = [(19, 2, ">ihii", (5000, 1, 0, 0), "CreateTopics", topics,
              2 * CAP, 5000),
             (37, 1, ">ii", (10000, -1), "CreatePartitions", wide,
              5001, 10000)]  # 5001: topic.conf and 5,000 partitions
    for corr, (key, ver, fmt, args, what, d, before, want) in \
            enumerate(steps, 3):
        body = struct.pack(">i", 1) + string("wide") + struct.pack(
            fmt, *args) + struct.pack(">ib", 600000, 0)
        ndtest.kafka_request(big, key, ver, corr, body)
        wait_started(d, before)
        check(answered_meanwhile(b.port, big),
              "another client waited for a %s of 5,000 partitions" % what)
        alt = None
        if key == 19:
            alt = socket.create_connection(("127.0.0.1", b.port), timeout=60)
            alter_retention(alt, names[0], 99)
            check(answered_meanwhile(b.port, big),
                  "an AlterConfigs waiting for the CreateTopics held the "
                  "event loop")
        admin_reply_ok(big, corr, what)
        if alt:
            r = ndtest.recv_frame(alt, 600)
            check(r is not None and struct.unpack(">iiih", r[:14])[::3]
                  == (99, 0), "AlterConfigs reply %r" % (r[:16],))
            alt.close()
        metadata_v1(big, ["wide"], 10 + corr)
        got = parse_metadata_v1(ndtest.recv_frame(big, 600))
        check(got["wide"] == (0, want), "wide: %s" % (got["wide"],))
    big.close()
    ndtest.stop_clean(b)
ndtest.passed()
