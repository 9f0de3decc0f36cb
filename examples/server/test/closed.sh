#!/bin/bash
# Senders that go away before the answer, as a closing page's tracker does:
# each Plausible event is written on its own connection, which is closed at
# once. Whatever the store then holds (tsagg-query on the store) is what
# /metrics counts as accepted, no more and no less.
. "$(dirname "$0")/lib.sh"
: "${TSAGG_QUERY:?}"

S=$T/store
start_server "$S" --no-maintenance
new_site 3 closed.example
HOSTPORT=${URL#http://}
N=40

# send_and_close BODY: the whole request, then the connection closed
# without reading the answer.
send_and_close() {
    exec 3<>"/dev/tcp/${HOSTPORT%:*}/${HOSTPORT##*:}"
    printf 'POST /api/event HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$HOSTPORT" "${#1}" "$1" >&3
    exec 3>&-
}
for i in $(seq "$N"); do
    send_and_close "{\"n\":\"pageview\",\"u\":\"https://closed.example/gone/$i\",\"d\":\"closed.example\"}"
done
check_status "an answered event" 202 POST /api/event \
    -d '{"n":"pageview","u":"https://closed.example/answered","d":"closed.example"}'

stored() {
    "$TSAGG_QUERY" "$S" -m 3 --from -1d --to now+1d -b total -f csv | tail -1 | cut -d, -f2
}
accepted() {
    req GET /metrics >/dev/null
    sed -n 's/^tsagg_server_events_total{endpoint="plausible_event",result="accepted"} //p' "$T/body"
}
# The closed connections' requests may still be on their way: wait until
# the count holds still (or agrees).
prev=
for _ in $(seq 50); do
    got="$(accepted) $(stored)"
    [ "$got" = "$prev" ] && [ "${got% *}" = "${got#* }" ] && break
    prev=$got
    sleep 0.1
done
set -- $got
check "the answered event and some of the closed ones are stored" true \
    "$([ "$2" -ge 2 ] && [ "$2" -le $((N + 1)) ] && echo true)"
check "every stored event counted as accepted once" "$2" "$1"
stop_server TERM
check "clean stop" 0 "$STOP_RC"
check "the store after the stop" "$2" "$(stored)"
finish
