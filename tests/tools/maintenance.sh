#!/bin/bash
# tsagg-compact, tsagg-verify and tsagg-rebuild from the shell: the three
# uses of a rebuild (a damaged partition, a dimension added later, a
# processing fix), every documented error and the exit codes.
#
# The binaries come from the environment (tools/meson.build sets them):
# TSAGG_GEN TSAGG_INGEST TSAGG_QUERY TSAGG_COMPACT TSAGG_REBUILD TSAGG_VERIFY.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

store=$tmp/store
# Two days, no late events (so day 1 and day 2 stay apart in the log), a
# fifth of the sessions with utm_campaign, which the default schema lacks.
"$TSAGG_GEN" --events 40000 --days 2 --merchants 20 --late 0 --extra 0.2 >"$tmp/ev.ndjson"
expect 0 "$TSAGG_INGEST" --quiet "$store" "$tmp/ev.ndjson"

# ---- tsagg-compact ------------------------------------------------------------
expect 0 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/out" "compacted 40000 events"
grep_in "$tmp/out" "into 25 files over 48 hours: 0 month, 1 day and 24 hour files"
expect 0 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/out" "compacted 0 events"
expect 0 "$TSAGG_COMPACT" --quiet "$store"
[ -s "$tmp/out" ] && fail "--quiet printed something"
# --archive: the log in its archive form, every event still there.
expect 0 "$TSAGG_COMPACT" --archive "$store"
grep_in "$tmp/out" "archived 1 log segments"
expect 0 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "(40000 events"
# The merge pass counts what it merged: a late event left in an extra file
# of a compacted hour (--no-merge), then merged with it.
late=$tmp/late-store
for h in 00 01 02; do
    echo "{\"ts\":\"2026-10-01T$h:10:00Z\",\"merchant\":1,\"event\":\"page_view\",\"user\":\"u1\",\"session\":\"s1\"}"
done >"$tmp/three.ndjson"
echo '{"ts":"2026-10-01T00:20:00Z","merchant":1,"event":"page_view","user":"u2","session":"s2"}' \
    >"$tmp/one-late.ndjson"
expect 0 "$TSAGG_INGEST" --quiet "$late" "$tmp/three.ndjson"
expect 0 "$TSAGG_COMPACT" "$late"
expect 0 "$TSAGG_INGEST" --quiet "$late" "$tmp/one-late.ndjson"
expect 0 "$TSAGG_COMPACT" --no-merge "$late"
grep_in "$tmp/out" "into 1 files over 1 hours"
expect 0 "$TSAGG_COMPACT" "$late"
grep_in "$tmp/out" "merged 1 spans: 2 files replaced by 1 (0 duplicates dropped)"
expect 2 "$TSAGG_COMPACT" --budget 0 "$store"
expect 2 "$TSAGG_COMPACT" --drop-where nonsense "$store"
expect 2 "$TSAGG_COMPACT"
expect 3 "$TSAGG_COMPACT" "$tmp/missing"
grep_in "$tmp/err" "TSAGG_ENOTSTORE"

q() { # the whole range, every merchant, hourly: count, exact users, revenue
    "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 \
        --metric count --metric users --metric sum:value --exact --format csv "$@"
}

# ---- 1. a damaged partition ------------------------------------------------
q >"$tmp/before.csv"
expect 0 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" ": ok"
# Day 1 is sealed by day 2: one day file, which a rebuild of one of its
# hours regenerates whole.
part=$(ls "$store/parts" | grep '^20261001T00-24h-' | head -1)
[ -n "$part" ] || fail "no day file for 2026-10-01"
[ "$(ls "$store/parts" | grep -c '^20261002T..-1h-')" = 24 ] || fail "day 2 is not 24 hour files"
size=$(stat -c %s "$store/parts/$part")
printf '\x55\xaa\x55\xaa' | dd of="$store/parts/$part" bs=1 seek=$((size / 3)) conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED parts/$part"
grep_in "$tmp/out" "repair: tsagg-rebuild $store --from 2026-10-01T00:00:00Z --to 2026-10-02T00:00:00Z"
grep_in "$tmp/out" "1 damaged files: 1 repairable"
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01T14:00:00Z --to 2026-10-01T15:00:00Z
grep_in "$tmp/out" "widened to whole files: 24 hours of files, generation 2"
[ -e "$store/parts/$part" ] && fail "the damaged file was not replaced"
ls "$store/parts" | grep -q '^20261001T00-24h-' || fail "the day was not written again as a day file"
expect 0 "$TSAGG_VERIFY" -q "$store"
q >"$tmp/after.csv"
cmp -s "$tmp/before.csv" "$tmp/after.csv" || fail "answers changed after repairing a partition"

# ---- 2. a dimension added afterwards ----------------------------------------
expect 2 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 \
    --bucket total --group-by utm_campaign --format csv
cat >"$tmp/wide.schema" <<'EOF'
# the default schema plus utm_campaign
dimension page
dimension referrer
dimension country
dimension device
dimension browser
dimension os
dimension utm_campaign
measure value
EOF
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-03 --schema "$tmp/wide.schema"
grep_in "$tmp/out" "48 hours"
expect 0 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 \
    --bucket total --group-by utm_campaign --format csv
# The truth from the file: events with a campaign, retries (same merchant,
# ts and id) once, by campaign.
grep -o '"ts":"[^"]*","merchant":[0-9]*,.*"id":[0-9]*.*"utm_campaign":"[^"]*"' "$tmp/ev.ndjson" |
    sed -E 's/^"ts":"([^"]*)","merchant":([0-9]*),.*"id":([0-9]*).*"utm_campaign":"([^"]*)"$/\1 \2 \3 \4/' |
    sort -u | awk '{n[$4]++} END {for (c in n) print c "," n[c]}' | sort >"$tmp/campaigns.expected"
grep -v '^utm_campaign,' "$tmp/out" | grep -v '^,' | sort >"$tmp/campaigns.got"
[ -s "$tmp/campaigns.expected" ] || fail "the sample has no utm_campaign"
cmp -s "$tmp/campaigns.expected" "$tmp/campaigns.got" ||
    { fail "campaign counts differ from the file"; diff "$tmp/campaigns.expected" "$tmp/campaigns.got" >&2 || true; }
q >"$tmp/after2.csv"
cmp -s "$tmp/before.csv" "$tmp/after2.csv" || fail "answers changed after a schema rebuild"

# Schema errors: a field dropped, a malformed line, a missing file.
printf 'dimension page\n' >"$tmp/narrow.schema"
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 --schema "$tmp/narrow.schema"
grep_in "$tmp/err" "drops dimension 'referrer'"
printf 'dimension page\ndim referrer\n' >"$tmp/bad.schema"
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 --schema "$tmp/bad.schema"
grep_in "$tmp/err" "bad.schema:2: expected 'dimension NAME' or 'measure NAME'"
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 --schema "$tmp/none.schema"

# ---- 3. a processing fix: only the rebuilt hours change ----------------------
q --where device=desktop,mobile >"$tmp/no-tablets.csv"
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-02 --to 2026-10-03 --drop-where device=tablet
grep_in "$tmp/out" "24 hours"
q >"$tmp/fixed.csv"
day1() { grep -E '^(time|2026-10-01T)' "$1"; }
day2() { grep -E '^(time|2026-10-02T)' "$1"; }
cmp -s <(day1 "$tmp/before.csv") <(day1 "$tmp/fixed.csv") || fail "day 1 changed"
cmp -s <(day2 "$tmp/no-tablets.csv") <(day2 "$tmp/fixed.csv") ||
    fail "day 2 is not the traffic without tablets"
cmp -s <(day2 "$tmp/before.csv") <(day2 "$tmp/fixed.csv") && fail "day 2 did not change"

# ---- errors ---------------------------------------------------------------------
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-02 --to 2026-10-01
grep_in "$tmp/err" "empty or reversed range"
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-02 --to 2026-10-02
expect 2 "$TSAGG_REBUILD" "$store" --from yesterday --to now
grep_in "$tmp/err" "--from: expected RFC 3339"
expect 2 "$TSAGG_REBUILD" "$store" --to now
expect 2 "$TSAGG_REBUILD" --from -1d --to now
expect 3 "$TSAGG_REBUILD" "$tmp/missing" --from -1d --to now
expect 2 "$TSAGG_VERIFY"
expect 2 "$TSAGG_VERIFY" --frobnicate "$store"
expect 3 "$TSAGG_VERIFY" "$tmp/missing"
for t in "$TSAGG_COMPACT" "$TSAGG_REBUILD" "$TSAGG_VERIFY"; do
    expect 0 "$t" --version
    grep_in "$tmp/out" "libtsagg"
    expect 0 "$t" --help
    grep_in "$tmp/out" "Usage:"
done

# ---- damage a rebuild cannot repair: the raw log -------------------------------
seg=$(ls "$store/log" | head -1)
size=$(stat -c %s "$store/log/$seg")
printf '\x55\xaa\x55\xaa' | dd of="$store/log/$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED log/$seg"
grep_in "$tmp/out" "not repairable by a rebuild"
expect 3 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-03

finish "maintenance tools"
