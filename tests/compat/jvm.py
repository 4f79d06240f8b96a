"""jvm.py — a Java program (Kafka Connect, a Kafka Streams app, ...) run by
a test beside `nodata serve`, its output in a log file.

    p = jvm.Jvm(cp, ["org.apache.kafka.connect.cli.ConnectDistributed",
                     props], log=os.path.join(tmp, "connect.log"))
    p.wait_for("the herder", lambda: "Herder started" in p.text())
    p.stop()      # SIGTERM, then SIGKILL after 60 s; returns the status
    p.kill9()     # a crash

The process dies with the test (PR_SET_PDEATHSIG, as ndtest's brokers) and
is stopped at interpreter exit. Every wait fails the test with the end of
the log when the program exited or the time ran out.
"""
import atexit
import subprocess
import time

import ndtest

_live = set()


class Jvm:
    def __init__(self, cp, args, log, heap="512m", props=()):
        """Start java with classpath cp; args are the main class (or a
        source file) and its arguments; props are -D settings."""
        self.log = log
        self.args = args
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                ["java", "-Xmx" + heap, "-XX:+UseG1GC",
                 "-Dorg.slf4j.simpleLogger.showDateTime=true"] +
                ["-D" + p for p in props] + ["-cp", cp] + list(args),
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=ndtest._pdeathsig)
        _live.add(self)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def errors(self):
        """The program's ERROR lines, each with the line after it (an
        exception's message), to put first in a failure."""
        lines = self.text().splitlines()
        return "\n".join("\n".join(lines[i:i + 2])
                         for i, line in enumerate(lines)
                         if " ERROR " in line)[:4000]

    def report(self):
        return "ERROR lines:\n%s\n... the end of its log:\n%s" % (
            self.errors(), self.text()[-5000:])

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            ndtest.fail("%s exited with %d; %s" % (self.args[0],
                                                  self.proc.returncode,
                                                  self.report()))

    def wait_for(self, what, cond, timeout=120, interval=0.3):
        """Poll cond() until it returns something true, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            r = cond()
            if r:
                return r
            if time.monotonic() > deadline:
                ndtest.fail("%s: not after %d s; %s's %s"
                            % (what, timeout, self.args[0], self.report()))
            time.sleep(interval)

    def stop(self, timeout=60):
        _live.discard(self)
        return ndtest.terminate(self.proc, timeout)

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        _live.discard(self)


@atexit.register
def _stop_all():
    for p in list(_live):
        p.kill9()
