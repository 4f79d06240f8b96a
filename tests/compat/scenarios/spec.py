"""spec.py — what the Python scenario programs do, shared by the three
clients so each drives the brokers through the same steps (the
JavaScript programs in tests/js/ follow the same list).

Topics: CFG (created with CONFIGS, grown to 4 partitions), DATA (3
partitions, one idempotent producer per codec writes RECORDS_PER_CODEC
records, each to partition i % 3 with a key, headers and timestamp
T0 + ...), GRP (4 partitions, read by a group of two members with the
range assignor).
"""
CFG, DATA, GRP, MISSING = "cfg", "data", "grp", "no-such-topic"
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
