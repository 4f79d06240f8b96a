"""test_kafka_errors_table.py — broker/kafka_errors.h is Kafka's own error
table.

The broker's one table of Kafka error codes (code, NAME, default message
text) must be Kafka 4.4's: a wrong code is a wrong answer on the wire, a
wrong name or text a misleading log line. The oracle is
org.apache.kafka.common.protocol.Errors of the kafka-clients jar the
differential tests run (its main() prints the whole table as HTML: name,
code, retriable, default message). Every row must match, in Kafka's order,
and no row may be missing or extra.
"""
import html
import re
import subprocess

import apache_kafka
import kafka_errors
import ndtest


def kafka_table():
    r = subprocess.run(["java", "-cp", apache_kafka.classpath(),
                        "org.apache.kafka.common.protocol.Errors"],
                       capture_output=True, timeout=300)
    if r.returncode != 0:
        ndtest.fail("Errors.main failed: %s" % r.stderr.decode()[-2000:])
    rows = re.findall(r"<tr><td>(\w+)</td><td>(-?\d+)</td><td>\w+</td>"
                      r"<td>(.*?)</td></tr>", r.stdout.decode(), re.S)
    if len(rows) < 100:
        ndtest.fail("Errors.main printed %d rows: its format changed?\n%s"
                    % (len(rows), r.stdout.decode()[:2000]))
    # toHtml does not escape; unescape anyway in case a release starts to.
    return [(n, int(c), html.unescape(t)) for n, c, t in rows]


want, got = kafka_table(), kafka_errors.ROWS
print("Kafka: %d errors, kafka_errors.h: %d" % (len(want), len(got)))
for i, (w, g) in enumerate(zip(want, got)):
    if w != g:
        ndtest.fail("row %d differs:\n  Kafka: %r\n  ours:  %r" % (i, w, g))
if len(want) != len(got):
    longer = want if len(want) > len(got) else got
    ndtest.fail("Kafka has %d errors, kafka_errors.h %d; first unmatched: %r"
                % (len(want), len(got), longer[min(len(want), len(got))]))
ndtest.passed()
