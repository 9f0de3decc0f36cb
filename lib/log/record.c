/*
 * record.c - the row encoding of live log frames (docs/format.md, "Rows").
 *
 * A rows payload is a sequence of records, one per tsagg_append() call:
 *
 *   varint nnames; nnames x (varint len, bytes)   names used by the record:
 *                                                  event names, attribute keys
 *   varint nevents
 *   per event:
 *     varint zigzag(ts - previous ts of the record; the first: ts - 0)
 *     varint merchant
 *     varint index of the event name
 *     u64 user, u64 session (little endian)
 *     varint flags; varint id when flags has TSAGG_EVENT_HAS_ID
 *     varint nattrs; per attribute:
 *       varint (key index << 2 | type)
 *       type 1 string: varint len, bytes; 2 int: zigzag varint; 3 f64: 8 bytes
 *
 * Names are per record so that appenders encode in parallel, outside the
 * writer's lock; the head (names and count) and the body are kept apart
 * because the names are known only once the body is encoded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "log_internal.h"
#include "shortmem.h"

/* A name the record has not used yet; TSAGG_EINPUT when it holds a NUL
 * byte (the names held are free of them, so a name equal to one of them
 * is too). */
static int name_add(tsagg__names *t, const char *p, uint32_t len, uint32_t *idx)
{
    if (tsagg__nul_at(p, len) >= 0)
        return TSAGG_EINPUT;
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 32;
        const char **np = realloc(t->ptr, cap * sizeof *np);
        if (!np)
            return -ENOMEM;
        t->ptr = np;
        uint32_t *nl = realloc(t->len, cap * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        t->len = nl;
        t->cap = cap;
    }
    t->ptr[t->n] = p;
    t->len[t->n] = len;
    *idx = t->n++;
    return 0;
}

/* Index of a name; `hint` is where the same slot matched last time, which
 * hits almost always because hosts fill attributes in a fixed order. */
static inline int name_index(tsagg__names *t, const char *p, uint32_t len, uint32_t *hint,
                             uint32_t *idx)
{
    uint32_t h = *hint;
    if (h < t->n && t->len[h] == len && (t->ptr[h] == p || !memcmp(t->ptr[h], p, len))) {
        *idx = h;
        return 0;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->len[i] == len && (t->ptr[i] == p || !memcmp(t->ptr[i], p, len))) {
            *idx = *hint = i;
            return 0;
        }
    }
    int rc = name_add(t, p, len, idx);
    *hint = *idx;
    return rc;
}

void tsagg__encoder_free(tsagg__encoder *enc)
{
    tsagg__buf_free(&enc->body);
    free(enc->names.ptr);
    free(enc->names.len);
    memset(enc, 0, sizeof *enc);
}

int tsagg__record_encode(tsagg__encoder *enc, tsagg__buf *out, const tsagg_event *evs, size_t n,
                         size_t bound, int64_t *min_ts, int64_t *max_ts)
{
    tsagg__buf body = enc->body;
    tsagg__names names = enc->names;
    names.n = 0;
    body.len = 0;
    uint32_t hints[TSAGG_ATTRS_MAX + 1] = {0};
    int rc = tsagg__buf_reserve(&body, bound);
    int64_t prev = 0, lo = INT64_MAX, hi = INT64_MIN;
    uint8_t *p = body.p;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const tsagg_event *ev = &evs[i];
        uint32_t idx;
        p += tsagg__put_varint(p, tsagg__zigzag((int64_t)((uint64_t)ev->ts - (uint64_t)prev)));
        prev = ev->ts;
        lo = ev->ts < lo ? ev->ts : lo;
        hi = ev->ts > hi ? ev->ts : hi;
        p += tsagg__put_varint(p, ev->merchant);
        rc = name_index(&names, ev->event, ev->event_len, &hints[TSAGG_ATTRS_MAX], &idx);
        if (rc != 0)
            break;
        p += tsagg__put_varint(p, idx);
        tsagg__put_u64(p, ev->user);
        tsagg__put_u64(p + 8, ev->session);
        p += 16;
        p += tsagg__put_varint(p, ev->flags);
        if (ev->flags & TSAGG_EVENT_HAS_ID)
            p += tsagg__put_varint(p, ev->id);
        p += tsagg__put_varint(p, ev->nattrs);
        for (uint32_t a = 0; rc == 0 && a < ev->nattrs; a++) {
            const tsagg_attr *at = &ev->attrs[a];
            rc = name_index(&names, at->key, at->key_len, &hints[a], &idx);
            if (rc != 0)
                break;
            p += tsagg__put_varint(p, (uint64_t)idx << 2 | at->type);
            if (at->type == TSAGG_STR) {
                p += tsagg__put_varint(p, at->v.s.len);
                /* The check before encoding left NUL bytes to this copy. */
                if (tsagg__copy_has_nul(p, at->v.s.ptr, at->v.s.len)) {
                    rc = TSAGG_EINPUT;
                    break;
                }
                p += at->v.s.len;
            } else if (at->type == TSAGG_INT) {
                p += tsagg__put_varint(p, tsagg__zigzag(at->v.i));
            } else {
                uint64_t bits;
                memcpy(&bits, &at->v.f, 8);
                tsagg__put_u64(p, bits);
                p += 8;
            }
        }
    }
    body.len = (size_t)(p - body.p);
    size_t head = 20;
    for (uint32_t i = 0; i < names.n; i++)
        head += 5 + names.len[i];
    if (rc == 0)
        rc = tsagg__buf_reserve(out, head + body.len);
    if (rc == 0) {
        uint8_t *q = out->p + out->len;
        q += tsagg__put_varint(q, names.n);
        for (uint32_t i = 0; i < names.n; i++) {
            q += tsagg__put_varint(q, names.len[i]);
            memcpy(q, names.ptr[i], names.len[i]);
            q += names.len[i];
        }
        q += tsagg__put_varint(q, n);
        memcpy(q, body.p, body.len);
        out->len = (size_t)(q + body.len - out->p);
        *min_ts = lo;
        *max_ts = hi;
    }
    enc->body = body;
    enc->names = names;
    return rc;
}

static int grow_events(tsagg__events *e, size_t extra)
{
    if (e->cap - e->n >= extra)
        return 0;
    size_t cap = e->cap ? e->cap : 256;
    while (cap - e->n < extra)
        cap *= 2;
    tsagg_event *p = realloc(e->evs, cap * sizeof *p);
    if (!p)
        return -ENOMEM;
    e->evs = p;
    e->cap = cap;
    return 0;
}

static int grow_attrs(tsagg__events *e, size_t extra)
{
    if (e->attrs_cap - e->nattrs >= extra)
        return 0;
    size_t cap = e->attrs_cap ? e->attrs_cap : 1024;
    while (cap - e->nattrs < extra)
        cap *= 2;
    tsagg_attr *p = realloc(e->attrs, cap * sizeof *p);
    if (!p)
        return -ENOMEM;
    e->attrs = p;
    e->attrs_cap = cap;
    return 0;
}

/* Attribute arrays move while they grow: events first hold the index of
 * their first attribute in `attrs`, turned into pointers at the end. */
static void bind_attrs(tsagg__events *e)
{
    for (size_t i = 0; i < e->n; i++)
        e->evs[i].attrs = e->evs[i].nattrs ? e->attrs + (uintptr_t)e->evs[i].attrs : NULL;
}

#define NEED(cond)                    \
    do {                              \
        if (!(cond))                  \
            return TSAGG_ECORRUPT;    \
    } while (0)

typedef struct name_refs {
    const uint8_t **ptr;
    uint32_t *len;
    size_t cap;
} name_refs;

static int refs_reserve(name_refs *r, size_t n)
{
    if (n <= r->cap)
        return 0;
    const uint8_t **p = realloc(r->ptr, n * sizeof *p);
    if (!p)
        return -ENOMEM;
    r->ptr = p;
    uint32_t *l = realloc(r->len, n * sizeof *l);
    if (!l)
        return -ENOMEM;
    r->len = l;
    r->cap = n;
    return 0;
}

static int decode_record(const uint8_t **pp, const uint8_t *end, tsagg__events *out,
                         name_refs *refs)
{
    const uint8_t *p = *pp;
    uint64_t nnames, nevents, v;
    /* Every name costs at least two bytes, which bounds the allocation. */
    NEED(tsagg__get_varint(&p, end, &nnames) == 0 && nnames <= (uint64_t)(end - p) / 2);
    int rc = refs_reserve(refs, (size_t)nnames);
    if (rc != 0)
        return rc;
    const uint8_t **names = refs->ptr;
    uint32_t *name_lens = refs->len;
    for (uint64_t i = 0; i < nnames; i++) {
        NEED(tsagg__get_varint(&p, end, &v) == 0 && v >= 1 && v <= (uint64_t)(end - p));
        names[i] = p;
        name_lens[i] = (uint32_t)v;
        p += v;
    }
    NEED(tsagg__get_varint(&p, end, &nevents) == 0 && nevents <= (uint64_t)(end - p) / 19);
    rc = grow_events(out, (size_t)nevents);
    if (rc != 0)
        return rc;
    int64_t prev = 0;
    for (uint64_t i = 0; i < nevents; i++) {
        tsagg_event *ev = &out->evs[out->n];
        NEED(tsagg__get_varint(&p, end, &v) == 0);
        ev->ts = (int64_t)((uint64_t)prev + (uint64_t)tsagg__unzigzag(v));
        prev = ev->ts;
        NEED(tsagg__get_varint(&p, end, &ev->merchant) == 0);
        NEED(tsagg__get_varint(&p, end, &v) == 0 && v < nnames);
        NEED(name_lens[v] <= TSAGG_EVENT_NAME_MAX);
        ev->event = (const char *)names[v];
        ev->event_len = name_lens[v];
        NEED(end - p >= 16);
        ev->user = tsagg__get_u64(p);
        ev->session = tsagg__get_u64(p + 8);
        p += 16;
        NEED(tsagg__get_varint(&p, end, &v) == 0 && v <= TSAGG_EVENT_HAS_ID);
        ev->flags = (uint32_t)v;
        ev->id = 0;
        if (ev->flags & TSAGG_EVENT_HAS_ID)
            NEED(tsagg__get_varint(&p, end, &ev->id) == 0);
        NEED(tsagg__get_varint(&p, end, &v) == 0 && v <= TSAGG_ATTRS_MAX);
        ev->nattrs = (uint32_t)v;
        ev->attrs = (const tsagg_attr *)(uintptr_t)out->nattrs;
        rc = grow_attrs(out, ev->nattrs);
        if (rc != 0)
            return rc;
        for (uint32_t a = 0; a < ev->nattrs; a++) {
            tsagg_attr *at = &out->attrs[out->nattrs++];
            NEED(tsagg__get_varint(&p, end, &v) == 0 && (v >> 2) < nnames);
            NEED(name_lens[v >> 2] <= TSAGG_NAME_MAX);
            at->key = (const char *)names[v >> 2];
            at->key_len = name_lens[v >> 2];
            at->type = (uint32_t)(v & 3);
            if (at->type == TSAGG_STR) {
                NEED(tsagg__get_varint(&p, end, &v) == 0 && v <= TSAGG_VALUE_MAX &&
                     v <= (uint64_t)(end - p));
                at->v.s.ptr = (const char *)p;
                at->v.s.len = (uint32_t)v;
                p += v;
            } else if (at->type == TSAGG_INT) {
                NEED(tsagg__get_varint(&p, end, &v) == 0);
                at->v.i = tsagg__unzigzag(v);
            } else if (at->type == TSAGG_F64) {
                NEED(end - p >= 8);
                uint64_t bits = tsagg__get_u64(p);
                memcpy(&at->v.f, &bits, 8);
                p += 8;
            } else {
                return TSAGG_ECORRUPT;
            }
        }
        out->n++;
    }
    *pp = p;
    return 0;
}

int tsagg__rows_decode(const uint8_t *raw, size_t len, uint32_t count, tsagg__events *out)
{
    out->n = 0;
    out->nattrs = 0;
    name_refs refs = {0};
    int rc = 0;
    const uint8_t *p = raw, *end = raw + len;
    while (rc == 0 && p < end && out->n <= count)
        rc = decode_record(&p, end, out, &refs);
    free(refs.ptr);
    free(refs.len);
    if (rc == 0 && out->n != count)
        rc = TSAGG_ECORRUPT;
    if (rc == 0)
        bind_attrs(out);
    return rc;
}
