"""eos_worker.py — the client processes of test_eos_checker.py (one role
each, run as separate processes so that they can be killed -9 apart from
the checker and from each other). confluent-kafka (librdkafka).

    eos_worker.py producer  CONF JOURNAL   transactions of unique values
    eos_worker.py transform CONF JOURNAL   read_committed "in" -> "out",
                                           offsets sent in the transaction
    eos_worker.py reader    CONF JOURNAL   read_committed reads, recorded

CONF is a JSON object: bootstrap, tid (transactional.id), inc (this
process's incarnation: values carry it, so a restarted producer never
repeats one), seed, topics ({topic: partitions}) for the producer.

The journal (one line per event, written with write(2) before the step it
announces, so a kill -9 of this process keeps it):
  R                       init_transactions done (the id is ours: any
                          earlier holder is fenced from here on)
  I k [[t, p, value]...]  transaction k will write these records
  C k / A k               commit / abort of k requested
  O k commit {value: offset} / O k abort
                          its outcome, known (the offsets from the
                          delivery reports)
  F msg                   a fatal error: the process exits (3; 4 if fenced)
  W msg                   (transform) a committed-offsets answer with a
                          partition's error, asked again
  S t p offset value      (reader, transform input) a record read
A transaction with an I line and no O line has an unknown outcome if a C
line was written (the commit may have happened: all or nothing), else it
must be invisible (it was never asked to commit).

SIGTERM: finish the transaction under way, then exit 0.
"""
import json
import os
import random
import signal
import sys

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)

role, conf, journal_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
stopping = False


def _stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, _stop)
jfd = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def journal(*fields):
    os.write(jfd, (" ".join(f if isinstance(f, str) else json.dumps(f)
                            for f in fields) + "\n").encode())


def client_conf(**extra):
    c = {"bootstrap.servers": conf["bootstrap"], "log_level": 2,
         "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 300,
         "retry.backoff.ms": 50}
    c.update(extra)
    if os.environ.get("ND_EOS_DEBUG") and "transactional.id" in c:
        # librdkafka's trace of the transactional producer, to its stderr
        # (the checker's PRODUCER.N.err), e.g. ND_EOS_DEBUG=eos,protocol.
        c.update({"debug": os.environ["ND_EOS_DEBUG"], "log_level": 7})
    return c


def fatal(err):
    journal("F", str(err).replace("\n", " "))
    fenced = err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                            KafkaError.INVALID_PRODUCER_EPOCH)
    os._exit(4 if fenced else 3)


def kafka_error(e):
    return e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None


def retry(call, what, tries=40):
    """call() until it succeeds; retriable errors (a broker restarting)
    are retried, a fatal one ends the process; an abortable one is
    raised for the caller."""
    for _ in range(tries):
        try:
            return call()
        except KafkaException as e:
            err = kafka_error(e)
            if err is None or err.fatal():
                fatal(err or e)
            if err.txn_requires_abort():
                raise
            if not err.retriable() and err.code() != KafkaError._TIMED_OUT:
                fatal(err)
    journal("F", "%s: still failing after %d tries" % (what, tries))
    os._exit(3)


def producer():
    return Producer(client_conf(**{
        "transactional.id": conf["tid"], "transaction.timeout.ms": 60000,
        "linger.ms": 2, "message.timeout.ms": 60000,
        "enable.idempotence": True, "acks": "all"}))


def end(p, k, commit, delivered):
    """Commit or abort transaction k; journal what is known."""
    if commit:
        journal("C", str(k))
        try:
            retry(lambda: p.commit_transaction(10), "commit")
            p.poll(0)   # the delivery reports, now queued
            journal("O", str(k), "commit", delivered)
            return True
        except KafkaException:
            pass        # abortable: the commit did not happen
    journal("A", str(k))
    retry(lambda: p.abort_transaction(10), "abort")
    journal("O", str(k), "abort")
    return False


def run_producer():
    rng = random.Random(conf["seed"])
    topics = sorted(conf["topics"].items())
    p = producer()
    retry(lambda: p.init_transactions(10), "init")
    journal("R")
    delivered = {}

    def on_delivery(err, msg):
        if err is None:
            delivered[msg.value().decode()] = msg.offset()

    k = 0
    while not stopping:
        k += 1
        recs = []
        for t, n in rng.sample(topics, rng.randint(1, len(topics))):
            for part in rng.sample(range(n), rng.randint(1, n)):
                for _ in range(rng.randint(1, 3)):
                    recs.append([t, part, "%s.%d.%d.%d" % (
                        conf["tid"], conf["inc"], k, len(recs))])
        journal("I", str(k), recs)
        delivered.clear()
        try:
            retry(p.begin_transaction, "begin")
            for t, part, v in recs:
                while True:
                    try:
                        p.produce(t, value=v.encode(), key=str(k).encode(),
                                  partition=part, on_delivery=on_delivery)
                        break
                    except BufferError:
                        p.poll(0.1)
            p.poll(0)
            end(p, k, rng.random() < 0.7, delivered)
        except KafkaException as e:
            err = kafka_error(e)
            if err is None or not err.txn_requires_abort():
                fatal(err or e)
            journal("A", str(k))
            retry(lambda: p.abort_transaction(10), "abort")
            journal("O", str(k), "abort")
    p.flush(10)


def run_transform():
    """Consume-transform-produce: each record of "in" becomes one of
    "out" (same partition) carrying its input's partition, offset and
    value; the input offsets are committed in the same transaction."""
    c = Consumer(client_conf(**{
        "group.id": "eos-xform", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed",
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}))
    c.subscribe(["in"])
    p = producer()
    retry(lambda: p.init_transactions(10), "init")
    journal("R")
    k = 0

    def rewind():
        # After an abort the consumer's positions are past what was
        # committed: back to the group's committed offsets.
        # A partition's error (UNSTABLE_OFFSET_COMMIT while another
        # transaction holds offsets of it, a timeout) comes with offset
        # -1001 as "no offset" does: taken for none, the partition went
        # back to its beginning and was transformed twice. Asked again
        # until every partition has an answer.
        for _ in range(40):
            parts = retry(lambda: c.committed(c.assignment(), timeout=10),
                          "committed")
            if not any(tp.error for tp in parts):
                break
            journal("W", "committed offsets: %s" % [
                "%s/%d: %s" % (tp.topic, tp.partition, tp.error)
                for tp in parts if tp.error])
        else:
            journal("F", "committed offsets: %s" % [
                str(tp.error) for tp in parts if tp.error])
            os._exit(3)
        for tp in parts:
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
            try:
                c.seek(tp)
            except KafkaException:
                pass   # no longer assigned

    while not stopping:
        msgs = [m for m in c.consume(num_messages=100, timeout=0.3)
                if not m.error()]
        if not msgs:
            continue
        k += 1
        journal("I", str(k), [["in", m.partition(), m.offset(),
                               m.value().decode()] for m in msgs])
        try:
            retry(p.begin_transaction, "begin")
            for m in msgs:
                p.produce("out", partition=m.partition(),
                          value=b"x|%d|%d|" % (m.partition(), m.offset())
                          + m.value())
            pos = c.position(c.assignment())
            retry(lambda: p.send_offsets_to_transaction(
                pos, c.consumer_group_metadata(), 10), "send offsets")
            if not end(p, k, True, {}):
                rewind()
        except KafkaException as e:
            err = kafka_error(e)
            if err is None or not err.txn_requires_abort():
                fatal(err or e)
            journal("A", str(k))
            retry(lambda: p.abort_transaction(10), "abort")
            journal("O", str(k), "abort")
            rewind()
    p.flush(10)
    c.close()


def run_reader():
    """Reads every partition of every topic from the start, read_committed,
    and journals each record seen, in the order seen."""
    c = Consumer(client_conf(**{
        "group.id": "eos-reader", "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "error"}))
    c.assign([TopicPartition(t, part, OFFSET_BEGINNING)
              for t, n in sorted(conf["topics"].items())
              for part in range(n)])
    journal("R")
    while not stopping:
        lines = []
        for m in c.consume(num_messages=500, timeout=0.3):
            if m.error():
                if m.error().fatal() or m.error().code() in (
                        KafkaError._AUTO_OFFSET_RESET,
                        KafkaError.OFFSET_OUT_OF_RANGE):
                    journal("F", str(m.error()))
                    os._exit(3)
                continue
            lines.append("S %s %d %d %s" % (m.topic(), m.partition(),
                                             m.offset(), m.value().decode()))
        if lines:
            os.write(jfd, ("\n".join(lines) + "\n").encode())
    c.close()


{"producer": run_producer, "transform": run_transform,
 "reader": run_reader}[role]()
os._exit(0)
