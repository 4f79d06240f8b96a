"""test_cli_consume.py — `nodata consume` output formats, -o past the end
and -G GROUP, on records a Kafka client wrote through `nodata serve`.

1. --format FMT (kcat's -f tokens %t %p %o %k %s %K %S %T %h %%, escapes
   \\n \\t \\xXX): every token for records with a null key, an empty key, a
   null value (tombstone), an empty value and headers (one with a null
   value); %K/%S are -1 for null and 0 for empty. Text output and %k/%s
   print a null field as "null" (Kafka's console consumer does), --null
   changes that, an empty field prints nothing. JSON keeps null apart too.
   A bad token or escape is a usage error (exit 2).
2. -o N past the log end: said on stderr (exit 0, nothing printed);
   with -f it waits and prints the record at offset N once it is written,
   not the ones before it. -o N below the log start (records deleted with
   DeleteRecords): said on stderr, and it starts at the log start.
3. -G GROUP: runs with -n continue where the previous one committed; the
   committed offsets are those a Kafka AdminClient then reads through the
   broker, and a Kafka consumer of the group resumes there; a committed
   offset outside the log starts at -o (default: the log start), said on
   stderr. While the broker holds the directory -G is refused (exit 1)
   naming the broker and the Kafka-client way; -G with -f is a usage
   error.
"""
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

N = ndtest.nodata_bin()


def run(*args, ok=(0,), data):
    r = subprocess.run([N, *args, "--data", data], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    if r.returncode not in ok:
        ndtest.fail("nodata %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                 r.stderr.decode()))
    return r


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def produce(bootstrap, topic, records):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for part, key, value, headers in records:
        p.produce(topic, key=key, value=value, partition=part,
                  headers=headers, timestamp=1700000000000)
        p.flush(30)
    check(p.flush(30) == 0, "produce: messages left unsent")


def delete_records(bootstrap, topic, partition, before):
    """DeleteRecords v0: records below `before` go; checks no error."""
    host, port = bootstrap.split(":")
    t = topic.encode()
    body = (struct.pack(">ih", 1, len(t)) + t +
            struct.pack(">iiq", 1, partition, before) + struct.pack(">i", 30000))
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        ndtest.kafka_request(sock, 21, 0, 7, body)
        resp = ndtest.recv_frame(sock, 30)
    # corr id, throttle, 1 topic (name), 1 partition: index, low wm, error
    off = 4 + 4 + 4 + 2 + len(t) + 4
    index, low, err = struct.unpack_from(">iqh", resp, off)
    check(err == 0 and low == before, "DeleteRecords: error %d, low %d" % (
        err, low))


def committed(bootstrap, group, topic, parts):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in parts], 30)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def main(b):
    data = b.data_dir
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for f in admin.create_topics([NewTopic("fmt", 1, 1), NewTopic("grp", 2, 1),
                                  NewTopic("del", 1, 1)]).values():
        f.result(30)
    produce(b.bootstrap, "fmt", [
        (0, b"k1", b"v1", [("h1", b"a"), ("h2", None)]),
        (0, None, b"nokey", None),
        (0, b"", b"emptykey", None),
        (0, b"k2", None, None),
        (0, b"k3", b"", None),
    ])
    produce(b.bootstrap, "grp",
            [(0, None, b"a%d" % i, None) for i in range(10)] +
            [(1, None, b"b%d" % i, None) for i in range(5)])

    produce(b.bootstrap, "del", [(0, None, b"d%d" % i, None) for i in range(4)])
    delete_records(b.bootstrap, "del", 0, 2)

    # -G while the broker holds the directory: refused, saying what to do.
    r = run("consume", "grp", "-G", "g1", ok=(1,), data=data)
    err = r.stderr.decode()
    check("held by pid %d (nodata serve" % b.pid in err, "-G held: " + err)
    check("kcat -b HOST:PORT -G g1 grp" in err and "or stop the broker" in err,
          "-G held: no way out named: " + err)
    b.stop()

    # ---- 1. formats ------------------------------------------------------------
    r = run("consume", "fmt", "--format",
            r"%t|%p|%o|%k|%K|%s|%S|%T|%h|%%\x41\t.\n", data=data)
    want = ("fmt|0|0|k1|2|v1|2|1700000000000|h1=a,h2=null|%A\t.\n"
            "fmt|0|1|null|-1|nokey|5|1700000000000||%A\t.\n"
            "fmt|0|2||0|emptykey|8|1700000000000||%A\t.\n"
            "fmt|0|3|k2|2|null|-1|1700000000000||%A\t.\n"
            "fmt|0|4|k3|2||0|1700000000000||%A\t.\n")
    check(r.stdout.decode() == want, "--format:\n%s\nwant\n%s" % (
        r.stdout.decode(), want))
    r = run("consume", "fmt", "--format", r"[%k][%s]\n", "--null", "", data=data)
    check(r.stdout == b"[k1][v1]\n[][nokey]\n[][emptykey]\n[k2][]\n[k3][]\n",
          "--null '': %r" % r.stdout)
    r = run("consume", "fmt", "-K", "=", data=data)
    check(r.stdout == b"k1=v1\nnull=nokey\n=emptykey\nk2=null\nk3=\n",
          "text -K: %r" % r.stdout)
    r = run("consume", "fmt", "--format", "json", "-o", "1", "-n", "3", data=data)
    lines = r.stdout.decode().splitlines()
    check('"key":null,"value":"nokey"' in lines[0] and
          '"key":"","value":"emptykey"' in lines[1] and
          '"key":"k2","value":null' in lines[2], "json nulls: %r" % lines)
    for bad in ("%q", r"%k\q", "%", "plain"):
        r = run("consume", "fmt", "--format", bad, ok=(2,), data=data)
        check(b"bad --format" in r.stderr, "--format %r: %r" % (bad, r.stderr))

    # ---- 2. -o past the end --------------------------------------------------------
    r = run("consume", "fmt", "-o", "9", data=data)
    check(r.stdout == b"", "-o 9 printed %r" % r.stdout)
    check(b"partition 0: offset 9 is past the log end 5: nothing to read"
          in r.stderr, "-o 9: %r" % r.stderr)
    follow = subprocess.Popen([N, "consume", "fmt", "-o", "7", "-f", "-n", "1",
                               "--format", r"%o %s\n", "--data", data],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Its stderr line says it waits; then offsets 5, 6, 7 are written.
    line = follow.stderr.readline()
    check(b"offset 7 is past the log end 5; waiting for it" in line,
          "-o 7 -f: %r" % line)
    subprocess.run([N, "produce", "fmt", "-q", "--data", data],
                   input=b"r5\nr6\nr7\nr8\n", check=True, timeout=120)
    try:
        out, _ = follow.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        follow.kill()
        ndtest.fail("-o 7 -f never printed offset 7")
    check(follow.returncode == 0 and out == b"7 r7\n",
          "-o 7 -f: exit %d, %r" % (follow.returncode, out))

    r = run("consume", "del", "-o", "0", data=data)
    check(r.stdout == b"d2\nd3\n", "-o 0 below the log start: %r" % r.stdout)
    check(b"partition 0: offset 0 is below the log start 2" in r.stderr and
          b"starting at 2" in r.stderr, "-o 0 below the start: %r" % r.stderr)

    # ---- 3. -G -----------------------------------------------------------------
    r = run("consume", "grp", "-G", "g1", "-f", ok=(2,), data=data)
    check(b"-G and -f do not go together" in r.stderr, "-G -f: %r" % r.stderr)
    r = run("consume", "grp", "-G", "g1", "-n", "4", data=data)
    check(r.stdout == b"a0\na1\na2\na3\n", "-G first run: %r" % r.stdout)
    r = run("consume", "grp", "-G", "g1", "-n", "8", data=data)
    check(r.stdout == b"a4\na5\na6\na7\na8\na9\nb0\nb1\n",
          "-G second run: %r" % r.stdout)
    # A partition only -p names moves alone.
    r = run("consume", "grp", "-G", "g1", "-p", "1", "-n", "1", data=data)
    check(r.stdout == b"b2\n", "-G -p 1: %r" % r.stdout)
    b.start()
    got = committed(b.bootstrap, "g1", "grp", [0, 1])
    check(got == {0: 10, 1: 3}, "committed through the broker: %r" % got)
    # A Kafka consumer of the group goes on from there.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g1",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("grp", 1)])
    m = c.poll(30)
    check(m is not None and not m.error() and m.value() == b"b3",
          "Kafka consumer of g1: %r" % (m and (m.error() or m.value())))
    # Commit an offset past the end for group g2 through the broker.
    c.close()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g2",
                  "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition("grp", 0, 50)], asynchronous=False)
    c.close()
    b.stop()
    r = run("consume", "grp", "-G", "g2", "-p", "0", "-n", "1", data=data)
    check(r.stdout == b"a0\n", "-G g2 outside the log: %r" % r.stdout)
    check(b"group g2's committed offset 50 is outside the log (0 to 10); "
          b"starting at the log start" in r.stderr, "g2: %r" % r.stderr)
    r = run("consume", "grp", "-G", "g2", "-p", "0", data=data)
    check(r.stdout.count(b"\n") == 9 and r.stdout.startswith(b"a1\n"),
          "-G g2 after the reset: %r" % r.stdout)
    r = run("consume", "grp", "-G", "g2", "-p", "0", data=data)
    check(r.stdout == b"", "-G g2 at the end: %r" % r.stdout)


with ndtest.Broker() as b:
    main(b)
ndtest.passed()
