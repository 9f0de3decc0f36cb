# lib.sh - the checks the tool scripts share (maintenance, rules, store
# damage, full disk, ingest crash and NUL, packaging); sourced, not run.
# Each script sets its own shell options first.
#
# $tmp is a scratch directory removed on exit (a script that needs more
# cleanup replaces the EXIT trap and removes $tmp itself); $fails counts
# the failed checks, which finish turns into the exit code.

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE CMD...: run CMD (stdout to $tmp/out, stderr to $tmp/err) and
# check its exit code; on a mismatch show what CMD printed.
expect() {
    local want=$1 got=0
    shift
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" != "$want" ]; then
        fail "exit $got, expected $want: $*"
        sed 's/^/    /' "$tmp/out" "$tmp/err" >&2
    fi
}

# grep_in FILE TEXT: FILE must contain TEXT (a fixed string).
grep_in() {
    grep -qF -- "$2" "$1" || { fail "'$2' not in $1:"; sed 's/^/    /' "$1" >&2; }
}

# grep_not FILE TEXT: FILE must not contain TEXT.
grep_not() {
    ! grep -qF -- "$2" "$1" || { fail "'$2' in $1:"; sed 's/^/    /' "$1" >&2; }
}

# finish WHAT: exit 1 if a check failed, else say WHAT passed.
finish() {
    if [ "$fails" -ne 0 ]; then
        echo "$fails checks failed" >&2
        exit 1
    fi
    echo "$1: all checks passed"
}
