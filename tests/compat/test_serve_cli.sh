#!/usr/bin/env bash
# test_serve_cli.sh — `nodata` and `nodata serve` as a user drives them:
# help, version and usage errors (exit 2); start-up line; a second broker
# on the same data directory refused (exit 1, names the pid); the broker
# survives bad frames; 1,000 idle connections stay far under 100 MB;
# SIGTERM and SIGINT stop it cleanly (exit 0, clean-shutdown marker).
set -u
. "$(dirname "$0")/lib.sh"

# expect STATUS DESC CMD...: run CMD, which must exit with STATUS.
expect() { nd_expect "$@"; }

# ---- the command line -------------------------------------------------
expect 0 "nodata --help" "$NODATA_BIN" --help
grep -q 'serve' "$ND_TMP/cmd.out" || nd_fail "--help does not list serve"
grep -q 'Exit status' "$ND_TMP/cmd.out" || nd_fail "--help does not document exit codes"
expect 0 "nodata --version" "$NODATA_BIN" --version
grep -q '^nodata [0-9]' "$ND_TMP/cmd.out" || nd_fail "--version printed: $(cat "$ND_TMP/cmd.out")"
expect 0 "nodata help serve" "$NODATA_BIN" help serve
grep -q 'Examples' "$ND_TMP/cmd.out" || nd_fail "help serve has no examples"
expect 0 "nodata serve --help" "$NODATA_BIN" serve --help
expect 2 "nodata with no command" "$NODATA_BIN"
expect 2 "unknown command" "$NODATA_BIN" frobnicate
[ "$(wc -l <"$ND_TMP/cmd.err")" -eq 1 ] || nd_fail "unknown command: want one line on stderr"
expect 2 "unknown global flag" "$NODATA_BIN" --frobnicate
expect 2 "help for an unknown command" "$NODATA_BIN" help frobnicate
expect 2 "unknown serve flag" "$NODATA_BIN" serve --frobnicate
[ "$(wc -l <"$ND_TMP/cmd.err")" -eq 1 ] || nd_fail "unknown flag: want one line on stderr"
grep -q -- '--frobnicate' "$ND_TMP/cmd.err" || nd_fail "unknown flag: the line does not name it"
expect 2 "bad --listen" "$NODATA_BIN" serve --listen nonsense
expect 2 "bad --listen port" "$NODATA_BIN" serve --listen 127.0.0.1:70000
expect 2 "missing value" "$NODATA_BIN" serve --data
expect 2 "bad --max-request-bytes" "$NODATA_BIN" serve --max-request-bytes 12x
expect 2 "bad --partitions" "$NODATA_BIN" serve --partitions 0
expect 2 "bad NODATA_LISTEN" env NODATA_LISTEN=nope "$NODATA_BIN" serve
expect 2 "bad NODATA_AUTO_CREATE" env NODATA_AUTO_CREATE=maybe "$NODATA_BIN" serve

# ---- start-up, second broker, bad input ---------------------------------
nd_start --max-request-bytes 1M
grep -q "data in $ND_DATA" "$ND_OUT" || grep -q "data in $(cd "$ND_DATA" && pwd -P)" "$ND_OUT" ||
  nd_fail "the start-up line does not name the data directory: $(cat "$ND_OUT")"
[ "$(grep -c . "$ND_OUT")" -eq 1 ] || nd_fail "want exactly one start-up line, got: $(cat "$ND_OUT")"

expect 1 "a second broker on the same data directory" \
  "$NODATA_BIN" serve --listen 127.0.0.1:0 --data "$ND_DATA"
grep -q "in use by pid $ND_PID" "$ND_TMP/cmd.err" ||
  nd_fail "second broker: want 'in use by pid $ND_PID', got: $(cat "$ND_TMP/cmd.err")"
[ "$(wc -l <"$ND_TMP/cmd.err")" -eq 1 ] || nd_fail "second broker: want one line on stderr"
nd_alive || nd_fail "the first broker died when a second one tried its directory"

expect 1 "a host name that does not resolve" \
  "$NODATA_BIN" serve --listen nd-no-such-host.invalid:9092 --data "$ND_TMP/unused"
[ ! -e "$ND_TMP/unused" ] || nd_fail "a bad --listen host still created the data directory"
grep -q "cannot listen on nd-no-such-host.invalid:9092" "$ND_TMP/cmd.err" ||
  nd_fail "bad host: got $(cat "$ND_TMP/cmd.err")"

expect 1 "a port already in use" \
  "$NODATA_BIN" serve --listen "127.0.0.1:$ND_PORT" --data "$ND_TMP/other"
grep -q "cannot listen on 127.0.0.1:$ND_PORT" "$ND_TMP/cmd.err" ||
  nd_fail "port in use: got $(cat "$ND_TMP/cmd.err")"

# Bad frames close only their own connection; 1,000 idle connections stay
# small; a client beside them keeps working throughout.
python3 - "$ND_PORT" "$ND_PID" <<'EOF' || nd_fail "raw-socket checks failed"
import os, resource, socket, struct, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s

def closed(s):
    s.settimeout(10)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def api_versions(s, corr):
    hdr = struct.pack(">hhih", 18, 0, corr, 6) + b"ndtest"
    s.sendall(struct.pack(">i", len(hdr)) + hdr)
    s.settimeout(10)
    size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
    body = s.recv(size, socket.MSG_WAITALL)
    return struct.unpack(">i", body[:4])[0] == corr

good = conn()
assert api_versions(good, 1), "ApiVersions round trip"
for prefix in (b"\x80\x00\x00\x00", b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff",
               b"\x00\x00\x00\x00", struct.pack(">i", (1 << 20) + 1)):
    b = conn()
    b.sendall(prefix + b"junk")
    assert closed(b), "size prefix %r did not close" % prefix
    b.close()
    assert api_versions(good, 2), "neighbour broken after %r" % prefix
g = conn()
g.sendall(os.urandom(1 << 16))
g.shutdown(socket.SHUT_WR)
assert closed(g), "garbage did not close"
g.close()
assert api_versions(good, 3), "neighbour broken after garbage"

def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

before = rss_kb()
idle = []
for i in range(1000):
    idle.append(conn())
for s in idle[::100]:
    assert api_versions(s, 7), "an idle connection does not answer"
time.sleep(0.2)
after = rss_kb()
print("1,000 idle connections: broker RSS %d KiB -> %d KiB (+%d bytes each)"
      % (before, after, (after - before) * 1024 // 1000))
assert after < 100 * 1024, "broker RSS %d KiB with 1,000 idle connections" % after
assert api_versions(good, 8), "neighbour broken with 1,000 idle connections"
for s in idle:
    s.close()
good.close()
EOF
nd_alive || nd_fail "the broker died during the raw-socket checks"

# ---- clean shutdown -------------------------------------------------------
nd_stop
[ "$ND_EXIT" -eq 0 ] || nd_fail "SIGTERM: exit status $ND_EXIT, want 0"
[ -e "$ND_DATA/clean-shutdown" ] || nd_fail "no clean-shutdown marker after SIGTERM"

# Restart on the same data directory and port, stop with SIGINT.
first_port=$ND_PORT
ND_PORT_WANT=$ND_PORT
nd_start
ND_PORT_WANT=0
[ "$ND_PORT" = "$first_port" ] || nd_fail "restart: port $ND_PORT, want $first_port"
kill -INT "$ND_PID"
nd__wait_gone "$ND_PID" 15 || nd_fail "SIGINT did not stop the broker"
ND_EXIT=0
wait "$ND_PID" || ND_EXIT=$?
ND_PID=""
[ "$ND_EXIT" -eq 0 ] || nd_fail "SIGINT: exit status $ND_EXIT, want 0"
[ -e "$ND_DATA/clean-shutdown" ] || nd_fail "no clean-shutdown marker after SIGINT"

# The environment mirrors the flags; flags win.
# env_serve VAR=VALUE... [-- FLAGS...]: start `nodata serve` with that
# environment (NODATA_* of this shell removed), wait for its start-up line
# in $ND_TMP/env.out; env_stop stops it and checks a clean exit.
env_serve() {
  local envs=() flags=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  flags=("$@")
  : >"$ND_TMP/env.out"
  env -u NODATA_DATA -u NODATA_DIR -u NODATA_LISTEN -u NODATA_MAX_REQUEST_BYTES \
    "${envs[@]}" "$NODATA_BIN" serve "${flags[@]+"${flags[@]}"}" \
    >"$ND_TMP/env.out" 2>"$ND_TMP/env.err" </dev/null &
  env_pid=$!
  nd_on_exit "kill -KILL $env_pid 2>/dev/null"
  for _ in $(seq 200); do
    grep -q 'listening on' "$ND_TMP/env.out" && break
    kill -0 "$env_pid" 2>/dev/null || break
    sleep 0.05
  done
  grep -q 'listening on' "$ND_TMP/env.out" ||
    nd_fail "env ${envs[*]}: $(cat "$ND_TMP/env.out" "$ND_TMP/env.err")"
  env_port=$(sed -n 's/.*listening on [^ ,]*:\([0-9][0-9]*\).*/\1/p' "$ND_TMP/env.out")
}
env_stop() {
  kill -TERM "$env_pid"
  nd__wait_gone "$env_pid" 15 || nd_fail "env broker: SIGTERM did not stop it"
  local code=0
  wait "$env_pid" || code=$?
  [ "$code" -eq 0 ] || nd_fail "env broker: exit status $code"
}

env_serve NODATA_LISTEN=127.0.0.1:0 NODATA_DATA="$ND_TMP/envdata"
grep -q "listening on 127.0.0.1:[1-9][0-9]*, data in .*/envdata " "$ND_TMP/env.out" ||
  nd_fail "NODATA_DATA: $(cat "$ND_TMP/env.out")"
env_stop
[ -e "$ND_TMP/envdata/clean-shutdown" ] || nd_fail "env broker: no clean-shutdown marker"

env_serve NODATA_LISTEN=127.0.0.1:0 NODATA_DIR="$ND_TMP/dirdata"
grep -q "data in .*/dirdata " "$ND_TMP/env.out" || nd_fail "NODATA_DIR: $(cat "$ND_TMP/env.out")"
env_stop

env_serve NODATA_LISTEN=127.0.0.1:0 NODATA_DIR="$ND_TMP/dirdata" NODATA_DATA="$ND_TMP/envdata"
grep -q "data in .*/envdata " "$ND_TMP/env.out" ||
  nd_fail "NODATA_DATA must win over NODATA_DIR: $(cat "$ND_TMP/env.out")"
env_stop

env_serve NODATA_LISTEN=127.0.0.1:0 NODATA_DATA="$ND_TMP/envdata" -- --data "$ND_TMP/flagdata"
grep -q "data in .*/flagdata " "$ND_TMP/env.out" ||
  nd_fail "--data must win over NODATA_DATA: $(cat "$ND_TMP/env.out")"
env_stop

# NODATA_MAX_REQUEST_BYTES: a frame over it closes that connection, and the
# log line names the peer, the size and the limit.
env_serve NODATA_LISTEN=127.0.0.1:0 NODATA_DATA="$ND_TMP/envdata" NODATA_MAX_REQUEST_BYTES=2K
python3 - "$env_port" <<'EOF' || nd_fail "NODATA_MAX_REQUEST_BYTES was not applied"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(struct.pack(">i", 3000) + b"\0" * 3000)
try:
    assert s.recv(100) == b"", "a 3000-byte request was not refused"
except ConnectionResetError:
    pass
EOF
env_stop
grep -q "127.0.0.1:[0-9]*: closing: request size 3000 out of range (1..2048 bytes)" "$ND_TMP/env.err" ||
  nd_fail "no log line for the oversized request: $(cat "$ND_TMP/env.err")"

# --advertise: named in the start-up line and given to clients in metadata.
nd_start --advertise nd-advertised.invalid:1234
grep -q "advertised as nd-advertised.invalid:1234" "$ND_OUT" ||
  nd_fail "--advertise: start-up line $(cat "$ND_OUT")"
if command -v kcat >/dev/null 2>&1; then
  timeout 20 kcat -b "$ND_BOOTSTRAP" -L -m 5 >"$ND_TMP/meta" 2>&1 || true
  grep -q "broker 0 at nd-advertised.invalid:1234" "$ND_TMP/meta" ||
    nd_fail "--advertise: metadata says $(cat "$ND_TMP/meta")"
fi
nd_stop
[ "$ND_EXIT" -eq 0 ] || nd_fail "--advertise run: exit status $ND_EXIT"

# The Python helpers (ndtest.py) as the real-client tests use them: start,
# raw ApiVersions, kill -9 and start again on the same data and port,
# clean stop.
python3 - "$(dirname "$0")" <<'EOF' || nd_fail "ndtest.py checks failed"
import os, sys
sys.path.insert(0, sys.argv[1])
import ndtest

with ndtest.Broker(args=["--partitions", "2"]) as b:
    assert 18 in ndtest.api_versions(b.bootstrap), "no ApiVersions entry"
    port, data = b.port, b.data_dir
    b.kill9()
    assert b.exit_code == -9, b.exit_code
    assert not os.path.exists(os.path.join(data, "clean-shutdown"))
    b.start()
    assert b.port == port, "restart moved from port %d to %d" % (port, b.port)
    assert ndtest.api_versions(b.bootstrap)
    assert b.rss_kb() > 0
    b.restart()
    assert b.exit_code == 0, b.exit_code
    assert b.port == port
    assert b.stop() == 0
    assert os.path.exists(os.path.join(data, "clean-shutdown"))
    tmp = b._tmp
assert not os.path.exists(tmp), "temp dir left behind"
EOF

# `make run` serves as Kafka's shipped server.properties does: no initial
# rebalance delay, so a new consumer group is assigned at once.
run_cmd=$(make -s -n -C "$ND_SOURCE_DIR" run BUILD="$ND_BUILD_DIR" DATA="$(nd_tmp)/run" |
  grep ' serve ') || nd_fail "make -n run shows no serve command"
case " $run_cmd " in
*" --group-initial-delay-ms 0 "*) ;;
*) nd_fail "make run serves with the 3 s initial rebalance delay: $run_cmd" ;;
esac

nd_pass
