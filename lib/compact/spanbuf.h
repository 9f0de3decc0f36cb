/*
 * spanbuf.h - the events of one span (an hour, a day or a month: tiers.h)
 * held in memory by the compactor, columnar, with every string interned
 * once, sortable by (merchant, ts, id).
 */
#ifndef TSAGG_SPANBUF_H
#define TSAGG_SPANBUF_H

#include <stddef.h>
#include <stdint.h>

#include "partfile.h"

/* The fixed-size part of a row. */
typedef struct tsagg__spanrow {
    int64_t ts;
    uint64_t merchant, user, session, id;
    uint32_t flags;
    uint32_t event; /* interned string */
} tsagg__spanrow;

/* A string of 1..16 bytes, all of them: the first and the last word of
 * its bytes (tsagg__spanbuf_intern) and its length + 1 (0: empty slot). */
typedef struct tsagg__spanbuf_short {
    uint64_t head, tail;
    uint32_t len1;
    uint32_t code;
} tsagg__spanbuf_short;

#define TSAGG__SPANBUF_SHORT_SLOTS 256

typedef struct tsagg__spanbuf {
    int64_t start; /* the span's start */
    uint32_t ndims, nmeasures;
    tsagg__spanrow *rows;
    uint32_t *dims;  /* n x ndims interned strings */
    double *meas;    /* n x nmeasures, NaN when absent */
    size_t n, cap;
    /* Interned strings: bytes in `arena`, code -> (offset, length). */
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *strs; /* offset << 20 | length (length <= 1 MiB) */
    uint32_t nstrs, strs_cap;
    /* open addressing: the string's hash << 32 | code + 1, 0 empty (the
     * hash spares comparing strings that only share a slot) */
    uint64_t *table;
    uint32_t table_cap;
    uint32_t empty;  /* code of "" + 1 once interned, else 0: every row
                        without some dimension asks for it */
    /* Short strings already interned, by their bytes, in front of the
     * table: most values are short and few (countries, devices, event
     * names), and a hit skips the hash and the table's loads, which depend
     * on each other. Direct mapped, a newer string replaces an older. */
    tsagg__spanbuf_short shorts[TSAGG__SPANBUF_SHORT_SLOTS];
    uint32_t *order; /* after sort: row indexes in (merchant, ts, id) order */
    int sorted;      /* order is that of the rows: a row added or the rows
                        cleared unset it; code that moves rows itself must
                        unset it or keep order with them (retries.c) */
} tsagg__spanbuf;

int tsagg__spanbuf_init(tsagg__spanbuf *h, int64_t start, uint32_t ndims, uint32_t nmeasures);
void tsagg__spanbuf_free(tsagg__spanbuf *h);
/* Forget the rows and strings, keep the buffers. Tests only. */
void tsagg__spanbuf_clear(tsagg__spanbuf *h);

/* Intern a string: its code. */
int tsagg__spanbuf_intern(tsagg__spanbuf *h, const char *s, size_t len, uint32_t *code);
/* The code of a string already interned: 1 (*code set) or 0. */
int tsagg__spanbuf_find(const tsagg__spanbuf *h, const char *s, size_t len, uint32_t *code);
static inline tsagg__str tsagg__spanbuf_str(const tsagg__spanbuf *h, uint32_t code)
{
    uint64_t v = h->strs[code];
    return (tsagg__str){h->arena + (v >> 20), (uint32_t)(v & 0xfffff)};
}

/* Room for `rows` rows in all, so that adding them does not grow (copy)
 * the buffers. */
int tsagg__spanbuf_reserve(tsagg__spanbuf *h, size_t rows);
/* Append a row; dims (ndims codes) and meas (nmeasures) are copied. */
int tsagg__spanbuf_add(tsagg__spanbuf *h, const tsagg__spanrow *row, const uint32_t *dims,
                       const double *meas);

/* Bytes of memory held. */
size_t tsagg__spanbuf_bytes(const tsagg__spanbuf *h);

/* Fill h->order: rows sorted by (merchant, ts, id); nothing to do while
 * h->sorted. */
int tsagg__spanbuf_sort(tsagg__spanbuf *h);

#endif
