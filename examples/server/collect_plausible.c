/*
 * collect_plausible.c - Plausible's events API: POST /api/event.
 *
 *   {"name": "pageview", "url": "https://shop.example/pricing",
 *    "domain": "shop.example", "referrer": "https://news.example/",
 *    "props": {"plan": "pro"}, "revenue": {"currency": "EUR", "amount": 12.5}}
 *
 * Short keys (n, u, d, r, p, $) as the tracker sends them; domain may list
 * several sites, comma-separated. No cookie and no address is stored: the
 * visitor is a hash of a salt that changes every day, the User-Agent, the
 * client address and the domain. Answers 202 "ok"; a crawler's event is
 * dropped with 202 and X-Plausible-Dropped: 1, as Plausible does; a bad
 * body is a 400 {"errors": {"field": ["why"]}} in Plausible's shape.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "jsonout.h"
#include "metrics.h"

#define PLAUSIBLE_MAX_PROPS 30
#define PLAUSIBLE_PROP_VALUE_MAX 2000
#define PLAUSIBLE_MAX_DOMAINS 10

static void field_error(request *r, unsigned status, const char *field, const char *why)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        fprintf(f, "{\"errors\": {\"%s\": [", field);
        json_put_str(f, why, strlen(why));
        fputs("]}}\n", f);
        fclose(f);
    }
    req_take(r, status, "application/json", buf, len);
}

/* The value of a key or its short form. */
static json_t *field(json_t *o, const char *key, const char *short_key)
{
    json_t *v = json_object_get(o, key);
    return v ? v : json_object_get(o, short_key);
}

void handle_plausible(request *r)
{
    server *srv = r->srv;
    json_error_t je;
    json_t *o = json_loadb(r->body, r->body_len, 0, &je);
    if (!o || !json_is_object(o)) {
        char why[200];
        snprintf(why, sizeof why, "invalid JSON: %s", o ? "expected an object" : je.text);
        field_error(r, 400, "request", why);
        metrics_events(srv->metrics, r->endpoint, EV_INVALID, 1);
        json_decref(o);
        return;
    }
    json_t *name = field(o, "name", "n"), *url = field(o, "url", "u"),
           *domain = field(o, "domain", "d"), *ref = field(o, "referrer", "r"),
           *props = field(o, "props", "p"), *revenue = field(o, "revenue", "$");
    const char *bad = NULL, *why = NULL;
    if (!json_is_string(name) || !json_string_length(name))
        bad = "name", why = "can't be blank";
    else if (json_string_length(name) > 120)
        bad = "name", why = "should be at most 120 character(s)";
    else if (!json_is_string(url) || !json_string_length(url))
        bad = "url", why = "is required";
    else if (!json_is_string(domain) || !json_string_length(domain))
        bad = "domain", why = "can't be blank";
    else if (ref && !json_is_null(ref) && !json_is_string(ref))
        bad = "referrer", why = "is invalid";
    else if (props && !json_is_null(props) &&
             (!json_is_object(props) || json_object_size(props) > PLAUSIBLE_MAX_PROPS))
        bad = "props", why = "must be an object of at most 30 string or number values";
    if (!bad && json_is_object(props)) {
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) {
            if (strlen(k) > TSAGG_NAME_MAX || !*k)
                bad = "props", why = "keys must be 1 to 64 characters";
            else if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
                bad = "props", why = "values must be strings or numbers";
            else if (json_is_string(v) && json_string_length(v) > PLAUSIBLE_PROP_VALUE_MAX)
                bad = "props", why = "values must be at most 2000 characters";
        }
    }
    double amount = 0;
    const char *currency = NULL;
    if (!bad && revenue && !json_is_null(revenue)) {
        json_t *a = json_object_get(revenue, "amount"), *c = json_object_get(revenue, "currency");
        char *end = NULL;
        if (json_is_number(a))
            amount = json_number_value(a);
        else if (json_is_string(a))
            amount = strtod(json_string_value(a), &end);
        if (!json_is_object(revenue) || !json_is_string(c) || json_string_length(c) != 3 ||
            !(json_is_number(a) || (json_is_string(a) && end && !*end && *json_string_value(a))))
            bad = "revenue", why = "expected {\"currency\": \"EUR\", \"amount\": 12.5}";
        else
            currency = json_string_value(c);
    }
    if (bad) {
        field_error(r, 400, bad, why);
        metrics_events(srv->metrics, r->endpoint, EV_INVALID, 1);
        json_decref(o);
        return;
    }
    worker *w = worker_get(srv);
    if (!w) {
        json_decref(o);
        req_error(r, 500, "out of memory");
        return;
    }
    hit h = {0};
    collect_user_agent(r, w, &h, NULL);
    if (h.ua.crawler) {
        metrics_events(srv->metrics, r->endpoint, EV_BOT, 1);
        req_canned(r, ANSWER_PLAUSIBLE_DROPPED);
        json_decref(o);
        return;
    }
    const char *ev = json_string_value(name);
    h.event = !strcmp(ev, "pageview") ? "page_view" : ev; /* one name across protocols */
    /* "engagement", sent as a page is left (time on page, scroll depth),
     * keeps its name: the dashboard leaves it out of its event counts. */
    h.event_len = strlen(h.event);
    h.ts = now_us();
    h.page = json_string_value(url);
    h.page_len = json_string_length(url);
    h.referrer = json_string_value(ref);
    h.referrer_len = h.referrer ? strlen(h.referrer) : 0;
    h.country = req_country(r);
    h.has_value = currency != NULL;
    h.value = amount;
    /* One event per listed site. */
    const char *d = json_string_value(domain);
    size_t ndomains = 0, unknown = 0;
    while (*d) {
        size_t len = strcspn(d, ",");
        const char *name_start = d;
        while (len && *name_start == ' ')
            name_start++, len--;
        site s;
        char dom[SITE_DOMAIN_MAX + 1];
        if (len && len <= SITE_DOMAIN_MAX && ndomains < PLAUSIBLE_MAX_DOMAINS) {
            memcpy(dom, name_start, len);
            dom[len] = '\0';
            ndomains++;
            if (!sites_by_domain(srv->sites, dom, len, &s)) {
                unknown++;
            } else {
                h.merchant = s.merchant;
                h.user = collect_visitor(r, s.domain);
                h.session = 0;
                if (collect_begin(srv, w, &h) != 0 ||
                    (currency && collect_extra_str(w, "currency", 8, currency, 3) != 0)) {
                    field_error(r, 400, "request", w->b.err);
                    evb_reset(&w->b);
                    json_decref(o);
                    return;
                }
                const char *k;
                json_t *v;
                int rc = 0;
                json_object_foreach(props, k, v) {
                    char num[32];
                    const char *sv = json_string_value(v);
                    size_t sl = sv ? json_string_length(v) : 0;
                    if (json_is_boolean(v))
                        sv = json_is_true(v) ? "true" : "false", sl = strlen(sv);
                    else if (!sv) {
                        /* Props are strings in Plausible: numbers as text. */
                        sl = (size_t)snprintf(num, sizeof num, "%.17g", json_number_value(v));
                        char *copy = evb_alloc(&w->b, sl);
                        if (!copy) {
                            rc = -1;
                            break;
                        }
                        memcpy(copy, num, sl);
                        sv = copy;
                    }
                    if ((rc = collect_extra_str(w, k, strlen(k), sv, sl)) != 0)
                        break;
                }
                if (rc != 0 || evb_finish(&w->b) != 0) {
                    field_error(r, 400, "props", w->b.err);
                    evb_reset(&w->b);
                    json_decref(o);
                    return;
                }
            }
        }
        d += strcspn(d, ",");
        if (*d == ',')
            d++;
    }
    if (w->b.n == 0) {
        metrics_events(srv->metrics, r->endpoint, EV_UNKNOWN_SITE, unknown ? unknown : 1);
        field_error(r, 404, "domain", "no site has this domain");
        json_decref(o);
        return;
    }
    char err[256];
    metrics_events(srv->metrics, r->endpoint, EV_UNKNOWN_SITE, unknown);
    if (worker_append(srv, w, r, err, sizeof err) != 0) {
        metrics_events(srv->metrics, r->endpoint, EV_STORE_ERROR, w->b.n);
        req_error(r, 503, "the store failed: %s", err);
    } else {
        req_canned(r, ANSWER_PLAUSIBLE_OK);
    }
    /* The events pointed into the parsed body until appended. */
    evb_reset(&w->b);
    json_decref(o);
}
