#!/usr/bin/python3
"""kafka_client.py — the Kafka client the console's browser tests use
beside the browser: Debian's confluent_kafka (librdkafka), so what the
pages show was written and read by a real client, not by the console.

    kafka_client.py produce BOOTSTRAP TOPIC COUNT [--start N] [--partition P]
        COUNT records: key "key-I", value a JSON object {"n": I, "text":
        "hello I"} (every third one 4 bytes that are not UTF-8: 00 ff fe I),
        header "source: kafka_client", I from --start (default 0); gzip
        batches; acks=all. Prints one JSON line per record:
        {"partition", "offset", "key"}.
    kafka_client.py consume BOOTSTRAP TOPIC GROUP
        a consumer in group GROUP, subscribed to TOPIC from the earliest
        offset, committing after every record, until SIGTERM, when it
        commits, leaves the group and exits 0. Prints "assigned" once it
        has partitions and "consumed N" as it goes (stdout, flushed).
    kafka_client.py read BOOTSTRAP TOPIC PARTITION
        every record of the partition, from its start to its end, one JSON
        line each: {"offset", "key", "value", "headers": [[k, v]...]}
        (bytes as text, undecodable ones as \\x escapes).
    kafka_client.py transact BOOTSTRAP TOPIC TXID
        a transactional producer (transactional.id TXID) that begins a
        transaction, writes one record to TOPIC, prints "open" and keeps
        the transaction open until SIGTERM, when it commits it and exits 0.
    kafka_client.py commit BOOTSTRAP TOPIC GROUP OFFSET
        commits OFFSET for every partition of TOPIC in group GROUP, which
        has no members (so the group exists, Empty, with that lag).

--sasl USER:PASSWORD[:MECHANISM] (before the command) authenticates on a
SASL_PLAINTEXT listener (SCRAM-SHA-256 unless said).
"""
import argparse
import json
import signal
import sys

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)


def conf(a):
    c = {"bootstrap.servers": a.bootstrap}
    if a.sasl:
        user, pw, *mech = a.sasl.split(":")
        c.update({"security.protocol": "SASL_PLAINTEXT",
                  "sasl.mechanism": mech[0] if mech else "SCRAM-SHA-256",
                  "sasl.username": user, "sasl.password": pw})
    return c


def produce(a):
    # The records must leave as one batch at flush() (which overrides
    # linger.ms): librdkafka sends a batch uncompressed when gzip does not
    # shrink it, as with one small record alone, and the browser test expects
    # gzip on record 0.
    p = Producer(dict(conf(a), **{"acks": "all",
                                  "compression.type": "gzip",
                                  "linger.ms": 10000}))
    out = []

    def done(err, msg):
        if err:
            raise KafkaException(err)
        out.append({"partition": msg.partition(), "offset": msg.offset(),
                    "key": msg.key().decode()})

    for i in range(a.start, a.start + a.count):
        if i % 3 == 2:
            value = bytes([0, 0xFF, 0xFE, i & 0xFF])
        else:
            value = json.dumps({"n": i, "text": "hello %d" % i}).encode()
        kw = {"partition": a.partition} if a.partition is not None else {}
        p.produce(a.topic, key=b"key-%d" % i, value=value,
                  headers=[("source", b"kafka_client")], on_delivery=done,
                  **kw)
    if p.flush(60):
        sys.exit("kafka_client: produce did not complete in 60 s")
    for r in sorted(out, key=lambda r: (r["partition"], r["offset"])):
        print(json.dumps(r))


def consume(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    c = Consumer(dict(conf(a), **{"group.id": a.group,
                                  "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False,
                                  "session.timeout.ms": 45000}))
    assigned = []

    def on_assign(consumer, parts):
        if parts and not assigned:
            assigned.append(1)
            print("assigned", flush=True)

    c.subscribe([a.topic], on_assign=on_assign)
    n = 0
    while not stop:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        n += 1
        c.commit(message=m, asynchronous=False)
        print("consumed %d" % n, flush=True)
    c.close()  # leaves the group, so the console can reset its offsets


def read(a):
    c = Consumer(dict(conf(a), **{"group.id": "kafka_client-read",
                                  "enable.auto.commit": False,
                                  "enable.partition.eof": True}))
    c.assign([TopicPartition(a.topic, a.partition, OFFSET_BEGINNING)])
    text = (lambda b: None if b is None else
            b.decode("utf-8", errors="backslashreplace"))
    while True:
        m = c.poll(30)
        if m is None:
            sys.exit("kafka_client: no end of partition in 30 s")
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                break
            raise KafkaException(m.error())
        print(json.dumps({"offset": m.offset(), "key": text(m.key()),
                          "value": text(m.value()),
                          "headers": [[k, text(v)] for k, v in
                                      m.headers() or []]}))
    c.close()


def transact(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    p = Producer(dict(conf(a), **{"transactional.id": a.txid,
                                  "transaction.timeout.ms": 60000}))
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(a.topic, key=b"txn", value=b"in a transaction", partition=0)
    p.flush(30)
    print("open", flush=True)
    while not stop:
        signal.pause()
    p.commit_transaction(30)


def commit(a):
    c = Consumer(dict(conf(a), **{"group.id": a.group,
                                  "enable.auto.commit": False}))
    parts = c.list_topics(a.topic, timeout=30).topics[a.topic].partitions
    c.commit(offsets=[TopicPartition(a.topic, p, a.offset) for p in parts],
             asynchronous=False)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sasl")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("count", type=int)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--partition", type=int)
    p = sub.add_parser("consume")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("group")
    p = sub.add_parser("read")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("partition", type=int)
    p = sub.add_parser("transact")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("txid")
    p = sub.add_parser("commit")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("group")
    p.add_argument("offset", type=int)
    a = ap.parse_args()
    {"produce": produce, "consume": consume, "read": read,
     "transact": transact, "commit": commit}[a.cmd](a)


if __name__ == "__main__":
    main()
