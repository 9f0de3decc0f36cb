/*
 * api_query.c - POST /api/v1/query, shaped after Plausible's Stats API v2,
 * answered by tsagg_query_run (docs/server.md):
 *
 *   {"site_id": 42, "metrics": ["count", "users"], "date_range": "7d",
 *    "interval": "day", "timezone": "Europe/Berlin",
 *    "filters": [["is", "event", ["page_view"]]], "dimensions": ["page"],
 *    "limit": 10, "exact": false}
 *
 * and the visit metrics (visits, bounce_rate, ...; by "entry_page" /
 * "exit_page"), as tsagg-query names them.
 *
 * Every mistake is a 400 whose message names the field.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonout.h"
#include "maintenance.h"
#include "metrics.h"
#include "sites.h"
#include "worker.h"
#include "zone.h"

#define DAY_US INT64_C(86400000000)

typedef struct qparse {
    tsagg_query q;
    tsagg_metric metrics[TSAGG_QUERY_MAX_METRICS];
    tsagg_filter filters[TSAGG_QUERY_MAX_FILTERS];
    const char *values[TSAGG_QUERY_MAX_FILTERS][64];
    char tz[SITE_TZ_MAX + 1];
    char domain[SITE_DOMAIN_MAX + 1]; /* the merchant's site's, or "" */
} qparse;

static const char *const bucket_names[] = {"minute", "hour", "day", "week", "month", "total"};

/* "count", "users", "sessions", "sum:M", the visit metrics, "new_users",
 * ... (and Plausible's "events" and "visitors"). 0 or -1 after answering
 * 400. */
static int parse_metric(request *r, const tsagg_schema *schema, size_t i, const char *s,
                        tsagg_metric *m)
{
    static const struct { const char *name; uint32_t kind; } plain[] = {
        {"count", TSAGG_METRIC_COUNT}, {"events", TSAGG_METRIC_COUNT},
        {"users", TSAGG_METRIC_USERS}, {"visitors", TSAGG_METRIC_USERS},
        {"sessions", TSAGG_METRIC_SESSIONS}, {"visits", TSAGG_METRIC_VISITS},
        {"bounce_rate", TSAGG_METRIC_BOUNCE_RATE}, {"visit_duration", TSAGG_METRIC_VISIT_DURATION},
        {"pages_per_visit", TSAGG_METRIC_PAGES_PER_VISIT}, {"new_users", TSAGG_METRIC_NEW_USERS},
        {"returning_users", TSAGG_METRIC_RETURNING_USERS},
    };
    static const struct { const char *prefix; uint32_t kind; } of[] = {
        {"sum:", TSAGG_METRIC_SUM}, {"avg:", TSAGG_METRIC_AVG},
        {"min:", TSAGG_METRIC_MIN}, {"max:", TSAGG_METRIC_MAX},
    };
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
        if (!strcmp(s, plain[k].name)) {
            m->kind = plain[k].kind;
            m->measure = NULL;
            return 0;
        }
    for (size_t k = 0; k < sizeof of / sizeof of[0]; k++)
        if (!strncmp(s, of[k].prefix, 4)) {
            if (tsagg_schema_measure_index(schema, s + 4) < 0) {
                req_error(r, 400, "field 'metrics[%zu]': '%s' is not a measure of the schema",
                          i, s + 4);
                return -1;
            }
            m->kind = of[k].kind;
            m->measure = s + 4;
            return 0;
        }
    req_error(r, 400, "field 'metrics[%zu]': expected count, users, sessions, sum:M, avg:M, "
                      "min:M, max:M, visits, bounce_rate, visit_duration, pages_per_visit, "
                      "new_users or returning_users, got '%s'", i, s);
    return -1;
}

static int is_visit_metric(uint32_t kind)
{
    return kind == TSAGG_METRIC_VISITS || kind == TSAGG_METRIC_BOUNCE_RATE ||
           kind == TSAGG_METRIC_VISIT_DURATION || kind == TSAGG_METRIC_PAGES_PER_VISIT;
}

/* The library's name of a visit dimension ("entry_page", "exit_page", or
 * Plausible's "visit:entry_page" ...), or NULL for any other name. */
static const char *visit_dimension(const char *name)
{
    if (!strncmp(name, "visit:", 6))
        name += 6;
    return !strcmp(name, "entry_page") ? "entry_page" : !strcmp(name, "exit_page") ? "exit_page"
                                                                                    : NULL;
}

/* The combinations the library refuses, refused first with the field
 * named: a visit dimension takes visit metrics only, and a visit (many
 * events) has no one event name to be grouped by. (A schema without page
 * is the library's TSAGG_ESCHEMA, a 400 naming page.) 0 or -1 after
 * answering 400. */
static int check_visit_combination(request *r, const tsagg_query *q)
{
    if (!q->group_by)
        return 0;
    int visit_dim = visit_dimension(q->group_by) != NULL;
    for (uint32_t i = 0; i < q->nmetrics; i++) {
        int visit = is_visit_metric(q->metrics[i].kind);
        if (visit_dim && !visit) {
            req_error(r, 400, "field 'metrics[%u]': only visits, bounce_rate, visit_duration and "
                              "pages_per_visit can be grouped by %s (a visit's page)", i,
                      q->group_by);
            return -1;
        }
        if (visit && !strcmp(q->group_by, "event")) {
            req_error(r, 400, "field 'dimensions[0]': metrics[%u] counts visits, which hold "
                              "events of several names: they cannot be grouped by event", i);
            return -1;
        }
    }
    return 0;
}

static int known_field(const tsagg_schema *schema, const char *name)
{
    return !strcmp(name, "event") || tsagg_schema_dimension_index(schema, name) >= 0;
}

/* One end of date_range: a date (a local midnight; the end: the midnight
 * after it, so that the day is included) or an RFC 3339 time. */
static int parse_bound(request *r, tsagg_store *st, const char *tz, const char *s, int end,
                       int64_t *out)
{
    int y, mo, d, n = 0;
    if (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10) {
        int64_t us;
        if (!cli_parse_time(s, 0, &us)) {
            req_error(r, 400, "field 'date_range[%d]': '%s' is not a date", end, s);
            return -1;
        }
        int64_t day = us / DAY_US + end;
        int rc = zone_midnight(st, tz, day, out);
        if (rc != 0) {
            req_error(r, 400, "field 'timezone': '%s': %s", tz, tsagg_strerror(rc));
            return -1;
        }
        return 0;
    }
    if (strchr(s, 'T') && cli_parse_time(s, 0, out))
        return 0;
    req_error(r, 400, "field 'date_range[%d]': expected a date (2026-11-01) or an RFC 3339 time "
                      "(2026-11-01T00:00:00Z), got '%s'", end, s);
    return -1;
}

static int parse_range(request *r, tsagg_store *st, const char *tz, json_t *v, int64_t *from,
                       int64_t *to)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int days = !strcmp(s, "day") ? 1 : !strcmp(s, "7d") ? 7 : !strcmp(s, "30d") ? 30 : 0;
        if (!days) {
            req_error(r, 400, "field 'date_range': expected \"day\", \"7d\", \"30d\" or "
                              "[from, to], got \"%s\"", s);
            return -1;
        }
        int64_t midnight, today;
        int rc = zone_day_of(st, tz, cli_now_us(), &midnight, &today);
        if (rc == 0)
            rc = zone_midnight(st, tz, today - days + 1, from);
        if (rc == 0)
            rc = zone_midnight(st, tz, today + 1, to);
        if (rc != 0) {
            req_error(r, 400, "field 'timezone': '%s': %s", tz, tsagg_strerror(rc));
            return -1;
        }
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) != 2 ||
        !json_is_string(json_array_get(v, 0)) || !json_is_string(json_array_get(v, 1))) {
        req_error(r, 400, "field 'date_range': expected [from, to] (two strings), \"day\", "
                          "\"7d\" or \"30d\"");
        return -1;
    }
    if (parse_bound(r, st, tz, json_string_value(json_array_get(v, 0)), 0, from) ||
        parse_bound(r, st, tz, json_string_value(json_array_get(v, 1)), 1, to))
        return -1;
    if (*from >= *to) {
        req_error(r, 400, "field 'date_range': the end must come after the start");
        return -1;
    }
    return 0;
}

static int parse_filters(request *r, const tsagg_schema *schema, json_t *v, qparse *p)
{
    if (!json_is_array(v) || json_array_size(v) > TSAGG_QUERY_MAX_FILTERS) {
        req_error(r, 400, "field 'filters': expected an array of at most %d "
                          "[\"is\", field, [values]]", TSAGG_QUERY_MAX_FILTERS);
        return -1;
    }
    size_t i;
    json_t *f;
    json_array_foreach(v, i, f) {
        json_t *op = json_array_get(f, 0), *field = json_array_get(f, 1),
               *vals = json_array_get(f, 2);
        if (!json_is_array(f) || json_array_size(f) != 3 || !json_is_string(op) ||
            !json_is_string(field) || !json_is_array(vals)) {
            req_error(r, 400, "field 'filters[%zu]': expected [\"is\", field, [values]]", i);
            return -1;
        }
        if (strcmp(json_string_value(op), "is")) {
            req_error(r, 400, "field 'filters[%zu][0]': only \"is\" is supported, got \"%s\"", i,
                      json_string_value(op));
            return -1;
        }
        if (!known_field(schema, json_string_value(field))) {
            req_error(r, 400, "field 'filters[%zu][1]': '%s' is neither event nor a dimension "
                              "of the schema", i, json_string_value(field));
            return -1;
        }
        size_t n = json_array_size(vals);
        if (n == 0 || n > 64) {
            req_error(r, 400, "field 'filters[%zu][2]': expected 1 to 64 values", i);
            return -1;
        }
        for (size_t k = 0; k < n; k++) {
            const char *s = json_string_value(json_array_get(vals, k));
            if (!s) {
                req_error(r, 400, "field 'filters[%zu][2][%zu]': expected a string", i, k);
                return -1;
            }
            p->values[i][k] = s;
        }
        p->filters[i].field = json_string_value(field);
        p->filters[i].values = p->values[i];
        p->filters[i].nvalues = (uint32_t)n;
    }
    p->q.filters = p->filters;
    p->q.nfilters = (uint32_t)json_array_size(v);
    return 0;
}

/* Fill p from the body; 0, or -1 after answering. site is the key's site
 * (NULL for the admin key). */
static int parse_query(request *r, json_t *o, const site *keysite, qparse *p)
{
    server *srv = r->srv;
    const tsagg_schema *schema = tsagg_store_schema(srv->store);
    tsagg_query_init(&p->q);
    const char *key;
    json_t *v;
    static const char *const known[] = {"site_id", "metrics", "date_range", "interval",
                                        "timezone", "filters", "dimensions", "limit", "exact"};
    json_object_foreach(o, key, v) {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(key, known[k]))
            k++;
        if (k == sizeof known / sizeof known[0]) {
            req_error(r, 400, "field '%s': unknown (site_id, metrics, date_range, interval, "
                              "timezone, filters, dimensions, limit, exact)", key);
            return -1;
        }
    }
    v = json_object_get(o, "site_id");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        req_error(r, 400, "field 'site_id': expected the merchant number");
        return -1;
    }
    p->q.merchant = (uint64_t)json_integer_value(v);
    if (keysite && keysite->merchant != p->q.merchant) {
        req_error(r, 403, "this query key is for site %llu, not %llu",
                  (unsigned long long)keysite->merchant, (unsigned long long)p->q.merchant);
        return -1;
    }
    site s;
    const char *zone = "UTC";
    if (sites_by_merchant(srv->sites, p->q.merchant, &s)) {
        zone = s.timezone;
        snprintf(p->domain, sizeof p->domain, "%s", s.domain);
    }
    v = json_object_get(o, "timezone");
    if (v && (!json_is_string(v) || strlen(json_string_value(v)) > SITE_TZ_MAX)) {
        req_error(r, 400, "field 'timezone': expected an IANA zone name");
        return -1;
    }
    snprintf(p->tz, sizeof p->tz, "%s", v ? json_string_value(v) : zone);
    p->q.tz = p->tz;

    v = json_object_get(o, "metrics");
    if (!json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > TSAGG_QUERY_MAX_METRICS) {
        req_error(r, 400, "field 'metrics': expected an array of 1 to %d metric names",
                  TSAGG_QUERY_MAX_METRICS);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *m = json_string_value(json_array_get(v, i));
        if (!m) {
            req_error(r, 400, "field 'metrics[%zu]': expected a string", i);
            return -1;
        }
        if (parse_metric(r, schema, i, m, &p->metrics[i]) != 0)
            return -1;
    }
    p->q.metrics = p->metrics;
    p->q.nmetrics = (uint32_t)json_array_size(v);

    v = json_object_get(o, "interval");
    p->q.bucket = TSAGG_BUCKET_TOTAL;
    if (v) {
        const char *b = json_string_value(v);
        uint32_t k = 0;
        while (b && k < 6 && strcmp(b, bucket_names[k]))
            k++;
        if (!b || k == 6) {
            req_error(r, 400, "field 'interval': expected minute, hour, day, week, month or "
                              "total");
            return -1;
        }
        p->q.bucket = k;
    }
    v = json_object_get(o, "date_range");
    if (!v) {
        req_error(r, 400, "field 'date_range': missing (required)");
        return -1;
    }
    if (parse_range(r, srv->store, p->tz, v, &p->q.from, &p->q.to) != 0)
        return -1;
    v = json_object_get(o, "filters");
    if (v && parse_filters(r, schema, v, p) != 0)
        return -1;
    v = json_object_get(o, "dimensions");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) > 1 ||
            (json_array_size(v) == 1 && !json_is_string(json_array_get(v, 0)))) {
            req_error(r, 400, "field 'dimensions': expected [] or one field name");
            return -1;
        }
        if (json_array_size(v) == 1) {
            const char *name = json_string_value(json_array_get(v, 0));
            p->q.group_by = visit_dimension(name) ? visit_dimension(name) : name;
            if (!known_field(schema, p->q.group_by) && !visit_dimension(name)) {
                req_error(r, 400, "field 'dimensions[0]': '%s' is neither event, entry_page, "
                                  "exit_page nor a dimension of the schema", name);
                return -1;
            }
        }
    }
    if (check_visit_combination(r, &p->q) != 0)
        return -1;
    v = json_object_get(o, "limit");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 100000) {
            req_error(r, 400, "field 'limit': expected an integer from 1 to 100000");
            return -1;
        }
        p->q.top = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "exact");
    if (v) {
        if (!json_is_boolean(v)) {
            req_error(r, 400, "field 'exact': expected true or false");
            return -1;
        }
        if (json_is_true(v))
            p->q.flags |= TSAGG_QUERY_EXACT;
    }
    return 0;
}

static void write_results(FILE *f, const qparse *p, const tsagg_result *res, double ms)
{
    const tsagg_query *q = &p->q;
    size_t rows = tsagg_result_rows(res);
    const int64_t *times = tsagg_result_times(res);
    fputs("{\"results\": [", f);
    for (size_t i = 0; i < rows; i++) {
        fputs(i ? ",\n  {" : "\n  {", f);
        if (q->bucket != TSAGG_BUCKET_TOTAL) {
            char t[48];
            cli_format_time(times[i], 0, 0, t, sizeof t);
            fprintf(f, "\"time\": \"%s\", ", t);
        }
        fputs("\"dimensions\": [", f);
        if (q->group_by) {
            const char *g = tsagg_result_group(res, i);
            json_put_str(f, g, strlen(g));
        }
        fputs("], \"metrics\": [", f);
        for (uint32_t m = 0; m < q->nmetrics; m++) {
            if (m)
                fputs(", ", f);
            json_put_num(f, tsagg_result_values(res, m)[i]);
        }
        fputs("]}", f);
    }
    /* The zone and domain let a dashboard holding only a query key label
     * its dates and its page. */
    fprintf(f, "%s], \"meta\": {\"approximate\": %s, \"took_ms\": %.3f, \"timezone\": ",
            rows ? "\n" : "", tsagg_result_approximate(res) ? "true" : "false", ms);
    json_put_str(f, p->tz, strlen(p->tz));
    if (p->domain[0]) {
        fputs(", \"domain\": ", f);
        json_put_str(f, p->domain, strlen(p->domain));
    }
    /* A partial answer (the log stops at damage) says so. */
    const char *warning = tsagg_result_warning(res);
    if (warning) {
        fputs(", \"warning\": ", f);
        json_put_str(f, warning, strlen(warning));
    }
    fputs("}}\n", f);
}

void handle_query(request *r)
{
    server *srv = r->srv;
    const char *key = req_bearer(r);
    site ks;
    const site *keysite = &ks;
    if (!key) {
        req_error(r, 401, "missing Authorization: Bearer <query key>");
        return;
    }
    if (srv->cfg.admin_key && keys_equal(key, srv->cfg.admin_key)) {
        keysite = NULL;
    } else if (!sites_by_key(srv->sites, KEY_QUERY, key, &ks)) {
        if (sites_by_key(srv->sites, KEY_INGEST, key, NULL))
            req_error(r, 403, "an ingest key cannot query: use the site's query key");
        else
            req_error(r, 401, "unknown query key");
        return;
    }
    json_error_t je;
    json_t *o = json_loadb(r->body, r->body_len, 0, &je);
    if (!o || !json_is_object(o)) {
        req_error(r, 400, o ? "expected a JSON object" : "invalid JSON at line %d column %d: %s",
                  je.line, je.column, je.text);
        json_decref(o);
        return;
    }
    worker *w = worker_get(srv);
    qparse *p = calloc(1, sizeof *p);
    if (!p || !w || (!w->result && tsagg_result_create(&w->result) != 0)) {
        free(p);
        json_decref(o);
        req_error(r, 500, "out of memory");
        return;
    }
    tsagg_result *res = w->result;
    if (parse_query(r, o, keysite, p) == 0) {
        int64_t t0 = mono_ns();
        int rc = tsagg_query_run(srv->store, &p->q, res);
        double secs = (double)(mono_ns() - t0) / 1e9;
        metrics_query_latency(srv->metrics, secs);
        if (rc != 0) {
            char msg[256];
            tsagg_store_errmsg(srv->store, msg, sizeof msg);
            if (rc == TSAGG_EARG || rc == TSAGG_ESCHEMA)
                req_error(r, 400, "%s: %s", tsagg_strerror(rc), msg);
            else if (rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT) {
                /* The raw log still has those events: rebuild the hour. */
                int64_t hour = maintenance_repair(srv->maint, msg);
                req_error(r, 503, "damaged store file: %s%s", msg,
                          hour >= 0 ? " (its hour is being rebuilt from the raw log: retry "
                                      "shortly)" : "");
                if (hour >= 0) {
                    r->extra_header[0] = "Retry-After";
                    r->extra_header[1] = "1";
                }
            }
            else
                req_error(r, 500, "%s: %s", tsagg_strerror(rc), msg);
        } else {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            if (f) {
                write_results(f, p, res, secs * 1e3);
                fclose(f);
            }
            req_take(r, 200, "application/json", buf, len);
        }
    }
    free(p);
    json_decref(o);
}
