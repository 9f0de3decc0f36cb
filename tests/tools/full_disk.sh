#!/bin/bash
# A real full disk: a store on a small tmpfs whose free space is taken by a
# filler file. A compaction and a rebuild that run out of space fail (exit
# 3, naming ENOSPC) and leave the file system exactly as they found it;
# once the filler is gone the same commands succeed. Needs the right to
# mount a tmpfs (root): skipped (exit 77) where that is not allowed.
#
# The binaries come from the environment (tools/meson.build sets them).
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mnt=$tmp/mnt
mkdir "$mnt"
if ! mount -t tmpfs -o size=8m tmpfs "$mnt" 2>/dev/null; then
    echo "skip: cannot mount a tmpfs here"
    exit 77
fi
trap 'umount "$mnt" 2>/dev/null; rm -rf "$tmp"' EXIT

# Every file under the store with its size, and the space the mount uses.
state() { (cd "$mnt" && find . -type f -printf '%p %s\n' | sort; df -k --output=used . | tail -1); }

# Take all free space but `slack` KiB.
fill() {
    dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
    local size
    size=$(stat -c %s "$mnt/filler")
    truncate -s $((size - $1 * 1024)) "$mnt/filler"
}

store=$mnt/store
"$TSAGG_GEN" --events 20000 --days 1 --merchants 5 --late 0 >"$tmp/ev.ndjson"
"$TSAGG_INGEST" --quiet "$store" "$tmp/ev.ndjson" || fail "ingest"

# for WHAT CMD...: with 200 KiB left (room for some hours, not all), CMD fails for lack of space and leaves
# everything as it was; with the filler removed, it succeeds.
for_full_disk() {
    local what=$1
    shift
    fill 200
    local before after rc=0
    before=$(state)
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    after=$(state)
    [ "$rc" = 3 ] || fail "$what on a full disk: exit $rc, expected 3: $(cat "$tmp/err")"
    grep -q "No space left on device" "$tmp/err" || fail "$what: no ENOSPC named: $(cat "$tmp/err")"
    [ "$before" = "$after" ] || fail "$what left files behind:
$(diff <(echo "$before") <(echo "$after"))"
    rm -f "$mnt/filler"
    "$@" >"$tmp/out" 2>"$tmp/err" || fail "$what once space is back: $(cat "$tmp/err")"
}

for_full_disk "tsagg-compact" "$TSAGG_COMPACT" "$store"
for_full_disk "tsagg-rebuild" "$TSAGG_REBUILD" --quiet --from 2000-01-01 --to 2100-01-01 "$store"
"$TSAGG_VERIFY" "$store" >/dev/null 2>&1 || fail "the store does not verify after it all"

finish "full disk"
