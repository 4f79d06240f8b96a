"""seclib.py — test credentials for the security tests (issue 21) and the
brokers that use them: Apache Kafka (the oracle) and `nodata serve`, set up
with the same Kafka properties.

    pki = seclib.Pki(tmpdir)      # CAs, certificates, a JWKS and JWTs
    with seclib.kafka(pki) as k:  # Apache Kafka: PLAINTEXT + SSL + MTLS +
        k.listener["SSL"]         #   SASL_SSL listeners, "127.0.0.1:PORT"
    with seclib.nodata(pki) as b: # nodata serve --config, the same ones
        b.listener["SASL_SSL"]

Everything is made with the `openssl` CLI into the directory given, in
PEM: a test CA ("ca") and another one no broker or client trusts
("other-ca"); a server certificate for 127.0.0.1 and localhost
(subjectAltName) signed by ca, whose keystore file holds the private key
(PKCS#8, unencrypted) and then the chain, as Kafka's
ssl.keystore.type=PEM with ssl.keystore.location reads it and as nodata
reads the same property; client certificates: alice (signed by ca), mallory
(signed by other-ca) and expired (signed by ca, valid only in 2020), each
as KEY.key + NAME.pem, and as one key+chain NAME-keystore.pem. For
OAUTHBEARER: an RSA key ("jwt") whose public half is in jwks.json (kid
"k1") and another key ("jwt-other", not in the JWKS); pki.jwt(...) signs
a token (RS256) with either.

The listeners both brokers get (names as Kafka's listener names):
  PLAINTEXT  no security: the admin's way in (end offsets)
  SSL        TLS, no client certificate asked for
  MTLS       TLS with ssl.client.auth=required (protocol SSL)
  SASL_SSL   TLS + SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
  SASL_PLAINTEXT  the same mechanisms without TLS
USERS's users exist for SCRAM (both mechanisms) and PLAIN on both.
"""
import base64
import json
import os
import socket
import subprocess
import time

import ndtest

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
AUDIENCE = "nodata-test"
ISSUER = "https://issuer.nodata.test"
SUBJECT = "CN=alice,OU=test,O=nodata"
LISTENERS = {"SSL": "SSL", "MTLS": "SSL", "SASL_SSL": "SASL_SSL",
             "SASL_PLAINTEXT": "SASL_PLAINTEXT"}
# The listeners that need no TLS (a broker without TLS runs these).
NO_TLS = {"SASL_PLAINTEXT": "SASL_PLAINTEXT"}


def _openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), input=stdin,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        ndtest.fail("openssl %s: %s" % (" ".join(args),
                                        r.stderr.decode(errors="replace")))
    return r.stdout


def _b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Pki:
    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self._ca("ca")
        self._ca("other-ca")
        self._cert("server", "ca", "/CN=localhost/O=nodata",
                   san="IP:127.0.0.1,DNS:localhost")
        self._cert("alice", "ca", "/" + "/".join(reversed(SUBJECT.split(","))))
        self._cert("mallory", "other-ca", "/CN=mallory/O=nodata")
        self._cert("expired", "ca", "/CN=expired/O=nodata",
                   dates=("20200101000000Z", "20200102000000Z"))
        self._jwt_key("jwt")
        self._jwt_key("jwt-other")
        self.jwks = self.path("jwks.json")
        mod = _openssl("rsa", "-in", self.path("jwt.key"), "-noout",
                       "-modulus").decode().strip().split("=", 1)[1]
        n = bytes.fromhex(mod)
        with open(self.jwks, "w") as f:
            json.dump({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig",
                                 "alg": "RS256", "n": _b64u(n),
                                 "e": "AQAB"}]}, f)

    def path(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name="ca"):
        """The CA's certificate file (a PEM truststore)."""
        return self.path(name + ".pem")

    def keystore(self, name):
        """Key + certificate chain in one PEM file."""
        return self.path(name + "-keystore.pem")

    def _ca(self, name):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                 "30", "-subj", "/CN=nodata test %s" % name,
                 "-keyout", self.path(name + ".key"),
                 "-out", self.path(name + ".pem"),
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _cert(self, name, ca, subj, san=None, dates=None):
        key, csr = self.path(name + ".key"), self.path(name + ".csr")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj,
                 "-keyout", key, "-out", csr)
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
            if san:
                f.write("subjectAltName=%s\n" % san)
        if dates:
            # `openssl x509` (3.0) has no start date: `openssl ca` has.
            cadir = self.path("ca-db-" + name)
            os.makedirs(cadir, exist_ok=True)
            open(os.path.join(cadir, "index.txt"), "w").close()
            conf = os.path.join(cadir, "ca.cnf")
            with open(conf, "w") as f:
                f.write("[ca]\ndefault_ca=d\n[d]\ndir=%s\n"
                        "database=$dir/index.txt\nnew_certs_dir=$dir\n"
                        "serial=$dir/serial\ndefault_md=sha256\n"
                        "policy=p\ncopy_extensions=none\n"
                        "[p]\ncommonName=supplied\norganizationName=optional\n"
                        % cadir)
            with open(os.path.join(cadir, "serial"), "w") as f:
                f.write("1000\n")
            _openssl("ca", "-batch", "-config", conf, "-cert",
                     self.ca(ca), "-keyfile", self.path(ca + ".key"),
                     "-in", csr, "-out", self.path(name + ".pem"),
                     "-startdate", dates[0], "-enddate", dates[1],
                     "-extfile", ext, "-notext")
        else:
            _openssl("x509", "-req", "-in", csr, "-CA", self.ca(ca),
                     "-CAkey", self.path(ca + ".key"), "-CAcreateserial",
                     "-days", "30", "-sha256", "-extfile", ext,
                     "-out", self.path(name + ".pem"))
        with open(self.keystore(name), "wb") as out:
            for p in (key, self.path(name + ".pem"), self.ca(ca)):
                with open(p, "rb") as f:
                    out.write(f.read())

    def _jwt_key(self, name):
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                 "rsa_keygen_bits:2048", "-out", self.path(name + ".key"))

    def jwt(self, sub="alice", exp_in=3600, key="jwt", aud=AUDIENCE,
            kid="k1"):
        """A signed JWT (RS256) for sub, expiring exp_in seconds from now
        (negative: already expired), signed with key ("jwt-other": a key
        the JWKS does not hold)."""
        now = int(time.time())
        head = _b64u(json.dumps({"alg": "RS256", "typ": "JWT",
                                 "kid": kid}).encode())
        body = _b64u(json.dumps({"sub": sub, "aud": aud, "iss": ISSUER,
                                 "iat": now - 60 if exp_in > 0
                                 else now + exp_in - 3600,
                                 "exp": now + exp_in,
                                 "scope": "kafka"}).encode())
        signing = ("%s.%s" % (head, body)).encode()
        sig = _openssl("dgst", "-sha256", "-sign", self.path(key + ".key"),
                       stdin=signing)
        return "%s.%s.%s" % (head, body, _b64u(sig))


def scenarios(pki):
    """The client scenarios of the security tests, client-neutral: dicts
    with name, listener, ok (expected to work: produce and read back),
    tls (the client speaks TLS), ca (the CA it trusts), cert (its client
    certificate: None, "alice", "mallory" (other CA), "expired"), and for
    SASL mech, user, password, token (a JWT)."""
    def sc(name, listener, ok, tls=True, ca="ca", cert=None, mech=None,
           user="alice", password=None, token=None):
        if mech and mech != "OAUTHBEARER" and password is None:
            password = USERS.get(user, "no-such-user-secret")
        return {"name": name, "listener": listener, "ok": ok, "tls": tls,
                "ca": ca, "cert": cert, "mech": mech,
                "user": user if mech != "OAUTHBEARER" else None,
                "password": password, "token": token}

    out = [sc("ssl", "SSL", True), sc("mtls", "MTLS", True, cert="alice")]
    for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        out.append(sc(m, "SASL_SSL", True, mech=m))
        out.append(sc(m + " wrong password", "SASL_SSL", False, mech=m,
                      password="wrong-secret"))
    for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"):
        t = pki.jwt() if m == "OAUTHBEARER" else None
        out.append(sc(m + " over SASL_PLAINTEXT", "SASL_PLAINTEXT", True,
                      tls=False, mech=m, token=t))
    out += [
        sc("PLAIN wrong password over SASL_PLAINTEXT", "SASL_PLAINTEXT",
           False, tls=False, mech="PLAIN", password="wrong-secret"),
        sc("SCRAM-SHA-512 unknown user over SASL_PLAINTEXT",
           "SASL_PLAINTEXT", False, tls=False, mech="SCRAM-SHA-512",
           user="nobody"),
        sc("OAUTHBEARER expired token over SASL_PLAINTEXT", "SASL_PLAINTEXT",
           False, tls=False, mech="OAUTHBEARER", token=pki.jwt(exp_in=-600)),
    ]
    out += [
        sc("OAUTHBEARER", "SASL_SSL", True, mech="OAUTHBEARER",
           token=pki.jwt()),
        sc("PLAIN unknown user", "SASL_SSL", False, mech="PLAIN",
           user="nobody"),
        sc("SCRAM-SHA-256 unknown user", "SASL_SSL", False,
           mech="SCRAM-SHA-256", user="nobody"),
        sc("OAUTHBEARER expired token", "SASL_SSL", False,
           mech="OAUTHBEARER", token=pki.jwt(exp_in=-600)),
        sc("OAUTHBEARER token of another key", "SASL_SSL", False,
           mech="OAUTHBEARER", token=pki.jwt(key="jwt-other")),
        sc("untrusted server certificate", "SSL", False, ca="other-ca"),
        sc("mTLS certificate of another CA", "MTLS", False, cert="mallory"),
        sc("mTLS expired certificate", "MTLS", False, cert="expired"),
        sc("mTLS without a certificate", "MTLS", False),
        sc("plaintext client on the TLS port", "SSL", False, tls=False),
    ]
    return out


def protocol(s):
    """The security.protocol a scenario's client uses."""
    return ("SASL_" if s["mech"] else "") + ("SSL" if s["tls"] else
                                             "PLAINTEXT")


def rdkafka_conf(s, pki):
    """A scenario's librdkafka properties (no bootstrap.servers)."""
    c = {"security.protocol": protocol(s)}
    if s["tls"]:
        c["ssl.ca.location"] = pki.ca(s["ca"])
    if s["cert"]:
        c["ssl.certificate.location"] = pki.path(s["cert"] + ".pem")
        c["ssl.key.location"] = pki.path(s["cert"] + ".key")
    if s["mech"]:
        c["sasl.mechanism"] = s["mech"]
    if s["user"]:
        c["sasl.username"] = s["user"]
        c["sasl.password"] = s["password"]
    return c


def topic_of(i, ok):
    """Scenario i's topic: one per working scenario, one for all refusals
    (whose end offset must stay 0)."""
    return "sec-ok-%d" % i if ok else "sec-refused"


def create_topics(admin_bootstrap, names):
    """Create 1-partition topics as admin (a PLAINTEXT listener)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": admin_bootstrap})
    for f in a.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        f.result(60)


def end_offset(admin_bootstrap, topic):
    """Partition 0's end offset, read as admin."""
    import confluent_kafka as ck
    c = ck.Consumer({"bootstrap.servers": admin_bootstrap,
                     "group.id": "sec-admin"})
    try:
        return c.get_watermark_offsets(ck.TopicPartition(topic, 0),
                                       timeout=30)[1]
    finally:
        c.close()


def check_results(what, res, expect_ok, n):
    """res: {(client, scenario name): {"produced", "consumed", "errors"}};
    expect_ok(name, result) says whether the scenario must work: then n
    records were produced and read back in order with no error, else
    nothing was produced and some error reported."""
    for (client, name), got in sorted(res.items()):
        if expect_ok(name, got):
            if got["consumed"] != ["v%d" % i for i in range(n)] or \
                    got["errors"]:
                ndtest.fail("%s, %s, %s: expected %d records produced and "
                            "read back, got %s" % (what, client, name, n, got))
        elif got["produced"] or not got["errors"]:
            ndtest.fail("%s, %s, %s: expected a refusal, got %s"
                        % (what, client, name, got))


def compare_refusals(want, got, expect_ok, alike=()):
    """Each refusal's first error as the client reported it against
    nodata (got) must be the one against Kafka (want), or both in one of
    the sets of alike (errors a client reports at random for one cause)."""
    def same(a, b):
        return a == b or any(a in s and b in s for s in alike)

    for key, g in sorted(got.items()):
        w = want[key]
        if not expect_ok(key[1], g) and not same(g["errors"][0],
                                                  w["errors"][0]):
            ndtest.fail("%s, %s: the client reports %s against nodata, %s "
                        "against Kafka (all: %s vs %s)"
                        % (key[0], key[1], g["errors"][0], w["errors"][0],
                           g["errors"], w["errors"]))


def start_nodata(pki):
    """seclib.nodata() with every listener, or, if that fails (a build
    without TLS), with the NO_TLS ones: (broker, None) or (broker, why the
    full set failed). Skips the test when neither starts."""
    try:
        return nodata(pki), None
    except ndtest.BrokerError as e:
        full = str(e).strip().splitlines()[-1][-600:]
    try:
        return nodata(pki, listeners=NO_TLS), full
    except ndtest.BrokerError as e:
        ndtest.skip("nodata serve runs neither the TLS listeners (%s) nor "
                    "SASL_PLAINTEXT (%s)" % (full, str(e)[-600:]))


def common_props(pki):
    """The security properties both brokers read, Kafka's names."""
    out = [
        "ssl.keystore.type=PEM",
        "ssl.keystore.location=" + pki.keystore("server"),
        "ssl.truststore.type=PEM",
        "ssl.truststore.location=" + pki.ca("ca"),
        "listener.name.mtls.ssl.client.auth=required",
        "sasl.enabled.mechanisms=" + ",".join(MECHANISMS),
        "sasl.oauthbearer.jwks.endpoint.url=file://" + pki.jwks,
        "sasl.oauthbearer.expected.audience=" + AUDIENCE,
        # Kafka 4.4 refuses to start without it (or
        # sasl.oauthbearer.allow.unverified.issuer=true).
        "sasl.oauthbearer.expected.issuer=" + ISSUER,
    ]
    # Kafka's login modules, per SASL listener and mechanism: what Kafka
    # needs (nodata's PLAIN checks its stored SCRAM credentials).
    sec = "org.apache.kafka.common.security."
    for lst in ("sasl_ssl", "sasl_plaintext"):
        jaas = "listener.name." + lst + ".%s.sasl.jaas.config="
        out += [
            jaas % "plain" + sec + "plain.PlainLoginModule required " +
            " ".join('user_%s="%s"' % u for u in USERS.items()) + ";",
            jaas % "scram-sha-256" + sec + "scram.ScramLoginModule required;",
            jaas % "scram-sha-512" + sec + "scram.ScramLoginModule required;",
            jaas % "oauthbearer" + sec +
            "oauthbearer.OAuthBearerLoginModule required;",
            "listener.name." + lst + ".oauthbearer.sasl.server.callback."
            "handler.class=" + sec +
            "oauthbearer.OAuthBearerValidatorCallbackHandler",
        ]
    return out


def kafka(pki, wait=True, extra_props=(), jvm_args=(), listeners=LISTENERS,
          **kw):
    """Apache Kafka with the listeners above (or those of listeners, a
    subset); .listener[NAME] is each one's bootstrap address (.bootstrap
    is PLAINTEXT's). kw goes to ApacheKafka (pom=, to run it with a
    logging backend)."""
    from apache_kafka import ApacheKafka
    scram = []
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        for u, pw in USERS.items():
            scram += ["--add-scram", "%s=[name=%s,password=%s]"
                      % (mech, u, pw)]
    return ApacheKafka(extra_listeners=[(n, None, p)
                                        for n, p in listeners.items()],
                       extra_props=common_props(pki) + list(extra_props),
                       format_args=scram, wait=wait,
                       # Kafka 4 reads JWKS only from URLs it is told to
                       # allow (KIP-1139's allow list).
                       jvm_args=["-Dorg.apache.kafka.sasl.oauthbearer."
                                 "allowed.urls=file://" + pki.jwks] +
                       list(jvm_args), **kw)


class _Nodata(ndtest.Broker):
    def __init__(self, listener, **kw):
        self.listener = listener
        super().__init__(**kw)


def nodata(pki, extra_props=(), args=(), start=True, listeners=LISTENERS):
    """`nodata serve --config FILE` with the same listeners and properties
    as kafka() and, with a SASL listener, USERS added with `nodata users
    add` before it starts; .listener[NAME] as kafka()'s."""
    ports = {}
    while len(set(ports.values())) < 1 + len(listeners):
        ports = {n: ndtest.free_port() for n in ["PLAINTEXT"] +
                 list(listeners)}
    listener = {n: "127.0.0.1:%d" % p for n, p in ports.items()}
    b = _Nodata(listener, port=ports["PLAINTEXT"], start=False, listen=False)
    conf = os.path.join(b._tmp, "server.properties")
    with open(conf, "w") as f:
        f.write("\n".join([
            "listeners=" + ",".join("%s://%s" % x for x in listener.items()),
            "listener.security.protocol.map=" + ",".join(
                "%s:%s" % x for x in [("PLAINTEXT", "PLAINTEXT")] +
                list(listeners.items())),
        ] + common_props(pki) + list(extra_props)) + "\n")
    b.args = ["--config", conf] + list(args)
    sasl = any(p.startswith("SASL") for p in listeners.values())
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512") if sasl else ():
        for u, pw in USERS.items():
            r = subprocess.run([b.bin, "users", "add", u, "--mechanism", mech,
                                "--data", b.data_dir],
                               input=pw.encode() + b"\n", capture_output=True,
                               timeout=60)
            if r.returncode != 0:
                b.close()
                raise ndtest.BrokerError(
                    "nodata users add %s --mechanism %s: exit %d: %s"
                    % (u, mech, r.returncode, r.stderr.decode(
                        errors="replace")))
    if start:
        try:
            b.start()
            for name, addr in listener.items():
                host, port = addr.rsplit(":", 1)
                try:
                    socket.create_connection((host, int(port)), 5).close()
                except OSError as e:
                    raise ndtest.BrokerError(
                        "nodata serve started but its listener %s (%s) on %s "
                        "refuses connections: %s"
                        % (name, dict(listeners, PLAINTEXT="PLAINTEXT")[name],
                           addr, e))
        except ndtest.BrokerError:
            b.close()
            raise
    return b
