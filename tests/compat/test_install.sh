#!/usr/bin/env bash
# `cmake --install` into a temporary prefix gives a usable library: the
# README example builds with pkg-config's flags against the installed
# header and shared library, and runs.
set -euo pipefail
: "${ND_SOURCE_DIR:?}" "${ND_BUILD_DIR:?}"
cc=${ND_CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$ND_BUILD_DIR" --prefix "$work/prefix" >/dev/null
pc=$(find "$work/prefix" -name nodata.pc | head -n1)
[ -n "$pc" ] || { echo "nodata.pc not installed"; exit 1; }
test -f "$work/prefix/include/nodata.h" || { echo "nodata.h not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")

awk '/^```c$/{on=1; next} /^```$/{if(on) exit} on' "$ND_SOURCE_DIR/README.md" \
  | sed "s|/tmp/nodata-example|$work/data|" > "$work/example.c"
flags=(-std=c11 -Wall -Wextra -Werror)
[ "${ND_SANITIZE:-OFF}" = "ON" ] && flags+=(-fsanitize=address,undefined)
# shellcheck disable=SC2046
"$cc" "${flags[@]}" "$work/example.c" $(pkg-config --cflags --libs nodata) \
  -o "$work/example"
libdir=$(pkg-config --variable=libdir nodata)
out=$(LD_LIBRARY_PATH="$libdir" "$work/example")
[ "$out" = "offset 0: hello" ] || { echo "example printed: $out"; exit 1; }
# It really ran against the installed shared library.
# (ldd's output is captured first: `ldd | grep -q` under pipefail fails
# whenever grep exits before ldd has written everything.)
deps=$(LD_LIBRARY_PATH="$libdir" ldd "$work/example")
grep -q "$libdir/libnodata.so" <<<"$deps" \
  || { echo "not linked against the installed libnodata.so: $deps"; exit 1; }
echo "install: ok"
