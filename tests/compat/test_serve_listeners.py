"""test_serve_listeners.py — several listeners at once (`listeners`,
`advertised.listeners`, `listener.security.protocol.map` in --config),
compared with Apache Kafka given the same three listeners:

- Metadata, DescribeCluster and FindCoordinator answer, on each listener,
  with that listener's advertised address: its own bound address when
  advertised.listeners does not name it, the advertised one when it does
  (EXTERNAL, advertised as ext.example:19092, an address no client here
  reaches);
- both client listeners serve clients: records produced through one are
  consumed through the other, with a consumer group (its coordinator is
  found through the consumer's listener);
- nodata prints one start-up line per further listener, and advertises a
  port-0 listener's bound port.
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402

import differential  # noqa: E402
import test_kafka_versions as kv  # noqa: E402
from apache_kafka import ApacheKafka  # noqa: E402

TAGS = kv.TAGS
EXTERNAL_ADV = "ext.example:19092"


def metadata_brokers(c):
    """Metadata v12 (no topics): [(host, port)] of its brokers."""
    rd = c.call(3, 12, b"\x01" + b"\x00\x00" + TAGS)  # empty topic list
    rd.i32()
    return [(b[1], b[2]) for b in rd.carray(
        lambda r: (r.i32(), r.cstr(), r.i32(), r.cstr(), r.tags()))]


def find_coordinator(c, group):
    """FindCoordinator v4 of one group: (error, host, port), asked again
    while Kafka is still creating its offsets topic."""
    for _ in range(100):
        rd = c.call(10, 4, b"\x00" + kv.carray([kv.cstr(group)]) + TAGS)
        rd.i32()
        co = rd.carray(lambda r: (r.cstr(), r.i32(), r.cstr(), r.i32(),
                                  r.i16(), r.cstr(), r.tags()))[0]
        if co[4] != 15:  # COORDINATOR_NOT_AVAILABLE
            return co[4], co[2], co[3]
        time.sleep(0.2)
    return co[4], co[2], co[3]


def endpoints(ports):
    """What each listener answers, its own address written SELF (the
    ports differ between the brokers)."""
    out = {}
    for name, port in sorted(ports.items()):
        c = kv.Conn(port)
        own = ("127.0.0.1", port)

        def norm(hp):
            return "SELF" if tuple(hp) == own else "%s:%d" % tuple(hp)
        err, etype, cluster, controller, brokers = kv.describe_cluster(c)
        fc = find_coordinator(c, "listeners-group")
        out[name] = {
            "metadata": [norm(b) for b in metadata_brokers(c)],
            "describe_cluster": [err] + [norm(b[1:3]) for b in brokers],
            "find_coordinator": [fc[0], norm(fc[1:])],
        }
        c.s.close()
    return out


def clients(ports):
    """Produce through PLAINTEXT, consume in a group through CLIENTS."""
    topic = "listeners-topic"
    p = Producer({"bootstrap.servers": "127.0.0.1:%d" % ports["PLAINTEXT"]})
    for i in range(5):
        p.produce(topic, value=b"v%d" % i)
    left = p.flush(30)
    if left:
        ndtest.fail("produce through PLAINTEXT: %d not delivered" % left)
    c = Consumer({"bootstrap.servers": "127.0.0.1:%d" % ports["CLIENTS"],
                  "group.id": "listeners-clients",
                  "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 5 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.commit(asynchronous=False)
    c.close()
    return got


def scenario(ports):
    return {"endpoints": endpoints(ports), "clients": clients(ports)}


def main():
    tmp = tempfile.mkdtemp(prefix="nd-listeners-")
    kafka = ApacheKafka(wait=False, extra_listeners=[
        ("CLIENTS", None), ("EXTERNAL", EXTERNAL_ADV)])
    try:
        conf = os.path.join(tmp, "server.properties")
        with open(conf, "w") as f:
            f.write("listeners=PLAINTEXT://127.0.0.1:0,"
                    "CLIENTS://127.0.0.1:0, EXTERNAL://127.0.0.1:0\n"
                    "advertised.listeners=EXTERNAL://%s\n"
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                    "CLIENTS:PLAINTEXT,EXTERNAL:PLAINTEXT\n" % EXTERNAL_ADV)
        with ndtest.Broker(listen=False, args=differential.NODATA_ARGS + [
                "--config", conf]) as b:
            out = b.stdout()
            ports = {"PLAINTEXT": b.port}
            for name in ("CLIENTS", "EXTERNAL"):
                m = re.search(r"nodata serve: listener %s \(PLAINTEXT\) on "
                              r"127\.0\.0\.1:(\d+)(, advertised as (\S+))?\n"
                              % name, out)
                if not m:
                    ndtest.fail("no start-up line for listener %s:\n%s"
                                % (name, out))
                ports[name] = int(m.group(1))
                want_adv = EXTERNAL_ADV if name == "EXTERNAL" else None
                if m.group(3) != want_adv:
                    ndtest.fail("listener %s advertised as %r, want %r"
                                % (name, m.group(3), want_adv))
            if len(set(ports.values())) != 3 or 0 in ports.values():
                ndtest.fail("listeners' ports: %s" % ports)
            got = scenario(ports)
            ndtest.stop_clean(b)
        kafka.wait()
        kports = dict(kafka.listener_ports,
                      PLAINTEXT=int(kafka.bootstrap.rsplit(":", 1)[1]))
        want = scenario(kports)
    finally:
        kafka.close()
        shutil.rmtree(tmp, ignore_errors=True)
    # The test's own sanity, apart from the comparison: what it compares
    # must show the per-listener answer.
    ext = got["endpoints"]["EXTERNAL"]
    if ext["metadata"] != [EXTERNAL_ADV] or \
            got["endpoints"]["CLIENTS"]["metadata"] != ["SELF"]:
        ndtest.fail("nodata's endpoints: %s" % got["endpoints"])
    if got["clients"] != ["v%d" % i for i in range(5)]:
        ndtest.fail("consumed through CLIENTS: %s" % got["clients"])
    differential.compare(want, got, what="three listeners")
    ndtest.passed()


if __name__ == "__main__":
    main()
