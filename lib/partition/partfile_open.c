/*
 * partfile_open.c - opening a partition file (partfile.h): the header, and
 * the trailer with the footer (one read of the file's tail when the footer
 * is small, as it mostly is), are read, their checksums checked, and every
 * bound the footer states (offsets inside the body, counts that agree, row
 * ranges ascending, merchants ascending, the body's bytes all accounted
 * for) validated before the row groups and the index page table are kept
 * in memory. The pages themselves are read on first use
 * (partfile_lookup.c). Layout: partfile_format.h, docs/format.md "Partition
 * files".
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <xxhash.h>
#include <zstd.h>

#include "bytes.h"
#include "encoding.h"
#include "fileio.h"
#include "partfile_format.h"
#include "schema_internal.h"
#include "tsagg_errors.h"

typedef struct opener {
    tsagg__part *p;
    char *errmsg;
    size_t errlen;
    int64_t start;
    uint32_t hours;
    uint64_t rows, size;
} opener;

__attribute__((format(printf, 3, 4))) static int ofail(opener *o, int rc, const char *fmt, ...)
{
    if (o->errmsg && o->errlen) {
        int n = snprintf(o->errmsg, o->errlen, "%s: ", o->p->path);
        if (n >= 0 && (size_t)n < o->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(o->errmsg + n, o->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

static int parse_header(opener *o, const uint8_t *h)
{
    if (memcmp(h, PF_MAGIC, 8) != 0)
        return ofail(o, TSAGG_ECORRUPT, "header at offset 0: bad magic (not a partition file)");
    if (XXH64(h, 56, 0) != tsagg__get_u64(h + 56))
        return ofail(o, TSAGG_ECHECKSUM, "header at offset 0: checksum mismatch");
    uint16_t version = tsagg__get_u16(h + 8);
    if (version < PF_VERSION)
        return ofail(o, TSAGG_EVERSION,
                     "format version %u (of an older libtsagg), this library reads %u: "
                     "regenerate the partitions from the raw log with tsagg-rebuild STORE --all",
                     version, PF_VERSION);
    if (version != PF_VERSION)
        return ofail(o, TSAGG_EVERSION, "format version %u, this library reads %u", version,
                     PF_VERSION);
    o->start = (int64_t)tsagg__get_u64(h + 16);
    o->rows = tsagg__get_u64(h + 40);
    o->hours = tsagg__get_u32(h + 48);
    if (tsagg__get_u16(h + 10) != 0 || tsagg__get_u32(h + 12) != PF_HEADER_SIZE ||
        tsagg__get_u32(h + 52) != 0)
        return ofail(o, TSAGG_ECORRUPT, "header at offset 0: bad field");
    if (o->start % TSAGG__HOUR_US != 0 || o->hours < 1 || o->hours > TSAGG__PART_MAX_HOURS ||
        o->start > INT64_MAX - (int64_t)o->hours * TSAGG__HOUR_US)
        return ofail(o, TSAGG_ECORRUPT,
                     "header at offset 0: bad span (start %" PRId64 " us, %u hours)", o->start,
                     o->hours);
    o->p->span_end = o->start + (int64_t)o->hours * TSAGG__HOUR_US;
    o->p->file_id = tsagg__get_u64(h + 24);
    o->p->schema_id = tsagg__get_u64(h + 32);
    return 0;
}

/* Bytes read from the end of a file at open: the trailer and, most of the
 * time, the footer before it, in one read. A stored footer takes some 50
 * bytes per row group of about 60 KB (a day of the 10 M events benchmark:
 * 7.5 KB of 5.3 MB), so a 256th of the file, at least TAIL_MIN, covers it
 * with room to spare; a longer footer is read on its own. */
#define TAIL_MIN (4u << 10)
#define TAIL_MAX (256u << 10)

static uint64_t tail_bytes(uint64_t size)
{
    uint64_t n = size / 256;
    n = n < TAIL_MIN ? TAIL_MIN : n > TAIL_MAX ? TAIL_MAX : n;
    return n < size - PF_HEADER_SIZE ? n : size - PF_HEADER_SIZE;
}

/* Read the trailer and the footer; *raw gets the footer's raw bytes. */
static int read_footer(opener *o, uint8_t **raw, size_t *raw_len)
{
    tsagg__part *p = o->p;
    uint64_t toff = o->size - PF_TRAILER_SIZE;
    /* The tail, past the header: [tail_off, size). */
    uint64_t tail_len = tail_bytes(o->size);
    uint64_t tail_off = o->size - tail_len;
    uint8_t *tail = malloc((size_t)tail_len);
    if (!tail)
        return -ENOMEM;
    int rc = tsagg__read_all(p->io, p->fd, tail, (size_t)tail_len, tail_off, NULL);
    if (rc < 0) {
        free(tail);
        return ofail(o, rc, "reading the trailer: %s", tsagg_strerror(rc));
    }
    const uint8_t *t = tail + (toff - tail_off);
    if (rc == 1 || memcmp(t + 40, PF_TRAILER_MAGIC, 8) != 0) {
        free(tail);
        return ofail(o, TSAGG_ECORRUPT, "trailer at offset %" PRIu64 ": bad magic (truncated?)",
                     toff);
    }
    uint64_t foff = tsagg__get_u64(t), fs = tsagg__get_u64(t + 8), fr = tsagg__get_u64(t + 16);
    uint8_t codec = t[24];
    int zero = 1;
    for (int i = 25; i < 32; i++)
        zero &= t[i] == 0;
    if (foff < PF_HEADER_SIZE || foff > toff || fs != toff - foff || fr > PF_RAW_MAX ||
        fr < PF_FOOTER_FIXED || !zero || (codec != PF_CODEC_NONE && codec != PF_CODEC_ZSTD) ||
        (codec == PF_CODEC_NONE && fs != fr)) {
        free(tail);
        return ofail(o, TSAGG_ECORRUPT, "trailer at offset %" PRIu64 ": bad footer location", toff);
    }
    uint8_t trailer[PF_TRAILER_SIZE];
    memcpy(trailer, t, sizeof trailer);
    t = trailer;
    uint8_t *st;
    if (foff >= tail_off) {
        /* The footer came with the trailer: move it to the buffer's start. */
        memmove(tail, tail + (foff - tail_off), (size_t)fs);
        st = tail;
    } else {
        free(tail);
        st = malloc(fs ? (size_t)fs : 1);
        if (!st)
            return -ENOMEM;
        rc = tsagg__read_all(p->io, p->fd, st, (size_t)fs, foff, NULL);
        if (rc != 0) {
            free(st);
            if (rc == 1)
                return ofail(o, TSAGG_ECORRUPT, "footer at offset %" PRIu64 ": truncated", foff);
            return ofail(o, rc, "reading the footer: %s", tsagg_strerror(rc));
        }
    }
    XXH3_state_t xs;
    XXH3_64bits_reset(&xs);
    XXH3_64bits_update(&xs, st, (size_t)fs);
    XXH3_64bits_update(&xs, t, 32);
    if (XXH3_64bits_digest(&xs) != tsagg__get_u64(t + 32)) {
        free(st);
        return ofail(o, TSAGG_ECHECKSUM, "footer at offset %" PRIu64 ": checksum mismatch", foff);
    }
    p->body_end = foff;
    if (codec == PF_CODEC_NONE) {
        *raw = st;
        *raw_len = (size_t)fr;
        return 0;
    }
    uint8_t *out = malloc((size_t)fr);
    if (!out) {
        free(st);
        return -ENOMEM;
    }
    ZSTD_DCtx *d = tsagg__dctx_get(p->dctx);
    size_t n = d ? ZSTD_decompressDCtx(d, out, (size_t)fr, st, (size_t)fs) : 0;
    tsagg__dctx_put(p->dctx, d);
    free(st);
    if (!d) {
        free(out);
        return -ENOMEM;
    }
    if (ZSTD_isError(n) || n != fr) {
        free(out);
        return ofail(o, TSAGG_ECORRUPT, "footer at offset %" PRIu64 ": bad zstd frame", foff);
    }
    *raw = out;
    *raw_len = (size_t)fr;
    return 0;
}

static int in_span(const opener *o, int64_t ts)
{
    return ts >= o->start && ts < o->p->span_end;
}

/* TSAGG_ECORRUPT, with "<path>: footer at offset F: " before the detail. */
__attribute__((format(printf, 2, 3))) static int bad_footer(opener *o, const char *fmt, ...)
{
    if (o->errmsg && o->errlen) {
        int n = snprintf(o->errmsg, o->errlen, "%s: footer at offset %" PRIu64 ": ", o->p->path,
                         o->p->body_end);
        if (n >= 0 && (size_t)n < o->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(o->errmsg + n, o->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return TSAGG_ECORRUPT;
}

#define BAD(...) bad_footer(o, __VA_ARGS__)

static int parse_footer(opener *o, const uint8_t *f, size_t len)
{
    tsagg__part *p = o->p;
    uint64_t rows = tsagg__get_u64(f), nm = tsagg__get_u64(f + 8);
    int64_t min_ts = (int64_t)tsagg__get_u64(f + 16), max_ts = (int64_t)tsagg__get_u64(f + 24);
    uint32_t ng = tsagg__get_u32(f + 32), ncols = tsagg__get_u16(f + 36);
    uint32_t nd = tsagg__get_u16(f + 38), grows = tsagg__get_u32(f + 40);
    uint32_t slen = tsagg__get_u32(f + 44);
    uint64_t rollup_bytes = tsagg__get_u64(f + 48), segment_bytes = tsagg__get_u64(f + 56);
    if (slen > len - PF_FOOTER_FIXED ||
        tsagg__schema_decode(f + PF_FOOTER_FIXED, slen, &p->schema) != 0) {
        p->schema = NULL;
        return BAD("bad schema");
    }
    if (tsagg_schema_id(p->schema) != p->schema_id)
        return BAD("schema disagrees with the header's schema id");
    p->ndims = (uint32_t)tsagg_schema_dimension_count(p->schema);
    p->nmeasures = (uint32_t)tsagg_schema_measure_count(p->schema);
    p->ncols = PF_CORE_COLS + p->ndims + p->nmeasures;
    p->ndicts = 1 + p->ndims;
    p->ngroups = ng;
    if (ncols != p->ncols || nd != p->ndicts || grows != TSAGG__PART_GROUP_ROWS)
        return BAD("column counts disagree with the schema");
    if (rows != o->rows || ng != (rows + TSAGG__PART_GROUP_ROWS - 1) / TSAGG__PART_GROUP_ROWS ||
        nm > rows || (rows && !nm))
        return BAD("row, group or merchant counts disagree");
    if (pf_footer_size(slen, ncols, nd, ng, nm) != len)
        return BAD("length disagrees with its counts");
    if (rows ? (!in_span(o, min_ts) || !in_span(o, max_ts) || min_ts > max_ts)
             : (min_ts != 0 || max_ts != 0))
        return BAD("bad time range");
    p->info = (tsagg__part_info){.start = o->start,
                                 .hours = o->hours,
                                 .rows = rows,
                                 .merchants = nm,
                                 .bytes = o->size,
                                 .min_ts = min_ts,
                                 .max_ts = max_ts};
    p->drefs = calloc(nd, sizeof *p->drefs);
    p->dcount = calloc(nd, sizeof *p->dcount);
    p->dicts = calloc(nd, sizeof *p->dicts);
    p->groups = calloc(ng ? ng : 1, sizeof *p->groups);
    p->refs = calloc(ng ? (size_t)ng * ncols : 1, sizeof *p->refs);
    p->npages = pf_pages(nm);
    p->ptab = calloc(p->npages ? (size_t)p->npages : 1, sizeof *p->ptab);
    p->pages = calloc(p->npages ? (size_t)p->npages : 1, sizeof *p->pages);
    if (!p->drefs || !p->dcount || !p->dicts || !p->groups || !p->refs || !p->ptab || !p->pages)
        return -ENOMEM;
    for (uint32_t i = 0; i < nd; i++)
        atomic_init(&p->dicts[i], NULL);
    for (uint64_t i = 0; i < p->npages; i++)
        atomic_init(&p->pages[i], NULL);
    uint64_t accounted = PF_HEADER_SIZE;
    const uint8_t *q = f + PF_FOOTER_FIXED + slen;
    for (uint32_t i = 0; i < nd; i++, q += PF_DICT_ENTRY) {
        p->drefs[i].off = tsagg__get_u64(q);
        p->drefs[i].len = tsagg__get_u32(q + 8);
        p->dcount[i] = tsagg__get_u32(q + 12);
        if (!pf_ref_ok(p, p->drefs[i].off, p->drefs[i].len, UINT32_MAX) ||
            (i > 0 && !p->dcount[i]) || (rows && !p->dcount[i]))
            return BAD("bad dictionary entry %u", i);
        accounted += p->drefs[i].len;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint32_t g = 0; g < ng; g++) {
        tsagg__group_info *gi = &p->groups[g];
        gi->row_start = tsagg__get_u64(q);
        gi->rows = tsagg__get_u32(q + 8);
        gi->min_ts = (int64_t)tsagg__get_u64(q + 16);
        gi->max_ts = (int64_t)tsagg__get_u64(q + 24);
        gi->min_merchant = tsagg__get_u64(q + 32);
        gi->max_merchant = tsagg__get_u64(q + 40);
        uint64_t want = rows - (uint64_t)g * TSAGG__PART_GROUP_ROWS;
        if (want > TSAGG__PART_GROUP_ROWS)
            want = TSAGG__PART_GROUP_ROWS;
        if (gi->row_start != (uint64_t)g * TSAGG__PART_GROUP_ROWS || gi->rows != want ||
            tsagg__get_u32(q + 12) != 0 || !in_span(o, gi->min_ts) || !in_span(o, gi->max_ts) ||
            gi->min_ts > gi->max_ts || gi->min_merchant > gi->max_merchant ||
            (g > 0 && gi->min_merchant < p->groups[g - 1].max_merchant))
            return BAD("bad row group %u", g);
        lo = gi->min_ts < lo ? gi->min_ts : lo;
        hi = gi->max_ts > hi ? gi->max_ts : hi;
        q += PF_GROUP_FIXED;
        for (uint32_t c = 0; c < ncols; c++, q += PF_GROUP_COL) {
            pf_blockref *r = &p->refs[(size_t)g * ncols + c];
            r->off = tsagg__get_u64(q);
            r->len = tsagg__get_u32(q + 8);
            if (!pf_ref_ok(p, r->off, r->len, pf_col_max_len(p->ndims, c, gi->rows)))
                return BAD("bad block entry of column %u, row group %u", c, g);
            accounted += r->len;
        }
    }
    if (rows && (lo != min_ts || hi != max_ts))
        return BAD("time range disagrees with the row groups");
    for (uint64_t i = 0; i < p->npages; i++, q += PF_PAGE_ENTRY) {
        pf_pageref *pg = &p->ptab[i];
        pg->first_merchant = tsagg__get_u64(q);
        pg->first_row = tsagg__get_u64(q + 8);
        pg->ref.off = tsagg__get_u64(q + 16);
        pg->ref.len = tsagg__get_u32(q + 24);
        pg->entries = tsagg__get_u32(q + 28);
        uint64_t want = nm - i * PF_PAGE_MERCHANTS;
        if (want > PF_PAGE_MERCHANTS)
            want = PF_PAGE_MERCHANTS;
        const pf_pageref *prev = i > 0 ? &p->ptab[i - 1] : NULL;
        /* Every merchant has a row: a page's first row is at least its
         * predecessor's plus its entries. */
        if (pg->entries != want || pg->first_row >= rows ||
            (prev ? pg->first_merchant <= prev->first_merchant ||
                        pg->first_merchant - prev->first_merchant < prev->entries ||
                        pg->first_row <= prev->first_row ||
                        pg->first_row - prev->first_row < prev->entries
                  : pg->first_row != 0) ||
            rows - pg->first_row < pg->entries ||
            !pf_ref_ok(p, pg->ref.off, pg->ref.len,
                       PF_BLOCK_HEADER + (uint64_t)pg->entries * PF_PAGE_ENTRY_MAX))
            return BAD("bad index page entry %" PRIu64, i);
        const tsagg__group_info *g = &p->groups[pg->first_row / TSAGG__PART_GROUP_ROWS];
        if (pg->first_merchant < g->min_merchant || pg->first_merchant > g->max_merchant)
            return BAD("index page %" PRIu64 ": merchant %" PRIu64 " outside its row group's range",
                       i, pg->first_merchant);
        accounted += pg->ref.len;
    }
    p->rollup_bytes = rollup_bytes;
    p->segment_bytes = segment_bytes;
    p->page_bytes = 0;
    for (uint64_t i = 0; i < p->npages; i++)
        p->page_bytes += p->ptab[i].ref.len;
    if (rollup_bytes > p->body_end || segment_bytes > p->body_end ||
        accounted + rollup_bytes + segment_bytes != p->body_end)
        return BAD("the blocks it lists and the rollup and segment bytes it states (%" PRIu64
                   ", %" PRIu64 ") do not add up to the body",
                   rollup_bytes, segment_bytes);
    return 0;
}

void tsagg__part_close(tsagg__part *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        p->io->close(p->io->ctx, p->fd);
    if (p->dicts) {
        for (uint32_t i = 0; i < p->ndicts; i++) {
            pf_pdict *d = atomic_load_explicit(&p->dicts[i], memory_order_acquire);
            if (d) {
                free(d->mem);
                free(atomic_load_explicit(&d->idx, memory_order_acquire));
                free(d);
            }
        }
    }
    tsagg__dctx_pool_destroy(&p->own_dctx);
    pthread_mutex_destroy(&p->load_mu);
    pthread_mutex_destroy(&p->err_mu);
    free((void *)p->dicts);
    free(p->path);
    tsagg_schema_free(p->schema);
    free(p->groups);
    free(p->refs);
    free(p->drefs);
    free(p->dcount);
    tsagg__pf_pages_free(p);
    free(p->ptab);
    free(p);
}

int tsagg__part_open(const tsagg_io *io, const char *path, tsagg__part **out, char *errmsg,
                     size_t errmsg_len)
{
    return tsagg__part_open_shared(io, path, NULL, out, errmsg, errmsg_len);
}

int tsagg__part_open_shared(const tsagg_io *io, const char *path, tsagg__dctx_pool *dctx,
                            tsagg__part **out, char *errmsg, size_t errmsg_len)
{
    if (errmsg && errmsg_len)
        errmsg[0] = 0;
    if (!out)
        return TSAGG_EARG;
    *out = NULL;
    if (!io || !path)
        return TSAGG_EARG;
    tsagg__part *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->io = io;
    p->fd = -1;
    pthread_mutex_init(&p->load_mu, NULL);
    tsagg__dctx_pool_init(&p->own_dctx);
    p->dctx = dctx ? dctx : &p->own_dctx;
    pthread_mutex_init(&p->err_mu, NULL);
    size_t plen = strlen(path);
    p->path = malloc(plen + 1);
    if (!p->path) {
        tsagg__part_close(p);
        return -ENOMEM;
    }
    memcpy(p->path, path, plen + 1);
    opener o = {.p = p, .errmsg = errmsg, .errlen = errmsg_len};
    uint8_t *footer = NULL;
    size_t flen = 0;
    int rc = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0); /* a FIFO cannot hang it */
    if (rc < 0) {
        ofail(&o, rc, "open: %s", tsagg_strerror(rc));
        goto fail;
    }
    p->fd = rc;
    if ((rc = io->fsize(io->ctx, p->fd, &o.size)) != 0) {
        ofail(&o, rc, "size: %s", tsagg_strerror(rc));
        goto fail;
    }
    uint8_t h[PF_HEADER_SIZE];
    rc = o.size < PF_HEADER_SIZE ? 1 : tsagg__read_all(io, p->fd, h, sizeof h, 0, NULL);
    if (rc != 0) {
        rc = rc == 1
                 ? ofail(&o, TSAGG_ECORRUPT, "shorter than a header (%" PRIu64 " bytes)", o.size)
                 : ofail(&o, rc, "reading the header: %s", tsagg_strerror(rc));
        goto fail;
    }
    if ((rc = parse_header(&o, h)) != 0)
        goto fail;
    if (o.size < PF_HEADER_SIZE + PF_TRAILER_SIZE) {
        rc = ofail(&o, TSAGG_ECORRUPT, "truncated (%" PRIu64 " bytes)", o.size);
        goto fail;
    }
    if ((rc = read_footer(&o, &footer, &flen)) != 0)
        goto fail;
    if ((rc = parse_footer(&o, footer, flen)) != 0)
        goto fail;
    free(footer);
    *out = p;
    return 0;
fail:
    if (rc == -ENOMEM)
        ofail(&o, rc, "out of memory");
    free(footer);
    tsagg__part_close(p);
    return rc;
}

/* A span as "2026-11-01T04:00Z + 24 h" (UTC), for messages. */
static void span_text(int64_t start, uint32_t hours, char *buf, size_t len)
{
    time_t t = (time_t)(start / 1000000);
    struct tm tm;
    if (start % TSAGG__HOUR_US != 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, len, "%" PRId64 " us + %u h", start, hours);
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:00Z + %u h", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, hours);
}

int tsagg__part_check_listed(const tsagg__part *p, int64_t start, uint32_t hours,
                             uint64_t file_id, uint64_t rows, uint64_t bytes, char *errmsg,
                             size_t errmsg_len)
{
    const tsagg__part_info *in = &p->info;
    if (in->start == start && in->hours == hours && p->file_id == file_id && in->rows == rows &&
        in->bytes == bytes)
        return 0;
    if (errmsg && errmsg_len) {
        char have[48], want[48];
        span_text(in->start, in->hours, have, sizeof have);
        span_text(start, hours, want, sizeof want);
        snprintf(errmsg, errmsg_len,
                 "%s: the file (span %s, file id %" PRIu64 ", %" PRIu64 " rows, %" PRIu64
                 " bytes) is not what the manifest lists (span %s, file id %" PRIu64 ", %" PRIu64
                 " rows, %" PRIu64 " bytes): replaced or copied from elsewhere",
                 p->path, have, p->file_id, in->rows, in->bytes, want, file_id, rows, bytes);
    }
    return TSAGG_ECORRUPT;
}
