#!/bin/bash
# The collection protocols from curl, with bodies as the protocols document
# them: GA4 (/mp/collect, /debug/mp/collect), Universal Analytics (/collect
# GET and POST, /batch) and Plausible (/api/event): what lands in the store
# (names, pages, referrers, device/browser/OS from the User-Agent, country
# behind --trust-proxy, visitors), their limits and errors, bots, retries.
. "$(dirname "$0")/lib.sh"

S=$T/store
start_server "$S" --no-maintenance --trust-proxy
new_site 5 shop.example
new_site 6 blog.example
new_site 8 plaus.example
QK8=$(site_field 8 query_key)
MID=$(site_field 5 measurement_id); SECRET=$(site_field 5 api_secret); QK=$(site_field 5 query_key)
QK6=$(site_field 6 query_key)
CHROME_ANDROID='Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36'
FIREFOX_WIN='Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0'
SAFARI_MAC='Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15'
GOOGLEBOT='Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'

# q SITE KEY JSON-TAIL: rows of a total query as "dim=metric ..." sorted.
q() {
    req POST /api/v1/query -H "Authorization: Bearer $2" \
        -d "{\"site_id\": $1, \"metrics\": [\"count\"], \"date_range\": \"day\", \"timezone\": \"UTC\"$3}" >/dev/null
    jq -r '[.results[] | select(.dimensions[0] != "") | "\(.dimensions[0] // "")=\(.metrics[0])"] | sort | join(" ")' "$T/body"
}

# --- GA4
NOW=$(($(date +%s) * 1000000))
GA="/mp/collect?measurement_id=$MID&api_secret=$SECRET"
check_status "GA4 page_view" 204 POST "$GA" -A "$CHROME_ANDROID" -H 'CF-IPCountry: DE' -d "{
  \"client_id\": \"123456.7654321\", \"timestamp_micros\": $NOW,
  \"events\": [{\"name\": \"page_view\", \"params\": {\"page_location\": \"https://shop.example/pricing?x=1\",
     \"page_referrer\": \"https://News.Example:443/a\", \"session_id\": \"1700000000\", \"engagement_time_msec\": 100}},
   {\"name\": \"purchase\", \"params\": {\"currency\": \"EUR\", \"value\": 30.5, \"transaction_id\": \"T1\",
     \"items\": [{\"item_id\": \"SKU_1\"}]}}]}"
check_status "GA4 retry of the same request" 204 POST "$GA" -A "$CHROME_ANDROID" -H 'CF-IPCountry: DE' -d "{
  \"client_id\": \"123456.7654321\", \"timestamp_micros\": $NOW,
  \"events\": [{\"name\": \"page_view\", \"params\": {\"page_location\": \"https://shop.example/pricing?x=1\",
     \"page_referrer\": \"https://News.Example:443/a\", \"session_id\": \"1700000000\", \"engagement_time_msec\": 100}},
   {\"name\": \"purchase\", \"params\": {\"currency\": \"EUR\", \"value\": 30.5, \"transaction_id\": \"T1\",
     \"items\": [{\"item_id\": \"SKU_1\"}]}}]}"
check_status "GA4 without timestamp" 204 POST "$GA" -d '{"client_id": "c2", "events": [{"name": "sign_up"}]}'
check_status "GA4 debug, good" 200 POST "/debug/mp/collect?measurement_id=$MID&api_secret=$SECRET" \
    -d '{"client_id": "c2", "events": [{"name": "sign_up"}]}'
check "GA4 debug: no messages" 0 "$(jq '.validationMessages | length' "$T/body")"
ga4_debug() { # NAME BODY FIELDPATH CODE
    check_status "GA4 debug: $1" 200 POST "/debug/mp/collect?measurement_id=$MID&api_secret=$SECRET" -d "$2"
    check "GA4 debug: $1 reported" "$3 $4" "$(jq -r '.validationMessages[0] | "\(.fieldPath) \(.validationCode)"' "$T/body")"
}
ga4_debug "bad event name" '{"client_id": "c", "events": [{"name": "_bad"}]}' "events[0].name" NAME_RESERVED
ga4_debug "name with a dash" '{"client_id": "c", "events": [{"name": "ok"}, {"name": "add-to-cart"}]}' "events[1].name" NAME_INVALID
ga4_debug "reserved event" '{"client_id": "c", "events": [{"name": "session_start"}]}' "events[0].name" NAME_RESERVED
ga4_debug "name too long" "{\"client_id\": \"c\", \"events\": [{\"name\": \"$(printf 'a%.0s' $(seq 41))\"}]}" "events[0].name" VALUE_OUT_OF_BOUNDS
ga4_debug "no client_id" '{"events": [{"name": "x"}]}' client_id VALUE_REQUIRED
ga4_debug "bad param" '{"client_id": "c", "events": [{"name": "x", "params": {"ga_x": 1}}]}' "events[0].params.ga_x" NAME_RESERVED
ga4_debug "long value" "{\"client_id\": \"c\", \"events\": [{\"name\": \"x\", \"params\": {\"p\": \"$(printf 'v%.0s' $(seq 101))\"}}]}" "events[0].params.p" VALUE_OUT_OF_BOUNDS
ga4_debug "old timestamp" "{\"client_id\": \"c\", \"timestamp_micros\": $((NOW - 73 * 3600000000)), \"events\": [{\"name\": \"x\"}]}" timestamp_micros VALUE_OUT_OF_BOUNDS
EV26=$(for i in $(seq 26); do printf '{"name": "e%d"},' "$i"; done)
ga4_debug "26 events" "{\"client_id\": \"c\", \"events\": [${EV26%,}]}" events EXCEEDED_MAX_ENTITIES
P26=$(for i in $(seq 26); do printf '"p%d": 1,' "$i"; done)
ga4_debug "26 params" "{\"client_id\": \"c\", \"events\": [{\"name\": \"x\", \"params\": {${P26%,}}}]}" "events[0].params" EXCEEDED_MAX_ENTITIES
check_status "GA4 26 events refused" 400 POST "$GA" -d "{\"client_id\": \"c\", \"events\": [${EV26%,}]}"
check_status "GA4 bad JSON" 400 POST "$GA" -d '{"client_id": '
check_status "GA4 wrong secret" 401 POST "/mp/collect?measurement_id=$MID&api_secret=nope" -d '{}'
check_status "GA4 no secret" 401 POST "/mp/collect?measurement_id=$MID" -d '{}'
check_status "GA4 unknown measurement id" 404 POST "/mp/collect?measurement_id=G-NOPE&api_secret=x" -d '{}'
head -c 140000 /dev/zero | tr '\0' ' ' > "$T/big"
check_status "GA4 body of 130 kB or more" 413 POST "$GA" --data-binary @"$T/big"

# The retry counts once, before compaction as after.
check "GA4 events by name" "page_view=1 purchase=1 sign_up=1" "$(q 5 "$QK" ', "dimensions": ["event"]')"
check "GA4 page, from page_location" "/pricing=1" "$(q 5 "$QK" ', "dimensions": ["page"], "filters": [["is", "event", ["page_view"]]]')"
check "GA4 referrer host" "news.example=1" "$(q 5 "$QK" ', "dimensions": ["referrer"], "filters": [["is", "event", ["page_view"]]]')"
check "GA4 country from CF-IPCountry" "DE=1" "$(q 5 "$QK" ', "dimensions": ["country"], "filters": [["is", "event", ["page_view"]]]')"
check "GA4 device, browser, os" "mobile=2" "$(q 5 "$QK" ', "dimensions": ["device"], "filters": [["is", "browser", ["Chrome"]], ["is", "os", ["Android"]]]')"
check_status "compact" 200 POST /api/v1/maintenance -H "$ADMIN"
check "GA4 retry counted once" "page_view=1 purchase=1 sign_up=1" "$(q 5 "$QK" ', "dimensions": ["event"]')"
req POST /api/v1/query -H "Authorization: Bearer $QK" -d '{"site_id": 5, "metrics": ["sum:value"], "date_range": "day", "filters": [["is", "event", ["purchase"]]]}' >/dev/null
check "GA4 value" 30.5 "$(jq '.results[0].metrics[0]' "$T/body")"

# --- Universal Analytics
check_status "UA GET /collect" 200 GET "/collect?v=1&tid=UA-6-1&cid=555&t=pageview&dp=%2Fhome&dr=https%3A%2F%2Fsearch.example%2F%3Fq%3Da&z=123" -A "$FIREFOX_WIN"
check "UA pixel" "GIF89a" "$(head -c 6 "$T/body")"
check_status "UA POST /collect" 200 POST /collect -A "$FIREFOX_WIN" -d 'v=1&tid=UA-6-1&cid=555&t=event&ec=video&ea=play&el=intro&ev=3&dl=https%3A%2F%2Fblog.example%2Fvideos%3Fa%3D1'
check_status "UA /batch" 200 POST /batch -A "$SAFARI_MAC" --data-binary $'v=1&tid=UA-6-1&cid=556&t=pageview&dp=/a\nv=1&tid=UA-6-1&cid=556&t=pageview&dp=/b&qt=1000\nv=1&tid=UA-6-1&uid=u9&t=pageview&dp=/a'
check_status "UA hit of a crawler" 200 GET "/collect?v=1&tid=UA-6-1&cid=1&t=pageview&dp=%2Fbot" -A "$GOOGLEBOT"
check_status "UA ua parameter overrides the header" 200 GET "/collect?v=1&tid=UA-6-1&cid=1&t=pageview&dp=%2Fbot&ua=Googlebot%2F2.1"
check "UA events by name" "event=1 page_view=4" "$(q 6 "$QK6" ', "dimensions": ["event"]')"
check "UA pages" "/a=2 /b=1 /home=1 /videos=1" "$(q 6 "$QK6" ', "dimensions": ["page"]')"
check "UA browsers" "Firefox=2 Safari=3" "$(q 6 "$QK6" ', "dimensions": ["browser"]')"
check "UA referrer" "search.example=1" "$(q 6 "$QK6" ', "dimensions": ["referrer"]')"
req POST /api/v1/query -H "Authorization: Bearer $QK6" -d '{"site_id": 6, "metrics": ["users", "sum:value"], "date_range": "day"}' >/dev/null
check "UA users (cid/uid) and ev" "3 3" "$(jq -r '.results[0].metrics | "\(.[0]) \(.[1])"' "$T/body")"
check_status "UA unknown tid" 404 GET "/collect?v=1&tid=UA-999-1&cid=1&t=pageview"
check_status "UA no cid" 400 GET "/collect?v=1&tid=UA-6-1&t=pageview"
check "UA no cid named" 1 "$(jq -r '.error | contains("cid") | if . then 1 else 0 end' "$T/body")"
check_status "UA bad version" 400 GET "/collect?v=2&tid=UA-6-1&cid=1&t=pageview"
check_status "UA bad ev" 400 GET "/collect?v=1&tid=UA-6-1&cid=1&t=event&ev=lots"
check_status "UA batch with a bad hit stores nothing" 400 POST /batch --data-binary $'v=1&tid=UA-6-1&cid=7&t=pageview&dp=/x\nv=1&tid=UA-6-1&t=pageview'
check "UA bad hit named" 1 "$(jq -r '.error | startswith("hit 2: parameter '"'"'cid'"'"'") | if . then 1 else 0 end' "$T/body")"
check "nothing of it stored" "" "$(q 6 "$QK6" ', "dimensions": ["page"], "filters": [["is", "page", ["/x"]]]')"
for i in $(seq 21); do echo "v=1&tid=UA-6-1&cid=$i&t=pageview"; done > "$T/b21"
check_status "UA 21 hits" 413 POST /batch --data-binary @"$T/b21"
{ echo -n "v=1&tid=UA-6-1&cid=1&t=pageview&dt="; head -c 8200 /dev/zero | tr '\0' 'a'; } > "$T/hit8k"
check_status "UA hit over 8 KB" 413 POST /batch --data-binary @"$T/hit8k"
for i in $(seq 3); do head -c 6000 /dev/zero | tr '\0' 'a' | sed "s/^/v=1\&tid=UA-6-1\&cid=$i\&t=pageview\&dt=/"; echo; done > "$T/b18k"
check_status "UA batch over 16 KB" 413 POST /batch --data-binary @"$T/b18k"
check_status "UA GET hit over 8 KB" 413 GET "/collect?v=1&tid=UA-6-1&cid=1&t=pageview&dt=$(head -c 8200 /dev/zero | tr '\0' 'a')"
check "UA GET hit over 8 KB named" 1 "$(jq -r '.error | startswith("hit 1: 8") | if . then 1 else 0 end' "$T/body")"
check_status "UA GET hit of 8 KB" 200 GET "/collect?v=1&tid=UA-6-1&cid=1&t=pageview&dp=%2Fbig&dt=$(head -c 8000 /dev/zero | tr '\0' 'a')" -A "$FIREFOX_WIN"
check_status "UA GET hit of 65 parameters" 400 GET "/collect?v=1&tid=UA-6-1&cid=1&t=pageview$(for i in $(seq 61); do printf '&cd%d=x' "$i"; done)"
check "UA GET hit of 65 parameters named" '"hit 1: more than 64 parameters"' "$(jq .error "$T/body")"
check_status "UA two hits on /collect" 413 POST /collect --data-binary $'v=1&tid=UA-6-1&cid=1&t=pageview\nv=1&tid=UA-6-1&cid=1&t=pageview'

# --- Plausible
check_status "Plausible pageview" 202 POST /api/event -A "$SAFARI_MAC" -H 'X-Forwarded-For: 203.0.113.9' -H 'CF-IPCountry: FR' \
    -H 'Content-Type: text/plain' -d '{"n":"pageview","u":"https://plaus.example/post/1?utm_source=x","d":"plaus.example","r":"https://t.co/abc","w":1280}'
check "Plausible answer" ok "$(cat "$T/body")"
check_status "Plausible second page, same visitor" 202 POST /api/event -A "$SAFARI_MAC" -H 'X-Forwarded-For: 203.0.113.9' \
    -d '{"name":"pageview","url":"https://plaus.example/post/2","domain":"plaus.example"}'
check_status "Plausible another visitor" 202 POST /api/event -A "$FIREFOX_WIN" -H 'X-Forwarded-For: 203.0.113.10' \
    -d '{"name":"Signup","url":"https://plaus.example/join","domain":"plaus.example,unknown.example","props":{"plan":"pro","seats":3},"revenue":{"currency":"EUR","amount":"19.99"}}'
curl -s -D "$T/headers" -o /dev/null --max-time 10 -A "$GOOGLEBOT" -d '{"n":"pageview","u":"https://plaus.example/","d":"plaus.example"}' "$URL/api/event"
check "Plausible bot dropped" 1 "$(grep -ci '^x-plausible-dropped: 1' "$T/headers")"
check_status "Plausible unknown domain" 404 POST /api/event -A "$FIREFOX_WIN" -d '{"n":"pageview","u":"https://x.example/","d":"nobody.example"}'
check_status "Plausible no name" 400 POST /api/event -d '{"u":"https://plaus.example/","d":"plaus.example"}'
check "Plausible error shape" "can't be blank" "$(jq -r '.errors.name[0]' "$T/body")"
check_status "Plausible no url" 400 POST /api/event -d '{"n":"pageview","d":"plaus.example"}'
check_status "Plausible bad JSON" 400 POST /api/event -d '{"n":'
check_status "Plausible bad revenue" 400 POST /api/event -d '{"n":"x","u":"https://plaus.example/","d":"plaus.example","revenue":{"amount":"lots"}}'
check_status "Plausible too many props" 400 POST /api/event -d "{\"n\":\"x\",\"u\":\"https://plaus.example/\",\"d\":\"plaus.example\",\"p\":{$(for i in $(seq 31); do printf '"k%d":"v",' "$i"; done | sed 's/,$//')}}"
check "Plausible pages" "/join=1 /post/1=1 /post/2=1" "$(q 8 "$QK8" ', "dimensions": ["page"]')"
check "Plausible events" "Signup=1 page_view=2" "$(q 8 "$QK8" ', "dimensions": ["event"]')"
check "Plausible referrer" "t.co=1" "$(q 8 "$QK8" ', "dimensions": ["referrer"]')"
check "Plausible country behind the proxy" "FR=1" "$(q 8 "$QK8" ', "dimensions": ["country"]')"
req POST /api/v1/query -H "Authorization: Bearer $QK8" -d '{"site_id": 8, "metrics": ["users", "sessions", "sum:value"], "date_range": "day", "dimensions": ["browser"]}' >/dev/null
check "Plausible visitors, sessions, revenue per browser" "Firefox:1,1,19.99 Safari:1,1,0" \
    "$(jq -r '[.results[] | "\(.dimensions[0]):\(.metrics | map(tostring) | join(","))"] | sort | join(" ")' "$T/body")"
check_status "Plausible referrer with user info, port and a final dot" 202 POST /api/event -A "$FIREFOX_WIN" \
    -d '{"n":"pageview","u":"https://plaus.example/ref","d":"plaus.example","r":"https://u:p@ss@Blog.Example.:8080/x"}'
check "Plausible referrer host as the access logs'" "blog.example=1" \
    "$(q 8 "$QK8" ', "dimensions": ["referrer"], "filters": [["is", "page", ["/ref"]]]')"

# --- metrics by endpoint and reason
check_status "metrics" 200 GET /metrics
check "GA4 accepted" 'tsagg_server_events_total{endpoint="ga4_collect",result="accepted"} 5' "$(grep 'ga4_collect",result="accepted' "$T/body")"
check "UA bots" 'tsagg_server_events_total{endpoint="ua_collect",result="bot"} 2' "$(grep 'ua_collect",result="bot' "$T/body")"
check "Plausible unknown site" 'tsagg_server_events_total{endpoint="plausible_event",result="unknown_site"} 2' "$(grep 'plausible_event",result="unknown_site' "$T/body")"
# --- what trackers get back: the same answer, headers included, each time
# (the server queues one prepared response for all of them)
answer() { # METHOD PATH [CURL ARG]...: status, Content-Type, CORS, dropped, body size
    local method=$1 path=$2
    shift 2
    curl -s -D "$T/headers" -o "$T/body" --max-time 10 -X "$method" "$@" "$URL$path" >/dev/null
    tr -d '\r' < "$T/headers" | awk -v size="$(wc -c < "$T/body")" '
        NR == 1 { status = $2 }
        tolower($1) == "content-type:" { type = $2 }
        tolower($1) == "access-control-allow-origin:" { cors = $2 }
        tolower($1) == "x-plausible-dropped:" { dropped = $2 }
        END { printf "%s %s cors=%s dropped=%s %d bytes\n", status, type ? type : "-", cors, dropped ? dropped : "-", size }'
}
for i in 1 2; do
    check "Plausible answer, time $i" "202 text/plain cors=* dropped=- 2 bytes" \
        "$(answer POST /api/event -A "$FIREFOX_WIN" -d '{"n":"pageview","u":"https://plaus.example/again","d":"plaus.example"}')"
    check "Plausible crawler's answer, time $i" "202 text/plain cors=* dropped=1 2 bytes" \
        "$(answer POST /api/event -A "$GOOGLEBOT" -d '{"n":"pageview","u":"https://plaus.example/","d":"plaus.example"}')"
    check "GA4 answer, time $i" "204 - cors=* dropped=- 0 bytes" \
        "$(answer POST "$GA" -d '{"client_id": "c9", "events": [{"name": "again"}]}')"
    check "UA pixel, time $i" "200 image/gif cors=* dropped=- 43 bytes" \
        "$(answer GET "/collect?v=1&tid=UA-6-1&cid=9&t=pageview&dp=%2Fagain" -A "$FIREFOX_WIN")"
    check "UA batch answer, time $i" "200 - cors=* dropped=- 0 bytes" \
        "$(answer POST /batch -A "$FIREFOX_WIN" --data-binary $'v=1&tid=UA-6-1&cid=9&t=pageview&dp=/again')"
done
check "Plausible pages answered twice" "/again=2" \
    "$(q 8 "$QK8" ', "dimensions": ["page"], "filters": [["is", "page", ["/again"]]]')"
# A body past the request's own buffer (1 KiB) moves to a larger one.
BIG_PROP=$(head -c 1900 /dev/zero | tr '\0' 'p')
check_status "Plausible body of 2 KB" 202 POST /api/event -A "$FIREFOX_WIN" \
    -d "{\"n\":\"pageview\",\"u\":\"https://plaus.example/big\",\"d\":\"plaus.example\",\"p\":{\"note\":\"$BIG_PROP\"}}"
req POST /api/v1/query -H "Authorization: Bearer $QK8" \
    -d '{"site_id": 8, "metrics": ["count"], "date_range": "day", "dimensions": ["page"], "filters": [["is", "page", ["/big"]]]}' >/dev/null
check "the 2 KB body stored" "/big=1" "$(jq -r '[.results[] | "\(.dimensions[0])=\(.metrics[0])"] | join(" ")' "$T/body")"

stop_server TERM
check "clean stop" 0 "$STOP_RC"
finish
