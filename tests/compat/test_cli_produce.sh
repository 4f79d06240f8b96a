#!/usr/bin/env bash
# test_cli_produce.sh — `nodata produce` gathers keyed records per
# partition as a Kafka producer's accumulator does:
# - 6,000 keyed records over 4 partitions are written as full batches
#   (ceil(records / 1000) per partition; before, nearly one batch per
#   record), each record where Kafka's partitioner puts its key;
# - the offsets printed are in input order: line N names the partition
#   and offset where input record N is stored (checked against consume);
# - unkeyed records fill one partition's batch, then the next (sticky);
# - input that pauses is stored at once: through a pipe fed one line at a
#   time, each record's offset is printed before the next line is written
#   (no waiting for more input or for the end of it).
set -u
. "$(dirname "$0")/lib.sh"

N=$NODATA_BIN
D=$ND_TMP/data
export NODATA_DIR=$D
unset NODATA_DATA

batches() { # batches TOPIC PARTITION: batch count of its first segment
  "$N" inspect "$("$N" topics where "$1" -p "$2")/00000000000000000000.log" |
    sed -n 's/^summary: \([0-9]*\) batches, \([0-9]*\) records.*/\1 \2/p'
}

nd_expect 0 "create" "$N" topics create k -p 4
# Keys in input order cycle through many values, so that consecutive
# records go to different partitions.
awk 'BEGIN { for (i = 0; i < 6000; i++) printf "key%d:value-%d\n", (i * 7919) % 997, i }' >"$ND_TMP/in"
nd_expect 0 "produce keyed" "$N" produce k -K : "$ND_TMP/in"
cp "$ND_TMP/cmd.out" "$ND_TMP/printed"
[ "$(wc -l <"$ND_TMP/printed")" -eq 6000 ] || nd_fail "printed $(wc -l <"$ND_TMP/printed") lines"
total=0
for p in 0 1 2 3; do
  read -r nb nr < <(batches k $p)
  want=$(((nr + 999) / 1000))
  [ "$nb" -eq "$want" ] || nd_fail "partition $p: $nr records in $nb batches, want $want"
  total=$((total + nr))
done
[ "$total" -eq 6000 ] || nd_fail "stored $total records"
# What was printed for input line N is where value-N is, and each key's
# partition is Kafka's (the same key is always in one partition).
nd_expect 0 "consume" "$N" consume k --format '%s partition %p offset %o %k\n'
sed 's/^value-//' "$ND_TMP/cmd.out" | sort -n | awk '{print "partition "$3" offset "$5}' >"$ND_TMP/stored"
cmp -s "$ND_TMP/stored" "$ND_TMP/printed" ||
  nd_fail "printed offsets are not where the input lines are: $(diff "$ND_TMP/stored" "$ND_TMP/printed" | head -5)"
[ "$(awk '{print $6, $3}' "$ND_TMP/cmd.out" | sort -u | awk '{print $1}' | uniq -d | wc -l)" -eq 0 ] ||
  nd_fail "a key is in two partitions"
# Kafka's murmur2 partitioner: key0 -> 2, key1 -> 0 of 4 (as
# kafka-python's murmur2 computes them).
grep -q ' partition 2 offset [0-9]* key0$' "$ND_TMP/cmd.out" || nd_fail "key0 not in partition 2"
grep -q ' partition 0 offset [0-9]* key1$' "$ND_TMP/cmd.out" || nd_fail "key1 not in partition 0"

# Unkeyed: 2,500 records fill batches of 1,000 on one partition at a time.
nd_expect 0 "create u" "$N" topics create u -p 3
seq 1 2500 >"$ND_TMP/u"
nd_expect 0 "produce unkeyed" "$N" produce u -q "$ND_TMP/u"
nb=0
for p in 0 1 2; do
  read -r b r < <(batches u $p)
  nb=$((nb + b))
done
[ "$nb" -eq 3 ] || nd_fail "2,500 unkeyed records in $nb batches, want 3"

# A pipe fed a line at a time: each offset comes back before the next
# line is written.
nd_expect 0 "create live" "$N" topics create live -p 2
python3 - "$N" "$D" <<'EOF' || nd_fail "pipe: records were held back"
import subprocess, sys, threading
p = subprocess.Popen([sys.argv[1], "produce", "live", "-K", ":", "--data", sys.argv[2]],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
timer = threading.Timer(120, p.kill)  # only for a hang: fails the test
timer.start()
for i in range(5):
    p.stdin.write(b"k%d:v%d\n" % (i, i))
    p.stdin.flush()
    line = p.stdout.readline()
    if not line.startswith(b"partition "):
        sys.exit("record %d: no offset before more input: %r" % (i, line))
p.stdin.close()
rest = p.stdout.read()
timer.cancel()
sys.exit(0 if p.wait() == 0 and rest == b"" else "exit %d, %r" % (p.returncode, rest))
EOF
nd_pass
