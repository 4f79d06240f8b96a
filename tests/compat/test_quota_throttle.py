"""test_quota_throttle.py — client quotas are enforced end to end (issue
21, KIP-13/KIP-219), with confluent-kafka (librdkafka) as the client:

- producer_byte_rate on client id "slow" (quota level 7): a producer
  sending as fast as it can for 15 s is throttled (librdkafka's stats
  report throttle > 0, from the Produce responses' throttle_time_ms) and
  its rate over the span stays under 3x the quota (without the broker
  muting it, it is hundreds of times that: librdkafka does not hold
  itself back); a producer with another client id, matched by no quota,
  sends 40x the quota with no throttle at all;
- consumer_byte_rate for user <default> (level 6, which the unauthenticated
  User:ANONYMOUS falls under): a consumer reading for 15 s is throttled
  too (Fetch answered empty with throttle_time_ms), bounded the same way,
  and goes on reading past its first burst;
- request_percentage on client id "busy": its DescribeClientQuotas
  responses soon carry throttle_time_ms, another client's never do;
- /metrics counts the throttle time by quota type.

No timing threshold can flake here: the bound is a lower bound on the
elapsed time, which a slow machine only makes longer.
"""
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import quota_wire  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402

QUOTA = 100_000          # bytes per second
MSG = 10_000             # record size
SPAN = 15                # seconds each quota'd client runs
TOPIC = "throttled"


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


class Stats:
    """librdkafka's statistics: the largest broker throttle seen (ms)."""

    def __init__(self):
        self.max_throttle = 0

    def __call__(self, text):
        for br in json.loads(text).get("brokers", {}).values():
            self.max_throttle = max(self.max_throttle,
                                    br.get("throttle", {}).get("max", 0))


def produce(bootstrap, client_id, total=None, span=None):
    """Send `total` bytes, or as much as the broker takes for `span`
    seconds; return (bytes acknowledged, seconds, max throttle ms). One
    request in flight and a small queue, so that what the broker has not
    read yet cannot pile up in the socket and count as sent."""
    st = Stats()
    acked = [0]

    def dr(err, m):
        if err is None:
            acked[0] += len(m.value())

    p = Producer({"bootstrap.servers": bootstrap, "client.id": client_id,
                  "statistics.interval.ms": 200, "stats_cb": st,
                  "on_delivery": dr, "batch.size": 65536, "linger.ms": 5,
                  "queue.buffering.max.kbytes": 128,
                  "max.in.flight.requests.per.connection": 1})
    payload = b"x" * MSG
    start = time.monotonic()
    sent = 0
    while (total is None or sent < total) and \
            (span is None or time.monotonic() - start < span):
        try:
            p.produce(TOPIC, payload)
            sent += MSG
        except BufferError:
            p.poll(0.05)
        p.poll(0)
    elapsed = time.monotonic() - start
    if total is not None:
        check(p.flush(300) == 0, "%s: records left unsent" % client_id)
    else:
        p.purge()  # what the span left queued is not counted
    p.poll(0.5)  # one more statistics round
    return acked[0], elapsed, st.max_throttle


def consume(bootstrap, client_id, span):
    st = Stats()
    c = Consumer({"bootstrap.servers": bootstrap, "client.id": client_id,
                  "group.id": "g-" + client_id, "auto.offset.reset":
                  "earliest", "statistics.interval.ms": 200, "stats_cb": st,
                  # Each fetch well under what the quota allows per window,
                  # as a client of a quota'd Kafka sets it.
                  "fetch.max.bytes": 65536, "message.max.bytes": 65536,
                  "max.partition.fetch.bytes": 65536})
    c.subscribe([TOPIC])
    got, start = 0, time.monotonic()
    while time.monotonic() - start < span:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got += len(m.value())
    elapsed = time.monotonic() - start
    c.poll(0.5)
    c.close()
    return got, elapsed, st.max_throttle


with ndtest.Broker(args=["--http", "127.0.0.1:0",
                         "--group-initial-delay-ms", "0"]) as b:
    with quota_wire.Conn(b.bootstrap) as c:
        res = c.alter([
            ([("client-id", "slow")], [("producer_byte_rate", QUOTA, False)]),
            ([("user", None)], [("consumer_byte_rate", QUOTA, False)]),
        ])
    check(all(e[0] == 0 for e in res), "AlterClientQuotas: %r" % (res,))

    # Enough for the consumer to read for SPAN seconds at many times
    # its quota; this client id has no quota.
    total = 40 * QUOTA
    fast_b, fast_s, fast_t = produce(b.bootstrap, "fast", total=total)
    check(fast_b == total and fast_t == 0,
          "the client no quota matches: %d of %d bytes acknowledged, "
          "throttled %d ms" % (fast_b, total, fast_t))

    # Kafka lets a client burst up to the quota times the window (10 s)
    # before throttling it, then holds it to the quota: over SPAN seconds
    # about QUOTA * (SPAN + 10) bytes, under 3x QUOTA * SPAN.
    slow_b, slow_s, slow_t = produce(b.bootstrap, "slow", span=SPAN)
    print("producer: unquoted %d B in %.1f s; quota'd %.0f B/s over "
          "%.1f s, max throttle %d ms" % (fast_b, fast_s, slow_b / slow_s,
                                          slow_s, slow_t))
    check(slow_t > 0, "the quota'd producer never saw throttle_time_ms")
    check(0 < slow_b / slow_s < 3 * QUOTA,
          "the quota'd producer sent %.0f B/s; its quota is %d"
          % (slow_b / slow_s, QUOTA))

    cons_b, cons_s, cons_t = consume(b.bootstrap, "reader", SPAN)
    print("consumer: %.0f B/s over %.1f s, max throttle %d ms"
          % (cons_b / cons_s, cons_s, cons_t))
    check(cons_t > 0, "the quota'd consumer never saw throttle_time_ms")
    check(cons_b / cons_s < 3 * QUOTA,
          "the quota'd consumer read %.0f B/s; its quota is %d"
          % (cons_b / cons_s, QUOTA))
    # It goes on reading once throttled: more than the first burst.
    check(cons_b > 12 * QUOTA, "the quota'd consumer read only %d bytes in "
          "%.1f s" % (cons_b, cons_s))

    # request_percentage: a client whose requests take more of the loop
    # than its share gets throttle_time_ms in every response that has the
    # field (DescribeClientQuotas here); another client id none.
    with quota_wire.Conn(b.bootstrap, client_id="idle") as c:
        c.alter([([("client-id", "busy")],
                  [("request_percentage", 0.01, False)])])
        for _ in range(200):
            c.describe([])
            check(c.throttle_ms == 0, "a client without a request quota "
                  "was throttled %d ms" % c.throttle_ms)
    with quota_wire.Conn(b.bootstrap, client_id="busy") as c:
        busy = 0
        for i in range(20000):
            c.describe([])
            if c.throttle_ms > 0:
                busy = c.throttle_ms
                break
        check(busy > 0, "20,000 requests at request_percentage=0.01 and "
              "none throttled")
        print("request quota: throttled %d ms after %d requests"
              % (busy, i + 1))

    host, port = b.http
    body = urllib.request.urlopen("http://%s:%d/metrics" % (host, port),
                                  timeout=10).read().decode()
    vals = {}
    for line in body.splitlines():
        if line.startswith("nodata_quota_throttle_time_ms_total{"):
            vals[line.split('"')[1]] = float(line.split()[-1])
    check(all(vals.get(t, 0) > 0 for t in ("produce", "fetch", "request")),
          "/metrics throttle time: %r" % vals)
ndtest.passed()
