#!/bin/bash
# Messages and exit codes of tsagg-compact, tsagg-rebuild and tsagg-verify:
# a rebuild range outside the years partitions hold is a usage error naming
# the value; a report that cannot be written to stdout is a failure (exit
# 3), not success; a schema file's refused field says why; the figure of
# client retries has one name, "duplicates dropped", in every tool.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

store=$tmp/store
"$TSAGG_GEN" --events 5000 --days 1 --merchants 5 >"$tmp/ev.ndjson"
expect 0 "$TSAGG_INGEST" --quiet "$store" "$tmp/ev.ndjson"

# One name for the retries dropped.
expect 0 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/out" " duplicates dropped) into "
grep_in "$tmp/out" " (0 duplicates dropped)"
grep -q retries "$tmp/out" && fail "tsagg-compact still says retries"
expect 0 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02
grep_in "$tmp/out" " duplicates dropped, 0 moved out of range"
grep -q retries "$tmp/out" && fail "tsagg-rebuild still says retries"

# A range outside the years 0000-9999: usage, naming the value.
expect 2 "$TSAGG_REBUILD" "$store" --from @-70000000000 --to 2026-10-02
grep_in "$tmp/err" "--from @-70000000000 is outside the years 0000-9999"
expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to @300000000000
grep_in "$tmp/err" "--to @300000000000 is outside the years 0000-9999"

# A full stdout: the report is lost, so the run failed.
if [ -w /dev/full ]; then
    for t in "$TSAGG_VERIFY" "$TSAGG_COMPACT"; do
        got=0
        "$t" "$store" >/dev/full 2>"$tmp/err" || got=$?
        [ "$got" = 3 ] || fail "$(basename "$t") >/dev/full: exit $got, expected 3"
        grep_in "$tmp/err" "stdout: write error"
    done
    got=0
    "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 >/dev/full 2>"$tmp/err" || got=$?
    [ "$got" = 3 ] || fail "tsagg-rebuild >/dev/full: exit $got, expected 3"
    # --quiet prints nothing: nothing to lose.
    expect 0 "$TSAGG_COMPACT" --quiet "$store"
fi

# Schema files: which rule a refused field breaks.
check_schema() { # LINE... then the expected message
    local want=${*: -1}
    printf '%s\n' "${@:1:$#-1}" >"$tmp/s.schema"
    expect 2 "$TSAGG_REBUILD" "$store" --from 2026-10-01 --to 2026-10-02 --schema "$tmp/s.schema"
    grep_in "$tmp/err" "$want"
}
check_schema "dimension page" "dimension a/b" "s.schema:2: dimension 'a/b': invalid name"
check_schema "dimension page" "measure ts" "s.schema:2: measure 'ts': a core field"
check_schema "dimension page" "measure page" "s.schema:2: measure 'page': already declared as a dimension"
for i in $(seq 1 65); do echo "measure m$i"; done >"$tmp/many"
mapfile -t many <"$tmp/many"
check_schema "${many[@]}" "s.schema:65: measure 'm65': too many: at most 64 measures"

finish "maintenance tool messages"
