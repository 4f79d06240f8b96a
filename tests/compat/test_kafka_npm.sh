# test_kafka_npm.sh — a current JavaScript client that speaks only flexible
# protocol versions (@platformatic/kafka 1.35.0, the newest release that
# runs on Debian's Node 20) against `nodata serve`; the checks are in
# kafka_npm_client.mjs. The package is installed with npm into a cache
# directory on first use ($ND_NPM_DIR, default ~/.cache/nodata-test-npm);
# without node/npm, or when the npm registry cannot be reached, the test is
# skipped with a message saying so.
set -u
. "$(dirname "$0")/lib.sh"
nd_need node npm

PKG=@platformatic/kafka@1.35.0
DIR=${ND_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nodata-test-npm}
if [ ! -f "$DIR/node_modules/@platformatic/kafka/package.json" ] ||
  ! grep -q '"version": "1.35.0"' "$DIR/node_modules/@platformatic/kafka/package.json"; then
  mkdir -p "$DIR" || nd_skip "cannot create $DIR"
  (cd "$DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    timeout 300 npm install --no-audit --no-fund --loglevel=error "$PKG" >"$(nd_tmp)/npm.log" 2>&1) ||
    nd_skip "npm install $PKG failed: $(tail -3 "$(nd_tmp)/npm.log")"
fi
# The script imports the package, so it runs from beside node_modules.
cp "$(dirname "$0")/kafka_npm_client.mjs" "$DIR/" || nd_fail "cannot copy the client script"

nd_start
timeout 120 node "$DIR/kafka_npm_client.mjs" "$ND_BOOTSTRAP" || nd_fail "npm client checks failed"
nd_stop
[ "$ND_EXIT" = 0 ] || nd_fail "nodata serve exited with $ND_EXIT"
! grep -q -e Sanitizer -e 'runtime error' "$ND_ERR" || nd_fail "sanitizer report"
nd_pass
