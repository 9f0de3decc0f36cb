/*
 * rollup.c - a merchant-hour's rollup in a partition file: built row by row
 * by the writer (per minute and event name: count and measure sums; the hour's
 * user and session sketches, also per event name), encoded to the raw bytes
 * of a rollup block, and decoded back into a tsagg__rollup for readers.
 * Byte layout: partfile_format.h and docs/format.md.
 *
 * The rollup is two blocks written back to back: the counts (per minute
 * and event name) and the sketches, so that a query counting events or
 * summing measures decompresses a few hundred bytes, not the sketches.
 *
 * Rows of a merchant arrive sorted by time, so minutes only move forward:
 * the accumulator keeps the current minute's counters per event slot and
 * appends the minute's entries (sorted by event code) when the minute ends.
 */
#include <math.h>

#include "bytes.h"
#include "partfile_format.h"
#include "tsagg_errors.h"

void tsagg__pf_rollup_init(pf_rollup_acc *a, uint32_t nmeasures)
{
    memset(a, 0, sizeof *a);
    a->nmeasures = nmeasures;
    a->minute = -1;
    a->gen = 1;
    tsagg__hll_init(&a->users);
    tsagg__hll_init(&a->sessions);
}

void tsagg__pf_rollup_fini(pf_rollup_acc *a)
{
    for (uint32_t i = 0; i < a->slots_init; i++) {
        tsagg__hll_fini(&a->slots[i].users);
        tsagg__hll_fini(&a->slots[i].sessions);
    }
    free(a->slots);
    free(a->slot_of);
    free(a->slot_gen);
    free(a->sums);
    free(a->touched);
    tsagg__buf_free(&a->entries);
    tsagg__hll_fini(&a->users);
    tsagg__hll_fini(&a->sessions);
    memset(a, 0, sizeof *a);
}

void tsagg__pf_rollup_reset(pf_rollup_acc *a)
{
    for (uint32_t i = 0; i < a->nslots; i++) {
        tsagg__hll_reset(&a->slots[i].users);
        tsagg__hll_reset(&a->slots[i].sessions);
    }
    a->nslots = 0;
    a->ntouched = 0;
    a->minute = -1;
    a->entries.len = 0;
    a->nentries = 0;
    tsagg__hll_reset(&a->users);
    tsagg__hll_reset(&a->sessions);
    if (++a->gen == 0) { /* wrapped: forget every stamp */
        if (a->slot_gen)
            memset(a->slot_gen, 0, (size_t)a->codes_cap * sizeof *a->slot_gen);
        a->gen = 1;
    }
}

static int grow_codes(pf_rollup_acc *a, uint32_t code)
{
    uint32_t cap = a->codes_cap ? a->codes_cap : 64;
    while (cap <= code)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    uint32_t *of = realloc(a->slot_of, (size_t)cap * sizeof *of);
    if (!of)
        return -ENOMEM;
    a->slot_of = of;
    uint32_t *gen = realloc(a->slot_gen, (size_t)cap * sizeof *gen);
    if (!gen)
        return -ENOMEM;
    memset(gen + a->codes_cap, 0, (size_t)(cap - a->codes_cap) * sizeof *gen);
    a->slot_gen = gen;
    a->codes_cap = cap;
    return 0;
}

static int grow_slots(pf_rollup_acc *a)
{
    uint32_t cap = a->slots_cap ? a->slots_cap * 2 : 8;
    pf_rslot *s = realloc(a->slots, (size_t)cap * sizeof *s);
    if (!s)
        return -ENOMEM;
    a->slots = s;
    uint32_t *t = realloc(a->touched, (size_t)cap * sizeof *t);
    if (!t)
        return -ENOMEM;
    a->touched = t;
    size_t nm = a->nmeasures ? a->nmeasures : 1;
    double *sums = realloc(a->sums, (size_t)cap * nm * sizeof *sums);
    if (!sums)
        return -ENOMEM;
    a->sums = sums;
    a->slots_cap = cap;
    return 0;
}

/* The slot of an event code for the current merchant, created on first use. */
static int slot_for(pf_rollup_acc *a, uint32_t event, uint32_t *slot)
{
    if (event >= a->codes_cap) {
        int rc = grow_codes(a, event);
        if (rc != 0)
            return rc;
    }
    if (a->slot_gen[event] == a->gen) {
        *slot = a->slot_of[event];
        return 0;
    }
    if (a->nslots == a->slots_cap) {
        int rc = grow_slots(a);
        if (rc != 0)
            return rc;
    }
    uint32_t s = a->nslots;
    if (s == a->slots_init) {
        tsagg__hll_init(&a->slots[s].users);
        tsagg__hll_init(&a->slots[s].sessions);
        a->slots_init++;
    }
    a->slots[s].event = event;
    a->slots[s].count = 0;
    a->slots[s].rows = 0;
    a->nslots++;
    a->slot_of[event] = s;
    a->slot_gen[event] = a->gen;
    *slot = s;
    return 0;
}

/* Append the current minute's entries, by event code, and clear them. */
static int flush_minute(pf_rollup_acc *a)
{
    uint32_t n = a->ntouched, nm = a->nmeasures;
    if (n == 0)
        return 0;
    for (uint32_t i = 1; i < n; i++) { /* few events a minute: insertion sort */
        uint32_t s = a->touched[i], j = i;
        while (j > 0 && a->slots[a->touched[j - 1]].event > a->slots[s].event) {
            a->touched[j] = a->touched[j - 1];
            j--;
        }
        a->touched[j] = s;
    }
    int rc = tsagg__buf_reserve(&a->entries, (size_t)n * (1 + 5 + 10 + 10 + 8 * (size_t)nm));
    if (rc != 0)
        return rc;
    uint8_t *p = a->entries.p + a->entries.len;
    for (uint32_t i = 0; i < n; i++) {
        pf_rslot *sl = &a->slots[a->touched[i]];
        double *sums = a->sums + (size_t)a->touched[i] * nm;
        *p++ = (uint8_t)a->minute;
        p += tsagg__put_varint(p, sl->event);
        p += tsagg__put_varint(p, sl->count);
        if (nm) {
            uint64_t mask = 0;
            for (uint32_t j = 0; j < nm; j++) {
                uint64_t bits;
                memcpy(&bits, &sums[j], 8);
                if (bits != 0)
                    mask |= UINT64_C(1) << j;
            }
            p += tsagg__put_varint(p, mask);
            for (uint32_t j = 0; j < nm; j++) {
                if (mask >> j & 1) {
                    uint64_t bits;
                    memcpy(&bits, &sums[j], 8);
                    tsagg__put_u64(p, bits);
                    p += 8;
                }
            }
        }
        sl->count = 0;
    }
    a->entries.len = (size_t)(p - a->entries.p);
    a->nentries += n;
    a->ntouched = 0;
    return 0;
}

int tsagg__pf_rollup_add(pf_rollup_acc *a, int minute, uint32_t event, uint64_t user,
                         uint64_t session, const double *measures)
{
    int rc;
    if (minute != a->minute) {
        if ((rc = flush_minute(a)) != 0)
            return rc;
        a->minute = minute;
    }
    uint32_t s;
    if ((rc = slot_for(a, event, &s)) != 0)
        return rc;
    pf_rslot *sl = &a->slots[s];
    uint32_t nm = a->nmeasures;
    double *sums = a->sums + (size_t)s * nm;
    sl->rows++;
    if (sl->count++ == 0) {
        a->touched[a->ntouched++] = s;
        for (uint32_t j = 0; j < nm; j++)
            sums[j] = 0.0;
    }
    for (uint32_t j = 0; j < nm; j++)
        if (!isnan(measures[j]))
            sums[j] += measures[j];
    /* Id 0 is an absent user or session: not a value to count. */
    if (user && ((rc = tsagg__hll_add(&a->users, user)) != 0 ||
                 (rc = tsagg__hll_add(&sl->users, user)) != 0))
        return rc;
    if (session && ((rc = tsagg__hll_add(&a->sessions, session)) != 0 ||
                    (rc = tsagg__hll_add(&sl->sessions, session)) != 0))
        return rc;
    return 0;
}

/*
 * Append varint len + the serialized sketch. With same_len > 0, a sketch
 * whose bytes equal out->p[same_off, same_off + same_len) (the merchant's
 * sketch of all events) is written as length 0 instead: the common case of
 * page_view, whose users are all of the merchant's users.
 */
static int put_sketch(tsagg__buf *out, const tsagg__hll *h, size_t same_off, size_t same_len,
                      size_t *off)
{
    size_t n = tsagg__hll_serialized_size(h);
    int rc = tsagg__buf_reserve(out, 10 + n);
    if (rc != 0)
        return rc;
    uint8_t *tmp = out->p + out->len + 10;
    int w = tsagg__hll_serialize(h, tmp, n);
    if (w < 0)
        return w;
    if (same_len && (size_t)w == same_len && memcmp(tmp, out->p + same_off, same_len) == 0) {
        out->p[out->len++] = 0;
        return 0;
    }
    out->len += tsagg__put_varint(out->p + out->len, (uint64_t)w);
    memmove(out->p + out->len, tmp, (size_t)w);
    if (off)
        *off = out->len;
    out->len += (size_t)w;
    return 0;
}

static int cmp_slot_event(const void *x, const void *y)
{
    uint32_t a = ((const uint32_t *)x)[0], b = ((const uint32_t *)y)[0];
    return a < b ? -1 : a > b;
}

int tsagg__pf_rollup_encode(pf_rollup_acc *a, tsagg__buf *counts, tsagg__buf *out)
{
    int rc = flush_minute(a);
    if (rc != 0)
        return rc;
    counts->len = 0;
    if ((rc = tsagg__buf_reserve(counts, 20 + a->entries.len)) != 0)
        return rc;
    uint8_t *p = counts->p;
    p += tsagg__put_varint(p, a->nentries);
    p += tsagg__put_varint(p, a->nmeasures);
    if (a->entries.len)
        memcpy(p, a->entries.p, a->entries.len);
    counts->len = (size_t)(p - counts->p) + a->entries.len;
    /* The sketch block. */
    out->len = 0;
    if ((rc = tsagg__buf_reserve(out, 10)) != 0)
        return rc;
    uint32_t nnamed = 0;
    for (uint32_t i = 0; i < a->nslots; i++)
        nnamed += a->slots[i].rows >= PF_NAMED_SKETCH_MIN_ROWS;
    out->len = tsagg__put_varint(out->p, nnamed);
    size_t u_off = 0, s_off = 0;
    size_t u_len = tsagg__hll_serialized_size(&a->users);
    size_t s_len = tsagg__hll_serialized_size(&a->sessions);
    if ((rc = put_sketch(out, &a->users, 0, 0, &u_off)) != 0 ||
        (rc = put_sketch(out, &a->sessions, 0, 0, &s_off)) != 0)
        return rc;
    /* Named sketches by event code: (event, slot) pairs sorted. */
    uint32_t *order = malloc((size_t)a->nslots * 2 * sizeof *order + 1);
    if (!order)
        return -ENOMEM;
    for (uint32_t i = 0; i < a->nslots; i++) {
        order[2 * i] = a->slots[i].event;
        order[2 * i + 1] = i;
    }
    qsort(order, a->nslots, 2 * sizeof *order, cmp_slot_event);
    for (uint32_t i = 0; i < a->nslots && rc == 0; i++) {
        pf_rslot *sl = &a->slots[order[2 * i + 1]];
        if (sl->rows < PF_NAMED_SKETCH_MIN_ROWS)
            continue;
        if ((rc = tsagg__buf_reserve(out, 10)) != 0)
            break;
        out->len += tsagg__put_varint(out->p + out->len, sl->event);
        if ((rc = put_sketch(out, &sl->users, u_off, u_len, NULL)) == 0)
            rc = put_sketch(out, &sl->sessions, s_off, s_len, NULL);
    }
    free(order);
    return rc;
}

/* ---- decoding ---------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p, *end;
    const char *why;
} rd;

static int rd_varint(rd *r, uint64_t *v, uint64_t max, const char *what)
{
    if (tsagg__get_varint(&r->p, r->end, v) != 0 || *v > max) {
        r->why = what;
        return -1;
    }
    return 0;
}

/* A sketch; length 0 stands for *same (NULL: not allowed). */
static int rd_sketch(rd *r, const uint8_t **s, size_t *len, const uint8_t *same, size_t same_len)
{
    uint64_t n;
    if (rd_varint(r, &n, TSAGG__HLL_SERIALIZED_MAX, "bad sketch length") != 0)
        return -1;
    if (n == 0 && same) {
        *s = same;
        *len = same_len;
        return 0;
    }
    if (n == 0 || n > (uint64_t)(r->end - r->p)) {
        r->why = "bad sketch length";
        return -1;
    }
    *s = r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

void tsagg__rollup_free(tsagg__rollup *r)
{
    if (!r)
        return;
    if (r->mem) {
        void *raw[2];
        memcpy(raw, r->mem, sizeof raw);
        free(raw[0]);
        free(raw[1]);
        free(r->mem);
    }
    memset(r, 0, sizeof *r);
}

int tsagg__pf_rollup_decode(uint8_t *raw, size_t len, uint8_t *sk, size_t sk_len,
                            uint32_t nmeasures, uint32_t nevents, uint64_t rows,
                            tsagg__rollup *out, const char **why)
{
    memset(out, 0, sizeof *out);
    rd r = {raw, raw + len, NULL};
    rd k = {sk, sk ? sk + sk_len : NULL, NULL};
    uint64_t n, nm, nnamed = 0;
    if (rd_varint(&r, &n, len / 3, "bad entry count") != 0 ||
        rd_varint(&r, &nm, 64, "bad measure count") != 0)
        goto corrupt;
    if (sk && rd_varint(&k, &nnamed, nevents, "bad named sketch count") != 0) {
        r.why = k.why;
        goto corrupt;
    }
    if (nm != nmeasures) {
        r.why = "measure count disagrees with the schema";
        goto corrupt;
    }
    if (n > (uint64_t)nevents * 60 || nnamed > sk_len / 3) {
        r.why = n > (uint64_t)nevents * 60 ? "bad entry count" : "bad named sketch count";
        goto corrupt;
    }
    /* One block: the two raw pointers, then the arrays, 8-aligned. */
    size_t o_count = ALIGN8(2 * sizeof(void *));
    size_t o_sums = o_count + (size_t)n * 8;
    size_t o_event = o_sums + (size_t)n * nm * 8;
    size_t o_named = ALIGN8(o_event + (size_t)n * 4);
    size_t o_nu = ALIGN8(o_named + (size_t)nnamed * 4);
    size_t o_ns = o_nu + (size_t)nnamed * sizeof(void *);
    size_t o_nul = o_ns + (size_t)nnamed * sizeof(void *);
    size_t o_nsl = o_nul + (size_t)nnamed * sizeof(size_t);
    size_t o_minute = o_nsl + (size_t)nnamed * sizeof(size_t);
    size_t total = o_minute + (size_t)n;
    uint8_t *mem = malloc(total);
    if (!mem) {
        free(raw);
        free(sk);
        return -ENOMEM;
    }
    void *rawp[2] = {raw, sk};
    memcpy(mem, rawp, sizeof rawp);
    out->mem = mem;
    out->n = (uint32_t)n;
    out->nmeasures = nmeasures;
    out->count = (uint64_t *)(void *)(mem + o_count);
    out->sums = (double *)(void *)(mem + o_sums);
    out->event = (uint32_t *)(void *)(mem + o_event);
    out->minute = mem + o_minute;
    out->nnamed = (uint32_t)nnamed;
    out->named_event = (uint32_t *)(void *)(mem + o_named);
    out->named_users = (const uint8_t **)(void *)(mem + o_nu);
    out->named_sessions = (const uint8_t **)(void *)(mem + o_ns);
    out->named_users_len = (size_t *)(void *)(mem + o_nul);
    out->named_sessions_len = (size_t *)(void *)(mem + o_nsl);

    uint64_t total_count = 0;
    int64_t prev = -1; /* minute << 32 | event of the previous entry */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t ev, count, mask = 0;
        if (r.p >= r.end || *r.p >= 60) {
            r.why = "bad minute";
            goto corrupt;
        }
        uint8_t minute = *r.p++;
        if (rd_varint(&r, &ev, nevents - 1, "bad event code") != 0 ||
            rd_varint(&r, &count, rows, "bad count") != 0)
            goto corrupt;
        int64_t key = (int64_t)minute << 32 | (int64_t)ev;
        if (key <= prev || count == 0) {
            r.why = "entries out of order or empty";
            goto corrupt;
        }
        prev = key;
        total_count += count;
        if (total_count > rows) {
            r.why = "counts exceed the merchant-hour's rows";
            goto corrupt;
        }
        if (nm && rd_varint(&r, &mask, nm == 64 ? UINT64_MAX : (UINT64_C(1) << nm) - 1,
                            "bad measure mask") != 0)
            goto corrupt;
        double *sums = out->sums + i * nm;
        for (uint32_t j = 0; j < nm; j++) {
            uint64_t bits = 0;
            if (mask >> j & 1) {
                if (r.end - r.p < 8) {
                    r.why = "truncated sums";
                    goto corrupt;
                }
                bits = tsagg__get_u64(r.p);
                r.p += 8;
            }
            memcpy(&sums[j], &bits, 8);
        }
        out->minute[i] = minute;
        out->event[i] = (uint32_t)ev;
        out->count[i] = count;
    }
    if (total_count != rows) {
        r.why = "counts disagree with the merchant-hour's rows";
        goto corrupt;
    }
    if (r.p != r.end) {
        r.why = "trailing bytes";
        goto corrupt;
    }
    if (!sk)
        return 0;
    if (rd_sketch(&k, &out->users, &out->users_len, NULL, 0) != 0 ||
        rd_sketch(&k, &out->sessions, &out->sessions_len, NULL, 0) != 0)
        goto sketch_corrupt;
    for (uint64_t i = 0; i < nnamed; i++) {
        uint64_t ev;
        if (rd_varint(&k, &ev, nevents - 1, "bad named event code") != 0)
            goto sketch_corrupt;
        if (i > 0 && ev <= out->named_event[i - 1]) {
            k.why = "named sketches out of order";
            goto sketch_corrupt;
        }
        out->named_event[i] = (uint32_t)ev;
        if (rd_sketch(&k, &out->named_users[i], &out->named_users_len[i], out->users,
                      out->users_len) != 0 ||
            rd_sketch(&k, &out->named_sessions[i], &out->named_sessions_len[i], out->sessions,
                      out->sessions_len) != 0)
            goto sketch_corrupt;
    }
    if (k.p != k.end) {
        k.why = "trailing bytes";
        goto sketch_corrupt;
    }
    return 0;
sketch_corrupt:
    r.why = k.why;
corrupt:
    *why = r.why ? r.why : "bad rollup";
    if (out->mem) {
        tsagg__rollup_free(out);
    } else {
        free(raw);
        free(sk);
    }
    memset(out, 0, sizeof *out);
    return TSAGG_ECORRUPT;
}
