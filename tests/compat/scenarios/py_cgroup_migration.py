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
import os
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: F401
from confluent_kafka.admin import AdminClient, NewTopic

BS = sys.argv[1]
TOPIC = os.environ.get("CGM_TOPIC", "cgm-topic")
GROUP = os.environ.get("CGM_GROUP", "cgm-group")
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


def consumer(name, protocol):
    """A member subscribed to the topic, committing by hand."""
    conf = {"bootstrap.servers": BS, "group.id": GROUP,
            "group.protocol": protocol, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "client.id": name}
    if protocol == "classic":
        conf["session.timeout.ms"] = 10000
    c = Consumer(conf)
    c.subscribe([TOPIC])
    return c


def poll_one(c, errors):
    """The next record, or None (nothing yet, or an error noted)."""
    m = c.poll(0.2)
    if m is not None and m.error():
        errors.append(m.error().name())
        return None
    return m


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
        c = consumer("m%d" % k, protocol)
        count = 0
        deadline = time.time() + 120
        while not done.is_set() and time.time() < deadline:
            m = poll_one(c, errors)
            if m is None:
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


def rolling():
    """Under steady produce, three classic members are replaced one at a
    time by consumer-protocol members (the online upgrade: the first one
    converts a classic group with members), then back (classic members
    inside a consumer group)."""
    stop_produce = threading.Event()
    lock = threading.Lock()
    errors = []
    before = len(produced)
    rseen = {}

    def producing():
        i = 0
        while not stop_produce.is_set():
            for _ in range(10):
                v = "r-%d" % i
                producer.produce(TOPIC, value=v.encode(), partition=i % PARTS)
                with lock:
                    produced.append(v)
                i += 1
            producer.poll(0)
            time.sleep(0.05)
        producer.flush(30)

    def member(name, protocol, stop):
        c = consumer(name, protocol)
        while not stop.is_set():
            m = poll_one(c, errors)
            if m is None:
                continue
            try:
                c.commit(message=m, asynchronous=False)
            except Exception as e:  # noqa: BLE001 - reported, compared
                errors.append("commit: " + e.args[0].name())
            with lock:
                v = m.value().decode()
                rseen[v] = rseen.get(v, 0) + 1
        c.close()

    pt = threading.Thread(target=producing)
    pt.start()
    members = {}

    def start(k, protocol):
        ev = threading.Event()
        t = threading.Thread(target=member, args=("m%d" % k, protocol, ev))
        t.start()
        members[k] = (ev, t)

    def stop(k):
        ev, t = members.pop(k)
        ev.set()
        t.join()

    for k in range(3):
        start(k, "classic")
    time.sleep(4)
    views = []
    for protocol in ("consumer", "classic"):
        for k in range(3):
            stop(k)
            start(k, protocol)
            time.sleep(4)
        views.append(group_view()["described"]["type"])
    stop_produce.set()
    pt.join()
    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            if all(p in rseen for p in produced[before:]):
                break
        time.sleep(0.2)
    for k in list(members):
        stop(k)
    mine = produced[before:]
    out["rolling"] = {
        "lost": sum(1 for p in mine if p not in rseen),
        "twice": sum(1 for c in rseen.values() if c > 1),
        "errors": sorted(set(errors)),
        "types_after": views,
    }


phase(1, "classic")
phase(2, "consumer")
phase(3, "classic")
if len(sys.argv) < 3 or sys.argv[2] != "offline":
    rolling()
print(json.dumps(out, sort_keys=True))
