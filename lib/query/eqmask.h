/*
 * eqmask.h - which of 64 one-byte codes equal a value, as a bit mask: how
 * a filter of one value on 1-byte codes (--where country=US) selects rows.
 *
 * SSE2 compares 16 codes an instruction; the plain loop is what other
 * targets build. Both are compiled wherever SSE2 is, so that a test holds
 * the plain one to the same answers (tests/test_query.c).
 */
#ifndef TSAGG_EQMASK_H
#define TSAGG_EQMASK_H

#include <stdint.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Bit j set when c[j] == eq, for j < 64. */
static inline uint64_t tsagg__eq_mask64_plain(const uint8_t *c, uint8_t eq)
{
    uint64_t m = 0;
    for (int j = 0; j < 64; j++)
        m |= (uint64_t)(c[j] == eq) << j;
    return m;
}

#ifdef __SSE2__
static inline uint64_t tsagg__eq_mask64_sse2(const uint8_t *c, uint8_t eq)
{
    __m128i e = _mm_set1_epi8((char)eq);
    uint64_t m = 0;
    for (int q = 0; q < 4; q++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(c + 16 * q));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, e)) << (16 * q);
    }
    return m;
}
#endif

static inline uint64_t tsagg__eq_mask64(const uint8_t *c, uint8_t eq)
{
#ifdef __SSE2__
    return tsagg__eq_mask64_sse2(c, eq);
#else
    return tsagg__eq_mask64_plain(c, eq);
#endif
}

#endif
