/*
 * partfile_finish.c - the end of a partition file (partfile.h): the last
 * row group and merchant, the dictionary blocks, the merchant index pages,
 * the footer and the trailer, then the header (it holds the row count),
 * fsync and rename. Layout: partfile_format.h, docs/format.md "Partition
 * files".
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <inttypes.h>
#include <stdio.h>
#include <xxhash.h>
#include <zstd.h>

#include "bytes.h"
#include "encoding.h"
#include "fileio.h"
#include "partfile_format.h"
#include "schema_internal.h"
#include "tsagg_errors.h"

static int write_dicts(tsagg__part_writer *w, pf_blockref *refs)
{
    const char **strs = NULL;
    size_t *lens = NULL;
    tsagg__buf tab = {0};
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i <= w->ndims; i++) {
        pf_wdict *d = &w->dicts[i];
        const char **s2 = realloc(strs, ((size_t)d->n + 1) * sizeof *strs);
        if (s2)
            strs = s2;
        size_t *l2 = realloc(lens, ((size_t)d->n + 1) * sizeof *lens);
        if (l2)
            lens = l2;
        if (!s2 || !l2) {
            rc = tsagg__pfw_fail(w, -ENOMEM, "out of memory");
            break;
        }
        for (uint32_t c = 0; c < d->n; c++) {
            uint32_t l;
            strs[c] = (const char *)pf_dict_str(d, c, &l);
            lens[c] = l;
        }
        size_t size = tsagg__strtab_size(d->n, d->data.len), written;
        tab.len = 0;
        if (tsagg__buf_reserve(&tab, size) != 0) {
            rc = tsagg__pfw_fail(w, -ENOMEM, "out of memory");
            break;
        }
        rc = tsagg__strtab_encode(strs, lens, d->n, tab.p, size, &written);
        if (rc != 0) {
            rc = tsagg__pfw_fail(w, rc, "%s: dictionary %u: %s", w->tmp, i, tsagg_strerror(rc));
            break;
        }
        uint16_t col = (uint16_t)(i == 0 ? TSAGG__COL_EVENT : TSAGG__COL_DIM0 + i - 1);
        if ((rc = tsagg__pfw_block(w, PF_KIND_DICT, col, d->n, tab.p, written, &refs[i])) == 0)
            rc = tsagg__pfw_flush(w);
    }
    free(strs);
    free(lens);
    tsagg__buf_free(&tab);
    return rc;
}

static int build_footer(tsagg__part_writer *w, const pf_blockref *drefs, tsagg__buf *f)
{
    uint8_t schema[TSAGG_SCHEMA_ENCODED_MAX];
    size_t slen = tsagg__schema_encode(w->schema, schema);
    uint64_t size =
        pf_footer_size((uint32_t)slen, w->ncols, 1 + w->ndims, w->ngroups, w->nmerchants);
    if (size > PF_RAW_MAX)
        return tsagg__pfw_fail(w, -EFBIG, "%s: footer of %" PRIu64 " bytes is too large", w->tmp,
                               size);
    if (tsagg__buf_reserve(f, (size_t)size) != 0)
        return tsagg__pfw_fail(w, -ENOMEM, "out of memory");
    uint8_t *p = f->p;
    tsagg__put_u64(p, w->rows);
    tsagg__put_u64(p + 8, w->nmerchants);
    tsagg__put_u64(p + 16, (uint64_t)(w->rows ? w->min_ts : 0));
    tsagg__put_u64(p + 24, (uint64_t)(w->rows ? w->max_ts : 0));
    tsagg__put_u32(p + 32, w->ngroups);
    tsagg__put_u16(p + 36, (uint16_t)w->ncols);
    tsagg__put_u16(p + 38, (uint16_t)(1 + w->ndims));
    tsagg__put_u32(p + 40, TSAGG__PART_GROUP_ROWS);
    tsagg__put_u32(p + 44, (uint32_t)slen);
    tsagg__put_u64(p + 48, w->rollup_bytes);
    tsagg__put_u64(p + 56, w->segment_bytes);
    memcpy(p + PF_FOOTER_FIXED, schema, slen);
    p += PF_FOOTER_FIXED + slen;
    for (uint32_t i = 0; i <= w->ndims; i++, p += PF_DICT_ENTRY) {
        tsagg__put_u64(p, drefs[i].off);
        tsagg__put_u32(p + 8, drefs[i].len);
        tsagg__put_u32(p + 12, w->dicts[i].n);
    }
    for (uint32_t g = 0; g < w->ngroups; g++) {
        const tsagg__group_info *gi = &w->groups[g];
        tsagg__put_u64(p, gi->row_start);
        tsagg__put_u32(p + 8, gi->rows);
        tsagg__put_u32(p + 12, 0);
        tsagg__put_u64(p + 16, (uint64_t)gi->min_ts);
        tsagg__put_u64(p + 24, (uint64_t)gi->max_ts);
        tsagg__put_u64(p + 32, gi->min_merchant);
        tsagg__put_u64(p + 40, gi->max_merchant);
        p += PF_GROUP_FIXED;
        for (uint32_t c = 0; c < w->ncols; c++, p += PF_GROUP_COL) {
            const pf_blockref *r = &w->refs[(size_t)g * w->ncols + c];
            tsagg__put_u64(p, r->off);
            tsagg__put_u32(p + 8, r->len);
        }
    }
    for (uint64_t i = 0; i < w->npages; i++, p += PF_PAGE_ENTRY) {
        const pf_pageref *pg = &w->ptab[i];
        tsagg__put_u64(p, pg->first_merchant);
        tsagg__put_u64(p + 8, pg->first_row);
        tsagg__put_u64(p + 16, pg->ref.off);
        tsagg__put_u32(p + 24, pg->ref.len);
        tsagg__put_u32(p + 28, pg->entries);
    }
    f->len = (size_t)size;
    return 0;
}

/* Footer (zstd when it pays, as for blocks) and trailer, written after the
 * output. */
static int write_footer(tsagg__part_writer *w, const tsagg__buf *raw)
{
    size_t bound = ZSTD_compressBound(raw->len);
    uint8_t *z = malloc(bound + PF_TRAILER_SIZE);
    if (!z)
        return tsagg__pfw_fail(w, -ENOMEM, "out of memory");
    uint8_t codec = PF_CODEC_NONE;
    size_t stored = raw->len;
    size_t zn = raw->len >= PF_ZSTD_MIN
                    ? ZSTD_compressCCtx(w->cctx, z, bound, raw->p, raw->len, PF_ZSTD_LEVEL)
                    : 0;
    if (raw->len >= PF_ZSTD_MIN && !ZSTD_isError(zn) && zn <= raw->len - (raw->len >> w->zstd_pay_shift)) {
        codec = PF_CODEC_ZSTD;
        stored = zn;
    } else {
        memcpy(z, raw->p, raw->len);
    }
    uint64_t off = pf_out_pos(w);
    uint8_t *t = z + stored;
    tsagg__put_u64(t, off);
    tsagg__put_u64(t + 8, stored);
    tsagg__put_u64(t + 16, raw->len);
    memset(t + 24, 0, 8);
    t[24] = codec;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, z, stored);
    XXH3_64bits_update(&st, t, 32);
    tsagg__put_u64(t + 32, XXH3_64bits_digest(&st));
    memcpy(t + 40, PF_TRAILER_MAGIC, 8);
    int rc = tsagg__pfw_flush(w);
    if (rc == 0) {
        rc = tsagg__write_all(w->io, w->fd, z, stored + PF_TRAILER_SIZE, w->base);
        if (rc != 0)
            rc = tsagg__pfw_fail(w, rc, "%s: writing the footer at offset %" PRIu64 ": %s", w->tmp,
                                 w->base, tsagg_strerror(rc));
        else
            w->base += stored + PF_TRAILER_SIZE;
    }
    free(z);
    return rc;
}

static void encode_header(const tsagg__part_writer *w, uint8_t h[PF_HEADER_SIZE])
{
    memcpy(h, PF_MAGIC, 8);
    tsagg__put_u16(h + 8, PF_VERSION);
    tsagg__put_u16(h + 10, 0);
    tsagg__put_u32(h + 12, PF_HEADER_SIZE);
    tsagg__put_u64(h + 16, (uint64_t)w->start);
    tsagg__put_u64(h + 24, w->file_id);
    tsagg__put_u64(h + 32, w->schema_id);
    tsagg__put_u64(h + 40, w->rows);
    tsagg__put_u32(h + 48, w->hours);
    tsagg__put_u32(h + 52, 0);
    tsagg__put_u64(h + 56, XXH64(h, 56, 0));
}

static int finish(tsagg__part_writer *w)
{
    int rc;
    if (w->failed)
        return w->failed;
    if (w->in_merchant && (rc = tsagg__pfw_end_merchant(w)) != 0)
        return rc;
    if (w->grows && (rc = tsagg__pfw_flush_group(w)) != 0)
        return rc;
    if ((rc = tsagg__pfw_flush(w)) != 0)
        return rc;
    pf_blockref *drefs = calloc(1 + w->ndims, sizeof *drefs);
    if (!drefs)
        return tsagg__pfw_fail(w, -ENOMEM, "out of memory");
    tsagg__buf f = {0};
    if ((rc = write_dicts(w, drefs)) == 0 && (rc = tsagg__pfw_write_index(w)) == 0 &&
        (rc = build_footer(w, drefs, &f)) == 0)
        rc = write_footer(w, &f);
    free(drefs);
    tsagg__buf_free(&f);
    if (rc != 0)
        return rc;
    uint8_t h[PF_HEADER_SIZE];
    encode_header(w, h);
    if ((rc = tsagg__write_all(w->io, w->fd, h, sizeof h, 0)) != 0)
        return tsagg__pfw_fail(w, rc, "%s: writing the header: %s", w->tmp, tsagg_strerror(rc));
    if (!w->no_sync && (rc = w->io->fsync(w->io->ctx, w->fd)) != 0)
        return tsagg__pfw_fail(w, rc, "%s: fsync: %s", w->tmp, tsagg_strerror(rc));
    rc = w->io->close(w->io->ctx, w->fd);
    w->fd = -1;
    if (rc == 0)
        rc = w->io->rename(w->io->ctx, w->tmp, w->path);
    if (rc != 0) {
        w->io->unlink(w->io->ctx, w->tmp);
        return rc;
    }
    return 0;
}

int tsagg__part_writer_finish(tsagg__part_writer *w, tsagg__part_info *info)
{
    if (!w)
        return TSAGG_EARG;
    int rc = finish(w);
    if (rc == 0 && info) {
        info->start = w->start;
        info->hours = w->hours;
        info->rows = w->rows;
        info->merchants = w->nmerchants;
        info->bytes = w->base;
        info->min_ts = w->rows ? w->min_ts : 0;
        info->max_ts = w->rows ? w->max_ts : 0;
    }
    tsagg__pfw_free(w);
    return rc;
}
