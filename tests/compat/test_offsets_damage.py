"""test_offsets_damage.py — one damaged frame of groups/offsets.log costs
only that frame, and `nodata serve` says so on stderr.

Three consumer groups (kafka-python) commit twice each, the broker stops,
and one bit is flipped in the frame of the second commit of the middle
group. After a restart the other groups still have their last commits
(offset and metadata), the damaged group is back at its first commit, and
the broker's stderr has a warning naming the file, the damaged bytes and
the lost commit. Before this was fixed, every group's offsets were gone
and nothing was printed.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

TOPIC = "damage"
GROUPS = ["grp-alpha", "grp-beta", "grp-gamma"]
MAGIC = 0x894F4653  # a frame of form 2 (docs/format.md)


def committed(bootstrap, group):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                      enable_auto_commit=False)
    try:
        tps = [TopicPartition(TOPIC, p) for p in range(2)]
        got = c._coordinator.fetch_committed_offsets(tps)
    finally:
        c.close(autocommit=False)
    return {tp.partition: (om.offset, om.metadata) for tp, om in got.items()}


def commit(bootstrap, group, base, meta):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                      enable_auto_commit=False)
    try:
        c.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(base + p, meta)
                  for p in range(2)})
    finally:
        c.close(autocommit=False)


def frames(data):
    """(start, end) of each frame; form 1 (u32 length, u32 CRC) too, so
    the test says how a broker writing that form fares."""
    out, pos = [], 0
    while pos + 16 <= len(data):
        magic, length = struct.unpack(">II", data[pos:pos + 8])
        end = pos + 16 + length if magic == MAGIC else pos + 8 + magic
        out.append((pos, end))
        pos = end
    return out


def main():
    ndtest.require("kafka")
    from kafka import KafkaProducer

    with ndtest.Broker(args=["--partitions", "2"]) as b:
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        for i in range(40):
            p.send(TOPIC, value=b"v%d" % i, partition=i % 2)
        p.flush(30)
        p.close()
        for g in GROUPS:
            commit(b.bootstrap, g, 5, "first")
        for g in GROUPS:
            commit(b.bootstrap, g, 10, "second")
        ndtest.stop_clean(b)

        path = os.path.join(b.data_dir, "groups", "offsets.log")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        # The last frame naming grp-beta holds its second commit.
        beta = [fr for fr in frames(data)
                if b"grp-beta" in data[fr[0]:fr[1]]]
        if len(beta) < 2:
            ndtest.fail("grp-beta's commits not found in %s" % path)
        start, end = beta[-1]
        data[end - 3] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)

        b.start()
        want_last = {p: (10 + p, "second") for p in range(2)}
        for g in GROUPS:
            got = committed(b.bootstrap, g)
            want = want_last if g != "grp-beta" else \
                {p: (5 + p, "first") for p in range(2)}
            if got != want:
                ndtest.fail("%s: committed %r, want %r" % (g, got, want))
        err = b.stderr()
        line = [ln for ln in err.splitlines()
                if " WARN  store: " in ln and "offsets.log" in ln]
        if not line:
            ndtest.fail("no warning about offsets.log on stderr:\n%s" % err)
        if "bytes %d-%d" % (start, end) not in line[0] or \
                "grp-beta" not in line[0]:
            ndtest.fail("the warning does not name bytes %d-%d and grp-beta:"
                        "\n%s" % (start, end, line[0]))
        ndtest.stop_clean(b)
        # The damage was rewritten away: a second restart says nothing.
        seen = len(b.stderr())
        b.start()
        if committed(b.bootstrap, "grp-gamma") != want_last:
            ndtest.fail("grp-gamma changed after a second restart")
        ndtest.stop_clean(b)
        if " WARN " in b.stderr()[seen:]:
            ndtest.fail("a warning after the rewrite:\n%s"
                        % b.stderr()[seen:])
    ndtest.passed()


if __name__ == "__main__":
    main()
