/*
 * analytics_demo.c - the whole path on GA-like traffic: append, compact,
 * query.
 *
 *   analytics_demo STORE [EVENTS]
 *
 * Generates EVENTS (default 1,000,000) web-analytics events over 7 days for
 * 200 merchants with the project's generator, appends them to the store's
 * log, compacts them into hourly partitions, then asks what a merchant's
 * dashboard asks: page views per hour over the last day, unique users per
 * day in the merchant's time zone, and the top pages of the week.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gagen.h"
#include "tsagg.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(tsagg_store *st, const char *what, int rc)
{
    char msg[512] = "";
    if (st)
        tsagg_store_errmsg(st, msg, sizeof msg);
    fprintf(stderr, "analytics_demo: %s: %s%s%s\n", what, tsagg_strerror(rc), *msg ? ": " : "",
            msg);
    return 1;
}

static void print_ts(int64_t us, const char *fmt)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, fmt, &tm);
    printf("%s", buf);
}

/* A zone whose offset matches the generator's fixed one for the merchant. */
static const char *zone_for(int offset_min)
{
    switch (offset_min) {
    case 330:
        return "Asia/Kolkata";
    case 345:
        return "Asia/Kathmandu";
    case 60:
        return "Africa/Lagos";
    case 120:
        return "Africa/Johannesburg";
    case 540:
        return "Asia/Tokyo";
    case -300:
        return "America/Bogota";
    case 480:
        return "Asia/Shanghai";
    default:
        return "UTC";
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: analytics_demo STORE [EVENTS]\n");
        return 2;
    }
    uint64_t events = argc == 3 ? strtoull(argv[2], NULL, 10) : 1000000;
    char err[512];
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_INTERVAL;
    tsagg_store *st;
    int rc = tsagg_store_open(argv[1], &o, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "analytics_demo: open %s: %s: %s\n", argv[1], tsagg_strerror(rc), err);
        return 1;
    }

    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = events;
    cfg.days = 7;
    cfg.merchants = 200;
    gagen *g = gagen_create(&cfg);
    if (!g)
        return fail(st, "generator", -12);
    uint64_t merchant = gagen_merchant_by_rank(g, 0);
    const char *zone = zone_for(gagen_merchant_utc_offset(g, merchant));
    double t0 = now_s();
    tsagg_event batch[4096];
    size_t n;
    while ((n = gagen_next(g, batch, 4096)) > 0)
        if ((rc = tsagg_append(st, batch, n, NULL)) != 0)
            return fail(st, "append", rc);
    gagen_free(g);
    if ((rc = tsagg_flush(st)) != 0)
        return fail(st, "flush", rc);
    double t_append = now_s() - t0;

    t0 = now_s();
    tsagg_compact_stats cs = {.struct_size = sizeof cs};
    if ((rc = tsagg_compact(st, NULL, &cs)) != 0)
        return fail(st, "compact", rc);
    double t_compact = now_s() - t0;
    printf("libtsagg %s (log written with %s)\n", tsagg_version(), tsagg_io_backend_name(st));
    printf("appended %" PRIu64 " events in %.2f s; compacted into %" PRIu64
           " hourly files in %.2f s (%" PRIu64 " client retries dropped, %.1f bytes/event)\n\n",
           events, t_append, cs.files_written, t_compact, cs.duplicates,
           (double)cs.bytes_written / (double)cs.rows_written);

    tsagg_result *r;
    if ((rc = tsagg_result_create(&r)) != 0)
        return fail(st, "result", rc);
    int64_t end = cfg.start_us + 7 * INT64_C(86400000000);
    const char *pv[] = {"page_view"};
    tsagg_filter page_views = {"event", pv, 1};
    tsagg_metric count = {TSAGG_METRIC_COUNT, NULL};
    tsagg_metric users = {TSAGG_METRIC_USERS, NULL};

    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = merchant;
    q.from = end - INT64_C(86400000000);
    q.to = end;
    q.bucket = TSAGG_BUCKET_HOUR;
    q.metrics = &count;
    q.nmetrics = 1;
    q.filters = &page_views;
    q.nfilters = 1;
    t0 = now_s();
    if ((rc = tsagg_query_run(st, &q, r)) != 0)
        return fail(st, "query", rc);
    printf("merchant %" PRIu64 ": page views per hour, last 24 hours (%.0f us)\n", merchant,
           (now_s() - t0) * 1e6);
    for (size_t i = 0; i < tsagg_result_rows(r); i++) {
        double v = tsagg_result_values(r, 0)[i];
        print_ts(tsagg_result_times(r)[i], "  %Y-%m-%dT%H:00Z ");
        printf("%7.0f ", v);
        for (int k = 0; k < (int)(v / 40) && k < 60; k++)
            putchar('#');
        putchar('\n');
    }

    q.from = cfg.start_us;
    q.bucket = TSAGG_BUCKET_DAY;
    q.tz = zone;
    q.metrics = &users;
    q.nfilters = 0;
    t0 = now_s();
    if ((rc = tsagg_query_run(st, &q, r)) != 0)
        return fail(st, "query", rc);
    printf("\nunique users per day in %s (%.0f us, %s)\n", zone, (now_s() - t0) * 1e6,
           tsagg_result_approximate(r) ? "HyperLogLog, about 0.8% error" : "exact");
    for (size_t i = 0; i < tsagg_result_rows(r); i++) {
        printf("  day starting ");
        print_ts(tsagg_result_times(r)[i], "%Y-%m-%dT%H:%MZ ");
        printf("%7.0f\n", tsagg_result_values(r, 0)[i]);
    }

    q.bucket = TSAGG_BUCKET_TOTAL;
    q.tz = NULL;
    q.metrics = &count;
    q.filters = &page_views;
    q.nfilters = 1;
    q.group_by = "page";
    q.top = 10;
    t0 = now_s();
    if ((rc = tsagg_query_run(st, &q, r)) != 0)
        return fail(st, "query", rc);
    printf("\ntop pages of the week (%.0f us)\n", (now_s() - t0) * 1e6);
    for (size_t i = 0; i < tsagg_result_rows(r); i++)
        printf("  %-32s %8.0f\n", tsagg_result_group(r, i), tsagg_result_values(r, 0)[i]);

    tsagg_result_free(r);
    rc = tsagg_store_close(st);
    return rc == 0 ? 0 : fail(NULL, "close", rc);
}
