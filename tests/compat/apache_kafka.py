"""apache_kafka.py — a real Apache Kafka broker for the tests, the oracle
nodata is compared with.

ApacheKafka() resolves org.apache.kafka:kafka_2.13 (tests/kafka/pom.xml)
with Maven into ~/.m2 (the first run downloads it, later ones reuse it),
formats a single-node KRaft log directory in a temp dir, starts the broker
on free 127.0.0.1 ports, waits until it answers ApiVersions, and stops it
by its PID (also at interpreter exit, like ndtest's brokers).

    with ApacheKafka() as k:
        k.bootstrap  # "127.0.0.1:PORT"

ApacheKafka(wait=False) returns as soon as the JVM is started; call
k.wait() before using k.bootstrap. A test overlaps Kafka's start (seconds)
with its nodata half that way. ApacheKafka(start=False) only formats the
log directory; k.start() then starts the server and records the
time.monotonic_ns() it did so in k.started_ns (the benchmark times the
server's start apart from the one-time format step). pom= and jvm_args=
run Kafka from another Maven project's jars with more JVM options (the
compaction benchmark adds a logging backend); format_args are added to
the storage format command (["--feature", "transaction.version=1"]
finalizes a feature at a level other than the release's default);
extra_listeners=[(NAME, ADVERTISED or None[, PROTOCOL]), ...] adds
listeners on free 127.0.0.1 ports (k.listener_ports[NAME]), each advertised
as ADVERTISED ("host:port") or its own address, with PROTOCOL (default
PLAINTEXT) in listener.security.protocol.map (their ssl.*, sasl.*,
listener.name.x.* settings go in extra_props); k.listener[NAME] is each
one's "127.0.0.1:PORT", PLAINTEXT's too;
k.restart() stops it
cleanly and starts it again on the same directory and ports.
"""
import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
import time

import ndtest

HERE = os.path.dirname(os.path.abspath(__file__))
POM = os.path.join(HERE, "..", "kafka", "pom.xml")
_live = set()


def classpath(pom=POM):
    """The classpath of a Maven project's dependencies (Kafka's by default),
    from ~/.m2: resolved with Maven on first use, then remembered in
    ~/.m2/nodata-classpath/ under the hash of the pom, as long as every
    jar it names is still there."""
    if not shutil.which("mvn") or not shutil.which("java"):
        ndtest.skip("Apache Kafka needs java and mvn")
    with open(pom, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    cache = os.path.join(os.path.expanduser("~"), ".m2", "nodata-classpath",
                         key)
    try:
        with open(cache) as f:
            cp = f.read().strip()
        if cp and all(os.path.exists(j) for j in cp.split(os.pathsep)):
            return cp
    except OSError:
        pass
    out = os.path.join(tempfile.mkdtemp(prefix="nd-kafka-cp-"), "cp")
    r = subprocess.run(["mvn", "-q", "-B", "-f", pom,
                        "dependency:build-classpath",
                        "-Dmdep.outputFile=" + out],
                       capture_output=True, timeout=900)
    if r.returncode != 0:
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)
        ndtest.fail("resolving %s with Maven failed:\n%s"
                    % (pom, (r.stdout + r.stderr).decode(
                        errors="replace")[-3000:]))
    with open(out) as f:
        cp = f.read().strip()
    shutil.rmtree(os.path.dirname(out))
    # Written whole, then renamed: tests resolve in parallel.
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    tmp = "%s.%d" % (cache, os.getpid())
    with open(tmp, "w") as f:
        f.write(cp)
    os.replace(tmp, cache)
    return cp


def _free_port():
    return ndtest.free_port()


class ApacheKafka:
    def __init__(self, extra_props=(), wait=True, start=True, pom=POM,
                 jvm_args=(), format_args=(), extra_listeners=()):
        cp = classpath(pom)  # first: a failure here leaves no temp dir
        self.dir = tempfile.mkdtemp(prefix="nd-kafka-")
        port, ctl = _free_port(), _free_port()
        while ctl == port:
            ctl = _free_port()
        self.listener_ports = {}
        lst, adv, pmap = "", "", ""
        for name, advertised, *proto in extra_listeners:
            p = _free_port()
            while p in (port, ctl) or p in self.listener_ports.values():
                p = _free_port()
            self.listener_ports[name] = p
            lst += ",%s://127.0.0.1:%d" % (name, p)
            adv += ",%s://%s" % (name, advertised or "127.0.0.1:%d" % p)
            pmap += ",%s:%s" % (name, proto[0] if proto else "PLAINTEXT")
        self.listener = {n: "127.0.0.1:%d" % p for n, p in
                         dict(self.listener_ports, PLAINTEXT=port).items()}
        props = os.path.join(self.dir, "server.properties")
        with open(props, "w") as f:
            f.write("\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.bootstrap.servers=127.0.0.1:%d" % ctl,
                "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d%s"
                % (port, ctl, lst),
                "advertised.listeners=PLAINTEXT://127.0.0.1:%d%s" % (port, adv),
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map="
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" + pmap,
                "log.dirs=" + os.path.join(self.dir, "logs"),
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
            ] + list(extra_props)) + "\n")
        self.java = ["java", "-Xmx512m", "-XX:+UseG1GC"] + list(jvm_args) + [
            "-cp", cp]
        self.props = props
        self.log = os.path.join(self.dir, "kafka.log")
        self.proc = None
        self.bootstrap = "127.0.0.1:%d" % port
        _live.add(self)
        r = subprocess.run(self.java + ["kafka.tools.StorageTool", "format",
                                        "-t", "MkU3OEVBNTcwNTJENDM2Qg",
                                        "-c", props, "--standalone"] +
                           list(format_args),
                           capture_output=True, timeout=300)
        if r.returncode != 0:
            self.close()
            ndtest.fail("formatting Kafka's log dir failed:\n%s"
                        % (r.stdout + r.stderr).decode(errors="replace"))
        if start:
            self.start(wait)

    def start(self, wait=True):
        with open(self.log, "wb") as out:
            self.started_ns = time.monotonic_ns()
            self.proc = subprocess.Popen(self.java + ["kafka.Kafka",
                                                      self.props],
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        if wait:
            self.wait()

    def wait(self):
        """Return once the broker answers ApiVersions; fail after 180 s."""
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                # The tail first: close() removes the directory it is in.
                tail = self._tail()
                self.close()
                ndtest.fail("Apache Kafka exited with %d:\n%s"
                            % (self.proc.returncode, tail))
            try:
                ndtest.api_versions(self.bootstrap, timeout=5)
                break
            except (OSError, ndtest.BrokerError):
                if time.monotonic() > deadline:
                    tail = self._tail()
                    self.close()
                    ndtest.fail("Apache Kafka did not answer in 180 s:\n%s"
                                % tail)
                time.sleep(0.3)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def restart(self):
        """Stop the broker (SIGTERM: a clean shutdown) and start it again
        on the same log directory and ports; return once it answers."""
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # Its log is truncated by start(): keep the first run's apart.
        os.replace(self.log, self.log + ".%d" % self.proc.pid)
        self.start(wait=True)

    def _tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@atexit.register
def _stop_all():
    for k in list(_live):
        k.close()
