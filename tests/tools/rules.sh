#!/bin/bash
# Processing rules kept in the store: tsagg-rebuild --drop-where stores them,
# every later compaction (tsagg-compact, tsagg-ingest --compact) and rebuild
# applies them, so the repair command tsagg-verify prints keeps dropped
# events dropped. How a rule matches: numbers as numbers, an absent field as
# "" (as tsagg-query --where reads it), unmatchable fields refused.
#
# The binaries come from the environment (tools/meson.build sets them).
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# total STORE [QUERY OPTION]...: events of 2026-10-01..03, every merchant.
total() {
    local store=$1
    shift
    "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 \
        --bucket total --format csv "$@" | tail -1 | cut -d, -f2
}

# ---- the stored rules survive a repair ------------------------------------------
store=$tmp/store
"$TSAGG_GEN" --events 20000 --days 2 --merchants 20 --late 0 >"$tmp/ev.ndjson"
expect 0 "$TSAGG_INGEST" --quiet --compact "$store" "$tmp/ev.ndjson"
all=$(total "$store")
tablets=$(total "$store" --where device=tablet)
[ "$tablets" -gt 0 ] || fail "the sample has no tablets"

expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-03 --drop-where device=tablet
grep_in "$tmp/out" "rules (now stored): device=tablet"
[ "$(total "$store")" = $((all - tablets)) ] || fail "tablets were not dropped"

# Damage an hour; the repair command verify prints needs no rules.
part=$(ls "$store/parts" | grep '^20261002T14-' | head -1)
size=$(stat -c %s "$store/parts/$part")
printf '\x55\xaa\x55\xaa' | dd of="$store/parts/$part" bs=1 seek=$((size / 3)) conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
repair=$(grep -o 'repair: tsagg-rebuild .*' "$tmp/out" | sed 's/^repair: tsagg-rebuild //')
[ -n "$repair" ] || fail "verify printed no repair command"
# shellcheck disable=SC2086
expect 0 "$TSAGG_REBUILD" $repair
grep_in "$tmp/out" "rules (stored): device=tablet"
expect 0 "$TSAGG_VERIFY" -q "$store"
[ "$(total "$store" --where device=tablet)" = 0 ] || fail "the repair brought tablets back"
[ "$(total "$store")" = $((all - tablets)) ] || fail "the repair changed the totals"

# New events: tsagg-ingest --compact and tsagg-compact apply the stored rules.
for i in 1 2 3 4 5 6; do
    d=desktop
    [ $((i % 2)) = 0 ] && d=tablet
    printf '{"ts":"2026-10-02T10:00:0%sZ","merchant":1,"event":"page_view","device":"%s"}\n' "$i" "$d"
done >"$tmp/more.ndjson"
expect 0 "$TSAGG_INGEST" --compact "$store" "$tmp/more.ndjson"
[ "$(total "$store" --no-tail --where device=tablet)" = 0 ] ||
    fail "tsagg-ingest --compact kept tablets"
[ "$(total "$store" --no-tail)" = $((all - tablets + 3)) ] ||
    fail "tsagg-ingest --compact: expected 3 more events"
sed 's/T10:/T11:/' "$tmp/more.ndjson" >"$tmp/more2.ndjson"
expect 0 "$TSAGG_INGEST" --quiet "$store" "$tmp/more2.ndjson"
expect 0 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/out" "compacted 6 events (3 dropped by rules, 0 duplicates dropped)"
[ "$(total "$store" --no-tail --where device=tablet)" = 0 ] || fail "tsagg-compact kept tablets"

# tsagg-compact takes no rules of its own; --no-rules removes the stored ones.
expect 2 "$TSAGG_COMPACT" --drop-where device=bot "$store"
grep_in "$tmp/err" "kept in the store"
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-03 --no-rules
grep_in "$tmp/out" "rules (now stored): none"
[ "$(total "$store" --no-tail)" = $((all + 12)) ] || fail "--no-rules did not bring tablets back"
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-03 --no-rules \
    --drop-where device=bot

# A damaged rules file stops compactions (rather than be ignored), verify
# names it, and new rules replace it.
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 --drop-where device=tablet
printf 'X' | dd of="$store/RULES" bs=1 seek=30 conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED RULES: TSAGG_ECHECKSUM"
expect 3 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/err" "RULES: checksum mismatch"
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 --drop-where device=tablet
expect 0 "$TSAGG_VERIFY" -q "$store"
expect 0 "$TSAGG_COMPACT" -q "$store"

# ---- how a rule matches ----------------------------------------------------------
small=$tmp/small
cat >"$tmp/small.ndjson" <<'EOF'
{"ts":"2026-10-01T10:00:01Z","merchant":1,"event":"buy","value":0.1,"page":"/a"}
{"ts":"2026-10-01T10:00:02Z","merchant":1,"event":"buy","value":0.10,"page":"/a"}
{"ts":"2026-10-01T10:00:03Z","merchant":1,"event":"buy","value":1e-1,"page":"/b"}
{"ts":"2026-10-01T10:00:04Z","merchant":1,"event":"buy","value":0.2,"page":""}
{"ts":"2026-10-01T10:00:05Z","merchant":2,"event":"page_view"}
{"ts":"2026-10-01T10:00:06Z","merchant":2,"event":"page_view"}
EOF
expect 0 "$TSAGG_INGEST" --quiet --compact "$small" "$tmp/small.ndjson"
rebuild_small() { expect "$1" "$TSAGG_REBUILD" "$small" --from 2026-10-01 --to 2026-10-02 "${@:2}"; }
# Numbers compare as numbers, however they were written.
rebuild_small 0 --drop-where value=0.1
grep_in "$tmp/out" ": 3 dropped by rules"
[ "$(total "$small")" = 3 ] || fail "value=0.1: expected 3 events left"
# An absent field reads as "", as tsagg-query --where reads it.
rebuild_small 0 --no-rules
no_page=$(total "$small" --where page=)
[ "$no_page" = 3 ] || fail "--where page= counts $no_page, expected 3"
rebuild_small 0 --drop-where page=
grep_in "$tmp/out" ": $no_page dropped by rules"
[ "$(total "$small" --where page=)" = 0 ] || fail "--drop-where page= and --where page= disagree"
# The merchant compares as a number.
rebuild_small 0 --drop-where merchant=2
grep_in "$tmp/out" ": 2 dropped by rules"
# Fields a rule cannot match are refused, naming the rule.
for bad in ts=1 user=u-1 session=s-1 id=3; do
    rebuild_small 2 --drop-where "$bad"
    grep_in "$tmp/err" "--drop-where '$bad': '${bad%%=*}' is a core field that rules cannot match"
done
rebuild_small 2 --drop-where merchant=shop
grep_in "$tmp/err" "expected a decimal merchant number, got 'shop'"
rebuild_small 2 --drop-where event=
grep_in "$tmp/err" "matches nothing"
rebuild_small 2 --drop-where =x
# A refused rule changes nothing: the stored ones stay.
rebuild_small 0
grep_in "$tmp/out" "rules (stored): merchant=2"

finish "processing rules"
