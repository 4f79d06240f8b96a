#!/bin/sh
# fuzz_<name>_smoke: run a libFuzzer target for a bounded time on a copy of
# its checked-in inputs, in a temp dir, so the repository is never written.
#   smoke.sh FUZZER SECONDS INPUT_DIR...
set -eu
fuzzer=$1
seconds=$2
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/nodata-fuzz-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/corpus" "$work/artifacts"
for dir in "$@"; do
  if [ -d "$dir" ]; then
    find "$dir" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;
  fi
done
cd "$work"
status=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
  "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
  # The reproducer dies with the temp dir: print it for the log.
  for f in "$work"/artifacts/*; do
    [ -f "$f" ] || continue
    echo "smoke: reproducer $f (base64):"
    base64 "$f"
  done
fi
exit "$status"
