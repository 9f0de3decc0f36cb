/*
 * partfile_index.c - the writer's merchant index (partfile.h): per
 * merchant, its hours as they end (a rollup block for a merchant-hour with
 * at least TSAGG__PART_ROLLUP_MIN_ROWS rows), its hour-segment block when it
 * has a rollup, and its entry in the current index page. A full page is
 * compressed into the page buffer at once, so the writer keeps the index
 * compressed; the pages go into the file after the dictionaries. Layout:
 * partfile_format.h, docs/format.md "Partition files".
 */
#include <inttypes.h>

#include "bytes.h"
#include "partfile_format.h"
#include "tsagg_errors.h"

static int oom(tsagg__part_writer *w)
{
    return tsagg__pfw_fail(w, -ENOMEM, "out of memory");
}

/*
 * Most merchant-hours of a long span hold a few rows and get no rollup, so
 * the first TSAGG__PART_ROLLUP_MIN_ROWS - 1 rows of a merchant-hour are only
 * held (what a rollup needs of them); the row that makes the hour busy
 * enough feeds them to the rollup, and later rows go straight to it.
 */
int tsagg__pfw_rollup_row(tsagg__part_writer *w, int minute, uint32_t event, uint64_t user,
                          uint64_t session, const double *measures)
{
    uint64_t before = w->rows - w->hour_row_start; /* this row is not counted yet */
    uint32_t nm = w->nmeasures;
    if (before < TSAGG__PART_ROLLUP_MIN_ROWS - 1) {
        w->held[before] = (pf_held){(uint32_t)minute, event, user, session};
        if (nm)
            memcpy(w->held_meas + before * nm, measures, nm * sizeof *measures);
        return 0;
    }
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && before == TSAGG__PART_ROLLUP_MIN_ROWS - 1 && i < before; i++) {
        const pf_held *h = &w->held[i];
        rc = tsagg__pf_rollup_add(&w->roll, (int)h->minute, h->event, h->user, h->session,
                                  w->held_meas + i * nm);
    }
    if (rc == 0)
        rc = tsagg__pf_rollup_add(&w->roll, minute, event, user, session, measures);
    if (rc != 0)
        return tsagg__pfw_fail(w, rc, "%s: rollup: %s", w->tmp, tsagg_strerror(rc));
    return 0;
}

/* The current merchant-hour ends: its rollup if it is busy enough, its
 * segment always. */
static int end_hour(tsagg__part_writer *w)
{
    if (w->nsegs == w->segs_cap) {
        uint32_t cap = w->segs_cap ? w->segs_cap * 2 : 32;
        pf_wsegment *s = realloc(w->segs, (size_t)cap * sizeof *s);
        if (!s)
            return oom(w);
        w->segs = s;
        w->segs_cap = cap;
    }
    pf_wsegment *seg = &w->segs[w->nsegs];
    seg->hour = w->cur_hour;
    seg->rows = w->rows - w->hour_row_start;
    seg->rollup = (pf_blockref){0, 0};
    if (seg->rows >= TSAGG__PART_ROLLUP_MIN_ROWS) {
        int rc = tsagg__pf_rollup_encode(&w->roll, &w->rbuf, &w->sbuf);
        if (rc != 0)
            return tsagg__pfw_fail(w, rc, "%s: rollup of merchant %" PRIu64 ", hour %u: %s", w->tmp,
                                   w->m_merchant, w->cur_hour, tsagg_strerror(rc));
        /* Counts, then sketches right behind them: one reference. */
        pf_blockref sk;
        rc = tsagg__pfw_block(w, PF_KIND_ROLLUP, (uint16_t)w->cur_hour,
                              (uint32_t)(w->nmerchants - 1), w->rbuf.p, w->rbuf.len, &seg->rollup);
        if (rc == 0)
            rc = tsagg__pfw_block(w, PF_KIND_SKETCH, (uint16_t)w->cur_hour,
                                  (uint32_t)(w->nmerchants - 1), w->sbuf.p, w->sbuf.len, &sk);
        if (rc != 0)
            return rc;
        seg->rollup.len += sk.len;
        w->rollup_bytes += seg->rollup.len;
        w->nrollups++;
        tsagg__pf_rollup_reset(&w->roll);
    }
    w->nsegs++;
    return w->out.len >= PF_OUT_FLUSH ? tsagg__pfw_flush(w) : 0;
}

int tsagg__pfw_begin_merchant(tsagg__part_writer *w, uint64_t merchant, int64_t ts, uint32_t hour)
{
    w->in_merchant = 1;
    w->nmerchants++;
    w->m_merchant = merchant;
    w->m_row_start = w->rows;
    w->m_min_ts = ts;
    w->cur_hour = hour;
    w->hour_row_start = w->rows;
    w->nsegs = 0;
    w->nrollups = 0;
    return 0;
}

int tsagg__pfw_next_hour(tsagg__part_writer *w, uint32_t hour)
{
    int rc = end_hour(w);
    w->cur_hour = hour;
    w->hour_row_start = w->rows;
    return rc;
}

/* The raw hour-segment block of the current merchant into w->rbuf. */
static int encode_segments(tsagg__part_writer *w)
{
    w->rbuf.len = 0;
    if (tsagg__buf_reserve(&w->rbuf, 10 + (size_t)w->nsegs * PF_SEGMENT_MAX) != 0)
        return oom(w);
    uint8_t *q = w->rbuf.p;
    q += tsagg__put_varint(q, w->nsegs);
    uint64_t prev = 0;
    for (uint32_t i = 0; i < w->nsegs; i++) {
        const pf_wsegment *s = &w->segs[i];
        q += tsagg__put_varint(q, s->hour);
        q += tsagg__put_varint(q, s->rows);
        q += tsagg__put_varint(q, s->rollup.len);
        if (s->rollup.len) {
            q += tsagg__put_varint(q, s->rollup.off - prev);
            prev = s->rollup.off;
        }
    }
    w->rbuf.len = (size_t)(q - w->rbuf.p);
    return 0;
}

/* Compress the open page into the page buffer. */
static int close_page(tsagg__part_writer *w)
{
    pf_pageref *pg = &w->ptab[w->npages - 1];
    uint64_t pos = w->pages.len;
    int rc = tsagg__pf_block_append(&w->pages, w->cctx, w->zstd_pay_shift, PF_KIND_PAGE, 0,
                                    (uint32_t)(w->npages - 1), w->page.p, w->page.len);
    if (rc != 0)
        return tsagg__pfw_fail(w, rc == TSAGG_EARG ? -EFBIG : rc, "%s: index page %" PRIu64 ": %s",
                               w->tmp, w->npages - 1, tsagg_strerror(rc));
    pg->ref.off = pos;
    pg->ref.len = (uint32_t)(w->pages.len - pos);
    w->page.len = 0;
    w->page_entries = 0;
    return 0;
}

int tsagg__pfw_end_merchant(tsagg__part_writer *w)
{
    int rc = end_hour(w);
    if (rc != 0)
        return rc;
    pf_blockref segref = {0, 0};
    if (w->nrollups > 0) {
        if ((rc = encode_segments(w)) != 0)
            return rc;
        rc = tsagg__pfw_block(w, PF_KIND_SEGMENTS, 0, (uint32_t)(w->nmerchants - 1), w->rbuf.p,
                              w->rbuf.len, &segref);
        if (rc != 0)
            return rc;
        w->segment_bytes += segref.len;
    }
    if (w->page_entries == 0) {
        if (w->npages == w->ptab_cap) {
            uint64_t cap = w->ptab_cap ? w->ptab_cap * 2 : 16;
            pf_pageref *t = realloc(w->ptab, (size_t)cap * sizeof *t);
            if (!t)
                return oom(w);
            w->ptab = t;
            w->ptab_cap = cap;
        }
        w->ptab[w->npages++] = (pf_pageref){
            .first_merchant = w->m_merchant, .first_row = w->m_row_start, .entries = 0};
    }
    if (tsagg__buf_reserve(&w->page, PF_PAGE_ENTRY_MAX) != 0)
        return oom(w);
    uint8_t *q = w->page.p + w->page.len;
    /* The first entry holds its id although the page table has it too: a
     * page table entry changed behind a good footer checksum is caught. */
    q += tsagg__put_varint(q, w->page_entries ? w->m_merchant - w->page_prev : w->m_merchant);
    q += tsagg__put_varint(q, w->rows - w->m_row_start);
    q += tsagg__put_varint(q, (uint64_t)w->m_min_ts - (uint64_t)w->start);
    q += tsagg__put_varint(q, (uint64_t)w->last_ts - (uint64_t)w->m_min_ts);
    q += tsagg__put_varint(q, segref.len ? w->nsegs : 0);
    if (segref.len) {
        q += tsagg__put_varint(q, segref.off);
        q += tsagg__put_varint(q, segref.len);
    }
    w->page.len = (size_t)(q - w->page.p);
    w->page_prev = w->m_merchant;
    w->ptab[w->npages - 1].entries = ++w->page_entries;
    w->in_merchant = 0;
    if (w->page_entries == PF_PAGE_MERCHANTS && (rc = close_page(w)) != 0)
        return rc;
    return w->out.len >= PF_OUT_FLUSH ? tsagg__pfw_flush(w) : 0;
}

int tsagg__pfw_write_index(tsagg__part_writer *w)
{
    int rc;
    if (w->page_entries > 0 && (rc = close_page(w)) != 0)
        return rc;
    if ((rc = tsagg__pfw_flush(w)) != 0)
        return rc;
    if (w->pages.len == 0)
        return 0;
    for (uint64_t i = 0; i < w->npages; i++)
        w->ptab[i].ref.off += w->base;
    /* The page buffer is written as it is rather than copied to the output. */
    tsagg__buf saved = w->out;
    w->out = w->pages;
    rc = tsagg__pfw_flush(w);
    w->pages = w->out;
    w->out = saved;
    return rc;
}
