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
# `topics alter --partitions N` grows a topic (records stay where they
# were, new partitions take appends) and refuses, with Kafka's texts, a
# count that is no increase and one over the partition limit, changing
# nothing (not even the settings given with it). `topics where` prints the
# topic's and a partition's directory, which holds the segment files, and
# describe shows the same directory.
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

# ---- alter --partitions -------------------------------------------------
nd_expect 0 "create g" "$N" topics create g -p 2
echo a >"$ND_TMP/a"
nd_expect 0 "produce g" "$N" produce g -p 1 "$ND_TMP/a"
nd_expect 1 "same count" "$N" topics alter g --partitions 2
grep -qx "nodata topics: Topic already has 2 partition(s)." "$ND_TMP/cmd.err" ||
  nd_fail "same count: $(cat "$ND_TMP/cmd.err")"
nd_expect 1 "shrink" "$N" topics alter g --partitions 1 --config retention.ms=7
grep -qx "nodata topics: The topic g currently has 2 partition(s); 1 would not be an increase." \
  "$ND_TMP/cmd.err" || nd_fail "shrink: $(cat "$ND_TMP/cmd.err")"
NODATA_MAX_TOPIC_PARTITIONS=3 nd_expect 1 "over the limit" "$N" topics alter g -p 4 \
  --config retention.ms=7
grep -q "4 partitions is over the limit of 3 per topic" "$ND_TMP/cmd.err" ||
  nd_fail "limit: $(cat "$ND_TMP/cmd.err")"
nd_expect 2 "zero" "$N" topics alter g --partitions 0
nd_expect 0 "describe g" "$N" topics describe g
nd_out_has "refused alters changed nothing" "^partitions: 2$"
grep -q "retention.ms=7" "$ND_TMP/cmd.out" && nd_fail "a refused alter set retention.ms"
nd_expect 0 "grow" "$N" topics alter g --partitions 5 --config retention.ms=7
nd_out_has "grow says" "^  partitions: 2 -> 5$"
nd_expect 0 "describe grown" "$N" topics describe g
nd_out_has "grown" "^partitions: 5$"
nd_out_has "grown with the setting" "^  retention.ms=7$"
nd_out_has "old record kept" "^1  *0  *1 "
nd_out_has "new partition empty" "^4  *0  *0 "
echo b >"$ND_TMP/b"
nd_expect 0 "produce to a new partition" "$N" produce g -p 4 "$ND_TMP/b"
nd_expect 0 "consume it" "$N" consume g -p 4
[ "$(cat "$ND_TMP/cmd.out")" = b ] || nd_fail "new partition: $(cat "$ND_TMP/cmd.out")"

# ---- where ------------------------------------------------------------------
nd_expect 0 "where" "$N" topics where g
[ "$(cat "$ND_TMP/cmd.out")" = "$(nd_topic_dir "$D" g)" ] ||
  nd_fail "where: $(cat "$ND_TMP/cmd.out"), want $(nd_topic_dir "$D" g)"
nd_expect 0 "where -p" "$N" topics where g -p 4
pdir=$(cat "$ND_TMP/cmd.out")
[ "$pdir" = "$(nd_topic_dir "$D" g)/4" ] || nd_fail "where -p 4: $pdir"
nd_expect 0 "inspect from where" "$N" inspect "$pdir/00000000000000000000.log"
nd_out_has "inspect the partition where says" "^summary: 1 batches, 1 records"
nd_expect 1 "where: no such partition" "$N" topics where g -p 5
nd_expect 1 "where: unknown topic" "$N" topics where nope
nd_expect 2 "-p with describe" "$N" topics describe g -p 1
nd_expect 0 "describe shows the directory" "$N" topics describe g
nd_out_has "describe directory" "^directory: $(nd_topic_dir "$D" g)$"

ND_DATA=$D nd_start
nd_expect 1 "alter beside a broker" "$N" topics alter st --config retention.ms=5
nd_expect 1 "grow beside a broker" "$N" topics alter g --partitions 6
nd_expect 0 "where beside a broker" "$N" topics where g -p 0
nd_stop
cfg_is "still" retention.ms 604800000
nd_pass
