/*
 * query.c - run a query: plan it, take a snapshot of the published
 * partitions, scan those of the range and the head's events after the
 * snapshot's consumed position (head.h: the log's uncompacted tail, indexed
 * by merchant; up to any damage in the log, which the result's warning
 * names), then lay the accumulators out as result columns (top-N groups
 * first by the first metric, ties by key). Visit and new-user metrics are
 * computed from the merchant's rows of the same snapshot and head
 * (visits.c); a question of those alone scans nothing else.
 *
 * A group-by whose series would pass TSAGG_QUERY_MAX_ROWS cells (many
 * distinct values, fine buckets) is answered in two passes over the same
 * snapshot and head: the groups' totals rank them, then only the kept
 * groups' series are counted. Memory then follows the answer, not the
 * number of buckets times the number of distinct values.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "manifest.h"
#include "partcache.h"
#include "query_internal.h"
#include "tsagg_log.h"

/* Snapshots tried when partition files vanish under a query. */
#define MAX_ATTEMPTS 8

struct tsagg_result {
    size_t rows, buckets, groups, nmetrics;
    int64_t *times;
    double *values; /* nmetrics x rows */
    char **keys;    /* per row, into keybuf */
    char *keybuf;
    size_t rows_cap, values_cap, keybuf_cap;
    int approximate;
    char errmsg[TSAGG_ERRMSG_MAX]; /* of the last run */
    char warning[TSAGG_ERRMSG_MAX]; /* "" when the answer is whole */
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
const char *tsagg_result_warning(const tsagg_result *r)
{
    return r->warning[0] ? r->warning : NULL;
}

const char *tsagg_result_errmsg(const tsagg_result *r) { return r->errmsg; }

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
    if (tsagg__qplan_settled(p, sessions, cell))
        return round(p->pending[cell].est[sessions]);
    const tsagg__hll *h = sessions ? p->sessions[cell] : p->users[cell];
    return h ? round(tsagg__hll_estimate(h)) : 0;
}

static double metric_value(const qplan *p, uint32_t k, size_t cell)
{
    size_t cells = p->cells_cap;
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
    case TSAGG_METRIC_SESSIONS:
        return distinct(p, cell, 1);
    default:
        return tsagg__visit_value(p, m->kind, cell);
    }
}

typedef struct ranked {
    double score; /* NaN: no value (min/max/avg of nothing), ranks last */
    const char *key;
    size_t group;
} ranked;

static int rank_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int xn = isnan(x->score), yn = isnan(y->score);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->key, y->key);
}

/*
 * The first metric of group g over the whole range, which ranks the groups:
 * counts and sums add up, avg is the total sum over the total number of
 * values, min and max of all buckets, and distinct counts count each user
 * (session) once however many buckets it is seen in.
 */
static int rank_score(const qplan *p, size_t g, double *out)
{
    size_t nb = p->stride, c0 = g * nb;
    if (nb == 1) {
        *out = metric_value(p, 0, c0);
        return 0;
    }
    size_t cells = p->cells_cap;
    const tsagg_metric *m = &p->metrics[0];
    size_t mi = (size_t)(p->metric_measure[0] >= 0 ? p->metric_measure[0] : 0) * cells + c0;
    double acc = 0, n = 0;
    switch (m->kind) {
    case TSAGG_METRIC_COUNT:
        for (size_t b = 0; b < nb; b++)
            acc += (double)p->count[c0 + b];
        break;
    case TSAGG_METRIC_SUM:
    case TSAGG_METRIC_AVG:
        for (size_t b = 0; b < nb; b++) {
            acc += p->sum[mi + b];
            n += p->nval[mi + b];
        }
        if (m->kind == TSAGG_METRIC_AVG)
            acc = n > 0 ? acc / n : NAN;
        break;
    case TSAGG_METRIC_MIN:
    case TSAGG_METRIC_MAX:
        acc = NAN;
        for (size_t b = 0; b < nb; b++) {
            if (p->nval[mi + b] == 0)
                continue;
            double v = m->kind == TSAGG_METRIC_MIN ? p->vmin[mi + b] : p->vmax[mi + b];
            if (isnan(acc) || (m->kind == TSAGG_METRIC_MIN ? v < acc : v > acc))
                acc = v;
        }
        break;
    case TSAGG_METRIC_USERS:
    case TSAGG_METRIC_SESSIONS: {
        int sessions = m->kind == TSAGG_METRIC_SESSIONS;
        int rc = 0;
        if (p->exact) {
            idset u = {0};
            const idset *sets = sessions ? p->xsessions : p->xusers;
            for (size_t b = 0; rc == 0 && b < nb; b++) {
                const idset *x = &sets[c0 + b];
                if (x->has_zero)
                    rc = tsagg__idset_add(&u, 0);
                for (uint32_t i = 0; rc == 0 && i < x->cap; i++)
                    if (x->slots[i])
                        rc = tsagg__idset_add(&u, x->slots[i]);
            }
            acc = (double)u.n + u.has_zero;
            tsagg__idset_free(&u);
        } else {
            tsagg__hll h;
            tsagg__hll_init(&h);
            tsagg__hll *const *hs = sessions ? p->sessions : p->users;
            for (size_t b = 0; rc == 0 && b < nb; b++)
                if (hs[c0 + b])
                    rc = tsagg__hll_merge(&h, hs[c0 + b]);
            acc = round(tsagg__hll_estimate(&h));
            tsagg__hll_fini(&h);
        }
        if (rc != 0)
            return rc;
        break;
    }
    default:
        acc = tsagg__visit_rank(p, m->kind, g);
    }
    *out = acc;
    return 0;
}

/* Put the keep best of order[0..n) first, in rank order (the rest in no
 * order): a top-10 of thousands of pages is one comparison per group
 * against the tenth, not a sort of them all. */
static void select_top(ranked *order, size_t n, size_t keep)
{
    if (keep == 0)
        return;
    if (keep >= n / 4) {
        qsort(order, n, sizeof *order, rank_cmp);
        return;
    }
    qsort(order, keep, sizeof *order, rank_cmp);
    for (size_t i = keep; i < n; i++) {
        if (rank_cmp(&order[i], &order[keep - 1]) >= 0)
            continue;
        ranked c = order[i];
        order[i] = order[keep - 1];
        size_t j = keep - 1;
        for (; j > 0 && rank_cmp(&c, &order[j - 1]) < 0; j--)
            order[j] = order[j - 1];
        order[j] = c;
    }
}

/* The plan's groups with the keep first ones in rank order, in *out
 * (ngroups entries; free it). A fixed plan's groups are in rank order
 * already. */
static int rank_groups(const qplan *p, size_t keep, ranked **out)
{
    size_t ng = p->ngroups;
    ranked *order = malloc((ng ? ng : 1) * sizeof *order);
    if (!order)
        return -ENOMEM;
    int ranks = p->group_col != QCOL_NONE && !p->fixed;
    for (size_t g = 0; g < ng; g++) {
        double score = 0;
        int rc = ranks ? rank_score(p, g, &score) : 0;
        if (rc != 0) {
            free(order);
            return rc;
        }
        order[g] = (ranked){score, p->group_keys[g], g};
    }
    if (ranks)
        select_top(order, ng, keep);
    *out = order;
    return 0;
}

/* How many of ng ranked groups the answer keeps. */
static size_t kept_groups(const qplan *p, size_t ng)
{
    return !p->fixed && p->q->top && p->q->top < ng ? p->q->top : ng;
}

/* TSAGG_EARG when keep groups of nb buckets pass TSAGG_QUERY_MAX_ROWS rows. */
static int check_answer_size(tsagg_store *st, size_t nb, size_t keep)
{
    if (keep <= TSAGG_QUERY_MAX_ROWS / nb)
        return 0;
    return tsagg__fail(st, TSAGG_EARG,
                       "the answer would hold %zu buckets x %zu groups = %zu rows, more than "
                       "%u: keep the top %zu groups or fewer, or use a coarser bucket or a "
                       "shorter range",
                       nb, keep, nb * keep, (unsigned)TSAGG_QUERY_MAX_ROWS,
                       (size_t)TSAGG_QUERY_MAX_ROWS / nb);
}

static int fill_result(const qplan *p, tsagg_result *r)
{
    size_t nb = p->nbuckets, ng = p->ngroups;
    size_t keep = kept_groups(p, ng);
    int rc = check_answer_size(p->st, nb, keep);
    if (rc != 0)
        return rc;
    ranked *order;
    if ((rc = rank_groups(p, keep, &order)) != 0)
        return rc;
    size_t keybytes = 0;
    for (size_t j = 0; j < keep; j++)
        keybytes += strlen(order[j].key) + 1;
    size_t rows = nb * keep;
    if (rows > r->rows_cap) {
        int64_t *t = realloc(r->times, rows * sizeof *t);
        char **k = realloc(r->keys, rows * sizeof *k);
        if (t)
            r->times = t;
        if (k)
            r->keys = k;
        if (!t || !k) {
            free(order);
            return -ENOMEM;
        }
        r->rows_cap = rows;
    }
    if (rows * p->nmetrics > r->values_cap) { /* only the metrics asked for */
        double *v = realloc(r->values, rows * p->nmetrics * sizeof *v);
        if (!v) {
            free(order);
            return -ENOMEM;
        }
        r->values = v;
        r->values_cap = rows * p->nmetrics;
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
            size_t row = b * keep + j, cell = tsagg__qplan_cell(p, order[j].group, b);
            r->times[row] = p->starts[b];
            r->keys[row] = gkey[j];
            for (uint32_t m = 0; m < p->nmetrics; m++)
                r->values[m * rows + row] = metric_value(p, m, cell);
        }
    }
    r->approximate = 0;
    if (!p->exact && (p->need_users || p->need_sessions)) {
        for (size_t c = 0; c < ng * p->stride && !r->approximate; c++) {
            if (p->users && p->users[c] && !tsagg__hll_is_exact(p->users[c]))
                r->approximate = 1;
            if (p->sessions && p->sessions[c] && !tsagg__hll_is_exact(p->sessions[c]))
                r->approximate = 1;
            for (int k = 0; k < 2; k++)
                if (tsagg__qplan_settled(p, k, c) && !p->pending[c].exact[k])
                    r->approximate = 1;
        }
    }
    free(gkey);
    free(order);
    return 0;
}

int tsagg__files_of_range(const tsagg__manifest *m, int64_t from, int64_t to,
                          tsagg__part_ref **out, size_t *n)
{
    /* Entries are sorted by span start and no span is longer than
     * TSAGG__PART_MAX_HOURS: start at the first that starts after from
     * minus that (no overflow near INT64_MIN). */
    const uint64_t longest = (uint64_t)TSAGG__PART_MAX_HOURS * (uint64_t)TSAGG__HOUR_US;
    size_t lo = 0, hi = m->nparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t s = m->parts[mid].start;
        if (s < from && (uint64_t)from - (uint64_t)s >= longest)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = 0;
    tsagg__part_ref *refs = NULL;
    for (size_t i = lo; i < m->nparts && m->parts[i].start < to; i++) {
        const tsagg__part_ref *r = &m->parts[i];
        if (r->start < from &&
            (uint64_t)from - (uint64_t)r->start >= (uint64_t)r->hours * TSAGG__HOUR_US)
            continue; /* ends by from */
        if (!refs && !(refs = malloc((m->nparts - i) * sizeof *refs)))
            return -ENOMEM;
        refs[k++] = *r;
    }
    *out = refs;
    *n = k;
    return 0;
}

/* Scan the snapshot's partitions of the range, leaving them referenced in
 * *ents (*n of them; the caller puts and frees them): sketches pending in
 * the plan point into their caches. */
static int scan_snapshot(qplan *p, const tsagg__manifest *m, tsagg__pcent ***ents_out,
                         size_t *n_out)
{
    tsagg_store *st = p->st;
    tsagg__part_ref *refs;
    size_t n;
    *ents_out = NULL;
    *n_out = 0;
    int rc = tsagg__files_of_range(m, p->from, p->to, &refs, &n);
    if (rc != 0 || n == 0)
        return rc;
    tsagg__pcent **ents = malloc(n * sizeof *ents);
    if (!ents) {
        free(refs);
        return -ENOMEM;
    }
    rc = tsagg__partcache_get_many(st, refs, n, ents);
    free(refs);
    if (rc != 0) {
        free(ents);
        return rc;
    }
    *ents_out = ents;
    *n_out = n;
    if (!(p->flags & TSAGG_QUERY_ALL_MERCHANTS))
        for (int stage = 0; stage < 2; stage++)
            for (size_t i = 0; i < n; i++)
                tsagg__pcent_merchant_prefetch(ents[i], p->q->merchant, stage);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = tsagg__scan_partition(p, ents[i]);
        if (rc != 0 && p->overflowed)
            break; /* not a failure: the query ranks the groups first */
        if (rc != 0) {
            char msg[TSAGG_ERRMSG_MAX];
            tsagg__part_errmsg(tsagg__pcent_part(ents[i]), msg, sizeof msg);
            rc = tsagg__fail(st, rc, "%s", msg[0] ? msg : tsagg_strerror(rc));
        }
    }
    return rc;
}

/* The snapshot's partitions of the range, then the head's events after
 * them, up to `visible`. */
static int scan_all(qplan *p, const tsagg__manifest *m, uint64_t visible)
{
    int rc = 0;
    if (p->need_events) {
        tsagg__pcent **ents;
        size_t n;
        rc = scan_snapshot(p, m, &ents, &n);
        if (rc == 0 && !(p->flags & TSAGG_QUERY_NO_TAIL))
            rc = tsagg__scan_head(p, m, visible);
        /* The head may add to a cell too: settle after it, while the
         * files are still referenced. */
        if (rc == 0)
            rc = tsagg__qplan_settle(p);
        if (ents)
            tsagg__partcache_put_many(p->st, ents, n);
        free(ents);
    }
    if (rc == 0 && (p->need_visits || p->need_new_users))
        rc = tsagg__scan_visits(p, m, visible);
    return rc;
}

/*
 * The series of p's groups passed TSAGG_QUERY_MAX_ROWS cells: rank the
 * groups on their totals (one cell each), then count the series of the
 * kept ones only, on the same snapshot and head. An answer that still
 * passes the limit (no top N, or too large a one) is the caller's to
 * narrow: TSAGG_EARG with the numbers. On return *p is the plan that
 * answers (or one that can be freed).
 */
static int rank_then_series(qplan *p, const tsagg_query *q, const tsagg__manifest *m,
                            uint64_t visible)
{
    tsagg_store *st = p->st;
    tsagg__qplan_free(p);
    qplan tot;
    int rc = tsagg__qplan_init(&tot, st, q, 1);
    if (rc == 0)
        rc = scan_all(&tot, m, visible);
    ranked *order = NULL;
    size_t keep = kept_groups(&tot, tot.ngroups);
    if (rc == 0)
        rc = rank_groups(&tot, keep, &order);
    if (rc == 0)
        rc = check_answer_size(st, tot.nbuckets, keep);
    const char **keys = NULL;
    size_t *lens = NULL;
    if (rc == 0) {
        keys = malloc((keep ? keep : 1) * sizeof *keys);
        lens = malloc((keep ? keep : 1) * sizeof *lens);
        rc = keys && lens ? 0 : -ENOMEM;
    }
    for (size_t j = 0; rc == 0 && j < keep; j++) {
        keys[j] = order[j].key;
        lens[j] = tot.group_lens[order[j].group];
    }
    if (rc == 0)
        rc = tsagg__qplan_init(p, st, q, 0);
    if (rc == 0)
        rc = tsagg__qplan_fix_groups(p, keys, lens, keep);
    if (rc == 0)
        rc = scan_all(p, m, visible);
    free(keys);
    free(lens);
    free(order);
    tsagg__qplan_free(&tot);
    return rc;
}

int tsagg_query_run(tsagg_store *st, const tsagg_query *q, tsagg_result *r)
{
    if (!st)
        return TSAGG_EARG;
    if (!r)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_query_run: the result is NULL");
    r->rows = r->buckets = r->groups = 0;
    tsagg__errsink sink;
    tsagg__errsink_begin(st, &sink, r->errmsg, sizeof r->errmsg);
    r->warning[0] = '\0';
    char warning[TSAGG_ERRMSG_MAX] = "";
    qplan p;
    int rc = tsagg__qplan_init(&p, st, q, 0);
    /* A file a merge removed after our snapshot was taken (by another
     * handle, here or in another process) is missing: take a fresh snapshot
     * and start over. Each retry means a newer manifest was published, and
     * files already open stay usable, so this ends unless merges outpace
     * the query; after MAX_ATTEMPTS the error is returned, never the
     * partial (or, after a re-plan, empty) accumulators. */
    for (int attempt = 1; rc == 0; attempt++) {
        tsagg__snapshot *snap;
        rc = tsagg__snapshot_acquire(st, &snap);
        if (rc != 0)
            break;
        const tsagg__manifest *m = tsagg__snapshot_manifest(snap);
        /* Durable events only (tsagg_query.h): what a crash could take
         * back is never shown. A read-only handle cannot know what another
         * process's writer has made durable: it reads what the files hold.
         * The head stays as it is until the query is done, so that both
         * passes of a ranking count the same events. */
        uint64_t visible = 0;
        warning[0] = '\0';
        int head = !(p.flags & TSAGG_QUERY_NO_TAIL);
        if (head)
            rc = tsagg__head_acquire(st, m->consumed_seq, &visible, warning);
        if (rc == 0) {
            rc = scan_all(&p, m, visible);
            if (rc == -E2BIG && p.overflowed)
                rc = rank_then_series(&p, q, m, visible);
            if (head)
                tsagg__head_release(st);
        }
        tsagg__partcache_trim(st, m);
        tsagg__snapshot_release(st, snap);
        if (rc != -ENOENT || attempt == MAX_ATTEMPTS)
            break;
        tsagg__qplan_free(&p);
        rc = tsagg__qplan_init(&p, st, q, 0);
    }
    if (rc == 0)
        rc = fill_result(&p, r);
    if (rc == 0)
        memcpy(r->warning, warning, sizeof warning);
    tsagg__qplan_free(&p);
    return tsagg__errsink_end(st, &sink, rc, "query");
}
