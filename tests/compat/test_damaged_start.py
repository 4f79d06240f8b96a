"""test_damaged_start.py — issue 15 items 3 and 9 through `nodata serve`
and `nodata verify`.

A sealed segment cut mid-batch after a clean shutdown: the broker starts,
says on stderr which partition is offline (file and byte), Metadata shows
that partition without a leader (as Kafka shows one whose only replica is
offline) while the other partition and topic serve, and not one byte is
deleted. `verify` reports the damage (exit 3) and warns that a group's
committed offset lies past where a repair would end the log; `verify
--repair` says what it drops, moves it into a quarantine directory
instead of deleting it, and the partition serves again. A topic.conf that
does not parse takes only its topic offline (file and line on stderr); a
lost FORMAT file beside this format's topics is written again.
"""
import glob
import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

NODATA = ndtest.nodata_bin()


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def run(*args):
    return subprocess.run([NODATA] + list(args), capture_output=True,
                          timeout=120, text=True)


def pdir(data, topic, p):
    h = hashlib.sha256(topic.encode()).hexdigest()
    return os.path.join(data, "topics", h, str(p))


def sizes(d):
    return {os.path.basename(f): os.path.getsize(f)
            for f in glob.glob(os.path.join(d, "*.log"))}


def produce(bootstrap, topic, p, n, prefix):
    pr = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    errors = []
    for i in range(n):
        pr.produce(topic, value=("%s-%05d" % (prefix, i)).encode(),
                   partition=p,
                   on_delivery=lambda e, m: e and errors.append(e))
        if i % 25 == 24:  # many small batches: many segments
            pr.flush(30)
    check(pr.flush(30) == 0, "produce to %s/%d did not finish" % (topic, p))
    check(not errors, "produce to %s/%d: %s" % (topic, p, errors[:1]))


def partition_meta(bootstrap, topic):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(
        topic, timeout=10)
    return md.topics[topic].partitions


def high(bootstrap, topic, p):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, p),
                                       timeout=10)[1]
    finally:
        c.close()


# Small segments (below Kafka's 1 MiB floor) so the log has many.
b = ndtest.Broker(args=["--min-segment-bytes", "4096"])
data = b.data_dir
admin = AdminClient({"bootstrap.servers": b.bootstrap})
fs = admin.create_topics([
    NewTopic("r", 2, 1, config={"segment.bytes": "4096"}),
    NewTopic("o", 1, 1)])
for f in fs.values():
    f.result(30)
produce(b.bootstrap, "r", 0, 2000, "r0")
produce(b.bootstrap, "r", 1, 100, "r1")
produce(b.bootstrap, "o", 0, 100, "o")
c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g"})
c.commit(offsets=[TopicPartition("r", 0, 1234)], asynchronous=False)
c.close()
ndtest.stop_clean(b)

# ---- a sealed segment cut mid-batch after a clean shutdown ---------------
p0 = pdir(data, "r", 0)
logs = sorted(glob.glob(os.path.join(p0, "*.log")))
check(len(logs) >= 5, "want many segments, have %d" % len(logs))
victim = logs[1]
cut = os.path.getsize(victim) - 30
os.truncate(victim, cut)
before = sizes(p0)

b.start()
err = b.stderr()
m = re.search(r"partition 0 is offline: .*%s: byte (\d+):" %
              re.escape(os.path.basename(victim)), err)
check(m and int(m.group(1)) < cut,
      "broker stderr does not name the damage: %r" % err)
parts = partition_meta(b.bootstrap, "r")
check(parts[0].leader == -1 and parts[0].error is not None,
      "offline partition in Metadata: leader %d error %s" %
      (parts[0].leader, parts[0].error))
check(parts[1].leader == 0 and parts[1].error is None,
      "partition 1 must serve: leader %d error %s" %
      (parts[1].leader, parts[1].error))
produce(b.bootstrap, "r", 1, 10, "r1b")
produce(b.bootstrap, "o", 0, 10, "ob")
check(high(b.bootstrap, "r", 1) == 110, "partition 1 end")
ndtest.stop_clean(b)
check(sizes(p0) == before, "the offline partition's files changed: %s -> %s"
      % (before, sizes(p0)))

r = run("verify", "--data", data)
check(r.returncode == 3, "verify: exit %d, want 3: %s" %
      (r.returncode, r.stdout + r.stderr))
check("damaged: " + victim in r.stdout, "verify names the file: " + r.stdout)
check("warning: group g, topic r partition 0: committed offset 1234" in
      r.stdout, "verify warns of the committed offset: " + r.stdout)

qdir = os.path.join(b._tmp, "quarantine")
r = run("verify", "--repair", "--yes", "--quarantine", qdir, "--data", data)
check(r.returncode == 0, "repair: exit %d: %s" %
      (r.returncode, r.stdout + r.stderr))
check("drops %s bytes %d.." % (victim, 0) in r.stdout or
      "drops %s bytes" % victim in r.stdout, "repair says what it drops: " +
      r.stdout)
moved = sorted(os.path.basename(f) for f in
               glob.glob(os.path.join(qdir, "r-0", "*.log")))
check(moved == [os.path.basename(f) for f in logs[2:]],
      "later segments quarantined: %s" % moved)
check("records): moved to" in r.stdout, "repair counts records: " + r.stdout)
check("warning: group g, topic r partition 0: committed offset 1234 is past "
      "the end of the log now" in r.stdout,
      "repair warns of the committed offset: " + r.stdout)

b.start()
end = high(b.bootstrap, "r", 0)
check(0 < end < 1234, "partition 0 serves again, end %d" % end)
produce(b.bootstrap, "r", 0, 5, "again")
check(high(b.bootstrap, "r", 0) == end + 5, "appends after repair")
ndtest.stop_clean(b)

# ---- a topic.conf that does not parse, a lost FORMAT ------------------------
conf = os.path.join(os.path.dirname(pdir(data, "o", 0)), "topic.conf")
with open(conf, "a") as f:
    f.write("retention.ms=-7\n")
nlines = sum(1 for _ in open(conf))
os.unlink(os.path.join(data, "FORMAT"))
b.start()
err = b.stderr()
check("topic 'o' is offline" in err and "topic.conf line %d" % nlines in err,
      "broker stderr names topic.conf and line: %r" % err)
check("FORMAT is missing" in err, "broker says FORMAT was missing: %r" % err)
check(os.path.exists(os.path.join(data, "FORMAT")), "FORMAT written again")
parts = partition_meta(b.bootstrap, "o")
check(parts[0].leader == -1, "offline topic's partition has no leader")
produce(b.bootstrap, "r", 1, 5, "r1c")
ndtest.stop_clean(b)
b.close()
ndtest.passed()
