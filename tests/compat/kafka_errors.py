"""kafka_errors.py — Kafka's error codes for the tests, read from the
broker's one table, broker/kafka_errors.h (X(NAME, code, "text") rows).

    from kafka_errors import UNKNOWN_TOPIC_OR_PARTITION  # 3
    kafka_errors.ROWS  # [(name, code, text), ...] in the header's order

The header is checked against Kafka 4.4's own table by
test_kafka_errors_table.py, so a test naming a code here names Kafka's.
"""
import os
import re

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "broker", "kafka_errors.h")


def _parse(path):
    with open(path) as f:
        src = f.read()
    body = src[src.index("#define KAFKA_ERRORS(X)"):]
    body = body[:body.index("\n\n")].replace("\\\n", " ")
    rows = []
    for name, code, lits in re.findall(
            r'X\((\w+),\s*(-?\d+),\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\)', body):
        text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', lits))
        rows.append((name, int(code),
                     text.encode().decode("unicode_escape")))
    if body.count("X(") != len(rows):
        raise ValueError("parsed %d of the %d rows of %s"
                         % (len(rows), body.count("X("), path))
    return rows


ROWS = _parse(HEADER)
globals().update({name: code for name, code, _ in ROWS})
