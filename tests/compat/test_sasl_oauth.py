"""test_sasl_oauth.py — SASL OAUTHBEARER with JWTs checked against a JWKS
file (sasl.oauthbearer.jwks.endpoint.url=file://...).

The test makes an RSA key and an EC P-256 key with the openssl command,
writes their public halves as a JWKS document and signs JWTs itself
(openssl dgst). On a SASL_PLAINTEXT listener with OAUTHBEARER, expected
audience and issuer:

- confluent-kafka (its oauth_cb hands librdkafka the token) produces and
  consumes with an RS256 token and with an ES256 token; the broker logs
  the principal from the sub claim (User:alice);
- an expired token, a token signed by a key outside the set, a token for
  another audience, one from another issuer and an unsigned one
  (alg "none") are refused with Kafka's {"status":"invalid_token"}, and
  nothing is written;
- on the wire, SaslAuthenticate v1's session lifetime is bounded by the
  token's exp when connections.max.reauth.ms is longer; a refused token is
  answered with the invalid_token challenge, then, after the client's
  0x01, SASL_AUTHENTICATION_FAILED and the connection closes;
- the broker refuses to start with an https:// key set URL, without one,
  and with GSSAPI, each with a message saying so.
"""
import json
import os
import socket
import struct
import tempfile
import time

import ndtest
from jwt_keys import ec_key, jwt, rsa_key

ck = ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402

tmp = tempfile.mkdtemp(prefix="nd-oauth-")


rsa_path, rsa_jwk = rsa_key(tmp, "rsa1")
ec_path, ec_jwk = ec_key(tmp, "ec1")
other_path, _ = rsa_key(tmp, "other")  # not in the set
jwks = os.path.join(tmp, "jwks.json")
with open(jwks, "w") as f:
    json.dump({"keys": [rsa_jwk, ec_jwk]}, f)

now = int(time.time())
CLAIMS = {"sub": "alice", "iss": "https://issuer.example", "aud": ["nodata"],
          "iat": now, "exp": now + 600, "scope": "kafka"}
GOOD_RS = jwt(rsa_path, "rsa1", CLAIMS)
GOOD_ES = jwt(ec_path, "ec1", CLAIMS, alg="ES256")
BAD = {
    "expired": jwt(rsa_path, "rsa1", dict(CLAIMS, iat=now - 7200,
                                          exp=now - 3600)),
    "other-key": jwt(other_path, "rsa1", CLAIMS),
    "audience": jwt(rsa_path, "rsa1", dict(CLAIMS, aud="someone-else")),
    "issuer": jwt(rsa_path, "rsa1", dict(CLAIMS, iss="https://evil")),
    # A C string comparison would stop at the NUL and see the issuer.
    "issuer-nul": jwt(rsa_path, "rsa1",
                      dict(CLAIMS, iss="https://issuer.example\u0000.evil")),
    "unsigned": jwt(None, "rsa1", CLAIMS, alg="none"),
}

conf_path = os.path.join(tmp, "server.properties")
BASE = ("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
        "sasl.enabled.mechanisms=OAUTHBEARER\n"
        "sasl.oauthbearer.expected.audience=nodata,other\n"
        "sasl.oauthbearer.expected.issuer=https://issuer.example\n")
with open(conf_path, "w") as f:
    f.write(BASE + "sasl.oauthbearer.jwks.endpoint.url=file://%s\n" % jwks +
            "connections.max.reauth.ms=3600000\n")
broker = ndtest.Broker(listen=False, args=["--config", conf_path])


def client_conf(token, errors):
    return {"bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": lambda _cfg: (token, time.time() + 600),
            "error_cb": errors.append}


for name, token in (("RS256", GOOD_RS), ("ES256", GOOD_ES)):
    topic = "ok-" + name.lower()
    errors = []
    p = Producer(client_conf(token, errors))
    for i in range(3):
        p.produce(topic, value=b"v%d" % i)
    if p.flush(30) != 0:
        ndtest.fail("%s: produce did not complete: %s" % (name, errors))
    c = Consumer(dict(client_conf(token, errors),
                      **{"group.id": "g-" + name,
                         "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 3 and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    if got != [b"v0", b"v1", b"v2"]:
        ndtest.fail("%s: consumed %r (errors %s)" % (name, got, errors))
    print("%s token: produced and consumed" % name)
if "SASL OAUTHBEARER authenticated as User:alice" not in broker.stderr():
    ndtest.fail("no log line with the principal User:alice:\n" +
                broker.stderr()[-2000:])

for name, token in BAD.items():
    errors = []
    p = Producer(dict(client_conf(token, errors),
                      **{"message.timeout.ms": 3000}))
    p.produce("refused-" + name, value=b"x")
    p.flush(10)
    auth = [e for e in errors if e.code() == ck.KafkaError._AUTHENTICATION]
    if not auth or '{"status":"invalid_token"}' not in auth[0].str():
        ndtest.fail("%s token: want invalid_token, got %s" % (name, errors))
    print("%s token refused: %s" % (name, auth[0].str()[-60:]))
# A producer serves its oauth_cb while polled (an AdminClient would need
# the same); its metadata lists the topics.
p = Producer(client_conf(GOOD_RS, []))
p.poll(1)
topics = set(p.list_topics(timeout=30).topics)
if any(t.startswith("refused-") for t in topics):
    ndtest.fail("a refused client wrote: %s" % sorted(topics))


# ---- the wire ------------------------------------------------------------
def request(sock, key, version, cid, body):
    ndtest.kafka_request(sock, key, version, cid, body)
    return ndtest.recv_frame(sock)


def authenticate(sock, token_bytes, cid):
    f = request(sock, 36, 1, cid, struct.pack(">i", len(token_bytes)) +
                token_bytes)
    if f is None:
        return None
    (err, ml) = struct.unpack(">hh", f[4:8])
    off = 8 + max(ml, 0)
    msg = f[8:off].decode() if ml >= 0 else None
    (bl,) = struct.unpack(">i", f[off:off + 4])
    auth = f[off + 4:off + 4 + bl]
    (life,) = struct.unpack(">q", f[off + 4 + bl:off + 12 + bl])
    return err, msg, auth, life


def first_message(token):
    return b"n,,\x01auth=Bearer " + token.encode() + b"\x01\x01"


def handshake(sock):
    mech = b"OAUTHBEARER"
    f = request(sock, 17, 1, 1, struct.pack(">h", len(mech)) + mech)
    if f is None or struct.unpack(">h", f[4:6])[0] != 0:
        ndtest.fail("OAUTHBEARER handshake refused: %r" % f)


short = jwt(rsa_path, "rsa1", dict(CLAIMS, exp=int(time.time()) + 100))
with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
    handshake(s)
    r = authenticate(s, first_message(short), 2)
    if r is None or r[0] != 0 or not 0 < r[3] <= 100000:
        ndtest.fail("lifetime of a token expiring in 100 s: %r" % (r,))
    print("wire: session lifetime %d ms, bounded by the token's exp" % r[3])

with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
    handshake(s)
    r = authenticate(s, first_message(BAD["expired"]), 2)
    if r is None or r[0] != 0 or r[2] != b'{"status":"invalid_token"}':
        ndtest.fail("expired token: want the invalid_token challenge, got %r"
                    % (r,))
    r = authenticate(s, b"\x01", 3)
    if r is None or r[:2] != (58, '{"status":"invalid_token"}'):
        ndtest.fail("after the challenge: want (58, invalid_token), got %r"
                    % (r,))
    if not ndtest.closed_by_peer(s):
        ndtest.fail("connection open after a refused token")
    print("wire: refused token -> challenge, 0x01 -> "
          "SASL_AUTHENTICATION_FAILED, closed")
ndtest.stop_clean(broker)


# ---- refused at start ------------------------------------------------------
def refused_start(props, want):
    with open(conf_path, "w") as f:
        f.write(props)
    try:
        b = ndtest.Broker(listen=False, args=["--config", conf_path])
    except ndtest.BrokerError as e:
        if want not in str(e):
            ndtest.fail("start refused without %r:\n%s" % (want, e))
        return
    b.stop(check=False)
    ndtest.fail("the broker started with:\n" + props)


refused_start(BASE + "sasl.oauthbearer.jwks.endpoint.url="
              "https://idp.example/jwks\n", "only file:// URLs")
refused_start(BASE, "OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url")
refused_start("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
              "sasl.enabled.mechanisms=GSSAPI\n",
              "GSSAPI (Kerberos) is not supported")
print("start refused: https key set, no key set, GSSAPI")
ndtest.passed()
