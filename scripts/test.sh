#!/bin/sh
# Build and run every test suite: fast, slow (crash), fault, fuzz (the fuzz
# targets over their seed corpus), tools (the tsagg-* programs from the
# shell) and server (tsagg-server over HTTP), then fast, fault, fuzz, tools
# and server again under AddressSanitizer +
# UBSan, then the stress program under ThreadSanitizer. Ends with one line
# "tests: N passed, M failed" over all runs.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-debian.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

[ -d build ] || meson setup build >/dev/null
ninja -C build
meson test -C build --suite fast --suite slow --suite fault --suite fuzz --suite tools \
    --suite server \
    --print-errorlogs \
    | tee -a "$log" || status=1

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbench=false >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --suite fast --suite fault --suite fuzz --suite tools \
    --suite server \
    --print-errorlogs \
    | tee -a "$log" || status=1

# Criterion cannot start under ThreadSanitizer here: only the standalone
# stress program (tests/stress.c) runs in the TSan build.
[ -d build-tsan ] || meson setup build-tsan -Db_sanitize=thread -Db_lundef=false \
    -Dbench=false >/dev/null
ninja -C build-tsan tests/stress
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stop=1 \
    meson test -C build-tsan --suite stress --print-errorlogs \
    | tee -a "$log" || status=1

passed=$(awk '/^(Ok|Expected Fail):/ {n += $NF} END {print n + 0}' "$log")
failed=$(awk '/^(Fail|Unexpected Pass|Timeout):/ {n += $NF} END {print n + 0}' "$log")
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
