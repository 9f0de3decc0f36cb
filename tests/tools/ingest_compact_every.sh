#!/bin/bash
# --compact-every: an input that does not end (a FIFO kept open) is
# compacted while it loads, also while no input comes; at the end of the
# input --compact still compacts whatever came after the last round.
. "$(dirname "$0")/ingest_lib.sh"

GEN_ARGS=(-n 3000 -d 1 -m 10 -s 9)
"$GEN" "${GEN_ARGS[@]}" > "$TMP/ev.ndjson" || fail "tsagg-gen"

expect_run 2 "--compact-every: expected a duration of 1s or more such as 90s, 5m or 1h, got '0s'" \
    --compact-every 0s "$TMP/st" "$TMP/ev.ndjson"
expect_run 2 "got '60'" --compact-every 60 "$TMP/st" "$TMP/ev.ndjson"

# compacted_upto: the log position of the last compaction reported so far.
compacted_upto() {
    sed -n 's/^compact: .*log compacted up to \([0-9]*\), .*/\1/p' "$TMP/err" | tail -1
}

mkfifo "$TMP/fifo"
"$INGEST" --compact-every 1s --compact --sync batch "$TMP/st" - < "$TMP/fifo" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/fifo"
head -n 2000 "$TMP/ev.ndjson" >&3
# Compacted within a few seconds though the input stays open.
for _ in $(seq 1 100); do
    [ "$(compacted_upto)" = 2000 ] && break
    sleep 0.1
done
expect_eq "compacted while the input is open" 2000 "$(compacted_upto)"
kill -0 "$pid" 2>/dev/null || fail "tsagg-ingest ended with its input open"
ls "$TMP/st/parts/"* > /dev/null 2>&1 || fail "no partition written while loading"
grep -q "events accepted" "$TMP/err" && fail "the summary came before the end of the input"
rounds=$(grep -c '^compact: ' "$TMP/err")
sleep 2.2 # idle: further rounds find nothing new and do no harm
[ "$(grep -c '^compact: ' "$TMP/err")" -gt "$rounds" ] || fail "no compaction while the input is idle"

# The rest, then the end of the input: --compact compacts it all.
tail -n +2001 "$TMP/ev.ndjson" >&3
exec 3>&-
for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    fail "tsagg-ingest did not end within 20 s of the end of its input"
    kill -9 "$pid"
fi
wait "$pid"
expect_eq "exit status" 0 "$?"
grep -qF "3000 events accepted, 0 rejected" "$TMP/err" || fail "summary: $(cat "$TMP/err")"
expect_eq "the final compaction" 3000 "$(compacted_upto)"
expect_eq "every event, once" "3000 events match" "$("$CHECK" compare "$TMP/st" "${GEN_ARGS[@]}")"
# Counted as one compaction at the end counts them (retries dropped once).
expect_run 0 "" --quiet --compact "$TMP/ref" "$TMP/ev.ndjson"
for q in "" "--group-by country" "--metric users"; do
    # shellcheck disable=SC2086
    expect_eq "as compacted once: $q" "$("$CHECK" count "$TMP/ref" $q)" "$("$CHECK" count "$TMP/st" $q)"
done

finish
