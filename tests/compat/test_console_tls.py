"""test_console_tls.py — the web console's Kafka client over TLS
(broker/console_kafka.c; docs/console.md), local and remote.

Certificates from seclib.Pki: a CA, a server certificate for 127.0.0.1
and localhost signed by it, another CA that signed nothing of the
broker's, client certificate alice; and made here, one more server
certificate signed by the CA that names only kafka.example.com.

- A broker whose only listener is SASL_SSL (SCRAM users by `nodata users
  add`) with --http: its console connects to that listener over TLS, asks
  for a login, alice logs in with SCRAM-SHA-512 and creates and lists a
  topic, which librdkafka over SASL_SSL sees too. With the keystore
  replaced by the kafka.example.com certificate (reloaded by the listener
  at the next connection), a new login still works: the local console
  trusts the certificate its own listener serves, whatever it names.
- `nodata console --bootstrap` in front of that listener with
  --security-protocol SASL_SSL --ssl-ca ca.pem: login and topics work;
  with the other CA the login is 502 BROKER_CONNECTION_FAILED naming
  "certificate verify failed"; once the broker serves the
  kafka.example.com certificate, connecting by 127.0.0.1 is refused
  ("IP address mismatch") though the CA is right.
- A broker with only an SSL listener, no client certificates: its console
  needs no login (User:ANONYMOUS) and creates and lists topics; --http on
  an address others can reach is refused at start (exit status 2), as for
  PLAINTEXT. `nodata console --security-protocol SSL` with the right CA
  lists the topics; with the other CA every API call that needs Kafka
  (/api/topics, /api/overview, /api/groups) answers 502 naming the
  verification failure; in front of a listener that never answers the
  ClientHello, the call is 502 "handshake timed out after 10000 ms".
- A broker whose only listener requires client certificates
  (ssl.client.auth=required): its console answers 503 NO_LISTENER saying
  why. `nodata console --ssl-cert alice.pem --ssl-key alice.key` works
  there and is User:CN=alice,OU=test,O=nodata; without a certificate each
  call is 502, saying the listener requires one. --command-config with
  Kafka's client properties (PEM truststore and keystore) does the same as
  the flags.
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import seclib  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka.admin import AdminClient  # noqa: E402

NODATA = ndtest.nodata_bin()
tmp = tempfile.mkdtemp(prefix="nd-console-tls-")
pki = seclib.Pki(os.path.join(tmp, "pki"))
# Signed by the right CA, but for another name than 127.0.0.1/localhost.
pki._cert("elsewhere", "ca", "/CN=kafka.example.com/O=nodata",
          san="DNS:kafka.example.com")
PW = "alice-secret"
procs = []


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def call(addr, method, path, body=None, cookie=None):
    """One API call: (status, decoded JSON or None)."""
    h = {"Host": "127.0.0.1"}
    raw = None
    if cookie:
        h["Cookie"] = "nd_session=" + cookie
    if body is not None:
        raw = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection(*addr, timeout=30)
    try:
        c.request(method, path, body=raw, headers=h)
        r = c.getresponse()
        text = r.read()
        return r.status, json.loads(text) if text else None
    finally:
        c.close()


def expect(what, got, status, code=None, text=None):
    st, body = got
    err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
    if st != status or (code and err.get("code") != code) or (
            text and text not in err.get("message", "")):
        ndtest.fail("%s: want %d %s %r, got %d %s"
                    % (what, status, code or "", text or "", st, body))
    return body


def login(addr, user="alice", password=PW, mech="SCRAM-SHA-512"):
    c = http.client.HTTPConnection(*addr, timeout=30)
    try:
        c.request("POST", "/api/login", body=json.dumps(
            {"username": user, "password": password,
             "mechanism": mech}).encode(),
            headers={"Host": "127.0.0.1",
                     "Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read() or b"null")
        m = re.match(r"nd_session=([0-9a-f]{64});",
                     r.getheader("Set-Cookie") or "")
        return r.status, body, m.group(1) if m else None
    finally:
        c.close()


def topic_names(addr, cookie=None):
    body = expect("GET /api/topics", call(addr, "GET", "/api/topics",
                                          cookie=cookie), 200)
    return sorted(t["name"] for t in body["topics"])


def broker(name, props, args=()):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    conf = os.path.join(d, "server.properties")
    with open(conf, "w") as f:
        f.write(props)
    return ndtest.Broker(data_dir=os.path.join(d, "data"), listen=False,
                         args=["--config", conf, "--http", "127.0.0.1:0"]
                         + list(args))


def console(bootstrap, *args):
    """nodata console in front of bootstrap: (proc, http address, log)."""
    log = os.path.join(tmp, "console-%d.out" % len(procs))
    with open(log, "wb") as out:
        proc = subprocess.Popen([NODATA, "console", "--bootstrap", bootstrap,
                                 "--http", "127.0.0.1:0"] + list(args),
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    procs.append(proc)
    deadline = time.monotonic() + 10
    while True:
        with open(log) as f:
            m = re.search(r"http on (\S+):(\d+) ", f.read())
        if m:
            return proc, (m.group(1), int(m.group(2))), log
        if proc.poll() is not None or time.monotonic() > deadline:
            ndtest.fail("nodata console %s did not start: %s"
                        % (" ".join(args), open(log).read()))
        time.sleep(0.05)


def stop_console(proc, log):
    code = ndtest.terminate(proc)
    out = open(log).read()
    check(code == 0, "nodata console exited %s: %s" % (code, out))
    check("Sanitizer" not in out and "runtime error" not in out,
          "sanitizer report from nodata console:\n" + out[-4000:])


def replace_keystore(dst, src):
    """The listener's keystore file, atomically replaced (a new inode)."""
    tmpf = dst + ".new"
    shutil.copyfile(src, tmpf)
    os.replace(tmpf, dst)


SSL_PROPS = "ssl.keystore.type=PEM\nssl.keystore.location=%s\n"
brokers = []
try:
    # ---- SASL_SSL only --------------------------------------------------
    d = os.path.join(tmp, "sasl-ssl")
    os.makedirs(d)
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        r = subprocess.run([NODATA, "users", "add", "alice", "--mechanism",
                            mech, "--data", os.path.join(d, "data")],
                           input=(PW + "\n").encode(), capture_output=True,
                           timeout=60)
        check(r.returncode == 0, "users add: %s" % r.stderr.decode())
    keystore = os.path.join(d, "broker.pem")
    shutil.copyfile(pki.keystore("server"), keystore)
    conf = os.path.join(d, "server.properties")
    with open(conf, "w") as f:
        f.write("listeners=SASL_SSL://127.0.0.1:0\n"
                "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512\n"
                + SSL_PROPS % keystore)
    a = ndtest.Broker(data_dir=os.path.join(d, "data"), listen=False,
                      args=["--config", conf, "--http", "127.0.0.1:0"])
    brokers.append(a)
    st, body = call(a.http, "GET", "/api/session")
    check(st == 200 and body["auth"] == "sasl"
          and "SCRAM-SHA-512" in body["mechanisms"]
          and body["listener"] == "SASL_SSL", "session: %d %s" % (st, body))
    expect("topics before login", call(a.http, "GET", "/api/topics"), 401,
           "NOT_LOGGED_IN")
    st, body, cookie = login(a.http)
    check(st == 200 and body["principal"] == "User:alice" and cookie,
          "login over SASL_SSL: %d %s" % (st, body))
    expect("create topic", call(a.http, "POST", "/api/topics",
                                {"name": "over-tls", "partitions": 2},
                                cookie), 201)
    check("over-tls" in topic_names(a.http, cookie), "topic not listed")
    md = AdminClient({"bootstrap.servers": a.bootstrap,
                      "security.protocol": "SASL_SSL",
                      "ssl.ca.location": pki.ca(),
                      "sasl.mechanism": "SCRAM-SHA-256",
                      "sasl.username": "alice",
                      "sasl.password": PW}).list_topics(timeout=30)
    check(len(md.topics.get("over-tls").partitions) == 2,
          "librdkafka does not see over-tls with 2 partitions: %s"
          % sorted(md.topics))
    expect("wrong password", login(a.http, password="nope")[:2], 401,
           "SASL_AUTHENTICATION_FAILED")
    print("local SASL_SSL: login, create, list")

    # nodata console --security-protocol SASL_SSL in front of it.
    proc, addr, log = console(a.bootstrap, "--security-protocol", "SASL_SSL",
                              "--ssl-ca", pki.ca())
    st, body, rc = login(addr)
    check(st == 200 and rc, "remote login over SASL_SSL: %d %s" % (st, body))
    check("over-tls" in topic_names(addr, rc), "remote: topic not listed")
    expect("remote create", call(addr, "POST", "/api/topics",
                                 {"name": "from-remote"}, rc), 201)
    check("from-remote" in topic_names(a.http, cookie),
          "the local console does not see the remote's topic")
    stop_console(proc, log)
    proc, addr, log = console(a.bootstrap, "--security-protocol", "SASL_SSL",
                              "--ssl-ca", pki.ca("other-ca"))
    expect("remote login, other CA", login(addr)[:2], 502,
           "BROKER_CONNECTION_FAILED",
           "certificate verify failed: self-signed certificate in "
           "certificate chain")
    stop_console(proc, log)
    print("remote SASL_SSL: works with the CA, refused with another")

    # The broker now serves a certificate for kafka.example.com only.
    replace_keystore(keystore, pki.keystore("elsewhere"))
    st, body, cookie2 = login(a.http)
    check(st == 200 and cookie2,
          "local login after the keystore changed: %d %s" % (st, body))
    check("over-tls" in topic_names(a.http, cookie2), "after the change")
    check("reloaded" in a.stderr(), "the listener did not reload: %s"
          % a.stderr()[-2000:])
    proc, addr, log = console(a.bootstrap, "--security-protocol", "SASL_SSL",
                              "--ssl-ca", pki.ca())
    expect("remote login, wrong name", login(addr)[:2], 502,
           "BROKER_CONNECTION_FAILED",
           "certificate verify failed: IP address mismatch")
    stop_console(proc, log)
    print("the local console follows a reloaded certificate; a remote "
          "one refuses a certificate for another name")
    ndtest.stop_clean(a)

    # ---- SSL only, no client certificates -------------------------------
    b = broker("ssl", "listeners=SSL://127.0.0.1:0\n"
               + SSL_PROPS % pki.keystore("server"))
    brokers.append(b)
    st, body = call(b.http, "GET", "/api/session")
    check(st == 200 and body["auth"] == "none"
          and body["principal"] == "User:ANONYMOUS", "SSL session: %s" % body)
    expect("create on SSL", call(b.http, "POST", "/api/topics",
                                 {"name": "plain-ssl"}), 201)
    check("plain-ssl" in topic_names(b.http), "SSL: topic not listed")
    r = subprocess.run([NODATA, "serve", "--data", os.path.join(tmp, "nope"),
                        "--config", os.path.join(tmp, "ssl",
                                                 "server.properties"),
                        "--http", "192.0.2.1:0"],
                       capture_output=True, timeout=60)
    err = r.stderr.decode()
    check(r.returncode == 2 and "listener SSL (SSL)" in err
          and "authenticates no one" in err,
          "--http on 192.0.2.1 with an SSL console: %d %s"
          % (r.returncode, err))
    proc, addr, log = console(b.bootstrap, "--security-protocol", "SSL",
                              "--ssl-ca", pki.ca())
    check("plain-ssl" in topic_names(addr), "remote SSL: topic not listed")
    stop_console(proc, log)
    proc, addr, log = console(b.bootstrap, "--security-protocol", "SSL",
                              "--ssl-ca", pki.ca("other-ca"))
    for path in ("/api/topics", "/api/overview", "/api/groups"):
        expect("remote SSL, other CA, " + path, call(addr, "GET", path), 502,
               "BROKER_CONNECTION_FAILED", "certificate verify failed")
    stop_console(proc, log)
    print("local SSL: no login, create, list; remote SSL verified")
    # A listener that takes the connection and never answers the
    # ClientHello: the handshake is bounded like every other wait.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        proc, addr, log = console("127.0.0.1:%d" % silent.getsockname()[1],
                                  "--security-protocol", "SSL",
                                  "--ssl-ca", pki.ca())
        t0 = time.monotonic()
        expect("silent TLS listener", call(addr, "GET", "/api/topics"), 502,
               "BROKER_CONNECTION_FAILED",
               "TLS handshake with listener bootstrap (127.0.0.1:%d) failed: "
               "handshake timed out after 10000 ms"
               % silent.getsockname()[1])
        check(9 < time.monotonic() - t0 < 30, "the handshake's wait: %.1f s"
              % (time.monotonic() - t0))
        stop_console(proc, log)
    finally:
        silent.close()
    ndtest.stop_clean(b)

    # ---- SSL with ssl.client.auth=required ------------------------------
    c = broker("mtls", "listeners=SSL://127.0.0.1:0\n"
               "ssl.client.auth=required\n"
               "ssl.truststore.type=PEM\nssl.truststore.location=%s\n"
               % pki.ca() + SSL_PROPS % pki.keystore("server"))
    brokers.append(c)
    expect("console of an mTLS-only broker", call(c.http, "GET",
                                                  "/api/topics"),
           503, "NO_LISTENER", "ssl.client.auth=required")
    proc, addr, log = console(c.bootstrap, "--security-protocol", "SSL",
                              "--ssl-ca", pki.ca(), "--ssl-cert",
                              pki.path("alice.pem"), "--ssl-key",
                              pki.path("alice.key"))
    st, body = call(addr, "GET", "/api/session")
    check(st == 200 and body["principal"] == "User:" + seclib.SUBJECT,
          "mTLS session: %d %s" % (st, body))
    expect("create with a client certificate",
           call(addr, "POST", "/api/topics", {"name": "mtls"}), 201)
    check("mtls" in topic_names(addr), "mTLS: topic not listed")
    stop_console(proc, log)
    # The same from a Kafka client properties file: the PEM keystore holds
    # key and chain in one file.
    cc = os.path.join(tmp, "client.properties")
    with open(cc, "w") as f:
        f.write("security.protocol=SSL\n"
                "ssl.truststore.type=PEM\nssl.truststore.location=%s\n"
                "ssl.keystore.type=PEM\nssl.keystore.location=%s\n"
                % (pki.ca(), pki.keystore("alice")))
    proc, addr, log = console(c.bootstrap, "--command-config", cc)
    st, body = call(addr, "GET", "/api/session")
    check(st == 200 and body["principal"] == "User:" + seclib.SUBJECT,
          "mTLS session by --command-config: %d %s" % (st, body))
    check("mtls" in topic_names(addr), "--command-config: topic not listed")
    stop_console(proc, log)
    proc, addr, log = console(c.bootstrap, "--security-protocol", "SSL",
                              "--ssl-ca", pki.ca())
    expect("no client certificate", call(addr, "GET", "/api/topics"), 502,
           "BROKER_CONNECTION_FAILED",
           "the listener requires a client certificate")
    stop_console(proc, log)
    print("mTLS: the local console says why not; a remote one with a "
          "certificate works")
    ndtest.stop_clean(c)
finally:
    for p in procs:
        ndtest.terminate(p)
    for x in brokers:
        x.stop(check=False)
shutil.rmtree(tmp, ignore_errors=True)
ndtest.passed()
