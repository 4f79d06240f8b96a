"""test_diff_txn_java.py — the Java client's transactions against Apache
Kafka 4.4 and nodata, compared field by field (issue 19): kafka-clients
4.4 (Transactions V2) and 3.9 (V1 only) on brokers that finalize
transaction.version 2. See txn_java.py for the scenario.

Takes about 80 s: four JVM runs, Kafka's start beside nodata's half.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import txn_java  # noqa: E402

txn_java.run("v2", "v1")
ndtest.passed()
