"""test_metrics.py — issue 20: `nodata serve --http` (docs/metrics.md).

A broker with --http 127.0.0.1:0 runs a workload of real clients (Debian's
confluent_kafka: an AdminClient, a producer, consumers, a group that
commits partway), and /metrics, parsed with prometheus_client's text
parser (PyPI, from the venv of tests/python/requirements.txt), must agree
with what the clients did:

- per partition: produced records = the counter's delta = the log end
  offset; produced bytes = the partition's size on disk (batches are stored
  as sent); fetched records and bytes = what a consumer reading the
  partition once from 0 moved past and was sent;
- requests per API and version: three raw ApiVersions v0 requests move
  {api="ApiVersions",version="0"} by exactly 3; the APIs the clients used
  are counted; every histogram is well formed (cumulative buckets, +Inf =
  _count = nodata_kafka_requests_total);
- errors: a DeleteTopics of a topic that does not exist and a Metadata v1
  request for one move nodata_kafka_errors_total by 1 each, with the code
  and Kafka's name;
- the library's counters (nd_store_stats): appended records and bytes
  move by what was produced, log bytes = the partitions' sizes, acks=all
  moved the fsync and group-commit histograms (well formed), no fsync
  errors, no recovery on a new store;
- consumer-group lag = log end - committed for a group that committed
  partway, and its committed offsets; a partition it never committed has
  no series;
- active connections follow raw sockets opened and closed;
- process and disk metrics are there and plausible;
- HTTP: /health 200 "ok", /ready 200, 404, 405 (with Allow), 400 for a
  malformed request line, 431 for a head over 8 KiB, keep-alive, HEAD; a
  half-sent request on one connection does not hold another's scrape; 150
  seeded random or mangled requests leave the listener serving; and
  after all of that the Kafka side still produces and consumes;
- /ready is 503 naming the topic when a topic is offline (its topic.conf
  does not parse), and nodata_partitions_offline counts it.
"""
import os
import random
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import pyvenv  # noqa: E402

ndtest.require("confluent_kafka")
# Debian's confluent_kafka first, so the venv's (appended below) is never
# the one imported.
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def venv_parser():
    """prometheus_client's text parser, from the test venv (pure Python)."""
    py = pyvenv.python()
    site = subprocess.run(
        [py, "-c", "import prometheus_client, os; print(os.path.dirname("
         "os.path.dirname(prometheus_client.__file__)))"],
        capture_output=True, text=True, timeout=60)
    if site.returncode != 0:
        ndtest.fail("prometheus_client not in the venv: %s" % site.stderr)
    sys.path.append(site.stdout.strip())
    from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families


parse_families = venv_parser()

TOPIC = "metrics-t"
PARTS = 3
PER_PART = 120
GROUP = "metrics-g"


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def http(addr, path, method="GET", raw=None, timeout=10):
    """One request on a new connection: (status, headers dict, body)."""
    return split_response(exchange(addr, raw if raw is not None else (
        "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        % (method, path)).encode(), timeout))


def exchange(addr, data, timeout=10):
    """Send data on a new connection, return all it gets until closed."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                return out
            out += c


def split_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, v in
            (ln.split(":", 1) for ln in lines[1:])}
    return status, hdrs, body


def scrape(addr):
    st, hdrs, body = http(addr, "/metrics")
    check(st == 200, "/metrics answered %d" % st)
    check(hdrs.get("content-type", "").startswith(
        "text/plain; version=0.0.4"), "content type %r" % hdrs)
    out = {}
    for fam in parse_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def val(m, name, **labels):
    return m.get((name, tuple(sorted((k, str(v)) for k, v in labels.items()))),
                 0)


def series(m, name):
    return {k[1]: v for k, v in m.items() if k[0] == name}


def total(m, name, **match):
    return sum(v for lab, v in series(m, name).items()
               if all(dict(lab).get(k) == str(x) for k, x in match.items()))


def wait_for(what, fn, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            ndtest.fail("timed out waiting for %s" % what)
        time.sleep(0.1)


b = ndtest.Broker(args=["--http", "127.0.0.1:0", "--no-auto-create",
                        "--group-initial-delay-ms", "0"])
check(b.http, "start-up says where http listens: %r" % b.stdout())
HTTP = b.http

# ---- health, readiness, HTTP errors --------------------------------------
st, _, body = http(HTTP, "/health")
check((st, body) == (200, b"ok\n"), "/health: %d %r" % (st, body))
st, _, body = http(HTTP, "/ready")
check(st == 200, "/ready on a fresh store: %d %r" % (st, body))
st, _, _ = http(HTTP, "/nothing-here")
check(st == 404, "unknown path: %d" % st)
st, hdrs, _ = http(HTTP, "/metrics", method="POST")
check(st == 405 and hdrs.get("allow") == "GET, HEAD", "POST: %d %r"
      % (st, hdrs))
st, _, _ = http(HTTP, None, raw=b"this is not http\r\n\r\n")
check(st == 400, "malformed request line: %d" % st)
st, _, _ = http(HTTP, None, raw=b"GET /metrics HTTP/1.1\r\nX: " +
                b"a" * 9000 + b"\r\n\r\n")
check(st == 431, "a 9 KB head: %d" % st)
st, hdrs, body = http(HTTP, "/metrics", method="HEAD")
check(st == 200 and body == b"" and int(hdrs["content-length"]) > 0,
      "HEAD /metrics: %d %r %d" % (st, hdrs, len(body)))
# Keep-alive: two requests on one connection, both answered.
data = exchange(HTTP, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
check(data.count(b"HTTP/1.1 200 OK") == 2, "pipelined keep-alive: %r" % data)
# Random bytes and mangled requests (seeded): each is answered 400/431 or
# closed, and the listener goes on.
rnd = random.Random(20)
for i in range(150):
    base = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    if i % 3 == 0:
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
    else:
        junk = bytearray(base)
        for _ in range(rnd.randrange(1, 6)):
            junk[rnd.randrange(len(junk))] = rnd.randrange(256)
        junk = bytes(junk)
    with socket.create_connection(HTTP, timeout=10) as s:
        s.sendall(junk + b"\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
st, _, _ = http(HTTP, "/health")
check(st == 200, "/health after junk: %d" % st)
# A client that sends half a request and stops must not hold the others.
half = socket.create_connection(HTTP, timeout=10)
half.sendall(b"GET /metr")

m0 = scrape(HTTP)
bi = list(series(m0, "nodata_build_info").items())
check(len(bi) == 1 and bi[0][1] == 1 and dict(bi[0][0])["version"] in
      subprocess.run([ndtest.nodata_bin(), "--version"], capture_output=True,
                     text=True).stdout, "build info: %r" % bi)
check(val(m0, "nodata_ready") == 1, "nodata_ready 1")
check(val(m0, "process_open_fds") > 3, "open fds %r"
      % val(m0, "process_open_fds"))
check(val(m0, "process_resident_memory_bytes") > 1 << 20, "rss")
check(abs(val(m0, "process_start_time_seconds") - time.time()) < 3600,
      "start time %r" % val(m0, "process_start_time_seconds"))
check(val(m0, "nodata_disk_free_bytes") > 0, "disk free")

# ---- workload ------------------------------------------------------------
admin = AdminClient({"bootstrap.servers": b.bootstrap})
for f in admin.create_topics([NewTopic(TOPIC, PARTS, 1)]).values():
    f.result(30)
fut = admin.delete_topics(["metrics-no-such-topic"])["metrics-no-such-topic"]
try:
    fut.result(30)
    ndtest.fail("deleting a topic that does not exist succeeded")
except Exception:
    pass

pr = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5,
               "acks": "all"})
for p in range(PARTS):
    for i in range(PER_PART):
        pr.produce(TOPIC, key=b"k%d" % i, value=b"v" * (10 + i % 50),
                   partition=p)
    pr.flush(30)
check(pr.flush(30) == 0, "everything produced")

# Read each partition once from 0 (a consumer without commits).
for p in range(PARTS):
    got = ndtest.consume_to_end(b.bootstrap, TOPIC, p)
    check(len(got) == PER_PART, "read back %d of partition %d" % (len(got), p))

# A group that committed partway: 40 of partition 0, all of 1, nothing of 2.
c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": GROUP,
              "enable.auto.commit": False})
c.commit(offsets=[TopicPartition(TOPIC, 0, 40),
                  TopicPartition(TOPIC, 1, PER_PART)], asynchronous=False)
c.close()

# Three raw ApiVersions v0 and a Metadata v1 for a topic that does not
# exist (no auto-create): exact deltas.
raw = []
for i in range(3):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    ndtest.kafka_request(s, 18, 0, i)
    check(ndtest.recv_frame(s) is not None, "ApiVersions answered")
    raw.append(s)
name = b"metrics-missing"
ndtest.kafka_request(raw[0], 3, 1, 9,
                     struct.pack(">ih", 1, len(name)) + name)
check(ndtest.recv_frame(raw[0]) is not None, "Metadata answered")

m1 = scrape(HTTP)
for s in raw:
    s.close()

# ---- the counters against the workload -----------------------------------
for p in range(PARTS):
    lab = dict(topic=TOPIC, partition=p)
    rec = val(m1, "nodata_produced_records_total", **lab)
    check(rec == PER_PART, "produced records p%d: %r" % (p, rec))
    check(val(m1, "nodata_log_end_offset", **lab) == PER_PART,
          "log end offset p%d" % p)
    check(val(m1, "nodata_log_start_offset", **lab) == 0, "log start p%d" % p)
    size = val(m1, "nodata_partition_size_bytes", **lab)
    pb = val(m1, "nodata_produced_bytes_total", **lab)
    check(pb == size and pb > PER_PART * 10,
          "produced bytes p%d %r = size on disk %r" % (p, pb, size))
    fr = val(m1, "nodata_fetched_records_total", **lab)
    check(fr == PER_PART, "fetched records p%d: %r" % (p, fr))
    fb = val(m1, "nodata_fetched_bytes_total", **lab)
    check(fb == size, "fetched bytes p%d %r = size %r" % (p, fb, size))

glab = dict(group=GROUP, topic=TOPIC)
check(val(m1, "nodata_consumer_group_lag", partition=0, **glab) ==
      PER_PART - 40, "lag p0: %r" % series(m1, "nodata_consumer_group_lag"))
check(val(m1, "nodata_consumer_group_lag", partition=1, **glab) == 0,
      "lag p1")
check(val(m1, "nodata_consumer_group_committed_offset", partition=0,
          **glab) == 40, "committed p0")
check(not any(dict(k).get("partition") == "2" and dict(k).get("group") ==
              GROUP for k in series(m1, "nodata_consumer_group_lag")),
      "no lag series for a partition the group never committed")

d = val(m1, "nodata_kafka_requests_total", api="ApiVersions", version=0) - \
    val(m0, "nodata_kafka_requests_total", api="ApiVersions", version=0)
check(d == 3, "ApiVersions v0 delta %r" % d)
for api in ("Produce", "Fetch", "Metadata", "CreateTopics",
            "DeleteTopics", "FindCoordinator", "OffsetCommit"):
    check(total(m1, "nodata_kafka_requests_total", api=api) >
          total(m0, "nodata_kafka_requests_total", api=api),
          "requests of %s counted: %r" % (api, {
              k: v for k, v in series(m1, "nodata_kafka_requests_total")
              .items() if dict(k)["api"] == api}))
for lab, n in series(m1, "nodata_kafka_requests_total").items():
    ld = dict(lab)
    cnt = val(m1, "nodata_kafka_request_duration_seconds_count", **ld)
    check(cnt == n, "%r: _count %r = requests %r" % (ld, cnt, n))
    buckets = sorted(
        (float(dict(k)["le"]), v) for k, v in
        series(m1, "nodata_kafka_request_duration_seconds_bucket").items()
        if {x: y for x, y in k if x != "le"} == ld)
    check(len(buckets) == 16 and buckets[-1] == (float("inf"), n) and
          all(buckets[i][1] <= buckets[i + 1][1] for i in range(15)),
          "%r: buckets %r" % (ld, buckets))
e = val(m1, "nodata_kafka_errors_total", api="DeleteTopics",
        error="UNKNOWN_TOPIC_OR_PARTITION", code=3)
check(e == 1, "DeleteTopics error counted once: %r"
      % series(m1, "nodata_kafka_errors_total"))
e = val(m1, "nodata_kafka_errors_total", api="Metadata",
        error="UNKNOWN_TOPIC_OR_PARTITION", code=3)
check(e == 1, "Metadata error counted once: %r"
      % series(m1, "nodata_kafka_errors_total"))
check(val(m1, "nodata_topics") == 1 and val(m1, "nodata_partitions") == PARTS,
      "topics and partitions gauges")

# What the library counts (nd_store_stats_get): the same appends, and the
# fsyncs acks=all made.
sizes = sum(val(m1, "nodata_partition_size_bytes", topic=TOPIC, partition=p)
            for p in range(PARTS))
d = val(m1, "nodata_appended_records_total") - \
    val(m0, "nodata_appended_records_total")
check(d == PARTS * PER_PART, "appended records delta %r" % d)
d = val(m1, "nodata_appended_bytes_total") - \
    val(m0, "nodata_appended_bytes_total")
check(d == sizes, "appended bytes delta %r = sizes %r" % (d, sizes))
check(val(m1, "nodata_log_bytes") == sizes, "log bytes %r = sizes %r"
      % (val(m1, "nodata_log_bytes"), sizes))
check(val(m1, "nodata_appends_total") > val(m0, "nodata_appends_total"),
      "appends counted")
for h in ("nodata_fsync_duration_seconds", "nodata_group_commit_batch_size"):
    n = val(m1, h + "_count")
    check(n > val(m0, h + "_count"), "%s counted acks=all's syncs" % h)
    bk = sorted((float(dict(k)["le"]), v)
                for k, v in series(m1, h + "_bucket").items())
    want = [2.0 ** i for i in range(15)] if "batch" in h else [
        x / 1e6 for x in (50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000,
                          50000, 100000, 250000, 500000, 1000000, 2500000)]
    check([x for x, _ in bk[:15]] == want, "%s bounds %r" % (h, bk))
    check(len(bk) == 16 and bk[-1] == (float("inf"), n) and
          all(bk[i][1] <= bk[i + 1][1] for i in range(15)),
          "%s buckets %r" % (h, bk))
check(val(m1, "nodata_fsync_errors_total") == 0, "no fsync errors")
check(val(m1, "nodata_recovery_partitions") == 0 and
      ("nodata_recovery_duration_seconds", ()) in m1,
      "a new store needed no recovery")

# Connections: the three raw sockets were open at the scrape, and are
# closed now.
active = val(m1, "nodata_connections_active")
check(active >= 3, "3 raw connections open at the scrape: %r" % active)
check(val(m1, "nodata_connections_accepted_total") >= active,
      "accepted >= active")
wait_for("the raw connections' close to be counted", lambda: val(
    scrape(HTTP), "nodata_connections_active") <= active - 3)

# The half-sent request is still there; the Kafka side still works.
half.close()
pr.produce(TOPIC, value=b"after", partition=2)
check(pr.flush(30) == 0, "produce after the HTTP abuse")
got = ndtest.consume_to_end(b.bootstrap, TOPIC, 2, start=PER_PART)
check([x.value() for x in got] == [b"after"], "consume after: %r" % got)
del pr
m2 = scrape(HTTP)
check(val(m2, "nodata_produced_records_total", topic=TOPIC, partition=2) ==
      PER_PART + 1, "one more record counted")
ndtest.stop_clean(b)

# ---- /ready with an offline topic ----------------------------------------
conf = os.path.join(b.data_dir, "topics", ndtest.topic_dir(TOPIC),
                    "topic.conf")
with open(conf, "a") as f:
    f.write("retention.ms=-7\n")
b.start()
HTTP = b.http
st, _, body = http(HTTP, "/ready")
check(st == 503 and TOPIC.encode() in body,
      "/ready with an offline topic: %d %r" % (st, body))
st, _, _ = http(HTTP, "/health")
check(st == 200, "/health still 200: %d" % st)
m3 = scrape(HTTP)
check(val(m3, "nodata_ready") == 0 and
      val(m3, "nodata_partitions_offline") >= 1,
      "offline counted: ready %r offline %r"
      % (val(m3, "nodata_ready"), val(m3, "nodata_partitions_offline")))
ndtest.stop_clean(b)
ndtest.passed()
