# query_visits.sh - tsagg-query's visit and new-user metrics against
# references computed with awk from tsagg-gen's NDJSON of the same stream:
# the --metric names and CSV columns (visits, bounce_rate, visit_duration,
# pages_per_visit, new_users, returning_users), --group-by entry_page and
# exit_page, and the combinations refused.
. "$(dirname "${BASH_SOURCE[0]}")/query_lib.sh"

GENOPTS=(-n 5000 -d 2 -m 20)
"$GEN" "${GENOPTS[@]}" >"$TMP/ev.ndjson" || exit 1
"$LOADER" "$TMP/store" "${GENOPTS[@]}" || exit 1
flatten "$TMP/ev.ndjson"
REF=$TMP/ev.ndjson.tsv
ST=$TMP/store

# The merchant with the most events.
M=$(awk -F'\t' '{ c[$2]++ } END { for (m in c) print c[m], m }' "$REF" | sort -k1,1nr | head -1 |
    cut -d' ' -f2)

# The merchant's events with a session in visit order (session, time), the
# time as microseconds since 2026-10-01 (the data lies in October 2026).
awk -F'\t' -v M="$M" '$2 == M && $5 != "" {
        split(substr($1, 1, 19), t, /[-T:]/)
        us = (((t[3] - 1) * 24 + t[4]) * 60 + t[5]) * 60 + t[6]
        frac = 0
        if (match($1, /\.[0-9]+/)) {
            digits = substr($1, RSTART + 1, RLENGTH - 1)
            frac = digits * 10 ^ (6 - length(digits))
        }
        printf "%s\t%.0f\t%s\t%s\t%s\n", $5, us * 1000000 + frac, $3, $6, substr($1, 1, 10)
    }' "$REF" | sort -t$'\t' -k1,1 -k2,2n >"$TMP/visit_rows"

# Visits: an event starts one when its session's event before it is 24 h
# older or more (or it has none); the visit takes the events of the next
# 24 h. One line a visit: start day, events, page views, duration in
# microseconds, entry page, exit page.
awk -F'\t' 'BEGIN { DAY = 86400 * 1000000 }
    function close_visit() {
        if (open) printf "%s\t%d\t%d\t%.0f\t%s\t%s\n", day, n, pv, last - start, entry, exitp
        open = 0
    }
    {
        starts = $1 != sess || $2 - prev >= DAY
        if (open && !starts && $2 - start < DAY) {
            n++; last = $2
            if ($3 == "page_view") { if (!pv++) entry = $4; exitp = $4 }
        } else {
            close_visit()
            if (starts) {
                open = 1; start = last = $2; day = $5; n = 1; pv = 0; entry = exitp = ""
                if ($3 == "page_view") { pv = 1; entry = exitp = $4 }
            }
        }
        sess = $1; prev = $2
    }
    END { close_visit() }' "$TMP/visit_rows" >"$TMP/visits"

{
    echo "time,visits,bounce_rate,visit_duration,pages_per_visit"
    awk -F'\t' '
        NR == FNR { v[$1]++; b[$1] += $2 == 1 && $3 == 1; p[$1] += $3; d[$1] += $4; next }
        {
            if (v[$1]) printf "%sT00:00:00Z,%d,%.15g,%.15g,%.15g\n", $1, v[$1],
                b[$1] * 100 / v[$1], d[$1] / 1e6 / v[$1], p[$1] / v[$1]
            else printf "%sT00:00:00Z,0,,,\n", $1
        }' "$TMP/visits" - <<<$'2026-09-30\n2026-10-01\n2026-10-02\n2026-10-03'
} >"$TMP/exp"
grep -q ',0,,,$' "$TMP/exp" || fail "daily visits: the range should hold days without visits"
expect_out "daily visits, bounce rate, duration, pages per visit" "$TMP/exp" "$ST" -m "$M" \
    --from 2026-09-30 --to 2026-10-04 -b day -M visits -M bounce_rate -M visit_duration \
    -M pages_per_visit -f csv

# Top 5 entry pages and exit pages over the range, by visits, then key.
for side in entry exit; do
    col=$([ $side = entry ] && echo 5 || echo 6)
    {
        echo "${side}_page,visits"
        awk -F'\t' -v c="$col" '{ v[$c]++ } END { for (k in v) print k "," v[k] }' "$TMP/visits" |
            sort -t, -k2,2nr -k1,1 | head -5
    } >"$TMP/exp"
    expect_out "top 5 $side pages" "$TMP/exp" "$ST" -m "$M" --from 2026-09-30 --to 2026-10-04 \
        -b total -M visits -g ${side}_page -n 5 -f csv
done

# New and returning users by day: a user is new on the day of its first
# event (the store begins with the data).
{
    echo "time,new_users,returning_users,users"
    awk -F'\t' -v M="$M" '
        NR == FNR {
            if ($2 != M || $4 == "") next
            d = substr($1, 1, 10)
            if (!($4 in first) || d < first[$4]) first[$4] = d
            if (!((d, $4) in seen)) { seen[d, $4] = 1; u[d]++; users[d, u[d]] = $4 }
            next
        }
        {
            n = 0
            for (i = 1; i <= u[$1]; i++) n += first[users[$1, i]] == $1
            printf "%sT00:00:00Z,%d,%d,%d\n", $1, n, u[$1] - n, u[$1]
        }' "$REF" - <<<$'2026-10-01\n2026-10-02'
} >"$TMP/exp"
expect_out "new and returning users" "$TMP/exp" "$ST" -m "$M" --from 2026-10-01 \
    --to 2026-10-03 -b day -M new_users -M returning_users -M users --exact -f csv

# Refused: an event metric by entry page, visits by event, visits of every
# merchant; the library says why (exit 2, as for other refused queries).
R=(--from 2026-10-01 --to 2026-10-03)
expect_error "count by entry page" 2 'group-by entry_page takes visit metrics only, not "count"' \
    "$ST" -m "$M" "${R[@]}" -M visits -M count -g entry_page
expect_error "visits by event" 2 "group-by event with visit metrics" "$ST" -m "$M" "${R[@]}" \
    -M visits -g event
expect_error "visits of all merchants" 2 "per merchant" "$ST" --all-merchants "${R[@]}" \
    -M bounce_rate

finish
