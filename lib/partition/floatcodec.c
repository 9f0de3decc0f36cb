/*
 * floatcodec.c - double column blocks, bit-exact for every value.
 *
 *   tag    layout after the tag byte (docs/encodings.md)
 *   0x01   RAW64   n x u64 LE, the IEEE-754 bits
 *   0x30   F64DEC  u8 k (0..4); PFOR section of m[i], where the value is
 *                  exactly (double)m[i] / 10^k, |m[i]| <= 2^53
 *   0x31   F64XOR  u64 LE bits of v[0]; u8 shift; u8 width;
 *                  (n-1) x ((bits(v[i]) ^ bits(v[i-1])) >> shift), packed
 *
 * F64DEC suits measures such as revenue: mostly 0 or prices with two
 * decimals, which become small integers (19.99 -> 1999, k = 2), and zeros
 * cost nothing beyond the packed width. The encoder proves every value with
 * the decoder's own expression before choosing it, so the round trip is
 * exact by construction; values it cannot prove (NaN, inf, -0.0, too many
 * decimals, magnitudes beyond 2^53 / 10^k) make the block use F64XOR or
 * RAW64. This relies on IEEE double arithmetic without excess precision
 * (FLT_EVAL_METHOD 0, no -ffast-math); where that does not hold the encoder
 * never chooses F64DEC.
 */
#include <errno.h>
#include <float.h>

#include "enc_internal.h"
#include "tsagg_errors.h"

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0 && !defined(__FAST_MATH__)
#define DEC_SAFE 1
#else
#define DEC_SAFE 0
#endif

#define DEC_MAX_K 4
static const double pow10_tab[DEC_MAX_K + 1] = {1.0, 10.0, 100.0, 1000.0, 10000.0};
#define M_LIMIT 9007199254740992.0 /* 2^53: conversions to double stay exact */

static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static inline double dfrom(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* The decoder's expression; the encoder checks values against it. */
static inline double dec_value(int64_t m, unsigned k)
{
    return (double)m / pow10_tab[k];
}

/* The integer nearest v * 10^k (ties away from zero), or 0 when it is
 * beyond 2^53 or v is not finite (*ok = 0 then). Any deterministic rounding
 * would do: the encoder keeps m only after checking dec_value(m, k) == v. */
static inline int64_t dec_round(double v, unsigned k, int *ok)
{
    double s = v * pow10_tab[k];
    if (!(s >= -M_LIMIT && s <= M_LIMIT)) { /* also false for NaN */
        *ok = 0;
        return 0;
    }
    *ok = 1;
    return (int64_t)(s + (s < 0 ? -0.5 : 0.5));
}

/* v as m / 10^k: 1 with *m when the decoder gives back exactly v's bits. */
static inline int dec_scale(double v, unsigned k, int64_t *m)
{
    int ok;
    *m = dec_round(v, k, &ok);
    return ok && dbits(dec_value(*m, k)) == dbits(v);
}

typedef struct dec_ctx {
    const double *v;
    unsigned k;
} dec_ctx;

/* PFOR source: the scaled integers (proved representable beforehand). */
static void fill_dec(const void *ctx, size_t i0, size_t cnt, uint64_t *dst)
{
    const dec_ctx *c = ctx;
    int ok;
    for (size_t i = 0; i < cnt; i++)
        dst[i] = (uint64_t)dec_round(c->v[i0 + i], c->k, &ok);
}

/* The smallest k for which every value scales exactly, or -1. */
static int dec_choose_k(const double *v, size_t n)
{
    unsigned k = 0;
    size_t first = 0; /* v[first..] were proved at the current k */
    int64_t m;
    for (size_t i = 0; i < n; i++) {
        while (!dec_scale(v[i], k, &m)) {
            if (++k > DEC_MAX_K)
                return -1;
            first = i;
        }
    }
    /* A value proved at a smaller k is almost always exact at the block's k
     * too (same rational), but the rounding of v * 10^k can differ near
     * 2^53: prove the earlier ones again. */
    for (size_t i = 0; i < first; i++)
        if (!dec_scale(v[i], k, &m))
            return -1;
    return (int)k;
}

/* XOR parameters: shift = trailing zeros common to all XORs, width = bits
 * of the largest shifted XOR. */
static void xor_params(const double *v, size_t n, unsigned *shift, unsigned *width)
{
    uint64_t any = 0;
    for (size_t i = 1; i < n; i++)
        any |= dbits(v[i]) ^ dbits(v[i - 1]);
    *shift = any ? (unsigned)__builtin_ctzll(any) : 0;
    *width = enc_bits(any >> *shift);
}

int tsagg__enc_f64_using(const double *v, size_t n, unsigned methods, uint8_t *out, size_t cap,
                         size_t *written)
{
    const unsigned all = TSAGG_ENC_M_RAW | TSAGG_ENC_M_DEC | TSAGG_ENC_M_XOR;
    if (!written || (n && !v) || (cap && !out) || n > TSAGG_ENC_MAX_N || !methods ||
        (methods & ~all))
        return TSAGG_EARG;
    if (n == 0) {
        *written = 1;
        if (cap < 1)
            return -ENOBUFS;
        out[0] = TSAGG_ENC_TAG_RAW64;
        return 0;
    }

    /* Order RAW, DEC, XOR; a later one wins only when strictly smaller. */
    int best = -1; /* 0 RAW, 1 DEC, 2 XOR */
    size_t best_size = SIZE_MAX;
    if (methods & TSAGG_ENC_M_RAW) {
        best = 0;
        best_size = 1 + 8 * n;
    }
    dec_ctx dc = {v, 0};
    pfor_plan plan = {0};
    int k = (DEC_SAFE && (methods & TSAGG_ENC_M_DEC)) ? dec_choose_k(v, n) : -1;
    if (k >= 0) {
        dc.k = (unsigned)k;
        tsagg__pfor_plan(fill_dec, &dc, n, &plan);
        if (2 + plan.size < best_size) {
            best = 1;
            best_size = 2 + plan.size;
        }
    }
    unsigned shift = 0, width = 0;
    if (methods & TSAGG_ENC_M_XOR) {
        xor_params(v, n, &shift, &width);
        size_t size = 1 + 8 + 2 + tsagg__bitpack_size(n - 1, width);
        if (size < best_size) {
            best = 2;
            best_size = size;
        }
    }
    if (best < 0)
        return TSAGG_EARG; /* only DEC allowed and it does not apply */

    *written = best_size;
    if (cap < best_size)
        return -ENOBUFS;
    if (best == 0) {
        out[0] = TSAGG_ENC_TAG_RAW64;
        for (size_t i = 0; i < n; i++)
            enc_st64(out + 1 + 8 * i, dbits(v[i]));
    } else if (best == 1) {
        out[0] = TSAGG_ENC_TAG_F64DEC;
        out[1] = (uint8_t)dc.k;
        tsagg__pfor_write(fill_dec, &dc, n, &plan, out + 2);
    } else {
        out[0] = TSAGG_ENC_TAG_F64XOR;
        enc_st64(out + 1, dbits(v[0]));
        out[9] = (uint8_t)shift;
        out[10] = (uint8_t)width;
        uint8_t *packed = out + 11;
        uint64_t tmp[ENC_CHUNK];
        /* value i of the packed stream is the XOR of v[i+1] with v[i] */
        for (size_t i0 = 0; i0 < n - 1; i0 += ENC_CHUNK) {
            size_t cnt = n - 1 - i0 < ENC_CHUNK ? n - 1 - i0 : ENC_CHUNK;
            for (size_t i = 0; i < cnt; i++)
                tmp[i] = (dbits(v[i0 + i + 1]) ^ dbits(v[i0 + i])) >> shift;
            tsagg__bitpack64(tmp, cnt, width, packed + (i0 / 8) * width);
        }
    }
    return 0;
}

int tsagg__enc_f64(const double *v, size_t n, uint8_t *out, size_t cap, size_t *written)
{
    return tsagg__enc_f64_using(v, n, TSAGG_ENC_METHODS_F64, out, cap, written);
}

/* F64DEC payload: chunks of m through a small buffer (out is double[], so
 * integers are never stored into it), then the exceptions. */
static int dec_dec(const uint8_t *p, const uint8_t *end, double *out, size_t n)
{
    if (p >= end || *p > DEC_MAX_K)
        return TSAGG_ECORRUPT;
    unsigned k = *p++;
    pfor_view view;
    int rc = tsagg__pfor_parse(&p, end, n, &view);
    if (rc < 0)
        return rc;
    if (p != end)
        return TSAGG_ECORRUPT;
    uint64_t tmp[ENC_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t cnt = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        tsagg__pfor_unpack(&view, i0, cnt, tmp);
        for (size_t i = 0; i < cnt; i++)
            out[i0 + i] = dec_value((int64_t)tmp[i], k);
    }
    pfor_exc_iter it;
    size_t pos;
    uint64_t val;
    tsagg__pfor_exc_begin(&view, &it);
    while (tsagg__pfor_exc_next(&it, &pos, &val))
        out[pos] = dec_value((int64_t)val, k);
    return 0;
}

/* F64XOR payload: first value, then a running XOR over the unpacked
 * stream, chunk by chunk. */
static int dec_xor(const uint8_t *p, const uint8_t *end, double *out, size_t n)
{
    if (n == 0 || (size_t)(end - p) < 10)
        return TSAGG_ECORRUPT;
    uint64_t prev = enc_ld64(p);
    unsigned shift = p[8], width = p[9];
    p += 10;
    if (shift > 63 || width > 64 - shift ||
        (size_t)(end - p) != tsagg__bitpack_size(n - 1, width))
        return TSAGG_ECORRUPT;
    out[0] = dfrom(prev);
    uint64_t tmp[ENC_CHUNK];
    for (size_t i0 = 0; i0 < n - 1; i0 += ENC_CHUNK) {
        size_t cnt = n - 1 - i0 < ENC_CHUNK ? n - 1 - i0 : ENC_CHUNK;
        tsagg__bitunpack64(p + (i0 / 8) * width, cnt, width, tmp);
        for (size_t i = 0; i < cnt; i++) {
            prev ^= tmp[i] << shift;
            out[i0 + i + 1] = dfrom(prev);
        }
    }
    return 0;
}

int tsagg__dec_f64(const uint8_t *in, size_t len, double *out, size_t n)
{
    if (n > TSAGG_ENC_MAX_N || (n && !out) || (len && !in))
        return TSAGG_EARG;
    if (len < 1)
        return TSAGG_ECORRUPT;
    const uint8_t *p = in + 1, *end = in + len;
    switch (in[0]) {
    case TSAGG_ENC_TAG_RAW64:
        if (len - 1 != 8 * n)
            return TSAGG_ECORRUPT;
        for (size_t i = 0; i < n; i++)
            out[i] = dfrom(enc_ld64(p + 8 * i));
        return 0;
    case TSAGG_ENC_TAG_F64DEC:
        return dec_dec(p, end, out, n);
    case TSAGG_ENC_TAG_F64XOR:
        return dec_xor(p, end, out, n);
    default:
        return TSAGG_ECORRUPT;
    }
}
