"""py_confluent_txn.py BOOTSTRAP — confluent-kafka's transactional API
(its bundled librdkafka) against one broker; prints what the client
observed as JSON. Run by test_diff_py_confluent_txn.py in the venv of
pyvenv.py, against Apache Kafka and against nodata.

Only what is deterministic is printed: the outcome of a
consume-transform-produce loop (whose transactions depend on how many
records each poll returned) as checks that hold for any batching; errors
as the librdkafka error's name (and whether it is fatal, retriable, or
requires an abort).
"""
import json
import sys
import time

from confluent_kafka import (Consumer, IsolationLevel, KafkaError,
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

BS = sys.argv[1]
out = {}
DATA, IN, OUT, FENCE = "ct-a", "ct-in", "ct-out", "ct-f"


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def error(call):
    """None when call() succeeds, else what the KafkaError says."""
    try:
        call()
        return None
    except KafkaException as e:
        err = e.args[0]
        return {"name": err.name(), "fatal": err.fatal(),
                "retriable": err.retriable(),
                "abortable": err.txn_requires_abort()}


def producer(txn_id):
    return Producer({"bootstrap.servers": BS, "transactional.id": txn_id,
                     "linger.ms": 5})


def send(p, topic, parts, tag, n):
    """Produce n records to each partition; flush; their offsets."""
    got = []

    def cb(err, msg):
        got.append(err.name() if err else
                   "%s-%d@%d" % (msg.topic(), msg.partition(), msg.offset()))
    for q in parts:
        for i in range(n):
            p.produce(topic, key=b"k%d" % i, partition=q,
                      value=("%s-%d-%d" % (tag, q, i)).encode(),
                      on_delivery=cb)
    if p.flush(30) != 0:
        fail("flush of %s did not finish" % tag)
    return sorted(got)


def consumer(isolation, **conf):
    return Consumer(dict({"bootstrap.servers": BS,
                          "group.id": "ct-reader",
                          "isolation.level": isolation,
                          "enable.auto.commit": False,
                          "auto.offset.reset": "earliest",
                          "enable.partition.eof": True}, **conf))


def read_all(isolation, topic, parts):
    """Every record a consumer of that isolation level reads, from offset
    0 to the end it sees, as "topic-partition@offset value"."""
    c = consumer(isolation)
    c.assign([TopicPartition(topic, q, 0) for q in parts])
    todo, got = set(parts), []
    deadline = time.monotonic() + 60
    try:
        while todo:
            if time.monotonic() > deadline:
                fail("reading %s %s did not reach the end" % (topic,
                                                              isolation))
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    todo.discard(m.partition())
                    continue
                fail("reading %s: %s" % (topic, m.error()))
            got.append("%s-%d@%d %s" % (m.topic(), m.partition(), m.offset(),
                                        m.value().decode()))
    finally:
        c.close()
    return sorted(got)


def ends(admin, topic, parts, isolation):
    """ListOffsets latest at an isolation level (read_committed: the last
    stable offset)."""
    fs = admin.list_offsets({TopicPartition(topic, q): OffsetSpec.latest()
                             for q in parts}, isolation_level=isolation)
    return {"%s-%d" % (tp.topic, tp.partition): f.result(30).offset
            for tp, f in sorted(fs.items(),
                                key=lambda kv: kv[0].partition)}


admin = AdminClient({"bootstrap.servers": BS})
for t, n in ((DATA, 2), (IN, 2), (OUT, 2), (FENCE, 1)):
    admin.create_topics([NewTopic(t, n, 1)])[t].result(30)

# Commit, abort, commit, with an open transaction's last stable offset.
o = out["commit_abort"] = {}
p = producer("ct-tx")
p.init_transactions(30)
p.begin_transaction()
o["txn1_sent"] = send(p, DATA, [0, 1], "c1", 2)
o["txn1_open_ends_committed"] = ends(admin, DATA, [0, 1],
                                     IsolationLevel.READ_COMMITTED)
o["txn1_open_ends_uncommitted"] = ends(admin, DATA, [0, 1],
                                       IsolationLevel.READ_UNCOMMITTED)
o["txn1_open_read_committed"] = read_all("read_committed", DATA, [0, 1])
p.commit_transaction(30)
p.begin_transaction()
o["txn2_sent"] = send(p, DATA, [0, 1], "a2", 3)
p.abort_transaction(30)
p.begin_transaction()
o["txn3_sent"] = send(p, DATA, [1], "c3", 2)
p.commit_transaction(30)
# An empty transaction, committed and aborted.
p.begin_transaction()
o["empty_commit"] = error(lambda: p.commit_transaction(30))
p.begin_transaction()
o["empty_abort"] = error(lambda: p.abort_transaction(30))
# Kafka answers EndTxn once the transaction is prepared and writes the
# markers after: wait until the last stable offset is the high watermark
# before reading.
deadline = time.monotonic() + 30
while (ends(admin, DATA, [0, 1], IsolationLevel.READ_COMMITTED) !=
       ends(admin, DATA, [0, 1], IsolationLevel.READ_UNCOMMITTED) and
       time.monotonic() < deadline):
    time.sleep(0.1)
o["ends_committed"] = ends(admin, DATA, [0, 1], IsolationLevel.READ_COMMITTED)
o["ends_uncommitted"] = ends(admin, DATA, [0, 1],
                             IsolationLevel.READ_UNCOMMITTED)
o["read_committed"] = read_all("read_committed", DATA, [0, 1])
o["read_uncommitted"] = read_all("read_uncommitted", DATA, [0, 1])
p.flush(10)
del p

# Consume-transform-produce: IN copied to OUT, the group's offsets sent to
# each transaction; the second transaction aborted and the loop rewound
# to the committed offsets.
o = out["consume_transform_produce"] = {}
plain = Producer({"bootstrap.servers": BS, "enable.idempotence": True})
inputs = []
for q in (0, 1):
    for i in range(12):
        v = "in-%d-%d" % (q, i)
        inputs.append("%d:T:%s" % (q, v))
        plain.produce(IN, value=v.encode(), partition=q)
if plain.flush(30) != 0:
    fail("producing the input")
p = producer("ct-ctp")
p.init_transactions(30)
c = consumer("read_committed", **{"group.id": "ct-g",
                                  "enable.partition.eof": False})
c.subscribe([IN])
txn, aborted, committed_by_us = 0, [], {}
deadline = time.monotonic() + 120
while True:
    if time.monotonic() > deadline:
        fail("the loop did not copy %s" % IN)
    msgs = [m for m in c.consume(6, 0.5) if not m.error()]
    if not msgs:
        done = c.committed([TopicPartition(IN, q) for q in (0, 1)], 10)
        if [tp.offset for tp in done] == [12, 12]:
            break
        continue
    txn += 1
    p.begin_transaction()
    nxt = {}
    for m in msgs:
        v = "T:" + m.value().decode()
        p.produce(OUT, value=v.encode(), partition=m.partition())
        nxt[m.partition()] = m.offset() + 1
        if txn == 2:
            aborted.append("%d:%s" % (m.partition(), v))
    p.send_offsets_to_transaction(
        [TopicPartition(IN, q, off) for q, off in sorted(nxt.items())],
        c.consumer_group_metadata(), 30)
    if txn != 2:
        p.commit_transaction(30)
        committed_by_us.update(nxt)
        continue
    p.flush(30)
    # Offsets pending in the open transaction: a consumer requiring
    # stable offsets (librdkafka does, read_committed) cannot fetch them.
    other = consumer("read_committed", **{"group.id": "ct-g"})
    o["pending_committed"] = error(lambda: other.committed(
        [TopicPartition(IN, q) for q in (0, 1)], 3))
    other.close()
    p.abort_transaction(30)
    # Rewind to the committed offsets (what an application does after an
    # abort).
    for tp in c.committed(c.assignment(), 30):
        if tp.offset >= 0:
            c.seek(tp)
        else:
            c.seek(TopicPartition(IN, tp.partition, 0))
    o["abort_kept_committed"] = {
        tp.partition: tp.offset for tp in c.committed(c.assignment(), 30)
    } == {q: committed_by_us.get(q, -1001) for q in (0, 1)}
c.close()
o["transactions_at_least_4"] = txn >= 4
copies = sorted("%s:%s" % (r.split("@")[0].rsplit("-", 1)[1],
                           r.split(" ", 1)[1])
                for r in read_all("read_committed", OUT, [0, 1]))
o["output_exactly_once"] = copies == sorted(inputs)
uncommitted = sorted("%s:%s" % (r.split("@")[0].rsplit("-", 1)[1],
                                r.split(" ", 1)[1])
                     for r in read_all("read_uncommitted", OUT, [0, 1]))
o["aborted_copies_read_uncommitted"] = bool(aborted) and \
    uncommitted == sorted(inputs + aborted)

# Fencing: a second producer with the same transactional id.
o = out["fencing"] = {}
p1 = producer("ct-fence")
p1.init_transactions(30)
p1.begin_transaction()
o["p1_sent"] = send(p1, FENCE, [0], "z1", 1)
p2 = producer("ct-fence")
p2.init_transactions(30)
o["p1_send_after_fence"] = error(lambda: send(p1, FENCE, [0], "z2", 1))
o["p1_commit_after_fence"] = error(lambda: p1.commit_transaction(10))
p2.begin_transaction()
o["p2_sent"] = send(p2, FENCE, [0], "z3", 1)
p2.commit_transaction(30)
o["read_committed"] = read_all("read_committed", FENCE, [0])
o["read_uncommitted"] = read_all("read_uncommitted", FENCE, [0])

print(json.dumps(out, indent=1, sort_keys=True))
