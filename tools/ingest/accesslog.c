/*
 * accesslog.c - see accesslog.h.
 *
 * The visitor is the client address plus the user agent (what a server
 * log knows of a person); the raw log keeps the user agent and the full
 * referrer so that a rebuild can classify them again, but not the address.
 */
#include "accesslog.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "sessions.h"
#include "tstime.h"
#include "useragent.h"

struct accesslog_parser {
    uint64_t merchant;
    sessions *sessions;
    char *visitor;      /* "address user-agent", hashed into the user id */
    size_t visitor_cap;
    locale_t lower;     /* C.UTF-8, for lower-case referrer hosts; 0 if missing */
};

accesslog_parser *accesslog_parser_create(uint64_t merchant)
{
    accesslog_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->merchant = merchant;
    p->lower = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    p->sessions = sessions_create();
    if (!p->sessions) {
        accesslog_parser_free(p);
        return NULL;
    }
    return p;
}

void accesslog_parser_free(accesslog_parser *p)
{
    if (!p)
        return;
    sessions_free(p->sessions);
    if (p->lower != (locale_t)0)
        freelocale(p->lower);
    free(p->visitor);
    free(p);
}

int accesslog_is_asset(const char *path, size_t len)
{
    static const char *const exts[] = {
        "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "ico", "svg", "webp",
        "avif", "bmp", "woff", "woff2", "ttf", "otf", "eot",
    };
    size_t dot = len;
    while (dot > 0 && path[dot - 1] != '.' && path[dot - 1] != '/')
        dot--;
    if (dot == 0 || path[dot - 1] != '.' || len - dot > 5)
        return 0;
    char ext[6];
    size_t n = len - dot;
    for (size_t i = 0; i < n; i++) {
        char c = path[dot + i];
        ext[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    ext[n] = '\0';
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcmp(ext, exts[i]) == 0)
            return 1;
    return 0;
}

/* ---- the line ------------------------------------------------------------- */

typedef struct span {
    const char *p;
    size_t n;
} span;

/* The token at *i up to the next space (or the end); *i moves onto the space. */
static span token(const char *s, size_t len, size_t *i)
{
    const char *sp = memchr(s + *i, ' ', len - *i);
    size_t end = sp ? (size_t)(sp - s) : len;
    span t = {s + *i, end - *i};
    *i = end;
    return t;
}

static void skip_spaces(const char *s, size_t len, size_t *i)
{
    while (*i < len && s[*i] == ' ')
        (*i)++;
}

/*
 * A quoted field at *i (\" inside it is kept as written): 0, or -1 without
 * an opening quote, -2 without a closing one.
 */
static int quoted(const char *s, size_t len, size_t *i, span *out)
{
    if (*i >= len || s[*i] != '"')
        return -1;
    size_t from = *i + 1;
    for (size_t j = from;;) {
        const char *q = memchr(s + j, '"', len - j);
        if (!q)
            return -2;
        size_t k = (size_t)(q - s), backslashes = 0;
        while (k - backslashes > from && s[k - backslashes - 1] == '\\')
            backslashes++;
        if (backslashes % 2 == 0) {
            out->p = s + from;
            out->n = k - from;
            *i = k + 1;
            return 0;
        }
        j = k + 1;
    }
}

static int fail_at(evbuild *b, const char *field, const char *expected, const char *s,
                   size_t len, size_t i)
{
    if (i >= len)
        return evb_fail_field(b, field, strlen(field), "missing (line ends early)");
    return evb_fail(b, field, strlen(field), expected, s + i, len - i);
}

typedef struct request_parts {
    span method, path, query;
} request_parts;

/* "GET /a/b?x=1 HTTP/1.1" (the protocol may be missing: HTTP/0.9). */
static int split_request(span r, request_parts *out)
{
    const char *sp = memchr(r.p, ' ', r.n);
    if (!sp || sp == r.p)
        return -1;
    out->method = (span){r.p, (size_t)(sp - r.p)};
    const char *t = sp + 1, *end = r.p + r.n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    span target = {t, (size_t)((sp2 ? sp2 : end) - t)};
    if (target.n == 0)
        return -1;
    /* A proxy request names the whole URL: keep its path. */
    if ((target.n > 7 && memcmp(target.p, "http://", 7) == 0) ||
        (target.n > 8 && memcmp(target.p, "https://", 8) == 0)) {
        const char *host = (const char *)memchr(target.p, ':', target.n) + 3;
        const char *slash = memchr(host, '/', (size_t)(target.p + target.n - host));
        target = slash ? (span){slash, (size_t)(target.p + target.n - slash)} : (span){"/", 1};
    }
    const char *cut = target.p;
    while (cut < target.p + target.n && *cut != '?' && *cut != '#')
        cut++;
    out->path = (span){target.p, (size_t)(cut - target.p)};
    out->query = (span){cut, 0};
    if (cut < target.p + target.n && *cut == '?') {
        const char *q = cut + 1, *qe = q;
        while (qe < target.p + target.n && *qe != '#')
            qe++;
        out->query = (span){q, (size_t)(qe - q)};
    }
    if (out->path.n == 0)
        out->path = (span){"/", 1};
    return 0;
}

/* One UTF-8 sequence at s (n bytes left, n > 0): its length and code
 * point, or 0 when it is not valid UTF-8 (overlong, surrogate, cut). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static size_t utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3f));
    out[2] = (char)(0x80 | (c >> 6 & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/*
 * host in lower case, into the batch's arena when it changes: ASCII
 * letters always; other letters, when host is valid UTF-8, by Unicode's
 * simple lower-case mapping (the C.UTF-8 locale's, held in p->lower: the
 * process's own locale plays no part). A host that is not valid UTF-8, or
 * when that locale is missing, keeps its non-ASCII bytes as given.
 */
static span lower_host(accesslog_parser *p, span host, evbuild *b)
{
    int ascii = 1, upper = 0;
    for (size_t i = 0; i < host.n; i++) {
        unsigned char c = (unsigned char)host.p[i];
        ascii &= c < 0x80;
        upper |= c >= 'A' && c <= 'Z';
    }
    if (ascii && !upper)
        return host;
    /* A lower-case letter takes at most 3/2 of its capital's bytes
     * (U+023A, 2 bytes, becomes U+2C65, 3 bytes). */
    char *low = evb_alloc(b, host.n * 2);
    if (!low)
        return (span){NULL, 0};
    size_t k = 0;
    for (size_t i = 0; i < host.n;) {
        const unsigned char *s = (const unsigned char *)host.p + i;
        uint32_t c;
        size_t len = ascii ? 1 : utf8_decode(s, host.n - i, &c);
        if (len == 0) { /* not UTF-8: ASCII letters only, the rest as given */
            for (size_t j = 0; j < host.n; j++)
                low[j] = (char)(host.p[j] >= 'A' && host.p[j] <= 'Z' ? host.p[j] + 32
                                                                     : host.p[j]);
            return (span){low, host.n};
        }
        if (len == 1)
            low[k++] = (char)(s[0] >= 'A' && s[0] <= 'Z' ? s[0] + 32 : s[0]);
        else if (p->lower == (locale_t)0)
            memcpy(low + k, s, len), k += len;
        else
            k += utf8_encode((uint32_t)towlower_l((wint_t)c, p->lower), low + k);
        i += len;
    }
    return (span){low, k};
}

size_t url_host(const char *url, size_t len, const char **host)
{
    const char *s = url, *end = url + len;
    const char *scheme = len > 3 ? memmem(url, len, "://", 3) : NULL;
    if (scheme)
        s = scheme + 3;
    else if (len >= 2 && url[0] == '/' && url[1] == '/') /* protocol-relative */
        s = url + 2;
    const char *h = s;
    while (h < end && *h != '/' && *h != '?' && *h != '#')
        h++;
    const char *at = memrchr(s, '@', (size_t)(h - s)); /* user:password@ */
    if (at)
        s = at + 1;
    size_t n = (size_t)(h - s);
    const char *bracket = n && s[0] == '[' ? memchr(s, ']', n) : NULL;
    if (bracket) { /* [IPv6]:port */
        n = (size_t)(bracket - s) + 1;
    } else {
        const char *colon = memchr(s, ':', n); /* :port */
        if (colon)
            n = (size_t)(colon - s);
        if (n && s[n - 1] == '.')
            n--; /* "example.com." names example.com */
    }
    *host = s;
    return n;
}

/* The host of a referrer URL (url_host), lower case. n 0 when there is
 * none. */
static span referrer_host(accesslog_parser *p, span url, evbuild *b)
{
    span host;
    host.n = url_host(url.p, url.n, &host.p);
    return lower_host(p, host, b);
}

static uint64_t visitor_id(accesslog_parser *p, span addr, span ua)
{
    size_t need = addr.n + 1 + ua.n;
    if (need > p->visitor_cap) {
        char *buf = realloc(p->visitor, need);
        if (!buf)
            return 0;
        p->visitor = buf;
        p->visitor_cap = need;
    }
    memcpy(p->visitor, addr.p, addr.n);
    p->visitor[addr.n] = ' ';
    memcpy(p->visitor + addr.n + 1, ua.p, ua.n);
    return tsagg_hash_id(p->visitor, need);
}

#define ADD_STR(b, key, s, n) evb_add_str(b, key, sizeof key - 1, s, n)

static int add_attrs(accesslog_parser *p, evbuild *b, const request_parts *rq, span status,
                     span bytes, span referrer, span ua)
{
    ua_info ui;
    ua_classify(ua.p, ua.n, &ui);
    span host = referrer.n ? referrer_host(p, referrer, b) : (span){NULL, 0};
    int64_t nbytes = 0;
    if (ADD_STR(b, "page", rq->path.p, rq->path.n) ||
        (host.n && ADD_STR(b, "referrer", host.p, host.n)) ||
        ADD_STR(b, "device", ui.device, strlen(ui.device)) ||
        ADD_STR(b, "browser", ui.browser, ui.browser_len) ||
        ADD_STR(b, "os", ui.os, strlen(ui.os)) ||
        (ui.crawler && ADD_STR(b, "crawler", "1", 1)) ||
        ADD_STR(b, "status", status.p, status.n) ||
        (bytes.n && parse_i64_text(bytes.p, bytes.n, &nbytes) &&
         evb_add_int(b, "bytes", 5, nbytes)) ||
        ADD_STR(b, "method", rq->method.p, rq->method.n) ||
        (rq->query.n && ADD_STR(b, "query", rq->query.p, rq->query.n)) ||
        (ua.n && ADD_STR(b, "user_agent", ua.p, ua.n)) ||
        (referrer.n && ADD_STR(b, "referrer_url", referrer.p, referrer.n)))
        return -1;
    return 0;
}

/* "-" is how the log says "none". */
static span unless_dash(span s)
{
    return s.n == 1 && s.p[0] == '-' ? (span){s.p, 0} : s;
}

int accesslog_parse(accesslog_parser *p, const char *s, size_t len, evbuild *b)
{
    size_t i = 0;
    evb_begin(b);
    span addr = token(s, len, &i);
    if (addr.n == 0)
        return evb_fail_field(b, "address", 7, "missing (line starts with a space)");
    skip_spaces(s, len, &i);
    token(s, len, &i); /* identity, from identd: always "-" in practice */
    skip_spaces(s, len, &i);
    token(s, len, &i); /* the authenticated user: not kept */
    skip_spaces(s, len, &i);

    const char *close = i < len && s[i] == '[' ? memchr(s + i, ']', len - i) : NULL;
    int64_t ts;
    if (!close || tstime_clf(s + i + 1, (size_t)(close - s - i - 1), &ts) != 0)
        return fail_at(b, "time", "[dd/Mon/yyyy:HH:MM:SS +hhmm]", s, len, i);
    i = (size_t)(close - s) + 1;
    skip_spaces(s, len, &i);

    span request;
    request_parts rq;
    size_t at = i;
    if (quoted(s, len, &i, &request) != 0 || split_request(request, &rq) != 0)
        return fail_at(b, "request", "\"METHOD PATH PROTOCOL\"", s, len, at);
    skip_spaces(s, len, &i);
    at = i;
    span status = token(s, len, &i);
    if (status.n != 3 || (unsigned)(status.p[0] - '1') > 4 || (unsigned)(status.p[1] - '0') > 9 ||
        (unsigned)(status.p[2] - '0') > 9)
        return fail_at(b, "status", "a status code 100..599", s, len, at);
    skip_spaces(s, len, &i);
    at = i;
    span bytes = unless_dash(token(s, len, &i));
    uint64_t ignored;
    if ((bytes.n == 0 && at == len) || (bytes.n && !parse_u64_text(bytes.p, bytes.n, &ignored)))
        return fail_at(b, "bytes", "a byte count or -", s, len, at);

    /* Empty but not NULL in common format: both reach memcpy and memmem. */
    span referrer = {"", 0}, ua = {"", 0};
    skip_spaces(s, len, &i);
    if (i < len) { /* combined format; common format ends here */
        at = i;
        int rc = quoted(s, len, &i, &referrer);
        if (rc == -2)
            return evb_fail_field(b, "referrer", 8, "no closing quote");
        if (rc != 0)
            return fail_at(b, "referrer", "a quoted referrer", s, len, at);
        skip_spaces(s, len, &i);
        at = i;
        rc = quoted(s, len, &i, &ua);
        if (rc == -2)
            return evb_fail_field(b, "user_agent", 10, "no closing quote");
        if (rc != 0)
            return fail_at(b, "user_agent", "a quoted user agent", s, len, at);
        referrer = unless_dash(referrer);
        ua = unless_dash(ua);
    }

    const field_info *f_ts = fieldmap_find(b->fields, "ts", 2);
    const field_info *f_merchant = fieldmap_find(b->fields, "merchant", 8);
    const field_info *f_event = fieldmap_find(b->fields, "event", 5);
    evb_mark(b, f_ts);
    evb_mark(b, f_merchant);
    evb_mark(b, f_event);
    tsagg_event *ev = b->cur;
    ev->ts = ts;
    ev->merchant = p->merchant;
    if (accesslog_is_asset(rq.path.p, rq.path.n))
        evb_set_event(b, f_event, "asset", 5);
    else
        evb_set_event(b, f_event, "page_view", 9);
    ev->user = visitor_id(p, addr, ua);
    ev->session = sessions_assign(p->sessions, ev->user, ts);
    if (ev->session == 0)
        return evb_failf(b, "out of memory");
    if (add_attrs(p, b, &rq, status, bytes, referrer, ua) != 0)
        return -1;
    return evb_finish(b);
}
