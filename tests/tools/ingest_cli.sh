#!/bin/bash
# tsagg-ingest's command line: help, version, usage errors (exit 2),
# failures of files and stores (exit 3), standard input, --quiet, --schema.
. "$(dirname "$0")/ingest_lib.sh"

run_ingest --help
expect_eq "--help exit" 0 "$RC"
grep -q "^Usage: tsagg-ingest" "$TMP/out" || fail "--help: no usage on stdout"

run_ingest --version
expect_eq "--version exit" 0 "$RC"
grep -q "^tsagg-ingest (libtsagg) [0-9]" "$TMP/out" || fail "--version: $OUT"

printf '{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"page_view"}\n' > "$TMP/one.ndjson"
cp "$TMP/one.ndjson" "$TMP/one.txt"
cp "$TMP/one.ndjson" "$TMP/access.log"

expect_run 2 "no STORE given" 
expect_run 2 "Try 'tsagg-ingest --help'."
expect_run 2 "unknown option '--bogus'" --bogus "$TMP/st"
expect_run 2 "bad --format 'xml' (ndjson, csv or combined)" --format xml "$TMP/st" "$TMP/one.ndjson"
expect_run 2 "cannot tell the format from the name: use --format" "$TMP/st" "$TMP/one.txt"
expect_run 2 "--budget: expected MiB, 1..1048576, got '0'" --compact --budget 0 "$TMP/st" "$TMP/one.ndjson"
expect_run 2 "access-log (combined) input needs --merchant N" "$TMP/st" "$TMP/access.log"
expect_run 2 "access-log (combined) input needs --merchant N" --format combined "$TMP/st" "$TMP/one.txt"
expect_run 2 "bad --merchant 'x'" --merchant x "$TMP/st" "$TMP/access.log"
expect_run 2 "bad --max-errors '0'" --max-errors 0 "$TMP/st" "$TMP/one.ndjson"
expect_run 2 "bad --ts-unit 'h'" --ts-unit h "$TMP/st" "$TMP/one.ndjson"
expect_run 2 "bad --sync 'always'" --sync always "$TMP/st" "$TMP/one.ndjson"
expect_run 2 "option '--rejects' needs a value" "$TMP/st" --rejects
[ -e "$TMP/st" ] && fail "a usage error created the store"

# A missing input file: the others still load, exit 3.
expect_run 3 "$TMP/missing.ndjson: No such file or directory" \
    "$TMP/st" "$TMP/missing.ndjson" "$TMP/one.ndjson"
expect_eq "events loaded beside a missing file" 1 "$("$CHECK" count "$TMP/st")"

# A store that cannot be opened: exit 3.
echo "not a store" > "$TMP/file"
expect_run 3 "$TMP/file" "$TMP/file" "$TMP/one.ndjson"

# The format given for a name that says otherwise; standard input, bare and "-".
expect_run 0 "1 events accepted" --format ndjson "$TMP/st2" "$TMP/one.txt"
"$INGEST" "$TMP/st2" < "$TMP/one.ndjson" 2>/dev/null || fail "stdin without FILE"
"$INGEST" "$TMP/st2" - < "$TMP/one.ndjson" 2>/dev/null || fail "stdin as -"
expect_eq "events from a file and stdin" 3 "$("$CHECK" count "$TMP/st2")"

# --quiet: nothing on stderr when all is well.
expect_run 0 "" --quiet "$TMP/st2" "$TMP/one.ndjson"
expect_eq "--quiet stderr" "" "$ERR"

# The summary: counts, rate, durability.
expect_run 0 "tsagg-ingest: 1 events accepted, 0 rejected, " "$TMP/st3" "$TMP/one.ndjson"
grep -q "events/s, durable up to seq 1$" "$TMP/err" || fail "summary: $ERR"

# --schema: a new store with a campaign dimension; an existing store with
# another schema is a usage error.
printf '# test\ndimension page\ndimension utm_campaign\nmeasure value\n' > "$TMP/schema"
printf '{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"v","utm_campaign":"spring","page":"/"}\n{"ts":"2026-11-20T13:46:01Z","merchant":1,"event":"v","utm_campaign":"spring"}\n{"ts":"2026-11-20T13:47:01Z","merchant":1,"event":"v","utm_campaign":"fall"}\n' > "$TMP/campaign.ndjson"
expect_run 0 "3 events accepted" --schema "$TMP/schema" "$TMP/st4" "$TMP/campaign.ndjson"
expect_eq "group by a dimension of --schema" "$(printf 'spring\t2\nfall\t1')" \
    "$("$CHECK" count "$TMP/st4" --group-by utm_campaign)"
expect_run 2 "exists with another schema" --schema "$TMP/schema" "$TMP/st3" "$TMP/one.ndjson"
printf 'dimension 9bad name\n' > "$TMP/badschema"
expect_run 2 "$TMP/badschema:1" --schema "$TMP/badschema" "$TMP/st5" "$TMP/one.ndjson"

finish
