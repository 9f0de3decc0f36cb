#!/bin/bash
# SIGINT and SIGTERM stop a running tsagg-ingest cleanly: what it read is
# appended and flushed, the summary says how far the log is durable and
# where to resume, the store holds exactly that prefix of the input, the
# process ends by the signal, and loading from the resume line completes it.
. "$(dirname "$0")/ingest_lib.sh"

GEN_ARGS=(-n 10000 -d 1 -m 20 -s 5)
"$GEN" "${GEN_ARGS[@]}" > "$TMP/ev.ndjson" || fail "tsagg-gen"
lines=$(wc -l < "$TMP/ev.ndjson")

# wait_exit PID: waits at most 20 s for PID to end, sets STATUS (its exit
# status, 128 + N for signal N); kills it and fails when it does not end.
wait_exit() {
    local i
    for i in $(seq 1 200); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        fail "tsagg-ingest did not end within 20 s of the signal"
        kill -9 "$1"
    fi
    wait "$1"
    STATUS=$?
}

# check_stop STORE SIGNAL WHAT: the summary in $TMP/err against the store;
# sets N (events durable) and LINE (where to resume).
check_stop() {
    local store=$1 sig=$2 what=$3 summary
    summary=$(grep "events accepted" "$TMP/err")
    N=$(sed -n 's/.* \([0-9]*\) events accepted, 0 rejected, .*durable up to seq \([0-9]*\)$/\1 \2/p' \
        <<<"$summary")
    read -r N durable <<<"$N"
    if [ -z "$N" ] || [ "$N" != "$durable" ]; then
        fail "$what: summary: $(cat "$TMP/err")"
        N=0 LINE=0
        return
    fi
    LINE=$(sed -n "s/.*stopped by $sig: resume from line \([0-9]*\) of .*/\1/p" "$TMP/err")
    [ -n "$LINE" ] || fail "$what: no resume line: $(cat "$TMP/err")"
    expect_eq "$what: events in the store" "$N" "$(log_events "$store")"
    local want="mismatch after $N events: the log ends early"
    [ "$N" = "$lines" ] && want="$N events match"
    expect_eq "$what: the store holds the first $N lines" "$want" \
        "$("$CHECK" compare "$store" "${GEN_ARGS[@]}")"
}

# 1. SIGINT while blocked on a FIFO, after every line and half of the next
#    were written: all lines are loaded, the half line is where to resume.
mkfifo "$TMP/fifo"
"$INGEST" "$TMP/s1" - < "$TMP/fifo" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/fifo"
cat "$TMP/ev.ndjson" >&3
printf '{"ts":"2026-' >&3
for _ in $(seq 1 100); do
    [ "$(log_events "$TMP/s1" 2>/dev/null)" = "$lines" ] && break
    sleep 0.1
done
kill -INT "$pid"
wait_exit "$pid"
exec 3>&-
expect_eq "SIGINT: ends by the signal" 130 "$STATUS"
check_stop "$TMP/s1" SIGINT "SIGINT on a FIFO"
expect_eq "SIGINT on a FIFO: every complete line" "$lines" "$N"
grep -qF "resume from line $((lines + 1)) of standard input" "$TMP/err" || fail "SIGINT: $(cat "$TMP/err")"

# 2. SIGTERM in the middle of a slow pipe; then the rest from the resume
#    line loads the whole input exactly once.
feed() {
    for i in $(seq 0 19); do
        sed -n "$((i * 500 + 1)),$((i * 500 + 500))p" "$TMP/ev.ndjson"
        sleep 0.1
    done
}
feed | "$INGEST" --sync batch "$TMP/s2" - 2>"$TMP/err" &
pid=$!
sleep 0.7
kill -TERM "$pid"
wait_exit "$pid"
expect_eq "SIGTERM: ends by the signal" 143 "$STATUS"
check_stop "$TMP/s2" SIGTERM "SIGTERM mid-pipe"
expect_eq "SIGTERM mid-pipe: resume line after $N events" $((N + 1)) "$LINE"
[ "$N" -gt 0 ] && [ "$N" -lt "$lines" ] || fail "SIGTERM mid-pipe: $N of $lines events loaded"
tail -n +"$LINE" "$TMP/ev.ndjson" | "$INGEST" --quiet "$TMP/s2" - || fail "resuming at line $LINE"
expect_eq "resumed at line $LINE" "$lines events match" "$("$CHECK" compare "$TMP/s2" "${GEN_ARGS[@]}")"

# 3. SIGTERM while waiting for the writer of a FIFO given by name, after a
#    first file was loaded: that FIFO is where to resume, the next input is
#    named as not begun.
head -n 100 "$TMP/ev.ndjson" > "$TMP/first.ndjson"
mkfifo "$TMP/second.ndjson"
"$INGEST" "$TMP/s3" "$TMP/first.ndjson" "$TMP/second.ndjson" "$TMP/ev.ndjson" 2>"$TMP/err" &
pid=$!
for _ in $(seq 1 100); do
    [ "$(log_events "$TMP/s3" 2>/dev/null)" = 100 ] && break
    sleep 0.1
done
kill -TERM "$pid"
wait_exit "$pid"
expect_eq "SIGTERM on a FIFO without a writer: ends by the signal" 143 "$STATUS"
check_stop "$TMP/s3" SIGTERM "SIGTERM on a FIFO without a writer"
expect_eq "SIGTERM on a FIFO without a writer: events" 100 "$N"
grep -qF "resume from line 1 of $TMP/second.ndjson (every line before it is loaded or rejected); not begun: $TMP/ev.ndjson" \
    "$TMP/err" || fail "SIGTERM on a FIFO without a writer: $(cat "$TMP/err")"

# 4. A regular file is always ready to read, so a signal must be taken
#    before each read, not only while waiting: one already pending when
#    tsagg-ingest starts (blocked and raised before exec) stops it at once.
python3 - "$INGEST" "$TMP/s4" "$TMP/ev.ndjson" 2>"$TMP/err" <<'EOF_PY'
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
os.kill(os.getpid(), signal.SIGTERM)
os.execv(sys.argv[1], sys.argv[1:])
EOF_PY
expect_eq "SIGTERM pending at the start: ends by the signal" 143 "$?"
check_stop "$TMP/s4" SIGTERM "SIGTERM pending at the start"
expect_eq "SIGTERM pending at the start: events" 0 "$N"
grep -qF "resume from line 1 of $TMP/ev.ndjson" "$TMP/err" || fail "pending SIGTERM: $(cat "$TMP/err")"

finish
