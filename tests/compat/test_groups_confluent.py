"""test_groups_confluent.py — three confluent-kafka (librdkafka) consumers
in one group on a 6-partition topic against `nodata serve`.

1. The three share the partitions (2 each; AdminClient.list_groups shows
   the Stable group with its three members) and every produced message is
   consumed exactly once across them (each commits synchronously after
   each message).
2. One is killed with SIGKILL (no LeaveGroup): within its session timeout
   its partitions move to the other two, which go on from its committed
   positions (nothing skipped, nothing read twice), and consume what is
   produced meanwhile.
3. The survivors close, the broker restarts, more is produced, and a new
   consumer of the group reads exactly the new messages: the committed
   offsets survived the restart.

Each consumer runs in its own process (this script with --consumer) and
reports assignments and messages as JSON lines on stdout.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

TOPIC = "grp-confluent"
GROUP = "grp-confluent-g"
PARTS = 6
SESSION_MS = 6000


def consumer_main(bootstrap, name):
    from confluent_kafka import Consumer, KafkaException

    def out(**kw):
        kw["c"] = name
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()

    def on_assign(c, parts):
        out(ev="assign", parts=sorted(p.partition for p in parts))

    def on_revoke(c, parts):
        out(ev="revoke", parts=sorted(p.partition for p in parts))

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "client.id": name, "session.timeout.ms": SESSION_MS,
                  "heartbeat.interval.ms": 500,
                  "enable.auto.commit": False,
                  "auto.offset.reset": "earliest",
                  "topic.metadata.refresh.interval.ms": 2000})
    c.subscribe([TOPIC], on_assign=on_assign, on_revoke=on_revoke)
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()  # EOF: the test wants us to close
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.is_set():
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            out(ev="error", what=str(m.error()))
            continue
        # Report before committing: a crash in between reads it again
        # (at least once), never skips it.
        out(ev="msg", p=m.partition(), o=m.offset(), v=m.value().decode())
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            out(ev="commit-error", what=str(e))
    c.close()
    out(ev="closed")


class Worker:
    def __init__(self, bootstrap, name, events):
        self.name = name
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--consumer",
             bootstrap, name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            preexec_fn=lambda: os.setpgid(0, 0))
        self.assigned = []
        threading.Thread(target=self._read, args=(events,), daemon=True).start()

    def _read(self, events):
        for line in self.p.stdout:
            try:
                events.put(json.loads(line))
            except ValueError:
                events.put({"ev": "junk", "c": self.name, "line": repr(line)})
        events.put({"ev": "exit", "c": self.name})

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass

    def kill(self):
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()


class Run:
    """Collects what the consumers report."""

    def __init__(self):
        self.events = queue.Queue()
        self.workers = {}
        self.seen = {}  # value -> [(consumer, partition, offset)]
        self.assigned = {}  # consumer -> partitions
        self.last = {}  # (consumer, partition) -> last offset reported
        self.first_after = {}  # partition -> first offset seen after a mark
        self.mark = False

    def start(self, bootstrap, name):
        self.workers[name] = Worker(bootstrap, name, self.events)

    def pump(self, until, timeout, what):
        deadline = time.time() + timeout
        while not until():
            left = deadline - time.time()
            if left <= 0:
                ndtest.fail("timed out waiting for %s; assigned %s, %d values"
                            % (what, self.assigned, len(self.seen)))
            try:
                e = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.handle(e)

    def handle(self, e):
        c, ev = e.get("c"), e.get("ev")
        if ev in ("error", "commit-error", "junk"):
            ndtest.fail("consumer %s reported %s" % (c, e))
        elif ev == "assign":
            self.assigned[c] = e["parts"]
        elif ev == "revoke":
            self.assigned[c] = []
        elif ev == "msg":
            self.seen.setdefault(e["v"], []).append((c, e["p"], e["o"]))
            self.last[(c, e["p"])] = e["o"]
            if self.mark and e["p"] not in self.first_after:
                self.first_after[e["p"]] = (c, e["o"])
        elif ev in ("exit", "closed"):
            self.assigned[c] = []

    def balanced(self, names, total):
        parts = [p for n in names for p in self.assigned.get(n, [])]
        return sorted(parts) == list(range(total)) and \
            all(self.assigned.get(n) for n in names)


def produce(bootstrap, prefix, n):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(TOPIC, key=str(i).encode(), value=("%s-%d" % (prefix, i)).encode())
    left = p.flush(30)
    if left:
        ndtest.fail("%d messages not delivered" % left)
    return ["%s-%d" % (prefix, i) for i in range(n)]


def main():
    ndtest.require("confluent_kafka")
    from confluent_kafka.admin import AdminClient, NewTopic

    with ndtest.Broker(args=["--group-initial-delay-ms", "1000"]) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        fs = admin.create_topics([NewTopic(TOPIC, PARTS, 1)])
        fs[TOPIC].result(20)
        del admin, fs  # its connection would complain through the restart

        run = Run()
        names = ["c1", "c2", "c3"]
        for n in names:
            run.start(b.bootstrap, n)
        run.pump(lambda: run.balanced(names, PARTS), 40, "three-way assignment")
        for n in names:
            if len(run.assigned[n]) != 2:
                ndtest.fail("unbalanced assignment %s" % run.assigned)

        # 1. Exactly once across the members.
        vals = produce(b.bootstrap, "one", 600)
        run.pump(lambda: all(v in run.seen for v in vals), 40, "phase 1")
        time.sleep(1)
        while not run.events.empty():
            run.handle(run.events.get())
        dup = {v: s for v, s in run.seen.items() if len(s) > 1}
        if dup:
            ndtest.fail("consumed twice: %s" % list(dup.items())[:5])
        by = {n: sum(1 for s in run.seen.values() if s[0][0] == n)
              for n in names}
        if not all(by.values()):
            ndtest.fail("a consumer got nothing: %s" % by)
        extra = set(run.seen) - set(vals)
        if extra:
            ndtest.fail("unexpected values %s" % list(extra)[:5])

        # librdkafka's view of the group (ListGroups + DescribeGroups).
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        gl = admin.list_groups(GROUP, timeout=10)
        if len(gl) != 1 or gl[0].state != "Stable" or \
                gl[0].protocol != "range" or len(gl[0].members) != 3 or \
                sorted(m.client_id for m in gl[0].members) != names:
            ndtest.fail("list_groups: %s" % [(g.id, g.state, g.protocol,
                                              len(g.members)) for g in gl])
        del admin

        # 2. Kill one without a LeaveGroup: the others take its partitions
        # within its session timeout, from its committed positions.
        victim = "c2"
        lost = list(run.assigned[victim])
        last_of = {p: run.last.get((victim, p), -1) for p in lost}
        run.mark = True
        t0 = time.time()
        run.workers[victim].kill()
        vals2 = produce(b.bootstrap, "two", 300)
        survivors = ["c1", "c3"]
        run.pump(lambda: run.balanced(survivors, PARTS), SESSION_MS / 1000 + 20,
                 "reassignment after the kill")
        took = time.time() - t0
        if took > SESSION_MS / 1000 + 5:
            ndtest.fail("partitions moved after %.1f s (session %d ms)"
                        % (took, SESSION_MS))
        print("partitions %s of the killed consumer moved in %.1f s"
              % (lost, took))
        run.pump(lambda: all(v in run.seen for v in vals2), 40, "phase 2")
        time.sleep(1)
        while not run.events.empty():
            run.handle(run.events.get())
        for p in lost:
            who, first = run.first_after.get(p, (None, None))
            if who not in survivors or first != last_of[p] + 1:
                ndtest.fail("partition %d: first read after the kill %s at %s,"
                            " last read by %s at %d" % (p, who, first, victim,
                                                        last_of[p]))
        dup = {v: s for v, s in run.seen.items() if len(s) > 1}
        if dup:
            ndtest.fail("consumed twice: %s" % list(dup.items())[:5])

        # 3. Close, restart the broker, resume from the committed offsets.
        for n in survivors:
            run.workers[n].close()
        run.pump(lambda: all(run.workers[n].p.poll() is not None
                             for n in survivors), 30, "survivors to close")
        b.restart()
        vals3 = produce(b.bootstrap, "three", 120)
        before = set(run.seen)
        run.start(b.bootstrap, "c4")
        run.pump(lambda: all(v in run.seen for v in vals3), 40, "phase 3")
        time.sleep(2)
        while not run.events.empty():
            run.handle(run.events.get())
        again = [v for v in before if len(run.seen[v]) > 1]
        if again:
            ndtest.fail("read again after the restart: %s" % again[:5])
        run.workers["c4"].close()
        run.workers["c4"].p.wait(30)

        code = b.stop()
        if code != 0:
            ndtest.fail("nodata serve exited with %s" % code)
        err = b.stderr()
        if "Sanitizer" in err or "runtime error" in err:
            ndtest.fail("sanitizer report:\n%s" % err[-4000:])
    ndtest.passed()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--consumer":
        consumer_main(sys.argv[2], sys.argv[3])
    else:
        main()
