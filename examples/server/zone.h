/*
 * zone.h - calendar days of an IANA time zone, through the library.
 *
 * The library keeps its zone code private, and a threaded server cannot
 * point TZ at a zone per request. But a query's day and week buckets start
 * at the zone's midnights: a one-microsecond query returns the start of
 * the bucket holding an instant. The day bucket gives the midnight; the
 * week bucket (Mondays) tells which calendar date that midnight is, since
 * the two candidate UTC offsets that fit a midnight differ by a day.
 */
#ifndef SERVER_ZONE_H
#define SERVER_ZONE_H

#include <stdint.h>

#include "tsagg.h"

/* The midnight (UTC µs) starting the local day that holds instant t, and
 * that day as days since 1970-01-01. 0 or the library's error (an unknown
 * zone: TSAGG_EARG). */
int zone_day_of(tsagg_store *st, const char *tz, int64_t t, int64_t *midnight, int64_t *day);

/* The local midnight starting calendar day `day` (days since 1970-01-01). */
int zone_midnight(tsagg_store *st, const char *tz, int64_t day, int64_t *midnight);

#endif
