"""txn_java.py — the Java client's transactions (issue 19) against Apache
Kafka 4.4 and against nodata in the same run, with both transaction
protocols; what the client observes must be the same, field by field.
Two tests use it (each under ctest's time limit, and run in parallel):

- test_diff_txn_java.py: run("v2", "v1") on brokers that finalize
  transaction.version 2;
- test_diff_txn_java_tv1.py: run("v2client_tv1") on brokers that
  finalize transaction.version 1.

tests/kafka/TxnJava.java is the scenario (single-file source launch). It
runs on each broker:
- with kafka-clients 4.4 (tests/kafka/java-client/pom.xml), which speaks
  Transactions V2 (KIP-890) to a broker that finalizes
  transaction.version 2: every EndTxn bumps the epoch, partitions join a
  transaction through Produce;
- with kafka-clients 3.9 (tests/kafka/java-client-3.9/pom.xml), which
  speaks V1 only: AddPartitionsToTxn, one epoch per producer session;
- with kafka-clients 4.4 again, on a Kafka formatted with
  transaction.version=1 and a nodata started with --transaction-version 1:
  the 4.x client then speaks V1 too.

Each run checks, in what it prints:
- the transaction.version feature (DescribeFeatures), and
  DescribeTransactions of an unknown id (TransactionalIdNotFound);
- transactions over five partitions of two topics, committed and aborted:
  the offsets of every send (markers take an offset), DescribeTransactions
  after each step (state, epoch, timeout, partitions), DescribeProducers of
  a partition with an open transaction (its start offset) and after the
  commit, the end offsets for read_committed (the last stable offset: 0
  while a transaction is open, although a plain producer's record follows
  it) and read_uncommitted, and every record each isolation level reads
  (aborted ones only read_uncommitted);
- a consume-transform-produce loop (subscribe, sendOffsetsToTransaction
  with the consumer's group metadata): while a transaction with offsets
  is open, the admin sees the last committed offsets and a consumer's
  committed() (require_stable) times out on UNSTABLE_OFFSET_COMMIT; the
  aborted transaction leaves the group's offsets; in the end the group
  committed the end of the input and the output read_committed holds
  every input record exactly once, read_uncommitted the aborted copies
  too;
- fencing: a second producer with the same transactional id aborts the
  first's open transaction, the first's next send and commit fail
  (InvalidProducerEpochException, as Kafka 4.4 answers), the second
  commits;
- a transaction left open past its transaction.timeout.ms (2 s; both
  coordinators check every second): the coordinator aborts it (state,
  epoch), the producer's commit then fails, a new producer's transaction
  commits, and only its record is read read_committed;
- ListTransactions' states.
"""
import os

import ndtest
import differential
from apache_kafka import classpath

HERE = os.path.dirname(os.path.abspath(__file__))
KAFKA = os.path.join(HERE, "..", "kafka")
PROGRAM = os.path.join(KAFKA, "TxnJava.java")
POMS = {
    "v2": os.path.join(KAFKA, "java-client", "pom.xml"),
    "v1": os.path.join(KAFKA, "java-client-3.9", "pom.xml"),
}
# Each run: (the client's pom, the transaction.version both brokers
# finalize), and the epoch V2 (bumped by every commit) or V1 (kept) leaves
# after the scenario's five transactions.
RUNS = {
    "v2": ("v2", 2, 5),
    "v1": ("v1", 2, 0),
    "v2client_tv1": ("v2", 1, 0),
}
# The coordinators look for timed-out transactions every second, not 10.
KAFKA_PROPS = [
    "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"]
NODATA_ARGS = ["--transaction-abort-check-ms", "1000"]


def run(*names):
    """Run TxnJava once per name on both brokers (which must all want the
    same transaction.version) and compare; fails the test on a
    difference."""
    level = {RUNS[n][1] for n in names}.pop()
    cps = {n: classpath(POMS[RUNS[n][0]]) for n in names}

    def scenario(bootstrap):
        return {n: differential.run_program(
            ["java", "-Xmx256m", "-cp", cps[n], PROGRAM, n], bootstrap)
            for n in names}

    fmt, args = [], []
    if level == 1:
        # The 4.x client speaks V1 to a broker that finalizes
        # transaction.version 1: Kafka's storage formatted so, nodata
        # started so.
        fmt = ["--feature", "transaction.version=1"]
        args = ["--transaction-version", "1"]
    want, got = differential.run_both(scenario, kafka_props=KAFKA_PROPS,
                                      kafka_format=fmt,
                                      nodata_args=NODATA_ARGS + args)
    # Kafka itself must show what the scenario is about, or the
    # comparison proves nothing.
    for n in names:
        epoch = RUNS[n][2]
        e = want[n]["commit_abort"]["txn5_committed"]["producer_epoch"]
        if e != epoch:
            ndtest.fail("Apache Kafka, run %s: epoch %r after five "
                        "transactions, not %d" % (n, e, epoch))
        ctp = want[n]["consume_transform_produce"]
        if not all(v is True for v in ctp.values() if isinstance(v, bool)):
            ndtest.fail("Apache Kafka, run %s: the consume-transform-"
                        "produce checks do not all hold: %s" % (n, ctp))
    differential.compare(want, got, what="Java transactions (%s)"
                         % ", ".join(names))
