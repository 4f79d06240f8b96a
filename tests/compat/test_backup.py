"""test_backup.py — `nodata backup DEST` beside a running broker, and a
broker restored from the copy (docs/serve.md, "Backup and restore").

While acks=all producers write to a plain topic ("events", 64 KiB
segments, so it rolls), a compacted one ("state", cleaned every 100 ms)
and one whose retention deletes segments ("short"), and a consumer group
consumes "events" committing as it goes, the backup runs. Then:

- it exits 0 and says, per partition, the end offset it copied;
- `nodata verify --data DEST` finds no damage;
- a broker on DEST serves, in every partition of "events" and "short",
  exactly the records the source broker has at the same offsets (no torn
  or changed record), from the copied start to the copied end, and that
  end is at least the partition's high watermark just before the backup
  started;
- "state": for every key, the copy's newest value is at least the newest
  one acknowledged before the backup started (compaction keeps the last
  value of a key, and the copy may hold older records too);
- the group's committed offsets are in the copy: for each partition at
  least what was committed before the backup, and not past the copy's end.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

GROUP = "backup-group"
TOPICS = {
    "events": (3, {"segment.bytes": "65536"}),
    "state": (2, {"cleanup.policy": "compact", "segment.bytes": "16384",
                  "min.cleanable.dirty.ratio": "0.01"}),
    "short": (1, {"segment.bytes": "16384", "retention.bytes": "65536"}),
}
KEYS = 50


def create_topics(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics([NewTopic(t, n, 1, config=c)
                                for t, (n, c) in TOPICS.items()])
    for t, f in futs.items():
        f.result(30)


class Produce(threading.Thread):
    """acks=all producer to the three topics until stopped; keeps the
    newest acknowledged value of each "state" key."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                           "linger.ms": 5})
        self.stop = threading.Event()
        self.state_acked = {}
        self.lock = threading.Lock()
        self.errors = []

    def on_state(self, err, msg):
        if err:
            self.errors.append(str(err))
            return
        key, n = msg.key().decode(), int(msg.value())
        with self.lock:
            self.state_acked[key] = max(n, self.state_acked.get(key, -1))

    def on_other(self, err, msg):
        if err:
            self.errors.append(str(err))

    def run(self):
        n = 0
        while not self.stop.is_set():
            for _ in range(200):
                n += 1
                v = b"%d:" % n + b"x" * (n % 300)
                self.p.produce("events", v, key=b"k%d" % (n % 97),
                               on_delivery=self.on_other)
                self.p.produce("short", v, on_delivery=self.on_other)
                self.p.produce("state", b"%d" % n,
                               key=b"key%d" % (n % KEYS),
                               on_delivery=self.on_state)
            self.p.poll(0)
            self.p.flush(10)
            time.sleep(0.01)
        self.p.flush(30)


class Group(threading.Thread):
    """A consumer group member on "events", committing after each poll."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                           "enable.auto.commit": False,
                           "auto.offset.reset": "earliest"})
        self.stop = threading.Event()
        self.commits = 0
        self.errors = []

    def run(self):
        self.c.subscribe(["events"])
        while not self.stop.is_set():
            msgs = self.c.consume(500, 0.2)
            if msgs:
                try:
                    self.c.commit(asynchronous=False)
                    self.commits += 1
                except Exception as e:  # noqa: BLE001
                    self.errors.append(str(e))
        self.c.close()


def watermarks(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return {(t, q): c.get_watermark_offsets(TopicPartition(t, q), 10)
                for t, (n, _) in TOPICS.items() for q in range(n)}
    finally:
        c.close()


def committed(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    try:
        tps = c.committed([TopicPartition("events", q)
                           for q in range(TOPICS["events"][0])], 10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def records(bootstrap, topic):
    """{partition: {offset: (key, value)}} of a whole topic, each partition
    from its log start."""
    out = {q: {} for q in range(TOPICS[topic][0])}
    for q, off, k, v in ndtest.read_topic(bootstrap, topic, timeout=120)[0]:
        out[q][off] = (k, v)
    return out


def main():
    nodata = ndtest.nodata_bin()
    tmp = tempfile.mkdtemp(prefix="nd-backup-")
    dest = os.path.join(tmp, "backup")
    try:
        run(nodata, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ndtest.passed()


def run(nodata, dest):
    args = ["--min-segment-bytes", "1024", "--log-cleaner-backoff-ms", "100",
            "--group-initial-delay-ms", "0"]
    with ndtest.Broker(args=args) as src:
        create_topics(src.bootstrap)
        prod, group = Produce(src.bootstrap), Group(src.bootstrap)
        prod.start()
        group.start()
        # Enough written that every topic has rolled, and the group has
        # committed: the backup then runs against all of it at once.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            wm = watermarks(src.bootstrap)
            if min(wm[("events", q)][1] for q in range(3)) > 3000 and \
                    wm[("short", 0)][0] > 0 and group.commits > 3:
                break
            time.sleep(0.5)
        else:
            ndtest.fail("the workload did not get going: %s, %d commits, "
                        "errors %s %s" % (wm, group.commits, prod.errors,
                                          group.errors))
        before = watermarks(src.bootstrap)
        committed_before = committed(src.bootstrap)
        with prod.lock:
            state_before = dict(prod.state_acked)
        out = subprocess.run([nodata, "backup", dest, "--data", src.data_dir],
                             capture_output=True, text=True, timeout=300)
        time.sleep(1)  # the writers go on after the backup too
        prod.stop.set()
        group.stop.set()
        prod.join(60)
        group.join(60)
        if out.returncode != 0:
            ndtest.fail("nodata backup exited %d: %s%s" % (
                out.returncode, out.stdout, out.stderr))
        print(out.stdout.strip().splitlines()[-1])
        if prod.errors or group.errors:
            ndtest.fail("workload errors: %s %s" % (prod.errors[:3],
                                                    group.errors[:3]))
        copied = {}
        for m in re.finditer(r"^copied (\S+)/(\d+): offsets (\d+) up to "
                             r"(\d+), ", out.stdout, re.M):
            copied[(m.group(1), int(m.group(2)))] = (int(m.group(3)),
                                                     int(m.group(4)))
        if set(copied) != set(before):
            ndtest.fail("backup named partitions %s, expected %s:\n%s"
                        % (sorted(copied), sorted(before), out.stdout))
        for tp, (lo, hi) in before.items():
            if copied[tp][1] < hi:
                ndtest.fail("%s/%d copied up to %d, below its high watermark "
                            "%d before the backup" % (tp + (copied[tp][1],
                                                            hi)))
        original = {t: records(src.bootstrap, t) for t in ("events", "short")}
        ndtest.stop_clean(src)

    v = subprocess.run([nodata, "verify", "--data", dest],
                       capture_output=True, text=True, timeout=300)
    if v.returncode != 0 or "no damage found" not in v.stdout:
        ndtest.fail("verify of the backup exited %d:\n%s%s"
                    % (v.returncode, v.stdout, v.stderr))

    with ndtest.Broker(data_dir=dest, args=args) as restored:
        wm = watermarks(restored.bootstrap)
        for tp, (lo, hi) in wm.items():
            if hi != copied[tp][1]:
                ndtest.fail("restored %s/%d ends at %d, the backup said %d"
                            % (tp + (hi, copied[tp][1])))
        for t in ("events", "short"):
            got = records(restored.bootstrap, t)
            for q in range(TOPICS[t][0]):
                lo, hi = copied[(t, q)]
                offs = sorted(got.get(q, {}))
                # From the log start (which retention on the restored
                # broker may move on while it runs) to the copied end,
                # without a gap.
                if not offs or offs != list(range(offs[0], hi)) or \
                        offs[0] < wm[(t, q)][0]:
                    ndtest.fail("restored %s/%d holds offsets %s..%s (%d), "
                                "expected from %d up to %d" % (
                                    t, q, offs[:1], offs[-1:], len(offs),
                                    wm[(t, q)][0], hi))
                for off in offs:
                    want = original[t].get(q, {}).get(off)
                    if want is not None and got[q][off] != want:
                        ndtest.fail("restored %s/%d offset %d is %r, the "
                                    "source has %r" % (t, q, off,
                                                       got[q][off][1][:40],
                                                       want[1][:40]))
                # Records below the source's start now (retention ran on)
                # are still checked for shape: "N:xxx", N rising.
                ns = [int(got[q][o][1].split(b":")[0]) for o in offs]
                if ns != sorted(ns) or len(set(ns)) != len(ns):
                    ndtest.fail("restored %s/%d: values out of order" % (t, q))
        newest = {}
        for part in records(restored.bootstrap, "state").values():
            for k, val in part.values():
                newest[k.decode()] = max(int(val), newest.get(k.decode(), -1))
        for k, n in state_before.items():
            if newest.get(k, -1) < n:
                ndtest.fail("restored 'state' key %s: newest value %s, but %d "
                            "was acknowledged before the backup"
                            % (k, newest.get(k), n))
        after = committed(restored.bootstrap)
        for q, off in committed_before.items():
            if after.get(q, -1) < off or after[q] > copied[("events", q)][1]:
                ndtest.fail("restored committed offset of events/%d is %s: "
                            "before the backup %d, copied end %d"
                            % (q, after.get(q), off,
                               copied[("events", q)][1]))
        print("restored: %d partitions, committed %s (before %s)"
              % (len(wm), after, committed_before))
        ndtest.stop_clean(restored)


if __name__ == "__main__":
    main()
