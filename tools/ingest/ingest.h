/*
 * ingest.h - what the parts of tsagg-ingest share: the field table built
 * from the store's schema, and the batch of events the parsers fill.
 *
 * A parser turns one input line into one event: evb_begin(), then the
 * fields (evb_set_* and evb_add_*), then evb_finish(). Any of them may
 * return -1 with the reason in evbuild.err ("field 'ts': expected ...");
 * the loader then drops the event and reports the line. Strings are
 * borrowed from the input buffer where they can be, or copied into the
 * batch's arena (evb_alloc) when they had to be unescaped: both stay valid
 * until the batch is appended (evb_reset).
 */
#ifndef INGEST_H
#define INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tsagg.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ingest_format { FORMAT_AUTO = 0, FORMAT_NDJSON, FORMAT_CSV, FORMAT_COMBINED };

/* Unit of integer timestamps (--ts-unit). */
enum ts_unit { TS_UNIT_S = 0, TS_UNIT_MS, TS_UNIT_US };

enum field_kind {
    FIELD_OTHER = 0, /* not declared: kept in the raw log as received */
    FIELD_TS,
    FIELD_MERCHANT,
    FIELD_EVENT,
    FIELD_USER,
    FIELD_SESSION,
    FIELD_ID,
    FIELD_DIMENSION,
    FIELD_MEASURE
};

/* A known field: a core field or one the schema declares. */
typedef struct field_info {
    const char *name; /* lives as long as the table */
    uint32_t len;
    uint16_t kind;    /* enum field_kind */
    uint16_t bit;     /* its bit in evbuild.seen, to catch repeated fields */
} field_info;

typedef struct fieldmap fieldmap;

/* The core fields plus the schema's dimensions and measures; NULL on ENOMEM. */
fieldmap *fieldmap_create(const tsagg_schema *schema);
void fieldmap_free(fieldmap *map);
/* The known field of that name, or NULL for an undeclared one. */
const field_info *fieldmap_find(const fieldmap *map, const char *name, size_t len);

#define EVB_MAX_EVENTS 4096
#define EVB_ERR_MAX 320
#define EVB_SEEN_WORDS 3 /* 6 core fields + 64 dimensions + 64 measures */

typedef struct evb_block evb_block;

/* The last date an RFC 3339 time gave (tstime.h): inputs come mostly in
 * time order, so most times have the date of the time before. */
typedef struct tstime_day {
    char text[10]; /* YYYY-MM-DD as given, a valid date; zeros: none yet */
    int64_t days;  /* since 1970-01-01 */
} tstime_day;

typedef struct evbuild {
    const fieldmap *fields;
    enum ts_unit ts_unit;

    /* The batch: events [0, n), their attributes in attrs [0, nattrs). */
    tsagg_event *evs;
    size_t n;
    tsagg_attr *attrs;
    size_t nattrs, attrs_cap;
    evb_block *blocks, *block; /* arena of copied strings; block: current */

    /* The event being built: evs[n], attributes from attrs[nattrs]. */
    tsagg_event *cur;
    tsagg_attr *cur_attrs;
    uint64_t seen[EVB_SEEN_WORDS];
    size_t cur_bytes; /* string bytes, against TSAGG_EVENT_BYTES_MAX */
    tstime_day ts_day;
    uint32_t others;  /* undeclared fields given (the parsers count them) */

    char err[EVB_ERR_MAX];
} evbuild;

int evb_init(evbuild *b, const fieldmap *fields, enum ts_unit unit);
void evb_destroy(evbuild *b);
/* Whether the batch must be appended before the next event is begun. */
int evb_full(const evbuild *b);
/* Forget the batch (after it was appended); frees nothing. */
void evb_reset(evbuild *b);
/* Take the last finished event back out of the batch, with its attributes
 * (its strings stay in the arena until evb_reset). No-op when empty. */
void evb_drop_last(evbuild *b);
/* n bytes of the arena, valid until evb_reset; NULL on ENOMEM. */
char *evb_alloc(evbuild *b, size_t n);

static inline void evb_begin(evbuild *b);
/* Mark a known field as given; -1 if it was given before. */
static inline int evb_mark(evbuild *b, const field_info *f);
/* Check the required fields and the limits; keep the event in the batch. */
int evb_finish(evbuild *b);
/* The same for an event whose strings (name, keys, values) the parser
 * found to be printable ASCII (0x20..0x7e): the library's check for NUL
 * bytes is skipped, the rest is made and reported alike. */
int evb_finish_printable(evbuild *b);

/* Time from text (RFC 3339) or an integer in the configured unit. */
int evb_set_ts_text(evbuild *b, const field_info *f, const char *s, size_t len);
int evb_set_ts_int(evbuild *b, const field_info *f, int64_t v);
/* The event name: 1..255 bytes. */
int evb_set_event(evbuild *b, const field_info *f, const char *s, size_t len);

/* Attributes: key is borrowed like the value. */
static inline int evb_add_str(evbuild *b, const char *key, size_t klen, const char *s,
                              size_t len);
static inline int evb_add_int(evbuild *b, const char *key, size_t klen, int64_t v);
int evb_add_f64(evbuild *b, const char *key, size_t klen, double v);

/*
 * Record why the line is rejected: "field 'KEY': expected EXPECTED, got GOT"
 * (GOT shown as given, shortened and with control bytes replaced). Returns
 * -1 so that parsers can `return evb_fail(...)`.
 */
int evb_fail(evbuild *b, const char *key, size_t klen, const char *expected,
             const char *got, size_t gotlen);
/* Same without a value: "field 'KEY': WHAT". */
int evb_fail_field(evbuild *b, const char *key, size_t klen, const char *what);
/* A reason that is not about one field. */
int evb_failf(evbuild *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A whole decimal integer: 1 on success. */
int parse_u64_text(const char *s, size_t len, uint64_t *out);
int parse_i64_text(const char *s, size_t len, int64_t *out);

/* ---- the calls every field makes, inline (a dozen a line) ---------------- */

static inline void evb_begin(evbuild *b)
{
    b->cur = &b->evs[b->n];
    memset(b->cur, 0, sizeof *b->cur);
    b->cur_attrs = &b->attrs[b->nattrs];
    b->cur->attrs = b->cur_attrs;
    memset(b->seen, 0, sizeof b->seen);
    b->cur_bytes = 0;
    b->others = 0;
    b->err[0] = '\0';
}

static inline int evb_mark(evbuild *b, const field_info *f)
{
    uint64_t bit = UINT64_C(1) << (f->bit & 63);
    if (b->seen[f->bit >> 6] & bit)
        return evb_fail_field(b, f->name, f->len, "given twice");
    b->seen[f->bit >> 6] |= bit;
    return 0;
}

/* NULL with the reason why a key of klen bytes cannot be added. */
tsagg_attr *evb_attr_refused(evbuild *b, size_t klen);

/* The next attribute of the event, or NULL with the reason. */
static inline tsagg_attr *evb_new_attr(evbuild *b, const char *key, size_t klen)
{
    if (klen == 0 || klen > TSAGG_NAME_MAX || b->cur->nattrs >= TSAGG_ATTRS_MAX)
        return evb_attr_refused(b, klen);
    tsagg_attr *a = &b->cur_attrs[b->cur->nattrs++];
    a->key = key;
    a->key_len = (uint32_t)klen;
    return a;
}

static inline int evb_add_str(evbuild *b, const char *key, size_t klen, const char *s,
                              size_t len)
{
    if (len > TSAGG_VALUE_MAX)
        return evb_fail_field(b, key, klen, "string longer than 1 MiB");
    tsagg_attr *a = evb_new_attr(b, key, klen);
    if (!a)
        return -1;
    a->type = TSAGG_STR;
    a->v.s.ptr = s;
    a->v.s.len = (uint32_t)len;
    b->cur_bytes += len;
    return 0;
}

static inline int evb_add_int(evbuild *b, const char *key, size_t klen, int64_t v)
{
    tsagg_attr *a = evb_new_attr(b, key, klen);
    if (!a)
        return -1;
    a->type = TSAGG_INT;
    a->v.i = v;
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif
