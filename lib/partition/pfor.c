/*
 * pfor.c - the PFOR section: frame of reference + bit packing with
 * exceptions. Layout in enc_internal.h and docs/encodings.md.
 *
 * Why exceptions: a block of the time column is sorted within a merchant's
 * run but jumps back (or far forward) where the next merchant starts; a
 * revenue block is mostly 0 with a few prices. Plain FOR would size every
 * value for the one outlier. Here values whose zigzag form needs more than
 * `limit` bits are stored apart as (gap, value) varints, the rest are packed
 * as offsets from their minimum.
 *
 * Choosing `limit`: pass 1 gathers, per zigzag bit width, the count and
 * the min/max of the values. That gives, for every limit 0..64, the exact
 * frame (base and width) of the inliers and the exact value bytes of the
 * exceptions; only the exceptions' gap bytes are estimated. Pass 2 measures
 * the gaps of the best limit, so that the size reported is exact.
 */
#include "enc_internal.h"
#include "tsagg_errors.h"

/* Zigzag bit width: the number of bits an exception-free packing around 0
 * would need for x; the exception test of both passes and the writer. */
static inline unsigned zz_bits(uint64_t x)
{
    return enc_bits(tsagg__zigzag((int64_t)x));
}

/* Pass 1 keeps the zigzag widths of this many first values (a row
 * group's) for pass 2, which then only compares bytes. A multiple of
 * ENC_CHUNK. */
#define PFOR_KEPT_CLASSES 4096

/* Bit 8j + 7 set when class cls[j] > t, for 8 classes (each <= 64, so
 * adding 127 - t to a byte carries into no other). */
static inline uint64_t classes_over(const uint8_t *cls, unsigned t)
{
    uint64_t ones = UINT64_C(0x0101010101010101);
    return (enc_ld64(cls) + ones * (127 - t)) & ones << 7;
}

/* Exact size of the section header + packed bytes for the given frame. */
static size_t head_size(uint64_t base, unsigned width, size_t nexc, size_t n)
{
    return enc_varint_len(tsagg__zigzag((int64_t)base)) + 1 + enc_varint_len(nexc) +
           tsagg__bitpack_size(n, width);
}

/* Pass 1 over one chunk: the per-width statistics, the widths kept, and
 * with count_u the counts of the values' own bit lengths. Inlined with
 * count_u constant, so that the plain plan pays nothing for it. */
static inline __attribute__((always_inline)) void
pass1_chunk(const uint64_t *tmp, size_t cnt, uint8_t *keep, uint32_t (*cnt4)[65],
            int64_t (*lo4)[65], int64_t (*hi4)[65], uint32_t *cnt_u, int count_u)
{
    for (size_t i = 0; i < cnt; i++) {
        int64_t x = (int64_t)tmp[i];
        unsigned b = zz_bits(tmp[i]), k = i & 3;
        if (keep)
            keep[i] = (uint8_t)b;
        if (count_u)
            cnt_u[enc_bits(tmp[i])]++;
        cnt4[k][b]++;
        lo4[k][b] = x < lo4[k][b] ? x : lo4[k][b];
        hi4[k][b] = x > hi4[k][b] ? x : hi4[k][b];
    }
}

void tsagg__pfor_plan(enc_fill_fn fill, const void *ctx, size_t n, pfor_plan *plan)
{
    tsagg__pfor_plan_counting(fill, ctx, n, plan, NULL);
}

void tsagg__pfor_plan_counting(enc_fill_fn fill, const void *ctx, size_t n, pfor_plan *plan,
                               enc_class_counts *counts)
{
    uint64_t tmp[ENC_CHUNK];
    uint8_t kept[PFOR_KEPT_CLASSES]; /* zz_bits of the first values */
    /* Per zigzag width b: count, min and max of the values. Four copies, so
     * that runs of equal widths do not serialise on one counter. */
    uint32_t cnt4[4][65] = {{0}};
    int64_t lo4[4][65], hi4[4][65];
    for (unsigned k = 0; k < 4; k++)
        for (unsigned b = 0; b <= 64; b++) {
            lo4[k][b] = INT64_MAX;
            hi4[k][b] = INT64_MIN;
        }

    /* Pass 1: the per-width statistics. */
    if (counts)
        memset(counts->u, 0, sizeof counts->u);
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t cnt = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        fill(ctx, i0, cnt, tmp);
        uint8_t *keep = i0 < PFOR_KEPT_CLASSES ? kept + i0 : NULL;
        if (counts)
            pass1_chunk(tmp, cnt, keep, cnt4, lo4, hi4, counts->u, 1);
        else
            pass1_chunk(tmp, cnt, keep, cnt4, lo4, hi4, NULL, 0);
    }

    /* Inliers of limit t are the widths 0..t: their exact range is a
     * prefix min/max, so the packed width of every t is exact. */
    size_t hist[65];
    int64_t plo[65], phi[65];
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (unsigned b = 0; b <= 64; b++) {
        hist[b] = 0;
        for (unsigned k = 0; k < 4; k++) {
            hist[b] += cnt4[k][b];
            lo = lo4[k][b] < lo ? lo4[k][b] : lo;
            hi = hi4[k][b] > hi ? hi4[k][b] : hi;
        }
        plo[b] = lo;
        phi[b] = hi;
        if (counts)
            counts->z[b] = (uint32_t)hist[b];
    }

    /* Every limit t, walking down from 64 so that the exceptions (values
     * wider than t) accumulate. Only an exception's gap is estimated (from
     * the mean spacing); pass 2 measures the gaps of the chosen t. */
    unsigned best_t = 64;
    size_t best_est = SIZE_MAX, nexc = 0, val_bytes = 0, best_nexc = 0;
    for (unsigned t = 64;; t--) {
        int empty = plo[t] > phi[t]; /* no inliers */
        uint64_t base = empty ? 0 : (uint64_t)plo[t];
        unsigned width = empty ? 0 : enc_bits((uint64_t)phi[t] - (uint64_t)plo[t]);
        size_t e = head_size(base, width, nexc, n) + val_bytes +
                   nexc * enc_varint_len(n / (nexc + 1));
        if (e < best_est) {
            best_est = e;
            best_t = t;
            best_nexc = nexc;
            plan->base = base;
            plan->width = width;
        }
        if (t == 0)
            break;
        nexc += hist[t];
        val_bytes += hist[t] * ((t + 6) / 7);
    }
    plan->limit = best_t;
    plan->nexc = best_nexc;
    plan->size = best_est; /* exact when there are no exceptions */
    if (best_nexc == 0)
        return;

    /* Pass 2: the exact gap bytes of the chosen limit, from the classes
     * pass 1 kept (values past PFOR_KEPT_CLASSES are classed again). */
    size_t gap_bytes = 0, seen = 0, last = 0;
    uint8_t redone[ENC_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t cnt = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        const uint8_t *cls = redone;
        if (i0 < PFOR_KEPT_CLASSES) {
            cls = kept + i0;
        } else {
            fill(ctx, i0, cnt, tmp);
            for (size_t i = 0; i < cnt; i++)
                redone[i] = (uint8_t)zz_bits(tmp[i]);
        }
        /* 8 classes a step (1 in the chunk's last partial 8), the
         * exceptions among them in order */
        for (size_t i = 0; i < cnt;) {
            size_t step = i + 8 <= cnt ? 8 : 1;
            uint64_t over = step == 8 ? classes_over(cls + i, best_t)
                                      : (uint64_t)(cls[i] > best_t) << 7;
            for (; over; over &= over - 1) {
                size_t pos = i0 + i + (size_t)(__builtin_ctzll(over) / 8);
                gap_bytes += enc_varint_len(seen ? pos - last - 1 : pos);
                seen++;
                last = pos;
            }
            i += step;
        }
    }
    size_t val_exact = 0;
    for (unsigned b = best_t + 1; b <= 64; b++)
        val_exact += hist[b] * ((b + 6) / 7);
    plan->size = head_size(plan->base, plan->width, best_nexc, n) + val_exact + gap_bytes;
}

void tsagg__pfor_write(enc_fill_fn fill, const void *ctx, size_t n, const pfor_plan *plan,
                       uint8_t *out)
{
    uint64_t tmp[ENC_CHUNK];
    uint8_t *p = out;
    p += tsagg__put_varint(p, tsagg__zigzag((int64_t)plan->base));
    *p++ = (uint8_t)plan->width;
    p += tsagg__put_varint(p, plan->nexc);
    uint8_t *packed = p;
    uint8_t *exc = packed + tsagg__bitpack_size(n, plan->width);
    size_t nexc = 0, last = 0;

    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t cnt = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        fill(ctx, i0, cnt, tmp);
        for (size_t i = 0; i < cnt; i++) {
            if (zz_bits(tmp[i]) > plan->limit) {
                size_t pos = i0 + i;
                exc += tsagg__put_varint(exc, nexc ? pos - last - 1 : pos);
                exc += tsagg__put_varint(exc, tsagg__zigzag((int64_t)tmp[i]));
                nexc++;
                last = pos;
                tmp[i] = 0;
            } else {
                tmp[i] -= plan->base;
            }
        }
        /* i0 is a multiple of 8, so the chunk starts on a byte boundary */
        tsagg__bitpack64(tmp, cnt, plan->width, packed + (i0 / 8) * plan->width);
    }
}

int tsagg__pfor_parse(const uint8_t **pp, const uint8_t *end, size_t count, pfor_view *view)
{
    const uint8_t *p = *pp;
    uint64_t zbase, nexc;
    if (tsagg__get_varint(&p, end, &zbase) < 0 || p >= end)
        return TSAGG_ECORRUPT;
    unsigned width = *p++;
    if (width > 64 || tsagg__get_varint(&p, end, &nexc) < 0 || nexc > count)
        return TSAGG_ECORRUPT;
    size_t psize = tsagg__bitpack_size(count, width);
    if ((size_t)(end - p) < psize)
        return TSAGG_ECORRUPT;
    view->base = (uint64_t)tsagg__unzigzag(zbase);
    view->width = width;
    view->count = count;
    view->nexc = (size_t)nexc;
    view->packed = p;
    p += psize;
    view->exc = p;

    /* Validate the exception list once, so that decoding need not. */
    uint64_t pos = 0;
    for (size_t k = 0; k < view->nexc; k++) {
        uint64_t gap, val;
        if (tsagg__get_varint(&p, end, &gap) < 0 || tsagg__get_varint(&p, end, &val) < 0)
            return TSAGG_ECORRUPT;
        if (gap >= count)
            return TSAGG_ECORRUPT;
        pos = k ? pos + 1 + gap : gap; /* both terms < count <= 2^24: no overflow */
        if (pos >= count)
            return TSAGG_ECORRUPT;
    }
    view->end = p;
    *pp = p;
    return 0;
}

void tsagg__pfor_unpack(const pfor_view *view, size_t i0, size_t cnt, uint64_t *dst)
{
    tsagg__bitunpack64_base(view->packed + (i0 / 8) * view->width, cnt, view->width, view->base,
                            dst);
}

void tsagg__pfor_exc_begin(const pfor_view *view, pfor_exc_iter *it)
{
    it->p = view->exc;
    it->end = view->end;
    it->left = view->nexc;
    it->pos = 0;
    it->started = 0;
}

int tsagg__pfor_exc_next(pfor_exc_iter *it, size_t *pos, uint64_t *value)
{
    if (it->left == 0)
        return 0;
    uint64_t gap = 0, zz = 0;
    /* validated by tsagg__pfor_parse, so these cannot fail */
    tsagg__get_varint(&it->p, it->end, &gap);
    tsagg__get_varint(&it->p, it->end, &zz);
    it->pos = it->started ? it->pos + 1 + (size_t)gap : (size_t)gap;
    it->started = 1;
    it->left--;
    *pos = it->pos;
    *value = (uint64_t)tsagg__unzigzag(zz);
    return 1;
}

void tsagg__pfor_decode(const pfor_view *view, uint64_t *out)
{
    tsagg__pfor_unpack(view, 0, view->count, out);
    pfor_exc_iter it;
    size_t pos;
    uint64_t val;
    tsagg__pfor_exc_begin(view, &it);
    while (tsagg__pfor_exc_next(&it, &pos, &val))
        out[pos] = val;
}
