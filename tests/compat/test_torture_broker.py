"""test_torture_broker.py — kill -9 the broker again and again under an
idempotent acks=all producer (confluent-kafka, i.e. librdkafka).

One producer runs for the whole test. In each round it produces for a
random moment, then the broker is killed with SIGKILL and restarted on the
same data directory and port; the producer reconnects and carries on. At
the end (and every tenth round) the partition is read back from the start:
every acknowledged message must be there exactly once, at the offset its
delivery report gave, byte-identical; offsets are dense. Seeded
(ND_TORTURE_SEED, printed); ND_BROKER_TORTURE_ROUNDS rounds (default 60).
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

seed = int(os.environ.get("ND_TORTURE_SEED", str(int(time.time()))))
rounds = int(os.environ.get("ND_BROKER_TORTURE_ROUNDS", "60"))
rng = random.Random(seed)
print("broker torture: seed %d, %d rounds (ND_TORTURE_SEED=%d repeats)"
      % (seed, rounds, seed), flush=True)

acked = {}          # offset -> value
failed = []
lock = threading.Lock()


def on_delivery(err, msg):
    with lock:
        if err is not None:
            failed.append(str(err))
        else:
            acked[msg.offset()] = msg.value()


def read_all(bootstrap, hw_at_least):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "torture-check",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("tort", 0, 0)])
    seen = {}
    deadline = time.time() + 60
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                if len(seen) >= hw_at_least:
                    break
                continue
            ndtest.fail("consume error: %s" % m.error())
        if m.offset() in seen:
            ndtest.fail("offset %d delivered twice" % m.offset())
        seen[m.offset()] = m.value()
    c.close()
    return seen


def verify(bootstrap):
    with lock:
        want = dict(acked)
    top = max(want) + 1 if want else 0
    seen = read_all(bootstrap, top)
    offsets = sorted(seen)
    if offsets != list(range(len(offsets))):
        ndtest.fail("offsets are not dense from 0: %s..." % offsets[:10])
    for off, val in want.items():
        if seen.get(off) != val:
            ndtest.fail("acknowledged offset %d: stored %r, acknowledged %r"
                        % (off, seen.get(off), val))
    values = list(seen.values())
    if len(values) != len(set(values)):
        ndtest.fail("a message was stored twice")
    return len(seen)


with ndtest.Broker() as b:
    p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                  "acks": "all", "linger.ms": 2, "message.timeout.ms": 60000,
                  "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200,
                  "retry.backoff.ms": 20})
    n = 0
    for r in range(rounds):
        until = time.time() + rng.uniform(0.02, 0.3)
        while time.time() < until:
            # About 5,000 messages a second: enough to have requests in
            # flight at every kill, few enough to verify quickly.
            for _ in range(10):
                try:
                    p.produce("tort", value=b"r%d-m%d" % (r, n), partition=0,
                              on_delivery=on_delivery)
                    n += 1
                except BufferError:
                    break
            p.poll(0.002)
        b.kill9()
        b.start()
        p.poll(0)
        if r % 10 == 9:
            p.flush(60)
            verify(b.bootstrap)
    left = p.flush(60)
    if left:
        ndtest.fail("%d messages never delivered" % left)
    if failed:
        ndtest.fail("%d deliveries failed, first: %s" % (len(failed), failed[0]))
    stored = verify(b.bootstrap)
    print("broker torture: %d kills, %d messages acknowledged, %d stored"
          % (rounds, len(acked), stored), flush=True)
    if len(acked) != n:
        ndtest.fail("produced %d, acknowledged %d" % (n, len(acked)))
ndtest.passed()
