#!/bin/bash
# The user-agent classifier (tools/ingest/useragent.c): device, browser, OS
# and crawler flag of typical user agents, including the traps (Chrome says
# Safari, Edge says Chrome, Android says Linux, iOS says Mac OS X, a
# smartphone crawler says iPhone).
. "$(dirname "$0")/ingest_lib.sh"

cat > "$TMP/table" <<'EOF_UA'
desktop	Chrome	Windows	0|Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36
desktop	Edge	Windows	0|Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0
desktop	Firefox	Linux	0|Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:27.0) Gecko/20100101 Firefox/27.0
desktop	Safari	macOS	0|Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.73.11 (KHTML, like Gecko) Version/7.0.1 Safari/537.73.11
desktop	IE	Windows	0|Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; WOW64; Trident/5.0)
desktop	IE	Windows	0|Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko
desktop	Opera	Windows	0|Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 OPR/105.0
desktop	Chromium	Linux	0|Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/32.0.1700.102 Chrome/32.0.1700.102 Safari/537.36
mobile	Safari	iOS	0|Mozilla/5.0 (iPhone; CPU iPhone OS 7_0_4 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Version/7.0 Mobile/11B554a Safari/9537.53
tablet	Safari	iOS	0|Mozilla/5.0 (iPad; CPU OS 7_0_4 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Version/7.0 Mobile/11B554a Safari/9537.53
mobile	Chrome	Android	0|Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36
tablet	Chrome	Android	0|Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36
mobile	Samsung	Android	0|Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0 Mobile Safari/537.36
mobile	Chrome	iOS	0|Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1
mobile	IE	Windows Phone	0|Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)
bot	Googlebot	iOS	1|Mozilla/5.0 (iPhone; CPU iPhone OS 6_0 like Mac OS X) AppleWebKit/536.26 (KHTML, like Gecko) Version/6.0 Mobile/10A5376e Safari/8536.25 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
bot	Googlebot	Other	1|Googlebot-Image/1.0
bot	Bingbot	Other	1|Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)
bot	Baiduspider	Other	1|Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)
bot	YandexBot	Other	1|Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)
bot	AhrefsBot	Other	1|Mozilla/5.0 (compatible; AhrefsBot/5.0; +http://ahrefs.com/robot/)
bot	Yahoo! Slurp	Other	1|Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)
bot	DuckDuckBot	Other	1|DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)
bot	UniversalFeedParser	Other	1|UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/
bot	curl	Other	1|curl/7.22.0 (i686-pc-linux-gnu) libcurl/7.22.0 OpenSSL/1.0.1
bot	Wget	Other	1|Wget/1.14 (linux-gnu)
bot	python-requests	Linux	1|python-requests/1.2.0 CPython/2.7.4 Linux/3.8.0-33-generic
bot	MojeekBot	Other	1|Mozilla/5.0 (compatible; MojeekBot/0.6; http://www.mojeek.com/bot.html)
bot	magpie-crawler	Linux	1|magpie-crawler/1.1 (U; Linux amd64; en-GB; +http://www.brandwatch.net)
bot	Other bot	Windows	1|Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1;  http://www.changedetection.com/bot.html )
other	Other	Other	0|
other	Other	Other	0|Microsoft Office Protocol Discovery
EOF_UA
cut -d'|' -f1 "$TMP/table" > "$TMP/want"
cut -d'|' -f2- "$TMP/table" | "$CHECK" ua > "$TMP/got"
paste -d'|' "$TMP/got" <(cut -d'|' -f2- "$TMP/table") > "$TMP/got-table"
diff "$TMP/table" "$TMP/got-table" >&2 || fail "classification differs (< expected, > got)"

finish
