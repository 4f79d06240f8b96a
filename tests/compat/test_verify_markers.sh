#!/usr/bin/env bash
# test_verify_markers.sh — `nodata verify` and control batches (transaction
# markers). A marker that ends a transaction its producer opened earlier in
# the partition is legitimate; any other was written by a client through a
# nodata that did not refuse it (librdkafka consumers stop there,
# kafka-python returns it as a record): verify reports it (exit 3, file,
# byte, offset and producer named) and --repair leaves it in place, with
# every record before and after it still readable.
set -u
. "$(dirname "$0")/lib.sh"

N=$NODATA_BIN
D=$ND_TMP/data
export NODATA_DIR=$D
unset NODATA_DATA

batches() { "$N" inspect "$1" | sed -n 's/^batch pos=\([0-9]*\) base=\([0-9]*\).*/\1 \2/p'; }
# stamp FILE POS ATTRS PID: set a stored batch's attribute bits and
# producer id and fix its CRC, as a client's batch would have arrived.
stamp() {
  ND_COMPAT="$(dirname "$0")" /usr/bin/python3 - "$@" <<'EOF'
import os, struct, sys
sys.path.insert(0, os.environ["ND_COMPAT"])
from test_kafka_versions import crc32c
path, pos, attrs, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "r+b") as f:
    f.seek(pos); head = f.read(12)
    size = 12 + struct.unpack(">i", head[8:12])[0]
    f.seek(pos); b = bytearray(f.read(size))
    struct.pack_into(">h", b, 21, struct.unpack(">h", b[21:23])[0] | attrs)
    struct.pack_into(">q", b, 43, pid)
    struct.pack_into(">I", b, 17, crc32c(bytes(b[21:])))
    f.seek(pos); f.write(b)
EOF
}

nd_expect 0 "create" "$N" topics create m
for i in 1 2 3 4 5; do
  printf 'r%s-a\nr%s-b\n' "$i" "$i" >"$ND_TMP/in"
  nd_expect 0 "produce $i" "$N" produce m -p 0 -q "$ND_TMP/in"
done
nd_expect 0 "clean store" "$N" verify
LOG=$(ls "$(nd_topic_dir "$D" m)"/0/*.log)
mapfile -t B < <(batches "$LOG")
[ "${#B[@]}" -eq 5 ] || nd_fail "want 5 batches, got ${#B[@]}"
pos() { echo "${B[$1]}" | cut -d' ' -f1; }

# A transaction of producer 7 (batch 0) ended by its marker (batch 1):
# nothing to report.
stamp "$LOG" "$(pos 0)" 16 7
stamp "$LOG" "$(pos 1)" 48 7
nd_expect 0 "a marker that ends a transaction" "$N" verify

# Producer 7 again, with no transaction open (its marker came already),
# and producer -1 (a plain client): both reported.
stamp "$LOG" "$(pos 2)" 32 7
stamp "$LOG" "$(pos 3)" 32 -1
nd_expect 3 "stray markers" "$N" verify
nd_out_has "verify" "damaged: $LOG: byte $(pos 2): control batch (a transaction marker) at offset 4 from producer 7, which has no open transaction here"
nd_out_has "verify" "damaged: $LOG: byte $(pos 3): control batch (a transaction marker) at offset 6 from producer -1"
nd_out_has "verify" "2 problems"

# --repair cuts nothing there: the later batch stays readable.
nd_expect 3 "repair" "$N" verify --repair --yes
nd_out_has "repair plan" "repair: topic m partition 0: leaves its 2 stray control batches in place"
grep -q "will drop" "$ND_TMP/cmd.out" && nd_fail "repair dropped records: $(cat "$ND_TMP/cmd.out")"
nd_expect 0 "consume" "$N" consume m -p 0
for v in r1-a r1-b r5-a r5-b; do nd_out_has "consume" "^$v\$"; done
# Readers skip control batches, so their records are not handed out.
grep -q "^r[234]-" "$ND_TMP/cmd.out" && nd_fail "control batch records read: $(cat "$ND_TMP/cmd.out")"

nd_pass
