/*
 * query_internal.h - a resolved query and its accumulators, shared by the
 * planner, the partition scans (rollups and rows) and the head scan.
 *
 * Accumulators are "cells", one per (group, bucket): cell = group *
 * stride + bucket (tsagg__qplan_cell). Groups are created as keys are met;
 * without group-by there is one group, "".
 *
 * A group-by whose series would pass TSAGG_QUERY_MAX_ROWS cells is run in
 * two passes over the same snapshot: first one cell per group (stride 1,
 * the totals that rank the groups), then the series of the kept groups
 * only, the plan's groups fixed in rank order and every other key skipped.
 */
#ifndef TSAGG_QUERY_INTERNAL_H
#define TSAGG_QUERY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hll.h"
#include "manifest.h"
#include "partfile.h"
#include "store_internal.h"
#include "tsagg_query.h"
#include "tz.h"

/* Where a filter or the group-by looks: the event name or a dimension. */
#define QCOL_EVENT (-1)
#define QCOL_NONE (-2)
/* Group-bys of visits only: the page of a visit's first / last page_view. */
#define QCOL_ENTRY (-3)
#define QCOL_EXIT (-4)

typedef struct qfilter {
    int col; /* QCOL_EVENT or a dimension index */
    const char *const *values;
    uint32_t nvalues;
    size_t *lens;
} qfilter;

/* The group of a key the plan does not keep (a fixed plan's other keys). */
#define QGROUP_SKIP SIZE_MAX

/* A distinct set of 64-bit ids, for exact distinct counts. */
typedef struct idset {
    uint64_t *slots; /* 0 marks an empty slot; id 0 is kept aside */
    uint32_t cap, n;
    uint8_t has_zero;
} idset;

/* Visit and new-user accumulators (visits.c), per cell: the visits'
 * sums, and the users with a matching event (uset) and those of them
 * seen first in the cell's bucket (nset). */
typedef struct vacc {
    uint64_t *visits, *bounces, *pages, *dur_us;
    idset *uset, *nset;
    size_t cells;
} vacc;

/* A cell's views of distinct ids not merged yet (index 0 users, 1
 * sessions): n of them, listed from head (1 + an index into the plan's
 * pool), or after the settle their estimate (an exact count or not). */
#define QPENDING_MAX TSAGG__HLL_VIEWS_MAX /* a day of hour files is 24 */
typedef struct qpending {
    uint32_t head[2];
    uint16_t n[2];
    uint8_t exact[2];
    double est[2];
} qpending;

typedef struct qplan {
    const tsagg_query *q;
    tsagg_store *st;
    uint32_t flags;
    int64_t from, to;
    uint32_t bucket;
    const tsagg__tz *tz; /* the handle's (tzcache.h), not freed with the plan */
    int64_t *starts;  /* nbuckets + 1 entries: bucket b is [starts[b], starts[b+1]) */
    size_t nbuckets;
    int64_t width;    /* MINUTE and HOUR: the fixed bucket width; else 0 */
    int hour_aligned; /* from, to and every bucket start are whole hours:
                         each hour lies in one bucket, inside or outside */

    int group_col;    /* QCOL_NONE, QCOL_EVENT or a dimension */
    qfilter filters[TSAGG_QUERY_MAX_FILTERS];
    uint32_t nfilters;
    int has_dim_filter;

    size_t stride;    /* cells per group: nbuckets, or 1 when totals */
    int totals;       /* one cell per group: the ranking pass */
    int fixed;        /* groups fixed (in rank order); other keys skipped */
    int overflowed;   /* the series needed more than TSAGG_QUERY_MAX_ROWS cells */

    uint32_t nmetrics;
    tsagg_metric metrics[TSAGG_QUERY_MAX_METRICS];
    int metric_measure[TSAGG_QUERY_MAX_METRICS]; /* plan measure or -1 */
    /* Plan measures: the schema measures the metrics name, each once. */
    int measure_of[TSAGG_QUERY_MAX_METRICS];     /* plan measure -> schema measure */
    int need_users, need_sessions, need_minmax, need_measures;
    int need_events;    /* a metric over events (count ... sessions) */
    int need_count;     /* a count metric: scans that can may skip counting without */
    int need_visits;    /* visits, bounce rate, visit duration, pages per visit */
    int need_new_users; /* new or returning users */
    int exact;

    /* Accumulators: cells_cap cells each (a multiple of nbuckets), of which
     * ngroups * nbuckets are in use; measure arrays hold nmeasures blocks of
     * cells_cap. */
    const char **group_keys; /* copies, or strings of the handle's (intern.h) */
    size_t *group_lens;
    uint64_t *group_hashes; /* XXH3 of each key */
    uint8_t *group_owned;   /* 1: the key is the plan's copy */
    size_t ngroups, groups_cap;
    uint32_t *group_table; /* open addressing over keys: group + 1 */
    uint32_t group_table_cap;
    /* The groups of the handle-wide ids of keys (intern.h) met so far, by
     * id in chunks allocated on first use (plan.c). */
    uint32_t **id_chunks;
    uint32_t nid_chunks;
    size_t cells_cap;
    uint64_t *count;
    double *sum, *nval, *vmin, *vmax; /* per measure x cell */
    uint32_t nmeasures;               /* plan measures */
    tsagg__hll **users, **sessions;   /* per cell, NULL until used */
    /* Span sketches not merged into their cell's sketch yet, per
     * cell (npending of them; users then sessions), valid while the
     * snapshot's files are referenced; tsagg__qplan_settle turns them into
     * an estimate. */
    qpending *pending;
    size_t npending;
    const tsagg__hll_view **pool; /* the pending views, npool of pool_cap */
    uint32_t *pool_next;          /* 1 + the next view of the same list, 0 */
    uint32_t npool, pool_cap;
    int settled;                      /* tsagg__qplan_settle ran */
    idset *xusers, *xsessions;        /* exact mode */
    vacc va;                          /* need_visits or need_new_users */
    void *scratch;                    /* the row scan's column buffers */
    /* Counts by dictionary code of the file being scanned (scan_part.c),
     * all 0 between files, and a bit per code whose count may not be. */
    uint64_t *code_count, *code_touched;
    uint32_t code_count_cap;
    /* The groups of the dictionary codes of the file being scanned + 1, 0
     * unknown, all 0 between files (scan_part.c), and the codes set. */
    uint32_t *memo, *memo_set;
    uint32_t memo_cap, nmemo_set;
} qplan;

/* planner (plan.c). totals: one cell per group (the ranking pass). */
int tsagg__qplan_init(qplan *p, tsagg_store *st, const tsagg_query *q, int totals);
void tsagg__qplan_free(qplan *p);
/* Create the groups keys[0..n) (lens[i] bytes each) in this order and fix
 * them: any other key gets QGROUP_SKIP. */
int tsagg__qplan_fix_groups(qplan *p, const char *const *keys, const size_t *lens, size_t n);
/* The group of a key, created when new; QGROUP_SKIP when the plan is fixed
 * and does not hold it. -E2BIG (and p->overflowed) when a new group would
 * take a series past TSAGG_QUERY_MAX_ROWS cells. */
int tsagg__qplan_group(qplan *p, const char *key, size_t len, size_t *group);
/* The same with the key's XXH3 already computed (hash). */
int tsagg__qplan_group_hashed(qplan *p, const char *key, size_t len, uint64_t hash,
                              size_t *group);
/* The same for a key that outlives the plan (a string of the handle's
 * ids, intern.h): a new group keeps it without a copy. */
int tsagg__qplan_group_interned(qplan *p, const char *key, size_t len, uint64_t hash,
                                size_t *group);
/* The group a handle-wide key id (tsagg__pcent_code_id) was mapped to by
 * map_id: 0 and *group (maybe QGROUP_SKIP), 1 when it was not. */
int tsagg__qplan_id_group(const qplan *p, uint32_t id, size_t *group);
/* Remember that key id's group is group (< UINT32_MAX - 1, or QGROUP_SKIP). */
int tsagg__qplan_map_id(qplan *p, uint32_t id, size_t group);
/* The bucket of an instant inside [from, to). */
size_t tsagg__qplan_bucket(const qplan *p, int64_t ts);

/* The cell of a group's bucket. */
static inline size_t tsagg__qplan_cell(const qplan *p, size_t group, size_t bucket)
{
    return group * p->stride + (p->totals ? 0 : bucket);
}

/* Add one event's contribution to a cell. meas holds the plan measures
 * (NaN when absent). */
int tsagg__qplan_add(qplan *p, size_t cell, uint64_t user, uint64_t session, const double *meas);

/* The sketch of a cell, created empty on first use (NULL: no memory). */
tsagg__hll *tsagg__qplan_hll(tsagg__hll **slot);

/* A view of distinct ids (kind 0 users, 1 sessions) for a cell of an
 * ungrouped plan, kept by reference until tsagg__qplan_settle when there is
 * room, merged into the cell's sketch otherwise: a cell made only of views
 * is estimated from them without a sketch of its own. The bytes must live
 * until the settle. 0 or -ENOMEM. */
int tsagg__qplan_merge_pending(qplan *p, int kind, size_t cell, const tsagg__hll_view *v);
/* Settle the pending views before their bytes go: into the cell's sketch
 * when it has one (rows or other sketches added to it), else into the
 * cell's estimate. 0 or -ENOMEM. */
int tsagg__qplan_settle(qplan *p);
/* Whether a cell's distinct ids of kind k are the pending views' estimate
 * (after the settle: the cell has no sketch). */
static inline int tsagg__qplan_settled(const qplan *p, int k, size_t cell)
{
    return cell < p->npending && p->pending[cell].n[k] > 0;
}
/* The same for ids a row scan adds: the full exact table taken up front
 * when the plan has few cells. */
tsagg__hll *tsagg__qplan_row_hll(qplan *p, tsagg__hll **slot);

/* Scans (scan_part.c, scan_head.c). */
typedef struct tsagg__pcent tsagg__pcent; /* partcache.h */
int tsagg__scan_partition(qplan *p, tsagg__pcent *ent);
/* The first of n sorted timestamps that is >= t (scan_part.c). */
uint64_t tsagg__first_at_or_after(const int64_t *ts, uint64_t n, int64_t t);
/* The head's events numbered after the snapshot's consumed position and
 * up to visible, but for those whose retry key a file of the snapshot
 * holds (scan_head.c); the caller holds the head (tsagg__head_acquire). */
int tsagg__scan_head(qplan *p, const tsagg__manifest *snap, uint64_t visible);

/* The head rows of the query's merchant numbered after the snapshot's
 * consumed position and up to visible, with ts in [lo, hi), but for those
 * a file of the snapshot holds already: indexes into the head's rows, in
 * *rows (*n of them; free it). The caller holds the head. */
int tsagg__head_rows_of(qplan *p, const tsagg__manifest *snap, uint64_t visible, int64_t lo,
                     int64_t hi, uint32_t **rows, size_t *n);

/* Visit metrics and new/returning users (visits.c): computed from the
 * merchant's rows of the snapshot and the head, into p->va. */
int tsagg__scan_visits(qplan *p, const tsagg__manifest *snap, uint64_t visible);
/* Room in p->va for cells cells (old of them kept). */
int tsagg__vacc_grow(vacc *va, size_t old, size_t cells);
void tsagg__vacc_free(vacc *va);
/* A visit or new-user metric of a cell; the same over all of group g's
 * buckets (what ranks the groups). */
double tsagg__visit_value(const qplan *p, uint32_t kind, size_t cell);
double tsagg__visit_rank(const qplan *p, uint32_t kind, size_t group);
/* 1 for the metrics that visits.c answers. */
static inline int tsagg__is_visit_metric(uint32_t kind)
{
    return kind >= TSAGG_METRIC_VISITS && kind <= TSAGG_METRIC_PAGES_PER_VISIT;
}

/* The snapshot's files whose span meets [lo, hi), into *out (*n of them;
 * free it). */
int tsagg__files_of_range(const tsagg__manifest *m, int64_t lo, int64_t hi,
                          tsagg__part_ref **out, size_t *n);

/* Exact id sets. */
int tsagg__idset_add(idset *s, uint64_t id);
void tsagg__idset_free(idset *s);

#endif
