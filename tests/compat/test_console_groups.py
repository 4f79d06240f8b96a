"""test_console_groups.py — the console's /api/groups, /api/transactions and
/api/topics/{t}/producers (docs/http-api.md) against what real Kafka
clients do and see, on one broker started with --http.

- A classic group of two Debian confluent_kafka consumers (roundrobin):
  the API's state, type, protocol and members' assignments equal what the
  consumers report; while they consume, committing after every record,
  each answer's lag is log end (the client's high watermark) - committed
  (the client's committed()), falling to 0. Resetting or deleting the
  live group is 409 NON_EMPTY_GROUP (a dry run is answered). Stopped, the
  group is Empty; a dry-run reset to earliest changes nothing (OffsetFetch
  through a Kafka client), an executed one does; to a timestamp (= the
  client's offsets_for_times), a shift, an offset past the end (clamped);
  then the group is deleted (404 after).
- A consumer group (group.protocol=consumer, KIP-848) of two members from
  PyPI's confluent-kafka (Debian's librdkafka 2.0.2 predates KIP-848) in
  a child process: type consumer, the remote assignor as protocol, members'
  assignments as the members report them, lag 0 once they committed
  everything; Empty once they close.
- A transactional producer mid-transaction: Ongoing with the partitions it
  wrote, then CompleteCommit. An idempotent producer: each partition it
  wrote lists its producer id and epoch as stamped in the record batches
  (read raw with Fetch), its last sequence = records - 1.
"""
import json
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kwire  # noqa: E402
import ndtest  # noqa: E402
import pyvenv  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TOPIC = "cg-topic"
PARTS = 4
PER_PART = 10
BASE_TS = 1_700_000_000_000  # record timestamps: BASE_TS + offset * 1000

failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def api(broker, method, path, body=None):
    host, port = broker.http
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path),
                                 data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def get(broker, path):
    st, j = api(broker, "GET", path)
    if st != 200:
        ndtest.fail("GET %s: %d %s" % (path, st, j))
    return j


def until(what, fn, timeout=60):
    """fn() until it returns something true (the broker decides when a
    rebalance ends; no threshold on how long it takes is tested)."""
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    ndtest.fail("gave up waiting for " + what)


def assignment_of(members):
    """{client_id: {(topic, partition)}} from the API's members."""
    out = {}
    for m in members:
        s = out.setdefault(m["client_id"], set())
        for a in m["assignment"]:
            s.update((a["topic"], p) for p in a["partitions"])
    return out


def watermarks(c):
    return {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
            for p in range(PARTS)}


def committed_by_client(bootstrap, group):
    """OffsetFetch through a Kafka client that does not join the group."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTS)],
                          timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def produce(bootstrap):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 0})
    for part in range(PARTS):
        for i in range(PER_PART):
            p.produce(TOPIC, key=b"k%d" % i, value=b"v%d-%d" % (part, i),
                      partition=part, timestamp=BASE_TS + i * 1000)
    check(p.flush(30) == 0, "all records delivered")


def classic_group(b):
    group = "cg-classic"
    conf = {"bootstrap.servers": b.bootstrap, "group.id": group,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "partition.assignment.strategy": "roundrobin",
            "session.timeout.ms": 60000}
    cs = [Consumer(dict(conf, **{"client.id": "c%d" % i})) for i in (1, 2)]
    for c in cs:
        c.subscribe([TOPIC])
    pending = {c: [] for c in cs}

    def settled():
        for c in cs:
            m = c.poll(0.2)
            if m is not None and not m.error():
                pending[c].append(m)
        a = [set((t.topic, t.partition) for t in c.assignment()) for c in cs]
        if not all(a) or a[0] & a[1] or len(a[0] | a[1]) != PARTS:
            return None
        g = get(b, "/api/groups/" + group)
        return g if g["state"] == "Stable" and g["member_count"] == 2 else None

    g = until("the classic group to be Stable with both members", settled)
    check(g["type"] == "classic", "classic type: %s" % g["type"])
    check(g["protocol_type"] == "consumer", "protocol type consumer")
    check(g["protocol"] == "roundrobin", "assignor: %s" % g["protocol"])
    mine = {"c%d" % (i + 1):
            set((t.topic, t.partition) for t in c.assignment())
            for i, c in enumerate(cs)}
    check(assignment_of(g["members"]) == mine,
          "members' assignments %s = the consumers' %s" %
          (assignment_of(g["members"]), mine))
    # librdkafka names a member after its client id (Debian's 2.0 has no
    # memberid() to ask).
    check(all(m["member_id"].startswith(m["client_id"] + "-")
              for m in g["members"]), "member ids %s" % g["members"])
    check(g["lag"] is None, "no commits yet: lag unknown (%s)" % g["lag"])
    listed = get(b, "/api/groups")["groups"]
    check([x["group_id"] for x in listed] ==
          sorted(x["group_id"] for x in listed), "the list is sorted")
    mine_listed = [x for x in listed if x["group_id"] == group]
    check(len(mine_listed) == 1 and mine_listed[0]["member_count"] == 2 and
          mine_listed[0]["topics"] == [TOPIC], "the list shows it")

    # Consume everything, committing each record; after each, the API's
    # lag is what the clients' own numbers make it.
    hw = {p: h for p, (lo, h) in watermarks(cs[0]).items()}
    lags = []
    seen = set()
    while len(seen) < PARTS * PER_PART:
        for c in cs:
            msgs = pending[c] or [c.poll(0.5)]
            pending[c] = []
            mine_now = set(t.partition for t in c.assignment())
            for m in msgs:
                # Records fetched before a rebalance took the partition
                # away are the new owner's to commit.
                if m is None or m.error() or m.partition() not in mine_now \
                        or (m.partition(), m.offset()) in seen:
                    continue
                c.commit(message=m, asynchronous=False)
                seen.add((m.partition(), m.offset()))
                if len(seen) % 8 and len(seen) != PARTS * PER_PART:
                    continue
                committed = {}
                for cc in cs:
                    for tp in cc.committed(cc.assignment(), timeout=10):
                        committed[tp.partition] = tp.offset
                g = get(b, "/api/groups/" + group)
                want = sum(hw[p] - committed[p] for p in committed
                           if committed[p] >= 0)
                known = all(committed.get(p, -1) >= 0 for p in range(PARTS))
                for o in g["offsets"]:
                    check(o["log_end"] == hw[o["partition"]],
                          "log end of %d: %s" % (o["partition"], o["log_end"]))
                    if committed.get(o["partition"], -1) >= 0:
                        check(o["committed"] == committed[o["partition"]] and
                              o["lag"] == hw[o["partition"]] - o["committed"],
                              "offset row %s" % o)
                check(g["lag"] == (want if known else None),
                      "lag %s, the clients say %s" % (g["lag"], want))
                lags.append(g["lag"])
    print("lags seen:", lags)
    known = [x for x in lags if x is not None]
    check(known and known == sorted(known, reverse=True) and known[-1] == 0,
          "lag falls to 0: %s" % lags)

    # Live group: reset and delete refused; a dry run is answered.
    body = {"topic": TOPIC, "to": "earliest", "dry_run": False}
    st, j = api(b, "POST", "/api/groups/%s/reset-offsets" % group, body)
    check(st == 409 and j["error"]["code"] == "NON_EMPTY_GROUP",
          "reset of a live group: %d %s" % (st, j))
    st, j = api(b, "POST", "/api/groups/%s/reset-offsets" % group,
                dict(body, dry_run=True))
    check(st == 200 and all(o["new"] == 0 for o in j["offsets"]),
          "dry run on a live group: %d %s" % (st, j))
    st, j = api(b, "DELETE", "/api/groups/" + group)
    check(st == 409 and j["error"]["code"] == "NON_EMPTY_GROUP",
          "delete of a live group: %d %s" % (st, j))

    for c in cs:
        c.close()
    g = until("the classic group to be Empty",
              lambda: (lambda g: g if g["state"] == "Empty" else None)(
                  get(b, "/api/groups/" + group)))
    check(g["member_count"] == 0 and g["members"] == [], "no members")
    check(g["lag"] == 0, "lag 0 after consuming all: %s" % g["lag"])
    reset_offsets(b, group, hw)

    st, _ = api(b, "DELETE", "/api/groups/" + group)
    check(st == 204, "delete: %d" % st)
    st, j = api(b, "GET", "/api/groups/" + group)
    check(st == 404 and j["error"]["code"] == "GROUP_ID_NOT_FOUND",
          "deleted group: %d %s" % (st, j))
    st, j = api(b, "DELETE", "/api/groups/" + group)
    check(st == 404 and j["error"]["code"] == "GROUP_ID_NOT_FOUND",
          "delete again: %d %s" % (st, j))


def reset_offsets(b, group, hw):
    path = "/api/groups/%s/reset-offsets" % group
    before = committed_by_client(b.bootstrap, group)
    check(before == hw, "committed at the end: %s" % before)
    st, j = api(b, "POST", path, {"topic": TOPIC, "to": "earliest",
                                  "partitions": None, "dry_run": True})
    check(st == 200 and j["dry_run"] is True, "dry run: %d %s" % (st, j))
    check(sorted((o["partition"], o["current"], o["new"]) for o in j["offsets"])
          == [(p, hw[p], 0) for p in range(PARTS)], "dry run offsets %s" % j)
    check(committed_by_client(b.bootstrap, group) == before,
          "a dry run changes nothing")

    st, j = api(b, "POST", path, {"topic": TOPIC, "to": "earliest",
                                  "partitions": [0, 2], "dry_run": False})
    check(st == 200 and j["dry_run"] is False and
          [o["partition"] for o in j["offsets"]] == [0, 2], "execute %s" % j)
    now = committed_by_client(b.bootstrap, group)
    check(now == {0: 0, 1: hw[1], 2: 0, 3: hw[3]},
          "executed to earliest on 0 and 2: %s" % now)

    # To a timestamp: what the client's offsets_for_times finds.
    ts = BASE_TS + 4500
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "cg-probe"})
    want = {tp.partition: tp.offset for tp in c.offsets_for_times(
        [TopicPartition(TOPIC, p, ts) for p in range(PARTS)], timeout=10)}
    c.close()
    st, j = api(b, "POST", path, {"topic": TOPIC, "to": "timestamp",
                                  "timestamp_ms": ts, "dry_run": False})
    check(st == 200 and {o["partition"]: o["new"] for o in j["offsets"]} ==
          want, "to timestamp %d: %s, the client finds %s" % (ts, j, want))
    check(committed_by_client(b.bootstrap, group) == want,
          "committed at the timestamp's offsets")

    # Shift: from the current offsets, clamped at the log start.
    st, j = api(b, "POST", path, {"topic": TOPIC, "to": "shift",
                                  "shift": -3, "dry_run": False})
    shifted = {p: max(0, want[p] - 3) for p in range(PARTS)}
    check(st == 200 and {o["partition"]: (o["current"], o["new"])
                         for o in j["offsets"]} ==
          {p: (want[p], shifted[p]) for p in range(PARTS)},
          "shift -3: %s" % j)
    check(committed_by_client(b.bootstrap, group) == shifted, "shifted")

    # Past the end: clamped to the high watermark.
    st, j = api(b, "POST", path, {"topic": TOPIC, "to": "offset",
                                  "offset": 10 ** 9, "partitions": [1],
                                  "dry_run": False})
    check(st == 200 and j["offsets"][0]["new"] == hw[1],
          "offset past the end clamped: %s" % j)
    # Bad requests name what is wrong.
    for bad, code in (({"topic": TOPIC, "to": "sideways"}, 400),
                      ({"topic": TOPIC, "to": "offset"}, 400),
                      ({"topic": TOPIC, "to": "latest", "partitions": [PARTS]},
                       404),
                      ({"topic": "cg-nonesuch", "to": "latest"}, 404)):
        st, j = api(b, "POST", path, bad)
        check(st == code and "error" in j, "%s: %d %s" % (bad, st, j))


KIP848_CHILD = r"""
import json, sys, time
from confluent_kafka import Consumer, TopicPartition
bs, topic, group, parts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cs = [Consumer({"bootstrap.servers": bs, "group.id": group,
                "group.protocol": "consumer", "group.remote.assignor": "range",
                "client.id": "k%d" % i, "auto.offset.reset": "earliest",
                "enable.auto.commit": False}) for i in (1, 2)]
for c in cs:
    c.subscribe([topic])
end = time.time() + 60
while time.time() < end:
    for c in cs:
        c.poll(0.2)
    a = [set(t.partition for t in c.assignment()) for c in cs]
    if all(a) and not (a[0] & a[1]) and len(a[0] | a[1]) == parts:
        break
ends = {p: cs[0].get_watermark_offsets(TopicPartition(topic, p))[1]
        for p in range(parts)}
for c in cs:
    c.commit(offsets=[TopicPartition(topic, t.partition, ends[t.partition])
                      for t in c.assignment()], asynchronous=False)
print(json.dumps({"k%d" % (i + 1): sorted(t.partition for t in c.assignment())
                  for i, c in enumerate(cs)}), flush=True)
sys.stdin.readline()
for c in cs:
    c.close()
print("closed", flush=True)
"""


def consumer_group(b):
    group = "cg-kip848"
    child = subprocess.Popen(
        [pyvenv.python(), "-c", KIP848_CHILD, b.bootstrap, TOPIC, group,
         str(PARTS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    try:
        line = child.stdout.readline()
        if not line:
            ndtest.fail("the KIP-848 consumers did not start")
        theirs = {k: {(TOPIC, p) for p in v}
                  for k, v in json.loads(line).items()}
        g = until("the consumer group with both members", lambda: (
            lambda g: g if g["member_count"] == 2 and g["state"] == "Stable"
            and assignment_of(g["members"]) == theirs else None)(
                get(b, "/api/groups/" + group)), timeout=30)
        check(g["type"] == "consumer" and g["protocol_type"] == "consumer",
              "consumer group type: %s %s" % (g["type"], g["protocol_type"]))
        check(g["protocol"] == "range", "remote assignor: %s" % g["protocol"])
        check(all(m["member_epoch"] > 0 for m in g["members"]),
              "member epochs")
        check(g["lag"] == 0 and all(o["lag"] == 0 for o in g["offsets"]) and
              len(g["offsets"]) == PARTS, "consumer group lag 0: %s" % g)
        st, j = api(b, "POST", "/api/groups/%s/reset-offsets" % group,
                    {"topic": TOPIC, "to": "earliest", "dry_run": False})
        check(st == 409 and j["error"]["code"] == "NON_EMPTY_GROUP",
              "reset of a live consumer group: %d %s" % (st, j))
        child.stdin.write("close\n")
        child.stdin.flush()
        check(child.stdout.readline().strip() == "closed", "closed")
        g = until("the consumer group to be Empty", lambda: (
            lambda g: g if g["state"] == "Empty" else None)(
                get(b, "/api/groups/" + group)), timeout=30)
        check(g["member_count"] == 0, "no members after close")
        # Empty, a consumer group's offsets can be reset too.
        st, j = api(b, "POST", "/api/groups/%s/reset-offsets" % group,
                    {"topic": TOPIC, "to": "offset", "offset": 3,
                     "dry_run": False})
        check(st == 200 and [o["new"] for o in j["offsets"]] == [3] * PARTS,
              "reset of the empty consumer group: %d %s" % (st, j))
        check(committed_by_client(b.bootstrap, group) ==
              {p: 3 for p in range(PARTS)}, "committed by the reset")
        listed = {x["group_id"]: x for x in get(b, "/api/groups")["groups"]}
        check(listed.get(group, {}).get("type") == "consumer",
              "listed as a consumer group")
    finally:
        ndtest.terminate(child)


def batch_producers(bootstrap, topic, partition):
    """(producer id, epoch) of each record batch of a partition, read raw
    with Fetch (bytes 43..53 of a v2 batch)."""
    r = kwire.call(bootstrap, "Fetch", 12, {
        "ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20,
        "IsolationLevel": 0, "Topics": [{"Topic": topic, "Partitions": [{
            "Partition": partition, "FetchOffset": 0, "LogStartOffset": -1,
            "PartitionMaxBytes": 1 << 20, "CurrentLeaderEpoch": -1,
            "LastFetchedEpoch": -1}]}]})
    data = r["Responses"][0]["Partitions"][0]["Records"] or b""
    out = set()
    while len(data) >= 61:
        (length,) = struct.unpack(">i", data[8:12])
        pid, epoch = struct.unpack(">qh", data[43:53])
        out.add((pid, epoch))
        data = data[12 + length:]
    return out


def transactions_and_producers(b):
    topic = "cg-txn"
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    a.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    p = Producer({"bootstrap.servers": b.bootstrap,
                  "transactional.id": "cg-tid", "linger.ms": 0})
    p.init_transactions(30)
    p.begin_transaction()
    for part in (0, 2):
        p.produce(topic, value=b"x", partition=part)
    p.flush(30)
    t = [x for x in get(b, "/api/transactions")["transactions"]
         if x["transactional_id"] == "cg-tid"]
    check(len(t) == 1 and t[0]["state"] == "Ongoing",
          "an Ongoing transaction: %s" % t)
    if t:
        check(sorted((x["topic"], x["partition"]) for x in t[0]["partitions"])
              == [(topic, 0), (topic, 2)], "its partitions: %s" % t[0])
        check(t[0]["start_ms"] is not None and t[0]["timeout_ms"] > 0,
              "start and timeout: %s" % t[0])
        pid = (t[0]["producer_id"], t[0]["producer_epoch"])
        check(batch_producers(b.bootstrap, topic, 0) == {pid},
              "its producer id and epoch are the batches' %s" % (pid,))
        prod = get(b, "/api/topics/%s/producers" % topic)["partitions"]
        check([x["partition"] for x in prod] == [0, 1, 2], "3 partitions")
        p0 = [x for x in prod[0]["producers"] if x["producer_id"] == pid[0]]
        check(len(p0) == 1 and p0[0]["current_txn_start_offset"] == 0,
              "the open transaction starts at 0 in partition 0: %s" % prod)
        check(prod[1]["producers"] == [], "nobody wrote partition 1")
    p.commit_transaction(30)
    t = until("CompleteCommit", lambda: [
        x for x in get(b, "/api/transactions")["transactions"]
        if x["transactional_id"] == "cg-tid" and
        x["state"] == "CompleteCommit"], timeout=30)
    check(t[0]["partitions"] == [], "no partitions once committed")

    # An idempotent producer: its id and epoch as in its batches.
    q = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                  "linger.ms": 0})
    for i in range(5):
        q.produce(topic, value=b"i%d" % i, partition=1)
        q.flush(30)
    prod = get(b, "/api/topics/%s/producers" % topic)["partitions"]
    got = {(x["producer_id"], x["producer_epoch"]): x
           for x in prod[1]["producers"]}
    stamped = batch_producers(b.bootstrap, topic, 1)
    check(set(got) == stamped and len(stamped) == 1,
          "partition 1's producers %s = its batches' %s" % (got, stamped))
    for x in got.values():
        check(x["last_sequence"] == 4 and x["current_txn_start_offset"] is None
              and x["last_timestamp_ms"] > 0, "idempotent producer %s" % x)
    st, j = api(b, "GET", "/api/topics/cg-nonesuch/producers")
    check(st == 404 and j["error"]["code"] == "UNKNOWN_TOPIC_OR_PARTITION",
          "producers of no topic: %d %s" % (st, j))


def raw_member(bootstrap, group, protocol_type, assignment):
    """A classic group of one member joined by hand (JoinGroup v5,
    SyncGroup v5) that hands itself `assignment` bytes."""
    c = kwire.Conn(bootstrap)
    join = {"GroupId": group, "SessionTimeoutMs": 30000,
            "RebalanceTimeoutMs": 30000, "MemberId": "",
            "GroupInstanceId": None, "ProtocolType": protocol_type,
            "Protocols": [{"Name": "p1", "Metadata": b"\x00\x01"}]}
    r = c.call("JoinGroup", 5, join)
    if r["ErrorCode"] == 79:  # MEMBER_ID_REQUIRED: join again with it
        r = c.call("JoinGroup", 5, dict(join, MemberId=r["MemberId"]))
    if r["ErrorCode"]:
        ndtest.fail("JoinGroup %s: %d" % (group, r["ErrorCode"]))
    s = c.call("SyncGroup", 5, {
        "GroupId": group, "GenerationId": r["GenerationId"],
        "MemberId": r["MemberId"], "GroupInstanceId": None,
        "ProtocolType": protocol_type, "ProtocolName": "p1",
        "Assignments": [{"MemberId": r["MemberId"],
                         "Assignment": assignment}]})
    if s["ErrorCode"]:
        ndtest.fail("SyncGroup %s: %d" % (group, s["ErrorCode"]))
    return c


def assignments_by_hand(b):
    """ConsumerProtocol assignments of every version decode; other protocol
    types' bytes, and bytes that do not decode, come back as hex."""
    def enc(version, topics, user_data):
        out = struct.pack(">hi", version, len(topics))
        for t, ps in topics:
            out += struct.pack(">h", len(t)) + t.encode()
            out += struct.pack(">i", len(ps)) + b"".join(
                struct.pack(">i", p) for p in ps)
        if user_data is None:
            return out + struct.pack(">i", -1)
        return out + struct.pack(">i", len(user_data)) + user_data
    cases = [
        ("cg-raw-v0", "consumer", enc(0, [(TOPIC, [0, 2])], None),
         [{"topic": TOPIC, "partitions": [0, 2]}]),
        ("cg-raw-v3", "consumer", enc(3, [(TOPIC, [3]), ("other", [])],
                                      b"userdata"),
         [{"topic": TOPIC, "partitions": [3]},
          {"topic": "other", "partitions": []}]),
        # A later version is read by the fields every version has, as
        # Kafka's ConsumerProtocol does.
        ("cg-raw-v7", "consumer", enc(7, [(TOPIC, [1])], b"") + b"future",
         [{"topic": TOPIC, "partitions": [1]}]),
        ("cg-raw-bad", "consumer", struct.pack(">hi", 0, 5), None),
        ("cg-raw-connect", "connect", b"\x00\x01{\"tasks\":[1]}\xff", None),
    ]
    conns = []
    try:
        for group, ptype, data, want in cases:
            conns.append(raw_member(b.bootstrap, group, ptype, data))
            g = get(b, "/api/groups/" + group)
            check(g["protocol_type"] == ptype and g["protocol"] == "p1" and
                  len(g["members"]) == 1, "%s: %s" % (group, g))
            m = g["members"][0]
            check(m["assignment"] == want, "%s assignment %s, want %s" %
                  (group, m["assignment"], want))
            if want is None:
                check(m.get("assignment_bytes") == {
                    "encoding": "hex", "hex": data.hex(), "size": len(data)},
                    "%s bytes as hex: %s" % (group, m))
    finally:
        for c in conns:
            c.close()


def main():
    with ndtest.Broker(args=["--http", "127.0.0.1:0",
                                "--group-initial-delay-ms", "500"]) as b:
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        a.create_topics([NewTopic(TOPIC, PARTS, 1)])[TOPIC].result(30)
        produce(b.bootstrap)
        st, j = api(b, "GET", "/api/groups")
        check(st == 200 and j == {"groups": []}, "no groups yet: %s" % j)
        st, j = api(b, "GET", "/api/groups/cg-nonesuch/lag-history")
        check(st == 404, "lag history of no group: %d" % st)
        classic_group(b)
        consumer_group(b)
        transactions_and_producers(b)
        assignments_by_hand(b)
        # The sampler's history ends at the lag the group's page shows (it
        # samples every 5 s: wait for one after the reset above).
        now = get(b, "/api/groups/cg-kip848")["lag"]
        j = until("a lag sample of %s" % now, lambda: (
            lambda j: j if j["samples"] and j["samples"][-1]["lag"] == now
            else None)(get(b, "/api/groups/cg-kip848/lag-history")))
        t = [x["t_ms"] for x in j["samples"]]
        check(j["interval_s"] == 5 and t == sorted(set(t)),
              "lag history in time order: %s" % j)
        ndtest.stop_clean(b)
    if failures:
        ndtest.fail("%d checks failed" % len(failures))
    print("%d checks" % checks[0])
    ndtest.passed()


main()
