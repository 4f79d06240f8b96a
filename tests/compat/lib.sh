# lib.sh — shell helpers for tests that run `nodata serve` (kcat, the CLI).
#
# Use from a tests/compat/test_*.sh script (ctest runs it with bash and sets
# NODATA_BIN to the nodata binary):
#
#   . "$(dirname "$0")/lib.sh"
#   nd_start                      # broker on a free 127.0.0.1 port, temp data
#   kcat -b "$ND_BOOTSTRAP" -L    # ... test against it ...
#   nd_stop                       # SIGTERM; $ND_EXIT = its exit status
#   nd_pass                       # prints PASS, exits 0
#
# Functions
#   nd_start [SERVE_ARGS...]   Start `nodata serve --listen 127.0.0.1:$ND_PORT_WANT
#                              --data $ND_DATA SERVE_ARGS...` and wait (10 s at
#                              most) for its start-up line. Sets ND_PID, ND_PORT,
#                              ND_BOOTSTRAP (127.0.0.1:PORT), ND_OUT and ND_ERR
#                              (files holding its stdout/stderr). ND_DATA is a
#                              fresh temp dir unless already set; it persists
#                              across nd_stop/nd_start, so restarts see the same
#                              data. ND_PORT_WANT defaults to 0 (a free port);
#                              set it to $ND_PORT to restart on the same port.
#   nd_stop [SECS]             SIGTERM, wait up to SECS (default 15), then
#                              SIGKILL. ND_EXIT gets the exit status (137 if it
#                              had to be killed, and that also fails the test).
#   nd_kill9                   SIGKILL at once (crash tests). ND_EXIT=137.
#   nd_restart [SERVE_ARGS...] nd_stop then nd_start on the same data and port.
#   nd_alive                   true while the broker process runs.
#   nd_fail MSG                print MSG, the broker's stderr tail, exit 1.
#   nd_check DESC CMD...       run CMD; nd_fail "DESC" if it fails.
#   nd_skip MSG                print SKIP: MSG and exit 77, which ctest reports
#                              as skipped (e.g. no kcat). Under CI=true a
#                              skip is a failure: CI must run every test.
#   nd_need CMD...             nd_skip unless every CMD is on PATH.
#   nd_tmp                     a directory removed at exit ($ND_TMP).
#   nd_on_exit CMD             run CMD (a string, eval'ed) at exit, before the
#                              broker is stopped.
#   nd_pass                    print PASS and exit 0.
#   nd_expect STATUS DESC CMD...  run CMD (stdin /dev/null) into $ND_TMP/cmd.out
#                              and cmd.err; nd_fail unless it exits STATUS.
#   nd_out_has DESC REGEX      nd_fail unless $ND_TMP/cmd.out matches REGEX.
#   nd_topic_dir DATA TOPIC    the topic's directory in a data directory.
#
# Cleanup is automatic: an EXIT/INT/TERM trap stops any broker still running
# (SIGTERM, then SIGKILL) and removes temp dirs. Do not replace the trap;
# use nd_on_exit. The broker is also started under `setpriv --pdeathsig
# KILL` when available, so it dies even if this script is SIGKILLed.
#
# Everything runs on 127.0.0.1 only. Scripts should use `set -u`; this
# file does not change shell options.

if [ -z "${NODATA_BIN:-}" ] || [ ! -x "${NODATA_BIN:-}" ]; then
  echo "FAIL: NODATA_BIN is not set to the nodata binary (got '${NODATA_BIN:-}')" >&2
  exit 1
fi

ND_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nd-compat-XXXXXX")
ND_PID=""
ND_PORT=""
ND_BOOTSTRAP=""
ND_EXIT=""
ND_OUT="$ND_TMP/serve.out"
ND_ERR="$ND_TMP/serve.err"
ND_PORT_WANT=${ND_PORT_WANT:-0}
ND_DATA=${ND_DATA:-$ND_TMP/data}
ND__EXIT_CMDS=()
ND__WRAP=()
if command -v setpriv >/dev/null 2>&1 &&
  setpriv --pdeathsig KILL true >/dev/null 2>&1; then
  ND__WRAP=(setpriv --pdeathsig KILL)
fi

nd__cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local c
  for c in "${ND__EXIT_CMDS[@]+"${ND__EXIT_CMDS[@]}"}"; do
    eval "$c" || true
  done
  if [ -n "$ND_PID" ]; then
    nd__terminate 10 || true
  fi
  rm -rf "$ND_TMP"
  exit "$rc"
}
trap nd__cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nd_on_exit() { ND__EXIT_CMDS+=("$1"); }

nd_tmp() { echo "$ND_TMP"; }

nd_alive() { [ -n "$ND_PID" ] && kill -0 "$ND_PID" 2>/dev/null; }

nd__stderr_tail() {
  if [ -s "$ND_ERR" ]; then
    echo "--- broker stderr (last 30 lines) ---" >&2
    tail -n 30 "$ND_ERR" >&2
    echo "---" >&2
  fi
}

# ctest's SKIP_RETURN_CODE for every scripted test (tests/CMakeLists.txt).
ND_SKIP_CODE=77

nd_fail() {
  echo "FAIL: $*" >&2
  nd__stderr_tail
  exit 1
}

nd_check() {
  local desc=$1
  shift
  "$@" || nd_fail "$desc (command: $*)"
}

nd_skip() {
  if [ -n "${CI:-}" ]; then
    echo "FAIL: would skip, but CI must run every test: $*" >&2
    exit 1
  fi
  echo "SKIP: $*"
  exit "$ND_SKIP_CODE"
}

nd_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || nd_skip "$c is not installed"
  done
}

nd_pass() {
  echo "PASS: $(basename "$0")"
  exit 0
}

nd_expect() {
  local want=$1 desc=$2
  shift 2
  local got=0
  "$@" >"$ND_TMP/cmd.out" 2>"$ND_TMP/cmd.err" </dev/null || got=$?
  if [ "$got" -ne "$want" ]; then
    cat "$ND_TMP/cmd.out" "$ND_TMP/cmd.err" >&2
    nd_fail "$desc: exit status $got, want $want"
  fi
}

nd_out_has() {
  grep -q -- "$2" "$ND_TMP/cmd.out" ||
    nd_fail "$1: output lacks '$2': $(cat "$ND_TMP/cmd.out" "$ND_TMP/cmd.err")"
}

nd_topic_dir() { echo "$1/topics/$(printf '%s' "$2" | sha256sum | cut -c1-64)"; }

# Wait for pid $1 to exit, up to $2 seconds; 0 if it did.
nd__wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.05
  done
  return 0
}

nd_start() {
  [ -z "$ND_PID" ] || nd_fail "nd_start: a broker is already running (pid $ND_PID)"
  mkdir -p "$(dirname "$ND_DATA")"
  : >"$ND_OUT"
  : >"$ND_ERR"
  ND_EXIT=""
  "${ND__WRAP[@]+"${ND__WRAP[@]}"}" "$NODATA_BIN" serve \
    --listen "127.0.0.1:$ND_PORT_WANT" --data "$ND_DATA" "$@" \
    >"$ND_OUT" 2>"$ND_ERR" </dev/null &
  ND_PID=$!
  local deadline=$((SECONDS + 10)) line=""
  while :; do
    line=$(grep -m1 'listening on' "$ND_OUT" 2>/dev/null || true)
    [ -n "$line" ] && break
    if ! kill -0 "$ND_PID" 2>/dev/null; then
      ND_EXIT=0
      wait "$ND_PID" 2>/dev/null || ND_EXIT=$?
      ND_PID=""
      nd_fail "nodata serve exited with status $ND_EXIT before its start-up line"
    fi
    [ $SECONDS -ge $deadline ] && nd_fail "nodata serve printed no start-up line within 10 s"
    sleep 0.05
  done
  ND_PORT=$(printf '%s\n' "$line" | sed -n 's/.*listening on [^ ,]*:\([0-9][0-9]*\).*/\1/p')
  [ -n "$ND_PORT" ] || nd_fail "cannot read the port from: $line"
  ND_BOOTSTRAP="127.0.0.1:$ND_PORT"
}

# SIGTERM, then SIGKILL after $1 seconds. Sets ND_EXIT; clears ND_PID.
nd__terminate() {
  local pid=$ND_PID
  kill -TERM "$pid" 2>/dev/null || true
  if ! nd__wait_gone "$pid" "$1"; then
    echo "nodata serve (pid $pid) ignored SIGTERM for $1 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  ND_EXIT=0
  wait "$pid" 2>/dev/null || ND_EXIT=$?
  ND_PID=""
  [ "$ND_EXIT" -ne 137 ]
}

nd_stop() {
  [ -n "$ND_PID" ] || nd_fail "nd_stop: no broker running"
  nd__terminate "${1:-15}" || nd_fail "nodata serve did not stop on SIGTERM"
}

nd_kill9() {
  [ -n "$ND_PID" ] || nd_fail "nd_kill9: no broker running"
  kill -KILL "$ND_PID" 2>/dev/null || true
  ND_EXIT=0
  wait "$ND_PID" 2>/dev/null || ND_EXIT=$?
  ND_PID=""
}

nd_restart() {
  nd_stop
  ND_PORT_WANT=$ND_PORT
  nd_start "$@"
}
