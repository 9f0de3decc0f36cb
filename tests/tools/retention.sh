#!/bin/bash
# tsagg-compact --retention-days and --log-retention-days: old partitions
# and log segments go, nothing newer does; the log then starts later, which
# tsagg-verify accepts and tsagg-rebuild of the removed hours refuses.
#
# The binaries come from the environment (tools/meson.build sets them).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

store=$tmp/store
old=$(date -u -d '-200 days' +%Y-%m-%dT00:00:00Z)
new=$(date -u -d '-3 days' +%Y-%m-%dT00:00:00Z)
"$TSAGG_GEN" --events 20000 --days 5 --merchants 20 --late 0 --dup 0 --start "$old" >"$tmp/old.ndjson"
"$TSAGG_GEN" --events 10000 --days 2 --merchants 20 --late 0 --dup 0 --start "$new" --seed 2 >"$tmp/new.ndjson"
expect 0 "$TSAGG_INGEST" --quiet "$store" "$tmp/old.ndjson"
# --archive seals the segment of the old events: the new ones get their own.
expect 0 "$TSAGG_COMPACT" --quiet --archive "$store"
expect 0 "$TSAGG_INGEST" --quiet "$store" "$tmp/new.ndjson"
total() {
    "$TSAGG_QUERY" "$store" --all-merchants --from "$(date -u -d '-400 days' +%F)" \
        --to "$(date -u -d '+2 days' +%F)" --bucket total --format csv | tail -1 | cut -d, -f2
}

# Partitions only: the log keeps every event, so the hours can be rebuilt.
expect 0 "$TSAGG_COMPACT" --retention-days 30 --log-retention-days 0 "$store"
grep_in "$tmp/out" "retention: dropped 1 partition files (20000 rows) and 0 log segments; the log starts at sequence 1"
[ "$(total)" = 10000 ] || fail "after the partition retention: $(total) events, expected 10000"
ls "$store/log" | grep -q '^0000000000000001.tlog$' || fail "the log lost its first segment"

# And the log: its first segment held only old, compacted events.
expect 0 "$TSAGG_COMPACT" --retention-days 30 "$store"
grep_in "$tmp/out" "retention: dropped 0 partition files (0 rows) and 1 log segments; the log starts at sequence 20001"
ls "$store/log" | grep -q '^0000000000000001.tlog$' && fail "the first segment is still there"
[ "$(total)" = 10000 ] || fail "after the log retention: $(total) events, expected 10000"
expect 0 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" ": ok"
expect 3 "$TSAGG_REBUILD" "$store" --from "$old" --to "$(date -u -d '-199 days' +%F)"
grep_in "$tmp/err" "retention removed the log's segments before segment 2 (sequence 20001)"
expect 0 "$TSAGG_REBUILD" "$store" --from "$new" --to "$(date -u -d '+1 days' +%F)"
[ "$(total)" = 10000 ] || fail "after the rebuild: $(total) events, expected 10000"

# A first segment removed by hand is damage, not retention.
store2=$tmp/store2
expect 0 "$TSAGG_INGEST" --quiet "$store2" "$tmp/old.ndjson"
expect 0 "$TSAGG_COMPACT" --quiet --archive "$store2"
expect 0 "$TSAGG_INGEST" --quiet "$store2" "$tmp/new.ndjson"
rm "$store2/log/0000000000000001.tlog"
expect 1 "$TSAGG_VERIFY" "$store2"
grep_in "$tmp/out" "should start at segment 1 (sequence 1, as MANIFEST records), but its first segment is 2"

expect 2 "$TSAGG_COMPACT" --retention-days 0 "$store"
grep_in "$tmp/err" "--retention-days: expected a number of days, 1 to 3660000, not '0'"
expect 2 "$TSAGG_COMPACT" --log-retention-days x "$store"
finish "retention"
