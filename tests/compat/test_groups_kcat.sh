# test_groups_kcat.sh — kcat -G (librdkafka's balanced consumer) against
# `nodata serve`: a group consumes a 3-partition topic and commits; the
# next run of the group reads nothing old; after a broker restart it reads
# exactly what was produced since; two members at once split the
# partitions and read each message once.
set -u
. "$(dirname "$0")/lib.sh"
nd_need kcat
nd_start --group-initial-delay-ms 1000 --partitions 3

T=$(nd_tmp)
B=$ND_BOOTSTRAP
TOPIC=grp-kcat
# Exit at the end of every assigned partition; start a new group at the
# beginning (auto.offset.reset) but a known one at its committed offsets.
KG=(kcat -b "$B" -m 20 -q -e -f '%s\n' -X auto.offset.reset=earliest
  -X session.timeout.ms=6000 -X heartbeat.interval.ms=500)

seq 1 60 | sed 's/^/k&:m&/' >"$T/in1"
nd_check "produce 60" kcat -b "$B" -m 10 -P -t "$TOPIC" -K: -l "$T/in1"

"${KG[@]}" -G g1 "$TOPIC" >"$T/out1" 2>"$T/err1" ||
  nd_fail "kcat -G (1): $(cat "$T/err1")"
sort -V "$T/out1" >"$T/got1"
seq 1 60 | sed 's/^/m/' >"$T/want1"
cmp -s "$T/got1" "$T/want1" ||
  nd_fail "first run of g1 read $(wc -l <"$T/out1") lines, not m1..m60 once"

# The group committed: a second run has nothing to read.
"${KG[@]}" -G g1 "$TOPIC" >"$T/out2" 2>"$T/err2" ||
  nd_fail "kcat -G (2): $(cat "$T/err2")"
[ ! -s "$T/out2" ] || nd_fail "second run of g1 read again: $(head -3 "$T/out2")"

# Offsets survive a restart.
seq 61 70 | sed 's/^/k&:m&/' >"$T/in3"
nd_check "produce 10 more" kcat -b "$B" -m 10 -P -t "$TOPIC" -K: -l "$T/in3"
nd_restart --group-initial-delay-ms 1000 --partitions 3
B=$ND_BOOTSTRAP
"${KG[@]}" -G g1 "$TOPIC" >"$T/out3" 2>"$T/err3" ||
  nd_fail "kcat -G (3): $(cat "$T/err3")"
sort -V "$T/out3" >"$T/got3"
seq 61 70 | sed 's/^/m/' >"$T/want3"
cmp -s "$T/got3" "$T/want3" ||
  nd_fail "after the restart g1 read $(tr '\n' ' ' <"$T/out3"), not m61..m70"

# Two members of a new group at once: each message read once.
"${KG[@]}" -G g2 "$TOPIC" >"$T/a" 2>"$T/erra" &
pa=$!
"${KG[@]}" -G g2 "$TOPIC" >"$T/b" 2>"$T/errb" &
pb=$!
wait $pa || nd_fail "kcat -G g2 (a): $(cat "$T/erra")"
wait $pb || nd_fail "kcat -G g2 (b): $(cat "$T/errb")"
cat "$T/a" "$T/b" | sort -V >"$T/got4"
seq 1 70 | sed 's/^/m/' >"$T/want4"
cmp -s "$T/got4" "$T/want4" ||
  nd_fail "two members read $(wc -l <"$T/got4") lines, not m1..m70 once"

nd_stop
[ "$ND_EXIT" = 0 ] || nd_fail "nodata serve exited with $ND_EXIT"
! grep -q -e Sanitizer -e 'runtime error' "$ND_ERR" ||
  nd_fail "sanitizer report: $(tail -40 "$ND_ERR")"
nd_pass
