/*
 * event.c - event identifiers and the check every append makes (the
 * writer calls tsagg__event_check and tsagg__event_check_ts for each event
 * before encoding it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "event_internal.h"
#include "shortmem.h"

uint64_t tsagg_hash_id(const void *data, size_t len)
{
    return XXH64(data, len, 0);
}

static int problem(char *why, size_t why_len, const char *what)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", what);
    return TSAGG_EINPUT;
}

/* "attribute 'KEY'" with the key shortened and control bytes shown as '?'. */
static void attr_name(const tsagg_attr *a, char *buf, size_t cap)
{
    size_t n = a->key_len < 40 ? a->key_len : 40, k = 0;
    k += (size_t)snprintf(buf, cap, "attribute '");
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        unsigned char c = (unsigned char)a->key[i];
        buf[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    snprintf(buf + k, cap - k, "%s'", n < a->key_len ? "..." : "");
}

/* The check, with or without the scans for NUL bytes. */
static inline int check(const tsagg_event *ev, int scan_nul, size_t *bound, char *why,
                        size_t why_len)
{
    if (!ev)
        return problem(why, why_len, "NULL event");
    if (!ev->event || ev->event_len == 0 || ev->event_len > TSAGG_EVENT_NAME_MAX)
        return problem(why, why_len, "event name must be 1..255 bytes");
    /* Every output stops a string at its first NUL, so a string holding
     * one would print as another: names, keys and values may not. */
    if (scan_nul && tsagg__nul_at(ev->event, ev->event_len) >= 0)
        return problem(why, why_len, "event name holds a NUL byte");
    if (ev->flags & ~TSAGG_EVENT_HAS_ID)
        return problem(why, why_len, "unknown flags");
    if (ev->nattrs > TSAGG_ATTRS_MAX || (ev->nattrs && !ev->attrs))
        return problem(why, why_len, "too many attributes or attrs is NULL");
    size_t bytes = 0;
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        if (!a->key || a->key_len == 0 || a->key_len > TSAGG_NAME_MAX)
            return problem(why, why_len, "attribute key must be 1..64 bytes");
        char name[64];
        long at = scan_nul ? tsagg__nul_at(a->key, a->key_len) : -1;
        if (at >= 0) {
            attr_name(a, name, sizeof name);
            if (why && why_len)
                snprintf(why, why_len, "%s: the key holds a NUL byte at offset %ld", name, at);
            return TSAGG_EINPUT;
        }
        if (a->type == TSAGG_STR) {
            if (a->v.s.len > TSAGG_VALUE_MAX || (a->v.s.len && !a->v.s.ptr))
                return problem(why, why_len, "string value longer than TSAGG_VALUE_MAX or NULL");
            if (scan_nul && (at = tsagg__nul_at(a->v.s.ptr, a->v.s.len)) >= 0) {
                attr_name(a, name, sizeof name);
                if (why && why_len)
                    snprintf(why, why_len, "%s: the value holds a NUL byte at offset %ld", name,
                             at);
                return TSAGG_EINPUT;
            }
            bytes += a->v.s.len;
        } else if (a->type != TSAGG_INT && a->type != TSAGG_F64) {
            return problem(why, why_len, "unknown attribute type");
        }
    }
    if (bytes > TSAGG_EVENT_BYTES_MAX)
        return problem(why, why_len, "event larger than TSAGG_EVENT_BYTES_MAX");
    /* Fixed fields, then per attribute a key varint, a length varint and
     * the value (see tsagg__record_encode). */
    if (bound)
        *bound = 61 + (size_t)ev->nattrs * 20 + bytes;
    return 0;
}

int tsagg__event_check(const tsagg_event *ev, size_t *bound, char *why, size_t why_len)
{
    return check(ev, 1, bound, why, why_len);
}

int tsagg__event_check_sizes(const tsagg_event *ev, size_t *bound, char *why, size_t why_len)
{
    return check(ev, 0, bound, why, why_len);
}

int tsagg__event_check_ts(const tsagg_event *ev, char *why, size_t why_len)
{
    if (ev->ts >= TSAGG_TS_MIN && ev->ts < TSAGG_TS_END)
        return 0;
    if (why && why_len)
        snprintf(why, why_len,
                 "ts: %" PRId64 " is outside the years 0000-9999 that partitions hold "
                 "(expected %" PRId64 " <= ts < %" PRId64 " microseconds)",
                 ev->ts, TSAGG_TS_MIN, TSAGG_TS_END);
    return TSAGG_EINPUT;
}

int tsagg_event_validate(const tsagg_event *ev)
{
    int rc = tsagg__event_check(ev, NULL, NULL, 0);
    return rc ? rc : tsagg__event_check_ts(ev, NULL, 0);
}

int tsagg_event_check(const tsagg_event *ev, char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    int rc = tsagg__event_check(ev, NULL, why, why_len);
    return rc ? rc : tsagg__event_check_ts(ev, why, why_len);
}
