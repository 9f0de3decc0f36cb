/*
 * partcache.c - open partition files, and what queries decoded from them,
 * shared by a store handle's queries.
 *
 * Entries are heap objects (a query holds pointers to them) listed in an
 * array sorted by file id (ids only grow, so a new file is almost always
 * appended) and found by binary search; a query references all the files of
 * its range under one lock and releases them under one more, so that a
 * 30-day query does not take the lock 1,440 times.
 *
 * Decoded data: each entry has a directory of merchant slots, one per
 * merchant of the file (by its number in the merchant index), in chunks
 * allocated on first use. A slot holds the merchant's index entry, its hour
 * segments with up to two rollup summaries per segment (without and with
 * sketches; a summary with sketches serves both), up to SLICE_COLS column
 * slices (a copy of its rows when they span row groups, else a view into
 * the group's decoded column), up to SPAN_SLOTS sketches of the
 * distinct ids of spans of its time (serialized), and, for a merchant
 * without hour segments, its rows' counts by hour, and up to COUNT_SLOTS
 * group-bys' counts by dictionary code of all its rows (per group column
 * and filter). Beside them, decoded
 * columns of whole row groups, for busy merchants (whose rows fill row
 * groups), small merchants' views and scans of every merchant: one
 * slot per (group, column), allocated on first use; dictionary codes kept
 * in 1 or 2 bytes when the file's dictionary allows. A two-way table of
 * hints (merchant id -> slot; MIN_HINT_BITS to MAX_HINT_BITS bits, about
 * four slots a merchant of the file, allocated on first use) finds a
 * merchant looked up before without the reader, whose lookups take its
 * lock, and remembers a merchant the file does not hold (an hour file is
 * asked for every merchant a dashboard shows, most of them absent). Every
 * pointer is filled once with an atomic compare-and-swap (two threads may
 * decode the same thing; one copy is kept) and read without a lock; a
 * hint may be overwritten by another merchant's slot, and is checked
 * against the id. Slots and hints are emptied only under the lock
 * and only for entries nobody references, so what a query was handed stays
 * valid for as long as it references the entry. When the decoded data of
 * the handle passes tsagg_options.query_cache_bytes, that of the least
 * recently used unreferenced files is dropped down to three quarters.
 *
 * Per file and string column, the handle-wide id (intern.h) of each
 * dictionary code a group-by met, so that queries map a file's codes to
 * their groups by number; the ids themselves are the cache's, kept until
 * close (bounded, not part of the budget).
 *
 * Trimming compares the cache with a manifest, which only matters when the
 * manifest changed: it is skipped while the version is the one last trimmed
 * against and nothing was left behind in use.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "partcache.h"

#define CHUNK 256     /* merchant slots per directory chunk */
#define SLICE_COLS 16 /* column slices cached per merchant and file */
#define MIN_HINT_BITS 11 /* 2048 to 8192 merchant id -> slot hints per file */
#define MAX_HINT_BITS 13
#define SPAN_SLOTS 8  /* span sketches cached per merchant and file */
#define COUNT_SLOTS 4 /* group-by counts cached per merchant and file */

/* A decoded column of one merchant's rows, or of a row group. */
typedef struct slice {
    uint32_t col;
    uint32_t pad;
    size_t bytes;
    const unsigned char *at; /* a merchant's: its rows, in data or in a
                                group's slice of the same entry */
    _Alignas(8) unsigned char data[];
} slice;

/* A merchant's hour segments and their rollup summaries; one block. */
typedef struct segs {
    uint32_t n;
    tsagg__hour_segment *seg;          /* n */
    _Atomic(tsagg__qrollup *) *rollup; /* n, with sketches; NULL until decoded */
    _Atomic(tsagg__qrollup *) *counts; /* n, without; NULL until decoded */
} segs;

/* The distinct ids of a kind of a merchant's rows in a time span, as
 * serialized sketch bytes and their checked view; one block. */
typedef struct spansk {
    int64_t lo, hi;
    int kind;
    size_t bytes;
    tsagg__hll_view view;
    _Alignas(8) uint8_t data[];
} spansk;

struct tsagg__pcmerch {
    tsagg__merchant_entry me; /* set before the slot is published */
    _Atomic(segs *) segs;
    _Atomic(slice *) cols[SLICE_COLS];
    _Atomic(spansk *) spans[SPAN_SLOTS];
    _Atomic(tsagg__hour_rows *) hours; /* NULL until counted */
    _Atomic(tsagg__code_counts *) counts[COUNT_SLOTS];
};

typedef struct tsagg__pcmerch mslot;
typedef _Atomic(mslot *) qslot;
typedef _Atomic(qslot *) qchunk;
/* A hint: an mslot pointer (malloc'd, so even), or a merchant the file does
 * not hold, as ABSENT(id) (odd): a dashboard over the last day asks every
 * hour file for small merchants most of them lack. */
typedef _Atomic uintptr_t hslot;
#define ABSENT(id) (((uintptr_t)(id) << 1) | 1u)
#define ABSENT_MAX (UINTPTR_MAX >> 1) /* the largest id a hint can mark */

struct tsagg__pcent {
    uint64_t file_id;
    tsagg__part *p;
    int refs;          /* under the cache lock */
    uint64_t last_use; /* under the cache lock */
    uint64_t nmerchants;
    qchunk *dir; /* ceil(nmerchants / CHUNK) chunks */
    size_t ndir;
    _Atomic(hslot *) hints; /* 1 << hint_bits, by merchant id hash: a slot,
                               whose id to check, or an absent merchant's
                               mark (ABSENT); NULL until first used */
    unsigned hint_bits;
    uint32_t ngroups, ncols;
    _Atomic(_Atomic(slice *) *) gcols; /* ngroups x ncols, NULL until first used */
    _Atomic size_t bytes; /* decoded data cached here */
    int fm[TSAGG_SCHEMA_MAX_FIELDS], fd[TSAGG_SCHEMA_MAX_FIELDS];
    /* Per string column (the event name, then dimensions): the handle-wide
     * id of each dictionary string (intern.h) + 1, 0 until a group-by meets
     * its code, NO_ID when the handle's table is full; NULL until a
     * group-by reads the column. */
    _Atomic(_Atomic uint32_t *) dict_id[1 + TSAGG_SCHEMA_MAX_FIELDS];
};

struct tsagg__part_cache {
    pthread_mutex_t mu;
    tsagg__pcent **e; /* sorted by file_id */
    size_t n, cap;
    uint64_t tick;
    _Atomic size_t bytes; /* decoded data of every entry */
    size_t budget;        /* for bytes */
    uint64_t trimmed_version; /* manifest version of the last complete trim */
    int trimmed;              /* trimmed_version is meaningful */
    tsagg__dctx_pool dctx;    /* shared by every file of the cache */
    tsagg__intern *intern;    /* ids of the files' dictionary strings */
};

static struct tsagg__part_cache *cache_of(tsagg_store *st)
{
    pthread_mutex_lock(&st->catalog_mu);
    if (!st->part_cache) {
        struct tsagg__part_cache *c = calloc(1, sizeof *c);
        if (c && !(c->intern = tsagg__intern_new())) {
            free(c);
            c = NULL;
        }
        if (c) {
            pthread_mutex_init(&c->mu, NULL);
            tsagg__dctx_pool_init(&c->dctx);
            c->budget = (size_t)st->opts.query_cache_bytes;
            st->part_cache = c;
        }
    }
    struct tsagg__part_cache *c = st->part_cache;
    pthread_mutex_unlock(&st->catalog_mu);
    return c;
}

/* ---- rollups -------------------------------------------------------------------- */

static void qrollup_free(tsagg__qrollup *q)
{
    free(q); /* one block */
}

/* Round n up to a multiple of 8. */
static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/*
 * Decode a merchant-hour's rollup and keep its summary: per event code the
 * hour's count and measure sums, and when `sketches` copies of the
 * sketches, checked once (queries merge them as views, a plain register
 * max); without, only the rollup's counts block is read. The per-minute
 * entries are not kept: buckets that cut an hour decode the counts again.
 */
static int qrollup_build(tsagg__part *p, const tsagg__merchant_entry *me,
                         const tsagg__hour_segment *seg, int sketches, tsagg__qrollup **out)
{
    tsagg__rollup r;
    int rc = sketches ? tsagg__part_rollup(p, me, seg, &r) : tsagg__part_rollup_counts(p, me, seg, &r);
    if (rc != 0)
        return rc;
    uint32_t nm = r.nmeasures;
    /* Entries are sorted by minute, then event code: find the codes. */
    uint32_t maxcode = 0, nev = 0;
    for (uint32_t i = 0; i < r.n; i++)
        maxcode = r.event[i] > maxcode ? r.event[i] : maxcode;
    uint32_t *idx = calloc((size_t)maxcode + 1, sizeof *idx); /* code -> slot + 1 */
    if (!idx) {
        tsagg__rollup_free(&r);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < r.n; i++)
        idx[r.event[i]] = 1;
    for (uint32_t c = 0; c <= maxcode; c++)
        if (idx[c])
            idx[c] = ++nev; /* ascending codes */
    size_t sketch = sketches ? r.users_len + r.sessions_len : 0;
    for (uint32_t k = 0; k < r.nnamed; k++)
        sketch += r.named_users_len[k] + r.named_sessions_len[k];
    size_t o_sums = align8(sizeof(tsagg__qrollup));
    size_t o_count = o_sums + (size_t)nev * nm * sizeof(double);
    size_t o_views = o_count + (size_t)nev * sizeof(uint64_t);
    size_t o_codes = o_views + 2 * (size_t)r.nnamed * sizeof(tsagg__hll_view);
    size_t o_named = o_codes + (size_t)nev * sizeof(uint32_t);
    size_t o_sk = o_named + (size_t)r.nnamed * sizeof(uint32_t);
    size_t total = o_sk + sketch;
    char *mem = calloc(1, total);
    if (!mem) {
        free(idx);
        tsagg__rollup_free(&r);
        return -ENOMEM;
    }
    tsagg__qrollup *q = (tsagg__qrollup *)(void *)mem;
    q->nev = nev;
    q->nmeasures = nm;
    q->nnamed = r.nnamed;
    q->sketches = sketches;
    q->ev_sums = (double *)(void *)(mem + o_sums);
    q->ev_count = (uint64_t *)(void *)(mem + o_count);
    q->named_users = (tsagg__hll_view *)(void *)(mem + o_views);
    q->named_sessions = q->named_users + r.nnamed;
    q->ev_code = (uint32_t *)(void *)(mem + o_codes);
    q->named_event = (uint32_t *)(void *)(mem + o_named);
    q->bytes = total;
    for (uint32_t c = 0; c <= maxcode; c++)
        if (idx[c])
            q->ev_code[idx[c] - 1] = c;
    for (uint32_t i = 0; i < r.n; i++) {
        uint32_t k = idx[r.event[i]] - 1;
        q->ev_count[k] += r.count[i];
        q->total += r.count[i];
        for (uint32_t m = 0; m < nm; m++)
            q->ev_sums[(size_t)k * nm + m] += r.sums[(size_t)i * nm + m];
    }
    free(idx);
    memcpy(q->named_event, r.named_event, (size_t)r.nnamed * sizeof(uint32_t));
    /* The sketches: copied, then checked. */
    uint8_t *sk = (uint8_t *)mem + o_sk;
#define KEEP(view, buf, len)                                                                   \
    do {                                                                                       \
        memcpy(sk, (buf), (len));                                                              \
        if (rc == 0)                                                                           \
            rc = tsagg__hll_view_init((view), sk, (len));                                      \
        sk += (len);                                                                           \
    } while (0)
    if (sketches) {
        KEEP(&q->users, r.users, r.users_len);
        KEEP(&q->sessions, r.sessions, r.sessions_len);
    }
    for (uint32_t k = 0; k < r.nnamed; k++) {
        KEEP(&q->named_users[k], r.named_users[k], r.named_users_len[k]);
        KEEP(&q->named_sessions[k], r.named_sessions[k], r.named_sessions_len[k]);
    }
#undef KEEP
    tsagg__rollup_free(&r);
    if (rc != 0) {
        free(mem);
        return rc;
    }
    *out = q;
    return 0;
}

static void account(tsagg_store *st, tsagg__pcent *e, size_t bytes)
{
    atomic_fetch_add(&e->bytes, bytes);
    atomic_fetch_add(&st->part_cache->bytes, bytes);
}

/* The slot of the merchant of index entry me, created on first use. */
static int slot_of(tsagg_store *st, tsagg__pcent *e, const tsagg__merchant_entry *me,
                   mslot **out)
{
    uint64_t mi = me->index;
    if (mi >= e->nmerchants)
        return TSAGG_EARG;
    qchunk *cp = &e->dir[mi / CHUNK];
    qslot *chunk = atomic_load_explicit(cp, memory_order_acquire);
    if (!chunk) {
        qslot *fresh = malloc(CHUNK * sizeof *fresh);
        if (!fresh)
            return -ENOMEM;
        for (size_t i = 0; i < CHUNK; i++)
            atomic_init(&fresh[i], NULL);
        qslot *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(cp, &expected, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            chunk = fresh;
            account(st, e, CHUNK * sizeof *fresh);
        } else {
            free(fresh);
            chunk = expected;
        }
    }
    qslot *sp = &chunk[mi % CHUNK];
    mslot *m = atomic_load_explicit(sp, memory_order_acquire);
    if (!m) {
        mslot *fresh = malloc(sizeof *fresh);
        if (!fresh)
            return -ENOMEM;
        fresh->me = *me;
        atomic_init(&fresh->segs, NULL);
        for (size_t i = 0; i < SLICE_COLS; i++)
            atomic_init(&fresh->cols[i], NULL);
        for (size_t i = 0; i < SPAN_SLOTS; i++)
            atomic_init(&fresh->spans[i], NULL);
        atomic_init(&fresh->hours, NULL);
        for (size_t i = 0; i < COUNT_SLOTS; i++)
            atomic_init(&fresh->counts[i], NULL);
        mslot *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(sp, &expected, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            m = fresh;
            account(st, e, sizeof *fresh);
        } else {
            free(fresh);
            m = expected;
        }
    }
    *out = m;
    return 0;
}

/* The entry's hint table, allocated on first use. */
static hslot *hints_of(tsagg_store *st, tsagg__pcent *e)
{
    hslot *h = atomic_load_explicit(&e->hints, memory_order_acquire);
    if (h)
        return h;
    size_t n = (size_t)1 << e->hint_bits;
    hslot *fresh = malloc(n * sizeof *fresh);
    if (!fresh)
        return NULL;
    for (size_t i = 0; i < n; i++)
        atomic_init(&fresh[i], 0);
    hslot *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&e->hints, &expected, fresh, memory_order_acq_rel,
                                                memory_order_acquire)) {
        account(st, e, n * sizeof *fresh);
        return fresh;
    }
    free(fresh);
    return expected;
}

/* The merchant's hash: its first hint slot in the top hint_bits bits (the
 * second is the first's neighbour), the slot a new hint replaces when both
 * are taken in the next bit. */
static uint64_t hint_hash(uint64_t merchant) { return merchant * UINT64_C(0x9e3779b97f4a7c15); }

int tsagg__pcent_merchant(tsagg_store *st, tsagg__pcent *e, uint64_t merchant,
                          tsagg__pcmerch **out)
{
    hslot *hints = hints_of(st, e);
    if (!hints)
        return -ENOMEM;
    /* Two slots: busy merchants that share one (1,000 merchants in a few
     * thousand slots) kept taking it from each other, and a quarter of a
     * dashboard mix's lookups went to the reader. */
    uint64_t h = hint_hash(merchant);
    size_t first = (size_t)(h >> (64 - e->hint_bits));
    hslot *hp = NULL;
    mslot *m = NULL;
    for (size_t w = 0; w < 2; w++) {
        hslot *p = &hints[first ^ w];
        uintptr_t hint = atomic_load_explicit(p, memory_order_acquire);
        if (merchant <= ABSENT_MAX && hint == ABSENT(merchant))
            return 0;
        if (hint && !(hint & 1u) && (m = (mslot *)hint)->me.merchant == merchant) {
            *out = m;
            return 1;
        }
        if (!hint && !hp)
            hp = p;
    }
    if (!hp)
        hp = &hints[first ^ (size_t)((h >> (63 - e->hint_bits)) & 1)];
    tsagg__merchant_entry me;
    int rc = tsagg__part_find_merchant(e->p, merchant, &me);
    if (rc == 0 && merchant <= ABSENT_MAX)
        atomic_store_explicit(hp, ABSENT(merchant), memory_order_release);
    if (rc <= 0)
        return rc;
    if ((rc = slot_of(st, e, &me, &m)) != 0)
        return rc;
    atomic_store_explicit(hp, (uintptr_t)m, memory_order_release);
    *out = m;
    return 1;
}

const tsagg__merchant_entry *tsagg__pcmerch_entry(const tsagg__pcmerch *m) { return &m->me; }

void tsagg__pcent_merchant_prefetch(const tsagg__pcent *e, uint64_t merchant, int stage)
{
    const hslot *hints = atomic_load_explicit(&e->hints, memory_order_acquire);
    if (!hints)
        return;
    /* The merchant's two slots (first and first ^ 1) share a cache line. */
    size_t first = (size_t)(hint_hash(merchant) >> (64 - e->hint_bits));
    if (stage == 0) {
        __builtin_prefetch(&hints[first]);
        __builtin_prefetch(tsagg__part_get_info(e->p));
        return;
    }
    for (size_t w = 0; w < 2; w++) {
        uintptr_t hint = atomic_load_explicit(&hints[first ^ w], memory_order_relaxed);
        if (hint && !(hint & 1u))
            __builtin_prefetch((const void *)hint);
    }
}


int tsagg__pcent_segments(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m,
                          const tsagg__hour_segment **out)
{
    segs *sg = atomic_load_explicit(&m->segs, memory_order_acquire);
    if (sg) {
        *out = sg->seg;
        return 0;
    }
    uint32_t n = m->me.nsegments;
    size_t o_seg = align8(sizeof *sg);
    size_t o_roll = o_seg + (size_t)n * sizeof(tsagg__hour_segment);
    size_t total = o_roll + 2 * (size_t)n * sizeof(_Atomic(tsagg__qrollup *));
    char *mem = malloc(total);
    if (!mem)
        return -ENOMEM;
    sg = (segs *)(void *)mem;
    sg->n = n;
    sg->seg = (tsagg__hour_segment *)(void *)(mem + o_seg);
    sg->rollup = (_Atomic(tsagg__qrollup *) *)(void *)(mem + o_roll);
    sg->counts = sg->rollup + n;
    for (uint32_t k = 0; k < n; k++) {
        atomic_init(&sg->rollup[k], NULL);
        atomic_init(&sg->counts[k], NULL);
    }
    int rc = n ? tsagg__part_segments(e->p, &m->me, sg->seg) : 0;
    if (rc != 0) {
        free(mem);
        return rc;
    }
    segs *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&m->segs, &expected, sg, memory_order_acq_rel,
                                                memory_order_acquire)) {
        account(st, e, total);
    } else {
        free(mem); /* another thread published them first */
        sg = expected;
    }
    *out = sg->seg;
    return 0;
}

int tsagg__pcent_rollup(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m, uint32_t k,
                        int sketches, const tsagg__qrollup **out)
{
    segs *sg = atomic_load_explicit(&m->segs, memory_order_acquire);
    if (!sg || k >= sg->n)
        return TSAGG_EARG;
    tsagg__qrollup *q = atomic_load_explicit(&sg->rollup[k], memory_order_acquire);
    if (!q && !sketches)
        q = atomic_load_explicit(&sg->counts[k], memory_order_acquire);
    if (q) {
        *out = q;
        return 0;
    }
    int rc = qrollup_build(e->p, &m->me, &sg->seg[k], sketches, &q);
    if (rc != 0)
        return rc;
    _Atomic(tsagg__qrollup *) *slot = sketches ? &sg->rollup[k] : &sg->counts[k];
    tsagg__qrollup *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &expected, q,
                                                memory_order_acq_rel, memory_order_acquire)) {
        account(st, e, q->bytes);
    } else {
        qrollup_free(q); /* another thread published it first */
        q = expected;
    }
    *out = q;
    return 0;
}

/* Bytes per value of a column of the entry's file. */
static size_t col_width(const tsagg__pcent *e, uint32_t col)
{
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(e->p));
    if (col == TSAGG__COL_EVENT || col == TSAGG__COL_FLAGS ||
        (col >= TSAGG__COL_DIM0 && col < TSAGG__COL_DIM0 + ndims))
        return sizeof(uint32_t);
    return sizeof(uint64_t); /* ts, merchant, user, session, id; double measures */
}

/* Whether column col of the entry's file holds dictionary codes. */
static int is_code_col(const tsagg__pcent *e, uint32_t col)
{
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(tsagg__part_schema(e->p));
    return col == TSAGG__COL_EVENT || (col >= TSAGG__COL_DIM0 && col < TSAGG__COL_DIM0 + ndims);
}

/* dict_id's mark of a code whose string has no id (the table is full). */
#define NO_ID UINT32_MAX

int tsagg__pcent_dict_ids(tsagg__pcent *e, uint32_t col, _Atomic uint32_t **out)
{
    uint32_t i = col == TSAGG__COL_EVENT ? 0 : col - TSAGG__COL_DIM0 + 1;
    if (col != TSAGG__COL_EVENT && (col < TSAGG__COL_DIM0 || i > TSAGG_SCHEMA_MAX_FIELDS))
        return TSAGG_EARG;
    _Atomic uint32_t *ids = atomic_load_explicit(&e->dict_id[i], memory_order_acquire);
    if (!ids) {
        uint32_t n = tsagg__part_dict_size(e->p, col);
        ids = calloc(n ? n : 1, sizeof *ids); /* all 0: not known yet */
        if (!ids)
            return -ENOMEM;
        _Atomic uint32_t *expected = NULL;
        if (!atomic_compare_exchange_strong_explicit(&e->dict_id[i], &expected, ids,
                                                     memory_order_acq_rel,
                                                     memory_order_acquire)) {
            free((void *)ids); /* another thread published it first */
            ids = expected;
        }
    }
    *out = ids;
    return 0;
}

int tsagg__pcent_code_id(tsagg_store *st, tsagg__pcent *e, uint32_t col, _Atomic uint32_t *ids,
                         uint32_t code, uint32_t *id)
{
    /* Acquire: the id's key, written by the thread that gave it, is read
     * without the table's lock. */
    uint32_t v = atomic_load_explicit(&ids[code], memory_order_acquire);
    if (v == NO_ID)
        return 1;
    if (v) {
        *id = v - 1;
        return 0;
    }
    const char *key;
    size_t len;
    int rc = tsagg__part_dict_get(e->p, col, code, &key, &len);
    if (rc == 0)
        rc = tsagg__intern_id(st->part_cache->intern, key, len, XXH3_64bits(key, len), id);
    if (rc >= 0)
        atomic_store_explicit(&ids[code], rc ? NO_ID : *id + 1, memory_order_release);
    return rc;
}

const tsagg__intern_str *tsagg__partcache_key(tsagg_store *st, uint32_t id)
{
    return tsagg__intern_key(st->part_cache->intern, id);
}

unsigned tsagg__pcent_group_code_bytes(const tsagg__pcent *e, uint32_t col)
{
    uint32_t n = tsagg__part_dict_size(e->p, col); /* codes are < n */
    return n <= (1u << 8) ? 1 : n <= (1u << 16) ? 2 : 4;
}

/* Copy n decoded values of width bytes into out at kept bytes each (kept <
 * width only for codes, which the reader checked are below the dictionary's
 * size, so they fit). */
static void keep_values(const void *in, size_t n, size_t width, size_t kept, void *out)
{
    const uint32_t *c = in;
    if (kept == width) {
        memcpy(out, in, n * width);
    } else if (kept == 1) {
        uint8_t *o = out;
        for (size_t i = 0; i < n; i++)
            o[i] = (uint8_t)c[i];
    } else {
        uint16_t *o = out;
        for (size_t i = 0; i < n; i++)
            o[i] = (uint16_t)c[i];
    }
}

/* Decode column col of rows [r0, r0 + n) into out, kept bytes a value
 * (keep_values). */
static int decode_rows(tsagg__part *p, uint32_t col, size_t width, size_t kept, uint64_t r0,
                       uint64_t n, unsigned char *out)
{
    if (n == 0)
        return 0;
    unsigned char *buf = malloc(TSAGG__PART_GROUP_ROWS * sizeof(uint64_t));
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    uint64_t done = 0;
    while (rc == 0 && done < n) {
        uint64_t r = r0 + done;
        uint32_t g = (uint32_t)(r / TSAGG__PART_GROUP_ROWS);
        uint64_t off = r % TSAGG__PART_GROUP_ROWS, k = TSAGG__PART_GROUP_ROWS - off;
        if (k > n - done)
            k = n - done;
        rc = tsagg__part_read_column(p, col, g, buf);
        if (rc == 0)
            keep_values(buf + off * width, k, width, kept, out + done * kept);
        done += k;
    }
    free(buf);
    return rc;
}

int tsagg__pcent_group_col(tsagg_store *st, tsagg__pcent *e, uint32_t g, uint32_t col,
                           const void **data)
{
    if (g >= e->ngroups || col >= e->ncols)
        return TSAGG_EARG;
    _Atomic(slice *) *slots = atomic_load_explicit(&e->gcols, memory_order_acquire);
    if (!slots) {
        size_t n = (size_t)e->ngroups * e->ncols;
        _Atomic(slice *) *fresh = malloc(n * sizeof *fresh);
        if (!fresh)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            atomic_init(&fresh[i], NULL);
        _Atomic(slice *) *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&e->gcols, &expected, fresh,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            slots = fresh;
            account(st, e, n * sizeof *fresh);
        } else {
            free(fresh);
            slots = expected;
        }
    }
    _Atomic(slice *) *sp = &slots[(size_t)g * e->ncols + col];
    slice *sl = atomic_load_explicit(sp, memory_order_acquire);
    if (sl) {
        *data = sl->data;
        return 0;
    }
    /* The reader wants room for a full group of the column's type; a
     * short group (the file's last, or a small hour file's only one) and
     * narrowed codes are decoded aside and kept at their size. */
    const tsagg__group_info *gi = tsagg__part_group(e->p, g);
    size_t width = col_width(e, col), rows = gi ? gi->rows : 0;
    size_t kept = is_code_col(e, col) ? tsagg__pcent_group_code_bytes(e, col) : width;
    if (rows > TSAGG__PART_GROUP_ROWS)
        rows = TSAGG__PART_GROUP_ROWS;
    int direct = rows == TSAGG__PART_GROUP_ROWS && kept == width;
    size_t bytes = rows * kept;
    sl = malloc(sizeof *sl + bytes + 1);
    void *buf = direct ? NULL : malloc(TSAGG__PART_GROUP_ROWS * width);
    if (!sl || (!direct && !buf)) {
        free(sl);
        free(buf);
        return -ENOMEM;
    }
    sl->col = col;
    sl->bytes = sizeof *sl + bytes;
    int rc = tsagg__part_read_column(e->p, col, g, direct ? (void *)sl->data : buf);
    if (rc == 0 && !direct)
        keep_values(buf, rows, width, kept, sl->data);
    free(buf);
    if (rc != 0) {
        free(sl);
        return rc;
    }
    slice *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(sp, &expected, sl, memory_order_acq_rel,
                                                memory_order_acquire)) {
        account(st, e, sl->bytes);
    } else {
        free(sl); /* another thread published it first */
        sl = expected;
    }
    *data = sl->data;
    return 0;
}

int tsagg__pcent_slice(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m, uint32_t col,
                       const void **data, void **owned)
{
    *owned = NULL;
    const tsagg__merchant_entry *me = &m->me;
    int rc;
    size_t i = 0;
    for (; i < SLICE_COLS; i++) {
        slice *sl = atomic_load_explicit(&m->cols[i], memory_order_acquire);
        if (!sl)
            break;
        if (sl->col == col) {
            *data = sl->at;
            return 0;
        }
    }
    /* Codes narrow, as in row groups: the slices of every merchant of a
     * month are most of what the cache holds. */
    size_t width = col_width(e, col);
    size_t kept = is_code_col(e, col) ? tsagg__pcent_group_code_bytes(e, col) : width;
    /* Rows inside one row group (a small merchant's, many to a group): a
     * view into the group's decoded column, which the cache keeps once for
     * every merchant of the group, rather than a copy each merchant
     * decodes the whole group for. */
    uint64_t g0 = me->row_start / TSAGG__PART_GROUP_ROWS;
    int in_group = me->rows > 0 && (me->row_start + me->rows - 1) / TSAGG__PART_GROUP_ROWS == g0;
    const void *gd = NULL;
    if (in_group && (rc = tsagg__pcent_group_col(st, e, (uint32_t)g0, col, &gd)) != 0)
        return rc;
    size_t own = in_group ? 0 : me->rows * kept;
    slice *sl = malloc(sizeof *sl + own + 1);
    if (!sl)
        return -ENOMEM;
    sl->col = col;
    sl->bytes = sizeof *sl + own;
    sl->at = in_group ? (const unsigned char *)gd + (me->row_start % TSAGG__PART_GROUP_ROWS) * kept
                      : sl->data;
    if (!in_group &&
        (rc = decode_rows(e->p, col, width, kept, me->row_start, me->rows, sl->data)) != 0) {
        free(sl);
        return rc;
    }
    /* Publish in the first free place; a thread that published the same
     * column first wins. No room: the caller owns this copy. */
    for (; i < SLICE_COLS; i++) {
        slice *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&m->cols[i], &expected, sl,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            account(st, e, sl->bytes);
            *data = sl->at;
            return 0;
        }
        if (expected->col == col) {
            free(sl);
            *data = expected->at;
            return 0;
        }
    }
    *data = sl->at;
    *owned = sl;
    return 0;
}

int tsagg__pcent_span_sketch(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m, int kind,
                             int64_t lo, int64_t hi, tsagg__span_build build, void *ctx,
                             const tsagg__hll_view **out)
{
    size_t i = 0;
    for (; i < SPAN_SLOTS; i++) {
        spansk *sp = atomic_load_explicit(&m->spans[i], memory_order_acquire);
        if (!sp)
            break;
        if (sp->lo == lo && sp->hi == hi && sp->kind == kind) {
            *out = &sp->view;
            return 0;
        }
    }
    if (i == SPAN_SLOTS)
        return 1;
    tsagg__hll h;
    tsagg__hll_init(&h);
    int rc = build(ctx, kind, lo, hi, &h);
    /* A busy merchant's span of thousands of sparse entries is kept dense:
     * its buckets are estimated a kilobyte at a time (hll.h). */
    size_t len = rc == 0 ? tsagg__hll_cache_size(&h) : 0;
    spansk *sp = rc == 0 ? malloc(sizeof *sp + len) : NULL;
    if (rc == 0 && !sp)
        rc = -ENOMEM;
    if (rc == 0) {
        sp->lo = lo;
        sp->hi = hi;
        sp->kind = kind;
        sp->bytes = sizeof *sp + len;
        rc = tsagg__hll_cache_view(&h, sp->data, len, &sp->view);
    }
    tsagg__hll_fini(&h);
    if (rc != 0) {
        free(sp);
        return rc;
    }
    /* Publish in the first free place; a thread that published the same
     * span first wins. Places taken meanwhile: built for nothing, which
     * only a race between threads costs. */
    for (; i < SPAN_SLOTS; i++) {
        spansk *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&m->spans[i], &expected, sp,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            account(st, e, sp->bytes);
            *out = &sp->view;
            return 0;
        }
        if (expected->lo == lo && expected->hi == hi && expected->kind == kind) {
            free(sp);
            *out = &expected->view;
            return 0;
        }
    }
    free(sp);
    return 1;
}

tsagg__code_counts *tsagg__code_counts_new(const uint32_t *key, uint32_t keylen, uint32_t n)
{
    size_t bytes = sizeof(tsagg__code_counts) + (size_t)n * sizeof(uint64_t) +
                   ((size_t)keylen + n) * sizeof(uint32_t);
    tsagg__code_counts *cc = malloc(bytes);
    if (!cc)
        return NULL;
    cc->bytes = bytes;
    cc->keylen = keylen;
    cc->n = n;
    cc->count = (uint64_t *)(void *)cc->data; /* 8-byte aligned first */
    cc->code = (uint32_t *)(void *)(cc->count + n);
    cc->key = cc->code + n;
    memcpy(cc->key, key, keylen * sizeof *key);
    return cc;
}

static int same_key(const tsagg__code_counts *cc, const uint32_t *key, uint32_t keylen)
{
    return cc->keylen == keylen && memcmp(cc->key, key, keylen * sizeof *key) == 0;
}

int tsagg__pcent_code_counts(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m,
                             const uint32_t *key, uint32_t keylen, tsagg__counts_build build,
                             void *ctx, const tsagg__code_counts **out, void **owned)
{
    *owned = NULL;
    size_t i = 0;
    for (; i < COUNT_SLOTS; i++) {
        tsagg__code_counts *cc = atomic_load_explicit(&m->counts[i], memory_order_acquire);
        if (!cc)
            break;
        if (same_key(cc, key, keylen)) {
            *out = cc;
            return 0;
        }
    }
    tsagg__code_counts *cc = NULL;
    int rc = build(ctx, &cc);
    if (rc != 0)
        return rc;
    /* Publish in the first free place; a thread that published the same
     * key first wins. No room (other filters took the slots): the caller
     * owns this copy. */
    for (; i < COUNT_SLOTS; i++) {
        tsagg__code_counts *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&m->counts[i], &expected, cc,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            account(st, e, cc->bytes);
            *out = cc;
            return 0;
        }
        if (same_key(expected, key, keylen)) {
            free(cc);
            *out = expected;
            return 0;
        }
    }
    *out = cc;
    *owned = cc;
    return 0;
}

/* The hour of ts (floored, also before 1970). */
static int64_t hour_of(int64_t ts)
{
    int64_t r = ts % TSAGG__HOUR_US;
    return ts - r - (r < 0 ? TSAGG__HOUR_US : 0);
}

/* Count the merchant's n rows of times ts by hour into a fresh block; 1
 * when they are not in order within [min_ts, max_ts]. */
static int hour_rows_build(const tsagg__merchant_entry *me, const int64_t *ts,
                           tsagg__hour_rows **out)
{
    /* A file spans at most TSAGG__PART_MAX_HOURS (checked on open), its
     * merchants' times within it. */
    if (me->rows > UINT32_MAX || me->max_ts < me->min_ts ||
        (uint64_t)(hour_of(me->max_ts) - hour_of(me->min_ts)) / TSAGG__HOUR_US >=
            TSAGG__PART_MAX_HOURS)
        return 1;
    int64_t first = hour_of(me->min_ts);
    uint32_t nh = (uint32_t)((hour_of(me->max_ts) - first) / TSAGG__HOUR_US) + 1;
    size_t bytes = sizeof(tsagg__hour_rows) + ((size_t)nh + 1) * sizeof(uint32_t);
    tsagg__hour_rows *h = malloc(bytes);
    if (!h)
        return -ENOMEM;
    h->first_hour = first;
    h->nhours = nh;
    h->bytes = bytes;
    uint32_t k = 0; /* row[0..k] are set */
    h->row[0] = 0;
    for (uint64_t i = 0; i < me->rows; i++) {
        if (ts[i] < me->min_ts || ts[i] > me->max_ts ||
            (uint32_t)((ts[i] - first) / TSAGG__HOUR_US) < k) {
            free(h);
            return 1;
        }
        for (uint32_t hk = (uint32_t)((ts[i] - first) / TSAGG__HOUR_US); k < hk;)
            h->row[++k] = (uint32_t)i;
    }
    while (k < nh)
        h->row[++k] = (uint32_t)me->rows;
    *out = h;
    return 0;
}

int tsagg__pcent_hour_rows(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m,
                           const tsagg__hour_rows **out)
{
    tsagg__hour_rows *h = atomic_load_explicit(&m->hours, memory_order_acquire);
    if (h) {
        *out = h;
        return 0;
    }
    const void *ts;
    void *owned;
    int rc = tsagg__pcent_slice(st, e, m, TSAGG__COL_TS, &ts, &owned);
    if (rc == 0)
        rc = hour_rows_build(&m->me, ts, &h);
    free(owned);
    if (rc != 0)
        return rc;
    tsagg__hour_rows *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&m->hours, &expected, h, memory_order_acq_rel,
                                                memory_order_acquire)) {
        account(st, e, h->bytes);
    } else {
        free(h); /* another thread published them first */
        h = expected;
    }
    *out = h;
    return 0;
}

/* Drop an entry's decoded data. Under the lock, with refs == 0. */
static void drop_rollups(struct tsagg__part_cache *c, tsagg__pcent *e)
{
    for (size_t d = 0; d < e->ndir; d++) {
        qslot *chunk = atomic_load_explicit(&e->dir[d], memory_order_relaxed);
        if (!chunk)
            continue;
        for (size_t i = 0; i < CHUNK; i++) {
            mslot *m = atomic_load_explicit(&chunk[i], memory_order_relaxed);
            if (!m)
                continue;
            segs *sg = atomic_load_explicit(&m->segs, memory_order_relaxed);
            for (uint32_t k = 0; sg && k < sg->n; k++) {
                qrollup_free(atomic_load_explicit(&sg->rollup[k], memory_order_relaxed));
                qrollup_free(atomic_load_explicit(&sg->counts[k], memory_order_relaxed));
            }
            free(sg);
            for (size_t k = 0; k < SLICE_COLS; k++)
                free(atomic_load_explicit(&m->cols[k], memory_order_relaxed));
            for (size_t k = 0; k < SPAN_SLOTS; k++)
                free(atomic_load_explicit(&m->spans[k], memory_order_relaxed));
            free(atomic_load_explicit(&m->hours, memory_order_relaxed));
            for (size_t k = 0; k < COUNT_SLOTS; k++)
                free(atomic_load_explicit(&m->counts[k], memory_order_relaxed));
            free(m);
        }
        free(chunk);
        atomic_store_explicit(&e->dir[d], NULL, memory_order_relaxed);
    }
    free(atomic_load_explicit(&e->hints, memory_order_relaxed));
    atomic_store_explicit(&e->hints, NULL, memory_order_relaxed);
    _Atomic(slice *) *slots = atomic_load_explicit(&e->gcols, memory_order_relaxed);
    for (size_t i = 0; slots && i < (size_t)e->ngroups * e->ncols; i++)
        free(atomic_load_explicit(&slots[i], memory_order_relaxed));
    free(slots);
    atomic_store_explicit(&e->gcols, NULL, memory_order_relaxed);
    atomic_fetch_sub(&c->bytes, atomic_load(&e->bytes));
    atomic_store(&e->bytes, 0);
}

static int cmp_last_use(const void *a, const void *b)
{
    const tsagg__pcent *x = *(tsagg__pcent *const *)a, *y = *(tsagg__pcent *const *)b;
    return x->last_use < y->last_use ? -1 : x->last_use > y->last_use;
}

/* Over budget: drop the rollups of the least recently used unreferenced
 * files down to 3/4 of it. Under the lock. */
static void evict(struct tsagg__part_cache *c)
{
    if (atomic_load(&c->bytes) <= c->budget)
        return;
    tsagg__pcent **cand = malloc((c->n ? c->n : 1) * sizeof *cand);
    if (!cand)
        return;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i]->refs == 0 && atomic_load(&c->e[i]->bytes) > 0)
            cand[k++] = c->e[i];
    qsort(cand, k, sizeof *cand, cmp_last_use);
    for (size_t i = 0; i < k && atomic_load(&c->bytes) > c->budget / 4 * 3; i++)
        drop_rollups(c, cand[i]);
    free(cand);
}

/* ---- entries ------------------------------------------------------------------------ */

static void entry_free(struct tsagg__part_cache *c, tsagg__pcent *e)
{
    drop_rollups(c, e);
    for (size_t i = 0; i < sizeof e->dict_id / sizeof e->dict_id[0]; i++)
        free((void *)atomic_load_explicit(&e->dict_id[i], memory_order_relaxed));
    free(e->dir);
    tsagg__part_close(e->p);
    free(e);
}

static int entry_open(tsagg_store *st, const tsagg__part_ref *ref, tsagg__pcent **out)
{
    char path[TSAGG_PATH_MAX + 64], err[TSAGG_ERRMSG_MAX];
    tsagg__part_file_path(st, ref, path, sizeof path);
    tsagg__pcent *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    int rc = tsagg__part_open_shared(st->io, path, &st->part_cache->dctx, &e->p, err, sizeof err);
    /* A file of another span or store copied over a listed one reads
     * cleanly: only the manifest can tell it is not the file it lists. */
    if (rc == 0)
        rc = tsagg__part_check_listed(e->p, ref->start, ref->hours, ref->file_id, ref->rows,
                                      ref->bytes, err, sizeof err);
    if (rc != 0) {
        tsagg__part_close(e->p);
        free(e);
        return tsagg__fail(st, rc, "%s", err);
    }
    e->file_id = ref->file_id;
    e->nmerchants = tsagg__part_merchants(e->p);
    e->ndir = (size_t)((e->nmerchants + CHUNK - 1) / CHUNK);
    e->dir = calloc(e->ndir ? e->ndir : 1, sizeof *e->dir);
    if (!e->dir) {
        tsagg__part_close(e->p);
        free(e);
        return -ENOMEM;
    }
    for (size_t d = 0; d < e->ndir; d++)
        atomic_init(&e->dir[d], NULL);
    /* About four hints per merchant of the file, and room for the absent
     * merchants of an hour file. */
    e->hint_bits = MIN_HINT_BITS;
    while (e->hint_bits < MAX_HINT_BITS && ((uint64_t)1 << e->hint_bits) < 4 * e->nmerchants)
        e->hint_bits++;
    atomic_init(&e->hints, NULL);
    atomic_init(&e->bytes, 0);
    const tsagg_schema *fs = tsagg__part_schema(e->p);
    e->ngroups = tsagg__part_groups(e->p);
    e->ncols = TSAGG__COL_DIM0 + (uint32_t)tsagg_schema_dimension_count(fs) +
               (uint32_t)tsagg_schema_measure_count(fs);
    atomic_init(&e->gcols, NULL);
    size_t nm = tsagg_schema_measure_count(st->schema);
    size_t nd = tsagg_schema_dimension_count(st->schema);
    for (size_t m = 0; m < nm; m++)
        e->fm[m] = tsagg_schema_measure_index(fs, tsagg_schema_measure_name(st->schema, m));
    for (size_t d = 0; d < nd; d++)
        e->fd[d] = tsagg_schema_dimension_index(fs, tsagg_schema_dimension_name(st->schema, d));
    *out = e;
    return 0;
}

tsagg__part *tsagg__pcent_part(const tsagg__pcent *e) { return e->p; }
const int *tsagg__pcent_measure_map(const tsagg__pcent *e) { return e->fm; }
const int *tsagg__pcent_dimension_map(const tsagg__pcent *e) { return e->fd; }

/* Index of the first entry with file_id >= id. Under the lock. */
static size_t lower_bound(const struct tsagg__part_cache *c, uint64_t id)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->e[mid]->file_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The entry of id, referenced, or NULL. Under the lock. */
static tsagg__pcent *ref_entry(struct tsagg__part_cache *c, uint64_t id)
{
    size_t i = lower_bound(c, id);
    if (i < c->n && c->e[i]->file_id == id) {
        c->e[i]->refs++;
        c->e[i]->last_use = ++c->tick;
        return c->e[i];
    }
    return NULL;
}

/* Add a fresh entry (referenced), or reference the one another thread
 * added meanwhile and free e. Under the lock. */
static int insert_entry(struct tsagg__part_cache *c, tsagg__pcent *e, tsagg__pcent **out)
{
    tsagg__pcent *have = ref_entry(c, e->file_id);
    if (have) {
        entry_free(c, e);
        *out = have;
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        tsagg__pcent **p = realloc(c->e, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        c->e = p;
        c->cap = cap;
    }
    size_t i = lower_bound(c, e->file_id);
    memmove(c->e + i + 1, c->e + i, (c->n - i) * sizeof *c->e);
    c->e[i] = e;
    c->n++;
    e->refs = 1;
    e->last_use = ++c->tick;
    *out = e;
    return 0;
}

int tsagg__partcache_get_many(tsagg_store *st, const tsagg__part_ref *refs, size_t n,
                              tsagg__pcent **out)
{
    struct tsagg__part_cache *c = cache_of(st);
    if (!c)
        return -ENOMEM;
    size_t missing = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        missing += (out[i] = ref_entry(c, refs[i].file_id)) == NULL;
    pthread_mutex_unlock(&c->mu);
    int rc = 0;
    /* Open the others outside the lock: it reads their footers. */
    for (size_t i = 0; rc == 0 && missing && i < n; i++) {
        if (out[i])
            continue;
        tsagg__pcent *e;
        rc = entry_open(st, &refs[i], &e);
        if (rc != 0)
            break;
        pthread_mutex_lock(&c->mu);
        rc = insert_entry(c, e, &out[i]);
        pthread_mutex_unlock(&c->mu);
        if (rc != 0)
            entry_free(c, e);
        missing--;
    }
    if (rc != 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (out[i])
                out[k++] = out[i];
        tsagg__partcache_put_many(st, out, k);
    }
    return rc;
}

void tsagg__partcache_put_many(tsagg_store *st, tsagg__pcent **ents, size_t n)
{
    struct tsagg__part_cache *c = st->part_cache;
    if (!c || n == 0)
        return;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        ents[i]->refs--;
    evict(c);
    pthread_mutex_unlock(&c->mu);
}

int tsagg__partcache_set_budget(tsagg_store *st, size_t bytes)
{
    struct tsagg__part_cache *c = cache_of(st);
    if (!c)
        return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    c->budget = bytes;
    evict(c);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int tsagg__partcache_set_intern_limit(tsagg_store *st, uint32_t max_ids)
{
    struct tsagg__part_cache *c = cache_of(st);
    if (!c)
        return -ENOMEM;
    tsagg__intern_set_limit(c->intern, max_ids);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void tsagg__partcache_trim(tsagg_store *st, const tsagg__manifest *m)
{
    struct tsagg__part_cache *c = st->part_cache;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->trimmed && c->trimmed_version == m->version) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    /* Both sides sorted by file id: one merge pass. */
    uint64_t *ids = malloc((m->nparts ? m->nparts : 1) * sizeof *ids);
    if (!ids) {
        pthread_mutex_unlock(&c->mu);
        return; /* trimmed next time */
    }
    for (size_t i = 0; i < m->nparts; i++)
        ids[i] = m->parts[i].file_id;
    qsort(ids, m->nparts, sizeof *ids, cmp_u64);
    size_t kept = 0, j = 0;
    int busy = 0;
    for (size_t i = 0; i < c->n; i++) {
        tsagg__pcent *e = c->e[i];
        while (j < m->nparts && ids[j] < e->file_id)
            j++;
        int listed = j < m->nparts && ids[j] == e->file_id;
        if (!listed && e->refs == 0) {
            entry_free(c, e);
            continue;
        }
        busy |= !listed;
        c->e[kept++] = e;
    }
    c->n = kept;
    /* An unlisted file still in use is closed by a later trim. */
    c->trimmed = !busy;
    c->trimmed_version = m->version;
    pthread_mutex_unlock(&c->mu);
    free(ids);
}

void tsagg__partcache_free(tsagg_store *st)
{
    struct tsagg__part_cache *c = st->part_cache;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_free(c, c->e[i]);
    free(c->e);
    tsagg__dctx_pool_destroy(&c->dctx);
    tsagg__intern_free(c->intern);
    pthread_mutex_destroy(&c->mu);
    free(c);
    st->part_cache = NULL;
}
