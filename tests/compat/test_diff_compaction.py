"""test_diff_compaction.py — log compaction, Apache Kafka 4.4 as the oracle
(issue 18): after the cleaner has run, what a consumer reads from the
beginning of a compacted topic (keys, values, timestamps, offsets and so
the holes), what seeking into a hole returns, what a time lookup returns
and the watermarks must be the same on nodata as on Kafka.

With confluent-kafka (librdkafka), on each broker, two compacted topics
(segment.ms 1 s, min.cleanable.dirty.ratio 0.01): "keep" with Kafka's
default delete.retention.ms (a day: tombstones stay) and "drop" with
delete.retention.ms=0 (a tombstone goes at the second cleaning that sees
it, KIP-534). The same workload goes to both:

- round 1, six phases, each 4 acks=all batches of 30 records over 30 hot
  keys (every key updated 4 times a phase), a phase per producer:
  uncompressed + idempotent, gzip, uncompressed + idempotent, lz4,
  zstd + idempotent, snappy; cold keys written once (phases 0 and 3);
  tombstones (one later rewritten, some the last word on their key, one
  on a cold key). Each phase starts more than segment.ms after the
  previous one, so each is its own segment on both brokers (Kafka rolls by
  the records' timestamps, which the test sets; nodata by the clock). The
  idempotent producer's last batch of the round is wholly overwritten
  afterwards: Kafka keeps it as an empty batch, so its sequence state
  survives.
- records without a key: one alone, and one in the middle of a batch of
  three (the whole batch is refused), through the lz4 producer (an
  idempotent producer's refused batch would break its sequence);
- a marker record, produced after segment.ms has passed, rolls a new
  active segment: every record before it is cleanable. Each marker has a
  key of its own: nodata also rolls an idle segment by the clock (the
  background thread, docs/format.md "Segments") and may then clean the
  marker's segment, which Kafka (rolling on append only) leaves active;
  with a key nothing else has, that changes nothing a consumer sees, so
  what is compared is the cleaned part below the marker plus the marker. The test then
  waits until what a consumer reads is what Kafka's cleaner keeps: the
  latest record of each key below the marker, tombstones included (topic
  "keep"); for "drop", until every overwritten value is gone (whether a
  tombstone already went depends on how many cleanings ran: not
  compared). Kafka is checked against that model too, so a wrong model
  fails the test instead of passing it on both.
- a snapshot of "keep": the records, the watermarks, a Fetch from every
  (sampled) offset in a hole (the next record), and ListOffsets by time
  for the timestamps of removed and kept records.
- the broker is restarted (clean shutdown); round 2: the same producers
  go on (the idempotent one's sequence must be accepted after cleaning
  and restart), hot keys only, no tombstones, then a second marker. Wait
  again; now on "drop" every tombstone of round 1 is gone (its second
  cleaning is past its horizon), and both topics are snapshotted.
- every delivery report (error code, offset) is compared.

The log start and end offsets, the holes and every offset are the same on
both brokers, because the records are produced in the same order; which
segments exist and where their boundaries are is not compared (Kafka
rolls on append only, nodata also in the background; batches may differ).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import (Consumer, KafkaError, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

SEGMENT_MS = 1000
BASE_CFG = {"cleanup.policy": "compact", "segment.ms": str(SEGMENT_MS),
            "segment.bytes": "1048576", "min.cleanable.dirty.ratio": "0.01"}
TOPICS = {"keep": dict(BASE_CFG),
          "drop": dict(BASE_CFG, **{"delete.retention.ms": "0"})}
# The cleaners look for work every 100 ms instead of every 15 s.
KAFKA_PROPS = ["log.cleaner.backoff.ms=100"]
NODATA_ARGS = ["--log-cleaner-backoff-ms", "100"]
HOT = 30
CHUNKS, CHUNK = 4, 30
# Round 1's producers, a phase each; "idem" ones are idempotent.
ROUND1 = ["none-idem", "gzip", "none-idem", "lz4", "zstd-idem", "snappy"]
PHASE_TS = 10 * SEGMENT_MS  # record timestamps jump this much per phase
WAIT_S = 120  # for a cleaner to get there; a loaded machine is slow
HOLE_SAMPLES = 40


class Workload:
    """Produces the same records, in the same order, to one broker, and
    models what Kafka's cleaner keeps of them."""

    def __init__(self, bootstrap):
        self.bs = bootstrap
        self.t0 = (int(time.time() * 1000) // 1000) * 1000 - 1800_000
        self.producers = {}
        for name in ("none-idem", "gzip", "lz4", "zstd-idem", "snappy"):
            codec = name.split("-")[0]
            self.producers[name] = Producer({
                "bootstrap.servers": bootstrap, "acks": "all",
                "compression.type": codec, "linger.ms": 50,
                "enable.idempotence": name.endswith("-idem")})
        self.reports = []  # (topic, phase, what, error code, offset)
        self.log = {t: [] for t in TOPICS}  # accepted: (offset, k, v, ts, rnd)

    def send(self, name, phase, rnd, records, what="records"):
        """One batch: produce records [(topic, key, value, ts)] then flush,
        so they leave in one request per topic."""
        p = self.producers[name]
        got = []

        def cb(err, msg, i):
            got.append((i, records[i], None if err is None else err.code(),
                         msg.offset()))
        for i, (t, k, v, ts) in enumerate(records):
            p.produce(t, key=k, value=v, partition=0, timestamp=ts,
                      on_delivery=lambda e, m, i=i: cb(e, m, i))
        if p.flush(120) != 0:
            ndtest.fail("%s: %s did not deliver in 120 s" % (self.bs, name))
        for _, rec, err, off in sorted(got):  # in the order produced
            self.reports.append((rec[0], phase, what, err,
                                 off if err is None else None))
            if err is None:
                self.log[rec[0]].append((off, rec[1], rec[2], rec[3], rnd))

    def phase(self, ph, name, rnd, hot=HOT, tombstones=(), cold=()):
        ts = self.t0 + ph * PHASE_TS
        for c in range(CHUNKS):
            recs = []
            for j in range(CHUNK):
                n = c * CHUNK + j
                key = b"k%02d" % (n % hot)
                val = None if (c, n % hot) in tombstones else \
                    b"%s p%d n%d " % (key, ph, n) + b"x" * (n * 7 % 200)
                recs.append((key, val, ts + n))
            for t in TOPICS:
                self.send(name, ph, rnd, [(t,) + r for r in recs])
        if cold:
            recs = [(t, k, v, ts + 500 + i)
                    for t in TOPICS for i, (k, v) in enumerate(cold)]
            self.send(name, ph, rnd, recs, "cold")

    def model(self, topic, upto, drop_old_tombstones=False):
        """What Kafka's cleaner keeps once everything below offset upto is
        cleaned: the latest record of each key there, then all the rest;
        with drop_old_tombstones, no round-1 tombstone (their second
        cleaning was past delete.retention.ms=0)."""
        log = self.log[topic]
        last = {}
        for off, k, v, ts, rnd in log:
            if off < upto:
                last[k] = off
        out = []
        for off, k, v, ts, rnd in log:
            if off < upto and last[k] != off:
                continue
            if off < upto and v is None and drop_old_tombstones and rnd == 1:
                continue
            out.append((off, k, v, ts))
        return out

    def close(self):
        for p in self.producers.values():
            p.flush(30)
        self.producers.clear()


def read_all(bootstrap, topic):
    """Every record of partition 0 from its log start: [(offset, key,
    value, timestamp)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "diff-compact",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        while True:
            m = c.poll(30)
            if m is None:
                ndtest.fail("%s: reading %s: nothing for 30 s"
                            % (bootstrap, topic))
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return out
                ndtest.fail("%s: reading %s: %s" % (bootstrap, topic,
                                                     m.error()))
            out.append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
    finally:
        c.close()


def wait_for(bootstrap, topic, want, what, strip_tombstones=False):
    """Poll until a consumer reads want from the beginning of topic (the
    cleaner has run); fail naming the first differences if it never
    does."""
    def norm(recs):
        return [r for r in recs if r[2] is not None] if strip_tombstones \
            else list(recs)
    deadline = time.monotonic() + WAIT_S
    while True:
        got = read_all(bootstrap, topic)
        if norm(got) == norm(want):
            return got
        if time.monotonic() > deadline:
            diffs = differential.differences(
                [r[:3] for r in norm(want)], [r[:3] for r in norm(got)])
            ndtest.fail("%s: %s (%s) is not what Kafka's cleaner keeps after "
                        "%d s: %d records read, %d expected; first "
                        "differences (path, expected, read):\n  %s"
                        % (bootstrap, topic, what, WAIT_S, len(got),
                           len(want), "\n  ".join(
                               repr(d) for d in diffs[:10])))
        time.sleep(0.5)


def snapshot(bootstrap, topic, w, recs):
    """What a consumer sees of a cleaned topic besides its records."""
    t0 = w.t0
    seen = {"records": [(o, k, v, ts - t0) for o, k, v, ts in recs]}
    # fetch.wait.max.ms 10: after each re-assign librdkafka's next Fetch
    # waits for the long poll in flight; nodata holds it the whole 500 ms
    # where Kafka answers at once (not compaction's: a plain topic too).
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "diff-compact",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "fetch.wait.max.ms": 10})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    seen["watermarks"] = (lo, hi)
    have = {r[0] for r in recs}
    holes = [o for o in range(lo, hi) if o not in have]
    if len(holes) > HOLE_SAMPLES:  # evenly, with the first and the last
        step = (len(holes) - 1) / (HOLE_SAMPLES - 1)
        holes = sorted({holes[round(i * step)] for i in range(HOLE_SAMPLES)})
    seeks = []
    for h in holes:
        c.assign([TopicPartition(topic, 0, h)])
        while True:
            m = c.poll(30)
            if m is None:
                ndtest.fail("%s: %s from offset %d: nothing for 30 s"
                            % (bootstrap, topic, h))
            if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                seeks.append((h, "eof"))
                break
            if m.error():
                ndtest.fail("%s: %s from offset %d: %s" % (bootstrap, topic,
                                                            h, m.error()))
            seeks.append((h, m.offset(), m.key()))
            break
        c.unassign()
    seen["holes"] = len([o for o in range(lo, hi) if o not in have])
    seen["fetch_in_hole"] = seeks
    # By time: the timestamp of every 17th record produced (removed or
    # kept), one before everything and one past the end.
    targets = [ts for _, _, _, ts, _ in w.log[topic][::17]]
    targets += [t0 - 1, max(ts for _, _, _, ts, _ in w.log[topic]) + 1]
    times = []
    for ts in targets:
        got = c.offsets_for_times([TopicPartition(topic, 0, ts)],
                                  timeout=30)[0]
        times.append((ts - t0, got.offset))
    seen["offsets_for_times"] = times
    c.close()
    return seen


def scenario(bootstrap, broker):
    started = time.monotonic()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(t, 1, 1, config=cfg)
                              for t, cfg in TOPICS.items()])
    for f in fs.values():
        f.result(30)
    w = Workload(bootstrap)
    seen = {}
    # Round 1.
    for ph, name in enumerate(ROUND1):
        if ph:
            time.sleep(SEGMENT_MS * 1.3 / 1000)  # nodata rolls by the clock
        tomb = set()
        cold = ()
        if ph == 1:  # k03 deleted, rewritten in phase 2
            tomb = {(3, 3)}
        if ph == 5:  # the last word on k25..k27
            tomb = {(3, 25), (3, 26), (3, 27)}
        if ph == 0:
            cold = [(b"cold-%d" % i, b"cold value %d" % i) for i in range(8)]
        if ph == 3:
            cold = [(b"cold-1", None), (b"cold-9", b"cold value 9")]
        w.phase(ph, name, 1, tombstones=tomb, cold=cold)
        if ph == 2:  # keyless: alone, then inside a batch of three
            ts = w.t0 + ph * PHASE_TS + 900
            for t in TOPICS:
                w.send("lz4", ph, 1, [(t, None, b"no key", ts)], "keyless")
                w.send("lz4", ph, 1, [(t, b"k00", b"before", ts),
                                      (t, None, b"no key", ts),
                                      (t, b"k01", b"after", ts)],
                       "keyless in a batch")
        if ph == 4:
            # The idempotent producer's last batch of round 1: overwritten
            # by phase 5, so cleaning leaves it empty.
            ts = w.t0 + ph * PHASE_TS + 900
            w.send("zstd-idem", ph, 1, [(t, b"k%02d" % i, b"soon gone", ts)
                                        for t in TOPICS for i in range(3)],
                   "idempotent, then overwritten")
    time.sleep(SEGMENT_MS * 1.3 / 1000)
    ph = len(ROUND1)
    w.send("gzip", ph, 1, [(t, b"marker-1", b"round 1", w.t0 + ph * PHASE_TS)
                           for t in TOPICS], "marker")
    mark = {t: w.log[t][-1][0] for t in TOPICS}
    keep = wait_for(bootstrap, "keep", w.model("keep", mark["keep"]),
                    "round 1")
    wait_for(bootstrap, "drop", w.model("drop", mark["drop"]), "round 1",
             strip_tombstones=True)
    seen["round1_keep"] = snapshot(bootstrap, "keep", w, keep)

    broker.restart()
    # Round 2: the same producers go on after cleaning and a restart.
    time.sleep(SEGMENT_MS * 1.3 / 1000)
    for ph, name in ((ph + 1, "none-idem"), (ph + 2, "zstd-idem")):
        w.phase(ph, name, 2, hot=10)
        time.sleep(SEGMENT_MS * 1.3 / 1000)
    ph += 3
    w.send("gzip", ph, 2, [(t, b"marker-2", b"round 2", w.t0 + ph * PHASE_TS)
                           for t in TOPICS], "marker")
    mark = {t: w.log[t][-1][0] for t in TOPICS}
    for t in TOPICS:
        want = w.model(t, mark[t], drop_old_tombstones=(t == "drop"))
        seen["round2_" + t] = snapshot(bootstrap, t, w,
                                       wait_for(bootstrap, t, want,
                                                "round 2"))
    seen["delivery"] = w.reports
    w.close()
    produced = sum(len(v) for v in w.log.values())
    kept = sum(len(seen["round2_" + t]["records"]) for t in TOPICS)
    print("%s: %d records produced, %d kept after cleaning, %d delivery "
          "reports, %.0f s" % (bootstrap, produced, kept, len(w.reports),
                               time.monotonic() - started))
    return seen


want, got = differential.run_both(scenario, nodata_args=NODATA_ARGS,
                                  kafka_props=KAFKA_PROPS, with_broker=True)
differential.compare(want, got, what="compaction (confluent-kafka)")
ndtest.passed()
