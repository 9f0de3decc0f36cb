/* event_row.c - an event as compaction stores it (event_row.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_row.h"
#include "numtext.h"

int tsagg__rowconv_init(tsagg__rowconv *c, const tsagg_schema *schema)
{
    memset(c->key_len, 0, sizeof c->key_len);
    c->schema = schema;
    c->ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    c->nmeas = (uint32_t)tsagg_schema_measure_count(schema);
    c->dims = calloc(c->ndims + 1, sizeof *c->dims);
    c->meas = calloc(c->nmeas + 1, sizeof *c->meas);
    if (!c->dims || !c->meas) {
        tsagg__rowconv_free(c);
        return -ENOMEM;
    }
    return 0;
}

void tsagg__rowconv_free(tsagg__rowconv *c)
{
    free(c->dims);
    free(c->meas);
    c->dims = NULL;
    c->meas = NULL;
}

/* Which column an attribute feeds: dimension d (d >= 0), measure m
 * (-2 - m), or none (-1). */
static int attr_column(tsagg__rowconv *c, uint32_t pos, const tsagg_attr *a)
{
    if (c->key_len[pos] == a->key_len && !memcmp(c->key_name[pos], a->key, a->key_len))
        return c->key_col[pos];
    char name[TSAGG_NAME_MAX + 1];
    memcpy(name, a->key, a->key_len);
    name[a->key_len] = 0;
    int col = tsagg_schema_dimension_index(c->schema, name);
    if (col < 0) {
        int m = tsagg_schema_measure_index(c->schema, name);
        col = m >= 0 ? -2 - m : -1;
    }
    memcpy(c->key_name[pos], a->key, a->key_len);
    c->key_len[pos] = (uint8_t)a->key_len;
    c->key_col[pos] = col;
    return col;
}

/* A measure sent as a string ("12.50"): its number, or NaN. */
static double measure_of_string(const char *s, size_t len)
{
    double v;
    return tsagg__num_parse(s, len, &v) == 0 ? v : NAN;
}

int tsagg__rowconv_add(tsagg__rowconv *c, tsagg__spanbuf *h, const tsagg_event *ev)
{
    tsagg__spanrow row = {.ts = ev->ts, .merchant = ev->merchant, .user = ev->user,
                          .session = ev->session, .flags = ev->flags & TSAGG_EVENT_HAS_ID,
                          .id = ev->flags & TSAGG_EVENT_HAS_ID ? ev->id : 0};
    int rc = tsagg__spanbuf_intern(h, ev->event, ev->event_len, &row.event);
    uint32_t empty = 0;
    if (rc == 0 && c->ndims)
        rc = tsagg__spanbuf_intern(h, "", 0, &empty);
    for (uint32_t d = 0; d < c->ndims; d++)
        c->dims[d] = empty;
    for (uint32_t m = 0; m < c->nmeas; m++)
        c->meas[m] = NAN;
    /* When a key repeats, the last one counts. */
    for (uint32_t i = 0; rc == 0 && i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        int col = attr_column(c, i, a);
        if (col >= 0) {
            char num[32];
            const char *p = a->v.s.ptr;
            size_t len = a->v.s.len;
            if (a->type == TSAGG_INT) {
                len = (size_t)snprintf(num, sizeof num, "%" PRId64, a->v.i);
                p = num;
            } else if (a->type == TSAGG_F64) {
                len = (size_t)tsagg__num_format(num, sizeof num, "%.17g", a->v.f);
                p = num;
            }
            rc = tsagg__spanbuf_intern(h, p, len, &c->dims[col]);
        } else if (col <= -2) {
            double v = a->type == TSAGG_F64   ? a->v.f
                       : a->type == TSAGG_INT ? (double)a->v.i
                                              : measure_of_string(a->v.s.ptr, a->v.s.len);
            c->meas[-2 - col] = v;
        }
    }
    return rc ? rc : tsagg__spanbuf_add(h, &row, c->dims, c->meas);
}

int tsagg__event_process(tsagg_store *st, const tsagg_rules *rules, tsagg_process_fn process,
                         void *process_ctx, tsagg_event *ev, uint64_t seq)
{
    /* The stored rules see the event as received, before the hook. */
    if (rules && tsagg_rules_drops(rules, ev))
        return TSAGG__EVENT_DROPPED;
    if (process) {
        int keep = process(process_ctx, ev, seq);
        if (keep < 0)
            return tsagg__fail(st, keep, "processing hook failed at sequence %" PRIu64, seq);
        if (keep == 0)
            return TSAGG__EVENT_DROPPED;
        int rc = tsagg_event_validate(ev);
        if (rc != 0 && ev->ts >= TSAGG_TS_MIN && ev->ts < TSAGG_TS_END)
            return tsagg__fail(st, rc, "processing hook made event %" PRIu64 " invalid", seq);
    }
    /* An event no span can hold (a log written before appends checked ts,
     * or a hook's doing) stays in the log, skipped and counted: one such
     * event must not stop compaction for everyone. */
    if (ev->ts < TSAGG_TS_MIN || ev->ts >= TSAGG_TS_END)
        return TSAGG__EVENT_UNPLACED;
    return TSAGG__EVENT_KEEP;
}
