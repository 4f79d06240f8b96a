#!/usr/bin/env bash
# test_cli.sh — the nodata subcommands on a data directory, no broker:
# help and usage errors (exit 2), topics list/create/describe/delete,
# produce -> consume round trips (keys, headers, binary values, every
# compression codec; JSON decoded and compared byte for byte), every -o
# form, -n, pipelines (SIGPIPE ends quietly), and the runtime errors
# (exit 1). Follow mode, verify and read-only use beside a broker are in
# test_cli_follow.sh, test_cli_verify.sh and test_cli_live.sh.
set -u
. "$(dirname "$0")/lib.sh"

N=$NODATA_BIN
D=$ND_TMP/data
export NODATA_DIR=$D
unset NODATA_DATA

# expect STATUS DESC CMD...: run CMD (stdin from /dev/null unless $IN is
# set), which must exit with STATUS; output in $ND_TMP/cmd.out, .err.
expect() {
  local want=$1 desc=$2
  shift 2
  local got=0
  "$@" >"$ND_TMP/cmd.out" 2>"$ND_TMP/cmd.err" <"${IN:-/dev/null}" || got=$?
  if [ "$got" -ne "$want" ]; then
    cat "$ND_TMP/cmd.out" "$ND_TMP/cmd.err" >&2
    nd_fail "$desc: exit status $got, want $want"
  fi
}
# usage DESC CMD...: exit 2 with exactly one line on stderr.
usage() {
  local desc=$1
  shift
  expect 2 "$desc" "$@"
  [ "$(wc -l <"$ND_TMP/cmd.err")" -eq 1 ] ||
    nd_fail "$desc: want one line on stderr, got: $(cat "$ND_TMP/cmd.err")"
  [ ! -s "$ND_TMP/cmd.out" ] || nd_fail "$desc: printed on stdout"
}
out_is() { # out_is DESC EXPECTED
  local got
  got=$(cat "$ND_TMP/cmd.out")
  [ "$got" = "$2" ] || nd_fail "$1: got [$got], want [$2]"
}
err_has() { grep -q -- "$2" "$ND_TMP/cmd.err" || nd_fail "$1: stderr lacks '$2': $(cat "$ND_TMP/cmd.err")"; }

# ---- help, version, usage errors -----------------------------------------
expect 0 "nodata --help" "$N" --help
cp "$ND_TMP/cmd.out" "$ND_TMP/help.out"
for c in topics produce consume inspect verify groups console; do
  grep -q "^  $c " "$ND_TMP/help.out" || nd_fail "--help does not list $c"
  expect 0 "nodata help $c" "$N" help "$c"
  grep -q 'Examples' "$ND_TMP/cmd.out" || nd_fail "help $c has no examples"
  grep -q 'Exit status' "$ND_TMP/cmd.out" || nd_fail "help $c has no exit codes"
  expect 0 "nodata $c --help" "$N" "$c" --help
  grep -q "^usage: nodata $c" "$ND_TMP/cmd.out" || nd_fail "$c --help: no usage line"
  usage "$c: unknown flag" "$N" "$c" --frobnicate
  err_has "$c: unknown flag" "--frobnicate"
done
expect 0 "--version" "$N" --version
grep -q '^nodata [0-9]' "$ND_TMP/cmd.out" || nd_fail "--version: $(cat "$ND_TMP/cmd.out")"
if grep -q '^  bench ' "$ND_TMP/help.out"; then
  expect 0 "nodata help bench" "$N" help bench
fi
grep -q 'base64' <("$N" consume --help) || nd_fail "consume --help does not explain the base64 form"

usage "topics without action" "$N" topics
usage "topics bad action" "$N" topics frob
usage "topics create without name" "$N" topics create
usage "topics create bad name" "$N" topics create 'a/b'
usage "topics create -p 0" "$N" topics create t -p 0
usage "topics create -p x" "$N" topics create t -p x
usage "topics create bad config" "$N" topics create t --config retention.ms=abc
usage "topics create unknown config" "$N" topics create t --config no.such=1
usage "topics create config without =" "$N" topics create t --config retention.ms
usage "topics -p on list" "$N" topics list -p 2
usage "produce without topic" "$N" produce
usage "produce bad partition" "$N" produce t -p -1
usage "produce bad codec" "$N" produce t --compression lzma
usage "produce bad header" "$N" produce t -H novalue
usage "produce long delimiter" "$N" produce t --key-delimiter ab
usage "produce -k and -K" "$N" produce t -k a -K :
usage "produce missing value" "$N" produce t -p
usage "consume without topic" "$N" consume
usage "consume bad offset" "$N" consume t -o soon
usage "consume bad -N" "$N" consume t -o -x
usage "consume bad @" "$N" consume t -o @x
usage "consume bad count" "$N" consume t -n 0
usage "consume bad format" "$N" consume t --format xml
usage "consume two topics" "$N" consume t u
usage "inspect without path" "$N" inspect
usage "inspect other file" "$N" inspect /etc/passwd
usage "verify bad topic name" "$N" verify 'a b'
[ ! -e "$D" ] || nd_fail "usage errors created the data directory"

# ---- runtime errors before any data ------------------------------------------
expect 1 "topics list without a data dir" "$N" topics list
err_has "no data dir" "no data directory at $D"
expect 1 "consume without a data dir" "$N" consume t
expect 1 "produce without a data dir" "$N" produce t
expect 1 "verify without a data dir" "$N" verify
[ ! -e "$D" ] || nd_fail "a failed command created the data directory"

# ---- topics ----------------------------------------------------------------------
expect 0 "topics create" "$N" topics create events -p 3 --config retention.ms=3600000 -c segment.bytes=1048576
out_is "topics create" "created topic events with 3 partitions"
expect 0 "topics create via --data" "$N" topics create other --data "$D"
expect 1 "topics create existing" "$N" topics create events
err_has "existing" "already exists"
expect 0 "topics create --if-not-exists" "$N" topics create events --if-not-exists
expect 0 "topics list" "$N" topics list
out_is "topics list" "$(printf 'events\nother')"
expect 0 "topics describe" "$N" topics describe events
grep -q '^partitions: 3$' "$ND_TMP/cmd.out" || nd_fail "describe: partitions"
grep -q 'retention.ms=3600000' "$ND_TMP/cmd.out" || nd_fail "describe: config"
grep -q 'segment.bytes=1048576' "$ND_TMP/cmd.out" || nd_fail "describe: config 2"
[ "$(grep -c '^[0-2]  ' "$ND_TMP/cmd.out")" -eq 3 ] || nd_fail "describe: want 3 partition rows: $(cat "$ND_TMP/cmd.out")"
grep -q 'LOG-START.*END-OFFSET.*SIZE.*SEGMENTS' "$ND_TMP/cmd.out" || nd_fail "describe: header"
# A compacted topic shows the cleaner's columns (values: test_cleaner.c).
expect 0 "topics create compacted" "$N" topics create kv --config cleanup.policy=compact
expect 0 "topics describe compacted" "$N" topics describe kv
grep -q 'SEGMENTS.*LAST-TIMESTAMP *DIRTY-RATIO  LAST-CLEAN$' "$ND_TMP/cmd.out" || nd_fail "describe compacted: header: $(cat "$ND_TMP/cmd.out")"
grep -q '^0 .* 0\.00  -$' "$ND_TMP/cmd.out" || nd_fail "describe compacted: row: $(cat "$ND_TMP/cmd.out")"
expect 0 "topics describe delete-only" "$N" topics describe events
! grep -q DIRTY-RATIO "$ND_TMP/cmd.out" || nd_fail "describe: cleaner columns on a delete topic"
expect 0 "topics delete compacted" "$N" topics delete kv
expect 1 "describe unknown" "$N" topics describe nope
err_has "describe unknown" "unknown topic nope"
expect 0 "topics delete" "$N" topics delete other
expect 1 "topics delete unknown" "$N" topics delete other
expect 0 "topics list after delete" "$N" topics list
out_is "list after delete" "events"

# ---- produce -> consume --------------------------------------------------------
printf 'a\nb\n\nc' >"$ND_TMP/in.txt"
expect 0 "produce from a file" "$N" produce events -p 0 "$ND_TMP/in.txt"
out_is "produce offsets" "$(printf 'partition 0 offset 0\npartition 0 offset 1\npartition 0 offset 2\npartition 0 offset 3')"
IN=$ND_TMP/in.txt expect 0 "produce from stdin" "$N" produce events -p 0 -q
[ ! -s "$ND_TMP/cmd.out" ] || nd_fail "-q printed offsets"
expect 0 "consume text" "$N" consume events -p 0
out_is "consume text" "$(printf 'a\nb\n\nc\na\nb\n\nc')"
expect 0 "consume -o 2 -n 3" "$N" consume events -p 0 -o 2 -n 3
out_is "-o 2 -n 3" "$(printf '\nc\na')"
expect 0 "consume -o -2" "$N" consume events -p 0 -o -2
out_is "-o -2" "$(printf '\nc')"
expect 0 "consume -o end" "$N" consume events -p 0 -o end
out_is "-o end" ""
expect 0 "consume -o beginning -n1" "$N" consume events -p 0 -o beginning -n 1
out_is "-o beginning" "a"
expect 0 "consume -o 100 (clamped)" "$N" consume events -p 0 -o 100
out_is "-o 100" ""
expect 0 "consume -o -100 (clamped)" "$N" consume events -p 0 -o -100 -n 1
out_is "-o -100" "a"
expect 1 "consume unknown topic" "$N" consume nope
err_has "consume unknown" "unknown topic nope"
expect 1 "consume bad partition" "$N" consume events -p 3
expect 1 "produce unknown topic" "$N" produce nope
err_has "produce unknown" "nodata topics create nope"
expect 1 "produce missing file" "$N" produce events "$ND_TMP/missing"
expect 1 "produce bad partition" "$N" produce events -p 7

# @TIMESTAMP: records written after a pause start at the right offset.
sleep 0.05
ts=$(($(date +%s%3N) + 1))
sleep 0.05
IN=$ND_TMP/in.txt expect 0 "produce later" "$N" produce events -p 0 -q
expect 0 "consume -o @ts" "$N" consume events -p 0 -o "@$ts" --format json -n 1
grep -q '"offset":8,' "$ND_TMP/cmd.out" || nd_fail "-o @$ts: $(cat "$ND_TMP/cmd.out")"
expect 0 "consume -o @future" "$N" consume events -p 0 -o "@$((ts + 3600000))"
out_is "-o @future" ""

# Keys, headers and binary values through JSON, every codec. Values hold
# newlines, invalid UTF-8, quotes and control bytes (-z: NUL-delimited).
python3 - "$ND_TMP/bin.in" <<'EOF'
import sys
vals = [b"plain", "caf\u00e9 \u2603".encode(), b"line1\nline2", b"\xff\xfe\x80bin",
        b'quote" back\\ tab\t \x01', b"", b"k:v:w"]
open(sys.argv[1], "wb").write(b"".join(v + b"\0" for v in vals))
EOF
for codec in none gzip snappy lz4 zstd; do
  expect 0 "topics create rt-$codec" "$N" topics create "rt-$codec" -p 2
  IN=$ND_TMP/bin.in expect 0 "produce -z $codec" "$N" produce "rt-$codec" -z --compression "$codec" \
    -K : -H trace=abc -H "h2=x y"
  [ "$(wc -l <"$ND_TMP/cmd.out")" -eq 7 ] || nd_fail "$codec: want 7 offsets: $(cat "$ND_TMP/cmd.out")"
  expect 0 "consume json $codec" "$N" consume "rt-$codec" --format json
  python3 - "$ND_TMP/cmd.out" "$codec" <<'EOF' || nd_fail "json round trip ($codec)"
import base64, json, sys
def raw(x):
    if x is None: return None
    if isinstance(x, dict): return base64.b64decode(x["base64"])
    return x.encode()
want = {}
vals = [b"plain", "caf\u00e9 \u2603".encode(), b"line1\nline2", b"\xff\xfe\x80bin",
        b'quote" back\\ tab\t \x01', b"", b"k:v:w"]
for v in vals:  # -K ':' splits at the first ':'
    k, s, rest = v.partition(b":")
    want[(k if s else None, rest if s else v)] = 1
got = []
for line in open(sys.argv[1], "rb"):
    o = json.loads(line)
    assert o["topic"] == "rt-" + sys.argv[2], o
    assert o["partition"] in (0, 1) and o["offset"] >= 0 and o["timestamp"] > 0, o
    hs = [(raw(h["key"]), raw(h["value"])) for h in o["headers"]]
    assert hs == [(b"trace", b"abc"), (b"h2", b"x y")], hs
    got.append((raw(o["key"]), raw(o["value"])))
assert sorted(got, key=repr) == sorted(want, key=repr), (got, list(want))
# invalid UTF-8 must come as base64, valid as a string
txt = open(sys.argv[1]).read()
assert '{"base64":"//6AYmlu"}' in txt, txt
assert '"caf\u00e9 \u2603"' in txt or 'caf' in txt
EOF
done
# -z both ways: values with newlines come back byte for byte.
expect 0 "consume -z" "$N" consume rt-zstd -z
python3 - "$ND_TMP/bin.in" "$ND_TMP/cmd.out" <<'EOF2' || nd_fail "-z round trip"
import sys
src = [v.partition(b":")[2] if b":" in v else v for v in open(sys.argv[1], "rb").read().split(b"\0")[:-1]]
got = open(sys.argv[2], "rb").read().split(b"\0")[:-1]
assert sorted(got) == sorted(src), (got, src)
EOF2

# Keyed records go where Kafka's partitioner puts them: same key, same
# partition, and consumption per partition keeps their order.
printf 'user1:a\nuser2:b\nuser1:c\nuser2:d\nuser1:e\n' >"$ND_TMP/keys.txt"
IN=$ND_TMP/keys.txt expect 0 "produce keyed" "$N" produce events -K :
p1=$(sed -n 1p "$ND_TMP/cmd.out" | awk '{print $2}')
[ "$(sed -n '1p;3p;5p' "$ND_TMP/cmd.out" | awk '{print $2}' | sort -u)" = "$p1" ] ||
  nd_fail "user1 records spread over partitions: $(cat "$ND_TMP/cmd.out")"
expect 0 "consume keyed" "$N" consume events -p "$p1" -K =
grep -q '^user1=a$' "$ND_TMP/cmd.out" && grep -q '^user1=e$' "$ND_TMP/cmd.out" ||
  nd_fail "consume -K: $(cat "$ND_TMP/cmd.out")"
expect 0 "produce -k" bash -c "echo v | '$N' produce events -k fixed -p 1"
expect 0 "consume -k back" "$N" consume events -p 1 -o -1 --format json
grep -q '"key":"fixed","value":"v"' "$ND_TMP/cmd.out" || nd_fail "-k: $(cat "$ND_TMP/cmd.out")"

# A big produce is batched (1,000 records or 1 MiB a batch) and every
# record's offset is printed.
seq 1 25000 >"$ND_TMP/big.txt"
expect 0 "topics create big" "$N" topics create big -p 3
expect 0 "produce 25000" "$N" produce big -p 2 "$ND_TMP/big.txt"
[ "$(wc -l <"$ND_TMP/cmd.out")" -eq 25000 ] || nd_fail "want 25000 offset lines"
[ "$(tail -n1 "$ND_TMP/cmd.out")" = "partition 2 offset 24999" ] || nd_fail "last offset: $(tail -n1 "$ND_TMP/cmd.out")"
f=$D/topics/$(printf big | sha256sum | cut -c1-64)/2/00000000000000000000.log
batches=$("$N" inspect "$f" | grep -c '^batch ')
[ "$batches" -ge 25 ] && [ "$batches" -le 30 ] || nd_fail "25000 records in $batches batches"
expect 0 "consume 25000" "$N" consume big -p 2
cmp -s "$ND_TMP/cmd.out" "$ND_TMP/big.txt" || nd_fail "25000 records did not round-trip"

# A .txnindex (Kafka's 34-byte AbortedTxn entries, docs/format.md): two
# entries shown field by field; a cut entry makes it damaged (exit 3).
x=$ND_TMP/00000000000000000000.txnindex
/usr/bin/python3 -c '
import struct, sys
e = lambda pid, first, last, lso: struct.pack(">hqqqq", 0, pid, first, last, lso)
open(sys.argv[1], "wb").write(e(7, 2, 5, 6) + e(9, 8, 11, 12))' "$x"
expect 0 "inspect txnindex" "$N" inspect "$x"
grep -qx 'entry 1 version=0 producer=9 first=8 last=11 lso=12' "$ND_TMP/cmd.out" ||
  nd_fail "inspect txnindex: $(cat "$ND_TMP/cmd.out")"
grep -qx 'summary: 2 entries' "$ND_TMP/cmd.out" || nd_fail "inspect txnindex summary: $(cat "$ND_TMP/cmd.out")"
printf 'abc' >>"$x"
expect 3 "inspect cut txnindex" "$N" inspect "$x"
grep -q 'then 3 bytes of a cut entry' "$ND_TMP/cmd.out" || nd_fail "inspect cut txnindex: $(cat "$ND_TMP/cmd.out")"

# Pipelines: consume | head ends quietly and successfully.
set -o pipefail
"$N" consume big -p 2 2>"$ND_TMP/pipe.err" | head -n 3 >/dev/null || nd_fail "consume | head: exit status $?"
[ ! -s "$ND_TMP/pipe.err" ] || nd_fail "consume | head printed: $(cat "$ND_TMP/pipe.err")"
"$N" inspect --records "$f" 2>"$ND_TMP/pipe.err" | head -n 2 >/dev/null || nd_fail "inspect | head: exit status $?"
[ ! -s "$ND_TMP/pipe.err" ] || nd_fail "inspect | head printed: $(cat "$ND_TMP/pipe.err")"
"$N" produce big -p 2 "$ND_TMP/big.txt" 2>"$ND_TMP/pipe.err" | head -n 1 >/dev/null || nd_fail "produce | head: exit status $?"
set +o pipefail
expect 0 "records all appended despite the closed pipe" "$N" consume big -p 2 -o -1
out_is "produce | head" "25000"
# No progress line when stderr is not a terminal.
[ ! -s "$ND_TMP/pipe.err" ] || nd_fail "progress output on a non-terminal"

# An oversized record fails cleanly (exit 1) with the limit named.
python3 -c 'print("before"); print("x" * 2000000); print("after")' >"$ND_TMP/huge.txt"
expect 0 "create small" "$N" topics create small
expect 1 "record too large" "$N" produce small "$ND_TMP/huge.txt"
err_has "too large" "record 2 is 2000000 bytes, above the topic's limit"
err_has "too large" "max.message.bytes"
out_is "records before the large one are stored" "partition 0 offset 0"
expect 0 "consume small" "$N" consume small
out_is "consume small" "before"

nd_pass
