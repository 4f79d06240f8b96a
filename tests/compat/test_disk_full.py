"""test_disk_full.py — a full disk, for real: a 4 MiB tmpfs.

Library (through `nodata produce`): appending until the file system is
full fails with a clear "No space left" error and exit status 1; every
record reported as written reads back; nothing partial is visible; once
space is freed (a topic deleted) appends succeed again.

Broker: an acks=all producer on the same kind of file system gets
KAFKA_STORAGE_ERROR, the broker stays up and answers metadata, nothing
acknowledged is lost, and after a topic is deleted producing works again.

Broker, small batches: with the file system filled by hand to leave a few
KiB, one-record produces cross index pages; the broker must answer
KAFKA_STORAGE_ERROR, not die of SIGBUS (a store into a sparse index page
with no block behind it), and resume once the filler is gone.

Committed offsets on a full disk: OffsetCommit fails with the retriable
KAFKA_STORAGE_ERROR, the last committed offset stays readable, and commits
work again once there is space.

Mounting needs root (CI runs as root); elsewhere the test says SKIP.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

if os.geteuid() != 0:
    ndtest.skip("mounting a small tmpfs needs root")
ndtest.require("confluent_kafka")
from confluent_kafka import (Consumer, KafkaError, KafkaException,  # noqa: E402
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

NODATA = ndtest.nodata_bin()


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def run(*args, stdin=None):
    return subprocess.run([NODATA] + list(args), input=stdin,
                          capture_output=True, timeout=120)


class SmallFs:
    def __init__(self, size="4m"):
        self.dir = tempfile.mkdtemp(prefix="nd-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs",
                        self.dir], check=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", self.dir])
        os.rmdir(self.dir)


def library_full():
    with SmallFs() as fs:
        data = os.path.join(fs.dir, "data")
        r = run("topics", "create", "filler", "--data", data)
        check(r.returncode == 0, "create filler: %s" % r.stderr)
        # 1.5 MiB of filler, so that deleting it frees room later.
        r = run("produce", "filler", "-q", "--data", data,
                stdin=(b"f" * 1000 + b"\n") * 1500)
        check(r.returncode == 0, "fill: %s" % r.stderr)
        run("topics", "create", "t", "--data", data)
        lines = b"".join(b"value-%07d\n" % i for i in range(400000))
        r = run("produce", "t", "--data", data, stdin=lines)
        check(r.returncode == 1, "produce on a full disk exited %d" % r.returncode)
        err = r.stderr.decode()
        check("No space left" in err, "error does not say why: %r" % err)
        written = [l for l in r.stdout.decode().splitlines() if l.startswith("partition")]
        check(len(written) > 1000, "only %d records fitted" % len(written))
        r = run("consume", "t", "-o", "beginning", "-n", str(len(written) + 10),
                "--data", data)
        got = r.stdout.decode().splitlines()
        check(got == ["value-%07d" % i for i in range(len(written))],
              "after ENOSPC: %d records read back, %d reported written"
              % (len(got), len(written)))
        # Free space; appends work again and continue the offsets.
        r = run("topics", "delete", "filler", "--data", data)
        check(r.returncode == 0, "delete: %s" % r.stderr)
        r = run("produce", "t", "--data", data, stdin=b"after\n")
        check(r.returncode == 0, "produce after freeing space: %s" % r.stderr)
        check(("offset %d" % len(written)) in r.stdout.decode(),
              "next offset: %r" % r.stdout)
        r = run("verify", "--data", data)
        check(r.returncode == 0, "verify after ENOSPC: %s" % r.stdout)
        print("library: %d records fitted, ENOSPC reported, recovered" % len(written))


def broker_full():
    with SmallFs() as fs:
        with ndtest.Broker(data_dir=os.path.join(fs.dir, "data")) as b:
            admin = AdminClient({"bootstrap.servers": b.bootstrap})
            for f in admin.create_topics([NewTopic("filler", 1, 1),
                                          NewTopic("t", 1, 1)]).values():
                f.result(10)
            p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                          "linger.ms": 5, "message.timeout.ms": 10000,
                          "retries": 0})
            for _ in range(3):
                p.produce("filler", value=b"f" * 500000)
            p.flush(10)
            acked, errors = {}, []

            def cb(err, msg):
                if err:
                    errors.append(err)
                else:
                    acked[msg.offset()] = msg.value()
            for i in range(5000):
                p.produce("t", value=b"v%06d" % i + b"." * 1000, on_delivery=cb)
                if i % 100 == 0:
                    p.flush(10)
                if errors:
                    break
            p.flush(10)
            check(errors, "the disk never filled")
            codes = {e.code() for e in errors}
            check(KafkaError.KAFKA_STORAGE_ERROR in codes,
                  "errors were %s, not KAFKA_STORAGE_ERROR" % codes)
            check(b.alive(), "broker died on a full disk")
            md = admin.list_topics(timeout=10)
            check("t" in md.topics, "metadata after ENOSPC")
            for f in admin.delete_topics(["filler"]).values():
                f.result(10)
            ok = []
            p.produce("t", value=b"after", on_delivery=lambda e, m: ok.append((e, m.offset())))
            p.flush(10)
            check(ok and ok[0][0] is None, "produce after freeing space: %s" % ok)
            seen = ndtest.read_partition(b.bootstrap, "t")
            for off, v in acked.items():
                check(seen.get(off) == v, "acknowledged offset %d lost" % off)
            check(sorted(seen) == list(range(len(seen))), "offsets not dense")
            print("broker: %d acknowledged before the disk filled; storage "
                  "error; recovered" % len(acked))


def fill_fs(path, leftover):
    """Fill the file system holding path until ENOSPC, then give back all
    but `leftover` bytes."""
    size = 0
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while len(chunk) >= 512:
            try:
                size += f.write(chunk)
            except OSError:
                chunk = chunk[:len(chunk) // 2]
        os.fsync(f.fileno())
        f.truncate(max(0, size - leftover))
        os.fsync(f.fileno())


def broker_full_small_batches(leftover_kib):
    with SmallFs("2m") as fs:
        with ndtest.Broker(data_dir=os.path.join(fs.dir, "data")) as b:
            admin = AdminClient({"bootstrap.servers": b.bootstrap})
            for f in admin.create_topics([NewTopic("t", 1, 1)]).values():
                f.result(10)
            p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                          "linger.ms": 0, "message.timeout.ms": 10000,
                          "retries": 0})
            acked, errors = {}, []

            def cb(err, msg):
                if err:
                    errors.append(err)
                else:
                    acked[msg.offset()] = msg.value()
            p.produce("t", value=b"first", on_delivery=cb)
            p.flush(10)
            filler = os.path.join(fs.dir, "filler")
            fill_fs(filler, leftover_kib * 1024)
            for i in range(2000):
                p.produce("t", value=b"v%06d" % i + b"." * 1000, on_delivery=cb)
                p.flush(10)
                if errors or not b.alive():
                    break
            check(b.alive(), "broker died on a full disk (%d KiB left): %s"
                  % (leftover_kib, b.stderr()[-500:]))
            check(errors, "the disk never filled")
            codes = {e.code() for e in errors}
            check(codes == {KafkaError.KAFKA_STORAGE_ERROR},
                  "errors were %s, not KAFKA_STORAGE_ERROR" % codes)
            os.unlink(filler)
            ok = []
            p.produce("t", value=b"after",
                      on_delivery=lambda e, m: ok.append((e, m.offset())))
            p.flush(10)
            check(ok and ok[0][0] is None, "produce after freeing space: %s" % ok)
            seen = ndtest.read_partition(b.bootstrap, "t")
            for off, v in acked.items():
                check(seen.get(off) == v, "acknowledged offset %d lost" % off)
            print("broker, %d KiB left: %d acknowledged, then storage errors; "
                  "recovered" % (leftover_kib, len(acked)))


def commits_full():
    with SmallFs("2m") as fs:
        with ndtest.Broker(data_dir=os.path.join(fs.dir, "data")) as b:
            p = Producer({"bootstrap.servers": b.bootstrap})
            p.produce("t", value=b"x", partition=0)
            p.flush(10)
            c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g",
                          "enable.auto.commit": False})
            c.commit(offsets=[TopicPartition("t", 0, 1)], asynchronous=False)
            filler = os.path.join(fs.dir, "filler")
            fill_fs(filler, 0)
            last, err = 1, None
            for i in range(2, 5000):
                try:
                    c.commit(offsets=[TopicPartition("t", 0, i)],
                             asynchronous=False)
                    last = i
                except KafkaException as e:
                    err = e.args[0]
                    break
            check(err is not None, "the offsets log never filled")
            check(err.code() == KafkaError.KAFKA_STORAGE_ERROR,
                  "commit on a full disk: %s" % err)
            check(b.alive(), "broker died committing on a full disk")
            got = c.committed([TopicPartition("t", 0)], timeout=10)[0].offset
            check(got == last, "committed %s, last acknowledged %s" % (got, last))
            os.unlink(filler)
            c.commit(offsets=[TopicPartition("t", 0, 99999)], asynchronous=False)
            got = c.committed([TopicPartition("t", 0)], timeout=10)[0].offset
            check(got == 99999, "commit after freeing space: %s" % got)
            c.close()
            print("commits: %d acknowledged, then KAFKA_STORAGE_ERROR; "
                  "recovered" % last)


library_full()
broker_full()
commits_full()
for kib in (4, 8, 12, 16):
    broker_full_small_batches(kib)
ndtest.passed()
