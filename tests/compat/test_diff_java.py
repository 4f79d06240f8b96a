"""test_diff_java.py — the reference Java client (kafka-clients 4.4) against
Apache Kafka 4.4 and against nodata in the same test run; what the client
observes must be the same, field by field (issue 16).

tests/kafka/DiffJava.java is the scenario (run by single-file source launch,
no build step); it prints one JSON document of everything the client saw:

- Admin: describeCluster; createTopics (partition counts, replication,
  the configs the answer carries) and its errors (existing topic, zero and
  negative partitions, replication 3, bad and unknown config values, bad
  name, validate-only); describeTopics (partitions, leader, replicas, isr,
  authorized operations) and a missing topic; createPartitions and its
  errors; listTopics; describeConfigs with synonyms (value, source,
  isDefault, isSensitive, isReadOnly, type) before and after an
  incrementalAlterConfigs (SET, DELETE) and its errors;
- producers: idempotent acks=all, acks=1 and acks=0, each with none, gzip,
  snappy, lz4 and zstd: every RecordMetadata (partition, offset,
  timestamp); a LogAppendTime topic;
- consumer with assign(): every record (offset, key, value, headers,
  timestamp and its type, leader epoch, sizes), beginning/endOffsets,
  offsetsForTimes, seek by offset and by time, seekToBeginning/End, a
  seek past the end;
- a classic-protocol group of two static members (range assignor): the
  rebalance listener's events of each member, commitSync, committed();
  listGroups, listConsumerGroups, describeConsumerGroups (state, members, assignment,
  protocol), listConsumerGroupOffsets, and the errors of a live group
  (alter offsets, delete offsets of a subscribed topic, delete group);
- alterConsumerGroupOffsets, deleteConsumerGroupOffsets, deleteConsumerGroups;
  listOffsets (earliest, latest, max timestamp, by time); deleteRecords and
  the low watermark after it; deleteTopics.

Kafka's topic configs that nodata does not have (and nodata's own) are
compared as name lists; every config both have is compared entry by entry.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
from apache_kafka import classpath  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "..", "kafka", "DiffJava.java")
CP = classpath()


# Kafka 4.4's topic configs that nodata does not have (tiered storage,
# replication throttles, preallocation, ...), and nodata's own.
KAFKA_ONLY = [
    "errors.deadletterqueue.group.enable", "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas", "local.retention.bytes",
    "local.retention.ms", "max.decompressed.message.bytes",
    "preallocate", "remote.copy.lag.bytes",
    "remote.copy.lag.ms", "remote.log.copy.disable",
    "remote.log.delete.on.disable", "remote.storage.enable",
    "segment.jitter.ms",
]
NODATA_ONLY = ["fsync"]

# Intended differences, each named in docs/protocol.md ("Differences from
# Apache Kafka").
DOCUMENTED = {
    # DescribeTopicPartitions (KIP-966) is not served: the Admin falls back
    # to Metadata, which has no eligible leader replicas.
    r"^topics\.describe_\w+\.partitions\[\d+\]\.(elr|last_known_elr)$":
        "DescribeTopicPartitions is not served",
    # nodata's own defaults (the value, and its broker synonym's).
    r"^(topics\.create\.(jt-default|jp|jg|jlat)\.config|"
    r"configs\.describe_jt_(after_alter|final))\.segment\.bytes\.value$":
        "`segment.bytes` defaults to 134217728",
    r"^configs\.describe_jt\w*\.segment\.bytes\.synonyms\[\d\]\.value$":
        "`segment.bytes` defaults to 134217728",
    r"\.flush\.ms\.value$": "`flush.ms` defaults to 1000",
    # Kafka's storage format sets the cluster's min.insync.replicas.
    r"\.min\.insync\.replicas\.(source|is_default|"
    r"synonyms(\.length|\[\d\]\.\w+))$":
        "cluster-wide `min.insync.replicas=1`",
    r"\.(min\.insync\.replicas|"
    r"unclean\.leader\.election\.enable)\.is_read_only$":
        "accepted at their only value and shown read-only",
}


def scenario(bootstrap):
    return differential.run_program(
        ["java", "-Xmx256m", "-cp", CP, PROGRAM], bootstrap)


def config_maps(doc):
    """(path, config dict) of every topic config listing in a document."""
    for name, t in sorted(doc["topics"]["create"].items()):
        yield "topics.create.%s.config" % name, t["config"]
    for k, v in sorted(doc["configs"].items()):
        if k.startswith("describe_jt"):
            yield "configs." + k, v


want, got = differential.run_both(scenario)
# The config names each broker has alone must be the known ones; the rest
# is compared entry by entry.
for (path, w), (_, g) in zip(config_maps(want), config_maps(got)):
    only_k, only_n = sorted(set(w) - set(g)), sorted(set(g) - set(w))
    if only_k != KAFKA_ONLY or only_n != NODATA_ONLY:
        ndtest.fail("%s: configs only Kafka has %s (expected %s), only nodata "
                    "has %s (expected %s)" % (path, only_k, KAFKA_ONLY,
                                              only_n, NODATA_ONLY))
    for k in only_k:
        del w[k]
    for k in only_n:
        del g[k]

differential.compare(want, got, documented=DOCUMENTED,
                     what="Java kafka-clients 4.4")
ndtest.passed()
