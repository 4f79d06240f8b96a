"""test_cli_groups.py — `nodata groups` (list, describe, lag,
reset-offsets, delete) on a data directory and, with --bootstrap, through
nodata serve and Apache Kafka, checked three ways:

1. One scenario on both brokers (differential.run_both): a real client
   (confluent_kafka) produces with known timestamps and commits offsets in
   a group; while its member is active, describe (offsets, --members,
   --state) and a refused reset; after it leaves, every reset option with
   --execute (--to-earliest, --to-latest, --to-offset, --shift-by,
   --to-datetime, a new group by reset), a dry run, lag, delete. After each
   reset a client reads the group's committed offsets: they must be the
   ones the plan printed and the ones the test computes. nodata's CLI output
   on nodata and on Kafka must be the same (tables parsed; consumer ids and
   the coordinator's address normalised).
2. On Kafka, kafka-consumer-groups.sh (Kafka 4.4's ConsumerGroupCommand)
   runs the same commands (a reset as --dry-run just before nodata's
   --execute, so it plans on the same state): its tables must have the same
   columns and numbers as nodata's CLI.
3. On nodata's data directory: read beside the running broker (describe
   works, a reset --execute is refused with a pointer to --bootstrap);
   after the broker stops, list/describe/lag/reset/delete with --data and
   checks of the numbers, then the broker restarted on the directory and a
   client reading the offsets the CLI wrote.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import differential  # noqa: E402
from apache_kafka import ApacheKafka, classpath  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

CP = classpath()
NODATA = ndtest.nodata_bin()
BASE_TS = 1700000000000  # record i of t1: BASE_TS + i s, partition i % 3
# 7 s after BASE_TS, with a zone so that the machine's TZ does not matter.
DATETIME = "2023-11-14T22:13:27.000Z"
LATE = "2031-01-01T00:00:00.000Z"
WHERE = ["nodata"]  # the broker the scenario runs on, for messages


def cli(*args, bootstrap=None, data=None, rc=0):
    """nodata groups ARGS; returns (stdout, stderr); fails on another exit
    status than rc."""
    cmd = [NODATA, "groups"] + list(args)
    if bootstrap:
        cmd += ["--bootstrap", bootstrap]
    if data:
        cmd += ["--data", data]
    r = subprocess.run(cmd, capture_output=True, timeout=120)
    out, err = r.stdout.decode(), r.stderr.decode()
    if r.returncode != rc:
        ndtest.fail("on %s: %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s"
                    % (WHERE[0], " ".join(cmd), r.returncode, rc, out, err))
    return out, err


def kafka_tool(args, bootstrap):
    """kafka-consumer-groups.sh with nodata's arguments translated: the
    action becomes --ACTION, a positional group --group G."""
    action, rest = args[0], list(args[1:])
    kargs = ["--" + action]
    if rest and not rest[0].startswith("-"):
        kargs += ["--group", rest.pop(0)]
    kargs += rest
    r = subprocess.run(["java", "-Xmx256m", "-cp", CP,
                        "org.apache.kafka.tools.consumer.group."
                        "ConsumerGroupCommand", "--bootstrap-server",
                        bootstrap] + kargs, capture_output=True, timeout=120)
    out = r.stdout.decode(errors="replace")
    err = "\n".join(line for line in r.stderr.decode(errors="replace")
                    .splitlines() if "SLF4J" not in line)
    if r.returncode != 0:
        ndtest.fail("kafka-consumer-groups %s: exit %d\n%s\n%s"
                    % (" ".join(kargs), r.returncode, out, err))
    return out, err


def table(out):
    """A printed table as its header and its rows (sorted: Kafka's tool
    prints partitions in hash order), cells split at whitespace; a
    consumer id becomes CONSUMER, the coordinator's "host:port  (id)"
    COORDINATOR."""
    out = re.sub(r"\S+:\d+\s+\(\d+\)", "COORDINATOR", out)
    out = re.sub(r"\b[\w.-]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}"
                 r"-[0-9a-f]{12}\b", "CONSUMER", out)
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln[0].startswith(("Error", "Warn"))]
    if lines and lines[0][0] != "GROUP":  # `list`: names, no header
        return {"names": sorted(ln[0] for ln in lines)}
    if not lines:
        return {"header": [], "rows": []}
    return {"header": lines[0], "rows": sorted(lines[1:])}


def refusal(text):
    """The words of a refused reset that Kafka's tool and nodata's share:
    the group and its state."""
    m = re.search(r"assignments can only be reset if the group '([^']*)' is "
                  r"inactive, but the current state is (\w+)", text, re.I)
    return list(m.groups()) if m else text


def committed(bs, group, parts):
    """The group's committed offsets as a client reads them (-1: none)."""
    c = Consumer({"bootstrap.servers": bs, "group.id": group,
                  "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(t, p) for t, p in parts],
                          timeout=30)
    finally:
        c.close()
    return {"%s-%d" % (tp.topic, tp.partition):
            tp.offset if tp.offset >= 0 else -1 for tp in got}


def check(cond, what, detail=""):
    if not cond:
        ndtest.fail("on %s: %s\n%s" % (WHERE[0], what, detail))


T1 = [("t1", p) for p in range(3)]


def plan_of(out):
    """{"t1-0": new offset} from a reset's table."""
    return {"%s-%s" % (r[1], r[2]): int(r[3]) for r in table(out)["rows"]}


def scenario(bs, broker):
    on_kafka = isinstance(broker, ApacheKafka)
    WHERE[0] = "Apache Kafka" if on_kafka else "nodata"
    res, tool = {}, {}
    admin = AdminClient({"bootstrap.servers": bs})
    # The records carry 2023 timestamps: without retention.ms=-1 Kafka's
    # first retention check (30 s after its start) deletes them midway.
    keep = {"retention.ms": "-1"}
    for f in admin.create_topics([NewTopic("t1", 3, 1, config=keep),
                                  NewTopic("t2", 1, 1, config=keep)]).values():
        f.result()
    # Idempotent, so that a retried batch keeps its place: right after
    # CreateTopics, Kafka may refuse a partition's first Produce
    # (not its leader yet), and librdkafka without idempotence retries it
    # behind the next batch. t1-0 then began with v9 and a reset to 7 s
    # found offset 0, on Kafka's tool as on ours (twice in this session).
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True})
    for i in range(30):
        p.produce("t1", b"v%d" % i, partition=i % 3,
                  timestamp=BASE_TS + i * 1000)
    for i in range(5):
        p.produce("t2", b"x%d" % i, partition=0)
    p.flush(30)

    def run(name, *args, rc=0, dry_twin=False, with_tool=True):
        """nodata's CLI (and on Kafka the Kafka tool) for one step."""
        if on_kafka and with_tool:
            targs = [a if a != "--execute" else "--dry-run" for a in args] \
                if dry_twin else list(args)
            tout, terr = kafka_tool(targs, bs)
            tool[name] = {"table": table(tout),
                          "refused": "Error:" in tout,
                          "no_members": "has no active members" in terr}
        out, err = cli(*args, bootstrap=bs, rc=rc)
        res[name] = {"table": table(out), "refused": rc != 0,
                     "no_members": "has no active members" in err}
        if rc:  # Kafka's tool prints an empty table after its error
            res[name]["error"] = refusal(err)
            del res[name]["table"]
            if name in tool:
                del tool[name]["table"]
                tool[name]["error"] = refusal(tout)
        return out

    # A member of g1 owns t1's three partitions and commits two of them.
    c = Consumer({"bootstrap.servers": bs, "group.id": "g1",
                  "client.id": "cl1", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe(["t1"])
    n = 0
    while n < 30:
        m = c.poll(1)
        if m is not None and not m.error():
            n += 1
    c.commit(offsets=[TopicPartition("t1", 0, 10),
                      TopicPartition("t1", 1, 4)], asynchronous=False)
    run("list_active", "list", "--state")
    run("describe_active", "describe", "g1")
    run("members_active", "describe", "g1", "--members")
    run("state_active", "describe", "g1", "--state")
    run("verbose_active", "describe", "g1", "--members", "--verbose",
        with_tool=False)  # Kafka 4.4 prints KIP-848 epochs here instead
    # A reset while the member is there: refused (Kafka's tool prints
    # "Error: Assignments can only be reset if the group 'g1' is
    # inactive" and exits 0; nodata's CLI exits 1).
    run("reset_active", "reset-offsets", "g1", "--topic", "t1",
        "--to-earliest", "--execute", rc=1, dry_twin=True)
    res["after_refused"] = committed(bs, "g1", T1)
    check(res["after_refused"] == {"t1-0": 10, "t1-1": 4, "t1-2": -1},
          "a refused reset changed nothing", res["after_refused"])
    if not on_kafka:
        # Beside the running broker: reading the data directory works,
        # writing it is refused with a pointer to --bootstrap.
        out, _ = cli("describe", "g1", data=broker.data_dir)
        rows = {(r[1], r[2]): r[3] for r in table(out)["rows"]}
        check(rows == {("t1", "0"): "10", ("t1", "1"): "4"},
              "describe --data beside the broker", out)
        out, _ = cli("list", "--state", data=broker.data_dir)
        check(table(out)["rows"] == [["g1", "Unknown"]],
              "beside a broker the data directory cannot know the members",
              out)
        _, err = cli("reset-offsets", "g1", "--topic", "t1", "--to-earliest",
                     "--execute", data=broker.data_dir, rc=1)
        check("--bootstrap" in err and "held by pid" in err,
              "a write beside the broker points at --bootstrap", err)
    c.close()

    run("describe_empty", "describe", "g1")
    run("state_empty", "describe", "g1", "--state")
    steps = [
        # name, reset arguments, the committed offsets a client then reads
        ("earliest", ["--topic", "t1", "--to-earliest"],
         {"t1-0": 0, "t1-1": 0, "t1-2": 0}),
        ("latest", ["--topic", "t1:1", "--to-latest"],
         {"t1-0": 0, "t1-1": 10, "t1-2": 0}),
        ("offset", ["--topic", "t1:0,2", "--to-offset", "3"],
         {"t1-0": 3, "t1-1": 10, "t1-2": 3}),
        # kept within the log: 10 + 4 is 10, 3 + 4 is 7
        ("shift", ["--all-topics", "--shift-by", "4"],
         {"t1-0": 7, "t1-1": 10, "t1-2": 7}),
        ("shift_back", ["--topic", "t1", "--shift-by", "-100"],
         {"t1-0": 0, "t1-1": 0, "t1-2": 0}),
        # the first record at or after BASE_TS + 7 s: in partition p the
        # records are i = p, p + 3, ... at BASE_TS + i s
        ("datetime", ["--topic", "t1", "--to-datetime", DATETIME],
         {"t1-0": 3, "t1-1": 2, "t1-2": 2}),
        # past the last record: the end offset
        ("datetime_late", ["--topic", "t1:2", "--to-datetime", LATE],
         {"t1-0": 3, "t1-1": 2, "t1-2": 10}),
    ]
    for name, args, want in steps:
        out = run("reset_" + name, "reset-offsets", "g1", *args, "--execute",
                  dry_twin=True)
        got = committed(bs, "g1", T1)
        res["committed_" + name] = got
        check(got == want, "after reset %s a client reads %s, want %s"
              % (" ".join(args), got, want), out)
        planned = plan_of(out)
        check(all(got[k] == v for k, v in planned.items()) and planned,
              "the printed plan is what was committed", out)
    # A dry run (the default) changes nothing.
    out, err = cli("reset-offsets", "g1", "--topic", "t1", "--to-latest",
                   bootstrap=bs)
    check(plan_of(out) == {"t1-0": 10, "t1-1": 10, "t1-2": 10} and
          "nothing changed" in err, "a dry run prints the plan", out + err)
    res["committed_dry"] = committed(bs, "g1", T1)
    check(res["committed_dry"] == steps[-1][2], "a dry run changed nothing",
          res["committed_dry"])
    # A reset creates a group that did not exist.
    run("reset_new", "reset-offsets", "g2", "--topic", "t2", "--to-offset",
        "2", "--execute", dry_twin=True)
    res["committed_new"] = committed(bs, "g2", [("t2", 0)])
    check(res["committed_new"] == {"t2-0": 2}, "g2 created by a reset",
          res["committed_new"])
    run("describe_final", "describe", "g1")
    run("list_final", "list")
    out, _ = cli("lag", bootstrap=bs)
    res["lag"] = table(out)
    check(res["lag"]["rows"] == [["g1", "t1", "3", "15"],
                                 ["g2", "t2", "1", "3"]],
          "lag: g1 is 7 + 8 + 0 behind on t1, g2 3 on t2", out)
    # delete: Kafka's tool deletes for real, so only nodata's CLI here.
    out, _ = cli("delete", "g2", bootstrap=bs)
    res["delete"] = out.strip()
    res["list_deleted"] = table(cli("list", bootstrap=bs)[0])
    res["committed_deleted"] = committed(bs, "g2", [("t2", 0)])
    check(res["committed_deleted"] == {"t2-0": -1}, "g2's offsets deleted",
          res["committed_deleted"])
    _, err = cli("delete", "nosuch", bootstrap=bs, rc=1)
    res["delete_unknown"] = err.strip()
    _, err = cli("describe", "nosuch", bootstrap=bs, rc=1)
    res["describe_unknown"] = err.strip()
    if on_kafka:
        return res, tool
    data_dir_phase(broker, res)
    return res, tool


def data_dir_phase(broker, res):
    """The same commands with --data on the directory the broker wrote."""
    d = broker.data_dir
    broker.stop()
    out, _ = cli("list", "--state", data=d)
    check(table(out)["rows"] == [["g1", "Empty"]], "list --data", out)
    out, err = cli("describe", "g1", data=d)
    want = [["g1", "t1", "0", "3", "10", "7", "-", "-", "-"],
            ["g1", "t1", "1", "2", "10", "8", "-", "-", "-"],
            ["g1", "t1", "2", "10", "10", "0", "-", "-", "-"]]
    check(table(out)["rows"] == want and
          table(out)["header"] == res["describe_final"]["table"]["header"]
          and "no active members" in err,
          "describe --data: the offsets the broker committed", out + err)
    out, _ = cli("describe", "g1", "--state", data=d)
    check(table(out)["rows"] == [["g1", "-", "-", "Empty", "0"]],
          "describe --state --data", out)
    out, _ = cli("lag", "g1", data=d)
    check(table(out)["rows"] == [["g1", "t1", "3", "15"]], "lag --data", out)
    out, _ = cli("reset-offsets", "g1", "--topic", "t1", "--to-datetime",
                 DATETIME, "--dry-run", data=d)
    check(plan_of(out) == {"t1-0": 3, "t1-1": 2, "t1-2": 2},
          "--to-datetime --data", out)
    out, _ = cli("reset-offsets", "g1", "--all-topics", "--shift-by", "-1",
                 "--execute", data=d)
    check(plan_of(out) == {"t1-0": 2, "t1-1": 1, "t1-2": 9},
          "--shift-by --data", out)
    cli("reset-offsets", "g3", "--topic", "t2", "--to-latest", "--execute",
        data=d)
    out, _ = cli("delete", "g3", data=d)
    check("('g3') was successful" in out, "delete --data", out)
    cli("delete", "g3", data=d, rc=1)
    cli("reset-offsets", "g4", "--topic", "t1:1", "--to-offset", "6",
        "--execute", data=d)
    # Usage errors: exit 2, nothing changed.
    for args in (["reset-offsets", "g1", "--topic", "t1"],
                 ["reset-offsets", "g1", "--to-earliest"],
                 ["reset-offsets", "g1", "--all-topics", "--to-earliest",
                  "--to-latest"],
                 ["reset-offsets", "g1", "--all-topics", "--to-datetime",
                  "yesterday"],
                 ["reset-offsets", "g1", "--topic", "t1:x", "--to-earliest"],
                 ["describe"], ["delete"], ["frobnicate"],
                 ["list", "--bootstrap", "127.0.0.1:1"]):
        cli(*args, data=d, rc=2)
    cli("reset-offsets", "g1", "--topic", "nosuch", "--to-earliest",
        "--execute", data=d, rc=1)
    out, _ = cli("list", data=d)
    check(out.split() == ["g1", "g4"], "list --data after delete", out)
    broker.start()
    got = committed(broker.bootstrap, "g1", T1)
    check(got == {"t1-0": 2, "t1-1": 1, "t1-2": 9},
          "the broker serves the offsets the CLI wrote", got)
    got = committed(broker.bootstrap, "g4", [("t1", 1)]) | \
        committed(broker.bootstrap, "g3", [("t2", 0)])
    check(got == {"t1-1": 6, "t2-0": -1}, "g4 created, g3 deleted", got)
    ndtest.stop_clean(broker)


(want, want_tool), (got, _) = differential.run_both(scenario,
                                                    with_broker=True)
# nodata's CLI says the same through nodata and through Kafka.
differential.compare(want, got, what="nodata groups --bootstrap")
# ... and the same as Kafka's own tool on Kafka.
differential.compare(want_tool, {k: want[k] for k in want_tool},
                     what="nodata groups vs kafka-consumer-groups.sh")
ndtest.passed()
