#!/bin/bash
# A store of the older format (hourly partitions, MANIFEST version 1): every
# tool that needs the partitions refuses it naming tsagg-rebuild, and
# tsagg-rebuild --all regenerates it from the raw log with the same answers;
# one whose log lost its first events cannot be regenerated and says so.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

store=$tmp/store
start=$(date -u -d '-70 days' +%Y-%m-%d)
end=$(date -u -d '-20 days' +%Y-%m-%d)
"$TSAGG_GEN" --events 20000 --days 40 --merchants 30 --start "$start" >"$tmp/ev.ndjson"
expect 0 "$TSAGG_INGEST" --quiet --compact "$store" "$tmp/ev.ndjson"
q() {
    "$TSAGG_QUERY" "$store" --all-merchants --from "$start" --to "$end" --bucket day \
        --metric count --metric users --exact --format csv
}
q >"$tmp/before.csv" || fail "query before"

# Rewrite MANIFEST in version 1 and the partition names in that format's
# form, <YYYYMMDD>T<HH>-<file id>.tpart (their bytes do not matter: nothing
# may read them).
to_v1() {
python3 - "$store" <<'EOF'
import os, struct, sys, time

M = (1 << 64) - 1
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                      9650029242287828579, 2870177450012600261)
rotl = lambda x, r: ((x << r) | (x >> (64 - r))) & M
def rnd(acc, v): return (rotl((acc + v * P2) & M, 31) * P1) & M
def merge(acc, v): return ((acc ^ rnd(0, v)) * P1 + P4) & M
def xxh64(b, seed=0):
    n, i = len(b), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], struct.unpack_from('<Q', b, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for k in range(4):
            h = merge(h, v[k])
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from('<Q', b, i)[0]), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from('<I', b, i)[0] * P1 & M), 23) * P2 + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ (b[i] * P5 & M), 11) * P1) & M
        i += 1
    h = ((h ^ (h >> 33)) * P2) & M
    h = ((h ^ (h >> 29)) * P3) & M
    return h ^ (h >> 32)

store = sys.argv[1]
b = open(store + '/MANIFEST', 'rb').read()
assert xxh64(b[:-8]) == struct.unpack_from('<Q', b, len(b) - 8)[0], 'xxh64'
n, = struct.unpack_from('<I', b, 12)
out = bytearray(b[:48])
struct.pack_into('<H', out, 8, 1)
struct.pack_into('<Q', out, 40, 0)
for k in range(n):
    e = b[48 + 48 * k: 96 + 48 * k]
    start, fid = struct.unpack_from('<qQ', e, 0)
    hours, = struct.unpack_from('<I', e, 40)
    out += e[:40] + bytes(8)
    day = time.strftime('%Y%m%dT%H', time.gmtime(start // 1000000))
    os.rename('%s/parts/%s-%dh-%016x.tpart' % (store, day, hours, fid),
              '%s/parts/%s-%016x.tpart' % (store, day, fid))
out += struct.pack('<Q', xxh64(bytes(out)))
open(store + '/MANIFEST', 'wb').write(out)
EOF
}
to_v1
old=$(ls "$store/parts" | wc -l)
[ "$old" -gt 1 ] || fail "no partitions to convert"

# Refused, naming the tool.
expect 3 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/err" "TSAGG_EVERSION"
grep_in "$tmp/err" "tsagg-rebuild $store --all"
expect 3 "$TSAGG_QUERY" "$store" --all-merchants --from "$start" --to "$end"
grep_in "$tmp/err" "tsagg-rebuild $store --all"
expect 1 "$TSAGG_VERIFY" "$store"
grep_in "$tmp/out" "DAMAGED MANIFEST: TSAGG_EVERSION"
grep_in "$tmp/out" "repair: tsagg-rebuild $store --all"

# Regenerated: the old files gone, the answers as before.
expect 0 "$TSAGG_REBUILD" "$store" --all
grep_in "$tmp/out" "the partitions were of an older format: all of them were regenerated"
grep_in "$tmp/out" "rebuilt every hour: "
grep_in "$tmp/out" "replaced $old files"
ls "$store/parts" | grep -qvE '^[0-9]{8}T[0-9]{2}-[0-9]+h-[0-9a-f]{16}\.tpart$' &&
    fail "files of the older format are left: $(ls "$store/parts" | head -3)"
expect 0 "$TSAGG_VERIFY" "$store"
q >"$tmp/after.csv" || fail "query after"
cmp -s "$tmp/before.csv" "$tmp/after.csv" || fail "answers changed by the regeneration"
expect 0 "$TSAGG_COMPACT" "$store"
grep_in "$tmp/out" "compacted 0 events"

# Any range regenerates the whole store.
to_v1
expect 0 "$TSAGG_REBUILD" "$store" --from "$start" --to "${start}T01:00:00Z"
grep_in "$tmp/out" "the partitions were of an older format"
grep_in "$tmp/out" "rebuilt every hour: "
expect 0 "$TSAGG_VERIFY" "$store"
q >"$tmp/after2.csv" || fail "query after the second regeneration"
cmp -s "$tmp/before.csv" "$tmp/after2.csv" || fail "answers changed by the second regeneration"

finish "older store"
