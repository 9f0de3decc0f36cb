/* tiers.c - spans of the hour, day and month tiers (tiers.h). */
#include "tiers.h"

#include "civil.h"

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
    unsigned m, d;
    tsagg__civil_from_days(day, &y, &m, &d);
    int64_t first = tsagg__days_from_civil(y, m, 1);
    int64_t next =
        m == 12 ? tsagg__days_from_civil(y + 1, 1, 1) : tsagg__days_from_civil(y, m + 1, 1);
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
