#!/bin/bash
# tsagg-gen's exit codes (docs/tools.md): a stream stdout cannot take is a
# failure, exit 3 with "write error" on stderr, whether it fails in the
# middle of the events, at the final flush of a short stream, or in the
# --top-merchants table; a usage error stays exit 2.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

expect 0 "$TSAGG_GEN" --events 10 --days 1
[ "$(wc -l <"$tmp/out")" = 10 ] || fail "--events 10: $(wc -l <"$tmp/out") lines"
expect 0 "$TSAGG_GEN" --top-merchants 2
grep_in "$tmp/out" "rank,merchant,share,utc_offset_min"
expect 2 "$TSAGG_GEN" --events lots
grep_in "$tmp/err" "tsagg-gen: bad --events 'lots'"
grep_in "$tmp/err" "Try 'tsagg-gen --help'."

if [ -w /dev/full ]; then
    # 200000 events are several fills of the 1 MiB buffer: a failed write
    # in the middle; 10 events fail at the flush; then the merchant table.
    for args in "--events 200000 --days 1" "--events 10 --days 1" "--format csv --events 10" \
                "--top-merchants 3"; do
        got=0
        # shellcheck disable=SC2086
        "$TSAGG_GEN" $args >/dev/full 2>"$tmp/err" || got=$?
        [ "$got" = 3 ] || fail "tsagg-gen $args >/dev/full: exit $got, expected 3"
        grep_in "$tmp/err" "tsagg-gen: write error: "
    done
else
    echo "skipped the write errors: /dev/full is not writable"
fi

finish "tsagg-gen exit codes"
