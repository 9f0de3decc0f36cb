/*
 * intcodec.c - integer column blocks: 64-bit words (RAW64, FOR, DELTA, DOD,
 * DICT, DICTREF, DELTAHUF) and 32-bit dictionary codes (RAW32, U32FOR).
 *
 *   tag    layout after the tag byte (docs/encodings.md)
 *   0x01   RAW64   n x u64 LE
 *   0x10   FOR     PFOR section of v[i]
 *   0x11   DELTA   PFOR section of v[i] - v[i-1], v[-1] = 0
 *   0x12   DOD     PFOR section of d[i] - d[i-1], d[i] = v[i] - v[i-1],
 *                  v[-1] = d[-1] = 0
 *   0x13   DICT    varint ndict; ndict x u64 LE (first-occurrence order);
 *                  n codes bit-packed at width bits(ndict - 1)
 *   0x14   DICTREF varint ndict; ndict x u64 LE (first-occurrence order);
 *                  PFOR section of r[i]: 0 at a value's first occurrence
 *                  (the next dictionary value), else the distance i - j
 *                  back to the previous row j holding the same value
 *   0x15   DELTAHUF size-class section (sizeclass.c) of v[i] - v[i-1],
 *                  v[-1] = 0
 *   0x02   RAW32   n x u32 LE
 *   0x20   U32FOR  varint base; u8 width (0..32); n x (code - base) packed
 *   0x21   U32HUF  varint base; size-class section of code - base
 *   0x16   DICTREFHUF as DICTREF, the back-references in a size-class
 *                  section
 *
 * All differences are taken mod 2^64, which is what makes any int64
 * sequence round-trip, INT64_MIN/MAX jumps included.
 */
#include <errno.h>
#include <stdlib.h>

#include "enc_internal.h"
#include "tsagg_errors.h"

/* ---- value sources for the PFOR encoder ------------------------------- */

static void fill_words(const void *ctx, size_t i0, size_t cnt, uint64_t *dst)
{
    memcpy(dst, (const uint64_t *)ctx + i0, cnt * sizeof *dst);
}

static void fill_delta(const void *ctx, size_t i0, size_t cnt, uint64_t *dst)
{
    const uint64_t *v = ctx;
    uint64_t prev = i0 ? v[i0 - 1] : 0;
    for (size_t i = 0; i < cnt; i++) {
        dst[i] = v[i0 + i] - prev;
        prev = v[i0 + i];
    }
}

static void fill_dod(const void *ctx, size_t i0, size_t cnt, uint64_t *dst)
{
    const uint64_t *v = ctx;
    uint64_t prev = i0 ? v[i0 - 1] : 0;
    uint64_t pd = i0 ? v[i0 - 1] - (i0 >= 2 ? v[i0 - 2] : 0) : 0;
    for (size_t i = 0; i < cnt; i++) {
        uint64_t d = v[i0 + i] - prev;
        dst[i] = d - pd;
        pd = d;
        prev = v[i0 + i];
    }
}

/* ---- local dictionary ------------------------------------------------- */

/* The DICT / DICTREF analysis: distinct values in first-occurrence order,
 * one code per value (through an open-addressing hash table) and, for
 * DICTREF, one back-reference per value. All in one malloc. */
typedef struct dict_build {
    void *mem;
    uint64_t *vals;  /* distinct values, ndict of them */
    uint64_t *refs;  /* n back-references (DICTREF) */
    uint64_t *last;  /* room for n: the latest row of each code (DICTREF) */
    uint32_t *codes; /* n codes */
    size_t ndict;
    size_t head; /* bytes of tag, ndict and the values */
} dict_build;

/* Build the dictionary of v; give up (return 1) as soon as the dictionary
 * alone could not be smaller than `beat` bytes. 0 done, 1 gave up,
 * -ENOMEM. */
static int dict_analyse(const uint64_t *v, size_t n, size_t beat, dict_build *d)
{
    unsigned lg = 4;
    while (((size_t)1 << lg) < 2 * n)
        lg++;
    size_t slots = (size_t)1 << lg;
    /* keys, values, refs and last rows first (8-aligned), then the u32
     * arrays */
    d->mem = malloc(slots * 8 + n * 24 + slots * 4 + n * 4);
    if (!d->mem)
        return -ENOMEM;
    uint64_t *keys = d->mem;
    d->vals = keys + slots;
    d->refs = d->vals + n;
    d->last = d->refs + n;
    uint32_t *idx = (uint32_t *)(d->last + n); /* 0 empty, else code + 1 */
    d->codes = idx + slots;
    memset(idx, 0, slots * 4);

    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = v[i];
        size_t h = (size_t)((k * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - lg));
        while (idx[h] && keys[h] != k)
            h = (h + 1) & (slots - 1);
        if (!idx[h]) {
            keys[h] = k;
            d->vals[nd] = k;
            idx[h] = (uint32_t)++nd;
            /* every distinct value costs 8 bytes whatever the codes cost */
            if (1 + enc_varint_len(nd) + 8 * nd >= beat)
                return 1;
        }
        d->codes[i] = idx[h] - 1;
    }
    d->ndict = nd;
    d->head = 1 + enc_varint_len(nd) + 8 * nd;
    return 0;
}

/* DICTREF's back-references from the codes: 0 at a first occurrence, else
 * the distance to the value's previous row. */
static void dict_refs(dict_build *d, size_t n)
{
    uint64_t *last = d->last;
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = d->codes[i];
        if (c == seen) {
            d->refs[i] = 0;
            seen++;
        } else {
            d->refs[i] = i - last[c];
        }
        last[c] = i;
    }
}

/* ---- the word encoder -------------------------------------------------- */

static const enc_fill_fn pfor_fill[3] = {fill_words, fill_delta, fill_dod};
static const uint8_t pfor_tag[3] = {TSAGG_ENC_TAG_FOR, TSAGG_ENC_TAG_DELTA, TSAGG_ENC_TAG_DOD};
static const unsigned pfor_method[3] = {TSAGG_ENC_M_FOR, TSAGG_ENC_M_DELTA, TSAGG_ENC_M_DOD};

int tsagg__enc_words_using(const uint64_t *v, size_t n, unsigned methods, uint8_t *out,
                           size_t cap, size_t *written)
{
    const unsigned all = TSAGG_ENC_M_RAW | TSAGG_ENC_M_FOR | TSAGG_ENC_M_DELTA |
                         TSAGG_ENC_M_DOD | TSAGG_ENC_M_DICT | TSAGG_ENC_M_DICTREF |
                         TSAGG_ENC_M_DELTAHUF | TSAGG_ENC_M_DICTREFHUF;
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

    /* Size every allowed method; keep the first smallest. */
    int best = -1; /* 0..2 PFOR kinds, 3 RAW, 4 DICT, 5 DICTREF, 6 DELTAHUF, 7 DICTREFHUF */
    size_t best_size = SIZE_MAX;
    pfor_plan plan, best_plan = {0};
    if (methods & TSAGG_ENC_M_RAW) {
        best = 3;
        best_size = 1 + 8 * n;
    }
    /* A size-class plan of the deltas (of the back-references) takes its
     * counts from the PFOR plan of the same values, when there is one. */
    enc_class_counts delta_counts, ref_counts;
    int delta_counted = (methods & TSAGG_ENC_M_DELTA) && (methods & TSAGG_ENC_M_DELTAHUF);
    int ref_counted = (methods & TSAGG_ENC_M_DICTREF) && (methods & TSAGG_ENC_M_DICTREFHUF);
    for (int k = 0; k < 3; k++) {
        if (!(methods & pfor_method[k]))
            continue;
        tsagg__pfor_plan_counting(pfor_fill[k], v, n, &plan,
                                  k == 1 && delta_counted ? &delta_counts : NULL);
        if (1 + plan.size < best_size) {
            best = k;
            best_size = 1 + plan.size;
            best_plan = plan;
        }
    }
    dict_build dict = {0};
    pfor_plan ref_plan = {0};
    sc_plan ref_huf = {0};
    if (methods & (TSAGG_ENC_M_DICT | TSAGG_ENC_M_DICTREF | TSAGG_ENC_M_DICTREFHUF)) {
        int rc = dict_analyse(v, n, best_size, &dict);
        if (rc < 0)
            return rc;
        size_t code_bytes = tsagg__bitpack_size(n, enc_bits(dict.ndict ? dict.ndict - 1 : 0));
        if (rc == 0 && (methods & TSAGG_ENC_M_DICT) && dict.head + code_bytes < best_size) {
            best = 4;
            best_size = dict.head + code_bytes;
        }
        if (rc == 0 && (methods & (TSAGG_ENC_M_DICTREF | TSAGG_ENC_M_DICTREFHUF)))
            dict_refs(&dict, n);
        if (rc == 0 && (methods & TSAGG_ENC_M_DICTREF)) {
            tsagg__pfor_plan_counting(fill_words, dict.refs, n, &ref_plan,
                                      ref_counted ? &ref_counts : NULL);
            if (dict.head + ref_plan.size < best_size) {
                best = 5;
                best_size = dict.head + ref_plan.size;
            }
        }
        if (rc == 0 && ref_counted)
            tsagg__sc_plan_counts(&ref_counts, &ref_huf);
        else if (rc == 0 && (methods & TSAGG_ENC_M_DICTREFHUF))
            tsagg__sc_plan(fill_words, dict.refs, n, &ref_huf);
    }
    /* The size-class sections decode at a few ns a value where the others
     * take well under one: they must be an eighth smaller than what they
     * replace, the best other format (anything, when they are the only
     * ones allowed) or, for DICTREFHUF against DICTREF, whose dictionary
     * is the same, DICTREF's section. */
    size_t huf_beat = best < 0 ? SIZE_MAX : best_size - best_size / 8;
    size_t ref_beat = best == 5 ? best_size - ref_plan.size / 8 : huf_beat;
    sc_plan huf = {0};
    if (methods & TSAGG_ENC_M_DELTAHUF) {
        if (delta_counted)
            tsagg__sc_plan_counts(&delta_counts, &huf);
        else
            tsagg__sc_plan(fill_delta, v, n, &huf);
        if (1 + huf.size < huf_beat) {
            best = 6;
            best_size = 1 + huf.size;
        }
    }
    if (ref_huf.size && dict.head + ref_huf.size < ref_beat &&
        dict.head + ref_huf.size < best_size) {
        best = 7;
        best_size = dict.head + ref_huf.size;
    }

    *written = best_size;
    if (cap < best_size) {
        free(dict.mem);
        return -ENOBUFS;
    }
    if (best == 3) {
        out[0] = TSAGG_ENC_TAG_RAW64;
        for (size_t i = 0; i < n; i++)
            enc_st64(out + 1 + 8 * i, v[i]);
    } else if (best == 4 || best == 5 || best == 7) {
        uint8_t *p = out;
        *p++ = best == 4   ? TSAGG_ENC_TAG_DICT
               : best == 5 ? TSAGG_ENC_TAG_DICTREF
                           : TSAGG_ENC_TAG_DICTREFHUF;
        p += tsagg__put_varint(p, dict.ndict);
        for (size_t i = 0; i < dict.ndict; i++, p += 8)
            enc_st64(p, dict.vals[i]);
        if (best == 4)
            tsagg__bitpack32(dict.codes, n, enc_bits(dict.ndict - 1), p);
        else if (best == 5)
            tsagg__pfor_write(fill_words, dict.refs, n, &ref_plan, p);
        else
            tsagg__sc_write(fill_words, dict.refs, n, &ref_huf, p);
    } else if (best == 6) {
        out[0] = TSAGG_ENC_TAG_DELTAHUF;
        tsagg__sc_write(fill_delta, v, n, &huf, out + 1);
    } else {
        out[0] = pfor_tag[best];
        tsagg__pfor_write(pfor_fill[best], v, n, &best_plan, out + 1);
    }
    free(dict.mem);
    return 0;
}

int tsagg__enc_i64(const int64_t *v, size_t n, uint8_t *out, size_t cap, size_t *written)
{
    /* int64_t and uint64_t may alias (C11 6.5p7) */
    return tsagg__enc_words_using((const uint64_t *)v, n, TSAGG_ENC_METHODS_I64, out, cap,
                                  written);
}

int tsagg__enc_u64(const uint64_t *v, size_t n, uint8_t *out, size_t cap, size_t *written)
{
    return tsagg__enc_words_using(v, n, TSAGG_ENC_METHODS_U64, out, cap, written);
}

int tsagg__enc_id(const uint64_t *v, size_t n, uint8_t *out, size_t cap, size_t *written)
{
    return tsagg__enc_words_using(v, n, TSAGG_ENC_METHODS_ID, out, cap, written);
}

/* ---- the word decoder -------------------------------------------------- */

/* DICT payload at p..end: dictionary, then codes gathered into out. */
static int dec_dict(const uint8_t *p, const uint8_t *end, uint64_t *out, size_t n)
{
    uint64_t nd;
    if (tsagg__get_varint(&p, end, &nd) < 0 || nd > n || (n > 0 && nd == 0))
        return TSAGG_ECORRUPT;
    unsigned w = enc_bits(nd ? nd - 1 : 0);
    size_t dict_bytes = (size_t)nd * 8;
    if ((size_t)(end - p) != dict_bytes + tsagg__bitpack_size(n, w))
        return TSAGG_ECORRUPT;
    const uint8_t *dict = p;
    tsagg__bitunpack64(p + dict_bytes, n, w, out);
    /* a code >= nd is only possible when nd is not a power of 2 */
    if (n > 0 && (nd & (nd - 1))) {
        uint64_t lane[8] = {0}, bad = 0; /* lanes: see all_leq */
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (unsigned j = 0; j < 8; j++)
                lane[j] |= (uint64_t)(out[i + j] >= nd);
        for (unsigned j = 0; j < 8; j++)
            bad |= lane[j];
        for (; i < n; i++)
            bad |= (uint64_t)(out[i] >= nd);
        if (bad)
            return TSAGG_ECORRUPT;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = enc_ld64(dict + 8 * out[i]);
    return 0;
}

/* DICTREF (huf 0) or DICTREFHUF (huf 1) payload at p..end: dictionary,
 * then the back-references (a PFOR or a size-class section) decoded into
 * out and resolved in place (a reference points to a row already
 * resolved). Every dictionary value must be used, in order. */
static int dec_dictref(const uint8_t *p, const uint8_t *end, uint64_t *out, size_t n, int huf)
{
    uint64_t nd;
    if (tsagg__get_varint(&p, end, &nd) < 0 || nd > n || (n > 0 && nd == 0) ||
        (size_t)(end - p) < (size_t)nd * 8)
        return TSAGG_ECORRUPT;
    const uint8_t *dict = p;
    p += (size_t)nd * 8;
    if (huf) {
        if (tsagg__sc_decode(p, end, n, out) < 0)
            return TSAGG_ECORRUPT;
    } else {
        pfor_view view;
        if (tsagg__pfor_parse(&p, end, n, &view) < 0 || p != end)
            return TSAGG_ECORRUPT;
        tsagg__pfor_decode(&view, out);
    }
    uint64_t next = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = out[i];
        if (r == 0) {
            if (next == nd)
                return TSAGG_ECORRUPT;
            out[i] = enc_ld64(dict + 8 * next++);
        } else {
            if (r > i)
                return TSAGG_ECORRUPT;
            out[i] = out[i - r];
        }
    }
    return next == nd ? 0 : TSAGG_ECORRUPT;
}

int tsagg__dec_words(const uint8_t *in, size_t len, uint64_t *out, size_t n)
{
    if (n > TSAGG_ENC_MAX_N || (n && !out) || (len && !in))
        return TSAGG_EARG;
    if (len < 1)
        return TSAGG_ECORRUPT;
    const uint8_t *p = in + 1, *end = in + len;
    pfor_view view;
    int rc;
    switch (in[0]) {
    case TSAGG_ENC_TAG_RAW64:
        if (len - 1 != 8 * n)
            return TSAGG_ECORRUPT;
        for (size_t i = 0; i < n; i++)
            out[i] = enc_ld64(p + 8 * i);
        return 0;
    case TSAGG_ENC_TAG_DICT:
        return dec_dict(p, end, out, n);
    case TSAGG_ENC_TAG_DICTREF:
        return dec_dictref(p, end, out, n, 0);
    case TSAGG_ENC_TAG_DICTREFHUF:
        return dec_dictref(p, end, out, n, 1);
    case TSAGG_ENC_TAG_DELTAHUF:
        if ((rc = tsagg__sc_decode(p, end, n, out)) < 0)
            return rc;
        break;
    case TSAGG_ENC_TAG_FOR:
    case TSAGG_ENC_TAG_DELTA:
    case TSAGG_ENC_TAG_DOD:
        if ((rc = tsagg__pfor_parse(&p, end, n, &view)) < 0)
            return rc;
        if (p != end)
            return TSAGG_ECORRUPT;
        tsagg__pfor_decode(&view, out);
        break;
    default:
        return TSAGG_ECORRUPT;
    }
    /* Undo the transforms: running sums mod 2^64. */
    if (in[0] == TSAGG_ENC_TAG_DELTA || in[0] == TSAGG_ENC_TAG_DELTAHUF) {
        uint64_t acc = 0;
        for (size_t i = 0; i < n; i++)
            out[i] = acc += out[i];
    } else if (in[0] == TSAGG_ENC_TAG_DOD) {
        uint64_t acc = 0, d = 0;
        for (size_t i = 0; i < n; i++) {
            d += out[i];
            out[i] = acc += d;
        }
    }
    return 0;
}

int tsagg__dec_i64(const uint8_t *in, size_t len, int64_t *out, size_t n)
{
    return tsagg__dec_words(in, len, (uint64_t *)out, n);
}

int tsagg__dec_u64(const uint8_t *in, size_t len, uint64_t *out, size_t n)
{
    return tsagg__dec_words(in, len, out, n);
}

int tsagg__dec_id(const uint8_t *in, size_t len, uint64_t *out, size_t n)
{
    return tsagg__dec_words(in, len, out, n);
}

/* ---- 32-bit dictionary codes ------------------------------------------ */

/* U32FOR width from which U32HUF is tried. */
#define U32HUF_MIN_WIDTH 8

/* code - lo, for the size-class section of U32HUF. */
typedef struct codes_from {
    const uint32_t *codes;
    uint32_t lo;
} codes_from;

static void fill_codes(const void *ctx, size_t i0, size_t cnt, uint64_t *dst)
{
    const codes_from *c = ctx;
    for (size_t i = 0; i < cnt; i++)
        dst[i] = c->codes[i0 + i] - c->lo;
}

int tsagg__enc_u32(const uint32_t *codes, size_t n, uint32_t dict_size, uint8_t *out, size_t cap,
                   size_t *written)
{
    if (!written || (n && !codes) || (cap && !out) || n > TSAGG_ENC_MAX_N)
        return TSAGG_EARG;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = codes[i] < lo ? codes[i] : lo;
        hi = codes[i] > hi ? codes[i] : hi;
    }
    if (n && hi >= dict_size)
        return TSAGG_EARG;
    if (n == 0) {
        *written = 1;
        if (cap < 1)
            return -ENOBUFS;
        out[0] = TSAGG_ENC_TAG_RAW64; /* the one empty block of every kind */
        return 0;
    }
    unsigned w = enc_bits(hi - lo);
    size_t for_size = 1 + enc_varint_len(lo) + 1 + tsagg__bitpack_size(n, w);
    size_t raw_size = 1 + 4 * n;
    *written = for_size <= raw_size ? for_size : raw_size;
    /* Size classes for wide codes only (a page column's thousands of
     * strings): narrower ones are a few values that zstd, on top of
     * U32FOR, shrinks as well. As for the words, they must save an
     * eighth. */
    codes_from from = {codes, lo};
    sc_plan huf = {0};
    size_t huf_size = SIZE_MAX;
    if (w >= U32HUF_MIN_WIDTH) {
        tsagg__sc_plan(fill_codes, &from, n, &huf);
        huf_size = 1 + enc_varint_len(lo) + huf.size;
    }
    int use_huf = huf_size < *written - *written / 8;
    if (use_huf)
        *written = huf_size;
    if (cap < *written)
        return -ENOBUFS;
    if (use_huf) {
        uint8_t *p = out;
        *p++ = TSAGG_ENC_TAG_U32HUF;
        p += tsagg__put_varint(p, lo);
        tsagg__sc_write(fill_codes, &from, n, &huf, p);
        return 0;
    }
    if (for_size > raw_size) {
        out[0] = TSAGG_ENC_TAG_RAW32;
        for (size_t i = 0; i < n; i++)
            tsagg__put_u32(out + 1 + 4 * i, codes[i]);
        return 0;
    }
    uint8_t *p = out;
    *p++ = TSAGG_ENC_TAG_U32FOR;
    p += tsagg__put_varint(p, lo);
    *p++ = (uint8_t)w;
    /* pack code - lo in chunks, through a small buffer */
    uint32_t tmp[ENC_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += ENC_CHUNK) {
        size_t cnt = n - i0 < ENC_CHUNK ? n - i0 : ENC_CHUNK;
        for (size_t i = 0; i < cnt; i++)
            tmp[i] = codes[i0 + i] - lo;
        tsagg__bitpack32(tmp, cnt, w, p + (i0 / 8) * w);
    }
    return 0;
}

/* 1 when every v[i] - base (mod 2^32) is <= lim. Blocks of 8 into 8
 * accumulator lanes: a shape gcc vectorises even at -O2 (its very-cheap
 * cost model will not touch a plain loop of unknown length). */
static int all_leq(const uint32_t *v, size_t n, uint32_t base, uint32_t lim)
{
    uint32_t lane[8] = {0}, bad = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (unsigned j = 0; j < 8; j++)
            lane[j] |= (uint32_t)(v[i + j] - base > lim);
    for (unsigned j = 0; j < 8; j++)
        bad |= lane[j];
    for (; i < n; i++)
        bad |= (uint32_t)(v[i] - base > lim);
    return !bad;
}

int tsagg__dec_u32(const uint8_t *in, size_t len, uint32_t *out, size_t n, uint32_t dict_size)
{
    if (n > TSAGG_ENC_MAX_N || (n && !out) || (len && !in))
        return TSAGG_EARG;
    if (len < 1)
        return TSAGG_ECORRUPT;
    const uint8_t *p = in + 1, *end = in + len;
    switch (in[0]) {
    case TSAGG_ENC_TAG_RAW64: /* the empty block */
        if (n != 0 || len != 1)
            return TSAGG_ECORRUPT;
        return 0;
    case TSAGG_ENC_TAG_RAW32:
        if (len - 1 != 4 * n)
            return TSAGG_ECORRUPT;
        for (size_t i = 0; i < n; i++)
            out[i] = tsagg__get_u32(p + 4 * i);
        if (n && (dict_size == 0 || !all_leq(out, n, 0, dict_size - 1)))
            return TSAGG_ECORRUPT;
        return 0;
    case TSAGG_ENC_TAG_U32FOR: {
        uint64_t base;
        if (tsagg__get_varint(&p, end, &base) < 0 || base > UINT32_MAX || p >= end)
            return TSAGG_ECORRUPT;
        unsigned w = *p++;
        if (w > 32 || (size_t)(end - p) != tsagg__bitpack_size(n, w))
            return TSAGG_ECORRUPT;
        /* Offsets are < 2^w: when base + 2^w - 1 is a valid code, so is
         * every value, and no check pass is needed. */
        uint64_t top = base + enc_mask(w);
        tsagg__bitunpack32_base(p, n, w, (uint32_t)base, out);
        if (top >= dict_size || top > UINT32_MAX) {
            /* out[i] - base (mod 2^32) gives the offset back exactly, so
             * comparing it with dict_size - 1 - base also rejects values
             * whose sum wrapped past 2^32 */
            uint32_t lim = dict_size > base ? (uint32_t)(dict_size - 1 - base) : 0;
            if (dict_size <= base || !all_leq(out, n, (uint32_t)base, lim))
                return n ? TSAGG_ECORRUPT : 0;
        }
        return 0;
    }
    case TSAGG_ENC_TAG_U32HUF: {
        uint64_t base;
        if (tsagg__get_varint(&p, end, &base) < 0 || base > UINT32_MAX ||
            tsagg__sc_decode32(p, end, n, out) < 0)
            return TSAGG_ECORRUPT;
        /* base + offset must be a code, and not wrap past 2^32 */
        uint32_t lim = dict_size > base ? (uint32_t)(dict_size - 1 - base) : 0;
        if (n && (dict_size <= base || !all_leq(out, n, 0, lim)))
            return TSAGG_ECORRUPT;
        for (size_t i = 0; i < n; i++)
            out[i] += (uint32_t)base;
        return 0;
    }
    default:
        return TSAGG_ECORRUPT;
    }
}
