/*
 * enc_internal.h - helpers shared by the encoding sources (bitpack.c,
 * pfor.c, intcodec.c, floatcodec.c, encoding.c). Not used outside
 * lib/partition/; the API is encoding.h.
 *
 * The one piece of real machinery here is the "PFOR section" (patched frame
 * of reference), the integer stream that the FOR, DELTA, DOD and F64DEC
 * blocks all carry. Its byte layout (docs/encodings.md, "PFOR section"):
 *
 *   varint  zigzag(base)        int64 frame of reference of the inliers
 *   u8      width               0..64, bits per packed offset
 *   varint  nexc                number of exceptions, <= count
 *   bytes   packed              ceil(count * width / 8) bytes: for every value
 *                               (x - base) mod 2^64, 0 in exception slots,
 *                               LSB-first bit packing (bitpack.c)
 *   nexc x  { varint gap; varint zigzag(x) }
 *                               exception positions p0 = gap0,
 *                               pk = p(k-1) + 1 + gapk, each < count;
 *                               x is the whole value, not an offset
 */
#ifndef TSAGG_ENC_INTERNAL_H
#define TSAGG_ENC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "encoding.h"

/* Values are produced and consumed in chunks of this many (a multiple of 8,
 * so that a chunk always starts on a byte boundary of a packed stream). */
#define ENC_CHUNK 256

/* Little-endian 64-bit load/store for hot loops: one instruction on
 * little-endian hosts, the portable byte form elsewhere. */
static inline uint64_t enc_ld64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return tsagg__get_u64(p);
#endif
}

static inline void enc_st64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    tsagg__put_u64(p, v);
#endif
}

/* Number of significant bits of x: 0 for 0, 64 for values >= 2^63. */
static inline unsigned enc_bits(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

/* Bytes of the LEB128 form of x (1..10). */
static inline size_t enc_varint_len(uint64_t x)
{
    unsigned b = enc_bits(x);
    return b ? (b + 6) / 7 : 1;
}

/* A mask of the low w bits, w in 0..64. */
static inline uint64_t enc_mask(unsigned w)
{
    return w >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << w) - 1;
}

/* tsagg__bitunpack64/32 that add base (mod 2^64 / 2^32) to every value on
 * the way out: the frame of reference costs no extra pass. */
int tsagg__bitunpack64_base(const uint8_t *in, size_t n, unsigned w, uint64_t base,
                            uint64_t *out);
int tsagg__bitunpack32_base(const uint8_t *in, size_t n, unsigned w, uint32_t base,
                            uint32_t *out);

/* Produces values [i0, i0 + cnt) of an integer stream into dst (cnt <=
 * ENC_CHUNK). The PFOR encoder pulls its input through one of these, so
 * that transforms (delta, decimal scaling) need no scratch array of n. */
typedef void (*enc_fill_fn)(const void *ctx, size_t i0, size_t cnt, uint64_t *dst);

/* The encoder's choice for one PFOR section. */
typedef struct pfor_plan {
    uint64_t base;  /* frame of reference (an int64 bit pattern) */
    unsigned width; /* bits per packed offset */
    unsigned limit; /* values whose zigzag needs more bits are exceptions */
    size_t nexc;    /* number of exceptions */
    size_t size;    /* exact bytes of the section */
} pfor_plan;

/* Analyse n values (two passes) and choose base, width and exceptions so
 * that the section is small. Never fails. */
void tsagg__pfor_plan(enc_fill_fn fill, const void *ctx, size_t n, pfor_plan *plan);

/* Write the section planned above: exactly plan->size bytes at out. */
void tsagg__pfor_write(enc_fill_fn fill, const void *ctx, size_t n, const pfor_plan *plan,
                       uint8_t *out);

/* A parsed, validated section. */
typedef struct pfor_view {
    uint64_t base;
    unsigned width;
    size_t count;
    size_t nexc;
    const uint8_t *packed; /* bitpack_size(count, width) bytes */
    const uint8_t *exc;    /* the exception list (already validated) */
    const uint8_t *end;    /* end of the section */
} pfor_view;

/* Parse a section of `count` values at *p (not past end): checks the width,
 * the exception count, that the packed bytes are present, and every
 * exception (positions increasing and < count, varints well formed).
 * Advances *p past the section. 0 or TSAGG_ECORRUPT. */
int tsagg__pfor_parse(const uint8_t **p, const uint8_t *end, size_t count, pfor_view *view);

/* Inliers of values [i0, i0 + cnt): base + packed offset (exception slots
 * come out as base). i0 must be a multiple of 8. */
void tsagg__pfor_unpack(const pfor_view *view, size_t i0, size_t cnt, uint64_t *dst);

/* Iterates the exceptions of a parsed view. */
typedef struct pfor_exc_iter {
    const uint8_t *p, *end;
    size_t left;
    size_t pos; /* position of the next exception, valid after _next */
    int started;
} pfor_exc_iter;

void tsagg__pfor_exc_begin(const pfor_view *view, pfor_exc_iter *it);

/* Next exception: 1 with *pos and *value set, or 0 at the end. */
int tsagg__pfor_exc_next(pfor_exc_iter *it, size_t *pos, uint64_t *value);

/* Decode a whole section into out[0..count): unpack, then patch. */
void tsagg__pfor_decode(const pfor_view *view, uint64_t *out);

/*
 * The size-class section (sizeclass.c), the integer stream of DELTAHUF,
 * DICTREFHUF and U32HUF blocks: values coded by their bit length (the
 * class, 0..64, of the value or of its zigzag form) with a per-section
 * Huffman code, each followed by its bits below the top one. Layout (docs/encodings.md, "Size-class section"):
 *
 *   u8      form | nsym         bit 7 (SC_ZIGZAG): values are coded by their
 *                               zigzag form (signed), else as they are;
 *                               bits 0-6, nsym: 1..65, classes 0..nsym-1
 *                               have a length
 *   bytes   lengths             ceil(nsym / 2) bytes, class c's code length
 *                               (0 unused, 1..SC_MAX_LEN) in the low nibble
 *                               of byte c / 2 for even c, the high for odd
 *   bits    stream              per value: the class's canonical code, first
 *                               bit first, then its class - 1 low bits (class
 *                               >= 2), LSB-first; zero padding to a byte
 */
#define SC_CLASSES 65
#define SC_MAX_LEN 11
#define SC_ZIGZAG 0x80u

typedef struct sc_plan {
    uint8_t len[SC_CLASSES]; /* code length of each class, 0: unused */
    unsigned nsym;           /* highest used class + 1 */
    int zigzag;              /* signed form */
    size_t size;             /* exact bytes of the section */
} sc_plan;

/* Count the classes of n values, in both forms, and choose the smaller
 * form and its code. Never fails. */
void tsagg__sc_plan(enc_fill_fn fill, const void *ctx, size_t n, sc_plan *plan);

/* The class counts of n values in both forms, unsigned (u) and zigzag
 * (z): what tsagg__sc_plan counts. A PFOR plan of the same values gathers
 * them on its way (the zigzag ones are its own statistics), so that a
 * block that plans both reads its values once. */
typedef struct enc_class_counts {
    uint32_t u[SC_CLASSES], z[SC_CLASSES];
} enc_class_counts;

/* tsagg__pfor_plan that also fills *counts. */
void tsagg__pfor_plan_counting(enc_fill_fn fill, const void *ctx, size_t n, pfor_plan *plan,
                               enc_class_counts *counts);

/* tsagg__sc_plan from counts already taken. */
void tsagg__sc_plan_counts(const enc_class_counts *counts, sc_plan *plan);

/* Write the section planned above: exactly plan->size bytes at out. */
void tsagg__sc_write(enc_fill_fn fill, const void *ctx, size_t n, const sc_plan *plan,
                     uint8_t *out);

/* Decode a section of n values that is exactly the bytes [p, end)
 * into out[0..n). 0 or TSAGG_ECORRUPT (a length above SC_MAX_LEN, a code
 * that is not complete, a bit pattern no code starts, bits missing, or
 * trailing or nonzero padding bits). */
int tsagg__sc_decode(const uint8_t *p, const uint8_t *end, size_t n, uint64_t *out);

/* The same into 32-bit values: a value above 2^32 - 1 is TSAGG_ECORRUPT. */
int tsagg__sc_decode32(const uint8_t *p, const uint8_t *end, size_t n, uint32_t *out);

#endif
