"""test_verify_live.py — issue 15 item 8: `nodata verify` beside a broker
that appends and rolls segments all the time.

A producer thread appends RECORDS records in small batches to a topic of
4 KiB segments (a roll every few batches, index files preallocated and
trimmed at each) while `nodata verify` (which reads the files and makes a
read-only open of the live store) runs, up to RUNS times, each followed by
`nodata consume --data` (a read-only open that reads every record). Every
run must exit 0: no crash (verify used to die of SIGBUS on an index
trimmed under it) and no damage reported for what the broker is still
writing (verify used to exit 3, for a segment created while it listed the
directory; consume failed with "offset out of range" within the first
runs, for a last segment that grew between its measuring and its
recovery scan).
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

NODATA = ndtest.nodata_bin()
RUNS = 100
RECORDS = 100000


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


# Small segments (below Kafka's 1 MiB floor) so the log has many.
b = ndtest.Broker(args=["--min-segment-bytes", "4096"])
admin = AdminClient({"bootstrap.servers": b.bootstrap})
fs = admin.create_topics([NewTopic(
    "live", 2, 1, config={"segment.bytes": "4096",
                          "index.interval.bytes": "128"})])
for f in fs.values():
    f.result(30)

stop = threading.Event()
errors = []


def writer():
    pr = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
                   "acks": "1"})
    i = 0
    while not stop.is_set():
        pr.produce("live", value=b"v" * (20 + i % 200), partition=i % 2,
                   on_delivery=lambda e, m: e and errors.append(e))
        i += 1
        if i % 10 == 0:
            pr.flush(30)
        if i == RECORDS:  # bounded, so that each verify stays short
            break
    pr.flush(30)


t = threading.Thread(target=writer)
t.start()
try:
    for run in range(RUNS):
        if not t.is_alive():
            break
        t0 = time.monotonic()
        r = subprocess.run([NODATA, "verify", "--data", b.data_dir],
                           capture_output=True, text=True, timeout=120)
        if os.environ.get("ND_VERBOSE"):
            print("run %d: %.2fs %s" % (run, time.monotonic() - t0,
                                        r.stdout.strip().splitlines()[-1:]))
        if r.returncode != 0:
            ndtest.fail("verify run %d beside the live broker: exit %d\n%s%s"
                        % (run, r.returncode, r.stdout[-3000:],
                           r.stderr[-2000:]))
        r = subprocess.run([NODATA, "consume", "live", "-p", "0",
                            "--data", b.data_dir],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "consume --data run %d beside the "
              "broker: exit %d: %s" % (run, r.returncode, r.stderr[-2000:]))
finally:
    stop.set()
    t.join()
check(not errors, "produce errors: %s" % errors[:1])
ndtest.stop_clean(b)
b.close()
ndtest.passed()
