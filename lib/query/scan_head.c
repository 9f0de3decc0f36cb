/*
 * scan_head.c - a query over the head (head.h): the events appended but
 * not compacted yet, numbered after the snapshot's consumed position and up
 * to the last visible one. They went through compaction's processing on
 * their way in, so filters and group keys compare the strings the
 * partitions hold, by their codes in the head's dictionary.
 *
 * A head event whose retry key (merchant, ts, id) a file of the snapshot
 * holds already (the client sent it again after its first copy was
 * compacted) is left out, as compaction will leave it out: the head's keys
 * of the range are looked up in the files of their hours (retries.h), which
 * reads nothing when no file covers the hours the head's events are in.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "manifest.h"
#include "partcache.h"
#include "query_internal.h"
#include "retries.h"

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

/* Head rows a file holds already, sorted ascending. */
typedef struct skip_set {
    uint32_t *rows;
    size_t n;
} skip_set;

static int skipped(const skip_set *sk, uint32_t r)
{
    size_t lo = 0, hi = sk->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sk->rows[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sk->n && sk->rows[lo] == r;
}

static int visible_row(int64_t lo, int64_t hi, const tsagg__head *h, uint32_t r,
                       uint64_t after_seq, uint64_t visible)
{
    uint64_t seq = h->d.seqs[r];
    int64_t ts = h->d.buf.rows[r].ts;
    return seq > after_seq && seq <= visible && ts >= lo && ts < hi;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The rows of the merchants ms[0, nms) with ts in [lo, hi) that the query
 * counts and a file of the snapshot m holds already, into sk.
 */
static int published_retries(qplan *p, const tsagg__manifest *m, const tsagg__head *h,
                             const tsagg__head_merchant *const *ms, size_t nms,
                             uint64_t after_seq, uint64_t visible, int64_t tlo, int64_t thi,
                             skip_set *sk)
{
    const tsagg__spanbuf *b = &h->d.buf;
    size_t n = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t k = 0; k < nms; k++)
        for (uint32_t i = 0; i < ms[k]->n; i++) {
            uint32_t r = ms[k]->rows[i];
            if ((b->rows[r].flags & TSAGG_EVENT_HAS_ID) && visible_row(tlo, thi, h, r, after_seq, visible)) {
                n++;
                lo = b->rows[r].ts < lo ? b->rows[r].ts : lo;
                hi = b->rows[r].ts > hi ? b->rows[r].ts : hi;
            }
        }
    tsagg__part_ref *refs = NULL;
    size_t nrefs = 0;
    for (size_t f = 0; n && f < m->nparts; f++) {
        const tsagg__part_ref *ref = &m->parts[f];
        if (ref->start > hi || ref->start + (int64_t)ref->hours * TSAGG__HOUR_US <= lo)
            continue;
        if (!refs && !(refs = malloc((m->nparts - f) * sizeof *refs)))
            return -ENOMEM;
        refs[nrefs++] = *ref;
    }
    if (nrefs == 0)
        return 0; /* no file covers the head's hours: nothing to read */
    tsagg__retry_key *keys = malloc(n * sizeof *keys), *sub = malloc(n * sizeof *sub);
    uint8_t *found = malloc(n);
    tsagg__pcent **ents = malloc(nrefs * sizeof *ents);
    sk->rows = malloc(n * sizeof *sk->rows);
    int rc = keys && sub && found && ents && sk->rows ? 0 : -ENOMEM;
    size_t k = 0;
    for (size_t j = 0; rc == 0 && j < nms; j++)
        for (uint32_t i = 0; i < ms[j]->n; i++) {
            uint32_t r = ms[j]->rows[i];
            const tsagg__spanrow *row = &b->rows[r];
            if ((row->flags & TSAGG_EVENT_HAS_ID) && visible_row(tlo, thi, h, r, after_seq, visible))
                keys[k++] = (tsagg__retry_key){row->merchant, row->ts, row->id, r};
        }
    if (rc == 0) {
        tsagg__retry_keys_sort(keys, n);
        rc = tsagg__partcache_get_many(p->st, refs, nrefs, ents);
        if (rc != 0)
            nrefs = 0;
    }
    for (size_t f = 0; rc == 0 && f < nrefs; f++) {
        int64_t start = refs[f].start, stop = start + (int64_t)refs[f].hours * TSAGG__HOUR_US;
        size_t ns = 0;
        for (size_t i = 0; i < n; i++)
            if (keys[i].ts >= start && keys[i].ts < stop) {
                sub[ns] = keys[i];
                found[ns++] = 0;
            }
        tsagg__part *part = tsagg__pcent_part(ents[f]);
        if (ns && (rc = tsagg__part_find_retries(part, sub, ns, found)) != 0) {
            char msg[TSAGG_ERRMSG_MAX];
            tsagg__part_errmsg(part, msg, sizeof msg);
            rc = tsagg__fail(p->st, rc, "%s", msg[0] ? msg : tsagg_strerror(rc));
        }
        for (size_t i = 0; rc == 0 && i < ns; i++)
            if (found[i])
                sk->rows[sk->n++] = sub[i].row;
    }
    if (nrefs)
        tsagg__partcache_put_many(p->st, ents, nrefs);
    if (rc == 0)
        qsort(sk->rows, sk->n, sizeof *sk->rows, cmp_u32);
    free(keys);
    free(sub);
    free(found);
    free(ents);
    free(refs);
    return rc;
}

/* The rows of one merchant's list. */
static int scan_rows(qplan *p, const tsagg__head *h, const tsagg__head_merchant *m,
                     uint64_t after_seq, uint64_t visible, const head_filter *fs, double *meas,
                     const skip_set *sk)
{
    const tsagg__spanbuf *b = &h->d.buf;
    if (m->max_ts < p->from || m->min_ts >= p->to)
        return 0;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t r = m->rows[i];
        const tsagg__spanrow *row = &b->rows[r];
        uint64_t seq = h->d.seqs[r];
        if (seq <= after_seq || seq > visible || row->ts < p->from || row->ts >= p->to ||
            !passes(b, r, fs, p->nfilters) || (sk->n && skipped(sk, r)))
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

/* The scan, holding the head's rows for reading. */
static int scan_held(qplan *p, const tsagg__head *h, const tsagg__manifest *snap, uint64_t visible)
{
    uint64_t after_seq = snap->consumed_seq;
    if (h->d.nms == 0)
        return 0;
    head_filter fs[TSAGG_QUERY_MAX_FILTERS];
    uint32_t *codes = NULL;
    size_t ncodes = 0;
    for (uint32_t f = 0; f < p->nfilters; f++)
        ncodes += p->filters[f].nvalues;
    if (ncodes && !(codes = malloc(ncodes * sizeof *codes)))
        return -ENOMEM;
    int all = (p->flags & TSAGG_QUERY_ALL_MERCHANTS) != 0;
    const tsagg__head_merchant *one = all ? NULL : tsagg__head_find(h, p->q->merchant);
    size_t nms = all ? h->d.nms : one != NULL;
    const tsagg__head_merchant **ms = malloc((nms + 1) * sizeof *ms);
    double *meas = malloc((p->nmeasures + 1) * sizeof *meas);
    if (!meas || !ms) {
        free(codes);
        free(ms);
        free(meas);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nms; i++)
        ms[i] = all ? &h->d.ms[i] : one;
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
    skip_set sk = {NULL, 0};
    if (!none)
        rc = published_retries(p, snap, h, ms, nms, after_seq, visible, p->from, p->to, &sk);
    for (size_t i = 0; !none && rc == 0 && i < nms; i++)
        rc = scan_rows(p, h, ms[i], after_seq, visible, fs, meas, &sk);
    free(sk.rows);
    free(ms);
    free(meas);
    free(codes);
    return rc;
}

int tsagg__scan_head(qplan *p, const tsagg__manifest *snap, uint64_t visible)
{
    const tsagg__head *h = p->st->head;
    if (!h || visible <= snap->consumed_seq)
        return 0;
    tsagg__head_read_begin(p->st);
    int rc = scan_held(p, h, snap, visible);
    tsagg__head_read_end(p->st);
    return rc;
}

/* The caller holds the head's rows for reading (tsagg__head_read_begin)
 * until it is done with the indexes. */
int tsagg__head_rows_of(qplan *p, const tsagg__manifest *snap, uint64_t visible, int64_t lo,
                     int64_t hi, uint32_t **rows, size_t *n)
{
    const tsagg__head *h = p->st->head;
    uint64_t after_seq = snap->consumed_seq;
    *rows = NULL;
    *n = 0;
    const tsagg__head_merchant *m = h && visible > after_seq ? tsagg__head_find(h, p->q->merchant)
                                                             : NULL;
    if (!m || m->max_ts < lo || m->min_ts >= hi)
        return 0;
    skip_set sk = {NULL, 0};
    int rc = published_retries(p, snap, h, &m, 1, after_seq, visible, lo, hi, &sk);
    uint32_t *out = rc == 0 ? malloc((m->n + 1) * sizeof *out) : NULL;
    if (rc == 0 && !out)
        rc = -ENOMEM;
    size_t k = 0;
    for (uint32_t i = 0; rc == 0 && i < m->n; i++) {
        uint32_t r = m->rows[i];
        if (visible_row(lo, hi, h, r, after_seq, visible) && !(sk.n && skipped(&sk, r)))
            out[k++] = r;
    }
    free(sk.rows);
    if (rc != 0) {
        free(out);
        return rc;
    }
    *rows = out;
    *n = k;
    return 0;
}
