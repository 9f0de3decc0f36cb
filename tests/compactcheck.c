/* compactcheck.c - the compaction tests' checks (see compactcheck.h). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "compactcheck.h"
#include "hll.h"
#include "partfile_format.h" /* PF_NAMED_SKETCH_MIN_ROWS */

/* ---- string pool ------------------------------------------------------------ */

static void cc_pool_free(cc_pool *p)
{
    free(p->bytes);
    free(p->off);
    free(p->slen);
    free(p->tab);
    memset(p, 0, sizeof *p);
}

static void cc_pool_grow(cc_pool *p)
{
    uint32_t cap = p->tabcap ? p->tabcap * 2 : 4096;
    uint32_t *t = calloc(cap, sizeof *t);
    cr_assert_not_null(t);
    for (uint32_t c = 0; c < p->n; c++) {
        uint32_t i = (uint32_t)XXH3_64bits(p->bytes + p->off[c], p->slen[c]) & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = c + 1;
    }
    free(p->tab);
    p->tab = t;
    p->tabcap = cap;
}

uint32_t cc_intern(cc_pool *p, const char *s, size_t len)
{
    if (p->n * 2 >= p->tabcap)
        cc_pool_grow(p);
    uint32_t mask = p->tabcap - 1, i = (uint32_t)XXH3_64bits(s, len) & mask;
    for (; p->tab[i]; i = (i + 1) & mask) {
        uint32_t c = p->tab[i] - 1;
        if (p->slen[c] == len && (len == 0 || !memcmp(p->bytes + p->off[c], s, len)))
            return c;
    }
    if (p->n == p->ncap) {
        p->ncap = p->ncap ? p->ncap * 2 : 1024;
        p->off = realloc(p->off, p->ncap * sizeof *p->off);
        p->slen = realloc(p->slen, p->ncap * sizeof *p->slen);
        cr_assert(p->off && p->slen);
    }
    if (p->cap - p->len < len + 1) {
        size_t cap = p->cap ? p->cap : 1 << 16;
        while (cap - p->len < len + 1)
            cap *= 2;
        p->bytes = realloc(p->bytes, cap);
        cr_assert_not_null(p->bytes);
        p->cap = cap;
    }
    memcpy(p->bytes + p->len, s, len);
    p->bytes[p->len + len] = 0;
    p->off[p->n] = p->len;
    p->slen[p->n] = (uint32_t)len;
    p->len += len + 1;
    p->tab[i] = p->n + 1;
    return p->n++;
}

const char *cc_str(const cc_pool *p, uint32_t code)
{
    return p->bytes + p->off[code];
}

/* ---- rows ------------------------------------------------------------------- */

static cc_row *cc_rows_push(cc_rows *rs)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 4096;
        rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
        cr_assert_not_null(rs->r);
    }
    cc_row *r = &rs->r[rs->n++];
    memset(r, 0, sizeof *r);
    return r;
}

void cc_rows_free(cc_rows *rs)
{
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

void cc_init(cc_ctx *c, const tsagg_schema *schema)
{
    memset(c, 0, sizeof *c);
    c->ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    c->nmeas = (uint32_t)tsagg_schema_measure_count(schema);
    cr_assert_leq(c->ndims, CC_MAXD);
    cr_assert_leq(c->nmeas, CC_MAXM);
    for (uint32_t d = 0; d < c->ndims; d++)
        snprintf(c->dim[d], sizeof c->dim[d], "%s", tsagg_schema_dimension_name(schema, d));
    for (uint32_t m = 0; m < c->nmeas; m++)
        snprintf(c->meas[m], sizeof c->meas[m], "%s", tsagg_schema_measure_name(schema, m));
    c->empty = cc_intern(&c->pool, "", 0);
}

void cc_fini(cc_ctx *c) { cc_pool_free(&c->pool); }

/* A measure sent as a string, by the rule docs/api.md ("Compacting")
 * gives rather than as the library codes it: the number strtod() reads in
 * the C locale when it takes the whole string (white space before it
 * allowed), NaN (absent) when the string is empty, 64 bytes or longer, or
 * goes on after the number. */
static double cc_measure_of_string(const char *s, size_t len)
{
    const size_t longest = 63;
    if (len == 0 || len > longest)
        return NAN;
    char *copy = strndup(s, len);
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    cr_assert(copy && c_locale);
    char *end;
    double v = strtod_l(copy, &end, c_locale);
    size_t taken = (size_t)(end - copy);
    freelocale(c_locale);
    free(copy);
    return taken == len ? v : NAN;
}

/* The row an event becomes: declared attributes by name; strings as they
 * are (cut at 1 MiB - 1), integers and doubles of a dimension printed
 * ("%" PRId64, "%.17g"); a measure from a double, an integer or a string
 * holding a number, NaN when absent. The last of repeated keys wins. */
static void cc_event_row(cc_ctx *c, const tsagg_event *ev, uint64_t seq, cc_row *r)
{
    r->ts = ev->ts;
    r->merchant = ev->merchant;
    r->user = ev->user;
    r->session = ev->session;
    r->flags = ev->flags & TSAGG_EVENT_HAS_ID;
    r->id = r->flags ? ev->id : 0;
    r->seq = seq;
    r->event = cc_intern(&c->pool, ev->event, ev->event_len);
    for (uint32_t d = 0; d < c->ndims; d++)
        r->dims[d] = c->empty;
    for (uint32_t m = 0; m < c->nmeas; m++)
        r->meas[m] = NAN;
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        for (uint32_t d = 0; d < c->ndims; d++) {
            if (strlen(c->dim[d]) != a->key_len || memcmp(c->dim[d], a->key, a->key_len))
                continue;
            char num[40];
            if (a->type == TSAGG_INT) {
                snprintf(num, sizeof num, "%" PRId64, a->v.i);
                r->dims[d] = cc_intern(&c->pool, num, strlen(num));
            } else if (a->type == TSAGG_F64) {
                snprintf(num, sizeof num, "%.17g", a->v.f);
                r->dims[d] = cc_intern(&c->pool, num, strlen(num));
            } else {
                size_t len = a->v.s.len > CC_STR_MAX ? CC_STR_MAX : a->v.s.len;
                r->dims[d] = cc_intern(&c->pool, a->v.s.ptr, len);
            }
        }
        for (uint32_t m = 0; m < c->nmeas; m++) {
            if (strlen(c->meas[m]) != a->key_len || memcmp(c->meas[m], a->key, a->key_len))
                continue;
            r->meas[m] = a->type == TSAGG_F64   ? a->v.f
                         : a->type == TSAGG_INT ? (double)a->v.i
                                                : cc_measure_of_string(a->v.s.ptr, a->v.s.len);
        }
    }
}

void cc_log_rows(cc_ctx *c, tsagg_store *st, uint64_t from, uint64_t to,
                 tsagg_process_fn hook, void *hook_ctx, cc_rows *out,
                 uint64_t *read, uint64_t *dropped)
{
    uint64_t nread = 0, ndrop = 0;
    if (to >= from) {
        tsagg_log_range range;
        tsagg_log_range_init(&range);
        range.from_seq = from;
        range.to_seq = to + 1;
        tsagg_log_reader *rd;
        cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
        const tsagg_event *ev;
        uint64_t seq, want = from;
        int rc;
        while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
            cr_assert_eq(seq, want, "log: seq %" PRIu64 " where %" PRIu64 " was due", seq, want);
            want++;
            nread++;
            tsagg_event copy = *ev;
            if (hook) {
                int keep = hook(hook_ctx, &copy, seq);
                cr_assert_geq(keep, 0);
                if (!keep) {
                    ndrop++;
                    continue;
                }
            }
            cc_event_row(c, &copy, seq, cc_rows_push(out));
        }
        cr_assert_eq(rc, 0, "log reader: %s", tsagg_strerror(rc));
        tsagg_log_reader_close(rd);
        cr_assert_eq(want, to + 1, "log: %" PRIu64 " events where %" PRIu64 " were expected",
                     nread, to - from + 1);
    }
    if (read)
        *read = nread;
    if (dropped)
        *dropped = ndrop;
}

/* ---- comparing rows -------------------------------------------------------------- */

static int cc_cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static uint64_t cc_dbits(double d)
{
    if (isnan(d))
        return 0x7ff8000000000000ull; /* one NaN */
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

/* (merchant, ts, has id, id): retries share it. */
static int cc_cmp_key(const cc_row *a, const cc_row *b)
{
    if (a->merchant != b->merchant)
        return cc_cmp_u64(a->merchant, b->merchant);
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->flags != b->flags)
        return cc_cmp_u64(a->flags, b->flags);
    return cc_cmp_u64(a->id, b->id);
}

int cc_cmp_content(const cc_row *a, const cc_row *b, uint32_t nd, uint32_t nm)
{
    int c = cc_cmp_key(a, b);
    if (c)
        return c;
    if (a->event != b->event)
        return cc_cmp_u64(a->event, b->event);
    if (a->user != b->user)
        return cc_cmp_u64(a->user, b->user);
    if (a->session != b->session)
        return cc_cmp_u64(a->session, b->session);
    for (uint32_t d = 0; d < nd; d++)
        if (a->dims[d] != b->dims[d])
            return cc_cmp_u64(a->dims[d], b->dims[d]);
    for (uint32_t m = 0; m < nm; m++)
        if (cc_dbits(a->meas[m]) != cc_dbits(b->meas[m]))
            return cc_cmp_u64(cc_dbits(a->meas[m]), cc_dbits(b->meas[m]));
    return 0;
}

static int cc_cmp_full(const void *pa, const void *pb)
{
    const cc_row *a = pa, *b = pb;
    int c = cc_cmp_content(a, b, CC_MAXD, CC_MAXM);
    if (c)
        return c;
    if (a->file != b->file)
        return cc_cmp_u64(a->file, b->file);
    return cc_cmp_u64(a->seq, b->seq);
}

int cc_same_group(const cc_row *a, const cc_row *b)
{
    if (cc_cmp_key(a, b))
        return 0;
    return a->flags ? 1 : cc_cmp_content(a, b, CC_MAXD, CC_MAXM) == 0;
}

void cc_sort(cc_rows *rs)
{
    /* Unused dimension and measure slots are zero in every row. No rows
     * may mean no array: qsort's pointer must not be NULL. */
    if (rs->n > 1)
        qsort(rs->r, rs->n, sizeof *rs->r, cc_cmp_full);
}

void cc_row_text(const cc_ctx *c, const cc_row *r, char *buf, size_t len)
{
    int n = snprintf(buf, len,
                     "{merchant %" PRIu64 " ts %" PRId64 " id %" PRIu64 "%s event %s user %" PRIx64
                     " session %" PRIx64,
                     r->merchant, r->ts, r->id, r->flags ? "" : " (none)",
                     cc_str(&c->pool, r->event), r->user, r->session);
    for (uint32_t d = 0; d < c->ndims && n > 0 && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, " %s=%.40s", c->dim[d], cc_str(&c->pool, r->dims[d]));
    for (uint32_t m = 0; m < c->nmeas && n > 0 && (size_t)n < len; m++)
        n += snprintf(buf + n, len - (size_t)n, " %s=%.17g", c->meas[m], r->meas[m]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " seq %" PRIu64 " file %u}", r->seq, r->file);
}

uint64_t cc_retries(cc_rows *rs)
{
    cc_sort(rs);
    uint64_t n = 0;
    for (size_t i = 1; i < rs->n; i++)
        n += rs->r[i].flags && cc_same_group(&rs->r[i - 1], &rs->r[i]);
    return n;
}

cc_result cc_check_rows(cc_ctx *c, cc_rows *expect, cc_rows *actual, int strict,
                        const char *what)
{
    cc_sort(expect);
    cc_sort(actual);
    cc_result res = {0};
    size_t i = 0, j = 0;
    char t1[1024], t2[1024];
    while (i < expect->n || j < actual->n) {
        const cc_row *e = i < expect->n ? &expect->r[i] : NULL;
        const cc_row *a = j < actual->n ? &actual->r[j] : NULL;
        if (e && a && !cc_same_group(e, a)) {
            if (cc_cmp_full(e, a) < 0)
                a = NULL;
            else
                e = NULL;
        }
        if (!a) {
            cc_row_text(c, e, t1, sizeof t1);
            cr_assert_fail("%s: log event missing from the partitions: %s", what, t1);
        }
        if (!e) {
            cc_row_text(c, a, t2, sizeof t2);
            cr_assert_fail("%s: row in the partitions that the log does not have: %s", what, t2);
        }
        size_t i2 = i + 1, j2 = j + 1;
        while (i2 < expect->n && cc_same_group(&expect->r[i], &expect->r[i2]))
            i2++;
        while (j2 < actual->n && cc_same_group(&actual->r[j], &actual->r[j2]))
            j2++;
        size_t ne = i2 - i, na = j2 - j;
        cc_row_text(c, e, t1, sizeof t1);
        if (!e->flags) {
            cr_assert_eq(na, ne, "%s: event without id in the log %zu times, in the partitions "
                         "%zu times: %s", what, ne, na, t1);
        } else {
            cr_assert_leq(na, strict ? 1 : ne, "%s: event in the partitions %zu times (the log "
                          "has %zu copies): %s", what, na, ne, t1);
            for (size_t x = j; x < j2; x++) {
                int found = 0;
                for (size_t y = i; y < i2 && !found; y++)
                    found = cc_cmp_content(&expect->r[y], &actual->r[x], CC_MAXD, CC_MAXM) == 0;
                cc_row_text(c, &actual->r[x], t2, sizeof t2);
                cr_assert(found, "%s: a row differs from the log's event:\n  row %s\n  log %s",
                          what, t2, t1);
                for (size_t y = j; y < x; y++)
                    cr_assert_neq(actual->r[y].file, actual->r[x].file,
                                  "%s: a retry twice in one file: %s", what, t2);
            }
            res.extra_copies += na - 1;
        }
        res.groups++;
        i = i2;
        j = j2;
    }
    return res;
}

/* ---- reading partitions ------------------------------------------------------------ */

void cc_path(tsagg_store *st, const tsagg__part_ref *ref, char *buf, size_t len)
{
    tsagg__part_file_path(st, ref, buf, len);
}

static uint64_t cc_file_size(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
    return (uint64_t)sb.st_size;
}

int cc_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int cc_cmp_u64p(const void *a, const void *b)
{
    return cc_cmp_u64(*(const uint64_t *)a, *(const uint64_t *)b);
}

static uint64_t cc_distinct(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cc_cmp_u64p);
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    return d;
}

/* The sketch the rollup holds equals the one of these ids, byte for byte,
 * and its estimate is exact up to 256 distinct ids, within 3% from 1000 on.
 * Just past the exact form the estimator's rare tail reaches a little past
 * 3% (measured: 1 sketch in 60,000 with 257-400 ids, none past 4%), and a
 * run checks thousands of sketches: 4% there. */
static void cc_check_sketch(cc_ctx *c, const uint8_t *bytes, size_t len, uint64_t *ids, size_t n,
                            const char *what)
{
    /* Id 0 is an absent user or session: never counted. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != 0)
            ids[k++] = ids[i];
    n = k;
    tsagg__hll h;
    tsagg__hll_init(&h);
    cr_assert_eq(tsagg__hll_add_many(&h, ids, n), 0);
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    int blen = tsagg__hll_serialize(&h, buf, sizeof buf);
    cr_assert_gt(blen, 0);
    tsagg__hll_fini(&h);
    tsagg__hll_init(&h);
    cr_assert_eq(tsagg__hll_merge_serialized(&h, bytes, len), 0, "%s: bad sketch", what);
    double est = tsagg__hll_estimate(&h);
    tsagg__hll_fini(&h);
    uint64_t d = cc_distinct(ids, n);
    if (d <= TSAGG__HLL_EXACT_MAX) {
        cr_assert_eq(est, (double)d, "%s: %g estimated, %" PRIu64 " exactly", what, est, d);
        c->sketches_exact++;
    } else {
        double tol = d >= 1000 ? 0.03 : 0.04;
        cr_assert_leq(fabs(est - (double)d), tol * (double)d,
                      "%s: %g estimated, %" PRIu64 " exactly", what, est, d);
        c->sketches_approx++;
    }
    cr_assert(len == (size_t)blen && !memcmp(bytes, buf, len),
              "%s: sketch differs from the one of the rows (%zu vs %d bytes)", what, len, blen);
}

typedef struct cc_rentry {
    int minute;
    uint32_t event;
    uint64_t count;
    double sums[CC_MAXM];
} cc_rentry;

static int cc_cmp_rentry(const void *pa, const void *pb)
{
    const cc_rentry *a = pa, *b = pb;
    if (a->minute != b->minute)
        return a->minute - b->minute;
    return cc_cmp_u64(a->event, b->event);
}

/* A merchant-hour's rollup against its rows [lo, hi) of the file (fev:
 * the rows' event codes in the file's dictionary). */
static void cc_check_rollup(cc_ctx *c, tsagg__part *p, const char *path,
                            const tsagg__merchant_entry *me, const tsagg__hour_segment *seg,
                            const cc_row *rows, const uint32_t *fev, size_t lo, size_t hi)
{
    int64_t hour = seg->hour;
    tsagg__rollup r;
    int rc = tsagg__part_rollup(p, me, seg, &r);
    char err[512];
    tsagg__part_errmsg(p, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: rollup of merchant %" PRIu64 " hour %" PRId64 ": %s (%s)", path,
                 me->merchant, hour, tsagg_strerror(rc), err);
    cr_assert_eq(r.nmeasures, c->nmeas);
    size_t n = hi - lo;
    cc_rentry *ents = calloc(n ? n : 1, sizeof *ents);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    cr_assert(ents && ids);
    /* One entry per row, sorted by (minute, event), then folded. */
    for (size_t k = lo; k < hi; k++) {
        cc_rentry *e = &ents[k - lo];
        e->minute = (int)((rows[k].ts - hour) / 60000000);
        e->event = fev[k];
        e->count = 1;
        for (uint32_t m = 0; m < c->nmeas; m++)
            e->sums[m] = isnan(rows[k].meas[m]) ? 0 : rows[k].meas[m];
    }
    qsort(ents, n, sizeof *ents, cc_cmp_rentry);
    size_t ne = 0;
    for (size_t k = 0; k < n; k++) {
        if (ne && cc_cmp_rentry(&ents[ne - 1], &ents[k]) == 0) {
            ents[ne - 1].count++;
            for (uint32_t m = 0; m < c->nmeas; m++)
                ents[ne - 1].sums[m] += ents[k].sums[m];
        } else {
            ents[ne++] = ents[k];
        }
    }
    cr_assert_eq(r.n, ne, "%s: merchant %" PRIu64 ": %u rollup entries, %zu expected", path,
                 rows[lo].merchant, r.n, ne);
    for (size_t q = 0; q < ne; q++) {
        cr_assert(r.minute[q] == ents[q].minute && r.event[q] == ents[q].event &&
                      r.count[q] == ents[q].count,
                  "%s: merchant %" PRIu64 " entry %zu: (minute %u, event %u, count %" PRIu64
                  ") where (%d, %u, %" PRIu64 ") was expected",
                  path, rows[lo].merchant, q, r.minute[q], r.event[q], r.count[q],
                  ents[q].minute, ents[q].event, ents[q].count);
        for (uint32_t m = 0; m < c->nmeas; m++) {
            double got = r.sums[q * c->nmeas + m], want = ents[q].sums[m];
            cr_assert_leq(fabs(got - want), 1e-9 * fmax(1, fabs(want)),
                          "%s: merchant %" PRIu64 " entry %zu: sum %g, expected %g", path,
                          rows[lo].merchant, q, got, want);
        }
    }
    c->rollup_entries += ne;
    char what[4400];
    for (size_t k = lo; k < hi; k++)
        ids[k - lo] = rows[k].user;
    snprintf(what, sizeof what, "%s: merchant %" PRIu64 " users", path, rows[lo].merchant);
    cc_check_sketch(c, r.users, r.users_len, ids, n, what);
    for (size_t k = lo; k < hi; k++)
        ids[k - lo] = rows[k].session;
    snprintf(what, sizeof what, "%s: merchant %" PRIu64 " sessions", path, rows[lo].merchant);
    cc_check_sketch(c, r.sessions, r.sessions_len, ids, n, what);
    /* One sketch pair per event name with at least PF_NAMED_SKETCH_MIN_ROWS
     * rows in the merchant-hour (partfile.h). */
    size_t nev = 0;
    for (size_t q = 0; q < ne; q++) {
        int dup = 0;
        for (size_t z = 0; z < q && !dup; z++)
            dup = ents[z].event == ents[q].event;
        if (dup)
            continue;
        uint64_t cnt = 0;
        for (size_t z = q; z < ne; z++)
            cnt += ents[z].event == ents[q].event ? ents[z].count : 0;
        nev += cnt >= PF_NAMED_SKETCH_MIN_ROWS;
    }
    cr_assert_eq(r.nnamed, nev, "%s: merchant %" PRIu64 ": %u named sketches, %zu event names "
                 "with %u rows or more", path, rows[lo].merchant, r.nnamed, nev,
                 PF_NAMED_SKETCH_MIN_ROWS);
    for (uint32_t k = 0; k < r.nnamed; k++) {
        uint32_t code = r.named_event[k];
        cr_assert(k == 0 || r.named_event[k - 1] < code);
        size_t cnt = 0;
        for (size_t x = lo; x < hi; x++)
            if (fev[x] == code)
                ids[cnt++] = rows[x].user;
        cr_assert_geq(cnt, PF_NAMED_SKETCH_MIN_ROWS, "%s: a sketch for event code %u, which "
                      "has %zu rows", path, code, cnt);
        snprintf(what, sizeof what, "%s: merchant %" PRIu64 " event %u users", path,
                 rows[lo].merchant, code);
        cc_check_sketch(c, r.named_users[k], r.named_users_len[k], ids, cnt, what);
        cnt = 0;
        for (size_t x = lo; x < hi; x++)
            if (fev[x] == code)
                ids[cnt++] = rows[x].session;
        snprintf(what, sizeof what, "%s: merchant %" PRIu64 " event %u sessions", path,
                 rows[lo].merchant, code);
        cc_check_sketch(c, r.named_sessions[k], r.named_sessions_len[k], ids, cnt, what);
    }
    tsagg__rollup_free(&r);
    free(ents);
    free(ids);
}

/* Read column col of group g, asserting success. */
static void cc_read_col(tsagg__part *p, const char *path, uint32_t col, uint32_t g, void *out)
{
    int rc = tsagg__part_read_column(p, col, g, out);
    char err[512];
    tsagg__part_errmsg(p, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: column %u group %u: %s (%s)", path, col, g, tsagg_strerror(rc), err);
}

/* Pool code of a dictionary entry, through a per-file cache. */
static uint32_t cc_dict(cc_ctx *c, tsagg__part *p, const char *path, uint32_t col, uint32_t code,
                        uint32_t *cache, uint32_t size)
{
    cr_assert_lt(code, size, "%s: column %u: code %u past the dictionary (%u)", path, col, code,
                 size);
    if (cache[code] != UINT32_MAX)
        return cache[code];
    const char *s;
    size_t len;
    int rc = tsagg__part_dict_get(p, col, code, &s, &len);
    cr_assert_eq(rc, 0, "%s: dictionary of column %u: %s", path, col, tsagg_strerror(rc));
    return cache[code] = cc_intern(&c->pool, s, len);
}

void cc_read_part(cc_ctx *c, const char *path, const tsagg__part_ref *ref,
                  uint32_t fileno, int rollups, cc_rows *out)
{
    tsagg__part *p;
    char err[512] = "";
    int rc = tsagg__part_open(tsagg_io_default(), path, &p, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s (%s)", path, tsagg_strerror(rc), err);
    const tsagg__part_info *info = tsagg__part_get_info(p);
    int64_t start = info->start, end = start + (int64_t)info->hours * CC_HOUR;
    cr_assert_geq(tsagg__span_tier(start, info->hours), 0, "%s: span %" PRId64 " + %u h is "
                  "no hour, day or month", path, start, info->hours);
    if (ref) {
        cr_assert(start == ref->start && info->hours == ref->hours,
                  "%s: span %" PRId64 " + %u h, the manifest says %" PRId64 " + %u h", path,
                  start, info->hours, ref->start, ref->hours);
        cr_assert_eq(info->rows, ref->rows, "%s: %" PRIu64 " rows, the manifest says %" PRIu64,
                     path, info->rows, ref->rows);
        cr_assert_eq(ref->bytes, cc_file_size(path), "%s: the manifest's size is wrong", path);
    }
    cr_assert_eq(info->bytes, cc_file_size(path), "%s: info.bytes", path);
    const tsagg_schema *fs = tsagg__part_schema(p);
    cr_assert_eq(tsagg_schema_dimension_count(fs), c->ndims);
    cr_assert_eq(tsagg_schema_measure_count(fs), c->nmeas);
    for (uint32_t d = 0; d < c->ndims; d++)
        cr_assert_str_eq(tsagg_schema_dimension_name(fs, d), c->dim[d]);
    uint32_t ndict = 1 + c->ndims;
    uint32_t *dsize = calloc(ndict, sizeof *dsize);
    uint32_t **cache = calloc(ndict, sizeof *cache);
    cr_assert(dsize && cache);
    for (uint32_t k = 0; k < ndict; k++) {
        uint32_t col = k == 0 ? TSAGG__COL_EVENT : TSAGG__COL_DIM0 + k - 1;
        dsize[k] = tsagg__part_dict_size(p, col);
        cache[k] = malloc((dsize[k] + 1) * sizeof **cache);
        cr_assert_not_null(cache[k]);
        memset(cache[k], 0xff, (dsize[k] + 1) * sizeof **cache);
    }
    size_t G = TSAGG__PART_GROUP_ROWS;
    int64_t *ts = malloc(G * 8);
    uint64_t *mer = malloc(G * 8), *user = malloc(G * 8), *ses = malloc(G * 8), *id = malloc(G * 8);
    uint32_t *ev = malloc(G * 4), *fl = malloc(G * 4), *dc[CC_MAXD];
    double *ms[CC_MAXM];
    cr_assert(ts && mer && user && ses && id && ev && fl);
    for (uint32_t d = 0; d < c->ndims; d++)
        cr_assert_not_null(dc[d] = malloc(G * 4));
    for (uint32_t m = 0; m < c->nmeas; m++)
        cr_assert_not_null(ms[m] = malloc(G * 8));
    size_t first = out->n;
    uint32_t *fev = malloc((info->rows ? info->rows : 1) * sizeof *fev);
    cr_assert_not_null(fev);
    uint32_t ng = tsagg__part_groups(p);
    uint64_t row = 0;
    for (uint32_t g = 0; g < ng; g++) {
        const tsagg__group_info *gi = tsagg__part_group(p, g);
        cr_assert_eq(gi->row_start, row, "%s: group %u starts at row %" PRIu64, path, g,
                     gi->row_start);
        cr_assert(gi->rows > 0 && gi->rows <= G);
        cc_read_col(p, path, TSAGG__COL_TS, g, ts);
        cc_read_col(p, path, TSAGG__COL_MERCHANT, g, mer);
        cc_read_col(p, path, TSAGG__COL_EVENT, g, ev);
        cc_read_col(p, path, TSAGG__COL_USER, g, user);
        cc_read_col(p, path, TSAGG__COL_SESSION, g, ses);
        cc_read_col(p, path, TSAGG__COL_ID, g, id);
        cc_read_col(p, path, TSAGG__COL_FLAGS, g, fl);
        for (uint32_t d = 0; d < c->ndims; d++)
            cc_read_col(p, path, TSAGG__COL_DIM0 + d, g, dc[d]);
        for (uint32_t m = 0; m < c->nmeas; m++)
            cc_read_col(p, path, TSAGG__COL_DIM0 + c->ndims + m, g, ms[m]);
        int64_t mints = INT64_MAX, maxts = INT64_MIN;
        uint64_t minm = UINT64_MAX, maxm = 0;
        for (uint32_t k = 0; k < gi->rows; k++) {
            cc_row *r = cc_rows_push(out);
            r->ts = ts[k];
            r->merchant = mer[k];
            r->user = user[k];
            r->session = ses[k];
            r->flags = fl[k];
            r->id = id[k];
            r->file = fileno;
            cr_assert(fl[k] == 0 || fl[k] == TSAGG_EVENT_HAS_ID, "%s: flags %u", path, fl[k]);
            cr_assert(fl[k] || id[k] == 0, "%s: an id without the flag", path);
            cr_assert(ts[k] >= start && ts[k] < end,
                      "%s: row %" PRIu64 " (ts %" PRId64 ") outside the file's span %" PRId64
                      " + %u h", path, row + k, ts[k], start, info->hours);
            fev[row + k] = ev[k];
            r->event = cc_dict(c, p, path, TSAGG__COL_EVENT, ev[k], cache[0], dsize[0]);
            for (uint32_t d = 0; d < c->ndims; d++)
                r->dims[d] = cc_dict(c, p, path, TSAGG__COL_DIM0 + d, dc[d][k], cache[1 + d],
                                     dsize[1 + d]);
            for (uint32_t m = 0; m < c->nmeas; m++)
                r->meas[m] = ms[m][k];
            if (row + k > 0) {
                const cc_row *q = r - 1;
                cr_assert(q->merchant < r->merchant ||
                              (q->merchant == r->merchant && q->ts <= r->ts),
                          "%s: row %" PRIu64 " (merchant %" PRIu64 ", ts %" PRId64
                          ") sorts before the previous one (%" PRIu64 ", %" PRId64 ")",
                          path, row + k, r->merchant, r->ts, q->merchant, q->ts);
            }
            mints = ts[k] < mints ? ts[k] : mints;
            maxts = ts[k] > maxts ? ts[k] : maxts;
            minm = mer[k] < minm ? mer[k] : minm;
            maxm = mer[k] > maxm ? mer[k] : maxm;
        }
        cr_assert(gi->min_ts == mints && gi->max_ts == maxts && gi->min_merchant == minm &&
                      gi->max_merchant == maxm,
                  "%s: group %u: zone map does not match its rows", path, g);
        row += gi->rows;
    }
    cr_assert_eq(row, info->rows, "%s: groups hold %" PRIu64 " rows, the header %" PRIu64, path,
                 row, info->rows);
    const cc_row *rows = out->r + first;
    if (row) {
        int64_t mx = INT64_MIN;
        for (size_t k = 0; k < row; k++)
            mx = rows[k].ts > mx ? rows[k].ts : mx;
        cr_assert_eq(info->max_ts, mx);
        int64_t mn = INT64_MAX;
        for (size_t k = 0; k < row; k++)
            mn = rows[k].ts < mn ? rows[k].ts : mn;
        cr_assert_eq(info->min_ts, mn, "%s: info.min_ts", path);
    }
    /* Merchant index: ascending, contiguous, matching the rows. */
    uint64_t nm = tsagg__part_merchants(p), at = 0;
    cr_assert_eq(nm, info->merchants);
    for (uint64_t k = 0; k < nm; k++) {
        tsagg__merchant_entry me, found;
        rc = tsagg__part_merchant_at(p, k, &me);
        tsagg__part_errmsg(p, err, sizeof err);
        cr_assert_eq(rc, 0, "%s: merchant #%" PRIu64 ": %s (%s)", path, k, tsagg_strerror(rc),
                     err);
        cr_assert_eq(me.index, k);
        cr_assert_eq(me.row_start, at, "%s: merchant #%" PRIu64 " starts at row %" PRIu64, path,
                     k, me.row_start);
        cr_assert_gt(me.rows, 0);
        cr_assert_leq(at + me.rows, row);
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        for (uint64_t x = at; x < at + me.rows; x++) {
            cr_assert_eq(rows[x].merchant, me.merchant, "%s: row %" PRIu64 " belongs to "
                         "merchant %" PRIu64 " but is in %" PRIu64 "'s range", path, x,
                         rows[x].merchant, me.merchant);
            mn = rows[x].ts < mn ? rows[x].ts : mn;
            mx = rows[x].ts > mx ? rows[x].ts : mx;
        }
        cr_assert(me.min_ts == mn && me.max_ts == mx, "%s: merchant %" PRIu64 ": time range "
                  "%" PRId64 "..%" PRId64 ", its rows %" PRId64 "..%" PRId64, path, me.merchant,
                  me.min_ts, me.max_ts, mn, mx);
        cr_assert_eq(tsagg__part_find_merchant(p, me.merchant, &found), 1);
        cr_assert_eq(found.index, k);
        cr_assert_eq(found.row_start, me.row_start);
        /* Hour segments: listed for a merchant with a rollup, one per hour
         * of its rows; a rollup exactly where the hour has enough rows. */
        tsagg__hour_segment *segs = calloc(me.nsegments + 1, sizeof *segs);
        cr_assert_not_null(segs);
        if (me.nsegments) {
            rc = tsagg__part_segments(p, &me, segs);
            tsagg__part_errmsg(p, err, sizeof err);
            cr_assert_eq(rc, 0, "%s: segments of merchant %" PRIu64 ": %s (%s)", path,
                         me.merchant, tsagg_strerror(rc), err);
        }
        uint64_t x = at, nseg = 0, with_rollup = 0;
        while (x < at + me.rows) {
            int64_t hour = rows[x].ts - ((rows[x].ts % CC_HOUR) + CC_HOUR) % CC_HOUR;
            uint64_t y = x;
            while (y < at + me.rows && rows[y].ts < hour + CC_HOUR)
                y++;
            int busy = y - x >= TSAGG__PART_ROLLUP_MIN_ROWS;
            if (me.nsegments) {
                cr_assert_lt(nseg, me.nsegments, "%s: merchant %" PRIu64 " has more hours "
                             "than segments", path, me.merchant);
                const tsagg__hour_segment *sg = &segs[nseg];
                cr_assert(sg->hour == hour && sg->row_start == x && sg->rows == y - x,
                          "%s: merchant %" PRIu64 " segment %" PRIu64 ": hour %" PRId64
                          " rows %" PRIu64 "+%" PRIu64 ", expected %" PRId64 " %" PRIu64
                          "+%" PRIu64, path, me.merchant, nseg, sg->hour, sg->row_start,
                          sg->rows, hour, x, y - x);
                cr_assert_eq(sg->rollup_len > 0, busy, "%s: merchant %" PRIu64 " hour %" PRId64
                             " with %" PRIu64 " rows %s a rollup", path, me.merchant, hour,
                             y - x, busy ? "lacks" : "has");
                if (busy && rollups)
                    cc_check_rollup(c, p, path, &me, sg, rows, fev, (size_t)x, (size_t)y);
                with_rollup += busy;
            } else {
                cr_assert(!busy, "%s: merchant %" PRIu64 " hour %" PRId64 " has %" PRIu64
                          " rows but no segments", path, me.merchant, hour, y - x);
            }
            nseg++;
            x = y;
        }
        cr_assert(me.nsegments == 0 || (nseg == me.nsegments && with_rollup > 0),
                  "%s: merchant %" PRIu64 ": %u segments for %" PRIu64 " hours", path,
                  me.merchant, me.nsegments, nseg);
        free(segs);
        at += me.rows;
    }
    cr_assert_eq(at, row, "%s: the merchant index covers %" PRIu64 " of %" PRIu64 " rows",
                 path, at, row);
    if (nm) {
        tsagg__merchant_entry last, none;
        cr_assert_eq(tsagg__part_merchant_at(p, nm - 1, &last), 0);
        cr_assert_eq(tsagg__part_merchant_at(p, nm, &none), TSAGG_EARG);
        uint64_t past = last.merchant + 1;
        cr_assert(past == 0 || tsagg__part_find_merchant(p, past, &none) == 0);
    }
    free(fev);
    free(ts);
    free(mer);
    free(user);
    free(ses);
    free(id);
    free(ev);
    free(fl);
    for (uint32_t d = 0; d < c->ndims; d++)
        free(dc[d]);
    for (uint32_t m = 0; m < c->nmeas; m++)
        free(ms[m]);
    for (uint32_t k = 0; k < ndict; k++)
        free(cache[k]);
    free(cache);
    free(dsize);
    tsagg__part_close(p);
}

void cc_part_rows(cc_ctx *c, tsagg_store *st, const tsagg__manifest *m,
                  int rollups, cc_rows *out)
{
    for (size_t i = 0; i < m->nparts; i++) {
        char path[4200];
        cc_path(st, &m->parts[i], path, sizeof path);
        cc_read_part(c, path, &m->parts[i], (uint32_t)i, rollups, out);
    }
}

/* ---- the store's state -------------------------------------------------------------- */

size_t cc_files_of_hour(const tsagg__manifest *m, int64_t hour)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nparts; i++)
        n += m->parts[i].start <= hour && hour < cc_span_end(&m->parts[i]);
    return n;
}

int cc_has_extra_files(const tsagg__manifest *m)
{
    int64_t end = INT64_MIN;
    for (size_t i = 0; i < m->nparts; i++) {
        if (m->parts[i].start < end)
            return 1;
        end = cc_span_end(&m->parts[i]) > end ? cc_span_end(&m->parts[i]) : end;
    }
    return 0;
}

int64_t cc_newest(const cc_rows *rs)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, n = INT64_MIN;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].ts > n && rs->r[i].ts <= now_us + 24 * CC_HOUR)
            n = rs->r[i].ts;
    return n;
}

static int cc_cmp_span(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

size_t cc_spans(const cc_rows *rs, int64_t newest, size_t tiers[3])
{
    int64_t(*sp)[2] = malloc((rs->n + 1) * sizeof *sp);
    cr_assert_not_null(sp);
    for (size_t i = 0; i < rs->n; i++) {
        uint32_t h;
        tsagg__span_place(rs->r[i].ts, newest, &sp[i][0], &h);
        sp[i][1] = h;
    }
    qsort(sp, rs->n, sizeof *sp, cc_cmp_span);
    size_t d = 0;
    if (tiers)
        tiers[0] = tiers[1] = tiers[2] = 0;
    for (size_t i = 0; i < rs->n; i++) {
        if (i > 0 && sp[i][0] == sp[i - 1][0] && sp[i][1] == sp[i - 1][1])
            continue;
        d++;
        if (tiers)
            tiers[tsagg__span_tier(sp[i][0], (uint32_t)sp[i][1])]++;
    }
    free(sp);
    return d;
}

size_t cc_files_of_tier(const tsagg__manifest *m, uint32_t tier)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nparts; i++)
        n += tsagg__span_tier(m->parts[i].start, m->parts[i].hours) == (int)tier;
    return n;
}

cc_dirstate cc_scan_parts(const char *store, const tsagg__manifest *m)
{
    cc_dirstate s;
    memset(&s, 0, sizeof s);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/parts", store);
    DIR *d = opendir(dir);
    if (!d)
        return s;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        size_t len = strlen(n);
        uint64_t id;
        if (len > 4 && !strcmp(n + len - 4, ".tmp")) {
            s.tmp++;
        } else if (!strncmp(n, "run-", 4)) {
            s.runs++;
        } else if (tsagg__part_name_parse(n, &id) == 0) {
            s.parts++;
            if (m && !tsagg__manifest_has(m, id)) {
                s.unlisted++;
                if (!s.first_stray[0])
                    snprintf(s.first_stray, sizeof s.first_stray, "%s", n);
            }
            continue;
        } else {
            s.other++;
        }
        if (!s.first_stray[0])
            snprintf(s.first_stray, sizeof s.first_stray, "%s", n);
    }
    closedir(d);
    return s;
}

void cc_assert_clean_parts(const char *store, const tsagg__manifest *m,
                           const char *what)
{
    cc_dirstate s = cc_scan_parts(store, m);
    cr_assert(s.tmp == 0 && s.runs == 0 && s.unlisted == 0 && s.other == 0,
              "%s: parts/ holds %u .tmp, %u run, %u unlisted and %u other files (e.g. %s)", what,
              s.tmp, s.runs, s.unlisted, s.other, s.first_stray);
    cr_assert_eq(s.parts, m->nparts, "%s: %u partition files for %zu listed", what, s.parts,
                 m->nparts);
}

tsagg__manifest *cc_manifest(tsagg_store *st)
{
    tsagg__snapshot *s;
    int rc = tsagg__snapshot_acquire(st, &s);
    cr_assert_eq(rc, 0, "snapshot: %s", tsagg_strerror(rc));
    tsagg__manifest *m;
    cr_assert_eq(tsagg__manifest_clone(tsagg__snapshot_manifest(s), &m), 0);
    tsagg__snapshot_release(st, s);
    return m;
}

cc_result cc_check_store(tsagg_store *st, int strict, int rollups,
                         const char *what)
{
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    tsagg__manifest *m = cc_manifest(st);
    cc_rows expect = {0}, actual = {0};
    cc_log_rows(&c, st, 1, m->consumed_seq, NULL, NULL, &expect, NULL, NULL);
    cc_part_rows(&c, st, m, rollups, &actual);
    cc_result r = cc_check_rows(&c, &expect, &actual, strict, what);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    tsagg__manifest_free(m);
    cc_fini(&c);
    return r;
}

/* ---- appending -------------------------------------------------------------------- */

uint64_t cc_append_gagen(tsagg_store *st, gagen *g, uint64_t n)
{
    static tsagg_event batch[4096];
    uint64_t done = 0;
    while (done < n) {
        size_t want = n - done < 4096 ? (size_t)(n - done) : 4096;
        size_t k = gagen_next(g, batch, want);
        if (k == 0)
            break;
        int rc = tsagg_append(st, batch, k, NULL);
        cr_assert_eq(rc, 0, "append: %s", tsagg_strerror(rc));
        done += k;
    }
    return done;
}

tsagg_store *cc_open(const char *dir, uint32_t flags, const tsagg_io *io)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = flags;
    o.io_backend = TSAGG_IO_PWRITE;
    o.sync_mode = TSAGG_SYNC_NONE;
    if (io)
        o.io = io;
    tsagg_store *st = NULL;
    char err[512] = "";
    int rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open %s: %s (%s)", dir, tsagg_strerror(rc), err);
    return st;
}

tsagg_store *cc_open_writer(const char *dir)
{
    return cc_open(dir, TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, NULL);
}

tsagg_compact_stats cc_compact(tsagg_store *st, uint64_t budget)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    if (budget)
        o.memory_budget = budget;
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = tsagg_compact(st, &o, &s);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "compact: %s (%s)", tsagg_strerror(rc), err);
    return s;
}

tsagg_compact_stats cc_merge(tsagg_store *st)
{
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = tsagg_merge(st, NULL, &s);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "merge: %s (%s)", tsagg_strerror(rc), err);
    return s;
}
