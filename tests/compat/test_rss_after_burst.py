"""test_rss_after_burst.py — a burst of acks=all produce on an fsync=always
topic parks requests with their frames until the fdatasync; once the
burst is over and the frame pool has idled out, the broker's anonymous
memory must come back to about where it started instead of staying at the
burst's peak (glibc keeps freed blocks in the heap unless told to give
them back: malloc_trim after the pool's idle trim, broker/net.c).

Under ASan the allocator is ASan's own, which keeps freed memory in
quarantine by design: there the test checks only that the burst is
answered and the broker stops cleanly.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

RECORDS = 50000
SIZE = 1024
# The burst raises anonymous memory by ~8-15 MB; idle, the broker holds
# well under 2 MB of it.
SLACK_KB = 4096


def rss_anon_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return -1


def sanitized(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


with ndtest.Broker() as b:
    asan = sanitized(b.bin)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fs = admin.create_topics([NewTopic("burst", 1, 1,
                                       config={"fsync": "always"})])
    fs["burst"].result(30)
    base = rss_anon_kb(b.pid)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                  "linger.ms": 5})
    failed = []
    value = os.urandom(SIZE)
    peak = base
    for i in range(RECORDS):
        while True:
            try:
                p.produce("burst", value, partition=0,
                          on_delivery=lambda e, m: e and failed.append(e))
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
            peak = max(peak, rss_anon_kb(b.pid))
    if p.flush(120) != 0 or failed:
        ndtest.fail("burst: %d undelivered, errors %s" % (len(p), failed[:3]))
    peak = max(peak, rss_anon_kb(b.pid))
    # The pool frees what has sat unused for 2 s (NET_POOL_IDLE_MS_DEFAULT);
    # wait for the anonymous memory to come down, 60 s at most.
    deadline = time.monotonic() + 60
    now = rss_anon_kb(b.pid)
    while now > base + SLACK_KB and time.monotonic() < deadline and not asan:
        time.sleep(0.5)
        now = rss_anon_kb(b.pid)
    print("RssAnon: %d KiB at start, %d KiB peak, %d KiB after idling%s"
          % (base, peak, now, " (ASan: not checked)" if asan else ""))
    if not asan and now > base + SLACK_KB:
        ndtest.fail("anonymous memory stayed at %d KiB after the burst "
                    "(%d KiB at start, %d KiB peak)" % (now, base, peak))
    ndtest.stop_clean(b)
ndtest.passed()
