/*
 * collect_ua.c - the Universal Analytics Measurement Protocol: GET and POST
 * /collect (one hit) and POST /batch (up to 20 hits, one per line).
 *
 *   v=1&tid=UA-42-1&cid=555&t=pageview&dp=%2Fhome&dh=shop.example&dr=https%3A%2F%2F...
 *
 * The site is found by tid. Required: v=1, tid, cid or uid, t. A hit is at
 * most 8 KB, a batch 16 KB and 20 hits. /collect answers 200 with a 1x1
 * GIF as Google did; /batch 200 and no body. Unlike Google, a bad hit is a
 * 400 naming the parameter, and a batch is all or nothing: every hit is
 * checked before any is stored.
 */
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "collect.h"
#include "metrics.h"

#define UA_MAX_HITS 20
#define UA_MAX_PARAMS 64
#define UA_QT_MAX_MS (4 * 3600 * 1000) /* queue time: 4 hours at most */

typedef struct params {
    const char *key[UA_MAX_PARAMS], *val[UA_MAX_PARAMS];
    size_t n;
    /* A GET's query string, as libmicrohttpd gives it (decoded): */
    size_t bytes;   /* "key=value&..." */
    int too_many;   /* more than UA_MAX_PARAMS */
} params;

static const char *get(const params *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], key))
            return p->val[i];
    return NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode s[0, len) (+ and %XX) in place into a NUL-terminated string. */
static char *form_decode(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return s;
}

/* Split one hit (a=1&b=2) in place. -1 when it has too many parameters. */
static int parse_form(char *s, size_t len, params *p)
{
    p->n = 0;
    char *end = s + len;
    while (s < end) {
        char *amp = memchr(s, '&', (size_t)(end - s));
        if (!amp)
            amp = end;
        if (amp > s) {
            if (p->n == UA_MAX_PARAMS)
                return -1;
            char *eq = memchr(s, '=', (size_t)(amp - s));
            char *vend = amp;
            if (eq) {
                *eq = '\0';
                p->key[p->n] = form_decode(s, (size_t)(eq - s));
                p->val[p->n] = form_decode(eq + 1, (size_t)(vend - eq - 1));
            } else {
                p->key[p->n] = form_decode(s, (size_t)(amp - s));
                p->val[p->n] = "";
            }
            p->n++;
        }
        s = amp + 1;
    }
    return 0;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    params *p = cls;
    p->bytes += (p->bytes ? 1 : 0) + strlen(key) + (value ? 1 + strlen(value) : 0);
    if (p->n == UA_MAX_PARAMS) {
        p->too_many = 1;
        return MHD_YES; /* on, to count the bytes */
    }
    p->key[p->n] = key;
    p->val[p->n] = value ? value : "";
    p->n++;
    return MHD_YES;
}

/* Check one hit; its site into *s. 0, or the status after answering. */
static unsigned check_hit(request *r, const params *p, size_t index, int batch, site *s)
{
    /* "hit 2: " in a batch, nothing before a single hit's messages; room
     * for any size_t, not only the UA_MAX_HITS a batch holds. */
    char where[sizeof "hit 18446744073709551615: "] = "";
    if (batch)
        snprintf(where, sizeof where, "hit %zu: ", index + 1);
    const char *v = get(p, "v"), *tid = get(p, "tid"), *t = get(p, "t");
    if (!v || strcmp(v, "1")) {
        req_error(r, 400, "%sparameter 'v': expected 1", where);
        return 400;
    }
    if (!tid || !*tid) {
        req_error(r, 400, "%sparameter 'tid': missing (required)", where);
        return 400;
    }
    if (!t || !*t) {
        req_error(r, 400, "%sparameter 't': missing (required: pageview, event, ...)", where);
        return 400;
    }
    const char *cid = get(p, "cid"), *uid = get(p, "uid");
    if ((!cid || !*cid) && (!uid || !*uid)) {
        req_error(r, 400, "%sparameter 'cid': missing (cid or uid is required)", where);
        return 400;
    }
    const char *qt = get(p, "qt");
    if (qt) {
        char *end;
        long q = strtol(qt, &end, 10);
        if (*end || q < 0 || q > UA_QT_MAX_MS) {
            req_error(r, 400, "%sparameter 'qt': expected milliseconds from 0 to %d", where,
                      UA_QT_MAX_MS);
            return 400;
        }
    }
    const char *ev = get(p, "ev");
    if (ev) {
        char *end;
        strtod(ev, &end);
        if (!*ev || *end) {
            req_error(r, 400, "%sparameter 'ev': expected a number", where);
            return 400;
        }
    }
    if (!sites_by_ua_tid(r->srv->sites, tid, s)) {
        req_error(r, 404, "%sno site has tid %s", where, tid);
        return 404;
    }
    return 0;
}

/* Add the hit to the batch; 1 when it was dropped as a crawler's. */
static int add_hit(request *r, worker *w, const params *p, const site *s, int64_t now)
{
    hit h = {0};
    h.merchant = s->merchant;
    const char *t = get(p, "t");
    /* The hit types named as GA4 and Plausible name them, so that one
     * dashboard reads all three. */
    h.event = !strcmp(t, "pageview") ? "page_view" : !strcmp(t, "screenview") ? "screen_view" : t;
    h.event_len = strlen(h.event);
    const char *uid = get(p, "uid"), *cid = get(p, "cid");
    const char *who = uid && *uid ? uid : cid;
    h.user = tsagg_hash_id(who, strlen(who));
    const char *qt = get(p, "qt");
    h.ts = now - (qt ? (int64_t)strtol(qt, NULL, 10) * 1000 : 0);
    const char *dp = get(p, "dp"), *dl = get(p, "dl");
    h.page = dp && *dp ? dp : dl;
    h.page_len = h.page ? strlen(h.page) : 0;
    h.referrer = get(p, "dr");
    h.referrer_len = h.referrer ? strlen(h.referrer) : 0;
    h.country = req_country(r);
    collect_user_agent(r, w, &h, get(p, "ua")); /* ua overrides the header */
    if (h.ua.crawler)
        return 1;
    const char *ev = get(p, "ev");
    if (ev) {
        h.has_value = 1;
        h.value = strtod(ev, NULL);
    }
    if (collect_begin(r->srv, w, &h) != 0)
        return -1;
    static const char *const extras[][2] = {
        {"ec", "category"}, {"ea", "action"}, {"el", "label"}, {"dt", "title"}, {"dh", "host"},
    };
    for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
        const char *x = get(p, extras[i][0]);
        if (x && *x && collect_extra_str(w, extras[i][1], strlen(extras[i][1]), x, strlen(x)))
            return -1;
    }
    return evb_finish(&w->b) ? -1 : 0;
}

void handle_ua(request *r, int batch)
{
    server *srv = r->srv;
    params hits[UA_MAX_HITS];
    site sites_of[UA_MAX_HITS];
    size_t n = 0;
    if (!strcmp(r->method, "GET")) {
        hits[0].n = hits[0].bytes = 0;
        hits[0].too_many = 0;
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &hits[0]);
        /* The limits of a hit in a body, on the query string decoded (as
         * long as the URL at most). */
        if (hits[0].bytes > BODY_CAP_UA_HIT) {
            req_error(r, 413, "hit 1: %zu bytes, at most %u per hit", hits[0].bytes,
                      BODY_CAP_UA_HIT);
            metrics_events(srv->metrics, r->endpoint, EV_LIMIT, 1);
            return;
        }
        if (hits[0].too_many) {
            req_error(r, 400, "hit 1: more than %d parameters", UA_MAX_PARAMS);
            return;
        }
        n = 1;
    } else {
        char *s = r->body, *end = r->body + r->body_len;
        while (s < end) {
            char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
            if (len && s[len - 1] == '\r')
                len--;
            if (len) {
                if (len > BODY_CAP_UA_HIT) {
                    req_error(r, 413, "hit %zu: %zu bytes, at most %u per hit", n + 1, len,
                              BODY_CAP_UA_HIT);
                    metrics_events(srv->metrics, r->endpoint, EV_LIMIT, 1);
                    return;
                }
                if (n == (batch ? UA_MAX_HITS : 1)) {
                    metrics_events(srv->metrics, r->endpoint, EV_LIMIT, n + 1);
                    if (batch)
                        req_error(r, 413, "more than %d hits in a batch", UA_MAX_HITS);
                    else
                        req_error(r, 413, "one hit per /collect request (use /batch)");
                    return;
                }
                if (parse_form(s, len, &hits[n]) != 0) {
                    req_error(r, 400, "hit %zu: more than %d parameters", n + 1, UA_MAX_PARAMS);
                    return;
                }
                n++;
            }
            s += (nl ? (size_t)(nl - s) : len) + 1;
        }
    }
    if (n == 0) {
        req_error(r, 400, "no hit: expected v=1&tid=...&cid=...&t=...");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned st = check_hit(r, &hits[i], i, batch, &sites_of[i]);
        if (st) {
            metrics_events(srv->metrics, r->endpoint, st == 404 ? EV_UNKNOWN_SITE : EV_INVALID, n);
            return;
        }
    }
    worker *w = worker_get(srv);
    if (!w) {
        req_error(r, 500, "out of memory");
        return;
    }
    int64_t now = now_us();
    uint64_t bots = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = add_hit(r, w, &hits[i], &sites_of[i], now);
        if (rc < 0) {
            metrics_events(srv->metrics, r->endpoint, EV_INVALID, n);
            req_error(r, 400, "hit %zu: %s", i + 1, w->b.err);
            evb_reset(&w->b);
            return;
        }
        bots += (uint64_t)rc;
    }
    char err[256];
    metrics_events(srv->metrics, r->endpoint, EV_BOT, bots);
    if (worker_append(srv, w, r, err, sizeof err) != 0) {
        metrics_events(srv->metrics, r->endpoint, EV_STORE_ERROR, w->b.n);
        req_error(r, 503, "the store failed: %s", err);
    } else {
        req_canned(r, batch ? ANSWER_UA_BATCH_OK : ANSWER_UA_PIXEL);
    }
    evb_reset(&w->b);
}
