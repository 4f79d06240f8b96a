"""benchlib.py — what the Python broker benchmarks share: the broker's CPU
time from /proc; nodata-broker-bench's client mode (librdkafka), whose
"result" line becomes a dict of figures; the tools' paths; and rounds of
produce throughput and latency alternating without and with some load
(metrics-cost.py: scraping /metrics; console.py: browser tabs).
"""
import os
import re
import statistics
import subprocess
import time


def cpu_s(pid, thread=None):
    """User + system CPU seconds of a process, or of its thread named
    `thread` (the HTTP listener's is "nd-http"), so far."""
    paths = ["/proc/%d/stat" % pid]
    if thread:
        paths = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    if f.read().strip() == thread:
                        paths.append("/proc/%d/task/%s/stat" % (pid, tid))
            except OSError:
                pass
    total = 0.0
    for p in paths:
        try:
            with open(p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / \
                os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_client(a, bootstrap, *args):
    """nodata-broker-bench (a.bench) --client BOOTSTRAP ARGS...: the figures
    of its "result" line ({"rps": ..., "p99_ms": ...}); exits the benchmark
    with its output when it fails."""
    cmd = [a.bench, "--client", bootstrap] + [str(x) for x in args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    m = re.search(r"^result \S+ (.*)$", r.stdout, re.M)
    if r.returncode or not m:
        raise SystemExit("%s failed (%d):\n%s%s"
                         % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return {k: float(v) for k, v in (kv.split("=") for kv in
                                     m.group(1).split())}


def tool_paths(a, name):
    """a.bench and a.nodata, unless given: this build tree's
    ($NODATA_BUILD, default build/), $NODATA_BIN for nodata. Exits the
    benchmark `name` when one is missing."""
    build = os.environ.get("NODATA_BUILD", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"))
    a.bench = a.bench or os.path.join(build, "bench", "broker",
                                      "nodata-broker-bench")
    a.nodata = a.nodata or os.environ.get("NODATA_BIN") or os.path.join(
        build, "cli", "nodata")
    for p in (a.bench, a.nodata):
        if not os.access(p, os.X_OK):
            raise SystemExit("%s: %s is missing (build first: cmake --build "
                             "build --target nodata_cli nodata_broker_bench)"
                             % (name, p))


FIGURES = ("msgs/s", "MB/s", "p50 ms", "p99 ms", "broker CPU s",
           "http CPU %")


def ab_rounds(a, bootstrap, pid, load):
    """a.rounds rounds, alternating off, on, on, off, ... (so a noisy
    neighbour hurts both alike). A round is nodata-broker-bench's produce
    (a.count x 100 B, acks=1, as fast as it goes) then its latency run
    (10,000 msgs/s offered, acks=all, 5 in flight, a.secs). In an "on"
    round, load() is called first and returns a function, called after,
    that stops the load and returns a note for the round's line. Prints
    each round; returns {"off": [figures], "on": [figures]}, each a dict
    keyed by FIGURES (CPU of the broker `pid` and of its "nd-http" thread
    included)."""
    res = {"off": [], "on": []}
    for rnd in range(a.rounds):
        mode = ("off", "on")[(rnd + rnd // 2) % 2]
        c0, h0, t0 = cpu_s(pid), cpu_s(pid, "nd-http"), time.monotonic()
        stop = load() if mode == "on" else None
        prod = run_client(a, bootstrap, "--run", "produce", "--size", 100,
                          "--count", a.count, "--acks", "1", "--tag",
                          "r%d" % rnd)
        lat = run_client(a, bootstrap, "--run", "latency", "--rate", 10000,
                         "--secs", a.secs, "--warm", min(1, a.secs / 5),
                         "--acks", "all", "--client-config",
                         "max.in.flight.requests.per.connection=5", "--tag",
                         "l%d" % rnd)
        note = stop() if stop else ""
        secs = time.monotonic() - t0
        fig = {"msgs/s": prod["rps"], "MB/s": prod["mbps"],
               "p50 ms": lat["p50_ms"], "p99 ms": lat["p99_ms"],
               "broker CPU s": cpu_s(pid) - c0,
               "http CPU %": 100 * (cpu_s(pid, "nd-http") - h0) / secs}
        res[mode].append(fig)
        print("  round %d %-3s  %10.0f msgs/s  %7.2f MB/s  p50 %6.3f ms  "
              "p99 %6.3f ms  broker CPU %5.2f s, http thread %4.2f %% of a "
              "core%s" % (rnd + 1, mode, fig["msgs/s"], fig["MB/s"],
                          fig["p50 ms"], fig["p99 ms"], fig["broker CPU s"],
                          fig["http CPU %"], note), flush=True)
    return res


def ab_summary(res, off_name, on_name):
    """Prints the median of each figure per mode and the ratio on/off, and
    the spread of throughput and p99 over each mode's rounds; returns
    {figure: ratio}."""
    print("\n== median of %d rounds per mode; ratio = %s / %s"
          % (len(res["on"]), on_name, off_name))
    print("  %-12s %14s %14s %8s" % ("", off_name, on_name, "ratio"))
    ratios = {}
    for key in FIGURES:
        off = statistics.median(f[key] for f in res["off"])
        on = statistics.median(f[key] for f in res["on"])
        ratios[key] = on / off if off else 0
        print("  %-12s %14.3f %14.3f %8.3f" % (key, off, on, ratios[key]))
    # How far apart the rounds of one mode are: a ratio nearer 1 than
    # that spread is within the machine's noise.
    for key in ("msgs/s", "p99 ms"):
        print("  spread of %s, min-max: %s %s, %s %s" % (
            key, off_name, "-".join("%.3g" % f(x[key] for x in res["off"])
                                   for f in (min, max)),
            on_name, "-".join("%.3g" % f(x[key] for x in res["on"])
                              for f in (min, max))))
    return ratios
