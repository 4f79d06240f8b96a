#!/usr/bin/env bash
# test_cli_verify.sh — `nodata inspect` and `nodata verify`: a healthy
# store verifies clean (exit 0); a flipped bit, a truncated tail, a
# damaged index and a gap between segments are each found (exit 3, the
# file and byte named) and `verify --repair` says what it drops, fixes it,
# and leaves every record before the damage readable; `--repair --dry-run`
# reports the same findings and plan and changes no byte. Without --yes,
# --repair asks on a terminal (no: exit 3, nothing changed; yes: repaired,
# the findings printed once) and refuses with standard input not a
# terminal (exit 2, nothing changed); a healthy store needs no question.
# A damaged topic.conf
# is found (named with its line) and refused by --repair; a damaged
# recovery point and a torn committed-offsets log are found and repaired,
# and a damaged frame in that log costs only itself.
set -u
. "$(dirname "$0")/lib.sh"

N=$NODATA_BIN
D=$ND_TMP/data
export NODATA_DIR=$D
unset NODATA_DATA

expect() { nd_expect "$@"; }
out_has() { nd_out_has "$@"; }
tdir() { nd_topic_dir "$@"; }
flip() { # flip FILE BYTE: invert one bit
  python3 - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x10]))
EOF
}
# on_tty ANSWER ARGS...: run nodata ARGS with a terminal as standard input
# and ANSWER typed on it; tty_rc, $ND_TMP/tty.out and tty.err get the rest.
on_tty() {
  tty_rc=0
  python3 - "$1" "$N" "${@:2}" >"$ND_TMP/tty.out" 2>"$ND_TMP/tty.err" <<'EOF' || tty_rc=$?
import os, subprocess, sys
master, slave = os.openpty()
os.write(master, (sys.argv[1] + "\n").encode())
p = subprocess.run(sys.argv[2:], stdin=slave, stdout=sys.stdout, stderr=sys.stderr)
sys.exit(p.returncode)
EOF
}
# Batch positions from inspect: "pos base last".
batches() { "$N" inspect "$1" | sed -n 's/^batch pos=\([0-9]*\) base=\([0-9]*\) last=\([0-9]*\).*/\1 \2 \3/p'; }

# A store with several segments per partition, and compressed batches.
expect 0 "create" "$N" topics create v -p 2 --config segment.bytes=16000 --config index.interval.bytes=512
# Many small batches (one per produce run) so that segments hold several
# batches and the indexes have entries.
seq 1 4000 | sed 's/^/record-/' >"$ND_TMP/all"
split -l 100 "$ND_TMP/all" "$ND_TMP/chunk."
for f in "$ND_TMP"/chunk.*; do
  expect 0 "produce p0" "$N" produce v -p 0 -q "$f"
done
for c in none gzip none lz4 none zstd snappy none; do
  expect 0 "produce p1 ($c)" "$N" produce v -p 1 -q --compression $c "$ND_TMP/chunk.aa" \
    "$ND_TMP/chunk.ab" "$ND_TMP/chunk.ac" "$ND_TMP/chunk.ad" "$ND_TMP/chunk.ae" "$ND_TMP/chunk.af"
done
cp -a "$D" "$ND_TMP/pristine"
P0=$(tdir "$D" v)/0
P1=$(tdir "$D" v)/1
nsegs=$(ls "$P1"/*.log | wc -l)
[ "$nsegs" -ge 3 ] || nd_fail "want several segments in partition 1, got $nsegs"

# ---- inspect -------------------------------------------------------------
seg=$(ls "$P1"/*.log | sed -n 1p)
expect 0 "inspect .log" "$N" inspect "$seg"
out_has "inspect" "crc=ok compression=gzip"
seg=$(ls "$P0"/*.log | sed -n 1p)
out_has "inspect" "^summary: [0-9]* batches, [0-9]* records, offsets [0-9]*\.\.[0-9]*, [0-9]* bytes$"
expect 0 "inspect --records" "$N" inspect --records "$seg"
out_has "inspect --records" '"value":"record-'
expect 0 "inspect .index" "$N" inspect "${seg%.log}.index"
out_has "inspect .index" '^entry 0 rel=[0-9]* offset=[0-9]* pos=[0-9]*$'
expect 0 "inspect .timeindex" "$N" inspect "${seg%.log}.timeindex"
out_has "inspect .timeindex" '^entry 0 timestamp=[0-9]* (20[0-9-]*T[0-9:.]*Z) rel=[0-9]* offset=[0-9]*$'
expect 1 "inspect a missing file" "$N" inspect "$ND_TMP/00000000000000000000.log"
expect 2 "inspect --records on an index" "$N" inspect --records "${seg%.log}.index"

# ---- a healthy store -----------------------------------------------------
expect 0 "verify healthy" "$N" verify
out_has "verify healthy" "verified 1 topic, 2 partitions, .*: no damage found"
expect 0 "verify one topic" "$N" verify v
expect 1 "verify unknown topic" "$N" verify nope
grep -q "unknown topic nope" "$ND_TMP/cmd.err" || nd_fail "verify nope: $(cat "$ND_TMP/cmd.err")"
expect 0 "repair of a healthy store" "$N" verify --repair
out_has "repair healthy" "no damage found"

# ---- a flipped bit in the middle of partition 0 -------------------------
seg=$(ls "$P0"/*.log | sed -n 2p)
read -r pos base last < <(batches "$seg" | sed -n 3p)
[ -n "$pos" ] || nd_fail "the second segment has fewer than 3 batches"
flip "$seg" $((pos + 70))
expect 3 "verify flipped bit" "$N" verify
out_has "flip" "damaged: $seg: byte $pos: CRC-32C mismatch"
grep '^damaged: ' "$ND_TMP/cmd.out" >"$ND_TMP/found.verify"
# --repair --dry-run: the same findings and the plan, and not one byte of
# the data directory changed.
snap() { (cd "$D" && find . -type f | LC_ALL=C sort | xargs -r cksum); }
snap >"$ND_TMP/before"
expect 3 "repair dry run" "$N" verify --repair --dry-run
out_has "dry-run plan" "repair: topic v partition 0: will drop [0-9]* bytes, offsets $base onwards: truncate $seg at byte $pos"
out_has "dry-run says so" "repair: dry run, nothing changed"
grep '^damaged: ' "$ND_TMP/cmd.out" >"$ND_TMP/found.dry"
cmp -s "$ND_TMP/found.verify" "$ND_TMP/found.dry" || nd_fail "dry run findings differ: $(diff "$ND_TMP/found.verify" "$ND_TMP/found.dry")"
snap >"$ND_TMP/after"
cmp -s "$ND_TMP/before" "$ND_TMP/after" || nd_fail "--dry-run changed the data directory: $(diff "$ND_TMP/before" "$ND_TMP/after")"
[ ! -d "$D/quarantine" ] || nd_fail "--dry-run made a quarantine directory"
expect 2 "dry run alone" "$N" verify --dry-run
expect 3 "inspect flipped bit" "$N" inspect "$seg"
out_has "inspect flip" "pos=$pos .*crc=BAD"
expect 1 "consume refuses the corrupt batch" "$N" consume v -p 0
# Without --yes and no terminal to ask on: refused, nothing changed.
expect 2 "repair without --yes, stdin not a terminal" "$N" verify --repair
grep -q "not repairing: standard input is not a terminal to ask on; run again with --yes" \
  "$ND_TMP/cmd.err" || nd_fail "no --yes: $(cat "$ND_TMP/cmd.err")"
out_has "no --yes shows the plan" "repair: topic v partition 0: will drop [0-9]* bytes, offsets $base onwards"
snap >"$ND_TMP/after"
cmp -s "$ND_TMP/before" "$ND_TMP/after" || nd_fail "a refused repair changed the data directory"
# On a terminal, answered no: nothing changed.
on_tty n verify --repair
[ "$tty_rc" = 3 ] || nd_fail "answered no: exit $tty_rc: $(cat "$ND_TMP/tty.err")"
grep -q "\[y/N\]" "$ND_TMP/tty.err" || nd_fail "no question asked: $(cat "$ND_TMP/tty.err")"
grep -q "^repair: not confirmed, nothing changed" "$ND_TMP/tty.out" || nd_fail "answered no: $(cat "$ND_TMP/tty.out")"
snap >"$ND_TMP/after"
cmp -s "$ND_TMP/before" "$ND_TMP/after" || nd_fail "a declined repair changed the data directory"
expect 0 "repair flipped bit" "$N" verify --repair --yes
# The repair fixed what the dry run found: its first check reported the
# same lines, the check after it reports none.
sed -n '/^repair: done/q;/^damaged: /p' "$ND_TMP/cmd.out" >"$ND_TMP/found.repair"
cmp -s "$ND_TMP/found.dry" "$ND_TMP/found.repair" || nd_fail "repair found other damage than the dry run: $(diff "$ND_TMP/found.dry" "$ND_TMP/found.repair")"
sed -n '/^repair: done/,$p' "$ND_TMP/cmd.out" | grep -q '^damaged: ' && nd_fail "damage left after the repair"
out_has "repair plan" "repair: topic v partition 0: will drop [0-9]* bytes, offsets $base onwards: truncate $seg at byte $pos and the [0-9]* later segment"
out_has "repair result" "repair: done"
expect 0 "verify after repair" "$N" verify
expect 0 "consume after repair" "$N" consume v -p 0 -o -1 --format json
out_has "end after repair" "\"offset\":$((base - 1)),"
[ "$(stat -c %s "$seg")" -eq "$pos" ] || nd_fail "segment not truncated at $pos"
[ "$(ls "$P0"/*.log | tail -n1)" = "$seg" ] || nd_fail "later segments not removed"
expect 0 "consume partition 1 unaffected" "$N" consume v -p 1
[ "$(wc -l <"$ND_TMP/cmd.out")" -eq 4800 ] || nd_fail "partition 1 changed"

# ---- a truncated tail ------------------------------------------------------
rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
last=$(ls "$P0"/*.log | tail -n1)
size=$(stat -c %s "$last")
read -r pos base _ < <(batches "$last" | tail -n1)
truncate -s $((size - 7)) "$last"
expect 3 "verify truncated" "$N" verify
out_has "truncated" "damaged: $last: byte $pos: batch cut short"
on_tty y verify --repair v
[ "$tty_rc" = 0 ] || nd_fail "answered yes: exit $tty_rc: $(cat "$ND_TMP/tty.err")"
cp "$ND_TMP/tty.out" "$ND_TMP/cmd.out"
out_has "truncated plan" "will drop $((size - 7 - pos)) bytes, offsets $base onwards: truncate $last at byte $pos;"
out_has "answered yes: repaired" "^repair: done"
[ "$(grep -c "^damaged: " "$ND_TMP/cmd.out")" = 1 ] || nd_fail "the finding is not printed once: $(cat "$ND_TMP/cmd.out")"
[ "$(grep -c "will drop" "$ND_TMP/cmd.out")" = 1 ] || nd_fail "the plan is not printed once: $(cat "$ND_TMP/cmd.out")"
expect 0 "verify after truncation repair" "$N" verify
expect 0 "consume after truncation repair" "$N" consume v -p 0 -o -1
[ "$(cat "$ND_TMP/cmd.out")" = "record-$base" ] || nd_fail "last record after repair: $(cat "$ND_TMP/cmd.out"), want record-$base"

# ---- a damaged index (no records lost) -----------------------------------
rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
idx=$(ls "$P0"/*.index | head -n1)
[ "$(stat -c %s "$idx")" -ge 16 ] || nd_fail "index too small to damage"
flip "$idx" 7 # entry 0's position
expect 3 "verify bad index" "$N" verify
out_has "bad index" "damaged: $idx: byte 0: entry 0 "
expect 0 "repair index" "$N" verify --repair --yes
out_has "index plan" "partition 0: will rebuild its indexes (no records are dropped)"
cmp -s "$idx" "$ND_TMP/pristine/${idx#"$D"/}" || nd_fail "rebuilt index differs from the original"
expect 0 "all records kept" "$N" consume v -p 0
[ "$(wc -l <"$ND_TMP/cmd.out")" -eq 4000 ] || nd_fail "index repair lost records"

# ---- a missing segment (gap in offsets) -------------------------------------
rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
mid=$(ls "$P1"/*.log | sed -n 2p)
next=$(ls "$P1"/*.log | sed -n 3p)
rm "$mid"
expect 3 "verify gap" "$N" verify
out_has "gap" "damaged: $next: byte 0: the segment starts at offset"
gap_at=$(basename "$mid" .log | sed 's/^0*//')
expect 0 "repair gap" "$N" verify --repair --yes
out_has "gap plan" "will drop [0-9]* bytes, offsets $gap_at onwards: remove $next"
expect 0 "consume after the gap repair" "$N" consume v -p 1
[ "$(wc -l <"$ND_TMP/cmd.out")" -eq "$gap_at" ] || nd_fail "after the gap repair: $(wc -l <"$ND_TMP/cmd.out") records, want $gap_at"

# ---- damaged topic.conf, recovery point, committed-offsets log ---------------
rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
conf=$(tdir "$D" v)/topic.conf
sed -i 's/^id=.*/id=not-a-uuid/' "$conf"
expect 3 "verify topic.conf" "$N" verify
out_has "topic.conf" "damaged: $conf line 3: invalid id"
expect 3 "no repair for topic.conf" "$N" verify --repair
rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
echo "not a number" >"$P0/recovery-point"
mkdir -p "$D/groups"
printf '\0\0\0\x10garbage' >>"$D/groups/offsets.log"
expect 3 "verify hints" "$N" verify
out_has "recovery point" "damaged: $P0/recovery-point: not an offset"
out_has "offsets log" "damaged: $D/groups/offsets.log: the 11 bytes from byte 0 are a write cut short"
expect 0 "repair hints" "$N" verify --repair --yes
out_has "hints repaired" "no damage found"
expect 0 "records kept after the hint repair" "$N" consume v -p 0
[ "$(wc -l <"$ND_TMP/cmd.out")" -eq 4000 ] || nd_fail "hint repair lost records"

# ---- repair refuses while a writer holds the directory ----------------------
rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
flip "$(ls "$P0"/*.log | head -n1)" 100
ND_DATA=$D nd_start
expect 3 "verify beside a broker" "$N" verify
expect 1 "repair beside a broker" "$N" verify --repair
grep -q "held by pid $ND_PID (nodata serve" "$ND_TMP/cmd.err" || nd_fail "repair held: $(cat "$ND_TMP/cmd.err")"
nd_stop

# ---- one damaged frame in the committed-offsets log --------------------------
# In the frame form written now (2) and the older one (1): verify names the
# damaged bytes; --repair rewrites the file without them, keeping the
# frames after the damage and the damaged file beside it. (Before, verify
# said "byte N: torn or corrupt frame" and the repair cut the file there,
# dropping every later group's offsets.)
# write_log FORM: commits of groups grp-0, grp-1, grp-2 (topic v, partition
# 0), one frame each, a bit flipped in grp-1's; prints that frame's byte
# range "FROM-TO".
write_log() {
  python3 - "$D/groups/offsets.log" "$1" <<'EOF'
import struct, sys

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF

def commit(group, offset):
    g = group.encode()
    op = (bytes([1]) + struct.pack(">H", len(g)) + g + struct.pack(">H", 1)
          + b"v" + struct.pack(">iqiqi", 0, offset, -1, 0, -1))
    return bytes([1]) + struct.pack(">I", 1) + op

def frame(payload, form):
    if form == 1:
        return struct.pack(">II", len(payload), crc32c(payload)) + payload
    head = struct.pack(">III", 0x894F4653, len(payload), crc32c(payload))
    return head + struct.pack(">I", crc32c(head)) + payload

path, form = sys.argv[1], int(sys.argv[2])
frames = [frame(commit("grp-%d" % i, 100 + i), form) for i in range(3)]
start = len(frames[0])
data = bytearray(b"".join(frames))
data[start + len(frames[1]) - 5] ^= 0x01
with open(path, "wb") as f:
    f.write(data)
print("%d-%d" % (start, start + len(frames[1])))
EOF
}

for form in 1 2; do
  rm -rf "$D" && cp -a "$ND_TMP/pristine" "$D"
  mkdir -p "$D/groups"
  range=$(write_log $form) || nd_fail "form $form: cannot write the log"
  cp "$D/groups/offsets.log" "$ND_TMP/damaged"
  expect 3 "form $form: verify" "$N" verify
  if [ $form = 2 ]; then
    out_has "form 2: damage" "damaged: $D/groups/offsets.log: bytes $range are a frame that fails its checksum"
    out_has "form 2: what was lost" "commit group 'grp-1' topic 'v' partition 0 offset 101 (now none)"
  else
    out_has "form 1: damage" "damaged: $D/groups/offsets.log: bytes $range hold no valid frame"
  fi
  expect 0 "form $form: repair" "$N" verify --repair --yes
  out_has "form $form: repaired" "no damage found"
  expect 0 "form $form: verify after the repair" "$N" verify
  # The groups after the damage are still there; the damaged file is kept.
  grep -q "grp-2" "$D/groups/offsets.log" || nd_fail "form $form: the repair dropped grp-2"
  grep -q "grp-0" "$D/groups/offsets.log" || nd_fail "form $form: the repair dropped grp-0"
  cmp -s "$ND_TMP/damaged" "$D/groups/offsets.log.damaged" || nd_fail "form $form: the damaged file was not kept"
done

nd_pass
