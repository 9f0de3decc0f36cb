#!/bin/sh
# The main job: install what is needed, build, and show real results.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

store=$(mktemp -d)/demo-store
trap 'rm -rf "$(dirname "$store")"' EXIT
echo "== writing and reading back 1,000,000 events in $store"
build/examples/log_roundtrip "$store" 1000000
