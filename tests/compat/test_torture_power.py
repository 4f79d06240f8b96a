"""test_torture_power.py — kill -9 and power cuts of the broker under mixed
load, its data directory on a loop-mounted ext4 image (root only).

Load, for the whole test (clients survive every crash and reconnect):
  - an idempotent acks=all producer on topic "tall" (2 partitions),
  - an acks=1 producer on topic "tone" (2 partitions),
  both with segment.bytes=16384, so segments roll many times a second;
  - one consumer group per topic ("gall", "gone"), each consuming and
    committing synchronously after every poll, so offsets-log appends (and
    its compactions) are under way at every crash.

Each round lets the load run for a random moment, then either
  kill:  SIGKILL the broker, or
  power: SIGSTOP the broker (the CPU stops), EXT4_IOC_SHUTDOWN with
         EXT4_GOING_FLAGS_NOLOGFLUSH on the file system (it stops at once
         and drops whatever is not on the device yet, journal included, as
         a power cut would), SIGKILL the broker, umount, mount again (the
         journal is replayed),
and restarts the broker on the same data and port. Then, with the group
consumers held still, each group's committed offsets (OffsetFetch) must be
the last commit the broker acknowledged, or one it was sent after that and
never answered (a crash can eat the answer). Every --verify-every rounds
and at the end every partition is read back whole and compared with the
delivery reports:
  acks=all: every acknowledged record exactly once, at its offset,
            byte-identical (0 lost, 0 moved, 0 duplicates);
  acks=1:   answered after the write to the page cache (docs/protocol.md),
            so a power cut may lose the unsynced tail, kill -9 may not;
            duplicates are possible (a retry of a request whose answer
            the crash ate: acks=1 cannot be idempotent) and are counted;
  both:     offsets dense, no offset delivered twice.
Right after each restart, too, every partition of the acks=all topic must
end after the last offset acknowledged before the crash; if not, the files
as the crash left them are printed (recovery point, last segments).
One summary line gives the figures. Seeded: ND_TORTURE_SEED repeats a run;
ND_POWER_TORTURE_ROUNDS rounds (default 10, 6 under ND_SANITIZE), half kill,
half power, in a seeded order; ND_POWER_TORTURE_VERIFY_EVERY (default 10).
ND_POWER_TORTURE_COMPACTIONS=1 adds a kafka-python committer with 1 KiB of
metadata per commit, so offsets.log is compacted about every second and
crashes are also triggered as a compaction begins (off by default: under
that load the groups stall now and then, see tests/README.md).
"""
import hashlib
import os
import random
import shutil
import signal
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import torture  # noqa: E402

if os.geteuid() != 0:
    ndtest.skip("mounting an ext4 image needs root")
for tool in ("mkfs.ext4", "mount", "umount"):
    if shutil.which(tool) is None:
        ndtest.skip("%s is not installed" % tool)
from confluent_kafka import (Consumer, KafkaError, KafkaException,  # noqa: E402
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
metadata_committer = os.environ.get("ND_POWER_TORTURE_COMPACTIONS") == "1"
if metadata_committer:
    kafka = ndtest.require("kafka")
    import kafka.errors  # noqa: E402

TOPICS = {"tall": "all", "tone": "1"}  # topic -> acks
GROUPS = {"tall": "gall", "tone": "gone"}
PARTITIONS = 2
SEGMENT_BYTES = 16384

seed = int(os.environ.get("ND_TORTURE_SEED", str(int(time.time()))))
default_rounds = "6" if os.environ.get("ND_SANITIZE") == "ON" else "10"
rounds = int(os.environ.get("ND_POWER_TORTURE_ROUNDS", default_rounds))
verify_every = int(os.environ.get("ND_POWER_TORTURE_VERIFY_EVERY", "10"))
rng = random.Random(seed)
kinds = ["kill"] * (rounds // 2) + ["power"] * (rounds - rounds // 2)
rng.shuffle(kinds)
print("power torture: seed %d, %d rounds (ND_TORTURE_SEED=%d repeats)"
      % (seed, rounds, seed), flush=True)

cuts = []           # kind of each crash so far, in order
acks = torture.Acks()


KafkaErrors = kafka.errors.KafkaError if metadata_committer else KafkaException


class Committer(threading.Thread):
    """Commits offsets for a group in a loop, synchronously, and records
    per partition the last commit the broker acknowledged and those sent
    after it. hold() stops it between two commits. A subclass gives
    next_commit() ({partition: offset}, or nothing) and commit(offsets),
    which returns the partitions acknowledged and raises if the request
    failed."""

    consumes = True   # its offsets are positions it consumed up to

    def __init__(self, topic, group):
        super().__init__(daemon=True)
        self.topic, self.group = topic, group
        self.lock = threading.Lock()
        self.acked = {}      # partition -> last acknowledged commit
        self.since = {}      # partition -> commits sent after it
        self.commits = 0
        self.held = threading.Event()
        self.idle = threading.Event()
        self.done = False

    def run(self):
        while not self.done:
            if self.held.is_set():
                self.idle.set()
                time.sleep(0.01)
                continue
            self.idle.clear()
            pos = self.next_commit()
            if not pos:
                continue
            with self.lock:
                for p, off in pos.items():
                    self.since.setdefault(p, set()).add(off)
            try:
                ok = self.commit(pos)
            except Exception as e:   # the request failed: not acknowledged
                if not isinstance(e, (KafkaException, KafkaErrors)):
                    raise
                continue
            with self.lock:
                for p in ok:
                    self.acked[p] = pos[p]
                    self.since[p] = set()
                    self.commits += 1

    def hold(self, timeout=60):
        self.held.set()
        if not self.idle.wait(timeout):
            ndtest.fail("group %s: still committing after %ds"
                        % (self.group, timeout))

    def release(self):
        self.idle.clear()
        self.held.clear()

    def stop(self):
        self.done = True
        self.join(15)
        if not self.is_alive():   # closing a client still in use could hang
            self.c.close()


class Group(Committer):
    """A consumer group member (confluent-kafka) that commits what it
    consumed after every poll."""

    def __init__(self, bootstrap, topic):
        super().__init__(topic, GROUPS[topic])
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": self.group,
                           "enable.auto.commit": False,
                           "auto.offset.reset": "latest",
                           "session.timeout.ms": 6000,
                           "heartbeat.interval.ms": 500,
                           "reconnect.backoff.ms": 20,
                           "reconnect.backoff.max.ms": 200,
                           "log_level": 2})
        self.c.subscribe([topic])

    def next_commit(self):
        pos = {}
        for m in self.c.consume(num_messages=200, timeout=0.05):
            if not m.error():
                pos[m.partition()] = m.offset() + 1
        return pos

    def commit(self, pos):
        res = self.c.commit(offsets=[TopicPartition(self.topic, p, o)
                                     for p, o in pos.items()],
                            asynchronous=False)
        return [tp.partition for tp in res if tp.error is None]


class MetaCommitter(Committer):
    """Commits without consuming (a group with no members, as Kafka's
    standalone consumers do; kafka-python, which sends commit metadata),
    each commit with 1 KiB of metadata, so that offsets.log grows past its
    compaction threshold often and crashes also land while it is being
    rewritten."""

    consumes = False

    def __init__(self, bootstrap, topic):
        super().__init__(topic, "gmeta")
        self.c = kafka.KafkaConsumer(bootstrap_servers=bootstrap,
                                     group_id=self.group,
                                     enable_auto_commit=False,
                                     reconnect_backoff_ms=20,
                                     reconnect_backoff_max_ms=200)
        self.tps = [kafka.TopicPartition(topic, p) for p in range(PARTITIONS)]
        self.c.assign(self.tps)
        self.k = 0

    def next_commit(self):
        # About 50 commits a second: offsets.log passes its compaction
        # threshold about once a second without crowding out the groups.
        time.sleep(0.02)
        self.k += 1
        return {tp.partition: self.k for tp in self.tps}

    def commit(self, pos):
        self.c.commit({tp: kafka.OffsetAndMetadata(
            pos[tp.partition], "m%d-" % pos[tp.partition] + "x" * 1024)
            for tp in self.tps})
        return list(pos)


class Totals:
    def __init__(self):
        self.all = torture.Figures()
        self.one = torture.Figures()
        self.one_lost_kill_only = 0
        self.regressions = 0
        self.unexplained = 0
        self.beyond_end = {"tall": 0, "tone": 0}
        self.fresh_segment = 0
        self.in_compaction = 0
        self.cut_at_compaction = 0
        self.compacted = 0
        self.offsets_inode = None
        self.producer_fatal = 0
        self.first_problem = None

    def note(self, msg):
        print("power torture: " + msg, flush=True)
        if self.first_problem is None:
            self.first_problem = msg


tot = Totals()


def check_commits(bootstrap, groups, r):
    """The committed offsets after a crash, against what the groups were
    told (groups held)."""
    for g in groups:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": g.group,
                      "enable.auto.commit": False, "log_level": 2})
        try:
            tps = [TopicPartition(g.topic, p) for p in range(PARTITIONS)]
            got = c.committed(tps, timeout=30)
            ends = {p: c.get_watermark_offsets(TopicPartition(g.topic, p),
                                               timeout=30)[1]
                    for p in range(PARTITIONS)}
        finally:
            c.close()
        with g.lock:
            acked, since = dict(g.acked), {p: set(s) for p, s in g.since.items()}
        for tp in got:
            p, off = tp.partition, tp.offset   # -1001: none
            want = acked.get(p)
            allowed = {want if want is not None else -1001}
            allowed |= since.get(p, set())
            if off not in allowed:
                if want is not None and off < want:
                    tot.regressions += 1
                    kind = "regression"
                else:
                    tot.unexplained += 1
                    kind = "unexplained value"
                tot.note("round %d (%s): group %s %s/%d committed %d, last "
                         "acknowledged %s, sent since %s: %s"
                         % (r, cuts[-1], g.group, g.topic, p, off, want,
                            sorted(since.get(p, ())), kind))
            if g.consumes and off > ends[p]:
                tot.beyond_end[g.topic] += 1


def after_crash(data):
    """What the crash interrupted, seen from the files before recovery:
    partitions whose newest segment holds less than one 4 KiB page (the
    crash came just after a roll), a compaction of offsets.log under way
    (its tmp file is there) or done since the last crash (a new inode)."""
    top = os.path.join(data, "topics")
    for t in os.listdir(top):
        for p in os.listdir(os.path.join(top, t)):
            d = os.path.join(top, t, p)
            if not os.path.isdir(d):
                continue
            logs = sorted(f for f in os.listdir(d) if f.endswith(".log"))
            if len(logs) > 1 and os.path.getsize(os.path.join(d, logs[-1])) < 4096:
                tot.fresh_segment += 1
    log = os.path.join(data, "groups", "offsets.log")
    if os.path.exists(log + ".tmp"):
        tot.in_compaction += 1
    if os.path.exists(log):
        ino = os.stat(log).st_ino
        if tot.offsets_inode is not None and ino != tot.offsets_inode:
            tot.compacted += 1
        tot.offsets_inode = ino


def tail_view(data, topic):
    """For each partition of topic, as the crash left it (before recovery):
    the recovery point and the last segments, each with its size and what
    a walk of its batch headers finds; printed when a crash lost
    acknowledged records."""
    d = os.path.join(data, "topics", hashlib.sha256(topic.encode()).hexdigest())
    out = {}
    for p in range(PARTITIONS):
        pd = os.path.join(d, str(p))
        try:
            with open(os.path.join(pd, "recovery-point")) as f:
                rp = f.read().strip()
        except OSError:
            rp = None
        logs = sorted(f for f in os.listdir(pd) if f.endswith(".log"))
        segs = []
        for name in logs[-3:]:
            with open(os.path.join(pd, name), "rb") as f:
                b = f.read()
            pos, first, last = 0, None, None
            while pos + 61 <= len(b):
                base, length = struct.unpack_from(">qi", b, pos)
                if length < 49 or b[pos + 16] != 2 or pos + 12 + length > len(b):
                    break
                first = base if first is None else first
                last = base + struct.unpack_from(">i", b, pos + 23)[0]
                pos += 12 + length
            segs.append("%s: %d bytes, batches %s..%s end at byte %d"
                        % (name, len(b), first, last, pos))
        out[p] = "recovery-point %s; %s" % (rp, "; ".join(segs))
    return out


def check_acked_end(bootstrap, view, r):
    """Right after a restart: a partition of the acks=all topic must end
    after the last offset acknowledged before the crash."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "torture-check",
                  "log_level": 2})
    try:
        for p in range(PARTITIONS):
            got = acks.of("tall", p)
            top = max((o for o, _ in got.values()), default=-1)
            end = c.get_watermark_offsets(TopicPartition("tall", p),
                                          timeout=30)[1]
            if end <= top:
                tot.note("round %d (%s): tall/%d ends at %d after the "
                         "restart, offset %d was acknowledged before the "
                         "crash; as the crash left it: %s"
                         % (r, cuts[-1], p, end, top, view[p]))
    finally:
        c.close()


def segments(data):
    top = os.path.join(data, "topics")
    return sum(1 for _, _, files in os.walk(top)
               for f in files if f.endswith(".log"))


def verify(bootstrap, final=False):
    """Read every partition back and compare it with the delivery reports."""
    for topic, ack in TOPICS.items():
        for p in range(PARTITIONS):
            f = torture.compare(torture.read_partition(bootstrap, topic, p),
                                acks.of(topic, p))
            if ack == "all":
                bad = f.lost or f.moved or f.duplicates or f.twice or f.gaps
            else:
                # Lost without a power cut since it was produced: kill -9
                # keeps the page cache, so acks=1 must survive it.
                got = acks.of(topic, p)
                kill_only = sum(1 for v in f.lost_values
                                if "power" not in cuts[got[v][1]:])
                bad = f.twice or f.gaps or kill_only
                if final:
                    tot.one_lost_kill_only += kill_only
            if bad:
                tot.note("after %d crashes (%s): %s/%d (acks=%s): %s; first: "
                         "%s" % (len(cuts), ",".join(cuts[-3:]), topic, p,
                                 ack, f, f.first_problem))
            if final:
                (tot.all if ack == "all" else tot.one).add(f)


def payload(n):
    # Distinct bytes in every record, so byte-identity means something.
    return (b"%08x" % ((n * 2654435761) & 0xFFFFFFFF)) * 12


# A SIGTERM (ctest, a user) must still unmount: exit through the finally.
signal.signal(signal.SIGTERM, lambda *_: sys.exit("power torture: SIGTERM"))
fs = torture.Ext4Image()
broker = groups = None
try:
    # 16 KiB segments are below Kafka's 1 MiB floor: allowed for this test.
    broker = ndtest.Broker(data_dir=os.path.join(fs.dir, "data"),
                           args=["--group-initial-delay-ms", "0",
                                 "--min-segment-bytes", str(SEGMENT_BYTES)])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap,
                         "log_level": 2})
    for f in admin.create_topics(
            [NewTopic(t, PARTITIONS, 1,
                      config={"segment.bytes": str(SEGMENT_BYTES)})
             for t in TOPICS]).values():
        f.result(30)
    common = {"bootstrap.servers": broker.bootstrap, "linger.ms": 2,
              "log_level": 2,  # every crash would log a dozen lines
              "message.timeout.ms": 120000, "reconnect.backoff.ms": 20,
              "reconnect.backoff.max.ms": 200, "retry.backoff.ms": 20}
    conf = {"tall": dict(common, **{"enable.idempotence": True,
                                    "acks": "all"}),
            "tone": dict(common, **{"acks": "1"})}
    prod = {t: Producer(c) for t, c in conf.items()}
    dead = []

    def guard(t, call):
        """call(the producer of t); returns what it returns, or None."""
        try:
            return call(prod[t])
        except BufferError:
            return None
        except KafkaException as e:
            err = e.args[0]
            if not err.fatal() and err.code() != KafkaError._FATAL:
                raise
            # An idempotent producer gives up when the broker forgot what
            # it had acknowledged (a sequence gap, an unknown producer):
            # a failure to report. A new producer carries the load on.
            tot.producer_fatal += 1
            tot.note("after %d crashes (%s): %s producer: %s"
                     % (len(cuts), ",".join(cuts[-2:]), t, e))
            dead.append(prod[t])  # destroying it now could block
            prod[t] = Producer(conf[t])
            return None
    groups = [Group(broker.bootstrap, t) for t in TOPICS]
    if metadata_committer:
        groups.append(MetaCommitter(broker.bootstrap, "tall"))
    for g in groups:
        g.start()
    compacting = os.path.join(broker.data_dir, "groups", "offsets.log.tmp")
    n = 0
    for r, kind in enumerate(kinds):
        # Tagged with the crashes before it was produced: it can only
        # have been acknowledged after that.
        def on_delivery(err, msg, tag=len(cuts)):
            acks.on_delivery(err, msg, tag)

        # The crash comes a random moment after both groups commit again
        # (they rejoin after each restart), so commits are under way at it.
        base = [g.commits for g in groups]
        joined = time.monotonic() + 60
        until = None
        while until is None or time.monotonic() < until:
            if until is None and all(g.commits > b
                                     for g, b in zip(groups, base)):
                until = time.monotonic() + rng.uniform(0.05, 0.6)
            elif until is None and time.monotonic() > joined:
                ndtest.fail("round %d: the groups made no commit in 60s" % r)
            elif until is not None and os.path.exists(compacting):
                tot.cut_at_compaction += 1
                break   # crash now, while offsets.log is being rewritten
            for _ in range(4):
                for t in TOPICS:
                    guard(t, lambda p: p.produce(
                        t, value=b"r%d-%s-%d-" % (r, t.encode(), n)
                        + payload(n), partition=n % PARTITIONS,
                        on_delivery=on_delivery))
                n += 1
            for t in TOPICS:
                guard(t, lambda p: p.poll(0.001))
        if kind == "power":
            torture.freeze(broker.pid)
            fs.power_cut()
        broker.kill9()
        cuts.append(kind)
        if kind == "power":
            fs.umount()
            fs.mount()
        after_crash(broker.data_dir)
        view = tail_view(broker.data_dir, "tall")
        for t in TOPICS:   # reports that came before the crash
            guard(t, lambda p: p.poll(0))
        broker.start(timeout=60)
        check_acked_end(broker.bootstrap, view, r)
        # A commit under way at the crash may wait for the new broker.
        for g in groups:
            g.hold()
        check_commits(broker.bootstrap, groups, r)
        for g in groups:
            g.release()
        if r % verify_every == verify_every - 1:
            for t in TOPICS:
                guard(t, lambda p: p.flush(120))
            verify(broker.bootstrap)
            print("power torture: %d rounds done, %d records acknowledged"
                  % (r + 1, acks.count()), flush=True)
    for t in TOPICS:
        left = guard(t, lambda p: p.flush(120))
        if left:
            tot.note("%d messages never delivered" % left)
    for g in groups:
        g.hold()
    check_commits(broker.bootstrap, groups, rounds)
    verify(broker.bootstrap, final=True)
    err = broker.stderr()
    if "Sanitizer" in err or "runtime error" in err:
        tot.note("sanitizer report:\n%s" % err[-4000:])
    nkill, npower = cuts.count("kill"), cuts.count("power")
    print("power torture summary: seed %d, %d rounds (%d kill -9, %d power "
          "cuts); acks=all: %d acked, %d lost, %d duplicates, %d moved; "
          "acks=1: %d acked, %d lost (%d with kill -9 only), %d duplicates; "
          "gaps %d; offsets delivered twice %d; commits acked %d, "
          "regressions %d, unexplained %d, beyond log end %d (acks=all) "
          "%d (acks=1); %d segments, crashes just after a roll %d; offsets.log "
          "compacted between crashes %d, crashes as its compaction began %d, "
          "its tmp file there after the crash %d; "
          "delivery failures %d; producer fatal errors %d"
          % (seed, rounds, nkill, npower,
             sum(len(acks.of("tall", p)) for p in range(PARTITIONS)),
             tot.all.lost, tot.all.duplicates, tot.all.moved,
             sum(len(acks.of("tone", p)) for p in range(PARTITIONS)),
             tot.one.lost, tot.one_lost_kill_only, tot.one.duplicates,
             tot.all.gaps + tot.one.gaps, tot.all.twice + tot.one.twice,
             sum(g.commits for g in groups), tot.regressions,
             tot.unexplained, tot.beyond_end["tall"],
             tot.beyond_end["tone"], segments(broker.data_dir),
             tot.fresh_segment, tot.compacted, tot.cut_at_compaction,
             tot.in_compaction,
             len(acks.failed),
             tot.producer_fatal),
          flush=True)
    if acks.failed:
        print("power torture: first delivery failure: %s" % acks.failed[0])
finally:
    if groups:
        for g in groups:
            g.stop()
    if broker:
        broker.close()
    fs.close()
if tot.first_problem:
    ndtest.fail(tot.first_problem)
ndtest.passed()
