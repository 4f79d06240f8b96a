"""py_aiokafka.py BOOTSTRAP — the scenario of spec.py with aiokafka from
PyPI; prints what the client observed as JSON. Run by
test_diff_py_aiokafka.py in the venv of pyvenv.py."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spec  # noqa: E402
from aiokafka import (AIOKafkaConsumer, AIOKafkaProducer,  # noqa: E402
                      TopicPartition)
from aiokafka import errors as Errors  # noqa: E402
from aiokafka.admin import (AIOKafkaAdminClient, NewPartitions,  # noqa
                            NewTopic, RecordsToDelete)
from aiokafka.admin.config_resource import (ConfigResource,  # noqa: E402
                                            ConfigResourceType)
from aiokafka.coordinator.assignors.range import \
    RangePartitionAssignor  # noqa: E402
from aiokafka.structs import OffsetAndMetadata  # noqa: E402

BS = sys.argv[1]


def name(code):
    return None if code == 0 else Errors.for_code(code).__name__


async def outcome(coro):
    """The awaited result, or the name and text of the Kafka error."""
    try:
        return await coro
    except Errors.KafkaError as e:
        return [type(e).__name__, str(e)]


def topic_errors(resp):
    if isinstance(resp, list):
        return resp
    return [(t[0], name(t[1])) + tuple(t[2:]) for t in resp.topic_errors]


async def main():
    out = {"client": "aiokafka"}
    admin = AIOKafkaAdminClient(bootstrap_servers=BS)
    await admin.start()

    # Admin: topics, configs, partitions, and their error paths.
    out["create"] = topic_errors(await outcome(admin.create_topics(
        [NewTopic(spec.CFG, 2, 1, topic_configs=spec.CONFIGS)])))
    for t, n in ((spec.DATA, 3), (spec.GRP, 4)):
        await admin.create_topics([NewTopic(t, n, 1)])
    out["create_existing"] = topic_errors(await outcome(admin.create_topics(
        [NewTopic(spec.CFG, 2, 1)])))
    out["create_bad_replication"] = topic_errors(await outcome(
        admin.create_topics([NewTopic("rf3", 1, 3)])))
    out["create_bad_name"] = topic_errors(await outcome(
        admin.create_topics([NewTopic(spec.BAD_NAME, 1, 1)])))

    async def describe(topic):
        (resp,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)])
        return spec.described(resp, name)
    out["describe_configs"] = await describe(spec.CFG)
    out["describe_configs_missing"] = await describe(spec.MISSING)
    out["describe_configs_bad_name"] = await describe(spec.BAD_NAME)

    async def grow(topic, n):
        return topic_errors(await outcome(
            admin.create_partitions({topic: NewPartitions(n)})))
    out["create_partitions"] = await grow(spec.CFG, 4)
    out["create_partitions_fewer"] = await grow(spec.CFG, 2)
    out["create_partitions_same"] = await grow(spec.CFG, 4)
    out["create_partitions_missing"] = await grow(spec.MISSING, 2)
    deadline = spec.Deadline(30)
    while True:
        md = {t["topic"]: t for t in await admin.describe_topics()}
        if spec.topics_ready({t: len(v["partitions"]) for t, v in md.items()}):
            break
        deadline.check("topics not in Metadata: %r" % sorted(md))
        await asyncio.sleep(0.2)
    out["metadata"] = spec.metadata_shape(md, name)

    # Produce: an idempotent producer, acks=all, per codec.
    delivery = []
    for ci, codec in enumerate(spec.CODECS):
        p = AIOKafkaProducer(bootstrap_servers=BS, acks="all",
                             enable_idempotence=True, linger_ms=20,
                             compression_type=None if codec == "none"
                             else codec)
        await p.start()
        futs = [await p.send(spec.DATA, key=key, value=value, partition=part,
                             headers=headers, timestamp_ms=ts)
                for part, key, value, headers, ts in spec.records(ci)]
        for f in futs:
            md = await f
            delivery.append((codec, md.partition, md.offset, md.timestamp,
                             md.timestamp_type))
        await p.stop()
    out["delivery"] = sorted(delivery, key=lambda d: (d[1], d[2]))

    # Consume: assign from the start, every partition to its end.
    c = AIOKafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False,
                         group_id=None)
    await c.start()
    parts = [TopicPartition(spec.DATA, q) for q in range(3)]

    async def read(ends):
        got = []
        deadline = spec.Deadline(30)

        async def behind():
            for tp, end in ends.items():
                if await c.position(tp) < end:
                    return True
            return False
        while await behind():
            for tp, msgs in (await c.getmany(timeout_ms=1000)).items():
                for m in msgs:
                    got.append((m.partition, m.offset, spec.hexs(m.key),
                                spec.hexs(m.value),
                                [(k, spec.hexs(v)) for k, v in m.headers],
                                m.timestamp_type, m.timestamp))
            deadline.check("reading stopped")
        return sorted(got)

    c.assign(parts)
    await c.seek_to_beginning()
    ends = await c.end_offsets(parts)
    out["end_offsets"] = sorted((tp.partition, o) for tp, o in ends.items())
    out["records"] = await read(ends)
    c.assign([parts[1]])
    c.seek(parts[1], 7)
    out["after_seek"] = await read({parts[1]: ends[parts[1]]})
    out["offsets_for_times"] = []
    for q in range(3):
        for ts in (spec.T0 - 1, spec.T0 + 30_500, spec.T0 + 10_000_000):
            r = (await c.offsets_for_times({parts[q]: ts}))[parts[q]]
            out["offsets_for_times"].append(
                (q, ts, None if r is None else (r.offset, r.timestamp)))

    # DeleteRecords, then the new beginning.
    dr = await admin.delete_records({parts[0]: RecordsToDelete(4)})
    out["delete_records"] = sorted((tp.partition, lw)
                                   for tp, lw in dr.items())
    out["beginning_offsets"] = sorted(
        (tp.partition, o)
        for tp, o in (await c.beginning_offsets(parts)).items())
    await c.stop()

    # A group of two with the range assignor.
    members = [AIOKafkaConsumer(spec.GRP, bootstrap_servers=BS,
                                group_id=spec.GROUP,
                                enable_auto_commit=False,
                                client_id="member-%d" % i,
                                partition_assignment_strategy=(
                                    RangePartitionAssignor,))
               for i in range(2)]
    for m in members:
        await m.start()
    deadline = spec.Deadline(60)
    while True:
        await asyncio.gather(*(m.getmany(timeout_ms=200) for m in members))
        a = [sorted(tp.partition for tp in m.assignment()) for m in members]
        if spec.assigned(a):
            break
        deadline.check("no stable assignment: %r" % a)
    out["assignment"] = sorted(a)
    for m, ps in zip(members, a):
        await m.commit({TopicPartition(spec.GRP, q):
                        OffsetAndMetadata(10 + q, "") for q in ps})
    out["committed"] = [
        (q, await members[0].committed(TopicPartition(spec.GRP, q)))
        for q in range(4)]
    (resp,) = await admin.describe_consumer_groups([spec.GROUP])
    g = resp.to_object()["groups"][0]
    members_seen = g.pop("members")
    g["client_ids"] = sorted(m["client_id"] for m in members_seen)
    g["client_hosts"] = sorted(m["client_host"] for m in members_seen)
    out["describe_group"] = g
    for m in members:
        await m.stop()
    out["list_groups"] = sorted(await admin.list_consumer_groups())
    out["group_offsets"] = sorted(
        (tp.partition, o.offset) for tp, o in
        (await admin.list_consumer_group_offsets(spec.GROUP)).items())
    await admin.close()
    print(json.dumps(out, sort_keys=True))


asyncio.run(main())
