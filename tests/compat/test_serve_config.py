"""test_serve_config.py — `nodata serve --config FILE` and safe defaults:

- precedence: a Kafka property in the file is in force (DescribeConfigs
  says STATIC_BROKER_CONFIG), a NODATA_* variable overrides it, a flag
  overrides both; NODATA_CONFIG names the file as --config does; --listen
  replaces the file's listeners;
- a topic default in the file (log.retention.ms) is the broker's default;
- an unknown property gets Kafka's WARN line, once, naming it, and the
  broker starts; the security parts' names (ssl.*, listener.name.*) do not;
- a known property with a bad value, several log.dirs: usage errors (exit
  2) naming the file, the property and the value;
- without configuration the broker listens on 127.0.0.1 only (checked in
  a network namespace of its own, where port 9092 is free);
- a listener that authenticates no one on a non-loopback address is
  refused (exit 2, saying what to do) unless --allow-insecure,
  allow.insecure=true or NODATA_ALLOW_INSECURE=1 says it is meant; the
  address used, 192.0.2.1 (TEST-NET-1), is on no interface here, so the
  allowed case fails to bind (exit 1) and nothing listens beyond
  loopback; localhost is loopback.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

import test_kafka_versions as kv  # noqa: E402

BROKER = 4
STATIC, DEFAULT = 4, 5
UNKNOWN_WARN = ("The configuration '%s' was supplied but isn't a known "
                "config.")


def configs(b, keys):
    c = kv.Conn(b.port)
    d = kv.describe_configs(c, "0", keys, BROKER)
    c.s.close()
    if d["error"]:
        ndtest.fail("DescribeConfigs: %s" % d)
    return {e["name"]: (e["value"], e["source"]) for e in d["configs"]}


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def serve(args, env=None, timeout=30):
    """Run nodata serve expecting it to exit on its own: (status,
    stderr)."""
    try:
        r = subprocess.run([ndtest.nodata_bin(), "serve"] + args,
                           env=dict(os.environ, **(env or {})),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:  # run() killed it
        ndtest.fail("nodata serve %s %s: still running after %d s, want it "
                    "to exit:\n%s" % (args, env, timeout, e.stderr))
    return r.returncode, r.stderr.decode(errors="replace")


def precedence(tmp):
    conf = write(tmp, "server.properties", "\n".join([
        "# a Kafka server.properties",
        "num.partitions=3",
        "connections.max.idle.ms=123456",
        "log.retention.ms=3600000",
        "foo.bar=1",
        "ssl.client.auth=none",
        "listener.name.plaintext.ssl.client.auth=none",
        "controller.quorum.voters=1@127.0.0.1:9093",
        ""]))
    keys = ["num.partitions", "connections.max.idle.ms", "log.retention.ms"]
    with ndtest.Broker(args=["--config", conf]) as b:
        got = configs(b, keys)
        want = {"num.partitions": ("3", STATIC),
                "connections.max.idle.ms": ("123456", STATIC),
                "log.retention.ms": ("3600000", STATIC)}
        if got != want:
            ndtest.fail("from the file: %s, want %s" % (got, want))
        err = b.stderr()
        if err.count(UNKNOWN_WARN % "foo.bar") != 1 or \
                "WARN" not in err.split(UNKNOWN_WARN % "foo.bar")[0] \
                .splitlines()[-1]:
            ndtest.fail("want one WARN line for foo.bar:\n%s" % err)
        for known in ("ssl.client.auth", "listener.name.plaintext",
                      "controller.quorum.voters", "num.partitions"):
            if "'%s" % known in err:
                ndtest.fail("%s is known, but warned about:\n%s"
                            % (known, err))
        ndtest.stop_clean(b)
    # The variable beats the file.
    with ndtest.Broker(args=["--config", conf],
                       env={"NODATA_PARTITIONS": "5"}) as b:
        got = configs(b, keys)
        if got["num.partitions"][0] != "5" or \
                got["connections.max.idle.ms"][0] != "123456":
            ndtest.fail("file + variable: %s" % got)
        ndtest.stop_clean(b)
    # The flag beats both; NODATA_CONFIG names the file.
    with ndtest.Broker(args=["--partitions", "7",
                             "--connections-max-idle-ms", "2000"],
                       env={"NODATA_PARTITIONS": "5",
                            "NODATA_CONFIG": conf}) as b:
        got = configs(b, keys)
        if got["num.partitions"][0] != "7" or \
                got["connections.max.idle.ms"][0] != "2000" or \
                got["log.retention.ms"] != ("3600000", STATIC):
            ndtest.fail("file + variable + flag: %s" % got)
        ndtest.stop_clean(b)
    # Without the file: the defaults.
    with ndtest.Broker() as b:
        got = configs(b, keys)
        if got["num.partitions"] != ("1", DEFAULT) or \
                got["log.retention.ms"][1] != DEFAULT:
            ndtest.fail("no file: %s" % got)
        ndtest.stop_clean(b)
    # --listen replaces the file's listeners.
    two = write(tmp, "two.properties",
                "listeners=PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:0\n"
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                "OTHER:PLAINTEXT\n")
    with ndtest.Broker(args=["--config", two]) as b:
        if "listener OTHER" in b.stdout():
            ndtest.fail("--listen given, yet the file's OTHER listener "
                        "is bound:\n%s" % b.stdout())
        ndtest.stop_clean(b)
    with ndtest.Broker(listen=False, args=["--config", two]) as b:
        if "nodata serve: listener OTHER (PLAINTEXT) on 127.0.0.1:" \
                not in b.stdout():
            ndtest.fail("the file's OTHER listener is not bound:\n%s"
                        % b.stdout())
        ndtest.stop_clean(b)


def bad_values(tmp):
    data = os.path.join(tmp, "data-bad")
    for text, words in [
            ("num.partitions=three\n", ["num.partitions", "'three'"]),
            ("log.cleaner.enable=yes\n", ["log.cleaner.enable", "'yes'"]),
            ("max.connections=-4\n", ["max.connections", "'-4'"]),
            ("log.retention.ms=soon\n", ["log.retention.ms", "'soon'"]),
            ("log.dirs=/a,/b\n", ["log.dirs", "one data directory"]),
            ("listeners=PLAINTEXT://127.0.0.1\n", ["listeners",
                                                   "NAME://HOST:PORT"]),
            ("allow.insecure=maybe\n", ["allow.insecure", "'maybe'"])]:
        conf = write(tmp, "bad.properties", "# ok\n" + text)
        rc, err = serve(["--config", conf, "--data", data,
                         "--listen", "127.0.0.1:0"])
        if rc != 2 or conf not in err or \
                not all(w in err for w in words):
            ndtest.fail("%r: want exit 2 naming %s, %s; got %d:\n%s"
                        % (text, conf, words, rc, err))
    # A flag's bad value is still the flag's error, not the file's.
    rc, err = serve(["--config", write(tmp, "ok.properties", ""),
                     "--partitions", "x", "--data", data])
    if rc != 2 or "--partitions" not in err:
        ndtest.fail("bad flag: %d %s" % (rc, err))
    if os.path.exists(data):
        ndtest.fail("a usage error created the data directory")


REFUSED = "refusing to listen on"


def insecure(tmp):
    data = os.path.join(tmp, "data-insecure")
    addr = "192.0.2.1:0"
    # Refused: flag, variable and file listeners alike.
    wild = write(tmp, "wild.properties", "listeners=PLAINTEXT://:0\n")
    ext = write(tmp, "ext.properties",
                "listeners=PLAINTEXT://127.0.0.1:0,EXT://192.0.2.1:0\n"
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                "EXT:PLAINTEXT\n")
    for args, env, where in [
            (["--listen", addr], {}, "192.0.2.1:0"),
            ([], {"NODATA_LISTEN": addr}, "192.0.2.1:0"),
            (["--config", wild], {}, "every address, port 0"),
            (["--config", ext], {}, "192.0.2.1:0: listener EXT"),
            (["--listen", addr], {"NODATA_ALLOW_INSECURE": "0"},
             "192.0.2.1:0")]:
        rc, err = serve(args + ["--data", data], env)
        if rc != 2 or "%s %s" % (REFUSED, where) not in err or \
                "--allow-insecure" not in err or \
                "allow.insecure=true" not in err or \
                "NODATA_ALLOW_INSECURE=1" not in err or \
                "127.0.0.1" not in err:
            ndtest.fail("%s %s: want the refusal (exit 2), got %d:\n%s"
                        % (args, env, rc, err))
    # Allowed: the check passes, and binding an address this machine
    # does not have fails (exit 1), so nothing listened.
    allow_file = write(tmp, "allow.properties",
                       "allow.insecure=true\nlisteners=PLAINTEXT://%s\n"
                       % addr)
    for args, env in [(["--listen", addr, "--allow-insecure"], {}),
                      (["--listen", addr], {"NODATA_ALLOW_INSECURE": "1"}),
                      (["--config", allow_file], {})]:
        rc, err = serve(args + ["--data", data], env)
        if rc != 1 or REFUSED in err or "cannot listen on" not in err:
            ndtest.fail("%s %s: want past the check (then exit 1 for an "
                        "address not here), got %d:\n%s"
                        % (args, env, rc, err))
    # Loopback by name is loopback.
    with ndtest.Broker(args=["--listen", "localhost:0"]) as b:
        ndtest.stop_clean(b)


def listening_sockets(pid):
    """The (address, port) of every listening TCP socket in pid's network
    namespace (/proc/PID/net/tcp and tcp6)."""
    out = []
    for f in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, f)) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                a, p = local.split(":")
                out.append((a, int(p, 16)))
    return out


def default_loopback(tmp):
    """Without --listen, --config or NODATA_LISTEN: 127.0.0.1:9092 only.
    In a network namespace of its own (unshare), where 9092 is free."""
    data = os.path.join(tmp, "data-default")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NODATA_")}
    cmd = ["unshare", "-rn", "sh", "-c",
           'ip link set lo up && exec "$0" serve --data "$1"',
           ndtest.nodata_bin(), data]
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        ndtest.skip("unshare -rn (a network namespace) is not allowed "
                    "here: %s" % probe.stderr.decode(errors="replace"))
    out = os.path.join(tmp, "default.out")
    with open(out, "wb") as o:
        p = subprocess.Popen(cmd, env=env, stdout=o, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL,
                             preexec_fn=ndtest._pdeathsig)
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in open(out).read():
            if p.poll() is not None or time.monotonic() > deadline:
                ndtest.fail("default start failed:\n%s" % open(out).read())
            time.sleep(0.05)
        socks = listening_sockets(p.pid)
    finally:
        ndtest.terminate(p)
    text = open(out).read()
    if "listening on 127.0.0.1:9092," not in text:
        ndtest.fail("default start-up line:\n%s" % text)
    if socks != [("0100007F", 9092)]:
        ndtest.fail("listening sockets by default: %s, want only "
                    "127.0.0.1:9092" % socks)


def main():
    tmp = tempfile.mkdtemp(prefix="nd-serve-config-")
    try:
        precedence(tmp)
        bad_values(tmp)
        insecure(tmp)
        default_loopback(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ndtest.passed()


if __name__ == "__main__":
    main()
