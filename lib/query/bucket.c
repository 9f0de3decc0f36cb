/*
 * bucket.c - bucket arithmetic: where a bucket starts and where the next one
 * does, in UTC microseconds.
 *
 * MINUTE and HOUR are fixed widths aligned to UTC. DAY, WEEK and MONTH are
 * local calendar periods. A period whose first local day is D starts at
 * day_start(D), the first instant whose local date is D or later, i.e.
 * the first instant t with t + offset(t) >= D * 86400. That is local
 * midnight when it exists and the end of the gap when daylight saving skips
 * midnight (01:00 in Asia/Beirut on the last Sunday of March). day_start is
 * monotonic in D, so buckets tile the time line without overlap even where
 * local time goes back across midnight (Asia/Beirut in October goes from
 * 00:00 back to 23:00 of the day before: that repeated hour belongs to the
 * new day, which has started already).
 */
#include "tsagg_query.h"
#include "tz.h"

#define US INT64_C(1000000)
#define DAY_S INT64_C(86400)

static int64_t s_to_us(int64_t s)
{
    if (s > INT64_MAX / US)
        return INT64_MAX;
    if (s < INT64_MIN / US)
        return INT64_MIN;
    return s * US;
}

/* The first instant (UTC seconds) whose local date is day d or later. The
 * answer lies in [L - maxoff, L - minoff] with L = d * 86400; walk the
 * spans of constant offset from the left end: in a span of offset o the
 * first instant with local time >= L is max(span start, L - o). */
static int64_t day_start(const tsagg__tz *tz, int64_t d)
{
    int32_t mn, mx;
    tsagg__tz_bounds(tz, &mn, &mx);
    int64_t L = d * DAY_S;
    int64_t t = L - mx;
    for (;;) {
        int64_t end;
        int32_t off = tsagg__tz_span(tz, t, &end);
        int64_t c = L - off > t ? L - off : t;
        if (c < end)
            return c;
        t = end; /* ends by t = L - minoff at the latest */
    }
}

static int64_t local_day(const tsagg__tz *tz, int64_t t)
{
    int64_t end;
    return tsagg__floordiv(t + tsagg__tz_span(tz, t, &end), DAY_S);
}

/* The first local day of the period holding day d. */
static int64_t period_first(unsigned bucket, int64_t d)
{
    if (bucket == TSAGG_BUCKET_DAY)
        return d;
    if (bucket == TSAGG_BUCKET_WEEK) {
        int64_t wd = ((d + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; Monday = 0 */
        return d - wd;
    }
    int64_t y;
    unsigned m, dd;
    tsagg__civil_from_days(d, &y, &m, &dd);
    return tsagg__days_from_civil(y, m, 1);
}

/* The first local day of the period after the one starting on day p. */
static int64_t period_next(unsigned bucket, int64_t p)
{
    if (bucket == TSAGG_BUCKET_DAY)
        return p + 1;
    if (bucket == TSAGG_BUCKET_WEEK)
        return p + 7;
    int64_t y;
    unsigned m, dd;
    tsagg__civil_from_days(p, &y, &m, &dd);
    return m == 12 ? tsagg__days_from_civil(y + 1, 1, 1) : tsagg__days_from_civil(y, m + 1, 1);
}

static int64_t fixed_width(unsigned bucket)
{
    return bucket == TSAGG_BUCKET_MINUTE ? 60 * US : 3600 * US;
}

static int is_calendar(unsigned bucket)
{
    return bucket == TSAGG_BUCKET_DAY || bucket == TSAGG_BUCKET_WEEK ||
           bucket == TSAGG_BUCKET_MONTH;
}

int64_t tsagg__bucket_floor(const tsagg__tz *tz, unsigned bucket, int64_t ts_us)
{
    if (bucket == TSAGG_BUCKET_MINUTE || bucket == TSAGG_BUCKET_HOUR) {
        int64_t w = fixed_width(bucket), q = tsagg__floordiv(ts_us, w);
        return q < INT64_MIN / w ? INT64_MIN : q * w;
    }
    if (!is_calendar(bucket))
        return ts_us;
    int64_t t = tsagg__floordiv(ts_us, US);
    int64_t p = period_first(bucket, local_day(tz, t));
    int64_t s = day_start(tz, p);
    /* Where local time went back across midnight, the next period may have
     * started already although t's local date is still in this one. No
     * instant up to t has a local time beyond t + maxoff: only near the end
     * of a period is there anything to check. */
    int32_t mn, mx;
    tsagg__tz_bounds(tz, &mn, &mx);
    for (;;) {
        int64_t np = period_next(bucket, p);
        if (t + mx < np * DAY_S)
            break;
        int64_t ns = day_start(tz, np);
        if (ns > t)
            break;
        p = np;
        s = ns;
    }
    return s_to_us(s);
}

int64_t tsagg__bucket_next(const tsagg__tz *tz, unsigned bucket, int64_t start_us)
{
    if (bucket == TSAGG_BUCKET_MINUTE || bucket == TSAGG_BUCKET_HOUR) {
        int64_t w = fixed_width(bucket), q = tsagg__floordiv(start_us, w) + 1;
        return q > INT64_MAX / w ? INT64_MAX : q * w;
    }
    if (!is_calendar(bucket))
        return INT64_MAX;
    int64_t p = period_first(bucket, local_day(tz, tsagg__floordiv(start_us, US)));
    for (;;) {
        p = period_next(bucket, p);
        int64_t ns = s_to_us(day_start(tz, p));
        if (ns > start_us || ns == INT64_MAX)
            return ns;
    }
}

size_t tsagg__bucket_starts(const tsagg__tz *tz, unsigned bucket, int64_t from, int64_t to,
                            int64_t *out, size_t cap)
{
    size_t n = 0;
    if (from >= to)
        return 0;
    for (int64_t s = tsagg__bucket_floor(tz, bucket, from); s < to;) {
        if (n == cap)
            return cap + 1;
        out[n++] = s;
        int64_t next = tsagg__bucket_next(tz, bucket, s);
        if (next <= s)
            break;
        s = next;
    }
    return n;
}
