#!/bin/bash
# POST /api/v1/query against tsagg-query on the same store: the same
# questions (hourly and daily series in a time zone, filters, group-by with
# top-N, every metric kind, visits by entry and exit page, dates and RFC 3339
# ranges, before and after a compaction) give the same rows; a damaged frame in the log tail: the
# server answers from its head, a read-only handle the answer before it with
# a warning; and every bad field is a 400 naming it.
. "$(dirname "$0")/lib.sh"
: "${TSAGG_QUERY:?}" "${TSAGG_GEN:?}"

S=$T/store
start_server "$S" --no-maintenance
new_site 9 busy.example Europe/Berlin
new_site 19 other.example
QK9=$(site_field 9 query_key); QK19=$(site_field 19 query_key); IK9=$(site_field 9 ingest_key)

"$TSAGG_GEN" -n 20000 -d 3 -m 20 --start 2026-11-01T00:00:00Z > "$T/gen.ndjson"
check_status "load the sample" 200 POST /api/v1/events -H "$ADMIN" --data-binary @"$T/gen.ndjson"
check "all accepted" "20000 0" "$(jq -r '"\(.accepted) \(.rejected | length)"' "$T/body")"

# ask NAME BODY TSAGG-QUERY-ARGS...: the server's rows against the tool's.
# Rows compare as [time (UTC seconds, when bucketed), group, metrics...].
ask() {
    local name=$1 body=$2
    shift 2
    if [ "$(req POST /api/v1/query -H "Authorization: Bearer $QK9" -d "$body")" != 200 ]; then
        check "$name: status" 200 "$(cat "$T/body")"
        return
    fi
    jq -c '[.results[] | [(.time // empty | fromdateiso8601)] + .dimensions + .metrics]' \
        "$T/body" | round6 > "$T/server.rows"
    "$TSAGG_QUERY" "$S" --merchant 9 --format json "$@" > "$T/tool.json"
    # The tool prints times with the zone's offset: into UTC seconds.
    jq -c '[.rows[] | [.[] | if type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T") then
            (capture("^(?<d>.{19})(?<f>\\.[0-9]+)?(?<z>Z|(?<s>[+-])(?<h>[0-9]{2}):(?<m>[0-9]{2}))$") as $c
             | ($c.d + "Z" | fromdateiso8601)
               - (if $c.z == "Z" then 0 else ($c.s + "1" | tonumber) * (($c.h | tonumber) * 3600 + ($c.m | tonumber) * 60) end))
            else . end]]' "$T/tool.json" | round6 > "$T/tool.rows"
    local rows
    rows=$(jq length "$T/server.rows")
    if cmp -s "$T/server.rows" "$T/tool.rows" && [ "$rows" -gt 0 ]; then
        check "$name ($rows rows)" same same
    else
        check "$name" "$(head -c 300 "$T/tool.rows")" "$(head -c 300 "$T/server.rows")"
    fi
}

# Sums print with different digits (the tool rounds): compare at 1e-6.
round6() { jq -c 'map(map(if type == "number" then (. * 1e6 | round) / 1e6 else . end))'; }

questions() {
    ask "$1 hourly counts" \
        '{"site_id": 9, "metrics": ["count"], "date_range": ["2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z"], "interval": "hour", "timezone": "UTC"}' \
        --from 2026-11-01T00:00:00Z --to 2026-11-03T00:00:00Z --bucket hour
    ask "$1 days in the site's zone, dates inclusive" \
        '{"site_id": 9, "metrics": ["count", "users", "sessions"], "date_range": ["2026-11-01", "2026-11-03"], "interval": "day"}' \
        --from 2026-10-31T23:00:00Z --to 2026-11-03T23:00:00Z --bucket day --tz Europe/Berlin \
        --metric count --metric users --metric sessions
    ask "$1 filters and top pages" \
        '{"site_id": 9, "metrics": ["count", "users"], "date_range": ["2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"], "timezone": "UTC", "filters": [["is", "event", ["page_view"]], ["is", "country", ["US", "DE"]]], "dimensions": ["page"], "limit": 10}' \
        --from 2026-11-01T00:00:00Z --to 2026-11-04T00:00:00Z --bucket total --event page_view \
        --where country=US,DE --group-by page --top 10 --metric count --metric users
    ask "$1 exact users by device per day" \
        '{"site_id": 9, "metrics": ["visitors", "sum:value", "max:value"], "date_range": ["2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"], "interval": "day", "timezone": "UTC", "dimensions": ["device"], "exact": true}' \
        --from 2026-11-01T00:00:00Z --to 2026-11-04T00:00:00Z --bucket day --group-by device \
        --exact --metric users --metric sum:value --metric max:value
    ask "$1 visits, new and returning users by day in the site's zone" \
        '{"site_id": 9, "metrics": ["visits", "bounce_rate", "visit_duration", "pages_per_visit", "new_users", "returning_users"], "date_range": ["2026-11-01", "2026-11-03"], "interval": "day"}' \
        --from 2026-10-31T23:00:00Z --to 2026-11-03T23:00:00Z --bucket day --tz Europe/Berlin \
        --metric visits --metric bounce_rate --metric visit_duration --metric pages_per_visit \
        --metric new_users --metric returning_users
    ask "$1 entry pages of visits from US and DE" \
        '{"site_id": 9, "metrics": ["visits", "bounce_rate"], "date_range": ["2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"], "timezone": "UTC", "filters": [["is", "country", ["US", "DE"]]], "dimensions": ["entry_page"], "limit": 10}' \
        --from 2026-11-01T00:00:00Z --to 2026-11-04T00:00:00Z --bucket total --where country=US,DE \
        --group-by entry_page --top 10 --metric visits --metric bounce_rate
    ask "$1 exit pages (Plausible's name) of visits with a purchase, by day" \
        '{"site_id": 9, "metrics": ["visits", "visit_duration", "pages_per_visit"], "date_range": ["2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"], "interval": "day", "timezone": "UTC", "filters": [["is", "event", ["purchase"]]], "dimensions": ["visit:exit_page"]}' \
        --from 2026-11-01T00:00:00Z --to 2026-11-04T00:00:00Z --bucket day --event purchase \
        --group-by exit_page --metric visits --metric visit_duration --metric pages_per_visit
}
questions "tail:"
check_status "maintenance" 200 POST /api/v1/maintenance -H "$ADMIN"
check "compacted all" 20000 "$(jq .events_compacted "$T/body")"
questions "compacted:"

check_status "relative range" 200 POST /api/v1/query -H "Authorization: Bearer $QK9" \
    -d '{"site_id": 9, "metrics": ["count"], "date_range": "7d", "interval": "day"}'
check "7 days" 7 "$(jq '.results | length' "$T/body")"
check_status "admin queries any merchant" 200 POST /api/v1/query -H "$ADMIN" \
    -d '{"site_id": 19, "metrics": ["count"], "date_range": ["2026-11-01", "2026-11-03"]}'
check "merchant 19 total" \
    "$("$TSAGG_QUERY" "$S" -m 19 --from 2026-11-01 --to 2026-11-04 -b total -f csv | tail -1 | cut -d, -f2)" \
    "$(jq '.results[0].metrics[0]' "$T/body")"

# Dates are the zone's calendar days, at both ends of the offsets (+14 and
# -10 share their midnights' UTC times; only the date tells them apart).
for zone_start in Pacific/Kiritimati=2026-10-31T10:00:00Z Pacific/Honolulu=2026-11-01T10:00:00Z \
        Pacific/Tongatapu=2026-10-31T11:00:00Z Pacific/Pago_Pago=2026-11-01T11:00:00Z \
        Asia/Kolkata=2026-10-31T18:30:00Z America/St_Johns=2026-11-01T02:30:00Z; do
    zone=${zone_start%=*}
    req POST /api/v1/query -H "Authorization: Bearer $QK9" >/dev/null -d "{\"site_id\": 9, \"metrics\": [\"count\"], \"date_range\": [\"2026-11-01\", \"2026-11-01\"], \"interval\": \"day\", \"timezone\": \"$zone\"}"
    check "2026-11-01 in $zone" "${zone_start#*=} 1" "$(jq -r '"\(.results[0].time) \(.results | length)"' "$T/body")"
done

# --- self-repair: a damaged partition file is answered 503 naming it, its
# span is rebuilt from the raw log, and the answer comes back as it was.
HOURLY='{"site_id": 9, "metrics": ["count", "users"], "date_range": ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"], "interval": "hour", "timezone": "UTC"}'
req POST /api/v1/query -H "Authorization: Bearer $QK9" -d "$HOURLY" >/dev/null
jq -c .results "$T/body" > "$T/before.json"
stop_server TERM
F=$(ls "$S"/parts/20261101T*.tpart | head -1) # the day's file, or its first hour's
size=$(stat -c %s "$F")
dd if=/dev/zero of="$F" bs=1 seek=$((size / 10)) count=$((size * 8 / 10)) conv=notrunc status=none
start_server "$S" --no-maintenance
check_status "a damaged file" 503 POST /api/v1/query -H "Authorization: Bearer $QK9" -d "$HOURLY"
check "named" 1 "$(jq -r --arg f "${F##*/}" '.error | contains($f) | if . then 1 else 0 end' "$T/body")"
for i in $(seq 50); do
    [ "$(req POST /api/v1/query -H "Authorization: Bearer $QK9" -d "$HOURLY")" = 200 ] && break
    sleep 0.1
done
check "rebuilt: the same answer" "$(cat "$T/before.json")" "$(jq -c .results "$T/body")"
req GET /metrics >/dev/null
check "rebuild counted" "tsagg_server_rebuilds_total 1" "$(grep '^tsagg_server_rebuilds_total' "$T/body")"

# --- a damaged frame in the log not yet compacted. The server's handle
# answers from its head, in memory since the events came in: all of them. A
# read-only handle (tsagg-query) reads the log: it counts what comes before
# the damage and says so, naming the file; so does the server at its next
# start (not tried here: a damaged durable frame in the last segment stops
# a writer's open until tsagg-verify --salvage).
batch() { # N ID0: N events of merchant 9 on 2026-11-05, one request
    local i
    for i in $(seq "$2" $(($2 + $1 - 1))); do
        echo "{\"ts\":\"2026-11-05T12:00:00Z\",\"merchant\":9,\"event\":\"signup\",\"user\":\"d-$i\",\"id\":$i}"
    done > "$T/batch.ndjson"
    check_status "batch at $2" 200 POST /api/v1/events -H "$ADMIN" --data-binary @"$T/batch.ndjson"
}
NOV5='{"site_id": 9, "metrics": ["count"], "date_range": ["2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z"], "interval": "total", "timezone": "UTC"}'
batch 10 900001
SEG=$S/log/$(ls "$S/log" | grep '\.tlog$' | tail -1)
at=$(stat -c %s "$SEG")
batch 20 900011
batch 30 900031
printf '\x55' | dd of="$SEG" bs=1 seek=$((at + 56 + 3)) conv=notrunc status=none
check_status "a damaged tail" 200 POST /api/v1/query -H "Authorization: Bearer $QK9" -d "$NOV5"
check "the server's head counts every event" 60 "$(jq '.results[0].metrics[0]' "$T/body")"
rc=0
"$TSAGG_QUERY" "$S" -m 9 --from 2026-11-05 --to 2026-11-06 -b total -f csv >"$T/ro.csv" 2>"$T/ro.err" ||
    rc=$?
check "tsagg-query: a partial answer" 1 "$rc"
check "tsagg-query: counted up to the damage" 10 "$(tail -1 "$T/ro.csv" | cut -d, -f2)"
check "tsagg-query: the warning names the segment" 1 \
    "$(grep -c -- "${SEG##*/}: .*at offset $at;.*not counted" "$T/ro.err")"
# A range the damaged frame's header places it outside of is answered whole.
check_status "another day" 200 POST /api/v1/query -H "Authorization: Bearer $QK9" -d "$HOURLY"
check "another day has no warning" null "$(jq .meta.warning "$T/body")"

# --- errors
bad() { # NAME STATUS WORD BODY [KEY]: the error names WORD
    check_status "$1" "$2" POST /api/v1/query -H "Authorization: Bearer ${5:-$QK9}" -d "$4"
    check "$1 names $3" 1 "$(jq -r --arg w "$3" '.error | contains($w) | if . then 1 else 0 end' "$T/body")"
}
R='"date_range": ["2026-11-01", "2026-11-02"]'
bad "another merchant's key" 403 "site 19" "{\"site_id\": 9, \"metrics\": [\"count\"], $R}" "$QK19"
check_status "no key" 401 POST /api/v1/query -d "{\"site_id\": 9, \"metrics\": [\"count\"], $R}"
check_status "unknown key" 401 POST /api/v1/query -H "Authorization: Bearer qk_x" -d '{}'
check_status "an ingest key" 403 POST /api/v1/query -H "Authorization: Bearer $IK9" -d '{}'
bad "bad JSON" 400 "invalid JSON" '{"site_id": 9,'
bad "not an object" 400 "object" '[1]'
bad "no site_id" 400 site_id "{\"metrics\": [\"count\"], $R}"
bad "unknown field" 400 "'colour'" "{\"site_id\": 9, \"colour\": 1, \"metrics\": [\"count\"], $R}"
bad "no metrics" 400 metrics "{\"site_id\": 9, $R}"
bad "unknown metric" 400 "metrics[1]" "{\"site_id\": 9, \"metrics\": [\"count\", \"bounce\"], $R}"
bad "unknown measure" 400 "metrics[0]" "{\"site_id\": 9, \"metrics\": [\"sum:price\"], $R}"
bad "no range" 400 date_range '{"site_id": 9, "metrics": ["count"]}'
bad "bad range word" 400 date_range '{"site_id": 9, "metrics": ["count"], "date_range": "fortnight"}'
bad "bad date" 400 "date_range[1]" '{"site_id": 9, "metrics": ["count"], "date_range": ["2026-11-01", "2026-13-45"]}'
bad "reversed range" 400 date_range '{"site_id": 9, "metrics": ["count"], "date_range": ["2026-11-02", "2026-11-01"]}'
bad "bad interval" 400 interval "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"interval\": \"fortnight\"}"
bad "bad time zone" 400 "Mars/Olympus" "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"timezone\": \"Mars/Olympus\"}"
bad "bad filter operator" 400 "filters[0][0]" "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"filters\": [[\"contains\", \"page\", [\"/a\"]]]}"
bad "bad filter field" 400 "filters[0][1]" "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"filters\": [[\"is\", \"colour\", [\"red\"]]]}"
bad "empty filter values" 400 "filters[0][2]" "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"filters\": [[\"is\", \"page\", []]]}"
bad "two dimensions" 400 dimensions "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"dimensions\": [\"page\", \"country\"]}"
bad "unknown dimension" 400 "dimensions[0]" "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"dimensions\": [\"colour\"]}"
bad "bad limit" 400 limit "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"limit\": 0}"
bad "bad exact" 400 exact "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"exact\": \"yes\"}"
bad "an event metric by entry page" 400 "metrics[0]" "{\"site_id\": 9, \"metrics\": [\"count\"], $R, \"dimensions\": [\"entry_page\"]}"
bad "users by exit page" 400 "'metrics[1]': only visits" "{\"site_id\": 9, \"metrics\": [\"bounce_rate\", \"users\"], $R, \"dimensions\": [\"visit:exit_page\"]}"
bad "visits by event" 400 "dimensions[0]" "{\"site_id\": 9, \"metrics\": [\"count\", \"bounce_rate\"], $R, \"dimensions\": [\"event\"]}"
bad "an unknown visit dimension" 400 "dimensions[0]" "{\"site_id\": 9, \"metrics\": [\"visits\"], $R, \"dimensions\": [\"visit:landing\"]}"
bad "too many buckets" 400 "bucket" '{"site_id": 9, "metrics": ["count"], "date_range": ["2000-01-01", "2026-01-01"], "interval": "minute"}'
finish
