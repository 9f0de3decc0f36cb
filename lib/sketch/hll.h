/*
 * hll.h - mergeable unique-count sketch (HyperLogLog, p = 14) for the
 * per-merchant, per-hour unique users / sessions rollups. docs/hll.md has the
 * algorithm, the measured error and the byte-exact serialized format.
 *
 * A sketch has two states, and which one it is depends only on the set of
 * distinct inputs it has seen, never on the order of adds and merges:
 *
 *   exact      up to TSAGG__HLL_EXACT_MAX distinct inputs: the set itself
 *              (64-bit mixed hashes); estimate() is the exact distinct count.
 *   registers  beyond: 16384 registers (ranks 0..51), Ertl's improved
 *              estimator, standard error 1.04/sqrt(16384) = 0.81%.
 *              Serialized sparse (the non-zero registers) while at most
 *              TSAGG__HLL_SPARSE_MAX are non-zero, dense (6 bits each) after.
 *
 * So merge(a, b) leaves a in exactly the state (and the serialized bytes) it
 * would have had after adding the union of both inputs.
 *
 * Inputs are 64-bit ids that are usually hashes already (XXH64 of a string id);
 * every input goes through a bijective 64-bit mixer first, so small integer ids
 * spread too and the exact count is a count of distinct inputs.
 *
 * Threads: a sketch is not synchronised. Concurrent calls that take it const
 * (estimate, serialize, merge from it) are safe; anything else needs a lock.
 * Views are read-only and may be shared freely while their bytes live.
 */
#ifndef TSAGG_HLL_H
#define TSAGG_HLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSAGG__HLL_P 14
#define TSAGG__HLL_M (1u << TSAGG__HLL_P) /* registers */
#define TSAGG__HLL_RANK_MAX (64 - TSAGG__HLL_P + 1) /* largest register value: 51 */
#define TSAGG__HLL_EXACT_MAX 256u /* the largest exact set; one more: registers */
/* The most non-zero registers serialized sparse: 2 bytes each plus at most
 * 15 skips, so a sparse body (at most 12030 bytes) never outgrows the dense
 * one (12288). */
#define TSAGG__HLL_SPARSE_MAX 6000u
#define TSAGG__HLL_VERSION 1

/* Serialized form tags (byte 1 of the format). */
#define TSAGG__HLL_FORM_EXACT 1
#define TSAGG__HLL_FORM_SPARSE 2
#define TSAGG__HLL_FORM_DENSE 3

#define TSAGG__HLL_HEADER_SIZE 3
#define TSAGG__HLL_DENSE_BODY (TSAGG__HLL_M * 6 / 8) /* 12288: 6 bits a register */
/* No serialized sketch is longer (exact: at most 3+2+256*8 bytes; sparse: at
 * most 3+2+12030 bytes). */
#define TSAGG__HLL_SERIALIZED_MAX (TSAGG__HLL_HEADER_SIZE + TSAGG__HLL_DENSE_BODY)

/*
 * The sketch. Embed it or allocate it; initialise with tsagg__hll_init (no
 * allocation) and release with tsagg__hll_fini. Fields are private.
 */
typedef struct tsagg__hll {
    uint64_t *tab; /* exact: open-addressing set of the non-zero mixed hashes */
    uint8_t *reg; /* registers: TSAGG__HLL_M of them, one byte each */
    uint32_t cap; /* slots in tab (0 or a power of two) */
    uint32_t n; /* exact: distinct values, the mixed hash 0 included */
    bool dense; /* registers, not exact */
    bool has_zero; /* exact: the mixed hash 0 is in the set */
    bool reserved; /* tsagg__hll_reserve ran: keep every buffer */
    bool hist_ok; /* registers: hist counts them (kept by inserts, not merges) */
    uint32_t *hist; /* registers per value 0..63, or NULL */
} tsagg__hll;

/* An empty exact sketch. Never fails, never allocates. */
void tsagg__hll_init(tsagg__hll *h);

/* Free the sketch's memory, leaving it as after tsagg__hll_init. NULL is
 * accepted. */
void tsagg__hll_fini(tsagg__hll *h);

/* Empty the sketch, keeping its buffers for reuse (compactor: one sketch per
 * merchant-hour, reset between them). */
void tsagg__hll_reset(tsagg__hll *h);

/*
 * Allocate up front everything the sketch can ever need (about 20 KiB), so
 * that no later add/merge/deserialize on it allocates or fails with -ENOMEM.
 * Kept across reset. 0 or -ENOMEM. Tests only: the query's
 * accumulators take the exact table alone (tsagg__hll_room), since most
 * never need registers.
 */
int tsagg__hll_reserve(tsagg__hll *h);

/* Add one 64-bit input (a user / session id or its hash). 0, or -ENOMEM
 * (then the sketch is unchanged). */
int tsagg__hll_add(tsagg__hll *h, uint64_t input);

/* Add n inputs. 0 or -ENOMEM (then some of them may have been added: the
 * sketch stays valid, re-adding all is harmless). Tests only. */
int tsagg__hll_add_many(tsagg__hll *h, const uint64_t *inputs, size_t n);

/* Add n hashes already mixed (tsagg__hll_mix): the query's row scans mix a
 * run of ids in one loop, then insert them. Errors as tsagg__hll_add_many. */
int tsagg__hll_insert_many(tsagg__hll *h, const uint64_t *mixed, size_t n);

/* dst becomes the sketch of the union; src is unchanged (dst == src is fine).
 * 0 or -ENOMEM (dst stays valid, holding a subset of the union). */
int tsagg__hll_merge(tsagg__hll *dst, const tsagg__hll *src);

/* The estimated number of distinct inputs: exact in the exact form. */
double tsagg__hll_estimate(const tsagg__hll *h);

/* True while the sketch holds the exact set (estimate is a true count). */
bool tsagg__hll_is_exact(const tsagg__hll *h);

/* ---- serialization (format: docs/hll.md) ---- */

/* The exact number of bytes tsagg__hll_serialize writes for h. */
size_t tsagg__hll_serialized_size(const tsagg__hll *h);

/*
 * Write h into buf (cap bytes; TSAGG__HLL_SERIALIZED_MAX always suffices).
 * Returns the number of bytes written (> 0), or TSAGG_EARG when cap is too
 * small (nothing is written). The bytes are canonical: equal sketches give
 * equal bytes.
 */
int tsagg__hll_serialize(const tsagg__hll *h, uint8_t *buf, size_t cap);

/*
 * Replace the contents of h (initialised) by the sketch serialized in exactly
 * len bytes. 0; TSAGG_EVERSION for an unknown format version; TSAGG_ECORRUPT
 * for anything else malformed (truncated, trailing bytes, bad form or p, a
 * rank above TSAGG__HLL_RANK_MAX, hashes not strictly increasing, more
 * entries than the form allows, a sketch in the wrong form for its size, a
 * non-canonical count or skip entry); -ENOMEM. On failure h is left empty.
 * Every accepted input re-serializes to the same bytes. Tests only (and
 * the fuzzer): the library reads sketches through views.
 */
int tsagg__hll_deserialize(tsagg__hll *h, const uint8_t *buf, size_t len);

/*
 * A validated, non-owning view of a serialized sketch: the query path merges
 * views straight into an accumulator without decoding them into a sketch.
 * The bytes must outlive the view.
 */
typedef struct tsagg__hll_view {
    const uint8_t *body; /* exact: u64 hashes; sparse: u16 entries; dense: planes */
    size_t body_len;
    uint32_t n; /* exact: number of hashes; sparse: number of entries */
    uint8_t form; /* TSAGG__HLL_FORM_* */
} tsagg__hll_view;

/* Check the len bytes at buf completely (same errors as deserialize) and set
 * *v. Does not allocate. */
int tsagg__hll_view_init(tsagg__hll_view *v, const uint8_t *buf, size_t len);

/*
 * A view of h for an in-memory cache whose views are merged and estimated
 * many times (the query's span sketches): h serialized, as
 * tsagg__hll_serialize and tsagg__hll_view_init would give, but for a
 * sparse form of TSAGG__HLL_CACHE_DENSE_ENTRIES entries or more, which
 * becomes the dense planes alone (TSAGG__HLL_DENSE_BODY bytes): a sparse
 * entry is placed one at a time (about a nanosecond each, thousands a
 * view), the planes are maxed a kilobyte at a time (a busy merchant's day
 * in its zone, two sparse spans of 1,500 and 2,700 entries, took 4.6 us
 * to estimate). 12 KiB against 2-12 KiB. The same registers, so the same
 * merges and estimates. The dense
 * bytes are no serialized sketch (no header, fewer registers than the
 * format allows dense): never store them.
 * cache_size: the bytes cache_view writes. cache_view: 0, or TSAGG_EARG
 * when cap is short.
 */
#define TSAGG__HLL_CACHE_DENSE_ENTRIES 1024u
size_t tsagg__hll_cache_size(const tsagg__hll *h);
int tsagg__hll_cache_view(const tsagg__hll *h, uint8_t *buf, size_t cap, tsagg__hll_view *v);

/* The estimate of the viewed sketch (as tsagg__hll_estimate would give).
 * Tests only. */
double tsagg__hll_view_estimate(const tsagg__hll_view *v);

/* Merge the viewed sketch into dst, as tsagg__hll_merge would. Allocates only
 * when dst is exact and must grow (never after tsagg__hll_reserve): 0 or
 * -ENOMEM (dst stays valid, holding a subset of the union). A dense view into
 * a register dst is a vectorised byte-wise max (under a microsecond). */
int tsagg__hll_merge_view(tsagg__hll *dst, const tsagg__hll_view *v);

/*
 * Check and merge len serialized bytes into dst in one pass (about half the
 * work of view_init + merge_view). Tests only, and tsagg__hll_deserialize.
 * 0; TSAGG_EVERSION, TSAGG_ECORRUPT as tsagg__hll_deserialize, and then dst
 * is reset to empty so no part of a corrupt sketch reaches a result; -ENOMEM
 * as tsagg__hll_merge_view. Allocation as tsagg__hll_merge_view.
 */
int tsagg__hll_merge_serialized(tsagg__hll *dst, const uint8_t *buf, size_t len);

/*
 * The estimate of the union of n views (1..TSAGG__HLL_VIEWS_MAX), at least
 * one of them sparse or dense, so that the union holds registers: bit for
 * bit what tsagg__hll_estimate gives for a sketch the n views were merged
 * into, in one pass over them by register index (the maximum of each
 * register and the estimator's sums taken together, a kilobyte of
 * registers at a time), with no sketch allocated or written: a day of a
 * busy merchant in its zone is a dense and a sparse span sketch. Does not
 * allocate or fail.
 */
#define TSAGG__HLL_VIEWS_MAX 64
double tsagg__hll_views_estimate(const tsagg__hll_view *const *v, size_t n);

/* ---- internals shared by hll.c and hll_format.c ---- */

/* What the estimator needs from the registers: the sum of 2^(q - r)
 * (q = 64 - p; 2^q for an empty register, modulo 2^64) and the counts of
 * empty and saturated ones. Start from all zero. */
typedef struct tsagg__hll_walk {
    uint64_t s;
    uint32_t c0, cq1;
} tsagg__hll_walk;

/* Add the n registers at reg (n a multiple of 32) to w: AVX2 where the CPU
 * has it (checked at run time), a plain loop elsewhere; the same sums. */
void tsagg__hll_walk_regs(const uint8_t *reg, uint32_t n, tsagg__hll_walk *w);

/* The estimate from a walk of all TSAGG__HLL_M registers. */
double tsagg__hll_walk_estimate(const tsagg__hll_walk *w);

/* Insert an already-mixed hash. */
int tsagg__hll_insert(tsagg__hll *h, uint64_t mixed);

/* Grow an exact sketch's table at once (one allocation) for n more values
 * (at most its largest), so that a merge of n values does not grow it step
 * by step. 0 or -ENOMEM (the sketch unchanged but valid). */
int tsagg__hll_room(tsagg__hll *h, uint32_t n);

/* Switch an exact sketch to registers (those of its set). 0 or -ENOMEM. */
int tsagg__hll_densify(tsagg__hll *h);

/* Ertl's improved estimator from a register histogram c[0..RANK_MAX]. */
double tsagg__hll_estimate_hist(const uint32_t c[TSAGG__HLL_RANK_MAX + 1]);

/* The exact set in increasing order into out (h->n values); returns h->n. */
uint32_t tsagg__hll_sorted(const tsagg__hll *h, uint64_t *out);

/* The input mixer: murmur3's fmix64 of the input plus a constant. A bijection,
 * so distinct inputs stay distinct; the constant keeps input 0 (a common
 * "no user" id) away from the extreme hash 0. Part of the format: changing it
 * changes every serialized sketch. */
static inline uint64_t tsagg__hll_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Register index and rank of a mixed hash: top p bits, then 1 + the leading
 * zeros of the remaining 50 bits (51 when they are all zero). */
static inline uint32_t tsagg__hll_index(uint64_t mixed)
{
    return (uint32_t)(mixed >> (64 - TSAGG__HLL_P));
}

static inline uint8_t tsagg__hll_rank(uint64_t mixed)
{
    uint64_t w = (mixed << TSAGG__HLL_P) | (1ull << (TSAGG__HLL_P - 1));
    return (uint8_t)(__builtin_clzll(w) + 1);
}

#endif
