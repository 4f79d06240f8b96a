"""test_security_clients_jvm_go.py — the Java client (kafka-clients 4.4,
tests/kafka/SecJava.java) and franz-go (tests/go/franzgosec) over TLS and
SASL against Apache Kafka (the oracle) and `nodata serve`, with the same
certificates, users and Kafka properties (seclib.py), in one run.

The scenarios are seclib.scenarios(): produce 3 records and read them back
over SSL, mTLS, SASL_SSL with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and
OAUTHBEARER; refusals (wrong password, unknown user, expired token, token
of another key, untrusted server certificate, client certificate of
another CA, expired client certificate, no client certificate, plaintext
on the TLS port). A refusal must raise, in each client, the same error
class against nodata as against Kafka (Java: the exception's class in
org.apache.kafka.common.errors, e.g. SaslAuthenticationException,
SslAuthenticationException; franz-go: the Kafka error code's name, or
x509-unknown-authority, tls-alert, closed), and nothing is written to the
target topic (its end offset, read as admin on PLAINTEXT, stays 0).

The Java client reads its OAUTHBEARER token from a file
(OAuthBearerLoginCallbackHandler, sasl.oauthbearer.token.endpoint.url=
file://...) and checks the token's expiry itself: an expired token is
refused by the client before any broker sees it, against both brokers.

Known differences (KNOWN below, each asserted as it is): none now.

nodata's half needs its TLS listeners (issue 21's tls part): if `nodata
serve` does not start with them, it runs the SASL_PLAINTEXT scenarios
alone and then skips (which is a failure under CI=true).
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
import ndtest  # noqa: E402
import go_program  # noqa: E402
import seclib  # noqa: E402
from apache_kafka import classpath  # noqa: E402

ndtest.require("confluent_kafka")

HERE = os.path.dirname(os.path.abspath(__file__))
JAVA = os.path.join(HERE, "..", "kafka", "SecJava.java")
N = 3


def java_props(s, pki, token_file):
    c = {"security.protocol": seclib.protocol(s)}
    if s["tls"]:
        c.update({"ssl.truststore.type": "PEM",
                  "ssl.truststore.location": pki.ca(s["ca"])})
    if s["cert"]:
        c.update({"ssl.keystore.type": "PEM",
                  "ssl.keystore.location": pki.keystore(s["cert"])})
    mod = "org.apache.kafka.common.security."
    if s["mech"]:
        c["sasl.mechanism"] = s["mech"]
    if s["mech"] == "PLAIN":
        c["sasl.jaas.config"] = (mod + 'plain.PlainLoginModule required '
                                 'username="%s" password="%s";'
                                 % (s["user"], s["password"]))
    elif s["mech"] and s["mech"].startswith("SCRAM"):
        c["sasl.jaas.config"] = (mod + 'scram.ScramLoginModule required '
                                 'username="%s" password="%s";'
                                 % (s["user"], s["password"]))
    elif s["mech"] == "OAUTHBEARER":
        with open(token_file, "w") as f:
            f.write(s["token"])
        c.update({
            "sasl.jaas.config": mod + "oauthbearer.OAuthBearerLoginModule "
            "required;",
            "sasl.login.callback.handler.class": mod + "oauthbearer."
            "OAuthBearerLoginCallbackHandler",
            "sasl.oauthbearer.token.endpoint.url": "file://" + token_file})
    return c


def go_request(s, pki):
    r = {"tls": s["tls"], "ca": pki.ca(s["ca"])}
    if s["cert"]:
        r.update({"cert": pki.path(s["cert"] + ".pem"),
                  "key": pki.path(s["cert"] + ".key")})
    if s["mech"]:
        r.update({"mechanism": s["mech"], "user": s["user"] or "",
                  "password": s["password"] or "", "token": s["token"] or ""})
    return r


def prepare(broker, sc):
    names = {seclib.topic_of(i, s["ok"]) for i, s in enumerate(sc)}
    seclib.create_topics(broker.bootstrap,
                         sorted(names | {"go-" + n for n in names}))


def parse(what, r):
    try:
        return [json.loads(line) for line in r.stdout.decode().splitlines()
                if line.startswith("{")]
    except ValueError:
        ndtest.fail("%s printed no result (exit %d):\n%s"
                    % (what, r.returncode, r.stderr.decode(
                        errors="replace")[-3000:]))


def run_matrix(what, broker, sc, pki, tmp):
    """Results of the scenarios of sc whose listener broker has."""
    sc = [s for s in sc if s["listener"] in broker.listener]
    prepare(broker, sc)
    res = {}
    # Java: every session in one JVM (its start and compile cost seconds).
    sessions, tokens = [], []
    for i, s in enumerate(sc):
        tf = os.path.join(tmp, "token-%s-%d.jwt" % (what, i))
        tokens.append("file://" + tf)
        sessions.append({"bootstrap": broker.listener[s["listener"]],
                         "topic": seclib.topic_of(i, s["ok"]),
                         "n": N if s["ok"] else 1,
                         "props": java_props(s, pki, tf)})
    req = os.path.join(tmp, "java-%s.json" % what)
    with open(req, "w") as f:
        json.dump(sessions, f)
    r = subprocess.run(
        ["java", "-Xmx256m", "-Dorg.apache.kafka.sasl.oauthbearer."
         "allowed.urls=" + ",".join(tokens), "-cp", CP, JAVA, req],
        capture_output=True, timeout=900)
    got = parse("SecJava", r)
    if len(got) != len(sc):
        ndtest.fail("%s: SecJava printed %d results for %d sessions "
                    "(exit %d):\n%s" % (what, len(got), len(sc),
                                        r.returncode, r.stderr.decode(
                                            errors="replace")[-3000:]))
    for s, g in zip(sc, got):
        res[("java", s["name"])] = g
    for i, s in enumerate(sc):
        q = dict(go_request(s, pki), bootstrap=broker.listener[s["listener"]],
                 topic="go-" + seclib.topic_of(i, s["ok"]),
                 n=N if s["ok"] else 1)
        r = subprocess.run([GO, json.dumps(q)], capture_output=True,
                           timeout=120)
        g = parse("franzgosec", r)
        if len(g) != 1:
            ndtest.fail("%s: franzgosec %s printed no result (exit %d):\n%s"
                        % (what, s["name"], r.returncode,
                           r.stderr.decode(errors="replace")[-3000:]))
        res[("franz-go", s["name"])] = g[0]
    for k, g in sorted(res.items()):
        print("%s %s %s: %s" % (what, k[0], k[1], g), flush=True)
    for t in ("sec-refused", "go-sec-refused"):
        hi = seclib.end_offset(broker.bootstrap, t)
        if hi != 0:
            ndtest.fail("%s: refused clients wrote %d records to %s"
                        % (what, hi, t))
    return res


CP = classpath()
GO = go_program.build("franzgosec")
tmp = tempfile.mkdtemp(prefix="nd-sec-")
atexit.register(shutil.rmtree, tmp, True)
pki = seclib.Pki(os.path.join(tmp, "pki"))
SC = seclib.scenarios(pki)
OK = {s["name"]: s["ok"] for s in SC}


def expect_ok(name, _got):
    return OK[name]


# Where nodata's refusal differs from Kafka's, each one asserted as it is
# (so that a change, a fix included, shows): (client, scenario): (Kafka's
# error class, nodata's, why).
# (Empty since nodata answers a plaintext client on a TLS port with a TLS
# alert record, as Kafka does: franz-go then diagnoses "is this a
# plaintext connection speaking to a tls endpoint?" on both.)
KNOWN = {}


def check_known(want, got):
    for key, (k, n, why) in KNOWN.items():
        if key not in got:
            continue
        if (want[key]["errors"][:1], got[key]["errors"][:1]) != ([k], [n]):
            ndtest.fail("%s, %s: known difference (%s) expected Kafka %s, "
                        "nodata %s; got %s and %s" % (
                            key[0], key[1], why, k, n, want[key]["errors"],
                            got[key]["errors"]))



def kafka_half():
    with seclib.kafka(pki) as k:
        res = run_matrix("kafka", k, SC, pki, tmp)
    seclib.check_results("kafka", res, expect_ok, N)
    return res


kres = differential.kafka_answer("security matrix", kafka_half)

nd, partial = seclib.start_nodata(pki)
with nd:
    nres = run_matrix("nodata", nd, SC, pki, tmp)
    seclib.check_results("nodata", nres, expect_ok, N)
    check_known(kres, nres)
    seclib.compare_refusals(kres, {k: v for k, v in nres.items()
                                   if k not in KNOWN}, expect_ok)
    ndtest.stop_clean(nd)
if partial:
    ndtest.skip("nodata ran only the SASL_PLAINTEXT scenarios (they "
                "passed): its TLS listeners did not start: %s" % partial)
ndtest.passed()
