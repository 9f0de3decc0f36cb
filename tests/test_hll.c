/* test_hll.c - the unique-count sketch: exactness, accuracy, merge == union,
 * serialization round trips, corrupt input, and the frozen format. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytes.h"
#include "hll.h"
#include "tsagg_errors.h"
#include "testutil.h"

/* 1.04 / sqrt(16384) */
#define SE 0.008125

/* Add inputs [lo, hi) of the stream `seed` (input i is splitmix of seed+i,
 * so ranges of one seed overlap exactly where their indices do). */
static void add_range(tsagg__hll *h, uint64_t seed, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i < hi; i++) {
        uint64_t s = seed * 0x100000001b3ull + i;
        cr_assert_eq(tsagg__hll_add(h, tu_splitmix64(&s)), 0);
    }
}

static size_t ser(const tsagg__hll *h, uint8_t *buf)
{
    int n = tsagg__hll_serialize(h, buf, TSAGG__HLL_SERIALIZED_MAX);
    cr_assert_gt(n, 0);
    cr_assert_eq((size_t)n, tsagg__hll_serialized_size(h));
    return (size_t)n;
}

/* Both sketches serialize to the same bytes and estimate the same. */
static void assert_same(const tsagg__hll *a, const tsagg__hll *b)
{
    static uint8_t ba[TSAGG__HLL_SERIALIZED_MAX], bb[TSAGG__HLL_SERIALIZED_MAX];
    size_t na = ser(a, ba), nb = ser(b, bb);
    cr_assert_eq(na, nb, "sizes %zu != %zu", na, nb);
    cr_assert(memcmp(ba, bb, na) == 0, "serialized bytes differ");
    cr_assert_eq(tsagg__hll_estimate(a), tsagg__hll_estimate(b));
    cr_assert_eq(tsagg__hll_is_exact(a), tsagg__hll_is_exact(b));
}

Test(hll, empty)
{
    tsagg__hll h;
    tsagg__hll_init(&h);
    cr_assert(tsagg__hll_is_exact(&h));
    cr_assert_eq(tsagg__hll_estimate(&h), 0.0);
    uint8_t buf[8];
    cr_assert_eq(tsagg__hll_serialized_size(&h), 4);
    cr_assert_eq(tsagg__hll_serialize(&h, buf, sizeof buf), 4);
    const uint8_t want[] = {1, 1, 14, 0};
    cr_assert(memcmp(buf, want, 4) == 0);
    tsagg__hll_fini(&h);
    tsagg__hll_fini(NULL);
}

Test(hll, exact_up_to_the_limit)
{
    tsagg__hll h;
    tsagg__hll_init(&h);
    uint64_t seed = 7;
    uint64_t vals[TSAGG__HLL_EXACT_MAX + 1];
    for (uint32_t i = 0; i <= TSAGG__HLL_EXACT_MAX; i++)
        vals[i] = tu_splitmix64(&seed);
    vals[5] = 0; /* the ids 0 and 1 are ordinary inputs */
    vals[6] = 1;
    for (uint32_t n = 1; n <= TSAGG__HLL_EXACT_MAX; n++) {
        cr_assert_eq(tsagg__hll_add(&h, vals[n - 1]), 0);
        /* Duplicates never count. */
        cr_assert_eq(tsagg__hll_add(&h, vals[n / 2]), 0);
        cr_assert(tsagg__hll_is_exact(&h));
        cr_assert_eq(tsagg__hll_estimate(&h), (double)n, "n=%u", n);
    }
    cr_assert_eq(tsagg__hll_add(&h, vals[TSAGG__HLL_EXACT_MAX]), 0);
    cr_assert_not(tsagg__hll_is_exact(&h));
    const double n_max = TSAGG__HLL_EXACT_MAX + 1;
    double e = tsagg__hll_estimate(&h);
    cr_assert(fabs(e - n_max) < n_max * 3 * SE, "estimate %f", e);
    tsagg__hll_fini(&h);
}

Test(hll, small_ids_are_exact)
{
    /* A merchant-hour with three users, each seen several times. */
    tsagg__hll h;
    tsagg__hll_init(&h);
    const uint64_t ids[] = {3, 1, 2, 3, 3, 1, 2, 2};
    cr_assert_eq(tsagg__hll_add_many(&h, ids, 8), 0);
    cr_assert_eq(tsagg__hll_estimate(&h), 3.0);
    cr_assert_eq(tsagg__hll_serialized_size(&h), 4 + 3 * 8);
    tsagg__hll_fini(&h);
}

static void check_accuracy(uint64_t n, uint64_t seeds, bool small_ids)
{
    tsagg__hll h;
    tsagg__hll_init(&h);
    double sum = 0, sum_abs = 0, max_abs = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        tsagg__hll_reset(&h);
        if (small_ids) {
            /* Non-hashed ids: consecutive integers from an offset. */
            for (uint64_t i = 0; i < n; i++)
                cr_assert_eq(tsagg__hll_add(&h, seed * 10000000 + i), 0);
        } else {
            add_range(&h, seed, 0, n);
        }
        double e = tsagg__hll_estimate(&h);
        double rel = (e - (double)n) / (double)n;
        cr_assert(fabs(rel) <= 3 * SE, "n=%lu seed=%lu estimate=%.1f rel=%.4f",
                  (unsigned long)n, (unsigned long)seed, e, rel);
        sum += rel;
        sum_abs += fabs(rel);
        max_abs = fmax(max_abs, fabs(rel));
    }
    /* Shown with --verbose; docs/hll.md quotes these. */
    cr_log_info("%s n=%-8lu runs=%lu mean %+.4f%% mean|err| %.4f%% max|err| %.4f%%",
                small_ids ? "int " : "hash", (unsigned long)n, (unsigned long)seeds,
                100 * sum / (double)seeds, 100 * sum_abs / (double)seeds, 100 * max_abs);
    tsagg__hll_fini(&h);
}

Test(hll, accuracy_hashed_ids)
{
    const uint64_t ns[] = {1000, 2000, 5000, 10000, 100000, 1000000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        check_accuracy(ns[i], ns[i] >= 1000000 ? 5 : 10, false);
}

Test(hll, accuracy_small_integer_ids)
{
    const uint64_t ns[] = {1000, 10000, 100000, 1000000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        check_accuracy(ns[i], 3, true);
}

Test(hll, add_many_equals_add)
{
    tsagg__hll a, b;
    tsagg__hll_init(&a);
    tsagg__hll_init(&b);
    static uint64_t vals[50000];
    uint64_t seed = 99;
    for (size_t i = 0; i < 50000; i++)
        vals[i] = tu_splitmix64(&seed) % 20000; /* many repeats */
    cr_assert_eq(tsagg__hll_add_many(&a, vals, 50000), 0);
    for (size_t i = 0; i < 50000; i++)
        cr_assert_eq(tsagg__hll_add(&b, vals[i]), 0);
    assert_same(&a, &b);
    tsagg__hll_fini(&a);
    tsagg__hll_fini(&b);
}

/* A sketch filled by inserts keeps the histogram of its registers as it
 * goes; its estimate must be the one counted from the registers (a copy
 * by a merge of them), at every size, also after a merge and after inserts
 * that follow a merge. */
Test(hll, insert_histogram_matches_the_registers)
{
    static const uint64_t sizes[] = {257, 300, 1000, 5000, 6500, 20000, 100000, 1000000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        tsagg__hll a, copy, other;
        tsagg__hll_init(&a);
        tsagg__hll_init(&copy);
        tsagg__hll_init(&other);
        static uint64_t mixed[4096];
        uint64_t seed = 1000 + k, n = 0;
        /* Half by single adds, half by runs of mixed hashes. */
        add_range(&a, seed, 0, sizes[k] / 2);
        for (n = sizes[k] / 2; n < sizes[k];) {
            size_t m = 0;
            for (; m < 4096 && n < sizes[k]; m++, n++) {
                uint64_t s = seed * 0x100000001b3ull + n;
                mixed[m] = tsagg__hll_mix(tu_splitmix64(&s));
            }
            cr_assert_eq(tsagg__hll_insert_many(&a, mixed, m), 0);
        }
        cr_assert(a.hist_ok, "size %" PRIu64 ": dense by inserts", sizes[k]);
        /* A copy by a merge of its registers counts them in the estimate. */
        cr_assert_eq(tsagg__hll_merge(&copy, &a), 0);
        cr_assert(!copy.hist_ok);
        assert_same(&a, &copy);
        /* A merge leaves the histogram to be counted; later inserts too. */
        add_range(&other, seed + 77, 0, 3000);
        cr_assert_eq(tsagg__hll_merge(&a, &other), 0);
        cr_assert_eq(tsagg__hll_merge(&copy, &other), 0);
        add_range(&a, seed + 99, 0, 500);
        add_range(&copy, seed + 99, 0, 500);
        assert_same(&a, &copy);
        tsagg__hll_fini(&a);
        tsagg__hll_fini(&copy);
        tsagg__hll_fini(&other);
    }
}

/* Merging sparse serialized sketches (a query's hourly rollups) keeps the
 * register histogram, through a view or the one-pass merge, into an empty
 * sketch or one made dense by inserts; the estimate must still be the one
 * counted from the registers (a copy by a merge of them). A dense one
 * drops the histogram. */
Test(hll, sparse_merge_keeps_the_histogram)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    static const uint64_t sizes[] = {257, 1000, 3000, 5000};
    for (int by_view = 0; by_view < 2; by_view++) {
        tsagg__hll acc, copy;
        tsagg__hll_init(&acc);
        tsagg__hll_init(&copy);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            tsagg__hll part;
            tsagg__hll_init(&part);
            add_range(&part, 40 + k, 0, sizes[k]);
            size_t len = ser(&part, buf);
            cr_assert_eq(buf[1], TSAGG__HLL_FORM_SPARSE, "size %" PRIu64, sizes[k]);
            if (by_view) {
                tsagg__hll_view v;
                cr_assert_eq(tsagg__hll_view_init(&v, buf, len), 0);
                cr_assert_eq(tsagg__hll_merge_view(&acc, &v), 0);
            } else {
                cr_assert_eq(tsagg__hll_merge_serialized(&acc, buf, len), 0);
            }
            cr_assert(acc.hist_ok, "after %zu sparse merges (%s)", k + 1,
                      by_view ? "view" : "serialized");
            tsagg__hll_reset(&copy);
            cr_assert_eq(tsagg__hll_merge(&copy, &acc), 0);
            cr_assert(!copy.hist_ok);
            assert_same(&acc, &copy);
            /* Inserts after the merges keep it too. */
            add_range(&acc, 90 + k, 0, 100);
            add_range(&copy, 90 + k, 0, 100);
            assert_same(&acc, &copy);
            tsagg__hll_fini(&part);
        }
        tsagg__hll dense;
        tsagg__hll_init(&dense);
        add_range(&dense, 7, 0, 50000);
        size_t len = ser(&dense, buf);
        cr_assert_eq(buf[1], TSAGG__HLL_FORM_DENSE);
        cr_assert_eq(tsagg__hll_merge_serialized(&acc, buf, len), 0);
        cr_assert(!acc.hist_ok);
        cr_assert_eq(tsagg__hll_merge_serialized(&copy, buf, len), 0);
        assert_same(&acc, &copy);
        tsagg__hll_fini(&dense);
        tsagg__hll_fini(&acc);
        tsagg__hll_fini(&copy);
    }
}

/* Ertl's loop as docs/hll.md writes it, from a histogram counted here. */
static double reference_estimate(const tsagg__hll *h)
{
    uint32_t c[64] = {0};
    for (uint32_t i = 0; i < TSAGG__HLL_M; i++)
        c[h->reg[i]]++;
    const double m = TSAGG__HLL_M;
    const int q = 64 - TSAGG__HLL_P;
    if (c[0] == TSAGG__HLL_M)
        return 0;
    double x = 1.0 - c[q + 1] / m, tau = 0;
    if (x != 0.0 && x != 1.0) {
        double y = 1.0, prev;
        tau = 1.0 - x;
        do {
            x = sqrt(x);
            prev = tau;
            y *= 0.5;
            tau -= (1.0 - x) * (1.0 - x) * y;
        } while (tau != prev);
        tau /= 3.0;
    }
    double z = m * tau;
    for (int k = q; k >= 1; k--)
        z = 0.5 * (z + c[k]);
    x = c[0] / m;
    double sigma = 1.0, y = 1.0, prev;
    if (x == 1.0)
        sigma = INFINITY;
    else {
        sigma = x;
        do {
            x *= x;
            prev = sigma;
            sigma += x * y;
            y += y;
        } while (sigma != prev);
    }
    z += m * sigma;
    return 0.72134752044448170368 * m * m / z;
}

/* The estimate of merged registers (counted by a walk over them) equals the
 * one kept by inserts (from the histogram) bit for bit, and Ertl's loop, at
 * the edges too: every rank, all registers 1 (the largest sum of 2^(q - r)),
 * all saturated. */
Test(hll, register_walk_estimate_matches_the_histogram)
{
    const int q = 64 - TSAGG__HLL_P;
    for (int shape = 0; shape < 4; shape++) {
        tsagg__hll byins, merged;
        tsagg__hll_init(&byins);
        tsagg__hll_init(&merged);
        for (uint32_t i = 0; i < TSAGG__HLL_M; i++) {
            uint32_t r = shape == 0 ? i % 52 : shape == 1 ? 1 : shape == 2 ? 51 : (i * 7u) % 23;
            if (r == 0)
                continue;
            /* Index i, rank r: 1 + the leading zeros of the low q bits. */
            uint64_t mixed = ((uint64_t)i << q) | (r <= (uint32_t)q ? UINT64_C(1) << (q - r) : 0);
            if (mixed == 0)
                continue;
            cr_assert_eq(tsagg__hll_insert(&byins, mixed), 0);
        }
        cr_assert(byins.dense && byins.hist_ok, "shape %d: dense by inserts", shape);
        cr_assert_eq(tsagg__hll_merge(&merged, &byins), 0);
        cr_assert(merged.dense && !merged.hist_ok);
        double want = reference_estimate(&byins);
        double got = tsagg__hll_estimate(&merged);
        cr_assert_eq(got, tsagg__hll_estimate(&byins), "shape %d: %.17g", shape, got);
        cr_assert(fabs(got - want) <= 1e-12 * want, "shape %d: %.17g, Ertl %.17g", shape, got,
                  want);
        tsagg__hll_fini(&byins);
        tsagg__hll_fini(&merged);
    }
}

/* Rank of register i in hand-made sketch k (0: absent). */
static uint32_t shaped_rank(uint32_t k, uint32_t i)
{
    uint64_t x = (uint64_t)k << 20 | i;
    switch (k) {
    case 0: /* every rank */
        return i * 7u % 52;
    case 1: /* saturated everywhere */
        return 51;
    case 2: /* all 1: the largest sum */
        return 1;
    case 3: /* 51 and 1 in a few registers: sparse */
        return i % 5 == 0 ? (i % 2 ? 51 : 1) : 0;
    default: /* random ranks, a few empty registers */
        return (uint32_t)(tu_splitmix64(&x) % 23);
    }
}

/* The estimate of views of every form taken in one pass equals, bit for
 * bit, the estimate of a sketch they were merged into and the histogram
 * estimate of its registers: 1 to 30 views drawn from exact, sparse and
 * dense sketches of ids and hand-made registers (every rank, saturated,
 * the largest sum), at least one of them with registers. */
Test(hll, views_estimate_matches_the_merged_sketch)
{
    enum { POOL = 10 };
    const int q = 64 - TSAGG__HLL_P;
    static uint8_t buf[POOL][TSAGG__HLL_SERIALIZED_MAX];
    static const uint64_t ids[] = {0, 0, 0, 0, 0, 200, 3000, 30000, 256, 5500};
    tsagg__hll_view pool[POOL];
    for (uint32_t k = 0; k < POOL; k++) {
        tsagg__hll h;
        tsagg__hll_init(&h);
        if (ids[k] > 0) {
            add_range(&h, 31 + k, 0, ids[k]);
        } else {
            for (uint32_t i = 0; i < TSAGG__HLL_M; i++) {
                uint32_t r = shaped_rank(k, i);
                uint64_t mixed = ((uint64_t)i << q) | (r <= (uint32_t)q ? UINT64_C(1) << (q - r) : 0);
                if (r != 0 && mixed != 0)
                    cr_assert_eq(tsagg__hll_insert(&h, mixed), 0);
            }
        }
        size_t len = ser(&h, buf[k]);
        cr_assert_eq(tsagg__hll_view_init(&pool[k], buf[k], len), 0);
        tsagg__hll_fini(&h);
    }
    cr_assert_eq(pool[3].form, TSAGG__HLL_FORM_SPARSE);
    cr_assert_eq(pool[5].form, TSAGG__HLL_FORM_EXACT);
    cr_assert_eq(pool[6].form, TSAGG__HLL_FORM_SPARSE);
    cr_assert_eq(pool[7].form, TSAGG__HLL_FORM_DENSE);
    uint64_t rng = 5;
    for (int round = 0; round < 300; round++) {
        /* Up to 4 views, and a day of hour files' spans in the last rounds. */
        uint32_t n = round < POOL ? 1 : 1 + (uint32_t)(tu_splitmix64(&rng) % (round < 280 ? 4 : 30));
        const tsagg__hll_view *vp[30];
        int registers = 0;
        tsagg__hll merged;
        tsagg__hll_init(&merged);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t pick = round < POOL ? (uint32_t)round : (uint32_t)(tu_splitmix64(&rng) % POOL);
            vp[k] = &pool[pick];
            registers |= pool[pick].form != TSAGG__HLL_FORM_EXACT;
            cr_assert_eq(tsagg__hll_merge_view(&merged, vp[k]), 0);
        }
        if (!registers) {
            tsagg__hll_fini(&merged);
            continue;
        }
        cr_assert(merged.dense);
        uint32_t c[64] = {0};
        for (uint32_t i = 0; i < TSAGG__HLL_M; i++)
            c[merged.reg[i]]++;
        double got = tsagg__hll_views_estimate(vp, n);
        cr_assert_eq(got, tsagg__hll_estimate(&merged), "round %d, %u views: %.17g", round, n,
                     got);
        cr_assert_eq(got, tsagg__hll_estimate_hist(c), "round %d, %u views", round, n);
        tsagg__hll_fini(&merged);
    }
}

/* Sizes of the two inputs, covering every pair of forms (exact, sparse,
 * dense) and unions that cross the exact and sparse limits. The second range
 * starts halfway into the first. */
static const uint64_t merge_sizes[][2] = {
    {0, 0}, {0, 5}, {3, 4}, {200, 200}, {256, 1}, {256, 256}, {150, 5000},
    {5000, 10}, {3000, 4000}, {8000, 9000}, {3000, 30000}, {30000, 3000},
    {30000, 200000}, {200000, 100},
};

Test(hll, merge_equals_union)
{
    for (size_t t = 0; t < sizeof merge_sizes / sizeof merge_sizes[0]; t++) {
        uint64_t na = merge_sizes[t][0], nb = merge_sizes[t][1];
        tsagg__hll a, b, u;
        tsagg__hll_init(&a);
        tsagg__hll_init(&b);
        tsagg__hll_init(&u);
        add_range(&a, 5, 0, na);
        add_range(&b, 5, na / 2, na / 2 + nb);
        add_range(&u, 5, 0, na / 2 + nb > na ? na / 2 + nb : na);
        cr_assert_eq(tsagg__hll_merge(&a, &b), 0);
        assert_same(&a, &u);
        /* Merging again, or merging with itself, changes nothing. */
        cr_assert_eq(tsagg__hll_merge(&a, &b), 0);
        cr_assert_eq(tsagg__hll_merge(&a, &a), 0);
        assert_same(&a, &u);
        tsagg__hll_fini(&a);
        tsagg__hll_fini(&b);
        tsagg__hll_fini(&u);
    }
}

Test(hll, merge_view_equals_union)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    for (size_t t = 0; t < sizeof merge_sizes / sizeof merge_sizes[0]; t++) {
        uint64_t na = merge_sizes[t][0], nb = merge_sizes[t][1];
        tsagg__hll a, b, u;
        tsagg__hll_init(&a);
        tsagg__hll_init(&b);
        tsagg__hll_init(&u);
        add_range(&a, 6, 0, na);
        add_range(&b, 6, na / 2, na / 2 + nb);
        add_range(&u, 6, 0, na / 2 + nb > na ? na / 2 + nb : na);
        size_t len = ser(&b, buf);
        tsagg__hll_view v;
        cr_assert_eq(tsagg__hll_view_init(&v, buf, len), 0);
        cr_assert_eq(tsagg__hll_view_estimate(&v), tsagg__hll_estimate(&b));
        cr_assert_eq(tsagg__hll_merge_view(&a, &v), 0);
        assert_same(&a, &u);
        /* The one-pass merge of unchecked bytes gives the same. */
        tsagg__hll_reset(&a);
        add_range(&a, 6, 0, na);
        cr_assert_eq(tsagg__hll_merge_serialized(&a, buf, len), 0);
        assert_same(&a, &u);
        tsagg__hll_fini(&a);
        tsagg__hll_fini(&b);
        tsagg__hll_fini(&u);
    }
}

Test(hll, merge_commutative_and_associative)
{
    const uint64_t sizes[][3] = {{2, 3, 4}, {100, 90, 80}, {200, 150, 300},
                                 {100, 2000, 7}, {40000, 3, 90000}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        tsagg__hll x[3], ab, ba, ab_c, b_c, a_bc;
        for (int i = 0; i < 3; i++) {
            tsagg__hll_init(&x[i]);
            add_range(&x[i], 11, 1000 * (uint64_t)i, 1000 * (uint64_t)i + sizes[t][i]);
        }
        tsagg__hll_init(&ab);
        tsagg__hll_init(&ba);
        tsagg__hll_init(&b_c);
        tsagg__hll_init(&a_bc);
        cr_assert_eq(tsagg__hll_merge(&ab, &x[0]), 0);
        cr_assert_eq(tsagg__hll_merge(&ab, &x[1]), 0);
        cr_assert_eq(tsagg__hll_merge(&ba, &x[1]), 0);
        cr_assert_eq(tsagg__hll_merge(&ba, &x[0]), 0);
        assert_same(&ab, &ba);
        ab_c = ab; /* takes over ab's buffers: (a+b)+c is built in place */
        cr_assert_eq(tsagg__hll_merge(&ab_c, &x[2]), 0);
        cr_assert_eq(tsagg__hll_merge(&b_c, &x[1]), 0);
        cr_assert_eq(tsagg__hll_merge(&b_c, &x[2]), 0);
        cr_assert_eq(tsagg__hll_merge(&a_bc, &x[0]), 0);
        cr_assert_eq(tsagg__hll_merge(&a_bc, &b_c), 0);
        assert_same(&ab_c, &a_bc);
        for (int i = 0; i < 3; i++)
            tsagg__hll_fini(&x[i]);
        tsagg__hll_fini(&ab_c);
        tsagg__hll_fini(&ba);
        tsagg__hll_fini(&b_c);
        tsagg__hll_fini(&a_bc);
    }
}

Test(hll, round_trip)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX], again[TSAGG__HLL_SERIALIZED_MAX];
    const uint64_t ns[] = {0, 1, 2, 3, 100, 255, 256, 257, 1000, 10000, 11000, 1000000};
    tsagg__hll h, d;
    tsagg__hll_init(&h);
    tsagg__hll_init(&d);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        tsagg__hll_reset(&h);
        add_range(&h, 21, 0, ns[i]);
        size_t len = ser(&h, buf);
        cr_assert_eq(tsagg__hll_deserialize(&d, buf, len), 0);
        assert_same(&h, &d);
        cr_assert_eq(ser(&d, again), len);
        cr_assert(memcmp(buf, again, len) == 0);
        /* Too small a buffer: refused, nothing written. */
        memset(again, 0xAA, len);
        cr_assert_eq(tsagg__hll_serialize(&h, again, len - 1), TSAGG_EARG);
        cr_assert_eq(again[0], 0xAA);
    }
    tsagg__hll_fini(&h);
    tsagg__hll_fini(&d);
}

Test(hll, reserve_and_reset_reuse)
{
    tsagg__hll r, plain;
    tsagg__hll_init(&r);
    tsagg__hll_init(&plain);
    add_range(&r, 3, 0, 300);
    cr_assert_eq(tsagg__hll_reserve(&r), 0);
    add_range(&plain, 3, 0, 300);
    assert_same(&r, &plain);
    /* Across the exact -> dense switch and back through reset. */
    for (int round = 0; round < 3; round++) {
        uint64_t n = round == 1 ? 50000 : round == 0 ? 100 : 700;
        tsagg__hll_reset(&r);
        tsagg__hll_reset(&plain);
        add_range(&r, 30 + (uint64_t)round, 0, n);
        add_range(&plain, 30 + (uint64_t)round, 0, n);
        assert_same(&r, &plain);
    }
    tsagg__hll_fini(&r);
    tsagg__hll_fini(&plain);
}

static int deser(const uint8_t *buf, size_t len)
{
    tsagg__hll h;
    tsagg__hll_init(&h);
    int rc = tsagg__hll_deserialize(&h, buf, len);
    tsagg__hll_view v;
    cr_assert_eq(tsagg__hll_view_init(&v, buf, len), rc);
    if (rc)
        cr_assert_eq(tsagg__hll_estimate(&h), 0.0, "left empty on failure");
    tsagg__hll_fini(&h);
    return rc;
}

/* An exact sketch from values (not mixed), in the given order. */
static size_t make_exact(uint8_t *buf, const uint64_t *vals, uint32_t n)
{
    uint8_t *p = buf;
    *p++ = 1, *p++ = TSAGG__HLL_FORM_EXACT, *p++ = 14;
    p += tsagg__put_varint(p, n);
    for (uint32_t e = 0; e < n; e++, p += 8)
        tsagg__put_u64(p, vals[e]);
    return (size_t)(p - buf);
}

Test(hll, corrupt_exact)
{
    uint8_t buf[64];
    tsagg__hll h;
    tsagg__hll_init(&h);
    add_range(&h, 1, 0, 4);
    size_t len = ser(&h, buf);
    cr_assert_eq(deser(buf, len), 0);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(deser(buf, cut), TSAGG_ECORRUPT, "truncated at %zu", cut);
    buf[len] = 0;
    cr_assert_eq(deser(buf, len + 1), TSAGG_ECORRUPT, "trailing byte");
    uint8_t b[64];
#define MUT(i, v, want)                                                                  \
    do {                                                                                 \
        memcpy(b, buf, len);                                                             \
        b[i] = (v);                                                                      \
        cr_assert_eq(deser(b, len), (want), "byte %d = %d", (int)(i), (int)(v));         \
    } while (0)
    MUT(0, 2, TSAGG_EVERSION);
    MUT(0, 0, TSAGG_EVERSION);
    MUT(1, 0, TSAGG_ECORRUPT);
    MUT(1, 4, TSAGG_ECORRUPT);
    MUT(1, 2, TSAGG_ECORRUPT); /* an exact body is no sparse body */
    MUT(1, 3, TSAGG_ECORRUPT); /* nor a dense one */
    MUT(2, 12, TSAGG_ECORRUPT);
    MUT(2, 16, TSAGG_ECORRUPT);
    MUT(3, 5, TSAGG_ECORRUPT); /* count disagrees with the body */
    MUT(3, 3, TSAGG_ECORRUPT);
#undef MUT
    tsagg__hll_fini(&h);

    /* Hand-made exact bodies. */
    static uint64_t vals[TSAGG__HLL_EXACT_MAX + 1];
    static uint8_t x[8 * (TSAGG__HLL_EXACT_MAX + 1) + 8];
    vals[0] = 0, vals[1] = 5;
    cr_assert_eq(deser(x, make_exact(x, vals, 2)), 0);
    vals[1] = 0; /* the same value twice */
    cr_assert_eq(deser(x, make_exact(x, vals, 2)), TSAGG_ECORRUPT);
    vals[0] = 6, vals[1] = 5; /* decreasing */
    cr_assert_eq(deser(x, make_exact(x, vals, 2)), TSAGG_ECORRUPT);
    vals[0] = UINT64_MAX;
    cr_assert_eq(deser(x, make_exact(x, vals, 1)), 0);
    const uint8_t nonmin_n[] = {1, 1, 14, 0x81, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(deser(nonmin_n, sizeof nonmin_n), TSAGG_ECORRUPT);
    /* More values than an exact set may hold. */
    for (uint32_t i = 0; i <= TSAGG__HLL_EXACT_MAX; i++)
        vals[i] = 1000 + i;
    cr_assert_eq(deser(x, make_exact(x, vals, TSAGG__HLL_EXACT_MAX + 1)), TSAGG_ECORRUPT);
    cr_assert_eq(deser(x, make_exact(x, vals, TSAGG__HLL_EXACT_MAX)), 0);
    cr_assert_eq(deser(NULL, 0), TSAGG_ECORRUPT);
}

Test(hll, corrupt_dense)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX], b[TSAGG__HLL_SERIALIZED_MAX];
    tsagg__hll h;
    tsagg__hll_init(&h);
    add_range(&h, 2, 0, 20000);
    size_t len = ser(&h, buf);
    cr_assert_eq(len, TSAGG__HLL_SERIALIZED_MAX);
    cr_assert_eq(deser(buf, len), 0);
    const size_t cuts[] = {0, 1, 2, 3, 4, 100, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        cr_assert_eq(deser(buf, cuts[i]), TSAGG_ECORRUPT, "truncated at %zu", cuts[i]);
    cr_assert_eq(deser(buf, len), 0);
    memcpy(b, buf, len);
    b[1] = TSAGG__HLL_FORM_EXACT;
    cr_assert_eq(deser(b, len), TSAGG_ECORRUPT);
    b[1] = TSAGG__HLL_FORM_SPARSE;
    cr_assert_eq(deser(b, len), TSAGG_ECORRUPT);
    memcpy(b, buf, len);
    b[2] = 15;
    cr_assert_eq(deser(b, len), TSAGG_ECORRUPT);

    /* Ranks: 51 = 64 - p + 1 is the largest a hash can give; 52 and up are
     * corrupt, in a plane's low bits and in the split registers alike. */
    const size_t plane = TSAGG__HLL_M / 4, body = 3;
    memcpy(b, buf, len);
    b[body + 1234] = (uint8_t)((b[body + 1234] & 0xc0) | 51);
    cr_assert_eq(deser(b, len), 0);
    b[body + 1234] = (uint8_t)((b[body + 1234] & 0xc0) | 52);
    cr_assert_eq(deser(b, len), TSAGG_ECORRUPT);
    memcpy(b, buf, len);
    b[body + 2 * plane + 4095] = (uint8_t)((b[body + 2 * plane + 4095] & 0x3f) | 0xc0);
    b[body + plane + 4095] = (uint8_t)((b[body + plane + 4095] & 0x3f) | 0x40); /* 52 */
    b[body + 4095] &= 0x3f;
    cr_assert_eq(deser(b, len), TSAGG_ECORRUPT);
    b[body + 4095] = (uint8_t)(b[body + 4095] | 0xc0); /* 55 */
    cr_assert_eq(deser(b, len), TSAGG_ECORRUPT);
    b[body + plane + 4095] &= 0x3f; /* 0b110011 = 51 */
    cr_assert_eq(deser(b, len), 0);
    tsagg__hll_fini(&h);
}

/* A sparse sketch from (index, rank) pairs in increasing index order, with
 * the skip entries the format asks for. */
static size_t make_sparse(uint8_t *buf, const uint32_t *idx, const uint8_t *rank, uint32_t n)
{
    uint16_t ent[TSAGG__HLL_SPARSE_MAX + 64];
    uint32_t k = 0, next = 0;
    for (uint32_t e = 0; e < n; e++) {
        for (; idx[e] - next > 1023; next += 1024)
            ent[k++] = 0xffc0;
        ent[k++] = (uint16_t)((idx[e] - next) << 6 | rank[e]);
        next = idx[e] + 1;
    }
    uint8_t *p = buf;
    *p++ = 1, *p++ = TSAGG__HLL_FORM_SPARSE, *p++ = 14;
    p += tsagg__put_varint(p, k);
    for (uint32_t e = 0; e < k; e++, p += 2)
        tsagg__put_u16(p, ent[e]);
    return (size_t)(p - buf);
}

Test(hll, corrupt_sparse)
{
    uint8_t buf[64];
    uint32_t idx[3] = {0, 7, TSAGG__HLL_M - 1};
    uint8_t rank[3] = {1, 51, 9};
    size_t len = make_sparse(buf, idx, rank, 3);
    /* 0, 7, then 16376 registers on: 15 skips and an entry of gap 1015. */
    cr_assert_eq(len, 3 + 1 + 2 * 18);
    cr_assert_eq(deser(buf, len), 0);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(deser(buf, cut), TSAGG_ECORRUPT, "truncated at %zu", cut);
    buf[len] = 0;
    buf[len + 1] = 0;
    cr_assert_eq(deser(buf, len + 1), TSAGG_ECORRUPT, "trailing byte");
    cr_assert_eq(deser(buf, len + 2), TSAGG_ECORRUPT, "trailing entry");
    buf[3]++; /* one entry more than the body holds */
    cr_assert_eq(deser(buf, len), TSAGG_ECORRUPT);
    buf[3] -= 2; /* one less */
    cr_assert_eq(deser(buf, len), TSAGG_ECORRUPT);

    rank[1] = 0; /* a zero register is never listed */
    cr_assert_eq(deser(buf, make_sparse(buf, idx, rank, 3)), TSAGG_ECORRUPT);
    rank[1] = 52;
    cr_assert_eq(deser(buf, make_sparse(buf, idx, rank, 3)), TSAGG_ECORRUPT);
    rank[1] = 63;
    cr_assert_eq(deser(buf, make_sparse(buf, idx, rank, 3)), TSAGG_ECORRUPT);
    rank[1] = 51;
    idx[2] = TSAGG__HLL_M; /* past the last register */
    cr_assert_eq(deser(buf, make_sparse(buf, idx, rank, 3)), TSAGG_ECORRUPT);
    idx[2] = TSAGG__HLL_M - 1;

    /* Skips: only 0xffc0, only where needed, never last. */
    len = make_sparse(buf, idx, rank, 3);
    buf[len - 2] = 0xc0, buf[len - 1] = 0xff; /* the last entry a skip */
    cr_assert_eq(deser(buf, len), TSAGG_ECORRUPT);
    len = make_sparse(buf, idx, rank, 2);
    cr_assert_eq(deser(buf, len), 0);
    buf[len - 2] = 0x00, buf[len - 1] = 0x01; /* g = 4, rank 0 */
    cr_assert_eq(deser(buf, len), TSAGG_ECORRUPT);
    const uint8_t skip_then_one[] = {1, 2, 14, 2, 0xc0, 0xff, 0x01, 0x00};
    cr_assert_eq(deser(skip_then_one, sizeof skip_then_one), 0); /* register 1024 */

    /* An empty sparse list is a valid (if unusual) register sketch. */
    cr_assert_eq(deser(buf, make_sparse(buf, idx, rank, 0)), 0);
    /* More entries than the sparse form may hold. */
    uint8_t many[8] = {1, 2, 14};
    cr_assert_eq(deser(many, 3 + tsagg__put_varint(many + 3, TSAGG__HLL_SPARSE_MAX + 17)),
                 TSAGG_ECORRUPT);
    const uint8_t nonmin_k[] = {1, 2, 14, 0x81, 0x00, 0x41, 0x00};
    cr_assert_eq(deser(nonmin_k, sizeof nonmin_k), TSAGG_ECORRUPT);
}

Test(hll, sparse_limit)
{
    /* 6000 non-zero registers with the widest gaps (so the most skips) are
     * still sparse and fit; 6001 are written dense. */
    static uint32_t idx[TSAGG__HLL_SPARSE_MAX + 1];
    static uint8_t rank[TSAGG__HLL_SPARSE_MAX + 1], buf[2 * TSAGG__HLL_SERIALIZED_MAX],
        again[TSAGG__HLL_SERIALIZED_MAX];
    for (uint32_t e = 0; e < TSAGG__HLL_SPARSE_MAX; e++) {
        idx[e] = e < 10 ? 1025 * e + 1024 : 10249 + (e - 9); /* 10 skips */
        rank[e] = TSAGG__HLL_RANK_MAX;
    }
    cr_assert_lt(idx[TSAGG__HLL_SPARSE_MAX - 1], TSAGG__HLL_M);
    size_t len = make_sparse(buf, idx, rank, TSAGG__HLL_SPARSE_MAX);
    cr_assert_leq(len, TSAGG__HLL_SERIALIZED_MAX, "len %zu", len);
    tsagg__hll h;
    tsagg__hll_init(&h);
    cr_assert_eq(tsagg__hll_deserialize(&h, buf, len), 0);
    cr_assert_eq(ser(&h, again), len);
    cr_assert(memcmp(buf, again, len) == 0);
    /* A sparse list with one register more is not canonical. */
    idx[TSAGG__HLL_SPARSE_MAX] = TSAGG__HLL_M - 1;
    rank[TSAGG__HLL_SPARSE_MAX] = 1;
    len = make_sparse(buf, idx, rank, TSAGG__HLL_SPARSE_MAX + 1);
    cr_assert_eq(deser(buf, len), TSAGG_ECORRUPT);
    /* Through the API, that sketch is dense. */
    cr_assert_eq(tsagg__hll_merge_serialized(&h, buf, 3), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__hll_deserialize(&h, buf, make_sparse(buf, idx, rank, 3000)), 0);
    cr_assert_eq(tsagg__hll_merge_serialized(&h, buf, make_sparse(buf, idx + 3000, rank + 3000,
                                                                   3001)), 0);
    cr_assert_eq(ser(&h, again), TSAGG__HLL_SERIALIZED_MAX);
    cr_assert_eq(again[1], TSAGG__HLL_FORM_DENSE);
    tsagg__hll_fini(&h);
}

Test(hll, dense_needs_many_registers)
{
    /* A dense body with at most 6000 non-zero registers should have been
     * sparse: not canonical, refused. */
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    memset(buf, 0, sizeof buf);
    buf[0] = 1, buf[1] = TSAGG__HLL_FORM_DENSE, buf[2] = 14;
    for (uint32_t j = 0; j < TSAGG__HLL_SPARSE_MAX; j++)
        buf[3 + j] = 1; /* registers 0..5999 */
    cr_assert_eq(deser(buf, sizeof buf), TSAGG_ECORRUPT);
    buf[3 + TSAGG__HLL_SPARSE_MAX] = 1;
    cr_assert_eq(deser(buf, sizeof buf), 0);
}

Test(hll, corrupt_merge_leaves_nothing_behind)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    const uint64_t ns[] = {5, 3000, 50000};
    tsagg__hll src, dst;
    tsagg__hll_init(&src);
    tsagg__hll_init(&dst);
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        tsagg__hll_reset(&src);
        add_range(&src, 4, 0, ns[t]);
        size_t len = ser(&src, buf);
        /* Corrupt the last byte: the damage is found only at the end. */
        uint8_t keep = buf[len - 1];
        buf[len - 1] = t == 0 ? 0 : 0xff;
        if (t == 0) /* exact: make the last value smaller than the one before */
            memset(buf + len - 8, 0, 8);
        add_range(&dst, 4, 100000, 100000 + 10 * ns[t]);
        cr_assert_eq(tsagg__hll_merge_serialized(&dst, buf, len), TSAGG_ECORRUPT, "n=%lu",
                     (unsigned long)ns[t]);
        cr_assert_eq(tsagg__hll_estimate(&dst), 0.0);
        cr_assert(tsagg__hll_is_exact(&dst));
        buf[len - 1] = keep;
    }
    tsagg__hll_fini(&src);
    tsagg__hll_fini(&dst);
}

Test(hll, random_mutations_fail_cleanly_or_round_trip)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX], b[TSAGG__HLL_SERIALIZED_MAX],
        again[TSAGG__HLL_SERIALIZED_MAX];
    const uint64_t ns[] = {1, 5, 300, 3000};
    uint64_t seed = 1234;
    tsagg__hll h, d;
    tsagg__hll_init(&h);
    tsagg__hll_init(&d);
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        tsagg__hll_reset(&h);
        add_range(&h, 8, 0, ns[t]);
        size_t len = ser(&h, buf);
        for (int round = 0; round < 2000; round++) {
            memcpy(b, buf, len);
            size_t blen = len;
            int edits = 1 + (int)(tu_splitmix64(&seed) % 3);
            for (int e = 0; e < edits; e++)
                b[tu_splitmix64(&seed) % len] ^= (uint8_t)(1u << (tu_splitmix64(&seed) % 8));
            if (tu_splitmix64(&seed) % 4 == 0)
                blen = tu_splitmix64(&seed) % (len + 1);
            int rc = tsagg__hll_deserialize(&d, b, blen);
            cr_assert(rc == 0 || rc == TSAGG_ECORRUPT || rc == TSAGG_EVERSION, "rc %d", rc);
            tsagg__hll_view v;
            cr_assert_eq(tsagg__hll_view_init(&v, b, blen), rc);
            if (rc == 0) {
                cr_assert_eq(tsagg__hll_view_estimate(&v), tsagg__hll_estimate(&d));
                cr_assert_eq(ser(&d, again), blen);
                cr_assert(memcmp(b, again, blen) == 0, "accepted input is canonical");
            }
        }
    }
    tsagg__hll_fini(&h);
    tsagg__hll_fini(&d);
}

/*
 * Known answers: the serialized bytes of fixed inputs. These fail on any
 * change of the mixer, the rank/index split, the ordering or the encoding:
 * every such change is a format change and needs a new format version.
 */
Test(hll, known_answers)
{
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    tsagg__hll h;
    tsagg__hll_init(&h);

    const uint64_t ids[] = {1, 2, 3};
    cr_assert_eq(tsagg__hll_add_many(&h, ids, 3), 0);
    /* version 1, exact, p 14, n 3, then the three mixed hashes (u64 LE) in order */
    const uint8_t want3[] = {
        0x01, 0x01, 0x0e, 0x03, 0xdc, 0xd6, 0x6a, 0x3d, 0x4b, 0xef, 0xdc, 0x5f, 0xd5, 0xee,
        0x3e, 0xe1, 0x25, 0xc0, 0xfd, 0xe5, 0xc5, 0x77, 0xd8, 0xb6, 0x53, 0x63, 0xf7, 0xf8,
    };
    size_t len = ser(&h, buf);
    cr_assert_eq(len, sizeof want3);
    cr_assert(memcmp(buf, want3, len) == 0);

    const struct {
        uint64_t n;
        size_t len;
        uint64_t xxh64;
    } kat[] = {
        {0, 4, 0x34e5eefc393b5e35ull}, /* exact */
        {1, 12, 0xf120f0f64f371d2bull},
        {3, 28, 0xf00bd11ee6440aaeull},
        {100, 804, 0x4beafaa76e9ed7ccull},
        {256, 2053, 0xa049e8e872ddb84dull},
        {257, 515, 0xe532959017d2a20bull}, /* sparse */
        {5000, 8691, 0x53c25cd331861b74ull},
        {20000, 12291, 0x447be55c165c55cdull}, /* dense */
        {1000000, 12291, 0xbbb9a3c1e02ddd76ull},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        tsagg__hll_reset(&h);
        add_range(&h, 42, 0, kat[i].n);
        len = ser(&h, buf);
        cr_assert_eq(len, kat[i].len, "n=%lu len=%zu want %zu", (unsigned long)kat[i].n, len, kat[i].len);
        cr_assert_eq(XXH64(buf, len, 0), kat[i].xxh64, "n=%lu xxh64=0x%016llx",
                     (unsigned long)kat[i].n, (unsigned long long)XXH64(buf, len, 0));
    }
    tsagg__hll_fini(&h);
}

/* A cache's view of a sketch: its serialized bytes, but for a sparse form
 * of thousands of entries, which is kept as dense planes; either way the
 * merges and estimates of the serialized view, alone and with others. */
Test(hll, cache_view_merges_and_estimates_as_the_serialized_one)
{
    static const uint64_t sizes[] = {10, 300, 2000, 4000, 5200, 30000};
    static uint8_t sbuf[TSAGG__HLL_SERIALIZED_MAX], cbuf[TSAGG__HLL_SERIALIZED_MAX],
        obuf[TSAGG__HLL_SERIALIZED_MAX];
    tsagg__hll other;
    tsagg__hll_init(&other);
    add_range(&other, 8, 0, 700);
    tsagg__hll_view ov;
    cr_assert_eq(tsagg__hll_view_init(&ov, obuf, ser(&other, obuf)), 0);
    int kept_dense = 0;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        tsagg__hll h;
        tsagg__hll_init(&h);
        add_range(&h, 7, 0, sizes[t]);
        size_t slen = ser(&h, sbuf), clen = tsagg__hll_cache_size(&h);
        tsagg__hll_view sv, cv;
        cr_assert_eq(tsagg__hll_view_init(&sv, sbuf, slen), 0);
        cr_assert_eq(tsagg__hll_cache_view(&h, cbuf, clen - 1, &cv), TSAGG_EARG);
        cr_assert_eq(tsagg__hll_cache_view(&h, cbuf, clen, &cv), 0);
        if (sv.form == TSAGG__HLL_FORM_SPARSE && sv.n >= TSAGG__HLL_CACHE_DENSE_ENTRIES) {
            kept_dense++;
            cr_assert_eq(cv.form, TSAGG__HLL_FORM_DENSE, "%" PRIu64 " ids", sizes[t]);
            cr_assert_eq(clen, TSAGG__HLL_DENSE_BODY);
        } else {
            cr_assert_eq(clen, slen, "%" PRIu64 " ids", sizes[t]);
            cr_assert(memcmp(cbuf, sbuf, slen) == 0);
            cr_assert_eq(cv.form, sv.form);
        }
        cr_assert_eq(tsagg__hll_view_estimate(&cv), tsagg__hll_view_estimate(&sv));
        const tsagg__hll_view *with_c[] = {&ov, &cv}, *with_s[] = {&ov, &sv};
        cr_assert_eq(tsagg__hll_views_estimate(with_c, 2), tsagg__hll_views_estimate(with_s, 2),
                     "%" PRIu64 " ids", sizes[t]);
        cr_assert_eq(tsagg__hll_views_estimate(with_c + 1, 1), tsagg__hll_views_estimate(with_s + 1, 1));
        /* Merged into an exact sketch and into a sketch of registers. */
        for (int into = 0; into < 2; into++) {
            tsagg__hll a, b;
            tsagg__hll_init(&a);
            tsagg__hll_init(&b);
            add_range(&a, 9, 0, into ? 9000 : 20);
            add_range(&b, 9, 0, into ? 9000 : 20);
            cr_assert_eq(tsagg__hll_merge_view(&a, &cv), 0);
            cr_assert_eq(tsagg__hll_merge_view(&b, &sv), 0);
            assert_same(&a, &b);
            tsagg__hll_fini(&a);
            tsagg__hll_fini(&b);
        }
        tsagg__hll_fini(&h);
    }
    cr_assert_geq(kept_dense, 2, "sizes that give thousands of sparse entries");
    tsagg__hll_fini(&other);
}
