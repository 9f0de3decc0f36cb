/*
 * useragent.c - see useragent.h.
 *
 * Order matters in every table: user agents name their ancestors (Chrome
 * says "Safari", Edge says "Chrome", Android says "Linux", iOS says "like
 * Mac OS X"), so the more specific token comes first. docs/tsagg-ingest.md
 * lists the rules; tests/tools/ingest_useragent.sh checks them.
 */
#include "useragent.h"

#include <string.h>

typedef struct ua_rule {
    const char *token;
    const char *name;
} ua_rule;

/* Matched case-insensitively (tokens in lower case). */
static const ua_rule crawlers[] = {
    {"googlebot", "Googlebot"},
    {"feedfetcher-google", "Feedfetcher-Google"},
    {"bingbot", "Bingbot"},
    {"msnbot", "msnbot"},
    {"baiduspider", "Baiduspider"},
    {"yandexbot", "YandexBot"},
    {"yandex", "Yandex"},
    {"ahrefsbot", "AhrefsBot"},
    {"slurp", "Yahoo! Slurp"},
    {"duckduckbot", "DuckDuckBot"},
    {"mj12bot", "MJ12bot"},
    {"semrushbot", "SemrushBot"},
    {"archive.org_bot", "archive.org"},
    {"ia_archiver", "Alexa"},
    {"ezooms", "Ezooms"},
    {"sogou", "Sogou"},
    {"exabot", "Exabot"},
    {"applebot", "Applebot"},
    {"twitterbot", "Twitterbot"},
    {"facebookexternalhit", "Facebook"},
    {"feedparser", "UniversalFeedParser"},
    {"feedburner", "FeedBurner"},
    {"feedbin", "Feedbin"},
    {"feedly", "Feedly"},
    {"tiny tiny rss", "Tiny Tiny RSS"},
    {"headlesschrome", "HeadlessChrome"},
    {"phantomjs", "PhantomJS"},
    {"curl/", "curl"},
    {"wget/", "Wget"},
    {"python-requests", "python-requests"},
    {"python-urllib", "Python-urllib"},
    {"libwww-perl", "libwww-perl"},
    {"go-http-client", "Go-http-client"},
    {"apache-httpclient", "Apache-HttpClient"},
    {"java/", "Java"},
    {"chef client", "Chef Client"},
    {"spinn3r", "Spinn3r"},
};

/* Generic words of robots; the crawler's name is the word holding one,
 * unless that word is part of a URL ("example.com/bot.html"). */
static const char *const crawler_words[] = {"bot", "spider", "crawl"};

/* The rest are matched as written. */
static const ua_rule browsers[] = {
    {"Edg/", "Edge"},        {"Edge/", "Edge"},          {"EdgA/", "Edge"},
    {"OPR/", "Opera"},       {"Opera", "Opera"},         {"SamsungBrowser/", "Samsung"},
    {"YaBrowser/", "Yandex"}, {"UCBrowser/", "UC Browser"}, {"Vivaldi/", "Vivaldi"},
    {"Chromium/", "Chromium"}, {"CriOS/", "Chrome"},     {"FxiOS/", "Firefox"},
    {"Chrome/", "Chrome"},   {"Firefox/", "Firefox"},    {"MSIE ", "IE"},
    {"Trident/", "IE"},      {"Safari/", "Safari"},      {"Midori/", "Midori"},
    {"CFNetwork/", "Safari"},
};

static const ua_rule systems[] = {
    {"Windows Phone", "Windows Phone"}, {"Windows", "Windows"}, {"iPhone", "iOS"},
    {"iPad", "iOS"},         {"iPod", "iOS"},            {"CrOS", "ChromeOS"},
    {"Android", "Android"},  {"Mac OS X", "macOS"},      {"Macintosh", "macOS"},
    {"Darwin/", "macOS"},    {"Linux", "Linux"},         {"X11", "Linux"},
    {"FreeBSD", "FreeBSD"},  {"OpenBSD", "OpenBSD"},     {"NetBSD", "NetBSD"},
};

#define UA_SCAN_MAX 1024 /* the part of a long user agent that is classified */

static int has(const char *s, size_t len, const char *token)
{
    return memmem(s, len, token, strlen(token)) != NULL;
}

static const char *first_match(const ua_rule *rules, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (has(s, len, rules[i].token))
            return rules[i].name;
    return NULL;
}

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

/* lower: ua in lower case (same offsets). */
static int find_crawler(const char *ua, const char *lower, size_t len, ua_info *out)
{
    for (size_t i = 0; i < sizeof crawlers / sizeof crawlers[0]; i++) {
        if (has(lower, len, crawlers[i].token)) {
            out->browser = crawlers[i].name;
            out->browser_len = strlen(crawlers[i].name);
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof crawler_words / sizeof crawler_words[0]; i++) {
        const char *w = crawler_words[i];
        const char *hit = memmem(lower, len, w, strlen(w));
        if (!hit)
            continue;
        size_t from = (size_t)(hit - lower), to = from + strlen(w);
        while (from > 0 && word_char(ua[from - 1]))
            from--;
        while (to < len && word_char(ua[to]))
            to++;
        if (from > 0 && ua[from - 1] == '/') {
            out->browser = "Other bot";
            out->browser_len = 9;
        } else {
            out->browser = ua + from;
            out->browser_len = to - from;
        }
        return 1;
    }
    return 0;
}

void ua_classify(const char *ua, size_t len, ua_info *out)
{
    char lower[UA_SCAN_MAX];
    if (len > UA_SCAN_MAX)
        len = UA_SCAN_MAX;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)(ua[i] >= 'A' && ua[i] <= 'Z' ? ua[i] + 32 : ua[i]);

    const char *os = first_match(systems, sizeof systems / sizeof systems[0], ua, len);
    out->os = os ? os : "Other";
    out->crawler = find_crawler(ua, lower, len, out);
    if (out->crawler) {
        out->device = "bot";
        return;
    }
    const char *browser = first_match(browsers, sizeof browsers / sizeof browsers[0], ua, len);
    out->browser = browser ? browser : "Other";
    out->browser_len = strlen(out->browser);

    if (has(ua, len, "iPad") || has(ua, len, "Tablet") ||
        (os && strcmp(os, "Android") == 0 && !has(ua, len, "Mobile")))
        out->device = "tablet";
    else if (has(ua, len, "Mobi") || has(ua, len, "iPhone") || has(ua, len, "iPod") ||
             has(ua, len, "Windows Phone") || has(ua, len, "Opera Mini") ||
             has(ua, len, "MIDP") || has(ua, len, "WAP"))
        out->device = "mobile";
    else if (os)
        out->device = "desktop";
    else
        out->device = "other";
}
