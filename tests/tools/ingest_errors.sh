#!/bin/bash
# Rejected lines: every documented message with its file and line, the
# exit codes, --rejects (the lines verbatim), --max-errors (exit 4), the
# limit of 20 messages and -v.
. "$(dirname "$0")/ingest_lib.sh"

good='{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"page_view"}'
cat > "$TMP/bad.ndjson" <<JSON
$good
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":
not json at all
{"ts":"2026-11-20T13:45:01Z","event":"page_view"}
{"ts":"2026-11-20T13:45:01Z","merchant":"42","event":"page_view"}
{"ts":"abc","merchant":1,"event":"page_view"}
{"ts":"2026-02-30T00:00:00Z","merchant":1,"event":"page_view"}
{"ts":1.5,"merchant":1,"event":"page_view"}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":""}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","page":7}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","value":"12"}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","user":true}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","id":-3}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","merchant":2}
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x"} {"more":1}
[1,2,3]
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"x","a_field_name_longer_than_sixty_four_bytes_is_not_allowed_anywhere__":1}
$good
JSON
expect_run 1 "" --rejects "$TMP/rejects" "$TMP/st" "$TMP/bad.ndjson"
expect_eq "summary" 1 "$(grep -c "2 events accepted, 16 rejected" "$TMP/err")"
while IFS='|' read -r line message; do
    grep -qF "bad.ndjson:$line: $message" "$TMP/err" || fail "line $line: no '$message' in: $ERR"
done <<'EOF_MESSAGES'
2|invalid JSON: unclosed object or array
3|invalid JSON: expected an object {...}
4|field 'merchant': missing (required)
5|field 'merchant': expected unsigned integer, got "42"
6|field 'ts': expected RFC 3339 time or integer, got "abc"
7|field 'ts': expected RFC 3339 time or integer, got "2026-02-30T00:00:00Z"
8|field 'ts': expected RFC 3339 time or integer, got 1.5
9|field 'event': expected a name of 1..255 bytes, got ""
10|field 'page': expected string, got 7
11|field 'value': expected number, got "12"
12|field 'user': expected string or unsigned integer, got true
13|field 'id': expected unsigned integer, got -3
14|field 'merchant': given twice
15|invalid JSON: more text after the object
16|invalid JSON: expected an object {...}
17|field name of 67 bytes (1..64 allowed)
EOF_MESSAGES
sed -n '2,17p' "$TMP/bad.ndjson" > "$TMP/want-rejects"
cmp -s "$TMP/want-rejects" "$TMP/rejects" || fail "--rejects does not hold the rejected lines verbatim"
expect_eq "accepted events in the store" 2 "$("$CHECK" count "$TMP/st")"

# A rejected CSV row and a broken access-log line, as the other formats say it.
printf 'ts,merchant,event\n2026-11-20T13:45:01Z,1,x\n2026-11-20T13:45:01Z,1\n2026-11-20T13:45:01Z,-1,x\n' > "$TMP/bad.csv"
expect_run 1 "bad.csv:3: 2 fields, the header has 3" "$TMP/st" "$TMP/bad.csv"
grep -qF "bad.csv:4: field 'merchant': expected unsigned integer, got -1" "$TMP/err" || fail "csv: $ERR"
cat > "$TMP/bad.log" <<'LOG'
1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0 (X11; Linux x86_64)"
1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0 (X11; Linux
1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 "-" "-"
1.2.3.4 - - [17/May/2015:10:05:03 +0000] "-" 408 0 "-" "-"
1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 2000 10 "-" "-"
1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 ten "-" "-"
1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 - "-"
1.2.3.4 - - [17/May/2015:10:05:03 +0000]
LOG
expect_run 1 "bad.log:2: field 'user_agent': no closing quote" --merchant 3 "$TMP/st" "$TMP/bad.log"
while IFS='|' read -r line message; do
    grep -qF "bad.log:$line: $message" "$TMP/err" || fail "log line $line: no '$message' in: $ERR"
done <<'EOF_MESSAGES'
3|field 'time': expected [dd/Mon/yyyy:HH:MM:SS +hhmm], got [17/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 "-" "-"
4|field 'request': expected "METHOD PATH PROTOCOL", got "-" 408 0 "-" "-"
5|field 'status': expected a status code 100..599, got 2000 10 "-" "-"
6|field 'bytes': expected a byte count or -, got ten "-" "-"
7|field 'referrer': expected a quoted referrer, got - "-"
8|field 'request': missing (line ends early)
EOF_MESSAGES
expect_eq "access-log summary" 1 "$(grep -c "1 events accepted, 7 rejected" "$TMP/err")"

# --max-errors: stops at the Nth rejected line, keeps what came before.
for i in $(seq 1 5); do echo "$good"; echo "bad $i"; done > "$TMP/five.ndjson"
expect_run 4 "(stopped at --max-errors)" --max-errors 2 "$TMP/max" "$TMP/five.ndjson"
grep -qF "2 events accepted, 2 rejected" "$TMP/err" || fail "--max-errors summary: $ERR"
grep -qF "five.ndjson:4: " "$TMP/err" || fail "--max-errors: line 4 not reported"
grep -qF "five.ndjson:6: " "$TMP/err" && fail "--max-errors: went on past line 4"
expect_eq "events before --max-errors" 2 "$("$CHECK" count "$TMP/max")"
expect_run 1 "5 events accepted, 5 rejected" --max-errors 6 "$TMP/max2" "$TMP/five.ndjson"

# At most 20 messages, then one note; -v shows them all; --rejects is named.
for i in $(seq 1 25); do echo "bad $i"; done > "$TMP/many.ndjson"
expect_run 1 "(further errors counted, not shown)" "$TMP/many" "$TMP/many.ndjson"
expect_eq "messages shown" 20 "$(grep -c '^.*many.ndjson:[0-9]*: ' "$TMP/err")"
grep -qF "0 events accepted, 25 rejected" "$TMP/err" || fail "25 rejected: $ERR"
expect_run 1 "" -v "$TMP/many" "$TMP/many.ndjson"
expect_eq "messages shown with -v" 25 "$(grep -c 'many.ndjson:[0-9]*: ' "$TMP/err")"
expect_run 1 "(further errors counted, not shown; the lines are in $TMP/rej2)" \
    --rejects "$TMP/rej2" "$TMP/many" "$TMP/many.ndjson"
cmp -s "$TMP/many.ndjson" "$TMP/rej2" || fail "--rejects with 25 lines"

# Text after a complete object is named as such, whatever it holds
# (brackets and quotes made simdjson call the object unclosed).
for tail in '}' ' ]' ' x' ' {"more":1' ' [' ' "' ',' ' 1'; do
    printf '%s%s\n' "$good" "$tail"
done > "$TMP/trailing.ndjson"
expect_run 1 "0 events accepted, 8 rejected" "$TMP/st" "$TMP/trailing.ndjson"
expect_eq "text after the object, on every line" 8 \
    "$(grep -c 'trailing.ndjson:[1-8]: invalid JSON: more text after the object$' "$TMP/err")"

# A UTF-8 byte order mark (spreadsheet exports) is not part of the first
# line: the CSV header and the first JSON object read as without it.
printf '\xef\xbb\xbfts,merchant,event\n2026-11-20T13:45:01Z,1,x\n' > "$TMP/bom.csv"
expect_run 0 "1 events accepted, 0 rejected" "$TMP/bom" "$TMP/bom.csv"
printf '\xef\xbb\xbf%s\n' "$good" > "$TMP/bom.ndjson"
expect_run 0 "1 events accepted, 0 rejected" "$TMP/bom" "$TMP/bom.ndjson"

# Compressed input is refused by its magic number, the other inputs load.
printf '%s\n' "$good" | gzip -c > "$TMP/gz.ndjson"
expect_run 3 "$TMP/gz.ndjson: gzip-compressed data, not read: decompress it first, e.g. zcat FILE" \
    "$TMP/gz" "$TMP/gz.ndjson" "$TMP/bom.ndjson"
grep -qF "1 events accepted, 0 rejected" "$TMP/err" || fail "gzip beside a good file: $ERR"
run_ingest "$TMP/gz" - < "$TMP/gz.ndjson"
expect_eq "gzip on standard input: exit" 3 "$RC"
grep -qF "stdin: gzip-compressed data" "$TMP/err" || fail "gzip on stdin: $ERR"

# Lines ended by CR alone read as one line: the reason says so.
printf '%s\r%s\r' "$good" "$good" > "$TMP/cr.ndjson"
printf 'ts,merchant,event\r2026-11-20T13:45:01Z,1,x\r' > "$TMP/cr.csv"
expect_run 1 "cr.ndjson:1: invalid JSON: more text after the object (the line holds a CR without LF: lines that end in CR alone must be converted first" \
    "$TMP/cr" "$TMP/cr.ndjson" "$TMP/cr.csv"
grep -qF "cr.csv:1: header: no 'event' column (ts, merchant and event are required) (the line holds a CR without LF" "$TMP/err" ||
    fail "CR-only CSV: $ERR"
printf '%s\r\n%s\r\n' "$good" "$good" > "$TMP/crlf.ndjson"
expect_run 0 "2 events accepted, 0 rejected" "$TMP/cr" "$TMP/crlf.ndjson"

# A time no partition can hold (outside the years 0000-9999) is a bad line
# with its number, not an accepted event that stops every compaction.
printf '%s\n{"ts":-99999999999999,"merchant":1,"event":"x"}\n{"ts":253402300799999,"merchant":1,"event":"x"}\n' \
    "$good" > "$TMP/far.ndjson"
expect_run 1 "far.ndjson:2: field 'ts': expected a time in the years 0000-9999, got -99999999999999" \
    --compact "$TMP/far" "$TMP/far.ndjson"
grep -qF "2 events accepted, 1 rejected" "$TMP/err" || fail "far ts: $ERR"
expect_eq "far ts: events compacted" 2 "$("$CHECK" count "$TMP/far")"
# A text time that its zone offset carries outside those years is refused
# with the library's message, also on a line of the common shape.
printf '%s\n{"ts":"0000-01-01T00:00:00+00:01","merchant":1,"event":"x"}\n{"ts":"9999-12-31T23:59:59.5-00:01","merchant":1,"event":"x","page":"/"}\n' \
    "$good" > "$TMP/farzone.ndjson"
expect_run 1 "farzone.ndjson:2: event rejected by the library: ts: -62167219260000000 is outside the years 0000-9999 that partitions hold" \
    "$TMP/farzone" "$TMP/farzone.ndjson"
grep -qF "farzone.ndjson:3: event rejected by the library: ts: 253402300859500000 is outside the years 0000-9999" "$TMP/err" ||
    fail "far zone ts: $ERR"
grep -qF "1 events accepted, 2 rejected" "$TMP/err" || fail "far zone ts: $ERR"

# The log's disk fills (a file size limit stands for it): in every --sync
# mode the summary counts as accepted only the events that were stored, and
# names the others.
"$GEN" --events 20000 --days 1 > "$TMP/many.ndjson" 2>/dev/null || fail "tsagg-gen"
for mode in none interval batch; do
    rm -rf "$TMP/full"
    (trap '' XFSZ; ulimit -f 256; exec "$INGEST" --sync "$mode" "$TMP/full" "$TMP/many.ndjson") \
        >"$TMP/out" 2>"$TMP/err"
    RC=$?
    ERR=$(cat "$TMP/err")
    expect_eq "full disk, --sync $mode: exit" 3 "$RC"
    stored=$(log_events "$TMP/full")
    said=$(sed -n 's/.*tsagg-ingest: \([0-9]*\) events accepted.*/\1/p' "$TMP/err")
    expect_eq "full disk, --sync $mode: events said accepted vs stored ($ERR)" "$stored" "$said"
    if [ "$mode" != batch ]; then
        grep -qE "accepted, [0-9]+ read but not stored \(the log write failed\)" "$TMP/err" ||
            fail "full disk, --sync $mode: the events not stored are not named: $ERR"
    fi
done

# A rejects file that cannot be written is a failure (exit 3).
expect_run 3 "$TMP/nodir/rejects" --rejects "$TMP/nodir/rejects" "$TMP/st" "$TMP/five.ndjson"

finish
