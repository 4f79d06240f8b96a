"""test_acls.py — DescribeAcls, CreateAcls and DeleteAcls against Apache
Kafka 4.4 (no authorizer configured, its default) and nodata (no ACLs), in
the same run, through Kafka's own kafka-acls tool (AclCommand): its exit
status and output must be the same for --list, --add and --remove:
SECURITY_DISABLED on each, with Kafka's texts ("No Authorizer is
configured on the broker" for the first two, "No Authorizer is
configured." for --remove).

MirrorMaker 2 lists the source's topic ACLs every interval; an API nodata
did not serve made it log an ERROR each time, SECURITY_DISABLED is what it
takes for "nothing to copy" (test_migrate_to_kafka.py runs it).
"""
import os
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


def scenario(bootstrap):
    """kafka-acls (AclCommand) listing, adding and removing: exit status
    and what it printed, for each."""
    out = []
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
print("Kafka:", [(w["args"][0], w["exit"], w["output"][:1]) for w in want])
if not any("No Authorizer is configured" in line
           for line in want[0]["output"]):
    ndtest.fail("kafka-acls --list on Apache Kafka without an authorizer "
                "printed %r, not SECURITY_DISABLED's message: the oracle "
                "changed" % want[0])
differential.compare(want, got, what="ACL APIs without an authorizer")
ndtest.passed()
