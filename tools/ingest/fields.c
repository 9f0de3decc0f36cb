/*
 * fields.c - the field table and the event batch (ingest.h).
 *
 * Every input line looks its keys up here, so the table is a small open
 * addressing hash of the names, and the batch is preallocated: building an
 * event allocates nothing unless a string had to be unescaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "tstime.h"

#define MAP_SLOTS 512 /* power of two, over twice the most fields */
#define ATTRS_PER_EVENT_AVG 16
#define BLOCK_MIN (1u << 20)
#define GOT_MAX 60 /* bytes of a rejected value shown */

struct fieldmap {
    field_info fields[6 + 2 * TSAGG_SCHEMA_MAX_FIELDS];
    size_t count;
    int16_t slots[MAP_SLOTS]; /* index into fields, -1 empty */
};

struct evb_block {
    evb_block *next;
    size_t used, cap;
    char data[];
};

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void map_add(fieldmap *m, const char *name, enum field_kind kind)
{
    field_info *f = &m->fields[m->count];
    f->name = name;
    f->len = (uint32_t)strlen(name);
    f->kind = (uint16_t)kind;
    f->bit = (uint16_t)m->count;
    uint32_t h = name_hash(name, f->len) & (MAP_SLOTS - 1);
    while (m->slots[h] >= 0)
        h = (h + 1) & (MAP_SLOTS - 1);
    m->slots[h] = (int16_t)m->count++;
}

fieldmap *fieldmap_create(const tsagg_schema *schema)
{
    fieldmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    memset(m->slots, -1, sizeof m->slots);
    map_add(m, "ts", FIELD_TS);
    map_add(m, "merchant", FIELD_MERCHANT);
    map_add(m, "event", FIELD_EVENT);
    map_add(m, "user", FIELD_USER);
    map_add(m, "session", FIELD_SESSION);
    map_add(m, "id", FIELD_ID);
    for (size_t i = 0; i < tsagg_schema_dimension_count(schema); i++)
        map_add(m, tsagg_schema_dimension_name(schema, i), FIELD_DIMENSION);
    for (size_t i = 0; i < tsagg_schema_measure_count(schema); i++)
        map_add(m, tsagg_schema_measure_name(schema, i), FIELD_MEASURE);
    return m;
}

void fieldmap_free(fieldmap *map)
{
    free(map);
}

const field_info *fieldmap_find(const fieldmap *map, const char *name, size_t len)
{
    uint32_t h = name_hash(name, len) & (MAP_SLOTS - 1);
    for (int16_t i; (i = map->slots[h]) >= 0; h = (h + 1) & (MAP_SLOTS - 1)) {
        const field_info *f = &map->fields[i];
        if (f->len == len && memcmp(f->name, name, len) == 0)
            return f;
    }
    return NULL;
}

/* ---- the batch ------------------------------------------------------------ */

int evb_init(evbuild *b, const fieldmap *fields, enum ts_unit unit)
{
    memset(b, 0, sizeof *b);
    b->fields = fields;
    b->ts_unit = unit;
    b->attrs_cap = (size_t)EVB_MAX_EVENTS * ATTRS_PER_EVENT_AVG;
    b->evs = malloc(EVB_MAX_EVENTS * sizeof *b->evs);
    b->attrs = malloc(b->attrs_cap * sizeof *b->attrs);
    if (!b->evs || !b->attrs) {
        evb_destroy(b);
        return -ENOMEM;
    }
    return 0;
}

void evb_destroy(evbuild *b)
{
    free(b->evs);
    free(b->attrs);
    for (evb_block *k = b->blocks, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    memset(b, 0, sizeof *b);
}

int evb_full(const evbuild *b)
{
    /* One more event may carry TSAGG_ATTRS_MAX attributes (+1: the parsers
     * notice the overflow by adding one too many). */
    return b->n == EVB_MAX_EVENTS || b->attrs_cap - b->nattrs < TSAGG_ATTRS_MAX + 1;
}

void evb_reset(evbuild *b)
{
    b->n = 0;
    b->nattrs = 0;
    for (evb_block *k = b->blocks; k; k = k->next)
        k->used = 0;
    b->block = b->blocks;
}

void evb_drop_last(evbuild *b)
{
    if (b->n == 0)
        return;
    b->n--;
    b->nattrs -= b->evs[b->n].nattrs;
}

char *evb_alloc(evbuild *b, size_t n)
{
    /* Blocks are kept for the next batches; a block that is too small for
     * a request is skipped, which wastes its rest until the reset. */
    while (b->block && b->block->cap - b->block->used < n)
        b->block = b->block->next;
    if (!b->block) {
        size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
        evb_block *k = malloc(sizeof *k + cap);
        if (!k)
            return NULL;
        k->used = 0;
        k->cap = cap;
        k->next = b->blocks; /* new blocks go first: later requests find them */
        b->blocks = k;
        b->block = k;
    }
    char *p = b->block->data + b->block->used;
    b->block->used += n;
    return p;
}

/* Undeclared keys are not in the table: compare them pairwise (few). */
static int repeated_other_key(const evbuild *b)
{
    const tsagg_attr *a = b->cur_attrs;
    for (uint32_t i = 0; i < b->cur->nattrs; i++)
        for (uint32_t j = i + 1; j < b->cur->nattrs; j++)
            if (a[j].key_len == a[i].key_len && memcmp(a[j].key, a[i].key, a[i].key_len) == 0)
                return (int)i;
    return -1;
}

/* evb_finish(); printable: the parser found every string of the event (the
 * name, the keys, the values) to be printable ASCII. */
static int finish(evbuild *b, int printable)
{
    /* ts, merchant and event hold bits 0..2 (fieldmap_create). */
    if ((b->seen[0] & 7) != 7) {
        static const char *const required[] = {"ts", "merchant", "event"};
        for (unsigned k = 0; k < 3; k++)
            if (!(b->seen[0] & (UINT64_C(1) << k)))
                return evb_fail_field(b, required[k], strlen(required[k]),
                                      "missing (required)");
    }
    if (b->cur_bytes > TSAGG_EVENT_BYTES_MAX)
        return evb_failf(b, "event larger than %u bytes of strings", TSAGG_EVENT_BYTES_MAX);
    /* Known fields are caught by evb_mark; only lines with undeclared
     * fields pay for this. */
    if (b->others > 1) {
        int i = repeated_other_key(b);
        if (i >= 0)
            return evb_fail_field(b, b->cur_attrs[i].key, b->cur_attrs[i].key_len,
                                  "given twice");
    }
    /* The library's check finds NUL bytes, limits the calls above already
     * enforce, and times outside the years 0000-9999. Printable strings
     * hold no NUL, so for them only the time is left to check, and only a
     * time outside those years needs the library's message. */
    char why[160];
    if ((!printable || b->cur->ts < TSAGG_TS_MIN || b->cur->ts >= TSAGG_TS_END) &&
        tsagg_event_check(b->cur, why, sizeof why) != 0)
        return evb_failf(b, "event rejected by the library: %s", why);
    b->nattrs += b->cur->nattrs;
    b->n++;
    return 0;
}

int evb_finish(evbuild *b)
{
    return finish(b, 0);
}

int evb_finish_printable(evbuild *b)
{
    return finish(b, 1);
}

/* evb_fail() with the value shown as a quoted string. */
static int fail_quoted(evbuild *b, const field_info *f, const char *expected, const char *s,
                       size_t len)
{
    char got[GOT_MAX];
    size_t n = len > GOT_MAX - 2 ? GOT_MAX - 2 : len;
    got[0] = '"';
    memcpy(got + 1, s, n);
    got[n + 1] = '"';
    evb_fail(b, f->name, f->len, expected, got, n + 2);
    if (n < len) /* shortened: say so inside the quotes */
        snprintf(b->err + strlen(b->err) - 1, 6, "...\"");
    return -1;
}

int evb_set_ts_text(evbuild *b, const field_info *f, const char *s, size_t len)
{
    if (tstime_rfc3339(s, len, &b->ts_day, &b->cur->ts) != 0)
        return fail_quoted(b, f, "RFC 3339 time or integer", s, len);
    return 0;
}

int evb_set_ts_int(evbuild *b, const field_info *f, int64_t v)
{
    if (tstime_scale(v, b->ts_unit, &b->cur->ts) != 0)
        return evb_fail_field(b, f->name, f->len, "integer time out of range for --ts-unit");
    if (b->cur->ts < TSAGG_TS_MIN || b->cur->ts >= TSAGG_TS_END) {
        char got[32];
        int n = snprintf(got, sizeof got, "%" PRId64, v);
        return evb_fail(b, f->name, f->len, "a time in the years 0000-9999", got, (size_t)n);
    }
    return 0;
}

int evb_set_event(evbuild *b, const field_info *f, const char *s, size_t len)
{
    if (len == 0 || len > TSAGG_EVENT_NAME_MAX)
        return fail_quoted(b, f, "a name of 1..255 bytes", s, len);
    b->cur->event = s;
    b->cur->event_len = (uint32_t)len;
    return 0;
}

tsagg_attr *evb_attr_refused(evbuild *b, size_t klen)
{
    if (klen == 0 || klen > TSAGG_NAME_MAX)
        evb_failf(b, "field name of %zu bytes (1..%d allowed)", klen, TSAGG_NAME_MAX);
    else
        evb_failf(b, "more than %d attributes", TSAGG_ATTRS_MAX);
    return NULL;
}

int evb_add_f64(evbuild *b, const char *key, size_t klen, double v)
{
    tsagg_attr *a = evb_new_attr(b, key, klen);
    if (!a)
        return -1;
    a->type = TSAGG_F64;
    a->v.f = v;
    return 0;
}

/* ---- reasons -------------------------------------------------------------- */

/* Append s to the message, shortened, with control bytes shown as '?'. */
static size_t put_shown(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = 0, shown = len > GOT_MAX ? GOT_MAX : len;
    for (size_t i = 0; i < shown && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (shown < len && n + 4 < cap) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
    return n;
}

int evb_fail(evbuild *b, const char *key, size_t klen, const char *expected,
             const char *got, size_t gotlen)
{
    size_t n = (size_t)snprintf(b->err, sizeof b->err, "field '");
    n += put_shown(b->err + n, sizeof b->err - n, key, klen);
    n += (size_t)snprintf(b->err + n, sizeof b->err - n, "': expected %s, got ", expected);
    if (n < sizeof b->err)
        put_shown(b->err + n, sizeof b->err - n, got, gotlen);
    return -1;
}

int evb_fail_field(evbuild *b, const char *key, size_t klen, const char *what)
{
    size_t n = (size_t)snprintf(b->err, sizeof b->err, "field '");
    n += put_shown(b->err + n, sizeof b->err - n, key, klen);
    if (n < sizeof b->err)
        snprintf(b->err + n, sizeof b->err - n, "': %s", what);
    return -1;
}

int evb_failf(evbuild *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return -1;
}

int parse_u64_text(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

int parse_i64_text(const char *s, size_t len, int64_t *out)
{
    uint64_t v;
    int neg = len > 0 && s[0] == '-';
    if (!parse_u64_text(s + neg, len - (size_t)neg, &v))
        return 0;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}
