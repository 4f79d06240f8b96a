"""test_kafka_tools.py — Apache Kafka's own command-line tools (4.4, the
classes behind kafka-topics.sh and friends) against `nodata serve`, each
used as a Kafka user would, its output checked:

kafka-topics (create, describe), kafka-console-producer with keys,
kafka-console-consumer in a group, kafka-consumer-groups (--describe with
lag, --reset-offsets --to-earliest --execute), kafka-configs (--alter,
--describe), kafka-get-offsets (latest, earliest), kafka-delete-records,
kafka-producer-perf-test (every record sent, its MB/sec summary, no
error) and kafka-consumer-perf-test (in a group: every record read, the
MB it adds up to), and kafka-dump-log on nodata's own segment and index
files (they are Kafka's formats).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
from apache_kafka import classpath  # noqa: E402

CP = classpath()


def tool(cls, *args, stdin=None, with_err=False):
    r = subprocess.run(["java", "-Xmx256m", "-cp", CP, cls] + list(args),
                       input=stdin, capture_output=True, timeout=120)
    out = r.stdout.decode(errors="replace")
    err = "\n".join(line for line in r.stderr.decode(errors="replace")
                    .splitlines() if "SLF4J" not in line)
    if r.returncode != 0:
        ndtest.fail("%s %s: exit %d\n%s\n%s" % (cls, " ".join(args),
                                                r.returncode, out, err))
    return (out, err) if with_err else out


def check(cond, what, out):
    if not cond:
        ndtest.fail("%s; the tool printed:\n%s" % (what, out))


T = "org.apache.kafka.tools."
with ndtest.Broker(args=["--group-initial-delay-ms", "0"]) as b:
    bs = ["--bootstrap-server", b.bootstrap]
    out = tool(T + "TopicCommand", *bs, "--create", "--topic", "tt",
               "--partitions", "3")
    check("Created topic tt." in out, "kafka-topics --create", out)
    out = tool(T + "TopicCommand", *bs, "--describe", "--topic", "tt")
    check("PartitionCount: 3" in out and
          len(re.findall(r"Partition: \d\s+Leader: 0\s+Replicas: 0\s+Isr: 0",
                         out)) == 3, "kafka-topics --describe", out)

    tool(T + "ConsoleProducer", *bs, "--topic", "tt", "--reader-property",
         "parse.key=true", "--reader-property", "key.separator=:",
         stdin=b"".join(b"k%d:v%d\n" % (i, i) for i in range(9)))
    out = tool(T + "consumer.ConsoleConsumer", *bs, "--topic", "tt",
               "--from-beginning", "--max-messages", "9", "--group", "cg",
               "--formatter-property", "print.key=true",
               "--timeout-ms", "60000")
    got = sorted(line.split("\t") for line in out.splitlines() if line)
    check(got == sorted(["k%d" % i, "v%d" % i] for i in range(9)),
          "kafka-console-consumer read %d records" % len(got), out)

    out = tool(T + "consumer.group.ConsumerGroupCommand", *bs, "--describe",
               "--group", "cg")
    rows = [line.split() for line in out.splitlines()
            if line.startswith("cg ")]
    check(len(rows) == 3 and all(r[1] == "tt" and r[3] == r[4] and r[5] == "0"
                                 for r in rows),
          "kafka-consumer-groups --describe: every partition read to its end",
          out)
    out = tool(T + "consumer.group.ConsumerGroupCommand", *bs, "--group",
               "cg", "--reset-offsets", "--to-earliest", "--topic", "tt",
               "--execute")
    rows = [line.split() for line in out.splitlines()
            if line.startswith("cg ")]
    check(len(rows) == 3 and all(r[3] == "0" for r in rows),
          "kafka-consumer-groups --reset-offsets", out)
    out = tool(T + "consumer.group.ConsumerGroupCommand", *bs, "--describe",
               "--group", "cg")
    rows = [line.split() for line in out.splitlines()
            if line.startswith("cg ")]
    check(len(rows) == 3 and all(r[3] == "0" and r[5] == r[4] for r in rows),
          "after the reset, the lag is the whole partition", out)

    tool(T + "ConfigCommand", *bs, "--alter", "--entity-type", "topics",
         "--entity-name", "tt", "--add-config", "retention.ms=123456")
    out = tool(T + "ConfigCommand", *bs, "--describe", "--entity-type",
               "topics", "--entity-name", "tt")
    check("retention.ms=123456" in out, "kafka-configs --describe", out)

    def offsets(*extra, topic="tt"):
        out = tool(T + "GetOffsetShell", *bs, "--topic", topic, *extra)
        return {int(p): int(o) for _, p, o in
                (line.split(":") for line in out.splitlines() if line)}
    latest = offsets()
    check(sum(latest.values()) == 9 and len(latest) == 3,
          "kafka-get-offsets: %s" % latest, "")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump({"version": 1, "partitions": [
            {"topic": "tt", "partition": 0, "offset": 1}]}, f)
        f.flush()
        out = tool(T + "DeleteRecordsCommand", *bs, "--offset-json-file",
                   f.name)
    check("low_watermark: 1" in out, "kafka-delete-records", out)
    earliest = offsets("--time", "-2")
    check(earliest == {0: 1, 1: 0, 2: 0}, "earliest after delete-records: %s"
          % earliest, "")

    # kafka-producer-perf-test and kafka-consumer-perf-test, small counts.
    tool(T + "TopicCommand", *bs, "--create", "--topic", "perf",
         "--partitions", "3")
    out, err = tool(T + "ProducerPerformance", *bs, "--topic", "perf",
                    "--num-records", "3000", "--record-size", "100",
                    "--throughput", "-1", "--command-property", "acks=all",
                    with_err=True)
    check(re.search(r"^3000 records sent, [\d.]+ records/sec \([\d.]+ "
                    r"MB/sec\), [\d.]+ ms avg latency", out, re.M) and
          not re.search(r"error|exception", out + err, re.I),
          "kafka-producer-perf-test: all 3000 sent, a MB/sec line, no errors",
          out + err)
    perf = offsets(topic="perf")
    check(sorted(perf) == [0, 1, 2] and sum(perf.values()) == 3000,
          "perf's partitions after the producer test: %s" % perf, "")
    out, err = tool(T + "ConsumerPerformance", *bs, "--topic", "perf",
                    "--num-records", "3000", "--group", "perf-cg",
                    "--timeout", "60000", with_err=True)
    lines = [line for line in out.splitlines() if line.strip()]
    row = dict(zip((h.strip() for h in lines[0].split(",")),
                   (v.strip() for v in lines[-1].split(",")))) \
        if len(lines) == 2 else {}
    check(row.get("data.consumed.in.nMsg") == "3000" and
          row.get("data.consumed.in.MB") == "%.4f" % (3000 * 100 / 2**20)
          and float(row.get("MB.sec", "0")) > 0 and
          not re.search(r"error|exception", out + err, re.I),
          "kafka-consumer-perf-test: all 3000 records (%.4f MB) read, no "
          "errors" % (3000 * 100 / 2**20), out + err)

    ndtest.stop_clean(b)
    part = os.path.join(b.data_dir, "topics",
                        hashlib.sha256(b"tt").hexdigest(), "1")
    seg = os.path.join(part, "00000000000000000000.log")
    out = tool(T + "DumpLogSegments", "--files", seg, "--print-data-log")
    recs = re.findall(r"\| offset: (\d+) .* key: (k\d) payload: (v\d)", out)
    check(len(recs) == latest[1] and
          all(k[1:] == v[1:] for _, k, v in recs) and
          "isvalid: true" in out and "isvalid: false" not in out,
          "kafka-dump-log of a nodata segment", out)
print("kafka-topics, console producer/consumer, consumer-groups, configs, "
      "get-offsets, delete-records, producer/consumer perf-test and "
      "dump-log all work against nodata")
ndtest.passed()
