"""test_acls_durable.py — the ACLs of `nodata serve` (authorizer.class.name
set) live in DATA/security/acls and survive a restart; a damaged file or
an authorizer nodata does not have stops the broker from starting (with
the file and line named) instead of opening everything; with no ACL and
allow.everyone.if.no.acl.found at its default (false) nothing is allowed;
super.users are; `nodata acls add` refuses while a broker holds the
directory (pointing to kafka-acls.sh), works while it is stopped, and the
broker then enforces what it wrote; `nodata acls list` works beside a
running broker.
"""
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import test_acl_matrix as m  # noqa: E402
import test_kafka_versions as kv  # noqa: E402

ANON = "User:ANONYMOUS"
AUTHZ = ("authorizer.class.name="
         "org.apache.kafka.metadata.authorizer.StandardAuthorizer\n")


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def cli(*args, data):
    r = subprocess.run([ndtest.nodata_bin(), "acls"] + list(args) +
                       ["--data", data], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


class Plain(m.Conn):
    """A PLAINTEXT connection: the principal is User:ANONYMOUS."""

    def __init__(self, bootstrap):
        kv.Conn.__init__(self, int(bootstrap.rsplit(":", 1)[1]))


def conn(b):
    return Plain(b.bootstrap)


def metadata_error(b, topic):
    c = conn(b)
    try:
        r = c.kp(m.MetadataRequest[4]([topic], False))
    finally:
        c.s.close()
    return r["topics"][0]["error_code"]


def create_acl_error(b):
    c = conn(b)
    try:
        rd = c.call_classic(30, 1, m.arr([
            m.i8(m.GROUP) + m.s("g") + m.i8(3) + m.s(ANON) + m.s("*") +
            m.i8(m.READ) + m.i8(3)]))
        rd.i32()
        return m.rarr(rd, lambda r: r.i16())[0]
    finally:
        c.s.close()


def acl_count(b):
    c = conn(b)
    try:
        return m.count_acls(c, None)
    finally:
        c.s.close()


def start_fails(data, config, want):
    """serve must exit (status 1) saying `want`, not start."""
    try:
        b = ndtest.Broker(data_dir=data, args=["--config", config])
    except ndtest.BrokerError as e:
        check("exited with status 1" in str(e) and want in str(e),
              "serve's refusal does not say %r:\n%s" % (want, e))
        return
    b.stop(check=False)
    ndtest.fail("serve started with %s" % want)


def main():
    tmp = tempfile.mkdtemp(prefix="nd-aclsdur-")
    data = os.path.join(tmp, "data")
    config = os.path.join(tmp, "server.properties")
    with open(config, "w") as f:
        f.write(AUTHZ)
    subprocess.run([ndtest.nodata_bin(), "topics", "create", "t", "--data",
                    data], check=True, capture_output=True, timeout=60)

    # No ACL, allow.everyone.if.no.acl.found false: nothing is allowed,
    # managing ACLs included.
    b = ndtest.Broker(data_dir=data, args=["--config", config])
    check(metadata_error(b, "t") == 29, "Metadata without ACLs allowed")
    check(create_acl_error(b) == 31, "CreateAcls without ACLs allowed")
    c = conn(b)
    check(m.describe_scram(c, 0) == 31,
          "DescribeUserScramCredentials without ACLs allowed")
    c.s.close()
    rc, out, err = cli("add", "--allow-principal", ANON, "--cluster",
                       data=data)
    check(rc == 1 and "kafka-acls.sh --bootstrap-server" in err,
          "acls add beside a running broker: %d %r %r" % (rc, out, err))
    rc, out, err = cli("list", data=data)
    check(rc == 0 and out == "", "acls list beside the broker: %d %r %r"
          % (rc, out, err))
    ndtest.stop_clean(b)

    # Written while it is stopped, enforced once it starts.
    for res in (["--cluster"], ["--topic", "*"]):
        rc, out, err = cli("add", "--allow-principal", ANON, *res,
                           data=data)
        check(rc == 0, "acls add %s: %d %s" % (res, rc, err))
    b.start()
    check(metadata_error(b, "t") == 0, "Metadata with ALL on topic *")
    check(create_acl_error(b) == 0, "CreateAcls with ALL on the cluster")
    check(acl_count(b) == 3, "DescribeAcls: %d ACLs" % acl_count(b))
    # ALL on the cluster covers the SCRAM credential APIs too.
    c = conn(b)
    check(m.describe_scram(c, 0) == 0, "DescribeUserScramCredentials")
    c.s.close()
    # A restart keeps what CreateAcls added.
    b.restart()
    check(acl_count(b) == 3, "after a restart: %d ACLs" % acl_count(b))
    ndtest.stop_clean(b)
    rc, out, err = cli("list", "--group", "g", data=data)
    check(rc == 0 and "name=g, patternType=LITERAL" in out and
          "operation=READ, permissionType=ALLOW" in out,
          "acls list --group g: %r %r" % (out, err))

    # super.users: allowed without any ACL of theirs.
    acls = os.path.join(data, "security", "acls")
    saved = open(acls, "rb").read()
    os.unlink(acls)
    with open(config, "w") as f:
        f.write(AUTHZ + "super.users=User:admin;User:ANONYMOUS\n")
    b.start()
    check(metadata_error(b, "t") == 0, "a super user denied")
    ndtest.stop_clean(b)

    # A damaged file, a foreign authorizer, a bad boolean: no start.
    with open(acls, "wb") as f:
        f.write(saved + b"TOPIC\tLITERAL\tt\tUser:x\t*\tREED\tALLOW\n")
    lines = saved.count(b"\n") + 1
    start_fails(data, config, "security/acls:%d: unknown operation" % lines)
    with open(acls, "wb") as f:
        f.write(saved)
    with open(config, "w") as f:
        f.write("authorizer.class.name=com.example.Mine\n")
    start_fails(data, config, "authorizer.class.name=com.example.Mine")
    with open(config, "w") as f:
        f.write(AUTHZ + "allow.everyone.if.no.acl.found=yes\n")
    start_fails(data, config, "allow.everyone.if.no.acl.found=yes")
    # Without an authorizer the file is not read: ACL APIs answer
    # SECURITY_DISABLED and everything is allowed, as in Kafka.
    with open(acls, "wb") as f:
        f.write(b"garbage\n")
    b2 = ndtest.Broker(data_dir=data)
    check(metadata_error(b2, "t") == 0, "no authorizer: Metadata refused")
    check(create_acl_error(b2) == 54, "no authorizer: CreateAcls not 54")
    ndtest.stop_clean(b2)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    ndtest.passed()


if __name__ == "__main__":
    _ = struct
    main()
