/*
 * scan_part.c - one partition's contribution to a query.
 *
 * From the merchant's rollup when the question allows it (counts and sums
 * per minute and event name; distinct counts from the hour's sketches when
 * the hour lies whole inside one bucket), from the rows otherwise: the
 * merchant's slices of the columns the query needs (partcache.h), or for
 * all merchants every row group. Rows are filtered through a selection
 * vector on dictionary codes, never on strings, in chunks of a row group.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partcache.h"
#include "query_internal.h"

#define G TSAGG__PART_GROUP_ROWS
#define MINUTE_US INT64_C(60000000)

/* A query column the file does not have (its schema predates the
 * dimension): every row of the file holds "" there. */
#define NOCOL UINT32_MAX

/* Per-partition view of the query: dictionary codes instead of strings, and
 * the file's own column numbers (its schema may differ from the store's
 * after a rebuild, so columns are matched by name). */
typedef struct pscan {
    qplan *p;
    tsagg__pcent *ent;
    tsagg__part *part;
    int64_t hour;
    uint32_t fcol[TSAGG_QUERY_MAX_FILTERS];     /* per filter: file column, NOCOL: skip */
    uint8_t *allowed[TSAGG_QUERY_MAX_FILTERS];  /* per filter: code -> passes */
    uint32_t *group_of;                         /* code -> group + 1, 0 unknown */
    uint32_t group_dict;                        /* column of group_of, or NOCOL */
    int fm[TSAGG_QUERY_MAX_METRICS];            /* plan measure -> file measure or -1 */
    const int *fd;                              /* store dimension -> file dimension or -1 */
} pscan;

/* The file column of a query column, or NOCOL. */
static uint32_t col_of(const pscan *s, int qcol)
{
    if (qcol == QCOL_EVENT)
        return TSAGG__COL_EVENT;
    int d = s->fd[qcol];
    return d < 0 ? NOCOL : TSAGG__COL_DIM0 + (uint32_t)d;
}

static void pscan_free(pscan *s)
{
    for (uint32_t i = 0; i < TSAGG_QUERY_MAX_FILTERS; i++)
        free(s->allowed[i]);
    free(s->group_of);
}

/* Whether a filter accepts "", the value of a column the file lacks. */
static int accepts_empty(const qfilter *qf)
{
    for (uint32_t v = 0; v < qf->nvalues; v++)
        if (qf->lens[v] == 0)
            return 1;
    return 0;
}

/* Translate filters into code sets. 1: some filter matches nothing here. */
static int pscan_init(pscan *s, qplan *p, tsagg__pcent *ent)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->ent = ent;
    s->part = tsagg__pcent_part(ent);
    tsagg__part *part = s->part;
    s->hour = tsagg__part_get_info(part)->hour;
    const int *store_fm = tsagg__pcent_measure_map(ent);
    for (uint32_t m = 0; m < p->nmeasures; m++)
        s->fm[m] = store_fm[p->measure_of[m]];
    s->fd = tsagg__pcent_dimension_map(ent);
    for (uint32_t f = 0; f < p->nfilters; f++) {
        const qfilter *qf = &p->filters[f];
        uint32_t col = s->fcol[f] = col_of(s, qf->col);
        if (col == NOCOL) {
            if (!accepts_empty(qf))
                return 1;
            continue; /* every row passes */
        }
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
        uint32_t n = s->group_dict == NOCOL ? 0 : tsagg__part_dict_size(part, s->group_dict);
        s->group_of = calloc(n + 1, sizeof *s->group_of);
        if (!s->group_of)
            return -ENOMEM;
    }
    return 0;
}

/* group_of's mark of a code whose group the plan skips. */
#define SKIP_CODE UINT32_MAX

/* The query group of a dictionary code of the group-by column (QGROUP_SKIP:
 * not one the plan keeps). */
static int group_of_code(pscan *s, uint32_t code, size_t *group)
{
    if (s->p->group_col == QCOL_NONE) {
        *group = 0;
        return 0;
    }
    uint32_t known = s->group_of[code];
    if (known) {
        *group = known == SKIP_CODE ? QGROUP_SKIP : known - 1;
        return 0;
    }
    const char *str = "";
    size_t len = 0;
    int rc = 0;
    if (s->group_dict != NOCOL)
        rc = tsagg__part_dict_get(s->part, s->group_dict, code, &str, &len);
    if (rc == 0)
        rc = tsagg__qplan_group(s->p, str, len, group);
    if (rc == 0)
        s->group_of[code] = *group == QGROUP_SKIP ? SKIP_CODE : (uint32_t)*group + 1;
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
static int rollup_usable(const pscan *s, const tsagg__qrollup *qr)
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
    for (uint32_t e = 0, k = 0; e < qr->nev; e++) {
        uint32_t code = qr->ev_code[e];
        if (!event_passes(s, code))
            continue;
        while (k < qr->nnamed && qr->named_event[k] < code) /* both ascending */
            k++;
        if (k == qr->nnamed || qr->named_event[k] != code)
            return 0;
    }
    return 1;
}

static int merge_sketch(tsagg__hll **slot, const tsagg__hll_view *v)
{
    tsagg__hll *h = tsagg__qplan_hll(slot);
    return h ? tsagg__hll_merge_view(h, v) : -ENOMEM;
}

/* Add a rollup's measure sums (nm of them, in the file's order) to a cell. */
static void add_sums(pscan *s, size_t cell, const double *sums, uint32_t nm)
{
    qplan *p = s->p;
    for (uint32_t m = 0; m < p->nmeasures; m++)
        if (s->fm[m] >= 0 && (uint32_t)s->fm[m] < nm)
            p->sum[m * p->cells_cap + cell] += sums[s->fm[m]];
}

static int scan_rollup(pscan *s, const tsagg__qrollup *qr, uint64_t mi)
{
    qplan *p = s->p;
    int64_t lo = s->hour, hi = s->hour + TSAGG__HOUR_US;
    size_t b = tsagg__qplan_bucket(p, lo > p->from ? lo : p->from);
    /* The dashboard case, the whole hour in one bucket: the summary's
     * per-event totals. Otherwise the per-minute entries. */
    int whole = p->from <= lo && p->to >= hi && b == tsagg__qplan_bucket(p, hi - 1);
    int rc = 0;
    for (uint32_t k = 0; whole && rc == 0 && k < qr->nev; k++) {
        uint32_t code = qr->ev_code[k];
        if (!event_passes(s, code))
            continue;
        size_t g;
        if ((rc = group_of_code(s, code, &g)) != 0)
            break;
        if (g == QGROUP_SKIP)
            continue;
        size_t cell = tsagg__qplan_cell(p, g, b);
        p->count[cell] += qr->ev_count[k];
        if (p->need_measures)
            add_sums(s, cell, qr->ev_sums + (size_t)k * qr->nmeasures, qr->nmeasures);
    }
    if (!whole) {
        tsagg__rollup r;
        if ((rc = tsagg__part_rollup(s->part, mi, &r)) != 0)
            return rc;
        for (uint32_t e = 0; rc == 0 && e < r.n; e++) {
            int64_t ts = s->hour + (int64_t)r.minute[e] * MINUTE_US;
            if (ts < p->from || ts >= p->to)
                continue;
            uint32_t code = r.event[e];
            if (!event_passes(s, code))
                continue;
            size_t g;
            if ((rc = group_of_code(s, code, &g)) != 0)
                break;
            if (g == QGROUP_SKIP)
                continue;
            size_t cell = tsagg__qplan_cell(p, g, tsagg__qplan_bucket(p, ts));
            p->count[cell] += r.count[e];
            if (p->need_measures)
                add_sums(s, cell, r.sums + (size_t)e * r.nmeasures, r.nmeasures);
        }
        tsagg__rollup_free(&r);
    }
    if (rc != 0 || (!p->need_users && !p->need_sessions))
        return rc;
    /* Sketches: rollup_usable saw to it that the hour is whole, in bucket b. */
    if (p->nfilters == 0 && p->group_col == QCOL_NONE) {
        size_t cell = tsagg__qplan_cell(p, 0, b);
        if (p->need_users)
            rc = merge_sketch(&p->users[cell], &qr->users);
        if (rc == 0 && p->need_sessions)
            rc = merge_sketch(&p->sessions[cell], &qr->sessions);
        return rc;
    }
    for (uint32_t k = 0; rc == 0 && k < qr->nnamed; k++) {
        uint32_t code = qr->named_event[k];
        if (!event_passes(s, code))
            continue;
        size_t g;
        if ((rc = group_of_code(s, code, &g)) != 0)
            break;
        if (g == QGROUP_SKIP)
            continue;
        size_t cell = tsagg__qplan_cell(p, g, b);
        if (p->need_users)
            rc = merge_sketch(&p->users[cell], &qr->named_users[k]);
        if (rc == 0 && p->need_sessions)
            rc = merge_sketch(&p->sessions[cell], &qr->named_sessions[k]);
    }
    return rc;
}

/* Column buffers for one row group, allocated once per query (qplan
 * scratch) rather than per partition: they are ~400 KiB. */
typedef struct colbufs {
    int64_t ts[G];
    uint64_t user[G], session[G];
    uint32_t codes[TSAGG_QUERY_MAX_FILTERS][G];
    uint32_t group[G];
    uint16_t sel[G];
    double row_meas[TSAGG_SCHEMA_MAX_FIELDS];
    double meas[]; /* nmeasures x G */
} colbufs;

static colbufs *scratch_of(qplan *p)
{
    if (!p->scratch) {
        size_t nm = p->need_measures ? p->nmeasures : 0;
        p->scratch = malloc(sizeof(colbufs) + nm * G * sizeof(double));
    }
    return p->scratch;
}

/* The columns of up to G rows, each pointer at the first row. */
typedef struct chunk {
    const int64_t *ts; /* NULL: every row is in range, in bucket `bucket` */
    size_t bucket;
    const uint32_t *codes[TSAGG_QUERY_MAX_FILTERS]; /* NULL: the filter passes all */
    const uint32_t *group;
    const uint64_t *user, *session;
    const double *meas[TSAGG_SCHEMA_MAX_FIELDS]; /* NULL: absent in the file */
} chunk;

/* The group of a row's code: the partition's memo, else the plan's table. */
static inline int row_group(pscan *s, uint32_t code, size_t *grp)
{
    uint32_t known = s->group_of[code];
    if (known && known != SKIP_CODE) {
        *grp = known - 1;
        return 0;
    }
    return group_of_code(s, code, grp);
}

/* Filter and accumulate n <= G rows. */
static int scan_chunk(pscan *s, colbufs *c, const chunk *k, uint32_t n)
{
    qplan *p = s->p;
    int grouped = p->group_col != QCOL_NONE;
    /* Selection vector: rows in range, then narrowed by each filter. */
    uint32_t m = 0;
    if (!k->ts) {
        for (uint32_t i = 0; i < n; i++)
            c->sel[i] = (uint16_t)i;
        m = n;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            c->sel[m] = (uint16_t)i;
            m += k->ts[i] >= p->from && k->ts[i] < p->to;
        }
    }
    for (uint32_t f = 0; m && f < p->nfilters; f++) {
        if (!k->codes[f])
            continue;
        const uint8_t *ok = s->allowed[f];
        const uint32_t *codes = k->codes[f];
        uint32_t kept = 0;
        for (uint32_t j = 0; j < m; j++) {
            c->sel[kept] = c->sel[j];
            kept += ok[codes[c->sel[j]]];
        }
        m = kept;
    }
    int rc = 0;
    if (!p->need_measures && !p->need_users && !p->need_sessions) {
        /* Counts alone: no per-row accumulator call. */
        for (uint32_t j = 0; j < m; j++) {
            uint32_t i = c->sel[j];
            size_t grp = 0;
            if (grouped && (rc = row_group(s, k->group[i], &grp)) != 0)
                break;
            if (grp == QGROUP_SKIP)
                continue;
            p->count[tsagg__qplan_cell(
                p, grp, k->ts ? tsagg__qplan_bucket(p, k->ts[i]) : k->bucket)]++;
        }
        return rc;
    }
    for (uint32_t j = 0; rc == 0 && j < m; j++) {
        uint32_t i = c->sel[j];
        size_t grp = 0;
        if (grouped && (rc = row_group(s, k->group[i], &grp)) != 0)
            break;
        if (grp == QGROUP_SKIP)
            continue;
        for (uint32_t x = 0; p->need_measures && x < p->nmeasures; x++)
            c->row_meas[x] = k->meas[x] ? k->meas[x][i] : NAN;
        size_t cell =
            tsagg__qplan_cell(p, grp, k->ts ? tsagg__qplan_bucket(p, k->ts[i]) : k->bucket);
        rc = tsagg__qplan_add(p, cell, p->need_users ? k->user[i] : 0,
                              p->need_sessions ? k->session[i] : 0, c->row_meas);
    }
    return rc;
}

/* Whether the partition's hour lies inside the range and inside one
 * bucket: then rows need no timestamps. */
static int whole_hour(const pscan *s, size_t *bucket)
{
    const qplan *p = s->p;
    int64_t lo = s->hour, hi = s->hour + TSAGG__HOUR_US;
    if (p->from > lo || p->to < hi)
        return 0;
    *bucket = tsagg__qplan_bucket(p, lo);
    return *bucket == tsagg__qplan_bucket(p, hi - 1);
}

/* Every row of the partition (all merchants), one row group at a time. */
static int scan_groups(pscan *s)
{
    qplan *p = s->p;
    colbufs *c = scratch_of(p);
    if (!c)
        return -ENOMEM;
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(s->part));
    chunk k;
    memset(&k, 0, sizeof k);
    int whole = whole_hour(s, &k.bucket);
    int rc = 0;
    uint32_t ng = tsagg__part_groups(s->part);
    for (uint32_t g = 0; rc == 0 && g < ng; g++) {
        const tsagg__group_info *gi = tsagg__part_group(s->part, g);
        if (!gi)
            break;
        if (gi->max_ts < p->from || gi->min_ts >= p->to)
            continue;
        k.ts = NULL;
        if (!whole) {
            rc = tsagg__part_read_column(s->part, TSAGG__COL_TS, g, c->ts);
            k.ts = c->ts;
        }
        for (uint32_t f = 0; rc == 0 && f < p->nfilters; f++) {
            k.codes[f] = NULL;
            if (s->fcol[f] != NOCOL) {
                rc = tsagg__part_read_column(s->part, s->fcol[f], g, c->codes[f]);
                k.codes[f] = c->codes[f];
            }
        }
        k.group = c->group;
        if (rc == 0 && p->group_col != QCOL_NONE && s->group_dict == NOCOL)
            memset(c->group, 0, sizeof c->group);
        else if (rc == 0 && p->group_col != QCOL_NONE)
            rc = tsagg__part_read_column(s->part, s->group_dict, g, c->group);
        k.user = c->user;
        k.session = c->session;
        if (rc == 0 && p->need_users)
            rc = tsagg__part_read_column(s->part, TSAGG__COL_USER, g, c->user);
        if (rc == 0 && p->need_sessions)
            rc = tsagg__part_read_column(s->part, TSAGG__COL_SESSION, g, c->session);
        for (uint32_t m = 0; rc == 0 && p->need_measures && m < p->nmeasures; m++) {
            k.meas[m] = NULL;
            if (s->fm[m] >= 0) {
                double *buf = c->meas + (size_t)m * G;
                rc = tsagg__part_read_column(s->part, TSAGG__COL_DIM0 + ndims + (uint32_t)s->fm[m],
                                             g, buf);
                k.meas[m] = buf;
            }
        }
        if (rc == 0)
            rc = scan_chunk(s, c, &k, gi->rows);
    }
    return rc;
}

/* Most columns a merchant scan reads: ts, filters, group, user, session,
 * measures. */
#define MAX_SLICES (4 + TSAGG_QUERY_MAX_FILTERS + TSAGG_SCHEMA_MAX_FIELDS)

/* One merchant's rows (index mi), from its cached column slices. */
static int scan_merchant(pscan *s, uint64_t mi, uint64_t rows)
{
    qplan *p = s->p;
    colbufs *c = scratch_of(p);
    if (!c)
        return -ENOMEM;
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(s->part));
    void *owned[MAX_SLICES];
    size_t nowned = 0;
    const void *base[MAX_SLICES];
    uint32_t cols[MAX_SLICES];
    size_t ncols = 0;
    /* The columns, in a fixed order: ts, filters, group, user, session,
     * measures. */
    chunk k;
    memset(&k, 0, sizeof k);
    int whole = whole_hour(s, &k.bucket);
    if (!whole)
        cols[ncols++] = TSAGG__COL_TS;
    for (uint32_t f = 0; f < p->nfilters; f++)
        if (s->fcol[f] != NOCOL)
            cols[ncols++] = s->fcol[f];
    int zero_groups = p->group_col != QCOL_NONE && s->group_dict == NOCOL;
    if (p->group_col != QCOL_NONE && !zero_groups)
        cols[ncols++] = s->group_dict;
    if (p->need_users)
        cols[ncols++] = TSAGG__COL_USER;
    if (p->need_sessions)
        cols[ncols++] = TSAGG__COL_SESSION;
    for (uint32_t m = 0; p->need_measures && m < p->nmeasures; m++)
        if (s->fm[m] >= 0)
            cols[ncols++] = TSAGG__COL_DIM0 + ndims + (uint32_t)s->fm[m];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ncols; i++) {
        void *own = NULL;
        rc = tsagg__pcent_slice(p->st, s->ent, mi, cols[i], &base[i], &own);
        if (own)
            owned[nowned++] = own;
    }
    if (zero_groups)
        memset(c->group, 0, sizeof c->group);
    for (uint64_t r = 0; rc == 0 && r < rows; r += G) {
        uint32_t n = rows - r < G ? (uint32_t)(rows - r) : G;
        size_t i = 0;
        if (!whole)
            k.ts = (const int64_t *)base[i++] + r;
        for (uint32_t f = 0; f < p->nfilters; f++)
            k.codes[f] = s->fcol[f] != NOCOL ? (const uint32_t *)base[i++] + r : NULL;
        k.group = zero_groups ? c->group
                  : p->group_col != QCOL_NONE ? (const uint32_t *)base[i++] + r
                                              : NULL;
        if (p->need_users)
            k.user = (const uint64_t *)base[i++] + r;
        if (p->need_sessions)
            k.session = (const uint64_t *)base[i++] + r;
        for (uint32_t m = 0; p->need_measures && m < p->nmeasures; m++)
            k.meas[m] = s->fm[m] >= 0 ? (const double *)base[i++] + r : NULL;
        rc = scan_chunk(s, c, &k, n);
    }
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    return rc;
}

/*
 * The query's merchant in the file's directory. Consecutive hours list
 * nearly the same merchants, so the index found in the previous file is
 * tried first: one cache line instead of a binary search's dozen.
 */
static int find_merchant(qplan *p, tsagg__part *part, uint64_t *mi)
{
    uint64_t m = p->q->merchant;
    for (uint64_t d = 0; d < 3; d++) {
        const tsagg__merchant_entry *e = tsagg__part_merchant(part, p->merchant_hint + d);
        if (e && e->merchant == m) {
            *mi = p->merchant_hint + d;
            return 1;
        }
    }
    if (!tsagg__part_find_merchant(part, m, mi))
        return 0;
    p->merchant_hint = *mi;
    return 1;
}

int tsagg__scan_partition(qplan *p, tsagg__pcent *ent)
{
    tsagg__part *part = tsagg__pcent_part(ent);
    int64_t hour = tsagg__part_get_info(part)->hour;
    if (hour + TSAGG__HOUR_US <= p->from || hour >= p->to)
        return 0;
    pscan s;
    int rc = pscan_init(&s, p, ent);
    if (rc != 0) {
        pscan_free(&s);
        return rc == 1 ? 0 : rc;
    }
    if (p->flags & TSAGG_QUERY_ALL_MERCHANTS) {
        rc = scan_groups(&s);
        pscan_free(&s);
        return rc;
    }
    uint64_t mi;
    if (!find_merchant(p, part, &mi)) {
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
        const tsagg__qrollup *qr;
        rc = tsagg__pcent_rollup(p->st, ent, mi, &qr);
        if (rc == 0) {
            if (rollup_usable(&s, qr))
                rc = scan_rollup(&s, qr, mi);
            else
                rollup_ok = 0;
        }
    }
    if (rc == 0 && !rollup_ok)
        rc = scan_merchant(&s, mi, me->rows);
    pscan_free(&s);
    return rc;
}
