#!/usr/bin/env python3
"""metrics-cost.py — what scraping /metrics costs produce (issue 20:
"produce throughput and p99 with metrics scraped every second vs without,
in one run: <= 2 % difference").

One `nodata serve --http 127.0.0.1:0` (this build tree's) on a scratch data
directory, with --extra-partitions partitions made first (default 2,000 in
20 topics, each with a record, and a consumer group that committed on every
one of them) so that every scrape renders a realistic page: the series of
every partition and the lag of every committed offset. Then rounds,
alternating:

  off  no scraper;
  on   a thread GETs /metrics every second (a Prometheus default is 15 s:
       1 s is the issue's harder case) for the whole round.

Each round runs, with librdkafka (nodata-broker-bench in client mode, as
vs-kafka.py uses it):

  produce   --count messages of 100 B, acks=1, as fast as the client goes:
            msgs/s and MB/s;
  latency   produce->ack at 10,000 msgs/s offered, acks=all, for --secs:
            p50 and p99 (ms).

The order of off/on is swapped every pair of rounds, so a noisy neighbour
hurts both alike; the median of each figure per mode is printed with the
ratio on/off. The counters themselves are always counted (there is no
"metrics off" build); what this measures is the scraping.

    /usr/bin/python3 bench/broker/metrics-cost.py [--rounds N] [--quick]
        [--extra-partitions N] [--count N] [--secs S] [--nodata PATH]
        [--bench PATH] [--dir DIR]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

from benchlib import ab_rounds, ab_summary, tool_paths


def log(msg):
    print(msg, flush=True)


class Scraper(threading.Thread):
    """GET /metrics every `every` seconds until stopped; keeps how long
    each scrape took and how big the page was."""

    def __init__(self, url, every=1.0):
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.stop = threading.Event()
        self.took, self.size, self.errors = [], 0, 0

    def run(self):
        while True:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as r:
                    self.size = len(r.read())
                self.took.append(time.monotonic() - t0)
            except OSError:
                self.errors += 1
            if self.stop.wait(max(0.0, self.every - (time.monotonic() - t0))):
                return


def populate(bootstrap, parts, topics):
    """parts partitions over `topics` topics, one record each, and a group
    that committed on every one (so lag series exist for all)."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    if parts <= 0:
        return
    per = max(1, parts // topics)
    names = ["mc-extra-%03d" % i for i in range(topics)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(n, per, 1)
                                  for n in names]).values():
        f.result(120)
    pr = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for n in names:
        for p in range(per):
            pr.produce(n, value=b"x", partition=p)
    if pr.flush(120):
        raise SystemExit("metrics-cost: populating did not finish")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "mc-lag",
                  "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(n, p, 1) for n in names
                      for p in range(per)], asynchronous=False)
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=8,
                    help="rounds in all, half of each mode (default 8)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, 2 rounds: checks the script runs")
    ap.add_argument("--extra-partitions", type=int, default=2000)
    ap.add_argument("--count", type=int, default=1000000,
                    help="messages per produce run (default 1,000,000)")
    ap.add_argument("--secs", type=float, default=5,
                    help="seconds per latency run (default 5)")
    ap.add_argument("--every", type=float, default=1.0,
                    help="seconds between scrapes (default 1)")
    ap.add_argument("--nodata")
    ap.add_argument("--bench")
    ap.add_argument("--dir")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.count, a.secs, a.extra_partitions = 2, 20000, 0.5, 100
    tool_paths(a, "metrics-cost")

    root = tempfile.mkdtemp(prefix="nd-metrics-cost-", dir=a.dir or None)
    out = open(os.path.join(root, "serve.out"), "w+")
    err = open(os.path.join(root, "serve.err"), "w+")
    nd = subprocess.Popen(
        [a.nodata, "serve", "--listen", "127.0.0.1:0", "--http",
         "127.0.0.1:0", "--data", os.path.join(root, "data"),
         "--group-initial-delay-ms", "0",
         "--max-store-partitions", str(max(10000, a.extra_partitions * 2))],
        stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            out.seek(0)
            text = out.read()
            k = re.search(r"listening on (\S+):(\d+)", text)
            h = re.search(r"http on (\S+):(\d+) ", text)
            if k and h:
                break
            if nd.poll() is not None or time.monotonic() > deadline:
                err.seek(0)
                raise SystemExit("metrics-cost: nodata serve did not start:"
                                 "\n" + err.read())
            time.sleep(0.05)
        bootstrap = "%s:%s" % (k.group(1), k.group(2))
        url = "http://%s:%s/metrics" % (h.group(1), h.group(2))
        t0 = time.monotonic()
        populate(bootstrap, a.extra_partitions, 20)
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
        log("metrics-cost: %d extra partitions made in %.1f s; /metrics is "
            "%d lines, %.0f KB" % (a.extra_partitions,
                                   time.monotonic() - t0,
                                   body.count(b"\n"), len(body) / 1e3))

        scrapes = []

        def scrape():
            sc = Scraper(url, a.every)
            sc.start()

            def stop():
                sc.stop.set()
                sc.join()
                scrapes.extend(sc.took)
                if sc.errors:
                    raise SystemExit("metrics-cost: %d scrapes failed"
                                     % sc.errors)
                return "  (%d scrapes)" % len(sc.took)
            return stop

        res = ab_rounds(a, bootstrap, nd.pid, scrape)
        if nd.poll() is not None:
            raise SystemExit("metrics-cost: nodata serve died")
        ab_summary(res, "not scraped", "scraped every %gs" % a.every)
        if scrapes:
            scrapes.sort()
            log("  scrapes: %d, median %.1f ms, max %.1f ms (HTTP thread; "
                "page of %.0f KB)" % (len(scrapes),
                                      statistics.median(scrapes) * 1e3,
                                      scrapes[-1] * 1e3, len(body) / 1e3))
    finally:
        if nd.poll() is None:
            nd.send_signal(signal.SIGTERM)
            try:
                nd.wait(60)
            except subprocess.TimeoutExpired:
                nd.kill()
                nd.wait()
        out.close()
        err.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
