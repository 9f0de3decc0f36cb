#!/bin/bash
# --rejects never overwrites what it must not: an input under any of its
# names, or a file inside the store (compared by device and inode); and the
# file is created only when a line is rejected.
. "$(dirname "$0")/ingest_lib.sh"

good='{"ts":"2026-11-20T13:45:01Z","merchant":1,"event":"page_view"}'
printf '%s\nnot json\n%s\n' "$good" "$good" > "$TMP/in.ndjson"
cp "$TMP/in.ndjson" "$TMP/in.keep"
unchanged() { # WHAT FILE COPY
    cmp -s "$2" "$3" || fail "$1: $2 was changed"
}

# An input, by its own name, another spelling, a hard link, a symbolic link
# and as standard input: refused before the store is created.
ln "$TMP/in.ndjson" "$TMP/hard"
ln -s "$TMP/in.ndjson" "$TMP/soft"
for name in "$TMP/in.ndjson" "$TMP/./in.ndjson" "$TMP/hard" "$TMP/soft"; do
    expect_run 2 "--rejects $name is the input $TMP/in.ndjson: it would be overwritten" \
        --rejects "$name" "$TMP/new" "$TMP/in.ndjson"
    unchanged "--rejects $name" "$TMP/in.ndjson" "$TMP/in.keep"
done
[ -e "$TMP/new" ] && fail "a refused --rejects created the store"
run_ingest --rejects "$TMP/hard" "$TMP/new" - < "$TMP/in.ndjson"
expect_eq "--rejects naming standard input: exit" 2 "$RC"
grep -qF -- "--rejects $TMP/hard is the input on standard input" "$TMP/err" || fail "stdin: $ERR"
unchanged "--rejects naming standard input" "$TMP/in.ndjson" "$TMP/in.keep"

# Inside the store: a log segment, a new name in it, a path through a link
# to one of its folders, and a hard link to a segment from outside.
expect_run 1 "" "$TMP/st" "$TMP/in.ndjson"
seg=$(ls "$TMP/st/log/"*.tlog | head -1)
[ -s "$seg" ] || fail "no log segment in $TMP/st/log"
cp "$seg" "$TMP/seg.keep"
ln -s "$TMP/st/log" "$TMP/logdir"
ln "$seg" "$TMP/seglink"
for name in "$seg" "$TMP/st/rejects.txt" "$TMP/logdir/new" "$TMP/st/log/../parts/x"; do
    expect_run 2 "--rejects $name lies inside the store $TMP/st" \
        --rejects "$name" "$TMP/st" "$TMP/in.ndjson"
done
expect_run 2 "--rejects $TMP/seglink is the file $TMP/st/log/$(basename "$seg") of the store" \
    --rejects "$TMP/seglink" "$TMP/st" "$TMP/in.ndjson"
unchanged "--rejects on a log segment" "$seg" "$TMP/seg.keep"
[ -e "$TMP/st/rejects.txt" ] && fail "--rejects inside the store was created"
expect_eq "events after the refusals" 2 "$("$CHECK" count "$TMP/st")"

# Created at the first rejected line only: a clean load leaves an existing
# file as it was and creates none.
printf '%s\n' "$good" > "$TMP/clean.ndjson"
expect_run 0 "" --rejects "$TMP/r-none" "$TMP/st2" "$TMP/clean.ndjson"
[ -e "$TMP/r-none" ] && fail "--rejects created without a rejected line"
echo "earlier rejects" > "$TMP/r-old"
expect_run 0 "" --rejects "$TMP/r-old" "$TMP/st2" "$TMP/clean.ndjson"
expect_eq "--rejects kept without a rejected line" "earlier rejects" "$(cat "$TMP/r-old")"
expect_run 1 "" --rejects "$TMP/r-old" "$TMP/st2" "$TMP/in.ndjson"
expect_eq "--rejects after a rejected line" "not json" "$(cat "$TMP/r-old")"

# Not a regular file: a pipe (or terminal) receives the lines as before,
# even when standard input comes from the same terminal.
expect_eq "--rejects /dev/stdout on a pipe" "not json" \
    "$("$INGEST" --quiet --rejects /dev/stdout "$TMP/st3" - < "$TMP/in.ndjson" 2>/dev/null | cat)"

# Many batches over several read blocks (9 MB): rejected lines keep their
# line numbers and their order on stderr and in the rejects file, and
# every good line loads, appended or bulk loaded.
GEN_ARGS=(-n 40000 -d 2 -s 3)
"$GEN" "${GEN_ARGS[@]}" > "$TMP/ev.ndjson" || fail "tsagg-gen"
awk '{ print } NR % 997 == 0 { print "{\"ts\":\"bad " NR "\",\"merchant\":1,\"event\":\"e\"}" }' \
    "$TMP/ev.ndjson" > "$TMP/mixed.ndjson"
grep -n '"bad ' "$TMP/mixed.ndjson" | cut -d: -f1 | sed "s|^|$TMP/mixed.ndjson:|; s|\$|:|" \
    > "$TMP/want-lines"
grep '"bad ' "$TMP/mixed.ndjson" > "$TMP/want-rejects"
for mode in "" --compact; do
    rm -f "$TMP/r-many"
    expect_run 1 "" --verbose $mode --rejects "$TMP/r-many" "$TMP/many$mode" "$TMP/mixed.ndjson"
    grep -o "^$TMP/mixed.ndjson:[0-9]*:" "$TMP/err" > "$TMP/got-lines"
    cmp -s "$TMP/want-lines" "$TMP/got-lines" ||
        fail "rejected lines reported ($mode): $(diff "$TMP/want-lines" "$TMP/got-lines" | head -5)"
    cmp -s "$TMP/want-rejects" "$TMP/r-many" || fail "the rejects file ($mode) differs"
    expect_eq "the good lines ($mode)" "40000 events match" \
        "$("$CHECK" compare "$TMP/many$mode" "${GEN_ARGS[@]}")"
done

finish
