"""test_kafka_groups.py — consumer groups against `nodata serve`.

- confluent-kafka: three consumers in one group on a 6-partition topic
  consume every message exactly once between them; one leaves and its
  partitions move to the others, nothing skipped from the committed
  positions; the broker restarts and the group resumes from its commits;
- a commit acknowledged just before kill -9 survives;
- kafka-python: KafkaConsumer with group_id and auto-commit resumes after
  a restart;
- raw protocol: OffsetCommit with an unknown group or a stale generation
  gets ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID; OffsetFetch of partitions
  never committed returns -1; ListGroups/DescribeGroups/DeleteGroups.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def produce(bs, topic, start, n):
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, key=b"k%d" % i, value=b"%d" % i)
    check(p.flush(30) == 0, "produce flush")


class Member(threading.Thread):
    """One group member consuming into a shared list until told to stop."""

    def __init__(self, bs, group, topic, seen, lock, name):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bs, "group.id": group,
                           "auto.offset.reset": "earliest",
                           "enable.auto.commit": False,
                           "session.timeout.ms": 6000,
                           "heartbeat.interval.ms": 500,
                           "client.id": name})
        self.c.subscribe([topic])
        self.seen, self.lock = seen, lock
        self.stop = threading.Event()
        self.count = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                m = self.c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        self.error = str(m.error())
                    continue
                with self.lock:
                    self.seen.append(int(m.value()))
                self.count += 1
                self.c.commit(message=m, asynchronous=False)
        except Exception as e:  # surfaced by the main thread
            self.error = repr(e)
        finally:
            self.c.close()


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    ndtest.fail("timed out waiting for %s" % what)


def confluent_group(b):
    bs = b.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    admin.create_topics([NewTopic("grp", 6, 1)])["grp"].result(10)
    produce(bs, "grp", 0, 600)

    seen, lock = [], threading.Lock()
    members = [Member(bs, "g3", "grp", seen, lock, "m%d" % i)
               for i in range(3)]
    for m in members:
        m.start()
    wait_for(lambda: len(seen) >= 600, 60, "600 messages across 3 members")
    time.sleep(1)
    check(sorted(seen) == list(range(600)),
          "first pass: %d seen, %d distinct" % (len(seen), len(set(seen))))
    check(all(m.count > 0 for m in members),
          "a member got nothing: %s" % [m.count for m in members])

    # One member leaves; the others take its partitions.
    members[0].stop.set()
    members[0].join(30)
    produce(bs, "grp", 600, 300)
    wait_for(lambda: len(seen) >= 900, 60, "messages after a member left")
    time.sleep(1)
    check(sorted(seen) == list(range(900)),
          "after leave: %d seen, %d distinct" % (len(seen), len(set(seen))))
    for m in members[1:]:
        m.stop.set()
        m.join(30)
    for m in members:
        check(m.error is None, "member error: %s" % m.error)

    # Restart: the group resumes from its committed offsets.
    b.restart()
    bs = b.bootstrap
    produce(bs, "grp", 900, 60)
    seen2 = []
    m = Member(bs, "g3", "grp", seen2, lock, "again")
    m.start()
    wait_for(lambda: len(seen2) >= 60, 60, "messages after restart")
    time.sleep(1)
    m.stop.set()
    m.join(30)
    check(sorted(seen2) == list(range(900, 960)),
          "after restart got %d: %s" % (len(seen2), sorted(seen2)[:10]))
    return b.bootstrap


def kill9_commit(b):
    bs = b.bootstrap
    c = Consumer({"bootstrap.servers": bs, "group.id": "k9"})
    c.commit(offsets=[TopicPartition("grp", 2, 77)], asynchronous=False)
    c.close()
    b.kill9()
    b.start()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "k9"})
    got = c.committed([TopicPartition("grp", 2), TopicPartition("grp", 3)],
                      timeout=10)
    c.close()
    check(got[0].offset == 77, "after kill -9: committed %s" % got[0])
    check(got[1].offset < 0, "never committed: %s" % got[1])


def kafka_python_group(b):
    kafka = ndtest.require("kafka")
    bs = b.bootstrap
    p = kafka.KafkaProducer(bootstrap_servers=bs)
    for i in range(50):
        p.send("kpg", value=b"%d" % i)
    p.flush()
    p.close()
    c = kafka.KafkaConsumer("kpg", bootstrap_servers=bs, group_id="kpgroup",
                            auto_offset_reset="earliest",
                            enable_auto_commit=True,
                            auto_commit_interval_ms=200,
                            consumer_timeout_ms=8000)
    got = [int(m.value) for m in c]
    c.close()  # commits
    check(got == list(range(50)), "kafka-python first pass: %s" % got[:10])
    b.restart()
    bs = b.bootstrap
    p = kafka.KafkaProducer(bootstrap_servers=bs)
    for i in range(50, 60):
        p.send("kpg", value=b"%d" % i)
    p.flush()
    p.close()
    c = kafka.KafkaConsumer("kpg", bootstrap_servers=bs, group_id="kpgroup",
                            auto_offset_reset="earliest",
                            consumer_timeout_ms=8000)
    got = [int(m.value) for m in c]
    c.close()
    check(got == list(range(50, 60)), "kafka-python resume: %s" % got)


# ---- raw protocol ---------------------------------------------------------

def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def call(sock, key, ver, corr, body):
    ndtest.kafka_request(sock, key, ver, corr, body)
    r = ndtest.recv_frame(sock)
    check(r is not None and struct.unpack(">i", r[:4])[0] == corr,
          "api %d v%d: no answer" % (key, ver))
    return r[4:]


def raw_errors(b):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    # OffsetCommit v2: group, generation, member, retention, topics.
    def commit(group, gen, member):
        body = s16(group) + struct.pack(">i", gen) + s16(member)
        body += struct.pack(">q", -1) + struct.pack(">i", 1) + s16("grp")
        body += struct.pack(">i", 1) + struct.pack(">iq", 0, 5) + s16("")
        r = call(s, 8, 2, 1, body)
        # topics[1]: name, partitions[1]: index, error
        (n,) = struct.unpack(">i", r[:4])
        off = 4 + 2 + len("grp") + 4 + 4
        return struct.unpack(">h", r[off:off + 2])[0]
    check(commit("nosuchgroup", 3, "m-1") == 22,
          "commit to an unknown group with a generation")
    check(commit("g3", 999, "nobody") == 25, "commit from an unknown member")
    check(commit("solo", -1, "") == 0, "simple commit")

    # OffsetFetch v1 for never-committed partitions: -1, metadata "".
    body = s16("solo") + struct.pack(">i", 1) + s16("grp")
    body += struct.pack(">iii", 2, 0, 4)
    r = call(s, 9, 1, 2, body)
    rd = r[4 + 2 + 3 + 4:]
    p0, o0 = struct.unpack(">iq", rd[:12])
    check(p0 == 0 and o0 == 5, "solo partition 0: %d %d" % (p0, o0))
    rd = rd[12 + 2 + 2:]
    p4, o4 = struct.unpack(">iq", rd[:12])
    check(p4 == 4 and o4 == -1, "never committed: %d %d" % (p4, o4))

    # ListGroups v0 lists the groups; DescribeGroups v0 says Empty.
    r = call(s, 16, 0, 3, b"")
    check(b"solo" in r and b"g3" in r, "ListGroups: %r" % r)
    r = call(s, 15, 0, 4, struct.pack(">i", 1) + s16("solo"))
    check(b"Empty" in r, "DescribeGroups: %r" % r)
    # DeleteGroups v0: solo goes, its offsets with it.
    r = call(s, 42, 0, 5, struct.pack(">i", 2) + s16("solo") + s16("nope"))
    check(r.endswith(s16("nope") + struct.pack(">h", 69)) and
          (s16("solo") + b"\x00\x00") in r, "DeleteGroups: %r" % r)
    s.close()


def main():
    with ndtest.Broker() as b:
        confluent_group(b)
        kill9_commit(b)
        kafka_python_group(b)
        raw_errors(b)
        code = b.stop()
        check(code == 0, "nodata serve exited with %s" % code)
        check("Sanitizer" not in b.stderr() and
              "runtime error" not in b.stderr(),
              "sanitizer report:\n%s" % b.stderr()[-4000:])
    ndtest.passed()


main()
