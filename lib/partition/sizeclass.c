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

/* The coded form of a value: its zigzag form in a signed section, the
 * value itself in an unsigned one. */
static inline uint64_t sc_coded(uint64_t x, int zz)
{
    return zz ? tsagg__zigzag((int64_t)x) : x;
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
         * every node's depth once the tree is built. The nodes not merged
         * yet are listed in live[] by number, so that the two lightest
         * (the first of equal weights) are found without walking the
         * dead ones. */
        uint64_t weight[2 * SC_CLASSES];
        int parent[2 * SC_CLASSES];
        unsigned live[2 * SC_CLASSES], nlive = 0, nodes = SC_CLASSES;
        for (unsigned c = 0; c < SC_CLASSES; c++) {
            weight[c] = w[c];
            parent[c] = -1;
            if (w[c])
                live[nlive++] = c;
        }
        while (nlive > 1) {
            unsigned ia = 0, ib = 1; /* positions in live[] of the two lightest */
            if (weight[live[1]] < weight[live[0]]) {
                ia = 1;
                ib = 0;
            }
            for (unsigned k = 2; k < nlive; k++) {
                uint64_t wk = weight[live[k]];
                if (wk < weight[live[ia]]) {
                    ib = ia;
                    ia = k;
                } else if (wk < weight[live[ib]]) {
                    ib = k;
                }
            }
            unsigned a = live[ia], b = live[ib];
            weight[nodes] = weight[a] + weight[b];
            parent[nodes] = -1;
            parent[a] = parent[b] = (int)nodes;
            /* drop both, keeping the order; the new node is the highest */
            unsigned lo = ia < ib ? ia : ib, hi = ia < ib ? ib : ia, m = lo;
            for (unsigned k = lo + 1; k < nlive; k++)
                if (k != hi)
                    live[m++] = live[k];
            live[m++] = nodes;
            nlive = m;
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

/* The code and exact size of one form (signed or unsigned). */
static void sc_plan_form(const uint32_t cnt[SC_CLASSES], int zz, sc_plan *plan)
{
    sc_lengths(cnt, plan->len);
    unsigned nsym = 0;
    uint64_t bits = 0;
    for (unsigned c = 0; c < SC_CLASSES; c++) {
        if (plan->len[c])
            nsym = c + 1;
        bits += (uint64_t)cnt[c] * (plan->len[c] + (c > 1 ? c - 1 : 0));
    }
    plan->nsym = nsym;
    plan->zigzag = zz;
    plan->size = 1 + (nsym + 1) / 2 + (size_t)((bits + 7) / 8);
}

void tsagg__sc_plan_counts(const enc_class_counts *counts, sc_plan *plan)
{
    /* Unsigned saves the zigzag bit of every value; signed keeps the few
     * negative ones (a time column's merchant starts) from taking 64. */
    sc_plan zz;
    sc_plan_form(counts->u, 0, plan);
    sc_plan_form(counts->z, 1, &zz);
    if (zz.size < plan->size)
        *plan = zz;
}

void tsagg__sc_plan(enc_fill_fn fill, const void *ctx, size_t n, sc_plan *plan)
{
    uint64_t tmp[ENC_CHUNK];
    enc_class_counts counts = {{0}, {0}};
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t k = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        fill(ctx, i0, k, tmp);
        for (size_t i = 0; i < k; i++) {
            counts.u[enc_bits(tmp[i])]++;
            counts.z[enc_bits(tsagg__zigzag((int64_t)tmp[i]))]++;
        }
    }
    tsagg__sc_plan_counts(&counts, plan);
}

/* LSB-first bit writer. acc holds nbits < 8 pending bits between
 * values; a value's code and bits are added in one step and the whole
 * bytes go out with one 8-byte store while 8 bytes of the section are
 * left (the store's bytes past the whole ones are rewritten by the next),
 * one byte at a time near its end, so nothing is written past it. */
typedef struct sc_bitw {
    uint8_t *p, *end;
    uint64_t acc;
    unsigned nbits;
} sc_bitw;

/* Add nb bits of v (below 2^nb; nbits + nb <= 63) and write out the whole
 * bytes. */
static inline void sc_put(sc_bitw *w, uint64_t v, unsigned nb)
{
    w->acc |= v << w->nbits;
    w->nbits += nb;
    if (w->end - w->p >= 8) {
        unsigned whole = w->nbits >> 3;
        enc_st64(w->p, w->acc);
        w->p += whole;
        w->acc >>= 8 * whole; /* whole <= 7: nbits <= 63 */
        w->nbits &= 7u;
        return;
    }
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
    *p++ = (uint8_t)(plan->nsym | (plan->zigzag ? SC_ZIGZAG : 0));
    for (unsigned c = 0; c < plan->nsym; c += 2)
        *p++ = (uint8_t)(plan->len[c] | (c + 1 < plan->nsym ? plan->len[c + 1] << 4 : 0));
    sc_bitw w = {p, out + plan->size, 0, 0};
    uint64_t tmp[ENC_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t k = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        fill(ctx, i0, k, tmp);
        for (size_t i = 0; i < k; i++) {
            uint64_t z = sc_coded(tmp[i], plan->zigzag);
            unsigned c = enc_bits(z), l = plan->len[c];
            unsigned rest = c > 1 ? c - 1 : 0; /* the bits below the top one */
            uint64_t low = z & enc_mask(rest);
            if (l + rest <= 56) { /* with the < 8 bits pending: <= 63 */
                sc_put(&w, code[c] | low << l, l + rest);
            } else {
                sc_put(&w, code[c] | (low & 0xffffffu) << l, l + 24);
                sc_put(&w, low >> 24, rest - 24);
            }
        }
    }
    if (w.nbits)
        *w.p++ = (uint8_t)w.acc;
}

/* The decoding table, indexed by the next SC_MAX_LEN stream bits: for the
 * code they start with, its length | the class's bits after it << 8 | 1 <<
 * 16 when the value has a leading 1 bit (every class but 0). One formula
 * for every class keeps the decoder free of a branch per value on it,
 * which dictionary codes, whose classes change value by value, would
 * mispredict. 0 where no code of the section starts with those bits (a
 * length is never 0). */
static int sc_table(const uint8_t len[SC_CLASSES], unsigned nsym, uint32_t table[1 << SC_MAX_LEN])
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
    memset(table, 0, sizeof(uint32_t) << SC_MAX_LEN);
    for (unsigned c = 0; c < nsym; c++) {
        if (!len[c])
            continue;
        unsigned rest = c > 1 ? c - 1 : 0;
        uint32_t e = len[c] | rest << 8 | (c ? 1u << 16 : 0);
        for (unsigned k = code[c]; k < (1u << SC_MAX_LEN); k += 1u << len[c])
            table[k] = e;
    }
    return 0;
}

/* LSB-first bit reader: buf holds nbits bits of the stream; past its end
 * it reads zeros (the decoder's count of bits used catches an overrun). */
typedef struct sc_bitr {
    const uint8_t *q, *end;
    uint64_t buf;
    unsigned nbits;
} sc_bitr;

/* At least 56 bits in buf: eight bytes at a time while they last (the
 * bits past the whole bytes taken are loaded again next time). */
static inline void sc_refill(sc_bitr *r)
{
    if (r->nbits >= 56)
        return;
    if (r->end - r->q >= 8) {
        r->buf |= enc_ld64(r->q) << r->nbits;
        r->q += (63 - r->nbits) >> 3;
        r->nbits |= 56;
        return;
    }
    while (r->nbits <= 56 && r->q < r->end) {
        r->buf |= (uint64_t)*r->q++ << r->nbits;
        r->nbits += 8;
    }
    if (r->nbits < 56)
        r->nbits = 56;
}

/* The decoder, for 64-bit (out64) or 32-bit (out32) values; inlined into
 * both entry points so that the store is not a branch per value. */
static inline __attribute__((always_inline)) int
sc_decode(const uint8_t *p, const uint8_t *end, size_t n, uint64_t *out64, uint32_t *out32)
{
    if (p >= end)
        return TSAGG_ECORRUPT;
    int zz = (*p & SC_ZIGZAG) != 0;
    unsigned nsym = *p++ & (SC_ZIGZAG - 1u);
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
    uint32_t table[1 << SC_MAX_LEN];
    if (sc_table(len, nsym, table) < 0)
        return TSAGG_ECORRUPT;

    /* buf holds nbits stream bits (more past the end read as 0); used
     * counts the bits consumed, checked against the bytes at the end. */
    sc_bitr r = {p, end, 0, 0};
    uint64_t used = 0, avail = (uint64_t)(end - p) * 8;
    size_t i = 0;
    while (i < n) {
        sc_refill(&r);
        /* Every value whose code and bits are in buf: three or four
         * dictionary codes of 10 to 14 bits a refill. */
        for (;;) {
            uint32_t e = table[r.buf & ((1u << SC_MAX_LEN) - 1)];
            unsigned l = e & 0xffu, rest = (e >> 8) & 0xffu, t = l + rest;
            if (t - 1 >= r.nbits) /* no code (t == 0), or past the bits in buf */
                break;
            /* 1 <= t <= nbits <= 64 and rest < 64: t can be 64 after the
             * bytewise refill at the stream's end, so buf is shifted in two
             * steps (a shift by 64 is undefined, and x86 makes it none) */
            uint64_t z = (uint64_t)(e >> 16) << rest | ((r.buf >> l) & ((UINT64_C(1) << rest) - 1));
            r.buf = (r.buf >> (t - 1)) >> 1;
            r.nbits -= t;
            used += t;
            if (zz)
                z = (uint64_t)tsagg__unzigzag(z);
            if (out32) {
                if (z > UINT32_MAX) /* negative, or too wide */
                    return TSAGG_ECORRUPT;
                out32[i] = (uint32_t)z;
            } else {
                out64[i] = z;
            }
            if (++i == n)
                break;
        }
        if (i == n)
            break;
        /* After a refill the next value fits, except a 64-bit one of a
         * class above 46: its bits are taken in two steps. */
        sc_refill(&r);
        uint32_t e = table[r.buf & ((1u << SC_MAX_LEN) - 1)];
        if (!e)
            return TSAGG_ECORRUPT;
        unsigned l = e & 0xffu, rest = (e >> 8) & 0xffu;
        if (l + rest <= r.nbits)
            continue;
        r.buf >>= l;
        r.nbits -= l;
        used += l + rest;
        uint64_t lo = r.buf & 0xffffffffu;
        r.buf >>= 32;
        r.nbits -= 32;
        rest -= 32;
        sc_refill(&r);
        uint64_t z = ((UINT64_C(1) << rest | (r.buf & enc_mask(rest))) << 32) | lo;
        r.buf >>= rest; /* rest < 32 here */
        r.nbits -= rest;
        if (zz)
            z = (uint64_t)tsagg__unzigzag(z);
        if (out32) {
            if (z > UINT32_MAX)
                return TSAGG_ECORRUPT;
            out32[i++] = (uint32_t)z;
        } else {
            out64[i++] = z;
        }
    }
    /* Exactly the section's bytes: no bit read past them, fewer than 8
     * left over, and those 0. */
    if (used > avail || avail - used >= 8)
        return TSAGG_ECORRUPT;
    if (avail > used && (end[-1] >> (8 - (avail - used))) != 0)
        return TSAGG_ECORRUPT;
    return 0;
}

int tsagg__sc_decode(const uint8_t *p, const uint8_t *end, size_t n, uint64_t *out)
{
    return sc_decode(p, end, n, out, NULL);
}

int tsagg__sc_decode32(const uint8_t *p, const uint8_t *end, size_t n, uint32_t *out)
{
    return sc_decode(p, end, n, NULL, out);
}
