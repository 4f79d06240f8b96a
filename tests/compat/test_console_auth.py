"""test_console_auth.py — the web console's logins, sessions, ACLs and users
(docs/http-api.md; broker/console_session.c, console_sasl.c,
console_security.c).

One broker: a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256 and
SCRAM-SHA-512 enabled), StandardAuthorizer, User:admin a super user,
SCRAM users alice and admin made by `nodata users add`, and --http. The
console is a Kafka client of that listener, so:

- without a session cookie every Kafka-backed call is 401 NOT_LOGGED_IN;
  GET /api/session answers (auth "sasl", the mechanisms it can log in
  with); a wrong password is 401 SASL_AUTHENTICATION_FAILED with the
  broker's own message; an unknown or disabled mechanism is 400;
- alice logs in with each of SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN (the
  cookie is nd_session, 64 hex digits, HttpOnly, SameSite=Strict, Path=/)
  and is then User:alice: /api/acls is 403 CLUSTER_AUTHORIZATION_FAILED for
  her (she has no DESCRIBE on the cluster), and once the topics API is
  there, /api/topics lists only the topic her ACLs let her describe;
- admin creates an ACL (alice READ+DESCRIBE on topic a) and a SCRAM user
  through the API; real clients see both: kafka-python's DescribeAcls as
  admin lists the binding, librdkafka as alice now sees topic a in its
  metadata, and kcat logs in as the new user (librdkafka refuses a wrong password);
  DELETE removes both (the ACL gone for kafka-python, the user refused);
- at most 64 sessions: the 65th login ends the session idle the longest,
  not one used since;
- logout ends the session (its cookie is then 401) and clears the cookie;
- five failed logins in a row from one address (127.0.0.2) and its next
  logins are 429 LOGIN_THROTTLED with Retry-After, 1 s then 2 s, the right
  password too, while another address logs in; a success ends the run;
  logins, refused logins and logouts are logged with the user and the
  address, and no password is ever in the log;
- a mutating call with Origin: http://evil.example is 403 CROSS_ORIGIN
  (and so is a login), a POST without application/json is 415;
- restarted with --http-read-only: sessions are gone (old cookie 401),
  logins still work, a POST is 403 READ_ONLY, reads work;
- restarted with connections.max.reauth.ms=1000 (KIP-368): a call after
  the session's connection outlived that is 401 NOT_LOGGED_IN and clears
  the cookie; the session is gone (the password is not kept);
- `--http` on a non-loopback address with a PLAINTEXT listener for the
  console is refused at start (exit status 2, the reason on stderr), and
  nothing is served; with --allow-insecure, or with a SASL_PLAINTEXT
  listener first, the check passes (the address, 192.0.2.1, is then not
  this machine's: exit 1, nothing served either);
- on a PLAINTEXT listener (a second, plain broker) the caller is
  User:ANONYMOUS without a login (login is 400 LOGIN_NOT_NEEDED), and with
  no authorizer GET /api/acls says so, a new ACL is 400 SECURITY_DISABLED.
"""
import http.client
import json
import os
import re
import subprocess
import tempfile
import time

import ndtest

ck, _ = ndtest.require("confluent_kafka", "kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka.admin import (ACLFilter, ACLOperation,  # noqa: E402
                         ACLPermissionType, ACLResourcePatternType, ResourcePatternFilter,
                         KafkaAdminClient, ResourceType)

NODATA = ndtest.nodata_bin()
tmp = tempfile.mkdtemp(prefix="nd-console-auth-")
data = os.path.join(tmp, "data")
PW = {"alice": "alice-secret", "admin": "admin-secret"}

for user, pw in PW.items():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        r = subprocess.run([NODATA, "users", "add", user, "--mechanism", mech,
                            "--data", data], input=(pw + "\n").encode(),
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            ndtest.fail("users add %s: %s" % (user, r.stderr.decode()))

conf_path = os.path.join(tmp, "server.properties")
with open(conf_path, "w") as f:
    f.write("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n"
            "authorizer.class.name="
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
            "super.users=User:admin\n")
broker = ndtest.Broker(data_dir=data, listen=False,
                       args=["--config", conf_path, "--http", "127.0.0.1:0"])


def call(method, path, body=None, cookie=None, ctype="application/json",
         headers=None, source=None):
    """One API call: (status, decoded JSON or None, response headers);
    source: the loopback address to call from."""
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = "nd_session=" + cookie
    raw = None
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = ctype
    c = http.client.HTTPConnection(
        *broker.http, timeout=30,
        source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=raw, headers=h)
        r = c.getresponse()
        text = r.read()
        return (r.status, json.loads(text) if text else None,
                {k.lower(): v for k, v in r.getheaders()})
    finally:
        c.close()


def expect(what, got, status, code=None):
    st, body, _ = got
    if st != status or (code and (body or {}).get("error", {}).get("code")
                        != code):
        ndtest.fail("%s: want %d %s, got %d %s" % (what, status, code or "",
                                                   st, body))
    return body


def login(user, password, mech=None, headers=None):
    body = {"username": user, "password": password}
    if mech:
        body["mechanism"] = mech
    st, b, h = call("POST", "/api/login", body, headers=headers)
    if st != 200:
        ndtest.fail("login %s/%s: %d %s" % (user, mech, st, b))
    m = re.match(r"nd_session=([0-9a-f]{64}); (.*)$", h.get("set-cookie", ""))
    if not m:
        ndtest.fail("login cookie: %r" % h.get("set-cookie"))
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
        if attr not in m.group(2).split("; "):
            ndtest.fail("login cookie lacks %s: %r" % (attr, h["set-cookie"]))
    if b.get("user") != user or b.get("principal") != "User:" + user:
        ndtest.fail("login answer: %s" % b)
    return m.group(1)


def sasl_conf(user, mech="SCRAM-SHA-512", password=None):
    return {"bootstrap.servers": broker.bootstrap,
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mech,
            "sasl.username": user,
            "sasl.password": password if password else PW[user]}


def topics_seen_by(user):
    md = AdminClient(sasl_conf(user)).list_topics(timeout=30)
    return sorted(md.topics)


def kcat_login(user, password, mech="SCRAM-SHA-256"):
    """kcat (librdkafka) asks for metadata as user: (ok, output)."""
    r = subprocess.run(["kcat", "-b", broker.bootstrap, "-L", "-m", "10",
                        "-X", "security.protocol=SASL_PLAINTEXT",
                        "-X", "sasl.mechanism=" + mech,
                        "-X", "sasl.username=" + user,
                        "-X", "sasl.password=" + password],
                       capture_output=True, timeout=60)
    return r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")


def refused(user, password, mech="SCRAM-SHA-256"):
    """Does librdkafka report an authentication failure for user? (It
    says so at once through error_cb; kcat would wait out a timeout.)"""
    errors = []
    conf = dict(sasl_conf(user, mech, password), error_cb=errors.append)
    a = AdminClient(conf)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            a.list_topics(timeout=1)
            return False
        except Exception:
            pass
        a.poll(0.1)  # serves error_cb
        if any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors):
            return True
    ndtest.fail("%s: neither metadata nor an authentication error: %s"
                % (user, errors))


def acls_in_kafka():
    """Every ACL, as kafka-python's DescribeAcls (as admin) lists them."""
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap,
                         security_protocol="SASL_PLAINTEXT",
                         sasl_mechanism="SCRAM-SHA-256",
                         sasl_plain_username="admin",
                         sasl_plain_password=PW["admin"])
    try:
        acls, err = a.describe_acls(ACLFilter(
            principal=None, host=None, operation=ACLOperation.ANY,
            permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(
                ResourceType.ANY, None, ACLResourcePatternType.ANY)))
        return sorted((x.resource_pattern.resource_type.name,
                       x.resource_pattern.resource_name, x.principal,
                       x.operation.name, x.permission_type.name)
                      for x in acls)
    finally:
        a.close()


try:
    adm = AdminClient(sasl_conf("admin"))
    for fut in adm.create_topics([NewTopic("a", 1, 1),
                                  NewTopic("b", 1, 1)]).values():
        fut.result(30)

    # ---- anonymous -----------------------------------------------------
    st, s, _ = call("GET", "/api/session")
    if st != 200 or s["auth"] != "sasl" or s["user"] is not None or \
            s["mechanisms"] != ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]:
        ndtest.fail("session before login: %d %s" % (st, s))
    expect("acls without a cookie", call("GET", "/api/acls"), 401,
           "NOT_LOGGED_IN")
    expect("users with a made-up cookie",
           call("GET", "/api/users", cookie="ab" * 32), 401, "NOT_LOGGED_IN")
    b = expect("wrong password",
               call("POST", "/api/login",
                    {"username": "alice", "password": "wrong"}),
               401, "SASL_AUTHENTICATION_FAILED")
    if "invalid credentials with SASL mechanism SCRAM-SHA-512" not in \
            b["error"]["message"]:
        ndtest.fail("wrong password: not the broker's message: %s" % b)
    b = expect("PLAIN wrong password",
               call("POST", "/api/login", {"username": "alice",
                                           "password": "wrong",
                                           "mechanism": "PLAIN"}),
               401, "SASL_AUTHENTICATION_FAILED")
    if "Invalid username or password" not in b["error"]["message"]:
        ndtest.fail("PLAIN wrong password: %s" % b)
    expect("OAUTHBEARER login",
           call("POST", "/api/login", {"username": "alice", "password": "x",
                                       "mechanism": "OAUTHBEARER"}),
           400, "UNSUPPORTED_SASL_MECHANISM")
    expect("login without a password",
           call("POST", "/api/login", {"username": "alice"}),
           400, "INVALID_REQUEST")
    print("anonymous: 401 everywhere but /api/session; bad logins refused")

    # ---- alice, each mechanism -----------------------------------------
    alice = {}
    for mech in ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"):
        alice[mech] = login("alice", PW["alice"], mech)
        s = expect("session as alice", call("GET", "/api/session",
                                            cookie=alice[mech]), 200)
        if s["user"] != "alice" or s["principal"] != "User:alice":
            ndtest.fail("session as alice (%s): %s" % (mech, s))
        expect("alice's acls (%s)" % mech,
               call("GET", "/api/acls", cookie=alice[mech]),
               403, "CLUSTER_AUTHORIZATION_FAILED")
    if len(set(alice.values())) != 3:
        ndtest.fail("three logins gave the same session id")
    print("alice logged in with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN; "
          "the ACL API is 403 for her")

    # ---- admin: an ACL and a user, seen by real clients -----------------
    admin = login("admin", PW["admin"])
    if topics_seen_by("alice") != []:
        ndtest.fail("alice sees topics before any ACL: %s"
                    % topics_seen_by("alice"))
    made = []
    for op in ("DESCRIBE", "READ"):
        acl = {"resource_type": "TOPIC", "resource_name": "a",
               "principal": "User:alice", "operation": op}
        b = expect("create ACL %s" % op,
                   call("POST", "/api/acls", acl, cookie=admin), 201)
        full = dict(acl, pattern_type="LITERAL", host="*", permission="ALLOW")
        if b != full:
            ndtest.fail("created ACL answer: %s, want %s" % (b, full))
        made.append(full)
    b = expect("list ACLs", call("GET", "/api/acls", cookie=admin), 200)
    if sorted(b["acls"], key=lambda x: x["operation"]) != made:
        ndtest.fail("GET /api/acls: %s, want %s" % (b, made))
    want = [("TOPIC", "a", "User:alice", "DESCRIBE", "ALLOW"),
            ("TOPIC", "a", "User:alice", "READ", "ALLOW")]
    if acls_in_kafka() != want:
        ndtest.fail("kafka-python DescribeAcls: %s, want %s"
                    % (acls_in_kafka(), want))
    if topics_seen_by("alice") != ["a"]:
        ndtest.fail("alice's metadata after the ACLs: %s"
                    % topics_seen_by("alice"))
    st, b, _ = call("GET", "/api/topics", cookie=alice["PLAIN"])
    if st == 200:
        names = sorted(t["name"] if isinstance(t, dict) else t
                       for t in b["topics"])
        if names != ["a"]:
            ndtest.fail("alice's /api/topics: %s" % b)
        print("alice's /api/topics: %s" % names)
    elif st != 404:
        ndtest.fail("alice's /api/topics: %d %s" % (st, b))
    expect("ACL with an unknown operation",
           call("POST", "/api/acls", dict(made[0], operation="FLY"),
                cookie=admin), 400, "INVALID_REQUEST")
    partial = dict(made[0])
    del partial["host"]
    expect("DELETE naming a binding partly",
           call("DELETE", "/api/acls", partial, cookie=admin), 400,
           "INVALID_REQUEST")

    expect("create user carol",
           call("POST", "/api/users",
                {"name": "carol", "password": "carol-secret",
                 "mechanism": "SCRAM-SHA-256", "iterations": 4096},
                cookie=admin), 201)
    b = expect("list users", call("GET", "/api/users", cookie=admin), 200)
    carol = [u for u in b["users"] if u["name"] == "carol"]
    if carol != [{"name": "carol", "credentials": [
            {"mechanism": "SCRAM-SHA-256", "iterations": 4096}]}]:
        ndtest.fail("GET /api/users: %s" % b)
    ok, out = kcat_login("carol", "carol-secret")
    if not ok:
        ndtest.fail("kcat as the new user carol: %s" % out)
    if not refused("carol", "not-her-password"):
        ndtest.fail("carol with a wrong password was let in")
    carol_session = login("carol", "carol-secret", "SCRAM-SHA-256")
    expect("bad iterations",
           call("POST", "/api/users",
                {"name": "dave", "password": "x", "mechanism": "SCRAM-SHA-256",
                 "iterations": 10}, cookie=admin), 400,
           "UNACCEPTABLE_CREDENTIAL")
    expect("carol creates a user",
           call("POST", "/api/users",
                {"name": "eve", "password": "x",
                 "mechanism": "SCRAM-SHA-256"}, cookie=carol_session),
           403, "CLUSTER_AUTHORIZATION_FAILED")
    print("admin made 2 ACLs and user carol: kafka-python, librdkafka and "
          "kcat see them")

    for acl in made:
        b = expect("delete ACL", call("DELETE", "/api/acls", acl,
                                      cookie=admin), 200)
        if b != {"deleted": 1}:
            ndtest.fail("DELETE /api/acls: %s" % b)
    if acls_in_kafka() != []:
        ndtest.fail("ACLs left after DELETE: %s" % acls_in_kafka())
    expect("delete carol",
           call("DELETE", "/api/users/carol?mechanism=SCRAM-SHA-256",
                cookie=admin), 204)
    expect("delete carol again",
           call("DELETE", "/api/users/carol?mechanism=SCRAM-SHA-256",
                cookie=admin), 404, "RESOURCE_NOT_FOUND")
    if not refused("carol", "carol-secret"):
        ndtest.fail("deleted carol was let in")
    expect("login as deleted carol",
           call("POST", "/api/login", {"username": "carol",
                                       "password": "carol-secret"}),
           401, "SASL_AUTHENTICATION_FAILED")
    print("DELETE removed both ACLs and carol")

    # ---- cross-site and content type -----------------------------------
    host = "%s:%d" % broker.http
    acl = dict(made[0])
    expect("evil origin", call("POST", "/api/acls", acl, cookie=admin,
                               headers={"Origin": "http://evil.example"}),
           403, "CROSS_ORIGIN")
    st, _, _ = call("POST", "/api/login",
                    {"username": "alice", "password": PW["alice"]},
                    headers={"Origin": "http://evil.example"})
    if st != 403:
        ndtest.fail("login from another origin: %d" % st)
    expect("text/plain POST", call("POST", "/api/acls", acl, cookie=admin,
                                   ctype="text/plain"), 415,
           "UNSUPPORTED_MEDIA_TYPE")
    expect("text/plain login",
           call("POST", "/api/login", {"username": "alice",
                                       "password": PW["alice"]},
                ctype="text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
    same = login("alice", PW["alice"],
                 headers={"Origin": "http://" + host})
    print("another origin: 403; text/plain: 415; same origin logs in")

    # ---- 64 sessions at most: the most idle one goes ---------------------
    # Six are live (alice's three, admin's, carol's, `same`): fill up to 64
    # with PLAIN logins, then use admin's, then alice's first (the oldest
    # one made), then all the others. The 65th login must end admin's,
    # the one idle the longest, not the oldest.
    first = alice["SCRAM-SHA-512"]
    live = list(alice.values()) + [admin, carol_session, same]
    extra = [login("alice", PW["alice"], "PLAIN")
             for _ in range(64 - len(live))]
    expect("admin's session", call("GET", "/api/users", cookie=admin), 200)
    time.sleep(0.01)  # sessions' use is timed in milliseconds
    expect("first session", call("GET", "/api/session", cookie=first), 200)
    time.sleep(0.01)
    for c in [alice["SCRAM-SHA-256"], alice["PLAIN"], carol_session, same] + \
            extra:
        expect("a session", call("GET", "/api/session", cookie=c), 200)
    late = login("alice", PW["alice"], "PLAIN")
    expect("the most idle session (admin's) ended",
           call("GET", "/api/users", cookie=admin), 401, "NOT_LOGGED_IN")
    for c in [first, late] + extra[-3:]:
        s = expect("a recent session", call("GET", "/api/session", cookie=c),
                   200)
        if s["user"] != "alice":
            ndtest.fail("session lost at 65 logins: %s" % s)
    print("65th login ended the most idle session only")

    # ---- logout --------------------------------------------------------
    admin = login("admin", PW["admin"])
    st, _, h = call("POST", "/api/logout", {}, cookie=admin)
    if st != 204 or not h.get("set-cookie", "").startswith(
            "nd_session=; Max-Age=0"):
        ndtest.fail("logout: %d %s" % (st, h))
    expect("after logout", call("GET", "/api/acls", cookie=admin), 401,
           "NOT_LOGGED_IN")
    s = expect("session after logout",
               call("GET", "/api/session", cookie=admin), 200)
    if s["user"] is not None:
        ndtest.fail("session after logout: %s" % s)
    print("logout ended the session")
    log = broker.stderr()
    for line in ("console: login: user alice, SCRAM-SHA-512, from 127.0.0.1:",
                 "console: login refused: user alice, SCRAM-SHA-512, from "
                 "127.0.0.1:",
                 "console: logout: user admin, from 127.0.0.1:"):
        if line not in log:
            ndtest.fail("the log lacks %r" % line)
    for pw in list(PW.values()) + ["carol-secret"]:
        if pw in log:
            ndtest.fail("a password is in the broker's log")
    print("logins, refusals and logouts logged, with the address")

    # ---- guessing passwords ----------------------------------------------
    # From 127.0.0.2 (another client address than the rest of the test's):
    # five wrong passwords in a row are refused as usual; then logins from
    # there wait 1 s, then 2 s, answered 429 at once, the right password
    # too; another address is not held up; a success ends the run.
    def login_from(pw, src="127.0.0.2"):
        return call("POST", "/api/login", {"username": "alice", "password": pw},
                    source=src)

    for i in range(5):
        expect("wrong password %d" % (i + 1), login_from("guess%d" % i), 401,
               "SASL_AUTHENTICATION_FAILED")
    st, b, h = login_from(PW["alice"])
    if st != 429 or b["error"]["code"] != "LOGIN_THROTTLED" or \
            h.get("retry-after") != "1" or "127.0.0.2" not in \
            b["error"]["message"]:
        ndtest.fail("the sixth login: want 429 LOGIN_THROTTLED, Retry-After "
                    "1, got %d %s %s" % (st, b, h))
    login("alice", PW["alice"])  # from 127.0.0.1: not held up
    time.sleep(1.1)
    expect("a wrong password after the wait", login_from("guess5"), 401,
           "SASL_AUTHENTICATION_FAILED")
    st, b, h = login_from(PW["alice"])
    if st != 429 or h.get("retry-after") != "2":
        ndtest.fail("after six failures: want 429, Retry-After 2, got %d %s "
                    "%s" % (st, b, h))
    time.sleep(2.1)
    expect("the right password after the wait", login_from(PW["alice"]), 200)
    expect("a wrong password after a success", login_from("guess6"), 401,
           "SASL_AUTHENTICATION_FAILED")
    if "(5 in a row from there: its next login waits 1 s)" not in \
            broker.stderr():
        ndtest.fail("the log does not say the address waits")
    print("failed logins from one address: 429 LOGIN_THROTTLED after 5 in a "
          "row, 1 s then 2 s, others not held up, a success ends it")

    # ---- read-only -----------------------------------------------------
    ndtest.stop_clean(broker)
    broker.args.append("--http-read-only")
    broker.start()
    expect("a session from before the restart",
           call("GET", "/api/acls", cookie=late), 401, "NOT_LOGGED_IN")
    admin = login("admin", PW["admin"])
    s = expect("read-only session", call("GET", "/api/session", cookie=admin),
               200)
    if s["read_only"] is not True:
        ndtest.fail("read_only not said: %s" % s)
    expect("POST in read-only mode",
           call("POST", "/api/acls", made[0], cookie=admin), 403, "READ_ONLY")
    expect("DELETE in read-only mode",
           call("DELETE", "/api/users/alice?mechanism=SCRAM-SHA-256",
                cookie=admin), 403, "READ_ONLY")
    b = expect("GET in read-only mode",
               call("GET", "/api/acls", cookie=admin), 200)
    if b != {"authorizer": True, "acls": []}:
        ndtest.fail("GET /api/acls with an authorizer: %s" % b)
    ok, out = kcat_login("alice", PW["alice"])
    if not ok:
        ndtest.fail("alice's credential changed in read-only mode: %s" % out)
    print("--http-read-only: logins and reads work, changes are 403")
    ndtest.stop_clean(broker)

    # ---- the session ends with its connection --------------------------
    # KIP-368: with connections.max.reauth.ms the broker closes a
    # connection whose authentication is older than that at its next
    # request. The console keeps no password to authenticate again with,
    # so that call ends the session: 401, and the cookie is cleared.
    with open(conf_path, "a") as f:
        f.write("connections.max.reauth.ms=1000\n")
    broker.start()
    admin = login("admin", PW["admin"])
    time.sleep(1.5)  # past the session's lifetime, so the next call fails
    st, b, h = call("GET", "/api/acls", cookie=admin)
    if st != 401 or b["error"]["code"] != "NOT_LOGGED_IN" or \
            not h.get("set-cookie", "").startswith("nd_session=; Max-Age=0"):
        ndtest.fail("a call on an expired connection: %d %s %s" % (st, b, h))
    s = expect("session after its connection ended",
               call("GET", "/api/session", cookie=admin), 200)
    if s["user"] is not None:
        ndtest.fail("the session outlived its connection: %s" % s)
    if "session of user admin ended: its connection to the broker failed" \
            not in broker.stderr():
        ndtest.fail("the session's end was not logged")
    admin = login("admin", PW["admin"])
    expect("a new login", call("GET", "/api/session", cookie=admin), 200)
    print("a session whose connection the broker closed (KIP-368) ended: "
          "%s" % b["error"]["message"])
    ndtest.stop_clean(broker)
finally:
    broker.close()

# ---- a PLAINTEXT listener: everyone is User:ANONYMOUS ----------------------
with ndtest.Broker(args=["--http", "127.0.0.1:0"]) as broker:
    s = expect("anonymous session", call("GET", "/api/session"), 200)
    if s != {"auth": "none", "mechanisms": [], "user": None,
             "principal": "User:ANONYMOUS", "read_only": False,
             "listener": "PLAINTEXT"}:
        ndtest.fail("session on PLAINTEXT: %s" % s)
    expect("login on PLAINTEXT",
           call("POST", "/api/login", {"username": "alice",
                                       "password": "x"}),
           400, "LOGIN_NOT_NEEDED")
    b = expect("ACLs without an authorizer", call("GET", "/api/acls"), 200)
    if b != {"authorizer": False, "acls": []}:
        ndtest.fail("GET /api/acls without an authorizer: %s" % b)
    expect("create an ACL without an authorizer",
           call("POST", "/api/acls", made[0]), 400, "SECURITY_DISABLED")
    ndtest.stop_clean(broker)
print("PLAINTEXT: User:ANONYMOUS without a login; no authorizer said so")

# ---- the insecure start ---------------------------------------------------
# 192.0.2.1 (TEST-NET-1) is no address of this machine: a broker past the
# check fails to bind it (exit 1), so nothing is ever served there.
def serve(args):
    d = tempfile.mkdtemp(prefix="insecure-", dir=tmp)
    r = subprocess.run([NODATA, "serve", "--data", d] + args,
                       capture_output=True, timeout=60)
    return r.returncode, r.stderr.decode(errors="replace"), d


for host in ("0.0.0.0", "192.0.2.1"):
    rc, err, d = serve(["--listen", "127.0.0.1:0", "--http", host + ":0"])
    if rc != 2 or "refusing to serve the web console on %s:0" % host \
            not in err or "--allow-insecure" not in err or \
            "User:ANONYMOUS" not in err:
        ndtest.fail("--http %s with a PLAINTEXT listener: status %d, %s"
                    % (host, rc, err))
    if os.path.exists(os.path.join(d, "topics")):
        ndtest.fail("the refused broker opened its data directory")
print("--http on 0.0.0.0 or 192.0.2.1 with PLAINTEXT: refused (%s)"
      % err.splitlines()[0])
sasl_first = os.path.join(tmp, "sasl-first.properties")
with open(sasl_first, "w") as f:
    f.write("listeners=CONSOLE://127.0.0.1:0,PLAIN://127.0.0.1:0\n"
            "listener.security.protocol.map=CONSOLE:SASL_PLAINTEXT,"
            "PLAIN:PLAINTEXT\n")
for args in (["--listen", "127.0.0.1:0", "--allow-insecure"],
             ["--config", sasl_first]):
    rc, err, _ = serve(args + ["--http", "192.0.2.1:0"])
    if rc != 1 or "refusing" in err or \
            "cannot listen on 192.0.2.1 port 0 for http" not in err:
        ndtest.fail("%s --http 192.0.2.1:0: want past the check (then exit "
                    "1 for an address not here), got %d:\n%s"
                    % (args, rc, err))
print("--allow-insecure, or a SASL_PLAINTEXT listener for the console: "
      "past the check")
ndtest.passed()
