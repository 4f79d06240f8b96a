"""test_kafka_malformed.py — bad input against `nodata serve` while a real
client keeps working beside it.

- random bytes, a truncated frame, a frame whose body is cut short, a 2 GiB
  size prefix, an unknown API key: the broker closes that connection (or
  answers) and keeps serving;
- ApiVersions v6 (above our v5): error 35 and ApiVersions' own range, in
  the v0 layout, connection kept;
- every other API at its max + 1 and its min - 1, and Produce v0-2
  (advertised for librdkafka's feature checks): the connection is closed
  with a log line, as Kafka 4 does (checked against Kafka 4.4);
- a confluent-kafka producer with acks=all runs throughout and every message
  is delivered once.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def connect(b):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_or_answered(s, timeout=10):
    """After bad input: the broker closes the connection (recv gets EOF or
    a reset). Returns True if it did."""
    return ndtest.closed_by_peer(s, timeout)


def api_versions_v0(s, corr):
    ndtest.kafka_request(s, 18, 0, corr)
    r = ndtest.recv_frame(s)
    check(r is not None, "ApiVersions v0: connection closed")
    c, err, n = struct.unpack(">ihi", r[:10])
    check(c == corr and err == 0, "ApiVersions v0: corr %d err %d" % (c, err))
    out = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", r[10 + 6 * i:16 + 6 * i])
        out[k] = (lo, hi)
    return out


def flexible_request(s, key, version, corr, body=b"\x00"):
    """A request with header v2: client id (int16 length) + empty tags."""
    cid = b"ndtest"
    msg = struct.pack(">hhih", key, version, corr, len(cid)) + cid + b"\x00"
    msg += body
    s.sendall(struct.pack(">i", len(msg)) + msg)


class Background(threading.Thread):
    """A confluent-kafka producer sending while the bad input arrives."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.stop = threading.Event()
        self.sent = 0
        self.delivered = []
        self.errors = []

    def run(self):
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                      "linger.ms": 2})

        def dr(err, msg):
            if err is not None:
                self.errors.append(err)
            else:
                self.delivered.append(msg.offset())
        while not self.stop.is_set():
            p.produce("beside", value=b"m%d" % self.sent, on_delivery=dr)
            self.sent += 1
            p.poll(0.02)
        p.flush(30)


def main():
    try:
        import confluent_kafka  # noqa: F401
        have_ck = True
    except ImportError:
        have_ck = False
    with ndtest.Broker() as b:
        bg = None
        if have_ck:
            bg = Background(b.bootstrap)
            bg.start()
            time.sleep(0.5)

        rnd = random.Random(20261125)
        # Random bytes: whatever the first four bytes say, the broker must
        # answer or close, never crash.
        for i in range(20):
            s = connect(b)
            s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096))))
            s.shutdown(socket.SHUT_WR)
            closed_or_answered(s, 5)
            s.close()
            check(b.alive(), "broker died on random bytes (round %d)" % i)

        # A 2 GiB size prefix.
        s = connect(b)
        s.sendall(struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 100)
        check(closed_or_answered(s), "2 GiB frame: connection not closed")
        s.close()
        # A negative one.
        s = connect(b)
        s.sendall(struct.pack(">i", -5))
        check(closed_or_answered(s), "negative frame size: not closed")
        s.close()

        # A truncated frame, then the client goes away.
        s = connect(b)
        s.sendall(struct.pack(">i", 100) + b"\x00\x03\x00\x01")
        s.close()

        # A complete frame whose body is cut short: Metadata v1 claiming
        # 5 topics and carrying none.
        s = connect(b)
        ndtest.kafka_request(s, 3, 1, 1, struct.pack(">i", 5))
        check(closed_or_answered(s), "short Metadata body: not closed")
        s.close()
        # A header shorter than a header.
        s = connect(b)
        s.sendall(struct.pack(">i", 3) + b"\x00\x12\x00")
        check(closed_or_answered(s), "3-byte frame: not closed")
        s.close()

        # An unknown API key.
        s = connect(b)
        ndtest.kafka_request(s, 999, 0, 7)
        check(closed_or_answered(s), "unknown API key: not closed")
        s.close()
        check(b.alive(), "broker died")

        s = connect(b)
        table = api_versions_v0(s, 1)
        check(table.get(18) == (0, 5), "ApiVersions range %s" % (table.get(18),))
        check(table.get(0, (9, 9))[0] == 0, "Produce min %s" % (table.get(0),))

        # ApiVersions v6: error 35 and only ApiVersions' own range, v0
        # layout, header v0, connection kept: as Kafka answers.
        flexible_request(s, 18, 6, 2, b"\x00\x00\x00")
        r = ndtest.recv_frame(s)
        check(r is not None, "ApiVersions v6: connection closed")
        corr, err, n = struct.unpack(">ihi", r[:10])
        check(corr == 2 and err == 35, "ApiVersions v6: corr %d err %d"
              % (corr, err))
        check(n == 1 and struct.unpack(">hhh", r[10:16]) == (18,) + table[18],
              "ApiVersions v6 list: %s" % r[10:].hex())
        check(len(r) == 10 + 6 * n, "ApiVersions v6 is not in the v0 layout")
        api_versions_v0(s, 3)  # the connection is still usable
        s.close()

        # Every other API above its max, and below its min where that is
        # above 0, and Produce v0-2 (advertised for librdkafka 2.0, never
        # served): the connection is closed with one log line naming the
        # API, as Kafka 4 does. An error response would read as success
        # for versions without a top-level error field (OffsetCommit v1).
        # (key, version, flexible header): new versions are flexible, the
        # old ones below a minimum are not.
        probes = [(k, hi + 1, True) for k, (lo, hi) in table.items()
                  if k != 18]
        probes += [(k, lo - 1, False) for k, (lo, hi) in table.items()
                   if lo > 0]
        probes += [(0, v, False) for v in (0, 1, 2)]
        corr = 100
        for key, version, flexible in sorted(probes):
            corr += 1
            s = connect(b)
            if flexible:
                flexible_request(s, key, version, corr)
            else:
                ndtest.kafka_request(s, key, version, corr)
            got = ndtest.recv_frame(s)
            check(got is None, "API %d v%d: answered (%s), not closed"
                  % (key, version, got[:16].hex() if got else got))
            s.close()
        err = b.stderr()
        for name, version in (("OffsetCommit", 1), ("DescribeConfigs", 0),
                              ("Produce", 2), ("Heartbeat", 5)):
            check("%s v%d is not served" % (name, version) in err,
                  "no log line for %s v%d" % (name, version))
        check(b.alive(), "broker died")

        if bg is not None:
            time.sleep(0.5)
            bg.stop.set()
            bg.join(60)
            check(not bg.errors, "producer beside got errors: %s"
                  % bg.errors[:3])
            check(len(bg.delivered) == bg.sent,
                  "delivered %d of %d" % (len(bg.delivered), bg.sent))
            check(sorted(bg.delivered) == list(range(bg.sent)),
                  "offsets not dense")
        check(b.alive(), "broker died")
        # A clean stop, and nothing from the sanitizers when built with them.
        code = b.stop()
        check(code == 0, "nodata serve exited with %s" % code)
        check("Sanitizer" not in b.stderr() and "runtime error" not in b.stderr(),
              "sanitizer report:\n%s" % b.stderr()[-4000:])
    ndtest.passed()


main()
