#!/bin/bash
# What the tools do with a store that is damaged, half copied or not a
# store at all: what tsagg-verify reports (and its exit code), what the
# repair it offers restores, what tsagg-query answers beside damage in the
# log, and that nothing is created where no store is.
#
# The binaries come from the environment (tools/meson.build sets them):
# TSAGG_GEN TSAGG_INGEST TSAGG_QUERY TSAGG_COMPACT TSAGG_REBUILD TSAGG_VERIFY.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$TSAGG_GEN" --events 6000 --days 1 --merchants 5 --late 0 >"$tmp/ev.ndjson"
# fresh STORE: a compacted copy of the sample
fresh() {
    rm -rf "$1"
    "$TSAGG_INGEST" --quiet --compact "$1" "$tmp/ev.ndjson" >/dev/null
}
q() { # every merchant, hourly counts, as CSV
    "$TSAGG_QUERY" "$1" --all-merchants --from 2026-10-01 --to 2026-10-03 --format csv
}

# ---- a directory that is not a store: nothing is created in it ----------------
mkdir "$tmp/notastore"
echo "someone else's file" >"$tmp/notastore/notes.txt"
expect 3 "$TSAGG_COMPACT" "$tmp/notastore"
grep_in "$tmp/err" "TSAGG_ENOTSTORE"
expect 3 "$TSAGG_REBUILD" "$tmp/notastore" --from 2026-10-01 --to 2026-10-02
expect 3 "$TSAGG_INGEST" --quiet "$tmp/notastore" "$tmp/ev.ndjson"
grep_in "$tmp/err" "not empty"
[ "$(ls -A "$tmp/notastore")" = "notes.txt" ] ||
    fail "something was created in a directory that is not a store: $(ls -A "$tmp/notastore")"
mkdir "$tmp/empty"
expect 3 "$TSAGG_COMPACT" "$tmp/empty"
[ -z "$(ls -A "$tmp/empty")" ] || fail "tsagg-compact created $(ls -A "$tmp/empty") in an empty directory"

# ---- a damaged descriptor is damage (exit 1), not another version ------------------
store=$tmp/store
fresh "$store"
expect 0 "$TSAGG_VERIFY" -q "$store"
cp "$store/tsagg.store" "$tmp/descriptor"
printf '\x41' | dd of="$store/tsagg.store" bs=1 seek=8 conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED $store: TSAGG_ECHECKSUM"
grep_not "$tmp/out" "version"
printf 'X' | dd of="$store/tsagg.store" bs=1 seek=0 conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED $store"
cp "$tmp/descriptor" "$store/tsagg.store"
expect 0 "$TSAGG_VERIFY" -q "$store"

# ---- a FIFO in place of MANIFEST: refused at once, not waited on --------------------
fresh "$store"
mv "$store/MANIFEST" "$tmp/manifest"
mkfifo "$store/MANIFEST"
expect 3 timeout 20 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03
grep_in "$tmp/err" "MANIFEST: not a regular file"
expect 1 timeout 20 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED MANIFEST"
rm "$store/MANIFEST"
mv "$tmp/manifest" "$store/MANIFEST"

# ---- a damaged or missing MANIFEST: repairable, and the repair works -------------------
q "$store" >"$tmp/before.csv"
printf '\x55' | dd of="$store/MANIFEST" bs=1 seek=20 conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED MANIFEST"
grep_in "$tmp/out" "repair: rm $store/MANIFEST && tsagg-compact $store"
grep_in "$tmp/out" "1 damaged files: 1 repairable, 0 not"
grep_not "$tmp/out" "not repairable"
rm "$store/MANIFEST" && expect 0 "$TSAGG_COMPACT" -q "$store"
expect 0 "$TSAGG_VERIFY" -q "$store"
q "$store" >"$tmp/after.csv"
cmp -s "$tmp/before.csv" "$tmp/after.csv" || fail "answers changed after the MANIFEST repair"
# Missing: what a crash in the first compaction leaves too, so not damage,
# but said, with the repair.
rm "$store/MANIFEST"
expect 0 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "note: no MANIFEST, yet parts/ holds"
grep_in "$tmp/out" "tsagg-compact $store removes them"
expect 0 "$TSAGG_COMPACT" -q "$store"
expect 0 "$TSAGG_VERIFY" -q "$store"

# ---- log/ older than MANIFEST (a backup taken file by file) ---------------------------
rm -rf "$store"
head -3000 "$tmp/ev.ndjson" >"$tmp/first.ndjson"
tail -n +3001 "$tmp/ev.ndjson" >"$tmp/rest.ndjson"
"$TSAGG_INGEST" --quiet "$store" "$tmp/first.ndjson"
cp -a "$store/log" "$tmp/log-backup"
"$TSAGG_INGEST" --quiet --compact "$store" "$tmp/rest.ndjson"
rm -rf "$store/log" && cp -a "$tmp/log-backup" "$store/log"
expect 3 "$TSAGG_INGEST" --quiet "$store" "$tmp/first.ndjson"
grep_in "$tmp/err" "ends at sequence 3000, below the 6000 that MANIFEST records as compacted"
expect 3 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED $store: TSAGG_ECORRUPT"
grep_in "$tmp/out" "tsagg-verify --salvage"
expect 0 "$TSAGG_VERIFY" --salvage "$store"
grep_in "$tmp/out" "salvaged $store: the log ends at sequence 3000, compacted up to 3000"
grep_in "$tmp/out" ": ok"
# Every event still counted (the compacted ones from their partitions).
q "$store" >"$tmp/salvaged.csv"
fresh "$tmp/reference"
q "$tmp/reference" >"$tmp/reference.csv"
cmp -s "$tmp/reference.csv" "$tmp/salvaged.csv" || fail "answers after the salvage differ"

# ---- a damaged frame in the live segment stops writes until a salvage ---------------------
rm -rf "$store"
for i in 1 2 3 4 5 6; do
    sed -n "$(((i - 1) * 1000 + 1)),$((i * 1000))p" "$tmp/ev.ndjson" >"$tmp/part$i.ndjson"
    "$TSAGG_INGEST" --quiet "$store" "$tmp/part$i.ndjson"
done
seg="$store/log/$(ls "$store/log" | head -1)"
size=$(stat -c %s "$seg")
printf '\x55\xaa\x55\xaa' | dd of="$seg" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED log/"
grep_in "$tmp/out" "salvage: tsagg-verify --salvage $store cuts this segment"
expect 0 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 --no-tail
grep_not "$tmp/err" "warning"
# Default queries answer up to the bad frame, warn on stderr in every
# format, and exit 1 (a partial answer).
for fmt in csv json table; do
    expect 1 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 \
        --format "$fmt"
    grep_in "$tmp/err" "tsagg-query: warning: partial answer: $seg: "
    grep_in "$tmp/err" "at offset "
    grep_in "$tmp/err" "events after it are not counted"
    [ -s "$tmp/out" ] || fail "no answer on stdout with --format $fmt"
    cp "$tmp/out" "$tmp/partial.$fmt"
done
expect 3 "$TSAGG_INGEST" --quiet "$store" "$tmp/part1.ndjson"
grep_in "$tmp/err" "valid frames follow it"
expect 0 "$TSAGG_VERIFY" --salvage "$store"
grep_in "$tmp/out" "bytes cut off a damaged segment: log/"
grep_in "$tmp/out" ": ok"
# The partial answer counted exactly what the salvage keeps.
expect 0 "$TSAGG_QUERY" "$store" --all-merchants --from 2026-10-01 --to 2026-10-03 --format csv
grep_not "$tmp/err" "warning"
cmp -s "$tmp/out" "$tmp/partial.csv" || fail "the partial answer differs from the salvaged log's"
awk -F, 'NR > 1 { n += $2 } END { exit !(n > 0 && n < 6000) }' "$tmp/out" ||
    fail "the salvaged log should hold some of the 6000 events, not all"
expect 0 "$TSAGG_INGEST" --quiet "$store" "$tmp/part1.ndjson"
expect 0 "$TSAGG_VERIFY" -q "$store"

finish "store damage"
