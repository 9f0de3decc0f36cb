/*
 * event_row.h - an event as compaction stores it: the store's rules and
 * the processing hook applied (tsagg__event_process), then its declared
 * fields interned into a span buffer row (tsagg__rowconv_add). The
 * compactor and the store's head of uncompacted events both go through
 * these, so an event reads the same before and after it is compacted.
 */
#ifndef TSAGG_EVENT_ROW_H
#define TSAGG_EVENT_ROW_H

#include <stdint.h>

#include "spanbuf.h"
#include "store_internal.h"
#include "tsagg_compact.h"
#include "tsagg_rules.h"

/* Event attributes to schema columns, remembered per attribute position
 * (events of one source mostly list the same keys in the same order). By
 * the key's bytes: a log reader's key pointers point into frame buffers it
 * reuses, so one address may hold different keys over time. */
typedef struct tsagg__rowconv {
    const tsagg_schema *schema;
    uint32_t ndims, nmeas;
    uint32_t *dims; /* per-event scratch */
    double *meas;
    char key_name[TSAGG_ATTRS_MAX][TSAGG_NAME_MAX];
    uint8_t key_len[TSAGG_ATTRS_MAX]; /* 0: nothing remembered */
    int key_col[TSAGG_ATTRS_MAX];
} tsagg__rowconv;

int tsagg__rowconv_init(tsagg__rowconv *c, const tsagg_schema *schema);
void tsagg__rowconv_free(tsagg__rowconv *c);

/* Intern ev's name and dimensions into h (numbers as the strings "%" PRId64
 * and "%.17g", strings cut at 1 MiB - 1) and append it as a row; measures
 * are numbers, a string when the whole of it is a number, else NaN. */
int tsagg__rowconv_add(tsagg__rowconv *c, tsagg__spanbuf *h, const tsagg_event *ev);

/* What becomes of an event (tsagg__event_process). */
#define TSAGG__EVENT_KEEP 1
#define TSAGG__EVENT_DROPPED 0  /* by a rule or the hook */
#define TSAGG__EVENT_UNPLACED 2 /* ts outside [TSAGG_TS_MIN, TSAGG_TS_END) */

/*
 * The processing of compaction, applied to *ev (a copy the hook may
 * change): the rules see the event as received, then the hook (NULL:
 * none) may change or drop it. Returns a TSAGG__EVENT_* or, when the hook
 * fails or makes the event invalid, a negative code recorded on st.
 */
int tsagg__event_process(tsagg_store *st, const tsagg_rules *rules, tsagg_process_fn process,
                         void *process_ctx, tsagg_event *ev, uint64_t seq);

#endif
