#!/bin/bash
# Slow requests do not hold up the others: with one HTTP thread, a
# maintenance pass that compacts 300,000 events runs while a tracker's hit
# on another connection is answered; the hit's answer comes first. (Run on
# the HTTP thread, the pass would hold every connection of that thread
# until it ended.) Then SIGTERM while a pass runs: it finishes and is
# answered before the server stops. The threads are named.
. "$(dirname "$0")/lib.sh"
: "${TSAGG_GEN:?}"

# threads_named NAME: how many of the server's threads carry that name.
threads_named() {
    local t n=0
    for t in /proc/"$SERVER_PID"/task/*; do
        [ "$(cat "$t/comm")" = "$1" ] && n=$((n + 1))
    done
    echo "$n"
}

# The threads are named for top -H and perf: as many offload threads as
# HTTP threads, one committer.
start_server "$T/store" --threads 2 --no-maintenance
check "offload threads" 2 "$(threads_named offload)"
check "the committer" 1 "$(threads_named commit)"
stop_server TERM

start_server "$T/store" --threads 1 --no-maintenance
new_site 1 slow.example
"$TSAGG_GEN" -n 300000 -d 1 -m 1 --start "$(date -u +%Y-%m-%dT00:00:00Z)" |
    sed 's/"merchant":[0-9]*/"merchant":1/' > "$T/events.ndjson"
split -l 30000 "$T/events.ndjson" "$T/part."
for f in "$T"/part.*; do
    req POST /api/v1/events -H "$ADMIN" --data-binary @"$f" >/dev/null
done
check "events loaded" 300000 "$(curl -s --max-time 10 "$URL/metrics" |
    awk '/^tsagg_server_events_total.endpoint="events",result="accepted"/ { print $2 }')"

now_ms() { echo $(($(date +%s%N) / 1000000)); }


# maintenance_in_background: POST /api/v1/maintenance; its status and the
# time it was answered in $T/maint.
maintenance_in_background() {
    ( status=$(curl -s -o "$T/maint.body" -w '%{http_code}' --max-time 60 -X POST -H "$ADMIN" \
          "$URL/api/v1/maintenance"); echo "$status $(now_ms)" > "$T/maint" ) &
    MAINT_PID=$!
}

maintenance_in_background
sleep 0.1
check_status "a hit while compacting" 202 POST /api/event \
    -d '{"n":"pageview","u":"https://slow.example/during","d":"slow.example"}'
hit_done=$(now_ms)
wait "$MAINT_PID"
read -r maint_status maint_done < "$T/maint"
check "the pass" 200 "$maint_status"
check "the pass compacted the events loaded" true "$(jq -r '.events_compacted >= 300000' "$T/maint.body")"
check "the hit answered before the pass" 1 "$([ "$hit_done" -lt "$maint_done" ] && echo 1 || echo 0)"
echo "  hit answered at $hit_done ms, the pass at $maint_done ms"

# SIGTERM while a pass runs (after more events): answered, then a clean stop.
for f in "$T"/part.aa "$T"/part.ab "$T"/part.ac; do
    req POST /api/v1/events -H "$ADMIN" --data-binary @"$f" >/dev/null
done
maintenance_in_background
sleep 0.1
stop_server TERM
wait "$MAINT_PID"
read -r maint_status maint_done < "$T/maint"
check "the pass under way at SIGTERM answered" 200 "$maint_status"
check "clean stop" 0 "$STOP_RC"
finish
