"""test_connections.py — what `nodata serve` does against clients that hold
connections, memory or descriptors, with raw sockets (produces as
test_kafka_versions.py writes them):

- connections.max.idle.ms (NODATA_CONNECTIONS_MAX_IDLE_MS): an idle
  connection is closed; so is one trickling a 100 MB request, once the
  request has taken that long, although its bytes keep coming;
- ten connections each announcing a 100 MB request and sending 99 MB of
  it: the broker's memory stays well under the 1,000 MB announced
  (queued.max.request.bytes, default 256 MiB), and another client still
  produces meanwhile;
- sixteen clients that pipeline requests and never read the answers: the
  memory stays bounded the same way, and a fresh client is served;
- a descriptor limit of 256 (ulimit -n): connections beyond what it
  leaves wait in the backlog instead of taking the store's descriptors;
  produces on an existing connection succeed, and a waiting connection is
  served once another closes;
- max.connections.per.ip and max.connections.per.ip.overrides, set live
  with IncrementalAlterConfigs: the connection over an address's cap is
  closed at once, the others keep working.

No timing thresholds: memory is compared with what the clients announce,
and waits are bounded only to turn a hang into a failure.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

import test_kafka_versions as kv  # noqa: E402

MB = 1 << 20
check = kv.check
# ASan keeps freed memory in a quarantine (256 MB by default), which would
# read as the broker holding it.
ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
       ":quarantine_size_mb=8:thread_local_quarantine_size_kb=64"}


def connect(port, source="127.0.0.1", timeout=15):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def api_versions_ok(s, corr=7):
    try:
        ndtest.kafka_request(s, 18, 0, corr)
        r = ndtest.recv_frame(s, 120)
    except socket.timeout:
        return False
    return r is not None and struct.unpack(">i", r[:4])[0] == corr


def produce_one(c, topic):
    """Produce v3 of one record on kv.Conn c (a new topic is created);
    (ok, error code)."""
    err, _ = kv.produce_classic(c, 3, topic, kv.record_batch([b"v"]))
    return err == 0, err


def peak_rss(b, threads):
    """The broker's largest RSS (MiB) seen while threads run."""
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, b.rss_kb() >> 10)
        time.sleep(0.05)
    return max(peak, b.rss_kb() >> 10)


def idle_timeout():
    env = dict(ENV, NODATA_CONNECTIONS_MAX_IDLE_MS="1000")
    with ndtest.Broker(env=env) as b:
        idle = connect(b.port)
        check(api_versions_ok(idle), "ApiVersions on a fresh connection")
        trickle = connect(b.port)
        trickle.sendall(struct.pack(">ihh", 100 * MB, 18, 0))
        sent, shut = 0, False
        while sent < 600 and not shut:  # a minute at most
            time.sleep(0.1)
            try:
                trickle.sendall(b"x")
                sent += 1
                trickle.setblocking(False)
                try:
                    shut = trickle.recv(1) == b""
                except BlockingIOError:
                    pass
                finally:
                    trickle.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                shut = True
        check(shut, "a connection trickling a 100 MB request is still open "
              "after %d more bytes" % sent)
        check(ndtest.closed_by_peer(idle, 60),
              "an idle connection is still open")
        err = b.stderr()
        check("is not complete" in err, "no log line for the trickled "
              "request:\n" + err)
        # A connection with a request in hand is not idle.
        busy = connect(b.port)
        for i in range(3):
            check(api_versions_ok(busy, 100 + i), "a busy connection")
            time.sleep(0.5)
        ndtest.stop_clean(b)
    print("idle and trickling connections closed (%d bytes trickled)" % sent)


def trickled_big_requests():
    with ndtest.Broker(env=ENV) as b:
        c = kv.Conn(b.port)
        check(produce_one(c, "before")[0], "first produce")
        base = b.rss_kb() >> 10
        socks = []

        def trickler():
            s = connect(b.port, timeout=5)
            socks.append(s)
            chunk = b"x" * MB
            try:
                s.sendall(struct.pack(">ihh", 100 * MB, 18, 0))
                for _ in range(99):
                    s.sendall(chunk)
            except (socket.timeout, OSError):
                pass  # the broker stopped reading: back-pressure

        ts = [threading.Thread(target=trickler) for _ in range(10)]
        for t in ts:
            t.start()
        time.sleep(0.5)
        ok, why = produce_one(kv.Conn(b.port), "beside")
        peak = peak_rss(b, ts)
        print("ten connections inside 100 MB requests: broker RSS %d MiB at "
              "most (%d MiB before)" % (peak, base))
        check(ok, "a produce beside the trickling clients failed: %s" % why)
        check(peak - base < 600, "the broker grew by %d MiB for 1,000 MB "
              "announced and 990 MB sent" % (peak - base))
        for s in socks:
            s.close()
        ndtest.stop_clean(b)


def unread_responses():
    # Metadata v1 naming an invalid 249-character topic 4,000 times: a
    # 1 MB request whose answer (each name echoed with its error) is
    # about as big.
    name = b"!" * 249
    body = struct.pack(">i", 4000) + (struct.pack(">h", len(name)) +
                                      name) * 4000
    with ndtest.Broker(env=ENV) as b:
        base = b.rss_kb() >> 10
        socks = []

        def never_reads():
            s = connect(b.port, timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            socks.append(s)
            try:
                for i in range(100):
                    ndtest.kafka_request(s, 3, 1, i, body)
            except (socket.timeout, OSError):
                pass

        ts = [threading.Thread(target=never_reads) for _ in range(16)]
        for t in ts:
            t.start()
        peak = peak_rss(b, ts)
        print("16 clients that never read 100 answers of 1 MB: broker RSS "
              "%d MiB at most (%d MiB before)" % (peak, base))
        check(peak - base < 600, "the broker grew by %d MiB holding answers "
              "nobody reads" % (peak - base))
        fresh = connect(b.port)
        check(api_versions_ok(fresh), "a fresh client beside them")
        for s in socks + [fresh]:
            s.close()
        ndtest.stop_clean(b)


def descriptor_limit():
    with ndtest.Broker(env=ENV, nofile=256) as b:
        err = b.stderr()
        c = kv.Conn(b.port)
        check(produce_one(c, "first")[0], "first produce")
        pid = b.pid
        flood = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=30)
            flood.append(s)
        # The producer's connection is one of those accepted: it goes on,
        # and the store still has descriptors for new topics.
        got = [produce_one(c, t)[1] for t in ("second", "third")]
        check(got == [0, 0], "produces beside 300 connections under a "
              "descriptor limit of 256: errors %s" % got)
        # Without a cap the broker takes every descriptor for connections,
        # and only its pauses after EMFILE let a produce find one.
        fds = len(os.listdir("/proc/%d/fd" % pid))
        check(fds <= 192, "the broker holds %d of its 256 descriptors with "
              "300 clients; a quarter must stay for the store" % fds)
        err = b.stderr()
        check("64 connections open, the most allowed" in err,
              "no line about the connection cap:\n" + err)
        # The last one waits in the backlog until others close.
        last = flood[-1]
        ndtest.kafka_request(last, 18, 0, 9)
        for s in flood[:-1]:
            s.close()
        try:
            r = ndtest.recv_frame(last, 120)
        except socket.timeout:
            r = None
        check(r is not None and struct.unpack(">i", r[:4])[0] == 9,
              "a connection from the backlog was not served")
        last.close()
        ndtest.stop_clean(b)
    print("300 connections under ulimit -n 256: produces go on")


def per_ip_caps():
    with ndtest.Broker(env=ENV) as b:
        admin = kv.Conn(b.port)  # from 127.0.0.1, exempted below
        r = kv.incremental_alter(admin, 4, "0", [
            ("max.connections.per.ip", 0, "4"),
            ("max.connections.per.ip.overrides", 0,
             "127.0.0.1:1000,127.0.0.2:2")])
        check(r[0] == 0, "alter: %s" % (r,))
        d = kv.describe_configs(admin, "0", ["max.connections.per.ip"], 4)
        check(d["configs"][0]["value"] == "4", "describe: %s" % d)
        for src, cap in (("127.0.0.3", 4), ("127.0.0.2", 2)):
            ok = [connect(b.port, src) for _ in range(cap)]
            for s in ok:
                check(api_versions_ok(s), "connection from %s within its "
                      "cap of %d" % (src, cap))
            extra = connect(b.port, src)
            check(ndtest.closed_by_peer(extra, 60), "connection %d from %s "
                  "is open over a cap of %d" % (cap + 1, src, cap))
            for s in ok:
                check(api_versions_ok(s), "open connections from %s after "
                      "the refusal" % src)
            extra.close()
            for s in ok:
                s.close()
        check(produce_one(admin, "t")[0], "produce from 127.0.0.1")
        check("address already has the configured maximum of" in b.stderr(),
              "no log line for the refusal:\n" + b.stderr())
        # Kafka's refusals of bad values.
        for k, v, want in (
                ("max.connections.per.ip.overrides", "127.0.0.2:x",
                 'For input string: "x"'),
                ("max.connections", "0", "Invalid max.connections 0"),
                ("max.connections.per.ip", "-1", "Value must be at least 0")):
            r = kv.incremental_alter(admin, 4, "0", [(k, 0, v)])
            check(r[0] == 42 and want in (r[1] or ""),
                  "%s=%s: %s" % (k, v, r))
        admin.s.close()
        ndtest.stop_clean(b)
    print("per-address caps enforced as set live")


PARTS = [idle_timeout, per_ip_caps, descriptor_limit, trickled_big_requests,
         unread_responses]
# Parts can be run alone by name: test_connections.py per_ip_caps
for part in PARTS:
    if len(sys.argv) < 2 or part.__name__ in sys.argv[1:]:
        part()
ndtest.passed()
