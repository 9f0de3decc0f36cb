/*
 * api_events.c - POST /api/v1/events: NDJSON in tsagg-ingest's field format
 * (docs/tsagg-ingest.md), parsed by tsagg-ingest's own parser.
 *
 * With a site's ingest key every line must name that site's merchant; the
 * admin key may send for any merchant. Lines are parsed and appended in
 * batches; the answer comes once every accepted event is durable (http.c
 * holds it until the committer has flushed them):
 *   {"accepted": N, "rejected": [{"line": L, "error": "..."}]}
 * or 503 with Retry-After while a backlog waits for compaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "metrics.h"
#include "sites.h"
#include "worker.h"

#define EVENTS_MAX_LINES 100000 /* lines per request, blank ones included */

typedef struct rejection {
    size_t line;
    char err[EVB_ERR_MAX];
} rejection;

static int add_rejection(rejection **v, size_t *n, size_t *cap, size_t line, const char *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        rejection *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[*n].line = line;
    snprintf((*v)[*n].err, sizeof (*v)[*n].err, "%s", err);
    (*n)++;
    return 0;
}

/*
 * Batches come no faster than maintenance compacts them: while the head of
 * uncompacted events is past its bound (maintenance compacts at once
 * then), a batch is refused with 503 and Retry-After, and the client sends
 * it again. Taken anyway, a backlog of millions would pass the head's hard
 * cap, where appends compact on their own thread, a request's, and every
 * query beside it waits. Without maintenance the appends keep the bound
 * themselves. Trackers' single hits are never held off: they do not retry.
 */
static int backlog_past_bound(request *r)
{
    server *srv = r->srv;
    tsagg_maintain_stats ms = {.struct_size = sizeof ms};
    if (!srv->cfg.maintenance || tsagg_maintenance_status(srv->store, &ms) != 0 ||
        ms.head_bytes < ms.head_max_bytes)
        return 0;
    r->extra_header[0] = "Retry-After";
    r->extra_header[1] = "1";
    req_error(r, 503, "%llu MiB of events wait for compaction, past the store's %llu MiB: "
                      "send this batch again after Retry-After",
              (unsigned long long)(ms.head_bytes >> 20),
              (unsigned long long)(ms.head_max_bytes >> 20));
    return 1;
}

void handle_events(request *r)
{
    server *srv = r->srv;
    const char *key = req_bearer(r);
    site s;
    int any_merchant = 0;
    if (!key) {
        req_error(r, 401, "missing Authorization: Bearer <ingest key>");
        return;
    }
    if (srv->cfg.admin_key && keys_equal(key, srv->cfg.admin_key)) {
        any_merchant = 1;
    } else if (!sites_by_key(srv->sites, KEY_INGEST, key, &s)) {
        if (sites_by_key(srv->sites, KEY_QUERY, key, NULL))
            req_error(r, 403, "a query key cannot send events: use the site's ingest key");
        else
            req_error(r, 401, "unknown ingest key");
        return;
    }
    if (r->body_len == 0) {
        req_error(r, 400, "empty body: expected NDJSON, one event per line");
        return;
    }
    if (backlog_past_bound(r))
        return;
    size_t lines = 1;
    for (const char *p = r->body; (p = memchr(p, '\n', (size_t)(r->body + r->body_len - p)));
         p++)
        lines++;
    if (lines > EVENTS_MAX_LINES) {
        metrics_events(srv->metrics, r->endpoint, EV_LIMIT, lines);
        req_error(r, 413, "%zu lines: at most %d events per request", lines, EVENTS_MAX_LINES);
        return;
    }
    worker *w = worker_get(srv);
    if (!w) {
        req_error(r, 500, "out of memory");
        return;
    }
    rejection *rej = NULL;
    size_t nrej = 0, caprej = 0, accepted = 0, lineno = 0, wrong_merchant = 0;
    char err[256];
    const char *p = r->body, *end = r->body + r->body_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        int rc = ingest_parse_record(&w->parsers, FORMAT_NDJSON, p, len, &w->b);
        p += len + 1;
        if (rc == RECORD_BLANK)
            continue;
        if (rc == 0 && !any_merchant && w->b.evs[w->b.n - 1].merchant != s.merchant) {
            unsigned long long got = w->b.evs[w->b.n - 1].merchant;
            evb_drop_last(&w->b);
            snprintf(w->b.err, sizeof w->b.err,
                     "field 'merchant': expected %llu (the merchant of this ingest key), got %llu",
                     (unsigned long long)s.merchant, got);
            wrong_merchant++;
            rc = -1;
        }
        if (rc != 0) {
            if (add_rejection(&rej, &nrej, &caprej, lineno, w->b.err) != 0) {
                free(rej);
                req_error(r, 500, "out of memory");
                return;
            }
            continue;
        }
        if (evb_full(&w->b)) {
            int arc = worker_append(srv, w, r, err, sizeof err);
            if (arc != 0)
                goto failed;
            accepted += w->b.n;
            evb_reset(&w->b);
        }
    }
    if (worker_append(srv, w, r, err, sizeof err) != 0)
        goto failed;
    accepted += w->b.n;
    evb_reset(&w->b);
    metrics_events(srv->metrics, r->endpoint, EV_INVALID, nrej - wrong_merchant);
    metrics_events(srv->metrics, r->endpoint, EV_UNKNOWN_SITE, wrong_merchant);

    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (f) {
        fprintf(f, "{\"accepted\": %zu, \"rejected\": [", accepted);
        for (size_t i = 0; i < nrej; i++) {
            fprintf(f, "%s{\"line\": %zu, \"error\": ", i ? ", " : "", rej[i].line);
            json_put_str(f, rej[i].err, strlen(rej[i].err));
            fputc('}', f);
        }
        fputs("]}\n", f);
        fclose(f);
    }
    free(rej);
    req_take(r, 200, "application/json", buf, blen);
    return;

failed:
    /* The batches appended before this one may or may not become durable,
     * and this one may be partly (tsagg_log.h): the client resends the
     * request, and the events' ids drop the copies at compaction. */
    metrics_events(srv->metrics, r->endpoint, EV_STORE_ERROR, w->b.n);
    evb_reset(&w->b);
    free(rej);
    req_error(r, 503, "the store failed after %zu of these events were appended; none is "
                      "acknowledged: %s", accepted, err);
}
