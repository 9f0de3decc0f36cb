#!/bin/bash
# The dashboard and real trackers in a real browser (test/node/browser.mjs,
# Debian's chromium driven by playwright-core): 60 days of generated traffic
# for one site, then the dashboard's figures against /api/v1/query, filters,
# ranges, the live figure, keys; Plausible's tracker in merchants' pages on
# a desktop and a phone. Then the Node clients of the other protocols
# (clients.mjs) against the same server, and what arrived per protocol.
# Skipped where Node, the npm packages or uPlot are missing, or where
# chromium cannot start.
. "$(dirname "$0")/lib.sh"
NODE_DIR=$(dirname "$0")/node
DASHBOARD=$(cd "$(dirname "$0")/../dashboard" && pwd)
command -v node >/dev/null || { echo "node is not installed: skipped"; exit 77; }
for p in playwright-core @plausible-analytics/tracker universal-analytics; do
    [ -d "$NODE_DIR/node_modules/$p" ] ||
        { echo "npm package $p missing (cd $NODE_DIR && npm ci): skipped"; exit 77; }
done
[ -f "$DASHBOARD/node_modules/uplot/dist/uPlot.iife.min.js" ] ||
    { echo "uPlot missing (cd $DASHBOARD && npm ci): skipped"; exit 77; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "$CHROMIUM is not installed (apt-get install chromium): skipped"; exit 77; }
export CHROMIUM

# 60 days of one merchant's traffic, ending ten minutes ago (so that the
# live figure starts from the trackers' events alone).
S=$T/store
"$TSAGG_GEN" --merchants 1 --events 20000 --days 60 --late 0 \
    --start "$(date -u -d '-60 days -10 minutes' +%Y-%m-%dT%H:%M:%SZ)" > "$T/traffic.ndjson"
"$TSAGG_INGEST" "$S" "$T/traffic.ndjson" >/dev/null

start_server "$S" --dashboard "$DASHBOARD" --no-maintenance
new_site 1 shop.example Europe/Berlin
new_site 2 other.example America/New_York

timeout 100 node "$NODE_DIR/browser.mjs" "$URL" "$T/site-1.json" "$T/site-2.json" \
    "$TSAGG_ADMIN_KEY" > "$T/browser.out" 2>&1 && rc=0 || rc=$?
cat "$T/browser.out"
if [ "$rc" -eq 77 ]; then
    stop_server TERM
    exit 77
fi
check "browser checks" 0 "$rc"

# The other protocols from Node, then what arrived per protocol. The
# browser's Plausible events are those of the /t/ pages, Node's that of
# /plausible/page; the headless robot's was dropped. Its tracker also sends
# an "engagement" event as a page closes, which the closing browser may cut
# short: stored all the same, and counted as accepted like every other.
timeout 60 node "$NODE_DIR/clients.mjs" "$URL" "$T/site-1.json" > "$T/clients.json"
QK=$(site_field 1 query_key)
accepted() { sed -n "s/^tsagg_server_events_total{endpoint=\"$1\",result=\"$2\"} //p" "$T/body"; }
# (a request of a closed page may still be on its way: a few tries)
for _ in $(seq 20); do
    req POST /api/v1/query -H "Authorization: Bearer $QK" -d '{"site_id": 1, "metrics": ["count"],
        "date_range": "day", "filters": [["is", "page", ["/t/pricing", "/t/home", "/t/robot", "/plausible/page"]]]}' >/dev/null
    plausible_stored=$(jq '.results[0].metrics[0]' "$T/body")
    req GET /metrics >/dev/null
    plausible_accepted=$(accepted plausible_event accepted)
    [ "$plausible_stored" = "$plausible_accepted" ] && break
    sleep 0.1
done
check "accepted per protocol: UA /collect, UA /batch, GA4" "1 3 2" \
    "$(accepted ua_collect accepted) $(accepted ua_batch accepted) $(accepted ga4_collect accepted)"
check "accepted from Plausible's tracker (browser and Node): every stored event" \
    "$plausible_stored" "$plausible_accepted"
# (its pageview, and its engagement event when the page closed)
check "the headless browser counted as a robot" true "$([ "$(accepted plausible_event bot)" -ge 1 ] && echo true)"
stop_server TERM
check "clean stop" 0 "$STOP_RC"
finish
