#!/usr/bin/env bash
# The C example in README.md compiles against the built library and prints
# what it appended, twice (the second run reopens the store cleanly).
set -euo pipefail
: "${ND_SOURCE_DIR:?}" "${ND_LIBNODATA:?}"
cc=${ND_CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awk '/^```c$/{on=1; next} /^```$/{if(on) exit} on' "$ND_SOURCE_DIR/README.md" \
  | sed "s|/tmp/nodata-example|$work/data|" > "$work/example.c"
grep -q nd_open "$work/example.c" || { echo "no C example found in README.md"; exit 1; }

flags=(-std=c11 -Wall -Wextra -Werror)
[ "${ND_SANITIZE:-OFF}" = "ON" ] && flags+=(-fsanitize=address,undefined)
"$cc" "${flags[@]}" -I "$ND_SOURCE_DIR/include" "$work/example.c" \
  "$ND_LIBNODATA" -lpthread -o "$work/example"

out1=$("$work/example")
out2=$("$work/example")
[ "$out1" = "offset 0: hello" ] || { echo "first run printed: $out1"; exit 1; }
[ "$out2" = "offset 1: hello" ] || { echo "second run printed: $out2"; exit 1; }
test -f "$work/data/clean-shutdown" || { echo "no clean shutdown marker"; exit 1; }
echo "README example: ok"
