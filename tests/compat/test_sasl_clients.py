"""test_sasl_clients.py — kcat and the Java client (Kafka 4.4's own
console tools) authenticating to nodata on a SASL_PLAINTEXT listener.

Users made with `nodata users add`; the broker enables PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (a JWKS file with the
test's RSA key):

- kcat produces and consumes with PLAIN and both SCRAMs; with a wrong
  password it fails with Kafka's message for each mechanism;
- the Java client (kafka-console-producer and -consumer with
  --command-config-style client properties: sasl.jaas.config with
  PlainLoginModule, ScramLoginModule, and for OAUTHBEARER the token read
  from a file, sasl.oauthbearer.token.endpoint.url=file://) produces and
  consumes with each of the four mechanisms; kafka-topics --list with a
  wrong password fails with SaslAuthenticationException and Kafka's
  message, with an expired token likewise (invalid_token);
- nothing the refused clients tried was written (their topics do not
  exist).

(kcat has no way to hand librdkafka a signed token: OAUTHBEARER is
covered by confluent-kafka in test_sasl_oauth.py and by Java here.)
"""
import json
import os
import subprocess
import tempfile
import time

import ndtest
from apache_kafka import classpath
from jwt_keys import jwt, rsa_key

CP = classpath()
T = "org.apache.kafka.tools."
NODATA = ndtest.nodata_bin()
tmp = tempfile.mkdtemp(prefix="nd-sasl-clients-")
data = os.path.join(tmp, "data")
for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
    r = subprocess.run([NODATA, "users", "add", "alice", "--mechanism", mech,
                        "--data", data], input=b"alice-secret\n",
                       capture_output=True, timeout=60)
    if r.returncode:
        ndtest.fail("users add: %s" % r.stderr.decode())

key, jwk = rsa_key(tmp, "k1")
jwks = os.path.join(tmp, "jwks.json")
with open(jwks, "w") as f:
    json.dump({"keys": [jwk]}, f)
now = int(time.time())
claims = {"sub": "alice", "iat": now, "exp": now + 3600, "scope": "kafka"}
token_file = os.path.join(tmp, "token.jwt")
with open(token_file, "w") as f:
    f.write(jwt(key, "k1", claims))
expired_file = os.path.join(tmp, "expired.jwt")
with open(expired_file, "w") as f:
    f.write(jwt(key, "k1", dict(claims, iat=now - 7200, exp=now - 3600)))

conf = os.path.join(tmp, "server.properties")
with open(conf, "w") as f:
    f.write("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,"
            "OAUTHBEARER\n"
            "sasl.oauthbearer.jwks.endpoint.url=file://%s\n" % jwks)
broker = ndtest.Broker(data_dir=data, listen=False, args=["--config", conf])
bs = broker.bootstrap

WANT = {
    "PLAIN": "Authentication failed: Invalid username or password",
    "SCRAM-SHA-256": "Authentication failed during authentication due to "
                     "invalid credentials with SASL mechanism SCRAM-SHA-256",
    "SCRAM-SHA-512": "Authentication failed during authentication due to "
                     "invalid credentials with SASL mechanism SCRAM-SHA-512",
    "OAUTHBEARER": '{"status":"invalid_token"}',
}


# ---- kcat ------------------------------------------------------------------
def kcat(mech, pw, *args, stdin=None):
    return subprocess.run(
        ["kcat", "-b", bs, "-X", "security.protocol=SASL_PLAINTEXT",
         "-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=alice",
         "-X", "sasl.password=" + pw] + list(args),
        input=stdin, capture_output=True, timeout=120)


for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
    topic = "kcat-" + mech.lower()
    r = kcat(mech, "alice-secret", "-P", "-t", topic, stdin=b"a\nb\n")
    if r.returncode:
        ndtest.fail("kcat -P %s: %s" % (mech, r.stderr.decode()[-1000:]))
    r = kcat(mech, "alice-secret", "-C", "-t", topic, "-o", "beginning",
             "-e", "-q")
    if r.returncode or r.stdout.split() != [b"a", b"b"]:
        ndtest.fail("kcat -C %s: %r %s" % (mech, r.stdout,
                                          r.stderr.decode()[-1000:]))
    r = kcat(mech, "wrong", "-L", "-m", "5")
    if r.returncode == 0 or WANT[mech] not in r.stderr.decode():
        ndtest.fail("kcat -L %s with a wrong password: status %d, %s"
                    % (mech, r.returncode, r.stderr.decode()[-1000:]))
    print("kcat %s: produced, consumed; wrong password refused" % mech)


# ---- the Java client --------------------------------------------------------
def props(mech, pw="alice-secret", token=token_file):
    path = os.path.join(tmp, "client-%s-%s.properties" % (mech, pw))
    lines = ["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=" + mech]
    if mech == "PLAIN":
        lines.append('sasl.jaas.config=org.apache.kafka.common.security.'
                     'plain.PlainLoginModule required username="alice" '
                     'password="%s";' % pw)
    elif mech.startswith("SCRAM"):
        lines.append('sasl.jaas.config=org.apache.kafka.common.security.'
                     'scram.ScramLoginModule required username="alice" '
                     'password="%s";' % pw)
    else:
        lines += ["sasl.jaas.config=org.apache.kafka.common.security."
                  "oauthbearer.OAuthBearerLoginModule required;",
                  "sasl.login.callback.handler.class=org.apache.kafka."
                  "common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                  "sasl.oauthbearer.token.endpoint.url=file://" + token]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def java(cls, *args, stdin=None):
    r = subprocess.run(["java", "-Xmx256m",
                        "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="
                        "file://" + token_file + ",file://" + expired_file,
                        "-cp", CP, cls] + list(args),
                       input=stdin, capture_output=True, timeout=180)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"):
    topic = "java-" + mech.lower()
    p = props(mech)
    rc, out = java(T + "ConsoleProducer", "--bootstrap-server", bs, "--topic",
                   topic, "--command-config", p, stdin=b"x1\nx2\n")
    if rc:
        ndtest.fail("Java producer %s: %s" % (mech, out[-3000:]))
    rc, out = java(T + "consumer.ConsoleConsumer", "--bootstrap-server", bs,
                   "--topic", topic, "--from-beginning", "--max-messages",
                   "2", "--timeout-ms", "60000", "--command-config", p)
    if rc or [ln for ln in out.splitlines() if ln in ("x1", "x2")] != [
            "x1", "x2"]:
        ndtest.fail("Java consumer %s: %s" % (mech, out[-3000:]))
    print("Java %s: produced and consumed" % mech)

for mech, p in (("PLAIN", props("PLAIN", "wrong")),
                ("SCRAM-SHA-512", props("SCRAM-SHA-512", "wrong")),
                ("OAUTHBEARER", props("OAUTHBEARER", "expired",
                                      token=expired_file))):
    rc, out = java(T + "TopicCommand", "--bootstrap-server", bs,
                   "--command-config", p, "--create", "--topic",
                   "refused-java-" + mech.lower())
    want = WANT[mech]
    if rc == 0 or want not in out:
        ndtest.fail("Java kafka-topics %s refused: status %d, want %r in:\n%s"
                    % (mech, rc, want, out[-3000:]))
    print("Java %s with bad credentials refused" % mech)

r = kcat("PLAIN", "alice-secret", "-L", "-J")
topics = {t["topic"] for t in json.loads(r.stdout)["topics"]}
if any(t.startswith("refused-") for t in topics):
    ndtest.fail("a refused client wrote: %s" % sorted(topics))
ndtest.stop_clean(broker)
ndtest.passed()
