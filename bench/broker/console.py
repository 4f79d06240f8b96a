#!/usr/bin/env python3
"""console.py — what the web console costs the broker, and how fast its
topic list loads (issue 23: "produce throughput and p99 while three
browser tabs follow live topics and the group page refreshes, vs none, in
one run: <= 3 % difference. Page load of the topic list with 1,000 topics
<= 300 ms (measured in the browser)").

One `nodata serve --http 127.0.0.1:0` (this build tree's) on a scratch
data directory. Throughout the run, in both modes: three topics
(bc-live-0..2) get 10 records/s each from a confluent_kafka producer, and
a consumer (tests/console/kafka_client.py) in group bc-followers reads
bc-live-0, so there is something to follow and a group with a member and
lag. Then rounds, alternating (off, on, on, off, ...):

  off  no browser;
  on   one headless Chromium (Debian's, playwright-core:
       tests/console/tabs.mjs) with three tabs on the Messages pages of
       bc-live-0..2 with Follow live on (a poll a second each) and one on
       bc-followers' group page (which refreshes itself), for the whole
       round;
       (with --load api, instead: the same API calls from a Python
       thread, ApiLoad, so what the broker pays is told apart from what
       Chromium's own CPU takes from a machine it shares.)

Each round runs, with librdkafka (nodata-broker-bench in client mode, as
metrics-cost.py): produce --count messages of 100 B, acks=1, as fast as the
client goes (msgs/s, MB/s); then produce->ack latency at 10,000 msgs/s
offered, acks=all, for --secs (p50, p99). Medians per mode and the ratio
on/off; the target is a difference of at most 3 %.

Then the page load: --topics topics are created (1 partition each), and
tests/console/pageload.mjs loads the Topics page --loads times, each in a
fresh browser context, timing from the navigation's start to the table
holding every topic (performance.now() when a MutationObserver sees the
last row). Median and max; the target is 300 ms.

    /usr/bin/python3 bench/broker/console.py [--rounds N] [--quick]
        [--case ab,pageload] [--load tabs|api] [--count N] [--secs S]
        [--topics N]
        [--loads N] [--nodata PATH] [--bench PATH]

Needs chromium and npm (tests/console's packages, installed and cached as
the tests do: tests/compat/jsdeps.py).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "compat"))

from benchlib import ab_rounds, ab_summary, tool_paths  # noqa: E402
import jsdeps  # noqa: E402
import ndtest  # noqa: E402

LIVE = ["bc-live-%d" % i for i in range(3)]
GROUP = "bc-followers"


def log(msg):
    print(msg, flush=True)


class Trickle(threading.Thread):
    """10 records/s into each live topic until stopped."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.stop = threading.Event()

    def run(self):
        i = 0
        while not self.stop.wait(0.1):
            for t in LIVE:
                self.p.produce(t, key=b"k%d" % i,
                               value=json.dumps({"n": i}).encode())
            self.p.poll(0)
            i += 1
        self.p.flush(30)


class Tabs:
    """tabs.mjs: the browser load, started and ready, until close()."""

    def __init__(self, scripts, url, env):
        self.p = subprocess.Popen(
            ["node", os.path.join(scripts, "tabs.mjs"), url, GROUP] + LIVE,
            cwd=scripts, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            self.p.kill()
            raise SystemExit("console: tabs.mjs did not start: %s%s"
                             % (line, self.p.stderr.read()))

    def close(self):
        self.p.stdin.close()
        out = self.p.stdout.read()
        if self.p.wait(60) != 0:
            raise SystemExit("console: tabs.mjs failed: %s%s"
                             % (out, self.p.stderr.read()))
        return int(out.split("polls ")[-1].split()[0])


class ApiLoad(threading.Thread):
    """--load api: the API calls the four tabs make, without a browser:
    a follow poll a second per live topic (from its next_offset) and the
    group page's two calls every 5 s. What the broker pays for the
    console, apart from what Chromium's own CPU takes from the machine."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.calls = 0

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            self.calls += 1
            return json.loads(r.read())

    def run(self):
        nxt = {t: self.get("/api/topics/%s/partitions/0/messages?from=end"
                           "&limit=50" % t)["next_offset"] for t in LIVE}
        tick = 0
        while not self.stop.wait(1.0):
            for t in LIVE:
                nxt[t] = self.get("/api/topics/%s/partitions/0/messages?"
                                  "from=offset&offset=%d&limit=500"
                                  % (t, nxt[t]))["next_offset"]
            if tick % 5 == 0:
                self.get("/api/groups/" + GROUP)
                self.get("/api/groups/%s/lag-history" % GROUP)
            tick += 1


def ab(a, b, scripts, env):
    bootstrap = b.bootstrap
    url = "http://%s:%d" % b.http
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in LIVE]).values():
        f.result(60)
    trickle = Trickle(bootstrap)
    trickle.start()
    consumer = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(scripts, "kafka_client.py"),
         "consume", bootstrap, LIVE[0], GROUP], stdout=subprocess.PIPE,
        text=True)
    try:
        if consumer.stdout.readline().strip() != "assigned":
            raise SystemExit("console: the group's consumer did not start")
        # It prints a line a record: drained, so it never blocks on a
        # full pipe.
        threading.Thread(target=consumer.stdout.read, daemon=True).start()

        def tabs():
            t0 = time.monotonic()
            if a.load == "tabs":
                t = Tabs(scripts, url, env)
                close = t.close
            else:
                t = ApiLoad(url)
                t.start()

                def close():
                    t.stop.set()
                    t.join()
                    return t.calls

            def stop():
                calls = close()
                return "  (%d API calls, %.1f/s)" % (
                    calls, calls / (time.monotonic() - t0))
            return stop

        res = ab_rounds(a, bootstrap, b.pid, tabs)
        if not b.alive():
            raise SystemExit("console: nodata serve died")
        r = ab_summary(res, "none", "4 tabs" if a.load == "tabs"
                       else "their API calls")
        log("  target: within 3 %%: throughput %+.1f %%, p99 %+.1f %%"
            % (100 * (r["msgs/s"] - 1), 100 * (r["p99 ms"] - 1)))
    finally:
        trickle.stop.set()
        trickle.join()
        ndtest.terminate(consumer)


def pageload(a, b, scripts, env):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    t0 = time.monotonic()
    for i in range(0, a.topics, 100):
        fs = admin.create_topics([NewTopic("bc-topic-%04d" % j, 1, 1) for j in
                                  range(i, min(a.topics, i + 100))])
        for f in fs.values():
            f.result(120)
    url = "http://%s:%d" % b.http
    t1 = time.monotonic()
    with urllib.request.urlopen(url + "/api/topics", timeout=60) as r:
        body = r.read()
    api_ms = (time.monotonic() - t1) * 1e3
    total = len(json.loads(body)["topics"])
    log("\n== page load: %d topics made in %.1f s; GET /api/topics: %d "
        "topics, %.0f KB, %.1f ms (from Python, warm)"
        % (a.topics, time.monotonic() - t0, total, len(body) / 1e3, api_ms))
    r = subprocess.run(["node", os.path.join(scripts, "pageload.mjs"), url,
                        str(total), str(a.loads)], cwd=scripts, env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit("console: pageload.mjs failed:\n%s%s"
                         % (r.stdout, r.stderr))
    lines = [x.split() for x in r.stdout.splitlines()
             if x.startswith("load ")]
    loads = [float(x[1]) for x in lines]
    for x in lines:
        log("  load %7s ms: scripts ran at %s ms, GET /api/topics %s ms"
            % (x[1], x[3], x[5]))
    log("  median %.1f ms, max %.1f ms (navigation start to the first "
        "page, %d rows, showing it is one of %d topics); target: <= 300 ms"
        % (statistics.median(loads), max(loads), min(total, 100), total))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=8,
                    help="rounds in all, half of each mode (default 8)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, 2 rounds: checks the script runs")
    ap.add_argument("--case", default="ab,pageload")
    ap.add_argument("--count", type=int, default=1000000,
                    help="messages per produce run (default 1,000,000)")
    ap.add_argument("--secs", type=float, default=5,
                    help="seconds per latency run (default 5)")
    ap.add_argument("--load", choices=("tabs", "api"), default="tabs",
                    help="tabs: four Chromium tabs (default); api: their "
                    "API calls from Python, no browser")
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--loads", type=int, default=10)
    ap.add_argument("--nodata")
    ap.add_argument("--bench")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.count, a.secs, a.topics, a.loads = 2, 20000, 0.5, 50, 2
    tool_paths(a, "console")
    os.environ["NODATA_BIN"] = os.path.abspath(a.nodata)
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("console: no chromium (scripts/install-deps.sh)")
    scripts = jsdeps.scenario_dir(jsdeps.CONSOLE)
    shutil.copy(os.path.join(jsdeps.CONSOLE, "kafka_client.py"), scripts)
    env = dict(os.environ, CHROMIUM=chromium)
    with ndtest.Broker(args=["--http", "127.0.0.1:0",
                             "--group-initial-delay-ms", "0"]) as b:
        try:
            with urllib.request.urlopen("http://%s:%d/" % b.http) as r:
                page = r.read()
        except OSError as e:
            page = str(e).encode()
        if b"<html" not in page.lower():
            raise SystemExit("console: the broker serves no page at / (%s)"
                             % page[:200].decode(errors="replace"))
        log("console: nodata serve pid %d, Kafka %s, HTTP %s:%d"
            % (b.pid, b.bootstrap, *b.http))
        cases = a.case.split(",")
        if "ab" in cases:
            ab(a, b, scripts, env)
        if "pageload" in cases:
            pageload(a, b, scripts, env)


if __name__ == "__main__":
    main()
