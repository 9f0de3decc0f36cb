/* test_partfile.c - partition files: round trips of generated and hand-made
 * rows over spans of an hour, a day and a month (every column, the
 * dictionaries, the merchant index and its pages, the hour segments, the
 * row group zone maps, the rollups of busy merchant-hours against
 * aggregates recomputed from the rows), argument errors, writer I/O faults,
 * concurrent readers, and damage to every part of the file (targeted,
 * structure behind good checksums, truncation, version, a byte-flip
 * sweep). The footer, index pages and hour segments are parsed here from
 * the layout in docs/format.md, so the documentation is checked too. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "bytes.h"
#include "gagen.h"
#include "hll.h"
#include "partfile.h"
#include "partfile_format.h"
#include "testutil.h"
#include "tsagg_errors.h"
#include "tsagg_store.h"

#define GR TSAGG__PART_GROUP_ROWS
#define MAXD 8
#define MAXM 4
#define HOUR0 (GAGEN_DEFAULT_START_US + 13 * TSAGG__HOUR_US)

/* (A suite timeout: per-test ones make Criterion 2.4 leak under --jobs 2.) */
TestSuite(partfile, .timeout = 120);

/* ---- datasets ------------------------------------------------------------- */

typedef struct trow {
    int64_t ts;
    uint64_t merchant, user, session, id;
    uint32_t flags;
    uint32_t ev_off, ev_len;
    uint32_t doff[MAXD], dlen[MAXD];
    double meas[MAXM];
} trow;

/* Rows under construction: strings live in one arena, by offset. */
typedef struct builder {
    trow *t;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
} builder;

/* A finished dataset: rows ready for the writer, in file order. */
typedef struct ds {
    size_t n;
    tsagg__row *rows;
    tsagg__str *dims;
    double *meas;
    char *arena;
    trow *t;
    uint32_t ndims, nm;
    int64_t start; /* the span the file is written for */
    uint32_t hours;
    tsagg_schema *schema;
} ds;

static uint32_t b_str(builder *b, const char *s, size_t len)
{
    if (b->alen + len + 1 > b->acap) {
        b->acap = (b->acap + len + 1) * 2;
        b->arena = realloc(b->arena, b->acap);
        cr_assert_not_null(b->arena);
    }
    uint32_t off = (uint32_t)b->alen;
    if (len)
        memcpy(b->arena + off, s, len);
    b->alen += len;
    return off;
}

static trow *b_new(builder *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->t = realloc(b->t, b->cap * sizeof *b->t);
        cr_assert_not_null(b->t);
    }
    trow *r = &b->t[b->n++];
    memset(r, 0, sizeof *r);
    return r;
}

/* A row with string dims (NULL: all empty) and measures (NULL: all NaN). */
static void b_add(builder *b, int64_t ts, uint64_t merchant, uint64_t user, uint64_t session,
                  const char *ev, const char *const *dims, uint32_t ndims, const double *meas,
                  uint32_t nm)
{
    trow *r = b_new(b);
    r->ts = ts;
    r->merchant = merchant;
    r->user = user;
    r->session = session;
    r->id = (uint64_t)b->n * 7919;
    r->flags = TSAGG_EVENT_HAS_ID;
    r->ev_len = (uint32_t)strlen(ev);
    r->ev_off = b_str(b, ev, r->ev_len);
    for (uint32_t d = 0; d < ndims; d++) {
        const char *s = dims ? dims[d] : "";
        r->dlen[d] = (uint32_t)strlen(s);
        r->doff[d] = b_str(b, s, r->dlen[d]);
    }
    for (uint32_t m = 0; m < nm; m++)
        r->meas[m] = meas ? meas[m] : NAN;
}

static int cmp_trow(const void *x, const void *y)
{
    const trow *a = x, *b = y;
    if (a->merchant != b->merchant)
        return a->merchant < b->merchant ? -1 : 1;
    return (a->ts > b->ts) - (a->ts < b->ts);
}

/* Rows for the span [start, start + hours h). */
static ds finalize_span(builder *b, const tsagg_schema *schema, int64_t start, uint32_t hours,
                        int sort)
{
    ds d = {0};
    if (sort)
        qsort(b->t, b->n, sizeof *b->t, cmp_trow);
    d.n = b->n;
    d.t = b->t;
    d.arena = b->arena;
    d.start = start;
    d.hours = hours;
    d.ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    d.nm = (uint32_t)tsagg_schema_measure_count(schema);
    cr_assert(d.ndims <= MAXD && d.nm <= MAXM);
    d.schema = (tsagg_schema *)schema;
    d.rows = calloc(d.n + 1, sizeof *d.rows);
    d.dims = calloc(d.n * d.ndims + 1, sizeof *d.dims);
    d.meas = calloc(d.n * d.nm + 1, sizeof *d.meas);
    cr_assert(d.rows && d.dims && d.meas);
    for (size_t i = 0; i < d.n; i++) {
        trow *t = &b->t[i];
        tsagg__row *r = &d.rows[i];
        r->ts = t->ts;
        r->merchant = t->merchant;
        r->user = t->user;
        r->session = t->session;
        r->id = t->id;
        r->flags = t->flags;
        r->event = (tsagg__str){b->arena + t->ev_off, t->ev_len};
        r->dims = d.dims + i * d.ndims;
        r->measures = d.meas + i * d.nm;
        for (uint32_t k = 0; k < d.ndims; k++)
            d.dims[i * d.ndims + k] = (tsagg__str){b->arena + t->doff[k], t->dlen[k]};
        for (uint32_t k = 0; k < d.nm; k++)
            d.meas[i * d.nm + k] = t->meas[k];
    }
    return d;
}

/* Rows of one hour. */
static ds finalize(builder *b, const tsagg_schema *schema, int64_t hour, int sort)
{
    return finalize_span(b, schema, hour, 1, sort);
}

static void ds_free(ds *d)
{
    free(d->rows);
    free(d->dims);
    free(d->meas);
    free(d->arena);
    free(d->t);
}

static tsagg_schema *default_schema(void)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create_default(&s), 0);
    return s;
}

/* One hour of generated events, converted by the default schema. */
static ds gen_hour(uint64_t events, uint32_t merchants, tsagg_schema *schema)
{
    static const char *names[6] = {"page", "referrer", "country", "device", "browser", "os"};
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = 42;
    cfg.events = events;
    cfg.days = 1;
    cfg.merchants = merchants;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    builder b = {0};
    tsagg_event batch[4096];
    size_t n;
    while ((n = gagen_next(g, batch, 4096)) > 0) {
        for (size_t i = 0; i < n; i++) {
            const tsagg_event *e = &batch[i];
            if (e->ts < HOUR0 || e->ts >= HOUR0 + TSAGG__HOUR_US)
                continue;
            trow *r = b_new(&b);
            r->ts = e->ts;
            r->merchant = e->merchant;
            r->user = e->user;
            r->session = e->session;
            r->id = e->id;
            r->flags = e->flags;
            r->ev_len = e->event_len;
            r->ev_off = b_str(&b, e->event, e->event_len);
            for (int d = 0; d < 6; d++)
                r->doff[d] = b_str(&b, "", 0);
            r->meas[0] = NAN;
            for (uint32_t a = 0; a < e->nattrs; a++) {
                const tsagg_attr *at = &e->attrs[a];
                for (int d = 0; d < 6; d++) {
                    if (at->type == TSAGG_STR && at->key_len == strlen(names[d]) &&
                        memcmp(at->key, names[d], at->key_len) == 0) {
                        r->dlen[d] = at->v.s.len;
                        r->doff[d] = b_str(&b, at->v.s.ptr, at->v.s.len);
                    }
                }
                if (at->key_len == 5 && memcmp(at->key, "value", 5) == 0)
                    r->meas[0] = at->type == TSAGG_F64 ? at->v.f : (double)at->v.i;
            }
        }
    }
    gagen_free(g);
    return finalize(&b, schema, HOUR0, 1);
}

/* ---- writing and checking ------------------------------------------------- */

static void write_ds(const tsagg_io *io, const char *path, const ds *d, size_t batch,
                     tsagg__part_info *info)
{
    tsagg__part_writer *w;
    cr_assert_eq(tsagg__part_writer_open(io, path, d->start, d->hours, d->schema, 77, &w), 0);
    for (size_t i = 0; i < d->n; i += batch) {
        size_t k = d->n - i < batch ? d->n - i : batch;
        char msg[256];
        int rc = tsagg__part_writer_add(w, d->rows + i, k);
        tsagg__part_writer_errmsg(w, msg, sizeof msg);
        cr_assert_eq(rc, 0, "add: %s (%s)", tsagg_strerror(rc), msg);
    }
    tsagg__part_info tmp;
    int rc = tsagg__part_writer_finish(w, info ? info : &tmp);
    cr_assert_eq(rc, 0, "finish: %s", tsagg_strerror(rc));
}

static int same_str(tsagg__part *p, uint32_t col, uint32_t code, tsagg__str want)
{
    const char *s;
    size_t len;
    int rc = tsagg__part_dict_get(p, col, code, &s, &len);
    cr_assert_eq(rc, 0, "dict_get col %u code %u: %s", col, code, tsagg_strerror(rc));
    return len == want.len && (len == 0 || memcmp(s, want.ptr, len) == 0);
}

typedef struct key_idx {
    uint64_t key;
    size_t idx;
} key_idx;

static int cmp_key_idx(const void *x, const void *y)
{
    const key_idx *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static size_t distinct(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || v[i] != v[i - 1])
            k++;
    return k;
}

/* What verify saw: sketches checked, and the shapes of the index. */
typedef struct sketch_stats {
    uint64_t exact_checked, approx_checked;
    double worst;
    uint64_t segmented, unsegmented; /* merchants with / without hour segments */
    uint64_t rollups, plain_segments; /* segments with / without a rollup */
} sketch_stats;

/* The stored sketch equals the sketch of ids (same bytes) and estimates
 * the exact distinct count (exactly up to 256, within 3% above). */
static void check_sketch(const uint8_t *bytes, size_t len, const uint64_t *ids, size_t n,
                         uint64_t *scratch, sketch_stats *st)
{
    /* Id 0 is an absent user or session: never counted. */
    size_t present = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != 0)
            scratch[present++] = ids[i];
    ids = scratch;
    n = present;
    tsagg__hll h;
    tsagg__hll_init(&h);
    cr_assert_eq(tsagg__hll_add_many(&h, ids, n), 0);
    static uint8_t want[TSAGG__HLL_SERIALIZED_MAX];
    int wn = tsagg__hll_serialize(&h, want, sizeof want);
    cr_assert(wn > 0);
    cr_assert_eq((size_t)wn, len, "sketch size %zu, want %d", len, wn);
    cr_assert(memcmp(bytes, want, len) == 0, "sketch bytes differ");
    tsagg__hll_fini(&h);
    tsagg__hll_view v;
    cr_assert_eq(tsagg__hll_view_init(&v, bytes, len), 0);
    double est = tsagg__hll_view_estimate(&v);
    size_t exact = distinct(scratch, n);
    if (exact <= TSAGG__HLL_EXACT_MAX) {
        cr_assert_eq(est, (double)exact, "estimate %f, exact %zu", est, exact);
        st->exact_checked++;
    } else {
        double err = fabs(est - (double)exact) / (double)exact;
        cr_assert(err <= 0.03, "estimate %f, exact %zu", est, exact);
        st->approx_checked++;
        st->worst = err > st->worst ? err : st->worst;
    }
}

/* Rollup of a merchant-hour against aggregates of its rows. */
static void check_rollup(tsagg__part *p, const ds *d, const tsagg__merchant_entry *me,
                         const tsagg__hour_segment *seg, const uint32_t *evcode, sketch_stats *st)
{
    size_t s = (size_t)seg->row_start, k = (size_t)seg->rows;
    tsagg__rollup r;
    int rc = tsagg__part_rollup(p, me, seg, &r);
    cr_assert_eq(rc, 0, "rollup of merchant %" PRIu64 ": %s", me->merchant, tsagg_strerror(rc));
    key_idx *ki = malloc(k * sizeof *ki);
    uint64_t *ids = calloc(k, sizeof *ids), *ids2 = calloc(k, sizeof *ids2);
    uint64_t *scratch = malloc(k * sizeof *scratch);
    cr_assert(ki && ids && ids2 && scratch);
    for (size_t j = 0; j < k; j++) {
        cr_assert(d->rows[s + j].ts >= seg->hour && d->rows[s + j].ts < seg->hour + TSAGG__HOUR_US);
        uint64_t minute = (uint64_t)(d->rows[s + j].ts - seg->hour) / 60000000u;
        ki[j] = (key_idx){minute << 32 | evcode[s + j], s + j};
    }
    qsort(ki, k, sizeof *ki, cmp_key_idx);
    uint32_t e = 0;
    for (size_t j = 0; j < k;) {
        size_t j2 = j;
        double sums[MAXM] = {0};
        while (j2 < k && ki[j2].key == ki[j].key) {
            for (uint32_t m = 0; m < d->nm; m++) {
                double v = d->rows[ki[j2].idx].measures[m];
                if (!isnan(v))
                    sums[m] += v;
            }
            j2++;
        }
        cr_assert_lt(e, r.n);
        cr_assert_eq(r.minute[e], ki[j].key >> 32);
        cr_assert_eq(r.event[e], (uint32_t)ki[j].key);
        cr_assert_eq(r.count[e], j2 - j);
        cr_assert(memcmp(&r.sums[(size_t)e * d->nm], sums, d->nm * sizeof(double)) == 0,
                  "sums of entry %u", e);
        e++;
        j = j2;
    }
    cr_assert_eq(e, r.n);
    cr_assert_eq(r.nmeasures, d->nm);
    for (size_t j = 0; j < k; j++) {
        ids[j] = d->rows[s + j].user;
        ids2[j] = d->rows[s + j].session;
    }
    check_sketch(r.users, r.users_len, ids, k, scratch, st);
    check_sketch(r.sessions, r.sessions_len, ids2, k, scratch, st);
    /* Per event name: rows sorted by code via ki's key low bits. */
    for (size_t j = 0; j < k; j++)
        ki[j] = (key_idx){evcode[s + j], s + j};
    qsort(ki, k, sizeof *ki, cmp_key_idx);
    uint32_t ne = 0;
    for (size_t j = 0; j < k;) {
        size_t j2 = j, c = 0;
        while (j2 < k && ki[j2].key == ki[j].key) {
            ids[c] = d->rows[ki[j2].idx].user;
            ids2[c++] = d->rows[ki[j2].idx].session;
            j2++;
        }
        /* Only event names with enough rows keep a sketch of their own. */
        if (c >= 1024) {
            cr_assert_lt(ne, r.nnamed);
            cr_assert_eq(r.named_event[ne], ki[j].key);
            check_sketch(r.named_users[ne], r.named_users_len[ne], ids, c, scratch, st);
            check_sketch(r.named_sessions[ne], r.named_sessions_len[ne], ids2, c, scratch, st);
            ne++;
        }
        j = j2;
    }
    cr_assert_eq(ne, r.nnamed);
    tsagg__rollup_free(&r);
    tsagg__rollup_free(&r); /* idempotent on a freed rollup */
    free(ki);
    free(ids);
    free(ids2);
    free(scratch);
}

/* Open path and check everything it holds against d. */
static void verify(const tsagg_io *io, const char *path, const ds *d, sketch_stats *st)
{
    tsagg__part *p;
    char err[512];
    int rc = tsagg__part_open(io, path, &p, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s", err);
    const tsagg__part_info *info = tsagg__part_get_info(p);
    cr_assert_eq(info->start, d->start);
    cr_assert_eq(info->hours, d->hours);
    cr_assert_eq(info->rows, d->n);
    cr_assert_eq(tsagg__part_file_id(p), 77);
    cr_assert_str_eq(tsagg__part_path(p), path);
    cr_assert_eq(tsagg_schema_id(tsagg__part_schema(p)), tsagg_schema_id(d->schema));
    uint32_t ncols = 7 + d->ndims + d->nm;
    uint32_t ng = (uint32_t)((d->n + GR - 1) / GR);
    cr_assert_eq(tsagg__part_groups(p), ng);
    cr_assert_null(tsagg__part_group(p, ng));
    uint32_t *evcode = malloc((d->n + 1) * sizeof *evcode);
    int64_t *i64 = malloc(GR * 8);
    uint64_t *u64 = malloc(GR * 8);
    uint32_t *u32 = malloc(GR * 4);
    double *f64 = malloc(GR * 8);
    cr_assert(evcode && i64 && u64 && u32 && f64);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint32_t g = 0; g < ng; g++) {
        const tsagg__group_info *gi = tsagg__part_group(p, g);
        size_t s = (size_t)g * GR, n = d->n - s < GR ? d->n - s : GR;
        cr_assert_eq(gi->row_start, s);
        cr_assert_eq(gi->rows, n);
        int64_t gmin = INT64_MAX, gmax = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            gmin = d->rows[s + i].ts < gmin ? d->rows[s + i].ts : gmin;
            gmax = d->rows[s + i].ts > gmax ? d->rows[s + i].ts : gmax;
        }
        cr_assert_eq(gi->min_ts, gmin);
        cr_assert_eq(gi->max_ts, gmax);
        cr_assert_eq(gi->min_merchant, d->rows[s].merchant);
        cr_assert_eq(gi->max_merchant, d->rows[s + n - 1].merchant);
        lo = gmin < lo ? gmin : lo;
        hi = gmax > hi ? gmax : hi;
        for (uint32_t c = 0; c < ncols; c++) {
            void *out = c == TSAGG__COL_TS ? (void *)i64
                        : (c == TSAGG__COL_EVENT || c == TSAGG__COL_FLAGS ||
                           (c >= TSAGG__COL_DIM0 && c < TSAGG__COL_DIM0 + d->ndims))
                            ? (void *)u32
                        : c >= TSAGG__COL_DIM0 ? (void *)f64
                                               : (void *)u64;
            rc = tsagg__part_read_column(p, c, g, out);
            cr_assert_eq(rc, 0, "column %u group %u: %s", c, g, tsagg_strerror(rc));
            for (size_t i = 0; i < n; i++) {
                const tsagg__row *r = &d->rows[s + i];
                switch (c) {
                case TSAGG__COL_TS:
                    cr_assert_eq(i64[i], r->ts);
                    break;
                case TSAGG__COL_MERCHANT:
                    cr_assert_eq(u64[i], r->merchant);
                    break;
                case TSAGG__COL_USER:
                    cr_assert_eq(u64[i], r->user);
                    break;
                case TSAGG__COL_SESSION:
                    cr_assert_eq(u64[i], r->session);
                    break;
                case TSAGG__COL_ID:
                    cr_assert_eq(u64[i], r->flags & TSAGG_EVENT_HAS_ID ? r->id : 0);
                    break;
                case TSAGG__COL_FLAGS:
                    cr_assert_eq(u32[i], r->flags);
                    break;
                case TSAGG__COL_EVENT:
                    evcode[s + i] = u32[i];
                    cr_assert(same_str(p, c, u32[i], r->event), "row %zu event", s + i);
                    break;
                default:
                    if (c < TSAGG__COL_DIM0 + d->ndims)
                        cr_assert(same_str(p, c, u32[i], r->dims[c - TSAGG__COL_DIM0]),
                                  "row %zu dim %u", s + i, c - TSAGG__COL_DIM0);
                    else
                        cr_assert(
                            memcmp(&f64[i], &r->measures[c - TSAGG__COL_DIM0 - d->ndims], 8) == 0,
                            "row %zu measure", s + i);
                }
            }
        }
    }
    if (d->n) {
        cr_assert_eq(info->min_ts, lo);
        cr_assert_eq(info->max_ts, hi);
    } else {
        cr_assert_eq(info->min_ts, 0);
        cr_assert_eq(info->max_ts, 0);
    }
    /* dict_find gives back the codes, and misses what is not there. */
    for (size_t i = 0; i < d->n; i += 97) {
        uint32_t code = UINT32_MAX;
        cr_assert_eq(tsagg__part_dict_find(p, TSAGG__COL_EVENT, d->rows[i].event.ptr,
                                           d->rows[i].event.len, &code),
                     1);
        cr_assert_eq(code, evcode[i]);
    }
    cr_assert_eq(tsagg__part_dict_find(p, TSAGG__COL_EVENT, "no such event!", 14, NULL), 0);
    for (uint32_t k = 0; k < d->ndims; k++) {
        uint32_t code = 99;
        cr_assert_eq(tsagg__part_dict_find(p, TSAGG__COL_DIM0 + k, "", 0, &code), 1);
        cr_assert_eq(code, 0);
        cr_assert_geq(tsagg__part_dict_size(p, TSAGG__COL_DIM0 + k), 1);
        const char *s;
        size_t len;
        cr_assert_eq(tsagg__part_dict_get(p, TSAGG__COL_DIM0 + k,
                                          tsagg__part_dict_size(p, TSAGG__COL_DIM0 + k), &s, &len),
                     TSAGG_EARG);
    }
    cr_assert_eq(tsagg__part_dict_size(p, TSAGG__COL_TS), 0);
    cr_assert_eq(tsagg__part_dict_find(p, TSAGG__COL_TS, "x", 1, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg__part_read_column(p, ncols, 0, u64), TSAGG_EARG);
    cr_assert_eq(tsagg__part_read_column(p, 0, ng, u64), TSAGG_EARG);
    /* The merchant index, the hour segments and the rollups. */
    uint64_t nm = 0, file_rollups = 0;
    for (size_t s = 0; s < d->n;) {
        size_t e = s;
        while (e < d->n && d->rows[e].merchant == d->rows[s].merchant)
            e++;
        uint64_t merchant = d->rows[s].merchant;
        tsagg__merchant_entry m, f;
        if (merchant > 0 && (s == 0 || d->rows[s - 1].merchant < merchant - 1))
            cr_assert_eq(tsagg__part_find_merchant(p, merchant - 1, &f), 0);
        rc = tsagg__part_merchant_at(p, nm, &m);
        cr_assert_eq(rc, 0, "merchant_at %" PRIu64 ": %s", nm, tsagg_strerror(rc));
        cr_assert_eq(m.merchant, merchant);
        cr_assert_eq(m.index, nm);
        cr_assert_eq(m.row_start, s);
        cr_assert_eq(m.rows, e - s);
        cr_assert_eq(m.min_ts, d->rows[s].ts);
        cr_assert_eq(m.max_ts, d->rows[e - 1].ts);
        cr_assert_eq(tsagg__part_find_merchant(p, merchant, &f), 1);
        cr_assert(f.merchant == m.merchant && f.index == m.index && f.row_start == m.row_start &&
                  f.rows == m.rows && f.min_ts == m.min_ts && f.max_ts == m.max_ts &&
                  f.nsegments == m.nsegments);
        /* The hours of its rows, and whether any is busy enough for a rollup. */
        uint32_t nh = 0, busy = 0;
        for (size_t i = s; i < e;) {
            int64_t h = d->rows[i].ts - (d->rows[i].ts - d->start) % TSAGG__HOUR_US;
            size_t j = i;
            while (j < e && d->rows[j].ts < h + TSAGG__HOUR_US)
                j++;
            nh++;
            busy += j - i >= TSAGG__PART_ROLLUP_MIN_ROWS;
            i = j;
        }
        cr_assert_eq(m.nsegments, busy ? nh : 0, "merchant %" PRIu64, merchant);
        if (st) {
            st->segmented += busy > 0;
            st->unsegmented += busy == 0;
        }
        tsagg__hour_segment *segs = calloc(nh, sizeof *segs);
        cr_assert_not_null(segs);
        rc = tsagg__part_segments(p, &m, segs);
        cr_assert_eq(rc, 0, "segments of merchant %" PRIu64 ": %s", merchant, tsagg_strerror(rc));
        size_t i = s;
        for (uint32_t k = 0; k < m.nsegments; k++) {
            const tsagg__hour_segment *g = &segs[k];
            int64_t h = d->rows[i].ts - (d->rows[i].ts - d->start) % TSAGG__HOUR_US;
            size_t j = i;
            while (j < e && d->rows[j].ts < h + TSAGG__HOUR_US)
                j++;
            cr_assert_eq(g->hour, h);
            cr_assert_eq(g->row_start, i);
            cr_assert_eq(g->rows, j - i);
            cr_assert_eq(g->rollup_len > 0, j - i >= TSAGG__PART_ROLLUP_MIN_ROWS);
            if (g->rollup_len) {
                file_rollups++;
                if (st) {
                    check_rollup(p, d, &m, g, evcode, st);
                    st->rollups++;
                }
            } else {
                tsagg__rollup r;
                cr_assert_eq(tsagg__part_rollup(p, &m, g, &r), TSAGG_EARG);
                if (st)
                    st->plain_segments++;
            }
            i = j;
        }
        free(segs);
        nm++;
        s = e;
    }
    cr_assert_eq(tsagg__part_merchants(p), nm);
    cr_assert_eq(info->merchants, nm);
    tsagg__merchant_entry m;
    cr_assert_eq(tsagg__part_merchant_at(p, nm, &m), TSAGG_EARG);
    if (d->n && d->rows[d->n - 1].merchant < UINT64_MAX)
        cr_assert_eq(tsagg__part_find_merchant(p, d->rows[d->n - 1].merchant + 1, &m), 0);
    cr_assert_eq(tsagg__part_find_merchant(p, UINT64_MAX, &m),
                 d->n && d->rows[d->n - 1].merchant == UINT64_MAX);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(info->bytes, (uint64_t)sb.st_size);
    tsagg__part_space_info sp;
    tsagg__part_space(p, &sp);
    cr_assert_eq(sp.header + sp.columns + sp.dicts + sp.rollups + sp.index + sp.footer,
                 info->bytes);
    cr_assert_eq(sp.rollups > 0, file_rollups > 0);
    cr_assert_eq(sp.index > 0, nm > 0);
    free(evcode);
    free(i64);
    free(u64);
    free(u32);
    free(f64);
    tsagg__part_close(p);
}

/* A merchant-hour's rollup as the index lists it. */
typedef struct rollup_ref {
    tsagg__merchant_entry e;
    tsagg__hour_segment seg;
} rollup_ref;

/* Every rollup p lists, in file order (*n of them). */
static rollup_ref *list_rollups(tsagg__part *p, size_t *n)
{
    size_t cap = 16;
    rollup_ref *out = malloc(cap * sizeof *out);
    cr_assert_not_null(out);
    *n = 0;
    for (uint64_t i = 0; i < tsagg__part_merchants(p); i++) {
        tsagg__merchant_entry e;
        cr_assert_eq(tsagg__part_merchant_at(p, i, &e), 0);
        tsagg__hour_segment *segs = calloc(e.nsegments + 1, sizeof *segs);
        cr_assert_not_null(segs);
        cr_assert_eq(tsagg__part_segments(p, &e, segs), 0);
        for (uint32_t k = 0; k < e.nsegments; k++) {
            if (!segs[k].rollup_len)
                continue;
            if (*n == cap) {
                cap *= 2;
                out = realloc(out, cap * sizeof *out);
                cr_assert_not_null(out);
            }
            out[(*n)++] = (rollup_ref){e, segs[k]};
        }
        free(segs);
    }
    return out;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void tmp_path(char *dir, size_t dlen, char *path, size_t plen, const char *name)
{
    tu_tmpdir(dir, dlen);
    snprintf(path, plen, "%s/%s", dir, name);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spill(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* ---- round trips ------------------------------------------------------------ */

Test(partfile, generated_hour_round_trip)
{
    tsagg_schema *schema = default_schema();
    ds d = gen_hour(1500000, 1000, schema);
    cr_assert_gt(d.n, 20000, "only %zu events in the hour", d.n);
    char dir[256], path[512], tmp[600];
    tmp_path(dir, sizeof dir, path, sizeof path, "0001.tpart");
    double t0 = now_s();
    tsagg__part_info info;
    write_ds(tsagg_io_default(), path, &d, 1000, &info);
    double dt = now_s() - t0;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert(!exists(tmp));
    cr_assert_eq(info.rows, d.n);
    cr_assert_eq(info.start, HOUR0);
    cr_assert_eq(info.hours, 1);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    cr_assert_gt(st.approx_checked, 0, "no merchant above the exact range");
    cr_assert_gt(st.exact_checked, 0);

    tsagg__part *p;
    cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0), 0);
    tsagg__part_space_info sp;
    tsagg__part_space(p, &sp);
    double n = (double)d.n;
    fprintf(stderr,
            "partfile: %zu events, %" PRIu64 " merchants, %" PRIu64 " bytes: %.2f bytes/event "
            "(columns %.2f, dictionaries %.2f, rollups %.2f, index %.2f, footer %.2f, header "
            "%.4f); write %.0f rows/s; sketches: %" PRIu64 " exact, %" PRIu64
            " estimated (worst error %.2f%%)\n",
            d.n, info.merchants, info.bytes, (double)info.bytes / n, (double)sp.columns / n,
            (double)sp.dicts / n, (double)sp.rollups / n, (double)sp.index / n,
            (double)sp.footer / n,
            (double)sp.header / n, n / dt, st.exact_checked, st.approx_checked, st.worst * 100);
    static const char *names[] = {"ts",     "merchant", "event", "user",     "session",
                                  "id",     "flags",    "page",  "referrer", "country",
                                  "device", "browser",  "os",    "value"};
    for (uint32_t c = 0; c < 14; c++)
        fprintf(stderr, "partfile:   %-9s %6.3f bytes/event (+ dictionary %.3f)\n", names[c],
                (double)tsagg__part_column_bytes(p, c) / n,
                (double)tsagg__part_dict_bytes(p, c) / n);
    /* What the rollups hold (raw sizes, before the block's codec). */
    uint64_t entries = 0, all_sk = 0, named_sk = 0, named_same = 0, named = 0;
    size_t nroll;
    rollup_ref *rl = list_rollups(p, &nroll);
    for (size_t m = 0; m < nroll; m++) {
        tsagg__rollup r;
        cr_assert_eq(tsagg__part_rollup(p, &rl[m].e, &rl[m].seg, &r), 0);
        entries += r.n;
        all_sk += r.users_len + r.sessions_len;
        for (uint32_t k = 0; k < r.nnamed; k++) {
            named += 2;
            named_same += (r.named_users[k] == r.users) + (r.named_sessions[k] == r.sessions);
            named_sk += (r.named_users[k] == r.users ? 0 : r.named_users_len[k]) +
                        (r.named_sessions[k] == r.sessions ? 0 : r.named_sessions_len[k]);
        }
        tsagg__rollup_free(&r);
    }
    fprintf(stderr,
            "partfile:   rollups: %" PRIu64 " (minute, event) entries, %.2f per merchant-hour; "
            "merchant sketches %.2f bytes/event, per-event sketches %.2f bytes/event "
            "(%" PRIu64 " of %" PRIu64 " equal to the merchant's)\n",
            entries, nroll ? (double)entries / (double)nroll : 0.0, (double)all_sk / n,
            (double)named_sk / n, named_same, named);
    free(rl);
    tsagg__part_close(p);

    /* The same rows in one call, and one row per call, give the same file. */
    char path2[600], path3[600];
    snprintf(path2, sizeof path2, "%s/0002.tpart", dir);
    snprintf(path3, sizeof path3, "%s/0003.tpart", dir);
    write_ds(tsagg_io_default(), path2, &d, d.n, NULL);
    ds small = d;
    small.n = d.n < 5000 ? d.n : 5000;
    write_ds(tsagg_io_default(), path3, &small, 1, NULL);
    size_t alen, blen;
    uint8_t *a = slurp(path, &alen), *b = slurp(path2, &blen);
    cr_assert(alen == blen && memcmp(a, b, alen) == 0, "batching changed the file");
    free(a);
    free(b);
    sketch_stats st3 = {0};
    verify(tsagg_io_default(), path3, &small, &st3);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

static const char *DIMS_A[6] = {"/home", "google.com", "DE", "mobile", "Firefox", "Android"};
static const char *DIMS_B[6] = {"/cart", "", "FR", "", "Safari", "iOS"};

Test(partfile, empty_dims_nan_measures_and_odd_values)
{
    tsagg_schema *schema = default_schema();
    builder b = {0};
    int64_t h = HOUR0;
    double v1 = 12.5, vneg0 = -0.0, vnan = NAN, vbig = 1e300;
    uint64_t payload = 0x7ff8000000abcdefull;
    double vpay;
    memcpy(&vpay, &payload, 8);
    b_add(&b, h, 5, 1, 10, "page_view", NULL, 6, NULL, 1);
    b_add(&b, h, 5, 1, 10, "page_view", DIMS_A, 6, &v1, 1);
    b_add(&b, h + 1, 5, 2, 11, "purchase", DIMS_B, 6, &vneg0, 1);
    b_add(&b, h + 59999999, 5, 2, 11, "purchase", DIMS_B, 6, &vnan, 1);
    b_add(&b, h + 60000000, 5, 0, 0, "", NULL, 6, &vpay, 1);
    /* Enough rows for the merchant-hour to get a rollup. */
    for (int i = 0; i < TSAGG__PART_ROLLUP_MIN_ROWS; i++)
        b_add(&b, h + 30 * 60000000 + i, 5, 4, 13, "page_view", NULL, 6, NULL, 1);
    b_add(&b, h + TSAGG__HOUR_US - 1, 5, 3, 12, "purchase", DIMS_A, 6, &vbig, 1);
    b_add(&b, h + 5, 6, UINT64_MAX, UINT64_MAX, "purchase", NULL, 6, &vbig, 1);
    b_add(&b, h + 5, 6, UINT64_MAX, UINT64_MAX, "purchase", NULL, 6, &vbig, 1);
    b_add(&b, h, UINT64_MAX, 7, 7, "click", DIMS_B, 6, NULL, 1);
    b.t[1].flags = 0; /* no id: the column holds 0 */
    ds d = finalize(&b, schema, h, 0);
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "odd.tpart");
    write_ds(tsagg_io_default(), path, &d, 4, NULL);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    /* Sums start at +0.0 (so +0.0 + -0.0 is +0.0, checked by verify); NaN
     * measures, whatever their payload, add nothing. */
    tsagg__part *p;
    cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0), 0);
    tsagg__merchant_entry me;
    tsagg__hour_segment seg;
    cr_assert_eq(tsagg__part_merchant_at(p, 0, &me), 0);
    cr_assert_eq(me.nsegments, 1);
    cr_assert_eq(tsagg__part_segments(p, &me, &seg), 0);
    tsagg__rollup r;
    cr_assert_eq(tsagg__part_rollup(p, &me, &seg, &r), 0);
    /* (0, page_view), (0, purchase), (1, ""), (30, page_view), (59, purchase) */
    cr_assert_eq(r.n, 5);
    uint32_t code;
    cr_assert_eq(tsagg__part_dict_find(p, TSAGG__COL_EVENT, "", 0, &code), 1);
    cr_assert_eq(r.minute[2], 1);
    cr_assert_eq(r.event[2], code);
    uint64_t bits;
    memcpy(&bits, &r.sums[2], 8);
    cr_assert_eq(bits, 0, "a NaN measure adds nothing");
    cr_assert_eq(r.sums[0], 12.5);
    cr_assert_eq(r.sums[4], 1e300);
    tsagg__rollup_free(&r);
    tsagg__part_close(p);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, single_row_and_empty)
{
    tsagg_schema *schema = default_schema();
    builder b = {0};
    double v = 3;
    b_add(&b, HOUR0 + 1234, 99, 1, 2, "page_view", DIMS_A, 6, &v, 1);
    ds d = finalize(&b, schema, HOUR0, 0);
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "one.tpart");
    write_ds(tsagg_io_default(), path, &d, 1, NULL);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    ds_free(&d);

    builder e = {0};
    ds none = finalize(&e, schema, HOUR0, 0);
    char path2[600];
    snprintf(path2, sizeof path2, "%s/empty.tpart", dir);
    tsagg__part_info info;
    write_ds(tsagg_io_default(), path2, &none, 1, &info);
    cr_assert_eq(info.rows, 0);
    cr_assert_eq(info.merchants, 0);
    verify(tsagg_io_default(), path2, &none, &st);
    ds_free(&none);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

static ds many_rows(size_t n, tsagg_schema *schema)
{
    builder b = {0};
    char page[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(page, sizeof page, "/p/%zu", i % 37);
        const char *dims[6] = {page, "", i % 3 ? "US" : "DE", "", "", ""};
        double v = i % 5 ? NAN : (double)i / 4;
        uint64_t merchant = 1 + i * 3 / n; /* three merchants */
        int64_t ts = HOUR0 + (int64_t)(i % (n / 3 + 1)) * 1000;
        b_add(&b, ts, merchant, i % 101, i % 203, i % 4 ? "page_view" : "click", dims, 6, &v, 1);
    }
    return finalize(&b, schema, HOUR0, 1);
}

/* ---- spans ------------------------------------------------------------------- */

static uint64_t next_rand(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 17;
}

/* A row of merchant m at ts with a few dimension values. */
static void span_row(builder *b, int64_t ts, uint64_t m, uint64_t *x)
{
    char page[16];
    uint64_t r = next_rand(x);
    snprintf(page, sizeof page, "/p/%u", (unsigned)(r % 23));
    const char *dims[6] = {page, r % 3 ? "" : "ddg.gg", r % 2 ? "DE" : "US", "", "", ""};
    double v = r % 5 ? NAN : (double)(r % 1000) / 8;
    b_add(b, ts, m, 1 + r % 97, 1 + r % 211, r % 4 ? "page_view" : "click", dims, 6, &v, 1);
}

/*
 * `merchants` merchants over a span of `hours` hours: most with a few rows
 * scattered over the span, every 40th with a busy hour (enough rows for a
 * rollup) and a few rows in other hours, and the largest merchant id last.
 * Ids have uneven gaps, so the index pages' deltas vary in length.
 */
static ds span_rows(tsagg_schema *schema, int64_t start, uint32_t hours, uint32_t merchants)
{
    builder b = {0};
    uint64_t x = 0x5eed0000u + hours;
    int64_t span = (int64_t)hours * TSAGG__HOUR_US;
    for (uint32_t m = 0; m < merchants; m++) {
        uint64_t id = m == merchants - 1 ? UINT64_MAX : (uint64_t)m * m * 977 + 3;
        if (m % 40 == 7) {
            int64_t busy = start + (int64_t)(next_rand(&x) % hours) * TSAGG__HOUR_US;
            for (int i = 0; i < TSAGG__PART_ROLLUP_MIN_ROWS + (int)m % 50; i++)
                span_row(&b, busy + (int64_t)i * 6000000, id, &x);
        }
        uint32_t n = 1 + (uint32_t)(next_rand(&x) % 6);
        for (uint32_t i = 0; i < n; i++)
            span_row(&b, start + (int64_t)(next_rand(&x) % (uint64_t)span), id, &x);
    }
    return finalize_span(&b, schema, start, hours, 1);
}

/*
 * A day of two merchants whose columns take the size-class blocks
 * (docs/encodings.md): sessions that either go on from the previous row
 * or come back from far (DICTREFHUF), pages from 700 of which three are
 * most rows (U32HUF), and events a second to a minute apart (DELTAHUF).
 */
static ds size_class_rows(tsagg_schema *schema, int64_t start)
{
    builder b = {0};
    uint64_t x = 0x51ce;
    uint64_t pool[300];
    for (int i = 0; i < 300; i++)
        pool[i] = next_rand(&x) << 20 ^ next_rand(&x);
    char page[16];
    uint64_t session = pool[0];
    for (uint64_t m = 1; m <= 2; m++) {
        int64_t ts = start;
        for (size_t i = 0; i < GR + 500; i++) {
            uint64_t r = next_rand(&x);
            if (r % 2)
                session = pool[r / 2 % 300];
            snprintf(page, sizeof page, "/p/%u", (unsigned)(r % 4 ? r / 4 % 3 : r / 4 % 700));
            const char *dims[6] = {page, "", r % 3 ? "US" : "DE", "", "", ""};
            double v = NAN;
            ts += (int64_t)(r % (r % 5 ? 2000000u : 60000000u));
            b_add(&b, ts, m, session ^ 1, session, "page_view", dims, 6, &v, 1);
        }
    }
    return finalize_span(&b, schema, start, 24, 1);
}

Test(partfile, spans_of_an_hour_a_day_and_a_month)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tu_tmpdir(dir, sizeof dir);
    const int64_t day = HOUR0 - 13 * TSAGG__HOUR_US;
    uint32_t hours[3] = {1, 24, TSAGG__PART_MAX_HOURS};
    uint32_t merchants[3] = {300, 520, 700}; /* 2, 3 and 3 index pages */
    for (int k = 0; k < 3; k++) {
        ds d = span_rows(schema, day, hours[k], merchants[k]);
        snprintf(path, sizeof path, "%s/%uh.tpart", dir, hours[k]);
        tsagg__part_info info;
        write_ds(tsagg_io_default(), path, &d, 999, &info);
        cr_assert_eq(info.start, day);
        cr_assert_eq(info.hours, hours[k]);
        cr_assert_eq(info.merchants, merchants[k]);
        sketch_stats st = {0};
        verify(tsagg_io_default(), path, &d, &st);
        /* Both kinds of merchant, and in a longer span, both kinds of
         * segment. */
        cr_assert_gt(st.segmented, 0);
        cr_assert_gt(st.unsegmented, 0);
        cr_assert_gt(st.rollups, 0);
        if (hours[k] > 1)
            cr_assert_gt(st.plain_segments, 0);
        /* Rows outside the span are refused, at either end. */
        tsagg__part_writer *w;
        cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, day, hours[k], schema, 1,
                                             &w),
                     0);
        tsagg__row r = d.rows[0];
        r.ts = day - 1;
        cr_assert_eq(tsagg__part_writer_add(w, &r, 1), TSAGG_EARG);
        r.ts = day + (int64_t)hours[k] * TSAGG__HOUR_US;
        cr_assert_eq(tsagg__part_writer_add(w, &r, 1), TSAGG_EARG);
        r.ts--;
        cr_assert_eq(tsagg__part_writer_add(w, &r, 1), 0);
        tsagg__part_writer_abort(w);
        ds_free(&d);
    }
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* Merchant-hours of exactly TSAGG__PART_ROLLUP_MIN_ROWS - 1 and
 * TSAGG__PART_ROLLUP_MIN_ROWS rows, added in batches that cut them. */
/* zstd is kept when it saves an eighth in files under a day, a
 * thirty-second in day and month files: a block that zstd shrinks by ~6%
 * is stored plain in the first and compressed in the second, and reads
 * back the same either way. */
Test(partfile, zstd_pay_rule_by_span)
{
    enum { N = 4096, ZEROS = 256 };
    static uint8_t raw[N];
    uint64_t seed = 17;
    for (size_t i = 0; i < N - ZEROS; i++)
        raw[i] = (uint8_t)tu_splitmix64(&seed);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    cr_assert(cctx && dctx);
    const uint32_t hours[] = {1, 23, 24, 672, 744};
    for (size_t k = 0; k < sizeof hours / sizeof hours[0]; k++) {
        tsagg__buf out = {0};
        cr_assert_eq(tsagg__pf_block_append(&out, cctx, pf_zstd_pay_shift(hours[k]), PF_KIND_COLUMN,
                                            3, 7, raw, N),
                     0);
        pf_block_header h;
        const char *why = NULL;
        cr_assert_eq(tsagg__pf_block_check(out.p, out.len, PF_KIND_COLUMN, 3, 7, N, &h, &why), 0,
                     "%s", why);
        int want = hours[k] >= 24 ? PF_CODEC_ZSTD : PF_CODEC_NONE;
        cr_assert_eq(h.codec, want, "%" PRIu32 " h: codec %u, %u of %u bytes", hours[k], h.codec,
                     h.stored, h.raw);
        if (want == PF_CODEC_ZSTD)
            cr_assert(h.stored > N - N / 8 && h.stored <= N - N / 32, "zstd saved %u",
                      N - h.stored);
        else
            cr_assert_eq(h.stored, N);
        const uint8_t *back;
        uint8_t *owned;
        cr_assert_eq(tsagg__pf_block_raw(out.p, &h, dctx, &back, &owned), 0);
        cr_assert_eq(h.raw, N);
        cr_assert_eq(memcmp(back, raw, N), 0);
        free(owned);
        tsagg__buf_free(&out);
    }
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
}

/* The codec of column col's block in every row group of the file at
 * f (len bytes): codecs[g], for g < *ngroups. */
static void column_codecs(const uint8_t *f, size_t len, uint32_t col, uint8_t *codecs,
                          uint32_t cap, uint32_t *ngroups)
{
    const uint8_t *t = f + len - 48;
    uint64_t off = tsagg__get_u64(t), stored = tsagg__get_u64(t + 8), raw_len = tsagg__get_u64(t + 16);
    uint8_t *raw = malloc(raw_len);
    cr_assert_not_null(raw);
    if (t[24] == 2)
        cr_assert_eq(ZSTD_decompress(raw, raw_len, f + off, stored), raw_len);
    else
        memcpy(raw, f + off, raw_len);
    uint32_t ng = tsagg__get_u32(raw + 32), ncols = tsagg__get_u16(raw + 36);
    uint32_t nd = tsagg__get_u16(raw + 38), slen = tsagg__get_u32(raw + 44);
    cr_assert_leq(ng, cap);
    const uint8_t *q = raw + 64 + slen + (size_t)nd * 16; /* past the dictionaries' refs */
    for (uint32_t g = 0; g < ng; g++) {
        q += 48;
        const uint8_t *b = f + tsagg__get_u64(q + (size_t)col * 12);
        cr_assert_eq(b[0], PF_KIND_COLUMN);
        cr_assert_eq(tsagg__get_u16(b + 2), col);
        cr_assert_eq(tsagg__get_u32(b + 4), g);
        codecs[g] = b[1];
        q += (size_t)ncols * 12;
    }
    *ngroups = ng;
    free(raw);
}

/*
 * zstd on the blocks of a column it does not pay for is tried on every
 * 16th row group only, after the first eight; a column it pays for keeps
 * it on every block. Here the user column is random ids for the first
 * twelve row groups of a month (zstd cannot shrink them) and then cycles
 * through 97 ids (it can): the writer must find that out within 16 row
 * groups and keep zstd from then on, while the session column, random
 * throughout, stays raw, and the file reads back as written.
 */
Test(partfile, zstd_retried_on_columns_it_did_not_pay_for)
{
    enum { RANDOM_GROUPS = 12, GROUPS = 40 };
    tsagg_schema *schema = default_schema();
    builder b = {0};
    uint64_t x = 99;
    const int64_t start = 1759276800000000; /* 2025-10-01 */
    size_t n = (size_t)GROUPS * TSAGG__PART_GROUP_ROWS;
    for (size_t i = 0; i < n; i++) {
        size_t g = i / TSAGG__PART_GROUP_ROWS;
        uint64_t user = g < RANDOM_GROUPS ? tu_splitmix64(&x) | 1
                                          : (i % 97 + 1) * 0x9e3779b97f4a7c15ull;
        b_add(&b, start + (int64_t)i * 1000, 5, user, tu_splitmix64(&x) | 1, "page_view", NULL,
              6, NULL, 1);
    }
    ds d = finalize_span(&b, schema, start, 744, 0);
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "zstd-retry.tpart");
    write_ds(tsagg_io_default(), path, &d, 1000, NULL);
    size_t len;
    uint8_t *f = slurp(path, &len);
    uint8_t users[GROUPS], sessions[GROUPS];
    uint32_t ng, ng2;
    column_codecs(f, len, TSAGG__COL_USER, users, GROUPS, &ng);
    column_codecs(f, len, TSAGG__COL_SESSION, sessions, GROUPS, &ng2);
    cr_assert_eq(ng, GROUPS);
    uint32_t first_zstd = GROUPS;
    for (uint32_t g = 0; g < ng; g++) {
        cr_assert_eq(sessions[g], PF_CODEC_NONE, "session block %u: codec %u", g, sessions[g]);
        if (g < RANDOM_GROUPS)
            cr_assert_eq(users[g], PF_CODEC_NONE, "user block %u: codec %u", g, users[g]);
        else if (users[g] == PF_CODEC_ZSTD && first_zstd == GROUPS)
            first_zstd = g;
        else if (first_zstd < g)
            cr_assert_eq(users[g], PF_CODEC_ZSTD, "user block %u after zstd paid at %u", g,
                         first_zstd);
    }
    cr_assert_lt(first_zstd, RANDOM_GROUPS + 16, "zstd first kept on user block %u", first_zstd);
    cr_assert_gt(first_zstd, RANDOM_GROUPS, "zstd tried on every block after %u misses",
                 RANDOM_GROUPS);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    free(f);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, rollups_start_at_the_threshold)
{
    tsagg_schema *schema = default_schema();
    builder b = {0};
    const int min = TSAGG__PART_ROLLUP_MIN_ROWS;
    double v = 1.5;
    for (int i = 0; i < min - 1; i++) /* merchant 1: one row short */
        b_add(&b, HOUR0 + (int64_t)i * 7000000, 1, 1 + i % 5, 1, "pv", NULL, 6, &v, 1);
    for (int i = 0; i < min; i++) /* merchant 2: just enough */
        b_add(&b, HOUR0 + (int64_t)i * 7000000, 2, 1 + i % 7, 2, i % 3 ? "pv" : "c", DIMS_A, 6,
              i % 2 ? &v : NULL, 1);
    for (int h = 0; h < 2; h++) /* merchant 3: short in hour 0, enough in hour 1 */
        for (int i = 0; i < min - 1 + h; i++)
            b_add(&b, HOUR0 + h * TSAGG__HOUR_US + (int64_t)i * 7000000, 3, 9, 9, "pv", NULL, 6,
                  &v, 1);
    ds d = finalize_span(&b, schema, HOUR0, 2, 0);
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "t.tpart");
    write_ds(tsagg_io_default(), path, &d, 100, NULL);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    cr_assert_eq(st.segmented, 2);
    cr_assert_eq(st.unsegmented, 1);
    cr_assert_eq(st.rollups, 2);
    cr_assert_eq(st.plain_segments, 1);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* Random small files: spans of 1 to 744 hours, merchant ids from 0 to
 * UINT64_MAX, rows on hour edges and at the span's ends, busy hours here
 * and there; everything read back equals what was written. */
Test(partfile, random_spans_round_trip)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tu_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.tpart", dir);
    for (uint64_t seed = 1; seed <= 24; seed++) {
        uint64_t x = seed * 0x9e3779b97f4a7c15ull;
        uint32_t hours = seed % 3 == 0 ? TSAGG__PART_MAX_HOURS
                                       : 1 + (uint32_t)(next_rand(&x) % TSAGG__PART_MAX_HOURS);
        int64_t start = HOUR0 - (int64_t)(next_rand(&x) % 1000) * TSAGG__HOUR_US;
        int64_t span = (int64_t)hours * TSAGG__HOUR_US;
        builder b = {0};
        uint32_t merchants = 1 + (uint32_t)(next_rand(&x) % 600);
        for (uint32_t m = 0; m < merchants; m++) {
            uint64_t r = next_rand(&x);
            uint64_t id = m == 0 && seed % 2 ? 0
                          : m + 1 == merchants && seed % 4 == 1 ? UINT64_MAX
                                                                : r * 2654435761u;
            uint32_t n = 1 + (uint32_t)(r % 4);
            for (uint32_t i = 0; i < n; i++) {
                uint64_t q = next_rand(&x);
                int64_t ts = q % 4 == 0   ? start + (int64_t)(q % hours) * TSAGG__HOUR_US - 1
                             : q % 4 == 1 ? start + (int64_t)(q % hours) * TSAGG__HOUR_US
                                          : start + (int64_t)(q % (uint64_t)span);
                if (ts < start)
                    ts = start;
                span_row(&b, ts, id, &x);
            }
            if (r % 50 == 3) { /* a busy hour */
                int64_t h = start + (int64_t)(next_rand(&x) % hours) * TSAGG__HOUR_US;
                for (int i = 0; i < TSAGG__PART_ROLLUP_MIN_ROWS; i++)
                    span_row(&b, h + (int64_t)i * 7000000, id, &x);
            }
        }
        span_row(&b, start + span - 1, 77, &x); /* the span's last microsecond */
        ds d = finalize_span(&b, schema, start, hours, 1);
        write_ds(tsagg_io_default(), path, &d, 1 + next_rand(&x) % 3000, NULL);
        sketch_stats st = {0};
        verify(tsagg_io_default(), path, &d, &st);
        ds_free(&d);
    }
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, index_lookups_refuse_foreign_arguments)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "a.tpart");
    ds d = span_rows(schema, HOUR0, 3, 60);
    write_ds(tsagg_io_default(), path, &d, 1000, NULL);
    tsagg__part *p;
    cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0), 0);
    tsagg__merchant_entry e, e2;
    tsagg__hour_segment seg[8];
    tsagg__rollup r;
    cr_assert_eq(tsagg__part_merchant_at(p, 7, &e), 0);
    cr_assert_gt(e.nsegments, 1);
    cr_assert_leq(e.nsegments, 8);
    cr_assert_eq(tsagg__part_merchant_at(p, 7, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg__part_merchant_at(NULL, 7, &e2), TSAGG_EARG);
    cr_assert_eq(tsagg__part_find_merchant(p, e.merchant, NULL), 1);
    /* An entry that is not this file's. */
    e2 = e;
    e2.index = tsagg__part_merchants(p);
    cr_assert_eq(tsagg__part_segments(p, &e2, seg), TSAGG_EARG);
    e2 = e;
    e2.merchant++;
    cr_assert_eq(tsagg__part_segments(p, &e2, seg), TSAGG_EARG);
    e2 = e;
    e2.nsegments++;
    cr_assert_eq(tsagg__part_segments(p, &e2, seg), TSAGG_EARG);
    cr_assert_eq(tsagg__part_segments(p, &e, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg__part_segments(p, &e, seg), 0);
    /* A merchant without segments: nothing to read, out untouched. */
    tsagg__merchant_entry plain;
    cr_assert_eq(tsagg__part_merchant_at(p, 0, &plain), 0);
    cr_assert_eq(plain.nsegments, 0);
    cr_assert_eq(tsagg__part_segments(p, &plain, NULL), 0);
    /* Rollups: only of a segment that has one, inside the span. */
    uint32_t with = UINT32_MAX, without = UINT32_MAX;
    for (uint32_t k = 0; k < e.nsegments; k++) {
        if (seg[k].rollup_len)
            with = k;
        else
            without = k;
    }
    cr_assert(with != UINT32_MAX && without != UINT32_MAX);
    cr_assert_eq(tsagg__part_rollup(p, &e, &seg[without], &r), TSAGG_EARG);
    cr_assert_null(r.mem);
    tsagg__hour_segment bad = seg[with];
    bad.hour += TSAGG__HOUR_US * 3;
    cr_assert_eq(tsagg__part_rollup(p, &e, &bad, &r), TSAGG_EARG);
    bad = seg[with];
    bad.hour += 1;
    cr_assert_eq(tsagg__part_rollup(p, &e, &bad, &r), TSAGG_EARG);
    bad = seg[with];
    bad.rollup_off = tsagg__part_get_info(p)->bytes;
    cr_assert_eq(tsagg__part_rollup(p, &e, &bad, &r), TSAGG_EARG);
    cr_assert_eq(tsagg__part_rollup(p, &e, NULL, &r), TSAGG_EARG);
    cr_assert_eq(tsagg__part_rollup(p, &e, &seg[with], NULL), TSAGG_EARG);
    /* Another hour's segment: the block is not the one asked for. */
    bad = seg[with];
    bad.hour = seg[without].hour;
    int rc = tsagg__part_rollup(p, &e, &bad, &r);
    cr_assert_eq(rc, TSAGG_ECORRUPT);
    char msg[512];
    tsagg__part_errmsg(p, msg, sizeof msg);
    cr_assert(strstr(msg, "not the block"), "%s", msg);
    cr_assert_eq(tsagg__part_rollup(p, &e, &seg[with], &r), 0);
    tsagg__rollup_free(&r);
    tsagg__part_close(p);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, check_listed_compares_the_span)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "l.tpart");
    ds d = span_rows(schema, HOUR0, 24, 10);
    tsagg__part_info info;
    write_ds(tsagg_io_default(), path, &d, 1000, &info);
    tsagg__part *p;
    cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0), 0);
    char msg[512];
    cr_assert_eq(tsagg__part_check_listed(p, HOUR0, 24, 77, d.n, info.bytes, msg, sizeof msg), 0);
    cr_assert_eq(tsagg__part_check_listed(p, HOUR0, 1, 77, d.n, info.bytes, msg, sizeof msg),
                 TSAGG_ECORRUPT);
    cr_assert(strstr(msg, path) && strstr(msg, "+ 24 h") && strstr(msg, "+ 1 h"), "%s", msg);
    cr_assert_eq(tsagg__part_check_listed(p, HOUR0 + TSAGG__HOUR_US, 24, 77, d.n, info.bytes,
                                          msg, sizeof msg),
                 TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__part_check_listed(p, HOUR0, 24, 78, d.n, info.bytes, NULL, 0),
                 TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__part_check_listed(p, HOUR0, 24, 77, d.n + 1, info.bytes, NULL, 0),
                 TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__part_check_listed(p, HOUR0, 24, 77, d.n, info.bytes - 1, NULL, 0),
                 TSAGG_ECORRUPT);
    tsagg__part_close(p);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, row_group_boundaries)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tu_tmpdir(dir, sizeof dir);
    size_t sizes[] = {GR - 1, GR, GR + 1, 2 * GR, 2 * GR + 1};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        ds d = many_rows(sizes[k], schema);
        snprintf(path, sizeof path, "%s/%zu.tpart", dir, sizes[k]);
        write_ds(tsagg_io_default(), path, &d, 1000, NULL);
        sketch_stats st = {0};
        verify(tsagg_io_default(), path, &d, &st);
        tsagg__part *p;
        cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0), 0);
        uint32_t ng = tsagg__part_groups(p);
        cr_assert_eq(ng, (sizes[k] + GR - 1) / GR);
        cr_assert_eq(tsagg__part_group(p, ng - 1)->rows, sizes[k] - (size_t)(ng - 1) * GR);
        tsagg__part_close(p);
        ds_free(&d);
    }
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, other_schemas)
{
    tsagg_schema *bare, *wide;
    cr_assert_eq(tsagg_schema_create(&bare), 0);
    cr_assert_eq(tsagg_schema_create(&wide), 0);
    cr_assert_eq(tsagg_schema_add_dimension(wide, "a"), 0);
    cr_assert_eq(tsagg_schema_add_dimension(wide, "b"), 0);
    cr_assert_eq(tsagg_schema_add_measure(wide, "x"), 0);
    cr_assert_eq(tsagg_schema_add_measure(wide, "y"), 0);
    cr_assert_eq(tsagg_schema_add_measure(wide, "z"), 0);
    char dir[256], path[512];
    tu_tmpdir(dir, sizeof dir);
    for (int w = 0; w < 2; w++) {
        builder b = {0};
        for (int i = 0; i < 5000; i++) {
            const char *dims[2] = {i % 2 ? "odd" : "even", i % 7 ? "" : "seven"};
            double m[3] = {i, i % 3 ? NAN : 0.25, -(double)i};
            b_add(&b, HOUR0 + i * 7000, (uint64_t)(i % 9), (uint64_t)i, (uint64_t)i / 3,
                  i % 2 ? "a" : "b", dims, w ? 2 : 0, m, w ? 3 : 0);
        }
        ds d = finalize(&b, w ? wide : bare, HOUR0, 1);
        snprintf(path, sizeof path, "%s/s%d.tpart", dir, w);
        write_ds(tsagg_io_default(), path, &d, 777, NULL);
        sketch_stats st = {0};
        verify(tsagg_io_default(), path, &d, &st);
        ds_free(&d);
    }
    tsagg_schema_free(bare);
    tsagg_schema_free(wide);
    tu_rmtree(dir);
}

/* ---- argument errors ------------------------------------------------------------ */

Test(partfile, unsorted_and_out_of_span_rows_are_refused)
{
    tsagg_schema *schema = default_schema();
    builder b = {0};
    b_add(&b, HOUR0 + 10, 2, 1, 1, "a", NULL, 6, NULL, 1); /* 0 */
    b_add(&b, HOUR0 + 20, 2, 1, 1, "b", NULL, 6, NULL, 1); /* 1 */
    b_add(&b, HOUR0 + 15, 2, 1, 1, "c", NULL, 6, NULL, 1); /* 2: earlier ts */
    b_add(&b, HOUR0 + 30, 1, 1, 1, "d", NULL, 6, NULL, 1); /* 3: lower merchant */
    b_add(&b, HOUR0 - 1, 3, 1, 1, "e", NULL, 6, NULL, 1); /* 4: before the hour */
    b_add(&b, HOUR0 + TSAGG__HOUR_US, 3, 1, 1, "f", NULL, 6, NULL, 1); /* 5: after */
    b_add(&b, HOUR0 + 20, 2, 1, 1, "g", NULL, 6, NULL, 1); /* 6: equal key: fine */
    b_add(&b, HOUR0 + 5, 3, 1, 1, "h", NULL, 6, NULL, 1); /* 7: next merchant */
    ds d = finalize(&b, schema, HOUR0, 0);
    char dir[256], path[512], msg[256];
    tmp_path(dir, sizeof dir, path, sizeof path, "sort.tpart");
    tsagg__part_writer *w;
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, HOUR0 + 1, 1, schema, 1, &w),
                 TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, HOUR0, 0, schema, 1, &w),
                 TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, HOUR0,
                                         TSAGG__PART_MAX_HOURS + 1, schema, 1, &w),
                 TSAGG_EARG);
    int64_t last = INT64_MAX - INT64_MAX % TSAGG__HOUR_US; /* its hour does not end */
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, last, 1, schema, 1, &w),
                 TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, last - TSAGG__HOUR_US, 2,
                                         schema, 1, &w),
                 TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, HOUR0, 1, schema, 77, &w), 0);
    cr_assert_eq(tsagg__part_writer_add(w, d.rows, 2), 0);
    /* A bad row anywhere in a call refuses the whole call. */
    tsagg__row call[2] = {d.rows[6], d.rows[2]};
    cr_assert_eq(tsagg__part_writer_add(w, call, 2), TSAGG_EARG);
    tsagg__part_writer_errmsg(w, msg, sizeof msg);
    cr_assert(strstr(msg, "row 1") != NULL, "%s", msg);
    cr_assert_eq(tsagg__part_writer_add(w, &d.rows[2], 1), TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_add(w, &d.rows[3], 1), TSAGG_EARG);
    tsagg__row r4[2] = {d.rows[7], d.rows[4]};
    cr_assert_eq(tsagg__part_writer_add(w, r4, 2), TSAGG_EARG);
    tsagg__part_writer_errmsg(w, msg, sizeof msg);
    cr_assert(strstr(msg, "outside the span") != NULL, "%s", msg);
    cr_assert_eq(tsagg__part_writer_add(w, &d.rows[5], 1), TSAGG_EARG);
    tsagg__row bad = d.rows[6];
    bad.flags = 0x80;
    cr_assert_eq(tsagg__part_writer_add(w, &bad, 1), TSAGG_EARG);
    bad = d.rows[6];
    bad.dims = NULL;
    cr_assert_eq(tsagg__part_writer_add(w, &bad, 1), TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_add(w, NULL, 1), TSAGG_EARG);
    cr_assert_eq(tsagg__part_writer_add(w, NULL, 0), 0);
    /* Still usable: the equal key and the next merchant go in. */
    cr_assert_eq(tsagg__part_writer_add(w, &d.rows[6], 2), 0);
    cr_assert_eq(tsagg__part_writer_finish(w, NULL), 0);
    builder e = {0};
    for (int i = 0; i < 2; i++)
        b_add(&e, HOUR0 + 10 * (i + 1), 2, 1, 1, i ? "b" : "a", NULL, 6, NULL, 1);
    b_add(&e, HOUR0 + 20, 2, 1, 1, "g", NULL, 6, NULL, 1);
    b_add(&e, HOUR0 + 5, 3, 1, 1, "h", NULL, 6, NULL, 1);
    ds want = finalize(&e, schema, HOUR0, 0);
    for (size_t i = 0; i < want.n; i++)
        want.rows[i].id = d.rows[i < 2 ? i : i + 4].id;
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &want, &st);
    ds_free(&want);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* ---- I/O faults ------------------------------------------------------------------ */

typedef struct fault {
    tsagg_io io;
    const tsagg_io *base;
    int pwrites, fail_pwrite; /* fail the fail_pwrite-th pwrite (1-based), 0 never */
    int preads;
    int fail_fsync, fail_rename, short_writes;
} fault;

static int f_open(void *c, const char *p, int fl, unsigned m)
{
    fault *f = c;
    return f->base->open(f->base->ctx, p, fl, m);
}
static int f_close(void *c, int fd)
{
    fault *f = c;
    return f->base->close(f->base->ctx, fd);
}
static ssize_t f_pread(void *c, int fd, void *b, size_t l, uint64_t o)
{
    fault *f = c;
    f->preads++;
    return f->base->pread(f->base->ctx, fd, b, l, o);
}
static ssize_t f_pwrite(void *c, int fd, const void *b, size_t l, uint64_t o)
{
    fault *f = c;
    if (++f->pwrites == f->fail_pwrite)
        return -ENOSPC;
    if (f->short_writes && l > 1000)
        l = 1000;
    return f->base->pwrite(f->base->ctx, fd, b, l, o);
}
static int f_fsync(void *c, int fd)
{
    fault *f = c;
    return f->fail_fsync ? -EIO : f->base->fsync(f->base->ctx, fd);
}
static int f_ftruncate(void *c, int fd, uint64_t s)
{
    fault *f = c;
    return f->base->ftruncate(f->base->ctx, fd, s);
}
static int f_fsize(void *c, int fd, uint64_t *s)
{
    fault *f = c;
    return f->base->fsize(f->base->ctx, fd, s);
}
static int f_rename(void *c, const char *a, const char *b)
{
    fault *f = c;
    return f->fail_rename ? -EXDEV : f->base->rename(f->base->ctx, a, b);
}
static int f_unlink(void *c, const char *p)
{
    fault *f = c;
    return f->base->unlink(f->base->ctx, p);
}

static void fault_init(fault *f)
{
    memset(f, 0, sizeof *f);
    f->base = tsagg_io_default();
    f->io = *f->base;
    f->io.ctx = f;
    f->io.open = f_open;
    f->io.close = f_close;
    f->io.pread = f_pread;
    f->io.pwrite = f_pwrite;
    f->io.fsync = f_fsync;
    f->io.ftruncate = f_ftruncate;
    f->io.fsize = f_fsize;
    f->io.rename = f_rename;
    f->io.unlink = f_unlink;
}

/* Write d through f; returns the first error (finish's if none before). */
static int write_faulty(fault *f, const char *path, const ds *d)
{
    tsagg__part_writer *w;
    int rc = tsagg__part_writer_open(&f->io, path, d->start, d->hours, d->schema, 77, &w);
    if (rc != 0)
        return rc;
    int first = 0;
    for (size_t i = 0; i < d->n; i += 1000) {
        size_t k = d->n - i < 1000 ? d->n - i : 1000;
        rc = tsagg__part_writer_add(w, d->rows + i, k);
        if (rc != 0 && !first)
            first = rc;
        if (first)
            cr_assert_eq(rc, first, "a failed writer must stay failed");
    }
    rc = tsagg__part_writer_finish(w, NULL);
    if (first)
        cr_assert_eq(rc, first);
    return rc;
}

/* n rows alike but for their time: the columns take a few bytes per row
 * group, the footer some 50. */
static ds alike_rows(size_t n, tsagg_schema *schema)
{
    builder b = {0};
    const char *dims[6] = {"", "", "", "", "", ""};
    double v = NAN;
    for (size_t i = 0; i < n; i++) {
        b_add(&b, HOUR0 + (int64_t)i, 1, 1, 1, "page_view", dims, 6, &v, 1);
        b.t[b.n - 1].id = 0; /* no ids */
        b.t[b.n - 1].flags = 0;
    }
    return finalize(&b, schema, HOUR0, 1);
}

/* Opening reads the header, then the trailer and the footer in one read of
 * the file's tail; a footer longer than that read (here: many row groups
 * of next to nothing) is read on its own. */
Test(partfile, open_reads_the_tail_once)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tu_tmpdir(dir, sizeof dir);
    for (int k = 0; k < 2; k++) {
        ds d = k == 0 ? many_rows(20000, schema) : alike_rows(500000, schema);
        snprintf(path, sizeof path, "%s/%d.tpart", dir, k);
        tsagg__part_info info;
        write_ds(tsagg_io_default(), path, &d, 100000, &info);
        fault f;
        fault_init(&f);
        tsagg__part *p;
        char err[256];
        cr_assert_eq(tsagg__part_open(&f.io, path, &p, err, sizeof err), 0, "%s", err);
        tsagg__part_space_info sp;
        tsagg__part_space(p, &sp);
        cr_assert_eq(f.preads, k == 0 ? 2 : 3, "%d reads: footer and trailer of %" PRIu64
                     " bytes in a file of %" PRIu64, f.preads, sp.footer, info.bytes);
        tsagg__part_close(p);
        verify(&f.io, path, &d, &(sketch_stats){0});
        ds_free(&d);
    }
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

Test(partfile, io_faults_remove_the_temporary_file)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512], tmp[600];
    tmp_path(dir, sizeof dir, path, sizeof path, "f.tpart");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Random ids: a few MB, so the writer flushes while rows are added. */
    builder b = {0};
    uint64_t x = 1;
    for (int i = 0; i < 120000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b_add(&b, HOUR0 + i, 1 + (uint64_t)i / 1000, x, x >> 7, "page_view", NULL, 6, NULL, 1);
        b.t[b.n - 1].id = x * 31;
    }
    ds d = finalize(&b, schema, HOUR0, 0);
    fault f;
    fault_init(&f);
    cr_assert_eq(write_faulty(&f, path, &d), 0);
    int total = f.pwrites;
    cr_assert_gt(total, 10);
    cr_assert_eq(unlink(path), 0);
    /* Short writes are retried: the same file. */
    fault_init(&f);
    f.short_writes = 1;
    cr_assert_eq(write_faulty(&f, path, &d), 0);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    cr_assert_eq(unlink(path), 0);
    int picks[] = {1, 2, total / 2, total - 2, total - 1, total};
    for (size_t k = 0; k < sizeof picks / sizeof *picks; k++) {
        fault_init(&f);
        f.fail_pwrite = picks[k];
        cr_assert_eq(write_faulty(&f, path, &d), -ENOSPC, "pwrite %d", picks[k]);
        cr_assert(!exists(tmp) && !exists(path), "pwrite %d left a file", picks[k]);
    }
    fault_init(&f);
    f.fail_fsync = 1;
    cr_assert_eq(write_faulty(&f, path, &d), -EIO);
    cr_assert(!exists(tmp) && !exists(path));
    fault_init(&f);
    f.fail_rename = 1;
    cr_assert_eq(write_faulty(&f, path, &d), -EXDEV);
    cr_assert(!exists(tmp) && !exists(path));
    /* abort drops the temporary file. */
    tsagg__part_writer *w;
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path, HOUR0, 1, schema, 1, &w), 0);
    cr_assert_eq(tsagg__part_writer_add(w, d.rows, 5000), 0);
    cr_assert(exists(tmp));
    tsagg__part_writer_abort(w);
    tsagg__part_writer_abort(NULL);
    cr_assert(!exists(tmp) && !exists(path));
    /* A missing directory is -ENOENT from open. */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/none/x.tpart", dir);
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), nodir, HOUR0, 1, schema, 1, &w), -ENOENT);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* ---- concurrent readers ------------------------------------------------------------ */

typedef struct reader_arg {
    tsagg__part *p;
    const ds *d;
    uint64_t first; /* the merchant number this thread starts at */
    int failures;
} reader_arg;

static void *reader_main(void *arg)
{
    reader_arg *a = arg;
    const ds *d = a->d;
    uint64_t *u64 = malloc(GR * 8);
    uint32_t *u32 = malloc(GR * 4);
    uint32_t ng = tsagg__part_groups(a->p);
    tsagg__hour_segment *seg = malloc(TSAGG__PART_MAX_HOURS * sizeof *seg);
    for (int round = 0; round < 3; round++) {
        for (uint32_t g = 0; g < ng; g++) {
            size_t s = (size_t)g * GR;
            if (tsagg__part_read_column(a->p, TSAGG__COL_USER, g, u64) != 0 ||
                tsagg__part_read_column(a->p, TSAGG__COL_DIM0, g, u32) != 0) {
                a->failures++;
                continue;
            }
            for (uint32_t i = 0; i < tsagg__part_group(a->p, g)->rows; i++) {
                const char *str;
                size_t len;
                if (u64[i] != d->rows[s + i].user ||
                    tsagg__part_dict_get(a->p, TSAGG__COL_DIM0, u32[i], &str, &len) != 0 ||
                    len != d->rows[s + i].dims[0].len ||
                    memcmp(str, d->rows[s + i].dims[0].ptr, len) != 0)
                    a->failures++;
            }
        }
        /* Threads start on different pages, so that pages are decoded
         * while others are read. */
        uint64_t nm = tsagg__part_merchants(a->p);
        for (uint64_t k = 0; k < nm; k++) {
            uint64_t m = (k + a->first) % nm;
            tsagg__merchant_entry e, f;
            if (tsagg__part_merchant_at(a->p, m, &e) != 0 ||
                tsagg__part_find_merchant(a->p, e.merchant, &f) != 1 || f.index != m ||
                f.row_start != e.row_start || tsagg__part_segments(a->p, &e, seg) != 0) {
                a->failures++;
                continue;
            }
            for (uint32_t i = 0; i < e.nsegments; i++) {
                tsagg__rollup r;
                if (!seg[i].rollup_len)
                    continue;
                if (tsagg__part_rollup(a->p, &e, &seg[i], &r) != 0 || r.users_len == 0)
                    a->failures++;
                tsagg__rollup_free(&r);
            }
        }
    }
    free(seg);
    free(u64);
    free(u32);
    return NULL;
}

Test(partfile, concurrent_readers)
{
    tsagg_schema *schema = default_schema();
    ds d = span_rows(schema, HOUR0, 24, 1000); /* 4 index pages */
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "c.tpart");
    write_ds(tsagg_io_default(), path, &d, 4096, NULL);
    tsagg__part *p;
    cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0), 0);
    pthread_t th[4];
    reader_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (reader_arg){p, &d, (uint64_t)i * 256, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].failures, 0);
    }
    tsagg__part_close(p);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* ---- damage ------------------------------------------------------------------------ */

/* Where things are, parsed from the bytes as docs/format.md describes. */
typedef struct layout {
    uint64_t footer_off, footer_len, footer_raw;
    uint8_t footer_codec;
    uint64_t dict_off[1 + MAXD];
    uint64_t col_off;  /* column 0 of group 0 */
    uint64_t zcol_off; /* a zstd-compressed column block, 0 if none */
    uint64_t huf_off;  /* a DELTAHUF column block (docs/encodings.md), 0 if none */
    uint8_t tags[256]; /* the block tags (encoding.h) of the column blocks */
    uint64_t page_off, page_first; /* index page 0, its first merchant */
    uint64_t seg_off;  /* hour-segment block of the last merchant of page 0 with one */
    uint64_t seg_merchant; /* that merchant's index */
    uint64_t rollup_off;   /* its first rollup block */
    uint32_t rollup_seg;   /* and the segment holding it */
} layout;

/* The raw bytes of the block at off (malloc'ed), checking its kind. */
static uint8_t *block_raw(const uint8_t *f, uint64_t off, uint8_t kind, size_t *len)
{
    const uint8_t *b = f + off;
    cr_assert_eq(b[0], kind, "block at %" PRIu64 " has kind %u, want %u", off, b[0], kind);
    uint32_t stored = tsagg__get_u32(b + 8), raw_len = tsagg__get_u32(b + 12);
    uint8_t *raw = malloc(raw_len + 1);
    if (b[1] == 2)
        cr_assert_eq(ZSTD_decompress(raw, raw_len, b + 24, stored), raw_len);
    else
        memcpy(raw, b + 24, raw_len);
    *len = raw_len;
    return raw;
}

static uint64_t varint(const uint8_t **q)
{
    uint64_t v = 0;
    for (unsigned sh = 0;; sh += 7) {
        uint8_t c = *(*q)++;
        v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80))
            return v;
    }
}

static layout parse_layout(const uint8_t *f, size_t len)
{
    layout l = {0};
    const uint8_t *t = f + len - 48;
    cr_assert(memcmp(t + 40, "TSPRTEND", 8) == 0);
    cr_assert(memcmp(f, "TSAGGPRT", 8) == 0);
    cr_assert_eq(tsagg__get_u16(f + 8), 3);
    cr_assert_eq(XXH64(f, 56, 0), tsagg__get_u64(f + 56));
    l.footer_off = tsagg__get_u64(t);
    l.footer_len = tsagg__get_u64(t + 8);
    uint64_t raw_len = tsagg__get_u64(t + 16);
    l.footer_raw = raw_len;
    l.footer_codec = t[24];
    cr_assert_eq(l.footer_off + l.footer_len + 48, len);
    uint8_t *raw = malloc(raw_len);
    if (l.footer_codec == 2)
        cr_assert_eq(ZSTD_decompress(raw, raw_len, f + l.footer_off, l.footer_len), raw_len);
    else
        memcpy(raw, f + l.footer_off, raw_len);
    uint32_t ng = tsagg__get_u32(raw + 32), ncols = tsagg__get_u16(raw + 36);
    uint32_t nd = tsagg__get_u16(raw + 38), slen = tsagg__get_u32(raw + 44);
    uint64_t nm = tsagg__get_u64(raw + 8);
    uint64_t rollup_bytes = tsagg__get_u64(raw + 48), seg_bytes = tsagg__get_u64(raw + 56);
    cr_assert_eq(tsagg__get_u64(raw), tsagg__get_u64(f + 40)); /* rows */
    uint64_t body = 64 + rollup_bytes + seg_bytes;
    const uint8_t *q = raw + 64 + slen;
    for (uint32_t i = 0; i < nd; i++, q += 16) {
        l.dict_off[i] = tsagg__get_u64(q);
        const uint8_t *b = f + l.dict_off[i];
        cr_assert_eq(b[0], 2); /* kind: dictionary */
        cr_assert_eq(tsagg__get_u32(b + 4), tsagg__get_u32(q + 12));
        cr_assert_eq(tsagg__get_u32(q + 8), 24 + tsagg__get_u32(b + 8));
        body += tsagg__get_u32(q + 8);
    }
    for (uint32_t g = 0; g < ng; g++) {
        q += 48;
        for (uint32_t c = 0; c < ncols; c++, q += 12) {
            uint64_t off = tsagg__get_u64(q);
            const uint8_t *b = f + off;
            cr_assert_eq(b[0], 1);
            cr_assert_eq(tsagg__get_u16(b + 2), c);
            cr_assert_eq(tsagg__get_u32(b + 4), g);
            body += tsagg__get_u32(q + 8);
            if (g == 0 && c == 0)
                l.col_off = off;
            if (b[1] == 2 && !l.zcol_off)
                l.zcol_off = off;
            if (!l.huf_off) {
                size_t blen;
                uint8_t *blk = block_raw(f, off, 1, &blen);
                if (blen && blk[0] == TSAGG_ENC_TAG_DELTAHUF)
                    l.huf_off = off;
                free(blk);
            }
            {
                size_t blen;
                uint8_t *blk = block_raw(f, off, 1, &blen);
                if (blen)
                    l.tags[blk[0]] = 1;
                free(blk);
            }
        }
    }
    uint64_t npages = (nm + 255) / 256;
    for (uint64_t i = 0; i < npages; i++, q += 32) {
        uint64_t off = tsagg__get_u64(q + 16);
        cr_assert_eq(f[off], 5); /* kind: index page */
        cr_assert_eq(tsagg__get_u32(f + off + 4), i);
        cr_assert_eq(tsagg__get_u32(q + 24), 24 + tsagg__get_u32(f + off + 8));
        cr_assert_eq(tsagg__get_u32(q + 28), nm - i * 256 < 256 ? nm - i * 256 : 256);
        body += tsagg__get_u32(q + 24);
        if (i == 0) {
            l.page_off = off;
            l.page_first = tsagg__get_u64(q);
        }
    }
    cr_assert_eq(q, raw + raw_len);
    cr_assert_eq(body, l.footer_off, "the footer's pieces do not add up to the body");
    /* Page 0: the last merchant with hour segments, and its first rollup. */
    if (npages) {
        size_t plen;
        uint8_t *page = block_raw(f, l.page_off, 5, &plen);
        const uint8_t *e = page;
        for (uint64_t i = 0; e < page + plen; i++) {
            uint64_t delta = varint(&e); /* the first: the page table's first merchant */
            if (i == 0)
                cr_assert_eq(delta, l.page_first);
            varint(&e); /* rows */
            varint(&e); /* min ts */
            varint(&e); /* ts range */
            if (varint(&e)) {
                l.seg_off = varint(&e);
                cr_assert_eq(varint(&e), 24 + tsagg__get_u32(f + l.seg_off + 8));
                l.seg_merchant = i;
            }
        }
        cr_assert_eq(e, page + plen);
        free(page);
    }
    if (l.seg_off) {
        size_t slen2;
        uint8_t *seg = block_raw(f, l.seg_off, 4, &slen2);
        cr_assert_eq(tsagg__get_u32(f + l.seg_off + 4), l.seg_merchant);
        const uint8_t *e = seg;
        uint64_t n = varint(&e), off = 0;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t hour = varint(&e);
            varint(&e); /* rows */
            uint64_t rl = varint(&e);
            if (rl) {
                off += varint(&e);
                if (!l.rollup_off) {
                    l.rollup_off = off;
                    l.rollup_seg = (uint32_t)i;
                    cr_assert_eq(f[off], 3);
                    cr_assert_eq(tsagg__get_u16(f + off + 2), hour);
                    cr_assert_eq(tsagg__get_u32(f + off + 4), l.seg_merchant);
                    /* The counts block, then the sketch block: rl covers both. */
                    uint64_t sk = off + 24 + tsagg__get_u32(f + off + 8);
                    cr_assert_eq(f[sk], 6);
                    cr_assert_eq(tsagg__get_u16(f + sk + 2), hour);
                    cr_assert_eq(tsagg__get_u32(f + sk + 4), l.seg_merchant);
                    cr_assert_eq(rl, sk - off + 24 + tsagg__get_u32(f + sk + 8));
                }
            }
        }
        cr_assert_eq(e, seg + slen2);
        free(seg);
    }
    free(raw);
    return l;
}

/* A byte in the middle of the stored bytes of the block at off. */
static uint64_t mid(const uint8_t *f, uint64_t off)
{
    return off + 24 + tsagg__get_u32(f + off + 8) / 2;
}

static int is_damage(int rc)
{
    return rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT;
}

/* Open bytes written to path: the code, and the message when it fails. */
static int try_open(const char *path, const uint8_t *b, size_t len, tsagg__part **p, char *err)
{
    spill(path, b, len);
    *p = NULL;
    int rc = tsagg__part_open(tsagg_io_default(), path, p, err, 512);
    if (rc != 0)
        cr_assert(strstr(err, path) != NULL, "message does not name the file: %s", err);
    return rc;
}

static void expect_read_error(tsagg__part *p, int rc, const char *path, uint64_t off)
{
    char msg[512], offs[32];
    cr_assert(is_damage(rc), "got %d (%s)", rc, tsagg_strerror(rc));
    tsagg__part_errmsg(p, msg, sizeof msg);
    snprintf(offs, sizeof offs, "offset %" PRIu64, off);
    cr_assert(strstr(msg, path) && strstr(msg, offs), "message: %s (want %s)", msg, offs);
}

Test(partfile, damage_is_detected_and_named)
{
    tsagg_schema *schema = default_schema();
    ds d = many_rows(3 * GR, schema);
    char dir[256], path[512], bad[600], err[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "good.tpart");
    snprintf(bad, sizeof bad, "%s/bad.tpart", dir);
    write_ds(tsagg_io_default(), path, &d, 5000, NULL);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    uint8_t *b = malloc(len);
    layout l = parse_layout(orig, len);
    cr_assert_neq(l.zcol_off, 0, "no zstd column block to damage");
    cr_assert_eq(l.footer_codec, 2);
    tsagg__part *p;
    uint64_t buf[GR];

    /* (a) column blocks, plain and zstd: the read fails, others work. */
    uint64_t cols[2] = {l.col_off, l.zcol_off};
    for (int k = 0; k < 2; k++) {
        memcpy(b, orig, len);
        b[mid(orig, cols[k])] ^= 0x10;
        cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
        int hit = 0;
        for (uint32_t g = 0; g < tsagg__part_groups(p); g++)
            for (uint32_t c = 0; c < 14; c++) {
                int rc = tsagg__part_read_column(p, c, g, buf);
                if (rc != 0) {
                    expect_read_error(p, rc, bad, cols[k]);
                    cr_assert_eq(rc, TSAGG_ECHECKSUM);
                    hit++;
                }
            }
        cr_assert_eq(hit, 1);
        tsagg__part_close(p);
    }
    /* (b) a dictionary block: every lookup in that column fails. */
    memcpy(b, orig, len);
    b[mid(orig, l.dict_off[1])] ^= 0x01;
    cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
    const char *s;
    size_t sl;
    cr_assert_eq(tsagg__part_dict_get(p, TSAGG__COL_EVENT, 0, &s, &sl), 0);
    for (int k = 0; k < 2; k++) {
        int rc = tsagg__part_dict_get(p, TSAGG__COL_DIM0, 0, &s, &sl);
        expect_read_error(p, rc, bad, l.dict_off[1]);
        rc = tsagg__part_dict_find(p, TSAGG__COL_DIM0, "", 0, NULL);
        expect_read_error(p, rc, bad, l.dict_off[1]);
    }
    cr_assert_eq(tsagg__part_dict_size(p, TSAGG__COL_DIM0), 38); /* "" + 37 pages */
    tsagg__part_close(p);
    /* (c) a rollup block: that rollup fails, the others work. */
    cr_assert_neq(l.rollup_off, 0);
    cr_assert_neq(l.seg_merchant, 0);
    memcpy(b, orig, len);
    b[mid(orig, l.rollup_off)] ^= 0x80;
    cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
    tsagg__merchant_entry me, m0;
    tsagg__hour_segment seg[4], seg0[4];
    cr_assert_eq(tsagg__part_merchant_at(p, l.seg_merchant, &me), 0);
    cr_assert_eq(tsagg__part_segments(p, &me, seg), 0);
    tsagg__rollup r;
    expect_read_error(p, tsagg__part_rollup(p, &me, &seg[l.rollup_seg], &r), bad, l.rollup_off);
    cr_assert_null(r.mem);
    cr_assert_eq(tsagg__part_merchant_at(p, 0, &m0), 0);
    cr_assert_eq(tsagg__part_segments(p, &m0, seg0), 0);
    cr_assert_eq(tsagg__part_rollup(p, &m0, &seg0[0], &r), 0);
    tsagg__rollup_free(&r);
    tsagg__part_close(p);
    /* (c1) the sketch block behind it: the counts still read, the sketches
     * fail, naming the sketch block. */
    uint64_t sk_off = l.rollup_off + 24 + tsagg__get_u32(orig + l.rollup_off + 8);
    cr_assert_eq(orig[sk_off], 6); /* kind: rollup sketches */
    memcpy(b, orig, len);
    b[mid(orig, sk_off)] ^= 0x80;
    cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
    cr_assert_eq(tsagg__part_merchant_at(p, l.seg_merchant, &me), 0);
    cr_assert_eq(tsagg__part_segments(p, &me, seg), 0);
    cr_assert_eq(tsagg__part_rollup_counts(p, &me, &seg[l.rollup_seg], &r), 0);
    cr_assert_gt(r.n, 0);
    cr_assert_null(r.users);
    cr_assert_eq(r.nnamed, 0);
    tsagg__rollup_free(&r);
    expect_read_error(p, tsagg__part_rollup(p, &me, &seg[l.rollup_seg], &r), bad, sk_off);
    cr_assert_null(r.mem);
    tsagg__part_close(p);
    /* (c2) an hour-segment block: that merchant's segments fail. */
    memcpy(b, orig, len);
    b[mid(orig, l.seg_off)] ^= 0x02;
    cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
    cr_assert_eq(tsagg__part_merchant_at(p, l.seg_merchant, &me), 0);
    expect_read_error(p, tsagg__part_segments(p, &me, seg), bad, l.seg_off);
    cr_assert_eq(tsagg__part_merchant_at(p, 0, &m0), 0);
    cr_assert_eq(tsagg__part_segments(p, &m0, seg0), 0);
    tsagg__part_close(p);
    /* (c3) an index page: every lookup in it fails, every time. */
    memcpy(b, orig, len);
    b[mid(orig, l.page_off)] ^= 0x20;
    cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
    for (int k = 0; k < 2; k++) {
        expect_read_error(p, tsagg__part_merchant_at(p, 0, &me), bad, l.page_off);
        expect_read_error(p, tsagg__part_find_merchant(p, 1, &me), bad, l.page_off);
    }
    cr_assert_eq(tsagg__part_find_merchant(p, 0, &me), 0); /* below every page: no read */
    tsagg__part_close(p);
    /* (d) the footer. */
    memcpy(b, orig, len);
    b[l.footer_off + l.footer_len / 2] ^= 0x04;
    cr_assert_eq(try_open(bad, b, len, &p, err), TSAGG_ECHECKSUM, "%s", err);
    cr_assert_null(p);
    /* (e) the trailer: each field. */
    for (size_t off = len - 48; off < len; off += 4) {
        memcpy(b, orig, len);
        b[off] ^= 0x01;
        int rc = try_open(bad, b, len, &p, err);
        cr_assert(is_damage(rc), "trailer byte %zu: %d", off - (len - 48), rc);
    }
    /* (f) the header. */
    for (size_t off = 0; off < 64; off += 3) {
        memcpy(b, orig, len);
        b[off] ^= 0x40;
        int rc = try_open(bad, b, len, &p, err);
        cr_assert(is_damage(rc), "header byte %zu: %d", off, rc);
        if (off < 8)
            cr_assert_eq(rc, TSAGG_ECORRUPT);
    }
    /* Versions 1 (hour files without the index), 2 (one rollup block per
     * merchant-hour, no size-class column blocks) and 4, with good
     * checksums. */
    for (uint16_t v = 1; v <= 4; v += v == 2 ? 2 : 1) {
        memcpy(b, orig, len);
        tsagg__put_u16(b + 8, v);
        tsagg__put_u64(b + 56, XXH64(b, 56, 0));
        cr_assert_eq(try_open(bad, b, len, &p, err), TSAGG_EVERSION, "%s", err);
        char want[32];
        snprintf(want, sizeof want, "version %u", v);
        cr_assert(strstr(err, want), "%s", err);
    }
    /* Header fields with good checksums: the span, the reserved fields. */
    struct {
        size_t off, size;
        uint64_t v;
        const char *why;
    } hdr[] = {
        {48, 4, 0, "bad span"},
        {48, 4, TSAGG__PART_MAX_HOURS + 1, "bad span"},
        {16, 8, (uint64_t)(HOUR0 + 1), "bad span"},
        {16, 8, (uint64_t)(INT64_MAX - INT64_MAX % TSAGG__HOUR_US), "bad span"},
        {52, 4, 1, "bad field"},
        {10, 2, 1, "bad field"},
        {12, 4, 65, "bad field"},
    };
    for (size_t k = 0; k < sizeof hdr / sizeof *hdr; k++) {
        memcpy(b, orig, len);
        if (hdr[k].size == 2)
            tsagg__put_u16(b + hdr[k].off, (uint16_t)hdr[k].v);
        else if (hdr[k].size == 4)
            tsagg__put_u32(b + hdr[k].off, (uint32_t)hdr[k].v);
        else
            tsagg__put_u64(b + hdr[k].off, hdr[k].v);
        tsagg__put_u64(b + 56, XXH64(b, 56, 0));
        cr_assert_eq(try_open(bad, b, len, &p, err), TSAGG_ECORRUPT, "header case %zu: %s", k,
                     err);
        cr_assert(strstr(err, hdr[k].why), "header case %zu: %s", k, err);
    }
    /* Truncation anywhere. */
    size_t cuts[] = {0, 1, 63, 64, 65, 100, len / 2, l.footer_off, len - 48, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        int rc = try_open(bad, orig, cuts[k], &p, err);
        cr_assert(is_damage(rc), "cut at %zu: %d", cuts[k], rc);
    }
    /* Bytes appended after the trailer. */
    memcpy(b, orig, len);
    spill(bad, orig, len);
    FILE *f = fopen(bad, "ab");
    fputs("junk", f);
    fclose(f);
    cr_assert(is_damage(tsagg__part_open(tsagg_io_default(), bad, &p, err, sizeof err)));
    /* A missing file is -ENOENT, named. */
    unlink(bad);
    cr_assert_eq(tsagg__part_open(tsagg_io_default(), bad, &p, err, sizeof err), -ENOENT);
    cr_assert(strstr(err, bad));
    free(b);
    free(orig);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* An in-memory file for the sweep: reads come from a buffer. */
typedef struct memio {
    tsagg_io io;
    const uint8_t *b;
    size_t len;
} memio;

static int m_open(void *c, const char *p, int fl, unsigned m)
{
    return 3;
}
static int m_close(void *c, int fd)
{
    return 0;
}
static ssize_t m_pread(void *c, int fd, void *buf, size_t l, uint64_t o)
{
    memio *m = c;
    if (o >= m->len)
        return 0;
    if (l > m->len - o)
        l = m->len - o;
    memcpy(buf, m->b + o, l);
    return (ssize_t)l;
}
static int m_fsize(void *c, int fd, uint64_t *s)
{
    memio *m = c;
    *s = m->len;
    return 0;
}

/* Read everything of p; 0 when all of it equals ref's, else the count of
 * failed reads (each must be damage). Different data fails the test. */
static int read_all_compare(tsagg__part *p, tsagg__part *ref)
{
    static uint64_t a[GR], b2[GR];
    int failed = 0;
    for (uint32_t g = 0; g < tsagg__part_groups(ref); g++)
        for (uint32_t c = 0; c < 14; c++) {
            int rc = tsagg__part_read_column(p, c, g, a);
            if (rc != 0) {
                cr_assert(is_damage(rc), "column read: %d", rc);
                failed++;
                continue;
            }
            cr_assert_eq(tsagg__part_read_column(ref, c, g, b2), 0);
            size_t w = (c == 2 || c == 6 || (c >= 7 && c < 13)) ? 4 : 8;
            cr_assert(memcmp(a, b2, w * tsagg__part_group(ref, g)->rows) == 0,
                      "wrong data in column %u", c);
        }
    uint32_t dcols[7] = {2, 7, 8, 9, 10, 11, 12};
    for (int k = 0; k < 7; k++) {
        uint32_t n = tsagg__part_dict_size(ref, dcols[k]);
        cr_assert_eq(tsagg__part_dict_size(p, dcols[k]), n);
        for (uint32_t c = 0; c < n; c++) {
            const char *s1, *s2;
            size_t l1, l2;
            int rc = tsagg__part_dict_get(p, dcols[k], c, &s1, &l1);
            if (rc != 0) {
                cr_assert(is_damage(rc));
                failed++;
                break;
            }
            cr_assert_eq(tsagg__part_dict_get(ref, dcols[k], c, &s2, &l2), 0);
            cr_assert(l1 == l2 && memcmp(s1, s2, l1) == 0, "wrong dictionary string");
        }
    }
    cr_assert_eq(tsagg__part_merchants(p), tsagg__part_merchants(ref));
    for (uint64_t m = 0; m < tsagg__part_merchants(ref); m++) {
        tsagg__merchant_entry e1, e2, f;
        cr_assert_eq(tsagg__part_merchant_at(ref, m, &e2), 0);
        int rc = tsagg__part_merchant_at(p, m, &e1);
        if (rc == 0) {
            rc = tsagg__part_find_merchant(p, e2.merchant, &f);
            cr_assert(rc == 1 || is_damage(rc), "find: %d", rc);
            cr_assert(rc != 1 || f.index == m, "found the wrong entry");
            rc = rc == 1 ? 0 : rc;
        }
        if (rc != 0) {
            cr_assert(is_damage(rc), "merchant_at: %d", rc);
            failed++;
            continue;
        }
        cr_assert(e1.merchant == e2.merchant && e1.index == e2.index &&
                      e1.row_start == e2.row_start && e1.rows == e2.rows &&
                      e1.min_ts == e2.min_ts && e1.max_ts == e2.max_ts &&
                      e1.nsegments == e2.nsegments,
                  "wrong index entry %" PRIu64, m);
        tsagg__hour_segment s1[16], s2[16];
        cr_assert_leq(e2.nsegments, 16);
        cr_assert_eq(tsagg__part_segments(ref, &e2, s2), 0);
        rc = tsagg__part_segments(p, &e1, s1);
        if (rc != 0) {
            cr_assert(is_damage(rc), "segments: %d", rc);
            failed++;
            continue;
        }
        for (uint32_t k = 0; k < e2.nsegments; k++) {
            cr_assert(s1[k].hour == s2[k].hour && s1[k].row_start == s2[k].row_start &&
                          s1[k].rows == s2[k].rows && s1[k].rollup_off == s2[k].rollup_off &&
                          s1[k].rollup_len == s2[k].rollup_len,
                      "wrong segment %u of merchant %" PRIu64, k, m);
            if (!s2[k].rollup_len)
                continue;
            tsagg__rollup r1, r2;
            rc = tsagg__part_rollup(p, &e1, &s1[k], &r1);
            if (rc != 0) {
                cr_assert(is_damage(rc));
                failed++;
                continue;
            }
            cr_assert_eq(tsagg__part_rollup(ref, &e2, &s2[k], &r2), 0);
            cr_assert(r1.n == r2.n && r1.users_len == r2.users_len && r1.nnamed == r2.nnamed &&
                          memcmp(r1.count, r2.count, r1.n * 8) == 0 &&
                          memcmp(r1.users, r2.users, r1.users_len) == 0,
                      "wrong rollup");
            tsagg__rollup_free(&r1);
            tsagg__rollup_free(&r2);
        }
    }
    return failed;
}

/* Flip bits (every bit_step-th of each byte) of every step-th byte. */
static void sweep(const uint8_t *orig, size_t len, size_t step, int bit_step)
{
    memio ref_io = {.b = orig, .len = len};
    ref_io.io = (tsagg_io){
        .ctx = &ref_io, .open = m_open, .close = m_close, .pread = m_pread, .fsize = m_fsize};
    ref_io.io.ctx = &ref_io;
    tsagg__part *ref;
    char err[512];
    cr_assert_eq(tsagg__part_open(&ref_io.io, "mem.tpart", &ref, err, sizeof err), 0, "%s", err);
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    memio mio = {.b = b, .len = len};
    mio.io = ref_io.io;
    mio.io.ctx = &mio;
    for (size_t off = 0; off < len; off += step) {
        for (int bit = 0; bit < 8; bit += bit_step) {
            b[off] ^= (uint8_t)(1u << bit);
            tsagg__part *p;
            int rc = tsagg__part_open(&mio.io, "mem.tpart", &p, err, sizeof err);
            if (rc != 0) {
                cr_assert(is_damage(rc) || rc == TSAGG_EVERSION, "byte %zu: open %d", off, rc);
                cr_assert(strstr(err, "mem.tpart"), "%s", err);
            } else {
                cr_assert_gt(read_all_compare(p, ref), 0, "flip at byte %zu went unnoticed", off);
                tsagg__part_close(p);
            }
            b[off] = orig[off];
        }
    }
    free(b);
    tsagg__part_close(ref);
}

/*
 * A small file of a 3-hour span: merchant 2 has a busy hour 0 (a rollup)
 * and a quiet hour 2, merchant 5 a few rows in every hour (no segments),
 * merchant 9 a busy hour 1, merchant 1000 one row. Few distinct values, so
 * the file stays small enough to flip every bit of.
 */
static ds mixed_rows(tsagg_schema *schema)
{
    builder b = {0};
    const char *dims[6] = {"/", "", "", "", "", ""};
    double v = 2;
    int64_t h = HOUR0;
    for (int i = 0; i < TSAGG__PART_ROLLUP_MIN_ROWS + 8; i++)
        b_add(&b, h + (int64_t)i * 6000000, 2, 1 + i % 3, 1 + i % 4, "pv", dims, 6,
              i % 9 ? NULL : &v, 1);
    for (int i = 0; i < 3; i++)
        b_add(&b, h + 2 * TSAGG__HOUR_US + i, 2, 1, 1, "pv", dims, 6, NULL, 1);
    for (int i = 0; i < 4; i++)
        b_add(&b, h + i * 2700000000ll, 5, 4, 4, "c", NULL, 6, &v, 1);
    for (int i = 0; i < TSAGG__PART_ROLLUP_MIN_ROWS + 3; i++)
        b_add(&b, h + TSAGG__HOUR_US + (int64_t)i * 6000000, 9, 1 + i % 2, 1, "pv", dims, 6, NULL,
              1);
    b_add(&b, h + 3 * TSAGG__HOUR_US - 1, 1000, 1, 1, "c", NULL, 6, NULL, 1);
    for (size_t i = 0; i < b.n; i++)
        b.t[i].id = i % 7 ? 0 : i; /* mostly without ids: a compact id column */
    return finalize_span(&b, schema, h, 3, 0);
}

Test(partfile, every_flipped_byte_is_caught)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "s.tpart");
    ds d = mixed_rows(schema);
    write_ds(tsagg_io_default(), path, &d, 100, NULL);
    sketch_stats st = {0};
    verify(tsagg_io_default(), path, &d, &st);
    cr_assert(st.segmented == 2 && st.unsegmented == 2 && st.rollups == 2 &&
                  st.plain_segments == 1,
              "not the shape the sweep should cover");
    size_t len;
    uint8_t *orig = slurp(path, &len);
    double t0 = now_s();
    sweep(orig, len, 1, 1);
    fprintf(stderr, "partfile: flipped every bit of %zu bytes in %.1f s\n", len,
            now_s() - t0);
    free(orig);
    ds_free(&d);
    /* Several groups and zstd blocks: a strided sweep. */
    ds big = many_rows(2 * GR + 100, schema);
    write_ds(tsagg_io_default(), path, &big, 5000, NULL);
    orig = slurp(path, &len);
    sweep(orig, len, 61, 5);
    free(orig);
    ds_free(&big);
    /* A day of merchants whose rows are minutes to hours apart: the time
     * column's blocks are DELTAHUF (docs/encodings.md). A strided sweep. */
    ds day = span_rows(schema, HOUR0 - 13 * TSAGG__HOUR_US, 24, 60);
    write_ds(tsagg_io_default(), path, &day, 7, NULL);
    orig = slurp(path, &len);
    cr_assert(parse_layout(orig, len).huf_off, "no DELTAHUF column block to damage");
    t0 = now_s();
    sweep(orig, len, 3, 3);
    fprintf(stderr, "partfile: flipped bits of every 3rd of %zu bytes in %.1f s\n", len,
            now_s() - t0);
    free(orig);
    ds_free(&day);
    /* Every size-class block: a coarser sweep of a larger file. */
    ds sc = size_class_rows(schema, HOUR0 - 13 * TSAGG__HOUR_US);
    write_ds(tsagg_io_default(), path, &sc, 8, NULL);
    orig = slurp(path, &len);
    layout sl = parse_layout(orig, len);
    cr_assert(sl.tags[TSAGG_ENC_TAG_DELTAHUF] && sl.tags[TSAGG_ENC_TAG_DICTREFHUF] &&
                  sl.tags[TSAGG_ENC_TAG_U32HUF],
              "size-class blocks missing: DELTAHUF %d DICTREFHUF %d U32HUF %d",
              sl.tags[TSAGG_ENC_TAG_DELTAHUF], sl.tags[TSAGG_ENC_TAG_DICTREFHUF],
              sl.tags[TSAGG_ENC_TAG_U32HUF]);
    t0 = now_s();
    sweep(orig, len, 97, 3);
    fprintf(stderr, "partfile: flipped bits of every 97th of %zu bytes in %.1f s\n", len,
            now_s() - t0);
    free(orig);
    ds_free(&sc);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* ---- structure behind valid checksums ------------------------------------------ */

/* Open bytes from memory and read everything: any result is fine but a
 * crash, and failures must be damage. Returns the number of failures. */
static int read_everything(const uint8_t *b, size_t len)
{
    memio mio = {.b = b, .len = len};
    mio.io = (tsagg_io){.open = m_open, .close = m_close, .pread = m_pread, .fsize = m_fsize};
    mio.io.ctx = &mio;
    tsagg__part *p;
    char err[512];
    int rc = tsagg__part_open(&mio.io, "mem.tpart", &p, err, sizeof err);
    if (rc != 0) {
        cr_assert(is_damage(rc), "open: %d", rc);
        cr_assert(strstr(err, "mem.tpart"), "%s", err);
        return 1;
    }
    static uint64_t v[GR];
    int failed = 0;
    uint32_t ncols = 7 + (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(p)) +
                     (uint32_t)tsagg_schema_measure_count(tsagg__part_schema(p));
    for (uint32_t g = 0; g < tsagg__part_groups(p); g++)
        for (uint32_t c = 0; c < ncols; c++) {
            rc = tsagg__part_read_column(p, c, g, v);
            cr_assert(rc == 0 || is_damage(rc), "column: %d", rc);
            failed += rc != 0;
        }
    for (uint32_t c = TSAGG__COL_EVENT; c < ncols; c++) {
        uint32_t n = tsagg__part_dict_size(p, c);
        for (uint32_t k = 0; k < n; k++) {
            const char *s;
            size_t sl;
            rc = tsagg__part_dict_get(p, c, k, &s, &sl);
            cr_assert(rc == 0 || is_damage(rc), "dict: %d", rc);
            failed += rc != 0;
            if (rc != 0)
                break;
        }
    }
    for (uint64_t m = 0; m < tsagg__part_merchants(p); m++) {
        tsagg__merchant_entry e, f;
        rc = tsagg__part_merchant_at(p, m, &e);
        cr_assert(rc == 0 || is_damage(rc), "merchant_at: %d", rc);
        failed += rc != 0;
        if (rc != 0)
            continue;
        rc = tsagg__part_find_merchant(p, e.merchant, &f);
        cr_assert(rc == 1 || is_damage(rc), "find_merchant: %d", rc);
        tsagg__hour_segment *segs = calloc(e.nsegments + 1, sizeof *segs);
        rc = tsagg__part_segments(p, &e, segs);
        cr_assert(rc == 0 || is_damage(rc), "segments: %d", rc);
        failed += rc != 0;
        for (uint32_t s = 0; rc == 0 && s < e.nsegments; s++) {
            if (!segs[s].rollup_len)
                continue;
            tsagg__rollup r;
            int rr = tsagg__part_rollup(p, &e, &segs[s], &r);
            cr_assert(rr == 0 || is_damage(rr), "rollup: %d", rr);
            failed += rr != 0;
            for (uint32_t k = 0; rr == 0 && k < r.nnamed; k++) {
                tsagg__hll h;
                tsagg__hll_init(&h);
                int hr = tsagg__hll_merge_serialized(&h, r.named_users[k], r.named_users_len[k]);
                cr_assert(hr == 0 || hr == TSAGG_ECORRUPT || hr == TSAGG_EVERSION);
                tsagg__hll_fini(&h);
            }
            tsagg__rollup_free(&r);
        }
        free(segs);
    }
    tsagg__part_close(p);
    return failed;
}

/* The file with its footer replaced by raw (stored plain) and a trailer
 * whose checksum matches. */
static uint8_t *with_footer(const uint8_t *f, uint64_t foff, const uint8_t *raw, size_t rlen,
                            size_t *out_len)
{
    size_t n = (size_t)foff + rlen + 48;
    uint8_t *b = malloc(n);
    memcpy(b, f, (size_t)foff);
    memcpy(b + foff, raw, rlen);
    uint8_t *t = b + foff + rlen;
    memset(t, 0, 48);
    tsagg__put_u64(t, foff);
    tsagg__put_u64(t + 8, rlen);
    tsagg__put_u64(t + 16, rlen);
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, raw, rlen);
    XXH3_64bits_update(st, t, 32);
    tsagg__put_u64(t + 32, XXH3_64bits_digest(st));
    XXH3_freeState(st);
    memcpy(t + 40, "TSPRTEND", 8);
    *out_len = n;
    return b;
}

/* Recompute the checksum of the block at off (s stored bytes) after its
 * bytes changed. */
static void rechecksum_block(uint8_t *f, uint64_t off, uint32_t s)
{
    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, f + off, 16);
    XXH3_64bits_update(st, f + off + 24, s);
    tsagg__put_u64(f + off + 16, XXH3_64bits_digest(st));
    XXH3_freeState(st);
}

/* A dictionary holding a string twice (behind a good checksum): turning
 * codes into strings works, finding a string fails, each time, naming the
 * block (the hash index that finds strings is built on the first find). */
Test(partfile, dictionary_duplicates_fail_find)
{
    tsagg_schema *schema = default_schema();
    ds d = many_rows(3 * GR, schema);
    char dir[256], path[512], bad[600], err[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "good.tpart");
    snprintf(bad, sizeof bad, "%s/bad.tpart", dir);
    write_ds(tsagg_io_default(), path, &d, 5000, NULL);
    size_t len;
    uint8_t *b = slurp(path, &len);
    layout l = parse_layout(b, len);
    uint64_t off = l.dict_off[3]; /* country: "", "DE", "US" (too short for zstd) */
    cr_assert_eq(b[off + 1], 0, "the country dictionary should be stored plain");
    uint32_t stored = tsagg__get_u32(b + off + 8);
    uint8_t *hit = memmem(b + off + 24, stored, "DE", 2);
    cr_assert_not_null(hit);
    memcpy(hit, "US", 2); /* "US" twice */
    rechecksum_block(b, off, stored);
    tsagg__part *p;
    cr_assert_eq(try_open(bad, b, len, &p, err), 0, "%s", err);
    const char *str;
    size_t sl;
    cr_assert_eq(tsagg__part_dict_size(p, TSAGG__COL_DIM0 + 2), 3);
    for (uint32_t c = 0; c < 3; c++)
        cr_assert_eq(tsagg__part_dict_get(p, TSAGG__COL_DIM0 + 2, c, &str, &sl), 0);
    for (int k = 0; k < 2; k++) {
        int rc = tsagg__part_dict_find(p, TSAGG__COL_DIM0 + 2, "FR", 2, NULL);
        cr_assert_eq(rc, TSAGG_ECORRUPT);
        expect_read_error(p, rc, bad, off);
        char msg[512];
        tsagg__part_errmsg(p, msg, sizeof msg);
        cr_assert(strstr(msg, "twice"), "%s", msg);
    }
    /* Other dictionaries are not affected. */
    cr_assert_eq(tsagg__part_dict_find(p, TSAGG__COL_EVENT, "click", 5, NULL), 1);
    tsagg__part_close(p);
    free(b);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* The raw footer of a file (malloc'ed); *foff, *fr its offset and length. */
static uint8_t *footer_raw(const uint8_t *orig, size_t len, uint64_t *foff, uint64_t *fr)
{
    const uint8_t *t = orig + len - 48;
    uint64_t fs = tsagg__get_u64(t + 8);
    *foff = tsagg__get_u64(t);
    *fr = tsagg__get_u64(t + 16);
    uint8_t *raw = malloc(*fr);
    if (t[24] == 2)
        cr_assert_eq(ZSTD_decompress(raw, *fr, orig + *foff, fs), *fr);
    else
        memcpy(raw, orig + *foff, *fr);
    return raw;
}

/* Every footer byte changed (3 bits each), checksums made good: never a
 * crash, and the open or a read refuses every change. */
static void footer_changes_are_refused(const uint8_t *orig, size_t len)
{
    uint64_t foff, fr;
    uint8_t *raw = footer_raw(orig, len, &foff, &fr);
    /* The same footer stored plain is a good file. */
    size_t n;
    uint8_t *b = with_footer(orig, foff, raw, fr, &n);
    cr_assert_eq(read_everything(b, n), 0);
    free(b);
    int refused = 0;
    for (size_t i = 0; i < fr; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            raw[i] ^= (uint8_t)(1u << bit);
            b = with_footer(orig, foff, raw, fr, &n);
            int r = read_everything(b, n) > 0;
            cr_assert(r, "footer byte %zu of %" PRIu64 " bit %d: the change went unnoticed", i, fr,
                      bit);
            refused += r;
            free(b);
            raw[i] ^= (uint8_t)(1u << bit);
        }
    }
    cr_assert_eq(refused, (int)fr * 3);
    free(raw);
}

Test(partfile, bad_structure_behind_good_checksums)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "x.tpart");
    ds d = mixed_rows(schema);
    write_ds(tsagg_io_default(), path, &d, 60, NULL);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    footer_changes_are_refused(orig, len);
    /* Every byte of every block changed likewise (only: no crash). */
    uint64_t foff = tsagg__get_u64(orig + len - 48);
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    for (uint64_t off = 64; off < foff;) {
        uint32_t s = tsagg__get_u32(orig + off + 8);
        for (uint32_t i = 0; i < 24 + s; i++) {
            if (i >= 16 && i < 24)
                continue; /* the checksum itself */
            b[off + i] ^= 0x09;
            rechecksum_block(b, off, s);
            read_everything(b, len);
            memcpy(b + off, orig + off, 24 + s);
        }
        off += 24 + s;
    }
    free(b);
    free(orig);
    ds_free(&d);
    /* Several index pages: their table in the footer is cross-checked too. */
    ds pages = span_rows(schema, HOUR0, 2, 300);
    write_ds(tsagg_io_default(), path, &pages, 1000, NULL);
    orig = slurp(path, &len);
    footer_changes_are_refused(orig, len);
    free(orig);
    ds_free(&pages);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* ---- the index's own checks, behind good checksums ------------------------------ */

/* An index entry and an hour segment as their varints (docs/format.md). */
typedef struct tentry {
    uint64_t delta, rows, dmin, dlen, nseg, soff, slen;
} tentry;

typedef struct tseg {
    uint64_t hour, rows, len, delta;
} tseg;

static size_t page_parse(const uint8_t *raw, size_t len, tentry *out)
{
    const uint8_t *q = raw;
    size_t n = 0;
    while (q < raw + len) {
        tentry *e = &out[n++];
        memset(e, 0, sizeof *e);
        e->delta = varint(&q);
        e->rows = varint(&q);
        e->dmin = varint(&q);
        e->dlen = varint(&q);
        e->nseg = varint(&q);
        if (e->nseg) {
            e->soff = varint(&q);
            e->slen = varint(&q);
        }
    }
    cr_assert_eq(q, raw + len);
    return n;
}

static size_t page_encode(const tentry *e, size_t n, uint8_t *out)
{
    uint8_t *q = out;
    for (size_t i = 0; i < n; i++) {
        q += tsagg__put_varint(q, e[i].delta);
        q += tsagg__put_varint(q, e[i].rows);
        q += tsagg__put_varint(q, e[i].dmin);
        q += tsagg__put_varint(q, e[i].dlen);
        q += tsagg__put_varint(q, e[i].nseg);
        if (e[i].nseg) {
            q += tsagg__put_varint(q, e[i].soff);
            q += tsagg__put_varint(q, e[i].slen);
        }
    }
    return (size_t)(q - out);
}

static size_t segs_parse(const uint8_t *raw, size_t len, tseg *out)
{
    const uint8_t *q = raw;
    uint64_t n = varint(&q);
    for (uint64_t i = 0; i < n; i++) {
        out[i].hour = varint(&q);
        out[i].rows = varint(&q);
        out[i].len = varint(&q);
        out[i].delta = out[i].len ? varint(&q) : 0;
    }
    cr_assert_eq(q, raw + len);
    return (size_t)n;
}

/* n segments (count: the stated count) as raw bytes. */
static size_t segs_encode(const tseg *s, size_t n, uint64_t count, uint8_t *out)
{
    uint8_t *q = out;
    q += tsagg__put_varint(q, count);
    for (size_t i = 0; i < n; i++) {
        q += tsagg__put_varint(q, s[i].hour);
        q += tsagg__put_varint(q, s[i].rows);
        q += tsagg__put_varint(q, s[i].len);
        if (s[i].len)
            q += tsagg__put_varint(q, s[i].delta);
    }
    return (size_t)(q - out);
}

/* A block holding raw bytes stored plain, at b + *len. */
static void put_block(uint8_t *b, size_t *len, uint8_t kind, uint16_t col, uint32_t ordinal,
                      const uint8_t *raw, size_t rlen)
{
    uint8_t *h = b + *len;
    memset(h, 0, 24);
    h[0] = kind;
    tsagg__put_u16(h + 2, col);
    tsagg__put_u32(h + 4, ordinal);
    tsagg__put_u32(h + 8, (uint32_t)rlen);
    tsagg__put_u32(h + 12, (uint32_t)rlen);
    memcpy(h + 24, raw, rlen);
    rechecksum_block(b, *len, (uint32_t)rlen);
    *len += 24 + rlen;
}

/*
 * orig with index page 0 replaced by `page` and, if seg is not NULL, a new
 * hour-segment block of ordinal seg_ordinal holding `seg`: the new blocks
 * follow the body (the segment block at the old footer offset, where the
 * caller's page points), the footer's page table and byte counts follow
 * them (the old page block counts as segment bytes). Checksums are good.
 */
static uint8_t *with_index(const uint8_t *orig, size_t len, const uint8_t *page, size_t plen,
                           const uint8_t *seg, size_t slen, uint32_t seg_ordinal, size_t *out_len)
{
    uint64_t foff, fr;
    uint8_t *raw = footer_raw(orig, len, &foff, &fr);
    uint8_t *body = malloc(foff + 48 + plen + slen);
    memcpy(body, orig, foff);
    size_t n = foff;
    if (seg)
        put_block(body, &n, 4, 0, seg_ordinal, seg, slen);
    uint64_t page_off = n;
    put_block(body, &n, 5, 0, 0, page, plen);
    /* The page table is the footer's tail; page 0 comes first. */
    uint64_t npages = (tsagg__get_u64(raw + 8) + 255) / 256;
    uint8_t *pt = raw + fr - npages * 32;
    uint64_t extra = tsagg__get_u32(pt + 24) + (seg ? 24 + slen : 0);
    tsagg__put_u64(raw + 56, tsagg__get_u64(raw + 56) + extra);
    tsagg__put_u64(pt + 16, page_off);
    tsagg__put_u32(pt + 24, (uint32_t)(24 + plen));
    uint8_t *b = with_footer(body, n, raw, fr, out_len);
    free(body);
    free(raw);
    return b;
}

/* Open b, expect `call` (0: merchant_at 0, 1: segments of merchant mi, 2:
 * its first rollup) to fail as damage with a message holding want. */
static void expect_index_error(const uint8_t *b, size_t len, int call, uint64_t mi,
                               const char *want, int line)
{
    memio mio = {.b = b, .len = len};
    mio.io = (tsagg_io){.open = m_open, .close = m_close, .pread = m_pread, .fsize = m_fsize};
    mio.io.ctx = &mio;
    tsagg__part *p;
    char err[512];
    cr_assert_eq(tsagg__part_open(&mio.io, "mem.tpart", &p, err, sizeof err), 0, "%s", err);
    tsagg__merchant_entry e;
    tsagg__hour_segment segs[TSAGG__PART_MAX_HOURS];
    int rc = tsagg__part_merchant_at(p, call ? mi : 0, &e);
    if (call >= 1 && rc == 0) {
        rc = tsagg__part_segments(p, &e, segs);
        if (call == 2 && rc == 0) {
            uint32_t k = 0;
            while (k < e.nsegments && !segs[k].rollup_len)
                k++;
            cr_assert_lt(k, e.nsegments);
            tsagg__rollup r;
            rc = tsagg__part_rollup(p, &e, &segs[k], &r);
        }
    }
    cr_assert(is_damage(rc), "line %d: want \"%s\", got %d", line, want, rc);
    tsagg__part_errmsg(p, err, sizeof err);
    cr_assert(strstr(err, "mem.tpart") && strstr(err, "at offset") && strstr(err, want),
              "line %d: want \"%s\", got: %s", line, want, err);
    tsagg__part_close(p);
}

Test(partfile, index_pages_and_segments_are_checked)
{
    tsagg_schema *schema = default_schema();
    char dir[256], path[512];
    tmp_path(dir, sizeof dir, path, sizeof path, "i.tpart");
    ds d = span_rows(schema, HOUR0, 3, 300);
    write_ds(tsagg_io_default(), path, &d, 1000, NULL);
    size_t len, plen, slen, n;
    uint8_t *orig = slurp(path, &len);
    layout l = parse_layout(orig, len);
    uint8_t *praw = block_raw(orig, l.page_off, 5, &plen);
    static tentry e0[256], e[257];
    cr_assert_eq(page_parse(praw, plen, e0), 256);
    uint8_t *page = malloc(plen + 4096), *b;
    const uint64_t span = 3 * (uint64_t)TSAGG__HOUR_US;
    /* The unchanged page, moved: a good file. */
    b = with_index(orig, len, praw, plen, NULL, 0, 0, &n);
    cr_assert_eq(read_everything(b, n), 0);
    free(b);

#define PAGE_CASE(want, edit, count)                                                               \
    do {                                                                                           \
        memcpy(e, e0, sizeof e0);                                                                  \
        size_t ne_ = 256;                                                                          \
        edit;                                                                                      \
        size_t pl_ = page_encode(e, ne_, page);                                                    \
        b = with_index(orig, len, page, pl_ - (count), NULL, 0, 0, &n);                            \
        expect_index_error(b, n, 0, 0, want, __LINE__);                                            \
        free(b);                                                                                   \
    } while (0)

    /* A merchant with a single row, one with several, one with segments. */
    uint32_t one = 256, several = 256, segd = 256;
    for (uint32_t i = 0; i < 256; i++) {
        one = e0[i].rows == 1 && one == 256 ? i : one;
        several = e0[i].rows > 1 && several == 256 ? i : several;
        segd = e0[i].nseg > 1 && segd == 256 ? i : segd;
    }
    cr_assert(one < 256 && several < 256 && segd < 256);
    PAGE_CASE("truncated entry", (void)0, 1);
    PAGE_CASE("trailing bytes", (e[256] = e0[255], ne_ = 257), 0);
    PAGE_CASE("first merchant disagrees with the page table", e[0].delta++, 0);
    PAGE_CASE("merchants not strictly increasing", e[1].delta = 0, 0);
    PAGE_CASE("merchants not strictly increasing", e[255].delta = UINT64_MAX, 0);
    PAGE_CASE("merchants not below the next page's",
              e[255].delta += (255u + 1) * 977 * 511 /* page 1's first id */, 0);
    PAGE_CASE("row ranges do not add up", e[0].rows = 0, 0);
    PAGE_CASE("row ranges do not add up", e[255].rows++, 0);
    PAGE_CASE("row ranges do not add up", e[several].rows--, 0);
    PAGE_CASE("time range outside the span", e[0].dmin = span, 0);
    PAGE_CASE("time range outside the span", e[several].dlen = span - e[several].dmin, 0);
    PAGE_CASE("a time range wider than its one row", e[one].dlen = 1, 0);
    PAGE_CASE("entry disagrees with its row groups' ranges",
              e[several].dlen = span - 1 - e[several].dmin, 0);
    PAGE_CASE("bad hour-segment count", e[segd].nseg = e[segd].rows + 1, 0);
    PAGE_CASE("bad hour-segment count", e[segd].nseg = 1, 0);
    /* More segments than hours between its first and last row. */
    PAGE_CASE("bad hour-segment count", (e[several].nseg = 2, e[several].soff = e0[segd].soff,
                                         e[several].slen = e0[segd].slen, e[several].dlen = 0),
              0);
    PAGE_CASE("bad hour-segment count", e[segd].soff = (uint64_t)1 << 40, 0);
    PAGE_CASE("bad hour-segment count", e[segd].soff = 10, 0);
    PAGE_CASE("bad hour-segment count", e[segd].slen = 23, 0);
    PAGE_CASE("bad hour-segment count", e[segd].slen = 24 + 10 + 40 * e[segd].nseg + 1, 0);
#undef PAGE_CASE

    /* The hour segments of merchant segd. */
    uint8_t *sraw = block_raw(orig, e0[segd].soff, 4, &slen);
    static tseg s0[TSAGG__PART_MAX_HOURS], s[TSAGG__PART_MAX_HOURS + 1];
    size_t ns0 = segs_parse(sraw, slen, s0);
    cr_assert_eq(ns0, e0[segd].nseg);
    uint32_t roll = 0, plain = 0;
    for (uint32_t k = 0; k < ns0; k++) {
        roll = s0[k].len ? k : roll;
        plain = s0[k].len ? plain : k;
    }
    cr_assert(s0[roll].len && !s0[plain].len);
    uint8_t *sbuf = malloc(slen + 4096);
    uint64_t foff = l.footer_off;

#define SEG_CASE(want, edit, count, call)                                                          \
    do {                                                                                           \
        memcpy(s, s0, sizeof s0);                                                                  \
        size_t ns_ = ns0;                                                                          \
        uint64_t cnt_ = ns0;                                                                       \
        edit;                                                                                      \
        size_t sl_ = segs_encode(s, ns_, cnt_, sbuf) - (count);                                    \
        memcpy(e, e0, sizeof e0);                                                                  \
        e[segd].soff = foff;                                                                       \
        e[segd].slen = 24 + sl_;                                                                   \
        size_t pl_ = page_encode(e, 256, page);                                                    \
        b = with_index(orig, len, page, pl_, sbuf, sl_, segd, &n);                                 \
        expect_index_error(b, n, call, segd, want, __LINE__);                                      \
        free(b);                                                                                   \
    } while (0)

    /* Unchanged, the rewritten block reads back. */
    {
        size_t sl = segs_encode(s0, ns0, ns0, sbuf);
        memcpy(e, e0, sizeof e0);
        e[segd].soff = foff;
        e[segd].slen = 24 + sl;
        size_t pl = page_encode(e, 256, page);
        b = with_index(orig, len, page, pl, sbuf, sl, segd, &n);
        cr_assert_eq(read_everything(b, n), 0);
        free(b);
    }
    SEG_CASE("truncated", (void)0, 1, 1);
    SEG_CASE("trailing bytes", (s[ns0] = s0[plain], ns_++), 0, 1);
    SEG_CASE("segment count disagrees with the index", cnt_++, 0, 1);
    SEG_CASE("hours not increasing", s[0].hour++, 0, 1);
    SEG_CASE("hours not increasing", s[1].hour = s[0].hour, 0, 1);
    SEG_CASE("hours not increasing", s[ns0 - 1].hour++, 0, 1);
    SEG_CASE("rows do not add up to the merchant's", s[0].rows = 0, 0, 1);
    SEG_CASE("rows do not add up to the merchant's", s[0].rows += e0[segd].rows, 0, 1);
    SEG_CASE("rows do not add up to the merchant's", s[ns0 - 1].rows++, 0, 1);
    SEG_CASE("rows do not add up to the merchant's",
             s[plain].rows > 1 ? s[plain].rows-- : s[roll].rows--, 0, 1);
    SEG_CASE("rollup block reference outside the body", s[roll].delta = (uint64_t)1 << 40, 0, 1);
    SEG_CASE("rollup block reference outside the body", s[roll].delta = 10, 0, 1);
    SEG_CASE("rollup block reference outside the body", s[roll].len = 23, 0, 1);
    /* A second rollup at the first one's place. */
    SEG_CASE("rollup block reference outside the body",
             (s[plain].len = s[roll].len,
              s[plain].delta = plain < roll ? s[roll].delta : 0,
              s[roll].delta = plain < roll ? 0 : s[roll].delta),
             0, 1);
    SEG_CASE("listed without a rollup", s[roll].len = 0, 0, 1);
    /* Rows moved between two hours: the rollup's counts disagree. */
    SEG_CASE("counts exceed the merchant-hour's rows",
             (s[roll].rows--, s[plain].rows++), 0, 2);
    if (s0[plain].rows > 1)
        SEG_CASE("counts disagree with the merchant-hour's rows",
                 (s[roll].rows++, s[plain].rows--), 0, 2);
#undef SEG_CASE
    free(sbuf);
    free(sraw);
    free(page);
    free(praw);
    free(orig);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}

/* Rows handed with the writer's codes (tsagg__part_writer_add_coded, as the
 * merge of span buffers does) give the file the strings give, byte for
 * byte; a code the dictionary does not hold is refused. */
Test(partfile, coded_rows_write_the_same_file)
{
    tsagg_schema *schema = default_schema();
    ds d = gen_hour(20000, 50, schema);
    char dir[512], path[600], path2[600];
    tmp_path(dir, sizeof dir, path, sizeof path, "plain.tpart");
    snprintf(path2, sizeof path2, "%s/coded.tpart", dir);
    write_ds(tsagg_io_default(), path, &d, 1000, NULL);

    tsagg__part_writer *w;
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path2, d.start, d.hours, d.schema,
                                         77, &w),
                 0);
    size_t per = 1 + (size_t)d.ndims;
    uint32_t *codes = malloc(1000 * per * sizeof *codes);
    for (size_t i = 0; i < d.n; i += 1000) {
        size_t k = d.n - i < 1000 ? d.n - i : 1000;
        for (size_t j = 0; j < k; j++) {
            const tsagg__row *r = &d.rows[i + j];
            uint32_t *c = codes + j * per;
            cr_assert_eq(tsagg__part_writer_intern(w, 0, r->event.ptr, r->event.len, &c[0]), 0);
            for (uint32_t x = 0; x < d.ndims; x++)
                cr_assert_eq(tsagg__part_writer_intern(w, 1 + x, r->dims[x].ptr, r->dims[x].len,
                                                       &c[1 + x]),
                             0);
        }
        cr_assert_eq(tsagg__part_writer_add_coded(w, d.rows + i, codes, k), 0);
    }
    tsagg__part_info info;
    cr_assert_eq(tsagg__part_writer_finish(w, &info), 0);
    size_t alen, blen;
    uint8_t *a = slurp(path, &alen), *b = slurp(path2, &blen);
    cr_assert(alen == blen && memcmp(a, b, alen) == 0, "codes changed the file");
    free(a);
    free(b);

    /* A code past the dictionary's end. */
    snprintf(path2, sizeof path2, "%s/bad.tpart", dir);
    cr_assert_eq(tsagg__part_writer_open(tsagg_io_default(), path2, d.start, d.hours, d.schema,
                                         78, &w),
                 0);
    memset(codes, 0, per * sizeof *codes);
    cr_assert_eq(tsagg__part_writer_intern(w, 0, "pageview", 8, &codes[0]), 0);
    for (uint32_t x = 0; x < d.ndims; x++)
        cr_assert_eq(tsagg__part_writer_intern(w, 1 + x, "", 0, &codes[1 + x]), 0);
    codes[0] = 1;
    cr_assert_eq(tsagg__part_writer_add_coded(w, d.rows, codes, 1), TSAGG_EARG);
    char msg[256];
    tsagg__part_writer_errmsg(w, msg, sizeof msg);
    cr_assert(strstr(msg, "unknown"), "%s", msg);
    tsagg__part_writer_abort(w);
    free(codes);
    ds_free(&d);
    tsagg_schema_free(schema);
    tu_rmtree(dir);
}
