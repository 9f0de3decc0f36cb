#!/bin/bash
# Real clients from npm, driven from Node (test/node/clients.mjs):
# universal-analytics to /collect and /batch, GA4 Measurement Protocol
# bodies to /mp/collect, @plausible-analytics/tracker to /api/event; then
# what the merchant sees: every event under its name and page, with the
# browser of the client's User-Agent. Skipped where Node or the packages
# (npm ci in test/node, run by scripts/setup-debian.sh) are missing.
. "$(dirname "$0")/lib.sh"
NODE_DIR=$(dirname "$0")/node
command -v node >/dev/null || { echo "node is not installed: skipped"; exit 77; }
[ -d "$NODE_DIR/node_modules/universal-analytics" ] &&
    [ -d "$NODE_DIR/node_modules/@plausible-analytics/tracker" ] ||
    { echo "npm packages missing (cd $NODE_DIR && npm ci): skipped"; exit 77; }

S=$T/store
start_server "$S" --no-maintenance
new_site 3 tracked.example
QK=$(site_field 3 query_key)
timeout 60 node "$NODE_DIR/clients.mjs" "$URL" "$T/site-3.json" > "$T/clients.json"
cat "$T/clients.json"
check "universal-analytics /collect" ok "$(jq -r .ua_collect "$T/clients.json")"
check "universal-analytics /batch" ok "$(jq -r .ua_batch "$T/clients.json")"
check "GA4 collect" 204 "$(jq -r .ga4 "$T/clients.json")"
check "GA4 debug" "200 events[0].name NAME_RESERVED" \
    "$(jq -r '"\(.ga4_debug.status) \(.ga4_debug.messages[0].fieldPath) \(.ga4_debug.messages[0].validationCode)"' "$T/clients.json")"
check "Plausible tracker pageview" 202 "$(jq -r .plausible_pageview "$T/clients.json")"
check "Plausible tracker custom event" 202 "$(jq -r .plausible_signup "$T/clients.json")"

req POST /api/v1/query -H "Authorization: Bearer $QK" -d '{"site_id": 3, "metrics": ["count"], "date_range": "day", "timezone": "UTC", "dimensions": ["page"]}' >/dev/null
check "pages as sent (the purchase and the UA event have none)" "/ga4/landing=1 /plausible/page=2 /ua/batch-1=1 /ua/batch-2=1 /ua/single=1 =2" \
    "$(jq -r '[.results[] | "\(.dimensions[0])=\(.metrics[0])"] | sort | join(" ")' "$T/body")"
req POST /api/v1/query -H "Authorization: Bearer $QK" -d '{"site_id": 3, "metrics": ["count", "sum:value"], "date_range": "day", "timezone": "UTC", "dimensions": ["event"]}' >/dev/null
check "events by name, with values" "Signup=1/19.99 event=1/3 page_view=5/0 purchase=1/42.5" \
    "$(jq -r '[.results[] | "\(.dimensions[0])=\(.metrics[0])/\(.metrics[1])"] | sort | join(" ")' "$T/body")"
req POST /api/v1/query -H "Authorization: Bearer $QK" -d '{"site_id": 3, "metrics": ["count"], "date_range": "day", "timezone": "UTC", "dimensions": ["browser"], "filters": [["is", "page", ["/ua/single", "/ua/batch-1"]]]}' >/dev/null
check "browser of the UA client's User-Agent" "Firefox=2" "$(jq -r '[.results[] | "\(.dimensions[0])=\(.metrics[0])"] | join(" ")' "$T/body")"
req POST /api/v1/query -H "Authorization: Bearer $QK" -d '{"site_id": 3, "metrics": ["count"], "date_range": "day", "timezone": "UTC", "dimensions": ["referrer"], "filters": [["is", "page", ["/plausible/page"]]]}' >/dev/null
check "Plausible referrer" "news.example=2" "$(jq -r '[.results[] | "\(.dimensions[0])=\(.metrics[0])"] | join(" ")' "$T/body")"
stop_server TERM
check "clean stop" 0 "$STOP_RC"
finish
