/*
 * api_admin.c - the admin API (sites, maintenance) and the operations
 * endpoints (/healthz, /metrics).
 *
 * Keys: a request without a bearer token, or with one nobody holds, gets
 * 401; a site's key used where only the admin key may go gets 403.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonout.h"
#include "maintenance.h"
#include "metrics.h"
#include "server.h"
#include "sites.h"

int auth_admin(request *r)
{
    const char *key = req_bearer(r);
    if (!key) {
        req_error(r, 401, "missing Authorization: Bearer <admin key>");
        return 0;
    }
    if (r->srv->cfg.admin_key && keys_equal(key, r->srv->cfg.admin_key))
        return 1;
    if (sites_by_key(r->srv->sites, KEY_QUERY, key, NULL) ||
        sites_by_key(r->srv->sites, KEY_INGEST, key, NULL))
        req_error(r, 403, "this endpoint needs the admin key, not a site's key");
    else
        req_error(r, 401, "unknown key");
    return 0;
}

void handle_healthz(request *r)
{
    /* Healthy while the log writer works: after a failed write or fsync
     * every append and flush returns the stored error (tsagg_log.h). */
    int rc = tsagg_flush(r->srv->store);
    if (rc != 0) {
        req_error(r, 503, "the event log failed: %s", tsagg_strerror(rc));
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof body, "{\"status\": \"ok\", \"durable_seq\": %llu}\n",
                     (unsigned long long)tsagg_durable_seq(r->srv->store));
    req_reply(r, 200, "application/json", body, (size_t)n);
}

void handle_metrics(request *r)
{
    size_t len;
    char *text = metrics_render(r->srv->metrics, r->srv, &len);
    req_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* A domain as Plausible takes it: a host name, lower case. */
static int valid_domain(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > SITE_DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* An IANA zone name the library can read (/usr/share/zoneinfo). */
static int valid_zone(const char *z)
{
    if (!z[0] || strlen(z) > SITE_TZ_MAX || z[0] == '/' || strstr(z, ".."))
        return 0;
    if (!strcmp(z, "UTC"))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", z);
    return access(path, R_OK) == 0;
}

static void reply_site(request *r, unsigned status, const site *x)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len); /* NULL buf: req_take answers 500 */
    if (f) {
        site_write_json(x, f);
        fputc('\n', f);
        fclose(f);
    }
    req_take(r, status, "application/json", buf, len);
}

static void create_site(request *r)
{
    json_error_t je;
    json_t *o = json_loadb(r->body, r->body_len, 0, &je);
    if (!o || !json_is_object(o)) {
        req_error(r, 400, o ? "expected a JSON object" : "invalid JSON at line %d column %d: %s",
                  je.line, je.column, je.text);
        json_decref(o);
        return;
    }
    site x = {0};
    json_t *m = json_object_get(o, "merchant"), *d = json_object_get(o, "domain"),
           *tz = json_object_get(o, "timezone");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (strcmp(key, "merchant") && strcmp(key, "domain") && strcmp(key, "timezone")) {
            req_error(r, 400, "field '%s': unknown (merchant, domain, timezone)", key);
            goto out;
        }
    }
    if (!json_is_integer(m) || json_integer_value(m) < 0) {
        req_error(r, 400, "field 'merchant': expected an unsigned integer");
        goto out;
    }
    x.merchant = (uint64_t)json_integer_value(m);
    if (!json_is_string(d) || !valid_domain(json_string_value(d))) {
        req_error(r, 400, "field 'domain': expected a host name in lower case "
                          "(letters, digits, '.', '-')");
        goto out;
    }
    strcpy(x.domain, json_string_value(d));
    const char *zone = tz ? json_string_value(tz) : "UTC";
    if (!zone || !valid_zone(zone)) {
        req_error(r, 400, "field 'timezone': expected an IANA time zone such as Europe/Berlin");
        goto out;
    }
    strcpy(x.timezone, zone);
    int rc = sites_add(r->srv->sites, &x);
    if (rc == -EEXIST) {
        req_error(r, 409, "merchant %llu or domain %s already has a site",
                  (unsigned long long)x.merchant, x.domain);
    } else if (rc != 0) {
        req_error(r, 500, "could not save the sites: %s", strerror(-rc));
    } else {
        server_log("site added: merchant %llu, %s", (unsigned long long)x.merchant, x.domain);
        reply_site(r, 201, &x);
    }
out:
    json_decref(o);
}

static int parse_merchant(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

void handle_sites(request *r)
{
    if (!auth_admin(r))
        return;
    static const char prefix[] = "/api/v1/sites/";
    if (strncmp(r->url, prefix, sizeof prefix - 1) == 0) {
        uint64_t merchant;
        if (!parse_merchant(r->url + sizeof prefix - 1, &merchant)) {
            req_error(r, 404, "expected /api/v1/sites/<merchant>");
            return;
        }
        site x;
        if (!strcmp(r->method, "GET")) {
            if (sites_by_merchant(r->srv->sites, merchant, &x))
                reply_site(r, 200, &x);
            else
                req_error(r, 404, "no site for merchant %llu", (unsigned long long)merchant);
            return;
        }
        int rc = sites_remove(r->srv->sites, merchant);
        if (rc == -ENOENT) {
            req_error(r, 404, "no site for merchant %llu", (unsigned long long)merchant);
        } else if (rc != 0) {
            req_error(r, 500, "could not save the sites: %s", strerror(-rc));
        } else {
            server_log("site removed: merchant %llu (its events stay in the store)",
                       (unsigned long long)merchant);
            req_reply(r, 204, NULL, NULL, 0);
        }
        return;
    }
    if (!strcmp(r->method, "POST")) {
        create_site(r);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        fputs("{\"sites\": ", f);
        sites_write_json(r->srv->sites, f);
        fputs("}\n", f);
        fclose(f);
    }
    req_take(r, 200, "application/json", buf, len);
}

/* What a maintenance step did, as JSON (docs/server.md). */
static void put_stats(FILE *f, const tsagg_maintain_stats *s)
{
    fprintf(f, "{\"compactions\": %llu, \"events_compacted\": %llu, \"files_written\": %llu, "
               "\"files_merged\": %llu, \"partitions_dropped\": %llu, \"rows_dropped\": %llu, "
               "\"segments_archived\": %llu, \"segments_dropped\": %llu, "
               "\"tail_events\": %llu, \"seconds\": %.6f, \"cpu_seconds\": %.6f}\n",
            (unsigned long long)s->compactions, (unsigned long long)s->events_compacted,
            (unsigned long long)s->files_written, (unsigned long long)s->files_merged,
            (unsigned long long)s->partitions_dropped, (unsigned long long)s->rows_dropped,
            (unsigned long long)s->segments_archived, (unsigned long long)s->segments_dropped,
            (unsigned long long)s->tail_events, (double)s->wall_us / 1e6,
            (double)s->cpu_us / 1e6);
}

void handle_maintenance(request *r)
{
    if (!auth_admin(r))
        return;
    maintenance_stats st;
    maintenance_run(r->srv->maint, &st);
    if (st.rc != 0) {
        req_error(r, 500, "maintenance failed: %s: %s", tsagg_strerror(st.rc),
                  st.step.last_error_msg);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        put_stats(f, &st.step);
        fclose(f);
    }
    req_take(r, 200, "application/json", buf, len);
}
