/*
 * partfile_write.c - the streaming partition writer (partfile.h). Layout:
 * partfile_format.h, docs/format.md "Partition files".
 *
 * Rows are validated per call (sorted by (merchant, ts), inside the span)
 * before any is taken, then copied into the current row group (column
 * arrays of TSAGG__PART_GROUP_ROWS values) with their strings turned into
 * dictionary codes, first seen first numbered. A full group is encoded
 * column by column into the output buffer, which goes to "<path>.tmp"
 * whenever it passes 1 MiB. Every row also counts towards the rollup of
 * its merchant-hour, which the index (partfile_index.c) builds and writes
 * only for merchant-hours busy enough to get one.
 * finish() appends the dictionaries, the index pages, the footer and the
 * trailer, writes the header (it holds the row count), fsyncs and renames.
 * Memory: one row group, the output buffer, the dictionaries, the
 * compressed index, one merchant's hours and one merchant-hour's rollup.
 *
 * Any failure but TSAGG_EARG is sticky: the temporary file is removed at
 * once and every later call returns the same code.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <zstd.h>

#include "encoding.h"
#include "fileio.h"
#include "partfile_format.h"
#include "schema_internal.h"
#include "tsagg_errors.h"

#define MINUTE_US INT64_C(60000000)

/* ---- failure and output ----------------------------------------------------- */

int tsagg__pfw_fail(tsagg__part_writer *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
    va_end(ap);
    if (rc != TSAGG_EARG && !w->failed) {
        w->failed = rc;
        if (w->fd >= 0) {
            w->io->close(w->io->ctx, w->fd);
            w->fd = -1;
            w->io->unlink(w->io->ctx, w->tmp);
        }
    }
    return rc;
}

int tsagg__pfw_flush(tsagg__part_writer *w)
{
    if (w->out.len == 0)
        return 0;
    int rc = tsagg__write_all(w->io, w->fd, w->out.p, w->out.len, w->base);
    if (rc != 0)
        return tsagg__pfw_fail(w, rc, "%s: write of %zu bytes at offset %" PRIu64 ": %s", w->tmp,
                               w->out.len, w->base, tsagg_strerror(rc));
    w->base += w->out.len;
    w->out.len = 0;
    return 0;
}

/* Append a block to the output; *ref receives where it lands. */
int tsagg__pfw_block(tsagg__part_writer *w, uint8_t kind, uint16_t col, uint32_t ordinal,
                     const uint8_t *raw, size_t len, pf_blockref *ref)
{
    uint64_t pos = pf_out_pos(w);
    /* Rollup counts too: kept raw unless zstd halved them, they cost 0.13
     * bytes an event on the 30-day shape for 2.5 ms less CPU in a busy
     * merchant's first month (docs/format.md). */
    int rc = tsagg__pf_block_append(&w->out, w->cctx, w->zstd_pay_shift, kind, col, ordinal,
                                    raw, len);
    if (rc != 0)
        return tsagg__pfw_fail(w, rc == TSAGG_EARG ? -EFBIG : rc, "%s: block of %zu bytes: %s",
                               w->tmp, len, tsagg_strerror(rc));
    ref->off = pos;
    ref->len = (uint32_t)(pf_out_pos(w) - pos);
    return 0;
}

/* ---- open / abort ---------------------------------------------------------------- */

void tsagg__pfw_free(tsagg__part_writer *w)
{
    if (w->fd >= 0) {
        w->io->close(w->io->ctx, w->fd);
        w->io->unlink(w->io->ctx, w->tmp);
    }
    free(w->path);
    free(w->tmp);
    tsagg_schema_free(w->schema);
    free(w->ts);
    free(w->merchant);
    free(w->user);
    free(w->session);
    free(w->id);
    free(w->event);
    free(w->flags);
    free(w->dims);
    free(w->meas);
    free(w->groups);
    free(w->refs);
    if (w->dicts)
        for (uint32_t i = 0; i <= w->ndims; i++)
            tsagg__pf_dict_free(&w->dicts[i]);
    free(w->dicts);
    free(w->zstd_misses);
    free(w->zstd_tried);
    free(w->segs);
    free(w->held);
    free(w->held_meas);
    free(w->ptab);
    tsagg__buf_free(&w->page);
    tsagg__buf_free(&w->pages);
    tsagg__pf_rollup_fini(&w->roll);
    tsagg__buf_free(&w->rbuf);
    tsagg__buf_free(&w->sbuf);
    tsagg__buf_free(&w->out);
    free(w->enc);
    ZSTD_freeCCtx(w->cctx);
    free(w);
}

void tsagg__part_writer_abort(tsagg__part_writer *w)
{
    if (w)
        tsagg__pfw_free(w);
}

void tsagg__part_writer_errmsg(const tsagg__part_writer *w, char *buf, size_t len)
{
    if (buf && len)
        snprintf(buf, len, "%s", w ? w->errmsg : "");
}

static char *dup_str(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    char *p = malloc(a + b + 1);
    if (p) {
        memcpy(p, s, a);
        memcpy(p + a, suffix, b + 1);
    }
    return p;
}

void tsagg__part_writer_no_sync(tsagg__part_writer *w)
{
    w->no_sync = 1;
}

int tsagg__part_writer_open(const tsagg_io *io, const char *path, int64_t start,
                            uint32_t hours, const tsagg_schema *schema, uint64_t file_id,
                            tsagg__part_writer **out)
{
    if (!out)
        return TSAGG_EARG;
    *out = NULL;
    if (!io || !path || !*path || !schema || start % TSAGG__HOUR_US != 0 || hours < 1 ||
        hours > TSAGG__PART_MAX_HOURS || start > INT64_MAX - (int64_t)hours * TSAGG__HOUR_US)
        return TSAGG_EARG;
    tsagg__part_writer *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->io = io;
    w->fd = -1;
    w->start = start;
    w->hours = hours;
    w->zstd_pay_shift = pf_zstd_pay_shift(hours);
    w->file_id = file_id;
    w->ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    w->nmeasures = (uint32_t)tsagg_schema_measure_count(schema);
    w->ncols = PF_CORE_COLS + w->ndims + w->nmeasures;
    w->schema_id = tsagg_schema_id(schema);
    w->min_ts = INT64_MAX;
    w->max_ts = INT64_MIN;
    tsagg__pf_rollup_init(&w->roll, w->nmeasures);
    int rc = tsagg__schema_clone(schema, &w->schema);
    if (rc != 0) {
        w->schema = NULL;
        tsagg__pfw_free(w);
        return rc;
    }
    w->path = dup_str(path, "");
    w->tmp = dup_str(path, ".tmp");
    w->ts = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->ts);
    w->merchant = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->merchant);
    w->user = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->user);
    w->session = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->session);
    w->id = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->id);
    w->event = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->event);
    w->flags = malloc(TSAGG__PART_GROUP_ROWS * sizeof *w->flags);
    w->dims = malloc((size_t)TSAGG__PART_GROUP_ROWS * (w->ndims ? w->ndims : 1) * sizeof *w->dims);
    w->meas = malloc((size_t)TSAGG__PART_GROUP_ROWS * (w->nmeasures ? w->nmeasures : 1) *
                     sizeof *w->meas);
    w->enc_cap = tsagg__enc_bound(TSAGG_ENC_I64, TSAGG__PART_GROUP_ROWS);
    w->enc = malloc(w->enc_cap);
    w->dicts = calloc(1 + w->ndims, sizeof *w->dicts);
    w->zstd_misses = calloc(w->ncols, sizeof *w->zstd_misses);
    w->zstd_tried = calloc(w->ncols, sizeof *w->zstd_tried);
    w->held = malloc((TSAGG__PART_ROLLUP_MIN_ROWS - 1) * sizeof *w->held);
    w->held_meas = malloc((size_t)(TSAGG__PART_ROLLUP_MIN_ROWS - 1) *
                          (w->nmeasures ? w->nmeasures : 1) * sizeof *w->held_meas);
    w->cctx = ZSTD_createCCtx();
    rc = 0;
    if (!w->path || !w->tmp || !w->ts || !w->merchant || !w->user || !w->session || !w->id ||
        !w->event || !w->flags || !w->dims || !w->meas || !w->enc || !w->dicts || !w->held ||
        !w->held_meas || !w->cctx || !w->zstd_misses || !w->zstd_tried)
        rc = -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i <= w->ndims; i++) {
        rc = tsagg__pf_dict_init(&w->dicts[i]);
        uint32_t code;
        if (rc == 0 && i > 0) /* a dimension's code 0 is always "" */
            rc = tsagg__pf_dict_intern(&w->dicts[i], "", 0, &code);
    }
    if (rc == 0) {
        w->base = PF_HEADER_SIZE;
        w->fd = io->open(io->ctx, w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (w->fd < 0) {
            rc = w->fd;
            w->fd = -1;
        }
    }
    if (rc != 0) {
        tsagg__pfw_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* ---- row groups and merchants ------------------------------------------------------ */

static int encode_column(tsagg__part_writer *w, uint32_t col, size_t *written)
{
    uint32_t n = w->grows;
    switch (pf_col_type(col, w->ndims)) {
    case PF_T_I64:
        return tsagg__enc_i64(w->ts, n, w->enc, w->enc_cap, written);
    case PF_T_U64:
        return tsagg__enc_u64(w->merchant, n, w->enc, w->enc_cap, written);
    case PF_T_ID: {
        const uint64_t *v = col == TSAGG__COL_USER      ? w->user
                            : col == TSAGG__COL_SESSION ? w->session
                                                        : w->id;
        return tsagg__enc_id(v, n, w->enc, w->enc_cap, written);
    }
    case PF_T_FLAGS:
        return tsagg__enc_u32(w->flags, n, UINT32_MAX, w->enc, w->enc_cap, written);
    case PF_T_CODE:
        if (col == TSAGG__COL_EVENT)
            return tsagg__enc_u32(w->event, n, w->dicts[0].n, w->enc, w->enc_cap, written);
        else {
            uint32_t d = col - TSAGG__COL_DIM0;
            return tsagg__enc_u32(w->dims + (size_t)d * TSAGG__PART_GROUP_ROWS, n,
                                  w->dicts[1 + d].n, w->enc, w->enc_cap, written);
        }
    case PF_T_F64:
    default: {
        size_t m = col - TSAGG__COL_DIM0 - w->ndims;
        return tsagg__enc_f64(w->meas + m * TSAGG__PART_GROUP_ROWS, n, w->enc, w->enc_cap,
                              written);
    }
    }
}

/*
 * A column block of the current row group. zstd is tried on every block
 * of a column until ZSTD_MISSES_MAX of its blocks have been written, and
 * on every block after that too once it paid for one (the rule of
 * tsagg__pf_block_append: it saves an eighth, or a thirty-second); on a
 * column it never paid for, only every ZSTD_RETRY_GROUPS-th row group.
 * Timestamps and hashed ids, encoded columns zstd does not shrink on
 * GA-like data, cost 3% of a bulk load in attempts thrown away.
 */
#define ZSTD_MISSES_MAX 8
#define ZSTD_PAID UINT8_MAX /* zstd_misses of a column it paid for */
#define ZSTD_RETRY_GROUPS 16

static int column_block(tsagg__part_writer *w, uint32_t c, size_t len, pf_blockref *ref)
{
    uint32_t g = w->ngroups;
    uint8_t misses = w->zstd_misses[c];
    int try_zstd = misses < ZSTD_MISSES_MAX || misses == ZSTD_PAID ||
                   g - w->zstd_tried[c] >= ZSTD_RETRY_GROUPS;
    uint64_t pos = pf_out_pos(w);
    size_t at = w->out.len;
    int rc = tsagg__pf_block_append(&w->out, try_zstd ? w->cctx : NULL, w->zstd_pay_shift,
                                    PF_KIND_COLUMN, (uint16_t)c, g, w->enc, len);
    if (rc != 0)
        return tsagg__pfw_fail(w, rc == TSAGG_EARG ? -EFBIG : rc, "%s: block of %zu bytes: %s",
                               w->tmp, len, tsagg_strerror(rc));
    if (try_zstd && len >= PF_ZSTD_MIN && misses != ZSTD_PAID) {
        w->zstd_tried[c] = g;
        if (w->out.p[at + 1] == PF_CODEC_ZSTD)
            w->zstd_misses[c] = ZSTD_PAID;
        else if (misses < ZSTD_MISSES_MAX)
            w->zstd_misses[c]++;
    }
    ref->off = pos;
    ref->len = (uint32_t)(pf_out_pos(w) - pos);
    return 0;
}

int tsagg__pfw_flush_group(tsagg__part_writer *w)
{
    uint32_t n = w->grows;
    if (w->ngroups == w->groups_cap) {
        uint32_t cap = w->groups_cap ? w->groups_cap * 2 : 16;
        tsagg__group_info *g = realloc(w->groups, (size_t)cap * sizeof *g);
        if (!g)
            return tsagg__pfw_fail(w, -ENOMEM, "out of memory");
        w->groups = g;
        pf_blockref *r = realloc(w->refs, (size_t)cap * w->ncols * sizeof *r);
        if (!r)
            return tsagg__pfw_fail(w, -ENOMEM, "out of memory");
        w->refs = r;
        w->groups_cap = cap;
    }
    tsagg__group_info *g = &w->groups[w->ngroups];
    g->row_start = w->rows - n;
    g->rows = n;
    g->min_ts = INT64_MAX;
    g->max_ts = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        g->min_ts = w->ts[i] < g->min_ts ? w->ts[i] : g->min_ts;
        g->max_ts = w->ts[i] > g->max_ts ? w->ts[i] : g->max_ts;
    }
    g->min_merchant = w->merchant[0]; /* sorted */
    g->max_merchant = w->merchant[n - 1];
    pf_blockref *refs = w->refs + (size_t)w->ngroups * w->ncols;
    for (uint32_t c = 0; c < w->ncols; c++) {
        size_t written = 0;
        int rc = encode_column(w, c, &written);
        if (rc != 0)
            return tsagg__pfw_fail(w, rc, "%s: encoding column %u of row group %u: %s", w->tmp, c,
                                   w->ngroups, tsagg_strerror(rc));
        if ((rc = column_block(w, c, written, &refs[c])) != 0)
            return rc;
    }
    w->ngroups++;
    w->grows = 0;
    return w->out.len >= PF_OUT_FLUSH ? tsagg__pfw_flush(w) : 0;
}

/* ---- adding rows ------------------------------------------------------------------ */

static int check_rows(tsagg__part_writer *w, const tsagg__row *rows, const uint32_t *codes,
                      size_t n)
{
    int have = w->rows > 0;
    uint64_t pm = w->last_merchant;
    int64_t pt = w->last_ts;
    for (size_t i = 0; i < n; i++) {
        const tsagg__row *r = &rows[i];
        if (r->ts < w->start ||
            (uint64_t)r->ts - (uint64_t)w->start >= (uint64_t)w->hours * TSAGG__HOUR_US)
            return tsagg__pfw_fail(w, TSAGG_EARG,
                                   "row %zu: ts %" PRId64 " outside the span of %u h from %" PRId64,
                                   i, r->ts, w->hours, w->start);
        if (have && (r->merchant < pm || (r->merchant == pm && r->ts < pt)))
            return tsagg__pfw_fail(w, TSAGG_EARG,
                                   "row %zu: (merchant %" PRIu64 ", ts %" PRId64
                                   ") sorts before the previous row (%" PRIu64 ", %" PRId64 ")",
                                   i, r->merchant, r->ts, pm, pt);
        if (r->flags & ~TSAGG_EVENT_HAS_ID)
            return tsagg__pfw_fail(w, TSAGG_EARG, "row %zu: unknown flags 0x%x", i, r->flags);
        if (w->nmeasures && !r->measures)
            return tsagg__pfw_fail(w, TSAGG_EARG, "row %zu: measures missing", i);
        for (uint32_t d = 0; codes && d < 1 + w->ndims; d++) {
            uint32_t c = codes[i * (1 + (size_t)w->ndims) + d];
            if (c >= w->dicts[d].n)
                return tsagg__pfw_fail(w, TSAGG_EARG, "row %zu: code %u of dictionary %u unknown",
                                       i, c, d);
        }
        if (codes) { /* strings checked as they were interned */
            have = 1;
            pm = r->merchant;
            pt = r->ts;
            continue;
        }
        if ((r->event.len && !r->event.ptr) || r->event.len > TSAGG_EVENT_NAME_MAX)
            return tsagg__pfw_fail(w, TSAGG_EARG, "row %zu: bad event name", i);
        if (w->ndims && !r->dims)
            return tsagg__pfw_fail(w, TSAGG_EARG, "row %zu: dims missing", i);
        for (uint32_t d = 0; d < w->ndims; d++)
            if ((r->dims[d].len && !r->dims[d].ptr) || r->dims[d].len > TSAGG_VALUE_MAX)
                return tsagg__pfw_fail(w, TSAGG_EARG, "row %zu: bad value of dimension %u", i, d);
        have = 1;
        pm = r->merchant;
        pt = r->ts;
    }
    return 0;
}

static int add_row(tsagg__part_writer *w, const tsagg__row *r, const uint32_t *codes)
{
    int rc;
    uint64_t since = (uint64_t)r->ts - (uint64_t)w->start;
    uint32_t hour = (uint32_t)(since / (uint64_t)TSAGG__HOUR_US);
    if (!w->in_merchant || r->merchant != w->last_merchant) {
        if (w->in_merchant && (rc = tsagg__pfw_end_merchant(w)) != 0)
            return rc;
        if ((rc = tsagg__pfw_begin_merchant(w, r->merchant, r->ts, hour)) != 0)
            return rc;
    } else if (hour != w->cur_hour && (rc = tsagg__pfw_next_hour(w, hour)) != 0) {
        return rc;
    }
    uint32_t i = w->grows, code;
    if (codes)
        code = codes[0];
    else if ((rc = tsagg__pf_dict_intern(&w->dicts[0], r->event.ptr, r->event.len, &code)) != 0)
        return tsagg__pfw_fail(w, rc, "%s: event dictionary: %s", w->tmp, tsagg_strerror(rc));
    w->event[i] = code;
    for (uint32_t d = 0; d < w->ndims; d++) {
        uint32_t dc;
        if (codes)
            dc = codes[1 + d];
        else if ((rc = tsagg__pf_dict_intern(&w->dicts[1 + d], r->dims[d].ptr, r->dims[d].len,
                                             &dc)) != 0)
            return tsagg__pfw_fail(w, rc, "%s: dictionary of dimension %u: %s", w->tmp, d,
                                   tsagg_strerror(rc));
        w->dims[(size_t)d * TSAGG__PART_GROUP_ROWS + i] = dc;
    }
    for (uint32_t m = 0; m < w->nmeasures; m++)
        w->meas[(size_t)m * TSAGG__PART_GROUP_ROWS + i] = r->measures[m];
    w->ts[i] = r->ts;
    w->merchant[i] = r->merchant;
    w->user[i] = r->user;
    w->session[i] = r->session;
    w->flags[i] = r->flags;
    w->id[i] = (r->flags & TSAGG_EVENT_HAS_ID) ? r->id : 0;
    int minute = (int)(since % (uint64_t)TSAGG__HOUR_US / (uint64_t)MINUTE_US);
    if ((rc = tsagg__pfw_rollup_row(w, minute, code, r->user, r->session, r->measures)) != 0)
        return rc;
    w->last_merchant = r->merchant;
    w->last_ts = r->ts;
    w->min_ts = r->ts < w->min_ts ? r->ts : w->min_ts;
    w->max_ts = r->ts > w->max_ts ? r->ts : w->max_ts;
    w->rows++;
    if (++w->grows == TSAGG__PART_GROUP_ROWS)
        return tsagg__pfw_flush_group(w);
    return 0;
}

int tsagg__part_writer_add(tsagg__part_writer *w, const tsagg__row *rows, size_t n)
{
    if (!w || (n && !rows))
        return TSAGG_EARG;
    if (w->failed)
        return w->failed;
    int rc = check_rows(w, rows, NULL, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_row(w, &rows[i], NULL);
    for (uint32_t d = 0; d < 1 + w->ndims; d++)
        tsagg__pf_dict_forget(&w->dicts[d]);
    return rc;
}

int tsagg__part_writer_add_coded(tsagg__part_writer *w, const tsagg__row *rows,
                                 const uint32_t *codes, size_t n)
{
    if (!w || (n && (!rows || !codes)))
        return TSAGG_EARG;
    if (w->failed)
        return w->failed;
    int rc = check_rows(w, rows, codes, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_row(w, &rows[i], codes + i * (1 + (size_t)w->ndims));
    return rc;
}

int tsagg__part_writer_intern(tsagg__part_writer *w, uint32_t dict, const char *s, uint32_t len,
                              uint32_t *code)
{
    if (!w || dict > w->ndims || (len && !s) ||
        len > (dict == 0 ? TSAGG_EVENT_NAME_MAX : TSAGG_VALUE_MAX))
        return w ? tsagg__pfw_fail(w, TSAGG_EARG, "bad string for dictionary %u", dict)
                 : TSAGG_EARG;
    if (w->failed)
        return w->failed;
    int rc = tsagg__pf_dict_intern(&w->dicts[dict], s, len, code);
    if (rc != 0)
        return tsagg__pfw_fail(w, rc, "%s: dictionary %u: %s", w->tmp, dict, tsagg_strerror(rc));
    return 0;
}
