"""py_confluent.py BOOTSTRAP — the scenario of spec.py with confluent-kafka
from PyPI (its bundled librdkafka); prints what the client observed as
JSON. Run by test_diff_py_confluent.py in the venv of pyvenv.py."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException,  # noqa
                             Producer, TopicPartition, ConsumerGroupState)
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewPartitions, NewTopic, OffsetSpec)

BS = sys.argv[1]
out = {"client": "confluent-kafka"}


def outcome(fut, timeout=30):
    """None when the future succeeds, else the Kafka error's name."""
    try:
        fut.result(timeout)
        return None
    except KafkaException as e:
        return e.args[0].name()


admin = AdminClient({"bootstrap.servers": BS})

# Admin: topics, configs, partitions, and their error paths.
out["create"] = outcome(admin.create_topics(
    [NewTopic(spec.CFG, 2, 1, config=spec.CONFIGS)])[spec.CFG])
for t, n in ((spec.DATA, 3), (spec.GRP, 4)):
    outcome(admin.create_topics([NewTopic(t, n, 1)])[t])
out["create_existing"] = outcome(admin.create_topics(
    [NewTopic(spec.CFG, 2, 1)])[spec.CFG])
out["create_bad_replication"] = outcome(admin.create_topics(
    [NewTopic("rf3", 1, 3)])["rf3"])
res = ConfigResource("topic", spec.CFG)
entries = admin.describe_configs([res])[res].result(30)
out["describe_configs"] = {
    k: (entries[k].value, entries[k].source, entries[k].is_default,
        entries[k].is_read_only, entries[k].is_sensitive)
    if k in entries else None for k in spec.DESCRIBED}
missing = ConfigResource("topic", spec.MISSING)
out["describe_configs_missing"] = outcome(
    admin.describe_configs([missing])[missing])
out["create_partitions"] = outcome(admin.create_partitions(
    [NewPartitions(spec.CFG, 4)])[spec.CFG])
out["create_partitions_fewer"] = outcome(admin.create_partitions(
    [NewPartitions(spec.CFG, 2)])[spec.CFG])
out["create_partitions_missing"] = outcome(admin.create_partitions(
    [NewPartitions(spec.MISSING, 2)])[spec.MISSING])
deadline = spec.Deadline(30)
while True:
    md = admin.list_topics(timeout=30)
    if spec.topics_ready({t: len(v.partitions) for t, v in md.topics.items()}):
        break
    deadline.check("topics not in Metadata: %r" % sorted(md.topics))
    time.sleep(0.2)
out["metadata"] = {
    t: sorted((p.id, p.leader == md.brokers[p.leader].id
               if p.leader in md.brokers else None,
               len(p.replicas), len(p.isrs), p.error)
              for p in md.topics[t].partitions.values())
    for t in (spec.CFG, spec.DATA, spec.GRP)}
out["metadata_brokers"] = len(md.brokers)

# Produce: an idempotent producer, acks=all, per codec.
delivery = []
for ci, codec in enumerate(spec.CODECS):
    p = Producer({"bootstrap.servers": BS, "acks": "all",
                  "enable.idempotence": True, "compression.type": codec,
                  "linger.ms": 20})

    def cb(err, msg, codec=codec):
        delivery.append((codec, None if err is None else err.name(),
                         msg.partition(), msg.offset(), msg.timestamp()[1]))
    for part, key, value, headers, ts in spec.records(ci):
        p.produce(spec.DATA, key=key, value=value, partition=part,
                  headers=headers, timestamp=ts, on_delivery=cb)
    if p.flush(30) != 0:
        spec.die("flush left records")
out["delivery"] = sorted(delivery, key=lambda d: (d[2], d[3]))

# Consume: assign from the start, every partition to its end.
c = Consumer({"bootstrap.servers": BS, "group.id": "reader",
              "enable.auto.commit": False, "enable.partition.eof": True})
c.assign([TopicPartition(spec.DATA, q, 0) for q in range(3)])


def read(c, parts):
    got, eof = [], set()
    while len(eof) < parts:
        m = c.poll(30)
        if m is None:
            spec.die("nothing for 30 s")
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            spec.die(str(m.error()))
        got.append((m.partition(), m.offset(), spec.hexs(m.key()),
                    spec.hexs(m.value()),
                    [(k, spec.hexs(v)) for k, v in m.headers() or []],
                    m.timestamp()))
    return sorted(got)


out["records"] = read(c, 3)
# Seek back within partition 1 and read it again from there.
# (librdkafka seeks only a partition it is fetching: read one first)
c.assign([TopicPartition(spec.DATA, 1, 0)])
first = c.poll(30)
if first is None or first.error() or first.offset() != 0:
    spec.die("partition 1 from 0: %r" % (first and first.error()))
c.seek(TopicPartition(spec.DATA, 1, 7))
out["after_seek"] = read(c, 1)
out["offsets_for_times"] = [
    (q, ts, c.offsets_for_times([TopicPartition(spec.DATA, q, ts)],
                                timeout=30)[0].offset)
    for q in range(3) for ts in (spec.T0 - 1, spec.T0 + 30_500,
                                 spec.T0 + 10_000_000)]
c.close()

# DeleteRecords, then ListOffsets through the admin client.
dr = admin.delete_records([TopicPartition(spec.DATA, 0, 4)])
out["delete_records"] = [(tp.partition, r.result(30).low_watermark)
                         for tp, r in dr.items()]
dr = admin.delete_records([TopicPartition(spec.MISSING, 0, 1)])
out["delete_records_missing"] = [outcome(r) for r in dr.values()]
out["list_offsets"] = {}
for name, s in (("earliest", OffsetSpec.earliest()),
                ("latest", OffsetSpec.latest()),
                ("max_timestamp", OffsetSpec.max_timestamp()),
                ("for_time", OffsetSpec.for_timestamp(spec.T0 + 20_500))):
    fs = admin.list_offsets({TopicPartition(spec.DATA, q): s
                             for q in range(3)})
    out["list_offsets"][name] = sorted(
        (tp.partition, f.result(30).offset, f.result(30).timestamp,
         f.result(30).leader_epoch)
        for tp, f in fs.items())
fs = admin.list_offsets({TopicPartition(spec.MISSING, 0):
                         OffsetSpec.latest()})
out["list_offsets_missing"] = [outcome(f) for f in fs.values()]

# A group of two with the range assignor.
members = [Consumer({"bootstrap.servers": BS, "group.id": spec.GROUP,
                     "partition.assignment.strategy": "range",
                     "enable.auto.commit": False,
                     "client.id": "member-%d" % i}) for i in range(2)]
for m in members:
    m.subscribe([spec.GRP])
deadline = spec.Deadline(60)
while True:
    for m in members:
        m.poll(0.2)
    a = [sorted(tp.partition for tp in m.assignment()) for m in members]
    if spec.assigned(a):
        break
    deadline.check("no stable assignment: %r" % a)
out["assignment"] = sorted(a)
for m, parts in zip(members, a):
    m.commit(offsets=[TopicPartition(spec.GRP, q, 10 + q) for q in parts],
             asynchronous=False)
out["committed"] = sorted(
    (t.partition, t.offset, t.error) for t in members[0].committed(
        [TopicPartition(spec.GRP, q) for q in range(4)], timeout=30))
d = admin.describe_consumer_groups([spec.GROUP])[spec.GROUP].result(30)
out["describe_group"] = {
    "state": d.state.name, "assignor": d.partition_assignor,
    "simple": d.is_simple_consumer_group,
    "members": sorted(sorted(tp.partition for tp in
                             m.assignment.topic_partitions)
                      for m in d.members),
    "client_ids": sorted(m.client_id for m in d.members)}
for m in members:
    m.close()
lg = admin.list_consumer_groups().result(30)
out["list_groups"] = sorted((g.group_id, g.is_simple_consumer_group,
                             g.state.name) for g in lg.valid)
out["group_offsets"] = sorted(
    (tp.partition, tp.offset) for tp in admin.list_consumer_group_offsets(
        [__import__("confluent_kafka").ConsumerGroupTopicPartitions(
            spec.GROUP)])[spec.GROUP].result(30).topic_partitions)
print(json.dumps(out, sort_keys=True))
