/*
 * plan.c - check a query against the store's schema, lay out its buckets,
 * and hold its accumulators.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "abi_internal.h"
#include "query_internal.h"
#include "tzcache.h"

#define MINUTE_US INT64_C(60000000)

void tsagg_query_init(tsagg_query *q)
{
    memset(q, 0, sizeof *q);
    q->struct_size = sizeof *q;
    q->bucket = TSAGG_BUCKET_HOUR;
}

static int resolve_col(qplan *p, const char *field, int *col)
{
    if (!field)
        return TSAGG_EARG;
    if (!strcmp(field, "event")) {
        *col = QCOL_EVENT;
        return 0;
    }
    int d = tsagg_schema_dimension_index(p->st->schema, field);
    if (d < 0)
        return tsagg__fail(p->st, TSAGG_ESCHEMA, "unknown dimension \"%s\"", field);
    *col = d;
    return 0;
}

static const char *const METRIC_NAMES[] = {
    "count", "sum", "avg", "min", "max", "users", "sessions", "visits", "bounce_rate",
    "visit_duration", "pages_per_visit", "new_users", "returning_users"};

/* The group-by column. entry_page and exit_page are properties of visits:
 * only visit metrics have them; a visit has events of many names, so it
 * has no event to group by. */
static int resolve_group_by(qplan *p, const char *field)
{
    int entry = !strcmp(field, "entry_page"), exit_ = !strcmp(field, "exit_page");
    if (!entry && !exit_) {
        int rc = resolve_col(p, field, &p->group_col);
        if (rc == 0 && p->group_col == QCOL_EVENT && p->need_visits)
            return tsagg__fail(p->st, TSAGG_EARG,
                               "group-by event with visit metrics: a visit holds events of "
                               "several names (filter on event instead)");
        return rc;
    }
    for (uint32_t i = 0; i < p->nmetrics; i++)
        if (!tsagg__is_visit_metric(p->metrics[i].kind))
            return tsagg__fail(p->st, TSAGG_EARG,
                               "group-by %s takes visit metrics only, not \"%s\"", field,
                               METRIC_NAMES[p->metrics[i].kind]);
    if (tsagg_schema_dimension_index(p->st->schema, "page") < 0)
        return tsagg__fail(p->st, TSAGG_ESCHEMA, "group-by %s needs the dimension \"page\"",
                           field);
    p->group_col = entry ? QCOL_ENTRY : QCOL_EXIT;
    return 0;
}

static int layout_buckets(qplan *p)
{
    int64_t first = p->bucket == TSAGG_BUCKET_TOTAL
                        ? p->from
                        : tsagg__bucket_floor(p->tz, p->bucket, p->from);
    size_t cap = 64;
    p->starts = malloc(cap * sizeof *p->starts);
    if (!p->starts)
        return -ENOMEM;
    size_t n = 0;
    int64_t s = first;
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            int64_t *q = realloc(p->starts, cap * sizeof *q);
            if (!q)
                return -ENOMEM;
            p->starts = q;
        }
        p->starts[n++] = s;
        int64_t next = p->bucket == TSAGG_BUCKET_TOTAL ? p->to
                                                       : tsagg__bucket_next(p->tz, p->bucket, s);
        if (next <= s)
            return tsagg__fail(p->st, TSAGG_EARG, "bucket arithmetic did not advance");
        s = next;
        if (s >= p->to)
            break;
        if (n >= TSAGG_QUERY_MAX_BUCKETS)
            return tsagg__fail(p->st, TSAGG_EARG, "more than %u buckets",
                               (unsigned)TSAGG_QUERY_MAX_BUCKETS);
    }
    p->starts[n] = s;
    p->nbuckets = n;
    int64_t w = p->bucket == TSAGG_BUCKET_MINUTE ? MINUTE_US
                : p->bucket == TSAGG_BUCKET_HOUR ? TSAGG__HOUR_US
                                                 : 0;
    /* Bucket arithmetic needs equal widths: not so when the first start
     * saturated at INT64_MIN. */
    if (w && p->starts[1] - p->starts[0] == w)
        p->width = w;
    p->hour_aligned = p->from % TSAGG__HOUR_US == 0 && p->to % TSAGG__HOUR_US == 0;
    for (size_t i = 0; p->hour_aligned && i <= n; i++)
        p->hour_aligned = p->starts[i] % TSAGG__HOUR_US == 0;
    return 0;
}

size_t tsagg__qplan_bucket(const qplan *p, int64_t ts)
{
    if (p->width)
        return (size_t)((ts - p->starts[0]) / p->width);
    size_t lo = 0, hi = p->nbuckets; /* starts[lo] <= ts < starts[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->starts[mid] <= ts)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Room in the accumulators for `groups` groups. Capacity doubles, so that a
 * group-by meeting thousands of keys does not copy the arrays once per key;
 * measure arrays are measure-major with a stride of cells_cap.
 */
static int grow_cells(qplan *p, size_t groups)
{
    size_t nb = p->stride, old = p->cells_cap;
    if (groups * nb <= old)
        return 0;
    size_t cap_groups = old / nb * 2;
    if (nb > 1 && cap_groups > TSAGG_QUERY_MAX_ROWS / nb)
        cap_groups = TSAGG_QUERY_MAX_ROWS / nb; /* a series never holds more */
    if (cap_groups < groups)
        cap_groups = groups;
    size_t cells = cap_groups * nb;
    uint64_t *c = realloc(p->count, cells * sizeof *c);
    if (!c)
        return -ENOMEM;
    p->count = c;
    memset(c + old, 0, (cells - old) * sizeof *c);
    if (p->need_measures) {
        size_t nm = p->nmeasures;
        double **arrs[4] = {&p->sum, &p->nval, &p->vmin, &p->vmax};
        double init[4] = {0, 0, INFINITY, -INFINITY};
        /* Each array is replaced as soon as it is built: a failure halfway
         * leaves no pointer to freed memory (the query then ends). */
        for (int a = 0; a < 4; a++) {
            double *n = malloc(nm * cells * sizeof *n + 1);
            if (!n)
                return -ENOMEM;
            for (size_t m = 0; m < nm; m++) {
                if (old)
                    memcpy(n + m * cells, *arrs[a] + m * old, old * sizeof *n);
                for (size_t i = old; i < cells; i++)
                    n[m * cells + i] = init[a];
            }
            free(*arrs[a]);
            *arrs[a] = n;
        }
    }
    if (p->need_users || p->need_sessions) {
        if (p->exact) {
            idset *u = realloc(p->xusers, cells * sizeof *u);
            if (!u)
                return -ENOMEM;
            p->xusers = u;
            memset(u + old, 0, (cells - old) * sizeof *u);
            idset *s = realloc(p->xsessions, cells * sizeof *s);
            if (!s)
                return -ENOMEM;
            p->xsessions = s;
            memset(s + old, 0, (cells - old) * sizeof *s);
        } else {
            tsagg__hll **u = realloc(p->users, cells * sizeof *u);
            if (!u)
                return -ENOMEM;
            p->users = u;
            memset(u + old, 0, (cells - old) * sizeof *u);
            tsagg__hll **s = realloc(p->sessions, cells * sizeof *s);
            if (!s)
                return -ENOMEM;
            p->sessions = s;
            memset(s + old, 0, (cells - old) * sizeof *s);
        }
    }
    if ((p->need_visits || p->need_new_users) && tsagg__vacc_grow(&p->va, old, cells) != 0)
        return -ENOMEM;
    p->cells_cap = cells;
    return 0;
}

int tsagg__qplan_group(qplan *p, const char *key, size_t len, size_t *group)
{
    return tsagg__qplan_group_hashed(p, key, len, XXH3_64bits(key, len), group);
}

/* The group of a key; a new one keeps a copy of it, or the key itself when
 * `borrow` (a string that outlives the plan). */
static int find_group(qplan *p, const char *key, size_t len, uint64_t hash, int borrow,
                      size_t *group)
{
    uint32_t mask = p->group_table_cap - 1;
    uint32_t i = (uint32_t)hash & mask;
    for (; p->group_table[i]; i = (i + 1) & mask) {
        size_t g = p->group_table[i] - 1;
        /* The hash first: keys of one length (a site's page paths) would
         * otherwise be compared byte by byte at every probe. Lengths, not
         * strlen: a value may hold a NUL byte. */
        if (p->group_hashes[g] == hash && p->group_lens[g] == len &&
            !memcmp(p->group_keys[g], key, len)) {
            *group = p->group_table[i] - 1;
            return 0;
        }
    }
    if (p->fixed) {
        *group = QGROUP_SKIP;
        return 0;
    }
    /* A series (not the totals, not one bucket) stops at the row limit: the
     * query then ranks the groups first and keeps the top ones. */
    if (p->stride > 1 && (p->ngroups + 1) * p->stride > TSAGG_QUERY_MAX_ROWS) {
        p->overflowed = 1;
        return -E2BIG;
    }
    if (p->ngroups == p->groups_cap) {
        size_t cap = p->groups_cap ? p->groups_cap * 2 : 16;
        const char **k = realloc(p->group_keys, cap * sizeof *k);
        if (!k)
            return -ENOMEM;
        p->group_keys = k;
        size_t *l = realloc(p->group_lens, cap * sizeof *l);
        if (!l)
            return -ENOMEM;
        p->group_lens = l;
        uint64_t *h = realloc(p->group_hashes, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        p->group_hashes = h;
        uint8_t *o = realloc(p->group_owned, cap * sizeof *o);
        if (!o)
            return -ENOMEM;
        p->group_owned = o;
        p->groups_cap = cap;
    }
    char *copy = NULL;
    if (!borrow) {
        if (!(copy = malloc(len + 1)))
            return -ENOMEM;
        memcpy(copy, key, len);
        copy[len] = 0;
    }
    int rc = grow_cells(p, p->ngroups + 1);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    p->group_keys[p->ngroups] = copy ? copy : key;
    p->group_owned[p->ngroups] = !borrow;
    p->group_lens[p->ngroups] = len;
    p->group_hashes[p->ngroups] = hash;
    p->group_table[i] = (uint32_t)p->ngroups + 1;
    *group = p->ngroups++;
    if (p->ngroups * 2 > p->group_table_cap) {
        uint32_t cap = p->group_table_cap * 2;
        uint32_t *t = calloc(cap, sizeof *t);
        if (!t)
            return -ENOMEM;
        for (size_t g = 0; g < p->ngroups; g++) {
            uint32_t j = (uint32_t)p->group_hashes[g] & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = (uint32_t)g + 1;
        }
        free(p->group_table);
        p->group_table = t;
        p->group_table_cap = cap;
    }
    return 0;
}

int tsagg__qplan_group_hashed(qplan *p, const char *key, size_t len, uint64_t hash,
                              size_t *group)
{
    return find_group(p, key, len, hash, 0, group);
}

int tsagg__qplan_group_interned(qplan *p, const char *key, size_t len, uint64_t hash,
                                size_t *group)
{
    return find_group(p, key, len, hash, 1, group);
}

/* id_chunks: ids in chunks of 1 << ID_CHUNK_BITS, each group + 1
 * (ID_SKIP: skipped), 0 unknown. A query meets the ids of one merchant's
 * pages, numbered together when the handle first met them: a few chunks. */
#define ID_CHUNK_BITS 10
#define ID_CHUNK (1u << ID_CHUNK_BITS)
#define ID_SKIP UINT32_MAX

int tsagg__qplan_id_group(const qplan *p, uint32_t id, size_t *group)
{
    uint32_t c = id >> ID_CHUNK_BITS;
    uint32_t v = c < p->nid_chunks && p->id_chunks[c] ? p->id_chunks[c][id & (ID_CHUNK - 1)] : 0;
    if (!v)
        return 1;
    *group = v == ID_SKIP ? QGROUP_SKIP : v - 1;
    return 0;
}

int tsagg__qplan_map_id(qplan *p, uint32_t id, size_t group)
{
    uint32_t c = id >> ID_CHUNK_BITS;
    if (c >= p->nid_chunks) {
        uint32_t n = c + 1 > 2 * p->nid_chunks ? c + 1 : 2 * p->nid_chunks;
        uint32_t **t = realloc(p->id_chunks, n * sizeof *t);
        if (!t)
            return -ENOMEM;
        memset(t + p->nid_chunks, 0, (n - p->nid_chunks) * sizeof *t);
        p->id_chunks = t;
        p->nid_chunks = n;
    }
    if (!p->id_chunks[c] && !(p->id_chunks[c] = calloc(ID_CHUNK, sizeof **p->id_chunks)))
        return -ENOMEM;
    p->id_chunks[c][id & (ID_CHUNK - 1)] =
        group == QGROUP_SKIP ? ID_SKIP : (uint32_t)group + 1;
    return 0;
}

int tsagg__qplan_add(qplan *p, size_t cell, uint64_t user, uint64_t session, const double *meas)
{
    p->count[cell]++;
    if (p->need_measures) {
        size_t cells = p->cells_cap;
        for (uint32_t m = 0; m < p->nmeasures; m++) {
            double v = meas[m];
            if (isnan(v))
                continue;
            size_t i = m * cells + cell;
            p->sum[i] += v;
            p->nval[i] += 1;
            if (v < p->vmin[i])
                p->vmin[i] = v;
            if (v > p->vmax[i])
                p->vmax[i] = v;
        }
    }
    int rc = 0;
    /* Id 0 is an absent user or session: counted by no distinct count. */
    if (p->exact) {
        if (p->need_users && user)
            rc = tsagg__idset_add(&p->xusers[cell], user);
        if (rc == 0 && p->need_sessions && session)
            rc = tsagg__idset_add(&p->xsessions[cell], session);
        return rc;
    }
    tsagg__hll *h;
    if (p->need_users && user)
        rc = (h = tsagg__qplan_hll(&p->users[cell])) ? tsagg__hll_add(h, user) : -ENOMEM;
    if (rc == 0 && p->need_sessions && session)
        rc = (h = tsagg__qplan_hll(&p->sessions[cell])) ? tsagg__hll_add(h, session) : -ENOMEM;
    return rc;
}

tsagg__hll *tsagg__qplan_hll(tsagg__hll **slot)
{
    if (!*slot && (*slot = malloc(sizeof **slot)) != NULL)
        tsagg__hll_init(*slot);
    return *slot;
}

/* Room in the pool of pending views for one more. */
static int pool_room(qplan *p)
{
    if (p->npool < p->pool_cap)
        return 0;
    uint32_t cap = p->pool_cap ? 2 * p->pool_cap : 64;
    const tsagg__hll_view **pool = realloc(p->pool, cap * sizeof *pool);
    if (pool)
        p->pool = pool;
    uint32_t *next = pool ? realloc(p->pool_next, cap * sizeof *next) : NULL;
    if (!next)
        return -ENOMEM;
    p->pool_next = next;
    p->pool_cap = cap;
    return 0;
}

int tsagg__qplan_merge_pending(qplan *p, int kind, size_t cell, const tsagg__hll_view *v)
{
    /* Only ungrouped plans: a ranking merges the cells of a group. */
    if (!p->pending && p->group_col == QCOL_NONE) {
        p->pending = calloc(p->cells_cap, sizeof *p->pending);
        p->npending = p->pending ? p->cells_cap : 0;
    }
    /* Without room (or memory), merged at once: the same union. */
    if (cell < p->npending && !p->settled && p->pending[cell].n[kind] < QPENDING_MAX &&
        pool_room(p) == 0) {
        qpending *q = &p->pending[cell];
        p->pool[p->npool] = v;
        p->pool_next[p->npool] = q->head[kind];
        q->head[kind] = ++p->npool;
        q->n[kind]++;
        return 0;
    }
    tsagg__hll *h = tsagg__qplan_hll(kind ? &p->sessions[cell] : &p->users[cell]);
    return h ? tsagg__hll_merge_view(h, v) : -ENOMEM;
}

/* Sparse entries from which a walk of all registers (about a microsecond)
 * costs less than keeping the register histogram entry by entry. */
#define SETTLE_WALK_ENTRIES 3072

/* The estimate of a cell's pending views v[0..n) when the cell has no
 * sketch, and whether it is an exact count. */
static int settle_views(const tsagg__hll_view *const *v, uint32_t n, tsagg__hll *scratch,
                        double *est, uint8_t *exact)
{
    int dense = 0;
    uint64_t entries = 0;
    for (uint32_t i = 0; i < n; i++) {
        dense |= v[i]->form == TSAGG__HLL_FORM_DENSE;
        entries += v[i]->form == TSAGG__HLL_FORM_SPARSE ? v[i]->n : 0;
    }
    if (dense || entries >= SETTLE_WALK_ENTRIES) {
        /* One pass over the views, no sketch written. */
        *est = tsagg__hll_views_estimate(v, n);
        *exact = 0;
        return 0;
    }
    /* Few sparse entries or exact sets alone: merged into one sketch
     * reused by the cells, whose register histogram follows them (no walk
     * of the registers), and which stays exact while the union is small. */
    tsagg__hll_reset(scratch);
    for (uint32_t i = 0; i < n; i++) {
        int rc = tsagg__hll_merge_view(scratch, v[i]);
        if (rc != 0)
            return rc;
    }
    *est = tsagg__hll_estimate(scratch);
    *exact = tsagg__hll_is_exact(scratch);
    return 0;
}

int tsagg__qplan_settle(qplan *p)
{
    if (p->settled)
        return 0;
    p->settled = 1;
    tsagg__hll scratch;
    tsagg__hll_init(&scratch);
    int rc = 0;
    for (size_t c = 0; rc == 0 && c < p->npending; c++) {
        qpending *q = &p->pending[c];
        for (int k = 0; rc == 0 && k < 2; k++) {
            if (q->n[k] == 0)
                continue;
            const tsagg__hll_view *v[QPENDING_MAX];
            uint32_t n = 0;
            for (uint32_t i = q->head[k]; i; i = p->pool_next[i - 1])
                v[n++] = p->pool[i - 1];
            tsagg__hll *h = k ? p->sessions[c] : p->users[c];
            if (!h) {
                rc = settle_views(v, n, &scratch, &q->est[k], &q->exact[k]);
                continue;
            }
            for (uint32_t i = 0; rc == 0 && i < n; i++)
                rc = tsagg__hll_merge_view(h, v[i]);
            q->n[k] = 0;
        }
    }
    tsagg__hll_fini(&scratch);
    /* The views' bytes are about to go. */
    free(p->pool);
    free(p->pool_next);
    p->pool = NULL;
    p->pool_next = NULL;
    p->npool = p->pool_cap = 0;
    return rc;
}

/* A few ungrouped buckets (a month of days): their sketches get the full
 * exact table up front, so the many ids of a row scan probe a half-full
 * table and never wait for it to grow (registers come when a bucket passes
 * the exact set: most days of most merchants never do). */
#define RESERVE_MAX_BUCKETS 256

tsagg__hll *tsagg__qplan_row_hll(qplan *p, tsagg__hll **slot)
{
    if (*slot)
        return *slot;
    tsagg__hll *h = tsagg__qplan_hll(slot);
    if (h && p->group_col == QCOL_NONE && p->nbuckets <= RESERVE_MAX_BUCKETS)
        (void)tsagg__hll_room(h, TSAGG__HLL_EXACT_MAX); /* without the memory, it grows as it goes */
    return h;
}

/* The plan measure of schema measure mi, added when new. */
static int plan_measure(qplan *p, int mi)
{
    for (uint32_t j = 0; j < p->nmeasures; j++)
        if (p->measure_of[j] == mi)
            return (int)j;
    p->measure_of[p->nmeasures] = mi;
    return (int)p->nmeasures++;
}

int tsagg__qplan_init(qplan *p, tsagg_store *st, const tsagg_query *q, int totals)
{
    memset(p, 0, sizeof *p);
    p->q = q;
    p->st = st;
    /* Sizes from the first release on; fields past the caller's size will
     * need defaults here once tsagg_query grows. */
    if (!q || !TSAGG__SIZE_OK(q->struct_size, TSAGG__QUERY_SIZE_1, *q))
        return tsagg__fail(st, TSAGG_EARG, "query not initialised with tsagg_query_init");
    if (q->flags & ~(TSAGG_QUERY_ALL_MERCHANTS | TSAGG_QUERY_EXACT | TSAGG_QUERY_NO_TAIL))
        return tsagg__fail(st, TSAGG_EARG, "unknown query flags 0x%x",
                           q->flags & ~(TSAGG_QUERY_ALL_MERCHANTS | TSAGG_QUERY_EXACT |
                                        TSAGG_QUERY_NO_TAIL));
    if (q->from >= q->to)
        return tsagg__fail(st, TSAGG_EARG, "empty or reversed time range");
    if (q->bucket > TSAGG_BUCKET_TOTAL)
        return tsagg__fail(st, TSAGG_EARG, "unknown bucket %u", q->bucket);
    if (q->nmetrics > TSAGG_QUERY_MAX_METRICS || q->nfilters > TSAGG_QUERY_MAX_FILTERS ||
        (q->nmetrics && !q->metrics) || (q->nfilters && !q->filters))
        return tsagg__fail(st, TSAGG_EARG, "too many metrics or filters");
    p->flags = q->flags;
    p->from = q->from;
    p->to = q->to;
    p->bucket = q->bucket;
    p->exact = (q->flags & TSAGG_QUERY_EXACT) != 0;
    p->group_col = QCOL_NONE;
    char err[TSAGG_ERRMSG_MAX];
    int rc = tsagg__tzcache_get(st, q->tz, &p->tz, err, sizeof err);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s", err);
    p->nmetrics = q->nmetrics ? q->nmetrics : 1;
    for (uint32_t i = 0; i < p->nmetrics; i++) {
        p->metrics[i] = q->nmetrics ? q->metrics[i] : (tsagg_metric){TSAGG_METRIC_COUNT, NULL};
        p->metric_measure[i] = -1;
        uint32_t k = p->metrics[i].kind;
        if (k > TSAGG_METRIC_RETURNING_USERS)
            return tsagg__fail(st, TSAGG_EARG, "unknown metric kind %u", k);
        if (k >= TSAGG_METRIC_SUM && k <= TSAGG_METRIC_MAX) {
            const char *m = p->metrics[i].measure;
            int mi = m ? tsagg_schema_measure_index(st->schema, m) : -1;
            if (mi < 0)
                return tsagg__fail(st, TSAGG_ESCHEMA, "unknown measure \"%s\"", m ? m : "");
            p->metric_measure[i] = plan_measure(p, mi);
            p->need_measures = 1;
            p->need_minmax |= k == TSAGG_METRIC_MIN || k == TSAGG_METRIC_MAX;
        }
        p->need_count |= k == TSAGG_METRIC_COUNT;
        p->need_users |= k == TSAGG_METRIC_USERS;
        p->need_sessions |= k == TSAGG_METRIC_SESSIONS;
        p->need_events |= k <= TSAGG_METRIC_SESSIONS;
        p->need_visits |= tsagg__is_visit_metric(k);
        p->need_new_users |= k == TSAGG_METRIC_NEW_USERS || k == TSAGG_METRIC_RETURNING_USERS;
    }
    if ((p->need_visits || p->need_new_users) && (q->flags & TSAGG_QUERY_ALL_MERCHANTS))
        return tsagg__fail(st, TSAGG_EARG,
                           "visit and new-user metrics are per merchant: not with all merchants");
    for (uint32_t i = 0; i < q->nfilters; i++) {
        const tsagg_filter *f = &q->filters[i];
        qfilter *qf = &p->filters[p->nfilters++];
        if ((rc = resolve_col(p, f->field, &qf->col)) != 0)
            return rc;
        if (f->nvalues == 0 || !f->values)
            return tsagg__fail(st, TSAGG_EARG, "filter on \"%s\" has no values", f->field);
        qf->values = f->values;
        qf->nvalues = f->nvalues;
        qf->lens = malloc(f->nvalues * sizeof *qf->lens);
        if (!qf->lens)
            return -ENOMEM;
        for (uint32_t v = 0; v < f->nvalues; v++) {
            if (!f->values[v])
                return tsagg__fail(st, TSAGG_EARG, "NULL filter value");
            qf->lens[v] = strlen(f->values[v]);
        }
        p->has_dim_filter |= qf->col >= 0;
    }
    if (q->group_by && (rc = resolve_group_by(p, q->group_by)) != 0)
        return rc;
    if ((rc = layout_buckets(p)) != 0)
        return rc;
    p->totals = totals;
    p->stride = totals ? 1 : p->nbuckets;
    p->group_table_cap = 64;
    p->group_table = calloc(p->group_table_cap, sizeof *p->group_table);
    if (!p->group_table)
        return -ENOMEM;
    size_t g;
    if (p->group_col == QCOL_NONE)
        rc = tsagg__qplan_group(p, "", 0, &g);
    return rc;
}

int tsagg__qplan_fix_groups(qplan *p, const char *const *keys, const size_t *lens, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t g;
        rc = tsagg__qplan_group(p, keys[i], lens[i], &g);
    }
    p->fixed = 1;
    return rc;
}

void tsagg__qplan_free(qplan *p)
{
    size_t cells = p->ngroups * p->stride;
    for (size_t i = 0; i < cells; i++) {
        if (p->users && p->users[i]) {
            tsagg__hll_fini(p->users[i]);
            free(p->users[i]);
        }
        if (p->sessions && p->sessions[i]) {
            tsagg__hll_fini(p->sessions[i]);
            free(p->sessions[i]);
        }
        if (p->xusers)
            tsagg__idset_free(&p->xusers[i]);
        if (p->xsessions)
            tsagg__idset_free(&p->xsessions[i]);
    }
    for (size_t i = 0; i < p->ngroups; i++)
        if (p->group_owned[i])
            free((void *)p->group_keys[i]);
    for (uint32_t i = 0; i < p->nfilters; i++)
        free(p->filters[i].lens);
    tsagg__vacc_free(&p->va);
    free(p->group_keys);
    free(p->group_lens);
    free(p->group_hashes);
    free(p->group_owned);
    for (uint32_t c = 0; c < p->nid_chunks; c++)
        free(p->id_chunks[c]);
    free(p->id_chunks);
    free(p->group_table);
    free(p->count);
    free(p->sum);
    free(p->nval);
    free(p->vmin);
    free(p->vmax);
    free(p->users);
    free(p->sessions);
    free(p->pending);
    free(p->pool);
    free(p->pool_next);
    free(p->xusers);
    free(p->xsessions);
    free(p->starts);
    free(p->scratch);
    free(p->code_count);
    free(p->code_touched);
    free(p->memo);
    free(p->memo_set);
    memset(p, 0, sizeof *p);
}

int tsagg__idset_add(idset *s, uint64_t id)
{
    if (id == 0) {
        s->has_zero = 1;
        return 0;
    }
    if ((s->n + 1) * 2 > s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 16;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return -ENOMEM;
        for (uint32_t i = 0; i < s->cap; i++) {
            if (!s->slots[i])
                continue;
            uint32_t j = (uint32_t)(s->slots[i] * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = t;
        s->cap = cap;
    }
    uint32_t j = (uint32_t)(id * 0x9E3779B97F4A7C15ull >> 32) & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == id)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = id;
    s->n++;
    return 0;
}

void tsagg__idset_free(idset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}
