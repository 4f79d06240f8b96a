"""test_diff_txn_lost_add.py — what the exactly-once checker
(test_eos_checker.py) saw as "a fatal INVALID_TXN_STATE on EndTxn right
after a broker crash", made deterministic and run against Apache Kafka
4.4 and nodata in the same run: the answer is Kafka's, the fatal error is
librdkafka's (2.0.2, Transactions V1; librdkafka #4849), and nothing is
left open on the broker.

The scenario: a transactional producer commits a transaction, begins
another and produces one record while the broker is stopped (SIGSTOP), so its
AddPartitionsToTxn sits unread in the socket; the broker is killed (-9),
which fails that request on the connection. librdkafka then counts the
partition as registered anyway ("we can't be sure if the request was
received by the broker or not, so increase the txn_req_cnt back up as if
they were received so that an EndTxnRequest is sent on
abort_transaction()", rdkafka_txnmgr.c). The application aborts while the
broker is down; the broker comes back; librdkafka sends EndTxn(abort) for
a transaction the coordinator never had open: Empty, so
INVALID_TXN_STATE, which librdkafka makes fatal. The trace of librdkafka
(debug=eos) must show that order.

Compared on both brokers: the error abort_transaction raised (code, fatal
flag), librdkafka's trace, and that a new producer with the same
transactional.id commits. On nodata: nothing of the aborted transaction
is in the log, and the last stable offset equals the high watermark
before and after the successor's commit (no transaction left open).
"""
import logging
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import (Consumer, KafkaException, Producer,  # noqa: E402
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC, TID = "lost-add", "lost-add-tid"


class Trace(logging.Handler):
    """librdkafka's log lines, kept."""

    def __init__(self):
        super().__init__()
        self.lines = []
        self.mu = threading.Lock()

    def emit(self, record):
        with self.mu:
            self.lines.append(record.getMessage())


def kill9_and_restart(broker):
    """kill -9 and start again on the same port and data (either broker)."""
    if isinstance(broker, ndtest.Broker):
        broker.kill9()
        return lambda: broker.start(timeout=60)
    broker.proc.kill()
    broker.proc.wait()
    os.replace(broker.log, broker.log + ".%d" % broker.proc.pid)
    return lambda: broker.start(wait=True)


def watermarks(bootstrap, isolation):
    """The partition's end at that isolation level (read_committed: the
    last stable offset). Kafka's partition has no leader for a moment
    after its restart: retried."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lost-add-wm",
                  "isolation.level": isolation})
    try:
        for tries in range(100):
            try:
                return c.get_watermark_offsets(TopicPartition(TOPIC, 0),
                                               timeout=30)[1]
            except KafkaException as e:
                if tries == 99 or not e.args[0].retriable() and \
                        e.args[0].name() != "NOT_LEADER_FOR_PARTITION":
                    raise
                time.sleep(0.3)
    finally:
        c.close()


def scenario(bootstrap, broker):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 1, 1)]).values():
        f.result(60)
    trace = Trace()
    log = logging.getLogger("lost-add-%d" % id(trace))
    log.setLevel(logging.DEBUG)
    log.addHandler(trace)
    log.propagate = False
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": TID,
                  "transaction.timeout.ms": 60000, "linger.ms": 0,
                  "reconnect.backoff.ms": 20,
                  "reconnect.backoff.max.ms": 300, "debug": "eos"},
                 logger=log)
    p.init_transactions(60)
    # A first transaction, committed: the producer knows the partition's
    # leader, so the next produce goes straight to AddPartitionsToTxn.
    p.begin_transaction()
    p.produce(TOPIC, value=b"first", partition=0)
    p.commit_transaction(60)
    p.begin_transaction()
    del trace.lines[:]
    os.kill(broker.pid, signal.SIGSTOP)
    p.produce(TOPIC, value=b"never", partition=0)
    # Until librdkafka has sent AddPartitionsToTxn (the stopped broker
    # reads nothing; the kernel takes the bytes).
    deadline = time.monotonic() + 30
    while not any("Registering partitions with transaction" in x
                  for x in trace.lines) and time.monotonic() < deadline:
        p.poll(0.05)
    p.poll(0.5)
    start = kill9_and_restart(broker)
    out = {}
    try:
        p.abort_transaction(2)   # the broker is down: it cannot finish
        out["abort while down"] = "ok"
    except KafkaException as e:
        err = e.args[0]
        out["abort while down"] = "retriable" if err.retriable() else \
            err.name()
    start()
    try:
        p.abort_transaction(60)
        out["abort"] = {"error": None}
    except KafkaException as e:
        err = e.args[0]
        out["abort"] = {"error": err.name(), "fatal": err.fatal()}
    # librdkafka's own account: the partition was being registered when
    # the broker died, the registration was not retried once the abort
    # began, and EndTxn went out all the same. A logger gets librdkafka's
    # lines through the producer's queue, which only poll() serves: lines
    # logged during abort_transaction are not here until it is polled.
    # (poll() raises the producer's fatal error again, already recorded.)
    def drain(seconds):
        try:
            p.poll(seconds)
        except KafkaException as e:
            if not e.args[0].fatal():
                raise
            time.sleep(seconds)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
            "Not registering partitions" in x and "Aborting" in x
            for x in list(trace.lines)):
        drain(0.1)
    drain(0.2)
    lines = list(trace.lines)
    out["trace: registering, then not registering while aborting"] = any(
        "Not registering partitions" in x and "Aborting" in x for x in lines)
    steps = []
    for x in lines:
        if any(k in x for k in ("ADDPARTS", "AddPartitionsToTxn", "EndTxn",
                                "TXNERR", "Fatal", "TXNAPI")) and \
                (not steps or steps[-1] != x):
            steps.append(x)
    sys.stderr.write("%s: librdkafka's transactional steps:\n%s\n"
                     % (bootstrap, "\n".join(steps)))
    p = None   # a fatal producer: only its successor goes on
    # (Kafka's high watermark after a kill -9 lags for a while: these
    # figures are nodata's checks, not compared.)
    hw = watermarks(bootstrap, "read_uncommitted")
    ends = {"high watermark": hw,
            "last stable offset": watermarks(bootstrap, "read_committed")}
    q = Producer({"bootstrap.servers": bootstrap, "transactional.id": TID,
                  "transaction.timeout.ms": 60000})
    q.init_transactions(60)
    q.begin_transaction()
    q.produce(TOPIC, value=b"after", partition=0)
    q.commit_transaction(60)
    out["successor commits"] = True
    ends["high watermark after"] = watermarks(bootstrap, "read_uncommitted")
    ends["last stable offset after"] = watermarks(bootstrap,
                                                  "read_committed")
    return out, ends


def main():
    (want, kends), (got, ends) = differential.run_both(scenario,
                                                       with_broker=True)
    print("Kafka:  %s %s\nnodata: %s %s" % (want, kends, got, ends))
    if got["abort"] != {"error": "INVALID_TXN_STATE", "fatal": True}:
        ndtest.fail("nodata: abort_transaction gave %s" % got["abort"])
    # Nothing left open: the aborted transaction wrote nothing (the first
    # record and its marker only), and the successor's commit is visible.
    if ends != {"high watermark": 2, "last stable offset": 2,
                "high watermark after": 4, "last stable offset after": 4}:
        ndtest.fail("nodata: %s" % ends)
    differential.compare(want, got, what="a lost AddPartitionsToTxn")
    ndtest.passed()


main()
