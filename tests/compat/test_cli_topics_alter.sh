#!/usr/bin/env bash
# test_cli_topics_alter.sh — compaction settings from the command line:
# `nodata topics create NAME --config cleanup.policy=compact` and
# `nodata topics alter NAME --config K=V [--delete-config K]`: what
# describe shows afterwards, kept across commands; `nodata produce` of a
# keyless record into a compacted topic refused (exit 1, the topic,
# partition and record named), keyed records stored; usage errors (exit 2:
# bad value, no change, --delete-config with create, unknown key) and
# runtime errors (exit 1: unknown topic, min.compaction.lag.ms above
# max.compaction.lag.ms, the directory held by `nodata serve`).
set -u
. "$(dirname "$0")/lib.sh"

N=$NODATA_BIN
D=$ND_TMP/data
export NODATA_DIR=$D
unset NODATA_DATA

cfg_is() { # DESC KEY VALUE: describe of topic st shows KEY=VALUE
  nd_expect 0 "$1: describe" "$N" topics describe st
  grep -qx "  $2=$3" "$ND_TMP/cmd.out" ||
    nd_fail "$1: describe lacks '$2=$3': $(grep "$2" "$ND_TMP/cmd.out")"
}

nd_expect 0 "create compacted" "$N" topics create st -p 2 \
  --config cleanup.policy=compact --config min.cleanable.dirty.ratio=0.1
cfg_is "create" cleanup.policy compact
cfg_is "create" min.cleanable.dirty.ratio 0.1

# A keyless record is refused whole; a keyed one goes in.
printf 'a\nb\n' >"$ND_TMP/values"
nd_expect 1 "keyless produce" "$N" produce st -p 1 "$ND_TMP/values"
grep -q "Compacted topic cannot accept message without key in topic partition st-1: the record at index 0" "$ND_TMP/cmd.err" ||
  nd_fail "keyless produce: $(cat "$ND_TMP/cmd.err")"
nd_expect 0 "keyed produce" "$N" produce st -p 1 -k k1 "$ND_TMP/values"
nd_expect 0 "describe after produce" "$N" topics describe st
grep -Eq '^1 +0 +2 ' "$ND_TMP/cmd.out" ||
  nd_fail "partition 1 should hold 2 records: $(cat "$ND_TMP/cmd.out")"

# alter: SET several, DELETE one back to its default; the rest stays.
nd_expect 0 "alter" "$N" topics alter st --config cleanup.policy=delete,compact \
  --config min.compaction.lag.ms=50 --config retention.ms=1000 \
  --delete-config min.cleanable.dirty.ratio
nd_out_has "alter prints" "^  cleanup.policy=delete,compact$"
nd_out_has "alter prints the default" "^  min.cleanable.dirty.ratio=0.5 (default)$"
cfg_is "alter" cleanup.policy delete,compact
cfg_is "alter" min.compaction.lag.ms 50
cfg_is "alter" retention.ms 1000
cfg_is "alter" min.cleanable.dirty.ratio 0.5
nd_expect 0 "alter back" "$N" topics alter st --delete-config retention.ms \
  --config cleanup.policy=
cfg_is "alter back" retention.ms 604800000
cfg_is "empty policy" cleanup.policy ""
# Nothing compacts now: a keyless record is taken.
nd_expect 0 "keyless into an uncompacted topic" "$N" produce st -p 0 "$ND_TMP/values"

# Errors.
nd_expect 2 "bad value" "$N" topics alter st --config cleanup.policy=shred
grep -q "String must be one of: compact, delete" "$ND_TMP/cmd.err" ||
  nd_fail "bad value: $(cat "$ND_TMP/cmd.err")"
nd_expect 2 "no change" "$N" topics alter st
nd_expect 2 "unknown key" "$N" topics alter st --delete-config no.such
nd_expect 2 "--delete-config with create" "$N" topics create t2 --delete-config retention.ms
nd_expect 1 "unknown topic" "$N" topics alter nope --config retention.ms=5
nd_expect 1 "min lag above max lag" "$N" topics alter st --config max.compaction.lag.ms=10
grep -q "conflict topic config setting min.compaction.lag.ms (50) > max.compaction.lag.ms (10)" "$ND_TMP/cmd.err" ||
  nd_fail "lags: $(cat "$ND_TMP/cmd.err")"
cfg_is "refused alter changed nothing" max.compaction.lag.ms 9223372036854775807

ND_DATA=$D nd_start
nd_expect 1 "alter beside a broker" "$N" topics alter st --config retention.ms=5
nd_stop
cfg_is "still" retention.ms 604800000
nd_pass
