"""ndtest.py — Python helpers for tests that run `nodata serve`.

Use from a tests/compat/test_*.py script (ctest runs it with python3 and
sets NODATA_BIN to the nodata binary):

    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ndtest

    with ndtest.Broker() as b:            # free 127.0.0.1 port, temp data dir
        client = SomeKafkaClient(bootstrap_servers=b.bootstrap)
        ...
        b.restart()                       # same data, same port
        b.kill9()                         # crash; b.start() brings it back
    # leaving the block stops it (SIGTERM, then SIGKILL) and removes the
    # temp dir; b.exit_code holds its status
    ndtest.passed()

Broker(data_dir=None, args=(), port=0, start=True, env=None, nofile=None,
       listen=True)
    data_dir   None = a fresh temp dir, removed at the end; a path you give
               is kept.
    args       extra `nodata serve` flags, e.g. ["--no-auto-create"].
    port       0 = a free port; the real one is read from the start-up line.
    env        variables added to the broker's environment (NODATA_*).
    nofile     its descriptor limit (soft and hard RLIMIT_NOFILE).
    listen     False: no --listen flag (the listeners come from a --config
               file in args); .port is then the first listener's.
  .start(timeout=10)   start it and wait for the start-up line (raises
                       BrokerError with its stderr if it exits or is silent)
  .stop(timeout=15)    SIGTERM, wait, SIGKILL if needed; returns the exit
                       status (also .exit_code, which keeps the status of
                       the last run until the next stop). Raises BrokerError if it
                       had to be killed, unless check=False.
  .kill9()             SIGKILL now (crash tests)
  .restart()           stop + start on the same data dir and port
  .alive()             is the process running
  .port, .bootstrap ("127.0.0.1:PORT"), .pid, .data_dir
  .http                (host, port) of --http's listener, else None
  .stdout(), .stderr() what it printed so far (files, so a chatty broker
                       never blocks on a full pipe)
  .rss_kb()            its resident memory (VmRSS) in KiB

Also:
  require(*modules)            skip the test unless every module imports;
                               returns them
  skip(msg)                    print "SKIP: msg" and exit 77, which ctest
                               reports as skipped; under CI=true a skip is a
                               failure instead, since CI must run every test
  passed(), fail(msg)
  kafka_request(sock, api_key, api_version, correlation_id, body=b"",
                client_id="ndtest")  send one request (header v1)
  read_topic(bootstrap, topic)        every record of a topic and the
                                      offsets it spans (confluent-kafka)
  wait_cleaned(bootstrap, topic)      read_topic once a cleaner removed
                                      some, or after 30 s
  recv_frame(sock, timeout=10)        one response frame (bytes after the
                                      size prefix) or None if closed
  closed_by_peer(sock, timeout=10)    True once the broker closed sock
                                      (EOF or reset), False if it is still
                                      open after timeout
  api_versions(bootstrap)             raw ApiVersions v0: {key: (min, max)}
  free_port()                         a TCP port free on 127.0.0.1
  terminate(proc, timeout=60)         SIGTERM a Popen, SIGKILL after
                                      timeout; its exit status

Every broker started here is also stopped at interpreter exit (atexit) and
dies with the thread that started it (PR_SET_PDEATHSIG; start brokers from
the main thread), so a crashed test never leaves one behind. Everything listens on 127.0.0.1 only.
"""

import atexit
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

__all__ = ["Broker", "BrokerError", "require", "skip", "passed", "fail",
           "kafka_request", "recv_frame", "closed_by_peer", "api_versions",
           "nodata_bin", "free_port", "terminate", "consume_to_end"]

_LINE = re.compile(r"listening on (\S+):(\d+)")
# With --http: printed before _LINE (docs/metrics.md).
_HTTP_LINE = re.compile(r"http on (\S+):(\d+) ")
_live = set()


class BrokerError(Exception):
    pass


def nodata_bin():
    b = os.environ.get("NODATA_BIN", "")
    if not b or not os.access(b, os.X_OK):
        fail("NODATA_BIN is not set to the nodata binary (got %r)" % b)
    return b


def _pdeathsig():
    # Runs in the child before exec: die with the test process.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Broker:
    def __init__(self, data_dir=None, args=(), port=0, start=True, env=None,
                 nofile=None, listen=True):
        self.bin = nodata_bin()
        # listen=False: no --listen, so that a --config FILE's `listeners`
        # (which --listen overrides) decide; the first one is reported.
        self.listen = listen
        self.env = dict(os.environ, **(env or {}))
        self.nofile = nofile
        self._tmp = tempfile.mkdtemp(prefix="nd-compat-")
        self._own_data = data_dir is None
        self.data_dir = data_dir or os.path.join(self._tmp, "data")
        self.args = list(args)
        self.port = port
        self.bootstrap = None
        self.http = None
        self.proc = None
        self.exit_code = None
        self._out = os.path.join(self._tmp, "serve.out")
        self._err = os.path.join(self._tmp, "serve.err")
        if start:
            self.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=10):
        if self.alive():
            raise BrokerError("already running (pid %d)" % self.pid)
        cmd = [self.bin, "serve"]
        if self.listen:
            cmd += ["--listen", "127.0.0.1:%d" % self.port]
        cmd += ["--data", self.data_dir] + self.args
        with open(self._out, "wb") as out, open(self._err, "ab") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err,
                                         env=self.env,
                                         preexec_fn=self._preexec)
        _live.add(self)
        deadline = time.monotonic() + timeout
        while True:
            out = self.stdout()
            m = _LINE.search(out)
            if m:
                self.port = int(m.group(2))
                self.bootstrap = "127.0.0.1:%d" % self.port
                h = _HTTP_LINE.search(out)
                self.http = (h.group(1), int(h.group(2))) if h else None
                return self
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                _live.discard(self)
                raise BrokerError("nodata serve exited with status %d before "
                                  "its start-up line:\n%s"
                                  % (self.exit_code, self.stderr()))
            if time.monotonic() > deadline:
                self.stop(check=False)
                raise BrokerError("nodata serve printed no start-up line in "
                                  "%ss:\n%s" % (timeout, self.stderr()))
            time.sleep(0.05)

    def _preexec(self):
        _pdeathsig()
        if self.nofile:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (self.nofile, self.nofile))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15, check=True):
        if self.proc is None:
            return self.exit_code
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        self.proc = None
        _live.discard(self)
        if killed and check:
            raise BrokerError("nodata serve ignored SIGTERM for %ss and was "
                              "killed:\n%s" % (timeout, self.stderr()))
        return self.exit_code

    def kill9(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.exit_code = self.proc.returncode
            self.proc = None
            _live.discard(self)

    def restart(self, timeout=10):
        self.stop()
        return self.start(timeout)

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        return self._read(self._out)

    def stderr(self):
        return self._read(self._err)

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def close(self):
        try:
            self.stop(check=False)
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.stderr():
            # ND_STDERR_TAIL: how many of its last characters to show
            # (default 4000; set it high to read a failure whole).
            tail = int(os.environ.get("ND_STDERR_TAIL", "4000"))
            sys.stderr.write("--- broker stderr ---\n%s---\n"
                             % self.stderr()[-tail:])
        self.close()
        return False


@atexit.register
def _stop_all():
    for b in list(_live):
        try:
            b.close()
        except Exception:
            pass


SKIP_CODE = 77  # ctest's SKIP_RETURN_CODE (tests/CMakeLists.txt)


def skip(msg):
    if os.environ.get("CI"):
        fail("would skip, but CI must run every test: %s" % msg)
    print("SKIP: %s" % msg)
    sys.stdout.flush()
    sys.exit(SKIP_CODE)


def stop_clean(broker):
    """Stop broker and fail unless it exited 0 with no sanitizer report."""
    code = broker.stop()
    if code != 0:
        fail("nodata serve exited with %s" % code)
    err = broker.stderr()
    if "Sanitizer" in err or "runtime error" in err:
        fail("sanitizer report:\n%s" % err[-4000:])


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port free on 127.0.0.1 now (for a server the test starts).

    Taken below the kernel's ephemeral range: a port from bind(0) is
    in that range, where the kernel may hand it again to any socket bound
    to port 0 or any outgoing connection before the server binds it (a
    Kafka JVM takes seconds to start, and nodata brokers listen on port 0
    beside it): CI saw Apache Kafka exit at start that way. Below the
    range only another test's free_port can pick it, at random, and the
    bind here rules out one that is in use."""
    low, high = 10000, min(_ephemeral_low(), 65536) - 1
    if high - low < 1000:  # an unusual range: let the kernel choose
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    rng = random.SystemRandom()
    while True:
        port = rng.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def terminate(proc, timeout=60):
    """Stop a subprocess.Popen the test started: SIGTERM, wait up to
    timeout seconds, then SIGKILL. Returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def passed():
    print("PASS: %s" % os.path.basename(sys.argv[0]))
    sys.exit(0)


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def require(*modules):
    """Import the named modules or skip the test; returns them in order."""
    import importlib
    out = []
    for m in modules:
        try:
            out.append(importlib.import_module(m))
        except ImportError:
            skip("python module %s is not installed" % m)
    return out[0] if len(out) == 1 else out


def kafka_request(sock, api_key, api_version, correlation_id, body=b"",
                  client_id="ndtest"):
    """Send one request with a v1 header (non-flexible)."""
    cid = client_id.encode() if client_id is not None else None
    hdr = struct.pack(">hhi", api_key, api_version, correlation_id)
    hdr += struct.pack(">h", -1) if cid is None else \
        struct.pack(">h", len(cid)) + cid
    msg = hdr + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(sock, timeout=10):
    """One response frame without its size prefix, or None on close."""
    sock.settimeout(timeout)
    try:
        h = _recv_exact(sock, 4)
        if h is None:
            return None
        (n,) = struct.unpack(">i", h)
        return _recv_exact(sock, n)
    except ConnectionResetError:
        return None


def closed_by_peer(sock, timeout=10):
    """Read and drop until the broker closes sock: True on EOF or a reset,
    False if it is still open after timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def api_versions(bootstrap, timeout=10):
    """ApiVersions v0 over a raw socket: {api_key: (min, max)}."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        kafka_request(s, 18, 0, 4242)
        r = recv_frame(s, timeout)
    if r is None:
        raise BrokerError("connection closed before the ApiVersions reply")
    corr, err, n = struct.unpack(">ihi", r[:10])
    if corr != 4242 or err != 0:
        raise BrokerError("ApiVersions: correlation %d error %d" % (corr, err))
    out = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", r[10 + 6 * i:16 + 6 * i])
        out[k] = (lo, hi)
    return out


def consume_to_end(bootstrap, topic, partition=0, start=0, conf=None,
                   timeout=10):
    """The messages of one partition from offset `start` until the
    consumer reaches its end (EOF), read with confluent-kafka
    (librdkafka), in order. conf adds consumer settings. Fails the test
    on a consumer error or when nothing arrives for `timeout` seconds."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer(dict({"bootstrap.servers": bootstrap,
                       "group.id": "ndtest-read", "enable.auto.commit": False,
                       "enable.partition.eof": True}, **(conf or {})))
    c.assign([TopicPartition(topic, partition, start)])
    out = []
    try:
        while True:
            m = c.poll(timeout)
            if m is None:
                fail("reading %s/%d from %d: nothing for %ss after %d "
                     "messages" % (topic, partition, start, timeout,
                                   len(out)))
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return out
                fail("reading %s/%d: %s" % (topic, partition, m.error()))
            out.append(m)
    finally:
        c.close()


def read_partition(bootstrap, topic, partition=0, timeout=10):
    """Every record of one partition, from offset 0 to its end, read with
    confluent-kafka (librdkafka): {offset: value}. Fails the test on a
    consumer error or when nothing arrives for `timeout` seconds."""
    return {m.offset(): m.value()
            for m in consume_to_end(bootstrap, topic, partition, 0,
                                    timeout=timeout)}


def read_topic(bootstrap, topic, timeout=60):
    """Every record of every partition of a topic, from each one's log
    start to its end, read with confluent-kafka: ([(partition, offset,
    key, value)], offsets spanned). On a compacted topic the span less
    the records is what a cleaner removed. Fails the test on a consumer
    error or when the partitions are not read whole in `timeout` s."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "ndtest-read",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        todo, span, out, start = set(), 0, [], {}
        for q in c.list_topics(topic, 10).topics[topic].partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, q), 10)
            span += hi - lo
            if hi > lo:
                todo.add(q)
                start[q] = lo
        # From the log start: offset 0 is out of range once retention or
        # DeleteRecords moved it, and the consumer would skip to the end.
        c.assign([TopicPartition(topic, q, start[q]) for q in todo])
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            m = c.poll(1)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    fail("reading %s: %s" % (topic, m.error()))
                todo.discard(m.partition())
            else:
                out.append((m.partition(), m.offset(), m.key(), m.value()))
    finally:
        c.close()
    if todo:
        fail("reading %s: partitions %s not read to their end in %ss"
             % (topic, sorted(todo), timeout))
    return out, span


def wait_cleaned(bootstrap, topic, timeout=30):
    """Give a log cleaner up to timeout seconds to remove records from a
    compacted topic, for tests that must pass with or without one:
    returns (records, offsets spanned) once some are gone, or as they are
    at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        records, span = read_topic(bootstrap, topic)
        if len(records) < span or time.monotonic() > deadline:
            return records, span
        time.sleep(1)


def topic_dir(topic):
    """The directory name of a topic under DATA/topics: sha256 of its name."""
    import hashlib
    return hashlib.sha256(topic.encode()).hexdigest()
