#!/bin/sh
# The main job: install what is needed, build, and show real results with
# the command-line tools: generate a GA-like sample, ingest it, compact,
# query page views per hour and top pages; then the same with a real web
# server access log where ../shared/data has one.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
bin=build/tools
export PATH="$PWD/$bin:$PWD/$bin/ingest:$PWD/$bin/query:$PATH"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=$tmp/store

echo "== tsagg-gen: 1,000,000 GA-like events, 30 days from 2026-10-01, 1,000 merchants"
tsagg-gen --events 1000000 --days 30 >"$tmp/events.ndjson"
echo "$(du -h "$tmp/events.ndjson" | cut -f1) of NDJSON; the busiest merchants:"
tsagg-gen --top-merchants 3
top=$(tsagg-gen --top-merchants 1 | awk -F, 'NR == 2 {print $2}')

echo
echo "== tsagg-ingest --compact: into the durable log, then hourly partitions"
tsagg-ingest --compact "$store" "$tmp/events.ndjson"

echo
echo "== page views per hour, merchant $top, 2026-10-15 (UTC)"
tsagg-query "$store" --merchant "$top" --from 2026-10-15 --to 2026-10-16 \
    --event page_view --metric count --metric users

echo
echo "== top 10 pages of merchant $top, last 7 days, visitors from the US"
tsagg-query "$store" --merchant "$top" --from 2026-10-24 --to 2026-10-31 \
    --bucket total --group-by page --top 10 --where country=US --metric count --metric users

echo
echo "== daily revenue of merchant $top in its own time zone (Asia/Kolkata), as CSV"
tsagg-query "$store" --merchant "$top" --from 2026-10-01 --to 2026-10-08 --bucket day \
    --tz Asia/Kolkata --event purchase --metric count --metric sum:value --format csv

echo
echo "== every merchant, 2026-10-15, events by name"
tsagg-query "$store" --all-merchants --from 2026-10-15 --to 2026-10-16 --bucket total \
    --group-by event --metric count --metric users

echo
echo "== tsagg-verify: every file read, every checksum checked"
tsagg-verify "$store"

log=../shared/data/apache_logs.log
if [ -f "$log" ]; then
    echo
    echo "== a real access log ($log): 10,000 lines, one of them malformed"
    # Exit status 1: a line was rejected, as expected; the rest loaded.
    tsagg-ingest --compact --format combined --merchant 1 "$tmp/site" "$log" || [ $? -eq 1 ]
    echo
    echo "== top pages, crawlers (device=bot) left out"
    tsagg-query "$tmp/site" --merchant 1 --from 2015-05-17 --to 2015-05-21 --bucket total \
        --event page_view --where device=desktop,mobile,tablet,other --group-by page --top 5 \
        --metric count --metric users
    echo
    echo "== page views per day, people and crawlers"
    tsagg-query "$tmp/site" --merchant 1 --from 2015-05-17 --to 2015-05-21 --bucket day \
        --event page_view --group-by device --metric count --metric users
fi
