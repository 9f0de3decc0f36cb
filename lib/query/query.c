/*
 * query.c - run a query: plan it, take a snapshot of the published
 * partitions, scan those of the range and the log tail after the
 * snapshot's consumed position, then lay the accumulators out as result
 * columns (top-N groups first by the first metric, ties by key).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "partcache.h"
#include "query_internal.h"

struct tsagg_result {
    size_t rows, buckets, groups, nmetrics;
    int64_t *times;
    double *values; /* nmetrics x rows */
    char **keys;    /* per row, into keybuf */
    char *keybuf;
    size_t rows_cap, keybuf_cap;
    int approximate;
};

int tsagg_result_create(tsagg_result **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void tsagg_result_free(tsagg_result *r)
{
    if (!r)
        return;
    free(r->times);
    free(r->values);
    free(r->keys);
    free(r->keybuf);
    free(r);
}

size_t tsagg_result_rows(const tsagg_result *r) { return r->rows; }
size_t tsagg_result_buckets(const tsagg_result *r) { return r->buckets; }
size_t tsagg_result_groups(const tsagg_result *r) { return r->groups; }
const int64_t *tsagg_result_times(const tsagg_result *r) { return r->times; }
int tsagg_result_approximate(const tsagg_result *r) { return r->approximate; }

const double *tsagg_result_values(const tsagg_result *r, size_t m)
{
    return m < r->nmetrics ? r->values + m * r->rows : NULL;
}

const char *tsagg_result_group(const tsagg_result *r, size_t row)
{
    return row < r->rows ? r->keys[row] : NULL;
}

static double distinct(const qplan *p, size_t cell, int sessions)
{
    if (p->exact) {
        const idset *s = sessions ? &p->xsessions[cell] : &p->xusers[cell];
        return (double)s->n + s->has_zero;
    }
    const tsagg__hll *h = sessions ? p->sessions[cell] : p->users[cell];
    return h ? round(tsagg__hll_estimate(h)) : 0;
}

static double metric_value(const qplan *p, uint32_t k, size_t cell)
{
    size_t cells = p->ngroups * p->nbuckets;
    const tsagg_metric *m = &p->metrics[k];
    size_t i = (size_t)(p->metric_measure[k] >= 0 ? p->metric_measure[k] : 0) * cells + cell;
    switch (m->kind) {
    case TSAGG_METRIC_COUNT:
        return (double)p->count[cell];
    case TSAGG_METRIC_SUM:
        return p->sum[i];
    case TSAGG_METRIC_AVG:
        return p->nval[i] > 0 ? p->sum[i] / p->nval[i] : NAN;
    case TSAGG_METRIC_MIN:
        return p->nval[i] > 0 ? p->vmin[i] : NAN;
    case TSAGG_METRIC_MAX:
        return p->nval[i] > 0 ? p->vmax[i] : NAN;
    case TSAGG_METRIC_USERS:
        return distinct(p, cell, 0);
    default:
        return distinct(p, cell, 1);
    }
}

typedef struct ranked {
    double score;
    const char *key;
    size_t group;
} ranked;

static int rank_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int fill_result(const qplan *p, tsagg_result *r)
{
    size_t nb = p->nbuckets, ng = p->ngroups;
    ranked *order = malloc((ng ? ng : 1) * sizeof *order);
    if (!order)
        return -ENOMEM;
    size_t keybytes = 0;
    for (size_t g = 0; g < ng; g++) {
        double score = 0;
        for (size_t b = 0; b < nb; b++)
            score += metric_value(p, 0, g * nb + b);
        order[g] = (ranked){isnan(score) ? -INFINITY : score, p->group_keys[g], g};
        keybytes += strlen(p->group_keys[g]) + 1;
    }
    if (p->group_col != QCOL_NONE)
        qsort(order, ng, sizeof *order, rank_cmp);
    size_t keep = p->q->top && p->q->top < ng ? p->q->top : ng;
    size_t rows = nb * keep;
    if (rows > r->rows_cap) {
        int64_t *t = realloc(r->times, rows * sizeof *t);
        char **k = realloc(r->keys, rows * sizeof *k);
        double *v = realloc(r->values, rows * TSAGG_QUERY_MAX_METRICS * sizeof *v);
        if (t)
            r->times = t;
        if (k)
            r->keys = k;
        if (v)
            r->values = v;
        if (!t || !k || !v) {
            free(order);
            return -ENOMEM;
        }
        r->rows_cap = rows;
    }
    if (keybytes + 1 > r->keybuf_cap) {
        char *kb = realloc(r->keybuf, keybytes + 1);
        if (!kb) {
            free(order);
            return -ENOMEM;
        }
        r->keybuf = kb;
        r->keybuf_cap = keybytes + 1;
    }
    /* Keys of the kept groups, in rank order. */
    char **gkey = malloc((keep ? keep : 1) * sizeof *gkey);
    if (!gkey) {
        free(order);
        return -ENOMEM;
    }
    char *kp = r->keybuf;
    for (size_t j = 0; j < keep; j++) {
        size_t len = strlen(order[j].key);
        memcpy(kp, order[j].key, len + 1);
        gkey[j] = kp;
        kp += len + 1;
    }
    r->rows = rows;
    r->buckets = nb;
    r->groups = keep;
    r->nmetrics = p->nmetrics;
    for (size_t b = 0; b < nb; b++) {
        for (size_t j = 0; j < keep; j++) {
            size_t row = b * keep + j, cell = order[j].group * nb + b;
            r->times[row] = p->starts[b];
            r->keys[row] = gkey[j];
            for (uint32_t m = 0; m < p->nmetrics; m++)
                r->values[m * rows + row] = metric_value(p, m, cell);
        }
    }
    r->approximate = 0;
    if (!p->exact && (p->need_users || p->need_sessions)) {
        for (size_t c = 0; c < ng * nb && !r->approximate; c++) {
            if (p->users && p->users[c] && !tsagg__hll_is_exact(p->users[c]))
                r->approximate = 1;
            if (p->sessions && p->sessions[c] && !tsagg__hll_is_exact(p->sessions[c]))
                r->approximate = 1;
        }
    }
    free(gkey);
    free(order);
    return 0;
}

static int scan_snapshot(qplan *p, const tsagg__manifest *m)
{
    tsagg_store *st = p->st;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->nparts; i++) {
        const tsagg__part_ref *ref = &m->parts[i];
        if (ref->hour + TSAGG__HOUR_US <= p->from || ref->hour >= p->to)
            continue;
        tsagg__part *part;
        rc = tsagg__partcache_get(st, ref->hour, ref->file_id, &part);
        if (rc != 0)
            break;
        rc = tsagg__scan_partition(p, part);
        if (rc != 0) {
            char msg[TSAGG_ERRMSG_MAX];
            tsagg__part_errmsg(part, msg, sizeof msg);
            rc = tsagg__fail(st, rc, "%s", msg[0] ? msg : tsagg_strerror(rc));
        }
        tsagg__partcache_put(st, part);
    }
    return rc;
}

int tsagg_query_run(tsagg_store *st, const tsagg_query *q, tsagg_result *r)
{
    if (!st || !r)
        return TSAGG_EARG;
    r->rows = r->buckets = r->groups = 0;
    qplan p;
    int rc = tsagg__qplan_init(&p, st, q);
    /* A file a concurrent merge removed after our snapshot was taken (in
     * another process) is missing: take a fresh snapshot and start over. */
    for (int attempt = 0; rc == 0 && attempt < 3; attempt++) {
        tsagg__snapshot *snap;
        rc = tsagg__snapshot_acquire(st, &snap);
        if (rc != 0)
            break;
        const tsagg__manifest *m = tsagg__snapshot_manifest(snap);
        rc = scan_snapshot(&p, m);
        if (rc == 0 && !(q->flags & TSAGG_QUERY_NO_TAIL))
            rc = tsagg__scan_tail(&p, m->consumed_seq);
        tsagg__partcache_trim(st, m);
        tsagg__snapshot_release(st, snap);
        if (rc != -ENOENT)
            break;
        tsagg__qplan_free(&p);
        rc = tsagg__qplan_init(&p, st, q);
    }
    if (rc == 0)
        rc = fill_result(&p, r);
    tsagg__qplan_free(&p);
    return rc;
}
