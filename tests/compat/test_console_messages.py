"""test_console_messages.py — the console's Messages API (docs/http-api.md):
browse, follow, read_committed, search, download and produce, checked
against what a real Kafka client (Debian's confluent_kafka, librdkafka)
wrote and reads.

One broker for the whole file. Records are produced with librdkafka, one
batch each (flush after each), so each record's compression is known; the
expected answers are built from the delivery reports (offsets,
timestamps), never written down by hand.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
if isinstance(ck, (list, tuple)):
    ck = ck[0]
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def api(method, path, body=None, headers=None):
    """(status, parsed JSON or raw text, response headers)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request("http://%s:%d%s" % (HOST, PORT, path),
                                 data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw, rh = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, rh = e.code, e.read(), e.headers
    ctype = rh.get("Content-Type", "")
    if ctype.startswith("application/json") and raw:
        return status, json.loads(raw), rh
    return status, raw.decode("utf-8"), rh


def get(path, **query):
    q = urllib.parse.urlencode(query)
    return api("GET", path + ("?" + q if q else ""))


def b_bytes(b):
    """The bytes a B form stands for (None for null), checking its form."""
    if b["encoding"] == "null":
        return None
    if b["encoding"] == "utf8":
        v = b["text"].encode("utf-8")
    else:
        check(b["encoding"] == "hex", "B encoding %r" % b)
        v = bytes.fromhex(b["hex"])
        try:
            v.decode("utf-8")
            check(False, "valid UTF-8 given as hex: %r" % b)
        except UnicodeDecodeError:
            pass
    check(b["size"] == len(v), "B size %r for %d bytes" % (b, len(v)))
    return v


def plain(m):
    """An M as comparable plain values."""
    return {
        "offset": m["offset"],
        "timestamp_ms": m["timestamp_ms"],
        "key": b_bytes(m["key"]),
        "value": b_bytes(m["value"]),
        "headers": [(h["key"], b_bytes(h["value"])) for h in m["headers"]],
        "compression": m["compression"],
        "transactional": m["transactional"],
    }


def create(name, partitions=1, config=None):
    fs = ADMIN.create_topics([NewTopic(name, partitions, 1,
                                         config=config or {})])
    for f in fs.values():
        f.result()


def produce_one(p, topic, partition, key, value, headers=None,
                timestamp=None, codec="none", txn=False):
    """Produce and flush one record (one batch); returns its expected
    plain form from the delivery report."""
    got = []
    kw = {}
    if timestamp is not None:
        kw["timestamp"] = timestamp
    if headers:
        kw["headers"] = headers
    p.produce(topic, key=key, value=value, partition=partition,
              on_delivery=lambda err, msg: got.append((err, msg)), **kw)
    p.flush(15)
    check(len(got) == 1 and got[0][0] is None, "delivery of %r: %r"
          % (key, got))
    msg = got[0][1]
    return {
        "offset": msg.offset(),
        "timestamp_ms": msg.timestamp()[1],
        "key": key,
        "value": value,
        "headers": [(k, v) for k, v in (headers or [])],
        "compression": codec,
        "transactional": txn,
    }


# An authorizer that allows what no ACL names, so the test can deny one
# topic to the console's caller (User:ANONYMOUS on this PLAINTEXT port).
TMP = tempfile.mkdtemp(prefix="nd-console-msgs-")
CONFIG = os.path.join(TMP, "server.properties")
with open(CONFIG, "w") as f:
    f.write("authorizer.class.name="
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
            "allow.everyone.if.no.acl.found=true\n")
# Debian's confluent_kafka has no ACL admin calls: the ACL goes into the
# data directory before the broker starts (`nodata acls add`).
DATA = os.path.join(TMP, "data")
os.mkdir(DATA)
subprocess.run([ndtest.nodata_bin(), "acls", "add", "--data", DATA,
                "--topic", "secret", "--deny-principal", "User:ANONYMOUS",
                "--operation", "Read", "--operation", "Write"], check=True,
               stdout=subprocess.DEVNULL)
b = ndtest.Broker(data_dir=DATA,
                  args=["--http", "127.0.0.1:0", "--config", CONFIG])


def _cleanup():
    """Also when the test dies early: stop the broker, remove its files."""
    if b.alive():
        b.stop(check=False)
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)
HOST, PORT = b.http
ADMIN = AdminClient({"bootstrap.servers": b.bootstrap})
MSG = "/api/topics/%s/partitions/%d/messages"

# ---- browse: what librdkafka wrote comes back exactly ----------------------
create("m")
expected = []
plainp = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
json_value = json.dumps({"order": 17, "items": ["a", "b"]}).encode()
expected.append(produce_one(plainp, "m", 0, b"user-1", b"hello"))
expected.append(produce_one(plainp, "m", 0, None, json_value))
expected.append(produce_one(plainp, "m", 0, b"\x00\xffbin", bytes(range(256)),
                            headers=[("trace", b"abc"), ("bin", b"\xfe\x00"),
                                     ("nul", None)]))
expected.append(produce_one(plainp, "m", 0, b"user-2", None))  # tombstone
expected.append(produce_one(plainp, "m", 0, b"old", b"explicit timestamp",
                            timestamp=1600000000000))
expected.append(produce_one(plainp, "m", 0, b"nul", b"a\x00b"))  # UTF-8
expected.append(produce_one(plainp, "m", 0, "ключ".encode(),
                            "значение ✓".encode()))
# Every codec: a large, repetitive value so librdkafka keeps it compressed.
for codec in ("gzip", "snappy", "lz4", "zstd"):
    cp = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
                   "compression.type": codec})
    expected.append(produce_one(cp, "m", 0, ("c-" + codec).encode(),
                                (codec * 500).encode(),
                                headers=[("codec", codec.encode())],
                                timestamp=1700000000000 + len(expected),
                                codec=codec))
expected.append(produce_one(plainp, "m", 0, b"user-3", b"last"))
N = len(expected)
hwm = expected[-1]["offset"] + 1

st, page, _ = get(MSG % ("m", 0), **{"from": "beginning", "limit": 500})
check(st == 200, "browse from beginning: %r %r" % (st, page))
got = [plain(m) for m in page["messages"]]
check(got == expected, "from beginning: got\n%r\nexpected\n%r"
      % (got, expected))
check(page["topic"] == "m" and page["partition"] == 0
      and page["log_start"] == 0 and page["high_watermark"] == hwm
      and page["last_stable"] == hwm and page["next_offset"] == hwm,
      "page figures %r" % {k: v for k, v in page.items() if k != "messages"})
check(all(m["timestamp_type"] == "create" and m["producer_id"] >= -1
          and m["batch_offset"] == m["offset"] for m in page["messages"]),
      "timestamp_type / batch_offset of one-record batches")

st, page, _ = get(MSG % ("m", 0), **{"from": "end", "limit": 3})
check(st == 200 and [plain(m) for m in page["messages"]] == expected[-3:],
      "from end limit 3: %r" % (page,))
check(page["next_offset"] == hwm, "from end: next_offset %r" % page)

mid = expected[4]["offset"]
st, page, _ = get(MSG % ("m", 0), **{"from": "offset", "offset": mid,
                                     "limit": 2})
check([plain(m) for m in page["messages"]] == expected[4:6],
      "from offset %d limit 2: %r" % (mid, page))
check(page["next_offset"] == expected[6]["offset"],
      "from offset: next_offset %r" % page["next_offset"])

# by timestamp: the first offset at or after it, as ListOffsets says
for ts in (1600000000000, 1600000000001, 1700000000000 + 8):
    want = [e for e in expected if e["timestamp_ms"] >= ts]
    first = min(e["offset"] for e in want)
    st, page, _ = get(MSG % ("m", 0), **{"from": "timestamp", "timestamp": ts,
                                         "limit": 500})
    check(st == 200 and [plain(m) for m in page["messages"]]
          == [e for e in expected if e["offset"] >= first],
          "from timestamp %d: %r" % (ts, page))

# paging with next_offset walks the whole partition once
pages, off = [], 0
while True:
    st, page, _ = get(MSG % ("m", 0), **{"from": "offset", "offset": off,
                                         "limit": 4})
    check(st == 200, "page at %d: %r" % (off, page))
    if not page["messages"]:
        break
    pages += [plain(m) for m in page["messages"]]
    check(page["next_offset"] > off, "paging moves on")
    off = page["next_offset"]
check(pages == expected, "pages of 4 joined: %r" % pages)

# ---- follow: a poll at next_offset answers at once, then the new record ----
st, page, _ = get(MSG % ("m", 0), **{"from": "offset", "offset": hwm})
check(st == 200 and page["messages"] == [] and page["next_offset"] == hwm,
      "follow poll with nothing new: %r" % page)
expected.append(produce_one(plainp, "m", 0, b"live", b"new record"))
st, page, _ = get(MSG % ("m", 0), **{"from": "offset", "offset": hwm})
check([plain(m) for m in page["messages"]] == expected[-1:],
      "follow poll after a produce: %r" % page)
check(page["next_offset"] == hwm + 1, "follow next_offset %r" % page)
hwm += 1

# ---- a page stops once its JSON passes 16 MiB; next_offset goes on ---------
create("large")
bigp = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
                 "message.max.bytes": 1000000})
for i in range(22):
    bigp.produce("large", value=(chr(ord("a") + i) * 800000).encode(),
                 partition=0)
bigp.flush(30)
st, page, _ = get(MSG % ("large", 0), limit=500)
n = len(page["messages"])
size = sum(m["value"]["size"] for m in page["messages"])
check(st == 200 and 16 <= n < 22 and page["next_offset"] == n
      and size >= (16 << 20) - 800000,
      "a 16 MiB page: %d records, next_offset %r" % (n, page["next_offset"]))
st, rest, _ = get(MSG % ("large", 0), limit=500,
                  **{"from": "offset", "offset": page["next_offset"]})
check([m["offset"] for m in rest["messages"]] == list(range(n, 22)),
      "the next page goes on: %r" % [m["offset"] for m in rest["messages"]])

# ---- download: JSON lines equal to the browse answer -----------------------
st, text, rh = get("/api/topics/m/partitions/0/download",
                   **{"from": "beginning"})
check(st == 200 and rh.get("Content-Type") == "application/x-ndjson",
      "download: %r %r" % (st, rh.get("Content-Type")))
check(rh.get("Content-Disposition")
      == 'attachment; filename="m-0-beginning.jsonl"',
      "Content-Disposition %r" % rh.get("Content-Disposition"))
lines = [json.loads(ln) for ln in text.split("\n") if ln]
check(text.endswith("\n"), "download ends with a newline")
check(rh.get("X-Next-Offset") == str(hwm), "X-Next-Offset %r"
      % rh.get("X-Next-Offset"))
st, page, _ = get(MSG % ("m", 0), **{"from": "beginning", "limit": 500})
check(lines == page["messages"], "download lines == browse messages")
st, text, _ = get("/api/topics/m/partitions/0/download",
                  **{"from": "end", "limit": 2})
check([json.loads(ln) for ln in text.split("\n") if ln]
      == page["messages"][-2:], "download from end limit 2")

# ---- search ----------------------------------------------------------------
st, res, _ = get("/api/topics/m/search", q="user-", **{"in": "key"})
want = [e for e in expected if e["key"] and b"user-" in e["key"]]
check(st == 200 and [plain({k: v for k, v in m.items() if k != "partition"})
                     for m in res["matches"]] == want,
      "search key user-: %r" % res)
check(all(m["partition"] == 0 for m in res["matches"]), "search partition")
check(res["scanned"] == len(expected) and res["truncated"] is False,
      "search scanned/truncated %r" % {k: res[k] for k in ("scanned",
                                                            "truncated")})
st, res, _ = get("/api/topics/m/search", q="user-", **{"in": "value"})
check(res["matches"] == [], "user- is in no value: %r" % res["matches"])
st, res, _ = get("/api/topics/m/search", q="zstd")
check([m["offset"] for m in res["matches"]]
      == [e["offset"] for e in expected if b"zstd" in (e["value"] or b"")
          or b"zstd" in (e["key"] or b"")], "search both: zstd")
# bounded: the first 3 records only
st, res, _ = get("/api/topics/m/search", q="user-", scan=3)
check(res["scanned"] == 3 and [m["offset"] for m in res["matches"]]
      == [e["offset"] for e in expected[:3] if e["key"]
          and b"user-" in e["key"]], "search scan=3: %r" % res)
# the match limit stops the search early: truncated
st, res, _ = get("/api/topics/m/search", q="user-", limit=1)
check(len(res["matches"]) == 1 and res["truncated"] is True
      and res["scanned"] == 1, "search limit=1: %r" % res)
# from the end: the last `scan` records
st, res, _ = get("/api/topics/m/search", q="e", scan=2, **{"from": "end"})
check(res["scanned"] == 2 and all(m["offset"] >= hwm - 2
                                  for m in res["matches"]),
      "search from end scan=2: %r" % res)

# ---- read_committed: aborted transactions skipped, markers never listed ----
create("tx")
tp = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
               "transactional.id": "console-msgs"})
tp.init_transactions(15)
before = produce_one(plainp, "tx", 0, b"plain-1", b"before")
tp.begin_transaction()
aborted = [produce_one(tp, "tx", 0, b"a%d" % i, b"aborted", txn=True)
           for i in range(2)]
tp.abort_transaction(15)
tp.begin_transaction()
committed = [produce_one(tp, "tx", 0, b"c%d" % i, b"committed", txn=True)
             for i in range(2)]
tp.commit_transaction(15)
after = produce_one(plainp, "tx", 0, b"plain-2", b"after")
st, page, _ = get(MSG % ("tx", 0), isolation="committed", limit=500)
check(st == 200 and [plain(m) for m in page["messages"]]
      == [before] + committed + [after], "read_committed: %r" % page)
st, page, _ = get(MSG % ("tx", 0), isolation="uncommitted", limit=500)
check([plain(m) for m in page["messages"]]
      == [before] + aborted + committed + [after],
      "read_uncommitted lists aborted records, no markers: %r" % page)
check(page["high_watermark"] == after["offset"] + 1,
      "markers take offsets: hwm %r" % page["high_watermark"])
# from the end: the last `limit` records, though markers and aborted
# records take offsets in between
st, page, _ = get(MSG % ("tx", 0), isolation="committed", limit=3,
                  **{"from": "end"})
check([plain(m) for m in page["messages"]] == committed + [after],
      "committed from end limit 3: %r" % page)
st, page, _ = get(MSG % ("tx", 0), isolation="uncommitted", limit=4,
                  **{"from": "end"})
check([plain(m) for m in page["messages"]]
      == aborted[1:] + committed + [after],
      "uncommitted from end limit 4: %r" % page)
st, res, _ = get("/api/topics/tx/search", q="committed", scan=2,
                 isolation="committed", **{"from": "end"})
check(res["scanned"] == 2 and [m["offset"] for m in res["matches"]]
      == [committed[1]["offset"]], "search from end over markers: %r" % res)
# an open transaction: committed reading stops at the last stable offset
tp.begin_transaction()
open_rec = produce_one(tp, "tx", 0, b"o", b"open", txn=True)
st, page, _ = get(MSG % ("tx", 0), isolation="committed", limit=500)
check(page["last_stable"] == open_rec["offset"]
      and page["messages"][-1]["offset"] == after["offset"]
      and page["next_offset"] <= open_rec["offset"],
      "open transaction: stops at the LSO: %r" % page)
st, page, _ = get(MSG % ("tx", 0), **{"from": "end", "limit": 1,
                                      "isolation": "uncommitted"})
check([plain(m) for m in page["messages"]] == [open_rec],
      "uncommitted sees the open transaction's record: %r" % page)
tp.commit_transaction(15)
st, page, _ = get(MSG % ("tx", 0), isolation="committed",
                  **{"from": "offset", "offset": open_rec["offset"]})
check([plain(m) for m in page["messages"]] == [open_rec],
      "committed after the commit: %r" % page)

# ---- produce through the API ------------------------------------------------
create("p4", partitions=4)
keys = [("key-%d" % i).encode() for i in range(12)]
mp = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0,
               "partitioner": "murmur2_random"})
rdk_part = {}
for k in keys:
    got = []
    mp.produce("p4", key=k, value=b"x",
               on_delivery=lambda err, msg: got.append(msg))
    mp.flush(15)
    rdk_part[k] = got[0].partition()
check(len(set(rdk_part.values())) > 1, "keys spread over partitions")
made = []
for i, k in enumerate(keys):
    body = {"key": k.decode(), "value": json.dumps({"i": i}),
            "headers": [{"key": "h", "value": "v%d" % i},
                        {"key": "bin", "value": "00ff", "value_encoding":
                         "hex"}]}
    st, res, _ = api("POST", "/api/topics/p4/messages", body)
    check(st == 201, "produce %r: %r %r" % (k, st, res))
    check(res["partition"] == rdk_part[k],
          "key %r: API partition %r, librdkafka murmur2 %r"
          % (k, res["partition"], rdk_part[k]))
    made.append(res)
# hex key and value, explicit partition and timestamp, compressed
st, res, _ = api("POST", "/api/topics/p4/messages",
                 {"partition": 3, "key": "00ff10", "key_encoding": "hex",
                  "value": "ab" * 300, "value_encoding": "hex",
                  "compression": "lz4", "timestamp_ms": 1650000000000})
check(st == 201 and res["partition"] == 3
      and res["timestamp_ms"] == 1650000000000, "produce hex: %r" % res)
hexrec = res
st, page, _ = get(MSG % ("p4", 3), **{"from": "offset",
                                      "offset": hexrec["offset"]})
m = page["messages"][0]
check(b_bytes(m["key"]) == b"\x00\xff\x10"
      and b_bytes(m["value"]) == b"\xab" * 300
      and m["compression"] == "lz4" and m["timestamp_ms"] == 1650000000000,
      "the hex record as browsed: %r" % m)
# null key: some partition, and null comes back null
st, res, _ = api("POST", "/api/topics/p4/messages", {"key": None,
                                                     "value": None})
check(st == 201 and 0 <= res["partition"] < 4, "null key: %r" % res)
st, page, _ = get(MSG % ("p4", res["partition"]),
                  **{"from": "offset", "offset": res["offset"]})
check(page["messages"][0]["key"] == {"encoding": "null", "size": 0}
      and page["messages"][0]["value"]["encoding"] == "null",
      "null key and value: %r" % page["messages"][0])

# search from one offset over partitions of different lengths: those that
# end before it have nothing to search
tail = max(r["offset"] for r in made)
st, res, _ = get("/api/topics/p4/search", q="key-", **{"from": "offset",
                                                        "offset": tail})
check(st == 200 and sorted((m["partition"], m["offset"])
                           for m in res["matches"])
      == sorted((r["partition"], r["offset"]) for r in made
                if r["offset"] >= tail), "search from offset %d: %r"
      % (tail, res))

# a LogAppendTime topic: the broker's time, in the answer and in the record
create("lat", config={"message.timestamp.type": "LogAppendTime"})
st, res, _ = api("POST", "/api/topics/lat/messages",
                 {"value": "v", "timestamp_ms": 1000})
check(st == 201 and res["timestamp_ms"] > 1000, "LogAppendTime: %r" % res)
st, page, _ = get(MSG % ("lat", 0))
check(page["messages"][0]["timestamp_type"] == "log_append"
      and page["messages"][0]["timestamp_ms"] == res["timestamp_ms"],
      "LogAppendTime record: %r" % page["messages"])

# a Kafka consumer reads what the API produced
c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-msgs",
              "enable.auto.commit": False})
c.assign([TopicPartition("p4", p, ck.OFFSET_BEGINNING) for p in range(4)])
seen = {}
deadline = time.monotonic() + 20
while len(seen) < len(keys) + len(keys) and time.monotonic() < deadline:
    msg = c.poll(0.5)
    if msg is None or msg.error():
        continue
    if msg.value() != b"x" and msg.key() in rdk_part:
        seen[msg.key()] = msg
    if msg.key() in rdk_part and msg.value() == b"x":
        seen[(msg.key(), "rdk")] = msg
c.close()
for i, k in enumerate(keys):
    msg = seen.get(k)
    check(msg is not None, "consumer saw the API's record for %r" % k)
    if msg is None:
        continue
    check(msg.partition() == made[i]["partition"]
          and msg.offset() == made[i]["offset"]
          and msg.value() == json.dumps({"i": i}).encode()
          and msg.headers() == [("h", ("v%d" % i).encode()),
                                ("bin", b"\x00\xff")]
          and msg.timestamp()[1] == made[i]["timestamp_ms"],
          "consumed %r: p%d@%d %r %r" % (k, msg.partition(), msg.offset(),
                                         msg.value(), msg.headers()))

# ---- errors -----------------------------------------------------------------
st, res, _ = get(MSG % ("nosuch", 0))
check(st == 404 and res["error"]["code"] == "UNKNOWN_TOPIC_OR_PARTITION",
      "unknown topic: %r %r" % (st, res))
st, res, _ = get(MSG % ("m", 5))
check(st == 404 and res["error"]["code"] == "UNKNOWN_TOPIC_OR_PARTITION",
      "unknown partition: %r %r" % (st, res))
st, res, _ = get("/api/topics/nosuch/search", q="x")
check(st == 404, "search unknown topic: %r %r" % (st, res))
for q in ({"from": "middle"}, {"limit": 0}, {"limit": 501},
          {"from": "offset"}, {"from": "offset", "offset": -1},
          {"from": "timestamp"}, {"isolation": "maybe"}):
    st, res, _ = get(MSG % ("m", 0), **q)
    check(st == 400 and res["error"]["code"] == "INVALID_PARAMETER",
          "bad query %r: %r %r" % (q, st, res))
st, res, _ = get(MSG % ("m", 0), **{"from": "offset", "offset": hwm + 5})
check(st == 404 and res["error"]["code"] == "OFFSET_OUT_OF_RANGE",
      "offset past the end: %r %r" % (st, res))
st, res, _ = api("GET", "/api/topics/m/partitions/x/messages")
check(st == 400, "partition x: %r %r" % (st, res))
st, res, _ = get("/api/topics/m/partitions/0/download", limit=100001)
check(st == 400, "download limit 100001: %r" % st)
for q in ({}, {"q": "a", "in": "neither"}, {"q": "a", "scan": 0},
          {"q": "a", "scan": 100001}):
    st, res, _ = get("/api/topics/m/search", **q)
    check(st == 400, "bad search %r: %r %r" % (q, st, res))
st, res, _ = api("POST", "/api/topics/nosuch/messages", {"value": "v"})
check(st == 404 and res["error"]["code"] == "UNKNOWN_TOPIC_OR_PARTITION",
      "produce unknown topic: %r %r" % (st, res))
st, res, _ = api("POST", "/api/topics/p4/messages", {"partition": 9,
                                                     "value": "v"})
check(st == 404 and res["error"]["code"] == "UNKNOWN_TOPIC_OR_PARTITION",
      "produce unknown partition: %r %r" % (st, res))
for body in ({"value": "v", "compression": "brotli"},
             {"value": "zz", "value_encoding": "hex"},
             {"value": 5}, {"partition": "one", "value": "v"},
             {"headers": [{"value": "no key"}]}):
    st, res, _ = api("POST", "/api/topics/p4/messages", body)
    check(st == 400, "bad produce %r: %r %r" % (body, st, res))
create("small", config={"max.message.bytes": "1000"})
st, res, _ = api("POST", "/api/topics/small/messages",
                 {"partition": 0, "value": "v" * 5000})
check(st == 400 and res["error"]["code"] in ("MESSAGE_TOO_LARGE",
                                             "RECORD_LIST_TOO_LARGE"),
      "too large: %r %r" % (st, res))
st, page, _ = get(MSG % ("small", 0))
check(page["messages"] == [] and page["high_watermark"] == 0,
      "nothing written by the refused produce: %r" % page)

# ---- the console obeys the caller's ACLs ------------------------------------
# (the ACL denies READ and WRITE, not CREATE or DESCRIBE)
create("secret")
for path, what in ((MSG % ("secret", 0), "browse"),
                   ("/api/topics/secret/partitions/0/download", "download"),
                   ("/api/topics/secret/search?q=h", "search")):
    st, res, _ = api("GET", path)
    check(st == 403 and res["error"]["code"] == "TOPIC_AUTHORIZATION_FAILED",
          "%s a denied topic: %r %r" % (what, st, res))
st, res, _ = api("POST", "/api/topics/secret/messages", {"partition": 0,
                                                         "value": "v"})
check(st == 403 and res["error"]["code"] == "TOPIC_AUTHORIZATION_FAILED",
      "produce to a denied topic: %r %r" % (st, res))
st, res, _ = get(MSG % ("m", 0), limit=1)
check(st == 200 and len(res["messages"]) == 1, "other topics are readable")

rc = b.stop()
check(rc == 0, "the broker exits cleanly: %r\n%s" % (rc, b.stderr()[-4000:]))
check("Sanitizer" not in b.stderr() and "runtime error" not in b.stderr(),
      "sanitizer reports:\n%s" % b.stderr()[-4000:])
if failures:
    ndtest.fail("%d check(s) failed" % len(failures))
ndtest.passed()
