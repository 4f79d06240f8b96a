#!/usr/bin/env python3
"""rebalance.py — how long a consumer group takes to settle after one
member joins, and how long the other members' partitions stop being
consumed meanwhile: the classic protocol against the consumer protocol
(KIP-848), nodata serve against Apache Kafka 4.4, in one run (issue 22).

Both brokers are started here on free 127.0.0.1 ports with scratch
directories and stopped at the end: `nodata serve` of this build tree
(--group-initial-delay-ms 0) and Apache Kafka 4.4, single node, KRaft, as
the tests start it (tests/compat/apache_kafka.py; its server.properties
has group.initial.rebalance.delay.ms=0 too). Every other group setting is
each broker's default unless --fast (below).

Members are confluent-kafka processes (PyPI 2.16, its bundled librdkafka),
tests/compat/churn.py, or with --clients java (or python,java) Java
kafka-clients 4.4 processes, tests/compat/ChurnMember.java: each logs its assignment callbacks and, per poll,
the records it consumed, with CLOCK_MONOTONIC times. One case: a producer
writes --rate records/s round-robin over a --partitions topic; --members
members of a new group (auto.offset.reset=latest) join and settle; 3 s
later one more member joins. Figures:

  settle  from the new member's subscribe() to the last assignment
          callback that leaves every partition with one member and the
          counts even (the group's target reached), seconds;
  pause   the longest time between two polls that returned records of one
          partition, over the partitions whose member was the same before
          and after, from the join to the settle (seconds); "unaffected"
          is how many such partitions there were;
  baseline  the longest such time of any partition in the steady
          consumption before the join (the machine's noise).

Protocols: `consumer` (group.protocol=consumer, the broker's default
assignor: uniform), `classic` (librdkafka's default strategy list,
range,roundrobin: eager range; the Java client's default list starts with
range too), and, with --protocols, `cooperative` (classic,
cooperative-sticky).

Runs are interleaved, the brokers' order swapped every run; the median and
the worst of the runs are printed, and ratios nodata / Kafka.

--churn runs instead tests/compat/test_cgroup_churn.py's scenario (joins,
clean leaves and kills of up to 6 members on 24 partitions) on both
brokers, with its checks, and prints its pause figures.

    python3 bench/broker/rebalance.py [--runs N] [--members N]
        [--partitions N] [--rate N] [--protocols LIST] [--brokers LIST]
        [--clients python,java] [--fast] [--keep] [--churn] [--seed N] [--nodata PATH] [--dir DIR]

--keep: keep the scratch directory with the members' logs (churn.py's
format) and print where it is.

--fast: the churn runs' settings on both brokers (6 s sessions,
consumer-protocol heartbeats every second instead of 5 s; classic
members heartbeat every second instead of 3 s).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.join(HERE, "..", "..", "tests", "compat")
sys.path.insert(0, COMPAT)

if os.environ.get("ND_CHURN_IN_VENV") != "1":
    import pyvenv  # noqa: E402
    py = pyvenv.python()
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:],
              dict(os.environ, ND_CHURN_IN_VENV="1"))

import apache_kafka  # noqa: E402
import churn  # noqa: E402
import ndtest  # noqa: E402


CLIENT_NAME = {"python": "confluent-kafka", "java": "Java"}


def log(msg):
    print(msg, flush=True)


def args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=30)
    ap.add_argument("--rate", type=int, default=600)
    ap.add_argument("--protocols", default="consumer,classic")
    ap.add_argument("--brokers", default="nodata,kafka")
    ap.add_argument("--clients", default="python")
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--churn", action="store_true")
    ap.add_argument("--seed", type=int, default=2207)
    ap.add_argument("--nodata", default=os.path.join(
        os.environ.get("NODATA_BUILD", "build"), "cli", "nodata"))
    ap.add_argument("--dir", default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.protocols = a.protocols.split(",")
    a.brokers = a.brokers.split(",")
    a.clients = a.clients.split(",")
    for c in a.clients:
        if c not in ("python", "java"):
            ap.error("unknown client %s" % c)
    for p in a.protocols:
        if p not in churn.PROTOCOLS:
            ap.error("unknown protocol %s" % p)
    for b in a.brokers:
        if b not in ("nodata", "kafka"):
            ap.error("unknown broker %s" % b)
    return a


def join_case(a, bootstrap, topic, protocol, group, dir, client):
    """One case: --members settle, one more joins; (settle s, longest
    pause s or None, unaffected partitions, baseline gap s, errors)."""
    member_args = ["--offset-reset", "latest"]
    if a.fast and protocol != "consumer":
        member_args += churn.CLASSIC_ARGS
    run = churn.Run(bootstrap, topic, a.partitions, protocol, group, dir,
                    member_args, log=lambda s: None, client=client)
    try:
        run.producer = churn.Producer(bootstrap, topic, a.partitions, a.rate)
        run.producer.start()
        for _ in range(a.members):
            run.spawn()
        run.ready = run.wait_balanced(churn.now(), 180)
        time.sleep(3)
        run.event("join", timeout=180)
        for m in run.live():
            m.proc.terminate()
        for m in run.live():
            m.proc.wait(60)
            m.reap()
    finally:
        run.close()
    pz, base = churn.pauses(run)
    kind, name, settle, longest, n = pz[-1]
    errors = ["%s: %s" % (m.name, e) for m in run.members
              for _, e in m.errors]
    return settle, longest, n, base, errors


def start_brokers(a, tmp, props):
    brokers = {}
    k = None
    if "kafka" in a.brokers:
        k = apache_kafka.ApacheKafka(extra_props=props, wait=False)
    if "nodata" in a.brokers:
        os.environ["NODATA_BIN"] = os.path.abspath(a.nodata)
        conf = os.path.join(tmp, "nodata.properties")
        with open(conf, "w") as f:
            f.write("".join(x + "\n" for x in props))
        brokers["nodata"] = ndtest.Broker(
            args=["--config", conf, "--group-initial-delay-ms", "0"])
    if k is not None:
        k.wait()
        brokers["kafka"] = k
    return brokers


def fmt(x):
    return "-" if x is None else "%.3f" % x


def ratio(x, y):
    if x is None or y is None:
        return "-"
    if y == 0:
        return "-" if x else "1"
    return "%.2f" % (x / y)


def run_join(a, brokers, tmp):
    # results[(protocol, broker)] = [(settle, pause, unaffected)]
    results = {}
    errors = []
    topics = {}
    for name, b in brokers.items():
        topics[name] = "rebalance-%d" % a.partitions
        churn.create_topic(b.bootstrap, topics[name], a.partitions)
    cases = [(c, p) for c in a.clients for p in a.protocols]
    for r in range(a.runs):
        order = list(brokers) if r % 2 == 0 else list(reversed(brokers))
        for name in order:
            for client, protocol in cases:
                group = "rebalance-%s-%s-%d" % (client, protocol, r)
                t = time.monotonic()
                settle, pause, n, base, errs = join_case(
                    a, brokers[name].bootstrap, topics[name], protocol, group,
                    os.path.join(tmp, "%s-%s-%s-%d" % (name, client,
                                                       protocol, r)),
                    client)
                results.setdefault((client, protocol, name), []).append(
                    (settle, pause, n, base))
                errors += ["%s %s %s run %d: %s" % (name, client, protocol,
                                                    r + 1, e)
                           for e in errs]
                log("run %d %-6s %-6s %-11s settle %6.3f s  pause %s s  "
                    "(%d unaffected)  baseline %.3f s  [%.0f s]"
                    % (r + 1, name, client, protocol, settle, fmt(pause), n,
                       base, time.monotonic() - t))
    log("")
    log("== one member joins a group of %d on %d partitions, %d records/s; "
        "%d run%s: median (worst); ratio = nodata / kafka of the medians"
        % (a.members, a.partitions, a.rate, a.runs,
           "s" if a.runs > 1 else ""))
    log("%s settings" % ("--fast" if a.fast else "each broker's default"))
    log("")
    log("| client | protocol | figure | nodata | kafka | ratio |")
    log("|---|---|---|---|---|---|")
    for client, protocol in cases:
        for i, what in ((0, "settle s"), (1, "pause s"),
                        (2, "unaffected partitions"), (3, "baseline gap s")):
            cells, meds = [], []
            for name in ("nodata", "kafka"):
                xs = [x[i] for x in results.get((client, protocol, name),
                                                [])]
                ys = [x for x in xs if x is not None]
                if not ys:
                    cells.append("-")
                    meds.append(None)
                    continue
                med = statistics.median(ys)
                meds.append(med)
                worst = min(ys) if i == 2 else max(ys)
                cells.append("%g (%g)" % (med, worst) if i == 2
                             else "%s (%s)" % (fmt(med), fmt(worst)))
            log("| %s | %s | %s | %s | %s | %s |" % (
                CLIENT_NAME[client], protocol, what, cells[0], cells[1],
                ratio(*meds)))
    if errors:
        # A classic member's commit during a rebalance can be refused
        # (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS): what Kafka does.
        log("\nmember errors (%d):\n%s" % (len(errors),
                                           "\n".join(errors[:10])))
    return 0


def run_churn(a, brokers, tmp):
    log("churn schedule (seed %d): %s" % (
        a.seed, " ".join(churn.schedule(a.seed, 7, 4, 6, 2))))
    rows = []
    problems = []
    for name, b in brokers.items():
        for client, protocol in [(c, p) for c in a.clients
                                 for p in a.protocols]:
            log("%s %s %s" % (name, CLIENT_NAME[client], protocol))
            run, bad, stats, pz, base, gtype = churn.churn(
                b.bootstrap, protocol, a.seed,
                os.path.join(tmp, "churn-%s-%s-%s" % (name, client,
                                                      protocol)),
                log=log, client=client)
            for line in churn.fmt_pauses(pz, base):
                log(line)
            ps = [x[3] for x in pz if x[3] is not None]
            rows.append((name, CLIENT_NAME[client] + " " + protocol,
                         max(ps) if ps else None,
                         statistics.median(ps) if ps else None, base,
                         stats["records"], stats["duplicates"], len(bad)))
            problems += ["%s %s: %s" % (name, protocol, x) for x in bad]
    log("")
    log("| broker | client, protocol | longest pause s | median of rebalances' "
        "longest s | baseline gap s | records | consumed twice (after a "
        "kill) | problems |")
    log("|---|---|---|---|---|---|---|---|")
    for r in rows:
        log("| %s | %s | %s | %s | %.3f | %d | %d | %d |" % (
            r[0], r[1], fmt(r[2]), fmt(r[3]), r[4], r[5], r[6], r[7]))
    if problems:
        log("\n" + "\n".join(problems[:30]))
    return 1 if problems else 0


def main():
    a = args()
    tmp = tempfile.mkdtemp(prefix="nd-rebalance-", dir=a.dir)
    props = churn.FAST_GROUP_PROPS if (a.fast or a.churn) else []
    brokers = {}
    try:
        brokers = start_brokers(a, tmp, props)
        return (run_churn if a.churn else run_join)(a, brokers, tmp)
    finally:
        for b in brokers.values():
            b.close()
        if a.keep:
            log("members' logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
