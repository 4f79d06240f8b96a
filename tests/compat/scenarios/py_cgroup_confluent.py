"""py_cgroup_confluent.py SCENARIO... BOOTSTRAP — consumer groups of the
KIP-848 protocol as confluent-kafka (PyPI, its bundled librdkafka) sees
them with group.protocol=consumer; prints one JSON document,
{"compare": ..., "timeline": ...}. Run by test_cgroup_confluent.py in the
venv of pyvenv.py.

Scenarios (each its own topics and group):
  uniform, range  group.remote.assignor=uniform / range on two topics of
                  6 partitions: c1, c2, c3 join one at a time, c3 closes
                  (a dynamic member's close leaves the group), c4 joins,
                  the static member c2 closes (a static member's close
                  keeps its place: epoch -2) and a new c2 with its
                  group.instance.id comes back;
  pattern         two members subscribed by a regular expression, which
                  librdkafka sends for the broker to match (RE2/J); a
                  matching topic created while they run is assigned.

Every member consumes in a thread of its own, commits synchronously after
each batch, and logs every rebalance callback with a global sequence
number. Member ids are random and both assignors order by them (range) or
by hash orders (uniform), so what is compared is id-independent: members
are named by client.id; each one's share, per topic for range; how many
partitions each kept and how many moved at each step (for uniform, where
the assignor is sticky; range recomputes by member id order, so its moves
depend on the ids).
"""
import itertools
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

BS = sys.argv[-1]
DEADLINE = 60.0
SEQ = itertools.count(1)
LOCK = threading.Lock()
timeline = []
client_errors = []  # what librdkafka's error_cb reported, for a failure
consumed = {}  # "topic-partition@offset" -> [labels]
admin = AdminClient({"bootstrap.servers": BS})


def tp(t, p):
    return "%s-%d" % (t, p)


def names(parts):
    return sorted(tp(p.topic, p.partition) for p in parts)


def wait_for(what, cond):
    end = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("not after %d s: %s\nclient errors: %s\n"
                             "timeline: %s" % (
                                 DEADLINE, what, client_errors[-20:],
                                 json.dumps(timeline)[-6000:]))
        time.sleep(0.05)


def create_topics(topics):
    fs = admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()])
    for f in fs.values():
        f.result(30)

    def ready():
        md = admin.list_topics(timeout=10)
        return all(t in md.topics and len(md.topics[t].partitions) == n
                   and md.topics[t].error is None
                   for t, n in topics.items())
    wait_for("topics %s in the metadata" % sorted(topics), ready)


def partitions(topics):
    return [tp(t, i) for t, n in sorted(topics.items()) for i in range(n)]


class Producing:
    """Records to every partition: `before` rounds now, then one round
    every 100 ms until close()."""

    def __init__(self, topics, before):
        self.p = Producer({"bootstrap.servers": BS, "acks": "all",
                           "linger.ms": 0})
        self.parts = [(t, i) for t, n in sorted(topics.items())
                      for i in range(n)]
        self.n = 0
        self.stop = False
        self.error = None
        for _ in range(before):
            self.round()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def round(self):
        def report(err, msg):
            if err is not None:
                self.error = err
        for t, p in list(self.parts):
            self.n += 1
            self.p.produce(t, key=b"k%d" % self.n, value=b"v%d" % self.n,
                           partition=p, on_delivery=report)
        if self.p.flush(30) != 0:
            raise RuntimeError("records not delivered in 30 s")

    def run(self):
        try:
            while not self.stop:
                self.round()
                time.sleep(0.1)
        except Exception as e:  # noqa: BLE001 - reported by close()
            self.error = e

    def close(self):
        self.stop = True
        self.thread.join()
        if self.error is not None:
            raise RuntimeError("producing: %r" % (self.error,))


class Member:
    def __init__(self, label, group, assignor, instance_id, subscription):
        self.label = label
        conf = {"bootstrap.servers": BS, "group.id": group,
                "group.protocol": "consumer",
                "group.remote.assignor": assignor, "client.id": label,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "error_cb": lambda e: client_errors.append(
                    "%s: %s" % (label, e))}
        if instance_id:
            conf["group.instance.id"] = instance_id
        self.c = Consumer(conf)
        self.owned = set()
        self.stop = False
        self.error = None
        self.commit_errors = []
        self.subscription = subscription
        self.thread = threading.Thread(target=self.run, name=label)
        self.thread.start()

    def event(self, kind, parts):
        with LOCK:
            timeline.append({"seq": next(SEQ), "member": self.label,
                             "event": kind, "partitions": names(parts)})

    def on_assign(self, c, parts):
        self.owned |= set(names(parts))
        self.event("assigned", parts)

    def on_revoke(self, c, parts):
        self.event("revoked", parts)
        self.owned -= set(names(parts))

    def on_lost(self, c, parts):
        self.event("lost", parts)
        self.owned -= set(names(parts))

    def run(self):
        try:
            self.c.subscribe(self.subscription, on_assign=self.on_assign,
                             on_revoke=self.on_revoke, on_lost=self.on_lost)
            while not self.stop:
                msgs = self.c.consume(100, 0.1)
                nxt = {}
                for m in msgs:
                    if m.error():
                        raise KafkaException(m.error())
                    key = "%s@%d" % (tp(m.topic(), m.partition()), m.offset())
                    with LOCK:
                        consumed.setdefault(key, []).append(self.label)
                    nxt[(m.topic(), m.partition())] = m.offset() + 1
                if nxt:
                    try:
                        self.c.commit(offsets=[TopicPartition(t, p, o)
                                               for (t, p), o in nxt.items()],
                                      asynchronous=False)
                    except KafkaException as e:
                        self.commit_errors.append(e.args[0].name())
            self.c.close()
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = e

    def close(self):
        self.stop = True
        self.thread.join(60)
        if self.thread.is_alive():
            raise SystemExit("%s did not close" % self.label)
        self.check()

    def check(self):
        if self.error is not None:
            raise SystemExit("%s failed: %r" % (self.label, self.error))


def settled(live, every, per_topic):
    """Every partition held by exactly one live member, each member's share
    within one of the others' (per topic for range)."""
    for m in live:
        m.check()
    held = [p for m in live for p in m.owned]
    if sorted(held) != sorted(every):
        return False
    topics = {p.rsplit("-", 1)[0] for p in every} if per_topic else {None}
    for t in topics:
        counts = [sum(1 for p in m.owned
                      if t is None or p.rsplit("-", 1)[0] == t)
                  for m in live]
        if max(counts) - min(counts) > 1:
            return False
    return True


def owners(live):
    return {p: m.label for m in live for p in m.owned}


def snapshot(what, live, before, moves, per_topic=False):
    s = {"step": what, "members": {}}
    for m in live:
        d = {"count": len(m.owned)}
        if moves:
            d["kept"] = sum(1 for p in m.owned if before.get(p) == m.label)
        if per_topic:
            by_topic = {}
            for p in m.owned:
                t = p.rsplit("-", 1)[0]
                by_topic[t] = by_topic.get(t, 0) + 1
            d["per_topic"] = by_topic
        s["members"][m.label] = d
    if moves:
        now = owners(live)
        s["moved"] = sum(1 for p, o in now.items() if before.get(p) != o)
    return s


def overlaps():
    """Partitions assigned to a member while another held them, in the
    callbacks' global order."""
    owner, bad = {}, []
    for e in sorted(timeline, key=lambda e: e["seq"]):
        for p in e["partitions"]:
            if e["event"] == "assigned":
                prev = owner.get(p)
                if prev is not None and prev != e["member"]:
                    bad.append("%s assigned to %s while %s held it (seq %d)"
                               % (p, e["member"], prev, e["seq"]))
                owner[p] = e["member"]
            elif owner.get(p) == e["member"]:
                del owner[p]
    return bad


def end_offsets(every):
    req = {}
    for p in every:
        t, n = p.rsplit("-", 1)
        req[TopicPartition(t, int(n))] = OffsetSpec.latest()
    return {tp(k.topic, k.partition): f.result(30).offset
            for k, f in admin.list_offsets(req).items()}


def consumption(every):
    ends = end_offsets(every)
    want = sum(ends.values())
    wanted = set(every)

    def got():
        with LOCK:
            return sum(1 for k in consumed if k.split("@")[0] in wanted)
    wait_for("every record consumed (%d)" % want, lambda: got() >= want)
    with LOCK:
        twice = sum(1 for v in consumed.values() if len(v) > 1)
    return {"distinct_consumed_is_end_offsets": got() == want,
            "consumed_twice": twice}


def committed(group, every):
    from confluent_kafka import ConsumerGroupTopicPartitions
    f = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group]
    offs = {tp(p.topic, p.partition): p.offset
            for p in f.result(30).topic_partitions}
    ends = end_offsets(every)
    return {"partitions": len(offs),
            "not_at_end": sorted(p for p in every if offs.get(p) != ends[p])}


def describe(group):
    r = {}
    for g in admin.list_consumer_groups().result(30).valid:
        if g.group_id == group:
            r["list_type"] = str(g.type)
            r["list_state"] = str(g.state)
    d = admin.describe_consumer_groups([group])[group].result(30)
    r["state"] = str(d.state)
    r["type"] = str(d.type)
    r["assignor"] = d.partition_assignor
    r["simple"] = d.is_simple_consumer_group
    r["members"] = {}
    for m in d.members:
        a = names(m.assignment.topic_partitions)
        t = names(m.target_assignment.topic_partitions) \
            if m.target_assignment is not None else None
        r["members"][m.client_id] = {
            "instance_id": m.group_instance_id, "count": len(a),
            "target_is_assignment": None if t is None else t == a}
    return r


def abandon(prod, live):
    """On a scenario's failure: stop the producer's and members' threads."""
    prod.stop = True
    for m in live:
        m.stop = True


def finish(out, group, prod, live, gone, every):
    """A scenario's end, its members settled: the description of the live
    group; the producer stops, every record is consumed; the members
    leave; the timeline's overlaps and the committed offsets."""
    out["describe"] = describe(group)
    prod.close()
    out["consumption"] = consumption(every)
    out["commit_errors"] = sorted(e for m in live + gone
                                  for e in m.commit_errors)
    for m in live:
        m.close()
    out["overlaps"] = overlaps()
    out["committed"] = committed(group, every)


def steps(assignor):
    group = "cgc-" + assignor
    topics = {"cgc-%s-a" % assignor: 6, "cgc-%s-b" % assignor: 6}
    create_topics(topics)
    every = partitions(topics)
    sub = sorted(topics)
    per_topic = assignor == "range"
    moves = assignor == "uniform"
    out, steps_, live, before = {}, [], [], {}
    prod = Producing(topics, 5)
    gone = []
    try:
        for label in ("c1", "c2", "c3"):
            live.append(Member(label, group, assignor,
                               "i-c2" if label == "c2" else None, sub))
            wait_for(label + " joined",
                     lambda: settled(live, every, per_topic))
            steps_.append(snapshot(label + " joins", live, before, moves, per_topic))
            before = owners(live)
        c3 = live.pop(2)
        gone.append(c3)
        c3.close()
        wait_for("c3 left", lambda: settled(live, every, per_topic))
        steps_.append(snapshot("c3 leaves", live, before, moves, per_topic))
        before = owners(live)
        live.append(Member("c4", group, assignor, None, sub))
        wait_for("c4 joined", lambda: settled(live, every, per_topic))
        steps_.append(snapshot("c4 joins", live, before, moves, per_topic))
        before = owners(live)
        c2 = live.pop(1)
        gone.append(c2)
        had = set(c2.owned)
        c2.close()
        others = {p: o for p, o in before.items() if o != "c2"}
        away = {"others_unchanged": owners(live) == others}
        again = Member("c2", group, assignor, "i-c2", sub)
        live.insert(1, again)
        wait_for("c2 back", lambda: settled(live, every, per_topic))
        s = snapshot("c2 restarts (static)", live, before, moves, per_topic)
        s["same_partitions_back"] = set(again.owned) == had
        s["while_away"] = away
        steps_.append(s)
        out["steps"] = steps_
        finish(out, group, prod, live, gone, every)
        live = []
    finally:
        abandon(prod, live)
    return out


def pattern():
    group = "cgc-pattern"
    topics = {"cgq.a": 2, "cgq.b": 2, "cgq.other": 2}
    create_topics(topics)
    matching = partitions({"cgq.a": 2, "cgq.b": 2})
    out, steps_, live, before = {}, [], [], {}
    prod = Producing(topics, 5)
    try:
        for label in ("c1", "c2"):
            live.append(Member(label, group, "uniform", None,
                               ["^cgq\\.[a-c]"]))
            wait_for(label + " joined",
                     lambda: settled(live, matching, False))
            steps_.append(snapshot(label + " joins", live, before, True))
            before = owners(live)
        create_topics({"cgq.c": 4})
        matching += partitions({"cgq.c": 4})
        prod.parts += [("cgq.c", i) for i in range(4)]
        # Records in cgq.c now, whatever the producer's pace: the members
        # may settle before its next round.
        prod.round()
        wait_for("cgq.c assigned", lambda: settled(live, matching, False))
        s = snapshot("cgq.c created", live, before, True)
        s["assigned"] = sorted(p for m in live for p in m.owned)
        steps_.append(s)
        out["steps"] = steps_
        finish(out, group, prod, live, [], matching)
        live = []
    finally:
        abandon(prod, live)
    return out


def main():
    out, raw = {}, {}
    for name in sys.argv[1:-1]:
        timeline.clear()
        consumed.clear()
        out[name] = pattern() if name == "pattern" else steps(name)
        raw[name] = list(timeline)
    print(json.dumps({"compare": out, "timeline": raw}, indent=1,
                     sort_keys=True))


main()
