"""test_eos_checker.py — an exactly-once checker in the style of Jepsen's
Kafka workload: transactional producers, consume-transform-produce
workers and read_committed readers, all separate client processes
(tests/compat/eos_worker.py, confluent-kafka; tests/kafka/EosProducer.java),
under random crashes of the broker and of the clients; then every anomaly
Jepsen defines for Kafka is looked for, and none is allowed.

Load (kept up across every crash):
  - 4 transactional producers (confluent-kafka: Transactions V1) and one
    Java producer (kafka-clients 4.4: Transactions V2 where the broker
    offers it), each writing transactions of 1-21 unique values to a
    random set of partitions of "ta" (3), "tb" (2) and "in" (2),
    committing 70% and aborting 30% at random; each journals the
    intent, the commit or abort request and the known outcome (an outcome
    a crash ate is "unknown": all or nothing allowed; a transaction never
    asked to commit must stay invisible);
  - 2 consume-transform-produce workers in group "eos-xform": read_committed
    from "in", one record of "out" per input record (carrying the input's
    partition, offset and value), the input offsets sent with
    sendOffsetsToTransaction;
  - 2 read_committed readers reading every partition from the start,
    journaling every record seen.
Crashes, one every 0.2-1.2 s once a transaction committed since the last:
  broker kill -9 (restarted on the same port and data), broker power cut
  (nodata only, root only: the data directory on a loop-mounted ext4 image,
  torture.Ext4Image, as test_torture_power.py), client kill -9 (restarted
  with the same transactional.id: the new incarnation fences the old), and
  client zombie (SIGSTOP, a new incarnation started and initialized, then
  SIGCONT: the old one must be fenced, and exits).
At the end the producers finish their transaction and stop, the workers
drain "in", every partition is read back read_committed, and:
  aborted read   a value of an aborted (or never committed) transaction
                 seen, by a reader during the run or at the end;
  lost write     a value of a committed transaction not there at the end,
                 or seen during the run and gone at the end;
  duplicate      a value at two offsets;
  torn           a transaction partly visible at the end (any outcome);
  wrong offset   a value read at another offset than its delivery report
                 gave, or than another read saw it at; offsets not
                 increasing in a read; a reader skipping a committed
                 record (poll skip);
  transform      "out" is not each visible record of "in" exactly once, an
                 output whose input is not visible there, or the group's
                 committed offsets on "in" not at its end;
  stuck          a partition's read_committed end below its high watermark
                 once every producer stopped (a hanging transaction), or a
                 zombie never fenced.
Zero anomalies required. One summary line gives the figures.

Environment: ND_EOS_SEED (default: the time; printed) repeats the choices
of a run (thread and process timing differ); ND_EOS_KINDS=zombie,kill
(a comma-separated subset of kill, power, client-kill, zombie) makes only
those crashes; ND_EOS_KEEP=1 keeps the journals (and nodata's log and
data directory); ND_EOS_DEBUG=eos,... traces the librdkafka producers
into their .err files; ND_EOS_CRASHES (default 60,
24 under ND_SANITIZE); ND_EOS_TARGET=kafka runs it against Apache Kafka
(tests/compat/apache_kafka.py; kill -9 and client crashes only) instead
of nodata serve. See tests/README.md for the long run and its figures:
seed 20261205, 500 crashes (185 broker kill -9, 164 power cuts, 106 client
kill -9, 45 zombies, all fenced): 48,228 transactions committed (9,976 by
the Java V2 producer), 20,706 aborted, 80 unknown; 460,812 records checked;
0 anomalies; 561 s. The default run (60 crashes) takes about a minute.
"""
import bisect
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import torture  # noqa: E402
import apache_kafka  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "eos_worker.py")
JAVA_WORKER = os.path.join(HERE, "..", "kafka", "EosProducer.java")
JAVA_CP = apache_kafka.classpath(os.path.join(HERE, "..", "kafka", "java-client",
                                 "pom.xml"))
PRODUCED = {"ta": 3, "tb": 2, "in": 2}     # topic -> partitions
TOPICS = dict(PRODUCED, out=2)
NPRODUCERS, NJAVA, NTRANSFORMS, NREADERS = 4, 1, 2, 2

seed = int(os.environ.get("ND_EOS_SEED", str(int(time.time()))))
target = os.environ.get("ND_EOS_TARGET", "nodata")
default_crashes = "24" if os.environ.get("ND_SANITIZE") == "ON" else "60"
if target == "kafka":
    default_crashes = "8"   # a JVM restart takes many seconds
ncrashes = int(os.environ.get("ND_EOS_CRASHES", default_crashes))
rng = random.Random(seed)           # the crashes: kinds, moments, victims
seeds = random.Random(seed + 1)    # the clients' own choices
print("eos checker: seed %d, %d crashes against %s (ND_EOS_SEED=%d repeats)"
      % (seed, ncrashes, target, seed), flush=True)


class Anomalies:
    KINDS = ("aborted read", "lost write", "duplicate", "torn",
             "wrong offset", "transform", "stuck")

    def __init__(self):
        self.count = {k: 0 for k in self.KINDS}
        self.examples = {}

    def add(self, kind, msg):
        self.count[kind] += 1
        if self.count[kind] <= 5:
            print("eos checker: ANOMALY %s: %s" % (kind, msg), flush=True)
        self.examples.setdefault(kind, msg)

    def total(self):
        return sum(self.count.values())


bad = Anomalies()


class NodataTarget:
    """nodata serve, its data on an ext4 image when power cuts are
    possible (root, mkfs.ext4)."""

    def __init__(self):
        self.fs = None
        if os.geteuid() == 0 and all(shutil.which(t) for t in (
                "mkfs.ext4", "mount", "umount")):
            self.fs = torture.Ext4Image()
        self.broker = ndtest.Broker(
            data_dir=os.path.join(self.fs.dir, "data") if self.fs else None,
            args=["--group-initial-delay-ms", "0"])
        self.bootstrap = self.broker.bootstrap
        self.kinds = ["kill", "power"] if self.fs else ["kill"]

    def crash(self, kind):
        if kind == "power":
            torture.freeze(self.broker.pid)
            self.fs.power_cut()
        self.broker.kill9()
        if kind == "power":
            self.fs.umount()
            self.fs.mount()
        self.broker.start(timeout=60)

    def check_log(self):
        err = self.broker.stderr()
        if "Sanitizer" in err or "runtime error" in err:
            ndtest.fail("sanitizer report:\n%s" % err[-4000:])

    def endtxn_refusals(self):
        """{transactional id: [reason]} of the EndTxn requests the broker
        answered INVALID_TXN_STATE (its log says why)."""
        out = {}
        for m in re.finditer(r"EndTxn v\d+: transactional id (\S+): (.*); "
                             r"answered INVALID_TXN_STATE",
                             self.broker.stderr()):
            out.setdefault(m.group(1), []).append(m.group(2))
        return out

    def keep(self, dest):
        """ND_EOS_KEEP: the broker's log and data directory, as evidence."""
        with open(os.path.join(dest, "serve.err"), "w") as f:
            f.write(self.broker.stderr())
        self.broker.stop(check=False)
        shutil.copytree(self.broker.data_dir, os.path.join(dest, "data"),
                        symlinks=True)

    def close(self):
        self.broker.close()
        if self.fs:
            self.fs.close()


class KafkaTarget:
    def __init__(self):
        self.k = apache_kafka.ApacheKafka(extra_props=[
            "transaction.state.log.num.partitions=1",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms="
            "2000"])
        self.bootstrap = self.k.bootstrap
        self.kinds = ["kill"]

    def crash(self, kind):
        self.k.proc.kill()
        self.k.proc.wait()
        os.replace(self.k.log, self.k.log + ".%d" % self.k.proc.pid)
        self.k.start(wait=True)

    def check_log(self):
        pass

    def endtxn_refusals(self):
        return {}

    def close(self):
        if os.environ.get("ND_EOS_KEEP"):
            self.k.proc.terminate()
            self.k.proc.wait()
            apache_kafka._live.discard(self.k)   # (its atexit removes it)
            print("eos checker: Kafka's directory kept in %s" % self.k.dir)
            return
        self.k.close()


class Worker:
    """One client role; each start() is a new incarnation with its own
    journal."""
    incarnations = 0

    def __init__(self, role, index, tmp, bootstrap):
        self.role, self.index, self.tmp = role, index, tmp
        self.bootstrap = bootstrap
        self.tid = "%s-%d" % (role, index)
        self.proc = None
        self.journals = []

    def start(self):
        Worker.incarnations += 1
        inc = Worker.incarnations
        path = os.path.join(self.tmp, "%s.%d.journal" % (self.tid, inc))
        conf = {"bootstrap": self.bootstrap, "tid": self.tid, "inc": inc,
                "seed": seeds.randrange(1 << 30), "topics": (
                    TOPICS if self.role == "reader" else PRODUCED)}
        err = open(os.path.join(self.tmp, "%s.%d.err" % (self.tid, inc)), "wb")
        if self.role == "jproducer":
            cmd = ["java", "-Xmx128m", "-XX:+UseSerialGC",
                   "-XX:TieredStopAtLevel=1",
                   "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                   "-cp", JAVA_CP, JAVA_WORKER, self.bootstrap, self.tid,
                   str(inc), str(conf["seed"]), path,
                   ",".join("%s:%d" % tp for tp in sorted(PRODUCED.items()))]
        else:
            cmd = [sys.executable, WORKER, self.role, json.dumps(conf), path]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL, stdout=err, stderr=err,
            preexec_fn=ndtest._pdeathsig)
        err.close()
        self.journals.append(path)
        return self.proc

    def restart_dead(self):
        """Start again a client that exited on its own (a fatal error the
        journal names); one that cannot run at all fails the test."""
        self.deaths = getattr(self, "deaths", 0) + 1
        if self.deaths > 100:
            with open(self.journals[-1].replace(".journal", ".err")) as f:
                ndtest.fail("%s exited 100 times; last: %s"
                            % (self.tid, f.read()[-2000:]))
        self.start()

    def ready(self, timeout=90):
        """Wait until the current incarnation journaled R."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.journals[-1]) as f:
                    if any(line.startswith("R") for line in f):
                        return True
            except OSError:
                pass
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False


def create_topics(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    for f in admin.create_topics([NewTopic(t, n, 1)
                                  for t, n in TOPICS.items()]).values():
        f.result(60)


def journal_lines(path):
    try:
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):   # a kill -9 may cut the last
                    yield line.rstrip("\n")
    except OSError:
        return


class Counter:
    """Counts committed transactions in producer journals, reading only
    what was appended since the last call."""

    def __init__(self):
        self.pos = {}
        self.commits = 0

    def update(self, workers):
        for w in workers:
            for path in w.journals:
                try:
                    with open(path) as f:
                        f.seek(self.pos.get(path, 0))
                        data = f.read()
                except OSError:
                    continue
                end = data.rfind("\n") + 1
                self.pos[path] = self.pos.get(path, 0) + len(
                    data[:end].encode())
                self.commits += sum(1 for line in data[:end].split("\n")
                                    if line.startswith("O ")
                                    and " commit " in line)
        return self.commits


def read_all(bootstrap, timeout=120):
    """Every partition read_committed from the start up to its end:
    ({(t, p): [(offset, value)]}, {(t, p): end position},
    {(t, p): high watermark})."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-final",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed", "log_level": 2})
    out, eof, hw = {}, {}, {}
    try:
        tps = [(t, p) for t, n in sorted(TOPICS.items()) for p in range(n)]
        for t in TOPICS:
            for p, h in high_watermarks(bootstrap, t).items():
                hw[(t, p)] = h
                out[(t, p)] = []
        c.assign([TopicPartition(t, p, 0) for t, p in tps])
        deadline = time.monotonic() + timeout
        while len(eof) < len(tps) and time.monotonic() < deadline:
            for m in c.consume(num_messages=5000, timeout=0.5):
                key = (m.topic(), m.partition())
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        # The end of what read_committed may see (the
                        # LSO): final only when it reached the end.
                        eof[key] = m.offset()
                        continue
                    ndtest.fail("final read %s/%d: %s" % (key + (m.error(),)))
                eof.pop(key, None)
                out[key].append((m.offset(), m.value().decode()))
            if len(eof) == len(tps) and any(eof[k] < hw[k] for k in tps):
                # Reached an LSO below the high watermark: wait a little
                # for a transaction still being completed.
                if time.monotonic() + 30 < deadline:
                    deadline = time.monotonic() + 30
                time.sleep(0.5)
                eof = {k: v for k, v in eof.items() if v >= hw[k]}
        for k in tps:
            if k not in eof:
                eof[k] = out[k][-1][0] + 1 if out[k] else 0
    finally:
        c.close()
    return out, eof, hw


def high_watermarks(bootstrap, topic):
    """{partition: high watermark} of topic (read_uncommitted: librdkafka's
    watermark query honours isolation.level, and would give the LSO)."""
    u = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-final",
                  "isolation.level": "read_uncommitted", "log_level": 2})
    try:
        return {p: u.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=30)[1]
                for p in range(TOPICS[topic])}
    finally:
        u.close()


def group_offsets(bootstrap):
    """The transform group's committed offsets on "in" ({} while a
    transaction holds offsets pending: librdkafka asks for stable offsets
    and retries UNSTABLE_OFFSET_COMMIT until its timeout)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-xform",
                  "enable.auto.commit": False, "log_level": 2})
    try:
        got = c.committed([TopicPartition("in", p)
                           for p in range(TOPICS["in"])], timeout=20)
        return {tp.partition: tp.offset for tp in got}
    except KafkaException:
        return {}
    finally:
        c.close()


def input_left(bootstrap, gofs):
    """Committed records of "in" at or after the group's committed offsets
    (read_committed): what the transforms still owe. Offsets alone do not
    say it: a partition that ends in an aborted transaction (a producer
    killed or failed mid-transaction) has an end the consumer steps over
    without handing the application a record, so a transform that commits
    after records never commits that end; on Kafka alike."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-left",
                  "enable.auto.commit": False, "log_level": 2,
                  "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    try:
        c.assign([TopicPartition("in", p, max(gofs.get(p, 0), 0))
                  for p in range(TOPICS["in"])])
        at_end, left = set(), 0
        deadline = time.monotonic() + 20
        while len(at_end) < TOPICS["in"] and time.monotonic() < deadline:
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error() and \
                        m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                elif not m.error():
                    left += 1
        return left if len(at_end) == TOPICS["in"] else None
    finally:
        c.close()


class Txn:
    def __init__(self, key, recs):
        self.key, self.recs = key, recs
        self.commit_asked = False
        self.outcome = None      # "commit", "abort" or None
        self.offsets = {}

    def status(self):
        if self.outcome:
            return "committed" if self.outcome == "commit" else "aborted"
        return "unknown" if self.commit_asked else "aborted"


def parse_txns(workers):
    """{value: Txn} and [Txn] from the producers' journals; the count of
    fatal errors journaled."""
    txns, by_value, fatal = [], {}, []
    for w in workers:
        for path in w.journals:
            cur = {}
            for line in journal_lines(path):
                kind, _, rest = line.partition(" ")
                if kind == "I":
                    k, recs = rest.split(" ", 1)
                    t = Txn((path, k), json.loads(recs))
                    cur[k] = t
                    txns.append(t)
                    for r in t.recs:
                        by_value[r[-1]] = t
                elif kind == "C":
                    cur[rest].commit_asked = True
                elif kind == "O":
                    parts = rest.split(" ", 2)
                    cur[parts[0]].outcome = parts[1]
                    if len(parts) > 2:
                        cur[parts[0]].offsets = json.loads(parts[2])
                elif kind == "F":
                    fatal.append("%s: %s" % (os.path.basename(path), rest))
    return txns, by_value, fatal


def check(final, eof, hw, producers, transforms, readers, gofs):
    """The anomaly checks; returns the figures for the summary."""
    txns, by_value, fatal = parse_txns(producers)
    xtxns, _, xfatal = parse_txns(transforms)
    where = {}      # value -> [(t, p, offset)]
    for (t, p), recs in final.items():
        last = -1
        for off, v in recs:
            if off <= last:
                bad.add("wrong offset", "final read of %s/%d: offset %d after "
                        "%d" % (t, p, off, last))
            last = off
            where.setdefault(v, []).append((t, p, off))
    for (t, p), end in eof.items():
        if end < hw[(t, p)]:
            bad.add("stuck", "%s/%d: read_committed ends at %d, high "
                    "watermark %d, every producer stopped" % (t, p, end,
                                                              hw[(t, p)]))
    for v, locs in where.items():
        if len(locs) > 1:
            bad.add("duplicate", "%r at %s" % (v, locs[:4]))
    fig = {"committed": 0, "aborted": 0, "unknown": 0,
           "unknown_visible": 0, "records": 0, "java": 0}
    for t in txns:
        st = t.status()
        fig[st] += 1
        if st == "committed" and "/jproducer-" in t.key[0]:
            fig["java"] += 1
        seen = [r for r in t.recs if r[-1] in where]
        fig["records"] += len(t.recs)
        if st == "unknown" and seen:
            fig["unknown_visible"] += 1
        if st == "aborted" and seen:
            bad.add("aborted read", "%s transaction %s (%s): %d of %d values "
                    "visible, e.g. %r at %s" % (
                        st, t.key, "abort requested" if t.outcome else
                        "never asked to commit", len(seen), len(t.recs),
                        seen[0][-1], where[seen[0][-1]]))
        elif st == "committed" and len(seen) < len(t.recs):
            lost = [r for r in t.recs if r[-1] not in where]
            tp_, p = lost[0][0], lost[0][1]
            bad.add("lost write", "committed transaction %s: %d of %d "
                    "values missing, e.g. %r, delivered at offset %s; "
                    "%s/%d ends at %d" % (
                        t.key, len(lost), len(t.recs), lost[0],
                        t.offsets.get(lost[0][-1]), tp_, p, hw[(tp_, p)]))
        if seen and len(seen) < len(t.recs) and st != "committed":
            bad.add("torn", "%s transaction %s: %d of %d values visible"
                    % (st, t.key, len(seen), len(t.recs)))
        for tp_, p, v in t.recs:
            if v not in where:
                continue
            if (tp_, p) != where[v][0][:2]:
                bad.add("wrong offset", "%r written to %s/%d, read in %s/%d"
                        % ((v, tp_, p) + where[v][0][:2]))
            elif v in t.offsets and t.offsets[v] != where[v][0][2]:
                bad.add("wrong offset", "%r delivered at %s/%d:%d, read at %d"
                        % (v, tp_, p, t.offsets[v], where[v][0][2]))
    for v in where:
        if v not in by_value and not v.startswith("x|"):
            bad.add("aborted read", "%r read, written by no transaction" % v)

    # Consume-transform-produce: out = in, exactly once.
    ins = {(p, off): v for p in range(TOPICS["in"])
           for off, v in final[("in", p)]}
    outs = {}
    for p in range(TOPICS["out"]):
        for off, v in final[("out", p)]:
            _, ip, ioff, iv = v.split("|", 3)
            outs.setdefault((int(ip), int(ioff)), []).append(iv)
            if ins.get((int(ip), int(ioff))) != iv:
                bad.add("transform", "out/%d:%d is %r; in/%s:%s holds %r"
                        % (p, off, v, ip, ioff, ins.get((int(ip),
                                                          int(ioff)))))
    for k, v in ins.items():
        n = len(outs.get(k, ()))
        if n != 1:
            bad.add("transform", "in/%d:%d (%r) transformed %d times"
                    % (k + (v, n)))
    for p in range(TOPICS["in"]):
        # Past its last committed record (what follows it can only be
        # aborted data and markers) and not past the end.
        recs = final[("in", p)]
        need = recs[-1][0] + 1 if recs else 0
        got = gofs.get(p, -1)
        if got < 0 and not recs:
            got = 0
        if not need <= got <= eof[("in", p)]:
            bad.add("transform", "group eos-xform committed %s on in/%d, "
                    "whose last committed record ends at %d, the log at %d"
                    % (gofs.get(p), p, need, eof[("in", p)]))
    for t in xtxns:
        if t.status() == "committed":
            for _, ip, ioff, _v in t.recs:
                if (ip, ioff) not in outs:
                    bad.add("lost write", "transform transaction %s "
                            "committed, output of in/%d:%d missing"
                            % (t.key, ip, ioff))
    fig["xcommitted"] = sum(1 for t in xtxns if t.status() == "committed")
    fig["transformed"] = len(ins)

    # What the readers saw during the run.
    offsets = {tp: [off for off, _ in recs] for tp, recs in final.items()}
    reads = 0
    for w in readers:
        for path in w.journals:
            last = {}
            for line in journal_lines(path):
                if not line.startswith("S "):
                    continue
                _, t, p, off, v = line.split(" ", 4)
                p, off = int(p), int(off)
                reads += 1
                key = (t, p)
                prev = last.get(key)
                if prev is not None and off <= prev:
                    bad.add("wrong offset", "%s read %s/%d:%d after %d"
                            % (os.path.basename(path), t, p, off, prev))
                elif prev is not None:
                    # Committed records the reader stepped over.
                    o = offsets[key]
                    i = bisect.bisect_right(o, prev)
                    if i < len(o) and o[i] < off:
                        bad.add("wrong offset", "%s skipped %s/%d:%d (read "
                                "%d then %d)" % (os.path.basename(path), t,
                                                 p, o[i], prev, off))
                last[key] = off
                if v not in where:
                    tx = by_value.get(v)
                    kind = "aborted read" if tx is None or \
                        tx.status() == "aborted" else "lost write"
                    bad.add(kind, "%s read %r at %s/%d:%d (transaction %s), "
                            "not there at the end" % (
                                os.path.basename(path), v, t, p, off,
                                tx.status() if tx else "none"))
                elif (t, p, off) != where[v][0]:
                    bad.add("wrong offset", "%s read %r at %s/%d:%d, at the "
                            "end at %s" % (os.path.basename(path), v, t, p,
                                           off, where[v][0]))
    fig["reads"] = reads
    # A fenced zombie is what the test wants: counted apart.
    fig["fatal"] = [f for f in fatal + xfatal if "fenced" not in f.lower()
                    and "invalidproducerepoch" not in f.lower()
                    and "invalid_producer_epoch" not in f.lower()]
    fig["fenced"] = len(fatal + xfatal) - len(fig["fatal"])
    return fig


def main():
    tmp = __import__("tempfile").mkdtemp(prefix="nd-eos-")
    tgt = NodataTarget() if target == "nodata" else KafkaTarget()
    workers = []
    try:
        return run(tmp, tgt, workers)
    finally:
        for w in workers:
            if w.proc and w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
        if os.environ.get("ND_EOS_KEEP") and hasattr(tgt, "keep"):
            tgt.keep(tmp)
        tgt.close()
        if os.environ.get("ND_EOS_KEEP"):
            print("eos checker: journals kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def settle(workers):
    """Make sure each client's current incarnation initialized (journaled
    R), starting again one that died; returns the restarts. A client
    killed in a transaction leaves it open until a successor's
    InitProducerId fences its transactional id, which aborts it (Kafka's
    rule, and nodata's). A successor stopped before it got that far (a
    JVM takes seconds to start: a crash round can kill it, or the end
    stop it, first) leaves the transaction to transaction.timeout.ms
    (60 s, and the coordinator looks every 10 s), longer than the final
    read waits: it was reported as a partition stuck below its high
    watermark although no broker could end it sooner."""
    restarts = 0
    for w in workers:
        for _ in range(5):
            if w.proc.poll() is not None:
                restarts += 1
                w.restart_dead()
            if w.ready():
                break
    return restarts


def stop(workers):
    """SIGTERM: each finishes its transaction and exits."""
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.proc.wait(90)
        except subprocess.TimeoutExpired:
            bad.add("stuck", "%s did not stop in 90 s" % w.tid)
            w.proc.kill()
            w.proc.wait()


def run(tmp, tgt, workers):
    t0 = time.monotonic()
    bootstrap = tgt.bootstrap
    create_topics(bootstrap)
    producers = [Worker("producer", i, tmp, bootstrap)
                 for i in range(NPRODUCERS)] + [
        Worker("jproducer", i, tmp, bootstrap) for i in range(NJAVA)]
    transforms = [Worker("transform", i, tmp, bootstrap)
                  for i in range(NTRANSFORMS)]
    readers = [Worker("reader", i, tmp, bootstrap) for i in range(NREADERS)]
    workers += producers + transforms + readers
    for w in workers:
        w.start()
    zombies = []
    crashes = {k: 0 for k in ("kill", "power", "client-kill", "zombie")}
    restarts = 0
    counter = Counter()
    kinds = tgt.kinds + ["client-kill", "zombie"]
    weights = [4, 3][:len(tgt.kinds)] + [2, 1]
    if os.environ.get("ND_EOS_KINDS"):   # e.g. "zombie,kill", to debug
        only = os.environ["ND_EOS_KINDS"].split(",")
        weights = [w if k in only else 0 for k, w in zip(kinds, weights)]
    for r in range(ncrashes):
        # The crash comes a random moment after a transaction committed
        # since the last one, so the load is under way at every crash.
        base, deadline = counter.update(producers), time.monotonic() + 120
        while counter.update(producers) <= base:
            if time.monotonic() > deadline:
                w = producers[0]
                with open(w.journals[-1].replace(".journal", ".err"),
                          errors="replace") as f:
                    err = f.read()[-1500:]
                ndtest.fail("round %d: no transaction committed in 120 s; "
                            "%s's journal ends %r, its stderr:\n%s"
                            % (r, w.tid, list(journal_lines(
                                w.journals[-1]))[-2:], err))
            for w in workers:   # a client that died on its own: again
                if w.proc.poll() is not None:
                    restarts += 1
                    w.restart_dead()
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.2))
        kind = rng.choices(kinds, weights)[0]
        crashes[kind] += 1
        with open(os.path.join(tmp, "crashes.log"), "a") as f:
            f.write("%s round %d: %s\n" % (
                time.strftime("%H:%M:%S", time.gmtime()), r, kind))
        if kind in ("kill", "power"):
            tgt.crash(kind)
        else:
            w = rng.choice(workers if kind == "client-kill"
                           else producers + transforms)
            if kind == "client-kill":
                if w.proc.poll() is None:
                    w.proc.kill()
                    w.proc.wait()
                w.start()
            else:
                old = w.proc
                if old.poll() is None:
                    old.send_signal(signal.SIGSTOP)
                w.start()
                w.ready()
                if old.poll() is None:
                    old.send_signal(signal.SIGCONT)
                    zombies.append((w, old))
        if r % 10 == 9:
            print("eos checker: %d crashes, %d transactions committed, "
                  "%.0f s" % (r + 1, counter.commits, time.monotonic() - t0),
                  flush=True)

    # The end: producers finish their transaction, zombies are fenced.
    # Each client's last incarnation has initialized first: see settle().
    restarts += settle(producers + transforms)
    stop(producers)
    # One that died on the way out (a fatal error while finishing) may
    # leave its transaction open: one more incarnation ends it.
    # (A JVM stopped by SIGTERM exits 143 however well it finished: the
    # journal's last line tells.)
    again = [w for w in producers if w.proc.returncode < 0 or any(
        line.startswith("F ") for line in list(journal_lines(
            w.journals[-1]))[-1:])]
    for w in again:
        restarts += 1
        w.start()
    restarts += settle(again)
    stop(again)
    fenced = 0
    for w, old in zombies:
        try:
            code = old.wait(60)
        except subprocess.TimeoutExpired:
            # A transform zombie whose partitions went to its successor
            # consumes nothing, so writes nothing, and is never told it
            # is fenced: only what it writes counts. A producer zombie
            # writes all the time.
            if w.role != "transform":
                bad.add("stuck", "a zombie %s still running 60 s after its "
                        "successor started" % w.tid)
            old.kill()
            code = old.wait()
        fenced += code == 4
    # The workers drain "in".
    deadline = time.monotonic() + 120
    while True:
        ends = high_watermarks(bootstrap, "in")
        gofs = group_offsets(bootstrap)
        if all(gofs.get(p) == ends[p] for p in range(TOPICS["in"])) \
                or (len(gofs) == TOPICS["in"] and
                    input_left(bootstrap, gofs) == 0) \
                or time.monotonic() > deadline:
            break
        for w in transforms:
            if w.proc.poll() is not None:
                restarts += 1
                w.restart_dead()
        time.sleep(1)
    restarts += settle(transforms)
    for w in transforms + readers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in transforms + readers:
        try:
            w.proc.wait(60)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()
    # Now that the transforms stopped: what they committed is all there.
    final, eof, hw = read_all(bootstrap)
    gofs = group_offsets(bootstrap)
    tgt.check_log()
    fig = check(final, eof, hw, producers, transforms, readers, gofs)
    # A fatal client error is no anomaly by itself (what it leaves open,
    # the next incarnation ends), but say whose it is. librdkafka counts
    # an AddPartitionsToTxn that failed on the connection (a broker crash)
    # as registered "so that an EndTxnRequest is sent on
    # abort_transaction()" (rdkafka_txnmgr.c); when the request never
    # reached the coordinator that EndTxn finds no transaction open, Kafka
    # answers INVALID_TXN_STATE, and librdkafka makes it fatal
    # (librdkafka #4849). Nothing of that transaction can be in the log:
    # an unregistered partition refuses its batches.
    refusals = tgt.endtxn_refusals()
    client_side = 0
    for f in fig["fatal"]:
        tid = f.split(".", 1)[0]
        why = [r for r in refusals.get(tid, ())
               if re.search(r"cannot (abort|commit) from "
                            r"(Empty|CompleteCommit|CompleteAbort)$", r)]
        if "INVALID_TXN_STATE" in f and "end transaction" in f and why:
            client_side += 1
            refusals[tid].remove(why[0])   # one refusal explains one death
            f += " [client side: the coordinator had no transaction open " \
                 "(%s)]" % why[0]
        print("eos checker: client fatal error: %s" % f, flush=True)
    print("eos checker summary: seed %d, %s, %d crashes (%d broker kill -9, "
          "%d power cuts, %d client kill -9, %d zombies: %d fenced); "
          "transactions %d committed (%d by Java, V2), %d aborted, %d unknown "
          "(%d of them visible); %d records checked, %d read during the run; transform: "
          "%d transactions committed, %d records exactly once; client "
          "restarts %d, fatal client errors %d (%d client side), clients "
          "fenced %d; anomalies %d (%s); %.0f s"
          % (seed, target, ncrashes, crashes["kill"], crashes["power"],
             crashes["client-kill"], crashes["zombie"], fenced,
             fig["committed"], fig["java"], fig["aborted"], fig["unknown"],
             fig["unknown_visible"], fig["records"], fig["reads"],
             fig["xcommitted"], fig["transformed"], restarts,
             len(fig["fatal"]), client_side, fig["fenced"], bad.total(),
             ", ".join("%s %d" % kv for kv in bad.count.items()),
             time.monotonic() - t0), flush=True)
    if bad.total():
        print("eos checker: final read: %s" % ", ".join(
            "%s/%d: %d records, end %d, high watermark %d"
            % (t, p, len(final[(t, p)]), eof[(t, p)], hw[(t, p)])
            for t, p in sorted(final)), flush=True)
        ndtest.fail("%d anomalies; first of each: %s" % (
            bad.total(), "; ".join("%s: %s" % kv
                                   for kv in bad.examples.items())))


signal.signal(signal.SIGTERM, lambda *_: sys.exit("eos checker: SIGTERM"))
main()
ndtest.passed()
