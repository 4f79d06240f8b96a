"""test_diff_txn_java_tv1.py — the Java client's transactions against
Apache Kafka 4.4 and nodata, compared field by field (issue 19):
kafka-clients 4.4 on brokers that finalize transaction.version 1 (Kafka
formatted with --feature transaction.version=1, nodata started with
--transaction-version 1), where it speaks V1. See txn_java.py for the
scenario.

Takes about 40 s: two JVM runs, Kafka's start beside nodata's half.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import txn_java  # noqa: E402

txn_java.run("v2client_tv1")
ndtest.passed()
