#!/bin/sh
# The main job: install what is needed, build, and show real results with
# the command-line tools: generate a GA-like sample, ingest it, compact,
# query page views per hour and top pages; then the same with a real web
# server access log where ../shared/data has one. Then serve the sample
# with tsagg-server on 127.0.0.1, create a site, send it live traffic through
# Plausible's tracker in chromium, and print the dashboard's URL. The server
# stays in the background; `scripts/demo.sh stop` stops it.
#
# The server's store, key and log are in $TSAGG_DEMO_DIR (default
# /tmp/tsagg-demo), replaced by the next run.
set -eu
cd "$(dirname "$0")/.."
demo=${TSAGG_DEMO_DIR:-/tmp/tsagg-demo}

# Stop the server of an earlier run, if it still runs.
stop_server() {
    pid=$(cat "$demo/server.pid" 2>/dev/null) || return 0
    rm -f "$demo/server.pid"
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "demo: tsagg-server (pid $pid) did not stop within 10 s" >&2
    return 1
}
if [ "${1:-}" = stop ]; then
    stop_server && echo "tsagg-server stopped; its store stays in $demo/store"
    exit
fi
[ $# -eq 0 ] || { echo "usage: scripts/demo.sh [stop]" >&2; exit 2; }

scripts/setup-debian.sh
stop_server
rm -rf "$demo"
mkdir -p "$demo"
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
bin=build/tools
export PATH="$PWD/$bin:$PWD/$bin/ingest:$PWD/$bin/query:$PATH"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=$demo/store

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

echo
echo "== tsagg-server: the same store on 127.0.0.1, a site for merchant $top, live traffic"
server=build/examples/server/tsagg-server
(umask 077 && head -c 24 /dev/urandom | base64 > "$demo/admin-key")
start_server() {
    : > "$demo/server.out"
    # setsid: the server outlives this script and its terminal's Ctrl-C.
    setsid "$server" "$store" --listen "$1" --admin-key-file "$demo/admin-key" \
        --dashboard "$PWD/examples/server/dashboard" >"$demo/server.out" 2>"$demo/server.log" </dev/null &
    echo $! > "$demo/server.pid"
    for i in $(seq 100); do
        url=$(sed -n 's/^listening on /http:\/\//p' "$demo/server.out")
        [ -n "$url" ] && return 0
        kill -0 "$(cat "$demo/server.pid")" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$demo/server.pid"
    return 1
}
# Port 8080 where it is free, else any free port.
start_server 127.0.0.1:8080 || start_server 127.0.0.1:0 ||
    { echo "demo: tsagg-server did not start:" >&2; cat "$demo/server.log" >&2; exit 1; }
curl -sf --max-time 10 -H "Authorization: Bearer $(cat "$demo/admin-key")" \
    -d "{\"merchant\": $top, \"domain\": \"shop.example\", \"timezone\": \"Asia/Kolkata\"}" \
    "$url/api/v1/sites" > "$demo/site.json"
key=$(sed -n 's/.*"query_key": "\([^"]*\)".*/\1/p' "$demo/site.json")
echo "site shop.example = merchant $top (Asia/Kolkata); its keys are in $demo/site.json"
if ! timeout 60 node examples/server/test/node/visit.mjs "$url" "$demo/site.json"; then
    echo "(no live traffic: chromium or the npm packages are missing; see scripts/setup-debian.sh)"
fi

echo
echo "The dashboard of shop.example (merchant $top), served by tsagg-server on $url:"
echo "  today, with the live traffic:  $url/dashboard/$top?key=$key&range=day"
echo "  the sample month:              $url/dashboard/$top?key=$key&range=custom&from=2026-10-01&to=2026-10-30"
echo "  every site:                    $url/  (sign in with the admin key in $demo/admin-key)"
echo "The server keeps running in the background (pid $(cat "$demo/server.pid"), log $demo/server.log)."
echo "Stop it with: scripts/demo.sh stop"
