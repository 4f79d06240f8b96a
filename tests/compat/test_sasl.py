"""test_sasl.py — SASL PLAIN and SCRAM on a SASL_PLAINTEXT listener.

`nodata users add` stores alice's SCRAM-SHA-256 and SCRAM-SHA-512
credentials (password on standard input); a broker with
listeners=SASL_PLAINTEXT://127.0.0.1:0 and PLAIN plus both SCRAMs enabled
then:

- lets confluent-kafka (librdkafka) produce and consume as alice with each
  mechanism (PLAIN checks the stored SCRAM credentials);
- refuses a wrong password and an unknown user with each mechanism, with
  Kafka's messages (PLAIN: "Authentication failed: Invalid username or
  password"; SCRAM: "Authentication failed during authentication due to
  invalid credentials with SASL mechanism ..."), and nothing is written:
  the refused clients' topics do not exist afterwards;
- on the wire, as Kafka's SaslServerAuthenticator: a request before the
  handshake closes the connection unanswered; an unknown mechanism is
  UNSUPPORTED_SASL_MECHANISM with the enabled list, then closed; a request
  other than SaslAuthenticate after the handshake closes; a failed
  SaslAuthenticate answers SASL_AUTHENTICATION_FAILED then closes; a
  SaslHandshake v0 is followed by a raw PLAIN token (no header) and the
  connection then serves requests;
- KIP-368, with connections.max.reauth.ms: SaslAuthenticate v1 answers the
  session lifetime; re-authenticating as alice again works, as another
  user is refused ("Cannot change principals during re-authentication");
  once the session expired, a request closes the connection;
- connection.failed.authentication.delay.ms=1500: a wrong password is
  answered SASL_AUTHENTICATION_FAILED no sooner than 1.5 s, the connection
  unread meanwhile, while another client logs in and is served; after a
  SaslHandshake v0 the wrong raw token closes the connection as late.

`nodata users add` refuses while the broker holds the data directory,
`users list` works beside it, `users delete` removes a credential.
"""
import base64
import hashlib
import hmac
import os
import select
import socket
import struct
import subprocess
import tempfile
import time

import ndtest

ck = ndtest.require("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

NODATA = ndtest.nodata_bin()
tmp = tempfile.mkdtemp(prefix="nd-sasl-")
data = os.path.join(tmp, "data")
MECHS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def users(*args, password=None):
    return subprocess.run([NODATA, "users"] + list(args) + ["--data", data],
                          input=(password + "\n").encode()
                          if password is not None else b"",
                          capture_output=True, timeout=60)


for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
    r = users("add", "alice", "--mechanism", mech, password="alice-secret")
    if r.returncode != 0:
        ndtest.fail("users add: %s" % r.stderr.decode())
r = users("add", "bob", "--mechanism", "SCRAM-SHA-256", password="bob-secret")
if r.returncode != 0:
    ndtest.fail("users add bob: %s" % r.stderr.decode())
text = open(os.path.join(data, "security", "scram-credentials")).read()
if "alice-secret" in text or "bob-secret" in text:
    ndtest.fail("the credential file holds a password:\n" + text)


# A credential whose PBKDF2 takes seconds (written by hand: nodata users
# stops at Kafka's 16384 iterations), to see the loop serve others while
# a PLAIN login against it is checked.
def slow_cred(user, pw, iterations):
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return "%s SCRAM-SHA-256 %d %s %s %s\n" % (
        user, iterations, b64(salt).decode(), b64(stored).decode(),
        b64(server).decode())


SLOW_ITERATIONS = 4000000
with open(os.path.join(data, "security", "scram-credentials"), "a") as f:
    f.write(slow_cred("slowpoke", "slow-secret", SLOW_ITERATIONS))

conf_path = os.path.join(tmp, "server.properties")
with open(conf_path, "w") as f:
    f.write("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n")
broker = ndtest.Broker(data_dir=data, listen=False,
                       args=["--config", conf_path])
host, port = "127.0.0.1", broker.port


def client_conf(mech, user, pw, errors):
    return {"bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mech, "sasl.username": user,
            "sasl.password": pw, "error_cb": errors.append}


# ---- clients that authenticate ------------------------------------------
for mech in MECHS:
    topic = "ok-" + mech.lower()
    errors = []
    p = Producer(dict(client_conf(mech, "alice", "alice-secret", errors)))
    for i in range(3):
        p.produce(topic, value=b"v%d" % i)
    if p.flush(30) != 0:
        ndtest.fail("%s: produce did not complete: %s" % (mech, errors))
    c = Consumer(dict(client_conf(mech, "alice", "alice-secret", errors),
                      **{"group.id": "g-" + mech, "auto.offset.reset":
                         "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 3 and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    if got != [b"v0", b"v1", b"v2"]:
        ndtest.fail("%s: consumed %r (errors %s)" % (mech, got, errors))
    print("%s: produced and consumed as alice" % mech)

# ---- clients that are refused --------------------------------------------
WANT = {
    "PLAIN": "Authentication failed: Invalid username or password",
    "SCRAM-SHA-256": "Authentication failed during authentication due to "
                     "invalid credentials with SASL mechanism SCRAM-SHA-256",
    "SCRAM-SHA-512": "Authentication failed during authentication due to "
                     "invalid credentials with SASL mechanism SCRAM-SHA-512",
}
for mech in MECHS:
    for user, pw in (("alice", "wrong"), ("mallory", "alice-secret")):
        topic = "refused-%s-%s" % (mech.lower(), user)
        errors = []
        p = Producer(dict(client_conf(mech, user, pw, errors),
                          **{"message.timeout.ms": 3000}))
        p.produce(topic, value=b"x")
        p.flush(10)
        auth = [e for e in errors
                if e.code() == ck.KafkaError._AUTHENTICATION]
        if not auth or WANT[mech] not in auth[0].str():
            ndtest.fail("%s %s/%s: want an authentication error saying %r, "
                        "got %s" % (mech, user, pw, WANT[mech], errors))
        print("%s %s: refused: %s" % (mech, user, auth[0].str()[:100]))

admin = AdminClient(client_conf("PLAIN", "alice", "alice-secret", []))
topics = set(admin.list_topics(timeout=30).topics)
if any(t.startswith("refused-") for t in topics):
    ndtest.fail("a refused client wrote: topics %s" % sorted(topics))
if not {"ok-plain", "ok-scram-sha-256", "ok-scram-sha-512"} <= topics:
    ndtest.fail("topics %s" % sorted(topics))


# ---- the wire ------------------------------------------------------------
def conn():
    return socket.create_connection((host, port), timeout=10)


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def handshake(sock, mech, version=1, cid=1):
    ndtest.kafka_request(sock, 17, version, cid, s16(mech))
    f = ndtest.recv_frame(sock)
    if f is None:
        return None
    err, n = struct.unpack(">hi", f[4:10])
    off, names = 10, []
    for _ in range(n):
        (ln,) = struct.unpack(">h", f[off:off + 2])
        names.append(f[off + 2:off + 2 + ln].decode())
        off += 2 + ln
    return err, names


def authenticate(sock, token, version=1, cid=2):
    ndtest.kafka_request(sock, 36, version, cid,
                         struct.pack(">i", len(token)) + token)
    f = ndtest.recv_frame(sock)
    if f is None:
        return None
    (err,) = struct.unpack(">h", f[4:6])
    (ml,) = struct.unpack(">h", f[6:8])
    off = 8 + max(ml, 0)
    msg = f[8:off].decode() if ml >= 0 else None
    (bl,) = struct.unpack(">i", f[off:off + 4])
    off += 4 + max(bl, 0)
    life = struct.unpack(">q", f[off:off + 8])[0] if version >= 1 else None
    return err, msg, life


def metadata_ok(sock, cid=3):
    ndtest.kafka_request(sock, 3, 0, cid, struct.pack(">i", 0))
    f = ndtest.recv_frame(sock)
    return f is not None and struct.unpack(">i", f[:4])[0] == cid


def plain(user, pw):
    return b"\0" + user.encode() + b"\0" + pw.encode()


s = conn()
if metadata_ok(s) or not ndtest.closed_by_peer(s):
    ndtest.fail("Metadata before the handshake was answered")
s.close()
print("wire: a request before the handshake closes the connection")

s = conn()
r = handshake(s, "GSSAPI")
if r != (33, MECHS):
    ndtest.fail("handshake GSSAPI: want (33, %s), got %r" % (MECHS, r))
if not ndtest.closed_by_peer(s):
    ndtest.fail("connection open after UNSUPPORTED_SASL_MECHANISM")
s.close()
print("wire: GSSAPI -> UNSUPPORTED_SASL_MECHANISM %s, closed" % r[1])

s = conn()
if handshake(s, "PLAIN") != (0, MECHS):
    ndtest.fail("handshake PLAIN refused")
if metadata_ok(s) or not ndtest.closed_by_peer(s):
    ndtest.fail("Metadata between handshake and authenticate was answered")
s.close()

s = conn()
handshake(s, "PLAIN")
r = authenticate(s, plain("alice", "nope"))
if r is None or r[0] != 58 or r[1] != WANT["PLAIN"]:
    ndtest.fail("bad password: want (58, %r), got %r" % (WANT["PLAIN"], r))
if not ndtest.closed_by_peer(s):
    ndtest.fail("connection open after SASL_AUTHENTICATION_FAILED")
s.close()
print("wire: wrong password -> SASL_AUTHENTICATION_FAILED, closed")

s = conn()
if handshake(s, "PLAIN", version=0) != (0, MECHS):
    ndtest.fail("handshake v0 refused")
tok = plain("alice", "alice-secret")
s.sendall(struct.pack(">i", len(tok)) + tok)
if ndtest.recv_frame(s) != b"":
    ndtest.fail("v0 PLAIN: want an empty token back")
if not metadata_ok(s):
    ndtest.fail("v0 PLAIN: Metadata after authentication not answered")
s.close()
print("wire: SaslHandshake v0 + raw PLAIN token authenticates")

# A PLAIN password checked against a SCRAM credential costs a PBKDF2 of
# its iterations. The loop hands it to a worker lane: while slowpoke's
# login is checked (4,000,000 iterations, seconds), another connection is
# answered. On the loop, that answer would wait for slowpoke's.
slow = conn()
handshake(slow, "PLAIN")
tok = plain("slowpoke", "slow-secret")
ndtest.kafka_request(slow, 36, 1, 2, struct.pack(">i", len(tok)) + tok)
time.sleep(0.3)  # so the broker has the login in hand first
other = conn()
if handshake(other, "PLAIN") != (0, MECHS):
    ndtest.fail("a handshake during a slow PLAIN check was refused")
ready, _, _ = select.select([slow], [], [], 0)
if ready:
    ndtest.fail("slowpoke's login was answered before another connection's "
                "handshake: the PBKDF2 ran on the loop")
other.close()
slow.settimeout(120)
f = ndtest.recv_frame(slow)
if f is None or struct.unpack(">h", f[4:6])[0] != 0:
    ndtest.fail("slowpoke's PLAIN login failed: %r" % f)
if not metadata_ok(slow):
    ndtest.fail("slowpoke: Metadata after authentication not answered")
slow.close()
s = conn()
handshake(s, "PLAIN")
r = authenticate(s, plain("slowpoke", "not-it"))
if r is None or r[0] != 58:
    ndtest.fail("slowpoke, wrong password: want 58, got %r" % (r,))
s.close()
print("wire: a PLAIN check of %d PBKDF2 iterations runs off the loop; "
      "others are served meanwhile" % SLOW_ITERATIONS)

# ---- KIP-368 ---------------------------------------------------------------
# Again with sessions of 3 s (librdkafka 2.0 cannot re-authenticate, so the
# clients above ran without).
s = conn()
handshake(s, "PLAIN")
if authenticate(s, plain("alice", "alice-secret")) != (0, None, 0):
    ndtest.fail("without connections.max.reauth.ms the lifetime is not 0")
s.close()
ndtest.stop_clean(broker)
with open(conf_path, "a") as f:
    f.write("connections.max.reauth.ms=3000\n"
            "connection.failed.authentication.delay.ms=1500\n")
broker = ndtest.Broker(data_dir=data, listen=False,
                       args=["--config", conf_path])
port = broker.port

# ---- connection.failed.authentication.delay.ms -------------------------------
# A wrong password is answered 1.5 s late, its connection unread meanwhile;
# the broker serves everyone else in that time (bob logs in and is answered
# while the refusal is still pending).
s = conn()
handshake(s, "PLAIN")
t0 = time.monotonic()
tok = plain("alice", "wrong")
ndtest.kafka_request(s, 36, 1, 2, struct.pack(">i", len(tok)) + tok)
other = conn()
handshake(other, "PLAIN")
if authenticate(other, plain("bob", "bob-secret"))[0] != 0 or \
        not metadata_ok(other):
    ndtest.fail("bob's login during alice's delayed refusal failed")
other.close()
if select.select([s], [], [], 0)[0]:
    ndtest.fail("the refusal came before bob's login was served (%.3f s)"
                % (time.monotonic() - t0))
f = ndtest.recv_frame(s)
took = time.monotonic() - t0
if f is None or struct.unpack(">h", f[4:6])[0] != 58 or took < 1.5 or \
        not ndtest.closed_by_peer(s):
    ndtest.fail("delayed refusal: frame %r after %.3f s (want error 58, no "
                "sooner than 1.5 s, then closed)" % (f and f[:8], took))
s.close()
# The raw tokens after a SaslHandshake v0 have no error to carry: the
# connection closes, no sooner either.
s = conn()
handshake(s, "PLAIN", version=0)
t0 = time.monotonic()
tok = plain("alice", "wrong")
s.sendall(struct.pack(">i", len(tok)) + tok)
closed = ndtest.closed_by_peer(s)
took = time.monotonic() - t0
if not closed or took < 1.5:
    ndtest.fail("v0 wrong password: closed %s after %.3f s (want closed, "
                "no sooner than 1.5 s)" % (closed, took))
s.close()
print("wire: failed authentications answered 1.5 s late, others served")
s = conn()
handshake(s, "PLAIN")
r = authenticate(s, plain("alice", "alice-secret"))
if r != (0, None, 3000):
    ndtest.fail("authenticate v1: want (0, None, 3000), got %r" % (r,))
if not metadata_ok(s):
    ndtest.fail("Metadata after authentication not answered")
if handshake(s, "PLAIN", cid=4) != (0, MECHS):
    ndtest.fail("re-authentication handshake refused")
if authenticate(s, plain("alice", "alice-secret"), cid=5) != (0, None, 3000):
    ndtest.fail("re-authentication as alice refused")
if not metadata_ok(s, cid=6):
    ndtest.fail("Metadata after re-authentication not answered")
handshake(s, "PLAIN", cid=7)
r = authenticate(s, plain("bob", "bob-secret"), cid=8)
want = "Cannot change principals during re-authentication from User.alice: " \
       "User.bob"
if r is None or r[:2] != (58, want):
    ndtest.fail("re-authentication as bob: want (58, %r), got %r" % (want, r))
if not ndtest.closed_by_peer(s):
    ndtest.fail("connection open after a principal change")
s.close()
print("wire: re-authentication keeps alice, refuses bob")

s = conn()
handshake(s, "PLAIN")
authenticate(s, plain("alice", "alice-secret"))
time.sleep(3.5)  # past the session's 3000 ms
if metadata_ok(s) or not ndtest.closed_by_peer(s):
    ndtest.fail("a request on an expired session was answered")
s.close()
print("wire: an expired session is closed on its next request")

# ---- nodata users beside the broker -----------------------------------------
r = users("add", "carol", "--mechanism", "SCRAM-SHA-256", password="x")
if r.returncode != 1 or b"pid %d" % broker.pid not in r.stderr:
    ndtest.fail("users add while serving: status %d, %s"
                % (r.returncode, r.stderr.decode()))
r = users("list")
if r.returncode != 0 or r.stdout.decode().split("\n")[:3] != [
        "alice SCRAM-SHA-256 iterations=4096",
        "alice SCRAM-SHA-512 iterations=4096",
        "bob SCRAM-SHA-256 iterations=4096"]:
    ndtest.fail("users list: %r" % r.stdout.decode())
ndtest.stop_clean(broker)
r = users("delete", "alice", "--mechanism", "SCRAM-SHA-512")
if r.returncode != 0:
    ndtest.fail("users delete: %s" % r.stderr.decode())
r = users("delete", "alice", "--mechanism", "SCRAM-SHA-512")
if r.returncode != 1 or b"no SCRAM-SHA-512 credential" not in r.stderr:
    ndtest.fail("users delete twice: %d %s" % (r.returncode, r.stderr))
r = users("list")
if "alice SCRAM-SHA-512" in r.stdout.decode():
    ndtest.fail("users list after delete: %r" % r.stdout.decode())
r = users("add", "dave", "--mechanism", "SCRAM-SHA-1", password="x")
if r.returncode != 2:
    ndtest.fail("users add SCRAM-SHA-1: status %d" % r.returncode)
ndtest.passed()
