/*
 * tiers.h - the spans partition files cover, and which one an event goes to.
 *
 * A file covers a span of whole UTC hours: one hour, one UTC day (24 h) or
 * one UTC calendar month (672..744 h). Spans nest (an hour lies in one day,
 * a day in one month), so a file never crosses a month's bounds.
 *
 * A span is sealed once its end lies at least an hour behind the store's
 * newest event (the largest ts of the log compaction has consumed, kept in
 * the manifest): few events arrive later than that. An event goes to the
 * largest sealed span holding it: its month if sealed, else its day if
 * sealed, else its hour. Live data thus lands in hour files, which merge
 * into day and month files as those seal, and a bulk load of old events
 * writes month files straight away.
 */
#ifndef TSAGG_TIERS_H
#define TSAGG_TIERS_H

#include <stdint.h>

#define TSAGG__SPAN_HOUR_US INT64_C(3600000000)
#define TSAGG__SPAN_DAY_US (24 * TSAGG__SPAN_HOUR_US)
/* The newest-event mark: none yet. */
#define TSAGG__NEWEST_NONE INT64_MIN

typedef enum tsagg__tier {
    TSAGG__TIER_HOUR,
    TSAGG__TIER_DAY,
    TSAGG__TIER_MONTH,
} tsagg__tier;

/* The span of `tier` holding ts (years 0000-9999). */
void tsagg__tier_span(int64_t ts, tsagg__tier tier, int64_t *start, uint32_t *hours);

/* The tier of a span, or -1 when [start, start + hours h) is no span of a
 * tier (not aligned, or of another length). */
int tsagg__span_tier(int64_t start, uint32_t hours);

/* Whether the span's end lies an hour or more behind `newest`. */
int tsagg__span_sealed(int64_t start, uint32_t hours, int64_t newest);

/* Where an event of time ts goes while the newest event is `newest`: the
 * largest sealed span holding it, else its hour. */
void tsagg__span_place(int64_t ts, int64_t newest, int64_t *start, uint32_t *hours);

/* The span a file of span [start, start + hours h) belongs in now: the
 * span tsagg__span_place gives its start, or its own when that is larger. */
void tsagg__span_target(int64_t start, uint32_t hours, int64_t newest, int64_t *tstart,
                        uint32_t *thours);

/* Whether ts may move the newest-event mark: events more than a day ahead
 * of the wall clock `now_us` (clock errors, bad client clocks) do not, so
 * that they cannot seal spans still receiving events. */
static inline int tsagg__span_may_advance(int64_t ts, int64_t now_us)
{
    return ts <= now_us + TSAGG__SPAN_DAY_US;
}

#endif
