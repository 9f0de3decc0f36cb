/* test_encoding.c - column block encodings: bit packing, integer, id, code
 * and double blocks, string tables. Round trips on seeded random and edge
 * inputs, known-answer bytes that freeze the format (docs/encodings.md),
 * corrupt input (truncation, wrong tags, bad widths, random damage), and the
 * compression figures of docs/encodings.md (printed with TSAGG_ENC_STATS=1:
 *   TSAGG_ENC_STATS=1 build/tests/test_encoding --filter 'encoding_stats/realistic_columns'). */
#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "bytes.h"
#include "encoding.h"
#include "tsagg_errors.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

/* Uniform double in [0, 1). */
static double unif(uint64_t *s)
{
    return (double)(tu_splitmix64(s) >> 11) * 0x1p-53;
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double dfrom(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* An exactly sized heap copy, so that ASan sees any read past the block. */
static uint8_t *dup_exact(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);
    cr_assert_not_null(q);
    if (len)
        memcpy(q, p, len);
    return q;
}

static void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
    cr_assert_eq(got_len, want_len, "length %zu, want %zu", got_len, want_len);
    for (size_t i = 0; i < want_len; i++)
        cr_assert_eq(got[i], want[i], "byte %zu: 0x%02x, want 0x%02x", i, got[i], want[i]);
}

enum wkind { W_I64, W_U64, W_ID };

/* Encode words with the kind's encoder (or a method mask when methods != 0)
 * into an exactly sized heap block; checks the -ENOBUFS contract and the
 * bound on the way. Returns the block; *len its length. */
static uint8_t *enc_words(enum wkind kind, unsigned methods, const uint64_t *v, size_t n,
                          size_t *len)
{
    size_t need = 0;
    int rc;
    if (methods)
        rc = tsagg__enc_words_using(v, n, methods, NULL, 0, &need);
    else if (kind == W_I64)
        rc = tsagg__enc_i64((const int64_t *)v, n, NULL, 0, &need);
    else if (kind == W_U64)
        rc = tsagg__enc_u64(v, n, NULL, 0, &need);
    else
        rc = tsagg__enc_id(v, n, NULL, 0, &need);
    cr_assert_eq(rc, -ENOBUFS, "measuring call: %d", rc);
    cr_assert_gt(need, 0);
    if (!methods || (methods & TSAGG_ENC_M_RAW))
        cr_assert_leq(need, tsagg__enc_bound(TSAGG_ENC_I64, n));
    uint8_t *out = malloc(need);
    size_t got = 0;
    if (methods)
        rc = tsagg__enc_words_using(v, n, methods, out, need, &got);
    else if (kind == W_I64)
        rc = tsagg__enc_i64((const int64_t *)v, n, out, need, &got);
    else if (kind == W_U64)
        rc = tsagg__enc_u64(v, n, out, need, &got);
    else
        rc = tsagg__enc_id(v, n, out, need, &got);
    cr_assert_eq(rc, 0, "encode: %d", rc);
    cr_assert_eq(got, need);
    *len = got;
    return out;
}

/* Round trip through a word encoder; returns the tag used. */
static int rt_words(enum wkind kind, unsigned methods, const uint64_t *v, size_t n, size_t *len_out)
{
    size_t len;
    uint8_t *blk = enc_words(kind, methods, v, n, &len);
    uint64_t *back = malloc((n ? n : 1) * sizeof *back);
    int rc = kind == W_I64 ? tsagg__dec_i64(blk, len, (int64_t *)back, n)
                           : tsagg__dec_u64(blk, len, back, n);
    cr_assert_eq(rc, 0, "decode: %d (tag %s, n %zu)", rc, tsagg__enc_tag_name(blk[0]), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(back[i], v[i], "value %zu of %zu (tag %s): %llx != %llx", i, n,
                     tsagg__enc_tag_name(blk[0]), (unsigned long long)back[i],
                     (unsigned long long)v[i]);
    int tag = blk[0];
    if (len_out)
        *len_out = len;
    free(back);
    free(blk);
    return tag;
}

static uint8_t *enc_f64(unsigned methods, const double *v, size_t n, size_t *len)
{
    size_t need = 0;
    int rc = methods ? tsagg__enc_f64_using(v, n, methods, NULL, 0, &need)
                     : tsagg__enc_f64(v, n, NULL, 0, &need);
    cr_assert_eq(rc, -ENOBUFS, "measuring call: %d", rc);
    if (!methods || (methods & TSAGG_ENC_M_RAW))
        cr_assert_leq(need, tsagg__enc_bound(TSAGG_ENC_F64, n));
    uint8_t *out = malloc(need);
    size_t got = 0;
    rc = methods ? tsagg__enc_f64_using(v, n, methods, out, need, &got)
                 : tsagg__enc_f64(v, n, out, need, &got);
    cr_assert_eq(rc, 0, "encode: %d", rc);
    cr_assert_eq(got, need);
    *len = got;
    return out;
}

static int rt_f64(unsigned methods, const double *v, size_t n, size_t *len_out)
{
    size_t len;
    uint8_t *blk = enc_f64(methods, v, n, &len);
    double *back = malloc((n ? n : 1) * sizeof *back);
    int rc = tsagg__dec_f64(blk, len, back, n);
    cr_assert_eq(rc, 0, "decode: %d (tag %s)", rc, tsagg__enc_tag_name(blk[0]));
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(dbits(back[i]), dbits(v[i]), "value %zu (tag %s): %a != %a", i,
                     tsagg__enc_tag_name(blk[0]), back[i], v[i]);
    int tag = blk[0];
    if (len_out)
        *len_out = len;
    free(back);
    free(blk);
    return tag;
}

/* A static buffer of 600 codes (n is for the caller's reading). */
static uint32_t *back_wide(size_t n)
{
    static uint32_t buf[600];
    (void)n;
    return buf;
}

static uint8_t *enc_u32(const uint32_t *v, size_t n, uint32_t dict, size_t *len)
{
    size_t need = 0;
    cr_assert_eq(tsagg__enc_u32(v, n, dict, NULL, 0, &need), -ENOBUFS);
    cr_assert_leq(need, tsagg__enc_bound(TSAGG_ENC_U32, n));
    uint8_t *out = malloc(need);
    size_t got = 0;
    cr_assert_eq(tsagg__enc_u32(v, n, dict, out, need, &got), 0);
    cr_assert_eq(got, need);
    *len = got;
    return out;
}

static int rt_u32(const uint32_t *v, size_t n, uint32_t dict, size_t *len_out)
{
    size_t len;
    uint8_t *blk = enc_u32(v, n, dict, &len);
    uint32_t *back = malloc((n ? n : 1) * sizeof *back);
    cr_assert_eq(tsagg__dec_u32(blk, len, back, n, dict), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(back[i], v[i], "code %zu", i);
    int tag = blk[0];
    if (len_out)
        *len_out = len;
    free(back);
    free(blk);
    return tag;
}

/* ---- bit packing ---------------------------------------------------------- */

Test(bitpack, known_answers)
{
    uint8_t out[16];
    const uint64_t a[] = {1, 2, 3};
    cr_assert_eq(tsagg__bitpack_size(3, 2), 1);
    cr_assert_eq(tsagg__bitpack64(a, 3, 2, out), 0);
    cr_assert_eq(out[0], 0x39); /* 01 10 11, LSB first: 0b00111001 */

    const uint64_t b[] = {31, 0, 17};
    cr_assert_eq(tsagg__bitpack_size(3, 5), 2);
    cr_assert_eq(tsagg__bitpack64(b, 3, 5, out), 0);
    assert_bytes(out, 2, (const uint8_t[]){0x1f, 0x44}, 2);

    const uint64_t c[] = {0x0123456789abcdefull};
    cr_assert_eq(tsagg__bitpack64(c, 1, 64, out), 0);
    assert_bytes(out, 8, (const uint8_t[]){0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01}, 8);

    /* bits above the width are ignored */
    const uint32_t d[] = {0xff, 0xfe, 0x01};
    cr_assert_eq(tsagg__bitpack32(d, 3, 1, out), 0);
    cr_assert_eq(out[0], 0x05);

    cr_assert_eq(tsagg__bitpack_size(1000, 0), 0);
    cr_assert_eq(tsagg__bitpack_size(7, 9), 8);
    cr_assert_eq(tsagg__bitpack64(a, 3, 65, out), TSAGG_EARG);
    cr_assert_eq(tsagg__bitpack32(d, 3, 33, out), TSAGG_EARG);
    uint64_t o64[3];
    uint32_t o32[3];
    cr_assert_eq(tsagg__bitunpack64(out, 3, 65, o64), TSAGG_EARG);
    cr_assert_eq(tsagg__bitunpack32(out, 3, 33, o32), TSAGG_EARG);
}

/* Every width and many lengths, both word sizes, exact-size buffers. */
Test(bitpack, round_trip_all_widths)
{
    uint64_t seed = 1;
    static const size_t lens[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 255, 1000, 1024, 4099};
    uint64_t *v = malloc(4099 * 8), *back = malloc(4099 * 8);
    uint32_t *v32 = malloc(4099 * 4), *back32 = malloc(4099 * 4);
    for (unsigned w = 0; w <= 64; w++) {
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li];
            uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
            for (size_t i = 0; i < n; i++) {
                uint64_t r = tu_splitmix64(&seed);
                v[i] = (i % 5 == 0) ? mask : (i % 7 == 0 ? 0 : r & mask); /* extremes too */
                v32[i] = (uint32_t)v[i];
            }
            size_t sz = tsagg__bitpack_size(n, w);
            cr_assert_eq(sz, (n * w + 7) / 8);
            uint8_t *buf = malloc(sz ? sz : 1);
            cr_assert_eq(tsagg__bitpack64(v, n, w, buf), 0);
            if (sz && (n * w) % 8) /* unused high bits of the last byte are 0 */
                cr_assert_eq(buf[sz - 1] >> ((n * w) % 8), 0);
            uint8_t *in = dup_exact(buf, sz);
            cr_assert_eq(tsagg__bitunpack64(in, n, w, back), 0);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(back[i], v[i], "w %u n %zu i %zu", w, n, i);
            if (w <= 32) {
                uint8_t *buf32 = malloc(sz ? sz : 1);
                cr_assert_eq(tsagg__bitpack32(v32, n, w, buf32), 0);
                cr_assert(memcmp(buf32, buf, sz) == 0, "32/64-bit packings differ, w %u", w);
                cr_assert_eq(tsagg__bitunpack32(in, n, w, back32), 0);
                for (size_t i = 0; i < n; i++)
                    cr_assert_eq(back32[i], v32[i], "w %u n %zu i %zu", w, n, i);
                free(buf32);
            }
            free(in);
            free(buf);
        }
    }
    free(v);
    free(back);
    free(v32);
    free(back32);
}

/* ---- 64-bit integer blocks ---------------------------------------------- */

Test(words, empty_and_single)
{
    uint8_t out[16];
    size_t w = 0;
    cr_assert_eq(tsagg__enc_i64(NULL, 0, out, sizeof out, &w), 0);
    assert_bytes(out, w, (const uint8_t[]){0x01}, 1);
    cr_assert_eq(tsagg__enc_u32(NULL, 0, 0, out, sizeof out, &w), 0);
    assert_bytes(out, w, (const uint8_t[]){0x01}, 1);
    cr_assert_eq(tsagg__enc_f64(NULL, 0, out, sizeof out, &w), 0);
    assert_bytes(out, w, (const uint8_t[]){0x01}, 1);
    cr_assert_eq(tsagg__dec_i64(out, 1, NULL, 0), 0);
    cr_assert_eq(tsagg__dec_u32(out, 1, NULL, 0, 0), 0);
    cr_assert_eq(tsagg__dec_f64(out, 1, NULL, 0), 0);

    const int64_t extremes[] = {0, 1, -1, INT64_MIN, INT64_MAX, 1700000000000000};
    for (size_t i = 0; i < 6; i++) {
        rt_words(W_I64, 0, (const uint64_t *)&extremes[i], 1, NULL);
        rt_words(W_U64, 0, (const uint64_t *)&extremes[i], 1, NULL);
        rt_words(W_ID, 0, (const uint64_t *)&extremes[i], 1, NULL);
    }
}

/* Hand-computed blocks: these bytes are the format (docs/encodings.md). */
Test(words, known_answers)
{
    size_t len;
    uint8_t *b;

    /* FOR: base 1000 (zigzag 2000 = d0 0f), width 2, no exceptions,
     * offsets 0 1 2 3 -> 0b11100100 */
    const int64_t f[] = {1000, 1001, 1002, 1003};
    b = enc_words(W_I64, 0, (const uint64_t *)f, 4, &len);
    assert_bytes(b, len, (const uint8_t[]){0x10, 0xd0, 0x0f, 0x02, 0x00, 0xe4}, 6);
    free(b);

    /* DELTA: deltas 5 1 1 1 1 1 1 1: base 1 (zz 02), width 0, one exception
     * at position 0 (gap 0) holding 5 (zz 0a) */
    const int64_t d[] = {5, 6, 7, 8, 9, 10, 11, 12};
    b = enc_words(W_I64, 0, (const uint64_t *)d, 8, &len);
    assert_bytes(b, len, (const uint8_t[]){0x11, 0x02, 0x00, 0x01, 0x00, 0x0a}, 6);
    free(b);

    /* DOD: squares; second differences 0 1 2 2 2 2 2 2, width 2 */
    const int64_t q[] = {0, 1, 4, 9, 16, 25, 36, 49};
    b = enc_words(W_I64, 0, (const uint64_t *)q, 8, &len);
    assert_bytes(b, len, (const uint8_t[]){0x12, 0x00, 0x02, 0x00, 0xa4, 0xaa}, 6);
    free(b);

    /* DICT: two distinct ids, codes 0 1 0 0 at width 1 */
    const uint64_t ids[] = {0x1111111111111111ull, 0x2222222222222222ull,
                            0x1111111111111111ull, 0x1111111111111111ull};
    b = enc_words(W_ID, 0, ids, 4, &len);
    assert_bytes(b, len,
                 (const uint8_t[]){0x13, 0x02, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x02},
                 19);
    free(b);

    /* DICTREF: two distinct ids, back-references 0 0 2 2 (two first
     * occurrences, then each value two rows back): PFOR base 0, width 2,
     * no exceptions, offsets packed into 0b10100000 */
    const uint64_t refs[] = {0x1111111111111111ull, 0x2222222222222222ull,
                             0x1111111111111111ull, 0x2222222222222222ull};
    b = enc_words(W_ID, TSAGG_ENC_M_DICTREF, refs, 4, &len);
    assert_bytes(b, len,
                 (const uint8_t[]){0x14, 0x02, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x00, 0x02,
                                   0x00, 0xa0},
                 22);
    free(b);

    /* DELTAHUF, unsigned form: deltas 5 1 1 1 1 1 1 1: class 3 once,
     * class 1 seven times, both codes 1 bit long (class 1 is 0, class 3 is
     * 1); nsym 4, lengths 10 10; stream: 1 then 10 (the 2 bits of 5 below
     * its top bit, low first), then seven times 0: 03 00 */
    b = enc_words(W_I64, TSAGG_ENC_M_DELTAHUF, (const uint64_t *)d, 8, &len);
    assert_bytes(b, len, (const uint8_t[]){0x15, 0x04, 0x10, 0x10, 0x03, 0x00}, 6);
    free(b);

    /* DELTAHUF, signed form (0x80 | nsym), codes of two lengths: deltas
     * 0 0 -1 0 0 3 -1 -3 (zigzag 0 0 1 0 0 6 1 5): class 0 four times
     * (code 0), class 1 twice (code 10), class 3 twice (code 11); nsym 4,
     * lengths 21 20; stream 0 0 10 0 0 11+01 10 11+10 (6 = 110: low bits
     * 10, written low first) = c4 76 */
    const int64_t h[] = {0, 0, -1, -1, -1, 2, 1, -2};
    b = enc_words(W_I64, TSAGG_ENC_M_DELTAHUF, (const uint64_t *)h, 8, &len);
    assert_bytes(b, len, (const uint8_t[]){0x15, 0x84, 0x21, 0x20, 0xc4, 0x76}, 6);
    free(b);

    /* DICTREFHUF: the ids of DICTREF's example below, references 0 0 2 2
     * in an unsigned size-class section: class 0 (code 0) twice, class 2
     * (code 1) twice; nsym 3, lengths 01 01; stream 0 0 1+0 1+0 = 14 */
    const uint64_t hrefs[] = {0x1111111111111111ull, 0x2222222222222222ull,
                              0x1111111111111111ull, 0x2222222222222222ull};
    b = enc_words(W_ID, TSAGG_ENC_M_DICTREFHUF, hrefs, 4, &len);
    assert_bytes(b, len,
                 (const uint8_t[]){0x16, 0x02, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                   0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x03, 0x01,
                                   0x01, 0x14},
                 22);
    free(b);

    /* RAW64 */
    const uint64_t r[] = {0x8000000000000000ull};
    b = enc_words(W_U64, 0, r, 1, &len);
    assert_bytes(b, len, (const uint8_t[]){0x01, 0, 0, 0, 0, 0, 0, 0, 0x80}, 9);
    free(b);

    /* FOR with exceptions: 0 x7 and 300 at position 3: base 0, width 0,
     * exception gap 3, zigzag(300) = 600 = d8 04 */
    const uint64_t e[] = {0, 0, 0, 300, 0, 0, 0, 0};
    b = enc_words(W_U64, TSAGG_ENC_M_FOR, e, 8, &len);
    assert_bytes(b, len, (const uint8_t[]){0x10, 0x00, 0x00, 0x01, 0x03, 0xd8, 0x04}, 7);
    free(b);
}

Test(words, edge_cases)
{
    enum { N = 1100 };
    uint64_t *v = malloc(N * 8);
    uint64_t seed = 42;
    const unsigned single[] = {TSAGG_ENC_M_RAW, TSAGG_ENC_M_FOR, TSAGG_ENC_M_DELTA,
                               TSAGG_ENC_M_DOD, TSAGG_ENC_M_DICT, TSAGG_ENC_M_DICTREF, 0};

    for (int c = 0; c < 9; c++) {
        for (size_t i = 0; i < N; i++) {
            switch (c) {
            case 0: v[i] = 7; break;                                   /* all equal */
            case 1: v[i] = 0; break;                                   /* all zero */
            case 2: v[i] = (i & 1) ? (uint64_t)INT64_MIN : INT64_MAX; break; /* max jumps */
            case 3: v[i] = tu_splitmix64(&seed); break;                /* random */
            case 4: v[i] = (uint64_t)(int64_t)(1700000000000000 - (int64_t)i * 997); break; /* descending */
            case 5: v[i] = i % 3 == 0 ? ~0ull : (i % 3 == 1 ? 0 : 1ull << 63); break;
            case 6: v[i] = tu_splitmix64(&seed) % 5 + ((uint64_t)INT64_MAX - 2); break; /* wraps */
            case 7: v[i] = (uint64_t)(INT64_MIN + (int64_t)i); break;
            case 8: v[i] = i < N / 2 ? i * 1000000 : (N - i) * 3; break; /* reset mid-block */
            }
        }
        for (size_t n = 0; n <= N; n = n < 20 ? n + 1 : n * 2 + 3) {
            rt_words(W_I64, 0, v, n, NULL);
            rt_words(W_U64, 0, v, n, NULL);
            rt_words(W_ID, 0, v, n, NULL);
            for (int m = 0; single[m]; m++)
                rt_words(W_U64, single[m], v, n, NULL);
        }
    }
    free(v);
}

/* Timestamps sorted per merchant, resetting between merchants, plus fully
 * unsorted ones: every method must round-trip; the chooser must win. */
/* PFOR exceptions wherever the planner's exact count of their gap bytes
 * takes a different road: in a row group's first 4096 values and past
 * them, on chunk edges, in runs, far apart (gaps of one, two and three
 * varint bytes), and in the last partial group of 8. The section must be
 * exactly the size planned, or it does not decode. */
Test(words, pfor_exceptions_everywhere)
{
    enum { N = 3 * 4096 + 13 };
    uint64_t *v = malloc(N * 8);
    uint64_t seed = 7;
    const size_t at[] = {0, 1, 7, 8, 255, 256, 257, 4095, 4096, 4097, 4100, 4103, 4104,
                         4351, 4352, 8191, 8192, 20000, N - 9, N - 2, N - 1};
    for (size_t n = 4090; n <= N; n = n < 4100 ? n + 1 : n + 1531) {
        for (size_t i = 0; i < n; i++)
            v[i] = tu_splitmix64(&seed) % 16;
        size_t planted = 0;
        for (size_t k = 0; k < sizeof at / sizeof *at; k++)
            if (at[k] < n) {
                v[at[k]] = UINT64_C(1) << 40 | k;
                planted++;
            }
        for (size_t i = 300; i + 3 < n; i += 97 + tu_splitmix64(&seed) % 300) {
            if (v[i] < 16) {
                v[i] = UINT64_C(1) << 41;
                planted++;
            }
        }
        size_t len;
        uint8_t *b = enc_words(W_U64, TSAGG_ENC_M_FOR, v, n, &len);
        cr_assert_eq(b[0], TSAGG_ENC_TAG_FOR);
        /* tag, zigzag(base 0), width 4, then the exception count */
        const uint8_t *p = b + 3;
        uint64_t nexc;
        cr_assert_eq(tsagg__get_varint(&p, b + len, &nexc), 0);
        cr_assert_eq(nexc, planted, "n %zu: %llu exceptions, %zu planted", n,
                     (unsigned long long)nexc, planted);
        free(b);
        rt_words(W_U64, TSAGG_ENC_M_FOR, v, n, NULL);
    }
    free(v);
}

Test(words, random_timestamps)
{
    enum { N = 1024 };
    int64_t v[N];
    uint64_t seed = 7;
    for (int round = 0; round < 200; round++) {
        int64_t t = 1700000000000000 + (int64_t)(tu_splitmix64(&seed) % 3600000000ull);
        unsigned run = 1 + (unsigned)(tu_splitmix64(&seed) % 300);
        for (size_t i = 0; i < N; i++) {
            if (round % 4 == 3) {
                v[i] = (int64_t)tu_splitmix64(&seed); /* unsorted garbage */
                continue;
            }
            if (i % run == 0)
                t = 1700000000000000 + (int64_t)(tu_splitmix64(&seed) % 3600000000ull);
            t += (int64_t)(tu_splitmix64(&seed) % 2000000);
            v[i] = t;
        }
        size_t n = 1 + tu_splitmix64(&seed) % N;
        size_t best;
        rt_words(W_I64, 0, (uint64_t *)v, n, &best);
        const unsigned ms[] = {TSAGG_ENC_M_RAW, TSAGG_ENC_M_FOR, TSAGG_ENC_M_DELTA,
                               TSAGG_ENC_M_DOD, TSAGG_ENC_M_DELTAHUF};
        for (int m = 0; m < 5; m++) {
            size_t len;
            rt_words(W_I64, ms[m], (uint64_t *)v, n, &len);
            /* DELTAHUF, slower to decode, only when an eighth smaller */
            if (ms[m] == TSAGG_ENC_M_DELTAHUF)
                cr_assert_leq(best - best / 8, len, "chooser lost to DELTAHUF");
            else
                cr_assert_leq(best, len, "chooser lost to method %u", ms[m]);
        }
    }
}

/* DELTAHUF over what its decoder has to get right: every class 0..64
 * (values of every bit length, both signs, the extremes), classes so
 * skewed that the code must be flattened to SC_MAX_LEN bits, one class
 * only, and counts that end on every bit position of a byte. */
Test(words, deltahuf_round_trips)
{
    enum { N = 4096 };
    static uint64_t v[N];
    uint64_t seed = 11;
    /* every class: deltas of each bit length, alternating signs */
    size_t n = 0;
    uint64_t acc = 0;
    for (unsigned b = 0; b <= 64; b++)
        for (int k = 0; k < 3; k++) {
            uint64_t z = b == 0 ? 0 : (UINT64_C(1) << (b - 1)) | (tu_splitmix64(&seed) & ((UINT64_C(1) << (b - 1)) - 1));
            uint64_t d = (z >> 1) ^ (0 - (z & 1)); /* unzigzag */
            v[n++] = acc += d;
        }
    cr_assert_eq(rt_words(W_I64, TSAGG_ENC_M_DELTAHUF, v, n, NULL), TSAGG_ENC_TAG_DELTAHUF);
    /* Fibonacci-like counts per class: the unlimited code would be about
     * 20 bits deep */
    n = 0;
    acc = 0;
    uint64_t f0 = 1, f1 = 1;
    for (unsigned b = 1; b <= 21 && n < N; b++) {
        for (uint64_t k = 0; k < f0 && n < N; k++)
            v[n++] = acc += (UINT64_C(1) << (b - 1)) >> 1 | 1;
        uint64_t f2 = f0 + f1;
        f0 = f1;
        f1 = f2;
    }
    cr_assert_eq(rt_words(W_I64, TSAGG_ENC_M_DELTAHUF, v, n, NULL), TSAGG_ENC_TAG_DELTAHUF);
    /* one class only (a constant step), at every length 1..80 */
    for (size_t m = 1; m <= 80; m++) {
        for (size_t i = 0; i < m; i++)
            v[i] = 1000 * i;
        v[0] = 0;
        rt_words(W_I64, TSAGG_ENC_M_DELTAHUF, v, m, NULL);
    }
    /* random timestamps of merchants of very different rates, every n */
    for (int round = 0; round < 60; round++) {
        int64_t t = 0;
        for (size_t i = 0; i < N; i++) {
            if (i % 97 == 0)
                t = 1700000000000000 + (int64_t)(tu_splitmix64(&seed) % 3600000000000ull);
            t += (int64_t)(tu_splitmix64(&seed) % (1u << (i / 97 % 30)));
            v[i] = (uint64_t)t;
        }
        size_t m = 1 + tu_splitmix64(&seed) % N;
        rt_words(W_I64, TSAGG_ENC_M_DELTAHUF, v, m, NULL);
        rt_words(W_I64, 0, v, m, NULL);
    }
}

/* Huffman ties decide the bytes: deltas 1 2 4 4 8 8 are classes 1 2 3 3
 * 4 4 (counts 1 1 2 2). The lightest two, the first of equal weights
 * first, merge: classes 1 and 2 (weight 2); then classes 3 and 4, which
 * come before that node (weight 4); then the two: every length 2 (taking
 * class 3 with the first merged node instead would give lengths 3 3 2 1,
 * as short a stream with other bytes). Unsigned form, nsym 5, lengths
 * 0 2 / 2 2 / 2; codes 00 01 10 11; stream 00 | 01 0 | 10 00 | 10 00 |
 * 11 000 | 11 000, first bit lowest: 28 62 0c. */
Test(words, deltahuf_ties_known_answer)
{
    const uint64_t v[] = {1, 3, 7, 11, 19, 27};
    size_t len;
    uint8_t *b = enc_words(W_I64, TSAGG_ENC_M_DELTAHUF, v, 6, &len);
    assert_bytes(b, len, (const uint8_t[]){0x15, 0x05, 0x20, 0x22, 0x02, 0x28, 0x62, 0x0c}, 8);
    free(b);
}

/* Where bit widths vary within a block (the time column of a month file:
 * merchants of an event a second next to merchants of one a week), the
 * time encoder picks DELTAHUF, and it is smaller than any other format. */
Test(words, deltahuf_wins_on_mixed_rates)
{
    enum { N = 4096 };
    static int64_t v[N];
    uint64_t seed = 5;
    int64_t t = 0;
    size_t i = 0;
    for (unsigned m = 0; i < N; m++) {
        /* a merchant: 1 to 200 rows, mean gap 1 s to 2 days */
        size_t rows = 1 + tu_splitmix64(&seed) % 200;
        uint64_t gap = 1000000ull << (tu_splitmix64(&seed) % 18);
        t = 1700000000000000 + (int64_t)(tu_splitmix64(&seed) % 2678400000000ull);
        for (size_t r = 0; r < rows && i < N; r++, i++)
            v[i] = t += (int64_t)(tu_splitmix64(&seed) % gap);
    }
    size_t best, delta;
    cr_assert_eq(rt_words(W_I64, 0, (uint64_t *)v, N, &best), TSAGG_ENC_TAG_DELTAHUF);
    rt_words(W_I64, TSAGG_ENC_M_DELTA, (uint64_t *)v, N, &delta);
    cr_assert_lt(best, delta - delta / 10, "DELTAHUF %zu, DELTA %zu", best, delta);
}

Test(words, dict_ids)
{
    enum { N = 1024 };
    uint64_t pool[N], v[N];
    uint64_t seed = 99;
    for (size_t i = 0; i < N; i++)
        pool[i] = tu_splitmix64(&seed);
    size_t distincts[] = {1, 2, 3, 5, 64, 205, 511, 700, 1024};
    for (size_t k = 0; k < sizeof distincts / sizeof distincts[0]; k++) {
        size_t d = distincts[k];
        for (size_t i = 0; i < N; i++)
            v[i] = pool[i < d ? i : tu_splitmix64(&seed) % d];
        size_t len;
        int tag = rt_words(W_ID, 0, v, N, &len);
        if (d <= 511)
            cr_assert_eq(tag, TSAGG_ENC_TAG_DICT, "d %zu: %s", d, tsagg__enc_tag_name(tag));
        if (d == 1024)
            cr_assert_eq(tag, TSAGG_ENC_TAG_RAW64);
        rt_words(W_ID, TSAGG_ENC_M_DICT, v, N, NULL);
        rt_words(W_ID, TSAGG_ENC_M_DICT, v, 1 + k, NULL);
    }
}

/* Session-like ids: each row either starts a new value or repeats one of
 * the last few rows' values, as the events of concurrent sessions
 * interleave in a merchant's rows. */
static void near_repeats(uint64_t *v, size_t n, unsigned new_pct, unsigned window, uint64_t *seed)
{
    for (size_t i = 0; i < n; i++) {
        size_t back = 1 + tu_splitmix64(seed) % window;
        if (i < back || tu_splitmix64(seed) % 100 < new_pct)
            v[i] = tu_splitmix64(seed);
        else
            v[i] = v[i - back];
    }
}

Test(words, dictref_ids)
{
    enum { N = 4096 };
    static uint64_t v[N];
    uint64_t seed = 5;
    const unsigned pct[] = {5, 20, 35, 60};
    for (size_t k = 0; k < sizeof pct / sizeof pct[0]; k++) {
        near_repeats(v, N, pct[k], 16, &seed);
        size_t len, dict_len, ref_len;
        int tag = rt_words(W_ID, 0, v, N, &len);
        rt_words(W_ID, TSAGG_ENC_M_DICT, v, N, &dict_len);
        cr_assert_eq(rt_words(W_ID, TSAGG_ENC_M_DICTREF, v, N, &ref_len), TSAGG_ENC_TAG_DICTREF);
        /* near repeats: a few bits of distance beat a code of the width of
         * the whole dictionary; their sizes coded by a Huffman code beat
         * them packed when the dictionary weighs little */
        size_t huf_len;
        cr_assert_eq(rt_words(W_ID, TSAGG_ENC_M_DICTREFHUF, v, N, &huf_len),
                     TSAGG_ENC_TAG_DICTREFHUF);
        cr_assert(tag == TSAGG_ENC_TAG_DICTREF || tag == TSAGG_ENC_TAG_DICTREFHUF,
                  "%u%% new: %s", pct[k], tsagg__enc_tag_name(tag));
        cr_assert_lt(ref_len, dict_len, "%u%% new: DICTREF %zu, DICT %zu", pct[k], ref_len, dict_len);
        cr_assert_eq(len, tag == TSAGG_ENC_TAG_DICTREF ? ref_len : huf_len);
        /* the dictionary is the same: the sections must differ by an eighth */
        size_t head = 1, nd = 0; /* the tag, then the dictionary */
        for (size_t i = 0; i < N; i++) {
            size_t j = 0;
            while (j < i && v[j] != v[i])
                j++;
            nd += j == i;
        }
        head += (nd < 128 ? 1 : 2) + 8 * nd;
        size_t ref_sec = ref_len - head, huf_sec = huf_len - head;
        cr_assert_eq(tag == TSAGG_ENC_TAG_DICTREFHUF, huf_sec < ref_sec - ref_sec / 8,
                     "%u%% new: DICTREFHUF %zu, DICTREF %zu", pct[k], huf_len, ref_len);
        for (size_t n = 0; n <= N; n = n < 20 ? n + 1 : n * 3 + 1) {
            rt_words(W_ID, TSAGG_ENC_M_DICTREF, v, n, NULL);
            rt_words(W_ID, TSAGG_ENC_M_DICTREFHUF, v, n, NULL);
        }
    }
    /* a repeat of the very first row from the last one: a long reference */
    for (size_t i = 0; i < N; i++)
        v[i] = i == N - 1 ? v[0] : tu_splitmix64(&seed) % 3;
    rt_words(W_ID, TSAGG_ENC_M_DICTREF, v, N, NULL);
    rt_words(W_ID, TSAGG_ENC_M_DICTREFHUF, v, N, NULL);
}

/* Event ids a client numbers 1, 2, 3...: a merchant's rows (in time order)
 * hold its share of the stream's ids, increasing by a few; the id encoder
 * must find DELTA, where FOR pays for the whole block's range per row. */
Test(words, counting_ids)
{
    enum { N = 4096 };
    static uint64_t v[N];
    uint64_t seed = 11, next = 1;
    for (size_t i = 0; i < N; i++) {
        next += 1 + tu_splitmix64(&seed) % 12;
        v[i] = next;
    }
    size_t len, for_len;
    int tag = rt_words(W_ID, 0, v, N, &len);
    rt_words(W_ID, TSAGG_ENC_M_FOR, v, N, &for_len);
    /* a delta form: DELTA, or DELTAHUF where the steps' sizes vary */
    cr_assert(tag == TSAGG_ENC_TAG_DELTA || tag == TSAGG_ENC_TAG_DELTAHUF, "%s",
              tsagg__enc_tag_name(tag));
    cr_assert_lt(2 * len, for_len, "%s %zu, FOR %zu", tsagg__enc_tag_name(tag), len, for_len);
}

/* ---- dictionary codes ----------------------------------------------------- */

Test(codes, known_answers_and_round_trips)
{
    size_t len;
    const uint32_t c[] = {3, 5, 4, 3};
    uint8_t *b = enc_u32(c, 4, 10, &len);
    assert_bytes(b, len, (const uint8_t[]){0x20, 0x03, 0x02, 0x18}, 4);
    free(b);

    /* U32HUF: codes 0 x15, then 200 (U32FOR: width 8, 19 bytes): base 0,
     * unsigned section, class 0 (code 0) and class 8 (code 1), nsym 9,
     * lengths 01 00 00 00 01; stream: 15 zeros, 1, then the 7 bits of 200
     * below its top one (72, low first): 00 80 48 */
    uint32_t skew[16] = {0};
    skew[15] = 200;
    b = enc_u32(skew, 16, 1000, &len);
    assert_bytes(b, len,
                 (const uint8_t[]){0x21, 0x00, 0x09, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x80,
                                   0x48},
                 11);
    uint32_t back[16];
    cr_assert_eq(tsagg__dec_u32(b, len, back, 16, 1000), 0);
    cr_assert(back[0] == 0 && back[14] == 0 && back[15] == 200);
    cr_assert_eq(tsagg__dec_u32(b, len, back, 16, 200), TSAGG_ECORRUPT); /* 200 not a code */
    b[1] = 0x05; /* base 5: 205 */
    cr_assert_eq(tsagg__dec_u32(b, len, back, 16, 206), 0);
    cr_assert(back[0] == 5 && back[15] == 205);
    cr_assert_eq(tsagg__dec_u32(b, len, back, 16, 205), TSAGG_ECORRUPT);
    free(b);
    /* narrow codes stay U32FOR (zstd shrinks them as well); wide skewed
     * ones of every length round-trip */
    uint64_t wseed = 9;
    uint32_t wide[600];
    for (size_t i = 0; i < 600; i++)
        wide[i] = (uint32_t)(tu_splitmix64(&wseed) % 4 == 0 ? tu_splitmix64(&wseed) % 5000
                                                            : tu_splitmix64(&wseed) % 3);
    for (size_t n = 1; n <= 600; n += 37) {
        b = enc_u32(wide, n, 5000, &len);
        cr_assert_eq(tsagg__dec_u32(b, len, back_wide(n), n, 5000), 0);
        cr_assert(memcmp(back_wide(0), wide, n * 4) == 0, "n %zu", n);
        if (n > 100)
            cr_assert_eq(b[0], TSAGG_ENC_TAG_U32HUF, "n %zu: %s", n, tsagg__enc_tag_name(b[0]));
        free(b);
    }

    const uint32_t big[] = {UINT32_MAX - 1, 0};
    b = enc_u32(big, 2, UINT32_MAX, &len);
    assert_bytes(b, len, (const uint8_t[]){0x02, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0}, 9);
    free(b);

    /* codes must be < dict_size */
    uint8_t out[64];
    size_t w;
    cr_assert_eq(tsagg__enc_u32(c, 4, 5, out, sizeof out, &w), TSAGG_EARG);

    enum { N = 1500 };
    uint32_t v[N];
    uint64_t seed = 5;
    const uint32_t dicts[] = {1, 2, 3, 12, 255, 256, 1000, 70000, UINT32_MAX};
    for (size_t k = 0; k < sizeof dicts / sizeof dicts[0]; k++) {
        for (size_t i = 0; i < N; i++)
            v[i] = (uint32_t)(tu_splitmix64(&seed) % dicts[k]);
        for (size_t n = 0; n <= N; n = n * 3 + 1)
            rt_u32(v, n, dicts[k], NULL);
        /* the block is never wider than ceil(log2(dict_size)) bits/code */
        rt_u32(v, N, dicts[k], &len);
        unsigned lg = 0;
        while (lg < 32 && (1ull << lg) < dicts[k])
            lg++;
        cr_assert_leq(len, 7 + (N * lg + 7) / 8);
    }
}

/* ---- doubles -------------------------------------------------------------- */

Test(doubles, known_answers)
{
    size_t len;
    uint8_t *b;
    /* F64DEC k=2: m = 0 1999 0 0 550 0 0 0; base 0, width 0, exceptions at
     * 1 (gap 1, zz 3998 = 9e 1f) and 4 (gap 2, zz 1100 = cc 08) */
    const double d[] = {0, 19.99, 0, 0, 5.5, 0, 0, 0};
    b = enc_f64(0, d, 8, &len);
    assert_bytes(b, len,
                 (const uint8_t[]){0x30, 0x02, 0x00, 0x00, 0x02, 0x01, 0x9e, 0x1f, 0x02, 0xcc, 0x08},
                 11);
    free(b);

    /* F64XOR: 1/3 then 2/3 differ in bits 52..53: shift 52, width 2, y = 3 */
    const double x[] = {1.0 / 3, 2.0 / 3};
    b = enc_f64(0, x, 2, &len);
    assert_bytes(b, len,
                 (const uint8_t[]){0x31, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5, 0x3f, 52, 2, 0x03},
                 12);
    free(b);

    const double r[] = {-0.0};
    b = enc_f64(0, r, 1, &len);
    assert_bytes(b, len, (const uint8_t[]){0x01, 0, 0, 0, 0, 0, 0, 0, 0x80}, 9);
    free(b);
}

Test(doubles, special_values_bit_exact)
{
    const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, dfrom(0x7ff0000000000001ull),
                               dfrom(0xfff8dead00000000ull), dfrom(0x7ff4000000000123ull),
                               5e-324, -5e-324, DBL_MAX, -DBL_MAX, DBL_MIN, 0.1, -0.1, 19.99,
                               1e15, 9007199254740992.0, 9007199254740993.0, 1e300, 123.4567,
                               0.00001, 0.0001, -1234567.89};
    const size_t ns = sizeof specials / sizeof specials[0];
    const unsigned ms[] = {0, TSAGG_ENC_M_RAW, TSAGG_ENC_M_XOR,
                           TSAGG_ENC_M_DEC | TSAGG_ENC_M_RAW};
    for (size_t i = 0; i < ns; i++)
        for (int m = 0; m < 4; m++) {
            rt_f64(ms[m], &specials[i], 1, NULL);
            double two[2] = {specials[i], specials[(i + 1) % ns]};
            rt_f64(ms[m], two, 2, NULL);
        }
    for (int m = 0; m < 4; m++)
        rt_f64(ms[m], specials, ns, NULL);

    /* DEC alone: TSAGG_EARG when it cannot represent the block */
    uint8_t out[64];
    size_t w;
    cr_assert_eq(tsagg__enc_f64_using(specials, 2, TSAGG_ENC_M_DEC, out, sizeof out, &w),
                 TSAGG_EARG);
    const double dec[] = {1.5, 2.25, -3.125}; /* k = 3 */
    cr_assert_eq(rt_f64(TSAGG_ENC_M_DEC, dec, 3, NULL), TSAGG_ENC_TAG_F64DEC);
}

Test(doubles, random_round_trips)
{
    enum { N = 1024 };
    double v[N];
    uint64_t seed = 11;
    for (int round = 0; round < 300; round++) {
        int shape = round % 6;
        for (size_t i = 0; i < N; i++) {
            double u = unif(&seed);
            switch (shape) {
            case 0: v[i] = u < 0.9 ? 0 : floor(u * 100000) / 100; break; /* revenue */
            case 1: v[i] = (floor(u * 1e6) - 500000) / 10000; break;       /* 4 decimals */
            case 2: v[i] = u * 1000; break;                                 /* noise */
            case 3: v[i] = dfrom(tu_splitmix64(&seed)); break;              /* any bits */
            case 4: v[i] = 20.0 + 0.5 * sin((double)i / 50); break;         /* smooth */
            case 5:
                v[i] = (double)(int64_t)(tu_splitmix64(&seed) >> 12) * (u < 0.5 ? -1 : 1);
                break;
            }
        }
        size_t n = 1 + tu_splitmix64(&seed) % N, best;
        int tag = rt_f64(0, v, n, &best);
        if (shape <= 1)
            cr_assert_eq(tag, TSAGG_ENC_TAG_F64DEC, "shape %d: %s", shape, tsagg__enc_tag_name(tag));
        const unsigned ms[] = {TSAGG_ENC_M_RAW, TSAGG_ENC_M_XOR};
        for (int m = 0; m < 2; m++) {
            size_t len;
            rt_f64(ms[m], v, n, &len);
            cr_assert_leq(best, len);
        }
    }
}

/* ---- string tables ---------------------------------------------------------- */

Test(strtab, known_answer_and_lookup)
{
    const char *s[] = {"a", NULL, "bc"};
    const size_t l[] = {1, 0, 2};
    uint8_t out[64];
    size_t w;
    cr_assert_eq(tsagg__strtab_encode(s, l, 3, out, 10, &w), -ENOBUFS);
    cr_assert_eq(w, 24);
    cr_assert_eq(tsagg__strtab_size(3, 3), 24);
    cr_assert_eq(tsagg__strtab_encode(s, l, 3, out, sizeof out, &w), 0);
    assert_bytes(out, w,
                 (const uint8_t[]){0x40, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 0,
                                   0, 0, 'a', 'b', 'c'},
                 24);
    uint8_t *in = dup_exact(out, w);
    tsagg__strtab t;
    cr_assert_eq(tsagg__strtab_open(&t, in, w), 0);
    cr_assert_eq(t.count, 3);
    const char *p;
    size_t len;
    cr_assert_eq(tsagg__strtab_get(&t, 2, &p, &len), 0);
    cr_assert_eq(len, 2);
    cr_assert(memcmp(p, "bc", 2) == 0);
    cr_assert_eq(tsagg__strtab_get(&t, 1, &p, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert_eq(tsagg__strtab_get(&t, 3, &p, &len), TSAGG_EARG);
    uint32_t code = 99;
    cr_assert_eq(tsagg__strtab_find(&t, "bc", 2, &code), 1);
    cr_assert_eq(code, 2);
    cr_assert_eq(tsagg__strtab_find(&t, "", 0, &code), 1);
    cr_assert_eq(code, 1);
    cr_assert_eq(tsagg__strtab_find(&t, "b", 1, &code), 0);

    /* every truncation, a trailing byte, and broken offsets are corrupt */
    for (size_t k = 0; k < w; k++) {
        uint8_t *c = dup_exact(out, k);
        cr_assert_eq(tsagg__strtab_open(&t, c, k), TSAGG_ECORRUPT, "prefix %zu", k);
        free(c);
    }
    uint8_t longer[25];
    memcpy(longer, out, 24);
    longer[24] = 0;
    cr_assert_eq(tsagg__strtab_open(&t, longer, 25), TSAGG_ECORRUPT);
    in[13] = 4; /* offsets[2] = 4 > offsets[3] = 3 */
    cr_assert_eq(tsagg__strtab_open(&t, in, w), TSAGG_ECORRUPT);
    in[13] = 1;
    in[1] = 0xff; /* count far beyond the bytes */
    cr_assert_eq(tsagg__strtab_open(&t, in, w), TSAGG_ECORRUPT);
    free(in);

    cr_assert_eq(tsagg__strtab_encode(NULL, NULL, 0, out, sizeof out, &w), 0);
    cr_assert_eq(w, 9);
    cr_assert_eq(tsagg__strtab_open(&t, out, w), 0);
    cr_assert_eq(t.count, 0);
}

/* ---- corrupt input ---------------------------------------------------------- */

/* Decode a block of the family of tag with n values; any result but 0 or
 * TSAGG_ECORRUPT is a failure (crashes and OOB reads are caught by ASan). */
static int dec_any(const uint8_t *blk, size_t len, size_t n, int fam)
{
    void *out = malloc((n ? n : 1) * 8);
    int rc;
    if (fam == 0)
        rc = tsagg__dec_u64(blk, len, out, n);
    else if (fam == 1)
        rc = tsagg__dec_u32(blk, len, out, n, 1000);
    else
        rc = tsagg__dec_f64(blk, len, out, n);
    free(out);
    cr_assert(rc == 0 || rc == TSAGG_ECORRUPT, "rc %d", rc);
    return rc;
}

/* One valid block of each format, for damaging. fam: 0 words, 1 u32, 2 f64. */
struct sample {
    uint8_t *blk;
    size_t len, n;
    int fam;
};

static size_t make_samples(struct sample *s)
{
    enum { N = 300 };
    static uint64_t w[N];
    static uint32_t c[N];
    static double d[N];
    uint64_t seed = 3;
    size_t k = 0;
    for (size_t i = 0; i < N; i++)
        w[i] = 1700000000000000 + i * 1000000 + tu_splitmix64(&seed) % 1000 +
               (i == 100 ? 5000000000ull : 0);
    const unsigned ms[] = {TSAGG_ENC_M_RAW, TSAGG_ENC_M_FOR, TSAGG_ENC_M_DELTA, TSAGG_ENC_M_DOD};
    for (int m = 0; m < 4; m++, k++) {
        s[k].blk = enc_words(W_U64, ms[m], w, N, &s[k].len);
        s[k].n = N;
        s[k].fam = 0;
    }
    s[k].blk = enc_words(W_U64, TSAGG_ENC_M_DELTAHUF, w, N, &s[k].len);
    s[k].n = N;
    s[k++].fam = 0;
    for (size_t i = 0; i < N; i++)
        w[i] = tu_splitmix64(&seed) % 7 * 0x0123456789abcdefull;
    s[k].blk = enc_words(W_ID, TSAGG_ENC_M_DICT, w, N, &s[k].len);
    s[k].n = N;
    s[k++].fam = 0;
    s[k].blk = enc_words(W_ID, TSAGG_ENC_M_DICTREF, w, N, &s[k].len);
    s[k].n = N;
    s[k++].fam = 0;
    s[k].blk = enc_words(W_ID, TSAGG_ENC_M_DICTREFHUF, w, N, &s[k].len);
    s[k].n = N;
    s[k++].fam = 0;
    for (size_t i = 0; i < N; i++)
        c[i] = (uint32_t)(tu_splitmix64(&seed) % 900);
    s[k].blk = enc_u32(c, N, 1000, &s[k].len);
    s[k].n = N;
    s[k++].fam = 1;
    for (size_t i = 0; i < N; i++)
        c[i] = (uint32_t)(tu_splitmix64(&seed) % 5 ? tu_splitmix64(&seed) % 4
                                                   : tu_splitmix64(&seed) % 900);
    s[k].blk = enc_u32(c, N, 1000, &s[k].len);
    s[k].n = N;
    s[k++].fam = 1;
    for (size_t i = 0; i < N; i++)
        d[i] = i % 9 ? 0 : (double)(tu_splitmix64(&seed) % 10000) / 100;
    s[k].blk = enc_f64(0, d, N, &s[k].len);
    s[k].n = N;
    s[k++].fam = 2;
    for (size_t i = 0; i < N; i++)
        d[i] = 100 + sin((double)i);
    s[k].blk = enc_f64(TSAGG_ENC_M_XOR, d, N, &s[k].len);
    s[k].n = N;
    s[k++].fam = 2;
    return k;
}

Test(corrupt, truncated_and_trailing)
{
    struct sample s[12];
    size_t ns = make_samples(s);
    cr_assert_eq(s[4].blk[0], TSAGG_ENC_TAG_DELTAHUF);
    cr_assert_eq(s[6].blk[0], TSAGG_ENC_TAG_DICTREF);
    cr_assert_eq(s[7].blk[0], TSAGG_ENC_TAG_DICTREFHUF);
    cr_assert_eq(s[8].blk[0], TSAGG_ENC_TAG_U32FOR);
    cr_assert_eq(s[9].blk[0], TSAGG_ENC_TAG_U32HUF);
    cr_assert_eq(s[10].blk[0], TSAGG_ENC_TAG_F64DEC);
    for (size_t k = 0; k < ns; k++) {
        cr_assert_eq(dec_any(s[k].blk, s[k].len, s[k].n, s[k].fam), 0);
        for (size_t l = 0; l < s[k].len; l++) {
            uint8_t *c = dup_exact(s[k].blk, l);
            cr_assert_eq(dec_any(c, l, s[k].n, s[k].fam), TSAGG_ECORRUPT, "sample %zu (%s) prefix %zu",
                         k, tsagg__enc_tag_name(s[k].blk[0]), l);
            free(c);
        }
        uint8_t *c = malloc(s[k].len + 1);
        memcpy(c, s[k].blk, s[k].len);
        c[s[k].len] = 0;
        cr_assert_eq(dec_any(c, s[k].len + 1, s[k].n, s[k].fam), TSAGG_ECORRUPT, "sample %zu", k);
        /* A different count: not always detectable (n is the caller's; a
         * width-0 block fits any n), but never a crash. RAW always fails. */
        dec_any(s[k].blk, s[k].len, s[k].n + 1, s[k].fam);
        dec_any(s[k].blk, s[k].len, s[k].n - 9, s[k].fam);
        if (s[k].blk[0] == TSAGG_ENC_TAG_RAW64)
            cr_assert_eq(dec_any(s[k].blk, s[k].len, s[k].n + 1, s[k].fam), TSAGG_ECORRUPT);
        free(c);
        free(s[k].blk);
    }
}

Test(corrupt, wrong_tags)
{
    struct sample s[12];
    size_t ns = make_samples(s);
    for (size_t k = 0; k < ns; k++) {
        uint8_t *c = dup_exact(s[k].blk, s[k].len);
        for (int tag = 0; tag < 256; tag++) {
            c[0] = (uint8_t)tag;
            int rc = dec_any(c, s[k].len, s[k].n, s[k].fam);
            if (tsagg__enc_block_tag(c, s[k].len) < 0)
                cr_assert_eq(rc, TSAGG_ECORRUPT, "tag 0x%02x accepted", tag);
        }
        free(c);
        free(s[k].blk);
    }
    /* a 64-bit block is no code block and vice versa */
    const uint8_t u32for[] = {0x20, 0x00, 0x01, 0x00};
    uint64_t o[8];
    cr_assert_eq(tsagg__dec_u64(u32for, 4, o, 8), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_f64(u32for, 4, (double *)o, 8), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_u64(u32for, 0, o, 0), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__enc_block_tag(u32for, 0), TSAGG_ECORRUPT);
}

Test(corrupt, bad_fields)
{
    uint64_t o[8];
    uint32_t o32[8];
    double od[8];
    /* width 65 in a PFOR section */
    const uint8_t w65[] = {0x10, 0x00, 65, 0x00};
    cr_assert_eq(tsagg__dec_u64(w65, sizeof w65, o, 0), TSAGG_ECORRUPT);
    /* width 33 for codes */
    const uint8_t w33[] = {0x20, 0x00, 33};
    cr_assert_eq(tsagg__dec_u32(w33, sizeof w33, o32, 0, 10), TSAGG_ECORRUPT);
    /* codes beyond the dictionary: base 8 + offset 3 >= 10 */
    const uint8_t big[] = {0x20, 0x08, 0x02, 0x0c};
    cr_assert_eq(tsagg__dec_u32(big, sizeof big, o32, 2, 100), 0);
    cr_assert_eq(tsagg__dec_u32(big, sizeof big, o32, 2, 10), TSAGG_ECORRUPT);
    /* a base near 2^32: offsets that wrap are caught */
    uint8_t wrap[] = {0x20, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x02, 0x03};
    cr_assert_eq(tsagg__dec_u32(wrap, sizeof wrap, o32, 1, UINT32_MAX), TSAGG_ECORRUPT);
    wrap[7] = 0x00;
    cr_assert_eq(tsagg__dec_u32(wrap, sizeof wrap, o32, 1, UINT32_MAX), 0);
    cr_assert_eq(o32[0], UINT32_MAX - 1);
    cr_assert_eq(tsagg__dec_u32(wrap, sizeof wrap, o32, 1, UINT32_MAX - 1), TSAGG_ECORRUPT);
    /* RAW32 against an empty dictionary */
    const uint8_t raw32[] = {0x02, 0, 0, 0, 0};
    cr_assert_eq(tsagg__dec_u32(raw32, sizeof raw32, o32, 1, 0), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_u32(raw32, sizeof raw32, o32, 1, 1), 0);
    /* base beyond u32 */
    const uint8_t b5[] = {0x20, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00};
    cr_assert_eq(tsagg__dec_u32(b5, sizeof b5, o32, 1, UINT32_MAX), TSAGG_ECORRUPT);
    /* more exceptions than values */
    const uint8_t many[] = {0x10, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x02, 0x00, 0x02};
    cr_assert_eq(tsagg__dec_u64(many, sizeof many, o, 2), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_u64(many, sizeof many, o, 3), 0);
    /* exception position out of range */
    const uint8_t pos[] = {0x10, 0x00, 0x00, 0x01, 0x05, 0x02};
    cr_assert_eq(tsagg__dec_u64(pos, sizeof pos, o, 5), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_u64(pos, sizeof pos, o, 6), 0);
    cr_assert_eq(o[5], 1);
    /* an overlong varint */
    const uint8_t vl[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0};
    cr_assert_eq(tsagg__dec_u64(vl, sizeof vl, o, 0), TSAGG_ECORRUPT);
    /* DICT: 3 entries (width 2) but a code 3; and an empty dictionary */
    uint8_t dict[1 + 1 + 24 + 1] = {0x13, 0x03};
    dict[26] = 0x03 << 2; /* codes 0 3 0 */
    cr_assert_eq(tsagg__dec_u64(dict, sizeof dict, o, 3), TSAGG_ECORRUPT);
    dict[26] = 0x02 << 2 | 0x01 << 4; /* codes 0 2 1 */
    cr_assert_eq(tsagg__dec_u64(dict, sizeof dict, o, 3), 0);
    cr_assert_eq(tsagg__dec_u64(dict, sizeof dict, o, 2), TSAGG_ECORRUPT); /* ndict > n */
    const uint8_t d0[] = {0x13, 0x00};
    cr_assert_eq(tsagg__dec_u64(d0, sizeof d0, o, 1), TSAGG_ECORRUPT);
    /* DICTREF: 2 entries, references 0 0 2 2 at width 2 decode; a
     * reference before the block's first row (0 2 0 0), a third first
     * occurrence (0 0 0 1), an unused entry (0 1 1 1), ndict > n do not */
    uint8_t dref[1 + 1 + 16 + 4] = {0x14, 0x02};
    dref[2] = 0xaa;
    dref[10] = 0xbb;
    dref[19] = 0x02; /* base 0 (dref[18]), width 2, no exceptions (dref[20]) */
    dref[21] = 0xa0;
    cr_assert_eq(tsagg__dec_u64(dref, sizeof dref, o, 4), 0);
    cr_assert(o[0] == 0xaa && o[1] == 0xbb && o[2] == 0xaa && o[3] == 0xbb);
    dref[21] = 0x08;
    cr_assert_eq(tsagg__dec_u64(dref, sizeof dref, o, 4), TSAGG_ECORRUPT);
    dref[21] = 0x40;
    cr_assert_eq(tsagg__dec_u64(dref, sizeof dref, o, 4), TSAGG_ECORRUPT);
    dref[21] = 0x54;
    cr_assert_eq(tsagg__dec_u64(dref, sizeof dref, o, 4), TSAGG_ECORRUPT);
    dref[21] = 0x00;
    cr_assert_eq(tsagg__dec_u64(dref, sizeof dref, o, 1), TSAGG_ECORRUPT);
    const uint8_t dref0[] = {0x14, 0x00, 0x00, 0x00, 0x00};
    cr_assert_eq(tsagg__dec_u64(dref0, sizeof dref0, o, 1), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_u64(dref0, sizeof dref0, o, 0), 0);
    /* DELTAHUF: a signed block of two length-1 codes (classes 2 and 4:
     * zigzag 10, then seven 2) decodes; then each field wrong */
    uint8_t hf[] = {0x15, 0x85, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00};
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), 0);
    cr_assert(o[0] == 5 && o[7] == 12);
    hf[1] = 0x80; /* no class */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[1] = 0x80 | 66; /* more classes than 0..64 */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[1] = 0x05; /* unsigned: other values */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), 0);
    cr_assert(o[0] == 10 && o[7] == 24);
    hf[1] = 0x85;
    hf[4] = 0x11; /* the unused high nibble of an odd nsym */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[4] = 0x01;
    hf[3] = 0x0c; /* a 12-bit code */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[3] = 0x02; /* lengths 2 and 1: an incomplete code */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[3] = 0x11; /* lengths 1, 1 and 1: more codes than fit */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[3] = 0x01;
    hf[7] = 0x04; /* a padding bit set */
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 8), TSAGG_ECORRUPT);
    hf[7] = 0x00;
    /* the padding holds two more values of code 0 (as a width-0 PFOR
     * block fits any count, the count is the reader's); a third is past
     * the bytes */
    int64_t o12[12];
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, o12, 10), 0);
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, o12, 12), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_i64(hf, sizeof hf, (int64_t *)o, 7), TSAGG_ECORRUPT); /* bits left */
    /* one class: its code is the bit 0, of length 1 only; a 1 bit starts
     * no code */
    uint8_t h1[] = {0x15, 0x01, 0x01, 0x00};
    cr_assert_eq(tsagg__dec_i64(h1, sizeof h1, (int64_t *)o, 8), 0);
    cr_assert_eq(o[7], 0);
    h1[3] = 0x10;
    cr_assert_eq(tsagg__dec_i64(h1, sizeof h1, (int64_t *)o, 8), TSAGG_ECORRUPT);
    h1[3] = 0x00;
    h1[2] = 0x02;
    cr_assert_eq(tsagg__dec_i64(h1, sizeof h1, (int64_t *)o, 8), TSAGG_ECORRUPT);
    /* U32HUF: a value of class 33 (2^32 + bits) is no code: base 0, nsym
     * 34, only class 33 listed (length 1: the high nibble of the 17th
     * length byte), its code and 32 bits; and a base beyond u32 */
    uint8_t u33[1 + 1 + 1 + 17 + 5] = {0x21, 0x00, 34};
    u33[3 + 16] = 0x10;
    cr_assert_eq(tsagg__dec_u32(u33, sizeof u33, o32, 1, UINT32_MAX), TSAGG_ECORRUPT);
    /* the same section is a value in a 64-bit block */
    uint8_t d33[1 + 1 + 17 + 5] = {TSAGG_ENC_TAG_DELTAHUF, 34};
    d33[2 + 16] = 0x10;
    cr_assert_eq(tsagg__dec_u64(d33, sizeof d33, o, 1), 0);
    cr_assert_eq(o[0], UINT64_C(1) << 32);
    const uint8_t u5[] = {0x21, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01, 0x01, 0x00};
    cr_assert_eq(tsagg__dec_u32(u5, sizeof u5, o32, 1, UINT32_MAX), TSAGG_ECORRUPT);
    const uint8_t u0[] = {0x21, 0x00, 0x01, 0x01, 0x00};
    cr_assert_eq(tsagg__dec_u32(u0, sizeof u0, o32, 1, 1), 0);
    cr_assert_eq(tsagg__dec_u32(u0, sizeof u0, o32, 1, 0), TSAGG_ECORRUPT);
    /* F64DEC k = 5, F64XOR shift 64, shift + width > 64 */
    const uint8_t k5[] = {0x30, 0x05, 0x00, 0x00, 0x00};
    cr_assert_eq(tsagg__dec_f64(k5, sizeof k5, od, 1), TSAGG_ECORRUPT);
    uint8_t x[] = {0x31, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0};
    cr_assert_eq(tsagg__dec_f64(x, sizeof x, od, 1), TSAGG_ECORRUPT);
    x[9] = 0;
    cr_assert_eq(tsagg__dec_f64(x, sizeof x, od, 1), 0);
    x[9] = 60;
    x[10] = 5;
    cr_assert_eq(tsagg__dec_f64(x, sizeof x, od, 1), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg__dec_f64(x, sizeof x, od, 0), TSAGG_ECORRUPT); /* XOR never holds 0 values */
    /* bad arguments */
    cr_assert_eq(tsagg__dec_u64(x, sizeof x, NULL, 1), TSAGG_EARG);
    cr_assert_eq(tsagg__dec_u64(x, sizeof x, o, (size_t)TSAGG_ENC_MAX_N + 1), TSAGG_EARG);
    size_t w;
    cr_assert_eq(tsagg__enc_words_using(o, 1, 0, NULL, 0, &w), TSAGG_EARG);
    cr_assert_eq(tsagg__enc_words_using(o, 1, 0x400, NULL, 0, &w), TSAGG_EARG);
    cr_assert_eq(tsagg__enc_f64_using(od, 1, TSAGG_ENC_M_DICT, NULL, 0, &w), TSAGG_EARG);
    cr_assert_eq(tsagg__enc_i64(NULL, 1, NULL, 0, &w), TSAGG_EARG);
    cr_assert_eq(tsagg__enc_bound(TSAGG_ENC_U32, 10), 41);
    cr_assert_eq(tsagg__enc_bound(TSAGG_ENC_I64, (size_t)TSAGG_ENC_MAX_N + 1), 0);
}

Test(corrupt, random_damage)
{
    struct sample s[12];
    size_t ns = make_samples(s);
    uint64_t seed = 1234;
    for (size_t k = 0; k < ns; k++) {
        for (int round = 0; round < 3000; round++) {
            size_t len = s[k].len;
            if (round % 3 == 0)
                len = tu_splitmix64(&seed) % (s[k].len + 1);
            uint8_t *c = dup_exact(s[k].blk, len);
            int flips = 1 + (int)(tu_splitmix64(&seed) % 4);
            for (int f = 0; f < flips && len > 0; f++) {
                /* damage mostly the headers, where it hurts most */
                size_t at = tu_splitmix64(&seed) % (f == 0 && len > 16 ? 16 : len);
                c[at] ^= (uint8_t)(1u << (tu_splitmix64(&seed) % 8));
                if (tu_splitmix64(&seed) % 4 == 0)
                    c[at] = (uint8_t)tu_splitmix64(&seed);
            }
            dec_any(c, len, s[k].n, s[k].fam);
            free(c);
        }
        free(s[k].blk);
    }
}

/* ---- compression figures (docs/encodings.md) --------------------------------- */

static int stats_on(void)
{
    const char *e = getenv("TSAGG_ENC_STATS");
    return e && *e && *e != '0';
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Totals of one data set encoded in blocks of 1024. */
struct figure {
    size_t values, raw, enc, raw_zstd, enc_zstd;
    size_t tags[256];
    double enc_ns, dec_ns;
};

static size_t zstd_len(const uint8_t *p, size_t len)
{
    size_t cap = ZSTD_compressBound(len);
    void *z = malloc(cap);
    size_t r = ZSTD_compress(z, cap, p, len, 3);
    cr_assert(!ZSTD_isError(r));
    free(z);
    return r;
}

enum skind { S_I64, S_U64, S_ID, S_U32, S_F64 };

/* Encode `n` values of data in blocks of 1024, decode them again (timed),
 * and add up raw and encoded sizes, with zstd level 3 on each block as the
 * partition file will do. */
static void measure(enum skind kind, const void *data, size_t n, uint32_t dict, struct figure *f)
{
    enum { B = 1024 };
    memset(f, 0, sizeof *f);
    uint8_t *blk = malloc(1 + 8 * B);
    uint64_t *back = malloc(8 * B);
    size_t width = kind == S_U32 ? 4 : 8;
    for (size_t i0 = 0; i0 < n; i0 += B) {
        size_t cnt = n - i0 < B ? n - i0 : B, len = 0;
        const void *v = (const uint8_t *)data + i0 * width;
        int rc = -1, reps = 20;
        double t0 = now_ns();
        for (int r = 0; r < reps; r++) {
            switch (kind) {
            case S_I64: rc = tsagg__enc_i64(v, cnt, blk, 1 + 8 * B, &len); break;
            case S_U64: rc = tsagg__enc_u64(v, cnt, blk, 1 + 8 * B, &len); break;
            case S_ID: rc = tsagg__enc_id(v, cnt, blk, 1 + 8 * B, &len); break;
            case S_U32: rc = tsagg__enc_u32(v, cnt, dict, blk, 1 + 8 * B, &len); break;
            case S_F64: rc = tsagg__enc_f64(v, cnt, blk, 1 + 8 * B, &len); break;
            }
        }
        f->enc_ns += (now_ns() - t0) / reps;
        cr_assert_eq(rc, 0);
        f->values += cnt;
        f->raw += cnt * width;
        f->enc += len;
        f->tags[blk[0]]++;
        f->raw_zstd += zstd_len(v, cnt * width);
        f->enc_zstd += zstd_len(blk, len);

        t0 = now_ns();
        for (int r = 0; r < reps; r++) {
            switch (kind) {
            case S_I64: rc = tsagg__dec_i64(blk, len, (int64_t *)back, cnt); break;
            case S_U64:
            case S_ID: rc = tsagg__dec_u64(blk, len, back, cnt); break;
            case S_U32: rc = tsagg__dec_u32(blk, len, (uint32_t *)back, cnt, dict); break;
            case S_F64: rc = tsagg__dec_f64(blk, len, (double *)back, cnt); break;
            }
        }
        f->dec_ns += (now_ns() - t0) / reps;
        cr_assert_eq(rc, 0);
        cr_assert(memcmp(back, v, cnt * width) == 0, "round trip");
    }
    free(blk);
    free(back);
}

static void report(const char *name, const struct figure *f)
{
    if (!stats_on())
        return;
    char tags[128] = "";
    for (int t = 0; t < 256; t++)
        if (f->tags[t]) {
            size_t l = strlen(tags);
            snprintf(tags + l, sizeof tags - l, "%s%s:%zu", l ? " " : "",
                     tsagg__enc_tag_name(t), f->tags[t]);
        }
    double n = (double)f->values;
    fprintf(stderr, "| %-34s | %5.2f | %5.3f | %5.3f | %5.3f | %5.2f | %5.2f | %s |\n", name,
            (double)f->raw / n, (double)f->enc / n, (double)f->raw_zstd / n,
            (double)f->enc_zstd / n, f->enc_ns / n, f->dec_ns / n, tags);
}

/* Exponential variate with the given mean. */
static double expo(uint64_t *s, double mean)
{
    return -log(1.0 - unif(s)) * mean;
}

Test(encoding_stats, realistic_columns, .timeout = 120)
{
    enum { N = 1 << 17 };
    int64_t *ts = malloc(N * 8);
    uint64_t *u = malloc(N * 8);
    uint32_t *c = malloc(N * 4);
    double *d = malloc(N * 8);
    uint64_t seed = 2024;
    struct figure f;
    const int64_t hour = 1718000000000000 / 3600000000 * 3600000000;
    if (stats_on())
        fprintf(stderr, "\n| data (blocks of 1024) | raw B/v | enc B/v | raw+zstd | enc+zstd "
                        "| enc ns/v | dec ns/v | blocks |\n");

    /* 1. one merchant, Poisson arrivals at 1 event/s */
    double t = 0;
    for (size_t i = 0; i < N; i++) {
        t += expo(&seed, 1e6);
        ts[i] = hour + (int64_t)t;
    }
    measure(S_I64, ts, N, 0, &f);
    report("ts: 1 merchant, Poisson 1/s", &f);
    cr_assert_leq(f.enc, 3 * f.values + f.values / 4, "Poisson timestamps grew");

    /* 2. one merchant, every second +- 50 ms jitter */
    for (size_t i = 0; i < N; i++)
        ts[i] = hour + (int64_t)i * 1000000 + (int64_t)(tu_splitmix64(&seed) % 100001) - 50000;
    measure(S_I64, ts, N, 0, &f);
    report("ts: 1/s +- 50 ms jitter", &f);
    cr_assert_leq(f.enc, 3 * f.values, "regular timestamps grew");

    /* 3. an hour partition: Zipf merchants (s = 1.1, 20000 of them), event
     * times uniform in the hour, sorted by (merchant, ts) */
    {
        enum { M = 20000 };
        double *cdf = malloc(M * sizeof *cdf), sum = 0;
        for (size_t m = 0; m < M; m++)
            cdf[m] = sum += 1.0 / pow((double)m + 1, 1.1);
        uint64_t *key = malloc(N * 8);
        for (size_t i = 0; i < N; i++) {
            double x = unif(&seed) * sum;
            size_t lo = 0, hi = M - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cdf[mid] < x)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            key[i] = lo;
            ts[i] = hour + (int64_t)(tu_splitmix64(&seed) % 3600000000ull);
        }
        /* sort by (merchant, ts): merchant-major counting sort, then ts */
        size_t *start = calloc(M + 1, sizeof *start);
        for (size_t i = 0; i < N; i++)
            start[key[i] + 1]++;
        for (size_t m = 0; m < M; m++)
            start[m + 1] += start[m];
        int64_t *sorted = malloc(N * 8);
        size_t *fillp = malloc(M * sizeof *fillp);
        memcpy(fillp, start, M * sizeof *fillp);
        for (size_t i = 0; i < N; i++)
            sorted[fillp[key[i]]++] = ts[i];
        for (size_t m = 0; m < M; m++) /* insertion sort per merchant run */
            for (size_t i = start[m] + 1; i < start[m + 1]; i++)
                for (size_t j = i; j > start[m] && sorted[j - 1] > sorted[j]; j--) {
                    int64_t x = sorted[j];
                    sorted[j] = sorted[j - 1];
                    sorted[j - 1] = x;
                }
        /* merchant ids: hashed (random 64-bit), one per merchant */
        size_t at = 0;
        for (size_t m = 0; m < M; m++) {
            uint64_t s2 = m * 77 + 5;
            uint64_t id = tu_splitmix64(&s2);
            for (; at < start[m + 1]; at++)
                u[at] = id;
        }
        measure(S_I64, sorted, N, 0, &f);
        report("ts: hour, 20k Zipf merchants", &f);
        measure(S_ID, u, N, 0, &f);
        report("merchant (hashed), sorted, as id", &f);
        measure(S_U64, u, N, 0, &f);
        report("merchant (hashed), sorted, as u64", &f);
        for (size_t i = 0; i < N; i++) /* small sequential merchant ids */
            u[i] = 0;
        at = 0;
        for (size_t m = 0; m < M; m++)
            for (; at < start[m + 1]; at++)
                u[at] = 1000 + m;
        measure(S_U64, u, N, 0, &f);
        report("merchant (sequential), sorted, u64", &f);
        free(cdf);
        free(key);
        free(start);
        free(sorted);
        free(fillp);
    }

    /* 4. hashed user ids, 20% distinct per block (205 users per 1024 rows) */
    for (size_t i0 = 0; i0 < N; i0 += 1024) {
        uint64_t pool[205];
        for (int k = 0; k < 205; k++)
            pool[k] = tu_splitmix64(&seed);
        for (size_t i = 0; i < 1024; i++)
            u[i0 + i] = pool[i < 205 ? i : tu_splitmix64(&seed) % 205];
    }
    measure(S_ID, u, N, 0, &f);
    report("user ids, 20% distinct", &f);
    cr_assert_leq(f.enc, 3 * f.values, "id dictionary grew");
    /* session ids of a busy merchant: 20% of rows start a session, the
     * others continue one of the 16 latest rows' sessions */
    near_repeats(u, N, 20, 16, &seed);
    measure(S_ID, u, N, 0, &f);
    report("session ids, 20% new, repeats nearby", &f);
    cr_assert_leq(f.enc, 12 * f.values / 5, "id back-references grew"); /* DICT: 2.6 */
    for (size_t i = 0; i < N; i++)
        u[i] = tu_splitmix64(&seed);
    measure(S_ID, u, N, 0, &f);
    report("session/event ids, all distinct", &f);

    /* 5. revenue: 95% of events 0, purchases 0.99..199.99 in cents */
    for (size_t i = 0; i < N; i++)
        d[i] = unif(&seed) < 0.95 ? 0.0 : (double)(99 + tu_splitmix64(&seed) % 19901) / 100;
    measure(S_F64, d, N, 0, &f);
    report("revenue: 95% zero, 2 decimals", &f);
    cr_assert_leq(f.enc, f.values / 2, "sparse revenue grew");
    for (size_t i = 0; i < N; i++)
        d[i] = (double)(99 + tu_splitmix64(&seed) % 19901) / 100;
    measure(S_F64, d, N, 0, &f);
    report("revenue: every row a purchase", &f);
    for (size_t i = 0; i < N; i++)
        d[i] = unif(&seed) * 1000;
    measure(S_F64, d, N, 0, &f);
    report("doubles: random 53-bit mantissas", &f);

    /* 6. event names: 12-entry dictionary, Zipf-ish frequencies */
    for (size_t i = 0; i < N; i++) {
        double x = unif(&seed);
        uint32_t code = 0;
        while (code < 11 && x > 0.45) {
            x = (x - 0.45) / 0.55;
            code++;
        }
        c[i] = code;
    }
    measure(S_U32, c, N, 12, &f);
    report("event codes: 12 names", &f);
    cr_assert_leq(f.enc, f.values / 2 + f.values / 100 + 64);
    for (size_t i = 0; i < N; i++)
        c[i] = (uint32_t)(tu_splitmix64(&seed) % 5000);
    measure(S_U32, c, N, 5000, &f);
    report("page codes: 5000 pages, uniform", &f);

    free(ts);
    free(u);
    free(c);
    free(d);
}
