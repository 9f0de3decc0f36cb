#!/bin/bash
# Access-log referrers become their host: lower case (non-ASCII letters
# too, whatever the process's locale), without user info, port and the
# final dot of a fully qualified name; an IPv6 literal keeps its brackets;
# "//host/..." is protocol-relative.
. "$(dirname "$0")/ingest_lib.sh"

# referrer URL | host stored (written out by hand)
cat > "$TMP/table" <<'EOF_HOSTS'
http://google.com/search?q=x|google.com
http://[::1]:80/x|[::1]
http://[2001:DB8::1]/|[2001:db8::1]
https://user:p@ss@[::1]:8443/|[::1]
http://MÜNCHEN.DE/a|münchen.de
http://ÉCOLE.fr|école.fr
http://ΑΘΗΝΑ.gr/|αθηνα.gr
http://МОСКВА.РФ/|москва.рф
http://xn--MNCHEN-3YA.de/|xn--mnchen-3ya.de
https://Example.COM./p|example.com
http://www.example.com.:8080/p|www.example.com
http://user:p@ss@Host.Org:8080/|host.org
android-app://com.Google.Android.gm/|com.google.android.gm
//CDN.Example.net/x?y|cdn.example.net
EOF_HOSTS
while IFS='|' read -r url _; do
    printf '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 10 "%s" "Mozilla/5.0"\n' "$url"
done < "$TMP/table" > "$TMP/ref.log"
rows=$(wc -l < "$TMP/table")
for locale in C C.UTF-8; do
    LC_ALL=$locale expect_run 0 "$rows events accepted" --merchant 1 "$TMP/st-$locale" "$TMP/ref.log"
    "$CHECK" dump "$TMP/st-$locale" | grep -o ' referrer=[^ ]*' | cut -d= -f2- > "$TMP/got"
    cut -d'|' -f2 "$TMP/table" > "$TMP/want"
    if ! cmp -s "$TMP/want" "$TMP/got"; then
        fail "LC_ALL=$locale: referrer hosts differ (want | got):"
        paste -d'|' "$TMP/want" "$TMP/got" | awk -F'|' '$1 != $2' >&2
    fi
done

finish
