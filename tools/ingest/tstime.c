/* tstime.c - see tstime.h. */
#include "tstime.h"

#include <string.h>

#include "civil.h"

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return -1;
        v = v * 10 + (int)c;
    }
    return v;
}

static int valid_date(int64_t y, int mo, int d)
{
    return y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && (unsigned)d <= days_in_month(y, (unsigned)mo);
}

/* Microseconds of a valid date's days since the epoch and a time of day. */
static int compose_time(int64_t days, int h, int mi, int s, int64_t frac_us, int offset_s,
                        int64_t *us)
{
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
        return -1;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - offset_s;
    *us = secs * 1000000 + frac_us;
    return 0;
}

static int compose(int64_t y, int mo, int d, int h, int mi, int s, int64_t frac_us,
                   int offset_s, int64_t *us)
{
    if (!valid_date(y, mo, d))
        return -1;
    return compose_time(tsagg__days_from_civil(y, (unsigned)mo, (unsigned)d), h, mi, s, frac_us,
                        offset_s, us);
}

int tstime_rfc3339(const char *s, size_t len, tstime_day *day, int64_t *us)
{
    /* YYYY-MM-DDTHH:MM:SS is 19 bytes, then fraction and zone. */
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return -1;
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && (unsigned)(s[i] - '0') <= 9) {
            if (i - start < 6)
                frac = frac * 10 + (s[i] - '0');
            i++;
        }
        if (i == start)
            return -1;
        for (size_t k = i - start; k < 6; k++)
            frac *= 10;
    }
    int offset = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    /* The date as the last one read (known valid), or checked and kept. */
    if (memcmp(s, day->text, sizeof day->text) != 0) {
        int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
        if (!valid_date(y, mo, d))
            return -1;
        memcpy(day->text, s, sizeof day->text);
        day->days = tsagg__days_from_civil(y, (unsigned)mo, (unsigned)d);
    }
    return compose_time(day->days, h, mi, sec, frac, offset, us);
}

int tstime_clf(const char *s, size_t len, int64_t *us)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* dd/Mon/yyyy:HH:MM:SS +hhmm */
    if (len != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' ||
        s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
        return -1;
    int mo = 0;
    for (int m = 0; m < 12; m++) {
        if (s[3] == months[3 * m] && s[4] == months[3 * m + 1] && s[5] == months[3 * m + 2]) {
            mo = m + 1;
            break;
        }
    }
    int oh = digits(s + 22, 2), om = digits(s + 24, 2);
    if (mo == 0 || oh < 0 || om < 0 || om > 59)
        return -1;
    int offset = (oh * 3600 + om * 60) * (s[21] == '-' ? -1 : 1);
    return compose(digits(s + 7, 4), mo, digits(s, 2), digits(s + 12, 2), digits(s + 15, 2),
                   digits(s + 18, 2), 0, offset, us);
}

int tstime_scale(int64_t v, enum ts_unit unit, int64_t *us)
{
    int64_t mul = unit == TS_UNIT_S ? 1000000 : unit == TS_UNIT_MS ? 1000 : 1;
    if (v > INT64_MAX / mul || v < INT64_MIN / mul)
        return -1;
    *us = v * mul;
    return 0;
}
