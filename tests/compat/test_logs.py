"""test_logs.py — issue 20: the broker's log lines.

Each line on stderr is "<RFC 3339 UTC time with ms> <LEVEL> <component>:
<message>", or with --log-format json one JSON object per line with ts,
level, component, msg and structured fields. --log-level (and
NODATA_LOG_LEVEL) drops lines below it. And one line per event an operator
cares about, with its facts:
- start: version, data format, data dir, listener, pid, and the settings;
  stop: clean, uptime and how long the shutdown took;
- topic create, config change (old -> new), partitions added, delete,
  each naming the client (client id and address) that asked;
- refused requests with the reason, at WARN: a create with replication
  factor 3, a partition count that is no increase, a record over the
  topic's max.message.bytes, a request version that is not served, a
  request over --max-request-bytes; a flood of one refusal held back by
  the limiter;
- crash recovery of a partition with the bytes cut (WARN), also as JSON
  fields;
- disk nearly full: once per crossing, not once per check.
"""
import glob
import json
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import test_kafka_versions as kv  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewPartitions, NewTopic)

TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                  r"(ERROR|WARN |INFO |DEBUG) [a-z]+: \S")
START = time.monotonic()


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def since(b, mark):
    return b.stderr()[mark:]


def wait_for(b, mark, pattern, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, since(b, mark), re.M)
        if m:
            return m
        time.sleep(0.1)
    ndtest.fail("no log line for %s (/%s/):\n%s"
                % (what, pattern, since(b, mark)[-3000:]))


def admin(b):
    return AdminClient({"bootstrap.servers": b.bootstrap,
                        "client.id": "ops-admin"})


def done(futures):
    for f in futures.values():
        f.result(30)


def refused(futures):
    for f in futures.values():
        try:
            f.result(30)
        except Exception:
            continue
        ndtest.fail("a request that must be refused succeeded")


def raw_frame(port, payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(struct.pack(">i", len(payload)) + payload)
    ndtest.closed_by_peer(s, 15)
    s.close()


def produce_v2(port):
    """A Produce v2 request: a version Kafka 4 does not serve."""
    raw_frame(port, struct.pack(">hhih", 0, 2, 1, 4) + b"flud" +
              struct.pack(">hii", 1, 1000, 0))


def text_lines(err):
    return [ln for ln in err.splitlines() if ln]


def text_events():
    with ndtest.Broker(args=["--max-request-bytes", "1M"]) as b:
        err = b.stderr()
        for ln in text_lines(err):
            check(TEXT.match(ln), "not a log line: %r" % ln)
        m = re.search(r"INFO  serve: nodata (\S+) \(data format (\d+)\) "
                      r"started in (\S+), listening on 127\.0\.0\.1:(\d+), "
                      r"advertised as 127\.0\.0\.1:\d+, pid (\d+)$", err, re.M)
        check(m, "no start line:\n" + err)
        check(m.group(3) == os.path.realpath(b.data_dir) and
              int(m.group(4)) == b.port and int(m.group(5)) == b.pid,
              "start line facts: %r" % (m.groups(),))
        check(re.search(r"INFO  serve: settings: .*max\.request\.bytes="
                        r"1048576 .*log\.level=INFO log\.format=text", err),
              "no settings line with the settings in effect:\n" + err)

        a = admin(b)
        who = r"127\.0\.0\.1:\d+ client_id=ops-admin: "
        mark = len(b.stderr())
        done(a.create_topics([NewTopic("lt", 3, 1)]))
        wait_for(b, mark, r"INFO  admin: " + who + r"CreateTopics v\d+: "
                 r"created topic lt with 3 partition\(s\)$", "the create")
        done(a.alter_configs([ConfigResource(
            ConfigResource.Type.TOPIC, "lt",
            set_config={"retention.ms": "1000"})]))
        wait_for(b, mark, r"INFO  admin: " + who + r"AlterConfigs v\d+: "
                 r"topic lt: config changed: retention\.ms 604800000 -> "
                 r"1000$", "the config change")
        done(a.create_partitions([NewPartitions("lt", 5)]))
        wait_for(b, mark, who + r"CreatePartitions v\d+: topic lt now has 5 "
                 r"partitions$", "the partitions added")
        # Refusals, with the reason.
        refused(a.create_topics([NewTopic("r3", 1, 3)]))
        wait_for(b, mark, r"WARN  admin: " + who + r"CreateTopics v\d+: "
                 r"create topic r3 refused: INVALID_REPLICATION_FACTOR\(38\): "
                 r"Unable to replicate", "the refused create")
        refused(a.create_partitions([NewPartitions("lt", 2)]))
        wait_for(b, mark, r"WARN  admin: " + who + r"CreatePartitions v\d+: "
                 r"add partitions to topic lt refused: INVALID_PARTITIONS"
                 r"\(37\): The topic lt currently has 5 partition\(s\); 2 "
                 r"would not be an increase", "the refused partitions")
        # Records refused: larger than the topic's max.message.bytes.
        done(a.create_topics([NewTopic("big", 1, 1, config={
            "max.message.bytes": "1000"})]))
        p = Producer({"bootstrap.servers": b.bootstrap,
                      "client.id": "big-producer", "retries": 0})
        errs = []
        p.produce("big", value=b"x" * 5000,
                  on_delivery=lambda e, m: errs.append(e))
        p.flush(30)
        check(errs and errs[0] is not None, "the large record was stored")
        wait_for(b, mark, r"WARN  kafka: 127\.0\.0\.1:\d+ "
                 r"client_id=big-producer: Produce v\d+: produce to big/0 "
                 r"refused: MESSAGE_TOO_LARGE\(10\): ", "the refused record")
        done(a.delete_topics(["lt"]))
        wait_for(b, mark, r"INFO  admin: " + who + r"DeleteTopics v\d+: "
                 r"deleted topic lt$", "the delete")

        # Refused frames: a version not served, a request too large; a
        # flood of the first is held back by the limiter.
        mark = len(b.stderr())
        for _ in range(12):
            produce_v2(b.port)
        wait_for(b, mark, r"WARN  net: 127\.0\.0\.1:\d+: closing: Produce v2 "
                 r"is not served \(v3-13\)", "the unsupported version")
        n = len(re.findall(r"Produce v2 is not served", since(b, mark)))
        check(n == 5, "12 refusals in a row: %d lines, want the limiter's 5"
              % n)
        s = socket.create_connection(("127.0.0.1", b.port), timeout=15)
        s.sendall(struct.pack(">i", 2 << 20) + b"\0" * 64)
        ndtest.closed_by_peer(s, 15)
        s.close()
        wait_for(b, mark, r"WARN  net: 127\.0\.0\.1:\d+: closing: request size "
                 r"2097152 out of range \(1\.\.1048576 bytes\): over "
                 r"--max-request-bytes", "the oversized request")

        mark = len(b.stderr())
        ndtest.stop_clean(b)
        tail = since(b, mark)
        check(re.search(r"INFO  serve: stopping \(SIGINT or SIGTERM\)", tail),
              "no stopping line:\n" + tail)
        check(re.search(r"INFO  serve: stopped cleanly after \d+\.\d{3} s up; "
                        r"the shutdown took \d+ ms", tail),
              "no stop line:\n" + tail)
        for ln in text_lines(b.stderr()):
            check(TEXT.match(ln), "not a log line: %r" % ln)


def json_lines(err):
    out = []
    for ln in text_lines(err):
        try:
            o = json.loads(ln)
        except ValueError:
            ndtest.fail("not a JSON line: %r" % ln)
        check(isinstance(o, dict) and
              {"ts", "level", "component", "msg"} <= set(o) and
              re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"]) and
              o["level"] in ("ERROR", "WARN", "INFO", "DEBUG"),
              "a JSON line without its fields: %r" % ln)
        out.append(o)
    return out


def json_and_recovery():
    with ndtest.Broker(args=["--log-format", "json", "--min-segment-bytes",
                             "4096"]) as b:
        a = admin(b)
        done(a.create_topics([NewTopic("jr", 1, 1,
                                       config={"segment.bytes": "4096"})]))
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(100):
            p.produce("jr", value=b"v-%05d" % i)
        check(p.flush(30) == 0, "produce did not finish")
        lines = json_lines(b.stderr())
        start = [o for o in lines if o["msg"].startswith("nodata ")]
        check(start and start[0]["component"] == "serve" and
              start[0]["level"] == "INFO" and
              start[0]["data_dir"] == os.path.realpath(b.data_dir) and
              start[0]["listen"] == b.bootstrap and
              start[0]["pid"] == b.pid and
              isinstance(start[0]["data_format"], int),
              "JSON start line: %r" % start)
        made = [o for o in lines if o.get("topic") == "jr" and
                "created topic" in o["msg"]]
        check(made and made[0]["client_id"] == "ops-admin" and
              re.match(r"^127\.0\.0\.1:\d+$", made[0]["client_addr"]) and
              made[0]["api"] == "CreateTopics" and
              made[0]["component"] == "admin",
              "JSON create line: %r" % made)

        # A crash with a torn tail: recovery cuts it and says so.
        b.kill9()
        seg = sorted(glob.glob(os.path.join(
            b.data_dir, "topics", ndtest.topic_dir("jr"), "0", "*.log")))[-1]
        with open(seg, "ab") as f:
            f.write(b"\0\0\0\0\0\0\0\x64\0\0\x10\0\0\0\0\0\0")
        mark = len(b.stderr())
        b.start()
        lines = json_lines(since(b, mark))
        rec = [o for o in lines if o["component"] == "recovery" and
               o.get("topic") == "jr"]
        check(rec and rec[0]["level"] == "WARN" and
              rec[0]["partition"] == 0 and rec[0]["bytes_cut"] == 17 and
              rec[0]["indexes_rebuilt"] >= 1 and
              "cut 17 bytes at %s" % os.path.basename(seg) in rec[0]["msg"],
              "JSON recovery line: %r" % rec)
        summary = [o for o in lines if o["component"] == "recovery" and
                   "unclean shutdown before" in o["msg"]]
        check(summary and summary[0]["bytes_cut"] == 17 and
              summary[0]["clean_shutdown"] == 0,
              "JSON recovery summary: %r" % summary)
        check(len(ndtest.read_partition(b.bootstrap, "jr", 0)) == 100,
              "records lost in recovery")
        ndtest.stop_clean(b)
        json_lines(b.stderr())


def levels_and_disk():
    # warn: no INFO line, WARN lines still; the disk line once.
    with ndtest.Broker(args=["--log-level", "warn", "--disk-free-warn-percent",
                             "100", "--disk-check-interval-ms", "200"]) as b:
        time.sleep(2)  # ten checks
        produce_v2(b.port)
        wait_for(b, 0, r"WARN  net: .*Produce v2 is not served", "the refusal")
        err = b.stderr()
        check(" INFO " not in err, "INFO lines at --log-level warn:\n" + err)
        n = len(re.findall(r"WARN  serve: disk nearly full: \d+ MiB free of "
                           r"\d+ MiB \([\d.]+ %\) on the file system of "
                           r"\S+ \(warn below 100 % or 1024 MiB\)$", err,
                           re.M))
        check(n == 1, "disk nearly full: %d lines in ten checks, want 1:\n%s"
              % (n, err))
        ndtest.stop_clean(b)
    # error (from the environment): not even the refusal.
    with ndtest.Broker(env={"NODATA_LOG_LEVEL": "error"}) as b:
        produce_v2(b.port)
        time.sleep(0.5)
        ndtest.stop_clean(b)
        check(b.stderr() == "", "lines at level error: %r" % b.stderr())
    # debug: a GetTelemetrySubscriptions is told at DEBUG only; json from
    # the environment.
    for level, want in (("debug", 1), ("info", 0)):
        with ndtest.Broker(args=["--log-level", level],
                           env={"NODATA_LOG_FORMAT": "json"}) as b:
            c = kv.Conn(b.port)
            c.call(71, 0, b"\0" * 16 + b"\0")
            time.sleep(0.5)
            ndtest.stop_clean(b)
            lines = json_lines(b.stderr())
            dbg = [o for o in lines if o["level"] == "DEBUG" and
                   o["component"] == "telemetry" and
                   o.get("client_id") == "versions-test"]
            check(len(dbg) == want, "--log-level %s: %d telemetry DEBUG "
                  "lines, want %d: %r" % (level, len(dbg), want, lines))
    # A level that does not exist is a usage error.
    b = ndtest.Broker(args=["--log-level", "verbose"], start=False)
    try:
        try:
            b.start(timeout=5)
        except Exception:
            pass
        b.stop(check=False)
        check(b.exit_code == 2 and "is not error, warn, info or debug" in
              b.stderr(), "--log-level verbose: exit %r, %r"
              % (b.exit_code, b.stderr()))
    finally:
        b.close()


def main():
    text_events()
    json_and_recovery()
    levels_and_disk()
    print("log lines checked (%.0f s)" % (time.monotonic() - START))
    ndtest.passed()


if __name__ == "__main__":
    main()
