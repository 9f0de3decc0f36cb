#!/bin/bash
# The server's own API from curl: health, limits, the sites and their keys
# (401/403 rules, persistence across a restart), NDJSON events (accepted,
# rejected lines, another merchant's key, oversize bodies), metrics, and a
# clean stop on SIGTERM and SIGINT.
. "$(dirname "$0")/lib.sh"

S=$T/store
start_server "$S"

check_status "healthz" 200 GET /healthz
check "healthz body" ok "$(jq -r .status "$T/body")"
check_status "unknown path" 404 GET /nope
check_status "wrong method" 405 DELETE /healthz

# --- sites and keys
check_status "sites without a key" 401 GET /api/v1/sites
check_status "sites with a wrong key" 401 GET /api/v1/sites -H "Authorization: Bearer nope"
new_site 42 shop.example Europe/Berlin
new_site 7 other.example
check "site fields" "42 shop.example Europe/Berlin UA-42-1" \
    "$(jq -r '"\(.merchant) \(.domain) \(.timezone) \(.ua_tid)"' "$T/site-42.json")"
check "GA4 measurement id shape" 1 "$(jq -r '.measurement_id | test("^G-[A-Z0-9]{10}$") | if . then 1 else 0 end' "$T/site-42.json")"
check "keys differ" 1 "$(jq -r 'if .query_key != .ingest_key then 1 else 0 end' "$T/site-42.json")"
QK42=$(site_field 42 query_key); IK42=$(site_field 42 ingest_key); IK7=$(site_field 7 ingest_key)
check_status "site key on the admin API" 403 GET /api/v1/sites -H "Authorization: Bearer $QK42"
check_status "duplicate merchant" 409 POST /api/v1/sites -H "$ADMIN" \
    -d '{"merchant": 42, "domain": "x.example"}'
check_status "duplicate domain" 409 POST /api/v1/sites -H "$ADMIN" \
    -d '{"merchant": 43, "domain": "shop.example"}'
check_status "bad JSON" 400 POST /api/v1/sites -H "$ADMIN" -d '{"merchant": 1,'
check "bad JSON says where" 1 "$(jq -r '.error | test("invalid JSON at line 1") | if . then 1 else 0 end' "$T/body")"
check_status "bad domain" 400 POST /api/v1/sites -H "$ADMIN" -d '{"merchant": 3, "domain": "A B"}'
check "bad domain named" 1 "$(jq -r '.error | test("domain") | if . then 1 else 0 end' "$T/body")"
check_status "bad time zone" 400 POST /api/v1/sites -H "$ADMIN" \
    -d '{"merchant": 3, "domain": "c.example", "timezone": "Mars/Olympus"}'
check_status "negative merchant" 400 POST /api/v1/sites -H "$ADMIN" -d '{"merchant": -1, "domain": "d.example"}'
check_status "unknown field" 400 POST /api/v1/sites -H "$ADMIN" -d '{"merchant": 3, "domain": "d.example", "x": 1}'
check_status "oversize admin body" 413 POST /api/v1/sites -H "$ADMIN" \
    --data-binary @<(head -c 70000 /dev/zero | tr '\0' ' ')
check_status "list sites" 200 GET /api/v1/sites -H "$ADMIN"
check "two sites" "7 42" "$(jq -r '[.sites[].merchant] | sort | map(tostring) | join(" ")' "$T/body")"
check_status "get one site" 200 GET /api/v1/sites/7 -H "$ADMIN"
check_status "get a missing site" 404 GET /api/v1/sites/99 -H "$ADMIN"
new_site 9 gone.example
check_status "delete a site" 204 DELETE /api/v1/sites/9 -H "$ADMIN"
check_status "delete it again" 404 DELETE /api/v1/sites/9 -H "$ADMIN"
check "sites file is private" 600 "$(stat -c %a "$S/server-sites.json")"

# --- events
ev() { printf '{"ts":"2026-11-01T10:%02d:00Z","merchant":%s,"event":"page_view","user":"u%s","page":"/p%s","id":%s}\n' "$1" "$2" "$1" "$1" "$1"; }
{ for i in 1 2 3; do ev $i 42; done; echo 'not json'; ev 4 7; echo; ev 5 42; } > "$T/ev.ndjson"
check_status "events without a key" 401 POST /api/v1/events --data-binary @"$T/ev.ndjson"
check_status "events with a query key" 403 POST /api/v1/events -H "Authorization: Bearer $QK42" --data-binary @"$T/ev.ndjson"
check_status "events with an unknown key" 401 POST /api/v1/events -H "Authorization: Bearer ik_nope" --data-binary @"$T/ev.ndjson"
check_status "events" 200 POST /api/v1/events -H "Authorization: Bearer $IK42" --data-binary @"$T/ev.ndjson"
check "accepted" 4 "$(jq .accepted "$T/body")"
check "rejected lines" "4 5" "$(jq -r '[.rejected[].line] | map(tostring) | join(" ")' "$T/body")"
check "bad JSON reason" 1 "$(jq -r '.rejected[0].error | test("invalid JSON") | if . then 1 else 0 end' "$T/body")"
check "another merchant's event" 1 "$(jq -r '.rejected[1].error | test("field .merchant.: expected 42") | if . then 1 else 0 end' "$T/body")"
check_status "events of merchant 7 with its key" 200 POST /api/v1/events -H "Authorization: Bearer $IK7" --data-binary @<(ev 4 7)
check "accepted for 7" 1 "$(jq .accepted "$T/body")"
check_status "admin sends for any merchant" 200 POST /api/v1/events -H "$ADMIN" --data-binary @<(ev 6 42; ev 6 7)
check "accepted by admin" 2 "$(jq .accepted "$T/body")"
check_status "empty body" 400 POST /api/v1/events -H "Authorization: Bearer $IK42" --data-binary ''
seq 100001 | sed 's/.*/{}/' > "$T/many.ndjson"
check_status "too many events" 413 POST /api/v1/events -H "Authorization: Bearer $IK42" --data-binary @"$T/many.ndjson"
head -c 9000000 /dev/zero | tr '\0' 'x' > "$T/big"
check_status "oversize body" 413 POST /api/v1/events -H "Authorization: Bearer $IK42" --data-binary @"$T/big"
check_status "oversize chunked body" 413 POST /api/v1/events -H "Authorization: Bearer $IK42" \
    -H "Transfer-Encoding: chunked" --data-binary @"$T/big"
check_status "healthz after all that" 200 GET /healthz
check "durable" 7 "$(jq .durable_seq "$T/body")"

# --- metrics
check_status "metrics" 200 GET /metrics
check "events counted" 'tsagg_server_events_total{endpoint="events",result="accepted"} 7' \
    "$(grep 'endpoint="events",result="accepted"' "$T/body")"
check "no merchant labels" 0 "$(grep -c 'merchant' "$T/body" || true)"

# --- a clean stop keeps everything; the sites survive the restart
stop_server TERM
check "SIGTERM exit status" 0 "$STOP_RC"
grep -q "durable up to seq 7" "$T/server.err" && check "stopped durable" ok ok || check "stopped durable" ok no
start_server "$S"
check_status "sites after a restart" 200 GET /api/v1/sites -H "$ADMIN"
check "sites kept" "7 42" "$(jq -r '[.sites[].merchant] | sort | map(tostring) | join(" ")' "$T/body")"
check_status "keys still work" 200 POST /api/v1/events -H "Authorization: Bearer $IK42" --data-binary @<(ev 8 42)
stop_server INT
check "SIGINT exit status" 0 "$STOP_RC"

# --- background compaction: the tail is compacted once it is old enough
start_server "$S" --compact-events 1000000 --compact-age 1
check_status "events to compact" 200 POST /api/v1/events -H "Authorization: Bearer $IK42" --data-binary @<(ev 9 42)
for i in $(seq 50); do
    req GET /metrics >/dev/null
    # The pass is counted when its merge is done, after the tail emptied.
    grep -q '^tsagg_server_tail_events 0$' "$T/body" &&
        grep -q '^tsagg_server_compactions_total [1-9]' "$T/body" && break
    sleep 0.1
done
check "tail compacted in the background" "tsagg_server_tail_events 0" "$(grep '^tsagg_server_tail_events' "$T/body")"
check "compaction counted" 1 "$(awk '/^tsagg_server_compactions_total/ {print ($2 >= 1)}' "$T/body")"
check "partition files counted" 1 "$(awk '/^tsagg_server_partition_files/ {print ($2 >= 1)}' "$T/body")"
check_status "maintenance needs the admin key" 403 POST /api/v1/maintenance -H "Authorization: Bearer $QK42"
check_status "maintenance on demand" 200 POST /api/v1/maintenance -H "$ADMIN"
check "nothing left to compact" 0 "$(jq .events_compacted "$T/body")"
check "metrics: maintenance healthy" "tsagg_server_maintenance_failing 0" \
    "$(req GET /metrics >/dev/null; grep '^tsagg_server_maintenance_failing' "$T/body")"
# --maintenance-nice: its thread, and only it, that many nice levels below
# the server's (the 19th field of a thread's stat, after the name's
# parenthesis).
stop_server TERM
start_server "$S" --maintenance-nice 3
base_nice=$(sed 's/.*) //' /proc/$SERVER_PID/stat | cut -d' ' -f17)
check "one thread at nice +3" 1 \
    "$(for f in /proc/"$SERVER_PID"/task/*/stat; do sed 's/.*) //' "$f" | cut -d' ' -f17; done | grep -cx "$((base_nice + 3))")"
stop_server TERM
rc=0; "$TSAGG_SERVER" "$S" --listen 127.0.0.1:0 --maintenance-nice 20 >/dev/null 2>"$T/nice.err" || rc=$?
check "--maintenance-nice 20 refused" 2 "$rc"
check "the refusal names the option" 1 "$(grep -c -- '--maintenance-nice' "$T/nice.err")"

# --- backpressure: past the head's bound, batches wait for maintenance
# (503 and Retry-After), and are taken again once it caught up. A batch
# of 30,000 events takes the head far past 1 MiB; the one sent right
# after it finds maintenance still compacting them.
: "${TSAGG_GEN:?}" "${TSAGG_INGEST:?}" "${TSAGG_QUERY:?}"
start_server "$T/store3" --head-memory 1 --compact-events 100000000 --compact-age 86400
"$TSAGG_GEN" -n 30000 -d 1 -m 3 --start 2026-11-01T00:00:00Z > "$T/big.ndjson"
ev 1 42 > "$T/one.ndjson"
held=0
: > "$T/taken.ndjson" # what was answered 200, in order
for i in $(seq 10); do
    code=$(req POST /api/v1/events -H "$ADMIN" --data-binary @"$T/big.ndjson")
    [ "$code" = 200 ] && cat "$T/big.ndjson" >> "$T/taken.ndjson"
    code=$(req POST /api/v1/events -H "$ADMIN" --data-binary @"$T/one.ndjson" -D "$T/headers")
    if [ "$code" = 503 ]; then held=1; break; fi
    [ "$code" = 200 ] && cat "$T/one.ndjson" >> "$T/taken.ndjson"
done
check "a batch held off while the head is past its bound" 1 "$held"
check "it says when to retry" 1 "$(grep -ci '^Retry-After: 1' "$T/headers")"
check "it says why" 1 "$(jq -r '.error | test("wait for compaction") | if . then 1 else 0 end' "$T/body")"
for i in $(seq 300); do
    code=$(req POST /api/v1/events -H "$ADMIN" --data-binary @"$T/one.ndjson")
    [ "$code" = 200 ] && break
    sleep 0.1
done
check "taken again once maintenance caught up" 200 "$code"
cat "$T/one.ndjson" >> "$T/taken.ndjson"
stop_server TERM
# The same events through tsagg-ingest: every batch answered 200, once.
"$TSAGG_INGEST" "$T/store3-ref" "$T/taken.ndjson" >/dev/null 2>&1
total() {
    "$TSAGG_QUERY" "$1" --all-merchants --from 2026-10-01T00:00:00Z --to 2026-12-01T00:00:00Z \
        --bucket total --metric count --format csv | tail -1
}
check "every batch answered 200 is in the store" "$(total "$T/store3-ref")" "$(total "$T/store3")"

# --- retention: events older than --retention-days go, newer ones stay
start_server "$T/store2" --retention-days 30
new_site 42 shop.example
old_ts=$(date -u -d '-100 days' +%Y-%m-%dT%H:00:00Z)
new_ts=$(date -u -d '-1 days' +%Y-%m-%dT%H:00:00Z)
for i in 1 2 3; do printf '{"ts":"%s","merchant":42,"event":"page_view","id":%s}\n' "$old_ts" $i; done >"$T/old.ndjson"
for i in 4 5; do printf '{"ts":"%s","merchant":42,"event":"page_view","id":%s}\n' "$new_ts" $i; done >>"$T/old.ndjson"
check_status "old and new events" 200 POST /api/v1/events -H "$ADMIN" --data-binary @"$T/old.ndjson"
check_status "maintenance with retention" 200 POST /api/v1/maintenance -H "$ADMIN"
check "old rows dropped" 3 "$(jq .rows_dropped "$T/body")"
check "files dropped" 1 "$(jq '.partitions_dropped >= 1 | if . then 1 else 0 end' "$T/body")"
check_status "count after retention" 200 POST /api/v1/query -H "$ADMIN" \
    -d "{\"site_id\": 42, \"metrics\": [\"count\"], \"interval\": \"total\", \"date_range\": [\"$(date -u -d '-200 days' +%F)\", \"$(date -u -d '+1 days' +%F)\"]}"
check "only the newer events are left" 2 "$(jq '.results[0].metrics[0]' "$T/body")"
req GET /metrics >/dev/null
check "retention counted" 1 "$(awk '/^tsagg_server_retention_dropped_total\{kind="partition"\}/ {print ($2 >= 1)}' "$T/body")"
stop_server TERM
check "bad --retention-days" 2 "$("$TSAGG_SERVER" "$S" --retention-days 0 2>/dev/null; echo $?)"

# --- bad command lines
check "no store" 2 "$("$TSAGG_SERVER" 2>/dev/null; echo $?)"
check "bad listen" 3 "$("$TSAGG_SERVER" "$S" --listen nonsense 2>/dev/null; echo $?)"
check "short admin key" 2 "$(TSAGG_ADMIN_KEY=short "$TSAGG_SERVER" "$S" 2>/dev/null; echo $?)"
check "too many threads" 2 "$("$TSAGG_SERVER" "$S" --threads 100000 2>/dev/null; echo $?)"
finish
