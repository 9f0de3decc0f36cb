/*
 * ingest_fuzz.c - see ingest_fuzz.h.
 *
 * The input is copied into a buffer with NDJSON_PADDING zero bytes after
 * it, as the loader's read buffer has, so that ASan still catches a read
 * past that padding. The schema, the field table and the event batch are
 * made once and kept (reset between inputs, like the loader's batch after
 * an append); the parsers, which hold state across records (the CSV header,
 * the sessions of an access log), are new for every input.
 *
 * An NDJSON line the parser accepts must be valid JSON (RFC 8259, UTF-8):
 * json_valid() below is a plain recursive-descent checker, independent of
 * simdjson, used as the reference. And every line must give the same
 * event, or the same refusal and message, through simdjson alone
 * (ndjson_parse_general) as through the fast path that goes first.
 */
#include "ingest_fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "useragent.h"

#define UA_SCAN_MAX 1024 /* the part of a user agent that ua_classify reads */

typedef struct fuzz_state {
    tsagg_schema *schema;
    fieldmap *fields;
    evbuild b;
    evbuild general; /* NDJSON lines again, through simdjson alone */
} fuzz_state;

static fuzz_state *state(void)
{
    static fuzz_state st;
    static int ready;
    if (!ready) {
        if (tsagg_schema_create_default(&st.schema) != 0 ||
            !(st.fields = fieldmap_create(st.schema)) ||
            evb_init(&st.b, st.fields, TS_UNIT_MS) != 0 ||
            evb_init(&st.general, st.fields, TS_UNIT_MS) != 0)
            abort();
        ready = 1;
    }
    return &st;
}

/* ---- the JSON reference ---------------------------------------------------- */

#define JSON_DEPTH_MAX 1100 /* simdjson stops at 1024 */

typedef struct json_in {
    const unsigned char *p, *end;
} json_in;

static void json_ws(json_in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

static int json_lit(json_in *in, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
        return 0;
    in->p += n;
    return 1;
}

static int json_digits(json_in *in)
{
    const unsigned char *from = in->p;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
        in->p++;
    return in->p > from;
}

static int json_number(json_in *in)
{
    if (in->p < in->end && *in->p == '-')
        in->p++;
    if (in->p < in->end && *in->p == '0')
        in->p++;
    else if (!json_digits(in))
        return 0;
    if (in->p < in->end && *in->p == '.') {
        in->p++;
        if (!json_digits(in))
            return 0;
    }
    if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
        in->p++;
        if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
            in->p++;
        if (!json_digits(in))
            return 0;
    }
    return 1;
}

/* One UTF-8 sequence of 2..4 bytes at in->p (lead byte c): no overlong
 * forms, no surrogates, nothing past U+10FFFF. */
static int json_utf8(json_in *in, unsigned c)
{
    unsigned n, min, cp;
    if (c >= 0xc2 && c <= 0xdf)
        n = 1, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 2, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 3, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(in->end - in->p) < n + 1)
        return 0;
    for (unsigned k = 1; k <= n; k++) {
        if ((in->p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (in->p[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    in->p += n + 1;
    return 1;
}

static int json_string(json_in *in)
{
    in->p++; /* the opening quote */
    while (in->p < in->end) {
        unsigned c = *in->p;
        if (c == '"') {
            in->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c >= 0x80) {
            if (!json_utf8(in, c))
                return 0;
            continue;
        }
        in->p++;
        if (c != '\\')
            continue;
        if (in->p == in->end)
            return 0;
        c = *in->p++;
        if (c == 'u') {
            for (int k = 0; k < 4; k++, in->p++)
                if (in->p == in->end || !strchr("0123456789abcdefABCDEF", *in->p) || !*in->p)
                    return 0;
        } else if (!strchr("\"\\/bfnrt", (int)c) || c == 0) {
            return 0;
        }
    }
    return 0;
}

static int json_value(json_in *in, int depth)
{
    if (depth > JSON_DEPTH_MAX || in->p == in->end)
        return 0;
    unsigned char open = *in->p;
    if (open == '"')
        return json_string(in);
    if (open == 't')
        return json_lit(in, "true");
    if (open == 'f')
        return json_lit(in, "false");
    if (open == 'n')
        return json_lit(in, "null");
    if (open != '{' && open != '[')
        return json_number(in);
    unsigned char close = open == '{' ? '}' : ']';
    in->p++;
    json_ws(in);
    if (in->p < in->end && *in->p == close) {
        in->p++;
        return 1;
    }
    for (;;) {
        if (open == '{') {
            if (in->p == in->end || *in->p != '"' || !json_string(in))
                return 0;
            json_ws(in);
            if (in->p == in->end || *in->p++ != ':')
                return 0;
            json_ws(in);
        }
        if (!json_value(in, depth + 1))
            return 0;
        json_ws(in);
        if (in->p == in->end)
            return 0;
        unsigned char c = *in->p++;
        if (c == close)
            return 1;
        if (c != ',')
            return 0;
        json_ws(in);
    }
}

/* Whether s[0, len) is one JSON text (RFC 8259). */
static int json_valid(const char *s, size_t len)
{
    json_in in = {(const unsigned char *)s, (const unsigned char *)s + len};
    json_ws(&in);
    if (!json_value(&in, 0))
        return 0;
    json_ws(&in);
    return in.p == in.end;
}

/* ---- the NDJSON fast path against simdjson ------------------------------------ */

static int same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int same_event(const tsagg_event *x, const tsagg_event *y)
{
    if (x->ts != y->ts || x->merchant != y->merchant || x->user != y->user ||
        x->session != y->session || x->id != y->id || x->flags != y->flags ||
        x->nattrs != y->nattrs || !same_bytes(x->event, x->event_len, y->event, y->event_len))
        return 0;
    for (uint32_t k = 0; k < x->nattrs; k++) {
        const tsagg_attr *a = &x->attrs[k], *b = &y->attrs[k];
        if (a->type != b->type || !same_bytes(a->key, a->key_len, b->key, b->key_len))
            return 0;
        if (a->type == TSAGG_STR ? !same_bytes(a->v.s.ptr, a->v.s.len, b->v.s.ptr, b->v.s.len)
            : a->type == TSAGG_INT ? a->v.i != b->v.i
                                   : memcmp(&a->v.f, &b->v.f, sizeof a->v.f) != 0)
            return 0;
    }
    return 1;
}

/* ndjson_parse (the fast path first) gave rc and, when 0, the last event
 * of b: simdjson alone must give the same verdict, message and event. */
static void check_general(fuzz_state *st, ndjson_parser *p, const char *rec, size_t len, int rc)
{
    if (len && rec[len - 1] == '\r')
        len--; /* as ingest_parse_record hands it over */
    evbuild *g = &st->general;
    g->ts_unit = st->b.ts_unit;
    evb_reset(g);
    int grc = ndjson_parse_general(p, rec, len, g);
    if ((grc == 0) != (rc == 0))
        abort(); /* one path took a line the other refused */
    if (rc != 0 && strcmp(g->err, st->b.err) != 0)
        abort(); /* a refused line is explained by simdjson's path */
    if (rc == 0 && !same_event(&st->b.evs[st->b.n - 1], &g->evs[0]))
        abort();
}

/* ---- the run ---------------------------------------------------------------- */

static volatile uint64_t sink;

static void touch(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++)
        h = h * 31 + s[i];
    sink += h;
}

/* Read every byte the batch points to (ASan checks the pointers), then
 * forget the batch as an append would. */
static void drain(evbuild *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const tsagg_event *ev = &b->evs[i];
        if (tsagg_event_validate(ev) != 0)
            abort(); /* evb_finish accepted it */
        touch(ev->event, ev->event_len);
        for (uint32_t k = 0; k < ev->nattrs; k++) {
            const tsagg_attr *a = &ev->attrs[k];
            touch(a->key, a->key_len);
            if (a->type == TSAGG_STR)
                touch(a->v.s.ptr, a->v.s.len);
        }
    }
    evb_reset(b);
}

/* The classifier on its own, on every record: it sees any bytes. */
static void classify(const char *rec, size_t len)
{
    ua_info ui;
    ua_classify(rec, len, &ui);
    if (!ui.device || !ui.os || !ui.browser)
        abort();
    size_t scanned = len < UA_SCAN_MAX ? len : UA_SCAN_MAX;
    if (ui.browser >= rec && ui.browser < rec + len &&
        (size_t)(ui.browser - rec) + ui.browser_len > scanned)
        abort(); /* a crawler's name lies inside what was read */
    touch(ui.browser, ui.browser_len);
    (void)accesslog_is_asset(rec, len);
}

int ingest_fuzz_run(enum ingest_format format, const uint8_t *data, size_t size)
{
    fuzz_state *st = state();
    evbuild *b = &st->b;
    b->ts_unit = (enum ts_unit)(size % 3);

    char *buf = malloc(size + NDJSON_PADDING);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    memset(buf + size, 0, NDJSON_PADDING);

    ingest_parsers ps = {NULL, NULL, NULL};
    if ((format == FORMAT_NDJSON && !(ps.ndjson = ndjson_parser_create())) ||
        (format == FORMAT_CSV && !(ps.csv = csv_parser_create())) ||
        (format == FORMAT_COMBINED && !(ps.alog = accesslog_parser_create(7))))
        abort();

    size_t pos = 0;
    while (pos < size) {
        unsigned breaks;
        const char *rec = buf + pos;
        ssize_t n = ingest_record_length(format, rec, size - pos, 1, &breaks);
        if (n < 0)
            abort(); /* at the end of the data every record ends */
        size_t len = (size_t)n;
        unsigned newlines = 0;
        for (const char *nl = rec; (nl = memchr(nl, '\n', len - (size_t)(nl - rec))); nl++)
            newlines++;
        if ((len < size - pos && rec[len] != '\n') || newlines != breaks)
            abort(); /* a record ends at its first newline outside CSV quotes */
        if (evb_full(b))
            drain(b);
        size_t before = b->n;
        int rc = ingest_parse_record(&ps, format, rec, len, b);
        if (rc == -1 || rc == CSV_BAD_HEADER) {
            if (b->err[0] == '\0' || !memchr(b->err, '\0', sizeof b->err))
                abort(); /* a rejected record says why */
        } else if (rc != 0 && rc != RECORD_BLANK && rc != CSV_HEADER) {
            abort();
        }
        if (b->n != before + (rc == 0))
            abort(); /* one event per accepted record, none otherwise */
        if (rc == 0 && format == FORMAT_NDJSON && !json_valid(rec, len))
            abort(); /* an accepted line is valid JSON */
        if (format == FORMAT_NDJSON && rc != RECORD_BLANK)
            check_general(st, ps.ndjson, rec, len, rc);
        if (format == FORMAT_COMBINED)
            classify(rec, len);
        if (rc == CSV_BAD_HEADER)
            break; /* the loader skips the rest of the file */
        pos += len + (len < size - pos);
    }
    drain(b);

    ndjson_parser_free(ps.ndjson);
    csv_parser_free(ps.csv);
    accesslog_parser_free(ps.alog);
    free(buf);
    return 0;
}
