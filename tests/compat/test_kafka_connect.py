"""test_kafka_connect.py — Kafka Connect in distributed mode keeps its state
in compacted topics on nodata, and resumes from it (issue 18).

Connect (tests/kafka/connect/pom.xml: connect-runtime and connect-file
4.3.1, the newest release Maven Central has whole) runs one distributed
worker against `nodata serve`:

- the worker creates its config, offset and status topics itself with
  cleanup.policy=compact, then checks with DescribeConfigs that each is
  compacted and nothing else (TopicAdmin.verifyTopicCleanupPolicyOnlyCompact,
  which refuses to start otherwise, when it finds them at start-up): the
  second worker's log must show the policy nodata described, "compact",
  for all three; nodata describes them compacted,
  with the settings Connect passed (the <purpose>.storage.* overrides below,
  which let a cleaner clean while the test runs);
- a FileStreamSource connector (a file into topic `lines`) and a
  FileStreamSink connector (`lines` into a file), configured through the
  REST API: the sink file holds the source file's lines, and the REST API's
  offsets (KIP-875: the source's file position from the offset topic, the
  sink's committed group offset) reach the end;
- the source's config is replaced (a second record under the same key in
  the config topic) and the source goes on from its stored position:
  lines appended then reach the sink once;
- a third connector is made and deleted (tombstones in the config topic);
- the worker is stopped, nodata restarted on the same data, lines appended
  while both were down, the worker started again: it finds the two
  connectors, not the deleted one, and the source's newest config in the
  config topic (nothing posted again),
  the source resumes from its stored position, and the sink file ends with
  exactly the new lines, once; `lines` holds each line once (a source
  re-reading its file from the start would double it).

Cleaning is not required: the test passes whether or not nodata's cleaner
has compacted the internal topics. Before the restart it gives a cleaner
up to 30 s to clean the config topic (ndtest.wait_cleaned), so that the
restarted worker reads cleaned topics, and prints how many offsets of each
were cleaned away, then and at the end.

Takes about 30-50 s with nodata's cleaner, 30 s more without one, on a
loaded 2-core machine (two worker starts of 6-25 s each), plus Maven's
first download of Connect (about 20 MB).
"""
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from apache_kafka import classpath  # noqa: E402
from jvm import Jvm  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewTopic)

HERE = os.path.dirname(os.path.abspath(__file__))
CP = classpath(os.path.join(HERE, "..", "kafka", "connect", "pom.xml"))
START = time.monotonic()

GROUP = "nd-connect"
INTERNAL = {"config": GROUP + "-configs", "offset": GROUP + "-offsets",
            "status": GROUP + "-status"}
# Settings for the internal topics, passed by Connect at creation
# (DistributedConfig's <purpose>.storage.* prefixes): segments that roll
# every second and a low dirty ratio, so a cleaner finds something to clean
# during the test. Kafka's names; nodata must keep them.
CLEANING = {"segment.ms": "1000", "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "1000"}

WORKER = """
bootstrap.servers={bootstrap}
group.id={group}
listeners=http://127.0.0.1:{rest}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={rest}
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
config.storage.topic={config}
offset.storage.topic={offset}
status.storage.topic={status}
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=500
plugin.discovery=only_scan
"""


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


class Worker(Jvm):
    def __init__(self, tmp, props, n):
        super().__init__(CP, ["org.apache.kafka.connect.cli.ConnectDistributed",
                              props],
                         log=os.path.join(tmp, "worker%d.log" % n),
                         props=["org.slf4j.simpleLogger.log.org.apache.kafka."
                                "connect.util.TopicAdmin=debug"])
        self.url = "http://127.0.0.1:%d" % self.rest_port(props)

    @staticmethod
    def rest_port(props):
        with open(props) as f:
            for line in f:
                if line.startswith("rest.advertised.port="):
                    return int(line.split("=", 1)[1])
        raise AssertionError("no REST port in " + props)

    def rest(self, method, path, body=None):
        """(status, decoded JSON or text) of a REST call; (None, error)
        when the worker does not answer yet."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method,
                                     headers={"Content-Type":
                                              "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        except (OSError, urllib.error.URLError) as e:
            return None, str(e)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path):
        status, body = self.rest("GET", path)
        return body if status == 200 else None

    def put_config(self, name, config):
        status, body = self.rest("PUT", "/connectors/%s/config" % name,
                                 config)
        check(status in (200, 201), "PUT /connectors/%s/config: %s %s"
              % (name, status, body))

    def running(self, name):
        s = self.get("/connectors/%s/status" % name)
        return (s and s["connector"]["state"] == "RUNNING" and s["tasks"] and
                all(t["state"] == "RUNNING" for t in s["tasks"]))

    def offsets(self, name):
        """The connector's offsets from the REST API (KIP-875): the
        source's file position, the sink's committed offset of lines/0."""
        o = self.get("/connectors/%s/offsets" % name)
        if not o or not o.get("offsets"):
            return None
        off = o["offsets"][0]["offset"]
        return off.get("position", off.get("kafka_offset"))


def append(path, lines):
    with open(path, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def sink_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def describe(bootstrap, topics):
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.describe_configs([ConfigResource("topic", t) for t in topics])
    return {r.name: {n: e.value for n, e in f.result(30).items()}
            for r, f in fs.items()}


def end_offset(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "nd-ends"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), 10)[1]
    finally:
        c.close()


def main():
    tmp = tempfile.mkdtemp(prefix="nd-connect-")
    atexit.register(shutil.rmtree, tmp, True)
    src, out = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.txt")
    a = ["a-%02d" % i for i in range(20)]
    b_ = ["b-%02d" % i for i in range(10)]
    c_ = ["c-%02d" % i for i in range(10)]
    append(src, a)

    with ndtest.Broker(data_dir=os.path.join(tmp, "data"),
                       args=["--group-initial-delay-ms", "0"]) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("lines", 1, 1)])["lines"].result(30)
        props = os.path.join(tmp, "worker.properties")
        with open(props, "w") as f:
            f.write(WORKER.format(bootstrap=b.bootstrap, group=GROUP,
                                  rest=ndtest.free_port(), **INTERNAL))
            for purpose in INTERNAL:
                for k, v in CLEANING.items():
                    f.write("%s.storage.%s=%s\n" % (purpose, k, v))

        w = Worker(tmp, props, 1)
        t = time.monotonic()
        w.wait_for("the worker's REST API", lambda: w.get("/connectors")
                   == [], timeout=180)
        print("worker 1 up in %.0f s" % (time.monotonic() - t))
        for topic, cfg in describe(b.bootstrap, INTERNAL.values()).items():
            want = dict(CLEANING, **{"cleanup.policy": "compact"})
            check(all(cfg.get(k) == v for k, v in want.items()),
                  "nodata describes %s as %s, Connect made it %s"
                  % (topic, {k: cfg.get(k) for k in want}, want))

        source = {"connector.class": "org.apache.kafka.connect.file."
                  "FileStreamSourceConnector", "tasks.max": "1",
                  "file": src, "topic": "lines", "batch.size": "100"}
        w.put_config("src", source)
        w.put_config("sink", {"connector.class": "org.apache.kafka.connect."
                              "file.FileStreamSinkConnector",
                              "tasks.max": "1", "file": out,
                              "topics": "lines"})
        w.wait_for("the sink file with the source's 20 lines",
                   lambda: len(sink_lines(out)) >= len(a))
        check(sink_lines(out) == a, "the sink file: %s" % sink_lines(out))
        size = os.path.getsize(src)
        w.wait_for("the source's stored position at %d" % size,
                   lambda: w.offsets("src") == size)
        w.wait_for("the sink's committed offset at 20",
                   lambda: (w.offsets("sink") or 0) >= len(a))
        print("source to sink through nodata, offsets stored: %.0f s"
              % (time.monotonic() - START))

        # A new config for the source: a second record under its key in
        # the config topic; the task restarts from its stored position.
        source["batch.size"] = "1000"
        w.put_config("src", source)
        w.wait_for("the source's task with batch.size 1000",
                   lambda: (w.get("/connectors/src/tasks") or [{}])[0]
                   .get("config", {}).get("batch.size") == "1000" and
                   w.running("src"))
        append(src, b_)
        w.wait_for("the sink file with 30 lines",
                   lambda: len(sink_lines(out)) >= len(a + b_))
        size = os.path.getsize(src)
        w.wait_for("the source's stored position at %d" % size,
                   lambda: w.offsets("src") == size)
        w.wait_for("the sink's committed offset at 30",
                   lambda: (w.offsets("sink") or 0) >= len(a + b_))
        check(sink_lines(out) == a + b_, "after the source's new config, "
              "the sink file: %s" % sink_lines(out))

        # A connector made and deleted: tombstones for its keys in the
        # config topic (delete.retention.ms 1000: a cleaner may drop them
        # and what they delete); it must not come back after the restart.
        w.put_config("gone", {"connector.class": "org.apache.kafka.connect."
                              "file.FileStreamSinkConnector",
                              "tasks.max": "1", "topics": "lines",
                              "file": os.path.join(tmp, "gone.txt")})
        w.wait_for("connector gone running", lambda: w.running("gone"))
        status, body = w.rest("DELETE", "/connectors/gone")
        check(status == 204, "DELETE /connectors/gone: %s %s"
              % (status, body))
        w.wait_for("connector gone deleted", lambda: sorted(
            w.get("/connectors") or []) == ["sink", "src"])

        # The restarted worker reads cleaned topics when a cleaner has been
        # at them by then (not required): up to 30 s for the config topic.
        t = time.monotonic()
        for purpose in ("config", "offset", "status"):
            records, span = ndtest.wait_cleaned(
                b.bootstrap, INTERNAL[purpose],
                timeout=30 if purpose == "config" else 0)
            print("%s before the restart: %d records in %d offsets (%d "
                  "cleaned away)" % (INTERNAL[purpose], len(records), span,
                                     span - len(records)))
        print("waited %.0f s for the cleaner" % (time.monotonic() - t))

        # Everything down, nodata restarted on its data, lines appended
        # meanwhile, then the worker again.
        t = time.monotonic()
        w.stop()
        b.restart()
        append(src, c_)
        w = Worker(tmp, props, 2)
        # A worker reads each internal topic to its end offset before it
        # serves: a partition whose last records were cleaned away (offsets
        # below the end but no batch left to fetch) holds it here forever.
        w.wait_for("the worker's connectors, from the config topic (the "
                   "worker waits for every internal topic read to its end)",
                   lambda: sorted(w.get("/connectors") or []) ==
                   ["sink", "src"], timeout=180)
        print("worker and nodata restarted, worker 2 up in %.0f s"
              % (time.monotonic() - t))
        cfg = w.get("/connectors/src/config")
        # Connect found its topics there and verified that each is compacted
        # and nothing else, with DescribeConfigs (it refuses to start on
        # another policy, and only warns when the broker cannot say).
        # A worker that creates them does not check.
        log = w.text()
        for topic in INTERNAL.values():
            check("Found cleanup.policy=compact for topic '%s'" % topic in log,
                  "Connect did not find %s compacted on nodata:\n%s"
                  % (topic, "\n".join(x for x in log.splitlines()
                                      if "TopicAdmin" in x)[-4000:]))
        check("Unable to use admin client to verify the cleanup policy"
              not in log, "Connect could not verify the cleanup policy")
        check(cfg and cfg.get("batch.size") == "1000",
              "the source's config after the restart is not its newest "
              "(batch.size 1000): %s" % cfg)
        w.wait_for("both connectors running",
                   lambda: w.running("src") and w.running("sink"))
        want = a + b_ + c_
        w.wait_for("the sink file with 40 lines",
                   lambda: len(sink_lines(out)) >= len(want))
        size = os.path.getsize(src)
        w.wait_for("the source's stored position at %d" % size,
                   lambda: w.offsets("src") == size)
        w.wait_for("the sink's committed offset at 40",
                   lambda: (w.offsets("sink") or 0) >= len(want))
        check(sink_lines(out) == want,
              "after the restarts the sink file is not the 40 lines once "
              "each: %s" % sink_lines(out))
        check(end_offset(b.bootstrap, "lines") == len(want),
              "`lines` ends at %d, not 40: the source re-read its file"
              % end_offset(b.bootstrap, "lines"))
        rc = w.stop()
        for topic in INTERNAL.values():
            records, span = ndtest.read_topic(b.bootstrap, topic)
            print("%s: %d records in %d offsets (%d cleaned away)"
                  % (topic, len(records), span, span - len(records)))
        print("worker 2 stopped (exit %s)" % rc)
        ndtest.stop_clean(b)
    print("took %.0f s" % (time.monotonic() - START))
    ndtest.passed()


main()
