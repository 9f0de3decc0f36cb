# lib.sh - what the server tests share: a temporary directory, starting and
# stopping a real tsagg-server on 127.0.0.1 with an ephemeral port, and
# curl with bounded time. Sourced; needs TSAGG_SERVER (the binary).
set -eu

: "${TSAGG_SERVER:?TSAGG_SERVER must name the tsagg-server binary}"
command -v curl >/dev/null || { echo "curl is not installed: skipped"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed: skipped"; exit 77; }

T=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

export TSAGG_ADMIN_KEY=admin-key-for-tests-0123456789
ADMIN="Authorization: Bearer $TSAGG_ADMIN_KEY"
fails=0

# start_server STORE [OPTION]...: sets SERVER_PID and URL.
start_server() {
    local store=$1
    shift
    : > "$T/server.out"
    "$TSAGG_SERVER" "$store" --listen 127.0.0.1:0 "$@" >"$T/server.out" 2>>"$T/server.err" &
    SERVER_PID=$!
    local i
    for i in $(seq 100); do
        if grep -q '^listening on ' "$T/server.out"; then
            URL="http://$(sed -n 's/^listening on //p' "$T/server.out")"
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "the server did not start:"; cat "$T/server.err"
    exit 1
}

# stop_server [SIGNAL]: signal (TERM) and wait; the exit status in STOP_RC.
stop_server() {
    local sig=${1:-TERM}
    STOP_RC=0
    kill -"$sig" "$SERVER_PID"
    wait "$SERVER_PID" || STOP_RC=$?
    SERVER_PID=
}

# req METHOD PATH [CURL ARG]...: the body in $T/body, prints the status.
req() {
    local method=$1 path=$2
    shift 2
    curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -X "$method" "$@" "$URL$path"
}

# check WHAT EXPECTED GOT
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected '$2', got '$3'"
        [ -f "$T/body" ] && echo "  body: $(head -c 400 "$T/body")"
        fails=$((fails + 1))
    fi
}

# check_status WHAT EXPECTED METHOD PATH [CURL ARG]...
check_status() {
    local what=$1 want=$2
    shift 2
    check "$what" "$want" "$(req "$@")"
}

# new_site MERCHANT DOMAIN [ZONE]: the site's JSON into $T/site-MERCHANT.json
new_site() {
    local zone=${3:-UTC}
    check "create site $1" 201 "$(req POST /api/v1/sites -H "$ADMIN" \
        -d "{\"merchant\": $1, \"domain\": \"$2\", \"timezone\": \"$zone\"}")"
    cp "$T/body" "$T/site-$1.json"
}

site_field() { jq -r ".$2" "$T/site-$1.json"; }

finish() {
    if [ "$fails" -ne 0 ]; then
        echo "$fails checks failed"
        echo "--- server log:"; cat "$T/server.err"
        exit 1
    fi
    echo "all checks passed"
}
