#!/bin/bash
# CSV loads: tsagg-gen -f csv event for event, quoting (RFC 4180), empty
# cells, CRLF, undeclared columns, line numbers after quoted line breaks,
# and a header without a required column.
. "$(dirname "$0")/ingest_lib.sh"

GEN_ARGS=(-n 20000 -d 2 -m 40 -s 3)
"$GEN" "${GEN_ARGS[@]}" -f csv > "$TMP/ev.csv" || fail "tsagg-gen"
expect_run 0 "20000 events accepted, 0 rejected" "$TMP/st" "$TMP/ev.csv"
expect_eq "log against the generated stream" "20000 events match" \
    "$("$CHECK" compare "$TMP/st" "${GEN_ARGS[@]}" --csv)"
expect_eq "purchases" "$(grep -c ',purchase,' "$TMP/ev.csv")" \
    "$("$CHECK" count "$TMP/st" --event purchase)"

# The CSV and NDJSON forms of one stream answer queries alike.
"$GEN" "${GEN_ARGS[@]}" > "$TMP/ev.ndjson"
expect_run 0 "" "$TMP/stj" "$TMP/ev.ndjson"
for q in "--group-by referrer" "--group-by country --metric users" "--metric sessions"; do
    # shellcheck disable=SC2086
    expect_eq "CSV and NDJSON: $q" "$("$CHECK" count "$TMP/stj" $q)" "$("$CHECK" count "$TMP/st" $q)"
done

# Quoting, empty cells, an undeclared column, CRLF, integer ts in ms.
printf 'merchant,ts,event,page,note,value,user\r\n' > "$TMP/q.csv"
printf '5,2026-11-20T13:45:01Z,page_view,"/a,b","say ""hi""",,\r\n' >> "$TMP/q.csv"
printf '5,1795182301000,click,"/multi\nline",,2.5,77\r\n' >> "$TMP/q.csv"
printf '5,2026-11-20T13:45:01Z,click,/c,,x,\r\n' >> "$TMP/q.csv"
printf '5,2026-11-20T13:45:01Z,click,/d\r\n' >> "$TMP/q.csv"
printf '5,2026-11-20T13:45:01Z,click,"/e"x,,,\r\n' >> "$TMP/q.csv"
printf '5,2026-11-20T13:45:01Z,"unterminated\n' >> "$TMP/q.csv"
expect_run 1 "2 events accepted, 4 rejected" "$TMP/q" "$TMP/q.csv"
grep -qF "q.csv:5: field 'value': expected number, got x" "$TMP/err" || fail "line 5: $ERR"
grep -qF "q.csv:6: 4 fields, the header has 7" "$TMP/err" || fail "line 6: $ERR"
grep -qF "q.csv:7: text after the closing quote of a field" "$TMP/err" || fail "line 7: $ERR"
grep -qF "q.csv:8: unterminated quoted field" "$TMP/err" || fail "line 8: $ERR"
"$CHECK" dump "$TMP/q" > "$TMP/dump"
expect_eq "quoted cells" '1 1795182301000000 5 page_view 0 0 page=/a,b note=say "hi"' \
    "$(sed -n 1p "$TMP/dump")"
expect_eq "a line break in a cell" "$(printf '2 1795182301000000 5 click 77 0 page=/multi\nline value=2.5')" \
    "$(sed -n 2,3p "$TMP/dump")"

# One quoting rule for splitting records and reading cells (RFC 4180): a
# quote opens quoting only as a field's first byte. A quote inside an
# unquoted cell is an ordinary byte and swallows no rows; text after a
# closing quote rejects that row alone; a quote never closed costs its line.
{
    echo 'ts,merchant,event,page'
    echo '2026-11-20T13:45:01Z,1,page_view,/a 7" screen'
    for i in $(seq 1 1000); do echo "2026-11-20T13:45:01Z,1,page_view,/p$i"; done
    echo '2026-11-20T13:45:01Z,1,page_view,"/b" c'
    echo '2026-11-20T13:45:01Z,1,page_view,/after-b'
    echo '2026-11-20T13:45:01Z,1,page_view,"/never closed'
    echo '2026-11-20T13:45:01Z,1,page_view,/last'
} > "$TMP/inner.csv"
expect_run 1 "1003 events accepted, 2 rejected" "$TMP/inner" "$TMP/inner.csv"
grep -qF "inner.csv:1003: text after the closing quote of a field" "$TMP/err" || fail "row 1003: $ERR"
grep -qF "inner.csv:1005: unterminated quoted field" "$TMP/err" || fail "row 1005: $ERR"
expect_eq "a quote inside an unquoted cell" 1 "$("$CHECK" count "$TMP/inner" --where 'page=/a 7" screen')"
for page in /p1000 /after-b /last; do
    expect_eq "the row of $page after the quotes" 1 "$("$CHECK" count "$TMP/inner" --where "page=$page")"
done

# A header without merchant: the file is skipped, the next one loads.
printf 'ts,event\n2026-11-20T13:45:01Z,x\n' > "$TMP/nohead.csv"
printf 'ts,merchant,event\n2026-11-20T13:45:01Z,1,x\n' > "$TMP/ok.csv"
expect_run 1 "nohead.csv:1: header: no 'merchant' column (ts, merchant and event are required); file skipped" \
    "$TMP/h" "$TMP/nohead.csv" "$TMP/ok.csv"
grep -qF "1 events accepted, 1 rejected" "$TMP/err" || fail "header summary: $ERR"
printf 'ts,merchant,event,ts\n' > "$TMP/twice.csv"
expect_run 1 "twice.csv:1: header: column 'ts' given twice" "$TMP/h" "$TMP/twice.csv"

finish
