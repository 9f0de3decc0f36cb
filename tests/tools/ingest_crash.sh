#!/bin/bash
# tsagg-ingest killed (SIGKILL) in the middle of a load: the store opens,
# verifies clean, and holds exactly a prefix of the input, at least every
# batch an append returned for under --sync batch; loading can go on.
# Killed during --compact, the next compaction gives the answers of a
# clean load of that prefix.
#
# Environment: TSAGG_GEN TSAGG_INGEST TSAGG_QUERY TSAGG_VERIFY TSAGG_COMPACT.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BATCH=4096 # events per append (tools/ingest/loader.c)
# No retries: a query counts a retry once, and the checks below count lines.
"$TSAGG_GEN" --events 60000 --days 2 --merchants 30 --dup 0 >"$tmp/all.ndjson"
lines=$(wc -l <"$tmp/all.ndjson")

# Hourly counts of every merchant over the sample's range, log tail included.
counts() {
    "$TSAGG_QUERY" "$1" --all-merchants --from 2026-09-29 --to 2026-10-04 \
        --metric count --format csv
}
total() {
    "$TSAGG_QUERY" "$1" --all-merchants --from 2026-09-29 --to 2026-10-04 \
        --bucket total --format csv | tail -1 | cut -d, -f2
}

# The store must hold the first n lines of the input, exactly; sets n.
check_prefix() {
    local store=$1 what=$2
    n=""
    "$TSAGG_VERIFY" -q "$store" >"$tmp/verify.out" 2>&1 ||
        { fail "$what: verify: $(cat "$tmp/verify.out")"; return; }
    n=$(total "$store")
    [ "$n" -le "$lines" ] || { fail "$what: $n events from $lines lines"; n=""; return; }
    rm -rf "$tmp/ref"
    head -n "$n" "$tmp/all.ndjson" | "$TSAGG_INGEST" --quiet "$tmp/ref" - ||
        { fail "$what: reference load"; return; }
    cmp -s <(counts "$store") <(counts "$tmp/ref") ||
        fail "$what: the store's $n events are not the first $n lines"
}

# 1. Killed while blocked on input, under --sync batch: every full batch
#    before the pause was appended, so it is durable.
first=$((3 * BATCH + 1000))
rm -rf "$tmp/s1"
mkfifo "$tmp/fifo"
"$TSAGG_INGEST" --quiet --sync batch "$tmp/s1" - <"$tmp/fifo" &
pid=$!
exec 3>"$tmp/fifo"
head -n "$first" "$tmp/all.ndjson" >&3
# Wait until the full batches are durable: the log grows, then settles.
for _ in $(seq 1 100); do
    size=$(du -sb "$tmp/s1/log" 2>/dev/null | cut -f1 || echo 0)
    sleep 0.1
    [ "$size" -gt 100000 ] && [ "$size" = "$(du -sb "$tmp/s1/log" | cut -f1)" ] && break
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
exec 3>&-
check_prefix "$tmp/s1" "killed while waiting for input"
echo "killed while waiting for input: $n of $first events kept" >&2
[ -n "$n" ] && [ "$n" -ge $((3 * BATCH)) ] ||
    fail "killed while waiting for input: $n events, at least $((3 * BATCH)) were durable"

# The input in 12 slices 30 ms apart, so that a kill lands mid-load.
feed() {
    for i in $(seq 0 11); do
        sed -n "$((i * 5000 + 1)),$((i * 5000 + 5000))p" "$tmp/all.ndjson"
        sleep 0.03
    done
}

# 2. Killed at arbitrary moments of a load under each sync mode; then the
#    load goes on where a new run starts it.
for mode in batch interval none; do
    for delay in 0.05 0.15 0.3; do
        rm -rf "$tmp/s2"
        feed | "$TSAGG_INGEST" --quiet --sync "$mode" "$tmp/s2" - &
        pid=$!
        sleep "$delay"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        [ -e "$tmp/s2/tsagg.store" ] || continue # killed before the store existed
        check_prefix "$tmp/s2" "--sync $mode, killed after ${delay}s"
        [ -n "$n" ] || continue
        echo "--sync $mode, killed after ${delay}s: $n of $lines events kept" >&2
        # Load the rest: the store then holds the whole input once.
        tail -n +"$((n + 1))" "$tmp/all.ndjson" | "$TSAGG_INGEST" --quiet "$tmp/s2" - ||
            fail "--sync $mode: loading the rest after the kill"
        [ "$(total "$tmp/s2")" = "$lines" ] || fail "--sync $mode: not every line after resuming"
    done
done

# 3. tsagg-ingest --compact (a bulk load: months written while it loads,
#    published at the end) killed at moments of the load and of its end:
#    the store holds a prefix of the input, the next compaction removes
#    what the load wrote and gives the answers of a clean load of that
#    prefix, and verify finds every file sound.
"$TSAGG_GEN" --events 60000 --days 150 --merchants 30 --start 2025-01-01T00:00:00Z >"$tmp/year.ndjson"
ylines=$(wc -l <"$tmp/year.ndjson")
ycounts() {
    "$TSAGG_QUERY" "$1" --all-merchants --from 2024-12-01 --to 2025-07-01 --bucket day \
        --metric count --metric users --exact --format csv
}
yfeed() {
    for i in $(seq 0 11); do
        sed -n "$((i * 5000 + 1)),$((i * 5000 + 5000))p" "$tmp/year.ndjson"
        sleep 0.03
    done
}
for delay in 0.1 0.25 0.4 0.55 0.8; do
    rm -rf "$tmp/s3" "$tmp/ref3"
    yfeed | "$TSAGG_INGEST" --quiet --compact --sync none "$tmp/s3" - &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ -e "$tmp/s3/tsagg.store" ] || continue
    what="--compact, killed after ${delay}s"
    # The lines kept: the log's last sequence number (the store is new).
    n=$(: | "$TSAGG_INGEST" "$tmp/s3" - 2>&1 | sed -n 's/.*durable up to seq \([0-9]*\).*/\1/p')
    [ -n "$n" ] && [ "$n" -le "$ylines" ] || { fail "$what: '$n' events from $ylines lines"; continue; }
    "$TSAGG_COMPACT" --quiet "$tmp/s3" >"$tmp/compact.out" 2>&1 ||
        { fail "$what: tsagg-compact: $(cat "$tmp/compact.out")"; continue; }
    "$TSAGG_VERIFY" -q "$tmp/s3" >"$tmp/verify.out" 2>&1 ||
        fail "$what: verify: $(cat "$tmp/verify.out")"
    [ "$(find "$tmp/s3/parts" -name '*.tprun' -o -name '*.tmp' | wc -l)" = 0 ] ||
        fail "$what: runs or temporary files left in parts/"
    head -n "$n" "$tmp/year.ndjson" | "$TSAGG_INGEST" --quiet --compact "$tmp/ref3" - ||
        { fail "$what: reference load"; continue; }
    cmp -s <(ycounts "$tmp/s3") <(ycounts "$tmp/ref3") ||
        fail "$what: the store's $n events, compacted, are not the first $n lines"
    echo "$what: $n of $ylines events kept" >&2
done

finish "ingest crash"
