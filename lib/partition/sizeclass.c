/*
 * sizeclass.c - the size-class section: integers coded by their bit length
 * (a Huffman code, one per block) followed by the bits below their top bit.
 * Layout in enc_internal.h and docs/encodings.md ("Size-class section").
 *
 * Why: bit packing gives every value of a block the width of its widest
 * inlier. Where widths vary within a block - the time column of a month
 * file, whose rows go from a merchant with an event a second to merchants
 * with one a week - most values pay for bits they do not use, and zstd on
 * top recovers little because the packed bits are not byte aligned. Coding
 * the bit length with a per-block Huffman code costs close to its entropy
 * (a few bits) and the value itself exactly its own length.
 *
 * The decoder is table driven: codes are at most SC_MAX_LEN bits, so one
 * lookup of the next SC_MAX_LEN stream bits gives the class and the code
 * length; a 64-bit buffer refilled eight bytes at a time feeds it.
 */
#include "enc_internal.h"
#include "tsagg_errors.h"

static inline unsigned sc_class(uint64_t x)
{
    return enc_bits(tsagg__zigzag((int64_t)x));
}

/* Huffman code lengths of the classes with a nonzero count, none longer
 * than SC_MAX_LEN: when the tree is too deep, the counts are halved
 * (keeping every used class at 1 or more) and the tree rebuilt, which
 * flattens it; at equal counts its depth is ceil(log2(used)) <= 7. */
static void sc_lengths(const uint32_t cnt[SC_CLASSES], uint8_t len[SC_CLASSES])
{
    uint64_t w[SC_CLASSES];
    unsigned used = 0;
    for (unsigned c = 0; c < SC_CLASSES; c++) {
        w[c] = cnt[c];
        len[c] = 0;
        used += cnt[c] != 0;
    }
    if (used == 1) {
        for (unsigned c = 0; c < SC_CLASSES; c++)
            if (cnt[c])
                len[c] = 1;
        return;
    }
    for (;;) {
        /* Nodes 0..64 are the classes, 65.. the merged ones; parent[] gives
         * every node's depth once the tree is built. */
        uint64_t weight[2 * SC_CLASSES];
        int parent[2 * SC_CLASSES], alive[2 * SC_CLASSES];
        unsigned nodes = SC_CLASSES;
        for (unsigned c = 0; c < SC_CLASSES; c++) {
            weight[c] = w[c];
            alive[c] = w[c] != 0;
            parent[c] = -1;
        }
        for (unsigned left = used; left > 1; left--) {
            int a = -1, b = -1;
            for (unsigned k = 0; k < nodes; k++) {
                if (!alive[k])
                    continue;
                if (a < 0 || weight[k] < weight[a]) {
                    b = a;
                    a = (int)k;
                } else if (b < 0 || weight[k] < weight[b]) {
                    b = (int)k;
                }
            }
            weight[nodes] = weight[a] + weight[b];
            alive[nodes] = 1;
            parent[nodes] = -1;
            alive[a] = alive[b] = 0;
            parent[a] = parent[b] = (int)nodes;
            nodes++;
        }
        unsigned deepest = 0;
        for (unsigned c = 0; c < SC_CLASSES; c++) {
            unsigned d = 0;
            if (w[c])
                for (int k = parent[c]; k >= 0; k = parent[k])
                    d++;
            len[c] = (uint8_t)d;
            deepest = d > deepest ? d : deepest;
        }
        if (deepest <= SC_MAX_LEN)
            return;
        for (unsigned c = 0; c < SC_CLASSES; c++)
            if (w[c])
                w[c] = (w[c] + 1) / 2;
    }
}

/* Canonical codes from the lengths (as Deflate assigns them: shorter codes
 * first, equal lengths by class), each stored bit-reversed so that the
 * stream, read from its low bits, meets the code's first bit first. */
static void sc_codes(const uint8_t len[SC_CLASSES], uint16_t code[SC_CLASSES])
{
    unsigned next = 0;
    for (unsigned l = 1; l <= SC_MAX_LEN; l++) {
        for (unsigned c = 0; c < SC_CLASSES; c++) {
            if (len[c] != l)
                continue;
            unsigned r = 0;
            for (unsigned b = 0; b < l; b++)
                r |= ((next >> b) & 1u) << (l - 1 - b);
            code[c] = (uint16_t)r;
            next++;
        }
        next <<= 1;
    }
}

void tsagg__sc_plan(enc_fill_fn fill, const void *ctx, size_t n, sc_plan *plan)
{
    uint64_t tmp[ENC_CHUNK];
    uint32_t cnt[SC_CLASSES] = {0};
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t k = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        fill(ctx, i0, k, tmp);
        for (size_t i = 0; i < k; i++)
            cnt[sc_class(tmp[i])]++;
    }
    sc_lengths(cnt, plan->len);
    unsigned nsym = 0;
    uint64_t bits = 0;
    for (unsigned c = 0; c < SC_CLASSES; c++) {
        if (plan->len[c])
            nsym = c + 1;
        bits += (uint64_t)cnt[c] * (plan->len[c] + (c > 1 ? c - 1 : 0));
    }
    plan->nsym = nsym;
    plan->size = 1 + (nsym + 1) / 2 + (size_t)((bits + 7) / 8);
}

/* LSB-first bit writer. */
typedef struct sc_bitw {
    uint8_t *p;
    uint64_t acc;
    unsigned nbits;
} sc_bitw;

static inline void sc_put(sc_bitw *w, uint64_t v, unsigned nb) /* nb <= 32 */
{
    w->acc |= v << w->nbits;
    w->nbits += nb;
    while (w->nbits >= 8) {
        *w->p++ = (uint8_t)w->acc;
        w->acc >>= 8;
        w->nbits -= 8;
    }
}

void tsagg__sc_write(enc_fill_fn fill, const void *ctx, size_t n, const sc_plan *plan,
                     uint8_t *out)
{
    uint16_t code[SC_CLASSES] = {0};
    sc_codes(plan->len, code);
    uint8_t *p = out;
    *p++ = (uint8_t)plan->nsym;
    for (unsigned c = 0; c < plan->nsym; c += 2)
        *p++ = (uint8_t)(plan->len[c] | (c + 1 < plan->nsym ? plan->len[c + 1] << 4 : 0));
    sc_bitw w = {p, 0, 0};
    uint64_t tmp[ENC_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t k = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        fill(ctx, i0, k, tmp);
        for (size_t i = 0; i < k; i++) {
            uint64_t z = tsagg__zigzag((int64_t)tmp[i]);
            unsigned c = enc_bits(z);
            sc_put(&w, code[c], plan->len[c]);
            if (c > 1) {
                unsigned rest = c - 1; /* the bits below the top one */
                uint64_t low = z & enc_mask(rest);
                if (rest > 32) {
                    sc_put(&w, low & 0xffffffffu, 32);
                    sc_put(&w, low >> 32, rest - 32);
                } else {
                    sc_put(&w, low, rest);
                }
            }
        }
    }
    if (w.nbits)
        *w.p++ = (uint8_t)w.acc;
}

/* The decoding table: entry = class | length << 8; 0 where no code of the
 * section starts with those bits (a length is never 0). */
static int sc_table(const uint8_t len[SC_CLASSES], unsigned nsym, uint16_t table[1 << SC_MAX_LEN])
{
    /* Kraft sum in units of 2^-SC_MAX_LEN: a complete code fills the table
     * exactly; the one exception is a single class, coded as the bit 0. */
    unsigned used = 0, kraft = 0;
    for (unsigned c = 0; c < nsym; c++)
        if (len[c]) {
            used++;
            kraft += 1u << (SC_MAX_LEN - len[c]);
        }
    if (used == 0 || (used == 1 ? kraft != 1u << (SC_MAX_LEN - 1) : kraft != 1u << SC_MAX_LEN))
        return TSAGG_ECORRUPT;
    uint16_t code[SC_CLASSES] = {0};
    sc_codes(len, code);
    memset(table, 0, sizeof(uint16_t) << SC_MAX_LEN);
    for (unsigned c = 0; c < nsym; c++) {
        if (!len[c])
            continue;
        for (unsigned k = code[c]; k < (1u << SC_MAX_LEN); k += 1u << len[c])
            table[k] = (uint16_t)(c | (unsigned)len[c] << 8);
    }
    return 0;
}

int tsagg__sc_decode(const uint8_t *p, const uint8_t *end, size_t n, uint64_t *out)
{
    if (p >= end)
        return TSAGG_ECORRUPT;
    unsigned nsym = *p++;
    if (nsym < 1 || nsym > SC_CLASSES || (size_t)(end - p) < (nsym + 1) / 2)
        return TSAGG_ECORRUPT;
    uint8_t len[SC_CLASSES] = {0};
    for (unsigned c = 0; c < nsym; c++) {
        len[c] = (uint8_t)((p[c / 2] >> (4 * (c & 1))) & 15u);
        if (len[c] > SC_MAX_LEN)
            return TSAGG_ECORRUPT;
    }
    if ((nsym & 1) && (p[nsym / 2] >> 4)) /* the unused high nibble */
        return TSAGG_ECORRUPT;
    p += (nsym + 1) / 2;
    uint16_t table[1 << SC_MAX_LEN];
    if (sc_table(len, nsym, table) < 0)
        return TSAGG_ECORRUPT;

    /* buf holds nbits stream bits (more past the end read as 0); used
     * counts the bits consumed, checked against the bytes at the end. */
    const uint8_t *q = p;
    uint64_t buf = 0, used = 0, avail = (uint64_t)(end - p) * 8;
    unsigned nbits = 0;
    for (size_t i = 0; i < n; i++) {
        if (nbits < 56) {
            if (end - q >= 8) {
                buf |= enc_ld64(q) << nbits;
                q += (63 - nbits) >> 3;
                nbits |= 56;
            } else {
                while (nbits <= 56 && q < end) {
                    buf |= (uint64_t)*q++ << nbits;
                    nbits += 8;
                }
                if (nbits < 56)
                    nbits = 56; /* zeros past the end; `used` catches overruns */
            }
        }
        unsigned e = table[buf & ((1u << SC_MAX_LEN) - 1)];
        if (!e)
            return TSAGG_ECORRUPT;
        unsigned l = e >> 8, c = e & 0xffu;
        buf >>= l;
        nbits -= l;
        used += l;
        uint64_t z = c ? 1 : 0;
        if (c > 1) {
            unsigned rest = c - 1;
            if (rest > nbits) { /* only classes above 46 get here */
                uint64_t lo = buf & 0xffffffffu;
                buf >>= 32;
                nbits -= 32;
                used += 32;
                rest -= 32;
                if (end - q >= 8) {
                    buf |= enc_ld64(q) << nbits;
                    q += (63 - nbits) >> 3;
                    nbits |= 56;
                } else {
                    while (nbits <= 56 && q < end) {
                        buf |= (uint64_t)*q++ << nbits;
                        nbits += 8;
                    }
                    if (nbits < 56)
                        nbits = 56;
                }
                z = (z << rest | (buf & enc_mask(rest))) << 32 | lo;
            } else {
                z = z << rest | (buf & enc_mask(rest));
            }
            buf >>= rest; /* rest <= 46 < 64 */
            nbits -= rest;
            used += rest;
        }
        out[i] = (uint64_t)tsagg__unzigzag(z);
    }
    /* Exactly the section's bytes: no bit read past them, fewer than 8
     * left over, and those 0. */
    if (used > avail || avail - used >= 8)
        return TSAGG_ECORRUPT;
    if (avail > used && (end[-1] >> (8 - (avail - used))) != 0)
        return TSAGG_ECORRUPT;
    return 0;
}
