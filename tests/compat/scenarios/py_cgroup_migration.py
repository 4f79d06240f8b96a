"""py_cgroup_migration.py BOOTSTRAP — one group id used by classic consumers,
then by consumer-protocol (KIP-848) consumers, then by classic ones again,
with confluent-kafka from PyPI (current librdkafka, group.protocol=classic
and =consumer). Each phase produces 300 records to a 6-partition topic and
3 members consume until every record produced so far is seen, committing
each record as it is processed; the group is Empty between phases, so each
change of protocol converts an empty group (the offline upgrade and
downgrade). Prints JSON: per phase how many records were consumed, lost
and consumed twice, which members got records, and the group's type and
state as ListGroups and DescribeConsumerGroups show it. Run by
test_cgroup_migration.py in the venv of pyvenv.py."""
import json
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: F401
from confluent_kafka.admin import AdminClient, NewTopic

BS = sys.argv[1]
TOPIC = "cgm-topic"
GROUP = "cgm-group"
PARTS = 6
PER_PHASE = 300
out = {}

admin = AdminClient({"bootstrap.servers": BS})
admin.create_topics([NewTopic(TOPIC, PARTS, 1)])[TOPIC].result(30)
producer = Producer({"bootstrap.servers": BS, "linger.ms": 5})
produced = []


def produce(phase):
    for i in range(PER_PHASE):
        producer.produce(TOPIC, value=b"%d-%d" % (phase, i), partition=i % PARTS)
    producer.flush(30)
    produced.extend("%d-%d" % (phase, i) for i in range(PER_PHASE))


seen = {}  # value -> times consumed


def group_view():
    """The group as the admin client sees it between phases."""
    listed = admin.list_consumer_groups().result(30)
    mine = [g for g in listed.valid if g.group_id == GROUP]
    view = {"listed": [(str(g.type).split(".")[-1], str(g.state).split(".")[-1])
                       for g in mine]}
    d = admin.describe_consumer_groups([GROUP])[GROUP].result(30)
    view["described"] = {"type": str(d.type).split(".")[-1],
                         "state": str(d.state).split(".")[-1],
                         "members": len(d.members)}
    return view


def phase(n, protocol):
    produce(n)
    lock = threading.Lock()
    done = threading.Event()
    got = {}
    errors = []

    def member(k):
        conf = {"bootstrap.servers": BS, "group.id": GROUP,
                "group.protocol": protocol, "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "client.id": "m%d" % k}
        if protocol == "classic":
            conf["session.timeout.ms"] = 10000
        c = Consumer(conf)
        c.subscribe([TOPIC])
        count = 0
        deadline = time.time() + 120
        while not done.is_set() and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                errors.append(m.error().name())
                continue
            # Committed before the next poll, where a revocation happens:
            # a record is never processed by two members.
            c.commit(message=m, asynchronous=False)
            v = m.value().decode()
            count += 1
            with lock:
                seen[v] = seen.get(v, 0) + 1
                if all(p in seen for p in produced):
                    done.set()
        c.close()
        got["m%d" % k] = count

    threads = [threading.Thread(target=member, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
        time.sleep(1)  # members join one after another
    for t in threads:
        t.join()
    out["phase%d" % n] = {
        "protocol": protocol,
        "produced": len(produced),
        "lost": sum(1 for p in produced if p not in seen),
        "twice": sum(1 for v, c in seen.items() if c > 1),
        "consumed": sum(got.values()),
        "errors": sorted(set(errors)),
        "group": group_view(),
    }


phase(1, "classic")
phase(2, "consumer")
phase(3, "classic")
print(json.dumps(out, sort_keys=True))
