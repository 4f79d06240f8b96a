"""test_java_client_versions.py — the newest Apache Kafka Java client
negotiates its newest version of every API nodata advertises, and uses them.

JavaClientVersions.java (Admin, an idempotent Producer, a classic Consumer
group: every API we serve that the client has a call for) runs against
`nodata serve` and then, unchanged, against Apache Kafka of the same
release (apache_kafka.py), with NetworkClient's DEBUG log on. From the log:

- every "API versions: (...)" line (one per connection) lists each API we
  advertise with "[usable: N]": N must be the client's newest version of it
  (ApiKeys.latestVersion(false), printed by the program: stable versions
  only, as Kafka advertises by default; InitProducerId v6 is unstable in
  4.4), i.e. our max is at least the client's;
- every ApiVersions response is error 0, and the client did send v5 with
  nodata's cluster id and node 0 (KIP-1242) on some connection;
- every API we advertise is sent at least once, except AlterConfigs (the
  Java Admin dropped alterConfigs in 4.0), AddPartitionsToTxn and
  AddOffsetsToTxn (a Transactions V2 producer does not send them) and
  SaslHandshake and SaslAuthenticate (advertised on every listener, as
  Kafka does, sent only to a SASL one);
- each API is sent at the same versions as the same program sends to
  Kafka (the client picks lower ones for some requests, e.g. OffsetCommit
  v9 without topic ids; the point is that it picks the same).

The client is tests/kafka/java-client/pom.xml (kafka-clients and
slf4j-simple, resolved into ~/.m2); its release must be the one
broker/kafka_msgs.h was generated from.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import apache_kafka  # noqa: E402
import ndtest  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
POM = os.path.join(ROOT, "tests", "kafka", "java-client", "pom.xml")
PROG = os.path.join(HERE, "JavaClientVersions.java")
# Served, but the Java client has no call that sends it.
NO_JAVA_CALL = {33: "AlterConfigs (Admin.alterConfigs was removed in 4.0)",
                24: "AddPartitionsToTxn (the 4.4 producer speaks Transactions "
                    "V2 where transaction.version 2 is finalized)",
                25: "AddOffsetsToTxn (likewise)",
                17: "SaslHandshake (sent only to a SASL listener; this "
                    "broker's is PLAINTEXT: test_sasl_clients.py)",
                36: "SaslAuthenticate (likewise)"}


VERSIONS_LINE = re.compile(r"API versions: \((.*)\)\.?\s*$")
ENTRY = re.compile(r"(\w+)\((\d+)\): (\d+) to (\d+) \[usable: (\d+)\]")
SENT = re.compile(r"Sending \w+ request with header RequestHeader\("
                  r"apiKey=(\w+), apiVersion=(\d+)")
SENT_APIV = re.compile(r"ApiVersionsRequestData\([^)]*clusterId=('[^']*'|null)"
                       r", nodeId=(-?\d+)\)")
APIV_ERR = re.compile(r"Received API_VERSIONS response .*"
                      r"ApiVersionsResponseData\(errorCode=(-?\d+)")


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def release_of(path, pattern):
    with open(path) as f:
        m = re.search(pattern, f.read())
    return m.group(1) if m else None


def run(cp, bootstrap, what):
    """Run the program: (client max by key, log lines, a check that it
    succeeded, to call after the version checks, which say more)."""
    r = subprocess.run(
        ["java", "-Xmx256m", "-cp", cp,
         "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
         "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients."
         "NetworkClient=debug",
         PROG, bootstrap],
        capture_output=True, timeout=240)  # under ctest's 300 s
    out = r.stdout.decode(errors="replace")
    err = r.stderr.decode(errors="replace")
    def succeeded():
        check(r.returncode == 0, "JavaClientVersions against %s exited %d:"
              "\n%s\n%s" % (what, r.returncode, out[-3000:], err[-6000:]))
    client_max = {}
    for line in out.splitlines():
        if line.startswith("client-max "):
            _, key, ver = line.split()
            client_max[int(key)] = int(ver)
    check(client_max, "no client-max lines from the program:\n" + out)
    return client_max, err.splitlines(), succeeded


def negotiated(lines):
    """Every connection's table: [{key: (name, min, max, usable)}]."""
    tables = []
    for line in lines:
        m = VERSIONS_LINE.search(line)
        if m:
            tables.append({int(k): (n, int(lo), int(hi), int(u))
                           for n, k, lo, hi, u in ENTRY.findall(m.group(1))})
    return tables


def sent(lines):
    """{api name: set of versions sent}."""
    out = {}
    for line in lines:
        m = SENT.search(line)
        if m:
            out.setdefault(m.group(1), set()).add(int(m.group(2)))
    return out


def main():
    version = release_of(os.path.join(ROOT, "broker", "kafka_msgs.h"),
                         r'KAFKA_MSGS_KAFKA_VERSION "([^"]*)"')
    client = release_of(POM, r"<kafka.version>([^<]+)</kafka.version>")
    check(version and client == version,
          "the Java client (%s) is not the release the codec was generated "
          "from (%s)" % (client, version))
    cp = apache_kafka.classpath(POM)
    kafka = apache_kafka.ApacheKafka(wait=False)  # starts while we run
    try:
        with ndtest.Broker() as b:
            client_max, lines, succeeded = run(cp, "127.0.0.1:%d" % b.port,
                                               "nodata")
            ndtest.stop_clean(b)

        tables = negotiated(lines)
        check(tables, "no 'API versions: (...)' line in the client's log:\n%s"
              % "\n".join(lines[-50:]))
        ours = tables[0]
        for t in tables:
            check(t == ours, "connections saw different tables:\n%s\n%s"
                  % (ours, t))
        for key, (name, lo, hi, usable) in sorted(ours.items()):
            want = client_max.get(key)
            check(want is not None, "%s(%d): the client does not know it"
                  % (name, key))
            check(usable == want and hi >= want,
                  "%s(%d): we advertise %d-%d, the client's newest is %d, it "
                  "would use %d" % (name, key, lo, hi, want, usable))
        succeeded()

        errs = [int(e) for line in lines for e in APIV_ERR.findall(line)]
        check(errs and all(e == 0 for e in errs),
              "ApiVersions errors: %s" % errs)
        named = [(c, int(n)) for line in lines
                 for c, n in SENT_APIV.findall(line)]
        check(any(c.startswith("'nodata-") and n == 0 for c, n in named),
              "the client never sent ApiVersions v5 with our cluster id and "
              "node 0: %s" % sorted(set(named)))

        used = sent(lines)
        names = {key: name for key, (name, _, _, _) in ours.items()}
        used_keys = set()
        for key, (name, *_) in ours.items():
            wire = re.sub(r"(?<!^)([A-Z])", r"_\1", name).upper()
            if wire in used:
                used_keys.add(key)
        missing = set(ours) - used_keys - set(NO_JAVA_CALL)
        check(not missing, "advertised but never sent by the program: %s"
              % sorted(names[k] for k in missing))

        kafka.wait()
        k_max, k_lines, k_succeeded = run(cp, kafka.bootstrap, "Apache Kafka")
        k_succeeded()
        check(k_max == client_max, "the client's newest versions changed")
        k_used = sent(k_lines)
        for api, vers in sorted(used.items()):
            check(k_used.get(api) == vers,
                  "%s sent at %s to nodata, at %s to Kafka"
                  % (api, sorted(vers), sorted(k_used.get(api, ()))))
        k_tables = negotiated(k_lines)
        for key in ours:
            k = k_tables[0].get(key)
            check(k and k[3] == ours[key][3],
                  "%s: usable %d on nodata, %s on Kafka"
                  % (names[key], ours[key][3], k and k[3]))
    finally:
        kafka.close()
    ndtest.passed()


if __name__ == "__main__":
    main()
