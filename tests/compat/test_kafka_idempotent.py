"""test_kafka_idempotent.py — an idempotent confluent-kafka producer
(enable.idempotence=true, acks=all) whose connections are cut again and
again by a proxy between it and `nodata serve`: every message is
acknowledged, and stored exactly once, in order. Then the broker is
killed with SIGKILL and restarted: nothing acknowledged is lost, and the
same producer keeps producing after the restart.

The broker advertises the proxy's port, so every client connection after
bootstrap goes through the proxy too.
"""
import collections
import logging
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


# The producer's idempotence and connection log (librdkafka's debug
# contexts eos and broker), kept in memory and printed only when a check
# fails: a stall under load then shows where the producer was waiting.
client_log = collections.deque(maxlen=400)


class KeepLog(logging.Handler):
    def emit(self, record):
        client_log.append(self.format(record))


producer_log = logging.getLogger("idempotent-producer")
producer_log.setLevel(logging.DEBUG)
producer_log.addHandler(KeepLog())
producer_log.propagate = False


def check(cond, msg):
    if not cond:
        if client_log:
            sys.stderr.write("--- producer log, last %d lines ---\n%s\n"
                             % (len(client_log), "\n".join(client_log)))
        ndtest.fail(msg)


class ChaosProxy(threading.Thread):
    """Forwards 127.0.0.1:port to the broker; cut() drops every open
    connection (both directions) at once."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.target = None
        self.lock = threading.Lock()
        self.conns = []
        self.cuts = 0

    def run(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), 5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pump, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            # shutdown() first: close() alone does not end a socket that a
            # pump thread is blocked in recv() on (the kernel keeps it open
            # until that call returns), so the client saw no disconnect
            # while the proxy dropped what it sent next — an InitProducerId
            # lost that way left the producer waiting out its 60 s timeout.
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.cuts += 1


def consume_all(bs, topic, parts, want, timeout=30):
    c = Consumer({"bootstrap.servers": bs, "group.id": "ndtest-idem",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, ck.OFFSET_BEGINNING)
              for p in range(parts)])
    out = []
    deadline = time.time() + timeout
    while len(out) < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            ndtest.fail("consume: %s" % m.error())
        out.append(m)
    # Anything extra (a duplicate) shows up within a short wait.
    end = time.time() + 1
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            out.append(m)
    c.close()
    return out


def main():
    proxy = ChaosProxy()
    with ndtest.Broker(start=False,
                       args=["--advertise", "127.0.0.1:%d" % proxy.port]) as b:
        b.start()
        proxy.target = b.port
        proxy.start()
        bs = "127.0.0.1:%d" % proxy.port
        admin = AdminClient({"bootstrap.servers": bs})
        admin.create_topics([NewTopic("idem", 2, 1)])["idem"].result(10)

        p = Producer({"bootstrap.servers": bs, "enable.idempotence": True,
                      "acks": "all", "linger.ms": 1,
                      "message.send.max.retries": 1000000,
                      "retry.backoff.ms": 20,
                      "message.timeout.ms": 60000,
                      "debug": "eos,broker"}, logger=producer_log)
        acked = []
        errors = []

        def dr(err, msg):
            if err is not None:
                errors.append(err)
            else:
                acked.append((msg.partition(), msg.offset(), msg.value()))
        n = 3000
        for i in range(n):
            p.produce("idem", key=b"k%d" % (i % 7), value=b"m%05d" % i,
                      on_delivery=dr)
            if i % 300 == 150:
                p.poll(0.05)
                proxy.cut()
            p.poll(0)
        check(p.flush(60) == 0, "messages left after flush")
        check(not errors, "delivery errors: %s" % errors[:3])
        check(len(acked) == n, "acked %d of %d" % (len(acked), n))
        check(proxy.cuts >= 5, "only %d cuts" % proxy.cuts)

        msgs = consume_all(b.bootstrap, "idem", 2, n)
        vals = [m.value() for m in msgs]
        check(len(vals) == n and len(set(vals)) == n,
              "stored %d messages, %d distinct, want %d"
              % (len(vals), len(set(vals)), n))
        for part in (0, 1):
            seq = [int(m.value()[1:]) for m in msgs if m.partition() == part]
            check(seq == sorted(seq), "partition %d out of order" % part)
            offs = [m.offset() for m in msgs if m.partition() == part]
            check(offs == list(range(len(offs))),
                  "partition %d offsets not dense" % part)
        # Every ack names where the message really is.
        where = {(m.partition(), m.offset()): m.value() for m in msgs}
        for part, off, val in acked:
            check(where.get((part, off)) == val,
                  "ack (%d, %d) for %r but stored %r"
                  % (part, off, val, where.get((part, off))))

        # Acknowledged with acks=all, then SIGKILL: nothing lost.
        b.kill9()
        b.start()
        proxy.target = b.port
        proxy.cut()
        msgs = consume_all(b.bootstrap, "idem", 2, n)
        check(len(msgs) == n, "after kill -9: %d of %d" % (len(msgs), n))

        # The same producer carries on after the restart.
        acked.clear()
        for i in range(n, n + 200):
            p.produce("idem", key=b"k%d" % (i % 7), value=b"m%05d" % i,
                      on_delivery=dr)
        check(p.flush(60) == 0, "messages left after restart")
        check(not errors, "delivery errors after restart: %s" % errors[:3])
        msgs = consume_all(b.bootstrap, "idem", 2, n + 200)
        vals = [m.value() for m in msgs]
        check(len(vals) == n + 200 and len(set(vals)) == n + 200,
              "after restart: %d stored, %d distinct"
              % (len(vals), len(set(vals))))
        del p
        code = b.stop()
        check(code == 0, "nodata serve exited with %s" % code)
        check("Sanitizer" not in b.stderr(), "sanitizer report:\n%s"
              % b.stderr()[-4000:])
    ndtest.passed()


main()
