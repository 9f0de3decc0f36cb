# query_tz.sh - --tz: bucket boundaries and the offsets printed beside times,
# in a half-hour zone (Asia/Kolkata, +05:30) and across daylight-saving
# changes (Europe/Berlin: 25-hour 2026-10-25, 23-hour 2026-03-29;
# America/New_York). Counts come from awk over tsagg-gen's NDJSON, with the
# UTC boundaries of each local day written out by hand.
. "$(dirname "${BASH_SOURCE[0]}")/query_lib.sh"

for z in Asia/Kolkata Europe/Berlin America/New_York; do
    [ -f "/usr/share/zoneinfo/$z" ] || { echo "SKIP: no tzdata ($z)" >&2; exit 77; }
done

GENOPTS=(-n 3000 -d 3 -m 5 --start 2026-10-24T00:00:00Z --dup 0 --late 0)
"$GEN" "${GENOPTS[@]}" >"$TMP/ev.ndjson" || exit 1
"$LOADER" "$TMP/store" "${GENOPTS[@]}" || exit 1
flatten "$TMP/ev.ndjson"
REF=$TMP/ev.ndjson.tsv
ST=$TMP/store

# count_between LABEL FROM TO...: "LABEL,n" for events with FROM <= ts < TO,
# comparing RFC 3339 UTC strings (they sort as times).
count_rows() {
    awk -F'\t' -v spec="$1" '
        BEGIN { n = split(spec, s, " ") }
        { for (i = 1; i + 2 <= n; i += 3) if ($1 >= s[i + 1] && $1 < s[i + 2]) c[i]++ }
        END { for (i = 1; i + 2 <= n; i += 3) print s[i] "," c[i] + 0 }' "$REF"
}

# ---- Berlin days: 24 h, 25 h (clocks back at 01:00Z on the 25th), 24 h.
{
    echo "time,count"
    count_rows "2026-10-24T00:00:00+02:00 2026-10-23T22 2026-10-24T22
                2026-10-25T00:00:00+02:00 2026-10-24T22 2026-10-25T23
                2026-10-26T00:00:00+01:00 2026-10-25T23 2026-10-26T23
                2026-10-27T00:00:00+01:00 2026-10-26T23 2026-10-27T23"
} >"$TMP/exp"
expect_out "Berlin days across the autumn change" "$TMP/exp" "$ST" --all-merchants \
    --from 2026-10-24 --to 2026-10-27 --bucket day --tz Europe/Berlin -f csv
grep -q ',0$' "$TMP/exp" && fail "Berlin days: the reference has an empty day"

# Hours around the change: 02:00 happens twice, with different offsets.
{
    echo "time,count"
    count_rows "2026-10-25T01:00:00+02:00 2026-10-24T23 2026-10-25T00
                2026-10-25T02:00:00+02:00 2026-10-25T00 2026-10-25T01
                2026-10-25T02:00:00+01:00 2026-10-25T01 2026-10-25T02
                2026-10-25T03:00:00+01:00 2026-10-25T02 2026-10-25T03"
} >"$TMP/exp"
expect_out "Berlin hours across the change" "$TMP/exp" "$ST" --all-merchants \
    --from 2026-10-24T23:00:00Z --to 2026-10-25T03:00:00Z --tz Europe/Berlin -f csv

# Weeks start on the local Monday; months on the local 1st.
{
    echo "time,count"
    count_rows "2026-10-19T00:00:00+02:00 2026-10-24 2026-10-25T23
                2026-10-26T00:00:00+01:00 2026-10-25T23 2026-10-27"
} >"$TMP/exp"
expect_out "Berlin weeks" "$TMP/exp" "$ST" --all-merchants --from 2026-10-24 --to 2026-10-27 \
    -b week --tz Europe/Berlin -f csv
printf 'time,count\n2026-10-01T00:00:00+02:00,%s\n2026-11-01T00:00:00+01:00,0\n' \
    "$(awk 'END { print NR }' "$REF")" >"$TMP/exp"
expect_out "Berlin months" "$TMP/exp" "$ST" --all-merchants --from 2026-10-24 \
    --to 2026-11-15 -b month --tz Europe/Berlin -f csv

# Spring: 2026-03-29 lasts 23 hours; empty buckets are still there.
printf 'time,count\n%s,0\n%s,0\n%s,0\n' 2026-03-28T00:00:00+01:00 2026-03-29T00:00:00+01:00 \
    2026-03-30T00:00:00+02:00 >"$TMP/exp"
expect_out "Berlin days across the spring change" "$TMP/exp" "$ST" --all-merchants \
    --from 2026-03-27T23:00:00Z --to 2026-03-30T22:00:00Z -b day --tz Europe/Berlin -f csv

# ---- Kolkata: hours are UTC hours (xx:30 local), days start at 18:30Z.
{
    echo "time,count"
    count_rows "2026-10-24T05:30:00+05:30 2026-10-24T00 2026-10-24T01
                2026-10-24T06:30:00+05:30 2026-10-24T01 2026-10-24T02
                2026-10-24T07:30:00+05:30 2026-10-24T02 2026-10-24T03"
} >"$TMP/exp"
expect_out "Kolkata hours" "$TMP/exp" "$ST" --all-merchants --from 2026-10-24 \
    --to 2026-10-24T03:00:00Z --tz Asia/Kolkata -f csv
{
    echo "time,count"
    count_rows "2026-10-24T00:00:00+05:30 2026-10-23T18:30 2026-10-24T18:30
                2026-10-25T00:00:00+05:30 2026-10-24T18:30 2026-10-25T18:30
                2026-10-26T00:00:00+05:30 2026-10-25T18:30 2026-10-26T18:30
                2026-10-27T00:00:00+05:30 2026-10-26T18:30 2026-10-27"
} >"$TMP/exp"
expect_out "Kolkata days" "$TMP/exp" "$ST" --all-merchants --from 2026-10-24 \
    --to 2026-10-27 -b day --tz Asia/Kolkata -f csv

# ---- a total bucket starts at --from, shown in the zone; New York is at
# -04:00 until 2026-11-01.
printf 'time,count\n2026-10-24T06:00:00-04:00,%s\n' \
    "$(awk -F'\t' '$1 >= "2026-10-24T10" { n++ } END { print n + 0 }' "$REF")" >"$TMP/exp"
expect_out "New York total" "$TMP/exp" "$ST" --all-merchants --from 2026-10-24T10:00:00Z \
    --to 2026-10-28 -b total --tz America/New_York -f csv
printf 'time,count\n2026-11-01T00:00:00-04:00,0\n2026-11-02T00:00:00-05:00,0\n' >"$TMP/exp"
expect_out "New York days" "$TMP/exp" "$ST" --all-merchants --from 2026-11-01T04:00:00Z \
    --to 2026-11-03T05:00:00Z -b day --tz America/New_York -f csv

# UTC by name is "Z", as without --tz.
printf 'time,count\n2026-11-01T00:00:00Z,0\n' >"$TMP/exp"
expect_out "--tz UTC" "$TMP/exp" "$ST" --all-merchants --from 2026-11-01 --to 2026-11-02 \
    -b day --tz UTC -f csv

# ---- JSON and the table carry the zone too.
run "$ST" -m 1 --from 2026-10-24 --to 2026-10-26 -b day --tz Asia/Kolkata -f json
CHECKS=$((CHECKS + 1))
grep -qF '"from":"2026-10-24T05:30:00+05:30","to":"2026-10-26T05:30:00+05:30","bucket":"day","tz":"Asia/Kolkata"' \
    "$TMP/out" || fail "json with --tz: $(cat "$TMP/out" "$TMP/err")"
run "$ST" -m 1 --from 2026-10-24 --to 2026-10-26 -b day --tz Asia/Kolkata
CHECKS=$((CHECKS + 1))
[ "$(sed -n 3p "$TMP/out" | cut -c1-25)" = "2026-10-24T00:00:00+05:30" ] ||
    fail "table with --tz: $(cat "$TMP/out" "$TMP/err")"

finish
