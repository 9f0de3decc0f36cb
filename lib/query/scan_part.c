/*
 * scan_part.c - one partition's contribution to a query.
 *
 * From the merchant's rollup when the question allows it (counts and sums
 * per minute and event name; distinct counts from the hour's sketches when
 * the hour lies whole inside one bucket), from the rows otherwise. Rows are
 * read a row group at a time, only the columns the query needs, filtered
 * through a selection vector on dictionary codes, never on strings.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query_internal.h"

#define G TSAGG__PART_GROUP_ROWS
#define MINUTE_US INT64_C(60000000)

/* Per-partition view of the query: dictionary codes instead of strings. */
typedef struct pscan {
    qplan *p;
    tsagg__part *part;
    int64_t hour;
    uint8_t *allowed[TSAGG_QUERY_MAX_FILTERS]; /* per filter: code -> passes */
    uint32_t *group_of;                         /* code -> group + 1, 0 unknown */
    uint32_t group_dict;                        /* column of group_of */
} pscan;

static uint32_t col_of(const pscan *s, int qcol)
{
    return qcol == QCOL_EVENT ? TSAGG__COL_EVENT : TSAGG__COL_DIM0 + (uint32_t)qcol;
}

static void pscan_free(pscan *s)
{
    for (uint32_t i = 0; i < TSAGG_QUERY_MAX_FILTERS; i++)
        free(s->allowed[i]);
    free(s->group_of);
}

/* Translate filters into code sets. 1: some filter matches nothing here. */
static int pscan_init(pscan *s, qplan *p, tsagg__part *part)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->part = part;
    s->hour = tsagg__part_get_info(part)->hour;
    for (uint32_t f = 0; f < p->nfilters; f++) {
        const qfilter *qf = &p->filters[f];
        uint32_t col = col_of(s, qf->col);
        uint32_t n = tsagg__part_dict_size(part, col);
        s->allowed[f] = calloc(n + 1, 1);
        if (!s->allowed[f])
            return -ENOMEM;
        int any = 0;
        for (uint32_t v = 0; v < qf->nvalues; v++) {
            uint32_t code;
            int rc = tsagg__part_dict_find(part, col, qf->values[v], qf->lens[v], &code);
            if (rc < 0)
                return rc;
            if (rc == 1 && code < n) {
                s->allowed[f][code] = 1;
                any = 1;
            }
        }
        if (!any)
            return 1;
    }
    if (p->group_col != QCOL_NONE) {
        s->group_dict = col_of(s, p->group_col);
        s->group_of = calloc(tsagg__part_dict_size(part, s->group_dict) + 1, sizeof *s->group_of);
        if (!s->group_of)
            return -ENOMEM;
    }
    return 0;
}

/* The query group of a dictionary code of the group-by column. */
static int group_of_code(pscan *s, uint32_t code, size_t *group)
{
    if (s->p->group_col == QCOL_NONE) {
        *group = 0;
        return 0;
    }
    if (s->group_of[code]) {
        *group = s->group_of[code] - 1;
        return 0;
    }
    const char *str;
    size_t len;
    int rc = tsagg__part_dict_get(s->part, s->group_dict, code, &str, &len);
    if (rc == 0)
        rc = tsagg__qplan_group(s->p, str, len, group);
    if (rc == 0)
        s->group_of[code] = (uint32_t)*group + 1;
    return rc;
}

/* ---- rollups ---------------------------------------------------------- */

/* On the rollup path every filter is on the event name. */
static int event_passes(const pscan *s, uint32_t code)
{
    for (uint32_t f = 0; f < s->p->nfilters; f++)
        if (!s->allowed[f][code])
            return 0;
    return 1;
}

/* Whether the merchant's rollup can answer this query for this hour. */
static int rollup_usable(const pscan *s, const tsagg__rollup *r)
{
    const qplan *p = s->p;
    int64_t lo = s->hour, hi = s->hour + TSAGG__HOUR_US;
    if ((p->from > lo && p->from % MINUTE_US) || (p->to < hi && p->to % MINUTE_US))
        return 0; /* rollups count whole minutes */
    if (!p->need_users && !p->need_sessions)
        return 1;
    if (p->bucket == TSAGG_BUCKET_MINUTE || p->from > lo || p->to < hi ||
        tsagg__qplan_bucket(p, lo) != tsagg__qplan_bucket(p, hi - 1))
        return 0; /* sketches cover the whole hour, which one bucket must hold */
    if (p->nfilters == 0 && p->group_col == QCOL_NONE)
        return 1;
    /* Per event name: every name with rows needs its own sketch. */
    for (uint32_t e = 0; e < r->n; e++) {
        uint32_t code = r->event[e];
        if (!event_passes(s, code))
            continue;
        int found = 0;
        for (uint32_t k = 0; k < r->nnamed && !found; k++)
            found = r->named_event[k] == code;
        if (!found)
            return 0;
    }
    return 1;
}

static int merge_sketch(tsagg__hll **slot, const uint8_t *buf, size_t len)
{
    tsagg__hll *h = tsagg__qplan_hll(slot);
    return h ? tsagg__hll_merge_serialized(h, buf, len) : -ENOMEM;
}

static int scan_rollup(pscan *s, const tsagg__rollup *r)
{
    qplan *p = s->p;
    size_t nb = p->nbuckets;
    int rc = 0;
    for (uint32_t e = 0; rc == 0 && e < r->n; e++) {
        int64_t ts = s->hour + (int64_t)r->minute[e] * MINUTE_US;
        if (ts < p->from || ts >= p->to)
            continue;
        uint32_t code = r->event[e];
        if (!event_passes(s, code))
            continue;
        size_t g;
        if ((rc = group_of_code(s, code, &g)) != 0)
            break;
        size_t cell = g * nb + tsagg__qplan_bucket(p, ts);
        p->count[cell] += r->count[e];
        if (p->need_measures) {
            size_t cells = p->ngroups * nb;
            for (uint32_t m = 0; m < p->nmeasures && m < r->nmeasures; m++)
                p->sum[m * cells + cell] += r->sums[(size_t)e * r->nmeasures + m];
        }
    }
    if (rc != 0 || (!p->need_users && !p->need_sessions))
        return rc;
    size_t b = tsagg__qplan_bucket(p, s->hour);
    if (p->nfilters == 0 && p->group_col == QCOL_NONE) {
        if (p->need_users)
            rc = merge_sketch(&p->users[b], r->users, r->users_len);
        if (rc == 0 && p->need_sessions)
            rc = merge_sketch(&p->sessions[b], r->sessions, r->sessions_len);
        return rc;
    }
    for (uint32_t k = 0; rc == 0 && k < r->nnamed; k++) {
        uint32_t code = r->named_event[k];
        if (!event_passes(s, code))
            continue;
        size_t g;
        if ((rc = group_of_code(s, code, &g)) != 0)
            break;
        size_t cell = g * nb + b;
        if (p->need_users)
            rc = merge_sketch(&p->users[cell], r->named_users[k], r->named_users_len[k]);
        if (rc == 0 && p->need_sessions)
            rc = merge_sketch(&p->sessions[cell], r->named_sessions[k],
                              r->named_sessions_len[k]);
    }
    return rc;
}

/* ---- rows ----------------------------------------------------------------- */

typedef struct colbufs {
    int64_t ts[G];
    uint64_t user[G], session[G];
    uint32_t codes[TSAGG_QUERY_MAX_FILTERS][G];
    uint32_t group[G];
    double *meas; /* nmeasures x G */
    uint16_t sel[G];
} colbufs;

/* Rows [r0, r1) of the partition, one row group at a time. */
static int scan_rows(pscan *s, uint64_t r0, uint64_t r1)
{
    qplan *p = s->p;
    colbufs *c = malloc(sizeof *c);
    double *meas = p->need_measures ? malloc((size_t)p->nmeasures * G * sizeof *meas) : NULL;
    double *row_meas = malloc((p->nmeasures + 1) * sizeof *row_meas);
    int rc = c && row_meas && (!p->need_measures || meas) ? 0 : -ENOMEM;
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(s->part));
    const tsagg_schema *fs = tsagg__part_schema(s->part);
    /* Store measure m is file measure fm[m] (schemas may differ by a rebuild). */
    int fm[TSAGG_SCHEMA_MAX_FIELDS];
    for (uint32_t m = 0; m < p->nmeasures; m++)
        fm[m] = tsagg_schema_measure_index(fs, tsagg_schema_measure_name(p->st->schema, m));
    for (uint32_t m = 0; m < p->nmeasures; m++)
        row_meas[m] = NAN;
    uint32_t g0 = (uint32_t)(r0 / G), g1 = r1 ? (uint32_t)((r1 - 1) / G) : 0;
    for (uint32_t g = g0; rc == 0 && r0 < r1 && g <= g1; g++) {
        const tsagg__group_info *gi = tsagg__part_group(s->part, g);
        if (!gi)
            break;
        if (gi->max_ts < p->from || gi->min_ts >= p->to)
            continue;
        uint32_t lo = r0 > gi->row_start ? (uint32_t)(r0 - gi->row_start) : 0;
        uint32_t hi = r1 < gi->row_start + gi->rows ? (uint32_t)(r1 - gi->row_start) : gi->rows;
        rc = tsagg__part_read_column(s->part, TSAGG__COL_TS, g, c->ts);
        /* Selection vector: rows in range, then narrowed by each filter. */
        uint32_t n = 0;
        for (uint32_t i = lo; rc == 0 && i < hi; i++) {
            c->sel[n] = (uint16_t)i;
            n += c->ts[i] >= p->from && c->ts[i] < p->to;
        }
        for (uint32_t f = 0; rc == 0 && n && f < p->nfilters; f++) {
            rc = tsagg__part_read_column(s->part, col_of(s, p->filters[f].col), g, c->codes[f]);
            const uint8_t *ok = s->allowed[f];
            uint32_t k = 0;
            for (uint32_t j = 0; rc == 0 && j < n; j++) {
                c->sel[k] = c->sel[j];
                k += ok[c->codes[f][c->sel[j]]];
            }
            n = k;
        }
        if (rc != 0 || n == 0)
            continue;
        if (p->group_col != QCOL_NONE)
            rc = tsagg__part_read_column(s->part, s->group_dict, g, c->group);
        if (rc == 0 && p->need_users)
            rc = tsagg__part_read_column(s->part, TSAGG__COL_USER, g, c->user);
        if (rc == 0 && p->need_sessions)
            rc = tsagg__part_read_column(s->part, TSAGG__COL_SESSION, g, c->session);
        for (uint32_t m = 0; rc == 0 && p->need_measures && m < p->nmeasures; m++) {
            if (fm[m] < 0) {
                for (uint32_t i = 0; i < G; i++)
                    meas[(size_t)m * G + i] = NAN;
            } else {
                rc = tsagg__part_read_column(s->part, TSAGG__COL_DIM0 + ndims + (uint32_t)fm[m], g,
                                             meas + (size_t)m * G);
            }
        }
        for (uint32_t j = 0; rc == 0 && j < n; j++) {
            uint32_t i = c->sel[j];
            size_t grp = 0;
            if (p->group_col != QCOL_NONE && (rc = group_of_code(s, c->group[i], &grp)) != 0)
                break;
            for (uint32_t m = 0; p->need_measures && m < p->nmeasures; m++)
                row_meas[m] = meas[(size_t)m * G + i];
            size_t cell = grp * p->nbuckets + tsagg__qplan_bucket(p, c->ts[i]);
            rc = tsagg__qplan_add(p, cell, p->need_users ? c->user[i] : 0,
                                  p->need_sessions ? c->session[i] : 0, row_meas);
        }
    }
    free(c);
    free(meas);
    free(row_meas);
    return rc;
}

int tsagg__scan_partition(qplan *p, tsagg__part *part)
{
    int64_t hour = tsagg__part_get_info(part)->hour;
    if (hour + TSAGG__HOUR_US <= p->from || hour >= p->to)
        return 0;
    pscan s;
    int rc = pscan_init(&s, p, part);
    if (rc != 0) {
        pscan_free(&s);
        return rc == 1 ? 0 : rc;
    }
    if (p->flags & TSAGG_QUERY_ALL_MERCHANTS) {
        rc = scan_rows(&s, 0, tsagg__part_get_info(part)->rows);
        pscan_free(&s);
        return rc;
    }
    uint64_t mi;
    if (!tsagg__part_find_merchant(part, p->q->merchant, &mi)) {
        pscan_free(&s);
        return 0;
    }
    const tsagg__merchant_entry *me = tsagg__part_merchant(part, mi);
    int rollup_ok = !p->has_dim_filter && !p->need_minmax && !p->exact &&
                    (p->group_col == QCOL_NONE || p->group_col == QCOL_EVENT);
    /* AVG needs how many rows carry the measure, which rollups do not keep. */
    for (uint32_t i = 0; i < p->nmetrics; i++)
        rollup_ok &= p->metrics[i].kind != TSAGG_METRIC_AVG;
    if (rollup_ok) {
        tsagg__rollup r;
        rc = tsagg__part_rollup(part, mi, &r);
        if (rc == 0) {
            if (rollup_usable(&s, &r))
                rc = scan_rollup(&s, &r);
            else
                rollup_ok = 0;
            tsagg__rollup_free(&r);
        }
    }
    if (rc == 0 && !rollup_ok)
        rc = scan_rows(&s, me->row_start, me->row_start + me->rows);
    pscan_free(&s);
    return rc;
}
