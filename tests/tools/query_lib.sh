# query_lib.sh - what the tsagg-query shell tests share; sourced, not run.
#
# The tests run as: bash query_X.sh TSAGG_QUERY TEST_LOADER TSAGG_GEN
# (tools/query/meson.build). Exit 0 passed, 1 failed, 77 skipped.

QUERY=$1
LOADER=$2
GEN=$3
if [ ! -x "$QUERY" ] || [ ! -x "$LOADER" ] || [ ! -x "$GEN" ]; then
    echo "usage: $0 TSAGG_QUERY TEST_LOADER TSAGG_GEN" >&2
    exit 77
fi
for tool in awk sort date diff grep; do
    command -v "$tool" >/dev/null || { echo "SKIP: no $tool" >&2; exit 77; }
done
export LC_ALL=C

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tsagg-query-test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
FAILS=0
CHECKS=0

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

# run ARGS...: tsagg-query's stdout in $TMP/out, stderr in $TMP/err, status in $RC.
run() {
    "$QUERY" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
}

# expect_out NAME EXPECTED_FILE ARGS...: exit 0 and exactly that stdout.
expect_out() {
    local name=$1 expected=$2
    shift 2
    CHECKS=$((CHECKS + 1))
    run "$@"
    if [ "$RC" -ne 0 ]; then
        fail "$name: exit $RC: $(head -c 400 "$TMP/err")"
    elif ! diff -u "$expected" "$TMP/out" >"$TMP/diff"; then
        fail "$name: output differs:"
        head -40 "$TMP/diff" >&2
    fi
}

# expect_error NAME CODE MESSAGE ARGS...: exit CODE, MESSAGE (a fixed string)
# on stderr, nothing on stdout.
expect_error() {
    local name=$1 code=$2 msg=$3
    shift 3
    CHECKS=$((CHECKS + 1))
    run "$@"
    if [ "$RC" -ne "$code" ]; then
        fail "$name: exit $RC, expected $code: $(head -c 400 "$TMP/err")"
    elif ! grep -qF -- "$msg" "$TMP/err"; then
        fail "$name: stderr lacks '$msg': $(head -c 400 "$TMP/err")"
    elif [ -s "$TMP/out" ]; then
        fail "$name: wrote to stdout on error"
    fi
}

# flatten NDJSON -> NDJSON.tsv: ts merchant event user session page country
# device value, one line per event, client retries (same merchant, ts and id)
# once, as a compacted store counts them.
flatten() {
    awk '
    function get(k,   s, n) {
        if (!match($0, "\"" k "\":(\"[^\"]*\"|[^,}]*)"))
            return ""
        n = length(k) + 3
        s = substr($0, RSTART + n, RLENGTH - n)
        gsub(/^"|"$/, "", s)
        return s
    }
    {
        key = get("merchant") " " get("ts") " " get("id")
        if (key in seen)
            next
        seen[key] = 1
        print get("ts") "\t" get("merchant") "\t" get("event") "\t" get("user") "\t" \
              get("session") "\t" get("page") "\t" get("country") "\t" get("device") "\t" \
              get("value")
    }' "$1" >"$1.tsv"
}

# hour_labels EPOCH N: N RFC 3339 UTC hour starts from EPOCH.
hour_labels() {
    local i
    for ((i = 0; i < $2; i++)); do
        date -u -d "@$(($1 + i * 3600))" +%Y-%m-%dT%H:%M:%SZ
    done
}

# 1234567 -> 1,234,567
thousands() {
    echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS of $CHECKS checks failed" >&2
        exit 1
    fi
    echo "$CHECKS checks passed"
    exit 0
}
