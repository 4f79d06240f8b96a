#!/usr/bin/env python3
"""tls-cost.py — what TLS costs nodata and what it costs Apache Kafka, in one
run (issue 21: "throughput and p99 over TLS vs plaintext, nodata vs Apache
Kafka; target: TLS costs nodata no more than it costs Kafka, relative to
each one's plaintext figure").

Both brokers are started here on free 127.0.0.1 ports with scratch
directories, each with a PLAINTEXT and an SSL listener (the same server
certificate, made by tests/compat/seclib.py with the openssl CLI: RSA 2048,
PEM keystore), and stopped at the end: `nodata serve --config FILE` (this
build tree's) and Apache Kafka 4.4 (tests/compat/apache_kafka.py). The
client is librdkafka through Debian's python3-confluent-kafka, in this
process, the same for both. Per broker and listener, each round:

  produce   --count records of --size bytes (incompressible) into a new
            1-partition topic, acks=1, linger.ms=5, as fast as the client
            goes: records/s and MB/s from the first produce call to the
            last delivery report (the connection is opened first by one
            untimed record);
  consume   the same records read back by a consumer assigned to the
            partition from offset 0: records/s and MB/s from the assignment
            to the last record (the connection is opened before, untimed,
            by a Metadata request);
  latency   --lat-count records at --rate records/s, linger.ms=0,
            acks=all, Nagle off: p50 and p99 of produce->delivery report,
            in ms;
  cpu       the broker's CPU seconds (user + system) over produce and
            consume.

Rounds are interleaved and the order of brokers and listeners rotated each
round, so a noisy neighbour hurts all alike; the median per figure is
printed, then each broker's TLS figure relative to its own plaintext one,
and nodata's relative cost against Kafka's. 1 MB = 10^6 bytes.

    /usr/bin/python3 bench/broker/tls-cost.py [--quick] [--rounds N]
        [--count N] [--size B] [--lat-count N] [--rate R] [--nodata PATH]
        [--dir DIR]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "compat"))
import ndtest  # noqa: E402
import seclib  # noqa: E402

import confluent_kafka as ck  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PROTOS = ("PLAINTEXT", "SSL")
BROKERS = ("nodata", "kafka")


def log(msg):
    print(msg, flush=True)


def cpu_s(pid):
    """User + system CPU seconds a process has used so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def client_conf(bootstrap, proto, pki):
    c = {"bootstrap.servers": bootstrap}
    if proto == "SSL":
        c.update({"security.protocol": "SSL", "ssl.ca.location": pki.ca()})
    return c


def produce(conf, topic, count, payload):
    done = [0]
    errs = []

    def report(err, _msg):
        if err:
            errs.append(err)
        done[0] += 1

    p = ck.Producer(dict(conf, **{"acks": "1", "linger.ms": 5,
                                  "queue.buffering.max.messages": 1000000,
                                  "queue.buffering.max.kbytes": 1048576}))
    p.produce(topic, payload, partition=0, on_delivery=report)
    p.flush(60)  # the connection, untimed
    if errs or done[0] != 1:
        ndtest.fail("produce to %s: the first record was not delivered: %s"
                    % (topic, errs))
    done[0] = 0
    t0 = time.monotonic()
    for _ in range(count):
        while True:
            try:
                p.produce(topic, payload, partition=0, on_delivery=report)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    p.flush(600)
    dt = time.monotonic() - t0
    if errs or done[0] != count:
        ndtest.fail("produce to %s: %d of %d delivered, errors %s"
                    % (topic, done[0], count, errs[:3]))
    return dt


def consume(conf, topic, want):
    c = ck.Consumer(dict(conf, **{"group.id": "tls-cost",
                                  "enable.auto.commit": False,
                                  "fetch.max.bytes": 52428800}))
    # The connection (and TLS handshake), untimed: a Metadata request goes
    # over the connection the fetches will use (one broker).
    c.list_topics(topic, timeout=60)
    t0 = time.monotonic()
    c.assign([ck.TopicPartition(topic, 0, 0)])
    got, deadline = 0, t0 + 600
    while got < want and time.monotonic() < deadline:
        for m in c.consume(min(10000, want - got), 1.0):
            if m.error():
                ndtest.fail("consume %s: %s" % (topic, m.error()))
            got += 1
    dt = time.monotonic() - t0
    c.close()
    if got < want:
        ndtest.fail("consume %s: %d of %d records" % (topic, got, want))
    return dt


def latency(conf, topic, count, rate, payload):
    lat = []
    # Nagle off, as nodata-broker-bench's latency case: one record per
    # request would otherwise wait for the broker's delayed ACK.
    p = ck.Producer(dict(conf, **{"acks": "all", "linger.ms": 0,
                                  "socket.nagle.disable": True}))
    p.produce(topic, payload, partition=0)
    p.flush(60)
    t0 = time.monotonic()
    for i in range(count):
        due = t0 + i / rate
        while True:
            now = time.monotonic()
            if now >= due:
                break
            p.poll(min(due - now, 0.001))
        sent = time.monotonic()
        p.produce(topic, payload, partition=0,
                  on_delivery=lambda err, _m, s=sent: lat.append(
                      None if err else time.monotonic() - s))
        p.poll(0)
    p.flush(120)
    if len(lat) != count or None in lat:
        ndtest.fail("latency run on %s: %d of %d delivered"
                    % (topic, len([x for x in lat if x is not None]), count))
    lat.sort()
    return (lat[len(lat) // 2] * 1000,
            lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000)


def create_topic(admin_bootstrap, topic):
    a = AdminClient({"bootstrap.servers": admin_bootstrap})
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(60)


def one_round(name, broker, proto, a, pki, rnd, payload):
    conf = client_conf(broker.listener[proto], proto, pki)
    topic = "tls-%s-%d" % (proto.lower(), rnd)
    create_topic(broker.bootstrap, topic)
    cpu0 = cpu_s(broker.pid)
    dp = produce(conf, topic, a.count, payload)
    dc = consume(conf, topic, a.count + 1)
    cpu = cpu_s(broker.pid) - cpu0
    ltopic = topic + "-lat"
    create_topic(broker.bootstrap, ltopic)
    p50, p99 = latency(conf, ltopic, a.lat_count, a.rate, payload)
    mb = a.count * a.size / 1e6
    r = {"prod_eps": a.count / dp, "prod_mbs": mb / dp,
         "cons_eps": a.count / dc, "cons_mbs": mb / dc,
         "p50": p50, "p99": p99, "cpu": cpu}
    log("  round %d %-6s %-9s produce %9.0f rec/s %7.1f MB/s  consume "
        "%9.0f rec/s %7.1f MB/s  p50 %6.2f ms  p99 %6.2f ms  cpu %5.2f s"
        % (rnd, name, proto, r["prod_eps"], r["prod_mbs"], r["cons_eps"],
           r["cons_mbs"], p50, p99, cpu))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, 1 round: does it run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--lat-count", type=int, default=3000)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--nodata", default=None)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.count, a.lat_count = 1, 5000, 300
    build = os.environ.get("NODATA_BUILD",
                           os.path.join(HERE, "..", "..", "build"))
    os.environ["NODATA_BIN"] = os.path.abspath(
        a.nodata or os.path.join(build, "cli", "nodata"))
    root = tempfile.mkdtemp(prefix="nd-tls-cost-", dir=a.dir)
    tempfile.tempdir = root  # the brokers' scratch dirs go in it too
    brokers = {}
    try:
        pki = seclib.Pki(os.path.join(root, "pki"))
        ssl_only = {"SSL": "SSL"}
        # Kafka's JVM boots while nodata starts.
        brokers["kafka"] = seclib.kafka(pki, wait=False, listeners=ssl_only)
        nodata_ssl = True
        try:
            brokers["nodata"] = seclib.nodata(pki, listeners=ssl_only)
        except ndtest.BrokerError as e:
            log("nodata serve did not start with an SSL listener, so its SSL "
                "figures are not measured:\n  %s"
                % str(e).strip().splitlines()[-1])
            nodata_ssl = False
            b = ndtest.Broker()
            b.listener = {"PLAINTEXT": b.bootstrap}
            brokers["nodata"] = b
        brokers["kafka"].wait()
        payload = os.urandom(a.size)
        log("tls-cost: %d rounds; produce/consume %d records of %d B; "
            "latency %d records at %.0f/s; librdkafka %s"
            % (a.rounds, a.count, a.size, a.lat_count, a.rate,
               ck.libversion()[0]))
        res = {(n, p): [] for n in BROKERS for p in PROTOS}
        for rnd in range(a.rounds):
            names = BROKERS if rnd % 2 == 0 else BROKERS[::-1]
            protos = PROTOS if (rnd // 2) % 2 == 0 else PROTOS[::-1]
            for n in names:
                for p in protos:
                    if n == "nodata" and p == "SSL" and not nodata_ssl:
                        continue
                    res[(n, p)].append(one_round(n, brokers[n], p, a, pki,
                                                 rnd, payload))
        report(res, a)
    finally:
        for b in brokers.values():
            b.close()
        shutil.rmtree(root, ignore_errors=True)


FIGS = [("prod_eps", "produce rec/s", True),
        ("prod_mbs", "produce MB/s", True),
        ("cons_eps", "consume rec/s", True),
        ("cons_mbs", "consume MB/s", True),
        ("p50", "p50 ms", False), ("p99", "p99 ms", False),
        ("cpu", "broker CPU s", False)]


def report(res, a):
    med = {k: {f: statistics.median(r[f] for r in v) for f, _, _ in FIGS}
           for k, v in res.items() if v}
    log("\nmedians of %d round(s):" % a.rounds)
    log("%-7s %-9s " % ("broker", "listener") +
        " ".join("%14s" % t for _, t, _ in FIGS))
    for k in sorted(med):
        log("%-7s %-9s " % k + " ".join("%14.2f" % med[k][f]
                                        for f, _, _ in FIGS))
    log("\nTLS figure / plaintext figure (throughput: below 1 is a cost; "
        "latency and CPU: above 1 is a cost):")
    rel = {}
    for n in BROKERS:
        if (n, "SSL") in med and (n, "PLAINTEXT") in med:
            rel[n] = {f: med[(n, "SSL")][f] / med[(n, "PLAINTEXT")][f]
                      if med[(n, "PLAINTEXT")][f] else float("nan")
                      for f, _, _ in FIGS}
            log("  %-7s " % n + "  ".join("%s x%.3f" % (t, rel[n][f])
                                           for f, t, _ in FIGS))
        else:
            log("  %-7s not measured (no SSL figures)" % n)
    if len(rel) < 2:
        log("\nnodata's TLS cost against Kafka's: not measured")
        return
    log("\nnodata's TLS cost against Kafka's (cost = what TLS takes off "
        "throughput, or adds to latency and CPU; ratio = nodata's cost / "
        "Kafka's; target <= 1):")
    for f, t, higher_better in FIGS:
        cn = (1 - rel["nodata"][f]) if higher_better else rel["nodata"][f] - 1
        ckf = (1 - rel["kafka"][f]) if higher_better else rel["kafka"][f] - 1
        if ckf > 0:
            verdict = "ratio %.2f: %s" % (cn / ckf, "met" if cn <= ckf
                                          else "missed")
        else:
            verdict = "Kafka shows no cost: %s" % ("met" if cn <= 0.02
                                                   else "missed")
        log("  %-14s nodata %+6.1f%%  kafka %+6.1f%%  %s"
            % (t, 100 * cn, 100 * ckf, verdict))


if __name__ == "__main__":
    main()
