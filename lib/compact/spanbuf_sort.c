/*
 * spanbuf_sort.c - the row order of a span buffer: (merchant, ts), then
 * rows without an id, then by id, then by arrival (merge.c, row_less).
 *
 * A month of a bulk load is a sort of hundreds of thousands of rows, which
 * qsort() did with an indirect comparison per step: the largest single
 * cost of writing the file. When the merchants' range and the span's times
 * fit one 64-bit key together (merchant - least << time bits | ts - least:
 * a month of microseconds takes 42 bits, leaving 22 for merchants), the
 * rows are sorted by that key with a stable least-significant-digit radix
 * sort instead, skipping digits every key shares; rows of equal key (the
 * same merchant and microsecond) keep their arrival order, and are put in
 * id order by an insertion sort of each such run, which is short.
 * Anything else takes the comparison sort.
 *
 * Rows come nearly in time order: a log is appended as events happen, a
 * few come late. So the passes go over the digits above those holding
 * only time bits (time is widened to whole digits where the key has room:
 * a month, 42 bits of time, then takes the two passes of its merchants,
 * not six), which leaves each merchant's rows in the order they came, and
 * an insertion sort by the whole key then moves only the late rows back.
 * Both stable, they give the order of the full sort. When rows come far
 * from time order, the insertion sort gives up after 4n moves and every
 * digit is sorted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spanbuf.h"

/* Radix sort below this many rows costs more than it saves. */
#define RADIX_MIN_ROWS 256
#define DIGIT_BITS 11
#define DIGITS ((64 + DIGIT_BITS - 1) / DIGIT_BITS)
#define BUCKETS (1u << DIGIT_BITS)
/* Moves a row the insertion sort may make on average before it gives up:
 * a month of the long-history load, whose late events move back past a
 * busy merchant's rows, takes about 1.5. */
#define INSERTION_MOVES 4

typedef struct sort_key {
    uint64_t merchant;
    int64_t ts;
    uint32_t has_id;
    uint64_t id;
    uint32_t row;
} sort_key;

/* Rows without an id sort before those with one, so that retries (same
 * merchant, ts and id) always meet, even for id 0 (merge.c, row_less). */
static int key_cmp(const void *pa, const void *pb)
{
    const sort_key *a = pa, *b = pb;
    if (a->merchant != b->merchant)
        return a->merchant < b->merchant ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->has_id != b->has_id)
        return a->has_id < b->has_id ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

static int sort_by_comparison(tsagg__spanbuf *h)
{
    sort_key *keys = malloc((h->n ? h->n : 1) * sizeof *keys);
    if (!keys)
        return -ENOMEM;
    for (size_t i = 0; i < h->n; i++) {
        const tsagg__spanrow *r = &h->rows[i];
        uint32_t has_id = r->flags & TSAGG_EVENT_HAS_ID;
        keys[i] = (sort_key){r->merchant, r->ts, has_id, has_id ? r->id : 0, (uint32_t)i};
    }
    qsort(keys, h->n, sizeof *keys, key_cmp);
    for (size_t i = 0; i < h->n; i++)
        h->order[i] = keys[i].row;
    free(keys);
    return 0;
}

static unsigned bits_of(uint64_t v)
{
    return v ? 64u - (unsigned)__builtin_clzll(v) : 0;
}

/* Within each run of rows of the same merchant and ts (order[from, to),
 * arrival order): rows without an id first, then by id; a stable
 * insertion sort, so equal ids keep their arrival order. */
static void order_ties(const tsagg__spanbuf *h, uint32_t *order, size_t from, size_t to)
{
    for (size_t i = from + 1; i < to; i++) {
        uint32_t row = order[i];
        const tsagg__spanrow *r = &h->rows[row];
        uint32_t has = r->flags & TSAGG_EVENT_HAS_ID;
        size_t j = i;
        while (j > from) {
            const tsagg__spanrow *q = &h->rows[order[j - 1]];
            uint32_t qhas = q->flags & TSAGG_EVENT_HAS_ID;
            if (qhas < has || (qhas == has && (!has || q->id <= r->id)))
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = row;
    }
}

/* The arrays a radix sort alternates between. */
typedef struct radix_arrays {
    uint64_t *key, *key2;
    uint32_t *order, *other;
    size_t (*count)[BUCKETS];
} radix_arrays;

/* Stable passes over digits [first, DIGITS) of the keys, skipping those
 * every key shares; key and order end up holding the result. */
static void radix_passes(radix_arrays *a, size_t n, unsigned first)
{
    memset(a->count, 0, DIGITS * sizeof *a->count);
    for (size_t i = 0; i < n; i++)
        for (unsigned d = first; d < DIGITS; d++)
            a->count[d][a->key[i] >> (d * DIGIT_BITS) & (BUCKETS - 1)]++;
    for (unsigned d = first; d < DIGITS; d++) {
        unsigned shift = d * DIGIT_BITS;
        size_t *c = a->count[d];
        if (c[a->key[0] >> shift & (BUCKETS - 1)] == n)
            continue; /* every key has this digit */
        size_t sum = 0;
        for (unsigned b = 0; b < BUCKETS; b++) {
            size_t k = c[b];
            c[b] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++) {
            size_t to = c[a->key[i] >> shift & (BUCKETS - 1)]++;
            a->key2[to] = a->key[i];
            a->other[to] = a->order[i];
        }
        uint64_t *kt = a->key;
        a->key = a->key2;
        a->key2 = kt;
        uint32_t *ot = a->order;
        a->order = a->other;
        a->other = ot;
    }
}

/* A stable insertion sort of keys sorted already by their high digits:
 * a key only moves back within its run of equal high digits, so on rows
 * that came in nearly in time order it is a pass. 1 done, 0 when it gave
 * up after `budget` moves (the rows came far from time order). */
static int insertion_pass(uint64_t *key, uint32_t *order, size_t n, size_t budget)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t k = key[i];
        if (key[i - 1] <= k)
            continue;
        uint32_t row = order[i];
        size_t j = i;
        do {
            if (budget-- == 0)
                return 0;
            key[j] = key[j - 1];
            order[j] = order[j - 1];
            j--;
        } while (j > 0 && key[j - 1] > k);
        key[j] = k;
        order[j] = row;
    }
    return 1;
}

/* The keys of the rows in arrival order: merchant - mlo above tbits bits
 * of ts - tlo. */
static void radix_keys(const tsagg__spanbuf *h, radix_arrays *a, uint64_t mlo, int64_t tlo,
                       unsigned tbits)
{
    for (size_t i = 0; i < h->n; i++) {
        const tsagg__spanrow *r = &h->rows[i];
        /* tbits is 64 only when no merchant bits are left: all one merchant */
        uint64_t m = tbits < 64 ? (r->merchant - mlo) << tbits : 0;
        a->key[i] = m | ((uint64_t)r->ts - (uint64_t)tlo);
        a->order[i] = (uint32_t)i;
    }
}

/* The radix sort when the packed key fits: 1 done, 0 when it does not fit,
 * or a negative code. */
static int sort_by_radix(tsagg__spanbuf *h)
{
    size_t n = h->n;
    if (n < RADIX_MIN_ROWS || n > UINT32_MAX)
        return 0;
    uint64_t mlo = UINT64_MAX, mhi = 0;
    int64_t tlo = INT64_MAX, thi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const tsagg__spanrow *r = &h->rows[i];
        mlo = r->merchant < mlo ? r->merchant : mlo;
        mhi = r->merchant > mhi ? r->merchant : mhi;
        tlo = r->ts < tlo ? r->ts : tlo;
        thi = r->ts > thi ? r->ts : thi;
    }
    unsigned tbits = bits_of((uint64_t)thi - (uint64_t)tlo), mbits = bits_of(mhi - mlo);
    if (mbits + tbits > 64)
        return 0;
    /* Time widened to whole digits where the key has room: the digits
     * below time_digits then hold time bits only. */
    unsigned whole = (tbits + DIGIT_BITS - 1) / DIGIT_BITS * DIGIT_BITS;
    if (whole + mbits <= 64 && whole < 64)
        tbits = whole;
    unsigned time_digits = tbits / DIGIT_BITS;
    /* Keys and row numbers, each in two arrays that passes alternate. */
    uint64_t *keys = malloc(2 * n * sizeof *keys);
    uint32_t *tmp = malloc(n * sizeof *tmp);
    size_t(*count)[BUCKETS] = malloc(DIGITS * sizeof *count);
    if (!keys || !tmp || !count) {
        free(keys);
        free(tmp);
        free(count);
        return -ENOMEM;
    }
    radix_arrays a = {keys, keys + n, h->order, tmp, count};
    radix_keys(h, &a, mlo, tlo, tbits);
    radix_passes(&a, n, time_digits);
    if (time_digits > 0 && !insertion_pass(a.key, a.order, n, INSERTION_MOVES * n)) {
        a = (radix_arrays){keys, keys + n, h->order, tmp, count};
        radix_keys(h, &a, mlo, tlo, tbits);
        radix_passes(&a, n, 0);
    }
    uint64_t *key = a.key;
    uint32_t *order = a.order;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && key[j] == key[i])
            j++;
        if (j - i > 1)
            order_ties(h, order, i, j);
        i = j;
    }
    if (order != h->order)
        memcpy(h->order, order, n * sizeof *order);
    free(keys);
    free(tmp);
    free(count);
    return 1;
}

int tsagg__spanbuf_sort(tsagg__spanbuf *h)
{
    if (h->sorted)
        return 0;
    free(h->order);
    h->order = malloc((h->n ? h->n : 1) * sizeof *h->order);
    if (!h->order)
        return -ENOMEM;
    int rc = sort_by_radix(h);
    if (rc >= 0 && rc != 1)
        rc = sort_by_comparison(h);
    h->sorted = rc >= 0;
    return rc < 0 ? rc : 0;
}
