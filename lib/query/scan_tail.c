/*
 * scan_tail.c - the log events compaction has not consumed yet, so that an
 * acknowledged event is counted before its hour is compacted. They are raw
 * events: strings are compared directly. The store's rules (tsagg_rules.h)
 * drop here what compaction will drop; the processing hook and the removal
 * of retries apply only once they are compacted.
 *
 * Damage in the log (a bad frame, segment header or seal) ends the tail:
 * what was read before it stays counted, and the query answers with a
 * warning naming the file and offset instead of failing, since the
 * partitions and the rest of the tail are still good (the damage itself
 * is tsagg_verify's to report and the salvage's to cut).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numtext.h"
#include "log_internal.h"
#include "query_internal.h"
#include "tsagg_log.h"
#include "tsagg_rules.h"

/* The value of the attribute named name (len), or NULL. When a key repeats,
 * the last one counts, as in the compactor. */
static const tsagg_attr *find_attr(const tsagg_event *ev, const char *name, size_t len)
{
    for (uint32_t i = ev->nattrs; i-- > 0;)
        if (ev->attrs[i].key_len == len && !memcmp(ev->attrs[i].key, name, len))
            return &ev->attrs[i];
    return NULL;
}

/* Room for a number written as a dimension string. */
#define NUM_MAX TSAGG__NUM_TEXT_MAX
/* The compactor cuts strings here (spanbuf.c). */
#define PART_STR_MAX 0xfffffu

/*
 * The string of a field of an event: its name, or a dimension ("" when
 * absent). Numbers become the strings the compactor stores for them
 * ("%" PRId64, "%.17g"), written into num, so that the tail and the
 * partitions agree on every value.
 */
static void field_str(const qplan *p, const tsagg_event *ev, int col, char num[NUM_MAX],
                      const char **s, size_t *len)
{
    if (col == QCOL_EVENT) {
        *s = ev->event;
        *len = ev->event_len;
        return;
    }
    const char *name = tsagg_schema_dimension_name(p->st->schema, (size_t)col);
    const tsagg_attr *a = find_attr(ev, name, strlen(name));
    *s = num;
    if (!a) {
        *s = "";
        *len = 0;
    } else if (a->type == TSAGG_STR) {
        *s = a->v.s.ptr ? a->v.s.ptr : "";
        /* Partitions keep at most 1 MiB - 1 bytes of a string. */
        *len = a->v.s.len < PART_STR_MAX ? a->v.s.len : PART_STR_MAX;
    } else if (a->type == TSAGG_INT) {
        *len = (size_t)snprintf(num, NUM_MAX, "%" PRId64, a->v.i);
    } else {
        *len = (size_t)tsagg__num_format(num, NUM_MAX, "%.17g", a->v.f);
    }
}

/* A measure's value as the compactor reads it: numbers as they are, a
 * string when the whole of it is a number, else absent (NaN). */
static double measure_value(const tsagg_attr *a)
{
    if (!a)
        return NAN;
    if (a->type == TSAGG_F64)
        return a->v.f;
    if (a->type == TSAGG_INT)
        return (double)a->v.i;
    double v;
    return tsagg__num_parse(a->v.s.ptr, a->v.s.len, &v) == 0 ? v : NAN;
}

static int passes(const qplan *p, const tsagg_event *ev)
{
    for (uint32_t f = 0; f < p->nfilters; f++) {
        const qfilter *qf = &p->filters[f];
        char num[NUM_MAX];
        const char *s;
        size_t len;
        field_str(p, ev, qf->col, num, &s, &len);
        int ok = 0;
        for (uint32_t v = 0; v < qf->nvalues && !ok; v++)
            ok = qf->lens[v] == len && !memcmp(qf->values[v], s, len);
        if (!ok)
            return 0;
    }
    return 1;
}

int tsagg__scan_tail(qplan *p, uint64_t after_seq, uint64_t *end_seq, char *warning,
                     size_t warning_len)
{
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = after_seq + 1;
    r.to_seq = *end_seq;
    if (r.to_seq <= r.from_seq)
        return 0;
    r.ts_from = p->from;
    r.ts_to = p->to;
    /* Read now, not cached: another process may have changed them. */
    tsagg_rules *rules;
    int rc = tsagg_store_rules(p->st, &rules);
    if (rc != 0)
        return rc;
    tsagg_log_reader *rd;
    if ((rc = tsagg_log_reader_open(p->st, &r, &rd)) != 0) {
        tsagg_rules_free(rules);
        return rc;
    }
    double *meas = malloc((p->nmeasures + 1) * sizeof *meas);
    if (!meas) {
        tsagg_log_reader_close(rd);
        tsagg_rules_free(rules);
        return -ENOMEM;
    }
    int any_rule = tsagg_rules_count(rules) > 0;
    const tsagg_event *ev;
    uint64_t seq, last = after_seq;
    int all = (p->flags & TSAGG_QUERY_ALL_MERCHANTS) != 0;
    int rd_rc;
    while ((rc = rd_rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        last = seq;
        if ((!all && ev->merchant != p->q->merchant) || ev->ts < p->from || ev->ts >= p->to ||
            (any_rule && tsagg_rules_drops(rules, ev)) || !passes(p, ev))
            continue;
        size_t g = 0;
        if (p->group_col != QCOL_NONE) {
            char num[NUM_MAX];
            const char *s;
            size_t len;
            field_str(p, ev, p->group_col, num, &s, &len);
            if ((rc = tsagg__qplan_group(p, s, len, &g)) != 0)
                break;
            if (g == QGROUP_SKIP)
                continue;
        }
        for (uint32_t m = 0; m < p->nmeasures; m++) {
            const char *name = tsagg_schema_measure_name(p->st->schema, (size_t)p->measure_of[m]);
            meas[m] = measure_value(find_attr(ev, name, strlen(name)));
        }
        rc = tsagg__qplan_add(p, tsagg__qplan_cell(p, g, tsagg__qplan_bucket(p, ev->ts)),
                              ev->user, ev->session, meas);
        if (rc != 0)
            break;
    }
    free(meas);
    char damage[TSAGG_ERRMSG_MAX];
    if (rd_rc < 0 && tsagg__log_reader_damage(rd, damage, sizeof damage)) {
        rc = 0;
        if (!warning[0]) /* the first pass's (a second one stops before it) */
            snprintf(warning, warning_len,
                     "%s; the log cannot be read past it: events after it are not counted",
                     damage);
    }
    tsagg_log_reader_close(rd);
    tsagg_rules_free(rules);
    if (rc < 0)
        return rc;
    if (*end_seq == UINT64_MAX)
        *end_seq = last + 1;
    return 0;
}
