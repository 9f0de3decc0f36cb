/* spanbuf.c - the events of one span in memory, interned and sortable. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL /* short strings: an inlined XXH3 is much faster */
#include <xxhash.h>

#include "shortmem.h"
#include "spanbuf.h"

int tsagg__spanbuf_init(tsagg__spanbuf *h, int64_t start, uint32_t ndims, uint32_t nmeasures)
{
    memset(h, 0, sizeof *h);
    h->start = start;
    h->ndims = ndims;
    h->nmeasures = nmeasures;
    /* Nothing is allocated until the first string, and buffers start
     * small: a span that was just spilled (or holds a few late events)
     * costs next to nothing against the budget, however many spans the
     * compaction touches. */
    return 0;
}

void tsagg__spanbuf_free(tsagg__spanbuf *h)
{
    free(h->rows);
    free(h->dims);
    free(h->meas);
    free(h->arena);
    free(h->strs);
    free(h->table);
    free(h->order);
    memset(h, 0, sizeof *h);
}

void tsagg__spanbuf_clear(tsagg__spanbuf *h)
{
    h->n = 0;
    h->sorted = 0;
    h->arena_len = 0;
    h->nstrs = 0;
    h->empty = 0;
    memset(h->shorts, 0, sizeof h->shorts);
    if (h->table)
        memset(h->table, 0, h->table_cap * sizeof *h->table);
}

size_t tsagg__spanbuf_bytes(const tsagg__spanbuf *h)
{
    size_t per_row = sizeof(tsagg__spanrow) + h->ndims * 4 + h->nmeasures * 8 + 4;
    return h->cap * per_row + h->arena_cap + h->strs_cap * 8 + h->table_cap * 8;
}

static int grow_table(tsagg__spanbuf *h)
{
    uint32_t cap = h->table_cap ? h->table_cap * 2 : 64;
    uint64_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (uint32_t j = 0; j < h->table_cap; j++) {
        if (!h->table[j])
            continue;
        uint32_t i = (uint32_t)(h->table[j] >> 32) & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = h->table[j];
    }
    free(h->table);
    h->table = t;
    h->table_cap = cap;
    return 0;
}

/* The slot of s: where it is (*found 1) or where it would go. */
static uint32_t probe(const tsagg__spanbuf *h, const char *s, size_t len, uint32_t hash,
                      int *found)
{
    uint32_t mask = h->table_cap - 1, i = hash & mask;
    for (uint64_t e; (e = h->table[i]) != 0; i = (i + 1) & mask) {
        if ((uint32_t)(e >> 32) != hash)
            continue;
        tsagg__str have = tsagg__spanbuf_str(h, (uint32_t)e - 1);
        if (have.len == len && (len == 0 || !memcmp(have.ptr, s, len))) {
            *found = 1;
            return i;
        }
    }
    *found = 0;
    return i;
}

/* Strings are cut at 1 MiB - 1, as partition strings are. */
static inline size_t cut(size_t len)
{
    return len > 0xfffff ? 0xfffff : len;
}

static inline uint32_t hash_of(const char *s, size_t len)
{
    return (uint32_t)XXH3_64bits(s, len);
}

/* tsagg__spanbuf_intern of s (len already cut) whose hash_of is hash, or
 * of any hash when the table is not allocated yet. */
static int intern_hashed(tsagg__spanbuf *h, const char *s, size_t len, uint32_t hash,
                         uint32_t *code)
{
    if (len == 0 && h->empty) {
        *code = h->empty - 1;
        return 0;
    }
    if (!h->table) {
        int rc = grow_table(h);
        if (rc != 0)
            return rc;
    }
    int found;
    uint32_t i = probe(h, s, len, hash, &found);
    if (found) {
        *code = (uint32_t)h->table[i] - 1;
        if (len == 0)
            h->empty = *code + 1;
        return 0;
    }
    if (h->nstrs == h->strs_cap) {
        uint32_t cap = h->strs_cap ? h->strs_cap * 2 : 32;
        uint64_t *p = realloc(h->strs, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        h->strs = p;
        h->strs_cap = cap;
    }
    if (h->arena_cap - h->arena_len < len) {
        size_t cap = h->arena_cap ? h->arena_cap : 1024;
        while (cap - h->arena_len < len)
            cap *= 2;
        char *a = realloc(h->arena, cap);
        if (!a)
            return -ENOMEM;
        h->arena = a;
        h->arena_cap = cap;
    }
    if (len)
        memcpy(h->arena + h->arena_len, s, len);
    h->strs[h->nstrs] = (uint64_t)h->arena_len << 20 | len;
    h->arena_len += len;
    h->table[i] = (uint64_t)hash << 32 | (h->nstrs + 1);
    *code = h->nstrs++;
    if (len == 0)
        h->empty = *code + 1;
    /* Keep the table at most half full. */
    if (h->nstrs * 2 > h->table_cap)
        return grow_table(h);
    return 0;
}

/* The words that hold all the bytes of s (1..16 bytes), overlapping when
 * len is not 8 or 16; with len, the string itself. */
static inline void short_words(const char *s, size_t len, uint64_t *head, uint64_t *tail)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len >= 8) {
        *head = tsagg__load64(u);
        *tail = tsagg__load64(u + len - 8);
    } else if (len >= 4) {
        *head = tsagg__load32(u);
        *tail = tsagg__load32(u + len - 4);
    } else {
        *head = (uint64_t)u[0] | (uint64_t)u[len / 2] << 8 | (uint64_t)u[len - 1] << 16;
        *tail = 0;
    }
}

int tsagg__spanbuf_intern(tsagg__spanbuf *h, const char *s, size_t len, uint32_t *code)
{
    len = cut(len);
    if (len == 0 || len > 16)
        return intern_hashed(h, s, len, hash_of(s, len), code);
    uint64_t head, tail;
    short_words(s, len, &head, &tail);
    uint64_t mix = (head ^ (tail * UINT64_C(0x9e3779b97f4a7c15)) ^ len) *
                   UINT64_C(0xff51afd7ed558ccd);
    _Static_assert(TSAGG__SPANBUF_SHORT_SLOTS == 256, "the top 8 bits pick the slot");
    tsagg__spanbuf_short *e = &h->shorts[mix >> 56];
    if (e->len1 == len + 1 && e->head == head && e->tail == tail) {
        *code = e->code;
        return 0;
    }
    int rc = intern_hashed(h, s, len, hash_of(s, len), code);
    if (rc == 0)
        *e = (tsagg__spanbuf_short){head, tail, (uint32_t)len + 1, *code};
    return rc;
}

int tsagg__spanbuf_find(const tsagg__spanbuf *h, const char *s, size_t len, uint32_t *code)
{
    if (!h->table)
        return 0;
    len = cut(len);
    int found;
    uint32_t i = probe(h, s, len, hash_of(s, len), &found);
    if (found)
        *code = (uint32_t)h->table[i] - 1;
    return found;
}

int tsagg__spanbuf_reserve(tsagg__spanbuf *h, size_t cap)
{
    if (cap <= h->cap)
        return 0;
    tsagg__spanrow *r = realloc(h->rows, cap * sizeof *r);
    if (!r)
        return -ENOMEM;
    h->rows = r;
    if (h->ndims) {
        uint32_t *d = realloc(h->dims, cap * h->ndims * sizeof *d);
        if (!d)
            return -ENOMEM;
        h->dims = d;
    }
    if (h->nmeasures) {
        double *m = realloc(h->meas, cap * h->nmeasures * sizeof *m);
        if (!m)
            return -ENOMEM;
        h->meas = m;
    }
    h->cap = cap;
    return 0;
}

int tsagg__spanbuf_add(tsagg__spanbuf *h, const tsagg__spanrow *row, const uint32_t *dims,
                       const double *meas)
{
    if (h->n == h->cap) {
        int rc = tsagg__spanbuf_reserve(h, h->cap ? h->cap * 2 : 64);
        if (rc != 0)
            return rc;
    }
    h->rows[h->n] = *row;
    if (h->ndims)
        memcpy(h->dims + h->n * h->ndims, dims, h->ndims * sizeof *dims);
    if (h->nmeasures)
        memcpy(h->meas + h->n * h->nmeasures, meas, h->nmeasures * sizeof *meas);
    h->n++;
    h->sorted = 0;
    return 0;
}
