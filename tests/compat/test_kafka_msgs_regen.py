"""test_kafka_msgs_regen.py — the committed codec tables are what
tools/kafka_gen.py makes of the Kafka release they say they come from.

broker/kafka_msgs.h records the Apache Kafka release its schemas came from
and the sha256 of that release's kafka-clients jar. This test resolves the
same jar from Maven Central (org.apache.kafka:kafka-clients:VERSION, into
~/.m2 like tests/kafka/pom.xml's dependencies; cached after the first run),
checks its sha256, regenerates into a temp dir and compares both files byte
for byte with broker/kafka_msgs.{h,c}. A hand edit of the generated files, a
generator change not re-run, or a header that names no release all fail.
It also checks that the release is the one tests/kafka/pom.xml runs as the
oracle, so the codec and the Kafka it is compared with move together.
"""
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ndtest  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BROKER = os.path.join(ROOT, "broker")
POM = os.path.join(ROOT, "tests", "kafka", "pom.xml")


def recorded():
    with open(os.path.join(BROKER, "kafka_msgs.h")) as f:
        text = f.read()
    v = re.search(r'#define KAFKA_MSGS_KAFKA_VERSION "([^"]*)"', text)
    h = re.search(r'#define KAFKA_MSGS_JAR_SHA256\s+(?:\\\s+)?"([^"]*)"', text)
    if not v or not v.group(1) or not h or len(h.group(1)) != 64:
        ndtest.fail("broker/kafka_msgs.h names no Kafka release: regenerate "
                    "it with tools/kafka_gen.py --jar (docs/protocol.md)")
    return v.group(1), h.group(1)


def kafka_clients_jar(version):
    """The jar from ~/.m2, resolved with Maven the first time. Maven
    downloads to a temp name and renames, so parallel runs are safe."""
    m2 = os.path.join(os.path.expanduser("~"), ".m2", "repository")
    jar = os.path.join(m2, "org", "apache", "kafka", "kafka-clients",
                       version, "kafka-clients-%s.jar" % version)
    if os.path.exists(jar):
        return jar
    if not shutil.which("mvn"):
        ndtest.skip("resolving kafka-clients %s needs mvn" % version)
    r = subprocess.run(["mvn", "-q", "-B", "dependency:get",
                        "-Dartifact=org.apache.kafka:kafka-clients:" + version,
                        "-Dtransitive=false"],
                       capture_output=True, timeout=900, cwd=HERE)
    if r.returncode != 0 or not os.path.exists(jar):
        ndtest.fail("resolving kafka-clients %s failed:\n%s" % (
            version, (r.stdout + r.stderr).decode(errors="replace")[-3000:]))
    return jar


def main():
    if not shutil.which("clang-format"):
        ndtest.skip("the generator formats its output with clang-format")
    version, sha = recorded()
    with open(POM) as f:
        pom = re.search(r"<kafka.version>([^<]+)</kafka.version>", f.read())
    if not pom or pom.group(1) != version:
        ndtest.fail("broker/kafka_msgs.h is from Kafka %s but the oracle "
                    "(tests/kafka/pom.xml) is Kafka %s: keep them the same"
                    % (version, pom.group(1) if pom else "?"))
    jar = kafka_clients_jar(version)
    with open(jar, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != sha:
        ndtest.fail("%s has sha256 %s, kafka_msgs.h recorded %s"
                    % (jar, got, sha))

    out = tempfile.mkdtemp(prefix="nd-kafka-gen-")
    try:
        r = subprocess.run([sys.executable,
                            os.path.join(ROOT, "tools", "kafka_gen.py"),
                            "--jar", jar, out], capture_output=True,
                           timeout=300)
        if r.returncode != 0 or r.stderr:
            ndtest.fail("kafka_gen.py failed (%d):\n%s" % (
                r.returncode, (r.stdout + r.stderr).decode(errors="replace")))
        for name in ("kafka_msgs.h", "kafka_msgs.c"):
            with open(os.path.join(BROKER, name)) as f:
                committed = f.read()
            with open(os.path.join(out, name)) as f:
                regenerated = f.read()
            if committed != regenerated:
                diff = difflib.unified_diff(
                    committed.splitlines(True), regenerated.splitlines(True),
                    "broker/" + name, "regenerated/" + name)
                ndtest.fail("broker/%s is not what tools/kafka_gen.py makes "
                            "of kafka-clients %s:\n%s" % (
                                name, version, "".join(list(diff)[:80])))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    ndtest.passed()


if __name__ == "__main__":
    main()
