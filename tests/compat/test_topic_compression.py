"""test_topic_compression.py — Kafka's topic compression.type and the
flush.* settings through real clients.

compression.type (confluent-kafka AdminClient, producers of librdkafka and
kafka-python):
- CreateTopics accepts producer, uncompressed, gzip, snappy, lz4, zstd and
  the compression.<codec>.level settings; a bad value or level is
  INVALID_CONFIG;
- a topic with compression.type=gzip stores what lz4, zstd, snappy
  (kafka-python's xerial framing) and uncompressed producers sent as gzip
  batches (read from the segment file), and consumers get every record
  back with its key, headers, timestamp and offset;
- compression.type=uncompressed stores zstd batches uncompressed;
- compression.type=producer keeps the client's codec;
- AlterConfigs to zstd applies to later appends and survives a restart;
- DescribeConfigs shows compression.type with its source.
flush.messages / flush.ms (Kafka's fsync settings) map onto the fsync
policy: flush.messages=1 is fsync=always, flush.ms=N interval=N,
flush.ms=Long.MAX never; DescribeConfigs shows all three consistently, and
flush.messages=5 is refused (nodata cannot sync every 5 messages).
"""
import glob
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck, kp = ndtest.require("confluent_kafka", "kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   ConfigSource,
                                   NewTopic)

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
LONG_MAX = "9223372036854775807"


def stored_codecs(data_dir, topic, partition=0):
    """The codec of every batch in the partition's segment files."""
    h = hashlib.sha256(topic.encode()).hexdigest()
    out = []
    for path in sorted(glob.glob("%s/topics/%s/%d/*.log"
                                 % (data_dir, h, partition))):
        buf = open(path, "rb").read()
        pos = 0
        while pos + 61 <= len(buf):
            blen = struct.unpack(">i", buf[pos + 8:pos + 12])[0]
            if blen <= 0:
                break
            out.append(CODECS[buf[pos + 22] & 7])
            pos += 12 + blen
    return out


def create(admin, name, config, expect_error=None):
    fs = admin.create_topics([NewTopic(name, 1, 1, config=config)])
    try:
        fs[name].result(15)
    except ck.KafkaException as e:
        err = e.args[0]
        if expect_error and err.name() == expect_error:
            return err
        ndtest.fail("create %s %s: %s" % (name, config, err))
    if expect_error:
        ndtest.fail("create %s %s succeeded, expected %s"
                    % (name, config, expect_error))
    return None


def describe(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([res])[res].result(15)


def produce_ck(bs, topic, codec, n, base):
    p = Producer({"bootstrap.servers": bs, "compression.type": codec,
                  "linger.ms": 5, "acks": "all"})
    errs = []
    for i in range(n):
        p.produce(topic, ("v%d-%s" % (base + i, "x" * 200)).encode(),
                  key=b"k%d" % (base + i), headers=[("h", b"%d" % i)],
                  timestamp=1700000000000 + base + i,
                  on_delivery=lambda e, m: e and errs.append(e))
    p.flush(30)
    if errs or len(p):
        ndtest.fail("produce %s: %s" % (codec, errs[:3]))


def consume(bs, topic, n):
    c = Consumer({"bootstrap.servers": bs, "group.id": "g-" + topic,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < n:
        m = c.poll(10)
        if m is None:
            break
        if m.error():
            ndtest.fail("consume %s: %s" % (topic, m.error()))
        got.append(m)
    c.close()
    return got


def check_records(got, n):
    if len(got) != n:
        ndtest.fail("got %d records, want %d" % (len(got), n))
    for off, m in enumerate(got):
        i = int(m.key()[1:])
        if m.offset() != off:
            ndtest.fail("record %d has offset %d" % (off, m.offset()))
        if m.value() != ("v%d-%s" % (i, "x" * 200)).encode():
            ndtest.fail("record %d value %r" % (off, m.value()[:20]))
        if m.timestamp()[1] != 1700000000000 + i:
            ndtest.fail("record %d timestamp %s" % (off, m.timestamp()))
        if not m.headers() or m.headers()[0][0] != "h":
            ndtest.fail("record %d headers %s" % (off, m.headers()))


def main():
    with ndtest.Broker() as b:
        bs = b.bootstrap
        admin = AdminClient({"bootstrap.servers": bs})

        # Every value Kafka accepts, and the level settings.
        for v in ("producer", "uncompressed", "gzip", "snappy", "lz4",
                  "zstd"):
            create(admin, "ct-" + v, {"compression.type": v})
            got = describe(admin, "ct-" + v)["compression.type"]
            if got.value != v:
                ndtest.fail("compression.type %s described as %s"
                            % (v, got.value))
            # Set at create, so the topic's own even at the default's
            # value, as Kafka describes it.
            want_src = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
            if got.source != want_src or got.is_read_only:
                ndtest.fail("compression.type=%s: source %s read-only %s"
                            % (v, got.source, got.is_read_only))
        # librdkafka's 0081 creates topics with compression.type and
        # delete.retention.ms together; Kafka accepts both on any topic.
        create(admin, "ct-dr", {"compression.type": "lz4",
                                "delete.retention.ms": "900"})
        got = describe(admin, "ct-dr")["delete.retention.ms"]
        if got.value != "900":
            ndtest.fail("delete.retention.ms described as %s" % got.value)
        err = create(admin, "ct-bad", {"compression.type": "brotli"},
                     "INVALID_CONFIG")
        if "String must be one of" not in err.str():
            ndtest.fail("bad compression.type message: %s" % err.str())
        create(admin, "lv-bad", {"compression.zstd.level": "23"},
               "INVALID_CONFIG")
        create(admin, "lv-bad2", {"compression.gzip.level": "0"},
               "INVALID_CONFIG")
        create(admin, "lv-bad3", {"compression.lz4.level": "18"},
               "INVALID_CONFIG")

        # gzip topic: every producer codec ends up gzip on disk.
        create(admin, "to-gzip", {"compression.type": "gzip",
                                  "compression.gzip.level": "9"})
        n = 0
        for codec in ("lz4", "zstd", "none", "gzip"):
            produce_ck(bs, "to-gzip", codec, 50, n)
            n += 50
        kp_prod = kp.KafkaProducer(bootstrap_servers=bs,
                                   compression_type="snappy")
        for i in range(n, n + 50):
            kp_prod.send("to-gzip", ("v%d-%s" % (i, "x" * 200)).encode(),
                         key=b"k%d" % i, headers=[("h", b"1")],
                         timestamp_ms=1700000000000 + i)
        kp_prod.flush(30)
        kp_prod.close()
        n += 50
        codecs = stored_codecs(b.data_dir, "to-gzip")
        if not codecs or set(codecs) != {"gzip"}:
            ndtest.fail("gzip topic stored batches as %s" % codecs)
        check_records(consume(bs, "to-gzip", n), n)

        # uncompressed topic: zstd batches are decompressed.
        create(admin, "to-plain", {"compression.type": "uncompressed"})
        produce_ck(bs, "to-plain", "zstd", 40, 0)
        codecs = stored_codecs(b.data_dir, "to-plain")
        if not codecs or set(codecs) != {"none"}:
            ndtest.fail("uncompressed topic stored batches as %s" % codecs)
        check_records(consume(bs, "to-plain", 40), 40)

        # producer (the default) keeps the client's codec.
        create(admin, "as-sent", {})
        produce_ck(bs, "as-sent", "lz4", 20, 0)
        produce_ck(bs, "as-sent", "snappy", 20, 20)
        codecs = stored_codecs(b.data_dir, "as-sent")
        if "lz4" not in codecs or "snappy" not in codecs or "gzip" in codecs:
            ndtest.fail("producer topic stored batches as %s" % codecs)

        # AlterConfigs switches a live topic; later batches follow it.
        res = ConfigResource(ConfigResource.Type.TOPIC, "as-sent",
                             set_config={"compression.type": "zstd"})
        admin.alter_configs([res])[res].result(15)
        produce_ck(bs, "as-sent", "gzip", 20, 40)
        codecs = stored_codecs(b.data_dir, "as-sent")
        if codecs[-1] != "zstd" or "gzip" in codecs:
            ndtest.fail("after AlterConfigs zstd, batches are %s" % codecs)
        check_records(consume(bs, "as-sent", 60), 60)
        b.restart()
        admin = AdminClient({"bootstrap.servers": bs})
        if describe(admin, "as-sent")["compression.type"].value != "zstd":
            ndtest.fail("compression.type=zstd lost across a restart")
        produce_ck(bs, "as-sent", "lz4", 5, 60)
        if stored_codecs(b.data_dir, "as-sent")[-1] != "zstd":
            ndtest.fail("after restart, not re-encoded to zstd")

        # flush.* <-> fsync.
        def flush_view(topic):
            d = describe(admin, topic)
            return (d["flush.messages"].value, d["flush.ms"].value,
                    d["fsync"].value)

        v = flush_view("as-sent")
        if v != (LONG_MAX, "1000", "interval=1000"):
            ndtest.fail("default flush view %s" % (v,))
        create(admin, "fl-always", {"flush.messages": "1", "flush.ms": "250"})
        v = flush_view("fl-always")
        if v != ("1", "250", "always"):
            ndtest.fail("flush.messages=1 gives %s" % (v,))
        d = describe(admin, "fl-always")["flush.messages"]
        if d.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
            ndtest.fail("flush.messages source %s" % d.source)
        create(admin, "fl-ms", {"flush.ms": "50"})
        if flush_view("fl-ms") != (LONG_MAX, "50", "interval=50"):
            ndtest.fail("flush.ms=50 gives %s" % (flush_view("fl-ms"),))
        create(admin, "fl-never", {"flush.ms": LONG_MAX,
                                   "flush.messages": LONG_MAX})
        if flush_view("fl-never") != (LONG_MAX, LONG_MAX, "never"):
            ndtest.fail("flush.ms=MAX gives %s" % (flush_view("fl-never"),))
        err = create(admin, "fl-bad", {"flush.messages": "5"},
                     "INVALID_CONFIG")
        if "flush.messages" not in err.str():
            ndtest.fail("flush.messages=5 message: %s" % err.str())
        # nodata's own key still works and shows through flush.*.
        create(admin, "fl-own", {"fsync": "always"})
        if flush_view("fl-own")[:1] != ("1",):
            ndtest.fail("fsync=always shows flush %s" % (flush_view("fl-own"),))
        # Back from always: flush.messages=Long.MAX under AlterConfigs
        # (whole config) returns to the interval flush.ms names.
        res = ConfigResource(ConfigResource.Type.TOPIC, "fl-always",
                             set_config={"flush.messages": LONG_MAX,
                                         "flush.ms": "250"})
        admin.alter_configs([res])[res].result(15)
        if flush_view("fl-always") != (LONG_MAX, "250", "interval=250"):
            ndtest.fail("back from always: %s" % (flush_view("fl-always"),))
        b.restart()
        admin = AdminClient({"bootstrap.servers": bs})
        for t, want in (("fl-always", (LONG_MAX, "250", "interval=250")),
                        ("fl-never", (LONG_MAX, LONG_MAX, "never")),
                        ("fl-own", ("1", "1000", "always"))):
            if flush_view(t) != want:
                ndtest.fail("%s after restart: %s" % (t, flush_view(t)))
    ndtest.passed()


if __name__ == "__main__":
    main()
