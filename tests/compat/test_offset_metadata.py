"""test_offset_metadata.py — committed offset metadata is bytes, kept whole.

Kafka stores an OffsetCommit's metadata string as given and returns it byte
for byte, NUL bytes included (librdkafka tests 0099 and 0130 commit such
metadata). kafka-python commits metadata holding NULs and reads it back
through OffsetFetch (one partition, and the whole group through the admin
client), before and after a broker restart; plain metadata and none ("")
keep working beside it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

TOPIC = "meta-nul"
GROUP = "meta-nul-g"
WANT = {0: "a\x00b\x00\x00c", 1: "plain", 2: ""}


def committed(consumer, tps):
    # KafkaConsumer.committed() drops the metadata; the coordinator keeps it.
    got = consumer._coordinator.fetch_committed_offsets(tps)
    return {tp.partition: (om.offset, om.metadata) for tp, om in got.items()}


def check(bootstrap, when):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    tps = [TopicPartition(TOPIC, p) for p in WANT]
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP,
                      enable_auto_commit=False)
    try:
        got = committed(c, tps)
    finally:
        c.close(autocommit=False)
    want = {p: (10 + p, m) for p, m in WANT.items()}
    if got != want:
        ndtest.fail("%s: OffsetFetch gave %r, want %r" % (when, got, want))
    a = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        listed = a.list_consumer_group_offsets(GROUP)
    finally:
        a.close()
    listed = {tp.partition: (om.offset, om.metadata)
              for tp, om in listed.items() if tp.topic == TOPIC}
    if listed != want:
        ndtest.fail("%s: the group's offsets are %r, want %r"
                    % (when, listed, want))


def main():
    ndtest.require("kafka")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    with ndtest.Broker(args=["--partitions", "3"]) as b:
        p = KafkaProducer(bootstrap_servers=b.bootstrap)
        for i in range(60):
            p.send(TOPIC, value=b"v%d" % i, partition=i % 3)
        p.flush(30)
        p.close()
        c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=GROUP,
                          enable_auto_commit=False)
        c.commit({TopicPartition(TOPIC, q): OffsetAndMetadata(10 + q, m)
                  for q, m in WANT.items()})
        c.close(autocommit=False)
        check(b.bootstrap, "after the commit")
        b.restart()
        check(b.bootstrap, "after a restart")
    ndtest.passed()


if __name__ == "__main__":
    main()
