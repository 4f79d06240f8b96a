"""benchlib.py — what the Python broker benchmarks share: the broker's CPU
time from /proc, and nodata-broker-bench's client mode (librdkafka), whose
"result" line becomes a dict of figures.
"""
import os
import re
import subprocess


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
