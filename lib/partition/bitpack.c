/*
 * bitpack.c - LSB-first bit packing of 32- and 64-bit values, widths 0..64.
 *
 * Layout (docs/encodings.md, "Bit packing"): value i of width w occupies
 * stream bits [i*w, i*w + w), least significant bit first; stream bit b is
 * bit b % 8 of byte b / 8. n values take exactly ceil(n*w/8) bytes.
 *
 * Eight values of width w take exactly w bytes, so both directions work in
 * groups of 8 with one kernel per width (generated below with w a
 * compile-time constant): straight-line code of fixed loads, shifts, masks
 * and stores, no branches. The unpack kernel reads a few bytes past its
 * group with 8-byte loads, so it runs directly on the input only while those
 * bytes exist; the last groups are copied to a zero-padded buffer first. The
 * pack kernel writes exactly its w bytes; the last n % 8 values go through a
 * generic accumulator loop.
 */
#include <errno.h>

#include "enc_internal.h"
#include "tsagg_errors.h"

size_t tsagg__bitpack_size(size_t n, unsigned w)
{
    /* (n/8)*w + ceil((n%8)*w/8), which cannot overflow for n <= SIZE_MAX/8 */
    return (n / 8) * w + ((n % 8) * w + 7) / 8;
}

/* The generic packer, for the last n % 8 values: a 64-bit accumulator
 * flushed 8 bytes at a time. is32 selects the input type (a constant at both
 * call sites). Writes exactly ceil(n*w/8) bytes. */
static inline void pack_core(const void *vin, int is32, size_t n, unsigned w, uint8_t *out)
{
    const uint64_t mask = enc_mask(w);
    const uint64_t *v64 = vin;
    const uint32_t *v32 = vin;
    uint64_t acc = 0;
    unsigned fill = 0; /* bits in acc, always < 64 */
    uint8_t *o = out;

    for (size_t i = 0; i < n; i++) {
        uint64_t x = (is32 ? v32[i] : v64[i]) & mask;
        acc |= x << fill;
        if (fill + w >= 64) {
            enc_st64(o, acc);
            o += 8;
            acc = fill ? x >> (64 - fill) : 0;
            fill = fill + w - 64;
        } else {
            fill += w;
        }
    }
    for (unsigned b = 0; b < fill; b += 8) {
        *o++ = (uint8_t)acc;
        acc >>= 8;
    }
}

/* Packing kernels: a group of 8 values becomes exactly w bytes, assembled
 * in up to 8 words whose indexes and shifts are constants once w is. */
#define PACK_ONE(J)                                                     \
    do {                                                                \
        const unsigned bit_ = (J) * w, sh_ = bit_ & 63;                 \
        const uint64_t x_ = (uint64_t)in[J] & mask;                     \
        wd[bit_ >> 6] |= x_ << sh_;                                     \
        if (sh_ + w > 64)                                               \
            wd[(bit_ >> 6) + 1] |= x_ >> ((64 - sh_) & 63);             \
    } while (0)

/* Store the low r (< 8, a constant in the kernels) bytes of x, LE. */
static inline void store_low(uint8_t *p, uint64_t x, unsigned r)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &x, r);
#else
    for (unsigned b = 0; b < r; b++)
        p[b] = (uint8_t)(x >> (8 * b));
#endif
}

#define DEF_PACK_GROUPS(NAME, T)                                                    \
    static inline __attribute__((always_inline)) void NAME(const T *in, size_t ng,  \
                                                           uint8_t *out,            \
                                                           const unsigned w)        \
    {                                                                               \
        const uint64_t mask = enc_mask(w);                                          \
        for (size_t g = 0; g < ng; g++, in += 8, out += w) {                        \
            uint64_t wd[9] = {0};                                                   \
            PACK_ONE(0); PACK_ONE(1); PACK_ONE(2); PACK_ONE(3);                     \
            PACK_ONE(4); PACK_ONE(5); PACK_ONE(6); PACK_ONE(7);                     \
            for (unsigned k = 0; k < w / 8; k++)                                    \
                enc_st64(out + 8 * k, wd[k]);                                       \
            store_low(out + 8 * (w / 8), wd[w / 8], w % 8);                         \
        }                                                                           \
    }
DEF_PACK_GROUPS(pack64_groups, uint64_t)
DEF_PACK_GROUPS(pack32_groups, uint32_t)

typedef void (*pack64_fn)(const uint64_t *in, size_t ng, uint8_t *out);
typedef void (*pack32_fn)(const uint32_t *in, size_t ng, uint8_t *out);

#define WIDTHS_1_32(X)                                                                     \
    X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) \
    X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30)    \
    X(31) X(32)
#define WIDTHS_33_64(X)                                                                    \
    X(33) X(34) X(35) X(36) X(37) X(38) X(39) X(40) X(41) X(42) X(43) X(44) X(45) X(46)    \
    X(47) X(48) X(49) X(50) X(51) X(52) X(53) X(54) X(55) X(56) X(57) X(58) X(59) X(60)    \
    X(61) X(62) X(63) X(64)

#define DEFP64(W)                                                           \
    static void pack64_w##W(const uint64_t *in, size_t ng, uint8_t *out) \
    {                                                                       \
        pack64_groups(in, ng, out, W);                                      \
    }
#define DEFP32(W)                                                           \
    static void pack32_w##W(const uint32_t *in, size_t ng, uint8_t *out) \
    {                                                                       \
        pack32_groups(in, ng, out, W);                                      \
    }
WIDTHS_1_32(DEFP64)
WIDTHS_33_64(DEFP64)
WIDTHS_1_32(DEFP32)

#define REFP64(W) pack64_w##W,
#define REFP32(W) pack32_w##W,
/* Indexed by width; entry 0 is unused (width 0 writes nothing). Read-only. */
static const pack64_fn pack64_tab[65] = {NULL, WIDTHS_1_32(REFP64) WIDTHS_33_64(REFP64)};
static const pack32_fn pack32_tab[33] = {NULL, WIDTHS_1_32(REFP32)};

int tsagg__bitpack64(const uint64_t *v, size_t n, unsigned w, uint8_t *out)
{
    if (w > 64 || n > TSAGG_ENC_MAX_N)
        return TSAGG_EARG;
    if (w == 0 || n == 0)
        return 0;
    size_t ng = n / 8;
    pack64_tab[w](v, ng, out);
    if (n % 8)
        pack_core(v + 8 * ng, 0, n % 8, w, out + ng * w);
    return 0;
}

int tsagg__bitpack32(const uint32_t *v, size_t n, unsigned w, uint8_t *out)
{
    if (w > 32 || n > TSAGG_ENC_MAX_N)
        return TSAGG_EARG;
    if (w == 0 || n == 0)
        return 0;
    size_t ng = n / 8;
    pack32_tab[w](v, ng, out);
    if (n % 8)
        pack_core(v + 8 * ng, 1, n % 8, w, out + ng * w);
    return 0;
}

/* ---- unpacking kernels ------------------------------------------------ */

/* Bytes a group of 8 values reads from its start: value 7 starts in byte
 * 7w/8 and is read with an 8-byte load, plus one more byte when w > 56 and
 * the value straddles 9 bytes. */
#define REACH64(w) ((7 * (w)) / 8 + 9)
#define REACH32(w) ((7 * (w)) / 8 + 8)

/* The tail after the direct groups is shorter than one reach (see
 * safe_groups), and its groups read at most one reach past it. */
#define PAD_BYTES (2 * REACH64(64))

/* Value J of the group at `in`, width W (constant after inlining). */
#define UNPACK_ONE64(J)                                                     \
    do {                                                                    \
        const unsigned bit_ = (J) * w;                                      \
        const uint8_t *p_ = in + (bit_ >> 3);                               \
        const unsigned sh_ = bit_ & 7;                                      \
        uint64_t x_ = enc_ld64(p_) >> sh_;                                  \
        if (sh_ + w > 64)                                                   \
            x_ |= (uint64_t)p_[8] << ((64 - sh_) & 63);                     \
        out[J] = (x_ & mask) + base;                                        \
    } while (0)

#define UNPACK_ONE32(J)                                                     \
    do {                                                                    \
        const unsigned bit_ = (J) * w;                                      \
        out[J] = (uint32_t)((enc_ld64(in + (bit_ >> 3)) >> (bit_ & 7)) & mask) + base; \
    } while (0)

/* ng groups of 8 values; always inlined so that w is a constant. */
static inline __attribute__((always_inline)) void
unpack64_groups(const uint8_t *in, size_t ng, uint64_t *out, uint64_t base, const unsigned w)
{
    const uint64_t mask = enc_mask(w);
    for (size_t g = 0; g < ng; g++, in += w, out += 8) {
        UNPACK_ONE64(0); UNPACK_ONE64(1); UNPACK_ONE64(2); UNPACK_ONE64(3);
        UNPACK_ONE64(4); UNPACK_ONE64(5); UNPACK_ONE64(6); UNPACK_ONE64(7);
    }
}

static inline __attribute__((always_inline)) void
unpack32_groups(const uint8_t *in, size_t ng, uint32_t *out, uint32_t base, const unsigned w)
{
    const uint64_t mask = enc_mask(w);
    for (size_t g = 0; g < ng; g++, in += w, out += 8) {
        UNPACK_ONE32(0); UNPACK_ONE32(1); UNPACK_ONE32(2); UNPACK_ONE32(3);
        UNPACK_ONE32(4); UNPACK_ONE32(5); UNPACK_ONE32(6); UNPACK_ONE32(7);
    }
}

typedef void (*unpack64_fn)(const uint8_t *in, size_t ng, uint64_t *out, uint64_t base);
typedef void (*unpack32_fn)(const uint8_t *in, size_t ng, uint32_t *out, uint32_t base);

#define DEF64(W)                                                              \
    static void unpack64_w##W(const uint8_t *in, size_t ng, uint64_t *out, uint64_t base) \
    {                                                                                        \
        unpack64_groups(in, ng, out, base, W);                                               \
    }
#define DEF32(W)                                                              \
    static void unpack32_w##W(const uint8_t *in, size_t ng, uint32_t *out, uint32_t base) \
    {                                                                                        \
        unpack32_groups(in, ng, out, base, W);                                               \
    }
WIDTHS_1_32(DEF64)
WIDTHS_33_64(DEF64)
WIDTHS_1_32(DEF32)

#define REF64(W) unpack64_w##W,
#define REF32(W) unpack32_w##W,
/* Indexed by width; entry 0 is unused (width 0 is a memset). Read-only. */
static const unpack64_fn unpack64_tab[65] = {NULL, WIDTHS_1_32(REF64) WIDTHS_33_64(REF64)};
static const unpack32_fn unpack32_tab[33] = {NULL, WIDTHS_1_32(REF32)};

/* Groups that can run on the input directly: those whose reach stays
 * inside the len-byte stream, and at most n/8 full groups. */
static size_t safe_groups(size_t n, size_t len, unsigned w, size_t reach)
{
    size_t ng = len >= reach ? (len - reach) / w + 1 : 0;
    return ng < n / 8 ? ng : n / 8;
}

int tsagg__bitunpack64_base(const uint8_t *in, size_t n, unsigned w, uint64_t base, uint64_t *out)
{
    if (w > 64 || n > TSAGG_ENC_MAX_N)
        return TSAGG_EARG;
    if (n == 0)
        return 0;
    if (w == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = base;
        return 0;
    }
    const size_t len = tsagg__bitpack_size(n, w);
    const unpack64_fn fn = unpack64_tab[w];
    size_t g = safe_groups(n, len, w, REACH64(w));
    fn(in, g, out, base);

    /* The rest (fewer than REACH64(w) bytes) through a zero-padded copy. */
    uint8_t pad[PAD_BYTES] = {0};
    uint64_t tmp[8];
    size_t i = g * 8, rem = len - g * w;
    memcpy(pad, in + g * w, rem);
    fn(pad, (n - i) / 8, out + i, base);
    i += (n - i) / 8 * 8;
    if (i < n) {
        fn(pad + ((i - g * 8) / 8) * w, 1, tmp, base);
        memcpy(out + i, tmp, (n - i) * sizeof tmp[0]);
    }
    return 0;
}

int tsagg__bitunpack64(const uint8_t *in, size_t n, unsigned w, uint64_t *out)
{
    return tsagg__bitunpack64_base(in, n, w, 0, out);
}

int tsagg__bitunpack32_base(const uint8_t *in, size_t n, unsigned w, uint32_t base, uint32_t *out)
{
    if (w > 32 || n > TSAGG_ENC_MAX_N)
        return TSAGG_EARG;
    if (n == 0)
        return 0;
    if (w == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = base;
        return 0;
    }
    const size_t len = tsagg__bitpack_size(n, w);
    const unpack32_fn fn = unpack32_tab[w];
    size_t g = safe_groups(n, len, w, REACH32(w));
    fn(in, g, out, base);

    /* The rest (fewer than REACH32(w) bytes) through a zero-padded copy. */
    uint8_t pad[PAD_BYTES] = {0};
    uint32_t tmp[8];
    size_t i = g * 8, rem = len - g * w;
    memcpy(pad, in + g * w, rem);
    fn(pad, (n - i) / 8, out + i, base);
    i += (n - i) / 8 * 8;
    if (i < n) {
        fn(pad + ((i - g * 8) / 8) * w, 1, tmp, base);
        memcpy(out + i, tmp, (n - i) * sizeof tmp[0]);
    }
    return 0;
}

int tsagg__bitunpack32(const uint8_t *in, size_t n, unsigned w, uint32_t *out)
{
    return tsagg__bitunpack32_base(in, n, w, 0, out);
}
