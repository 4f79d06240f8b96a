"""test_limits_huge.py — no request can go past the partition limits
(issue 21: "one CreateTopics with 100,000 partitions left a data
directory unable to restart"), over raw requests, so that no client-side
check (librdkafka refuses more than 100,000 partitions itself) hides
what the broker does:

- CreateTopics of one topic with 100,000 partitions over
  --max-topic-partitions 1000, of one with 1,000,000 and with
  2,147,483,647: INVALID_PARTITIONS naming the limit and the flag, and not
  one directory made;
- the same 100,000 given as replica assignments: the same;
- one CreateTopics of two 1,000-partition topics with
  --max-store-partitions 1500: the first is created, the second
  answered POLICY_VIOLATION naming the store limit;
- CreatePartitions growing that topic to 100,000: INVALID_PARTITIONS;
- Metadata auto-creation with --partitions 100000 (over the per-topic
  limit): the topic is answered with an error, nothing is created;
- then a restart: the data directory opens, with exactly the topic
  created above, 1,000 partitions.

The 100,000-partition topic that is allowed (the default limit) and its
restart are tests/compat/test_many_partitions.py's.
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from kafka_errors import (  # noqa: E402
    INVALID_PARTITIONS, POLICY_VIOLATION)


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def s16(x):
    b = x.encode()
    return struct.pack(">h", len(b)) + b


def read_str(r, p):
    (n,) = struct.unpack(">h", r[p:p + 2])
    p += 2
    if n < 0:
        return None, p
    return r[p:p + n].decode(), p + n


def admin_results(r):
    """[(name, error, message)] of a CreateTopics v2 / CreatePartitions v1
    response."""
    p = 8  # correlation id, throttle
    (n,) = struct.unpack(">i", r[p:p + 4])
    p += 4
    out = []
    for _ in range(n):
        name, p = read_str(r, p)
        (err,) = struct.unpack(">h", r[p:p + 2])
        msg, p = read_str(r, p + 2)
        out.append((name, err, msg))
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.corr = 0

    def call(self, key, version, body):
        self.corr += 1
        ndtest.kafka_request(self.s, key, version, self.corr, body)
        r = ndtest.recv_frame(self.s, 600)
        check(r is not None, "API %d: connection closed" % key)
        return r

    def create_topics(self, topics):
        """topics: [(name, partitions, assignments or None)]."""
        body = struct.pack(">i", len(topics))
        for name, parts, assign in topics:
            if assign:
                body += s16(name) + struct.pack(">ihi", -1, -1, assign)
                body += b"".join(struct.pack(">iii", i, 1, 0)
                                 for i in range(assign))
            else:
                body += s16(name) + struct.pack(">ihi", parts, 1, 0)
            body += struct.pack(">i", 0)  # configs
        body += struct.pack(">i?", 600000, False)
        return admin_results(self.call(19, 2, body))

    def create_partitions(self, name, count):
        body = (struct.pack(">i", 1) + s16(name) + struct.pack(">ii", count, -1)
                + struct.pack(">i?", 600000, False))
        return admin_results(self.call(37, 1, body))

    def metadata_error(self, name):
        """Metadata v1 for one topic: its error code."""
        r = self.call(3, 1, struct.pack(">i", 1) + s16(name))
        p = 4
        (nb,) = struct.unpack(">i", r[p:p + 4])
        p += 4
        for _ in range(nb):
            _, p = read_str(r, p + 4)
            _, p = read_str(r, p + 4)
        p += 4  # controller
        (nt,) = struct.unpack(">i", r[p:p + 4])
        check(nt == 1, "Metadata: %d topics" % nt)
        (err,) = struct.unpack(">h", r[p + 4:p + 6])
        return err


def topic_dirs(data):
    d = os.path.join(data, "topics")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def refused(res, code, words, what):
    check(len(res) == 1 and res[0][1] == code and res[0][2]
          and all(w in res[0][2] for w in words),
          "%s: %r (want error %d with %r)" % (what, res, code, words))


with ndtest.Broker(args=["--max-topic-partitions", "1000",
                         "--max-store-partitions", "1500",
                         "--partitions", "100000"]) as b:
    c = Conn(b.port)
    refused(c.create_topics([("huge", 100000, None)]), INVALID_PARTITIONS,
            ["100000 partitions", "limit of 1000 per topic",
             "--max-topic-partitions"], "100,000 partitions")
    refused(c.create_topics([("huge", 1000000, None)]), INVALID_PARTITIONS,
            ["limit of 1000 per topic"], "1,000,000 partitions")
    refused(c.create_topics([("huge", 2147483647, None)]), INVALID_PARTITIONS,
            ["limit of 1000 per topic"], "2^31-1 partitions")
    refused(c.create_topics([("huge", None, 100000)]), INVALID_PARTITIONS,
            ["limit of 1000 per topic"], "100,000 assigned partitions")
    check(topic_dirs(b.data_dir) == [], "a refused topic left directories: "
          "%r" % topic_dirs(b.data_dir))

    res = c.create_topics([("a", 1000, None), ("b", 1000, None)])
    got = {name: (err, msg) for name, err, msg in res}
    check(got.get("a", (1,))[0] == 0, "topic a: %r" % res)
    check(got.get("b", (0, ""))[0] == POLICY_VIOLATION and
          "limit of 1500" in got["b"][1] and
          "--max-store-partitions" in got["b"][1], "topic b: %r" % res)

    refused(c.create_partitions("a", 100000), INVALID_PARTITIONS,
            ["limit of 1000 per topic"], "CreatePartitions to 100,000")

    before = topic_dirs(b.data_dir)
    err = c.metadata_error("auto")
    check(err != 0, "Metadata auto-created a topic of 100,000 partitions")
    check(topic_dirs(b.data_dir) == before, "the refused auto-creation left "
          "directories")
    print("Metadata auto-creation over the limit answered error %d" % err)
    c.s.close()

    b.restart(timeout=300)
    c = Conn(b.port)
    check(c.metadata_error("a") == 0, "topic a after the restart")
    check(len(topic_dirs(b.data_dir)) == 1, "topics after the restart: %r"
          % topic_dirs(b.data_dir))
    parts = os.listdir(os.path.join(b.data_dir, "topics",
                                    topic_dirs(b.data_dir)[0]))
    check(len([p for p in parts if p.isdigit()]) == 1000,
          "topic a has %d partition directories" % len(parts))
    c.s.close()
ndtest.passed()
