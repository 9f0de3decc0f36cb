#!/bin/bash
# Accepted means durable: clients send events over every protocol while the
# server is SIGKILLed at random moments (with background compaction on) and
# restarted, and finally stopped with SIGTERM under the same load. Every page a client sent is unique; afterwards every
# acknowledged one is counted exactly once, an unacknowledged one at most
# once, and the NDJSON batch that was in flight at a kill, sent again after
# the restart with the same event ids, counts once.
. "$(dirname "$0")/lib.sh"

ROUNDS=${KILL_ROUNDS:-4}
SEED=${KILL_SEED:-$(date +%s)}
echo "seed $SEED"
RANDOM=$SEED
S=$T/store
start_server "$S" --compact-events 300 --compact-age 1
new_site 1 kill.example
IK=$(site_field 1 ingest_key); QK=$(site_field 1 query_key)
MID=$(site_field 1 measurement_id); SECRET=$(site_field 1 api_secret)
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
: > "$T/acked"; : > "$T/sent"

# client PROTO ROUND: up to 150 requests, stopping at the first failure.
client() {
    local proto=$1 round=$2 n code page
    for n in $(seq 150); do
        page="/$proto/$round/$n"
        echo "$page" >> "$T/sent"
        case $proto in
        nd)
            # Five events, ids unique to the page: a resend is a retry.
            local base=$((round * 100000 + n * 10)) j ts
            ts=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
            for j in 1 2 3 4 5; do
                printf '{"ts":"%s","merchant":1,"event":"page_view","id":%d,"page":"%s/%d"}\n' \
                    "$ts" $((base + j)) "$page" "$j"
            done > "$T/nd-$round-$n"
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $IK" \
                --data-binary @"$T/nd-$round-$n" "$URL/api/v1/events" || true)
            if [ "$code" = 200 ]; then
                for j in 1 2 3 4 5; do echo "$page/$j" >> "$T/acked"; done
            else
                echo "$T/nd-$round-$n" > "$T/inflight"; return
            fi
            continue ;;
        ga4)
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -d "{\"client_id\": \"c$n\",
                \"events\": [{\"name\": \"page_view\", \"params\": {\"page_location\": \"https://kill.example$page\"}}]}" \
                "$URL/mp/collect?measurement_id=$MID&api_secret=$SECRET" || true) ;;
        ua)
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -A "$UA" \
                -d "v=1&tid=UA-1-1&cid=$n&t=pageview&dp=$page" "$URL/collect" || true) ;;
        pl)
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -A "$UA" \
                -d "{\"n\":\"pageview\",\"u\":\"https://kill.example$page\",\"d\":\"kill.example\"}" \
                "$URL/api/event" || true) ;;
        esac
        case $code in 2??) echo "$page" >> "$T/acked" ;; *) return ;; esac
    done
}

for round in $(seq "$ROUNDS"); do
    if [ "$round" -gt 1 ]; then
        start_server "$S" --compact-events 300 --compact-age 1
        if [ -s "$T/inflight" ]; then
            # The batch a kill cut off, sent again as a client retries.
            f=$(cat "$T/inflight")
            check "retry after round $((round - 1))" 200 "$(req POST /api/v1/events -H "Authorization: Bearer $IK" --data-binary @"$f")"
            sed -n 's/.*"page":"\([^"]*\)".*/\1/p' "$f" >> "$T/acked"
            : > "$T/inflight"
        fi
    fi
    pids=()
    for proto in nd ga4 ua pl; do client "$proto" "$round" & pids+=($!); done
    sleep "0.$((RANDOM % 7 + 3))"
    if [ "$round" -lt "$ROUNDS" ]; then
        kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
    else
        # The last round ends with SIGTERM under load: requests in flight
        # are answered (or refused), the store closed cleanly.
        stop_server TERM
        check "SIGTERM under load: exit status" 0 "$STOP_RC"
    fi
    wait "${pids[@]}" || true
done

start_server "$S" --no-maintenance
check_status "compact and merge" 200 POST /api/v1/maintenance -H "$ADMIN"
check_status "pages" 200 POST /api/v1/query -H "Authorization: Bearer $QK" \
    -d '{"site_id": 1, "metrics": ["count"], "date_range": "day", "timezone": "UTC", "dimensions": ["page"]}'
jq -r '.results[] | "\(.dimensions[0]) \(.metrics[0])"' "$T/body" | sort > "$T/stored"
sort -u "$T/acked" > "$T/acked.sorted"
echo "$(wc -l < "$T/acked.sorted") pages acknowledged, $(wc -l < "$T/stored") stored"
check "some events acknowledged in every round" 1 "$([ "$(wc -l < "$T/acked.sorted")" -ge $((ROUNDS * 8)) ] && echo 1 || echo 0)"
check "no page counted twice" "" "$(awk '$2 != 1' "$T/stored" | head -5)"
check "every acknowledged page stored" "" "$(join -v1 "$T/acked.sorted" <(cut -d' ' -f1 "$T/stored") | head -5)"
stop_server TERM
check "clean stop" 0 "$STOP_RC"
finish
