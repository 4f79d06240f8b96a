#!/usr/bin/env bash
# A data directory of a newer format (FORMAT says "nodata 2") is refused
# by every way in: `nodata serve`, produce, consume, topics, verify and
# backup each exit 1 with one line naming the file, what it says and what
# this build reads, and not one file of the directory changes (names,
# sizes, modification times, contents; nodata.lock included: the pid is
# written only once the format is known). Put back to "nodata 1" the same
# directory opens as before, so the refusal lost nothing
# (docs/format.md, "Versions and upgrades").
set -u
. "$(dirname "$0")/lib.sh"
nd=$NODATA_BIN
data=$ND_TMP/data

nd_check "create" "$nd" topics create t -p 2 --data "$data"
printf 'k1:one\nk2:two\nk3:three\n' >"$ND_TMP/in"
nd_check "produce" "$nd" produce t -K: --data "$data" <"$ND_TMP/in"
[ "$(cat "$data/FORMAT")" = "nodata 1" ] || nd_fail "FORMAT is '$(cat "$data/FORMAT")'"

printf 'nodata 2\n' >"$data/FORMAT"
state() {
  (cd "$data" && find . -printf '%p %y %s %T@ %m\n' | sort &&
    find . -type f -exec md5sum {} + | sort -k2)
}
state >"$ND_TMP/before"
want='FORMAT says "nodata 2"; this build of nodata reads "nodata 1"'

nd_expect 1 "serve on a newer format" "$nd" serve --data "$data" --listen 127.0.0.1:0
grep -qF "$want" "$ND_TMP/cmd.err" || nd_fail "serve said: $(cat "$ND_TMP/cmd.err")"
nd_expect 1 "produce to a newer format" "$nd" produce t --data "$data"
grep -qF "$want" "$ND_TMP/cmd.err" || nd_fail "produce said: $(cat "$ND_TMP/cmd.err")"
for cmd in "consume t -o beginning" "topics list" "topics create u" "verify" \
  "verify --repair" "backup $ND_TMP/copy"; do
  # shellcheck disable=SC2086
  nd_expect 1 "$cmd on a newer format" "$nd" $cmd --data "$data"
  grep -qF "$want" "$ND_TMP/cmd.err" || nd_fail "$cmd said: $(cat "$ND_TMP/cmd.err")"
  [ "$(wc -l <"$ND_TMP/cmd.err")" -eq 1 ] || nd_fail "$cmd said more than one line: $(cat "$ND_TMP/cmd.err")"
done
[ ! -e "$ND_TMP/copy" ] || nd_fail "backup made $ND_TMP/copy from a newer format"

state >"$ND_TMP/after"
diff "$ND_TMP/before" "$ND_TMP/after" >&2 || nd_fail "the newer-format directory changed"

printf 'nodata 1\n' >"$data/FORMAT"
nd_expect 0 "consume after FORMAT is put back" "$nd" consume t -o beginning --data "$data"
[ "$(sort "$ND_TMP/cmd.out" | tr '\n' ' ')" = "one three two " ] ||
  nd_fail "consume printed: $(cat "$ND_TMP/cmd.out")"
nd_expect 0 "verify after FORMAT is put back" "$nd" verify --data "$data"
nd_pass
