#!/bin/bash
# What the tools do with a store that is damaged, half copied or not a
# store at all: what tsagg-verify reports (and its exit code), what the
# repair it offers restores, and that nothing is created where no store is.
#
# The binaries come from the environment (tools/meson.build sets them):
# TSAGG_GEN TSAGG_INGEST TSAGG_QUERY TSAGG_COMPACT TSAGG_REBUILD TSAGG_VERIFY.
set -euo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE CMD...: run CMD (stdout to $tmp/out, stderr to $tmp/err) and
# check its exit code.
expect() {
    local want=$1 got=0
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" != "$want" ]; then
        fail "exit $got, expected $want: $*"
        sed 's/^/    /' "$tmp/out" "$tmp/err" >&2
    fi
}

# grep_in FILE PATTERN: FILE must contain PATTERN (fixed string).
grep_in() {
    grep -qF -- "$2" "$1" || { fail "'$2' not in $1:"; sed 's/^/    /' "$1" >&2; }
}
grep_not() {
    ! grep -qF -- "$2" "$1" || { fail "'$2' in $1:"; sed 's/^/    /' "$1" >&2; }
}

"$TSAGG_GEN" --events 6000 --days 1 --merchants 5 --late 0 >"$tmp/ev.ndjson"
# fresh STORE: a compacted copy of the sample
fresh() {
    rm -rf "$1"
    "$TSAGG_INGEST" --quiet --compact "$1" "$tmp/ev.ndjson" >/dev/null
}
q() { # every merchant, hourly counts, as CSV
    "$TSAGG_QUERY" "$1" --all-merchants --from 2026-10-01 --to 2026-10-03 --format csv
}

# ---- a directory that is not a store: nothing is created in it ----------------
mkdir "$tmp/notastore"
echo "someone else's file" >"$tmp/notastore/notes.txt"
expect 3 "$TSAGG_COMPACT" "$tmp/notastore"
grep_in "$tmp/err" "TSAGG_ENOTSTORE"
expect 3 "$TSAGG_REBUILD" "$tmp/notastore" --from 2026-10-01 --to 2026-10-02
expect 3 "$TSAGG_INGEST" --quiet "$tmp/notastore" "$tmp/ev.ndjson"
grep_in "$tmp/err" "not empty"
[ "$(ls -A "$tmp/notastore")" = "notes.txt" ] ||
    fail "something was created in a directory that is not a store: $(ls -A "$tmp/notastore")"
mkdir "$tmp/empty"
expect 3 "$TSAGG_COMPACT" "$tmp/empty"
[ -z "$(ls -A "$tmp/empty")" ] || fail "tsagg-compact created $(ls -A "$tmp/empty") in an empty directory"

# ---- a damaged descriptor is damage (exit 1), not another version ------------------
store=$tmp/store
fresh "$store"
expect 0 "$TSAGG_VERIFY" -q "$store"
cp "$store/tsagg.store" "$tmp/descriptor"
printf '\x41' | dd of="$store/tsagg.store" bs=1 seek=8 conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED $store: TSAGG_ECHECKSUM"
grep_not "$tmp/out" "version"
printf 'X' | dd of="$store/tsagg.store" bs=1 seek=0 conv=notrunc status=none
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED $store"
cp "$tmp/descriptor" "$store/tsagg.store"
expect 0 "$TSAGG_VERIFY" -q "$store"

if [ "$fails" -ne 0 ]; then
    echo "$fails checks failed" >&2
    exit 1
fi
echo "store damage: all checks passed"
