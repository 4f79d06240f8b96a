"""test_diff_franz_go_txn.py — franz-go's GroupTransactSession (an
exactly-once consume-transform-produce group; tests/go/franzgotxn) with a
member killed (SIGKILL) mid-way, against Apache Kafka 4.4 and against
nodata in the same run (issue 19).

The scenario, on each broker:
- 3-partition topics `fgt-in` and `fgt-out`; the first half of the input
  (idempotent producer, record i to partition i % 3);
- two members, transactional ids fgtx-a and fgtx-b, each copying every
  record it polls (at most 10 at a time) to the same partition of
  `fgt-out` as "T:<value>" in a transaction that also commits the group's
  offsets, holding it open 50 ms;
- once the members have committed a third of the input, fgtx-a is killed
  with SIGKILL (its open transaction, if any, stays open) and a new member
  with the same transactional id starts (its InitProducerId fences the
  old one and aborts that transaction); the second half of the input is
  produced;
- when the group has committed the end of every input partition, the
  members are stopped (SIGTERM) and `fgt-out` is read read_committed:
  every input record must be there exactly once, in the partition of its
  input (no loss, no duplicate: the copies of a transaction the kill cut
  were aborted, and their input read again by the member that took the
  partitions over).

What is compared: those checks (each must hold on Kafka too), not the
counts of transactions or of aborted copies, which depend on timing (they
are printed). Takes about 40 s: two brokers, and after the kill the group
waits out the killed member's 6 s session.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
import go_program  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

EXE = go_program.build("franzgotxn")
GROUP, IN, OUT, PARTS = "fgt-group", "fgt-in", "fgt-out", 3
FIRST, SECOND = 600, 600
START = time.monotonic()


class Member:
    def __init__(self, tmp, bootstrap, txn_id, n):
        self.log = os.path.join(tmp, "member-%s-%d.out" % (txn_id, n))
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(
                [EXE, GROUP, IN, OUT, txn_id, bootstrap],
                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                preexec_fn=ndtest._pdeathsig)

    def lines(self):
        with open(self.log, errors="replace") as f:
            return f.read().splitlines()

    def committed(self):
        return sum(int(w[1]) for w in (x.split() for x in self.lines())
                   if len(w) == 2 and w[0] == "committed")

    def check(self):
        if self.proc.poll() is not None:
            ndtest.fail("member exited with %d:\n%s" % (
                self.proc.returncode, "\n".join(self.lines()[-30:])))


def produce(bootstrap, lo, hi):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 5})
    errors = []
    for i in range(lo, hi):
        p.produce(IN, key=b"k%d" % i, value=b"v%d" % i, partition=i % PARTS,
                  on_delivery=lambda e, m: e and errors.append(e))
    if p.flush(60) != 0 or errors:
        ndtest.fail("producing the input: %s" % errors[:3])


def group_done(bootstrap, want):
    # read_uncommitted: a consumer requiring stable offsets would wait out
    # the members' open transactions.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "isolation.level": "read_uncommitted"})
    try:
        got = c.committed([TopicPartition(IN, q) for q in range(PARTS)], 10)
        return [tp.offset for tp in got] == want
    finally:
        c.close()


def read_out(bootstrap, isolation):
    out = []
    for q in range(PARTS):
        out += ["%d:%s" % (q, m.value().decode()) for m in
                ndtest.consume_to_end(bootstrap, OUT, q,
                                      conf={"isolation.level": isolation})]
    return out


def scenario(bootstrap):
    tmp = tempfile.mkdtemp(prefix="nd-txc-franzgo-")
    members = []
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic(t, PARTS, 1)
                                      for t in (IN, OUT)]).values():
            f.result(30)
        produce(bootstrap, 0, FIRST)
        a = Member(tmp, bootstrap, "fgtx-a", 1)
        b = Member(tmp, bootstrap, "fgtx-b", 1)
        members += [a, b]
        deadline = time.monotonic() + 120
        while a.committed() + b.committed() < FIRST // 3 or \
                a.committed() == 0:
            a.check()
            b.check()
            if time.monotonic() > deadline:
                ndtest.fail("the members committed %d and %d records in "
                            "120 s" % (a.committed(), b.committed()))
            time.sleep(0.05)
        a.proc.kill()
        a.proc.wait()
        print("%s: fgtx-a killed after it committed %d records (fgtx-b %d):"
              " %.0f s" % (bootstrap, a.committed(), b.committed(),
                           time.monotonic() - START))
        a2 = Member(tmp, bootstrap, "fgtx-a", 2)
        members.append(a2)
        produce(bootstrap, FIRST, FIRST + SECOND)
        total = FIRST + SECOND
        ends = [len(range(q, total, PARTS)) for q in range(PARTS)]
        deadline = time.monotonic() + 180
        while not group_done(bootstrap, ends):
            a2.check()
            b.check()
            if time.monotonic() > deadline:
                ndtest.fail("the group did not commit the end of %s in "
                            "180 s" % IN)
            time.sleep(0.3)
        for m in (a2, b):
            if ndtest.terminate(m.proc, 30) != 0:
                ndtest.fail("a member exited with %d:\n%s" % (
                    m.proc.returncode, "\n".join(m.lines()[-30:])))
        want = Counter("%d:T:v%d" % (i % PARTS, i) for i in range(total))
        got = Counter(read_out(bootstrap, "read_committed"))
        uncommitted = read_out(bootstrap, "read_uncommitted")
        aborted = sum("aborted" in x for m in members for x in m.lines())
        print("%s: %d inputs, %d copies read_committed, %d read_uncommitted,"
              " %d transactions aborted by the members: %.0f s"
              % (bootstrap, total, sum(got.values()), len(uncommitted),
                 aborted, time.monotonic() - START))
        return {
            "inputs": total,
            "missing": sum((want - got).values()),
            "duplicates": sum((got - want).values()),
            "output_exactly_once": got == want,
            "uncommitted_holds_committed": not (got - Counter(uncommitted)),
        }
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


want, got = differential.run_both(scenario)
if not want["output_exactly_once"]:
    ndtest.fail("Apache Kafka did not copy the input exactly once: %s" % want)
differential.compare(want, got, what="franz-go GroupTransactSession")
print("took %.0f s" % (time.monotonic() - START))
ndtest.passed()
