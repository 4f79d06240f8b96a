#!/bin/sh
# make fuzz: build the libFuzzer targets with clang into $BUILD_FUZZ and run
# each for FUZZ_SECONDS, one at a time, with a persistent corpus in
# $BUILD_FUZZ/corpus/<name> (never in the repository; the checked-in seeds
# and regressions are read as extra corpora). Crash inputs go to
# $BUILD_FUZZ/artifacts/<name>/, logs to $BUILD_FUZZ/logs/<name>.log.
#
#   FUZZ_SECONDS  per target (default 1800)
#   FUZZ_TARGETS  which (default all)
#   BUILD_FUZZ    build dir (default build-fuzz)
#   JOBS          build parallelism
set -u
cd "$(dirname "$0")/.."
build=${BUILD_FUZZ:-build-fuzz}
seconds=${FUZZ_SECONDS:-1800}
targets=${FUZZ_TARGETS:-"batch codecs kafka_request segment_recovery topic_conf offsets_log tls_handshake sasl"}
jobs=${JOBS:-$(nproc)}

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DND_SANITIZE=ON ||
    exit 1
fi
for t in $targets; do
  cmake --build "$build" -j "$jobs" --target "fuzz_$t" || exit 1
done

failed=""
summary=""
for t in $targets; do
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
  log="$build/logs/$t.log"
  echo "== fuzz_$t for ${seconds}s (log: $log)"
  # The first directory receives new inputs; the others are only read
  # (libFuzzer stops at a missing one).
  extra=""
  for d in "fuzz/corpus/$t" "fuzz/regressions/$t"; do
    [ -d "$d" ] && extra="$extra $d"
  done
  # shellcheck disable=SC2086
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -timeout=30 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t/" \
    "$build/corpus/$t" $extra >"$log" 2>&1
  status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  corp=$(ls "$build/corpus/$t" | wc -l)
  line="fuzz_$t: ${execs:-?} execs (${rate:-?}/s), ${cov:-cov: ?}, corpus $corp files"
  if [ "$status" -ne 0 ]; then
    line="$line, FAILED (exit $status; see $log and $build/artifacts/$t/)"
    failed="$failed $t"
  fi
  echo "$line"
  summary="$summary$line
"
done
echo
echo "== summary ($(date -u '+%Y-%m-%d %H:%M UTC'), ${seconds}s per target)"
printf '%s' "$summary"
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
