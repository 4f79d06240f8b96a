"""churn.py — consumer groups under churn (issue 22): members that log what
they are given and what they consume, a steady producer, a seeded schedule
of joins, clean leaves and SIGKILLs, and the checks and pause figures over
what the members logged. test_cgroup_churn.py and bench/broker/rebalance.py
use it; it runs in the venv of pyvenv.py (confluent-kafka from PyPI, whose
librdkafka speaks group.protocol=consumer).

A member is a process of its own (`python3 churn.py member ...`), so that
it can be killed with SIGKILL. Its log is a text file, one line per event,
each starting with time.monotonic() (CLOCK_MONOTONIC, one clock for every
process on the machine), written and flushed before the member acts on
what it logged, so that what a SIGKILL cuts off was never acted on:

    T S                          started, subscribing next
    T A p,p,...                  on_assign (eager: the whole set,
                                 incremental: what is added), logged first
    T R p,p,...                  on_revoke, logged after the commit of
                                 what it consumed of them
    T L p,p,...                  on_lost (no commit)
    T M p off0 off1 seq0         consumed offsets off0..off1 of p in one
                                 poll, whose values carry seq0.. in order
    T C p:off p:off ...          a commit that the broker accepted
    T E text                     an error (a failed commit, a consumer error)
    T X                          closed cleanly, exiting

Values are b"P:SEQ": SEQ counts the records produced to partition P, so a
record's content is checked as well as its offset.

Protocols (the `protocol` argument):
    consumer     group.protocol=consumer (KIP-848), the broker's assignor
                 (group.remote.assignor unset: the broker's default)
    classic      group.protocol=classic with librdkafka's default
                 partition.assignment.strategy, range,roundrobin: eager
                 range (the Java client's default list starts with range
                 too)
    cooperative  group.protocol=classic, cooperative-sticky
"""
import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOLS = ("consumer", "classic", "cooperative")


def now():
    return time.monotonic()


# ---- the member process -------------------------------------------------

def member_main(argv):
    ap = argparse.ArgumentParser(prog="churn.py member")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--protocol", choices=PROTOCOLS, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--commit-ms", type=int, default=250)
    ap.add_argument("--session-ms", type=int, default=0)
    ap.add_argument("--heartbeat-ms", type=int, default=0)
    ap.add_argument("--assignor", default="")
    ap.add_argument("--offset-reset", default="earliest")
    a = ap.parse_args(argv)
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    conf = {"bootstrap.servers": a.bootstrap, "group.id": a.group,
            "client.id": a.name, "enable.auto.commit": False,
            "auto.offset.reset": a.offset_reset,
            "group.protocol": "consumer" if a.protocol == "consumer"
            else "classic",
            # librdkafka's default, 1000 ms, stops fetching a member's
            # other partitions for a second each time it gives one up
            # (measured: the longest pause of partitions a member keeps
            # is 1.0-1.1 s with Kafka and either protocol's revocations,
            # 0.2 s with 50): a client backoff that would hide what the
            # broker and the protocol do. ND_CHURN_RDKAFKA overrides.
            "fetch.queue.backoff.ms": 50}
    if a.protocol == "consumer":
        if a.assignor:
            conf["group.remote.assignor"] = a.assignor
    else:
        conf["partition.assignment.strategy"] = (
            "cooperative-sticky" if a.protocol == "cooperative"
            else "range,roundrobin")
        if a.session_ms:
            conf["session.timeout.ms"] = a.session_ms
        if a.heartbeat_ms:
            conf["heartbeat.interval.ms"] = a.heartbeat_ms
    # ND_CHURN_RDKAFKA="k=v;k=v": more librdkafka settings (experiments,
    # e.g. "debug=cgrp,fetch": its lines go to the member's log.err).
    for kv in filter(None, os.environ.get("ND_CHURN_RDKAFKA", "").split(";")):
        k, v = kv.split("=", 1)
        conf[k] = v
    out = open(a.log, "a")

    def w(line):
        out.write("%.6f %s\n" % (now(), line))
        out.flush()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    owned = set()
    nxt = {}   # partition -> the offset after the last one consumed
    done = {}  # partition -> the offset last committed

    def commit(parts):
        todo = sorted((p, nxt[p]) for p in parts
                      if p in nxt and nxt[p] > done.get(p, -1))
        if not todo:
            return
        try:
            res = c.commit(offsets=[TopicPartition(a.topic, p, o)
                                    for p, o in todo], asynchronous=False)
        except KafkaException as e:
            w("E commit %s" % e)
            return
        ok = []
        for tp in res or []:
            if tp.error:
                w("E commit %d %s" % (tp.partition, tp.error))
            else:
                ok.append((tp.partition, tp.offset))
        for p, o in ok:
            done[p] = o
        if ok:
            w("C " + " ".join("%d:%d" % x for x in sorted(ok)))

    def on_assign(_c, parts):
        ps = sorted(tp.partition for tp in parts)
        w("A " + ",".join(map(str, ps)))
        owned.update(ps)

    def on_revoke(_c, parts):
        ps = sorted(tp.partition for tp in parts)
        commit(ps)
        for p in ps:
            owned.discard(p)
            nxt.pop(p, None)
            done.pop(p, None)
        w("R " + ",".join(map(str, ps)))

    def on_lost(_c, parts):
        ps = sorted(tp.partition for tp in parts)
        w("L " + ",".join(map(str, ps)))
        for p in ps:
            owned.discard(p)
            nxt.pop(p, None)
            done.pop(p, None)

    c = Consumer(conf)
    w("S")
    c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke,
                on_lost=on_lost)
    last_commit = now()
    while not stop:
        msgs = c.consume(1000, 0.05)
        runs = []  # [p, off0, off1, seq0]
        for m in msgs:
            if m.error():
                w("E consume %s" % m.error())
                continue
            p, off = m.partition(), m.offset()
            vp, seq = m.value().split(b":")
            if int(vp) != p:
                w("E value %r in partition %d" % (m.value(), p))
                continue
            seq = int(seq)
            r = next((r for r in runs if r[0] == p), None)
            if r and r[2] + 1 == off and r[3] + (off - r[1]) == seq:
                r[2] = off
            else:
                if r:  # not contiguous: close that run, start another
                    runs.remove(r)
                    w("M %d %d %d %d" % tuple(r))
                runs.append([p, off, off, seq])
            nxt[p] = off + 1
        if runs:
            out.write("".join("%.6f M %d %d %d %d\n" % ((now(),) + tuple(r))
                              for r in runs))
            out.flush()
        if now() - last_commit >= a.commit_ms / 1000:
            commit(owned)
            last_commit = now()
    # What was consumed is committed before leaving (a clean leave
    # duplicates nothing); close() then revokes (committing nothing more).
    commit(owned)
    c.close()
    w("X")
    out.close()
    return 0


# ---- the producer --------------------------------------------------------

class Producer(threading.Thread):
    """Produce `rate` records a second round-robin over the partitions of
    a topic, values b"P:SEQ", until stop(); delivered[p][seq] = offset."""

    def __init__(self, bootstrap, topic, partitions, rate):
        super().__init__(daemon=True)
        from confluent_kafka import Producer as P
        self.p = P({"bootstrap.servers": bootstrap, "linger.ms": 5,
                    "enable.idempotence": True})
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.delivered = [dict() for _ in range(partitions)]
        self.errors = []
        self.seq = [0] * partitions
        self._halt = threading.Event()

    def _cb(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
            return
        p = msg.partition()
        seq = int(msg.value().split(b":")[1])
        self.delivered[p][seq] = msg.offset()

    def run(self):
        t0, sent, q = now(), 0, 0
        while not self._halt.is_set():
            due = int((now() - t0) * self.rate)
            while sent < due:
                p = q % self.partitions
                q += 1
                self.p.produce(self.topic, b"%d:%d" % (p, self.seq[p]),
                               partition=p, on_delivery=self._cb)
                self.seq[p] += 1
                sent += 1
            self.p.poll(0)
            time.sleep(0.005)

    def stop(self):
        self._halt.set()
        self.join()
        left = self.p.flush(60)
        if left:
            self.errors.append("%d records not delivered in 60 s" % left)

    def ends(self):
        """partition -> offset after its last delivered record."""
        return {p: max(d.values()) + 1 for p, d in enumerate(self.delivered)
                if d}


def java_member():
    """The command line of ChurnMember.java, compiled on first use into
    the test cache (pyvenv.cache_dir()) under the hash of its source and
    of Kafka's classpath (tests/compat/apache_kafka.py)."""
    import fcntl
    import hashlib
    import apache_kafka
    import pyvenv
    cp = apache_kafka.classpath()
    src = os.path.join(HERE, "ChurnMember.java")
    with open(src, "rb") as f:
        key = hashlib.sha256(f.read() + cp.encode()).hexdigest()[:16]
    root = pyvenv.cache_dir()
    os.makedirs(root, exist_ok=True)
    classes = os.path.join(root, "churn-java-" + key)
    with open(classes + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(classes, "ChurnMember.class")):
            tmp = classes + ".tmp"
            os.makedirs(tmp, exist_ok=True)
            r = subprocess.run(["javac", "-cp", cp, "-d", tmp, src],
                               capture_output=True, timeout=300)
            if r.returncode != 0:
                raise RunError("javac ChurnMember.java: %s"
                               % (r.stdout + r.stderr).decode()[-2000:])
            os.replace(tmp, classes)
    # A small heap and the C1 compiler only: up to 11 of these share two
    # cores with the brokers.
    return ["java", "-Xmx128m", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-cp", classes + os.pathsep + cp,
            "ChurnMember"]


# ---- a member as the driver sees it ---------------------------------------

class Member:
    def __init__(self, run, name):
        self.run, self.name = run, name
        self.log = os.path.join(run.dir, name + ".log")
        self.owned = set()
        self.events = []    # (t, kind, [partitions]) for A R L
        self.consumed = []  # (t, p, off0, off1, seq0)
        self.commits = []   # (t, p, offset)
        self.errors = []
        self.started = self.exited = self.killed = None
        self.closed_cleanly = False
        self._pos = 0
        self._partial = ""
        flags = ["--bootstrap", run.bootstrap, "--group", run.group,
                 "--topic", run.topic, "--protocol", run.protocol,
                 "--name", name, "--log", self.log] + run.member_args
        if run.client == "java":
            cmd = java_member() + flags
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "member"] + flags
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log + ".err", "wb"))
        self.spawned = now()

    def alive(self):
        return self.exited is None

    def read(self):
        try:
            with open(self.log) as f:
                f.seek(self._pos)
                data = f.read()
                self._pos = f.tell()
        except FileNotFoundError:
            return
        data = self._partial + data
        lines = data.split("\n")
        self._partial = lines.pop()  # a line being written
        for line in lines:
            self._line(line)

    def _line(self, line):
        t, kind, *rest = line.split(" ", 2)
        t = float(t)
        arg = rest[0] if rest else ""
        if kind == "S":
            self.started = t
        elif kind in "ARL":
            ps = [int(x) for x in arg.split(",") if x]
            self.events.append((t, kind, ps))
            if kind == "A":
                self.owned.update(ps)
            else:
                self.owned.difference_update(ps)
        elif kind == "M":
            p, o0, o1, s0 = map(int, arg.split())
            self.consumed.append((t, p, o0, o1, s0))
        elif kind == "C":
            for x in arg.split():
                p, o = x.split(":")
                self.commits.append((t, int(p), int(o)))
        elif kind == "E":
            self.errors.append((t, arg))
        elif kind == "X":
            self.closed_cleanly = True

    def reap(self):
        """Note the exit of a process that ended."""
        if self.exited is None and self.proc.poll() is not None:
            self.exited = now()
            self.read()

    def stderr(self):
        try:
            with open(self.log + ".err", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


class RunError(Exception):
    pass


class Run:
    """One group on one broker: members come and go, a producer keeps
    producing, and the members' logs say what happened.

    member_args: extra `churn.py member` flags (session and heartbeat of
    classic members, the assignor, the offset reset). client: "python"
    (confluent-kafka) or "java" (kafka-clients 4.4, ChurnMember.java)."""

    def __init__(self, bootstrap, topic, partitions, protocol, group, dir,
                 member_args=(), log=print, client="python"):
        self.bootstrap, self.topic, self.partitions = (bootstrap, topic,
                                                       partitions)
        self.protocol, self.group, self.dir = protocol, group, dir
        self.member_args = list(member_args)
        self.client = client
        self.members = []
        self.rebalances = []  # (kind, member, t_event, t_settled)
        self.log = log
        self.producer = None
        self.ready = None  # when the first members settled
        os.makedirs(dir, exist_ok=True)

    def live(self):
        return [m for m in self.members if m.alive()]

    def poll(self):
        for m in self.members:
            m.read()
            m.reap()

    def spawn(self):
        m = Member(self, "m%d" % len(self.members))
        self.members.append(m)
        return m

    def leave(self, m):
        """A clean leave: SIGTERM, the member commits, closes, exits."""
        m.proc.send_signal(signal.SIGTERM)
        try:
            m.proc.wait(60)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait()
            raise RunError("%s did not close in 60 s:\n%s"
                           % (m.name, m.stderr()))
        m.reap()
        if not m.closed_cleanly:
            raise RunError("%s exited with %s without closing:\n%s"
                           % (m.name, m.proc.returncode, m.stderr()))

    def kill(self, m):
        m.proc.kill()
        m.proc.wait()
        m.reap()
        m.killed = m.exited

    def balanced(self):
        """Every partition owned by exactly one live member, the counts
        as even as they can be: the group reached its target."""
        live = self.live()
        if not live or any(m.started is None for m in live):
            return False
        seen = set()
        lo = self.partitions // len(live)
        hi = -(-self.partitions // len(live))
        for m in live:
            if m.owned & seen or not lo <= len(m.owned) <= hi:
                return False
            seen |= m.owned
        return len(seen) == self.partitions

    def wait_balanced(self, since, timeout):
        """Wait until balanced(); returns the time of the last assignment
        callback, the moment the group settled (at least `since`)."""
        deadline = now() + timeout
        while True:
            self.poll()
            if self.balanced():
                last = max((e[0] for m in self.live() for e in m.events),
                           default=since)
                return max(last, since)
            for m in self.members:
                if m.exited is not None and m.killed is None and \
                        not m.closed_cleanly:
                    raise RunError("%s died (status %s):\n%s"
                                   % (m.name, m.proc.returncode, m.stderr()))
            if now() > deadline:
                raise RunError("the group did not settle in %d s: %s"
                               % (timeout, self.state()))
            time.sleep(0.02)

    def state(self):
        return "; ".join("%s%s %s" % (m.name, "" if m.alive() else "(gone)",
                                      sorted(m.owned))
                         for m in self.members)

    def event(self, kind, timeout=90, quiet=1.5):
        """join / leave / kill, then wait until the group settles and
        `quiet` seconds more; records (kind, member, t_event, t_settled)."""
        if kind == "join":
            m = self.spawn()
            deadline = now() + 30
            while m.started is None:
                self.poll()
                if not m.alive() or now() > deadline:
                    raise RunError("%s did not start:\n%s"
                                   % (m.name, m.stderr()))
                time.sleep(0.01)
            t = m.started
        else:
            m = random.Random(len(self.rebalances)).choice(
                sorted(self.live(), key=lambda x: x.name))
            t = now()
            (self.leave if kind == "leave" else self.kill)(m)
        settled = self.wait_balanced(t, timeout)
        self.rebalances.append((kind, m.name, t, settled))
        self.log("  %-5s %-3s settled in %6.3f s  %s"
                 % (kind, m.name, settled - t, self.state()))
        time.sleep(quiet)
        return settled - t

    def close(self):
        for m in self.members:
            if m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait()
        if self.producer is not None and self.producer.is_alive():
            self.producer.stop()


# ---- checks over the logs --------------------------------------------------

def intervals(run):
    """{partition: [(start, end, member)]}: each member's ownership of each
    partition, from its callbacks; one cut short by the member's exit ends
    there (a SIGKILL: the kill)."""
    out = {p: [] for p in range(run.partitions)}
    for m in run.members:
        open_ = {}
        for t, kind, ps in m.events:
            for p in ps:
                if kind == "A":
                    open_.setdefault(p, t)
                elif p in open_:
                    out[p].append((open_.pop(p), t, m.name))
        end = m.exited if m.exited is not None else float("inf")
        for p, t in open_.items():
            out[p].append((t, end, m.name))
    for p in out:
        out[p].sort()
    return out


def check(run, ends):
    """The correctness properties; a list of what is wrong (empty: none).

    ends: partition -> offset after the last record produced to it."""
    bad = []
    ivs = intervals(run)
    by_name = {m.name: m for m in run.members}
    # 1. no partition owned by two members at once
    for p, iv in ivs.items():
        for (s0, e0, m0), (s1, e1, m1) in zip(iv, iv[1:]):
            if s1 < e0:
                bad.append("partition %d: %s owned it %.3f-%.3f and %s from "
                           "%.3f" % (p, m0, s0, e0, m1, s1))
    # 2. every consumption within one of the member's ownership intervals
    for m in run.members:
        for t, p, o0, o1, s0 in m.consumed:
            if not any(n == m.name and s <= t <= e for s, e, n in ivs[p]):
                bad.append("%s consumed %d/%d-%d at %.3f without owning it"
                           % (m.name, p, o0, o1, t))
    # 3. every record produced consumed, with the content produced
    seen = {}  # (p, off) -> [(t, member)]
    for m in run.members:
        for t, p, o0, o1, s0 in m.consumed:
            for k in range(o1 - o0 + 1):
                off, seq = o0 + k, s0 + k
                want = run.producer.delivered[p].get(seq)
                if want != off:
                    bad.append("%s read seq %d of partition %d at offset %d "
                               "(produced at %s)" % (m.name, seq, p, off, want))
                seen.setdefault((p, off), []).append((t, m.name))
    missing = [(p, o) for p, d in enumerate(run.producer.delivered)
               for o in d.values() if (p, o) not in seen]
    if missing:
        bad.append("%d records produced were never consumed, e.g. %s"
                   % (len(missing), sorted(missing)[:10]))
    # 4. duplicates only past a killed member's last commit
    dups, explained = 0, 0
    for (p, off), who in seen.items():
        if len(who) < 2:
            continue
        who.sort()
        for (t0, m0), (t1, m1) in zip(who, who[1:]):
            dups += 1
            k = by_name[m0]
            committed = max((o for t, q, o in
                             (c for mm in run.members for c in mm.commits)
                             if q == p and t <= (k.killed or -1)),
                            default=0)
            if k.killed is not None and t0 <= k.killed and off >= committed:
                explained += 1
            else:
                bad.append("partition %d offset %d consumed by %s at %.3f "
                           "and again by %s at %.3f" % (p, off, m0, t0, m1,
                                                        t1))
    for m in run.members:
        for t, e in m.errors:
            bad.append("%s: %s" % (m.name, e))
    return bad, {"duplicates": dups, "explained": explained,
                 "records": sum(len(d) for d in run.producer.delivered)}


def owner_at(ivs, p, t):
    for s, e, n in ivs[p]:
        if s <= t < e:
            return n
    return None


def pauses(run):
    """Per rebalance, the longest consumption pause of each partition whose
    owner was the same before and after it: from the last record consumed
    before the event to the first after the group settled, the longest
    time between two polls that returned records of it.

    Returns (list of (kind, member, settle_s, longest_pause_s or None,
    unaffected_count)), and the longest gap between consumptions of any
    partition outside the rebalances (the baseline: from a second after the
    first members settled, what is more than a second away from a
    rebalance)."""
    ivs = intervals(run)
    times = {p: [] for p in range(run.partitions)}
    for m in run.members:
        for t, p, *_ in m.consumed:
            times[p].append(t)
    for p in times:
        times[p].sort()
    import bisect
    out = []
    windows = []
    for kind, name, t0, t1 in run.rebalances:
        longest, n = None, 0
        for p in range(run.partitions):
            before, after = owner_at(ivs, p, t0), owner_at(ivs, p, t1)
            if before is None or before != after or before == name:
                continue
            ts = times[p]
            i = max(bisect.bisect_right(ts, t0) - 1, 0)
            j = min(bisect.bisect_left(ts, t1), len(ts) - 1)
            gaps = [b - a for a, b in zip(ts[i:j + 1], ts[i + 1:j + 1])]
            n += 1
            if gaps:
                longest = max(longest or 0, max(gaps))
        out.append((kind, name, t1 - t0, longest, n))
        windows.append((t0, t1))
    base = 0.0
    for p, ts in times.items():
        for a, b in zip(ts, ts[1:]):
            if a >= (run.ready or 0) + 1 and not any(w0 - 1 <= b and a <= w1 + 1 for w0, w1 in windows):
                base = max(base, b - a)
    return out, base


def schedule(seed, events, start, most, kills):
    """A seeded list of `events` kinds (join/leave/kill) from `start` live
    members: at most `most` live, at least 2, at most `kills` kills, every
    kind at least once and `most` reached at least once."""
    rng = random.Random(seed)
    while True:
        live, out, k = start, [], 0
        for _ in range(events):
            kinds = []
            if live < most:
                kinds += ["join"] * 2
            if live > 2:
                kinds += ["leave"]
                if k < kills:
                    kinds += ["kill"]
            kind = rng.choice(kinds)
            k += kind == "kill"
            live += 1 if kind == "join" else -1
            out.append(kind)
        reached, live = False, start
        for kind in out:
            live += 1 if kind == "join" else -1
            reached |= live == most
        if reached and {"join", "leave", "kill"} <= set(out):
            return out


def create_topic(bootstrap, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(topic, partitions, 1)])
    fs[topic].result(60)
    # Until every partition has a leader in the metadata
    deadline = now() + 60
    while now() < deadline:
        md = a.list_topics(topic, 10).topics.get(topic)
        if md and len(md.partitions) == partitions and \
                all(x.leader >= 0 for x in md.partitions.values()):
            return
        time.sleep(0.1)
    raise RunError("topic %s has no leaders after 60 s" % topic)


def group_type(bootstrap, group):
    """The group's type as the admin client describes it ("CONSUMER",
    "CLASSIC") and its state."""
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": bootstrap})
    d = a.describe_consumer_groups([group])[group].result(30)
    return d.type.name, d.state.name


# Broker settings of the churn runs, the same on both brokers: sessions
# of 6 s (Kafka's group.min.session.timeout.ms; the consumer protocol's
# minimum is 45 s unless lowered) so a killed member is noticed quickly,
# and consumer-protocol heartbeats every second (Kafka's default is 5 s)
# so that a run of several rebalances fits a test. Classic members set
# theirs in the client (CLASSIC_ARGS).
FAST_GROUP_PROPS = [
    "group.consumer.min.session.timeout.ms=6000",
    "group.consumer.session.timeout.ms=6000",
    "group.consumer.min.heartbeat.interval.ms=1000",
    "group.consumer.heartbeat.interval.ms=1000",
]
CLASSIC_ARGS = ["--session-ms", "6000", "--heartbeat-ms", "1000"]


def churn(bootstrap, protocol, seed, dir, partitions=24, rate=960,
          events=7, start=4, most=6, kills=2, log=print, client="python"):
    """The churn scenario on one broker with one protocol: `start`
    members, then the seeded schedule of joins, clean leaves and kills
    (one rebalance each, waited for), all under steady produce; then the
    records are read to the end and every member leaves.

    Returns (run, problems, stats, pauses, baseline, group type)."""
    topic = "churn-%s-%s-%d" % (client, protocol, seed)
    create_topic(bootstrap, topic, partitions)
    run = Run(bootstrap, topic, partitions, protocol, topic,
              dir, CLASSIC_ARGS if protocol != "consumer" else [], log=log,
              client=client)
    gtype = None
    try:
        run.producer = Producer(bootstrap, topic, partitions, rate)
        run.producer.start()
        for _ in range(start):
            run.spawn()
        run.ready = run.wait_balanced(now(), 90)
        time.sleep(1.5)
        gtype = group_type(bootstrap, run.group)
        for kind in schedule(seed, events, start, most, kills):
            run.event(kind)
        run.producer.stop()
        ends = run.producer.ends()
        deadline = now() + 60
        while True:
            run.poll()
            got = {}
            for m in run.members:
                for t, p, o0, o1, s0 in m.consumed:
                    got[p] = max(got.get(p, 0), o1 + 1)
            if all(got.get(p, 0) >= e for p, e in ends.items()):
                break
            if now() > deadline:
                raise RunError("not every record consumed 60 s after the "
                               "last was produced: %s of %s"
                               % (got, ends))
            time.sleep(0.05)
        for m in run.live():
            run.leave(m)
    finally:
        run.close()
    if run.producer.errors:
        raise RunError("producing: %s" % run.producer.errors[:5])
    bad, stats = check(run, ends)
    pz, base = pauses(run)
    return run, bad, stats, pz, base, gtype


def fmt_pauses(pz, base):
    """The pause figures of pauses() as text lines."""
    lines = []
    for kind, name, settle, longest, n in pz:
        lines.append("    %-5s %-3s settled %6.3f s, %2d unaffected "
                     "partitions, longest pause %s"
                     % (kind, name, settle, n,
                        "-" if longest is None else "%.3f s" % longest))
    ps = [x[3] for x in pz if x[3] is not None]
    lines.append("    longest pause of an unaffected partition: %s "
                 "(median of the rebalances' longest %s); longest gap "
                 "outside rebalances %.3f s"
                 % ("%.3f s" % max(ps) if ps else "-",
                    "%.3f s" % statistics.median(ps) if ps else "-", base))
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "member":
        sys.exit(member_main(sys.argv[2:]))
    sys.exit("usage: churn.py member ...")
