#!/bin/bash
# The real Apache access log (../shared/data/apache_logs.log, never copied
# here): what tsagg-ingest loads is checked against figures computed from
# the raw file with awk: lines loaded and rejected, page views and assets,
# distinct visitors, sessions, top pages, crawlers.
. "$(dirname "$0")/ingest_lib.sh"

LOG=${TSAGG_SHARED_DATA:-}/apache_logs.log
if [ -z "${TSAGG_SHARED_DATA:-}" ] || [ ! -r "$LOG" ]; then
    echo "skip: $LOG not found (TSAGG_SHARED_DATA)"
    exit 77
fi

# One awk pass over the well-formed lines (combined format) writes the
# facts the checks need, one record per line: "bad LINE", "view PATH",
# "asset PATH", "visitor KEY", "crawler", "googlebot", "session".
awk -v crawlers='googlebot|feedfetcher-google|bingbot|msnbot|baiduspider|yandex|ahrefsbot|slurp|duckduckbot|mj12bot|semrushbot|archive\\.org_bot|ia_archiver|ezooms|sogou|exabot|applebot|twitterbot|facebookexternalhit|feedparser|feedburner|feedbin|feedly|tiny tiny rss|headlesschrome|phantomjs|curl/|wget/|python-requests|python-urllib|libwww-perl|go-http-client|apache-httpclient|java/|chef client|spinn3r|bot|spider|crawl' '
function days(y, m, d) { # days since 1970-01-01 (proleptic Gregorian)
    y -= m <= 2
    era = int((y >= 0 ? y : y - 399) / 400); yoe = y - era * 400
    doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
    return era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
}
BEGIN {
    split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", names, " ")
    for (i = 1; i <= 12; i++) month[names[i]] = i
}
!/^[^ ]+ [^ ]+ [^ ]+ \[[^]]+\] "[^"]*" [0-9][0-9][0-9] ([0-9]+|-) "[^"]*" "[^"]*"$/ { print "bad " NR; next }
{
    split($0, q, "\"")
    split(q[2], req, " ")
    path = req[2]; sub(/[?#].*/, "", path); if (path == "") path = "/"
    ua = q[6]; if (ua == "-") ua = ""
    print (tolower(path) ~ /\.(css|js|mjs|map|png|jpg|jpeg|gif|ico|svg|webp|avif|bmp|woff|woff2|ttf|otf|eot)$/ ? "asset " : "view ") path
    key = $1 " " ua
    print "visitor " key
    if (tolower(ua) ~ crawlers) print "crawler"
    if (tolower(ua) ~ /googlebot/) print "googlebot"
    # [dd/Mon/yyyy:HH:MM:SS +hhmm]: sessions end after 30 idle minutes
    # (either side of the session: lines are not strictly ordered).
    t = substr($4, 2); sign = substr($5, 1, 1) == "-" ? -1 : 1
    ts = days(substr(t, 8, 4), month[substr(t, 4, 3)], substr(t, 1, 2)) * 86400 + \
         substr(t, 13, 2) * 3600 + substr(t, 16, 2) * 60 + substr(t, 19, 2) - \
         sign * (substr($5, 2, 2) * 3600 + substr($5, 4, 2) * 60)
    if (!(key in last) || ts < first[key] - 1800 || ts > last[key] + 1800) {
        first[key] = ts; last[key] = ts; print "session"
    } else {
        if (ts < first[key]) first[key] = ts
        if (ts > last[key]) last[key] = ts
    }
}' "$LOG" > "$TMP/facts"

lines=$(wc -l < "$LOG")
bad=$(grep -c '^bad ' "$TMP/facts")
bad_line=$(grep '^bad ' "$TMP/facts" | head -1 | cut -d' ' -f2)
views=$(grep -c '^view ' "$TMP/facts")
assets=$(grep -c '^asset ' "$TMP/facts")
visitors=$(grep '^visitor ' "$TMP/facts" | sort -u | wc -l)
sessions=$(grep -c '^session$' "$TMP/facts")
crawlers=$(grep -c '^crawler$' "$TMP/facts")
googlebot=$(grep -c '^googlebot$' "$TMP/facts")
grep '^view ' "$TMP/facts" | cut -d' ' -f2- | sort | uniq -c | sort -k1,1nr -k2,2 | head -5 |
    awk '{ print $2 "\t" $1 }' > "$TMP/top-pages"
expect_eq "the file's known shape: lines" 10000 "$lines"
expect_eq "the file's known shape: malformed lines" 1 "$bad"

expect_run 1 "apache_logs.log:$bad_line: field 'user_agent': no closing quote" \
    --merchant 7 --rejects "$TMP/rejects" "$TMP/st" "$LOG"
grep -qF "$((lines - bad)) events accepted, $bad rejected" "$TMP/err" || fail "summary: $ERR"
expect_eq "the rejected line, verbatim" "$(sed -n "${bad_line}p" "$LOG")" "$(cat "$TMP/rejects")"

# The same answers from the log tail and, after --compact, from partitions.
expect_run 0 "" --quiet --format combined --merchant 7 --compact "$TMP/stc" - < <(grep -v -x -F -f "$TMP/rejects" "$LOG")
[ "$(grep -c . "$TMP/err")" = 0 ] || fail "--quiet --compact printed: $ERR"
for store in "$TMP/st" "$TMP/stc"; do
    c() { "$CHECK" count "$store" --merchant 7 "$@"; }
    expect_eq "$store: events" $((lines - bad)) "$(c)"
    expect_eq "$store: page views" "$views" "$(c --event page_view)"
    expect_eq "$store: assets" "$assets" "$(c --event asset)"
    expect_eq "$store: distinct visitors" "$visitors" "$(c --metric users)"
    expect_eq "$store: sessions" "$sessions" "$(c --metric sessions)"
    expect_eq "$store: crawler requests" "$crawlers" "$(c --where device=bot)"
    expect_eq "$store: Googlebot requests" "$googlebot" "$(c --where browser=Googlebot)"
    expect_eq "$store: top pages" "$(cat "$TMP/top-pages")" \
        "$(c --event page_view --group-by page --top 5)"
done
echo "apache_logs.log: $((lines - bad)) loaded, $bad rejected (line $bad_line), $views page views," \
     "$assets assets, $visitors visitors, $sessions sessions, $crawlers crawler requests" \
     "($googlebot Googlebot); top pages:" $(tr '\t' '=' < "$TMP/top-pages")

finish
