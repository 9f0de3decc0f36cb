/*
 * output.c - a query result as a table (people), CSV or JSON (programs).
 *
 * Columns, in every format: "time" (the bucket start) unless the query
 * groups over one total bucket, then the group-by dimension when there is
 * one (named "group_<DIM>" when DIM's name is another column's), then one
 * column per metric. docs/tsagg-query.md states the exact forms;
 * tests/tools/query*.sh hold them to it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numtext.h"
#include "qtool.h"

typedef struct view {
    const qt_args *a;
    const tsagg_result *r;
    size_t rows;
    int has_time, has_group;
    char group_col[8 + TSAGG_NAME_MAX]; /* the group-by column's name */
    const int64_t *times;
    const double *values[TSAGG_QUERY_MAX_METRICS];
} view;

static void view_init(view *v, const qt_args *a, const tsagg_result *r)
{
    v->a = a;
    v->r = r;
    v->rows = tsagg_result_rows(r);
    v->has_group = a->group_by != NULL;
    v->has_time = !(v->has_group && a->bucket == TSAGG_BUCKET_TOTAL);
    v->times = tsagg_result_times(r);
    for (uint32_t m = 0; m < a->nmetrics; m++)
        v->values[m] = tsagg_result_values(r, m);
    /* A dimension may be named "time" or "count": its column must not
     * share a name with another (a header is read by name). */
    int clash = v->has_group && v->has_time && strcmp(a->group_by, "time") == 0;
    for (uint32_t m = 0; v->has_group && m < a->nmetrics; m++)
        clash |= strcmp(a->group_by, a->colnames[m]) == 0;
    snprintf(v->group_col, sizeof v->group_col, "%s%s", clash ? "group_" : "",
             v->has_group ? a->group_by : "");
}

/* ---- numbers -------------------------------------------------------------- */

/* 15 significant digits: all a double holds for certain. The last bits
 * of a sum depend on the order of the additions, so printing them would
 * show noise ("3912.2499999999995" for 3912.25). */
static size_t fmt_sig15(double x, char *buf, size_t cap)
{
    return (size_t)tsagg__num_format(buf, cap, "%.15g", x);
}

/* A metric value for programs: whole numbers for counts, 15 significant
 * digits for the rest; "" for no value (min/max/avg of nothing: NaN);
 * "inf" or "-inf" for a sum that overflowed the double range. */
static size_t fmt_value(uint32_t kind, double x, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (isnan(x))
        return 0;
    if (isinf(x))
        return (size_t)snprintf(buf, cap, "%s", x < 0 ? "-inf" : "inf");
    if (qt_metric_is_count(kind))
        return (size_t)tsagg__num_format(buf, cap, "%.0f", x);
    return fmt_sig15(x, buf, cap);
}

/* Thousands separators in the integer digits of a formatted number. */
static size_t group_digits(const char *in, char *buf, size_t cap)
{
    size_t lead = (in[0] == '-'), digits = 0, len = 0;
    while (in[lead + digits] >= '0' && in[lead + digits] <= '9')
        digits++;
    for (size_t i = 0; in[i] && len + 2 < cap; i++) {
        buf[len++] = in[i];
        size_t pos = i + 1 - lead; /* digits written so far */
        if (i >= lead && pos < digits && (digits - pos) % 3 == 0)
            buf[len++] = ',';
    }
    buf[len] = '\0';
    return len;
}

/* A metric value for people: 1,234 and 1,234.57; "-" for no value. */
static size_t fmt_human(uint32_t kind, double x, char *buf, size_t cap)
{
    char tmp[64];
    if (isnan(x))
        return (size_t)snprintf(buf, cap, "-");
    if (isinf(x))
        return (size_t)snprintf(buf, cap, "%s", x < 0 ? "-inf" : "inf");
    if (qt_metric_is_count(kind))
        tsagg__num_format(tmp, sizeof tmp, "%.0f", x);
    else if (fabs(x) < 1e15 && (x == 0 || fabs(x) >= 0.01))
        tsagg__num_format(tmp, sizeof tmp, "%.2f", x);
    else
        return (size_t)tsagg__num_format(buf, cap, "%.6g", x);
    return group_digits(tmp, buf, cap);
}

/* ---- strings -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    unsigned lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F; /* no surrogates */
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (size_t i = 1; i < n; i++) {
        unsigned b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
    }
    return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD so that the
 * document stays valid whatever the events held. */
static void json_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', out);
    while (*p) {
        size_t n = utf8_seq(p);
        if (n == 0) {
            fputs("\\ufffd", out);
            p++;
        } else if (*p == '"' || *p == '\\') {
            putc('\\', out);
            putc(*p++, out);
        } else if (*p < 0x20) {
            static const char short_esc[] = "btn\0fr"; /* \b \t \n _ \f \r */
            if (*p >= 8 && *p <= 13 && short_esc[*p - 8])
                fprintf(out, "\\%c", short_esc[*p - 8]);
            else
                fprintf(out, "\\u%04x", *p);
            p++;
        } else {
            fwrite(p, 1, n, out);
            p += n;
        }
    }
    putc('"', out);
}

/* A CSV field, quoted as RFC 4180 says when it holds , " CR or LF. */
static void csv_field(FILE *out, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, out);
        return;
    }
    putc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            putc('"', out);
        putc(*s, out);
    }
    putc('"', out);
}

/* ---- CSV ------------------------------------------------------------------ */

static void write_csv(FILE *out, const view *v)
{
    const qt_args *a = v->a;
    char buf[64];
    int first = 1;
    if (v->has_time) {
        fputs("time", out);
        first = 0;
    }
    if (v->has_group) {
        fprintf(out, "%s%s", first ? "" : ",", v->group_col);
        first = 0;
    }
    for (uint32_t m = 0; m < a->nmetrics; m++, first = 0)
        fprintf(out, "%s%s", first ? "" : ",", a->colnames[m]);
    putc('\n', out);
    for (size_t i = 0; i < v->rows; i++) {
        first = 1;
        if (v->has_time) {
            qt_format_time(v->times[i], buf, sizeof buf);
            fputs(buf, out);
            first = 0;
        }
        if (v->has_group) {
            if (!first)
                putc(',', out);
            csv_field(out, tsagg_result_group(v->r, i));
            first = 0;
        }
        for (uint32_t m = 0; m < a->nmetrics; m++, first = 0) {
            fmt_value(a->metrics[m].kind, v->values[m][i], buf, sizeof buf);
            if (!first)
                putc(',', out);
            fputs(buf, out);
        }
        putc('\n', out);
    }
}

/* ---- JSON ----------------------------------------------------------------- */

static void write_json(FILE *out, const view *v)
{
    const qt_args *a = v->a;
    char buf[64];
    fputs("{\"merchant\":", out);
    if (a->all_merchants)
        fputs("null", out);
    else
        fprintf(out, "%" PRIu64, a->merchant);
    fprintf(out, ",\"all_merchants\":%s", a->all_merchants ? "true" : "false");
    qt_format_time(a->from, buf, sizeof buf);
    fprintf(out, ",\"from\":\"%s\"", buf);
    qt_format_time(a->to, buf, sizeof buf);
    fprintf(out, ",\"to\":\"%s\",\"bucket\":\"%s\",\"tz\":", buf, qt_bucket_name(a->bucket));
    json_string(out, a->tz ? a->tz : "UTC");
    fputs(",\"group_by\":", out);
    if (a->group_by)
        json_string(out, a->group_by);
    else
        fputs("null", out);
    fprintf(out, ",\"exact\":%s,\"approximate\":%s,\"columns\":[", a->exact ? "true" : "false",
            tsagg_result_approximate(v->r) ? "true" : "false");
    int first = 1;
    if (v->has_time) {
        fputs("\"time\"", out);
        first = 0;
    }
    if (v->has_group) {
        if (!first)
            putc(',', out);
        json_string(out, v->group_col);
        first = 0;
    }
    for (uint32_t m = 0; m < a->nmetrics; m++, first = 0) {
        if (!first)
            putc(',', out);
        json_string(out, a->colnames[m]);
    }
    fputs("],\"rows\":[", out);
    for (size_t i = 0; i < v->rows; i++) {
        fputs(i ? ",\n[" : "\n[", out);
        first = 1;
        if (v->has_time) {
            qt_format_time(v->times[i], buf, sizeof buf);
            fprintf(out, "\"%s\"", buf);
            first = 0;
        }
        if (v->has_group) {
            if (!first)
                putc(',', out);
            json_string(out, tsagg_result_group(v->r, i));
            first = 0;
        }
        for (uint32_t m = 0; m < a->nmetrics; m++, first = 0) {
            double x = v->values[m][i];
            if (!first)
                putc(',', out);
            /* JSON has no NaN or infinity: no value is null, and an
             * overflowed sum the string the other formats print. */
            if (isnan(x))
                fputs("null", out);
            else if (isinf(x))
                fputs(x < 0 ? "\"-inf\"" : "\"inf\"", out);
            else {
                fmt_value(a->metrics[m].kind, x, buf, sizeof buf);
                fputs(buf, out);
            }
        }
        putc(']', out);
    }
    fputs(v->rows ? "\n]}\n" : "]}\n", out);
}

/* ---- table ---------------------------------------------------------------- */

/* Columns of the table: the time, the group key, then the metrics. */
enum { COL_TIME = -2, COL_GROUP = -1 };

#define TABLE_COLS (TSAGG_QUERY_MAX_METRICS + 2)

/* The code point of a valid UTF-8 sequence of n bytes. */
static uint32_t utf8_code(const unsigned char *p, size_t n)
{
    if (n == 1)
        return p[0];
    uint32_t c = p[0] & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++)
        c = c << 6 | (p[i] & 0x3Fu);
    return c;
}

/* Characters that would move the cursor, end the line or reorder the text
 * around them on a terminal: C0 and C1 controls, DEL, the line and
 * paragraph separators, and the bidirectional marks, embeddings, overrides
 * and isolates. */
static int unsafe_code(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0x2028 || c == 0x2029 ||
           (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E ||
           c == 0x200F || c == 0x061C;
}

/* Columns a code point takes on a terminal: 0 for combining marks and
 * zero-width characters, 2 for East Asian wide and full-width characters
 * and emoji, 1 otherwise (a table of the common blocks, not all of
 * Unicode's). */
static size_t code_width(uint32_t c)
{
    static const uint32_t zero[][2] = {
        {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
        {0x064B, 0x065F}, {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E},
        {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200D}, {0x2060, 0x2064},
        {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
        {0xE0100, 0xE01EF},
    };
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC},
        {0x25FD, 0x25FE}, {0x2614, 0x2615}, {0x2648, 0x2653}, {0x26AA, 0x26AB},
        {0x26BD, 0x26BE}, {0x26C4, 0x26C5}, {0x26F2, 0x26F5}, {0x2705, 0x2705},
        {0x270A, 0x270B}, {0x274C, 0x274C}, {0x2753, 0x2755}, {0x2795, 0x2797},
        {0x2B1B, 0x2B1C}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF}, {0xA000, 0xA4CF}, {0xA960, 0xA97F}, {0xAC00, 0xD7A3},
        {0xF900, 0xFAFF}, {0xFE10, 0xFE19}, {0xFE30, 0xFE6F}, {0xFF00, 0xFF60},
        {0xFFE0, 0xFFE6}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E},
        {0x1F191, 0x1F19A}, {0x1F200, 0x1F251}, {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF},
        {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x3FFFD},
    };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (c >= zero[i][0] && c <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

/* A group key for a terminal: bytes that are not UTF-8 and characters
 * that would disturb the screen (unsafe_code) become '?', "" is shown as
 * "(empty)". Returns the text and its width in terminal columns. */
static const char *table_key(const char *key, char **scratch, size_t *width)
{
    size_t n = strlen(key), w = 0, len = 0;
    if (n == 0) {
        *width = 7;
        return "(empty)";
    }
    char *s = realloc(*scratch, n + 1);
    if (!s) {
        *width = n;
        return key;
    }
    *scratch = s;
    const unsigned char *p = (const unsigned char *)key;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i);
        uint32_t c = k ? utf8_code(p + i, k) : 0;
        if (k == 0 || unsafe_code(c)) {
            s[len++] = '?';
            w++;
            i += k ? k : 1;
            continue;
        }
        memcpy(s + len, p + i, k);
        len += k;
        w += code_width(c);
        i += k;
    }
    s[len] = '\0';
    *width = w;
    return s;
}

/* The text of one cell (row SIZE_MAX: the header) and its width. */
static const char *table_cell(const view *v, size_t row, int col, char *buf, size_t cap,
                              char **scratch, size_t *width)
{
    const char *s = buf;
    if (row == SIZE_MAX) {
        s = col == COL_TIME ? "time" : col == COL_GROUP ? v->group_col
                                                         : v->a->colnames[col];
    } else if (col == COL_TIME) {
        qt_format_time(v->times[row], buf, cap);
    } else if (col == COL_GROUP) {
        return table_key(tsagg_result_group(v->r, row), scratch, width);
    } else {
        fmt_human(v->a->metrics[col].kind, v->values[col][row], buf, cap);
    }
    *width = strlen(s);
    return s;
}

typedef struct table {
    int cols[TABLE_COLS];
    size_t widths[TABLE_COLS], ncols;
    char buf[64];
    char *scratch; /* for table_key */
} table;

static void table_row(FILE *out, const view *v, table *t, size_t row)
{
    for (size_t c = 0; c < t->ncols; c++) {
        size_t w;
        const char *s = table_cell(v, row, t->cols[c], t->buf, sizeof t->buf, &t->scratch, &w);
        int left = t->cols[c] < 0; /* text left, numbers right */
        size_t pad = t->widths[c] - w;
        if (c)
            fputs("  ", out);
        if (!left)
            fprintf(out, "%*s", (int)pad, "");
        fputs(s, out);
        if (left && c + 1 < t->ncols)
            fprintf(out, "%*s", (int)pad, "");
    }
    putc('\n', out);
}

static void write_table(FILE *out, const view *v)
{
    table t = {.ncols = 0, .scratch = NULL};
    if (v->has_time)
        t.cols[t.ncols++] = COL_TIME;
    if (v->has_group)
        t.cols[t.ncols++] = COL_GROUP;
    for (uint32_t m = 0; m < v->a->nmetrics; m++)
        t.cols[t.ncols++] = (int)m;

    /* Two passes, formatting twice rather than holding every cell. */
    for (size_t c = 0; c < t.ncols; c++) {
        size_t w;
        table_cell(v, SIZE_MAX, t.cols[c], t.buf, sizeof t.buf, &t.scratch, &t.widths[c]);
        for (size_t i = 0; i < v->rows; i++) {
            table_cell(v, i, t.cols[c], t.buf, sizeof t.buf, &t.scratch, &w);
            if (w > t.widths[c])
                t.widths[c] = w;
        }
    }
    table_row(out, v, &t, SIZE_MAX);
    for (size_t c = 0; c < t.ncols; c++) {
        fputs(c ? "  " : "", out);
        for (size_t k = 0; k < t.widths[c]; k++)
            putc('-', out);
    }
    putc('\n', out);
    for (size_t i = 0; i < v->rows; i++)
        table_row(out, v, &t, i);
    free(t.scratch);
    if (v->rows == 0)
        fputs("(no rows)\n", out);
    if (tsagg_result_approximate(v->r))
        fputs("\nusers and sessions are estimates (HyperLogLog, standard error 0.81%); "
              "--exact counts them exactly\n",
              out);
}

int qt_write_result(FILE *out, const qt_args *a, const tsagg_result *r)
{
    view v;
    view_init(&v, a, r);
    switch (a->format) {
    case QT_CSV:
        write_csv(out, &v);
        break;
    case QT_JSON:
        write_json(out, &v);
        break;
    default:
        write_table(out, &v);
        break;
    }
    if (fflush(out) != 0 || ferror(out)) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
}
