/*
 * partfile_lookup.c - the reader's merchant index (partfile.h): index pages
 * are read, checked and decoded on first use and kept (filled under the
 * load lock, published with an atomic pointer like the dictionaries); a
 * merchant is found by a binary search of the footer's page table, then of
 * its page. A merchant's hour-segment block and a merchant-hour's rollup
 * are read and checked on every call (callers cache what they reuse).
 * Layout: partfile_format.h, docs/format.md "Partition files".
 */
#include <inttypes.h>
#include <stdio.h>

#include "bytes.h"
#include "partfile_format.h"
#include "tsagg_errors.h"

void tsagg__pf_pages_free(tsagg__part *p)
{
    if (!p->pages)
        return;
    for (uint64_t i = 0; i < p->npages; i++)
        free(atomic_load_explicit(&p->pages[i], memory_order_acquire));
    free((void *)p->pages);
    p->pages = NULL;
}

/* Parsing state of a raw page or segment block: *why is set on failure. */
typedef struct rd {
    const uint8_t *p, *end;
    const char *why;
} rd;

static int rd_varint(rd *r, uint64_t *v, const char *what)
{
    if (tsagg__get_varint(&r->p, r->end, v) != 0) {
        r->why = what;
        return -1;
    }
    return 0;
}

/* The smallest min ts and the largest max ts of row groups g0..g1. */
static void groups_range(const tsagg__part *p, uint64_t g0, uint64_t g1, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MAX;
    *hi = INT64_MIN;
    for (uint64_t g = g0; g <= g1; g++) {
        *lo = p->groups[g].min_ts < *lo ? p->groups[g].min_ts : *lo;
        *hi = p->groups[g].max_ts > *hi ? p->groups[g].max_ts : *hi;
    }
}

/* Parse page pi's raw bytes into d (room for its entries); the reason in
 * r->why on failure. */
static int parse_page(const tsagg__part *p, uint64_t pi, rd *r, pf_dpage *d)
{
    const pf_pageref *pg = &p->ptab[pi];
    int last = pi + 1 == p->npages;
    uint64_t row = pg->first_row, merchant = pg->first_merchant;
    uint64_t row_end = last ? p->info.rows : p->ptab[pi + 1].first_row;
    uint64_t span = (uint64_t)p->info.hours * (uint64_t)TSAGG__HOUR_US;
    for (uint32_t i = 0; i < pg->entries; i++) {
        uint64_t delta, rows, dmin, dlen, nseg, soff = 0, slen = 0;
        if (rd_varint(r, &delta, "truncated entry") || rd_varint(r, &rows, "truncated entry") ||
            rd_varint(r, &dmin, "truncated entry") || rd_varint(r, &dlen, "truncated entry") ||
            rd_varint(r, &nseg, "truncated entry"))
            return -1;
        if (nseg &&
            (rd_varint(r, &soff, "truncated entry") || rd_varint(r, &slen, "truncated entry")))
            return -1;
        if (i == 0 && delta != merchant) {
            r->why = "first merchant disagrees with the page table";
            return -1;
        }
        if (i > 0 && (delta == 0 || delta > UINT64_MAX - merchant)) {
            r->why = "merchants not strictly increasing";
            return -1;
        }
        merchant = i == 0 ? delta : merchant + delta;
        if (rows == 0 || rows > row_end - row) {
            r->why = "row ranges do not add up to the page table's";
            return -1;
        }
        if (dmin >= span || dlen >= span - dmin) {
            r->why = "time range outside the span";
            return -1;
        }
        if (rows == 1 && dlen != 0) {
            r->why = "a time range wider than its one row";
            return -1;
        }
        uint64_t h0 = dmin / (uint64_t)TSAGG__HOUR_US;
        uint64_t h1 = (dmin + dlen) / (uint64_t)TSAGG__HOUR_US;
        if (nseg &&
            (nseg > rows || nseg > h1 - h0 + 1 || (h1 > h0 && nseg < 2) ||
             !pf_ref_ok(p, soff, slen, PF_BLOCK_HEADER + 10 + nseg * (uint64_t)PF_SEGMENT_MAX))) {
            r->why = "bad hour-segment count or block reference";
            return -1;
        }
        int64_t min_ts = p->info.start + (int64_t)dmin, max_ts = min_ts + (int64_t)dlen;
        const tsagg__group_info *g0 = &p->groups[row / TSAGG__PART_GROUP_ROWS];
        const tsagg__group_info *g1 = &p->groups[(row + rows - 1) / TSAGG__PART_GROUP_ROWS];
        int64_t lo, hi;
        groups_range(p, row / TSAGG__PART_GROUP_ROWS, (row + rows - 1) / TSAGG__PART_GROUP_ROWS,
                     &lo, &hi);
        if (merchant < g0->min_merchant || merchant > g0->max_merchant ||
            merchant < g1->min_merchant || merchant > g1->max_merchant || min_ts < lo ||
            max_ts > hi) {
            r->why = "entry disagrees with its row groups' ranges";
            return -1;
        }
        d->e[i] = (tsagg__merchant_entry){.merchant = merchant,
                                          .index = pi * PF_PAGE_MERCHANTS + i,
                                          .row_start = row,
                                          .rows = rows,
                                          .min_ts = min_ts,
                                          .max_ts = max_ts,
                                          .nsegments = (uint32_t)nseg};
        d->seg[i] = (pf_blockref){soff, (uint32_t)slen};
        row += rows;
    }
    if (r->p != r->end) {
        r->why = "trailing bytes";
        return -1;
    }
    if (row != row_end) {
        r->why = "row ranges do not add up to the page table's";
        return -1;
    }
    if (!last && merchant >= p->ptab[pi + 1].first_merchant) {
        r->why = "merchants not below the next page's";
        return -1;
    }
    return 0;
}

static int decode_page(tsagg__part *p, uint64_t pi, pf_dpage **out)
{
    const pf_pageref *pg = &p->ptab[pi];
    char what[48];
    snprintf(what, sizeof what, "index page %" PRIu64, pi);
    uint8_t *mem;
    const uint8_t *raw;
    size_t len;
    int rc = tsagg__pf_read_block(p, pg->ref, PF_KIND_PAGE, 0, (uint32_t)pi,
                                  pg->entries * PF_PAGE_ENTRY_MAX, what, &mem, &raw, &len);
    if (rc != 0)
        return rc;
    pf_dpage *d = malloc(sizeof *d + (size_t)pg->entries * (sizeof *d->e + sizeof *d->seg));
    if (!d) {
        free(mem);
        return tsagg__pf_perr(p, -ENOMEM, "%s: %s: out of memory", p->path, what);
    }
    d->e = (tsagg__merchant_entry *)(d + 1);
    d->seg = (pf_blockref *)(d->e + pg->entries);
    rd r = {raw, raw + len, NULL};
    rc = parse_page(p, pi, &r, d);
    free(mem);
    if (rc != 0) {
        free(d);
        return tsagg__pf_perr(p, TSAGG_ECORRUPT, "%s: %s at offset %" PRIu64 ": %s", p->path, what,
                              pg->ref.off, r.why);
    }
    *out = d;
    return 0;
}

static int page_get(tsagg__part *p, uint64_t pi, const pf_dpage **out)
{
    pf_dpage *d = atomic_load_explicit(&p->pages[pi], memory_order_acquire);
    if (!d) {
        pthread_mutex_lock(&p->load_mu);
        d = atomic_load_explicit(&p->pages[pi], memory_order_relaxed);
        int rc = d ? 0 : decode_page(p, pi, &d);
        if (rc == 0)
            atomic_store_explicit(&p->pages[pi], d, memory_order_release);
        pthread_mutex_unlock(&p->load_mu);
        if (rc != 0)
            return rc;
    }
    *out = d;
    return 0;
}

uint64_t tsagg__part_merchants(const tsagg__part *p)
{
    return p->info.merchants;
}

int tsagg__part_merchant_at(tsagg__part *p, uint64_t i, tsagg__merchant_entry *out)
{
    if (!p || !out || i >= p->info.merchants)
        return TSAGG_EARG;
    const pf_dpage *d;
    int rc = page_get(p, i / PF_PAGE_MERCHANTS, &d);
    if (rc == 0)
        *out = d->e[i % PF_PAGE_MERCHANTS];
    return rc;
}

int tsagg__part_find_merchant(tsagg__part *p, uint64_t merchant, tsagg__merchant_entry *out)
{
    if (!p)
        return TSAGG_EARG;
    /* The last page whose first merchant is <= merchant. */
    uint64_t lo = 0, hi = p->npages;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (p->ptab[mid].first_merchant <= merchant)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    uint64_t pi = lo - 1;
    const pf_dpage *d;
    int rc = page_get(p, pi, &d);
    if (rc != 0)
        return rc;
    uint32_t a = 0, b = p->ptab[pi].entries;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (d->e[mid].merchant < merchant)
            a = mid + 1;
        else
            b = mid;
    }
    if (a == p->ptab[pi].entries || d->e[a].merchant != merchant)
        return 0;
    if (out)
        *out = d->e[a];
    return 1;
}

/* The page's own copy of e, and where its segment block is: TSAGG_EARG
 * when e is not an entry of this file. */
static int own_entry(tsagg__part *p, const tsagg__merchant_entry *e,
                     const tsagg__merchant_entry **mine, pf_blockref *seg)
{
    if (!p || !e || e->index >= p->info.merchants)
        return TSAGG_EARG;
    const pf_dpage *d;
    int rc = page_get(p, e->index / PF_PAGE_MERCHANTS, &d);
    if (rc != 0)
        return rc;
    uint32_t i = (uint32_t)(e->index % PF_PAGE_MERCHANTS);
    if (d->e[i].merchant != e->merchant || d->e[i].nsegments != e->nsegments)
        return TSAGG_EARG;
    *mine = &d->e[i];
    *seg = d->seg[i];
    return 0;
}

/* Parse n segments of merchant entry e into out; the reason in r->why. */
static int parse_segments(const tsagg__part *p, const tsagg__merchant_entry *e, rd *r,
                          tsagg__hour_segment *out)
{
    uint64_t n, row = e->row_start, end = e->row_start + e->rows, prev_off = 0, prev_end = 0;
    uint32_t rollups = 0;
    if (rd_varint(r, &n, "truncated") != 0)
        return -1;
    if (n != e->nsegments) {
        r->why = "segment count disagrees with the index";
        return -1;
    }
    uint64_t first_hour = (uint64_t)(e->min_ts - p->info.start) / (uint64_t)TSAGG__HOUR_US;
    uint64_t last_hour = (uint64_t)(e->max_ts - p->info.start) / (uint64_t)TSAGG__HOUR_US;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t hour, rows, len, delta = 0;
        if (rd_varint(r, &hour, "truncated") || rd_varint(r, &rows, "truncated") ||
            rd_varint(r, &len, "truncated"))
            return -1;
        if (len && rd_varint(r, &delta, "truncated"))
            return -1;
        if ((i == 0 ? hour != first_hour : hour <= (uint64_t)out[i - 1].hour) || hour > last_hour ||
            (i + 1 == n && hour != last_hour)) {
            r->why = "hours not increasing inside the merchant's time range";
            return -1;
        }
        if (rows == 0 || rows > end - row) {
            r->why = "rows do not add up to the merchant's";
            return -1;
        }
        uint64_t off = 0;
        if (len) {
            /* Rollup blocks follow each other in the body. */
            off = rollups ? prev_off + delta : delta;
            if ((rollups && (delta > UINT64_MAX - prev_off || off < prev_end)) ||
                !pf_ref_ok(p, off, len, UINT32_MAX)) {
                r->why = "rollup block reference outside the body";
                return -1;
            }
            prev_off = off;
            prev_end = off + len;
            rollups++;
        }
        out[i] = (tsagg__hour_segment){.hour = (int64_t)hour,
                                       .row_start = row,
                                       .rows = rows,
                                       .rollup_off = off,
                                       .rollup_len = (uint32_t)len};
        row += rows;
    }
    if (r->p != r->end) {
        r->why = "trailing bytes";
        return -1;
    }
    if (row != end) {
        r->why = "rows do not add up to the merchant's";
        return -1;
    }
    if (rollups == 0) {
        r->why = "listed without a rollup";
        return -1;
    }
    for (uint64_t i = 0; i < n; i++)
        out[i].hour = p->info.start + out[i].hour * TSAGG__HOUR_US;
    return 0;
}

int tsagg__part_segments(tsagg__part *p, const tsagg__merchant_entry *e, tsagg__hour_segment *out)
{
    const tsagg__merchant_entry *mine;
    pf_blockref ref;
    int rc = own_entry(p, e, &mine, &ref);
    if (rc != 0 || mine->nsegments == 0)
        return rc;
    if (!out)
        return TSAGG_EARG;
    char what[64];
    snprintf(what, sizeof what, "hour-segment block of merchant %" PRIu64, mine->merchant);
    uint8_t *mem;
    const uint8_t *raw;
    size_t len;
    rc = tsagg__pf_read_block(p, ref, PF_KIND_SEGMENTS, 0, (uint32_t)mine->index,
                              10 + mine->nsegments * PF_SEGMENT_MAX, what, &mem, &raw, &len);
    if (rc != 0)
        return rc;
    rd r = {raw, raw + len, NULL};
    rc = parse_segments(p, mine, &r, out);
    free(mem);
    if (rc != 0)
        return tsagg__pf_perr(p, TSAGG_ECORRUPT, "%s: %s at offset %" PRIu64 ": %s", p->path, what,
                              ref.off, r.why);
    return 0;
}

/* The raw bytes of the block that starts at buf and lies at offset off, as
 * a malloc'ed copy (the decoder owns what it parses). */
static int rollup_block(tsagg__part *p, const uint8_t *buf, size_t len, uint64_t off,
                        uint8_t kind, uint16_t hour, uint32_t ordinal, const char *what,
                        uint8_t **out, size_t *out_len)
{
    const uint8_t *raw;
    uint8_t *owned;
    int rc = tsagg__pf_block_at(p, buf, len, off, kind, hour, ordinal, PF_RAW_MAX, what, &raw,
                                &owned, out_len);
    if (rc != 0)
        return rc;
    if (owned) {
        *out = owned;
        return 0;
    }
    *out = malloc(*out_len ? *out_len : 1);
    if (!*out)
        return tsagg__pf_perr(p, -ENOMEM, "%s: %s: out of memory", p->path, what);
    memcpy(*out, raw, *out_len);
    return 0;
}

/* The rollup of a segment: its counts block and, when sketches, the sketch
 * block that follows it (one read of both). */
static int read_rollup(tsagg__part *p, const tsagg__merchant_entry *e,
                       const tsagg__hour_segment *seg, int sketches, tsagg__rollup *out)
{
    if (!out)
        return TSAGG_EARG;
    memset(out, 0, sizeof *out);
    if (!p || !e || !seg || seg->rollup_len == 0 || e->index >= p->info.merchants ||
        seg->hour < p->info.start || seg->hour >= p->span_end ||
        (seg->hour - p->info.start) % TSAGG__HOUR_US != 0 ||
        !pf_ref_ok(p, seg->rollup_off, seg->rollup_len, UINT32_MAX))
        return TSAGG_EARG;
    uint32_t hour = (uint32_t)((seg->hour - p->info.start) / TSAGG__HOUR_US);
    char what[80];
    snprintf(what, sizeof what, "rollup block of merchant %" PRIu64 ", hour %u of the span",
             e->merchant, hour);
    pf_blockref ref = {seg->rollup_off, seg->rollup_len};
    uint8_t *buf;
    int rc = tsagg__pf_read_range(p, ref, what, &buf);
    if (rc != 0)
        return rc;
    /* The counts block's stored length says where the sketch block starts
     * (the counts block's checksum covers it). */
    uint64_t n1 = ref.len >= PF_BLOCK_HEADER
                      ? PF_BLOCK_HEADER + (uint64_t)tsagg__get_u32(buf + 8)
                      : UINT64_MAX;
    if (n1 > ref.len || ref.len - n1 < PF_BLOCK_HEADER) {
        free(buf);
        return tsagg__pf_perr(p, TSAGG_ECORRUPT,
                              "%s: %s at offset %" PRIu64 ": no sketch block behind the counts",
                              p->path, what, ref.off);
    }
    uint8_t *counts = NULL, *sk = NULL;
    size_t counts_len = 0, sk_len = 0;
    rc = rollup_block(p, buf, (size_t)n1, ref.off, PF_KIND_ROLLUP, (uint16_t)hour,
                      (uint32_t)e->index, what, &counts, &counts_len);
    if (rc == 0 && sketches) {
        snprintf(what, sizeof what, "sketch block of merchant %" PRIu64 ", hour %u of the span",
                 e->merchant, hour);
        rc = rollup_block(p, buf + n1, ref.len - (size_t)n1, ref.off + n1, PF_KIND_SKETCH,
                          (uint16_t)hour, (uint32_t)e->index, what, &sk, &sk_len);
    }
    free(buf);
    if (rc != 0) {
        free(counts);
        return rc;
    }
    const char *why = NULL;
    rc = tsagg__pf_rollup_decode(counts, counts_len, sk, sk_len, p->nmeasures, p->dcount[0],
                                 seg->rows, out, &why);
    if (rc == TSAGG_ECORRUPT)
        return tsagg__pf_perr(p, rc, "%s: %s at offset %" PRIu64 ": %s", p->path, what, ref.off,
                              why);
    if (rc != 0)
        return tsagg__pf_perr(p, rc, "%s: %s: %s", p->path, what, tsagg_strerror(rc));
    return 0;
}

int tsagg__part_rollup(tsagg__part *p, const tsagg__merchant_entry *e,
                       const tsagg__hour_segment *seg, tsagg__rollup *out)
{
    return read_rollup(p, e, seg, 1, out);
}

int tsagg__part_rollup_counts(tsagg__part *p, const tsagg__merchant_entry *e,
                              const tsagg__hour_segment *seg, tsagg__rollup *out)
{
    return read_rollup(p, e, seg, 0, out);
}
