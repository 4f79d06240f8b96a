"""test_tls.py — `nodata serve` on an SSL listener (issue 21), with a test
PKI made by the openssl command line, kcat and confluent-kafka
(librdkafka) as the clients, and Python's ssl module for the raw checks:

- produce/consume round trip over TLS with mTLS (ssl.client.auth=
  required): confluent-kafka and kcat, each with a client certificate;
  the session principal is the certificate's subject in RFC 2253 form
  (User:CN=alice,OU=eng,O=Example), seen in the broker's DEBUG line, or
  what ssl.principal.mapping.rules makes of it (User:svc-bob);
- a client without a certificate, and one whose certificate another CA
  signed, are refused: no Kafka answer comes back, kcat reports the
  failure, the broker logs "Failed authentication";
- plaintext Kafka sent to the TLS port: answered with a TLS alert record
  (as Kafka), closed with one log line and not
  a byte written back;
- a client limited to TLS 1.1 is refused (OpenSSL 3's default security
  level refuses it too, so that check alone does not pin the broker's
  setting), and ssl.enabled.protocols naming TLSv1.1 stops the broker at
  start, naming the property;
- a large Fetch (8 MB of records, file parts read and encrypted) arrives
  intact (SHA-256 of every value);
- certificate reload: the keystore file is replaced (rename); a new
  connection gets the new certificate (its serial), a connection opened
  before keeps the old one and keeps working;
- an expired server certificate is refused by the client (kcat and
  Python's ssl: "certificate has expired");
- a handshake that stops half way is closed after
  connections.max.idle.ms, with a line saying so.
"""
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ck = ndtest.require("confluent_kafka")
if not shutil.which("openssl") or not shutil.which("kcat"):
    ndtest.skip("needs the openssl and kcat commands")

CA_CNF = """[ca]
default_ca = CA_default
[CA_default]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
"""


def run(cmd, cwd, **kw):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        ndtest.fail("%s: %s" % (" ".join(cmd), r.stderr))
    return r


def stamp(t):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))


class PKI:
    """CAs and certificates signed with `openssl ca`, which can set any
    validity period (an expired one too) and serial."""

    def __init__(self, d):
        self.d = d

    def ca(self, name, cn):
        cdir = os.path.join(self.d, name)
        os.mkdir(cdir)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=" + cn], cdir)
        with open(os.path.join(cdir, "ca.cnf"), "w") as f:
            f.write(CA_CNF)
        open(os.path.join(cdir, "index.txt"), "w").close()
        return os.path.join(cdir, "ca.pem")

    def cert(self, ca, name, subj, serial, start=None, end=None):
        """Key and certificate `name` signed by CA `ca`: returns (cert path,
        key path, keystore path = key + cert in one PEM)."""
        cdir = os.path.join(self.d, ca)
        now = time.time()
        start = now - 3600 if start is None else start
        end = now + 86400 if end is None else end
        with open(os.path.join(cdir, "serial.txt"), "w") as f:
            f.write("%X\n" % serial)
        ext = os.path.join(self.d, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        crt = os.path.join(self.d, name + ".pem")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
             csr, "-subj", subj], cdir)
        run(["openssl", "ca", "-batch", "-preserveDN", "-config", "ca.cnf", "-cert",
             "ca.pem", "-keyfile", "ca.key", "-in", csr, "-out", crt,
             "-startdate", stamp(start), "-enddate", stamp(end), "-extfile",
             ext, "-notext"], cdir)
        ks = os.path.join(self.d, name + ".keystore.pem")
        with open(ks, "w") as f:
            f.write(open(key).read() + open(crt).read())
        return crt, key, ks


def write_props(path, props):
    with open(path, "w") as f:
        for k, v in props.items():
            f.write("%s=%s\n" % (k, v))


def tls_broker(tmp, name, props, args=()):
    path = os.path.join(tmp, name + ".properties")
    base = {"listeners": "SSL://127.0.0.1:0", "ssl.keystore.type": "PEM"}
    base.update(props)
    write_props(path, base)
    return ndtest.Broker(args=["--config", path, "--log-level", "debug"] +
                         list(args), listen=False)


def client_ctx(ca, cert=None, key=None, maxv=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    if maxv:
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = maxv
        # Let the client offer TLS 1.1 at all: the refusal must be the
        # broker's.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def tls_connect(port, ctx):
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def api_versions_answer(s, corr):
    """Send ApiVersions v0; the correlation id answered, or None when the
    connection fails or closes first."""
    try:
        ndtest.kafka_request(s, 18, 0, corr)
        r = ndtest.recv_frame(s, 15)
    except (ssl.SSLError, OSError):
        return None
    return struct.unpack(">i", r[:4])[0] if r else None


def kcat(args, conf, wait=15):
    """kcat with -X conf; wait = its -m (metadata timeout, seconds)."""
    cmd = ["kcat", "-m", str(wait)]
    for k, v in conf.items():
        cmd += ["-X", "%s=%s" % (k, v)]
    return subprocess.run(cmd + args, capture_output=True, text=True,
                          timeout=120)


def expect_log(b, text, what):
    deadline = time.monotonic() + 15
    while text not in b.stderr():
        if time.monotonic() > deadline:
            ndtest.fail("%s: no '%s' in the broker's log:\n%s"
                        % (what, text, b.stderr()[-3000:]))
        time.sleep(0.05)


def serial_of(sock):
    return int(sock.getpeercert()["serialNumber"], 16)


def main():
    tmp = tempfile.mkdtemp(prefix="nd-tls-")
    try:
        run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ndtest.passed()


def run_all(tmp):
    pki = PKI(tmp)
    ca = pki.ca("ca", "Test CA")
    pki.ca("other", "Other CA")
    _, _, server_ks = pki.cert("ca", "server", "/CN=localhost", 0x1001)
    alice_crt, alice_key, _ = pki.cert("ca", "alice",
                                       "/O=Example/OU=eng/CN=alice", 0x2001)
    mal_crt, mal_key, _ = pki.cert("other", "mallory", "/CN=mallory", 0x3001)
    bob_crt, bob_key, _ = pki.cert("ca", "bob",
                                   "/O=Example/OU=ServiceUsers/CN=Bob", 0x2002)

    # The keystore the broker reads, replaced later for the reload.
    ks = os.path.join(tmp, "keystore.pem")
    shutil.copy(server_ks, ks)
    with tls_broker(tmp, "mtls", {"ssl.keystore.location": ks,
                                  "ssl.truststore.type": "PEM",
                                  "ssl.truststore.location": ca,
                                  "ssl.client.auth": "required",
                                  "ssl.principal.mapping.rules":
                                  "RULE:^CN=(.*?),OU=ServiceUsers,O=Example$"
                                  "/svc-$1/L,DEFAULT"}) as b:
        check_mtls(b, pki, tmp, ca, ks, alice_crt, alice_key, mal_crt,
                   mal_key)
        # A mapping rule (Kafka's ssl.principal.mapping.rules): Bob's
        # subject matches it, alice's fell through to DEFAULT above.
        with tls_connect(b.port, client_ctx(ca, bob_crt, bob_key)) as s:
            if api_versions_answer(s, 31) != 31:
                ndtest.fail("no answer to a client with a mapped principal")
        expect_log(b, "session principal User:svc-bob (client certificate "
                   "CN=Bob,OU=ServiceUsers,O=Example)", "principal mapping")
        ndtest.stop_clean(b)

    # An expired server certificate: the clients refuse it.
    now = time.time()
    _, _, exp_ks = pki.cert("ca", "expired", "/CN=localhost", 0x4001,
                            start=now - 10 * 86400, end=now - 86400)
    with tls_broker(tmp, "expired", {"ssl.keystore.location": exp_ks},
                    ["--connections-max-idle-ms", "1000"]) as b:
        try:
            tls_connect(b.port, client_ctx(ca)).close()
            ndtest.fail("a client accepted an expired server certificate")
        except ssl.SSLCertVerificationError as e:
            if "expired" not in str(e):
                ndtest.fail("expired certificate: unexpected error %s" % e)
        r = kcat(["-L"], {"bootstrap.servers": b.bootstrap,
                          "security.protocol": "ssl",
                          "ssl.ca.location": ca}, wait=3)
        # librdkafka says only "certificate verify failed"; the alert it
        # sends tells the broker why.
        if r.returncode == 0 or "certificate verify failed" not in r.stderr:
            ndtest.fail("kcat with an expired server certificate: rc %d, %s"
                        % (r.returncode, r.stderr[-2000:]))
        expect_log(b, "alert certificate expired", "expired certificate")
        # A handshake that stops half way is closed after
        # connections.max.idle.ms (the bound here only turns a hang into
        # a failure).
        with socket.create_connection(("127.0.0.1", b.port), 15) as s:
            s.sendall(bytes([0x16, 3, 1, 0x02, 0x00, 1, 0, 1, 0xfc, 3]))
            if not ndtest.closed_by_peer(s, 120):
                ndtest.fail("a stalled handshake was not closed")
        expect_log(b, "TLS handshake not complete", "stalled handshake")
        ndtest.stop_clean(b)

    # TLS older than 1.2 cannot even be configured: the broker stops at
    # start, naming the property (a start-up line would mean it serves).
    path = os.path.join(tmp, "old.properties")
    write_props(path, {"listeners": "SSL://127.0.0.1:0",
                       "ssl.keystore.location": server_ks,
                       "ssl.enabled.protocols": "TLSv1.2,TLSv1.1"})
    try:
        b = ndtest.Broker(args=["--config", path], listen=False, start=False)
        try:
            b.start(timeout=60)
        finally:
            b.close()
        ndtest.fail("the broker started with ssl.enabled.protocols="
                    "TLSv1.2,TLSv1.1")
    except ndtest.BrokerError as e:
        if "ssl.enabled.protocols" not in str(e) or "TLSv1.1" not in str(e):
            ndtest.fail("ssl.enabled.protocols=TLSv1.2,TLSv1.1: %s" % e)

def check_mtls(b, pki, tmp, ca, ks, alice_crt, alice_key, mal_crt, mal_key):
    conf = {"bootstrap.servers": b.bootstrap, "security.protocol": "SSL",
            "ssl.ca.location": ca, "ssl.certificate.location": alice_crt,
            "ssl.key.location": alice_key}

    # Round trip with confluent-kafka, and the principal.
    p = ck.Producer(dict(conf, **{"linger.ms": 5}))
    want = [b"tls-%d" % i for i in range(200)]
    for v in want:
        p.produce("tls-rt", v)
    if p.flush(60) != 0:
        ndtest.fail("produce over TLS did not complete")
    got = [m.value() for m in ndtest.consume_to_end(b.bootstrap, "tls-rt",
                                                     conf=conf)]
    if got != want:
        ndtest.fail("round trip over TLS: %d of %d, first %r"
                    % (len(got), len(want), got[:3]))
    expect_log(b, "session principal User:CN=alice,OU=eng,O=Example",
               "mTLS principal")

    # kcat, with the same certificate.
    kc = {"bootstrap.servers": b.bootstrap, "security.protocol": "ssl",
          "ssl.ca.location": ca, "ssl.certificate.location": alice_crt,
          "ssl.key.location": alice_key}
    r = subprocess.run(["kcat", "-m", "15", "-P", "-t", "tls-kcat"] +
                       sum([["-X", "%s=%s" % kv] for kv in kc.items()], []),
                       input="a\nb\nc\n", capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        ndtest.fail("kcat produce over TLS: %s" % r.stderr)
    r = kcat(["-C", "-t", "tls-kcat", "-o", "beginning", "-e", "-q"], kc)
    if r.returncode != 0 or r.stdout != "a\nb\nc\n":
        ndtest.fail("kcat consume over TLS: rc %d, %r, %s"
                    % (r.returncode, r.stdout, r.stderr))

    # No client certificate, or one from another CA: refused, no answer.
    for what, ctx in (("no client certificate", client_ctx(ca)),
                      ("a certificate from another CA",
                       client_ctx(ca, mal_crt, mal_key))):
        before = b.stderr().count("Failed authentication")
        try:
            s = tls_connect(b.port, ctx)
        except (ssl.SSLError, OSError):
            s = None  # TLS 1.2 fails the handshake itself
        if s is not None:
            with s:
                corr = api_versions_answer(s, 11)
            if corr is not None:
                ndtest.fail("%s: the broker answered" % what)
        deadline = time.monotonic() + 15
        while b.stderr().count("Failed authentication") == before:
            if time.monotonic() > deadline:
                ndtest.fail("%s: no 'Failed authentication' line" % what)
            time.sleep(0.05)
    r = kcat(["-L"], {"bootstrap.servers": b.bootstrap,
                      "security.protocol": "ssl", "ssl.ca.location": ca},
             wait=3)
    if r.returncode == 0:
        ndtest.fail("kcat without a client certificate got metadata: %s"
                    % r.stdout)

    # Plaintext Kafka to the TLS port: closed, nothing written.
    with socket.create_connection(("127.0.0.1", b.port), timeout=15) as s:
        ndtest.kafka_request(s, 18, 0, 12)
        s.settimeout(15)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            ndtest.fail("plaintext to the TLS port: still open after 15 s")
        # Only a fatal unexpected_message alert record, as Kafka's
        # SSLEngine answers: no Kafka frame.
        if data != b"\x15\x03\x03\x00\x02\x02\x0a":
            ndtest.fail("plaintext to the TLS port: want one TLS alert "
                        "record back, got %d bytes: %r"
                        % (len(data), data[:32]))
    expect_log(b, "not TLS on SSL listener SSL", "plaintext to the TLS port")

    # A client that offers at most TLS 1.1.
    try:
        tls_connect(b.port, client_ctx(ca, alice_crt, alice_key,
                                       ssl.TLSVersion.TLSv1_1)).close()
        ndtest.fail("a TLS 1.1 client completed a handshake")
    except (ssl.SSLError, OSError):
        pass

    # A large Fetch: 8 MB of 256 KB values, read back whole.
    p = ck.Producer(dict(conf, **{"message.max.bytes": 1 << 20,
                                  "linger.ms": 20}))
    vals = [os.urandom(256 * 1024) for _ in range(32)]
    for v in vals:
        p.produce("tls-big", v)
    if p.flush(120) != 0:
        ndtest.fail("large produce over TLS did not complete")
    got = ndtest.consume_to_end(b.bootstrap, "tls-big", timeout=60,
                                conf=dict(conf, **{
                                    "fetch.max.bytes": 16 << 20,
                                    "max.partition.fetch.bytes": 16 << 20}))
    dig = hashlib.sha256()
    for m in got:
        dig.update(m.value())
    want_dig = hashlib.sha256()
    for v in vals:
        want_dig.update(v)
    if len(got) != len(vals) or dig.digest() != want_dig.digest():
        ndtest.fail("large fetch over TLS: %d values, digest %s, want %s"
                    % (len(got), dig.hexdigest(), want_dig.hexdigest()))

    # Reload: replace the keystore; new connections see the new serial,
    # an open one keeps its certificate and keeps working.
    actx = client_ctx(ca, alice_crt, alice_key)
    old = tls_connect(b.port, actx)
    if serial_of(old) != 0x1001 or api_versions_answer(old, 21) != 21:
        ndtest.fail("before the reload: serial %x" % serial_of(old))
    _, _, new_ks = pki.cert("ca", "server2", "/O=Reloaded/CN=localhost",
                            0x1002)
    shutil.copy(new_ks, ks + ".tmp")
    os.rename(ks + ".tmp", ks)
    with tls_connect(b.port, actx) as new:
        if serial_of(new) != 0x1002:
            ndtest.fail("after the reload a new connection got serial %x"
                        % serial_of(new))
        if api_versions_answer(new, 22) != 22:
            ndtest.fail("after the reload: no answer on a new connection")
    with old:
        if api_versions_answer(old, 23) != 23 or serial_of(old) != 0x1001:
            ndtest.fail("the connection opened before the reload broke")
    expect_log(b, "reloaded, new connections get", "reload")
    # The producer from before keeps producing on its connection.
    p.produce("tls-rt", b"after-reload")
    if p.flush(60) != 0:
        ndtest.fail("produce after the reload did not complete")


if __name__ == "__main__":
    main()
