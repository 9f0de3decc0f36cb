/*
 * query_internal.h - a resolved query and its accumulators, shared by the
 * planner, the partition scans (rollups and rows) and the log-tail scan.
 *
 * Accumulators are "cells", one per (group, bucket): cell = group *
 * nbuckets + bucket. Groups are created as keys are met; without group-by
 * there is one group, "".
 */
#ifndef TSAGG_QUERY_INTERNAL_H
#define TSAGG_QUERY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hll.h"
#include "partfile.h"
#include "store_internal.h"
#include "tsagg_query.h"
#include "tz.h"

/* Where a filter or the group-by looks: the event name or a dimension. */
#define QCOL_EVENT (-1)
#define QCOL_NONE (-2)

typedef struct qfilter {
    int col; /* QCOL_EVENT or a dimension index */
    const char *const *values;
    uint32_t nvalues;
    size_t *lens;
} qfilter;

/* A distinct set of 64-bit ids, for exact distinct counts. */
typedef struct idset {
    uint64_t *slots; /* 0 marks an empty slot; id 0 is kept aside */
    uint32_t cap, n;
    uint8_t has_zero;
} idset;

typedef struct qplan {
    const tsagg_query *q;
    tsagg_store *st;
    uint32_t flags;
    int64_t from, to;
    uint32_t bucket;
    tsagg__tz *tz;
    int64_t *starts;  /* nbuckets + 1 entries: bucket b is [starts[b], starts[b+1]) */
    size_t nbuckets;
    int64_t width;    /* MINUTE and HOUR: the fixed bucket width; else 0 */

    int group_col;    /* QCOL_NONE, QCOL_EVENT or a dimension */
    qfilter filters[TSAGG_QUERY_MAX_FILTERS];
    uint32_t nfilters;
    int has_dim_filter;

    uint32_t nmetrics;
    tsagg_metric metrics[TSAGG_QUERY_MAX_METRICS];
    int metric_measure[TSAGG_QUERY_MAX_METRICS]; /* measure index or -1 */
    int need_users, need_sessions, need_minmax, need_measures;
    int exact;

    /* Accumulators: cells_cap cells each (a multiple of nbuckets), of which
     * ngroups * nbuckets are in use; measure arrays hold nmeasures blocks of
     * cells_cap. */
    char **group_keys;
    size_t *group_lens;
    size_t ngroups, groups_cap;
    uint32_t *group_table; /* open addressing over keys: group + 1 */
    uint32_t group_table_cap;
    size_t cells_cap;
    uint64_t *count;
    double *sum, *nval, *vmin, *vmax; /* per measure x cell */
    uint32_t nmeasures;               /* schema measures */
    tsagg__hll **users, **sessions;   /* per cell, NULL until used */
    idset *xusers, *xsessions;        /* exact mode */
    void *scratch;                    /* the row scan's column buffers */
    uint64_t merchant_hint;           /* index of the merchant in the last file */
} qplan;

/* planner (plan.c) */
int tsagg__qplan_init(qplan *p, tsagg_store *st, const tsagg_query *q);
void tsagg__qplan_free(qplan *p);
/* The group of a key, created when new. */
int tsagg__qplan_group(qplan *p, const char *key, size_t len, size_t *group);
/* The bucket of an instant inside [from, to). */
size_t tsagg__qplan_bucket(const qplan *p, int64_t ts);

/* Add one event's contribution to a cell. meas holds the schema measures
 * (NaN when absent). */
int tsagg__qplan_add(qplan *p, size_t cell, uint64_t user, uint64_t session, const double *meas);

/* The sketch of a cell, created empty on first use (NULL: no memory). */
tsagg__hll *tsagg__qplan_hll(tsagg__hll **slot);

/* Scans (scan_part.c, scan_tail.c). */
typedef struct tsagg__pcent tsagg__pcent; /* partcache.h */
int tsagg__scan_partition(qplan *p, tsagg__pcent *ent);
int tsagg__scan_tail(qplan *p, uint64_t after_seq);

/* Exact id sets. */
int tsagg__idset_add(idset *s, uint64_t id);
void tsagg__idset_free(idset *s);

#endif
