#!/bin/bash
# The dashboard's files as tsagg-server serves them (dashboard.c): routes,
# content types, ETag and 304, no-cache, the CSP, what is refused (other
# extensions, hidden files, directories, climbing out, non-numeric
# merchants, other methods), a missing installation; and the query
# answer's meta, which the page reads its zone and domain from. The page
# itself runs in server-browser.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../dashboard" && pwd)

# A copy of the dashboard, with a stand-in for the uPlot npm installs.
D=$T/dashboard
mkdir -p "$D/node_modules/uplot/dist" "$D/sub.js"
cp "$SRC"/*.html "$SRC"/*.css "$SRC"/*.js "$D"/
echo 'var uPlot;' > "$D/node_modules/uplot/dist/uPlot.iife.min.js"
echo '.uplot {}' > "$D/node_modules/uplot/dist/uPlot.min.css"
echo 'secret' > "$D/.hidden.js"
echo 'text' > "$D/notes.txt"
echo '{}' > "$T/outside.js"

start_server "$T/store" --dashboard "$D"
# what PATH: "STATUS CONTENT-TYPE CACHE-CONTROL"
got() { curl -s -o "$T/body" --max-time 10 -w '%{http_code} %{content_type} %header{cache-control}' "$@"; }
check "GET /: the site picker" "200 text/html; charset=utf-8 no-cache" "$(got "$URL/")"
cmp -s "$T/body" "$D/index.html" && check "the picker's file" same same || check "the picker's file" same different
check "GET /dashboard/42: the dashboard" "200 text/html; charset=utf-8 no-cache" "$(got "$URL/dashboard/42")"
cmp -s "$T/body" "$D/dashboard.html" && check "the dashboard's file" same same || check "the dashboard's file" same different
check "script" "200 text/javascript; charset=utf-8 no-cache" "$(got "$URL/assets/dashboard.js")"
check "style sheet" "200 text/css; charset=utf-8 no-cache" "$(got "$URL/assets/dashboard.css")"
check "uPlot from node_modules" "200 text/javascript; charset=utf-8 no-cache" "$(got "$URL/assets/uplot/uPlot.iife.min.js")"
check "uPlot's style sheet" "200 text/css; charset=utf-8 no-cache" "$(got "$URL/assets/uplot/uPlot.min.css")"
check "uPlot's bytes" "var uPlot;" "$(curl -s --max-time 10 "$URL/assets/uplot/uPlot.iife.min.js")"

etag=$(curl -s -o /dev/null --max-time 10 -w '%header{etag}' "$URL/assets/dashboard.js")
check "an ETag" 1 "$(printf '%s' "$etag" | grep -c '^"[0-9a-f]*-[0-9a-f]*"$')"
check "unchanged: 304, no body" "304 0" "$(curl -s -o /dev/null --max-time 10 -w '%{http_code} %{size_download}' \
    -H "If-None-Match: $etag" "$URL/assets/dashboard.js")"
check_status "another ETag: 200" 200 GET /assets/dashboard.js -H 'If-None-Match: "0-0"'
touch -d '2020-01-01' "$D/dashboard.js"
check_status "changed: 200 again" 200 GET /assets/dashboard.js -H "If-None-Match: $etag"

curl -s -D "$T/headers" -o /dev/null --max-time 10 "$URL/dashboard/42"
check "CSP: this server only" 1 "$(grep -c "^Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';" "$T/headers")"
check "nosniff" 1 "$(grep -ci '^X-Content-Type-Options: nosniff' "$T/headers")"
check "no referrer (a URL may hold a key)" 1 "$(grep -ci '^Referrer-Policy: no-referrer' "$T/headers")"

check_status "no such file" 404 GET /assets/nothing.js
check "named in the error" "no such file: /assets/nothing.js" "$(jq -r .error "$T/body")"
check_status "another extension" 404 GET /assets/notes.txt
check_status "a hidden file" 404 GET /assets/.hidden.js
check_status "a directory" 404 GET /assets/sub.js
check_status "climbing out" 404 GET /assets/..%2foutside.js
check_status "climbing out of uplot" 404 GET /assets/uplot/..%2f..%2f..%2f..%2foutside.js
check_status "a merchant is a number" 404 GET /dashboard/shop
check_status "one merchant" 404 GET /dashboard/42/x
check_status "read only" 405 POST /dashboard/42
check_status "no other page" 404 GET /index.html
stop_server TERM

# Not installed: the pages say where they were looked for.
start_server "$T/store" --dashboard "$T/nowhere"
check_status "no dashboard installed" 404 GET /
check "says so" "no such file: / (is the dashboard installed? see --dashboard)" "$(jq -r .error "$T/body")"

# The query answer names the zone and the site's domain.
new_site 42 shop.example Asia/Kolkata
QK=$(site_field 42 query_key)
check_status "query" 200 POST /api/v1/query -H "Authorization: Bearer $QK" \
    -d '{"site_id": 42, "metrics": ["count"], "date_range": "day"}'
check "meta: zone and domain" "Asia/Kolkata shop.example" "$(jq -r '"\(.meta.timezone) \(.meta.domain)"' "$T/body")"
check_status "query in another zone" 200 POST /api/v1/query -H "$ADMIN" \
    -d '{"site_id": 7, "metrics": ["count"], "date_range": "day", "timezone": "Europe/Berlin"}'
check "meta: no site, no domain" "Europe/Berlin null" "$(jq -r '"\(.meta.timezone) \(.meta.domain)"' "$T/body")"
stop_server TERM
check "clean stop" 0 "$STOP_RC"
finish
