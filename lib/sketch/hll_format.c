/*
 * hll_format.c - the serialized sketch (docs/hll.md) and views over it.
 *
 *   offset  size    field
 *   0       1       version = 1
 *   1       1       form: 1 = exact, 2 = sparse, 3 = dense
 *   2       1       p = 14
 *   exact (at most 256 distinct inputs):
 *   3       varint  n, 0..256
 *   ...     8 * n   the mixed hashes, u64 little-endian, strictly increasing
 *   sparse (registers, at most 6000 of them non-zero):
 *   3       varint  k, number of entries (0..6015)
 *   ...     2 * k   entries, u16 little-endian, by increasing register index:
 *                   g << 6 | rank, g = i - (previous index + 1) (the first:
 *                   g = i), rank 1..51; a gap g over 1023 is preceded by
 *                   g / 1024 skip entries 0xffc0 (g = 1023, rank 0), each
 *                   moving on 1024 registers; the last entry is no skip
 *   dense (registers, more than 6000 non-zero):
 *   3       12288   three planes of 4096 bytes; byte j of plane t (0..2) holds
 *                   register t*4096+j in its low 6 bits and bits 2t..2t+1 of
 *                   register 12288+j in its high 2 bits
 *
 * Counts are minimal LEB128 varints, so every accepted byte string is the
 * canonical encoding of its sketch. Exact hashes are plain u64: the gaps
 * between at most 256 uniform 64-bit values are mostly >= 2^56, where a delta
 * varint would need 9 bytes. Sparse entries are fixed 2 bytes: about as small
 * as varints below 3000 non-zero registers, and decoding has no chain of
 * length-dependent loads (4x faster). The planar dense packing keeps 6 bits a
 * register (12 KiB, not 16) while unpacking stays a byte-wise loop without
 * cross-byte shuffles, so merging a dense sketch vectorises.
 */
#include <string.h>

#include "bytes.h"
#include "hll.h"
#include "tsagg_errors.h"

#define PLANE (TSAGG__HLL_M / 4)
#define HDR TSAGG__HLL_HEADER_SIZE
#define DENSE_SIZE (HDR + TSAGG__HLL_DENSE_BODY)

static inline uint8_t max8(uint8_t a, uint8_t b)
{
    return a > b ? a : b;
}

static inline size_t varint_len(uint64_t v)
{
    return (size_t)(64 - __builtin_clzll(v | 1) + 6) / 7;
}

/* The leading count: a minimal varint of at most 2 bytes (<= 16383). */
static int get_count(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    const uint8_t *q = *p;
    if (q >= end)
        return -1;
    if (q[0] < 0x80) {
        *out = q[0];
        *p = q + 1;
        return 0;
    }
    if (end - q < 2 || q[1] == 0 || q[1] >= 0x80)
        return -1;
    *out = (uint32_t)(q[0] & 0x7f) | (uint32_t)q[1] << 7;
    *p = q + 2;
    return 0;
}

/* ---- writing ---- */

static uint32_t reg_nonzero(const uint8_t *reg)
{
    uint16_t k = 0; /* 16 bits hold 16384 and vectorise twice as wide as 32 */
    for (uint32_t i = 0; i < TSAGG__HLL_M; i++)
        k = (uint16_t)(k + (reg[i] != 0));
    return k;
}

#define SKIP 0xffc0u /* g = 1023, rank 0: move on 1024 registers */

/* The sparse entries of reg: returns how many; writes them when out is set.
 * Eight zero registers at a time are passed over with one load. */
static uint32_t sparse_entries(const uint8_t *reg, uint8_t *out)
{
    uint32_t k = 0, next = 0;
    for (uint32_t i = 0; i < TSAGG__HLL_M; i++) {
        if ((i & 7) == 0) {
            uint64_t w;
            memcpy(&w, reg + i, 8);
            if (w == 0) {
                i += 7;
                continue;
            }
        }
        if (!reg[i])
            continue;
        for (; i - next > 1023; next += 1024, k++)
            if (out)
                tsagg__put_u16(out + 2 * (size_t)k, SKIP);
        if (out)
            tsagg__put_u16(out + 2 * (size_t)k, (uint16_t)((i - next) << 6 | reg[i]));
        k++;
        next = i + 1;
    }
    return k;
}

static size_t sparse_size(uint32_t k)
{
    return HDR + varint_len(k) + 2 * (size_t)k;
}

size_t tsagg__hll_serialized_size(const tsagg__hll *h)
{
    if (!h->dense)
        return HDR + varint_len(h->n) + 8 * (size_t)h->n;
    if (reg_nonzero(h->reg) > TSAGG__HLL_SPARSE_MAX)
        return DENSE_SIZE;
    return sparse_size(sparse_entries(h->reg, NULL));
}

static void pack_dense(const uint8_t *restrict reg, uint8_t *restrict out)
{
    const uint8_t *r3 = reg + 3 * PLANE;
    for (uint32_t j = 0; j < PLANE; j++) {
        out[j] = (uint8_t)(reg[j] | (r3[j] & 3) << 6);
        out[PLANE + j] = (uint8_t)(reg[PLANE + j] | ((r3[j] >> 2) & 3) << 6);
        out[2 * PLANE + j] = (uint8_t)(reg[2 * PLANE + j] | ((r3[j] >> 4) & 3) << 6);
    }
}

int tsagg__hll_serialize(const tsagg__hll *h, uint8_t *buf, size_t cap)
{
    uint8_t form = TSAGG__HLL_FORM_EXACT;
    uint32_t k = h->n;
    size_t size = HDR + varint_len(k) + 8 * (size_t)k;
    if (h->dense && reg_nonzero(h->reg) <= TSAGG__HLL_SPARSE_MAX) {
        form = TSAGG__HLL_FORM_SPARSE;
        k = sparse_entries(h->reg, NULL);
        size = sparse_size(k);
    } else if (h->dense) {
        form = TSAGG__HLL_FORM_DENSE;
        size = DENSE_SIZE;
    }
    if (!buf || cap < size)
        return TSAGG_EARG;
    buf[0] = TSAGG__HLL_VERSION;
    buf[1] = form;
    buf[2] = TSAGG__HLL_P;
    uint8_t *p = buf + HDR;
    if (form == TSAGG__HLL_FORM_EXACT) {
        uint64_t vals[TSAGG__HLL_EXACT_MAX];
        uint32_t n = tsagg__hll_sorted(h, vals);
        p += tsagg__put_varint(p, n);
        for (uint32_t e = 0; e < n; e++, p += 8)
            tsagg__put_u64(p, vals[e]);
    } else if (form == TSAGG__HLL_FORM_SPARSE) {
        p += tsagg__put_varint(p, k);
        sparse_entries(h->reg, p);
    } else {
        pack_dense(h->reg, p);
    }
    return (int)size;
}

/* Whether h's serialized form is sparse with many entries (cache_view
 * keeps it dense). */
static int cache_dense(const tsagg__hll *h)
{
    return h->dense && reg_nonzero(h->reg) <= TSAGG__HLL_SPARSE_MAX &&
           sparse_entries(h->reg, NULL) >= TSAGG__HLL_CACHE_DENSE_ENTRIES;
}

size_t tsagg__hll_cache_size(const tsagg__hll *h)
{
    return cache_dense(h) ? TSAGG__HLL_DENSE_BODY : tsagg__hll_serialized_size(h);
}

int tsagg__hll_cache_view(const tsagg__hll *h, uint8_t *buf, size_t cap, tsagg__hll_view *v)
{
    if (!cache_dense(h)) {
        int n = tsagg__hll_serialize(h, buf, cap);
        return n < 0 ? n : tsagg__hll_view_init(v, buf, (size_t)n);
    }
    if (!buf || cap < TSAGG__HLL_DENSE_BODY)
        return TSAGG_EARG;
    pack_dense(h->reg, buf);
    *v = (tsagg__hll_view){.body = buf, .body_len = TSAGG__HLL_DENSE_BODY, .n = 0,
                           .form = TSAGG__HLL_FORM_DENSE};
    return 0;
}

/* ---- reading ---- */

/* Check an exact body (n u64 at p); with dst, also insert the values. */
static inline int exact_walk(const uint8_t *p, uint32_t n, tsagg__hll *dst)
{
    uint64_t prev = 0;
    for (uint32_t e = 0; e < n; e++) {
        uint64_t v = tsagg__get_u64(p + 8 * (size_t)e);
        if (e > 0 && v <= prev)
            return TSAGG_ECORRUPT;
        prev = v;
    }
    if (dst && n) {
        int rc = tsagg__hll_room(dst, n);
        if (rc)
            return rc;
    }
    for (uint32_t e = 0; dst && e < n; e++) {
        int rc = tsagg__hll_insert(dst, tsagg__get_u64(p + 8 * (size_t)e));
        if (rc)
            return rc;
    }
    return 0;
}

/* Check a sparse body of k entries (2 * k bytes at p); with reg, max them
 * into it, and with hist too, move a raised register's count in hist (the
 * register histogram of reg); with hist alone, count their ranks. Inlined
 * per use, so the unused parts vanish. */
static inline int sparse_walk(const uint8_t *p, uint32_t k, uint8_t *reg, uint32_t *hist)
{
    uint32_t next = 0, skips = 0;
    for (uint32_t e = 0; e < k; e++) {
        uint32_t w = tsagg__get_u16(p + 2 * (size_t)e);
        uint32_t i = next + (w >> 6), r = w & 63;
        if (r == 0) {
            /* A skip must be the canonical one and lead somewhere. */
            if (w != SKIP || e == k - 1)
                return TSAGG_ECORRUPT;
            skips++;
        } else {
            if (r > TSAGG__HLL_RANK_MAX || i >= TSAGG__HLL_M)
                return TSAGG_ECORRUPT;
            if (reg && hist) {
                uint8_t was = reg[i];
                if (r > was) {
                    reg[i] = (uint8_t)r;
                    hist[was]--;
                    hist[r]++;
                }
            } else if (reg) {
                reg[i] = max8(reg[i], (uint8_t)r);
            } else if (hist) {
                hist[r]++;
            }
        }
        next = i + 1;
    }
    /* More non-zero registers would have been written dense. */
    return k - skips <= TSAGG__HLL_SPARSE_MAX ? 0 : TSAGG_ECORRUPT;
}

/* A register of the last quarter, split over the high 2 bits of the
 * three planes' bytes at its index. */
static inline uint8_t split_register(uint8_t a, uint8_t b, uint8_t c)
{
    return (uint8_t)((a >> 6) | (b >> 6) << 2 | (c >> 6) << 4);
}

/* Register j + t*PLANE of the dense planes, t = 3 being the split one. */
#define PLANE_REGS(p, j, r0, r1, r2, r3)                                              \
    uint8_t a_ = (p)[j], b_ = (p)[PLANE + (j)], c_ = (p)[2 * PLANE + (j)];             \
    uint8_t r0 = a_ & 63, r1 = b_ & 63, r2 = c_ & 63;                                  \
    uint8_t r3 = split_register(a_, b_, c_)

/* The largest register and the number of non-zero ones. */
static uint8_t planes_check(const uint8_t *restrict p, uint32_t *nonzero)
{
    uint8_t mx = 0;
    uint16_t k = 0; /* 16 bits hold 16384 and vectorise twice as wide as 32 */
    for (uint32_t j = 0; j < PLANE; j++) {
        PLANE_REGS(p, j, r0, r1, r2, r3);
        mx = max8(mx, max8(max8(r0, r1), max8(r2, r3)));
        k = (uint16_t)(k + (uint8_t)((r0 != 0) + (r1 != 0) + (r2 != 0) + (r3 != 0)));
    }
    *nonzero = k;
    return mx;
}

/* dst[i] = max(dst[i], register i): the query hot loop. */
static void planes_max_into(uint8_t *restrict dst, const uint8_t *restrict p)
{
    for (uint32_t j = 0; j < PLANE; j++) {
        PLANE_REGS(p, j, r0, r1, r2, r3);
        dst[j] = max8(dst[j], r0);
        dst[PLANE + j] = max8(dst[PLANE + j], r1);
        dst[2 * PLANE + j] = max8(dst[2 * PLANE + j], r2);
        dst[3 * PLANE + j] = max8(dst[3 * PLANE + j], r3);
    }
}

/* Registers [c * VIEW_STEP, (c + 1) * VIEW_STEP) of dense planes p, maxed
 * into reg, or copied (the first view: no clearing before): plane t holds
 * registers t * PLANE + j in its low 6 bits, the last quarter is split
 * over the high 2 bits of all three. */
#define VIEW_STEP 1024u
static inline void planes_step(uint8_t *restrict reg, const uint8_t *restrict p, uint32_t c,
                               int copy)
{
    uint32_t j0 = c * VIEW_STEP % PLANE, t = c * VIEW_STEP / PLANE;
    if (t < 3) {
        const uint8_t *q = p + t * PLANE + j0;
        for (uint32_t j = 0; j < VIEW_STEP; j++)
            reg[j] = copy ? q[j] & 63 : max8(reg[j], q[j] & 63);
        return;
    }
    const uint8_t *a = p + j0, *b = p + PLANE + j0, *d = p + 2 * PLANE + j0;
    for (uint32_t j = 0; j < VIEW_STEP; j++) {
        uint8_t r = split_register(a[j], b[j], d[j]);
        reg[j] = copy ? r : max8(reg[j], r);
    }
}

/* Where a sparse or exact view has got to in a walk by register index. */
typedef struct view_cursor {
    uint32_t e;    /* next entry or hash */
    uint32_t next; /* sparse: the index the next entry's gap counts from */
} view_cursor;

/* Max the entries of a checked sparse view below register `end` into reg
 * (register `base` at reg[0]). */
static void sparse_step_max(uint8_t *reg, const tsagg__hll_view *v, view_cursor *cur, uint32_t base,
                            uint32_t end)
{
    uint32_t e = cur->e, next = cur->next;
    for (; e < v->n; e++) {
        uint32_t w = tsagg__get_u16(v->body + 2 * (size_t)e);
        uint32_t i = next + (w >> 6);
        if (i >= end)
            break;
        reg[i - base] = max8(reg[i - base], (uint8_t)(w & 63)); /* a skip's rank is 0 */
        next = i + 1;
    }
    cur->e = e;
    cur->next = next;
}

/* The same for the hashes of an exact view, in increasing order. */
static void exact_step_max(uint8_t *reg, const tsagg__hll_view *v, view_cursor *cur, uint32_t base,
                           uint32_t end)
{
    uint32_t e = cur->e;
    for (; e < v->n; e++) {
        uint64_t h = tsagg__get_u64(v->body + 8 * (size_t)e);
        uint32_t i = tsagg__hll_index(h);
        if (i >= end)
            break;
        reg[i - base] = max8(reg[i - base], tsagg__hll_rank(h));
    }
    cur->e = e;
}

double tsagg__hll_views_estimate(const tsagg__hll_view *const *v, size_t n)
{
    /* A kilobyte of registers stays in the first-level cache between the
     * maxima and the walk; a sketch's 16 KiB would be cleared, written and
     * read back. */
    uint8_t reg[VIEW_STEP];
    view_cursor cur[TSAGG__HLL_VIEWS_MAX] = {{0, 0}};
    tsagg__hll_walk w = {0, 0, 0};
    size_t first = 0; /* the first dense view, copied rather than maxed */
    while (first < n && v[first]->form != TSAGG__HLL_FORM_DENSE)
        first++;
    for (uint32_t c = 0; c < TSAGG__HLL_M / VIEW_STEP; c++) {
        uint32_t base = c * VIEW_STEP, end = base + VIEW_STEP;
        if (first < n)
            planes_step(reg, v[first]->body, c, 1);
        else
            memset(reg, 0, sizeof reg);
        for (size_t k = 0; k < n; k++) {
            if (k == first)
                continue;
            if (v[k]->form == TSAGG__HLL_FORM_DENSE)
                planes_step(reg, v[k]->body, c, 0);
            else if (v[k]->form == TSAGG__HLL_FORM_SPARSE)
                sparse_step_max(reg, v[k], &cur[k], base, end);
            else
                exact_step_max(reg, v[k], &cur[k], base, end);
        }
        tsagg__hll_walk_regs(reg, VIEW_STEP, &w);
    }
    return tsagg__hll_walk_estimate(&w);
}

/* Both at once, for merges of unchecked bytes. */
static uint8_t planes_check_max_into(uint8_t *restrict dst, const uint8_t *restrict p,
                                     uint32_t *nonzero)
{
    uint8_t mx = 0;
    uint16_t k = 0; /* 16 bits hold 16384 and vectorise twice as wide as 32 */
    for (uint32_t j = 0; j < PLANE; j++) {
        PLANE_REGS(p, j, r0, r1, r2, r3);
        mx = max8(mx, max8(max8(r0, r1), max8(r2, r3)));
        k = (uint16_t)(k + (uint8_t)((r0 != 0) + (r1 != 0) + (r2 != 0) + (r3 != 0)));
        dst[j] = max8(dst[j], r0);
        dst[PLANE + j] = max8(dst[PLANE + j], r1);
        dst[2 * PLANE + j] = max8(dst[2 * PLANE + j], r2);
        dst[3 * PLANE + j] = max8(dst[3 * PLANE + j], r3);
    }
    *nonzero = k;
    return mx;
}

/* The header and the leading count; the body is left unchecked. */
static int parse_header(tsagg__hll_view *v, const uint8_t *buf, size_t len)
{
    if (!buf || len < HDR)
        return TSAGG_ECORRUPT;
    if (buf[0] != TSAGG__HLL_VERSION)
        return TSAGG_EVERSION;
    if (buf[2] != TSAGG__HLL_P)
        return TSAGG_ECORRUPT;
    const uint8_t *p = buf + HDR, *end = buf + len;
    uint32_t n = 0;
    switch (buf[1]) {
    case TSAGG__HLL_FORM_DENSE:
        if (len != DENSE_SIZE)
            return TSAGG_ECORRUPT;
        break;
    case TSAGG__HLL_FORM_EXACT:
        if (get_count(&p, end, &n) || n > TSAGG__HLL_EXACT_MAX ||
            (size_t)(end - p) != 8 * (size_t)n)
            return TSAGG_ECORRUPT;
        break;
    case TSAGG__HLL_FORM_SPARSE:
        if (get_count(&p, end, &n) || n > TSAGG__HLL_SPARSE_MAX + TSAGG__HLL_M / 1024 ||
            (size_t)(end - p) != 2 * (size_t)n)
            return TSAGG_ECORRUPT;
        break;
    default:
        return TSAGG_ECORRUPT;
    }
    *v = (tsagg__hll_view){.body = p, .body_len = (size_t)(end - p), .n = n, .form = buf[1]};
    return 0;
}

int tsagg__hll_view_init(tsagg__hll_view *v, const uint8_t *buf, size_t len)
{
    tsagg__hll_view t;
    int rc = parse_header(&t, buf, len);
    if (rc)
        return rc;
    if (t.form == TSAGG__HLL_FORM_EXACT) {
        rc = exact_walk(t.body, t.n, NULL);
    } else if (t.form == TSAGG__HLL_FORM_SPARSE) {
        rc = sparse_walk(t.body, t.n, NULL, NULL);
    } else {
        uint32_t k;
        /* Few non-zero registers would have been written sparse. */
        if (planes_check(t.body, &k) > TSAGG__HLL_RANK_MAX || k <= TSAGG__HLL_SPARSE_MAX)
            rc = TSAGG_ECORRUPT;
    }
    if (rc == 0)
        *v = t;
    return rc;
}

double tsagg__hll_view_estimate(const tsagg__hll_view *v)
{
    uint32_t c[64] = {0}; /* 64: safe for any 6-bit value */
    if (v->form == TSAGG__HLL_FORM_EXACT)
        return (double)v->n;
    if (v->form == TSAGG__HLL_FORM_SPARSE) {
        (void)sparse_walk(v->body, v->n, NULL, c);
        c[0] = TSAGG__HLL_M;
        for (int r = 1; r <= TSAGG__HLL_RANK_MAX; r++)
            c[0] -= c[r];
        return tsagg__hll_estimate_hist(c);
    }
    /* One histogram per plane: independent counters keep the loop from
     * serialising on runs of equal values. */
    uint32_t c4[4][64] = {{0}};
    for (uint32_t j = 0; j < PLANE; j++) {
        PLANE_REGS(v->body, j, r0, r1, r2, r3);
        c4[0][r0]++;
        c4[1][r1]++;
        c4[2][r2]++;
        c4[3][r3]++;
    }
    for (int r = 0; r < 64; r++)
        c[r] = c4[0][r] + c4[1][r] + c4[2][r] + c4[3][r];
    return tsagg__hll_estimate_hist(c);
}

int tsagg__hll_merge_view(tsagg__hll *dst, const tsagg__hll_view *v)
{
    if (v->form == TSAGG__HLL_FORM_EXACT)
        return exact_walk(v->body, v->n, dst);
    int rc = tsagg__hll_densify(dst);
    if (rc)
        return rc;
    /* A sparse view raises registers one at a time: the histogram follows
     * them, so a bucket built from sparse hours estimates from 52 counts
     * instead of 16384 registers. */
    if (v->form == TSAGG__HLL_FORM_SPARSE)
        return sparse_walk(v->body, v->n, dst->reg, dst->hist_ok ? dst->hist : NULL);
    dst->hist_ok = false; /* registers written wholesale */
    planes_max_into(dst->reg, v->body);
    return 0;
}

int tsagg__hll_merge_serialized(tsagg__hll *dst, const uint8_t *buf, size_t len)
{
    tsagg__hll_view v;
    int rc = parse_header(&v, buf, len);
    if (rc == 0 && v.form == TSAGG__HLL_FORM_EXACT) {
        rc = exact_walk(v.body, v.n, dst); /* checks all before inserting */
    } else if (rc == 0) {
        rc = tsagg__hll_densify(dst);
        if (rc == 0 && v.form == TSAGG__HLL_FORM_SPARSE) {
            /* As in tsagg__hll_merge_view; a corrupt body resets dst. */
            rc = sparse_walk(v.body, v.n, dst->reg, dst->hist_ok ? dst->hist : NULL);
        } else if (rc == 0) {
            dst->hist_ok = false; /* registers written wholesale */
            uint32_t k;
            if (planes_check_max_into(dst->reg, v.body, &k) > TSAGG__HLL_RANK_MAX ||
                k <= TSAGG__HLL_SPARSE_MAX)
                rc = TSAGG_ECORRUPT;
        }
    }
    /* Never leave part of a corrupt sketch in the result. */
    if (rc == TSAGG_ECORRUPT || rc == TSAGG_EVERSION)
        tsagg__hll_reset(dst);
    return rc;
}

int tsagg__hll_deserialize(tsagg__hll *h, const uint8_t *buf, size_t len)
{
    tsagg__hll_reset(h);
    int rc = tsagg__hll_merge_serialized(h, buf, len);
    if (rc)
        tsagg__hll_reset(h);
    return rc;
}
