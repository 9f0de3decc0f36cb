/*
 * test_tz.c - time zones (TZif files and their POSIX TZ footers) and bucket
 * arithmetic.
 *
 * Expected values were taken from `zdump -v` and `TZ=... date` with tzdata
 * 2025b (Debian 12) at development time and are written out here; the tests
 * run no program. Zones whose future might be legislated away (DST in the
 * EU...) are also covered by synthetic TZif files written to a temporary
 * zoneinfo directory, whose answers never change.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tsagg.h"
#include "tz.h"

#define S INT64_C(1000000)
#define MIN (60 * S)
#define H (3600 * S)
#define DAY (24 * H)

/* ---- helpers ------------------------------------------------------------- */

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* UTC microseconds of a civil UTC date-time, computed without the library. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days = 0;
    for (int yy = 1970; yy < y; yy++)
        days += leap(yy) ? 366 : 365;
    for (int yy = y; yy < 1970; yy++)
        days -= leap(yy) ? 366 : 365;
    days += cum[mo - 1] + (mo > 2 && leap(y)) + d - 1;
    return (((days * 24 + h) * 60 + mi) * 60 + s) * S;
}

/* Day number (since 1970-01-01) of a local instant. */
static int64_t local_days(const tsagg__tz *tz, int64_t ts)
{
    int64_t l = ts / S + tsagg__tz_offset(tz, ts);
    return l >= 0 ? l / 86400 : -((-l + 86399) / 86400);
}

/* Seconds since local midnight. */
static int64_t local_tod(const tsagg__tz *tz, int64_t ts)
{
    int64_t l = ts / S + tsagg__tz_offset(tz, ts);
    return ((l % 86400) + 86400) % 86400;
}

static tsagg__tz *load_in(const char *dir, const char *name)
{
    tsagg__tz *tz = NULL;
    char err[512] = "";
    int rc = tsagg__tz_load(NULL, dir, name, &tz, err, sizeof err);
    cr_assert_eq(rc, 0, "loading %s: %s (%d; is tzdata installed? scripts/setup-debian.sh)",
                 name, err, rc);
    cr_assert_str_eq(tsagg__tz_name(tz), name);
    return tz;
}

static tsagg__tz *load(const char *name) { return load_in(NULL, name); }

static int64_t day_floor(const tsagg__tz *tz, int64_t ts)
{
    return tsagg__bucket_floor(tz, TSAGG_BUCKET_DAY, ts);
}

static int64_t day_next(const tsagg__tz *tz, int64_t ts)
{
    return tsagg__bucket_next(tz, TSAGG_BUCKET_DAY, ts);
}

/* The local day holding ts starts at `start` and lasts `len`. */
static void check_day(const tsagg__tz *tz, int64_t ts, int64_t start, int64_t len)
{
    int64_t f = day_floor(tz, ts);
    cr_expect_eq(f, start, "%s: day of %lld starts at %lld, want %lld", tsagg__tz_name(tz),
                 (long long)(ts / S), (long long)(f / S), (long long)(start / S));
    int64_t n = day_next(tz, f);
    cr_expect_eq(n - f, len, "%s: day starting %lld lasts %.2f h, want %.2f h",
                 tsagg__tz_name(tz), (long long)(f / S), (double)(n - f) / H,
                 (double)len / H);
    cr_expect_eq(day_floor(tz, n - 1), f);
    cr_expect_eq(day_floor(tz, n), n);
}

static void check_offset(const tsagg__tz *tz, int64_t ts, int32_t want)
{
    int32_t got = tsagg__tz_offset(tz, ts);
    cr_expect_eq(got, want, "%s: offset at %lld is %d, want %d", tsagg__tz_name(tz),
                 (long long)(ts / S), got, want);
}

/* A minimal TZif file: one abbreviation "ABC" shared by every type. */
typedef struct zspec {
    char version; /* 0 (v1 only), '2', '3', '4' */
    size_t nt;
    const int64_t *times;
    const uint8_t *idx;
    size_t ntypes;
    const int32_t *utoff;
    const char *footer; /* v2+ */
} zspec;

static size_t put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return (size_t)n;
}

static size_t tzif_block(uint8_t *p, const zspec *z, int tsize)
{
    size_t o = 0;
    memcpy(p, "TZif", 4);
    p[4] = (uint8_t)z->version;
    memset(p + 5, 0, 15);
    o = 20;
    o += put_be(p + o, 0, 4);          /* isutcnt */
    o += put_be(p + o, 0, 4);          /* isstdcnt */
    o += put_be(p + o, 0, 4);          /* leapcnt */
    o += put_be(p + o, z->nt, 4);      /* timecnt */
    o += put_be(p + o, z->ntypes, 4);  /* typecnt */
    o += put_be(p + o, 4, 4);          /* charcnt */
    for (size_t i = 0; i < z->nt; i++)
        o += put_be(p + o, (uint64_t)z->times[i], tsize);
    for (size_t i = 0; i < z->nt; i++)
        p[o++] = z->idx[i];
    for (size_t i = 0; i < z->ntypes; i++) {
        o += put_be(p + o, (uint32_t)z->utoff[i], 4);
        p[o++] = 0;
        p[o++] = 0;
    }
    memcpy(p + o, "ABC", 4);
    return o + 4;
}

static size_t make_tzif(uint8_t *buf, const zspec *z)
{
    size_t o = tzif_block(buf, z, 4);
    if (z->version) {
        o += tzif_block(buf + o, z, 8);
        buf[o++] = '\n';
        memcpy(buf + o, z->footer, strlen(z->footer));
        o += strlen(z->footer);
        buf[o++] = '\n';
    }
    return o;
}

static void write_zone(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* A zone of only a footer rule (no transitions). */
static void write_rule_zone(const char *dir, const char *name, const char *footer)
{
    static const int32_t utoff[1] = {0};
    zspec z = {'2', 0, NULL, NULL, 1, utoff, footer};
    uint8_t buf[512];
    write_zone(dir, name, buf, make_tzif(buf, &z));
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s (is tzdata installed?)", path);
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* ---- UTC and fixed widths ------------------------------------------------ */

Test(tz, utc)
{
    /* The test's own calendar agrees with `date -u -d ... +%s`. */
    cr_assert_eq(utc(2024, 3, 30, 23, 0, 0), INT64_C(1711839600) * S);
    cr_assert_eq(utc(2100, 1, 15, 12, 0, 0), INT64_C(4103697600) * S);
    cr_assert_eq(utc(5000, 7, 1, 12, 0, 0), INT64_C(95633265600) * S);

    const char *names[] = {NULL, "UTC", "Etc/UTC"};
    for (int i = 0; i < 3; i++) {
        tsagg__tz *tz = NULL;
        cr_assert_eq(tsagg__tz_load(NULL, "/nonexistent", names[i], &tz, NULL, 0), 0);
        cr_assert_str_eq(tsagg__tz_name(tz), names[i] ? names[i] : "UTC");
        cr_expect_eq(tsagg__tz_offset(tz, utc(2024, 7, 1, 0, 0, 0)), 0);
        int64_t ts = utc(2024, 3, 31, 12, 34, 56) + 789;
        cr_expect_eq(day_floor(tz, ts), utc(2024, 3, 31, 0, 0, 0));
        cr_expect_eq(day_next(tz, utc(2024, 3, 31, 0, 0, 0)), utc(2024, 4, 1, 0, 0, 0));
        cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_WEEK, ts), utc(2024, 3, 25, 0, 0, 0));
        cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MONTH, ts), utc(2024, 3, 1, 0, 0, 0));
        cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, utc(2024, 3, 1, 0, 0, 0)),
                     utc(2024, 4, 1, 0, 0, 0));
        tsagg__tz_free(tz);
    }
    /* NULL zone means UTC too. */
    cr_expect_eq(tsagg__tz_offset(NULL, 0), 0);
    cr_expect_str_eq(tsagg__tz_name(NULL), "UTC");
    cr_expect_eq(day_floor(NULL, utc(1969, 12, 31, 23, 59, 59)), utc(1969, 12, 31, 0, 0, 0));
    cr_expect_eq(day_floor(NULL, -1), -DAY);
    cr_expect_eq(tsagg__bucket_floor(NULL, TSAGG_BUCKET_WEEK, 0), utc(1969, 12, 29, 0, 0, 0));
    tsagg__tz_free(NULL);
}

Test(tz, fixed_widths_are_utc)
{
    tsagg__tz *tz = load("Asia/Kolkata");
    int64_t ts = utc(2024, 1, 14, 19, 15, 42) + 5; /* 00:45:42 local */
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_HOUR, ts), utc(2024, 1, 14, 19, 0, 0));
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MINUTE, ts), utc(2024, 1, 14, 19, 15, 0));
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_HOUR, utc(2024, 1, 14, 19, 0, 0)),
                 utc(2024, 1, 14, 20, 0, 0));
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MINUTE, utc(2024, 1, 14, 19, 15, 0)),
                 utc(2024, 1, 14, 19, 16, 0));
    /* Before 1970: floor, not truncation. */
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_HOUR, -1), -H);
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MINUTE, -MIN), -MIN);
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MINUTE, -MIN - 1), -2 * MIN);
    /* TOTAL (and nonsense) is not for these functions. */
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_TOTAL, ts), ts);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_TOTAL, ts), INT64_MAX);
    cr_expect_eq(tsagg__bucket_floor(tz, 99, ts), ts);
    /* Saturation at the ends of the range. */
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_HOUR, INT64_MAX - 5), INT64_MAX);
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_HOUR, INT64_MIN + 5), INT64_MIN);
    cr_expect_leq(tsagg__bucket_floor(tz, TSAGG_BUCKET_DAY, INT64_MIN + 5), INT64_MIN + 5);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, INT64_MAX - 5), INT64_MAX);
    cr_expect_gt(tsagg__bucket_next(tz, TSAGG_BUCKET_DAY, INT64_MIN), INT64_MIN);
    tsagg__tz_free(tz);
}

/* ---- real zones ---------------------------------------------------------- */

Test(tz, berlin)
{
    tsagg__tz *tz = load("Europe/Berlin");
    /* 2024-03-31 02:00 CET -> 03:00 CEST; 2024-10-27 03:00 CEST -> 02:00 CET. */
    check_offset(tz, utc(2024, 3, 31, 0, 59, 59), 3600);
    check_offset(tz, utc(2024, 3, 31, 1, 0, 0), 7200);
    check_offset(tz, utc(2024, 10, 27, 0, 59, 59), 7200);
    check_offset(tz, utc(2024, 10, 27, 1, 0, 0), 3600);
    check_day(tz, utc(2024, 3, 31, 12, 0, 0), utc(2024, 3, 30, 23, 0, 0), 23 * H);
    check_day(tz, utc(2024, 3, 30, 23, 0, 0), utc(2024, 3, 30, 23, 0, 0), 23 * H);
    check_day(tz, utc(2024, 3, 30, 22, 59, 59), utc(2024, 3, 29, 23, 0, 0), 24 * H);
    check_day(tz, utc(2024, 10, 27, 12, 0, 0), utc(2024, 10, 26, 22, 0, 0), 25 * H);
    check_day(tz, utc(2024, 10, 27, 22, 59, 59), utc(2024, 10, 26, 22, 0, 0), 25 * H);
    check_day(tz, utc(2024, 7, 1, 21, 59, 59), utc(2024, 6, 30, 22, 0, 0), 24 * H);
    /* Hours stay UTC hours through the switch: 1 h each, aligned to UTC. */
    for (int64_t t = utc(2024, 3, 30, 22, 0, 0); t < utc(2024, 3, 31, 4, 0, 0); t += H) {
        cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_HOUR, t + 17 * MIN), t);
        cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_HOUR, t), t + H);
    }
    /* Before standard time: local mean time +0:53:28 (zdump). */
    check_offset(tz, utc(1890, 6, 1, 0, 0, 0), 3208);
    check_day(tz, utc(1890, 6, 1, 12, 0, 0), utc(1890, 6, 1, 0, 0, 0) - 3208 * S, 24 * H);
    tsagg__tz_free(tz);
}

Test(tz, new_york)
{
    tsagg__tz *tz = load("America/New_York");
    check_offset(tz, utc(2024, 3, 10, 6, 59, 59), -18000);
    check_offset(tz, utc(2024, 3, 10, 7, 0, 0), -14400);
    check_offset(tz, utc(2024, 11, 3, 5, 59, 59), -14400);
    check_offset(tz, utc(2024, 11, 3, 6, 0, 0), -18000);
    check_day(tz, utc(2024, 3, 10, 18, 0, 0), utc(2024, 3, 10, 5, 0, 0), 23 * H);
    check_day(tz, utc(2024, 11, 3, 18, 0, 0), utc(2024, 11, 3, 4, 0, 0), 25 * H);
    /* Sunday 22:00 EDT is 02:00 UTC on Monday: still the week of Monday 4 March. */
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_WEEK, utc(2024, 3, 11, 2, 0, 0)),
                 utc(2024, 3, 4, 5, 0, 0));
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_WEEK, utc(2024, 3, 4, 5, 0, 0)),
                 utc(2024, 3, 11, 4, 0, 0));
    /* 31 December 23:59 EST is 1 January in UTC: still December. */
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MONTH, utc(2025, 1, 1, 4, 59, 0)),
                 utc(2024, 12, 1, 5, 0, 0));
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, utc(2024, 12, 1, 5, 0, 0)),
                 utc(2025, 1, 1, 5, 0, 0));
    tsagg__tz_free(tz);
}

Test(tz, half_and_quarter_hours)
{
    tsagg__tz *kol = load("Asia/Kolkata");
    check_offset(kol, utc(2024, 1, 15, 0, 0, 0), 19800);
    check_day(kol, utc(2024, 1, 15, 3, 0, 0), utc(2024, 1, 14, 18, 30, 0), 24 * H);
    tsagg__tz_free(kol);

    tsagg__tz *ktm = load("Asia/Kathmandu");
    check_offset(ktm, utc(2024, 6, 1, 0, 0, 0), 20700);
    check_day(ktm, utc(2024, 6, 1, 3, 0, 0), utc(2024, 5, 31, 18, 15, 0), 24 * H);
    /* 1986-01-01: +05:30 -> +05:45 at midnight (zdump: 23:59:59 +0530 then
     * 00:15:00 +0545), so that day and that month start at 00:15. */
    check_offset(ktm, utc(1985, 12, 31, 18, 29, 59), 19800);
    check_offset(ktm, utc(1985, 12, 31, 18, 30, 0), 20700);
    check_day(ktm, utc(1986, 1, 1, 6, 0, 0), utc(1985, 12, 31, 18, 30, 0), 24 * H - 15 * MIN);
    cr_expect_eq(local_tod(ktm, utc(1985, 12, 31, 18, 30, 0)), 15 * 60);
    cr_expect_eq(tsagg__bucket_floor(ktm, TSAGG_BUCKET_MONTH, utc(1986, 1, 15, 0, 0, 0)),
                 utc(1985, 12, 31, 18, 30, 0));
    cr_expect_eq(tsagg__bucket_next(ktm, TSAGG_BUCKET_MONTH, utc(1985, 12, 1, 0, 0, 0) - 19800 * S),
                 utc(1985, 12, 31, 18, 30, 0));
    tsagg__tz_free(ktm);
}

Test(tz, lord_howe_half_hour_dst)
{
    tsagg__tz *tz = load("Australia/Lord_Howe");
    /* zdump: 2024-04-06 15:00 UT +11 -> +1030; 2024-10-05 15:30 UT +1030 -> +11. */
    check_offset(tz, utc(2024, 4, 6, 14, 59, 59), 39600);
    check_offset(tz, utc(2024, 4, 6, 15, 0, 0), 37800);
    check_offset(tz, utc(2024, 10, 5, 15, 29, 59), 37800);
    check_offset(tz, utc(2024, 10, 5, 15, 30, 0), 39600);
    check_day(tz, utc(2024, 10, 6, 0, 0, 0), utc(2024, 10, 5, 13, 30, 0), 23 * H + 30 * MIN);
    check_day(tz, utc(2024, 4, 7, 0, 0, 0), utc(2024, 4, 6, 13, 0, 0), 24 * H + 30 * MIN);
    check_offset(tz, utc(2100, 1, 15, 12, 0, 0), 39600);
    check_offset(tz, utc(2100, 7, 15, 12, 0, 0), 37800);
    tsagg__tz_free(tz);
}

Test(tz, chatham)
{
    tsagg__tz *tz = load("Pacific/Chatham");
    /* zdump: 2024-09-28 14:00 UT +1245 -> +1345; 2024-04-06 14:00 UT back. */
    check_offset(tz, utc(2024, 9, 28, 13, 59, 59), 45900);
    check_offset(tz, utc(2024, 9, 28, 14, 0, 0), 49500);
    check_offset(tz, utc(2024, 4, 6, 13, 59, 59), 49500);
    check_offset(tz, utc(2024, 4, 6, 14, 0, 0), 45900);
    check_day(tz, utc(2024, 9, 29, 0, 0, 0), utc(2024, 9, 28, 11, 15, 0), 23 * H);
    check_day(tz, utc(2024, 4, 7, 0, 0, 0), utc(2024, 4, 6, 10, 15, 0), 25 * H);
    check_offset(tz, utc(2100, 1, 15, 12, 0, 0), 49500);
    check_offset(tz, utc(2100, 7, 15, 12, 0, 0), 45900);
    tsagg__tz_free(tz);
}

Test(tz, midnight_skipped)
{
    /* zdump -v America/Havana: Sat Mar 9 23:59:59 2024 CST, then Sun Mar 10
     * 01:00:00 2024 CDT (at 05:00 UT): the day starts at 01:00. */
    tsagg__tz *hav = load("America/Havana");
    check_day(hav, utc(2024, 3, 10, 12, 0, 0), utc(2024, 3, 10, 5, 0, 0), 23 * H);
    check_day(hav, utc(2024, 3, 10, 4, 59, 59), utc(2024, 3, 9, 5, 0, 0), 24 * H);
    cr_expect_eq(local_tod(hav, utc(2024, 3, 10, 5, 0, 0)), 3600);
    /* Back from 00:59:59 CDT to 00:00 CST on 3 November: a 25-hour day. */
    check_day(hav, utc(2024, 11, 3, 12, 0, 0), utc(2024, 11, 3, 4, 0, 0), 25 * H);
    tsagg__tz_free(hav);

    /* zdump -v Asia/Beirut: Sat Mar 28 23:59:59 2015 EET, then Sun Mar 29
     * 01:00:00 2015 EEST; in October 23:59:59 EEST goes back to 23:00 EET. */
    tsagg__tz *bei = load("Asia/Beirut");
    check_day(bei, utc(2015, 3, 29, 6, 0, 0), utc(2015, 3, 28, 22, 0, 0), 23 * H);
    check_day(bei, utc(2015, 3, 28, 21, 59, 59), utc(2015, 3, 27, 22, 0, 0), 24 * H);
    cr_expect_eq(local_tod(bei, utc(2015, 3, 28, 22, 0, 0)), 3600);
    check_day(bei, utc(2015, 10, 24, 21, 30, 0), utc(2015, 10, 23, 21, 0, 0), 25 * H);
    /* Weeks: Monday 23 March 2015 00:00 EET; the next Monday is in EEST. */
    cr_expect_eq(tsagg__bucket_floor(bei, TSAGG_BUCKET_WEEK, utc(2015, 3, 29, 6, 0, 0)),
                 utc(2015, 3, 22, 22, 0, 0));
    cr_expect_eq(tsagg__bucket_next(bei, TSAGG_BUCKET_WEEK, utc(2015, 3, 22, 22, 0, 0)),
                 utc(2015, 3, 29, 21, 0, 0));
    tsagg__tz_free(bei);

    /* zdump -v America/Santiago: Sat Sep 7 23:59:59 2024 -04, then Sun Sep 8
     * 01:00:00 -03 (the rule says M9.1.6/24). */
    tsagg__tz *scl = load("America/Santiago");
    check_day(scl, utc(2024, 9, 8, 12, 0, 0), utc(2024, 9, 8, 4, 0, 0), 23 * H);
    check_day(scl, utc(2024, 9, 7, 12, 0, 0), utc(2024, 9, 7, 4, 0, 0), 24 * H);
    tsagg__tz_free(scl);
}

Test(tz, missing_and_repeated_dates)
{
    /* Samoa skipped Friday 30 December 2011 (zdump: Thu Dec 29 23:59:59 -10,
     * then Sat Dec 31 00:00:00 +14 at 10:00 UT): no bucket for it. */
    tsagg__tz *apia = load("Pacific/Apia");
    check_day(apia, utc(2011, 12, 29, 12, 0, 0), utc(2011, 12, 29, 10, 0, 0), 24 * H);
    check_day(apia, utc(2011, 12, 30, 10, 0, 0), utc(2011, 12, 30, 10, 0, 0), 24 * H);
    int64_t w = tsagg__bucket_floor(apia, TSAGG_BUCKET_WEEK, utc(2011, 12, 30, 12, 0, 0));
    cr_expect_eq(w, utc(2011, 12, 26, 10, 0, 0));
    cr_expect_eq(tsagg__bucket_next(apia, TSAGG_BUCKET_WEEK, w) - w, 6 * DAY);
    int64_t m = tsagg__bucket_floor(apia, TSAGG_BUCKET_MONTH, utc(2011, 12, 30, 12, 0, 0));
    cr_expect_eq(m, utc(2011, 12, 1, 10, 0, 0));
    cr_expect_eq(tsagg__bucket_next(apia, TSAGG_BUCKET_MONTH, m), utc(2011, 12, 31, 10, 0, 0));
    tsagg__tz_free(apia);

    /* St. John's ended DST at 00:01 until 2010 (zdump: Sun Oct 25 00:00:59
     * 1987 NDT, then Sat Oct 24 23:01:00 NST at 02:31 UT). 25 October
     * started at its first midnight; the repeated minutes of the 24th
     * after it belong to the 25th, so that days never overlap. */
    tsagg__tz *stj = load("America/St_Johns");
    check_offset(stj, utc(1987, 10, 25, 2, 30, 59), -9000);
    check_offset(stj, utc(1987, 10, 25, 2, 31, 0), -12600);
    check_day(stj, utc(1987, 10, 25, 2, 0, 0), utc(1987, 10, 24, 2, 30, 0), 24 * H);
    check_day(stj, utc(1987, 10, 25, 2, 30, 30), utc(1987, 10, 25, 2, 30, 0), 25 * H);
    check_day(stj, utc(1987, 10, 25, 3, 0, 0), utc(1987, 10, 25, 2, 30, 0), 25 * H);
    check_day(stj, utc(1987, 10, 26, 3, 29, 59), utc(1987, 10, 25, 2, 30, 0), 25 * H);
    /* The same through weeks and months: 25 October 1987 was a Sunday. */
    cr_expect_eq(tsagg__bucket_floor(stj, TSAGG_BUCKET_WEEK, utc(1987, 10, 25, 3, 0, 0)),
                 utc(1987, 10, 19, 2, 30, 0));
    tsagg__tz_free(stj);
}

Test(tz, iso_weeks)
{
    tsagg__tz *tz = load("Europe/Berlin");
    struct {
        int64_t ts, monday;
    } cases[] = {
        /* Tuesday 31 Dec 2024 -> Monday 30 Dec 2024 (ISO week 2025-W01) */
        {utc(2024, 12, 31, 12, 0, 0), utc(2024, 12, 29, 23, 0, 0)},
        /* Friday 1 Jan 2021 -> Monday 28 Dec 2020 (2020-W53) */
        {utc(2021, 1, 1, 12, 0, 0), utc(2020, 12, 27, 23, 0, 0)},
        /* Sunday 1 Jan 2023 -> Monday 26 Dec 2022 (2022-W52) */
        {utc(2023, 1, 1, 12, 0, 0), utc(2022, 12, 25, 23, 0, 0)},
        /* Monday 1 Jan 2024 00:30 local -> itself */
        {utc(2023, 12, 31, 23, 30, 0), utc(2023, 12, 31, 23, 0, 0)},
        /* Sunday 7 Jan 2024 23:59:59 local -> Monday 1 Jan */
        {utc(2024, 1, 7, 22, 59, 59), utc(2023, 12, 31, 23, 0, 0)},
        /* Sunday 31 Mar 2024 (DST starts) -> Monday 25 Mar, CET */
        {utc(2024, 3, 31, 12, 0, 0), utc(2024, 3, 24, 23, 0, 0)},
        /* Thursday 29 Feb 2024 -> Monday 26 Feb */
        {utc(2024, 2, 29, 12, 0, 0), utc(2024, 2, 25, 23, 0, 0)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_WEEK, cases[i].ts), cases[i].monday,
                     "case %zu", i);
    /* The week of the spring switch lasts 167 hours, of the autumn one 169. */
    int64_t w = utc(2024, 3, 24, 23, 0, 0);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_WEEK, w) - w, 167 * H);
    w = utc(2024, 10, 20, 22, 0, 0);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_WEEK, w) - w, 169 * H);
    /* 600 weeks in a row: each starts on a Monday at local midnight
     * (1970-01-05 was a Monday). */
    w = tsagg__bucket_floor(tz, TSAGG_BUCKET_WEEK, utc(2015, 6, 1, 0, 0, 0));
    for (int i = 0; i < 600; i++) {
        int64_t d = local_days(tz, w);
        cr_assert_eq(((d - 4) % 7 + 7) % 7, 0, "week %d starts on a day %lld", i, (long long)d);
        cr_assert_eq(local_tod(tz, w), 0);
        int64_t n = tsagg__bucket_next(tz, TSAGG_BUCKET_WEEK, w);
        cr_assert(n - w == 168 * H || n - w == 167 * H || n - w == 169 * H);
        w = n;
    }
    tsagg__tz_free(tz);
}

Test(tz, months)
{
    tsagg__tz *tz = load("Europe/Berlin");
    int64_t feb24 = utc(2024, 1, 31, 23, 0, 0), feb23 = utc(2023, 1, 31, 23, 0, 0);
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MONTH, utc(2024, 2, 29, 22, 59, 59)), feb24);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, feb24) - feb24, 29 * DAY);
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MONTH, utc(2024, 2, 29, 23, 0, 0)),
                 utc(2024, 2, 29, 23, 0, 0)); /* 1 March local */
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, feb23) - feb23, 28 * DAY);
    int64_t mar24 = utc(2024, 2, 29, 23, 0, 0);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, mar24) - mar24, 31 * DAY - H);
    int64_t oct24 = utc(2024, 9, 30, 22, 0, 0);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, oct24) - oct24, 31 * DAY + H);
    /* December -> January. */
    int64_t dec24 = utc(2024, 11, 30, 23, 0, 0);
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MONTH, utc(2024, 12, 31, 22, 59, 59)), dec24);
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_MONTH, dec24), utc(2024, 12, 31, 23, 0, 0));
    cr_expect_eq(tsagg__bucket_floor(tz, TSAGG_BUCKET_MONTH, utc(2024, 12, 31, 23, 0, 0)),
                 utc(2024, 12, 31, 23, 0, 0));
    tsagg__tz_free(tz);

    /* Leap rules of the century years, in UTC. */
    int64_t f2000 = utc(2000, 2, 1, 0, 0, 0), f1900 = utc(1900, 2, 1, 0, 0, 0);
    int64_t f2100 = utc(2100, 2, 1, 0, 0, 0);
    cr_expect_eq(tsagg__bucket_next(NULL, TSAGG_BUCKET_MONTH, f2000) - f2000, 29 * DAY);
    cr_expect_eq(tsagg__bucket_next(NULL, TSAGG_BUCKET_MONTH, f1900) - f1900, 28 * DAY);
    cr_expect_eq(tsagg__bucket_next(NULL, TSAGG_BUCKET_MONTH, f2100) - f2100, 28 * DAY);
    /* Twelve months make a year, 1900..2200. */
    int64_t m = utc(1900, 1, 1, 0, 0, 0);
    for (int y = 1900; y <= 2200; y++) {
        for (int i = 0; i < 12; i++)
            m = tsagg__bucket_next(NULL, TSAGG_BUCKET_MONTH, m);
        cr_assert_eq(m, utc(y + 1, 1, 1, 0, 0, 0), "year %d", y);
    }
}

Test(tz, far_future)
{
    /* Beyond the last transition of the file: the footer rule. */
    tsagg__tz *ber = load("Europe/Berlin");
    /* zdump -v -c 2100,2101 Europe/Berlin */
    check_offset(ber, utc(2100, 3, 28, 0, 59, 59), 3600);
    check_offset(ber, utc(2100, 3, 28, 1, 0, 0), 7200);
    check_offset(ber, utc(2100, 10, 31, 0, 59, 59), 7200);
    check_offset(ber, utc(2100, 10, 31, 1, 0, 0), 3600);
    check_day(ber, utc(2100, 3, 28, 12, 0, 0), utc(2100, 3, 27, 23, 0, 0), 23 * H);
    check_day(ber, utc(2100, 10, 31, 12, 0, 0), utc(2100, 10, 30, 22, 0, 0), 25 * H);
    /* 2250 and 5000: past the expanded years, evaluated from the rule. */
    check_offset(ber, utc(2250, 3, 31, 0, 59, 59), 3600);
    check_offset(ber, utc(2250, 3, 31, 1, 0, 0), 7200);
    check_offset(ber, utc(2250, 10, 27, 0, 59, 59), 7200);
    check_offset(ber, utc(2250, 10, 27, 1, 0, 0), 3600);
    check_day(ber, utc(2250, 3, 31, 12, 0, 0), utc(2250, 3, 30, 23, 0, 0), 23 * H);
    check_offset(ber, utc(5000, 3, 30, 0, 59, 59), 3600);
    check_offset(ber, utc(5000, 3, 30, 1, 0, 0), 7200);
    check_offset(ber, utc(5000, 10, 26, 1, 0, 0), 3600);
    /* Days run on across the end of the expanded years (2201). */
    int64_t d = day_floor(ber, utc(2200, 12, 1, 0, 0, 0));
    for (int i = 0; i < 500; i++) {
        int64_t n = day_next(ber, d);
        cr_assert(n - d == 24 * H || n - d == 23 * H || n - d == 25 * H);
        cr_assert_eq(local_tod(ber, n), 0);
        d = n;
    }
    tsagg__tz_free(ber);

    tsagg__tz *ny = load("America/New_York");
    check_offset(ny, utc(2100, 3, 14, 6, 59, 59), -18000);
    check_offset(ny, utc(2100, 3, 14, 7, 0, 0), -14400);
    check_offset(ny, utc(2100, 11, 7, 5, 59, 59), -14400);
    check_offset(ny, utc(2100, 11, 7, 6, 0, 0), -18000);
    check_offset(ny, utc(2250, 7, 15, 12, 0, 0), -14400);
    tsagg__tz_free(ny);

    /* TZ=... date -d 2100-07-15T12:00Z +%z */
    struct {
        const char *zone;
        int32_t jan, jul;
    } z[] = {
        {"America/Santiago", -10800, -14400}, {"Asia/Kathmandu", 20700, 20700},
        {"America/Havana", -18000, -14400},    {"Pacific/Chatham", 49500, 45900},
    };
    for (size_t i = 0; i < sizeof z / sizeof z[0]; i++) {
        tsagg__tz *tz = load(z[i].zone);
        check_offset(tz, utc(2100, 1, 15, 12, 0, 0), z[i].jan);
        check_offset(tz, utc(2100, 7, 15, 12, 0, 0), z[i].jul);
        check_offset(tz, utc(2250, 1, 15, 12, 0, 0), z[i].jan);
        check_offset(tz, utc(2250, 7, 15, 12, 0, 0), z[i].jul);
        tsagg__tz_free(tz);
    }
}

/* floor <= ts < next(floor), floor of a start is itself, starts are local
 * midnights unless midnight did not exist, in many zones and years. */
Test(tz, invariants)
{
    const char *zones[] = {"Europe/Berlin", "America/New_York", "Asia/Kolkata",
                           "Australia/Lord_Howe", "Pacific/Chatham", "America/Havana",
                           "Asia/Beirut", "America/Sao_Paulo", "America/Santiago",
                           "Europe/Dublin", "Pacific/Apia", "Asia/Jerusalem"};
    const unsigned buckets[] = {TSAGG_BUCKET_MINUTE, TSAGG_BUCKET_HOUR, TSAGG_BUCKET_DAY,
                                TSAGG_BUCKET_WEEK, TSAGG_BUCKET_MONTH};
    uint64_t x = 0x9E3779B97F4A7C15u;
    int64_t lo = utc(1900, 1, 1, 0, 0, 0), span = utc(2200, 1, 1, 0, 0, 0) - lo;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        tsagg__tz *tz = load(zones[z]);
        for (int i = 0; i < 400; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int64_t ts = lo + (int64_t)(x % (uint64_t)span);
            for (size_t b = 0; b < 5; b++) {
                int64_t f = tsagg__bucket_floor(tz, buckets[b], ts);
                int64_t n = tsagg__bucket_next(tz, buckets[b], f);
                cr_assert(f <= ts && ts < n, "%s b%u ts %lld: [%lld, %lld)", zones[z],
                          buckets[b], (long long)ts, (long long)f, (long long)n);
                cr_assert_eq(tsagg__bucket_floor(tz, buckets[b], f), f);
                cr_assert_eq(tsagg__bucket_floor(tz, buckets[b], n), n);
                cr_assert_eq(tsagg__bucket_floor(tz, buckets[b], n - 1), f);
                if (buckets[b] >= TSAGG_BUCKET_DAY) {
                    /* local midnight, or the first instant of a day whose
                     * midnight was skipped */
                    cr_assert(local_tod(tz, f) == 0 ||
                                  local_days(tz, f - S) < local_days(tz, f),
                              "%s: bucket start %lld", zones[z], (long long)(f / S));
                    cr_assert(local_days(tz, f - S) < local_days(tz, f));
                }
            }
        }
        tsagg__tz_free(tz);
    }
}

Test(tz, bucket_starts)
{
    tsagg__tz *tz = load("Europe/Berlin");
    int64_t out[1000];
    /* 30 days of hours. */
    int64_t from = utc(2024, 3, 15, 0, 20, 0), to = from + 30 * DAY;
    size_t n = tsagg__bucket_starts(tz, TSAGG_BUCKET_HOUR, from, to, out, 1000);
    cr_expect_eq(n, 721);
    cr_expect_eq(out[0], utc(2024, 3, 15, 0, 0, 0));
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(out[i] - out[i - 1], H);
    /* The days of March 2024 in Berlin: 31, one of 23 hours. */
    from = utc(2024, 2, 29, 23, 0, 0);
    to = utc(2024, 3, 31, 22, 0, 0);
    n = tsagg__bucket_starts(tz, TSAGG_BUCKET_DAY, from, to, out, 1000);
    cr_expect_eq(n, 31);
    cr_expect_eq(out[30], utc(2024, 3, 30, 23, 0, 0));
    cr_expect_eq(tsagg__bucket_next(tz, TSAGG_BUCKET_DAY, out[30]) - out[30], 23 * H);
    /* The first start is floor(from), before from. */
    n = tsagg__bucket_starts(tz, TSAGG_BUCKET_DAY, from + 5 * H, from + 5 * H + 1, out, 1000);
    cr_expect_eq(n, 1);
    cr_expect_eq(out[0], from);
    /* Bounded by cap; empty ranges. */
    cr_expect_eq(tsagg__bucket_starts(tz, TSAGG_BUCKET_MINUTE, 0, 1000 * DAY, out, 10), 11);
    cr_expect_eq(tsagg__bucket_starts(tz, TSAGG_BUCKET_DAY, 5, 5, out, 10), 0);
    cr_expect_eq(tsagg__bucket_starts(tz, TSAGG_BUCKET_TOTAL, 5, 10, out, 10), 1);
    cr_expect_eq(out[0], 5);
    tsagg__tz_free(tz);
}

/* ---- synthetic files: rules, versions, damage ---------------------------- */

Test(tz, footer_rules)
{
    char dir[256];
    tu_tmpdir(dir, sizeof dir);
    write_rule_zone(dir, "T/Julian", "XST3XDT,J60/2,J300/2");
    write_rule_zone(dir, "T/Zero", "XST3XDT,59/2,299/2");
    write_rule_zone(dir, "T/Negative", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    write_rule_zone(dir, "T/Late", "EET-2EEST,M3.4.4/50,M10.4.4/50");
    write_rule_zone(dir, "T/AllYear", "EST5EDT,0/0,J365/25");
    write_rule_zone(dir, "T/Dublin", "IST-1GMT0,M10.5.0,M3.5.0/1");
    write_rule_zone(dir, "T/Fixed", "<+0545>-5:45");
    write_rule_zone(dir, "T/Empty", "");
    write_rule_zone(dir, "T/DefaultRule", "EST5EDT");

    /* Values from zdump -v -c 2023,2025 'TZ string'. Jn never counts 29
     * February: J60 is 1 March in 2023 and 2024. */
    tsagg__tz *tz = load_in(dir, "T/Julian");
    check_offset(tz, utc(2023, 3, 1, 4, 59, 59), -10800);
    check_offset(tz, utc(2023, 3, 1, 5, 0, 0), -7200);
    check_offset(tz, utc(2024, 3, 1, 4, 59, 59), -10800);
    check_offset(tz, utc(2024, 3, 1, 5, 0, 0), -7200);
    check_offset(tz, utc(2024, 10, 27, 3, 59, 59), -7200);
    check_offset(tz, utc(2024, 10, 27, 4, 0, 0), -10800);
    check_offset(tz, utc(2250, 3, 1, 5, 0, 0), -7200);
    check_offset(tz, utc(2250, 10, 27, 4, 0, 0), -10800);
    /* A file without transitions follows its rule at all times (RFC 8536);
     * glibc's TZ-string code would not apply it before 1970. */
    check_offset(tz, utc(1850, 7, 1, 12, 0, 0), -7200);
    check_offset(tz, utc(1850, 1, 15, 12, 0, 0), -10800);
    tsagg__tz_free(tz);

    /* n counts 29 February: day 59 is 29 February in 2024. */
    tz = load_in(dir, "T/Zero");
    check_offset(tz, utc(2023, 3, 1, 5, 0, 0), -7200);
    check_offset(tz, utc(2024, 2, 29, 4, 59, 59), -10800);
    check_offset(tz, utc(2024, 2, 29, 5, 0, 0), -7200);
    check_offset(tz, utc(2024, 10, 26, 3, 59, 59), -7200);
    check_offset(tz, utc(2024, 10, 26, 4, 0, 0), -10800);
    tsagg__tz_free(tz);

    /* Negative transition time (America/Nuuk): -1:00 on the last Sunday of
     * March is 00:00 -01; back at 00:00 -01 to 23:00 -02 the day before. */
    tz = load_in(dir, "T/Negative");
    check_offset(tz, utc(2024, 3, 31, 0, 59, 59), -7200);
    check_offset(tz, utc(2024, 3, 31, 1, 0, 0), -3600);
    check_offset(tz, utc(2024, 10, 27, 0, 59, 59), -3600);
    check_offset(tz, utc(2024, 10, 27, 1, 0, 0), -7200);
    check_day(tz, utc(2024, 3, 31, 12, 0, 0), utc(2024, 3, 31, 1, 0, 0), 24 * H);
    check_day(tz, utc(2024, 3, 30, 12, 0, 0), utc(2024, 3, 30, 2, 0, 0), 23 * H);
    check_day(tz, utc(2024, 10, 26, 12, 0, 0), utc(2024, 10, 26, 1, 0, 0), 25 * H);
    tsagg__tz_free(tz);

    /* Hours beyond 24 (Asia/Gaza style): M3.4.4/50 is Saturday 02:00. */
    tz = load_in(dir, "T/Late");
    check_offset(tz, utc(2024, 3, 29, 23, 59, 59), 7200);
    check_offset(tz, utc(2024, 3, 30, 0, 0, 0), 10800);
    check_offset(tz, utc(2024, 10, 25, 22, 59, 59), 10800);
    check_offset(tz, utc(2024, 10, 25, 23, 0, 0), 7200);
    tsagg__tz_free(tz);

    /* DST all year, as tzfile(5) describes this string. (glibc's date shows
     * -0500 between 00:00 and 05:00 UT on 1 January: a glibc quirk.) */
    tz = load_in(dir, "T/AllYear");
    check_offset(tz, utc(2024, 12, 31, 23, 0, 0), -14400);
    check_offset(tz, utc(2025, 1, 1, 2, 0, 0), -14400);
    check_offset(tz, utc(2025, 6, 1, 0, 0, 0), -14400);
    check_offset(tz, utc(2150, 1, 1, 4, 0, 0), -14400);
    check_offset(tz, utc(2300, 1, 1, 4, 0, 0), -14400);
    tsagg__tz_free(tz);

    /* Negative DST (Europe/Dublin): standard time IST in summer. */
    tz = load_in(dir, "T/Dublin");
    check_offset(tz, utc(2024, 3, 31, 0, 59, 59), 0);
    check_offset(tz, utc(2024, 3, 31, 1, 0, 0), 3600);
    check_offset(tz, utc(2024, 10, 27, 0, 59, 59), 3600);
    check_offset(tz, utc(2024, 10, 27, 1, 0, 0), 0);
    check_day(tz, utc(2024, 3, 31, 12, 0, 0), utc(2024, 3, 31, 0, 0, 0), 23 * H);
    tsagg__tz_free(tz);

    tz = load_in(dir, "T/Fixed");
    check_offset(tz, utc(1800, 1, 1, 0, 0, 0), 20700);
    check_offset(tz, utc(2024, 1, 1, 0, 0, 0), 20700);
    check_day(tz, utc(2024, 1, 1, 0, 0, 0), utc(2023, 12, 31, 18, 15, 0), 24 * H);
    tsagg__tz_free(tz);

    /* An empty footer: the last local time type (here type 0) continues. */
    tz = load_in(dir, "T/Empty");
    check_offset(tz, utc(2100, 7, 1, 0, 0, 0), 0);
    tsagg__tz_free(tz);

    /* DST without a rule: the US rule, as the reference code does. */
    tz = load_in(dir, "T/DefaultRule");
    check_offset(tz, utc(2024, 3, 10, 6, 59, 59), -18000);
    check_offset(tz, utc(2024, 3, 10, 7, 0, 0), -14400);
    tsagg__tz_free(tz);
    tu_rmtree(dir);
}

Test(tz, versions_and_slim_files)
{
    char dir[256];
    tu_tmpdir(dir, sizeof dir);
    /* Version 1 only: 32-bit times, no footer; the last type continues. */
    const int64_t t1[] = {1000000000, 1100000000};
    const uint8_t i1[] = {1, 0};
    const int32_t o1[] = {-3600, 7200};
    zspec v1 = {0, 2, t1, i1, 2, o1, NULL};
    uint8_t buf[4096];
    write_zone(dir, "V/One", buf, make_tzif(buf, &v1));
    tsagg__tz *tz = load_in(dir, "V/One");
    check_offset(tz, 999999999 * S, -3600);
    check_offset(tz, 1000000000 * S, 7200);
    check_offset(tz, 1099999999 * S, 7200);
    check_offset(tz, 1100000000 * S, -3600);
    check_offset(tz, utc(2300, 1, 1, 0, 0, 0), -3600);
    tsagg__tz_free(tz);

    /* A "slim" New York: transitions up to 2007 only, the footer does the
     * rest; it must agree with the system's file (fat or slim). The types:
     * EST, EDT. */
    int64_t times[64];
    uint8_t idx[64];
    size_t nt = 0;
    tsagg__tz *sys = load("America/New_York");
    for (int y = 1990; y <= 2007; y++) {
        /* take the system's answers for the spring and autumn changes */
        for (int64_t t = utc(y, 1, 1, 0, 0, 0); t < utc(y + 1, 1, 1, 0, 0, 0); t += H) {
            if (tsagg__tz_offset(sys, t) != tsagg__tz_offset(sys, t - H)) {
                times[nt] = t / S;
                idx[nt++] = tsagg__tz_offset(sys, t) == -14400;
            }
        }
    }
    cr_assert_eq(nt, 36);
    const int32_t ny_types[] = {-18000, -14400};
    for (char ver = '2'; ver <= '4'; ver++) {
        zspec slim = {ver, nt, times, idx, 2, ny_types, "EST5EDT,M3.2.0,M11.1.0"};
        char name[32];
        snprintf(name, sizeof name, "V/Slim%c", ver);
        write_zone(dir, name, buf, make_tzif(buf, &slim));
        tz = load_in(dir, name);
        for (int64_t t = utc(1995, 1, 1, 0, 0, 0); t < utc(2240, 1, 1, 0, 0, 0); t += 7 * H + 13 * MIN)
            cr_assert_eq(tsagg__tz_offset(tz, t), tsagg__tz_offset(sys, t), "%s at %lld", name,
                         (long long)(t / S));
        for (int64_t t = utc(2020, 1, 1, 0, 0, 0); t < utc(2030, 1, 1, 0, 0, 0);) {
            int64_t n = day_next(tz, t);
            cr_assert_eq(n, day_next(sys, t));
            t = n;
        }
        tsagg__tz_free(tz);
    }
    tsagg__tz_free(sys);

    /* Leap-second ("right/") zones load; their offsets are the same. */
    if (access("/usr/share/zoneinfo/right/Europe/Berlin", R_OK) == 0) {
        tz = load("right/Europe/Berlin");
        check_offset(tz, utc(2024, 1, 15, 0, 0, 0), 3600);
        check_offset(tz, utc(2024, 7, 15, 0, 0, 0), 7200);
        check_offset(tz, utc(2024, 3, 31, 1, 0, 0), 7200);
        check_offset(tz, utc(2024, 3, 31, 0, 59, 59), 3600);
        tsagg__tz_free(tz);
    }
    tu_rmtree(dir);
}

Test(tz, bad_names)
{
    const char *bad[] = {"../etc/passwd", "/etc/passwd", "Europe/../Europe/Berlin",
                         "Europe/Berlin ", "Europe\\Berlin", "Europe/Berlin.tab", "",
                         "Europe/Berlin\n", "..", "zone.tab", "Europe/Berlin;rm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsagg__tz *tz = (tsagg__tz *)(uintptr_t)1;
        char err[512] = "";
        cr_expect_eq(tsagg__tz_load(NULL, NULL, bad[i], &tz, err, sizeof err), TSAGG_EARG,
                     "name \"%s\"", bad[i]);
        cr_expect_eq(tz, (tsagg__tz *)(uintptr_t)1, "*out untouched on error");
        cr_expect_neq(err[0], 0);
    }
    char longname[400];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    tsagg__tz *tz = NULL;
    cr_expect_eq(tsagg__tz_load(NULL, NULL, longname, &tz, NULL, 0), TSAGG_EARG);

    char err[512] = "";
    cr_expect_eq(tsagg__tz_load(NULL, NULL, "Nowhere/Atlantis", &tz, err, sizeof err),
                 TSAGG_EARG);
    cr_expect(strstr(err, "unknown time zone \"Nowhere/Atlantis\"") != NULL, "%s", err);
    /* A directory is not a zone. */
    cr_expect_eq(tsagg__tz_load(NULL, NULL, "Europe", &tz, err, sizeof err), TSAGG_EARG, "%s", err);
    cr_expect_eq(tsagg__tz_load(NULL, NULL, "Europe/", &tz, err, sizeof err), TSAGG_EARG);
    cr_expect_eq(tsagg__tz_load(NULL, "/nonexistent", "Europe/Berlin", &tz, err, sizeof err),
                 TSAGG_EARG);
    cr_expect_eq(tsagg__tz_load(NULL, NULL, "Europe/Berlin", NULL, err, sizeof err), TSAGG_EARG);
}

static void expect_corrupt(const char *dir, const char *name, const void *buf, size_t len)
{
    write_zone(dir, name, buf, len);
    tsagg__tz *tz = NULL;
    char err[512] = "";
    int rc = tsagg__tz_load(NULL, dir, name, &tz, err, sizeof err);
    cr_expect_eq(rc, TSAGG_ECORRUPT, "%s (%zu bytes): %d %s", name, len, rc, err);
    cr_expect(strstr(err, name) != NULL, "the message names the file: %s", err);
    cr_expect_null(tz);
}

Test(tz, corrupt_files)
{
    char dir[256];
    tu_tmpdir(dir, sizeof dir);
    expect_corrupt(dir, "C/Garbage", "this is not a time zone file at all, just garbage text\n", 56);
    expect_corrupt(dir, "C/Empty", "", 0);

    size_t len;
    uint8_t *ber = slurp("/usr/share/zoneinfo/Europe/Berlin", &len);
    cr_assert_gt(len, 100);
    /* Every truncation of a real file is an error. */
    size_t cuts[] = {3, 20, 43, 44, 45, 100, len / 2, len - 30, len - 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        expect_corrupt(dir, "C/Truncated", ber, cuts[i]);
    for (size_t cut = 0; cut < len; cut += 7)
        expect_corrupt(dir, "C/Cut", ber, cut);
    /* Bad version byte. */
    uint8_t *copy = malloc(len);
    memcpy(copy, ber, len);
    copy[4] = '1';
    expect_corrupt(dir, "C/Version", copy, len);
    /* A bad footer. */
    memcpy(copy, ber, len);
    memcpy(copy + len - 5, "/99\n", 4); /* "M10.5.0/3" -> "M10.5/99" */
    expect_corrupt(dir, "C/Footer", copy, len - 1);
    free(copy);
    free(ber);

    /* Structural damage in synthetic files. */
    uint8_t buf[1024];
    const int64_t t2[] = {2000, 1000};
    const uint8_t i2[] = {0, 1};
    const int32_t o2[] = {0, 3600};
    zspec order = {'2', 2, t2, i2, 2, o2, "UTC0"};
    expect_corrupt(dir, "C/Order", buf, make_tzif(buf, &order));
    const int64_t t3[] = {1000};
    const uint8_t i3[] = {5};
    zspec index = {'2', 1, t3, i3, 2, o2, "UTC0"};
    expect_corrupt(dir, "C/Index", buf, make_tzif(buf, &index));
    const int32_t o4[] = {200000};
    zspec offset = {'2', 0, NULL, NULL, 1, o4, ""};
    expect_corrupt(dir, "C/Offset", buf, make_tzif(buf, &offset));
    zspec notypes = {'2', 0, NULL, NULL, 0, o2, ""};
    expect_corrupt(dir, "C/NoTypes", buf, make_tzif(buf, &notypes));
    const char *footers[] = {"X", "XST", "XST3XDT,M3.2.0", "XST3XDT,M13.1.0,M11.1.0",
                             "XST3XDT,M3.6.0,M11.1.0", "XST3XDT,J0,J300", "XST3XDT,366,300",
                             "XST99", "<AB>3", "XST3XDT,M3.2.0/200,M11.1.0", "XST3 ",
                             "XST3XDT,M3.2.0,M11.1.0,"};
    for (size_t i = 0; i < sizeof footers / sizeof footers[0]; i++) {
        zspec f = {'2', 0, NULL, NULL, 1, o2, footers[i]};
        expect_corrupt(dir, "C/Rule", buf, make_tzif(buf, &f));
    }
    /* A v2 file whose footer lost its closing newline. */
    zspec nofoot = {'2', 0, NULL, NULL, 1, o2, "UTC0"};
    size_t n = make_tzif(buf, &nofoot);
    expect_corrupt(dir, "C/NoNewline", buf, n - 1);
    tu_rmtree(dir);
}

/* ---- the I/O table ------------------------------------------------------- */

typedef struct countio {
    tsagg_io io;
    const tsagg_io *base;
    int opens, fail;
} countio;

static int count_open(void *ctx, const char *path, int flags, unsigned mode)
{
    countio *c = ctx;
    c->opens++;
    if (c->fail)
        return -c->fail;
    return c->base->open(c->base->ctx, path, flags, mode);
}

static int pass_close(void *ctx, int fd)
{
    countio *c = ctx;
    return c->base->close(c->base->ctx, fd);
}

static ssize_t pass_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    countio *c = ctx;
    /* short reads: at most 100 bytes at a time */
    return c->base->pread(c->base->ctx, fd, buf, len > 100 ? 100 : len, off);
}

static int pass_fsize(void *ctx, int fd, uint64_t *size)
{
    countio *c = ctx;
    return c->base->fsize(c->base->ctx, fd, size);
}

Test(tz, reads_through_io_table)
{
    countio c = {0};
    c.base = tsagg_io_default();
    c.io = *c.base;
    c.io.ctx = &c;
    c.io.open = count_open;
    c.io.close = pass_close;
    c.io.pread = pass_pread;
    c.io.fsize = pass_fsize;
    tsagg__tz *tz = NULL;
    char err[512];
    cr_assert_eq(tsagg__tz_load(&c.io, NULL, "Europe/Berlin", &tz, err, sizeof err), 0, "%s", err);
    cr_expect_eq(c.opens, 1);
    check_offset(tz, utc(2024, 7, 1, 0, 0, 0), 7200);
    tsagg__tz_free(tz);
    cr_assert_eq(tsagg__tz_load(&c.io, NULL, "UTC", &tz, err, sizeof err), 0);
    cr_expect_eq(c.opens, 1, "UTC reads no file");
    tsagg__tz_free(tz);
    c.fail = EACCES;
    tz = NULL;
    cr_expect_eq(tsagg__tz_load(&c.io, NULL, "Europe/Berlin", &tz, err, sizeof err), -EACCES);
    cr_expect_null(tz);
    c.fail = EIO;
    cr_expect_eq(tsagg__tz_load(&c.io, NULL, "Europe/Berlin", &tz, err, sizeof err), -EIO);
}
