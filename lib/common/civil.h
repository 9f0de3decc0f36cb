/*
 * civil.h - the proleptic Gregorian calendar over day numbers (days since
 * 1970-01-01), for the whole int64 range the library meets (H. Hinnant's
 * algorithms): file names and tier spans (catalog), calendar buckets
 * (query), the tools' times and the generator's count days the same way.
 * Header only, so that the tools and the generator (numtext_dep) use it
 * without the library's hidden symbols.
 */
#ifndef TSAGG_CIVIL_H
#define TSAGG_CIVIL_H

#include <stdint.h>

static inline int64_t tsagg__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                          /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                   /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static inline void tsagg__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

#endif
