/* event_internal.h - the check of an event every append makes (event.c). */
#ifndef TSAGG_EVENT_INTERNAL_H
#define TSAGG_EVENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_store.h"

/*
 * The attribute keys tsagg__event_check found valid, by position in the
 * attributes, for the events of one append call: a key at the same address
 * with the same length is the same bytes while the caller's events are
 * const (the call), and hosts pass the same key strings for every event.
 * Set n to 0 before the first event.
 */
typedef struct tsagg__keys_seen {
    uint32_t n; /* ptr and len are set for positions [0, n) */
    const char *ptr[TSAGG_ATTRS_MAX];
    uint32_t len[TSAGG_ATTRS_MAX];
} tsagg__keys_seen;

/*
 * 0 when ev may be appended, else TSAGG_EINPUT with the reason, naming the
 * field, in why (why_len bytes at most; why may be NULL). On success *bound
 * (when not NULL) gets a bound of its encoded size. One pass over the
 * attributes, as this runs for every event appended; keys found in seen
 * (when not NULL) are not checked again, and valid keys are recorded there.
 */
int tsagg__event_check(const tsagg_event *ev, tsagg__keys_seen *seen, size_t *bound, char *why,
                       size_t why_len);

/* 0 when ev->ts lies in [TSAGG_TS_MIN, TSAGG_TS_END), else TSAGG_EINPUT with
 * the field and the range in why. Apart from tsagg__event_check because
 * logs written before this check may hold such events: compaction skips
 * them, and tests write them through tsagg__append_unchecked_ts. */
int tsagg__event_check_ts(const tsagg_event *ev, char *why, size_t why_len);

#endif
