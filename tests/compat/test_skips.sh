#!/usr/bin/env bash
# A test that cannot run must not be counted as passed. lib.sh's nd_skip and
# ndtest.skip exit 77, which every scripted ctest entry declares as its
# SKIP_RETURN_CODE, so ctest reports "Skipped"; with CI set, a skip is a
# failure (exit 1), because CI is where every test must run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ND_BUILD_DIR:?}"

fail() { echo "FAIL: $*" >&2; exit 1; }

expect() { # DESC WANT CMD...
  local desc=$1 want=$2 got
  shift 2
  "$@" >/dev/null 2>&1
  got=$?
  [ "$got" = "$want" ] || fail "$desc: exit $got, want $want"
}

sh_skip="source '$here/lib.sh'; nd_skip 'no such tool'; exit 0"
py_skip="import sys; sys.path.insert(0, '$here'); import ndtest; ndtest.skip('no such module')"
py_require="import sys; sys.path.insert(0, '$here'); import ndtest; ndtest.require('no_such_module_nodata')"

expect "nd_skip outside CI" 77 env -u CI bash -c "$sh_skip"
expect "nd_skip under CI=true" 1 env CI=true bash -c "$sh_skip"
expect "ndtest.skip outside CI" 77 env -u CI /usr/bin/python3 -c "$py_skip"
expect "ndtest.skip under CI=true" 1 env CI=true /usr/bin/python3 -c "$py_skip"
expect "ndtest.require of a missing module under CI=true" 1 \
  env CI=true /usr/bin/python3 -c "$py_require"
out=$(CI=true bash -c "$sh_skip" 2>&1)
case $out in *"no such tool"*) ;; *) fail "the CI failure does not say why: $out" ;; esac

# Every scripted test declares 77 as its skip code, or ctest counts a skip
# as a pass.
# Through a file: the listing outgrew what one argument may hold (128 KiB).
json=$(mktemp)
trap 'rm -f "$json"' EXIT
(cd "$ND_BUILD_DIR" && ctest --show-only=json-v1) >"$json" || fail "ctest --show-only failed"
/usr/bin/python3 - "$json" <<'PY' || exit 1
import json, sys
tests = json.load(open(sys.argv[1]))["tests"]
scripted = [t for t in tests if t["name"].startswith("compat_")]
if not scripted:
    sys.exit("FAIL: no scripted tests found")
bad = []
for t in scripted:
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    if str(props.get("SKIP_RETURN_CODE")) != "77":
        bad.append(t["name"])
if bad:
    sys.exit("FAIL: no SKIP_RETURN_CODE 77 on: " + ", ".join(bad))
print("%d scripted tests declare skip code 77" % len(scripted))
PY
echo "PASS: $(basename "$0")"
