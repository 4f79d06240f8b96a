"""test_console_topics.py — issue 23: the console's /api/topics, /api/overview
and /api/history (docs/http-api.md), against a Kafka client's view.

One broker with --http 127.0.0.1:0 and NODATA_CONSOLE_SAMPLE_MS=500 (the
sampler's interval for tests, docs/serve.md), Debian's confluent_kafka as
the client:

- a topic made through the API (3 partitions, cleanup.policy=compact,
  retention.ms) is seen by the AdminClient with those partitions, configs
  (and their source DYNAMIC_TOPIC_CONFIG), and its id is the one a raw
  Metadata v12 answer carries, in Kafka's text form (kwire.py);
- a topic made and filled by the client is listed by the API with the
  records produced (per partition: high watermark - log start = the
  client's watermarks) and the size of its .log files on disk;
- altering configs (set one, delete one back to its default) and adding
  partitions through the API are seen by the AdminClient, and the API's
  own answers say the same;
- Kafka's errors by name and status: 409 TOPIC_ALREADY_EXISTS, 400
  INVALID_TOPIC_EXCEPTION, 400 INVALID_PARTITIONS (at create and when
  shrinking), 400 INVALID_CONFIG, 404 UNKNOWN_TOPIC_OR_PARTITION (describe,
  delete, alter), 400 INVALID_REQUEST for a body without a name;
- deleting through the API removes the topic for the client too;
- the overview counts what Metadata and ListGroups show the client (topics,
  partitions, groups), its disk figures are consistent, and the history's
  produce rates, multiplied by the time between samples, add up to exactly
  the records produced after a given sample; a topic's produce rate is
  above 0 after a produce and 0 for a topic without traffic.

Kafka's error names and config sources here are those nodata's Kafka port
gives the same AdminClient calls (tests/compat/test_dynamic_configs.py and
the differential tests compare those with Apache Kafka).
"""
import base64
import glob
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kwire  # noqa: E402
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewTopic)

# Short enough that the test waits little, long enough that the ring (180
# samples) still holds the test's first sample on a slow machine.
SAMPLE_MS = 500


def call(broker, method, path, body=None):
    """(status, parsed JSON or None) of one API call."""
    host, port = broker.http
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path),
                                 data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def expect(got, status, what):
    if got[0] != status:
        ndtest.fail("%s: expected %d, got %d %s" % (what, status, got[0],
                                                     got[1]))
    return got[1]


def expect_error(got, status, code, what):
    body = expect(got, status, what)
    if not body or body.get("error", {}).get("code") != code:
        ndtest.fail("%s: expected error %s, got %s" % (what, code, body))
    if not body["error"].get("message"):
        ndtest.fail("%s: error without a message: %s" % (what, body))


def admin_configs(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([res])[res].result(timeout=30)


def admin_partitions(admin, topic):
    # All topics: a Metadata request naming one could auto-create it.
    t = admin.list_topics(timeout=30).topics.get(topic)
    if t is None or t.error is not None:
        return None
    return len(t.partitions)


def disk_log_bytes(broker, topic):
    files = glob.glob(os.path.join(broker.data_dir, "topics",
                                   ndtest.topic_dir(topic), "*",
                                   "*.log"))
    if not files:
        ndtest.fail("no .log files of %s under %s" % (topic,
                                                      broker.data_dir))
    return sum(os.path.getsize(f) for f in files)


def topic_row(broker, name):
    body = expect(call(broker, "GET", "/api/topics"), 200, "list")
    names = [t["name"] for t in body["topics"]]
    if names != sorted(names):
        ndtest.fail("the list is not sorted by name: %s" % names)
    for t in body["topics"]:
        if t["name"] == name:
            return t
    return None


def wait_sample_after(broker, t_ms):
    """The history once it has a sample taken after t_ms (wall clock). Each
    API call lets the HTTP thread sample when one is due."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        h = expect(call(broker, "GET", "/api/history"), 200, "history")
        if h["samples"] and h["samples"][-1]["t_ms"] > t_ms:
            return h
        time.sleep(SAMPLE_MS / 1000.0 / 2)
    ndtest.fail("no sample after %d in 60 s" % t_ms)


def main():
    b = ndtest.Broker(args=["--http", "127.0.0.1:0"],
                      env={"NODATA_CONSOLE_SAMPLE_MS": str(SAMPLE_MS)})
    if not b.http:
        ndtest.fail("no http address in the broker's output")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})

    # -- created through the API, seen by the client --------------------
    t = expect(call(b, "POST", "/api/topics",
                    {"name": "api-made", "partitions": 3,
                     "configs": {"cleanup.policy": "compact",
                                 "retention.ms": "3600000"}}),
               201, "create api-made")
    if (t["name"], t["partition_count"], t["cleanup_policy"],
            t["retention_ms"], t["records"], t["internal"]) != \
            ("api-made", 3, "compact", 3600000, 0, False):
        ndtest.fail("create's answer: %s" % t)
    if admin_partitions(admin, "api-made") != 3:
        ndtest.fail("the client sees %s partitions of api-made"
                    % admin_partitions(admin, "api-made"))
    cfg = admin_configs(admin, "api-made")
    for name, value in (("cleanup.policy", "compact"),
                        ("retention.ms", "3600000")):
        e = cfg[name]
        if e.value != value or e.source != 1:  # DYNAMIC_TOPIC_CONFIG
            ndtest.fail("client sees %s=%s (source %s)" % (name, e.value,
                                                           e.source))
    # Kafka's form of a topic id (Uuid.toString: base64url, no padding), of
    # the id a raw Metadata v12 answer carries.
    md = kwire.call(b.bootstrap, "Metadata", 12,
                    {"Topics": [{"Name": "api-made"}]})
    tid = base64.urlsafe_b64encode(
        uuid.UUID(md["Topics"][0]["TopicId"]).bytes).rstrip(b"=").decode()
    if t["id"] != tid:
        ndtest.fail("topic id: API %s, client %s" % (t["id"], tid))

    # -- created and filled by the client, seen by the API --------------
    admin.create_topics([NewTopic("client-made", 2)])["client-made"].result(
        timeout=30)
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    sent = {0: 37, 1: 5}
    for part, n in sent.items():
        for i in range(n):
            p.produce("client-made", value=b"v%05d" % i, key=b"k%d" % i,
                      partition=part)
    if p.flush(30) != 0:
        ndtest.fail("produce did not finish")
    row = topic_row(b, "client-made")
    if row is None:
        ndtest.fail("client-made is not listed")
    if row["records"] != sum(sent.values()) or row["partition_count"] != 2:
        ndtest.fail("client-made listed as %s, produced %s" % (row, sent))
    if row["size_bytes"] != disk_log_bytes(b, "client-made"):
        ndtest.fail("size %s, .log files hold %d" %
                    (row["size_bytes"], disk_log_bytes(b, "client-made")))
    if row["cleanup_policy"] != "delete" or row["retention_ms"] != 604800000:
        ndtest.fail("client-made's defaults: %s" % row)
    d = expect(call(b, "GET", "/api/topics/client-made"), 200, "describe")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "probe"})
    for part in d["partitions"]:
        lo, hi = c.get_watermark_offsets(
            TopicPartition("client-made", part["partition"]), timeout=30)
        if (part["log_start"], part["high_watermark"], part["last_stable"],
                part["records"]) != (lo, hi, hi, sent[part["partition"]]):
            ndtest.fail("partition %s: client's watermarks %d..%d"
                        % (part, lo, hi))
    if sum(x["size_bytes"] for x in d["partitions"]) != row["size_bytes"]:
        ndtest.fail("partition sizes do not add up: %s" % d["partitions"])
    names = {x["name"]: x for x in d["configs"]}
    if names.get("retention.ms", {}).get("source") != "DEFAULT_CONFIG" or \
            not names["retention.ms"]["is_default"]:
        ndtest.fail("describe's configs: %s" % names.get("retention.ms"))

    # -- alter configs and add partitions through the API ---------------
    body = expect(call(b, "PUT", "/api/topics/api-made/configs",
                       {"set": {"retention.ms": "7200000"},
                        "delete": ["cleanup.policy"]}), 200, "alter")
    got = {x["name"]: x for x in body["configs"]}
    if (got["retention.ms"]["value"], got["retention.ms"]["source"]) != \
            ("7200000", "DYNAMIC_TOPIC_CONFIG") or \
            (got["cleanup.policy"]["value"],
             got["cleanup.policy"]["source"]) != ("delete", "DEFAULT_CONFIG"):
        ndtest.fail("alter's answer: %s %s" % (got["retention.ms"],
                                               got["cleanup.policy"]))
    cfg = admin_configs(admin, "api-made")
    if cfg["retention.ms"].value != "7200000" or \
            cfg["cleanup.policy"].value != "delete" or \
            not cfg["cleanup.policy"].is_default:
        ndtest.fail("client sees retention.ms=%s cleanup.policy=%s" %
                    (cfg["retention.ms"].value, cfg["cleanup.policy"].value))
    t = expect(call(b, "POST", "/api/topics/api-made/partitions",
                    {"count": 5}), 200, "add partitions")
    if t["partition_count"] != 5 or admin_partitions(admin, "api-made") != 5:
        ndtest.fail("after adding partitions: API %s, client %s" %
                    (t["partition_count"], admin_partitions(admin,
                                                            "api-made")))

    # -- errors ----------------------------------------------------------
    expect_error(call(b, "POST", "/api/topics", {"name": "api-made"}), 409,
                 "TOPIC_ALREADY_EXISTS", "create twice")
    expect_error(call(b, "POST", "/api/topics", {"name": "bad name!"}), 400,
                 "INVALID_TOPIC_EXCEPTION", "bad name")
    expect_error(call(b, "POST", "/api/topics", {"name": "zero",
                                                 "partitions": 0}),
                 400, "INVALID_PARTITIONS", "0 partitions")
    expect_error(call(b, "POST", "/api/topics/api-made/partitions",
                      {"count": 2}), 400, "INVALID_PARTITIONS", "shrink")
    expect_error(call(b, "POST", "/api/topics",
                      {"name": "badcfg",
                       "configs": {"retention.ms": "soon"}}),
                 400, "INVALID_CONFIG", "bad config value")
    expect_error(call(b, "PUT", "/api/topics/api-made/configs",
                      {"set": {"cleanup.policy": "sometimes"}}),
                 400, "INVALID_CONFIG", "bad config value (alter)")
    expect_error(call(b, "GET", "/api/topics/nope"), 404,
                 "UNKNOWN_TOPIC_OR_PARTITION", "describe unknown")
    expect_error(call(b, "DELETE", "/api/topics/nope"), 404,
                 "UNKNOWN_TOPIC_OR_PARTITION", "delete unknown")
    expect_error(call(b, "PUT", "/api/topics/nope/configs",
                      {"set": {"retention.ms": "1"}}), 404,
                 "UNKNOWN_TOPIC_OR_PARTITION", "alter unknown")
    expect_error(call(b, "POST", "/api/topics", {"partitions": 1}), 400,
                 "INVALID_REQUEST", "no name")
    for bad in ("zero", "badcfg", "bad name!"):
        if admin_partitions(admin, bad) is not None:
            ndtest.fail("a refused create made %s" % bad)

    # -- the overview against the client's view --------------------------
    c.close()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "readers",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("client-made", part, 0) for part in sent])
    deadline = time.monotonic() + 60
    got_msgs = 0
    while got_msgs < sum(sent.values()) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got_msgs += 1
    if got_msgs != sum(sent.values()):
        ndtest.fail("consumed %d of %d" % (got_msgs, sum(sent.values())))
    c.commit(offsets=[TopicPartition("client-made", 0, 10)],
             asynchronous=False)
    c.close()
    ov = expect(call(b, "GET", "/api/overview"), 200, "overview")
    md = admin.list_topics(timeout=30)
    if ov["topics"] != len(md.topics) or ov["partitions"] != sum(
            len(t.partitions) for t in md.topics.values()):
        ndtest.fail("overview counts %s topics, %s partitions; the client "
                    "%d" % (ov["topics"], ov["partitions"], len(md.topics)))
    groups = admin.list_groups(timeout=30)
    if ov["groups"] != len(groups) or ov["groups"] < 1:
        ndtest.fail("overview: %s groups, client lists %d" %
                    (ov["groups"], len(groups)))
    disk = ov["disk"]
    if not (0 < disk["used_bytes"] and 0 <= disk["free_bytes"]
            <= disk["total_bytes"]):
        ndtest.fail("disk figures: %s" % disk)
    if ov["data_dir"] != b.data_dir or ov["uptime_s"] < 0 or \
            ov["connections"] < 1 or not ov["version"]:
        ndtest.fail("overview: %s" % ov)

    # -- rates: what the history adds up to is what was produced ---------
    h = wait_sample_after(b, int(time.time() * 1000))
    base = h["samples"][-1]["t_ms"]
    quiet = topic_row(b, "api-made")["produce_records_s"]
    if quiet != 0:
        ndtest.fail("api-made had no traffic, its rate is %s" % quiet)
    produced = 0
    rate = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for i in range(10):
            p.produce("client-made", value=b"r%d" % i, partition=0)
        if p.flush(30) != 0:
            ndtest.fail("produce did not finish")
        produced += 10
        rate = topic_row(b, "client-made")["produce_records_s"]
        if rate:
            break
    if not rate or rate <= 0:
        ndtest.fail("client-made's produce rate stayed %s" % rate)
    h = wait_sample_after(b, int(time.time() * 1000))
    if not any(s["t_ms"] == base for s in h["samples"]):
        ndtest.fail("the sample at %d left the history before the test "
                    "read it (a machine this slow needs a longer interval)"
                    % base)
    total, prev = 0.0, None
    for s in h["samples"]:
        if prev is not None and s["t_ms"] > base:
            total += s["produce_records_s"] * (s["t_ms"] - prev) / 1000.0
        prev = s["t_ms"]
    if abs(total - produced) > 1e-6 * produced + 1e-6:
        ndtest.fail("the history adds up to %.6f records, %d were produced"
                    % (total, produced))
    if h["interval_s"] != SAMPLE_MS / 1000.0:
        ndtest.fail("interval_s %s" % h["interval_s"])
    ov = expect(call(b, "GET", "/api/overview"), 200, "overview")
    if ov["rates"]["produce_records_s"] is None:
        ndtest.fail("overview without rates after samples: %s" % ov)
    fetched = [s["fetch_records_s"] for s in h["samples"]]
    if not any(x > 0 for x in fetched):
        ndtest.fail("the consumer's fetches never showed: %s" % fetched)

    # -- delete ----------------------------------------------------------
    expect(call(b, "DELETE", "/api/topics/api-made"), 204, "delete")
    if admin_partitions(admin, "api-made") is not None:
        ndtest.fail("the client still sees api-made")
    if topic_row(b, "api-made") is not None:
        ndtest.fail("api-made still listed")

    ndtest.stop_clean(b)
    ndtest.passed()


if __name__ == "__main__":
    main()
