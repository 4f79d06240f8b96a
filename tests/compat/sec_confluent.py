"""sec_confluent.py — one confluent-kafka (librdkafka) client session for
the security tests, run by whichever python holds the confluent-kafka
version under test (Debian's, or tests/compat/pyvenv.py's):

    python3 sec_confluent.py '{"bootstrap": "127.0.0.1:P", "topic": "t",
                               "n": 3, "conf": {...}, "token": "JWT"}'

Produces n records to partition 0 of topic with conf (security.protocol,
ssl.*, sasl.*), then reads them back with a consumer on the same conf.
It stops at the first error the client reports (a refused connection:
librdkafka would only retry until the message times out);
"token" is handed to librdkafka through oauth_cb for OAUTHBEARER (its
lifetime as librdkafka sees it is always an hour ahead: the broker, not the
client, must judge an expired token). Prints one JSON line: produced,
consumed (the values read), and errors: the KafkaError names the client
reported (error_cb and delivery reports), in order, each once, and
librdkafka: its version number (0xMMmmrrxx). What the client reports
while the consumer closes, once every record was read back, is not the
session's: librdkafka 2.0's "GroupCoordinator" handle races its own close
and reports a transport or authentication failure "after 0ms in state
DOWN" now and then, against Kafka as against nodata
(confluent-kafka-python#1780); those go to at_close, for the record.
"""
import json
import sys
import time

import confluent_kafka as ck

req = json.loads(sys.argv[1])
errors = []
at_close = []
closing = [False]


def note(err):
    into = at_close if closing[0] else errors
    if err.name() not in into:
        into.append(err.name())


conf = dict(req["conf"], **{"bootstrap.servers": req["bootstrap"],
                            "error_cb": note})
if req.get("token"):
    conf["oauth_cb"] = lambda _cfg: (req["token"], time.time() + 3600)
n = req["n"]
produced = 0


def report(err, _msg):
    global produced
    if err:
        note(err)
    else:
        produced += 1


p = ck.Producer(dict(conf, **{"message.timeout.ms": req.get("timeout_ms",
                                                             10000)}))
for i in range(n):
    p.produce(req["topic"], value=b"v%d" % i, partition=0, on_delivery=report)
deadline = time.monotonic() + 60
while produced < n and not errors and time.monotonic() < deadline:
    p.poll(0.1)
consumed = []
if produced == n and not errors:
    c = ck.Consumer(dict(conf, **{"group.id": "sec", "enable.auto.commit":
                                  False}))
    c.assign([ck.TopicPartition(req["topic"], 0, 0)])
    deadline = time.monotonic() + 60
    while len(consumed) < n and not errors and time.monotonic() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        if m.error():
            note(m.error())
        else:
            consumed.append(m.value().decode())
    closing[0] = len(consumed) == n and not errors
    c.close()
print(json.dumps({"produced": produced, "consumed": consumed,
                  "errors": errors, "at_close": at_close,
                  "librdkafka": ck.libversion()[1]}))
