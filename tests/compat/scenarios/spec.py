"""spec.py — what the Python scenario programs do, shared by the three
clients so each drives the brokers through the same steps (the
JavaScript programs in tests/js/ follow the same list).

Topics: CFG (created with CONFIGS, grown to 4 partitions), DATA (3
partitions, one idempotent producer per codec writes RECORDS_PER_CODEC
records, each to partition i % 3 with a key, headers and timestamp
T0 + ...), GRP (4 partitions, read by a group of two members with the
range assignor).
"""
import sys
import time

CFG, DATA, GRP, MISSING = "cfg", "data", "grp", "no-such-topic"
TOPICS = (CFG, DATA, GRP)
BAD_NAME = "bad/name"
CONFIGS = {"retention.ms": "3600000", "max.message.bytes": "200000",
           "segment.bytes": "1048576"}
# Described back: the ones set, and defaults both brokers have.
DESCRIBED = sorted(CONFIGS) + ["message.timestamp.type", "compression.type",
                               "retention.bytes"]
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
RECORDS_PER_CODEC = 12
T0 = 1_700_000_000_000
GROUP = "pair"


def records(codec_index):
    """(partition, key, value, headers, timestamp) for one codec's
    producer; one value is null (a tombstone)."""
    out = []
    for i in range(RECORDS_PER_CODEC):
        n = codec_index * RECORDS_PER_CODEC + i
        value = None if i == 5 else b"v%d-" % n + bytes(range(n % 7)) * 30
        out.append((n % 3, b"k%d" % (n % 5), value,
                    [("n", b"%d" % n), ("empty", b"")], T0 + 1000 * n))
    return out


def hexs(b):
    return None if b is None else b.hex()


def die(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


class Deadline:
    """Fails the scenario (die) once `seconds` have passed."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def check(self, what):
        if time.monotonic() > self.end:
            die(what)


def topics_ready(counts):
    """Does Metadata ({topic: partitions}) show every topic, CFG grown?
    Kafka's metadata follows its controller a moment later."""
    return all(t in counts for t in TOPICS) and counts[CFG] == 4


def metadata_shape(topics, name):
    """The Metadata shape from kafka-python's or aiokafka's topic dicts
    (their to_object() form); name maps an error code to its name."""
    return {t: sorted((p["partition"], name(p["error_code"]),
                       len(p["replicas"]), len(p["isr"]), p["leader"] >= 0)
                      for p in topics[t]["partitions"])
            for t in TOPICS}


def assigned(a):
    """Do the two members' assignments (lists of partitions) cover GRP?"""
    return all(a) and sum(len(x) for x in a) == 4


def described(resp, name):
    """What a raw DescribeConfigs response (kafka-python's, aiokafka's)
    says of its one topic: the error and message, and the DESCRIBED
    entries' fields."""
    got = {}
    for res in resp.resources:
        got["error"] = [name(res[0]), res[1]]
        for e in res[4]:
            if e[0] in DESCRIBED:
                got[e[0]] = list(e[1:])
    return got
