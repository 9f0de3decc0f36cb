/* numtext.c - see numtext.h. */
#include "numtext.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Switch the calling thread to the C locale; *old gets what to restore.
 * newlocale() of "C" allocates nothing in glibc and musl (it hands out the
 * C library's own object). Should it fail, the call runs in the thread's
 * locale as it is, which is the C locale unless the host changed it.
 */
static locale_t c_locale_begin(locale_t *old)
{
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    *old = c ? uselocale(c) : (locale_t)0;
    return c;
}

static void c_locale_end(locale_t c, locale_t old)
{
    if (!c)
        return;
    uselocale(old);
    freelocale(c);
}

int tsagg__num_format(char *buf, size_t cap, const char *fmt, ...)
{
    locale_t old, c = c_locale_begin(&old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    c_locale_end(c, old);
    return n;
}

double tsagg__num_strtod(const char *s, char **end)
{
    locale_t old, c = c_locale_begin(&old);
    double v = strtod(s, end);
    c_locale_end(c, old);
    return v;
}

int tsagg__num_parse(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    double v = tsagg__num_strtod(buf, &end);
    if (*end != 0)
        return -1;
    *out = v;
    return 0;
}
