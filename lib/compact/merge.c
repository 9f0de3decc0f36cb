/* merge.c - k-way merge of sorted row sources into a partition writer. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"

#define BATCH 1024
/* Rows ahead of the one a memory source reads whose memory is fetched. */
#define PREFETCH_AHEAD 8

struct tsagg__merge_src {
    /* The current row, valid until the next advance. */
    tsagg__row row;
    tsagg__str *dims;
    double *meas;
    int done;
    uint32_t ndims, nmeas;

    /* Memory source. */
    const tsagg__spanbuf *h;
    size_t pos;
    uint32_t cur;   /* the current row's index in h */
    int coded;      /* the row's strings are left out: merge_into maps codes */
    uint32_t *fmap; /* (1 + ndims) x h->nstrs: the writer's code + 1, or 0 */

    /* Partition source: one decoded row group at a time. */
    tsagg__part *p;
    uint32_t group, ngroups, grow, gn;
    int64_t *ts;
    uint64_t *merchant, *user, *session, *id;
    uint32_t *event, *flags;
    uint32_t **dcodes; /* per file dimension */
    double **dmeas;    /* per file measure */
    int *dim_map;      /* schema dimension -> file dimension or -1 */
    int *meas_map;
    uint32_t file_ndims, file_nmeas;
};

static tsagg__merge_src *src_alloc(const tsagg_schema *schema)
{
    tsagg__merge_src *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    s->nmeas = (uint32_t)tsagg_schema_measure_count(schema);
    s->dims = calloc(s->ndims + 1, sizeof *s->dims);
    s->meas = calloc(s->nmeas + 1, sizeof *s->meas);
    if (!s->dims || !s->meas) {
        free(s->dims);
        free(s->meas);
        free(s);
        return NULL;
    }
    s->row.dims = s->dims;
    s->row.measures = s->meas;
    return s;
}

static int mem_next(tsagg__merge_src *s)
{
    const tsagg__spanbuf *h = s->h;
    if (s->pos >= h->n) {
        s->done = 1;
        return 0;
    }
    /* Rows are read in sorted order, scattered over the buffer: ask for
     * one a few places ahead while this one is copied. */
    if (s->pos + PREFETCH_AHEAD < h->n) {
        uint32_t ahead = h->order[s->pos + PREFETCH_AHEAD];
        __builtin_prefetch(&h->rows[ahead]);
        if (h->ndims)
            __builtin_prefetch(&h->dims[(size_t)ahead * h->ndims]);
        if (h->nmeasures)
            __builtin_prefetch(&h->meas[(size_t)ahead * h->nmeasures]);
    }
    uint32_t i = h->order[s->pos++];
    const tsagg__spanrow *r = &h->rows[i];
    s->cur = i;
    s->row.ts = r->ts;
    s->row.merchant = r->merchant;
    s->row.user = r->user;
    s->row.session = r->session;
    s->row.id = r->id;
    s->row.flags = r->flags;
    for (uint32_t m = 0; m < s->nmeas; m++)
        s->meas[m] = h->meas[(size_t)i * h->nmeasures + m];
    if (s->coded)
        return 0;
    s->row.event = tsagg__spanbuf_str(h, r->event);
    for (uint32_t d = 0; d < s->ndims; d++)
        s->dims[d] = tsagg__spanbuf_str(h, h->dims[(size_t)i * h->ndims + d]);
    return 0;
}

/* The writer's codes of the current row of a memory source into out
 * (event, then dimensions): a span buffer code met before maps straight
 * to the file's, a new one is interned in the writer now, in the order
 * tsagg__part_writer_add would meet it. */
static int mem_codes(tsagg__merge_src *s, tsagg__part_writer *w, uint32_t *out)
{
    const tsagg__spanbuf *h = s->h;
    for (uint32_t c = 0; c <= s->ndims; c++) {
        uint32_t sc = c == 0 ? h->rows[s->cur].event : h->dims[(size_t)s->cur * h->ndims + c - 1];
        uint32_t *m = &s->fmap[(size_t)c * h->nstrs + sc];
        if (!*m) {
            tsagg__str str = tsagg__spanbuf_str(h, sc);
            int rc = tsagg__part_writer_intern(w, c, str.ptr, str.len, &out[c]);
            if (rc != 0)
                return rc;
            *m = out[c] + 1;
        }
        out[c] = *m - 1;
    }
    return 0;
}

int tsagg__merge_src_mem(const tsagg__spanbuf *h, const tsagg_schema *schema,
                         tsagg__merge_src **out)
{
    tsagg__merge_src *s = src_alloc(schema);
    if (!s)
        return -ENOMEM;
    s->h = h;
    *out = s;
    return mem_next(s);
}

static int dict_str(tsagg__part *p, uint32_t col, uint32_t code, tsagg__str *out)
{
    const char *str;
    size_t len;
    int rc = tsagg__part_dict_get(p, col, code, &str, &len);
    if (rc == 0)
        *out = (tsagg__str){str, (uint32_t)len};
    return rc;
}

static int part_load_group(tsagg__merge_src *s)
{
    tsagg__part *p = s->p;
    uint32_t g = s->group;
    int rc = tsagg__part_read_column(p, TSAGG__COL_TS, g, s->ts);
    rc = rc ? rc : tsagg__part_read_column(p, TSAGG__COL_MERCHANT, g, s->merchant);
    rc = rc ? rc : tsagg__part_read_column(p, TSAGG__COL_EVENT, g, s->event);
    rc = rc ? rc : tsagg__part_read_column(p, TSAGG__COL_USER, g, s->user);
    rc = rc ? rc : tsagg__part_read_column(p, TSAGG__COL_SESSION, g, s->session);
    rc = rc ? rc : tsagg__part_read_column(p, TSAGG__COL_ID, g, s->id);
    rc = rc ? rc : tsagg__part_read_column(p, TSAGG__COL_FLAGS, g, s->flags);
    for (uint32_t d = 0; rc == 0 && d < s->ndims; d++)
        if (s->dim_map[d] >= 0)
            rc = tsagg__part_read_column(p, TSAGG__COL_DIM0 + (uint32_t)s->dim_map[d], g,
                                         s->dcodes[d]);
    for (uint32_t m = 0; rc == 0 && m < s->nmeas; m++)
        if (s->meas_map[m] >= 0)
            rc = tsagg__part_read_column(
                p, TSAGG__COL_DIM0 + s->file_ndims + (uint32_t)s->meas_map[m], g, s->dmeas[m]);
    s->grow = 0;
    s->gn = tsagg__part_group(p, g)->rows;
    return rc;
}

static int part_next(tsagg__merge_src *s)
{
    while (s->grow >= s->gn) {
        if (s->group + 1 >= s->ngroups || s->ngroups == 0) {
            s->done = 1;
            return 0;
        }
        s->group++;
        int rc = part_load_group(s);
        if (rc != 0)
            return rc;
    }
    uint32_t i = s->grow++;
    s->row.ts = s->ts[i];
    s->row.merchant = s->merchant[i];
    s->row.user = s->user[i];
    s->row.session = s->session[i];
    s->row.id = s->id[i];
    s->row.flags = s->flags[i];
    int rc = dict_str(s->p, TSAGG__COL_EVENT, s->event[i], &s->row.event);
    for (uint32_t d = 0; rc == 0 && d < s->ndims; d++) {
        if (s->dim_map[d] < 0)
            s->dims[d] = (tsagg__str){"", 0};
        else
            rc = dict_str(s->p, TSAGG__COL_DIM0 + (uint32_t)s->dim_map[d], s->dcodes[d][i],
                          &s->dims[d]);
    }
    for (uint32_t m = 0; m < s->nmeas; m++)
        s->meas[m] = s->meas_map[m] < 0 ? NAN : s->dmeas[m][i];
    return rc;
}

int tsagg__merge_src_part(tsagg__part *p, const tsagg_schema *schema, tsagg__merge_src **out,
                          char *errmsg, size_t errmsg_len)
{
    tsagg__merge_src *s = src_alloc(schema);
    if (!s) {
        tsagg__part_close(p);
        return -ENOMEM;
    }
    s->p = p;
    const tsagg_schema *fs = tsagg__part_schema(p);
    s->file_ndims = (uint32_t)tsagg_schema_dimension_count(fs);
    s->file_nmeas = (uint32_t)tsagg_schema_measure_count(fs);
    size_t G = TSAGG__PART_GROUP_ROWS;
    s->ts = malloc(G * 8);
    s->merchant = malloc(G * 8);
    s->user = malloc(G * 8);
    s->session = malloc(G * 8);
    s->id = malloc(G * 8);
    s->event = malloc(G * 4);
    s->flags = malloc(G * 4);
    s->dcodes = calloc(s->ndims + 1, sizeof *s->dcodes);
    s->dmeas = calloc(s->nmeas + 1, sizeof *s->dmeas);
    s->dim_map = calloc(s->ndims + 1, sizeof *s->dim_map);
    s->meas_map = calloc(s->nmeas + 1, sizeof *s->meas_map);
    int rc = s->ts && s->merchant && s->user && s->session && s->id && s->event && s->flags &&
                     s->dcodes && s->dmeas && s->dim_map && s->meas_map
                 ? 0
                 : -ENOMEM;
    for (uint32_t d = 0; rc == 0 && d < s->ndims; d++) {
        s->dim_map[d] = tsagg_schema_dimension_index(fs, tsagg_schema_dimension_name(schema, d));
        if (s->dim_map[d] >= 0 && !(s->dcodes[d] = malloc(G * 4)))
            rc = -ENOMEM;
    }
    for (uint32_t m = 0; rc == 0 && m < s->nmeas; m++) {
        s->meas_map[m] = tsagg_schema_measure_index(fs, tsagg_schema_measure_name(schema, m));
        if (s->meas_map[m] >= 0 && !(s->dmeas[m] = malloc(G * 8)))
            rc = -ENOMEM;
    }
    s->ngroups = tsagg__part_groups(p);
    if (rc == 0 && s->ngroups > 0)
        rc = part_load_group(s);
    if (rc == 0)
        rc = part_next(s);
    if (rc != 0) {
        tsagg__merge_src_errmsg(s, errmsg, errmsg_len);
        tsagg__merge_src_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tsagg__merge_src_errmsg(tsagg__merge_src *s, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    buf[0] = 0;
    if (s && s->p)
        tsagg__part_errmsg(s->p, buf, len);
}

void tsagg__merge_src_free(tsagg__merge_src *s)
{
    if (!s)
        return;
    free(s->fmap);
    if (s->p) {
        for (uint32_t d = 0; d < s->ndims; d++)
            free(s->dcodes ? s->dcodes[d] : NULL);
        for (uint32_t m = 0; m < s->nmeas; m++)
            free(s->dmeas ? s->dmeas[m] : NULL);
        free(s->ts);
        free(s->merchant);
        free(s->user);
        free(s->session);
        free(s->id);
        free(s->event);
        free(s->flags);
        free(s->dcodes);
        free(s->dmeas);
        free(s->dim_map);
        free(s->meas_map);
        tsagg__part_close(s->p);
    }
    free(s->dims);
    free(s->meas);
    free(s);
}

static int src_next(tsagg__merge_src *s)
{
    return s->p ? part_next(s) : mem_next(s);
}

/* Row order of the partition: (merchant, ts), then rows without an id,
 * then by id, so that retries, which share all three, meet (a row without
 * an id between two retries with id 0 would keep them apart). The same
 * order as tsagg__spanbuf_sort. */
static int row_less(const tsagg__row *a, const tsagg__row *b)
{
    if (a->merchant != b->merchant)
        return a->merchant < b->merchant;
    if (a->ts != b->ts)
        return a->ts < b->ts;
    uint32_t ha = a->flags & TSAGG_EVENT_HAS_ID, hb = b->flags & TSAGG_EVENT_HAS_ID;
    if (ha != hb)
        return ha < hb;
    return ha && a->id < b->id;
}

static int is_retry(const tsagg__row *prev, const tsagg__row *r)
{
    return (r->flags & TSAGG_EVENT_HAS_ID) && (prev->flags & TSAGG_EVENT_HAS_ID) &&
           prev->id == r->id && prev->ts == r->ts && prev->merchant == r->merchant;
}

int tsagg__merge_into(tsagg__merge_src **srcs, size_t n, const tsagg_schema *schema,
                      tsagg__part_writer *w, tsagg__merge_stats *stats,
                      tsagg__merge_src **failed)
{
    if (failed)
        *failed = NULL;
    uint32_t nd = (uint32_t)tsagg_schema_dimension_count(schema);
    uint32_t nm = (uint32_t)tsagg_schema_measure_count(schema);
    tsagg__row *batch = malloc(BATCH * sizeof *batch);
    tsagg__str *dims = malloc((size_t)BATCH * (nd + 1) * sizeof *dims);
    double *meas = malloc((size_t)BATCH * (nm + 1) * sizeof *meas);
    int rc = batch && dims && meas ? 0 : -ENOMEM;
    /* When every source is a span buffer, its strings go to the writer as
     * codes (mem_codes): each distinct string is looked up once per file,
     * not once per row. */
    int coded = rc == 0;
    for (size_t i = 0; i < n; i++)
        if (!srcs[i]->h || srcs[i]->h->ndims != nd)
            coded = 0;
    uint32_t *codes = coded ? malloc((size_t)BATCH * (nd + 1) * sizeof *codes) : NULL;
    for (size_t i = 0; coded && i < n; i++) {
        size_t nstrs = srcs[i]->h->nstrs ? srcs[i]->h->nstrs : 1;
        srcs[i]->fmap = calloc((size_t)(nd + 1) * nstrs, sizeof *srcs[i]->fmap);
        if (!codes || !srcs[i]->fmap)
            rc = -ENOMEM;
        srcs[i]->coded = 1;
    }
    size_t k = 0;
    int have_prev = 0;
    tsagg__row prev = {0};
    while (rc == 0) {
        tsagg__merge_src *best = NULL;
        for (size_t i = 0; i < n; i++)
            if (!srcs[i]->done && (!best || row_less(&srcs[i]->row, &best->row)))
                best = srcs[i];
        if (!best)
            break;
        const tsagg__row *r = &best->row;
        if (have_prev && is_retry(&prev, r)) {
            stats->duplicates++;
        } else {
            /* The batch owns copies of the arrays; strings stay valid
             * because sources keep their dictionaries and arenas. */
            tsagg__row *o = &batch[k];
            *o = *r;
            if (coded)
                rc = mem_codes(best, w, codes + k * (nd + 1));
            else
                memcpy(dims + k * nd, r->dims, nd * sizeof *dims);
            memcpy(meas + k * nm, r->measures, nm * sizeof *meas);
            o->dims = dims + k * nd;
            o->measures = meas + k * nm;
            prev = *o;
            have_prev = 1;
            stats->rows++;
            if (rc == 0 && ++k == BATCH) {
                rc = coded ? tsagg__part_writer_add_coded(w, batch, codes, k)
                           : tsagg__part_writer_add(w, batch, k);
                k = 0;
                /* prev's arrays point into the batch: keep only its key. */
                prev.dims = NULL;
                prev.measures = NULL;
            }
        }
        if (rc == 0) {
            rc = src_next(best);
            if (rc != 0 && failed)
                *failed = best;
        }
    }
    if (rc == 0 && k)
        rc = coded ? tsagg__part_writer_add_coded(w, batch, codes, k)
                   : tsagg__part_writer_add(w, batch, k);
    free(codes);
    free(batch);
    free(dims);
    free(meas);
    return rc;
}
