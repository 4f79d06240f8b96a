#!/usr/bin/env bash
# test_cli_live.sh — the CLI beside a writer:
#   - follow mode: `consume -f` (in the background) prints records that a
#     later `nodata produce` appends, and -n ends it;
#   - while `nodata serve` holds the data directory, list, describe,
#     consume, inspect and verify work read-only (exit 0), and produce,
#     topics create/delete and verify --repair refuse (exit 1) naming the
#     broker's pid and address, without touching the data;
#   - `consume -f` beside the broker sees records a Kafka client (kcat, if
#     installed) produces through it.
# Every process started here is stopped here (traps in lib.sh and below).
set -u
. "$(dirname "$0")/lib.sh"

N=$NODATA_BIN
D=$ND_TMP/data
export NODATA_DIR=$D
unset NODATA_DATA
BG=""
nd_on_exit '[ -n "$BG" ] && kill -KILL $BG 2>/dev/null'

expect() { nd_expect "$@"; }
# Background consumers run without a `timeout` wrapper: timeout forwards
# a signal to its whole process group, and a second signal landing while
# LeakSanitizer inspects the exiting process (ASan builds) hangs it. The
# deadlines are kept here instead.
# wait_bg SECS: wait for $BG to exit; kill it and fail after SECS.
wait_bg() {
  local deadline=$((SECONDS + $1))
  while kill -0 "$BG" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill -KILL "$BG" 2>/dev/null
      nd_fail "a background consume did not exit within $1 s"
    fi
    sleep 0.05
  done
  BG_STATUS=0
  wait "$BG" || BG_STATUS=$?
  BG=""
}
# wait_for FILE PATTERN SECS: until grep finds PATTERN in FILE.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

expect 0 "create" "$N" topics create live -p 2
expect 0 "produce" bash -c "printf 'one\ntwo\n' | '$N' produce live -p 0"

# ---- follow mode, no broker ------------------------------------------------
"$N" consume live -p 0 -f --format json >"$ND_TMP/f.out" 2>"$ND_TMP/f.err" &
BG=$!
wait_for "$ND_TMP/f.out" '"value":"two"' 10 || nd_fail "follow: existing records not printed"
expect 0 "produce while following" bash -c "echo three | '$N' produce live -p 0 -H k=v"
wait_for "$ND_TMP/f.out" '"offset":2,.*"value":"three","headers":\[{"key":"k","value":"v"}\]' 10 ||
  nd_fail "follow: the later append was not seen: $(cat "$ND_TMP/f.out" "$ND_TMP/f.err")"
kill -INT $BG
wait_bg 10
[ "$BG_STATUS" -eq 0 ] || nd_fail "consume -f: exit status $BG_STATUS after SIGINT"
[ ! -s "$ND_TMP/f.err" ] || nd_fail "consume -f stderr: $(cat "$ND_TMP/f.err")"

# -f with -n ends by itself once COUNT records came, here from the end.
"$N" consume live -f -o end -n 2 >"$ND_TMP/n.out" 2>&1 &
BG=$!
sleep 1 # let it find the end first
expect 0 "produce for -n" bash -c "printf 'four\nfive\nsix\n' | '$N' produce live -p 1 -q"
wait_bg 20
[ "$BG_STATUS" -eq 0 ] || nd_fail "consume -f -n 2: exit status $BG_STATUS: $(cat "$ND_TMP/n.out")"
[ "$(cat "$ND_TMP/n.out")" = "$(printf 'four\nfive')" ] || nd_fail "-f -n 2 printed: $(cat "$ND_TMP/n.out")"

# ---- beside a running broker ------------------------------------------------
ND_DATA=$D nd_start
topic_dir=$D/topics/$(printf live | sha256sum | cut -c1-64)
before=$(cd "$topic_dir" && find . -name '*.log' -exec md5sum {} + | sort)

expect 0 "topics list beside the broker" "$N" topics list
grep -qx live "$ND_TMP/cmd.out" || nd_fail "list: $(cat "$ND_TMP/cmd.out")"
cp "$ND_TMP/cmd.out" "$ND_TMP/list.before" # the broker may add internal topics
expect 0 "describe beside the broker" "$N" topics describe live
grep -q '^0 .* 3 ' "$ND_TMP/cmd.out" || nd_fail "describe: $(cat "$ND_TMP/cmd.out")"
expect 0 "consume beside the broker" "$N" consume live -p 0
[ "$(cat "$ND_TMP/cmd.out")" = "$(printf 'one\ntwo\nthree')" ] || nd_fail "consume: $(cat "$ND_TMP/cmd.out")"
expect 0 "verify beside the broker" "$N" verify
grep -q 'no damage found' "$ND_TMP/cmd.out" || nd_fail "verify: $(cat "$ND_TMP/cmd.out")"
expect 0 "inspect beside the broker" "$N" inspect "$topic_dir/0/00000000000000000000.log"

held="held by pid $ND_PID (nodata serve, listening on 127.0.0.1:$ND_PORT)"
expect 1 "produce beside the broker" bash -c "echo nope | '$N' produce live"
grep -q "data directory $D is $held" "$ND_TMP/cmd.err" || nd_fail "produce: $(cat "$ND_TMP/cmd.err")"
[ "$(wc -l <"$ND_TMP/cmd.err")" -eq 1 ] || nd_fail "produce: want one line on stderr"
expect 1 "topics create beside the broker" "$N" topics create other
grep -q "$held" "$ND_TMP/cmd.err" || nd_fail "create: $(cat "$ND_TMP/cmd.err")"
expect 1 "topics delete beside the broker" "$N" topics delete live
grep -q "$held" "$ND_TMP/cmd.err" || nd_fail "delete: $(cat "$ND_TMP/cmd.err")"
expect 0 "list unchanged" "$N" topics list
cmp -s "$ND_TMP/cmd.out" "$ND_TMP/list.before" || nd_fail "a refused command changed the topics"
after=$(cd "$topic_dir" && find . -name '*.log' -exec md5sum {} + | sort)
[ "$before" = "$after" ] || nd_fail "a refused command changed the logs"
nd_alive || nd_fail "the broker died"

# A Kafka client writes through the broker; consume -f sees it.
if command -v kcat >/dev/null 2>&1; then
  "$N" consume live -p 0 -o end -f >"$ND_TMP/k.out" 2>"$ND_TMP/k.err" &
  BG=$!
  sleep 0.5
  # lz4 as the client compresses it: consume decodes the client's batch.
  echo "via-kafka" | timeout 20 kcat -b "$ND_BOOTSTRAP" -P -t live -p 0 -z lz4 ||
    nd_fail "kcat could not produce"
  wait_for "$ND_TMP/k.out" '^via-kafka$' 15 ||
    nd_fail "consume -f beside the broker missed a kcat record: $(cat "$ND_TMP/k.out" "$ND_TMP/k.err")"
  kill -TERM $BG
  wait_bg 10
  [ "$BG_STATUS" -eq 0 ] || nd_fail "consume -f: exit status $BG_STATUS after SIGTERM"
else
  echo "note: kcat not installed; skipping the produce-through-the-broker part"
fi

nd_stop
# Once the broker is gone, writing works again.
expect 0 "produce after the broker stopped" bash -c "echo back | '$N' produce live -p 0"
nd_pass
