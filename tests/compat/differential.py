"""differential.py — run one scenario against Apache Kafka and against
nodata in the same test run, and compare what the client observed.

A scenario is a function of a bootstrap address returning plain data
(dicts, lists, strings, numbers; for an external program, its JSON
output). run_both() runs it on both brokers; compare() walks the two
results and fails naming every path where they differ.

A difference may be intended (node id, cluster id, replication). Such a
path is accepted only when the difference is documented: pass
documented={"path regex": "phrase"} and the phrase must appear in
docs/protocol.md (line breaks count as spaces), so an undocumented
exception fails the test.

    want, got = differential.run_both(scenario)
    differential.compare(want, got, documented={
        r"^metadata\\.cluster_id$": "cluster id differs"})

compare_program(cmd, what) does both for a program printing JSON.

ND_ORACLE_CACHE=DIR (`make test` sets it for its two passes, gcc then
ASan+UBSan, over one fresh directory): the first pass keeps Kafka's answer
to each scenario in DIR, and the second, which runs the same commit's
scenarios, compares nodata's answer with that one instead of starting
Kafka again. The pass under sanitizers checks nodata; Kafka's JVM and its
clients are not built by us and answer the same, so running them twice
only cost CI time. A scenario is known by the test file, the function, the
how-manieth call of run_both in the process and Kafka's settings; a miss
(another setting, a file removed) runs Kafka as usual.
"""
import hashlib
import json
import os
import pickle
import re
import subprocess
import sys

import ndtest
from apache_kafka import ApacheKafka

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOL_DOC = os.path.join(HERE, "..", "..", "docs", "protocol.md")

# Kafka's shipped server.properties sets the initial rebalance delay to 0
# (ApacheKafka does too); nodata is started the same way.
NODATA_ARGS = ["--group-initial-delay-ms", "0"]


_oracle_calls = 0


def _oracle_path(*what):
    """Where ND_ORACLE_CACHE keeps Kafka's answer to this call (what names
    it beside the test file and the call's number), or None."""
    global _oracle_calls
    _oracle_calls += 1
    cache = os.environ.get("ND_ORACLE_CACHE")
    if not cache:
        return None
    key = repr((os.path.abspath(sys.argv[0]), _oracle_calls) + what)
    return os.path.join(cache, hashlib.sha256(key.encode()).hexdigest() +
                        ".pickle")


def _oracle_load(path):
    try:
        with open(path, "rb") as f:
            return True, pickle.load(f)
    except (OSError, pickle.PickleError, EOFError):
        return False, None


def _oracle_keep(path, want):
    """Kafka's answer for the next pass; a failure to keep it is no
    failure of the test (the next pass then runs Kafka)."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "wb") as f:
            pickle.dump(want, f)
        os.replace(tmp, path)
    except (OSError, pickle.PickleError, TypeError, AttributeError):
        pass


def run_both(scenario, nodata_args=(), kafka_props=(), with_broker=False,
             kafka_format=()):
    """Run scenario(bootstrap) on Apache Kafka and on nodata serve; return
    (kafka_result, nodata_result). Kafka's JVM boots while the nodata half
    runs; both brokers are stopped before this returns. with_broker=True
    calls scenario(bootstrap, broker) instead, broker being the
    ndtest.Broker or the ApacheKafka (both have .restart(), .pid), for a
    scenario that restarts the broker or looks at its process.
    kafka_format: arguments added to Kafka's storage format (features).
    With ND_ORACLE_CACHE, Kafka's answer may come from the first pass (see
    the top of the file)."""
    cached = _oracle_path(getattr(scenario, "__qualname__", repr(scenario)),
                          list(kafka_props), with_broker, list(kafka_format))
    hit, want = _oracle_load(cached) if cached else (False, None)
    kafka = None if hit else ApacheKafka(extra_props=kafka_props, wait=False,
                                         format_args=kafka_format)
    try:
        with ndtest.Broker(args=NODATA_ARGS + list(nodata_args)) as b:
            got = scenario(b.bootstrap, b) if with_broker else \
                scenario(b.bootstrap)
            ndtest.stop_clean(b)
        if hit:
            print("Apache Kafka's answer: the first pass's (ND_ORACLE_CACHE)")
            return want, got
        kafka.wait()
        want = scenario(kafka.bootstrap, kafka) if with_broker else \
            scenario(kafka.bootstrap)
    finally:
        if kafka:
            kafka.close()
    if cached:
        _oracle_keep(cached, want)
    return want, got


def kafka_answer(name, kafka_half):
    """kafka_half(): the Apache Kafka half of a test that drives Kafka
    itself (starts it, runs clients, checks what must hold on Kafka) and
    returns plain data for the comparison. With ND_ORACLE_CACHE the second
    pass gets the first's answer instead (see the top of the file)."""
    cached = _oracle_path(name)
    hit, want = _oracle_load(cached) if cached else (False, None)
    if hit:
        print("Apache Kafka's answer (%s): the first pass's "
              "(ND_ORACLE_CACHE)" % name)
        return want
    want = kafka_half()
    if cached:
        _oracle_keep(cached, want)
    return want


def run_program(cmd, bootstrap, timeout=300, env=None):
    """Run an external scenario program (cmd + [bootstrap]) that prints one
    JSON document on stdout; return it decoded."""
    r = subprocess.run(list(cmd) + [bootstrap], capture_output=True,
                       timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        ndtest.fail("%s against %s: exit %d\nstdout:\n%s\nstderr:\n%s"
                    % (" ".join(cmd), bootstrap, r.returncode, out[-3000:],
                       r.stderr.decode(errors="replace")[-5000:]))
    try:
        return json.loads(out)
    except ValueError as e:
        ndtest.fail("%s printed no JSON (%s):\n%s" % (" ".join(cmd), e,
                                                      out[-3000:]))


def compare_program(cmd, what, documented=None, **run_both_args):
    """The whole test of a scenario program: run cmd + [bootstrap] on both
    brokers (run_both, run_program) and compare what it printed."""
    want, got = run_both(lambda bs: run_program(cmd, bs), **run_both_args)
    compare(want, got, documented=documented, what=what)


def _walk(want, got, path, out):
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got), key=str):
            sub = "%s.%s" % (path, k) if path else str(k)
            if k not in got:
                out.append((sub, want[k], "<missing>"))
            elif k not in want:
                out.append((sub, "<missing>", got[k]))
            else:
                _walk(want[k], got[k], sub, out)
    elif isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(want) != len(got):
            out.append((path + ".length", len(want), len(got)))
        for i, (w, g) in enumerate(zip(want, got)):
            _walk(w, g, "%s[%d]" % (path, i), out)
    elif want != got:
        out.append((path, want, got))


def differences(want, got):
    """Every (path, kafka_value, nodata_value) where the two differ."""
    out = []
    _walk(want, got, "", out)
    return out


def compare(want, got, documented=None, what="scenario"):
    """Fail unless want (Kafka's) and got (nodata's) are the same, except at
    paths matching a key of documented whose phrase docs/protocol.md
    contains. Prints a one-line summary on success. With ND_DIFF_DUMP=DIR
    in the environment both documents are also written to DIR."""
    documented = documented or {}
    with open(PROTOCOL_DOC) as f:
        doc = " ".join(f.read().split())  # a phrase may span lines
    for rx, phrase in documented.items():
        if " ".join(phrase.split()) not in doc:
            ndtest.fail("%s: the difference at /%s/ is not documented: "
                        "docs/protocol.md lacks %r" % (what, rx, phrase))
    dump = os.environ.get("ND_DIFF_DUMP")
    if dump:  # a directory: both documents, to read a failure in full
        for name, doc_ in (("kafka", want), ("nodata", got)):
            with open(os.path.join(dump, "%s.%s.json" % (
                    re.sub(r"\W+", "_", what), name)), "w") as f:
                json.dump(doc_, f, indent=1, sort_keys=True, default=repr)
    diffs = [d for d in differences(want, got)
             if not any(re.search(rx, d[0]) for rx in documented)]
    if diffs:
        lines = ["  %s: Kafka %r, nodata %r" % d for d in diffs[:20]]
        ndtest.fail("%s: %d difference(s) from Apache Kafka:\n%s"
                    % (what, len(diffs), "\n".join(lines)))
    print("%s: the same on Apache Kafka and nodata (%d documented "
          "exception(s))" % (what, len(documented)))
