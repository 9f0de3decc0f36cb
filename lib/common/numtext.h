/*
 * numtext.h - numbers as text, the same whatever locale the host has set.
 *
 * strtod() and printf() read and write the decimal point of the process's
 * locale: after a host's setlocale(LC_ALL, "de_DE.UTF-8") a measure sent as
 * "12.5" would not parse and a float dimension would be stored as "2,5".
 * These run them in the C locale (uselocale(): the calling thread only, for
 * the length of the call), so that numbers on disk, in filters and in
 * answers never depend on the locale. libc only: the tools compile it too.
 */
#ifndef TSAGG_NUMTEXT_H
#define TSAGG_NUMTEXT_H

#include <stddef.h>

/* Room for "%.17g" of any double or "%" PRId64 of any int64, with the NUL. */
#define TSAGG__NUM_TEXT_MAX 32

/* snprintf() in the C locale. */
int tsagg__num_format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strtod() in the C locale. */
double tsagg__num_strtod(const char *s, char **end);

/* The whole of s[0..len) read as strtod() reads it in the C locale: 0 with
 * *out set, or -1 when it is empty, longer than 63 bytes or not entirely a
 * number. */
int tsagg__num_parse(const char *s, size_t len, double *out);

#endif
