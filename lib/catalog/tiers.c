/* tiers.c - spans of the hour, day and month tiers (tiers.h). */
#include "tiers.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). */
static int64_t days_from_date(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The date of a day number (inverse of days_from_date). */
static void date_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return a % b < 0 ? q - 1 : q;
}

void tsagg__tier_span(int64_t ts, tsagg__tier tier, int64_t *start, uint32_t *hours)
{
    if (tier == TSAGG__TIER_HOUR) {
        *start = floor_div(ts, TSAGG__SPAN_HOUR_US) * TSAGG__SPAN_HOUR_US;
        *hours = 1;
        return;
    }
    int64_t day = floor_div(ts, TSAGG__SPAN_DAY_US);
    if (tier == TSAGG__TIER_DAY) {
        *start = day * TSAGG__SPAN_DAY_US;
        *hours = 24;
        return;
    }
    int64_t y;
    int m, d;
    date_from_days(day, &y, &m, &d);
    int64_t first = days_from_date(y, m, 1);
    int64_t next = m == 12 ? days_from_date(y + 1, 1, 1) : days_from_date(y, m + 1, 1);
    *start = first * TSAGG__SPAN_DAY_US;
    *hours = (uint32_t)((next - first) * 24);
}

int tsagg__span_tier(int64_t start, uint32_t hours)
{
    for (int t = TSAGG__TIER_HOUR; t <= TSAGG__TIER_MONTH; t++) {
        int64_t s;
        uint32_t h;
        tsagg__tier_span(start, (tsagg__tier)t, &s, &h);
        if (s == start && h == hours)
            return t;
    }
    return -1;
}

int tsagg__span_sealed(int64_t start, uint32_t hours, int64_t newest)
{
    if (newest == TSAGG__NEWEST_NONE)
        return 0;
    /* end + 1 h <= newest, written so that nothing overflows */
    return start <= newest - ((int64_t)hours + 1) * TSAGG__SPAN_HOUR_US;
}

void tsagg__span_place(int64_t ts, int64_t newest, int64_t *start, uint32_t *hours)
{
    for (int t = TSAGG__TIER_MONTH; t > TSAGG__TIER_HOUR; t--) {
        tsagg__tier_span(ts, (tsagg__tier)t, start, hours);
        if (tsagg__span_sealed(*start, *hours, newest))
            return;
    }
    tsagg__tier_span(ts, TSAGG__TIER_HOUR, start, hours);
}

void tsagg__span_target(int64_t start, uint32_t hours, int64_t newest, int64_t *tstart,
                        uint32_t *thours)
{
    tsagg__span_place(start, newest, tstart, thours);
    if (*thours < hours) {
        *tstart = start;
        *thours = hours;
    }
}
