/*
 * hll.c - the in-memory sketch: exact set, dense registers, add, merge and
 * the estimator. Serialization and views are in hll_format.c.
 *
 * Exact form: an open-addressing set (linear probing, load <= 3/4) of the
 * non-zero mixed hashes, the hash 0 kept as a flag. The home slot is the top
 * bits of the hash, so walking the slots gives the set almost sorted and
 * serialization only needs an insertion sort.
 *
 * Registers: one byte each in memory (serialized they are sparse or packed
 * in 6 bits), so merges are byte-wise maxima the compiler vectorises. A
 * sketch that went dense by inserts keeps the histogram of its registers
 * as it goes (an insert that raises a register moves one count), so the
 * estimate of a query's row-built sketch reads 52 counters instead of
 * 16384 registers; so does a merge of a sparse serialized sketch
 * (hll_format.c), which raises registers one at a time. A merge of dense
 * registers writes them wholesale and drops the histogram; the estimate
 * then walks the registers for the only three figures Ertl's estimator
 * needs (empty, saturated, and the sum of 2^(q - r)), vectorised.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hll.h"
#include "tsagg_errors.h"

#define TAB_MIN 8u
/* 256 values at load <= 3/4 fit in 512 slots: the table never grows past. */
#define TAB_MAX 512u

void tsagg__hll_init(tsagg__hll *h)
{
    memset(h, 0, sizeof *h);
}

void tsagg__hll_fini(tsagg__hll *h)
{
    if (!h)
        return;
    free(h->tab);
    free(h->reg);
    free(h->hist);
    memset(h, 0, sizeof *h);
}

void tsagg__hll_reset(tsagg__hll *h)
{
    if (h->tab)
        memset(h->tab, 0, (size_t)h->cap * sizeof *h->tab);
    h->n = 0;
    h->has_zero = false;
    h->dense = false;
    h->hist_ok = false;
}

static inline uint32_t home_slot(uint64_t v, uint32_t cap)
{
    return (uint32_t)(v >> (64 - __builtin_ctz(cap)));
}

/* Put a value known to be absent into a table with room (no count update). */
static void tab_place(uint64_t *tab, uint32_t cap, uint64_t v)
{
    uint32_t mask = cap - 1;
    uint32_t i = home_slot(v, cap);
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = v;
}

/* Move the set into a table of cap slots (a power of two, larger). */
static int tab_resize(tsagg__hll *h, uint32_t cap)
{
    uint64_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    for (uint32_t i = 0; i < h->cap; i++)
        if (h->tab[i])
            tab_place(tab, cap, h->tab[i]);
    free(h->tab);
    h->tab = tab;
    h->cap = cap;
    return 0;
}

static int tab_grow(tsagg__hll *h)
{
    return tab_resize(h, h->cap ? h->cap * 2 : TAB_MIN);
}

int tsagg__hll_room(tsagg__hll *h, uint32_t n)
{
    if (h->dense)
        return 0;
    uint64_t want = (uint64_t)h->n + n; /* at most this many in the set */
    uint32_t cap = h->cap ? h->cap : TAB_MIN;
    while (cap < TAB_MAX && want * 4 > (uint64_t)cap * 3)
        cap *= 2;
    /* One allocation, not one per doubling. */
    return cap > h->cap ? tab_resize(h, cap) : 0;
}

int tsagg__hll_reserve(tsagg__hll *h)
{
    if (!h->hist && !(h->hist = malloc(64 * sizeof *h->hist)))
        return -ENOMEM;
    if (!h->reg) {
        h->reg = malloc(TSAGG__HLL_M);
        if (!h->reg)
            return -ENOMEM;
    }
    if (h->cap < TAB_MAX) {
        uint64_t *tab = calloc(TAB_MAX, sizeof *tab);
        if (!tab)
            return -ENOMEM;
        /* Re-home the current set (if exact) into the full-size table. */
        uint64_t *old = h->tab;
        uint32_t old_cap = h->cap;
        h->tab = tab;
        h->cap = TAB_MAX;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i])
                tab_place(tab, TAB_MAX, old[i]);
        free(old);
    }
    h->reserved = true;
    return 0;
}

static inline void reg_update(uint8_t *reg, uint64_t mixed)
{
    uint32_t i = tsagg__hll_index(mixed);
    uint8_t r = tsagg__hll_rank(mixed);
    if (r > reg[i])
        reg[i] = r;
}

/* reg_update that also moves the register's count in hist. */
static inline void reg_update_hist(uint8_t *reg, uint32_t *hist, uint64_t mixed)
{
    uint32_t i = tsagg__hll_index(mixed);
    uint8_t r = tsagg__hll_rank(mixed), old = reg[i];
    if (r > old) {
        reg[i] = r;
        hist[old]--;
        hist[r]++;
    }
}

/* Insert n mixed hashes into a dense sketch. */
static void dense_insert(tsagg__hll *h, const uint64_t *mixed, size_t n)
{
    uint8_t *reg = h->reg;
    if (h->hist_ok) {
        for (size_t i = 0; i < n; i++)
            reg_update_hist(reg, h->hist, mixed[i]);
    } else {
        for (size_t i = 0; i < n; i++)
            reg_update(reg, mixed[i]);
    }
}

int tsagg__hll_densify(tsagg__hll *h)
{
    if (h->dense)
        return 0;
    if (!h->reg) {
        h->reg = malloc(TSAGG__HLL_M);
        if (!h->reg)
            return -ENOMEM;
    }
    memset(h->reg, 0, TSAGG__HLL_M);
    /* Without memory for the histogram the estimate counts registers. */
    if (!h->hist)
        h->hist = malloc(64 * sizeof *h->hist);
    h->dense = true;
    h->hist_ok = h->hist != NULL;
    if (h->hist_ok) {
        memset(h->hist, 0, 64 * sizeof *h->hist);
        h->hist[0] = TSAGG__HLL_M;
    }
    if (h->has_zero) {
        uint64_t zero = 0;
        dense_insert(h, &zero, 1);
    }
    for (uint32_t i = 0; i < h->cap; i++)
        if (h->tab[i])
            dense_insert(h, &h->tab[i], 1);
    h->n = 0;
    h->has_zero = false;
    if (h->reserved) {
        memset(h->tab, 0, (size_t)h->cap * sizeof *h->tab);
    } else {
        /* A dense sketch needs only its registers: give the set back. */
        free(h->tab);
        h->tab = NULL;
        h->cap = 0;
    }
    return 0;
}

/* Exact: insert v; when it is new and the set is full, switch to registers. */
static int exact_insert(tsagg__hll *h, uint64_t v)
{
    if (v == 0) {
        if (h->has_zero)
            return 0;
    } else if (h->cap) {
        uint32_t mask = h->cap - 1;
        for (uint32_t i = home_slot(v, h->cap); h->tab[i]; i = (i + 1) & mask)
            if (h->tab[i] == v)
                return 0;
    }
    if (h->n == TSAGG__HLL_EXACT_MAX) {
        int rc = tsagg__hll_densify(h);
        if (rc == 0)
            dense_insert(h, &v, 1);
        return rc;
    }
    if (v == 0) {
        h->has_zero = true;
    } else {
        uint32_t in_tab = h->n - h->has_zero;
        if ((in_tab + 1) * 4 > h->cap * 3) {
            int rc = tab_grow(h);
            if (rc)
                return rc;
        }
        tab_place(h->tab, h->cap, v);
    }
    h->n++;
    return 0;
}

int tsagg__hll_insert(tsagg__hll *h, uint64_t mixed)
{
    if (h->dense) {
        dense_insert(h, &mixed, 1);
        return 0;
    }
    return exact_insert(h, mixed);
}

int tsagg__hll_add(tsagg__hll *h, uint64_t input)
{
    return tsagg__hll_insert(h, tsagg__hll_mix(input));
}

int tsagg__hll_add_many(tsagg__hll *h, const uint64_t *inputs, size_t n)
{
    size_t i = 0;
    for (; i < n && !h->dense; i++) {
        int rc = exact_insert(h, tsagg__hll_mix(inputs[i]));
        if (rc)
            return rc;
    }
    for (; i < n; i++) {
        uint64_t mixed = tsagg__hll_mix(inputs[i]);
        dense_insert(h, &mixed, 1);
    }
    return 0;
}

int tsagg__hll_insert_many(tsagg__hll *h, const uint64_t *mixed, size_t n)
{
    size_t i = 0;
    for (; i < n && !h->dense; i++) {
        int rc = exact_insert(h, mixed[i]);
        if (rc)
            return rc;
    }
    dense_insert(h, mixed + i, n - i);
    return 0;
}

static void reg_max(uint8_t *restrict dst, const uint8_t *restrict src)
{
    for (uint32_t i = 0; i < TSAGG__HLL_M; i++)
        dst[i] = dst[i] > src[i] ? dst[i] : src[i];
}

int tsagg__hll_merge(tsagg__hll *dst, const tsagg__hll *src)
{
    if (dst == src)
        return 0;
    if (src->dense) {
        int rc = tsagg__hll_densify(dst);
        if (rc)
            return rc;
        reg_max(dst->reg, src->reg);
        dst->hist_ok = false;
        return 0;
    }
    if (src->has_zero) {
        int rc = tsagg__hll_insert(dst, 0);
        if (rc)
            return rc;
    }
    for (uint32_t i = 0; i < src->cap; i++) {
        if (src->tab[i]) {
            int rc = tsagg__hll_insert(dst, src->tab[i]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

bool tsagg__hll_is_exact(const tsagg__hll *h)
{
    return !h->dense;
}

/* sigma and tau from Ertl 2017 (Algorithm 6): the corrections for empty and
 * saturated registers that make the estimator unbiased over the whole range,
 * with no switch to linear counting. */
static double ertl_sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

static double ertl_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

/* The estimator from the counts of empty (c0) and saturated (cq1)
 * registers and s = sum of 2^(q - r) over the registers r in 1..q, an
 * integer (at most 2^63), so both the histogram and the register walk get
 * it exactly and give the same estimate bit for bit. Ertl's loop
 * "for k = q .. 1: z = (z + c_k) / 2" is (z + s) / 2^q. */
static double estimate_parts(uint32_t c0, uint32_t cq1, uint64_t s)
{
    const double m = TSAGG__HLL_M;
    const int q = 64 - TSAGG__HLL_P;
    if (c0 == TSAGG__HLL_M)
        return 0.0;
    double z = ldexp(m * ertl_tau(1.0 - cq1 / m) + (double)s, -q);
    z += m * ertl_sigma(c0 / m);
    /* alpha_inf = 1 / (2 ln 2) */
    return 0.72134752044448170368 * m * m / z;
}

double tsagg__hll_estimate_hist(const uint32_t c[TSAGG__HLL_RANK_MAX + 1])
{
    const int q = 64 - TSAGG__HLL_P;
    uint64_t s = 0;
    for (int k = 1; k <= q; k++)
        s += (uint64_t)c[k] << (q - k);
    return estimate_parts(c[0], c[q + 1], s);
}

/* Add to w the sum of 2^(q - r) over the n registers at reg (n a multiple
 * of 32), 2^q counted for each empty one and 0 for a saturated one
 * (r = q + 1), modulo 2^64, and the counts of empty and saturated
 * registers: a shift and an add a register, no histogram. */
static void reg_walk(const uint8_t *reg, uint32_t n, tsagg__hll_walk *w)
{
    const int q = 64 - TSAGG__HLL_P;
    uint64_t s = 0;
    uint32_t zeros = 0, sat = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = reg[i];
        s += (UINT64_C(1) << q) >> r;
        zeros += r == 0;
        sat += r == (uint32_t)q + 1;
    }
    w->s += s;
    w->c0 += zeros;
    w->cq1 += sat;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_REG_WALK_AVX2 1
/* reg_walk, 32 registers a step where the machine has AVX2: the counts by
 * byte compares, the sum by four shifts of 4 lanes (about 5x faster than
 * counting a histogram, which was most of a query's time for a month of a
 * busy merchant's daily users). */
__attribute__((target("avx2,popcnt"))) static void reg_walk_avx2(const uint8_t *reg, uint32_t n,
                                                                 tsagg__hll_walk *w)
{
    const int q = 64 - TSAGG__HLL_P;
    const __m256i top = _mm256_set1_epi64x((long long)(UINT64_C(1) << q));
    const __m256i zero = _mm256_setzero_si256(), full = _mm256_set1_epi8((char)(q + 1));
    __m256i s = zero;
    uint32_t zeros = 0, sat = 0;
    for (uint32_t i = 0; i < n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(reg + i));
        unsigned empty = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero));
        unsigned saturated = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, full));
        zeros += (uint32_t)__builtin_popcount(empty);
        sat += (uint32_t)__builtin_popcount(saturated);
        for (uint32_t j = 0; j < 32; j += 4) {
            uint32_t four;
            memcpy(&four, reg + i + j, 4);
            __m256i r = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)four));
            s = _mm256_add_epi64(s, _mm256_srlv_epi64(top, r));
        }
    }
    uint64_t lane[4];
    _mm256_storeu_si256((__m256i *)lane, s);
    w->s += lane[0] + lane[1] + lane[2] + lane[3];
    w->c0 += zeros;
    w->cq1 += sat;
}
#endif

void tsagg__hll_walk_regs(const uint8_t *reg, uint32_t n, tsagg__hll_walk *w)
{
#ifdef HAVE_REG_WALK_AVX2
    if (__builtin_cpu_supports("avx2")) {
        reg_walk_avx2(reg, n, w);
        return;
    }
#endif
    reg_walk(reg, n, w);
}

double tsagg__hll_walk_estimate(const tsagg__hll_walk *w)
{
    /* Take out the 2^q each empty register added: the true sum is at
     * most 2^63, so the wrap-around arithmetic lands on it exactly. */
    uint64_t s = w->s - ((uint64_t)w->c0 << (64 - TSAGG__HLL_P));
    return estimate_parts(w->c0, w->cq1, s);
}

double tsagg__hll_estimate(const tsagg__hll *h)
{
    if (!h->dense)
        return (double)h->n;
    if (h->hist_ok)
        return tsagg__hll_estimate_hist(h->hist);
    tsagg__hll_walk w = {0, 0, 0};
    tsagg__hll_walk_regs(h->reg, TSAGG__HLL_M, &w);
    return tsagg__hll_walk_estimate(&w);
}

uint32_t tsagg__hll_sorted(const tsagg__hll *h, uint64_t *out)
{
    uint32_t n = 0;
    if (h->has_zero)
        out[n++] = 0;
    for (uint32_t i = 0; i < h->cap; i++)
        if (h->tab[i])
            out[n++] = h->tab[i];
    /* Slot order is hash order except within probe runs and for the few
     * values that wrapped around the end: insertion sort is linear here. */
    for (uint32_t i = 1; i < n; i++) {
        uint64_t v = out[i];
        uint32_t j = i;
        while (j > 0 && out[j - 1] > v) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
    return n;
}
