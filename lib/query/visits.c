/*
 * visits.c - visit metrics (visits, bounce rate, visit duration, pages per
 * visit, entry and exit pages) and new and returning users, computed at
 * query time from the merchant's rows.
 *
 * A visit spans hours, files, compaction runs and tiers, and a user's
 * first event can lie years before the range, so neither fits the
 * per-hour rollups. A merchant's rows are contiguous and time-sorted in
 * every file and indexed by merchant in the head: reading the columns a
 * question needs of them (cached as column slices, partcache.h) and
 * putting them together here makes every boundary right by construction,
 * and merges, rebuilds and retention need nothing new.
 *
 * Visits (tsagg_query.h): the rows of [from - 24 h, to + 24 h) with a
 * session, put together by session, each session's in order of (ts, event
 * id, event name, then the values of the dimensions the query reads, in
 * schema order); an event starts a
 * visit when the one before it in its session is 24 hours or more older
 * (or there is none), and the visit takes the events of its session in
 * [start, start + 24 h). Those of a session running on past that without
 * a 24-hour gap belong to no visit.
 *
 * New users: the users with a matching event in a bucket, whose first
 * event for the merchant in the whole store (any event, read from the
 * store's first file up to `to`, only ts and user) lies in that bucket.
 *
 * Strings differ in code from file to file: each is mapped once per file
 * and column to a query-wide id (strtab), and the passes compare ids.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "head.h"
#include "partcache.h"
#include "query_internal.h"

#define DAY_US (24 * TSAGG__HOUR_US)
#define NOID UINT32_MAX
/* Dimensions a pass reads: the filters', the group-by's and page. */
#define MAX_VDIMS (TSAGG_QUERY_MAX_FILTERS + 2)

/* ---- query-wide string ids ------------------------------------------------ */

typedef struct strtab {
    const char **s; /* copies, NUL-terminated */
    uint32_t *len;
    uint32_t n, cap;
    uint32_t *table; /* id + 1, open addressing */
    uint32_t tcap;
} strtab;

static void strtab_free(strtab *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free((void *)t->s[i]);
    free(t->s);
    free(t->len);
    free(t->table);
}

static int strtab_rehash(strtab *t, uint32_t cap)
{
    uint32_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t j = (uint32_t)XXH3_64bits(t->s[i], t->len[i]) & (cap - 1);
        while (tab[j])
            j = (j + 1) & (cap - 1);
        tab[j] = i + 1;
    }
    free(t->table);
    t->table = tab;
    t->tcap = cap;
    return 0;
}

static int strtab_intern(strtab *t, const char *s, size_t len, uint32_t *id)
{
    if ((t->n + 1) * 2 > t->tcap && strtab_rehash(t, t->tcap ? t->tcap * 2 : 64) != 0)
        return -ENOMEM;
    uint32_t j = (uint32_t)XXH3_64bits(s, len) & (t->tcap - 1);
    for (; t->table[j]; j = (j + 1) & (t->tcap - 1)) {
        uint32_t i = t->table[j] - 1;
        if (t->len[i] == len && !memcmp(t->s[i], s, len)) {
            *id = i;
            return 0;
        }
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        const char **ns = realloc(t->s, cap * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        t->s = ns;
        uint32_t *nl = realloc(t->len, cap * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        t->len = nl;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = 0;
    t->s[t->n] = copy;
    t->len[t->n] = (uint32_t)len;
    t->table[j] = t->n + 1;
    *id = t->n++;
    return 0;
}

/* strcmp order of two ids' strings (bytes, then length). */
static int strtab_cmp(const strtab *t, uint32_t a, uint32_t b)
{
    if (a == b)
        return 0;
    uint32_t la = t->len[a], lb = t->len[b];
    int c = memcmp(t->s[a], t->s[b], la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* ---- reading the merchant's rows ------------------------------------------ */

/* What a pass reads besides ts. dims: store dimensions, ascending. */
typedef struct vcols {
    int user, session, id, event;
    uint32_t nd;
    int dims[MAX_VDIMS];
} vcols;

/* Rows handed to a pass: ts in [lo, hi), strings as query-wide ids. */
typedef struct vbatch {
    size_t n;
    const int64_t *ts;
    const uint64_t *user, *session, *id;
    const uint32_t *event;
    const uint32_t *dims[MAX_VDIMS];
} vbatch;

typedef int (*vsink)(void *ctx, const vbatch *b);

typedef struct reader {
    qplan *p;
    strtab *strs;
    const vcols *cols;
    uint32_t empty; /* the id of "" */
    uint32_t *ids[1 + MAX_VDIMS]; /* per string column: n rows of ids */
    size_t ids_cap;
    size_t rows_hint; /* at most this many rows come (set by read_rows) */
} reader;

static int reader_room(reader *rd, size_t n)
{
    if (n <= rd->ids_cap)
        return 0;
    for (uint32_t c = 0; c < 1 + rd->cols->nd; c++) {
        uint32_t *v = realloc(rd->ids[c], n * sizeof *v);
        if (!v)
            return -ENOMEM;
        rd->ids[c] = v;
    }
    rd->ids_cap = n;
    return 0;
}

static inline uint32_t code_at(const void *v, unsigned bytes, size_t i)
{
    return bytes == 1   ? ((const uint8_t *)v)[i]
           : bytes == 2 ? ((const uint16_t *)v)[i]
                        : ((const uint32_t *)v)[i];
}

/* Ids of a file column's codes of rows [a, a + n) of its slice; map
 * (dictionary size entries) remembers the codes met. */
static int map_codes(reader *rd, tsagg__part *part, uint32_t col, const void *codes,
                     unsigned bytes, size_t a, size_t n, uint32_t **map, uint32_t *out)
{
    if (!*map) {
        uint32_t size = tsagg__part_dict_size(part, col);
        if (!(*map = malloc((size + 1) * sizeof **map)))
            return -ENOMEM;
        memset(*map, 0xff, (size + 1) * sizeof **map);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t code = code_at(codes, bytes, a + i);
        if ((*map)[code] == NOID) {
            const char *s;
            size_t len;
            int rc = tsagg__part_dict_get(part, col, code, &s, &len);
            if (rc == 0)
                rc = strtab_intern(rd->strs, s, len, &(*map)[code]);
            if (rc != 0)
                return rc;
        }
        out[i] = (*map)[code];
    }
    return 0;
}

/* The merchant's rows of one file with ts in [lo, hi). */
static int read_file(reader *rd, tsagg__pcent *ent, int64_t lo, int64_t hi, vsink sink,
                     void *ctx)
{
    qplan *p = rd->p;
    tsagg_store *st = p->st;
    const vcols *vc = rd->cols;
    tsagg__pcmerch *merch;
    int rc = tsagg__pcent_merchant(st, ent, p->q->merchant, &merch);
    if (rc <= 0)
        return rc;
    const tsagg__merchant_entry *me = tsagg__pcmerch_entry(merch);
    if (me->max_ts < lo || me->min_ts >= hi)
        return 0;
    tsagg__part *part = tsagg__pcent_part(ent);
    const int *fd = tsagg__pcent_dimension_map(ent);
    void *owned[5 + MAX_VDIMS];
    size_t nowned = 0;
    const void *v;
    void *own;
    vbatch b;
    memset(&b, 0, sizeof b);
#define SLICE(col, dst)                                                                        \
    do {                                                                                       \
        own = NULL;                                                                            \
        rc = tsagg__pcent_slice(st, ent, merch, (col), &v, &own);                             \
        if (own)                                                                               \
            owned[nowned++] = own;                                                             \
        if (rc == 0)                                                                           \
            (dst) = v;                                                                         \
    } while (0)
    const int64_t *ts = NULL;
    SLICE(TSAGG__COL_TS, ts);
    uint64_t a = 0, e = me->rows;
    if (rc == 0) {
        a = tsagg__first_at_or_after(ts, me->rows, lo);
        e = tsagg__first_at_or_after(ts, me->rows, hi);
    }
    size_t n = (size_t)(e - a);
    if (rc == 0 && n > 0) {
        b.n = n;
        b.ts = ts + a;
        if (vc->user)
            SLICE(TSAGG__COL_USER, b.user);
        if (rc == 0 && vc->session)
            SLICE(TSAGG__COL_SESSION, b.session);
        if (rc == 0 && vc->id)
            SLICE(TSAGG__COL_ID, b.id);
        b.user = b.user ? b.user + a : NULL;
        b.session = b.session ? b.session + a : NULL;
        b.id = b.id ? b.id + a : NULL;
        if (rc == 0)
            rc = reader_room(rd, n);
        uint32_t *maps[1 + MAX_VDIMS] = {0};
        for (uint32_t c = 0; rc == 0 && c < 1 + vc->nd; c++) {
            if (c == 0 && !vc->event)
                continue;
            int d = c ? fd[vc->dims[c - 1]] : 0;
            if (c && d < 0) { /* a file older than the dimension: "" */
                for (size_t i = 0; i < n; i++)
                    rd->ids[c][i] = rd->empty;
            } else {
                uint32_t col = c ? TSAGG__COL_DIM0 + (uint32_t)d : TSAGG__COL_EVENT;
                const void *codes = NULL;
                SLICE(col, codes);
                if (rc == 0)
                    rc = map_codes(rd, part, col, codes, tsagg__pcent_group_code_bytes(ent, col), a,
                                   n, &maps[c], rd->ids[c]);
            }
            if (c == 0)
                b.event = rd->ids[0];
            else
                b.dims[c - 1] = rd->ids[c];
        }
        for (uint32_t c = 0; c < 1 + MAX_VDIMS; c++)
            free(maps[c]);
        if (rc == 0)
            rc = sink(ctx, &b);
    }
#undef SLICE
    if (rc != 0 && rc != -ENOMEM && !p->overflowed) {
        char msg[TSAGG_ERRMSG_MAX];
        tsagg__part_errmsg(part, msg, sizeof msg);
        rc = tsagg__fail(st, rc, "%s", msg[0] ? msg : tsagg_strerror(rc));
    }
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    return rc;
}

/* The head's rows of the merchant with ts in [lo, hi). */
static int read_head(reader *rd, const tsagg__manifest *snap, uint64_t visible, int64_t lo,
                     int64_t hi, vsink sink, void *ctx)
{
    qplan *p = rd->p;
    if (p->flags & TSAGG_QUERY_NO_TAIL)
        return 0;
    const tsagg__head *h = p->st->head;
    if (!h)
        return 0;
    uint32_t *rows;
    size_t n;
    tsagg__head_read_begin(p->st); /* until the rows are copied out */
    int rc = tsagg__head_rows_of(p, snap, visible, lo, hi, &rows, &n);
    if (rc != 0 || n == 0) {
        tsagg__head_read_end(p->st);
        free(rows);
        return rc;
    }
    const tsagg__spanbuf *buf = &h->d.buf;
    const vcols *vc = rd->cols;
    int64_t *ts = malloc(n * sizeof *ts);
    uint64_t *ids = malloc(3 * n * sizeof *ids);
    uint32_t *map = calloc(buf->nstrs + 1, sizeof *map); /* code -> id + 1 */
    rc = ts && ids && map ? reader_room(rd, n) : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const tsagg__spanrow *row = &buf->rows[rows[i]];
        ts[i] = row->ts;
        ids[i] = row->user;
        ids[n + i] = row->session;
        ids[2 * n + i] = row->id;
        for (uint32_t c = 0; rc == 0 && c < 1 + vc->nd; c++) {
            if (c == 0 && !vc->event)
                continue;
            uint32_t code = c ? buf->dims[(size_t)rows[i] * buf->ndims + (uint32_t)vc->dims[c - 1]]
                              : row->event;
            if (!map[code]) {
                tsagg__str s = tsagg__spanbuf_str(buf, code);
                uint32_t id;
                rc = strtab_intern(rd->strs, s.ptr, s.len, &id);
                map[code] = id + 1;
            }
            rd->ids[c][i] = map[code] - 1;
        }
    }
    tsagg__head_read_end(p->st);
    if (rc == 0) {
        vbatch b;
        memset(&b, 0, sizeof b);
        b.n = n;
        b.ts = ts;
        b.user = ids;
        b.session = ids + n;
        b.id = ids + 2 * n;
        b.event = vc->event ? rd->ids[0] : NULL;
        for (uint32_t c = 0; c < vc->nd; c++)
            b.dims[c] = rd->ids[c + 1];
        rc = sink(ctx, &b);
    }
    free(ts);
    free(ids);
    free(map);
    free(rows);
    return rc;
}

/* Every row of the merchant with ts in [lo, hi), from the snapshot's files
 * and the head, to sink. */
static int read_rows(reader *rd, const tsagg__manifest *snap, uint64_t visible, int64_t lo,
                     int64_t hi, vsink sink, void *ctx)
{
    tsagg_store *st = rd->p->st;
    tsagg__part_ref *refs;
    size_t n;
    int rc = tsagg__files_of_range(snap, lo, hi, &refs, &n);
    if (rc == 0 && n > 0) {
        tsagg__pcent **ents = malloc(n * sizeof *ents);
        rc = ents ? tsagg__partcache_get_many(st, refs, n, ents) : -ENOMEM;
        int held = rc == 0;
        /* The merchant's rows of the files and the head bound what comes:
         * a pass sizes its arrays once instead of doubling them. */
        const tsagg__head *h = st->head;
        rd->rows_hint = 0;
        if (h && !(rd->p->flags & TSAGG_QUERY_NO_TAIL)) {
            tsagg__head_read_begin(st);
            const tsagg__head_merchant *hm = tsagg__head_find(h, rd->p->q->merchant);
            rd->rows_hint = hm ? hm->n : 0;
            tsagg__head_read_end(st);
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            tsagg__pcmerch *m;
            int found = tsagg__pcent_merchant(st, ents[i], rd->p->q->merchant, &m);
            if (found == 1)
                rd->rows_hint += tsagg__pcmerch_entry(m)->rows;
        }
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = read_file(rd, ents[i], lo, hi, sink, ctx);
        if (held)
            tsagg__partcache_put_many(st, ents, n);
        free(ents);
    }
    free(refs);
    if (rc == 0)
        rc = read_head(rd, snap, visible, lo, hi, sink, ctx);
    return rc;
}

static void reader_free(reader *rd)
{
    for (uint32_t c = 0; c < 1 + MAX_VDIMS; c++)
        free(rd->ids[c]);
}

/* ---- shared by both passes --------------------------------------------------- */

/* A filter as ids, and where its column is in the pass's dims (-1: event). */
typedef struct vfilter {
    int slot;
    uint32_t *ids;
    uint32_t n;
} vfilter;

typedef struct vctx {
    qplan *p;
    strtab strs;
    vcols cols;
    vfilter filters[TSAGG_QUERY_MAX_FILTERS];
    int group_slot;      /* the group-by dimension's slot, or -1 */
    int page_slot;       /* page's slot (entry/exit), or -1 */
    uint32_t page_view;  /* the id of "page_view" */
    uint32_t empty;
    uint32_t *group_of;  /* id -> group + 1, SKIP_ID: skipped; 0 unknown */
    size_t group_of_cap;
} vctx;

#define SKIP_ID UINT32_MAX

static int add_dim(vcols *vc, int d)
{
    uint32_t j = 0;
    while (j < vc->nd && vc->dims[j] < d)
        j++;
    if (j < vc->nd && vc->dims[j] == d)
        return 0;
    memmove(&vc->dims[j + 1], &vc->dims[j], (vc->nd - j) * sizeof vc->dims[0]);
    vc->dims[j] = d;
    vc->nd++;
    return 0;
}

static int slot_of(const vcols *vc, int d)
{
    for (uint32_t j = 0; j < vc->nd; j++)
        if (vc->dims[j] == d)
            return (int)j;
    return -1;
}

static int vctx_init(vctx *c, qplan *p, int with_page)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    c->group_slot = c->page_slot = -1;
    int page = tsagg_schema_dimension_index(p->st->schema, "page");
    for (uint32_t f = 0; f < p->nfilters; f++)
        if (p->filters[f].col >= 0)
            add_dim(&c->cols, p->filters[f].col);
    if (p->group_col >= 0)
        add_dim(&c->cols, p->group_col);
    if (with_page && page >= 0)
        add_dim(&c->cols, page);
    c->group_slot = p->group_col >= 0 ? slot_of(&c->cols, p->group_col) : -1;
    c->page_slot = with_page && page >= 0 ? slot_of(&c->cols, page) : -1;
    int rc = strtab_intern(&c->strs, "", 0, &c->empty);
    if (rc == 0)
        rc = strtab_intern(&c->strs, "page_view", 9, &c->page_view);
    for (uint32_t f = 0; rc == 0 && f < p->nfilters; f++) {
        const qfilter *qf = &p->filters[f];
        vfilter *vf = &c->filters[f];
        vf->slot = qf->col >= 0 ? slot_of(&c->cols, qf->col) : -1;
        if (!(vf->ids = malloc(qf->nvalues * sizeof *vf->ids)))
            return -ENOMEM;
        for (uint32_t v = 0; rc == 0 && v < qf->nvalues; v++)
            rc = strtab_intern(&c->strs, qf->values[v], qf->lens[v], &vf->ids[vf->n++]);
    }
    return rc;
}

static void vctx_free(vctx *c)
{
    for (uint32_t f = 0; f < TSAGG_QUERY_MAX_FILTERS; f++)
        free(c->filters[f].ids);
    free(c->group_of);
    strtab_free(&c->strs);
}

static int in_filter(const vfilter *vf, uint32_t id)
{
    for (uint32_t v = 0; v < vf->n; v++)
        if (vf->ids[v] == id)
            return 1;
    return 0;
}

/* The plan's group of a key given as an id (QGROUP_SKIP: not kept). */
static int group_of_id(vctx *c, uint32_t id, size_t *group)
{
    if (id >= c->group_of_cap) {
        size_t cap = c->strs.n > id ? c->strs.n : id + 1;
        cap = cap < 2 * c->group_of_cap ? 2 * c->group_of_cap : cap;
        uint32_t *g = realloc(c->group_of, cap * sizeof *g);
        if (!g)
            return -ENOMEM;
        memset(g + c->group_of_cap, 0, (cap - c->group_of_cap) * sizeof *g);
        c->group_of = g;
        c->group_of_cap = cap;
    }
    uint32_t known = c->group_of[id];
    if (known) {
        *group = known == SKIP_ID ? QGROUP_SKIP : known - 1;
        return 0;
    }
    int rc = tsagg__qplan_group(c->p, c->strs.s[id], c->strs.len[id], group);
    if (rc == 0)
        c->group_of[id] = *group == QGROUP_SKIP ? SKIP_ID : (uint32_t)*group + 1;
    return rc;
}

/* ---- visits ---------------------------------------------------------------- */

typedef struct vrow {
    uint64_t session;
    int64_t ts;
    uint64_t id;
    uint32_t row; /* into event / dims */
} vrow;

typedef struct visit_rows {
    vctx *c;
    const size_t *hint; /* the reader's rows_hint */
    vrow *rows;
    uint32_t *event, *dims; /* per row; dims nd per row */
    size_t n, cap;
} visit_rows;

static int visit_sink(void *ctx, const vbatch *b)
{
    visit_rows *v = ctx;
    uint32_t nd = v->c->cols.nd;
    if (v->n + b->n > v->cap) {
        size_t cap = v->cap * 2 > v->n + b->n ? v->cap * 2 : v->n + b->n + 1024;
        if (*v->hint >= v->n + b->n && (v->cap == 0 || *v->hint < cap))
            cap = *v->hint;
        if (cap > UINT32_MAX)
            return -E2BIG;
        vrow *r = realloc(v->rows, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        v->rows = r;
        uint32_t *e = realloc(v->event, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        v->event = e;
        uint32_t *d = realloc(v->dims, cap * (nd ? nd : 1) * sizeof *d);
        if (!d)
            return -ENOMEM;
        v->dims = d;
        v->cap = cap;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!b->session[i])
            continue; /* in no visit */
        size_t k = v->n++;
        v->rows[k] = (vrow){b->session[i], b->ts[i], b->id[i], (uint32_t)k};
        v->event[k] = b->event[i];
        for (uint32_t j = 0; j < nd; j++)
            v->dims[k * nd + j] = b->dims[j][i];
    }
    return 0;
}

static int cmp_vrow(const void *a, const void *b)
{
    const vrow *x = a, *y = b;
    if (x->session != y->session)
        return x->session < y->session ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The order of two rows equal in (session, ts, id): event name, then the
 * dimensions read, in schema order. */
static int cmp_tie(const visit_rows *v, const vrow *x, const vrow *y)
{
    const strtab *t = &v->c->strs;
    int c = strtab_cmp(t, v->event[x->row], v->event[y->row]);
    uint32_t nd = v->c->cols.nd;
    for (uint32_t j = 0; !c && j < nd; j++)
        c = strtab_cmp(t, v->dims[(size_t)x->row * nd + j], v->dims[(size_t)y->row * nd + j]);
    return c;
}

/* Rows equal in (session, ts, id) are few (events without an id sent at
 * the same microsecond): an insertion sort of each run. */
static void sort_ties(visit_rows *v)
{
    for (size_t a = 0, b; a < v->n; a = b) {
        for (b = a + 1; b < v->n && cmp_vrow(&v->rows[a], &v->rows[b]) == 0; b++)
            ;
        for (size_t i = a + 1; i < b; i++) {
            vrow x = v->rows[i];
            size_t j = i;
            for (; j > a && cmp_tie(v, &x, &v->rows[j - 1]) < 0; j--)
                v->rows[j] = v->rows[j - 1];
            v->rows[j] = x;
        }
    }
}

/* Whether rows [a, b) are in (session, ts, id) order already. */
static int in_order(const vrow *r, size_t a, size_t b)
{
    for (size_t i = a + 1; i < b; i++)
        if (cmp_vrow(&r[i - 1], &r[i]) > 0)
            return 0;
    return 1;
}

/*
 * Put each session's rows together, in (ts, id) order. A merchant's rows
 * come file by file, each file's in time order: a stable counting sort by
 * session (numbered in order of appearance through a hash table sized
 * from the row count) leaves most sessions in order, and only those whose
 * rows came from several overlapping files or the head need a sort. A
 * comparison sort of all the rows was most of a year's visit query.
 */
static int group_sessions(visit_rows *v)
{
    size_t n = v->n, cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *table = calloc(cap, sizeof *table); /* session number + 1 */
    uint32_t *num = malloc((n + 1) * sizeof *num);
    uint32_t *first = malloc((n + 2) * sizeof *first); /* per session: first place */
    vrow *out = malloc((n + 1) * sizeof *out);
    uint64_t *sid = malloc((n + 1) * sizeof *sid);
    int rc = table && num && first && out && sid ? 0 : -ENOMEM;
    uint32_t ns = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t s = v->rows[i].session;
        size_t j = (size_t)(s * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1);
        while (table[j] && sid[table[j] - 1] != s)
            j = (j + 1) & (cap - 1);
        if (!table[j]) {
            sid[ns] = s;
            first[ns] = 0;
            table[j] = ++ns;
        }
        num[i] = table[j] - 1;
        first[num[i]]++;
    }
    if (rc == 0) {
        uint32_t at = 0;
        for (uint32_t k = 0; k < ns; k++) {
            uint32_t c = first[k];
            first[k] = at;
            at += c;
        }
        first[ns] = at;
        for (size_t i = 0; i < n; i++)
            out[first[num[i]]++] = v->rows[i];
        /* first[k] is now where session k + 1 begins. */
        for (uint32_t k = 0, a = 0; k < ns; a = first[k++])
            if (!in_order(out, a, first[k]))
                qsort(out + a, first[k] - a, sizeof *out, cmp_vrow);
        free(v->rows);
        v->rows = out;
        out = NULL;
    }
    free(table);
    free(num);
    free(first);
    free(out);
    free(sid);
    return rc;
}

/* One visit: rows [a, b) of the sorted rows. */
static int add_visit(visit_rows *v, size_t a, size_t b)
{
    vctx *c = v->c;
    qplan *p = c->p;
    uint32_t nd = c->cols.nd;
    const vrow *first = &v->rows[a];
    const uint32_t *fdims = v->dims + (size_t)first->row * nd;
    uint64_t pages = 0;
    uint32_t entry = c->empty, exit_ = c->empty, need = 0, seen = 0;
    for (uint32_t f = 0; f < p->nfilters; f++) {
        const vfilter *vf = &c->filters[f];
        if (vf->slot >= 0 && !in_filter(vf, fdims[vf->slot]))
            return 0; /* the first event's fields decide */
        if (vf->slot < 0)
            need |= 1u << f;
    }
    for (size_t i = a; i < b; i++) {
        uint32_t r = v->rows[i].row, ev = v->event[r];
        if (ev == c->page_view) {
            uint32_t page = c->page_slot >= 0 ? v->dims[(size_t)r * nd + (uint32_t)c->page_slot]
                                              : c->empty;
            if (pages++ == 0)
                entry = page;
            exit_ = page;
        }
        for (uint32_t f = 0; need & ~seen && f < p->nfilters; f++)
            if ((need >> f & 1) && in_filter(&c->filters[f], ev))
                seen |= 1u << f;
    }
    if (need & ~seen)
        return 0; /* an event filter no event of the visit passes */
    size_t g = 0;
    int rc = 0;
    if (p->group_col == QCOL_ENTRY)
        rc = group_of_id(c, entry, &g);
    else if (p->group_col == QCOL_EXIT)
        rc = group_of_id(c, exit_, &g);
    else if (p->group_col >= 0)
        rc = group_of_id(c, fdims[c->group_slot], &g);
    if (rc != 0 || g == QGROUP_SKIP)
        return rc;
    size_t cell = tsagg__qplan_cell(p, g, tsagg__qplan_bucket(p, first->ts));
    vacc *va = &p->va;
    va->visits[cell]++;
    va->bounces[cell] += b - a == 1 && pages == 1;
    va->pages[cell] += pages;
    va->dur_us[cell] += (uint64_t)(v->rows[b - 1].ts - first->ts);
    return 0;
}

/* Walk the sorted rows session by session: an event starts a visit when
 * the one before it in its session is 24 h older or more, or it is the
 * session's first; the visit takes the events before start + 24 h. */
static int walk_visits(visit_rows *v)
{
    qplan *p = v->c->p;
    int rc = 0;
    size_t start = 0;
    int open = 0;
    for (size_t i = 0; rc == 0 && i <= v->n; i++) {
        const vrow *r = i < v->n ? &v->rows[i] : NULL;
        int new_session = !r || i == 0 || r->session != v->rows[i - 1].session;
        int starts = r && (new_session || r->ts - v->rows[i - 1].ts >= DAY_US);
        int member = open && !starts && r && r->ts - v->rows[start].ts < DAY_US;
        if (member)
            continue;
        if (open && v->rows[start].ts >= p->from && v->rows[start].ts < p->to)
            rc = add_visit(v, start, i);
        open = starts;
        start = i;
    }
    return rc;
}

static int visits_pass(qplan *p, const tsagg__manifest *snap, uint64_t visible)
{
    vctx c;
    int entry_exit = p->group_col == QCOL_ENTRY || p->group_col == QCOL_EXIT;
    int rc = vctx_init(&c, p, entry_exit);
    c.cols.session = c.cols.id = c.cols.event = 1;
    reader rd = {.p = p, .strs = &c.strs, .cols = &c.cols, .empty = c.empty};
    visit_rows v = {.c = &c, .hint = &rd.rows_hint};
    /* An event of [from, to) starts a visit by what lies 24 h before it;
     * a visit of the range takes events up to 24 h after it. */
    int64_t lo = p->from > INT64_MIN + DAY_US ? p->from - DAY_US : INT64_MIN;
    int64_t hi = p->to < INT64_MAX - DAY_US ? p->to + DAY_US : INT64_MAX;
    if (rc == 0)
        rc = read_rows(&rd, snap, visible, lo, hi, visit_sink, &v);
    if (rc == 0)
        rc = group_sessions(&v);
    if (rc == 0) {
        sort_ties(&v);
        rc = walk_visits(&v);
    }
    reader_free(&rd);
    free(v.rows);
    free(v.event);
    free(v.dims);
    vctx_free(&c);
    return rc;
}

/* ---- new and returning users ------------------------------------------------ */

/* A user's first event, by user: open addressing, user 0 never stored. */
typedef struct firstseen {
    uint64_t *users;
    int64_t *first;
    size_t cap, n;
} firstseen;

static size_t fs_slot(const firstseen *f, uint64_t user)
{
    size_t j = (size_t)(user * 0x9E3779B97F4A7C15ull >> 20) & (f->cap - 1);
    while (f->users[j] && f->users[j] != user)
        j = (j + 1) & (f->cap - 1);
    return j;
}

static int fs_add(firstseen *f, uint64_t user)
{
    if ((f->n + 1) * 2 > f->cap) {
        firstseen g = {NULL, NULL, f->cap ? f->cap * 2 : 1024, 0};
        g.users = calloc(g.cap, sizeof *g.users);
        g.first = malloc(g.cap * sizeof *g.first);
        if (!g.users || !g.first) {
            free(g.users);
            free(g.first);
            return -ENOMEM;
        }
        for (size_t i = 0; i < f->cap; i++) {
            if (!f->users[i])
                continue;
            size_t j = fs_slot(&g, f->users[i]);
            g.users[j] = f->users[i];
            g.first[j] = f->first[i];
        }
        g.n = f->n;
        free(f->users);
        free(f->first);
        *f = g;
    }
    size_t j = fs_slot(f, user);
    if (!f->users[j]) {
        f->users[j] = user;
        f->first[j] = INT64_MAX;
        f->n++;
    }
    return 0;
}

typedef struct user_rows {
    vctx *c;
    firstseen seen;
    size_t last_cell;
    uint64_t last_user;
} user_rows;

/* Every row before `to`: each user's first event. */
static int history_sink(void *ctx, const vbatch *b)
{
    user_rows *u = ctx;
    firstseen *f = &u->seen;
    for (size_t i = 0; i < b->n; i++) {
        if (!b->user[i])
            continue;
        int rc = fs_add(f, b->user[i]);
        if (rc != 0)
            return rc;
        size_t j = fs_slot(f, b->user[i]);
        if (b->ts[i] < f->first[j])
            f->first[j] = b->ts[i];
    }
    return 0;
}

/* Rows of [from, to): the users with an event passing the filters, into
 * the sets of their cell; those whose first event lies in the row's bucket
 * of the range into the cell's new users too. */
static int user_sink(void *ctx, const vbatch *b)
{
    user_rows *u = ctx;
    vctx *c = u->c;
    qplan *p = c->p;
    vacc *va = &p->va;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        uint64_t user = b->user[i];
        if (!user)
            continue;
        int ok = 1;
        for (uint32_t f = 0; ok && f < p->nfilters; f++) {
            const vfilter *vf = &c->filters[f];
            ok = in_filter(vf, vf->slot >= 0 ? b->dims[vf->slot][i] : b->event[i]);
        }
        if (!ok)
            continue;
        size_t g = 0;
        if (p->group_col == QCOL_EVENT)
            rc = group_of_id(c, b->event[i], &g);
        else if (p->group_col >= 0)
            rc = group_of_id(c, b->dims[c->group_slot][i], &g);
        if (rc != 0 || g == QGROUP_SKIP)
            continue;
        size_t bucket = tsagg__qplan_bucket(p, b->ts[i]);
        size_t cell = tsagg__qplan_cell(p, g, bucket);
        if (cell == u->last_cell && user == u->last_user)
            continue; /* a visitor's events often follow each other */
        u->last_cell = cell;
        u->last_user = user;
        uint32_t before = va->uset[cell].n;
        if ((rc = tsagg__idset_add(&va->uset[cell], user)) != 0)
            break;
        /* A total (one cell a group) asks whether any of the user's rows
         * lies in the bucket of its first event; a series, once a cell. */
        if (va->uset[cell].n == before && !p->totals)
            continue;
        int64_t first = u->seen.first[fs_slot(&u->seen, user)];
        if (first >= p->from && first >= p->starts[bucket] && first < p->starts[bucket + 1])
            rc = tsagg__idset_add(&va->nset[cell], user);
    }
    return rc;
}

static int new_users_pass(qplan *p, const tsagg__manifest *snap, uint64_t visible)
{
    vctx c;
    int rc = vctx_init(&c, p, 0);
    c.cols.user = 1;
    c.cols.event = 1;
    user_rows u = {.c = &c, .last_cell = SIZE_MAX};
    /* First the whole history up to `to`, ts and user only: who was seen
     * when; then the range's rows with the fields the filters and the
     * group-by need. */
    vcols hist = {.user = 1};
    reader hr = {.p = p, .strs = &c.strs, .cols = &hist, .empty = c.empty};
    reader rd = {.p = p, .strs = &c.strs, .cols = &c.cols, .empty = c.empty};
    if (rc == 0)
        rc = read_rows(&hr, snap, visible, INT64_MIN, p->to, history_sink, &u);
    if (rc == 0 && u.seen.n)
        rc = read_rows(&rd, snap, visible, p->from, p->to, user_sink, &u);
    reader_free(&rd);
    reader_free(&hr);
    free(u.seen.users);
    free(u.seen.first);
    vctx_free(&c);
    return rc;
}

int tsagg__scan_visits(qplan *p, const tsagg__manifest *snap, uint64_t visible)
{
    int rc = p->need_visits ? visits_pass(p, snap, visible) : 0;
    if (rc == 0 && p->need_new_users)
        rc = new_users_pass(p, snap, visible);
    return rc;
}

/* ---- accumulators and values ------------------------------------------------- */

int tsagg__vacc_grow(vacc *va, size_t old, size_t cells)
{
    uint64_t **arrs[] = {&va->visits, &va->bounces, &va->pages, &va->dur_us};
    for (size_t a = 0; a < sizeof arrs / sizeof arrs[0]; a++) {
        uint64_t *n = realloc(*arrs[a], cells * sizeof *n);
        if (!n)
            return -ENOMEM;
        memset(n + old, 0, (cells - old) * sizeof *n);
        *arrs[a] = n;
    }
    idset **sets[] = {&va->uset, &va->nset};
    for (size_t a = 0; a < 2; a++) {
        idset *n = realloc(*sets[a], cells * sizeof *n);
        if (!n)
            return -ENOMEM;
        memset(n + old, 0, (cells - old) * sizeof *n);
        *sets[a] = n;
    }
    va->cells = cells;
    return 0;
}

void tsagg__vacc_free(vacc *va)
{
    for (size_t i = 0; i < va->cells; i++) {
        tsagg__idset_free(&va->uset[i]);
        tsagg__idset_free(&va->nset[i]);
    }
    free(va->visits);
    free(va->bounces);
    free(va->pages);
    free(va->dur_us);
    free(va->uset);
    free(va->nset);
    memset(va, 0, sizeof *va);
}

/* A metric from the sums of visits, bounces, durations and pages. */
static double from_sums(uint32_t kind, uint64_t visits, uint64_t bounces, uint64_t dur_us,
                        uint64_t pages)
{
    switch (kind) {
    case TSAGG_METRIC_VISITS:
        return (double)visits;
    case TSAGG_METRIC_BOUNCE_RATE:
        return visits ? (double)bounces * 100.0 / (double)visits : NAN;
    case TSAGG_METRIC_VISIT_DURATION:
        return visits ? (double)dur_us / 1e6 / (double)visits : NAN;
    default:
        return visits ? (double)pages / (double)visits : NAN;
    }
}

double tsagg__visit_value(const qplan *p, uint32_t kind, size_t cell)
{
    const vacc *va = &p->va;
    if (kind == TSAGG_METRIC_NEW_USERS)
        return (double)va->nset[cell].n;
    if (kind == TSAGG_METRIC_RETURNING_USERS)
        return (double)(va->uset[cell].n - va->nset[cell].n);
    return from_sums(kind, va->visits[cell], va->bounces[cell], va->dur_us[cell],
                     va->pages[cell]);
}

double tsagg__visit_rank(const qplan *p, uint32_t kind, size_t group)
{
    const vacc *va = &p->va;
    uint64_t s[5] = {0};
    for (size_t b = 0; b < p->stride; b++) {
        size_t cell = group * p->stride + b;
        if (tsagg__is_visit_metric(kind)) {
            s[0] += va->visits[cell];
            s[1] += va->bounces[cell];
            s[2] += va->dur_us[cell];
            s[3] += va->pages[cell];
        } else {
            s[4] += va->nset[cell].n; /* a user is new in one bucket only */
        }
    }
    if (kind == TSAGG_METRIC_NEW_USERS)
        return (double)s[4];
    if (kind == TSAGG_METRIC_RETURNING_USERS) {
        /* The group's distinct users over the range, each once. */
        idset all = {0};
        int rc = 0;
        for (size_t b = 0; rc == 0 && b < p->stride; b++) {
            const idset *x = &va->uset[group * p->stride + b];
            for (uint32_t i = 0; rc == 0 && i < x->cap; i++)
                if (x->slots[i])
                    rc = tsagg__idset_add(&all, x->slots[i]);
        }
        double v = rc == 0 ? (double)(all.n - s[4]) : NAN;
        tsagg__idset_free(&all);
        return v;
    }
    return from_sums(kind, s[0], s[1], s[2], s[3]);
}
