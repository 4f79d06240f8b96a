"""test_acls.py — DescribeAcls, CreateAcls and DeleteAcls against Apache
Kafka 4.4 (no authorizer configured, its default) and nodata (no ACLs), in
the same run, through Kafka's own kafka-acls tool (AclCommand): its exit
status and output must be the same for --list, --add and --remove:
SECURITY_DISABLED on each, with Kafka's texts ("No Authorizer is
configured on the broker" for the first two, "No Authorizer is
configured." for --remove). The same three APIs at v1 (classic
encoding), written by hand, their responses decoded and compared whole.

MirrorMaker 2 lists the source's topic ACLs every interval; an API nodata
did not serve made it log an ERROR each time, SECURITY_DISABLED is what it
takes for "nothing to copy" (test_migrate_to_kafka.py runs it).
"""
import os
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402

from apache_kafka import classpath  # noqa: E402

CP = classpath()
ACLS = [["--list"],
        ["--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--topic", "orders"],
        ["--remove", "--topic", "orders", "--force"]]


def _str(s):
    return struct.pack(">h", -1) if s is None else \
        struct.pack(">h", len(s)) + s


def _filter(name):
    # ANY resource type (1), name, ANY pattern (1), any principal and
    # host, ANY operation (1) and permission (1)
    return struct.pack(">b", 1) + _str(name) + struct.pack(">b", 1) + \
        _str(None) + _str(None) + struct.pack(">bb", 1, 1)


def raw_v1(bootstrap):
    """DescribeAcls, CreateAcls and DeleteAcls v1 (the classic encoding;
    the Java tool sends the flexible v3), each response decoded whole."""
    def errs(r, at, n):
        out = []
        for _ in range(n):
            code, ml = struct.unpack_from(">hh", r, at)
            msg = None if ml < 0 else r[at + 4:at + 4 + ml].decode()
            at += 4 + max(ml, 0)
            out.append((code, msg))
        return out, at
    host, port = bootstrap.rsplit(":", 1)
    got = {}
    with socket.create_connection((host, int(port)), timeout=30) as sk:
        ndtest.kafka_request(sk, 29, 1, 1, _filter(None))
        r = ndtest.recv_frame(sk, 30)
        (e, at) = errs(r, 8, 1)
        got["describe"] = e + [struct.unpack_from(">i", r, at)[0], len(r)]
        creation = struct.pack(">b", 2) + _str(b"orders") + \
            struct.pack(">b", 3) + _str(b"User:alice") + _str(b"*") + \
            struct.pack(">bb", 3, 3)
        ndtest.kafka_request(sk, 30, 1, 2, struct.pack(">i", 2) +
                             creation * 2)
        r = ndtest.recv_frame(sk, 30)
        (e, at) = errs(r, 12, struct.unpack_from(">i", r, 8)[0])
        got["create"] = e + [len(r)]
        ndtest.kafka_request(sk, 31, 1, 3, struct.pack(">i", 2) +
                             _filter(b"orders") + _filter(None))
        r = ndtest.recv_frame(sk, 30)
        at, res = 12, []
        for _ in range(struct.unpack_from(">i", r, 8)[0]):
            (e, at) = errs(r, at, 1)
            res.append(e + [struct.unpack_from(">i", r, at)[0]])
            at += 4
        got["delete"] = res + [len(r)]
    return got


def scenario(bootstrap):
    """kafka-acls (AclCommand) listing, adding and removing: exit status
    and what it printed, for each; then the v1 requests by hand."""
    out = [raw_v1(bootstrap)]
    for args in ACLS:
        r = subprocess.run(["java", "-Xmx256m", "-cp", CP,
                            "org.apache.kafka.tools.AclCommand",
                            "--bootstrap-server", bootstrap] + args,
                           capture_output=True, timeout=120)
        text = (r.stdout + r.stderr).decode(errors="replace")
        out.append({"args": args, "exit": r.returncode, "output": [
            line.replace(bootstrap, "BOOTSTRAP") for line in text.splitlines()
            if line.strip() and "SLF4J" not in line]})
    return out


want, got = differential.run_both(scenario)
print("Kafka:", want[0],
      [(w["args"][0], w["exit"], w["output"][:1]) for w in want[1:]])
if not any("No Authorizer is configured" in line
           for line in want[1]["output"]):
    ndtest.fail("kafka-acls --list on Apache Kafka without an authorizer "
                "printed %r, not SECURITY_DISABLED's message: the oracle "
                "changed" % want[1])
differential.compare(want, got, what="ACL APIs without an authorizer")
ndtest.passed()
