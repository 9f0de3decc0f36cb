# query.sh - tsagg-query's answers against references computed with awk
# from tsagg-gen's NDJSON of the same stream: the CSV contract (header, every
# bucket of the range, zeros included), metrics, filters, group-by, the JSON
# and table forms, --all-merchants, --no-tail and --repeat.
. "$(dirname "${BASH_SOURCE[0]}")/query_lib.sh"

GENOPTS=(-n 5000 -d 2 -m 20)
"$GEN" "${GENOPTS[@]}" >"$TMP/ev.ndjson" || exit 1
"$LOADER" "$TMP/store" "${GENOPTS[@]}" || exit 1
flatten "$TMP/ev.ndjson"
REF=$TMP/ev.ndjson.tsv
ST=$TMP/store

# The merchant with the most events.
M=$(awk -F'\t' '{ c[$2]++ } END { for (m in c) print c[m], m }' "$REF" | sort -k1,1nr | head -1 |
    cut -d' ' -f2)

# ---- the CSV contract: hourly counts, every hour of a range wider than the data.
FROM=2026-09-30T22:00:00Z
base=$(date -u -d "$FROM" +%s)
hour_labels "$base" 53 >"$TMP/hours" # to 2026-10-03T03:00:00Z
{
    echo "time,count"
    awk -F'\t' -v M="$M" '
        NR == FNR { if ($2 == M) c[substr($1, 1, 13)]++; next }
        { print $0 "," (c[substr($0, 1, 13)] + 0) }' "$REF" "$TMP/hours"
} >"$TMP/exp"
expect_out "hourly count" "$TMP/exp" "$ST" --merchant "$M" --from "$FROM" \
    --to 2026-10-03T03:00:00Z --format csv
grep -q ',0$' "$TMP/exp" || fail "hourly count: the range should hold empty hours"
expect_out "--bucket hour is the default, -m and -f" "$TMP/exp" "$ST" -m "$M" \
    --from "$FROM" --to 2026-10-03T03:00:00Z --bucket hour -M count -f csv

# Exact distinct users and sessions per hour.
{
    echo "time,count,users,sessions"
    awk -F'\t' -v M="$M" '
        NR == FNR {
            if ($2 != M) next
            h = substr($1, 1, 13); c[h]++
            if (!((h, $4) in su)) { su[h, $4] = 1; u[h]++ }
            if (!((h, $5) in ss)) { ss[h, $5] = 1; s[h]++ }
            next
        }
        { h = substr($0, 1, 13); print $0 "," (c[h] + 0) "," (u[h] + 0) "," (s[h] + 0) }' \
        "$REF" "$TMP/hours"
} >"$TMP/exp"
expect_out "exact users and sessions" "$TMP/exp" "$ST" -m "$M" --from "$FROM" \
    --to 2026-10-03T03:00:00Z -M count -M users -M sessions --exact -f csv

# ---- group-by over a total: sorted by the first metric descending, then key.
awk -F'\t' -v M="$M" '$2 == M { c[$6]++ } END { for (k in c) print k "," c[k] }' "$REF" |
    sort -t, -k2,2nr -k1,1 >"$TMP/pages"
{ echo "page,count"; cat "$TMP/pages"; } >"$TMP/exp"
expect_out "group-by page total" "$TMP/exp" "$ST" -m "$M" --from 2026-09-30 \
    --to 2026-10-04 --bucket total --group-by page -f csv
{ echo "page,count"; head -5 "$TMP/pages"; } >"$TMP/exp"
expect_out "group-by page top 5" "$TMP/exp" "$ST" -m "$M" --from 2026-09-30 \
    --to 2026-10-04 -b total -g page --top 5 -f csv

# ---- group-by with buckets: time,DIM,metrics; every group in every bucket,
# groups in their rank over the whole range.
{
    echo "time,device,count"
    awk -F'\t' -v M="$M" '$2 == M { c[$8]++ } END { for (k in c) print k "," c[k] }' "$REF" |
        sort -t, -k2,2nr -k1,1 | cut -d, -f1 >"$TMP/devices"
    awk -F'\t' -v M="$M" '
        NR == FNR { if ($2 == M) c[substr($1, 1, 10), $8]++; next }
        { d[++n] = $0 }
        END {
            split("2026-10-01 2026-10-02", days, " ")
            for (i = 1; i <= 2; i++)
                for (j = 1; j <= n; j++)
                    print days[i] "T00:00:00Z," d[j] "," (c[days[i], d[j]] + 0)
        }' "$REF" "$TMP/devices"
} >"$TMP/exp"
expect_out "group-by device per day" "$TMP/exp" "$ST" -m "$M" --from 2026-10-01 \
    --to 2026-10-03 -b day -g device -f csv

# ---- filters: --event repeated, --where DIM=V1,V2 and a repeated DIM.
n=$(awk -F'\t' -v M="$M" '$2 == M && ($3 == "page_view" || $3 == "click") &&
    ($7 == "US" || $7 == "DE") { n++ } END { print n + 0 }' "$REF")
printf 'time,count\n2026-10-01T00:00:00Z,%s\n' "$n" >"$TMP/exp"
expect_out "--event and --where V1,V2" "$TMP/exp" "$ST" -m "$M" --from 2026-10-01 \
    --to 2026-10-03 -b total -e page_view --event click --where country=US,DE -f csv
expect_out "--where repeated" "$TMP/exp" "$ST" -m "$M" --from 2026-10-01 --to 2026-10-03 \
    -b total --where event=page_view,click -w country=US -w country=DE -f csv

# ---- measures, across all merchants: sum, avg, min, max of value.
run "$ST" --all-merchants --from 2026-10-01 --to 2026-10-03 -b total -M count -M sum:value \
    -M avg:value -M min:value -M max:value -f csv
CHECKS=$((CHECKS + 1))
if [ "$RC" -ne 0 ]; then
    fail "measures: exit $RC: $(cat "$TMP/err")"
elif [ "$(head -1 "$TMP/out")" != "time,count,sum_value,avg_value,min_value,max_value" ]; then
    fail "measures: header $(head -1 "$TMP/out")"
else
    # Sums differ in the last bits with the order of additions: compare
    # sum and avg within 1e-9, the rest exactly.
    awk -F'\t' '$9 != "" { s += $9; v++; if (v == 1 || $9 < mn) mn = $9; if ($9 > mx) mx = $9 }
        END { printf "2026-10-01T00:00:00Z %d %.17g %.17g %s %s\n", NR, s, s / v, mn, mx }' \
        "$REF" >"$TMP/expm"
    tail -n +2 "$TMP/out" | tr , ' ' | awk 'NR == FNR { split($0, e, " "); next }
        function near(a, b) { return (a - b <= 1e-9 * b) && (b - a <= 1e-9 * b) }
        { if ($1 != e[1] || $2 != e[2] || !near($3, e[3]) || !near($4, e[4]) ||
              $5 != e[5] + 0 || $6 != e[6] + 0) { print "got " $0 ", expected " e[1] " " e[2] \
              " " e[3] " " e[4] " " e[5] " " e[6]; exit 1 } }' "$TMP/expm" - >"$TMP/why" ||
        fail "measures: $(cat "$TMP/why")"
fi

# avg, min and max of nothing are empty cells; sum of nothing is 0.
run "$ST" -m "$M" --from 2026-09-30T22:00:00Z --to 2026-09-30T23:00:00Z -M sum:value -M avg:value \
    -M min:value -M max:value -f csv
CHECKS=$((CHECKS + 1))
[ "$(tail -1 "$TMP/out")" = "2026-09-30T22:00:00Z,0,,," ] ||
    fail "empty measures: $(cat "$TMP/out" "$TMP/err")"

# ---- --all-merchants per day.
{
    echo "time,count"
    awk -F'\t' '{ c[substr($1, 1, 10)]++ }
        END { print "2026-10-01T00:00:00Z," c["2026-10-01"] + 0
              print "2026-10-02T00:00:00Z," c["2026-10-02"] + 0
              print "2026-10-03T00:00:00Z," c["2026-10-03"] + 0 }' "$REF"
} >"$TMP/exp"
expect_out "--all-merchants per day" "$TMP/exp" "$ST" --all-merchants --from 2026-10-01 \
    --to 2026-10-04 -b day -f csv

# ---- JSON: one valid document whose rows are the CSV rows.
run "$ST" -m "$M" --from "$FROM" --to 2026-10-03T03:00:00Z -M count -M users -M avg:value -f json
cp "$TMP/out" "$TMP/json"
run "$ST" -m "$M" --from "$FROM" --to 2026-10-03T03:00:00Z -M count -M users -M avg:value -f csv
cp "$TMP/out" "$TMP/csv"
CHECKS=$((CHECKS + 1))
if command -v python3 >/dev/null; then
    python3 - "$TMP/json" "$TMP/csv" "$M" <<'EOF' || fail "json: see above"
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
want = {"merchant": int(sys.argv[3]), "all_merchants": False,
        "from": "2026-09-30T22:00:00Z", "to": "2026-10-03T03:00:00Z", "bucket": "hour",
        "tz": "UTC", "group_by": None, "exact": False,
        "columns": ["time", "count", "users", "avg_value"]}
for k, v in want.items():
    if doc.get(k) != v:
        sys.exit("json: %s is %r, expected %r" % (k, doc.get(k), v))
if not isinstance(doc["approximate"], bool):
    sys.exit("json: approximate is not a bool")
lines = open(sys.argv[2]).read().splitlines()[1:]
rows = [",".join("" if x is None else str(x) for x in r) for r in doc["rows"]]
if rows != lines:
    sys.exit("json: rows differ from csv: %r vs %r" % (rows[:3], lines[:3]))
EOF
else
    echo "no python3: JSON check skipped" >&2
fi

# ---- table: aligned columns, thousands separators, no footer when exact.
total=$(awk 'END { print NR }' "$REF")
run "$ST" --all-merchants --from 2026-10-01 --to 2026-10-04 -b total -M count -M users --exact
CHECKS=$((CHECKS + 1))
if [ "$RC" -ne 0 ]; then
    fail "table: exit $RC $(cat "$TMP/err")"
elif ! head -1 "$TMP/out" | grep -qE '^time {18}count +users$' ||
    ! sed -n 2p "$TMP/out" | grep -qE '^-{20}  -+  -+$' ||
    ! sed -n 3p "$TMP/out" | grep -qE "^2026-10-01T00:00:00Z  $(thousands "$total")  +[0-9,]+$" ||
    [ "$(wc -l <"$TMP/out")" -ne 3 ]; then
    fail "table: unexpected output:"
    cat "$TMP/out" >&2
fi

# ---- --repeat: one stderr line, then the result as without it.
run "$ST" -m "$M" --from "$FROM" --to 2026-10-03T03:00:00Z -f csv
cp "$TMP/out" "$TMP/once"
run "$ST" -m "$M" --from "$FROM" --to 2026-10-03T03:00:00Z -f csv --repeat 7
CHECKS=$((CHECKS + 1))
if [ "$RC" -ne 0 ] || ! cmp -s "$TMP/once" "$TMP/out"; then
    fail "--repeat: exit $RC or output differs"
elif ! grep -qE '^p50_ms [0-9]+\.[0-9]{3} p99_ms [0-9]+\.[0-9]{3} first_ms [0-9]+\.[0-9]{3} runs 7$' \
    "$TMP/err" || [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
    fail "--repeat: stderr is '$(cat "$TMP/err")'"
fi

# ---- the log tail: counted unless --no-tail.
TAILOPTS=(-n 3000 -d 1 -m 5 --dup 0 --late 0)
"$LOADER" "$TMP/tailstore" "${TAILOPTS[@]}" --tail 700 || exit 1
printf 'time,count\n2026-10-01T00:00:00Z,3000\n' >"$TMP/exp"
expect_out "tail counted" "$TMP/exp" "$TMP/tailstore" --all-merchants --from 2026-10-01 \
    --to 2026-10-02 -b total -f csv
printf 'time,count\n2026-10-01T00:00:00Z,2300\n' >"$TMP/exp"
expect_out "--no-tail" "$TMP/exp" "$TMP/tailstore" --all-merchants --from 2026-10-01 \
    --to 2026-10-02 -b total --no-tail -f csv

# ---- group keys that need CSV quoting and JSON escaping.
"$LOADER" "$TMP/oddstore" -n 0 --odd || exit 1
printf 'page,count\n"a,b",1\nbad\377,1\n"say ""hi""",1\n"two\nlines",1\n' >"$TMP/exp"
expect_out "csv quoting" "$TMP/exp" "$TMP/oddstore" -m 999999 --from 2026-10-01 \
    --to 2026-10-02 -b total -g page -f csv
run "$TMP/oddstore" -m 999999 --from 2026-10-01 --to 2026-10-02 -b total -g page -f json
CHECKS=$((CHECKS + 1))
if command -v python3 >/dev/null; then
    python3 - "$TMP/out" <<'EOF' || fail "json escaping"
import json, sys
doc = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
keys = [r[0] for r in doc["rows"]]
if keys != ["a,b", "bad\ufffd", 'say "hi"', "two\nlines"] or doc["columns"] != ["page", "count"]:
    sys.exit("json escaping: %r" % doc)
EOF
fi

# ---- the table on a terminal: width in columns, not code points; characters
# that would move the cursor or reorder the line replaced by '?'.
"$LOADER" "$TMP/dispstore" -n 0 --display || exit 1
D=("$TMP/dispstore" -m 999998 --from 2026-10-01 --to 2026-10-02 -b total)
{
    printf 'page    count  sum_value\n'
    printf -- '------  -----  ---------\n'
    printf '\346\227\245\346\234\254\350\252\236      2        inf\n' # CJK: 6 columns
    printf 'a?b         1       1.00\n'                           # C1 control
    printf 'e\314\201           1       1.00\n'                    # e + combining mark: 1
    printf 'l?m         1       1.00\n'                           # U+2028
    printf '?evil       1       1.00\n'                           # right-to-left override
    printf '\360\237\230\200x         1       1.00\n'               # emoji: 2 columns
} >"$TMP/exp"
expect_out "table widths and unsafe characters" "$TMP/exp" "${D[@]}" -g page -M count \
    -M sum:value

# ---- an overflowed sum is inf in every format (a string in JSON, which has
# no infinity); no value stays empty / null.
printf 'page,sum_value,min_value\n\346\227\245\346\234\254\350\252\236,inf,1e+308\n' >"$TMP/exp"
expect_out "inf in csv" "$TMP/exp" "${D[@]}" -g page -M sum:value -M min:value -n 1 -f csv
run "${D[@]}" -g page -M sum:value -n 1 -f json
CHECKS=$((CHECKS + 1))
grep -qF "$(printf '["\346\227\245\346\234\254\350\252\236","inf"]')" "$TMP/out" ||
    fail "inf in json: $(cat "$TMP/out")"

# ---- dimensions named like other columns get a group_ prefix in the header.
printf 'time,group_time,count\n2026-10-01T00:00:00Z,t1,7\n' >"$TMP/exp"
expect_out "dimension named time" "$TMP/exp" "$TMP/dispstore" -m 999998 --from 2026-10-01 \
    --to 2026-10-01T01:00:00Z -g time -f csv
printf 'group_count,count\nc1,7\n' >"$TMP/exp"
expect_out "dimension named count" "$TMP/exp" "${D[@]}" -g count -f csv
printf 'time,count\nt1,7\n' >"$TMP/exp"
expect_out "dimension named time, no time column" "$TMP/exp" "${D[@]}" -g time -f csv

# ---- CSV of estimated distinct counts: the data as it is, a note on stderr.
run "$ST" --all-merchants --from 2026-10-01 --to 2026-10-04 -b total -M users -f csv
CHECKS=$((CHECKS + 1))
if [ "$RC" -ne 0 ] || [ "$(wc -l <"$TMP/out")" -ne 2 ] ||
    ! grep -qxF "tsagg-query: note: users and sessions are estimates (HyperLogLog, standard error 0.81%); --exact counts them exactly" "$TMP/err"; then
    fail "csv approximate note: exit $RC, stderr '$(cat "$TMP/err")'"
fi
run "$ST" --all-merchants --from 2026-10-01 --to 2026-10-04 -b total -M users -f csv --exact
CHECKS=$((CHECKS + 1))
[ "$RC" -eq 0 ] && [ ! -s "$TMP/err" ] || fail "csv --exact: stderr '$(cat "$TMP/err")'"

finish
