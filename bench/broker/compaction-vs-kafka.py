#!/usr/bin/env python3
"""compaction-vs-kafka.py — nodata's log cleaner against Apache Kafka 4.4's
on this machine, in one run, on the same workload (issue 18's benchmark).

Both brokers are started here on free 127.0.0.1 ports with scratch
directories and stopped at the end: `nodata serve` (this build tree's) and
Apache Kafka 4.4 in KRaft mode, single node, as the tests start it
(tests/compat/apache_kafka.py, JVM -Xmx512m, G1), from the jars of
bench/broker/kafka-log/pom.xml (Kafka plus a logging backend, so that its
cleaner prints its statistics). Each broker in turn, the other idle:

1. a topic of one partition, cleanup.policy=delete (nothing cleans yet),
   retention.ms=-1, segment.bytes = a sixteenth of the data (>= 1 MiB);
2. KEYS distinct keys x UPDATES updates, round-robin (every key once, then
   every key again, ...), ~RECORD-BYTES bytes a record on disk, produced
   with confluent-kafka (librdkafka), acks=1;
3. a steady producer starts on another topic: RATE msgs/s of 100 B,
   acks=all, one message at a time (linger.ms=0), each message's latency
   measured by librdkafka (Message.latency());
4. after IDLE seconds, the topic becomes cleanup.policy=compact
   (AlterConfigs); the broker's cleaner cleans it (backoff 200 ms on both);
   the run waits until the cleaner's checkpoint reaches the active segment
   (Kafka's cleaner-offset-checkpoint, nodata's cleaner-checkpoint), then
   stops the steady producer.

Figures, per broker:
- cleaned MB/s = bytes of the segments the cleaner read and rewrote /
  the cleaning's duration, both from the broker's own log line (nodata's
  "cleaner: cleaned ..." line; Kafka's LogCleaner statistics block: its
  "Start size" and the time from "Beginning cleaning" to the statistics);
  summed over the cleanings of the topic if it took several;
- memory: VmHWM of the broker process at the end (the whole run: produce
  and cleaning), and the peak VmRSS / RssAnon sampled every 50 ms while
  the cleaner ran, beside VmRSS just before;
- the steady producer's p50 / p99 while the cleaner ran, and before it
  was enabled (the IDLE seconds).

    /usr/bin/python3 bench/broker/compaction-vs-kafka.py          # 100 MB
    /usr/bin/python3 bench/broker/compaction-vs-kafka.py --gb     # 1 GB
        [--keys N] [--updates U] [--record-bytes B] [--rate R]
        [--idle S] [--nodata PATH] [--dir DIR]

See README.md beside this file ("Log compaction against Apache Kafka").
Not a test: nothing here passes or fails on timings.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "compat"))
import apache_kafka  # noqa: E402

KAFKA_POM = os.path.join(HERE, "kafka-log", "pom.xml")
KAFKA_LOG4J = os.path.join(HERE, "kafka-log", "log4j2.properties")
TOPIC = "cmp"
LAT_TOPIC = "steady"
BACKOFF_MS = 200
# The steady producer's topic. "default": each broker's own, which is not
# the same durability: nodata answers acks=all once the record is
# fdatasync'd (docs/protocol.md, "Durability of Produce"), Kafka's single
# replica from the page cache. "durable": both fdatasync before answering
# (nodata fsync=always, Kafka flush.messages=1), as vs-kafka.py's durable.
STEADY_CFG = {"default": {"nodata": {}, "kafka": {}},
              "durable": {"nodata": {"fsync": "always"},
                          "kafka": {"flush.messages": "1"}}}
MIB = 1 << 20


def log(msg):
    print(msg, flush=True)


def proc_status(pid):
    """{field: KiB} of /proc/PID/status's memory lines."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("Vm", "Rss")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


class Sampler(threading.Thread):
    """Peak VmRSS and RssAnon of a process, every 50 ms, until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = self.peak_anon = 0
        self.halt = threading.Event()

    def run(self):
        while True:
            s = proc_status(self.pid)
            self.peak_rss = max(self.peak_rss, s.get("VmRSS", 0))
            self.peak_anon = max(self.peak_anon, s.get("RssAnon", 0))
            if self.halt.wait(0.05):
                return


class LogTail:
    """Lines a broker writes to its log file, each with the wall-clock time
    this process first saw it (nodata's lines carry no time)."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.lines = []  # (seen_s, text)
        self.buf = b""

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        self.pos += len(data)
        self.buf += data
        now = time.time()
        *done, self.buf = self.buf.split(b"\n")
        for line in done:
            self.lines.append((now, line.decode("utf-8", "replace")))


# ---- the steady producer (a child process: its own interpreter) ----------

def latency_client(bootstrap, topic, rate, out_path):
    """Produce 100 B to topic at a fixed rate, acks=all, until SIGTERM;
    write "send_wall_s latency_s" per delivered message to out_path.
    The latency is librdkafka's own (Message.latency(): produce() to the
    acknowledgement), so this interpreter's pauses do not count."""
    from confluent_kafka import Producer
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    samples = []
    errors = [0]

    def report(err, msg, sent):
        if err is None:
            samples.append((sent, msg.latency()))
        else:
            errors[0] += 1
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "linger.ms": 0, "socket.nagle.disable": True,
                  "max.in.flight.requests.per.connection": 5})
    payload = b"x" * 100
    p.produce(topic, payload)  # connected and warm before the clock starts
    p.flush(30)
    gap = 1.0 / rate
    due = time.monotonic()
    while not stop:
        now = time.monotonic()
        if now < due:
            p.poll(min(due - now, 0.001))
            continue
        sent = time.time()
        p.produce(topic, payload,
                  on_delivery=lambda e, m, s=sent: report(e, m, s))
        p.poll(0)
        due += gap
        if now - due > 1.0:  # a second behind: go on from now, no burst
            due = now
    p.flush(30)
    with open(out_path, "w") as f:
        f.write("errors %d\n" % errors[0])
        for sent, lat in samples:
            f.write("%.6f %.6f\n" % (sent, lat))


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---- the benchmark ---------------------------------------------------------

class Bench:
    def __init__(self, a):
        self.a = a
        self.root = tempfile.mkdtemp(prefix="nd-compaction-vs-kafka-",
                                     dir=a.dir or None)
        self.res = {}
        self.nd = None
        self.kafka = None
        self.children = []

    def start(self):
        # Kafka's JVM boots while nodata is started.
        props = ["log.cleaner.backoff.ms=%d" % BACKOFF_MS]
        if self.a.cleaner_io_max:
            props.append("log.cleaner.io.max.bytes.per.second=%d"
                         % self.a.cleaner_io_max)
        self.kafka = apache_kafka.ApacheKafka(
            extra_props=props,
            pom=KAFKA_POM, wait=False,
            jvm_args=["-Dlog4j2.configurationFile=" + KAFKA_LOG4J])
        port = apache_kafka._free_port()
        self.nd_data = os.path.join(self.root, "nodata-data")
        self.nd_log = os.path.join(self.root, "nodata.log")
        args = [self.a.nodata, "serve", "--listen", "127.0.0.1:%d" % port,
                "--data", self.nd_data]
        args += ["--log-cleaner-backoff-ms", str(BACKOFF_MS)]
        if self.a.cleaner_io_max:
            args += ["--log-cleaner-io-max-bytes-per-second",
                     str(self.a.cleaner_io_max)]
        with open(self.nd_log, "wb") as out:
            self.nd = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT)
        self.bootstrap = {"nodata": "127.0.0.1:%d" % port,
                          "kafka": self.kafka.bootstrap}
        deadline = time.monotonic() + 30
        while True:
            try:
                apache_kafka.ndtest.api_versions(self.bootstrap["nodata"], 2)
                break
            except (OSError, apache_kafka.ndtest.BrokerError):
                if self.nd.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("nodata serve did not start:\n%s"
                                     % open(self.nd_log).read()[-3000:])
                time.sleep(0.1)
        self.kafka.wait()
        self.pid = {"nodata": self.nd.pid, "kafka": self.kafka.proc.pid}
        self.logs = {"nodata": self.nd_log, "kafka": self.kafka.log}

    def stop(self):
        for c in self.children:
            if c.poll() is None:
                c.kill()
                c.wait()
        if self.nd is not None and self.nd.poll() is None:
            self.nd.terminate()
            try:
                self.nd.wait(60)
            except subprocess.TimeoutExpired:
                self.nd.kill()
                self.nd.wait()
        if self.kafka is not None:
            self.kafka.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- where each broker keeps the partition and its cleaner checkpoint --

    def part_dir(self, b):
        if b == "kafka":
            return os.path.join(self.kafka.dir, "logs", TOPIC + "-0")
        return os.path.join(self.nd_data, "topics",
                            hashlib.sha256(TOPIC.encode()).hexdigest(), "0")

    def checkpoint(self, b):
        try:
            if b == "kafka":
                with open(os.path.join(self.kafka.dir, "logs",
                                       "cleaner-offset-checkpoint")) as f:
                    for line in f:
                        w = line.split()
                        if len(w) == 3 and w[0] == TOPIC and w[1] == "0":
                            return int(w[2])
                return -1
            # "<first dirty offset> <holes below>" (src/layout.h)
            with open(os.path.join(self.part_dir(b),
                                   "cleaner-checkpoint")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return -1

    def active_base(self, b):
        bases = [int(f[:-4]) for f in os.listdir(self.part_dir(b))
                 if f.endswith(".log") and f[:-4].isdigit()]
        return max(bases)

    def segments(self, b):
        d = self.part_dir(b)
        return [(int(f[:-4]), os.path.getsize(os.path.join(d, f)))
                for f in sorted(os.listdir(d))
                if f.endswith(".log") and f[:-4].isdigit()]

    # -- one broker ---------------------------------------------------------

    def topic_cfg(self, policy):
        return {"cleanup.policy": policy, "retention.ms": "-1",
                "segment.bytes": str(self.seg_bytes)}

    def run(self, b):
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, ConfigResource, \
            NewTopic
        a = self.a
        bs = self.bootstrap[b]
        admin = AdminClient({"bootstrap.servers": bs})
        fs = admin.create_topics([
            NewTopic(TOPIC, 1, 1, config=self.topic_cfg("delete")),
            NewTopic(LAT_TOPIC, 1, 1, config=STEADY_CFG[a.steady][b])])
        for f in fs.values():
            f.result(60)
        r = self.res[b] = {}

        # 2. The workload.
        vlen = max(1, a.record_bytes - 11 - 12)  # key + record overhead
        pool = os.urandom(1 << 20)
        p = Producer({"bootstrap.servers": bs, "acks": "1", "linger.ms": 20,
                      "batch.size": 1000000, "queue.buffering.max.kbytes":
                      1048576, "queue.buffering.max.messages": 1000000})
        t0 = time.monotonic()
        n = 0
        for u in range(a.updates):
            for k in range(a.keys):
                off = (n * 37) % ((1 << 20) - vlen)
                while True:
                    try:
                        p.produce(TOPIC, pool[off:off + vlen],
                                  b"key-%07d" % k)
                        break
                    except BufferError:
                        p.poll(0.01)
                n += 1
                if n % 10000 == 0:
                    p.poll(0)
        if p.flush(600) != 0:
            raise SystemExit("%s: the workload was not delivered" % b)
        r["produce s"] = time.monotonic() - t0
        segs = self.segments(b)
        r["log MB"] = sum(s for _, s in segs) / 1e6
        r["segments"] = len(segs)
        log("%s: produced %d records, %.0f MB in %d segments, %.1f s"
            % (b, n, r["log MB"], len(segs), r["produce s"]))
        time.sleep(2)

        # 3. The steady producer, and the idle window.
        lat_out = os.path.join(self.root, "latency-%s" % b)
        lat = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                "--latency-client", bs, LAT_TOPIC,
                                str(a.rate), lat_out])
        self.children.append(lat)
        time.sleep(1 + a.idle)  # its connection made, then IDLE s measured
        tail = LogTail(self.logs[b])
        tail.poll()
        tail.lines.clear()
        before = proc_status(self.pid[b])
        sampler = Sampler(self.pid[b])
        sampler.start()

        # 4. Compact, and wait for the cleaner.
        t_trigger = time.time()
        res = ConfigResource("topic", TOPIC,
                             set_config=self.topic_cfg("compact"))
        admin.alter_configs([res])[res].result(60)
        goal = self.active_base(b)
        deadline = time.monotonic() + a.timeout
        while self.checkpoint(b) < goal:
            tail.poll()
            if time.monotonic() > deadline:
                raise SystemExit("%s: the cleaner did not reach offset %d in "
                                 "%d s (checkpoint %d)" % (b, goal, a.timeout,
                                                           self.checkpoint(b)))
            time.sleep(0.05)
        t_done = time.time()
        time.sleep(1)  # its statistics line follows the checkpoint
        tail.poll()
        sampler.halt.set()
        sampler.join()
        lat.send_signal(signal.SIGTERM)
        lat.wait(60)
        after = proc_status(self.pid[b])

        cleanings = (self.kafka_cleanings if b == "kafka"
                     else self.nodata_cleanings)(tail.lines)
        if not cleanings:
            raise SystemExit("%s: no cleaning statistics in its log:\n%s"
                             % (b, "\n".join(t for _, t in tail.lines)[-3000:]))
        bytes_in = sum(c["in"] for c in cleanings)
        secs = sum(c["s"] for c in cleanings)
        r["cleanings"] = len(cleanings)
        r["cleaned MB"] = bytes_in / 1e6
        r["written MB"] = sum(c["out"] for c in cleanings) / 1e6
        r["records in"] = sum(c["rin"] for c in cleanings)
        r["records kept"] = sum(c["rout"] for c in cleanings)
        r["cleaning s"] = secs
        r["cleaning s (its own figure)"] = sum(c.get("own s", c["s"])
                                              for c in cleanings)
        r["cleaned MB/s"] = bytes_in / 1e6 / secs if secs > 0 else 0
        r["trigger to done s"] = t_done - t_trigger
        r["VmHWM MB"] = after.get("VmHWM", 0) / 1024
        r["RSS before MB"] = before.get("VmRSS", 0) / 1024
        r["RSS peak cleaning MB"] = sampler.peak_rss / 1024
        r["RssAnon before MB"] = before.get("RssAnon", 0) / 1024
        r["RssAnon peak cleaning MB"] = sampler.peak_anon / 1024
        r["RSS growth cleaning MB"] = (sampler.peak_rss
                                       - before.get("VmRSS", 0)) / 1024

        # The steady producer's messages: sent before the topic was made
        # compacted (idle) or while a cleaning ran.
        idle, busy = [], []
        errors = 0
        with open(lat_out) as f:
            for line in f:
                w = line.split()
                if w[0] == "errors":
                    errors = int(w[1])
                    continue
                sent, latency = float(w[0]), float(w[1]) * 1000
                if sent < t_trigger:
                    idle.append(latency)
                elif any(c["start"] <= sent <= c["end"] for c in cleanings):
                    busy.append(latency)
        r["steady errors"] = errors
        r["idle msgs"], r["cleaning msgs"] = len(idle), len(busy)
        r["idle p50 ms"], r["idle p99 ms"] = pct(idle, .5), pct(idle, .99)
        r["cleaning p50 ms"] = pct(busy, .5)
        r["cleaning p99 ms"] = pct(busy, .99)
        log("%s: %s" % (b, ", ".join("%s %s" % (k, fmt(v))
                                     for k, v in r.items())))

    # -- the brokers' cleaning lines -----------------------------------------

    @staticmethod
    def nodata_cleanings(lines):
        """nodata: "cleaner: cleaned cmp-0: ..., IN -> OUT bytes, RIN -> ROUT
        records, ..., S s, X MB/s" (src/cleaner.c)."""
        out = []
        for seen, text in lines:
            m = re.search(r"cleaned %s-0: .*?(\d+) -> (\d+) bytes, (\d+) -> "
                          r"(\d+) records.*?([\d.]+) s," % TOPIC, text)
            if m:
                s = float(m.group(5))
                out.append({"in": int(m.group(1)), "out": int(m.group(2)),
                            "rin": int(m.group(3)), "rout": int(m.group(4)),
                            "s": s, "start": seen - s, "end": seen})
        return out

    @staticmethod
    def kafka_cleanings(lines):
        """Kafka 4.4: "Beginning cleaning of log cmp-0" (Cleaner) ... then
        LogCleaner's statistics block: "Start size: X MB (N messages)",
        "End size: ..."; Kafka's MB are MiB. Times from the log's own
        timestamps (ms)."""
        def stamp(text):
            m = re.match(r"\[(\d+-\d+-\d+)T(\d+):(\d+):(\d+),(\d+)\]", text)
            if not m:
                return None
            t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d")) + \
                int(m.group(2)) * 3600 + int(m.group(3)) * 60 + \
                int(m.group(4)) + int(m.group(5)) / 1000
            return t

        def num(s):
            return float(s.replace(",", ""))
        out = []
        begin = None
        blob = []
        for _, text in lines:
            blob.append(text)
        for i, text in enumerate(blob):
            if "Beginning cleaning of log %s-0" % TOPIC in text:
                begin = stamp(text)
            if "cleaned log %s-0" % TOPIC in text:
                end = stamp(blob[i - 1]) if stamp(text) is None else \
                    stamp(text)
                block = "\n".join(blob[i:i + 10])
                s = re.search(r"Start size: ([\d,.]+) MB \(([\d,]+) messages",
                              block)
                e = re.search(r"End size: ([\d,.]+) MB \(([\d,]+) messages",
                              block)
                own = re.search(r"MB of log processed in ([\d,.]+) seconds",
                                block)
                if not (s and e and begin and end):
                    continue
                out.append({"in": num(s.group(1)) * MIB,
                            "out": num(e.group(1)) * MIB,
                            "rin": int(num(s.group(2))),
                            "rout": int(num(e.group(2))),
                            "s": end - begin, "start": begin, "end": end,
                            "own s": num(own.group(1)) if own else -1})
                begin = None
        return out

    def report(self):
        rows = ["cleaned MB/s", "cleaned MB", "written MB", "cleaning s",
                "cleanings", "records in", "records kept",
                "VmHWM MB", "RSS before MB", "RSS peak cleaning MB",
                "RSS growth cleaning MB", "RssAnon before MB",
                "RssAnon peak cleaning MB",
                "idle p50 ms", "idle p99 ms", "cleaning p50 ms",
                "cleaning p99 ms", "idle msgs", "cleaning msgs",
                "steady errors", "produce s", "log MB", "segments"]
        log("")
        log("| figure | nodata | Kafka | nodata / Kafka |")
        log("|---|---:|---:|---:|")
        for k in rows:
            n, kk = self.res["nodata"].get(k), self.res["kafka"].get(k)
            ratio = "%.2f×" % (n / kk) if isinstance(n, (int, float)) and \
                isinstance(kk, (int, float)) and kk else ""
            log("| %s | %s | %s | %s |" % (k, fmt(n), fmt(kk), ratio))
        n, k = self.res["nodata"], self.res["kafka"]
        log("")
        log("issue 18's targets: cleaning rate >= Kafka's: %s (%.2f×); "
            "memory (VmHWM) <= half of Kafka's: %s (%.2f×)"
            % ("met" if n["cleaned MB/s"] >= k["cleaned MB/s"] else
               "NOT met", n["cleaned MB/s"] / k["cleaned MB/s"],
               "met" if n["VmHWM MB"] <= k["VmHWM MB"] / 2 else "NOT met",
               n["VmHWM MB"] / k["VmHWM MB"]))


def fmt(v):
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return "%.3f" % v if abs(v) < 10 else "%.1f" % v
    return str(v)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--latency-client":
        latency_client(sys.argv[2], sys.argv[3], float(sys.argv[4]),
                       sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gb", action="store_true",
                    help="the 1 GB run: 1,000,000 keys x 10 updates")
    ap.add_argument("--cleaner-io-max", type=int, default=0,
                    help="both cleaners' log.cleaner.io.max.bytes.per."
                    "second (default: unlimited, as Kafka's)")
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--record-bytes", type=int, default=100)
    ap.add_argument("--rate", type=float, default=1000,
                    help="the steady producer's msgs/s (default 1000)")
    ap.add_argument("--steady", choices=tuple(STEADY_CFG), default="default",
                    help="the steady producer topic's durability (default: "
                    "each broker's own; durable: fdatasync on both)")
    ap.add_argument("--idle", type=float, default=5,
                    help="seconds of the steady producer before cleaning")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds a cleaner may take (default 900)")
    default_build = os.environ.get("NODATA_BUILD") or os.path.join(
        HERE, "..", "..", "build")
    ap.add_argument("--nodata", default=os.path.join(default_build, "cli",
                                                     "nodata"))
    ap.add_argument("--dir", help="where the scratch directory goes")
    ap.add_argument("--only", choices=("nodata", "kafka"),
                    help="measure one broker only (no ratios)")
    a = ap.parse_args()
    if a.gb:
        a.keys = 1000000
    b = Bench(a)
    b.seg_bytes = max(MIB, a.keys * a.updates * a.record_bytes // 16)
    log("compaction-vs-kafka: %d keys x %d updates x ~%d B (%.0f MB), "
        "segment.bytes %d, steady producer %g msgs/s acks=all, %s topic"
        % (a.keys, a.updates, a.record_bytes,
           a.keys * a.updates * a.record_bytes / 1e6, b.seg_bytes, a.rate,
           a.steady))
    signal.signal(signal.SIGTERM, lambda *x: sys.exit(1))
    t = time.monotonic()
    try:
        b.start()
        for broker in ("nodata", "kafka"):
            if a.only in (None, broker):
                b.run(broker)
        if not a.only:
            b.report()
    finally:
        b.stop()
    log("took %.0f s" % (time.monotonic() - t))


if __name__ == "__main__":
    main()
