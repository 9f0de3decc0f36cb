#!/bin/sh
# The main job: install what is needed, build, and show real results.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== 1,000,000 GA-like events: append, compact, query ($tmp/store)"
build/examples/analytics_demo "$tmp/store" 1000000
echo
echo "== the raw log alone: write 1,000,000 events durably and read them back"
build/examples/log_roundtrip "$tmp/log-only" 1000000 | head -4
