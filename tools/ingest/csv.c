/*
 * csv.c - see csv.h.
 *
 * CSV has no types, so a cell is read as its column asks: numbers for
 * merchant, id and the declared measures, a time for ts, text for the rest.
 * user and session cells that are decimal integers are taken as the 64-bit
 * ids themselves (as written by an export of hashed ids), other text is
 * hashed like an NDJSON string.
 */
#include "csv.h"
#include "numtext.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct csv_column {
    const field_info *field; /* NULL: undeclared */
    const char *name;        /* into csv_parser.names */
    size_t len;
} csv_column;

struct csv_parser {
    csv_column cols[TSAGG_ATTRS_MAX + 6];
    size_t ncols;
    int have_header;
    char *names; /* the header's names, copied */
};

csv_parser *csv_parser_create(void)
{
    return calloc(1, sizeof(csv_parser));
}

void csv_parser_free(csv_parser *c)
{
    if (c)
        free(c->names);
    free(c);
}

void csv_parser_reset(csv_parser *c)
{
    free(c->names);
    c->names = NULL;
    c->ncols = 0;
    c->have_header = 0;
}

/*
 * One field starting at p[i], by the single quoting rule of this file (RFC
 * 4180): a quote opens a quoted field only as the field's first byte;
 * inside it "" is a quote and a lone quote closes it; anywhere else a quote
 * is an ordinary byte. The record splitter and the cell reader both walk
 * fields with this, so that they never disagree on where a record ends.
 */
typedef struct csv_field {
    size_t end;       /* the ',' or '\n' after the field, or len */
    size_t close;     /* quoted: offset of the closing quote (len if none) */
    unsigned breaks;  /* line breaks inside the quotes */
    unsigned escaped; /* "" pairs inside the quotes */
    int quoted;
} csv_field;

static void scan_field(const char *p, size_t len, size_t i, csv_field *f)
{
    f->breaks = f->escaped = 0;
    f->quoted = i < len && p[i] == '"';
    f->close = len;
    if (f->quoted) {
        for (i++; i < len; i++) {
            if (p[i] == '\n') {
                f->breaks++;
            } else if (p[i] == '"') {
                if (i + 1 < len && p[i + 1] == '"') {
                    f->escaped++;
                    i++;
                } else {
                    f->close = i++;
                    break;
                }
            }
        }
        if (f->close == len) { /* the data ends inside the quotes */
            f->end = len;
            return;
        }
    }
    while (i < len && p[i] != ',' && p[i] != '\n')
        i++;
    f->end = i;
}

ssize_t csv_record_length(const char *p, size_t len, unsigned *breaks)
{
    *breaks = 0;
    const char *nl = memchr(p, '\n', len);
    size_t upto = nl ? (size_t)(nl - p) : len;
    if (!memchr(p, '"', upto)) /* the usual record: no quotes */
        return nl ? (ssize_t)upto : -1;
    unsigned inner = 0;
    for (size_t i = 0;;) {
        csv_field f;
        scan_field(p, len, i, &f);
        inner += f.breaks;
        if (f.end == len)
            return -1;
        if (p[f.end] == '\n') {
            *breaks = inner;
            return (ssize_t)f.end;
        }
        i = f.end + 1;
    }
}

/*
 * The next cell from *pos: its text in *s and *n, unquoted (into the arena
 * when it held ""). Returns 1 when a comma follows, 0 at the end of the
 * record, -1 for broken quoting.
 */
static int next_cell(const char *rec, size_t len, size_t *pos, evbuild *b, const char **s,
                     size_t *n)
{
    csv_field f;
    scan_field(rec, len, *pos, &f);
    if (!f.quoted) {
        *s = rec + *pos;
        *n = f.end - *pos;
    } else {
        size_t start = *pos + 1;
        if (f.close == len)
            return evb_failf(b, "unterminated quoted field");
        if (f.end != f.close + 1)
            return evb_failf(b, "text after the closing quote of a field (a quote that "
                                "begins a field opens quoting; double quotes inside it)");
        if (!f.escaped) {
            *s = rec + start;
            *n = f.close - start;
        } else {
            char *out = evb_alloc(b, f.close - start);
            if (!out)
                return evb_failf(b, "out of memory");
            size_t k = 0;
            for (size_t j = start; j < f.close; j++) {
                out[k++] = rec[j];
                if (rec[j] == '"')
                    j++;
            }
            *s = out;
            *n = k;
        }
    }
    *pos = f.end + 1;
    return f.end < len; /* rec[f.end] is the comma */
}

static int read_header(csv_parser *c, const char *rec, size_t len, evbuild *b)
{
    c->names = malloc(len + 1);
    if (!c->names)
        return evb_failf(b, "out of memory"), CSV_BAD_HEADER;
    char *out = c->names;
    size_t pos = 0;
    int more = 1;
    while (more) {
        const char *s;
        size_t n;
        if ((more = next_cell(rec, len, &pos, b, &s, &n)) < 0)
            return CSV_BAD_HEADER;
        if (c->ncols == sizeof c->cols / sizeof c->cols[0])
            return evb_failf(b, "header: more than %zu columns", c->ncols), CSV_BAD_HEADER;
        if (n == 0 || n > TSAGG_NAME_MAX)
            return evb_failf(b, "header: column %zu: name of %zu bytes (1..%d allowed)",
                             c->ncols + 1, n, TSAGG_NAME_MAX), CSV_BAD_HEADER;
        for (size_t k = 0; k < c->ncols; k++)
            if (c->cols[k].len == n && memcmp(c->cols[k].name, s, n) == 0)
                return evb_failf(b, "header: column '%.*s' given twice", (int)n, s),
                       CSV_BAD_HEADER;
        memcpy(out, s, n);
        csv_column *col = &c->cols[c->ncols++];
        col->name = out;
        col->len = n;
        col->field = fieldmap_find(b->fields, out, n);
        out += n;
    }
    static const char *const required[] = {"ts", "merchant", "event"};
    for (unsigned k = 0; k < 3; k++) {
        size_t i = 0;
        while (i < c->ncols && !(c->cols[i].field && c->cols[i].field->bit == k))
            i++;
        if (i == c->ncols)
            return evb_failf(b, "header: no '%s' column (ts, merchant and event are required)",
                             required[k]), CSV_BAD_HEADER;
    }
    c->have_header = 1;
    return CSV_HEADER;
}

/* A measure cell: an integer, or a finite decimal number. */
static int set_measure(evbuild *b, const field_info *f, const char *s, size_t n)
{
    int64_t i;
    if (parse_i64_text(s, n, &i))
        return evb_add_int(b, f->name, f->len, i);
    char buf[64];
    size_t k = 0;
    while (k < n && strchr("0123456789+-.eE", s[k]) && s[k])
        k++;
    if (n < sizeof buf && k == n) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        char *end;
        double v = tsagg__num_strtod(buf, &end);
        if (end == buf + n && isfinite(v))
            return evb_add_f64(b, f->name, f->len, v);
    }
    return evb_fail(b, f->name, f->len, "number", s, n);
}

static int set_cell(evbuild *b, const csv_column *col, const char *s, size_t n)
{
    const field_info *f = col->field;
    uint64_t u;
    int64_t i;
    if (!f) {
        b->others++;
        return evb_add_str(b, col->name, col->len, s, n);
    }
    if (evb_mark(b, f))
        return -1;
    tsagg_event *ev = b->cur;
    switch (f->kind) {
    case FIELD_TS:
        if (parse_i64_text(s, n, &i))
            return evb_set_ts_int(b, f, i);
        return evb_set_ts_text(b, f, s, n);
    case FIELD_MERCHANT:
        if (!parse_u64_text(s, n, &ev->merchant))
            return evb_fail(b, f->name, f->len, "unsigned integer", s, n);
        return 0;
    case FIELD_EVENT:
        return evb_set_event(b, f, s, n);
    case FIELD_USER:
    case FIELD_SESSION:
        if (!parse_u64_text(s, n, &u))
            u = tsagg_hash_id(s, n);
        if (f->kind == FIELD_USER)
            ev->user = u;
        else
            ev->session = u;
        return 0;
    case FIELD_ID:
        if (!parse_u64_text(s, n, &ev->id))
            return evb_fail(b, f->name, f->len, "unsigned integer", s, n);
        ev->flags |= TSAGG_EVENT_HAS_ID;
        return 0;
    case FIELD_MEASURE:
        return set_measure(b, f, s, n);
    default: /* a dimension */
        return evb_add_str(b, f->name, f->len, s, n);
    }
}

int csv_parse(csv_parser *c, const char *rec, size_t len, evbuild *b)
{
    if (!c->have_header) {
        evb_begin(b);
        return read_header(c, rec, len, b);
    }
    evb_begin(b);
    size_t pos = 0, ncells = 0;
    int more = 1;
    while (more) {
        const char *s;
        size_t n;
        if ((more = next_cell(rec, len, &pos, b, &s, &n)) < 0)
            return -1;
        if (ncells == c->ncols) { /* one too many: count the rest for the message */
            size_t total = ncells + 1;
            while (more > 0 && (more = next_cell(rec, len, &pos, b, &s, &n)) >= 0)
                total++;
            return evb_failf(b, "%zu fields, the header has %zu", total, c->ncols);
        }
        if (n > 0 && set_cell(b, &c->cols[ncells], s, n))
            return -1;
        ncells++;
    }
    if (ncells != c->ncols)
        return evb_failf(b, "%zu fields, the header has %zu", ncells, c->ncols);
    return evb_finish(b);
}
