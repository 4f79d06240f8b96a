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
# libnodata_codecs through its own pkg-config file, against the shared
# libnodata: a gzip batch written by the library is decoded by the codecs.
pkg-config --exists nodata_codecs || { echo "nodata_codecs.pc not installed"; exit 1; }
test -f "$work/prefix/include/nodata_codecs.h" || { echo "nodata_codecs.h not installed"; exit 1; }
cat >"$work/codecs.c" <<'C'
#include <nodata.h>
#include <nodata_codecs.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  (void)argc;
  const char text[] = "compressed through the installed codecs";
  void *z, *back;
  size_t zlen, blen;
  if (nd_codecs_compress(ND_CODEC_GZIP, text, sizeof text, &z, &zlen) != 0 ||
      nd_codecs_decompress(ND_CODEC_GZIP, z, zlen, &back, &blen) != 0) {
    fprintf(stderr, "codecs: %s\n", nd_errmsg());
    return 1;
  }
  int same = blen == sizeof text && !memcmp(back, text, blen);
  nd_free(z);
  nd_free(back);
  /* A failure leaves its message where nd_errmsg() finds it. */
  if (nd_codecs_decompress(ND_CODEC_GZIP, "junk", 4, &back, &blen) == 0 ||
      !strstr(nd_errmsg(), "gzip")) {
    fprintf(stderr, "no gzip error message: '%s'\n", nd_errmsg());
    return 1;
  }
  nd_store *s;
  if (nd_open(argv[1], NULL, &s) != 0)
    return 1;
  int rc = nd_read(NULL, "t", 0, 0, 1, NULL);
  printf("%s %s\n", same ? "same" : "different", nd_errname(rc));
  return nd_close(s) == 0 ? 0 : 1;
}
C
# shellcheck disable=SC2046
"$cc" "${flags[@]}" "$work/codecs.c" $(pkg-config --cflags --libs nodata_codecs) \
  -o "$work/codecs"
out=$(LD_LIBRARY_PATH="$libdir" "$work/codecs" "$work/data2")
[ "$out" = "same ND_EINVAL" ] || { echo "codecs program printed: $out"; exit 1; }
deps=$(LD_LIBRARY_PATH="$libdir" ldd "$work/codecs")
for lib in libnodata.so libnodata_codecs.so; do
  grep -q "$libdir/$lib" <<<"$deps" \
    || { echo "codecs program not linked against the installed $lib: $deps"; exit 1; }
done
# The program is on the PATH once PREFIX/bin is (README: `make install`),
# and the README's command-line block runs as written with it, in a
# directory of its own (its ./data).
test -x "$work/prefix/bin/nodata" || { echo "nodata not installed in PREFIX/bin"; exit 1; }
found=$(PATH="$work/prefix/bin:$PATH" command -v nodata)
[ "$found" = "$work/prefix/bin/nodata" ] || { echo "nodata on the PATH is '$found'"; exit 1; }
awk '/^```sh$/{on=1; buf=""; next} /^```$/{if(on && buf ~ /nodata topics create/) {printf "%s", buf; exit} on=0; next} on{buf=buf $0 "\n"}' \
  "$ND_SOURCE_DIR/README.md" >"$work/readme-cli.sh"
grep -q 'nodata consume' "$work/readme-cli.sh" || { echo "no nodata block in README.md"; exit 1; }
mkdir "$work/cli"
out=$(cd "$work/cli" && PATH="$work/prefix/bin:$PATH" bash -e "$work/readme-cli.sh" </dev/null 2>&1) \
  || { echo "the README's nodata commands failed: $out"; exit 1; }
for want in '"value":"hello"' '"value":"world"'; do
  grep -q "$want" <<<"$out" || { echo "README's consume printed no $want: $out"; exit 1; }
done
echo "install: ok"
