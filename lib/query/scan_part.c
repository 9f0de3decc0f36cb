/*
 * scan_part.c - one partition file's contribution to a query.
 *
 * A file covers a span of whole hours (an hour, a day or a month). For one
 * merchant: its entry in the file's merchant index, then per hour segment
 * inside the range the merchant-hour's rollup when the question allows it
 * (counts and sums per minute and event name; distinct counts from the
 * hour's sketches when the hour lies whole inside one bucket), the
 * segment's rows otherwise; a merchant without segments (no hour busy
 * enough for a rollup) is answered from its rows, cut to the range by
 * their timestamps. Plain distinct counts by hour or longer buckets of a
 * merchant with rollups (or with rows enough in the file) take, per run of
 * its time in one bucket, one sketch the partcache keeps (built from the
 * hours' sketches and the rows of the hours the run cuts; the plan keeps
 * it by reference until the files are released, and a bucket made only of
 * such sketches is estimated from them in one pass), and counts from
 * the rollups or the timestamps, when a metric asks for counts or measures
 * (daily users alone read no hour's rollup): a day in a time zone half an
 * hour off UTC is not a row scan of the hour it starts in. Rows come from decoded
 * columns the partcache keeps (partcache.h): a small merchant's slices of
 * the columns the query needs; for a busy merchant's hours, and for all
 * merchants, the row groups that
 * hold them (for all merchants, every group whose time range meets the
 * query's). Rows are filtered through a selection vector on dictionary
 * codes, never on strings, in chunks of a row group; rows known to lie in
 * one bucket need no timestamps. Cheaper forms of the same work where the
 * question allows: counts alone of a merchant's time-sorted rows by a
 * binary search per bucket, or, by buckets and a range of whole hours,
 * from its rows' counts by hour (kept by the partcache) without reading
 * its rows; a one-bucket group-by over many rows by a
 * counter per dictionary code of the file; distinct ids by runs of rows of
 * one cell, mixed in one loop and inserted together; the rows of a filter
 * of one value on 1-byte codes (a country) by compare masks of 64 rows.
 * A group-by's codes find their groups by the handle-wide ids of their
 * strings (intern.h), not by the strings. A group-by of counts whose range
 * puts all of a merchant's rows of a file in one bucket takes their counts
 * by code under its filters from the partcache, which keeps them per
 * question (the file never changes): a week's top pages is then a few
 * thousand counts per day file, not a scan of its rows.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eqmask.h"
#include "partcache.h"
#include "query_internal.h"

#define G TSAGG__PART_GROUP_ROWS
#define MINUTE_US INT64_C(60000000)

/* A query column the file does not have (its schema predates the
 * dimension): every row of the file holds "" there. */
#define NOCOL UINT32_MAX

/* Filter codes past which a group-by's counts are not cached: a filter of
 * many values is rarely asked twice, and would take the merchant's few
 * slots (partcache.h). */
#define KEY_MAX_CODES 8

/* Per-partition view of the query: dictionary codes instead of strings, and
 * the file's own column numbers (its schema may differ from the store's
 * after a rebuild, so columns are matched by name). */
typedef struct pscan {
    qplan *p;
    tsagg__pcent *ent;
    tsagg__part *part;
    tsagg__pcmerch *merch; /* the query's merchant; NULL for all merchants */
    uint32_t fcol[TSAGG_QUERY_MAX_FILTERS];     /* per filter: file column, NOCOL: skip */
    uint8_t *allowed[TSAGG_QUERY_MAX_FILTERS];  /* per filter: code -> passes */
    uint32_t only[TSAGG_QUERY_MAX_FILTERS];     /* per filter: the one code that
                                                   passes, NOCOL: several */
    uint32_t *group_of; /* code -> group + 1, 0 unknown: the plan's memo
                           (query_internal.h), NULL until first used */
    uint32_t group_dict;                        /* column of group_of, or NOCOL */
    _Atomic uint32_t *group_ids;                /* code -> handle-wide id (partcache.h) */
    uint64_t *code_count; /* one-bucket counts by group-by code, added to the
                             groups when the file is done; NULL: not used
                             (the plan's, all 0 between files) */
    uint64_t *touched;    /* bit per code whose counter may be non-zero */
    int all_touched;      /* or any counter may be */
    uint32_t ncodes;      /* of the group-by dictionary */
    int by_code;          /* the rows scanned outnumber the codes enough */
    int fm[TSAGG_QUERY_MAX_METRICS];            /* plan measure -> file measure or -1 */
    const int *fd;                              /* store dimension -> file dimension or -1 */
    /* Per filter the codes that pass, as met (KEY_MAX_CODES + 1: more),
     * which name a cached group-by's counts (scan_by_code_counts). */
    uint32_t key_codes[TSAGG_QUERY_MAX_FILTERS][KEY_MAX_CODES];
    uint32_t nkey_codes[TSAGG_QUERY_MAX_FILTERS];
    int counting_codes; /* every row to the code counters (build_code_counts) */
    const uint32_t *cc_key; /* the key of the counts being built */
    uint32_t cc_keylen;
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
    /* The memo back to all 0 for the next file. */
    qplan *p = s->p;
    for (uint32_t i = 0; s->group_of && i < p->nmemo_set; i++)
        p->memo[p->memo_set[i]] = 0;
    p->nmemo_set = 0;
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
        uint32_t any = 0;
        s->only[f] = NOCOL;
        for (uint32_t v = 0; v < qf->nvalues; v++) {
            uint32_t code;
            int rc = tsagg__part_dict_find(part, col, qf->values[v], qf->lens[v], &code);
            if (rc < 0)
                return rc;
            if (rc == 1 && code < n && !s->allowed[f][code]) {
                s->allowed[f][code] = 1;
                if (s->nkey_codes[f] < KEY_MAX_CODES)
                    s->key_codes[f][s->nkey_codes[f]] = code;
                s->nkey_codes[f] += s->nkey_codes[f] <= KEY_MAX_CODES;
                s->only[f] = any++ ? NOCOL : code;
            }
        }
        if (!any)
            return 1;
    }
    if (p->group_col != QCOL_NONE) {
        s->group_dict = col_of(s, p->group_col);
        if (s->group_dict != NOCOL) {
            int rc = tsagg__pcent_dict_ids(ent, s->group_dict, &s->group_ids);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* group_of's mark of a code whose group the plan skips. */
#define SKIP_CODE UINT32_MAX

/* The query group of a dictionary code of the group-by column (QGROUP_SKIP:
 * not one the plan keeps), found by the code's handle-wide id. */
static int lookup_group(pscan *s, uint32_t code, size_t *group)
{
    int rc = 1;
    uint32_t id;
    if (s->group_ids &&
        (rc = tsagg__pcent_code_id(s->p->st, s->ent, s->group_dict, s->group_ids, code, &id)) == 0 &&
        (rc = tsagg__qplan_id_group(s->p, id, group)) == 1) {
        /* The plan meets this key for the first time: by its string once. */
        const tsagg__intern_str *k = tsagg__partcache_key(s->p->st, id);
        if ((rc = tsagg__qplan_group_interned(s->p, k->s, k->len, k->hash, group)) == 0)
            rc = tsagg__qplan_map_id(s->p, id, *group);
    }
    if (rc == 1) { /* no id: by string */
        const char *str = "";
        size_t len = 0;
        rc = 0;
        if (s->group_dict != NOCOL)
            rc = tsagg__part_dict_get(s->part, s->group_dict, code, &str, &len);
        if (rc == 0)
            rc = tsagg__qplan_group(s->p, str, len, group);
    }
    return rc;
}

/* The same, remembered in group_of for the rows that follow (on first use:
 * counts by code look each code up once and need none). The memo is the
 * plan's, grown to the file's codes and all 0 between files: a file's page
 * dictionary has tens of thousands of codes, a merchant's rows a few. */
static int group_of_code(pscan *s, uint32_t code, size_t *group)
{
    if (s->p->group_col == QCOL_NONE) {
        *group = 0;
        return 0;
    }
    qplan *p = s->p;
    if (!s->group_of) {
        uint32_t n = 1 + (s->group_dict == NOCOL ? 0 : tsagg__part_dict_size(s->part, s->group_dict));
        if (p->memo_cap < n) {
            free(p->memo);
            free(p->memo_set);
            p->memo = calloc(n, sizeof *p->memo);
            p->memo_set = malloc(n * sizeof *p->memo_set);
            p->memo_cap = p->memo && p->memo_set ? n : 0;
            if (!p->memo_cap)
                return -ENOMEM;
        }
        s->group_of = p->memo;
    }
    uint32_t known = s->group_of[code];
    if (known) {
        *group = known == SKIP_CODE ? QGROUP_SKIP : known - 1;
        return 0;
    }
    int rc = lookup_group(s, code, group);
    if (rc == 0) {
        s->group_of[code] = *group == QGROUP_SKIP ? SKIP_CODE : (uint32_t)*group + 1;
        p->memo_set[p->nmemo_set++] = code;
    }
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

/* Whether a merchant-hour's rollup can answer this query for that hour. */
static int rollup_usable(const pscan *s, const tsagg__qrollup *qr, int64_t hour)
{
    const qplan *p = s->p;
    int64_t lo = hour, hi = hour + TSAGG__HOUR_US;
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

/* The merchant-hour of segment seg, from its rollup summary qr; its
 * distinct ids too when `sketches`. */
static int scan_rollup(pscan *s, const tsagg__qrollup *qr, const tsagg__hour_segment *seg,
                       int sketches)
{
    qplan *p = s->p;
    int64_t lo = seg->hour, hi = seg->hour + TSAGG__HOUR_US;
    size_t b = tsagg__qplan_bucket(p, lo > p->from ? lo : p->from);
    /* The dashboard case, the whole hour in one bucket: the summary's
     * per-event totals. Otherwise the per-minute entries. */
    int whole = p->from <= lo && p->to >= hi && b == tsagg__qplan_bucket(p, hi - 1);
    int rc = 0;
    /* Counts alone, nothing to filter or group (an hourly series): the
     * hour's total. */
    int total = whole && p->nfilters == 0 && p->group_col == QCOL_NONE && !p->need_measures;
    if (total)
        p->count[tsagg__qplan_cell(p, 0, b)] += qr->total;
    for (uint32_t k = 0; whole && !total && rc == 0 && k < qr->nev; k++) {
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
        if ((rc = tsagg__part_rollup_counts(s->part, tsagg__pcmerch_entry(s->merch), seg, &r)) != 0)
            return rc;
        for (uint32_t e = 0; rc == 0 && e < r.n; e++) {
            int64_t ts = lo + (int64_t)r.minute[e] * MINUTE_US;
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
    if (rc != 0 || !sketches || (!p->need_users && !p->need_sessions))
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

/* Per-query buffers of the row scans (qplan scratch), allocated once:
 * the selection vector, the codes of a group-by column the file lacks
 * (all ""), and one row's measures. */
typedef struct colbufs {
    uint32_t group[G];
    uint16_t sel[G];
    double row_meas[TSAGG_SCHEMA_MAX_FIELDS];
    size_t cell[G];     /* per selected row: its cell, SIZE_MAX skipped */
    uint8_t pass[G];    /* per row: 1 when it passes every filter */
    uint64_t mixed[G];  /* the mixed ids of a run of one cell */
} colbufs;

static colbufs *scratch_of(qplan *p)
{
    if (!p->scratch)
        p->scratch = malloc(sizeof(colbufs));
    return p->scratch;
}

/* Dictionary codes of up to G rows, 1, 2 or 4 bytes each (cached row
 * groups keep them narrow, tsagg__pcent_group_code_bytes). */
typedef struct codev {
    const void *v; /* at the first row */
    unsigned bytes;
} codev;

static inline uint32_t code_at(codev c, uint32_t i)
{
    return c.bytes == 1   ? ((const uint8_t *)c.v)[i]
           : c.bytes == 2 ? ((const uint16_t *)c.v)[i]
                          : ((const uint32_t *)c.v)[i];
}

/* Codes from row off on; bytes per code. */
static codev codes_from(const void *v, unsigned bytes, uint64_t off)
{
    return (codev){(const char *)v + off * bytes, bytes};
}

/* The columns of up to G rows, each pointer at the first row. */
typedef struct chunk {
    const int64_t *ts; /* NULL: every row is in range, in bucket `bucket` */
    size_t bucket;
    codev codes[TSAGG_QUERY_MAX_FILTERS]; /* v NULL: the filter passes all */
    codev group;
    const uint64_t *user, *session;
    const double *meas[TSAGG_SCHEMA_MAX_FIELDS]; /* NULL: absent in the file */
} chunk;

/* The group of a row's code: the partition's memo, else the plan's table. */
static inline int row_group(pscan *s, uint32_t code, size_t *grp)
{
    uint32_t known = s->group_of ? s->group_of[code] : 0;
    if (known && known != SKIP_CODE) {
        *grp = known - 1;
        return 0;
    }
    return group_of_code(s, code, grp);
}

/* The bucket last found and its bounds: a merchant's rows are in time
 * order, so most rows fall in the bucket of the row before (a day, week or
 * month bucket is otherwise a binary search per row). */
typedef struct bcache {
    int64_t lo, hi; /* [starts[b], starts[b + 1]) */
    size_t b;
} bcache;

static inline size_t bucket_of(const qplan *p, bcache *bc, int64_t ts)
{
    if (ts < bc->lo || ts >= bc->hi) {
        bc->b = tsagg__qplan_bucket(p, ts);
        bc->lo = p->starts[bc->b];
        bc->hi = p->starts[bc->b + 1];
    }
    return bc->b;
}

/* Ids of a cell's first run below which its sketch grows as it goes. */
#define RESERVE_MIN_IDS 64

/* Insert into *slot the mixed ids of the run's rows, an id equal to the
 * row before's (a visitor's events follow each other) and 0 (absent) left
 * out. */
static int insert_run(qplan *p, tsagg__hll **slot, uint64_t *mixed, const uint64_t *ids,
                      const uint16_t *sel, uint32_t a, uint32_t b)
{
    uint32_t n = 0;
    uint64_t last = 0;
    for (uint32_t j = a; j < b; j++) {
        uint64_t id = ids[sel[j]];
        mixed[n] = tsagg__hll_mix(id);
        n += id != last && id != 0;
        last = id;
    }
    if (n == 0)
        return 0;
    /* A cell's first run of a few ids (a small merchant's day) does not
     * reserve a sketch's full memory: a month of days did that 31 times
     * for a few dozen ids, most of such a query's time. */
    tsagg__hll *h = !*slot && n < RESERVE_MIN_IDS ? tsagg__qplan_hll(slot)
                                                   : tsagg__qplan_row_hll(p, slot);
    return h ? tsagg__hll_insert_many(h, mixed, n) : -ENOMEM;
}

/* Counts and distinct counts of the m selected rows, no measures, not
 * exact: the cells first, then per run of rows of one cell (a merchant's
 * rows are in time order, so runs are long) one count and one pass over
 * the ids, instead of an accumulator call per row. */
static int scan_chunk_ids(pscan *s, colbufs *c, const chunk *k, uint32_t m, bcache *bc)
{
    qplan *p = s->p;
    int grouped = p->group_col != QCOL_NONE;
    int rc = 0;
    for (uint32_t j = 0; j < m; j++) {
        uint32_t i = c->sel[j];
        size_t grp = 0;
        if (grouped && (rc = row_group(s, code_at(k->group, i), &grp)) != 0)
            return rc;
        c->cell[j] = grp == QGROUP_SKIP
                         ? SIZE_MAX
                         : tsagg__qplan_cell(p, grp, k->ts ? bucket_of(p, bc, k->ts[i]) : k->bucket);
    }
    for (uint32_t a = 0, b; rc == 0 && a < m; a = b) {
        size_t cell = c->cell[a];
        for (b = a + 1; b < m && c->cell[b] == cell; b++)
            ;
        if (cell == SIZE_MAX)
            continue;
        p->count[cell] += b - a;
        if (p->need_users)
            rc = insert_run(p, &p->users[cell], c->mixed, k->user, c->sel, a, b);
        if (rc == 0 && p->need_sessions)
            rc = insert_run(p, &p->sessions[cell], c->mixed, k->session, c->sel, a, b);
    }
    return rc;
}

/* Per row of n: whether it passes every filter, into c->pass. */
static void pass_filters(pscan *s, colbufs *c, const chunk *k, uint32_t n)
{
    qplan *p = s->p;
    uint8_t *pass = c->pass;
    int first = 1;
    for (uint32_t f = 0; f < p->nfilters; f++) {
        if (!k->codes[f].v)
            continue;
        const uint8_t *ok = s->allowed[f];
        /* One value (--where k=v): a comparison, which vectorises, rather
         * than a table lookup per row. */
        uint32_t only = s->only[f];
#define PASS(T)                                                                                \
    do {                                                                                       \
        const T *cv = k->codes[f].v;                                                           \
        const T eq = (T)only;                                                                  \
        if (only != NOCOL && first)                                                            \
            for (uint32_t i = 0; i < n; i++)                                                   \
                pass[i] = cv[i] == eq;                                                         \
        else if (only != NOCOL)                                                                \
            for (uint32_t i = 0; i < n; i++)                                                   \
                pass[i] &= cv[i] == eq;                                                        \
        else if (first)                                                                        \
            for (uint32_t i = 0; i < n; i++)                                                   \
                pass[i] = ok[cv[i]];                                                           \
        else                                                                                   \
            for (uint32_t i = 0; i < n; i++)                                                   \
                pass[i] &= ok[cv[i]];                                                          \
    } while (0)
        if (k->codes[f].bytes == 1)
            PASS(uint8_t);
        else if (k->codes[f].bytes == 2)
            PASS(uint16_t);
        else
            PASS(uint32_t);
#undef PASS
        first = 0;
    }
    if (first)
        memset(pass, 1, n);
}

/* Add 1 to cnt[group code] of each of the n rows whose 1-byte filter code
 * is eq (--where country=US): the rows are compared 64 at a time into a
 * bit mask (which vectorises), and only the matching rows, a fraction of a
 * busy merchant's, touch the counters. */
static void count_one_code(uint64_t *cnt, uint64_t *touched, const uint8_t *cv, uint8_t eq,
                           codev group, uint32_t n)
{
#define TOUCH(code)                                                                            \
    do {                                                                                       \
        uint32_t c_ = (code);                                                                  \
        if (__builtin_expect(cnt[c_]++ == 0, 0))                                               \
            touched[c_ >> 6] |= UINT64_C(1) << (c_ & 63);                                      \
    } while (0)
    uint32_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint64_t mask = tsagg__eq_mask64(cv + i, eq);
        if (group.bytes == 2) {
            const uint16_t *gv = (const uint16_t *)group.v + i;
            for (; mask; mask &= mask - 1)
                TOUCH(gv[__builtin_ctzll(mask)]);
        } else {
            for (; mask; mask &= mask - 1)
                TOUCH(code_at(group, i + (uint32_t)__builtin_ctzll(mask)));
        }
    }
    for (; i < n; i++)
        if (cv[i] == eq)
            TOUCH(code_at(group, i));
#undef TOUCH
}

/* The rows of n (up to G) whose 1-byte code is eq, into sel; how many. */
static uint32_t select_one_code(uint16_t *sel, const uint8_t *cv, uint8_t eq, uint32_t n)
{
    uint32_t m = 0, i = 0;
    for (; i + 64 <= n; i += 64)
        for (uint64_t mask = tsagg__eq_mask64(cv + i, eq); mask; mask &= mask - 1)
            sel[m++] = (uint16_t)(i + (uint32_t)__builtin_ctzll(mask));
    for (; i < n; i++) {
        sel[m] = (uint16_t)i;
        m += cv[i] == eq;
    }
    return m;
}

/* Counts of n rows in one bucket of a one-bucket question (a top N of
 * pages over a week), grouped: per row, whether it passes the filters,
 * then its group-by code's counter; no selection vector, no group lookup
 * per row. The counters are the file's (code_count). */
static void count_by_code(pscan *s, colbufs *c, const chunk *k, uint32_t n)
{
    qplan *p = s->p;
    uint64_t *cnt = s->code_count;
    /* One filter on 1-byte codes (a country) and 2-byte group codes: one
     * pass, no pass[] written and read back. */
    uint32_t active = 0, only = 0;
    for (uint32_t f = 0; f < p->nfilters; f++)
        if (k->codes[f].v) {
            active++;
            only = f;
        }
    if (active == 1 && k->codes[only].bytes == 1 && s->only[only] != NOCOL) {
        count_one_code(cnt, s->touched, k->codes[only].v, (uint8_t)s->only[only], k->group, n);
        return;
    }
    /* Every row adds to its code's counter (maybe 0): all are looked at. */
    s->all_touched = 1;
    if (active == 1 && k->codes[only].bytes == 1 && k->group.bytes == 2) {
        const uint8_t *ok = s->allowed[only], *cv = k->codes[only].v;
        const uint16_t *gv = k->group.v;
        for (uint32_t i = 0; i < n; i++)
            cnt[gv[i]] += ok[cv[i]];
        return;
    }
    pass_filters(s, c, k, n);
    const uint8_t *pass = c->pass;
#define COUNT(T)                                                                               \
    do {                                                                                       \
        const T *gv = k->group.v;                                                              \
        for (uint32_t i = 0; i < n; i++)                                                       \
            cnt[gv[i]] += pass[i];                                                             \
    } while (0)
    if (k->group.bytes == 1)
        COUNT(uint8_t);
    else if (k->group.bytes == 2)
        COUNT(uint16_t);
    else
        COUNT(uint32_t);
#undef COUNT
}

/* Rows per group-by code from which counting by code pays. */
#define BY_CODE_ROWS_PER_CODE 4

/* Point code_count and touched at the plan's counters, grown to the
 * file's codes (they stay all 0 between files: a busy merchant's day file
 * has tens of thousands of page codes, of which a query meets a few). */
static int code_counters(pscan *s)
{
    qplan *p = s->p;
    /* Whole words of touched bits: the codes past the file's are 0. */
    uint32_t n = (s->ncodes + 63) / 64 * 64;
    if (p->code_count_cap < n) {
        free(p->code_count);
        free(p->code_touched);
        p->code_count = calloc(n, sizeof *p->code_count);
        p->code_touched = calloc((n + 63) / 64, sizeof *p->code_touched);
        p->code_count_cap = p->code_count && p->code_touched ? n : 0;
        if (!p->code_count_cap)
            return -ENOMEM;
    }
    s->code_count = p->code_count;
    s->touched = p->code_touched;
    return 0;
}

/* Add the file's code_count to the groups, the touched codes only, and
 * leave the counters all 0. */
static int flush_code_counts(pscan *s)
{
    qplan *p = s->p;
    int rc = 0;
    for (uint32_t w = 0; w < (s->ncodes + 63) / 64; w++) {
        uint64_t bits = s->all_touched ? UINT64_MAX : s->touched[w];
        s->touched[w] = 0;
        for (; bits; bits &= bits - 1) {
            uint32_t code = w * 64 + (uint32_t)__builtin_ctzll(bits);
            uint64_t n = s->code_count[code];
            s->code_count[code] = 0;
            size_t g;
            if (n && rc == 0 && (rc = lookup_group(s, code, &g)) == 0 && g != QGROUP_SKIP)
                p->count[tsagg__qplan_cell(p, g, 0)] += n;
        }
    }
    return rc;
}

/* Filter and accumulate n <= G rows. */
static int scan_chunk(pscan *s, colbufs *c, const chunk *k, uint32_t n)
{
    qplan *p = s->p;
    int grouped = p->group_col != QCOL_NONE;
    if (grouped && !k->ts && (s->counting_codes || (s->by_code && p->nbuckets == 1)) &&
        !p->need_measures && !p->need_users && !p->need_sessions) {
        int rc = s->code_count ? 0 : code_counters(s);
        if (rc != 0)
            return rc;
        count_by_code(s, c, k, n);
        return 0;
    }
    bcache bc = {INT64_MAX, INT64_MIN, 0}; /* empty */
    /* Counts of rows all in one bucket, nothing to filter or group: no
     * selection vector (a busy merchant's quiet hours, one chunk each). */
    int filtered = 0;
    for (uint32_t f = 0; f < p->nfilters; f++)
        filtered |= k->codes[f].v != NULL;
    if (!k->ts && !filtered && !grouped && !p->need_measures && !p->need_users &&
        !p->need_sessions) {
        p->count[tsagg__qplan_cell(p, 0, k->bucket)] += n;
        return 0;
    }
    /* Counts of rows all in one bucket through filters alone (a busy
     * merchant's hour with --where): a pass over each filter's codes and
     * a sum, which the compiler vectorises, rather than a selection
     * vector narrowed row by row. */
    if (!k->ts && !grouped && !p->need_measures && !p->need_users && !p->need_sessions) {
        pass_filters(s, c, k, n);
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n; i++)
            kept += c->pass[i];
        p->count[tsagg__qplan_cell(p, 0, k->bucket)] += kept;
        return 0;
    }
    /* Selection vector: rows in range, then narrowed by each filter (a
     * first filter of one value on 1-byte codes selects by bit masks). */
    uint32_t m = 0, selected = NOCOL;
    for (uint32_t f = 0; !k->ts && selected == NOCOL && f < p->nfilters; f++)
        if (k->codes[f].v)
            selected = k->codes[f].bytes == 1 && s->only[f] != NOCOL ? f : TSAGG_QUERY_MAX_FILTERS;
    if (selected < TSAGG_QUERY_MAX_FILTERS) {
        m = select_one_code(c->sel, k->codes[selected].v, (uint8_t)s->only[selected], n);
    } else if (!k->ts) {
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
        if (!k->codes[f].v || f == selected)
            continue;
        const uint8_t *ok = s->allowed[f];
        uint32_t kept = 0;
#define NARROW(T)                                                                              \
    do {                                                                                       \
        const T *cv = k->codes[f].v;                                                           \
        for (uint32_t j = 0; j < m; j++) {                                                     \
            c->sel[kept] = c->sel[j];                                                          \
            kept += ok[cv[c->sel[j]]];                                                         \
        }                                                                                      \
    } while (0)
        if (k->codes[f].bytes == 1)
            NARROW(uint8_t);
        else if (k->codes[f].bytes == 2)
            NARROW(uint16_t);
        else
            NARROW(uint32_t);
#undef NARROW
        m = kept;
    }
    int rc = 0;
    if (!p->need_measures && !p->need_users && !p->need_sessions) {
        /* Counts alone: no per-row accumulator call. */
        if (!grouped && !k->ts) {
            p->count[tsagg__qplan_cell(p, 0, k->bucket)] += m;
            return 0;
        }
        /* Rows of one cell follow each other (a merchant's rows are in
         * time order): counted in a register, added once per run. */
        size_t run_cell = SIZE_MAX;
        uint64_t run = 0;
        for (uint32_t j = 0; j < m; j++) {
            uint32_t i = c->sel[j];
            size_t grp = 0;
            if (grouped && (rc = row_group(s, code_at(k->group, i), &grp)) != 0)
                break;
            if (grp == QGROUP_SKIP)
                continue;
            size_t cell =
                tsagg__qplan_cell(p, grp, k->ts ? bucket_of(p, &bc, k->ts[i]) : k->bucket);
            if (cell != run_cell) {
                if (run)
                    p->count[run_cell] += run;
                run_cell = cell;
                run = 0;
            }
            run++;
        }
        if (run)
            p->count[run_cell] += run;
        return rc;
    }
    if (!p->need_measures && !p->exact)
        return scan_chunk_ids(s, c, k, m, &bc);
    /* A row of the same cell, user and session as the one before (a
     * visitor's events follow each other in a merchant's rows) only counts:
     * its ids are in the cell's sets already. */
    size_t last_cell = SIZE_MAX;
    uint64_t last_user = 0, last_session = 0;
    for (uint32_t j = 0; rc == 0 && j < m; j++) {
        uint32_t i = c->sel[j];
        size_t grp = 0;
        if (grouped && (rc = row_group(s, code_at(k->group, i), &grp)) != 0)
            break;
        if (grp == QGROUP_SKIP)
            continue;
        size_t cell =
            tsagg__qplan_cell(p, grp, k->ts ? bucket_of(p, &bc, k->ts[i]) : k->bucket);
        uint64_t user = p->need_users ? k->user[i] : 0;
        uint64_t session = p->need_sessions ? k->session[i] : 0;
        if (!p->need_measures && cell == last_cell && user == last_user &&
            session == last_session) {
            p->count[cell]++;
            continue;
        }
        for (uint32_t x = 0; p->need_measures && x < p->nmeasures; x++)
            c->row_meas[x] = k->meas[x] ? k->meas[x][i] : NAN;
        rc = tsagg__qplan_add(p, cell, user, session, c->row_meas);
        last_cell = cell;
        last_user = user;
        last_session = session;
    }
    return rc;
}

/* Whether rows known to lie in [lo, hi) lie inside the range and inside
 * one bucket: then they need no timestamps. */
static int whole_range(const qplan *p, int64_t lo, int64_t hi, size_t *bucket)
{
    if (p->from > lo || p->to < hi)
        return 0;
    *bucket = tsagg__qplan_bucket(p, lo);
    return *bucket == tsagg__qplan_bucket(p, hi - 1);
}

/* Point k at the columns the query reads of row group g, from its row off
 * on (decoded groups are cached, partcache.h); timestamps when need_ts. */
static int group_chunk(pscan *s, colbufs *c, uint32_t g, uint32_t off, int need_ts, chunk *k)
{
    qplan *p = s->p;
    tsagg_store *st = p->st;
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(s->part));
    const void *v;
    int rc = 0;
    k->ts = NULL;
    if (need_ts && (rc = tsagg__pcent_group_col(st, s->ent, g, TSAGG__COL_TS, &v)) == 0)
        k->ts = (const int64_t *)v + off;
    for (uint32_t f = 0; rc == 0 && f < p->nfilters; f++) {
        k->codes[f] = (codev){NULL, 4};
        if (s->fcol[f] != NOCOL && (rc = tsagg__pcent_group_col(st, s->ent, g, s->fcol[f], &v)) == 0)
            k->codes[f] = codes_from(v, tsagg__pcent_group_code_bytes(s->ent, s->fcol[f]), off);
    }
    k->group = (codev){NULL, 4};
    if (rc == 0 && p->group_col != QCOL_NONE && s->group_dict == NOCOL) {
        memset(c->group, 0, sizeof c->group);
        k->group = (codev){c->group, 4};
    } else if (rc == 0 && p->group_col != QCOL_NONE &&
               (rc = tsagg__pcent_group_col(st, s->ent, g, s->group_dict, &v)) == 0) {
        k->group = codes_from(v, tsagg__pcent_group_code_bytes(s->ent, s->group_dict), off);
    }
    k->user = k->session = NULL;
    if (rc == 0 && p->need_users && (rc = tsagg__pcent_group_col(st, s->ent, g, TSAGG__COL_USER, &v)) == 0)
        k->user = (const uint64_t *)v + off;
    if (rc == 0 && p->need_sessions &&
        (rc = tsagg__pcent_group_col(st, s->ent, g, TSAGG__COL_SESSION, &v)) == 0)
        k->session = (const uint64_t *)v + off;
    for (uint32_t m = 0; rc == 0 && p->need_measures && m < p->nmeasures; m++) {
        k->meas[m] = NULL;
        if (s->fm[m] >= 0 &&
            (rc = tsagg__pcent_group_col(st, s->ent, g, TSAGG__COL_DIM0 + ndims + (uint32_t)s->fm[m],
                                         &v)) == 0)
            k->meas[m] = (const double *)v + off;
    }
    return rc;
}

/* Every row of the partition (all merchants), one row group at a time;
 * groups whose time range misses the query's are skipped. */
static int scan_groups(pscan *s)
{
    qplan *p = s->p;
    colbufs *c = scratch_of(p);
    if (!c)
        return -ENOMEM;
    chunk k;
    memset(&k, 0, sizeof k);
    int rc = 0;
    uint32_t ng = tsagg__part_groups(s->part);
    for (uint32_t g = 0; rc == 0 && g < ng; g++) {
        const tsagg__group_info *gi = tsagg__part_group(s->part, g);
        if (!gi)
            break;
        if (gi->max_ts < p->from || gi->min_ts >= p->to)
            continue;
        int whole = whole_range(p, gi->min_ts, gi->max_ts + 1, &k.bucket);
        rc = group_chunk(s, c, g, 0, !whole, &k);
        if (rc == 0)
            rc = scan_chunk(s, c, &k, gi->rows);
    }
    return rc;
}

/* Rows [r0, r0 + n) of the file, all with timestamps in [lo, hi), read
 * from the decoded row groups that hold them: a busy merchant's hour. */
static int scan_file_rows(pscan *s, uint64_t r0, uint64_t n, int64_t lo, int64_t hi)
{
    colbufs *c = scratch_of(s->p);
    if (!c)
        return -ENOMEM;
    chunk k;
    memset(&k, 0, sizeof k);
    int whole = whole_range(s->p, lo, hi, &k.bucket);
    int rc = 0;
    for (uint64_t r = r0; rc == 0 && r < r0 + n;) {
        uint32_t g = (uint32_t)(r / G), off = (uint32_t)(r % G);
        uint32_t m = G - off;
        if (m > r0 + n - r)
            m = (uint32_t)(r0 + n - r);
        rc = group_chunk(s, c, g, off, !whole, &k);
        if (rc == 0)
            rc = scan_chunk(s, c, &k, m);
        r += m;
    }
    return rc;
}

/* Most columns a merchant scan reads: ts, filters, group, user, session,
 * measures. */
#define MAX_SLICES (4 + TSAGG_QUERY_MAX_FILTERS + TSAGG_SCHEMA_MAX_FIELDS)

/* The merchant's column slices a row scan reads, fetched on first use. */
typedef struct mrows {
    int ready;
    const int64_t *ts; /* NULL until rows need timestamps */
    const void *codes[TSAGG_QUERY_MAX_FILTERS]; /* group_code_bytes each */
    const void *group;
    const uint64_t *user, *session;
    const double *meas[TSAGG_SCHEMA_MAX_FIELDS];
    void *owned[MAX_SLICES]; /* copies the cache had no room for */
    size_t nowned;
} mrows;

static void mrows_free(mrows *r)
{
    for (size_t i = 0; i < r->nowned; i++)
        free(r->owned[i]);
}

static int mrows_col(pscan *s, mrows *r, uint32_t col, const void **out)
{
    void *own = NULL;
    int rc = tsagg__pcent_slice(s->p->st, s->ent, s->merch, col, out, &own);
    if (own)
        r->owned[r->nowned++] = own;
    return rc;
}

/* Every slice but the timestamps. */
static int mrows_fetch(pscan *s, mrows *r)
{
    qplan *p = s->p;
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(s->part));
    const void *v;
    int rc = 0;
    for (uint32_t f = 0; rc == 0 && f < p->nfilters; f++)
        if (s->fcol[f] != NOCOL && (rc = mrows_col(s, r, s->fcol[f], &v)) == 0)
            r->codes[f] = v;
    if (rc == 0 && p->group_col != QCOL_NONE && s->group_dict != NOCOL &&
        (rc = mrows_col(s, r, s->group_dict, &v)) == 0)
        r->group = v;
    if (rc == 0 && p->need_users && (rc = mrows_col(s, r, TSAGG__COL_USER, &v)) == 0)
        r->user = v;
    if (rc == 0 && p->need_sessions && (rc = mrows_col(s, r, TSAGG__COL_SESSION, &v)) == 0)
        r->session = v;
    for (uint32_t m = 0; rc == 0 && p->need_measures && m < p->nmeasures; m++)
        if (s->fm[m] >= 0 &&
            (rc = mrows_col(s, r, TSAGG__COL_DIM0 + ndims + (uint32_t)s->fm[m], &v)) == 0)
            r->meas[m] = v;
    r->ready = rc == 0;
    return rc;
}

static int mrows_ts(pscan *s, mrows *r)
{
    const void *v;
    int rc = r->ts ? 0 : mrows_col(s, r, TSAGG__COL_TS, &v);
    if (rc == 0 && !r->ts)
        r->ts = v;
    return rc;
}

uint64_t tsagg__first_at_or_after(const int64_t *ts, uint64_t n, int64_t t)
{
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether the question is counts alone of the merchant's rows: nothing
 * to filter (a filter on a column the file lacks passes every row) or
 * group, no measures or distinct ids. */
static int counts_alone(const pscan *s)
{
    const qplan *p = s->p;
    for (uint32_t f = 0; f < p->nfilters; f++)
        if (s->fcol[f] != NOCOL)
            return 0;
    return p->group_col == QCOL_NONE && !p->need_measures && !p->need_users &&
           !p->need_sessions;
}

/* Counts alone of a merchant without segments by buckets of whole hours
 * in a range of whole hours: per hour of its time, its rows by the hour
 * counts the cache keeps. 1 when they cannot be kept. */
static int count_by_hours(pscan *s)
{
    qplan *p = s->p;
    const tsagg__hour_rows *h;
    int rc = tsagg__pcent_hour_rows(p->st, s->ent, s->merch, &h);
    if (rc != 0)
        return rc;
    bcache bc = {INT64_MAX, INT64_MIN, 0}; /* empty */
    for (uint32_t k = 0; k < h->nhours; k++) {
        uint32_t n = h->row[k + 1] - h->row[k];
        int64_t t = h->first_hour + (int64_t)k * TSAGG__HOUR_US;
        if (n && t >= p->from && t < p->to)
            p->count[tsagg__qplan_cell(p, 0, bucket_of(p, &bc, t))] += n;
    }
    return 0;
}

/* Counts alone of rows sorted by time, in range, nothing to filter or
 * group: per bucket one binary search for where it ends, not a look at
 * every row. */
static void count_sorted(qplan *p, const int64_t *ts, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        size_t b = tsagg__qplan_bucket(p, ts[i]);
        uint64_t j = i + tsagg__first_at_or_after(ts + i, n - i, p->starts[b + 1]);
        p->count[tsagg__qplan_cell(p, 0, b)] += j - i;
        i = j;
    }
}

/* The merchant's rows [r0, r0 + n) (numbered from its first row), all with
 * timestamps in [lo, hi). */
static int scan_rows(pscan *s, mrows *r, uint64_t r0, uint64_t n, int64_t lo, int64_t hi)
{
    qplan *p = s->p;
    colbufs *c = scratch_of(p);
    if (!c)
        return -ENOMEM;
    int rc = r->ready ? 0 : mrows_fetch(s, r);
    chunk k;
    memset(&k, 0, sizeof k);
    int whole = whole_range(p, lo, hi, &k.bucket);
    if (rc == 0 && !whole)
        rc = mrows_ts(s, r);
    if (rc == 0 && !whole && counts_alone(s)) {
        count_sorted(p, r->ts + r0, n);
        return 0;
    }
    int zero_groups = p->group_col != QCOL_NONE && s->group_dict == NOCOL;
    if (zero_groups)
        memset(c->group, 0, sizeof c->group);
    for (uint64_t i = r0; rc == 0 && i < r0 + n; i += G) {
        uint32_t m = r0 + n - i < G ? (uint32_t)(r0 + n - i) : G;
        k.ts = whole ? NULL : r->ts + i;
        for (uint32_t f = 0; f < p->nfilters; f++)
            k.codes[f] = s->fcol[f] != NOCOL
                             ? codes_from(r->codes[f],
                                          tsagg__pcent_group_code_bytes(s->ent, s->fcol[f]), i)
                             : (codev){NULL, 4};
        k.group = zero_groups ? (codev){c->group, 4}
                  : r->group  ? codes_from(r->group,
                                           tsagg__pcent_group_code_bytes(s->ent, s->group_dict), i)
                              : (codev){NULL, 4};
        k.user = r->user ? r->user + i : NULL;
        k.session = r->session ? r->session + i : NULL;
        for (uint32_t x = 0; p->need_measures && x < p->nmeasures; x++)
            k.meas[x] = r->meas[x] ? r->meas[x] + i : NULL;
        rc = scan_chunk(s, c, &k, m);
    }
    return rc;
}

/* A merchant without hour segments by buckets and a range of whole hours:
 * per run of its hours in one bucket inside the range, the rows the
 * hours' row counts say it holds, which need no timestamps (a small
 * merchant's days in its zone read its ids alone). 1 when the counts
 * cannot be kept. */
static int scan_by_hours(pscan *s, mrows *r)
{
    qplan *p = s->p;
    const tsagg__hour_rows *h;
    int rc = tsagg__pcent_hour_rows(p->st, s->ent, s->merch, &h);
    bcache bc = {INT64_MAX, INT64_MIN, 0}; /* empty */
    for (uint32_t k = 0, e; rc == 0 && k < h->nhours; k = e) {
        int64_t t = h->first_hour + (int64_t)k * TSAGG__HOUR_US;
        e = k + 1;
        if (t < p->from || t >= p->to)
            continue;
        bucket_of(p, &bc, t);
        int64_t end = bc.hi < p->to ? bc.hi : p->to; /* whole hours */
        while (e < h->nhours && h->first_hour + (int64_t)e * TSAGG__HOUR_US < end)
            e++;
        uint32_t a = h->row[k], z = h->row[e];
        if (z > a)
            rc = scan_rows(s, r, a, z - a, t, h->first_hour + (int64_t)e * TSAGG__HOUR_US);
    }
    return rc;
}

/* A merchant without hour segments: its rows (sorted by time) in the
 * range. */
static int scan_merchant_rows(pscan *s, mrows *r)
{
    const qplan *p = s->p;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
    int64_t lo = me->min_ts, hi = me->max_ts + 1;
    size_t one;
    /* Rows all in one bucket of the range are read without their
     * timestamps (scan_rows); by buckets of whole hours, runs of hours in
     * one bucket are too, and counts alone come from the hours' row
     * counts. */
    if (p->hour_aligned && !whole_range(p, lo, hi, &one)) {
        int rc = counts_alone(s) ? count_by_hours(s) : scan_by_hours(s, r);
        if (rc != 1)
            return rc;
    }
    if (p->from <= lo && hi <= p->to)
        return scan_rows(s, r, 0, me->rows, lo, hi);
    /* Cut to the range: rows of one merchant are in time order. */
    int rc = mrows_ts(s, r);
    if (rc != 0)
        return rc;
    uint64_t a = tsagg__first_at_or_after(r->ts, me->rows, p->from);
    uint64_t b = tsagg__first_at_or_after(r->ts, me->rows, p->to);
    if (a == b)
        return 0;
    return scan_rows(s, r, a, b - a, r->ts[a], r->ts[b - 1] + 1);
}

/* Whether a rollup may answer this question at all (per hour,
 * rollup_usable decides). */
static int rollups_may_answer(const qplan *p)
{
    int ok = !p->has_dim_filter && !p->need_minmax && !p->exact &&
             (p->group_col == QCOL_NONE || p->group_col == QCOL_EVENT);
    /* AVG needs how many rows carry the measure, which rollups do not keep. */
    for (uint32_t i = 0; i < p->nmetrics; i++)
        ok &= p->metrics[i].kind != TSAGG_METRIC_AVG;
    return ok;
}

/* ---- distinct ids by spans of time ---------------------------------------- */

/* Whether a merchant's distinct ids may be taken from span sketches: plain
 * distinct counts by bucket (no filter, no group-by, buckets of an hour or
 * more) over a range of whole minutes, which the rollups' minutes can count
 * (the callers check rollups_may_answer too). */
static int spans_answer(const qplan *p)
{
    return (p->need_users || p->need_sessions) && p->nfilters == 0 &&
           p->group_col == QCOL_NONE && p->bucket != TSAGG_BUCKET_MINUTE &&
           p->from % MINUTE_US == 0 && p->to % MINUTE_US == 0;
}

/* What a span sketch is built from: the merchant's segments (none: its
 * rows). */
typedef struct span_src {
    pscan *s;
    const tsagg__hour_segment *seg;
    uint32_t nseg;
} span_src;

/* Add to `into` the ids in column idcol of the file's rows [r0, r0 + n)
 * with ts in [lo, hi), 0 (absent) left out. */
static int add_row_ids(pscan *s, uint64_t r0, uint64_t n, int64_t lo, int64_t hi, uint32_t idcol,
                       tsagg__hll *into)
{
    int rc = 0;
    for (uint64_t r = r0; rc == 0 && r < r0 + n;) {
        uint32_t g = (uint32_t)(r / G), off = (uint32_t)(r % G);
        uint64_t m = G - off < r0 + n - r ? G - off : r0 + n - r;
        const void *tsv, *idv;
        if ((rc = tsagg__pcent_group_col(s->p->st, s->ent, g, TSAGG__COL_TS, &tsv)) != 0 ||
            (rc = tsagg__pcent_group_col(s->p->st, s->ent, g, idcol, &idv)) != 0)
            break;
        const int64_t *ts = (const int64_t *)tsv + off;
        const uint64_t *id = (const uint64_t *)idv + off;
        for (uint64_t i = 0; rc == 0 && i < m; i++)
            if (ts[i] >= lo && ts[i] < hi && id[i] != 0)
                rc = tsagg__hll_insert(into, tsagg__hll_mix(id[i]));
        r += m;
    }
    return rc;
}

/* Fill `into` with the distinct ids (kind 0 users, 1 sessions) of the
 * merchant's rows in [lo, hi): an hour inside the span from its rollup's
 * sketch, the hours it cuts from their rows; a merchant without segments
 * from its rows. */
static int build_span(void *ctx, int kind, int64_t lo, int64_t hi, tsagg__hll *into)
{
    const span_src *src = ctx;
    pscan *s = src->s;
    uint32_t idcol = kind ? TSAGG__COL_SESSION : TSAGG__COL_USER;
    if (src->nseg == 0) {
        const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
        return add_row_ids(s, me->row_start, me->rows, lo, hi, idcol, into);
    }
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < src->nseg; k++) {
        const tsagg__hour_segment *sg = &src->seg[k];
        int64_t a = sg->hour, b = a + TSAGG__HOUR_US;
        if (b <= lo)
            continue;
        if (a >= hi)
            break;
        if (a >= lo && b <= hi && sg->rollup_len > 0) {
            const tsagg__qrollup *qr;
            if ((rc = tsagg__pcent_rollup(s->p->st, s->ent, s->merch, k, 1, &qr)) == 0)
                rc = tsagg__hll_merge_view(into, kind ? &qr->sessions : &qr->users);
            continue;
        }
        rc = add_row_ids(s, sg->row_start, sg->rows, lo, hi, idcol, into);
    }
    return rc;
}

/* A run of the merchant's time in one bucket, merged from one span sketch. */
typedef struct span_run {
    int64_t lo, hi;
    size_t bucket;
    int open;
} span_run;

static int flush_span(span_src *src, span_run *run)
{
    if (!run->open)
        return 0;
    run->open = 0;
    pscan *s = src->s;
    qplan *p = s->p;
    size_t cell = tsagg__qplan_cell(p, 0, run->bucket);
    int rc = 0;
    for (int kind = 0; rc == 0 && kind < 2; kind++) {
        if (!(kind ? p->need_sessions : p->need_users))
            continue;
        const tsagg__hll_view *v;
        rc = tsagg__pcent_span_sketch(p->st, s->ent, s->merch, kind, run->lo, run->hi, build_span,
                                      src, &v);
        /* A cached span's bytes live while the file is referenced: kept
         * pending (tsagg__qplan_merge_pending). Not cached: built into the
         * cell's sketch, the same union. */
        if (rc == 0) {
            rc = tsagg__qplan_merge_pending(p, kind, cell, v);
        } else if (rc == 1) {
            tsagg__hll *h = tsagg__qplan_hll(kind ? &p->sessions[cell] : &p->users[cell]);
            rc = h ? build_span(src, kind, run->lo, run->hi, h) : -ENOMEM;
        }
    }
    return rc;
}

/* Extend the run by [lo, hi) of bucket b, or flush it and start anew. */
static int add_span(span_src *src, span_run *run, int64_t lo, int64_t hi, size_t b)
{
    if (run->open && run->bucket == b && run->hi == lo) {
        run->hi = hi;
        return 0;
    }
    int rc = flush_span(src, run);
    *run = (span_run){lo, hi, b, 1};
    return rc;
}

/* Counts by bucket of the file's rows [r0, r0 + n), sorted by time (one
 * merchant's), those in the range: a binary search per bucket. */
static int count_file_rows(pscan *s, uint64_t r0, uint64_t n)
{
    qplan *p = s->p;
    int rc = 0;
    for (uint64_t r = r0; rc == 0 && r < r0 + n;) {
        uint32_t g = (uint32_t)(r / G), off = (uint32_t)(r % G);
        uint64_t m = G - off < r0 + n - r ? G - off : r0 + n - r;
        const void *v;
        if ((rc = tsagg__pcent_group_col(p->st, s->ent, g, TSAGG__COL_TS, &v)) != 0)
            break;
        const int64_t *ts = (const int64_t *)v + off;
        uint64_t a = tsagg__first_at_or_after(ts, m, p->from), b = tsagg__first_at_or_after(ts, m, p->to);
        if (a < b)
            count_sorted(p, ts + a, b - a);
        r += m;
    }
    return rc;
}

/* A busy merchant's hours when spans_answer: counts and sums from each
 * hour's rollup, or, for an hour without one or cut by a bucket, counts
 * from its timestamps (with measures, the rows of an hour without a
 * rollup and the minutes of a cut one's); distinct ids from one cached
 * sketch per run of time in one bucket. */
static int scan_segments_by_span(pscan *s, const tsagg__hour_segment *seg)
{
    qplan *p = s->p;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
    span_src src = {s, seg, me->nsegments};
    span_run run = {0, 0, 0, 0};
    int rc = 0;
    for (uint32_t k = 0; rc == 0 && k < me->nsegments; k++) {
        int64_t lo = seg[k].hour, hi = lo + TSAGG__HOUR_US;
        if (hi <= p->from)
            continue;
        if (lo >= p->to)
            break;
        if (seg[k].rollup_len == 0 && p->need_measures) {
            if ((rc = flush_span(&src, &run)) != 0)
                break;
            lo = lo > me->min_ts ? lo : me->min_ts;
            hi = hi < me->max_ts + 1 ? hi : me->max_ts + 1;
            rc = scan_file_rows(s, seg[k].row_start, seg[k].rows, lo, hi);
            continue;
        }
        /* An hour without a rollup, or cut by the range or a bucket: its
         * counts from its timestamps, whose decoded group the handle keeps
         * (the rollup's minutes would be read and decoded again). Distinct
         * ids alone (a month of daily users) need neither. */
        int counted = p->need_count || p->need_measures;
        int cut = counted && (lo < p->from || hi > p->to ||
                              tsagg__qplan_bucket(p, lo > p->from ? lo : p->from) !=
                                  tsagg__qplan_bucket(p, (hi < p->to ? hi : p->to) - 1));
        if (!counted) {
            /* nothing to count */
        } else if (seg[k].rollup_len == 0 || (cut && !p->need_measures)) {
            if ((rc = count_file_rows(s, seg[k].row_start, seg[k].rows)) != 0)
                break;
        } else {
            const tsagg__qrollup *qr;
            if ((rc = tsagg__pcent_rollup(p->st, s->ent, s->merch, k, 0, &qr)) != 0 ||
                (rc = scan_rollup(s, qr, &seg[k], 0)) != 0)
                break;
        }
        /* The hour's part of the range, cut where buckets start. */
        int64_t a = lo > p->from ? lo : p->from, end = hi < p->to ? hi : p->to;
        while (rc == 0 && a < end) {
            size_t b = tsagg__qplan_bucket(p, a);
            int64_t z = p->starts[b + 1] < end ? p->starts[b + 1] : end;
            rc = add_span(&src, &run, a, z, b);
            a = z;
        }
    }
    if (rc == 0)
        rc = flush_span(&src, &run);
    return rc;
}

/* Rows of a merchant in a file from which its distinct ids are taken
 * from cached span sketches rather than its rows: a mid-size merchant's
 * few hundred rows a day, mixed and inserted at every query, were the
 * most of a uniform dashboard mix's distinct counts; its span sketch is
 * the set of its distinct ids (an exact set of at most 256, 2 KiB). */
#define SPAN_MIN_ROWS 64

/* A merchant without segments but with rows enough to be worth it
 * (SPAN_MIN_ROWS), when spans_answer and no measures are asked for:
 * counts from its timestamps, distinct ids from one cached sketch per
 * bucket its rows meet. */
static int scan_merchant_by_span(pscan *s)
{
    qplan *p = s->p;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
    int rc = p->need_count ? count_file_rows(s, me->row_start, me->rows) : 0;
    span_src src = {s, NULL, 0};
    int64_t a = me->min_ts > p->from ? me->min_ts : p->from;
    int64_t end = me->max_ts + 1 < p->to ? me->max_ts + 1 : p->to;
    while (rc == 0 && a < end) {
        size_t b = tsagg__qplan_bucket(p, a);
        int64_t z = p->starts[b + 1] < end ? p->starts[b + 1] : end;
        span_run run = {a, z, b, 1};
        rc = flush_span(&src, &run);
        a = z;
    }
    return rc;
}

/* ---- a group-by's counts of a merchant's whole file, cached ---------------- */

/* Rows of a merchant in a file below which its group-by's counts are not
 * cached: 16 instead saved under a microsecond of the smallest merchants'
 * top pages, for a block per merchant, file and question. */
#define CODE_COUNTS_MIN_ROWS 64

/* The cache key of the question in the file's terms, into key (room for
 * 2 + nfilters * (2 + KEY_MAX_CODES) words): the group column, then per
 * filter its column and its codes, ascending. 0 and *len; 1 when a filter
 * has too many codes to be cached. */
static int code_counts_key(const pscan *s, uint32_t *key, uint32_t *len)
{
    const qplan *p = s->p;
    uint32_t n = 0;
    key[n++] = s->group_dict;
    key[n++] = p->nfilters;
    for (uint32_t f = 0; f < p->nfilters; f++) {
        key[n++] = s->fcol[f];
        if (s->fcol[f] == NOCOL)
            continue; /* passes every row of the file */
        uint32_t c = s->nkey_codes[f];
        if (c > KEY_MAX_CODES)
            return 1;
        key[n++] = c;
        uint32_t *codes = key + n;
        memcpy(codes, s->key_codes[f], c * sizeof *codes);
        for (uint32_t i = 1; i < c; i++) /* a few: insertion sort */
            for (uint32_t j = i; j > 0 && codes[j - 1] > codes[j]; j--) {
                uint32_t t = codes[j];
                codes[j] = codes[j - 1];
                codes[j - 1] = t;
            }
        n += c;
    }
    *len = n;
    return 0;
}

/* Build the counts by code of every row of the merchant in the file that
 * passes the filters (tsagg__counts_build): the row scan, every chunk into
 * the code counters, which are then moved into the block and left 0. */
static int build_code_counts(void *ctx, tsagg__code_counts **out)
{
    pscan *s = ctx;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
    s->counting_codes = 1;
    int rc;
    if (me->nsegments) {
        /* A busy merchant's rows, by the row groups that hold them. */
        rc = scan_file_rows(s, me->row_start, me->rows, me->min_ts, me->max_ts + 1);
    } else {
        mrows r;
        memset(&r, 0, sizeof r);
        rc = scan_rows(s, &r, 0, me->rows, me->min_ts, me->max_ts + 1);
        mrows_free(&r);
    }
    s->counting_codes = 0;
    if (rc != 0)
        return rc;
    /* No counters: no chunk was scanned, no code counted. */
    uint32_t words = s->code_count ? (s->ncodes + 63) / 64 : 0, n = 0;
    for (uint32_t w = 0; w < words; w++) {
        uint64_t bits = s->all_touched ? UINT64_MAX : s->touched[w];
        for (; bits; bits &= bits - 1)
            n += s->code_count[w * 64 + (uint32_t)__builtin_ctzll(bits)] != 0;
    }
    tsagg__code_counts *cc = tsagg__code_counts_new(s->cc_key, s->cc_keylen, n);
    n = 0;
    for (uint32_t w = 0; w < words; w++) {
        uint64_t bits = s->all_touched ? UINT64_MAX : s->touched[w];
        s->touched[w] = 0;
        for (; bits; bits &= bits - 1) {
            uint32_t code = w * 64 + (uint32_t)__builtin_ctzll(bits);
            if (cc && s->code_count[code]) {
                cc->code[n] = code;
                cc->count[n++] = s->code_count[code];
            }
            s->code_count[code] = 0;
        }
    }
    s->all_touched = 0;
    *out = cc;
    return cc ? 0 : -ENOMEM;
}

/* A group-by's counts alone when every row of the merchant in the file
 * lies in one bucket of the range: from the counts by code the partcache
 * keeps for the question (built by the row scan on first use), added to
 * the codes' groups. 1 when the question or the merchant does not allow
 * it: the caller scans as usual. */
static int scan_by_code_counts(pscan *s)
{
    qplan *p = s->p;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
    size_t b;
    if ((p->group_col != QCOL_EVENT && p->group_col < 0) || s->group_dict == NOCOL ||
        p->need_measures || p->need_users || p->need_sessions || p->need_minmax || p->exact ||
        me->rows < CODE_COUNTS_MIN_ROWS || !whole_range(p, me->min_ts, me->max_ts + 1, &b) ||
        (me->nsegments && rollups_may_answer(p))) /* the hours' rollups answer */
        return 1;
    uint32_t key[2 + TSAGG_QUERY_MAX_FILTERS * (2 + KEY_MAX_CODES)];
    if (code_counts_key(s, key, &s->cc_keylen) != 0)
        return 1;
    s->cc_key = key;
    const tsagg__code_counts *cc;
    void *owned;
    int rc = tsagg__pcent_code_counts(p->st, s->ent, s->merch, key, s->cc_keylen,
                                      build_code_counts, s, &cc, &owned);
    s->cc_key = NULL;
    for (uint32_t i = 0; rc == 0 && i < cc->n; i++) {
        size_t g;
        if ((rc = lookup_group(s, cc->code[i], &g)) == 0 && g != QGROUP_SKIP)
            p->count[tsagg__qplan_cell(p, g, b)] += cc->count[i];
    }
    free(owned);
    return rc;
}

/* A merchant with hour segments (a busy one): per hour in the range, its
 * rollup when usable, else its rows, read by row group (a busy merchant's
 * rows fill row groups, and an hour needs only the groups holding it). */
static int scan_segments(pscan *s)
{
    qplan *p = s->p;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(s->merch);
    const tsagg__hour_segment *seg;
    int rc = tsagg__pcent_segments(p->st, s->ent, s->merch, &seg);
    int rollup_ok = rollups_may_answer(p);
    if (rc == 0 && rollup_ok && spans_answer(p))
        return scan_segments_by_span(s, seg);
    for (uint32_t k = 0; rc == 0 && k < me->nsegments; k++) {
        int64_t lo = seg[k].hour, hi = lo + TSAGG__HOUR_US;
        if (hi <= p->from)
            continue;
        if (lo >= p->to)
            break;
        if (rollup_ok && seg[k].rollup_len > 0) {
            const tsagg__qrollup *qr;
            if ((rc = tsagg__pcent_rollup(p->st, s->ent, s->merch, k,
                                          p->need_users || p->need_sessions, &qr)) != 0)
                break;
            if (rollup_usable(s, qr, lo)) {
                rc = scan_rollup(s, qr, &seg[k], 1);
                continue;
            }
        }
        /* The merchant's rows of the hour, between its first and last. */
        lo = lo > me->min_ts ? lo : me->min_ts;
        hi = hi < me->max_ts + 1 ? hi : me->max_ts + 1;
        rc = scan_file_rows(s, seg[k].row_start, seg[k].rows, lo, hi);
    }
    return rc;
}

int tsagg__scan_partition(qplan *p, tsagg__pcent *ent)
{
    tsagg__part *part = tsagg__pcent_part(ent);
    const tsagg__part_info *info = tsagg__part_get_info(part);
    /* The span [start, start + hours h) must meet [from, to) (no overflow
     * near the ends of time). */
    if (info->start >= p->to ||
        (info->start < p->from &&
         (uint64_t)p->from - (uint64_t)info->start >= (uint64_t)info->hours * TSAGG__HOUR_US))
        return 0;
    tsagg__pcmerch *merch = NULL;
    if (!(p->flags & TSAGG_QUERY_ALL_MERCHANTS)) {
        /* The merchant first: a file without its rows in the range costs
         * no dictionary lookup. */
        int rc = tsagg__pcent_merchant(p->st, ent, p->q->merchant, &merch);
        if (rc <= 0)
            return rc;
        const tsagg__merchant_entry *me = tsagg__pcmerch_entry(merch);
        if (me->max_ts < p->from || me->min_ts >= p->to)
            return 0;
    }
    pscan s;
    int rc = pscan_init(&s, p, ent);
    s.merch = merch;
    if (rc == 0 && p->group_col != QCOL_NONE) {
        /* Counters per code pay when the rows are many times the codes
         * (every code's counter is allocated and read once per file). */
        s.ncodes = s.group_dict == NOCOL ? 1 : tsagg__part_dict_size(s.part, s.group_dict);
        uint64_t rows = merch ? tsagg__pcmerch_entry(merch)->rows : info->rows;
        s.by_code = rows / BY_CODE_ROWS_PER_CODE >= s.ncodes;
    }
    /* A group-by of a merchant's file whose rows lie in one bucket: its
     * cached counts by code (1: not this question; the scans below). */
    int cached = rc == 0 && merch && p->group_col != QCOL_NONE ? scan_by_code_counts(&s) : 1;
    if (cached != 1)
        rc = cached;
    else if (rc == 0 && !merch)
        rc = scan_groups(&s);
    else if (rc == 0 && tsagg__pcmerch_entry(merch)->nsegments)
        rc = scan_segments(&s);
    else if (rc == 0 && tsagg__pcmerch_entry(merch)->rows >= SPAN_MIN_ROWS &&
             !p->need_measures && rollups_may_answer(p) && spans_answer(p))
        rc = scan_merchant_by_span(&s);
    else if (rc == 0) {
        mrows r;
        memset(&r, 0, sizeof r);
        rc = scan_merchant_rows(&s, &r);
        mrows_free(&r);
    }
    if (rc == 0 && s.code_count)
        rc = flush_code_counts(&s);
    pscan_free(&s);
    return rc == 1 ? 0 : rc;
}
