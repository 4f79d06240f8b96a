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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import torture  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

seed = int(os.environ.get("ND_TORTURE_SEED", str(int(time.time()))))
rounds = int(os.environ.get("ND_BROKER_TORTURE_ROUNDS", "60"))
rng = random.Random(seed)
print("broker torture: seed %d, %d rounds (ND_TORTURE_SEED=%d repeats)"
      % (seed, rounds, seed), flush=True)

acks = torture.Acks()


def verify(bootstrap):
    f = torture.compare(torture.read_partition(bootstrap, "tort", 0),
                        acks.of("tort", 0))
    if f.first_problem:
        ndtest.fail("%s; first: %s" % (f, f.first_problem))
    return f.records


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
                              on_delivery=acks.on_delivery)
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
    if acks.failed:
        ndtest.fail("%d deliveries failed, first: %s"
                    % (len(acks.failed), acks.failed[0]))
    stored = verify(b.bootstrap)
    print("broker torture: %d kills, %d messages acknowledged, %d stored"
          % (rounds, acks.count(), stored), flush=True)
    if acks.count() != n:
        ndtest.fail("produced %d, acknowledged %d" % (n, acks.count()))
ndtest.passed()
