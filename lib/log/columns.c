/*
 * columns.c - the columnar event encoding of archive frames
 * (docs/format.md, "Columns").
 *
 *   varint nnames; nnames x (varint len, bytes)
 *   varint nevents
 *   7 + nnames streams, each as varint byte length then the bytes:
 *     ts       zigzag varint of ts minus the previous event's ts (first: ts)
 *     merchant varint
 *     event    varint index of the event name
 *     user     u64 little endian
 *     session  u64 little endian
 *     flags    varint flags, then varint id when TSAGG_EVENT_HAS_ID
 *     layout   per event: varint nattrs, then per attribute
 *              varint (key index << 2 | type)
 *     values of key 0, of key 1, ...: string: varint len, bytes;
 *              int: zigzag varint; f64: 8 bytes
 *
 * Values of one key sit together, so zstd finds the repeats (page paths,
 * countries) that the row form scatters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "columns.h"

enum { S_TS, S_MERCHANT, S_EVENT, S_USER, S_SESSION, S_FLAGS, S_LAYOUT, S_CORE };

void tsagg__colb_init(tsagg__colb *b)
{
    memset(b, 0, sizeof *b);
}

void tsagg__colb_reset(tsagg__colb *b)
{
    b->names.len = 0;
    b->nnames = 0;
    for (int i = 0; i < S_CORE; i++)
        b->core[i].len = 0;
    for (uint32_t i = 0; i < b->vals_cap; i++)
        b->vals[i].len = 0;
    b->nevents = 0;
    b->prev_ts = 0;
    b->hint_event = 0;
    memset(b->hints, 0, sizeof b->hints);
}

void tsagg__colb_free(tsagg__colb *b)
{
    tsagg__buf_free(&b->names);
    for (int i = 0; i < S_CORE; i++)
        tsagg__buf_free(&b->core[i]);
    for (uint32_t i = 0; i < b->vals_cap; i++)
        tsagg__buf_free(&b->vals[i]);
    free(b->vals);
    free(b->name_off);
    free(b->name_len);
    memset(b, 0, sizeof *b);
}

static int name_index(tsagg__colb *b, const char *p, uint32_t len, uint32_t *hint, uint32_t *idx)
{
    uint32_t h = *hint;
    if (h < b->nnames && b->name_len[h] == len && !memcmp(b->names.p + b->name_off[h], p, len)) {
        *idx = h;
        return 0;
    }
    for (uint32_t i = 0; i < b->nnames; i++) {
        if (b->name_len[i] == len && !memcmp(b->names.p + b->name_off[i], p, len)) {
            *idx = *hint = i;
            return 0;
        }
    }
    if (b->nnames == b->vals_cap) {
        uint32_t cap = b->vals_cap ? b->vals_cap * 2 : 32;
        tsagg__buf *v = realloc(b->vals, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        memset(v + b->vals_cap, 0, (cap - b->vals_cap) * sizeof *v);
        b->vals = v;
        uint32_t *o = realloc(b->name_off, cap * sizeof *o);
        if (!o)
            return -ENOMEM;
        b->name_off = o;
        uint32_t *l = realloc(b->name_len, cap * sizeof *l);
        if (!l)
            return -ENOMEM;
        b->name_len = l;
        b->vals_cap = cap;
    }
    int rc = tsagg__buf_reserve(&b->names, len);
    if (rc != 0)
        return rc;
    memcpy(b->names.p + b->names.len, p, len);
    b->name_off[b->nnames] = (uint32_t)b->names.len;
    b->name_len[b->nnames] = len;
    b->names.len += len;
    *idx = *hint = b->nnames++;
    return 0;
}

static int put_varint(tsagg__buf *s, uint64_t v)
{
    int rc = tsagg__buf_reserve(s, 10);
    if (rc == 0)
        s->len += tsagg__put_varint(s->p + s->len, v);
    return rc;
}

static int put_u64(tsagg__buf *s, uint64_t v)
{
    int rc = tsagg__buf_reserve(s, 8);
    if (rc == 0) {
        tsagg__put_u64(s->p + s->len, v);
        s->len += 8;
    }
    return rc;
}

int tsagg__colb_add(tsagg__colb *b, const tsagg_event *ev)
{
    uint32_t idx;
    int rc = put_varint(&b->core[S_TS],
                        tsagg__zigzag((int64_t)((uint64_t)ev->ts - (uint64_t)b->prev_ts)));
    b->prev_ts = ev->ts;
    rc = rc ? rc : put_varint(&b->core[S_MERCHANT], ev->merchant);
    rc = rc ? rc : name_index(b, ev->event, ev->event_len, &b->hint_event, &idx);
    rc = rc ? rc : put_varint(&b->core[S_EVENT], idx);
    rc = rc ? rc : put_u64(&b->core[S_USER], ev->user);
    rc = rc ? rc : put_u64(&b->core[S_SESSION], ev->session);
    rc = rc ? rc : put_varint(&b->core[S_FLAGS], ev->flags);
    if (rc == 0 && (ev->flags & TSAGG_EVENT_HAS_ID))
        rc = put_varint(&b->core[S_FLAGS], ev->id);
    rc = rc ? rc : put_varint(&b->core[S_LAYOUT], ev->nattrs);
    for (uint32_t a = 0; rc == 0 && a < ev->nattrs; a++) {
        const tsagg_attr *at = &ev->attrs[a];
        rc = name_index(b, at->key, at->key_len, &b->hints[a], &idx);
        rc = rc ? rc : put_varint(&b->core[S_LAYOUT], (uint64_t)idx << 2 | at->type);
        if (rc != 0)
            break;
        tsagg__buf *v = &b->vals[idx];
        if (at->type == TSAGG_STR) {
            rc = put_varint(v, at->v.s.len);
            rc = rc ? rc : tsagg__buf_reserve(v, at->v.s.len);
            if (rc == 0 && at->v.s.len) {
                memcpy(v->p + v->len, at->v.s.ptr, at->v.s.len);
                v->len += at->v.s.len;
            }
        } else if (at->type == TSAGG_INT) {
            rc = put_varint(v, tsagg__zigzag(at->v.i));
        } else {
            uint64_t bits;
            memcpy(&bits, &at->v.f, 8);
            rc = put_u64(v, bits);
        }
    }
    if (rc == 0)
        b->nevents++;
    return rc;
}

size_t tsagg__colb_size(const tsagg__colb *b)
{
    size_t n = b->names.len + 10 * (size_t)b->nnames + 20;
    for (int i = 0; i < S_CORE; i++)
        n += b->core[i].len + 10;
    for (uint32_t i = 0; i < b->nnames; i++)
        n += b->vals[i].len + 10;
    return n;
}

static int put_stream(tsagg__buf *out, const tsagg__buf *s)
{
    int rc = put_varint(out, s->len);
    rc = rc ? rc : tsagg__buf_reserve(out, s->len);
    if (rc == 0 && s->len) {
        memcpy(out->p + out->len, s->p, s->len);
        out->len += s->len;
    }
    return rc;
}

int tsagg__colb_finish(tsagg__colb *b, tsagg__buf *out)
{
    int rc = put_varint(out, b->nnames);
    for (uint32_t i = 0; rc == 0 && i < b->nnames; i++) {
        rc = put_varint(out, b->name_len[i]);
        rc = rc ? rc : tsagg__buf_reserve(out, b->name_len[i]);
        if (rc == 0) {
            memcpy(out->p + out->len, b->names.p + b->name_off[i], b->name_len[i]);
            out->len += b->name_len[i];
        }
    }
    rc = rc ? rc : put_varint(out, b->nevents);
    for (int i = 0; rc == 0 && i < S_CORE; i++)
        rc = put_stream(out, &b->core[i]);
    for (uint32_t i = 0; rc == 0 && i < b->nnames; i++)
        rc = put_stream(out, &b->vals[i]);
    return rc;
}

int tsagg__columns_encode(tsagg__buf *out, const tsagg_event *evs, size_t n)
{
    tsagg__colb b;
    tsagg__colb_init(&b);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tsagg__colb_add(&b, &evs[i]);
    if (rc == 0)
        rc = tsagg__colb_finish(&b, out);
    tsagg__colb_free(&b);
    return rc;
}

/* ---- decoding ------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

#define NEED(cond)                 \
    do {                           \
        if (!(cond)) {             \
            rc = TSAGG_ECORRUPT;   \
            goto out;              \
        }                          \
    } while (0)

static int get_stream(const uint8_t **p, const uint8_t *end, cursor *c)
{
    uint64_t len;
    if (tsagg__get_varint(p, end, &len) != 0 || len > (uint64_t)(end - *p))
        return TSAGG_ECORRUPT;
    c->p = *p;
    c->end = *p + len;
    *p += len;
    return 0;
}

int tsagg__columns_decode(const uint8_t *raw, size_t len, uint32_t count, tsagg__events *out)
{
    const uint8_t *p = raw, *end = raw + len;
    uint64_t nnames, nevents, v;
    const uint8_t **names = NULL;
    uint32_t *lens = NULL;
    cursor *vals = NULL;
    cursor core[S_CORE];
    int rc = 0;
    out->n = 0;
    out->nattrs = 0;
    NEED(tsagg__get_varint(&p, end, &nnames) == 0 && nnames <= (uint64_t)(end - p) / 2);
    names = malloc((nnames + 1) * sizeof *names);
    lens = malloc((nnames + 1) * sizeof *lens);
    vals = malloc((nnames + 1) * sizeof *vals);
    if (!names || !lens || !vals) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < nnames; i++) {
        NEED(tsagg__get_varint(&p, end, &v) == 0 && v >= 1 && v <= (uint64_t)(end - p));
        names[i] = p;
        lens[i] = (uint32_t)v;
        p += v;
    }
    NEED(tsagg__get_varint(&p, end, &nevents) == 0 && nevents == count);
    for (int i = 0; i < S_CORE; i++)
        NEED(get_stream(&p, end, &core[i]) == 0);
    for (uint64_t i = 0; i < nnames; i++)
        NEED(get_stream(&p, end, &vals[i]) == 0);
    NEED(p == end);
    NEED(nevents <= (uint64_t)(core[S_USER].end - core[S_USER].p) / 8);
    if (out->cap < nevents) {
        tsagg_event *e = realloc(out->evs, nevents * sizeof *e);
        if (!e) {
            rc = -ENOMEM;
            goto out;
        }
        out->evs = e;
        out->cap = nevents;
    }
    int64_t prev = 0;
    for (uint64_t i = 0; i < nevents; i++) {
        tsagg_event *ev = &out->evs[i];
        NEED(tsagg__get_varint(&core[S_TS].p, core[S_TS].end, &v) == 0);
        ev->ts = prev = (int64_t)((uint64_t)prev + (uint64_t)tsagg__unzigzag(v));
        NEED(tsagg__get_varint(&core[S_MERCHANT].p, core[S_MERCHANT].end, &ev->merchant) == 0);
        NEED(tsagg__get_varint(&core[S_EVENT].p, core[S_EVENT].end, &v) == 0 && v < nnames &&
             lens[v] <= TSAGG_EVENT_NAME_MAX);
        ev->event = (const char *)names[v];
        ev->event_len = lens[v];
        NEED(core[S_USER].end - core[S_USER].p >= 8 && core[S_SESSION].end - core[S_SESSION].p >= 8);
        ev->user = tsagg__get_u64(core[S_USER].p);
        ev->session = tsagg__get_u64(core[S_SESSION].p);
        core[S_USER].p += 8;
        core[S_SESSION].p += 8;
        NEED(tsagg__get_varint(&core[S_FLAGS].p, core[S_FLAGS].end, &v) == 0 &&
             v <= TSAGG_EVENT_HAS_ID);
        ev->flags = (uint32_t)v;
        ev->id = 0;
        if (ev->flags & TSAGG_EVENT_HAS_ID)
            NEED(tsagg__get_varint(&core[S_FLAGS].p, core[S_FLAGS].end, &ev->id) == 0);
        NEED(tsagg__get_varint(&core[S_LAYOUT].p, core[S_LAYOUT].end, &v) == 0 &&
             v <= TSAGG_ATTRS_MAX);
        ev->nattrs = (uint32_t)v;
        ev->attrs = (const tsagg_attr *)(uintptr_t)out->nattrs;
        if (out->attrs_cap - out->nattrs < ev->nattrs) {
            size_t cap = out->attrs_cap ? out->attrs_cap : 1024;
            while (cap - out->nattrs < ev->nattrs)
                cap *= 2;
            tsagg_attr *a = realloc(out->attrs, cap * sizeof *a);
            if (!a) {
                rc = -ENOMEM;
                goto out;
            }
            out->attrs = a;
            out->attrs_cap = cap;
        }
        for (uint32_t a = 0; a < ev->nattrs; a++) {
            tsagg_attr *at = &out->attrs[out->nattrs++];
            NEED(tsagg__get_varint(&core[S_LAYOUT].p, core[S_LAYOUT].end, &v) == 0 &&
                 (v >> 2) < nnames && lens[v >> 2] <= TSAGG_NAME_MAX);
            cursor *c = &vals[v >> 2];
            at->key = (const char *)names[v >> 2];
            at->key_len = lens[v >> 2];
            at->type = (uint32_t)(v & 3);
            if (at->type == TSAGG_STR) {
                NEED(tsagg__get_varint(&c->p, c->end, &v) == 0 && v <= TSAGG_VALUE_MAX &&
                     v <= (uint64_t)(c->end - c->p));
                at->v.s.ptr = (const char *)c->p;
                at->v.s.len = (uint32_t)v;
                c->p += v;
            } else if (at->type == TSAGG_INT) {
                NEED(tsagg__get_varint(&c->p, c->end, &v) == 0);
                at->v.i = tsagg__unzigzag(v);
            } else {
                NEED(at->type == TSAGG_F64 && c->end - c->p >= 8);
                uint64_t bits = tsagg__get_u64(c->p);
                memcpy(&at->v.f, &bits, 8);
                c->p += 8;
            }
        }
        out->n++;
    }
    for (int i = 0; i < S_CORE; i++)
        NEED(core[i].p == core[i].end);
    for (uint64_t i = 0; i < nnames; i++)
        NEED(vals[i].p == vals[i].end);
    for (size_t i = 0; i < out->n; i++)
        out->evs[i].attrs = out->evs[i].nattrs ? out->attrs + (uintptr_t)out->evs[i].attrs : NULL;
out:
    free(names);
    free(lens);
    free(vals);
    return rc;
}
