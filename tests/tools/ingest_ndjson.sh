#!/bin/bash
# NDJSON loads: tsagg-gen's output event for event, counts read back with a
# query, field types and conversions, --ts-unit, --sync modes, and a second
# load of the same file deduplicated by compaction.
. "$(dirname "$0")/ingest_lib.sh"

GEN_ARGS=(-n 30000 -d 2 -m 50 -s 7)
"$GEN" "${GEN_ARGS[@]}" --extra 0.3 > "$TMP/ev.ndjson" || fail "tsagg-gen"

expect_run 0 "30000 events accepted, 0 rejected" "$TMP/st" "$TMP/ev.ndjson"
grep -q "durable up to seq 30000$" "$TMP/err" || fail "not durable: $ERR"
got=$("$CHECK" compare "$TMP/st" "${GEN_ARGS[@]}" --extra 0.3)
expect_eq "log against the generated stream" "30000 events match" "$got"

# Counts per merchant, from the file and from the store (the generator's
# retries are repeated lines, which count once).
sort -u "$TMP/ev.ndjson" | grep -o '"merchant":[0-9]*' | cut -d: -f2 | sort | uniq -c |
    sort -k1,1nr -k2,2n | head -3 > "$TMP/top"
while read -r n merchant; do
    expect_eq "events of merchant $merchant" "$n" "$("$CHECK" count "$TMP/st" --merchant "$merchant")"
done < "$TMP/top"
expect_eq "purchases" "$(sort -u "$TMP/ev.ndjson" | grep -c '"event":"purchase"')" \
    "$("$CHECK" count "$TMP/st" --event purchase)"

# Loading the same file again appends it again; compaction keeps one copy
# of each (merchant, ts, id), as for the generator's own retries.
expect_run 0 "30000 events accepted" --compact --budget 1 "$TMP/st" "$TMP/ev.ndjson"
grep -q "^compact: 60000 events read" "$TMP/err" || fail "compact stats: $ERR"
grep -q "^merge: " "$TMP/err" || fail "merge stats: $ERR"
unique=$(sort -u "$TMP/ev.ndjson" | wc -l)
expect_eq "events after a second load and compaction" "$unique" "$("$CHECK" count "$TMP/st")"

# Every --sync mode ends durable.
for mode in batch none interval; do
    expect_run 0 "durable up to seq 30000" --sync "$mode" "$TMP/st-$mode" "$TMP/ev.ndjson"
done

# Field types: RFC 3339 with offsets and fractions, integer times in each
# unit, string and integer ids, escapes, undeclared fields of every type.
cat > "$TMP/types.ndjson" <<'JSON'
{"ts":"2026-11-20T13:45:01.123Z","merchant":42,"event":"page_view","user":"c-1f3","session":"s-9","id":77,"page":"/pricing","referrer":"google.com","country":"DE","device":"mobile","browser":"Chrome","os":"Android","value":12.5}
{"ts":"2026-11-20T14:45:01.123+01:00","merchant":42,"event":"page_view"}
{"ts":1795182301123,"merchant":42,"event":"page_view","user":12345,"session":67890,"value":3}
{ "ts" : "2026-11-20t13:45:01.123456789z" , "merchant" : 42 , "event" : "e\u00e9\"q" , "page" : "/a\\b\n" }
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","extra":{"a":[1,{"b":null}]},"list":[1,2],"flag":false,"n":null,"i":-7,"f":1e3,"s":"t","page":null}
JSON
expect_run 0 "5 events accepted" "$TMP/types" "$TMP/types.ndjson"
"$CHECK" dump "$TMP/types" > "$TMP/dump"
hash_c1f3=$(sed -n 1p "$TMP/dump" | cut -d' ' -f5)
expect_eq "line 1" "1 1795182301123000 42 page_view $hash_c1f3 $(sed -n 1p "$TMP/dump" | cut -d' ' -f6) id=77 page=/pricing referrer=google.com country=DE device=mobile browser=Chrome os=Android value=12.5" "$(sed -n 1p "$TMP/dump")"
expect_eq "offset applied" "2 1795182301123000 42 page_view 0 0" "$(sed -n 2p "$TMP/dump")"
expect_eq "integer ms, integer ids, integer measure" \
    "3 1795182301123000 42 page_view 12345 67890 value=3" "$(sed -n 3p "$TMP/dump")"
expect_eq "escapes, blanks, nine fraction digits" \
    "$(printf '4 1795182301123456 42 eé"q 0 0 page=/a\\b\n')" "$(sed -n 4,5p "$TMP/dump")"
expect_eq "undeclared fields; null is absent" \
    '5 1795182301000000 1 x 0 0 extra={"a":[1,{"b":null}]} list=[1,2] flag=false i=-7 f=1000 s=t' \
    "$(sed -n 6p "$TMP/dump")"
# A string id is hashed: the same string gives the same user in CSV.
printf 'ts,merchant,event,user\n2026-11-20T13:45:01Z,1,x,c-1f3\n' > "$TMP/user.csv"
expect_run 0 "" "$TMP/user" "$TMP/user.csv"
expect_eq "hashed user" "$hash_c1f3" "$("$CHECK" dump "$TMP/user" | cut -d' ' -f5)"

# --ts-unit: the same instant in seconds, milliseconds and microseconds.
printf '{"ts":1795182301,"merchant":1,"event":"x"}\n' > "$TMP/s.ndjson"
printf '{"ts":1795182301000,"merchant":1,"event":"x"}\n' > "$TMP/ms.ndjson"
printf '{"ts":1795182301000000,"merchant":1,"event":"x"}\n' > "$TMP/us.ndjson"
expect_run 0 "" --ts-unit s "$TMP/units" "$TMP/s.ndjson"
expect_run 0 "" "$TMP/units" "$TMP/ms.ndjson"
expect_run 0 "" --ts-unit us "$TMP/units" "$TMP/us.ndjson"
expect_eq "--ts-unit" "1795182301000000 1795182301000000 1795182301000000" \
    "$("$CHECK" dump "$TMP/units" | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"

# Blank lines and CRLF line ends are fine; a last line without newline too.
printf '\n{"ts":1795182301000,"merchant":1,"event":"x"}\r\n  \n{"ts":1795182301000,"merchant":1,"event":"y"}' > "$TMP/crlf.ndjson"
expect_run 0 "2 events accepted, 0 rejected" "$TMP/crlf" "$TMP/crlf.ndjson"

finish
