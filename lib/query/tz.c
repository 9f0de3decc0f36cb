/*
 * tz.c - time zones from TZif files (RFC 8536, RFC 9636) and POSIX TZ rules.
 *
 * TZif layout, all integers big-endian:
 *
 *   offset  size  field
 *   0       4     magic "TZif"
 *   4       1     version: 0 (v1), '2', '3' or '4'
 *   5       15    unused
 *   20      24    six u32 counts: isutcnt isstdcnt leapcnt timecnt typecnt charcnt
 *   44      ...   data block:
 *                   timecnt transition times (i32 in v1, i64 in v2+), ascending
 *                   timecnt u8 local time type indices
 *                   typecnt local time types: i32 utoff, u8 isdst, u8 desigidx
 *                   charcnt bytes of abbreviations
 *                   leapcnt leap records: occurrence (i32 | i64), i32 correction
 *                   isstdcnt, isutcnt u8 indicators
 *   v2+ only: a second header and data block with 64-bit times, then the
 *   footer: '\n', a POSIX TZ string (possibly empty), '\n'.
 *
 * Version 1 readers stop after the first block; we use the 64-bit block
 * whenever the version is 2 or more. Type 0 applies before the first
 * transition; the footer rule applies from the last transition on (or to
 * all instants when the file has no transition).
 *
 * In memory a zone is its transitions as (instant, new offset) pairs with
 * the changes of abbreviation or isdst alone dropped, plus the footer rule.
 * The rule's transitions between 1900 and 2200 are expanded once at load
 * (the "cache"), so that a lookup is one binary search whether the system
 * ships "fat" files (transitions written out until 2037) or "slim" ones
 * (the footer carries everything after the last rule change); outside that
 * window the rule is evaluated on the fly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "tsagg_errors.h"
#include "tz.h"

#define DAY_S 86400
#define TZIF_HEADER 44
#define TZIF_MAX_FILE (1u << 20)
#define TZ_MAX_UTOFF 93599  /* 25:59:59, the range RFC 8536 asks writers to keep */
#define TZ_MAX_OFFSET_H 24  /* hours of a POSIX TZ offset */
#define TZ_MAX_TIME_H 167   /* hours of a rule time (TZif v3+) */
#define CACHE_FIRST_YEAR 1900
#define CACHE_END_YEAR 2201 /* exclusive */

/* A rule date: Jn (1..365, February 29 never counted), n (0..365, counted)
 * or Mm.w.d (weekday d of week w of month m; w = 5 is the last), with the
 * local time of day of the change (may be negative or beyond 24 h). */
typedef struct tzdate {
    char kind; /* 'J', 'D' or 'M' */
    int16_t n, m, w, d;
    int32_t secs;
} tzdate;

typedef struct tzrule {
    int32_t stdoff, dstoff; /* seconds east */
    int has_dst;
    tzdate start, end; /* start: std -> dst, in std time; end: dst -> std, in dst time */
} tzrule;

typedef struct tzev {
    int64_t t;
    int32_t off;
} tzev;

struct tsagg__tz {
    int64_t *at; /* the file's offset changes, ascending */
    int32_t *off;
    size_t n;
    int32_t off0;    /* before at[0] */
    int64_t rule_lo; /* the rule governs t >= rule_lo; INT64_MAX: no rule */
    tzrule rule;
    int64_t *cat; /* the rule's offset changes inside (cache_lo, cache_hi) */
    int32_t *coff;
    size_t cn;
    int32_t coff0; /* at cache_lo */
    int64_t cache_lo, cache_hi;
    int32_t minoff, maxoff;
    char name[];
};

static void seterr(char *errmsg, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *errmsg, size_t errlen, const char *fmt, ...)
{
    if (!errmsg || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, errlen, fmt, ap);
    va_end(ap);
}

/* ---- calendar ------------------------------------------------------------ */

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_len(int64_t y, int m)
{
    static const uint8_t len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return len[m - 1] + (m == 2 && is_leap(y));
}

static int64_t year_of(int64_t t)
{
    int64_t y;
    unsigned m, d;
    tsagg__civil_from_days(tsagg__floordiv(t, DAY_S), &y, &m, &d);
    return y;
}

/* ---- POSIX TZ rules ------------------------------------------------------ */

/* The UTC instant of a rule date in year y; `before` is the offset in force
 * just before it (the rule's times are local wall-clock times). */
static int64_t rule_when(const tzdate *dt, int64_t y, int32_t before)
{
    int64_t day;
    if (dt->kind == 'M') {
        int64_t first = tsagg__days_from_civil(y, (unsigned)dt->m, 1);
        int wd1 = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; 0 = Sunday */
        int dd = (dt->d - wd1 + 7) % 7 + 7 * (dt->w - 1);
        int ml = month_len(y, dt->m);
        while (dd >= ml)
            dd -= 7;
        day = first + dd;
    } else {
        day = tsagg__days_from_civil(y, 1, 1) + dt->n;
        if (dt->kind == 'J')
            day += -1 + (is_leap(y) && dt->n >= 60);
    }
    return day * DAY_S + dt->secs - before;
}

/* The rule's changes of years y0..y1 in time order; ties keep generation
 * order (year by year, start before end), so that a change of one year
 * meeting the next year's opposite change cancels out. */
static size_t rule_events(const tzrule *r, int64_t y0, int64_t y1, tzev *ev)
{
    size_t k = 0;
    for (int64_t y = y0; y <= y1; y++) {
        ev[k++] = (tzev){rule_when(&r->start, y, r->stdoff), r->dstoff};
        ev[k++] = (tzev){rule_when(&r->end, y, r->dstoff), r->stdoff};
    }
    for (size_t i = 1; i < k; i++) { /* stable insertion sort; nearly sorted */
        tzev e = ev[i];
        size_t j = i;
        while (j > 0 && ev[j - 1].t > e.t) {
            ev[j] = ev[j - 1];
            j--;
        }
        ev[j] = e;
    }
    return k;
}

/* The rule's offset at t and the next change after t, evaluated directly. */
static int32_t rule_span(const tzrule *r, int64_t t, int64_t *end)
{
    *end = INT64_MAX;
    if (!r->has_dst)
        return r->stdoff;
    int64_t y = year_of(t);
    tzev ev[10];
    size_t k = rule_events(r, y - 2, y + 2, ev);
    int32_t off = ev[0].off == r->dstoff ? r->stdoff : r->dstoff;
    for (size_t i = 0; i < k; i++) {
        if (ev[i].t > t) {
            *end = ev[i].t;
            break;
        }
        off = ev[i].off;
    }
    return off;
}

typedef struct cursor {
    const char *p, *e;
} cursor;

static int at_end(const cursor *c) { return c->p >= c->e; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static int is_alpha(char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }

/* An abbreviation: three or more letters, or <...> of letters, digits, +, -. */
static int parse_abbr(cursor *c)
{
    const char *q = c->p;
    if (!at_end(c) && *q == '<') {
        const char *s = ++q;
        while (q < c->e && *q != '>') {
            if (!is_alpha(*q) && !is_digit(*q) && *q != '+' && *q != '-')
                return -1;
            q++;
        }
        if (q >= c->e || q - s < 3)
            return -1;
        c->p = q + 1;
        return 0;
    }
    while (q < c->e && is_alpha(*q))
        q++;
    if (q - c->p < 3)
        return -1;
    c->p = q;
    return 0;
}

static int parse_num(cursor *c, int max, int *out)
{
    int v = 0, nd = 0;
    while (!at_end(c) && is_digit(*c->p)) {
        v = v * 10 + (*c->p++ - '0');
        if (v > max)
            return -1;
        nd++;
    }
    if (nd == 0)
        return -1;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] in seconds. */
static int parse_hms(cursor *c, int maxh, int32_t *out)
{
    int neg = 0, h, m = 0, s = 0;
    if (!at_end(c) && (*c->p == '+' || *c->p == '-'))
        neg = *c->p++ == '-';
    if (parse_num(c, maxh, &h))
        return -1;
    if (!at_end(c) && *c->p == ':') {
        c->p++;
        if (parse_num(c, 59, &m))
            return -1;
        if (!at_end(c) && *c->p == ':') {
            c->p++;
            if (parse_num(c, 59, &s))
                return -1;
        }
    }
    int32_t v = (int32_t)h * 3600 + m * 60 + s;
    *out = neg ? -v : v;
    return 0;
}

static int parse_date(cursor *c, tzdate *dt)
{
    int a, b, d;
    memset(dt, 0, sizeof *dt);
    if (at_end(c))
        return -1;
    if (*c->p == 'J') {
        c->p++;
        if (parse_num(c, 365, &a) || a < 1)
            return -1;
        dt->kind = 'J';
        dt->n = (int16_t)a;
    } else if (*c->p == 'M') {
        c->p++;
        if (parse_num(c, 12, &a) || a < 1 || at_end(c) || *c->p++ != '.' ||
            parse_num(c, 5, &b) || b < 1 || at_end(c) || *c->p++ != '.' || parse_num(c, 6, &d))
            return -1;
        dt->kind = 'M';
        dt->m = (int16_t)a;
        dt->w = (int16_t)b;
        dt->d = (int16_t)d;
    } else {
        if (parse_num(c, 365, &a))
            return -1;
        dt->kind = 'D';
        dt->n = (int16_t)a;
    }
    dt->secs = 7200;
    if (!at_end(c) && *c->p == '/') {
        c->p++;
        if (parse_hms(c, TZ_MAX_TIME_H, &dt->secs))
            return -1;
    }
    return 0;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]; POSIX offsets count
 * west of Greenwich. An empty string is no rule (*has = 0). */
static int parse_posix(const char *s, size_t len, tzrule *r, int *has)
{
    cursor c = {s, s + len};
    int32_t v;
    memset(r, 0, sizeof *r);
    *has = 0;
    if (len == 0)
        return 0;
    if (parse_abbr(&c) || parse_hms(&c, TZ_MAX_OFFSET_H, &v))
        return -1;
    r->stdoff = r->dstoff = -v;
    *has = 1;
    if (at_end(&c))
        return 0;
    if (parse_abbr(&c))
        return -1;
    r->has_dst = 1;
    r->dstoff = r->stdoff + 3600;
    if (!at_end(&c) && *c.p != ',') {
        if (parse_hms(&c, TZ_MAX_OFFSET_H, &v))
            return -1;
        r->dstoff = -v;
    }
    if (at_end(&c)) { /* no rule: the US rule, as the reference tzcode does */
        r->start = (tzdate){'M', 0, 3, 2, 0, 7200};
        r->end = (tzdate){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*c.p++ != ',' || parse_date(&c, &r->start) || at_end(&c) || *c.p++ != ',' ||
        parse_date(&c, &r->end) || !at_end(&c))
        return -1;
    return 0;
}

/* ---- TZif ---------------------------------------------------------------- */

typedef struct tzhdr {
    int version;
    uint32_t isut, isstd, leap, time, type, chr;
} tzhdr;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be_time(const uint8_t *p, unsigned tsize)
{
    if (tsize == 4)
        return (int32_t)be32(p);
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static const char *read_header(const uint8_t *b, size_t len, size_t pos, tzhdr *h)
{
    if (pos > len || len - pos < TZIF_HEADER)
        return "truncated header";
    b += pos;
    if (memcmp(b, "TZif", 4) != 0)
        return "bad magic";
    if (b[4] == 0)
        h->version = 1;
    else if (b[4] >= '2' && b[4] <= '9') /* later versions keep the layout */
        h->version = b[4] - '0';
    else
        return "unknown version";
    h->isut = be32(b + 20);
    h->isstd = be32(b + 24);
    h->leap = be32(b + 28);
    h->time = be32(b + 32);
    h->type = be32(b + 36);
    h->chr = be32(b + 40);
    return NULL;
}

static uint64_t block_size(const tzhdr *h, unsigned tsize)
{
    return (uint64_t)h->time * (tsize + 1) + (uint64_t)h->type * 6 + h->chr +
           (uint64_t)h->leap * (tsize + 4) + h->isstd + h->isut;
}

/* Decode a data block into tz->at/off/off0; *last: the last transition (or
 * INT64_MIN without any). */
static int parse_block(const uint8_t *p, const tzhdr *h, unsigned tsize, tsagg__tz *tz,
                       int64_t *last, const char **why)
{
    if (h->type == 0 || h->type > 256) {
        *why = "bad number of local time types";
        return TSAGG_ECORRUPT;
    }
    if ((h->isstd && h->isstd != h->type) || (h->isut && h->isut != h->type)) {
        *why = "bad number of standard/UT indicators";
        return TSAGG_ECORRUPT;
    }
    const uint8_t *times = p, *idx = p + (size_t)h->time * tsize, *types = idx + h->time;
    const uint8_t *leaps = types + (size_t)h->type * 6 + h->chr;
    int32_t utoff[256];
    for (uint32_t i = 0; i < h->type; i++) {
        const uint8_t *q = types + 6 * (size_t)i;
        int32_t o = (int32_t)be32(q);
        if (o < -TZ_MAX_UTOFF || o > TZ_MAX_UTOFF || q[4] > 1 || q[5] >= h->chr) {
            *why = "bad local time type";
            return TSAGG_ECORRUPT;
        }
        utoff[i] = o;
    }
    for (uint32_t i = 1; i < h->leap; i++) {
        if (be_time(leaps + (size_t)i * (tsize + 4), tsize) <=
            be_time(leaps + (size_t)(i - 1) * (tsize + 4), tsize)) {
            *why = "leap second records out of order";
            return TSAGG_ECORRUPT;
        }
    }
    size_t cap = h->time ? h->time : 1;
    tz->at = malloc(cap * sizeof *tz->at);
    tz->off = malloc(cap * sizeof *tz->off);
    if (!tz->at || !tz->off)
        return -ENOMEM;
    tz->off0 = utoff[0];
    int32_t prev = utoff[0], corr = 0;
    int64_t raw_prev = 0;
    uint32_t li = 0;
    size_t n = 0;
    *last = INT64_MIN;
    for (uint32_t i = 0; i < h->time; i++) {
        int64_t t = be_time(times + (size_t)i * tsize, tsize);
        if ((i > 0 && t <= raw_prev) || idx[i] >= h->type) {
            *why = i > 0 && t <= raw_prev ? "transitions out of order" : "bad type index";
            return TSAGG_ECORRUPT;
        }
        raw_prev = t;
        /* "right/" zones count leap seconds in their times: map back to POSIX. */
        while (li < h->leap && be_time(leaps + (size_t)li * (tsize + 4), tsize) <= t) {
            corr = (int32_t)be32(leaps + (size_t)li * (tsize + 4) + tsize);
            li++;
        }
        if ((corr > 0 && t < INT64_MIN + corr) || (corr < 0 && t > INT64_MAX + corr)) {
            *why = "leap correction out of range";
            return TSAGG_ECORRUPT;
        }
        t -= corr;
        if (*last != INT64_MIN && t <= *last) {
            *why = "transitions out of order after leap correction";
            return TSAGG_ECORRUPT;
        }
        *last = t;
        if (utoff[idx[i]] != prev) {
            tz->at[n] = t;
            tz->off[n] = prev = utoff[idx[i]];
            n++;
        }
    }
    tz->n = n;
    return 0;
}

/* Expand the rule's changes inside [max(rule_lo, 1900), 2201) once. */
static int build_cache(tsagg__tz *tz)
{
    tz->cache_lo = INT64_MAX;
    tz->cache_hi = INT64_MIN;
    if (tz->rule_lo == INT64_MAX || !tz->rule.has_dst)
        return 0;
    int64_t lo = tsagg__days_from_civil(CACHE_FIRST_YEAR, 1, 1) * DAY_S;
    int64_t hi = tsagg__days_from_civil(CACHE_END_YEAR, 1, 1) * DAY_S;
    if (tz->rule_lo > lo)
        lo = tz->rule_lo;
    if (lo >= hi)
        return 0;
    int64_t y0 = year_of(lo) - 1;
    size_t k = (size_t)(CACHE_END_YEAR - y0 + 1) * 2;
    tzev *ev = malloc(k * sizeof *ev);
    tz->cat = malloc(k * sizeof *tz->cat);
    tz->coff = malloc(k * sizeof *tz->coff);
    if (!ev || !tz->cat || !tz->coff) {
        free(ev);
        return -ENOMEM;
    }
    k = rule_events(&tz->rule, y0, CACHE_END_YEAR, ev);
    int64_t ignored;
    int32_t prev = tz->coff0 = rule_span(&tz->rule, lo, &ignored);
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        if (ev[i].t <= lo || ev[i].t >= hi)
            continue;
        if (i + 1 < k && ev[i + 1].t == ev[i].t)
            continue; /* simultaneous changes: the last one stands */
        if (ev[i].off != prev) {
            tz->cat[n] = ev[i].t;
            tz->coff[n] = prev = ev[i].off;
            n++;
        }
    }
    free(ev);
    tz->cn = n;
    tz->cache_lo = lo;
    tz->cache_hi = hi;
    return 0;
}

static void set_bounds(tsagg__tz *tz, int has_rule)
{
    int32_t mn = tz->off0, mx = tz->off0;
    for (size_t i = 0; i < tz->n; i++) {
        mn = tz->off[i] < mn ? tz->off[i] : mn;
        mx = tz->off[i] > mx ? tz->off[i] : mx;
    }
    if (has_rule) {
        int32_t a = tz->rule.stdoff, b = tz->rule.dstoff;
        mn = a < mn ? a : mn;
        mn = b < mn ? b : mn;
        mx = a > mx ? a : mx;
        mx = b > mx ? b : mx;
    }
    tz->minoff = mn;
    tz->maxoff = mx;
}

static int parse_tzif(const uint8_t *b, size_t len, tsagg__tz *tz, const char **why)
{
    tzhdr h;
    if ((*why = read_header(b, len, 0, &h)) != NULL)
        return TSAGG_ECORRUPT;
    size_t pos = TZIF_HEADER;
    unsigned tsize = 4;
    if (h.version >= 2) {
        uint64_t skip = block_size(&h, 4);
        if (skip > len - pos) {
            *why = "truncated version 1 data";
            return TSAGG_ECORRUPT;
        }
        pos += (size_t)skip;
        if ((*why = read_header(b, len, pos, &h)) != NULL)
            return TSAGG_ECORRUPT;
        if (h.version < 2) {
            *why = "version mismatch between headers";
            return TSAGG_ECORRUPT;
        }
        pos += TZIF_HEADER;
        tsize = 8;
    }
    uint64_t need = block_size(&h, tsize);
    if (need > len - pos) {
        *why = "truncated data";
        return TSAGG_ECORRUPT;
    }
    int64_t last;
    int rc = parse_block(b + pos, &h, tsize, tz, &last, why);
    if (rc != 0)
        return rc;
    pos += (size_t)need;
    int has_rule = 0;
    if (h.version >= 2) {
        if (pos >= len || b[pos] != '\n') {
            *why = "missing footer";
            return TSAGG_ECORRUPT;
        }
        const uint8_t *s = b + pos + 1;
        const uint8_t *nl = memchr(s, '\n', len - pos - 1);
        if (!nl) {
            *why = "truncated footer";
            return TSAGG_ECORRUPT;
        }
        if (parse_posix((const char *)s, (size_t)(nl - s), &tz->rule, &has_rule) != 0) {
            *why = "bad TZ string in footer";
            return TSAGG_ECORRUPT;
        }
    }
    tz->rule_lo = !has_rule ? INT64_MAX : last; /* INT64_MIN without transitions */
    set_bounds(tz, has_rule);
    return build_cache(tz);
}

/* ---- loading ------------------------------------------------------------- */

static tsagg__tz *tz_alloc(const char *name)
{
    size_t len = strlen(name);
    tsagg__tz *tz = calloc(1, sizeof *tz + len + 1);
    if (!tz)
        return NULL;
    memcpy(tz->name, name, len + 1);
    tz->rule_lo = INT64_MAX;
    tz->cache_lo = INT64_MAX;
    tz->cache_hi = INT64_MIN;
    return tz;
}

static int valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > TSAGG__TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '+' && ch != '-' && ch != '/')
            return 0;
    }
    return 1;
}

int tsagg__tz_load(const tsagg_io *io, const char *zoneinfo_dir, const char *name,
                   tsagg__tz **out, char *errmsg, size_t errlen)
{
    if (!out) {
        seterr(errmsg, errlen, "no place for the time zone");
        return TSAGG_EARG;
    }
    if (!name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        tsagg__tz *tz = tz_alloc(name ? name : "UTC");
        if (!tz)
            return -ENOMEM;
        *out = tz;
        return 0;
    }
    if (!valid_name(name)) {
        seterr(errmsg, errlen, "invalid time zone name \"%.*s\"", 64, name);
        return TSAGG_EARG;
    }
    char path[4096];
    const char *dir = zoneinfo_dir ? zoneinfo_dir : TSAGG__TZ_DEFAULT_DIR;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        seterr(errmsg, errlen, "time zone path too long for \"%s\"", name);
        return TSAGG_EARG;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = tsagg__read_file(io ? io : tsagg_io_default(), path, TZIF_MAX_FILE, &buf, &len);
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -EISDIR || rc == -ELOOP) {
        seterr(errmsg, errlen, "unknown time zone \"%s\" (no %s)", name, path);
        return TSAGG_EARG;
    }
    if (rc == -EFBIG) {
        seterr(errmsg, errlen, "%s: too large for a TZif file", path);
        return TSAGG_ECORRUPT;
    }
    if (rc != 0) {
        seterr(errmsg, errlen, "cannot read %s: %s", path, tsagg_strerror(rc));
        return rc;
    }
    tsagg__tz *tz = tz_alloc(name);
    const char *why = NULL;
    rc = tz ? parse_tzif(buf, len, tz, &why) : -ENOMEM;
    free(buf);
    if (rc != 0) {
        if (rc == TSAGG_ECORRUPT)
            seterr(errmsg, errlen, "%s: not a valid TZif file (%s)", path, why);
        else
            seterr(errmsg, errlen, "cannot load time zone \"%s\": %s", name, tsagg_strerror(rc));
        tsagg__tz_free(tz);
        return rc;
    }
    *out = tz;
    return 0;
}

void tsagg__tz_free(tsagg__tz *tz)
{
    if (!tz)
        return;
    free(tz->at);
    free(tz->off);
    free(tz->cat);
    free(tz->coff);
    free(tz);
}

const char *tsagg__tz_name(const tsagg__tz *tz)
{
    return tz ? tz->name : "UTC";
}

/* ---- lookups ------------------------------------------------------------- */

/* The number of a[0..n) that are <= t. */
static size_t upper_bound(const int64_t *a, size_t n, int64_t t)
{
    size_t lo = 0;
    while (n > 0) {
        size_t half = n / 2;
        if (a[lo + half] <= t) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

int32_t tsagg__tz_span(const tsagg__tz *tz, int64_t t, int64_t *end)
{
    if (!tz) {
        *end = INT64_MAX;
        return 0;
    }
    if (t >= tz->rule_lo) {
        if (t >= tz->cache_lo && t < tz->cache_hi) {
            size_t i = upper_bound(tz->cat, tz->cn, t);
            *end = i < tz->cn ? tz->cat[i] : tz->cache_hi;
            return i ? tz->coff[i - 1] : tz->coff0;
        }
        int32_t o = rule_span(&tz->rule, t, end);
        if (t < tz->cache_lo && *end > tz->cache_lo)
            *end = tz->cache_lo;
        return o;
    }
    size_t i = upper_bound(tz->at, tz->n, t);
    *end = i < tz->n ? tz->at[i] : tz->rule_lo;
    return i ? tz->off[i - 1] : tz->off0;
}

int32_t tsagg__tz_offset(const tsagg__tz *tz, int64_t ts_us)
{
    int64_t end;
    return tsagg__tz_span(tz, tsagg__floordiv(ts_us, 1000000), &end);
}

void tsagg__tz_bounds(const tsagg__tz *tz, int32_t *minoff, int32_t *maxoff)
{
    *minoff = tz ? tz->minoff : 0;
    *maxoff = tz ? tz->maxoff : 0;
}
