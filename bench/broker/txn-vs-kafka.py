#!/usr/bin/env python3
"""txn-vs-kafka.py — transactions on nodata serve against Apache Kafka 4.4
on this machine, in one run, with the same client (issue 19's benchmark).

Both brokers are started here on free 127.0.0.1 ports with scratch
directories and stopped at the end: `nodata serve` (this build tree's) and
Apache Kafka 4.4 in KRaft mode, single node, as the tests start it
(tests/compat/apache_kafka.py, JVM -Xmx512m, G1). The client is Kafka's
own Java producer and consumer (kafka-clients 4.4, TxnBench.java beside
this file, compiled here against the same jars): it is the reference
implementation of both transaction protocols and picks Transactions V2
(KIP-890) by itself when the broker's ApiVersions finalizes
transaction.version 2, as Kafka 4.4 does, and V1 otherwise; the version
each run used is printed.

For each durability (--durability, both by default), with its own Kafka:

1. produce: for each transaction size B (--sizes, 1, 10 and 100 batches)
   a fresh topic of B + P - 1 partitions; P producer threads (--producers,
   1), each with its own transactional.id, run transactions back to back
   for --seconds (after 3 that are not counted): R records (--records, 10) of
   --bytes (100) to each of B partitions (one batch each: batch.size is
   large and the records of a partition are sent within the client's
   linger.ms of 5 ms; the producer's batch-size-avg is printed to show
   it), flush(), commitTransaction(). Figures: committed
   transactions/s, records/s, MB/s (10^6 B of payload), p50/p99 of
   commitTransaction() alone and of the whole transaction.
2. read_committed consume: a topic of 10 partitions filled by 4 producers
   with --fill-txns transactions each of 10 batches of 100 records of
   --bytes, every 10th aborted; a consumer (no group) reads it from the
   start with isolation.level=read_committed until it has every committed
   record, then one with read_uncommitted until it has all of them.
   Figures: records/s, MB/s, from its first poll to its last record.

Durability:
- default: each broker's default. Kafka flushes nothing (the page cache;
  log.flush.interval.messages unbounded for the data, the
  __transaction_state log and the markers alike). nodata: the topic's
  default fsync=interval=1000, but acks=all (which a transactional producer
  must use) is answered only once the batch is fdatasync'd
  (docs/protocol.md, "Durability of Produce"), and the coordinator
  fdatasyncs every transaction state change and the partitions' markers
  before EndTxn answers (the team's design for issue 19: each state change
  fdatasync'd, markers and the transaction's partitions synced). Not the
  same durability: nodata does an fdatasync per Produce and several per
  commit.
- durable: both fdatasync before answering. Kafka with
  log.flush.interval.messages=1 (broker-wide: every append to every log —
  the data, the markers, __transaction_state — is flushed before the
  request completes); nodata with fsync=always on the topic.
- never (not run unless asked): Kafka's default against nodata with
  fsync=never on the topic (the data and acks=all from the page cache;
  what nodata's coordinator still syncs, it syncs).

    /usr/bin/python3 bench/broker/txn-vs-kafka.py [--durability LIST]
        [--sizes 1,10,100] [--producers P] [--seconds S] [--records R]
        [--bytes N] [--fill-txns N] [--only nodata|kafka] [--nodata PATH]
        [--dir DIR]

See README.md beside this file ("Transactions against Apache Kafka").
Not a test: nothing here passes or fails on timings.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "compat"))
import apache_kafka  # noqa: E402

PROGRAM = os.path.join(HERE, "TxnBench.java")
BROKERS = ("nodata", "kafka")
# Per durability: Kafka's broker properties, nodata's topic config.
KAFKA_PROPS = {"default": [], "durable": ["log.flush.interval.messages=1"],
               "never": []}
ND_TOPIC_CFG = {"default": {}, "durable": {"fsync": "always"},
                "never": {"fsync": "never"}}
FILL = {"partitions": 10, "producers": 4, "batches": 10, "records": 100,
        "abort_every": 10}


def log(msg):
    print(msg, flush=True)


class Bench:
    def __init__(self, a):
        self.a = a
        self.root = tempfile.mkdtemp(prefix="nd-txn-vs-kafka-",
                                     dir=a.dir or None)
        self.nd = None
        self.kafka = None
        self.res = {}  # (durability, row) -> {broker: value}
        self.ntopic = 0

    # -- the client ---------------------------------------------------------

    def compile(self):
        self.cp = apache_kafka.classpath()
        out = os.path.join(self.root, "classes")
        os.makedirs(out)
        r = subprocess.run(["javac", "-nowarn", "-cp", self.cp, "-d", out,
                            PROGRAM], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("javac TxnBench.java failed:\n" + r.stderr)
        self.cp = out + os.pathsep + self.cp

    def client(self, *args):
        """Run TxnBench; its "name value" lines as a dict."""
        cmd = ["java", "-Xmx512m", "-XX:+UseG1GC",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp",
               self.cp, "TxnBench"] + [str(x) for x in args]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=self.a.seconds + 900)
        out = {}
        for line in r.stdout.splitlines():
            w = line.split(None, 1)
            if len(w) == 2:
                out.setdefault(w[0], w[1])
        if r.returncode != 0 or "error" in out:
            raise SystemExit("TxnBench %s failed (%d):\n%s\n%s"
                             % (" ".join(map(str, args[:3])), r.returncode,
                                r.stdout[-4000:], r.stderr[-2000:]))
        return out

    # -- the brokers --------------------------------------------------------

    def start_nodata(self):
        # The tests' broker helper: a free port, a scratch data directory,
        # the process dies with this one.
        os.environ["NODATA_BIN"] = os.path.abspath(self.a.nodata)
        self.nd = apache_kafka.ndtest.Broker(args=self.a.nodata_args)
        self.bootstrap["nodata"] = self.nd.bootstrap

    def stop_kafka(self):
        if self.kafka is not None:
            self.kafka.close()
            self.kafka = None

    def stop(self):
        if self.nd is not None:
            self.nd.close()
        self.stop_kafka()
        shutil.rmtree(self.root, ignore_errors=True)

    def topic(self, b, dur, parts):
        from confluent_kafka.admin import AdminClient, NewTopic
        self.ntopic += 1
        name = "txn-%s-%d" % (dur, self.ntopic)
        cfg = ND_TOPIC_CFG[dur] if b == "nodata" else {}
        admin = AdminClient({"bootstrap.servers": self.bootstrap[b]})
        for f in admin.create_topics([NewTopic(name, parts, 1,
                                               config=cfg)]).values():
            f.result(60)
        return name

    # -- the cases ----------------------------------------------------------

    def note(self, dur, row, b, v):
        self.res.setdefault((dur, row), {})[b] = v

    def produce(self, dur, b, size):
        a = self.a
        t = self.topic(b, dur, size + a.producers - 1)
        r = self.client("produce", self.bootstrap[b], t, size, a.records,
                        a.bytes, "%ds" % a.seconds, a.producers,
                        "%s-%s" % (t, b), 0, *a.client_args)
        s = float(r["seconds"])
        txns = int(r["txns"])
        row = "%d batch%s" % (size, "" if size == 1 else "es")
        self.note(dur, row + ": committed txns/s", b, txns / s)
        self.note(dur, row + ": records/s", b, int(r["records"]) / s)
        self.note(dur, row + ": MB/s", b, int(r["bytes"]) / s / 1e6)
        for k in ("commit_p50_ms", "commit_p99_ms", "txn_p50_ms",
                  "txn_p99_ms"):
            self.note(dur, row + ": " + k.replace("_ms", " ms").replace(
                "_", " "), b, float(r[k]))
        self.note(dur, "transaction protocol version", b, r["version"])
        self.note(dur, row + ": batch bytes (avg)", b,
                  float(r["batch_bytes_avg"]))
        log("  %s %s: %d txns in %.1f s, %.0f txns/s, commit p50 %.2f ms, "
            "p99 %.2f ms, txn p50 %.2f ms (V%s)"
            % (b, row, txns, s, txns / s, float(r["commit_p50_ms"]),
               float(r["commit_p99_ms"]), float(r["txn_p50_ms"]),
               r["version"]))

    def consume(self, dur, b):
        a = self.a
        f = FILL
        t = self.topic(b, dur, f["partitions"])
        r = self.client("produce", self.bootstrap[b], t, f["batches"],
                        f["records"], a.bytes, a.fill_txns, f["producers"],
                        "%s-%s" % (t, b), f["abort_every"])
        committed = int(r["records"])
        total = committed + int(r["aborted"]) * f["batches"] * f["records"]
        log("  %s: filled %s: %d records committed, %d in all, %.1f s"
            % (b, t, committed, total, float(r["seconds"])))
        for iso, want in (("read_committed", committed),
                          ("read_uncommitted", total)):
            c = self.client("consume", self.bootstrap[b], t,
                            f["partitions"], want, iso)
            s = float(c["seconds"])
            self.note(dur, "consume %s: records/s" % iso, b,
                      int(c["records"]) / s)
            self.note(dur, "consume %s: MB/s" % iso, b,
                      int(c["bytes"]) / s / 1e6)
            log("  %s %s: %d records in %.2f s" % (b, iso,
                                                  int(c["records"]), s))

    def run(self):
        a = self.a
        self.compile()
        self.bootstrap = {}
        brokers = [b for b in BROKERS if a.only in (None, b)]
        if "nodata" in brokers:
            self.start_nodata()
        for i, dur in enumerate(a.durability):
            if "kafka" in brokers:
                self.kafka = apache_kafka.ApacheKafka(
                    extra_props=KAFKA_PROPS[dur])
                self.bootstrap["kafka"] = self.kafka.bootstrap
            log("%s:" % dur)
            order = brokers if i % 2 == 0 else brokers[::-1]
            for j, size in enumerate(a.sizes):
                for b in (order if j % 2 == 0 else order[::-1]):
                    self.produce(dur, b, size)
            if a.fill_txns > 0:
                for b in order:
                    self.consume(dur, b)
            self.stop_kafka()

    def report(self):
        log("")
        log("| durability | figure | nodata | Kafka | nodata / Kafka |")
        log("|---|---|---:|---:|---:|")
        for (dur, row), v in self.res.items():
            n, k = v.get("nodata"), v.get("kafka")
            ratio = ("%.2f×" % (n / k) if isinstance(n, float) and
                     isinstance(k, float) and k else "")
            log("| %s | %s | %s | %s | %s |" % (dur, row, fmt(n), fmt(k),
                                                ratio))


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, float):
        if v != v:
            return "n/a"
        if abs(v) >= 1000:
            return "{:,.0f}".format(v)
        return "%.3f" % v if abs(v) < 10 else "%.1f" % v
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--durability", default="default,durable",
                    help="comma-separated: default, durable, never "
                    "(default: default,durable)")
    ap.add_argument("--sizes", default="1,10,100",
                    help="batches per transaction (default 1,10,100)")
    ap.add_argument("--producers", type=int, default=1,
                    help="concurrent transactional producers (default 1)")
    ap.add_argument("--seconds", type=int, default=10,
                    help="measured seconds per size (default 10)")
    ap.add_argument("--records", type=int, default=10,
                    help="records per batch (default 10)")
    ap.add_argument("--bytes", type=int, default=100,
                    help="bytes per record value (default 100)")
    ap.add_argument("--fill-txns", type=int, default=500,
                    help="transactions per producer filling the consume "
                    "topic (default 500; 0: no consume case)")
    default_build = os.environ.get("NODATA_BUILD") or os.path.join(
        HERE, "..", "..", "build")
    ap.add_argument("--nodata", default=os.path.join(default_build, "cli",
                                                     "nodata"))
    ap.add_argument("--client-arg", dest="client_args", action="append",
                    default=[], metavar="NAME=VALUE",
                    help="one more producer config of the produce case "
                    "(repeat it)")
    ap.add_argument("--nodata-arg", dest="nodata_args", action="append",
                    default=[], help="one more argument to nodata serve "
                    "(repeat it)")
    ap.add_argument("--dir", help="where the scratch directory goes")
    ap.add_argument("--only", choices=BROKERS,
                    help="measure one broker only (no ratios)")
    a = ap.parse_args()
    a.durability = [d for d in a.durability.split(",") if d]
    for d in a.durability:
        if d not in KAFKA_PROPS:
            ap.error("unknown durability %r" % d)
    a.sizes = [int(x) for x in a.sizes.split(",") if x]
    log("txn-vs-kafka: transactions of %s batches x %d records x %d B, "
        "%d producer(s), %d s each; consume: %d x %d txns of %d x %d "
        "records, 1 in %d aborted; durability %s"
        % (",".join(map(str, a.sizes)), a.records, a.bytes, a.producers,
           a.seconds, FILL["producers"], a.fill_txns, FILL["batches"],
           FILL["records"], FILL["abort_every"], ",".join(a.durability)))
    signal.signal(signal.SIGTERM, lambda *x: sys.exit(1))
    t = time.monotonic()
    b = Bench(a)
    try:
        b.run()
        b.report()
    finally:
        b.stop()
    log("took %.0f s" % (time.monotonic() - t))


if __name__ == "__main__":
    main()
