"""test_console_http.py — issue 23: the HTTP layer under the console's API
(broker/http.c, broker/console.c).

One broker with --http 127.0.0.1:0. Checked with raw sockets, so that
what is sent is exactly what is meant:
- a request body arrives in pieces (head and body split anywhere, one
  byte at a time) and is read whole: the answer comes once, and the next
  request pipelined behind the body on the same connection is answered
  too (keep-alive after a body);
- a body of exactly 1 MiB is read and answered; 1 MiB + 1 is refused with
  413 naming the limit, a chunked one with 411, a bad Content-Length with
  400, and the listener keeps serving;
- the API's own answers: /api/session (JSON, no-store), an unknown API
  404 NOT_FOUND, a known path with another method 405
  METHOD_NOT_ALLOWED, HEAD of an API call has the head only;
- /metrics, /health, /ready still answer as before, POST to them is 405;
- DNS rebinding: an API call whose Host names another site is refused
  (403 HOST_NOT_ALLOWED), one naming an IP address, localhost, a
  *.localhost name or a name of --http-allowed-hosts (any case) is
  answered, one without a Host is 400;
- the Kafka side still works after all of it (a produce and a read);
- console calls run on a thread of their own: with `nodata console` in
  front of a listener that never answers, /health and /metrics are
  answered while an API call waits for Kafka, a client that leaves while
  its call waits in line is dropped, the stuck call ends in an error
  answer and the one behind it is then served.
"""
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402


def check(cond, msg):
    if not cond:
        ndtest.fail(msg)


def read_response(s, buf=b""):
    """One response from s: (status, headers, body, rest of the buffer)."""
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c:
            raise EOFError("closed before a response head: %r" % buf)
        buf += c
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, v in
            (ln.split(":", 1) for ln in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    while len(buf) < n:
        c = s.recv(65536)
        if not c:
            raise EOFError("closed in a body")
        buf += c
    return status, hdrs, buf[:n], buf[n:]


def request(method, path, body=b"", extra=""):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s" % (method, path, extra)
    if body or method in ("POST", "PUT"):
        h += "Content-Length: %d\r\nContent-Type: application/json\r\n" % len(
            body)
    return (h + "\r\n").encode() + body


def error_code(body):
    return json.loads(body)["error"]["code"]


with ndtest.Broker(args=["--http", "127.0.0.1:0", "--http-allowed-hosts",
                          "console.example, other.example"]) as b:
    addr = b.http
    check(addr is not None, "no http line in: " + b.stdout())

    # A body sent a byte at a time, then a pipelined GET behind it.
    body = json.dumps({"name": "x" * 300}).encode()
    data = request("POST", "/api/session", body) + request("GET",
                                                           "/api/session")
    with socket.create_connection(addr, timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
        st, hd, bd, rest = read_response(s)
        check(st == 405 and error_code(bd) == "METHOD_NOT_ALLOWED",
              "POST /api/session: %d %r" % (st, bd))
        st, hd, bd, rest = read_response(s, rest)
        check(st == 200, "pipelined GET after a body: %d %r" % (st, bd))
        sess = json.loads(bd)
        check(sess["auth"] == "none" and sess["read_only"] is False and
              sess["listener"] == "PLAINTEXT", "session: %r" % sess)
        check(hd.get("content-type", "").startswith("application/json") and
              hd.get("cache-control") == "no-store", "headers: %r" % hd)
        check(rest == b"", "bytes after the two answers: %r" % rest)

    # Exactly the limit is read whole; one byte more is refused.
    for size, want in ((1 << 20, 405), ((1 << 20) + 1, 413)):
        with socket.create_connection(addr, timeout=30) as s:
            head = ("POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    "application/json\r\nContent-Length: %d\r\n\r\n" % size)
            s.sendall(head.encode())
            if want == 405:
                s.sendall(b" " * size)
            st, hd, bd, _ = read_response(s)
            check(st == want, "body of %d bytes: %d %r" % (size, st, bd))
            if want == 413:
                check(b"1048576" in bd, "413 names the limit: %r" % bd)
            else:
                # Still usable after a big body.
                s.sendall(request("GET", "/api/session"))
                st, _, _, _ = read_response(s)
                check(st == 200, "after a 1 MiB body: %d" % st)

    for raw, want in (
            (b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
             b"chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411),
            (b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
             b"-1\r\n\r\n", 400),
            (b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
             b"12abc\r\n\r\n", 400),
            (request("GET", "/api/no/such/thing"), 404),
            (request("DELETE", "/api/session"), 405),
            (request("POST", "/metrics", b"{}"), 405),
            (request("PUT", "/", b"{}"), 405)):
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(raw)
            st, hd, bd, _ = read_response(s)
            check(st == want, "%r: %d %r, want %d" % (raw[:40], st, bd, want))
            if raw.startswith(b"GET /api/no"):
                check(error_code(bd) == "NOT_FOUND", "404 body %r" % bd)
            if raw.startswith(b"DELETE /api"):
                check(error_code(bd) == "METHOD_NOT_ALLOWED", "405 %r" % bd)

    # HEAD of an API call: the head (with the length GET would have), no
    # body.
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(request("HEAD", "/api/session") +
                  request("GET", "/health"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200") and
              b"Content-Length: " in head, "HEAD: %r" % head)
        st, _, bd, _ = read_response(s, buf)
        check(st == 200 and bd == b"ok\n",
              "GET after HEAD read the HEAD's body: %d %r" % (st, bd))

    # DNS rebinding: the Host a browser sends names the site it thinks it
    # is talking to.
    port = addr[1]
    for host, want, code in (
            ("evil.example:%d" % port, 403, "HOST_NOT_ALLOWED"),
            ("evil.example", 403, "HOST_NOT_ALLOWED"),
            ("console.example.evil.example", 403, "HOST_NOT_ALLOWED"),
            ("127.0.0.1:%d" % port, 200, None),
            ("localhost:%d" % port, 200, None),
            ("app.localhost", 200, None),
            ("[::1]:%d" % port, 200, None),
            ("CONSOLE.example:%d" % port, 200, None),
            ("other.example", 200, None),
            ("[not-an-address]:%d" % port, 400, "INVALID_HOST")):
        raw = ("GET /api/session HTTP/1.1\r\nHost: %s\r\n\r\n"
               % host).encode()
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(raw)
            st, _, bd, _ = read_response(s)
        check(st == want, "Host %s: %d %r, want %d" % (host, st, bd, want))
        if code:
            check(error_code(bd) == code, "Host %s: %r" % (host, bd))
        if code == "HOST_NOT_ALLOWED":
            check(b"--http-allowed-hosts" in bd, "says how to allow: %r" % bd)
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(b"GET /api/session HTTP/1.0\r\n\r\n")
        st, _, bd, _ = read_response(s)
        check(st == 400 and error_code(bd) == "INVALID_HOST",
              "no Host: %d %r" % (st, bd))

    for path, want in (("/health", 200), ("/ready", 200), ("/metrics", 200)):
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(request("GET", path))
            st, _, _, _ = read_response(s)
            check(st == want, "%s: %d" % (path, st))

    # The Kafka side is untouched by all of it.
    r = subprocess.run(["kcat", "-b", b.bootstrap, "-P", "-t", "after"],
                       input=b"still here\n", capture_output=True, timeout=30)
    check(r.returncode == 0, "kcat produce: %r" % r.stderr)
    recs = ndtest.read_partition(b.bootstrap, "after")
    check(recs == {0: b"still here"}, "read back %r" % recs)


# ---- console calls on their own thread ----------------------------------------
# `nodata console` in front of a "broker" that accepts and never answers:
# an API call then waits for its Kafka round trip until the console's
# timeout. Meanwhile /health and /metrics are answered on other
# connections, and the stuck call's answer has not come when they are; a
# client that leaves while its call waits in line is dropped; the stuck
# call ends in an error answer, and the calls behind it are then served.
def start_console(bootstrap):
    out = tempfile.NamedTemporaryFile(prefix="nd-console-", delete=False)
    proc = subprocess.Popen([ndtest.nodata_bin(), "console", "--bootstrap",
                             bootstrap, "--http", "127.0.0.1:0"],
                            stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        with open(out.name) as f:
            m = re.search(r"http on (\S+):(\d+) ", f.read())
        if m:
            return proc, (m.group(1), int(m.group(2))), out.name
        if proc.poll() is not None or time.monotonic() > deadline:
            ndtest.terminate(proc)
            ndtest.fail("nodata console did not start: " + open(out.name).read())
        time.sleep(0.05)


silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(16)  # connections complete in the backlog; nothing is read
proc, addr, log = start_console("127.0.0.1:%d" % silent.getsockname()[1])
try:
    stuck = socket.create_connection(addr, timeout=30)
    stuck.sendall(request("GET", "/api/topics"))
    time.sleep(0.3)  # let the console thread take it
    leaver = socket.create_connection(addr, timeout=10)
    leaver.sendall(request("GET", "/api/session"))
    leaver.close()
    for path in ("/health", "/metrics"):
        with socket.create_connection(addr, timeout=10) as s:
            s.sendall(request("GET", path))
            st, _, _, _ = read_response(s)
            check(st == 200, "%s during a stuck console call: %d" % (path, st))
    check(not select.select([stuck], [], [], 0)[0],
          "the stuck call was answered before /health and /metrics")
    behind = socket.create_connection(addr, timeout=30)
    behind.sendall(request("GET", "/api/session"))
    st, _, bd, _ = read_response(stuck)
    check(st >= 500 and "error" in json.loads(bd),
          "the stuck call: %d %r" % (st, bd))
    st, _, bd, _ = read_response(behind)
    check(st == 200 and "listener" in json.loads(bd),
          "the call behind it: %d %r" % (st, bd))
    stuck.close()
    behind.close()
    check(proc.poll() is None, "the console exited: " + open(log).read())
finally:
    ndtest.terminate(proc)
    silent.close()
print("console calls: /health and /metrics answered during a stuck call")

ndtest.passed()
