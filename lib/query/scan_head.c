/*
 * scan_head.c - a query over the head (head.h): the events appended but
 * not compacted yet, numbered after the snapshot's consumed position and up
 * to the last visible one. They went through compaction's processing on
 * their way in, so filters and group keys compare the strings the
 * partitions hold, by their codes in the head's dictionary.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "query_internal.h"

/* A filter's values as head codes; n 0: none is in the head. */
typedef struct head_filter {
    int col;
    uint32_t *codes;
    uint32_t n;
} head_filter;

static uint32_t row_code(const tsagg__spanbuf *b, size_t r, int col)
{
    return col == QCOL_EVENT ? b->rows[r].event : b->dims[r * b->ndims + (uint32_t)col];
}

static int passes(const tsagg__spanbuf *b, size_t r, const head_filter *fs, uint32_t nf)
{
    for (uint32_t f = 0; f < nf; f++) {
        uint32_t code = row_code(b, r, fs[f].col);
        int ok = 0;
        for (uint32_t v = 0; v < fs[f].n && !ok; v++)
            ok = fs[f].codes[v] == code;
        if (!ok)
            return 0;
    }
    return 1;
}

/* The rows of one merchant's list. */
static int scan_rows(qplan *p, const tsagg__head *h, const tsagg__head_merchant *m,
                     uint64_t after_seq, uint64_t visible, const head_filter *fs, double *meas)
{
    const tsagg__spanbuf *b = &h->d.buf;
    if (m->max_ts < p->from || m->min_ts >= p->to)
        return 0;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t r = m->rows[i];
        const tsagg__spanrow *row = &b->rows[r];
        uint64_t seq = h->d.seqs[r];
        if (seq <= after_seq || seq > visible || row->ts < p->from || row->ts >= p->to ||
            !passes(b, r, fs, p->nfilters))
            continue;
        size_t g = 0;
        if (p->group_col != QCOL_NONE) {
            tsagg__str s = tsagg__spanbuf_str(b, row_code(b, r, p->group_col));
            int rc = tsagg__qplan_group(p, s.ptr, s.len, &g);
            if (rc != 0)
                return rc;
            if (g == QGROUP_SKIP)
                continue;
        }
        for (uint32_t k = 0; k < p->nmeasures; k++)
            meas[k] = b->meas[(size_t)r * b->nmeasures + (uint32_t)p->measure_of[k]];
        int rc = tsagg__qplan_add(p, tsagg__qplan_cell(p, g, tsagg__qplan_bucket(p, row->ts)),
                                  row->user, row->session, meas);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tsagg__scan_head(qplan *p, uint64_t after_seq, uint64_t visible)
{
    const tsagg__head *h = p->st->head;
    if (!h || visible <= after_seq || h->d.nms == 0)
        return 0;
    head_filter fs[TSAGG_QUERY_MAX_FILTERS];
    uint32_t *codes = NULL;
    size_t ncodes = 0;
    for (uint32_t f = 0; f < p->nfilters; f++)
        ncodes += p->filters[f].nvalues;
    if (ncodes && !(codes = malloc(ncodes * sizeof *codes)))
        return -ENOMEM;
    double *meas = malloc((p->nmeasures + 1) * sizeof *meas);
    if (!meas) {
        free(codes);
        return -ENOMEM;
    }
    int rc = 0, none = 0;
    uint32_t *next = codes;
    for (uint32_t f = 0; f < p->nfilters; f++) {
        const qfilter *qf = &p->filters[f];
        fs[f] = (head_filter){qf->col, next, 0};
        for (uint32_t v = 0; v < qf->nvalues; v++)
            fs[f].n += (uint32_t)tsagg__spanbuf_find(&h->d.buf, qf->values[v], qf->lens[v],
                                                     &fs[f].codes[fs[f].n]);
        next += qf->nvalues;
        none |= fs[f].n == 0; /* no event of the head has any of its values */
    }
    if (!none && (p->flags & TSAGG_QUERY_ALL_MERCHANTS)) {
        for (uint32_t i = 0; rc == 0 && i < h->d.nms; i++)
            rc = scan_rows(p, h, &h->d.ms[i], after_seq, visible, fs, meas);
    } else if (!none) {
        const tsagg__head_merchant *m = tsagg__head_find(h, p->q->merchant);
        if (m)
            rc = scan_rows(p, h, m, after_seq, visible, fs, meas);
    }
    free(meas);
    free(codes);
    return rc;
}
