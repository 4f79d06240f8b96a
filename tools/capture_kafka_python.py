#!/usr/bin/python3
"""capture_kafka_python.py - the kafka-python half of tools/capture_fixtures.c.

Run by capture_fixtures (see the comment at its top for how to rerun both):

  capture_kafka_python.py produce BOOTSTRAP SPEC OUTDIR
      Send the records of the manifest SPEC with kafka-python, one batch per
      codec, to the topics kafka-python-<codec> (partition 0) of the broker
      at BOOTSTRAP, and write OUTDIR/kafka-python-<codec>.expect.
  capture_kafka_python.py verify OUTDIR
      Decode every OUTDIR/*.batch with kafka-python's own RecordBatch reader
      (CRC included) and compare it with the .expect beside it, so the
      fixtures are checked by an implementation other than nodata's.

Needs Debian's python3-kafka, python3-snappy, python3-lz4, python3-zstandard.
"""
import glob
import os
import sys

from kafka import KafkaProducer
from kafka.record.default_records import DefaultRecordBatch

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def unhex(field):
    if field == "-":
        return None
    if field == ".":
        return b""
    return bytes.fromhex(field)


def tohex(data):
    if data is None:
        return "-"
    if len(data) == 0:
        return "."
    return data.hex()


def parse_expect(path):
    meta, records = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                k, _, v = line[1:].partition(" ")
                meta[k] = v
                continue
            fields = line.split(" ")
            headers = []
            for h in fields[4:]:
                hk, _, hv = h.partition("=")
                headers.append((unhex(hk), unhex(hv)))
            records.append({"delta": int(fields[0]), "ts": int(fields[1]),
                            "key": unhex(fields[2]), "value": unhex(fields[3]),
                            "headers": headers})
    return meta, records


def write_expect(path, client, codec, records):
    with open(path, "w") as f:
        f.write("# Records sent by the client into the batch beside this file;\n"
                "# written by tools/capture_kafka_python.py (format described\n"
                "# in tools/capture_fixtures.c).\n")
        f.write("@client %s\n@codec %s\n" % (client, codec))
        for r in records:
            fields = [str(r["delta"]), str(r["ts"]), tohex(r["key"]),
                      tohex(r["value"])]
            fields += ["%s=%s" % (tohex(k), tohex(v)) for k, v in r["headers"]]
            f.write(" ".join(fields) + "\n")


def produce(bootstrap, spec, outdir):
    import kafka
    _, records = parse_expect(spec)
    # kafka-python cannot send a null header value (send() asserts bytes), so
    # its batches carry an empty one where librdkafka's carry null.
    for r in records:
        r["headers"] = [(k, b"" if v is None else v) for k, v in r["headers"]]
    for codec in CODECS:
        topic = "kafka-python-" + codec
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            compression_type=None if codec == "none" else codec,
            linger_ms=500, batch_size=1 << 20, acks="all")
        for r in records:
            producer.send(topic, value=r["value"], key=r["key"],
                          headers=[(k.decode(), v) for k, v in r["headers"]],
                          partition=0, timestamp_ms=r["ts"])
        producer.flush(timeout=10)
        producer.close(timeout=10)
        write_expect(os.path.join(outdir, topic + ".expect"),
                     "kafka-python %s" % kafka.__version__, codec, records)


def verify(outdir):
    bad = 0
    paths = sorted(glob.glob(os.path.join(outdir, "*.batch")))
    for path in paths:
        meta, want = parse_expect(path[:-len(".batch")] + ".expect")
        with open(path, "rb") as f:
            batch = DefaultRecordBatch(f.read())
        got = []
        ok = batch.validate_crc()
        codec = CODECS[batch.compression_type]
        for rec in batch:
            got.append({"delta": rec.offset - batch.base_offset,
                        "ts": rec.timestamp, "key": rec.key,
                        "value": rec.value,
                        "headers": [(k.encode(), v) for k, v in rec.headers]})
        if not ok or got != want or codec != meta.get("codec"):
            bad += 1
            print("MISMATCH %s: crc ok=%s codec=%s" % (path, ok, codec))
            for g, w in zip(got, want):
                if g != w:
                    print("  got  %r\n  want %r" % (g, w))
        else:
            print("verified %s (%s, %d records)" % (path, codec, len(got)))
    return 1 if bad or not paths else 0


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        return verify(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
