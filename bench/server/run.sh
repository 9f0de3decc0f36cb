#!/bin/bash
# Load benchmark of tsagg-server on loopback with wrk (Debian's): single
# events per request over keep-alive (Plausible), events through /batch
# (UA, 20 per request) and /api/v1/events (1000 per request), queries, and
# queries while single events arrive, during the compaction of the backlog
# the batched parts leave and after it. Prints wrk's requests/s and latency
# percentiles for each, and the CPU time per request of the server (all
# its threads, and the offload threads alone: a query's own work, where
# the server's total also holds the events arriving beside it) and of wrk;
# docs/benchmarks.md keeps a run.
#
#   bench/server/run.sh [BUILD_DIR] [SECONDS]    (default build, 10)
#
# SERVER_ARGS, if set, adds options to tsagg-server's command line (for
# example SERVER_ARGS="--maintenance-nice 0").
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
SECS=${2:-10}
SERVER=$BUILD/examples/server/tsagg-server
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (apt-get install time)" >&2; exit 2; }
[ -x "$SERVER" ] || { echo "$SERVER: not built" >&2; exit 2; }

T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -KILL $PID 2>/dev/null; rm -rf "$T"' EXIT
export TSAGG_ADMIN_KEY=bench-admin-key-0123456789
# shellcheck disable=SC2086 # SERVER_ARGS: words
"$SERVER" "$T/store" --listen 127.0.0.1:0 --max-per-ip 1024 ${SERVER_ARGS:-} >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 100); do grep -q '^listening on' "$T/out" && break; sleep 0.05; done
URL="http://$(sed -n 's/^listening on //p' "$T/out")"
# Merchant 1 takes the load; merchant 2 has a week of history (300,000
# events, tsagg-gen's busiest merchant) that the queries read.
curl -s -H "Authorization: Bearer $TSAGG_ADMIN_KEY" \
    -d '{"merchant": 1, "domain": "bench.example"}' "$URL/api/v1/sites" > "$T/site1.json"
curl -s -H "Authorization: Bearer $TSAGG_ADMIN_KEY" \
    -d '{"merchant": 2, "domain": "history.example"}' "$URL/api/v1/sites" > "$T/site2.json"
IK=$(jq -r .ingest_key "$T/site1.json"); QK=$(jq -r .query_key "$T/site2.json")
"$BUILD/tools/tsagg-gen" -n 300000 -d 7 -m 1 --start "$(date -u -d '-6 days' +%Y-%m-%dT00:00:00Z)" |
    sed 's/"merchant":[0-9]*/"merchant":2/' > "$T/week.ndjson"
split -l 30000 "$T/week.ndjson" "$T/part."
for f in "$T"/part.*; do
    curl -s -o /dev/null -H "Authorization: Bearer $TSAGG_ADMIN_KEY" --data-binary @"$f" \
        "$URL/api/v1/events"
done
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TSAGG_ADMIN_KEY" "$URL/api/v1/maintenance"

# CPU time the server has used, in µs (all its threads).
TICK_US=$((1000000 / $(getconf CLK_TCK)))
server_cpu_us() { awk -v t="$TICK_US" '{ print ($14 + $15) * t }' "/proc/$PID/stat"; }
# The same for the threads named offload (queries, batches, admin).
offload_cpu_us() {
    local task total=0
    for task in /proc/$PID/task/*; do
        [ "$(cat "$task/comm" 2>/dev/null)" = offload ] || continue
        total=$((total + $(awk -v t="$TICK_US" '{ print ($14 + $15) * t }' "$task/stat")))
    done
    echo $total
}

# Throughput on a machine that others share moves with their load; the CPU
# time spent per request by the server and by wrk does much less, and says
# what two CPUs of their own would carry: 2 s / (server + wrk) per second.
run() { # NAME EVENTS-PER-REQUEST WRK-ARGS...
    local name=$1 per=$2 cpu0 off0
    shift 2
    cpu0=$(server_cpu_us)
    off0=$(offload_cpu_us)
    /usr/bin/time -f "%U %S" -o "$T/wrk.cpu" wrk --latency -d "${SECS}s" "$@" > "$T/wrk.out"
    awk -v name="$name" -v per="$per" -v server_us=$(($(server_cpu_us) - cpu0)) \
        -v offload_us=$(($(offload_cpu_us) - off0)) \
        -v wrk_us="$(awk '{ print ($1 + $2) * 1e6 }' "$T/wrk.cpu")" '
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
        /Non-2xx/ { bad = $NF }
        /Socket errors/ { errs = $0; sub(/^ *Socket errors: */, "", errs) }
        END { printf "%-28s %10.0f req/s %12.0f events/s  p50 %-9s p99 %-9s" \
                     "CPU/request: server %6.1f us (offload %6.1f), wrk %5.1f us%s%s\n",
              name, rps, rps * per * (n - bad) / n, p50, p99, server_us / n, offload_us / n,
              wrk_us / n,
              bad ? "  non-2xx " bad : "", errs ? "  socket errors: " errs : "" }' "$T/wrk.out"
}

echo "tsagg-server on $(nproc) CPUs, ${SECS}s per run"
# Queries first, on the compacted history alone (queries read the log tail
# not yet compacted, and the ingest runs below fill the same hours).
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TSAGG_ADMIN_KEY" "$URL/api/v1/maintenance"
TSAGG_BENCH_KEY=$QK run "query" 0 -t2 -c4 -s "$HERE/query.lua" "$URL/api/v1/query"
run "single event (plausible)" 1 -t2 -c256 -s "$HERE/plausible.lua" "$URL/api/event"
run "UA /batch, 20 per request" 20 -t2 -c256 -s "$HERE/batch.lua" "$URL/batch"
# Batches past the head's bound are answered 503 (Retry-After) until
# maintenance caught up: events/s counts the accepted ones, non-2xx the
# others.
TSAGG_BENCH_KEY=$IK run "/api/v1/events, 1000 per" 1000 -t2 -c16 -s "$HERE/events.lua" "$URL/api/v1/events"
# Both at once: single events in the background at the highest rate one
# wrk thread reaches, queries measured. Twice: first during the catch-up of
# the backlog the batched parts above leave (millions of events appended
# faster than compaction goes, which maintenance compacts meanwhile), then
# once maintenance has compacted what is left (the time that takes is
# printed).
tail_events() { curl -s "$URL/metrics" | awk '$1 == "tsagg_server_tail_events" { print $2 }'; }
mixed() { # NAME
    wrk -d "${SECS}s" -t1 -c32 -s "$HERE/plausible.lua" "$URL/api/event" > "$T/ingest.out" &
    local wrk_pid=$!
    # A query held for seconds counts in the percentiles (wrk's default
    # timeout, 2 s, would leave it out as a socket error).
    TSAGG_BENCH_KEY=$QK run "$1" 0 -t1 -c4 --timeout 30s -s "$HERE/query.lua" "$URL/api/v1/query"
    wait $wrk_pid
    awk '/Requests\/sec/ { printf "%-28s %10.0f req/s (alongside)\n", "  single events meanwhile", $2 }' "$T/ingest.out"
}
printf "%-28s %10s events\n" "backlog left to compact" "$(tail_events)"
mixed "query while catching up"
printf "%-28s %10s events\n" "  backlog left after it" "$(tail_events)"
t0=$(date +%s.%N)
for _ in $(seq 200); do
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $TSAGG_ADMIN_KEY" "$URL/api/v1/maintenance"
    [ "$(tail_events)" = 0 ] && break
done
awk -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%-28s %10.1f s\n", "compacting what is left", t1 - t0 }'
mixed "query while ingesting"
kill -TERM $PID; wait $PID || true; PID=
