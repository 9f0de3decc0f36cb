/* zone.c - see zone.h. */
#include "zone.h"

#define DAY_US INT64_C(86400000000)
#define HOUR_US INT64_C(3600000000)

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* Start of the bucket holding t: a query of [t, t + 1 µs) with no events
 * to read (partitions only, merchant filter on an hour at most). */
static int bucket_start(tsagg_store *st, const char *tz, uint32_t bucket, int64_t t,
                        int64_t *start)
{
    static const tsagg_metric count = {TSAGG_METRIC_COUNT, NULL};
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_NO_TAIL;
    q.merchant = 0;
    q.from = t;
    q.to = t + 1;
    q.bucket = bucket;
    q.tz = tz;
    q.metrics = &count;
    q.nmetrics = 1;
    tsagg_result *r;
    int rc = tsagg_result_create(&r);
    if (rc != 0)
        return rc;
    rc = tsagg_query_run(st, &q, r);
    if (rc == 0)
        *start = tsagg_result_buckets(r) ? tsagg_result_times(r)[0] : t;
    tsagg_result_free(r);
    return rc;
}

/* 1970-01-05 was a Monday: weekday 0 = Monday. */
static int weekday(int64_t day)
{
    return (int)(((day - 4) % 7 + 7) % 7);
}

int zone_day_of(tsagg_store *st, const char *tz, int64_t t, int64_t *midnight, int64_t *day)
{
    int64_t m, w;
    int rc = bucket_start(st, tz, TSAGG_BUCKET_DAY, t, &m);
    if (rc == 0)
        rc = bucket_start(st, tz, TSAGG_BUCKET_WEEK, t, &w);
    if (rc != 0)
        return rc;
    /* w is a local Monday midnight: w + offset is a whole number of days,
     * offsets lie in [-12 h, +14 h]: two candidates at most, a day apart;
     * the one landing on a Monday is right. */
    int64_t off = ((-w % DAY_US) + DAY_US) % DAY_US; /* [0, 24 h) */
    int64_t wday = floor_div(w + off, DAY_US);
    if (off > 14 * HOUR_US || weekday(wday) != 0) {
        off -= DAY_US;
        wday = floor_div(w + off, DAY_US);
    }
    *midnight = m;
    /* Days between two midnights: 24 h each, give or take a DST hour. */
    *day = wday + floor_div(m - w + 12 * HOUR_US, DAY_US);
    return 0;
}

int zone_midnight(tsagg_store *st, const char *tz, int64_t day, int64_t *midnight)
{
    /* Noon UTC of that date is within a day of the local date; step until
     * the local day is the one asked for (twice at most). */
    int64_t t = day * DAY_US + 12 * HOUR_US, m, d;
    for (int i = 0; i < 4; i++) {
        int rc = zone_day_of(st, tz, t, &m, &d);
        if (rc != 0)
            return rc;
        if (d == day) {
            *midnight = m;
            return 0;
        }
        t = m + (day - d) * DAY_US + 12 * HOUR_US;
    }
    return TSAGG_EARG;
}
