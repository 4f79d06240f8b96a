"""py_kafka_python.py BOOTSTRAP — the scenario of spec.py with kafka-python
2.x from PyPI; prints what the client observed as JSON. Run by
test_diff_py_kafka_python.py in the venv of pyvenv.py."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka import errors as Errors  # noqa: E402
from kafka.protocol.admin import CreatePartitionsRequest  # noqa: E402
from kafka.admin import (ConfigResource, ConfigResourceType,  # noqa: E402
                         KafkaAdminClient, NewPartitions, NewTopic)
from kafka.coordinator.assignors.range import \
    RangePartitionAssignor  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

BS = sys.argv[1]
out = {"client": "kafka-python"}


def name(code):
    return None if code == 0 else Errors.for_code(code).__name__


def raised(fn, *args):
    """fn's result when it succeeds, else the name of the exception it
    raises and the broker's error message that it quotes (if any)."""
    try:
        return fn(*args)
    except Errors.KafkaError as e:
        msg = re.search(r"error_message=(None|'[^']*'|\"[^\"]*\")", str(e))
        return [type(e).__name__, msg and msg.group(1)]
    except ValueError as e:
        # kafka-python 2.3.3 cannot decode "authorized operations not
        # asked for" (INT32_MIN) in its admin Metadata path: a client bug,
        # whatever the broker.
        return ["ValueError", str(e)]


admin = KafkaAdminClient(bootstrap_servers=BS)


def topic_errors(resp):
    return [(t[0], name(t[1])) for t in resp.topic_errors]


# Admin: topics, configs, partitions, and their error paths.
out["create"] = topic_errors(admin.create_topics(
    [NewTopic(spec.CFG, 2, 1, topic_configs=spec.CONFIGS)]))
for t, n in ((spec.DATA, 3), (spec.GRP, 4)):
    admin.create_topics([NewTopic(t, n, 1)])
out["create_existing"] = raised(admin.create_topics,
                                [NewTopic(spec.CFG, 2, 1)])
out["create_bad_replication"] = raised(admin.create_topics,
                                       [NewTopic("rf3", 1, 3)])


def describe(topic):
    (resp,) = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)])
    return spec.described(resp, name)


out["describe_configs"] = describe(spec.CFG)
out["describe_configs_missing"] = describe(spec.MISSING)
out["describe_configs_bad_name"] = describe(spec.BAD_NAME)
out["create_bad_name"] = raised(admin.create_topics,
                                [NewTopic(spec.BAD_NAME, 1, 1)])


def grow(topic, n):
    resp = raised(admin.create_partitions, {topic: NewPartitions(n)})
    if isinstance(resp, list):
        return resp
    return [(r[0], name(r[1])) for r in resp.topic_errors]


out["create_partitions"] = grow(spec.CFG, 4)
out["create_partitions_fewer"] = grow(spec.CFG, 2)
out["create_partitions_missing"] = grow(spec.MISSING, 2)
out["create_partitions_same"] = grow(spec.CFG, 4)
# The same topic twice in one request (the admin API takes a dict).
twice = CreatePartitionsRequest[1](
    topic_partitions=[(spec.CFG, (5, None)), (spec.CFG, (6, None))],
    timeout=30000, validate_only=False)
out["create_partitions_twice"] = [
    (t, name(e), m) for t, e, m in admin.send_request(
        twice, admin._controller_id).topic_errors]
deadline = spec.Deadline(30)
while True:
    md = {t["topic"]: t for t in admin.describe_topics()}
    if spec.topics_ready({t: len(v["partitions"]) for t, v in md.items()}):
        break
    deadline.check("topics not in Metadata: %r" % sorted(md))
    time.sleep(0.2)
out["metadata"] = spec.metadata_shape(md, name)

# Produce: an idempotent producer, acks=all, per codec.
delivery = []
for ci, codec in enumerate(spec.CODECS):
    p = KafkaProducer(bootstrap_servers=BS, acks="all",
                      enable_idempotence=True, linger_ms=20,
                      compression_type=None if codec == "none" else codec)
    futs = [p.send(spec.DATA, key=key, value=value, partition=part,
                   headers=headers, timestamp_ms=ts)
            for part, key, value, headers, ts in spec.records(ci)]
    p.flush(30)
    for f in futs:
        md = f.get(30)
        delivery.append((codec, md.partition, md.offset, md.timestamp))
    p.close()
out["delivery"] = sorted(delivery, key=lambda d: (d[1], d[2]))

# Consume: assign from the start, every partition to its end.
c = KafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False,
                  group_id=None)
parts = [TopicPartition(spec.DATA, q) for q in range(3)]


def read(c, ends):
    got = []
    deadline = spec.Deadline(30)
    while any(c.position(tp) < end for tp, end in ends.items()):
        for tp, msgs in c.poll(1000).items():
            for m in msgs:
                got.append((m.partition, m.offset, spec.hexs(m.key),
                            spec.hexs(m.value),
                            [(k, spec.hexs(v)) for k, v in m.headers],
                            m.timestamp_type, m.timestamp))
        deadline.check("reading stopped at %r"
                       % {tp: c.position(tp) for tp in ends})
    return sorted(got)


c.assign(parts)
c.seek_to_beginning()
ends = c.end_offsets(parts)
out["end_offsets"] = sorted((tp.partition, o) for tp, o in ends.items())
out["records"] = read(c, ends)
c.assign([parts[1]])
c.seek(parts[1], 7)
out["after_seek"] = read(c, {parts[1]: ends[parts[1]]})
out["offsets_for_times"] = []
for q in range(3):
    for ts in (spec.T0 - 1, spec.T0 + 30_500, spec.T0 + 10_000_000):
        r = c.offsets_for_times({parts[q]: ts})[parts[q]]
        out["offsets_for_times"].append(
            (q, ts, None if r is None else (r.offset, r.timestamp)))

# DeleteRecords, then the new beginning.
dr = admin.delete_records({parts[0]: 4})
out["delete_records"] = sorted((tp.partition, r["low_watermark"],
                                name(r["error_code"]))
                               for tp, r in dr.items())
out["delete_records_missing"] = raised(
    admin.delete_records, {TopicPartition(spec.MISSING, 0): 1})
out["beginning_offsets"] = sorted(
    (tp.partition, o) for tp, o in c.beginning_offsets(parts).items())
c.close()

# A group of two with the range assignor.
members = [KafkaConsumer(spec.GRP, bootstrap_servers=BS, group_id=spec.GROUP,
                         enable_auto_commit=False,
                         client_id="member-%d" % i,
                         partition_assignment_strategy=[
                             RangePartitionAssignor])
           for i in range(2)]
deadline = spec.Deadline(60)
while True:
    for m in members:
        m.poll(200)
    a = [sorted(tp.partition for tp in m.assignment()) for m in members]
    if spec.assigned(a):
        break
    deadline.check("no stable assignment: %r" % a)
out["assignment"] = sorted(a)
for m, ps in zip(members, a):
    m.commit({TopicPartition(spec.GRP, q): OffsetAndMetadata(10 + q, "", -1)
              for q in ps})
out["committed"] = [(q, members[0].committed(TopicPartition(spec.GRP, q)))
                    for q in range(4)]
(d,) = admin.describe_consumer_groups([spec.GROUP])
out["describe_group"] = {
    "error": name(d.error_code), "state": d.state,
    "protocol_type": d.protocol_type, "protocol": d.protocol,
    "members": sorted(sorted(p for t in m.member_assignment.assignment
                             for p in t[1])
                      for m in d.members),
    "client_ids": sorted(m.client_id for m in d.members)}
for m in members:
    m.close()
out["list_groups"] = sorted(admin.list_consumer_groups())
out["group_offsets"] = sorted(
    (tp.partition, o.offset) for tp, o in
    admin.list_consumer_group_offsets(spec.GROUP).items())
admin.close()
print(json.dumps(out, sort_keys=True))
