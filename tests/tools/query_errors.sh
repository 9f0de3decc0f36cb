# query_errors.sh - every documented error of tsagg-query: its exit code,
# its message, and nothing on stdout. Also --help and --version.
. "$(dirname "${BASH_SOURCE[0]}")/query_lib.sh"

"$LOADER" "$TMP/store" -n 2000 -d 1 -m 5 || exit 1
ST=$TMP/store
R=(--from 2026-10-01 --to 2026-10-02)

# ---- --help, --version.
run --help
CHECKS=$((CHECKS + 1))
[ "$RC" -eq 0 ] && grep -q '^Usage: tsagg-query STORE' "$TMP/out" && grep -q '^Examples:' "$TMP/out" ||
    fail "--help: exit $RC"
run --version
CHECKS=$((CHECKS + 1))
[ "$RC" -eq 0 ] && grep -qE '^tsagg-query \(libtsagg\) [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out" ||
    fail "--version: $(cat "$TMP/out")"

# ---- the command line (exit 2).
expect_error "no store" 2 "no STORE given" -m 1 "${R[@]}"
expect_error "two stores" 2 "unexpected argument 'other'" "$ST" other -m 1 "${R[@]}"
expect_error "no merchant" 2 "--merchant N or --all-merchants is required" "$ST" "${R[@]}"
expect_error "both merchant forms" 2 "--merchant and --all-merchants exclude each other" \
    "$ST" -m 1 --all-merchants "${R[@]}"
expect_error "bad merchant" 2 "bad --merchant 'x1'" "$ST" -m x1 "${R[@]}"
expect_error "merchant twice" 2 "--merchant given twice ('187' after 186)" \
    "$ST" -m 186 -m 187 "${R[@]}"
expect_error "merchant twice, long form" 2 "--merchant given twice ('1' after 1)" \
    "$ST" --merchant 1 "${R[@]}" --merchant 1
expect_error "group-by twice" 2 "--group-by given twice ('country' after 'page')" \
    "$ST" -m 1 "${R[@]}" -g page -g country
expect_error "no --from" 2 "--from and --to are required" "$ST" -m 1 --to now
expect_error "no --to" 2 "--from and --to are required" "$ST" -m 1 --from -1d
expect_error "bad --from" 2 "bad --from 'yesterday'" "$ST" -m 1 --from yesterday --to now
expect_error "bad --to" 2 "bad --to '2026-13-01'" "$ST" -m 1 --from 2026-10-01 --to 2026-13-01
expect_error "empty range" 2 "empty time range" "$ST" -m 1 --from 2026-10-01 --to 2026-10-01
expect_error "empty range, two spellings" 2 "empty time range" "$ST" -m 1 \
    --from 2026-10-01T05:30:00+05:30 --to 2026-10-01T00:00:00Z
expect_error "reversed range" 2 "reversed time range" "$ST" -m 1 --from now --to -1h
expect_error "bad bucket" 2 "bad --bucket 'year'" "$ST" -m 1 "${R[@]}" -b year
expect_error "unknown metric" 2 "unknown metric 'median'" "$ST" -m 1 "${R[@]}" -M median
expect_error "metric without field" 2 "metric 'sum' needs a measure" "$ST" -m 1 "${R[@]}" -M sum
expect_error "metric with a field" 2 "metric 'count:value' takes no field" "$ST" -m 1 \
    "${R[@]}" -M count:value
expect_error "metric twice" 2 "metric 'users' is given twice" "$ST" -m 1 "${R[@]}" \
    -M users -M users
expect_error "bad --where" 2 "bad --where 'country'" "$ST" -m 1 "${R[@]}" -w country
expect_error "--top without --group-by" 2 "--top needs --group-by" "$ST" -m 1 "${R[@]}" -n 3
expect_error "bad --top" 2 "bad --top '-1'" "$ST" -m 1 "${R[@]}" -g page -n -1
expect_error "bad --format" 2 "bad --format 'xml'" "$ST" -m 1 "${R[@]}" -f xml
expect_error "bad --repeat" 2 "bad --repeat '0'" "$ST" -m 1 "${R[@]}" --repeat 0
expect_error "unknown option" 2 "unknown option '--colour'" "$ST" -m 1 "${R[@]}" --colour
expect_error "missing value" 2 "option '--tz' needs a value" "$ST" -m 1 "${R[@]}" --tz

# ---- the query against the store's schema (exit 2, the known fields listed).
KNOWN="the store knows: event, page, referrer, country, device, browser, os"
expect_error "unknown dimension in --where" 2 "unknown dimension 'color' in --where; $KNOWN" \
    "$ST" -m 1 "${R[@]}" -w color=red
expect_error "unknown dimension in --group-by" 2 \
    "unknown dimension 'color' in --group-by; $KNOWN" "$ST" -m 1 "${R[@]}" -g color
expect_error "unknown measure" 2 "unknown measure 'price' in --metric; the store knows: value" \
    "$ST" -m 1 "${R[@]}" -M count -M avg:price
expect_error "unknown zone" 2 'unknown time zone "Mars/Olympus"' "$ST" -m 1 "${R[@]}" \
    --tz Mars/Olympus
expect_error "invalid zone name" 2 'invalid time zone name "../etc/passwd"' "$ST" -m 1 \
    "${R[@]}" --tz ../etc/passwd
expect_error "too many buckets" 2 "more than 1100000 buckets" "$ST" -m 1 \
    --from 2020-01-01 --to 2026-01-01 -b minute
# Every page's hourly series over seven years passes the row limit: a usage
# error with the numbers (not an out-of-memory store failure); the top
# groups the message suggests answer.
NPAGES=$(("$(run "$ST" -m 1 "${R[@]}" -b total -g page -f csv; wc -l <"$TMP/out")" - 1))
HOURS=$(( ($(date -u -d 2026-12-01 +%s) - $(date -u -d 2020-01-01 +%s)) / 3600 ))
expect_error "answer too large" 2 \
    "the answer would hold $HOURS buckets x $NPAGES groups = $((HOURS * NPAGES)) rows, more than 4194304: keep the top $((4194304 / HOURS)) groups or fewer" \
    "$ST" -m 1 --from 2020-01-01 --to 2026-12-01 -g page
run "$ST" -m 1 --from 2020-01-01 --to 2026-12-01 -g page -n 3 -f csv
CHECKS=$((CHECKS + 1))
[ "$RC" -eq 0 ] && [ "$(wc -l <"$TMP/out")" -eq $((HOURS * 3 + 1)) ] ||
    fail "top 3 of the same: exit $RC, $(wc -l <"$TMP/out") lines: $(head -c 300 "$TMP/err")"

# ---- the store (exit 3).
expect_error "missing store" 3 "TSAGG_ENOTSTORE" "$TMP/nothing" -m 1 "${R[@]}"
mkdir "$TMP/empty"
expect_error "not a store" 3 "not a tsagg store" "$TMP/empty" -m 1 "${R[@]}"
cp -r "$ST" "$TMP/damaged"
part=$(ls "$TMP/damaged/parts/"*.tpart | head -1)
head -c 100 "$part" >"$TMP/part" && cat "$TMP/part" >"$part"
expect_error "damaged partition" 3 "$(basename "$part")" "$TMP/damaged" --all-merchants \
    "${R[@]}" -b total

# A valid query that matches nothing is not an error.
run "$ST" -m 424242 "${R[@]}" -b day -f csv
CHECKS=$((CHECKS + 1))
[ "$RC" -eq 0 ] && [ "$(cat "$TMP/out")" = "$(printf 'time,count\n2026-10-01T00:00:00Z,0')" ] ||
    fail "unknown merchant: exit $RC: $(cat "$TMP/out" "$TMP/err")"
run "$ST" -m 424242 "${R[@]}" -b total -g page -f csv
CHECKS=$((CHECKS + 1))
[ "$RC" -eq 0 ] && [ "$(cat "$TMP/out")" = "page,count" ] ||
    fail "empty group-by: exit $RC: $(cat "$TMP/out" "$TMP/err")"

finish
