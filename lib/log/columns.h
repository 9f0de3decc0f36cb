/* columns.h - builder of the columnar (archive) event encoding. */
#ifndef TSAGG_COLUMNS_H
#define TSAGG_COLUMNS_H

#include "log_internal.h"

/* Accumulates events column by column; copies everything it is given, so
 * the events' buffers may be reused after each add. */
typedef struct tsagg__colb {
    tsagg__buf names;          /* name bytes */
    uint32_t *name_off, *name_len;
    uint32_t nnames;
    tsagg__buf core[7];        /* ts, merchant, event, user, session, flags, layout */
    tsagg__buf *vals;          /* one value stream per name */
    uint32_t vals_cap;
    uint32_t nevents;
    int64_t prev_ts;
    uint32_t hint_event, hints[TSAGG_ATTRS_MAX];
} tsagg__colb;

void tsagg__colb_init(tsagg__colb *b);
void tsagg__colb_reset(tsagg__colb *b);
void tsagg__colb_free(tsagg__colb *b);
int tsagg__colb_add(tsagg__colb *b, const tsagg_event *ev);
/* Upper bound of the encoded size so far. */
size_t tsagg__colb_size(const tsagg__colb *b);
/* Append the encoding of everything added to out. */
int tsagg__colb_finish(tsagg__colb *b, tsagg__buf *out);

#endif
