# ingest_lib.sh - what the tsagg-ingest test scripts share. Sourced.
#
# meson passes the programs in TSAGG_INGEST, TSAGG_INGEST_CHECK and
# TSAGG_GEN (tools/ingest/meson.build); a script run without them skips
# (exit 77), like one whose data is missing.
set -u
export LC_ALL=C

INGEST=${TSAGG_INGEST:-}
CHECK=${TSAGG_INGEST_CHECK:-}
GEN=${TSAGG_GEN:-}
for prog in "$INGEST" "$CHECK" "$GEN"; do
    if [ -z "$prog" ] || [ ! -x "$prog" ]; then
        echo "skip: set TSAGG_INGEST, TSAGG_INGEST_CHECK and TSAGG_GEN (meson test does)"
        exit 77
    fi
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

# expect_eq WHAT WANT GOT
expect_eq() {
    if [ "$2" != "$3" ]; then
        fail "$1: expected '$2', got '$3'"
    fi
}

# log_events STORE: the events in the store's raw log, retries included (a
# query counts a retry once).
log_events() {
    "$CHECK" dump "$1" | wc -l
}

# run_ingest ARGS...: runs tsagg-ingest; sets RC, OUT (stdout) and ERR (stderr).
run_ingest() {
    "$INGEST" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
}

# expect_run CODE TEXT ARGS...: tsagg-ingest ARGS exits with CODE and
# prints TEXT (a fixed string; "" for anything) on stderr.
expect_run() {
    local code=$1 text=$2
    shift 2
    run_ingest "$@"
    if [ "$RC" != "$code" ]; then
        fail "tsagg-ingest $*: exit $RC, expected $code; stderr: $ERR"
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$TMP/err"; then
        fail "tsagg-ingest $*: stderr lacks '$text'; stderr: $ERR"
    fi
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS check(s) failed"
        exit 1
    fi
    echo "ok"
    exit 0
}
