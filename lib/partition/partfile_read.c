/*
 * partfile_read.c - reading an open partition file (partfile.h): blocks are
 * read on demand with pread through the I/O table and checked every time.
 * Dictionaries are loaded on first use under a mutex and published with an
 * atomic pointer, so later lookups take no lock. zstd decompression
 * contexts come from a small locked pool. Opening: partfile_open.c.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <xxhash.h>
#include <zstd.h>

#include "bytes.h"
#include "encoding.h"
#include "fileio.h"
#include "partfile_format.h"
#include "tsagg_errors.h"

int tsagg__pf_perr(tsagg__part *p, int rc, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&p->err_mu);
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&p->err_mu);
    return rc;
}

void tsagg__part_errmsg(tsagg__part *p, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    if (!p) {
        buf[0] = 0;
        return;
    }
    pthread_mutex_lock(&p->err_mu);
    snprintf(buf, len, "%s", p->errmsg);
    pthread_mutex_unlock(&p->err_mu);
}

int tsagg__pf_block_at(tsagg__part *p, const uint8_t *buf, size_t len, uint64_t off,
                       uint8_t kind, uint16_t col, uint32_t ordinal, uint32_t raw_max,
                       const char *what, const uint8_t **raw, uint8_t **owned, size_t *raw_len)
{
    const char *why = NULL;
    pf_block_header h;
    *owned = NULL;
    int rc = tsagg__pf_block_check(buf, len, kind, col, ordinal, raw_max, &h, &why);
    if (rc == 0) {
        ZSTD_DCtx *d = h.codec == PF_CODEC_ZSTD ? tsagg__dctx_get(p->dctx) : NULL;
        if (h.codec == PF_CODEC_ZSTD && !d)
            rc = -ENOMEM;
        else
            rc = tsagg__pf_block_raw(buf, &h, d, raw, owned);
        tsagg__dctx_put(p->dctx, d);
        if (rc == TSAGG_ECORRUPT)
            why = "bad zstd frame";
    }
    if (rc != 0) {
        if (why)
            return tsagg__pf_perr(p, rc, "%s: %s at offset %" PRIu64 ": %s", p->path, what, off,
                                  why);
        return tsagg__pf_perr(p, rc, "%s: %s at offset %" PRIu64 ": %s", p->path, what, off,
                              tsagg_strerror(rc));
    }
    *raw_len = h.raw;
    return 0;
}

int tsagg__pf_read_range(tsagg__part *p, pf_blockref ref, const char *what, uint8_t **buf)
{
    *buf = malloc(ref.len ? ref.len : 1);
    if (!*buf)
        return tsagg__pf_perr(p, -ENOMEM, "%s: %s: out of memory", p->path, what);
    int rc = tsagg__read_all(p->io, p->fd, *buf, ref.len, ref.off, NULL);
    if (rc == 0)
        return 0;
    free(*buf);
    *buf = NULL;
    if (rc == 1)
        return tsagg__pf_perr(p, TSAGG_ECORRUPT, "%s: %s at offset %" PRIu64
                              ": file ends inside the block", p->path, what, ref.off);
    return tsagg__pf_perr(p, rc, "%s: %s at offset %" PRIu64 ": read: %s", p->path, what,
                          ref.off, tsagg_strerror(rc));
}

int tsagg__pf_read_block(tsagg__part *p, pf_blockref ref, uint8_t kind, uint16_t col,
                         uint32_t ordinal, uint32_t raw_max, const char *what, uint8_t **mem,
                         const uint8_t **raw, size_t *raw_len)
{
    uint8_t *buf;
    int rc = tsagg__pf_read_range(p, ref, what, &buf);
    if (rc != 0)
        return rc;
    uint8_t *owned;
    rc = tsagg__pf_block_at(p, buf, ref.len, ref.off, kind, col, ordinal, raw_max, what, raw,
                            &owned, raw_len);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    if (owned) {
        free(buf);
        *mem = owned;
    } else {
        *mem = buf;
    }
    return 0;
}

/* ---- accessors ----------------------------------------------------------------------- */

const tsagg__part_info *tsagg__part_get_info(const tsagg__part *p)
{
    return &p->info;
}

const tsagg_schema *tsagg__part_schema(const tsagg__part *p)
{
    return p->schema;
}

const char *tsagg__part_path(const tsagg__part *p)
{
    return p->path;
}

uint64_t tsagg__part_file_id(const tsagg__part *p)
{
    return p->file_id;
}

uint32_t tsagg__part_groups(const tsagg__part *p)
{
    return p->ngroups;
}

const tsagg__group_info *tsagg__part_group(const tsagg__part *p, uint32_t g)
{
    return g < p->ngroups ? &p->groups[g] : NULL;
}

void tsagg__part_space(const tsagg__part *p, tsagg__part_space_info *s)
{
    memset(s, 0, sizeof *s);
    s->header = PF_HEADER_SIZE;
    for (size_t i = 0; i < (size_t)p->ngroups * p->ncols; i++)
        s->columns += p->refs[i].len;
    for (uint32_t i = 0; i < p->ndicts; i++)
        s->dicts += p->drefs[i].len;
    s->rollups = p->rollup_bytes;
    s->index = p->page_bytes + p->segment_bytes;
    s->footer = p->info.bytes - p->body_end;
}

uint64_t tsagg__part_column_bytes(const tsagg__part *p, uint32_t col)
{
    uint64_t n = 0;
    if (col < p->ncols)
        for (uint32_t g = 0; g < p->ngroups; g++)
            n += p->refs[(size_t)g * p->ncols + col].len;
    return n;
}

uint64_t tsagg__part_dict_bytes(const tsagg__part *p, uint32_t col)
{
    int d = pf_dict_index(col, p->ndims);
    return d < 0 ? 0 : p->drefs[d].len;
}

/* ---- columns ------------------------------------------------------------------------- */

int tsagg__part_read_column(tsagg__part *p, uint32_t col, uint32_t g, void *out)
{
    if (!p || !out || col >= p->ncols || g >= p->ngroups)
        return TSAGG_EARG;
    const tsagg__group_info *gi = &p->groups[g];
    pf_blockref ref = p->refs[(size_t)g * p->ncols + col];
    char what[64];
    snprintf(what, sizeof what, "column %u block of row group %u", col, g);
    uint8_t *mem;
    const uint8_t *raw;
    size_t len;
    uint32_t raw_max = (uint32_t)(pf_col_max_len(p->ndims, col, gi->rows) - PF_BLOCK_HEADER);
    int rc = tsagg__pf_read_block(p, ref, PF_KIND_COLUMN, (uint16_t)col, g, raw_max, what, &mem,
                                  &raw, &len);
    if (rc != 0)
        return rc;
    size_t n = gi->rows;
    const char *why = "block does not decode";
    switch (pf_col_type(col, p->ndims)) {
    case PF_T_I64: {
        int64_t *v = out;
        rc = tsagg__dec_i64(raw, len, v, n);
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        /* The zone map is exact: a range wider than the rows' is damage too. */
        if (rc == 0 && (lo != gi->min_ts || hi != gi->max_ts)) {
            rc = TSAGG_ECORRUPT;
            why = "ts range disagrees with the row group's";
        }
        break;
    }
    case PF_T_U64: {
        uint64_t *v = out;
        rc = tsagg__dec_u64(raw, len, v, n);
        if (rc == 0 && (v[0] != gi->min_merchant || v[n - 1] != gi->max_merchant))
            rc = TSAGG_ECORRUPT;
        for (size_t i = 1; rc == 0 && i < n; i++)
            if (v[i] < v[i - 1])
                rc = TSAGG_ECORRUPT;
        if (rc == TSAGG_ECORRUPT)
            why = "merchants unsorted or outside the row group's range";
        break;
    }
    case PF_T_ID:
        rc = tsagg__dec_id(raw, len, out, n);
        break;
    case PF_T_FLAGS:
        rc = tsagg__dec_u32(raw, len, out, n, UINT32_MAX);
        break;
    case PF_T_CODE:
        rc = tsagg__dec_u32(raw, len, out, n, p->dcount[pf_dict_index(col, p->ndims)]);
        break;
    case PF_T_F64:
        rc = tsagg__dec_f64(raw, len, out, n);
        break;
    }
    free(mem);
    if (rc == 0)
        return 0;
    if (rc != -ENOMEM)
        rc = TSAGG_ECORRUPT;
    return tsagg__pf_perr(p, rc, "%s: %s at offset %" PRIu64 ": %s", p->path, what, ref.off,
                          rc == -ENOMEM ? "out of memory" : why);
}

/* ---- dictionaries ---------------------------------------------------------------------- */

static int dict_load(tsagg__part *p, uint32_t col, pf_pdict **out)
{
    int d = pf_dict_index(col, p->ndims);
    if (d < 0)
        return TSAGG_EARG;
    pf_pdict *pd = atomic_load_explicit(&p->dicts[d], memory_order_acquire);
    if (pd) {
        *out = pd;
        return 0;
    }
    pthread_mutex_lock(&p->load_mu);
    pd = atomic_load_explicit(&p->dicts[d], memory_order_relaxed);
    if (pd) {
        pthread_mutex_unlock(&p->load_mu);
        *out = pd;
        return 0;
    }
    char what[64];
    snprintf(what, sizeof what, "dictionary block of column %u", col);
    pf_blockref ref = p->drefs[d];
    uint8_t *mem = NULL;
    const uint8_t *raw;
    size_t len;
    int rc = tsagg__pf_read_block(p, ref, PF_KIND_DICT, (uint16_t)col, p->dcount[d], PF_RAW_MAX,
                                  what, &mem, &raw, &len);
    const char *why = NULL;
    pd = rc == 0 ? calloc(1, sizeof *pd) : NULL;
    if (rc == 0 && !pd)
        rc = -ENOMEM;
    if (rc == 0 && (tsagg__strtab_open(&pd->t, raw, len) != 0 || pd->t.count != p->dcount[d]))
        why = "not a string table of the stated size";
    if (rc == 0 && !why && d > 0) {
        const char *s;
        size_t sl;
        if (tsagg__strtab_get(&pd->t, 0, &s, &sl) != 0 || sl != 0)
            why = "code 0 of a dimension is not the empty string";
    }
    if (pd)
        atomic_init(&pd->idx, NULL);
    if (rc == 0 && why)
        rc = tsagg__pf_perr(p, TSAGG_ECORRUPT, "%s: %s at offset %" PRIu64 ": %s", p->path, what,
                            ref.off, why);
    else if (rc == -ENOMEM)
        tsagg__pf_perr(p, rc, "%s: %s: out of memory", p->path, what);
    if (rc != 0) {
        free(pd);
        free(mem);
        pthread_mutex_unlock(&p->load_mu);
        return rc;
    }
    pd->mem = mem;
    atomic_store_explicit(&p->dicts[d], pd, memory_order_release);
    pthread_mutex_unlock(&p->load_mu);
    *out = pd;
    return 0;
}

/*
 * The hash index of dictionary d (column col), built on the first find
 * under the load lock: every string's code, checked to appear once (a
 * string twice would make find miss the rows of its other code). The
 * failure repeats on every find.
 */
static int dict_index(tsagg__part *p, uint32_t col, pf_pdict *pd, const uint32_t **out)
{
    const uint32_t *have = atomic_load_explicit(&pd->idx, memory_order_acquire);
    if (have) {
        *out = have;
        return 0;
    }
    pthread_mutex_lock(&p->load_mu);
    uint32_t *idx = atomic_load_explicit(&pd->idx, memory_order_relaxed);
    if (idx) {
        pthread_mutex_unlock(&p->load_mu);
        *out = idx;
        return 0;
    }
    uint32_t slots = 16;
    while (slots < 2 * (uint64_t)pd->t.count && slots < (1u << 31))
        slots *= 2;
    idx = calloc(slots, sizeof *idx);
    if (!idx) {
        pthread_mutex_unlock(&p->load_mu);
        return tsagg__pf_perr(p, -ENOMEM, "%s: dictionary block of column %u: out of memory",
                              p->path, col);
    }
    uint32_t mask = slots - 1;
    const char *why = NULL;
    for (uint32_t c = 0; !why && c < pd->t.count; c++) {
        const char *s, *s2;
        size_t sl, sl2;
        tsagg__strtab_get(&pd->t, c, &s, &sl);
        uint32_t i = (uint32_t)XXH3_64bits(s, sl) & mask;
        for (; idx[i]; i = (i + 1) & mask) {
            tsagg__strtab_get(&pd->t, idx[i] - 1, &s2, &sl2);
            if (sl == sl2 && (sl == 0 || memcmp(s, s2, sl) == 0))
                why = "a string appears twice";
        }
        idx[i] = c + 1;
    }
    if (why) {
        free(idx);
        pthread_mutex_unlock(&p->load_mu);
        return tsagg__pf_perr(p, TSAGG_ECORRUPT,
                              "%s: dictionary block of column %u at offset %" PRIu64 ": %s",
                              p->path, col, p->drefs[pf_dict_index(col, p->ndims)].off, why);
    }
    pd->mask = mask;
    atomic_store_explicit(&pd->idx, idx, memory_order_release);
    pthread_mutex_unlock(&p->load_mu);
    *out = idx;
    return 0;
}

int tsagg__part_dict_get(tsagg__part *p, uint32_t col, uint32_t code, const char **s, size_t *len)
{
    if (!p || !s || !len)
        return TSAGG_EARG;
    pf_pdict *d;
    int rc = dict_load(p, col, &d);
    if (rc != 0)
        return rc;
    return tsagg__strtab_get(&d->t, code, s, len);
}

int tsagg__part_dict_find(tsagg__part *p, uint32_t col, const char *s, size_t len, uint32_t *code)
{
    if (!p || (len && !s))
        return TSAGG_EARG;
    pf_pdict *d;
    const uint32_t *idx = NULL;
    int rc = dict_load(p, col, &d);
    if (rc == 0)
        rc = dict_index(p, col, d, &idx);
    if (rc != 0)
        return rc;
    uint32_t i = (uint32_t)XXH3_64bits(s, len) & d->mask;
    for (; idx[i]; i = (i + 1) & d->mask) {
        const char *s2;
        size_t l2;
        tsagg__strtab_get(&d->t, idx[i] - 1, &s2, &l2);
        if (l2 == len && (len == 0 || memcmp(s, s2, len) == 0)) {
            if (code)
                *code = idx[i] - 1;
            return 1;
        }
    }
    return 0;
}

uint32_t tsagg__part_dict_size(tsagg__part *p, uint32_t col)
{
    int d = p ? pf_dict_index(col, p->ndims) : -1;
    return d < 0 ? 0 : p->dcount[d];
}
