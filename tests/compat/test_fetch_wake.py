"""test_fetch_wake.py — a waiting Fetch is completed by the appends it
waits for, as Kafka does, not at the end of its max wait:

- confluent-kafka (fetch.wait.max.ms=10000) and kafka-python
  (fetch_max_wait_ms=10000) consumers, polling an idle partition, get a
  record produced meanwhile in under 2 s (it used to take up to the whole
  10 s wait);
- a raw Fetch waiting on partition 0 is not answered early by appends to
  partition 1, and is answered soon after an append to partition 0;
- a raw Fetch with min_bytes waits while fewer bytes than that have
  arrived, and is answered as soon as the appends add up to min_bytes.

The bounds are an order of magnitude below the waits: they tell a woken
fetch from a timed-out one, they do not measure speed.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck, kp = ndtest.require("confluent_kafka", "kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

LONG_WAIT_MS = 10000
WOKEN_WITHIN_S = 2.0


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def produce(bs, topic, partition, value):
    p = Producer({"bootstrap.servers": bs, "acks": "1", "linger.ms": 0})
    p.produce(topic, value, partition=partition)
    check(p.flush(10) == 0, "produce to %s/%d not acknowledged"
          % (topic, partition))


def latency_after_idle(bs, topic, consume):
    """Run consume(bs, topic, first) on a thread (it sets the event
    `first` on reading the record b"first" and returns (value, receive
    time) of the next one), let its consumer read a first record and go
    back to waiting, then produce a second: seconds from that produce to
    its receipt."""
    produce(bs, topic, 0, b"first")
    got = []
    first = threading.Event()
    t = threading.Thread(target=lambda: got.append(consume(bs, topic, first)))
    t.start()
    # The first record arrives at once; the consumer's next Fetch then
    # finds nothing and waits on the broker.
    check(first.wait(30), "%s: the first record never arrived" % topic)
    time.sleep(1.0)
    sent = time.monotonic()
    produce(bs, topic, 0, b"second")
    t.join(LONG_WAIT_MS / 1000 * 3)
    check(got and got[0][0] == b"second",
          "%s: the second record never arrived (got %r)" % (topic, got))
    return got[0][1] - sent


def confluent_consume(bs, topic, first):
    c = Consumer({"bootstrap.servers": bs, "group.id": "wake-" + topic,
                  "enable.auto.commit": False,
                  "fetch.wait.max.ms": LONG_WAIT_MS})
    c.assign([TopicPartition(topic, 0, 0)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = c.poll(0.05)
            if m is None or m.error():
                continue
            if m.value() == b"first":
                first.set()
                continue
            return (m.value(), time.monotonic())
    finally:
        c.close()
    return (None, 0)


def kafka_python_consume(bs, topic, first):
    c = kp.KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False,
                         fetch_max_wait_ms=LONG_WAIT_MS,
                         request_timeout_ms=LONG_WAIT_MS + 20000,
                         api_version_auto_timeout_ms=10000)
    c.assign([kp.TopicPartition(topic, 0)])
    c.seek(kp.TopicPartition(topic, 0), 0)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=50).values():
                for m in recs:
                    if m.value == b"first":
                        first.set()
                    else:
                        return (m.value, time.monotonic())
    finally:
        c.close()
    return (None, 0)


# ---- raw Fetch v4 --------------------------------------------------------

def fetch_v4(sock, corr, topic, partition, offset, max_wait_ms, min_bytes):
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 1 << 20, 0)
    t = topic.encode()
    body += struct.pack(">ih", 1, len(t)) + t
    body += struct.pack(">iiqi", 1, partition, offset, 1 << 20)
    ndtest.kafka_request(sock, 1, 4, corr, body)


def fetch_reply(sock, corr, timeout):
    """(error, high watermark, record bytes) of the one partition in a
    Fetch v4 reply, or None if no reply came within timeout seconds."""
    try:
        r = ndtest.recv_frame(sock, timeout)
    except socket.timeout:
        return None
    check(r is not None, "connection closed instead of a Fetch reply")
    c, _throttle, nt = struct.unpack(">iii", r[:12])
    check(c == corr and nt == 1, "Fetch reply: correlation %d, %d topics"
          % (c, nt))
    (tl,) = struct.unpack(">h", r[12:14])
    at = 14 + tl
    _np, _part, err, hw, _lso, naborted = struct.unpack(
        ">iihqqi", r[at:at + 30])
    at += 30 + 16 * max(naborted, 0)
    (rl,) = struct.unpack(">i", r[at:at + 4])
    return err, hw, max(rl, 0)


def raw_fetch_tests(bs):
    host, port = bs.rsplit(":", 1)
    topic = "wake-raw"
    admin = AdminClient({"bootstrap.servers": bs})
    for f in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        f.result(10)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        # Waiting on partition 0: appends to partition 1 leave it waiting.
        wait_ms = 3000
        start = time.monotonic()
        fetch_v4(s, 1, topic, 0, 0, wait_ms, 1)
        time.sleep(0.3)
        produce(bs, topic, 1, b"elsewhere")
        produce(bs, topic, 1, b"elsewhere again")
        r = fetch_reply(s, 1, 10)
        took = time.monotonic() - start
        check(r is not None and r[0] == 0 and r[2] == 0,
              "fetch on partition 0: %r" % (r,))
        check(took >= wait_ms / 1000 * 0.8,
              "a fetch waiting on partition 0 was answered after %.2fs of "
              "its %dms wait, by appends to partition 1" % (took, wait_ms))

        # Waiting on partition 0: an append there answers it.
        fetch_v4(s, 2, topic, 0, 0, LONG_WAIT_MS, 1)
        time.sleep(0.3)
        sent = time.monotonic()
        produce(bs, topic, 0, b"here")
        r = fetch_reply(s, 2, LONG_WAIT_MS / 1000 * 2)
        took = time.monotonic() - sent
        check(r is not None and r[0] == 0 and r[1] == 1 and r[2] > 0,
              "fetch on partition 0 after an append there: %r" % (r,))
        check(took < WOKEN_WITHIN_S,
              "a fetch waiting on partition 0 was answered %.2fs after an "
              "append there (max wait %dms)" % (took, LONG_WAIT_MS))

        # min_bytes: one small batch is not enough, the second is.
        value = b"v" * 100
        fetch_v4(s, 3, topic, 0, 1, LONG_WAIT_MS, 250)
        time.sleep(0.3)
        produce(bs, topic, 0, value)
        r = fetch_reply(s, 3, 1.0)
        check(r is None, "a fetch for 250 bytes was answered after one "
              "batch of ~170: %r" % (r,))
        sent = time.monotonic()
        produce(bs, topic, 0, value)
        r = fetch_reply(s, 3, LONG_WAIT_MS / 1000 * 2)
        took = time.monotonic() - sent
        check(r is not None and r[0] == 0 and r[1] == 3 and r[2] >= 250,
              "fetch for 250 bytes after two batches: %r" % (r,))
        check(took < WOKEN_WITHIN_S,
              "a fetch for 250 bytes was answered %.2fs after they were "
              "there (max wait %dms)" % (took, LONG_WAIT_MS))


def main():
    with ndtest.Broker() as b:
        raw_fetch_tests(b.bootstrap)
        for name, fn in (("confluent", confluent_consume),
                         ("kafka-python", kafka_python_consume)):
            topic = "wake-" + name
            took = latency_after_idle(b.bootstrap, topic, fn)
            print("%s: record produced during a %d ms fetch wait arrived "
                  "after %.3fs" % (name, LONG_WAIT_MS, took))
            check(took < WOKEN_WITHIN_S,
                  "%s: a record produced while the consumer waited (fetch "
                  "wait %d ms) arrived %.2fs later" % (name, LONG_WAIT_MS,
                                                       took))
    ndtest.passed()


if __name__ == "__main__":
    main()
