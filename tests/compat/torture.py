"""torture.py — what the broker torture tests share (test_torture_broker.py,
test_torture_power.py): the record of acknowledged deliveries, reading a
partition back whole, and the comparison of the two.

    acks = torture.Acks()
    producer.produce(topic, value, partition=p, on_delivery=acks.on_delivery)
    ...
    log = torture.read_partition(bootstrap, topic, p)   # [(offset, value)]
    f = torture.compare(log, acks.of(topic, p))
    f.lost, f.moved, f.duplicates, f.gaps, f.twice   # see Figures

Power cuts (root): Ext4Image() makes and mounts a sparse ext4 image (.dir;
.power_cut() stops the file system as a power cut would, .umount(),
.mount(), .close()); freeze(pid) stops every thread of the broker first.

Values must be unique per partition: a value names its record, so a record
acknowledged at one offset and stored at another, or stored twice, is seen.
"""
import fcntl
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: E402


class Acks:
    """Delivery reports of one or more producers, thread-safe.

    on_delivery(err, msg) is the producer callback. A report may carry a
    tag given at produce time (on_delivery=lambda e, m: acks.on_delivery(e,
    m, tag)), which the power torture uses to know which crashes a record
    lived through.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._acked = {}        # (topic, partition) -> {value: (offset, tag)}
        self.failed = []        # error strings

    def on_delivery(self, err, msg, tag=None):
        with self._lock:
            if err is not None:
                self.failed.append(str(err))
                return
            key = (msg.topic(), msg.partition())
            self._acked.setdefault(key, {})[msg.value()] = \
                (msg.offset(), tag)

    def of(self, topic, partition):
        """{value: (offset, tag)} acknowledged so far on that partition."""
        with self._lock:
            return dict(self._acked.get((topic, partition), {}))

    def count(self):
        with self._lock:
            return sum(len(v) for v in self._acked.values())


def read_partition(bootstrap, topic, partition, timeout=120):
    """Every record of the partition, as [(offset, value)] in the order the
    broker sent them, up to the high watermark at the time of the call."""
    c = Consumer({"bootstrap.servers": bootstrap,
                  "group.id": "torture-check",
                  "enable.auto.commit": False,
                  "enable.partition.eof": True,
                  "auto.offset.reset": "earliest"})
    try:
        tp = TopicPartition(topic, partition)
        lo, hi = c.get_watermark_offsets(tp, timeout=30)
        out = []
        if hi <= lo:
            return out
        c.assign([TopicPartition(topic, partition, lo)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in c.consume(num_messages=10000, timeout=1.0):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    ndtest.fail("consume %s/%d: %s"
                                % (topic, partition, m.error()))
                out.append((m.offset(), m.value()))
            if out and out[-1][0] >= hi - 1:
                return out
        ndtest.fail("%s/%d: read up to offset %s of %d in %ds"
                    % (topic, partition, out[-1][0] if out else None, hi,
                       timeout))
    finally:
        c.close()


class Figures:
    """What compare() found on one partition.

    records     records stored
    twice       offsets the broker delivered more than once in one read
    gaps        offsets missing between the first and the last stored one
    duplicates  stored records whose value is stored at another offset too
    lost        acknowledged values stored nowhere (lost_values lists them)
    moved       acknowledged values stored, but not at the acknowledged
                offset (or another value is at that offset)
    """

    FIELDS = ("records", "twice", "gaps", "duplicates", "lost", "moved")

    def __init__(self):
        for f in self.FIELDS:
            setattr(self, f, 0)
        self.lost_values = []
        self.first_problem = None

    def add(self, other):
        for f in self.FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.lost_values += other.lost_values
        self.first_problem = self.first_problem or other.first_problem

    def note(self, msg):
        if self.first_problem is None:
            self.first_problem = msg

    def __str__(self):
        return ", ".join("%s %d" % (f, getattr(self, f)) for f in self.FIELDS)


def compare(log, acked, start=0):
    """Figures for log ([(offset, value)] as read_partition gives) against
    acked ({value: (offset, tag)}); offsets are expected dense from start."""
    f = Figures()
    at = {}
    where = {}
    for off, val in log:
        if off in at:
            f.twice += 1
            f.note("offset %d delivered twice" % off)
            continue
        at[off] = val
        where.setdefault(val, []).append(off)
    f.records = len(at)
    if at:
        top = max(at)
        f.gaps = (top - start + 1) - sum(1 for o in at if o >= start)
        if f.gaps:
            missing = [o for o in range(start, top + 1) if o not in at]
            f.note("%d offsets missing, first %s" % (f.gaps, missing[:5]))
    for val, offs in where.items():
        if len(offs) > 1:
            f.duplicates += len(offs) - 1
            f.note("value %r stored at offsets %s" % (val[:40], offs[:5]))
    for val, (off, _tag) in acked.items():
        if at.get(off) == val:
            continue
        if val in where:
            f.moved += 1
            f.note("value %r acknowledged at offset %d, stored at %s"
                   % (val[:40], off, where[val][:5]))
        else:
            f.lost += 1
            f.lost_values.append(val)
            f.note("value %r acknowledged at offset %d is lost (offset %d "
                   "holds %r)" % (val[:40], off, off, (at.get(off) or b"")[:40]))
    return f


EXT4_IOC_SHUTDOWN = 0x8004587D        # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2


def sh(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))


class Ext4Image:
    """A sparse ext4 image mounted on a temp dir; unmounted by close()
    whatever happened."""

    def __init__(self, size="2G"):
        self.tmp = tempfile.mkdtemp(prefix="nd-power-")
        self.img = os.path.join(self.tmp, "fs.img")
        self.dir = os.path.join(self.tmp, "mnt")
        os.mkdir(self.dir)
        sh("truncate", "-s", size, self.img)
        sh("mkfs.ext4", "-q", "-b", "4096", self.img)
        self.mount()

    def mounted(self):
        return os.path.ismount(self.dir)

    def mount(self):
        sh("mount", "-o", "loop", self.img, self.dir)

    def power_cut(self):
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN,
                        struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
        finally:
            os.close(fd)

    def umount(self):
        # A lazy unmount would leave the old mount alive beside the next
        # one on the same image: only a real one will do between rounds.
        for _ in range(50):
            if subprocess.run(["umount", self.dir]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("cannot unmount %s" % self.dir)

    def close(self):
        if self.mounted():
            subprocess.run(["umount", self.dir])
        if self.mounted():
            subprocess.run(["umount", "-l", self.dir])
        shutil.rmtree(self.tmp, ignore_errors=True)


def freeze(pid):
    """SIGSTOP the broker and wait until every thread has stopped, before
    the power cut. An fdatasync that races EXT4_IOC_SHUTDOWN can return 0
    although its data never reached the device (seen: the broker's log
    showed a sync returning 1.4 ms after the cut began, and the records it
    acknowledged were gone after the remount). A real power cut stops the
    CPU too, so no answer may leave after it: a stopped broker sends
    none."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(60000):
        states = []
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass   # a thread that just exited
        if all(st in "Tt" for st in states):
            return
        time.sleep(0.001)
    ndtest.fail("the broker's threads did not stop: %s" % states)
