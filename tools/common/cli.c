/* cli.c - see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "civil.h"
#include "gagen.h"

void cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    return CLI_EXIT_USAGE;
}

int cli_print_version(const char *prog)
{
    printf("%s (libtsagg) %s\n", prog, tsagg_version());
    return CLI_EXIT_OK;
}

int cli_finish_stdout(const char *prog, int code)
{
    if ((fflush(stdout) != 0 || ferror(stdout)) && code != CLI_EXIT_FAILURE) {
        cli_error(prog, "stdout: write error: %s", strerror(errno ? errno : EIO));
        return CLI_EXIT_FAILURE;
    }
    return code;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

int64_t cli_now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* "24h", "7d", "30m": a positive count and a unit, into µs. */
static int parse_span(const char *s, int64_t *out_us)
{
    static const struct { char unit; int64_t us; } units[] = {
        {'s', 1000000LL}, {'m', 60000000LL}, {'h', 3600000000LL},
        {'d', 86400000000LL}, {'w', 604800000000LL},
    };
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || end[0] == '\0' || end[1] != '\0')
        return 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].unit == end[0]) {
            if (n > (unsigned long long)(INT64_MAX / 4 / units[i].us))
                return 0;
            *out_us = (int64_t)n * units[i].us;
            return 1;
        }
    }
    return 0;
}

int cli_parse_duration(const char *s, int64_t *out_us)
{
    return s && parse_span(s, out_us) && *out_us > 0;
}

int cli_parse_time(const char *s, int64_t now_us, int64_t *out_us)
{
    int64_t span;
    if (!s || !*s)
        return 0;
    if (strcmp(s, "now") == 0) {
        *out_us = now_us;
        return 1;
    }
    if (strncmp(s, "now", 3) == 0 && (s[3] == '-' || s[3] == '+')) {
        if (!parse_span(s + 4, &span))
            return 0;
        *out_us = s[3] == '-' ? now_us - span : now_us + span;
        return 1;
    }
    if (s[0] == '-') {
        if (!parse_span(s + 1, &span))
            return 0;
        *out_us = now_us - span;
        return 1;
    }
    if (s[0] == '@') {
        char *end;
        errno = 0;
        long long v = strtoll(s + 1, &end, 10);
        if (errno || end == s + 1 || *end || v > INT64_MAX / 1000000 ||
            v < INT64_MIN / 1000000)
            return 0;
        *out_us = (int64_t)v * 1000000;
        return 1;
    }
    return gagen_parse_ts(s, out_us) == 0;
}

size_t cli_format_time(int64_t ts_us, int offset_s, int frac, char *buf, size_t cap)
{
    int64_t local = ts_us + (int64_t)offset_s * 1000000;
    int64_t secs = local >= 0 ? local / 1000000 : -((-local + 999999) / 1000000);
    int64_t us = local - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    tsagg__civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, cap, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if (frac && us != 0)
        n += snprintf(buf + n, cap - (size_t)n, ".%06d", (int)us);
    if (offset_s == 0) {
        n += snprintf(buf + n, cap - (size_t)n, "Z");
    } else {
        int a = offset_s < 0 ? -offset_s : offset_s;
        n += snprintf(buf + n, cap - (size_t)n, "%c%02d:%02d", offset_s < 0 ? '-' : '+',
                      a / 3600, a / 60 % 60);
    }
    return (size_t)n;
}

int cli_open_store(const char *prog, const char *path, const tsagg_options *opts,
                   tsagg_store **out)
{
    char detail[512] = "";
    int rc = tsagg_store_open(path, opts, out, detail, sizeof detail);
    if (rc != 0)
        cli_error(prog, "%s: %s (%s)%s%s", path, tsagg_errname(rc), tsagg_strerror(rc),
                  detail[0] ? ": " : "", detail);
    return rc;
}

void cli_report(const char *prog, tsagg_store *st, const char *what, int rc)
{
    char detail[512] = "";
    if (st)
        tsagg_store_errmsg(st, detail, sizeof detail);
    cli_error(prog, "%s: %s (%s)%s%s", what, tsagg_errname(rc), tsagg_strerror(rc),
              detail[0] ? ": " : "", detail);
}

uint32_t cli_compact_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > TSAGG_COMPACT_THREADS_MAX ? TSAGG_COMPACT_THREADS_MAX : (uint32_t)n;
}

int cli_budget_arg(const char *prog, const char *arg, uint64_t *bytes)
{
    uint64_t mib;
    if (!cli_parse_u64(arg, &mib) || mib < 1 || mib > (1u << 20))
        return !cli_usage_error(prog, "--budget: expected MiB, 1..1048576, got '%s'", arg);
    *bytes = mib << 20;
    return 1;
}

int cli_threads_arg(const char *prog, const char *arg, uint32_t *threads)
{
    uint64_t n;
    if (!cli_parse_u64(arg, &n) || n < 1 || n > TSAGG_COMPACT_THREADS_MAX)
        return !cli_usage_error(prog, "--threads: expected 1..%d, got '%s'",
                                TSAGG_COMPACT_THREADS_MAX, arg);
    *threads = (uint32_t)n;
    return 1;
}

int cli_stderr_is_tty(void)
{
    return isatty(STDERR_FILENO);
}
