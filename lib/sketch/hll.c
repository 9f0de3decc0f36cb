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
 * registers writes them wholesale and leaves the histogram to be counted
 * by the estimate.
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

static int tab_grow(tsagg__hll *h)
{
    uint32_t cap = h->cap ? h->cap * 2 : TAB_MIN;
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

double tsagg__hll_estimate_hist(const uint32_t c[TSAGG__HLL_RANK_MAX + 1])
{
    const double m = TSAGG__HLL_M;
    const int q = 64 - TSAGG__HLL_P;
    if (c[0] == TSAGG__HLL_M)
        return 0.0;
    double z = m * ertl_tau(1.0 - c[q + 1] / m);
    for (int k = q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    z += m * ertl_sigma(c[0] / m);
    /* alpha_inf = 1 / (2 ln 2) */
    return 0.72134752044448170368 * m * m / z;
}

double tsagg__hll_estimate(const tsagg__hll *h)
{
    if (!h->dense)
        return (double)h->n;
    if (h->hist_ok)
        return tsagg__hll_estimate_hist(h->hist);
    /* Four histograms, so consecutive equal registers do not serialise on
     * one counter. */
    uint32_t c4[4][64] = {{0}}; /* 64: safe for any 6-bit value */
    const uint8_t *r = h->reg;
    for (uint32_t i = 0; i < TSAGG__HLL_M; i += 4) {
        c4[0][r[i]]++;
        c4[1][r[i + 1]]++;
        c4[2][r[i + 2]]++;
        c4[3][r[i + 3]]++;
    }
    uint32_t c[TSAGG__HLL_RANK_MAX + 1];
    for (int k = 0; k <= TSAGG__HLL_RANK_MAX; k++)
        c[k] = c4[0][k] + c4[1][k] + c4[2][k] + c4[3][k];
    return tsagg__hll_estimate_hist(c);
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
