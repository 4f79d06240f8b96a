"""test_diff_scram_admin.py — SCRAM credentials managed through the Kafka
protocol (AlterUserScramCredentials, DescribeUserScramCredentials), the
same steps on Apache Kafka 4.4 and on nodata, the answers compared.

Kafka's kafka-configs (ConfigCommand) as a Kafka user runs it: add
SCRAM-SHA-256 (8192 iterations) and SCRAM-SHA-512 for alice, describe her
and every user, refuse too few and too many iterations, delete a
credential nobody has, delete one of alice's; its exit status and what it
printed (its first line, the first exception's) must be the same on both.
(kafka-configs --describe --entity-type users also asks for client quotas,
DescribeClientQuotas, which is the quota part's: the describing is done on
the wire here.) Then on the
wire, DescribeUserScramCredentials v0 naming alice twice, an unknown user
and bob: the per-user error codes and messages (DUPLICATE_RESOURCE,
RESOURCE_NOT_FOUND with Kafka's texts) and credential infos must match.
Finally nodata's credential works: a SCRAM-SHA-256 client logs in as
alice with the password kafka-configs set (the broker above also listens
with SASL, so the test starts a second nodata broker on its data
directory).
"""
import os
import shutil
import socket
import struct
import subprocess
import tempfile

import differential
import ndtest
from apache_kafka import classpath

CP = classpath()
T = "org.apache.kafka.tools."


def tool(bootstrap, *args):
    r = subprocess.run(["java", "-Xmx256m", "-cp", CP, T + "ConfigCommand",
                        "--bootstrap-server", bootstrap] + list(args),
                       capture_output=True, timeout=120)
    text = (r.stdout + r.stderr).decode(errors="replace")
    lines = [ln.replace(bootstrap, "BOOTSTRAP") for ln in text.splitlines()
             if ln and "SLF4J" not in ln and not ln.startswith("\tat ")]
    # What it says: its first line, and the first exception's (the error
    # the broker answered, as the admin client words it).
    exc = [ln for ln in lines if "Exception" in ln]
    return {"status": r.returncode, "first_line": lines[0] if lines else "",
            "exception": exc[0] if exc else ""}


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def read_uvarint(buf, off):
    n = shift = 0
    while True:
        b = buf[off]
        off += 1
        n |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return n, off


def compact_str(buf, off):
    n, off = read_uvarint(buf, off)
    if n == 0:
        return None, off
    return buf[off:off + n - 1].decode(), off + n - 1


def describe_raw(bootstrap, names):
    """DescribeUserScramCredentials v0 (flexible) over a socket."""
    host, port = bootstrap.rsplit(":", 1)
    body = uvarint(len(names) + 1)
    for n in names:
        b = n.encode()
        body += uvarint(len(b) + 1) + b + b"\0"
    body += b"\0"
    hdr = struct.pack(">hhih", 50, 0, 7, 6) + b"ndtest" + b"\0"
    with socket.create_connection((host, int(port)), timeout=30) as s:
        msg = hdr + body
        s.sendall(struct.pack(">i", len(msg)) + msg)
        f = ndtest.recv_frame(s, timeout=30)
    off = 4 + 1  # correlation id, header tags
    _, err = struct.unpack(">ih", f[off:off + 6])
    off += 6
    msg, off = compact_str(f, off)
    n, off = read_uvarint(f, off)
    results = []
    for _ in range(n - 1):
        user, off = compact_str(f, off)
        (uerr,) = struct.unpack(">h", f[off:off + 2])
        off += 2
        umsg, off = compact_str(f, off)
        k, off = read_uvarint(f, off)
        infos = []
        for _ in range(k - 1):
            mech, it = struct.unpack(">bi", f[off:off + 5])
            off += 5 + 1
            infos.append([mech, it])
        off += 1
        results.append({"user": user, "error": uerr, "message": umsg,
                        "infos": infos})
    return {"error": err, "message": msg,
            "results": sorted(results, key=lambda r: r["user"])}


def scenario(bootstrap):
    users = ["--entity-type", "users"]
    steps = {}
    # Two mechanisms of one user in one request: Kafka's controller refuses
    # both (DUPLICATE_RESOURCE), one at a time they are set.
    steps["add_both"] = tool(bootstrap, "--alter", *users, "--entity-name",
                             "alice", "--add-config",
                             "SCRAM-SHA-256=[iterations=8192,password=a],"
                             "SCRAM-SHA-512=[password=a]")
    steps["add"] = tool(bootstrap, "--alter", *users, "--entity-name",
                        "alice", "--add-config",
                        "SCRAM-SHA-256=[iterations=8192,password=alice-pw]")
    steps["add_512"] = tool(bootstrap, "--alter", *users, "--entity-name",
                            "alice", "--add-config",
                            "SCRAM-SHA-512=[password=alice-pw]")
    steps["add_bob"] = tool(bootstrap, "--alter", *users, "--entity-name",
                            "bob", "--add-config",
                            "SCRAM-SHA-512=[password=bob-pw]")
    steps["too_few"] = tool(bootstrap, "--alter", *users, "--entity-name",
                            "carol", "--add-config",
                            "SCRAM-SHA-256=[iterations=1000,password=x]")
    steps["too_many"] = tool(bootstrap, "--alter", *users, "--entity-name",
                             "carol", "--add-config",
                             "SCRAM-SHA-256=[iterations=20000,password=x]")
    steps["delete_missing"] = tool(bootstrap, "--alter", *users,
                                   "--entity-name", "nobody",
                                   "--delete-config", "SCRAM-SHA-512")
    steps["wire"] = describe_raw(bootstrap, ["alice", "alice", "zed", "bob"])
    steps["delete"] = tool(bootstrap, "--alter", *users, "--entity-name",
                           "alice", "--delete-config", "SCRAM-SHA-512")
    steps["wire_all"] = describe_raw(bootstrap, [])
    return steps


want, got = differential.run_both(scenario)
for k in sorted(want):
    print("%s:\n  kafka:  %s\n  nodata: %s" % (k, want[k], got[k]))
differential.compare(want, got, what="SCRAM credentials through the "
                     "Kafka protocol")


# The credential kafka-configs stored logs alice in (nodata only: a second
# broker on a SASL listener over a data directory holding it).
def login_check():
    ck = ndtest.require("confluent_kafka")
    from confluent_kafka.admin import AdminClient
    tmp = tempfile.mkdtemp(prefix="nd-scram-")
    conf = os.path.join(tmp, "server.properties")
    with open(conf, "w") as f:
        f.write("listeners=PLAINTEXT://127.0.0.1:0\n")
    data = os.path.join(tmp, "data")
    with ndtest.Broker(data_dir=data, listen=False,
                       args=["--config", conf]) as b:
        tool(b.bootstrap, "--alter", "--entity-type", "users",
             "--entity-name", "alice", "--add-config",
             "SCRAM-SHA-256=[password=alice-pw]")
        ndtest.stop_clean(b)
    with open(conf, "w") as f:
        f.write("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
                "sasl.enabled.mechanisms=SCRAM-SHA-256\n")
    with ndtest.Broker(data_dir=data, listen=False,
                       args=["--config", conf]) as b:
        errors = []
        a = AdminClient({"bootstrap.servers": b.bootstrap,
                         "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "SCRAM-SHA-256",
                         "sasl.username": "alice", "sasl.password":
                         "alice-pw", "error_cb": errors.append})
        try:
            a.list_topics(timeout=30)
        except Exception as e:
            ndtest.fail("alice cannot log in with kafka-configs' password: "
                        "%s %s" % (e, errors))
        ndtest.stop_clean(b)
    shutil.rmtree(tmp, ignore_errors=True)
    print("alice logs in with SCRAM-SHA-256 and the password kafka-configs "
          "set")


login_check()
ndtest.passed()
