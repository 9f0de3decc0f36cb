#!/bin/bash
# A NUL byte ("\u0000" in NDJSON, a raw one in CSV) in an event name, an
# attribute key or a string value: the library refuses the event at append,
# and tsagg-ingest reports the line as bad with its file, line and field,
# loading the rest.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat >"$tmp/nul.ndjson" <<'EOF_JSON'
{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"page_view","page":"/a"}
{"ts":"2026-11-20T13:45:02Z","merchant":1,"event":"page_view","page":"/a\u0000b"}
{"ts":"2026-11-20T13:45:03Z","merchant":1,"event":"page\u0000view"}
{"ts":"2026-11-20T13:45:04Z","merchant":1,"event":"x","k\u0000ey":"v"}
{"ts":"2026-11-20T13:45:05Z","merchant":1,"event":"page_view","page":"/b"}
EOF_JSON
rc=0
"$TSAGG_INGEST" "$tmp/st" "$tmp/nul.ndjson" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "exit $rc, expected 1 (lines rejected)"
grep_in "$tmp/err" "nul.ndjson:2: event rejected by the library: attribute 'page': the value holds a NUL byte at offset 2"
grep_in "$tmp/err" "nul.ndjson:3: event rejected by the library: event name holds a NUL byte"
grep_in "$tmp/err" "nul.ndjson:4: event rejected by the library: attribute 'k?ey': the key holds a NUL byte at offset 1"
grep_in "$tmp/err" "2 events accepted, 3 rejected"

# CSV: a raw NUL byte inside a cell.
printf 'ts,merchant,event,page\n2026-11-20T13:45:01Z,1,page_view,/a\n2026-11-20T13:45:02Z,1,page_view,/a\0b\n' >"$tmp/nul.csv"
rc=0
"$TSAGG_INGEST" --format csv "$tmp/st2" "$tmp/nul.csv" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "CSV: exit $rc, expected 1"
grep_in "$tmp/err" "nul.csv:3:"
grep_in "$tmp/err" "NUL byte"

finish "NUL bytes"
