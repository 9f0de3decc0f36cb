/*
 * gagen_format.c - NDJSON and CSV lines, RFC 3339 timestamps.
 *
 * Written for speed (tsagg-gen must print >= 1 M lines/s): no printf on
 * the common path, one bounds check per field instead of per byte.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "gagen.h"
#include "gagen_internal.h"
#include "numtext.h"

#define US_PER_DAY INT64_C(86400000000)

/* ------------------------------------------------------------------------ */
/* Timestamps (civil dates: lib/common/civil.h)                            */
/* ------------------------------------------------------------------------ */

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ", no NUL; the caller checked the year. */
static void put_ts(char *p, int64_t days, int64_t us)
{
    int64_t y;
    unsigned mo, d;
    tsagg__civil_from_days(days, &y, &mo, &d);
    unsigned sec = (unsigned)(us / 1000000), frac = (unsigned)(us % 1000000);
    put2(p, (unsigned)(y / 100));
    put2(p + 2, (unsigned)(y % 100));
    p[4] = '-';
    put2(p + 5, mo);
    p[7] = '-';
    put2(p + 8, d);
    p[10] = 'T';
    put2(p + 11, sec / 3600);
    p[13] = ':';
    put2(p + 14, sec / 60 % 60);
    p[16] = ':';
    put2(p + 17, sec % 60);
    p[19] = '.';
    put2(p + 20, frac / 10000);
    put2(p + 22, frac / 100 % 100);
    put2(p + 24, frac % 100);
    p[26] = 'Z';
}

/* Split ts into days and µs of the day; 0 when outside years 0..9999. */
static int split_ts(int64_t ts, int64_t *days, int64_t *us)
{
    /* 0000-01-01 and 10000-01-01 */
    const int64_t lo = INT64_C(-719528) * US_PER_DAY, hi = INT64_C(2932897) * US_PER_DAY;
    if (ts < lo || ts >= hi)
        return 0;
    *days = ts / US_PER_DAY;
    *us = ts % US_PER_DAY;
    if (*us < 0) {
        *us += US_PER_DAY;
        (*days)--;
    }
    return 1;
}

size_t gagen_format_ts(int64_t ts_us, char *buf, size_t cap)
{
    int64_t days, us;
    if (cap < 28 || !split_ts(ts_us, &days, &us))
        return 0;
    put_ts(buf, days, us);
    buf[27] = 0;
    return 27;
}

static int digits(const char **s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (unsigned)(c - '0');
    }
    *s += n;
    *out = v;
    return 1;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29u : dm[m - 1];
}

int gagen_parse_ts(const char *s, int64_t *out_us)
{
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    int64_t offset_min = 0;
    if (!s || !out_us)
        return -EINVAL;
    if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -EINVAL;
    if (*s) {
        if (*s != 'T' && *s != 't' && *s != ' ')
            return -EINVAL;
        s++;
        if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
            !digits(&s, 2, &sec) || h > 23 || mi > 59 || sec > 59)
            return -EINVAL;
        if (*s == '.') {
            int n = 0;
            s++;
            while (*s >= '0' && *s <= '9') {
                if (++n > 6)
                    return -EINVAL;
                frac = frac * 10 + (unsigned)(*s++ - '0');
            }
            if (n == 0)
                return -EINVAL;
            for (; n < 6; n++)
                frac *= 10;
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int neg = *s++ == '-';
            unsigned oh, om;
            if (!digits(&s, 2, &oh) || *s++ != ':' || !digits(&s, 2, &om) || oh > 23 || om > 59)
                return -EINVAL;
            offset_min = (int64_t)(oh * 60 + om) * (neg ? -1 : 1);
        } else {
            return -EINVAL;
        }
        if (*s)
            return -EINVAL;
    }
    int64_t secs = tsagg__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    *out_us = secs * 1000000 + frac;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Field writers: each checks room for its worst case once.                 */
/* ------------------------------------------------------------------------ */

typedef struct out {
    char *p, *end;
} out;

static int room(const out *o, size_t n)
{
    return (size_t)(o->end - o->p) >= n;
}

static int lit(out *o, const char *s, size_t n)
{
    if (!room(o, n))
        return 0;
    memcpy(o->p, s, n);
    o->p += n;
    return 1;
}

#define LIT(o, s) lit(o, s, sizeof(s) - 1)

static int u64(out *o, uint64_t v)
{
    char tmp[20];
    return lit(o, tmp, gg_u64_to_dec(v, tmp));
}

static int i64(out *o, int64_t v)
{
    char tmp[21];
    size_t n = 0;
    if (v < 0)
        tmp[n++] = '-';
    n += gg_u64_to_dec(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, tmp + n);
    return lit(o, tmp, n);
}

/* A JSON string with quotes. */
static int jstr(out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!room(o, 6 * n + 2)) {
        /* Near the end of the buffer: count exactly before writing. */
        size_t need = 2;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            need += c >= 0x20 && c != '"' && c != '\\' ? 1
                    : c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ||
                              c == '\b' || c == '\f'
                        ? 2
                        : 6;
        }
        if (!room(o, need))
            return 0;
    }
    char *p = o->p;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p++ = '"';
    o->p = p;
    return 1;
}

/* A CSV field, quoted only when it holds a separator, quote or newline. */
static int cstr(out *o, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            break;
    if (i == n)
        return lit(o, s, n);
    size_t need = n + 2;
    for (size_t k = 0; k < n; k++)
        need += s[k] == '"';
    if (!room(o, need))
        return 0;
    char *p = o->p;
    *p++ = '"';
    for (i = 0; i < n; i++) {
        if (s[i] == '"')
            *p++ = '"';
        *p++ = s[i];
    }
    *p++ = '"';
    o->p = p;
    return 1;
}

/*
 * A double that reads back to itself, always with a '.' or an exponent so
 * that readers keep it a floating-point number (49.0, not 49). Prices (a
 * whole number of cents) take the fast path.
 */
static int f64(out *o, double v)
{
    char tmp[40];
    size_t n = 0;
    if (!isfinite(v))
        return LIT(o, "null");
    if (fabs(v) < 1e13) {
        int64_t c = llround(v * 100.0);
        if ((double)c / 100.0 == v) {
            uint64_t a = c < 0 ? 0 - (uint64_t)c : (uint64_t)c;
            unsigned f = (unsigned)(a % 100);
            if (signbit(v))
                tmp[n++] = '-';
            n += gg_u64_to_dec(a / 100, tmp + n);
            tmp[n++] = '.';
            tmp[n++] = (char)('0' + f / 10);
            if (f % 10)
                tmp[n++] = (char)('0' + f % 10);
            return lit(o, tmp, n);
        }
    }
    for (int prec = 15; prec <= 17; prec++) {
        n = (size_t)tsagg__num_format(tmp, sizeof tmp - 2, "%.*g", prec, v);
        if (tsagg__num_strtod(tmp, NULL) == v)
            break;
    }
    tmp[n] = 0;
    if (!strpbrk(tmp, ".e")) { /* "1" -> "1.0": readers keep it a double */
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    return lit(o, tmp, n);
}

static int ts_field(out *o, int64_t ts, int quoted)
{
    int64_t days, us;
    if (!room(o, quoted ? 29 : 27) || !split_ts(ts, &days, &us))
        return 0;
    if (quoted)
        *o->p++ = '"';
    put_ts(o->p, days, us);
    o->p += 27;
    if (quoted)
        *o->p++ = '"';
    return 1;
}

/* ------------------------------------------------------------------------ */
/* NDJSON                                                                   */
/* ------------------------------------------------------------------------ */

size_t gagen_format_ndjson(const tsagg_event *ev, const gagen_ids *ids, char *buf, size_t cap)
{
    out o = { buf, buf + cap };
    int ok = LIT(&o, "{\"ts\":") && ts_field(&o, ev->ts, 1) && LIT(&o, ",\"merchant\":") &&
             u64(&o, ev->merchant) && LIT(&o, ",\"event\":") &&
             jstr(&o, ev->event, ev->event_len) && LIT(&o, ",\"user\":");
    if (ok && ids)
        ok = jstr(&o, ids->user, ids->user_len) && LIT(&o, ",\"session\":") &&
             jstr(&o, ids->session, ids->session_len);
    else if (ok)
        ok = u64(&o, ev->user) && LIT(&o, ",\"session\":") && u64(&o, ev->session);
    if (ok && (ev->flags & TSAGG_EVENT_HAS_ID))
        ok = LIT(&o, ",\"id\":") && u64(&o, ev->id);
    for (uint32_t i = 0; ok && i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        ok = LIT(&o, ",") && jstr(&o, a->key, a->key_len) && LIT(&o, ":");
        if (!ok)
            break;
        switch (a->type) {
        case TSAGG_STR: ok = jstr(&o, a->v.s.ptr, a->v.s.len); break;
        case TSAGG_INT: ok = i64(&o, a->v.i); break;
        case TSAGG_F64: ok = f64(&o, a->v.f); break;
        default: ok = LIT(&o, "null"); break;
        }
    }
    ok = ok && LIT(&o, "}\n");
    return ok ? (size_t)(o.p - buf) : 0;
}

/* ------------------------------------------------------------------------ */
/* CSV                                                                      */
/* ------------------------------------------------------------------------ */

const char *gagen_csv_header(void)
{
    return "ts,merchant,event,user,session,id,page,referrer,country,device,browser,os,value\n";
}

enum { COL_PAGE, COL_REFERRER, COL_COUNTRY, COL_DEVICE, COL_BROWSER, COL_OS, COL_VALUE, NCOLS };

static int column_of(const tsagg_attr *a)
{
    static const gg_str cols[NCOLS] = {
        { "page", 4 }, { "referrer", 8 }, { "country", 7 }, { "device", 6 },
        { "browser", 7 }, { "os", 2 }, { "value", 5 },
    };
    for (int c = 0; c < NCOLS; c++)
        if (a->key_len == cols[c].len && memcmp(a->key, cols[c].s, cols[c].len) == 0)
            return c;
    return -1;
}

static int attr_csv(out *o, const tsagg_attr *a)
{
    if (!a)
        return 1;
    switch (a->type) {
    case TSAGG_STR: return cstr(o, a->v.s.ptr, a->v.s.len);
    case TSAGG_INT: return i64(o, a->v.i);
    case TSAGG_F64: return isfinite(a->v.f) ? f64(o, a->v.f) : 1;
    default: return 1;
    }
}

size_t gagen_format_csv(const tsagg_event *ev, const gagen_ids *ids, char *buf, size_t cap)
{
    const tsagg_attr *col[NCOLS] = { 0 };
    out o = { buf, buf + cap };
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        int c = column_of(&ev->attrs[i]);
        if (c >= 0 && !col[c])
            col[c] = &ev->attrs[i];
    }
    int ok = ts_field(&o, ev->ts, 0) && LIT(&o, ",") && u64(&o, ev->merchant) && LIT(&o, ",") &&
         cstr(&o, ev->event, ev->event_len) && LIT(&o, ",");
    if (ok && ids)
        ok = cstr(&o, ids->user, ids->user_len) && LIT(&o, ",") &&
             cstr(&o, ids->session, ids->session_len);
    else if (ok)
        ok = u64(&o, ev->user) && LIT(&o, ",") && u64(&o, ev->session);
    ok = ok && LIT(&o, ",");
    if (ok && (ev->flags & TSAGG_EVENT_HAS_ID))
        ok = u64(&o, ev->id);
    for (int c = 0; ok && c < NCOLS; c++)
        ok = LIT(&o, ",") && attr_csv(&o, col[c]);
    ok = ok && LIT(&o, "\n");
    return ok ? (size_t)(o.p - buf) : 0;
}
