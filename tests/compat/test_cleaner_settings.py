"""test_cleaner_settings.py — the broker's compaction settings (issue 18),
through DescribeConfigs and IncrementalAlterConfigs on broker "0" (the
hand-written requests of test_kafka_versions.py) and `nodata serve`'s
flags. The expected texts, types and read-only flags are Apache Kafka
4.4's, read from the real broker (tests/compat/apache_kafka.py):

- the cleaner's own settings, log.cleaner.{enable, threads,
  dedupe.buffer.size, io.max.bytes.per.second, backoff.ms}, given as
  flags and environment variables: described with their values, source
  STATIC_BROKER_CONFIG, synonyms (the flag's value, then Kafka's
  default), Kafka's types; a live change is refused with Kafka's text for
  its read-only configs (nodata reads them when the store opens; Kafka
  changes all but log.cleaner.enable live: docs/protocol.md);
- the topic defaults log.cleanup.policy, log.cleaner.min.cleanable.ratio,
  log.cleaner.{min,max}.compaction.lag.ms, log.cleaner.delete.retention.ms:
  Kafka's defaults and types, set live (SET, APPEND on the list), bad
  values refused in Kafka's words, applied to topics created afterwards
  (an auto-created topic is compacted and refuses a keyless record), kept
  across a restart;
- flag errors: the dedupe buffer under 1 MiB per thread (Kafka's check),
  a value that does not parse; a log.cleaner.threads an older nodata kept
  in broker.conf is ignored (with a line on stderr), the flag wins.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402

import test_kafka_versions as kv  # noqa: E402
import test_dynamic_configs as tdc  # noqa: E402

SET, APPEND = 0, 2
STATIC, DYNAMIC_BROKER, DEFAULT = 4, 2, 5
BOOL, INT, LONG, DOUBLE, LIST = 1, 3, 5, 6, 7
INVALID_RECORD, INVALID_REQUEST = 87, 42
check = kv.check

# name: (flag value, Kafka's type, Kafka's default)
CLEANER = {
    "log.cleaner.enable": ("true", BOOL, "true"),
    "log.cleaner.threads": ("2", INT, "1"),
    "log.cleaner.dedupe.buffer.size": ("67108864", LONG, "134217728"),
    "log.cleaner.io.max.bytes.per.second": ("1000000", DOUBLE,
                                            "1.7976931348623157E308"),
    "log.cleaner.backoff.ms": ("500", LONG, "15000"),
}
# name: (Kafka's type, Kafka's default, a good value)
TOPIC_DEFAULTS = {
    "log.cleanup.policy": (LIST, "delete", "compact"),
    "log.cleaner.min.cleanable.ratio": (DOUBLE, "0.5", "0.25"),
    "log.cleaner.min.compaction.lag.ms": (LONG, "0", "1000"),
    "log.cleaner.max.compaction.lag.ms": (LONG, "9223372036854775807",
                                          "99999"),
    "log.cleaner.delete.retention.ms": (LONG, "86400000", "5000"),
}
# Kafka 4.4's answers (INVALID_REQUEST) to bad broker defaults.
BAD = [
    ("log.cleanup.policy", "shred", "Invalid value shred for configuration "
     "log.cleanup.policy: String must be one of: compact, delete"),
    ("log.cleaner.min.cleanable.ratio", "1.5", "Invalid value 1.5 for "
     "configuration log.cleaner.min.cleanable.ratio: Value must be no more "
     "than 1"),
    ("log.cleaner.delete.retention.ms", "-1", "Invalid value -1 for "
     "configuration log.cleaner.delete.retention.ms: Value must be at least "
     "0"),
    ("log.cleaner.max.compaction.lag.ms", "0", "Invalid value 0 for "
     "configuration log.cleaner.max.compaction.lag.ms: Value must be at "
     "least 1"),
]


def cleaner_settings(c):
    d = tdc.desc(c, "0", list(CLEANER))
    for name, (flag, typ, dflt) in CLEANER.items():
        e = d[name]
        got = (e["value"], e["source"], e["type"], e["read_only"],
               e["synonyms"])
        want = (flag, STATIC, typ, 1, [(name, flag, STATIC),
                                       (name, dflt, DEFAULT)])
        check(got == want, "%s: got %s, want %s" % (name, got, want))
        m = tdc.alter(c, "0", [(name, SET, flag)], want=INVALID_REQUEST)
        check(m == "Cannot update these configs dynamically: [%s]" % name,
              "%s: %r" % (name, m))


def topic_defaults(b, c):
    d = tdc.desc(c, "0", list(TOPIC_DEFAULTS))
    for name, (typ, dflt, _) in TOPIC_DEFAULTS.items():
        e = d[name]
        got = (e["value"], e["source"], e["type"], e["read_only"],
               e["synonyms"])
        want = (dflt, DEFAULT, typ, 0, [(name, dflt, DEFAULT)])
        check(got == want, "%s: got %s, want %s" % (name, got, want))
    for name, value, msg in BAD:
        m = tdc.alter(c, "0", [(name, SET, value)], want=INVALID_REQUEST)
        check(m == msg, "%s=%s: %r" % (name, value, m))
    # APPEND on the list default, then SET of every one.
    tdc.alter(c, "0", [("log.cleanup.policy", APPEND, "compact")])
    check(tdc.value(c, "log.cleanup.policy") == ("delete,compact",
                                                 DYNAMIC_BROKER),
          "APPEND: %s" % (tdc.value(c, "log.cleanup.policy"),))
    tdc.alter(c, "0", [(n, SET, v[2]) for n, v in TOPIC_DEFAULTS.items()])
    for name, (_, _, good) in TOPIC_DEFAULTS.items():
        check(tdc.value(c, name) == (good, DYNAMIC_BROKER),
              "%s: %s" % (name, tdc.value(c, name)))
    new_topic_inherits(b, c, "auto1")


def new_topic_inherits(b, c, name):
    """An auto-created topic starts from the broker's defaults: compacted,
    so a keyless record is refused and a keyed one stored."""
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
                  "retries": 0})
    out = []
    for key in (None, b"k"):
        p.produce(name, key=key, value=b"v", on_delivery=lambda e, m:
                  out.append(None if e is None else e.code()))
        p.flush(30)
    check(out == [INVALID_RECORD, None], "%s: deliveries %s" % (name, out))
    t = kv.describe_configs(c, name, ["cleanup.policy",
                                      "min.cleanable.dirty.ratio",
                                      "min.compaction.lag.ms",
                                      "max.compaction.lag.ms",
                                      "delete.retention.ms"])
    got = {e["name"]: e["value"] for e in t["configs"]}
    check(got == {"cleanup.policy": "compact",
                  "min.cleanable.dirty.ratio": "0.25",
                  "min.compaction.lag.ms": "1000",
                  "max.compaction.lag.ms": "99999",
                  "delete.retention.ms": "5000"}, "%s: %s" % (name, got))


def flag_errors():
    for args, msg in (
            (["--log-cleaner-threads", "4",
              "--log-cleaner-dedupe-buffer-size", "3M"],
             "log.cleaner.dedupe.buffer.size must be at least 1MB per "
             "cleaner thread"),
            (["--log-cleaner-enable", "maybe"],
             "--log-cleaner-enable: 'maybe' is not true or false"),
            (["--log-cleaner-io-max-bytes-per-second", "0"],
             "is not a rate above 0")):
        r = subprocess.run([ndtest.nodata_bin(), "serve", "--listen",
                            "127.0.0.1:0", "--data", "/nonexistent/x"] + args,
                           capture_output=True, timeout=30)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 2 and msg in err,
              "%s: exit %d, %r" % (args, r.returncode, err))
    # Kafka's log.cleaner.threads=0 (no cleaner) with any buffer is fine.
    # A value an older nodata stored in broker.conf (it took
    # log.cleaner.threads live and ignored it) is ignored, and said so.
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        with open(os.path.join(data, "broker.conf"), "w") as f:
            f.write("broker log.cleaner.threads=3\n")
        with ndtest.Broker(data_dir=data, args=[
                "--log-cleaner-threads", "0",
                "--log-cleaner-dedupe-buffer-size", "1K"]) as b:
            c = kv.Conn(b.port)
            check(tdc.value(c, "log.cleaner.threads") == ("0", STATIC),
                  "threads 0: %s" % (tdc.value(c, "log.cleaner.threads"),))
            check("log.cleaner.threads is read-only now, ignored" in
                  b.stderr(), "stderr: %s" % b.stderr())
            ndtest.stop_clean(b)


def main():
    flag_errors()
    args = []
    for name, (flag, _, _) in CLEANER.items():
        if name != "log.cleaner.enable":  # from the environment, below
            args += ["--" + name.replace(".", "-"), flag]
    with ndtest.Broker(args=args, env={"NODATA_LOG_CLEANER_ENABLE":
                                       "true"}) as b:
        c = kv.Conn(b.port)
        cleaner_settings(c)
        topic_defaults(b, c)
        b.restart()
        c = kv.Conn(b.port)
        for name, (_, _, good) in TOPIC_DEFAULTS.items():
            check(tdc.value(c, name) == (good, DYNAMIC_BROKER),
                  "after restart %s: %s" % (name, tdc.value(c, name)))
        new_topic_inherits(b, c, "auto2")
        ndtest.stop_clean(b)
    ndtest.passed()


if __name__ == "__main__":
    main()
