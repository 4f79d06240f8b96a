"""A compacted partition's holes through `nodata serve`, read by librdkafka.

tests/test_holes.c (`test_holes --make DIR [PAD]`) writes a store whose
partition looks as the log cleaner leaves it (docs/format.md, "Offsets:
increasing, not dense"): holes between and inside batches, a hole at the
end of a segment and at the start of the next, an empty batch of an
idempotent producer, a batch whose maxTimestamp is a cleaned record's.
This test serves it and reads it with confluent_kafka, as Kafka Connect,
Streams or a schema registry would read their compacted topics (and
kafka-python, seeking into holes):

- a consumer from offset 0 gets every record that exists, once, in
  order, with its key, value and timestamp, and reaches the end (EOF at
  the high watermark);
- a consumer assigned at an offset in a hole (inside a batch, in the
  empty batch, between batches, at a segment's end and start) starts at
  the next existing record; one assigned at the high watermark gets EOF
  and nothing else;
- ListOffsets: earliest 0, latest 33, and by time the first EXISTING
  record with timestamp >= the target (-1 past the last one).

Twice: with one batch per fetch (max.partition.fetch.bytes=1, so every
fetch after the first lands in or next to a hole; the broker copies
these small reads) and with 6000-byte values and default fetch sizes
(ranges over 16 KiB: the broker sends them from the file with sendfile).
Takes about 15 seconds (two dozen consumers, each to the end).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck, _ = ndtest.require("confluent_kafka", "kafka")

TOPIC = "holes"
LIVE = [1, 3, 10, 12, 25, 26, 27, 30, 31, 32]
HW = 33


TS_BASE = [1000]  # test_holes --make prints the one it used


def ts_of(off):
    return TS_BASE[0] + 10 * off


def maker():
    """The test_holes program next to the nodata binary's build."""
    build = os.environ.get("ND_BUILD_DIR")
    if not build:
        build = os.path.dirname(os.path.dirname(ndtest.nodata_bin()))
    path = os.path.join(build, "tests", "test_holes")
    if not os.access(path, os.X_OK):
        ndtest.fail("no test_holes program at %s (build the tests)" % path)
    return path


def consume(bootstrap, start, conf):
    """Records from offset `start` until EOF: [(offset, key, value, ts)]."""
    return [(m.offset(), m.key(), m.value(), m.timestamp()[1])
            for m in ndtest.consume_to_end(bootstrap, TOPIC, 0, start, conf,
                                           timeout=15)]


def kafka_python_reads(bootstrap):
    """kafka-python (default fetch sizes: its 2.0.2 fails on a fetch that
    returns only an empty batch, against Kafka too) seeking into holes."""
    from kafka import KafkaConsumer, TopicPartition
    tp = TopicPartition(TOPIC, 0)
    for start in (0, 2, 5, 13, 28):
        c = KafkaConsumer(bootstrap_servers=bootstrap,
                          enable_auto_commit=False)
        try:
            c.assign([tp])
            c.seek(tp, start)
            got = []
            deadline = time.time() + 20
            while (not got or got[-1] < LIVE[-1]) and time.time() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got += [r.offset for r in recs]
        finally:
            c.close()
        want = [o for o in LIVE if o >= start]
        if got != want:
            ndtest.fail("kafka-python from %d: %s, want %s"
                        % (start, got, want))


def run(pad, conf, more=None):
    tmp = tempfile.mkdtemp(prefix="nd-holes-")
    try:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        out = subprocess.run([maker(), "--make", data, str(pad)], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        TS_BASE[0] = int(out.split()[0])
        b = ndtest.Broker(data_dir=data)
        try:
            check(b.bootstrap, pad, conf)
            if more:
                more(b.bootstrap)
        finally:
            ndtest.stop_clean(b)
        # Which path the fetches took: the stop line counts the bytes.
        m = re.search(r"fetch sent (\d+) record bytes from segment files "
                      r"with sendfile", b.stderr())
        sent = int(m.group(1)) if m else -1
        if (sent > 0) != (pad > 0):
            ndtest.fail("pad %d: %s bytes sent with sendfile" % (pad, sent))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(bootstrap, pad, conf):
    def want(off):
        return (off, b"k%d" % off, b"v%d" % off + b"." * pad, ts_of(off))

    got = consume(bootstrap, 0, conf)
    if got != [want(o) for o in LIVE]:
        ndtest.fail("pad %d: from 0 got offsets %s, want %s"
                    % (pad, [g[0] for g in got], LIVE))
    # In a hole: the next existing record first, then the rest.
    for start, first in [(2, 3), (4, 10), (5, 10), (6, 10), (8, 10),
                         (11, 12), (13, 25), (19, 25), (20, 25), (28, 30)]:
        got = consume(bootstrap, start, conf)
        rest = [o for o in LIVE if o >= first]
        if [g[0] for g in got] != rest or got[0] != want(first):
            ndtest.fail("pad %d: from %d got %s, want %s"
                        % (pad, start, [g[0] for g in got], rest))
    if consume(bootstrap, HW, conf) != []:
        ndtest.fail("pad %d: records at the high watermark" % pad)

    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "holes-lo"})
    try:
        lo, hi = c.get_watermark_offsets(ck.TopicPartition(TOPIC, 0), 10)
        if (lo, hi) != (0, HW):
            ndtest.fail("watermarks %s, want (0, %d)" % ((lo, hi), HW))
        # Relative to the base: batch [0..4] still claims record 4's
        # timestamp (+40), the empty batch record 7's (+70).
        for ts, off in [(0, 1), (11, 3), (31, 10), (41, 10), (101, 12),
                        (121, 25), (271, 30), (320, 32), (321, -1)]:
            ts = ts + TS_BASE[0] if ts else 0
            r = c.offsets_for_times([ck.TopicPartition(TOPIC, 0, ts)], 10)
            if r[0].error or r[0].offset != off:
                ndtest.fail("pad %d: offset for time %d: %s, want %d"
                            % (pad, ts, r[0], off))
    finally:
        c.close()


run(0, {"max.partition.fetch.bytes": 1}, kafka_python_reads)
run(6000, {})
ndtest.passed()
