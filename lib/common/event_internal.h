/* event_internal.h - the check of an event every append makes (event.c). */
#ifndef TSAGG_EVENT_INTERNAL_H
#define TSAGG_EVENT_INTERNAL_H

#include <stddef.h>

#include "tsagg_store.h"

/*
 * 0 when ev may be appended, else TSAGG_EINPUT with the reason, naming the
 * field, in why (why_len bytes at most; why may be NULL). On success *bound
 * (when not NULL) gets a bound of its encoded size. One pass over the
 * attributes, as this runs for every event appended.
 */
int tsagg__event_check(const tsagg_event *ev, size_t *bound, char *why, size_t why_len);

/* tsagg__event_check but for NUL bytes in the event name, keys and string
 * values: for the log writer, whose encoder finds those as it copies the
 * strings (tsagg__record_encode) and then asks tsagg__event_check why. */
int tsagg__event_check_sizes(const tsagg_event *ev, size_t *bound, char *why, size_t why_len);

/* 0 when ev->ts lies in [TSAGG_TS_MIN, TSAGG_TS_END), else TSAGG_EINPUT with
 * the field and the range in why. Apart from tsagg__event_check because
 * logs written before this check may hold such events: compaction skips
 * them, and tests write them through tsagg__append_unchecked_ts. */
int tsagg__event_check_ts(const tsagg_event *ev, char *why, size_t why_len);

#endif
