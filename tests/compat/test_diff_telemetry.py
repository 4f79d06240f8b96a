"""test_diff_telemetry.py — KIP-714 client telemetry answered as Apache
Kafka 4.4 answers it with no client-metrics subscription configured.

1. The same requests on one connection to each broker, raw on the wire:
   ApiVersions (are GetTelemetrySubscriptions/PushTelemetry advertised?),
   then GetTelemetrySubscriptions and PushTelemetry in the orders that take
   each path of Kafka's ClientMetricsManager (a new instance, throttled
   asks and pushes, a wrong subscription id, a terminating push and what
   follows it, unknown compression, too large metrics, a zero or
   client-chosen instance id, an instance used from another connection and
   after its own closed). What each answer says is
   compared field by field; the random instance id is compared by shape
   (16 bytes, version 4, not zero) and the subscription id by Kafka's
   formula: crc32c("[]300000") ^ the id's Java hashCode.
2. A probing client: confluent-kafka from PyPI (librdkafka >= 2.5 pushes
   telemetry by default where a broker advertises it) produces and
   consumes through a proxy that counts requests by API key; it must send
   the same telemetry requests to both (none: Kafka does not advertise
   them, so clients do not probe).
"""
import json
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ndtest  # noqa: E402
import differential  # noqa: E402
import test_kafka_versions as kv  # noqa: E402

GET, PUSH = 71, 72


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def uuid_hash(u):
    """Kafka's Uuid.hashCode of 16 bytes."""
    ms, ls = struct.unpack(">qq", u)
    h = (ms ^ ls) & 0xFFFFFFFFFFFFFFFF
    return ((h >> 32) ^ h) & 0xFFFFFFFF


def formula_sub_id(u):
    v = (kv.crc32c(b"[]300000") ^ uuid_hash(u)) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


class Wire:
    """One connection; request header v2 (all of these are flexible)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.corr = 0

    def call(self, key, version, body, header_v0_response=False):
        self.corr += 1
        cid = b"telemetry-probe"
        msg = struct.pack(">hhih", key, version, self.corr, len(cid)) + cid
        msg += b"\0" + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        r = ndtest.recv_frame(self.s, 30)
        if r is None:
            return None
        rd = kv.Reader(r)
        if rd.i32() != self.corr:
            ndtest.fail("api %d: correlation id" % key)
        if not header_v0_response:
            rd.tags()
        return rd

    def close(self):
        self.s.close()


def api_versions(w):
    body = kv.cstr("telemetry-probe") + kv.cstr("1.0") + b"\0"
    rd = w.call(18, 3, body, header_v0_response=True)
    err = rd.i16()
    apis = rd.carray(lambda r: (r.i16(), r.i16(), r.i16(), r.tags()))
    keys = {a[0] for a in apis}
    return {"error": err, "advertises_71": GET in keys,
            "advertises_72": PUSH in keys}


def get_subs(w, instance, ids):
    rd = w.call(GET, 0, instance + b"\0")
    if rd is None:
        return "connection closed"
    out = {"throttle": rd.i32(), "error": rd.i16()}
    inst = rd.uuid()
    sub = rd.i32()
    out["compression"] = rd.carray(lambda r: r.i8())
    out["push_interval_ms"] = rd.i32()
    out["telemetry_max_bytes"] = rd.i32()
    out["delta_temporality"] = rd.i8()
    out["requested_metrics"] = rd.carray(lambda r: r.cstr())
    inst = bytes(inst)
    if inst == bytes(16):
        out["instance"] = "zero"
    elif inst == instance:
        out["instance"] = "as asked"
    else:
        out["instance"] = "new, version %d, variant %d" % (
            inst[6] >> 4, inst[8] >> 6)
    out["subscription_id"] = ("formula" if sub == formula_sub_id(inst)
                              else "0" if sub == 0 else "other")
    ids["last"] = (inst, sub)
    return out


def push(w, instance, sub, terminating=False, compression=0, metrics=b""):
    body = (instance + struct.pack(">ib", sub, 1 if terminating else 0) +
            struct.pack(">b", compression) + kv.cbytes(metrics) + b"\0")
    rd = w.call(PUSH, 0, body)
    if rd is None:
        return "connection closed"
    return {"throttle": rd.i32(), "error": rd.i16()}


def wire_scenario(bootstrap):
    port = int(bootstrap.rsplit(":", 1)[1])
    out = {}
    ids = {}
    w = Wire(port)
    out["api_versions"] = api_versions(w)
    out["get_new"] = get_subs(w, bytes(16), ids)
    x, s = ids["last"]
    out["get_again_at_once"] = get_subs(w, x, ids)
    out["push_after_get"] = push(w, x, s)
    out["push_again_at_once"] = push(w, x, s)
    out["push_terminating_wrong_sub"] = push(w, x, s + 1, terminating=True)
    out["get_after_unknown_sub"] = get_subs(w, x, ids)
    out["push_after_terminating"] = push(w, x, s)
    out["push_zero_instance"] = push(w, bytes(16), 0)
    # An instance id the client chose.
    y = bytes.fromhex("5f3c0c1f9d2a4b7e8c1d2e3f40516273")
    out["get_chosen_instance"] = get_subs(w, y, ids)
    _, sy = ids["last"]
    out["push_unknown_compression"] = push(w, y, sy, compression=9)
    out["push_too_large"] = push(w, y, sy, terminating=True,
                                 metrics=b"m" * (1048576 + 1))
    # Another connection meets the first one's instance...
    w2 = Wire(port)
    out["other_connection_get"] = get_subs(w2, x, ids)
    # ...which outlives the connection that made it (Kafka without an
    # exporter plugin keeps it: the push is throttled).
    w.close()
    time.sleep(1)
    w3 = Wire(port)
    out["after_close_push_with_metrics"] = push(w3, x, s, compression=0,
                                                metrics=b"\x0a\x00")
    out["after_close_get"] = get_subs(w3, x, ids)
    w2.close()
    w3.close()
    return out


class CountingProxy:
    """A TCP proxy on 127.0.0.1 counting client requests by API key."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.target = None
        self.counts = {}
        self.lock = threading.Lock()
        self.socks = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=30)
            except OSError:
                c.close()
                continue
            self.socks += [c, u]
            for a, b, tap in ((c, u, self._count), (u, c, None)):
                threading.Thread(target=self._pump, args=(a, b, tap),
                                 daemon=True).start()

    def _count(self, buf):
        """Count the whole requests at the start of buf; return the rest."""
        while len(buf) >= 6:
            n = struct.unpack(">i", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            key = struct.unpack(">h", buf[4:6])[0]
            with self.lock:
                self.counts[key] = self.counts.get(key, 0) + 1
            buf = buf[4 + n:]
        return buf

    @staticmethod
    def _pump(a, b, tap):
        buf = b""
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if tap:
                    buf = tap(buf + d)
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopped = True
        self.ls.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def client_main(bootstrap):
    """Run in the PyPI venv: produce and consume with telemetry left at
    librdkafka's default (enable.metrics.push=true)."""
    import confluent_kafka as ck
    p = ck.Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        p.produce("telemetry-t", value=b"v%d" % i)
    left = p.flush(60)
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "tg",
                     "auto.offset.reset": "earliest"})
    c.subscribe(["telemetry-t"])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 5 and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    print(json.dumps({"unflushed": left, "consumed": sorted(got),
                      "librdkafka": ck.libversion()[0]}))


def client_scenario(proxy, bootstrap):
    import pyvenv
    proxy.target = ("127.0.0.1", int(bootstrap.rsplit(":", 1)[1]))
    with proxy.lock:
        proxy.counts.clear()
    res = differential.run_program(
        [pyvenv.python(), os.path.abspath(__file__), "--client"],
        "127.0.0.1:%d" % proxy.port)
    with proxy.lock:
        counts = dict(proxy.counts)
    res["requests_71"] = counts.get(GET, 0)
    res["requests_72"] = counts.get(PUSH, 0)
    res["asked_api_versions"] = counts.get(18, 0) > 0
    return res


def main():
    start = time.monotonic()
    pk, pn = CountingProxy(), CountingProxy()
    try:
        def scenario(bootstrap, broker):
            proxy = pn if isinstance(broker, ndtest.Broker) else pk
            return {"wire": wire_scenario(bootstrap),
                    "client": client_scenario(proxy, bootstrap)}

        want, got = differential.run_both(
            scenario, with_broker=True,
            nodata_args=["--advertise", "127.0.0.1:%d" % pn.port],
            kafka_props=["advertised.listeners=PLAINTEXT://127.0.0.1:%d"
                         % pk.port])
    finally:
        pk.close()
        pn.close()
    # The scenario must have met Kafka's answers it is about.
    w = want["wire"]
    check(w["get_new"]["error"] == 0 and
                 w["get_new"]["push_interval_ms"] == 300000,
                 "Kafka's first GetTelemetrySubscriptions: %r" % w["get_new"])
    check(want["client"]["consumed"] == ["v%d" % i for i in range(5)],
                 "the client consumed from Kafka: %r" % want["client"])
    differential.compare(want, got, what="telemetry")
    print("telemetry: %d answers and a probing client compared (%.0f s)"
          % (len(w), time.monotonic() - start))
    ndtest.passed()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
    else:
        main()
